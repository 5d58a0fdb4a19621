//! A loopback OCSP responder for the tests, answering with real `openssl ocsp`.
//!
//! `openssl ocsp -port N` would bind every interface, so it is not used as a
//! server: a small HTTP/1.1 server here listens on 127.0.0.1 only, and for each
//! request (RFC 6960 Appendix A: a POST with the DER body, or a GET with the
//! base64 request in the path) writes `req.der`, runs
//! `openssl ocsp -index index.txt -CA issuer.pem -rsigner S -rkey K
//! -ndays N|-nmin N -reqin req.der -respout resp.der` and answers with
//! `resp.der` as `application/ocsp-response`.
//!
//! The test chooses the status of each serial (written to `index.txt` before
//! every answer; a serial not set is `unknown`), who signs (the issuer, a
//! responder the issuer delegated with `extendedKeyUsage=critical,OCSPSigning`,
//! one without that usage, or an unrelated self-signed key) and how long the
//! answer is valid (`nextUpdate`).
//!
//! ```ignore
//! let responder = OcspResponder::start(&dir.join("ocsp"), &ca_pem, &ca_key);
//! responder.set_status("0A1B2C", Status::Revoked { at: now - 60, reason: Some("keyCompromise") });
//! responder.use_signer(Signer::Delegated);
//! let der = post_ocsp(&responder.url(), &request);   // or acmebot's own client
//! assert_eq!(responder.requests(), 1);
//!
//! // For pebble, whose config needs the URL before its intermediate exists:
//! let responder = OcspResponder::listen(&dir.join("ocsp"));
//! // ... start pebble with ocspResponderURL = responder.url(), save
//! // /intermediates/0 and /intermediate-keys/0 to files, then:
//! responder.set_issuer(&intermediate_pem, &intermediate_key);
//! ```
//! The server stops (listener closed, thread joined) when the value drops.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The status `index.txt` gives a serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    /// Revoked at `at` (Unix seconds), with an RFC 5280 reason name such as
    /// "keyCompromise" or "superseded".
    Revoked {
        at: i64,
        reason: Option<&'static str>,
    },
}

/// Who signs the answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The issuer's own key.
    Issuer,
    /// A responder certificate the issuer signed, with
    /// `extendedKeyUsage=critical,OCSPSigning` (RFC 6960 §4.2.2.2).
    Delegated,
    /// A responder certificate the issuer signed, with only `serverAuth`.
    DelegatedWithoutEku,
    /// A self-signed key that has nothing to do with the issuer.
    WrongKey,
}

/// How long an answer is good for: `nextUpdate` = `thisUpdate` + this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Days(u32),
    Minutes(u32),
}

/// The responder certificates' subjects, for the tests' assertions.
pub const DELEGATED_SUBJECT: &str = "CN=acmebot test OCSP responder";
pub const DELEGATED_WITHOUT_EKU_SUBJECT: &str = "CN=acmebot test OCSP responder without OCSPSigning";
pub const WRONG_KEY_SUBJECT: &str = "CN=acmebot test OCSP unrelated signer";

struct State {
    /// The issuer's certificate and key (PEM paths); None until
    /// [`OcspResponder::set_issuer`], and every request fails (500) till then.
    issuer: Option<(PathBuf, PathBuf)>,
    statuses: BTreeMap<String, Status>,
    signer: Signer,
    validity: Validity,
    /// When set, the bytes answered instead of openssl's (a canned
    /// "tryLater", garbage...).
    canned: Option<Vec<u8>>,
    /// Whether the answer carries the signer's certificate (openssl's
    /// default); false adds `-resp_no_certs`.
    signer_cert: bool,
    /// The status of a serial the test did not set (a certificate a CA
    /// just issued): None answers `unknown`, as openssl does.
    otherwise: Option<Status>,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    requests: AtomicUsize,
    stop: AtomicBool,
}

