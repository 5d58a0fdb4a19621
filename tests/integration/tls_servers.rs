//! Real TLS servers for the installation-verification tests: nginx (HTTPS,
//! optionally with a stapled OCSP response and an HPKP header), postfix (SMTP
//! with STARTTLS) and dovecot (IMAP, POP3 and ManageSieve with STARTTLS), each
//! serving an RSA and an ECDSA certificate from files a test controls.
//!
//! Every server runs from a private tree under the test's directory (its
//! configuration, pid file, logs, queue, state and socket directories; the
//! system's /etc/nginx, /etc/postfix, /var/spool/postfix, /etc/dovecot are
//! neither read nor written), binds 127.0.0.1 only (nginx also [::1] when
//! asked) on ports from [`free_port`], and runs in the foreground as the child
//! of the test, in a process group of its own. Dropping the value SIGKILLs
//! that group (master and workers) and returns once none of its processes is
//! left, so the ports are closed when `drop` returns.
//!
//! The daemons run as root (as the tests do): postfix and dovecot change to
//! their unprivileged users (`postfix`, `dovecot`, `dovenull`), which must be
//! able to traverse the directory a test gives them; [`temp_dir`] makes 0755
//! directories (a `mktemp -d` directory, 0700, is not enough for postfix).
//!
//! ```ignore
//! let nginx = Nginx::start(&dir.join("nginx"), NginxOptions { certs: vec![rsa, ecdsa], ..Default::default() });
//! let shake = handshake(&format!("127.0.0.1:{}", nginx.port), None, KeyKind::Ecdsa, &[]);
//! assert_eq!(shake.chain, ecdsa.chain());
//! // ... replace the files, then
//! nginx.reload(); // returns once the new chains are served
//! ```
//!
//! Times measured on the 2-core development VM (Debian 12: nginx 1.22.1,
//! postfix 3.7.11, dovecot 2.3.19.1): from `start` to listening, nginx
//! ~10 ms, postfix ~20 ms, dovecot ~20 ms. After the reload command (a
//! SIGHUP, which returns at once) each serves the new files within ~30-70 ms
//! (the time of one or two s_client probes). `reload()`, which also checks
//! every endpoint and key type with s_client (~35 ms a handshake), returns
//! after ~0.25 s for nginx with its OCSP block, ~0.15 s for postfix and
//! ~0.4 s for dovecot's three protocols. Dropping a server takes 5-10 ms.
//!
//! [`temp_dir`]: crate::support::temp_dir
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::{free_port, which, Proc};

/// The name clients ask for (SNI); every server here serves its certificates
/// whatever the name.
pub const SERVER_NAME: &str = "www.example.test";

/// How long [`Nginx::reload`] and friends wait for the new certificates.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server may take to listen after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A certificate file (leaf then chain, PEM) and its private key file (PEM, unencrypted).
#[derive(Clone, Debug)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The type of a certificate's key, which decides the signature algorithms a
/// client must offer to be served that certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ecdsa,
}

impl KeyKind {
    /// `openssl s_client -sigalgs` offering only this key type's algorithms,
    /// so a server holding both an RSA and an ECDSA certificate must pick
    /// this one (TLS 1.3 and 1.2 alike). OpenSSL 3.0 has no `RSA-PSS+SHA256`
    /// form: the RSA list is `rsa_pss_rsae_sha256:RSA+SHA256`.
    pub fn sigalgs(self) -> &'static str {
        match self {
            KeyKind::Rsa => "rsa_pss_rsae_sha256:RSA+SHA256",
            KeyKind::Ecdsa => "ECDSA+SHA256",
        }
    }
}

impl CertPair {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> CertPair {
        CertPair { cert: cert.into(), key: key.into() }
    }

    /// The leaf's key type, as openssl reads the certificate file.
    pub fn kind(&self) -> KeyKind {
        let text = openssl_out(&["x509", "-in", path_str(&self.cert), "-noout", "-text"]);
        if text.contains("Public Key Algorithm: rsaEncryption") {
            KeyKind::Rsa
        } else if text.contains("Public Key Algorithm: id-ecPublicKey") {
            KeyKind::Ecdsa
        } else {
            panic!("{}: neither an RSA nor an ECDSA certificate:\n{text}", self.cert.display())
        }
    }

