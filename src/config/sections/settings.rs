//! The `settings` section.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Map, Value};

use super::verify::verify_list;
use super::{Builder, NULL};
use crate::config::check::{
    as_bool, as_choice, as_curve, as_key_size, as_key_types, as_opt_string, as_opt_u32, as_passphrase, as_port,
    as_str_list, as_string, as_u32, check_refs, ct_log_refs, idx, parse_resolver, resolve_path, warn_unknown, Ck,
};
use crate::config::model::{CtLog, LogLevel, Retention, Settings, VerifySpec, VerifySsl};

/// Every setting this version reads (`slave_mode` is the original's old name
/// of `follower_mode`).
const KNOWN: &[&str] = &[
    "follower_mode",
    "slave_mode",
    "log_level",
    "color_output",
    "key_types",
    "key_size",
    "key_curve",
    "key_cipher",
    "key_passphrase",
    "key_provided",
    "dhparam_size",
    "ecparam_curve",
    "file_user",
    "file_group",
    "log_user",
    "log_group",
    "warning_exit_code",
    "hpkp_days",
    "pin_subdomains",
    "hpkp_report_uri",
    "ocsp_must_staple",
    "ocsp_responder_urls",
    "ct_submit_logs",
    "ct_log_list",
    "renewal_days",
    "expiration_days",
    "auto_rollover",
    "max_dns_lookup_attempts",
    "dns_lookup_delay",
    "max_domains_per_order",
    "max_authorization_attempts",
    "authorization_delay",
    "cert_poll_time",
    "max_ocsp_verify_attempts",
    "ocsp_verify_retry_delay",
    "min_run_delay",
    "max_run_delay",
    "acme_directory_url",
    "acme_directory_verify_ssl",
    "acme_version",
    "reload_zone_command",
    "nsupdate_command",
    "public_suffix_list_url",
    "verify",
    "services",
    "ca_bundle",
    "dns_resolvers",
    "name_server_port",
    "profile",
    "preferred_chain",
    "journal_max_bytes",
    "journal_keep_segments",
    "archive_keep",
];

const LOG_LEVELS: [(&str, LogLevel); 4] = [
    ("normal", LogLevel::Normal),
    ("verbose", LogLevel::Verbose),
    ("debug", LogLevel::Debug),
    ("detail", LogLevel::Detail),
];

/// `dns_resolvers`: `["ip", "ip:port", ...]`.
fn dns_resolvers(ck: &mut Ck, p: &str, v: &Value) -> Vec<SocketAddr> {
    let list: Vec<(String, &Value)> = match v {
        Value::Array(items) => items.iter().enumerate().map(|(i, x)| (idx(p, i), x)).collect(),
        Value::Null => Vec::new(),
        _ => vec![(p.to_string(), v)],
    };
    let mut out = Vec::new();
    for (ip, item) in list {
        let s = as_string(ck, &ip, item);
        match parse_resolver(&s) {
            Some(a) => out.push(a),
            None if s.is_empty() && !item.is_string() => {}
            None => ck.err(
                &ip,
                format!("{s:?} is not allowed; use \"ip\" or \"ip:port\" (IPv6 as \"::1\" or \"[::1]:5353\")"),
            ),
        }
    }
    out
}

