//! The native DNS layer against real servers: bind9 (`named`) and knot
//! (`knotd`), each started on 127.0.0.1 with a free port in a per-test temp
//! dir and killed by PID when the test ends. Updates go through
//! `acmebot::dns::update`; what the server then serves is read back with
//! acmebot's resolver and cross-checked with `dig` (here only: acmebot never
//! runs dig or nsupdate).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use acmebot::dns::{self, Algorithm, DnsError, Record, Resolver, TsigKey};
use base64::Engine;

use crate::peers::{free_port, wait_port, Proc};
use crate::support::temp_dir;

pub(crate) const ZONE: &str = "example.test";

pub(crate) fn tool(program: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/bin", "/usr/sbin"]) {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: run scripts/install-deps (scripts/test does), which installs it");
}

pub(crate) fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn now() -> i64 {
    acmebot::time::Clock::now(&acmebot::time::SystemClock).secs()
}

fn zone_file() -> String {
    "$TTL 60\n\
     @ IN SOA ns1.example.test. hostmaster.example.test. ( 1 60 60 3600 60 )\n\
     \x20 IN NS ns1.example.test.\n\
     ns1 IN A 127.0.0.1\n\
     @ IN A 127.0.0.1\n\
     _acme-challenge IN TXT \"someone-elses-record\"\n"
        .to_string()
}

/// The algorithms `tsig-keygen -a` makes, with the key names used below.
const BIND_KEYS: [(&str, &str); 6] = [
    ("hmac-md5", "acme-md5"),
    ("hmac-sha1", "acme-sha1"),
    ("hmac-sha224", "acme-sha224"),
    ("hmac-sha256", "acme-sha256"),
    ("hmac-sha384", "acme-sha384"),
    ("hmac-sha512", "acme-sha512"),
];

/// The dnssec-keygen-style pair written for `legacy.example.test.` (newer
/// dnssec-keygen no longer makes HMAC keys; the format is the one the original
/// acmebot's manual shows).
pub(crate) const LEGACY_STEM: &str = "Klegacy.example.test.+157+40001";

pub(crate) struct Bind {
    pub(crate) dir: PathBuf,
    pub(crate) server: SocketAddr,
    _named: Proc,
}

impl Bind {
    pub(crate) fn start(name: &str) -> Bind {
        let dir = temp_dir(&format!("dns-bind-{name}"));
        let d = dir.display();
        let mut includes = String::new();
        for (alg, key) in BIND_KEYS {
            let text = output(Command::new(tool("tsig-keygen")).args(["-a", alg, key]));
            std::fs::write(dir.join(format!("{key}.key")), text).unwrap();
            includes.push_str(&format!("include \"{d}/{key}.key\";\n"));
        }
        // The dnssec-keygen pair, and the same key as a named.conf statement for named.
        let mut secret = [0u8; 64];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        std::fs::write(
            dir.join(format!("{LEGACY_STEM}.key")),
            format!("legacy.example.test. IN KEY 512 3 157 {b64}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{LEGACY_STEM}.private")),
            format!("Private-key-format: v1.3\nAlgorithm: 157 (HMAC_MD5)\nKey: {b64}\nBits: AAA=\nCreated: 20260101000000\n"),
        )
        .unwrap();
        includes.push_str(&format!("key legacy.example.test. {{ algorithm hmac-md5; secret \"{b64}\"; }};\n"));
        let allow: String = BIND_KEYS.iter().map(|(_, k)| format!("key \"{k}\"; ")).collect();
        let port = free_port();
        std::fs::write(dir.join("example.test.zone"), zone_file()).unwrap();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "{includes}\
                 options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\";\n\
                 listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
                 recursion no; allow-query {{ any; }}; dnssec-validation no; }};\n\
                 controls {{ }};\n\
                 zone \"example.test\" {{ type primary; file \"{d}/example.test.zone\";\n\
                 allow-update {{ {allow}key legacy.example.test.; }}; }};\n"
            ),
        )
        .unwrap();
        let (named, server) =
            start_name_server("named", &["-g", "-c", dir.join("named.conf").to_str().unwrap()], &dir, port);
        Bind { dir, server, _named: named }
    }

    pub(crate) fn key(&self, name: &str) -> TsigKey {
        TsigKey::load(Path::new(&format!("{name}.key")), &self.dir).unwrap()
    }
}

