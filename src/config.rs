//! Loading and validation of `acmebot.json`.
//!
//! The file is parsed once, merged with the original's defaults, validated as a
//! whole (every problem is reported with its JSON path) and resolved into typed
//! structures. Later layers never see raw JSON: inheritance (settings → private
//! key → certificate), directory resolution and pattern checking all happen here.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::format::{self, FormatError};
use crate::time::{parse_rfc3339, rfc3339, Timestamp};
use crate::types::{Curve, KeyType};

/// The configuration file name used when none is given.
pub const CONFIG_FILE_NAME: &str = "acmebot.json";
/// The system-wide configuration directory searched after the working directory.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/acmebot";
/// The program name, used for the log file name and default directories.
pub const SCRIPT_NAME: &str = "acmebot";
/// What secrets are replaced with in `--show-config` output.
pub const REDACTED: &str = "<redacted>";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One validation problem: where in the JSON document, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub json_path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.json_path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.json_path, self.message)
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    /// No configuration file in any of the searched places.
    NotFound { name: String, tried: Vec<PathBuf> },
    /// The file exists but could not be read.
    Read { path: PathBuf, message: String },
    /// The file is not valid JSON.
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    /// The JSON is well formed but the configuration is not valid.
    Invalid { path: PathBuf, problems: Vec<Problem> },
    /// A pattern could not be rendered at run time.
    Pattern { json_path: String, error: FormatError },
    /// `file_user`/`file_group` (or the log equivalents) do not resolve.
    Owner { setting: &'static str, name: String, message: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { name, tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(f, "configuration file {name} not found (tried: {})", tried.join(", "))
            }
            ConfigError::Read { path, message } => {
                write!(f, "{}: cannot read: {message}", path.display())
            }
            ConfigError::Parse { path, line, column, message } => {
                write!(f, "{}:{line}:{column}: invalid JSON: {message}", path.display())
            }
            ConfigError::Invalid { path, problems } => {
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}: {problem}", path.display())?;
                }
                Ok(())
            }
            ConfigError::Pattern { json_path, error } => write!(f, "{json_path}: {error}"),
            ConfigError::Owner { setting, name, message } => write!(f, "settings.{setting}: {name:?}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Normal,
    Verbose,
    Debug,
    Detail,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Normal => "normal",
            LogLevel::Verbose => "verbose",
            LogLevel::Debug => "debug",
            LogLevel::Detail => "detail",
        }
    }
}

/// How private keys are protected.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Passphrase {
    /// `null` or `false`: keys are written unencrypted.
    #[default]
    None,
    /// `true`: the passphrase is asked for at run time.
    Prompt,
    /// A literal passphrase from the configuration file.
    Value(String),
}

impl Passphrase {
    pub fn is_none(&self) -> bool {
        matches!(self, Passphrase::None)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Passphrase::None => f.write_str("None"),
            Passphrase::Prompt => f.write_str("Prompt"),
            Passphrase::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

impl Serialize for Passphrase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Passphrase::None => s.serialize_none(),
            Passphrase::Prompt => s.serialize_bool(true),
            Passphrase::Value(_) => s.serialize_str(REDACTED),
        }
    }
}

fn serialize_redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str(REDACTED),
        None => s.serialize_none(),
    }
}

fn serialize_opt_time<S: serde::Serializer>(v: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    Smtp,
    Pop3,
    Imap,
    Sieve,
    Ftp,
    Xmpp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyProtocol {
    Http,
}

/// One installation-verification target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifySpec {
    pub port: u16,
    pub starttls: Option<StartTls>,
    pub protocol: Option<VerifyProtocol>,
    /// Host names to test; empty means every alternative name.
    pub hosts: Vec<String>,
    /// Key types to test; empty means every key type of the certificate.
    pub key_types: Vec<KeyType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsaUsage {
    PkixTa,
    PkixEe,
    DaneTa,
    DaneEe,
}

impl TlsaUsage {
    /// The RFC 6698 certificate usage number.
    pub fn number(self) -> u8 {
        match self {
            TlsaUsage::PkixTa => 0,
            TlsaUsage::PkixEe => 1,
            TlsaUsage::DaneTa => 2,
            TlsaUsage::DaneEe => 3,
        }
    }
    /// End-entity usages hash the certificate or key itself.
    pub fn is_end_entity(self) -> bool {
        matches!(self, TlsaUsage::PkixEe | TlsaUsage::DaneEe)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsaSelector {
    Cert,
    Spki,
}

impl TlsaSelector {
    pub fn number(self) -> u8 {
        match self {
            TlsaSelector::Cert => 0,
            TlsaSelector::Spki => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsaRecord {
    /// The host as configured ("@" for the zone itself).
    pub host: String,
    /// The fully qualified owner name without the `_port._protocol.` prefix.
    pub fqdn: String,
    pub port: u16,
    pub usage: TlsaUsage,
    pub selector: TlsaSelector,
    pub protocol: String,
    pub ttl: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsaZone {
    pub zone: String,
    pub records: Vec<TlsaRecord>,
}

/// Fully qualified names grouped by the DNS zone they are updated in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneNames {
    pub zone: String,
    pub fqdns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneUpdateKey {
    /// The TSIG key file, resolved against the update_key directory.
    pub file: PathBuf,
    /// The server to send updates to; `None` means the zone's SOA primary.
    pub server: Option<String>,
    pub port: u16,
}

/// One shard (temporal or not) of a certificate transparency log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CtLogShard {
    /// Base64 log ID.
    pub log_id: String,
    /// Base64 DER SubjectPublicKeyInfo of the log, when known.
    pub key: Option<String>,
    pub url: String,
    /// Accepts certificates expiring at or after this time.
    #[serde(serialize_with = "serialize_opt_time")]
    pub start: Option<Timestamp>,
    /// Accepts certificates expiring before this time.
    #[serde(serialize_with = "serialize_opt_time")]
    pub end: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CtLog {
    pub name: String,
    pub shards: Vec<CtLogShard>,
}

impl CtLog {
    /// The shard that accepts a certificate expiring at `not_after`.
    pub fn shard_for(&self, not_after: Timestamp) -> Option<&CtLogShard> {
        self.shards.iter().find(|s| s.start.is_none_or(|t| not_after >= t) && s.end.is_none_or(|t| not_after < t))
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub email: Option<String>,
    pub eab_kid: Option<String>,
    #[serde(serialize_with = "serialize_redacted")]
    pub eab_hmac_key: Option<String>,
    /// MAC algorithm of the binding: "HS256" (default), "HS384" or "HS512".
    pub eab_algorithm: String,
    pub key_type: Option<String>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("eab_kid", &self.eab_kid)
            .field("eab_hmac_key", &self.eab_hmac_key.as_ref().map(|_| REDACTED))
            .field("eab_algorithm", &self.eab_algorithm)
            .field("key_type", &self.key_type)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub follower_mode: bool,
    pub log_level: Option<LogLevel>,
    pub color_output: bool,
    pub key_types: Vec<KeyType>,
    pub key_size: Option<u32>,
    pub key_curve: Option<Curve>,
    pub key_cipher: Option<String>,
    pub key_passphrase: Passphrase,
    pub key_provided: bool,
    pub dhparam_size: Option<u32>,
    pub ecparam_curve: Vec<String>,
    pub file_user: String,
    pub file_group: String,
    pub log_user: String,
    pub log_group: String,
    pub warning_exit_code: bool,
    pub hpkp_days: Option<u32>,
    pub pin_subdomains: bool,
    pub hpkp_report_uri: Option<String>,
    pub ocsp_must_staple: bool,
    pub ocsp_responder_urls: Vec<String>,
    pub ct_submit_logs: Vec<String>,
    pub renewal_days: u32,
    pub expiration_days: Option<u32>,
    pub auto_rollover: bool,
    pub max_dns_lookup_attempts: u32,
    pub dns_lookup_delay: u32,
    pub max_domains_per_order: u32,
    pub max_authorization_attempts: u32,
    pub authorization_delay: u32,
    pub cert_poll_time: u32,
    pub max_ocsp_verify_attempts: u32,
    pub ocsp_verify_retry_delay: u32,
    pub min_run_delay: u32,
    pub max_run_delay: u32,
    pub acme_directory_url: String,
    pub acme_directory_verify_ssl: bool,
    pub reload_zone_command: Option<String>,
    pub nsupdate_command: Option<String>,
    pub public_suffix_list_url: Option<String>,
    pub verify: Vec<VerifySpec>,
    pub services: Vec<String>,
    /// Extra PEM trust anchors, resolved against the configuration directory.
    pub ca_bundle: Option<PathBuf>,
    /// DNS resolvers; empty means /etc/resolv.conf.
    pub dns_resolvers: Vec<SocketAddr>,
    pub profile: Option<String>,
    pub preferred_chain: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CertificateSpec {
    pub name: String,
    pub common_name: String,
    pub alt_names: Vec<ZoneNames>,
    pub services: Vec<String>,
    pub key_types: Vec<KeyType>,
    pub dhparam_size: Option<u32>,
    pub ecparam_curve: Vec<String>,
    pub ocsp_must_staple: bool,
    pub ocsp_responder_urls: Vec<String>,
    pub ct_submit_logs: Vec<String>,
    pub verify: Vec<VerifySpec>,
    pub tlsa_records: Vec<TlsaZone>,
    pub profile: Option<String>,
    pub preferred_chain: Option<String>,
}

impl CertificateSpec {
    /// Every name of the certificate, common name first, without duplicates.
    pub fn all_names(&self) -> Vec<String> {
        let mut names = vec![self.common_name.clone()];
        for zone in &self.alt_names {
            for fqdn in &zone.fqdns {
                if !names.contains(fqdn) {
                    names.push(fqdn.clone());
                }
            }
        }
        names
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrivateKeySpec {
    pub name: String,
    /// Key types in use: enabled by key_size/key_curve and used by a certificate.
    pub key_types: Vec<KeyType>,
    pub rsa_key_size: Option<u32>,
    pub ecdsa_curve: Option<Curve>,
    pub key_cipher: Option<String>,
    pub key_passphrase: Passphrase,
    pub key_provided: bool,
    pub expiration_days: Option<u32>,
    pub auto_rollover: bool,
    pub hpkp_days: Option<u32>,
    pub pin_subdomains: bool,
    pub hpkp_report_uri: Option<String>,
    pub certificates: Vec<CertificateSpec>,
}

// ---------------------------------------------------------------------------
// Directories, files and hooks
// ---------------------------------------------------------------------------

const FILE_FIELDS: &[&str] = &["name", "key_type", "suffix", "server"];
const SCT_FIELDS: &[&str] = &["name", "key_type", "suffix", "server", "ct_log_name"];
const HTTP_CHALLENGE_FIELDS: &[&str] = &["zone", "host", "fqdn"];
// `name` is what the original fills in; the manual documents `key_name`: both work.
const HPKP_HEADER_FIELDS: &[&str] = &["header", "key_name", "name", "server"];

/// The configurable directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    Pid,
    Log,
    Resource,
    PrivateKey,
    BackupKey,
    PreviousKey,
    FullKey,
    Certificate,
    FullCertificate,
    Chain,
    Param,
    Challenge,
    HttpChallenge,
    Hpkp,
    Ocsp,
    Sct,
    UpdateKey,
    Archive,
    Temp,
}

impl Dir {
    pub const ALL: [Dir; 19] = [
        Dir::Pid,
        Dir::Log,
        Dir::Resource,
        Dir::PrivateKey,
        Dir::BackupKey,
        Dir::PreviousKey,
        Dir::FullKey,
        Dir::Certificate,
        Dir::FullCertificate,
        Dir::Chain,
        Dir::Param,
        Dir::Challenge,
        Dir::HttpChallenge,
        Dir::Hpkp,
        Dir::Ocsp,
        Dir::Sct,
        Dir::UpdateKey,
        Dir::Archive,
        Dir::Temp,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Dir::Pid => "pid",
            Dir::Log => "log",
            Dir::Resource => "resource",
            Dir::PrivateKey => "private_key",
            Dir::BackupKey => "backup_key",
            Dir::PreviousKey => "previous_key",
            Dir::FullKey => "full_key",
            Dir::Certificate => "certificate",
            Dir::FullCertificate => "full_certificate",
            Dir::Chain => "chain",
            Dir::Param => "param",
            Dir::Challenge => "challenge",
            Dir::HttpChallenge => "http_challenge",
            Dir::Hpkp => "hpkp",
            Dir::Ocsp => "ocsp",
            Dir::Sct => "sct",
            Dir::UpdateKey => "update_key",
            Dir::Archive => "archive",
            Dir::Temp => "temp",
        }
    }

    /// The fields the directory pattern may use; `None` means the value is a
    /// literal path, not a pattern (braces are kept as they are).
    pub fn fields(self) -> Option<&'static [&'static str]> {
        match self {
            Dir::Pid | Dir::Resource | Dir::UpdateKey | Dir::Archive | Dir::Temp => None,
            Dir::HttpChallenge => Some(HTTP_CHALLENGE_FIELDS),
            Dir::Sct => Some(SCT_FIELDS),
            _ => Some(FILE_FIELDS),
        }
    }
}

/// The configurable output files; each lives in the directory of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Log,
    PrivateKey,
    BackupKey,
    PreviousKey,
    FullKey,
    Certificate,
    FullCertificate,
    Chain,
    Param,
    Challenge,
    Hpkp,
    Ocsp,
    Sct,
}

impl FileKind {
    pub const ALL: [FileKind; 13] = [
        FileKind::Log,
        FileKind::PrivateKey,
        FileKind::BackupKey,
        FileKind::PreviousKey,
        FileKind::FullKey,
        FileKind::Certificate,
        FileKind::FullCertificate,
        FileKind::Chain,
        FileKind::Param,
        FileKind::Challenge,
        FileKind::Hpkp,
        FileKind::Ocsp,
        FileKind::Sct,
    ];

    pub fn dir(self) -> Dir {
        match self {
            FileKind::Log => Dir::Log,
            FileKind::PrivateKey => Dir::PrivateKey,
            FileKind::BackupKey => Dir::BackupKey,
            FileKind::PreviousKey => Dir::PreviousKey,
            FileKind::FullKey => Dir::FullKey,
            FileKind::Certificate => Dir::Certificate,
            FileKind::FullCertificate => Dir::FullCertificate,
            FileKind::Chain => Dir::Chain,
            FileKind::Param => Dir::Param,
            FileKind::Challenge => Dir::Challenge,
            FileKind::Hpkp => Dir::Hpkp,
            FileKind::Ocsp => Dir::Ocsp,
            FileKind::Sct => Dir::Sct,
        }
    }

    pub fn key(self) -> &'static str {
        self.dir().key()
    }

    pub fn fields(self) -> &'static [&'static str] {
        if self == FileKind::Sct {
            SCT_FIELDS
        } else {
            FILE_FIELDS
        }
    }
}

/// The deployment hooks of the manual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    SetDnsChallenge,
    ClearDnsChallenge,
    DnsZoneUpdate,
    SetHttpChallenge,
    ClearHttpChallenge,
    PrivateKeyRollover,
    PrivateKeyInstalled,
    BackupKeyInstalled,
    PreviousKeyInstalled,
    HpkpHeaderInstalled,
    CertificateInstalled,
    FullCertificateInstalled,
    ChainInstalled,
    FullKeyInstalled,
    ParamsInstalled,
    SctInstalled,
    OcspInstalled,
}

impl Hook {
    pub const ALL: [Hook; 17] = [
        Hook::SetDnsChallenge,
        Hook::ClearDnsChallenge,
        Hook::DnsZoneUpdate,
        Hook::SetHttpChallenge,
        Hook::ClearHttpChallenge,
        Hook::PrivateKeyRollover,
        Hook::PrivateKeyInstalled,
        Hook::BackupKeyInstalled,
        Hook::PreviousKeyInstalled,
        Hook::HpkpHeaderInstalled,
        Hook::CertificateInstalled,
        Hook::FullCertificateInstalled,
        Hook::ChainInstalled,
        Hook::FullKeyInstalled,
        Hook::ParamsInstalled,
        Hook::SctInstalled,
        Hook::OcspInstalled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hook::SetDnsChallenge => "set_dns_challenge",
            Hook::ClearDnsChallenge => "clear_dns_challenge",
            Hook::DnsZoneUpdate => "dns_zone_update",
            Hook::SetHttpChallenge => "set_http_challenge",
            Hook::ClearHttpChallenge => "clear_http_challenge",
            Hook::PrivateKeyRollover => "private_key_rollover",
            Hook::PrivateKeyInstalled => "private_key_installed",
            Hook::BackupKeyInstalled => "backup_key_installed",
            Hook::PreviousKeyInstalled => "previous_key_installed",
            Hook::HpkpHeaderInstalled => "hpkp_header_installed",
            Hook::CertificateInstalled => "certificate_installed",
            Hook::FullCertificateInstalled => "full_certificate_installed",
            Hook::ChainInstalled => "chain_installed",
            Hook::FullKeyInstalled => "full_key_installed",
            Hook::ParamsInstalled => "params_installed",
            Hook::SctInstalled => "sct_installed",
            Hook::OcspInstalled => "ocsp_installed",
        }
    }

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The fields the manual documents for this hook.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Hook::SetDnsChallenge | Hook::ClearDnsChallenge => &["domain", "zone", "challenge"],
            Hook::DnsZoneUpdate => &["zone"],
            Hook::SetHttpChallenge | Hook::ClearHttpChallenge => &["domain", "challenge_file"],
            Hook::PrivateKeyRollover => {
                &["key_name", "key_type", "backup_key_file", "private_key_file", "previous_key_file", "passphrase"]
            }
            Hook::PrivateKeyInstalled => &["key_name", "key_type", "private_key_file", "passphrase"],
            Hook::BackupKeyInstalled => &["key_name", "key_type", "backup_key_file", "passphrase"],
            Hook::PreviousKeyInstalled => &["key_name", "key_type", "previous_key_file", "passphrase"],
            Hook::HpkpHeaderInstalled => &["key_name", "server", "header", "hpkp_file"],
            Hook::CertificateInstalled => &["key_name", "key_type", "certificate_name", "certificate_file"],
            Hook::FullCertificateInstalled => &["key_name", "key_type", "certificate_name", "full_certificate_file"],
            Hook::ChainInstalled => &["key_name", "key_type", "certificate_name", "chain_file"],
            Hook::FullKeyInstalled => &["key_name", "key_type", "certificate_name", "full_key_file"],
            Hook::ParamsInstalled => &["key_name", "certificate_name", "params_file"],
            Hook::SctInstalled => &["key_name", "key_type", "certificate_name", "ct_log_name", "sct_file"],
            Hook::OcspInstalled => &["key_name", "key_type", "certificate_name", "ocsp_file"],
        }
    }
}

// ---------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------

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
    directories: Vec<Option<String>>,
    journal: PathBuf,
    /// (rsa, ecdsa) file name suffixes.
    key_type_suffixes: [String; 2],
    /// File name patterns indexed by `FileKind as usize`; `None` = disabled.
    file_names: Vec<Option<String>>,
    /// Server → header pattern (servers set to null are omitted).
    pub hpkp_headers: Vec<(String, String)>,
    pub services: BTreeMap<String, String>,
    pub ct_logs: BTreeMap<String, CtLog>,
    hooks: BTreeMap<Hook, String>,
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

    /// Whether a directory is configured (not null).
    pub fn dir_enabled(&self, kind: Dir) -> bool {
        self.directories[kind as usize].is_some()
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

    /// A certificate and the private key it belongs to.
    pub fn certificate(&self, name: &str) -> Option<(&PrivateKeySpec, &CertificateSpec)> {
        self.private_keys.iter().find_map(|k| k.certificates.iter().find(|c| c.name == name).map(|c| (k, c)))
    }

    /// The uid and gid that own certificate and key files.
    pub fn file_owner(&self) -> Result<(u32, u32), ConfigError> {
        Ok((
            resolve_user("file_user", &self.settings.file_user)?,
            resolve_group("file_group", &self.settings.file_group)?,
        ))
    }

    /// The uid and gid that own the log file.
    pub fn log_owner(&self) -> Result<(u32, u32), ConfigError> {
        Ok((resolve_user("log_user", &self.settings.log_user)?, resolve_group("log_group", &self.settings.log_group)?))
    }

    /// The whole effective configuration, secrets redacted, for `--show-config`.
    pub fn to_effective_json(&self) -> Value {
        let to = |v: &dyn erased::Ser| v.value();
        let mut directories = Map::new();
        for kind in Dir::ALL {
            directories.insert(kind.key().into(), json!(self.directories[kind as usize]));
        }
        directories.insert("journal".into(), json!(self.journal));
        let mut file_names = Map::new();
        for kind in FileKind::ALL {
            file_names.insert(kind.key().into(), json!(self.file_names[kind as usize]));
        }
        let hpkp_headers: Map<String, Value> =
            self.hpkp_headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let hooks: Map<String, Value> =
            self.hooks.iter().map(|(k, v)| (k.name().to_string(), Value::String(v.clone()))).collect();
        let ct_logs: Map<String, Value> = self.ct_logs.iter().map(|(k, v)| (k.clone(), to(&v.shards))).collect();
        let mut private_keys = Map::new();
        for key in &self.private_keys {
            let mut value = to(key);
            if let Value::Object(obj) = &mut value {
                obj.shift_remove("name");
                let mut certificates = Map::new();
                for cert in &key.certificates {
                    let mut c = to(cert);
                    if let Value::Object(o) = &mut c {
                        o.shift_remove("name");
                        let alt: Map<String, Value> =
                            cert.alt_names.iter().map(|z| (z.zone.clone(), json!(z.fqdns))).collect();
                        o.insert("alt_names".into(), Value::Object(alt));
                        let tlsa: Map<String, Value> =
                            cert.tlsa_records.iter().map(|z| (z.zone.clone(), to(&z.records))).collect();
                        o.insert("tlsa_records".into(), Value::Object(tlsa));
                    }
                    certificates.insert(cert.name.clone(), c);
                }
                obj.insert("certificates".into(), Value::Object(certificates));
            }
            private_keys.insert(key.name.clone(), value);
        }
        let authorizations: Map<String, Value> =
            self.authorizations.iter().map(|z| (z.zone.clone(), json!(z.fqdns))).collect();
        json!({
            "config_file": self.path,
            "account": to(&self.account),
            "settings": to(&self.settings),
            "directories": directories,
            "key_type_suffixes": {"rsa": self.key_type_suffixes[0], "ecdsa": self.key_type_suffixes[1]},
            "file_names": file_names,
            "hpkp_headers": hpkp_headers,
            "services": to(&self.services),
            "ct_logs": ct_logs,
            "hooks": hooks,
            "zone_update_keys": to(&self.zone_update_keys),
            "http_challenges": to(&self.http_challenges),
            "authorizations": authorizations,
            "private_keys": private_keys,
        })
    }
}

mod erased {
    //! `serde_json::to_value` behind a trait object, so one closure serves all types.
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize + ?Sized> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

// ---------------------------------------------------------------------------
// Users and groups
// ---------------------------------------------------------------------------

fn resolve_user(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, true).map_err(|message| ConfigError::Owner { setting, name: name.to_string(), message })
}

fn resolve_group(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, false).map_err(|message| ConfigError::Owner { setting, name: name.to_string(), message })
}

