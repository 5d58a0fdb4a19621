//! Benchmark (not a test): a small machine's life with acmebot, against
//! pebble on loopback.
//!
//! 1. 1,000 certificates are issued, the journal is deleted (as after a lost
//!    disk, or an installation taken over from the original), and five no-op
//!    runs follow: the first adopts what is on disk, every later one must
//!    write nothing. Time, peak RSS and journal bytes of each.
//! 2. One certificate is renewed 1,000 times (`--renew`) with the default
//!    retention settings: the journal's and the archive's size on disk after.
//!
//! ```text
//! cargo build --release --bin acmebot
//! cargo run --release --example appliance_bench -- [--bin target/release/acmebot] [--certs 1000] [--renewals 1000] [--keep]
//! ```

#[path = "../tests/integration/peers.rs"]
#[allow(dead_code)]
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary once: wall time, peak RSS (KiB), exit code.
#[allow(clippy::zombie_processes)] // reaped by wait4, which gives the rusage
fn run(bin: &Path, config: &Path, args: &[&str]) -> (Duration, u64, i32) {
    let start = Instant::now();
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data written by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the child is reaped here.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    (start.elapsed(), usage.ru_maxrss as u64, if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 })
}

fn size_of(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path).unwrap().flatten().map(|e| size_of(&e.path())).sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn site(root: &Path, pebble: &peers::Pebble, certificates: serde_json::Value) -> PathBuf {
    std::fs::create_dir_all(root).unwrap();
    let config = serde_json::json!({
        "account": {"email": "admin@example.test", "key_type": "ecdsa"},
        "certificates": certificates,
        "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": pebble.directory_url, "ca_bundle": pebble.ca_pem, "file_group": "root",
                     "key_curve": "secp256r1", "log_level": null, "hpkp_days": 0},
        "directories": {
            "pid": "run", "log": "log", "resource": "var",
            "private_key": "ssl/private", "backup_key": "ssl/private", "full_key": "ssl/private",
            "certificate": "ssl/certs", "full_certificate": "ssl/certs", "chain": "ssl/certs",
            "param": "ssl/params", "challenge": "ssl/challenges", "archive": "ssl/archive",
            "http_challenge": pebble.webroot, "sct": null, "hpkp": null, "ocsp": null
        }
    });
    let path = root.join("acmebot.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

fn main() {
    let mut bin = PathBuf::from("target/release/acmebot");
    let (mut certs, mut renewals) = (1000usize, 1000usize);
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = PathBuf::from(args.next().expect("--bin PATH")),
            "--certs" => certs = args.next().and_then(|n| n.parse().ok()).expect("--certs N"),
            "--renewals" => renewals = args.next().and_then(|n| n.parse().ok()).expect("--renewals N"),
            "--keep" => keep = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let bin = std::fs::canonicalize(&bin).expect("the acmebot binary (build it first)");
    let root = std::env::temp_dir().join(format!("acmebot-appliance-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let opts = peers::PebbleOptions {
        nonce_reject: 0,
        env: vec![("PEBBLE_VA_ALWAYS_VALID".into(), "1".into())],
        ..Default::default()
    };
    let pebble = peers::Pebble::start(&root.join("pebble"), opts);
    println!("binary: {}", bin.display());

    // 1. Adoption after the journal is lost.
    let certificates: serde_json::Map<String, serde_json::Value> =
        (0..certs).map(|i| (format!("c{i}.example.test"), serde_json::json!({"key_types": ["ecdsa"]}))).collect();
    let config = site(&root.join("many"), &pebble, certificates.into());
    let (took, rss, code) = run(&bin, &config, &["--accept"]);
    assert_eq!(code, 0, "issuing {certs} certificates");
    println!("issued {certs} certificates (ECDSA, primary and backup keys): {:.1} s, {rss} KiB", took.as_secs_f64());
    let journal = root.join("many/var/journal.jsonl");
    std::fs::remove_file(&journal).unwrap();
    println!("{:>12} | {:>10} | {:>10} | {:>14}", "no-op run", "time", "peak RSS", "journal bytes");
    for i in 1..=5 {
        let before = size_of(&journal);
        let (took, rss, code) = run(&bin, &config, &[]);
        assert_eq!(code, 0, "no-op run {i}");
        let written = size_of(&journal) - before;
        println!("{i:>12} | {:>7.1} ms | {rss:>6} KiB | {written:>14}", took.as_secs_f64() * 1e3);
    }

    // 2. A thousand renewals with the default retention.
    let config = site(&root.join("one"), &pebble, serde_json::json!({"one.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(run(&bin, &config, &["--accept"]).2, 0);
    let start = Instant::now();
    for i in 0..renewals {
        let (_, _, code) = run(&bin, &config, &["--renew"]);
        assert_eq!(code, 0, "renewal {i}");
    }
    let var = root.join("one/var");
    let journal_files: Vec<PathBuf> = std::fs::read_dir(&var)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("journal."))
        .collect();
    let journal_bytes: u64 = journal_files.iter().map(|p| size_of(p)).sum();
    println!(
        "after {renewals} renewals ({:.0} s): journal {journal_bytes} bytes in {} file(s), archive {} bytes; the whole installation {} bytes",
        start.elapsed().as_secs_f64(),
        journal_files.len(),
        size_of(&root.join("one/ssl/archive")),
        size_of(&root.join("one"))
    );
    drop(pebble);
    if keep {
        println!("kept: {} (pebble is stopped)", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}
