//! ACME v2 beyond the first certificate, against pebble: revocation and the
//! rollover after it, preferred chains, longer chains, External Account
//! Binding, authorization-only runs and follower mode.

use acmebot::crypto::{self, PrivateKey};
use serde_json::json;

use crate::peers::PebbleOptions;
use crate::support::Site;

fn leaf(site: &Site, rel: &str) -> crypto::CertInfo {
    let pem = std::fs::read(site.path(rel)).unwrap();
    crypto::parse_cert(&crypto::pem_to_ders(&pem).unwrap()[0]).unwrap()
}

fn key(site: &Site, rel: &str) -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read(site.path(rel)).unwrap()).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn pebble_status(site: &Site, serial_hex: &str) -> serde_json::Value {
    let serial = serial_hex.trim_start_matches('0');
    let (status, body) = site.pebble.management_get(&format!("/cert-status-by-serial/{serial}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn revoke_archives_and_the_next_run_rolls_over_to_the_backup_key() {
    let site = Site::new("revoke", json!({"r.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(site.run(&["--accept"]).code, 0);
    let cert = leaf(&site, "ssl/certs/r.example.test.ecdsa.pem");
    let backup = key(&site, "ssl/private/r.example.test_backup.ecdsa.key").spki_sha256_hex();
    let old_primary = key(&site, "ssl/private/r.example.test.ecdsa.key").spki_sha256_hex();
    assert_eq!(pebble_status(&site, &cert.serial_hex)["Status"], "Valid");

    let refused = site.run(&["--revoke"]);
    assert_eq!(refused.code, 2, "revocation needs explicit key names: {refused:?}");
    let bad_reason = site.run(&["--revoke", "--revoke-reason", "whim", "r.example.test"]);
    assert_eq!(bad_reason.code, 4, "{bad_reason:?}");

    let run = site.run(&["--revoke", "--revoke-reason", "keyCompromise", "r.example.test"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("revoked"), "{run:?}");
    let status = pebble_status(&site, &cert.serial_hex);
    assert_eq!(status["Status"], "Revoked", "{status}");
    assert!(!site.path("ssl/certs/r.example.test.ecdsa.pem").exists());
    assert!(!site.path("ssl/private/r.example.test.ecdsa.key").exists(), "primary key archived");
    assert!(site.path("ssl/private/r.example.test_backup.ecdsa.key").exists(), "backup kept");
    let revoked = site.events_of("certificate_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["reason"], "keyCompromise");
    assert_eq!(revoked[0]["serial"], cert.serial_hex.as_str());
    let archived: Vec<String> = crate::support::tree(&site.path("ssl/archive/r.example.test"));
    assert!(
        archived.iter().any(|p| p.ends_with("/r.example.test.ecdsa.key") && !p.contains("installed/")),
        "{archived:?}"
    );

    // Next run: the backup key becomes the primary, a new backup is made, a new certificate issued.
    let next = site.run(&[]);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(next.stdout.lines().any(|l| l == "Private key rolling over for r.example.test"), "{next:?}");
    let primary = key(&site, "ssl/private/r.example.test.ecdsa.key");
    assert_eq!(primary.spki_sha256_hex(), backup, "the old backup is the new primary");
    assert_ne!(primary.spki_sha256_hex(), old_primary);
    let new_backup = key(&site, "ssl/private/r.example.test_backup.ecdsa.key").spki_sha256_hex();
    assert_ne!(new_backup, backup, "a new backup key");
    let new_cert = leaf(&site, "ssl/certs/r.example.test.ecdsa.pem");
    assert!(crypto::key_matches_cert(&primary, &new_cert));
    assert_eq!(site.effects_of("key_rolled_over").len(), 1);
    let replay = site.run(&["--replay"]);
    let state: serde_json::Value = serde_json::from_str(&replay.stdout).unwrap();
    assert_eq!(state["keys"]["r.example.test/ecdsa/primary"]["spki_sha256"], backup.as_str());
    assert_eq!(state["keys"]["r.example.test/ecdsa/backup"]["spki_sha256"], new_backup.as_str());
    assert_eq!(state["certificates"]["r.example.test/ecdsa"]["serial"], new_cert.serial_hex.as_str());
    assert_eq!(site.run(&[]).stdout, "", "then quiet again");
}

#[test]
fn preferred_chain_picks_the_alternate_by_issuer_name() {
    let opts = PebbleOptions { env: env(&[("PEBBLE_ALTERNATE_ROOTS", "2")]), ..Default::default() };
    let site = Site::with_pebble("chains", json!({}), opts);
    let (status, root1) = site.pebble.management_get("/roots/1");
    assert_eq!(status, 200);
    let root1 = crypto::parse_cert(&crypto::pem_to_ders(&root1).unwrap()[0]).unwrap();
    let wanted = root1.subject_cn.clone().unwrap();
    site.write_config(json!({"c.example.test": {"key_types": ["ecdsa"], "preferred_chain": wanted}}));
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let chain =
        crypto::pem_to_ders(&std::fs::read(site.path("ssl/certs/c.example.test_chain.ecdsa.pem")).unwrap()).unwrap();
    let top = crypto::parse_cert(chain.last().unwrap()).unwrap();
    assert_eq!(top.issuer_cn.as_deref(), Some(wanted.as_str()), "chain ends at the preferred root");
    // Without a preference the default chain (root 0) is kept.
    let (_, root0) = site.pebble.management_get("/roots/0");
    let root0 = crypto::parse_cert(&crypto::pem_to_ders(&root0).unwrap()[0]).unwrap();
    site.write_config(json!({"d.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(site.run(&[]).code, 0);
    let chain =
        crypto::pem_to_ders(&std::fs::read(site.path("ssl/certs/d.example.test_chain.ecdsa.pem")).unwrap()).unwrap();
    assert_eq!(crypto::parse_cert(chain.last().unwrap()).unwrap().issuer_cn, root0.subject_cn);
}

#[test]
fn longer_chains_are_installed_whole() {
    let opts = PebbleOptions { env: env(&[("PEBBLE_CHAIN_LENGTH", "3")]), ..Default::default() };
    let site = Site::with_pebble("chain3", json!({"l.example.test": {"key_types": ["rsa"]}}), opts);
    assert_eq!(site.run(&["--accept"]).code, 0);
    let chain =
        crypto::pem_to_ders(&std::fs::read(site.path("ssl/certs/l.example.test_chain.rsa.pem")).unwrap()).unwrap();
    // Pebble 2.4 with PEBBLE_CHAIN_LENGTH=3 sends three intermediates (one by default).
    assert_eq!(chain.len(), 3, "every intermediate is kept");
    let full = crypto::pem_to_ders(&std::fs::read(site.path("ssl/certs/l.example.test.rsa.pem")).unwrap()).unwrap();
    assert_eq!(full.len(), 4);
    for pair in full.windows(2) {
        let (child, parent) = (crypto::parse_cert(&pair[0]).unwrap(), crypto::parse_cert(&pair[1]).unwrap());
        assert_eq!(child.issuer, parent.subject, "in order: each certificate is issued by the next");
    }
}

#[test]
fn external_account_binding_is_sent_when_configured() {
    let kid = "kid-1";
    let mac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let opts = PebbleOptions { eab: vec![(kid.into(), mac.into())], ..Default::default() };
    let site = Site::with_pebble("eab", json!({"e.example.test": {"key_types": ["ecdsa"]}}), opts);
    let without = site.run(&["--accept"]);
    assert_eq!(without.code, 4, "{without:?}");
    assert!(
        without.stderr.contains("External Account Binding") && without.stderr.contains("account.eab_kid"),
        "{without:?}"
    );
    let mut config = site.config(json!({"e.example.test": {"key_types": ["ecdsa"]}}));
    config["account"]["eab_kid"] = json!(kid);
    config["account"]["eab_hmac_key"] = json!(mac);
    site.write_config_value(&config);
    let with = site.run(&["--accept"]);
    assert_eq!(with.code, 0, "{with:?}");
    assert!(site.path("ssl/certs/e.example.test.ecdsa.pem").exists());
    let journal = std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap();
    assert!(!journal.contains(mac), "the EAB key never reaches the journal");
    let shown = site.run(&["--show-config"]);
    assert!(!shown.stdout.contains(mac) && shown.stdout.contains("<redacted>"), "{shown:?}");
}

#[test]
fn master_authorizes_and_a_follower_issues_with_its_account() {
    let opts = PebbleOptions { env: env(&[("PEBBLE_AUTHZREUSE", "100")]), ..Default::default() };
    let master = Site::with_pebble("master", json!({}), opts);
    let mut config = master.config(json!({}));
    config["authorizations"] = json!({"example.test": ["f"]});
    master.write_config_value(&config);
    let run = master.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let obtained = master.events_of("authorization_obtained");
    assert!(obtained.iter().any(|e| e["name"] == "f.example.test"), "{obtained:?}");
    assert!(master.run(&[]).stdout.is_empty(), "authorizations known and fresh: no new order");
    let explicit = master.run(&["--auth"]);
    assert_eq!(explicit.code, 0, "{explicit:?}");
    assert!(explicit.stdout.contains("Authorized f.example.test"), "{explicit:?}");

    // The follower: same CA, the master's client key and registration, no challenges.
    let follower_root = crate::support::temp_dir("follower");
    let fconfig_path = follower_root.join("etc/acmebot.json");
    std::fs::create_dir_all(follower_root.join("etc/var")).unwrap();
    // --export-client writes what the follower needs into the current directory.
    let export_dir = follower_root.join("export");
    std::fs::create_dir_all(&export_dir).unwrap();
    let exported = std::process::Command::new(env!("CARGO_BIN_EXE_acmebot"))
        .arg("--config")
        .arg(&master.config_path)
        .arg("--export-client")
        .current_dir(&export_dir)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    for (from, to) in
        [("acmebot_client_key.json", "client_key.json"), ("acmebot_registration.json", "registration.json")]
    {
        assert_eq!(crate::support::mode_of(&export_dir.join(from)), 0o600);
        std::fs::copy(export_dir.join(from), follower_root.join("etc/var").join(to)).unwrap();
    }
    let pem = std::fs::read(export_dir.join("acmebot_client_key.pem")).unwrap();
    assert!(PrivateKey::from_pem(&pem).is_ok(), "the original's PEM export");
    // The PEM export is the account key itself: openssl's modulus of the PEM is
    // the `n` of the master's client_key.json.
    let modulus = crate::support::openssl(&[
        "rsa",
        "-in",
        export_dir.join("acmebot_client_key.pem").to_str().unwrap(),
        "-noout",
        "-modulus",
    ]);
    let jwk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(master.path("var/client_key.json")).unwrap()).unwrap();
    let n = crypto::b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
    let n_hex: String = n.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02X}")).collect();
    assert_eq!(modulus.trim().strip_prefix("Modulus=").unwrap(), n_hex, "the exported key is the account key");
    let mut fconfig = master.config(json!({"f.example.test": {"key_types": ["ecdsa"]}}));
    fconfig["settings"]["follower_mode"] = json!(true);
    fconfig["directories"]["http_challenge"] = json!(null);
    std::fs::write(&fconfig_path, serde_json::to_vec(&fconfig).unwrap()).unwrap();
    let frun = crate::support::run_binary(&fconfig_path, &[], &[]);
    assert_eq!(frun.code, 0, "{frun:?}");
    assert!(follower_root.join("etc/ssl/certs/f.example.test.ecdsa.pem").exists());
    assert!(
        !follower_root.join("etc/var/journal.jsonl").exists()
            || !std::fs::read_to_string(follower_root.join("etc/var/journal.jsonl"))
                .unwrap()
                .contains("account_registered"),
        "the follower did not register"
    );

    // A name the master never authorized: a clear error naming it.
    fconfig["certificates"] = json!({"g.example.test": {"key_types": ["ecdsa"]}});
    std::fs::write(&fconfig_path, serde_json::to_vec(&fconfig).unwrap()).unwrap();
    let denied = crate::support::run_binary(&fconfig_path, &[], &[]);
    // The authorization error (9), then the certificate's (8): the last wins.
    assert_eq!(denied.code, 8, "{denied:?}");
    assert!(denied.stderr.contains("not authorized: g.example.test"), "{denied:?}");
    assert!(!follower_root.join("etc/ssl/certs/g.example.test.ecdsa.pem").exists());
}

#[test]
fn account_key_type_is_configurable_and_the_account_key_rolls_over() {
    let site = Site::new("acctkey", json!({"k.example.test": {"key_types": ["ecdsa"]}}));
    let mut config = site.config(json!({"k.example.test": {"key_types": ["ecdsa"]}}));
    config["account"]["key_type"] = json!("secp384r1");
    site.write_config_value(&config);
    assert_eq!(site.run(&["--accept"]).code, 0);
    let client: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.path("var/client_key.json")).unwrap()).unwrap();
    assert_eq!(client["kty"], "EC");
    assert_eq!(client["crv"], "P-384");
    let old_key = crypto::account_key_from_json(&std::fs::read(site.path("var/client_key.json")).unwrap()).unwrap();

    let rolled = site.run(&["--account-key-rollover"]);
    assert_eq!(rolled.code, 0, "{rolled:?}");
    let new_key = crypto::account_key_from_json(&std::fs::read(site.path("var/client_key.json")).unwrap()).unwrap();
    assert_ne!(old_key.jwk_thumbprint(), new_key.jwk_thumbprint());
    let events = site.events_of("account_key_rolled_over");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["old_thumbprint"], old_key.jwk_thumbprint().as_str());
    assert_eq!(events[0]["new_thumbprint"], new_key.jwk_thumbprint().as_str());
    // The CA now knows the account by the new key: a renewal signed with it works.
    let renewed = site.run(&["--renew"]);
    assert_eq!(renewed.code, 0, "{renewed:?}");
    assert!(site.events_of("account_registered").len() == 1, "no second registration");
    let archived = crate::support::tree(&site.path("ssl/archive/client"));
    assert!(archived.iter().any(|p| p.ends_with("/client_key.json") && !p.contains("installed/")), "{archived:?}");

    config["account"]["key_type"] = json!("dsa");
    site.write_config_value(&config);
    std::fs::remove_file(site.path("var/client_key.json")).unwrap();
    let bad = site.run(&["--renew"]);
    assert_eq!(bad.code, 4, "{bad:?}");
    assert!(bad.stderr.contains("account.key_type"), "{bad:?}");
}
