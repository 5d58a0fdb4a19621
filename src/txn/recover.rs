//! Recovery of interrupted transactions: every transaction the journal's replay
//! left open is brought to all-new (roll forward, when every new file is in
//! place or in a complete temp file) or all-old (roll back), and which is
//! journaled.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::declared::{finish, Entry, Txn};
use super::fs::{
    archive_file, dir_of, exists, file_sha, make_dir, on_disk, read, remove, rename_into_place, replace_file, sync_dirs,
};
use super::{ioe, Committed, TxnError};
use crate::journal::{Event, Journal, OpenTxn};
use crate::safe_fs::Trust;
use crate::types::sha256_hex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// Finished: every file is new; `txn_committed` with `"recovered":true` journaled.
    RolledForward,
    /// Undone: every file is old; `txn_rolled_back` journaled.
    RolledBack { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub txn: String,
    pub key: String,
    pub outcome: RecoveryOutcome,
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            RecoveryOutcome::RolledForward => {
                write!(f, "interrupted file transaction {} (key {}) completed", self.txn, self.key)
            }
            RecoveryOutcome::RolledBack { reason } => {
                write!(f, "interrupted file transaction {} (key {}) rolled back: {}", self.txn, self.key, reason)
            }
        }
    }
}

/// Brings every transaction the journal's state holds open to all-new or
/// all-old, journaling which.
pub fn recover_interrupted(journal: &mut Journal) -> Result<Vec<Recovery>, TxnError> {
    let open: Vec<OpenTxn> = journal.state().open.values().cloned().collect();
    let mut out = Vec::new();
    for o in open {
        let txn = Txn::from_begun(&o.begun)?;
        let outcome = match can_roll_forward(&txn)? {
            Ok(()) => {
                roll_forward(journal, &txn, &o)?;
                RecoveryOutcome::RolledForward
            }
            Err(reason) => {
                roll_back(journal, &txn, Some(&o), &[], &reason, true)?;
                RecoveryOutcome::RolledBack { reason }
            }
        };
        out.push(Recovery { txn: txn.id.clone(), key: txn.key.clone(), outcome });
    }
    Ok(out)
}

/// Every new file is complete, in its temp file or already in place.
fn can_roll_forward(txn: &Txn) -> Result<Result<(), String>, TxnError> {
    for f in txn.files.iter().filter(|f| f.is_write()) {
        let (Some(sha), Some(mode), Some(temp)) = (&f.sha256, f.mode, &f.temp) else { continue };
        match file_sha(temp)? {
            Some(t) if &t == sha => {}
            Some(_) => return Ok(Err(format!("temporary file for {} is incomplete", f.path.display()))),
            None => {
                let st = on_disk(&f.path)?;
                if !st.as_ref().is_some_and(|s| &s.sha256 == sha && s.mode == mode) {
                    return Ok(Err(format!("new {} was not written yet", f.path.display())));
                }
            }
        }
    }
    Ok(Ok(()))
}

fn roll_forward(journal: &mut Journal, txn: &Txn, open: &OpenTxn) -> Result<(), TxnError> {
    let mut archived: BTreeSet<String> = open.archived.iter().map(|(p, _)| p.clone()).collect();
    let mut result = Committed::default();
    make_dir(&txn.archive, Trust::Private, 0o700, None)?;
    // Archive whatever is still in place and about to be replaced or removed.
    let mut newly = Vec::new();
    for f in &txn.files {
        let path_s = f.path.to_string_lossy().into_owned();
        let pending = match &f.temp {
            Some(temp) => exists(temp)?,
            None => exists(&f.path)?,
        };
        if pending && exists(&f.path)? && !archived.contains(&path_s) {
            let (dest, sha) = archive_file(&f.path, &txn.archive, &f.name)?;
            newly.push((path_s.clone(), dest, sha));
            archived.insert(path_s);
        }
    }
    if !newly.is_empty() {
        sync_dirs([txn.archive.as_path()])?;
    }
    for (path, dest, sha256) in newly {
        let archived_to = dest.to_string_lossy().into_owned();
        journal.append(Event::FileArchived { txn: txn.id.clone(), path: path.clone(), archived_to, sha256 })?;
        result.archived.push((PathBuf::from(path), dest));
    }
    for f in &txn.files {
        match &f.temp {
            Some(temp) => {
                if exists(temp)? {
                    rename_into_place(temp, &f.path, f.trust())?;
                }
            }
            None => {
                remove(&f.path)?;
            }
        }
    }
    sync_dirs(txn.files.iter().map(|f| dir_of(&f.path)).chain([txn.archive.as_path()]))?;
    finish(journal, txn, Some(open), &|_| Ok(()), true, &mut result)
}

