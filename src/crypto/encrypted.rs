//! Passphrase-protected private keys.
//!
//! Written: PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2, scrypt N=2^14 r=8 p=1,
//! AES-CBC), which OpenSSL 1.1 and 3 read with its default provider.
//!
//! Read:
//! - PKCS#8 `ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2 (HMAC-SHA1/224/256/
//!   384/512) or scrypt and AES-128/192/256-CBC or DES-EDE3-CBC (the `pkcs8`
//!   crate), and PBES2 with BF-CBC: what the original wrote
//!   (pyOpenSSL's `dump_privatekey(PEM, key, "blowfish", pass)` is OpenSSL's
//!   `PEM_write_bio_PrivateKey`, which writes PKCS#8 since OpenSSL 1.0);
//! - OpenSSL's traditional PEM encryption (`Proc-Type: 4,ENCRYPTED`,
//!   `DEK-Info: <cipher>,<iv>`) with BF-CBC, AES-128/192/256-CBC,
//!   DES-EDE3-CBC or DES-CBC: key = EVP_BytesToKey(MD5, salt = the IV's
//!   first 8 bytes, count 1), PKCS#7 padding; the inner block is
//!   `RSA PRIVATE KEY`, `EC PRIVATE KEY` or `PRIVATE KEY`.
//!
//! Secrets (passphrases, derived keys, plaintext) are never in an error, a
//! `Debug` output or a panic message; derived keys and decrypted key bytes
//! are zeroed when dropped.

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipher, BlockDecryptMut, KeyInit, KeyIvInit};
use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::zeroize::Zeroizing;
use der::{Decode, Reader as _, Tag, Tagged as _};
use pkcs8::pkcs5::{self, pbes2};
use pkcs8::AlgorithmIdentifierRef;

use super::{is_encrypted_pem, pem_encode, CryptoError, PrivateKey, Result};
use crate::dns::md5::Md5;

// ---------------------------------------------------------------------------
// key_cipher

/// The cipher of written keys, from `key_cipher` (see [`key_cipher`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyCipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
}

impl KeyCipher {
    /// OpenSSL's name of the cipher.
    pub fn name(self) -> &'static str {
        match self {
            KeyCipher::Aes128Cbc => "aes-128-cbc",
            KeyCipher::Aes192Cbc => "aes-192-cbc",
            KeyCipher::Aes256Cbc => "aes-256-cbc",
        }
    }
}

impl fmt::Display for KeyCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a cipher name is written as AES-256-CBC instead.
const LEGACY_PROVIDER: &str = "OpenSSL 3 reads it only with its legacy provider";
const OBSOLETE_DES: &str = "triple DES is obsolete (64-bit blocks; NIST withdrew it)";
const AES_ONLY: &str = "acmebot writes keys with AES only, which every OpenSSL reads";

/// CBC block ciphers that are written as AES-256-CBC: (names, OpenSSL's
/// canonical name, why).
const MAPPED: &[(&[&str], &str, &str)] = &[
    (&["blowfish", "bf", "bf-cbc"], "bf-cbc", LEGACY_PROVIDER),
    (&["des3", "des-ede3-cbc", "des-ede3"], "des-ede3-cbc", OBSOLETE_DES),
    (&["des-ede-cbc"], "des-ede-cbc", OBSOLETE_DES),
    (&["desx", "desx-cbc"], "desx-cbc", LEGACY_PROVIDER),
    (&["cast", "cast-cbc", "cast5-cbc"], "cast5-cbc", LEGACY_PROVIDER),
    (&["idea", "idea-cbc"], "idea-cbc", LEGACY_PROVIDER),
    (&["seed", "seed-cbc"], "seed-cbc", LEGACY_PROVIDER),
    (&["camellia128", "camellia-128-cbc"], "camellia-128-cbc", AES_ONLY),
    (&["camellia192", "camellia-192-cbc"], "camellia-192-cbc", AES_ONLY),
    (&["camellia256", "camellia-256-cbc"], "camellia-256-cbc", AES_ONLY),
    (&["aria128", "aria-128-cbc"], "aria-128-cbc", AES_ONLY),
    (&["aria192", "aria-192-cbc"], "aria-192-cbc", AES_ONLY),
    (&["aria256", "aria-256-cbc"], "aria-256-cbc", AES_ONLY),
    (&["sm4", "sm4-cbc"], "sm4-cbc", AES_ONLY),
];

