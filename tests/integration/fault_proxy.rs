//! A loopback proxy between acmebot and pebble that injects network faults:
//! it terminates TLS (its own throwaway CA, given to acmebot as `ca_bundle`),
//! forwards each request to pebble over TLS with its own Host (so pebble's
//! URLs lead back to it; any that name pebble's port are rewritten), and for
//! the requests a plan picks resets the connection, stalls,
//! truncates the answer, or answers 500 / 503 with `Retry-After` itself.
//! Independent of acmebot's code: plain rustls and HTTP/1.1 by hand.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// What the proxy does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// The connection is closed without an answer.
    Reset,
    /// The answer comes after this long.
    Stall(Duration),
    /// Half of the answer, then the connection is closed.
    Truncate,
    /// This status (500, 503) with a problem document, and `Retry-After` when given.
    Status(u16, Option<u64>),
}

pub type Plan = Arc<dyn Fn(usize) -> Fault + Send + Sync>;

pub struct FaultProxy {
    pub port: u16,
    pub ca_pem: PathBuf,
    /// (request line, fault) of every request, in order.
    pub log: Arc<Mutex<Vec<(String, Fault)>>>,
    plan: Arc<Mutex<Plan>>,
    stop: Arc<AtomicBool>,
}

struct Upstream {
    port: u16,
    tls: Arc<rustls::ClientConfig>,
}

impl FaultProxy {
    /// A proxy for pebble's ACME port `upstream`, whose TLS root is `upstream_ca`.
    pub fn start(dir: &Path, upstream: u16, upstream_ca: &Path) -> FaultProxy {
        std::fs::create_dir_all(dir).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // Its own CA and a certificate for 127.0.0.1.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "acmebot test fault proxy ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf_params.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_pem = dir.join("proxy-ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(upstream_ca).unwrap();
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let plan: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Arc::new(|_| Fault::Pass)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (server, up) = (Arc::new(server), Arc::new(Upstream { port: upstream, tls: Arc::new(client) }));
        let (plan2, log2, stop2) = (plan.clone(), log.clone(), stop.clone());
        let counter = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let (server, up, plan, log, counter) =
                    (server.clone(), up.clone(), plan2.clone(), log2.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = serve(tcp, server, &up, port, &plan, &log, &counter);
                });
            }
        });
        FaultProxy { port, ca_pem, log, plan, stop }
    }

    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// From now on, request number `i` (counted from the proxy's start) gets `plan(i)`.
    pub fn set_plan(&self, plan: impl Fn(usize) -> Fault + Send + Sync + 'static) {
        *self.plan.lock().unwrap() = Arc::new(plan);
    }

    pub fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    tcp: TcpStream,
    server: Arc<rustls::ServerConfig>,
    up: &Upstream,
    own_port: u16,
    plan: &Mutex<Plan>,
    log: &Mutex<Vec<(String, Fault)>>,
    counter: &AtomicUsize,
) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(server).map_err(io::Error::other)?;
    let mut client = rustls::StreamOwned::new(conn, tcp);
    let (head, body) = read_message(&mut client, true)?;
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let i = counter.fetch_add(1, Ordering::SeqCst);
    let fault = (plan.lock().unwrap())(i);
    log.lock().unwrap().push((request_line.clone(), fault));
    match fault {
        Fault::Reset => return Ok(()),
        Fault::Status(status, retry_after) => {
            let problem =
                br#"{"type":"urn:ietf:params:acme:error:serverInternal","detail":"injected by the fault proxy"}"#;
            let mut out = format!("HTTP/1.1 {status} Injected\r\nContent-Type: application/problem+json\r\n");
            if let Some(s) = retry_after {
                out.push_str(&format!("Retry-After: {s}\r\n"));
            }
            out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", problem.len()));
            client.write_all(out.as_bytes())?;
            client.write_all(problem)?;
            client.conn.send_close_notify();
            return client.flush();
        }
        Fault::Stall(d) => std::thread::sleep(d),
        Fault::Pass | Fault::Truncate => {}
    }
    let answer = forward(up, own_port, &head, &body)?;
    let answer = if fault == Fault::Truncate { answer[..answer.len() / 2].to_vec() } else { answer };
    client.write_all(&answer)?;
    if fault != Fault::Truncate {
        client.conn.send_close_notify();
    }
    client.flush()
}

