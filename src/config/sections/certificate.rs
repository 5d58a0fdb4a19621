//! One certificate: its names, and the options it inherits from its private
//! key and the settings.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::verify::verify_list;
use super::{pick, Builder, Layer, NULL};
use crate::config::check::{
    as_bool, as_key_types, as_object, as_opt_string, as_opt_u32, as_str_list, as_string, check_refs, dns_name,
    host_matches, join, Ck,
};
use crate::config::model::{CertificateSpec, CtLog, PrivateKeySpec, ZoneNames};
use crate::types::KeyType;

/// A certificate's entry in the file.
pub(super) struct CertInput<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub obj: &'a Map<String, Value>,
    /// Where its options are looked up: the certificate, its key, the settings.
    pub layers: &'a [Layer<'a>],
}

/// What a certificate needs of its private key and the other sections.
pub(super) struct KeyContext<'a> {
    pub key: &'a PrivateKeySpec,
    /// Key types the key's sizes and curves enable.
    pub enabled: &'a [KeyType],
    pub services: &'a BTreeMap<String, String>,
    pub ct_logs: &'a BTreeMap<String, CtLog>,
}

/// A list of names that must each be defined in `section`.
fn refs<T>(ck: &mut Ck, layers: &[Layer<'_>], key: &str, defined: &BTreeMap<String, T>, what: &str) -> Vec<String> {
    let (kp, v) = pick(layers, key);
    let list = as_str_list(ck, &kp, v);
    let section = if key == "services" { "services" } else { "ct_logs" };
    check_refs(ck, &kp, &list, defined, what, section);
    list
}

impl Builder<'_> {
    pub(super) fn certificate(&mut self, c: &CertInput<'_>, k: &KeyContext<'_>) -> Option<CertificateSpec> {
        let ck_before = self.ck.problems.len();
        let (common_name, alt_names) = self.names(c);
        let all_names: Vec<String> = alt_names.iter().flat_map(|z| z.fqdns.iter().cloned()).collect();
        let key_types = self.cert_key_types(c, k);
        let tlsa_records = self.tlsa_records(&join(c.path, "tlsa_records"), c.obj.get("tlsa_records").unwrap_or(&NULL));
        let ck = &mut *self.ck;
        macro_rules! opt {
            ($f:ident, $k:expr) => {{
                let (kp, v) = pick(c.layers, $k);
                $f(ck, &kp, v)
            }};
        }
        let services = refs(ck, c.layers, "services", k.services, "service");
        let ct_submit_logs = refs(ck, c.layers, "ct_submit_logs", k.ct_logs, "certificate transparency log");
        let verify = {
            let (kp, v) = pick(c.layers, "verify");
            let hosts = if kp.starts_with("settings.") { None } else { Some(all_names.as_slice()) };
            verify_list(ck, &kp, v, hosts)
        };
        let cert = CertificateSpec {
            name: c.name.to_string(),
            common_name,
            alt_names,
            services,
            key_types,
            dhparam_size: opt!(as_opt_u32, "dhparam_size"),
            ecparam_curve: opt!(as_str_list, "ecparam_curve"),
            ocsp_must_staple: opt!(as_bool, "ocsp_must_staple"),
            ocsp_responder_urls: opt!(as_str_list, "ocsp_responder_urls"),
            ct_submit_logs,
            verify,
            tlsa_records,
            profile: opt!(as_opt_string, "profile"),
            preferred_chain: opt!(as_opt_string, "preferred_chain"),
        };
        (self.ck.problems.len() == ck_before).then_some(cert)
    }

    /// The common name (default: the certificate's name) and the alternative
    /// names per zone (default: the common name), which must include it.
    fn names(&mut self, c: &CertInput<'_>) -> (String, Vec<ZoneNames>) {
        let (name, p, obj) = (c.name, c.path, c.obj);
        let common_name_raw = match obj.get("common_name") {
            Some(v) => as_string(self.ck, &join(p, "common_name"), v),
            None => name.to_string(),
        };
        let cn_path = if obj.contains_key("common_name") { join(p, "common_name") } else { p.to_string() };
        let common_name = dns_name(self.ck, &cn_path, &common_name_raw).unwrap_or_default();
        let alt_path = join(p, "alt_names");
        let alt_names = match obj.get("alt_names") {
            None | Some(Value::Null) => vec![ZoneNames { zone: common_name.clone(), fqdns: vec![common_name.clone()] }],
            Some(v) => match as_object(self.ck, &alt_path, v) {
                Some(m) => self.zone_names(&alt_path, m, Some(&common_name)),
                None => Vec::new(),
            },
        };
        let all: Vec<&String> = alt_names.iter().flat_map(|z| z.fqdns.iter()).collect();
        if !common_name.is_empty() && !all.contains(&&common_name) {
            let listed: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
            let detail = format!(
                "common name {common_name:?} is not among the alt_names ({}) of certificate {name:?}",
                listed.join(", ")
            );
            self.ck.err(&cn_path, detail);
        }
        for (i, a) in all.iter().enumerate() {
            if let Some(b) = all[i + 1..].iter().find(|b| host_matches(a, b)) {
                self.ck.err(&alt_path, format!("alt name {a:?} conflicts with {b:?} in certificate {name:?}"));
            }
        }
        (common_name, alt_names)
    }

    /// `key_types`: only the certificate object itself narrows the key's types.
    fn cert_key_types(&mut self, c: &CertInput<'_>, k: &KeyContext<'_>) -> Vec<KeyType> {
        let key_types = match c.obj.get("key_types") {
            Some(v) if !v.is_null() => {
                let kp = join(c.path, "key_types");
                let wanted = as_key_types(self.ck, &kp, v);
                for t in wanted.iter().filter(|t| !k.enabled.contains(t)) {
                    let why = if *t == KeyType::Rsa { "key_size is 0 or null" } else { "key_curve is null" };
                    self.ck.warn(format!("{kp}: {t} is not enabled for private key {:?} ({why}); ignored", k.key.name));
                }
                wanted.into_iter().filter(|t| k.enabled.contains(t)).collect::<Vec<_>>()
            }
            _ => k.enabled.to_vec(),
        };
        if key_types.is_empty() && !k.enabled.is_empty() {
            self.ck.err(&join(c.path, "key_types"), "no enabled key type is left for this certificate");
        }
        key_types
    }
}
