use super::*;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _};

// An SCT made by someone else: google/certificate-transparency-go (Apache
// 2.0), testdata/certs.go `TestCertPEM` (a leaf whose key is RSA 1024) and
// `TestCertProof` (its SCT, TLS-encoded, from the test log), testdata/keys.go
// `LogPublicKeyB64` (that log's P-256 key). Checked independently with
// `openssl dgst -sha256 -verify` over the §3.2 struct built with Python.
const EXT_CERT_B64: &str = "MIICyjCCAjOgAwIBAgIBBjANBgkqhkiG9w0BAQUFADBVMQswCQYDVQQGEwJHQjEkMCIGA1UEChMbQ2VydGlmaWNhdGUgVHJhbnNwYXJlbmN5IENBMQ4wDAYDVQQIEwVXYWxlczEQMA4GA1UEBxMHRXJ3IFdlbjAeFw0xMjA2MDEwMDAwMDBaFw0yMjA2MDEwMDAwMDBaMFIxCzAJBgNVBAYTAkdCMSEwHwYDVQQKExhDZXJ0aWZpY2F0ZSBUcmFuc3BhcmVuY3kxDjAMBgNVBAgTBVdhbGVzMRAwDgYDVQQHEwdFcncgV2VuMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCx+jeTYRH4eS2iCBw/5BklAIUx3H8sZXvZ4d5HBBYLTJ8Z1UraRHBATBxRNBuPH3U43d0o2aykg2n8VkbdzHYX+BaKrltB1DMx/KLa38gE1XIIlJBh+e75AspHzojGROAA8G7uzKvcndL2iiLMsJ3Hbg28c1J3ZbGjeoxnYlPcwQIDAQABo4GsMIGpMB0GA1UdDgQWBBRqDZgqO2LES20u9Om7egGqnLeY4jB9BgNVHSMEdjB0gBRfnYgNyHPmVNT4DdjmsMEktEfDVaFZpFcwVTELMAkGA1UEBhMCR0IxJDAiBgNVBAoTG0NlcnRpZmljYXRlIFRyYW5zcGFyZW5jeSBDQTEOMAwGA1UECBMFV2FsZXMxEDAOBgNVBAcTB0VydyBXZW6CAQAwCQYDVR0TBAIwADANBgkqhkiG9w0BAQUFAAOBgQAXHNhKrEFKmgMPIqrI9oiwgbJwm4SLTlURQGzXB/7QKFl6n678Lu4peNYzqqwU7TI1GX2ofg9xuIdfGsnniygXSd3t0Afj7PUGRfjL9mclbNahZHteEyA7uFgt59Zpb2VtHGC5X0Vrf88zhXGQjxxpcn0kxPzNJJKVeVgU0drA5g==";
const EXT_PROOF_HEX: &str = "00df1c2ec11500945247a96168325ddc5c7959e8f7c6d388fc002e0bbd3f74d7\
                             640000013ddb27ded900000403004730450220606e10ae5c2d5a1b0aed49dc49\
                             37f48de71a4e9784e9c208dfbfe9ef536cf7f2022100beb29c72d7d06d61d06b\
                             db38a069469aa86fe12e18bb7cc45689a2c0187ef5a5";
const EXT_LOG_KEY_B64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmXg8sUUzwBYaWrRb+V0IopzQ6o3UyEJ04r5ZrRXGdpYM8K+hB0pXrGRLI0eeWz+3skXrS0IO83AhA3GpRL6s6w==";

const VENDORED_LIST: &str = include_str!("../../vendor/ct/log_list.json");

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn b64d(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, b).as_ref().try_into().unwrap()
}

/// The §3.2 signed struct for an X.509 entry, built here for the tests that sign.
fn signed_struct(ts: u64, leaf: &[u8], ext: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8, 0u8];
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&(leaf.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(leaf);
    v.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    v.extend_from_slice(ext);
    v
}

fn digitally_signed(hash: u8, sig_alg: u8, sig: &[u8]) -> Vec<u8> {
    let mut v = vec![hash, sig_alg];
    v.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    v.extend_from_slice(sig);
    v
}

type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A test log key: SPKI DER, signer of messages, TLS signature algorithm.
struct TestLog {
    spki: Vec<u8>,
    sign: Signer,
    sig_alg: u8,
}

