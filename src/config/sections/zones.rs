//! DNS zones: `zone_update_keys`, `http_challenges`, `authorizations`, and names per zone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{Builder, NULL};
use crate::config::check::{
    as_opt_string, as_port, as_string, dns_name, host_in_zone, idx, ip_literal, join, resolve_path, show, warn_unknown,
};
use crate::config::model::{ZoneNames, ZoneUpdateKey};

impl Builder<'_> {
    pub(super) fn zone_update_keys(
        &mut self,
        m: &Map<String, Value>,
        update_key_dir: Option<String>,
    ) -> BTreeMap<String, ZoneUpdateKey> {
        let base = update_key_dir.map(PathBuf::from).unwrap_or_else(|| self.config_dir.clone());
        let mut out = BTreeMap::new();
        for (zone, v) in m {
            let p = join("zone_update_keys", zone);
            let Some(zone_name) = dns_name(self.ck, &p, zone) else {
                continue;
            };
            let key = match v {
                Value::Null => continue,
                Value::String(file) => ZoneUpdateKey { file: resolve_path(&base, file), server: None, port: 53 },
                Value::Object(o) => {
                    warn_unknown(self.ck, &p, o, &["file", "server", "port"], "key");
                    let file = match o.get("file") {
                        Some(f) => as_string(self.ck, &join(&p, "file"), f),
                        None => {
                            self.ck.err(&p, "missing \"file\" (the TSIG key file)");
                            String::new()
                        }
                    };
                    let server = as_opt_string(self.ck, &join(&p, "server"), o.get("server").unwrap_or(&NULL));
                    let port = match o.get("port") {
                        None | Some(Value::Null) => 53,
                        Some(port) => as_port(self.ck, &join(&p, "port"), port),
                    };
                    ZoneUpdateKey { file: resolve_path(&base, &file), server, port }
                }
                _ => {
                    self.ck.err(
                        &p,
                        format!(
                            "{} is not allowed; use a key file name or {{\"file\", \"server\", \"port\"}}",
                            show(v)
                        ),
                    );
                    continue;
                }
            };
            out.insert(zone_name, key);
        }
        out
    }

    pub(super) fn http_challenges(&mut self, m: &Map<String, Value>) -> BTreeMap<String, Option<PathBuf>> {
        let mut out = BTreeMap::new();
        for (fqdn, v) in m {
            let p = join("http_challenges", fqdn);
            let Some(name) = dns_name(self.ck, &p, fqdn) else {
                continue;
            };
            let dir = as_opt_string(self.ck, &p, v).map(|d| resolve_path(&self.config_dir, &d));
            out.insert(name, dir);
        }
        out
    }

    /// `{zone: [hosts]}` → resolved names per zone.
    pub(super) fn zone_names(&mut self, p: &str, m: &Map<String, Value>, at_zone: Option<&str>) -> Vec<ZoneNames> {
        let mut out: Vec<ZoneNames> = Vec::new();
        for (zone, hosts) in m {
            let zp = join(p, zone);
            let zone_raw = if zone == "@" { at_zone.unwrap_or(zone) } else { zone };
            let Some(zone_name) = dns_name(self.ck, &zp, zone_raw) else {
                continue;
            };
            let items: Vec<(String, &Value)> = match hosts {
                Value::Array(items) => items.iter().enumerate().map(|(i, h)| (idx(&zp, i), h)).collect(),
                _ => vec![(zp.clone(), hosts)],
            };
            let mut fqdns = Vec::new();
            let ip = ip_literal(&zone_name).is_some();
            for (hp, h) in items {
                let host = as_string(self.ck, &hp, h);
                if ip && host.trim() != "@" {
                    let detail = format!("{zone_name} is an IP address: it takes no host names, only \"@\"");
                    self.ck.err(&hp, detail);
                    continue;
                }
                if let Some(fqdn) = dns_name(self.ck, &hp, &host_in_zone(&host, &zone_name)) {
                    if !fqdns.contains(&fqdn) {
                        fqdns.push(fqdn);
                    }
                }
            }
            match out.iter_mut().find(|z| z.zone == zone_name) {
                Some(existing) => existing.fqdns.extend(fqdns),
                None => out.push(ZoneNames { zone: zone_name, fqdns }),
            }
        }
        out
    }

    pub(super) fn authorizations(&mut self, m: &Map<String, Value>) -> Vec<ZoneNames> {
        self.zone_names("authorizations", m, None)
    }
}
