//! DNS queries and answers as bytes (RFC 1035 §4.1): building a question,
//! checking and reading the response. No I/O; `dns::net` sends them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, RData, RecordType};

use super::update;

/// One answer record, in acmebot's own terms (not hickory's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ns(String),
    Cname(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
    },
    /// The character-strings of one TXT record, concatenated (RFC 7208 §3.3 style).
    Txt(String),
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
        data: Vec<u8>,
    },
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Owner name, lower case, absolute.
    pub name: String,
    pub ttl: u32,
    pub data: Rdata,
}

/// A response: its RCODE, whether it is authoritative, and the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: u16,
    pub authoritative: bool,
    pub answers: Vec<Rr>,
    /// Addresses from the additional section (glue), by owner name.
    pub additional: Vec<Rr>,
}

pub fn abs_lower(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n.ends_with('.') {
        n
    } else {
        format!("{n}.")
    }
}

/// The UDP payload size offered with EDNS(0) (RFC 6891): 1232 bytes, which
/// crosses every path without IP fragmentation (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Builds a query (RFC 1035 §4.1.1): one question, class IN, RD as given,
/// with an EDNS(0) OPT record so an answer up to [`EDNS_PAYLOAD`] bytes (a
/// TLSA set of eight records) comes over UDP instead of a truncated answer
/// and a retry over TCP.
pub fn build_query(id: u16, name: &str, rtype: RecordType, recursion_desired: bool) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = recursion_desired;
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    let mut q = Query::query(update::name(name)?, rtype);
    q.set_query_class(DNSClass::IN);
    msg.add_query(q);
    msg.to_vec().map_err(|e| format!("cannot encode the query: {e}"))
}

fn convert(r: &hickory_proto::rr::Record) -> Rr {
    let data = match &r.data {
        RData::A(a) => Rdata::A(a.0),
        RData::AAAA(a) => Rdata::Aaaa(a.0),
        RData::NS(n) => Rdata::Ns(abs_lower(&n.0.to_ascii())),
        RData::CNAME(n) => Rdata::Cname(abs_lower(&n.0.to_ascii())),
        RData::SOA(s) => Rdata::Soa {
            mname: abs_lower(&s.mname.to_ascii()),
            rname: abs_lower(&s.rname.to_ascii()),
            serial: s.serial,
        },
        RData::TXT(t) => Rdata::Txt(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
        RData::TLSA(t) => Rdata::Tlsa {
            usage: t.cert_usage.into(),
            selector: t.selector.into(),
            matching: t.matching.into(),
            data: t.cert_data.clone(),
        },
        other => Rdata::Other(u16::from(other.record_type())),
    };
    Rr { name: abs_lower(&r.name.to_ascii()), ttl: r.ttl, data }
}

/// Parses a response to the question (`id`, `name`, `rtype`): checks that it
/// answers that question, and keeps the answers of the asked type.
pub fn parse_answer(id: u16, name: &str, rtype: RecordType, bytes: &[u8]) -> Result<Answer, String> {
    // hickory's decode error quotes the name it choked on through IDNA, which
    // is the server's text and must not be processed or shown (the fuzz
    // target found a debug assertion there): only the fact is said.
    let msg = Message::from_vec(bytes).map_err(|_| format!("unparsable response ({} bytes)", bytes.len()))?;
    if msg.metadata.id != id || msg.metadata.message_type != MessageType::Response {
        return Err("not a response to this query".into());
    }
    match msg.queries.first() {
        Some(q) if abs_lower(&q.name().to_ascii()) == abs_lower(name) && q.query_type() == rtype => {}
        _ => return Err("the response is for another question".into()),
    }
    let answers = msg.answers.iter().filter(|r| r.record_type() == rtype).map(convert).collect();
    let additional = msg
        .additionals
        .iter()
        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
        .map(convert)
        .collect();
    Ok(Answer {
        rcode: u16::from(msg.metadata.response_code) & 0x0f,
        authoritative: msg.metadata.authoritative,
        answers,
        additional,
    })
}

/// `nameserver` lines of resolv.conf (port 53); scoped IPv6 addresses are skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut t = l.split_whitespace();
            (t.next() == Some("nameserver")).then(|| t.next()).flatten()
        })
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// `"ip"`, `"ip:port"`, `"[v6]:port"` or a bare IPv6 address; port 53 by default.
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>().ok().or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

