use super::*;
use crate::types::Curve;
use der::Encode as _;

/// The passphrase of every fixture (made by `src/crypto/fixtures/encrypted/make`).
const PASS: &[u8] = b"acmebot test passphrase";

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../fixtures/encrypted/", $name, ".pem")))
    };
}

/// src/crypto/tests.rs's unencrypted PKCS#1 and SEC1 keys.
mod crypto_fixtures {
    #![allow(dead_code)]
    include!("../fixtures.rs");
    pub(super) const RSA_PKCS1: &str = RSA_PKCS1_PEM;
    pub(super) const EC_SEC1: &str = EC256_SEC1_PEM;
}

const RSA: &str = include_str!("../fixtures/encrypted/rsa.pem");
const EC: &str = include_str!("../fixtures/encrypted/ec.pem");

/// Every encrypted form of `rsa.pem`, as openssl wrote it.
const RSA_FIXTURES: &[(&str, &str)] = &[
    fixture!("rsa-pkcs8-aes256"),
    fixture!("rsa-pkcs8-aes128"),
    fixture!("rsa-pkcs8-aes192"),
    fixture!("rsa-pkcs8-des3"),
    fixture!("rsa-pkcs8-pbkdf2-sha256"),
    fixture!("rsa-pkcs8-pbkdf2-sha1"),
    fixture!("rsa-pkcs8-pbkdf2-sha512"),
    fixture!("rsa-pkcs8-scrypt"),
    fixture!("rsa-pkcs8-bf"),
    fixture!("rsa-pkcs8-bf-sha1"),
    fixture!("rsa-pkcs8-bf-scrypt"),
    fixture!("rsa-trad-aes256"),
    fixture!("rsa-trad-aes128"),
    fixture!("rsa-trad-des3"),
    fixture!("rsa-trad-bf"),
    fixture!("rsa-trad-des"),
    fixture!("rsa-trad-pkcs8-aes128"),
];

/// Every encrypted form of `ec.pem`, as openssl wrote it.
const EC_FIXTURES: &[(&str, &str)] = &[
    fixture!("ec-pkcs8-aes256"),
    fixture!("ec-pkcs8-aes128"),
    fixture!("ec-pkcs8-aes192"),
    fixture!("ec-pkcs8-des3"),
    fixture!("ec-pkcs8-pbkdf2-sha256"),
    fixture!("ec-pkcs8-pbkdf2-sha1"),
    fixture!("ec-pkcs8-pbkdf2-sha512"),
    fixture!("ec-pkcs8-scrypt"),
    fixture!("ec-pkcs8-bf"),
    fixture!("ec-pkcs8-bf-sha1"),
    fixture!("ec-pkcs8-bf-scrypt"),
    fixture!("ec-trad-aes256"),
    fixture!("ec-trad-aes128"),
    fixture!("ec-trad-des3"),
    fixture!("ec-trad-bf"),
    fixture!("ec-trad-des"),
];

const ALL_CIPHERS: [KeyCipher; 3] = [KeyCipher::Aes128Cbc, KeyCipher::Aes192Cbc, KeyCipher::Aes256Cbc];

fn all_fixtures() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    RSA_FIXTURES.iter().map(|(n, p)| (*n, *p, RSA)).chain(EC_FIXTURES.iter().map(|(n, p)| (*n, *p, EC)))
}

/// The fixtures that are not scrypt (fast in a debug build) and their originals.
fn fast_fixtures() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    all_fixtures().filter(|(name, ..)| !name.contains("scrypt"))
}

fn assert_same_key(got: &PrivateKey, want: &PrivateKey, what: &str) {
    assert_eq!(got.spki_der(), want.spki_der(), "{what}: public key");
    assert_eq!(got.pkcs8_der(), want.pkcs8_der(), "{what}: PKCS#8");
}

/// Whether an error's Display and Debug are free of the passphrase and of
/// every line (even half a line) of the PEM it came from.
fn assert_no_secret(err: &CryptoError, passphrase: &[u8], pem: &str) {
    for text in [err.to_string(), format!("{err:?}")] {
        if !passphrase.is_empty() {
            assert!(!text.as_bytes().windows(passphrase.len()).any(|w| w == passphrase), "passphrase in {text:?}");
        }
        for line in pem.lines().filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
            assert!(!text.contains(&line[..16]), "PEM content in {text:?}");
        }
    }
}

