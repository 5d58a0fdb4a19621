//! Keys, JWS, CSRs and certificate parsing, without OpenSSL.
//!
//! Everything here is a pure function over bytes: no file or network I/O.
//! Private key material never appears in `Debug`, `Display` or error values.

use std::fmt;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Encode};
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};

use crate::time::Timestamp;
use crate::types::{hex, Curve, KeyType};

mod encrypted;
pub use encrypted::{key_cipher, KeyCipher};
pub mod params;

// ---------------------------------------------------------------------------
// Errors

/// Everything that can go wrong in this module. Variants carry only public
/// data (sizes, OIDs, field names, library messages about public structures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// RSA key size not one of 2048/3072/4096/8192 (generation) or not loadable.
    UnsupportedRsaSize(u32),
    /// A key algorithm other than RSA/ECDSA, by OID or name.
    UnsupportedKeyAlgorithm(String),
    /// An EC curve other than P-256/P-384/P-521, by OID or name.
    UnsupportedCurve(String),
    /// The PEM holds an encrypted private key and no passphrase was given.
    EncryptedKey,
    /// Decrypting a private key failed: a wrong passphrase, or a damaged key
    /// (bad padding or no key structure after decryption).
    WrongPassphrase,
    /// A private key is encrypted with a scheme, KDF, PRF or cipher acmebot
    /// does not read (named by public names or OIDs only).
    UnsupportedEncryption(String),
    /// No private key block found in the PEM input.
    NoPrivateKey,
    /// The PEM could not be parsed; the message describes the structure only.
    InvalidPem(String),
    /// The key bytes were rejected; `format` names the encoding tried.
    InvalidKey { format: &'static str },
    /// Key generation failed.
    KeyGeneration(&'static str),
    /// A signing operation failed.
    Signing(&'static str),
    /// Base64/base64url decoding of the named field failed.
    InvalidBase64 { field: String },
    /// A JSON key file was malformed; names the missing/bad field.
    InvalidJwk(String),
    /// Unsupported HMAC algorithm for external account binding.
    UnsupportedHmacAlgorithm(String),
    /// CSR generation failed.
    Csr(String),
    /// No CERTIFICATE block found.
    NoCertificate,
    /// A certificate could not be parsed.
    InvalidCertificate(String),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CryptoError::*;
        match self {
            UnsupportedRsaSize(b) => write!(f, "unsupported RSA key size {b} bits"),
            UnsupportedKeyAlgorithm(a) => write!(f, "unsupported key algorithm {a}"),
            UnsupportedCurve(c) => write!(f, "unsupported elliptic curve {c}"),
            EncryptedKey => f.write_str("the private key is encrypted: a passphrase is needed (key_passphrase)"),
            WrongPassphrase => f.write_str("cannot decrypt the private key: wrong passphrase (or a damaged key)"),
            UnsupportedEncryption(m) => write!(f, "unsupported private key encryption: {m}"),
            NoPrivateKey => f.write_str("no private key found in PEM data"),
            InvalidPem(m) => write!(f, "invalid PEM data: {m}"),
            InvalidKey { format } => write!(f, "invalid or unsupported {format} private key"),
            KeyGeneration(m) => write!(f, "key generation failed: {m}"),
            Signing(m) => write!(f, "signing failed: {m}"),
            InvalidBase64 { field } => write!(f, "invalid base64 in {field}"),
            InvalidJwk(m) => write!(f, "invalid JSON key: {m}"),
            UnsupportedHmacAlgorithm(a) => write!(f, "unsupported HMAC algorithm {a} (expected HS256, HS384 or HS512)"),
            Csr(m) => write!(f, "cannot create CSR: {m}"),
            NoCertificate => f.write_str("no certificate found in PEM data"),
            InvalidCertificate(m) => write!(f, "invalid certificate: {m}"),
        }
    }
}

impl std::error::Error for CryptoError {}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// Base64 / PEM helpers

/// base64url without padding (RFC 7515 §2).
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url; trailing `=` padding is tolerated.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .map_err(|_| CryptoError::InvalidBase64 { field: "base64url value".into() })
}

fn b64url_field(obj: &serde_json::Map<String, Value>, field: &str) -> Result<Vec<u8>> {
    let s = obj
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| CryptoError::InvalidJwk(format!("missing or non-string field \"{field}\"")))?;
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| CryptoError::InvalidBase64 { field: field.to_string() })
}

/// PEM armour with 64-column standard base64 and `\n` line ends.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