impl Builder<'_> {
    pub(super) fn settings(
        &mut self,
        m: &Map<String, Value>,
        services: &BTreeMap<String, String>,
        ct_logs: &BTreeMap<String, CtLog>,
    ) -> Settings {
        warn_unknown(self.ck, "settings", m, KNOWN, "setting");
        let ck = &mut *self.ck;
        let g = |k: &str| (format!("settings.{k}"), m.get(k).unwrap_or(&NULL));
        macro_rules! get {
            ($f:ident, $k:expr) => {{
                let (p, v) = g($k);
                $f(ck, &p, v)
            }};
        }
        let log_level = as_choice(ck, "settings.log_level", m.get("log_level").unwrap_or(&NULL), &LOG_LEVELS, true);
        let services_list = get!(as_str_list, "services");
        check_refs(ck, "settings.services", &services_list, services, "service", "services");
        let ct_submit_logs = get!(as_str_list, "ct_submit_logs");
        let ct_submit_logs = ct_log_refs(ck, "settings.ct_submit_logs", ct_submit_logs, ct_logs);
        let ca_bundle = get!(as_opt_string, "ca_bundle").map(|s| resolve_path(&self.config_dir, &s));
        // As the original's requests `verify`: true, false, or a CA bundle.
        let acme_directory_verify_ssl = match m.get("acme_directory_verify_ssl") {
            Some(Value::String(s)) if !s.is_empty() => VerifySsl::Bundle(resolve_path(&self.config_dir, s)),
            _ => VerifySsl::Verify(get!(as_bool, "acme_directory_verify_ssl")),
        };
        if acme_directory_verify_ssl == VerifySsl::Verify(false) {
            ck.warn(
                "settings.acme_directory_verify_ssl is false: the ACME server's TLS certificate is not verified \
                 (anyone on the path can impersonate the CA); set it to true or to a CA bundle's path",
            );
        }
        let verify = get!(verify_list_here, "verify");
        let (min_run_delay, max_run_delay) = (get!(as_u32, "min_run_delay"), get!(as_u32, "max_run_delay"));
        if min_run_delay > max_run_delay {
            let detail = format!("{min_run_delay} is greater than settings.max_run_delay ({max_run_delay})");
            ck.err("settings.min_run_delay", detail);
        }
        Settings {
            follower_mode: get!(as_bool, "follower_mode"),
            log_level,
            color_output: get!(as_bool, "color_output"),
            key_types: get!(as_key_types, "key_types"),
            key_size: get!(as_key_size, "key_size"),
            key_curve: get!(as_curve, "key_curve"),
            key_cipher: get!(as_opt_string, "key_cipher"),
            key_passphrase: get!(as_passphrase, "key_passphrase"),
            key_provided: get!(as_bool, "key_provided"),
            dhparam_size: get!(as_opt_u32, "dhparam_size"),
            ecparam_curve: get!(as_str_list, "ecparam_curve"),
            file_user: get!(as_string, "file_user"),
            file_group: get!(as_string, "file_group"),
            log_user: get!(as_string, "log_user"),
            log_group: get!(as_string, "log_group"),
            warning_exit_code: get!(as_bool, "warning_exit_code"),
            hpkp_days: get!(as_opt_u32, "hpkp_days"),
            pin_subdomains: get!(as_bool, "pin_subdomains"),
            hpkp_report_uri: get!(as_opt_string, "hpkp_report_uri"),
            ocsp_must_staple: get!(as_bool, "ocsp_must_staple"),
            ocsp_responder_urls: get!(as_str_list, "ocsp_responder_urls"),
            ct_submit_logs,
            renewal_days: get!(as_u32, "renewal_days"),
            expiration_days: get!(as_opt_u32, "expiration_days"),
            auto_rollover: get!(as_bool, "auto_rollover"),
            max_dns_lookup_attempts: get!(as_u32, "max_dns_lookup_attempts"),
            dns_lookup_delay: get!(as_u32, "dns_lookup_delay"),
            max_domains_per_order: get!(as_u32, "max_domains_per_order"),
            max_authorization_attempts: get!(as_u32, "max_authorization_attempts"),
            authorization_delay: get!(as_u32, "authorization_delay"),
            cert_poll_time: get!(as_u32, "cert_poll_time"),
            max_ocsp_verify_attempts: get!(as_u32, "max_ocsp_verify_attempts"),
            ocsp_verify_retry_delay: get!(as_u32, "ocsp_verify_retry_delay"),
            min_run_delay,
            max_run_delay,
            acme_directory_url: get!(as_string, "acme_directory_url"),
            acme_directory_verify_ssl,
            acme_version: acme_version(ck, m.get("acme_version").unwrap_or(&NULL)),
            reload_zone_command: get!(as_opt_string, "reload_zone_command"),
            nsupdate_command: get!(as_opt_string, "nsupdate_command"),
            public_suffix_list_url: get!(as_opt_string, "public_suffix_list_url"),
            verify,
            services: services_list,
            ca_bundle,
            ct_log_list: get!(as_opt_string, "ct_log_list").map(|s| resolve_path(&self.config_dir, &s)),
            dns_resolvers: get!(dns_resolvers, "dns_resolvers"),
            name_server_port: get!(as_port, "name_server_port"),
            profile: get!(as_opt_string, "profile"),
            preferred_chain: get!(as_opt_string, "preferred_chain"),
            retention: retention(ck, m),
        }
    }
}

/// `acme_version`: null (the directory's), 1 or 2.
fn acme_version(ck: &mut Ck, v: &Value) -> Option<u8> {
    match v {
        Value::Null => None,
        Value::Number(n) if n.as_u64() == Some(1) => Some(1),
        Value::Number(n) if n.as_u64() == Some(2) => Some(2),
        _ => {
            let detail = format!(
                "{} is not allowed; use null (the version the directory offers), 1 (ACME v1) or 2 (ACME v2, RFC 8555)",
                crate::config::check::show(v)
            );
            ck.err("settings.acme_version", detail);
            None
        }
    }
}

/// `journal_max_bytes`, `journal_keep_segments`, `archive_keep`.
fn retention(ck: &mut Ck, m: &Map<String, Value>) -> Retention {
    let g = |k: &str| (format!("settings.{k}"), m.get(k).unwrap_or(&NULL));
    // null keeps everything; 0 keeps nothing (unlike other optional numbers).
    let keep = |ck: &mut Ck, (p, v): (String, &Value)| match v {
        Value::Null => None,
        _ => Some(as_u32(ck, &p, v)),
    };
    let (p, v) = g("journal_max_bytes");
    Retention {
        journal_max_bytes: as_u32(ck, &p, v),
        journal_keep_segments: keep(ck, g("journal_keep_segments")),
        archive_keep: keep(ck, g("archive_keep")),
    }
}

/// `verify` in the settings: no certificate's names to check hosts against.
fn verify_list_here(ck: &mut Ck, p: &str, v: &Value) -> Vec<VerifySpec> {
    verify_list(ck, p, v, None)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load::from_json_str;

    fn version(v: &str) -> Result<Option<u8>, String> {
        let text = format!(r#"{{"account": {{"email": "a@example.com"}}, "settings": {{"acme_version": {v}}}}}"#);
        from_json_str(&text, Path::new("/etc/acmebot/acmebot.json"))
            .map(|l| l.config.settings.acme_version)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn acme_version_is_null_1_or_2() {
        assert_eq!(version("null"), Ok(None));
        assert_eq!(version("1"), Ok(Some(1)));
        assert_eq!(version("2"), Ok(Some(2)));
        for bad in ["3", "\"1\"", "true"] {
            let e = version(bad).unwrap_err();
            assert!(e.contains("settings.acme_version") && e.contains("null"), "{bad}: {e}");
        }
    }
}