const ALLOWED: &str = "key_cipher must be an AES-CBC cipher: aes-256-cbc (aes256), aes-192-cbc (aes192) \
     or aes-128-cbc (aes128); other CBC block ciphers (e.g. blowfish) are written as aes-256-cbc";

/// The original's `key_cipher` names (OpenSSL `EVP_get_cipherbyname` names,
/// case-insensitive) as the cipher acmebot writes keys with.
///
/// - `aes-128-cbc`/`aes128`, `aes-192-cbc`/`aes192`, `aes-256-cbc`/`aes256`:
///   that AES, no note;
/// - the other CBC block ciphers OpenSSL knows (`blowfish`, the original's
///   default, `bf`, `bf-cbc`, `des3`, `des-ede3-cbc`, `des-ede3`, camellia,
///   aria, seed, cast5, idea, desx, sm4): AES-256-CBC and a one-sentence note
///   saying so and why (the caller shows it at most once, and not for the
///   default `blowfish`);
/// - single DES, RC2, RC4, stream, AEAD and ECB modes, unknown names: an
///   error that names what is allowed.
pub fn key_cipher(name: &str) -> std::result::Result<(KeyCipher, Option<String>), String> {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "aes-128-cbc" | "aes128" => return Ok((KeyCipher::Aes128Cbc, None)),
        "aes-192-cbc" | "aes192" => return Ok((KeyCipher::Aes192Cbc, None)),
        "aes-256-cbc" | "aes256" => return Ok((KeyCipher::Aes256Cbc, None)),
        _ => {}
    }
    if let Some((_, canonical, why)) = MAPPED.iter().find(|(names, ..)| names.contains(&lower.as_str())) {
        let shown = if lower == *canonical { format!("{name:?}") } else { format!("{name:?} ({canonical})") };
        return Ok((
            KeyCipher::Aes256Cbc,
            Some(format!("key_cipher {shown}: {why}, so private keys are written with aes-256-cbc instead")),
        ));
    }
    let why = if lower == "des" || lower.starts_with("des-") && !lower.starts_with("des-ede") {
        "single DES is broken (56-bit keys)"
    } else if lower.starts_with("rc2") || lower.starts_with("rc4") || lower.starts_with("rc5") {
        "RC2, RC4 and RC5 are broken"
    } else if ["ecb", "ctr", "gcm", "ccm", "ocb", "cfb", "cfb1", "cfb8", "ofb", "xts", "wrap", "siv", "poly1305"]
        .iter()
        .any(|mode| lower.ends_with(&format!("-{mode}")))
        || lower.starts_with("chacha")
        || lower.contains("-hmac-")
        || lower == "des-ede"
    {
        "PKCS#8 keys are encrypted with a block cipher in CBC mode, not with a stream, AEAD or ECB mode"
    } else {
        "not a cipher name acmebot knows"
    };
    Err(format!("unsupported key_cipher {name:?}: {why}; {ALLOWED}"))
}

// ---------------------------------------------------------------------------
// Writing

/// scrypt cost of written keys: N = 2^14, r = 8, p = 1 (16 MiB). OpenSSL
/// reads PBES2 scrypt keys with at most 32 MiB (`SCRYPT_MAX_MEM`), so 2^15
/// (the `pkcs8` crate's default) would be unreadable by `openssl pkey`.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

