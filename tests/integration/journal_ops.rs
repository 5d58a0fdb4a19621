//! The journal's own operations against a real installation: audit, recover,
//! torn lines, broken chains, the lock, and crashes at every transaction step.

use std::io::Write;

use serde_json::json;

use crate::support::{run_binary, temp_dir, Site};

fn site(name: &str) -> Site {
    let site = Site::new(name, json!({"j.example.test": {"key_types": ["ecdsa"]}}));
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    site
}

#[test]
fn audit_finds_altered_and_missing_files_and_recover_restores_them() {
    let site = site("recover");
    let cert = site.path("ssl/certs/j.example.test.ecdsa.pem");
    let chain = site.path("ssl/certs/j.example.test_chain.ecdsa.pem");
    let original_cert = std::fs::read(&cert).unwrap();
    let original_chain = std::fs::read(&chain).unwrap();
    std::fs::write(&cert, b"tampered\n").unwrap();
    std::fs::remove_file(&chain).unwrap();

    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    assert!(audit.stdout.contains(&format!("{}", cert.display())) && audit.stdout.contains("altered"), "{audit:?}");
    assert!(audit.stdout.contains(&format!("{}", chain.display())) && audit.stdout.contains("missing"), "{audit:?}");

    let recover = site.run(&["--recover"]);
    assert_eq!(recover.code, 0, "{recover:?}");
    assert!(recover.stdout.contains("Restored"), "{recover:?}");
    assert_eq!(std::fs::read(&cert).unwrap(), original_cert);
    assert_eq!(std::fs::read(&chain).unwrap(), original_chain);
    assert_eq!(site.events_of("file_restored").len(), 2);
    assert_eq!(site.run(&["--audit"]).code, 0);
    // The tampered copy was kept, not lost.
    let kept = crate::support::tree(&site.path("ssl/archive/j.example.test"));
    assert!(kept.iter().any(|p| p.contains("-altered/")), "{kept:?}");
}

#[test]
fn a_torn_last_line_is_kept_aside_and_the_journal_goes_on() {
    let site = site("torn");
    let journal = site.path("var/journal.jsonl");
    let torn = br#"{"v":1,"seq":999,"ts":"2026-11-29T00:00:00Z","type":"run_sta"#;
    std::fs::OpenOptions::new().append(true).open(&journal).unwrap().write_all(torn).unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("torn line"), "{run:?}");
    let saved: Vec<_> = std::fs::read_dir(site.path("var"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal.jsonl.torn-"))
        .collect();
    assert_eq!(saved.len(), 1);
    assert_eq!(std::fs::read(saved[0].path()).unwrap(), torn);
    assert_eq!(site.run(&["--audit"]).code, 0, "chain intact after repair");
    assert_eq!(site.events_of("journal_repaired").len(), 1);
    assert_eq!(site.effects_of("certificate_installed").len(), 2, "the run went on and renewed");
}

#[test]
fn a_broken_chain_stops_the_run_and_audit_names_the_line() {
    let site = site("broken");
    let journal = site.path("var/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("\"ts\":\"", "\"ts\":\"1", 1);
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 13, "{run:?}");
    assert!(run.stderr.contains(&journal.display().to_string()), "{run:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    assert!(audit.stdout.contains("line 3") || audit.stdout.contains("line 4"), "{audit:?}");
}

#[test]
fn a_second_concurrent_run_is_refused_with_a_clear_message() {
    use std::os::unix::io::AsRawFd;
    let site = site("lock");
    let pid = site.path("run/acmebot.pid");
    let holder = std::fs::OpenOptions::new().read(true).write(true).open(&pid).unwrap();
    assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let run = site.run(&[]);
    assert_eq!(run.code, 13, "{run:?}");
    assert!(run.stderr.contains("another acmebot run"), "{run:?}");
    drop(holder);
    assert_eq!(site.run(&[]).code, 0);
}

#[test]
fn config_errors_name_the_key_path_and_exit_4() {
    let dir = temp_dir("badconfig");
    let path = dir.join("acmebot.json");
    std::fs::write(
        &path,
        r#"{"account":{"email":"a@example.test"},"settings":{"key_curve":"secp999r1"},
        "file_names":{"certificate":"{nmae}.pem"},"certificates":{"../evil":{}}}"#,
    )
    .unwrap();
    let run = run_binary(&path, &[], &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("settings.key_curve") && run.stderr.contains("secp384r1"), "{run:?}");
    assert!(run.stderr.contains("{nmae}"), "{run:?}");
    assert!(run.stderr.contains("../evil"), "{run:?}");
    let missing = run_binary(&dir.join("nope.json"), &[], &[]);
    assert_eq!(missing.code, 4, "{missing:?}");
    // A missing group is found before anything is asked of a CA (none listens here).
    let dirs: serde_json::Map<String, serde_json::Value> = [
        "pid",
        "log",
        "resource",
        "private_key",
        "backup_key",
        "full_key",
        "certificate",
        "full_certificate",
        "chain",
        "param",
        "challenge",
        "archive",
    ]
    .iter()
    .map(|d| (d.to_string(), json!(dir.join(d))))
    .collect();
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({
            "account": {"email": "a@example.test"},
            "settings": {"acme_directory_url": "https://127.0.0.1:9/dir", "file_group": "no-such-group-acmebot"},
            "directories": dirs,
            "http_challenges": {"g.example.test": dir.join("web")},
            "certificates": {"g.example.test": {}}
        }))
        .unwrap(),
    )
    .unwrap();
    let run = run_binary(&path, &[], &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("settings.file_group") && run.stderr.contains("no-such-group-acmebot"), "{run:?}");
    assert!(!dir.join("resource/client_key.json").exists(), "nothing generated or registered");
}