/// Sends the request to pebble (one connection each) and returns its answer
/// with pebble's URLs made the proxy's.
fn forward(up: &Upstream, own_port: u16, head: &str, body: &[u8]) -> io::Result<Vec<u8>> {
    let (theirs, ours) = (format!("https://127.0.0.1:{}", up.port), format!("https://127.0.0.1:{own_port}"));
    let mut lines = head.split("\r\n");
    let mut out = format!("{}\r\n", lines.next().unwrap_or_default());
    for l in lines.filter(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
        // The Host header stays the proxy's: pebble builds its URLs (and
        // checks the JWS `url`) from it, so they all lead back here.
        if !matches!(name.as_str(), "connection" | "content-length") {
            out.push_str(&format!("{l}\r\n"));
        }
    }
    out.push_str(&format!("Connection: close\r\nContent-Length: {}\r\n\r\n", body.len()));
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let conn = rustls::ClientConnection::new(up.tls.clone(), name).map_err(io::Error::other)?;
    let tcp = TcpStream::connect(("127.0.0.1", up.port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(out.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let (head, body) = read_message(&mut s, false)?;
    let body = String::from_utf8_lossy(&body).replace(&theirs, &ours).into_bytes();
    let mut lines = head.split("\r\n");
    let mut answer = format!("{}\r\n", lines.next().unwrap_or_default());
    for l in lines.filter(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding") {
            answer.push_str(&format!("{}\r\n", l.replace(&theirs, &ours)));
        }
    }
    answer.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut bytes = answer.into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// One HTTP/1.1 message: the head and the body (by Content-Length, chunked,
/// or, for an answer, up to the end of the connection).
fn read_message(s: &mut impl Read, request: bool) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let mut body = buf[head_end + 4..].to_vec();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let n = s.read(&mut tmp)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        body.truncate(len);
    } else if !request {
        loop {
            match s.read(&mut tmp) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&tmp[..n]),
                // A peer that closes without close_notify: what came is all.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            body = dechunk(&body);
        }
    }
    Ok((head, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).split(';').next().unwrap_or("0").trim(), 16)
                .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::{Fault, FaultProxy};
    use crate::support::{tree, Site};

    const NAME: &str = "f.example.test";

    fn untouched(site: &Site) -> Vec<(String, Vec<u8>)> {
        let etc = site.root.join("etc");
        tree(&etc)
            .into_iter()
            .filter(|p| p.starts_with("ssl/private/") || p.starts_with("ssl/certs/"))
            .map(|p| (p.clone(), std::fs::read(etc.join(&p)).unwrap()))
            .collect()
    }

    #[test]
    fn faults_between_acmebot_and_pebble_end_in_success_or_a_clean_failure() {
        let site = Site::new("faults", json!({ NAME: {"key_types": ["ecdsa"]} }));
        let upstream: u16 =
            site.pebble.directory_url.rsplit(':').next().unwrap().trim_end_matches("/dir").parse().unwrap();
        let proxy = FaultProxy::start(&site.root.join("proxy"), upstream, &site.pebble.ca_pem);
        let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&site.config_path).unwrap()).unwrap();
        config["settings"]["acme_directory_url"] = json!(proxy.directory_url());
        config["settings"]["ca_bundle"] = json!(proxy.ca_pem);
        config["settings"]["hpkp_days"] = json!(0);
        site.write_config_value(&config);
        // Through the proxy, no fault: it works at all.
        let first = site.run(&["--accept"]);
        assert_eq!(first.code, 0, "{first:?}");
        let per_run = proxy.requests();
        assert!(per_run >= 8, "{per_run} requests");

        let faults = [
            Fault::Status(503, Some(1)),
            Fault::Reset,
            Fault::Stall(std::time::Duration::from_secs(2)),
            Fault::Truncate,
            Fault::Status(500, None),
        ];
        let (mut succeeded, mut failed) = (0, 0);
        let mut retried_503 = false;
        for round in 0..15 {
            let fault = faults[round % faults.len()];
            // The fault falls on a different request of each run.
            let target = proxy.requests() + 1 + (round * 7) % per_run;
            proxy.set_plan(move |i| if i == target { fault } else { Fault::Pass });
            let before = untouched(&site);
            let started = Instant::now();
            let run = site.run(&["--renew"]);
            let took = started.elapsed();
            let ctx = format!("round {round}: {fault:?} on request {target}");
            assert!(took < std::time::Duration::from_secs(90), "{ctx}: {took:?}");
            let audit = site.run(&["--audit"]);
            assert_eq!(audit.code, 0, "{ctx}: the journal and the files agree: {audit:?}");
            if run.code == 0 {
                succeeded += 1;
                retried_503 |= matches!(fault, Fault::Status(503, _));
                let key = acmebot::crypto::PrivateKey::from_pem(
                    &std::fs::read(site.path(&format!("ssl/private/{NAME}.ecdsa.key"))).unwrap(),
                )
                .unwrap();
                let pem = std::fs::read(site.path(&format!("ssl/certs/{NAME}.ecdsa.pem"))).unwrap();
                let cert = acmebot::crypto::parse_cert(&acmebot::crypto::pem_to_ders(&pem).unwrap()[0]).unwrap();
                assert!(acmebot::crypto::key_matches_cert(&key, &cert), "{ctx}");
            } else {
                failed += 1;
                assert_eq!(untouched(&site), before, "{ctx}: a failed run changed no key or certificate: {run:?}");
                assert!(run.stderr.contains("ERROR:"), "{ctx}: it says why: {run:?}");
            }
        }
        eprintln!("15 runs through injected faults: {succeeded} succeeded, {failed} failed cleanly");
        assert!(retried_503, "a 503 with Retry-After is retried, and the run succeeds");
        proxy.set_plan(|_| Fault::Pass);
        assert_eq!(site.run(&["--renew"]).code, 0);
    }
}
