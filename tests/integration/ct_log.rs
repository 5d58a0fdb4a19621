//! A small certificate transparency log (RFC 6962) for the tests, written
//! from the RFC and independently of `acmebot::ct`: its own parsing of the
//! request, its own encoding of the signed struct and of the answer.
//!
//! `CtLog::start(CtLogOptions::default())` serves plain HTTP/1.1 on
//! 127.0.0.1 with a fresh P-256 key; `POST <url>ct/v1/add-chain` with
//! `{"chain": [base64 DER, ...]}` answers `{"sct_version": 0, "id",
//! "timestamp", "extensions": "", "signature"}` (RFC 6962 §4.1), the
//! signature over the §3.2 struct of an X.509 entry for the first
//! certificate. `url()` ends with `/`; `key_spki_der()`, `key_b64()`,
//! `key_pem()` and `log_id_b64()` describe the log as a log list would.
//! `add_shard` puts another log (own key, prefix and mode) on the same
//! server, as a log operator's temporal shards are. The server stops when
//! the last handle is dropped.
//!
//! Modes: answer normally, 410 Gone (a retired shard), 500, hang without
//! answering (past a client's timeout), or answer with a bad SCT (a
//! signature byte flipped, or a signature over another timestamp than the
//! one returned). Every handle counts the requests that reached its prefix
//! and keeps the last chain it accepted.
#![allow(dead_code)]

use std::io::{self, Read, Write};

use crate::http1::{read_request, write_response, Listening, Req};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use aws_lc_rs::{digest, rsa};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::Decode as _;
use serde_json::{json, Value};

/// The log's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKeyKind {
    /// ECDSA P-256, signatures SHA-256 DER (TLS hash 4, signature 3).
    P256,
    /// RSA 2048, PKCS#1 v1.5 SHA-256 (TLS hash 4, signature 1).
    Rsa2048,
}

/// How the log answers `add-chain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    /// An SCT with a good signature.
    Normal,
    /// 410 Gone, as a shard that no longer accepts submissions.
    Gone,
    /// 500 with a JSON error.
    ServerError,
    /// Reads the request and answers nothing for this long, then closes.
    Hang(Duration),
    /// An SCT whose signature has its last byte flipped.
    FlipSignature,
    /// An SCT whose signature covers the returned timestamp minus one.
    SignOtherTimestamp,
}

#[derive(Clone, Debug)]
pub struct CtLogOptions {
    pub key: LogKeyKind,
    /// The path the log lives under, e.g. "/2026h1" (default: none, the log
    /// is at the root). Its `url()` is `http://127.0.0.1:<port><prefix>/`.
    pub prefix: String,
    pub mode: LogMode,
}

impl Default for CtLogOptions {
    fn default() -> Self {
        CtLogOptions { key: LogKeyKind::P256, prefix: String::new(), mode: LogMode::Normal }
    }
}

enum Signer {
    Ec(EcdsaKeyPair),
    Rsa(rsa::KeyPair),
}

impl Signer {
    fn generate(kind: LogKeyKind) -> Signer {
        match kind {
            LogKeyKind::P256 => {
                let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
                Signer::Ec(EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap())
            }
            LogKeyKind::Rsa2048 => Signer::Rsa(rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap()),
        }
    }

    fn spki_der(&self) -> Vec<u8> {
        match self {
            Signer::Ec(k) => AsDer::<PublicKeyX509Der>::as_der(k.public_key()).unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => AsDer::<PublicKeyX509Der>::as_der(k.public_key()).unwrap().as_ref().to_vec(),
        }
    }

    /// TLS `DigitallySigned` (RFC 5246 §4.7) over `msg`.
    fn digitally_signed(&self, msg: &[u8]) -> Vec<u8> {
        let (sig_alg, sig) = match self {
            Signer::Ec(k) => (3u8, k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec()),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).unwrap();
                (1u8, sig)
            }
        };
        let mut out = vec![4u8, sig_alg];
        out.extend_from_slice(&u16::try_from(sig.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&sig);
        out
    }
}

struct Shard {
    prefix: String,
    signer: Signer,
    spki: Vec<u8>,
    mode: LogMode,
    requests: usize,
    last_chain: Option<Vec<Vec<u8>>>,
    last_path: Option<String>,
}

#[derive(Default)]
struct State {
    shards: Vec<Shard>,
    /// Requests whose path belonged to no shard.
    unrouted: usize,
}

/// The listener; dropped with the last handle.
struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
    _listening: Listening,
}

impl Server {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One log (shard) of a test server.
pub struct CtLog {
    server: Arc<Server>,
    shard: usize,
}

fn normalize_prefix(p: &str) -> String {
    let p = p.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("/{p}")
    }
}

