//! Real peers for the integration tests: pebble (ACME v2) resolving through
//! pebble-challtestsrv (DNS only), and a small static file server standing in
//! for the web server that serves http-01 challenge files. Every process binds
//! loopback only and is stopped by PID when its guard drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port (TCP and UDP) for a server a test starts.
///
/// Not `bind(:0)`: the kernel hands that port out again to other tests'
/// connections and listeners between our probe and the server's bind, and a
/// test once reached another test's plain-HTTP server that way. Ports come
/// from 20000-32767, below the kernel's ephemeral range, each handed out once
/// per test process (tests run in threads of one process).
/// Whether this machine has IPv6 loopback (a container may run without
/// it). Tests that also check [::1] say so on stderr when it is missing and
/// check 127.0.0.1 alone.
pub fn ipv6_loopback() -> bool {
    let here = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !here {
        eprintln!("NOTE: no IPv6 loopback on this machine: [::1] is not checked by this test");
    }
    here
}

pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BASE: u32 = 20_000;
    const SPAN: u32 = 12_768;
    let start = std::process::id() % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free loopback port left");
        let port = (BASE + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port}");
}

/// A child process killed by PID on drop.
pub struct Proc {
    pub child: Child,
    /// For the reader of a failing test's debugger output.
    #[allow(dead_code)]
    pub name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

pub fn which(program: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/bin", "/usr/sbin"]) {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: run the README's test command (scripts/test), which installs it");
}

/// Serves `<root>/<token>` at `/.well-known/acme-challenge/<token>` on 127.0.0.1.
pub struct ChallengeServer {
    stop: Arc<AtomicBool>,
    port: u16,
}

impl ChallengeServer {
    pub fn start(port: u16, root: PathBuf) -> ChallengeServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind challenge server");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        std::thread::spawn(move || serve(stream, &root));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ChallengeServer { stop, port }
    }
}

impl Drop for ChallengeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, root: &Path) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let token = path.strip_prefix("/.well-known/acme-challenge/").unwrap_or("");
    let mut stream = stream;
    let body = if !token.is_empty() && !token.contains('/') && !token.contains("..") {
        std::fs::read(root.join(token)).ok()
    } else {
        None
    };
    let response = match body {
        Some(b) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                b.len()
            )
            .into_bytes();
            r.extend(b);
            r
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
    let mut sink = [0u8; 64];
    let _ = stream.read(&mut sink);
}

/// A running pebble with its DNS server and challenge web server.
pub struct Pebble {
    #[allow(dead_code)]
    pub dir: PathBuf,
    pub directory_url: String,
    pub management_url: String,
    pub ca_pem: PathBuf,
    pub webroot: PathBuf,
    /// The DNS server pebble resolves through ("127.0.0.1:port"): its
    /// pebble-challtestsrv answers 127.0.0.1 for every name.
    pub dns_server: String,
    /// pebble-challtestsrv's management address, when it was started here.
    pub dns_management: Option<String>,
    _dns: Option<Proc>,
    _pebble: Proc,
    _web: ChallengeServer,
}

pub struct PebbleOptions {
    pub nonce_reject: u32,
    pub env: Vec<(String, String)>,
    /// External Account Binding required, with these (kid, base64url MAC key) pairs.
    pub eab: Vec<(String, String)>,
    /// Resolve through this DNS server ("ip:port", e.g. a bind9 started by the
    /// test) instead of a pebble-challtestsrv started here.
    pub dns_server: Option<String>,
    /// Names pebble refuses to issue for (`rejectedIdentifier`), through its
    /// `domainBlocklist` setting; left out of pebble.json when empty.
    pub domain_blocklist: Vec<String>,
    /// Put into every issued certificate as its AIA OCSP URL (pebble's
    /// `ocspResponderURL`); none when empty.
    pub ocsp_responder_url: String,
}

impl Default for PebbleOptions {
    fn default() -> Self {
        PebbleOptions {
            nonce_reject: 50,
            env: Vec::new(),
            eab: Vec::new(),
            dns_server: None,
            domain_blocklist: Vec::new(),
            ocsp_responder_url: String::new(),
        }
    }
}

impl Pebble {
    pub fn start(dir: &Path, opts: PebbleOptions) -> Pebble {
        std::fs::create_dir_all(dir).unwrap();
        // The HTTPS certificate pebble serves, from a throwaway CA made here.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "acmebot test pebble https ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf_params.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_pem = dir.join("pebble-ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        std::fs::write(dir.join("pebble-cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("pebble-key.pem"), leaf_key.serialize_pem()).unwrap();

        let (acme_port, mgmt_port, http_port, tls_port, dns_port, dns_mgmt_port) =
            (free_port(), free_port(), free_port(), free_port(), free_port(), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
            "certificate": dir.join("pebble-cert.pem"),
            "privateKey": dir.join("pebble-key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": opts.ocsp_responder_url,
            "externalAccountBindingRequired": !opts.eab.is_empty(),
            "externalAccountMACKeys": opts.eab.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<String, serde_json::Value>>()
        }});
        if !opts.domain_blocklist.is_empty() {
            config["pebble"]["domainBlocklist"] = serde_json::json!(opts.domain_blocklist);
        }
        std::fs::write(dir.join("pebble.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();

        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let dns = if opts.dns_server.is_some() {
            None
        } else {
            let dns = Command::new(which("pebble-challtestsrv"))
                .args([
                    "-dns01",
                    &format!("127.0.0.1:{dns_port}"),
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    &format!("127.0.0.1:{dns_mgmt_port}"),
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                ])
                .stdout(log("challtestsrv.log"))
                .stderr(log("challtestsrv.err"))
                .stdin(Stdio::null())
                .spawn()
                .expect("start pebble-challtestsrv");
            let dns = Proc { child: dns, name: "pebble-challtestsrv" };
            wait_port(dns_mgmt_port, "pebble-challtestsrv");
            Some(dns)
        };
        let dns_server = opts.dns_server.clone().unwrap_or_else(|| format!("127.0.0.1:{dns_port}"));

        let webroot = dir.join("webroot");
        std::fs::create_dir_all(&webroot).unwrap();
        let web = ChallengeServer::start(http_port, webroot.clone());

        let mut cmd = Command::new(which("pebble"));
        cmd.args(["-config", dir.join("pebble.json").to_str().unwrap(), "-strict=false", "-dnsserver", &dns_server])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", opts.nonce_reject.to_string())
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .stdin(Stdio::null());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let pebble = Proc { child: cmd.spawn().expect("start pebble"), name: "pebble" };
        wait_port(acme_port, "pebble");
        Pebble {
            dir: dir.to_path_buf(),
            directory_url: format!("https://127.0.0.1:{acme_port}/dir"),
            management_url: format!("https://127.0.0.1:{mgmt_port}"),
            ca_pem,
            webroot,
            dns_management: dns.as_ref().map(|_| format!("http://127.0.0.1:{dns_mgmt_port}")),
            dns_server,
            _dns: dns,
            _pebble: pebble,
            _web: web,
        }
    }

    /// GET on pebble's management interface (roots, certificate status).
    pub fn management_get(&self, path: &str) -> (u16, Vec<u8>) {
        use acmebot::http::Transport;
        let roots = acmebot::http::trust_anchors(Some(&self.ca_pem)).unwrap();
        let t = acmebot::http::UreqTransport::new(roots, "acmebot-tests", true);
        let r = t.request("GET", &format!("{}{path}", self.management_url), &[], None).unwrap();
        (r.status, r.body)
    }
}
