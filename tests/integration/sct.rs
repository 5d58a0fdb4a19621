//! `acmebot::ct` against the project's own RFC 6962 log (`ct_log`): real
//! submissions, the SCTs checked with the library, and the same SCTs checked
//! independently with python3's `struct` and `openssl dgst -verify`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use acmebot::ct::{add_chain_body, parse_add_chain_response, Sct};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::ct_log::{post, throwaway_chain, CtLog, CtLogOptions, LogKeyKind, LogMode};
use crate::support::temp_dir;

const T: Duration = Duration::from_secs(10);

/// Submits leaf + CA with the library's body; returns the SCT and the raw answer.
fn submit(log: &CtLog, leaf: &[u8], ca: &[u8]) -> (Sct, Vec<u8>) {
    let body = add_chain_body(leaf, &[ca.to_vec()]);
    let (status, resp) = post(&format!("{}ct/v1/add-chain", log.url()), &body, T).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    let sct = parse_add_chain_response(&resp).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&resp)));
    (sct, resp)
}

fn logs() -> Vec<(&'static str, CtLog)> {
    vec![
        ("p256", CtLog::start(CtLogOptions::default())),
        ("rsa", CtLog::start(CtLogOptions { key: LogKeyKind::Rsa2048, ..Default::default() })),
    ]
}

#[test]
fn scts_of_p256_and_rsa_logs_verify() {
    let (leaf, ca) = throwaway_chain("www.example.test");
    let (other_leaf, _) = throwaway_chain("other.example.test");
    let all = logs();
    for (kind, log) in &all {
        let (sct, _) = submit(log, &leaf, &ca);
        assert_eq!(log.last_chain(), Some(vec![leaf.clone(), ca.clone()]), "{kind}: the body the log received");
        assert_eq!(sct.log_id_b64(), log.log_id_b64());
        sct.verify(&log.key_spki_der(), &leaf).unwrap_or_else(|e| panic!("{kind}: {e}"));

        // The .sct file round trip, and the file still verifies.
        let file = sct.to_tls();
        let back = Sct::from_tls(&file).unwrap();
        assert_eq!(back, sct);
        back.verify(&log.key_spki_der(), &leaf).unwrap();

        // Another certificate: not what the log signed.
        let e = sct.verify(&log.key_spki_der(), &other_leaf).unwrap_err();
        assert_eq!(e.to_string(), "the SCT signature does not verify with the log's key", "{kind}");
        // Another log's key: the log ID says so first.
        let (_, other_log) = all.iter().find(|(k, _)| k != kind).unwrap();
        let e = sct.verify(&other_log.key_spki_der(), &leaf).unwrap_err().to_string();
        assert!(e.starts_with(&format!("the SCT's log ID {} is not this log's (", log.log_id_b64())), "{e}");
        // A byte of the file changed.
        for at in [5, 40, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x20;
            let r = Sct::from_tls(&bad).and_then(|s| s.verify(&log.key_spki_der(), &leaf));
            assert!(r.is_err(), "{kind}: byte {at} changed still verifies");
        }
    }
}

#[test]
fn tampering_logs_are_caught() {
    let (leaf, ca) = throwaway_chain("t.example.test");
    for key in [LogKeyKind::P256, LogKeyKind::Rsa2048] {
        for mode in [LogMode::FlipSignature, LogMode::SignOtherTimestamp] {
            let log = CtLog::start(CtLogOptions { key, mode, ..Default::default() });
            let (sct, _) = submit(&log, &leaf, &ca);
            let e = sct.verify(&log.key_spki_der(), &leaf).unwrap_err();
            assert_eq!(e.to_string(), "the SCT signature does not verify with the log's key", "{key:?} {mode:?}");
        }
    }
}

#[test]
fn failing_logs_give_no_sct() {
    let (leaf, ca) = throwaway_chain("f.example.test");
    let log = CtLog::start(CtLogOptions { prefix: "/2026h1".into(), ..Default::default() });
    let retired = log.add_shard(CtLogOptions { prefix: "/2025h2".into(), mode: LogMode::Gone, ..Default::default() });
    let body = add_chain_body(&leaf, std::slice::from_ref(&ca));
    let (status, resp) = post(&format!("{}ct/v1/add-chain", retired.url()), &body, T).unwrap();
    assert_eq!(status, 410);
    let e = parse_add_chain_response(&resp).unwrap_err().to_string();
    assert!(e.starts_with("the log's add-chain response is not an SCT: "), "{e}");
    retired.set_mode(LogMode::ServerError);
    assert_eq!(post(&format!("{}ct/v1/add-chain", retired.url()), &body, T).unwrap().0, 500);
    // The other shard of the server is unaffected.
    let (sct, _) = submit(&log, &leaf, &ca);
    sct.verify(&log.key_spki_der(), &leaf).unwrap();
    assert_eq!((log.requests(), retired.requests()), (1, 2));
}

