//! The journal's event vocabulary: every line's `type` and fields, typed.
//! `type` is the snake_case variant name; the fields sit flat beside it.
//!
//! Rules: no event ever carries key material, a passphrase, a TSIG secret or an
//! EAB key; fields are only ever added, so every journal written before still
//! replays (`tests/golden/` keeps journals of earlier versions). Times are
//! [`Time`]s, written as RFC 3339.
//!
//! Order on disk, as things happen: a key's `key_generated` comes before any
//! certificate issued for it and before the transaction that installs it; a
//! transaction is `txn_begun` (with the files it will write and the
//! [`Effect`]s it will have), `file_archived`, `file_installed` /
//! `file_removed`, then `txn_committed` or `txn_rolled_back`. An effect counts
//! only once its transaction committed.

use serde::Serialize;

use crate::hooks::Hook;
use crate::time::Time;
use crate::types::{KeyRole, KeyType};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        version: String,
        pid: u32,
        /// Command-line flags; the value of `--pass` is never recorded.
        args: Vec<String>,
        config: String,
    },
    RunFinished {
        exit_code: i32,
        changed: bool,
    },
    /// A torn last line (a crash while appending) was set aside.
    JournalRepaired {
        torn_saved_to: String,
        bytes: u64,
    },
    AccountKeyGenerated {
        path: String,
        key_type: KeyType,
        thumbprint: String,
    },
    /// The account moved to a new key (RFC 8555 §7.3.5).
    AccountKeyRolledOver {
        account_url: String,
        old_thumbprint: String,
        new_thumbprint: String,
        key_type: KeyType,
    },
    AccountRegistered {
        directory_url: String,
        account_url: String,
        thumbprint: String,
        contact: Vec<String>,
        tos_agreed: bool,
    },
    /// A private key was made, for `path`. It is installed by a later
    /// transaction's [`Effect::KeyInstalled`]. (Journals written before 0.2
    /// have this line after the transaction, with its id in `txn`.)
    KeyGenerated {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        txn: Option<String>,
    },
    /// A key found on disk that the journal did not know (an installation of the
    /// Python original, or a journal lost and rebuilt): recorded, never regenerated.
    KeyAdopted {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        path: String,
        sha256: String,
        /// The file's modification time: the key's age counts from there (as
        /// the original counts it), not from the adoption.
        #[serde(skip_serializing_if = "Option::is_none")]
        modified: Option<Time>,
    },
    AuthorizationObtained {
        name: String,
        challenge: String,
        url: String,
        expires: Option<Time>,
    },
    ChallengeFailed {
        name: String,
        challenge: String,
        url: String,
        error: String,
    },
    OrderCreated {
        order_url: String,
        names: Vec<String>,
        key_type: KeyType,
    },
    /// The CA issued a certificate (journaled as soon as it was downloaded).
    CertificateIssued(CertFacts),
    /// Written by versions before 0.2 after the transaction `txn` committed;
    /// now an [`Effect`] of the transaction.
    CertificateInstalled {
        cert: String,
        key_type: KeyType,
        serial: String,
        txn: String,
    },
    CertificateAdopted {
        #[serde(flatten)]
        facts: CertFacts,
        path: String,
        sha256: String,
    },
    /// The CA was told to revoke this certificate (RFC 8555 §7.6).
    CertificateRevoked {
        cert: String,
        key: String,
        key_type: KeyType,
        serial: String,
        reason: String,
    },
    /// Written by versions before 0.2 after a revocation's transaction; now an
    /// [`Effect`].
    KeyArchived(KeyArchived),
    /// Written by versions before 0.2 after the transaction `txn` committed;
    /// now an [`Effect`].
    KeyRolledOver {
        #[serde(flatten)]
        rollover: KeyRollover,
        txn: String,
    },
    /// An ARI renewal window (RFC 9773) for an installed certificate, the time
    /// chosen inside it, and when to ask again (the server's Retry-After).
    RenewalInfoFetched {
        cert: String,
        key_type: KeyType,
        serial: String,
        cert_id: String,
        window_start: Time,
        window_end: Time,
        renew_at: Time,
        next_check: Time,
        explanation_url: Option<String>,
    },
    /// The ACME server has no renewalInfo resource: ARI is not asked again.
    RenewalInfoUnsupported {
        directory_url: String,
    },
    HookRun {
        hook: Hook,
        program: String,
        exit_code: Option<i32>,
    },
    ServiceReloaded {
        service: String,
        program: String,
        exit_code: Option<i32>,
    },
    /// Diffie-Hellman parameters were made for `cert` (installed by a later
    /// transaction's `params_installed`), and how long that took.
    ParamsGenerated {
        cert: String,
        dh_bits: u32,
        millis: u64,
    },
    /// A DNS record acmebot added: a dns-01 challenge TXT (`mode` "remote": an
    /// RFC 2136 update sent to `server`; "local": the zone's challenge file
    /// written for `reload_zone_command`) or a TLSA record. Never the value
    /// itself for TXT (only `value_sha256`); TLSA carries its fields and its
    /// association data (`digest`, a public hash).
    DnsRecordAdded(DnsRecord),
    /// A DNS record acmebot removed (same fields as `dns_record_added`).
    DnsRecordRemoved(DnsRecord),
    /// `reload_zone_command` was run for `zone` (local DNS updates).
    ZoneReloaded {
        zone: String,
        program: String,
        exit_code: Option<i32>,
        reason: String,
    },
    /// A file transaction starts: every file it will write or remove, and what
    /// it makes true once committed.
    TxnBegun(TxnBegun),
    /// A file about to be replaced or removed was preserved in the archive.
    FileArchived {
        txn: String,
        path: String,
        archived_to: String,
        sha256: String,
    },
    FileInstalled(FileInstalled),
    FileRemoved {
        txn: String,
        path: String,
        archived_to: Option<String>,
    },
    TxnCommitted {
        txn: String,
        /// Finished by a later run after an interruption.
        #[serde(skip_serializing_if = "is_false")]
        recovered: bool,
    },
    TxnRolledBack {
        txn: String,
        reason: String,
        #[serde(skip_serializing_if = "is_false")]
        recovered: bool,
    },
    /// `--recover` put an installed file back from its installed copy.
    FileRestored {
        path: String,
        sha256: String,
        from: String,
        problem: String,
        archived_to: Option<String>,
    },
    /// The replayed state as it was before this line (written when no
    /// transaction is open): a run reads the journal from its last
    /// checkpoint instead of from line 1; `--audit` replays from the start
    /// and checks every checkpoint against what it replayed.
    Checkpoint {
        state: Snapshot,
    },
    /// The first line of a journal segment (after compaction): the segment it
    /// follows (the `prev` of this line is that segment's last line's hash),
    /// its seq range and SHA-256.
    SegmentStarted {
        previous: String,
        first_seq: u64,
        last_seq: u64,
        sha256: String,
        reason: String,
    },
    /// An old segment was deleted (retention): which history is gone.
    SegmentDeleted {
        name: String,
        first_seq: u64,
        last_seq: u64,
        sha256: String,
    },
    /// A certificate was due but this run did not install a new one: the
    /// run's first error (cron mail shows it; every later run warns while the
    /// certificate nears expiry, until one is installed).
    RenewalFailed {
        cert: String,
        key_type: KeyType,
        error: String,
    },
    /// The installation of a certificate was verified over the network:
    /// `checked` connections (host, address, port) were made for its key
    /// type; `failures` says, per connection, what differed from the
    /// installed files (empty when every server serves them).
    InstallationVerified {
        cert: String,
        key_type: KeyType,
        serial: String,
        checked: u32,
        failures: Vec<String>,
    },
    /// An http-01 challenge file was written (removed with
    /// `challenge_file_removed`; one left by a stopped run is removed by the next).
    ChallengeFileWritten {
        path: String,
    },
    ChallengeFileRemoved {
        path: String,
    },
    /// An old archived generation of a private key's files was deleted
    /// (`archive_keep`): the archived private keys in it are gone.
    ArchivePruned {
        key: String,
        dir: String,
        files: u64,
    },
    /// `--repair`: the journal's damaged part (from the line with the first
    /// problem to the end) was set aside in `file` (the whole damaged file,
    /// with its SHA-256); the intact lines before it were kept.
    JournalSetAside {
        file: String,
        sha256: String,
        /// Lines of the damaged file that were not kept.
        lines: u64,
        problem: String,
    },
    /// `--repair`: an installed file differs from what the journal says; what
    /// is on disk is taken as installed (no installed copy for it).
    FileAdopted {
        path: String,
        sha256: String,
        mode: Mode,
        uid: u32,
        gid: u32,
        /// A copy `--recover` restores from (a file changed outside acmebot
        /// and taken over); none after `--repair`.
        #[serde(skip_serializing_if = "Option::is_none")]
        installed_copy: Option<String>,
    },
    /// `--repair`: an installed file is gone; the journal forgets it.
    FileForgotten {
        path: String,
    },
    /// Any event type this version does not know (written by a newer acmebot);
    /// never written.
    #[serde(skip)]
    Other,
}