    /// The certificates of the file, leaf first, each as its DER in base64
    /// (the form [`Handshake::chain`] has).
    pub fn chain(&self) -> Vec<String> {
        pem_certs(&std::fs::read_to_string(&self.cert).unwrap_or_else(|e| panic!("{}: {e}", self.cert.display())))
    }
}

/// What `openssl s_client -showcerts` saw.
#[derive(Debug)]
pub struct Handshake {
    /// The certificates the server sent, leaf first, each DER in base64.
    pub chain: Vec<String>,
    /// s_client's stdout then stderr, for assertions on `-status` output and
    /// for failure messages.
    pub output: String,
}

impl Handshake {
    pub fn leaf(&self) -> Option<&str> {
        self.chain.first().map(String::as_str)
    }

    /// Whether the server stapled an OCSP response that says "successful"
    /// (asked for with `-status` in `extra`).
    pub fn ocsp_successful(&self) -> bool {
        self.output.contains("OCSP Response Status: successful")
    }
}

/// Connects with the real `openssl s_client` to `addr` ("127.0.0.1:port" or
/// "[::1]:port"), after `-starttls <proto>` when given ("smtp", "imap",
/// "pop3", "sieve"), offering only `kind`'s signature algorithms, with
/// `extra` arguments (e.g. `-status`); stdin is empty, so s_client closes
/// after the handshake. Gives up after 10 s (the handshake is then empty).
pub fn handshake(addr: &str, starttls: Option<&str>, kind: KeyKind, extra: &[&str]) -> Handshake {
    let mut cmd = Command::new("timeout");
    cmd.args(["10", "openssl", "s_client", "-connect", addr, "-servername", SERVER_NAME]).args([
        "-sigalgs",
        kind.sigalgs(),
        "-showcerts",
    ]);
    if let Some(proto) = starttls {
        cmd.args(["-starttls", proto]);
    }
    let out = cmd.args(extra).stdin(Stdio::null()).output().expect("run openssl (scripts/install-deps installs it)");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Handshake { chain: pem_certs(&output), output }
}

/// Sends `HEAD / HTTP/1.0` over TLS (openssl s_client) to `addr` and returns
/// the response head, for headers such as `Public-Key-Pins`.
pub fn https_head(addr: &str) -> String {
    let mut child = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect", addr, "-servername", SERVER_NAME, "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl (scripts/install-deps installs it)");
    // -quiet implies -ign_eof: s_client sends the request, then reads until
    // nginx closes the HTTP/1.0 connection.
    let request = format!("HEAD / HTTP/1.0\r\nHost: {SERVER_NAME}\r\n\r\n");
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The certificates in PEM text (anything around them is skipped), each as
/// its DER in base64 without line breaks.
pub fn pem_certs(text: &str) -> Vec<String> {
    let mut certs = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match (line, current.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => current = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(_)) => certs.extend(current.take()),
            (l, Some(b64)) => b64.push_str(l),
            _ => {}
        }
    }
    certs
}

/// The processes of process group `pgid` that are neither zombies nor dead,
/// with their command lines (which nginx, postfix and dovecot set to say what
/// each process is).
pub fn group_members(pgid: u32) -> Vec<(u32, String)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || matches!(fields[0], "Z" | "X") || fields[2].parse::<u32>() != Ok(pgid) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        members.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_string()));
    }
    members
}

