//! Encrypted private keys end to end against pebble: with a passphrase set,
//! no file acmebot writes holds an unencrypted key (primary, backup,
//! previous, full key, the archive and its installed copies) through
//! issuance, renewal and rollover; openssl reads every key file with the
//! passphrase and not without it; `true` takes the passphrase from `--pass`,
//! the environment or standard input; a wrong or missing one is an error
//! naming the key that changes nothing; a passphrase set later encrypts the
//! keys already there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{openssl, tree, Run, Site};

const PASS: &str = "correct horse battery staple";

fn certificates() -> Value {
    json!({"example.test": {"alt_names": {"example.test": ["@"]}}})
}

fn config(site: &Site, passphrase: Value) -> Value {
    let mut c = site.config(certificates());
    c["settings"]["key_passphrase"] = passphrase;
    c["settings"]["key_cipher"] = json!("blowfish");
    c["directories"]["previous_key"] = json!("ssl/previous");
    let log = site.path("hooks.log");
    c["hooks"] = json!({
        // The passphrase reaches a hook through its environment only.
        "private_key_installed": format!("echo \"{{key_type}} {{passphrase}}\" >> {}", log.display())
    });
    c
}

/// Every file under `dir` (the whole installation: keys, certificates,
/// archive, journal, logs).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    tree(dir).into_iter().map(|rel| dir.join(rel)).filter(|p| p.is_file()).collect()
}

/// No file under the installation holds an unencrypted private key, and
/// none but the configuration (which the test wrote it into) and the test
/// hook's own log holds the passphrase.
fn assert_no_plain_key(site: &Site) -> usize {
    let mut encrypted = 0;
    let mine = [site.config_path.clone(), site.path("hooks.log")];
    for path in files_under(&site.path("")).into_iter().filter(|p| !mine.contains(p)) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for plain in
            ["-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"]
        {
            assert!(!text.contains(plain), "{} holds an unencrypted key", path.display());
        }
        assert!(!text.contains(PASS), "{} holds the passphrase", path.display());
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            encrypted += 1;
        }
    }
    encrypted
}

fn openssl_reads(key: &Path, pass: Option<&str>) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args(["pkey", "-in", key.to_str().unwrap(), "-noout"]);
    cmd.arg("-passin").arg(format!("pass:{}", pass.unwrap_or("not the passphrase")));
    cmd.output().unwrap().status.success()
}

