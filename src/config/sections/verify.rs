//! `verify`: installation verification targets.

use serde_json::Value;

use super::NULL;
use crate::config::check::{
    as_choice, as_key_types, as_port, as_str_list, dns_name, host_matches, idx, join, show, warn_unknown, Ck,
};
use crate::config::model::{StartTls, VerifyProtocol, VerifySpec};

/// A `verify` value: a port, an object, or a list of them. `hosts` are the
/// certificate's names when the value was set on a certificate or private key.
pub(super) fn verify_list(ck: &mut Ck, p: &str, v: &Value, alt_names: Option<&[String]>) -> Vec<VerifySpec> {
    let items: Vec<(String, &Value)> = match v {
        Value::Null => return Vec::new(),
        Value::Array(items) => items.iter().enumerate().map(|(i, x)| (idx(p, i), x)).collect(),
        _ => vec![(p.to_string(), v)],
    };
    let mut out = Vec::new();
    for (ip, item) in items {
        // A bad entry is a warning and is left out: the original loads it and
        // only fails when it verifies (its own example has `- 443,`, which
        // YAML reads as the string "443,").
        let (problems_before, kept_before) = (ck.problems.len(), out.len());
        match item {
            Value::Null => {}
            Value::Number(_) | Value::String(_) => out.push(VerifySpec {
                port: as_port(ck, &ip, item),
                starttls: None,
                protocol: None,
                hosts: vec![],
                key_types: vec![],
            }),
            Value::Object(o) => {
                warn_unknown(ck, &ip, o, &["port", "starttls", "protocol", "hosts", "key_types"], "key");
                let port = match o.get("port") {
                    Some(x) => as_port(ck, &join(&ip, "port"), x),
                    None => {
                        ck.err(&ip, "missing \"port\"");
                        0
                    }
                };
                let starttls_choices = [
                    ("smtp", StartTls::Smtp),
                    ("pop3", StartTls::Pop3),
                    ("imap", StartTls::Imap),
                    ("sieve", StartTls::Sieve),
                    ("ftp", StartTls::Ftp),
                    ("xmpp", StartTls::Xmpp),
                    ("ldap", StartTls::Ldap),
                ];
                // The original lower-cases the name (`SMTP` works there).
                let given = match o.get("starttls") {
                    Some(Value::String(s)) => Value::String(s.to_ascii_lowercase()),
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                let starttls = as_choice(ck, &join(&ip, "starttls"), &given, &starttls_choices, true);
                let protocol = as_choice(
                    ck,
                    &join(&ip, "protocol"),
                    o.get("protocol").unwrap_or(&NULL),
                    &[("http", VerifyProtocol::Http)],
                    true,
                );
                let hp = join(&ip, "hosts");
                let mut hosts = Vec::new();
                for h in as_str_list(ck, &hp, o.get("hosts").unwrap_or(&NULL)) {
                    let Some(h) = dns_name(ck, &hp, &h) else {
                        continue;
                    };
                    if let Some(names) = alt_names {
                        if !names.iter().any(|n| host_matches(&h, n)) {
                            ck.err(
                                &hp,
                                format!("host {h:?} is not an alt name of the certificate ({})", names.join(", ")),
                            );
                        }
                    }
                    hosts.push(h);
                }
                let key_types = as_key_types(ck, &join(&ip, "key_types"), o.get("key_types").unwrap_or(&NULL));
                out.push(VerifySpec { port, starttls, protocol, hosts, key_types });
            }
            _ => ck.err(&ip, format!("{} is not allowed; use a port number or a {{\"port\", ...}} object", show(item))),
        }
        if ck.problems.len() > problems_before {
            for p in ck.problems.split_off(problems_before) {
                ck.warn(format!("{p}; this verify entry is ignored"));
            }
            out.truncate(kept_before);
        }
    }
    out
}
