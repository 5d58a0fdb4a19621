//! Benchmark (not a test): how a run's time grows with the journal's length.
//!
//! Starts pebble on loopback, issues one certificate with the binary under
//! test, then copies that installation once per journal length and pads each
//! copy's journal with valid, hash-chained history (authorizations and hook
//! runs, as years of daily runs leave behind) up to that many lines. For each
//! length it times, as whole processes, a no-op run and a `--renew` (which
//! journals a few dozen lines), and prints medians and the ratio to the
//! shortest journal.
//!
//! ```text
//! cargo build --release --bin acmebot
//! cargo run --release --example journal_scale -- [--bin target/release/acmebot] [--runs 5] [--keep] [100 100000]
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

fn time_run(bin: &Path, config: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(bin).arg("--config").arg(config).args(args).stdin(Stdio::null()).output().unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{} {:?}: {}{}",
        bin.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
        sizes = vec![100, 100_000];
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
        "settings": {"acme_directory_url": pebble.directory_url, "ca_bundle": pebble.ca_pem, "file_group": "root",
                     "key_size": 2048, "log_level": null},
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
        "{:>10} | {:>14} | {:>14} | {:>10} | {:>10}",
        "lines", "no-op median", "--renew median", "no-op ×", "renew ×"
    );
    let mut first: Option<(Duration, Duration)> = None;
    for n in sizes {
        let site = root.join(format!("site-{n}"));
        copy_tree(&base, &site);
        let journal = site.join("var/journal.jsonl");
        pad_journal(&journal, n.saturating_sub(base_lines));
        let cfg = site.join("acmebot.json");
        let noop = median((0..runs).map(|_| time_run(&bin, &cfg, &[])).collect());
        let renew = median((0..runs).map(|_| time_run(&bin, &cfg, &["--renew"])).collect());
        let (n0, r0) = *first.get_or_insert((noop, renew));
        println!(
            "{n:>10} | {:>11.1} ms | {:>11.1} ms | {:>9.2}× | {:>9.2}×",
            noop.as_secs_f64() * 1e3,
            renew.as_secs_f64() * 1e3,
            noop.as_secs_f64() / n0.as_secs_f64(),
            renew.as_secs_f64() / r0.as_secs_f64()
        );
    }
    drop(pebble);
    if keep {
        println!("kept: {} (site-<lines>/acmebot.json; pebble is stopped)", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}