#[test]
fn openssl_fixtures_decrypt_to_the_originals() {
    for (name, pem, original) in all_fixtures() {
        let want = PrivateKey::from_pem(original.as_bytes()).unwrap();
        assert!(is_encrypted_pem(pem.as_bytes()), "{name}");
        assert_eq!(PrivateKey::from_pem(pem.as_bytes()).unwrap_err(), CryptoError::EncryptedKey, "{name}");
        let got = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_key(&got, &want, name);
    }
}

#[test]
fn openssl_fixtures_wrong_or_no_passphrase() {
    for (name, pem, _) in fast_fixtures() {
        for wrong in [b"acmebot test passphrasE".as_slice(), b"x", b"acmebot test passphrase "] {
            let err = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), wrong).unwrap_err();
            assert_eq!(err, CryptoError::WrongPassphrase, "{name}");
            assert_no_secret(&err, wrong, pem);
        }
        let err = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"").unwrap_err();
        assert_eq!(err, CryptoError::EncryptedKey, "{name}");
    }
    // scrypt too, once.
    let (name, pem) = RSA_FIXTURES.iter().find(|(n, _)| n.contains("scrypt")).unwrap();
    let err = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"wrong").unwrap_err();
    assert_eq!(err, CryptoError::WrongPassphrase, "{name}");
}

#[test]
fn round_trip_every_cipher() {
    let keys = [
        PrivateKey::from_pem(RSA.as_bytes()).unwrap(),
        PrivateKey::from_pem(EC.as_bytes()).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P384).unwrap(),
    ];
    for key in &keys {
        for cipher in ALL_CIPHERS {
            let what = format!("{key:?} {cipher}");
            let pem = key.to_encrypted_pkcs8_pem(PASS, cipher).unwrap();
            assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{what}");
            assert!(pem.ends_with("-----END ENCRYPTED PRIVATE KEY-----\n"), "{what}");
            assert!(is_encrypted_pem(pem.as_bytes()), "{what}");
            assert_eq!(PrivateKey::from_pem(pem.as_bytes()).unwrap_err(), CryptoError::EncryptedKey, "{what}");
            let back = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS).unwrap();
            assert_same_key(&back, key, &what);
            let err = PrivateKey::from_pem_with_passphrase(pem.as_bytes(), b"not it").unwrap_err();
            assert_eq!(err, CryptoError::WrongPassphrase, "{what}");
            assert_no_secret(&err, b"not it", &pem);
        }
    }
}

/// What is written: PBES2, scrypt N=2^14 r=8 p=1 with a 16-byte salt, the
/// chosen AES-CBC with a 16-byte IV; salt and IV new every time.
#[test]
fn written_parameters() {
    let key = PrivateKey::from_pem(EC.as_bytes()).unwrap();
    let mut salts = Vec::new();
    for cipher in ALL_CIPHERS {
        let pem = key.to_encrypted_pkcs8_pem(PASS, cipher).unwrap();
        let block = first_key_block(pem.as_bytes()).unwrap().unwrap();
        assert_eq!(block.label, KeyLabel::EncryptedPkcs8);
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.der.as_slice()).unwrap();
        let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else { panic!("not PBES2") };
        let pbes2::Kdf::Scrypt(s) = &params.kdf else { panic!("not scrypt") };
        assert_eq!((s.cost_parameter, s.block_size, s.parallelization), (16384, 8, 1));
        assert_eq!(s.salt.len(), 16);
        assert_eq!(s.key_length, None);
        let iv = match (cipher, params.encryption) {
            (KeyCipher::Aes128Cbc, pbes2::EncryptionScheme::Aes128Cbc { iv })
            | (KeyCipher::Aes192Cbc, pbes2::EncryptionScheme::Aes192Cbc { iv })
            | (KeyCipher::Aes256Cbc, pbes2::EncryptionScheme::Aes256Cbc { iv }) => *iv,
            other => panic!("{other:?}"),
        };
        salts.push(s.salt.to_vec());
        salts.push(iv.to_vec());
        // The ciphertext is the PKCS#8 DER padded to whole blocks.
        assert_eq!(info.encrypted_data.len(), (key.pkcs8_der().len() / 16 + 1) * 16);
    }
    salts.sort();
    salts.dedup();
    assert_eq!(salts.len(), 6, "salts and IVs are random");
}

