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
                Event::KeyGenerated { txn, .. } | Event::CertificateInstalled { txn, .. } | Event::KeyRolledOver { txn, .. } if !committed.contains(txn) => {
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
            Event::AccountRegistered { directory_url, account_url, thumbprint, .. } => {
                self.account = Some(AccountState { directory_url, account_url, thumbprint, registered_at: rfc3339(ts) });
            }
            Event::KeyGenerated { key, key_type, role, spki_sha256, path, .. } => {
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since: rfc3339(ts), adopted: false });
            }
            Event::KeyAdopted { key, key_type, role, spki_sha256, path, .. } => {
                self.set_key(KeyState { key, key_type, role, spki_sha256, path, since: rfc3339(ts), adopted: true });
            }
            Event::CertificateIssued { cert, key, key_type, serial, common_name, not_before, not_after, sans, issuer, order_url, spki_sha256 } => {
                self.issued.insert(
                    format!("{}/{serial}", cert_id(&cert, key_type)),
                    CertState { cert, key, key_type, serial, common_name, not_before, not_after, sans, issuer, spki_sha256, order_url: Some(order_url), since: rfc3339(ts), adopted: false },
                );
            }
            Event::CertificateAdopted { cert, key, key_type, serial, common_name, not_before, not_after, sans, issuer, spki_sha256, .. } => {
                self.certificates.insert(
                    cert_id(&cert, key_type),
                    CertState { cert, key, key_type, serial, common_name, not_before, not_after, sans, issuer, spki_sha256, order_url: None, since: rfc3339(ts), adopted: true },
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
                let backup = self.keys.get(&key_id(&key, key_type, KeyRole::Backup)).filter(|b| b.spki_sha256 == spki_sha256).cloned();
                let (since, adopted) = backup.map(|b| (b.since, b.adopted)).unwrap_or_else(|| (rfc3339(ts), false));
                self.set_key(KeyState { key, key_type, role: KeyRole::Primary, spki_sha256, path, since, adopted });
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
