use super::*;
use aws_lc_rs::signature::UnparsedPublicKey;

include!("fixtures.rs");

const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

// Digests computed independently with Python `cryptography` from the fixtures.
const RSA1_SPKI_SHA256: &str = "2c0821876cac1f44785b19c55bdca7a52405e55fdb356573caf0bfb2cc0e63f4";
const RSA1_PIN: &str = "LAghh2ysH0R4WxnFW9ynpSQF5V/bNWVzyvC/sswOY/Q=";
const RSA1_THUMB: &str = "ppTeG3d5b_YIRSXSnZZJadjeSQaK-TLX_7qCcgrrmdw";
const RSA1_DNS01_TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const RSA1_DNS01: &str = "Ja_GTVybmMxknVc-jqWSUBUpbGVx-cmngF4w_pbllvw";
const EC256_SPKI_SHA256: &str = "73f1f8777d39c3b2372d800e68cadd951cedb596eddbc01d800dbd5fa16ea3a9";
const EC256_THUMB: &str = "Ojre_Jq0FZs_6jsnYxVtd4_OlbpO0xW8w30ZjwknUnc";
const EC384_SPKI_SHA256: &str = "a70052be25ae88cc9260420cffc498f4c70199d2edf09faa5f65ad59dda450bf";
const EC521_SPKI_SHA256: &str = "1a4a93d1b18b9f9c1af113ece2dc82cd4464b69547de76d7c44bd5230ecde70a";

fn verify_alg(key: &PrivateKey) -> &'static dyn signature::VerificationAlgorithm {
    match key.curve() {
        None => &signature::RSA_PKCS1_2048_8192_SHA256,
        Some(Curve::P256) => &signature::ECDSA_P256_SHA256_FIXED,
        Some(Curve::P384) => &signature::ECDSA_P384_SHA384_FIXED,
        Some(Curve::P521) => &signature::ECDSA_P521_SHA512_FIXED,
    }
}

fn verify(key: &PrivateKey, msg: &[u8], sig: &[u8]) -> bool {
    // Verify with the public key taken from the SPKI (not from the key pair object).
    let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(key.spki_der()).unwrap();
    let raw = spki.subject_public_key.raw_bytes();
    UnparsedPublicKey::new(verify_alg(key), raw).verify(msg, sig).is_ok()
}

fn all_keys() -> Vec<PrivateKey> {
    vec![
        PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P256).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P384).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P521).unwrap(),
    ]
}

#[test]
fn b64url_helpers() {
    assert_eq!(b64url(&[251, 255, 190]), "-_--");
    assert_eq!(b64url(b"a"), "YQ");
    assert_eq!(b64url_decode("YQ").unwrap(), b"a");
    assert_eq!(b64url_decode("YQ==").unwrap(), b"a");
    assert!(matches!(b64url_decode("Y+Q"), Err(CryptoError::InvalidBase64 { .. })));
}