fn p256_log() -> TestLog {
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
    let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).unwrap().as_ref().to_vec();
    let sign = Box::new(move |m: &[u8]| kp.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec());
    TestLog { spki, sign, sig_alg: SIG_ECDSA }
}

fn rsa_log() -> TestLog {
    let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
    let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).unwrap().as_ref().to_vec();
    let sign = Box::new(move |m: &[u8]| {
        let mut sig = vec![0u8; kp.public_modulus_len()];
        kp.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut sig).unwrap();
        sig
    });
    TestLog { spki, sign, sig_alg: SIG_RSA }
}

fn sct_from(log: &TestLog, ts: u64, leaf: &[u8]) -> Sct {
    let sig = (log.sign)(&signed_struct(ts, leaf, b""));
    Sct {
        version: 0,
        log_id: sha256(&log.spki),
        timestamp: ts,
        extensions: Vec::new(),
        signature: digitally_signed(HASH_SHA256, log.sig_alg, &sig),
    }
}

#[test]
fn to_tls_is_the_originals_file_layout() {
    // struct.pack('>b32sQH', 0, id, 0x0102030405060708, 2) + b'\xee\xff' + signature
    let sct = Sct {
        version: 0,
        log_id: [0xab; 32],
        timestamp: 0x0102_0304_0506_0708,
        extensions: vec![0xee, 0xff],
        signature: vec![4, 3, 0, 2, 0x30, 0x00],
    };
    let mut want = vec![0x00];
    want.extend_from_slice(&[0xab; 32]);
    want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    want.extend_from_slice(&[0x00, 0x02, 0xee, 0xff]);
    want.extend_from_slice(&[0x04, 0x03, 0x00, 0x02, 0x30, 0x00]);
    assert_eq!(sct.to_tls(), want);
    assert_eq!(Sct::from_tls(&want).unwrap(), sct);
    // No extensions: the length is still there, as '>H' packs 0.
    let plain = Sct { extensions: vec![], ..sct };
    assert_eq!(plain.to_tls()[41..45], [0, 0, 4, 3]);
    assert_eq!(Sct::from_tls(&plain.to_tls()).unwrap(), plain);
}

#[test]
fn from_tls_refuses_what_is_not_one_sct() {
    let good = Sct::from_tls(&unhex(EXT_PROOF_HEX)).unwrap().to_tls();
    for n in [0, 1, 42, 43, 44, 46, 47, good.len() - 1] {
        let e = Sct::from_tls(&good[..n]).unwrap_err().to_string();
        assert!(e.starts_with("not an SCT: truncated"), "{n}: {e}");
    }
    let mut long = good.clone();
    long.push(0);
    assert!(Sct::from_tls(&long).unwrap_err().to_string().contains("says 71 bytes but has 72"));
    let mut v1 = good.clone();
    v1[0] = 1;
    assert!(Sct::from_tls(&v1).unwrap_err().to_string().contains("version 1"));
    let mut ext = good.clone();
    ext[42] = 200; // more extensions announced than bytes left
    assert!(Sct::from_tls(&ext).unwrap_err().to_string().starts_with("not an SCT: truncated"));
    assert!(Sct::from_tls(b"-----BEGIN CERTIFICATE-----\nMIIB...\n").is_err());
}

#[test]
fn an_sct_of_another_implementation_verifies() {
    let leaf = b64d(EXT_CERT_B64);
    let key = b64d(EXT_LOG_KEY_B64);
    let proof = unhex(EXT_PROOF_HEX);
    let sct = Sct::from_tls(&proof).unwrap();
    assert_eq!(sct.timestamp, 1_365_181_456_089);
    assert_eq!(sct.log_id, sha256(&key));
    assert_eq!(sct.signature[..4], [4, 3, 0, 0x47]);
    assert_eq!(sct.to_tls(), proof, "byte-identical round trip");
    sct.verify(&key, &leaf).unwrap();

    let later = Sct { timestamp: sct.timestamp + 1, ..sct.clone() };
    assert_eq!(
        later.verify(&key, &leaf).unwrap_err().to_string(),
        "the SCT signature does not verify with the log's key"
    );
    let mut other_leaf = leaf.clone();
    other_leaf[100] ^= 1;
    assert!(sct.verify(&key, &other_leaf).is_err());
    let with_ext = Sct { extensions: vec![0], ..sct.clone() };
    assert!(with_ext.verify(&key, &leaf).is_err());

    let other = p256_log();
    let e = sct.verify(&other.spki, &leaf).unwrap_err().to_string();
    assert!(e.starts_with("the SCT's log ID 3xwuwRUAlFJHqWFoMl3cXHlZ6PfG04j8AC4LvT9012Q= is not this log's ("), "{e}");
}

