//! `tlsa_records` of a certificate.

use serde_json::{Map, Value};

use super::Builder;
use crate::config::check::{
    as_choice, as_object, as_port, as_string, as_u32, dns_name, host_in_zone, idx, join, show, warn_unknown,
};
use crate::config::model::{TlsaRecord, TlsaSelector, TlsaUsage, TlsaZone};

impl Builder<'_> {
    pub(super) fn tlsa_records(&mut self, p: &str, v: &Value) -> Vec<TlsaZone> {
        let Some(m) = as_object(self.ck, p, v) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (zone, records) in m {
            let zp = join(p, zone);
            let Some(zone_name) = dns_name(self.ck, &zp, zone) else {
                continue;
            };
            let items: Vec<(String, &Value)> = match records {
                Value::Array(items) => items.iter().enumerate().map(|(i, r)| (idx(&zp, i), r)).collect(),
                Value::Null => Vec::new(),
                _ => vec![(zp.clone(), records)],
            };
            let mut recs = Vec::new();
            for (rp, r) in items {
                if let Some(rec) = self.tlsa_record(&rp, r, &zone_name) {
                    recs.push(rec);
                }
            }
            out.push(TlsaZone { zone: zone_name, records: recs });
        }
        out
    }

    pub(super) fn tlsa_record(&mut self, p: &str, v: &Value, zone: &str) -> Option<TlsaRecord> {
        let empty = Map::new();
        let (host, o) = match v {
            Value::String(h) => (h.clone(), &empty),
            Value::Object(o) => {
                warn_unknown(self.ck, p, o, &["host", "port", "usage", "selector", "protocol", "ttl"], "key");
                let host = o.get("host").map(|h| as_string(self.ck, &join(p, "host"), h)).unwrap_or_else(|| "@".into());
                (host, o)
            }
            _ => {
                self.ck.err(p, format!("{} is not allowed; use a host name or a TLSA record object", show(v)));
                return None;
            }
        };
        let fqdn = dns_name(self.ck, &join(p, "host"), &host_in_zone(&host, zone))?;
        let port = o.get("port").map(|x| as_port(self.ck, &join(p, "port"), x)).unwrap_or(443);
        let usages = [
            ("pkix-ta", TlsaUsage::PkixTa),
            ("pkix-ee", TlsaUsage::PkixEe),
            ("dane-ta", TlsaUsage::DaneTa),
            ("dane-ee", TlsaUsage::DaneEe),
        ];
        let usage = match o.get("usage") {
            Some(u) => as_choice(self.ck, &join(p, "usage"), u, &usages, false).unwrap_or(TlsaUsage::PkixEe),
            None => TlsaUsage::PkixEe,
        };
        let selectors = [("cert", TlsaSelector::Cert), ("spki", TlsaSelector::Spki)];
        let selector = match o.get("selector") {
            Some(s) => as_choice(self.ck, &join(p, "selector"), s, &selectors, false).unwrap_or(TlsaSelector::Spki),
            None => TlsaSelector::Spki,
        };
        let protocol = match o.get("protocol") {
            Some(x) => {
                let s = as_string(self.ck, &join(p, "protocol"), x).to_ascii_lowercase();
                if !matches!(s.as_str(), "tcp" | "udp" | "sctp") {
                    self.ck.err(
                        &join(p, "protocol"),
                        format!("{s:?} is not allowed; use one of \"tcp\", \"udp\", \"sctp\""),
                    );
                }
                s
            }
            None => "tcp".to_string(),
        };
        let ttl = o.get("ttl").map(|x| as_u32(self.ck, &join(p, "ttl"), x)).unwrap_or(300);
        Some(TlsaRecord { host, fqdn, port, usage, selector, protocol, ttl })
    }
}
