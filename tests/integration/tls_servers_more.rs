//! Real STARTTLS servers for the installation verification tests: vsftpd
//! (FTP, `AUTH TLS`), prosody (XMPP c2s, `<starttls/>`) and slapd (LDAP, the
//! StartTLS extended operation). Each binds 127.0.0.1 only, runs in the
//! foreground as a child of the test (its PID is the daemon's own), keeps
//! everything (configuration, PID file, log, data, sockets) under the
//! directory it is given, and is killed by PID when its guard drops. System
//! configuration (/etc/vsftpd.conf, /etc/prosody, /etc/ldap/slapd.d) is never
//! read or written. The daemons run as root (the tests do), so they read the
//! certificate files wherever they are.
//!
//! Certificates: vsftpd and prosody serve an RSA and an ECDSA certificate at
//! once (`start_multi`), picking by the client's signature algorithms; slapd
//! (OpenLDAP 2.5 on GnuTLS in Debian 12) serves one, RSA or ECDSA.
//!
//! Serving changed files (`reload_command`): prosody on SIGHUP (the command
//! waits for its "Certificates reloaded"), slapd when its cn=config TLS
//! attributes are replaced (ldapmodify over a root-only ldapi socket, needs
//! ldap-utils); vsftpd builds its TLS context once at start (SIGHUP re-reads
//! vsftpd.conf, not the certificate), so it needs `Ftp::restart`.
//!
//! The byte exchange each server does before the TLS ClientHello, as observed
//! with Debian 12's packages (vsftpd 3.0.3, prosody 0.12.3, slapd 2.5.13), is
//! written down beside the test that checks it (`*_exchange_before_tls`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::peers::{free_port, Proc};
use crate::support::temp_dir;

/// A certificate file (leaf then chain, PEM) and its private key file (PEM, unencrypted).
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn installed(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin"] {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: run scripts/install-deps");
}

/// The daemon in the foreground, stdout and stderr into `dir/<log>`.
fn spawn(name: &'static str, program: &str, args: &[&str], dir: &Path, log: &str) -> Proc {
    let out = std::fs::File::create(dir.join(log)).unwrap();
    let child = Command::new(installed(program))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    Proc { child, name }
}

