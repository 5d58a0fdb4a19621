//! The journal's own operations against a real installation: audit, recover,
//! torn lines, broken chains, the lock (crashes: see `crash`).

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
    // A file given to another owner is found too (and put back).
    let key = site.path("ssl/private/j.example.test.ecdsa.key");
    std::os::unix::fs::chown(&key, Some(65534), Some(65534)).unwrap();
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    assert!(audit.stdout.contains(&format!("{} is owned by 65534:65534, installed 0:0", key.display())), "{audit:?}");
    assert_eq!(site.run(&["--recover"]).code, 0);
    assert_eq!(site.run(&["--audit"]).code, 0, "the owner was put back");
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
    assert_eq!(site.effects_of("certificate_installed").len(), 2, "the run went on and renewed: {run:?}");
}

#[test]
fn a_broken_chain_stops_the_run_and_audit_names_the_line() {
    let site = site("broken");
    let journal = site.path("var/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let sha = |l: &str| -> String {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, l.as_bytes()).as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let prev_of =
        |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["prev"].as_str().unwrap()[..8].to_string();
    // An edit that keeps line 3 a valid record: only the chain can tell.
    assert!(lines[2].contains("\"type\":\"account_registered\""), "line 3: {}", lines[2]);
    lines[2] = lines[2].replacen("\"tos_agreed\":true", "\"tos_agreed\":false", 1);
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 13, "{run:?}");
    assert!(run.stderr.contains(&journal.display().to_string()), "{run:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    let expected = format!(
        "line 4 (seq 4): prev is {}…, but line 3 hashes to {}…: broken chain",
        prev_of(&lines[3]),
        sha(&lines[2])
    );
    assert!(audit.stdout.contains(&expected), "{expected}\n{audit:?}");
    assert_eq!(audit.stdout.matches("\n  line ").count(), 1, "only line 4 is reported: {audit:?}");

    // An edit that also breaks the line itself: both are named, each for what it is.
    lines[2] = lines[2].replacen("\"ts\":\"", "\"ts\":\"1", 1);
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 13, "{audit:?}");
    assert!(audit.stdout.contains("line 3 (seq 3): \"ts\" \"12026-"), "{audit:?}");
    assert!(audit.stdout.contains("is not an RFC 3339 time: malformed record"), "{audit:?}");
    let expected = format!(
        "line 4 (seq 4): prev is {}…, but line 3 hashes to {}…: broken chain",
        prev_of(&lines[3]),
        sha(&lines[2])
    );
    assert!(audit.stdout.contains(&expected), "{expected}\n{audit:?}");
}

#[test]
fn a_second_concurrent_run_is_refused_with_a_clear_message() {
    use std::os::unix::io::AsRawFd;
    let site = site("lock");
    let pid = site.path("run/acmebot.pid");
    assert!(!pid.exists(), "the pid file is removed at the end of a run");
    let holder = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&pid).unwrap();
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
    assert_eq!(missing.code, 3, "a configuration file not found exits 3, as the original: {missing:?}");
    let dirs = crate::support::output_dirs(&dir);
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
    // As in the original, a group this system lacks (no ssl-cert on OpenWrt)
    // is a warning and the run goes on (here to the CA, which is not there).
    let run = run_binary(&path, &[], &[]);
    assert_eq!(run.code, 8, "{run:?}");
    assert!(
        run.stderr.contains("WARNING: settings.file_group: there is no group \"no-such-group-acmebot\""),
        "{run:?}"
    );
}