/// The same SCTs checked without acmebot: python3's `struct` builds the
/// RFC 6962 §3.2 signed struct from the log's JSON answer and the leaf, and
/// writes the original's `.sct` file layout (`save_sct`); openssl verifies the
/// signature with the log's PEM key.
#[test]
fn openssl_agrees() {
    let dir = temp_dir("sct-openssl");
    let (leaf, ca) = throwaway_chain("o.example.test");
    std::fs::write(dir.join("leaf.der"), &leaf).unwrap();
    let mut checked = 0;
    for (kind, log) in logs() {
        for tampered in [false, true] {
            log.set_mode(if tampered { LogMode::SignOtherTimestamp } else { LogMode::Normal });
            let (sct, resp) = submit(&log, &leaf, &ca);
            let d = dir.join(format!("{kind}-{tampered}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("log.pem"), log.key_pem()).unwrap();
            std::fs::write(d.join("response.json"), &resp).unwrap();
            python_signed_struct(&dir.join("leaf.der"), &d);

            // The original's save_sct bytes are the library's to_tls bytes.
            assert_eq!(std::fs::read(d.join("original.sct")).unwrap(), sct.to_tls(), "{kind}");
            let v: Value = serde_json::from_slice(&resp).unwrap();
            let ds = STANDARD.decode(v["signature"].as_str().unwrap()).unwrap();
            assert_eq!(std::fs::read(d.join("sig.bin")).unwrap(), ds[4..], "{kind}: the raw signature");

            let out = Command::new("openssl")
                .args(["dgst", "-sha256", "-verify", "log.pem", "-signature", "sig.bin", "signed.bin"])
                .current_dir(&d)
                .output()
                .expect("openssl");
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let ours = sct.verify(&log.key_spki_der(), &leaf);
            if tampered {
                assert_eq!(said, "Verification failure", "{kind}");
                assert!(ours.is_err());
            } else {
                assert_eq!(said, "Verified OK", "{kind}: {}", String::from_utf8_lossy(&out.stderr));
                assert!(out.status.success());
                ours.unwrap();
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}

/// Writes `signed.bin` (the §3.2 struct), `sig.bin` (the signature inside the
/// DigitallySigned) and `original.sct` (the Python original's `save_sct`
/// layout) into `d`, from `d/response.json` and the leaf.
fn python_signed_struct(leaf: &Path, d: &Path) {
    const PY: &str = r#"
import base64, json, struct, sys
leaf_path, d = sys.argv[1:]
leaf = open(leaf_path, 'rb').read()
r = json.load(open(d + '/response.json'))
ds = base64.b64decode(r['signature'])
hash_alg, sig_alg, sig_len = struct.unpack('>BBH', ds[:4])
assert hash_alg == 4 and sig_alg in (1, 3) and sig_len == len(ds) - 4, (hash_alg, sig_alg, sig_len)
ext = base64.b64decode(r['extensions'])
# RFC 6962 3.2: version, signature_type certificate_timestamp, timestamp,
# entry_type x509_entry, ASN.1Cert (24-bit length), CtExtensions (16-bit length)
signed = struct.pack('>BBQH', r['sct_version'], 0, r['timestamp'], 0)
signed += struct.pack('>I', len(leaf))[1:] + leaf + struct.pack('>H', len(ext)) + ext
open(d + '/signed.bin', 'wb').write(signed)
open(d + '/sig.bin', 'wb').write(ds[4:])
# acmebot.py save_sct
sct = struct.pack('>b32sQH', r['sct_version'], base64.b64decode(r['id']), r['timestamp'], len(ext))
sct += ext + base64.b64decode(r['signature'])
open(d + '/original.sct', 'wb').write(sct)
"#;
    let out = Command::new("python3").arg("-c").arg(PY).arg(leaf).arg(d).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