#[test]
fn p256_and_rsa_logs_verify_and_refuse_tampering() {
    let leaf = b64d(EXT_CERT_B64);
    for log in [p256_log(), rsa_log()] {
        let sct = sct_from(&log, 1_800_000_000_123, &leaf);
        sct.verify(&log.spki, &leaf).unwrap();
        let back = Sct::from_tls(&sct.to_tls()).unwrap();
        assert_eq!(back, sct);
        back.verify(&log.spki, &leaf).unwrap();

        let mut flipped = sct.clone();
        let last = flipped.signature.len() - 1;
        flipped.signature[last] ^= 0x01;
        assert!(flipped.verify(&log.spki, &leaf).is_err());
        assert!(sct.verify(&log.spki, &leaf[..leaf.len() - 1]).is_err());

        // The algorithm bytes must be SHA-256 with the key's kind.
        let mut sha1 = sct.clone();
        sha1.signature[0] = 2;
        let e = sha1.verify(&log.spki, &leaf).unwrap_err().to_string();
        assert!(e.contains("hash algorithm 2 and signature algorithm"), "{e}");
        let mut swapped = sct.clone();
        swapped.signature[1] = if log.sig_alg == SIG_RSA { SIG_ECDSA } else { SIG_RSA };
        let e = swapped.verify(&log.spki, &leaf).unwrap_err().to_string();
        assert!(e.contains(&format!("signature algorithm {}", swapped.signature[1])), "{e}");
    }
}

#[test]
fn unsupported_log_keys_are_named() {
    let leaf = b64d(EXT_CERT_B64);
    let sct_for = |spki: &[u8]| Sct {
        version: 0,
        log_id: sha256(spki),
        timestamp: 1,
        extensions: vec![],
        signature: vec![4, 1, 0, 1, 0],
    };
    // RSA 1024: the public key of the external test certificate.
    let cert = x509_cert::Certificate::from_der(&leaf).unwrap();
    let rsa1024 = der::Encode::to_der(&cert.tbs_certificate.subject_public_key_info).unwrap();
    let e = sct_for(&rsa1024).verify(&rsa1024, &leaf).unwrap_err().to_string();
    assert_eq!(e, "the log's RSA key has 1024 bits; at least 2048 are needed");

    let alg = &signature::ECDSA_P384_SHA384_ASN1_SIGNING;
    let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
    let p384 = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).unwrap().as_ref().to_vec();
    let e = sct_for(&p384).verify(&p384, &leaf).unwrap_err().to_string();
    assert!(e.contains("curve 1.3.132.0.34, not P-256"), "{e}");

    let garbage = b"not a key".to_vec();
    let e = sct_for(&garbage).verify(&garbage, &leaf).unwrap_err().to_string();
    assert_eq!(e, "the log's key is not a DER SubjectPublicKeyInfo");
}

