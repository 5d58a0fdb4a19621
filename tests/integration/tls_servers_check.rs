//! Checks of the server harnesses in `tls_servers` with the real
//! `openssl s_client`: each serves the RSA or the ECDSA certificate file
//! (leaf and intermediate) by the client's signature algorithms, after
//! STARTTLS where the protocol has it; nginx staples its OCSP file and sends
//! the HPKP header; after the files are replaced and the server reloaded, the
//! new chains are served; dropping a server stops every process it had.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::support::temp_dir;
use crate::tls_servers::{
    group_members, handshake, https_head, listening_addrs, CertPair, Dovecot, KeyKind, Nginx, NginxOptions, Postfix,
    SERVER_NAME,
};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("run openssl (scripts/install-deps installs it)");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A root CA and an intermediate (ECDSA P-256, rcgen) whose leaves go into
/// files with the intermediate after them, as a CA's full chain.
struct Pki {
    dir: PathBuf,
    intermediate: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    intermediate_pem: PathBuf,
    intermediate_key: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let ca_params = |cn: &str| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
            params
        };
        let root = rcgen::CertifiedIssuer::self_signed(
            ca_params("acmebot tls servers test root"),
            rcgen::KeyPair::generate().unwrap(),
        )
        .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let intermediate =
            rcgen::CertifiedIssuer::signed_by(ca_params("acmebot tls servers test intermediate"), key, &*root).unwrap();
        let (intermediate_pem, intermediate_key) = (dir.join("intermediate.pem"), dir.join("intermediate.key"));
        std::fs::write(dir.join("root.pem"), root.pem()).unwrap();
        std::fs::write(&intermediate_pem, intermediate.pem()).unwrap();
        std::fs::write(&intermediate_key, key_pem).unwrap();
        Pki { dir: dir.to_path_buf(), intermediate, intermediate_pem, intermediate_key }
    }

    /// Writes `<dir>/<name>.pem` (leaf for SERVER_NAME, then the intermediate)
    /// and `<dir>/<name>.key`, a new key of `kind` (RSA 2048 from openssl, as
    /// rcgen makes no RSA keys here); overwrites the files if they exist.
    fn leaf(&self, name: &str, kind: KeyKind) -> CertPair {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let key_path = self.dir.join(format!("{name}.key"));
        let key = match kind {
            KeyKind::Rsa => {
                let pem = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
                rcgen::KeyPair::from_pem(&pem).unwrap()
            }
            KeyKind::Ecdsa => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        };
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} {kind:?}"));
        // Distinct serials, also for two certificates of one key.
        let serial = (std::process::id() as u64) << 32 | SERIAL.fetch_add(1, Ordering::Relaxed);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &*self.intermediate).unwrap();
        let cert_path = self.dir.join(format!("{name}.pem"));
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.intermediate.pem())).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        CertPair::new(cert_path, key_path)
    }

    /// A good OCSP response (DER) for `leaf` signed by the intermediate, from
    /// `openssl ocsp` as a one-shot responder, written to `<dir>/<name>`.
    fn ocsp_response(&self, leaf: &CertPair, name: &str) -> PathBuf {
        let serial = openssl(&["x509", "-in", p(&leaf.cert), "-noout", "-serial"]);
        let serial = serial.trim().strip_prefix("serial=").unwrap().to_string();
        let index = self.dir.join(format!("{name}.index.txt"));
        // status, expiry, revocation, serial, file, subject: only the serial's status is read.
        std::fs::write(&index, format!("V\t300101000000Z\t\t{serial}\tunknown\t/CN=leaf\n")).unwrap();
        let resp = self.dir.join(name);
        let inter = p(&self.intermediate_pem);
        openssl(&[
            "ocsp",
            "-index",
            p(&index),
            "-rsigner",
            inter,
            "-rkey",
            p(&self.intermediate_key),
            "-CA",
            inter,
            "-issuer",
            inter,
            "-cert",
            p(&leaf.cert),
            "-respout",
            p(&resp),
            "-ndays",
            "1",
        ]);
        resp
    }
}

/// openssl's serial of the file's leaf, uppercase hex ("0A1B...").
fn serial_of(pair: &CertPair) -> String {
    openssl(&["x509", "-in", p(&pair.cert), "-noout", "-serial"]).trim().trim_start_matches("serial=").to_string()
}