/// Undoes a transaction: restores replaced targets from the archive, removes targets
/// that did not exist before, deletes temp files, journals `txn_rolled_back`.
/// `open` is what the journal holds of an interrupted transaction; `known` the
/// files archived by a commit that failed in this process.
pub(super) fn roll_back(
    journal: &mut Journal,
    txn: &Txn,
    open: Option<&OpenTxn>,
    known: &[(PathBuf, PathBuf)],
    reason: &str,
    recovered: bool,
) -> Result<(), TxnError> {
    let mut archived: BTreeMap<String, PathBuf> =
        open.map(|o| o.archived.iter().map(|(p, a)| (p.clone(), PathBuf::from(a))).collect()).unwrap_or_default();
    for (p, a) in known {
        archived.insert(p.to_string_lossy().into_owned(), a.clone());
    }
    // During a failed commit the file_archived events may be missing: fall back to
    // the deterministic archive names (verified by hash below).
    for f in &txn.files {
        let p = f.path.to_string_lossy().into_owned();
        if !archived.contains_key(&p) && f.old_sha256.is_some() {
            let cand = txn.archive.join(&f.name);
            if file_sha(&cand)? == f.old_sha256 {
                archived.insert(p, cand);
            }
        }
    }
    let mut dirs = Vec::new();
    for f in &txn.files {
        if let Some(dir) = put_back(txn, f, &archived)? {
            dirs.push(dir);
        }
        if let Some(temp) = &f.temp {
            if remove(temp)? {
                dirs.push(dir_of(temp).to_path_buf());
            }
        }
    }
    sync_dirs(dirs.iter().map(PathBuf::as_path))?;
    journal.append(Event::TxnRolledBack { txn: txn.id.clone(), reason: reason.to_string(), recovered })?;
    Ok(())
}

/// Returns one file to what it was before the transaction; the directory
/// touched, if any.
fn put_back(txn: &Txn, f: &Entry, archived: &BTreeMap<String, PathBuf>) -> Result<Option<PathBuf>, TxnError> {
    let cur = on_disk(&f.path)?;
    let Some(old_sha) = &f.old_sha256 else {
        // The file did not exist before: remove it if it is ours.
        if let (Some(c), Some(sha)) = (&cur, &f.sha256) {
            if &c.sha256 == sha {
                remove(&f.path)?;
                return Ok(Some(dir_of(&f.path).to_path_buf()));
            }
        }
        return Ok(None);
    };
    let is_old = cur.as_ref().is_some_and(|c| &c.sha256 == old_sha && f.old_mode.is_none_or(|m| m == c.mode));
    if is_old {
        return Ok(None);
    }
    // Replaced or removed by this transaction: put the old file back.
    let Some(src) = archived.get(f.path.to_string_lossy().as_ref()) else {
        if cur.is_none() || f.temp.is_none() {
            let detail = format!("{} was changed but its archived copy is unknown", f.path.display());
            return Err(TxnError::Unrecoverable { txn: txn.id.clone(), detail });
        }
        // A target that differs but was never archived was not replaced by this
        // transaction, which archives before renaming: leave it.
        return Ok(None);
    };
    let data = read(src)?.ok_or_else(|| ioe(src, "read")(io::ErrorKind::NotFound.into()))?;
    if &sha256_hex(&data) != old_sha {
        let detail = format!("archived copy {} does not match the old {}", src.display(), f.path.display());
        return Err(TxnError::Unrecoverable { txn: txn.id.clone(), detail });
    }
    let st = on_disk(src)?.ok_or_else(|| ioe(src, "inspect")(io::Error::from(io::ErrorKind::NotFound)))?;
    let mode = f.old_mode.unwrap_or(st.mode);
    replace_file(&f.path, Trust::for_mode(mode), &data, mode, Some((st.uid, st.gid)))?;
    Ok(Some(dir_of(&f.path).to_path_buf()))
}
