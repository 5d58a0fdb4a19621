//! Differential tests: the Python original (acmebot 2.17.3, installed into
//! `target/original-venv` by `scripts/install-deps`) and this binary run on the
//! same configurations against the same kind of pebble, and what they do is
//! compared side by side: taking over each other's installation, the files
//! and modes of a first run, the arguments of every hook, the exit codes of
//! failures, and the original's own example configurations.
//!
//! A check that finds the two tools apart does not stop the test: every
//! difference of a test is collected and the test fails once, listing them all.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::peers::PebbleOptions;
use crate::support::{openssl, openssl_key_matches_cert, Run, Site};

const ORIGINAL_VERSION: &str = "2.17.3";

/// The build directory (`CARGO_TARGET_DIR` or `target/`), where
/// `scripts/install-deps` puts the original.
fn build_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    }
}

/// The original's command, `target/original-venv/bin/acmebot`. Never skipped:
/// without it the test fails and says how to install it.
fn original_program() -> PathBuf {
    let program = build_dir().join("original-venv/bin/acmebot");
    assert!(
        program.is_file(),
        "the Python original acmebot {ORIGINAL_VERSION} is not installed at {}: run scripts/install-deps",
        program.display()
    );
    program
}

/// A file of the original's unpacked source distribution (`config/...`).
fn original_source_file(rel: &str) -> PathBuf {
    let path = build_dir().join(format!("original-sdist/acmebot-{ORIGINAL_VERSION}")).join(rel);
    assert!(
        path.is_file(),
        "{} is missing (the original's source distribution): run scripts/install-deps",
        path.display()
    );
    path
}

/// Runs the original on `site`'s configuration, trusting pebble's HTTPS
/// certificate the way Python's requests and ssl modules are told to.
fn original(site: &Site, args: &[&str]) -> Run {
    run_original(&site.config_path, Some(&site.pebble.ca_pem), args)
}

fn run_original(config: &Path, ca_pem: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(original_program());
    cmd.arg("--config").arg(config).args(args).stdin(Stdio::null());
    cmd.current_dir(config.parent().unwrap());
    for var in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "ACMEBOT_PASSPHRASE"] {
        cmd.env_remove(var);
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(ca) = ca_pem {
        cmd.env("REQUESTS_CA_BUNDLE", ca).env("SSL_CERT_FILE", ca);
    }
    let out = cmd.output().expect("run the original");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs this binary on `site`'s configuration (both tools resolve relative
/// directories against the configuration file's directory, not the working
/// directory; the original is run in that directory so that nothing it might
/// write to its working directory lands outside the test's tree).
fn ours(site: &Site, args: &[&str]) -> Run {
    site.run(args)
}

/// Every difference a test finds, reported together at its end.
#[derive(Default)]
struct Differences(Vec<String>);

impl Differences {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn same<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, original: T, ours: T) {
        if original != ours {
            self.0.push(format!("{what}:\n    original:    {original:?}\n    this binary: {ours:?}"));
        }
    }

    /// Like `same`, with the two sides named.
    fn same_as<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, reference: (&str, T), got: (&str, T)) {
        if reference.1 != got.1 {
            self.0.push(format!("{what}:\n    {}: {:?}\n    {}: {:?}", reference.0, reference.1, got.0, got.1));
        }
    }

    fn assert_none(self, test: &str) {
        assert!(
            self.0.is_empty(),
            "{test}: {} difference(s) from the original:\n- {}",
            self.0.len(),
            self.0.join("\n- ")
        );
    }
}

/// pebble without badNonce rejections: the original's ACME library retries a
/// badNonce only once, and these tests compare behaviour, not resilience.
fn pebble_options(env: &[(&str, &str)]) -> PebbleOptions {
    PebbleOptions {
        nonce_reject: 0,
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn example() -> Value {
    json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}}})
}

/// The configuration both tools run on: the integration tests' usual one
/// (every directory under the test's tree, http-01 through pebble's challenge
/// web root), with `reload_zone_command` off and 1024-bit DH parameters. The
/// original runs the reload command after every certificate it installs (for
/// TLSA records), and its default, `/etc/bind/reload-zone.sh`, does not exist
/// here (the hook test runs one). The original makes DH parameters with
/// `openssl dhparam`, which takes 5-35 s for 2048 bits on this machine.
///
/// DH and EC parameters are off in both (`dhparam_size` 0, `ecparam_curve`
/// empty, which the original honours), for time: the original's 2048-bit
/// `openssl dhparam` takes 5-35 s here. The test of encrypted keys and
/// parameters turns them on (512 bits). Everything else is compared.
fn shared_config(site: &Site, certificates: Value) -> Value {
    let mut config = site.config(certificates);
    config["settings"]["reload_zone_command"] = Value::Null;
    config["settings"]["dhparam_size"] = json!(0);
    config["settings"]["ecparam_curve"] = json!([]);
    config
}