/// Waits until the server answers for the zone (it listens before it has loaded it).
/// Starts a name server (`named`, `knotd`) on loopback with its output in
/// `<dir>/<program>.log`, and waits until it serves example.test.
fn start_name_server(program: &'static str, args: &[&str], dir: &Path, port: u16) -> (Proc, SocketAddr) {
    let log = std::fs::File::create(dir.join(format!("{program}.log"))).unwrap();
    let child = Command::new(tool(program))
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let proc = Proc { child, name: program };
    wait_port(port, program);
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_zone(server);
    (proc, server)
}

fn wait_for_zone(server: SocketAddr) {
    let r = Resolver::new(vec![server]);
    for _ in 0..100 {
        if r.soa_mname(ZONE).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{server} does not serve {ZONE}");
}

pub(crate) fn dig(server: SocketAddr, rtype: &str, name: &str) -> Vec<String> {
    let text = output(Command::new(tool("dig")).args([
        "+short",
        "+norecurse",
        "+time=2",
        "+tries=2",
        &format!("@{}", server.ip()),
        "-p",
        &server.port().to_string(),
        rtype,
        name,
    ]));
    let mut v: Vec<String> =
        text.lines().map(|l| l.trim().trim_matches('"').to_string()).filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn dns_bind_txt_records_added_in_one_update_and_deleted_by_rdata() {
    let bind = Bind::start("txt");
    let key = bind.key("acme-sha256");
    assert_eq!(key.algorithm, Algorithm::HmacSha256);
    let resolver = Resolver::new(vec![bind.server]);
    let apex = "_acme-challenge.example.test";
    let www = "_acme-challenge.www.example.test";
    let adds = vec![
        Record::txt(apex, 300, "token-one"),
        Record::txt(apex, 300, "token-two"),
        Record::txt(www, 300, "token-www"),
    ];
    dns::update(bind.server, ZONE, Some(&key), &adds, &[], now()).unwrap();

    assert_eq!(
        sorted(resolver.txt_values(bind.server, apex).unwrap()),
        ["someone-elses-record", "token-one", "token-two"]
    );
    assert_eq!(resolver.txt_values(bind.server, www).unwrap(), ["token-www"]);
    assert_eq!(dig(bind.server, "TXT", apex), ["someone-elses-record", "token-one", "token-two"]);
    assert_eq!(dig(bind.server, "TXT", www), ["token-www"]);
    // Both authoritative views agree, queried concurrently.
    for (_, values) in resolver.txt_values_each(&[bind.server, bind.server], apex) {
        assert_eq!(values.unwrap().len(), 3);
    }

    // Deleting acmebot's records by rdata leaves the other TXT at the same name.
    dns::update(bind.server, ZONE, Some(&key), &[], &adds, now()).unwrap();
    assert_eq!(resolver.txt_values(bind.server, apex).unwrap(), ["someone-elses-record"]);
    assert_eq!(resolver.txt_values(bind.server, www).unwrap(), Vec::<String>::new());
    assert_eq!(dig(bind.server, "TXT", apex), ["someone-elses-record"]);
    assert_eq!(dig(bind.server, "TXT", www), Vec::<String>::new());
}

#[test]
fn dns_bind_every_algorithm_signs_and_verifies() {
    let bind = Bind::start("algs");
    let resolver = Resolver::new(vec![bind.server]);
    for (alg, name) in BIND_KEYS {
        let key = bind.key(name);
        assert_eq!(key.algorithm.config_name(), alg);
        let owner = format!("{name}.example.test");
        // A successful update means the response TSIG was verified with this key.
        dns::update(bind.server, ZONE, Some(&key), &[Record::txt(&owner, 60, alg)], &[], now())
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(resolver.txt_values(bind.server, &owner).unwrap(), [alg]);
        assert_eq!(dig(bind.server, "TXT", &owner), [alg]);
    }
}

#[test]
fn dns_bind_hmac_md5_with_both_key_file_formats() {
    let bind = Bind::start("md5");
    let resolver = Resolver::new(vec![bind.server]);
    // tsig-keygen output.
    let conf_key = bind.key("acme-md5");
    assert_eq!(conf_key.algorithm, Algorithm::HmacMd5);
    // The dnssec-keygen pair, named by its .key file relative to the key directory.
    let pair_key = TsigKey::load(Path::new(&format!("{LEGACY_STEM}.key")), &bind.dir).unwrap();
    assert_eq!((pair_key.name.as_str(), pair_key.algorithm), ("legacy.example.test.", Algorithm::HmacMd5));
    assert!(!format!("{pair_key:?}").contains(&base64::engine::general_purpose::STANDARD.encode(pair_key.secret())));

    for (key, value) in [(&conf_key, "via-tsig-keygen"), (&pair_key, "via-dnssec-keygen")] {
        let r = Record::txt("_acme-challenge.md5.example.test", 120, value);
        dns::update(bind.server, ZONE, Some(key), std::slice::from_ref(&r), &[], now()).unwrap();
        assert!(resolver
            .txt_values(bind.server, "_acme-challenge.md5.example.test")
            .unwrap()
            .contains(&value.to_string()));
    }
    assert_eq!(dig(bind.server, "TXT", "_acme-challenge.md5.example.test"), ["via-dnssec-keygen", "via-tsig-keygen"]);
    let both = [
        Record::txt("_acme-challenge.md5.example.test", 120, "via-tsig-keygen"),
        Record::txt("_acme-challenge.md5.example.test", 120, "via-dnssec-keygen"),
    ];
    dns::update(bind.server, ZONE, Some(&pair_key), &[], &both, now()).unwrap();
    assert_eq!(dig(bind.server, "TXT", "_acme-challenge.md5.example.test"), Vec::<String>::new());
}

#[test]
fn dns_bind_tlsa_add_and_delete() {
    let bind = Bind::start("tlsa");
    let key = bind.key("acme-sha256");
    let resolver = Resolver::new(vec![bind.server]);
    let name = "_443._tcp.www.example.test";
    let d1: Vec<u8> = (0..32u8).collect();
    let d2 = vec![0xeeu8; 32];
    let r1 = Record::tlsa(name, 300, 3, 1, 1, d1.clone());
    let r2 = Record::tlsa(name, 300, 1, 0, 1, d2.clone());
    dns::update(bind.server, ZONE, Some(&key), &[r1.clone(), r2.clone()], &[], now()).unwrap();
    let mut got = resolver.tlsa_records(bind.server, name).unwrap();
    got.sort();
    assert_eq!(got, vec![(1, 0, 1, d2.clone()), (3, 1, 1, d1.clone())]);
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02X}")).collect::<String>();
    // dig splits the hex into groups: join everything after the three numbers.
    let dig_tlsa = |name: &str| -> Vec<String> {
        dig(bind.server, "TLSA", name)
            .iter()
            .map(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {} {}", t[0], t[1], t[2], t[3..].concat())
            })
            .collect()
    };
    assert_eq!(dig_tlsa(name), [format!("1 0 1 {}", hex(&d2)), format!("3 1 1 {}", hex(&d1))]);

    // Replace r2 by r3 in one message: delete by rdata + add.
    let r3 = Record::tlsa(name, 300, 2, 1, 1, vec![0x11; 32]);
    dns::update(bind.server, ZONE, Some(&key), std::slice::from_ref(&r3), std::slice::from_ref(&r2), now()).unwrap();
    let mut got = resolver.tlsa_records(bind.server, name).unwrap();
    got.sort();
    assert_eq!(got, vec![(2, 1, 1, vec![0x11; 32]), (3, 1, 1, d1.clone())]);
    assert_eq!(dig_tlsa(name), [format!("2 1 1 {}", hex(&[0x11; 32])), format!("3 1 1 {}", hex(&d1))]);
    // Delete the whole RRset.
    dns::update_changes(
        bind.server,
        ZONE,
        Some(&key),
        &[dns::Change::DeleteRrset { name: name.into(), rtype: dns::RecordType::TLSA }],
        now(),
        dns::UPDATE_TIMEOUT,
    )
    .unwrap();
    assert!(resolver.tlsa_records(bind.server, name).unwrap().is_empty());
    assert!(dig_tlsa(name).is_empty());
}

