//! `--show-config`: the whole effective configuration, secrets redacted.

use serde_json::{json, Map, Value};

use super::{CertificateSpec, Config, Dir, FileKind, PrivateKeySpec};

fn to(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn certificate_json(cert: &CertificateSpec) -> Value {
    let mut c = to(cert);
    if let Value::Object(o) = &mut c {
        o.shift_remove("name");
        let alt: Map<String, Value> = cert.alt_names.iter().map(|z| (z.zone.clone(), json!(z.fqdns))).collect();
        o.insert("alt_names".into(), Value::Object(alt));
        let tlsa: Map<String, Value> = cert.tlsa_records.iter().map(|z| (z.zone.clone(), to(&z.records))).collect();
        o.insert("tlsa_records".into(), Value::Object(tlsa));
    }
    c
}

fn private_key_json(key: &PrivateKeySpec) -> Value {
    let mut value = to(key);
    if let Value::Object(obj) = &mut value {
        obj.shift_remove("name");
        let certificates: Map<String, Value> =
            key.certificates.iter().map(|c| (c.name.clone(), certificate_json(c))).collect();
        obj.insert("certificates".into(), Value::Object(certificates));
    }
    value
}

impl Config {
    /// The whole effective configuration, secrets redacted, for `--show-config`.
    pub fn to_effective_json(&self) -> Value {
        let mut directories = Map::new();
        for kind in Dir::ALL {
            directories.insert(kind.key().into(), json!(self.directories[kind as usize]));
        }
        directories.insert("journal".into(), json!(self.journal));
        let mut file_names = Map::new();
        for kind in FileKind::ALL {
            file_names.insert(kind.key().into(), json!(self.file_names[kind as usize]));
        }
        let hpkp_headers: Map<String, Value> =
            self.hpkp_headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let hooks: Map<String, Value> =
            self.hooks.iter().map(|(k, v)| (k.name().to_string(), Value::String(v.clone()))).collect();
        let ct_logs: Map<String, Value> = self.ct_logs.iter().map(|(k, v)| (k.clone(), to(&v.shards))).collect();
        let private_keys: Map<String, Value> =
            self.private_keys.iter().map(|k| (k.name.clone(), private_key_json(k))).collect();
        let authorizations: Map<String, Value> =
            self.authorizations.iter().map(|z| (z.zone.clone(), json!(z.fqdns))).collect();
        json!({
            "config_file": self.path,
            "account": to(&self.account),
            "settings": to(&self.settings),
            "directories": directories,
            "key_type_suffixes": {"rsa": self.key_type_suffixes[0], "ecdsa": self.key_type_suffixes[1]},
            "file_names": file_names,
            "hpkp_headers": hpkp_headers,
            "services": to(&self.services),
            "ct_logs": ct_logs,
            "hooks": hooks,
            "zone_update_keys": to(&self.zone_update_keys),
            "http_challenges": to(&self.http_challenges),
            "authorizations": authorizations,
            "private_keys": private_keys,
        })
    }
}
