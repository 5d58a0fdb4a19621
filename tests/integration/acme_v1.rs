//! ACME v1 (draft-ietf-acme-acme-02, Boulder's): the real binary against the
//! project's own v1 server (`acme1`), validating http-01 for real through a
//! loopback web server serving the challenge directory acmebot writes.

use std::path::PathBuf;

use acmebot::crypto;
use serde_json::{json, Value};

use crate::acme1::{AcmeV1, AcmeV1Options};
use crate::peers::{free_port, ChallengeServer};
use crate::support::{openssl, openssl_key_matches_cert, run_binary, temp_dir, Run};

/// A v1 server, a web server for `out/webroot`, and a configuration with every
/// directory under a temporary root.
struct V1Site {
    root: PathBuf,
    config: PathBuf,
    ca: AcmeV1,
    _web: ChallengeServer,
}

impl V1Site {
    fn new(name: &str, opts: AcmeV1Options, certificates: Value) -> V1Site {
        let root = temp_dir(name);
        let webroot = root.join("out/webroot");
        std::fs::create_dir_all(&webroot).unwrap();
        let port = free_port();
        let web = ChallengeServer::start(port, webroot);
        let ca = AcmeV1::start(AcmeV1Options { http_port: port, auto_valid: false, ..opts });
        let site = V1Site { config: root.join("etc/acmebot.json"), root, ca, _web: web };
        site.write(certificates, |_| {});
        site
    }

    fn write(&self, certificates: Value, edit: impl FnOnce(&mut Value)) {
        let dirs = crate::support::output_dirs(&self.root.join("out"));
        let mut config = json!({
            "account": {"email": "admin@example.com", "key_type": "ecdsa"},
            "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": self.ca.directory_url(),
                         "ca_bundle": self.ca.ca_pem_path(), "key_size": 2048, "key_curve": "secp256r1",
                         "file_group": "root", "log_level": null, "authorization_delay": 1},
            "directories": dirs,
            "certificates": certificates
        });
        config["directories"]["sct"] = json!(null);
        config["directories"]["http_challenge"] = json!(self.root.join("out/webroot"));
        edit(&mut config);
        std::fs::create_dir_all(self.config.parent().unwrap()).unwrap();
        std::fs::write(&self.config, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        run_binary(&self.config, args, &[])
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.root.join("out").join(rel)
    }

    fn ders(&self, rel: &str) -> Vec<Vec<u8>> {
        crypto::pem_to_ders(&std::fs::read(self.out(rel)).unwrap()).unwrap()
    }

