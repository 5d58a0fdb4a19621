//! The ACME v1 test server driven by a minimal v1 client written here: raw
//! HTTPS requests and JWS built with the v2 test CA's signer (`jwk` in every
//! protected header, `resource` in every payload).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use der::{Decode, Encode};
use serde_json::{json, Value};

use super::{AcmeV1, AcmeV1Options, ERROR_NS};
use crate::testca::jws::{thumbprint, Signer};
use crate::testca::{b64, hex, pki};

pub struct Res {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Res {
    pub fn h(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.0.eq_ignore_ascii_case(k)).map(|h| h.1.as_str())
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.headers.iter().filter(|h| h.0.eq_ignore_ascii_case(k)).map(|h| h.1.as_str()).collect()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The v1 error type without its `urn:acme:error:` prefix; asserts the problem form.
    pub fn problem(&self) -> String {
        assert_eq!(self.h("Content-Type"), Some("application/problem+json"), "{self:?}");
        let v = self.json();
        assert_eq!(v["status"], self.status, "{self:?}");
        let t = v["type"].as_str().unwrap_or("");
        assert!(t.starts_with(ERROR_NS), "{self:?}");
        t[ERROR_NS.len()..].to_string()
    }
    /// The target of the `Link` with this relation.
    pub fn link(&self, rel: &str) -> Option<String> {
        self.all("Link").into_iter().find_map(|l| {
            let (url, params) = l.split_once(';')?;
            (params.trim() == format!("rel=\"{rel}\"")).then(|| url.trim().trim_matches(['<', '>']).to_string())
        })
    }
}

impl std::fmt::Debug for Res {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?} {}", self.status, self.headers, String::from_utf8_lossy(&self.body))
    }
}

fn tls_config(ca: &AcmeV1) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read_to_string(ca.ca_pem_path()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(pem_der(&pem))).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b).unwrap()
}

/// One HTTPS request over a fresh connection, the server's certificate verified.
pub fn request(cfg: &Arc<rustls::ClientConfig>, method: &str, url: &str, body: Option<&[u8]>) -> Res {
    let rest = url.strip_prefix("https://").expect("https URL");
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = hostport.split(':').next().unwrap().to_string();
    let name = rustls::pki_types::ServerName::try_from(host).unwrap();
    let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(hostport).unwrap());
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/jose+json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(&[req.as_bytes(), body.unwrap_or_default()].concat()).unwrap();
    let mut buf = Vec::new();
    if let Err(e) = s.read_to_end(&mut buf) {
        assert!(!buf.is_empty(), "reading {url}: {e}");
    }
    let p = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP head");
    let head = String::from_utf8_lossy(&buf[..p]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Res { status, headers, body: buf[p + 4..].to_vec() }
}

/// A flattened JWS as v1 wants it: `alg`, `jwk` and `nonce` protected, no `url`.
fn jws(signer: &Signer, nonce: Option<&str>, payload: &[u8]) -> Value {
    let mut h = json!({"alg": signer.alg(), "jwk": signer.jwk()});
    if let Some(n) = nonce {
        h["nonce"] = json!(n);
    }
    let (p, pl) = (b64(h.to_string().as_bytes()), b64(payload));
    let sig = signer.sign(format!("{p}.{pl}").as_bytes());
    json!({"protected": p, "payload": pl, "signature": b64(&sig)})
}

/// A minimal v1 client.
struct Client {
    cfg: Arc<rustls::ClientConfig>,
    dir_url: String,
    dir: Value,
    signer: Signer,
    nonce: Option<String>,
}

