//! Against answers `openssl ocsp` gave (fixtures/make writes them), and
//! against those answers changed byte by byte.

use der::{Decode, Encode};
use x509_ocsp::{BasicOcspResponse, OcspRequest, OcspResponse};

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

const CA: &[u8] = fixture!("ca.der");
const LEAF: &[u8] = fixture!("leaf.der");
const OTHER_LEAF: &[u8] = fixture!("other-leaf.der");
const EC_CA: &[u8] = fixture!("ec-ca.der");
const EC_LEAF: &[u8] = fixture!("ec-leaf.der");
const ED_CA: &[u8] = fixture!("ed-ca.der");
const ED_LEAF: &[u8] = fixture!("ed-leaf.der");
const GOOD: &[u8] = fixture!("good.der");
const DAY: i64 = 86_400;
const NOT_SIGNED: &str = "not signed by the issuer or a responder the issuer delegated (OCSPSigning)";

/// When fixtures/make ran: every answer's thisUpdate and producedAt.
fn made_at() -> Timestamp {
    include_str!("fixtures/made-at").trim().parse().unwrap()
}

/// A clock an hour after the fixtures were made.
fn now() -> Timestamp {
    made_at() + 3600
}

fn check(der: &[u8]) -> Result<Checked, OcspError> {
    check_response(der, LEAF, CA, now())
}

fn err(result: Result<Checked, OcspError>) -> String {
    result.expect_err("the answer was accepted").to_string()
}

/// `der` with its BasicOCSPResponse changed by `f`, the rest re-encoded.
fn altered(der: &[u8], f: impl FnOnce(&mut BasicOcspResponse)) -> Vec<u8> {
    let mut response = OcspResponse::from_der(der).unwrap();
    let bytes = response.response_bytes.as_mut().unwrap();
    let mut basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    f(&mut basic);
    bytes.response = der::asn1::OctetString::new(basic.to_der().unwrap()).unwrap();
    response.to_der().unwrap()
}

#[test]
fn request_is_the_one_openssl_makes() {
    // `openssl ocsp -issuer ca.pem -cert leaf.pem -no_nonce -reqout`
    assert_eq!(request_der(LEAF, CA).unwrap(), fixture!("openssl-req.der"));
}

#[test]
fn request_parses_back() {
    let req = OcspRequest::from_der(&request_der(LEAF, CA).unwrap()).unwrap();
    assert!(req.optional_signature.is_none());
    assert!(req.tbs_request.request_extensions.is_none(), "no nonce");
    assert!(req.tbs_request.requestor_name.is_none());
    let [one] = req.tbs_request.request_list.as_slice() else { panic!("one Request") };
    let id = &one.req_cert;
    assert_eq!(id.hash_algorithm.oid, OID_SHA1);
    let leaf = Certificate::from_der(LEAF).unwrap();
    let ca = Certificate::from_der(CA).unwrap();
    assert_eq!(serial_hex(&id.serial_number), "0A1B2C3D4E5F6071");
    let sha1 = |b: &[u8]| digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref().to_vec();
    assert_eq!(id.issuer_name_hash.as_bytes(), sha1(&leaf.tbs_certificate.issuer.to_der().unwrap()));
    assert_eq!(
        id.issuer_key_hash.as_bytes(),
        sha1(ca.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes())
    );
}

#[test]
fn request_needs_the_leafs_issuer() {
    let e = request_der(LEAF, EC_CA).unwrap_err().to_string();
    assert_eq!(
        e,
        "the issuer certificate (\"CN=acmebot OCSP test EC CA\") is not the certificate's issuer (\"CN=acmebot OCSP test CA\")"
    );
    assert!(request_der(b"junk", CA).unwrap_err().to_string().starts_with("the certificate is not DER X.509: "));
    assert!(request_der(LEAF, b"").unwrap_err().to_string().starts_with("the issuer certificate is not DER X.509: "));
}

#[test]
fn good() {
    let c = check(GOOD).unwrap();
    assert_eq!(c.status, CertStatus::Good);
    assert_eq!(c.delegated, None);
    assert!((c.this_update - made_at()).abs() <= 2, "thisUpdate {} made at {}", c.this_update, made_at());
    assert_eq!(c.next_update, Some(c.this_update + 36_500 * DAY));
    assert!((c.produced_at - made_at()).abs() <= 2);
}

#[test]
fn revoked_with_and_without_reason() {
    let c = check(fixture!("revoked.der")).unwrap();
    assert_eq!(c.status, CertStatus::Revoked { at: made_at() - DAY, reason: Some("keyCompromise".into()) });
    let c = check(fixture!("revoked-noreason.der")).unwrap();
    assert_eq!(c.status, CertStatus::Revoked { at: made_at() - DAY, reason: None });
}

