//! The test CA exercised by a minimal independent ACME client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use der::{Decode, Encode};
use serde_json::{json, Value};

use super::jws::{thumbprint, Signer};
use super::{b64, now, parse_rfc3339, pki, TestCa, TestCaOptions};

pub struct Res {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Res {
    pub fn h(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.0.eq_ignore_ascii_case(k)).map(|h| h.1.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The ACME error type without its URN prefix ("" if not a problem).
    pub fn problem(&self) -> String {
        assert!(self.status < 300 || self.h("content-type") == Some("application/problem+json"), "{self:?}");
        self.json()["type"].as_str().unwrap_or("").trim_start_matches("urn:ietf:params:acme:error:").to_string()
    }
}

impl std::fmt::Debug for Res {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?} {}", self.status, self.headers, String::from_utf8_lossy(&self.body))
    }
}

fn tls_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(pem_certs(&ca.root_pem()).remove(0))).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// One HTTPS request over a fresh connection, the server's certificate verified.
pub fn request(cfg: &Arc<rustls::ClientConfig>, method: &str, url: &str, ctype: Option<&str>, body: &[u8]) -> Res {
    let rest = url.strip_prefix("https://").expect("https URL");
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = hostport.split(':').next().unwrap().to_string();
    let name = rustls::pki_types::ServerName::try_from(host).unwrap();
    let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(hostport).unwrap());
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = ctype {
        req.push_str(&format!("Content-Type: {c}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(&[req.as_bytes(), body].concat()).unwrap();
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

pub fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|b| {
            let b64: String = b.split("-----END").next().unwrap().chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
        })
        .collect()
}

pub struct Client {
    pub cfg: Arc<rustls::ClientConfig>,
    pub signer: Signer,
    pub dir: Value,
    pub kid: Option<String>,
    pub nonce: Option<String>,
}

impl Client {
    pub fn new(ca: &TestCa, signer: Signer) -> Client {
        let cfg = tls_config(ca);
        let dir = request(&cfg, "GET", &ca.directory_url(), None, b"").json();
        Client { cfg, signer, dir, kid: None, nonce: None }
    }
    pub fn url(&self, k: &str) -> String {
        self.dir[k].as_str().unwrap().to_string()
    }
    pub fn fresh_nonce(&mut self) -> String {
        if let Some(n) = self.nonce.take() {
            return n;
        }
        let r = request(&self.cfg, "HEAD", &self.url("newNonce"), None, b"");
        assert_eq!(r.status, 200);
        r.h("Replay-Nonce").unwrap().to_string()
    }
    /// POSTs a body as it is, remembering the response's nonce.
    pub fn send(&mut self, url: &str, body: &Value) -> Res {
        let r = request(&self.cfg, "POST", url, Some("application/jose+json"), body.to_string().as_bytes());
        self.nonce = Some(r.h("Replay-Nonce").expect("every response has a Replay-Nonce").to_string());
        r
    }
    /// Signed POST (kid once registered); `None` payload is POST-as-GET.
    pub fn post(&mut self, url: &str, payload: Option<&Value>) -> Res {
        let nonce = self.fresh_nonce();
        let pl = payload.map(|p| p.to_string().into_bytes()).unwrap_or_default();
        let body = self.signer.jws(url, Some(&nonce), self.kid.as_deref(), &pl);
        self.send(url, &body)
    }
    pub fn register(&mut self) -> Res {
        self.kid = None;
        let r = self.post(
            &self.url("newAccount"),
            Some(&json!({"termsOfServiceAgreed": true, "contact": ["mailto:a@example.com"]})),
        );
        self.kid = r.h("Location").map(str::to_string);
        r
    }
    pub fn new_order(&mut self, names: &[&str], profile: Option<&str>, replaces: Option<&str>) -> Res {
        let mut p =
            json!({"identifiers": names.iter().map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>()});
        if let Some(pr) = profile {
            p["profile"] = json!(pr);
        }
        if let Some(r) = replaces {
            p["replaces"] = json!(r);
        }
        self.post(&self.url("newOrder"), Some(&p))
    }
    /// Finalizes a ready order with a fresh P-256 key; returns (order, chain PEM, key PKCS#8).
    pub fn finalize(&mut self, order: &Value, names: &[&str]) -> (Value, String, Vec<u8>) {
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        let kp = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0].as_str());
        let csr = params.serialize_request(&kp).unwrap();
        let r = self.post(order["finalize"].as_str().unwrap(), Some(&json!({"csr": b64(csr.der())})));
        assert_eq!(r.status, 200, "{r:?}");
        let order = r.json();
        assert_eq!(order["status"], "valid");
        let c = self.post(order["certificate"].as_str().unwrap(), None);
        assert_eq!(c.status, 200);
        assert_eq!(c.h("Content-Type"), Some("application/pem-certificate-chain"));
        (order, String::from_utf8(c.body).unwrap(), pkcs8.as_ref().to_vec())
    }
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