#[test]
fn damaged_key() {
    let key = PrivateKey::from_pem(RSA.as_bytes()).unwrap();
    let pem = key.to_encrypted_pkcs8_pem(PASS, KeyCipher::Aes256Cbc).unwrap();
    let block = first_key_block(pem.as_bytes()).unwrap().unwrap();
    let mut der = block.der.to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x55; // the last block: the padding goes wrong
    let damaged = pem_encode("ENCRYPTED PRIVATE KEY", &der);
    assert_eq!(
        PrivateKey::from_pem_with_passphrase(damaged.as_bytes(), PASS).unwrap_err(),
        CryptoError::WrongPassphrase
    );
    // A line (48 bytes, whole blocks) left out; a line cut short (no whole block).
    let (name, trad) = RSA_FIXTURES.iter().find(|(n, _)| *n == "rsa-trad-aes256").unwrap();
    let cut: String = trad.lines().enumerate().filter(|(i, _)| *i != 5).map(|(_, l)| format!("{l}\n")).collect();
    let short = trad.replacen(trad.lines().nth(4).unwrap(), &trad.lines().nth(4).unwrap()[..60], 1);
    for bad in [cut, short] {
        let err = PrivateKey::from_pem_with_passphrase(bad.as_bytes(), PASS).unwrap_err();
        assert!(matches!(err, CryptoError::WrongPassphrase | CryptoError::InvalidPem(_)), "{name}: {err:?}");
        assert_no_secret(&err, PASS, trad);
    }
}

/// A minimal DER TLV (short or long length form), for hand-made structures.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n @ 0..=127 => out.push(n as u8),
        n @ 128..=255 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    ObjectIdentifier::new(dotted).unwrap().to_der().unwrap()
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn encrypted_pem(alg: Vec<u8>) -> String {
    pem_encode("ENCRYPTED PRIVATE KEY", &seq(&[alg, tlv(0x04, &[0x42; 48])]))
}

fn pbes2_pbkdf2(prf: &str, cipher: &str, iv_len: usize) -> Vec<u8> {
    let pbkdf2 =
        seq(&[oid("1.2.840.113549.1.5.12"), seq(&[tlv(0x04, &[7; 16]), tlv(0x02, &[8, 0]), seq(&[oid(prf)])])]);
    seq(&[oid("1.2.840.113549.1.5.13"), seq(&[pbkdf2, seq(&[oid(cipher), tlv(0x04, &vec![1; iv_len])])])])
}

fn unsupported(pem: &str) -> String {
    match PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS) {
        Err(CryptoError::UnsupportedEncryption(m)) => {
            assert_no_secret(&CryptoError::UnsupportedEncryption(m.clone()), PASS, pem);
            m
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_encryption_is_named() {
    // PBES2 with a cipher acmebot does not read.
    let m = unsupported(&encrypted_pem(pbes2_pbkdf2("1.2.840.113549.2.9", "1.2.392.200011.61.1.1.1.4", 16)));
    assert_eq!(m, "PBES2 with PBKDF2 (hmacWithSHA256) and camellia-256-cbc");
    // A PRF the pkcs8 crate does not know (hmacWithSHA512-256), with AES.
    let m = unsupported(&encrypted_pem(pbes2_pbkdf2("1.2.840.113549.2.13", "2.16.840.1.101.3.4.1.42", 16)));
    assert_eq!(m, "PBES2 with PBKDF2 (hmacWithSHA512-256) and aes-256-cbc");
    // BF-CBC with hmacWithSHA224 (aws-lc has no PBKDF2-HMAC-SHA224).
    let m = unsupported(&encrypted_pem(pbes2_pbkdf2("1.2.840.113549.2.8", "1.3.6.1.4.1.3029.1.2", 8)));
    assert_eq!(m, "PBES2 with PBKDF2 (hmacWithSHA224) and bf-cbc");
    // PKCS#12 PBE (OpenSSL 1.0's `openssl pkcs8 -topk8` default) and an unknown scheme.
    let pbe = |o: &str| seq(&[oid(o), seq(&[tlv(0x04, &[1; 8]), tlv(0x02, &[8, 0])])]);
    assert_eq!(unsupported(&encrypted_pem(pbe("1.2.840.113549.1.12.1.3"))), "PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC");
    assert_eq!(unsupported(&encrypted_pem(pbe("1.2.840.113549.1.5.3"))), "PBES1 pbeWithMD5AndDES-CBC");
    assert_eq!(unsupported(&encrypted_pem(pbe("1.3.6.1.4.1.99999.1"))), "OID 1.3.6.1.4.1.99999.1");
    // Traditional encryption with a cipher acmebot does not read.
    let (_, trad) = RSA_FIXTURES.iter().find(|(n, _)| *n == "rsa-trad-aes256").unwrap();
    let m = unsupported(&trad.replace("DEK-Info: AES-256-CBC,", "DEK-Info: CAMELLIA-256-CBC,"));
    assert!(m.starts_with("traditional PEM encryption with CAMELLIA-256-CBC ("), "{m}");
    let m = unsupported(&trad.replace("DEK-Info: AES-256-CBC,", "DEK-Info: $(rm -rf),"));
    assert!(m.starts_with("traditional PEM encryption with an unknown cipher ("), "{m}");
}

#[test]
fn costly_kdf_parameters_are_refused() {
    let (salt, iv) = ([1u8; 16], [2u8; 16]);
    let encrypted = |kdf: pbes2::Kdf<'_>| {
        let params = pbes2::Parameters { kdf, encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &iv } };
        let info = pkcs8::EncryptedPrivateKeyInfo { encryption_algorithm: params.into(), encrypted_data: &[0; 32] };
        pem_encode("ENCRYPTED PRIVATE KEY", &info.to_der().unwrap())
    };
    let scrypt = |n: u64, r: u16, p: u16| {
        pbes2::Kdf::Scrypt(pbes2::ScryptParams {
            salt: &salt,
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: None,
        })
    };
    assert!(unsupported(&encrypted(scrypt(1 << 20, 8, 1))).starts_with("scrypt with N=1048576, r=8, p=1"));
    assert!(unsupported(&encrypted(scrypt(1 << 14, 8, 64))).starts_with("scrypt with N=16384, r=8, p=64"));
    let mut pbkdf2 = pbes2::Pbkdf2Params::hmac_with_sha256(50_000_000, &salt).unwrap();
    assert!(unsupported(&encrypted(pbkdf2.into())).starts_with("PBKDF2 with 50000000 iterations"));
    // Within the limits, the parameters are used: the data is wrong.
    pbkdf2.iteration_count = 1;
    assert_eq!(
        PrivateKey::from_pem_with_passphrase(encrypted(pbkdf2.into()).as_bytes(), PASS).unwrap_err(),
        CryptoError::WrongPassphrase
    );
}