#[test]
fn unknown() {
    assert_eq!(check(fixture!("unknown.der")).unwrap().status, CertStatus::Unknown);
}

#[test]
fn the_leafs_status_is_picked_from_several() {
    // Answers for the other leaf (unknown) first, then for the leaf (revoked).
    let der = fixture!("two.der");
    assert!(matches!(check(der).unwrap().status, CertStatus::Revoked { .. }));
    assert_eq!(check_response(der, OTHER_LEAF, CA, now()).unwrap().status, CertStatus::Unknown);
}

#[test]
fn answer_for_another_serial_is_rejected() {
    let der = fixture!("other-serial.der");
    assert_eq!(err(check(der)), "answers for another certificate (serial 0A1B2C3D4E5F6072)");
    // It is the other leaf's good answer.
    assert_eq!(check_response(der, OTHER_LEAF, CA, now()).unwrap().status, CertStatus::Good);
}

#[test]
fn answer_checked_against_another_issuer_is_rejected() {
    assert!(err(check_response(GOOD, LEAF, EC_CA, now())).contains("is not the certificate's issuer"));
}

#[test]
fn signature_algorithms() {
    for (name, der) in [
        ("sha1WithRSAEncryption", fixture!("sha1.der")),
        ("sha512WithRSAEncryption, no certs", fixture!("sha512.der")),
        ("SHA-256 CertID", fixture!("certid-sha256.der")),
    ] {
        assert_eq!(check(der).map(|c| c.status), Ok(CertStatus::Good), "{name}");
    }
    for (name, der) in [
        ("ecdsa-with-SHA384 P-384", fixture!("ec-p384-sha384.der")),
        ("ecdsa-with-SHA256 P-384", fixture!("ec-p384-sha256.der")),
    ] {
        let c = check_response(der, EC_LEAF, EC_CA, now()).map(|c| c.status);
        assert_eq!(c, Ok(CertStatus::Good), "{name}");
    }
    let c = check_response(fixture!("ed25519.der"), ED_LEAF, ED_CA, now()).unwrap();
    assert_eq!(c.status, CertStatus::Good);
    // One issuer's answer is not another's, whatever the algorithm.
    assert!(err(check_response(fixture!("ec-p384-sha384.der"), EC_LEAF, CA, now()))
        .contains("is not the certificate's issuer"));
}

#[test]
fn unsupported_signature_algorithm_is_named() {
    let pss = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    let der = altered(GOOD, |b| b.signature_algorithm.oid = pss);
    assert_eq!(err(check(&der)), "the signature algorithm 1.2.840.113549.1.1.10 is not supported");
}

#[test]
fn reencoded_answer_still_verifies() {
    // The base of the byte-changing tests below: decoding and encoding again
    // changes nothing, so a rejection there is for the change alone.
    assert_eq!(altered(GOOD, |_| ()), GOOD);
}

#[test]
fn flipped_signature_is_rejected() {
    let der = altered(GOOD, |b| {
        let mut sig = b.signature.raw_bytes().to_vec();
        sig[10] ^= 0x01;
        b.signature = der::asn1::BitString::from_bytes(&sig).unwrap();
    });
    assert_eq!(err(check(&der)), NOT_SIGNED);
}

#[test]
fn changed_answer_is_rejected() {
    // A "good" turned into "unknown" after signing.
    let der = altered(fixture!("revoked.der"), |b| {
        b.tbs_response_data.responses[0].cert_status = x509_ocsp::CertStatus::good();
    });
    assert_eq!(err(check(&der)), NOT_SIGNED);
    // The same with the signer's certificate removed: nothing to try but the issuer.
    let der = altered(fixture!("revoked.der"), |b| {
        b.tbs_response_data.responses[0].cert_status = x509_ocsp::CertStatus::unknown();
        b.certs = None;
    });
    assert_eq!(err(check(&der)), format!("{NOT_SIGNED}: the response carries no responder certificate"));
}

#[test]
fn wrong_signer_is_rejected() {
    // Signed by an unrelated self-signed certificate, which the answer carries.
    assert_eq!(
        err(check(fixture!("wrong-signer.der"))),
        format!(
            "{NOT_SIGNED}: \"CN=acmebot OCSP unrelated signer\" was issued by \"CN=acmebot OCSP unrelated signer\""
        )
    );
}

#[test]
fn delegated_responder_is_accepted() {
    let c = check(fixture!("delegated.der")).unwrap();
    assert_eq!(c.status, CertStatus::Good);
    assert_eq!(c.delegated.as_deref(), Some("CN=acmebot OCSP test responder"));
}