impl Client {
    fn new(ca: &AcmeV1, signer: Signer) -> Client {
        let cfg = tls_config(ca);
        let r = request(&cfg, "GET", &ca.directory_url(), None);
        assert_eq!(r.status, 200, "{r:?}");
        Client { cfg, dir_url: ca.directory_url(), dir: r.json(), signer, nonce: None }
    }
    fn url(&self, k: &str) -> String {
        self.dir[k].as_str().unwrap_or_else(|| panic!("directory lacks {k}: {}", self.dir)).to_string()
    }
    fn get(&self, url: &str) -> Res {
        request(&self.cfg, "GET", url, None)
    }
    /// A nonce from the last response, or from HEAD on the directory.
    fn nonce(&mut self) -> String {
        if let Some(n) = self.nonce.take() {
            return n;
        }
        let r = request(&self.cfg, "HEAD", &self.dir_url, None);
        assert_eq!(r.status, 200, "{r:?}");
        r.h("Replay-Nonce").expect("HEAD gives a nonce").to_string()
    }
    /// POSTs a body as it is, remembering the response's nonce.
    fn send(&mut self, url: &str, body: &Value) -> Res {
        let r = request(&self.cfg, "POST", url, Some(body.to_string().as_bytes()));
        self.nonce = Some(r.h("Replay-Nonce").expect("every response has a Replay-Nonce").to_string());
        r
    }
    fn post(&mut self, url: &str, payload: &Value) -> Res {
        let nonce = self.nonce();
        let body = jws(&self.signer, Some(&nonce), payload.to_string().as_bytes());
        self.send(url, &body)
    }
    fn register(&mut self, agree: bool) -> Res {
        let mut p = json!({"resource": "new-reg", "contact": ["mailto:admin@example.com"]});
        if agree {
            p["agreement"] = self.dir["meta"]["terms-of-service"].clone();
        }
        self.post(&self.url("new-reg"), &p)
    }
    fn new_authz(&mut self, name: &str) -> Res {
        let p = json!({"resource": "new-authz", "identifier": {"type": "dns", "value": name}});
        self.post(&self.url("new-authz"), &p)
    }
    fn key_authz(&self, token: &str) -> String {
        format!("{token}.{}", thumbprint(&self.signer.jwk()).unwrap())
    }
    fn challenge<'a>(authz: &'a Value, typ: &str) -> &'a Value {
        authz["challenges"].as_array().unwrap().iter().find(|c| c["type"] == typ).unwrap()
    }
    /// Answers the challenge of this type with the right key authorization.
    fn answer(&mut self, authz: &Value, typ: &str) -> Res {
        let c = Self::challenge(authz, typ);
        let ka = self.key_authz(c["token"].as_str().unwrap());
        let p = json!({"resource": "challenge", "type": typ, "keyAuthorization": ka});
        self.post(c["uri"].as_str().unwrap(), &p)
    }
    /// GETs the authorization until it is no longer pending.
    fn poll(&self, url: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.get(url);
            assert_eq!(r.status, 200, "{r:?}");
            let a = r.json();
            if a["status"] != "pending" {
                return a;
            }
            assert!(Instant::now() < deadline, "still pending: {a}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    /// new-authz, answered with http-01 (auto_valid servers) and polled valid.
    fn authorize(&mut self, name: &str) -> String {
        let r = self.new_authz(name);
        assert_eq!(r.status, 201, "{r:?}");
        let url = r.h("Location").unwrap().to_string();
        let a = r.json();
        if a["status"] == "pending" {
            let r = self.answer(&a, "http-01");
            assert_eq!(r.status, 202, "{r:?}");
        }
        assert_eq!(self.poll(&url)["status"], "valid");
        url
    }
    fn new_cert(&mut self, csr: &[u8]) -> Res {
        self.post(&self.url("new-cert"), &json!({"resource": "new-cert", "csr": b64(csr)}))
    }
}

/// A CSR for these names with a fresh P-256 key; returns (DER, key PKCS#8).
fn csr(names: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let pkcs8 = p256_pkcs8();
    (csr_with(names, &pkcs8), pkcs8)
}

fn p256_pkcs8() -> Vec<u8> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let alg = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref().to_vec()
}

fn csr_with(names: &[&str], pkcs8: &[u8]) -> Vec<u8> {
    let kp = rcgen::KeyPair::try_from(pkcs8).unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, names[0].as_str());
    params.serialize_request(&kp).unwrap().der().to_vec()
}

fn cert(der: &[u8]) -> x509_cert::Certificate {
    x509_cert::Certificate::from_der(der).unwrap()
}

fn signed_by(child: &x509_cert::Certificate, parent: &x509_cert::Certificate) -> bool {
    let tbs = child.tbs_certificate.to_der().unwrap();
    child.tbs_certificate.issuer == parent.tbs_certificate.subject
        && pki::verify_sig(
            &parent.tbs_certificate.subject_public_key_info,
            &child.signature_algorithm.oid,
            &tbs,
            child.signature.raw_bytes(),
        )
}

/// token -> body
type Files = Arc<Mutex<HashMap<String, String>>>;
/// (Host, path) of each request
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback HTTP server standing in for the web server of the names being
/// validated: serves `files` (token -> body) and records (Host, path) of each request.
struct Web {
    port: u16,
    files: Files,
    seen: Seen,
    stop: Arc<AtomicBool>,
}

