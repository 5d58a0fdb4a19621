use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::check::parse_resolver;
use super::load::{from_json_str, from_str, locate_in};
use super::*;
use crate::hooks::Hook;
use crate::time::parse_rfc3339;
use crate::types::{Curve, KeyType};

fn tmpdir(tag: &str) -> PathBuf {
    crate::test_support::scratch_dir(&format!("config-{tag}"))
}

fn load_text(text: &str) -> Result<Loaded, ConfigError> {
    from_json_str(text, Path::new("/etc/acmebot/acmebot.json"))
}

fn ok(text: &str) -> Loaded {
    match load_text(text) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

/// A bad `verify` entry: a warning, the entry left out (as the original only
/// fails when it verifies).
fn warned(text: &str) -> String {
    let l = ok(text);
    let w = l.warnings.join("\n");
    assert!(w.contains("this verify entry is ignored"), "{w}");
    w
}

fn err(text: &str) -> String {
    match load_text(text) {
        Ok(_) => panic!("expected an error for {text}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = r#"{
    "account": {"email": "admin@example.com"},
    "certificates": {"example.com": {"alt_names": {"example.com": ["@", "www"]}}}
}"#;

fn p(s: &str) -> Option<PathBuf> {
    Some(PathBuf::from(s))
}

#[test]
fn features_turned_on_are_not_warned() {
    let l = ok(r#"{
        "account": {"email": "admin@example.com"},
        "directories": {"hpkp": "/etc/ssl/hpkp", "ocsp": "/etc/ssl/ocsp"},
        "settings": {"auto_rollover": true},
        "certificates": {"example.com": {"alt_names": {"example.com": ["@"]}, "verify": [443]}}
    }"#);
    // verification, HPKP and OCSP responses are all implemented: nothing to warn about
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn minimal_config_resolves_names_and_default_paths() {
    let l = ok(MINIMAL);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(c.account.email.as_deref(), Some("admin@example.com"));
    assert_eq!(c.private_keys.len(), 1);
    let key = &c.private_keys[0];
    assert_eq!(key.name, "example.com");
    assert_eq!(key.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
    assert_eq!(key.rsa_key_size, Some(4096));
    assert_eq!(key.ecdsa_curve, Some(Curve::P384));
    assert_eq!(key.key_cipher.as_deref(), Some("blowfish"));
    assert_eq!(key.key_passphrase, Passphrase::None);
    assert_eq!(key.expiration_days, Some(730));
    assert_eq!(key.hpkp_days, Some(60));
    assert!(key.pin_subdomains && !key.auto_rollover);
    let cert = &key.certificates[0];
    assert_eq!(cert.common_name, "example.com");
    assert_eq!(cert.all_names(), vec!["example.com", "www.example.com"]);
    assert_eq!(
        cert.alt_names,
        vec![ZoneNames { zone: "example.com".into(), fqdns: vec!["example.com".into(), "www.example.com".into()] }]
    );
    assert_eq!(cert.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
    assert_eq!(cert.dhparam_size, Some(2048));
    assert_eq!(cert.ct_submit_logs, vec!["google_argon", "google_xenon"]);
    assert!(cert.services.is_empty() && cert.verify.is_empty() && cert.tlsa_records.is_empty());
    assert!(!cert.ocsp_must_staple);

    let s = &c.settings;
    assert_eq!(s.log_level, Some(LogLevel::Debug));
    assert_eq!(s.renewal_days, 30);
    assert_eq!(s.max_dns_lookup_attempts, 30);
    assert_eq!(s.acme_directory_url, "https://acme-v02.api.letsencrypt.org/directory");
    assert_eq!(s.file_group, "ssl-cert");
    assert!(s.dns_resolvers.is_empty() && s.ca_bundle.is_none());

    let rsa = Some(KeyType::Rsa);
    let ec = Some(KeyType::Ecdsa);
    let fp = |k, kt| c.file_path(k, "example.com", kt).unwrap();
    assert_eq!(fp(FileKind::PrivateKey, rsa), p("/etc/ssl/private/example.com.rsa.key"));
    assert_eq!(fp(FileKind::BackupKey, ec), p("/etc/ssl/private/example.com_backup.ecdsa.key"));
    assert_eq!(fp(FileKind::PreviousKey, rsa), None);
    assert_eq!(fp(FileKind::FullKey, rsa), p("/etc/ssl/private/example.com_full.rsa.key"));
    assert_eq!(fp(FileKind::Certificate, ec), p("/etc/ssl/certs/example.com.ecdsa.pem"));
    assert_eq!(fp(FileKind::FullCertificate, rsa), p("/etc/ssl/certs/example.com+root.rsa.pem"));
    assert_eq!(fp(FileKind::Chain, rsa), p("/etc/ssl/certs/example.com_chain.rsa.pem"));
    assert_eq!(fp(FileKind::Param, None), p("/etc/ssl/params/example.com_param.pem"));
    assert_eq!(fp(FileKind::Hpkp, None), None);
    assert_eq!(fp(FileKind::Ocsp, rsa), None);
    assert_eq!(
        c.file_path_with(FileKind::Sct, "example.com", rsa, &[("ct_log_name", "google_argon")]).unwrap(),
        p("/etc/ssl/scts/example.com/rsa/google_argon.sct")
    );
    assert_eq!(c.file_path(FileKind::Challenge, "example.com", None).unwrap(), p("/etc/ssl/challenges/example.com"));
    assert_eq!(c.file_path(FileKind::Log, SCRIPT_NAME, None).unwrap(), p("/var/log/acmebot/acmebot.log"));
    assert_eq!(
        c.file_path(FileKind::Certificate, "*.example.com", rsa).unwrap(),
        p("/etc/ssl/certs/_.example.com.rsa.pem")
    );
    assert_eq!(c.resource_dir(), PathBuf::from("/var/local/acmebot"));
    assert_eq!(c.journal_path(), Path::new("/var/local/acmebot/journal.jsonl"));
    assert_eq!(c.dir(Dir::Pid, &[]).unwrap(), p("/var/run"));
    assert_eq!(c.dir(Dir::Temp, &[]).unwrap(), None);
    assert_eq!(c.dir(Dir::Archive, &[]).unwrap(), p("/etc/ssl/archive"));
    assert_eq!(c.root_cert_path(KeyType::Ecdsa), PathBuf::from("/etc/acmebot/root_cert.ecdsa.pem"));
    assert_eq!(c.http_challenge_dir("www.example.com", "example.com"), None);
    assert_eq!(c.hpkp_headers.len(), 2);
    assert!(c.ct_logs.contains_key("google_argon") && c.ct_logs.len() == 16);
    assert!(c.services.contains_key("nginx"));
    assert!(c
        .private_keys
        .iter()
        .any(|k| k.name == "example.com" && k.certificates.iter().any(|c| c.name == "example.com")));
}

#[test]
fn inheritance_across_three_levels() {
    let l = ok(r#"{
        "settings": {"key_size": 2048, "dhparam_size": 3072, "ocsp_must_staple": true, "key_passphrase": true,
                     "services": ["nginx"], "verify": [443]},
        "private_keys": {
            "shared": {
                "key_curve": "secp256r1", "hpkp_days": 0, "dhparam_size": 0, "services": ["apache"],
                "certificates": {
                    "Example.COM": {"alt_names": {"example.com": ["@", "WWW"]}, "ocsp_must_staple": false},
                    "mail.example.com": {"alt_names": {"example.com": ["mail"]}, "key_types": "ecdsa",
                                          "services": ["dovecot", "postfix"], "verify": [{"port": 993, "hosts": "mail.example.com"}]}
                }
            }
        },
        "certificates": {
            "other.org": {"key_size": 3072, "key_curve": null, "auto_rollover": true, "key_passphrase": "pw"}
        }
    }"#);
    let c = &l.config;
    let names: Vec<&str> = c.private_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["shared", "other.org"], "private_keys first, then certificates");
    let shared = &c.private_keys[0];
    assert_eq!(shared.rsa_key_size, Some(2048));
    assert_eq!(shared.ecdsa_curve, Some(Curve::P256));
    assert_eq!(shared.hpkp_days, None);
    assert_eq!(shared.key_passphrase, Passphrase::Prompt);
    assert_eq!(shared.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
    let www = &shared.certificates[0];
    assert_eq!(www.name, "Example.COM");
    assert_eq!(www.common_name, "example.com");
    assert_eq!(www.all_names(), ["example.com", "www.example.com"]);
    assert!(!www.ocsp_must_staple, "certificate overrides settings");
    assert_eq!(www.dhparam_size, None, "private key object overrides settings");
    assert_eq!(www.services, ["apache"]);
    assert_eq!(www.verify.len(), 1);
    assert_eq!(www.verify[0].port, 443);
    let mail = &shared.certificates[1];
    assert_eq!(mail.key_types, [KeyType::Ecdsa]);
    assert_eq!(mail.common_name, "mail.example.com");
    assert!(mail.ocsp_must_staple, "settings value when neither level sets it");
    assert_eq!(mail.services, ["dovecot", "postfix"]);
    assert_eq!(mail.verify[0].hosts, ["mail.example.com"]);

    let other = &c.private_keys[1];
    assert_eq!(other.rsa_key_size, Some(3072));
    assert_eq!(other.ecdsa_curve, None);
    assert_eq!(other.key_types, [KeyType::Rsa]);
    assert!(other.auto_rollover);
    assert_eq!(other.key_passphrase, Passphrase::Value("pw".into()));
    assert_eq!(other.certificates[0].key_types, [KeyType::Rsa]);
    assert_eq!(other.certificates[0].dhparam_size, Some(3072));
    assert_eq!(other.certificates[0].alt_names[0].fqdns, ["other.org"]);
}

#[test]
fn key_option_on_certificate_in_private_key_is_warned() {
    let l = ok(r#"{"private_keys": {"k": {"certificates": {"a.example": {"key_size": 2048}}}}}"#);
    assert!(
        l.warnings.iter().any(|w| w.contains("private_keys.k.certificates.a.example.key_size is a private key option")),
        "{:?}",
        l.warnings
    );
    assert_eq!(l.config.private_keys[0].rsa_key_size, Some(4096));
}

#[test]
fn same_name_in_certificates_and_private_keys_is_an_error() {
    let e = err(r#"{
        "private_keys": {"example.com": {"certificates": {"example.com": {}}}},
        "certificates": {"example.com": {}}
    }"#);
    assert!(e.contains("certificates.example.com: \"example.com\" is also configured in private_keys"), "{e}");
    let e = err(r#"{
        "private_keys": {"k": {"certificates": {"example.com": {}}}},
        "certificates": {"example.com": {}}
    }"#);
    assert!(e.contains("already configured at private_keys.k.certificates.example.com"), "{e}");
}

#[test]
fn unknown_keys_are_warnings_with_paths() {
    let l = ok(r#"{"settings": {"colour_output": false}, "colours": 1, "directories": {"certs": "/x"},
                   "certificates": {"example.com": {"alt_name": {}}}}"#);
    let w = &l.warnings;
    assert!(w.contains(&"unknown setting settings.colour_output (ignored)".to_string()), "{w:?}");
    assert!(w.contains(&"unknown section colours (ignored)".to_string()), "{w:?}");
    assert!(w.contains(&"unknown key directories.certs (ignored)".to_string()), "{w:?}");
    assert!(w.contains(&"unknown certificate option certificates.example.com.alt_name (ignored)".to_string()), "{w:?}");
}

#[test]
fn bad_enum_values_name_path_and_allowed_values() {
    let e = err(r#"{"settings": {"key_curve": "secp999r1"}, "certificates": {"example.com": {}}}"#);
    assert_eq!(
        e.lines().next().unwrap(),
        r#"/etc/acmebot/acmebot.json: settings.key_curve: "secp999r1" is not allowed; use one of "secp256r1", "secp384r1", "secp521r1" or null"#
    );
    assert_eq!(e.lines().count(), 1, "deduplicated: {e}");
    let e = err(r#"{"settings": {"log_level": "loud"}}"#);
    assert!(
        e.contains(
            r#"settings.log_level: "loud" is not allowed; use one of "normal", "verbose", "debug", "detail" or null"#
        ),
        "{e}"
    );
    let e = err(r#"{"certificates": {"example.com": {"key_types": ["rsa", "dsa"]}}}"#);
    assert!(
        e.contains(r#"certificates.example.com.key_types[1]: "dsa" is not allowed; use one of "rsa", "ecdsa""#),
        "{e}"
    );
    let e = err(r#"{"certificates": {"example.com": {"tlsa_records": {"example.com": [{"usage": "x"}]}}}}"#);
    assert!(e.contains(r#"certificates.example.com.tlsa_records.example.com[0].usage: "x" is not allowed; use one of "pkix-ta", "pkix-ee", "dane-ta", "dane-ee""#), "{e}");
    let e = warned(r#"{"certificates": {"example.com": {"verify": [{"port": 25, "starttls": "smtps"}]}}}"#);
    assert!(e.contains(r#"certificates.example.com.verify[0].starttls: "smtps" is not allowed"#), "{e}");
}

#[test]
fn all_errors_are_collected() {
    let e = err(r#"{"settings": {"key_size": "big", "renewal_days": -1, "follower_mode": "yes"},
                    "certificates": {"example.com": {"services": ["nope"], "ct_submit_logs": ["no_such_log"]}}}"#);
    assert!(e.contains("settings.key_size: \"big\" is not allowed"), "{e}");
    assert!(e.contains("settings.renewal_days: -1 is not allowed; use a non-negative integer"), "{e}");
    assert!(e.contains("settings.follower_mode: \"yes\" is not allowed; use true or false"), "{e}");
    assert!(e.contains("certificates.example.com.services: unknown service \"nope\""), "{e}");
    assert!(
        e.contains("certificates.example.com.ct_submit_logs: unknown certificate transparency log \"no_such_log\""),
        "{e}"
    );
    // The logs of the original's manual, shut down since: a warning, skipped.
    let l = ok(r#"{"settings": {"ct_submit_logs": ["google_icarus", "google_pilot", "google_argon"]},
                   "certificates": {"example.com": {"ct_submit_logs": ["google_pilot"]}}}"#);
    assert_eq!(l.config.settings.ct_submit_logs, vec!["google_argon"]);
    assert!(l.config.private_keys[0].certificates[0].ct_submit_logs.is_empty());
    for (path, name) in [
        ("settings.ct_submit_logs", "google_icarus"),
        ("settings.ct_submit_logs", "google_pilot"),
        ("certificates.example.com.ct_submit_logs", "google_pilot"),
    ] {
        let said = format!("{path}: \"{name}\" is a certificate transparency log that was shut down; skipped");
        assert!(l.warnings.contains(&said), "{said}: {:?}", l.warnings);
    }
    assert!(e.lines().count() >= 5);
}

#[test]
fn unknown_format_fields_are_config_errors() {
    let e = err(r#"{"file_names": {"certificate": "{nmae}.pem"}}"#);
    assert!(
        e.contains(r#"file_names.certificate: unknown field {nmae} in "{nmae}.pem" (available: name, key_type, suffix, server)"#),
        "{e}"
    );
    let e = err(r#"{"directories": {"http_challenge": "/var/www/{name}"}}"#);
    assert!(e.contains("directories.http_challenge: unknown field {name}"), "{e}");
    let e = err(r#"{"hooks": {"certificate_installed": "scp {certificate_fle} x:"}}"#);
    assert!(e.contains("hooks.certificate_installed: unknown field {certificate_fle}"), "{e}");
    let e = err(r#"{"hooks": {"cert_installed": "true"}}"#);
    assert!(e.contains("hooks.cert_installed: unknown hook \"cert_installed\""), "{e}");
    let e = err(r#"{"hpkp_headers": {"caddy": "{hdr"}}"#);
    assert!(e.contains("hpkp_headers.caddy: unclosed '{'"), "{e}");
    let l = ok(r#"{"hooks": {"sct_installed": "echo {ct_log_name} {sct_file}", "dns_zone_update": null}}"#);
    assert_eq!(l.config.hook(Hook::SctInstalled), Some("echo {ct_log_name} {sct_file}"));
    assert_eq!(l.config.hook(Hook::DnsZoneUpdate), None);
}

#[test]
fn null_directory_or_file_name_disables_the_file() {
    let l = ok(r#"{"directories": {"chain": null, "hpkp": "/etc/ssl/hpkp"}, "file_names": {"full_key": null},
                   "hpkp_headers": {"apache": null}}"#);
    let c = &l.config;
    assert_eq!(c.file_path(FileKind::Chain, "a", Some(KeyType::Rsa)).unwrap(), None);
    assert!(c.dir(Dir::Chain, &[]).unwrap().is_none());
    assert_eq!(c.file_path(FileKind::FullKey, "a", Some(KeyType::Rsa)).unwrap(), None);
    assert_eq!(
        c.file_path_with(FileKind::Hpkp, "a", None, &[("server", "nginx")]).unwrap(),
        p("/etc/ssl/hpkp/a.nginx")
    );
    assert_eq!(c.hpkp_headers.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["nginx"]);
}

#[test]
fn relative_directories_resolve_against_config_dir() {
    let dir = tmpdir("relative");
    let path = dir.join("acmebot.json");
    std::fs::write(
        &path,
        r#"{"directories": {"certificate": "certs/{key_type}", "resource": "./state/../res", "journal": "j/journal.jsonl",
            "http_challenge": "www/{zone}/{host}"},
            "settings": {"ca_bundle": "ca.pem"},
            "zone_update_keys": {"example.com": "k.key", "example.org": {"file": "/abs/o.key", "server": "ns1.example.org"}},
            "http_challenges": {"Example.NET": "htdocs", "dns.example.com": null}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(dir.join("conf.d/10-extra.json"), r#"{"directories": {"param": "params"}}"#).unwrap();
    let l = load(&path).unwrap();
    let c = &l.config;
    assert_eq!(c.config_dir, dir);
    assert_eq!(
        c.file_path(FileKind::Certificate, "a", Some(KeyType::Ecdsa)).unwrap(),
        Some(dir.join("certs/ecdsa/a.ecdsa.pem"))
    );
    assert_eq!(c.file_path(FileKind::Param, "a", None).unwrap(), Some(dir.join("params/a_param.pem")), "conf.d merged");
    assert_eq!(c.resource_dir(), dir.join("res"));
    assert_eq!(c.journal_path(), dir.join("j/journal.jsonl"));
    assert_eq!(c.settings.ca_bundle, Some(dir.join("ca.pem")));
    assert_eq!(c.zone_update_keys["example.com"].file, PathBuf::from("/etc/ssl/update_keys/k.key"));
    assert_eq!(c.zone_update_keys["example.com"].port, 53);
    assert_eq!(c.zone_update_keys["example.org"].file, PathBuf::from("/abs/o.key"));
    assert_eq!(c.zone_update_keys["example.org"].server.as_deref(), Some("ns1.example.org"));
    assert_eq!(c.http_challenge_dir("example.net", "example.net"), Some(dir.join("htdocs")));
    assert_eq!(c.http_challenge_dir("dns.example.com", "example.com"), None);
    assert_eq!(c.http_challenge_dir("example.com", "example.com"), Some(dir.join("www/example.com/.")));
    assert_eq!(c.http_challenge_dir("a.b.example.com", "example.com"), Some(dir.join("www/example.com/a.b")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsafe_names_are_rejected() {
    for name in ["../evil", ".hidden", "a/b", "", "bad\u{1}name", "a\\b"] {
        let text = json!({"certificates": {name: {"alt_names": {"example.com": ["@"]}, "common_name": "example.com"}}})
            .to_string();
        let e = err(&text);
        assert!(e.contains(&format!("certificate name {name:?} is not allowed")), "{name:?}: {e}");
        let text = json!({"private_keys": {name: {"certificates": {"ok.example": {}}}}}).to_string();
        let e = err(&text);
        assert!(e.contains(&format!("private key name {name:?} is not allowed")), "{name:?}: {e}");
        let text = json!({"private_keys": {"k": {"certificates": {name: {"common_name": "example.com"}}}}}).to_string();
        assert!(err(&text).contains("is not allowed because"), "{name:?}");
    }
}

#[test]
fn common_name_must_be_an_alt_name() {
    let e = err(r#"{"certificates": {"example.com": {"alt_names": {"example.com": ["www"]}}}}"#);
    assert!(
        e.contains(
            r#"certificates.example.com: common name "example.com" is not among the alt_names (www.example.com)"#
        ),
        "{e}"
    );
    let e = err(r#"{"certificates": {"example.com": {"alt_names": {"example.com": ["@", "*", "www"]}}}}"#);
    assert!(e.contains(r#"alt name "*.example.com" conflicts with "www.example.com""#), "{e}");
    let l = ok(r#"{"certificates": {"wild": {"common_name": "example.com", "alt_names": {"@": ["@", "*"]}}}}"#);
    assert_eq!(l.config.private_keys[0].certificates[0].all_names(), ["example.com", "*.example.com"]);
    let e = warned(r#"{"certificates": {"example.com": {"verify": [{"port": 443, "hosts": ["other.com"]}]}}}"#);
    assert!(e.contains("certificates.example.com.verify[0].hosts: host \"other.com\" is not an alt name"), "{e}");
}

#[test]
fn dns_resolvers_are_parsed() {
    let l =
        ok(r#"{"settings": {"dns_resolvers": ["192.0.2.1", "192.0.2.2:5353", "::1", "[2001:db8::1]:5300", "[::2]"]}}"#);
    let r: Vec<String> = l.config.settings.dns_resolvers.iter().map(|a| a.to_string()).collect();
    assert_eq!(r, ["192.0.2.1:53", "192.0.2.2:5353", "[::1]:53", "[2001:db8::1]:5300", "[::2]:53"]);
    let e = err(r#"{"settings": {"dns_resolvers": ["resolver.example"]}}"#);
    assert!(e.contains("settings.dns_resolvers[0]: \"resolver.example\" is not allowed"), "{e}");
    assert_eq!(parse_resolver("10.0.0.1:99"), Some("10.0.0.1:99".parse().unwrap()));
    assert_eq!(parse_resolver("10.0.0.1:"), None);
}

#[test]
fn show_config_redacts_secrets() {
    let l = ok(r#"{"account": {"email": "a@example.com", "eab_kid": "kid-1", "eab_hmac_key": "hm4c-s3cret"},
                   "settings": {"key_passphrase": "pa55-s3cret"},
                   "private_keys": {"k": {"key_passphrase": "other-s3cret", "certificates": {"example.com": {}}}},
                   "certificates": {"example.org": {"tlsa_records": {"example.org": ["@", {"host": "mail", "port": 25, "usage": "dane-ee"}]}}}}"#);
    let v = l.config.to_effective_json();
    let text = serde_json::to_string_pretty(&v).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(v["account"]["eab_hmac_key"], REDACTED);
    assert_eq!(v["account"]["eab_kid"], "kid-1");
    assert_eq!(v["settings"]["key_passphrase"], REDACTED);
    assert_eq!(v["private_keys"]["k"]["key_passphrase"], REDACTED);
    assert_eq!(v["private_keys"]["k"]["certificates"]["example.com"]["alt_names"]["example.com"][0], "example.com");
    assert_eq!(
        v["private_keys"]["example.org"]["certificates"]["example.org"]["tlsa_records"]["example.org"][1]["usage"],
        "dane-ee"
    );
    assert_eq!(v["directories"]["journal"], "/var/local/acmebot/journal.jsonl");
    assert_eq!(v["settings"]["key_curve"], "secp384r1");
    assert_eq!(v["ct_logs"]["google_argon"][0]["start"], "2025-01-01T00:00:00Z");
    let debug = format!("{:?}", l.config);
    assert!(!debug.contains("s3cret"), "Debug leaks secrets: {debug}");
    // A passphrase of the wrong type is never echoed either.
    let e = err(r#"{"settings": {"key_passphrase": 12345678}}"#);
    assert!(!e.contains("12345678"), "{e}");
}

#[test]
fn locate_search_order() {
    let root = tmpdir("locate");
    let (cwd, sys, exe) = (root.join("cwd"), root.join("sys"), root.join("exe"));
    for d in [&cwd, &sys, &exe] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The default name in the binary's folder is the binary: never tried bare.
    std::fs::write(exe.join("acmebot"), "\x7fELF").unwrap();
    let e = locate_in(None, &cwd, &sys, Some(&exe)).unwrap_err();
    match &e {
        ConfigError::NotFound { tried, .. } => {
            let mut expected = Vec::new();
            for dir in [&cwd, &sys, &exe] {
                for name in ["acmebot.json", "acmebot.yaml", "acmebot.yml"] {
                    expected.push(dir.join(name));
                }
            }
            assert_eq!(tried, &expected)
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().starts_with("configuration file acmebot not found (tried: "), "{e}");
    // In each directory .json, then .yaml, then .yml; the directories in order.
    std::fs::write(exe.join("acmebot.yml"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), exe.join("acmebot.yml"));
    std::fs::write(sys.join("acmebot.yaml"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), sys.join("acmebot.yaml"));
    std::fs::write(sys.join("acmebot.yml"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), sys.join("acmebot.yaml"));
    for name in ["acmebot.yaml", "acmebot.yml"] {
        std::fs::remove_file(sys.join(name)).unwrap();
    }
    std::fs::write(exe.join("acmebot.json"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), exe.join("acmebot.json"));
    std::fs::write(sys.join("acmebot.json"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), sys.join("acmebot.json"));
    std::fs::write(cwd.join("acmebot.json"), "{}").unwrap();
    assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), cwd.join("acmebot.json"));
    std::fs::write(sys.join("other.json"), "{}").unwrap();
    assert_eq!(locate_in(Some("other.json"), &cwd, &sys, Some(&exe)).unwrap(), sys.join("other.json"));
    assert_eq!(locate_in(Some("other"), &cwd, &sys, None).unwrap(), sys.join("other.json"));
    std::fs::write(cwd.join("other.yml"), "{}").unwrap();
    assert_eq!(locate_in(Some("other"), &cwd, &sys, None).unwrap(), cwd.join("other.yml"));
    // A given name without an extension is also tried as it is, after the
    // extensions (the original tried only those).
    std::fs::write(sys.join("bare"), "{}").unwrap();
    assert_eq!(locate_in(Some("bare"), &cwd, &sys, None).unwrap(), sys.join("bare"));
    std::fs::write(sys.join("bare.yaml"), "{}").unwrap();
    assert_eq!(locate_in(Some("bare"), &cwd, &sys, None).unwrap(), sys.join("bare.yaml"));
    let abs = exe.join("acmebot.json");
    assert_eq!(locate_in(Some(abs.to_str().unwrap()), &cwd, &sys, None).unwrap(), abs);
    let missing = root.join("missing.json");
    let e = locate_in(Some(missing.to_str().unwrap()), &cwd, &sys, Some(&exe)).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { ref tried, .. } if tried == std::slice::from_ref(&missing)), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn json_errors_give_line_and_column() {
    let e = load_text("{\n  \"settings\": {,}\n}").unwrap_err();
    match &e {
        ConfigError::Parse { line, column, .. } => assert_eq!((*line, *column), (2, 16)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().starts_with("/etc/acmebot/acmebot.json:2:16: invalid JSON: "), "{e}");
    let e = err("[1]");
    assert!(e.contains("the configuration must be a JSON object"), "{e}");
}

#[test]
fn ct_logs_accept_old_and_new_forms() {
    let l = ok(r#"{"ct_logs": {
        "old": {"url": "https://ct.example/old", "id": "pLkJkLQYWBSHuxOizGdwCjw1mAT5G9+443fNDsgN3BA="},
        "google_argon": null,
        "new": [{"log_id": "KTxRllTIOWW6qlD8WAfUt2+/WHopctykwwz05UVH9Hg=", "url": "https://ct.example/2026/",
                 "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}]},
        "settings": {"ct_submit_logs": ["old", "new"]}}"#);
    let c = &l.config;
    assert!(!c.ct_logs.contains_key("google_argon"));
    assert_eq!(c.ct_logs["old"].shards[0].url, "https://ct.example/old");
    assert_eq!(c.ct_logs["old"].shards[0].key, None);
    let new = &c.ct_logs["new"];
    let t = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    assert!(new.shard_for(t).is_some());
    assert!(new.shard_for(parse_rfc3339("2028-01-01T00:00:00Z").unwrap()).is_none());
    let e = err(r#"{"ct_logs": {"x": {"url": "u", "log_id": "not base64!"}}}"#);
    assert!(e.contains("ct_logs.x.log_id: \"not base64!\" is not a base64 SHA-256 log ID"), "{e}");
}

#[test]
fn tlsa_and_verify_are_resolved() {
    let l = ok(r#"{"certificates": {"example.com": {
        "alt_names": {"example.com": ["@", "mail"]},
        "tlsa_records": {"example.com": ["@", {"host": "mail", "port": 25, "usage": "dane-ee", "selector": "cert", "ttl": 60}]},
        "verify": [{"port": 443, "protocol": "http"}, {"port": "25", "starttls": "smtp", "hosts": "mail.example.com", "key_types": "rsa"}, 993]}}}"#);
    let cert = &l.config.private_keys[0].certificates[0];
    let z = &cert.tlsa_records[0];
    assert_eq!(z.zone, "example.com");
    assert_eq!(
        z.records[0],
        TlsaRecord {
            host: "@".into(),
            fqdn: "example.com".into(),
            port: 443,
            usage: TlsaUsage::PkixEe,
            selector: TlsaSelector::Spki,
            protocol: "tcp".into(),
            ttl: 300
        }
    );
    assert_eq!(z.records[1].fqdn, "mail.example.com");
    assert_eq!((z.records[1].usage.number(), z.records[1].selector.number(), z.records[1].ttl), (3, 0, 60));
    assert_eq!(cert.verify.len(), 3);
    assert_eq!(cert.verify[0].protocol, Some(VerifyProtocol::Http));
    assert_eq!(
        cert.verify[1],
        VerifySpec {
            port: 25,
            starttls: Some(StartTls::Smtp),
            protocol: None,
            hosts: vec!["mail.example.com".into()],
            key_types: vec![KeyType::Rsa]
        }
    );
    assert_eq!(cert.verify[2].port, 993);
    let e = warned(r#"{"settings": {"verify": [{"starttls": "smtp"}, 0, 70000, "x", 25]}}"#);
    let kept = ok(r#"{"settings": {"verify": [{"starttls": "smtp"}, 0, 70000, "x", 25]}}"#);
    assert_eq!(kept.config.settings.verify.iter().map(|v| v.port).collect::<Vec<_>>(), vec![25]);
    assert!(e.contains("settings.verify[0]: missing \"port\""), "{e}");
    assert!(e.contains("settings.verify[1]: 0 is not allowed; use a port number from 1 to 65535"), "{e}");
    assert!(e.contains("settings.verify[2]: 70000 is not allowed; use a port number"), "{e}");
    assert!(e.contains("settings.verify[3]: \"x\" is not allowed; use a non-negative integer"), "{e}");
}

#[test]
fn key_types_disabled_by_size_and_curve() {
    let e = err(r#"{"settings": {"key_size": 0, "key_curve": null}, "certificates": {"example.com": {}}}"#);
    assert!(e.contains("certificates.example.com: no key type is enabled"), "{e}");
    let e = err(r#"{"settings": {"key_size": 1000}}"#);
    assert!(e.contains("settings.key_size: 1000 is not allowed"), "{e}");
    // A size the original generated but aws-lc does not: existing keys are
    // adopted, a new one gets the next size up (said in a warning).
    let l = ok(r#"{"settings": {"key_size": 2560}}"#);
    assert!(
        l.warnings.iter().any(|w| w.contains("settings.key_size: existing 2560-bit RSA keys are used")
            && w.contains("a new key will have 3072 bits")),
        "{:?}",
        l.warnings
    );
    let l = ok(r#"{"settings": {"key_size": null}, "certificates": {"example.com": {"key_types": ["rsa", "ecdsa"]}}}"#);
    let key = &l.config.private_keys[0];
    assert_eq!(key.key_types, [KeyType::Ecdsa]);
    assert_eq!(key.rsa_key_size, None);
    assert!(
        l.warnings.iter().any(|w| w.contains("certificates.example.com.key_types: rsa is not enabled")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn owners_missing_on_this_system_are_a_warning_and_the_running_ids_are_kept() {
    // As the original: no `ssl-cert` group (OpenWrt, Alpine, Fedora) is no error.
    let l = ok(r#"{"settings": {"file_user": "root", "file_group": "no-such-group-acmebot-test",
        "log_user": "no-such-user-acmebot-test"}}"#);
    let running = (crate::platform::euid(), crate::platform::egid());
    assert_eq!(l.config.file_owner().unwrap(), (0, running.1));
    assert_eq!(l.config.log_owner().unwrap().0, running.0);
    let w = l.config.missing_owner_warnings();
    assert_eq!(
        w,
        vec![
            "settings.file_group: there is no group \"no-such-group-acmebot-test\" on this system; files keep the running group's id",
            "settings.log_user: there is no user \"no-such-user-acmebot-test\" on this system; files keep the running user's id",
        ]
    );
    let l = ok(r#"{"settings": {"file_user": "root", "file_group": "0"}}"#);
    assert_eq!(l.config.file_owner().unwrap(), (0, 0));
    assert!(l.config.missing_owner_warnings().is_empty());
}

#[test]
fn legacy_slave_mode_and_placeholder_email() {
    let l = ok(r#"{"account": {"email": "<admin@example.com>"}, "settings": {"slave_mode": true}}"#);
    assert!(l.config.settings.follower_mode);
    assert!(l.warnings.iter().any(|w| w.contains("placeholder")), "{:?}", l.warnings);
}

#[test]
fn example_file_loads_and_matches_defaults() {
    let text = include_str!("../../acmebot.example.json");
    let l = ok(text);
    assert!(l.warnings.iter().all(|w| w.contains("placeholder")), "{:?}", l.warnings);
    // Every default setting appears in the example with the same value.
    let example: Value = serde_json::from_str(text).unwrap();
    for (section, default) in defaults::defaults() {
        let Value::Object(default) = default else {
            continue;
        };
        for (k, v) in default {
            assert_eq!(example[&section].get(&k), Some(&v), "{section}.{k} differs from the default");
        }
    }
}

/// A realistic configuration of our own in YAML, every section of the
/// manual, written the way people write YAML: comments, YAML 1.1 booleans
/// and nulls, an anchor with merge keys, block scalars, unquoted numbers in
/// other bases.
const REALISTIC_YAML: &str = r#"
# acmebot: a web and mail host, DNS at ns1.example.net.
account:
  email: hostmaster@example.com
  eab_kid: ~
  eab_hmac_key: null

settings:
  follower_mode: no
  log_level: verbose
  color_output: Off
  key_types: [rsa, ecdsa]
  key_size: 3072
  key_curve: secp384r1
  key_cipher: blowfish
  key_passphrase: ~
  file_user: root
  file_group: ssl-cert
  warning_exit_code: yes
  hpkp_days: 0
  renewal_days: 21
  expiration_days: 365
  max_dns_lookup_attempts: 0x1e      # 30
  dns_lookup_delay: 1_0
  min_run_delay: 5:00                # base 60: 300 seconds
  max_run_delay: 1:00:00             # 3600
  acme_directory_url: https://acme-staging-v02.api.letsencrypt.org/directory
  dns_resolvers: ['192.0.2.53', '[2001:db8::53]:53']
  name_server_port: 53
  ct_submit_logs:
    - google_argon
    - example_log

directories:
  resource: /var/local/acmebot
  private_key: /etc/ssl/private
  backup_key: /etc/ssl/private
  previous_key: ~
  certificate: /etc/ssl/certs
  chain: /etc/ssl/certs
  param: /etc/ssl/params
  challenge: /etc/ssl/challenges
  sct: /etc/ssl/scts/{name}/{key_type}
  ocsp: ~

key_type_suffixes: {rsa: .rsa, ecdsa: .ecdsa}

file_names:
  private_key: '{name}{suffix}.key'
  certificate: "{name}{suffix}.pem"
  full_certificate: ~

hpkp_headers:
  apache: |
    Header always set Public-Key-Pins "{header}"
  nginx: ~

services:
  nginx: systemctl reload nginx
  postfix: systemctl reload postfix
  dovecot: >-
    doveadm
    reload

ct_logs:
  example_log:
    - url: https://ct.example.net/2026/
      log_id: KTxRllTIOWW6qlD8WAfUt2+/WHopctykwwz05UVH9Hg=
      start: 2026-01-01T00:00:00Z
      end: 2027-01-01T00:00:00Z
  google_xenon: ~

hooks:
  certificate_installed: logger -t acmebot "installed {certificate_name} ({key_type})"
  dns_zone_update: ~

zone_update_keys:
  example.net:
    file: update.example.net.key
    server: ns1.example.net
    port: 53

http_challenges:
  www.example.org: /var/www/htdocs/.well-known/acme-challenge

authorizations:
  example.com: ['@', www, mail]

certificates:
  example.com: &web
    alt_names:
      example.com: ['@', www]
    services: [nginx]
    ocsp_must_staple: yes
    tlsa_records:
      example.com: ['@', {host: www, port: 443, usage: pkix-ee, selector: spki}]
  example.org:
    <<: *web
    alt_names:
      example.org: ['@', www]
    tlsa_records: {}

private_keys:
  mail:
    key_types: [rsa]
    expiration_days: 180
    certificates:
      mail.example.com:
        alt_names:
          example.com: [mail, smtp]
        services: [dovecot, postfix]
"#;

/// [`REALISTIC_YAML`] written by hand as JSON.
const REALISTIC_JSON: &str = r#"{
  "account": {"email": "hostmaster@example.com", "eab_kid": null, "eab_hmac_key": null},
  "settings": {
    "follower_mode": false, "log_level": "verbose", "color_output": false,
    "key_types": ["rsa", "ecdsa"], "key_size": 3072, "key_curve": "secp384r1", "key_cipher": "blowfish",
    "key_passphrase": null, "file_user": "root", "file_group": "ssl-cert", "warning_exit_code": true,
    "hpkp_days": 0, "renewal_days": 21, "expiration_days": 365, "max_dns_lookup_attempts": 30,
    "dns_lookup_delay": 10, "min_run_delay": 300, "max_run_delay": 3600,
    "acme_directory_url": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "dns_resolvers": ["192.0.2.53", "[2001:db8::53]:53"], "name_server_port": 53,
    "ct_submit_logs": ["google_argon", "example_log"]
  },
  "directories": {
    "resource": "/var/local/acmebot", "private_key": "/etc/ssl/private", "backup_key": "/etc/ssl/private",
    "previous_key": null, "certificate": "/etc/ssl/certs", "chain": "/etc/ssl/certs", "param": "/etc/ssl/params",
    "challenge": "/etc/ssl/challenges", "sct": "/etc/ssl/scts/{name}/{key_type}", "ocsp": null
  },
  "key_type_suffixes": {"rsa": ".rsa", "ecdsa": ".ecdsa"},
  "file_names": {"private_key": "{name}{suffix}.key", "certificate": "{name}{suffix}.pem", "full_certificate": null},
  "hpkp_headers": {"apache": "Header always set Public-Key-Pins \"{header}\"\n", "nginx": null},
  "services": {"nginx": "systemctl reload nginx", "postfix": "systemctl reload postfix", "dovecot": "doveadm reload"},
  "ct_logs": {
    "example_log": [{"url": "https://ct.example.net/2026/", "log_id": "KTxRllTIOWW6qlD8WAfUt2+/WHopctykwwz05UVH9Hg=",
                     "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}],
    "google_xenon": null
  },
  "hooks": {"certificate_installed": "logger -t acmebot \"installed {certificate_name} ({key_type})\"", "dns_zone_update": null},
  "zone_update_keys": {"example.net": {"file": "update.example.net.key", "server": "ns1.example.net", "port": 53}},
  "http_challenges": {"www.example.org": "/var/www/htdocs/.well-known/acme-challenge"},
  "authorizations": {"example.com": ["@", "www", "mail"]},
  "certificates": {
    "example.com": {
      "alt_names": {"example.com": ["@", "www"]}, "services": ["nginx"], "ocsp_must_staple": true,
      "tlsa_records": {"example.com": ["@", {"host": "www", "port": 443, "usage": "pkix-ee", "selector": "spki"}]}
    },
    "example.org": {
      "alt_names": {"example.org": ["@", "www"]}, "services": ["nginx"], "ocsp_must_staple": true, "tlsa_records": {}
    }
  },
  "private_keys": {
    "mail": {
      "key_types": ["rsa"], "expiration_days": 180,
      "certificates": {"mail.example.com": {"alt_names": {"example.com": ["mail", "smtp"]}, "services": ["dovecot", "postfix"]}}
    }
  }
}"#;

/// The configuration as `--show-config` shows it, and the warnings.
/// (The file's own path left out.)
fn shown(loaded: &Loaded) -> (Value, Vec<String>) {
    let mut v = loaded.config.to_effective_json();
    if let Value::Object(o) = &mut v {
        o.shift_remove("config_file");
    }
    (v, loaded.warnings.clone())
}

#[test]
fn yaml_and_json_of_the_same_content_give_the_same_config() {
    let yaml = match from_str(REALISTIC_YAML, Path::new("/etc/acmebot/acmebot.yaml")) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let json = ok(REALISTIC_JSON);
    assert_eq!(shown(&yaml), shown(&json));
    let (v, _) = shown(&yaml);
    // Spot checks that the YAML was read as meant, not just alike.
    assert_eq!(v["settings"]["warning_exit_code"], true);
    assert_eq!(v["settings"]["color_output"], false);
    assert_eq!(v["settings"]["min_run_delay"], 300);
    assert_eq!(v["settings"]["max_dns_lookup_attempts"], 30);
    assert_eq!(v["ct_logs"]["example_log"][0]["start"], "2026-01-01T00:00:00Z");
    assert_eq!(v["private_keys"]["example.org"]["certificates"]["example.org"]["services"], json!(["nginx"]));
    assert_eq!(v["services"]["dovecot"], "doveadm reload");
    assert_eq!(
        yaml.config.hpkp_headers,
        [("apache".to_string(), "Header always set Public-Key-Pins \"{header}\"\n".to_string())]
    );
    // The same YAML read with the .yml extension, or as the main file.
    let yml = from_str(REALISTIC_YAML, Path::new("/etc/acmebot/acmebot.yml")).unwrap();
    assert_eq!(shown(&yml), shown(&json));
}

#[test]
fn example_yaml_is_the_example_json() {
    let yaml = super::yaml::to_json(include_str!("../../acmebot.example.yaml")).unwrap();
    let json: Value = serde_json::from_str(include_str!("../../acmebot.example.json")).unwrap();
    assert_eq!(yaml, json);
    // Key order too (it is the order --show-config and conf.d merging keep).
    assert_eq!(serde_json::to_string(&yaml).unwrap(), serde_json::to_string(&json).unwrap());
}

#[test]
fn yaml_scalars_in_a_configuration() {
    let l = from_str(
        "settings:\n  auto_rollover: On\n  warning_exit_code: 'yes'\n  key_passphrase: NULL\n  renewal_days: 0x1E\n",
        Path::new("/etc/acmebot/acmebot.yaml"),
    );
    let e = l.unwrap_err().to_string();
    // A quoted 'yes' is the text "yes", which is not a boolean.
    assert!(e.contains("settings.warning_exit_code: \"yes\" is not allowed; use true or false"), "{e}");
    let l =
        from_str("settings:\n  auto_rollover: On\n  key_passphrase: NULL\n  renewal_days: 0x1E\n", Path::new("a.yml"))
            .unwrap();
    assert!(l.config.settings.auto_rollover);
    assert_eq!(l.config.settings.renewal_days, 30);
}

#[test]
fn yaml_errors_give_line_and_column() {
    let e = from_str("settings:\n  renewal_days: 30\n  log_level: [debug\n", Path::new("/etc/acmebot/acmebot.yaml"))
        .unwrap_err();
    match &e {
        ConfigError::Parse { line, column, format, .. } => {
            assert_eq!(*format, "YAML");
            assert!(*line >= 3 && *column >= 1, "{e}");
        }
        other => panic!("{other}"),
    }
    let e = from_str("account:\n  email: a@example.com\n  bad: x: y\n", Path::new("/etc/acmebot/acmebot.yaml"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "/etc/acmebot/acmebot.yaml:3:9: invalid YAML: mapping values are not allowed in this context");
    // Anything but .json is read as YAML, as the original did; JSON is YAML.
    let l = from_str(MINIMAL, Path::new("/etc/acmebot/acmebot.conf")).unwrap();
    assert_eq!(shown(&l), shown(&ok(MINIMAL)));
}

#[test]
fn conf_d_merges_json_and_yaml_sorted_by_path() {
    let dir = tmpdir("conf-d-yaml");
    let main = dir.join("acmebot.yaml");
    std::fs::write(&main, "account:\n  email: admin@example.com\nsettings:\n  renewal_days: 10\n  key_size: 2048\n")
        .unwrap();
    let conf_d = dir.join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("10-web.json"),
        r#"{"certificates": {"example.com": {"alt_names": {"example.com": ["@"]}}}}"#,
    )
    .unwrap();
    std::fs::write(conf_d.join("20-mail.yml"), "certificates:\n  mail.example.com:\n    alt_names:\n      example.com: [mail]\nsettings:\n  renewal_days: 20\n").unwrap();
    std::fs::write(conf_d.join("30-late.yaml"), "settings: {renewal_days: 30}\n").unwrap();
    // An empty document adds nothing; hidden files and other extensions are not read.
    std::fs::write(conf_d.join("40-empty.yaml"), "# nothing here yet\n").unwrap();
    std::fs::write(conf_d.join(".hidden.yaml"), "settings: {renewal_days: 99}\n").unwrap();
    std::fs::write(conf_d.join("50-notes.txt"), "settings: {renewal_days: 98}\n").unwrap();
    std::fs::write(conf_d.join("60-backup.json~"), "{").unwrap();
    let l = load(&main).unwrap();
    let names: Vec<&str> = l.config.private_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["example.com", "mail.example.com"]);
    assert_eq!(l.config.settings.renewal_days, 30);
    assert_eq!(l.config.private_keys[0].rsa_key_size, Some(2048));
    // A conf.d file that is not a mapping is named.
    std::fs::write(conf_d.join("45-list.yaml"), "- a\n").unwrap();
    let e = load(&main).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: a conf.d file must hold a mapping", conf_d.join("45-list.yaml").display())),
        "{e}"
    );
    std::fs::remove_file(conf_d.join("45-list.yaml")).unwrap();
    // A YAML error in conf.d names that file, line and column.
    std::fs::write(conf_d.join("45-bad.yml"), "settings:\n\t- x\n").unwrap();
    let e = load(&main).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Parse { path, line: 2, format: "YAML", .. } if path == &conf_d.join("45-bad.yml")),
        "{e}"
    );
    std::fs::remove_file(conf_d.join("45-bad.yml")).unwrap();
    // An empty main file: the configuration comes from conf.d alone ...
    std::fs::write(&main, "# everything is in conf.d\n").unwrap();
    let l = load(&main).unwrap();
    assert_eq!(l.config.private_keys.len(), 2);
    // ... and with nothing in conf.d either, it is an error naming the file.
    std::fs::remove_dir_all(&conf_d).unwrap();
    let e = load(&main).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: the file is empty and no conf.d file adds to it: there is no configuration", main.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn starttls_names_the_original_knows_load() {
    let l = ok(r#"{"certificates": {"example.com": {"verify": [
        {"port": 389, "starttls": "ldap"}, {"port": 25, "starttls": "SMTP"}]}}}"#);
    let verify = &l.config.private_keys[0].certificates[0].verify;
    assert_eq!(verify[0].starttls, Some(StartTls::Ldap));
    assert_eq!(verify[1].starttls, Some(StartTls::Smtp), "lower-cased, as the original does");
}

#[test]
fn ct_log_list_on_the_device_replaces_the_compiled_in_logs() {
    let dir = tmpdir("ct-log-list");
    let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIIKh+WdoqOTblJji4WiH5AltIDUzODyvFKrXCBjw/Rab0/98J4LUh7dOJEY7+66+yCNSICuqRAX+VPnV8R1Fmg==";
    let list = json!({"version": "1.0", "log_list_timestamp": "2026-12-01T00:00:00Z", "operators": [{
        "name": "Example", "email": [], "logs": [], "tiled_logs": [{
            "description": "Example 'Birch2027h1'", "log_id": "TnWjJ1yaEMM4W2zU3z9S6x3w4I4bjWnAsfpksWKaOd8=", "key": key,
            "submission_url": "https://birch.example/2027h1/", "monitoring_url": "https://mon.birch.example/2027h1/",
            "mmd": 60, "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}},
            "temporal_interval": {"start_inclusive": "2027-01-01T00:00:00Z", "end_exclusive": "2027-07-01T00:00:00Z"}}]}]});
    std::fs::write(dir.join("log_list.json"), list.to_string()).unwrap();
    let text = |path: &str, logs: &str| {
        format!(
            r#"{{"account": {{"email": "admin@example.com"}},
                "settings": {{"ct_log_list": "{path}", "ct_submit_logs": [{logs}]}},
                "certificates": {{"example.com": {{"alt_names": {{"example.com": ["@"]}}}}}}}}"#
        )
    };
    let path = dir.join("log_list.json");
    let l = ok(&text(path.to_str().unwrap(), r#""example_birch""#));
    let shard = &l.config.ct_logs["example_birch"].shards[0];
    assert_eq!(shard.url, "https://birch.example/2027h1/", "a tiled log is submitted to at its submission_url");
    assert_eq!(l.config.settings.ct_log_list.as_deref(), Some(path.as_path()));
    assert!(!l.config.ct_logs.contains_key("google_argon"), "the list replaces the compiled-in one");
    // The compiled-in names are gone with it: naming one is an error naming the setting.
    let e = err(&text(path.to_str().unwrap(), r#""google_argon""#));
    assert!(e.contains("google_argon"), "{e}");
    // A list that cannot be read, or is not a list, names the setting and the file.
    let e = err(&text("/nonexistent/log_list.json", r#""google_argon""#));
    assert!(e.contains("settings.ct_log_list") && e.contains("/nonexistent/log_list.json"), "{e}");
    std::fs::write(dir.join("bad.json"), "{\"operators\": 5}").unwrap();
    let e = err(&text(dir.join("bad.json").to_str().unwrap(), r#""google_argon""#));
    assert!(e.contains("settings.ct_log_list") && e.contains("not a CT log list"), "{e}");
}

#[test]
fn ip_addresses_are_names_of_their_own() {
    let l = ok(r#"{"account": {"email": "a@example.com"}, "certificates": {
        "router.example.com": {"alt_names": {"example.com": ["router"], "2001:DB8:0::1": ["@"], "192.0.2.7": "@"}},
        "198.51.100.1": {}
    }}"#);
    let certs: Vec<&CertificateSpec> = l.config.private_keys.iter().flat_map(|k| &k.certificates).collect();
    assert_eq!(certs[0].all_names(), ["router.example.com", "2001:db8::1", "192.0.2.7"], "canonical forms");
    // Without alt_names an address is its own zone (no Public Suffix List).
    assert_eq!(certs[1].alt_names, [ZoneNames { zone: "198.51.100.1".into(), fqdns: vec!["198.51.100.1".into()] }]);
    let e = err(r#"{"account": {"email": "a@example.com"}, "certificates": {
        "r.example.com": {"alt_names": {"example.com": ["r"], "192.0.2.7": ["www"]}}}}"#);
    assert!(e.contains("192.0.2.7 is an IP address: it takes no host names"), "{e}");
}