/// getpwnam_r / getgrnam_r; a numeric name that is not found is used as the id.
fn lookup_id(name: &str, user: bool) -> Result<u32, String> {
    let what = if user { "user" } else { "group" };
    let cname = CString::new(name).map_err(|_| format!("{what} name contains a NUL byte"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        let (rc, found) = unsafe {
            if user {
                let mut pwd: libc::passwd = std::mem::zeroed();
                let mut result: *mut libc::passwd = std::ptr::null_mut();
                let rc = libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
                (rc, (!result.is_null()).then_some(pwd.pw_uid))
            } else {
                let mut grp: libc::group = std::mem::zeroed();
                let mut result: *mut libc::group = std::ptr::null_mut();
                let rc = libc::getgrnam_r(cname.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
                (rc, (!result.is_null()).then_some(grp.gr_gid))
            }
        };
        if rc == libc::ERANGE && buf.len() < (1 << 22) {
            let len = buf.len() * 2;
            buf.resize(len, 0);
            continue;
        }
        if rc != 0 {
            return Err(format!("cannot look up {what}: {}", std::io::Error::from_raw_os_error(rc)));
        }
        return match found {
            Some(id) => Ok(id),
            None => name.parse::<u32>().map_err(|_| format!("no such {what} on this system")),
        };
    }
}

// ---------------------------------------------------------------------------
// Locating and loading
// ---------------------------------------------------------------------------

/// Finds the configuration file: an absolute `arg` as is; otherwise `arg`
/// (default `acmebot.json`) in `cwd`, `/etc/acmebot`, then `exe_dir`.
pub fn locate(arg: Option<&str>, cwd: &Path, exe_dir: Option<&Path>) -> Result<PathBuf, ConfigError> {
    locate_in(arg, cwd, Path::new(SYSTEM_CONFIG_DIR), exe_dir)
}

/// [`locate`] with the system directory as a parameter.
pub fn locate_in(
    arg: Option<&str>,
    cwd: &Path,
    system_dir: &Path,
    exe_dir: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    let name = arg.unwrap_or(CONFIG_FILE_NAME);
    let expanded: PathBuf = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(name),
    };
    // Like the original, a name without an extension also matches `<name>.json`.
    let mut names = vec![expanded.clone()];
    if expanded.extension().is_none() {
        let mut with_ext = expanded.clone().into_os_string();
        with_ext.push(".json");
        names.push(PathBuf::from(with_ext));
    }
    let bases: Vec<&Path> = if expanded.is_absolute() {
        vec![Path::new("")]
    } else {
        let mut b = vec![cwd, system_dir];
        b.extend(exe_dir);
        b
    };
    let mut tried = Vec::new();
    for base in bases {
        for n in &names {
            let candidate = base.join(n);
            if candidate.is_file() {
                return Ok(candidate);
            }
            tried.push(candidate);
        }
    }
    Err(ConfigError::NotFound { name: name.to_string(), tried })
}

fn read_json(path: &Path) -> Result<Value, ConfigError> {
    let text = fs_err::read_to_string(path)
        .map_err(|e| ConfigError::Read { path: path.to_path_buf(), message: e.to_string() })?;
    parse_json(&text, path)
}

fn parse_json(text: &str, path: &Path) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Parse { path: path.to_path_buf(), line: e.line(), column: e.column(), message }
    })
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}

/// Loads, merges `conf.d/*.json` next to it (as the original does), validates
/// and resolves a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut root = read_json(path)?;
    let conf_d = path.parent().unwrap_or(Path::new(".")).join("conf.d");
    if let Ok(entries) = std::fs::read_dir(&conf_d) {
        let mut extra: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        extra.sort();
        for p in extra {
            let v = read_json(&p)?;
            merge(&mut root, v);
        }
    }
    build(root, path)
}

/// Validates and resolves configuration text as if read from `path`.
pub fn from_json_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    build(parse_json(text, path)?, path)
}

fn build(root: Value, path: &Path) -> Result<Loaded, ConfigError> {
    let config_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let config_dir = if config_dir.is_absolute() {
        config_dir
    } else {
        std::env::current_dir().map(|cwd| normalize(&cwd.join(&config_dir))).unwrap_or(config_dir)
    };
    let mut ck = Ck::default();
    let config = Builder { ck: &mut ck, config_dir: config_dir.clone() }.build(root, path);
    let mut problems: Vec<Problem> = Vec::new();
    for p in ck.problems {
        if !problems.contains(&p) {
            problems.push(p);
        }
    }
    match config {
        Some(config) if problems.is_empty() => {
            let mut warnings = Vec::new();
            for w in ck.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            Ok(Loaded { config, warnings })
        }
        _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems }),
    }
}

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

