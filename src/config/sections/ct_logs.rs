//! The `ct_logs` section: certificate transparency logs and their shards.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Builder, NULL};
use crate::config::check::{as_object, as_opt_string, as_string, check_name, idx, join, warn_unknown, Ck};
use crate::config::model::{CtLog, CtLogShard};
use crate::time::{parse_rfc3339, Timestamp};

impl Builder<'_> {
    pub(super) fn ct_logs(&mut self, m: &Map<String, Value>) -> BTreeMap<String, CtLog> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("ct_logs", name);
            if !check_name(self.ck, &p, "certificate transparency log", name) {
                continue;
            }
            let shards: Vec<(String, &Value)> = match v {
                Value::Null => continue,
                Value::Array(items) => items.iter().enumerate().map(|(i, s)| (idx(&p, i), s)).collect(),
                _ => vec![(p.clone(), v)],
            };
            let mut log = CtLog { name: name.clone(), shards: Vec::new() };
            for (sp, shard) in shards {
                if let Some(s) = self.ct_shard(&sp, shard) {
                    log.shards.push(s);
                }
            }
            if log.shards.is_empty() {
                self.ck.err(&p, "a certificate transparency log needs at least one {\"url\", \"log_id\"} entry");
            }
            out.insert(name.clone(), log);
        }
        out
    }

    pub(super) fn ct_shard(&mut self, p: &str, v: &Value) -> Option<CtLogShard> {
        use base64::Engine;
        let m = as_object(self.ck, p, v)?;
        warn_unknown(self.ck, p, m, &["url", "id", "log_id", "key", "start", "end"], "key");
        let url = match m.get("url") {
            Some(u) => as_string(self.ck, &join(p, "url"), u),
            None => {
                self.ck.err(p, "missing \"url\"");
                String::new()
            }
        };
        let (id_key, id) = match (m.get("log_id"), m.get("id")) {
            (Some(v), _) => ("log_id", v),
            (None, Some(v)) => ("id", v),
            (None, None) => {
                self.ck.err(p, "missing \"log_id\" (or the older \"id\")");
                return None;
            }
        };
        let log_id = as_string(self.ck, &join(p, id_key), id);
        let decoded = base64::engine::general_purpose::STANDARD.decode(&log_id);
        if !matches!(decoded, Ok(ref b) if b.len() == 32) {
            self.ck.err(&join(p, id_key), format!("{log_id:?} is not a base64 SHA-256 log ID"));
        }
        let key = m.get("key").and_then(|k| as_opt_string(self.ck, &join(p, "key"), k));
        if let Some(k) = &key {
            if base64::engine::general_purpose::STANDARD.decode(k).is_err() {
                self.ck.err(&join(p, "key"), "is not base64 DER");
            }
        }
        let time = |ck: &mut Ck, k: &str| -> Option<Timestamp> {
            let s = as_opt_string(ck, &join(p, k), m.get(k).unwrap_or(&NULL))?;
            let t = parse_rfc3339(&s);
            if t.is_none() {
                ck.err(&join(p, k), format!("{s:?} is not an RFC 3339 time such as \"2026-01-01T00:00:00Z\""));
            }
            t
        };
        let start = time(self.ck, "start");
        let end = time(self.ck, "end");
        Some(CtLogShard { log_id, key, url, start, end })
    }
}
