//! OCSP (RFC 6960): the request for one certificate's status, and the checks
//! an answer must pass before its status is believed.
//!
//! Pure functions over DER bytes: no file or network I/O, and the clock is
//! passed in. [`request_der`] builds an unsigned `OCSPRequest` for a leaf
//! (SHA-1 `CertID`, no nonce, as `openssl ocsp -no_nonce` does);
//! [`check_response`] takes the responder's answer apart and accepts it only
//! when
//!
//! - `responseStatus` is `successful` and the body is an `id-pkix-ocsp-basic`
//!   `BasicOCSPResponse`;
//! - one `SingleResponse` is for this leaf: its `CertID` (SHA-1 or SHA-256)
//!   hashes the leaf's issuer name and the issuer's key, with the leaf's serial;
//! - the signature over `tbsResponseData` (the bytes as received) verifies with
//!   the issuer's key, or with the key of a certificate in the response that
//!   the issuer signed, that names the issuer as its issuer, that carries the
//!   extended key usage `id-kp-OCSPSigning` and that is valid now (a delegated
//!   responder, RFC 6960 §4.2.2.2);
//! - `thisUpdate` is not later than now plus [`CLOCK_SKEW`], and `nextUpdate`,
//!   when there is one, has not passed.
//!
//! A delegated responder's own revocation status is not checked (RFC 6960
//! §4.2.2.2.1 leaves that to the responder's `id-pkix-ocsp-nocheck`).

use std::fmt;

use aws_lc_rs::{digest, signature};
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertId, OcspRequest, OcspResponse, OcspResponseStatus, Request, TbsRequest};

use crate::time::{rfc3339, Timestamp};

/// How far `thisUpdate` may lie ahead of our clock, in seconds: responders
/// stamp answers with their own clock, and a few minutes between two
/// NTP-synchronised machines (or a router that has just set its clock) are
/// normal. Five minutes is what common OCSP clients allow.
pub const CLOCK_SKEW: i64 = 5 * 60;

/// Why a request could not be built or an answer was not believed: one
/// sentence about public data (names, serials, times, OIDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspError(String);

impl OcspError {
    fn new(message: impl Into<String>) -> OcspError {
        OcspError(message.into())
    }
}

impl fmt::Display for OcspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OcspError {}

/// A certificate's status as the responder gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    /// `reason` is the RFC 5280 `CRLReason` name (e.g. "keyCompromise") when
    /// the responder gave one.
    Revoked {
        at: Timestamp,
        reason: Option<String>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// An answer that passed every check of [`check_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub status: CertStatus,
    pub this_update: Timestamp,
    pub next_update: Option<Timestamp>,
    pub produced_at: Timestamp,
    /// The responder certificate's subject (RFC 4514) when a responder the
    /// issuer delegated signed the answer; `None` when the issuer did.
    pub delegated: Option<String>,
}

const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

// ---------------------------------------------------------------------------
// The request

/// An unsigned DER `OCSPRequest` for `leaf`, issued by `issuer`: one
/// `Request` whose `CertID` is SHA-1 of the leaf's issuer name, SHA-1 of the
/// issuer's public key and the leaf's serial (RFC 6960 §4.1.1), without a
/// nonce (RFC 5019 responders, Let's Encrypt's among them, ignore nonces and
/// answer from a cache).
pub fn request_der(leaf_der: &[u8], issuer_der: &[u8]) -> Result<Vec<u8>, OcspError> {
    let (leaf, issuer) = parse_pair(leaf_der, issuer_der)?;
    let req_cert = cert_id(&leaf, &issuer, OID_SHA1)?;
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request { req_cert, single_request_extensions: None }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    request.to_der().map_err(|e| OcspError::new(format!("cannot encode the OCSP request: {e}")))
}

fn parse_pair(leaf_der: &[u8], issuer_der: &[u8]) -> Result<(Certificate, Certificate), OcspError> {
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| OcspError::new(format!("the certificate is not DER X.509: {e}")))?;
    let issuer = Certificate::from_der(issuer_der)
        .map_err(|e| OcspError::new(format!("the issuer certificate is not DER X.509: {e}")))?;
    if leaf.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(OcspError::new(format!(
            "the issuer certificate (\"{}\") is not the certificate's issuer (\"{}\")",
            issuer.tbs_certificate.subject, leaf.tbs_certificate.issuer
        )));
    }
    Ok((leaf, issuer))
}