impl PrivateKey {
    /// PKCS#8 `ENCRYPTED PRIVATE KEY` PEM: PBES2 with scrypt (N=2^14, r=8,
    /// p=1, a random 16-byte salt) and `cipher` with a random IV, as
    /// `openssl pkcs8 -topk8 -scrypt` writes; `openssl pkey -passin pass:X`
    /// reads it. The passphrase is used as given (bytes, e.g. UTF-8).
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8], cipher: KeyCipher) -> Result<String> {
        let rng = SystemRandom::new();
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill(&mut salt).and_then(|()| rng.fill(&mut iv)).map_err(|_| CryptoError::KeyGeneration("random salt"))?;
        let unsupported = || CryptoError::UnsupportedEncryption(format!("PBES2 with scrypt and {cipher}"));
        let scrypt = pkcs5::scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, cipher_key_len(cipher))
            .map_err(|_| unsupported())?;
        let kdf = pbes2::ScryptParams::from_params_and_salt(scrypt, &salt).map_err(|_| unsupported())?;
        let encryption = match cipher {
            KeyCipher::Aes128Cbc => pbes2::EncryptionScheme::Aes128Cbc { iv: &iv },
            KeyCipher::Aes192Cbc => pbes2::EncryptionScheme::Aes192Cbc { iv: &iv },
            KeyCipher::Aes256Cbc => pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
        };
        let params = pbes2::Parameters { kdf: kdf.into(), encryption };
        let info = pkcs8::PrivateKeyInfo::try_from(self.pkcs8.as_slice())
            .map_err(|_| CryptoError::InvalidKey { format: "PKCS#8" })?;
        let doc = info.encrypt_with_params(params, passphrase).map_err(|_| unsupported())?;
        Ok(pem_encode("ENCRYPTED PRIVATE KEY", doc.as_bytes()))
    }

    /// The first private key in PEM data, decrypted with `passphrase` when it
    /// is encrypted (see the module documentation for the formats); an
    /// unencrypted key is read as [`PrivateKey::from_pem`] reads it.
    ///
    /// A wrong passphrase (or a damaged key) gives
    /// [`CryptoError::WrongPassphrase`], except that an empty passphrase gives
    /// [`CryptoError::EncryptedKey`] (a passphrase is needed).
    pub fn from_pem_with_passphrase(pem: &[u8], passphrase: &[u8]) -> Result<PrivateKey> {
        if !is_encrypted_pem(pem) {
            return PrivateKey::from_pem(pem);
        }
        let block = first_key_block(pem)?.ok_or(CryptoError::NoPrivateKey)?;
        match block.load(passphrase) {
            Err(CryptoError::WrongPassphrase) if passphrase.is_empty() => Err(CryptoError::EncryptedKey),
            other => other,
        }
    }
}

fn cipher_key_len(cipher: KeyCipher) -> usize {
    match cipher {
        KeyCipher::Aes128Cbc => 16,
        KeyCipher::Aes192Cbc => 24,
        KeyCipher::Aes256Cbc => 32,
    }
}

// ---------------------------------------------------------------------------
// PEM sections with RFC 1421 headers (rustls-pki-types' parser has none)

/// What a private key section holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyLabel {
    /// `PRIVATE KEY`: PKCS#8 `PrivateKeyInfo`.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1.
    Rsa,
    /// `EC PRIVATE KEY`: SEC1.
    Ec,
    /// `ENCRYPTED PRIVATE KEY`: PKCS#8 `EncryptedPrivateKeyInfo`.
    EncryptedPkcs8,
}