impl Web {
    fn start() -> Web {
        let port = crate::peers::free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let files: Files = Arc::default();
        let seen: Seen = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s, st) = (files.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                c.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut tmp) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let host = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default();
                s.lock().unwrap().push((host, path.clone()));
                let token = path.strip_prefix("/.well-known/acme-challenge/").unwrap_or("");
                let body = f.lock().unwrap().get(token).cloned();
                let resp = match body {
                    Some(b) => {
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len())
                    }
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                };
                let _ = c.write_all(resp.as_bytes());
            }
        });
        Web { port, files, seen, stop }
    }
    fn serve(&self, token: &str, body: &str) {
        self.files.lock().unwrap().insert(token.to_string(), body.to_string());
    }
    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn acme1_directory_and_nonces() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let cfg = tls_config(&ca);
    let r = request(&cfg, "GET", &ca.directory_url(), None);
    assert_eq!((r.status, r.h("Content-Type")), (200, Some("application/json")), "{r:?}");
    let d = r.json();
    let base = ca.base_url();
    for (k, path) in [
        ("new-reg", "/acme/new-reg"),
        ("new-authz", "/acme/new-authz"),
        ("new-cert", "/acme/new-cert"),
        ("revoke-cert", "/acme/revoke-cert"),
        ("key-change", "/acme/key-change"),
    ] {
        assert_eq!(d[k], format!("{base}{path}"), "{d}");
    }
    assert_eq!(d["meta"]["terms-of-service"], ca.tos_url());
    // Boulder's random entry: 5 resources, meta, and one key nobody knows.
    assert_eq!(d.as_object().unwrap().len(), 7, "{d}");
    let n1 = r.h("Replay-Nonce").unwrap().to_string();
    assert!(!n1.is_empty() && n1.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    // HEAD gives a nonce and no body; a POST-only resource answers HEAD with
    // 405 (as Boulder did), with a nonce all the same.
    let h = request(&cfg, "HEAD", &ca.directory_url(), None);
    assert_eq!((h.status, h.body.len()), (200, 0), "{h:?}");
    let n2 = h.h("Replay-Nonce").unwrap().to_string();
    let h = request(&cfg, "HEAD", d["new-reg"].as_str().unwrap(), None);
    assert_eq!((h.status, h.h("Allow")), (405, Some("POST")), "{h:?}");
    let n3 = h.h("Replay-Nonce").unwrap().to_string();
    let r = request(&cfg, "GET", &format!("{base}/nothing/here"), None);
    assert_eq!((r.status, r.problem().as_str()), (404, "malformed"));
    let n4 = r.h("Replay-Nonce").unwrap().to_string();
    let all: std::collections::HashSet<_> = [&n1, &n2, &n3, &n4].into_iter().collect();
    assert_eq!(all.len(), 4, "every nonce is new");

    // The terms, the issuer and the root are served.
    let t = request(&cfg, "GET", &ca.tos_url(), None);
    assert_eq!(t.status, 200);
    let i = request(&cfg, "GET", &ca.issuer_url(), None);
    assert_eq!((i.status, i.h("Content-Type")), (200, Some("application/pkix-cert")));
    assert_eq!(i.body, pem_der(&ca.intermediate_pem()));
    assert_eq!(i.link("up"), Some(ca.root_url()));
    let root = request(&cfg, "GET", &ca.root_url(), None);
    assert_eq!((root.status, root.body.clone(), root.link("up")), (200, pem_der(&ca.root_pem()), None));

    let log = ca.requests();
    assert_eq!(log[0], ("GET".to_string(), "/directory".to_string()));
    assert!(log.contains(&("HEAD".to_string(), "/acme/new-reg".to_string())));

    // Without key-change: not in the directory, and not served.
    let ca2 = AcmeV1::start(AcmeV1Options { key_change: false, ..Default::default() });
    let mut c = Client::new(&ca2, Signer::p256());
    assert!(c.dir.get("key-change").is_none(), "{}", c.dir);
    assert_eq!(c.register(true).status, 201);
    let kc = format!("{}/acme/key-change", ca2.base_url());
    let r = c.post(&kc, &json!({"resource": "key-change"}));
    assert_eq!((r.status, r.problem().as_str()), (404, "malformed"));
}

