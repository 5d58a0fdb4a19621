//! ARI (RFC 9773) and certificate profiles, against the project's own test
//! ACME server (pebble 2.4 has neither).

use acmebot::crypto;
use serde_json::{json, Value};

use crate::support::{run_binary, temp_dir, Run};
use crate::testca::{ari_cert_id, TestCa, TestCaOptions};

struct Box_ {
    root: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Box_ {
    fn new(name: &str, ca: &TestCa, certificates: Value) -> Box_ {
        let root = temp_dir(name);
        let config = root.join("etc/acmebot.json");
        let b = Box_ { root, config };
        b.write(ca, certificates);
        b
    }

    fn write(&self, ca: &TestCa, certificates: Value) {
        let dirs = crate::support::output_dirs(&self.root.join("out"));
        let mut config = json!({
            "account": {"email": "admin@example.test"},
            "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": ca.directory_url(), "ca_bundle": ca.ca_pem_path(), "key_size": 2048,
                         "key_curve": "secp256r1", "file_group": "root", "log_level": null},
            "directories": dirs,
            "certificates": certificates
        });
        config["directories"]["sct"] = json!(null);
        std::fs::create_dir_all(self.config.parent().unwrap()).unwrap();
        std::fs::write(&self.config, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        run_binary(&self.config, args, &[])
    }

    fn cert(&self, name: &str, kt: &str) -> (Vec<u8>, crypto::CertInfo) {
        let pem = std::fs::read(self.root.join(format!("out/certificate/{name}.{kt}.pem"))).unwrap();
        let der = crypto::pem_to_ders(&pem).unwrap().remove(0);
        let info = crypto::parse_cert(&der).unwrap();
        (der, info)
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.root.join("out/resource/journal.jsonl")).unwrap_or_default()
    }
}

#[test]
fn renewal_windows_are_asked_journaled_and_honoured() {
    // Retry-After 0: every run may ask again, so a window set by the test is seen.
    let ca = TestCa::start(TestCaOptions { ari_retry_after_secs: 0, ..Default::default() });
    let b = Box_::new("ari", &ca, json!({"ari.example.test": {}}));
    let first = b.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(ca.ari_requests(), 2, "the new certificates' windows are asked for while connected");
    let (rsa_der, rsa) = b.cert("ari.example.test", "rsa");
    let (_, ecdsa) = b.cert("ari.example.test", "ecdsa");
    assert_eq!(rsa.ari_cert_id, ari_cert_id(&rsa_der), "our certID equals the server's own computation");

    // RSA: a window in the past (renew now); ECDSA: the default window, in the future.
    let now = crate::testca::now();
    ca.set_window(&rsa.serial_hex, now - 7200, now - 3600);
    let second = b.run(&["-v"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.contains("Issuing RSA certificate ari.example.test (inside the CA's renewal window"),
        "{second:?}"
    );
    assert!(
        !second.stdout.contains("Issuing ECDSA")
            && !second.stdout.contains("ECDSA certificate ari.example.test installed"),
        "{second:?}"
    );
    let (_, rsa2) = b.cert("ari.example.test", "rsa");
    assert_ne!(rsa2.serial_hex, rsa.serial_hex, "RSA renewed");
    assert_eq!(b.cert("ari.example.test", "ecdsa").1.serial_hex, ecdsa.serial_hex, "ECDSA kept");
    assert_eq!(ca.replaced(), vec![ari_cert_id(&rsa_der).unwrap()], "the new order named the certificate it replaces");
    let fetched: Vec<Value> = b
        .journal()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "renewal_info_fetched")
        .collect();
    let ecdsa_window = fetched.iter().rev().find(|e| e["key_type"] == "ecdsa").unwrap();
    let renew_at = acmebot::time::parse_rfc3339(ecdsa_window["renew_at"].as_str().unwrap()).unwrap();
    let (ws, we) = (
        acmebot::time::parse_rfc3339(ecdsa_window["window_start"].as_str().unwrap()).unwrap(),
        acmebot::time::parse_rfc3339(ecdsa_window["window_end"].as_str().unwrap()).unwrap(),
    );
    assert!(ws <= renew_at && renew_at <= we, "renewal time chosen inside the window");
    assert!(ws > now, "default window lies ahead");
    let renew_ats: std::collections::BTreeSet<&str> =
        fetched.iter().filter(|e| e["key_type"] == "ecdsa").map(|e| e["renew_at"].as_str().unwrap()).collect();
    assert_eq!(renew_ats.len(), 1, "the chosen time is kept while the window stays the same");
}

