//! State is a projection of the journal: applying the records in order gives
//! what acmebot believes about its account, keys, certificates and files.
//! [`State::apply`] is the one replay: the only code that decides which
//! transactions committed, rolled back or are still open, and so which
//! effects and installed files count. The run checks this belief against the
//! files on disk before acting.
//!
//! The JSON form (`--replay`) is a documented, stable schema (README, "The
//! journal"); what the run needs beyond it is not serialized.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use serde::{Serialize, Serializer};

use super::event::{CertFacts, DnsRecord, Effect, Event, FileInstalled, KeyArchived, KeyRollover, Mode, TxnBegun};
use super::Record;
use crate::time::Time;
use crate::types::{KeyRole, KeyType};

pub const SCHEMA: u32 = 1;

/// How many committed transaction ids are remembered, for events of journals
/// written before 0.2 that refer to their transaction after its commit line.
const RECENT_COMMITS: usize = 16;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccountState {
    pub directory_url: String,
    pub account_url: String,
    pub thumbprint: String,
    pub registered_at: Time,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KeyState {
    pub key: String,
    pub key_type: KeyType,
    pub role: KeyRole,
    pub spki_sha256: String,
    pub path: String,
    /// When this key was made (or first seen, when adopted): key age counts from here.
    pub since: Time,
    pub adopted: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CertState {
    pub cert: String,
    pub key: String,
    pub key_type: KeyType,
    pub serial: String,
    pub common_name: Option<String>,
    pub not_before: Time,
    pub not_after: Time,
    pub sans: Vec<String>,
    pub issuer: String,
    pub spki_sha256: String,
    pub order_url: Option<String>,
    pub since: Time,
    pub adopted: bool,
    /// The profile configured when it was ordered ("" for none), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The certificate this one replaced, so that a server still serving it
    /// can be told so (installation verification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousCert>,
}

/// An installation verification's result.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VerifiedState {
    pub serial: String,
    pub checked: u32,
    pub failures: Vec<String>,
    pub since: Time,
}

/// The certificate an installed one replaced.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PreviousCert {
    pub serial: String,
    pub not_after: Time,
    pub replaced: Time,
}

impl CertState {
    fn from_facts(f: CertFacts, since: Time, adopted: bool) -> CertState {
        CertState {
            cert: f.cert,
            key: f.key,
            key_type: f.key_type,
            serial: f.serial,
            common_name: f.common_name,
            not_before: f.not_before,
            not_after: f.not_after,
            sans: f.sans,
            issuer: f.issuer,
            spki_sha256: f.spki_sha256,
            order_url: f.order_url,
            since,
            adopted,
            profile: f.profile,
            previous: None,
        }
    }
}

/// A file installed by a committed transaction.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FileState {
    pub sha256: String,
    pub mode: Mode,
    pub kind: String,
    pub txn: String,
    pub installed_copy: Option<String>,
    #[serde(skip)]
    pub uid: u32,
    #[serde(skip)]
    pub gid: u32,
    /// Seq of the `file_installed` line.
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AuthzState {
    pub challenge: String,
    pub url: String,
    pub expires: Option<Time>,
    /// When it was obtained (its lifetime: until `expires`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obtained: Option<Time>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FailureState {
    pub at: Time,
    pub error: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AriState {
    pub serial: String,
    pub cert_id: String,
    pub window_start: Time,
    pub window_end: Time,
    pub renew_at: Time,
    pub next_check: Time,
}

/// The SCT stored for an installed certificate by one CT log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SctState {
    pub serial: String,
    pub log_id: String,
    pub timestamp: Time,
    pub since: Time,
}

/// The parameters a certificate's files carry.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ParamsState {
    pub dh_bits: Option<u32>,
    pub ec_curves: Vec<String>,
    /// The primary keys' SPKI digests when they were installed.
    pub key_spkis: Vec<String>,
    pub since: Time,
}

/// The OCSP response stored for an installed certificate.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OcspState {
    pub serial: String,
    pub status: String,
    pub this_update: Time,
    pub next_update: Option<Time>,
    pub produced_at: Time,
    pub since: Time,
}

/// A transaction begun and neither committed nor rolled back: what recovery
/// needs to finish it or undo it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenTxn {
    pub begun: TxnBegun,
    pub seq: u64,
    /// (path, archived_to) of every `file_archived` so far.
    pub archived: Vec<(String, String)>,
    /// `file_installed` lines so far.
    pub installed: Vec<(FileInstalled, u64)>,
    /// (path, archived_to) of every `file_removed` so far.
    pub removed: Vec<(String, Option<String>)>,
    /// Events of journals written before 0.2 that named this transaction
    /// before it committed.
    legacy: Vec<(Event, Time)>,
}

