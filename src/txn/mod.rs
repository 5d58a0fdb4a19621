//! File transactions: all output files of a run for one private key are installed as
//! ONE transaction (all or nothing), journaled step by step, and recoverable after a
//! crash. Replaced files are preserved in `<archive>/<key name>/<YYYY_MM_DD_HHMMSS>/`,
//! and a copy of every installed file is kept in `<that dir>/installed/` so that
//! `--recover` can restore files later deleted or altered by hand.
//!
//! Commit protocol (each step followed by a fault check point, see [`Step`]):
//! 1. skip ops whose target already has these contents, mode (and owner); nothing left
//!    and no effects = no transaction and nothing journaled;
//! 2. claim the archive dir (mkdir), journal `txn_begun` with every file and the
//!    transaction's effects (keys and certificates it installs);
//! 3. create each temp file next to its target with O_EXCL and the final mode, fchown,
//!    write, fsync;
//! 4. hard-link (or copy) every file about to be replaced or removed into the archive
//!    dir, fsync it, journal `file_archived` for each;
//! 5. rename temps over targets, unlink removed targets, fsync touched directories;
//! 6. write the installed copies, journal `file_installed` / `file_removed`, then
//!    `txn_committed`, which makes the effects true (see `journal::State::apply`).
//!
//! Which transactions are open, committed or rolled back is decided by the
//! journal's replay alone; [`recover_interrupted`] finishes or undoes the open
//! ones from what the replay kept of them.
//!
//! Symlinks: targets are read through symlinks, but replaced by renaming, so a target
//! that is itself a symlink is replaced by a regular file (the link is archived).

mod audit;
mod commit;
mod declared;
mod fault;
mod fs;
mod recover;

pub use audit::{audit_files, restore, FileProblemKind, Restored};
pub use commit::commit_with_faults;
pub use fault::{env_faults_exit, Fault, Step};
pub use recover::recover_interrupted;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::journal::{Effect, JournalError};

/// What to do with one output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Write { contents: Vec<u8>, mode: u32 },
    Remove,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOp {
    pub path: PathBuf,
    /// e.g. "private_key", "certificate", "chain".
    pub kind: String,
    pub action: Action,
}

/// All output files of one private key, installed as one transaction.
#[derive(Clone, Debug)]
pub struct Plan {
    pub key_name: String,
    pub ops: Vec<FileOp>,
    /// (uid, gid) for written files; None leaves them owned by this process.
    pub owner: Option<(u32, u32)>,
    pub archive_root: PathBuf,
    /// What the transaction makes true once committed (journaled in `txn_begun`).
    pub effects: Vec<Effect>,
}

#[derive(Debug)]
pub enum TxnError {
    Journal(JournalError),
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// The plan is not acceptable (duplicate or relative paths, bad key name).
    Invalid(String),
    /// An injected fault fired: the commit stopped as if the process had died.
    Crashed(Fault),
    /// An interrupted transaction cannot be brought to all-old or all-new.
    Unrecoverable {
        txn: String,
        detail: String,
    },
    /// A directory or link on a file's path is not safe to use (see `safe_fs`).
    Unsafe {
        path: PathBuf,
        reason: String,
    },
}