// ---------------------------------------------------------------------------
// OIDs

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
const OID_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");
const OID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const OID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The TLS Feature extension value for OCSP must-staple (status_request = 5).
pub const MUST_STAPLE_EXT_VALUE: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x05];
const TLS_FEATURE_ARCS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 24];

fn curve_oid(curve: Curve) -> ObjectIdentifier {
    match curve {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
        Curve::P521 => OID_P521,
    }
}

fn curve_from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
    Curve::ALL.into_iter().find(|c| curve_oid(*c) == *oid)
}

fn ecdsa_signing_alg(curve: Curve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
    }
}

/// JWK "crv" name.
fn jwk_crv(curve: Curve) -> &'static str {
    match curve {
        Curve::P256 => "P-256",
        Curve::P384 => "P-384",
        Curve::P521 => "P-521",
    }
}

// ---------------------------------------------------------------------------
// Private keys

enum Inner {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair, Curve),
}

/// The size a new RSA key configured as `bits` gets: the smallest size
/// aws-lc generates (2048, 3072, 4096, 8192) that is at least `bits`.
pub fn rsa_generation_bits(bits: u32) -> u32 {
    [2048, 3072, 4096, 8192].into_iter().find(|&s| s >= bits).unwrap_or(8192)
}

/// What a private key is, read from its PEM without validating the key:
/// the RSA modulus size in bits (whole bytes, as [`PrivateKey::rsa_bits`])
/// or the ECDSA curve. Cheap enough for every run (a 4096-bit RSA key is
/// not checked, only its structure read). `None` for encrypted keys and what
/// is not a key.
pub fn key_params_from_pem(pem: &[u8]) -> Option<KeyParams> {
    use der::Decode;
    fn rsa_bits(pkcs1: &[u8]) -> Option<KeyParams> {
        // RSAPrivateKey ::= SEQUENCE { version, modulus, ... }: the first two.
        let seq = der::asn1::AnyRef::from_der(pkcs1).ok()?;
        let mut r = der::SliceReader::new(seq.value()).ok()?;
        let _version = der::asn1::UintRef::decode(&mut r).ok()?;
        let modulus = der::asn1::UintRef::decode(&mut r).ok()?;
        Some(KeyParams::Rsa(modulus.as_bytes().len() as u32 * 8))
    }
    if is_encrypted_pem(pem) {
        return None;
    }
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = item.ok()?;
        return match kind {
            SectionKind::PrivateKey => {
                let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).ok()?;
                if info.algorithm.oid == OID_RSA_ENCRYPTION {
                    rsa_bits(info.private_key)
                } else if let Ok(oid) = info.algorithm.parameters_oid() {
                    curve_from_oid(&oid).map(KeyParams::Ec)
                } else {
                    PrivateKey::from_pkcs8_der(&der).ok()?.curve().map(KeyParams::Ec)
                }
            }
            SectionKind::RsaPrivateKey => rsa_bits(&der),
            SectionKind::EcPrivateKey => PrivateKey::from_sec1_der(&der).ok()?.curve().map(KeyParams::Ec),
            _ => continue,
        };
    }
    None
}

/// The size or curve of a public key (SubjectPublicKeyInfo DER), e.g. from
/// the certificate of an encrypted private key: known without the passphrase.
pub fn key_params_from_spki(spki_der: &[u8]) -> Option<KeyParams> {
    use der::Decode;
    let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
    if spki.algorithm.oid == OID_RSA_ENCRYPTION {
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        let bits = spki.subject_public_key.raw_bytes();
        let seq = der::asn1::AnyRef::from_der(bits).ok()?;
        let mut r = der::SliceReader::new(seq.value()).ok()?;
        let modulus = der::asn1::UintRef::decode(&mut r).ok()?;
        Some(KeyParams::Rsa(modulus.as_bytes().len() as u32 * 8))
    } else if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = spki.algorithm.parameters?.decode_as().ok()?;
        curve_from_oid(&curve).map(KeyParams::Ec)
    } else {
        None
    }
}

/// Whether PEM data holds an encrypted key (PKCS#8 `ENCRYPTED PRIVATE KEY`
/// or OpenSSL's traditional `Proc-Type: 4,ENCRYPTED`).
pub fn is_encrypted_pem(pem: &[u8]) -> bool {
    contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(pem, b"Proc-Type: 4,ENCRYPTED")
}

/// The size or curve of a private key (see [`key_params_from_pem`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyParams {
    Rsa(u32),
    Ec(Curve),
}

