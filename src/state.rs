//! State is a projection of the journal: replaying the records in order gives
//! what acmebot believes about its account, keys, certificates and files.
//! The run checks this belief against the files on disk before acting.
//! The JSON form (`--replay`) is a documented, stable schema (README, "The journal").

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::events::Event;
use crate::journal::Record;
use crate::time::{parse_rfc3339, rfc3339, Timestamp};
use crate::txn;
use crate::types::{KeyRole, KeyType};

pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccountState {
    pub directory_url: String,
    pub account_url: String,
    pub thumbprint: String,
    pub registered_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KeyState {
    pub key: String,
    pub key_type: KeyType,
    pub role: KeyRole,
    pub spki_sha256: String,
    pub path: String,
    /// When this key was made (or first seen, when adopted): key age counts from here.
    pub since: String,
    pub adopted: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CertState {
    pub cert: String,
    pub key: String,
    pub key_type: KeyType,
    pub serial: String,
    pub common_name: Option<String>,
    pub not_before: String,
    pub not_after: String,
    pub sans: Vec<String>,
    pub issuer: String,
    pub spki_sha256: String,
    pub order_url: Option<String>,
    pub since: String,
    pub adopted: bool,
}

impl CertState {
    pub fn not_after_ts(&self) -> Option<Timestamp> {
        parse_rfc3339(&self.not_after)
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FileState {
    pub sha256: String,
    pub mode: String,
    pub kind: String,
    pub txn: String,
    pub installed_copy: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AuthzState {
    pub challenge: String,
    pub url: String,
    pub expires: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AriState {
    pub serial: String,
    pub cert_id: String,
    pub window_start: String,
    pub window_end: String,
    pub renew_at: String,
    pub next_check: String,
}

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
    /// Transactions begun and neither committed nor rolled back.
    pub open_transactions: BTreeSet<String>,
}

pub fn key_id(key: &str, key_type: KeyType, role: KeyRole) -> String {
    format!("{key}/{key_type}/{}", role.as_str())
}

pub fn cert_id(cert: &str, key_type: KeyType) -> String {
    format!("{cert}/{key_type}")
}

impl State {
    /// Replays records in order. Events that belong to a transaction take effect
    /// only when that transaction commits; those of a rolled-back one are dropped.
    pub fn replay(records: &[Record]) -> State {
        let mut state = State { schema: SCHEMA, ..State::default() };
        let mut pending: BTreeMap<String, Vec<(Event, Timestamp)>> = BTreeMap::new();
        let mut committed: BTreeSet<String> = BTreeSet::new();
        for record in records {
            state.last_seq = record.seq;
            let txn_id = record.event.get("txn").and_then(|v| v.as_str()).map(str::to_string);
            match record.event_type() {
                "txn_begun" => {
                    if let Some(id) = txn_id {
                        state.open_transactions.insert(id);
                    }
                    continue;
                }
                "txn_committed" => {
                    if let Some(id) = txn_id {
                        state.open_transactions.remove(&id);
                        for (event, ts) in pending.remove(&id).unwrap_or_default() {
                            state.apply(&event, ts);
                        }
                        committed.insert(id);
                    }
                    continue;
                }
                "txn_rolled_back" => {
                    if let Some(id) = txn_id {
                        state.open_transactions.remove(&id);
                        pending.remove(&id);
                    }
                    continue;
                }
                _ => {}
            }
            let event: Event = match serde_json::from_value(record.event.clone()) {
                Ok(e) => e,
                Err(_) => Event::Other,
            };
            match &event {
                // Effective only with their transaction committed.
                Event::KeyGenerated { txn, .. }
                | Event::CertificateInstalled { txn, .. }
                | Event::KeyRolledOver { txn, .. }
                    if !committed.contains(txn) =>
                {
                    pending.entry(txn.clone()).or_default().push((event.clone(), record.ts));
                }
                _ => state.apply(&event, record.ts),
            }
        }
        for (path, f) in txn::installed_files(records) {
            state.files.insert(
                path.display().to_string(),
                FileState {
                    sha256: f.sha256,
                    mode: format!("{:04o}", f.mode),
                    kind: f.kind,
                    txn: f.txn,
                    installed_copy: Some(f.installed_copy.display().to_string()),
                },
            );
        }
        state
    }

    fn apply(&mut self, event: &Event, ts: Timestamp) {
        match event.clone() {
            Event::RunStarted { .. } => self.runs += 1,
            Event::AccountKeyRolledOver { new_thumbprint, .. } => {
                if let Some(a) = self.account.as_mut() {
                    a.thumbprint = new_thumbprint;
                }
            }
            Event::AccountRegistered { directory_url, account_url, thumbprint, .. } => {
                self.account =
                    Some(AccountState { directory_url, account_url, thumbprint, registered_at: rfc3339(ts) });
            }
            Event::KeyGenerated { key, key_type, role, spki_sha256, path, .. } => {
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since: rfc3339(ts), adopted: false });
            }
            Event::KeyAdopted { key, key_type, role, spki_sha256, path, .. } => {
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since: rfc3339(ts), adopted: true });
            }
            Event::CertificateIssued {
                cert,
                key,
                key_type,
                serial,
                common_name,
                not_before,
                not_after,
                sans,
                issuer,
                order_url,
                spki_sha256,
            } => {
                self.issued.insert(
                    format!("{}/{serial}", cert_id(&cert, key_type)),
                    CertState {
                        cert,
                        key,
                        key_type,
                        serial,
                        common_name,
                        not_before,
                        not_after,
                        sans,
                        issuer,
                        spki_sha256,
                        order_url: Some(order_url),
                        since: rfc3339(ts),
                        adopted: false,
                    },
                );
            }
            Event::CertificateAdopted {
                cert,
                key,
                key_type,
                serial,
                common_name,
                not_before,
                not_after,
                sans,
                issuer,
                spki_sha256,
                ..
            } => {
                self.certificates.insert(
                    cert_id(&cert, key_type),
                    CertState {
                        cert,
                        key,
                        key_type,
                        serial,
                        common_name,
                        not_before,
                        not_after,
                        sans,
                        issuer,
                        spki_sha256,
                        order_url: None,
                        since: rfc3339(ts),
                        adopted: true,
                    },
                );
            }
            Event::CertificateInstalled { cert, key_type, serial, .. } => {
                if let Some(mut c) = self.issued.remove(&format!("{}/{serial}", cert_id(&cert, key_type))) {
                    c.since = rfc3339(ts);
                    self.certificates.insert(cert_id(&cert, key_type), c);
                }
            }
            Event::CertificateRevoked { cert, key_type, serial, .. } => {
                let id = cert_id(&cert, key_type);
                if self.certificates.get(&id).map(|c| c.serial == serial).unwrap_or(false) {
                    self.certificates.remove(&id);
                }
            }
            Event::KeyArchived { key, key_type, role, spki_sha256, .. } => {
                let id = key_id(&key, key_type, role);
                if self.keys.get(&id).map(|k| k.spki_sha256 == spki_sha256).unwrap_or(false) {
                    self.keys.remove(&id);
                }
            }
            Event::KeyRolledOver { key, key_type, spki_sha256, path, .. } => {
                // The backup's age carries over: key age counts from when it was made.
                let backup = self
                    .keys
                    .get(&key_id(&key, key_type, KeyRole::Backup))
                    .filter(|b| b.spki_sha256 == spki_sha256)
                    .cloned();
                let (since, adopted) = backup.map(|b| (b.since, b.adopted)).unwrap_or_else(|| (rfc3339(ts), false));
                self.set_key(KeyState { key, key_type, role: KeyRole::Primary, spki_sha256, path, since, adopted });
            }
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
                self.authorizations.insert(name, AuthzState { challenge, url, expires });
            }
            _ => {}
        }
    }

    fn set_key(&mut self, k: KeyState) {
        // A key that becomes primary stops being the backup it was (rollover).
        if k.role == KeyRole::Primary {
            let backup = key_id(&k.key, k.key_type, KeyRole::Backup);
            if self.keys.get(&backup).map(|b| b.spki_sha256 == k.spki_sha256).unwrap_or(false) {
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

    pub fn file(&self, path: &std::path::Path) -> Option<&FileState> {
        self.files.get(&path.display().to_string())
    }

    pub fn file_paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.keys().map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal;
    use serde_json::json;

    /// Builds a journal from events exactly as the writer formats it, then reads it back.
    fn records(events: &[serde_json::Value]) -> Vec<Record> {
        let mut text = String::new();
        let mut prev = journal::ZERO_HASH.to_string();
        for (i, e) in events.iter().enumerate() {
            let line = journal::format_line(i as u64 + 1, 1_795_968_146 + i as i64, e, &prev).unwrap();
            prev = crate::types::sha256_hex(line.trim_end_matches('\n').as_bytes());
            text.push_str(&line);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        let outcome = journal::parse(text.as_bytes());
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
        outcome.records
    }

    fn key(role: &str, spki: &str, txn: &str) -> serde_json::Value {
        json!({"type": "key_generated", "key": "k", "key_type": "ecdsa", "role": role, "spki_sha256": spki, "path": format!("/k.{role}"), "txn": txn})
    }

    fn issued(serial: &str) -> serde_json::Value {
        json!({"type": "certificate_issued", "cert": "c", "key": "k", "key_type": "ecdsa", "serial": serial, "common_name": "c",
               "not_before": "2026-11-29T00:00:00Z", "not_after": "2027-02-27T00:00:00Z", "sans": ["c"], "issuer": "CN=CA",
               "order_url": "https://ca/o/1", "spki_sha256": "p1"})
    }

    #[test]
    fn replay_applies_only_committed_transactions_and_follows_the_key_lifecycle() {
        let r = records(&[
            json!({"type": "run_started", "version": "0", "pid": 1, "args": [], "config": "/c"}),
            json!({"type": "txn_begun", "txn": "k@1", "key": "k", "archive": "/a", "files": []}),
            json!({"type": "txn_committed", "txn": "k@1"}),
            key("primary", "p1", "k@1"),
            key("backup", "b1", "k@1"),
            issued("01"),
            json!({"type": "certificate_installed", "cert": "c", "key_type": "ecdsa", "serial": "01", "txn": "k@1"}),
            // A transaction that never committed: its key must not count.
            json!({"type": "txn_begun", "txn": "k@2", "key": "k", "archive": "/a", "files": []}),
            key("backup", "zz", "k@2"),
            json!({"type": "renewal_info_fetched", "cert": "c", "key_type": "ecdsa", "serial": "01", "cert_id": "a.b",
                   "window_start": "2027-01-28T00:00:00Z", "window_end": "2027-01-30T00:00:00Z", "renew_at": "2027-01-29T00:00:00Z",
                   "next_check": "2026-11-29T06:00:00Z", "explanation_url": null}),
            json!({"type": "some_future_event", "whatever": 1}),
        ]);
        let s = State::replay(&r);
        assert_eq!(s.runs, 1);
        assert_eq!(s.key("k", KeyType::Ecdsa, KeyRole::Primary).unwrap().spki_sha256, "p1");
        assert_eq!(
            s.key("k", KeyType::Ecdsa, KeyRole::Backup).unwrap().spki_sha256,
            "b1",
            "uncommitted backup ignored"
        );
        assert_eq!(s.certificate("c", KeyType::Ecdsa).unwrap().serial, "01");
        assert!(s.open_transactions.contains("k@2"));
        assert_eq!(s.renewal_info["c/ecdsa"].renew_at, "2027-01-29T00:00:00Z");

        // Revocation, then the rollover to the backup key.
        let mut more: Vec<serde_json::Value> = r.iter().map(|x| x.event.clone()).collect();
        more.extend([
            json!({"type": "txn_rolled_back", "txn": "k@2", "reason": "crash"}),
            json!({"type": "certificate_revoked", "cert": "c", "key": "k", "key_type": "ecdsa", "serial": "01", "reason": "keyCompromise"}),
            json!({"type": "key_archived", "key": "k", "key_type": "ecdsa", "role": "primary", "spki_sha256": "p1", "reason": "revoked"}),
            json!({"type": "txn_begun", "txn": "k@3", "key": "k", "archive": "/a", "files": []}),
            json!({"type": "txn_committed", "txn": "k@3"}),
            json!({"type": "key_rolled_over", "key": "k", "key_type": "ecdsa", "spki_sha256": "b1", "path": "/k.primary", "previous_spki_sha256": "p1", "txn": "k@3"}),
            key("backup", "b2", "k@3"),
        ]);
        let s = State::replay(&records(&more));
        assert!(s.open_transactions.is_empty());
        assert!(s.certificate("c", KeyType::Ecdsa).is_none(), "revoked certificate gone");
        let primary = s.key("k", KeyType::Ecdsa, KeyRole::Primary).unwrap();
        assert_eq!(primary.spki_sha256, "b1", "the backup became the primary");
        assert_eq!(primary.since, crate::time::rfc3339(1_795_968_146 + 4), "key age carries over from the backup");
        assert_eq!(s.key("k", KeyType::Ecdsa, KeyRole::Backup).unwrap().spki_sha256, "b2");
    }
}