#[test]
fn pem_sections() {
    // Unencrypted PEM is read as from_pem reads it, passphrase or not.
    for pem in [RSA, EC, crypto_fixtures::RSA_PKCS1, crypto_fixtures::EC_SEC1] {
        assert_same_key(
            &PrivateKey::from_pem_with_passphrase(pem.as_bytes(), PASS).unwrap(),
            &PrivateKey::from_pem(pem.as_bytes()).unwrap(),
            "unencrypted",
        );
    }
    assert_eq!(PrivateKey::from_pem_with_passphrase(b"nothing", PASS).unwrap_err(), CryptoError::NoPrivateKey);
    // Other sections first, CRLF line ends, white space around lines.
    let (_, ec_bf) = EC_FIXTURES.iter().find(|(n, _)| *n == "ec-trad-bf").unwrap();
    let bundle = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
        ec_bf.replace('\n', " \r\n")
    );
    assert_same_key(
        &PrivateKey::from_pem_with_passphrase(bundle.as_bytes(), PASS).unwrap(),
        &PrivateKey::from_pem(EC.as_bytes()).unwrap(),
        "bundle",
    );
    // No END line, bad base64, encrypted without DEK-Info: the structure is named, not quoted.
    let (_, rsa_aes) = RSA_FIXTURES.iter().find(|(n, _)| *n == "rsa-trad-aes256").unwrap();
    let no_end = rsa_aes.replace("-----END RSA PRIVATE KEY-----", "");
    let bad_b64 = rsa_aes.replacen("\n\n", "\n\n*", 1);
    let no_dek: String = rsa_aes.lines().filter(|l| !l.starts_with("DEK-Info")).map(|l| format!("{l}\n")).collect();
    let bad_iv = rsa_aes.replacen("AES-256-CBC,", "AES-256-CBC,00", 1);
    for bad in [no_end, bad_b64, no_dek, bad_iv] {
        let err = PrivateKey::from_pem_with_passphrase(bad.as_bytes(), PASS).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidPem(_)), "{err:?}");
        assert_no_secret(&err, PASS, rsa_aes);
    }
}