#[test]
fn testca_issues_with_profile_and_answers_ari() {
    let ca = TestCa::start(TestCaOptions::default());
    let mut c = Client::new(&ca, Signer::p256());
    assert_eq!(c.dir["meta"]["profiles"]["shortlived"], "Six-day certificates");
    assert!(c.dir["renewalInfo"].is_string() && c.dir["meta"]["termsOfService"].is_string());

    let r = c.register();
    assert_eq!(r.status, 201, "{r:?}");
    let kid = c.kid.clone().unwrap();
    let again = c.register();
    assert_eq!((again.status, c.kid.clone().unwrap()), (200, kid.clone()));
    assert_eq!(c.post(&kid, None).json()["status"], "valid");
    let mut other = Client::new(&ca, Signer::p256());
    let r = other.post(&other.url("newAccount"), Some(&json!({"onlyReturnExisting": true})));
    assert_eq!((r.status, r.problem().as_str()), (400, "accountDoesNotExist"));

    let names = ["a.example.com", "www.a.example.com"];
    let r = c.new_order(&names, Some("shortlived"), None);
    assert_eq!(r.status, 201, "{r:?}");
    let order = r.json();
    assert_eq!((order["status"].as_str(), order["profile"].as_str()), (Some("ready"), Some("shortlived")));
    let authz = c.post(order["authorizations"][0].as_str().unwrap(), None).json();
    assert_eq!(authz["status"], "valid");

    let (_, chain, _) = c.finalize(&order, &names);
    let ders = pem_certs(&chain);
    assert_eq!(ders.len(), 2, "leaf + intermediate");
    let (leaf, inter, root) = (cert(&ders[0]), cert(&ders[1]), cert(&pem_certs(&ca.root_pem())[0]));
    assert!(signed_by(&leaf, &inter), "leaf is signed by the intermediate");
    assert!(signed_by(&inter, &root), "intermediate is signed by the root");
    assert!(!signed_by(&leaf, &root));

    let issued = ca.issued();
    assert_eq!(issued.len(), 1);
    let ic = &issued[0];
    assert_eq!(
        (ic.profile.as_str(), ic.names.clone()),
        ("shortlived", vec![names[0].to_string(), names[1].to_string()])
    );
    assert_eq!(ic.not_after - ic.not_before, 6 * 86400);
    assert_eq!(ic.serial_hex, super::hex(leaf.tbs_certificate.serial_number.as_bytes()));
    assert_eq!(ic.serial_hex.len(), 32);
    let cert_id = pki::ari_cert_id(&ders[0]).unwrap();
    assert_eq!(cert_id, ic.cert_id);
    assert!(cert_id.ends_with(&format!(".{}", b64(leaf.tbs_certificate.serial_number.as_bytes()))));

    // ARI: the default window runs from 2/3 to 5/6 of the lifetime.
    let ari = format!("{}/{cert_id}", c.url("renewalInfo"));
    let r = request(&c.cfg, "GET", &ari, None, b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.h("Retry-After").is_some() && r.h("Replay-Nonce").is_some());
    let w = r.json()["suggestedWindow"].clone();
    let (s, e) =
        (parse_rfc3339(w["start"].as_str().unwrap()).unwrap(), parse_rfc3339(w["end"].as_str().unwrap()).unwrap());
    assert!(ic.not_before < s && s < e && e <= ic.not_after, "{w}");
    assert_eq!(s, ic.not_before + 4 * 86400);
    assert_eq!(e, ic.not_before + 5 * 86400);
    // A window in the past: renew now.
    let t = now();
    ca.set_window(&ic.serial_hex, t - 7200, t - 3600);
    let w = request(&c.cfg, "GET", &ari, None, b"").json()["suggestedWindow"].clone();
    assert_eq!(parse_rfc3339(w["start"].as_str().unwrap()), Some(t - 7200));
    assert_eq!(parse_rfc3339(w["end"].as_str().unwrap()), Some(t - 3600));
    let bad = request(&c.cfg, "GET", &format!("{}/AAAA.AAAA", c.url("renewalInfo")), None, b"");
    assert_eq!(bad.status, 404);
    assert_eq!(ca.ari_requests(), 3);

    // Renewal replacing the certificate.
    let r = c.new_order(&names, None, Some(&cert_id));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["replaces"], cert_id.as_str());
    assert_eq!(ca.replaced(), vec![cert_id.clone()]);
    let orders = ca.orders();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        (orders[0].requested_profile.as_deref(), orders[1].requested_profile.as_deref()),
        (Some("shortlived"), None)
    );
    assert_eq!((orders[1].profile.as_str(), orders[1].replaces.as_deref()), ("classic", Some(cert_id.as_str())));
    let dup = c.new_order(&names, None, Some(&cert_id));
    assert_eq!((dup.status, dup.problem().as_str()), (409, "alreadyReplaced"));
    let unknown = c.new_order(&names, None, Some("AAAA.AAAA"));
    assert_eq!((unknown.status, unknown.problem().as_str()), (400, "malformed"));
    let (_, chain2, _) = c.finalize(&r.json(), &names);
    let leaf2 = cert(&pem_certs(&chain2)[0]);
    let v = &leaf2.tbs_certificate.validity;
    let life = v.not_after.to_unix_duration().as_secs() - v.not_before.to_unix_duration().as_secs();
    assert_eq!(life, 90 * 86400, "classic by default");

    // Revocation by the issuing account.
    let r = c.post(&c.url("revokeCert"), Some(&json!({"certificate": b64(&ders[0]), "reason": 4})));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(ca.revocations(), vec![super::Revocation { serial_hex: ic.serial_hex.clone(), reason: 4 }]);
    let r = c.post(&c.url("revokeCert"), Some(&json!({"certificate": b64(&ders[0])})));
    assert_eq!(r.problem(), "alreadyRevoked");
}