/// A private key PEM section. Its DER may be secret: zeroed on drop, not `Debug`.
struct KeyBlock {
    label: KeyLabel,
    /// `DEK-Info: <cipher>,<iv hex>` of a `Proc-Type: 4,ENCRYPTED` section.
    dek_info: Option<String>,
    der: Zeroizing<Vec<u8>>,
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// The first private key section of PEM data (other sections are skipped).
/// Errors describe the structure only: a section's lines are never quoted.
fn first_key_block(pem: &[u8]) -> Result<Option<KeyBlock>> {
    let malformed = |what: &str| CryptoError::InvalidPem(format!("malformed PEM section ({what})"));
    let mut lines = pem.split(|&b| b == b'\n').map(trim_ascii);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix(b"-----BEGIN ").and_then(|l| l.strip_suffix(b"-----")) else {
            continue;
        };
        let end: Vec<u8> = [b"-----END ".as_slice(), label, b"-----"].concat();
        let mut body = Vec::new();
        loop {
            match lines.next() {
                Some(l) if l == end.as_slice() => break,
                Some(l) => body.push(l),
                None => return Err(malformed("no END line")),
            }
        }
        let label = match label {
            b"PRIVATE KEY" => KeyLabel::Pkcs8,
            b"RSA PRIVATE KEY" => KeyLabel::Rsa,
            b"EC PRIVATE KEY" => KeyLabel::Ec,
            b"ENCRYPTED PRIVATE KEY" => KeyLabel::EncryptedPkcs8,
            _ => continue,
        };
        // RFC 1421 headers: `Name: value` lines (continuations start with
        // white space, already trimmed away here), then an empty line.
        let mut proc_type_encrypted = false;
        let mut dek_info = None;
        let mut rest = body.as_slice();
        if rest.first().is_some_and(|l| l.contains(&b':')) {
            while let Some((first, tail)) = rest.split_first() {
                rest = tail;
                if first.is_empty() {
                    break;
                }
                let Some(colon) = first.iter().position(|&b| b == b':') else { continue };
                let (name, value) = (trim_ascii(&first[..colon]), trim_ascii(&first[colon + 1..]));
                if name.eq_ignore_ascii_case(b"Proc-Type") {
                    proc_type_encrypted = value.ends_with(b",ENCRYPTED");
                } else if name.eq_ignore_ascii_case(b"DEK-Info") {
                    dek_info = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
        }
        let b64: Zeroizing<Vec<u8>> = Zeroizing::new(rest.concat());
        let der = Zeroizing::new(STANDARD.decode(b64.as_slice()).map_err(|_| malformed("bad base64"))?);
        let dek_info = match (proc_type_encrypted, dek_info) {
            (false, _) => None,
            (true, Some(d)) => Some(d),
            (true, None) => return Err(malformed("encrypted without DEK-Info")),
        };
        return Ok(Some(KeyBlock { label, dek_info, der }));
    }
    Ok(None)
}

impl KeyBlock {
    fn load(&self, passphrase: &[u8]) -> Result<PrivateKey> {
        let (label, plain) = match (self.label, &self.dek_info) {
            (KeyLabel::EncryptedPkcs8, _) => (KeyLabel::Pkcs8, decrypt_pkcs8(&self.der, passphrase)?),
            (label, Some(dek_info)) => (label, decrypt_traditional(dek_info, &self.der, passphrase)?),
            (label, None) => (label, self.der.clone()),
        };
        // A wrong passphrase that happens to give valid padding leaves noise,
        // not a DER SEQUENCE spanning the whole plaintext.
        if self.label == KeyLabel::EncryptedPkcs8 || self.dek_info.is_some() {
            let whole_sequence = AnyRef::from_der(&plain).is_ok_and(|any| any.tag() == Tag::Sequence);
            if !whole_sequence {
                return Err(CryptoError::WrongPassphrase);
            }
        }
        match label {
            KeyLabel::Pkcs8 | KeyLabel::EncryptedPkcs8 => PrivateKey::from_pkcs8_der(&plain),
            KeyLabel::Rsa => PrivateKey::from_pkcs1_der(&plain),
            KeyLabel::Ec => PrivateKey::from_sec1_der(&plain),
        }
    }
}

// ---------------------------------------------------------------------------
// CBC with PKCS#7 padding

/// Decrypts `data` in place and drops the padding. Bad padding (or a length
/// that is no multiple of the block) is a wrong passphrase or a damaged key.
fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &mut Zeroizing<Vec<u8>>) -> Result<()>
where
    C: BlockDecryptMut + BlockCipher + KeyInit,
{
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| CryptoError::UnsupportedEncryption("a key or IV of the wrong length".into()))?;
    let len =
        decryptor.decrypt_padded_mut::<Pkcs7>(data.as_mut_slice()).map_err(|_| CryptoError::WrongPassphrase)?.len();
    data.truncate(len);
    Ok(())
}

