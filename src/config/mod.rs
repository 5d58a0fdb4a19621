//! The configuration: `acmebot.json` or `acmebot.yaml` (and `conf.d/*.json`,
//! `*.yaml`, `*.yml` beside it), located, merged with the defaults, validated
//! as a whole (every problem is reported with its JSON path and what is
//! allowed) and resolved into the typed model of [`model`]. Later layers never
//! see raw JSON: inheritance (settings → private key → certificate), directory
//! resolution and pattern checking all happen here.
//!
//! Where things live: [`load`] finds and reads files (JSON, or YAML through
//! [`yaml`], which reads it as the original's PyYAML did), [`defaults`] holds
//! the defaults as data (`defaults.json`, the CT log list
//! `vendor/ct/log_list.json`), [`check`] the value checks every section shares,
//! and [`sections`] one module per section of the file. A new setting: a
//! field in [`model::Settings`], its default in `defaults.json`, its check in
//! `sections/settings.rs`.

mod check;
mod defaults;
mod error;
mod load;
mod model;
mod owner;
mod sections;
mod show;
mod yaml;

pub use error::{ConfigError, Problem};
#[cfg(feature = "fuzzing")]
pub use load::{from_json_str, from_str};
pub use load::{load, locate};
pub use model::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::format;
use crate::hooks::Hook;
use crate::types::KeyType;

/// The configuration file name used when none is given, without its
/// extension: `acmebot.json`, `acmebot.yaml` or `acmebot.yml`.
pub const CONFIG_FILE_NAME: &str = "acmebot";
/// The system-wide configuration directory searched after the working directory.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/acmebot";
/// The program name, used for the log file name and default directories.
pub const SCRIPT_NAME: &str = "acmebot";
/// What secrets are replaced with in `--show-config` output.
pub const REDACTED: &str = "<redacted>";

#[derive(Clone, Debug)]
pub struct Config {
    /// The configuration file.
    pub path: PathBuf,
    /// Its directory: the base of every relative path.
    pub config_dir: PathBuf,
    pub account: Account,
    pub settings: Settings,
    /// Directory patterns indexed by `Dir as usize`, relative ones already
    /// resolved against the configuration directory; `None` = disabled.
    pub(crate) directories: Vec<Option<String>>,
    pub(crate) journal: PathBuf,
    /// (rsa, ecdsa) file name suffixes.
    pub(crate) key_type_suffixes: [String; 2],
    /// File name patterns indexed by `FileKind as usize`; `None` = disabled.
    pub(crate) file_names: Vec<Option<String>>,
    /// Server → header pattern (servers set to null are omitted).
    pub hpkp_headers: Vec<(String, String)>,
    pub services: BTreeMap<String, String>,
    pub ct_logs: BTreeMap<String, CtLog>,
    pub(crate) hooks: BTreeMap<Hook, String>,
    pub zone_update_keys: BTreeMap<String, ZoneUpdateKey>,
    /// fqdn → http-01 directory; `None` forces dns-01.
    pub http_challenges: BTreeMap<String, Option<PathBuf>>,
    pub authorizations: Vec<ZoneNames>,
    /// Private keys in configuration order: `private_keys` first, then `certificates`.
    pub private_keys: Vec<PrivateKeySpec>,
}