#[test]
fn testca_rejects_bad_requests() {
    let ca = TestCa::start(TestCaOptions::default());
    let mut c = Client::new(&ca, Signer::p256());
    // kid before registration.
    let r = c.post(&c.url("newOrder"), Some(&json!({})));
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"));
    assert_eq!(c.register().status, 201);

    let r = c.new_order(&["b.example.com"], Some("nonesuch"), None);
    assert_eq!((r.status, r.problem().as_str()), (400, "invalidProfile"));
    let r = c.post(&c.url("newOrder"), Some(&json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})));
    assert_eq!(r.problem(), "unsupportedIdentifier");
    let r = c.new_order(&["bad_name.example"], None, None);
    assert_eq!(r.problem(), "rejectedIdentifier");

    // A used nonce, and an unknown one.
    let url = c.url("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "b.example.com"}]}).to_string();
    let n = c.fresh_nonce();
    let body = c.signer.jws(&url, Some(&n), c.kid.as_deref(), payload.as_bytes());
    assert_eq!(c.send(&url, &body).status, 201);
    let r = c.send(&url, &body);
    assert_eq!((r.status, r.problem().as_str()), (400, "badNonce"));
    let r = c.send(&url, &c.signer.jws(&url, Some("bm9uY2U"), c.kid.as_deref(), payload.as_bytes()));
    assert_eq!(r.problem(), "badNonce");

    // A tampered signature.
    let n = c.fresh_nonce();
    let mut body = c.signer.jws(&url, Some(&n), c.kid.as_deref(), payload.as_bytes());
    let mut sig = super::unb64(body["signature"].as_str().unwrap()).unwrap();
    sig[5] ^= 1;
    body["signature"] = json!(b64(&sig));
    let r = c.send(&url, &body);
    assert_eq!((r.status, r.problem().as_str()), (400, "malformed"), "{r:?}");

    // Unsupported alg, wrong url, unknown kid, wrong content type.
    let n = c.fresh_nonce();
    let h = b64(json!({"alg": "HS256", "nonce": n, "url": url, "kid": c.kid}).to_string().as_bytes());
    let r = c.send(&url, &json!({"protected": h, "payload": b64(payload.as_bytes()), "signature": "AAAA"}));
    assert_eq!(r.problem(), "badSignatureAlgorithm");
    assert!(r.json()["algorithms"].as_array().unwrap().contains(&json!("ES256")));
    let n = c.fresh_nonce();
    let r = c.send(&url, &c.signer.jws(&c.url("newAccount"), Some(&n), c.kid.as_deref(), payload.as_bytes()));
    assert_eq!((r.status, r.problem().as_str()), (401, "unauthorized"));
    let n = c.fresh_nonce();
    let r =
        c.send(&url, &c.signer.jws(&url, Some(&n), Some(&format!("{}/acct/99", ca.base_url())), payload.as_bytes()));
    assert_eq!(r.problem(), "accountDoesNotExist");
    let r = request(&c.cfg, "POST", &url, Some("application/json"), b"{}");
    assert_eq!(r.status, 415);

    // A CSR whose names differ from the order's.
    let order = c.new_order(&["c.example.com"], None, None).json();
    let kp = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["d.example.com".to_string()]).unwrap().serialize_request(&kp).unwrap();
    let r = c.post(order["finalize"].as_str().unwrap(), Some(&json!({"csr": b64(csr.der())})));
    assert_eq!(r.problem(), "badCSR");

    // Another account cannot read the order.
    let mut other = Client::new(&ca, Signer::p256());
    other.register();
    let r = other.post(order["finalize"].as_str().unwrap().replace("finalize", "order").as_str(), None);
    assert_eq!((r.status, r.problem().as_str()), (403, "unauthorized"));

    ca.set_nonce_reject_percent(100);
    let r = c.post(&c.kid.clone().unwrap(), None);
    assert_eq!(r.problem(), "badNonce");
}

