//! Installation verification end to end: certificates acmebot issued from
//! pebble, served by real servers on loopback (openssl's s_server here;
//! nginx, postfix, dovecot, vsftpd, prosody and slapd in `verify_servers`),
//! names resolved through pebble-challtestsrv (127.0.0.1 for every name).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::peers::{free_port, wait_port, Proc};
use crate::support::{effects_of, Site};

/// A site issuing `names` (the first the certificate's name) with both key
/// types, whose `verify` targets are `verify`, resolving through pebble's DNS.
pub fn site(test: &str, names: &[&str], verify: Value) -> Site {
    let site = Site::new(test, json!({}));
    site.write_config_value(&config(&site, names, verify));
    site
}

pub fn config(site: &Site, names: &[&str], verify: Value) -> Value {
    let zone = names[0].split_once('.').map(|(_, z)| z).unwrap_or(names[0]).to_string();
    let hosts: Vec<String> =
        names.iter().map(|n| n.strip_suffix(&format!(".{zone}")).unwrap_or("@").to_string()).collect();
    let mut c =
        site.config(json!({names[0]: {"alt_names": {zone: hosts}, "key_types": ["rsa", "ecdsa"], "verify": verify}}));
    c["settings"]["dns_resolvers"] = json!([site.pebble.dns_server]);
    c["settings"]["ocsp_verify_retry_delay"] = json!(1);
    c["settings"]["max_ocsp_verify_attempts"] = json!(2);
    c
}

/// The certificate file (leaf and chain) and key file of `name` for `kt`.
pub fn files(site: &Site, name: &str, kt: &str) -> (PathBuf, PathBuf) {
    (site.path(&format!("ssl/certs/{name}.{kt}.pem")), site.path(&format!("ssl/private/{name}.{kt}.key")))
}

/// The chain file (intermediates only) of `name` for `kt`.
pub fn chain_file(site: &Site, name: &str, kt: &str) -> PathBuf {
    site.path(&format!("ssl/certs/{name}_chain.{kt}.pem"))
}

/// Makes pebble-challtestsrv answer `host`'s AAAA queries with `address`
/// (pebble then validates challenges for it over IPv6 too).
pub fn add_aaaa(site: &Site, host: &str, address: &str) {
    challtestsrv(site, "/add-aaaa", json!({"host": host, "addresses": [address]}));
}

/// Makes pebble-challtestsrv answer `host`'s A queries with `addresses`.
pub fn set_a(site: &Site, host: &str, addresses: &[&str]) {
    challtestsrv(site, "/add-a", json!({"host": host, "addresses": addresses}));
}

/// Takes back [`add_aaaa`].
pub fn clear_aaaa(site: &Site, host: &str) {
    challtestsrv(site, "/clear-aaaa", json!({"host": host}));
}

fn challtestsrv(site: &Site, path: &str, body: Value) {
    use std::io::{Read, Write};
    let mgmt = site.pebble.dns_management.as_deref().expect("challtestsrv started by the test");
    let addr = mgmt.trim_start_matches("http://");
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
}

pub fn serial(cert: &Path) -> String {
    let der = acmebot::crypto::pem_to_ders(&std::fs::read(cert).unwrap()).unwrap().remove(0);
    acmebot::crypto::parse_cert(&der).unwrap().serial_hex
}

/// `openssl s_server` with the RSA and the ECDSA certificate (each with its
/// chain) on 127.0.0.1.
struct SServer {
    _proc: Proc,
}

