//! The typed configuration: what every section resolves to.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::REDACTED;
use crate::time::{rfc3339, Timestamp};
use crate::types::{Curve, KeyType};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Normal,
    Verbose,
    Debug,
    Detail,
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

/// `acme_directory_verify_ssl`, as the original's requests `verify`: true,
/// false (no verification: warned on every run), or a CA bundle's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum VerifySsl {
    Verify(bool),
    Bundle(PathBuf),
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
    /// LDAP's StartTLS extended operation (RFC 4511), which the original speaks.
    Ldap,
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
    /// The shard that accepts a certificate expiring at `not_after` (the
    /// original's rule: `start` ≤ notAfter < `end`, either open).
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
    pub acme_directory_verify_ssl: VerifySsl,
    /// The ACME version to speak: None takes the directory's (v2 when it offers both).
    pub acme_version: Option<u8>,
    pub reload_zone_command: Option<String>,
    pub nsupdate_command: Option<String>,
    pub public_suffix_list_url: Option<String>,
    pub verify: Vec<VerifySpec>,
    pub services: Vec<String>,
    /// Extra PEM trust anchors, resolved against the configuration directory.
    pub ca_bundle: Option<PathBuf>,
    /// A CT log list in the public v3 schema (`log_list.json`) on the device:
    /// its usable logs replace the list compiled in.
    pub ct_log_list: Option<PathBuf>,
    /// DNS resolvers; empty means /etc/resolv.conf.
    pub dns_resolvers: Vec<SocketAddr>,
    /// The port authoritative name servers are asked on (propagation checks, TLSA reads): 53.
    pub name_server_port: u16,
    pub profile: Option<String>,
    pub preferred_chain: Option<String>,
    #[serde(flatten)]
    pub retention: Retention,
}

/// How much history is kept on small flash: journal segments and archived
/// generations (new in this version).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retention {
    /// The journal starts a new segment when its file grows past this many
    /// bytes (0: only with `--compact`).
    pub journal_max_bytes: u32,
    /// Old journal segments kept (None: all).
    pub journal_keep_segments: Option<u32>,
    /// Archived generations kept per private key (None: all).
    pub archive_keep: Option<u32>,
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

pub(crate) const FILE_FIELDS: &[&str] = &["name", "key_type", "suffix", "server"];
pub(crate) const SCT_FIELDS: &[&str] = &["name", "key_type", "suffix", "server", "ct_log_name"];
pub(crate) const HTTP_CHALLENGE_FIELDS: &[&str] = &["zone", "host", "fqdn"];
// `name` is what the original fills in; the manual documents `key_name`: both work.
pub(crate) const HPKP_HEADER_FIELDS: &[&str] = &["header", "key_name", "name", "server"];

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
