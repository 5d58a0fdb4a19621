//! The attacks of a local user on a root-run acmebot, reproduced: another
//! user (`acmebot-attacker`, created here if missing) owns or writes to a
//! directory on the way to a key, plants links, holds files open; a hostile
//! ACME server sends escape sequences and floods; the command line and a
//! closed stdout. Each test shows the attack gets nothing and the run says
//! why, naming the path.
//!
//! These tests need root (to run acmebot as root and the attacker as
//! another user); `scripts/test` runs as root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::{mode_of, run_binary, temp_dir, Run, Site};
use crate::testca::{TestCa, TestCaOptions};

const ATTACKER: &str = "acmebot-attacker";

/// The attacker's uid and gid; the user is created when missing.
fn attacker() -> (u32, u32) {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the attack tests run acmebot as root: run scripts/test as root");
    let id = |flag: &str| Command::new("id").args([flag, ATTACKER]).output().unwrap();
    if !id("-u").status.success() {
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ATTACKER])
            .status()
            .unwrap();
        assert!(made.success() || id("-u").status.success(), "useradd {ATTACKER} failed");
    }
    let num = |flag: &str| String::from_utf8(id(flag).stdout).unwrap().trim().parse::<u32>().unwrap();
    (num("-u"), num("-g"))
}

/// Runs `script` with `sh` as the attacker; panics if it fails.
fn as_attacker(script: &str) {
    let (uid, gid) = attacker();
    let out = Command::new("sh").args(["-c", script]).uid(uid).gid(gid).output().unwrap();
    assert!(out.status.success(), "as {ATTACKER}: {script}: {}", String::from_utf8_lossy(&out.stderr));
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every regular file under `dir` with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            out.extend(contents(&p));
        } else if md.is_file() {
            out.insert(p.clone(), fs::read(&p).unwrap());
        }
    }
    out
}

fn site(name: &str, cert: &str) -> Site {
    let site = Site::new(name, json!({ cert: {"key_types": ["ecdsa"]} }));
    let first = site.run(&["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    site
}

fn refused(run: &Run, path: &Path, reason: &str) {
    let said = format!("refusing to use {}: {reason}", path.display());
    assert!(run.stderr.contains(&said), "expected {said:?} in {run:?}");
}

#[test]
fn a_key_archive_through_another_users_directory_gets_nothing() {
    let (uid, gid) = attacker();
    let site = site("attack-archive", "a.example.test");
    let private = site.path("ssl/private");
    let keys = contents(&private);
    let evil = site.root.join("evil");
    fs::create_dir(&evil).unwrap();
    chown(&evil, Some(uid), Some(gid)).unwrap();
    chmod(&evil, 0o777);

    // The key's archive directory is a link to the attacker's directory.
    let key_archive = site.path("ssl/archive/a.example.test");
    let kept = site.path("ssl/archive-kept");
    fs::rename(&key_archive, &kept).unwrap();
    symlink(&evil, &key_archive).unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 5, "{run:?}");
    refused(&run, &evil, &format!("the directory is owned by uid {uid}, not by root or this user (uid 0)"));
    assert_eq!(fs::read_dir(&evil).unwrap().count(), 0, "nothing reached the attacker's directory");
    assert_eq!(contents(&private), keys);
    fs::remove_file(&key_archive).unwrap();
    fs::rename(&kept, &key_archive).unwrap();
    let audit = site.run(&["--audit"]);
    assert_eq!(audit.code, 0, "the journal is consistent: {audit:?}");

    // The archive root is writable by others: the attacker could plant that link.
    let archive = site.path("ssl/archive");
    chmod(&archive, 0o777);
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 5, "{run:?}");
    refused(&run, &archive, "the directory is writable by group or others (mode 0777)");
    chmod(&archive, 0o700);

    // The private key directory belongs to the attacker.
    chown(&private, Some(uid), Some(gid)).unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 5, "{run:?}");
    refused(&run, &private, &format!("the directory is owned by uid {uid}"));
    chown(&private, Some(0), Some(0)).unwrap();
    assert_eq!(contents(&private), keys, "refused runs changed no key");
    assert_eq!(fs::read_dir(&evil).unwrap().count(), 0);

    // Made safe again, the renewal goes through.
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.run(&["--audit"]).code, 0);
}