pub struct OcspResponder {
    shared: Arc<Shared>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl OcspResponder {
    /// Makes the responder certificates in `dir` (created) and starts serving
    /// on 127.0.0.1: everything `unknown`, signed by the issuer, valid 7 days.
    pub fn start(dir: &Path, issuer_cert_pem: &Path, issuer_key_pem: &Path) -> OcspResponder {
        let responder = OcspResponder::listen(dir);
        responder.set_issuer(issuer_cert_pem, issuer_key_pem);
        responder
    }

    /// Serves on 127.0.0.1 before the issuer is known, for a CA that must be
    /// told the URL before it makes its issuer (pebble's `ocspResponderURL`):
    /// requests fail with 500 until [`OcspResponder::set_issuer`].
    pub fn listen(dir: &Path) -> OcspResponder {
        std::fs::create_dir_all(dir).unwrap();
        // Several serials may share a subject: openssl must not insist on unique ones.
        std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").unwrap();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                issuer: None,
                statuses: BTreeMap::new(),
                signer: Signer::Issuer,
                validity: Validity::Days(7),
                canned: None,
                signer_cert: true,
                otherwise: None,
            }),
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        // Bound once and kept, so no other test can be handed this port.
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the OCSP responder");
        let port = listener.local_addr().unwrap().port();
        let shared2 = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared2.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(&shared2, stream);
                }
            }
        });
        OcspResponder { shared, port, thread: Some(thread) }
    }

    /// The status of every serial not set with [`OcspResponder::set_status`]
    /// (None: `unknown`): a responder that knows every certificate its CA
    /// issues, as a CA's own does.
    pub fn otherwise(&self, status: Option<Status>) {
        self.shared.state.lock().unwrap().otherwise = status;
    }

    /// The issuer whose certificates this responder answers for (PEM paths,
    /// read at each request), e.g. pebble's `/intermediates/0` and
    /// `/intermediate-keys/0` saved to files. Makes the delegated responders'
    /// certificates (signed by this issuer) and the unrelated key.
    pub fn set_issuer(&self, issuer_cert_pem: &Path, issuer_key_pem: &Path) {
        make_signers(&self.shared.dir, issuer_cert_pem, issuer_key_pem);
        self.shared.state.lock().unwrap().issuer = Some((issuer_cert_pem.to_path_buf(), issuer_key_pem.to_path_buf()));
    }

    /// The responder's URL, as it would stand in a certificate's AIA.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Sets a serial's status. `serial_hex` as openssl writes it: two digits
    /// a byte, without DER's leading 00 sign byte, any case ("0A1B2C";
    /// `acmebot::crypto::parse_cert(der)?.serial_hex` is that form).
    pub fn set_status(&self, serial_hex: &str, status: Status) {
        self.shared.state.lock().unwrap().statuses.insert(serial_hex.to_ascii_uppercase(), status);
    }

    /// Forgets a serial: its status is `unknown` again.
    pub fn forget(&self, serial_hex: &str) {
        self.shared.state.lock().unwrap().statuses.remove(&serial_hex.to_ascii_uppercase());
    }

    pub fn use_signer(&self, signer: Signer) {
        self.shared.state.lock().unwrap().signer = signer;
    }

    pub fn set_validity_minutes(&self, minutes: u32) {
        self.shared.state.lock().unwrap().validity = Validity::Minutes(minutes);
    }

    pub fn set_validity_days(&self, days: u32) {
        self.shared.state.lock().unwrap().validity = Validity::Days(days);
    }

    /// Whether answers carry the signer's certificate (default true). A
    /// delegated responder's answer cannot be checked without it.
    pub fn send_signer_cert(&self, send: bool) {
        self.shared.state.lock().unwrap().signer_cert = send;
    }

    /// Answers with these bytes instead of asking openssl (None: openssl again).
    pub fn answer_with(&self, bytes: Option<Vec<u8>>) {
        self.shared.state.lock().unwrap().canned = bytes;
    }

    /// How many OCSP requests were answered (or failed) so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The certificate of a signer, for a test that wants to show it to
    /// openssl (after the issuer is set).
    pub fn signer_cert(&self, signer: Signer) -> PathBuf {
        let state = self.shared.state.lock().unwrap();
        let (cert, key) = state.issuer.clone().expect("set_issuer first");
        signer_files(&self.shared.dir, &cert, &key, signer).0
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; it then drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("run openssl (scripts/install-deps installs it)");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The responder certificates and the unrelated key, made once per responder.
fn make_signers(dir: &Path, issuer_pem: &Path, issuer_key: &Path) {
    let key = dir.join("responder.key");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(&key)]);
    let csr = dir.join("responder.csr");
    for (cert, subject, serial, eku) in [
        ("responder.pem", DELEGATED_SUBJECT, "0x7E01", "critical,OCSPSigning"),
        ("responder-noeku.pem", DELEGATED_WITHOUT_EKU_SUBJECT, "0x7E02", "serverAuth"),
    ] {
        let ext = dir.join(format!("{cert}.ext"));
        std::fs::write(
            &ext,
            format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={eku}\n"),
        )
        .unwrap();
        let subj = format!("/{subject}");
        openssl(&["req", "-new", "-key", p(&key), "-subj", &subj, "-out", p(&csr)]);
        let out = dir.join(cert);
        openssl(&[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(issuer_pem),
            "-CAkey",
            p(issuer_key),
            "-set_serial",
            serial,
            "-days",
            "30",
            "-extfile",
            p(&ext),
            "-out",
            p(&out),
        ]);
    }
    let wrong_key = dir.join("wrong.key");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(&wrong_key)]);
    let subj = format!("/{WRONG_KEY_SUBJECT}");
    let wrong = dir.join("wrong.pem");
    openssl(&["req", "-new", "-x509", "-key", p(&wrong_key), "-subj", &subj, "-days", "30", "-out", p(&wrong)]);
}

