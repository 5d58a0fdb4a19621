//! A migrating user's installation, against pebble: keys whose configured
//! size changed, keys the original made long ago, and hook lines written for
//! the original's shell.

use serde_json::json;

use crate::support::{openssl, Site};

fn rsa_bits(site: &Site, rel: &str) -> String {
    let text = openssl(&["pkey", "-in", site.path(rel).to_str().unwrap(), "-noout", "-text"]);
    text.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_changed_key_size_rolls_the_key_over_as_the_original_does() {
    let site = Site::new("keysize", json!({}));
    let config = |size: u32| {
        let mut c = site.config(json!({"size.example.test": {"key_types": ["rsa"]}}));
        c["settings"]["key_size"] = json!(size);
        // No HPKP: a rollover is safe at once (hpkp_days 60, the default,
        // makes it wait, as in the original; see the warning test below).
        c["settings"]["hpkp_days"] = json!(0);
        c
    };
    site.write_config_value(&config(2048));
    assert_eq!(site.run(&["--accept"]).code, 0);
    let (primary, backup) = ("ssl/private/size.example.test.rsa.key", "ssl/private/size.example.test_backup.rsa.key");
    assert!(rsa_bits(&site, primary).contains("2048 bit"), "{}", rsa_bits(&site, primary));
    let old_backup = std::fs::read(site.path(backup)).unwrap();

    // key_size 3072: the 2048-bit primary is replaced by the backup (safe:
    // no HPKP), a 3072-bit backup is made, the certificate follows.
    let mut pinned = config(3072);
    pinned["settings"]["hpkp_days"] = json!(60);
    site.write_config_value(&pinned);
    let waits = site.run(&[]);
    assert_eq!(waits.code, 0, "{waits:?}");
    assert!(waits.stderr.contains("is younger than the HPKP duration by 60 days, so its RSA key is not replaced"));
    site.write_config_value(&config(3072));
    let first = site.run(&[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(std::fs::read(site.path(primary)).unwrap() == old_backup, "the backup became the primary: {first:?}");
    assert!(rsa_bits(&site, backup).contains("3072 bit"), "{}", rsa_bits(&site, backup));
    // The next run rolls over to the 3072-bit backup, as the original would.
    let second = site.run(&[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(rsa_bits(&site, primary).contains("3072 bit"), "{}", rsa_bits(&site, primary));
    let cert = site.path("ssl/certs/size.example.test.rsa.pem");
    assert!(crate::support::openssl_key_matches_cert(&site.path(primary), &cert));
    assert_eq!(site.effects_of("key_rolled_over").len(), 2);
    // Then nothing changes.
    let third = site.run(&[]);
    assert!(third.code == 0 && third.stdout.is_empty() && third.stderr.is_empty(), "{third:?}");

    // A size aws-lc cannot make (the original could): the 3072-bit keys are
    // kept, with a warning that says what a new key would be.
    site.write_config_value(&config(2560));
    let odd = site.run(&[]);
    assert_eq!(odd.code, 0, "{odd:?}");
    assert!(odd.stderr.contains("a new key will have 3072 bits"), "{odd:?}");
    assert!(!odd.stderr.contains("ERROR"), "{odd:?}");
    assert_eq!(site.effects_of("key_rolled_over").len(), 2, "3072 bits is what 2560 gives here");
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn an_adopted_key_ages_from_its_files_modification_time() {
    let site = Site::new("keyage", json!({}));
    let config = |auto: bool| {
        let mut c = site.config(json!({"age.example.test": {"key_types": ["ecdsa"]}}));
        c["settings"]["expiration_days"] = json!(730);
        c["settings"]["auto_rollover"] = json!(auto);
        c
    };
    site.write_config_value(&config(false));
    assert_eq!(site.run(&["--accept"]).code, 0);
    // The installation as the original leaves it: no journal, keys made
    // three years ago.
    std::fs::remove_file(site.path("var/journal.jsonl")).unwrap();
    for rel in ["ssl/private/age.example.test.ecdsa.key", "ssl/private/age.example.test_backup.ecdsa.key"] {
        let out = std::process::Command::new("touch")
            .args(["-d", "3 years ago", site.path(rel).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let adopted = site.run(&["-v"]);
    assert_eq!(adopted.code, 0, "{adopted:?}");
    assert!(adopted.stdout.contains("Adopted existing ECDSA backup key"), "{adopted:?}");
    assert!(adopted.stderr.contains("has expired. Use \"--rollover\" to replace"), "{adopted:?}");
    let modified: Vec<String> =
        site.events_of("key_adopted").iter().map(|e| e["modified"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(modified.len(), 2, "{modified:?}");
    assert!(modified.iter().all(|m| m.as_str() < "2024-01-01"), "{modified:?}");
    // With auto_rollover it rolls over, as the original would have.
    site.write_config_value(&config(true));
    let rolled = site.run(&[]);
    assert_eq!(rolled.code, 0, "{rolled:?}");
    assert_eq!(site.effects_of("key_rolled_over").len(), 1, "{rolled:?}");
}

#[test]
fn hook_lines_run_in_the_shell_and_values_never_become_code() {
    let site = Site::new("shellhooks", json!({}));
    let mut c = site.config(json!({"hooks.example.test": {"key_types": ["ecdsa"]}}));
    // A directory name full of shell syntax: it must reach the hook as it is.
    let nasty = "ssl/certs $(touch PWNED) `touch PWNED2`;x'q\"";
    c["directories"]["certificate"] = json!(nasty);
    let log = site.path("hooks.log");
    c["hooks"] = json!({
        "certificate_installed": format!("printf '%s\\n' {{certificate_file}} >> {} && echo ok >> {}.and", log.display(), log.display()),
        "private_key_installed": format!("test -z {{passphrase}} && printf '%s|%s\\n' {{key_name}} {{key_type}} | tr a-z A-Z >> {}", log.display()),
        "backup_key_installed": "/nonexistent/hook-program {backup_key_file}"
    });
    site.write_config_value(&c);
    let run = site.run(&["--accept"]);
    // The missing program is a hook error (7), as in the original; the rest ran.
    assert_eq!(run.code, 7, "{run:?}");
    assert!(run.stderr.contains("Hook backup_key_installed returned error, code: 127"), "{run:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    let cert = site.path(&format!("{nasty}/hooks.example.test.ecdsa.pem"));
    assert!(cert.exists());
    assert!(logged.lines().any(|l| l == cert.display().to_string()), "{logged}");
    assert!(logged.lines().any(|l| l == "HOOKS.EXAMPLE.TEST|ECDSA"), "{logged}");
    assert_eq!(std::fs::read_to_string(format!("{}.and", log.display())).unwrap(), "ok\n");
    for planted in ["PWNED", "PWNED2"] {
        assert!(!site.path(planted).exists() && !std::path::Path::new(planted).exists(), "{planted}");
    }
    // The journal names the program, never the filled-in values.
    let runs = site.events_of("hook_run");
    assert!(runs.iter().any(|e| e["program"] == "printf"), "{runs:?}");
}

#[test]
fn files_changed_outside_acmebot_are_taken_over_when_valid_and_reported_when_damaged() {
    let site = Site::new("outside", json!({"out.example.test": {"key_types": ["ecdsa"]}}));
    assert_eq!(site.run(&["--accept"]).code, 0);
    let journal = site.path("var/journal.jsonl");
    let before = std::fs::read(&journal).unwrap();
    let cert = site.path("ssl/certs/out.example.test.ecdsa.pem");
    let older = std::fs::read(&cert).unwrap();
    // "The original renewed once more": newer valid files on disk that the
    // journal (put back to before that renewal) does not know.
    assert_eq!(site.run(&["--renew"]).code, 0);
    let newer = std::fs::read(&cert).unwrap();
    assert_ne!(older, newer);
    std::fs::write(&journal, &before).unwrap();

    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "a valid outside change is a warning, not damage: {audit:?}");
    assert!(audit.stderr.contains("was changed outside acmebot and holds a valid certificate"), "{audit:?}");
    assert!(audit.stdout.contains("were changed outside acmebot, validly"), "{audit:?}");

    // --recover never puts the older certificate back over the newer one.
    let recover = site.run(&["--recover", "-v"]);
    assert_eq!(recover.code, 0, "{recover:?}");
    assert!(std::fs::read(&cert).unwrap() == newer, "the newer certificate stays: {recover:?}");
    assert!(recover.stdout.contains("taken over"), "{recover:?}");
    let clean = site.run(&["--audit"]);
    assert!(clean.code == 0 && clean.stdout.contains("match the journal") && clean.stderr.is_empty(), "{clean:?}");
    let quiet = site.run(&[]);
    assert!(quiet.code == 0 && quiet.stdout.is_empty() && quiet.stderr.is_empty(), "{quiet:?}");

    // Damage: a certificate file that is no certificate is exit 13, and
    // --recover puts the installed one back.
    std::fs::write(&cert, b"garbage\n").unwrap();
    let damaged = site.run(&["--audit"]);
    assert_eq!(damaged.code, 13, "{damaged:?}");
    assert!(damaged.stdout.contains("was altered"), "{damaged:?}");
    assert_eq!(site.run(&["--recover"]).code, 0);
    assert!(std::fs::read(&cert).unwrap() == newer);

    // A plain run takes a valid outside change over as well.
    std::fs::write(&journal, &before).unwrap();
    let run = site.run(&[]);
    assert!(run.code == 0 && run.stdout.is_empty() && run.stderr.is_empty(), "taken over quietly: {run:?}");
    assert!(!site.events_of("file_adopted").is_empty(), "journaled");
    assert!(std::fs::read(&cert).unwrap() == newer, "not reissued: {run:?}");
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{audit:?}");
}

#[test]
fn acme_directory_verify_ssl_is_honoured_as_the_original_does() {
    let site = Site::new("verifyssl", json!({"v.example.test": {"key_types": ["ecdsa"]}}));
    let config = |verify: serde_json::Value| {
        let mut c = site.config(json!({"v.example.test": {"key_types": ["ecdsa"]}}));
        c["settings"]["ca_bundle"] = serde_json::Value::Null;
        c["settings"]["acme_directory_verify_ssl"] = verify;
        c
    };
    // true, and pebble's CA nowhere: the TLS handshake fails (an ACME error).
    site.write_config_value(&config(json!(true)));
    let refused = site.run(&["--accept"]);
    assert_eq!(refused.code, 8, "{refused:?}");
    // A path: that CA bundle is trusted.
    site.write_config_value(&config(json!(site.pebble.ca_pem.clone())));
    let bundle = site.run(&["--accept"]);
    assert_eq!(bundle.code, 0, "{bundle:?}");
    assert!(bundle.stderr.is_empty(), "{bundle:?}");
    // false: no verification, and a warning on every run.
    site.write_config_value(&config(json!(false)));
    let unverified = site.run(&["--renew"]);
    assert_eq!(unverified.code, 0, "{unverified:?}");
    let again = site.run(&[]);
    for run in [&unverified, &again] {
        assert!(
            run.stderr.contains(
                "settings.acme_directory_verify_ssl is false: the ACME server's TLS certificate is not verified"
            ),
            "{run:?}"
        );
    }
}
