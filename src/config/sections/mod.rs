//! Validation and resolution, one module per section of the file. The
//! [`Builder`] carries the problems and warnings found so far; each section's
//! `impl Builder` turns its JSON into the typed model, and every problem names
//! its JSON path and what is allowed.

mod account;
mod certificate;
mod commands;
mod ct_logs;
mod files;
mod keys;
mod settings;
mod tlsa;
mod verify;
mod zones;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::check::{as_object, join, show, warn_unknown, Ck};
use super::defaults::defaults;
use super::{Config, Dir, PrivateKeySpec};

pub(super) const TOP_LEVEL: &[&str] = &[
    "account",
    "settings",
    "directories",
    "key_type_suffixes",
    "file_names",
    "hpkp_headers",
    "services",
    "ct_logs",
    "hooks",
    "zone_update_keys",
    "http_challenges",
    "authorizations",
    "certificates",
    "private_keys",
];

/// Options that belong to the private key.
pub(super) const KEY_OPTIONS: &[&str] = &[
    "key_types",
    "key_size",
    "key_curve",
    "key_cipher",
    "key_passphrase",
    "key_provided",
    "expiration_days",
    "auto_rollover",
    "hpkp_days",
    "pin_subdomains",
    "hpkp_report_uri",
];

/// Certificate options that default from the private key object, then settings.
pub(super) const INHERITED_CERT_OPTIONS: &[&str] = &[
    "services",
    "dhparam_size",
    "ecparam_curve",
    "ocsp_must_staple",
    "ocsp_responder_urls",
    "ct_submit_logs",
    "verify",
    "profile",
    "preferred_chain",
];

/// Certificate-only options.
pub(super) const CERT_ONLY_OPTIONS: &[&str] = &["common_name", "alt_names", "tlsa_records", "key_types"];

/// One level of option lookup.
pub(super) struct Layer<'a> {
    pub(super) path: String,
    pub(super) map: &'a Map<String, Value>,
}

pub(super) static NULL: Value = Value::Null;

/// The first layer that sets `key`: its JSON path and value.
pub(super) fn pick<'a>(layers: &[Layer<'a>], key: &str) -> (String, &'a Value) {
    for layer in layers {
        if let Some(v) = layer.map.get(key) {
            return (join(&layer.path, key), v);
        }
    }
    (key.to_string(), &NULL)
}

pub(crate) struct Builder<'c> {
    pub(crate) ck: &'c mut Ck,
    pub(crate) config_dir: PathBuf,
}

