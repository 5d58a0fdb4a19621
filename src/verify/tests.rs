//! The comparison, on certificates and OCSP answers openssl made (the OCSP
//! module's fixtures: a CA, a leaf it issued, and its responder's answers).

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../ocsp/fixtures/", $name)).as_slice()
    };
}

const CA: &[u8] = fixture!("ca.der");
const LEAF: &[u8] = fixture!("leaf.der");
const OTHER_LEAF: &[u8] = fixture!("other-leaf.der");

fn now() -> Timestamp {
    include_str!("../ocsp/fixtures/made-at").trim().parse::<Timestamp>().unwrap() + 3600
}

fn served(chain: &[&[u8]], ocsp: Option<&[u8]>) -> Served {
    Served {
        handshake: Handshake {
            chain: chain.iter().map(|c| c.to_vec()).collect(),
            ocsp: ocsp.map(<[u8]>::to_vec),
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
        },
        pins: None,
    }
}

fn expected<'a>(leaf: &'a CertInfo, chain: &'a [Vec<u8>]) -> Expected<'a> {
    Expected { leaf, chain, previous: None, staple_required: false, pins: None, tlsa: &[] }
}

#[test]
fn the_installed_chain_served_is_clean() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let chain = vec![CA.to_vec()];
    assert_eq!(compare(&expected(&leaf, &chain), &served(&[LEAF, CA], None), now()), vec![]);
}

#[test]
fn another_leaf_and_the_previous_one_are_told_apart() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let other = crypto::parse_cert(OTHER_LEAF).unwrap();
    let chain = vec![CA.to_vec()];
    let p = compare(&expected(&leaf, &chain), &served(&[OTHER_LEAF, CA], None), now());
    assert_eq!(p.len(), 1);
    let text = p[0].to_string();
    assert!(text.starts_with("serves another certificate"), "{text}");
    assert!(text.contains(&other.serial_hex) && text.contains(&leaf.serial_hex), "{text}");

    let replaced = now() - 600;
    let mut e = expected(&leaf, &chain);
    e.previous = Some((other.serial_hex.as_str(), replaced));
    let p = compare(&e, &served(&[OTHER_LEAF, CA], None), now());
    let text = p[0].to_string();
    assert!(text.starts_with("still serves the previous certificate"), "{text}");
    assert!(text.contains(&format!("replaced {}", crate::time::rfc3339(replaced))), "{text}");
}

#[test]
fn chains_are_compared_in_length_and_content() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let chain = vec![CA.to_vec()];
    let p = compare(&expected(&leaf, &chain), &served(&[LEAF], None), now());
    assert_eq!(p, vec![Problem::ChainLength { got: 0, expected: 1 }]);
    assert_eq!(p[0].to_string(), "certificate chain length mismatch: got 0 intermediate(s), expected 1");
    let p = compare(&expected(&leaf, &chain), &served(&[LEAF, OTHER_LEAF], None), now());
    assert!(matches!(p[..], [Problem::Intermediate { index: 0, .. }]), "{p:?}");
    assert_eq!(compare(&expected(&leaf, &chain), &served(&[], None), now()), vec![Problem::NoCertificate]);
}

#[test]
fn staples_are_required_when_installed_and_checked_when_sent() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let chain = vec![CA.to_vec()];
    let mut e = expected(&leaf, &chain);
    e.staple_required = true;
    assert_eq!(compare(&e, &served(&[LEAF, CA], Some(fixture!("good.der"))), now()), vec![]);
    let p = compare(&e, &served(&[LEAF, CA], None), now());
    assert_eq!(p, vec![Problem::StapleMissing { must_staple: false }]);
    assert_eq!(p[0].to_string(), "no OCSP staple was sent, but an OCSP response is installed");
    // sent without being required: still judged
    let e = expected(&leaf, &chain);
    let p = compare(&e, &served(&[LEAF, CA], Some(fixture!("revoked.der"))), now());
    assert!(matches!(&p[..], [Problem::StapleStatus(s)] if s.starts_with("REVOKED at ")), "{p:?}");
    let p = compare(&e, &served(&[LEAF, CA], Some(fixture!("unknown.der"))), now());
    assert_eq!(p, vec![Problem::StapleStatus("UNKNOWN".into())]);
    // an answer about another certificate, and a stale one
    let p = compare(&e, &served(&[LEAF, CA], Some(fixture!("other-serial.der"))), now());
    assert!(matches!(&p[..], [Problem::StapleInvalid(_)]), "{p:?}");
    let p = compare(&e, &served(&[LEAF, CA], Some(fixture!("good.der"))), now() + 36_600 * 86_400);
    assert!(matches!(&p[..], [Problem::StapleInvalid(_)]), "{p:?}");
}