#[test]
fn acme1_new_reg_conflict_and_agreement() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::rsa());
    let r = c.register(false);
    assert_eq!(r.status, 201, "{r:?}");
    let reg_url = r.h("Location").unwrap().to_string();
    assert_eq!(reg_url, format!("{}/acme/reg/1", ca.base_url()));
    assert_eq!(r.link("terms-of-service"), Some(ca.tos_url()));
    assert_eq!(r.link("next"), Some(c.url("new-authz")));
    let reg = r.json();
    assert_eq!(reg["key"], c.signer.jwk());
    assert_eq!(reg["contact"], json!(["mailto:admin@example.com"]));
    assert_eq!((reg["status"].as_str(), reg.get("agreement")), (Some("valid"), None), "{reg}");

    // The same key again: 409 with the registration's Location.
    let r = c.register(true);
    assert_eq!((r.status, r.problem().as_str()), (409, "malformed"), "{r:?}");
    assert_eq!(r.h("Location"), Some(reg_url.as_str()));

    // Not agreed yet: no authorizations.
    let r = c.new_authz("a.example.com");
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("agree"));

    // A wrong agreement URL is refused; the current one is recorded (202, as Boulder).
    let r = c.post(&reg_url, &json!({"resource": "reg", "agreement": "https://example.com/other-terms"}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let tos = ca.tos_url();
    let r = c.post(&reg_url, &json!({"resource": "reg", "agreement": tos, "contact": ["mailto:b@example.org"]}));
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!((r.json()["agreement"].as_str(), r.link("terms-of-service")), (Some(tos.as_str()), Some(tos.clone())));
    assert_eq!(r.json()["contact"], json!(["mailto:b@example.org"]));
    // An empty update reads the registration back.
    let r = c.post(&reg_url, &json!({"resource": "reg"}));
    assert_eq!((r.status, r.json()["agreement"].as_str()), (202, Some(tos.as_str())));

    let regs = ca.registrations();
    assert_eq!(regs.len(), 1);
    assert_eq!((regs[0].url.as_str(), regs[0].agreement.as_deref()), (reg_url.as_str(), Some(tos.as_str())));
    assert_eq!(regs[0].contact, vec!["mailto:b@example.org".to_string()]);
    assert_eq!(regs[0].thumbprint, thumbprint(&c.signer.jwk()).unwrap());
    assert_eq!(c.new_authz("a.example.com").status, 201);

    // Another key: its own registration, agreeing at once; only mailto: contacts.
    let mut d = Client::new(&ca, Signer::p384());
    let r = d.post(&d.url("new-reg"), &json!({"resource": "new-reg", "contact": ["tel:+12025551212"]}));
    assert_eq!((r.status, r.problem().as_str()), (400, "invalidEmail"), "{r:?}");
    let r = d.register(true);
    assert_eq!((r.status, r.h("Location")), (201, Some(format!("{}/acme/reg/2", ca.base_url()).as_str())));
    assert_eq!(r.json()["agreement"], ca.tos_url());
    // A registration is updated only with its own key.
    let r = d.post(&reg_url, &json!({"resource": "reg", "contact": []}));
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");

    // Without require_agreement, new-authz needs no agreement.
    let ca2 = AcmeV1::start(AcmeV1Options { require_agreement: false, ..Default::default() });
    let mut e = Client::new(&ca2, Signer::p256());
    assert_eq!(e.register(false).status, 201);
    assert_eq!(e.new_authz("a.example.com").status, 201);
}

#[test]
fn acme1_jws_nonce_and_resource_checks() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);
    let url = c.url("new-authz");
    let payload = json!({"resource": "new-authz", "identifier": {"type": "dns", "value": "a.example.com"}});

    // A nonce used once is refused the second time.
    let nonce = c.nonce();
    let body = jws(&c.signer, Some(&nonce), payload.to_string().as_bytes());
    assert_eq!(c.send(&url, &body).status, 201);
    let r = c.send(&url, &body);
    assert_eq!((r.status, r.problem().as_str()), (400, "badNonce"), "{r:?}");
    // No nonce, or one never issued.
    let r = c.send(&url, &jws(&c.signer, None, payload.to_string().as_bytes()));
    assert_eq!((r.status, r.problem().as_str()), (400, "badNonce"), "{r:?}");
    let r = c.send(&url, &jws(&c.signer, Some("bm9wZQ"), payload.to_string().as_bytes()));
    assert_eq!((r.status, r.problem().as_str()), (400, "badNonce"), "{r:?}");

    // The resource must be there and name this endpoint.
    let r = c.post(&url, &json!({"identifier": {"type": "dns", "value": "a.example.com"}}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("resource"));
    let r = c.post(&url, &json!({"resource": "new-cert", "identifier": {"type": "dns", "value": "a.example.com"}}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    // No jwk in the header; a bad signature; a payload that is not JSON.
    let nonce = c.nonce();
    let h = b64(json!({"alg": "ES256", "nonce": nonce}).to_string().as_bytes());
    let pl = b64(payload.to_string().as_bytes());
    let sig = b64(&c.signer.sign(format!("{h}.{pl}").as_bytes()));
    let r = c.send(&url, &json!({"protected": h, "payload": pl, "signature": sig}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let nonce = c.nonce();
    let mut body = jws(&c.signer, Some(&nonce), payload.to_string().as_bytes());
    body["payload"] = json!(b64(br#"{"resource":"new-authz","identifier":{"type":"dns","value":"b.example.com"}}"#));
    let r = c.send(&url, &body);
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let nonce = c.nonce();
    let r = c.send(&url, &jws(&c.signer, Some(&nonce), b"not json"));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    // alg that does not match the key.
    let nonce = c.nonce();
    let h = b64(json!({"alg": "RS256", "jwk": c.signer.jwk(), "nonce": nonce}).to_string().as_bytes());
    let sig = b64(&c.signer.sign(format!("{h}.{pl}").as_bytes()));
    let r = c.send(&url, &json!({"protected": h, "payload": pl, "signature": sig}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    // jwk and alg in the unprotected header are allowed by draft-02 §5.2.
    let nonce = c.nonce();
    let h = b64(json!({"nonce": nonce}).to_string().as_bytes());
    let sig = b64(&c.signer.sign(format!("{h}.{pl}").as_bytes()));
    let hdr = json!({"alg": c.signer.alg(), "jwk": c.signer.jwk()});
    let r = c.send(&url, &json!({"protected": h, "header": hdr, "payload": pl, "signature": sig}));
    assert_eq!(r.status, 201, "{r:?}");

    // An unregistered key is unauthorized (before its nonce is even looked at).
    let mut stranger = Client::new(&ca, Signer::p256());
    let r = stranger.new_authz("a.example.com");
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");

    // nonce_reject_percent: every good nonce refused at 100, none at 0.
    ca.set_nonce_reject_percent(100);
    let r = c.new_authz("a.example.com");
    assert_eq!((r.status, r.problem().as_str()), (400, "badNonce"), "{r:?}");
    ca.set_nonce_reject_percent(0);
    assert_eq!(c.new_authz("a.example.com").status, 201);
    // At 50 a client retrying on badNonce gets through.
    let ca2 = AcmeV1::start(AcmeV1Options { nonce_reject_percent: 50, ..Default::default() });
    let mut d = Client::new(&ca2, Signer::p256());
    let (mut bad, mut created) = (0, false);
    for _ in 0..40 {
        let r = d.register(true);
        match r.status {
            201 => {
                created = true;
                break;
            }
            400 if r.problem() == "badNonce" => bad += 1,
            _ => panic!("{r:?}"),
        }
    }
    assert!(created, "registered after {bad} badNonce answers");

    // POST without Content-Length is refused with 411.
    let cfg = tls_config(&ca);
    let r = request(&cfg, "POST", &url, None);
    assert_eq!((r.status, r.problem().as_str()), (411, "malformed"), "{r:?}");
}

#[test]
fn acme1_http01_validation_reuse_and_wildcard() {
    let web = Web::start();
    let ca = AcmeV1::start(AcmeV1Options { auto_valid: false, http_port: web.port, ..Default::default() });
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);

    let r = c.new_authz("Good.Example.com");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.link("next"), Some(c.url("new-cert")));
    let url = r.h("Location").unwrap().to_string();
    let a = r.json();
    assert_eq!(a["identifier"], json!({"type": "dns", "value": "good.example.com"}));
    assert_eq!(a["status"], "pending");
    assert!(a["expires"].is_string());
    let types: Vec<&str> = a["challenges"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["http-01", "dns-01"]);
    assert_eq!(a["combinations"], json!([[0], [1]]));
    let ch = Client::challenge(&a, "http-01").clone();
    assert_eq!(ch["status"], "pending");
    let token = ch["token"].as_str().unwrap();
    assert!(token.len() >= 22 && ch["uri"].as_str().unwrap().starts_with(&ca.base_url()));

    // A pending authorization is handed out again (Boulder).
    let again = c.new_authz("good.example.com");
    assert_eq!((again.status, again.h("Location")), (201, Some(url.as_str())));

    // A wrong keyAuthorization in the response is refused at once (draft-02 §7.2).
    let bad = json!({"resource": "challenge", "type": "http-01", "keyAuthorization": format!("{token}.nope")});
    let r = c.post(ch["uri"].as_str().unwrap(), &bad);
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    web.serve(token, &format!("{}\n", c.key_authz(token)));
    let r = c.answer(&a, "http-01");
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.link("up"), Some(url.clone()));
    assert_eq!(r.h("Location"), ch["uri"].as_str());
    assert_eq!(r.json()["keyAuthorization"], c.key_authz(token));
    let done = c.poll(&url);
    assert_eq!(done["status"], "valid", "{done}");
    let hc = Client::challenge(&done, "http-01");
    assert_eq!(hc["status"], "valid");
    assert!(hc["validated"].is_string() && hc["validationRecord"][0]["url"].is_string(), "{hc}");
    let host = format!("good.example.com:{}", web.port);
    assert_eq!(web.seen(), vec![(host, format!("/.well-known/acme-challenge/{token}"))]);

    // Answering a valid authorization again changes nothing and fetches nothing.
    let r = c.answer(&done, "http-01");
    assert_eq!((r.status, r.json()["status"].as_str()), (202, Some("valid")));
    assert_eq!(web.seen().len(), 1);

    // Reuse: the valid authorization comes back for the same name and account.
    let r = c.new_authz("good.example.com");
    assert_eq!((r.status, r.h("Location"), r.json()["status"].as_str()), (201, Some(url.as_str()), Some("valid")));
    // Not for another account.
    let mut other = Client::new(&ca, Signer::p256());
    assert_eq!(other.register(true).status, 201);
    let r = other.new_authz("good.example.com");
    assert_eq!(r.json()["status"], "pending");
    assert_ne!(r.h("Location"), Some(url.as_str()));
    // Another account cannot answer our challenges.
    let r = other.answer(&a, "http-01");
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");

    // The web server serves something else: invalid, with the problem.
    let r = c.new_authz("bad.example.com");
    let (bad_url, b) = (r.h("Location").unwrap().to_string(), r.json());
    let btoken = Client::challenge(&b, "http-01")["token"].as_str().unwrap().to_string();
    web.serve(&btoken, "something else");
    assert_eq!(c.answer(&b, "http-01").status, 202);
    let failed = c.poll(&bad_url);
    assert_eq!(failed["status"], "invalid", "{failed}");
    let e = &Client::challenge(&failed, "http-01")["error"];
    assert_eq!(e["type"], format!("{ERROR_NS}unauthorized"), "{failed}");
    assert!(e["detail"].as_str().unwrap().contains("something else"), "{e}");
    // Every challenge of an invalid authorization shows invalid; it is not reused.
    assert_eq!(Client::challenge(&failed, "dns-01")["status"], "invalid");
    let r = c.new_authz("bad.example.com");
    assert_eq!((r.status, r.json()["status"].as_str()), (201, Some("pending")));
    assert_ne!(r.h("Location"), Some(bad_url.as_str()));
    // ... and cannot be answered again.
    let r = c.answer(&b, "http-01");
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    // Nothing served for the token: unauthorized, with the 404.
    let r = c.new_authz("missing.example.com");
    let (m_url, m) = (r.h("Location").unwrap().to_string(), r.json());
    c.answer(&m, "http-01");
    let e = c.poll(&m_url)["challenges"][0]["error"].clone();
    assert_eq!(e["type"], format!("{ERROR_NS}unauthorized"));
    assert!(e["detail"].as_str().unwrap().contains("404"), "{e}");

    // v1 has no wildcards; IP addresses and bare names are refused too.
    for name in ["*.example.com", "127.0.0.1", "localhost", "bad_name.example.com"] {
        let r = c.new_authz(name);
        assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{name}: {r:?}");
    }
    let r = c.post(
        &c.url("new-authz"),
        &json!({"resource": "new-authz", "identifier": {"type": "ip", "value": "127.0.0.1"}}),
    );
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    let authzs = ca.authorizations();
    let good = authzs.iter().find(|a| a.url == url).unwrap();
    assert_eq!((good.name.as_str(), good.status.as_str()), ("good.example.com", "valid"));
    assert_eq!(good.registration_url, format!("{}/acme/reg/1", ca.base_url()));
}

#[test]
fn acme1_validation_delay_retry_after_and_connection_problem() {
    let port = crate::peers::free_port(); // nothing listens there
    let opts = AcmeV1Options { auto_valid: false, http_port: port, validation_delay_secs: 2, ..Default::default() };
    let ca = AcmeV1::start(opts);
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);
    let r = c.new_authz("slow.example.com");
    let (url, a) = (r.h("Location").unwrap().to_string(), r.json());
    assert!(c.get(&url).h("Retry-After").is_none(), "no validation under way yet");
    let r = c.answer(&a, "http-01");
    assert_eq!((r.status, r.json()["status"].as_str()), (202, Some("pending")), "{r:?}");
    let r = c.get(&url);
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("pending")));
    let ra: u64 = r.h("Retry-After").expect("Retry-After while validating").parse().unwrap();
    assert!((1..=2).contains(&ra), "{ra}");
    let started = Instant::now();
    let done = c.poll(&url);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(done["status"], "invalid");
    let e = &done["challenges"][0]["error"];
    assert_eq!(e["type"], format!("{ERROR_NS}connection"), "{done}");
    assert!(c.get(&url).h("Retry-After").is_none());
}

#[test]
fn acme1_new_cert_chain_and_unauthorized_names() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);
    c.authorize("a.example.com");
    c.authorize("www.a.example.com");

    let (der, _) = csr(&["a.example.com", "www.a.example.com"]);
    let r = c.new_cert(&der);
    assert_eq!((r.status, r.h("Content-Type")), (201, Some("application/pkix-cert")), "{r:?}");
    let cert_url = r.h("Location").unwrap().to_string();
    assert_eq!(r.link("up"), Some(ca.issuer_url()));
    let leaf = cert(&r.body);
    let serial_hex = hex(leaf.tbs_certificate.serial_number.as_bytes());
    assert_eq!(cert_url, format!("{}/acme/cert/{serial_hex}", ca.base_url()));

    // The certificate URL serves the same DER; walking rel="up" reaches the root.
    let g = c.get(&cert_url);
    assert_eq!((g.status, g.h("Content-Type")), (200, Some("application/pkix-cert")));
    assert_eq!(g.body, r.body);
    let mut chain = vec![g.body.clone()];
    let mut next = g.link("up");
    while let Some(u) = next {
        assert!(chain.len() < 4, "the up links loop");
        let r = c.get(&u);
        assert_eq!(r.status, 200, "{u}: {r:?}");
        chain.push(r.body.clone());
        next = r.link("up");
    }
    assert_eq!(chain.len(), 3, "leaf, intermediate, root");
    let (inter, root) = (cert(&chain[1]), cert(&chain[2]));
    assert!(signed_by(&leaf, &inter) && signed_by(&inter, &root) && signed_by(&root, &root));
    assert_eq!(chain[2], pem_der(&ca.root_pem()));

    let issued = ca.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].serial_hex, serial_hex);
    assert_eq!(issued[0].names, vec!["a.example.com".to_string(), "www.a.example.com".to_string()]);
    assert_eq!((issued[0].url.as_str(), issued[0].der.as_slice()), (cert_url.as_str(), r.body.as_slice()));
    assert_eq!(issued[0].not_after - issued[0].not_before, 90 * 86400);

    // A name without a valid authorization of this account: 403.
    let (der, _) = csr(&["a.example.com", "b.example.com"]);
    let r = c.new_cert(&der);
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("b.example.com"));
    let mut other = Client::new(&ca, Signer::p256());
    assert_eq!(other.register(true).status, 201);
    let (der, _) = csr(&["a.example.com"]);
    let r = other.new_cert(&der);
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    // Garbage, and the account key as the certificate key: malformed.
    let r = c.new_cert(b"not a csr");
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let pkcs8 = p256_pkcs8();
    let mut same = Client::new(&ca, Signer::p256_pkcs8(&pkcs8));
    assert_eq!(same.register(true).status, 201);
    same.authorize("same.example.com");
    let r = same.new_cert(&csr_with(&["same.example.com"], &pkcs8));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let r = same.new_cert(&csr(&["same.example.com"]).0);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(ca.issued().len(), 2);
}

