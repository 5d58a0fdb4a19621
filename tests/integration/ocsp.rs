//! acmebot's OCSP core (`acmebot::ocsp`) against a live `openssl ocsp`
//! responder (`ocsp_responder`), and the responder itself checked with
//! openssl's own OCSP client, so a failure here points at one side.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acmebot::ocsp::{check_response, request_der, CertStatus, Checked, OcspError};

use crate::ocsp_responder::{OcspResponder, Signer, Status, DELEGATED_SUBJECT};
use crate::support::temp_dir;

const NOT_SIGNED: &str = "not signed by the issuer or a responder the issuer delegated (OCSPSigning)";
const SERIAL: &str = "4F0C5A11";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn openssl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("openssl").args(args).output().expect("run openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A throwaway CA and a leaf it issued (serial [`SERIAL`]), made by openssl.
struct Pki {
    dir: PathBuf,
    ca_pem: PathBuf,
    ca_key: PathBuf,
    ca_der: Vec<u8>,
    leaf_pem: PathBuf,
    leaf_der: Vec<u8>,
}

fn der_of(pem: &Path) -> Vec<u8> {
    acmebot::crypto::pem_to_ders(&std::fs::read(pem).unwrap()).unwrap().remove(0)
}

fn pki(name: &str) -> Pki {
    let dir = temp_dir(name);
    let (ca_key, ca_pem) = (dir.join("ca.key"), dir.join("ca.pem"));
    let run = |args: &[&str]| {
        let (ok, _, err) = openssl(args);
        assert!(ok, "openssl {args:?}: {err}");
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p(&ca_key)]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        p(&ca_key),
        "-subj",
        "/CN=acmebot OCSP integration CA",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        p(&ca_pem),
    ]);
    let (leaf_key, csr, ext, leaf_pem) =
        (dir.join("leaf.key"), dir.join("leaf.csr"), dir.join("leaf.ext"), dir.join("leaf.pem"));
    run(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(&leaf_key)]);
    run(&["req", "-new", "-key", p(&leaf_key), "-subj", "/CN=leaf.example.test", "-out", p(&csr)]);
    std::fs::write(&ext, "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:leaf.example.test\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        p(&csr),
        "-CA",
        p(&ca_pem),
        "-CAkey",
        p(&ca_key),
        "-set_serial",
        &format!("0x{SERIAL}"),
        "-days",
        "30",
        "-extfile",
        p(&ext),
        "-out",
        p(&leaf_pem),
    ]);
    Pki { ca_der: der_of(&ca_pem), leaf_der: der_of(&leaf_pem), dir, ca_pem, ca_key, leaf_pem }
}

fn setup(name: &str) -> (Pki, OcspResponder) {
    let pki = pki(name);
    let responder = OcspResponder::start(&pki.dir.join("responder"), &pki.ca_pem, &pki.ca_key);
    (pki, responder)
}

/// An HTTP/1.1 exchange on a plain TcpStream: (status, content type, body).
fn http(url: &str, method: &str, path_suffix: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} /{path}{path_suffix} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method == "POST" {
        req.push_str(&format!("Content-Type: application/ocsp-request\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-type")))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    (status, content_type, answer[split + 4..].to_vec())
}