/// An RSA or ECDSA (P-256/P-384/P-521) private key.
pub struct PrivateKey {
    inner: Inner,
    pkcs8: Vec<u8>,
    spki: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Rsa(k) => format!("rsa{}", k.public_modulus_len() * 8),
            Inner::Ec(_, c) => format!("ecdsa-{c}"),
        };
        f.debug_struct("PrivateKey").field("type", &kind).field("spki_sha256", &self.spki_sha256_hex()).finish()
    }
}

impl Clone for PrivateKey {
    fn clone(&self) -> Self {
        PrivateKey::from_pkcs8_der(&self.pkcs8).expect("re-parsing our own PKCS#8 cannot fail")
    }
}

impl PartialEq for PrivateKey {
    /// Keys are equal when their public keys are (a private key determines its public key).
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}
impl Eq for PrivateKey {}

impl PrivateKey {
    fn from_rsa(kp: rsa::KeyPair) -> Result<Self> {
        let pkcs8 =
            AsDer::<Pkcs8V1Der>::as_der(&kp).map_err(|_| CryptoError::InvalidKey { format: "RSA" })?.as_ref().to_vec();
        let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
            .map_err(|_| CryptoError::InvalidKey { format: "RSA" })?
            .as_ref()
            .to_vec();
        Ok(PrivateKey { inner: Inner::Rsa(kp), pkcs8, spki })
    }

    fn from_ec(kp: EcdsaKeyPair, curve: Curve) -> Result<Self> {
        let pkcs8 = kp.to_pkcs8v1().map_err(|_| CryptoError::InvalidKey { format: "EC" })?.as_ref().to_vec();
        let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
            .map_err(|_| CryptoError::InvalidKey { format: "EC" })?
            .as_ref()
            .to_vec();
        Ok(PrivateKey { inner: Inner::Ec(kp, curve), pkcs8, spki })
    }

    /// Generates an RSA key of 2048, 3072, 4096 or 8192 bits (e = 65537).
    pub fn generate_rsa(bits: u32) -> Result<Self> {
        let size = match bits {
            2048 => rsa::KeySize::Rsa2048,
            3072 => rsa::KeySize::Rsa3072,
            4096 => rsa::KeySize::Rsa4096,
            8192 => rsa::KeySize::Rsa8192,
            other => return Err(CryptoError::UnsupportedRsaSize(other)),
        };
        let kp = rsa::KeyPair::generate(size).map_err(|_| CryptoError::KeyGeneration("RSA"))?;
        Self::from_rsa(kp)
    }

