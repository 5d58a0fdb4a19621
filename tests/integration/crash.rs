//! A crash at every occurrence of every step of the file transactions that
//! create keys (a first issuance: the account's and the key's transaction)
//! and of a key rollover, against pebble.
//!
//! Each trial starts from the same saved installation, runs the binary with
//! `ACMEBOT_FAULT=<step>:<n>` (it `_exit`s there, as a crash would), then
//! `--recover` (no network), and holds every file against the bytes captured
//! before the crashed run: the interrupted transaction's files are either all
//! as they were or all as its `txn_begun` declared them, never a mix; files
//! of transactions that committed earlier in the run are as declared; every
//! other file is untouched. Then a plain run converges: the audit is clean,
//! no temporary file is left, and every key matches its certificate.
//!
//! `ACMEBOT_CRASH_MAX_N=<n>` bounds the occurrences tried per step (all of
//! them by default).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use acmebot::crypto::{self, PrivateKey};

use crate::support::Site;

const STEPS: [&str; 10] = [
    "begun",
    "temp_created",
    "temp_written",
    "archived",
    "archive_journaled",
    "replaced",
    "dirs_synced",
    "installed_copy",
    "installed_journaled",
    "committed",
];

/// Every file of the installation (the archive, the journal and the lock aside): path → bytes.
fn files(site: &Site) -> BTreeMap<String, Vec<u8>> {
    let etc = site.root.join("etc");
    crate::support::tree(&etc)
        .into_iter()
        .filter(|p| !p.starts_with("ssl/archive/") && !p.starts_with("run/") && !p.starts_with("var/journal.jsonl"))
        .map(|p| {
            let bytes = std::fs::read(etc.join(&p)).unwrap();
            (etc.join(&p).to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

use crate::support::copy_tree;

/// What the transactions begun in `journal` declared (path → new sha256, or
/// None for a removal), and how each ended: `Some(true)` committed,
/// `Some(false)` rolled back, `None` still open.
/// A transaction's files (path → new sha256, None for a removal) and how it ended.
type Declared = (BTreeMap<String, Option<String>>, Option<bool>);

fn transactions(journal: &[Value]) -> Vec<Declared> {
    journal
        .iter()
        .filter(|e| e["type"] == "txn_begun")
        .map(|b| {
            let files = b["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().map(String::from)))
                .collect();
            let end = journal.iter().find(|e| {
                e["txn"] == b["txn"] && e["type"] != "txn_begun" && e["type"].as_str().unwrap().starts_with("txn_")
            });
            (files, end.map(|e| e["type"] == "txn_committed"))
        })
        .collect()
}

/// After `--recover`: every file is as the transactions of the crashed run
/// left it, all or nothing.
fn check_all_or_nothing(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    run_lines: &[Value],
    ctx: &str,
) {
    let txns = transactions(run_lines);
    let mut owned: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    for (files, end) in &txns {
        let committed = end.unwrap_or_else(|| panic!("{ctx}: a transaction is still open after --recover"));
        for (path, sha) in files {
            owned.insert(path.clone(), (sha.clone(), committed));
        }
    }
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for path in paths {
        let (b, a) = (before.get(path), after.get(path));
        match owned.get(path) {
            Some((declared, true)) => {
                assert_eq!(
                    a.map(|x| sha256_hex(x)),
                    declared.clone(),
                    "{ctx}: {path} is not what its committed transaction declared"
                )
            }
            Some((_, false)) | None => {
                assert_eq!(a, b, "{ctx}: {path} changed, but no committed transaction changed it")
            }
        }
    }
}

/// A plain run afterwards: converged, clean, every key matching its certificate.
fn check_converged(site: &Site, name: &str, ctx: &str) {
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{ctx}: {run:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{ctx}: {audit:?}");
    let leftovers: Vec<String> =
        crate::support::tree(&site.root.join("etc")).into_iter().filter(|p| p.contains(".acmebot-")).collect();
    assert!(leftovers.is_empty(), "{ctx}: temporary files left: {leftovers:?}");
    let key_pem = std::fs::read(site.path(&format!("ssl/private/{name}.ecdsa.key"))).unwrap();
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    let cert_pem = std::fs::read(site.path(&format!("ssl/certs/{name}.ecdsa.pem"))).unwrap();
    let cert = crypto::parse_cert(&crypto::pem_to_ders(&cert_pem).unwrap()[0]).unwrap();
    assert!(crypto::key_matches_cert(&key, &cert), "{ctx}: the key does not match the certificate");
    let full = std::fs::read(site.path(&format!("ssl/private/{name}_full.ecdsa.key"))).unwrap();
    assert_eq!(full, [key_pem, cert_pem.clone()].concat(), "{ctx}: the full key file is of another transaction");
    let chain = std::fs::read(site.path(&format!("ssl/certs/{name}_chain.ecdsa.pem"))).unwrap();
    assert!(cert_pem.ends_with(&chain), "{ctx}: the chain file is of another transaction");
}

/// Crashes the run `args` at every occurrence of every step, each time from
/// the installation saved in `saved`. Returns the number of crashes per step.
fn crash_everywhere(site: &Site, saved: &Path, args: &[&str], name: &str) -> BTreeMap<&'static str, usize> {
    let max_n: u32 = std::env::var("ACMEBOT_CRASH_MAX_N").ok().and_then(|n| n.parse().ok()).unwrap_or(u32::MAX);
    let etc = site.root.join("etc");
    let mut crashes = BTreeMap::new();
    for step in STEPS {
        for n in 1..=max_n {
            let ctx = format!("{} at {step}:{n}", args.join(" "));
            copy_tree(saved, &etc);
            let before = files(site);
            let lines_before = site.journal().len();
            let fault = format!("{step}:{n}");
            let crashed = site.run_env(args, &[("ACMEBOT_FAULT", &fault)]);
            if crashed.code != 86 {
                // The run reaches this step fewer than n times.
                assert_eq!(crashed.code, 0, "{ctx}: {crashed:?}");
                break;
            }
            *crashes.entry(step).or_insert(0) += 1;
            let recovered = site.run(&["--recover"]);
            assert_eq!(recovered.code, 0, "{ctx}: {recovered:?}");
            let journal = site.journal();
            check_all_or_nothing(&before, &files(site), &journal[lines_before..], &ctx);
            check_converged(site, name, &ctx);
        }
    }
    crashes
}

fn site_with(name: &str, certificates: Value) -> Site {
    let site = Site::new(name, json!({}));
    let mut config = site.config(certificates);
    config["directories"]["hpkp"] = json!("ssl/hpkp");
    config["directories"]["previous_key"] = json!("ssl/previous");
    config["settings"]["hpkp_days"] = json!(60);
    site.write_config_value(&config);
    site
}

#[test]
fn a_crash_at_every_occurrence_in_a_first_issuance_leaves_all_or_nothing() {
    let site = site_with("crash-first", json!({"c.example.test": {"key_types": ["ecdsa"]}}));
    let saved = site.root.join("saved-etc");
    copy_tree(&site.root.join("etc"), &saved);
    let crashes = crash_everywhere(&site, &saved, &["--accept"], "c.example.test");
    eprintln!("first issuance: crashes per step {crashes:?}, every one recovered all-or-nothing");
    // Two transactions: the account's (client key, registration) and the key's
    // (primary and backup keys, certificate, chain, full key, two HPKP files);
    // nothing exists yet, so nothing is archived.
    for step in STEPS.iter().filter(|s| !s.starts_with("archive")) {
        assert!(crashes.contains_key(step), "{step} never reached: {crashes:?}");
    }
    assert_eq!(crashes["begun"], 2);
    assert_eq!(crashes["temp_created"], 2 + 7);
}

#[test]
fn a_crash_at_every_occurrence_in_a_rollover_leaves_all_or_nothing() {
    let site = site_with("crash-rollover", json!({"r.example.test": {"key_types": ["ecdsa"]}}));
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let saved = site.root.join("saved-etc");
    copy_tree(&site.root.join("etc"), &saved);
    let crashes = crash_everywhere(&site, &saved, &["--rollover", "--force"], "r.example.test");
    eprintln!("rollover: crashes per step {crashes:?}, every one recovered all-or-nothing");
    // One transaction: new primary (the backup), new backup, previous key,
    // certificate, full key, two HPKP files (the chain is the same bytes, so
    // it is not rewritten); all but the previous key replace a file.
    assert_eq!(crashes.len(), STEPS.len(), "every step reached: {crashes:?}");
    assert_eq!((crashes["begun"], crashes["temp_created"], crashes["archived"]), (1, 7, 6));
}

#[test]
fn at_boot_an_interrupted_installation_is_finished_without_the_network() {
    let site = site_with("crash-boot", json!({"b.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(site.run(&["--accept"]).code, 0);
    // A power cut between two renames of a rollover: the new key beside the old certificate.
    let crashed = site.run_env(&["--rollover", "--force"], &[("ACMEBOT_FAULT", "replaced:2")]);
    assert_eq!(crashed.code, 86, "{crashed:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    assert!(audit.stdout.contains("interrupted transaction b.example.test@"), "{audit:?}");
    assert!(!audit.stdout.contains("was altered"), "its files are not called altered: {audit:?}");
    // Boot, before the servers start and before the network is up.
    let mut config: Value = serde_json::from_slice(&std::fs::read(&site.config_path).unwrap()).unwrap();
    config["settings"]["acme_directory_url"] = json!("https://127.0.0.1:9/unreachable");
    site.write_config_value(&config);
    let boot = site.run(&["--finish-interrupted"]);
    assert_eq!(boot.code, 0, "{boot:?}");
    assert!(boot.stderr.contains("interrupted file transaction b.example.test@"), "{boot:?}");
    assert_eq!(site.run(&["--audit"]).code, 0);
    let key = PrivateKey::from_pem(&std::fs::read(site.path("ssl/private/b.example.test.ecdsa.key")).unwrap()).unwrap();
    let cert_pem = std::fs::read(site.path("ssl/certs/b.example.test.ecdsa.pem")).unwrap();
    let cert = crypto::parse_cert(&crypto::pem_to_ders(&cert_pem).unwrap()[0]).unwrap();
    assert!(crypto::key_matches_cert(&key, &cert), "key and certificate match after the boot recovery");
}