/// Differences kept on purpose (each is in the README's migration table):
/// `None` when `rel`'s `what` must be the same in both tools.
fn kept_difference(rel: &str, what: &str) -> Option<&'static str> {
    match (rel, what) {
        ("log/acmebot.log", "contents") => Some("the log has a time stamp on every line, no \"acmebot executed at\" header"),
        ("run", "mode") => Some("the pid directory is made 0755, never world-writable (the original makes it 0777)"),
        ("ssl/archive", "only this binary") => Some("the archive of installed files, for --recover and roll-back"),
        ("var/journal.jsonl", "only this binary") => Some("the event journal"),
        ("var/registration.json", "contents") => {
            Some("registration.json keeps the account's orders URL and the terms of service agreed to; the original reads it")
        }
        _ => None,
    }
}

/// A PEM file's shape without the original's comment lines (`<name> issued
/// at <date> UTC`, the issuer's name above each chain certificate), which
/// this binary does not write: the blocks and their order must be the same.
fn pem_blocks(shape: &[String]) -> Vec<String> {
    shape.iter().filter(|l| l.starts_with("-----BEGIN ")).cloned().collect()
}

fn site_with(name: &str, certificates: Value, env: &[(&str, &str)]) -> Site {
    let site = Site::with_pebble(name, certificates.clone(), pebble_options(env));
    site.write_config_value(&shared_config(&site, certificates));
    site
}

fn site(name: &str, certificates: Value) -> Site {
    site_with(name, certificates, &[])
}

const KEY_TYPES: [&str; 2] = ["rsa", "ecdsa"];

/// The installation's files whose bytes matter (keys, certificates, chains,
/// params, account), relative to the configuration's directory.
fn installation(site: &Site) -> BTreeMap<String, Vec<u8>> {
    let etc = site.path("");
    let mut files = BTreeMap::new();
    for dir in ["ssl/private", "ssl/certs", "ssl/params", "ssl/hpkp"] {
        for rel in crate::support::tree(&site.path(dir)) {
            let rel = format!("{dir}/{rel}");
            files.insert(rel.clone(), std::fs::read(etc.join(&rel)).unwrap());
        }
    }
    for rel in ["var/client_key.json", "var/registration.json"] {
        if let Ok(bytes) = std::fs::read(etc.join(rel)) {
            files.insert(rel.to_string(), bytes);
        }
    }
    files
}