#[test]
fn delegated_responder_without_ocsp_signing_is_rejected() {
    assert_eq!(
        err(check(fixture!("delegated-noeku.der"))),
        format!(
            "{NOT_SIGNED}: \"CN=acmebot OCSP test responder without OCSPSigning\" lacks the extended key usage id-kp-OCSPSigning"
        )
    );
}

#[test]
fn delegated_responder_the_issuer_did_not_sign_is_rejected() {
    // Same issuer name, another CA key.
    assert_eq!(
        err(check(fixture!("delegated-impostor.der"))),
        format!("{NOT_SIGNED}: the issuer did not sign \"CN=acmebot OCSP test responder\"")
    );
}

#[test]
fn delegated_responder_must_send_its_certificate() {
    assert_eq!(
        err(check(fixture!("delegated-nocert.der"))),
        format!("{NOT_SIGNED}: the response carries no responder certificate")
    );
}

#[test]
fn expired_delegated_responder_is_rejected() {
    // The responder's certificate is good for 3650 days, the answer for 36500.
    let later = made_at() + 3660 * DAY;
    let e = err(check_response(fixture!("delegated.der"), LEAF, CA, later));
    assert!(e.starts_with(&format!("{NOT_SIGNED}: \"CN=acmebot OCSP test responder\" is valid from ")), "{e}");
    assert!(e.ends_with(&format!(", not at {}", rfc3339(later))), "{e}");
    // The issuer's own answer is still good then.
    assert!(check_response(GOOD, LEAF, CA, later).is_ok());
}

#[test]
fn stale_answer_is_rejected() {
    let next = check(GOOD).unwrap().next_update.unwrap();
    assert!(check_response(GOOD, LEAF, CA, next).is_ok(), "good up to nextUpdate");
    assert_eq!(err(check_response(GOOD, LEAF, CA, next + 1)), format!("nextUpdate {} has passed", rfc3339(next)));
}

#[test]
fn answer_from_the_future_is_rejected() {
    let this = check(GOOD).unwrap().this_update;
    assert!(check_response(GOOD, LEAF, CA, this - CLOCK_SKEW).is_ok(), "within the clock skew");
    assert_eq!(
        err(check_response(GOOD, LEAF, CA, this - CLOCK_SKEW - 1)),
        format!("thisUpdate {} is in the future", rfc3339(this))
    );
}

#[test]
fn unsuccessful_answers_are_named() {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED }
    for (code, name) in
        [(1u8, "malformedRequest"), (2, "internalError"), (3, "tryLater"), (5, "sigRequired"), (6, "unauthorized")]
    {
        let der = [0x30, 0x03, 0x0a, 0x01, code];
        assert_eq!(err(check(&der)), format!("the responder answered \"{name}\""));
    }
}

#[test]
fn what_is_not_an_ocsp_response() {
    for der in [&b""[..], b"<html>", &GOOD[..GOOD.len() - 1], &[0x30, 0x03, 0x0a, 0x01, 0x00]] {
        let e = err(check(der));
        assert!(e.starts_with("not an OCSP response: "), "{e}");
    }
    let mut trailing = GOOD.to_vec();
    trailing.push(0);
    assert!(err(check(&trailing)).starts_with("not an OCSP response: "));
    // responseBytes of another type.
    let mut response = OcspResponse::from_der(GOOD).unwrap();
    response.response_bytes.as_mut().unwrap().response_type = ObjectIdentifier::new_unwrap("1.2.3.4");
    assert_eq!(err(check(&response.to_der().unwrap())), "the response is of type 1.2.3.4, not id-pkix-ocsp-basic");
}

#[test]
fn answer_for_the_serial_of_another_issuer_is_rejected() {
    let der = altered(GOOD, |b| {
        let id = &mut b.tbs_response_data.responses[0].cert_id;
        id.issuer_key_hash = der::asn1::OctetString::new([0u8; 20]).unwrap();
    });
    assert_eq!(err(check(&der)), "answers for serial 0A1B2C3D4E5F6071 of another issuer");
    let der = altered(GOOD, |b| {
        let id = &mut b.tbs_response_data.responses[0].cert_id;
        id.hash_algorithm.oid = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
    });
    assert_eq!(err(check(&der)), "answers with a CertID hashed by 2.16.840.1.101.3.4.2.3, which is not supported");
}

#[test]
fn answer_without_any_status() {
    let der = altered(GOOD, |b| b.tbs_response_data.responses.clear());
    assert_eq!(err(check(&der)), "the response holds no certificate status");
}