/// The `CertID` of `leaf` hashed with `hash` (SHA-1 or SHA-256).
fn cert_id(leaf: &Certificate, issuer: &Certificate, hash: ObjectIdentifier) -> Result<CertId, OcspError> {
    let alg = if hash == OID_SHA1 { &digest::SHA1_FOR_LEGACY_USE_ONLY } else { &digest::SHA256 };
    let name = leaf
        .tbs_certificate
        .issuer
        .to_der()
        .map_err(|e| OcspError::new(format!("cannot encode the issuer name: {e}")))?;
    let key = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let octets = |bytes: &[u8]| {
        der::asn1::OctetString::new(digest::digest(alg, bytes).as_ref())
            .map_err(|e| OcspError::new(format!("cannot encode a CertID hash: {e}")))
    };
    Ok(CertId {
        // RFC 6960 implementations (openssl among them) write the hash's NULL parameters.
        hash_algorithm: AlgorithmIdentifierOwned { oid: hash, parameters: Some(der::asn1::Any::null()) },
        issuer_name_hash: octets(&name)?,
        issuer_key_hash: octets(key)?,
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    })
}

// ---------------------------------------------------------------------------
// The answer

/// Checks a DER `OCSPResponse` for `leaf` (issued by `issuer`) at `now`, as
/// the module's documentation describes, and returns the status it gives.
pub fn check_response(der: &[u8], leaf_der: &[u8], issuer_der: &[u8], now: Timestamp) -> Result<Checked, OcspError> {
    let not_ocsp = |e: der::Error| OcspError::new(format!("not an OCSP response: {e}"));
    let response = OcspResponse::from_der(der).map_err(not_ocsp)?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::new(format!("the responder answered \"{}\"", status_name(response.response_status))));
    }
    let bytes = response
        .response_bytes
        .ok_or_else(|| OcspError::new("not an OCSP response: \"successful\" without responseBytes"))?;
    if bytes.response_type != OID_PKIX_OCSP_BASIC {
        return Err(OcspError::new(format!("the response is of type {}, not id-pkix-ocsp-basic", bytes.response_type)));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der).map_err(not_ocsp)?;
    let raw = RawBasic::split(basic_der).map_err(not_ocsp)?;
    let (leaf, issuer) = parse_pair(leaf_der, issuer_der)?;

    let single = find_single(&basic, &leaf, &issuer)?;
    let delegated = check_signer(&basic, &raw, &issuer, now)?;

    let data = &basic.tbs_response_data;
    let this_update = gen_time(&single.this_update);
    let next_update = single.next_update.as_ref().map(gen_time);
    if this_update > now.saturating_add(CLOCK_SKEW) {
        return Err(OcspError::new(format!("thisUpdate {} is in the future", rfc3339(this_update))));
    }
    if let Some(next) = next_update {
        if next < now {
            return Err(OcspError::new(format!("nextUpdate {} has passed", rfc3339(next))));
        }
    }
    let status = match &single.cert_status {
        x509_ocsp::CertStatus::Good(_) => CertStatus::Good,
        x509_ocsp::CertStatus::Unknown(_) => CertStatus::Unknown,
        x509_ocsp::CertStatus::Revoked(info) => CertStatus::Revoked {
            at: gen_time(&info.revocation_time),
            reason: info.revocation_reason.map(|r| reason_name(r).to_string()),
        },
    };
    Ok(Checked { status, this_update, next_update, produced_at: gen_time(&data.produced_at), delegated })
}

fn status_name(status: OcspResponseStatus) -> &'static str {
    match status {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedRequest",
        OcspResponseStatus::InternalError => "internalError",
        OcspResponseStatus::TryLater => "tryLater",
        OcspResponseStatus::SigRequired => "sigRequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
}

/// RFC 5280 §5.3.1's name of a `CRLReason`.
fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

fn gen_time(t: &x509_ocsp::OcspGeneralizedTime) -> Timestamp {
    t.0.to_unix_duration().as_secs() as Timestamp
}

fn x509_time(t: &x509_cert::time::Time) -> Timestamp {
    t.to_unix_duration().as_secs() as Timestamp
}

/// Upper-case hex of a serial's value (without the sign octet DER adds).
fn serial_hex(serial: &x509_cert::serial_number::SerialNumber) -> String {
    let bytes = serial.as_bytes();
    let value = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => &bytes[bytes.len().saturating_sub(1)..],
    };
    crate::types::hex(value).to_ascii_uppercase()
}

