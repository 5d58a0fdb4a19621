//! Plain DNS lookups (RFC 1035 §4.1 queries) through configured resolvers
//! (`settings.dns_resolvers`, else `/etc/resolv.conf`), or straight to an
//! authoritative server (RD clear) for propagation checks. Concurrent lookups
//! use scoped std threads: a handful of UDP exchanges, no runtime needed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::transport::{Exchange, NETWORK};
use crate::dns::proto::query::{
    abs_lower, build_query, parse_answer, parse_resolv_conf, parse_server, Answer, Rdata, TlsaFields,
};
use crate::dns::{DnsError, RecordType};

#[derive(Clone)]
pub struct Resolver {
    servers: Vec<SocketAddr>,
    /// Per-server timeout of one lookup.
    pub timeout: Duration,
    net: &'static dyn Exchange,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("servers", &self.servers).field("timeout", &self.timeout).finish()
    }
}

impl Resolver {
    pub fn new(servers: Vec<SocketAddr>) -> Resolver {
        Resolver::with_exchange(servers, &NETWORK)
    }

    /// A resolver that sends its queries through `net` (tests: canned answers).
    pub fn with_exchange(servers: Vec<SocketAddr>, net: &'static dyn Exchange) -> Resolver {
        Resolver { servers, timeout: Duration::from_secs(5), net }
    }