#[test]
fn rfc7638_thumbprint() {
    let jwk = json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
    assert_eq!(jwk_thumbprint_of(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert!(jwk_thumbprint_of(&json!({"kty": "oct", "k": "x"})).is_err());
    assert!(jwk_thumbprint_of(&json!({"kty": "RSA", "e": "AQAB"})).is_err());
}

#[test]
fn read_pkcs1_rsa_pem() {
    let k = PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap();
    assert_eq!(k.key_type(), KeyType::Rsa);
    assert_eq!(k.rsa_bits(), Some(2048));
    assert_eq!(k.curve(), None);
    assert_eq!(k.jws_alg(), "RS256");
    assert_eq!(k.spki_sha256_hex(), RSA1_SPKI_SHA256);
    assert_eq!(k.spki_sha256_b64(), RSA1_PIN);
    assert_eq!(k.jwk_thumbprint(), RSA1_THUMB);
    assert_eq!(k.public_jwk()["e"], "AQAB");
    assert_eq!(dns01_txt_value(RSA1_DNS01_TOKEN, &k), RSA1_DNS01);
    assert_eq!(key_authorization("tok", &k), format!("tok.{RSA1_THUMB}"));
    assert_eq!(k.spki_sha512_hex().len(), 128);
}

#[test]
fn read_sec1_ec_pems() {
    for (pem, curve, digest, alg) in [
        (EC256_SEC1_PEM, Curve::P256, EC256_SPKI_SHA256, "ES256"),
        (EC384_SEC1_WITH_PARAMS_PEM, Curve::P384, EC384_SPKI_SHA256, "ES384"),
        (EC521_SEC1_PEM, Curve::P521, EC521_SPKI_SHA256, "ES512"),
    ] {
        let k = PrivateKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(k.key_type(), KeyType::Ecdsa);
        assert_eq!(k.curve(), Some(curve));
        assert_eq!(k.rsa_bits(), None);
        assert_eq!(k.spki_sha256_hex(), digest, "{curve}");
        assert_eq!(k.jws_alg(), alg);
    }
    let k = PrivateKey::from_pem(EC256_SEC1_PEM.as_bytes()).unwrap();
    assert_eq!(k.jwk_thumbprint(), EC256_THUMB);
    // The same key as PKCS#8 written by Python cryptography.
    let k8 = PrivateKey::from_pem(EC256_PKCS8_PEM.as_bytes()).unwrap();
    assert_eq!(k, k8);
}

#[test]
fn pem_errors() {
    assert_eq!(PrivateKey::from_pem(ENCRYPTED_RSA_PEM.as_bytes()).unwrap_err(), CryptoError::EncryptedKey);
    let enc8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_eq!(PrivateKey::from_pem(enc8.as_bytes()).unwrap_err(), CryptoError::EncryptedKey);
    assert_eq!(PrivateKey::from_pem(CA_PEM.as_bytes()).unwrap_err(), CryptoError::NoPrivateKey);
    assert_eq!(PrivateKey::from_pem(b"").unwrap_err(), CryptoError::NoPrivateKey);
    let bad = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let e = PrivateKey::from_pem(bad.as_bytes()).unwrap_err();
    assert!(matches!(e, CryptoError::InvalidKey { .. }), "{e:?}");
    assert!(!e.to_string().is_empty());
}

#[test]
fn pkcs8_pem_round_trip_each_type() {
    let mut keys = all_keys();
    keys.push(PrivateKey::generate_rsa(2048).unwrap());
    for k in keys {
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = PrivateKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.spki_der(), k.spki_der());
        assert_eq!(back.pkcs8_der(), k.pkcs8_der());
        assert_eq!(back.key_type(), k.key_type());
        assert_eq!(back.curve(), k.curve());
        assert_eq!(PrivateKey::from_pkcs8_der(k.pkcs8_der()).unwrap(), k);
        let sig = back.sign(b"hello").unwrap();
        assert!(verify(&k, b"hello", &sig));
        assert!(!verify(&k, b"hellO", &sig));
        assert_eq!(k.clone(), k);
    }
}

#[test]
fn generate_dispatch_and_sizes() {
    let k = PrivateKey::generate(KeyType::Ecdsa, 4096, Curve::P384).unwrap();
    assert_eq!(k.curve(), Some(Curve::P384));
    let k = PrivateKey::generate(KeyType::Rsa, 3072, Curve::P256).unwrap();
    assert_eq!(k.rsa_bits(), Some(3072));
    assert_eq!(PrivateKey::generate_rsa(1024).unwrap_err(), CryptoError::UnsupportedRsaSize(1024));
}

#[test]
fn debug_and_errors_hide_secrets() {
    let k = PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap();
    let dbg = format!("{k:?}");
    assert!(dbg.contains("rsa2048") && dbg.contains(RSA1_SPKI_SHA256), "{dbg}");
    assert!(!dbg.contains("MII"));
    // A JSON parse error must not echo the file's content.
    let e = account_key_from_json(br#"{"n": "secretstuff"#).unwrap_err();
    assert!(!e.to_string().contains("secretstuff"), "{e}");
    let e = account_key_from_json(br#"{"n": 5}"#).unwrap_err();
    assert!(e.to_string().contains("\"n\""), "{e}");
}

fn decode_jws(v: &Value) -> (Value, Vec<u8>, Vec<u8>, String) {
    let p = v["protected"].as_str().unwrap();
    let pl = v["payload"].as_str().unwrap();
    let header: Value = serde_json::from_slice(&b64url_decode(p).unwrap()).unwrap();
    (header, b64url_decode(pl).unwrap(), b64url_decode(v["signature"].as_str().unwrap()).unwrap(), format!("{p}.{pl}"))
}

#[test]
fn jws_each_alg_verifies() {
    for k in all_keys() {
        let payload = br#"{"identifiers":[{"type":"dns","value":"example.com"}]}"#;
        let v = jws(&k, None, "nonce-1", "https://acme.test/new-order", Some(payload)).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 3);
        let (h, body, sig, signing_input) = decode_jws(&v);
        assert_eq!(h["alg"], k.jws_alg());
        assert_eq!(h["nonce"], "nonce-1");
        assert_eq!(h["url"], "https://acme.test/new-order");
        assert_eq!(h["jwk"], k.public_jwk());
        assert!(h.get("kid").is_none());
        assert_eq!(body, payload);
        assert!(verify(&k, signing_input.as_bytes(), &sig), "{}", k.jws_alg());
        if let Some(c) = k.curve() {
            let n = match c {
                Curve::P256 => 32,
                Curve::P384 => 48,
                Curve::P521 => 66,
            };
            assert_eq!(sig.len(), 2 * n);
            assert_eq!(b64url_decode(h["jwk"]["x"].as_str().unwrap()).unwrap().len(), n);
            assert_eq!(b64url_decode(h["jwk"]["y"].as_str().unwrap()).unwrap().len(), n);
            assert_eq!(h["jwk"]["crv"], jwk_crv(c));
        } else {
            assert_eq!(sig.len(), 256);
        }
        // JWK in the header gives the same thumbprint.
        assert_eq!(jwk_thumbprint_of(&h["jwk"]).unwrap(), k.jwk_thumbprint());

        // POST-as-GET with kid.
        let v = jws(&k, Some("https://acme.test/acct/1"), "n2", "https://acme.test/order/1", None).unwrap();
        assert_eq!(v["payload"], "");
        let (h, body, sig, signing_input) = decode_jws(&v);
        assert_eq!(h["kid"], "https://acme.test/acct/1");
        assert!(h.get("jwk").is_none());
        assert!(body.is_empty());
        assert!(signing_input.ends_with('.'));
        assert!(verify(&k, signing_input.as_bytes(), &sig));
    }
}

#[test]
fn eab_hmac_verifies() {
    let account = PrivateKey::generate_ecdsa(Curve::P256).unwrap();
    let hmac_key = b"0123456789abcdef0123456789abcdef-some-eab-key";
    let hmac_b64 = b64url(hmac_key);
    for (alg, halg) in [("HS256", hmac::HMAC_SHA256), ("HS384", hmac::HMAC_SHA384), ("HS512", hmac::HMAC_SHA512)] {
        let v = jws_hmac_eab(&account.public_jwk(), "kid-123", &hmac_b64, alg, "https://acme.test/new-acct").unwrap();
        let (h, body, sig, signing_input) = decode_jws(&v);
        assert_eq!(h, json!({"alg": alg, "kid": "kid-123", "url": "https://acme.test/new-acct"}));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, account.public_jwk());
        let key = hmac::Key::new(halg, hmac_key);
        assert!(hmac::verify(&key, signing_input.as_bytes(), &sig).is_ok());
    }
    // Padded key also accepted.
    assert!(jws_hmac_eab(&json!({}), "k", &format!("{hmac_b64}="), "HS256", "u").is_ok());
    assert!(matches!(
        jws_hmac_eab(&json!({}), "k", &hmac_b64, "RS256", "u"),
        Err(CryptoError::UnsupportedHmacAlgorithm(_))
    ));
    assert!(matches!(
        jws_hmac_eab(&json!({}), "k", "not base64!", "HS256", "u"),
        Err(CryptoError::InvalidBase64 { .. })
    ));
}

#[test]
fn account_key_json_original_form() {
    // The original's client_key.json (josepy fields_to_partial_json, no "kty").
    let k = account_key_from_json(RSA_JOSEPY_JSON.as_bytes()).unwrap();
    assert_eq!(k.spki_sha256_hex(), RSA1_SPKI_SHA256);
    let pem_key = PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap();
    assert_eq!(k, pem_key);
    // Writing gives exactly the original's members and values.
    let out: Value = serde_json::from_str(&account_key_to_json(&k).unwrap()).unwrap();
    let orig: Value = serde_json::from_str(RSA_JOSEPY_JSON).unwrap();
    assert_eq!(out, orig);
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["n", "e", "d", "p", "q", "dp", "dq", "qi"]);
    // With "kty" also accepted.
    let mut with_kty = orig.clone();
    with_kty["kty"] = json!("RSA");
    assert_eq!(account_key_from_json(with_kty.to_string().as_bytes()).unwrap(), k);
    // Inconsistent components rejected.
    let mut bad = orig.clone();
    bad["d"] = json!("AQAB");
    assert!(account_key_from_json(bad.to_string().as_bytes()).is_err());
    let mut missing = orig.as_object().unwrap().clone();
    missing.remove("qi");
    assert!(matches!(
        account_key_from_json(Value::Object(missing).to_string().as_bytes()),
        Err(CryptoError::InvalidJwk(_))
    ));

    // EC JWK fixture.
    let ek = account_key_from_json(EC256_JWK_JSON.as_bytes()).unwrap();
    assert_eq!(ek.spki_sha256_hex(), EC256_SPKI_SHA256);
    let out: Value = serde_json::from_str(&account_key_to_json(&ek).unwrap()).unwrap();
    assert_eq!(out, serde_json::from_str::<Value>(EC256_JWK_JSON).unwrap());
    assert!(account_key_from_json(br#"{"kty":"OKP","crv":"Ed25519"}"#).is_err());
}

#[test]
fn account_key_json_round_trip_generated() {
    let mut keys = all_keys();
    keys.push(PrivateKey::generate_rsa(2048).unwrap());
    for k in keys {
        let text = account_key_to_json(&k).unwrap();
        let back = account_key_from_json(text.as_bytes()).unwrap();
        assert_eq!(back.spki_der(), k.spki_der());
        let sig = back.sign(b"msg").unwrap();
        assert!(verify(&k, b"msg", &sig));
        let v: Value = serde_json::from_str(&text).unwrap();
        if k.key_type() == KeyType::Rsa {
            assert!(v.get("kty").is_none());
            assert_eq!(v.as_object().unwrap().len(), 8);
        } else {
            assert_eq!(v["kty"], "EC");
        }
    }
}

#[test]
fn csr_names_and_must_staple() {
    use x509_cert::request::CertReq;
    for k in all_keys() {
        let names = vec!["example.com".to_string(), "*.example.com".to_string(), "www.example.org".to_string()];
        for staple in [false, true] {
            let der_bytes = csr_der(&k, "example.com", &names, staple).unwrap();
            let req = CertReq::from_der(&der_bytes).unwrap();
            assert_eq!(name_cn(&req.info.subject).as_deref(), Some("example.com"));
            assert_eq!(req.info.subject.to_string(), "CN=example.com");
            assert_eq!(req.info.public_key.to_der().unwrap(), k.spki_der());
            let expected_alg = match k.curve() {
                None => "1.2.840.113549.1.1.11",
                Some(Curve::P256) => "1.2.840.10045.4.3.2",
                Some(Curve::P384) => "1.2.840.10045.4.3.3",
                Some(Curve::P521) => "1.2.840.10045.4.3.4",
            };
            assert_eq!(req.algorithm.oid.to_string(), expected_alg);
            // Signature over the CertificationRequestInfo verifies (ECDSA here is ASN.1 DER).
            let info_der = req.info.to_der().unwrap();
            let valg: &dyn signature::VerificationAlgorithm = match k.curve() {
                None => &signature::RSA_PKCS1_2048_8192_SHA256,
                Some(Curve::P256) => &signature::ECDSA_P256_SHA256_ASN1,
                Some(Curve::P384) => &signature::ECDSA_P384_SHA384_ASN1,
                Some(Curve::P521) => &signature::ECDSA_P521_SHA512_ASN1,
            };
            let raw = req.info.public_key.subject_public_key.raw_bytes();
            UnparsedPublicKey::new(valg, raw).verify(&info_der, req.signature.raw_bytes()).unwrap();
            // Extension request attribute.
            let mut sans = Vec::new();
            let mut tls_feature = None;
            for attr in req.info.attributes.iter() {
                assert_eq!(attr.oid.to_string(), "1.2.840.113549.1.9.14");
                for val in attr.values.iter() {
                    let exts: Vec<x509_cert::ext::Extension> = val.decode_as().unwrap();
                    for e in exts {
                        if e.extn_id == OID_SAN {
                            let san = x509_cert::ext::pkix::SubjectAltName::from_der(e.extn_value.as_bytes()).unwrap();
                            for gn in san.0 {
                                if let x509_cert::ext::pkix::name::GeneralName::DnsName(n) = gn {
                                    sans.push(n.to_string());
                                }
                            }
                        } else if e.extn_id == OID_TLS_FEATURE {
                            tls_feature = Some(e.extn_value.as_bytes().to_vec());
                        }
                    }
                }
            }
            assert_eq!(sans, names);
            if staple {
                assert_eq!(tls_feature.as_deref(), Some(&MUST_STAPLE_EXT_VALUE[..]));
            } else {
                assert!(tls_feature.is_none());
            }
        }
    }
}

#[test]
fn parse_openssl_leaf_and_chain() {
    let chain = format!("{LEAF_PEM}{CA_PEM}");
    let ders = pem_to_ders(chain.as_bytes()).unwrap();
    assert_eq!(ders.len(), 2);
    assert_eq!(ders_to_pem(&ders), chain);
    let leaf = parse_cert(&ders[0]).unwrap();
    assert_eq!(leaf.serial_hex, "f1e2d3c4b5a69788");
    assert_eq!(leaf.not_before, 1795968473);
    assert_eq!(leaf.not_after, 1803744473);
    assert_eq!(leaf.subject_cn.as_deref(), Some("www.Example.com"));
    assert_eq!(leaf.subject, "CN=www.Example.com,O=Example Org");
    assert_eq!(leaf.issuer, "CN=Pebble Intermediate CA 7fdc5b");
    assert_eq!(leaf.issuer_cn.as_deref(), Some("Pebble Intermediate CA 7fdc5b"));
    // iPAddress entries too (RFC 8738), in their text form.
    assert_eq!(leaf.sans, ["www.example.com", "*.example.net", "192.0.2.1"]);
    assert!(leaf.must_staple);
    assert!(!leaf.is_ca);
    assert_eq!(leaf.ocsp_urls, ["http://ocsp.example.test/"]);
    assert_eq!(leaf.ca_issuers_urls, ["http://ca.example.test/int.der"]);
    assert_eq!(leaf.der, ders[0]);
    assert_eq!(leaf.sha256_hex(), crate::types::sha256_hex(&ders[0]));
    let key = PrivateKey::from_pem(EC256_SEC1_PEM.as_bytes()).unwrap();
    assert!(key_matches_cert(&key, &leaf));
    assert_eq!(crate::types::sha256_hex(&leaf.spki_der), EC256_SPKI_SHA256);
    let other = PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap();
    assert!(!key_matches_cert(&other, &leaf));

    let ca = parse_cert(&ders[1]).unwrap();
    assert!(ca.is_ca);
    assert!(!ca.must_staple);
    assert!(ca.sans.is_empty());
    assert_eq!(ca.subject, ca.issuer);

    assert_eq!(pem_to_ders(EC256_SEC1_PEM.as_bytes()).unwrap_err(), CryptoError::NoCertificate);
    assert!(matches!(parse_cert(b"\x30\x03\x02\x01\x05"), Err(CryptoError::InvalidCertificate(_))));
}

#[test]
fn parse_rcgen_self_signed() {
    for k in all_keys() {
        let mut params =
            rcgen::CertificateParams::new(vec!["Example.com".to_string(), "*.example.com".to_string()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "example.com");
        params.distinguished_name = dn;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x8a, 0x01]));
        params.not_before = rcgen::date_time_ymd(2024, 1, 2);
        params.not_after = rcgen::date_time_ymd(2024, 4, 1);
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(&TLS_FEATURE_ARCS, MUST_STAPLE_EXT_VALUE.to_vec()));
        let kp = k.to_rcgen().unwrap();
        let cert = params.self_signed(&kp).unwrap();
        let pem = cert.pem();
        let ders = pem_to_ders(pem.as_bytes()).unwrap();
        let info = parse_cert(&ders[0]).unwrap();
        assert_eq!(info.serial_hex, "8a01");
        assert_eq!(info.not_before, 1704153600); // 2024-01-02T00:00:00Z
        assert_eq!(info.not_after, 1711929600); // 2024-04-01T00:00:00Z
        assert_eq!(info.subject_cn.as_deref(), Some("example.com"));
        assert_eq!(info.subject, "CN=example.com");
        assert_eq!(info.issuer, "CN=example.com");
        assert_eq!(info.sans, ["example.com", "*.example.com"]);
        assert!(info.must_staple);
        assert!(!info.is_ca);
        assert!(info.ocsp_urls.is_empty());
        assert!(key_matches_cert(&k, &info));
        assert_eq!(info.spki_der, k.spki_der());
    }
}