/// A TLSA record's fields: (usage, selector, matching type, association data).
pub type TlsaFields = (u8, u8, u8, Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
    use hickory_proto::rr::{Name, Record as HRecord};

    #[test]
    fn queries_offer_edns_so_big_answers_come_over_udp() {
        let bytes = build_query(7, "_443._tcp.example.test", RecordType::TLSA, false).unwrap();
        let msg = Message::from_vec(&bytes).unwrap();
        assert_eq!(msg.metadata.id, 7);
        let edns = msg.edns.as_ref().expect("an OPT record");
        assert_eq!(edns.max_payload(), EDNS_PAYLOAD);
        assert_eq!(edns.version(), 0);
    }

    #[test]
    fn resolv_conf_and_settings() {
        let text = "# c\nsearch example.com\nnameserver 192.0.2.53\nnameserver ::1\nnameserver fe80::1%eth0\noptions ndots:2\n";
        assert_eq!(parse_resolv_conf(text), vec!["192.0.2.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
        assert_eq!(parse_server("127.0.0.1:5353"), Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_server("[::1]:54"), Some("[::1]:54".parse().unwrap()));
        assert_eq!(parse_server("ns1.example.com"), None);
    }

    #[test]
    fn a_name_the_decoder_chokes_on_is_not_processed_or_shown() {
        // Found by the dns_message fuzz target: an "xn--" label with an upper-case
        // letter; formatting hickory's decode error ran IDNA on it and hit a
        // debug assertion (a panic in debug builds).
        let msg = base64::engine::general_purpose::STANDARD
            .decode("vr1IAAABAAAAAAABB2V4YW1wbGUEdGVzdAAABgABA2spKSl4bi0tbARFyWVweAR0ZXNobWFjc2hhLTIyNAAGAAEpZW1heHADAAAAAAAAKWV5B2V4YW0=")
            .unwrap();
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let err = parse_answer(id, "example.test.", RecordType::SOA, &msg).unwrap_err();
        assert_eq!(err, format!("unparsable response ({} bytes)", msg.len()));
    }

    fn response(id: u16, qname: &str, qtype: RecordType, answers: Vec<HRecord>) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        m.add_query(Query::query(Name::from_ascii(qname).unwrap(), qtype));
        m.add_answers(answers);
        m.to_vec().unwrap()
    }

    #[test]
    fn answers_are_checked_and_converted() {
        let q = build_query(7, "_acme-challenge.Example.test", RecordType::TXT, false).unwrap();
        assert_eq!(q[2] & 0x01, 0, "RD clear");
        let name = Name::from_ascii("_acme-challenge.example.test.").unwrap();
        let bytes = response(
            7,
            "_acme-challenge.example.test.",
            RecordType::TXT,
            vec![
                HRecord::from_rdata(name.clone(), 60, RData::TXT(TXT::from_bytes(vec![b"ab", b"cd"]))),
                HRecord::from_rdata(name.clone(), 60, RData::A(A::new(192, 0, 2, 1))),
            ],
        );
        let a = parse_answer(7, "_acme-challenge.example.test", RecordType::TXT, &bytes).unwrap();
        assert_eq!(
            a.answers,
            vec![Rr { name: "_acme-challenge.example.test.".into(), ttl: 60, data: Rdata::Txt("abcd".into()) }]
        );
        assert!(a.authoritative);
        assert!(parse_answer(8, "_acme-challenge.example.test", RecordType::TXT, &bytes).is_err());
        assert!(parse_answer(7, "other.example.test", RecordType::TXT, &bytes).is_err());
        let zone = Name::from_ascii("example.test.").unwrap();
        let soa = SOA::new(
            Name::from_ascii("NS1.example.test.").unwrap(),
            Name::from_ascii("h.example.test.").unwrap(),
            5,
            60,
            60,
            3600,
            60,
        );
        let bytes =
            response(9, "example.test.", RecordType::SOA, vec![HRecord::from_rdata(zone.clone(), 60, RData::SOA(soa))]);
        let a = parse_answer(9, "example.test.", RecordType::SOA, &bytes).unwrap();
        assert!(matches!(&a.answers[0].data, Rdata::Soa { mname, serial: 5, .. } if mname == "ns1.example.test."));
        let bytes = response(
            10,
            "example.test.",
            RecordType::NS,
            vec![HRecord::from_rdata(zone, 60, RData::NS(NS(Name::from_ascii("ns1.example.test.").unwrap())))],
        );
        let a = parse_answer(10, "example.test.", RecordType::NS, &bytes).unwrap();
        assert_eq!(a.answers[0].data, Rdata::Ns("ns1.example.test.".into()));
    }
}