#[test]
fn add_chain_body_and_response() {
    let body = add_chain_body(b"leaf", &[b"inter".to_vec(), b"root".to_vec()]);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, serde_json::json!({"chain": ["bGVhZg==", "aW50ZXI=", "cm9vdA=="]}));
    assert_eq!(
        serde_json::from_slice::<Value>(&add_chain_body(b"x", &[])).unwrap()["chain"],
        serde_json::json!(["eA=="])
    );

    let sct = Sct::from_tls(&unhex(EXT_PROOF_HEX)).unwrap();
    let resp = serde_json::json!({
        "sct_version": 0,
        "id": sct.log_id_b64(),
        "timestamp": sct.timestamp,
        "extensions": "",
        "signature": STANDARD.encode(&sct.signature),
    });
    let parsed = parse_add_chain_response(resp.to_string().as_bytes()).unwrap();
    assert_eq!(parsed, sct);
    parsed.verify(&b64d(EXT_LOG_KEY_B64), &b64d(EXT_CERT_B64)).unwrap();

    let without_ext = {
        let mut r = resp.clone();
        r.as_object_mut().unwrap().remove("extensions");
        r
    };
    assert_eq!(parse_add_chain_response(without_ext.to_string().as_bytes()).unwrap(), sct);

    let bad = |patch: Value| {
        let mut r = resp.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                r.as_object_mut().unwrap().remove(k);
            } else {
                r[k] = v.clone();
            }
        }
        parse_add_chain_response(r.to_string().as_bytes()).unwrap_err().to_string()
    };
    assert!(bad(serde_json::json!({"sct_version": 1})).contains("sct_version 1"));
    assert!(bad(serde_json::json!({"sct_version": null})).contains("no numeric \"sct_version\""));
    assert!(bad(serde_json::json!({"id": "AAAA"})).contains("\"id\" has 3 bytes, not 32"));
    assert!(bad(serde_json::json!({"id": "!!"})).contains("\"id\" is not base64"));
    assert!(bad(serde_json::json!({"timestamp": "soon"})).contains("no numeric \"timestamp\""));
    assert!(bad(serde_json::json!({"signature": null})).contains("no base64 string \"signature\""));
    assert!(bad(serde_json::json!({"signature": "BAMAAQ=="})).contains("its signature says 1 bytes but has 0"));
    assert!(bad(serde_json::json!({"signature": "BAM="})).contains("its signature is truncated"));
    for body in [&b"<html>502</html>"[..], b"[]", b""] {
        let e = parse_add_chain_response(body).unwrap_err().to_string();
        assert!(e.starts_with("the log's add-chain response is not an SCT: "), "{e}");
    }
}

// ----- the log list -------------------------------------------------------