#[test]
fn key_params_are_read_without_loading_the_key() {
    let rsa = PrivateKey::from_pem(RSA_PKCS1_PEM.as_bytes()).unwrap();
    let bits = rsa.rsa_bits().unwrap();
    assert_eq!(key_params_from_pem(RSA_PKCS1_PEM.as_bytes()), Some(KeyParams::Rsa(bits)));
    assert_eq!(key_params_from_pem(rsa.to_pkcs8_pem().as_bytes()), Some(KeyParams::Rsa(bits)));
    let generated = PrivateKey::generate_rsa(3072).unwrap();
    assert_eq!(key_params_from_pem(generated.to_pkcs8_pem().as_bytes()), Some(KeyParams::Rsa(3072)));
    for (pem, curve) in [
        (EC256_SEC1_PEM, Curve::P256),
        (EC384_SEC1_WITH_PARAMS_PEM, Curve::P384),
        (EC521_SEC1_PEM, Curve::P521),
        (EC256_PKCS8_PEM, Curve::P256),
    ] {
        assert_eq!(key_params_from_pem(pem.as_bytes()), Some(KeyParams::Ec(curve)), "{pem}");
        let pkcs8 = PrivateKey::from_pem(pem.as_bytes()).unwrap().to_pkcs8_pem();
        assert_eq!(key_params_from_pem(pkcs8.as_bytes()), Some(KeyParams::Ec(curve)));
    }
    assert_eq!(key_params_from_pem(ENCRYPTED_RSA_PEM.as_bytes()), None);
    assert_eq!(key_params_from_pem(LEAF_PEM.as_bytes()), None);
}

#[test]
fn key_params_read_from_a_public_key_match_the_private_key() {
    for key in [
        PrivateKey::generate_rsa(2048).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P256).unwrap(),
        PrivateKey::generate_ecdsa(Curve::P384).unwrap(),
    ] {
        let from_pem = key_params_from_pem(key.to_pkcs8_pem().as_bytes());
        assert!(from_pem.is_some());
        assert_eq!(key_params_from_spki(key.spki_der()), from_pem);
    }
    assert_eq!(key_params_from_spki(b"not a key"), None);
}