    /// Generates an ECDSA key on the given curve.
    pub fn generate_ecdsa(curve: Curve) -> Result<Self> {
        let alg = ecdsa_signing_alg(curve);
        let doc =
            EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).map_err(|_| CryptoError::KeyGeneration("ECDSA"))?;
        let kp = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).map_err(|_| CryptoError::KeyGeneration("ECDSA"))?;
        Self::from_ec(kp, curve)
    }

    /// Generates a key of the given type; `rsa_bits` / `curve` apply to the matching type.
    pub fn generate(key_type: KeyType, rsa_bits: u32, curve: Curve) -> Result<Self> {
        match key_type {
            KeyType::Rsa => Self::generate_rsa(rsa_bits),
            KeyType::Ecdsa => Self::generate_ecdsa(curve),
        }
    }

    /// Loads an unencrypted PKCS#8 `PrivateKeyInfo` (RSA or EC).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|_| CryptoError::InvalidKey { format: "PKCS#8" })?;
        let oid = info.algorithm.oid;
        if oid == OID_RSA_ENCRYPTION {
            let kp = rsa::KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey { format: "PKCS#8 RSA" })?;
            Self::from_rsa(kp)
        } else if oid == OID_EC_PUBLIC_KEY {
            let curves: Vec<Curve> = match info.algorithm.parameters_oid() {
                Ok(c) => vec![curve_from_oid(&c).ok_or_else(|| CryptoError::UnsupportedCurve(c.to_string()))?],
                Err(_) => Curve::ALL.to_vec(), // parameters only inside the ECPrivateKey
            };
            for curve in curves {
                if let Ok(kp) = EcdsaKeyPair::from_pkcs8(ecdsa_signing_alg(curve), der) {
                    return Self::from_ec(kp, curve);
                }
            }
            Err(CryptoError::InvalidKey { format: "PKCS#8 EC" })
        } else {
            Err(CryptoError::UnsupportedKeyAlgorithm(oid.to_string()))
        }
    }

    /// Loads a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let kp = rsa::KeyPair::from_der(der).map_err(|_| CryptoError::InvalidKey { format: "PKCS#1 RSA" })?;
        Self::from_rsa(kp)
    }

    /// Loads a SEC1 (RFC 5915) `ECPrivateKey`.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        for curve in Curve::ALL {
            if let Ok(kp) = EcdsaKeyPair::from_private_key_der(ecdsa_signing_alg(curve), der) {
                return Self::from_ec(kp, curve);
            }
        }
        Err(CryptoError::InvalidKey { format: "SEC1 EC" })
    }

    /// Loads the first private key in PEM data: "PRIVATE KEY" (PKCS#8),
    /// "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1). Other blocks
    /// (e.g. "EC PARAMETERS", certificates) are skipped. Encrypted keys
    /// (PKCS#8 "ENCRYPTED PRIVATE KEY" or traditional `Proc-Type: 4,ENCRYPTED`)
    /// give [`CryptoError::EncryptedKey`]: read them with
    /// [`PrivateKey::from_pem_with_passphrase`].
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        if is_encrypted_pem(pem) {
            return Err(CryptoError::EncryptedKey);
        }
        for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            // Never include the parser's detail: it may quote secret lines.
            let (kind, der) = item.map_err(|_| CryptoError::InvalidPem("malformed PEM section".into()))?;
            match kind {
                SectionKind::PrivateKey => return Self::from_pkcs8_der(&der),
                SectionKind::RsaPrivateKey => return Self::from_pkcs1_der(&der),
                SectionKind::EcPrivateKey => return Self::from_sec1_der(&der),
                _ => continue,
            }
        }
        Err(CryptoError::NoPrivateKey)
    }

    /// PKCS#8 PEM ("PRIVATE KEY"), 64-column base64.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// PKCS#8 DER (secret!).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn key_type(&self) -> KeyType {
        match self.inner {
            Inner::Rsa(_) => KeyType::Rsa,
            Inner::Ec(..) => KeyType::Ecdsa,
        }
    }

    /// The curve of an ECDSA key, `None` for RSA.
    pub fn curve(&self) -> Option<Curve> {
        match self.inner {
            Inner::Rsa(_) => None,
            Inner::Ec(_, c) => Some(c),
        }
    }

    /// Modulus size in bits (rounded to whole bytes) of an RSA key, `None` for ECDSA.
    pub fn rsa_bits(&self) -> Option<u32> {
        match &self.inner {
            Inner::Rsa(k) => Some(k.public_modulus_len() as u32 * 8),
            Inner::Ec(..) => None,
        }
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-256 of the SPKI DER, lower-case hex (TLSA selector 1 / matching type 1).
    pub fn spki_sha256_hex(&self) -> String {
        crate::types::sha256_hex(&self.spki)
    }

    /// SHA-512 of the SPKI DER, lower-case hex (TLSA selector 1 / matching type 2).
    pub fn spki_sha512_hex(&self) -> String {
        hex(digest::digest(&digest::SHA512, &self.spki).as_ref())
    }

    /// SHA-256 of the SPKI DER, standard base64 (HPKP `pin-sha256`).
    pub fn spki_sha256_b64(&self) -> String {
        STANDARD.encode(digest::digest(&digest::SHA256, &self.spki).as_ref())
    }

    /// JWS "alg" for this key: RS256, ES256, ES384 or ES512.
    pub fn jws_alg(&self) -> &'static str {
        match self.inner {
            Inner::Rsa(_) => "RS256",
            Inner::Ec(_, Curve::P256) => "ES256",
            Inner::Ec(_, Curve::P384) => "ES384",
            Inner::Ec(_, Curve::P521) => "ES512",
        }
    }

    /// Public JWK (RFC 7517/7518) with members in lexicographic order:
    /// RSA `{e,kty,n}`, EC `{crv,kty,x,y}` (fixed-length coordinates).
    pub fn public_jwk(&self) -> Value {
        match &self.inner {
            Inner::Rsa(k) => {
                let (n, e) = rsa_public_ne(k);
                json!({"e": b64url(&e), "kty": "RSA", "n": b64url(&n)})
            }
            Inner::Ec(k, c) => {
                let (x, y) = ec_xy(k);
                json!({"crv": jwk_crv(*c), "kty": "EC", "x": b64url(x), "y": b64url(y)})
            }
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn jwk_thumbprint(&self) -> String {
        jwk_thumbprint_of(&self.public_jwk()).expect("our own JWK has all required members")
    }

    /// Signs as JWS requires: RSASSA-PKCS1-v1_5 SHA-256, or ECDSA with the
    /// curve's hash and fixed-width `r||s`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).map_err(|_| CryptoError::Signing("RSA"))?;
                Ok(sig)
            }
            Inner::Ec(k, _) => Ok(k.sign(&rng, msg).map_err(|_| CryptoError::Signing("ECDSA"))?.as_ref().to_vec()),
        }
    }

    /// The rcgen signature algorithm matching this key (SHA-256 for RSA,
    /// the curve's hash for ECDSA).
    pub fn rcgen_algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.inner {
            Inner::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            Inner::Ec(_, Curve::P256) => &rcgen::PKCS_ECDSA_P256_SHA256,
            Inner::Ec(_, Curve::P384) => &rcgen::PKCS_ECDSA_P384_SHA384,
            Inner::Ec(_, Curve::P521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        }
    }

    /// This key as an rcgen key pair (for CSRs and test certificates).
    pub fn to_rcgen(&self) -> Result<rcgen::KeyPair> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(self.pkcs8.clone());
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, self.rcgen_algorithm())
            .map_err(|e| CryptoError::Csr(format!("rcgen rejected the key: {e}")))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn rsa_public_ne(k: &rsa::KeyPair) -> (Vec<u8>, Vec<u8>) {
    let pk = k.public_key();
    (pk.modulus().big_endian_without_leading_zero().to_vec(), pk.exponent().big_endian_without_leading_zero().to_vec())
}