#[test]
fn dns_bind_wrong_key_unknown_key_and_unsigned_update_are_refused() {
    let bind = Bind::start("refused");
    let right = bind.key("acme-sha256");
    let server = bind.server;
    let add = [Record::txt("_acme-challenge.example.test", 60, "should-not-appear")];

    let wrong = TsigKey::new("acme-sha256", Algorithm::HmacSha256, b"not the secret named knows about".to_vec());
    let e = dns::update(server, ZONE, Some(&wrong), &add, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { rcode: 9, tsig_error: Some(16), .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("example.test.")
            && text.contains(&server.to_string())
            && text.contains("NOTAUTH")
            && text.contains("BADSIG"),
        "{text}"
    );

    let unknown = TsigKey::new("nobody", Algorithm::HmacSha256, vec![7; 32]);
    let e = dns::update(server, ZONE, Some(&unknown), &add, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { rcode: 9, tsig_error: Some(17), .. }), "{e:?}");
    assert!(e.to_string().contains("BADKEY"), "{e}");

    // A clock 20 minutes off: BADTIME (a signed error response).
    let e = dns::update(server, ZONE, Some(&right), &add, &[], now() - 1200).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { tsig_error: Some(18), .. }), "{e:?}");
    assert!(e.to_string().contains("BADTIME"), "{e}");

    let e = dns::update(server, ZONE, None, &add, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { rcode: 5, tsig_error: None, .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("update of zone example.test. at {server} failed: REFUSED"));

    // A zone the server does not have: NOTAUTH (named) names the zone.
    let e = dns::update(server, "other.test", Some(&right), &[Record::txt("x.other.test", 60, "v")], &[], now())
        .unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { .. }), "{e:?}");
    assert!(e.to_string().contains("other.test."), "{e}");

    assert_eq!(dig(server, "TXT", "_acme-challenge.example.test"), ["someone-elses-record"]);
}