fn key_files(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(k, _)| k.ends_with(".key") && !k.contains("_full."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn account_files(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files.iter().filter(|(k, _)| k.starts_with("var/")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The serial number of the leaf in a certificate file, by openssl.
fn serial(site: &Site, rel: &str) -> String {
    openssl(&["x509", "-in", site.path(rel).to_str().unwrap(), "-noout", "-serial"]).trim().to_string()
}

/// Facts every complete first issuance of `example.test` has, whoever made it:
/// the account, primary and backup keys of both types, certificates for both
/// names that match the primary (not the backup) key.
fn assert_complete_installation(site: &Site, who: &str) {
    for rel in ["var/client_key.json", "var/registration.json"] {
        assert!(site.path(rel).is_file(), "{who}: {rel} missing");
    }
    for kt in KEY_TYPES {
        let cert = site.path(&format!("ssl/certs/example.test.{kt}.pem"));
        let primary = site.path(&format!("ssl/private/example.test.{kt}.key"));
        let backup = site.path(&format!("ssl/private/example.test_backup.{kt}.key"));
        for p in [&cert, &primary, &backup] {
            assert!(p.is_file(), "{who}: {} missing", p.display());
        }
        assert!(openssl_key_matches_cert(&primary, &cert), "{who}: {kt} certificate matches its primary key");
        assert!(!openssl_key_matches_cert(&backup, &cert), "{who}: {kt} backup key differs from the primary");
        let text = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-ext", "subjectAltName"]);
        assert!(text.contains("DNS:example.test") && text.contains("DNS:www.example.test"), "{who}: {text}");
    }
}

fn serials(site: &Site) -> Vec<String> {
    KEY_TYPES.iter().map(|kt| serial(site, &format!("ssl/certs/example.test.{kt}.pem"))).collect()
}

fn quiet(run: &Run) -> bool {
    run.code == 0 && run.stdout.is_empty() && run.stderr.is_empty()
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// (a) The original issues; this binary takes over its account, keys and
/// certificates without registering or generating anything, is as quiet as
/// the original's own second run, and renews with the same keys.
#[test]
fn this_binary_takes_over_an_installation_of_the_original() {
    let site = site("orig-takeover", example());
    let first = original(&site, &["--accept"]);
    assert_eq!(first.code, 0, "the original's first run: {first:?}");
    assert_complete_installation(&site, "the original");
    let issued = installation(&site);

    // The original's own second run: the reference for a plain run.
    let original_again = original(&site, &[]);
    assert_eq!(original_again.code, 0, "{original_again:?}");
    assert_eq!(installation(&site), issued, "the original's second run changes nothing");

    let mut d = Differences::default();
    let plain = ours(&site, &[]);
    d.same("plain run after the original's issuance: exit code", original_again.code, plain.code);
    d.same("plain run after the original's issuance: stdout", &original_again.stdout, &plain.stdout);
    d.same("plain run after the original's issuance: stderr", &original_again.stderr, &plain.stderr);
    let after = installation(&site);
    d.same("account files after taking over", account_files(&issued), account_files(&after));
    d.same("key files after taking over", key_files(&issued), key_files(&after));
    d.check(after == issued, || {
        let changed: std::collections::BTreeSet<&String> =
            after.keys().chain(issued.keys()).filter(|k| after.get(*k) != issued.get(*k)).collect();
        format!("files changed by the plain run after the original's issuance: {changed:?}")
    });
    let again = ours(&site, &[]);
    d.check(quiet(&again), || format!("this binary's second plain run is not quiet: {again:?}"));

    // A forced renewal: new certificates, the same keys, the same account.
    let before = serials(&site);
    let renewed = ours(&site, &["--renew"]);
    assert_eq!(renewed.code, 0, "this binary's --renew: {renewed:?}");
    assert_complete_installation(&site, "this binary's --renew");
    let after_renew = installation(&site);
    for (old, new) in before.iter().zip(serials(&site)) {
        d.check(*old != new, || format!("--renew did not replace the certificate with {old}"));
    }
    d.same("key files after this binary's --renew", key_files(&issued), key_files(&after_renew));
    d.same("account files after this binary's --renew", account_files(&issued), account_files(&after_renew));

    // The original renews the same way (-R) on the same files: the reference
    // for what a renewal prints.
    let before = serials(&site);
    let original_renew = original(&site, &["-R"]);
    assert_eq!(original_renew.code, 0, "the original's -R: {original_renew:?}");
    for (old, new) in before.iter().zip(serials(&site)) {
        assert_ne!(*old, new, "the original's -R replaces the certificates");
    }
    d.same_as(
        "key files",
        ("as the original made them", key_files(&issued)),
        ("after the original's -R on what this binary renewed", key_files(&installation(&site))),
    );
    d.same("--renew / -R: stdout lines", sorted_lines(&original_renew.stdout), sorted_lines(&renewed.stdout));
    d.same("--renew / -R: stderr", &original_renew.stderr, &renewed.stderr);
    let last = ours(&site, &[]);
    d.same_as(
        "plain run after the original's -R: (exit code, stdout, stderr)",
        ("the original's (quiet, as its second run above)", (0, "", "")),
        ("this binary's", (last.code, last.stdout.as_str(), last.stderr.as_str())),
    );
    d.assert_none("the original issues, this binary takes over");
}

/// (b) This binary issues; the original takes over without registering or
/// generating anything, is quiet, and renews (-R) with the same keys.
#[test]
fn the_original_takes_over_an_installation_of_this_binary() {
    let site = site("ours-takeover", example());
    let first = ours(&site, &["--accept"]);
    assert_eq!(first.code, 0, "this binary's first run: {first:?}");
    assert_complete_installation(&site, "this binary");
    let issued = installation(&site);
    let ours_again = ours(&site, &[]);
    assert!(quiet(&ours_again), "this binary's own second run: {ours_again:?}");

    let mut d = Differences::default();
    // The original on an installation of its own is quiet (test (a) checks
    // that too); on this binary's it must be the same.
    let plain = original(&site, &[]);
    d.same_as(
        "the original's plain run: (exit code, stdout, stderr)",
        ("on an installation of its own", (0, "", "")),
        ("on this binary's installation", (plain.code, plain.stdout.as_str(), plain.stderr.as_str())),
    );
    let after = installation(&site);
    d.same_as(
        "account files",
        ("as this binary made them", account_files(&issued)),
        ("after the original's plain run", account_files(&after)),
    );
    d.check(after == issued, || {
        let changed: std::collections::BTreeSet<&String> =
            after.keys().chain(issued.keys()).filter(|k| after.get(*k) != issued.get(*k)).collect();
        format!("files the original's plain run changed in this binary's installation: {changed:?}")
    });

    let before = serials(&site);
    let renewed = original(&site, &["-R"]);
    d.same_as(
        "the original's -R: (exit code, stderr)",
        ("on an installation of its own (test (a))", (0, "")),
        ("on this binary's installation", (renewed.code, renewed.stderr.as_str())),
    );
    assert_complete_installation(&site, "the original's -R");
    for (old, new) in before.iter().zip(serials(&site)) {
        d.check(*old != new, || format!("the original's -R did not replace the certificate with {old}"));
    }
    let after_renew = installation(&site);
    d.same_as(
        "key files",
        ("as this binary made them", key_files(&issued)),
        ("after the original's -R", key_files(&after_renew)),
    );
    d.same_as(
        "account files",
        ("as this binary made them", account_files(&issued)),
        ("after the original's -R", account_files(&after_renew)),
    );
    d.check(!renewed.stdout.contains("Generating"), || format!("the original generated something: {renewed:?}"));
    let last = original(&site, &[]);
    d.same_as(
        "the original's plain run after its -R: (exit code, stdout, stderr)",
        ("on an installation of its own", (0, "", "")),
        ("on this binary's installation", (last.code, last.stdout.as_str(), last.stderr.as_str())),
    );
    d.assert_none("this binary issues, the original takes over");
}

/// One entry of a listing: kind, mode, owner and group, and for files their
/// shape (see `shape`).
#[derive(Debug, PartialEq)]
struct Entry {
    kind: &'static str,
    mode: String,
    owner: String,
    shape: Vec<String>,
}

fn user_name(uid: u32) -> String {
    // SAFETY: getpwuid returns null or a pointer to a static record.
    let pw = unsafe { libc::getpwuid(uid) };
    if pw.is_null() {
        return uid.to_string();
    }
    // SAFETY: pw_name is a NUL-terminated string in that record.
    unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) }.to_string_lossy().into_owned()
}

fn group_name(gid: u32) -> String {
    // SAFETY: getgrgid returns null or a pointer to a static record.
    let gr = unsafe { libc::getgrgid(gid) };
    if gr.is_null() {
        return gid.to_string();
    }
    // SAFETY: gr_name is a NUL-terminated string in that record.
    unsafe { std::ffi::CStr::from_ptr((*gr).gr_name) }.to_string_lossy().into_owned()
}

/// Every file and directory under `dir` (not following links), relative.
fn listing(dir: &Path, skip: &[&str]) -> BTreeMap<String, Entry> {
    fn walk(base: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<String, Entry>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let kind = if meta.file_type().is_symlink() {
                "link"
            } else if meta.is_dir() {
                "dir"
            } else {
                "file"
            };
            let shape = if kind == "file" { shape(&std::fs::read(&p).unwrap(), &rel) } else { Vec::new() };
            out.insert(
                rel,
                Entry {
                    kind,
                    mode: format!("{:04o}", meta.mode() & 0o7777),
                    owner: format!("{}:{}", user_name(meta.uid()), group_name(meta.gid())),
                    shape,
                },
            );
            if kind == "dir" {
                walk(base, &p, skip, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// What a file is made of, without what differs from one issuance to the
/// next: PEM blocks by label, other text lines with every word that holds a
/// digit replaced by `#` (dates, serials, pebble's random CA names), JSON as
/// its skeleton of keys and value types.
fn shape(bytes: &[u8], rel: &str) -> Vec<String> {
    fn skeleton(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let mut inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {}", skeleton(v))).collect();
                inner.sort();
                format!("{{{}}}", inner.join(", "))
            }
            Value::Array(a) => format!("[{}]", a.first().map(skeleton).unwrap_or_default()),
            Value::String(_) => "string".into(),
            Value::Number(_) => "number".into(),
            Value::Bool(_) => "bool".into(),
            Value::Null => "null".into(),
        }
    }
    if rel.ends_with(".json") {
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            return vec![skeleton(&v)];
        }
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut in_pem = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            in_pem = true;
            out.push(line.to_string());
        } else if line.starts_with("-----END ") {
            in_pem = false;
        } else if !in_pem {
            let words: Vec<&str> =
                line.split(' ').map(|w| if w.chars().any(|c| c.is_ascii_digit()) { "#" } else { w }).collect();
            out.push(words.join(" "));
        }
    }
    if rel.ends_with(".jsonl") {
        out.truncate(1);
    }
    out
}

fn root_certificates(site: &Site) {
    let (status, root) = site.pebble.management_get("/roots/0");
    assert_eq!(status, 200);
    for kt in KEY_TYPES {
        std::fs::write(site.path(&format!("root_cert.{kt}.pem")), &root).unwrap();
    }
}

/// (c) A first run of each in two fresh trees: the same files and
/// directories, with the same modes, owners and contents' shapes.
#[test]
fn a_first_run_makes_the_same_files_with_the_same_modes_and_owners() {
    let configure = |site: &Site| {
        let mut config = shared_config(site, example());
        config["directories"]["hpkp"] = json!("ssl/hpkp");
        config["settings"]["log_level"] = json!("normal");
        site.write_config_value(&config);
        root_certificates(site);
    };
    let theirs = site("files-original", example());
    configure(&theirs);
    let mine = site("files-ours", example());
    configure(&mine);
    let first_theirs = original(&theirs, &["--accept"]);
    assert_eq!(first_theirs.code, 0, "the original's first run: {first_theirs:?}");
    let first_mine = ours(&mine, &["--accept"]);

    let mut d = Differences::default();
    d.same("first run: exit code", first_theirs.code, first_mine.code);
    d.same("first run: stderr", first_theirs.stderr.as_str(), first_mine.stderr.as_str());
    let skip = ["acmebot.json", "root_cert.rsa.pem", "root_cert.ecdsa.pem"];
    let a = listing(&theirs.path(""), &skip);
    let b = listing(&mine.path(""), &skip);
    // An entry only one tool made is named once, with the count of what it holds.
    let only = |rel: &str, this: &BTreeMap<String, Entry>, other: &BTreeMap<String, Entry>| -> Option<String> {
        let parent_only = Path::new(rel).ancestors().skip(1).any(|p| {
            let p = p.display().to_string();
            !p.is_empty() && this.contains_key(&p) && !other.contains_key(&p)
        });
        if parent_only {
            return None;
        }
        let e = &this[rel];
        let under = this.keys().filter(|k| k.starts_with(&format!("{rel}/"))).count();
        let held = if under > 0 { format!(", holding {under} entries") } else { String::new() };
        Some(format!("{rel} ({} {} {}{held})", e.kind, e.mode, e.owner))
    };
    for (rel, e) in &a {
        match b.get(rel) {
            None => {
                if let Some(what) = only(rel, &a, &b) {
                    d.0.push(format!("{what}: made by the original, not by this binary"));
                }
            }
            Some(f) => {
                d.same(&format!("{rel}: kind"), e.kind, f.kind);
                if kept_difference(rel, "mode").is_none() {
                    d.same(&format!("{rel}: mode"), &e.mode, &f.mode);
                }
                d.same(&format!("{rel}: owner:group"), &e.owner, &f.owner);
                let pem = e.shape.iter().any(|l| l.starts_with("-----BEGIN "));
                if pem {
                    d.same(&format!("{rel}: PEM blocks"), pem_blocks(&e.shape), pem_blocks(&f.shape));
                } else if kept_difference(rel, "contents").is_none() {
                    d.same(&format!("{rel}: contents (shape)"), &e.shape, &f.shape);
                }
            }
        }
    }
    for rel in b.keys() {
        if !a.contains_key(rel) && kept_difference(rel, "only this binary").is_none() {
            if let Some(what) = only(rel, &b, &a) {
                d.0.push(format!("{what}: made by this binary, not by the original"));
            }
        }
    }
    for (who, site) in [("the original", &theirs), ("this binary", &mine)] {
        let left = crate::support::tree(&site.pebble.webroot);
        d.check(left.is_empty(), || format!("{who} left challenge files behind: {left:?}"));
    }
    d.assert_none("first runs side by side");
}

/// The hook logger: one file per call under `dir`, named by the time of the
/// call, holding its arguments NUL-terminated (an HPKP header has newlines).
fn hook_logger(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("calls")).unwrap();
    let script = dir.join("log-hook");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nf=$(mktemp \"{0}/calls/$(date +%s%N).XXXXXX\")\nprintf '%s\\0' \"$@\" > \"$f\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Every hook the manual lists, with every field it documents.
const HOOKS: [(&str, &[&str]); 17] = [
    ("set_dns_challenge", &["domain", "zone", "challenge"]),
    ("clear_dns_challenge", &["domain", "zone", "challenge"]),
    ("dns_zone_update", &["zone"]),
    ("set_http_challenge", &["domain", "challenge_file"]),
    ("clear_http_challenge", &["domain", "challenge_file"]),
    (
        "private_key_rollover",
        &["key_name", "key_type", "backup_key_file", "private_key_file", "previous_key_file", "passphrase"],
    ),
    ("private_key_installed", &["key_name", "key_type", "private_key_file", "passphrase"]),
    ("backup_key_installed", &["key_name", "key_type", "backup_key_file", "passphrase"]),
    ("previous_key_installed", &["key_name", "key_type", "previous_key_file", "passphrase"]),
    ("hpkp_header_installed", &["key_name", "server", "header", "hpkp_file"]),
    ("certificate_installed", &["key_name", "key_type", "certificate_name", "certificate_file"]),
    ("full_certificate_installed", &["key_name", "key_type", "certificate_name", "full_certificate_file"]),
    ("chain_installed", &["key_name", "key_type", "certificate_name", "chain_file"]),
    ("full_key_installed", &["key_name", "key_type", "certificate_name", "full_key_file"]),
    ("params_installed", &["key_name", "certificate_name", "params_file"]),
    ("sct_installed", &["key_name", "key_type", "certificate_name", "ct_log_name", "sct_file"]),
    ("ocsp_installed", &["key_name", "key_type", "certificate_name", "ocsp_file"]),
];

/// The calls logged so far (in call order), normalised: the test's tree as
/// `<ROOT>`, challenge tokens as `<token>`, HPKP pins as `<pin>`; the log is
/// emptied.
fn hook_calls(site: &Site, log_dir: &Path) -> Vec<Vec<String>> {
    let root = site.root.display().to_string();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(log_dir.join("calls")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut calls = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        std::fs::remove_file(&f).unwrap();
        let mut args: Vec<String> =
            bytes.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).replace(&root, "<ROOT>")).collect();
        args.pop(); // after the last NUL
        if args.first().is_some_and(|h| h.ends_with("_http_challenge")) {
            if let Some(file) = args.get_mut(2) {
                if let Some((dir, _token)) = file.rsplit_once('/') {
                    *file = format!("{dir}/<token>");
                }
            }
        }
        for a in args.iter_mut() {
            while let Some(start) = a.find("pin-sha256=\\\"") {
                let from = start + "pin-sha256=\\\"".len();
                let Some(len) = a[from..].find("\\\"") else { break };
                a.replace_range(start..from + len + 2, "PIN-SHA256=<pin>");
            }
        }
        calls.push(args);
    }
    calls
}

/// The calls one tool made and the other did not (a multiset difference).
fn calls_missing(from: &[Vec<String>], other: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut rest: Vec<&Vec<String>> = other.iter().collect();
    let mut missing = Vec::new();
    for c in from {
        match rest.iter().position(|o| *o == c) {
            Some(i) => {
                rest.remove(i);
            }
            None => missing.push(c.clone()),
        }
    }
    missing
}

/// (d) Every hook of the manual, the zone reload command and a service's
/// reload command log their arguments; a first issuance, then a forced key
/// rollover, by each tool in its own tree: the same calls with the same
/// arguments.
#[test]
fn hooks_receive_the_same_arguments() {
    let configure = |site: &Site| -> PathBuf {
        let log_dir = site.root.join("hooks");
        let logger = hook_logger(&log_dir);
        let reload = log_dir.join("reload-zone");
        std::fs::write(&reload, format!("#!/bin/sh\nexec {} reload_zone_command \"$@\"\n", logger.display())).unwrap();
        std::fs::set_permissions(&reload, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let certificates =
            json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}, "services": ["nginx"]}});
        let mut config = shared_config(site, certificates);
        let hooks: serde_json::Map<String, Value> = HOOKS
            .iter()
            .map(|(name, fields)| {
                let args: Vec<String> = fields.iter().map(|f| format!("{{{f}}}")).collect();
                (name.to_string(), json!(format!("{} {name} {}", logger.display(), args.join(" "))))
            })
            .collect();
        config["hooks"] = Value::Object(hooks);
        config["services"] = json!({"nginx": format!("{} service nginx", logger.display())});
        config["settings"]["reload_zone_command"] = json!(reload);
        config["directories"]["hpkp"] = json!("ssl/hpkp");
        config["directories"]["previous_key"] = json!("ssl/private");
        site.write_config_value(&config);
        root_certificates(site);
        log_dir
    };
    // pebble reuses every valid authorization (as Let's Encrypt does within
    // its reuse window), so which challenges are set does not depend on
    // chance: a name validated twice in one run shows in the calls.
    let reuse = [("PEBBLE_AUTHZREUSE", "100")];
    let theirs = site_with("hooks-original", example(), &reuse);
    let their_log = configure(&theirs);
    let mine = site_with("hooks-ours", example(), &reuse);
    let my_log = configure(&mine);

    let mut d = Differences::default();
    for (phase, args) in [("first issuance", &["--accept"][..]), ("forced key rollover (-r -F)", &["-r", "-F"][..])] {
        let run_theirs = original(&theirs, args);
        assert_eq!(run_theirs.code, 0, "the original's {phase}: {run_theirs:?}");
        let run_mine = ours(&mine, args);
        d.same(&format!("{phase}: exit code"), run_theirs.code, run_mine.code);
        let mut a = hook_calls(&theirs, &their_log);
        let mut b = hook_calls(&mine, &my_log);
        // Kept on purpose (the README's migration table): the original runs
        // reload_zone_command for every zone without an update key after it
        // installs certificates; this binary follows the manual ("Zone Update
        // Keys"): a zone whose names are all authorized over http-01 is not
        // a local DNS zone. And this binary orders RSA and ECDSA certificates
        // at once, so a CA that does not reuse pending authorizations (pebble;
        // Let's Encrypt does reuse them) validates a name once per order: the
        // same challenge hook calls, repeated.
        a.retain(|c| c[0] != "reload_zone_command");
        let mut seen = Vec::new();
        b.retain(|c| {
            !c[0].ends_with("_http_challenge") || {
                let new = !seen.contains(c);
                seen.push(c.clone());
                new
            }
        });
        assert!(!a.is_empty(), "the original called no hook in its {phase}");
        let mut sorted_a = a.clone();
        sorted_a.sort();
        let mut sorted_b = b.clone();
        sorted_b.sort();
        if sorted_a != sorted_b {
            d.0.push(format!(
                "{phase}: hook calls differ\n    only the original: {:?}\n    only this binary:  {:?}\n    the original, in order: {:?}\n    this binary, in order:  {:?}",
                calls_missing(&sorted_a, &sorted_b),
                calls_missing(&sorted_b, &sorted_a),
                a.iter().map(|c| c[0].as_str()).collect::<Vec<_>>(),
                b.iter().map(|c| c[0].as_str()).collect::<Vec<_>>(),
            ));
        }
    }
    d.assert_none("hooks side by side");
}