/// Like `peers::wait_port`, but a daemon that exits (a configuration error)
/// fails the test at once, with its log, instead of after the timeout.
fn wait_ready(proc: &mut Proc, port: u16, logs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let failed = match proc.child.try_wait().unwrap() {
            Some(status) => Some(format!("exited ({status})")),
            None if Instant::now() > deadline => Some("did not listen within 20 s".to_string()),
            None => None,
        };
        if let Some(why) = failed {
            let logs: String = logs.iter().map(|l| std::fs::read_to_string(l).unwrap_or_default()).collect();
            panic!("{} {why} on 127.0.0.1:{port}:\n{logs}", proc.name);
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 test path")
}

/// FTP with explicit TLS (RFC 4217 `AUTH TLS`): vsftpd in standalone mode.
///
/// Nobody can log in (no anonymous user, an empty list of the local users
/// allowed); the tests only need the handshake.
pub struct Ftp {
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    proc: Option<Proc>,
}

impl Ftp {
    pub fn start(dir: &Path, cert: &CertFiles) -> Ftp {
        Ftp::start_multi(dir, std::slice::from_ref(cert))
    }

    /// One or two certificates; two must be of different key types (an RSA and
    /// an ECDSA one). vsftpd loads them into its `rsa_cert_file` and
    /// `dsa_cert_file` slots; OpenSSL keeps one certificate per key type,
    /// whichever slot it came from, and serves the one the client's signature
    /// algorithms allow.
    pub fn start_multi(dir: &Path, certs: &[CertFiles]) -> Ftp {
        assert!(matches!(certs.len(), 1 | 2), "vsftpd takes one or two certificates");
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        std::fs::write(dir.join("no-users"), "").unwrap();
        let port = free_port();
        let mut conf = format!(
            "# acmebot test FTP server (tests/integration/tls_servers_more.rs)\n\
             listen=YES\n\
             listen_ipv6=NO\n\
             listen_address=127.0.0.1\n\
             listen_port={port}\n\
             background=NO\n\
             seccomp_sandbox=NO\n\
             anonymous_enable=NO\n\
             local_enable=YES\n\
             write_enable=NO\n\
             userlist_enable=YES\n\
             userlist_deny=NO\n\
             userlist_file={}\n\
             secure_chroot_dir={}\n\
             xferlog_enable=NO\n\
             vsftpd_log_file={}\n\
             ssl_enable=YES\n\
             ssl_ciphers=HIGH\n",
            path_str(&dir.join("no-users")),
            path_str(&dir.join("empty")),
            path_str(&dir.join("vsftpd.log")),
        );
        for (slot, c) in ["rsa", "dsa"].iter().zip(certs) {
            conf.push_str(&format!(
                "{slot}_cert_file={}\n{slot}_private_key_file={}\n",
                path_str(&c.cert),
                path_str(&c.key)
            ));
        }
        let config = dir.join("vsftpd.conf");
        std::fs::write(&config, conf).unwrap();
        let mut ftp = Ftp { port, dir: dir.to_path_buf(), config, proc: None };
        ftp.launch();
        ftp
    }

    fn launch(&mut self) {
        let mut proc = spawn("vsftpd", "vsftpd", &[path_str(&self.config)], &self.dir, "vsftpd.out");
        wait_ready(&mut proc, self.port, &[self.dir.join("vsftpd.out"), self.dir.join("vsftpd.log")]);
        self.proc = Some(proc);
    }

    /// Stops vsftpd (by PID, waiting for it) and starts it again on the same
    /// port and configuration: how it comes to serve changed certificate files.
    pub fn restart(&mut self) {
        drop(self.proc.take());
        self.launch();
    }

    /// No command does it: a shell comment saying why.
    pub fn reload_command(&self) -> String {
        "# vsftpd builds its TLS context once, when it starts, and SIGHUP re-reads vsftpd.conf \
         but not the certificate files: restart it (Ftp::restart) to serve changed files"
            .to_string()
    }
}

/// XMPP client-to-server with STARTTLS (RFC 6120 section 5): prosody.
pub struct Xmpp {
    pub port: u16,
    /// The virtual host, the `to` of the client's stream header.
    pub host: String,
    pub dir: PathBuf,
    proc: Proc,
}

fn lua_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Xmpp {
    pub fn start(dir: &Path, host: &str, cert: &CertFiles) -> Xmpp {
        Xmpp::start_multi(dir, host, std::slice::from_ref(cert))
    }

    /// One certificate, or several of different key types: LuaSec (1.0 and
    /// later) takes a `certificates` list, which prosody passes through.
    pub fn start_multi(dir: &Path, host: &str, certs: &[CertFiles]) -> Xmpp {
        assert!(!certs.is_empty());
        for d in ["data", "certs"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let port = free_port();
        let p = |name: &str| lua_str(path_str(&dir.join(name)));
        let ssl = match certs {
            [c] => format!("{{ certificate = {}; key = {} }}", lua_str(path_str(&c.cert)), lua_str(path_str(&c.key))),
            _ => {
                let list: Vec<String> = certs
                    .iter()
                    .map(|c| {
                        format!(
                            "{{ certificate = {}; key = {} }}",
                            lua_str(path_str(&c.cert)),
                            lua_str(path_str(&c.key))
                        )
                    })
                    .collect();
                format!("{{ certificates = {{ {} }} }}", list.join("; "))
            }
        };
        let config = format!(
            r#"-- acmebot test XMPP server (tests/integration/tls_servers_more.rs)
-- The tests run as root; prosody's mod_posix refuses to otherwise.
run_as_root = true
pidfile = {pidfile}
data_path = {data}
-- An empty directory: no certificate found by name under /etc/prosody/certs.
certificates = {certs}
plugin_paths = {{}}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{}}
legacy_ssl_ports = {{}}
s2s_ports = {{}}
s2s_direct_tls_ports = {{}}
component_ports = {{}}
http_ports = {{}}
https_ports = {{}}
-- tls: STARTTLS; posix: the PID file and SIGHUP (reload).
modules_enabled = {{ "tls"; "posix" }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = true
authentication = "internal_hashed"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = {log} }} }}

VirtualHost {host}
    ssl = {ssl}
"#,
            pidfile = p("prosody.pid"),
            data = p("data"),
            certs = p("certs"),
            log = p("prosody.log"),
            host = lua_str(host),
        );
        let config_path = dir.join("prosody.cfg.lua");
        std::fs::write(&config_path, config).unwrap();
        // -F: the foreground. prosody is `#!/usr/bin/env lua5.4`: env execs,
        // so the child's PID is the Lua interpreter running prosody.
        let mut proc = spawn("prosody", "prosody", &["-F", "--config", path_str(&config_path)], dir, "prosody.out");
        wait_ready(&mut proc, port, &[dir.join("prosody.out"), dir.join("prosody.log")]);
        Xmpp { port, host: host.to_string(), dir: dir.to_path_buf(), proc }
    }

    /// SIGHUP makes prosody reload its configuration and rebuild its TLS
    /// contexts; the command returns when prosody has logged "Certificates
    /// reloaded" once more (at most 10 s, else it fails), so a client that
    /// connects next sees the new files.
    pub fn reload_command(&self) -> String {
        let log = sh_quote(path_str(&self.dir.join("prosody.log")));
        format!(
            "n=$(grep -c 'Certificates reloaded' {log}); kill -HUP {pid} || exit 1; i=0; \
             while [ \"$(grep -c 'Certificates reloaded' {log})\" -le \"$n\" ]; do \
             i=$((i+1)); [ $i -le 200 ] || exit 1; sleep 0.05; done",
            pid = self.proc.child.id()
        )
    }
}

