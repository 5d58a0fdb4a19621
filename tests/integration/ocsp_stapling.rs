//! OCSP responses end to end: pebble puts a loopback `openssl ocsp`
//! responder (`ocsp_responder`) into its certificates' AIA, acmebot fetches
//! and validates the response in the certificate's own transaction, keeps it
//! while it is fresh, asks again past half its validity, and refuses what
//! does not check out (revoked, unknown, a wrong signer, a stale answer).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::ocsp_responder::{OcspResponder, Signer, Status};
use crate::peers::PebbleOptions;
use crate::support::{openssl, temp_dir, Site};

pub struct Stapling {
    pub site: Site,
    pub responder: OcspResponder,
    pub issuer: PathBuf,
}

fn certificates() -> Value {
    json!({"example.test": {"alt_names": {"example.test": ["@"]}}})
}

/// pebble whose certificates name the responder; the responder answers
/// for pebble's intermediate, `good` for every certificate it issues.
fn start(name: &str) -> Stapling {
    let stapling = with_responder(name);
    let site = &stapling.site;
    let mut config = site.config(certificates());
    config["directories"]["ocsp"] = json!("ssl/ocsp");
    let hooks = site.path("hooks.log");
    config["hooks"] = json!({
        "ocsp_installed": format!("echo ocsp {{key_type}} {{certificate_name}} {{ocsp_file}} >> {}", hooks.display()),
        "certificate_installed": format!("echo cert {{key_type}} >> {}", hooks.display())
    });
    site.write_config_value(&config);
    stapling
}

/// A site whose pebble names an `openssl ocsp` responder in its
/// certificates, answering `good` for every certificate pebble issues
/// (its configuration is the caller's to write).
pub fn with_responder(name: &str) -> Stapling {
    let responder = OcspResponder::listen(&temp_dir(&format!("{name}-responder")));
    let opts = PebbleOptions { ocsp_responder_url: responder.url(), ..Default::default() };
    let site = Site::with_pebble(name, certificates(), opts);
    let (status, cert) = site.pebble.management_get("/intermediates/0");
    assert_eq!(status, 200);
    let (status, key) = site.pebble.management_get("/intermediate-keys/0");
    assert_eq!(status, 200);
    let issuer = site.root.join("pebble-intermediate.pem");
    let issuer_key = site.root.join("pebble-intermediate.key");
    std::fs::write(&issuer, cert).unwrap();
    std::fs::write(&issuer_key, key).unwrap();
    responder.set_issuer(&issuer, &issuer_key);
    responder.otherwise(Some(Status::Good));
    Stapling { site, responder, issuer }
}

fn serial(site: &Site, kt: &str) -> String {
    let pem = std::fs::read(site.path(&format!("ssl/certs/example.test.{kt}.pem"))).unwrap();
    let der = acmebot::crypto::pem_to_ders(&pem).unwrap().remove(0);
    acmebot::crypto::parse_cert(&der).unwrap().serial_hex
}

fn ocsp_file(site: &Site, kt: &str) -> PathBuf {
    site.path(&format!("ssl/ocsp/example.test.{kt}.ocsp"))
}

/// openssl's reading of a stored response, checked against the issuer.
fn openssl_status(s: &Stapling, kt: &str) -> String {
    let leaf = s.site.path(&format!("ssl/certs/example.test.{kt}.pem"));
    let file = ocsp_file(&s.site, kt);
    openssl(&[
        "ocsp",
        "-respin",
        file.to_str().unwrap(),
        "-issuer",
        s.issuer.to_str().unwrap(),
        "-cert",
        leaf.to_str().unwrap(),
        "-VAfile",
        s.issuer.to_str().unwrap(),
        "-no_nonce",
    ])
}

#[test]
fn a_good_response_is_stored_with_the_certificate_and_kept_until_half_its_validity() {
    let s = start("ocsp-good");
    let run = s.site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(run.stdout.contains("Saving OCSP response for RSA certificate example.test"), "{run:?}");
    assert_eq!(s.responder.requests(), 2, "one request per key type");
    for kt in ["rsa", "ecdsa"] {
        let text = openssl_status(&s, kt);
        assert!(text.contains(": good"), "{kt}: {text}");
        assert_eq!(crate::support::mode_of(&ocsp_file(&s.site, kt)), 0o644);
    }
    // In the certificate's own transaction, journaled with its times.
    let journal = s.site.journal();
    let begun: Vec<&Value> = journal.iter().filter(|e| e["type"] == "txn_begun").collect();
    for txn in &begun {
        let effects = txn["effects"].as_array().cloned().unwrap_or_default();
        let certs = effects.iter().filter(|e| e["type"] == "certificate_installed").count();
        let ocsp = effects.iter().filter(|e| e["type"] == "ocsp_stored").count();
        assert_eq!(certs, ocsp, "{txn}");
    }
    let stored = s.site.effects_of("ocsp_stored");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0]["status"], "good");
    assert_eq!(stored[0]["serial"], json!(serial(&s.site, stored[0]["key_type"].as_str().unwrap())));
    assert!(stored[0]["next_update"].is_string() && stored[0]["this_update"].is_string());
    let hooks = std::fs::read_to_string(s.site.path("hooks.log")).unwrap();
    assert!(hooks.contains(&format!("ocsp rsa example.test {}", ocsp_file(&s.site, "rsa").display())), "{hooks}");

    // Fresh: nothing asked, nothing said; `--ocsp` alone is the same.
    let run = s.site.run(&[]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{run:?}");
    let run = s.site.run(&["--ocsp"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{run:?}");
    assert_eq!(s.responder.requests(), 2);

    // Past half its validity (7 days): asked again, in a transaction of its own.
    let before = std::fs::read(ocsp_file(&s.site, "rsa")).unwrap();
    // (A response made in the same second as the kept one is the same
    // response: as the original, it is not written again.)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // (The responder's clock is the real one: its next answers are valid 30
    // days, so they are fresh at +4 days; every later run is at +4 days too,
    // as the journal's clock never runs back.)
    s.responder.set_validity_days(30);
    let later = [("ACMEBOT_TEST_CLOCK", "+4d")];
    let run = s.site.run_env(&["--ocsp"], &later);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.responder.requests(), 4, "{run:?}");
    assert_ne!(std::fs::read(ocsp_file(&s.site, "rsa")).unwrap(), before);
    assert_eq!(s.site.effects_of("ocsp_stored").len(), 4);
    let run = s.site.run_env(&["--ocsp"], &later);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(s.responder.requests(), 4, "fresh again");

    // A damaged file is fetched again.
    std::fs::write(ocsp_file(&s.site, "ecdsa"), b"garbage").unwrap();
    let run = s.site.run_env(&["--ocsp"], &later);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.responder.requests(), 5);
    assert!(openssl_status(&s, "ecdsa").contains(": good"));
    let audit = s.site.run_env(&["--audit"], &later);
    assert_eq!(audit.code, 0, "{audit:?}");
}

