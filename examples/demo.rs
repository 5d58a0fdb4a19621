//! The README's run command (`scripts/demo`): a real certificate from a local
//! CA on a fresh machine. Starts pebble (ACME v2) with its DNS server and a
//! loopback web server for http-01, writes the seed's minimal configuration
//! (plus where the demo CA and the output directories are), runs acmebot twice
//! and shows what it installed and journaled. Everything lives under
//! `./demo-run/` and every server is stopped when the demo ends.

#[path = "../tests/integration/peers.rs"]
#[allow(dead_code)]
mod peers;

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let bin = std::env::var("ACMEBOT_BIN").unwrap_or_else(|_| "target/release/acmebot".into());
    let root = std::env::current_dir().unwrap().join("demo-run");
    let _ = std::fs::remove_dir_all(&root);
    println!("== starting pebble (demo CA), its DNS server and a challenge web server on 127.0.0.1");
    let pebble =
        peers::Pebble::start(&root.join("pebble"), peers::PebbleOptions { nonce_reject: 5, ..Default::default() });
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let config = serde_json::json!({
        "account": {"email": "admin@example.test"},
        "certificates": {"example.test": {"alt_names": {"example.test": ["@", "www"]}}},
        "settings": {
            "acme_directory_url": pebble.directory_url,
            "ca_bundle": pebble.ca_pem,
            "file_group": "root",
            "log_level": "normal"
        },
        "directories": {
            "pid": "run", "log": "log", "resource": "var",
            "private_key": "ssl/private", "backup_key": "ssl/private", "full_key": "ssl/private",
            "certificate": "ssl/certs", "full_certificate": "ssl/certs", "chain": "ssl/certs",
            "param": "ssl/params", "challenge": "ssl/challenges", "archive": "ssl/archive",
            "http_challenge": pebble.webroot, "sct": null, "hpkp": null, "ocsp": null
        }
    });
    let config_path = etc.join("acmebot.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    println!("== configuration {}:\n{}", config_path.display(), serde_json::to_string_pretty(&config).unwrap());

    let run = |args: &[&str]| {
        println!("\n== acmebot --config {} {}", config_path.display(), args.join(" "));
        let t = std::time::Instant::now();
        let status = Command::new(&bin).arg("--config").arg(&config_path).args(args).status().expect("run acmebot");
        println!("== exit {} after {:.2?}", status.code().unwrap_or(-1), t.elapsed());
        status.code().unwrap_or(-1)
    };
    let first = run(&["--accept"]);
    let second = run(&[]);
    println!("\n== installed files");
    for dir in ["ssl/private", "ssl/certs"] {
        let mut names: Vec<PathBuf> =
            std::fs::read_dir(etc.join(dir)).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        names.sort();
        for p in names {
            println!("  {}", p.display());
        }
    }
    println!("\n== journal ({}):", etc.join("var/journal.jsonl").display());
    let journal = std::fs::read_to_string(etc.join("var/journal.jsonl")).unwrap_or_default();
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        println!("  {:>3} {} {}", v["seq"], v["ts"].as_str().unwrap_or(""), v["type"].as_str().unwrap_or(""));
    }
    run(&["--audit"]);
    drop(pebble);
    if first != 0 || second != 0 {
        std::process::exit(1);
    }
    println!("\nDone: a certificate from the demo CA, installed and journaled; the second run had nothing to do.");
}