#[test]
fn acme1_revoke_cert_then_again() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);
    c.authorize("r.example.com");
    let (der1, _) = csr(&["r.example.com"]);
    let cert1 = c.new_cert(&der1).body;
    let (der2, key2) = csr(&["r.example.com"]);
    let cert2 = c.new_cert(&der2).body;
    let serial = |d: &[u8]| hex(cert(d).tbs_certificate.serial_number.as_bytes());

    // Someone else: neither the issuing account nor the certificate's key.
    let mut other = Client::new(&ca, Signer::p256());
    assert_eq!(other.register(true).status, 201);
    let revoke = json!({"resource": "revoke-cert", "certificate": b64(&cert1)});
    let r = other.post(&c.url("revoke-cert"), &revoke);
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    // A reason users may not give (caCompromise).
    let r = c.post(&c.url("revoke-cert"), &json!({"resource": "revoke-cert", "certificate": b64(&cert1), "reason": 2}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    assert!(!ca.is_revoked(&serial(&cert1)));

    // The issuing account revokes; again is 409.
    let r = c.post(&c.url("revoke-cert"), &revoke);
    assert_eq!((r.status, r.body.len()), (200, 0), "{r:?}");
    assert!(ca.is_revoked(&serial(&cert1)) && ca.is_revoked(&serial(&cert1).to_uppercase()));
    assert!(!ca.is_revoked(&serial(&cert2)));
    let r = c.post(&c.url("revoke-cert"), &revoke);
    assert_eq!((r.status, r.problem().as_str()), (409, "malformed"), "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("already revoked"));

    // The certificate's own key (no registration) may revoke, with a reason.
    let mut by_key = Client::new(&ca, Signer::p256_pkcs8(&key2));
    let r = by_key
        .post(&c.url("revoke-cert"), &json!({"resource": "revoke-cert", "certificate": b64(&cert2), "reason": 1}));
    assert_eq!(r.status, 200, "{r:?}");
    let revs = ca.revocations();
    assert_eq!(revs.len(), 2);
    assert_eq!((revs[1].serial_hex.clone(), revs[1].reason), (serial(&cert2), 1));

    // A certificate this server never issued.
    let mut forged = cert2.clone();
    let n = forged.len();
    forged[n - 1] ^= 1;
    let r = c.post(&c.url("revoke-cert"), &json!({"resource": "revoke-cert", "certificate": b64(&forged)}));
    assert_eq!((r.status, r.problem().as_str()), (404, "malformed"), "{r:?}");
}

#[test]
fn acme1_key_change_then_new_reg_with_new_key() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::p256());
    let reg_url = c.register(true).h("Location").unwrap().to_string();
    let new = Signer::rsa();
    let key_change = |c: &mut Client, new: &Signer, account: &str| {
        let inner = jws(new, None, json!({"account": account, "newKey": new.jwk()}).to_string().as_bytes());
        let mut outer = inner.clone();
        outer["resource"] = json!("key-change");
        c.post(&c.url("key-change"), &outer)
    };

    // The inner payload must name this registration, and be signed by newKey.
    let r = key_change(&mut c, &new, &format!("{}/acme/reg/9", ca.base_url()));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let mut wrong = jws(&Signer::p256(), None, json!({"account": reg_url, "newKey": new.jwk()}).to_string().as_bytes());
    wrong["resource"] = json!("key-change");
    let r = c.post(&c.url("key-change"), &wrong);
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    let r = key_change(&mut c, &new, &reg_url);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["key"], new.jwk());
    assert_eq!(ca.registrations()[0].thumbprint, thumbprint(&new.jwk()).unwrap());

    // The old key is no longer a registration's; the new one is, at the same URL.
    let r = c.new_authz("k.example.com");
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    let mut n = Client::new(&ca, new);
    let r = n.register(true);
    assert_eq!((r.status, r.h("Location")), (409, Some(reg_url.as_str())), "{r:?}");
    assert_eq!(n.new_authz("k.example.com").status, 201);
    assert_eq!(ca.registrations().len(), 1);

    // A key already registered elsewhere cannot be rolled onto.
    let mut d = Client::new(&ca, Signer::p256());
    let d_url = d.register(true).h("Location").unwrap().to_string();
    let taken = Signer::p256_pkcs8(&p256_pkcs8());
    let mut t = Client::new(&ca, taken);
    let t_url = t.register(true).h("Location").unwrap().to_string();
    let r = key_change(&mut d, &t.signer, &d_url);
    assert_eq!((r.status, r.problem(), r.h("Location")), (409, "malformed".to_string(), Some(t_url.as_str())));
}

