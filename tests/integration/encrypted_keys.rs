//! Passphrase-protected private keys against independent peers, run at test
//! time: openssl reads what acmebot writes and writes what acmebot reads, and
//! the Python original (acmebot 2.17.3's pyOpenSSL, in `target/original-venv`)
//! writes keys acmebot reads and reads keys acmebot writes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use acmebot::crypto::{self, CryptoError, KeyCipher, PrivateKey};

use crate::support::{openssl, temp_dir};

/// Not ASCII, with spaces: the passphrase is its UTF-8 bytes everywhere.
const PASS: &str = "correct horse – battery staple";
const CIPHERS: [KeyCipher; 3] = [KeyCipher::Aes128Cbc, KeyCipher::Aes192Cbc, KeyCipher::Aes256Cbc];
/// OpenSSL 3 has Blowfish and single DES only in its legacy provider.
const LEGACY: [&str; 4] = ["-provider", "legacy", "-provider", "default"];

/// The build directory, as `original.rs` finds it.
fn build_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    }
}

/// The original's Python, `target/original-venv/bin/python` (with pyOpenSSL
/// and cryptography as acmebot 2.17.3 installed them). Never skipped.
fn original_python() -> PathBuf {
    let python = build_dir().join("original-venv/bin/python");
    assert!(python.is_file(), "the Python original is not installed at {}: run scripts/install-deps", python.display());
    python
}

/// Runs openssl with no input; the output whether it succeeded or not.
fn openssl_output(args: &[&str]) -> Output {
    Command::new("openssl").args(args).stdin(Stdio::null()).output().expect("openssl is installed")
}

fn write_secret(path: &Path, data: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).unwrap();
    f.write_all(data).unwrap();
}

fn spki_pem(key: &PrivateKey) -> String {
    crypto::pem_encode("PUBLIC KEY", key.spki_der())
}

fn assert_legacy_provider() {
    let out = openssl_output(&["list", "-providers", LEGACY[0], LEGACY[1], LEGACY[2], LEGACY[3]]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("legacy"),
        "OpenSSL's legacy provider (Blowfish) is missing: install the openssl package's ossl-modules/legacy.so"
    );
}

/// What acmebot writes, openssl reads with the passphrase (to the same
/// public key) and refuses without it or with a wrong one; it is PBES2 with
/// scrypt and the chosen AES-CBC.
#[test]
fn openssl_reads_what_acmebot_writes() {
    let dir = temp_dir("encrypted-keys-openssl-reads");
    let pass_arg = format!("pass:{PASS}");
    for (kind, gen) in [
        ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..]),
        ("p256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..]),
        ("p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..]),
    ] {
        let key = PrivateKey::from_pem(openssl(&[&["genpkey"], gen].concat()).as_bytes()).unwrap();
        for cipher in CIPHERS {
            let path = dir.join(format!("{kind}-{cipher}.key"));
            let pem = key.to_encrypted_pkcs8_pem(PASS.as_bytes(), cipher).unwrap();
            write_secret(&path, pem.as_bytes());
            let file = path.to_str().unwrap();
            let public = openssl(&["pkey", "-in", file, "-passin", &pass_arg, "-pubout"]);
            assert_eq!(public, spki_pem(&key), "{kind} {cipher}: openssl's public key");
            let parsed = openssl(&["asn1parse", "-in", file]);
            for want in [":PBES2", ":scrypt", ":4000", &format!(":{cipher}")] {
                assert!(parsed.contains(want), "{kind} {cipher}: no {want} in\n{parsed}");
            }
            for wrong in ["pass:", "pass:correct horse – battery stapl", "pass:wrong"] {
                let out = openssl_output(&["pkey", "-in", file, "-passin", wrong, "-noout"]);
                assert!(!out.status.success(), "{kind} {cipher}: openssl read it with -passin {wrong}");
            }
        }
    }
}

/// Keys openssl encrypts now (PKCS#8 AES-256 and DES-EDE3, BF-CBC in PKCS#8
/// and traditional form, traditional AES-256 and DES-EDE3) are read by
/// acmebot to openssl's public key; a wrong passphrase is WrongPassphrase.
#[test]
fn acmebot_reads_what_openssl_writes() {
    assert_legacy_provider();
    let dir = temp_dir("encrypted-keys-acmebot-reads");
    let pass_arg = format!("pass:{PASS}");
    for (kind, gen) in [
        ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..]),
        ("p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..]),
    ] {
        let plain = dir.join(format!("{kind}.pem"));
        let plain = plain.to_str().unwrap();
        openssl(&[&["genpkey"], gen, &["-out", plain]].concat());
        let public = openssl(&["pkey", "-in", plain, "-pubout"]);
        let forms: [(&str, Vec<&str>); 7] = [
            ("pkey -aes256", vec!["pkey", "-aes256"]),
            ("pkey -des3", vec!["pkey", "-des3"]),
            ("pkcs8 -v2 bf-cbc", [&["pkcs8", "-topk8", "-v2", "bf-cbc"][..], &LEGACY].concat()),
            ("pkcs8 -scrypt", vec!["pkcs8", "-topk8", "-scrypt"]),
            ("pkey -traditional -aes256", vec!["pkey", "-traditional", "-aes256"]),
            ("pkey -traditional -des3", vec!["pkey", "-traditional", "-des3"]),
            ("pkey -traditional -bf", [&["pkey", "-traditional", "-bf"][..], &LEGACY].concat()),
        ];
        for (what, args) in forms {
            let pem = openssl(&[&args[..], &["-in", plain, "-passout", &pass_arg]].concat());
            assert!(crypto::is_encrypted_pem(pem.as_bytes()), "{kind} {what}");
            assert_eq!(PrivateKey::from_pem(pem.as_bytes()).unwrap_err(), CryptoError::EncryptedKey, "{kind} {what}");
            let key = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS.as_bytes())
                .unwrap_or_else(|e| panic!("{kind} {what}: {e}"));
            assert_eq!(spki_pem(&key), public, "{kind} {what}");
            let err = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"wrong").unwrap_err();
            assert_eq!(err, CryptoError::WrongPassphrase, "{kind} {what}");
            assert!(!err.to_string().contains("wrong\""), "{kind} {what}: {err}");
        }
    }
}