/// Files under `ssl/` after a run, relative, but for the archive, where this
/// binary keeps copies of what it installed (test (c) compares the archive).
fn installed(site: &Site) -> Vec<String> {
    crate::support::tree(&site.path("ssl")).into_iter().filter(|p| !p.starts_with("archive/")).collect()
}

/// (e) The same failure gives the same exit code, and leaves the same files.
#[test]
fn the_same_failure_gives_the_same_exit_code() {
    type Setup = Box<dyn Fn(&Site)>;
    let with_certificates = |certificates: Value| -> Setup {
        Box::new(move |site: &Site| site.write_config_value(&shared_config(site, certificates.clone())))
    };
    let scenarios: Vec<(&str, Setup, Vec<String>)> = vec![
        (
            "malformed JSON",
            Box::new(|site: &Site| {
                std::fs::write(&site.config_path, "{\"account\": {\"email\": \"admin@example.test\"},\n").unwrap();
            }),
            vec![],
        ),
        (
            "configuration file missing",
            Box::new(|site: &Site| std::fs::remove_file(&site.config_path).unwrap()),
            vec![],
        ),
        (
            "unknown private key type (key_types [\"dsa\"])",
            with_certificates(
                json!({"example.test": {"alt_names": {"example.test": ["@", "www"]}, "key_types": ["dsa"]}}),
            ),
            vec![],
        ),
        (
            "failed authorization (www's challenge file not served)",
            Box::new(|site: &Site| {
                let mut config = shared_config(site, example());
                config["http_challenges"] = json!({"www.example.test": site.root.join("not-served")});
                site.write_config_value(&config);
            }),
            vec![],
        ),
        (
            "ACME error (a name pebble refuses: rejectedIdentifier)",
            with_certificates(json!({"example.test": {"alt_names": {"example.test": ["@", "blocked"]}}})),
            vec!["blocked.example.test".to_string()],
        ),
        (
            "missing hook program",
            Box::new(|site: &Site| {
                let mut config = shared_config(site, example());
                config["hooks"] = json!({"certificate_installed": "/nonexistent/acmebot-hook {certificate_file}"});
                site.write_config_value(&config);
            }),
            vec![],
        ),
    ];
    let mut d = Differences::default();
    for (i, (what, setup, blocked)) in scenarios.into_iter().enumerate() {
        let make = |who: &str| {
            let opts = PebbleOptions { domain_blocklist: blocked.clone(), ..pebble_options(&[]) };
            let site = Site::with_pebble(&format!("fail{i}-{who}"), example(), opts);
            setup(&site);
            site
        };
        let theirs = make("original");
        let mine = make("ours");
        let a = original(&theirs, &["--accept"]);
        let b = ours(&mine, &["--accept"]);
        d.same(&format!("{what}: exit code"), a.code, b.code);
        d.same(&format!("{what}: files installed under ssl/"), installed(&theirs), installed(&mine));
        d.check(!b.stderr.is_empty(), || format!("{what}: this binary printed no error: {b:?}"));
        eprintln!("== {what}\n-- the original: {a:?}\n-- this binary: {b:?}");
    }
    d.assert_none("failures side by side");
}

