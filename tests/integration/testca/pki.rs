//! The test CA's keys and certificates: a root, an issuing intermediate, the
//! HTTPS certificate; CSR parsing and leaf issuance.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectAltName};
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::{b64, hex, random_bytes};

const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const SAN: Oid = Oid::new_unwrap("2.5.29.17");
const AKI: Oid = Oid::new_unwrap("2.5.29.35");
const EXT_REQ: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
const CN: Oid = Oid::new_unwrap("2.5.4.3");

/// Sets validity on params (rcgen's time type cannot be named without the `time` crate).
fn set_validity(p: &mut CertificateParams, not_before: i64, not_after: i64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    p.not_before = epoch + Duration::from_secs(not_before as u64);
    p.not_after = epoch + Duration::from_secs(not_after as u64);
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "acmebot test CA");
    d.push(DnType::CommonName, cn);
    d
}

pub struct Pki {
    pub root_pem: String,
    pub root_der: Vec<u8>,
    pub inter: CertifiedIssuer<'static, KeyPair>,
    pub inter_pem: String,
    tls_cert: Vec<u8>,
    tls_key: Vec<u8>,
}

impl Pki {
    pub fn new() -> Result<Pki, rcgen::Error> {
        let now = super::now();
        let tag = hex(&random_bytes(3));
        let mut rp = CertificateParams::new(Vec::<String>::new())?;
        rp.distinguished_name = dn(&format!("acmebot testca root {tag}"));
        rp.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        rp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        set_validity(&mut rp, now - 86400, now + 10 * 365 * 86400);
        let root = CertifiedIssuer::self_signed(rp, KeyPair::generate()?)?;

        let mut ip = CertificateParams::new(Vec::<String>::new())?;
        ip.distinguished_name = dn(&format!("acmebot testca intermediate {tag}"));
        ip.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ip.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ip.use_authority_key_identifier_extension = true;
        set_validity(&mut ip, now - 86400, now + 5 * 365 * 86400);
        let inter = CertifiedIssuer::signed_by(ip, KeyPair::generate()?, &root)?;

        let tls_key = KeyPair::generate()?;
        let mut tp = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        tp.distinguished_name = dn("acmebot testca https");
        tp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        tp.use_authority_key_identifier_extension = true;
        set_validity(&mut tp, now - 86400, now + 365 * 86400);
        let tls_cert = tp.signed_by(&tls_key, &root)?;
        Ok(Pki {
            root_pem: root.pem(),
            root_der: root.der().to_vec(),
            inter_pem: inter.pem(),
            inter,
            tls_cert: tls_cert.der().to_vec(),
            tls_key: tls_key.serialize_der(),
        })
    }

    pub fn tls_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.tls_cert.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.tls_key.clone())),
            )
            .unwrap();
        Arc::new(cfg)
    }

    /// Issues a leaf for `key` (from a CSR), signed by the intermediate. Returns the DER.
    pub fn issue(
        &self,
        key: &CsrKey,
        names: &[String],
        not_before: i64,
        not_after: i64,
        serial: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut p = CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, names[0].as_str());
        set_validity(&mut p, not_before, not_after);
        p.serial_number = Some(SerialNumber::from_slice(serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if key.rsa {
            p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        Ok(p.signed_by(key, &self.inter).map_err(|e| e.to_string())?.der().to_vec())
    }
}

/// The public key of a CSR, in the form rcgen signs for.
pub struct CsrKey {
    pub bits: Vec<u8>,
    pub rsa: bool,
    alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

pub struct Csr {
    /// SANs (dNSName; the CN only if there are none), lowercased, deduplicated, sorted.
    pub names: Vec<String>,
    pub key: CsrKey,
}

/// Verifies `sig` over `msg` by the key in `spki`, for the signature algorithm `sig_oid`.
pub fn verify_sig(spki: &SubjectPublicKeyInfoOwned, sig_oid: &Oid, msg: &[u8], sig: &[u8]) -> bool {
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<Oid>().ok());
    let alg: &'static dyn VerificationAlgorithm = match (spki.algorithm.oid, curve, sig_oid.to_string().as_str()) {
        (RSA, _, "1.2.840.113549.1.1.11") => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA, _, "1.2.840.113549.1.1.12") => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RSA, _, "1.2.840.113549.1.1.13") => &signature::RSA_PKCS1_2048_8192_SHA512,
        (EC, Some(P256), "1.2.840.10045.4.3.2") => &signature::ECDSA_P256_SHA256_ASN1,
        (EC, Some(P256), "1.2.840.10045.4.3.3") => &signature::ECDSA_P256_SHA384_ASN1,
        (EC, Some(P384), "1.2.840.10045.4.3.2") => &signature::ECDSA_P384_SHA256_ASN1,
        (EC, Some(P384), "1.2.840.10045.4.3.3") => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return false,
    };
    UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes()).verify(msg, sig).is_ok()
}