/// LDAP with StartTLS (RFC 4511 section 4.14): slapd, no database but its
/// own configuration (cn=config, converted from slapd.conf at start).
pub struct Ldap {
    pub port: u16,
    pub dir: PathBuf,
    /// `ldapi://<socket>`, where root may modify cn=config (SASL EXTERNAL).
    ldapi: String,
    _proc: Proc,
}

/// A path as the host of an `ldapi://` URL: percent-encoded.
fn ldapi_url(socket: &Path) -> String {
    let mut url = String::from("ldapi://");
    for b in path_str(socket).bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

impl Ldap {
    pub fn start(dir: &Path, cert: &CertFiles) -> Ldap {
        let port = free_port();
        let socket = dir.join("ldapi");
        assert!(path_str(&socket).len() < 100, "the ldapi socket path is too long for a Unix socket: {socket:?}");
        let ldapi = ldapi_url(&socket);
        let slapd_d = dir.join("slapd.d");
        let _ = std::fs::remove_dir_all(&slapd_d);
        std::fs::create_dir_all(&slapd_d).unwrap();
        let conf = format!(
            "# acmebot test LDAP server (tests/integration/tls_servers_more.rs)\n\
             include /etc/ldap/schema/core.schema\n\
             pidfile {pid}\n\
             argsfile {args}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             # cn=config, for reload_command: root over the ldapi socket only\n\
             database config\n\
             access to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none\n",
            pid = path_str(&dir.join("slapd.pid")),
            args = path_str(&dir.join("slapd.args")),
            cert = path_str(&cert.cert),
            key = path_str(&cert.key),
        );
        std::fs::write(dir.join("slapd.conf"), conf).unwrap();
        let reload = format!(
            "dn: cn=config\nchangetype: modify\n\
             replace: olcTLSCertificateFile\nolcTLSCertificateFile: {}\n-\n\
             replace: olcTLSCertificateKeyFile\nolcTLSCertificateKeyFile: {}\n",
            path_str(&cert.cert),
            path_str(&cert.key)
        );
        std::fs::write(dir.join("reload-tls.ldif"), reload).unwrap();
        // -d: the foreground (any level; `stats` logs each connection and a
        // failed start's reason, where -d 0 says nothing). -f with -F:
        // slapd.conf converted into the empty slapd.d, then served from it.
        let urls = format!("ldap://127.0.0.1:{port}/ {ldapi}");
        let args = ["-d", "stats", "-h", &urls, "-f", "slapd.conf", "-F", "slapd.d"];
        let mut proc = spawn("slapd", "slapd", &args, dir, "slapd.log");
        wait_ready(&mut proc, port, &[dir.join("slapd.log")]);
        Ldap { port, dir: dir.to_path_buf(), ldapi, _proc: proc }
    }

    /// Replaces cn=config's olcTLSCertificateFile and olcTLSCertificateKeyFile
    /// with the same paths: slapd reads both files again and serves them to
    /// the next connections. Synchronous (the modify returns when done).
    pub fn reload_command(&self) -> String {
        format!(
            "ldapmodify -Q -Y EXTERNAL -H {} -f {}",
            sh_quote(&self.ldapi),
            sh_quote(path_str(&self.dir.join("reload-tls.ldif")))
        )
    }
}

/// Test certificates: a root CA, an intermediate CA, a leaf for `localhost`,
/// 127.0.0.1 and [`XMPP_HOST`]; the CAs are ECDSA P-256, the leaf `kind`.
pub struct TestChain {
    /// `<name>.pem` (leaf, intermediate) and `<name>.key`.
    pub files: CertFiles,
    /// `<name>-root.pem`, the trust anchor.
    pub root: PathBuf,
    pub leaf_der: Vec<u8>,
    pub intermediate_der: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyKind {
    Rsa,
    Ecdsa,
}

pub const XMPP_HOST: &str = "xmpp.example.test";

pub fn test_chain(dir: &Path, name: &str, kind: KeyKind) -> TestChain {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    use rcgen::{KeyUsagePurpose, SanType};
    std::fs::create_dir_all(dir).unwrap();
    let ca = |cn: String, constraints| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(constraints);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p
    };
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca(format!("acmebot test {name} root"), BasicConstraints::Unconstrained);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate().unwrap();
    let int_params = ca(format!("acmebot test {name} intermediate"), BasicConstraints::Constrained(0));
    let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::new(int_params, int_key);
    let leaf_key = match kind {
        KeyKind::Rsa => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
        KeyKind::Ecdsa => KeyPair::generate().unwrap(),
    };
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string(), XMPP_HOST.to_string()]).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, format!("acmebot test {name} leaf"));
    leaf_params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &int_issuer).unwrap();
    let files = CertFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&files.cert, format!("{}{}", leaf.pem(), intermediate.pem())).unwrap();
    std::fs::write(&files.key, leaf_key.serialize_pem()).unwrap();
    let root_path = dir.join(format!("{name}-root.pem"));
    std::fs::write(&root_path, root.pem()).unwrap();
    TestChain { files, root: root_path, leaf_der: leaf.der().to_vec(), intermediate_der: intermediate.der().to_vec() }
}