/// The last "line N[,] column M" in a message of the original (Python's
/// JSON and YAML parsers).
fn error_position(message: &str) -> (u32, u32) {
    let number_after = |text: &str, word: &str| -> Option<(u32, usize)> {
        let at = text.rfind(word)? + word.len();
        let digits: String = text[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
        Some((digits.parse().ok()?, at))
    };
    let (column, at) = number_after(message, "column ").expect("the original names a column");
    let (line, _) = number_after(&message[..at], "line ").expect("the original names a line");
    (line, column)
}

/// The original's example configuration with every `<placeholder>` filled
/// in (the same text either format), its directories moved under `root` and
/// the YAML's one syntax error (`- "@",`) mended: a configuration the
/// original itself accepts.
fn filled_in_example(text: &str, root: &Path) -> String {
    let r = root.display().to_string();
    let split = text.find("private_keys").expect("the example has a private_keys section");
    let (certs, keys) = text.split_at(split);
    let keys = keys.replacen("<certificate-name>", "mail.example.test", 1).replace("<key-name>", "mail-key");
    let mut t = format!("{certs}{keys}");
    for (from, to) in [
        ("<youremail@yourdomain>", "admin@example.test".to_string()),
        ("<certificate-name>", "example.test".into()),
        ("<common-name>", "example.test".into()),
        ("<zone-name>", "example.test".into()),
        ("<host-name>", "www".into()),
        ("<domain-name>", "www.example.test".into()),
        ("<service-name>", "nginx".into()),
        ("<port-number>", "853".into()),
        ("<challenge-directory>", format!("{r}/www/.well-known/acme-challenge")),
        ("<key-file>", format!("{r}/etc/example.test.key")),
        ("<server>", "127.0.0.1".into()),
        ("\"@\",\n", "\"@\"\n".into()),
        ("/etc/ssl/", format!("{r}/etc/ssl/")),
        ("/var/", format!("{r}/var/")),
        ("/etc/bind/", format!("{r}/etc/bind/")),
    ] {
        t = t.replace(from, &to);
    }
    assert!(!t.contains('<'), "a placeholder is left: {t}");
    t
}

/// (f) The original's own example configurations (from its source
/// distribution), as the original treats them: unchanged, the original
/// refuses both (`"port": <port-number>` is not JSON, `- "@",` not YAML), and
/// so must this binary, with the same exit code; with the placeholders filled
/// in, the original loads both, and this binary's `--show-config` exits 0.
/// (The original's `--show-config` then crashes on the YAML one after loading
/// and checking it: PyYAML reads the CT logs' unquoted `start`/`end` as
/// datetimes, which its JSON printer cannot print.)
#[test]
fn the_originals_example_configurations_load_as_in_the_original() {
    let root = crate::support::temp_dir("original-examples");
    let mut d = Differences::default();
    for ext in ["json", "yaml"] {
        let example = original_source_file(&format!("config/acmebot.example.{ext}"));
        let a = run_original(&example, None, &["--show-config"]);
        let b = crate::support::run_binary(&example, &["--show-config"], &[]);
        assert_ne!(a.code, 0, "the original refuses its unchanged example {ext}: {a:?}");
        d.same(&format!("unchanged acmebot.example.{ext} --show-config: exit code"), a.code, b.code);
        let (line, column) = error_position(&a.stderr);
        d.check(b.stderr.contains(&format!("{line}:{column}")), || {
            format!("unchanged acmebot.example.{ext}: the original names line {line} column {column}: {a:?}\nthis binary: {b:?}")
        });
        eprintln!("== unchanged {ext}\n-- the original: {a:?}\n-- this binary: {b:?}");

        let dir = root.join(ext);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/example.test.key"),
            "key \"example.test.\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\";\n};\n",
        )
        .unwrap();
        let filled = dir.join(format!("etc/acmebot.{ext}"));
        std::fs::write(&filled, filled_in_example(&std::fs::read_to_string(&example).unwrap(), &dir)).unwrap();
        let a = run_original(&filled, None, &["--show-config"]);
        let printer_crash = a.code == 1
            && a.stderr.contains("in show_config")
            && a.stderr.contains("TypeError: Object of type datetime is not JSON serializable");
        assert!(a.code == 0 || printer_crash, "the original loads its filled-in example {ext}: {a:?}");
        let b = crate::support::run_binary(&filled, &["--show-config"], &[]);
        d.check(b.code == 0, || {
            let how = if printer_crash { "then crashes printing it, exit 1" } else { "exit 0" };
            format!(
                "filled-in acmebot.example.{ext}: the original loads and checks it (--show-config: {how}); \
                 this binary refuses it, exit {}: {}",
                b.code, b.stderr
            )
        });
        d.check(b.code != 0 || !b.stdout.is_empty(), || format!("filled-in {ext}: --show-config printed nothing"));
        let head: String = b.stdout.chars().take(300).collect();
        eprintln!(
            "== filled-in {ext}\n-- the original: exit {}, stderr {}\n-- this binary: exit {}, stderr {}, stdout {head}...",
            a.code, a.stderr, b.code, b.stderr
        );
    }
    d.assert_none("the original's example configurations");
}

