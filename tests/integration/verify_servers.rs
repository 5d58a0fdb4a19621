//! Installation verification against the real servers people run, each
//! started on loopback by the test with the files acmebot installed from
//! pebble: nginx (RSA and ECDSA by signature algorithms, IPv4 and IPv6, an
//! HPKP header, an OCSP staple), postfix (SMTP STARTTLS), dovecot (IMAP, POP3
//! and ManageSieve STARTTLS), vsftpd (AUTH TLS), prosody (XMPP STARTTLS) and
//! slapd (LDAP StartTLS). A server still serving the previous certificate
//! is reported as such until a reload makes the next run clean.

use serde_json::{json, Value};

use crate::ocsp_stapling::with_responder;
use crate::support::Site;
use crate::tls_servers::{CertPair, Dovecot, Nginx, NginxOptions, Postfix};
use crate::tls_servers_more::{CertFiles, Ftp, Ldap, Xmpp};
use crate::verify::{add_aaaa, clear_aaaa, config, files};

fn pair(site: &Site, name: &str, kt: &str) -> CertPair {
    let (cert, key) = files(site, name, kt);
    CertPair::new(cert, key)
}

fn cert_files(site: &Site, name: &str, kt: &str) -> CertFiles {
    let (cert, key) = files(site, name, kt);
    CertFiles { cert, key }
}

fn set_verify(site: &Site, names: &[&str], verify: Value, edit: impl Fn(&mut Value)) {
    let mut c = config(site, names, verify);
    edit(&mut c);
    site.write_config_value(&c);
}

/// Every "present on" line a run printed.
fn present(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(" present on ")).collect()
}

