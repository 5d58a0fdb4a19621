//! Certificate Transparency (RFC 6962), the pure part: the `add-chain`
//! request body and response, signed certificate timestamps (SCTs) in their
//! TLS encoding (the `.sct` files the Python original wrote and reads), the
//! check of an SCT's signature against its log's key, and the conversion of
//! a log list in the schema of the public v3 list into the configuration's
//! `ct_logs` section ([`ct_logs_from_list`]). No I/O here: the caller posts
//! the body, reads the response and writes the files.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::asn1::{ObjectIdentifier, UintRef};
use der::Decode;
use serde_json::Value;

mod list;
pub use list::ct_logs_from_list;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// TLS 1.2 HashAlgorithm `sha256` (RFC 5246 §7.4.1.4.1).
const HASH_SHA256: u8 = 4;
/// TLS 1.2 SignatureAlgorithm `rsa`.
const SIG_RSA: u8 = 1;
/// TLS 1.2 SignatureAlgorithm `ecdsa`.
const SIG_ECDSA: u8 = 3;
/// The smallest RSA log key accepted, in bits (RFC 6962 §2.1.4 logs use
/// 2048 or more; aws-lc verifies PKCS#1 signatures of 2048 to 8192 bits).
const MIN_RSA_BITS: usize = 2048;
/// Bytes before the extensions in the TLS encoding: version, log ID,
/// timestamp, extensions length.
const HEADER_LEN: usize = 1 + 32 + 8 + 2;

/// Why an SCT, an `add-chain` response or a log key was not accepted.
/// Its text is one sentence, fit for a warning naming the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtError(String);

impl CtError {
    fn new(msg: impl Into<String>) -> CtError {
        CtError(msg.into())
    }
}

impl fmt::Display for CtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CtError {}

/// A signed certificate timestamp, version 1 (RFC 6962 §3.2), as a log
/// returns it for an X.509 certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sct {
    /// `sct_version`: 0 for v1, the only version there is.
    pub version: u8,
    /// SHA-256 of the log's DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// `CtExtensions`, opaque (empty for every log so far).
    pub extensions: Vec<u8>,
    /// TLS `DigitallySigned`: hash algorithm (1 byte), signature algorithm
    /// (1), signature length (2, big-endian), signature.
    pub signature: Vec<u8>,
}

/// The body of `POST <log>/ct/v1/add-chain` (RFC 6962 §4.1): the leaf, then
/// the chain up to (not necessarily including) the root, each base64 DER.
pub fn add_chain_body(leaf_der: &[u8], chain: &[Vec<u8>]) -> Vec<u8> {
    let certs: Vec<Value> = std::iter::once(leaf_der)
        .chain(chain.iter().map(Vec::as_slice))
        .map(|der| Value::String(STANDARD.encode(der)))
        .collect();
    serde_json::json!({ "chain": certs }).to_string().into_bytes()
}

/// Reads a log's answer to `add-chain`: `{"sct_version", "id", "timestamp",
/// "extensions", "signature"}` (RFC 6962 §4.1), the binary fields base64.
/// The signature is only checked for its form here; see [`Sct::verify`].
pub fn parse_add_chain_response(body: &[u8]) -> Result<Sct, CtError> {
    let bad = |what: String| CtError::new(format!("the log's add-chain response is not an SCT: {what}"));
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Value::Object(m) = v else {
        return Err(bad("not a JSON object".into()));
    };
    let version = match m.get("sct_version").and_then(Value::as_u64) {
        Some(0) => 0u8,
        Some(n) => return Err(bad(format!("sct_version {n} (only 0, v1, is defined)"))),
        None => return Err(bad("no numeric \"sct_version\"".into())),
    };
    let b64 = |key: &str, required: bool| -> Result<Vec<u8>, CtError> {
        match m.get(key) {
            Some(Value::String(s)) => STANDARD.decode(s).map_err(|_| bad(format!("\"{key}\" is not base64"))),
            None if !required => Ok(Vec::new()),
            _ => Err(bad(format!("no base64 string \"{key}\""))),
        }
    };
    let id = b64("id", true)?;
    let log_id: [u8; 32] =
        id.as_slice().try_into().map_err(|_| bad(format!("\"id\" has {} bytes, not 32", id.len())))?;
    let timestamp = m.get("timestamp").and_then(Value::as_u64).ok_or_else(|| bad("no numeric \"timestamp\"".into()))?;
    // RFC 6962 requires "extensions"; an absent one is taken as empty.
    let extensions = b64("extensions", false)?;
    if extensions.len() > usize::from(u16::MAX) {
        return Err(bad(format!("{} bytes of extensions (at most 65535)", extensions.len())));
    }
    let signature = b64("signature", true)?;
    check_digitally_signed(&signature).map_err(|e| bad(format!("its signature {e}")))?;
    Ok(Sct { version, log_id, timestamp, extensions, signature })
}