#[test]
fn acme1_dns01_against_bind() {
    let bind = crate::dns::Bind::start("acme1-dns01");
    let opts = AcmeV1Options { auto_valid: false, dns_server: Some(bind.server.to_string()), ..Default::default() };
    let ca = AcmeV1::start(opts);
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.register(true).status, 201);
    let txt = |c: &Client, a: &Value| {
        let ka = c.key_authz(Client::challenge(a, "dns-01")["token"].as_str().unwrap());
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ka.as_bytes()).as_ref())
    };
    // The zone apex already has someone else's _acme-challenge TXT: one matching record is enough.
    let r = c.new_authz("example.test");
    let (url, a) = (r.h("Location").unwrap().to_string(), r.json());
    let r2 = c.new_authz("v1.example.test");
    let (url2, a2) = (r2.h("Location").unwrap().to_string(), r2.json());
    let key = bind.dir.join("acme-sha256.key");
    let script = format!(
        "server {} {}\nzone example.test\nupdate add _acme-challenge.example.test. 60 IN TXT \"{}\"\n\
         update add _acme-challenge.v1.example.test. 60 IN TXT \"wrong-value\"\nsend\n",
        bind.server.ip(),
        bind.server.port(),
        txt(&c, &a)
    );
    let mut nsupdate = std::process::Command::new(crate::dns::tool("nsupdate"))
        .arg("-k")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    nsupdate.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(nsupdate.wait().unwrap().success(), "nsupdate");

    assert_eq!(c.answer(&a, "dns-01").status, 202);
    let done = c.poll(&url);
    assert_eq!(done["status"], "valid", "{done}");
    assert_eq!(Client::challenge(&done, "dns-01")["status"], "valid");

    assert_eq!(c.answer(&a2, "dns-01").status, 202);
    let failed = c.poll(&url2);
    assert_eq!(failed["status"], "invalid", "{failed}");
    let e = &Client::challenge(&failed, "dns-01")["error"];
    assert_eq!(e["type"], format!("{ERROR_NS}unauthorized"));
    assert!(e["detail"].as_str().unwrap().contains("wrong-value"), "{e}");

    // No record at all.
    let r3 = c.new_authz("none.example.test");
    let (url3, a3) = (r3.h("Location").unwrap().to_string(), r3.json());
    c.answer(&a3, "dns-01");
    let e = c.poll(&url3)["challenges"][1]["error"].clone();
    assert!(e["detail"].as_str().unwrap().contains("_acme-challenge.none.example.test"), "{e}");
}