#[test]
fn evp_bytes_to_key() {
    // D1 = MD5(pass || salt), D2 = MD5(D1 || pass || salt), key = (D1 || D2)[..len].
    let key = evp_bytes_to_key_md5(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
    assert_eq!(key.len(), 32);
    let d1 = crate::dns::md5::md5(&[b"password".as_slice(), &[1, 2, 3, 4, 5, 6, 7, 8]].concat());
    assert_eq!(&key[..16], &d1);
    let d2 = crate::dns::md5::md5(&[d1.as_slice(), b"password", &[1, 2, 3, 4, 5, 6, 7, 8]].concat());
    assert_eq!(&key[16..], &d2);
    assert_eq!(evp_bytes_to_key_md5(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 24).as_slice(), &key[..24]);
}

#[test]
fn key_cipher_names() {
    let aes = |name: &str, want: KeyCipher| {
        assert_eq!(key_cipher(name), Ok((want, None)), "{name}");
    };
    for name in ["aes-128-cbc", "aes128", "AES-128-CBC", "Aes128"] {
        aes(name, KeyCipher::Aes128Cbc);
    }
    for name in ["aes-192-cbc", "aes192", "AES192"] {
        aes(name, KeyCipher::Aes192Cbc);
    }
    for name in ["aes-256-cbc", "aes256", "AES-256-CBC", " aes256 "] {
        aes(name, KeyCipher::Aes256Cbc);
    }
    let mapped = [
        "blowfish",
        "bf",
        "bf-cbc",
        "BF-CBC",
        "des3",
        "des-ede3-cbc",
        "des-ede3",
        "des-ede-cbc",
        "desx",
        "camellia-128-cbc",
        "camellia192",
        "camellia-256-cbc",
        "aria-128-cbc",
        "aria256",
        "seed",
        "seed-cbc",
        "cast5-cbc",
        "cast",
        "idea",
        "idea-cbc",
        "sm4",
    ];
    for name in mapped {
        let (cipher, note) = key_cipher(name).unwrap();
        assert_eq!(cipher, KeyCipher::Aes256Cbc, "{name}");
        let note = note.unwrap_or_else(|| panic!("{name}: no note"));
        assert!(note.starts_with(&format!("key_cipher {name:?}")), "{note}");
        assert!(note.ends_with("so private keys are written with aes-256-cbc instead"), "{note}");
        assert_eq!(note.matches(". ").count(), 0, "one sentence: {note}");
    }
    assert_eq!(
        key_cipher("blowfish").unwrap().1.unwrap(),
        "key_cipher \"blowfish\" (bf-cbc): OpenSSL 3 reads it only with its legacy provider, \
         so private keys are written with aes-256-cbc instead"
    );
    let refused = [
        ("des", "single DES"),
        ("des-cbc", "single DES"),
        ("DES-CBC", "single DES"),
        ("des-ecb", "single DES"),
        ("rc2", "RC2, RC4"),
        ("rc2-cbc", "RC2, RC4"),
        ("rc2-40-cbc", "RC2, RC4"),
        ("rc4", "RC2, RC4"),
        ("aes-256-ecb", "ECB mode"),
        ("aes-128-ctr", "stream, AEAD"),
        ("aes-256-gcm", "stream, AEAD"),
        ("aes-256-ccm", "stream, AEAD"),
        ("aes-256-ocb", "stream, AEAD"),
        ("aes-256-cfb", "stream, AEAD"),
        ("aes-256-cfb8", "stream, AEAD"),
        ("aes-256-ofb", "stream, AEAD"),
        ("aes-256-xts", "stream, AEAD"),
        ("chacha20", "stream, AEAD"),
        ("chacha20-poly1305", "stream, AEAD"),
        ("aes-128-cbc-hmac-sha1", "stream, AEAD"),
        ("des-ede", "ECB mode"),
        ("bf-ecb", "ECB mode"),
        ("rot13", "not a cipher name acmebot knows"),
        ("", "not a cipher name acmebot knows"),
    ];
    for (name, why) in refused {
        let err = key_cipher(name).unwrap_err();
        assert!(err.starts_with(&format!("unsupported key_cipher {name:?}: ")), "{err}");
        assert!(err.contains(why), "{name}: {err}");
        assert!(err.contains("aes-256-cbc (aes256), aes-192-cbc (aes192) or aes-128-cbc (aes128)"), "{err}");
    }
}

#[test]
fn error_display() {
    assert_eq!(
        CryptoError::EncryptedKey.to_string(),
        "the private key is encrypted: a passphrase is needed (key_passphrase)"
    );
    assert_eq!(
        CryptoError::WrongPassphrase.to_string(),
        "cannot decrypt the private key: wrong passphrase (or a damaged key)"
    );
    assert_eq!(
        CryptoError::UnsupportedEncryption("PBES2 with scrypt and rc2-cbc".into()).to_string(),
        "unsupported private key encryption: PBES2 with scrypt and rc2-cbc"
    );
}