/// Asks the responder about the leaf with acmebot's request; the DER answer.
fn ask(pki: &Pki, responder: &OcspResponder) -> Vec<u8> {
    let request = request_der(&pki.leaf_der, &pki.ca_der).unwrap();
    let (status, content_type, body) = http(&responder.url(), "POST", "", &request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/ocsp-response");
    body
}

fn check(pki: &Pki, responder: &OcspResponder, at: i64) -> Result<Checked, OcspError> {
    check_response(&ask(pki, responder), &pki.leaf_der, &pki.ca_der, at)
}

fn rejected(result: Result<Checked, OcspError>) -> String {
    result.expect_err("the answer was accepted").to_string()
}

#[test]
fn good() {
    let (pki, responder) = setup("ocsp-good");
    responder.set_status(SERIAL, Status::Good);
    let t = now();
    let c = check(&pki, &responder, t).unwrap();
    assert_eq!(c.status, CertStatus::Good);
    assert_eq!(c.delegated, None);
    assert!((c.this_update - t).abs() < 60, "thisUpdate {} at {t}", c.this_update);
    assert_eq!(c.next_update, Some(c.this_update + 7 * 86_400), "-ndays 7");
    assert_eq!(responder.requests(), 1);
}

#[test]
fn revoked() {
    let (pki, responder) = setup("ocsp-revoked");
    let at = now() - 3600;
    responder.set_status(SERIAL, Status::Revoked { at, reason: Some("keyCompromise") });
    let c = check(&pki, &responder, now()).unwrap();
    assert_eq!(c.status, CertStatus::Revoked { at, reason: Some("keyCompromise".into()) });
    responder.set_status(SERIAL, Status::Revoked { at, reason: None });
    assert_eq!(check(&pki, &responder, now()).unwrap().status, CertStatus::Revoked { at, reason: None });
}

#[test]
fn unknown() {
    let (pki, responder) = setup("ocsp-unknown");
    responder.set_status("0A0B", Status::Good); // another serial
    assert_eq!(check(&pki, &responder, now()).unwrap().status, CertStatus::Unknown);
}

#[test]
fn wrong_key_is_rejected() {
    let (pki, responder) = setup("ocsp-wrong-key");
    responder.set_status(SERIAL, Status::Good);
    responder.use_signer(Signer::WrongKey);
    let e = rejected(check(&pki, &responder, now()));
    assert!(e.starts_with(NOT_SIGNED), "{e}");
}

#[test]
fn delegated_responder_is_accepted() {
    let (pki, responder) = setup("ocsp-delegated");
    responder.set_status(SERIAL, Status::Good);
    responder.use_signer(Signer::Delegated);
    let c = check(&pki, &responder, now()).unwrap();
    assert_eq!(c.status, CertStatus::Good);
    assert_eq!(c.delegated.as_deref(), Some(DELEGATED_SUBJECT));
    // Without its certificate in the answer there is nothing to check it by.
    responder.send_signer_cert(false);
    let e = rejected(check(&pki, &responder, now()));
    assert_eq!(e, format!("{NOT_SIGNED}: the response carries no responder certificate"));
}

#[test]
fn delegated_responder_without_ocsp_signing_is_rejected() {
    let (pki, responder) = setup("ocsp-delegated-noeku");
    responder.set_status(SERIAL, Status::Good);
    responder.use_signer(Signer::DelegatedWithoutEku);
    let e = rejected(check(&pki, &responder, now()));
    assert!(e.starts_with(NOT_SIGNED) && e.ends_with("lacks the extended key usage id-kp-OCSPSigning"), "{e}");
}

#[test]
fn stale_answer_is_rejected() {
    let (pki, responder) = setup("ocsp-stale");
    responder.set_status(SERIAL, Status::Good);
    responder.set_validity_minutes(1);
    let der = ask(&pki, &responder);
    let c = check_response(&der, &pki.leaf_der, &pki.ca_der, now()).unwrap();
    assert_eq!(c.next_update, Some(c.this_update + 60), "-nmin 1");
    let e = rejected(check_response(&der, &pki.leaf_der, &pki.ca_der, now() + 7200));
    assert!(e.starts_with("nextUpdate ") && e.ends_with(" has passed"), "{e}");
}

#[test]
fn get_request_is_answered() {
    // RFC 6960 Appendix A.1: GET {url}/{url-encoded base64 of the request}.
    use base64::Engine;
    let (pki, responder) = setup("ocsp-get");
    responder.set_status(SERIAL, Status::Good);
    let b64 = base64::engine::general_purpose::STANDARD.encode(request_der(&pki.leaf_der, &pki.ca_der).unwrap());
    let path = b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let (status, _, body) = http(&responder.url(), "GET", &path, b"");
    assert_eq!(status, 200);
    let c = check_response(&body, &pki.leaf_der, &pki.ca_der, now()).unwrap();
    assert_eq!(c.status, CertStatus::Good);
}

#[test]
fn openssl_reads_our_request() {
    let pki = pki("ocsp-openssl-request");
    let ours = pki.dir.join("our.der");
    std::fs::write(&ours, request_der(&pki.leaf_der, &pki.ca_der).unwrap()).unwrap();
    let (ok, text, err) = openssl(&["ocsp", "-reqin", p(&ours), "-req_text"]);
    assert!(ok, "{err}");
    assert!(text.contains("Hash Algorithm: sha1"), "{text}");
    assert!(text.contains(&format!("Serial Number: {SERIAL}")), "{text}");
    assert!(!text.contains("Request Extensions"), "no nonce: {text}");
    // And it is the request openssl itself makes.
    let theirs = pki.dir.join("theirs.der");
    let (ok, _, err) =
        openssl(&["ocsp", "-issuer", p(&pki.ca_pem), "-cert", p(&pki.leaf_pem), "-no_nonce", "-reqout", p(&theirs)]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap());
}

#[test]
fn openssl_client_trusts_the_harness() {
    // The responder checked without acmebot: openssl's own client and checks.
    let (pki, responder) = setup("ocsp-openssl-client");
    let url = responder.url();
    let ask_openssl = || {
        openssl(&[
            "ocsp",
            "-issuer",
            p(&pki.ca_pem),
            "-cert",
            p(&pki.leaf_pem),
            "-url",
            &url,
            "-CAfile",
            p(&pki.ca_pem),
            "-no_proxy",
            "127.0.0.1",
        ])
    };
    let leaf = p(&pki.leaf_pem);
    responder.set_status(SERIAL, Status::Good);
    let (ok, out, err) = ask_openssl();
    assert!(ok && out.contains(&format!("{leaf}: good")) && err.contains("Response verify OK"), "{out}{err}");
    responder.set_status(SERIAL, Status::Revoked { at: now() - 60, reason: Some("superseded") });
    let (ok, out, err) = ask_openssl();
    assert!(ok && out.contains(&format!("{leaf}: revoked")) && out.contains("superseded"), "{out}{err}");
    responder.use_signer(Signer::Delegated);
    let (ok, out, err) = ask_openssl();
    assert!(ok && err.contains("Response verify OK"), "delegated: {out}{err}");
    responder.use_signer(Signer::WrongKey);
    let (_, out, err) = ask_openssl();
    assert!(err.contains("Response Verify Failure"), "wrong key: {out}{err}");
    responder.use_signer(Signer::DelegatedWithoutEku);
    let (_, out, err) = ask_openssl();
    assert!(err.contains("Response Verify Failure"), "no OCSPSigning: {out}{err}");
    assert_eq!(responder.requests(), 5);
}

#[test]
fn unsuccessful_answer_is_named() {
    let (pki, responder) = setup("ocsp-unsuccessful");
    // OCSPResponse { responseStatus tryLater }
    responder.answer_with(Some(vec![0x30, 0x03, 0x0a, 0x01, 0x03]));
    assert_eq!(rejected(check(&pki, &responder, now())), "the responder answered \"tryLater\"");
    responder.answer_with(None);
    assert_eq!(check(&pki, &responder, now()).unwrap().status, CertStatus::Unknown);
}

#[test]
fn issuer_can_come_later() {
    let pki = pki("ocsp-later");
    let responder = OcspResponder::listen(&pki.dir.join("responder"));
    let request = request_der(&pki.leaf_der, &pki.ca_der).unwrap();
    let (status, _, body) = http(&responder.url(), "POST", "", &request);
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    responder.set_issuer(&pki.ca_pem, &pki.ca_key);
    responder.set_status(SERIAL, Status::Good);
    assert_eq!(check(&pki, &responder, now()).unwrap().status, CertStatus::Good);
    assert_eq!(responder.requests(), 2);
}