pub fn parse_csr(der: &[u8]) -> Result<Csr, String> {
    let csr = CertReq::from_der(der).map_err(|e| format!("CSR does not parse: {e}"))?;
    let info = csr.info.to_der().map_err(|e| e.to_string())?;
    let spki = &csr.info.public_key;
    if !verify_sig(spki, &csr.algorithm.oid, &info, csr.signature.raw_bytes()) {
        return Err("CSR signature does not verify (or its algorithm is unsupported)".into());
    }
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<Oid>().ok());
    let (alg, rsa) = match (spki.algorithm.oid, curve) {
        (RSA, _) => (&rcgen::PKCS_RSA_SHA256, true),
        (EC, Some(P256)) => (&rcgen::PKCS_ECDSA_P256_SHA256, false),
        (EC, Some(P384)) => (&rcgen::PKCS_ECDSA_P384_SHA384, false),
        _ => return Err("CSR key type is not supported".into()),
    };
    let mut names = Vec::new();
    let mut cns = Vec::new();
    for rdn in csr.info.subject.0.iter() {
        for atv in rdn.0.iter().filter(|a| a.oid == CN) {
            cns.push(String::from_utf8_lossy(atv.value.value()).to_ascii_lowercase());
        }
    }
    for attr in csr.info.attributes.iter().filter(|a| a.oid == EXT_REQ) {
        for v in attr.values.iter() {
            let req = v.decode_as::<ExtensionReq>().map_err(|e| format!("bad extensionRequest: {e}"))?;
            for ext in req.0.iter().filter(|e| e.extn_id == SAN) {
                let san = SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(|e| format!("bad SAN: {e}"))?;
                for gn in san.0 {
                    match gn {
                        GeneralName::DnsName(n) => names.push(n.as_str().to_ascii_lowercase()),
                        _ => return Err("CSR has a non-DNS subjectAltName".into()),
                    }
                }
            }
        }
    }
    if names.is_empty() {
        names = cns.clone();
    }
    if let Some(cn) = cns.iter().find(|cn| !names.contains(cn)) {
        return Err(format!("CSR common name {cn:?} is not among its subjectAltNames"));
    }
    names.sort();
    names.dedup();
    Ok(Csr { names, key: CsrKey { bits: spki.subject_public_key.raw_bytes().to_vec(), rsa, alg } })
}

/// RFC 9773 §4.1 certID of a DER certificate: base64url(AKI keyIdentifier) "." base64url(serial).
pub fn ari_cert_id(cert_der: &[u8]) -> Option<String> {
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    let tbs = &cert.tbs_certificate;
    let ext = tbs.extensions.as_ref()?.iter().find(|e| e.extn_id == AKI)?;
    let aki = AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes()).ok()?;
    Some(format!("{}.{}", b64(aki.key_identifier?.as_bytes()), b64(tbs.serial_number.as_bytes())))
}
