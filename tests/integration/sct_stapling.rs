//! SCTs end to end: certificates from pebble submitted by the binary to the
//! project's own RFC 6962 logs (`ct_log`, P-256 and RSA, sharded, retired,
//! tampering), stored in the certificate's transaction as the original's
//! `.sct` files, and those files checked without acmebot (python3's `struct`
//! and `openssl dgst -verify`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::ct_log::{CtLog, CtLogOptions, LogKeyKind, LogMode};
use crate::support::{temp_dir, Site};

fn certificates() -> Value {
    json!({"example.test": {"alt_names": {"example.test": ["@"]}}})
}

fn entry(log: &CtLog) -> Value {
    json!({"url": log.url(), "log_id": log.log_id_b64(), "key": log.key_b64()})
}

fn sct_file(site: &Site, kt: &str, log: &str) -> PathBuf {
    site.path(&format!("ssl/scts/example.test/{kt}/{log}.sct"))
}

/// Verifies a `.sct` file acmebot wrote against the leaf of the installed
/// certificate, without acmebot: python3 reads the file as the original's
/// `load_sct` does and builds the RFC 6962 §3.2 signed struct, openssl
/// checks the signature with the log's key.
fn openssl_verifies(site: &Site, kt: &str, log_name: &str, log: &CtLog) -> bool {
    let dir = temp_dir(&format!("sct-e2e-verify-{kt}-{log_name}"));
    let pem = std::fs::read(site.path(&format!("ssl/certs/example.test.{kt}.pem"))).unwrap();
    let leaf = acmebot::crypto::pem_to_ders(&pem).unwrap().remove(0);
    std::fs::write(dir.join("leaf.der"), &leaf).unwrap();
    std::fs::write(dir.join("log.pem"), log.key_pem()).unwrap();
    const PY: &str = r#"
import struct, sys
sct_path, leaf_path, d = sys.argv[1:]
sct = open(sct_path, 'rb').read()
leaf = open(leaf_path, 'rb').read()
version, log_id, timestamp, ext_len = struct.unpack('>b32sQH', sct[:43])
ext = sct[43:43 + ext_len]
ds = sct[43 + ext_len:]
hash_alg, sig_alg, sig_len = struct.unpack('>BBH', ds[:4])
assert version == 0 and hash_alg == 4 and sig_len == len(ds) - 4, (version, hash_alg, sig_len)
signed = struct.pack('>BBQH', version, 0, timestamp, 0)
signed += struct.pack('>I', len(leaf))[1:] + leaf + struct.pack('>H', len(ext)) + ext
open(d + '/signed.bin', 'wb').write(signed)
open(d + '/sig.bin', 'wb').write(ds[4:])
open(d + '/log_id.bin', 'wb').write(log_id)
"#;
    let file = sct_file(site, kt, log_name);
    let out =
        Command::new("python3").arg("-c").arg(PY).arg(&file).arg(dir.join("leaf.der")).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "log.pem", "-signature", "sig.bin", "signed.bin"])
        .current_dir(&dir)
        .output()
        .unwrap();
    use base64::Engine;
    let id = base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("log_id.bin")).unwrap());
    id == log.log_id_b64() && String::from_utf8_lossy(&out.stdout).trim() == "Verified OK"
}

fn flip_last_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    *b.last_mut().unwrap() ^= 1;
    std::fs::write(path, b).unwrap();
}