/// Checks the framing of a TLS `DigitallySigned`: two algorithm bytes and a
/// length that matches what follows.
fn check_digitally_signed(ds: &[u8]) -> Result<(), String> {
    if ds.len() < 4 {
        return Err(format!("is truncated ({} bytes, at least 4 needed)", ds.len()));
    }
    let len = usize::from(u16::from_be_bytes([ds[2], ds[3]]));
    if len == 0 {
        return Err("is empty".into());
    }
    if ds.len() - 4 != len {
        return Err(format!("says {len} bytes but has {}", ds.len() - 4));
    }
    Ok(())
}

impl Sct {
    /// The TLS encoding of the SCT (RFC 6962 §3.2 `SignedCertificateTimestamp`),
    /// which is what the `.sct` files hold and what a TLS server sends:
    /// version (1 byte), log ID (32), timestamp (8, big-endian), extensions
    /// length (2) and extensions, then the `DigitallySigned`. The same bytes
    /// as the original's `save_sct` (`struct.pack('>b32sQH', ...)` followed
    /// by the extensions and the signature). Extensions beyond 65535 bytes
    /// (which [`parse_add_chain_response`] refuses) are cut to fit.
    pub fn to_tls(&self) -> Vec<u8> {
        let ext_len = u16::try_from(self.extensions.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + usize::from(ext_len) + self.signature.len());
        out.push(self.version);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&ext_len.to_be_bytes());
        out.extend_from_slice(&self.extensions[..usize::from(ext_len)]);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Reads the TLS encoding ([`Sct::to_tls`], the original's `load_sct`),
    /// refusing anything that is not exactly one v1 SCT: short, a
    /// `DigitallySigned` whose length disagrees with the bytes left, or
    /// another version.
    pub fn from_tls(b: &[u8]) -> Result<Sct, CtError> {
        let bad = |what: String| CtError::new(format!("not an SCT: {what}"));
        if b.len() < HEADER_LEN {
            return Err(bad(format!("truncated ({} bytes, at least {} needed)", b.len(), HEADER_LEN + 4)));
        }
        let version = b[0];
        if version != 0 {
            return Err(bad(format!("version {version} (only 0, v1, is defined)")));
        }
        let mut log_id = [0u8; 32];
        log_id.copy_from_slice(&b[1..33]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[33..41]);
        let ext_len = usize::from(u16::from_be_bytes([b[41], b[42]]));
        let rest = &b[HEADER_LEN..];
        if rest.len() < ext_len {
            return Err(bad(format!("truncated ({ext_len} bytes of extensions announced, {} left)", rest.len())));
        }
        let (extensions, signature) = rest.split_at(ext_len);
        let announced = signature.get(2..4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        match announced {
            None => return Err(bad("truncated (no complete signature)".into())),
            Some(n) if signature.len() - 4 < n => {
                return Err(bad(format!("truncated ({n} bytes of signature announced, {} left)", signature.len() - 4)))
            }
            Some(_) => check_digitally_signed(signature).map_err(|e| bad(format!("the signature {e}")))?,
        }
        Ok(Sct {
            version,
            log_id,
            timestamp: u64::from_be_bytes(ts),
            extensions: extensions.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// The log ID, base64 (the form of the log lists and the configuration).
    pub fn log_id_b64(&self) -> String {
        STANDARD.encode(self.log_id)
    }

    /// Checks that the SCT comes from the log whose DER SubjectPublicKeyInfo
    /// is `log_key_spki_der` (its ID is the key's SHA-256) and that its
    /// signature covers `leaf_der` as an X.509 entry: the RFC 6962 §3.2
    /// `digitally-signed struct` of version, `certificate_timestamp` (0),
    /// timestamp, `x509_entry` (0), the certificate (3-byte length) and the
    /// extensions (2-byte length). Signatures: ECDSA P-256 with SHA-256
    /// (TLS hash 4, signature 3; DER) and RSA PKCS#1 v1.5 with SHA-256 (4, 1)
    /// with keys of at least 2048 bits.
    pub fn verify(&self, log_key_spki_der: &[u8], leaf_der: &[u8]) -> Result<(), CtError> {
        let key_id = digest::digest(&digest::SHA256, log_key_spki_der);
        if key_id.as_ref() != self.log_id {
            return Err(CtError::new(format!(
                "the SCT's log ID {} is not this log's ({})",
                self.log_id_b64(),
                STANDARD.encode(key_id.as_ref())
            )));
        }
        check_digitally_signed(&self.signature).map_err(|e| CtError::new(format!("the SCT's signature {e}")))?;
        let (hash, sig_alg, sig) = (self.signature[0], self.signature[1], &self.signature[4..]);
        let key = LogKey::parse(log_key_spki_der)?;
        let (want_sig, alg): (u8, &'static dyn signature::VerificationAlgorithm) = match key.kind {
            KeyKind::EcdsaP256 => (SIG_ECDSA, &signature::ECDSA_P256_SHA256_ASN1),
            KeyKind::Rsa => (SIG_RSA, &signature::RSA_PKCS1_2048_8192_SHA256),
        };
        if (hash, sig_alg) != (HASH_SHA256, want_sig) {
            return Err(CtError::new(format!(
                "the SCT is signed with TLS hash algorithm {hash} and signature algorithm {sig_alg}, but the log's {} \
                 key signs with hash 4 (SHA-256) and signature {want_sig} ({})",
                key.kind.name(),
                if want_sig == SIG_ECDSA { "ECDSA" } else { "RSA" }
            )));
        }
        let leaf_len = u32::try_from(leaf_der.len()).ok().filter(|&n| n < 1 << 24).ok_or_else(|| {
            CtError::new(format!("the certificate has {} bytes, more than an SCT can cover", leaf_der.len()))
        })?;
        let ext_len = u16::try_from(self.extensions.len())
            .map_err(|_| CtError::new("the SCT's extensions are longer than 65535 bytes"))?;
        let mut signed = Vec::with_capacity(12 + 3 + leaf_der.len() + 2 + self.extensions.len());
        signed.push(self.version);
        signed.push(0); // signature_type: certificate_timestamp
        signed.extend_from_slice(&self.timestamp.to_be_bytes());
        signed.extend_from_slice(&0u16.to_be_bytes()); // entry_type: x509_entry
        signed.extend_from_slice(&leaf_len.to_be_bytes()[1..]);
        signed.extend_from_slice(leaf_der);
        signed.extend_from_slice(&ext_len.to_be_bytes());
        signed.extend_from_slice(&self.extensions);
        UnparsedPublicKey::new(alg, key.bits)
            .verify(&signed, sig)
            .map_err(|_| CtError::new("the SCT signature does not verify with the log's key"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    EcdsaP256,
    Rsa,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            KeyKind::EcdsaP256 => "ECDSA P-256",
            KeyKind::Rsa => "RSA",
        }
    }
}

/// A log's public key: its kind and the subjectPublicKey bits aws-lc takes.
struct LogKey<'a> {
    kind: KeyKind,
    bits: &'a [u8],
}

impl<'a> LogKey<'a> {
    fn parse(spki_der: &'a [u8]) -> Result<LogKey<'a>, CtError> {
        use x509_cert::spki::SubjectPublicKeyInfoRef;
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|_| CtError::new("the log's key is not a DER SubjectPublicKeyInfo"))?;
        let bits = spki.subject_public_key.as_bytes().ok_or_else(|| {
            CtError::new("the log's key is not a DER SubjectPublicKeyInfo (its key is not whole bytes)")
        })?;
        let oid = spki.algorithm.oid;
        if oid == OID_EC_PUBLIC_KEY {
            return match spki.algorithm.parameters_oid() {
                Ok(curve) if curve == OID_P256 => Ok(LogKey { kind: KeyKind::EcdsaP256, bits }),
                Ok(curve) => Err(CtError::new(format!(
                    "the log's key is an ECDSA key on curve {curve}, not P-256 (1.2.840.10045.3.1.7), the only \
                     curve supported"
                ))),
                Err(_) => Err(CtError::new("the log's ECDSA key names no curve")),
            };
        }
        if oid == OID_RSA_ENCRYPTION {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let ints = Vec::<UintRef>::from_der(bits).map_err(|_| CtError::new("the log's RSA key is malformed"))?;
            let Some(n) = ints.first().filter(|_| ints.len() == 2).map(UintRef::as_bytes) else {
                return Err(CtError::new("the log's RSA key is malformed"));
            };
            let size = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
            if size < MIN_RSA_BITS {
                return Err(CtError::new(format!(
                    "the log's RSA key has {size} bits; at least {MIN_RSA_BITS} are needed"
                )));
            }
            return Ok(LogKey { kind: KeyKind::Rsa, bits });
        }
        Err(CtError::new(format!(
            "the log's key has algorithm {oid}, neither ECDSA P-256 nor RSA, the two kinds RFC 6962 logs use"
        )))
    }
}

#[cfg(test)]
mod tests;