/// The certificates `openssl s_client -starttls <protocol>` is served,
/// verified against `root` and `hostname`, in the order served.
fn s_client(port: u16, protocol: &str, root: &Path, hostname: &str, extra: &[&str]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect, "-starttls", protocol, "-showcerts"];
    args.extend(["-CAfile", path_str(root), "-verify_return_error", "-verify_hostname", hostname]);
    if protocol == "xmpp" {
        args.extend(["-xmpphost", hostname]);
    }
    args.extend(extra);
    let out = Command::new("openssl").args(&args).stdin(Stdio::null()).output().expect("openssl is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Verify return code: 0 (ok)"),
        "openssl {}:\n{stdout}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut chain = Vec::new();
    let mut b64: Option<String> = None;
    for line in stdout.lines() {
        match (line, &mut b64) {
            ("-----BEGIN CERTIFICATE-----", None) => b64 = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(text)) => {
                chain.push(base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).unwrap());
                b64 = None;
            }
            (l, Some(text)) => text.push_str(l.trim()),
            _ => {}
        }
    }
    chain
}

fn assert_serves(served: &[Vec<u8>], chain: &TestChain) {
    assert_eq!(served.len(), 2, "leaf and intermediate, no more");
    assert!(served[0] == chain.leaf_der, "the served leaf is not the one in {:?}", chain.files.cert);
    assert!(served[1] == chain.intermediate_der, "the intermediate does not follow the leaf");
}