#[test]
fn dns_bind_resolver_finds_primary_and_authoritative_servers() {
    let bind = Bind::start("resolver");
    let port = bind.server.port();
    let resolver = Resolver::from_settings(&[bind.server.to_string()]).unwrap();
    assert_eq!(resolver.soa_mname(ZONE).unwrap(), "ns1.example.test.");
    assert_eq!(resolver.authoritative_servers(ZONE, port).unwrap(), vec![bind.server]);
    assert_eq!(resolver.update_server(ZONE, None, port).unwrap(), bind.server);
    assert_eq!(resolver.update_server(ZONE, Some("ns1.example.test"), port).unwrap(), bind.server);
    assert_eq!(resolver.update_server(ZONE, Some("127.0.0.1"), port).unwrap(), bind.server);
    assert_eq!(resolver.resolve_host("example.test", 443).unwrap(), vec!["127.0.0.1:443".parse().unwrap()]);
    let a = resolver.lookup("nothing.example.test", dns::RecordType::A).unwrap();
    assert_eq!((a.rcode, a.answers.len()), (3, 0));
    // The recursive path refuses names outside the zone (recursion no): a clear error.
    let e = resolver.lookup("example.org", dns::RecordType::A).unwrap_err();
    assert!(e.to_string().contains("REFUSED") && e.to_string().contains("example.org."), "{e}");
}

/// A large update (over 512 bytes) goes over TCP; bind accepts it the same.
#[test]
fn dns_bind_large_update_goes_over_tcp() {
    let bind = Bind::start("tcp");
    let key = bind.key("acme-sha512");
    let adds: Vec<Record> = (0..40)
        .map(|i| Record::txt("_acme-challenge.big.example.test", 60, &format!("{i:02}-{}", "v".repeat(40))))
        .collect();
    dns::update(bind.server, ZONE, Some(&key), &adds, &[], now()).unwrap();
    let resolver = Resolver::new(vec![bind.server]);
    // The answer is larger than the 1232 bytes the query offers with EDNS(0):
    // truncated over UDP (TC set), so txt_values falls back to TCP.
    let query =
        dns::query::build_query(0x5151, "_acme-challenge.big.example.test", dns::RecordType::TXT, false).unwrap();
    let udp =
        dns::transport::exchange_udp(bind.server, &query, std::time::Instant::now() + Duration::from_secs(5)).unwrap();
    assert_ne!(udp[2] & 0x02, 0, "TC bit over UDP");
    assert_eq!(resolver.txt_values(bind.server, "_acme-challenge.big.example.test").unwrap().len(), 40);
    dns::update(bind.server, ZONE, Some(&key), &[], &adds, now()).unwrap();
    assert!(resolver.txt_values(bind.server, "_acme-challenge.big.example.test").unwrap().is_empty());
}