// ---------------------------------------------------------------------------
// OpenSSL's traditional PEM encryption

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TraditionalCipher {
    Bf,
    Des,
    DesEde3,
    Aes128,
    Aes192,
    Aes256,
}

impl TraditionalCipher {
    /// By OpenSSL's name in `DEK-Info` (case-insensitive, as OpenSSL reads it).
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "BF-CBC" => Self::Bf,
            "DES-CBC" => Self::Des,
            "DES-EDE3-CBC" => Self::DesEde3,
            "AES-128-CBC" => Self::Aes128,
            "AES-192-CBC" => Self::Aes192,
            "AES-256-CBC" => Self::Aes256,
            _ => return None,
        })
    }

    /// (key length, IV length) in bytes, OpenSSL's defaults.
    fn sizes(self) -> (usize, usize) {
        match self {
            Self::Bf => (16, 8),
            Self::Des => (8, 8),
            Self::DesEde3 => (24, 8),
            Self::Aes128 => (16, 16),
            Self::Aes192 => (24, 16),
            Self::Aes256 => (32, 16),
        }
    }
}

/// OpenSSL's `EVP_BytesToKey(cipher, MD5, salt, pass, count = 1)`, key part:
/// D_1 = MD5(pass || salt), D_i = MD5(D_(i-1) || pass || salt), concatenated.
fn evp_bytes_to_key_md5(passphrase: &[u8], salt: &[u8], key_len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 16));
    let mut previous: Option<Zeroizing<[u8; 16]>> = None;
    while key.len() < key_len {
        let mut md5 = Md5::new();
        if let Some(p) = &previous {
            md5.update(p.as_slice());
        }
        md5.update(passphrase);
        md5.update(salt);
        let digest = Zeroizing::new(md5.finish());
        key.extend_from_slice(digest.as_slice());
        previous = Some(digest);
    }
    key.truncate(key_len);
    key
}

/// Only a short OpenSSL-style name from a file is repeated in an error.
fn shown_name(name: &str) -> String {
    if !name.is_empty() && name.len() <= 40 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        name.to_string()
    } else {
        "an unknown cipher".to_string()
    }
}