impl OpenTxn {
    /// Paths whose `file_installed` / `file_removed` is journaled.
    pub fn done(&self) -> BTreeSet<&str> {
        self.installed
            .iter()
            .map(|(f, _)| f.path.as_str())
            .chain(self.removed.iter().map(|(p, _)| p.as_str()))
            .collect()
    }
}

/// A DNS record acmebot added and has not removed: (zone, owner, type, value digest).
pub type DnsKey = (String, String, String, String);

/// The replayed state. Map keys are strings so the JSON form is plain.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct State {
    pub schema: u32,
    pub last_seq: u64,
    pub runs: u64,
    pub account: Option<AccountState>,
    /// `"<key name>/<key type>/<role>"` → key.
    pub keys: BTreeMap<String, KeyState>,
    /// `"<certificate name>/<key type>"` → installed certificate.
    pub certificates: BTreeMap<String, CertState>,
    /// Installed file path → what was installed.
    pub files: BTreeMap<String, FileState>,
    /// DNS name → the newest authorization obtained.
    pub authorizations: BTreeMap<String, AuthzState>,
    /// Issued but not (yet) installed: `"<certificate>/<key type>/<serial>"`.
    pub issued: BTreeMap<String, CertState>,
    /// `"<certificate>/<key type>"` → the newest ARI renewal window.
    pub renewal_info: BTreeMap<String, AriState>,
    /// Directory URLs without ARI.
    pub ari_unsupported: BTreeSet<String>,
    /// `"<certificate>/<key type>"` → the last failed renewal (when, why),
    /// until a certificate is installed.
    pub renewal_failures: BTreeMap<String, FailureState>,
    /// `"<certificate>/<key type>/<CT log>"` → the SCT stored for the
    /// installed certificate (none listed: the replay's text is unchanged).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub scts: BTreeMap<String, SctState>,
    /// `"<certificate>/<key type>"` → the OCSP response stored.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ocsp: BTreeMap<String, OcspState>,
    /// Certificate name → the DH/EC parameters its files carry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ParamsState>,
    /// `"<certificate>/<key type>"` → the last installation verification
    /// journaled (a run journals one only when its result differs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub verifications: BTreeMap<String, VerifiedState>,
    /// Transactions begun and neither committed nor rolled back.
    #[serde(rename = "open_transactions", serialize_with = "ids_only")]
    pub open: BTreeMap<String, OpenTxn>,
    /// SPKI digest → when a key not yet installed was generated.
    #[serde(skip)]
    pub generated: BTreeMap<String, Time>,
    /// DNS records acmebot added and has not removed.
    #[serde(skip)]
    pub dns_records: BTreeSet<DnsKey>,
    /// http-01 challenge files written and not removed.
    #[serde(skip)]
    pub challenge_files: BTreeSet<String>,
    /// The time of the last line (the journal's clock never runs back).
    #[serde(skip)]
    pub last_ts: Option<Time>,
    #[serde(skip)]
    recent_commits: VecDeque<String>,
    /// Seq of the last `checkpoint` line.
    #[serde(skip)]
    pub last_checkpoint: Option<u64>,
    /// Set when the replay starts where history is missing (at a checkpoint,
    /// or a segment's first line): the first checkpoint's state is taken as
    /// it is.
    #[serde(skip)]
    pub(super) resuming: bool,
    /// Checkpoints whose state differs from the replay up to them (seq, why).
    #[serde(skip)]
    pub checkpoint_problems: Vec<(u64, String)>,
}

fn ids_only<S: Serializer>(open: &BTreeMap<String, OpenTxn>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(open.keys())
}

impl State {
    /// The `--replay` JSON, indented as `serde_json::to_string_pretty`
    /// indents it. Written compactly and then indented: the state's types
    /// are serialized one way only (a checkpoint writes them compactly).
    pub fn to_json_pretty(&self) -> String {
        indent_json(&serde_json::to_string(self).expect("the state serializes"))
    }
}

/// Compact JSON text (no whitespace between tokens) indented by two spaces
/// per level, `"key": value`, `{}` and `[]` when empty: byte for byte what
/// serde_json's pretty printer writes.
fn indent_json(compact: &str) -> String {
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    }
    let b = compact.as_bytes();
    let mut out = Vec::with_capacity(b.len() + b.len() / 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' if b.get(i).is_some_and(|&n| n == c + 2) => {
                // `{}` or `[]` (`}` and `]` are 2 after `{` and `[`).
                out.extend_from_slice(&[c, c + 2]);
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                out.push(c);
                newline(&mut out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(c),
        }
    }
    // Only ASCII was added, between tokens.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub fn key_id(key: &str, key_type: KeyType, role: KeyRole) -> String {
    format!("{key}/{key_type}/{}", role.as_str())
}

pub fn cert_id(cert: &str, key_type: KeyType) -> String {
    format!("{cert}/{key_type}")
}