#[test]
fn revoked_unknown_wrong_signer_and_stale_answers_are_refused() {
    let s = start("ocsp-refused");
    s.responder.otherwise(None); // unknown
    let run = s.site.run(&["--accept"]);
    assert_eq!(run.code, 0, "the certificates are installed: {run:?}");
    assert!(run.stderr.contains("has OCSP status \"UNKNOWN\""), "{run:?}");
    assert!(!ocsp_file(&s.site, "rsa").exists());
    let (rsa, ecdsa) = (serial(&s.site, "rsa"), serial(&s.site, "ecdsa"));

    // A wrong signer: a warning naming the responder, nothing stored.
    s.responder.otherwise(Some(Status::Good));
    s.responder.use_signer(Signer::WrongKey);
    let run = s.site.run(&["--ocsp"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("not signed by the issuer or a responder the issuer delegated"), "{run:?}");
    assert!(run.stderr.contains(&s.responder.url()), "{run:?}");
    assert!(!ocsp_file(&s.site, "rsa").exists());
    let run = s.site.run(&["--ocsp", "--warning-exit-code"]);
    assert_eq!(run.code, 107, "the original's OCSP warning code: {run:?}");

    // A delegated responder the issuer signed for OCSP: accepted.
    s.responder.use_signer(Signer::Delegated);
    let run = s.site.run(&["--ocsp"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert!(ocsp_file(&s.site, "rsa").exists() && ocsp_file(&s.site, "ecdsa").exists());

    // Without the OCSPSigning usage: refused (the file in place stays).
    s.responder.use_signer(Signer::DelegatedWithoutEku);
    std::fs::remove_file(ocsp_file(&s.site, "ecdsa")).unwrap();
    let run = s.site.run(&["--ocsp"]);
    assert!(run.stderr.contains("lacks the extended key usage id-kp-OCSPSigning"), "{run:?}");
    assert!(!ocsp_file(&s.site, "ecdsa").exists() && ocsp_file(&s.site, "rsa").exists());

    // Stale: valid for one minute, read two hours later.
    s.responder.use_signer(Signer::Issuer);
    s.responder.set_validity_minutes(1);
    let run = s.site.run_env(&["--ocsp"], &[("ACMEBOT_TEST_CLOCK", "+2h")]);
    assert!(run.stderr.contains("has passed"), "{run:?}");
    assert!(!ocsp_file(&s.site, "ecdsa").exists());
    s.responder.set_validity_days(7);

    // Revoked: an error naming the certificate (exit 12), nothing stored.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    s.responder.set_status(&ecdsa, Status::Revoked { at: now - 60, reason: Some("keyCompromise") });
    s.responder.set_status(&rsa, Status::Good);
    let run = s.site.run(&["--ocsp"]);
    assert_eq!(run.code, 12, "{run:?}");
    assert!(run.stderr.contains("ECDSA certificate example.test is revoked"), "{run:?}");
    assert!(run.stderr.contains("reason keyCompromise"), "{run:?}");
    assert!(!ocsp_file(&s.site, "ecdsa").exists());
}

#[test]
fn a_certificate_without_an_ocsp_url_needs_nothing_and_says_nothing() {
    // pebble without ocspResponderURL: certificates as Let's Encrypt's since 2025.
    let site = Site::new("ocsp-none", certificates());
    let mut config = site.config(certificates());
    config["directories"]["ocsp"] = json!("ssl/ocsp");
    site.write_config_value(&config);
    let run = site.run(&["--accept"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    let run = site.run(&["--ocsp"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{run:?}");
    assert!(!site.path("ssl/ocsp").exists() || std::fs::read_dir(site.path("ssl/ocsp")).unwrap().next().is_none());
}

#[test]
fn a_new_certificate_takes_the_previous_response_away_when_none_is_given() {
    let s = start("ocsp-renewed");
    let run = s.site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(ocsp_file(&s.site, "rsa").exists());
    // The responder is down: the renewed certificate must not sit beside the
    // previous certificate's response.
    s.responder.answer_with(Some(b"not an OCSP response".to_vec()));
    let run = s.site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Unable to retrieve OCSP response"), "{run:?}");
    assert!(!ocsp_file(&s.site, "rsa").exists() && !ocsp_file(&s.site, "ecdsa").exists());
    // Back: the next run fetches them.
    s.responder.answer_with(None);
    let run = s.site.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(openssl_status(&s, "rsa").contains(": good"));
}