/// The `SingleResponse` for the leaf: its `CertID` hashed (SHA-1 or SHA-256)
/// the leaf's issuer name and the issuer's key, with the leaf's serial.
fn find_single<'a>(
    basic: &'a BasicOcspResponse,
    leaf: &Certificate,
    issuer: &Certificate,
) -> Result<&'a x509_ocsp::SingleResponse, OcspError> {
    let responses = &basic.tbs_response_data.responses;
    let mut ids = Vec::new();
    for hash in [OID_SHA1, OID_SHA256] {
        ids.push(cert_id(leaf, issuer, hash)?);
    }
    let same = |a: &CertId, b: &CertId| {
        a.hash_algorithm.oid == b.hash_algorithm.oid
            && a.issuer_name_hash == b.issuer_name_hash
            && a.issuer_key_hash == b.issuer_key_hash
            && a.serial_number == b.serial_number
    };
    if let Some(single) = responses.iter().find(|s| ids.iter().any(|id| same(&s.cert_id, id))) {
        return Ok(single);
    }
    let serial = &leaf.tbs_certificate.serial_number;
    let for_serial = responses.iter().find(|s| &s.cert_id.serial_number == serial);
    Err(OcspError::new(match (responses.first(), for_serial) {
        (None, _) => "the response holds no certificate status".to_string(),
        (_, Some(s)) if ![OID_SHA1, OID_SHA256].contains(&s.cert_id.hash_algorithm.oid) => {
            format!("answers with a CertID hashed by {}, which is not supported", s.cert_id.hash_algorithm.oid)
        }
        (_, Some(_)) => format!("answers for serial {} of another issuer", serial_hex(serial)),
        (Some(s), None) => format!("answers for another certificate (serial {})", serial_hex(&s.cert_id.serial_number)),
    }))
}

/// The pieces of a `BasicOCSPResponse` as received: the signed bytes and the
/// certificates' DER (each certificate's own signed bytes are taken from it).
struct RawBasic<'a> {
    tbs: &'a [u8],
    certs: Vec<&'a [u8]>,
}

impl<'a> RawBasic<'a> {
    /// `BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm,
    /// signature, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }`
    fn split(der: &'a [u8]) -> der::Result<RawBasic<'a>> {
        let mut r = sequence_reader(der)?;
        let tbs = r.tlv_bytes()?;
        let _algorithm = r.tlv_bytes()?;
        let _signature = r.tlv_bytes()?;
        let mut certs = Vec::new();
        if !r.is_finished() {
            let explicit = AnyRef::decode(&mut r)?;
            let mut list = sequence_reader(explicit.value())?;
            while !list.is_finished() {
                certs.push(list.tlv_bytes()?);
            }
        }
        Ok(RawBasic { tbs, certs })
    }
}

/// A reader over the contents of the SEQUENCE that is all of `der`.
fn sequence_reader(der: &[u8]) -> der::Result<SliceReader<'_>> {
    let seq = AnyRef::from_der(der)?;
    seq.tag().assert_eq(Tag::Sequence)?;
    SliceReader::new(seq.value())
}

/// The first TLV (the signed part) of a `SEQUENCE { tbs, algorithm, signature }`.
fn signed_bytes(der: &[u8]) -> der::Result<&[u8]> {
    sequence_reader(der)?.tlv_bytes()
}