    /// From `settings.dns_resolvers`; when that is empty, from `/etc/resolv.conf`.
    pub fn from_settings(dns_resolvers: &[String]) -> Result<Resolver, DnsError> {
        if dns_resolvers.is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let servers = parse_resolv_conf(&text);
            if servers.is_empty() {
                return Err(DnsError::NotFound {
                    what: "no nameserver in /etc/resolv.conf and no settings.dns_resolvers".into(),
                });
            }
            return Ok(Resolver::new(servers));
        }
        let servers = dns_resolvers
            .iter()
            .map(|s| {
                parse_server(s).ok_or_else(|| DnsError::Invalid {
                    detail: format!("settings.dns_resolvers: {s:?} is not an IP address or ip:port"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolver::new(servers))
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// One question to one server. `recursion_desired` is false for direct
    /// (authoritative) queries. NXDOMAIN is an answer (empty), other error
    /// RCODEs are errors.
    pub fn query_at(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Result<Answer, DnsError> {
        let id = crate::dns::random_id();
        let msg = build_query(id, name, rtype, recursion_desired).map_err(|detail| DnsError::Invalid { detail })?;
        let bytes = self.net.exchange(server, &msg, self.timeout)?;
        let answer = parse_answer(id, name, rtype, &bytes).map_err(|detail| DnsError::Malformed { server, detail })?;
        match answer.rcode {
            0 | 3 => Ok(answer),
            rcode => Err(DnsError::Query { name: abs_lower(name), rtype: rtype.to_string(), server, rcode }),
        }
    }

    /// Asks the configured resolvers in turn until one answers.
    pub fn lookup(&self, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
        let mut last = DnsError::NotFound { what: "no DNS resolver configured".into() };
        for &server in &self.servers {
            match self.query_at(server, name, rtype, true) {
                Ok(a) => return Ok(a),
                Err(e @ DnsError::Invalid { .. }) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The primary name server of `zone` (its SOA MNAME, RFC 1035 §3.3.13; RFC 2136 §4 sends updates there).
    pub fn soa_mname(&self, zone: &str) -> Result<String, DnsError> {
        let a = self.lookup(zone, RecordType::SOA)?;
        a.answers
            .iter()
            .find_map(|r| match &r.data {
                Rdata::Soa { mname, .. } => Some(mname.clone()),
                _ => None,
            })
            .ok_or_else(|| DnsError::NotFound { what: format!("no SOA record for zone {}", abs_lower(zone)) })
    }

    /// Addresses of `host` with `port`: an IP literal as it is, else its A and AAAA records.
    pub fn resolve_host(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let (v4, v6) = std::thread::scope(|s| {
            let v6 = s.spawn(|| self.lookup(host, RecordType::AAAA));
            let v4 = self.lookup(host, RecordType::A);
            (v4, v6.join().unwrap_or_else(|_| Err(DnsError::NotFound { what: "lookup thread panicked".into() })))
        });
        let mut out = Vec::new();
        let mut first_error = None;
        for r in [v4, v6] {
            match r {
                Ok(a) => out.extend(a.answers.iter().filter_map(|rr| match rr.data {
                    Rdata::A(ip) => Some(SocketAddr::new(ip.into(), port)),
                    Rdata::Aaaa(ip) => Some(SocketAddr::new(ip.into(), port)),
                    _ => None,
                })),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if out.is_empty() {
            return Err(first_error
                .unwrap_or_else(|| DnsError::NotFound { what: format!("no address for {}", abs_lower(host)) }));
        }
        Ok(out)
    }

    /// Where to send updates for `zone`: the configured server (name or IP), else the SOA MNAME.
    pub fn update_server(&self, zone: &str, server: Option<&str>, port: u16) -> Result<SocketAddr, DnsError> {
        let host = match server {
            Some(s) => s.to_string(),
            None => self.soa_mname(zone)?,
        };
        Ok(self.resolve_host(&host, port)?[0])
    }

    /// Every authoritative server of `zone`: its NS set, each name's A and AAAA
    /// addresses (looked up concurrently), with `port` (53 in production).
    pub fn authoritative_servers(&self, zone: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
        let ns = self.lookup(zone, RecordType::NS)?;
        let names: Vec<String> = ns
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                Rdata::Ns(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err(DnsError::NotFound { what: format!("no NS records for zone {}", abs_lower(zone)) });
        }
        let results: Vec<Result<Vec<SocketAddr>, DnsError>> = std::thread::scope(|s| {
            names
                .iter()
                .map(|n| s.spawn(move || self.resolve_host(n, port)))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().expect("lookup thread"))
                .collect()
        });
        let mut out: Vec<SocketAddr> = Vec::new();
        let mut first_error = None;
        for r in results {
            match r {
                Ok(addrs) => {
                    for a in addrs {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if out.is_empty() {
            return Err(first_error.unwrap_or_else(|| DnsError::NotFound {
                what: format!("no name server address for zone {}", abs_lower(zone)),
            }));
        }
        Ok(out)
    }

    /// The TXT values at `name` served by `server` itself (RD clear).
    pub fn txt_values(&self, server: SocketAddr, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query_at(server, name, RecordType::TXT, false)?
            .answers
            .into_iter()
            .filter_map(|r| match r.data {
                Rdata::Txt(t) => Some(t),
                _ => None,
            })
            .collect())
    }

    /// [`Resolver::txt_values`] on several servers at once.
    pub fn txt_values_each(
        &self,
        servers: &[SocketAddr],
        name: &str,
    ) -> Vec<(SocketAddr, Result<Vec<String>, DnsError>)> {
        std::thread::scope(|s| {
            let handles: Vec<_> =
                servers.iter().map(|&srv| (srv, s.spawn(move || self.txt_values(srv, name)))).collect();
            handles
                .into_iter()
                .map(|(srv, h)| {
                    (
                        srv,
                        h.join().unwrap_or_else(|_| Err(DnsError::NotFound { what: "lookup thread panicked".into() })),
                    )
                })
                .collect()
        })
    }

    /// The TLSA records at `name`, asked of the resolvers (recursive): what a
    /// TLS client using DANE would find.
    pub fn lookup_tlsa(&self, name: &str) -> Result<Vec<TlsaFields>, DnsError> {
        Ok(tlsa_of(self.lookup(name, RecordType::TLSA)?))
    }

    /// The TLSA records at `name` served by `server` (RD clear): (usage, selector, matching, data).
    pub fn tlsa_records(&self, server: SocketAddr, name: &str) -> Result<Vec<TlsaFields>, DnsError> {
        Ok(tlsa_of(self.query_at(server, name, RecordType::TLSA, false)?))
    }
}

fn tlsa_of(answer: Answer) -> Vec<TlsaFields> {
    answer
        .answers
        .into_iter()
        .filter_map(|r| match r.data {
            Rdata::Tlsa { usage, selector, matching, data } => Some((usage, selector, matching, data)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, NS, TXT};
    use hickory_proto::rr::{Name, RData, Record as HRecord};

    use super::*;

    /// Canned answers by (server, question); every question asked is kept.
    struct Canned {
        answers: BTreeMap<(SocketAddr, String, u16), Vec<RData>>,
        asked: Mutex<Vec<(SocketAddr, String, u16)>>,
    }

    impl Exchange for Canned {
        fn exchange(&self, server: SocketAddr, msg: &[u8], _timeout: Duration) -> Result<Vec<u8>, DnsError> {
            let q = Message::from_vec(msg).unwrap();
            let question = q.queries[0].clone();
            let key = (server, question.name().to_ascii().to_lowercase(), u16::from(question.query_type()));
            self.asked.lock().unwrap().push(key.clone());
            let Some(rdatas) = self.answers.get(&key) else { return Err(DnsError::Timeout { server }) };
            let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
            m.metadata.authoritative = true;
            m.add_query(Query::query(question.name().clone(), question.query_type()));
            m.add_answers(rdatas.iter().map(|r| HRecord::from_rdata(question.name().clone(), 60, r.clone())));
            Ok(m.to_vec().unwrap())
        }
    }

    #[test]
    fn lookups_go_through_the_exchange_it_is_given() {
        let resolver: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let ns1: SocketAddr = "192.0.2.1:5353".parse().unwrap();
        let name = |s: &str| Name::from_ascii(s).unwrap();
        let mut answers = BTreeMap::new();
        answers.insert((resolver, "example.test.".into(), 2), vec![RData::NS(NS(name("ns1.example.test.")))]);
        answers.insert((resolver, "ns1.example.test.".into(), 1), vec![RData::A(A::new(192, 0, 2, 1))]);
        answers.insert((resolver, "ns1.example.test.".into(), 28), vec![]);
        answers.insert(
            (ns1, "_acme-challenge.example.test.".into(), 16),
            vec![RData::TXT(TXT::new(vec!["v1".into()])), RData::TXT(TXT::new(vec!["v2".into()]))],
        );
        let net: &'static Canned = Box::leak(Box::new(Canned { answers, asked: Mutex::new(Vec::new()) }));
        let r = Resolver::with_exchange(vec![resolver], net);
        assert_eq!(r.authoritative_servers("example.test", 5353).unwrap(), vec![ns1]);
        let each = r.txt_values_each(&[ns1], "_acme-challenge.example.test.");
        assert_eq!(each.len(), 1);
        assert_eq!(each[0].1.as_ref().unwrap(), &vec!["v1".to_string(), "v2".to_string()]);
        let asked = net.asked.lock().unwrap().clone();
        assert!(asked.iter().any(|(s, n, t)| *s == ns1 && n == "_acme-challenge.example.test." && *t == 16));
        // A server that does not answer is an error naming it.
        let e = r.txt_values(resolver, "nothing.example.test.").unwrap_err();
        assert_eq!(e, DnsError::Timeout { server: resolver });
    }

    #[test]
    fn resolvers_from_settings() {
        assert!(Resolver::from_settings(&["nope".into()]).is_err());
        let r = Resolver::from_settings(&["127.0.0.1:5353".into()]).unwrap();
        assert_eq!(r.servers(), &["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]);
    }
}
