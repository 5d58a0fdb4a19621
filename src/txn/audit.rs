//! `--audit` and `--recover`: the files on disk held against what the journal
//! says was installed, and installed files put back from their copies.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::fs::{archive_file, dir_of, file_name_of, make_dir, on_disk, read, replace_file, sync_dirs};
use super::{ioe, TxnError};
use crate::journal::{short, Event, FileState, Journal, Mode};
use crate::safe_fs::{dir_mode_for, Trust};
use crate::time::archive_stamp;
use crate::types::sha256_hex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileProblemKind {
    Missing,
    /// Contents differ; the current sha256.
    Altered {
        sha256: String,
    },
    /// Contents fine, mode differs; the current mode.
    ModeChanged {
        mode: u32,
    },
    /// Contents and mode fine, owner differs.
    OwnerChanged {
        uid: u32,
        gid: u32,
    },
}

impl FileProblemKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileProblemKind::Missing => "missing",
            FileProblemKind::Altered { .. } => "altered",
            FileProblemKind::ModeChanged { .. } => "mode",
            FileProblemKind::OwnerChanged { .. } => "owner",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub kind: FileProblemKind,
    pub installed: FileState,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        let i = &self.installed;
        match &self.kind {
            FileProblemKind::Missing => write!(f, "{p} is missing (installed by {}, journal seq {})", i.txn, i.seq),
            FileProblemKind::Altered { sha256 } => {
                write!(f, "{p} was altered: sha256 is {}, installed {}", short(sha256), short(&i.sha256))
            }
            FileProblemKind::ModeChanged { mode } => write!(f, "{p} has mode {}, installed {}", Mode(*mode), i.mode),
            FileProblemKind::OwnerChanged { uid, gid } => {
                write!(f, "{p} is owned by {uid}:{gid}, installed {}:{}", i.uid, i.gid)
            }
        }
    }
}

/// Compares the files on disk with what the journal says was installed.
pub fn audit_files(installed: &BTreeMap<String, FileState>) -> Vec<FileProblem> {
    let mut out = Vec::new();
    for (path, i) in installed {
        let path = PathBuf::from(path);
        let kind = match on_disk(&path) {
            Ok(None) => Some(FileProblemKind::Missing),
            Ok(Some(s)) if s.sha256 != i.sha256 => Some(FileProblemKind::Altered { sha256: s.sha256 }),
            Ok(Some(s)) if s.mode != i.mode.0 => Some(FileProblemKind::ModeChanged { mode: s.mode }),
            Ok(Some(s)) if (s.uid, s.gid) != (i.uid, i.gid) => {
                Some(FileProblemKind::OwnerChanged { uid: s.uid, gid: s.gid })
            }
            Ok(Some(_)) => None,
            // Unreadable (e.g. replaced by a directory): treat as altered.
            Err(e) => Some(FileProblemKind::Altered { sha256: format!("unreadable: {e}") }),
        };
        if let Some(kind) = kind {
            out.push(FileProblem { path, kind, installed: i.clone() });
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    Done { path: PathBuf, sha256: String, from: PathBuf, archived_to: Option<PathBuf> },
    Failed { path: PathBuf, reason: String },
}

/// For `--recover`: puts the installed copy back in place of every problem file
/// (temp + fsync + rename, mode and owner from the journal), verifies its hash and
/// journals `file_restored`. An altered file is first preserved in
/// `<archive>/<key>/<stamp>-altered/`. Per-file failures are reported in the result;
/// only journal errors abort.
pub fn restore(journal: &mut Journal, problems: &[FileProblem]) -> Result<Vec<Restored>, TxnError> {
    let mut out = Vec::new();
    for p in problems {
        match restore_one(p, &archive_stamp(journal.clock().now().secs())) {
            Ok((sha256, from, archived_to)) => {
                journal.append(Event::FileRestored {
                    path: p.path.to_string_lossy().into_owned(),
                    sha256: sha256.clone(),
                    from: from.to_string_lossy().into_owned(),
                    problem: p.kind.as_str().to_string(),
                    archived_to: archived_to.as_ref().map(|a| a.to_string_lossy().into_owned()),
                })?;
                out.push(Restored::Done { path: p.path.clone(), sha256, from, archived_to });
            }
            Err(e) => out.push(Restored::Failed { path: p.path.clone(), reason: e.to_string() }),
        }
    }
    Ok(out)
}

fn restore_one(p: &FileProblem, stamp: &str) -> Result<(String, PathBuf, Option<PathBuf>), TxnError> {
    let i = &p.installed;
    let from = PathBuf::from(i.installed_copy.clone().unwrap_or_default());
    let data = read(&from)?.ok_or_else(|| ioe(&from, "read installed copy")(io::ErrorKind::NotFound.into()))?;
    if sha256_hex(&data) != i.sha256 {
        let source = io::Error::other("its contents do not match the journal");
        return Err(TxnError::Io { path: from, op: "use installed copy", source });
    }
    // Preserve an altered file before replacing it.
    let mut archived_to = None;
    if matches!(p.kind, FileProblemKind::Altered { .. }) && on_disk(&p.path)?.is_some() {
        // installed_copy = <archive root>/<key>/<stamp>/installed/<name>
        if let Some(key_dir) = from.parent().and_then(Path::parent).and_then(Path::parent) {
            let dir = key_dir.join(format!("{stamp}-altered"));
            make_dir(&dir, Trust::Private, 0o700, None)?;
            let (dest, _) = archive_file(&p.path, &dir, &file_name_of(&p.path)?)?;
            sync_dirs([dir.as_path()])?;
            archived_to = Some(dest);
        }
    }
    let (dir, mode) = (dir_of(&p.path), i.mode.0);
    let trust = Trust::for_mode(mode);
    make_dir(dir, trust, dir_mode_for(mode), Some(i.gid))?;
    replace_file(&p.path, trust, &data, mode, Some((i.uid, i.gid)))?;
    sync_dirs([dir])?;
    match on_disk(&p.path)? {
        Some(s) if s.sha256 == i.sha256 && s.mode == i.mode.0 => Ok((s.sha256, from, archived_to)),
        _ => {
            let source = io::Error::other("contents or mode differ after restore");
            Err(TxnError::Io { path: p.path.clone(), op: "verify restored", source })
        }
    }
}