const SMALL_LIST: &str = r#"{
  "version": "1.2", "log_list_timestamp": "2026-11-30T00:00:00Z",
  "operators": [
    {"name": "Google", "email": ["g@example"], "logs": [
      {"description": "Google 'Argon2027h1' log", "log_id": "A1", "key": "K1",
       "url": "https://ct.example/argon2027h1/", "mmd": 86400,
       "state": {"qualified": {"timestamp": "2026-10-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2027-01-01T00:00:00Z", "end_exclusive": "2027-07-01T00:00:00Z"}},
      {"description": "Google 'Argon2026h2' log", "log_id": "A2", "key": "K2",
       "url": "https://ct.example/argon2026h2/", "mmd": 86400,
       "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2026-07-01T00:00:00Z", "end_exclusive": "2027-01-01T00:00:00Z"}},
      {"description": "Google 'Argon2025h1' log", "log_id": "A3", "key": "K3",
       "url": "https://ct.example/argon2025h1/", "mmd": 86400,
       "state": {"retired": {"timestamp": "2025-08-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2025-01-01T00:00:00Z", "end_exclusive": "2025-07-01T00:00:00Z"}},
      {"description": "Google 'Solera2027h1' log", "log_id": "S1", "key": "KS",
       "url": "https://ct.example/solera/", "mmd": 86400, "state": {"pending": {"timestamp": "2026-11-01T00:00:00Z"}}},
      {"description": "Google 'Icarus' log", "log_id": "I1", "key": "KI",
       "url": "https://ct.example/icarus/", "mmd": 86400, "state": {"readonly": {"timestamp": "2020-01-01T00:00:00Z"}}},
      {"description": "Google 'Testtube' log", "log_id": "T1", "key": "KT",
       "url": "https://ct.example/testtube/", "mmd": 86400, "state": {"rejected": {"timestamp": "2020-01-01T00:00:00Z"}}},
      {"description": "Google 'Nostate' log", "log_id": "N1", "key": "KN", "url": "https://ct.example/n/", "mmd": 86400}
    ], "tiled_logs": []},
    {"name": "Let's Encrypt", "email": ["le@example"], "logs": [], "tiled_logs": [
      {"description": "Let's Encrypt 'Sycamore2026h2'", "log_id": "Y2", "key": "KY2",
       "submission_url": "https://log.sycamore.example/2026h2/", "monitoring_url": "https://mon.sycamore.example/2026h2/",
       "mmd": 60, "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2026-06-18T00:00:00Z", "end_exclusive": "2026-12-17T00:00:00Z"}},
      {"description": "Let's Encrypt 'Sycamore2025h2d'", "log_id": "Y1", "key": "KY1",
       "submission_url": "https://log.sycamore.example/2025h2d/", "monitoring_url": "https://mon.sycamore.example/2025h2d/",
       "mmd": 60, "state": {"usable": {"timestamp": "2025-01-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2025-06-19T00:00:00Z", "end_exclusive": "2025-12-18T00:00:00Z"}}
    ]},
    {"name": "DigiCert", "email": ["d@example"], "logs": [
      {"description": "DigiCert Log Server 2", "log_id": "D2", "key": "KD2", "url": "https://ct2.example/log/",
       "mmd": 86400, "state": {"usable": {"timestamp": "2017-01-01T00:00:00Z"}}},
      {"description": "DigiCert Yeti2025 Log", "log_id": "DY", "key": "KDY", "url": "https://yeti2025.example/log/",
       "mmd": 86400, "state": {"usable": {"timestamp": "2024-01-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2025-01-01T00:00:00Z", "end_exclusive": "2026-01-01T00:00:00Z"}}
    ]},
    {"name": "Cloudflare", "email": ["c@example"], "logs": [
      {"description": "Cloudflare 'Nimbus2027' Log", "log_id": "C7", "key": "KC7", "url": "https://nimbus2027.example/",
       "mmd": 86400, "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2027-01-01T00:00:00Z", "end_exclusive": "2028-01-01T00:00:00Z"}}
    ]},
    {"name": "TrustAsia", "email": ["t@example"], "logs": [
      {"description": "TrustAsia 'log2026a'", "log_id": "TA", "key": "KTA", "url": "https://ct2026-a.example/log2026a/",
       "mmd": 86400, "state": {"usable": {"timestamp": "2025-12-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2025-12-24T00:00:00Z", "end_exclusive": "2027-01-08T00:00:00Z"}},
      {"description": "TrustAsia 'log2026b'", "log_id": "TB", "key": "KTB", "url": "https://ct2026-b.example/log2026b/",
       "mmd": 86400, "state": {"usable": {"timestamp": "2025-12-01T00:00:00Z"}},
       "temporal_interval": {"start_inclusive": "2025-12-24T00:00:00Z", "end_exclusive": "2027-01-08T00:00:00Z"}}
    ]}
  ]
}"#;

#[test]
fn the_list_becomes_ct_logs() {
    let logs = ct_logs_from_list(SMALL_LIST).unwrap();
    let names: Vec<&str> = logs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "google_argon",
            "lets_encrypt_sycamore",
            "digicert_log_server_2",
            "digicert_yeti",
            "cloudflare_nimbus",
            "trustasia_log_a",
            "trustasia_log_b"
        ]
    );
    // Usable and qualified shards, sorted by start; retired, pending,
    // readonly, rejected and stateless logs left out.
    assert_eq!(
        Value::Object(logs.clone())["google_argon"],
        serde_json::json!([
            {"url": "https://ct.example/argon2026h2/", "log_id": "A2", "key": "K2",
             "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
            {"url": "https://ct.example/argon2027h1/", "log_id": "A1", "key": "K1",
             "start": "2027-01-01T00:00:00Z", "end": "2027-07-01T00:00:00Z"}
        ])
    );
    // Tiled: submitted to at submission_url.
    let syc = logs["lets_encrypt_sycamore"].as_array().unwrap();
    let urls: Vec<&str> = syc.iter().map(|s| s["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["https://log.sycamore.example/2025h2d/", "https://log.sycamore.example/2026h2/"]);
    // No interval: no start or end.
    assert_eq!(
        logs["digicert_log_server_2"],
        serde_json::json!([{"url": "https://ct2.example/log/", "log_id": "D2", "key": "KD2"}])
    );
    assert_eq!(logs["trustasia_log_b"][0]["log_id"], "TB");
    // The keys come out in the configuration's order.
    let keys: Vec<&str> = logs["google_argon"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["url", "log_id", "key", "start", "end"]);
}

#[test]
fn names_of_logs() {
    let f = |op: &str, d: &str| {
        let (family, _) = list::family(op, d);
        format!("{}_{family}", list::snake(op))
    };
    assert_eq!(f("Google", "Google 'Argon2026h1' log"), "google_argon");
    assert_eq!(f("Google", "Google 'Xenon2027h2' log"), "google_xenon");
    assert_eq!(f("Cloudflare", "Cloudflare 'Nimbus2027' Log"), "cloudflare_nimbus");
    assert_eq!(f("Cloudflare", "Cloudflare 'Nimbus2025'"), "cloudflare_nimbus");
    assert_eq!(f("Let's Encrypt", "Let's Encrypt 'Oak2025h1'"), "lets_encrypt_oak");
    assert_eq!(f("Let's Encrypt", "Let's Encrypt 'Willow2025h2d'"), "lets_encrypt_willow");
    assert_eq!(f("DigiCert", "DigiCert Log Server"), "digicert_log_server");
    assert_eq!(f("DigiCert", "DigiCert Log Server 2"), "digicert_log_server_2");
    assert_eq!(f("DigiCert", "DigiCert Yeti2025 Log"), "digicert_yeti");
    assert_eq!(f("DigiCert", "DigiCert 'sphinx2026h1' log"), "digicert_sphinx");
    assert_eq!(f("Sectigo", "Sectigo 'Elephant2027h2'"), "sectigo_elephant");
    assert_eq!(f("TrustAsia", "TrustAsia Log2025a"), "trustasia_log");
    assert_eq!(f("Bob's CT Log Shop", "Bob's Dubious Log"), "bobs_ct_log_shop_bobs_dubious");
    assert_eq!(f("Geomys", "Geomys 'Tuscolo2026h1'"), "geomys_tuscolo");
    assert_eq!(f("IPng Networks", "IPng Networks 'Halloumi2026h1'"), "ipng_networks_halloumi");
    assert_eq!(f("Up-In-The-Air", "Up-In-The-Air 'Cirrus 2026'"), "up_in_the_air_cirrus");
    assert_eq!(f("Google", "Google '2026h1'"), "google_2026h1");
    assert_eq!(f("Google", "Google"), "google_log");
}

#[test]
fn a_bad_list_is_an_error() {
    assert!(ct_logs_from_list("{").unwrap_err().starts_with("the CT log list is not JSON"));
    assert_eq!(ct_logs_from_list("{}").unwrap_err(), "the CT log list has no \"operators\" array");
    let e = ct_logs_from_list(
        r#"{"operators": [{"name": "X", "logs": [{"description": "X 'A2026' log",
        "log_id": "I", "key": "K", "state": {"usable": {}}}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e, "the CT log list's operators[0].logs[0]: no \"url\"");
    let e = ct_logs_from_list(
        r#"{"operators": [{"name": "X", "tiled_logs": [{"description": "X 'A2026' log",
        "log_id": "I", "key": "K", "url": "https://x/", "state": {"usable": {}}}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e, "the CT log list's operators[0].tiled_logs[0]: no \"submission_url\"");
    // A broken log that is not submittable does not matter.
    assert!(ct_logs_from_list(r#"{"operators": [{"name": "X", "logs": [{"state": {"retired": {}}}]}]}"#)
        .unwrap()
        .is_empty());
}

#[test]
fn the_vendored_list_is_consistent() {
    let doc: Value = serde_json::from_str(VENDORED_LIST).unwrap();
    assert!(doc["version"].is_string() && doc["log_list_timestamp"].is_string());
    let mut n = 0;
    for op in doc["operators"].as_array().unwrap() {
        assert!(op["name"].is_string() && op["email"].is_array());
        for (kind, url) in [("logs", "url"), ("tiled_logs", "submission_url")] {
            for log in op[kind].as_array().unwrap() {
                let key = b64d(log["key"].as_str().unwrap());
                assert_eq!(log["log_id"].as_str().unwrap(), STANDARD.encode(sha256(&key)), "{}", log["description"]);
                // Every key is one verify() takes.
                LogKey::parse(&key).unwrap();
                assert!(log[url].as_str().unwrap().starts_with("https://"));
                assert!(log["mmd"].is_u64() && log["state"].is_object() && log["description"].is_string());
                n += 1;
            }
        }
    }
    assert_eq!(n, 53);
    let logs = ct_logs_from_list(VENDORED_LIST).unwrap();
    let shards: usize = logs.values().map(|v| v.as_array().unwrap().len()).sum();
    assert_eq!((logs.len(), shards), (16, 53));
}
