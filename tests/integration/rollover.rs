//! Key rollover against pebble: --rollover waits for the HPKP window, --force
//! overrides it; the backup key becomes the primary, the old primary the
//! previous key, a new backup is made, every certificate is reissued, and the
//! HPKP pins follow.

use serde_json::json;

use acmebot::crypto::{self, PrivateKey};

use crate::hpkp::openssl_pin;
use crate::support::{mode_of, Site};

fn spki(site: &Site, rel: &str) -> String {
    PrivateKey::from_pem(&std::fs::read(site.path(rel)).unwrap()).unwrap().spki_sha256_hex()
}

fn config(site: &Site, hpkp_days: u32) -> serde_json::Value {
    let mut c = site.config(json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}}}));
    c["directories"]["hpkp"] = json!("ssl/hpkp");
    c["directories"]["previous_key"] = json!("ssl/previous");
    c["settings"]["hpkp_days"] = json!(hpkp_days);
    // Every field the rollover hooks get, one line per call.
    let log = site.path("hooks.log");
    let sh = format!("/bin/sh -c 'printf \"%s\\n\" \"$*\" >> {}'", log.display());
    c["hooks"] = json!({
        "private_key_rollover": format!("{sh} rollover private_key_rollover {{key_name}} {{key_type}} {{backup_key_file}} {{private_key_file}} {{previous_key_file}}"),
        "previous_key_installed": format!("{sh} installed previous_key_installed {{key_name}} {{key_type}} {{previous_key_file}}"),
    });
    c
}

