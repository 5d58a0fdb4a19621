//! Reliability: the real binary SIGKILLed at random moments of an issuance, a
//! renewal, a rollover and a revocation against pebble. After each kill a
//! plain run must converge: exit 0, `--audit` clean, every key matching its
//! certificate, the full-key file of the same transaction, no temporary file
//! left, and the journal as it was before plus whole lines (a torn last line
//! at most, which the next run sets aside).
//!
//! `ACMEBOT_KILL_TRIALS=<n>` (default 20, the bounded sample CI runs); the
//! documented full run is 200: `ACMEBOT_KILL_TRIALS=200 cargo test
//! --all-features --test integration kill -- --nocapture`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use acmebot::crypto::{self, PrivateKey};

use crate::support::{copy_tree, Site};

const NAME: &str = "k.example.test";

/// A small deterministic generator (xorshift), so a failing trial can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn converged(site: &Site, ctx: &str) {
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{ctx}: {run:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{ctx}: {audit:?}");
    let leftovers: Vec<String> =
        crate::support::tree(&site.root.join("etc")).into_iter().filter(|p| p.contains(".acmebot-")).collect();
    assert!(leftovers.is_empty(), "{ctx}: temporary files left: {leftovers:?}");
    let key_pem = std::fs::read(site.path(&format!("ssl/private/{NAME}.ecdsa.key"))).unwrap();
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    let cert_pem = std::fs::read(site.path(&format!("ssl/certs/{NAME}.ecdsa.pem"))).unwrap();
    let cert = crypto::parse_cert(&crypto::pem_to_ders(&cert_pem).unwrap()[0]).unwrap();
    assert!(crypto::key_matches_cert(&key, &cert), "{ctx}: the key does not match the certificate");
    let full = std::fs::read(site.path(&format!("ssl/private/{NAME}_full.ecdsa.key"))).unwrap();
    assert_eq!(full, [key_pem, cert_pem].concat(), "{ctx}: the full key file is of another transaction");
}

/// The journal after a kill is the one before plus whole lines, and at most a
/// torn last line.
fn journal_kept(before: &[u8], after: &[u8], ctx: &str) {
    assert!(after.starts_with(before), "{ctx}: journal lines were lost or changed");
    let added = &after[before.len()..];
    let whole = added.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in added[..whole].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{ctx}: a line is not JSON: {e}"));
    }
}

/// Runs `args`, kills it after `after` (if it still runs), returns whether it was killed.
fn run_and_kill(site: &Site, args: &[&str], after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acmebot"))
        .arg("--config")
        .arg(&site.config_path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

#[test]
fn killed_at_random_moments_every_run_converges() {
    let trials: u64 = std::env::var("ACMEBOT_KILL_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let site = Site::new("kill", json!({ NAME: {"key_types": ["ecdsa"]} }));
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&site.config_path).unwrap()).unwrap();
    config["settings"]["hpkp_days"] = json!(0);
    site.write_config_value(&config);
    let etc = site.root.join("etc");
    let fresh = site.root.join("fresh-etc");
    copy_tree(&etc, &fresh);
    assert_eq!(site.run(&["--accept"]).code, 0);
    let issued = site.root.join("issued-etc");
    copy_tree(&etc, &issued);

    // Each scenario: (name, the installation it starts from, its arguments).
    let revoke = ["--revoke", NAME];
    let scenarios: [(&str, &Path, &[&str]); 4] = [
        ("issuance", &fresh, &["--accept"]),
        ("renewal", &issued, &["--renew"]),
        ("rollover", &issued, &["--rollover", "--force"]),
        ("revocation", &issued, &revoke),
    ];
    // How long each takes uninterrupted: kills fall anywhere in it.
    let mut spans = Vec::new();
    for (_, from, args) in &scenarios {
        copy_tree(from, &etc);
        let start = Instant::now();
        assert!(!run_and_kill(&site, args, Duration::from_secs(120)));
        spans.push(start.elapsed());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut killed = 0;
    for trial in 0..trials {
        let (scenario, from, args) = scenarios[(trial % 4) as usize];
        let span = spans[(trial % 4) as usize].as_micros() as u64;
        let at = Duration::from_micros(rng.next() % span.max(1));
        let ctx = format!("trial {trial}: {scenario} killed after {at:?}");
        copy_tree(from, &etc);
        let journal = site.path("var/journal.jsonl");
        let before = std::fs::read(&journal).unwrap_or_default();
        if run_and_kill(&site, args, at) {
            killed += 1;
        }
        journal_kept(&before, &std::fs::read(&journal).unwrap_or_default(), &ctx);
        converged(&site, &ctx);
    }
    eprintln!("{trials} trials ({killed} killed mid-run; spans {spans:?}): every one converged");
    assert!(killed * 2 >= trials, "most trials must kill a running process: {killed} of {trials}");
}
