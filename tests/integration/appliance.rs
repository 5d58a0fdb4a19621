//! A router running acmebot daily for years: the journal stays small
//! (compaction, retention), runs after the journal was lost adopt once and
//! then write nothing, a damaged journal is repaired, the archive keeps a few
//! generations, and a run stopped by a signal (or killed) leaves no challenge
//! behind for long.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::peers::{free_port, ChallengeServer};
use crate::support::{run_binary, temp_dir, testca_site, tree, Site};
use crate::testca::{TestCa, TestCaOptions};

fn site(name: &str) -> Site {
    let site = Site::new(name, json!({"a.example.test": {"key_types": ["ecdsa"]}}));
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    site
}

fn set(site: &Site, key: &str, value: serde_json::Value) {
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&site.config_path).unwrap()).unwrap();
    config["settings"][key] = value;
    site.write_config_value(&config);
}

#[test]
fn after_the_journal_is_lost_the_first_run_adopts_and_the_next_write_nothing() {
    let site = site("appliance-lost");
    let journal = site.path("var/journal.jsonl");
    fs::remove_file(&journal).unwrap();
    let first = site.run(&[]);
    assert_eq!(first.code, 0, "{first:?}");
    let adopted = site.journal();
    assert!(adopted.iter().any(|e| e["type"] == "certificate_adopted"), "{adopted:?}");
    assert!(adopted.iter().any(|e| e["type"] == "key_adopted"), "{adopted:?}");
    let bytes = fs::read(&journal).unwrap();
    for _ in 0..4 {
        let run = site.run(&[]);
        assert!(run.code == 0 && run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
        assert_eq!(fs::read(&journal).unwrap(), bytes, "a run that changes nothing writes nothing");
    }
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn the_journal_is_compacted_past_its_size_and_old_segments_go() {
    let site = site("appliance-compact");
    set(&site, "journal_max_bytes", json!(4000));
    set(&site, "journal_keep_segments", json!(1));
    for _ in 0..4 {
        let run = site.run(&["--renew"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let var = site.path("var");
    let segments: Vec<String> = tree(&var)
        .into_iter()
        .filter(|f| f.starts_with("journal.") && f.ends_with(".jsonl") && f != "journal.jsonl")
        .collect();
    assert_eq!(segments.len(), 1, "one old segment kept: {segments:?}");
    let current = site.journal();
    assert!(current.iter().any(|e| e["type"] == "segment_started"), "{current:?}");
    let all_text: String =
        tree(&var).iter().filter(|f| f.ends_with(".jsonl")).map(|f| fs::read_to_string(var.join(f)).unwrap()).collect();
    assert!(all_text.contains("\"type\":\"segment_deleted\""), "the deleted history is said");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{audit:?}");
    let replay = site.run(&["--replay"]);
    assert_eq!(replay.code, 0, "{replay:?}");
    let state: serde_json::Value = serde_json::from_str(&replay.stdout).unwrap();
    assert_eq!(state["certificates"].as_object().unwrap().len(), 1, "{state}");
    assert!(site.run(&["--compact"]).code == 0 && site.run(&["--audit"]).code == 0);
}

#[test]
fn a_damaged_journal_is_repaired_and_the_runs_go_on() {
    let site = site("appliance-repair");
    let journal = site.path("var/journal.jsonl");
    let text = fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let middle = lines.len() / 2;
    let damaged: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if i == middle { l.replacen("\"seq\"", "\"seq_\"", 1) } else { l.to_string() })
        .collect();
    fs::write(&journal, damaged.join("\n") + "\n").unwrap();
    let blocked = site.run(&["--renew"]);
    assert_eq!(blocked.code, 13, "{blocked:?}");
    let repair = site.run(&["--repair"]);
    assert_eq!(repair.code, 0, "{repair:?}");
    assert!(repair.stdout.contains(&format!("{middle} intact line(s) kept")), "{repair:?}");
    let aside = tree(&site.path("var")).into_iter().find(|f| f.starts_with("journal.jsonl.damaged-")).unwrap();
    assert_eq!(fs::read_to_string(site.path("var").join(aside)).unwrap(), damaged.join("\n") + "\n");
    assert!(site.journal().iter().any(|e| e["type"] == "journal_set_aside"));
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.run(&["--audit"]).code, 0);
    let again = site.run(&["--repair"]);
    assert!(again.code == 0 && again.stdout.contains("nothing to repair"), "{again:?}");
}

#[test]
fn the_archive_keeps_only_a_few_generations() {
    let site = site("appliance-archive");
    set(&site, "archive_keep", json!(2));
    for _ in 0..4 {
        let run = site.run(&["--renew"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    // The two newest generations, and the first: it holds the installed
    // copies of the keys and chain, unchanged since (--recover needs them).
    let key_dir = site.path("ssl/archive/a.example.test");
    let mut generations: Vec<String> =
        fs::read_dir(&key_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    generations.sort();
    assert_eq!(generations.len(), 3, "{:?}", tree(&key_dir));
    assert!(key_dir.join(&generations[0]).join("installed/a.example.test.ecdsa.key").exists());
    let pruned: Vec<_> = site.journal().into_iter().filter(|e| e["type"] == "archive_pruned").collect();
    assert_eq!(pruned.len(), 2, "{pruned:?}");
    // --recover still has the installed copies of what is installed now.
    fs::remove_file(site.path("ssl/certs/a.example.test.ecdsa.pem")).unwrap();
    assert_eq!(site.run(&["--recover"]).code, 0);
    assert_eq!(site.run(&["--audit"]).code, 0);
}

/// A test CA that keeps http-01 validations pending for `delay` seconds,
/// fetching them from a web server serving `root/webroot`.
fn slow_ca(name: &str, delay: u64) -> (TestCa, PathBuf, PathBuf, ChallengeServer) {
    let port = free_port();
    let root = temp_dir(name);
    let webroot = root.join("webroot");
    fs::create_dir_all(&webroot).unwrap();
    let web = ChallengeServer::start(port, webroot.clone());
    let ca = TestCa::start(TestCaOptions {
        auto_valid: false,
        http_port: Some(port),
        validation_delay_secs: delay,
        ..Default::default()
    });
    let config = testca_site(&root, &ca, json!({"s.example.test": {"key_types": ["ecdsa"]}}), |c| {
        c["directories"]["http_challenge"] = json!(webroot);
        c["settings"]["max_authorization_attempts"] = json!(60);
        c["settings"]["authorization_delay"] = json!(1);
    });
    (ca, config, webroot, web)
}

fn spawn(config: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_acmebot"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the challenge file appears in `webroot`.
fn challenge_written(webroot: &Path) -> PathBuf {
    let start = Instant::now();
    loop {
        // The file under its own name: it is written under a hidden random
        // name first and renamed, and a kill between the two would leave the
        // test holding the temporary name.
        let named =
            fs::read_dir(webroot).unwrap().flatten().find(|e| !e.file_name().to_string_lossy().starts_with('.'));
        if let Some(e) = named {
            return e.path();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no challenge file was written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_stopped_by_sigterm_clears_its_challenge_and_says_so() {
    let (_ca, config, webroot, _web) = slow_ca("appliance-sigterm", 20);
    let child = spawn(&config, &["--accept"]);
    let file = challenge_written(&webroot);
    // While it waits for the validation, --audit waits for the run.
    let audit = spawn(&config, &["--audit"]);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "it stopped waiting at once");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(!file.exists(), "the run removed its challenge file");
    let audit = audit.wait_with_output().unwrap();
    let audit_out = String::from_utf8_lossy(&audit.stdout);
    assert!(audit_out.contains("Waiting for the acmebot run (pid"), "{audit_out}");
    assert_eq!(audit.status.code(), Some(0), "{audit_out}");
}

#[test]
fn challenges_a_killed_run_left_are_cleared_by_the_next() {
    let (ca, config, webroot, _web) = slow_ca("appliance-sigkill", 3);
    let mut child = spawn(&config, &["--accept"]);
    let file = challenge_written(&webroot);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(file.exists(), "SIGKILL: the file stays");
    ca.set_order_problem(Some("come back later"));
    let next = run_binary(&config, &["--accept"], &[]);
    assert_eq!(next.code, 8, "the order is refused, but first... {next:?}");
    assert!(!file.exists(), "...the challenge a killed run left was removed");
    let journal =
        fs::read_to_string(config.parent().unwrap().parent().unwrap().join("out/resource/journal.jsonl")).unwrap();
    assert!(journal.contains("\"type\":\"challenge_file_removed\""), "journaled");
    ca.set_order_problem(None);
    assert_eq!(run_binary(&config, &["--accept"], &[]).code, 0);
}