#[test]
fn testca_rsa_account_key_change_and_revocation_by_cert_key() {
    let ca = TestCa::start(TestCaOptions::default());
    let mut c = Client::new(&ca, Signer::rsa());
    assert_eq!(c.register().status, 201);
    let kid = c.kid.clone().unwrap();
    let order = c.new_order(&["e.example.com"], Some("tlsserver"), None).json();
    let (_, chain, key) = c.finalize(&order, &["e.example.com"]);
    assert_eq!(ca.issued()[0].not_after - ca.issued()[0].not_before, 45 * 86400);

    // keyChange to a P-384 key (RFC 8555 §7.3.5).
    let new = Signer::p384();
    let url = c.url("keyChange");
    let inner = new.jws(&url, None, None, json!({"account": kid, "oldKey": c.signer.jwk()}).to_string().as_bytes());
    let r = c.post(&url, Some(&inner));
    assert_eq!(r.status, 200, "{r:?}");
    c.signer = new;
    assert_eq!(c.post(&kid, None).status, 200);

    // Revocation signed by the certificate's own key (jwk, no account).
    let mut by_key = Client::new(&ca, Signer::p256_pkcs8(&key));
    let der = pem_certs(&chain).remove(0);
    let r = by_key.post(&by_key.url("revokeCert"), Some(&json!({"certificate": b64(&der), "reason": 1})));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(ca.revocations()[0].reason, 1);
    // A revoked certificate's window is in the past.
    let id = pki::ari_cert_id(&der).unwrap();
    let w = request(&c.cfg, "GET", &format!("{}/{id}", c.url("renewalInfo")), None, b"").json();
    assert!(parse_rfc3339(w["suggestedWindow"]["end"].as_str().unwrap()).unwrap() < now());
}

/// Serves one key authorization at /.well-known/acme-challenge/<token>.
fn challenge_server(port: u16, token: String, keyauth: String) {
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let ok = req.starts_with(&format!("GET /.well-known/acme-challenge/{token} "))
                && req.contains("Host: f.example.com");
            let (status, body) = if ok { ("200 OK", keyauth.as_str()) } else { ("404 Not Found", "") };
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
}