/// A loaded configuration and the warnings found while loading it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    /// The rendered directory of `kind`, or `None` if it is disabled.
    /// Fields the caller omits render as empty strings.
    pub fn dir(&self, kind: Dir, fields: &[(&str, &str)]) -> Result<Option<PathBuf>, ConfigError> {
        let Some(pattern) = &self.directories[kind as usize] else {
            return Ok(None);
        };
        let Some(allowed) = kind.fields() else {
            return Ok(Some(PathBuf::from(pattern)));
        };
        let mut all: Vec<(&str, &str)> = allowed.iter().map(|f| (*f, "")).collect();
        all.extend_from_slice(fields);
        format::render(pattern, &all)
            .map(|s| Some(PathBuf::from(s)))
            .map_err(|error| ConfigError::Pattern { json_path: format!("directories.{}", kind.key()), error })
    }

    /// The file name suffix of a key type (e.g. `.rsa`).
    pub fn key_type_suffix(&self, key_type: KeyType) -> &str {
        match key_type {
            KeyType::Rsa => &self.key_type_suffixes[0],
            KeyType::Ecdsa => &self.key_type_suffixes[1],
        }
    }

    /// The path of a file, or `None` if its directory or file name is null.
    pub fn file_path(
        &self,
        kind: FileKind,
        name: &str,
        key_type: Option<KeyType>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        self.file_path_with(kind, name, key_type, &[])
    }

    /// Like [`Config::file_path`] with extra fields (`server` for HPKP files,
    /// `ct_log_name` for SCT files).
    pub fn file_path_with(
        &self,
        kind: FileKind,
        name: &str,
        key_type: Option<KeyType>,
        extra: &[(&str, &str)],
    ) -> Result<Option<PathBuf>, ConfigError> {
        let Some(file_pattern) = &self.file_names[kind as usize] else {
            return Ok(None);
        };
        let key_type_str = key_type.map(KeyType::as_str).unwrap_or("");
        let suffix = key_type.map(|k| self.key_type_suffix(k)).unwrap_or("");
        let mut fields: Vec<(&str, &str)> = kind.fields().iter().map(|f| (*f, "")).collect();
        fields.extend_from_slice(&[("name", name), ("key_type", key_type_str), ("suffix", suffix)]);
        fields.extend_from_slice(extra);
        let Some(dir) = self.dir(kind.dir(), &fields)? else {
            return Ok(None);
        };
        let file_name = format::render(file_pattern, &fields)
            .map_err(|error| ConfigError::Pattern { json_path: format!("file_names.{}", kind.key()), error })?;
        Ok(Some(dir.join(file_name.replace('*', "_"))))
    }

    /// The http-01 challenge directory for a name, or `None` for dns-01.
    pub fn http_challenge_dir(&self, fqdn: &str, zone: &str) -> Option<PathBuf> {
        if let Some(entry) = self.http_challenges.get(fqdn) {
            return entry.clone();
        }
        let host = fqdn.strip_suffix(zone).unwrap_or(fqdn).trim_matches('.');
        let host = if host.is_empty() { "." } else { host };
        self.dir(Dir::HttpChallenge, &[("zone", zone), ("host", host), ("fqdn", fqdn)]).ok().flatten()
    }

    /// The journal file.
    pub fn journal_path(&self) -> &Path {
        &self.journal
    }

    /// The resource directory (client key, registration, journal).
    pub fn resource_dir(&self) -> PathBuf {
        // Validated non-null at load time.
        PathBuf::from(self.directories[Dir::Resource as usize].as_deref().unwrap_or("."))
    }

    /// The root certificate used for full-chain files of a key type.
    pub fn root_cert_path(&self, key_type: KeyType) -> PathBuf {
        self.config_dir.join(format!("root_cert.{}.pem", key_type.as_str()))
    }

    /// The configured hook command pattern, if any.
    pub fn hook(&self, hook: Hook) -> Option<&str> {
        self.hooks.get(&hook).map(String::as_str)
    }

    pub fn private_key(&self, name: &str) -> Option<&PrivateKeySpec> {
        self.private_keys.iter().find(|k| k.name == name)
    }

    /// The uid and gid that own certificate and key files (the running
    /// user's for a name this system does not have, as in the original).
    pub fn file_owner(&self) -> Result<(u32, u32), ConfigError> {
        Ok((
            owner::resolve_user("file_user", &self.settings.file_user)?,
            owner::resolve_group("file_group", &self.settings.file_group)?,
        ))
    }

    /// The uid and gid that own the log file (`log_user`, `log_group`).
    pub fn log_owner(&self) -> Result<(u32, u32), ConfigError> {
        Ok((
            owner::resolve_user("log_user", &self.settings.log_user)?,
            owner::resolve_group("log_group", &self.settings.log_group)?,
        ))
    }

    /// Warnings for owner settings naming users or groups this system lacks.
    pub fn missing_owner_warnings(&self) -> Vec<String> {
        let s = &self.settings;
        let mut list = vec![("file_user", s.file_user.as_str(), true), ("file_group", s.file_group.as_str(), false)];
        if self.settings.log_level.is_some() && self.directories[Dir::Log as usize].is_some() {
            list.extend([("log_user", s.log_user.as_str(), true), ("log_group", s.log_group.as_str(), false)]);
        }
        owner::missing_owners(&list)
    }
}

#[cfg(test)]
mod tests;