#[test]
fn nginx_both_key_types_both_addresses_pins_and_a_renewal_caught_until_reloaded() {
    let names = ["web.example.test", "www.web.example.test"];
    let site = Site::new("verify-nginx", json!({}));
    let hpkp = |c: &mut Value| c["directories"]["hpkp"] = json!("ssl/hpkp");
    set_verify(&site, &names, json!([]), hpkp);
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let pins_file = site.path("ssl/hpkp/web.example.test.nginx");
    assert!(pins_file.exists());
    let ipv6 = crate::peers::ipv6_loopback();
    let nginx = Nginx::start(
        &site.root.join("nginx"),
        NginxOptions {
            certs: vec![pair(&site, names[0], "rsa"), pair(&site, names[0], "ecdsa")],
            hpkp_include: Some(pins_file),
            ipv6,
            ..Default::default()
        },
    );
    for n in names.iter().filter(|_| ipv6) {
        add_aaaa(&site, n, "::1");
    }
    let port = nginx.port;
    set_verify(&site, &names, json!([{"port": port, "protocol": "http"}]), hpkp);

    // 2 names × 2 addresses × 2 key types, each with its pins
    let clean = site.run(&["--verify"]);
    assert_eq!(clean.code, 0, "{clean:?}");
    let lines = present(&clean.stdout);
    let mut addrs = vec![format!("127.0.0.1:{port}")];
    if ipv6 {
        addrs.push(format!("[::1]:{port}"));
    }
    assert_eq!(lines.len(), 4 * addrs.len(), "{clean:?}");
    for n in names {
        for addr in &addrs {
            for kt in ["RSA", "ECDSA"] {
                let want = format!("{kt} certificate web.example.test present on {n} at {addr} (");
                let line = lines.iter().find(|l| l.starts_with(&want)).unwrap_or_else(|| panic!("{want}\n{clean:?}"));
                assert!(line.contains("public key pins present"), "{line}");
            }
        }
    }

    // IPv4 only from here: pebble validates the renewals' challenges over
    // IPv6 where a name has an AAAA record, and nobody serves them there.
    for n in names.iter().filter(|_| ipv6) {
        clear_aaaa(&site, n);
    }
    // Renewed, with nobody telling nginx: every connection says which
    // certificate it still serves; the new files are installed all the same.
    let before = crate::verify::serial(&files(&site, names[0], "rsa").0);
    let renewed = site.run(&["--renew"]);
    assert_eq!(renewed.code, 12, "{renewed:?}");
    let after = crate::verify::serial(&files(&site, names[0], "rsa").0);
    assert_ne!(before, after);
    let stale: Vec<&str> =
        renewed.stderr.lines().filter(|l| l.contains("still serves the previous certificate")).collect();
    assert_eq!(stale.len(), 4, "{renewed:?}");
    let want = format!(
        "WARNING: RSA certificate web.example.test on www.web.example.test at 127.0.0.1:{port}: still serves the previous certificate \"web.example.test\" (serial {before}, replaced "
    );
    assert!(
        stale.iter().any(|l| l.starts_with(&want) && l.ends_with(&format!("instead of serial {after}"))),
        "{want}\n{renewed:?}"
    );
    let verified = site.events_of("installation_verified");
    let last_rsa = verified.iter().rev().find(|v| v["key_type"] == "rsa").unwrap();
    assert_eq!(last_rsa["serial"], after);
    assert_eq!(last_rsa["checked"], 2);
    assert_eq!(last_rsa["failures"].as_array().unwrap().len(), 2);
    // --verify alone says the same, and changes nothing
    let again = site.run(&["--verify"]);
    assert_eq!(again.code, 12, "{again:?}");
    assert_eq!(again.stderr.matches("still serves the previous certificate").count(), 4, "{again:?}");

    // With nginx's reload as the certificate's service: the next renewal
    // reloads it and the same run finds every server right.
    set_verify(&site, &names, json!([{"port": port, "protocol": "http"}]), |c| {
        hpkp(c);
        c["services"] = json!({"nginx": nginx.reload_command()});
        c["certificates"]["web.example.test"]["services"] = json!(["nginx"]);
    });
    let reloaded = site.run(&["--renew"]);
    assert_eq!(reloaded.code, 0, "{reloaded:?}");
    assert!(reloaded.stderr.trim().is_empty(), "{reloaded:?}");
    assert_eq!(site.events_of("service_reloaded").len(), 1);
    let fixed = site.run(&["--verify"]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert_eq!(present(&fixed.stdout).len(), 4, "{fixed:?}");
}

#[test]
fn nginx_ocsp_staples_are_required_where_a_response_is_installed() {
    let stapling = with_responder("verify-ocsp");
    let site = &stapling.site;
    let names = ["staple.example.test"];
    let ocsp = |c: &mut Value| c["directories"]["ocsp"] = json!("ssl/ocsp");
    set_verify(site, &names, json!([]), ocsp);
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let staple = site.path("ssl/ocsp/staple.example.test.ecdsa.ocsp");
    assert!(staple.exists(), "{first:?}");
    // ECDSA in the stapling block, RSA in the block without stapling
    let nginx = Nginx::start(
        &site.root.join("nginx"),
        NginxOptions {
            certs: vec![pair(site, names[0], "rsa")],
            ocsp_certs: vec![pair(site, names[0], "ecdsa")],
            ocsp_staple_file: Some(staple),
            ..Default::default()
        },
    );
    let verify = json!([{"port": nginx.ocsp_port, "key_types": "ecdsa"}, {"port": nginx.port, "key_types": "rsa"}]);
    set_verify(site, &names, verify, ocsp);
    let run = site.run(&["--verify"]);
    assert_eq!(run.code, 12, "{run:?}");
    let good = format!(
        "ECDSA certificate staple.example.test present on staple.example.test at 127.0.0.1:{}",
        nginx.ocsp_port
    );
    let line =
        present(&run.stdout).into_iter().find(|l| l.starts_with(&good)).unwrap_or_else(|| panic!("{good}\n{run:?}"));
    assert!(line.contains("OCSP staple good"), "{line}");
    let want = format!(
        "WARNING: RSA certificate staple.example.test on staple.example.test at 127.0.0.1:{}: no OCSP staple was sent, but an OCSP response is installed",
        nginx.port
    );
    assert!(run.stderr.lines().any(|l| l == want), "{want}\n{run:?}");
}

#[test]
fn mail_ftp_xmpp_and_ldap_servers_over_their_starttls_dialects() {
    let names = ["mail.example.test"];
    let site = Site::new("verify-mail", json!({}));
    set_verify(&site, &names, json!([]), |_| {});
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let both = [pair(&site, names[0], "rsa"), pair(&site, names[0], "ecdsa")];
    let both_files = [cert_files(&site, names[0], "rsa"), cert_files(&site, names[0], "ecdsa")];
    let postfix = Postfix::start(&site.root.join("postfix"), &both);
    let dovecot = Dovecot::start(&site.root.join("dovecot"), &both);
    let ftp = Ftp::start_multi(&site.root.join("ftp"), &both_files);
    let xmpp = Xmpp::start_multi(&site.root.join("xmpp"), names[0], &both_files);
    let ldap = Ldap::start(&site.root.join("ldap"), &both_files[0]);
    let verify = json!([
        {"port": postfix.port, "starttls": "smtp"},
        {"port": dovecot.imap_port, "starttls": "imap"},
        {"port": dovecot.pop3_port, "starttls": "pop3"},
        {"port": dovecot.sieve_port, "starttls": "sieve"},
        {"port": ftp.port, "starttls": "ftp"},
        {"port": xmpp.port, "starttls": "xmpp"},
        {"port": ldap.port, "starttls": "ldap", "key_types": "rsa"}
    ]);
    set_verify(&site, &names, verify, |_| {});
    let run = site.run(&["--verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = present(&run.stdout);
    assert_eq!(lines.len(), 13, "6 dialects × 2 key types + LDAP with RSA\n{run:?}");
    for port in [postfix.port, dovecot.imap_port, dovecot.pop3_port, dovecot.sieve_port, ftp.port, xmpp.port] {
        for kt in ["RSA", "ECDSA"] {
            let want = format!("{kt} certificate mail.example.test present on mail.example.test at 127.0.0.1:{port} (");
            assert!(lines.iter().any(|l| l.starts_with(&want)), "{want}\n{run:?}");
        }
    }
    let want = format!("RSA certificate mail.example.test present on mail.example.test at 127.0.0.1:{} (", ldap.port);
    assert!(lines.iter().any(|l| l.starts_with(&want)), "{want}\n{run:?}");

    // A dialect the server does not speak is said with what it answered;
    // ECDSA asked of slapd's RSA-only LDAP fails the handshake, named.
    let wrong = json!([
        {"port": dovecot.imap_port, "starttls": "pop3", "key_types": "ecdsa"},
        {"port": postfix.port, "starttls": "ftp", "key_types": "ecdsa"},
        {"port": ldap.port, "starttls": "ldap", "key_types": "ecdsa"}
    ]);
    set_verify(&site, &names, wrong, |_| {});
    let run = site.run(&["--verify"]);
    assert_eq!(run.code, 12, "{run:?}");
    let on = |port: u16| format!("WARNING: Unable to connect to mail.example.test at 127.0.0.1:{port} via ECDSA: ");
    let line =
        |port| run.stderr.lines().find(|l| l.starts_with(&on(port))).unwrap_or_else(|| panic!("{port}\n{run:?}"));
    assert!(line(dovecot.imap_port).contains("POP3 server greeted with: * OK"), "{run:?}");
    assert!(line(postfix.port).contains("FTP server answered AUTH TLS with: 5"), "{run:?}");
    assert!(line(ldap.port).contains("TLS handshake"), "{run:?}");
}
