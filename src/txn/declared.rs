//! A transaction as its `txn_begun` declares it, and its last step (the
//! installed copies and the lines that commit it), which a commit and a
//! roll-forward after a crash share.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::fs::{make_dir, on_disk, read, replace_file, sync_dirs, unique_names};
use super::{ioe, Committed, Step, TxnError};
use crate::journal::{Event, FileAction, FileInstalled, Journal, Mode, OpenTxn, TxnBegun, TxnFile};
use crate::safe_fs::Trust;
use crate::types::sha256_hex;

/// One file of a transaction, as the protocol works with it.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub path: PathBuf,
    pub kind: String,
    /// Some for a write, None for a removal.
    pub sha256: Option<String>,
    pub mode: Option<u32>,
    pub old_sha256: Option<String>,
    pub old_mode: Option<u32>,
    pub temp: Option<PathBuf>,
    /// Name inside the archive dir and its installed/ subdir.
    pub name: String,
}

impl Entry {
    pub fn is_write(&self) -> bool {
        self.sha256.is_some()
    }

    /// How far the file's directory must be trusted: by its mode (a removal
    /// writes nothing).
    pub fn trust(&self) -> Trust {
        self.mode.map_or(Trust::Shared, Trust::for_mode)
    }

    pub fn journaled(&self) -> TxnFile {
        TxnFile {
            path: self.path.to_string_lossy().into_owned(),
            kind: self.kind.clone(),
            action: if self.is_write() { FileAction::Write } else { FileAction::Remove },
            sha256: self.sha256.clone(),
            mode: self.mode.map(Mode),
            old_sha256: self.old_sha256.clone(),
            old_mode: self.old_mode.map(Mode),
            temp: self.temp.as_ref().map(|t| t.to_string_lossy().into_owned()),
        }
    }
}

/// A transaction as `txn_begun` declares it.
#[derive(Clone, Debug)]
pub(super) struct Txn {
    pub id: String,
    pub key: String,
    pub archive: PathBuf,
    pub files: Vec<Entry>,
}

impl Txn {
    pub fn from_begun(b: &TxnBegun) -> Result<Txn, TxnError> {
        let names = unique_names(b.files.iter().map(|f| Path::new(&f.path)))?;
        let mut files = Vec::new();
        for (f, name) in b.files.iter().zip(names) {
            let write = f.action == FileAction::Write;
            if write && (f.sha256.is_none() || f.mode.is_none()) {
                let detail = format!("txn_begun lists {} as written, without its sha256 and mode", f.path);
                return Err(TxnError::Unrecoverable { txn: b.txn.clone(), detail });
            }
            files.push(Entry {
                path: PathBuf::from(&f.path),
                kind: f.kind.clone(),
                sha256: f.sha256.clone().filter(|_| write),
                mode: f.mode.map(|m| m.0).filter(|_| write),
                old_sha256: f.old_sha256.clone(),
                old_mode: f.old_mode.map(|m| m.0),
                temp: f.temp.as_ref().map(PathBuf::from),
                name,
            });
        }
        Ok(Txn { id: b.txn.clone(), key: b.key.clone(), archive: PathBuf::from(&b.archive), files })
    }

    pub fn installed_dir(&self) -> PathBuf {
        self.archive.join("installed")
    }
}

/// Step 6 (shared by commit and roll-forward): installed copies, `file_installed` /
/// `file_removed` for files not yet journaled (`open`: what an interrupted
/// transaction journaled already), `txn_committed`.
pub(super) fn finish(
    journal: &mut Journal,
    txn: &Txn,
    open: Option<&OpenTxn>,
    crash: &dyn Fn(Step) -> Result<(), TxnError>,
    recovered: bool,
    result: &mut Committed,
) -> Result<(), TxnError> {
    let done: BTreeSet<String> = open.map(|o| o.done().into_iter().map(String::from).collect()).unwrap_or_default();
    let mut archived: BTreeMap<String, String> = open.map(|o| o.archived.iter().cloned().collect()).unwrap_or_default();
    for (p, a) in &result.archived {
        archived.insert(p.to_string_lossy().into_owned(), a.to_string_lossy().into_owned());
    }
    let copies = installed_copies(txn, crash)?;
    let mut copies = copies.into_iter();
    for f in &txn.files {
        let path_s = f.path.to_string_lossy().into_owned();
        if f.is_write() {
            let copy = copies.next().unwrap_or_default();
            if !done.contains(&path_s) {
                let md = on_disk(&f.path)?.ok_or_else(|| ioe(&f.path, "inspect")(io::ErrorKind::NotFound.into()))?;
                journal.append(Event::FileInstalled(FileInstalled {
                    txn: txn.id.clone(),
                    path: path_s,
                    kind: f.kind.clone(),
                    sha256: f.sha256.clone().unwrap_or_default(),
                    mode: Mode(f.mode.unwrap_or(0)),
                    uid: md.uid,
                    gid: md.gid,
                    installed_copy: copy.to_string_lossy().into_owned(),
                }))?;
                crash(Step::InstalledJournaled)?;
            }
            result.installed.push(f.path.clone());
        } else {
            if !done.contains(&path_s) {
                let archived_to = archived.get(&path_s).cloned();
                journal.append(Event::FileRemoved { txn: txn.id.clone(), path: path_s, archived_to })?;
                crash(Step::InstalledJournaled)?;
            }
            result.removed.push(f.path.clone());
        }
    }
    journal.append(Event::TxnCommitted { txn: txn.id.clone(), recovered })?;
    crash(Step::Committed)?;
    Ok(())
}

/// Writes (or verifies) `<archive>/installed/<name>` for every written file;
/// returns their paths in the order of the written files.
fn installed_copies(txn: &Txn, crash: &dyn Fn(Step) -> Result<(), TxnError>) -> Result<Vec<PathBuf>, TxnError> {
    let installed_dir = txn.installed_dir();
    let mut copies = Vec::new();
    if txn.files.iter().any(Entry::is_write) {
        make_dir(&installed_dir, Trust::Private, 0o700, None)?;
    }
    for f in txn.files.iter().filter(|f| f.is_write()) {
        let (Some(sha), Some(mode)) = (&f.sha256, f.mode) else { continue };
        let data = read(&f.path)?.unwrap_or_default();
        if &sha256_hex(&data) != sha {
            let detail = format!("{} does not hold the content just installed", f.path.display());
            return Err(TxnError::Unrecoverable { txn: txn.id.clone(), detail });
        }
        let copy = installed_dir.join(&f.name);
        let current = on_disk(&copy)?;
        if current.as_ref().map(|c| (&c.sha256, c.mode)) != Some((sha, mode)) {
            replace_file(&copy, Trust::Private, &data, mode, None)?;
            crash(Step::InstalledCopy)?;
        }
        copies.push(copy);
    }
    if !copies.is_empty() {
        sync_dirs([installed_dir.as_path()])?;
    }
    Ok(copies)
}