/// x and y of an uncompressed EC point (`04 || x || y`).
fn ec_xy(k: &EcdsaKeyPair) -> (&[u8], &[u8]) {
    let p = k.public_key().as_ref();
    let n = (p.len() - 1) / 2;
    (&p[1..1 + n], &p[1 + n..])
}

// ---------------------------------------------------------------------------
// JWS

/// ACME JWS in flattened JSON serialization (RFC 8555 §6.2). The protected
/// header is `{alg, kid|jwk, nonce, url}`: `kid` when given, else the public
/// JWK. `payload: None` is POST-as-GET (empty payload string).
pub fn jws(key: &PrivateKey, kid: Option<&str>, nonce: &str, url: &str, payload: Option<&[u8]>) -> Result<Value> {
    let mut protected = serde_json::Map::new();
    protected.insert("alg".into(), Value::from(key.jws_alg()));
    match kid {
        Some(kid) => protected.insert("kid".into(), Value::from(kid)),
        None => protected.insert("jwk".into(), key.public_jwk()),
    };
    protected.insert("nonce".into(), Value::from(nonce));
    protected.insert("url".into(), Value::from(url));
    let protected_b64 = b64url(Value::Object(protected).to_string().as_bytes());
    let payload_b64 = payload.map(b64url).unwrap_or_default();
    let sig = key.sign(format!("{protected_b64}.{payload_b64}").as_bytes())?;
    Ok(json!({"protected": protected_b64, "payload": payload_b64, "signature": b64url(&sig)}))
}

/// The inner JWS of an account key change (RFC 8555 §7.3.5): signed by the
/// NEW key, protected `{alg, jwk, url}` (no nonce), payload `{account, oldKey}`.
pub fn jws_key_change(new_key: &PrivateKey, old_key: &PrivateKey, account_url: &str, url: &str) -> Result<Value> {
    let protected = json!({"alg": new_key.jws_alg(), "jwk": new_key.public_jwk(), "url": url});
    let payload = json!({"account": account_url, "oldKey": old_key.public_jwk()});
    let protected_b64 = b64url(protected.to_string().as_bytes());
    let payload_b64 = b64url(payload.to_string().as_bytes());
    let sig = new_key.sign(format!("{protected_b64}.{payload_b64}").as_bytes())?;
    Ok(json!({"protected": protected_b64, "payload": payload_b64, "signature": b64url(&sig)}))
}

/// External Account Binding JWS (RFC 8555 §7.3.4): protected `{alg, kid, url}`,
/// payload = the account's public JWK, MAC'd with the CA-supplied key.
pub fn jws_hmac_eab(account_jwk: &Value, kid: &str, hmac_key_b64url: &str, alg: &str, url: &str) -> Result<Value> {
    let hmac_alg = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        other => return Err(CryptoError::UnsupportedHmacAlgorithm(other.to_string())),
    };
    let key_bytes =
        b64url_decode(hmac_key_b64url).map_err(|_| CryptoError::InvalidBase64 { field: "EAB HMAC key".into() })?;
    let key = hmac::Key::new(hmac_alg, &key_bytes);
    let protected = json!({"alg": alg, "kid": kid, "url": url});
    let protected_b64 = b64url(protected.to_string().as_bytes());
    let payload_b64 = b64url(account_jwk.to_string().as_bytes());
    let tag = hmac::sign(&key, format!("{protected_b64}.{payload_b64}").as_bytes());
    Ok(json!({"protected": protected_b64, "payload": payload_b64, "signature": b64url(tag.as_ref())}))
}