fn assert_closed(port: u16) {
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "127.0.0.1:{port} still accepts after the drop");
}

/// Writes `chain` over `target`'s certificate and key files.
fn replace_files(target: &CertFiles, chain: &TestChain) {
    std::fs::copy(&chain.files.cert, &target.cert).unwrap();
    std::fs::copy(&chain.files.key, &target.key).unwrap();
}

fn run_sh(command: &str) {
    let out = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
}

fn connect(port: u16) -> TcpStream {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp
}

/// Reads until what was read ends with `end` (no further: the server's TLS
/// bytes must stay unread).
fn read_until(tcp: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(end) {
        let n = tcp.read(&mut byte).unwrap();
        assert!(n == 1, "the server closed the connection after {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    got
}

/// A rustls handshake on `tcp` as it stands, trusting `root` only; the chain it was served.
fn rustls_chain(tcp: &mut TcpStream, root: &Path, server_name: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(root).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(tcp).expect("the TLS handshake");
    }
    conn.peer_certificates().unwrap().iter().map(|c| c.to_vec()).collect()
}

#[test]
fn ftp_serves_leaf_and_intermediate_after_auth_tls() {
    let dir = temp_dir("tls-more-ftp");
    let chain = test_chain(&dir.join("pki"), "ftp", KeyKind::Ecdsa);
    let started = Instant::now();
    let ftp = Ftp::start(&dir.join("vsftpd"), &chain.files);
    eprintln!("vsftpd started in {:?}", started.elapsed());
    assert_serves(&s_client(ftp.port, "ftp", &chain.root, "localhost", &[]), &chain);
    let port = ftp.port;
    drop(ftp);
    assert_closed(port);
}

#[test]
fn ftp_serves_rsa_and_ecdsa_at_once() {
    let dir = temp_dir("tls-more-ftp-dual");
    let rsa = test_chain(&dir.join("pki"), "ftp-rsa", KeyKind::Rsa);
    let ecdsa = test_chain(&dir.join("pki"), "ftp-ecdsa", KeyKind::Ecdsa);
    let ftp = Ftp::start_multi(&dir.join("vsftpd"), &[rsa.files.clone(), ecdsa.files.clone()]);
    for version in ["-tls1_3", "-tls1_2"] {
        for (chain, sigalgs) in [(&rsa, "RSA-PSS+SHA256:RSA+SHA256"), (&ecdsa, "ECDSA+SHA256")] {
            let served = s_client(ftp.port, "ftp", &chain.root, "localhost", &[version, "-sigalgs", sigalgs]);
            assert_serves(&served, chain);
        }
    }
}

#[test]
fn ftp_restart_serves_changed_files() {
    let dir = temp_dir("tls-more-ftp-restart");
    let (first, second) =
        (test_chain(&dir.join("pki"), "one", KeyKind::Rsa), test_chain(&dir.join("pki"), "two", KeyKind::Rsa));
    let live = CertFiles { cert: dir.join("live.pem"), key: dir.join("live.key") };
    replace_files(&live, &first);
    let mut ftp = Ftp::start(&dir.join("vsftpd"), &live);
    assert_serves(&s_client(ftp.port, "ftp", &first.root, "localhost", &[]), &first);
    replace_files(&live, &second);
    assert!(ftp.reload_command().starts_with('#'), "vsftpd has no reload command: {}", ftp.reload_command());
    run_sh(&ftp.reload_command());
    assert_serves(&s_client(ftp.port, "ftp", &first.root, "localhost", &[]), &first);
    let started = Instant::now();
    ftp.restart();
    eprintln!("vsftpd restarted in {:?}", started.elapsed());
    assert_serves(&s_client(ftp.port, "ftp", &second.root, "localhost", &[]), &second);
}

/// vsftpd 3.0.3, byte for byte (RFC 4217):
///
/// ```text
/// S: "220 (vsFTPd 3.0.3)\r\n"
/// C: "AUTH TLS\r\n"
/// S: "234 Proceed with negotiation.\r\n"
/// C: TLS ClientHello ...
/// ```
///
/// The greeting is one line here, but FTP allows a multi-line one
/// ("220-...\r\n" ... "220 ...\r\n"): a client reads lines until "220 ".
/// FEAT (before AUTH) lists " AUTH TLS" among its "211-Features:" lines.
#[test]
fn ftp_exchange_before_tls() {
    let dir = temp_dir("tls-more-ftp-exchange");
    let chain = test_chain(&dir.join("pki"), "ftp", KeyKind::Rsa);
    let ftp = Ftp::start(&dir.join("vsftpd"), &chain.files);
    let mut tcp = connect(ftp.port);
    let greeting = read_until(&mut tcp, b"\r\n");
    eprintln!("S: {:?}", String::from_utf8_lossy(&greeting));
    assert!(greeting.starts_with(b"220 "), "{greeting:?}");
    tcp.write_all(b"AUTH TLS\r\n").unwrap();
    let answer = read_until(&mut tcp, b"\r\n");
    eprintln!("S: {:?}", String::from_utf8_lossy(&answer));
    assert!(answer.starts_with(b"234 "), "{answer:?}");
    assert_serves(&rustls_chain(&mut tcp, &chain.root, "localhost"), &chain);
}

#[test]
fn xmpp_serves_leaf_and_intermediate_after_starttls() {
    let dir = temp_dir("tls-more-xmpp");
    let chain = test_chain(&dir.join("pki"), "xmpp", KeyKind::Rsa);
    let started = Instant::now();
    let xmpp = Xmpp::start(&dir.join("prosody"), XMPP_HOST, &chain.files);
    eprintln!("prosody started in {:?}", started.elapsed());
    assert_serves(&s_client(xmpp.port, "xmpp", &chain.root, &xmpp.host, &[]), &chain);
    let port = xmpp.port;
    drop(xmpp);
    assert_closed(port);
}

#[test]
fn xmpp_serves_rsa_and_ecdsa_at_once() {
    let dir = temp_dir("tls-more-xmpp-dual");
    let rsa = test_chain(&dir.join("pki"), "xmpp-rsa", KeyKind::Rsa);
    let ecdsa = test_chain(&dir.join("pki"), "xmpp-ecdsa", KeyKind::Ecdsa);
    let xmpp = Xmpp::start_multi(&dir.join("prosody"), XMPP_HOST, &[rsa.files.clone(), ecdsa.files.clone()]);
    for version in ["-tls1_3", "-tls1_2"] {
        for (chain, sigalgs) in [(&rsa, "RSA-PSS+SHA256:RSA+SHA256"), (&ecdsa, "ECDSA+SHA256")] {
            let served = s_client(xmpp.port, "xmpp", &chain.root, XMPP_HOST, &[version, "-sigalgs", sigalgs]);
            assert_serves(&served, chain);
        }
    }
}

#[test]
fn xmpp_reload_command_serves_changed_files() {
    let dir = temp_dir("tls-more-xmpp-reload");
    let (first, second) =
        (test_chain(&dir.join("pki"), "one", KeyKind::Ecdsa), test_chain(&dir.join("pki"), "two", KeyKind::Ecdsa));
    let live = CertFiles { cert: dir.join("live.pem"), key: dir.join("live.key") };
    replace_files(&live, &first);
    let xmpp = Xmpp::start(&dir.join("prosody"), XMPP_HOST, &live);
    assert_serves(&s_client(xmpp.port, "xmpp", &first.root, XMPP_HOST, &[]), &first);
    replace_files(&live, &second);
    let started = Instant::now();
    run_sh(&xmpp.reload_command());
    eprintln!("prosody reloaded in {:?}", started.elapsed());
    // The command waited for the reload: the next connection has the new files.
    assert_serves(&s_client(xmpp.port, "xmpp", &second.root, XMPP_HOST, &[]), &second);
}

/// prosody 0.12.3, byte for byte (RFC 6120 section 5.4):
///
/// ```text
/// C: "<?xml version='1.0'?><stream:stream to='xmpp.example.test' xmlns='jabber:client'
///     xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
/// S: "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'
///     id='<a UUID>' from='xmpp.example.test' xml:lang='en' xmlns='jabber:client' version='1.0'>"
///    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>
///     </stream:features>"
/// C: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
/// S: "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
/// C: TLS ClientHello ...
/// ```
///
/// (The line breaks above are for reading; nothing is sent between the
/// elements, and the header and the features may come in one TCP segment or
/// two.) The server says nothing before the client's header. The order of
/// the header's attributes changes from one connection to the next (a Lua
/// table), e.g. "<stream:stream from='xmpp.example.test' version='1.0'
/// xmlns:stream=... xmlns='jabber:client' xml:lang='en' id=...>"; the quotes
/// are single quotes; `<required/>` is there because of
/// `c2s_require_encryption`: a client must parse XML, not compare bytes. For
/// a host it does not serve, prosody sends its header (`from` the asked
/// name) and then "<stream:error><host-unknown
/// xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text
/// xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve
/// other.example.test</text></stream:error></stream:stream>", and closes.
#[test]
fn xmpp_exchange_before_tls() {
    let dir = temp_dir("tls-more-xmpp-exchange");
    let chain = test_chain(&dir.join("pki"), "xmpp", KeyKind::Ecdsa);
    let xmpp = Xmpp::start(&dir.join("prosody"), XMPP_HOST, &chain.files);
    let header = |to: &str| {
        format!(
            "<?xml version='1.0'?><stream:stream to='{to}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        )
    };

    let mut tcp = connect(xmpp.port);
    tcp.write_all(header(XMPP_HOST).as_bytes()).unwrap();
    let features = String::from_utf8(read_until(&mut tcp, b"</stream:features>")).unwrap();
    eprintln!("S: {features:?}");
    assert!(features.starts_with("<?xml version='1.0'?><stream:stream "), "{features}");
    assert!(features.contains(&format!("from='{XMPP_HOST}'")), "{features}");
    assert!(features.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'"), "{features}");
    tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").unwrap();
    let proceed = String::from_utf8(read_until(&mut tcp, b"/>")).unwrap();
    eprintln!("S: {proceed:?}");
    assert!(proceed.starts_with("<proceed"), "{proceed}");
    assert_eq!(proceed, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_serves(&rustls_chain(&mut tcp, &chain.root, XMPP_HOST), &chain);

    let mut other = connect(xmpp.port);
    other.write_all(header("other.example.test").as_bytes()).unwrap();
    let refused = String::from_utf8(read_until(&mut other, b"</stream:stream>")).unwrap();
    eprintln!("S: {refused:?}");
    assert!(refused.contains("<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"), "{refused}");
}

#[test]
fn ldap_serves_leaf_and_intermediate_after_starttls() {
    let dir = temp_dir("tls-more-ldap");
    for kind in [KeyKind::Rsa, KeyKind::Ecdsa] {
        let chain = test_chain(&dir.join("pki"), &format!("ldap-{kind:?}"), kind);
        let started = Instant::now();
        let ldap = Ldap::start(&dir.join(format!("slapd-{kind:?}")), &chain.files);
        eprintln!("slapd started in {:?}", started.elapsed());
        assert_serves(&s_client(ldap.port, "ldap", &chain.root, "localhost", &[]), &chain);
        let port = ldap.port;
        drop(ldap);
        assert_closed(port);
    }
}

#[test]
fn ldap_reload_command_serves_changed_files() {
    let dir = temp_dir("tls-more-ldap-reload");
    let (first, second) =
        (test_chain(&dir.join("pki"), "one", KeyKind::Rsa), test_chain(&dir.join("pki"), "two", KeyKind::Ecdsa));
    let live = CertFiles { cert: dir.join("live.pem"), key: dir.join("live.key") };
    replace_files(&live, &first);
    let ldap = Ldap::start(&dir.join("slapd"), &live);
    assert_serves(&s_client(ldap.port, "ldap", &first.root, "localhost", &[]), &first);
    replace_files(&live, &second);
    let started = Instant::now();
    run_sh(&ldap.reload_command());
    eprintln!("slapd reloaded in {:?}", started.elapsed());
    // ldapmodify returned when slapd had the new files: the next connection has them.
    assert_serves(&s_client(ldap.port, "ldap", &second.root, "localhost", &[]), &second);
}

/// slapd 2.5.13, byte for byte (RFC 4511 sections 4.12 and 4.14, BER):
///
/// ```text
/// C: 30 1d                   LDAPMessage, 29 bytes
///      02 01 01              messageID 1
///      77 18                 [APPLICATION 23] ExtendedRequest, 24 bytes
///        80 16 "1.3.6.1.4.1.1466.20037"   [0] requestName, the StartTLS OID
/// S: 30 0c                   LDAPMessage, 12 bytes
///      02 01 01              messageID 1
///      78 07                 [APPLICATION 24] ExtendedResponse, 7 bytes
///        0a 01 00            resultCode success (0)
///        04 00               matchedDN ""
///        04 00               diagnosticMessage ""
/// C: TLS ClientHello ...
/// ```
///
/// The server speaks first only when asked. slapd leaves out the optional
/// responseName ([10], the OID again): a client must not require it.
#[test]
fn ldap_exchange_before_tls() {
    let dir = temp_dir("tls-more-ldap-exchange");
    let chain = test_chain(&dir.join("pki"), "ldap", KeyKind::Ecdsa);
    let ldap = Ldap::start(&dir.join("slapd"), &chain.files);
    let mut tcp = connect(ldap.port);
    let mut request = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
    request.extend_from_slice(b"1.3.6.1.4.1.1466.20037");
    tcp.write_all(&request).unwrap();
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x30, "an LDAPMessage SEQUENCE");
    assert!(head[1] < 0x80, "a short-form length: {head:02x?}");
    let mut body = vec![0u8; head[1] as usize];
    tcp.read_exact(&mut body).unwrap();
    let response = [&head[..], &body].concat();
    eprintln!("S: {response:02x?}");
    assert_eq!(&body[..5], [0x02, 0x01, 0x01, 0x78, body.len() as u8 - 5], "messageID 1, an ExtendedResponse");
    assert_eq!(&body[5..8], [0x0a, 0x01, 0x00], "resultCode success");
    assert_eq!(response, [0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
    assert_serves(&rustls_chain(&mut tcp, &chain.root, "localhost"), &chain);
}