const DEFAULT_CT_LOGS: &str = r#"{
    "google_argon": [
        {"log_id": "TnWjJ1yaEMM4W2zU3z9S6x3w4I4bjWnAsfpksWKaOd8=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIIKh+WdoqOTblJji4WiH5AltIDUzODyvFKrXCBjw/Rab0/98J4LUh7dOJEY7+66+yCNSICuqRAX+VPnV8R1Fmg==", "url": "https://ct.googleapis.com/logs/us1/argon2025h1/", "start": "2025-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        {"log_id": "EvFONL1TckyEBhnDjz96E/jntWKHiJxtMAWE6+WGJjo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr+TzlCzfpie1/rJhgxnIITojqKk9VK+8MZoc08HjtsLzD8e5yjsdeWVhIiWCVk6Y6KomKTYeKGBv6xVu93zQug==", "url": "https://ct.googleapis.com/logs/us1/argon2025h2/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "DleUvPOuqT4zGyyZB7P3kN+bwj1xMiXdIaklrGHFTiE=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEB/we6GOO/xwxivy4HhkrYFAAPo6e2nc346Wo2o2U+GvoPWSPJz91s/xrEvA3Bk9kWHUUXVZS5morFEzsgdHqPg==", "url": "https://ct.googleapis.com/logs/us1/argon2026h1/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "1219ENGn9XfCx+lf1wC/+YLJM1pl4dCzAXMXwMjFaXc=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKjpni/66DIYrSlGK6Rf+e6F2c/28ZUvDJ79N81+gyimAESAyeNZ++TRgjHWg9TVQnKHTSU0T1TtqDupFnSQTIg==", "url": "https://ct.googleapis.com/logs/us1/argon2026h2/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "google_xenon": [
        {"log_id": "zxFW7tUufK/zh1vZaS6b6RpxZ0qwF+ysAdJbd87MOwg=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEguLOkEA/gQ7f6uEgK14uMFRGgblY7a+9/zanngtfamuRpcGY4fLN6xcgcMoqEuZUeFDc/239HKe2Oh/5JqkbvQ==", "url": "https://ct.googleapis.com/logs/eu1/xenon2025h1/", "start": "2025-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        {"log_id": "3dzKNJXX4RYF55Uy+sef+D0cUN/bADoUEnYKLKy7yCo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa+Cv7QZ8Pe/ZDuRYSwTYKkeZkIl6uTaldcgEuMviqiu1aJ2IKaKlz84rmhWboD6dlByyt0ryUexA7WJHpANJhg==", "url": "https://ct.googleapis.com/logs/eu1/xenon2025h2/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "lpdkv1VYl633Q4doNwhCd+nwOtX2pPM2bkakPw/KqcY=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOh/Iu87VkEc0ysoBBCchHOIpPZK7kUXHWj6l1PIS5ujmQ7rze8I4r/wjigVW6wMKMMxjbNk8vvV7lLqU07+ITA==", "url": "https://ct.googleapis.com/logs/eu1/xenon2026h1/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "2AlVO5RPev/IFhlvlE+Fq7D4/F6HVSYPFdEucrtFSxQ=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5Xd4lXEos5XJpcx6TOgyA5Z7/C4duaTbQ6C9aXL5Rbqaw+mW1XDnDX7JlRUninIwZYZDU9wRRBhJmCVopzwFvw==", "url": "https://ct.googleapis.com/logs/eu1/xenon2026h2/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "cloudflare_nimbus": [
        {"log_id": "zPsPaoVxCWX+lZtTzumyfCLphVwNl422qX5UwP5MDbA=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGoAaFRkZI3m0+qB5jo3VwdzCtZaSfpTgw34UfAoNLUaonRuxQWUMX5jEWhd5gVtKFEHsr6ldDqsSGXHNQ++7lw==", "url": "https://ct.cloudflare.com/logs/nimbus2025/", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "yzj3FYl8hKFEX1vB3fvJbvKaWc1HCmkFhbDLFMMUWOc=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2FxhT6xq0iCATopC9gStS9SxHHmOKTLeaVNZ661488Aq8tARXQV+6+jB0983v5FkRm4OJxPqu29GJ1iG70Ahow==", "url": "https://ct.cloudflare.com/logs/nimbus2026/", "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        {"log_id": "TGPcmOWcHauI9h6KPd6uj6tEozd7X5uUw/uhnPzBviY=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYjd/jE0EoAhNBbfcNhrTb7F0x10KZK8r2SDjx1GdjJ75hJrHx2OCQ+BXRjXi+czoREN1u0j9cWl8d6OoPMPogQ==", "url": "https://ct.cloudflare.com/logs/nimbus2027/", "start": "2027-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}
    ],
    "digicert_log_server": {"log_id": "VhQGmi/XwuzT9eG9RLI+x0Z2ubyZEVzA75SYVdaJ0N0=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAkbFvhu7gkAW6MHSrBlpE1n4+HCFRkC5OLAjgqhkTH+/uzSfSl8ois8ZxAD2NgaTZe1M9akhYlrYkes4JECs6A==", "url": "https://ct1.digicert-ct.com/log/"},
    "digicert_log_server_2": {"log_id": "h3W/51l8+IxDmV+9827/Vo1HVjb/SrVgwbTq/16ggw8=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzF05L2a4TH/BLgOhNKPoioYCrkoRxvcmajeb8Dj4XQmNY+gxa4Zmz3mzJTwe33i0qMVp+rfwgnliQ/bM/oFmhA==", "url": "https://ct2.digicert-ct.com/log/"},
    "digicert_yeti": [
        {"log_id": "fVkeEuF4KnscYWd8Xv340IdcFKBOlZ65Ay/ZDowuebg=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE35UAXhDBAfc34xB00f+yypDtMplfDDn+odETEazRs3OTIMITPEy1elKGhj3jlSR82JGYSDvw8N8h8bCBWlklQw==", "url": "https://yeti2025.ct.digicert.com/log/", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    ],
    "digicert_nessie": [
        {"log_id": "5tIxY0B3jMEQQQbXcbnOwdJA9paEhvu6hzId/R43jlA=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8vDwp4uBLgk5O59C2jhEX7TM7Ta72EN/FklXhwR/pQE09+hoP7d4H2BmLWeadYC3U6eF1byrRwZV27XfiKFvOA==", "url": "https://nessie2025.ct.digicert.com/log/", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    ],
    "digicert_sphinx": [
        {"log_id": "pELFBklgYVSPD9TqnPt6LSZFTYepfy/fRVn2J086hFQ=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQYxQE1SxGQW3f0ogbqN1Y8o09Mx06jI7tosDFKhSfzKHXlmeD6sYnilstXJ3GidUhV3BeySoNOPNiM7UUBu+aQ==", "url": "https://sphinx.ct.digicert.com/2025h2/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"},
        {"log_id": "SZybad4dfOz8Nt7Nh2SmuFuvCoeAGdFVUvvp6ynd+MM=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq4S++DyHokIlmmacritS51r5IRsZA6UH4kYLH4pefGyu/xl3huh7/O5rNk/yvMOeBQKaCAG1SSM1xNNQK1Hp9A==", "url": "https://sphinx.ct.digicert.com/2026h1/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "lE5Dh/rswe+B8xkkJqgYZQHH0184AgE/cmd9VTcuGdg=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEquD0JkRQT/2inuaA4HC1sc6UpfiXgURVQmQcInmnZFnTiZMhZvsJgWAfYlU0OIykOC6slQzr7U9kvEVC9wZ6zQ==", "url": "https://sphinx.ct.digicert.com/2026h2/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "digicert_wyvern": [
        {"log_id": "7TxL1ugGwqSiAFfbyyTiOAHfUS/txIbFcA8g3bc+P+A=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4NtB7+QEvctrLkzM8WzeQVh//pT2evZg7Yt2cqOiHDETMjWh8gjSaMU0p1YIHGPeleKBaZeNHqi3ZlEldU14Lg==", "url": "https://wyvern.ct.digicert.com/2025h2/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"},
        {"log_id": "ZBHEbKQS7KeJHKICLgC8q08oB9QeNSer6v7VA8l9zfA=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7Lw0OeKajbeZepHxBXJS2pOJXToHi5ntgKUW2nMhIOuGlofFxtkXum65TBNY1dGD+HrfHge8Fc3ASs0qMXEHVQ==", "url": "https://wyvern.ct.digicert.com/2026h1/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "wjF+V0UZo0XufzjespBB68fCIVoiv3/Vta12mtkOUs0=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEenPbSvLeT+zhFBu+pqk8IbhFEs16iCaRIFb1STLDdWzL6XwTdTWcbOzxMTzB3puME5K3rT0PoZyPSM50JxgjmQ==", "url": "https://wyvern.ct.digicert.com/2026h2/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "sectigo_sabre": [
        {"log_id": "4JKz/AwdyOdoNh/eYbmWTQpSeBmKctZyxLBNpW1vVAQ=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfi858egjjrMyBK9NV/bbxXSkem07B1EMWvuAMAXGWgzEdtYGqFdN+9/kgpDCQa5wszGi4/o9XyxdBM20nVWrQQ==", "url": "https://sabre2025h1.ct.sectigo.com/", "start": "2025-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        {"log_id": "GgT/SdBUHUCv9qDDv/HYxGcvTuzuI0BomGsXQC7ciX0=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhRMRLXvzk4HkuXzZZDvntYOZZnlZR2pCXta9Yy63kUuuvFbExW4JoNdkGsjBr4mL9VjYuut7g1Lp9OClzc2SzA==", "url": "https://sabre2025h2.ct.sectigo.com/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "VmzVo3a+g9/jQrZ1xJwjJJinabrDgsurSaOHfZqzLQE=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhCa8Nr3YjTyHnuAQr82U2de5UYA0fvdYXHPq6wmTuBB7kJx9x82WQ+1TbpUhRmdR8N62yZ6q4oBtziWBNNdqYA==", "url": "https://sabre2026h1.ct.sectigo.com/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "H1bRq5RwSkHdP+r99GmTVTAsFDG/5hNGCJ//rnldzC8=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzjXK7DkHgtp3J4bk8n7F3Djym6mrjKfA7YMePmobwPCVVroyM0x1fAkH6eE+ZTVj8Em+ctGqna99CMS0jVk9cw==", "url": "https://sabre2026h2.ct.sectigo.com/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "sectigo_mammoth": [
        {"log_id": "E0rfGrWYQgl4DG/vTHqRpBa3I0nOWFdq367ap8Kr4CI=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEzxBtTB9LkqhqGvSxVdrmP5+79Uh4rpdsLqFEW6U4D2ojm1WjUQCnrCDzFTfm05yYks8DDLdhvvrPmbNd1hb5Q==", "url": "https://mammoth2025h1.ct.sectigo.com/", "start": "2025-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        {"log_id": "rxgaKNaMo+CpikycZ6sJ+Lu8IrquvLE4o6Gd0/m2Aw0=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiOLHs9c3o5HXs8XaB1EEK4HtwkQ7daDmZeFKuhuxnKkqhDEprh2L8TOfEi6QsRVnZqB8C1tif2yaajCbaAIWbw==", "url": "https://mammoth2025h2.ct.sectigo.com/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "JS+Uwisp6W6fQRpyBytpXFtS/5epDSVAu/zcUexN7gs=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnssMilHMiuILzoXmr00x2xtqTP2weWuZl8Bd+25FUB1iqsafm2sFPaKrK12Im1Ao4p5YpaX6+eP6FSXjFBMyxA==", "url": "https://mammoth2026h1.ct.sectigo.com/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "lLHBirDQV8R74KwEDh8svI3DdXJ7yVHyClJhJoY7pzw=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7INh8te0u+TkO+vIY3WYz2GQYxQ9XyLfdLpQp1ibaX3mY4lt2ddRhD/4AtjI/8KXceV+J/VysY8kJ1cKDXTAtg==", "url": "https://mammoth2026h2.ct.sectigo.com/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    ],
    "sectigo_elephant": [
        {"log_id": "DR28iUTp9QBVQtctPhRMzEMIKrbqHpTf1wZlfS6G8wE=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0OlLeGW2qUZGUoQERydw3GlayEO3ZK3418zThY1tDYr85ASme6ZOL/2DXyOXw8RCwVsKhRbOqMEOxW4Q2p4KQg==", "url": "https://elephant2025h2.ct.sectigo.com/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "0W6ppWgHfmY1oD83pd28A6U8QRIU1IgY9ekxsyPLlQQ=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEU0lqnPHoXuU9Fc9dJv1HQZCvssJfvxLsirwVQ/fkFyUqeu4inwPKikeT4DGyyWWH4NR/DCJa2bAumHrXJdAcaQ==", "url": "https://elephant2026h1.ct.sectigo.com/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "r2eIO1ewTt2Pptl+9i6o64EKx3Fg8CReVdYML+eFhzo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO/t4Uwkoou78zkCchh9tfAKbIUJmbOoUAb8szD8StnnHFKAVY5kq1Ljs8YD7CfzdD7xcVjmQYpbtNUhxRMRtmA==", "url": "https://elephant2026h2.ct.sectigo.com/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        {"log_id": "YEyar3p/d18B1Ab8kg3ImesLHH34yVIb+voXdzuXi8k=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4fu36JygUwaaVO+ddWJ97FJZlA5SjPLmT+RHwg0pavkIrbT1b5LNQrsaEw0CoGraf7BkzKZf7PC8gYAScw2woA==", "url": "https://elephant2027h1.ct.sectigo.com/", "start": "2027-01-01T00:00:00Z", "end": "2027-07-01T00:00:00Z"},
        {"log_id": "okkM3NuOM6QAMhdg1tTVGiA2GR6nfZaL4mqKAPb///c=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECTPhpJnRFroRRpP/1DdAns+PrnmUywtqIV+EeL4Jg8zKouoW7kuAkYo+kZeoHtyK7CBhflIlMk7T2Qrn4w/t8g==", "url": "https://elephant2027h2.ct.sectigo.com/", "start": "2027-07-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}
    ],
    "sectigo_tiger": [
        {"log_id": "XKV30pt/i69Bntjsq/tty67DhTcC1XRvF02tPJNKqWo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFUl5keBbWVckXMv6WSWToTeGwi9DSNCI2WZlIENBkA/zADmmS58w33/f0JhC2KEkWS+4T7/bYOXv4dDNzzrExg==", "url": "https://tiger2025h2.ct.sectigo.com/", "start": "2025-07-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"log_id": "FoMtq/CpJQ8P8DqlRf/Iv8gj0IdL9gQpJ/jnHzMT9fo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE73eDJyszDbzsWcgI0nbtU0+y11gQWjNjS/RSO5P4hOSFE+pPrDCtfNPHe6dq7/XQYwOFt9Feb8TwQW+mqXN5xg==", "url": "https://tiger2026h1.ct.sectigo.com/", "start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        {"log_id": "yKPEf8ezrbk1awE/anoSbeM6TkOlxkb5l605dZkdz5o=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfJFUD/FRkonvZIA9ZT1J3yvA4EpSp3innbIVpMTDR1oCe5vguapheQ7wYiWaCES1EL1B+2BEC+P5bUfwF44lnA==", "url": "https://tiger2026h2.ct.sectigo.com/", "start": "2026-07-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        {"log_id": "HJ9oLOn68EVpUPgbloqH3dsyENhM5siy44JSSsTPWZ8=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmMQofpsDjCVYzF4jXdFWM/ioYBJIPcsQQrNAHE6v4lOsADoI+/jN1lph8x4K3NgnXDXwmyJcFwRYgVOBMhaYhA==", "url": "https://tiger2027h1.ct.sectigo.com/", "start": "2027-01-01T00:00:00Z", "end": "2027-07-01T00:00:00Z"},
        {"log_id": "A4AqwmL24F4D+Lxve5hRMk/Xaj31t1lRdeIi+46b1fY=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb0AgkemhsPmYe1goCSy5ncf2lG9vtK6f+SzODKJMYEgPOT+z93cUEKM1EaTuo09rozfdqhjeihIl25y9A3JhyQ==", "url": "https://tiger2027h2.ct.sectigo.com/", "start": "2027-07-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}
    ],
    "lets_encrypt_oak": [
        {"log_id": "ouMK5EXvva2bfjjtR2d3U9eCW4SU1yteGyzEuVCkR+c=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKeBpU9ejnCaIZeX39EsdF5vDvf8ELTHdLPxikl4y4EiROIQfS4ercpnMHfh8+TxYVFs3ELGr2IP7hPGVPy4vHA==", "url": "https://oak.ct.letsencrypt.org/2025h1/", "start": "2024-12-20T00:00:00Z", "end": "2025-07-20T00:00:00Z"},
        {"log_id": "DeHyMCvTDcFAYhIJ6lUu/Ed0fLHX6TDvDkIetH5OqjQ=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtXYwB63GyNLkS9L1vqKNnP10+jrW+lldthxg090fY4eG40Xg1RvANWqrJ5GVydc9u8H3cYZp9LNfkAmqrr2NqQ==", "url": "https://oak.ct.letsencrypt.org/2025h2/", "start": "2025-06-20T00:00:00Z", "end": "2026-01-20T00:00:00Z"},
        {"log_id": "GYbUxyiqb/66A294Kk0BkarOLXIxD67OXXBBLSVMx9Q=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmdRhcCL6d5MNs8eAliJRvyV5sQFC6UF7iwzHsmVaifT64gJG1IrHzBAHESdFSJAjQN56TYky+9cK616MovH2SQ==", "url": "https://oak.ct.letsencrypt.org/2026h1/", "start": "2025-12-20T00:00:00Z", "end": "2026-07-20T00:00:00Z"},
        {"log_id": "rKswcGzr7IQx9BPS9JFfER5CJEOx8qaMTzwrO6ceAsM=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEanCds5bj7IU2lcNPnIvZfMnVkSmu69aH3AS8O/Y0D/bbCPdSqYjvuz9Z1tT29PxcqYxf+w1g5CwPFuwqsm3rFQ==", "url": "https://oak.ct.letsencrypt.org/2026h2/", "start": "2026-06-20T00:00:00Z", "end": "2027-01-20T00:00:00Z"}
    ],
    "lets_encrypt_sycamore": [
        {"log_id": "W/beU/H7+sSaGFl0aUWhpqconV5wpg9IRQ5Ya7mucrg=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERI8grd3rsuE95/3Rk/Jn9rGBrpcvDqD6Y5Ooz1E+xABGl3w6JLdFHfzSFZvEFX/Goar6nbzQHtV75ud4R0Iafg==", "url": "https://log.sycamore.ct.letsencrypt.org/2025h2d/", "start": "2025-06-19T00:00:00Z", "end": "2025-12-18T00:00:00Z"},
        {"log_id": "pcl4kl1XRheChw3YiWYLXFVki30AQPLsB2hR0YhpGfc=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfEEe0JZknA91/c6eNl1aexgeKzuGQUMvRCXPXg9L227O5I4Pi++Abcpq6qxlVUKPYafAJelAnMfGzv3lHCc8gA==", "url": "https://log.sycamore.ct.letsencrypt.org/2026h1/", "start": "2025-12-18T00:00:00Z", "end": "2026-06-18T00:00:00Z"},
        {"log_id": "bP5QGUOoXqkWvFLRM+TcyR7xQRx9JYQg0XOAnhgY6zo=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwR1FtiiMbpvxR+sIeiZ5JSCIDIdTAPh7OrpdchcrCcyNVDvNUq358pqJx2qdyrOI+EjGxZ7UiPcN3bL3Q99FqA==", "url": "https://log.sycamore.ct.letsencrypt.org/2026h2/", "start": "2026-06-18T00:00:00Z", "end": "2026-12-17T00:00:00Z"},
        {"log_id": "jspHC6zeavOiBrCkeoS3Rv4fxr+VPiXmm07kAkjzxug=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWrGdYyZYB7teCS4K/oKIsbV0yVBSgjlOwO22OOCoA6Y252QhFzC8Wg7oVXVKqfkWaSaM/n+3pfCBf4BAkpdx8g==", "url": "https://log.sycamore.ct.letsencrypt.org/2027h1/", "start": "2026-12-17T00:00:00Z", "end": "2027-06-18T00:00:00Z"},
        {"log_id": "5eNiR9ku9K2jhYO1NZHbcp/C8ArktnRRdNPd/GqiU4g=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK+2zy2UWRMIyC2jU46+rj8UsyMjLsQIr1Y/6ClbdpWGthUb8y3Maf4zfAZTWW+AH9wAWPLRL5vmtz7Zkh2f2nA==", "url": "https://log.sycamore.ct.letsencrypt.org/2027h2/", "start": "2027-06-18T00:00:00Z", "end": "2027-12-16T00:00:00Z"}
    ],
    "lets_encrypt_willow": [
        {"log_id": "5NAXdhyRORG+9HOWrNjSRljCT7WTtRvqxVknYuiFPBU=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAElX78WOZsrDp7/LDFvsGytclanWhJ2oEwdgytKo21ZrCzbJ6raFAmZ1bMFh4B/0+e1aWtfhG2wgCM2ex/aDgZuA==", "url": "https://log.willow.ct.letsencrypt.org/2025h2d/", "start": "2025-06-18T00:00:00Z", "end": "2025-12-17T00:00:00Z"},
        {"log_id": "4yON8o2iiOCq4Kzw+pDJhfC2v/XSpSewAfwcRFjEtug=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtpFyulwgy1+u+wYQ37lbV+HsPFNYoi4sy6dZP662N/Z/usdNi4+Q3RLES1RY2PNk7zL/7VPSn3JERMPu/s4e4A==", "url": "https://log.willow.ct.letsencrypt.org/2026h1/", "start": "2025-12-17T00:00:00Z", "end": "2026-06-17T00:00:00Z"},
        {"log_id": "qCbL4wrGNRJGUz/gZfFPGdluGQgTxB3ZbXkAsxI8VSc=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEp8wH8R6zfM+UhsQq5un+lPdNTDkzcgkWLi1DwyqU6T00mtP5/CuGjvpw4mIz89I6KV5ZvhRHt5ZTF6qe24pqiA==", "url": "https://log.willow.ct.letsencrypt.org/2026h2/", "start": "2026-06-17T00:00:00Z", "end": "2026-12-16T00:00:00Z"},
        {"log_id": "ooEAGHNOF24dR+CVQPOBulRml81jqENQcW64CU7a8Q0=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzsMKtojO0BVB4t59lVyAhxtqObVA+wId5BpJGA8pZrw5GTjzuhpvLu/heQGi0hHCeislkDe34N/2D0SwEUBE0w==", "url": "https://log.willow.ct.letsencrypt.org/2027h1/", "start": "2026-12-16T00:00:00Z", "end": "2027-06-17T00:00:00Z"},
        {"log_id": "ppWirZJtb5lujvxJAUJX2LvwRqfWJYm4jcLXh2x45S8=", "key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYbMDg0qQEEYjsTttdDlouTKhg3fRiMJYNE+Epr/2bXyeQdQOHKQNKv5sbIKxjtE/5Vqo9YjQbnaOeH4Wm4PhdQ==", "url": "https://log.willow.ct.letsencrypt.org/2027h2/", "start": "2027-06-17T00:00:00Z", "end": "2027-12-15T00:00:00Z"}
    ]
}"#;

fn defaults() -> Map<String, Value> {
    let mut m = Map::new();
    // Split in two: one json! call this large exceeds the macro recursion limit.
    let mut settings = json!({
            "follower_mode": false,
            "log_level": "debug",
            "color_output": true,
            "key_types": ["rsa", "ecdsa"],
            "key_size": 4096,
            "key_curve": "secp384r1",
            "key_cipher": "blowfish",
            "key_passphrase": null,
            "key_provided": false,
            "dhparam_size": 2048,
            "ecparam_curve": ["x448", "x25519", "secp521r1", "secp384r1", "secp256k1"],
            "file_user": "root",
            "file_group": "ssl-cert",
            "log_user": "root",
            "log_group": "adm",
            "warning_exit_code": false,
            "hpkp_days": 60,
            "pin_subdomains": true,
            "hpkp_report_uri": null,
            "ocsp_must_staple": false,
            "ocsp_responder_urls": ["http://ocsp.int-x3.letsencrypt.org"],
            "ct_submit_logs": ["google_argon", "google_xenon"],
            "renewal_days": 30,
    });
    if let (Value::Object(a), Value::Object(b)) = (
        &mut settings,
        json!({
                "expiration_days": 730,
                "auto_rollover": false,
                "max_dns_lookup_attempts": 30,
                "dns_lookup_delay": 10,
                "max_domains_per_order": 100,
                "max_authorization_attempts": 30,
                "authorization_delay": 10,
                "cert_poll_time": 30,
                "max_ocsp_verify_attempts": 10,
                "ocsp_verify_retry_delay": 5,
                "min_run_delay": 300,
                "max_run_delay": 3600,
                "acme_directory_url": "https://acme-v02.api.letsencrypt.org/directory",
                "acme_directory_verify_ssl": true,
                "reload_zone_command": "/etc/bind/reload-zone.sh",
                "nsupdate_command": "/usr/bin/nsupdate",
                "public_suffix_list_url": "https://publicsuffix.org/list/public_suffix_list.dat",
                "verify": null,
                "services": null,
                "ca_bundle": null,
                "dns_resolvers": [],
                "profile": null,
                "preferred_chain": null,
        }),
    ) {
        a.extend(b);
    }
    m.insert("settings".into(), settings);
    m.insert(
        "directories".into(),
        json!({
            "pid": "/var/run",
            "log": format!("/var/log/{SCRIPT_NAME}"),
            "resource": format!("/var/local/{SCRIPT_NAME}"),
            "private_key": "/etc/ssl/private",
            "backup_key": "/etc/ssl/private",
            "previous_key": null,
            "full_key": "/etc/ssl/private",
            "certificate": "/etc/ssl/certs",
            "full_certificate": "/etc/ssl/certs",
            "chain": "/etc/ssl/certs",
            "param": "/etc/ssl/params",
            "challenge": "/etc/ssl/challenges",
            "http_challenge": null,
            "hpkp": null,
            "ocsp": null,
            "sct": "/etc/ssl/scts/{name}/{key_type}",
            "update_key": "/etc/ssl/update_keys",
            "archive": "/etc/ssl/archive",
            "temp": null,
            "journal": null,
        }),
    );
    m.insert("key_type_suffixes".into(), json!({"rsa": ".rsa", "ecdsa": ".ecdsa"}));
    m.insert(
        "file_names".into(),
        json!({
            "log": format!("{SCRIPT_NAME}.log"),
            "private_key": "{name}{suffix}.key",
            "backup_key": "{name}_backup{suffix}.key",
            "previous_key": "{name}_previous{suffix}.key",
            "full_key": "{name}_full{suffix}.key",
            "certificate": "{name}{suffix}.pem",
            "full_certificate": "{name}+root{suffix}.pem",
            "chain": "{name}_chain{suffix}.pem",
            "param": "{name}_param.pem",
            "challenge": "{name}",
            "hpkp": "{name}.{server}",
            "ocsp": "{name}{suffix}.ocsp",
            "sct": "{ct_log_name}.sct",
        }),
    );
    m.insert(
        "hpkp_headers".into(),
        json!({
            "apache": "Header always set Public-Key-Pins \"{header}\"\n",
            "nginx": "add_header Public-Key-Pins \"{header}\" always;\n",
        }),
    );
    m.insert(
        "services".into(),
        json!({
            "apache": "systemctl reload-or-restart apache2",
            "coturn": "systemctl reload-or-restart coturn",
            "crowdsec": "systemctl reload-or-restart crowdsec",
            "dovecot": "systemctl reload-or-restart dovecot",
            "etherpad": "systemctl reload-or-restart etherpad",
            "mysql": "systemctl reload-or-restart mysql",
            "nginx": "systemctl reload-or-restart nginx",
            "postfix": "systemctl reload-or-restart postfix",
            "postgresql": "systemctl reload-or-restart postgresql",
            "prosody": "systemctl reload-or-restart prosody",
            "slapd": "systemctl reload-or-restart slapd",
            "synapse": "systemctl reload-or-restart matrix-synapse",
            "znc": "systemctl reload-or-restart znc",
        }),
    );
    m.insert("ct_logs".into(), serde_json::from_str::<Value>(DEFAULT_CT_LOGS).unwrap_or_else(|_| json!({})));
    m
}

// ---------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Ck {
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Ck {
    fn err(&mut self, path: &str, message: impl fmt::Display) {
        self.problems.push(Problem { json_path: path.to_string(), message: message.to_string() });
    }
    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short rendering of a JSON value for error messages.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn quoted_list(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    q.join(", ")
}

fn as_bool(ck: &mut Ck, path: &str, v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        _ => {
            ck.err(path, format!("{} is not allowed; use true or false", show(v)));
            false
        }
    }
}

fn as_u32(ck: &mut Ck, path: &str, v: &Value) -> u32 {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        // The original accepted anything int() accepts; numeric strings stay valid.
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n.and_then(|n| u32::try_from(n).ok()) {
        Some(n) => n,
        None => {
            ck.err(path, format!("{} is not allowed; use a non-negative integer", show(v)));
            0
        }
    }
}

/// Sizes and day counts where `0` or `null` disable the feature.
fn as_opt_u32(ck: &mut Ck, path: &str, v: &Value) -> Option<u32> {
    match v {
        Value::Null | Value::Bool(false) => None,
        _ => Some(as_u32(ck, path, v)).filter(|n| *n > 0),
    }
}

fn as_string(ck: &mut Ck, path: &str, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => {
            ck.err(path, format!("{} is not allowed; use a string", show(v)));
            String::new()
        }
    }
}

/// A string, or `null`/empty for none.
fn as_opt_string(ck: &mut Ck, path: &str, v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        _ => {
            ck.err(path, format!("{} is not allowed; use a string or null", show(v)));
            None
        }
    }
}

/// A string, a list of strings, or null (the original's `_get_list`).
fn as_str_list(ck: &mut Ck, path: &str, v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    Value::Null => {}
                    _ => ck.err(&idx(path, i), format!("{} is not allowed; use a string", show(item))),
                }
            }
            out
        }
        _ => {
            ck.err(path, format!("{} is not allowed; use a string, a list of strings or null", show(v)));
            Vec::new()
        }
    }
}

/// One of a fixed set of strings (or null when `nullable`).
fn as_choice<T: Copy>(ck: &mut Ck, path: &str, v: &Value, options: &[(&str, T)], nullable: bool) -> Option<T> {
    if v.is_null() && nullable {
        return None;
    }
    if let Value::String(s) = v {
        if let Some((_, t)) = options.iter().find(|(name, _)| name == s) {
            return Some(*t);
        }
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let mut allowed = quoted_list(&names);
    if nullable {
        allowed.push_str(" or null");
    }
    ck.err(path, format!("{} is not allowed; use one of {allowed}", show(v)));
    None
}

fn as_object<'a>(ck: &mut Ck, path: &str, v: &'a Value) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        Value::Null => None,
        _ => {
            ck.err(path, format!("{} is not allowed; use an object", show(v)));
            None
        }
    }
}

const KEY_TYPE_CHOICES: &[(&str, KeyType)] = &[("rsa", KeyType::Rsa), ("ecdsa", KeyType::Ecdsa)];

fn as_key_types(ck: &mut Ck, path: &str, v: &Value) -> Vec<KeyType> {
    let items: Vec<(String, &Value)> = match v {
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| (idx(path, i), item)).collect(),
        Value::Null => Vec::new(),
        _ => vec![(path.to_string(), v)],
    };
    let mut out = Vec::new();
    for (p, item) in items {
        if let Some(k) = as_choice(ck, &p, item, KEY_TYPE_CHOICES, false) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out.sort();
    out
}

fn as_curve(ck: &mut Ck, path: &str, v: &Value) -> Option<Curve> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) if Curve::parse(s).is_some() => Curve::parse(s),
        _ => {
            let names: Vec<&str> = Curve::ALL.iter().map(|c| c.as_str()).collect();
            ck.err(path, format!("{} is not allowed; use one of {} or null", show(v), quoted_list(&names)));
            None
        }
    }
}

const RSA_KEY_SIZES: [u32; 4] = [2048, 3072, 4096, 8192];

fn as_key_size(ck: &mut Ck, path: &str, v: &Value) -> Option<u32> {
    let size = as_opt_u32(ck, path, v)?;
    if !RSA_KEY_SIZES.contains(&size) {
        ck.err(path, format!("{size} is not allowed; use one of 2048, 3072, 4096, 8192, or 0 or null to disable RSA"));
    }
    Some(size)
}

fn as_passphrase(ck: &mut Ck, path: &str, v: &Value) -> Passphrase {
    match v {
        Value::Null | Value::Bool(false) => Passphrase::None,
        Value::Bool(true) => Passphrase::Prompt,
        Value::String(s) if s.is_empty() => Passphrase::None,
        Value::String(s) => Passphrase::Value(s.clone()),
        // Never echo the value: it may be a mistyped secret.
        _ => {
            ck.err(path, "this value is not allowed; use null, false, true (ask at run time) or a passphrase string");
            Passphrase::None
        }
    }
}

fn as_port(ck: &mut Ck, path: &str, v: &Value) -> u16 {
    let before = ck.problems.len();
    let n = as_u32(ck, path, v);
    if ck.problems.len() > before {
        return 0;
    }
    match u16::try_from(n) {
        Ok(port) if port > 0 => port,
        _ => {
            ck.err(path, format!("{} is not allowed; use a port number from 1 to 65535", show(v)));
            0
        }
    }
}

fn warn_unknown(ck: &mut Ck, path: &str, map: &Map<String, Value>, known: &[&str], what: &str) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            ck.warn(format!("unknown {what} {} (ignored)", join(path, key)));
        }
    }
}