#[test]
fn scts_are_stored_with_the_certificate_verified_and_asked_for_only_when_missing() {
    let p256 = CtLog::start(CtLogOptions::default());
    let rsa = CtLog::start(CtLogOptions { key: LogKeyKind::Rsa2048, ..Default::default() });
    // A sharded log: the 2020 shard must never be asked for today's certificates.
    let old_shard = CtLog::start(CtLogOptions { prefix: "/2020".into(), ..Default::default() });
    let new_shard = old_shard.add_shard(CtLogOptions { prefix: "/2026h2".into(), ..Default::default() });
    let retired = CtLog::start(CtLogOptions { mode: LogMode::Gone, ..Default::default() });
    let tampering = CtLog::start(CtLogOptions { mode: LogMode::FlipSignature, ..Default::default() });
    let expired = CtLog::start(CtLogOptions::default());

    let site = Site::new("sct-e2e", certificates());
    let mut config = site.config(certificates());
    config["directories"]["sct"] = json!("ssl/scts/{name}/{key_type}");
    let window = |log: &CtLog, start: &str, end: Option<&str>| {
        let mut e = entry(log);
        e["start"] = json!(start);
        if let Some(end) = end {
            e["end"] = json!(end);
        }
        e
    };
    config["ct_logs"] = json!({
        "test_p256": entry(&p256),
        "test_rsa": entry(&rsa),
        "test_sharded": [window(&old_shard, "2020-01-01T00:00:00Z", Some("2021-01-01T00:00:00Z")),
                         window(&new_shard, "2021-01-01T00:00:00Z", None)],
        "test_retired": entry(&retired),
        "test_tampering": entry(&tampering),
        "test_expired": [window(&expired, "2020-01-01T00:00:00Z", Some("2021-01-01T00:00:00Z"))]
    });
    config["settings"]["ct_submit_logs"] =
        json!(["test_p256", "test_rsa", "test_sharded", "test_retired", "test_tampering", "test_expired"]);
    let hooks = site.path("hooks.log");
    config["hooks"] = json!({
        "sct_installed": format!("echo {{key_type}} {{ct_log_name}} {{sct_file}} >> {}", hooks.display())
    });
    site.write_config_value(&config);

    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "a log's failure is not the run's: {run:?}");
    assert!(run.stderr.contains("Unable to retrieve SCT from log test_retired"), "{run:?}");
    assert!(run.stderr.contains("HTTP error 410 (the shard is retired"), "{run:?}");
    assert!(run.stderr.contains("log test_tampering") && run.stderr.contains("rejected"), "{run:?}");
    assert!(run.stderr.contains("CT log test_expired has no shard for certificates expiring"), "{run:?}");
    assert!(run
        .stdout
        .contains("Saving Signed Certificate Timestamp for ECDSA certificate example.test from test_rsa"));
    let good = [("test_p256", &p256), ("test_rsa", &rsa), ("test_sharded", &new_shard)];
    for kt in ["rsa", "ecdsa"] {
        for (name, log) in good {
            assert!(openssl_verifies(&site, kt, name, log), "{kt} {name}");
            assert_eq!(crate::support::mode_of(&sct_file(&site, kt, name)), 0o644);
        }
        for name in ["test_retired", "test_tampering", "test_expired"] {
            assert!(!sct_file(&site, kt, name).exists(), "{kt} {name}");
        }
    }
    assert_eq!((p256.requests(), rsa.requests(), new_shard.requests()), (2, 2, 2));
    assert_eq!(expired.requests(), 0);
    assert_eq!(new_shard.last_path().as_deref(), Some("/2026h2/ct/v1/add-chain"));
    // The chain went along: leaf and pebble's intermediate.
    assert_eq!(p256.last_chain().unwrap().len(), 2);
    // Journaled in the certificate's own transaction.
    for txn in site.events_of("txn_begun") {
        let effects = txn["effects"].as_array().cloned().unwrap_or_default();
        let certs = effects.iter().filter(|e| e["type"] == "certificate_installed").count();
        let scts = effects.iter().filter(|e| e["type"] == "sct_stored").count();
        assert_eq!(scts, 3 * certs, "{txn}");
    }
    let stored = site.effects_of("sct_stored");
    assert_eq!(stored.len(), 6);
    assert!(stored.iter().all(|e| e["timestamp"].as_str().unwrap().starts_with("20")), "{stored:?}");
    assert_eq!(std::fs::read_to_string(&hooks).unwrap().lines().count(), 6);

    // The next run asks only the logs whose SCTs are missing (they fail
    // again: warnings, code 106 with --warning-exit-code); the expired
    // log's missing shard is not repeated on a run that changes nothing.
    let run = site.run(&["--warning-exit-code"]);
    assert_eq!(run.code, 106, "{run:?}");
    assert!(!run.stderr.contains("test_expired"), "{run:?}");
    assert_eq!((p256.requests(), rsa.requests(), new_shard.requests()), (2, 2, 2));
    assert_eq!(retired.requests(), 4);

    // Fixed logs, a damaged file: --sct asks for exactly those.
    retired.set_mode(LogMode::Normal);
    tampering.set_mode(LogMode::Normal);
    flip_last_byte(&sct_file(&site, "rsa", "test_p256"));
    let run = site.run(&["--sct"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("test_retired") && !run.stderr.contains("test_tampering"), "{run:?}");
    assert!(run.stderr.contains("CT log test_expired has no shard"), "said when asked: {run:?}");
    assert_eq!((p256.requests(), rsa.requests()), (3, 2));
    assert!(openssl_verifies(&site, "rsa", "test_p256", &p256));
    assert!(openssl_verifies(&site, "ecdsa", "test_retired", &retired));
    assert!(openssl_verifies(&site, "rsa", "test_tampering", &tampering));
    assert_eq!(site.run(&["--audit"]).code, 0);

    // Nothing due: nothing asked, nothing said.
    let before = p256.requests() + rsa.requests() + retired.requests() + tampering.requests();
    let run = site.run(&[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(p256.requests() + rsa.requests() + retired.requests() + tampering.requests(), before);

    // A renewal gets new SCTs in its transaction; a log that is down then
    // leaves no SCT of the previous certificate behind.
    rsa.set_mode(LogMode::ServerError);
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Unable to retrieve SCT from log test_rsa"), "{run:?}");
    assert!(!sct_file(&site, "rsa", "test_rsa").exists());
    assert!(openssl_verifies(&site, "rsa", "test_p256", &p256), "for the new certificate");
}