/// The original's key generation and save_private_key, verbatim in effect:
/// RSA from `PKey.generate_key`, EC from cryptography's TraditionalOpenSSL
/// PEM loaded into a PKey, then `dump_privatekey(FILETYPE_PEM, key, cipher,
/// passphrase.encode('utf-8'))`; the public key follows.
const ORIGINAL_SAVE: &str = r#"
import os, sys
import OpenSSL
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, NoEncryption
kind, cipher = sys.argv[1], sys.argv[2]
if kind == 'rsa':
    key = OpenSSL.crypto.PKey()
    key.generate_key(OpenSSL.crypto.TYPE_RSA, 2048)
else:
    curve = {'secp256r1': ec.SECP256R1(), 'secp384r1': ec.SECP384R1()}[kind]
    k = ec.generate_private_key(curve, default_backend())
    key_pem = k.private_bytes(encoding=Encoding.PEM, format=PrivateFormat.TraditionalOpenSSL,
                              encryption_algorithm=NoEncryption())
    key = OpenSSL.crypto.load_privatekey(OpenSSL.crypto.FILETYPE_PEM, key_pem)
passphrase = os.environ['KEY_PASSPHRASE']
sys.stdout.write(OpenSSL.crypto.dump_privatekey(OpenSSL.crypto.FILETYPE_PEM, key, cipher,
                                                passphrase.encode('utf-8')).decode('ascii'))
sys.stdout.write(OpenSSL.crypto.dump_publickey(OpenSSL.crypto.FILETYPE_PEM, key).decode('ascii'))
"#;

/// The original's load_private_key: `load_privatekey(FILETYPE_PEM, pem,
/// passphrase.encode('utf-8'))`; prints the public key.
const ORIGINAL_LOAD: &str = r#"
import os, sys
import OpenSSL
key_pem = open(sys.argv[1]).read()
key = OpenSSL.crypto.load_privatekey(OpenSSL.crypto.FILETYPE_PEM, key_pem.encode('ascii'),
                                     os.environ['KEY_PASSPHRASE'].encode('utf-8'))
sys.stdout.write(OpenSSL.crypto.dump_publickey(OpenSSL.crypto.FILETYPE_PEM, key).decode('ascii'))
"#;

fn original(script: &str, args: &[&str], passphrase: &str) -> Output {
    Command::new(original_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .env("KEY_PASSPHRASE", passphrase)
        .stdin(Stdio::null())
        .output()
        .expect("the original's Python runs")
}

/// Keys the original wrote with its default cipher "blowfish" (PKCS#8 PBES2
/// with BF-CBC) and with aes256 and des3 are read to its public key.
#[test]
fn acmebot_reads_what_the_original_writes() {
    for (kind, cipher) in [
        ("rsa", "blowfish"),
        ("secp256r1", "blowfish"),
        ("secp384r1", "blowfish"),
        ("rsa", "aes256"),
        ("secp256r1", "des3"),
    ] {
        let out = original(ORIGINAL_SAVE, &[kind, cipher], PASS);
        assert!(out.status.success(), "{kind} {cipher}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let split = text.find("-----BEGIN PUBLIC KEY-----").expect("the public key follows");
        let (pem, public) = text.split_at(split);
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{kind} {cipher}: {}", &pem[..40]);
        let key = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS.as_bytes())
            .unwrap_or_else(|e| panic!("{kind} {cipher}: {e}"));
        assert_eq!(spki_pem(&key), public, "{kind} {cipher}");
        assert_eq!(
            PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"wrong").unwrap_err(),
            CryptoError::WrongPassphrase,
            "{kind} {cipher}"
        );
        assert_eq!(PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"").unwrap_err(), CryptoError::EncryptedKey);
    }
}

/// What acmebot writes, the original loads with the passphrase (to the same
/// public key) and refuses with a wrong one: going back to it keeps working.
#[test]
fn the_original_reads_what_acmebot_writes() {
    let dir = temp_dir("encrypted-keys-original-reads");
    let keys = [
        ("rsa", PrivateKey::generate_rsa(2048).unwrap()),
        (
            "p256",
            PrivateKey::from_pem(
                openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]).as_bytes(),
            )
            .unwrap(),
        ),
    ];
    for (kind, key) in &keys {
        for cipher in CIPHERS {
            let path = dir.join(format!("{kind}-{cipher}.key"));
            write_secret(&path, key.to_encrypted_pkcs8_pem(PASS.as_bytes(), cipher).unwrap().as_bytes());
            let file = path.to_str().unwrap();
            let out = original(ORIGINAL_LOAD, &[file], PASS);
            assert!(out.status.success(), "{kind} {cipher}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8(out.stdout).unwrap(), spki_pem(key), "{kind} {cipher}");
            let out = original(ORIGINAL_LOAD, &[file], "wrong");
            assert!(!out.status.success(), "{kind} {cipher}: the original read it with a wrong passphrase");
        }
    }
}
