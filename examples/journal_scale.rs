//! Benchmark (not a test): how a run's time grows with the journal's length.
//!
//! Starts pebble on loopback, issues one certificate with the binary under
//! test, then copies that installation once per journal length and pads each
//! copy's journal with valid, hash-chained history (authorizations and hook
//! runs, as years of daily runs leave behind) up to that many lines. For each
//! length it times, as whole processes with their peak RSS: the first no-op
//! run (a journal written before checkpoints: one full read), then, after a
//! `--renew` has ended with a checkpoint, no-op runs and `--renew`s (which
//! journal a few dozen lines); medians, and the ratio to the shortest
//! journal. Compaction is off (`journal_max_bytes` 0), so the journal stays
//! one file of that many lines.
//!
//! ```text
//! cargo build --release --bin acmebot
//! cargo run --release --example journal_scale -- [--bin target/release/acmebot] [--runs 5] [--keep] [1000 100000 1000000]
//! ```

#[path = "../tests/integration/peers.rs"]
#[allow(dead_code)]
mod peers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `count` chained lines after the journal's last line.
fn pad_journal(path: &Path, count: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let last = text.lines().last().expect("a journal with lines");
    let last_value: serde_json::Value = serde_json::from_str(last).unwrap();
    let mut seq = last_value["seq"].as_u64().unwrap();
    let ts = last_value["ts"].as_str().unwrap().to_string();
    let mut prev = sha256_hex(last.as_bytes());
    let mut out = std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(path).unwrap());
    for i in 0..count {
        seq += 1;
        // Field order as the journal writes it: v, seq, ts, type, fields, prev.
        let line = if i % 2 == 0 {
            format!(
                r#"{{"v":1,"seq":{seq},"ts":"{ts}","type":"authorization_obtained","name":"host{}.example.test","challenge":"http-01","url":"https://127.0.0.1:14000/authZ/{i:012}","expires":"2026-12-31T00:00:00Z","prev":"{prev}"}}"#,
                i % 7
            )
        } else {
            format!(
                r#"{{"v":1,"seq":{seq},"ts":"{ts}","type":"hook_run","hook":"certificate_installed","program":"/usr/local/bin/deploy-{i:08}","exit_code":0,"prev":"{prev}"}}"#
            )
        };
        prev = sha256_hex(line.as_bytes());
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// Runs the binary once; its wall time and peak RSS (KiB, from wait4).
#[allow(clippy::zombie_processes)] // reaped by wait4, which gives the rusage
fn time_run(bin: &Path, config: &Path, args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data written by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the child is reaped here (Child::wait is not called).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {:?}: status {status}",
        bin.display(),
        args
    );
    (elapsed, usage.ru_maxrss as u64)
}

fn median(mut v: Vec<(Duration, u64)>) -> (Duration, u64) {
    v.sort();
    let rss = v.iter().map(|r| r.1).max().unwrap_or(0);
    (v[v.len() / 2].0, rss)
}

fn main() {
    let mut bin = PathBuf::from("target/release/acmebot");
    let mut runs = 5usize;
    let mut keep = false;
    let mut sizes: Vec<usize> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = PathBuf::from(args.next().expect("--bin PATH")),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--keep" => keep = true,
            n => sizes.push(n.parse().expect("a journal length")),
        }
    }
    if sizes.is_empty() {
        sizes = vec![1000, 100_000, 1_000_000];
    }
    let bin = std::fs::canonicalize(&bin).expect("the acmebot binary (build it first)");
    let root = std::env::temp_dir().join(format!("acmebot-journal-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let pebble =
        peers::Pebble::start(&root.join("pebble"), peers::PebbleOptions { nonce_reject: 0, ..Default::default() });
    let base = root.join("base");
    std::fs::create_dir_all(&base).unwrap();
    let config = serde_json::json!({
        "account": {"email": "admin@example.test", "key_type": "ecdsa"},
        "certificates": {"example.test": {"alt_names": {"example.test": ["@", "www"]}}},
        "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": pebble.directory_url, "ca_bundle": pebble.ca_pem, "file_group": "root",
                     "key_size": 2048, "log_level": null, "journal_max_bytes": 0},
        "directories": {
            "pid": "run", "log": "log", "resource": "var",
            "private_key": "ssl/private", "backup_key": "ssl/private", "full_key": "ssl/private",
            "certificate": "ssl/certs", "full_certificate": "ssl/certs", "chain": "ssl/certs",
            "param": "ssl/params", "challenge": "ssl/challenges", "archive": "ssl/archive",
            "http_challenge": pebble.webroot, "sct": null, "hpkp": null, "ocsp": null
        }
    });
    std::fs::write(base.join("acmebot.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    time_run(&bin, &base.join("acmebot.json"), &["--accept"]);
    let base_lines = std::fs::read_to_string(base.join("var/journal.jsonl")).unwrap().lines().count();

    println!("binary: {}", bin.display());
    println!(
        "{:>10} | {:>22} | {:>22} | {:>22} | {:>9}",
        "lines", "no-op, no checkpoint", "no-op", "--renew", "renew ×"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut first: Option<Duration> = None;
    for n in sizes {
        let site = root.join(format!("site-{n}"));
        copy_tree(&base, &site);
        let journal = site.join("var/journal.jsonl");
        pad_journal(&journal, n.saturating_sub(base_lines));
        let cfg = site.join("acmebot.json");
        // A journal written before checkpoints existed: one full read.
        let cold = time_run(&bin, &cfg, &[]);
        // A writing run ends with a checkpoint: later runs start there.
        time_run(&bin, &cfg, &["--renew"]);
        let noop = median((0..runs).map(|_| time_run(&bin, &cfg, &[])).collect());
        let renew = median((0..runs).map(|_| time_run(&bin, &cfg, &["--renew"])).collect());
        let r0 = *first.get_or_insert(renew.0);
        println!(
            "{n:>10} | {:>9.1} ms {:>6} KiB | {:>9.1} ms {:>6} KiB | {:>9.1} ms {:>6} KiB | {:>8.2}×",
            ms(cold.0),
            cold.1,
            ms(noop.0),
            noop.1,
            ms(renew.0),
            renew.1,
            renew.0.as_secs_f64() / r0.as_secs_f64()
        );
    }
    drop(pebble);
    if keep {
        println!("kept: {} (site-<lines>/acmebot.json; pebble is stopped)", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}