/// Asserts that `addr` serves `pair`'s chain (leaf and intermediate) to a
/// client offering only `pair`'s key type.
fn assert_serves(addr: &str, starttls: Option<&str>, pair: &CertPair) {
    let kind = pair.kind();
    let shake = handshake(addr, starttls, kind, &[]);
    let expected = pair.chain();
    assert_eq!(expected.len(), 2, "{}: leaf and intermediate", pair.cert.display());
    assert_eq!(
        shake.chain,
        expected,
        "{addr} {starttls:?} does not serve {} to a {kind:?} client:\n{}",
        pair.cert.display(),
        shake.output
    );
}

/// Every address `pgid`'s processes listen on is loopback.
fn assert_loopback_only(pgid: u32, what: &str) {
    let addrs = listening_addrs(pgid);
    assert!(!addrs.is_empty(), "{what}: no listening socket found");
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{what} listens beyond loopback: {addrs:?}");
}

#[test]
fn nginx_serves_the_rsa_or_the_ecdsa_chain_by_signature_algorithms() {
    let dir = temp_dir("tls_servers_nginx_dual");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    assert_eq!((rsa.kind(), ecdsa.kind()), (KeyKind::Rsa, KeyKind::Ecdsa));
    let started = Instant::now();
    let ipv6 = crate::peers::ipv6_loopback();
    let opts = NginxOptions { certs: vec![rsa.clone(), ecdsa.clone()], ipv6, ..Default::default() };
    let nginx = Nginx::start(&dir.join("nginx"), opts);
    eprintln!("nginx started in {:?}", started.elapsed());
    assert_eq!(nginx.ocsp_port, 0);
    let mut addrs = vec![format!("127.0.0.1:{}", nginx.port)];
    if ipv6 {
        addrs.push(format!("[::1]:{}", nginx.port));
    }
    for addr in &addrs {
        assert_serves(addr, None, &rsa);
        assert_serves(addr, None, &ecdsa);
    }
    // Without an OCSP block nothing is stapled.
    let shake = handshake(&format!("127.0.0.1:{}", nginx.port), None, KeyKind::Ecdsa, &["-status"]);
    assert!(shake.output.contains("OCSP response: no response sent"), "{}", shake.output);
    let listening = listening_addrs(nginx.pid());
    let expected: Vec<std::net::SocketAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    assert_eq!(listening, expected);
}

#[test]
fn nginx_staples_the_ocsp_file_in_its_second_block() {
    let dir = temp_dir("tls_servers_nginx_ocsp");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let stapled = pki.leaf("stapled", KeyKind::Ecdsa);
    let staple = pki.ocsp_response(&stapled, "stapled.ocsp.der");
    let opts = NginxOptions {
        certs: vec![rsa, ecdsa.clone()],
        ocsp_certs: vec![stapled.clone()],
        ocsp_staple_file: Some(staple.clone()),
        ..Default::default()
    };
    let nginx = Nginx::start(&dir.join("nginx"), opts);
    assert_ne!(nginx.ocsp_port, 0);
    assert_ne!(nginx.ocsp_port, nginx.port);
    let ocsp_addr = format!("127.0.0.1:{}", nginx.ocsp_port);
    assert_serves(&ocsp_addr, None, &stapled);

    let shake = handshake(&ocsp_addr, None, KeyKind::Ecdsa, &["-status"]);
    assert!(shake.ocsp_successful(), "{}", shake.output);
    assert!(shake.output.contains("Cert Status: good"), "{}", shake.output);
    assert!(shake.output.contains(&format!("Serial Number: {}", serial_of(&stapled))), "{}", shake.output);
    // The staple is the file's response: same production time, same serial.
    let produced_at = |text: &str| text.lines().find(|l| l.contains("Produced At:")).map(|l| l.trim().to_string());
    let text = openssl(&["ocsp", "-respin", p(&staple), "-resp_text", "-noverify"]);
    assert!(produced_at(&text).is_some(), "{text}");
    assert_eq!(produced_at(&shake.output), produced_at(&text), "{}", shake.output);

    // The main block staples nothing.
    let shake = handshake(&format!("127.0.0.1:{}", nginx.port), None, KeyKind::Ecdsa, &["-status"]);
    assert!(!shake.ocsp_successful(), "{}", shake.output);
    assert!(shake.output.contains("OCSP response: no response sent"), "{}", shake.output);
    assert_serves(&format!("127.0.0.1:{}", nginx.port), None, &ecdsa);
    assert_loopback_only(nginx.pid(), "nginx");
}

