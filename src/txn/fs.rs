//! File-system steps of a transaction: inspecting targets, creating files with
//! their final mode from the first byte, archiving by hard link, fsyncing
//! directories.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{ioe, TxnError};
use crate::journal::sync_dir;
use crate::platform;
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

pub(super) fn on_disk(path: &Path) -> Result<Option<OnDisk>, TxnError> {
    let md = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(None),
        Err(e) => return Err(ioe(path, "inspect")(e)),
    };
    if !md.is_file() {
        return Err(TxnError::Io {
            path: path.to_path_buf(),
            op: "use",
            source: io::Error::other("not a regular file"),
        });
    }
    let data = fs::read(path).map_err(ioe(path, "read"))?;
    Ok(Some(OnDisk {
        sha256: sha256_hex(&data),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        dev: md.dev(),
        ino: md.ino(),
    }))
}

pub(super) fn file_sha(path: &Path) -> Result<Option<String>, TxnError> {
    match fs::read(path) {
        Ok(d) => Ok(Some(sha256_hex(&d))),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(ioe(path, "read")(e)),
    }
}

pub(super) fn ensure_dir(dir: &Path, mode: u32) -> Result<(), TxnError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir).map_err(ioe(dir, "create directory"))?;
    if let Some(p) = dir.parent() {
        let _ = sync_dir(if p.as_os_str().is_empty() { Path::new(".") } else { p });
    }
    Ok(())
}

/// Creates a file with exactly `mode` from the first byte: the mode is given to
/// open(); fchmod is used only to restore bits the umask removed (never adds more
/// than `mode`). `exclusive` uses O_EXCL, otherwise an existing file is truncated
/// (only for private scratch names).
pub(super) fn create_exact(
    path: &Path,
    mode: u32,
    exclusive: bool,
    owner: Option<(u32, u32)>,
) -> Result<File, TxnError> {
    let mut oo = OpenOptions::new();
    oo.write(true).mode(mode & 0o7777).custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW);
    if exclusive {
        oo.create_new(true);
    } else {
        oo.create(true).truncate(true);
    }
    let file = oo.open(path).map_err(ioe(path, "create"))?;
    if let Some((uid, gid)) = owner {
        let md = file.metadata().map_err(ioe(path, "inspect"))?;
        if md.uid() != uid || md.gid() != gid {
            platform::fchown(&file, uid, gid).map_err(ioe(path, "change owner of"))?;
        }
    }
    let md = file.metadata().map_err(ioe(path, "inspect"))?;
    if md.mode() & 0o7777 != mode & 0o7777 {
        platform::fchmod(&file, mode).map_err(ioe(path, "set mode of"))?;
    }
    Ok(file)
}

/// Writes `contents` to `dest` through a scratch file + fsync + rename; the scratch
/// file lives in the same directory. Used for archive copies and installed copies.
pub(super) fn write_via_rename(
    dest: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), TxnError> {
    let dir = dir_of(dest);
    let scratch = dir.join(format!(".{}.acmebot-tmp", file_name_of(dest)?));
    let mut f = create_exact(&scratch, mode, false, owner)?;
    f.write_all(contents).map_err(ioe(&scratch, "write"))?;
    f.sync_all().map_err(ioe(&scratch, "fsync"))?;
    drop(f);
    fs::rename(&scratch, dest).map_err(ioe(dest, "rename into place"))?;
    Ok(())
}

/// Writes `contents` over `target` through `<dir>/.<name>.acmebot-restore`,
/// mode and owner as given, and fsyncs nothing but the file (the caller
/// fsyncs the directory).
pub(super) fn replace_with(
    target: &Path,
    name: &str,
    contents: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> Result<(), TxnError> {
    let tmp = dir_of(target).join(format!(".{name}.acmebot-restore"));
    let mut file = create_exact(&tmp, mode, false, Some(owner))?;
    file.write_all(contents).map_err(ioe(&tmp, "write"))?;
    file.sync_all().map_err(ioe(&tmp, "fsync"))?;
    drop(file);
    fs::rename(&tmp, target).map_err(ioe(target, "restore"))
}

/// Preserves `src` in `dir` under `name` (or `name.N` if taken by another file):
/// hard link, or copy (mode and owner kept) when linking fails. An entry that
/// already holds the same inode or contents is reused (idempotent for recovery).
/// The caller fsyncs `dir`.
pub(super) fn archive_file(src: &Path, dir: &Path, name: &str) -> Result<(PathBuf, String), TxnError> {
    let st = on_disk(src)?.ok_or_else(|| TxnError::Io {
        path: src.to_path_buf(),
        op: "archive",
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    for n in 0..1000 {
        let dest = if n == 0 { dir.join(name) } else { dir.join(format!("{name}.{n}")) };
        if let Some(existing) = on_disk(&dest)? {
            if (existing.dev, existing.ino) == (st.dev, st.ino) || existing.sha256 == st.sha256 {
                return Ok((dest, st.sha256));
            }
            continue;
        }
        match fs::hard_link(src, &dest) {
            Ok(()) => return Ok((dest, st.sha256)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                let data = fs::read(src).map_err(ioe(src, "read"))?;
                write_via_rename(&dest, &data, st.mode, Some((st.uid, st.gid)))?;
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

/// Claims `<archive_root>/<key>/<stamp>` (or `<stamp>-N`) with mkdir.
pub(super) fn claim_archive_dir(archive_root: &Path, key: &str, now: Time) -> Result<PathBuf, TxnError> {
    let key_dir = archive_root.join(key);
    ensure_dir(&key_dir, 0o700)?;
    let stamp = archive_stamp(now.secs());
    for n in 0..1000 {
        let dir = if n == 0 { key_dir.join(&stamp) } else { key_dir.join(format!("{stamp}-{n}")) };
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                sync_dir(&key_dir).map_err(ioe(&key_dir, "fsync"))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ioe(&dir, "create directory")(e)),
        }
    }
    let busy = io::Error::from(io::ErrorKind::AlreadyExists);
    Err(TxnError::Io { path: key_dir, op: "find a free archive directory in", source: busy })
}

pub(super) fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<(), TxnError> {
    let set: BTreeSet<&Path> = dirs.into_iter().collect();
    for d in set {
        sync_dir(d).map_err(ioe(d, "fsync directory"))?;
    }
    Ok(())
}