/// A checkpoint's state, kept as the JSON text it is written as (see
/// `journal::checkpoint`).
#[derive(Clone, Debug)]
pub struct Snapshot(pub Box<serde_json::value::RawValue>);

impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a certificate says about itself, as `certificate_issued` and
/// `certificate_adopted` record it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CertFacts {
    pub cert: String,
    pub key: String,
    pub key_type: KeyType,
    pub serial: String,
    pub common_name: Option<String>,
    pub not_before: Time,
    pub not_after: Time,
    pub sans: Vec<String>,
    pub issuer: String,
    /// Only for issued certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    pub spki_sha256: String,
    /// The certificate profile configured when it was ordered ("" for
    /// none); absent in journals before profiles were recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A key leaves service (its file moved to the archive), e.g. after revocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyArchived {
    pub key: String,
    pub key_type: KeyType,
    pub role: KeyRole,
    pub spki_sha256: String,
    pub reason: String,
}

/// The backup key becomes the primary key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyRollover {
    pub key: String,
    pub key_type: KeyType,
    pub spki_sha256: String,
    pub path: String,
    pub previous_spki_sha256: Option<String>,
}

/// What a committed transaction makes true, declared in its `txn_begun`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// A generated key (see `key_generated`) is installed in its role.
    KeyInstalled {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        path: String,
    },
    KeyRolledOver(KeyRollover),
    /// An issued certificate (see `certificate_issued`) is installed.
    CertificateInstalled {
        cert: String,
        key_type: KeyType,
        serial: String,
    },
    KeyArchived(KeyArchived),
    /// A signed certificate timestamp (RFC 6962) from the CT log `log` is
    /// stored for the installed certificate `serial` (its `.sct` file).
    SctStored {
        cert: String,
        key_type: KeyType,
        serial: String,
        log: String,
        /// Base64 SHA-256 of the log's key.
        log_id: String,
        /// When the log promised to include the certificate.
        timestamp: Time,
    },
    /// A private key file written by the transaction (a primary, backup or
    /// previous key, a full key file), and how it is encrypted: `none`, or
    /// the scheme (`pkcs8-pbes2-scrypt-aes-256-cbc`). Never the passphrase.
    KeyFileWritten {
        path: String,
        kind: String,
        encryption: String,
    },
    /// The certificate's parameters as its files now carry them (the param
    /// file, and appended to its certificate, full certificate and full key
    /// files): DH size, EC curves, and the primary keys they were made for
    /// (a rollover makes new ones).
    ParamsInstalled {
        cert: String,
        dh_bits: Option<u32>,
        ec_curves: Vec<String>,
        key_spkis: Vec<String>,
    },
    /// A validated OCSP response (RFC 6960) for the installed certificate
    /// `serial` is stored for stapling (its `.ocsp` file); only `good` ones are.
    OcspStored {
        cert: String,
        key_type: KeyType,
        serial: String,
        status: String,
        this_update: Time,
        next_update: Option<Time>,
        produced_at: Time,
    },
}