/// Why a private key or certificate name could escape its directory, if it could.
fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("it contains a path separator")
    } else if name.contains("..") {
        Some("it contains \"..\"")
    } else if name.starts_with('.') {
        Some("it starts with \".\"")
    } else if name.chars().any(|c| c.is_control()) {
        Some("it contains a control character")
    } else {
        None
    }
}

fn check_name(ck: &mut Ck, path: &str, what: &str, name: &str) -> bool {
    match unsafe_name_reason(name) {
        Some(reason) => {
            ck.err(path, format!("{what} name {name:?} is not allowed because {reason}; names are used as file names"));
            false
        }
        None => true,
    }
}

/// Lower-cases and checks a DNS name (a leading `*.` label is allowed).
fn dns_name(ck: &mut Ck, path: &str, name: &str) -> Option<String> {
    let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let body = lower.strip_prefix("*.").unwrap_or(&lower);
    let ok = !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Some(lower)
    } else {
        ck.err(path, format!("{name:?} is not a valid DNS name"));
        None
    }
}

/// `@` → the zone, `host` → `host.zone`.
fn host_in_zone(host: &str, zone: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host == "@" {
        zone.to_string()
    } else {
        format!("{host}.{zone}")
    }
}

/// The original's `_host_in_list`: equal, or one is a wildcard covering the other.
fn host_matches(a: &str, b: &str) -> bool {
    let parent = |n: &str| n.split_once('.').map(|(_, p)| p.to_string());
    a == b
        || (b.starts_with("*.") && parent(a).as_deref() == Some(&b[2..]))
        || (a.starts_with("*.") && parent(b).as_deref() == Some(&a[2..]))
}

/// Lexical normalization (the original's `os.path.normpath`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    normalize(&base.join(p))
}

/// `ip`, `ip:port`, `[v6]:port` or bare `v6`; the port defaults to 53.
pub fn parse_resolver(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, 53));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------

const TOP_LEVEL: &[&str] = &[
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
const KEY_OPTIONS: &[&str] = &[
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
const INHERITED_CERT_OPTIONS: &[&str] = &[
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
const CERT_ONLY_OPTIONS: &[&str] = &["common_name", "alt_names", "tlsa_records", "key_types"];

/// One level of option lookup.
struct Layer<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

static NULL: Value = Value::Null;

/// The first layer that sets `key`: its JSON path and value.
fn pick<'a>(layers: &[Layer<'a>], key: &str) -> (String, &'a Value) {
    for layer in layers {
        if let Some(v) = layer.map.get(key) {
            return (join(&layer.path, key), v);
        }
    }
    (key.to_string(), &NULL)
}

struct Builder<'c> {
    ck: &'c mut Ck,
    config_dir: PathBuf,
}

