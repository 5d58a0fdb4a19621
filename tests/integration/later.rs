//! The real binary on a later day (`ACMEBOT_TEST_CLOCK`, compiled in with the
//! `test-clock` feature): keys that expire roll over with `auto_rollover`
//! (and only warn without it), a CA's renewal window is honoured when its time
//! comes, and a clock that runs behind the journal is said and never lets a
//! line's time go back.

use serde_json::{json, Value};

use acmebot::crypto::PrivateKey;
use acmebot::time::Time;

use crate::support::{run_binary, temp_dir, testca_site, Site};
use crate::testca::{ari_cert_id, TestCa, TestCaOptions};

fn spki(site: &Site, rel: &str) -> String {
    PrivateKey::from_pem(&std::fs::read(site.path(rel)).unwrap()).unwrap().spki_sha256_hex()
}

#[test]
fn expired_keys_roll_over_on_a_later_day_with_auto_rollover_and_warn_without() {
    let site = Site::new("later-rollover", json!({}));
    let mut config = site.config(json!({
        "auto.example.test": {"key_types": ["ecdsa"]},
    }));
    config["private_keys"] = json!({
        "manual.example.test": {"auto_rollover": false, "certificates": {"manual.example.test": {"key_types": ["ecdsa"]}}}
    });
    config["settings"]["expiration_days"] = json!(30);
    config["settings"]["auto_rollover"] = json!(true);
    config["settings"]["hpkp_days"] = json!(0);
    site.write_config_value(&config);
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let backup = spki(&site, "ssl/private/auto.example.test_backup.ecdsa.key");
    let manual_primary = spki(&site, "ssl/private/manual.example.test.ecdsa.key");

    // 29 days later the backup keys are not expired yet: nothing to do.
    let early = site.run_env(&[], &[("ACMEBOT_TEST_CLOCK", "+29d")]);
    assert!(early.code == 0 && early.stdout.is_empty() && early.stderr.is_empty(), "{early:?}");

    // 31 days later: auto_rollover rolls one key over, the other only warns.
    let later = site.run_env(&["--warning-exit-code", "-v"], &[("ACMEBOT_TEST_CLOCK", "+31d")]);
    assert_eq!(later.code, 102, "the key warning's code: {later:?}");
    assert!(later.stdout.contains("Rolling ECDSA private key auto.example.test over to its backup key"), "{later:?}");
    assert!(
        later.stderr.contains("Private key for manual.example.test has expired. Use \"--rollover\" to replace"),
        "{later:?}"
    );
    assert_eq!(spki(&site, "ssl/private/auto.example.test.ecdsa.key"), backup, "the backup key is the primary");
    assert_eq!(spki(&site, "ssl/private/manual.example.test.ecdsa.key"), manual_primary, "without auto_rollover: kept");
    let rolled = site.effects_of("key_rolled_over");
    assert_eq!(rolled.len(), 1, "{rolled:?}");
    // The journal's lines of that run carry its (later) time.
    let journal = site.journal();
    let last_ts = Time::parse(journal.last().unwrap()["ts"].as_str().unwrap()).unwrap();
    let real_now = acmebot::time::Clock::now(&acmebot::time::SystemClock);
    assert!(last_ts.secs() - real_now.secs() > 30 * 86400, "ts {last_ts} is 31 days ahead");

    // Back on today's clock, the journal is ahead: the clock cannot be right,
    // so no renewal decision and no change; the exit code says why.
    let today = site.run(&["--renew"]);
    assert_eq!(today.code, 108, "{today:?}");
    assert_eq!(today.stderr.matches("is behind the journal's last line").count(), 1, "{today:?}");
    assert!(today.stderr.contains("no renewal decision and no change in this run"), "{today:?}");
    assert_eq!(site.journal().len(), journal.len(), "nothing written");
    // What does not depend on time still runs, and never writes a line with
    // an earlier time than the last one: the real clock is kept beside it.
    let compact = site.run(&["--compact"]);
    assert_eq!(compact.code, 0, "{compact:?}");
    let after = site.journal();
    assert!(!after.is_empty());
    for line in &after {
        assert_eq!(Time::parse(line["ts"].as_str().unwrap()).unwrap(), last_ts, "{line}");
        let clock = Time::parse(line["clock"].as_str().expect("the real clock's reading is kept")).unwrap();
        assert!(clock < last_ts, "{line}");
    }
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn a_clock_before_the_build_changes_nothing() {
    let site = Site::new("later-rtc", json!({"rtc.example.test": {"key_types": ["ecdsa"]}}));
    // A router without a real-time clock, booted in 1970 (or at its image's date).
    let run = site.run_env(&["--accept"], &[("ACMEBOT_TEST_CLOCK", "@2000-01-01T00:00:00Z")]);
    assert_eq!(run.code, 108, "{run:?}");
    assert!(run.stderr.contains("is before this program was built"), "{run:?}");
    assert!(site.journal().is_empty(), "nothing journaled");
    assert!(!site.path("var/client_key.json").exists(), "no account key made");
    assert!(!site.path("ssl/private/rtc.example.test.ecdsa.key").exists(), "no key made");
    // With the right time, the next run does it all.
    assert_eq!(site.run(&["--accept"]).code, 0);
}

#[test]
fn a_renewal_window_is_honoured_when_its_time_comes() {
    // A 90-day certificate whose window (the CA's default) runs from 2/3 to 5/6
    // of its lifetime; renewal_days 1, so only the window can make it renew
    // on those days (the time chosen in it is random: it ends 15 days before
    // expiry, so the expiry rule never competes).
    let ca = TestCa::start(TestCaOptions::default());
    let root = temp_dir("later-ari");
    let config_path = testca_site(&root, &ca, json!({"window.example.test": {"key_types": ["ecdsa"]}}), |_| {});
    let first = run_binary(&config_path, &["--accept"], &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let journal = || -> Vec<Value> {
        std::fs::read_to_string(root.join("out/resource/journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let window = journal().into_iter().rev().find(|e| e["type"] == "renewal_info_fetched").unwrap();
    let renew_at = Time::parse(window["renew_at"].as_str().unwrap()).unwrap();
    let before = Time::parse(window["window_start"].as_str().unwrap()).unwrap().plus_secs(-86400);
    let cert_pem = std::fs::read(root.join("out/certificate/window.example.test.ecdsa.pem")).unwrap();
    let der = acmebot::crypto::pem_to_ders(&cert_pem).unwrap().remove(0);

    // A day before the window: the window is asked again (the Retry-After has
    // passed), the time chosen in it is kept, nothing is issued.
    let early = run_binary(&config_path, &[], &[("ACMEBOT_TEST_CLOCK", &format!("@{before}"))]);
    assert!(early.code == 0 && early.stdout.is_empty() && early.stderr.is_empty(), "{early:?}");
    let again = journal().into_iter().rev().find(|e| e["type"] == "renewal_info_fetched").unwrap();
    assert_eq!(again["renew_at"], window["renew_at"], "the chosen time is kept");
    assert_eq!(ca.issued().len(), 1);

    // Just after the chosen time: renewed, replacing the old certificate.
    let due = renew_at.plus_secs(3600);
    let run = run_binary(&config_path, &["-v"], &[("ACMEBOT_TEST_CLOCK", &format!("@{due}"))]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Issuing ECDSA certificate window.example.test (inside the CA's renewal window"),
        "{run:?}"
    );
    assert_eq!(ca.replaced(), vec![ari_cert_id(&der).unwrap()], "the new order named the certificate it replaces");
    assert_eq!(ca.issued().len(), 2);
}

#[test]
fn a_failed_renewal_is_said_on_every_run_until_one_succeeds() {
    let ca = TestCa::start(TestCaOptions::default());
    let root = temp_dir("later-failing");
    let config = testca_site(&root, &ca, json!({"f.example.test": {"key_types": ["ecdsa"]}}), |c| {
        c["settings"]["renewal_days"] = json!(30);
    });
    assert_eq!(run_binary(&config, &["--accept"], &[]).code, 0);
    ca.set_order_problem(Some("maintenance until Friday"));
    // 70 days into a 90-day certificate: due, and the CA refuses.
    let failed = run_binary(&config, &[], &[("ACMEBOT_TEST_CLOCK", "+70d")]);
    assert_eq!(failed.code, 8, "{failed:?}");
    let journal = std::fs::read_to_string(root.join("out/resource/journal.jsonl")).unwrap();
    assert!(journal.contains("\"type\":\"renewal_failed\""), "journaled");
    // Every run after says it, with the expiry and the last error.
    let next = run_binary(&config, &[], &[("ACMEBOT_TEST_CLOCK", "+71d")]);
    assert_eq!(next.code, 8, "{next:?}");
    let said = "ECDSA certificate f.example.test expires";
    assert!(next.stderr.contains(said) && next.stderr.contains(" days); the last renewal attempt ("), "{next:?}");
    assert!(next.stderr.contains("maintenance until Friday"), "{next:?}");
    ca.set_order_problem(None);
    let fixed = run_binary(&config, &[], &[("ACMEBOT_TEST_CLOCK", "+72d")]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    let quiet = run_binary(&config, &[], &[("ACMEBOT_TEST_CLOCK", "+73d")]);
    assert!(quiet.code == 0 && !quiet.stderr.contains(said), "renewed: no more warnings: {quiet:?}");
}
