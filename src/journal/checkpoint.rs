//! Checkpoints: the replayed state written into the journal as one
//! `checkpoint` line (hash-chained like every line), so a run reads the
//! journal from its last checkpoint instead of from line 1 and a run's cost
//! does not grow with the journal's history.
//!
//! A checkpoint is written at the end of a writing run when no transaction is
//! open and [`CHECKPOINT_EVERY`] lines or more were written since the last
//! one, and first in every new segment. `--audit` replays from the start and
//! holds every checkpoint against the state it replayed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::event::{Mode, Snapshot};
use super::fields::{FieldError, Fields};
use super::state::{
    AccountState, AriState, AuthzState, CertState, FailureState, FileState, KeyState, OcspState, ParamsState,
    PreviousCert, SctState, State, VerifiedState,
};
use crate::time::Time;
use crate::types::{KeyRole, KeyType};

/// Lines after which a writing run ends with a checkpoint.
pub const CHECKPOINT_EVERY: u64 = 1000;

type R<T> = Result<T, FieldError>;

impl State {
    /// The state as a checkpoint holds it (serialized straight to text: a
    /// large installation's state is megabytes, never held as a JSON tree).
    pub fn snapshot(&self) -> Snapshot {
        #[derive(Serialize)]
        struct FileEntry<'a> {
            sha256: &'a str,
            mode: Mode,
            kind: &'a str,
            txn: &'a str,
            installed_copy: &'a Option<String>,
            uid: u32,
            gid: u32,
            seq: u64,
        }
        #[derive(Serialize)]
        struct Snap<'a> {
            schema: u32,
            runs: u64,
            account: &'a Option<AccountState>,
            keys: &'a BTreeMap<String, KeyState>,
            certificates: &'a BTreeMap<String, CertState>,
            files: BTreeMap<&'a str, FileEntry<'a>>,
            authorizations: &'a BTreeMap<String, AuthzState>,
            issued: &'a BTreeMap<String, CertState>,
            renewal_info: &'a BTreeMap<String, AriState>,
            ari_unsupported: &'a BTreeSet<String>,
            generated: &'a BTreeMap<String, Time>,
            dns_records: Vec<[&'a String; 4]>,
            renewal_failures: &'a BTreeMap<String, FailureState>,
            challenge_files: &'a BTreeSet<String>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            scts: &'a BTreeMap<String, SctState>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            ocsp: &'a BTreeMap<String, OcspState>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            params: &'a BTreeMap<String, ParamsState>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            verifications: &'a BTreeMap<String, VerifiedState>,
        }
        let files = self
            .files
            .iter()
            .map(|(path, f)| {
                let entry = FileEntry {
                    sha256: &f.sha256,
                    mode: f.mode,
                    kind: &f.kind,
                    txn: &f.txn,
                    installed_copy: &f.installed_copy,
                    uid: f.uid,
                    gid: f.gid,
                    seq: f.seq,
                };
                (path.as_str(), entry)
            })
            .collect();
        let snap = Snap {
            schema: self.schema,
            runs: self.runs,
            account: &self.account,
            keys: &self.keys,
            certificates: &self.certificates,
            files,
            authorizations: &self.authorizations,
            issued: &self.issued,
            renewal_info: &self.renewal_info,
            ari_unsupported: &self.ari_unsupported,
            generated: &self.generated,
            dns_records: self.dns_records.iter().map(|(z, n, t, v)| [z, n, t, v]).collect(),
            renewal_failures: &self.renewal_failures,
            challenge_files: &self.challenge_files,
            scts: &self.scts,
            ocsp: &self.ocsp,
            params: &self.params,
            verifications: &self.verifications,
        };
        let text = serde_json::to_string(&snap).expect("the state serializes");
        Snapshot(serde_json::value::RawValue::from_string(text).expect("serde_json writes valid JSON"))
    }

    /// The state a checkpoint holds (its own line's seq and time are set by
    /// [`State::apply_checkpoint`]).
    pub fn from_snapshot(snapshot: &Snapshot) -> R<State> {
        // Every map is filled by inserting into it: collecting would build
        // each map type a second time (sorting, bulk building), for nothing.
        let f = Fields::of(snapshot.0.get().as_bytes())?;
        let mut s = State::new();
        s.runs = f.u64("runs")?;
        s.account = f.object("account", account)?;
        f.each_object("keys", &mut |k, e| {
            s.keys.insert(k, key(e)?);
            Ok(())
        })?;
        f.each_object("certificates", &mut |k, e| {
            s.certificates.insert(k, cert(e)?);
            Ok(())
        })?;
        f.each_object("files", &mut |k, e| {
            s.files.insert(k, file(e)?);
            Ok(())
        })?;
        f.each_object("authorizations", &mut |k, e| {
            s.authorizations.insert(k, authz(e)?);
            Ok(())
        })?;
        f.each_object("issued", &mut |k, e| {
            s.issued.insert(k, cert(e)?);
            Ok(())
        })?;
        f.each_object("renewal_info", &mut |k, e| {
            s.renewal_info.insert(k, ari(e)?);
            Ok(())
        })?;
        for d in f.strings("ari_unsupported")? {
            s.ari_unsupported.insert(d);
        }
        f.each_time("generated", &mut |k, t| {
            s.generated.insert(k, t);
        })?;
        for [z, n, t, v] in f.list::<[String; 4]>("dns_records")? {
            s.dns_records.insert((z, n, t, v));
        }
        f.each_object("renewal_failures", &mut |k, e| {
            s.renewal_failures.insert(k, failure(e)?);
            Ok(())
        })?;
        for p in f.list::<String>("challenge_files")? {
            s.challenge_files.insert(p);
        }
        // Checkpoints written before SCTs and OCSP responses were kept have none.
        f.each_object("scts", &mut |k, e| {
            s.scts.insert(k, sct(e)?);
            Ok(())
        })?;
        f.each_object("verifications", &mut |k, e| {
            s.verifications.insert(k, verified(e)?);
            Ok(())
        })?;
        f.each_object("ocsp", &mut |k, e| {
            s.ocsp.insert(k, ocsp(e)?);
            Ok(())
        })?;
        f.each_object("params", &mut |k, e| {
            s.params.insert(k, params(e)?);
            Ok(())
        })?;
        Ok(s)
    }

    /// A `checkpoint` line: a run that starts from it takes its state; a
    /// replay from the start holds it against what it replayed (a mismatch is
    /// kept in `checkpoint_problems` and the replayed state goes on).
    pub(super) fn apply_checkpoint(&mut self, seq: u64, ts: Time, snapshot: &Snapshot) {
        match State::from_snapshot(snapshot) {
            Ok(restored) if self.resuming => *self = restored,
            Ok(restored) => {
                if !self.same_facts(&restored) {
                    let detail = "the state it holds differs from the state replayed up to it".to_string();
                    self.checkpoint_problems.push((seq, detail));
                }
            }
            Err(e) => self.checkpoint_problems.push((seq, format!("its state does not read: {e}"))),
        }
        self.resuming = false;
        self.last_seq = seq;
        self.last_ts = Some(ts);
        self.last_checkpoint = Some(seq);
    }

    /// The checkpoint line `seq` holding this very state was written.
    pub(super) fn checkpointed(&mut self, seq: u64, ts: Time) {
        self.last_seq = seq;
        self.last_ts = Some(ts);
        self.last_checkpoint = Some(seq);
    }

    /// Whether two states hold the same facts: what a checkpoint of each
    /// would record is the same text (every field a checkpoint holds, each
    /// map in key order; compared as text so that no map type needs an
    /// equality of its own in the router binary).
    fn same_facts(&self, o: &State) -> bool {
        self.snapshot() == o.snapshot()
    }
}