#[test]
fn rollover_waits_for_the_hpkp_window_unless_forced_and_promotes_the_backup() {
    let site = Site::new("rollover", json!({}));
    site.write_config_value(&config(&site, 60));
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let old_primary: Vec<String> =
        ["rsa", "ecdsa"].iter().map(|kt| spki(&site, &format!("ssl/private/example.test.{kt}.key"))).collect();
    let old_backup: Vec<String> =
        ["rsa", "ecdsa"].iter().map(|kt| spki(&site, &format!("ssl/private/example.test_backup.{kt}.key"))).collect();
    let issued = site.events_of("certificate_issued").len();

    // The backup keys are minutes old: inside the 60-day HPKP window.
    let refused = site.run(&["--rollover"]);
    assert_eq!(refused.code, 0, "a warning, not an error: {refused:?}");
    assert!(refused.stderr.contains("A backup private key for example.test is younger than the HPKP duration (60 days) by 60 days, rollover skipped"), "{refused:?}");
    assert_eq!(site.run(&["--rollover", "--warning-exit-code"]).code, 102, "WarningCode::Key");
    assert_eq!(spki(&site, "ssl/private/example.test.rsa.key"), old_primary[0]);
    assert_eq!(site.events_of("certificate_issued").len(), issued);
    assert!(!site.path("ssl/previous").exists());

    // --force: rolled over.
    let forced = site.run(&["--rollover", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    for (i, kt) in ["rsa", "ecdsa"].iter().enumerate() {
        assert_eq!(
            spki(&site, &format!("ssl/private/example.test.{kt}.key")),
            old_backup[i],
            "{kt}: the backup key is the primary now"
        );
        let new_backup = spki(&site, &format!("ssl/private/example.test_backup.{kt}.key"));
        assert!(new_backup != old_backup[i] && new_backup != old_primary[i], "{kt}: a new backup key");
        let previous = format!("ssl/previous/example.test_previous.{kt}.key");
        assert_eq!(spki(&site, &previous), old_primary[i], "{kt}: the old primary is the previous key");
        assert_eq!(mode_of(&site.path(&previous)), 0o600);
        let cert_pem = std::fs::read(site.path(&format!("ssl/certs/example.test.{kt}.pem"))).unwrap();
        let cert = crypto::parse_cert(&crypto::pem_to_ders(&cert_pem).unwrap()[0]).unwrap();
        let key =
            PrivateKey::from_pem(&std::fs::read(site.path(&format!("ssl/private/example.test.{kt}.key"))).unwrap())
                .unwrap();
        assert!(crypto::key_matches_cert(&key, &cert), "{kt}: reissued for the new primary key");
    }
    assert_eq!(site.events_of("certificate_issued").len(), issued + 2);
    assert_eq!(site.effects_of("key_rolled_over").len(), 2);
    assert!(forced.stdout.lines().any(|l| l == "Private key rolling over for example.test"), "{forced:?}");
    // HPKP: new primaries, new backups, then the previous keys, each pin as
    // openssl computes it from the key files.
    let apache = std::fs::read_to_string(site.path("ssl/hpkp/example.test.apache")).unwrap();
    assert_eq!(apache.matches("pin-sha256=").count(), 6, "{apache}");
    let mut expected = Vec::new();
    for pattern in [
        "ssl/private/example.test.{kt}.key",
        "ssl/private/example.test_backup.{kt}.key",
        "ssl/previous/example.test_previous.{kt}.key",
    ] {
        for kt in ["rsa", "ecdsa"] {
            expected.push(openssl_pin(&site.path(&pattern.replace("{kt}", kt))));
        }
    }
    // The header as the original writes it: pin-sha256=\"<base64>\"; ...
    let pins: Vec<&str> = apache.split("pin-sha256=\\\"").skip(1).map(|p| p.split('\\').next().unwrap()).collect();
    assert_eq!(pins, expected, "{apache}");
    // The hooks got the files of the rollover.
    let log = std::fs::read_to_string(site.path("hooks.log")).unwrap();
    for kt in ["rsa", "ecdsa"] {
        let (private, backup, previous) = (
            site.path(&format!("ssl/private/example.test.{kt}.key")),
            site.path(&format!("ssl/private/example.test_backup.{kt}.key")),
            site.path(&format!("ssl/previous/example.test_previous.{kt}.key")),
        );
        let rolled = format!(
            "private_key_rollover example.test {kt} {} {} {}",
            backup.display(),
            private.display(),
            previous.display()
        );
        assert!(log.lines().any(|l| l == rolled), "{rolled}\n{log}");
        let installed = format!("previous_key_installed example.test {kt} {}", previous.display());
        assert!(log.lines().any(|l| l == installed), "{installed}\n{log}");
    }
    assert_eq!(log.lines().count(), 4, "{log}");

    // Silent afterwards.
    let again = site.run(&[]);
    assert!(again.code == 0 && again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");

    // hpkp_days 0: nothing to wait for; the previous key is replaced in turn.
    site.write_config_value(&config(&site, 0));
    let second_primary = spki(&site, "ssl/private/example.test.rsa.key");
    let second = site.run(&["--rollover"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stderr.is_empty(), "{second:?}");
    assert_eq!(spki(&site, "ssl/previous/example.test_previous.rsa.key"), second_primary);
    assert_eq!(site.effects_of("key_rolled_over").len(), 4);
    assert_eq!(site.run(&["--audit"]).code, 0);

    // --revoke archives the previous keys and the HPKP files with the
    // certificates and primary keys, as the original does.
    site.write_config_value(&config(&site, 60));
    assert_eq!(site.run(&[]).code, 0);
    let hpkp_files = [site.path("ssl/hpkp/example.test.apache"), site.path("ssl/hpkp/example.test.nginx")];
    assert!(hpkp_files.iter().all(|p| p.exists()));
    let revoked = site.run(&["--revoke", "example.test"]);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    for kt in ["rsa", "ecdsa"] {
        let previous = site.path(&format!("ssl/previous/example.test_previous.{kt}.key"));
        assert!(!previous.exists(), "{} archived", previous.display());
    }
    assert!(hpkp_files.iter().all(|p| !p.exists()), "HPKP files archived");
    let archived = crate::support::tree(&site.path("ssl/archive"));
    for name in ["example.test_previous.rsa.key", "example.test.apache", "example.test.nginx"] {
        assert!(archived.iter().any(|l| l.ends_with(name)), "{name} in the archive: {archived:?}");
    }
    assert_eq!(site.run(&["--audit"]).code, 0);
}