impl SServer {
    fn start(site: &Site, name: &str, port: u16) -> SServer {
        let (rsa, rsa_key) = files(site, name, "rsa");
        let (ec, ec_key) = files(site, name, "ecdsa");
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", rsa.to_str().unwrap(), "-key", rsa_key.to_str().unwrap()])
            .args(["-cert_chain", chain_file(site, name, "rsa").to_str().unwrap()])
            .args(["-dcert", ec.to_str().unwrap(), "-dkey", ec_key.to_str().unwrap()])
            .args(["-dcert_chain", chain_file(site, name, "ecdsa").to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let proc = Proc { child, name: "openssl s_server" };
        wait_port(port, "openssl s_server");
        SServer { _proc: proc }
    }
}

#[test]
fn both_key_types_are_verified_on_every_address_and_journaled() {
    let port = free_port();
    let names = ["verify.example.test", "www.verify.example.test"];
    let site = site("verify-sserver", &names, json!([port]));
    // Issued; nobody listens yet: the run says so, exits 12, and keeps
    // everything it installed.
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 12, "{first:?}");
    for host in names {
        for kt in ["RSA", "ECDSA"] {
            let want = format!("Unable to connect to {host} at 127.0.0.1:{port} via {kt}: connect:");
            assert!(first.stderr.contains(&want), "{want}\n{first:?}");
        }
    }
    assert!(files(&site, names[0], "rsa").0.exists());

    // A server with both certificates on that port: clean.
    let server = SServer::start(&site, names[0], port);
    let run = site.run(&["--verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    for host in names {
        for kt in ["RSA", "ECDSA"] {
            let want = format!("{kt} certificate {} present on {host} at 127.0.0.1:{port} (TLSv1.3", names[0]);
            assert!(run.stdout.contains(&want) || run.stderr.contains(&want), "{want}\n{run:?}");
        }
    }
    let verified: Vec<Value> = site.events_of("installation_verified");
    assert_eq!(verified.len(), 4, "two runs × two key types: {verified:?}");
    let last = &verified[2..];
    for (v, kt) in last.iter().zip(["rsa", "ecdsa"]) {
        assert_eq!(v["key_type"], kt);
        assert_eq!(v["checked"], 2);
        assert_eq!(v["failures"], json!([]));
        assert_eq!(v["serial"], serial(&files(&site, names[0], kt).0));
    }
    assert_eq!(verified[0]["failures"].as_array().unwrap().len(), 2);
    // a daily run with nothing to do says nothing, and journals nothing:
    // the verification found what the journal already says
    let lines = site.journal().len();
    let quiet = site.run(&[]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(quiet.stdout.trim().is_empty() && quiet.stderr.trim().is_empty(), "{quiet:?}");
    assert_eq!(site.journal().len(), lines, "nothing journaled");
    assert!(effects_of(&site.journal(), "certificate_installed").len() == 2);
    drop(server);
}

#[test]
fn every_address_of_a_name_is_asked_and_named() {
    let port = free_port();
    let names = ["six.example.test"];
    let site = site("verify-ipv6", &names, json!([{"port": port, "key_types": "ecdsa"}]));
    let first = site.run(&["--accept", "--certs"]);
    assert_eq!(first.code, 0, "{first:?}");
    // Two A records (and an AAAA one where this machine has IPv6 loopback;
    // after issuance: pebble would validate over IPv6, where nobody listens).
    set_a(&site, "six.example.test", &["127.0.0.1", "127.0.0.2"]);
    let ipv6 = crate::peers::ipv6_loopback();
    if ipv6 {
        add_aaaa(&site, "six.example.test", "::1");
    }
    // listening on 127.0.0.1 only: the other addresses fail, 127.0.0.1 serves
    let _server = SServer::start(&site, names[0], port);
    let run = site.run(&["--verify"]);
    assert_eq!(run.code, 12, "{run:?}");
    let mut others = vec![format!("127.0.0.2:{port}")];
    if ipv6 {
        others.push(format!("[::1]:{port}"));
    }
    for other in &others {
        let want = format!("Unable to connect to six.example.test at {other} via ECDSA: connect:");
        assert!(run.stderr.contains(&want), "{want}\n{run:?}");
    }
    let want = format!("ECDSA certificate six.example.test present on six.example.test at 127.0.0.1:{port}");
    assert!(run.stdout.contains(&want), "{want}\n{run:?}");
    assert!(
        !run.stdout.contains("RSA certificate") && !run.stderr.contains("via RSA"),
        "key_types: ecdsa only\n{run:?}"
    );
    let verified = site.events_of("installation_verified");
    assert_eq!(verified.len(), 1, "{verified:?}");
    assert_eq!(verified[0]["checked"], 1 + others.len());
    let failures = verified[0]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), others.len());
    for (failure, other) in failures.iter().zip(&others) {
        assert!(failure.as_str().unwrap().contains(other.as_str()), "{failures:?}");
    }
}