#[test]
fn acme1_deactivation_of_authorizations_and_registrations() {
    let ca = AcmeV1::start(AcmeV1Options::default());
    let mut c = Client::new(&ca, Signer::p256());
    let reg_url = c.register(true).h("Location").unwrap().to_string();
    let url = c.authorize("d.example.com");
    let r = c.post(&url, &json!({"resource": "authz", "status": "valid"}));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");
    let r = c.post(&url, &json!({"resource": "authz", "status": "deactivated"}));
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("deactivated")), "{r:?}");
    // A deactivated authorization is neither reused nor good for issuance.
    let r = c.new_cert(&csr(&["d.example.com"]).0);
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    let r = c.new_authz("d.example.com");
    assert_eq!((r.status, r.json()["status"].as_str()), (201, Some("pending")));
    assert_ne!(r.h("Location"), Some(url.as_str()));

    let r = c.post(&reg_url, &json!({"resource": "reg", "status": "deactivated"}));
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("deactivated")), "{r:?}");
    assert_eq!(ca.registrations()[0].status, "deactivated");
    let r = c.new_authz("d.example.com");
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"), "{r:?}");
    // The key stays taken.
    let r = c.register(true);
    assert_eq!((r.status, r.h("Location")), (409, Some(reg_url.as_str())));
}
