//! First issuance, quiet no-op runs, renewal, adoption: the binary against pebble.

use std::collections::BTreeSet;

use acmebot::crypto::{self, PrivateKey};
use serde_json::json;

use crate::support::{mode_of, openssl, openssl_key_matches_cert, tree, Site};

fn example() -> serde_json::Value {
    json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}}})
}

fn leaf(site: &Site, rel: &str) -> crypto::CertInfo {
    let pem = std::fs::read(site.path(rel)).unwrap();
    crypto::parse_cert(&crypto::pem_to_ders(&pem).unwrap()[0]).unwrap()
}

fn key(site: &Site, rel: &str) -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read(site.path(rel)).unwrap()).unwrap()
}

/// An auditor reading the journal top to bottom can trust order and time:
/// `ts` never goes back and has sub-second precision; a run starts with
/// `run_started` and ends with `run_finished`; every key is journaled as
/// generated before any certificate is issued for it and before the
/// transaction that installs it, whose lines follow in protocol order.
pub fn check_causal_order(journal: &[serde_json::Value]) {
    use acmebot::time::Time;
    let ts: Vec<Time> = journal.iter().map(|e| Time::parse(e["ts"].as_str().unwrap()).unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ts goes back: {ts:?}");
    assert!(journal.iter().all(|e| e["ts"].as_str().unwrap().contains('.')), "sub-second ts");
    assert_eq!(journal.first().unwrap()["type"], "run_started");
    assert_eq!(journal.last().unwrap()["type"], "run_finished");
    let line_of = |pred: &dyn Fn(&serde_json::Value) -> bool| journal.iter().position(pred);
    for (i, generated) in journal.iter().enumerate().filter(|(_, e)| e["type"] == "key_generated") {
        let spki = &generated["spki_sha256"];
        if let Some(issued) = line_of(&|e| e["type"] == "certificate_issued" && &e["spki_sha256"] == spki) {
            assert!(i < issued, "key_generated (line {}) after certificate_issued (line {})", i + 1, issued + 1);
        }
        let begun = line_of(&|e| {
            e["type"] == "txn_begun"
                && e["effects"]
                    .as_array()
                    .is_some_and(|fx| fx.iter().any(|f| f["type"] == "key_installed" && &f["spki_sha256"] == spki))
        })
        .unwrap_or_else(|| panic!("no transaction installs the key of line {}", i + 1));
        assert!(i < begun, "key_generated (line {}) after its txn_begun (line {})", i + 1, begun + 1);
        let txn = &journal[begun]["txn"];
        let steps: Vec<(usize, &str)> = journal
            .iter()
            .enumerate()
            .filter(|(_, e)| &e["txn"] == txn)
            .map(|(n, e)| (n, e["type"].as_str().unwrap()))
            .collect();
        let rank = |t: &str| {
            ["txn_begun", "file_archived", "file_installed", "file_removed", "txn_committed"]
                .iter()
                .position(|x| *x == t)
        };
        assert!(steps.windows(2).all(|w| rank(w[0].1) <= rank(w[1].1)), "transaction lines out of order: {steps:?}");
        assert_eq!(steps.last().unwrap().1, "txn_committed");
    }
}

#[test]
fn first_issuance_installs_everything_and_second_run_is_silent() {
    let site = Site::new("first", example());
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    // The original's status lines, which scripts grep.
    for line in ["RSA certificate example.test installed", "ECDSA certificate example.test installed"] {
        assert!(run.stdout.lines().any(|l| l == line), "{line}: {run:?}");
    }
    assert!(run.stdout.contains("Generating primary RSA key for example.test"), "{run:?}");
    assert!(run.stdout.contains("Private keys for example.test installed"), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    let (status, root) = site.pebble.management_get("/roots/0");
    assert_eq!(status, 200);
    let root_pem = site.root.join("pebble-root.pem");
    std::fs::write(&root_pem, root).unwrap();

    for kt in ["rsa", "ecdsa"] {
        let cert = leaf(&site, &format!("ssl/certs/example.test.{kt}.pem"));
        let names: BTreeSet<_> = cert.sans.iter().cloned().collect();
        assert_eq!(names, BTreeSet::from(["example.test".to_string(), "www.example.test".to_string()]));
        assert_eq!(cert.subject_cn.as_deref(), Some("example.test"));
        let primary = key(&site, &format!("ssl/private/example.test.{kt}.key"));
        let backup = key(&site, &format!("ssl/private/example.test_backup.{kt}.key"));
        assert!(crypto::key_matches_cert(&primary, &cert), "{kt} certificate matches its primary key");
        assert_ne!(primary.spki_sha256_hex(), backup.spki_sha256_hex(), "backup key differs from primary");
        assert_eq!(primary.key_type().as_str(), kt);
        // The original's modes: primary and full keys 0640, backup keys 0600.
        for (rel, mode) in [
            (format!("ssl/private/example.test.{kt}.key"), 0o640),
            (format!("ssl/private/example.test_backup.{kt}.key"), 0o600),
            (format!("ssl/private/example.test_full.{kt}.key"), 0o640),
        ] {
            assert_eq!(mode_of(&site.path(&rel)), mode, "{rel}");
        }
        assert_eq!(mode_of(&site.path(&format!("ssl/certs/example.test.{kt}.pem"))), 0o644);
        // certificate file = leaf + chain; chain file = the chain; full key = key + leaf + chain
        let cert_pem = std::fs::read_to_string(site.path(&format!("ssl/certs/example.test.{kt}.pem"))).unwrap();
        let chain_pem = std::fs::read_to_string(site.path(&format!("ssl/certs/example.test_chain.{kt}.pem"))).unwrap();
        let full_key = std::fs::read_to_string(site.path(&format!("ssl/private/example.test_full.{kt}.key"))).unwrap();
        assert!(cert_pem.ends_with(&chain_pem) && cert_pem.len() > chain_pem.len());
        assert!(full_key.starts_with("-----BEGIN PRIVATE KEY-----") && full_key.ends_with(&cert_pem));
        assert!(!crypto::pem_to_ders(chain_pem.as_bytes()).unwrap().is_empty());
        // openssl, independently: the chain leads to pebble's root, and the key is the certificate's.
        let cert_path = site.path(&format!("ssl/certs/example.test.{kt}.pem"));
        let chain_path = site.path(&format!("ssl/certs/example.test_chain.{kt}.pem"));
        let verified = openssl(&[
            "verify",
            "-CAfile",
            root_pem.to_str().unwrap(),
            "-untrusted",
            chain_path.to_str().unwrap(),
            cert_path.to_str().unwrap(),
        ]);
        assert!(verified.trim().ends_with(": OK"), "{verified}");
        assert!(
            openssl_key_matches_cert(&site.path(&format!("ssl/private/example.test.{kt}.key")), &cert_path),
            "{kt}"
        );
        assert!(
            !openssl_key_matches_cert(&site.path(&format!("ssl/private/example.test_backup.{kt}.key")), &cert_path),
            "{kt}"
        );
    }
    // Client key and registration compatible with the original's files.
    let client: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.path("var/client_key.json")).unwrap()).unwrap();
    for field in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
        assert!(client[field].is_string(), "client_key.json has {field}");
    }
    assert_eq!(mode_of(&site.path("var/client_key.json")), 0o600);
    let reg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.path("var/registration.json")).unwrap()).unwrap();
    assert!(reg["uri"].as_str().unwrap().starts_with(&site.pebble.directory_url.replace("/dir", "")));
    assert_eq!(reg["body"]["status"], "valid");
    // Challenge files were removed.
    assert!(tree(&site.pebble.webroot).is_empty(), "{:?}", tree(&site.pebble.webroot));

    // The journal tells the story.
    let types: Vec<String> = site.journal().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    for t in [
        "run_started",
        "account_key_generated",
        "account_registered",
        "order_created",
        "authorization_obtained",
        "certificate_issued",
        "txn_begun",
        "file_installed",
        "txn_committed",
        "key_generated",
        "run_finished",
    ] {
        assert!(types.iter().any(|x| x == t), "journal lacks {t}: {types:?}");
    }
    assert_eq!(site.effects_of("certificate_installed").len(), 2);
    assert_eq!(site.effects_of("key_installed").len(), 4);
    check_causal_order(&site.journal());
    let generated = site.events_of("key_generated");
    assert_eq!(generated.len(), 4, "primary and backup for rsa and ecdsa");
    let issued = site.events_of("certificate_issued");
    assert_eq!(issued.len(), 2);
    for e in &issued {
        let cert = leaf(&site, &format!("ssl/certs/example.test.{}.pem", e["key_type"].as_str().unwrap()));
        assert_eq!(e["serial"].as_str().unwrap(), cert.serial_hex);
        assert!(e["order_url"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    }
    let journal_text = std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap();
    assert!(!journal_text.contains("PRIVATE KEY"), "no key material in the journal");

    // Second run: nothing to do, nothing printed, nothing journaled.
    let again = site.run(&[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");
    assert_eq!(std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap(), journal_text);

    // The replayed state knows the certificates and keys.
    let replay = site.run(&["--replay"]);
    assert_eq!(replay.code, 0, "{replay:?}");
    let state: serde_json::Value = serde_json::from_str(&replay.stdout).unwrap();
    assert_eq!(state["schema"], 1);
    assert!(state["account"]["account_url"].is_string());
    for kt in ["rsa", "ecdsa"] {
        let c = &state["certificates"][format!("example.test/{kt}")];
        assert_eq!(c["serial"].as_str().unwrap(), leaf(&site, &format!("ssl/certs/example.test.{kt}.pem")).serial_hex);
        let k = &state["keys"][format!("example.test/{kt}/primary")];
        assert_eq!(
            k["spki_sha256"].as_str().unwrap(),
            key(&site, &format!("ssl/private/example.test.{kt}.key")).spki_sha256_hex()
        );
        assert!(state["keys"][format!("example.test/{kt}/backup")].is_object());
    }
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{audit:?}");
}

#[test]
fn changed_names_renew_with_the_same_key_and_archive_old_files() {
    let site = Site::new("names", example());
    assert_eq!(site.run(&["--accept"]).code, 0);
    let old = leaf(&site, "ssl/certs/example.test.rsa.pem");
    let old_key = key(&site, "ssl/private/example.test.rsa.key").spki_sha256_hex();
    site.write_config(json!({"example.test": {"alt_names": {"example.test": ["@", "www", "mail"]}}}));
    let run = site.run(&["-v"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("alternative names changed (added mail.example.test)"), "{run:?}");
    let new = leaf(&site, "ssl/certs/example.test.rsa.pem");
    assert_ne!(new.serial_hex, old.serial_hex);
    assert_eq!(new.sans.len(), 3);
    assert_eq!(key(&site, "ssl/private/example.test.rsa.key").spki_sha256_hex(), old_key, "the private key is kept");
    // The replaced certificate is in archive/<key name>/<stamp>/.
    let archived: Vec<String> = tree(&site.path("ssl/archive/example.test"))
        .into_iter()
        .filter(|p| p.ends_with("/example.test.rsa.pem") && !p.contains("/installed/"))
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    let archived_pem = std::fs::read(site.path("ssl/archive/example.test").join(&archived[0])).unwrap();
    assert_eq!(crypto::parse_cert(&crypto::pem_to_ders(&archived_pem).unwrap()[0]).unwrap().serial_hex, old.serial_hex);
    // --renew forces a new certificate, still with the same key.
    let renewed = site.run(&["--renew", "--quiet"]);
    assert_eq!(renewed.code, 0, "{renewed:?}");
    assert!(renewed.stdout.is_empty(), "--quiet prints nothing: {renewed:?}");
    assert_ne!(leaf(&site, "ssl/certs/example.test.rsa.pem").serial_hex, new.serial_hex);
    assert_eq!(key(&site, "ssl/private/example.test.rsa.key").spki_sha256_hex(), old_key);
}

#[test]
fn full_certificate_includes_the_root_beside_the_config() {
    let site = Site::new("root", json!({"root.example.test": {"key_types": ["ecdsa"]}}));
    let (status, root) = site.pebble.management_get("/roots/0");
    assert_eq!(status, 200);
    std::fs::write(site.path("root_cert.ecdsa.pem"), &root).unwrap();
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!site.path("ssl/certs/root.example.test.rsa.pem").exists(), "key_types restricts to ecdsa");
    let full = std::fs::read(site.path("ssl/certs/root.example.test+root.ecdsa.pem")).unwrap();
    let ders = crypto::pem_to_ders(&full).unwrap();
    let root_der = crypto::pem_to_ders(&root).unwrap();
    assert_eq!(ders.last(), root_der.last(), "root is last");
    let cert = std::fs::read(site.path("ssl/certs/root.example.test.ecdsa.pem")).unwrap();
    assert_eq!(&ders[..ders.len() - 1], &crypto::pem_to_ders(&cert).unwrap()[..]);
}

#[test]
fn an_existing_installation_is_adopted_not_regenerated() {
    let site = Site::new("adopt", example());
    assert_eq!(site.run(&["--accept"]).code, 0);
    let before: Vec<(String, Vec<u8>)> = tree(&site.path("ssl/private"))
        .into_iter()
        .chain(tree(&site.path("ssl/certs")))
        .map(|p| {
            let full =
                if p.ends_with(".key") { site.path("ssl/private").join(&p) } else { site.path("ssl/certs").join(&p) };
            (p, std::fs::read(full).unwrap())
        })
        .collect();
    // As if the files came from the Python original: no journal at all.
    std::fs::remove_file(site.path("var/journal.jsonl")).unwrap();
    let run = site.run(&["-v"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Adopted existing RSA primary key example.test"), "{run:?}");
    assert_eq!(site.events_of("key_adopted").len(), 4);
    assert_eq!(site.events_of("certificate_adopted").len(), 2);
    assert!(site.events_of("key_generated").is_empty() && site.events_of("certificate_issued").is_empty());
    for (p, bytes) in before {
        let full =
            if p.ends_with(".key") { site.path("ssl/private").join(&p) } else { site.path("ssl/certs").join(&p) };
        assert_eq!(std::fs::read(full).unwrap(), bytes, "{p} untouched");
    }
    // And the run after that is silent.
    let again = site.run(&[]);
    assert!(again.code == 0 && again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");
}

#[test]
fn terms_of_service_must_be_accepted_in_cron() {
    let site = Site::new("tos", example());
    let run = site.run(&[]);
    assert_eq!(run.code, 8, "{run:?}");
    assert!(run.stderr.contains("terms of service") && run.stderr.contains("--accept"), "{run:?}");
    assert!(!site.path("ssl/certs/example.test.rsa.pem").exists());
    assert!(!site.path("var/registration.json").exists());
}

#[test]
fn a_failed_authorization_names_the_name_the_challenge_and_the_error() {
    let site = Site::new("authfail", example());
    // Point http-01 for www at a directory nothing serves.
    let mut config = site.config(example());
    config["http_challenges"] = json!({"www.example.test": site.root.join("not-served")});
    site.write_config_value(&config);
    let run = site.run(&["--accept"]);
    // The authorization error (9), then each certificate's (8): the last
    // error's code is the exit code, as in the original.
    assert_eq!(run.code, 8, "{run:?}");
    assert!(run.stderr.contains("RSA certificate example.test issuance failed"), "{run:?}");
    assert!(run.stderr.contains("www.example.test: http-01 challenge"), "{run:?}");
    assert!(run.stderr.contains("urn:ietf:params:acme:error:"), "{run:?}");
    assert!(!site.path("ssl/certs/example.test.rsa.pem").exists(), "nothing installed");
    assert!(!site.path("ssl/private/example.test.rsa.key").exists(), "no key without its certificate");
    assert!(!site.events_of("challenge_failed").is_empty());
}