/// The TCP addresses the processes of group `pgid` listen on (from their
/// socket inodes and /proc/net/tcp{,6}), to check that a server binds
/// loopback only.
pub fn listening_addrs(pgid: u32) -> Vec<std::net::SocketAddr> {
    let mut inodes = std::collections::HashSet::new();
    for (pid, _) in group_members(pgid) {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy();
                if let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let mut addrs = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode"
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" || !inodes.contains(f[9]) {
                continue;
            }
            let (ip, port) = f[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            // The address's bytes, printed as native-endian 32-bit words.
            let bytes: Vec<u8> = (0..ip.len() / 8)
                .flat_map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).unwrap().to_ne_bytes())
                .collect();
            let ip: std::net::IpAddr = match bytes.len() {
                4 => <[u8; 4]>::try_from(bytes).unwrap().into(),
                _ => <[u8; 16]>::try_from(bytes).unwrap().into(),
            };
            addrs.push(std::net::SocketAddr::new(ip, port));
        }
    }
    addrs.sort();
    addrs.dedup();
    addrs
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn openssl_out(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("run openssl (scripts/install-deps installs it)");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last lines of the files, for a failure message.
fn tails(files: &[PathBuf]) -> String {
    let mut s = String::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| format!("({e})"));
        let lines: Vec<&str> = text.lines().collect();
        let _ = writeln!(s, "--- {}", f.display());
        for l in &lines[lines.len().saturating_sub(30)..] {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}

/// Where a server is asked for its certificates: the address and the STARTTLS
/// protocol, if any.
#[derive(Clone, Debug)]
struct Endpoint {
    addr: String,
    starttls: Option<&'static str>,
}

impl Endpoint {
    fn tls(port: u16) -> Endpoint {
        Endpoint { addr: format!("127.0.0.1:{port}"), starttls: None }
    }

    fn starttls(port: u16, proto: &'static str) -> Endpoint {
        Endpoint { addr: format!("127.0.0.1:{port}"), starttls: Some(proto) }
    }
}

/// A server's master process, the leader of a process group of its own
/// (its workers are in that group too).
struct Daemon {
    proc: Proc,
    /// Its logs, shown when it fails.
    logs: Vec<PathBuf>,
    /// The command-line mark of the processes that serve connections with the
    /// configuration they started with (nginx workers, postfix's smtpd,
    /// dovecot's login processes): a reload is complete once the ones from
    /// before it are gone.
    worker_mark: &'static str,
}

impl Daemon {
    fn spawn(
        mut cmd: Command,
        name: &'static str,
        dir: &Path,
        logs: Vec<PathBuf>,
        worker_mark: &'static str,
    ) -> Daemon {
        let out = dir.join(format!("{name}.out"));
        let file = std::fs::File::create(&out).unwrap();
        cmd.process_group(0).stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let mut logs = logs;
        logs.insert(0, out);
        Daemon { proc: Proc { child, name }, logs, worker_mark }
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// Whether the master has exited (not reaped: its PID stays ours until
    /// the drop kills and waits for it).
    fn exited(&self) -> bool {
        // SAFETY: waitid writes only into `info`; WNOWAIT leaves the child waitable.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            rc == 0 && info.si_pid() != 0
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{} {what}\n{}", self.proc.name, tails(&self.logs))
    }

    /// Waits until every port accepts connections on 127.0.0.1.
    fn wait_listening(&self, ports: &[u16]) {
        let deadline = Instant::now() + START_TIMEOUT;
        for &port in ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if self.exited() {
                    self.fail(&format!("exited before it listened on 127.0.0.1:{port}"));
                }
                if Instant::now() > deadline {
                    self.fail(&format!("did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Waits until a worker runs. nginx opens its ports before it sets its
    /// signal handlers and forks its workers after: a SIGHUP (a reload) in
    /// between is lost, so "started" means a worker exists.
    fn wait_worker(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while self.workers().is_empty() {
            if self.exited() {
                self.fail("exited before it started a worker");
            }
            if Instant::now() > deadline {
                self.fail(&format!("started no worker within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn workers(&self) -> Vec<u32> {
        group_members(self.pid())
            .into_iter()
            .filter(|(pid, cmd)| *pid != self.pid() && cmd.contains(self.worker_mark))
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Runs `command` (a reload command), then waits until the workers from
    /// before it are gone and each endpoint serves each of its certificate
    /// files' chains to a client offering that certificate's key type.
    fn reload(&self, command: &str, served: &[(Endpoint, &[CertPair])]) {
        let old = self.workers();
        let status = Command::new("sh").args(["-c", command]).status().unwrap();
        assert!(status.success(), "{command}: {status}");
        let expected: Vec<(&Endpoint, KeyKind, Vec<String>)> =
            served.iter().flat_map(|(e, certs)| certs.iter().map(move |c| (e, c.kind(), c.chain()))).collect();
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            let lingering: Vec<u32> = self.workers().into_iter().filter(|p| old.contains(p)).collect();
            let mut wrong = None;
            if lingering.is_empty() {
                for (e, kind, chain) in &expected {
                    let shake = handshake(&e.addr, e.starttls, *kind, &[]);
                    if &shake.chain != chain {
                        wrong = Some(((*e).clone(), *kind, shake));
                        break;
                    }
                }
                if wrong.is_none() {
                    return;
                }
            }
            if self.exited() {
                self.fail(&format!("exited after `{command}`"));
            }
            if Instant::now() > deadline {
                let detail = match wrong {
                    Some((e, kind, shake)) => {
                        format!("{e:?} does not serve the {kind:?} file's chain:\n{}", shake.output)
                    }
                    None => format!("workers from before the reload still running: {lingering:?}"),
                };
                self.fail(&format!("not reloaded {RELOAD_TIMEOUT:?} after `{command}`: {detail}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pgid = self.pid();
        // SAFETY: kill(2) touches no memory. The group is still ours: its
        // leader is our child and has not been reaped.
        unsafe {
            libc::kill(-(pgid as i32), libc::SIGKILL);
        }
        // Returns once the ports are closed: every member has exited (the
        // master stays a zombie till `Proc`'s drop reaps it; orphaned workers
        // are reaped by init, and zombies hold no sockets).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What [`Nginx::start`] serves.
#[derive(Clone, Debug, Default)]
pub struct NginxOptions {
    /// The main server block's certificates: one, or an RSA and an ECDSA one
    /// (nginx serves the one matching the client's signature algorithms).
    pub certs: Vec<CertPair>,
    /// A second server block on `ocsp_port` with these certificates and
    /// `ssl_stapling on; ssl_stapling_file <ocsp_staple_file>;`. nginx staples
    /// one file for every certificate of a block, so this is a block of its
    /// own. Empty: no such block (and `ocsp_port` is 0).
    pub ocsp_certs: Vec<CertPair>,
    /// The DER OCSP response the second block staples (required with `ocsp_certs`).
    pub ocsp_staple_file: Option<PathBuf>,
    /// A file holding `add_header Public-Key-Pins '...' always;`, included in
    /// the main server block.
    pub hpkp_include: Option<PathBuf>,
    /// Also listen on [::1] (same ports).
    pub ipv6: bool,
}

/// nginx serving HTTPS on 127.0.0.1:`port` (and `ocsp_port` for the OCSP block).
///
/// nginx 1.22 runs with `daemon off; master_process on;` and one worker
/// (`nobody`), its pid, error and access logs and temporary directories under
/// the directory; `-e` points the log nginx writes before it has read its
/// configuration there too, `-p` makes the directory its prefix.
pub struct Nginx {
    pub port: u16,
    /// The OCSP stapling block's port; 0 without `ocsp_certs`.
    pub ocsp_port: u16,
    pub dir: PathBuf,
    opts: NginxOptions,
    daemon: Daemon,
}

impl Nginx {
    /// Writes `dir/nginx.conf`, starts nginx and waits until its ports answer.
    pub fn start(dir: &Path, opts: NginxOptions) -> Nginx {
        assert!(!opts.certs.is_empty(), "nginx needs a certificate");
        assert!(
            opts.ocsp_certs.is_empty() || opts.ocsp_staple_file.is_some(),
            "an OCSP stapling block needs ocsp_staple_file"
        );
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = free_port();
        let ocsp_port = if opts.ocsp_certs.is_empty() { 0 } else { free_port() };
        let d = path_str(dir);
        let listen = |port: u16| {
            let mut s = format!("    listen 127.0.0.1:{port} ssl;\n");
            if opts.ipv6 {
                let _ = writeln!(s, "    listen [::1]:{port} ssl;");
            }
            s
        };
        let certs = |certs: &[CertPair]| {
            let mut s = String::new();
            for c in certs {
                let _ = writeln!(s, "    ssl_certificate {};", path_str(&c.cert));
                let _ = writeln!(s, "    ssl_certificate_key {};", path_str(&c.key));
            }
            s
        };
        let mut conf = format!(
            "daemon off;
master_process on;
worker_processes 1;
# Bounds how long workers from before a reload keep serving open connections.
worker_shutdown_timeout 1s;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{
  worker_connections 64;
}}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type text/plain;
  server {{
{}    server_name {SERVER_NAME};
{}",
            listen(port),
            certs(&opts.certs)
        );
        if let Some(hpkp) = &opts.hpkp_include {
            let _ = writeln!(conf, "    include {};", path_str(hpkp));
        }
        conf.push_str("    location / {\n      return 200 \"acmebot test nginx\\n\";\n    }\n  }\n");
        if !opts.ocsp_certs.is_empty() {
            let staple = opts.ocsp_staple_file.as_deref().unwrap();
            let _ = write!(
                conf,
                "  server {{
{}    server_name {SERVER_NAME};
{}    ssl_stapling on;
    ssl_stapling_file {};
    location / {{
      return 200 \"acmebot test nginx, OCSP stapling\\n\";
    }}
  }}
",
                listen(ocsp_port),
                certs(&opts.ocsp_certs),
                path_str(staple)
            );
        }
        conf.push_str("}\n");
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();

        let mut cmd = Command::new(which("nginx"));
        cmd.arg("-e").arg(dir.join("error.log")).arg("-p").arg(format!("{d}/")).arg("-c").arg(&conf_path);
        let daemon = Daemon::spawn(cmd, "nginx", dir, vec![dir.join("error.log")], "nginx: worker process");
        let ports: Vec<u16> = [port, ocsp_port].into_iter().filter(|&p| p != 0).collect();
        daemon.wait_listening(&ports);
        daemon.wait_worker();
        Nginx { port, ocsp_port, dir: dir.to_path_buf(), opts, daemon }
    }

    /// The master's PID (also its process group's ID).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// A shell command that makes nginx re-read its configuration and
    /// certificate files: `kill -HUP <master pid>`. It returns at once; nginx
    /// checks the new configuration, starts new workers (a few ms later) and
    /// tells the old ones to stop accepting; connections made in between may
    /// still get the old certificates (see [`Nginx::reload`]). A configuration
    /// that fails (e.g. a key that does not match its certificate) leaves the
    /// old one running, with the error in `error.log`.
    pub fn reload_command(&self) -> String {
        format!("kill -HUP {}", self.pid())
    }

    /// Runs [`Nginx::reload_command`] and waits (5 s at most, else panics)
    /// until the old workers are gone and both blocks serve their files'
    /// chains, for each certificate's key type.
    pub fn reload(&self) {
        let mut served = vec![(Endpoint::tls(self.port), &self.opts.certs[..])];
        if self.ocsp_port != 0 {
            served.push((Endpoint::tls(self.ocsp_port), &self.opts.ocsp_certs[..]));
        }
        self.daemon.reload(&self.reload_command(), &served);
    }
}

/// postfix 3.7's SMTP server with STARTTLS on 127.0.0.1:`port`.
///
/// The master runs in the foreground (`master -d -c <dir>/etc`; `postfix
/// start-fg` would run it as a child of a shell unless it is PID 1). The
/// queue, data and log directories are under the directory, made here with
/// the owners and modes `post-install create-missing` gives them (so `postfix
/// check` need not run). master.cf has only the services an SMTP session up
/// to STARTTLS needs, none chrooted: smtpd, postlogd (`maillog_file` =
/// `<dir>/log/postfix.log`; postfix logs to syslog otherwise, and refuses a
/// log file outside `maillog_file_prefixes`), anvil, tlsmgr, proxymap,
/// trivial-rewrite, cleanup. No reverse DNS (`smtpd_peername_lookup = no`:
/// a lookup of 127.0.0.1 can hang for many seconds where no DNS answers), no
/// local recipients, every relay refused: nothing is delivered.
pub struct Postfix {
    pub port: u16,
    pub dir: PathBuf,
    certs: Vec<CertPair>,
    daemon: Daemon,
}

impl Postfix {
    /// Starts postfix with `smtpd_tls_chain_files` = each key then its
    /// certificate file (RSA and ECDSA: postfix serves the one the client's
    /// signature algorithms allow), and waits until it listens.
    pub fn start(dir: &Path, certs: &[CertPair]) -> Postfix {
        assert!(!certs.is_empty(), "postfix needs a certificate");
        let port = free_port();
        let (etc, spool, data, log) = (dir.join("etc"), dir.join("spool"), dir.join("data"), dir.join("log"));
        for d in [&etc, &spool, &data, &log] {
            std::fs::create_dir_all(d).unwrap();
        }
        let postfix_uid = user_id("postfix");
        let postdrop_gid = group_id("postdrop");
        // As postfix-files lays out a queue directory.
        for (name, mode, gid) in [
            ("active", 0o700, None),
            ("bounce", 0o700, None),
            ("corrupt", 0o700, None),
            ("defer", 0o700, None),
            ("deferred", 0o700, None),
            ("flush", 0o700, None),
            ("hold", 0o700, None),
            ("incoming", 0o700, None),
            ("private", 0o700, None),
            ("saved", 0o700, None),
            ("trace", 0o700, None),
            ("maildrop", 0o730, Some(postdrop_gid)),
            ("public", 0o710, Some(postdrop_gid)),
        ] {
            let p = spool.join(name);
            std::fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::chown(&p, Some(postfix_uid), gid).unwrap();
            set_mode(&p, mode);
        }
        std::fs::create_dir_all(spool.join("pid")).unwrap();
        std::os::unix::fs::chown(&data, Some(postfix_uid), None).unwrap();
        set_mode(&data, 0o700);

        let chain_files: Vec<&str> = certs.iter().flat_map(|c| [path_str(&c.key), path_str(&c.cert)]).collect();
        let d = path_str(dir);
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
maillog_file_prefixes = {d}
maillog_file = {d}/log/postfix.log
myhostname = mail.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_peername_lookup = no
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = reject
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_chain_files = {}
",
            chain_files.join(", ")
        );
        std::fs::write(etc.join("main.cf"), main_cf).unwrap();
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd
postlog unix-dgram n - n - 1 postlogd
anvil unix - - n - 1 anvil
tlsmgr unix - - n 1000? 1 tlsmgr
proxymap unix - - n - - proxymap
rewrite unix - - n - - trivial-rewrite
cleanup unix n - n - 0 cleanup
"
        );
        std::fs::write(etc.join("master.cf"), master_cf).unwrap();
        // postfix reads a configuration file only once its modification time
        // is 2 s in the past ("pausing to let main.cf cool down", 300 ms at a
        // time, against reading a file being edited): back-dated, it starts
        // at once instead of ~2 s later.
        for f in ["main.cf", "master.cf"] {
            let file = std::fs::File::options().write(true).open(etc.join(f)).unwrap();
            file.set_modified(std::time::SystemTime::now() - Duration::from_secs(10)).unwrap();
        }

        let master = postfix_daemon_dir().join("master");
        let mut cmd = Command::new(master);
        cmd.arg("-d").arg("-c").arg(&etc).env("MAIL_CONFIG", &etc);
        let daemon = Daemon::spawn(cmd, "postfix", dir, vec![log.join("postfix.log")], "smtpd");
        daemon.wait_listening(&[port]);
        Postfix { port, dir: dir.to_path_buf(), certs: certs.to_vec(), daemon }
    }

    /// The master's PID (also its process group's ID).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// `kill -HUP <master pid>`, what `postfix reload` does (after a queue
    /// check `postfix -c <dir>/etc reload` would also run): it returns at
    /// once; the master re-reads main.cf, idle smtpd processes exit and the
    /// next connection's new smtpd reads the certificate files (within a few
    /// ms).
    pub fn reload_command(&self) -> String {
        format!("kill -HUP {}", self.pid())
    }

    /// Runs [`Postfix::reload_command`] and waits (5 s at most, else panics)
    /// until the smtpd processes from before are gone and the files' chains
    /// are served after STARTTLS.
    pub fn reload(&self) {
        self.daemon.reload(&self.reload_command(), &[(Endpoint::starttls(self.port, "smtp"), &self.certs[..])]);
    }
}

/// dovecot 2.3 with STARTTLS on IMAP (`imap_port`), POP3 (`pop3_port`) and
/// ManageSieve (`sieve_port`), 127.0.0.1 only, no implicit-TLS ports.
///
/// `dovecot -F -c <dir>/dovecot.conf` with base_dir (sockets, master.pid),
/// state_dir and log_path under the directory and an instance name of its
/// own, so it never meets the system's dovecot. An empty passwd-file is the
/// passdb and userdb (no one logs in; the login processes want an auth
/// service to talk to).
pub struct Dovecot {
    pub imap_port: u16,
    pub pop3_port: u16,
    pub sieve_port: u16,
    pub dir: PathBuf,
    certs: Vec<CertPair>,
    daemon: Daemon,
}

impl Dovecot {
    /// Starts dovecot with `ssl_cert`/`ssl_key` = the first pair and
    /// `ssl_alt_cert`/`ssl_alt_key` = the second, if any (an RSA and an ECDSA
    /// one: dovecot serves the one the client's signature algorithms allow),
    /// and waits until its three ports answer.
    pub fn start(dir: &Path, certs: &[CertPair]) -> Dovecot {
        assert!((1..=2).contains(&certs.len()), "dovecot serves one or two certificates");
        let (imap_port, pop3_port, sieve_port) = (free_port(), free_port(), free_port());
        std::fs::create_dir_all(dir).unwrap();
        let users = dir.join("users");
        std::fs::write(&users, "").unwrap();
        let d = path_str(dir);
        let mut ssl = format!("ssl_cert = <{}\nssl_key = <{}\n", path_str(&certs[0].cert), path_str(&certs[0].key));
        if let Some(alt) = certs.get(1) {
            let _ = write!(ssl, "ssl_alt_cert = <{}\nssl_alt_key = <{}\n", path_str(&alt.cert), path_str(&alt.key));
        }
        let conf = format!(
            "protocols = imap pop3 sieve
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = acmebot-test-{imap_port}
log_path = {d}/dovecot.log
ssl = yes
{ssl}passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service managesieve-login {{
  inet_listener sieve {{
    port = {sieve_port}
  }}
}}
",
            users = path_str(&users)
        );
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(which("dovecot"));
        cmd.arg("-F").arg("-c").arg(&conf_path);
        let daemon = Daemon::spawn(cmd, "dovecot", dir, vec![dir.join("dovecot.log")], "-login");
        daemon.wait_listening(&[imap_port, pop3_port, sieve_port]);
        Dovecot { imap_port, pop3_port, sieve_port, dir: dir.to_path_buf(), certs: certs.to_vec(), daemon }
    }

    /// The master's PID (also its process group's ID).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// `kill -HUP <master pid>`, what `doveadm -c <conf> reload` does: it
    /// returns at once; dovecot re-reads its configuration, and with it the
    /// `<file` certificate and key contents, and the login processes it
    /// starts from then on serve them (within a few ms).
    pub fn reload_command(&self) -> String {
        format!("kill -HUP {}", self.pid())
    }

    /// Runs [`Dovecot::reload_command`] and waits (5 s at most, else panics)
    /// until the files' chains are served on all three ports.
    pub fn reload(&self) {
        let served = [
            (Endpoint::starttls(self.imap_port, "imap"), &self.certs[..]),
            (Endpoint::starttls(self.pop3_port, "pop3"), &self.certs[..]),
            (Endpoint::starttls(self.sieve_port, "sieve"), &self.certs[..]),
        ];
        self.daemon.reload(&self.reload_command(), &served);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn user_id(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: getpwnam returns NULL or a pointer to static storage, read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    assert!(!pw.is_null(), "no user {name}: is postfix installed (scripts/install-deps)?");
    unsafe { (*pw).pw_uid }
}

fn group_id(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: as in user_id.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    assert!(!gr.is_null(), "no group {name}: is postfix installed (scripts/install-deps)?");
    unsafe { (*gr).gr_gid }
}

/// postfix's daemon directory (/usr/lib/postfix/sbin on Debian), as postconf says.
fn postfix_daemon_dir() -> PathBuf {
    let out = Command::new(which("postconf"))
        .args(["-dh", "daemon_directory"])
        .output()
        .expect("run postconf (scripts/install-deps installs postfix)");
    assert!(out.status.success(), "postconf -dh daemon_directory: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