fn decrypt_traditional(dek_info: &str, ciphertext: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (name, iv_hex) = dek_info.split_once(',').unwrap_or((dek_info, ""));
    let (name, iv_hex) = (name.trim(), iv_hex.trim());
    let cipher = TraditionalCipher::from_name(name).ok_or_else(|| {
        CryptoError::UnsupportedEncryption(format!(
            "traditional PEM encryption with {} (acmebot reads BF-CBC, AES-128/192/256-CBC, DES-EDE3-CBC and DES-CBC)",
            shown_name(name)
        ))
    })?;
    let (key_len, iv_len) = cipher.sizes();
    let iv = decode_hex(iv_hex)
        .filter(|iv| iv.len() == iv_len)
        .ok_or_else(|| CryptoError::InvalidPem("malformed PEM section (bad DEK-Info IV)".into()))?;
    let key = evp_bytes_to_key_md5(passphrase, &iv[..8], key_len);
    let mut data = Zeroizing::new(ciphertext.to_vec());
    match cipher {
        TraditionalCipher::Bf => cbc_decrypt::<blowfish::Blowfish>(&key, &iv, &mut data)?,
        TraditionalCipher::Des => cbc_decrypt::<des::Des>(&key, &iv, &mut data)?,
        TraditionalCipher::DesEde3 => cbc_decrypt::<des::TdesEde3>(&key, &iv, &mut data)?,
        TraditionalCipher::Aes128 => cbc_decrypt::<aes::Aes128Dec>(&key, &iv, &mut data)?,
        TraditionalCipher::Aes192 => cbc_decrypt::<aes::Aes192Dec>(&key, &iv, &mut data)?,
        TraditionalCipher::Aes256 => cbc_decrypt::<aes::Aes256Dec>(&key, &iv, &mut data)?,
    }
    Ok(data)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

// ---------------------------------------------------------------------------
// PKCS#8 EncryptedPrivateKeyInfo

const OID_PBES2: ObjectIdentifier = pbes2::PBES2_OID;
const OID_PBKDF2: ObjectIdentifier = pbes2::PBKDF2_OID;
/// Blowfish in CBC mode (Counterpane's arc), as OpenSSL puts it in PBES2.
const OID_BF_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3029.1.2");

/// Public names of the OIDs an encrypted key may name, for error messages.
const OID_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.5.13", "PBES2"),
    ("1.2.840.113549.1.5.12", "PBKDF2"),
    ("1.3.6.1.4.1.11591.4.11", "scrypt"),
    ("1.2.840.113549.2.7", "hmacWithSHA1"),
    ("1.2.840.113549.2.8", "hmacWithSHA224"),
    ("1.2.840.113549.2.9", "hmacWithSHA256"),
    ("1.2.840.113549.2.10", "hmacWithSHA384"),
    ("1.2.840.113549.2.11", "hmacWithSHA512"),
    ("1.2.840.113549.2.12", "hmacWithSHA512-224"),
    ("1.2.840.113549.2.13", "hmacWithSHA512-256"),
    ("1.2.156.10197.1.401.2", "hmacWithSM3"),
    ("2.16.840.1.101.3.4.1.2", "aes-128-cbc"),
    ("2.16.840.1.101.3.4.1.22", "aes-192-cbc"),
    ("2.16.840.1.101.3.4.1.42", "aes-256-cbc"),
    ("2.16.840.1.101.3.4.1.6", "aes-128-gcm"),
    ("2.16.840.1.101.3.4.1.26", "aes-192-gcm"),
    ("2.16.840.1.101.3.4.1.46", "aes-256-gcm"),
    ("1.2.840.113549.3.7", "des-ede3-cbc"),
    ("1.3.14.3.2.7", "des-cbc"),
    ("1.2.840.113549.3.2", "rc2-cbc"),
    ("1.2.840.113549.3.9", "rc5-cbc"),
    ("1.3.6.1.4.1.3029.1.2", "bf-cbc"),
    ("1.2.840.113533.7.66.10", "cast5-cbc"),
    ("1.3.6.1.4.1.188.7.1.1.2", "idea-cbc"),
    ("1.2.410.200004.1.4", "seed-cbc"),
    ("1.2.392.200011.61.1.1.1.2", "camellia-128-cbc"),
    ("1.2.392.200011.61.1.1.1.3", "camellia-192-cbc"),
    ("1.2.392.200011.61.1.1.1.4", "camellia-256-cbc"),
    ("1.2.410.200046.1.1.2", "aria-128-cbc"),
    ("1.2.410.200046.1.1.7", "aria-192-cbc"),
    ("1.2.410.200046.1.1.12", "aria-256-cbc"),
    ("1.2.156.10197.1.104.2", "sm4-cbc"),
    ("1.2.840.113549.1.5.1", "PBES1 pbeWithMD2AndDES-CBC"),
    ("1.2.840.113549.1.5.3", "PBES1 pbeWithMD5AndDES-CBC"),
    ("1.2.840.113549.1.5.4", "PBES1 pbeWithMD2AndRC2-CBC"),
    ("1.2.840.113549.1.5.6", "PBES1 pbeWithMD5AndRC2-CBC"),
    ("1.2.840.113549.1.5.10", "PBES1 pbeWithSHA1AndDES-CBC"),
    ("1.2.840.113549.1.5.11", "PBES1 pbeWithSHA1AndRC2-CBC"),
    ("1.2.840.113549.1.12.1.1", "PKCS#12 pbeWithSHAAnd128BitRC4"),
    ("1.2.840.113549.1.12.1.2", "PKCS#12 pbeWithSHAAnd40BitRC4"),
    ("1.2.840.113549.1.12.1.3", "PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC"),
    ("1.2.840.113549.1.12.1.4", "PKCS#12 pbeWithSHAAnd2-KeyTripleDES-CBC"),
    ("1.2.840.113549.1.12.1.5", "PKCS#12 pbeWithSHAAnd128BitRC2-CBC"),
    ("1.2.840.113549.1.12.1.6", "PKCS#12 pbeWithSHAAnd40BitRC2-CBC"),
];