#[test]
fn testca_validates_http01_when_not_auto_valid() {
    let port = crate::peers::free_port();
    let ca = TestCa::start(TestCaOptions { auto_valid: false, http_port: Some(port), ..Default::default() });
    let mut c = Client::new(&ca, Signer::p256());
    c.register();
    let order = c.new_order(&["f.example.com", "g.example.com"], None, None).json();
    assert_eq!(order["status"], "pending");
    let r = c.post(order["finalize"].as_str().unwrap(), Some(&json!({"csr": "AAAA"})));
    assert_eq!((r.status, r.problem().as_str()), (403, "orderNotReady"));

    let authz_urls: Vec<String> =
        order["authorizations"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().into()).collect();
    let authz = c.post(&authz_urls[0], None).json();
    assert_eq!(authz["identifier"]["value"], "f.example.com");
    let ch = authz["challenges"].as_array().unwrap().iter().find(|c| c["type"] == "http-01").unwrap().clone();
    let token = ch["token"].as_str().unwrap().to_string();
    let keyauth = format!("{token}.{}", thumbprint(&c.signer.jwk()).unwrap());
    challenge_server(port, token, keyauth);

    let poll = |c: &mut Client, url: &str| -> Value {
        for _ in 0..100 {
            let a = c.post(url, None).json();
            if a["status"] != "pending" {
                return a;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("authorization stayed pending");
    };
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.h("Link").is_some());
    assert_eq!(poll(&mut c, &authz_urls[0])["status"], "valid");

    // g.example.com is not served (Host mismatch gives 404): invalid, and so is the order.
    let authz = c.post(&authz_urls[1], None).json();
    let ch = authz["challenges"].as_array().unwrap().iter().find(|c| c["type"] == "http-01").unwrap().clone();
    c.post(ch["url"].as_str().unwrap(), Some(&json!({})));
    let a = poll(&mut c, &authz_urls[1]);
    assert_eq!(a["status"], "invalid");
    assert!(a["challenges"][0]["error"]["detail"].as_str().unwrap().contains("404"), "{a}");
    assert_eq!(c.post(&ca.orders()[0].url, None).json()["status"], "invalid");
}

/// The real binary against the test CA, with real http-01 validation.
#[test]
fn testca_serves_the_acmebot_binary() {
    let root = crate::support::temp_dir("testca-binary");
    let http_port = crate::peers::free_port();
    let webroot = root.join("webroot");
    std::fs::create_dir_all(&webroot).unwrap();
    let _web = crate::peers::ChallengeServer::start(http_port, webroot.clone());
    let ca = TestCa::start(TestCaOptions { auto_valid: false, http_port: Some(http_port), ..Default::default() });
    let config = json!({
        "account": {"email": "admin@example.test"},
        "settings": {"acme_directory_url": ca.directory_url(), "ca_bundle": ca.ca_pem_path(),
                     "key_size": 2048, "key_curve": "secp256r1", "file_user": "root", "file_group": "root",
                     "authorization_delay": 1, "log_level": null},
        "directories": {"pid": "run", "log": "log", "resource": "var", "private_key": "ssl/private",
                        "backup_key": "ssl/private", "full_key": "ssl/private", "certificate": "ssl/certs",
                        "full_certificate": "ssl/certs", "chain": "ssl/certs", "param": "ssl/params",
                        "challenge": "ssl/challenges", "http_challenge": webroot, "archive": "ssl/archive",
                        "sct": null, "hpkp": null, "ocsp": null},
        "certificates": {"example.test": {"alt_names": {"example.test": ["@", "www"]}}}
    });
    let config_path = root.join("etc/acmebot.json");
    std::fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let run = crate::support::run_binary(&config_path, &["--accept"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let issued = ca.issued();
    assert_eq!(issued.len(), 2, "RSA and ECDSA: {issued:?}");
    assert!(issued.iter().all(|c| c.names == ["example.test", "www.example.test"]));
    let served = std::fs::read_to_string(root.join("etc/ssl/certs/example.test.ecdsa.pem")).unwrap();
    assert!(issued.iter().any(|c| served.starts_with(&c.pem)));
    assert!(ca.orders().iter().all(|o| o.profile == "classic" && o.replaces.is_none()));
}