    /// How many requests of this method went to a path starting with `prefix`.
    fn count(&self, method: &str, prefix: &str) -> usize {
        self.ca.requests().iter().filter(|(m, p)| m == method && p.starts_with(prefix)).count()
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    crypto::pem_to_ders(pem.as_bytes()).unwrap().remove(0)
}

#[test]
fn v1_registers_issues_rsa_and_ecdsa_over_http01_renews_and_revokes() {
    let s = V1Site::new("v1-issue", AcmeV1Options::default(), json!({"v1.example.com": {}}));
    let first = s.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");

    // One registration, agreeing to the current terms.
    let regs = s.ca.registrations();
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].agreement.as_deref(), Some(s.ca.tos_url().as_str()));
    assert_eq!(regs[0].contact, vec!["mailto:admin@example.com".to_string()]);
    let reg: Value = serde_json::from_slice(&std::fs::read(s.out("resource/registration.json")).unwrap()).unwrap();
    assert_eq!(reg["uri"], regs[0].url.as_str());

    // Both certificates, validated over http-01 (one authorization, answered once).
    let issued = s.ca.issued();
    assert_eq!(issued.len(), 2, "{first:?}");
    assert_eq!(s.count("POST", "/acme/challenge/"), 1, "{:?}", s.ca.requests());
    let authzs = s.ca.authorizations();
    assert_eq!((authzs.len(), authzs[0].status.as_str()), (1, "valid"));
    let inter = pem_der(&s.ca.intermediate_pem());
    let root_pem = s.ca.ca_pem_path().to_str().unwrap().to_string();
    for kt in ["rsa", "ecdsa"] {
        let cert_rel = format!("certificate/v1.example.com.{kt}.pem");
        let chain_rel = format!("chain/v1.example.com_chain.{kt}.pem");
        let cert = s.ders(&cert_rel);
        let chain = s.ders(&chain_rel);
        // The chain built from rel="up": the intermediate, not the root.
        assert_eq!(chain, vec![inter.clone()], "{kt}");
        assert_eq!(cert.len(), 2, "{kt}: leaf and intermediate");
        assert_eq!(cert[1], inter);
        assert!(issued.iter().any(|i| i.der == cert[0]), "{kt}: the certificate the server issued");
        let info = crypto::parse_cert(&cert[0]).unwrap();
        assert_eq!(info.sans, vec!["v1.example.com".to_string()]);
        let key = s.out(&format!("private_key/v1.example.com.{kt}.key"));
        assert!(openssl_key_matches_cert(&key, &s.out(&cert_rel)), "{kt}");
        let chain_path = s.out(&chain_rel);
        let verified = openssl(&[
            "verify",
            "-CAfile",
            &root_pem,
            "-untrusted",
            chain_path.to_str().unwrap(),
            s.out(&cert_rel).to_str().unwrap(),
        ]);
        assert!(verified.trim().ends_with(": OK"), "{verified}");
    }
    let rsa = crypto::parse_cert(&s.ders("certificate/v1.example.com.rsa.pem")[0]).unwrap();
    assert!(rsa.spki_der.len() > 200, "an RSA key");
    // The orders are journaled under synthetic URLs.
    let journal = std::fs::read_to_string(s.out("resource/journal.jsonl")).unwrap();
    assert!(journal.contains("v1-order:"), "{journal}");

    // A second run: quiet, nothing asked of the CA.
    let before = s.ca.requests().len();
    let quiet = s.run(&[]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(quiet.stdout.trim().is_empty(), "{quiet:?}");
    assert_eq!(s.ca.issued().len(), 2);
    assert_eq!(s.ca.requests().len(), before, "no request: {:?}", &s.ca.requests()[before..]);

    // --renew: the registration and the authorization are reused.
    let renew = s.run(&["--renew"]);
    assert_eq!(renew.code, 0, "{renew:?}");
    assert_eq!(s.ca.issued().len(), 4);
    assert_eq!(s.count("POST", "/acme/new-reg"), 1, "registration reused");
    assert_eq!(s.count("POST", "/acme/challenge/"), 1, "authorization reused");

    // registration.json lost, the key kept: new-reg answers 409 with the
    // registration, which is used.
    std::fs::remove_file(s.out("resource/registration.json")).unwrap();
    let again = s.run(&["--renew", "--accept"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(s.count("POST", "/acme/new-reg"), 2);
    assert_eq!(s.ca.registrations().len(), 1, "no second registration");
    assert_eq!(s.ca.issued().len(), 6);
    let reg: Value = serde_json::from_slice(&std::fs::read(s.out("resource/registration.json")).unwrap()).unwrap();
    assert_eq!(reg["uri"], regs[0].url.as_str());

    // --revoke: revoke-cert for both certificates.
    let serials: Vec<String> = ["rsa", "ecdsa"]
        .iter()
        .map(|kt| crypto::parse_cert(&s.ders(&format!("certificate/v1.example.com.{kt}.pem"))[0]).unwrap().serial_hex)
        .collect();
    let revoke = s.run(&["--revoke", "v1.example.com"]);
    assert_eq!(revoke.code, 0, "{revoke:?}");
    for serial in &serials {
        // The server's hex has the DER content bytes: a leading zero byte may be dropped here.
        let revoked =
            s.ca.revocations().iter().any(|r| r.serial_hex.trim_start_matches('0') == serial.trim_start_matches('0'));
        assert!(revoked, "{serial} revoked: {:?}", s.ca.revocations());
    }
    assert!(!s.out("certificate/v1.example.com.rsa.pem").exists());
}

#[test]
fn v1_bad_nonces_are_retried_and_the_account_key_rolls_over() {
    let opts = AcmeV1Options { nonce_reject_percent: 30, ..Default::default() };
    let s = V1Site::new("v1-nonce", opts, json!({"n.example.com": {"key_types": ["ecdsa"]}}));
    let run = s.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.ca.issued().len(), 1);
    let cert = s.out("certificate/n.example.com.ecdsa.pem");
    assert!(openssl_key_matches_cert(&s.out("private_key/n.example.com.ecdsa.key"), &cert));

    // The account key rolls over with v1's key-change; the registration keeps its URL.
    let before = s.ca.registrations()[0].clone();
    let roll = s.run(&["--account-key-rollover"]);
    assert_eq!(roll.code, 0, "{roll:?}");
    let after = s.ca.registrations();
    assert_eq!((after.len(), after[0].url.as_str()), (1, before.url.as_str()));
    assert_ne!(after[0].thumbprint, before.thumbprint, "the server has the new key");
    let renew = s.run(&["--renew"]);
    assert_eq!(renew.code, 0, "signed with the new key: {renew:?}");
    assert_eq!(s.ca.issued().len(), 2);
}

#[test]
fn v1_failures_are_clear() {
    let s = V1Site::new("v1-fail", AcmeV1Options::default(), json!({"bad.example.com": {"key_types": ["ecdsa"]}}));
    // Nothing served: the challenge fails, naming the name and the server's problem.
    std::fs::remove_dir_all(s.out("webroot")).unwrap();
    s.write(json!({"bad.example.com": {"key_types": ["ecdsa"]}}), |c| {
        c["directories"]["http_challenge"] = json!(s.root.join("out/elsewhere"));
    });
    let run = s.run(&["--accept"]);
    assert!(run.code == 9 || run.code == 8, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("bad.example.com") && all.contains("urn:acme:error:unauthorized"), "{run:?}");
    assert!(s.ca.issued().is_empty());

    // A wildcard: refused before anything is asked for it.
    s.write(json!({"w.example.com": {"alt_names": {"w.example.com": ["@", "*"]}, "key_types": ["ecdsa"]}}), |_| {});
    let run = s.run(&["--accept"]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("ACME v1 has no wildcard certificates: *.w.example.com"), "{run:?}");
    assert!(!s.ca.authorizations().iter().any(|a| a.name.contains("w.example.com")));

    // settings.acme_version insisting on v2, and EAB, against a v1 directory.
    s.write(json!({"bad.example.com": {"key_types": ["ecdsa"]}}), |c| c["settings"]["acme_version"] = json!(2));
    let run = s.run(&["--accept"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(format!("{}{}", run.stdout, run.stderr).contains("settings.acme_version"), "{run:?}");
    s.write(json!({"bad.example.com": {"key_types": ["ecdsa"]}}), |c| {
        c["settings"]["acme_version"] = json!(1);
        c["account"]["eab_kid"] = json!("kid-1");
        c["account"]["eab_hmac_key"] = json!("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0");
    });
    std::fs::remove_dir_all(s.out("resource")).unwrap();
    let run = s.run(&["--accept"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("External Account Binding does not exist in ACME v1"),
        "{run:?}"
    );
}

#[test]
fn v1_dns01_through_bind9() {
    let bind = crate::dns::Bind::start("v1-dns01");
    let opts = AcmeV1Options { dns_server: Some(bind.server.to_string()), ..Default::default() };
    let certs = json!({"v1.example.test": {"alt_names": {"example.test": ["v1"]}, "key_types": ["ecdsa"]}});
    let s = V1Site::new("v1-dns01", opts, certs.clone());
    let port = bind.server.port();
    s.write(certs, |c| {
        c["directories"]["http_challenge"] = Value::Null;
        c["directories"]["update_key"] = json!(bind.dir);
        c["settings"]["dns_resolvers"] = json!([bind.server.to_string()]);
        c["settings"]["name_server_port"] = json!(port);
        c["settings"]["dns_lookup_delay"] = json!(1);
        c["zone_update_keys"] =
            json!({"example.test": {"file": "acme-sha256.key", "server": "127.0.0.1", "port": port}});
    });
    let run = s.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.ca.issued().len(), 1);
    let journal = std::fs::read_to_string(s.out("resource/journal.jsonl")).unwrap();
    assert!(journal.contains(r#""challenge":"dns-01""#), "{journal}");
    let cert = s.out("certificate/v1.example.test.ecdsa.pem");
    assert!(openssl_key_matches_cert(&s.out("private_key/v1.example.test.ecdsa.key"), &cert));
    assert!(crate::dns::dig(bind.server, "TXT", "_acme-challenge.v1.example.test").is_empty(), "record removed");
}