fn oid_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    match OID_NAMES.iter().find(|(o, _)| *o == dotted) {
        Some((_, name)) => (*name).to_string(),
        None => format!("OID {dotted}"),
    }
}

/// At most this many PBKDF2 iterations are run (OpenSSL writes 2048; a
/// damaged or hostile file must not keep a run busy for hours).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// At most this much memory for scrypt (128·r·N bytes); OpenSSL's limit is 32 MiB.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_P: u16 = 16;

fn check_kdf_cost(kdf: &pbes2::Kdf<'_>) -> Result<()> {
    match kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(CryptoError::UnsupportedEncryption(
            format!("PBKDF2 with {} iterations (at most {MAX_PBKDF2_ITERATIONS} are run)", p.iteration_count),
        )),
        pbes2::Kdf::Scrypt(s) => {
            let memory = 128u64.saturating_mul(s.cost_parameter).saturating_mul(u64::from(s.block_size));
            if memory > MAX_SCRYPT_MEMORY || s.parallelization > MAX_SCRYPT_P {
                Err(CryptoError::UnsupportedEncryption(format!(
                    "scrypt with N={}, r={}, p={} (at most {} MiB and p={MAX_SCRYPT_P} are allowed)",
                    s.cost_parameter,
                    s.block_size,
                    s.parallelization,
                    MAX_SCRYPT_MEMORY >> 20
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn pkcs5_error(e: pkcs5::Error) -> CryptoError {
    match e {
        pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed => CryptoError::WrongPassphrase,
        pkcs5::Error::UnsupportedAlgorithm { oid } => CryptoError::UnsupportedEncryption(oid_name(&oid)),
        pkcs5::Error::AlgorithmParametersInvalid { oid } => {
            CryptoError::UnsupportedEncryption(format!("{} with invalid or unsupported parameters", oid_name(&oid)))
        }
        _ => CryptoError::UnsupportedEncryption("PKCS#5 v1.5 (PBES1)".into()),
    }
}

/// The `PrivateKeyInfo` DER inside a PKCS#8 `EncryptedPrivateKeyInfo`.
fn decrypt_pkcs8(der: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let Ok(info) = pkcs8::EncryptedPrivateKeyInfo::try_from(der) else {
        // Not a scheme the pkcs8 crate parses: BF-CBC or one to name.
        return decrypt_pkcs8_other(der, passphrase);
    };
    let params = match &info.encryption_algorithm {
        pkcs5::EncryptionScheme::Pbes2(params) => params,
        pkcs5::EncryptionScheme::Pbes1(alg) => return Err(CryptoError::UnsupportedEncryption(oid_name(&alg.oid()))),
        other => return Err(CryptoError::UnsupportedEncryption(oid_name(&other.oid()))),
    };
    check_kdf_cost(&params.kdf)?;
    let mut data = Zeroizing::new(info.encrypted_data.to_vec());
    let len = params.decrypt_in_place(passphrase, data.as_mut_slice()).map_err(pkcs5_error)?.len();
    data.truncate(len);
    Ok(data)
}

/// PBES2 parameters as OIDs, read without knowing the algorithms.
struct Pbes2Oids<'a> {
    kdf: AlgorithmIdentifierRef<'a>,
    prf: Option<ObjectIdentifier>,
    cipher: AlgorithmIdentifierRef<'a>,
}

impl Pbes2Oids<'_> {
    fn describe(&self) -> String {
        let kdf = match self.prf {
            Some(prf) => format!("{} ({})", oid_name(&self.kdf.oid), oid_name(&prf)),
            None => oid_name(&self.kdf.oid),
        };
        format!("PBES2 with {kdf} and {}", oid_name(&self.cipher.oid))
    }
}

fn pbes2_oids<'a>(params: AnyRef<'a>) -> der::Result<Pbes2Oids<'a>> {
    params.sequence(|r| {
        let kdf = AlgorithmIdentifierRef::decode(r)?;
        let cipher = AlgorithmIdentifierRef::decode(r)?;
        // PBKDF2-params ::= SEQUENCE { salt, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 }
        let mut prf = None;
        if kdf.oid == OID_PBKDF2 {
            if let Some(p) = kdf.parameters {
                prf = Some(p.sequence(|r| {
                    let mut prf = pbes2::HMAC_WITH_SHA1_OID;
                    while !r.is_finished() {
                        let item = AnyRef::decode(r)?;
                        if item.tag() == Tag::Sequence {
                            // prf AlgorithmIdentifier ::= SEQUENCE { OID, parameters OPTIONAL }
                            if let Ok(oid) = item.sequence(|r| {
                                let oid = ObjectIdentifier::decode(r)?;
                                let _parameters = Option::<AnyRef<'_>>::decode(r)?;
                                Ok(oid)
                            }) {
                                prf = oid;
                            }
                        }
                    }
                    Ok(prf)
                })?);
            }
        }
        Ok(Pbes2Oids { kdf, prf, cipher })
    })
}

/// PBES2 with BF-CBC (what the original wrote with its default cipher);
/// every other scheme is named in an `UnsupportedEncryption`.
fn decrypt_pkcs8_other(der: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let malformed = || CryptoError::InvalidPem("malformed ENCRYPTED PRIVATE KEY".into());
    let (alg, data) = AnyRef::from_der(der)
        .and_then(|any| {
            any.sequence(|r| Ok((AlgorithmIdentifierRef::decode(r)?, OctetStringRef::decode(r)?.as_bytes())))
        })
        .map_err(|_| malformed())?;
    if alg.oid != OID_PBES2 {
        return Err(CryptoError::UnsupportedEncryption(oid_name(&alg.oid)));
    }
    let oids = alg.parameters.ok_or_else(malformed).and_then(|p| pbes2_oids(p).map_err(|_| malformed()))?;
    if oids.cipher.oid != OID_BF_CBC {
        return Err(CryptoError::UnsupportedEncryption(oids.describe()));
    }
    let kdf = pbes2::Kdf::try_from(oids.kdf).map_err(|_| CryptoError::UnsupportedEncryption(oids.describe()))?;
    check_kdf_cost(&kdf)?;
    // BF-CBC parameters: the 8-byte IV; the key is 16 bytes unless the KDF says.
    let iv = oids
        .cipher
        .parameters
        .and_then(|p| OctetStringRef::try_from(p).ok())
        .map(|iv| iv.as_bytes())
        .filter(|iv| iv.len() == 8)
        .ok_or_else(malformed)?;
    let key_len = kdf.key_length().map_or(16, usize::from);
    if !(4..=56).contains(&key_len) {
        return Err(malformed());
    }
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    match &kdf {
        pbes2::Kdf::Pbkdf2(p) => {
            let prf = match p.prf {
                pbes2::Pbkdf2Prf::HmacWithSha1 => pbkdf2::PBKDF2_HMAC_SHA1,
                pbes2::Pbkdf2Prf::HmacWithSha256 => pbkdf2::PBKDF2_HMAC_SHA256,
                pbes2::Pbkdf2Prf::HmacWithSha384 => pbkdf2::PBKDF2_HMAC_SHA384,
                pbes2::Pbkdf2Prf::HmacWithSha512 => pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return Err(CryptoError::UnsupportedEncryption(oids.describe())),
            };
            let iterations = NonZeroU32::new(p.iteration_count).ok_or_else(malformed)?;
            pbkdf2::derive(prf, iterations, p.salt, passphrase, key.as_mut_slice());
        }
        pbes2::Kdf::Scrypt(s) => {
            let params = pkcs5::scrypt::Params::try_from(s).map_err(|_| malformed())?;
            pkcs5::scrypt::scrypt(passphrase, s.salt, &params, key.as_mut_slice()).map_err(|_| malformed())?;
        }
        _ => return Err(CryptoError::UnsupportedEncryption(oids.describe())),
    }
    let mut plain = Zeroizing::new(data.to_vec());
    cbc_decrypt::<blowfish::Blowfish>(&key, iv, &mut plain)?;
    Ok(plain)
}

#[cfg(test)]
mod tests;