#[test]
fn pins_are_looked_for_by_digest() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let chain = vec![CA.to_vec()];
    let want =
        |what: &str, b: u8| ExpectedPin { what: what.into(), spki_sha256: vec![b; 32], spki_sha512: vec![b; 64] };
    let pins = [want("RSA private key k", 1), want("RSA backup key k", 2)];
    let mut e = expected(&leaf, &chain);
    e.pins = Some(&pins);
    let header = format!(
        "pin-sha256=\"{}\"; pin-sha512=\"{}\"; max-age=5184000; includeSubDomains",
        STANDARD.encode([1u8; 32]),
        STANDARD.encode([2u8; 64])
    );
    let mut s = served(&[LEAF, CA], None);
    s.pins = Some(Some(parse_pins(&header)));
    assert_eq!(compare(&e, &s, now()), vec![]);
    s.pins = Some(Some(parse_pins(&format!("pin-sha256=\"{}\"; max-age=1", STANDARD.encode([1u8; 32])))));
    let p = compare(&e, &s, now());
    assert_eq!(p, vec![Problem::PinMissing("RSA backup key k".into())]);
    assert_eq!(p[0].to_string(), "Public key pin missing for RSA backup key k");
    s.pins = Some(None);
    assert_eq!(compare(&e, &s, now()), vec![Problem::PinsMissing]);
    // HPKP off for the key: the header is not looked at
    e.pins = None;
    assert_eq!(compare(&e, &s, now()), vec![]);
}

#[test]
fn pin_directives_parse_as_the_original_parses_them() {
    let pins = parse_pins("max-age=10; pin-sha256='AQID'; PIN-SHA256=\"BAU=\" ; report-uri=\"https://r\"; pin-x=%%");
    assert_eq!(
        pins,
        vec![
            Pin { algorithm: "sha256".into(), digest: vec![1, 2, 3] },
            Pin { algorithm: "sha256".into(), digest: vec![4, 5] }
        ]
    );
}

#[test]
fn tlsa_records_must_match_when_dns_has_any() {
    let leaf = crypto::parse_cert(LEAF).unwrap();
    let ca = crypto::parse_cert(CA).unwrap();
    let chain = vec![CA.to_vec()];
    let sha256 = |b: &[u8]| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref().to_vec();
    let sha512 = |b: &[u8]| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, b).as_ref().to_vec();
    let s = served(&[LEAF, CA], None);
    let good: Vec<TlsaRecord> = vec![
        (3, 1, 1, sha256(&leaf.spki_der)),
        (3, 0, 2, sha512(LEAF)),
        (1, 0, 0, LEAF.to_vec()),
        (2, 1, 1, sha256(&ca.spki_der)),
        (0, 0, 1, sha256(CA)),
    ];
    for r in &good {
        let mut e = expected(&leaf, &chain);
        let records = [r.clone()];
        e.tlsa = &records;
        assert_eq!(compare(&e, &s, now()), vec![], "{r:?}");
    }
    // a record for another certificate and one with an unknown usage, and a
    // usage pointing at the leaf with the CA's digest
    let records = [(3, 0, 1, sha256(OTHER_LEAF)), (3, 1, 1, sha256(&ca.spki_der)), (4, 1, 1, vec![])];
    let mut e = expected(&leaf, &chain);
    e.tlsa = &records;
    let p = compare(&e, &s, now());
    assert_eq!(p, vec![Problem::Tlsa(3)]);
    assert_eq!(p[0].to_string(), "none of the 3 TLSA record(s) in DNS matches the served certificate");
    // one match among several is enough
    let records = [(3, 0, 1, sha256(OTHER_LEAF)), good[0].clone()];
    e.tlsa = &records;
    assert_eq!(compare(&e, &s, now()), vec![]);
}