fn account(f: &Fields<'_>) -> R<AccountState> {
    Ok(AccountState {
        directory_url: f.string("directory_url")?,
        account_url: f.string("account_url")?,
        thumbprint: f.string("thumbprint")?,
        registered_at: f.time("registered_at")?,
    })
}

fn key(f: &Fields<'_>) -> R<KeyState> {
    Ok(KeyState {
        key: f.string("key")?,
        key_type: f.token("key_type", KeyType::parse, "a key type")?,
        role: f.token("role", KeyRole::parse, "a key role")?,
        spki_sha256: f.string("spki_sha256")?,
        path: f.string("path")?,
        since: f.time("since")?,
        adopted: f.flag("adopted")?,
    })
}

fn cert(f: &Fields<'_>) -> R<CertState> {
    Ok(CertState {
        cert: f.string("cert")?,
        key: f.string("key")?,
        key_type: f.token("key_type", KeyType::parse, "a key type")?,
        serial: f.string("serial")?,
        common_name: f.opt_string("common_name")?,
        not_before: f.time("not_before")?,
        not_after: f.time("not_after")?,
        sans: f.strings("sans")?,
        issuer: f.string("issuer")?,
        spki_sha256: f.string("spki_sha256")?,
        order_url: f.opt_string("order_url")?,
        since: f.time("since")?,
        adopted: f.flag("adopted")?,
        profile: f.opt_string("profile")?,
        previous: f.object("previous", previous_cert)?,
    })
}