impl CtLog {
    /// A new server on 127.0.0.1 with one log.
    pub fn start(opts: CtLogOptions) -> CtLog {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let listening = Listening::start(listener, move |tcp, stop| {
            let _ = serve(&st, stop, tcp);
        });
        let server = Arc::new(Server { port, state, _listening: listening });
        let log = CtLog { server, shard: 0 };
        log.push_shard(&opts);
        log
    }

    /// Another log on the same server, under its own prefix (which must
    /// differ from the other logs').
    pub fn add_shard(&self, opts: CtLogOptions) -> CtLog {
        let shard = self.push_shard(&opts);
        CtLog { server: self.server.clone(), shard }
    }

    fn push_shard(&self, opts: &CtLogOptions) -> usize {
        let prefix = normalize_prefix(&opts.prefix);
        let signer = Signer::generate(opts.key);
        let spki = signer.spki_der();
        let mut st = self.server.lock();
        assert!(st.shards.iter().all(|s| s.prefix != prefix), "two test logs at {prefix:?}");
        st.shards.push(Shard { prefix, signer, spki, mode: opts.mode, requests: 0, last_chain: None, last_path: None });
        st.shards.len() - 1
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shard) -> T) -> T {
        f(&mut self.server.lock().shards[self.shard])
    }

    /// The log's URL as a log list gives it: `http://127.0.0.1:<port><prefix>/`.
    pub fn url(&self) -> String {
        let prefix = self.with(|s| s.prefix.clone());
        format!("http://127.0.0.1:{}{prefix}/", self.server.port)
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// DER SubjectPublicKeyInfo of the log's key.
    pub fn key_spki_der(&self) -> Vec<u8> {
        self.with(|s| s.spki.clone())
    }

    /// Base64 DER SubjectPublicKeyInfo, the `key` of a log list.
    pub fn key_b64(&self) -> String {
        STANDARD.encode(self.key_spki_der())
    }

    /// The key as a PEM `PUBLIC KEY` (for openssl).
    pub fn key_pem(&self) -> String {
        let b64 = self.key_b64();
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// Base64 SHA-256 of the key, the `log_id` of a log list.
    pub fn log_id_b64(&self) -> String {
        STANDARD.encode(digest::digest(&digest::SHA256, &self.key_spki_der()).as_ref())
    }

    /// Changes how the log answers from now on.
    pub fn set_mode(&self, mode: LogMode) {
        self.with(|s| s.mode = mode);
    }

    /// Requests that reached this log's prefix (any method or path under it).
    pub fn requests(&self) -> usize {
        self.with(|s| s.requests)
    }

    /// The chain (DER, leaf first) of the last add-chain this log accepted.
    pub fn last_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.with(|s| s.last_chain.clone())
    }

    /// The path of the last request to this log.
    pub fn last_path(&self) -> Option<String> {
        self.with(|s| s.last_path.clone())
    }

    /// Requests to the server that matched no log's prefix.
    pub fn unrouted_requests(&self) -> usize {
        self.server.lock().unrouted
    }
}

fn serve(state: &Mutex<State>, stop: &AtomicBool, mut tcp: TcpStream) -> io::Result<()> {
    let req = read_request(&mut tcp)?;
    let (status, body) = match route(state, &req) {
        Answer::Json(status, v) => (status, serde_json::to_vec(&v).unwrap()),
        Answer::Hang(d) => {
            let until = Instant::now() + d;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return tcp.shutdown(Shutdown::Both);
        }
    };
    let headers = [("Content-Type".to_string(), "application/json".to_string())];
    write_response(&mut tcp, status, &headers, &body, false)
}

enum Answer {
    Json(u16, Value),
    Hang(Duration),
}

fn error(status: u16, msg: impl Into<String>) -> Answer {
    Answer::Json(status, json!({"error_message": msg.into(), "success": false}))
}