impl Builder<'_> {
    fn build(mut self, root: Value, path: &Path) -> Option<Config> {
        let Value::Object(mut root) = root else {
            self.ck.err("", "the configuration must be a JSON object");
            return None;
        };
        warn_unknown(self.ck, "", &root, TOP_LEVEL, "section");

        // Merge the defaults key by key into each defaulted section.
        for (section, default) in defaults() {
            let Value::Object(default) = default else {
                continue;
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
        let private_keys =
            self.private_keys(section("private_keys"), section("certificates"), settings_map, &services, &ct_logs);

        self.warn_not_implemented(&directories, &private_keys);

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

    /// Settings that are off by default and that a user turned on, for features
    /// not implemented yet: warned on every run, so nobody believes responses
    /// are stapled or installations checked when they are not. (Features on by
    /// default, DH parameters and SCTs, are listed in the README instead: a
    /// warning on every default run would make acmebot loud when nothing changes.)
    fn warn_not_implemented(&mut self, directories: &[Option<String>], keys: &[PrivateKeySpec]) {
        if directories[Dir::Ocsp as usize].is_some() {
            self.ck.warn("directories.ocsp is set, but OCSP responses are not implemented yet: none are fetched");
        }
        let verified = keys.iter().flat_map(|k| &k.certificates).any(|c| !c.verify.is_empty());
        if verified {
            self.ck
                .warn("verify is configured, but installation verification is not implemented yet: nothing is checked");
        }
    }

    fn account(&mut self, m: &Map<String, Value>) -> Account {
        warn_unknown(self.ck, "account", m, &["email", "eab_kid", "eab_hmac_key", "eab_algorithm", "key_type"], "key");
        let get = |k: &str| m.get(k).unwrap_or(&NULL);
        let email = as_opt_string(self.ck, "account.email", get("email"));
        if let Some(e) = &email {
            if e.starts_with('<') && e.ends_with('>') {
                self.ck.warn(format!(
                    "account.email: {e:?} is a placeholder; replace it with your address, without the angle brackets"
                ));
            } else if !e.contains('@') {
                self.ck.err("account.email", format!("{e:?} is not an email address"));
            }
        }
        let eab_kid = as_opt_string(self.ck, "account.eab_kid", get("eab_kid"));
        let eab_hmac_key = match get("eab_hmac_key") {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                self.ck.err("account.eab_hmac_key", "this value is not allowed; use a base64url string or null");
                None
            }
        };
        if eab_kid.is_some() != eab_hmac_key.is_some() {
            self.ck.err("account", "eab_kid and eab_hmac_key must be given together");
        }
        let eab_algorithm = match as_opt_string(self.ck, "account.eab_algorithm", get("eab_algorithm")) {
            None => "HS256".to_string(),
            Some(a) if ["HS256", "HS384", "HS512"].contains(&a.as_str()) => a,
            Some(a) => {
                self.ck.err(
                    "account.eab_algorithm",
                    format!("{a:?} is not allowed; use one of \"HS256\", \"HS384\", \"HS512\""),
                );
                "HS256".to_string()
            }
        };
        let key_type = as_opt_string(self.ck, "account.key_type", get("key_type"));
        Account { email, eab_kid, eab_hmac_key, eab_algorithm, key_type }
    }

    fn services(&mut self, m: &Map<String, Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("services", name);
            if let Some(cmd) = as_opt_string(self.ck, &p, v) {
                out.insert(name.clone(), cmd);
            }
        }
        out
    }

    fn ct_logs(&mut self, m: &Map<String, Value>) -> BTreeMap<String, CtLog> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("ct_logs", name);
            if !check_name(self.ck, &p, "certificate transparency log", name) {
                continue;
            }
            let shards: Vec<(String, &Value)> = match v {
                Value::Null => continue,
                Value::Array(items) => items.iter().enumerate().map(|(i, s)| (idx(&p, i), s)).collect(),
                _ => vec![(p.clone(), v)],
            };
            let mut log = CtLog { name: name.clone(), shards: Vec::new() };
            for (sp, shard) in shards {
                if let Some(s) = self.ct_shard(&sp, shard) {
                    log.shards.push(s);
                }
            }
            if log.shards.is_empty() {
                self.ck.err(&p, "a certificate transparency log needs at least one {\"url\", \"log_id\"} entry");
            }
            out.insert(name.clone(), log);
        }
        out
    }

    fn ct_shard(&mut self, p: &str, v: &Value) -> Option<CtLogShard> {
        use base64::Engine;
        let m = as_object(self.ck, p, v)?;
        warn_unknown(self.ck, p, m, &["url", "id", "log_id", "key", "start", "end"], "key");
        let url = match m.get("url") {
            Some(u) => as_string(self.ck, &join(p, "url"), u),
            None => {
                self.ck.err(p, "missing \"url\"");
                String::new()
            }
        };
        let (id_key, id) = match (m.get("log_id"), m.get("id")) {
            (Some(v), _) => ("log_id", v),
            (None, Some(v)) => ("id", v),
            (None, None) => {
                self.ck.err(p, "missing \"log_id\" (or the older \"id\")");
                return None;
            }
        };
        let log_id = as_string(self.ck, &join(p, id_key), id);
        let decoded = base64::engine::general_purpose::STANDARD.decode(&log_id);
        if !matches!(decoded, Ok(ref b) if b.len() == 32) {
            self.ck.err(&join(p, id_key), format!("{log_id:?} is not a base64 SHA-256 log ID"));
        }
        let key = m.get("key").and_then(|k| as_opt_string(self.ck, &join(p, "key"), k));
        if let Some(k) = &key {
            if base64::engine::general_purpose::STANDARD.decode(k).is_err() {
                self.ck.err(&join(p, "key"), "is not base64 DER");
            }
        }
        let time = |ck: &mut Ck, k: &str| -> Option<Timestamp> {
            let s = as_opt_string(ck, &join(p, k), m.get(k).unwrap_or(&NULL))?;
            let t = parse_rfc3339(&s);
            if t.is_none() {
                ck.err(&join(p, k), format!("{s:?} is not an RFC 3339 time such as \"2026-01-01T00:00:00Z\""));
            }
            t
        };
        let start = time(self.ck, "start");
        let end = time(self.ck, "end");
        Some(CtLogShard { log_id, key, url, start, end })
    }

    fn settings(
        &mut self,
        m: &Map<String, Value>,
        services: &BTreeMap<String, String>,
        ct_logs: &BTreeMap<String, CtLog>,
    ) -> Settings {
        const KNOWN: &[&str] = &[
            "follower_mode",
            "slave_mode",
            "log_level",
            "color_output",
            "key_types",
            "key_size",
            "key_curve",
            "key_cipher",
            "key_passphrase",
            "key_provided",
            "dhparam_size",
            "ecparam_curve",
            "file_user",
            "file_group",
            "log_user",
            "log_group",
            "warning_exit_code",
            "hpkp_days",
            "pin_subdomains",
            "hpkp_report_uri",
            "ocsp_must_staple",
            "ocsp_responder_urls",
            "ct_submit_logs",
            "renewal_days",
            "expiration_days",
            "auto_rollover",
            "max_dns_lookup_attempts",
            "dns_lookup_delay",
            "max_domains_per_order",
            "max_authorization_attempts",
            "authorization_delay",
            "cert_poll_time",
            "max_ocsp_verify_attempts",
            "ocsp_verify_retry_delay",
            "min_run_delay",
            "max_run_delay",
            "acme_directory_url",
            "acme_directory_verify_ssl",
            "reload_zone_command",
            "nsupdate_command",
            "public_suffix_list_url",
            "verify",
            "services",
            "ca_bundle",
            "dns_resolvers",
            "profile",
            "preferred_chain",
        ];
        warn_unknown(self.ck, "settings", m, KNOWN, "setting");
        let ck = &mut *self.ck;
        let g = |k: &str| (format!("settings.{k}"), m.get(k).unwrap_or(&NULL));
        macro_rules! get {
            ($f:ident, $k:expr) => {{
                let (p, v) = g($k);
                $f(ck, &p, v)
            }};
        }
        let log_level = {
            let (p, v) = g("log_level");
            let choices = [
                ("normal", LogLevel::Normal),
                ("verbose", LogLevel::Verbose),
                ("debug", LogLevel::Debug),
                ("detail", LogLevel::Detail),
            ];
            as_choice(ck, &p, v, &choices, true)
        };
        let services_list = get!(as_str_list, "services");
        check_refs(ck, "settings.services", &services_list, services, "service", "services");
        let ct_submit_logs = get!(as_str_list, "ct_submit_logs");
        check_refs(ck, "settings.ct_submit_logs", &ct_submit_logs, ct_logs, "certificate transparency log", "ct_logs");
        let ca_bundle = get!(as_opt_string, "ca_bundle").map(|s| resolve_path(&self.config_dir, &s));
        let dns_resolvers = {
            let (p, v) = g("dns_resolvers");
            let list = match v {
                Value::Array(items) => items.iter().enumerate().map(|(i, x)| (idx(&p, i), x)).collect(),
                Value::Null => Vec::new(),
                _ => vec![(p.clone(), v)],
            };
            let mut out = Vec::new();
            for (ip, item) in list {
                let s = as_string(ck, &ip, item);
                match parse_resolver(&s) {
                    Some(a) => out.push(a),
                    None if s.is_empty() && !item.is_string() => {}
                    None => ck.err(
                        &ip,
                        format!("{s:?} is not allowed; use \"ip\" or \"ip:port\" (IPv6 as \"::1\" or \"[::1]:5353\")"),
                    ),
                }
            }
            out
        };
        let verify = {
            let (p, v) = g("verify");
            verify_list(ck, &p, v, None)
        };
        let min_run_delay = get!(as_u32, "min_run_delay");
        let max_run_delay = get!(as_u32, "max_run_delay");
        if min_run_delay > max_run_delay {
            ck.err(
                "settings.min_run_delay",
                format!("{min_run_delay} is greater than settings.max_run_delay ({max_run_delay})"),
            );
        }
        let key_size = get!(as_key_size, "key_size");
        let key_curve = get!(as_curve, "key_curve");
        Settings {
            follower_mode: get!(as_bool, "follower_mode"),
            log_level,
            color_output: get!(as_bool, "color_output"),
            key_types: get!(as_key_types, "key_types"),
            key_size,
            key_curve,
            key_cipher: get!(as_opt_string, "key_cipher"),
            key_passphrase: get!(as_passphrase, "key_passphrase"),
            key_provided: get!(as_bool, "key_provided"),
            dhparam_size: get!(as_opt_u32, "dhparam_size"),
            ecparam_curve: get!(as_str_list, "ecparam_curve"),
            file_user: get!(as_string, "file_user"),
            file_group: get!(as_string, "file_group"),
            log_user: get!(as_string, "log_user"),
            log_group: get!(as_string, "log_group"),
            warning_exit_code: get!(as_bool, "warning_exit_code"),
            hpkp_days: get!(as_opt_u32, "hpkp_days"),
            pin_subdomains: get!(as_bool, "pin_subdomains"),
            hpkp_report_uri: get!(as_opt_string, "hpkp_report_uri"),
            ocsp_must_staple: get!(as_bool, "ocsp_must_staple"),
            ocsp_responder_urls: get!(as_str_list, "ocsp_responder_urls"),
            ct_submit_logs,
            renewal_days: get!(as_u32, "renewal_days"),
            expiration_days: get!(as_opt_u32, "expiration_days"),
            auto_rollover: get!(as_bool, "auto_rollover"),
            max_dns_lookup_attempts: get!(as_u32, "max_dns_lookup_attempts"),
            dns_lookup_delay: get!(as_u32, "dns_lookup_delay"),
            max_domains_per_order: get!(as_u32, "max_domains_per_order"),
            max_authorization_attempts: get!(as_u32, "max_authorization_attempts"),
            authorization_delay: get!(as_u32, "authorization_delay"),
            cert_poll_time: get!(as_u32, "cert_poll_time"),
            max_ocsp_verify_attempts: get!(as_u32, "max_ocsp_verify_attempts"),
            ocsp_verify_retry_delay: get!(as_u32, "ocsp_verify_retry_delay"),
            min_run_delay,
            max_run_delay,
            acme_directory_url: get!(as_string, "acme_directory_url"),
            acme_directory_verify_ssl: get!(as_bool, "acme_directory_verify_ssl"),
            reload_zone_command: get!(as_opt_string, "reload_zone_command"),
            nsupdate_command: get!(as_opt_string, "nsupdate_command"),
            public_suffix_list_url: get!(as_opt_string, "public_suffix_list_url"),
            verify,
            services: services_list,
            ca_bundle,
            dns_resolvers,
            profile: get!(as_opt_string, "profile"),
            preferred_chain: get!(as_opt_string, "preferred_chain"),
        }
    }

    fn directories(&mut self, m: &Map<String, Value>) -> (Vec<Option<String>>, PathBuf) {
        let mut known: Vec<&str> = Dir::ALL.iter().map(|d| d.key()).collect();
        known.push("journal");
        warn_unknown(self.ck, "directories", m, &known, "key");
        let mut dirs = Vec::with_capacity(Dir::ALL.len());
        for kind in Dir::ALL {
            let p = join("directories", kind.key());
            let raw = as_opt_string(self.ck, &p, m.get(kind.key()).unwrap_or(&NULL));
            if let (Some(pattern), Some(fields)) = (&raw, kind.fields()) {
                if let Err(e) = format::check(pattern, fields) {
                    self.ck.err(&p, e);
                }
            }
            if raw.is_none() && kind == Dir::Resource {
                self.ck.err(&p, "must not be null: the account key, registration and journal are kept there");
            }
            dirs.push(raw.map(|s| resolve_path(&self.config_dir, &s).to_string_lossy().into_owned()));
        }
        let resource = PathBuf::from(dirs[Dir::Resource as usize].clone().unwrap_or_else(|| ".".into()));
        let journal = match as_opt_string(self.ck, "directories.journal", m.get("journal").unwrap_or(&NULL)) {
            Some(j) => resolve_path(&self.config_dir, &j),
            None => resource.join("journal.jsonl"),
        };
        (dirs, journal)
    }

    fn key_type_suffixes(&mut self, m: &Map<String, Value>) -> [String; 2] {
        warn_unknown(self.ck, "key_type_suffixes", m, &["rsa", "ecdsa"], "key");
        let mut get = |k: &str| {
            let p = join("key_type_suffixes", k);
            let s = as_opt_string(self.ck, &p, m.get(k).unwrap_or(&NULL)).unwrap_or_default();
            if s.contains('/') || s.chars().any(|c| c.is_control()) {
                self.ck.err(&p, format!("{s:?} is not allowed; a suffix may not contain \"/\" or control characters"));
            }
            s
        };
        let rsa = get("rsa");
        let ecdsa = get("ecdsa");
        if rsa == ecdsa {
            self.ck.warn(format!(
                "key_type_suffixes.rsa and key_type_suffixes.ecdsa are both {rsa:?}: RSA and ECDSA files will overwrite each other unless file names use {{key_type}}"
            ));
        }
        [rsa, ecdsa]
    }

    fn file_names(&mut self, m: &Map<String, Value>) -> Vec<Option<String>> {
        let known: Vec<&str> = FileKind::ALL.iter().map(|f| f.key()).collect();
        warn_unknown(self.ck, "file_names", m, &known, "key");
        FileKind::ALL
            .iter()
            .map(|kind| {
                let p = join("file_names", kind.key());
                let raw = as_opt_string(self.ck, &p, m.get(kind.key()).unwrap_or(&NULL));
                if let Some(pattern) = &raw {
                    if let Err(e) = format::check(pattern, kind.fields()) {
                        self.ck.err(&p, e);
                    }
                }
                raw
            })
            .collect()
    }

    fn hpkp_headers(&mut self, m: &Map<String, Value>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (server, v) in m {
            let p = join("hpkp_headers", server);
            let Some(pattern) = as_opt_string(self.ck, &p, v) else {
                continue;
            };
            if !check_name(self.ck, &p, "server", server) {
                continue;
            }
            if let Err(e) = format::check(&pattern, HPKP_HEADER_FIELDS) {
                self.ck.err(&p, e);
            }
            out.push((server.clone(), pattern));
        }
        out
    }

    fn hooks(&mut self, m: &Map<String, Value>) -> BTreeMap<Hook, String> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("hooks", name);
            let Some(hook) = Hook::parse(name) else {
                let names: Vec<&str> = Hook::ALL.iter().map(|h| h.name()).collect();
                self.ck.err(&p, format!("unknown hook {name:?}; use one of {}", quoted_list(&names)));
                continue;
            };
            let Some(pattern) = as_opt_string(self.ck, &p, v) else {
                continue;
            };
            if let Err(e) = format::check(&pattern, hook.fields()) {
                self.ck.err(&p, e);
            }
            out.insert(hook, pattern);
        }
        out
    }

    fn zone_update_keys(
        &mut self,
        m: &Map<String, Value>,
        update_key_dir: Option<String>,
    ) -> BTreeMap<String, ZoneUpdateKey> {
        let base = update_key_dir.map(PathBuf::from).unwrap_or_else(|| self.config_dir.clone());
        let mut out = BTreeMap::new();
        for (zone, v) in m {
            let p = join("zone_update_keys", zone);
            let Some(zone_name) = dns_name(self.ck, &p, zone) else {
                continue;
            };
            let key = match v {
                Value::Null => continue,
                Value::String(file) => ZoneUpdateKey { file: resolve_path(&base, file), server: None, port: 53 },
                Value::Object(o) => {
                    warn_unknown(self.ck, &p, o, &["file", "server", "port"], "key");
                    let file = match o.get("file") {
                        Some(f) => as_string(self.ck, &join(&p, "file"), f),
                        None => {
                            self.ck.err(&p, "missing \"file\" (the TSIG key file)");
                            String::new()
                        }
                    };
                    let server = as_opt_string(self.ck, &join(&p, "server"), o.get("server").unwrap_or(&NULL));
                    let port = match o.get("port") {
                        None | Some(Value::Null) => 53,
                        Some(port) => as_port(self.ck, &join(&p, "port"), port),
                    };
                    ZoneUpdateKey { file: resolve_path(&base, &file), server, port }
                }
                _ => {
                    self.ck.err(
                        &p,
                        format!(
                            "{} is not allowed; use a key file name or {{\"file\", \"server\", \"port\"}}",
                            show(v)
                        ),
                    );
                    continue;
                }
            };
            out.insert(zone_name, key);
        }
        out
    }

    fn http_challenges(&mut self, m: &Map<String, Value>) -> BTreeMap<String, Option<PathBuf>> {
        let mut out = BTreeMap::new();
        for (fqdn, v) in m {
            let p = join("http_challenges", fqdn);
            let Some(name) = dns_name(self.ck, &p, fqdn) else {
                continue;
            };
            let dir = as_opt_string(self.ck, &p, v).map(|d| resolve_path(&self.config_dir, &d));
            out.insert(name, dir);
        }
        out
    }

    /// `{zone: [hosts]}` → resolved names per zone.
    fn zone_names(&mut self, p: &str, m: &Map<String, Value>, at_zone: Option<&str>) -> Vec<ZoneNames> {
        let mut out: Vec<ZoneNames> = Vec::new();
        for (zone, hosts) in m {
            let zp = join(p, zone);
            let zone_raw = if zone == "@" { at_zone.unwrap_or(zone) } else { zone };
            let Some(zone_name) = dns_name(self.ck, &zp, zone_raw) else {
                continue;
            };
            let items: Vec<(String, &Value)> = match hosts {
                Value::Array(items) => items.iter().enumerate().map(|(i, h)| (idx(&zp, i), h)).collect(),
                _ => vec![(zp.clone(), hosts)],
            };
            let mut fqdns = Vec::new();
            for (hp, h) in items {
                let host = as_string(self.ck, &hp, h);
                if let Some(fqdn) = dns_name(self.ck, &hp, &host_in_zone(&host, &zone_name)) {
                    if !fqdns.contains(&fqdn) {
                        fqdns.push(fqdn);
                    }
                }
            }
            match out.iter_mut().find(|z| z.zone == zone_name) {
                Some(existing) => existing.fqdns.extend(fqdns),
                None => out.push(ZoneNames { zone: zone_name, fqdns }),
            }
        }
        out
    }

    fn authorizations(&mut self, m: &Map<String, Value>) -> Vec<ZoneNames> {
        self.zone_names("authorizations", m, None)
    }

    fn private_keys(
        &mut self,
        keys: &Map<String, Value>,
        certs: &Map<String, Value>,
        settings: &Map<String, Value>,
        services: &BTreeMap<String, String>,
        ct_logs: &BTreeMap<String, CtLog>,
    ) -> Vec<PrivateKeySpec> {
        let mut out: Vec<PrivateKeySpec> = Vec::new();
        let mut cert_names: Vec<(String, String)> = Vec::new(); // (name, json path)
        let empty = Map::new();
        let settings_layer = || Layer { path: "settings".into(), map: settings };

        let mut entries: Vec<(String, String, &Map<String, Value>, bool)> = Vec::new();
        for (name, v) in keys {
            let p = join("private_keys", name);
            let obj = as_object(self.ck, &p, v).unwrap_or(&empty);
            entries.push((name.clone(), p, obj, false));
        }
        for (name, v) in certs {
            let p = join("certificates", name);
            if keys.contains_key(name) {
                self.ck.err(&p, format!("{name:?} is also configured in private_keys; a name may be used in only one of certificates and private_keys"));
                continue;
            }
            let obj = as_object(self.ck, &p, v).unwrap_or(&empty);
            entries.push((name.clone(), p, obj, true));
        }

        for (name, p, obj, is_certificate) in entries {
            if !check_name(self.ck, &p, if is_certificate { "certificate" } else { "private key" }, &name) {
                continue;
            }
            let key_layers = [Layer { path: p.clone(), map: obj }, settings_layer()];
            let ck = &mut *self.ck;
            macro_rules! key_opt {
                ($f:ident, $k:expr) => {{
                    let (kp, v) = pick(&key_layers, $k);
                    $f(ck, &kp, v)
                }};
            }
            let key_types = key_opt!(as_key_types, "key_types");
            let key_size = key_opt!(as_key_size, "key_size");
            let key_curve = key_opt!(as_curve, "key_curve");
            let mut enabled = Vec::new();
            if key_size.is_some() && key_types.contains(&KeyType::Rsa) {
                enabled.push(KeyType::Rsa);
            }
            if key_curve.is_some() && key_types.contains(&KeyType::Ecdsa) {
                enabled.push(KeyType::Ecdsa);
            }
            let mut spec = PrivateKeySpec {
                name: name.clone(),
                key_types: Vec::new(),
                rsa_key_size: key_size,
                ecdsa_curve: key_curve,
                key_cipher: key_opt!(as_opt_string, "key_cipher"),
                key_passphrase: key_opt!(as_passphrase, "key_passphrase"),
                key_provided: key_opt!(as_bool, "key_provided"),
                expiration_days: key_opt!(as_opt_u32, "expiration_days"),
                auto_rollover: key_opt!(as_bool, "auto_rollover"),
                hpkp_days: key_opt!(as_opt_u32, "hpkp_days"),
                pin_subdomains: key_opt!(as_bool, "pin_subdomains"),
                hpkp_report_uri: key_opt!(as_opt_string, "hpkp_report_uri"),
                certificates: Vec::new(),
            };
            if enabled.is_empty() {
                self.ck.err(&p, "no key type is enabled (key_types, key_size 0/null and key_curve null leave neither rsa nor ecdsa)");
            }

            // The certificates of this key: (name, path, object, extra layer).
            let mut key_certs: Vec<(String, String, &Map<String, Value>)> = Vec::new();
            if is_certificate {
                let mut known: Vec<&str> = KEY_OPTIONS.to_vec();
                known.extend_from_slice(INHERITED_CERT_OPTIONS);
                known.extend_from_slice(CERT_ONLY_OPTIONS);
                warn_unknown(self.ck, &p, obj, &known, "certificate option");
                key_certs.push((name.clone(), p.clone(), obj));
            } else {
                let mut known: Vec<&str> = KEY_OPTIONS.to_vec();
                known.extend_from_slice(INHERITED_CERT_OPTIONS);
                known.push("certificates");
                warn_unknown(self.ck, &p, obj, &known, "private key option");
                let cp = join(&p, "certificates");
                match obj.get("certificates") {
                    Some(Value::Object(cm)) if !cm.is_empty() => {
                        for (cname, cv) in cm {
                            let ccp = join(&cp, cname);
                            let cobj = match cv {
                                Value::Null => &empty,
                                _ => as_object(self.ck, &ccp, cv).unwrap_or(&empty),
                            };
                            key_certs.push((cname.clone(), ccp, cobj));
                        }
                    }
                    Some(Value::Object(_)) | None | Some(Value::Null) => {
                        self.ck.err(&p, "no certificates defined for this private key (add a \"certificates\" object)")
                    }
                    Some(other) => {
                        let shown = show(other);
                        self.ck.err(&cp, format!("{shown} is not allowed; use an object of certificates"))
                    }
                }
            }

            for (cname, cp, cobj) in key_certs {
                if !check_name(self.ck, &cp, "certificate", &cname) {
                    continue;
                }
                if let Some((_, other)) = cert_names.iter().find(|(n, _)| *n == cname) {
                    self.ck.err(&cp, format!("certificate {cname:?} is already configured at {other}"));
                    continue;
                }
                cert_names.push((cname.clone(), cp.clone()));
                if !is_certificate {
                    let mut known: Vec<&str> = INHERITED_CERT_OPTIONS.to_vec();
                    known.extend_from_slice(CERT_ONLY_OPTIONS);
                    for k in cobj.keys() {
                        if KEY_OPTIONS.contains(&k.as_str()) && k != "key_types" {
                            self.ck.warn(format!("{} is a private key option; set it on {p} (ignored)", join(&cp, k)));
                        } else if !known.contains(&k.as_str()) {
                            self.ck.warn(format!("unknown certificate option {} (ignored)", join(&cp, k)));
                        }
                    }
                }
                let layers =
                    [Layer { path: cp.clone(), map: cobj }, Layer { path: p.clone(), map: obj }, settings_layer()];
                if let Some(cert) = self.certificate(&cname, &cp, cobj, &layers, &spec, &enabled, services, ct_logs) {
                    spec.certificates.push(cert);
                }
            }

            let used: Vec<KeyType> = KeyType::ALL
                .into_iter()
                .filter(|k| spec.certificates.iter().any(|c| c.key_types.contains(k)))
                .collect();
            if !used.contains(&KeyType::Rsa) {
                spec.rsa_key_size = None;
            }
            if !used.contains(&KeyType::Ecdsa) {
                spec.ecdsa_curve = None;
            }
            spec.key_types = used;
            out.push(spec);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn certificate(
        &mut self,
        name: &str,
        p: &str,
        obj: &Map<String, Value>,
        layers: &[Layer<'_>],
        key: &PrivateKeySpec,
        enabled: &[KeyType],
        services: &BTreeMap<String, String>,
        ct_logs: &BTreeMap<String, CtLog>,
    ) -> Option<CertificateSpec> {
        let ck_before = self.ck.problems.len();
        let common_name_raw = match obj.get("common_name") {
            Some(v) => as_string(self.ck, &join(p, "common_name"), v),
            None => name.to_string(),
        };
        let cn_path = if obj.contains_key("common_name") { join(p, "common_name") } else { p.to_string() };
        let common_name = dns_name(self.ck, &cn_path, &common_name_raw).unwrap_or_default();

        let alt_path = join(p, "alt_names");
        let alt_names = match obj.get("alt_names") {
            None | Some(Value::Null) => vec![ZoneNames { zone: common_name.clone(), fqdns: vec![common_name.clone()] }],
            Some(v) => match as_object(self.ck, &alt_path, v) {
                Some(m) => self.zone_names(&alt_path, m, Some(&common_name)),
                None => Vec::new(),
            },
        };
        let all: Vec<&String> = alt_names.iter().flat_map(|z| z.fqdns.iter()).collect();
        if !common_name.is_empty() && !all.contains(&&common_name) {
            let listed: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
            self.ck.err(
                &cn_path,
                format!(
                    "common name {common_name:?} is not among the alt_names ({}) of certificate {name:?}",
                    listed.join(", ")
                ),
            );
        }
        for (i, a) in all.iter().enumerate() {
            if let Some(b) = all[i + 1..].iter().find(|b| host_matches(a, b)) {
                self.ck.err(&alt_path, format!("alt name {a:?} conflicts with {b:?} in certificate {name:?}"));
            }
        }
        let all_names: Vec<String> = all.iter().map(|s| s.to_string()).collect();

        let ck = &mut *self.ck;
        macro_rules! opt {
            ($f:ident, $k:expr) => {{
                let (kp, v) = pick(layers, $k);
                $f(ck, &kp, v)
            }};
        }
        // key_types: only the certificate object itself narrows the key's types.
        let key_types = match obj.get("key_types") {
            Some(v) if !v.is_null() => {
                let kp = join(p, "key_types");
                let wanted = as_key_types(ck, &kp, v);
                for k in &wanted {
                    if !enabled.contains(k) {
                        ck.warn(format!(
                            "{kp}: {k} is not enabled for private key {:?} ({}); ignored",
                            key.name,
                            if *k == KeyType::Rsa { "key_size is 0 or null" } else { "key_curve is null" }
                        ));
                    }
                }
                wanted.into_iter().filter(|k| enabled.contains(k)).collect::<Vec<_>>()
            }
            _ => enabled.to_vec(),
        };
        if key_types.is_empty() && !enabled.is_empty() {
            ck.err(&join(p, "key_types"), "no enabled key type is left for this certificate");
        }
        let services_list = {
            let (kp, v) = pick(layers, "services");
            let list = as_str_list(ck, &kp, v);
            check_refs(ck, &kp, &list, services, "service", "services");
            list
        };
        let ct_submit_logs = {
            let (kp, v) = pick(layers, "ct_submit_logs");
            let list = as_str_list(ck, &kp, v);
            check_refs(ck, &kp, &list, ct_logs, "certificate transparency log", "ct_logs");
            list
        };
        let verify = {
            let (kp, v) = pick(layers, "verify");
            let hosts = if kp.starts_with("settings.") { None } else { Some(all_names.as_slice()) };
            verify_list(ck, &kp, v, hosts)
        };
        let dhparam_size = opt!(as_opt_u32, "dhparam_size");
        let ecparam_curve = opt!(as_str_list, "ecparam_curve");
        let ocsp_must_staple = opt!(as_bool, "ocsp_must_staple");
        let ocsp_responder_urls = opt!(as_str_list, "ocsp_responder_urls");
        let profile = opt!(as_opt_string, "profile");
        let preferred_chain = opt!(as_opt_string, "preferred_chain");
        let tlsa_records = self.tlsa_records(&join(p, "tlsa_records"), obj.get("tlsa_records").unwrap_or(&NULL));
        let cert = CertificateSpec {
            name: name.to_string(),
            common_name,
            alt_names,
            services: services_list,
            key_types,
            dhparam_size,
            ecparam_curve,
            ocsp_must_staple,
            ocsp_responder_urls,
            ct_submit_logs,
            verify,
            tlsa_records,
            profile,
            preferred_chain,
        };
        (self.ck.problems.len() == ck_before).then_some(cert)
    }

    fn tlsa_records(&mut self, p: &str, v: &Value) -> Vec<TlsaZone> {
        let Some(m) = as_object(self.ck, p, v) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (zone, records) in m {
            let zp = join(p, zone);
            let Some(zone_name) = dns_name(self.ck, &zp, zone) else {
                continue;
            };
            let items: Vec<(String, &Value)> = match records {
                Value::Array(items) => items.iter().enumerate().map(|(i, r)| (idx(&zp, i), r)).collect(),
                Value::Null => Vec::new(),
                _ => vec![(zp.clone(), records)],
            };
            let mut recs = Vec::new();
            for (rp, r) in items {
                if let Some(rec) = self.tlsa_record(&rp, r, &zone_name) {
                    recs.push(rec);
                }
            }
            out.push(TlsaZone { zone: zone_name, records: recs });
        }
        out
    }

    fn tlsa_record(&mut self, p: &str, v: &Value, zone: &str) -> Option<TlsaRecord> {
        let empty = Map::new();
        let (host, o) = match v {
            Value::String(h) => (h.clone(), &empty),
            Value::Object(o) => {
                warn_unknown(self.ck, p, o, &["host", "port", "usage", "selector", "protocol", "ttl"], "key");
                let host = o.get("host").map(|h| as_string(self.ck, &join(p, "host"), h)).unwrap_or_else(|| "@".into());
                (host, o)
            }
            _ => {
                self.ck.err(p, format!("{} is not allowed; use a host name or a TLSA record object", show(v)));
                return None;
            }
        };
        let fqdn = dns_name(self.ck, &join(p, "host"), &host_in_zone(&host, zone))?;
        let port = o.get("port").map(|x| as_port(self.ck, &join(p, "port"), x)).unwrap_or(443);
        let usages = [
            ("pkix-ta", TlsaUsage::PkixTa),
            ("pkix-ee", TlsaUsage::PkixEe),
            ("dane-ta", TlsaUsage::DaneTa),
            ("dane-ee", TlsaUsage::DaneEe),
        ];
        let usage = match o.get("usage") {
            Some(u) => as_choice(self.ck, &join(p, "usage"), u, &usages, false).unwrap_or(TlsaUsage::PkixEe),
            None => TlsaUsage::PkixEe,
        };
        let selectors = [("cert", TlsaSelector::Cert), ("spki", TlsaSelector::Spki)];
        let selector = match o.get("selector") {
            Some(s) => as_choice(self.ck, &join(p, "selector"), s, &selectors, false).unwrap_or(TlsaSelector::Spki),
            None => TlsaSelector::Spki,
        };
        let protocol = match o.get("protocol") {
            Some(x) => {
                let s = as_string(self.ck, &join(p, "protocol"), x).to_ascii_lowercase();
                if !matches!(s.as_str(), "tcp" | "udp" | "sctp") {
                    self.ck.err(
                        &join(p, "protocol"),
                        format!("{s:?} is not allowed; use one of \"tcp\", \"udp\", \"sctp\""),
                    );
                }
                s
            }
            None => "tcp".to_string(),
        };
        let ttl = o.get("ttl").map(|x| as_u32(self.ck, &join(p, "ttl"), x)).unwrap_or(300);
        Some(TlsaRecord { host, fqdn, port, usage, selector, protocol, ttl })
    }
}

/// Every name in `list` must be a key of `defined`.
fn check_refs<T>(ck: &mut Ck, path: &str, list: &[String], defined: &BTreeMap<String, T>, what: &str, section: &str) {
    for (i, name) in list.iter().enumerate() {
        if !defined.contains_key(name) {
            let p = if list.len() == 1 { path.to_string() } else { idx(path, i) };
            let names: Vec<&str> = defined.keys().map(String::as_str).collect();
            ck.err(
                &p,
                format!("unknown {what} {name:?}; define it in {section} or use one of {}", quoted_list(&names)),
            );
        }
    }
}

/// A `verify` value: a port, an object, or a list of them. `hosts` are the
/// certificate's names when the value was set on a certificate or private key.
fn verify_list(ck: &mut Ck, p: &str, v: &Value, alt_names: Option<&[String]>) -> Vec<VerifySpec> {
    let items: Vec<(String, &Value)> = match v {
        Value::Null => return Vec::new(),
        Value::Array(items) => items.iter().enumerate().map(|(i, x)| (idx(p, i), x)).collect(),
        _ => vec![(p.to_string(), v)],
    };
    let mut out = Vec::new();
    for (ip, item) in items {
        match item {
            Value::Null => {}
            Value::Number(_) | Value::String(_) => out.push(VerifySpec {
                port: as_port(ck, &ip, item),
                starttls: None,
                protocol: None,
                hosts: vec![],
                key_types: vec![],
            }),
            Value::Object(o) => {
                warn_unknown(ck, &ip, o, &["port", "starttls", "protocol", "hosts", "key_types"], "key");
                let port = match o.get("port") {
                    Some(x) => as_port(ck, &join(&ip, "port"), x),
                    None => {
                        ck.err(&ip, "missing \"port\"");
                        0
                    }
                };
                let starttls_choices = [
                    ("smtp", StartTls::Smtp),
                    ("pop3", StartTls::Pop3),
                    ("imap", StartTls::Imap),
                    ("sieve", StartTls::Sieve),
                    ("ftp", StartTls::Ftp),
                    ("xmpp", StartTls::Xmpp),
                ];
                let starttls =
                    as_choice(ck, &join(&ip, "starttls"), o.get("starttls").unwrap_or(&NULL), &starttls_choices, true);
                let protocol = as_choice(
                    ck,
                    &join(&ip, "protocol"),
                    o.get("protocol").unwrap_or(&NULL),
                    &[("http", VerifyProtocol::Http)],
                    true,
                );
                let hp = join(&ip, "hosts");
                let mut hosts = Vec::new();
                for h in as_str_list(ck, &hp, o.get("hosts").unwrap_or(&NULL)) {
                    let Some(h) = dns_name(ck, &hp, &h) else {
                        continue;
                    };
                    if let Some(names) = alt_names {
                        if !names.iter().any(|n| host_matches(&h, n)) {
                            ck.err(
                                &hp,
                                format!("host {h:?} is not an alt name of the certificate ({})", names.join(", ")),
                            );
                        }
                    }
                    hosts.push(h);
                }
                let key_types = as_key_types(ck, &join(&ip, "key_types"), o.get("key_types").unwrap_or(&NULL));
                out.push(VerifySpec { port, starttls, protocol, hosts, key_types });
            }
            _ => ck.err(&ip, format!("{} is not allowed; use a port number or a {{\"port\", ...}} object", show(item))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "acmebot-config-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn load_text(text: &str) -> Result<Loaded, ConfigError> {
        from_json_str(text, Path::new("/etc/acmebot/acmebot.json"))
    }

    fn ok(text: &str) -> Loaded {
        match load_text(text) {
            Ok(l) => l,
            Err(e) => panic!("unexpected error:\n{e}"),
        }
    }

    fn err(text: &str) -> String {
        match load_text(text) {
            Ok(_) => panic!("expected an error for {text}"),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str = r#"{
        "account": {"email": "admin@example.com"},
        "certificates": {"example.com": {"alt_names": {"example.com": ["@", "www"]}}}
    }"#;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn features_turned_on_but_not_implemented_are_warned() {
        let l = ok(r#"{
            "account": {"email": "admin@example.com"},
            "directories": {"hpkp": "/etc/ssl/hpkp", "ocsp": "/etc/ssl/ocsp"},
            "settings": {"auto_rollover": true},
            "certificates": {"example.com": {"alt_names": {"example.com": ["@"]}, "verify": [443]}}
        }"#);
        let w = l.warnings.join("\n");
        assert!(w.contains("directories.ocsp is set, but OCSP responses are not implemented yet"), "{w}");
        assert!(w.contains("verify is configured, but installation verification is not implemented yet"), "{w}");
        assert_eq!(l.warnings.len(), 2, "{w}");
    }

    #[test]
    fn minimal_config_resolves_names_and_default_paths() {
        let l = ok(MINIMAL);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let c = &l.config;
        assert_eq!(c.account.email.as_deref(), Some("admin@example.com"));
        assert_eq!(c.private_keys.len(), 1);
        let key = &c.private_keys[0];
        assert_eq!(key.name, "example.com");
        assert_eq!(key.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
        assert_eq!(key.rsa_key_size, Some(4096));
        assert_eq!(key.ecdsa_curve, Some(Curve::P384));
        assert_eq!(key.key_cipher.as_deref(), Some("blowfish"));
        assert_eq!(key.key_passphrase, Passphrase::None);
        assert_eq!(key.expiration_days, Some(730));
        assert_eq!(key.hpkp_days, Some(60));
        assert!(key.pin_subdomains && !key.auto_rollover);
        let cert = &key.certificates[0];
        assert_eq!(cert.common_name, "example.com");
        assert_eq!(cert.all_names(), vec!["example.com", "www.example.com"]);
        assert_eq!(
            cert.alt_names,
            vec![ZoneNames { zone: "example.com".into(), fqdns: vec!["example.com".into(), "www.example.com".into()] }]
        );
        assert_eq!(cert.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
        assert_eq!(cert.dhparam_size, Some(2048));
        assert_eq!(cert.ct_submit_logs, vec!["google_argon", "google_xenon"]);
        assert!(cert.services.is_empty() && cert.verify.is_empty() && cert.tlsa_records.is_empty());
        assert!(!cert.ocsp_must_staple);

        let s = &c.settings;
        assert_eq!(s.log_level, Some(LogLevel::Debug));
        assert_eq!(s.renewal_days, 30);
        assert_eq!(s.max_dns_lookup_attempts, 30);
        assert_eq!(s.acme_directory_url, "https://acme-v02.api.letsencrypt.org/directory");
        assert_eq!(s.file_group, "ssl-cert");
        assert!(s.dns_resolvers.is_empty() && s.ca_bundle.is_none());

        let rsa = Some(KeyType::Rsa);
        let ec = Some(KeyType::Ecdsa);
        let fp = |k, kt| c.file_path(k, "example.com", kt).unwrap();
        assert_eq!(fp(FileKind::PrivateKey, rsa), p("/etc/ssl/private/example.com.rsa.key"));
        assert_eq!(fp(FileKind::BackupKey, ec), p("/etc/ssl/private/example.com_backup.ecdsa.key"));
        assert_eq!(fp(FileKind::PreviousKey, rsa), None);
        assert_eq!(fp(FileKind::FullKey, rsa), p("/etc/ssl/private/example.com_full.rsa.key"));
        assert_eq!(fp(FileKind::Certificate, ec), p("/etc/ssl/certs/example.com.ecdsa.pem"));
        assert_eq!(fp(FileKind::FullCertificate, rsa), p("/etc/ssl/certs/example.com+root.rsa.pem"));
        assert_eq!(fp(FileKind::Chain, rsa), p("/etc/ssl/certs/example.com_chain.rsa.pem"));
        assert_eq!(fp(FileKind::Param, None), p("/etc/ssl/params/example.com_param.pem"));
        assert_eq!(fp(FileKind::Hpkp, None), None);
        assert_eq!(fp(FileKind::Ocsp, rsa), None);
        assert_eq!(
            c.file_path_with(FileKind::Sct, "example.com", rsa, &[("ct_log_name", "google_argon")]).unwrap(),
            p("/etc/ssl/scts/example.com/rsa/google_argon.sct")
        );
        assert_eq!(
            c.file_path(FileKind::Challenge, "example.com", None).unwrap(),
            p("/etc/ssl/challenges/example.com")
        );
        assert_eq!(c.file_path(FileKind::Log, SCRIPT_NAME, None).unwrap(), p("/var/log/acmebot/acmebot.log"));
        assert_eq!(
            c.file_path(FileKind::Certificate, "*.example.com", rsa).unwrap(),
            p("/etc/ssl/certs/_.example.com.rsa.pem")
        );
        assert_eq!(c.resource_dir(), PathBuf::from("/var/local/acmebot"));
        assert_eq!(c.journal_path(), Path::new("/var/local/acmebot/journal.jsonl"));
        assert_eq!(c.dir(Dir::Pid, &[]).unwrap(), p("/var/run"));
        assert_eq!(c.dir(Dir::Temp, &[]).unwrap(), None);
        assert_eq!(c.dir(Dir::Archive, &[]).unwrap(), p("/etc/ssl/archive"));
        assert_eq!(c.root_cert_path(KeyType::Ecdsa), PathBuf::from("/etc/acmebot/root_cert.ecdsa.pem"));
        assert_eq!(c.http_challenge_dir("www.example.com", "example.com"), None);
        assert_eq!(c.hpkp_headers.len(), 2);
        assert!(c.ct_logs.contains_key("google_argon") && c.ct_logs.len() == 16);
        assert!(c.services.contains_key("nginx"));
        assert_eq!(c.certificate("example.com").unwrap().0.name, "example.com");
    }

    #[test]
    fn inheritance_across_three_levels() {
        let l = ok(r#"{
            "settings": {"key_size": 2048, "dhparam_size": 3072, "ocsp_must_staple": true, "key_passphrase": true,
                         "services": ["nginx"], "verify": [443]},
            "private_keys": {
                "shared": {
                    "key_curve": "secp256r1", "hpkp_days": 0, "dhparam_size": 0, "services": ["apache"],
                    "certificates": {
                        "Example.COM": {"alt_names": {"example.com": ["@", "WWW"]}, "ocsp_must_staple": false},
                        "mail.example.com": {"alt_names": {"example.com": ["mail"]}, "key_types": "ecdsa",
                                              "services": ["dovecot", "postfix"], "verify": [{"port": 993, "hosts": "mail.example.com"}]}
                    }
                }
            },
            "certificates": {
                "other.org": {"key_size": 3072, "key_curve": null, "auto_rollover": true, "key_passphrase": "pw"}
            }
        }"#);
        let c = &l.config;
        let names: Vec<&str> = c.private_keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["shared", "other.org"], "private_keys first, then certificates");
        let shared = &c.private_keys[0];
        assert_eq!(shared.rsa_key_size, Some(2048));
        assert_eq!(shared.ecdsa_curve, Some(Curve::P256));
        assert_eq!(shared.hpkp_days, None);
        assert_eq!(shared.key_passphrase, Passphrase::Prompt);
        assert_eq!(shared.key_types, vec![KeyType::Rsa, KeyType::Ecdsa]);
        let www = &shared.certificates[0];
        assert_eq!(www.name, "Example.COM");
        assert_eq!(www.common_name, "example.com");
        assert_eq!(www.all_names(), ["example.com", "www.example.com"]);
        assert!(!www.ocsp_must_staple, "certificate overrides settings");
        assert_eq!(www.dhparam_size, None, "private key object overrides settings");
        assert_eq!(www.services, ["apache"]);
        assert_eq!(www.verify.len(), 1);
        assert_eq!(www.verify[0].port, 443);
        let mail = &shared.certificates[1];
        assert_eq!(mail.key_types, [KeyType::Ecdsa]);
        assert_eq!(mail.common_name, "mail.example.com");
        assert!(mail.ocsp_must_staple, "settings value when neither level sets it");
        assert_eq!(mail.services, ["dovecot", "postfix"]);
        assert_eq!(mail.verify[0].hosts, ["mail.example.com"]);

        let other = &c.private_keys[1];
        assert_eq!(other.rsa_key_size, Some(3072));
        assert_eq!(other.ecdsa_curve, None);
        assert_eq!(other.key_types, [KeyType::Rsa]);
        assert!(other.auto_rollover);
        assert_eq!(other.key_passphrase, Passphrase::Value("pw".into()));
        assert_eq!(other.certificates[0].key_types, [KeyType::Rsa]);
        assert_eq!(other.certificates[0].dhparam_size, Some(3072));
        assert_eq!(other.certificates[0].alt_names[0].fqdns, ["other.org"]);
    }

    #[test]
    fn key_option_on_certificate_in_private_key_is_warned() {
        let l = ok(r#"{"private_keys": {"k": {"certificates": {"a.example": {"key_size": 2048}}}}}"#);
        assert!(
            l.warnings
                .iter()
                .any(|w| w.contains("private_keys.k.certificates.a.example.key_size is a private key option")),
            "{:?}",
            l.warnings
        );
        assert_eq!(l.config.private_keys[0].rsa_key_size, Some(4096));
    }

    #[test]
    fn same_name_in_certificates_and_private_keys_is_an_error() {
        let e = err(r#"{
            "private_keys": {"example.com": {"certificates": {"example.com": {}}}},
            "certificates": {"example.com": {}}
        }"#);
        assert!(e.contains("certificates.example.com: \"example.com\" is also configured in private_keys"), "{e}");
        let e = err(r#"{
            "private_keys": {"k": {"certificates": {"example.com": {}}}},
            "certificates": {"example.com": {}}
        }"#);
        assert!(e.contains("already configured at private_keys.k.certificates.example.com"), "{e}");
    }

    #[test]
    fn unknown_keys_are_warnings_with_paths() {
        let l = ok(r#"{"settings": {"colour_output": false}, "colours": 1, "directories": {"certs": "/x"},
                       "certificates": {"example.com": {"alt_name": {}}}}"#);
        let w = &l.warnings;
        assert!(w.contains(&"unknown setting settings.colour_output (ignored)".to_string()), "{w:?}");
        assert!(w.contains(&"unknown section colours (ignored)".to_string()), "{w:?}");
        assert!(w.contains(&"unknown key directories.certs (ignored)".to_string()), "{w:?}");
        assert!(
            w.contains(&"unknown certificate option certificates.example.com.alt_name (ignored)".to_string()),
            "{w:?}"
        );
    }

    #[test]
    fn bad_enum_values_name_path_and_allowed_values() {
        let e = err(r#"{"settings": {"key_curve": "secp999r1"}, "certificates": {"example.com": {}}}"#);
        assert_eq!(
            e.lines().next().unwrap(),
            r#"/etc/acmebot/acmebot.json: settings.key_curve: "secp999r1" is not allowed; use one of "secp256r1", "secp384r1", "secp521r1" or null"#
        );
        assert_eq!(e.lines().count(), 1, "deduplicated: {e}");
        let e = err(r#"{"settings": {"log_level": "loud"}}"#);
        assert!(e.contains(r#"settings.log_level: "loud" is not allowed; use one of "normal", "verbose", "debug", "detail" or null"#), "{e}");
        let e = err(r#"{"certificates": {"example.com": {"key_types": ["rsa", "dsa"]}}}"#);
        assert!(
            e.contains(r#"certificates.example.com.key_types[1]: "dsa" is not allowed; use one of "rsa", "ecdsa""#),
            "{e}"
        );
        let e = err(r#"{"certificates": {"example.com": {"tlsa_records": {"example.com": [{"usage": "x"}]}}}}"#);
        assert!(e.contains(r#"certificates.example.com.tlsa_records.example.com[0].usage: "x" is not allowed; use one of "pkix-ta", "pkix-ee", "dane-ta", "dane-ee""#), "{e}");
        let e = err(r#"{"certificates": {"example.com": {"verify": [{"port": 25, "starttls": "smtps"}]}}}"#);
        assert!(e.contains(r#"certificates.example.com.verify[0].starttls: "smtps" is not allowed"#), "{e}");
    }

    #[test]
    fn all_errors_are_collected() {
        let e = err(r#"{"settings": {"key_size": "big", "renewal_days": -1, "follower_mode": "yes"},
                        "certificates": {"example.com": {"services": ["nope"], "ct_submit_logs": ["google_pilot"]}}}"#);
        assert!(e.contains("settings.key_size: \"big\" is not allowed"), "{e}");
        assert!(e.contains("settings.renewal_days: -1 is not allowed; use a non-negative integer"), "{e}");
        assert!(e.contains("settings.follower_mode: \"yes\" is not allowed; use true or false"), "{e}");
        assert!(e.contains("certificates.example.com.services: unknown service \"nope\""), "{e}");
        assert!(
            e.contains(
                "certificates.example.com.ct_submit_logs: unknown certificate transparency log \"google_pilot\""
            ),
            "{e}"
        );
        assert!(e.lines().count() >= 5);
    }

    #[test]
    fn unknown_format_fields_are_config_errors() {
        let e = err(r#"{"file_names": {"certificate": "{nmae}.pem"}}"#);
        assert!(
            e.contains(r#"file_names.certificate: unknown field {nmae} in "{nmae}.pem" (available: name, key_type, suffix, server)"#),
            "{e}"
        );
        let e = err(r#"{"directories": {"http_challenge": "/var/www/{name}"}}"#);
        assert!(e.contains("directories.http_challenge: unknown field {name}"), "{e}");
        let e = err(r#"{"hooks": {"certificate_installed": "scp {certificate_fle} x:"}}"#);
        assert!(e.contains("hooks.certificate_installed: unknown field {certificate_fle}"), "{e}");
        let e = err(r#"{"hooks": {"cert_installed": "true"}}"#);
        assert!(e.contains("hooks.cert_installed: unknown hook \"cert_installed\""), "{e}");
        let e = err(r#"{"hpkp_headers": {"caddy": "{hdr"}}"#);
        assert!(e.contains("hpkp_headers.caddy: unclosed '{'"), "{e}");
        let l = ok(r#"{"hooks": {"sct_installed": "echo {ct_log_name} {sct_file}", "dns_zone_update": null}}"#);
        assert_eq!(l.config.hook(Hook::SctInstalled), Some("echo {ct_log_name} {sct_file}"));
        assert_eq!(l.config.hook(Hook::DnsZoneUpdate), None);
    }

    #[test]
    fn null_directory_or_file_name_disables_the_file() {
        let l = ok(r#"{"directories": {"chain": null, "hpkp": "/etc/ssl/hpkp"}, "file_names": {"full_key": null},
                       "hpkp_headers": {"apache": null}}"#);
        let c = &l.config;
        assert_eq!(c.file_path(FileKind::Chain, "a", Some(KeyType::Rsa)).unwrap(), None);
        assert!(!c.dir_enabled(Dir::Chain));
        assert_eq!(c.file_path(FileKind::FullKey, "a", Some(KeyType::Rsa)).unwrap(), None);
        assert_eq!(
            c.file_path_with(FileKind::Hpkp, "a", None, &[("server", "nginx")]).unwrap(),
            p("/etc/ssl/hpkp/a.nginx")
        );
        assert_eq!(c.hpkp_headers.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["nginx"]);
    }

    #[test]
    fn relative_directories_resolve_against_config_dir() {
        let dir = tmpdir("relative");
        let path = dir.join("acmebot.json");
        std::fs::write(
            &path,
            r#"{"directories": {"certificate": "certs/{key_type}", "resource": "./state/../res", "journal": "j/journal.jsonl",
                "http_challenge": "www/{zone}/{host}"},
                "settings": {"ca_bundle": "ca.pem"},
                "zone_update_keys": {"example.com": "k.key", "example.org": {"file": "/abs/o.key", "server": "ns1.example.org"}},
                "http_challenges": {"Example.NET": "htdocs", "dns.example.com": null}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/10-extra.json"), r#"{"directories": {"param": "params"}}"#).unwrap();
        let l = load(&path).unwrap();
        let c = &l.config;
        assert_eq!(c.config_dir, dir);
        assert_eq!(
            c.file_path(FileKind::Certificate, "a", Some(KeyType::Ecdsa)).unwrap(),
            Some(dir.join("certs/ecdsa/a.ecdsa.pem"))
        );
        assert_eq!(
            c.file_path(FileKind::Param, "a", None).unwrap(),
            Some(dir.join("params/a_param.pem")),
            "conf.d merged"
        );
        assert_eq!(c.resource_dir(), dir.join("res"));
        assert_eq!(c.journal_path(), dir.join("j/journal.jsonl"));
        assert_eq!(c.settings.ca_bundle, Some(dir.join("ca.pem")));
        assert_eq!(c.zone_update_keys["example.com"].file, PathBuf::from("/etc/ssl/update_keys/k.key"));
        assert_eq!(c.zone_update_keys["example.com"].port, 53);
        assert_eq!(c.zone_update_keys["example.org"].file, PathBuf::from("/abs/o.key"));
        assert_eq!(c.zone_update_keys["example.org"].server.as_deref(), Some("ns1.example.org"));
        assert_eq!(c.http_challenge_dir("example.net", "example.net"), Some(dir.join("htdocs")));
        assert_eq!(c.http_challenge_dir("dns.example.com", "example.com"), None);
        assert_eq!(c.http_challenge_dir("example.com", "example.com"), Some(dir.join("www/example.com/.")));
        assert_eq!(c.http_challenge_dir("a.b.example.com", "example.com"), Some(dir.join("www/example.com/a.b")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsafe_names_are_rejected() {
        for name in ["../evil", ".hidden", "a/b", "", "bad\u{1}name", "a\\b"] {
            let text =
                json!({"certificates": {name: {"alt_names": {"example.com": ["@"]}, "common_name": "example.com"}}})
                    .to_string();
            let e = err(&text);
            assert!(e.contains(&format!("certificate name {name:?} is not allowed")), "{name:?}: {e}");
            let text = json!({"private_keys": {name: {"certificates": {"ok.example": {}}}}}).to_string();
            let e = err(&text);
            assert!(e.contains(&format!("private key name {name:?} is not allowed")), "{name:?}: {e}");
            let text =
                json!({"private_keys": {"k": {"certificates": {name: {"common_name": "example.com"}}}}}).to_string();
            assert!(err(&text).contains("is not allowed because"), "{name:?}");
        }
    }

    #[test]
    fn common_name_must_be_an_alt_name() {
        let e = err(r#"{"certificates": {"example.com": {"alt_names": {"example.com": ["www"]}}}}"#);
        assert!(
            e.contains(
                r#"certificates.example.com: common name "example.com" is not among the alt_names (www.example.com)"#
            ),
            "{e}"
        );
        let e = err(r#"{"certificates": {"example.com": {"alt_names": {"example.com": ["@", "*", "www"]}}}}"#);
        assert!(e.contains(r#"alt name "*.example.com" conflicts with "www.example.com""#), "{e}");
        let l = ok(r#"{"certificates": {"wild": {"common_name": "example.com", "alt_names": {"@": ["@", "*"]}}}}"#);
        assert_eq!(l.config.private_keys[0].certificates[0].all_names(), ["example.com", "*.example.com"]);
        let e = err(r#"{"certificates": {"example.com": {"verify": [{"port": 443, "hosts": ["other.com"]}]}}}"#);
        assert!(e.contains("certificates.example.com.verify[0].hosts: host \"other.com\" is not an alt name"), "{e}");
    }

    #[test]
    fn dns_resolvers_are_parsed() {
        let l = ok(
            r#"{"settings": {"dns_resolvers": ["192.0.2.1", "192.0.2.2:5353", "::1", "[2001:db8::1]:5300", "[::2]"]}}"#,
        );
        let r: Vec<String> = l.config.settings.dns_resolvers.iter().map(|a| a.to_string()).collect();
        assert_eq!(r, ["192.0.2.1:53", "192.0.2.2:5353", "[::1]:53", "[2001:db8::1]:5300", "[::2]:53"]);
        let e = err(r#"{"settings": {"dns_resolvers": ["resolver.example"]}}"#);
        assert!(e.contains("settings.dns_resolvers[0]: \"resolver.example\" is not allowed"), "{e}");
        assert_eq!(parse_resolver("10.0.0.1:99"), Some("10.0.0.1:99".parse().unwrap()));
        assert_eq!(parse_resolver("10.0.0.1:"), None);
    }

    #[test]
    fn show_config_redacts_secrets() {
        let l = ok(r#"{"account": {"email": "a@example.com", "eab_kid": "kid-1", "eab_hmac_key": "hm4c-s3cret"},
                       "settings": {"key_passphrase": "pa55-s3cret"},
                       "private_keys": {"k": {"key_passphrase": "other-s3cret", "certificates": {"example.com": {}}}},
                       "certificates": {"example.org": {"tlsa_records": {"example.org": ["@", {"host": "mail", "port": 25, "usage": "dane-ee"}]}}}}"#);
        let v = l.config.to_effective_json();
        let text = serde_json::to_string_pretty(&v).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(v["account"]["eab_hmac_key"], REDACTED);
        assert_eq!(v["account"]["eab_kid"], "kid-1");
        assert_eq!(v["settings"]["key_passphrase"], REDACTED);
        assert_eq!(v["private_keys"]["k"]["key_passphrase"], REDACTED);
        assert_eq!(v["private_keys"]["k"]["certificates"]["example.com"]["alt_names"]["example.com"][0], "example.com");
        assert_eq!(
            v["private_keys"]["example.org"]["certificates"]["example.org"]["tlsa_records"]["example.org"][1]["usage"],
            "dane-ee"
        );
        assert_eq!(v["directories"]["journal"], "/var/local/acmebot/journal.jsonl");
        assert_eq!(v["settings"]["key_curve"], "secp384r1");
        assert_eq!(v["ct_logs"]["google_argon"][0]["start"], "2025-01-01T00:00:00Z");
        let debug = format!("{:?}", l.config);
        assert!(!debug.contains("s3cret"), "Debug leaks secrets: {debug}");
        // A passphrase of the wrong type is never echoed either.
        let e = err(r#"{"settings": {"key_passphrase": 12345678}}"#);
        assert!(!e.contains("12345678"), "{e}");
    }

    #[test]
    fn locate_search_order() {
        let root = tmpdir("locate");
        let (cwd, sys, exe) = (root.join("cwd"), root.join("sys"), root.join("exe"));
        for d in [&cwd, &sys, &exe] {
            std::fs::create_dir_all(d).unwrap();
        }
        let e = locate_in(None, &cwd, &sys, Some(&exe)).unwrap_err();
        match &e {
            ConfigError::NotFound { tried, .. } => {
                assert_eq!(tried, &[cwd.join("acmebot.json"), sys.join("acmebot.json"), exe.join("acmebot.json")])
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().starts_with("configuration file acmebot.json not found (tried: "), "{e}");
        std::fs::write(exe.join("acmebot.json"), "{}").unwrap();
        assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), exe.join("acmebot.json"));
        std::fs::write(sys.join("acmebot.json"), "{}").unwrap();
        assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), sys.join("acmebot.json"));
        std::fs::write(cwd.join("acmebot.json"), "{}").unwrap();
        assert_eq!(locate_in(None, &cwd, &sys, Some(&exe)).unwrap(), cwd.join("acmebot.json"));
        std::fs::write(sys.join("other.json"), "{}").unwrap();
        assert_eq!(locate_in(Some("other.json"), &cwd, &sys, Some(&exe)).unwrap(), sys.join("other.json"));
        assert_eq!(locate_in(Some("other"), &cwd, &sys, None).unwrap(), sys.join("other.json"));
        let abs = exe.join("acmebot.json");
        assert_eq!(locate_in(Some(abs.to_str().unwrap()), &cwd, &sys, None).unwrap(), abs);
        let missing = root.join("missing.json");
        let e = locate_in(Some(missing.to_str().unwrap()), &cwd, &sys, Some(&exe)).unwrap_err();
        assert!(matches!(e, ConfigError::NotFound { ref tried, .. } if tried == std::slice::from_ref(&missing)), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn json_errors_give_line_and_column() {
        let e = load_text("{\n  \"settings\": {,}\n}").unwrap_err();
        match &e {
            ConfigError::Parse { line, column, .. } => assert_eq!((*line, *column), (2, 16)),
            other => panic!("{other}"),
        }
        assert!(e.to_string().starts_with("/etc/acmebot/acmebot.json:2:16: invalid JSON: "), "{e}");
        let e = err("[1]");
        assert!(e.contains("the configuration must be a JSON object"), "{e}");
    }

    #[test]
    fn ct_logs_accept_old_and_new_forms() {
        let l = ok(r#"{"ct_logs": {
            "old": {"url": "https://ct.example/old", "id": "pLkJkLQYWBSHuxOizGdwCjw1mAT5G9+443fNDsgN3BA="},
            "google_argon": null,
            "new": [{"log_id": "KTxRllTIOWW6qlD8WAfUt2+/WHopctykwwz05UVH9Hg=", "url": "https://ct.example/2026/",
                     "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}]},
            "settings": {"ct_submit_logs": ["old", "new"]}}"#);
        let c = &l.config;
        assert!(!c.ct_logs.contains_key("google_argon"));
        assert_eq!(c.ct_logs["old"].shards[0].url, "https://ct.example/old");
        assert_eq!(c.ct_logs["old"].shards[0].key, None);
        let new = &c.ct_logs["new"];
        let t = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        assert!(new.shard_for(t).is_some());
        assert!(new.shard_for(parse_rfc3339("2028-01-01T00:00:00Z").unwrap()).is_none());
        let e = err(r#"{"ct_logs": {"x": {"url": "u", "log_id": "not base64!"}}}"#);
        assert!(e.contains("ct_logs.x.log_id: \"not base64!\" is not a base64 SHA-256 log ID"), "{e}");
    }

    #[test]
    fn tlsa_and_verify_are_resolved() {
        let l = ok(r#"{"certificates": {"example.com": {
            "alt_names": {"example.com": ["@", "mail"]},
            "tlsa_records": {"example.com": ["@", {"host": "mail", "port": 25, "usage": "dane-ee", "selector": "cert", "ttl": 60}]},
            "verify": [{"port": 443, "protocol": "http"}, {"port": "25", "starttls": "smtp", "hosts": "mail.example.com", "key_types": "rsa"}, 993]}}}"#);
        let cert = &l.config.private_keys[0].certificates[0];
        let z = &cert.tlsa_records[0];
        assert_eq!(z.zone, "example.com");
        assert_eq!(
            z.records[0],
            TlsaRecord {
                host: "@".into(),
                fqdn: "example.com".into(),
                port: 443,
                usage: TlsaUsage::PkixEe,
                selector: TlsaSelector::Spki,
                protocol: "tcp".into(),
                ttl: 300
            }
        );
        assert_eq!(z.records[1].fqdn, "mail.example.com");
        assert_eq!((z.records[1].usage.number(), z.records[1].selector.number(), z.records[1].ttl), (3, 0, 60));
        assert_eq!(cert.verify.len(), 3);
        assert_eq!(cert.verify[0].protocol, Some(VerifyProtocol::Http));
        assert_eq!(
            cert.verify[1],
            VerifySpec {
                port: 25,
                starttls: Some(StartTls::Smtp),
                protocol: None,
                hosts: vec!["mail.example.com".into()],
                key_types: vec![KeyType::Rsa]
            }
        );
        assert_eq!(cert.verify[2].port, 993);
        let e = err(r#"{"settings": {"verify": [{"starttls": "smtp"}, 0, 70000, "x"]}}"#);
        assert!(e.contains("settings.verify[0]: missing \"port\""), "{e}");
        assert!(e.contains("settings.verify[1]: 0 is not allowed; use a port number from 1 to 65535"), "{e}");
        assert!(e.contains("settings.verify[2]: 70000 is not allowed; use a port number"), "{e}");
        assert!(e.contains("settings.verify[3]: \"x\" is not allowed; use a non-negative integer"), "{e}");
    }

    #[test]
    fn key_types_disabled_by_size_and_curve() {
        let e = err(r#"{"settings": {"key_size": 0, "key_curve": null}, "certificates": {"example.com": {}}}"#);
        assert!(e.contains("certificates.example.com: no key type is enabled"), "{e}");
        let e = err(r#"{"settings": {"key_size": 1000}}"#);
        assert!(e.contains("settings.key_size: 1000 is not allowed"), "{e}");
        let l =
            ok(r#"{"settings": {"key_size": null}, "certificates": {"example.com": {"key_types": ["rsa", "ecdsa"]}}}"#);
        let key = &l.config.private_keys[0];
        assert_eq!(key.key_types, [KeyType::Ecdsa]);
        assert_eq!(key.rsa_key_size, None);
        assert!(
            l.warnings.iter().any(|w| w.contains("certificates.example.com.key_types: rsa is not enabled")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn file_owner_reports_missing_users() {
        let l = ok(r#"{"settings": {"file_user": "root", "file_group": "no-such-group-acmebot-test"}}"#);
        let e = l.config.file_owner().unwrap_err();
        assert_eq!(e.to_string(), "settings.file_group: \"no-such-group-acmebot-test\": no such group on this system");
        let l = ok(r#"{"settings": {"file_user": "root", "file_group": "0"}}"#);
        assert_eq!(l.config.file_owner().unwrap(), (0, 0));
    }

    #[test]
    fn legacy_slave_mode_and_placeholder_email() {
        let l = ok(r#"{"account": {"email": "<admin@example.com>"}, "settings": {"slave_mode": true}}"#);
        assert!(l.config.settings.follower_mode);
        assert!(l.warnings.iter().any(|w| w.contains("placeholder")), "{:?}", l.warnings);
    }

    #[test]
    fn example_file_loads_and_matches_defaults() {
        let text = include_str!("../acmebot.example.json");
        let l = ok(text);
        // the example shows `verify`, which is warned about until it is implemented
        assert!(
            l.warnings.iter().all(|w| w.contains("placeholder") || w.contains("not implemented yet")),
            "{:?}",
            l.warnings
        );
        // Every default setting appears in the example with the same value.
        let example: Value = serde_json::from_str(text).unwrap();
        for (section, default) in defaults() {
            let Value::Object(default) = default else {
                continue;
            };
            for (k, v) in default {
                assert_eq!(example[&section].get(&k), Some(&v), "{section}.{k} differs from the default");
            }
        }
    }
}