#[test]
fn nginx_sends_the_hpkp_header_of_its_include_file() {
    let dir = temp_dir("tls_servers_nginx_hpkp");
    let pki = Pki::new(&dir.join("pki"));
    let ecdsa = pki.leaf("ecdsa", KeyKind::Ecdsa);
    let pins = "pin-sha256=\"YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg=\"; \
                pin-sha256=\"sRHdihwgkaib1P1gxX8HFszlD+7/gTfNvuAybgLPNis=\"; max-age=60";
    let hpkp = dir.join("hpkp.conf");
    std::fs::write(&hpkp, format!("add_header Public-Key-Pins '{pins}' always;\n")).unwrap();
    let opts = NginxOptions { certs: vec![ecdsa], hpkp_include: Some(hpkp), ..Default::default() };
    let nginx = Nginx::start(&dir.join("nginx"), opts);
    let head = https_head(&format!("127.0.0.1:{}", nginx.port));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nPublic-Key-Pins: {pins}\r\n")), "{head}");
}

#[test]
fn nginx_reload_serves_the_replaced_files() {
    let dir = temp_dir("tls_servers_nginx_reload");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let stapled = pki.leaf("stapled", KeyKind::Rsa);
    let staple = pki.ocsp_response(&stapled, "stapled.ocsp.der");
    let opts = NginxOptions {
        certs: vec![rsa.clone(), ecdsa.clone()],
        ocsp_certs: vec![stapled.clone()],
        ocsp_staple_file: Some(staple),
        ipv6: crate::peers::ipv6_loopback(),
        ..Default::default()
    };
    let opts_ipv6 = opts.ipv6;
    let nginx = Nginx::start(&dir.join("nginx"), opts);
    let (addr, ocsp_addr) = (format!("127.0.0.1:{}", nginx.port), format!("127.0.0.1:{}", nginx.ocsp_port));
    let (old_rsa, old_ecdsa, old_stapled) = (rsa.chain(), ecdsa.chain(), stapled.chain());
    assert_serves(&addr, None, &rsa);
    assert_serves(&ocsp_addr, None, &stapled);

    // New keys and certificates in the same files, as an installation would write them.
    let (rsa, ecdsa, stapled) =
        (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa), pki.leaf("stapled", KeyKind::Rsa));
    assert!(rsa.chain() != old_rsa && ecdsa.chain() != old_ecdsa && stapled.chain() != old_stapled);
    pki.ocsp_response(&stapled, "stapled.ocsp.der");
    assert!(nginx.reload_command().starts_with("kill -HUP "), "{}", nginx.reload_command());
    let started = Instant::now();
    nginx.reload();
    eprintln!("nginx reloaded in {:?}", started.elapsed());
    let mut addrs = vec![addr.clone()];
    if opts_ipv6 {
        addrs.push(format!("[::1]:{}", nginx.port));
    }
    for addr in &addrs {
        assert_serves(addr, None, &rsa);
        assert_serves(addr, None, &ecdsa);
    }
    assert_serves(&ocsp_addr, None, &stapled);
    let shake = handshake(&ocsp_addr, None, KeyKind::Rsa, &["-status"]);
    assert!(shake.ocsp_successful(), "{}", shake.output);
    assert!(shake.output.contains(&format!("Serial Number: {}", serial_of(&stapled))), "{}", shake.output);
}

#[test]
fn postfix_serves_rsa_and_ecdsa_after_starttls_and_reloads() {
    let dir = temp_dir("tls_servers_postfix");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let started = Instant::now();
    let postfix = Postfix::start(&dir.join("postfix"), &[rsa.clone(), ecdsa.clone()]);
    eprintln!("postfix started in {:?}", started.elapsed());
    let addr = format!("127.0.0.1:{}", postfix.port);
    assert_serves(&addr, Some("smtp"), &rsa);
    assert_serves(&addr, Some("smtp"), &ecdsa);
    assert_loopback_only(postfix.pid(), "postfix");
    // Its private tree, not the system's.
    assert!(postfix.dir.join("spool/pid/master.pid").is_file());
    assert!(postfix.dir.join("log/postfix.log").is_file());

    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let started = Instant::now();
    postfix.reload();
    eprintln!("postfix reloaded in {:?}", started.elapsed());
    assert_serves(&addr, Some("smtp"), &rsa);
    assert_serves(&addr, Some("smtp"), &ecdsa);
}