/// The transaction a line of a journal written before 0.2 names, if any.
fn legacy_txn(event: &Event) -> Option<&str> {
    match event {
        Event::KeyGenerated { txn: Some(t), .. }
        | Event::CertificateInstalled { txn: t, .. }
        | Event::KeyRolledOver { txn: t, .. } => Some(t),
        _ => None,
    }
}

pub fn dns_key(r: &DnsRecord) -> DnsKey {
    (r.zone.clone(), r.name.clone(), r.rtype.clone(), r.value_sha256.clone())
}

impl State {
    pub fn new() -> State {
        State { schema: SCHEMA, ..State::default() }
    }

    /// A state to be taken from the checkpoint the replay starts at.
    pub fn resuming() -> State {
        State { resuming: true, ..State::new() }
    }

    /// Whether the state is built from events of this `type` (the others are
    /// history the replay does not need).
    pub fn reads(type_name: &str) -> bool {
        !matches!(
            type_name,
            "run_finished"
                | "journal_repaired"
                | "account_key_generated"
                | "challenge_failed"
                | "order_created"
                | "hook_run"
                | "service_reloaded"
                | "zone_reloaded"
                | "file_restored"
                | "segment_started"
                | "segment_deleted"
                | "journal_set_aside"
                | "archive_pruned"
        )
    }