impl From<crate::safe_fs::FsError> for TxnError {
    fn from(e: crate::safe_fs::FsError) -> Self {
        match e {
            crate::safe_fs::FsError::Io { path, op, source } => TxnError::Io { path, op, source },
            crate::safe_fs::FsError::Unsafe { path, reason } => TxnError::Unsafe { path, reason },
        }
    }
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnError::Journal(e) => e.fmt(f),
            TxnError::Io { path, op, source } => write!(f, "cannot {} {}: {}", op, path.display(), source),
            TxnError::Invalid(s) => write!(f, "invalid file transaction: {s}"),
            TxnError::Crashed(fault) => fault.fmt(f),
            TxnError::Unrecoverable { txn, detail } => {
                write!(f, "interrupted file transaction {txn} cannot be recovered: {detail}")
            }
            TxnError::Unsafe { path, reason } => write!(f, "refusing to use {}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for TxnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TxnError::Journal(e) => Some(e),
            TxnError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<JournalError> for TxnError {
    fn from(e: JournalError) -> Self {
        TxnError::Journal(e)
    }
}

/// What the regular file at `path` is now: (sha256, mode, uid, gid).
/// A copy of the file at `path` as it is now, for `--recover`, in a new
/// `<archive_root>/<key>/<stamp>/installed/` (a file changed outside
/// acmebot and taken over). A real copy, never a link: the original file may
/// later be rewritten in place. Returns the copy's path.
pub fn keep_installed_copy(
    path: &Path,
    archive_root: &Path,
    key: &str,
    now: crate::time::Time,
) -> Result<PathBuf, TxnError> {
    let data = fs::read(path)?.ok_or_else(|| ioe(path, "read")(io::ErrorKind::NotFound.into()))?;
    let st = fs::on_disk(path)?.ok_or_else(|| ioe(path, "stat")(io::ErrorKind::NotFound.into()))?;
    let dir = fs::claim_archive_dir(archive_root, key, now)?.join("installed");
    let installed = fs::make_dir(&dir, crate::safe_fs::Trust::Private, 0o700, None)?;
    let name = fs::file_name_of(path)?;
    installed
        .replace(std::ffi::OsStr::new(&name), &data, st.mode, Some((st.uid, st.gid)))
        .map_err(ioe(&dir, "write"))?;
    fs::sync_dirs([dir.as_path()])?;
    Ok(dir.join(name))
}

pub fn file_facts(path: &Path) -> Result<Option<(String, u32, u32, u32)>, TxnError> {
    Ok(fs::on_disk(path)?.map(|d| (d.sha256, d.mode, d.uid, d.gid)))
}

pub(crate) fn ioe<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> TxnError + 'a {
    move |source| TxnError::Io { path: path.to_path_buf(), op, source }
}

/// What a commit did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// None when nothing had to change (and nothing was journaled).
    pub txn: Option<String>,
    pub archive_dir: Option<PathBuf>,
    pub installed: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// (target, archived copy)
    pub archived: Vec<(PathBuf, PathBuf)>,
    /// Targets that already were as planned.
    pub unchanged: Vec<PathBuf>,
}

impl Committed {
    #[cfg(test)]
    pub fn changed(&self) -> bool {
        self.txn.is_some()
    }
}

#[cfg(test)]
mod tests;

/// Deletes the oldest archived generations of `key` (`<archive>/<key>/<stamp>`
/// directories) beyond the newest `keep`, never one holding an installed
/// copy of a file that is installed now or a transaction's files in use
/// (`in_use`). Each deletion is journaled before the directory goes. Returns
/// the directories deleted.
pub fn prune_archive(
    journal: &mut crate::journal::Journal,
    archive_root: &Path,
    key: &str,
    keep: u32,
    in_use: &dyn Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, TxnError> {
    let key_dir = archive_root.join(key);
    // The archive is private (safe_fs): nobody else can change it underneath.
    crate::safe_fs::Dir::open(&key_dir, crate::safe_fs::Trust::Private)?;
    let mut stamps: Vec<PathBuf> = match std::fs::read_dir(&key_dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ioe(&key_dir, "list")(e)),
    };
    // In the order they were made (`<stamp>-<n>` after `<stamp>`, `-altered`
    // copies with their generation).
    stamps.sort_by_key(|d| {
        let name = d.file_name().unwrap_or_default().to_string_lossy().into_owned();
        (fs::generation_order(&name), name)
    });
    let excess = stamps.len().saturating_sub(keep as usize);
    let mut deleted = Vec::new();
    for dir in stamps.into_iter().take(excess).filter(|d| !in_use(d)) {
        let files = count_files(&dir);
        let event = crate::journal::Event::ArchivePruned {
            key: key.to_string(),
            dir: dir.to_string_lossy().into_owned(),
            files,
        };
        journal.append(event)?;
        std::fs::remove_dir_all(&dir).map_err(ioe(&dir, "delete"))?;
        deleted.push(dir);
    }
    Ok(deleted)
}

fn count_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}
