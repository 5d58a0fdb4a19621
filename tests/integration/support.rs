//! A test installation: a temporary tree holding the configuration, every
//! output directory and the journal, and a way to run the real binary on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::peers::{Pebble, PebbleOptions};

/// A new, empty directory for one test, `/tmp/acmebot-it-<pid>/<name>` (0755).
/// acmebot refuses key and archive directories that other users could write
/// to, so the tests' tree must be safe on any machine: it lives under the
/// system's temporary directory (not a checkout that may be group-writable),
/// and the test process (and so every binary it runs) has umask 022.
pub fn temp_dir(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static UMASK: std::sync::Once = std::sync::Once::new();
    // SAFETY: umask(2) cannot fail and touches no memory.
    UMASK.call_once(|| unsafe {
        libc::umask(0o022);
    });
    let base = std::env::temp_dir().join(format!("acmebot-it-{}", std::process::id()));
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for d in [&base, &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

pub struct Site {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub pebble: Pebble,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Site {
    /// A pebble and a configuration whose every directory lives under `root`,
    /// with http-01 challenges served from pebble's challenge web root.
    pub fn new(name: &str, certificates: Value) -> Site {
        Self::with_pebble(name, certificates, PebbleOptions::default())
    }

    pub fn with_pebble(name: &str, certificates: Value, opts: PebbleOptions) -> Site {
        let root = temp_dir(name);
        let pebble = Pebble::start(&root.join("pebble"), opts);
        let site = Site { config_path: root.join("etc/acmebot.json"), root, pebble };
        site.write_config(certificates);
        site
    }

    pub fn config(&self, certificates: Value) -> Value {
        json!({
            "account": {"email": "admin@example.test"},
            "settings": {
                "acme_directory_url": self.pebble.directory_url,
                "ca_bundle": self.pebble.ca_pem,
                "key_size": 2048,
                "key_curve": "secp256r1",
                "file_user": "root",
                "file_group": "root",
                "authorization_delay": 1,
                "log_level": null,
                // Parameters are tested on their own (params_e2e.rs): a DH
                // safe prime per test would cost seconds each.
                "dhparam_size": 0,
                "ecparam_curve": []
            },
            "directories": {
                "pid": "run",
                "log": "log",
                "resource": "var",
                "private_key": "ssl/private",
                "backup_key": "ssl/private",
                "full_key": "ssl/private",
                "certificate": "ssl/certs",
                "full_certificate": "ssl/certs",
                "chain": "ssl/certs",
                "param": "ssl/params",
                "challenge": "ssl/challenges",
                "http_challenge": self.pebble.webroot,
                "archive": "ssl/archive",
                "sct": null,
                "hpkp": null,
                "ocsp": null
            },
            "certificates": certificates
        })
    }

    pub fn write_config(&self, certificates: Value) {
        self.write_config_value(&self.config(certificates));
    }

    pub fn write_config_value(&self, config: &Value) {
        std::fs::create_dir_all(self.config_path.parent().unwrap()).unwrap();
        std::fs::write(&self.config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join("etc").join(rel)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_binary(&self.config_path, args, env)
    }

    pub fn journal(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("var/journal.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.journal().into_iter().filter(|e| e["type"] == kind).collect()
    }

    /// The effects of `kind` (`key_installed`, `key_rolled_over`,
    /// `certificate_installed`, `key_archived`) of committed transactions.
    pub fn effects_of(&self, kind: &str) -> Vec<Value> {
        effects_of(&self.journal(), kind)
    }
}

/// The effects of `kind` declared in `txn_begun` lines whose transaction committed.
pub fn effects_of(journal: &[Value], kind: &str) -> Vec<Value> {
    let committed: Vec<&Value> = journal.iter().filter(|e| e["type"] == "txn_committed").map(|e| &e["txn"]).collect();
    journal
        .iter()
        .filter(|e| e["type"] == "txn_begun" && committed.contains(&&e["txn"]))
        .flat_map(|e| e["effects"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["type"] == kind)
        .collect()
}

/// Runs the binary under test; with `ACMEBOT_TEST_RUNNER` set (cross/test sets
/// `qemu-mipsel-static` and so on), through that runner, since a foreign ELF
/// cannot be spawned directly where binfmt_misc is not mounted.
pub fn run_binary(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = match std::env::var_os("ACMEBOT_TEST_RUNNER").filter(|r| !r.is_empty()) {
        Some(runner) => {
            let mut c = Command::new(runner);
            c.arg(env!("CARGO_BIN_EXE_acmebot"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_acmebot")),
    };
    cmd.arg("--config").arg(config).args(args).stdin(Stdio::null());
    cmd.env_remove("ACMEBOT_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs openssl (the independent peer that checks what acmebot wrote) and
/// returns its stdout; panics with its stderr when it fails.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("openssl is installed by scripts/install-deps");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// openssl's view of a key's and a certificate's public key: equal when they match.
pub fn openssl_key_matches_cert(key: &Path, cert: &Path) -> bool {
    let k = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    let c = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
    k == c
}

/// Every output directory of a configuration, each `base/<name>`.
pub fn output_dirs(base: &Path) -> serde_json::Map<String, Value> {
    [
        "pid",
        "log",
        "resource",
        "private_key",
        "backup_key",
        "full_key",
        "certificate",
        "full_certificate",
        "chain",
        "param",
        "challenge",
        "archive",
    ]
    .iter()
    .map(|d| (d.to_string(), json!(base.join(d))))
    .collect()
}

/// A configuration for the project's own test CA with every directory under
/// `root/out`, written to `root/etc/acmebot.json` after `edit`; returns its path.
pub fn testca_site(
    root: &Path,
    ca: &crate::testca::TestCa,
    certificates: Value,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    let dirs = output_dirs(&root.join("out"));
    let mut config = json!({
        "account": {"email": "admin@example.test", "key_type": "ecdsa"},
        "settings": {"dhparam_size": 0, "ecparam_curve": [], "acme_directory_url": ca.directory_url(), "ca_bundle": ca.ca_pem_path(), "key_curve": "secp256r1",
                     "file_group": "root", "log_level": null, "renewal_days": 1},
        "directories": dirs,
        "certificates": certificates
    });
    config["directories"]["sct"] = json!(null);
    edit(&mut config);
    let path = root.join("etc/acmebot.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// `to` becomes a copy of `from` (modes, owners and times kept).
pub fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}