/// RFC 7638 thumbprint of a public JWK: SHA-256 over the required members
/// (RSA `e,kty,n`; EC `crv,kty,x,y`) in lexicographic order without
/// whitespace, base64url-encoded.
pub fn jwk_thumbprint_of(jwk: &Value) -> Result<String> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some(other) => return Err(CryptoError::UnsupportedKeyAlgorithm(other.to_string())),
        None => return Err(CryptoError::InvalidJwk("missing \"kty\"".into())),
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        let v =
            jwk.get(*m).and_then(Value::as_str).ok_or_else(|| CryptoError::InvalidJwk(format!("missing \"{m}\"")))?;
        canonical.insert((*m).to_string(), Value::from(v));
    }
    let text = Value::Object(canonical).to_string();
    Ok(b64url(digest::digest(&digest::SHA256, text.as_bytes()).as_ref()))
}

/// ACME key authorization: `token "." thumbprint` (RFC 8555 §8.1).
pub fn key_authorization(token: &str, key: &PrivateKey) -> String {
    format!("{token}.{}", key.jwk_thumbprint())
}

/// dns-01 TXT record value: base64url(SHA-256(key authorization)) (RFC 8555 §8.4).
pub fn dns01_txt_value(token: &str, key: &PrivateKey) -> String {
    b64url(digest::digest(&digest::SHA256, key_authorization(token, key).as_bytes()).as_ref())
}

// ---------------------------------------------------------------------------
// Account key JSON (the original's client_key.json)

/// Reads an account key file: the original's josepy `JWKRSA.fields_to_partial_json()`
/// form `{n,e,d,p,q,dp,dq,qi}` (with or without `"kty":"RSA"`), or an EC JWK
/// `{"kty":"EC","crv","x","y","d"}`.
pub fn account_key_from_json(data: &[u8]) -> Result<PrivateKey> {
    let v: Value = serde_json::from_slice(data).map_err(|e| {
        // serde_json errors report position/category only, never the content.
        CryptoError::InvalidJwk(format!("not JSON ({:?} error at line {})", e.classify(), e.line()))
    })?;
    let obj = v.as_object().ok_or_else(|| CryptoError::InvalidJwk("not a JSON object".into()))?;
    let kty = obj.get("kty").and_then(Value::as_str);
    match kty {
        None | Some("RSA") => {
            let f = |name| b64url_field(obj, name);
            let (n, e, d, p, q, dp, dq, qi) =
                (f("n")?, f("e")?, f("d")?, f("p")?, f("q")?, f("dp")?, f("dq")?, f("qi")?);
            let comps = rsa::KeyPairComponents {
                public_key: rsa::PublicKeyComponents { n: strip0(&n), e: strip0(&e) },
                d: strip0(&d),
                p: strip0(&p),
                q: strip0(&q),
                dP: strip0(&dp),
                dQ: strip0(&dq),
                qInv: strip0(&qi),
            };
            let kp =
                rsa::KeyPair::from_components(&comps).map_err(|_| CryptoError::InvalidKey { format: "JWK RSA" })?;
            PrivateKey::from_rsa(kp)
        }
        Some("EC") => {
            let crv = obj
                .get("crv")
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::InvalidJwk("missing \"crv\"".into()))?;
            let curve = Curve::parse(crv).ok_or_else(|| CryptoError::UnsupportedCurve(crv.to_string()))?;
            let (x, y, d) = (b64url_field(obj, "x")?, b64url_field(obj, "y")?, b64url_field(obj, "d")?);
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let kp = EcdsaKeyPair::from_private_key_and_public_key(ecdsa_signing_alg(curve), &d, &point)
                .map_err(|_| CryptoError::InvalidKey { format: "JWK EC" })?;
            PrivateKey::from_ec(kp, curve)
        }
        Some(other) => Err(CryptoError::UnsupportedKeyAlgorithm(other.to_string())),
    }
}

