//! File-system steps of a transaction: inspecting targets, creating files with
//! their final mode from the first byte, archiving by hard link, fsyncing
//! directories. Paths in, but every step goes through `safe_fs`: directories
//! opened component by component, files created O_EXCL|O_NOFOLLOW under
//! random names, links replaced and never written through.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{ioe, TxnError};
use crate::safe_fs::{self, Dir, Trust};
use crate::time::{archive_stamp, Time};
use crate::types::sha256_hex;

pub(super) fn file_name_of(path: &Path) -> Result<String, TxnError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| TxnError::Invalid(format!("{} has no file name", path.display())))
}

pub(super) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What a file on disk is now. None if it does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct OnDisk {
    pub sha256: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
}

/// The directory of `path`, opened with `trust`, and the file name.
pub(super) fn parent(path: &Path, trust: Trust) -> Result<(Dir, &OsStr), TxnError> {
    let (dir, name) = safe_fs::split(path)?;
    Ok((Dir::open(dir, trust)?, name))
}

/// As [`parent`], `None` when the directory does not exist.
fn parent_if_any(path: &Path) -> Result<Option<(Dir, &OsStr)>, TxnError> {
    match parent(path, Trust::Shared) {
        Ok(found) => Ok(Some(found)),
        Err(TxnError::Io { source, .. })
            if matches!(source.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// What the regular file at `path` holds (read through a final link); None
/// when there is none.
pub(super) fn on_disk(path: &Path) -> Result<Option<OnDisk>, TxnError> {
    let Some((dir, name)) = parent_if_any(path)? else { return Ok(None) };
    let Some((mut file, st)) = dir.open_read(name).map_err(ioe(path, "read"))? else { return Ok(None) };
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(ioe(path, "read"))?;
    Ok(Some(OnDisk { sha256: sha256_hex(&data), mode: st.perm(), uid: st.uid, gid: st.gid, dev: st.dev, ino: st.ino }))
}

/// The contents of the regular file at `path`, if there is one.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, TxnError> {
    let Some((dir, name)) = parent_if_any(path)? else { return Ok(None) };
    dir.read(name).map_err(ioe(path, "read"))
}

pub(super) fn file_sha(path: &Path) -> Result<Option<String>, TxnError> {
    Ok(read(path)?.map(|d| sha256_hex(&d)))
}

/// Whether anything (a file, a link) is at `path`.
pub(super) fn exists(path: &Path) -> Result<bool, TxnError> {
    let Some((dir, name)) = parent_if_any(path)? else { return Ok(false) };
    Ok(dir.lstat(name).map_err(ioe(path, "inspect"))?.is_some())
}

/// Opens the directory `dir`, making it (and what is missing above it) with
/// `mode` and group `group` first.
pub(super) fn make_dir(dir: &Path, trust: Trust, mode: u32, group: Option<u32>) -> Result<Dir, TxnError> {
    Ok(Dir::create(dir, trust, mode, group)?)
}

/// Creates the new file `path` (O_EXCL|O_NOFOLLOW in its directory, opened
/// with `trust`) with exactly `mode` and `owner` before a byte is written.
pub(super) fn create_new(path: &Path, trust: Trust, mode: u32, owner: Option<(u32, u32)>) -> Result<File, TxnError> {
    let (dir, name) = parent(path, trust)?;
    dir.create_new(name, mode, owner).map_err(ioe(path, "create"))
}

/// Renames `temp` over `target` (same directory): a link at `target` is
/// replaced, never followed.
pub(super) fn rename_into_place(temp: &Path, target: &Path, trust: Trust) -> Result<(), TxnError> {
    let (dir, name) = parent(target, trust)?;
    let (_, temp_name) = safe_fs::split(temp)?;
    dir.rename(temp_name, &dir, name).map_err(ioe(target, "rename into place"))
}

/// Removes the file (or link) at `path`; false when there was none.
pub(super) fn remove(path: &Path) -> Result<bool, TxnError> {
    let Some((dir, name)) = parent_if_any(path)? else { return Ok(false) };
    dir.remove(name).map_err(ioe(path, "remove"))
}

/// Puts `contents` at `path` through a new temporary file of random name
/// (O_EXCL, fsynced) and a rename; the caller fsyncs the directory.
pub(super) fn replace_file(
    path: &Path,
    trust: Trust,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), TxnError> {
    let (dir, name) = parent(path, trust)?;
    dir.replace(name, contents, mode, owner).map_err(ioe(path, "write"))
}

/// Preserves `src` in the archive directory `dir` under `name` (or `name.N`
/// if taken by another file): hard link (a link is linked as itself), or copy
/// (mode and owner kept) when linking fails. An entry that already holds the
/// same inode or contents is reused (idempotent for recovery). The caller
/// fsyncs `dir`.
pub(super) fn archive_file(src: &Path, dir: &Path, name: &str) -> Result<(PathBuf, String), TxnError> {
    let st = on_disk(src)?.ok_or_else(|| TxnError::Io {
        path: src.to_path_buf(),
        op: "archive",
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    let (src_dir, src_name) = parent(src, Trust::Shared)?;
    let archive = Dir::open(dir, Trust::Private)?;
    for n in 0..1000 {
        let entry = if n == 0 { name.to_string() } else { format!("{name}.{n}") };
        let dest = dir.join(&entry);
        if let Some(existing) = on_disk(&dest)? {
            if (existing.dev, existing.ino) == (st.dev, st.ino) || existing.sha256 == st.sha256 {
                return Ok((dest, st.sha256));
            }
            continue;
        }
        match src_dir.link(src_name, &archive, OsStr::new(&entry)) {
            Ok(()) => return Ok((dest, st.sha256)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                let data = read(src)?.ok_or_else(|| ioe(src, "read")(io::Error::from(io::ErrorKind::NotFound)))?;
                archive
                    .replace(OsStr::new(&entry), &data, st.mode, Some((st.uid, st.gid)))
                    .map_err(ioe(&dest, "write"))?;
                return Ok((dest, sha256_hex(&data)));
            }
        }
    }
    let busy = io::Error::from(io::ErrorKind::AlreadyExists);
    Err(TxnError::Io { path: dir.to_path_buf(), op: "find a free archive name in", source: busy })
}

/// Unique file names for the archive / installed copies of a transaction's files.
pub(super) fn unique_names<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<Vec<String>, TxnError> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    used.insert("installed".into());
    let mut out = Vec::new();
    for p in paths {
        let base = file_name_of(p)?;
        let mut name = base.clone();
        let mut n = 1;
        while used.contains(&name) {
            name = format!("{base}.{n}");
            n += 1;
        }
        used.insert(name.clone());
        out.push(name);
    }
    Ok(out)
}

/// Claims `<archive_root>/<key>/<stamp>` (or `<stamp>-N`) with mkdir; every
/// directory of the archive is private (0700, trusted, see `safe_fs`).
pub(super) fn claim_archive_dir(archive_root: &Path, key: &str, now: Time) -> Result<PathBuf, TxnError> {
    Dir::create(archive_root, Trust::Private, 0o700, None)?;
    let key_path = archive_root.join(key);
    let key_dir = Dir::create(&key_path, Trust::Private, 0o700, None)?;
    let stamp = archive_stamp(now.secs());
    // Names are never reused (a pruned `<stamp>-1` stays gone): after the
    // highest taken, so names sort in the order they were made.
    let taken = std::fs::read_dir(&key_path)
        .map(|entries| entries.flatten().filter_map(|e| generation_order(&e.file_name().to_string_lossy())).collect())
        .unwrap_or_else(|_| Vec::new());
    let first = taken.iter().filter(|(s, _)| *s == stamp).map(|(_, n)| n + 1).max().unwrap_or(0);
    for n in first..first + 1000 {
        let name = if n == 0 { stamp.clone() } else { format!("{stamp}-{n}") };
        if key_dir.make_new_dir(OsStr::new(&name), 0o700)? {
            key_dir.sync().map_err(ioe(&key_path, "fsync"))?;
            return Ok(key_path.join(name));
        }
    }
    let busy = io::Error::from(io::ErrorKind::AlreadyExists);
    Err(TxnError::Io { path: key_path, op: "find a free archive directory in", source: busy })
}

/// `<stamp>` or `<stamp>-<n>` (an archived generation's directory name) as
/// (stamp, n): their order is the order they were made in.
pub(crate) fn generation_order(name: &str) -> Option<(String, u64)> {
    let stamp = name.get(..17)?;
    let n = match &name[17..] {
        "" => 0,
        rest => rest.strip_prefix('-')?.split('-').next()?.parse().ok()?,
    };
    Some((stamp.to_string(), n))
}

pub(super) fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<(), TxnError> {
    let set: BTreeSet<&Path> = dirs.into_iter().collect();
    for d in set {
        Dir::open(d, Trust::Shared)?.sync().map_err(ioe(d, "fsync directory"))?;
    }
    Ok(())
}