#[test]
fn dovecot_serves_rsa_and_ecdsa_after_starttls_on_imap_pop3_and_sieve_and_reloads() {
    let dir = temp_dir("tls_servers_dovecot");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let started = Instant::now();
    let dovecot = Dovecot::start(&dir.join("dovecot"), &[rsa.clone(), ecdsa.clone()]);
    eprintln!("dovecot started in {:?}", started.elapsed());
    let endpoints = [(dovecot.imap_port, "imap"), (dovecot.pop3_port, "pop3"), (dovecot.sieve_port, "sieve")];
    for (port, proto) in endpoints {
        assert_serves(&format!("127.0.0.1:{port}"), Some(proto), &rsa);
        assert_serves(&format!("127.0.0.1:{port}"), Some(proto), &ecdsa);
    }
    assert_loopback_only(dovecot.pid(), "dovecot");

    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let started = Instant::now();
    dovecot.reload();
    eprintln!("dovecot reloaded in {:?}", started.elapsed());
    for (port, proto) in endpoints {
        assert_serves(&format!("127.0.0.1:{port}"), Some(proto), &rsa);
        assert_serves(&format!("127.0.0.1:{port}"), Some(proto), &ecdsa);
    }
}

#[test]
fn the_reload_commands_run_from_a_shell_reload_every_server() {
    let dir = temp_dir("tls_servers_reload_commands");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let nginx = Nginx::start(&dir.join("nginx"), NginxOptions { certs: vec![rsa.clone()], ..Default::default() });
    let postfix = Postfix::start(&dir.join("postfix"), &[rsa.clone(), ecdsa.clone()]);
    let dovecot = Dovecot::start(&dir.join("dovecot"), &[rsa.clone(), ecdsa.clone()]);
    let rsa = pki.leaf("rsa", KeyKind::Rsa);
    let nginx_workers = || -> Vec<u32> {
        group_members(nginx.pid()).into_iter().filter(|(_, c)| c.contains("worker process")).map(|(p, _)| p).collect()
    };
    let old_workers = nginx_workers();
    // What acmebot will do: run each command, as a configured service's reload.
    for command in [nginx.reload_command(), postfix.reload_command(), dovecot.reload_command()] {
        let status = Command::new("sh").args(["-c", &command]).status().unwrap();
        assert!(status.success(), "{command}");
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    // nginx's old worker accepts until it is told to stop, just after the new
    // one starts: a connection in between gets the old files.
    while nginx_workers().iter().any(|p| old_workers.contains(p)) && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let endpoints = [
        (nginx.port, None),
        (postfix.port, Some("smtp")),
        (dovecot.imap_port, Some("imap")),
        (dovecot.pop3_port, Some("pop3")),
        (dovecot.sieve_port, Some("sieve")),
    ];
    for (port, starttls) in endpoints {
        let addr = format!("127.0.0.1:{port}");
        while handshake(&addr, starttls, KeyKind::Rsa, &[]).chain != rsa.chain() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_serves(&addr, starttls, &rsa);
    }
    assert_serves(&format!("127.0.0.1:{}", postfix.port), Some("smtp"), &ecdsa);
}

#[test]
fn dropping_a_server_stops_every_process_it_started() {
    let dir = temp_dir("tls_servers_drop");
    let pki = Pki::new(&dir.join("pki"));
    let (rsa, ecdsa) = (pki.leaf("rsa", KeyKind::Rsa), pki.leaf("ecdsa", KeyKind::Ecdsa));
    let certs = [rsa.clone(), ecdsa.clone()];
    let nginx = Nginx::start(&dir.join("nginx"), NginxOptions { certs: certs.to_vec(), ..Default::default() });
    let postfix = Postfix::start(&dir.join("postfix"), &certs);
    let dovecot = Dovecot::start(&dir.join("dovecot"), &certs);
    // Connections start the workers (nginx's exists already): postfix's
    // smtpd, dovecot's login processes.
    assert_serves(&format!("127.0.0.1:{}", postfix.port), Some("smtp"), &rsa);
    assert_serves(&format!("127.0.0.1:{}", dovecot.imap_port), Some("imap"), &ecdsa);
    let servers: Vec<(&str, u32, Vec<u16>)> = vec![
        ("nginx", nginx.pid(), vec![nginx.port]),
        ("postfix", postfix.pid(), vec![postfix.port]),
        ("dovecot", dovecot.pid(), vec![dovecot.imap_port, dovecot.pop3_port, dovecot.sieve_port]),
    ];
    for (name, pid, _) in &servers {
        let members = group_members(*pid);
        assert!(members.len() >= 2, "{name}: a master and its workers: {members:?}");
    }
    let started = Instant::now();
    drop((nginx, postfix, dovecot));
    eprintln!("three servers dropped in {:?}", started.elapsed());
    for (name, pid, ports) in servers {
        assert_eq!(group_members(pid), vec![], "{name}: processes left after the drop");
        for port in ports {
            assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{name}: 127.0.0.1:{port} still open");
        }
    }
}