fn strip0(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

/// Writes an account key in the original's form: RSA exactly
/// `{"n","e","d","p","q","dp","dq","qi"}` (josepy `fields_to_partial_json`);
/// EC `{"kty":"EC","crv","x","y","d"}`. The result is secret.
pub fn account_key_to_json(key: &PrivateKey) -> Result<String> {
    match &key.inner {
        Inner::Rsa(_) => {
            let info = pkcs8::PrivateKeyInfo::try_from(key.pkcs8.as_slice())
                .map_err(|_| CryptoError::InvalidKey { format: "PKCS#8" })?;
            // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qi } (two-prime only)
            let ints = Vec::<UintRef>::from_der(info.private_key)
                .map_err(|_| CryptoError::InvalidKey { format: "PKCS#1 RSA" })?;
            if ints.len() != 9 {
                return Err(CryptoError::InvalidKey { format: "PKCS#1 RSA (multi-prime)" });
            }
            let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
            let mut m = serde_json::Map::new();
            for (name, int) in names.iter().zip(&ints[1..]) {
                m.insert((*name).into(), Value::from(b64url(int.as_bytes())));
            }
            Ok(Value::Object(m).to_string())
        }
        Inner::Ec(k, c) => {
            let (x, y) = ec_xy(k);
            let d: EcPrivateKeyBin =
                k.private_key().as_be_bytes().map_err(|_| CryptoError::InvalidKey { format: "EC" })?;
            Ok(json!({"kty": "EC", "crv": jwk_crv(*c), "x": b64url(x), "y": b64url(y), "d": b64url(d.as_ref())})
                .to_string())
        }
    }
}

// ---------------------------------------------------------------------------
// CSR

/// DER PKCS#10 request with subject CN (omitted when empty or an IP
/// address: RFC 8738 certificates name addresses only in iPAddress SANs),
/// SAN dNSNames (wildcards allowed; IP literals become iPAddress) and, if
/// `must_staple`, the TLS Feature extension `status_request`.
pub fn csr_der(key: &PrivateKey, common_name: &str, names: &[String], must_staple: bool) -> Result<Vec<u8>> {
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| CryptoError::Csr(format!("bad name: {e}")))?;
    let mut dn = rcgen::DistinguishedName::new();
    if !common_name.is_empty() && common_name.parse::<std::net::IpAddr>().is_err() {
        dn.push(rcgen::DnType::CommonName, common_name);
    }
    params.distinguished_name = dn;
    if must_staple {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(&TLS_FEATURE_ARCS, MUST_STAPLE_EXT_VALUE.to_vec()));
    }
    let kp = key.to_rcgen()?;
    let csr = params.serialize_request(&kp).map_err(|e| CryptoError::Csr(e.to_string()))?;
    Ok(csr.der().to_vec())
}

// ---------------------------------------------------------------------------
// Certificates

/// All CERTIFICATE blocks of a PEM bundle, in order; other blocks are skipped.
/// Errors with [`CryptoError::NoCertificate`] when there are none.
pub fn pem_to_ders(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let ders = CertificateDer::pem_slice_iter(pem)
        .map(|r| r.map(|c| c.as_ref().to_vec()).map_err(|e| CryptoError::InvalidPem(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    if ders.is_empty() {
        return Err(CryptoError::NoCertificate);
    }
    Ok(ders)
}

/// Concatenated PEM CERTIFICATE blocks.
pub fn ders_to_pem(ders: &[Vec<u8>]) -> String {
    ders.iter().map(|d| pem_encode("CERTIFICATE", d)).collect()
}

/// What acmebot needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Lower-case hex, leading zero bytes removed.
    pub serial_hex: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub subject_cn: Option<String>,
    /// RFC 4514 string, e.g. "CN=example.com".
    pub subject: String,
    /// RFC 4514 string, e.g. "CN=Pebble Intermediate CA 7fdc5b".
    pub issuer: String,
    pub issuer_cn: Option<String>,
    /// dNSName entries, lower-case, in certificate order.
    pub sans: Vec<String>,
    pub spki_der: Vec<u8>,
    pub must_staple: bool,
    pub ocsp_urls: Vec<String>,
    pub ca_issuers_urls: Vec<String>,
    pub is_ca: bool,
    pub der: Vec<u8>,
    /// RFC 9773 §4.1 certificate identifier: base64url(AKI keyIdentifier) "."
    /// base64url(serial number content octets); None without an AKI.
    pub ari_cert_id: Option<String>,
}

impl CertInfo {
    /// SHA-256 of the certificate DER, lower-case hex (the original's certificate digest).
    pub fn sha256_hex(&self) -> String {
        crate::types::sha256_hex(&self.der)
    }
}

fn cert_err(what: &str) -> impl Fn(der::Error) -> CryptoError + '_ {
    move |e| CryptoError::InvalidCertificate(format!("{what}: {e}"))
}

fn name_cn(name: &x509_cert::name::Name) -> Option<String> {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == OID_CN {
                return Some(String::from_utf8_lossy(atv.value.value()).into_owned());
            }
        }
    }
    None
}