#[test]
fn a_restore_into_a_directory_others_can_write_is_refused_and_a_planted_file_stays_empty() {
    let _ = attacker();
    let site = site("attack-restore", "r.example.test");
    let private = site.path("ssl/private");
    let key = private.join("r.example.test.ecdsa.key");
    let secret = fs::read(&key).unwrap();
    chmod(&private, 0o777);
    // The names the restore used to write through, planted and kept open for writing.
    let planted = [".r.example.test.ecdsa.key.acmebot-restore", ".r.example.test.ecdsa.key.acmebot-tmp"];
    for p in planted {
        as_attacker(&format!("umask 000; : > '{}'", private.join(p).display()));
    }
    let holder = Command::new("sh")
        .args(["-c", &format!("exec 3>>'{}'; sleep 30", private.join(planted[0]).display())])
        .uid(attacker().0)
        .gid(attacker().1)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    fs::remove_file(&key).unwrap();
    let run = site.run(&["--recover"]);
    assert_ne!(run.code, 0, "{run:?}");
    refused(&run, &private, "the directory is writable by group or others (mode 0777)");
    assert!(!key.exists());
    for p in planted {
        assert_eq!(fs::read(private.join(p)).unwrap(), b"", "{p} received nothing");
    }
    chmod(&private, 0o750);
    let run = site.run(&["--recover"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fs::read(&key).unwrap(), secret, "restored");
    assert_eq!(mode_of(&key), 0o640);
    for p in planted {
        assert_eq!(fs::read(private.join(p)).unwrap(), b"", "{p} still received nothing");
    }
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn the_pid_file_is_never_followed_or_truncated_when_it_is_not_ours() {
    let _ = attacker();
    let site = site("attack-pid", "p.example.test");
    let run_dir = site.path("run");
    chmod(&run_dir, 0o1777); // shared, like /tmp or /run/lock
    let pid = run_dir.join("acmebot.pid");
    assert!(!pid.exists(), "removed at the end of the site's first run");
    let victim = site.root.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    as_attacker(&format!("ln -s '{}' '{}'", victim.display(), pid.display()));
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains(&format!("refusing to use {}", pid.display())), "{run:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");

    fs::remove_file(&pid).unwrap();
    as_attacker(&format!("echo attacker > '{}'", pid.display()));
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 5, "{run:?}");
    refused(&run, &pid, &format!("cannot use it as the lock file: it belongs to uid {}", attacker().0));
    assert_eq!(fs::read_to_string(&pid).unwrap(), "attacker\n", "not truncated");

    fs::remove_file(&pid).unwrap();
    let run = site.run(&["--renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!pid.exists(), "our own pid file, removed at exit");
}

#[test]
fn http_challenges_are_not_written_through_a_link_a_web_user_planted() {
    let (uid, gid) = attacker();
    let site = Site::new("attack-http", json!({"h.example.test": {"key_types": ["ecdsa"]}}));
    // The web server's user owns the webroot (as www-data does): that is fine,
    // challenge files are still written there.
    let webroot = site.pebble.webroot.clone();
    chown(&webroot, Some(uid), Some(gid)).unwrap();
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fs::read_dir(&webroot).unwrap().count(), 0, "challenge files removed after use");

    // It plants a link where a challenge directory is configured.
    let victim = site.root.join("victim-dir");
    fs::create_dir(&victim).unwrap();
    let link = webroot.join("challenges");
    as_attacker(&format!("ln -s '{}' '{}'", victim.display(), link.display()));
    let mut config = site.config(json!({"h2.example.test": {"key_types": ["ecdsa"]}}));
    config["http_challenges"] = json!({"h2.example.test": link});
    site.write_config_value(&config);
    let run = site.run(&["--accept"]);
    assert_ne!(run.code, 0, "{run:?}");
    refused(&run, &link, "it is a symbolic link in a directory that other users can write to");
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0, "nothing written through the link");
}

#[test]
fn links_at_key_certificate_and_full_key_paths_are_replaced_never_followed() {
    let site = site("attack-links", "l.example.test");
    // Each file moved elsewhere and linked to from its path: it is read
    // through the link, and the renewal must replace the link, not write
    // through it.
    let paths = [
        site.path("ssl/private/l.example.test.ecdsa.key"),
        site.path("ssl/certs/l.example.test.ecdsa.pem"),
        site.path("ssl/private/l.example.test_full.ecdsa.key"),
    ];
    let mut held = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let target = site.root.join(format!("held-{i}"));
        fs::rename(p, &target).unwrap();
        symlink(&target, p).unwrap();
        held.push((target.clone(), fs::read(&target).unwrap()));
    }
    // A rollover writes all three: the backup key becomes the primary key.
    let backup = fs::read(site.path("ssl/private/l.example.test_backup.ecdsa.key")).unwrap();
    let run = site.run(&["--rollover", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    for p in &paths {
        assert!(fs::symlink_metadata(p).unwrap().is_file(), "{} is a regular file again", p.display());
    }
    for (target, bytes) in &held {
        assert_eq!(&fs::read(target).unwrap(), bytes, "{} (a link's target) was not written", target.display());
    }
    assert_eq!(fs::read(&paths[0]).unwrap(), backup, "the backup key, in a file of its own");
    assert_ne!(fs::read(&paths[1]).unwrap(), held[1].1, "a new certificate");
}

fn hostile_ca(detail: String) -> (TestCa, PathBuf) {
    let ca = TestCa::start(TestCaOptions { order_problem: Some((detail, "9".repeat(300))), ..Default::default() });
    let root = temp_dir(&format!("hostile-{}", ca.port()));
    let config = json!({
        "account": {"email": "admin@example.test"},
        "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": ca.directory_url(), "ca_bundle": ca.ca_pem_path(), "key_size": 2048,
                     "key_curve": "secp256r1", "file_group": "root", "log_level": null},
        "directories": {"pid": root.join("run"), "resource": root.join("var"), "private_key": root.join("private"),
                        "backup_key": root.join("private"), "full_key": root.join("private"),
                        "certificate": root.join("certs"), "full_certificate": root.join("certs"),
                        "chain": root.join("certs"), "archive": root.join("archive"), "log": root.join("log"),
                        "sct": null, "hpkp": null, "ocsp": null},
        "certificates": {"x.example.test": {"key_types": ["ecdsa"]}}
    });
    let path = root.join("acmebot.json");
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    (ca, path)
}