/// The block of `label` in PEM text (with its END line).
fn pem_block(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(text[start..stop].to_string())
}

/// (e) The original's encrypted keys (its default cipher, Blowfish: PKCS#8
/// PBES2 with BF-CBC as pyOpenSSL writes them) and its DH and EC parameters: this
/// binary takes them over quietly with the same passphrase, keeps the keys,
/// and a renewal keeps the parameter blocks in the new certificate files;
/// the original then renews on what this binary wrote.
#[test]
fn encrypted_keys_and_parameters_of_the_original_are_taken_over() {
    let site = site("orig-enc-params", example());
    let mut config = shared_config(&site, example());
    config["settings"]["key_passphrase"] = json!("an original passphrase");
    config["settings"]["dhparam_size"] = json!(512);
    config["settings"]["ecparam_curve"] = json!(["secp384r1"]);
    site.write_config_value(&config);
    let first = original(&site, &["--accept"]);
    assert_eq!(first.code, 0, "the original's first run: {first:?}");
    let key = std::fs::read_to_string(site.path("ssl/private/example.test.rsa.key")).unwrap();
    // pyOpenSSL with OpenSSL 3: PKCS#8, PBES2 with PBKDF2 and BF-CBC.
    assert!(key.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{key}");
    let params = std::fs::read_to_string(site.path("ssl/params/example.test_param.pem")).unwrap();
    let dh = pem_block(&params, "DH PARAMETERS").expect("the original's DH parameters");
    let issued = installation(&site);

    let mut d = Differences::default();
    let plain = ours(&site, &[]);
    d.check(quiet(&plain), || format!("the plain run after the original's issuance is not quiet: {plain:?}"));
    d.same("files after taking over", &issued, &installation(&site));

    let renewed = ours(&site, &["--renew"]);
    assert_eq!(renewed.code, 0, "this binary's --renew: {renewed:?}");
    assert!(!renewed.stdout.contains("Diffie-Hellman"), "no new parameters: {renewed:?}");
    let after = installation(&site);
    d.same("key files after this binary's --renew", key_files(&issued), key_files(&after));
    for kt in KEY_TYPES {
        let rel = format!("ssl/certs/example.test.{kt}.pem");
        let text = String::from_utf8_lossy(&after[&rel]).into_owned();
        d.check(pem_block(&text, "DH PARAMETERS").as_deref() == Some(dh.as_str()), || {
            format!("{rel} lost the original's DH parameters:\n{text}")
        });
        d.check(text.contains("-----BEGIN EC PARAMETERS-----"), || format!("{rel} lost the EC parameters"));
        let full = site.path(&format!("ssl/private/example.test_full.{kt}.key"));
        let text = std::fs::read_to_string(&full).unwrap();
        d.check(
            !text.contains("-----BEGIN PRIVATE KEY-----") && !text.contains("-----BEGIN RSA PRIVATE KEY-----"),
            || format!("{} holds an unencrypted key", full.display()),
        );
        d.check(text.contains("-----BEGIN DH PARAMETERS-----"), || format!("{} lost the parameters", full.display()));
    }
    // The original renews on what this binary wrote.
    let original_renew = original(&site, &["-R"]);
    d.check(original_renew.code == 0, || format!("the original's -R after this binary: {original_renew:?}"));
    d.same("key files after the original's -R", key_files(&issued), key_files(&installation(&site)));
    d.assert_none("the original's encrypted keys and parameters, taken over");
}