/// Parses a DER X.509 certificate.
pub fn parse_cert(der_bytes: &[u8]) -> Result<CertInfo> {
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, BasicConstraints, SubjectAltName};

    let cert = x509_cert::Certificate::from_der(der_bytes).map_err(cert_err("DER"))?;
    let tbs = &cert.tbs_certificate;
    let serial_der = tbs.serial_number.as_bytes();
    let serial = serial_der;
    let serial = match serial.iter().position(|&b| b != 0) {
        Some(i) => &serial[i..],
        None => &serial[serial.len().saturating_sub(1)..],
    };
    let mut info = CertInfo {
        serial_hex: hex(serial),
        not_before: tbs.validity.not_before.to_unix_duration().as_secs() as Timestamp,
        not_after: tbs.validity.not_after.to_unix_duration().as_secs() as Timestamp,
        subject_cn: name_cn(&tbs.subject),
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        issuer_cn: name_cn(&tbs.issuer),
        sans: Vec::new(),
        spki_der: tbs.subject_public_key_info.to_der().map_err(cert_err("SPKI"))?,
        must_staple: false,
        ocsp_urls: Vec::new(),
        ca_issuers_urls: Vec::new(),
        is_ca: false,
        der: der_bytes.to_vec(),
        ari_cert_id: None,
    };
    for ext in tbs.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == OID_SAN {
            let san = SubjectAltName::from_der(value).map_err(cert_err("subjectAltName"))?;
            for gn in san.0 {
                match gn {
                    GeneralName::DnsName(n) => info.sans.push(n.as_str().to_ascii_lowercase()),
                    // RFC 8738 certificates: iPAddress entries, as the
                    // configuration writes the address (canonical text).
                    GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                        4 => {
                            let b: [u8; 4] = ip.as_bytes().try_into().expect("4 bytes");
                            info.sans.push(std::net::Ipv4Addr::from(b).to_string());
                        }
                        16 => {
                            let b: [u8; 16] = ip.as_bytes().try_into().expect("16 bytes");
                            info.sans.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        } else if ext.extn_id == OID_AIA {
            let aia = AuthorityInfoAccessSyntax::from_der(value).map_err(cert_err("authorityInfoAccess"))?;
            for ad in aia.0 {
                if let GeneralName::UniformResourceIdentifier(uri) = ad.access_location {
                    if ad.access_method == OID_AD_OCSP {
                        info.ocsp_urls.push(uri.as_str().to_string());
                    } else if ad.access_method == OID_AD_CA_ISSUERS {
                        info.ca_issuers_urls.push(uri.as_str().to_string());
                    }
                }
            }
        } else if ext.extn_id == OID_AKI {
            let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(value)
                .map_err(cert_err("authorityKeyIdentifier"))?;
            if let Some(kid) = aki.key_identifier {
                info.ari_cert_id = Some(format!("{}.{}", b64url(kid.as_bytes()), b64url(serial_der)));
            }
        } else if ext.extn_id == OID_BASIC_CONSTRAINTS {
            info.is_ca = BasicConstraints::from_der(value).map_err(cert_err("basicConstraints"))?.ca;
        } else if ext.extn_id == OID_TLS_FEATURE {
            // TLSFeature ::= SEQUENCE OF INTEGER; status_request = 5
            info.must_staple = Vec::<u32>::from_der(value).map(|v| v.contains(&5)).unwrap_or(false);
        }
    }
    Ok(info)
}

/// Whether the key's public key is the certificate's (algorithm OID and key bits compared).
pub fn key_matches_cert(key: &PrivateKey, cert: &CertInfo) -> bool {
    use x509_cert::spki::SubjectPublicKeyInfoRef;
    if key.spki_der() == cert.spki_der.as_slice() {
        return true;
    }
    match (SubjectPublicKeyInfoRef::from_der(key.spki_der()), SubjectPublicKeyInfoRef::from_der(&cert.spki_der)) {
        (Ok(a), Ok(b)) => {
            a.algorithm.oid == b.algorithm.oid && a.subject_public_key.raw_bytes() == b.subject_public_key.raw_bytes()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