fn run_with_stdin(site: &Site, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acmebot"))
        .arg("--config")
        .arg(&site.config_path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn with_a_passphrase_no_file_holds_an_unencrypted_key() {
    let site = Site::new("enc-e2e", certificates());
    site.write_config_value(&config(&site, json!(PASS)));
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("blowfish"), "the default cipher is mapped without a word: {run:?}");
    let keys = ["private/example.test.rsa.key", "private/example.test.ecdsa.key"];
    for k in keys.iter().chain(&["private/example.test_backup.rsa.key", "private/example.test_full.ecdsa.key"]) {
        let path = site.path(&format!("ssl/{k}"));
        assert!(openssl_reads(&path, Some(PASS)), "{k}");
        assert!(!openssl_reads(&path, None), "{k} opens without the passphrase");
    }
    // openssl's reading of the key matches the certificate.
    let key_pub = openssl(&[
        "pkey",
        "-in",
        site.path("ssl/private/example.test.rsa.key").to_str().unwrap(),
        "-passin",
        &format!("pass:{PASS}"),
        "-pubout",
    ]);
    let cert_pub =
        openssl(&["x509", "-in", site.path("ssl/certs/example.test.rsa.pem").to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(key_pub, cert_pub);
    // The hooks got the passphrase through their environment.
    let hooks = std::fs::read_to_string(site.path("hooks.log")).unwrap();
    assert!(hooks.contains(&format!("rsa {PASS}")), "{hooks}");
    let written = site.effects_of("key_file_written");
    assert!(written.len() >= 6, "{written:?}");
    assert!(written.iter().all(|e| e["encryption"] == "pkcs8-pbes2-scrypt-aes-256-cbc"), "{written:?}");

    // Renewal (full key files rewritten), rollover (previous keys, archive).
    for args in [&["--renew"][..], &["--rollover", "--force"]] {
        let run = site.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    assert!(site.path("ssl/previous/example.test_previous.ecdsa.key").exists());
    let encrypted = assert_no_plain_key(&site);
    // primary, backup, previous, full key per key type, and their archived
    // and installed copies.
    assert!(encrypted >= 16, "{encrypted} files with encrypted keys");
    assert!(openssl_reads(&site.path("ssl/previous/example.test_previous.rsa.key"), Some(PASS)));
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn a_passphrase_given_at_run_time_and_a_wrong_one() {
    let site = Site::new("enc-runtime", certificates());
    site.write_config_value(&config(&site, json!(true)));
    // None given: an error naming the key and the ways to give one.
    let run = site.run(&["--accept"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("private key example.test") && run.stderr.contains("--pass"), "{run:?}");
    assert!(!site.path("ssl/private/example.test.rsa.key").exists());

    let run = site.run(&["--accept", "--pass", PASS]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(openssl_reads(&site.path("ssl/private/example.test.rsa.key"), Some(PASS)));
    // The journal holds the command line without the passphrase.
    let journal = std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap();
    assert!(!journal.contains(PASS));

    let before: Vec<(PathBuf, Vec<u8>)> =
        files_under(&site.path("ssl")).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    // The environment, then a line of standard input (cron with a file).
    let run = site.run_env(&["--renew"], &[("ACMEBOT_PASSPHRASE", PASS)]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = run_with_stdin(&site, &["--renew"], &format!("{PASS}\n"));
    assert_eq!(run.code, 0, "{run:?}");

    // A wrong passphrase: an error naming the key file, nothing changed.
    let now: Vec<(PathBuf, Vec<u8>)> =
        files_under(&site.path("ssl")).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    let run = site.run(&["--renew", "--pass", "not-the-right-one"]);
    assert_eq!(run.code, 10, "a key error: {run:?}");
    assert!(run.stderr.contains("example.test") && run.stderr.contains("passphrase"), "{run:?}");
    assert!(!run.stderr.contains("not-the-right-one"), "the passphrase is never shown: {run:?}");
    let after: Vec<(PathBuf, Vec<u8>)> =
        files_under(&site.path("ssl")).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    assert_eq!(after, now, "nothing changed");
    assert_ne!(before.len(), 0);
}

#[test]
fn a_passphrase_set_later_encrypts_the_keys_already_there() {
    let site = Site::new("enc-later", certificates());
    site.write_config_value(&config(&site, Value::Null));
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let spki = |p: &str| {
        openssl(&["pkey", "-in", site.path(p).to_str().unwrap(), "-passin", &format!("pass:{PASS}"), "-pubout"])
    };
    let primary = spki("ssl/private/example.test.rsa.key");
    let backup = spki("ssl/private/example.test_backup.ecdsa.key");
    site.write_config_value(&config(&site, json!(PASS)));
    let run = site.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    // The same keys, now encrypted; the full key files too; no new certificate.
    assert_eq!(spki("ssl/private/example.test.rsa.key"), primary);
    assert_eq!(spki("ssl/private/example.test_backup.ecdsa.key"), backup);
    for f in
        ["private/example.test.rsa.key", "private/example.test_backup.ecdsa.key", "private/example.test_full.rsa.key"]
    {
        assert!(!openssl_reads(&site.path(&format!("ssl/{f}")), None), "{f} is still unencrypted");
        assert!(openssl_reads(&site.path(&format!("ssl/{f}")), Some(PASS)), "{f}");
    }
    assert_eq!(site.effects_of("certificate_installed").len(), 2, "no reissue");
    let run = site.run(&[]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "then quiet: {run:?}");
}