fn route(state: &Mutex<State>, req: &Req) -> Answer {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    // The shard with the longest prefix the path is under.
    let shard = st
        .shards
        .iter()
        .enumerate()
        .filter(|(_, s)| req.path.starts_with(&format!("{}/", s.prefix)))
        .max_by_key(|(_, s)| s.prefix.len())
        .map(|(i, _)| i);
    let Some(i) = shard else {
        st.unrouted += 1;
        return error(404, format!("no log at {}", req.path));
    };
    let shard = &mut st.shards[i];
    shard.requests += 1;
    shard.last_path = Some(req.path.clone());
    if req.path != format!("{}/ct/v1/add-chain", shard.prefix) {
        return error(404, format!("no such endpoint: {}", req.path));
    }
    if req.method != "POST" {
        return error(405, format!("add-chain takes POST, not {}", req.method));
    }
    match shard.mode {
        LogMode::Gone => return error(410, "this log shard no longer accepts submissions"),
        LogMode::ServerError => return error(500, "the log is having a bad day"),
        LogMode::Hang(d) => return Answer::Hang(d),
        _ => {}
    }
    let chain = match parse_chain(&req.body) {
        Ok(c) => c,
        Err(e) => return error(400, e),
    };
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let signed_ts = if shard.mode == LogMode::SignOtherTimestamp { timestamp - 1 } else { timestamp };
    let mut ds = shard.signer.digitally_signed(&signed_entry(signed_ts, &chain[0]));
    if shard.mode == LogMode::FlipSignature {
        *ds.last_mut().unwrap() ^= 0x01;
    }
    let id = digest::digest(&digest::SHA256, &shard.spki);
    shard.last_chain = Some(chain);
    Answer::Json(
        200,
        json!({
            "sct_version": 0,
            "id": STANDARD.encode(id.as_ref()),
            "timestamp": timestamp,
            "extensions": "",
            "signature": STANDARD.encode(&ds),
        }),
    )
}

/// `{"chain": [base64 DER certificate, ...]}`, at least one, each a certificate.
fn parse_chain(body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(items) = v.get("chain").and_then(Value::as_array) else {
        return Err("no \"chain\" array".into());
    };
    if items.is_empty() {
        return Err("the chain is empty".into());
    }
    let mut chain = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let der = item
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| format!("chain[{i}] is not a base64 string"))?;
        x509_cert::Certificate::from_der(&der).map_err(|e| format!("chain[{i}] is not a DER certificate: {e}"))?;
        chain.push(der);
    }
    Ok(chain)
}

/// RFC 6962 §3.2: the `digitally-signed struct` of an SCT for an X.509 entry:
/// sct_version v1 (0), signature_type certificate_timestamp (0), uint64
/// timestamp, LogEntryType x509_entry (0), ASN.1Cert opaque<1..2^24-1>,
/// CtExtensions opaque<0..2^16-1> (empty).
fn signed_entry(timestamp: u64, leaf: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(leaf.len() + 16);
    m.push(0); // sct_version v1
    m.push(0); // signature_type certificate_timestamp
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(&[0, 0]); // entry_type x509_entry
    let n = leaf.len();
    m.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    m.extend_from_slice(leaf);
    m.extend_from_slice(&[0, 0]); // no extensions
    m
}

// ---- a client for the tests: plain HTTP/1.1, one request per connection ----

/// POSTs `body` to `url` (`http://127.0.0.1:<port>/...`) and returns the
/// status and body. A server that answers nothing within `timeout` is a
/// `TimedOut`/`WouldBlock` error.
pub fn post(url: &str, body: &[u8], timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    request("POST", url, body, timeout)
}

pub fn request(method: &str, url: &str, body: &[u8], timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| io::Error::other("not an http:// URL"))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no HTTP answer"))?;
    let status_line = String::from_utf8_lossy(&resp[..end]).lines().next().unwrap_or("").to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    Ok((status, resp[end + 4..].to_vec()))
}

/// `{"chain": [...]}` for DER certificates, written here (not with acmebot).
pub fn chain_body(certs: &[&[u8]]) -> Vec<u8> {
    let list: Vec<String> = certs.iter().map(|c| STANDARD.encode(c)).collect();
    serde_json::to_vec(&json!({ "chain": list })).unwrap()
}