fn signer_files(dir: &Path, issuer_pem: &Path, issuer_key: &Path, signer: Signer) -> (PathBuf, PathBuf) {
    match signer {
        Signer::Issuer => (issuer_pem.to_path_buf(), issuer_key.to_path_buf()),
        Signer::Delegated => (dir.join("responder.pem"), dir.join("responder.key")),
        Signer::DelegatedWithoutEku => (dir.join("responder-noeku.pem"), dir.join("responder.key")),
        Signer::WrongKey => (dir.join("wrong.pem"), dir.join("wrong.key")),
    }
}

/// `YYMMDDHHMMSSZ`, the time form of openssl's index.txt.
fn index_time(t: i64) -> String {
    let (y, mo, d, h, mi, s) = acmebot::time::to_civil(t);
    format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100)
}

fn index_txt(statuses: &BTreeMap<String, Status>) -> String {
    // The expiry column is not what `openssl ocsp` answers from; any date does.
    const EXPIRY: &str = "491231235959Z";
    let mut out = String::new();
    for (serial, status) in statuses {
        let subject = format!("/CN=serial {serial}");
        match status {
            Status::Good => out.push_str(&format!("V\t{EXPIRY}\t\t{serial}\tunknown\t{subject}\n")),
            Status::Revoked { at, reason } => {
                let mut revoked = index_time(*at);
                if let Some(r) = reason {
                    revoked = format!("{revoked},{r}");
                }
                out.push_str(&format!("R\t{EXPIRY}\t{revoked}\t{serial}\tunknown\t{subject}\n"));
            }
        }
    }
    out
}

/// One connection: one request, one answer, closed.
fn serve(shared: &Shared, stream: TcpStream) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // Drop's wake-up connection, or a client that gave up.
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let request = match method {
        "POST" => {
            let mut body = vec![0u8; length.min(1 << 20)];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            Some(body)
        }
        // RFC 6960 Appendix A.1: GET {url}/{url-encoding of base64 of the DER request}.
        "GET" => get_request(path),
        _ => None,
    };
    let mut stream = stream;
    let Some(request) = request else {
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    let response = match answer(shared, &request, n) {
        Ok(der) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                der.len()
            )
            .into_bytes();
            r.extend(der);
            r
        }
        Err(why) => {
            let _ = std::fs::write(shared.dir.join(format!("error-{n}.txt")), &why);
            format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
                why.len()
            )
            .into_bytes()
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

fn get_request(path: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = path.rsplit('/').next()?.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'%' {
            let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(encoded[i]);
            i += 1;
        }
    }
    base64::engine::general_purpose::STANDARD.decode(decoded).ok()
}

/// openssl's answer to `request`: index.txt as the test set it, then
/// `openssl ocsp` as a one-shot responder.
fn answer(shared: &Shared, request: &[u8], n: usize) -> Result<Vec<u8>, String> {
    let state = shared.state.lock().unwrap();
    if let Some(canned) = &state.canned {
        return Ok(canned.clone());
    }
    let Some((issuer_pem, issuer_key)) = &state.issuer else {
        return Err("no issuer yet: call OcspResponder::set_issuer".to_string());
    };
    let dir = &shared.dir;
    let (index, req, resp) =
        (dir.join("index.txt"), dir.join(format!("req-{n}.der")), dir.join(format!("resp-{n}.der")));
    std::fs::write(&req, request).map_err(|e| e.to_string())?;
    let mut statuses = state.statuses.clone();
    if let Some(status) = &state.otherwise {
        // The serial asked for, as openssl itself reads the request.
        let out = Command::new("openssl")
            .args(["ocsp", "-reqin", p(&req), "-req_text"])
            .output()
            .map_err(|e| format!("cannot run openssl: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let serial = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Serial Number:"))
            .map(|s| s.trim().to_uppercase())
            .ok_or_else(|| format!("no serial in the request: {text}"))?;
        let known = statuses.keys().any(|k| k.eq_ignore_ascii_case(&serial));
        if !known {
            statuses.insert(serial, status.clone());
        }
    }
    std::fs::write(&index, index_txt(&statuses)).map_err(|e| e.to_string())?;
    let (signer, key) = signer_files(dir, issuer_pem, issuer_key, state.signer);
    let (validity_flag, validity) = match state.validity {
        Validity::Days(d) => ("-ndays", d.to_string()),
        Validity::Minutes(m) => ("-nmin", m.to_string()),
    };
    let mut cmd = Command::new("openssl");
    cmd.args(["ocsp", "-index", p(&index), "-CA", p(issuer_pem), "-rsigner", p(&signer), "-rkey", p(&key)]).args([
        validity_flag,
        &validity,
        "-reqin",
        p(&req),
        "-respout",
        p(&resp),
    ]);
    if !state.signer_cert {
        cmd.arg("-resp_no_certs");
    }
    let out = cmd.output().map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl ocsp failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    std::fs::read(&resp).map_err(|e| e.to_string())
}
