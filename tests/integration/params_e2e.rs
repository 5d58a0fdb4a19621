//! DH and EC parameters end to end against pebble: made natively after the
//! certificates are installed, written to the param file and appended to
//! the certificate and full key files as the original appends them, checked
//! by real openssl (`dhparam -check`, `ecparam`), kept through a renewal,
//! made again on a rollover, and quiet when nothing changes.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{openssl, Site};

fn certificates() -> Value {
    json!({"example.test": {"alt_names": {"example.test": ["@"]}}})
}

fn dh_block(text: &str) -> String {
    let start = text.find("-----BEGIN DH PARAMETERS-----").expect("a DH block");
    let end = text.find("-----END DH PARAMETERS-----").unwrap() + "-----END DH PARAMETERS-----".len();
    text[start..end].to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn parameters_are_made_after_the_certificates_and_kept_until_a_rollover() {
    let site = Site::new("params-e2e", certificates());
    let mut c = site.config(certificates());
    c["settings"]["dhparam_size"] = json!(1024);
    c["settings"]["ecparam_curve"] = json!(["x448", "secp384r1", "secp256k1"]);
    let log = site.path("hooks.log");
    c["hooks"] = json!({"params_installed": format!("echo {{key_name}} {{certificate_name}} {{params_file}} >> {}", log.display())});
    site.write_config_value(&c);
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Generating 1024 bit Diffie-Hellman parameters for example.test"), "{run:?}");

    let param_file = site.path("ssl/params/example.test_param.pem");
    let params = read(&param_file);
    let ec_expected =
        format!("{}{}", openssl(&["ecparam", "-name", "secp384r1"]), openssl(&["ecparam", "-name", "secp256k1"]));
    // The original's layout: DH, a blank line, the EC blocks (x448 is no EC parameter).
    assert_eq!(params, format!("{}\n\n{ec_expected}", dh_block(&params)));
    let check = std::process::Command::new("openssl")
        .args(["dhparam", "-check", "-noout", "-in", param_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let text = openssl(&["dhparam", "-in", param_file.to_str().unwrap(), "-noout", "-text"]);
    assert!(text.contains("(1024 bit)"), "{text}");
    assert_eq!(crate::support::mode_of(&param_file), 0o640);

    // Appended to the certificate and full key files: "\n" + DH + "\n" + EC.
    let appended = format!("\n{}\n\n{ec_expected}", dh_block(&params));
    for f in ["certs/example.test.rsa.pem", "certs/example.test.ecdsa.pem", "private/example.test_full.rsa.key"] {
        let text = read(&site.path(&format!("ssl/{f}")));
        assert!(text.ends_with(&appended), "{f}:\n{text}");
        assert!(text.contains("-----END CERTIFICATE-----\n\n-----BEGIN DH PARAMETERS-----"), "{f}");
    }
    // The certificate files still read as certificates (openssl, the key match).
    assert!(crate::support::openssl_key_matches_cert(
        &site.path("ssl/private/example.test.rsa.key"),
        &site.path("ssl/certs/example.test.rsa.pem")
    ));
    assert_eq!(site.events_of("params_generated").len(), 1);
    let installed = site.effects_of("params_installed");
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert_eq!(installed[0]["dh_bits"], 1024);
    assert_eq!(installed[0]["ec_curves"], json!(["secp384r1", "secp256k1"]));
    assert_eq!(read(&log).lines().count(), 1);

    // Nothing due: quiet.
    let run = site.run(&[]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{run:?}");

    // A renewal keeps the parameters (in the new certificate files at once).
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("Diffie-Hellman"), "{run:?}");
    assert!(read(&site.path("ssl/certs/example.test.rsa.pem")).ends_with(&appended));
    assert_eq!(site.events_of("params_generated").len(), 1);

    // A rollover makes new ones.
    let run = site.run(&["--rollover", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.events_of("params_generated").len(), 2, "{run:?}");
    let new = read(&param_file);
    assert_ne!(dh_block(&new), dh_block(&params));
    assert!(read(&site.path("ssl/certs/example.test.ecdsa.pem")).contains(&dh_block(&new)));
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn parameter_blocks_the_original_wrote_survive_a_renewal() {
    // An installation whose certificate files carry parameters and no param
    // file (directories.param null), as the original leaves them: a renewal
    // keeps them in the new files.
    let site = Site::new("params-kept", certificates());
    let mut c = site.config(certificates());
    c["directories"]["param"] = Value::Null;
    site.write_config_value(&c);
    assert_eq!(site.run(&["--accept"]).code, 0);
    let dh = openssl(&["dhparam", "512"]);
    let ec = openssl(&["ecparam", "-name", "secp384r1"]);
    for kt in ["rsa", "ecdsa"] {
        let path = site.path(&format!("ssl/certs/example.test.{kt}.pem"));
        let text = read(&path);
        std::fs::write(&path, format!("{text}\n{dh}\n{ec}")).unwrap();
    }
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    for kt in ["rsa", "ecdsa"] {
        let text = read(&site.path(&format!("ssl/certs/example.test.{kt}.pem")));
        assert!(text.ends_with(&format!("\n{dh}\n{ec}")), "{kt}:\n{text}");
    }
    let text = read(&site.path("ssl/private/example.test_full.rsa.key"));
    assert!(text.ends_with(&format!("\n{dh}\n{ec}")), "{text}");
}