/// A throwaway CA and a leaf it issued for `name`: (leaf DER, CA DER).
pub fn throwaway_chain(name: &str) -> (Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "acmebot ct test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf = CertificateParams::new(vec![name.to_string()]).unwrap();
    let leaf = leaf.signed_by(&KeyPair::generate().unwrap(), &ca).unwrap();
    (leaf.der().to_vec(), ca.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn json_of(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
    }

    #[test]
    fn answers_an_sct_and_keeps_the_chain() {
        let log = CtLog::start(CtLogOptions::default());
        assert!(log.url().starts_with("http://127.0.0.1:") && log.url().ends_with('/'));
        let (leaf, ca) = throwaway_chain("a.example.test");
        let (status, body) = post(&format!("{}ct/v1/add-chain", log.url()), &chain_body(&[&leaf, &ca]), T).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v = json_of(&body);
        assert_eq!(v["sct_version"], 0);
        assert_eq!(v["id"], log.log_id_b64());
        assert_eq!(v["extensions"], "");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(now - v["timestamp"].as_u64().unwrap() < 60_000);
        let ds = STANDARD.decode(v["signature"].as_str().unwrap()).unwrap();
        assert_eq!(ds[..2], [4, 3]);
        assert_eq!(usize::from(u16::from_be_bytes([ds[2], ds[3]])), ds.len() - 4);
        assert_eq!(log.last_chain(), Some(vec![leaf, ca]));
        assert_eq!(log.requests(), 1);
        assert!(log.key_pem().starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
    }

    #[test]
    fn rsa_logs_sign_with_rsa() {
        let log = CtLog::start(CtLogOptions { key: LogKeyKind::Rsa2048, ..Default::default() });
        let (leaf, _) = throwaway_chain("r.example.test");
        let (status, body) = post(&format!("{}ct/v1/add-chain", log.url()), &chain_body(&[&leaf]), T).unwrap();
        assert_eq!(status, 200);
        let ds = STANDARD.decode(json_of(&body)["signature"].as_str().unwrap()).unwrap();
        assert_eq!(ds[..4], [4, 1, 1, 0], "SHA-256, RSA, 256 bytes");
        assert!(log.key_b64().starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    }

    #[test]
    fn refuses_what_is_not_a_chain() {
        let log = CtLog::start(CtLogOptions::default());
        let url = format!("{}ct/v1/add-chain", log.url());
        let cases: [(&[u8], &str); 5] = [
            (b"{\"chain\": []}", "the chain is empty"),
            (b"{\"chain\": [\"bm90IERFUg==\"]}", "chain[0] is not a DER certificate"),
            (b"{\"chain\": [\"%%%\"]}", "chain[0] is not a base64 string"),
            (b"{}", "no \"chain\" array"),
            (b"chain", "the body is not JSON"),
        ];
        for (body, want) in cases {
            let (status, resp) = post(&url, body, T).unwrap();
            assert_eq!(status, 400);
            let msg = json_of(&resp)["error_message"].as_str().unwrap().to_string();
            assert!(msg.starts_with(want), "{msg}");
        }
        assert_eq!(log.last_chain(), None);
        let (status, _) = request("GET", &url, b"", T).unwrap();
        assert_eq!(status, 405);
        let (status, _) = request("GET", &format!("{}ct/v1/get-sth", log.url()), b"", T).unwrap();
        assert_eq!(status, 404);
        assert_eq!(log.requests(), 7);
    }

    #[test]
    fn shards_on_one_server_and_their_modes() {
        let h1 = CtLog::start(CtLogOptions { prefix: "/2026h1".into(), ..Default::default() });
        let h2 = h1.add_shard(CtLogOptions { prefix: "2026h2/".into(), mode: LogMode::Gone, ..Default::default() });
        assert_eq!(h2.url(), format!("http://127.0.0.1:{}/2026h2/", h1.port()));
        assert_ne!(h1.log_id_b64(), h2.log_id_b64());
        let (leaf, ca) = throwaway_chain("s.example.test");
        let body = chain_body(&[&leaf, &ca]);
        let add = |log: &CtLog| post(&format!("{}ct/v1/add-chain", log.url()), &body, T).unwrap();
        assert_eq!(add(&h1).0, 200);
        let (status, resp) = add(&h2);
        assert_eq!(status, 410);
        assert!(json_of(&resp)["error_message"].as_str().unwrap().contains("no longer accepts"));
        h2.set_mode(LogMode::ServerError);
        assert_eq!(add(&h2).0, 500);
        h2.set_mode(LogMode::Normal);
        let (status, resp) = add(&h2);
        assert_eq!(status, 200);
        assert_eq!(json_of(&resp)["id"], h2.log_id_b64());
        assert_eq!((h1.requests(), h2.requests()), (1, 3));
        // No log at the root, nor at a mistyped prefix (a doubled slash included).
        let root = format!("http://127.0.0.1:{}/", h1.port());
        assert_eq!(post(&format!("{root}ct/v1/add-chain"), &body, T).unwrap().0, 404);
        assert_eq!(post(&format!("{root}2026h3/ct/v1/add-chain"), &body, T).unwrap().0, 404);
        assert_eq!(post(&format!("{}/ct/v1/add-chain", h1.url()), &body, T).unwrap().0, 404);
        assert_eq!(h1.unrouted_requests(), 2);
    }

    #[test]
    fn hangs_past_a_timeout_and_stops_on_drop() {
        let log = CtLog::start(CtLogOptions { mode: LogMode::Hang(Duration::from_secs(30)), ..Default::default() });
        let (leaf, _) = throwaway_chain("h.example.test");
        let started = Instant::now();
        let e = post(&format!("{}ct/v1/add-chain", log.url()), &chain_body(&[&leaf]), Duration::from_millis(500))
            .unwrap_err();
        assert!(matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let port = log.port();
        drop(log);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the server stopped");
    }
}