fn previous_cert(f: &Fields<'_>) -> R<PreviousCert> {
    Ok(PreviousCert { serial: f.string("serial")?, not_after: f.time("not_after")?, replaced: f.time("replaced")? })
}

fn file(f: &Fields<'_>) -> R<FileState> {
    Ok(FileState {
        sha256: f.string("sha256")?,
        mode: f.mode("mode")?,
        kind: f.string("kind")?,
        txn: f.string("txn")?,
        installed_copy: f.opt_string("installed_copy")?,
        uid: f.num("uid")?,
        gid: f.num("gid")?,
        seq: f.u64("seq")?,
    })
}

fn authz(f: &Fields<'_>) -> R<AuthzState> {
    Ok(AuthzState {
        challenge: f.string("challenge")?,
        url: f.string("url")?,
        expires: f.opt_time("expires")?,
        obtained: f.opt_time("obtained")?,
    })
}

fn failure(f: &Fields<'_>) -> R<FailureState> {
    Ok(FailureState { at: f.time("at")?, error: f.string("error")? })
}

fn verified(f: &Fields<'_>) -> R<VerifiedState> {
    Ok(VerifiedState {
        serial: f.string("serial")?,
        checked: f.num("checked")?,
        failures: f.strings("failures")?,
        since: f.time("since")?,
    })
}

fn sct(f: &Fields<'_>) -> R<SctState> {
    Ok(SctState {
        serial: f.string("serial")?,
        log_id: f.string("log_id")?,
        timestamp: f.time("timestamp")?,
        since: f.time("since")?,
    })
}

fn ocsp(f: &Fields<'_>) -> R<OcspState> {
    Ok(OcspState {
        serial: f.string("serial")?,
        status: f.string("status")?,
        this_update: f.time("this_update")?,
        next_update: f.opt_time("next_update")?,
        produced_at: f.time("produced_at")?,
        since: f.time("since")?,
    })
}

fn params(f: &Fields<'_>) -> R<ParamsState> {
    Ok(ParamsState {
        dh_bits: f.opt_num("dh_bits")?,
        ec_curves: f.strings("ec_curves")?,
        key_spkis: f.strings("key_spkis")?,
        since: f.time("since")?,
    })
}

fn ari(f: &Fields<'_>) -> R<AriState> {
    Ok(AriState {
        serial: f.string("serial")?,
        cert_id: f.string("cert_id")?,
        window_start: f.time("window_start")?,
        window_end: f.time("window_end")?,
        renew_at: f.time("renew_at")?,
        next_check: f.time("next_check")?,
    })
}

#[cfg(test)]
mod tests;