/// The fields of `dns_record_added` / `dns_record_removed`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnsRecord {
    pub zone: String,
    pub name: String,
    pub rtype: String,
    pub value_sha256: String,
    pub server: Option<String>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A file mode, written as four octal digits (`"0640"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(pub u32);

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0 & 0o7777)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One file of a transaction, as `txn_begun` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TxnFile {
    pub path: String,
    /// e.g. "private_key", "certificate", "chain".
    pub kind: String,
    pub action: FileAction,
    /// The new contents' hash and mode (writes only).
    pub sha256: Option<String>,
    pub mode: Option<Mode>,
    /// The file replaced or removed, if there was one.
    pub old_sha256: Option<String>,
    pub old_mode: Option<Mode>,
    /// The temporary file the new contents are written to first (writes only).
    pub temp: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Write,
    Remove,
}

impl FileAction {
    pub fn parse(s: &str) -> Option<FileAction> {
        match s {
            "write" => Some(FileAction::Write),
            "remove" => Some(FileAction::Remove),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TxnBegun {
    pub txn: String,
    /// The private key (or "client") whose files these are.
    pub key: String,
    /// `<archive>/<key>/<stamp>`: replaced files and the installed copies.
    pub archive: String,
    /// (uid, gid) of written files; null leaves them owned by the process.
    pub owner: Option<(u32, u32)>,
    pub files: Vec<TxnFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileInstalled {
    pub txn: String,
    pub path: String,
    pub kind: String,
    pub sha256: String,
    pub mode: Mode,
    pub uid: u32,
    pub gid: u32,
    /// The copy kept in the archive for `--recover`.
    pub installed_copy: String,
}

impl Event {
    /// `dns_record_added` or `dns_record_removed`.
    pub fn dns_record(added: bool, record: DnsRecord) -> Event {
        if added {
            Event::DnsRecordAdded(record)
        } else {
            Event::DnsRecordRemoved(record)
        }
    }

    /// The snake_case `type` of the event.
    #[cfg(test)]
    pub fn type_name(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m.get("type").and_then(|t| t.as_str()).unwrap_or("other").to_string(),
            _ => "other".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::fields::event_from_json;
    use serde_json::json;

    #[test]
    fn tagged_round_trip_and_unknown_types() {
        let e = Event::KeyGenerated {
            key: "example.com".into(),
            key_type: KeyType::Ecdsa,
            role: KeyRole::Backup,
            spki_sha256: "ab".into(),
            path: "/k".into(),
            txn: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "key_generated");
        assert_eq!(v["role"], "backup");
        assert!(v.get("txn").is_none(), "no txn field on new key_generated lines");
        assert_eq!(event_from_json(&v).unwrap(), e);
        let r = DnsRecord {
            zone: "z".into(),
            name: "_acme-challenge.z.".into(),
            rtype: "TXT".into(),
            value_sha256: "h".into(),
            server: None,
            mode: "local".into(),
            usage: None,
            selector: None,
            matching: None,
            digest: None,
        };
        let v = serde_json::to_value(Event::dns_record(true, r.clone())).unwrap();
        assert_eq!(v["type"], "dns_record_added");
        assert_eq!(v["zone"], "z", "fields are flat beside the type");
        assert!(v.get("usage").is_none());
        assert_eq!(event_from_json(&v).unwrap(), Event::DnsRecordAdded(r));
        let future = json!({"type": "tlsa_record_added", "zone": "example.com"});
        assert_eq!(event_from_json(&future).unwrap(), Event::Other);
    }

    #[test]
    fn transaction_events_read_what_earlier_versions_wrote() {
        let begun = json!({"type":"txn_begun","txn":"k@2026_12_01_212235","key":"k","archive":"/a/k/2026_12_01_212235",
            "owner":null,"files":[{"path":"/c.pem","kind":"certificate","action":"write","sha256":"aa","mode":"0644",
            "old_sha256":null,"old_mode":null,"temp":"/.c.pem.acmebot-0c4b"}]});
        let Event::TxnBegun(b) = event_from_json(&begun).unwrap() else { panic!() };
        assert_eq!(b.files[0].mode, Some(Mode(0o644)));
        assert_eq!(b.files[0].action, FileAction::Write);
        assert!(b.effects.is_empty());
        assert_eq!(serde_json::to_value(Event::TxnBegun(b)).unwrap(), begun, "written back byte for byte");
        let installed = json!({"type":"file_installed","txn":"t","path":"/p","kind":"chain","sha256":"s","mode":"0640",
            "uid":0,"gid":0,"installed_copy":"/a/installed/p"});
        assert_eq!(serde_json::to_value(event_from_json(&installed).unwrap()).unwrap(), installed);
        let rolled = json!({"type":"key_rolled_over","key":"k","key_type":"rsa","spki_sha256":"b","path":"/k",
            "previous_spki_sha256":"a","txn":"t"});
        assert_eq!(serde_json::to_value(event_from_json(&rolled).unwrap()).unwrap(), rolled);
        let issued = json!({"type":"certificate_issued","cert":"c","key":"k","key_type":"ecdsa","serial":"01","common_name":"c",
            "not_before":"2026-11-29T00:00:00Z","not_after":"2027-02-27T00:00:00Z","sans":["c"],"issuer":"CN=CA",
            "order_url":"https://ca/o/1","spki_sha256":"p1"});
        assert_eq!(serde_json::to_value(event_from_json(&issued).unwrap()).unwrap(), issued);
        let hook = json!({"type":"hook_run","hook":"hpkp_header_installed","program":"/bin/sh","exit_code":0});
        let Event::HookRun { hook: h, .. } = event_from_json(&hook).unwrap() else { panic!() };
        assert_eq!(h, Hook::HpkpHeaderInstalled);
        assert!(event_from_json(&json!({"type":"txn_committed"})).is_err(), "a known type with missing fields");
    }
}
