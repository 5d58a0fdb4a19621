//! The `private_keys` and `certificates` sections, resolved into private keys
//! with their certificates. A certificate in `certificates` is a private key
//! of the same name with that one certificate, as the manual says.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::certificate::{CertInput, KeyContext, Suffixes};
use super::{pick, Builder, Layer, CERT_ONLY_OPTIONS, INHERITED_CERT_OPTIONS, KEY_OPTIONS};
use crate::config::check::{
    as_bool, as_curve, as_key_size, as_key_types, as_object, as_opt_string, as_opt_u32, as_passphrase, check_name,
    join, show, warn_unknown,
};
use crate::config::model::{CtLog, PrivateKeySpec};
use crate::types::KeyType;

/// What every certificate's options fall back to.
pub(super) struct Shared<'a> {
    pub settings: &'a Map<String, Value>,
    pub services: &'a BTreeMap<String, String>,
    pub ct_logs: &'a BTreeMap<String, CtLog>,
    pub suffixes: &'a Suffixes,
}

/// One entry of `private_keys` or `certificates`.
struct Entry<'a> {
    name: String,
    path: String,
    obj: &'a Map<String, Value>,
    is_certificate: bool,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl Builder<'_> {
    pub(super) fn private_keys(
        &mut self,
        keys: &Map<String, Value>,
        certs: &Map<String, Value>,
        shared: &Shared<'_>,
    ) -> Vec<PrivateKeySpec> {
        let mut out: Vec<PrivateKeySpec> = Vec::new();
        let mut cert_names: Vec<(String, String)> = Vec::new(); // (name, json path)
        for entry in self.entries(keys, certs) {
            let what = if entry.is_certificate { "certificate" } else { "private key" };
            if !check_name(self.ck, &entry.path, what, &entry.name) {
                continue;
            }
            let (mut spec, enabled) = self.key_spec(&entry, shared.settings);
            for (cname, cp, cobj) in self.certificates_of(&entry) {
                if !check_name(self.ck, &cp, "certificate", &cname) {
                    continue;
                }
                if let Some((_, other)) = cert_names.iter().find(|(n, _)| *n == cname) {
                    self.ck.err(&cp, format!("certificate {cname:?} is already configured at {other}"));
                    continue;
                }
                cert_names.push((cname.clone(), cp.clone()));
                if !entry.is_certificate {
                    self.warn_cert_options(&entry.path, &cp, cobj);
                }
                let layers = [
                    Layer { path: cp.clone(), map: cobj },
                    Layer { path: entry.path.clone(), map: entry.obj },
                    Layer { path: "settings".into(), map: shared.settings },
                ];
                let input = CertInput { name: &cname, path: &cp, obj: cobj, layers: &layers };
                let key = KeyContext {
                    key: &spec,
                    enabled: &enabled,
                    services: shared.services,
                    ct_logs: shared.ct_logs,
                    suffixes: shared.suffixes,
                };
                if let Some(cert) = self.certificate(&input, &key) {
                    spec.certificates.push(cert);
                }
            }
            narrow_key_types(&mut spec);
            out.push(spec);
        }
        out
    }

    /// `private_keys` entries, then `certificates` entries (a name in both is an error).
    fn entries<'m>(&mut self, keys: &'m Map<String, Value>, certs: &'m Map<String, Value>) -> Vec<Entry<'m>> {
        let mut entries = Vec::new();
        for (name, v) in keys {
            let path = join("private_keys", name);
            let obj = as_object(self.ck, &path, v).unwrap_or(&EMPTY);
            entries.push(Entry { name: name.clone(), path, obj, is_certificate: false });
        }
        for (name, v) in certs {
            let path = join("certificates", name);
            if keys.contains_key(name) {
                self.ck.err(&path, format!("{name:?} is also configured in private_keys; a name may be used in only one of certificates and private_keys"));
                continue;
            }
            let obj = as_object(self.ck, &path, v).unwrap_or(&EMPTY);
            entries.push(Entry { name: name.clone(), path, obj, is_certificate: true });
        }
        entries
    }

    /// The key's own options (from its object, then the settings) and the key
    /// types its sizes enable.
    fn key_spec(&mut self, e: &Entry<'_>, settings: &Map<String, Value>) -> (PrivateKeySpec, Vec<KeyType>) {
        let layers = [Layer { path: e.path.clone(), map: e.obj }, Layer { path: "settings".into(), map: settings }];
        let ck = &mut *self.ck;
        macro_rules! key_opt {
            ($f:ident, $k:expr) => {{
                let (kp, v) = pick(&layers, $k);
                $f(ck, &kp, v)
            }};
        }
        let key_types = key_opt!(as_key_types, "key_types");
        let key_size = key_opt!(as_key_size, "key_size");
        let key_curve = key_opt!(as_curve, "key_curve");
        let mut enabled = Vec::new();
        if key_size.is_some() && key_types.contains(&KeyType::Rsa) {
            enabled.push(KeyType::Rsa);
        }
        if key_curve.is_some() && key_types.contains(&KeyType::Ecdsa) {
            enabled.push(KeyType::Ecdsa);
        }
        let spec = PrivateKeySpec {
            name: e.name.clone(),
            key_types: Vec::new(),
            rsa_key_size: key_size,
            ecdsa_curve: key_curve,
            key_cipher: key_opt!(as_opt_string, "key_cipher"),
            key_passphrase: key_opt!(as_passphrase, "key_passphrase"),
            key_provided: key_opt!(as_bool, "key_provided"),
            expiration_days: key_opt!(as_opt_u32, "expiration_days"),
            auto_rollover: key_opt!(as_bool, "auto_rollover"),
            hpkp_days: key_opt!(as_opt_u32, "hpkp_days"),
            pin_subdomains: key_opt!(as_bool, "pin_subdomains"),
            hpkp_report_uri: key_opt!(as_opt_string, "hpkp_report_uri"),
            certificates: Vec::new(),
        };
        if enabled.is_empty() {
            self.ck.err(
                &e.path,
                "no key type is enabled (key_types, key_size 0/null and key_curve null leave neither rsa nor ecdsa)",
            );
        }
        (spec, enabled)
    }

    /// The certificates of an entry: (name, JSON path, object).
    fn certificates_of<'m>(&mut self, e: &Entry<'m>) -> Vec<(String, String, &'m Map<String, Value>)> {
        let mut known: Vec<&str> = KEY_OPTIONS.to_vec();
        known.extend_from_slice(INHERITED_CERT_OPTIONS);
        if e.is_certificate {
            known.extend_from_slice(CERT_ONLY_OPTIONS);
            warn_unknown(self.ck, &e.path, e.obj, &known, "certificate option");
            return vec![(e.name.clone(), e.path.clone(), e.obj)];
        }
        known.push("certificates");
        warn_unknown(self.ck, &e.path, e.obj, &known, "private key option");
        let cp = join(&e.path, "certificates");
        let mut out = Vec::new();
        match e.obj.get("certificates") {
            Some(Value::Object(cm)) if !cm.is_empty() => {
                for (cname, cv) in cm {
                    let ccp = join(&cp, cname);
                    let cobj = match cv {
                        Value::Null => &*EMPTY,
                        _ => as_object(self.ck, &ccp, cv).unwrap_or(&EMPTY),
                    };
                    out.push((cname.clone(), ccp, cobj));
                }
            }
            Some(Value::Object(_)) | None | Some(Value::Null) => {
                self.ck.err(&e.path, "no certificates defined for this private key (add a \"certificates\" object)")
            }
            Some(other) => {
                let shown = show(other);
                self.ck.err(&cp, format!("{shown} is not allowed; use an object of certificates"))
            }
        }
        out
    }

    /// Options of a certificate inside `private_keys` that belong to the key,
    /// or that nobody reads.
    fn warn_cert_options(&mut self, key_path: &str, cp: &str, cobj: &Map<String, Value>) {
        let mut known: Vec<&str> = INHERITED_CERT_OPTIONS.to_vec();
        known.extend_from_slice(CERT_ONLY_OPTIONS);
        for k in cobj.keys() {
            if KEY_OPTIONS.contains(&k.as_str()) && k != "key_types" {
                self.ck.warn(format!("{} is a private key option; set it on {key_path} (ignored)", join(cp, k)));
            } else if !known.contains(&k.as_str()) {
                self.ck.warn(format!("unknown certificate option {} (ignored)", join(cp, k)));
            }
        }
    }
}

/// A key is of the types its certificates use.
fn narrow_key_types(spec: &mut PrivateKeySpec) {
    let used: Vec<KeyType> =
        KeyType::ALL.into_iter().filter(|k| spec.certificates.iter().any(|c| c.key_types.contains(k))).collect();
    if !used.contains(&KeyType::Rsa) {
        spec.rsa_key_size = None;
    }
    if !used.contains(&KeyType::Ecdsa) {
        spec.ecdsa_curve = None;
    }
    spec.key_types = used;
}