#[test]
fn text_from_a_hostile_server_is_escaped_and_cut() {
    // A long detail with an escape sequence that would fake a line.
    let detail = format!("{}\u{1b}[2K\rWARNING: all fine\n\u{202e}{}", "a".repeat(500), "b".repeat(100_000));
    let (_ca, config) = hostile_ca(detail);
    let run = run_binary(&config, &["--accept"], &[]);
    assert_eq!(run.code, 8, "{run:?}");
    assert!(run.stderr.contains("rateLimited"), "{run:?}");
    assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\r') && !run.stderr.contains('\u{202e}'));
    assert!(run.stderr.contains("\\u{1b}[2K\\u{d}WARNING: all fine\\u{a}\\u{202e}"), "{}", run.stderr);
    assert!(!run.stderr.lines().any(|l| l.starts_with("WARNING: all fine")));
    assert!(run.stderr.len() < 4096, "{} bytes", run.stderr.len());
    assert!(run.stderr.contains("more bytes]"), "the detail was cut");

    // A flood: 10 MB of detail is not even read.
    let (_ca, config) = hostile_ca("x".repeat(10 * 1024 * 1024));
    let run = run_binary(&config, &["--accept"], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.len() < 4096, "{} bytes", run.stderr.len());
    assert!(run.stderr.contains("answers are read up to 1024 KiB"), "{run:?}");
}

#[test]
fn the_command_line_never_echoes_a_passphrase() {
    let config = temp_dir("attack-pass").join("none.json");
    // Usage errors exit 2 (argparse's code); `--pas` is a prefix of --pass
    // (argparse allows it), and then the missing file exits 3.
    for (args, code) in [
        (&["--pass=SECRET", "--bogus"][..], 2),
        (&["--pas=SECRET"], 3),
        (&["-pSECRET", "-x"], 2),
        (&["--pass", "SECRET", "extra=SECRET", "--nope"], 2),
        (&["--paxx=SECRET"], 2),
    ] {
        let run = run_binary(&config, args, &[]);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(!run.stderr.contains("SECRET") && !run.stdout.contains("SECRET"), "{args:?}: {run:?}");
    }
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let site = Site::new("attack-stdout", json!({}));
    let bin = env!("CARGO_BIN_EXE_acmebot");
    let config = site.config_path.display().to_string();
    for script in [
        "exec 1>&-; \"$0\" --config \"$1\" --show-config",
        "(sleep 0.3; \"$0\" --config \"$1\" --show-config; echo $? > \"$1.code\") | true; sleep 1; exit $(cat \"$1.code\")",
    ] {
        let out = Command::new("bash").args(["-c", script, bin, &config]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{script}: {stderr}");
        assert!(!stderr.contains("panicked"), "{script}: {stderr}");
    }
}

#[test]
fn with_umask_000_every_file_and_directory_gets_the_mode_it_should() {
    let site = Site::new("attack-umask", json!({"u.example.test": {"key_types": ["ecdsa"]}}));
    let mut config = site.config(json!({"u.example.test": {"key_types": ["ecdsa"]}}));
    config["settings"]["log_level"] = json!("normal");
    site.write_config_value(&config);
    let webroot = site.pebble.webroot.clone();
    fs::remove_dir(&webroot).unwrap(); // made by acmebot, like the log directory
    let bin = env!("CARGO_BIN_EXE_acmebot");
    let out = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" --config \"$1\" --accept", bin, &site.config_path.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let expect = [
        ("log", 0o750),
        ("log/acmebot.log", 0o640),
        ("ssl/private", 0o750),
        ("ssl/private/u.example.test.ecdsa.key", 0o640),
        ("ssl/private/u.example.test_full.ecdsa.key", 0o640),
        ("ssl/certs", 0o755),
        ("ssl/certs/u.example.test.ecdsa.pem", 0o644),
        ("ssl/archive", 0o700),
        ("var", 0o700),
        ("var/journal.jsonl", 0o600),
        ("var/client_key.json", 0o600),
        ("run", 0o755),
    ];
    assert!(!site.path("run/acmebot.pid").exists(), "the pid file is removed at exit");
    for (rel, mode) in expect {
        assert_eq!(format!("{:04o}", mode_of(&site.path(rel))), format!("{mode:04o}"), "{rel}");
    }
    assert_eq!(mode_of(&webroot), 0o755, "the http-01 challenge directory");
}