/// A server that answers NOERROR without signing (or with a forged MAC) is not
/// believed: the response TSIG is checked.
#[test]
fn dns_unsigned_or_forged_response_to_signed_update_is_an_error() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = sock.local_addr().unwrap();
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        for forge in [false, true] {
            let (n, peer) = sock.recv_from(&mut buf).unwrap();
            let req = &buf[..n];
            // Echo header + zone section only, QR set, NOERROR, no TSIG.
            let zone_end = {
                let mut p = 12;
                while req[p] != 0 {
                    p += 1 + req[p] as usize;
                }
                p + 5
            };
            let mut resp = req[..zone_end].to_vec();
            resp[2] |= 0x80;
            resp[3] = 0;
            resp[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
            if forge {
                // Append the request's own TSIG RR: right key name, wrong MAC for a response.
                let mut p = zone_end;
                for _ in 0..u16::from_be_bytes([req[8], req[9]]) {
                    while req[p] != 0 && req[p] & 0xc0 == 0 {
                        p += 1 + req[p] as usize;
                    }
                    p += if req[p] & 0xc0 == 0xc0 { 2 } else { 1 };
                    p += 10 + u16::from_be_bytes([req[p + 8], req[p + 9]]) as usize;
                }
                resp.extend_from_slice(&req[p..]);
                resp[11] = 1;
            }
            sock.send_to(&resp, peer).unwrap();
        }
    });
    let key = TsigKey::new("k", Algorithm::HmacSha256, vec![3; 32]);
    let add = [Record::txt("a.example.test", 60, "v")];
    let e = dns::update(server, ZONE, Some(&key), &add, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::ResponseNotAuthenticated { failure: dns::TsigFailure::Missing, .. }), "{e:?}");
    assert!(e.to_string().contains("example.test.") && e.to_string().contains(&server.to_string()), "{e}");
    let e = dns::update(server, ZONE, Some(&key), &add, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::ResponseNotAuthenticated { failure: dns::TsigFailure::BadSignature, .. }), "{e:?}");
    responder.join().unwrap();
}

struct Knot {
    server: SocketAddr,
    key_file: PathBuf,
    _knotd: Proc,
}

impl Knot {
    fn start(name: &str) -> Knot {
        let dir = temp_dir(&format!("dns-knot-{name}"));
        let d = dir.display();
        let key_text = output(Command::new(tool("keymgr")).args(["-t", "acme-knot", "hmac-sha256"]));
        let key_file = dir.join("acme-knot.yaml");
        std::fs::write(&key_file, &key_text).unwrap();
        std::fs::write(dir.join("example.test.zone"), zone_file()).unwrap();
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("knot.conf"),
            format!(
                "server:\n  listen: 127.0.0.1@{port}\n  rundir: \"{d}\"\n\n\
                 log:\n  - target: stderr\n    any: info\n\n\
                 database:\n  storage: \"{d}/db\"\n\n\
                 {key_text}\n\
                 acl:\n  - id: acme_update\n    key: acme-knot\n    action: update\n\n\
                 template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n\n\
                 zone:\n  - domain: example.test\n    file: example.test.zone\n    acl: acme_update\n"
            ),
        )
        .unwrap();
        let (knotd, server) = start_name_server("knotd", &["-c", dir.join("knot.conf").to_str().unwrap()], &dir, port);
        Knot { server, key_file, _knotd: knotd }
    }
}

#[test]
fn dns_knot_hmac_sha256_updates() {
    let knot = Knot::start("sha256");
    let key = TsigKey::load(&knot.key_file, Path::new("/")).unwrap();
    assert_eq!((key.name.as_str(), key.algorithm), ("acme-knot", Algorithm::HmacSha256));
    let resolver = Resolver::new(vec![knot.server]);
    let apex = "_acme-challenge.example.test";
    let adds = [
        Record::txt(apex, 300, "knot-one"),
        Record::txt(apex, 300, "knot-two"),
        Record::tlsa("_25._tcp.mail.example.test", 300, 3, 1, 1, vec![0x5a; 32]),
    ];
    dns::update(knot.server, ZONE, Some(&key), &adds, &[], now()).unwrap();
    assert_eq!(
        sorted(resolver.txt_values(knot.server, apex).unwrap()),
        ["knot-one", "knot-two", "someone-elses-record"]
    );
    assert_eq!(dig(knot.server, "TXT", apex), ["knot-one", "knot-two", "someone-elses-record"]);
    assert_eq!(
        resolver.tlsa_records(knot.server, "_25._tcp.mail.example.test").unwrap(),
        vec![(3, 1, 1, vec![0x5a; 32])]
    );

    dns::update(knot.server, ZONE, Some(&key), &[], &adds, now()).unwrap();
    assert_eq!(resolver.txt_values(knot.server, apex).unwrap(), ["someone-elses-record"]);
    assert!(resolver.tlsa_records(knot.server, "_25._tcp.mail.example.test").unwrap().is_empty());

    let wrong = TsigKey::new("acme-knot", Algorithm::HmacSha256, vec![9; 32]);
    let e = dns::update(knot.server, ZONE, Some(&wrong), &adds, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { rcode: 9, tsig_error: Some(16), .. }), "{e:?}");
    let e = dns::update(knot.server, ZONE, None, &adds, &[], now()).unwrap_err();
    assert!(matches!(e, DnsError::UpdateRejected { rcode: 5 | 9, .. }), "{e:?}");
    assert!(e.to_string().contains("example.test.") && e.to_string().contains(&knot.server.to_string()), "{e}");
}
