//! HPKP header files against pebble: pins of primary and backup keys (checked
//! with openssl, independently of acmebot's code), the hook, silence when
//! nothing changed, and a rewrite without reissuing when only they changed.

use std::process::Command;

use serde_json::json;

use crate::support::{mode_of, Site};

/// base64(SHA-256(SPKI DER)) of a key file, computed by openssl.
pub(crate) fn openssl_pin(key_file: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl pkey -in \"$1\" -pubout -outform DER | openssl dgst -sha256 -binary | openssl base64 -A")
        .arg("pin")
        .arg(key_file)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    let pin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(pin.len(), 44, "{pin:?}");
    pin
}

fn config(site: &Site, report_uri: Option<&str>) -> serde_json::Value {
    let mut c = site.config(json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}}}));
    c["directories"]["hpkp"] = json!("ssl/hpkp");
    c["settings"]["hpkp_report_uri"] = json!(report_uri);
    let log = site.path("hooks.log");
    c["hooks"] = json!({
        // A shell line, as the original runs hooks: `;` and redirections, and
        // `{header}` is the whole header line the file holds.
        "hpkp_header_installed": format!("printf '%s|%s|%s\\n' {{key_name}} {{server}} {{hpkp_file}} >> {}; printf '%s' {{header}} > {}.{{server}}", log.display(), log.display())
    });
    c
}

#[test]
fn hpkp_files_pin_primary_and_backup_keys_and_follow_changes() {
    let site = Site::new("hpkp", json!({}));
    site.write_config_value(&config(&site, None));
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");

    // primaries first, then backups, each in key-type order (rsa, ecdsa)
    let pins: Vec<String> = [
        "ssl/private/example.test.rsa.key",
        "ssl/private/example.test.ecdsa.key",
        "ssl/private/example.test_backup.rsa.key",
        "ssl/private/example.test_backup.ecdsa.key",
    ]
    .iter()
    .map(|f| openssl_pin(&site.path(f)))
    .collect();
    let header = |report: &str| {
        let pins: Vec<String> = pins.iter().map(|p| format!(r#"pin-sha256=\"{p}\""#)).collect();
        format!("{}; max-age=5184000; includeSubdomains;{report}", pins.join("; "))
    };
    let apache = site.path("ssl/hpkp/example.test.apache");
    let nginx = site.path("ssl/hpkp/example.test.nginx");
    assert_eq!(
        std::fs::read_to_string(&apache).unwrap(),
        format!("Header always set Public-Key-Pins \"{}\"\n", header(""))
    );
    assert_eq!(
        std::fs::read_to_string(&nginx).unwrap(),
        format!("add_header Public-Key-Pins \"{}\" always;\n", header(""))
    );
    assert_eq!(mode_of(&apache), 0o644);
    assert!(run.stdout.contains("Generating HPKP headers for example.test"), "{run:?}");
    let hooks = std::fs::read_to_string(site.path("hooks.log")).unwrap();
    let mut lines: Vec<&str> = hooks.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![format!("example.test|apache|{}", apache.display()), format!("example.test|nginx|{}", nginx.display())]
    );
    for (server, file) in [("apache", &apache), ("nginx", &nginx)] {
        let got = std::fs::read_to_string(site.path(&format!("hooks.log.{server}"))).unwrap();
        assert_eq!(got, std::fs::read_to_string(file).unwrap(), "{{header}} of {server}");
    }
    let installs = |site: &Site| -> Vec<String> {
        site.events_of("file_installed")
            .iter()
            .filter(|e| e["kind"] == "hpkp")
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(installs(&site).len(), 2, "both files installed in the key's transaction");

    // Nothing changed: silent, journal untouched.
    let journal = std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap();
    let again = site.run(&[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.is_empty() && again.stderr.is_empty(), "{again:?}");
    assert_eq!(std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap(), journal);

    // A lost file and a new report-uri: both files rewritten (the old ones
    // archived), no certificate issued, no key made.
    std::fs::remove_file(&nginx).unwrap();
    site.write_config_value(&config(&site, Some("https://report.example.test/hpkp")));
    let issued_before = site.events_of("certificate_issued").len();
    let run = site.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = r#" report-uri=\"https://report.example.test/hpkp\";"#;
    assert_eq!(
        std::fs::read_to_string(&apache).unwrap(),
        format!("Header always set Public-Key-Pins \"{}\"\n", header(report))
    );
    assert_eq!(
        std::fs::read_to_string(&nginx).unwrap(),
        format!("add_header Public-Key-Pins \"{}\" always;\n", header(report))
    );
    assert_eq!(site.events_of("certificate_issued").len(), issued_before);
    assert_eq!(site.events_of("key_generated").len(), 4);
    assert_eq!(installs(&site).len(), 4);
    assert_eq!(std::fs::read_to_string(site.path("hooks.log")).unwrap().lines().count(), 4);
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "{audit:?}");

    // hpkp_days 0 turns them off: nothing more is written.
    let mut c = config(&site, Some("https://report.example.test/hpkp"));
    c["settings"]["hpkp_days"] = json!(0);
    site.write_config_value(&c);
    std::fs::remove_file(&apache).unwrap();
    let off = site.run(&[]);
    assert_eq!(off.code, 0, "{off:?}");
    assert!(off.stdout.is_empty() && off.stderr.is_empty(), "{off:?}");
    assert!(!apache.exists());
}