impl Builder<'_> {
    pub(crate) fn build(mut self, root: Value, path: &Path) -> Option<Config> {
        let Value::Object(mut root) = root else {
            self.ck.err("", "the configuration must be a JSON object");
            return None;
        };
        warn_unknown(self.ck, "", &root, TOP_LEVEL, "section");

        self.merge_defaults(&mut root);
        let mut sections: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for name in TOP_LEVEL {
            let m = match root.get(*name) {
                None => Map::new(),
                Some(v) => as_object(self.ck, name, v).cloned().unwrap_or_default(),
            };
            sections.insert(name, m);
        }
        let section = |name: &str| -> &Map<String, Value> { &sections[name] };
        let account = self.account(section("account"));
        let settings_map = section("settings");
        let services = self.services(section("services"));
        let ct_logs = self.ct_logs(section("ct_logs"));
        let settings = self.settings(settings_map, &services, &ct_logs);
        let (directories, journal) = self.directories(section("directories"));
        let key_type_suffixes = self.key_type_suffixes(section("key_type_suffixes"));
        let file_names = self.file_names(section("file_names"));
        let hpkp_headers = self.hpkp_headers(section("hpkp_headers"));
        let hooks = self.hooks(section("hooks"));
        let update_key_dir = directories[Dir::UpdateKey as usize].clone();
        let zone_update_keys = self.zone_update_keys(section("zone_update_keys"), update_key_dir);
        let http_challenges = self.http_challenges(section("http_challenges"));
        let authorizations = self.authorizations(section("authorizations"));
        let suffixes = certificate::Suffixes::new(directories[Dir::Resource as usize].as_deref());
        let shared =
            keys::Shared { settings: settings_map, services: &services, ct_logs: &ct_logs, suffixes: &suffixes };
        let private_keys = self.private_keys(section("private_keys"), section("certificates"), &shared);

        self.check_key_ciphers(settings.key_cipher.as_deref(), &private_keys);

        Some(Config {
            path: path.to_path_buf(),
            config_dir: self.config_dir,
            account,
            settings,
            directories,
            journal,
            key_type_suffixes,
            file_names,
            hpkp_headers,
            services,
            ct_logs,
            hooks,
            zone_update_keys,
            http_challenges,
            authorizations,
            private_keys,
        })
    }

    /// Merges the defaults key by key into each defaulted section.
    fn merge_defaults(&mut self, root: &mut Map<String, Value>) {
        let log_list = self.ct_log_list(root);
        for (section, default) in defaults() {
            let Value::Object(default) = default else {
                continue;
            };
            // `settings.ct_log_list`: the device's list replaces the one compiled in.
            let default = match (&log_list, section.as_str()) {
                (Some(logs), "ct_logs") => logs.clone(),
                _ => default,
            };
            match root.get_mut(&section) {
                None | Some(Value::Null) => {
                    root.insert(section, Value::Object(default));
                }
                Some(Value::Object(user)) => {
                    if section == "settings" && !user.contains_key("follower_mode") {
                        if let Some(v) = user.get("slave_mode").cloned() {
                            user.insert("follower_mode".into(), v);
                        }
                    }
                    for (k, v) in default {
                        if !user.contains_key(&k) {
                            user.insert(k, v);
                        }
                    }
                }
                Some(other) => {
                    let shown = show(other);
                    self.ck.err(&section, format!("{shown} is not allowed; use an object"));
                    root.insert(section, Value::Object(default));
                }
            }
        }
    }

    /// `key_cipher` (settings, private keys): a name the original accepted is
    /// mapped to a cipher PKCS#8 carries (said once, except for the default
    /// "blowfish"); others are errors naming what is allowed.
    fn check_key_ciphers(&mut self, global: Option<&str>, keys: &[PrivateKeySpec]) {
        let mut seen = std::collections::BTreeSet::new();
        let named = global.map(|c| ("settings.key_cipher".to_string(), c.to_string()));
        let per_key = keys
            .iter()
            .filter(|k| k.key_cipher.as_deref() != global)
            .filter_map(|k| k.key_cipher.clone().map(|c| (format!("private_keys.{}.key_cipher", k.name), c)));
        for (path, name) in named.into_iter().chain(per_key) {
            if !seen.insert(name.clone()) {
                continue;
            }
            match crate::crypto::key_cipher(&name) {
                Ok((_, Some(note))) if !name.eq_ignore_ascii_case("blowfish") => {
                    self.ck.warn(format!("{path}: {note}"))
                }
                Ok(_) => {}
                Err(e) => self.ck.err(&path, e),
            }
        }
    }

    /// The `ct_logs` of the v3 log list `settings.ct_log_list` names, if any.
    fn ct_log_list(&mut self, root: &Map<String, Value>) -> Option<Map<String, Value>> {
        const KEY: &str = "settings.ct_log_list";
        let path = match root.get("settings").and_then(|s| s.get("ct_log_list")) {
            Some(Value::String(p)) if !p.is_empty() => crate::config::check::resolve_path(&self.config_dir, p),
            // The type of any other value is reported with the other settings.
            _ => return None,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.ck.err(KEY, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        match crate::ct::ct_logs_from_list(&text) {
            Ok(logs) => Some(logs),
            Err(e) => {
                self.ck.err(KEY, format!("{} is not a CT log list (v3 schema): {e}", path.display()));
                None
            }
        }
    }
}