/// A crash at every step of a renewal's file transaction: the next run
/// finishes or rolls back, the key and certificate always match, and the
/// journal says which happened.
#[cfg(feature = "fault-injection")]
#[test]
fn a_crash_at_every_transaction_step_converges() {
    use acmebot::crypto::{self, PrivateKey};
    let site = site("faults");
    let steps = [
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
    for step in steps {
        let crashed = site.run_env(&["--renew"], &[("ACMEBOT_FAULT", step)]);
        assert_eq!(crashed.code, 86, "fault at {step}: {crashed:?}");
        let next = site.run(&[]);
        assert!(next.code == 0 || next.code == 13, "after fault at {step}: {next:?}");
        assert_eq!(next.code, 0, "after fault at {step}: {next:?}");
        let txns_begun = site.events_of("txn_begun").len();
        let txns_ended = site.events_of("txn_committed").len() + site.events_of("txn_rolled_back").len();
        assert_eq!(txns_begun, txns_ended, "every transaction ended after fault at {step}");
        let key =
            PrivateKey::from_pem(&std::fs::read(site.path("ssl/private/j.example.test.ecdsa.key")).unwrap()).unwrap();
        let cert_pem = std::fs::read(site.path("ssl/certs/j.example.test.ecdsa.pem")).unwrap();
        let cert = crypto::parse_cert(&crypto::pem_to_ders(&cert_pem).unwrap()[0]).unwrap();
        assert!(crypto::key_matches_cert(&key, &cert), "key and certificate match after fault at {step}");
        let full = std::fs::read(site.path("ssl/private/j.example.test_full.ecdsa.key")).unwrap();
        assert!(full.ends_with(&cert_pem), "full key file is of the same transaction after fault at {step}");
        let audit = site.run(&["--audit"]);
        assert_eq!(audit.code, 0, "after fault at {step}: {audit:?}");
        let leftovers: Vec<String> =
            crate::support::tree(&site.root.join("etc/ssl")).into_iter().filter(|p| p.contains(".acmebot-")).collect();
        assert!(leftovers.is_empty(), "temp files left after fault at {step}: {leftovers:?}");
    }
    assert!(
        !site.events_of("txn_rolled_back").is_empty()
            && site.events_of("txn_committed").iter().any(|e| e["recovered"] == true)
    );
}