/// Who signed the answer: `Ok(None)` for the issuer, `Ok(Some(subject))` for
/// a responder the issuer delegated; an error otherwise.
fn check_signer(
    basic: &BasicOcspResponse,
    raw: &RawBasic<'_>,
    issuer: &Certificate,
    now: Timestamp,
) -> Result<Option<String>, OcspError> {
    const NOT_SIGNED: &str = "not signed by the issuer or a responder the issuer delegated (OCSPSigning)";
    let sig_alg = &basic.signature_algorithm;
    let sig = bit_string_bytes(&basic.signature)?;
    let issuer_spki = &issuer.tbs_certificate.subject_public_key_info;
    if verify(sig_alg, issuer_spki, raw.tbs, sig)? {
        return Ok(None);
    }
    if raw.certs.is_empty() {
        return Err(OcspError::new(format!("{NOT_SIGNED}: the response carries no responder certificate")));
    }
    for cert_der in &raw.certs {
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| OcspError::new(format!("not an OCSP response: a responder certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        if !verify(sig_alg, &tbs.subject_public_key_info, raw.tbs, sig)? {
            continue;
        }
        // This certificate's key signed the answer: is it the issuer's delegate?
        let who = tbs.subject.to_string();
        if tbs.issuer != issuer.tbs_certificate.subject {
            return Err(OcspError::new(format!("{NOT_SIGNED}: \"{who}\" was issued by \"{}\"", tbs.issuer)));
        }
        let cert_tbs = signed_bytes(cert_der)
            .map_err(|e| OcspError::new(format!("not an OCSP response: a responder certificate: {e}")))?;
        let cert_sig = bit_string_bytes(&cert.signature)?;
        if !verify(&cert.signature_algorithm, issuer_spki, cert_tbs, cert_sig)? {
            return Err(OcspError::new(format!("{NOT_SIGNED}: the issuer did not sign \"{who}\"")));
        }
        if !has_ocsp_signing(&cert)? {
            return Err(OcspError::new(format!(
                "{NOT_SIGNED}: \"{who}\" lacks the extended key usage id-kp-OCSPSigning"
            )));
        }
        let (from, to) = (x509_time(&tbs.validity.not_before), x509_time(&tbs.validity.not_after));
        if now < from || now > to {
            return Err(OcspError::new(format!(
                "{NOT_SIGNED}: \"{who}\" is valid from {} to {}, not at {}",
                rfc3339(from),
                rfc3339(to),
                rfc3339(now)
            )));
        }
        return Ok(Some(who));
    }
    Err(OcspError::new(NOT_SIGNED))
}

fn bit_string_bytes(bits: &der::asn1::BitString) -> Result<&[u8], OcspError> {
    bits.as_bytes().ok_or_else(|| OcspError::new("not an OCSP response: a signature is not whole octets"))
}

fn has_ocsp_signing(cert: &Certificate) -> Result<bool, OcspError> {
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id == OID_EXT_KEY_USAGE {
            let eku = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                .map_err(|e| OcspError::new(format!("not an OCSP response: the responder's extendedKeyUsage: {e}")))?;
            return Ok(eku.0.contains(&OID_KP_OCSP_SIGNING));
        }
    }
    Ok(false)
}

/// Whether `sig` over `msg` verifies with `spki` under `alg`. A key that
/// does not fit the algorithm (an RSA key for an ECDSA signature) does not
/// verify; an algorithm this module does not know is an error.
fn verify(
    alg: &AlgorithmIdentifierOwned,
    spki: &SubjectPublicKeyInfoOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, OcspError> {
    use signature::VerificationAlgorithm;
    let key_oid = spki.algorithm.oid;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let rsa = key_oid == OID_RSA_ENCRYPTION;
    let ec = |c: ObjectIdentifier| key_oid == OID_EC_PUBLIC_KEY && curve == Some(c);
    let verifier: Option<&'static dyn VerificationAlgorithm> = match alg.oid {
        o if o == OID_SHA256_WITH_RSA => rsa.then_some(&signature::RSA_PKCS1_2048_8192_SHA256),
        o if o == OID_SHA384_WITH_RSA => rsa.then_some(&signature::RSA_PKCS1_2048_8192_SHA384),
        o if o == OID_SHA512_WITH_RSA => rsa.then_some(&signature::RSA_PKCS1_2048_8192_SHA512),
        o if o == OID_SHA1_WITH_RSA => rsa.then_some(&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
        o if o == OID_ECDSA_SHA256 => {
            if ec(OID_P256) {
                Some(&signature::ECDSA_P256_SHA256_ASN1)
            } else if ec(OID_P384) {
                Some(&signature::ECDSA_P384_SHA256_ASN1)
            } else {
                None
            }
        }
        o if o == OID_ECDSA_SHA384 => {
            if ec(OID_P256) {
                Some(&signature::ECDSA_P256_SHA384_ASN1)
            } else if ec(OID_P384) {
                Some(&signature::ECDSA_P384_SHA384_ASN1)
            } else {
                None
            }
        }
        o if o == OID_ED25519 => (key_oid == OID_ED25519).then_some(&signature::ED25519),
        o => return Err(OcspError::new(format!("the signature algorithm {o} is not supported"))),
    };
    Ok(match verifier {
        Some(v) => signature::UnparsedPublicKey::new(v, spki.subject_public_key.raw_bytes()).verify(msg, sig).is_ok(),
        None => false,
    })
}

#[cfg(test)]
mod tests;