    /// Replays records in order (tests; the journal applies each
    /// record as it reads or writes it).
    #[cfg(test)]
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a Record>) -> State {
        let mut state = State::new();
        for r in records {
            state.apply(r);
        }
        state
    }

    /// Applies one record (see [`State::apply_owned`]).
    pub fn apply(&mut self, record: &Record) {
        self.apply_owned(record.clone())
    }

    /// Applies one record. Effects, installed files and (in journals written
    /// before 0.2) key and certificate lines that name a transaction take
    /// effect when that transaction commits; a rolled-back one's are dropped.
    pub fn apply_owned(&mut self, record: Record) {
        if let Event::Checkpoint { state } = &record.event {
            return self.apply_checkpoint(record.seq, record.ts, state);
        }
        self.last_seq = record.seq;
        self.last_ts = Some(record.ts);
        let ts = record.ts;
        match record.event {
            Event::TxnBegun(b) => {
                let txn = b.txn.clone();
                let open = OpenTxn {
                    begun: b,
                    seq: record.seq,
                    archived: Vec::new(),
                    installed: Vec::new(),
                    removed: Vec::new(),
                    legacy: Vec::new(),
                };
                self.open.insert(txn, open);
            }
            Event::FileArchived { txn, path, archived_to, .. } => {
                if let Some(o) = self.open.get_mut(&txn) {
                    o.archived.push((path, archived_to));
                }
            }
            Event::FileInstalled(f) => {
                if let Some(o) = self.open.get_mut(&f.txn) {
                    o.installed.push((f, record.seq));
                }
            }
            Event::FileRemoved { txn, path, archived_to } => {
                if let Some(o) = self.open.get_mut(&txn) {
                    o.removed.push((path, archived_to));
                }
            }
            Event::TxnCommitted { txn, .. } => self.commit(&txn, ts),
            Event::TxnRolledBack { txn, .. } => {
                self.open.remove(&txn);
            }
            other => match legacy_txn(&other).map(str::to_string) {
                Some(txn) => self.legacy(&txn, other, ts),
                None => self.apply_fact(other, ts),
            },
        }
    }

    fn commit(&mut self, txn: &str, ts: Time) {
        let Some(open) = self.open.remove(txn) else { return };
        for (f, seq) in open.installed {
            self.files.insert(
                f.path.clone(),
                FileState {
                    sha256: f.sha256,
                    mode: f.mode,
                    kind: f.kind,
                    txn: f.txn,
                    installed_copy: Some(f.installed_copy),
                    uid: f.uid,
                    gid: f.gid,
                    seq,
                },
            );
        }
        for (path, _) in open.removed {
            self.files.remove(&path);
        }
        for effect in open.begun.effects {
            self.apply_effect(effect, ts);
        }
        for (event, at) in open.legacy {
            self.apply_fact(event, at);
        }
        self.recent_commits.push_back(txn.to_string());
        if self.recent_commits.len() > RECENT_COMMITS {
            self.recent_commits.pop_front();
        }
    }

    /// A line of a journal written before 0.2 that names its transaction.
    fn legacy(&mut self, txn: &str, event: Event, ts: Time) {
        if let Some(o) = self.open.get_mut(txn) {
            o.legacy.push((event, ts));
        } else if self.recent_commits.iter().any(|t| t == txn) {
            self.apply_fact(event, ts);
        }
    }

    fn apply_effect(&mut self, effect: Effect, ts: Time) {
        match effect {
            Effect::KeyInstalled { key, key_type, role, spki_sha256, path } => {
                let since = self.generated.remove(&spki_sha256).unwrap_or(ts);
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since, adopted: false });
            }
            Effect::KeyRolledOver(r) => self.roll_over(r, ts),
            Effect::CertificateInstalled { cert, key_type, serial } => self.install_cert(&cert, key_type, &serial, ts),
            Effect::KeyArchived(a) => self.archive_key(a),
            Effect::SctStored { cert, key_type, serial, log, log_id, timestamp } => {
                let id = format!("{}/{log}", cert_id(&cert, key_type));
                self.scts.insert(id, SctState { serial, log_id, timestamp, since: ts });
            }
            // History for the operator: the file's state is in `files`.
            Effect::KeyFileWritten { .. } => {}
            Effect::ParamsInstalled { cert, dh_bits, ec_curves, key_spkis } => {
                self.params.insert(cert, ParamsState { dh_bits, ec_curves, key_spkis, since: ts });
            }
            Effect::OcspStored { cert, key_type, serial, status, this_update, next_update, produced_at } => {
                let state = OcspState { serial, status, this_update, next_update, produced_at, since: ts };
                self.ocsp.insert(cert_id(&cert, key_type), state);
            }
        }
    }

    /// Events that are facts the moment they are journaled (or, for the
    /// legacy transaction lines, the moment their transaction committed).
    fn apply_fact(&mut self, event: Event, ts: Time) {
        match event {
            Event::RunStarted { .. } => self.runs += 1,
            Event::AccountKeyRolledOver { new_thumbprint, .. } => {
                if let Some(a) = self.account.as_mut() {
                    a.thumbprint = new_thumbprint;
                }
            }
            Event::AccountRegistered { directory_url, account_url, thumbprint, .. } => {
                self.account = Some(AccountState { directory_url, account_url, thumbprint, registered_at: ts });
            }
            Event::KeyGenerated { key, key_type, role, spki_sha256, path, txn } => {
                if txn.is_some() {
                    self.set_key(KeyState { key, key_type, role, spki_sha256, path, since: ts, adopted: false });
                } else {
                    self.generated.insert(spki_sha256, ts);
                }
            }
            Event::KeyAdopted { key, key_type, role, spki_sha256, path, modified, .. } => {
                let since = modified.filter(|m| *m < ts).unwrap_or(ts);
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since, adopted: true });
            }
            Event::CertificateIssued(f) => {
                let id = format!("{}/{}", cert_id(&f.cert, f.key_type), f.serial);
                self.issued.insert(id, CertState::from_facts(f, ts, false));
            }
            Event::CertificateAdopted { facts, .. } => {
                let id = cert_id(&facts.cert, facts.key_type);
                self.renewal_failures.remove(&id);
                self.certificates.insert(id, CertState::from_facts(facts, ts, true));
            }
            Event::CertificateInstalled { cert, key_type, serial, .. } => {
                self.install_cert(&cert, key_type, &serial, ts)
            }
            Event::CertificateRevoked { cert, key_type, serial, .. } => {
                let id = cert_id(&cert, key_type);
                if self.certificates.get(&id).is_some_and(|c| c.serial == serial) {
                    self.certificates.remove(&id);
                }
            }
            Event::KeyArchived(a) => self.archive_key(a),
            Event::KeyRolledOver { rollover, .. } => self.roll_over(rollover, ts),
            Event::RenewalInfoFetched {
                cert,
                key_type,
                serial,
                cert_id: ari_id,
                window_start,
                window_end,
                renew_at,
                next_check,
                ..
            } => {
                self.renewal_info.insert(
                    cert_id(&cert, key_type),
                    AriState { serial, cert_id: ari_id, window_start, window_end, renew_at, next_check },
                );
            }
            Event::RenewalInfoUnsupported { directory_url } => {
                self.ari_unsupported.insert(directory_url);
            }
            Event::AuthorizationObtained { name, challenge, url, expires } => {
                self.authorizations.insert(name, AuthzState { challenge, url, expires, obtained: Some(ts) });
            }
            Event::ChallengeFileWritten { path } => {
                self.challenge_files.insert(path);
            }
            Event::ChallengeFileRemoved { path } => {
                self.challenge_files.remove(&path);
            }
            Event::InstallationVerified { cert, key_type, serial, checked, failures } => {
                let v = VerifiedState { serial, checked, failures, since: ts };
                self.verifications.insert(cert_id(&cert, key_type), v);
            }
            Event::RenewalFailed { cert, key_type, error } => {
                self.renewal_failures.insert(cert_id(&cert, key_type), FailureState { at: ts, error });
            }
            Event::FileAdopted { path, sha256, mode, uid, gid, installed_copy } => {
                let kind = self.files.get(&path).map(|f| f.kind.clone()).unwrap_or_default();
                let file =
                    FileState { sha256, mode, kind, txn: String::new(), installed_copy, uid, gid, seq: self.last_seq };
                self.files.insert(path, file);
            }
            Event::FileForgotten { path } => {
                self.files.remove(&path);
            }
            Event::DnsRecordAdded(r) => {
                self.dns_records.insert(dns_key(&r));
            }
            Event::DnsRecordRemoved(r) => {
                self.dns_records.remove(&dns_key(&r));
            }
            _ => {}
        }
    }

    fn install_cert(&mut self, cert: &str, key_type: KeyType, serial: &str, ts: Time) {
        if let Some(mut c) = self.issued.remove(&format!("{}/{serial}", cert_id(cert, key_type))) {
            c.since = ts;
            let id = cert_id(cert, key_type);
            c.previous = match self.certificates.get(&id) {
                Some(old) if old.serial != c.serial => {
                    Some(PreviousCert { serial: old.serial.clone(), not_after: old.not_after, replaced: ts })
                }
                Some(old) => old.previous.clone(),
                None => None,
            };
            self.drop_stapled(&id, &c.serial);
            self.certificates.insert(id.clone(), c);
            self.renewal_failures.remove(&id);
        }
    }

    /// SCTs and OCSP responses stored for an earlier certificate of `id`
    /// belong to no installed certificate once `serial` is installed.
    fn drop_stapled(&mut self, id: &str, serial: &str) {
        let prefix = format!("{id}/");
        self.scts.retain(|k, s| !k.starts_with(&prefix) || s.serial == serial);
        if self.ocsp.get(id).is_some_and(|o| o.serial != serial) {
            self.ocsp.remove(id);
        }
    }

    fn archive_key(&mut self, a: KeyArchived) {
        let id = key_id(&a.key, a.key_type, a.role);
        if self.keys.get(&id).is_some_and(|k| k.spki_sha256 == a.spki_sha256) {
            self.keys.remove(&id);
        }
    }

    fn roll_over(&mut self, r: KeyRollover, ts: Time) {
        // The backup's age carries over: key age counts from when it was made.
        let backup = self
            .keys
            .get(&key_id(&r.key, r.key_type, KeyRole::Backup))
            .filter(|b| b.spki_sha256 == r.spki_sha256)
            .cloned();
        let (since, adopted) = backup.map(|b| (b.since, b.adopted)).unwrap_or((ts, false));
        let KeyRollover { key, key_type, spki_sha256, path, .. } = r;
        self.set_key(KeyState { key, key_type, role: KeyRole::Primary, spki_sha256, path, since, adopted });
    }

    fn set_key(&mut self, k: KeyState) {
        // A key that becomes primary stops being the backup it was (rollover).
        if k.role == KeyRole::Primary {
            let backup = key_id(&k.key, k.key_type, KeyRole::Backup);
            if self.keys.get(&backup).is_some_and(|b| b.spki_sha256 == k.spki_sha256) {
                self.keys.remove(&backup);
            }
        }
        self.keys.insert(key_id(&k.key, k.key_type, k.role), k);
    }

    pub fn key(&self, key: &str, key_type: KeyType, role: KeyRole) -> Option<&KeyState> {
        self.keys.get(&key_id(key, key_type, role))
    }

    pub fn certificate(&self, cert: &str, key_type: KeyType) -> Option<&CertState> {
        self.certificates.get(&cert_id(cert, key_type))
    }

    pub fn file(&self, path: &Path) -> Option<&FileState> {
        self.files.get(path.to_string_lossy().as_ref())
    }

    /// Whether acmebot added this DNS record and has not removed it.
    pub fn dns_record_outstanding(&self, zone: &str, name: &str, rtype: &str, value_sha256: &str) -> bool {
        self.dns_records.contains(&(zone.into(), name.into(), rtype.into(), value_sha256.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::{FileAction, TxnFile};
    use serde_json::json;

    const T0: i64 = 1_795_968_146;

    fn records(events: &[serde_json::Value]) -> Vec<Record> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| Record {
                seq: i as u64 + 1,
                ts: Time::from_secs(T0 + i as i64),
                clock: None,
                event: crate::journal::fields::event_from_json(e).unwrap_or_else(|err| panic!("{e}: {err}")),
                hash: crate::journal::LineHash::ZERO,
            })
            .collect()
    }

    fn begun(txn: &str, effects: serde_json::Value) -> serde_json::Value {
        json!({"type": "txn_begun", "txn": txn, "key": "k", "archive": "/a", "owner": null, "files": [], "effects": effects})
    }

    fn issued(serial: &str) -> serde_json::Value {
        json!({"type": "certificate_issued", "cert": "c", "key": "k", "key_type": "ecdsa", "serial": serial, "common_name": "c",
               "not_before": "2026-11-29T00:00:00Z", "not_after": "2027-02-27T00:00:00Z", "sans": ["c"], "issuer": "CN=CA",
               "order_url": "https://ca/o/1", "spki_sha256": "p1"})
    }

    fn generated(role: &str, spki: &str) -> serde_json::Value {
        json!({"type": "key_generated", "key": "k", "key_type": "ecdsa", "role": role, "spki_sha256": spki, "path": format!("/k.{role}")})
    }

    fn installed(role: &str, spki: &str) -> serde_json::Value {
        json!({"type": "key_installed", "key": "k", "key_type": "ecdsa", "role": role, "spki_sha256": spki, "path": format!("/k.{role}")})
    }

    #[test]
    fn the_replaced_certificate_and_verifications_are_kept_through_checkpoints() {
        let cert =
            |serial: &str| json!({"type": "certificate_installed", "cert": "c", "key_type": "ecdsa", "serial": serial});
        let verified = |serial: &str, failures: serde_json::Value| {
            json!({"type": "installation_verified", "cert": "c", "key_type": "ecdsa", "serial": serial,
                   "checked": 2, "failures": failures})
        };
        let r = records(&[
            issued("01"),
            begun("k@1", json!([cert("01")])),
            json!({"type": "txn_committed", "txn": "k@1"}),
            verified("01", json!([])),
            issued("02"),
            begun("k@2", json!([cert("02")])),
            json!({"type": "txn_committed", "txn": "k@2"}),
            verified("02", json!(["c at 127.0.0.1:443: still serves the previous certificate"])),
        ]);
        let s = State::replay(&r);
        let c = &s.certificates["c/ecdsa"];
        assert_eq!(c.serial, "02");
        let previous = c.previous.as_ref().unwrap();
        // replaced when the new one's transaction committed
        assert_eq!((previous.serial.as_str(), previous.replaced), ("01", r[6].ts));
        assert_eq!(s.verifications["c/ecdsa"].serial, "02");
        assert_eq!(s.verifications["c/ecdsa"].failures.len(), 1);
        let back = State::from_snapshot(&s.snapshot()).unwrap();
        assert_eq!(back.certificates, s.certificates);
        assert_eq!(back.verifications, s.verifications);
        // A journal without either reads as before (no key in the snapshot).
        let first = State::replay(&r[..3]);
        assert!(first.certificates["c/ecdsa"].previous.is_none() && first.verifications.is_empty());
        let text = first.snapshot().0.get().to_string();
        assert!(!text.contains("previous") && !text.contains("verifications"), "{text}");
    }

    #[test]
    fn scts_and_ocsp_responses_belong_to_the_installed_certificate() {
        let cert =
            |serial: &str| json!({"type": "certificate_installed", "cert": "c", "key_type": "ecdsa", "serial": serial});
        let sct = |serial: &str, log: &str| {
            json!({"type": "sct_stored", "cert": "c", "key_type": "ecdsa", "serial": serial,
            "log": log, "log_id": "aWQ=", "timestamp": "2026-12-02T10:00:00.5Z"})
        };
        let ocsp = |serial: &str| {
            json!({"type": "ocsp_stored", "cert": "c", "key_type": "ecdsa", "serial": serial,
            "status": "good", "this_update": "2026-12-02T00:00:00Z", "next_update": "2026-12-09T00:00:00Z",
            "produced_at": "2026-12-02T00:00:00Z"})
        };
        let r = records(&[
            issued("01"),
            begun("k@1", json!([cert("01"), sct("01", "argon"), sct("01", "xenon"), ocsp("01")])),
            json!({"type": "txn_committed", "txn": "k@1"}),
            // Never committed: counts for nothing.
            begun("k@2", json!([sct("01", "nimbus")])),
        ]);
        let s = State::replay(&r);
        assert_eq!(s.scts.keys().collect::<Vec<_>>(), ["c/ecdsa/argon", "c/ecdsa/xenon"]);
        assert_eq!(s.scts["c/ecdsa/argon"].timestamp.to_string(), "2026-12-02T10:00:00.500000Z");
        assert_eq!(s.ocsp["c/ecdsa"].next_update.unwrap().to_string(), "2026-12-09T00:00:00Z");
        let snap = s.snapshot();
        let back = State::from_snapshot(&snap).unwrap();
        assert_eq!(back.scts, s.scts);
        assert_eq!(back.ocsp, s.ocsp);

        // A new certificate: the previous one's SCTs and response are gone,
        // until the new ones are stored in its transaction.
        let mut more: Vec<serde_json::Value> =
            r.iter().take(3).map(|x| serde_json::to_value(&x.event).unwrap()).collect();
        more.extend([
            issued("02"),
            begun("k@3", json!([cert("02"), sct("02", "xenon")])),
            json!({"type": "txn_committed", "txn": "k@3"}),
        ]);
        let s = State::replay(&records(&more));
        assert_eq!(s.scts.keys().collect::<Vec<_>>(), ["c/ecdsa/xenon"]);
        assert_eq!(s.scts["c/ecdsa/xenon"].serial, "02");
        assert!(s.ocsp.is_empty());
        // The replay's text shows them only when there are some.
        assert!(serde_json::to_value(&s).unwrap().get("ocsp").is_none());
    }

    #[test]
    fn effects_count_only_when_their_transaction_commits() {
        let cert = json!({"type": "certificate_installed", "cert": "c", "key_type": "ecdsa", "serial": "01"});
        let r = records(&[
            json!({"type": "run_started", "version": "0", "pid": 1, "args": [], "config": "/c"}),
            generated("primary", "p1"),
            generated("backup", "b1"),
            issued("01"),
            begun("k@1", json!([installed("primary", "p1"), installed("backup", "b1"), cert])),
            json!({"type": "txn_committed", "txn": "k@1"}),
            // Never committed: its backup key does not count.
            generated("backup", "zz"),
            begun("k@2", json!([installed("backup", "zz")])),
            json!({"type": "renewal_info_fetched", "cert": "c", "key_type": "ecdsa", "serial": "01", "cert_id": "a.b",
                   "window_start": "2027-01-28T00:00:00Z", "window_end": "2027-01-30T00:00:00Z", "renew_at": "2027-01-29T00:00:00Z",
                   "next_check": "2026-11-29T06:00:00Z", "explanation_url": null}),
            json!({"type": "some_future_event", "whatever": 1}),
        ]);
        let s = State::replay(&r);
        assert_eq!(s.runs, 1);
        let primary = s.key("k", KeyType::Ecdsa, KeyRole::Primary).unwrap();
        assert_eq!(primary.spki_sha256, "p1");
        assert_eq!(primary.since, Time::from_secs(T0 + 1), "a key's age counts from its generation");
        assert_eq!(
            s.key("k", KeyType::Ecdsa, KeyRole::Backup).unwrap().spki_sha256,
            "b1",
            "uncommitted backup ignored"
        );
        assert_eq!(s.certificate("c", KeyType::Ecdsa).unwrap().serial, "01");
        assert!(s.open.contains_key("k@2"));
        assert_eq!(serde_json::to_value(&s).unwrap()["open_transactions"], json!(["k@2"]));
        assert_eq!(s.renewal_info["c/ecdsa"].renew_at.to_string(), "2027-01-29T00:00:00Z");

        // Rolled back, a revocation, then the rollover to the backup key.
        let mut more: Vec<serde_json::Value> =
            r.iter().take(8).map(|x| serde_json::to_value(&x.event).unwrap()).collect();
        more.extend([
            json!({"type": "txn_rolled_back", "txn": "k@2", "reason": "crash"}),
            json!({"type": "certificate_revoked", "cert": "c", "key": "k", "key_type": "ecdsa", "serial": "01", "reason": "keyCompromise"}),
            begun("k@3", json!([{"type": "key_archived", "key": "k", "key_type": "ecdsa", "role": "primary", "spki_sha256": "p1", "reason": "revoked"}])),
            json!({"type": "txn_committed", "txn": "k@3"}),
            generated("backup", "b2"),
            begun("k@4", json!([{"type": "key_rolled_over", "key": "k", "key_type": "ecdsa", "spki_sha256": "b1", "path": "/k.primary",
                                 "previous_spki_sha256": "p1"}, installed("backup", "b2")])),
            json!({"type": "txn_committed", "txn": "k@4"}),
        ]);
        let s = State::replay(&records(&more));
        assert!(s.open.is_empty());
        assert!(s.certificate("c", KeyType::Ecdsa).is_none(), "revoked certificate gone");
        let primary = s.key("k", KeyType::Ecdsa, KeyRole::Primary).unwrap();
        assert_eq!(primary.spki_sha256, "b1", "the backup became the primary");
        assert_eq!(primary.since, Time::from_secs(T0 + 2), "key age carries over from the backup");
        assert_eq!(s.key("k", KeyType::Ecdsa, KeyRole::Backup).unwrap().spki_sha256, "b2");
        assert!(
            s.generated.is_empty() || s.generated.keys().all(|k| k == "zz"),
            "installed keys leave the generated pool"
        );
    }

    #[test]
    fn journals_of_earlier_versions_name_the_transaction_after_it_committed() {
        let r = records(&[
            json!({"type": "txn_begun", "txn": "k@1", "key": "k", "archive": "/a", "owner": null, "files": [
                {"path": "/c", "kind": "certificate", "action": "write", "sha256": "s", "mode": "0644", "old_sha256": null,
                 "old_mode": null, "temp": "/.c.t"}]}),
            json!({"type": "file_installed", "txn": "k@1", "path": "/c", "kind": "certificate", "sha256": "s", "mode": "0644",
                   "uid": 0, "gid": 0, "installed_copy": "/a/installed/c"}),
            json!({"type": "txn_committed", "txn": "k@1"}),
            json!({"type": "key_generated", "key": "k", "key_type": "ecdsa", "role": "primary", "spki_sha256": "p1", "path": "/k", "txn": "k@1"}),
            issued("01"),
            json!({"type": "certificate_installed", "cert": "c", "key_type": "ecdsa", "serial": "01", "txn": "k@1"}),
            // A key line naming a transaction that never committed is ignored.
            json!({"type": "key_generated", "key": "k", "key_type": "ecdsa", "role": "backup", "spki_sha256": "x", "path": "/b", "txn": "k@9"}),
        ]);
        let s = State::replay(&r);
        assert_eq!(s.key("k", KeyType::Ecdsa, KeyRole::Primary).unwrap().since, Time::from_secs(T0 + 3));
        assert!(s.key("k", KeyType::Ecdsa, KeyRole::Backup).is_none());
        assert_eq!(s.certificate("c", KeyType::Ecdsa).unwrap().serial, "01");
        let f = &s.files["/c"];
        assert_eq!((f.mode, f.seq, f.installed_copy.as_deref()), (Mode(0o644), 2, Some("/a/installed/c")));
        let text = serde_json::to_value(&s).unwrap();
        assert_eq!(
            text["files"]["/c"],
            json!({"sha256": "s", "mode": "0644", "kind": "certificate", "txn": "k@1", "installed_copy": "/a/installed/c"})
        );
    }

    #[test]
    fn open_transactions_keep_what_recovery_needs() {
        let file = TxnFile {
            path: "/c".into(),
            kind: "certificate".into(),
            action: FileAction::Write,
            sha256: Some("s".into()),
            mode: Some(Mode(0o644)),
            old_sha256: Some("o".into()),
            old_mode: Some(Mode(0o644)),
            temp: Some("/.c.t".into()),
        };
        let b = TxnBegun {
            txn: "k@1".into(),
            key: "k".into(),
            archive: "/a".into(),
            owner: None,
            files: vec![file],
            effects: vec![],
        };
        let r = records(&[
            serde_json::to_value(Event::TxnBegun(b.clone())).unwrap(),
            json!({"type": "file_archived", "txn": "k@1", "path": "/c", "archived_to": "/a/c", "sha256": "o"}),
        ]);
        let s = State::replay(&r);
        let o = &s.open["k@1"];
        assert_eq!(o.begun, b);
        assert_eq!(o.archived, vec![("/c".to_string(), "/a/c".to_string())]);
        assert!(o.done().is_empty());
        assert!(s.files.is_empty());
    }

    #[test]
    fn the_replay_json_is_indented_as_serde_json_indents_it() {
        let values = [
            json!({}),
            json!([]),
            json!({"a": {}, "b": [], "c": [{}], "d": [[], {"e": null}]}),
            json!({"s": "a,b:{c}[d] \\\" \\\\ \\n é ☃ \u{1}", "n": -1.5, "u": 18446744073709551615u64, "t": true}),
            json!([1, "x", [2, [3, {"k": "v"}]], {"x": {"y": {"z": []}}}]),
        ];
        for v in values {
            assert_eq!(indent_json(&serde_json::to_string(&v).unwrap()), serde_json::to_string_pretty(&v).unwrap());
        }
        let mut s = State::replay(&records(&[
            json!({"type": "run_started", "version": "0", "pid": 1, "args": [], "config": "/c"}),
            issued("01"),
            begun("k@2", json!([])),
        ]));
        assert_eq!(s.to_json_pretty(), serde_json::to_string_pretty(&s).unwrap());
        s.ari_unsupported.insert("https://ca/\"dir\"".into());
        assert_eq!(s.to_json_pretty(), serde_json::to_string_pretty(&s).unwrap());
    }

    #[test]
    fn dns_records_outstanding() {
        let rec = json!({"zone": "z", "name": "_acme-challenge.z.", "rtype": "TXT", "value_sha256": "h", "server": null, "mode": "local"});
        let mut added = rec.clone();
        added["type"] = json!("dns_record_added");
        let mut removed = rec;
        removed["type"] = json!("dns_record_removed");
        let s = State::replay(&records(std::slice::from_ref(&added)));
        assert!(s.dns_record_outstanding("z", "_acme-challenge.z.", "TXT", "h"));
        let s = State::replay(&records(&[added, removed]));
        assert!(!s.dns_record_outstanding("z", "_acme-challenge.z.", "TXT", "h"));
    }
}