#[test]
fn a_journaled_retry_after_is_honoured_and_the_second_run_is_silent() {
    let ca = TestCa::start(TestCaOptions::default()); // Retry-After: 6 hours
    let b = Box_::new("ari-quiet", &ca, json!({"quiet.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(b.run(&["--accept"]).code, 0);
    assert_eq!(ca.ari_requests(), 1);
    let journal = b.journal();
    for _ in 0..2 {
        let again = b.run(&[]);
        assert!(again.code == 0 && again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");
    }
    assert_eq!(ca.ari_requests(), 1, "not asked again before the server's Retry-After");
    assert_eq!(b.journal(), journal, "runs with nothing to do write nothing");
}

#[test]
fn profiles_are_sent_and_checked_against_the_directory() {
    let ca = TestCa::start(TestCaOptions::default());
    let b = Box_::new("profiles", &ca, json!({"p.example.test": {"key_types": ["ecdsa"], "profile": "shortlived"}}));
    let run = b.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let (_, c) = b.cert("p.example.test", "ecdsa");
    assert_eq!(c.not_after - c.not_before, 6 * 86400, "a six-day certificate");
    assert_eq!(ca.orders().last().unwrap().requested_profile.as_deref(), Some("shortlived"));
    // A six-day certificate with renewal_days 30 is not renewed on every run.
    let again = b.run(&[]);
    assert!(again.code == 0 && again.stdout.is_empty(), "{again:?}");
    assert_eq!(b.cert("p.example.test", "ecdsa").1.serial_hex, c.serial_hex);

    b.write(&ca, json!({"q.example.test": {"key_types": ["ecdsa"], "profile": "nope"}}));
    let bad = b.run(&[]);
    assert_eq!(bad.code, 4, "{bad:?}");
    assert!(bad.stderr.contains("profile \"nope\" is not offered") && bad.stderr.contains("shortlived"), "{bad:?}");
}

#[test]
fn an_unreachable_ca_when_only_asking_for_windows_is_a_warning() {
    let ca = TestCa::start(TestCaOptions { ari_retry_after_secs: 0, ..Default::default() });
    let b = Box_::new("ari-down", &ca, json!({"down.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(b.run(&["--accept"]).code, 0);
    let (_, before) = b.cert("down.example.test", "ecdsa");
    drop(ca); // the CA goes away; the window is due to be asked for again
    let run = b.run(&[]);
    assert_eq!(run.code, 0, "a certificate far from expiry needs no CA: {run:?}");
    assert!(run.stderr.contains("WARNING: renewal information not checked"), "{run:?}");
    assert_eq!(b.cert("down.example.test", "ecdsa").1.serial_hex, before.serial_hex);
    let strict = b.run(&["--warning-exit-code"]);
    assert_eq!(strict.code, 100, "the warning's code with --warning-exit-code: {strict:?}");
}

#[test]
fn asking_for_renewal_windows_makes_no_account() {
    // An installation taken over without its account files (only keys and
    // certificates copied): the runs ask for renewal windows, which are
    // plain GETs, and neither generate nor register an account key.
    let ca = TestCa::start(TestCaOptions::default());
    let b = Box_::new("ari-noaccount", &ca, json!({"n.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(b.run(&["--accept"]).code, 0);
    let resource = b.root.join("out/resource");
    for f in ["client_key.json", "registration.json", "journal.jsonl"] {
        std::fs::remove_file(resource.join(f)).unwrap();
    }
    let asked = ca.ari_requests();
    let run = b.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("Client key not present"), "{run:?}");
    assert!(!resource.join("client_key.json").exists(), "no account key saved");
    assert!(ca.ari_requests() > asked, "the renewal window was asked for");
    let journal = b.journal();
    assert!(!journal.contains("\"account_key_generated\"") && !journal.contains("\"account_registered\""));
    assert!(journal.contains("\"renewal_info_fetched\""), "{journal}");
    // Quiet afterwards, and still no account.
    let again = b.run(&[]);
    assert!(again.code == 0 && again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");
    assert!(!resource.join("client_key.json").exists());
}

/// RFC 9773 §5: a CA that says the certificate was already replaced
/// (`alreadyReplaced`, another client renewed first) is asked again without
/// `replaces`, and the renewal goes through.
#[test]
fn an_already_replaced_certificate_is_renewed_without_replaces() {
    let ca = TestCa::start(TestCaOptions { replaced_elsewhere: true, ..Default::default() });
    let b = Box_::new("ari-already-replaced", &ca, json!({"example.test": {"key_types": ["ecdsa"]}}));
    let run = b.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let (_, before) = b.cert("example.test", "ecdsa");
    let run = b.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("replace"), "a courtesy refused is no warning: {run:?}");
    let (_, after) = b.cert("example.test", "ecdsa");
    assert_ne!(before.serial_hex, after.serial_hex, "renewed");
    // The order the server accepted names nothing it replaces.
    let orders = ca.orders();
    assert_eq!(orders.len(), 2, "the first order and the renewal (the refused one made none)");
    assert!(
        orders.iter().all(|o| o.replaces.is_none()),
        "{:?}",
        orders.iter().map(|o| &o.replaces).collect::<Vec<_>>()
    );
}

/// A certificate whose configured profile changed is renewed once with the
/// new profile; one with the same profile is left alone.
#[test]
fn a_changed_profile_renews_the_certificate_once() {
    let ca = TestCa::start(TestCaOptions::default());
    let certs = |profile: Value| json!({"p.example.test": {"key_types": ["ecdsa"], "profile": profile}});
    let b = Box_::new("profile-changed", &ca, certs(json!("classic")));
    assert_eq!(b.run(&["--accept"]).code, 0);
    assert_eq!(ca.orders().len(), 1);
    let run = b.run(&[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(ca.orders().len(), 1, "same profile: nothing to do");

    b.write(&ca, certs(json!("tlsserver")));
    let run = b.run(&["-v"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("profile changed from \"classic\" to \"tlsserver\""), "{run:?}");
    assert_eq!(ca.orders().len(), 2);
    assert_eq!(ca.orders().last().unwrap().requested_profile.as_deref(), Some("tlsserver"));
    let run = b.run(&[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(ca.orders().len(), 2, "renewed once");

    // No profile at all any more: the CA's default, ordered once more.
    b.write(&ca, certs(Value::Null));
    assert_eq!(b.run(&[]).code, 0);
    assert_eq!(ca.orders().len(), 3);
    assert_eq!(ca.orders().last().unwrap().requested_profile, None);
    assert_eq!(b.run(&[]).code, 0);
    assert_eq!(ca.orders().len(), 3);
}
