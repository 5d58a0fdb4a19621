//! File transactions: all output files of a run for one private key are installed as
//! ONE transaction (all or nothing), journaled step by step, and recoverable after a
//! crash. Replaced files are preserved in `<archive>/<key name>/<YYYY_MM_DD_HHMMSS>/`,
//! and a copy of every installed file is kept in `<that dir>/installed/` so that
//! `--recover` can restore files later deleted or altered by hand.
//!
//! Commit protocol (each step followed by a fault check point, see [`Step`]):
//! 1. skip ops whose target already has these contents, mode (and owner); nothing left
//!    = no transaction and nothing journaled;
//! 2. claim the archive dir (mkdir), journal `txn_begun`;
//! 3. create each temp file next to its target with O_EXCL and the final mode, fchown,
//!    write, fsync;
//! 4. hard-link (or copy) every file about to be replaced or removed into the archive
//!    dir, fsync it, journal `file_archived` for each;
//! 5. rename temps over targets, unlink removed targets, fsync touched directories;
//! 6. write the installed copies, journal `file_installed` / `file_removed`, then
//!    `txn_committed`.
//!
//! Symlinks: targets are read through symlinks, but replaced by renaming, so a target
//! that is itself a symlink is replaced by a regular file (the link is archived).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::journal::{sync_dir, Journal, JournalError, Record};
use crate::time::{archive_stamp, Timestamp};
use crate::types::sha256_hex;

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
}

/// Fault check points, in protocol order. Names are used by `ACMEBOT_FAULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// After `txn_begun` was journaled.
    Begun,
    /// After a temp file was created (mode and owner set, still empty).
    TempCreated,
    /// After a temp file was written and fsynced.
    TempWritten,
    /// After an old file was linked (or copied) into the archive.
    Archived,
    /// After a `file_archived` event was journaled.
    ArchiveJournaled,
    /// After a temp was renamed over its target, or a removed target unlinked.
    Replaced,
    /// After all touched directories were fsynced.
    DirsSynced,
    /// After an installed copy was written.
    InstalledCopy,
    /// After a `file_installed` / `file_removed` event was journaled.
    InstalledJournaled,
    /// After `txn_committed` was journaled.
    Committed,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Begun,
        Step::TempCreated,
        Step::TempWritten,
        Step::Archived,
        Step::ArchiveJournaled,
        Step::Replaced,
        Step::DirsSynced,
        Step::InstalledCopy,
        Step::InstalledJournaled,
        Step::Committed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Begun => "begun",
            Step::TempCreated => "temp_created",
            Step::TempWritten => "temp_written",
            Step::Archived => "archived",
            Step::ArchiveJournaled => "archive_journaled",
            Step::Replaced => "replaced",
            Step::DirsSynced => "dirs_synced",
            Step::InstalledCopy => "installed_copy",
            Step::InstalledJournaled => "installed_journaled",
            Step::Committed => "committed",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A simulated crash at the `count`-th time `step` was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub step: Step,
    pub count: u32,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected fault at {}:{}", self.step, self.count)
    }
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

fn ioe<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> TxnError + 'a {
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
    pub fn changed(&self) -> bool {
        self.txn.is_some()
    }
}

// ---------------------------------------------------------------------------
// Low-level file helpers

fn mode_str(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

fn parse_mode(v: &Value) -> Option<u32> {
    match v {
        Value::String(s) => u32::from_str_radix(s, 8).ok(),
        Value::Number(n) => n.as_u64().map(|n| n as u32),
        _ => None,
    }
}

fn file_name_of(path: &Path) -> Result<String, TxnError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| TxnError::Invalid(format!("{} has no file name", path.display())))
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The current state of a file: sha256, mode, uid, gid. None if it does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileState {
    sha256: String,
    mode: u32,
    uid: u32,
    gid: u32,
    dev: u64,
    ino: u64,
}

fn file_state(path: &Path) -> Result<Option<FileState>, TxnError> {
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
    Ok(Some(FileState {
        sha256: sha256_hex(&data),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        dev: md.dev(),
        ino: md.ino(),
    }))
}

fn file_sha(path: &Path) -> Result<Option<String>, TxnError> {
    match fs::read(path) {
        Ok(d) => Ok(Some(sha256_hex(&d))),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(ioe(path, "read")(e)),
    }
}

fn ensure_dir(dir: &Path, mode: u32) -> Result<(), TxnError> {
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
fn create_exact(path: &Path, mode: u32, exclusive: bool, owner: Option<(u32, u32)>) -> Result<File, TxnError> {
    let mut oo = OpenOptions::new();
    oo.write(true).mode(mode & 0o7777).custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW);
    if exclusive {
        oo.create_new(true);
    } else {
        oo.create(true).truncate(true);
    }
    let file = oo.open(path).map_err(ioe(path, "create"))?;
    let fd = file.as_raw_fd();
    if let Some((uid, gid)) = owner {
        let md = file.metadata().map_err(ioe(path, "inspect"))?;
        if (md.uid() != uid || md.gid() != gid) && unsafe { libc::fchown(fd, uid, gid) } != 0 {
            return Err(ioe(path, "change owner of")(io::Error::last_os_error()));
        }
    }
    let md = file.metadata().map_err(ioe(path, "inspect"))?;
    if md.mode() & 0o7777 != mode & 0o7777 && unsafe { libc::fchmod(fd, (mode & 0o7777) as libc::mode_t) } != 0 {
        return Err(ioe(path, "set mode of")(io::Error::last_os_error()));
    }
    Ok(file)
}

/// Writes `contents` to `dest` through a scratch file + fsync + rename; the scratch
/// file lives in the same directory. Used for archive copies and installed copies.
fn write_via_rename(dest: &Path, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<(), TxnError> {
    let dir = dir_of(dest);
    let scratch = dir.join(format!(".{}.acmebot-tmp", file_name_of(dest)?));
    let mut f = create_exact(&scratch, mode, false, owner)?;
    f.write_all(contents).map_err(ioe(&scratch, "write"))?;
    f.sync_all().map_err(ioe(&scratch, "fsync"))?;
    drop(f);
    fs::rename(&scratch, dest).map_err(ioe(dest, "rename into place"))?;
    Ok(())
}

/// Preserves `src` in `dir` under `name` (or `name.N` if taken by another file):
/// hard link, or copy (mode and owner kept) when linking fails. An entry that
/// already holds the same inode or contents is reused (idempotent for recovery).
/// The caller fsyncs `dir`.
fn archive_file(src: &Path, dir: &Path, name: &str) -> Result<(PathBuf, String), TxnError> {
    let st = file_state(src)?.ok_or_else(|| TxnError::Io {
        path: src.to_path_buf(),
        op: "archive",
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    for n in 0..1000 {
        let dest = if n == 0 { dir.join(name) } else { dir.join(format!("{name}.{n}")) };
        if let Some(existing) = file_state(&dest)? {
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
    Err(TxnError::Io {
        path: dir.to_path_buf(),
        op: "find a free archive name in",
        source: io::Error::from(io::ErrorKind::AlreadyExists),
    })
}

/// Unique file names for the archive / installed copies of a transaction's files.
fn unique_names(paths: &[&Path]) -> Result<Vec<String>, TxnError> {
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
fn claim_archive_dir(archive_root: &Path, key: &str, now: Timestamp) -> Result<PathBuf, TxnError> {
    let key_dir = archive_root.join(key);
    ensure_dir(&key_dir, 0o700)?;
    let stamp = archive_stamp(now);
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
    Err(TxnError::Io {
        path: key_dir,
        op: "find a free archive directory in",
        source: io::Error::from(io::ErrorKind::AlreadyExists),
    })
}

fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<(), TxnError> {
    let set: BTreeSet<&Path> = dirs.into_iter().collect();
    for d in set {
        sync_dir(d).map_err(ioe(d, "fsync directory"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The transaction as journaled in txn_begun

#[derive(Clone, Debug)]
struct TxnFile {
    path: PathBuf,
    kind: String,
    /// Some for Write, None for Remove.
    sha256: Option<String>,
    mode: Option<u32>,
    old_sha256: Option<String>,
    old_mode: Option<u32>,
    temp: Option<PathBuf>,
    /// Name inside the archive dir and its installed/ subdir.
    name: String,
}

impl TxnFile {
    fn is_write(&self) -> bool {
        self.sha256.is_some()
    }

    fn to_json(&self) -> Value {
        json!({
            "path": self.path.to_string_lossy(),
            "kind": self.kind,
            "action": if self.is_write() { "write" } else { "remove" },
            "sha256": self.sha256,
            "mode": self.mode.map(mode_str),
            "old_sha256": self.old_sha256,
            "old_mode": self.old_mode.map(mode_str),
            "temp": self.temp.as_ref().map(|t| t.to_string_lossy()),
        })
    }
}

#[derive(Clone, Debug)]
struct Txn {
    id: String,
    key: String,
    archive: PathBuf,
    files: Vec<TxnFile>,
}

impl Txn {
    fn from_event(rec: &Record) -> Result<Txn, TxnError> {
        let id = rec.str_field("txn").unwrap_or("?").to_string();
        let bad = |what: &str| TxnError::Unrecoverable {
            txn: id.clone(),
            detail: format!("txn_begun (seq {}) has no valid {what}", rec.seq),
        };
        let key = rec.str_field("key").ok_or_else(|| bad("key"))?.to_string();
        let archive = PathBuf::from(rec.str_field("archive").ok_or_else(|| bad("archive"))?);
        let list = rec.field("files").and_then(Value::as_array).ok_or_else(|| bad("files"))?;
        let mut files = Vec::new();
        for f in list {
            let s = |k: &str| f.get(k).and_then(Value::as_str).map(String::from);
            let path = PathBuf::from(s("path").ok_or_else(|| bad("files[].path"))?);
            let sha256 = s("sha256");
            let mode = f.get("mode").and_then(parse_mode);
            if sha256.is_some() && mode.is_none() {
                return Err(bad("files[].mode"));
            }
            files.push(TxnFile {
                path,
                kind: s("kind").unwrap_or_default(),
                sha256,
                mode,
                old_sha256: s("old_sha256"),
                old_mode: f.get("old_mode").and_then(parse_mode),
                temp: s("temp").map(PathBuf::from),
                name: String::new(),
            });
        }
        let names = unique_names(&files.iter().map(|f| f.path.as_path()).collect::<Vec<_>>())?;
        for (f, n) in files.iter_mut().zip(names) {
            f.name = n;
        }
        Ok(Txn { id, key, archive, files })
    }

    fn installed_dir(&self) -> PathBuf {
        self.archive.join("installed")
    }
}

fn validate(plan: &Plan) -> Result<(), TxnError> {
    let k = &plan.key_name;
    if k.is_empty() || k == "." || k == ".." || k.contains('/') || k.contains('\0') {
        return Err(TxnError::Invalid(format!("bad key name {k:?}")));
    }
    let mut seen = BTreeSet::new();
    for op in &plan.ops {
        if !op.path.is_absolute() {
            return Err(TxnError::Invalid(format!("{} is not an absolute path", op.path.display())));
        }
        file_name_of(&op.path)?;
        if !seen.insert(&op.path) {
            return Err(TxnError::Invalid(format!("{} appears twice", op.path.display())));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Commit

/// A fault closure that never fires.
pub fn no_faults(_: Step) -> Result<(), Fault> {
    Ok(())
}

/// [`commit_with_faults`] without fault injection.
pub fn commit(journal: &mut Journal, plan: &Plan, now: Timestamp) -> Result<Committed, TxnError> {
    commit_with_faults(journal, plan, now, &no_faults)
}

/// Installs all files of `plan` as one transaction. `faults` is called at every
/// check point; if it returns Err the commit returns `TxnError::Crashed` at once,
/// without any cleanup, exactly as if the process had died there. On any other error
/// after `txn_begun`, the transaction is rolled back (best effort) before returning.
pub fn commit_with_faults(
    journal: &mut Journal,
    plan: &Plan,
    now: Timestamp,
    faults: &dyn Fn(Step) -> Result<(), Fault>,
) -> Result<Committed, TxnError> {
    validate(plan)?;
    // 1. What actually has to change.
    let mut result = Committed::default();
    let mut todo: Vec<(&FileOp, Option<FileState>)> = Vec::new();
    for op in &plan.ops {
        let old = file_state(&op.path)?;
        let same = match (&op.action, &old) {
            (Action::Write { contents, mode }, Some(o)) => {
                o.mode == mode & 0o7777
                    && o.sha256 == sha256_hex(contents)
                    && plan.owner.is_none_or(|(u, g)| (o.uid, o.gid) == (u, g))
            }
            (Action::Write { .. }, None) => false,
            (Action::Remove, old) => old.is_none(),
        };
        if same {
            result.unchanged.push(op.path.clone());
        } else {
            todo.push((op, old));
        }
    }
    if todo.is_empty() {
        return Ok(result);
    }

    // 2. Claim the archive dir, journal txn_begun.
    let archive = claim_archive_dir(&plan.archive_root, &plan.key_name, now)?;
    let id = format!("{}@{}", plan.key_name, file_name_of(&archive)?);
    let tag = &sha256_hex(id.as_bytes())[..12];
    let names = unique_names(&todo.iter().map(|(op, _)| op.path.as_path()).collect::<Vec<_>>())?;
    let mut files = Vec::new();
    for ((op, old), name) in todo.iter().zip(names) {
        let (sha256, mode, temp) = match &op.action {
            Action::Write { contents, mode } => {
                let temp = dir_of(&op.path).join(format!(".{}.acmebot-{}", file_name_of(&op.path)?, tag));
                (Some(sha256_hex(contents)), Some(mode & 0o7777), Some(temp))
            }
            Action::Remove => (None, None, None),
        };
        files.push(TxnFile {
            path: op.path.clone(),
            kind: op.kind.clone(),
            sha256,
            mode,
            old_sha256: old.as_ref().map(|o| o.sha256.clone()),
            old_mode: old.as_ref().map(|o| o.mode),
            temp,
            name,
        });
    }
    let txn = Txn { id: id.clone(), key: plan.key_name.clone(), archive: archive.clone(), files };
    journal.append(
        now,
        &json!({
            "type": "txn_begun",
            "txn": txn.id,
            "key": txn.key,
            "archive": archive.to_string_lossy(),
            "owner": plan.owner.map(|(u, g)| json!([u, g])),
            "files": txn.files.iter().map(TxnFile::to_json).collect::<Vec<_>>(),
        }),
    )?;
    result.txn = Some(id.clone());
    result.archive_dir = Some(archive.clone());
    let crash = |step| faults(step).map_err(TxnError::Crashed);
    crash(Step::Begun)?;

    match commit_steps(journal, plan, &txn, &todo, now, &crash, &mut result) {
        Ok(()) => Ok(result),
        Err(TxnError::Crashed(f)) => Err(TxnError::Crashed(f)),
        Err(e) => {
            // A real error (not a crash): put everything back as it was, best effort.
            // If this fails too, the next run's recover_interrupted finishes the job.
            let known = result.archived.clone();
            if let Err(e2) = roll_back(journal, &txn, &[], &known, &format!("commit failed: {e}"), false, now) {
                tracing::error!("file transaction {} failed ({e}) and could not be rolled back ({e2}); the next run will recover it", txn.id);
            }
            Err(e)
        }
    }
}

fn commit_steps(
    journal: &mut Journal,
    plan: &Plan,
    txn: &Txn,
    todo: &[(&FileOp, Option<FileState>)],
    now: Timestamp,
    crash: &dyn Fn(Step) -> Result<(), TxnError>,
    result: &mut Committed,
) -> Result<(), TxnError> {
    // 3. Temp files, created with their final mode and owner before any byte is written.
    for ((op, _), f) in todo.iter().zip(&txn.files) {
        let (Action::Write { contents, mode }, Some(temp)) = (&op.action, &f.temp) else { continue };
        ensure_dir(dir_of(&op.path), 0o755)?;
        let mut file = create_exact(temp, *mode, true, plan.owner)?;
        crash(Step::TempCreated)?;
        file.write_all(contents).map_err(ioe(temp, "write"))?;
        file.sync_all().map_err(ioe(temp, "fsync"))?;
        drop(file);
        crash(Step::TempWritten)?;
    }

    // 4. Archive every file that is about to be replaced or removed.
    let mut archived = Vec::new();
    for ((_, old), f) in todo.iter().zip(&txn.files) {
        if old.is_none() {
            continue;
        }
        let (dest, sha) = archive_file(&f.path, &txn.archive, &f.name)?;
        crash(Step::Archived)?;
        archived.push((f.path.clone(), dest, sha));
    }
    if !archived.is_empty() {
        sync_dir(&txn.archive).map_err(ioe(&txn.archive, "fsync directory"))?;
    }
    for (path, dest, sha) in &archived {
        journal.append(now, &json!({"type": "file_archived", "txn": txn.id, "path": path.to_string_lossy(), "archived_to": dest.to_string_lossy(), "sha256": sha}))?;
        crash(Step::ArchiveJournaled)?;
        result.archived.push((path.clone(), dest.clone()));
    }

    // 5. Replace.
    for f in &txn.files {
        match &f.temp {
            Some(temp) => fs::rename(temp, &f.path).map_err(ioe(&f.path, "rename into place"))?,
            None => fs::remove_file(&f.path).map_err(ioe(&f.path, "remove"))?,
        }
        crash(Step::Replaced)?;
    }
    sync_dirs(txn.files.iter().map(|f| dir_of(&f.path)).chain([txn.archive.as_path()]))?;
    crash(Step::DirsSynced)?;

    // 6. Installed copies, then the events that make the transaction committed.
    finish(journal, txn, &[], now, crash, false, result)
}

/// Step 6 (shared by commit and roll-forward): installed copies, `file_installed` /
/// `file_removed` for files not yet journaled, `txn_committed`.
fn finish(
    journal: &mut Journal,
    txn: &Txn,
    events: &[&Record],
    now: Timestamp,
    crash: &dyn Fn(Step) -> Result<(), TxnError>,
    recovered: bool,
    result: &mut Committed,
) -> Result<(), TxnError> {
    let installed_dir = txn.installed_dir();
    let done: BTreeSet<&str> = events
        .iter()
        .filter(|r| matches!(r.event_type(), "file_installed" | "file_removed"))
        .filter_map(|r| r.str_field("path"))
        .collect();
    let archived: HashMap<&str, &str> = events
        .iter()
        .filter(|r| r.event_type() == "file_archived")
        .filter_map(|r| Some((r.str_field("path")?, r.str_field("archived_to")?)))
        .collect();
    let mut copies = Vec::new();
    if txn.files.iter().any(TxnFile::is_write) {
        ensure_dir(&installed_dir, 0o700)?;
    }
    for f in txn.files.iter().filter(|f| f.is_write()) {
        let (Some(sha), Some(mode)) = (&f.sha256, f.mode) else { continue };
        let data = fs::read(&f.path).map_err(ioe(&f.path, "read"))?;
        if &sha256_hex(&data) != sha {
            return Err(TxnError::Unrecoverable {
                txn: txn.id.clone(),
                detail: format!("{} does not hold the content just installed", f.path.display()),
            });
        }
        let copy = installed_dir.join(&f.name);
        if file_sha(&copy)?.as_ref() != Some(sha)
            || fs::metadata(&copy).map(|m| m.mode() & 0o7777 != mode).unwrap_or(true)
        {
            write_via_rename(&copy, &data, mode, None)?;
            crash(Step::InstalledCopy)?;
        }
        copies.push(copy);
    }
    if !copies.is_empty() {
        sync_dir(&installed_dir).map_err(ioe(&installed_dir, "fsync directory"))?;
    }
    let mut copies = copies.into_iter();
    for f in &txn.files {
        let path_s = f.path.to_string_lossy();
        if f.is_write() {
            let copy = copies.next().unwrap_or_default();
            if !done.contains(path_s.as_ref()) {
                let md = fs::metadata(&f.path).map_err(ioe(&f.path, "inspect"))?;
                journal.append(
                    now,
                    &json!({
                        "type": "file_installed", "txn": txn.id, "path": path_s, "kind": f.kind,
                        "sha256": f.sha256, "mode": f.mode.map(mode_str), "uid": md.uid(), "gid": md.gid(),
                        "installed_copy": copy.to_string_lossy(),
                    }),
                )?;
                crash(Step::InstalledJournaled)?;
            }
            result.installed.push(f.path.clone());
        } else {
            if !done.contains(path_s.as_ref()) {
                let archived_to = archived.get(path_s.as_ref()).map(|s| s.to_string()).or_else(|| {
                    result.archived.iter().find(|(p, _)| p == &f.path).map(|(_, a)| a.to_string_lossy().into_owned())
                });
                journal.append(
                    now,
                    &json!({"type": "file_removed", "txn": txn.id, "path": path_s, "archived_to": archived_to}),
                )?;
                crash(Step::InstalledJournaled)?;
            }
            result.removed.push(f.path.clone());
        }
    }
    let mut ev = json!({"type": "txn_committed", "txn": txn.id});
    if recovered {
        ev["recovered"] = Value::Bool(true);
    }
    journal.append(now, &ev)?;
    crash(Step::Committed)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Recovery of interrupted transactions

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

/// Transactions begun but neither committed nor rolled back, with their later events.
fn open_transactions(records: &[Record]) -> Vec<(&Record, Vec<&Record>)> {
    let mut open: Vec<(&Record, Vec<&Record>)> = Vec::new();
    for r in records {
        let Some(txn) = r.str_field("txn") else { continue };
        match r.event_type() {
            "txn_begun" => open.push((r, Vec::new())),
            "txn_committed" | "txn_rolled_back" => open.retain(|(b, _)| b.str_field("txn") != Some(txn)),
            _ => {
                if let Some((_, evs)) = open.iter_mut().find(|(b, _)| b.str_field("txn") == Some(txn)) {
                    evs.push(r);
                }
            }
        }
    }
    open
}

/// Finds every interrupted transaction in `records` (the journal as opened) and brings
/// it to all-new (roll forward, when every new file is in place or in a complete temp
/// file) or all-old (roll back), journaling which.
pub fn recover_interrupted(
    journal: &mut Journal,
    records: &[Record],
    now: Timestamp,
) -> Result<Vec<Recovery>, TxnError> {
    let mut out = Vec::new();
    for (begun, events) in open_transactions(records) {
        let txn = Txn::from_event(begun)?;
        let mut forward = Ok(());
        for f in txn.files.iter().filter(|f| f.is_write()) {
            let (Some(sha), Some(mode), Some(temp)) = (&f.sha256, f.mode, &f.temp) else { continue };
            match file_sha(temp)? {
                Some(t) if &t == sha => {}
                Some(_) => {
                    forward = Err(format!("temporary file for {} is incomplete", f.path.display()));
                    break;
                }
                None => {
                    let st = file_state(&f.path)?;
                    if !st.as_ref().is_some_and(|s| &s.sha256 == sha && s.mode == mode) {
                        forward = Err(format!("new {} was not written yet", f.path.display()));
                        break;
                    }
                }
            }
        }
        let outcome = match forward {
            Ok(()) => {
                roll_forward(journal, &txn, &events, now)?;
                RecoveryOutcome::RolledForward
            }
            Err(reason) => {
                roll_back(journal, &txn, &events, &[], &reason, true, now)?;
                RecoveryOutcome::RolledBack { reason }
            }
        };
        out.push(Recovery { txn: txn.id.clone(), key: txn.key.clone(), outcome });
    }
    Ok(out)
}

fn roll_forward(journal: &mut Journal, txn: &Txn, events: &[&Record], now: Timestamp) -> Result<(), TxnError> {
    let mut archived: BTreeSet<String> = events
        .iter()
        .filter(|r| r.event_type() == "file_archived")
        .filter_map(|r| r.str_field("path").map(String::from))
        .collect();
    let mut result = Committed::default();
    ensure_dir(&txn.archive, 0o700)?;
    // Archive whatever is still in place and about to be replaced or removed.
    let mut newly = Vec::new();
    for f in &txn.files {
        let path_s = f.path.to_string_lossy().into_owned();
        let pending = match &f.temp {
            Some(temp) => temp.exists(),
            None => f.path.exists(),
        };
        if pending && f.path.exists() && !archived.contains(&path_s) {
            let (dest, sha) = archive_file(&f.path, &txn.archive, &f.name)?;
            newly.push((path_s.clone(), dest, sha));
            archived.insert(path_s);
        }
    }
    if !newly.is_empty() {
        sync_dir(&txn.archive).map_err(ioe(&txn.archive, "fsync directory"))?;
    }
    for (path, dest, sha) in &newly {
        journal.append(now, &json!({"type": "file_archived", "txn": txn.id, "path": path, "archived_to": dest.to_string_lossy(), "sha256": sha}))?;
        result.archived.push((PathBuf::from(path), dest.clone()));
    }
    for f in &txn.files {
        match &f.temp {
            Some(temp) => {
                if temp.exists() {
                    fs::rename(temp, &f.path).map_err(ioe(&f.path, "rename into place"))?;
                }
            }
            None => match fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ioe(&f.path, "remove")(e)),
            },
        }
    }
    sync_dirs(txn.files.iter().map(|f| dir_of(&f.path)).chain([txn.archive.as_path()]))?;
    finish(journal, txn, events, now, &|_| Ok(()), true, &mut result)
}

/// Undoes a transaction: restores replaced targets from the archive, removes targets
/// that did not exist before, deletes temp files, journals `txn_rolled_back`.
fn roll_back(
    journal: &mut Journal,
    txn: &Txn,
    events: &[&Record],
    known: &[(PathBuf, PathBuf)],
    reason: &str,
    recovered: bool,
    now: Timestamp,
) -> Result<(), TxnError> {
    let mut archived: HashMap<String, PathBuf> = events
        .iter()
        .filter(|r| r.event_type() == "file_archived")
        .filter_map(|r| Some((r.str_field("path")?.to_string(), PathBuf::from(r.str_field("archived_to")?))))
        .collect();
    for (p, a) in known {
        archived.insert(p.to_string_lossy().into_owned(), a.clone());
    }
    // During a failed commit the file_archived events are not in `events`: fall back to
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
        let cur = file_state(&f.path)?;
        match (&f.old_sha256, f.old_mode) {
            (Some(old_sha), old_mode) => {
                let is_old = cur.as_ref().is_some_and(|c| &c.sha256 == old_sha && old_mode.is_none_or(|m| m == c.mode));
                if !is_old {
                    // Replaced or removed by this transaction: put the old file back.
                    let src = archived.get(f.path.to_string_lossy().as_ref());
                    if src.is_none() && (cur.is_none() || f.temp.is_none()) {
                        return Err(TxnError::Unrecoverable {
                            txn: txn.id.clone(),
                            detail: format!("{} was changed but its archived copy is unknown", f.path.display()),
                        });
                    }
                    // (A target that differs but was never archived was not replaced by
                    // this transaction, which archives before renaming: leave it.)
                    if let Some(src) = src {
                        let data = fs::read(src).map_err(ioe(src, "read"))?;
                        if &sha256_hex(&data) != old_sha {
                            return Err(TxnError::Unrecoverable {
                                txn: txn.id.clone(),
                                detail: format!(
                                    "archived copy {} does not match the old {}",
                                    src.display(),
                                    f.path.display()
                                ),
                            });
                        }
                        let md = fs::metadata(src).map_err(ioe(src, "inspect"))?;
                        let tmp = dir_of(&f.path).join(format!(".{}.acmebot-restore", f.name));
                        let mut file = create_exact(
                            &tmp,
                            old_mode.unwrap_or(md.mode() & 0o7777),
                            false,
                            Some((md.uid(), md.gid())),
                        )?;
                        file.write_all(&data).map_err(ioe(&tmp, "write"))?;
                        file.sync_all().map_err(ioe(&tmp, "fsync"))?;
                        drop(file);
                        fs::rename(&tmp, &f.path).map_err(ioe(&f.path, "restore"))?;
                        dirs.push(dir_of(&f.path).to_path_buf());
                    }
                }
            }
            (None, _) => {
                // The file did not exist before: remove it if it is ours.
                if let (Some(c), Some(sha)) = (&cur, &f.sha256) {
                    if &c.sha256 == sha {
                        fs::remove_file(&f.path).map_err(ioe(&f.path, "remove"))?;
                        dirs.push(dir_of(&f.path).to_path_buf());
                    }
                }
            }
        }
        if let Some(temp) = &f.temp {
            match fs::remove_file(temp) {
                Ok(()) => dirs.push(dir_of(temp).to_path_buf()),
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
                Err(e) => return Err(ioe(temp, "remove")(e)),
            }
        }
    }
    sync_dirs(dirs.iter().map(PathBuf::as_path))?;
    let mut ev = json!({"type": "txn_rolled_back", "txn": txn.id, "reason": reason});
    if recovered {
        ev["recovered"] = Value::Bool(true);
    }
    journal.append(now, &ev)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// State derived from the journal, audit and restore

/// A file installed by a committed transaction (per the journal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub sha256: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub kind: String,
    pub txn: String,
    pub installed_copy: PathBuf,
    /// Seq of the `file_installed` event.
    pub seq: u64,
}

/// The last committed `file_installed` per path, minus later committed `file_removed`.
pub fn installed_files(records: &[Record]) -> BTreeMap<PathBuf, Installed> {
    let mut out = BTreeMap::new();
    let mut pending: HashMap<&str, Vec<&Record>> = HashMap::new();
    for r in records {
        let Some(txn) = r.str_field("txn") else { continue };
        match r.event_type() {
            "file_installed" | "file_removed" => pending.entry(txn).or_default().push(r),
            "txn_rolled_back" => {
                pending.remove(txn);
            }
            "txn_committed" => {
                for e in pending.remove(txn).unwrap_or_default() {
                    let Some(path) = e.str_field("path").map(PathBuf::from) else { continue };
                    if e.event_type() == "file_removed" {
                        out.remove(&path);
                        continue;
                    }
                    let (Some(sha256), Some(mode)) = (e.str_field("sha256"), e.field("mode").and_then(parse_mode))
                    else {
                        continue;
                    };
                    let num = |k| e.field(k).and_then(Value::as_u64).unwrap_or(0) as u32;
                    out.insert(
                        path,
                        Installed {
                            sha256: sha256.to_string(),
                            mode,
                            uid: num("uid"),
                            gid: num("gid"),
                            kind: e.str_field("kind").unwrap_or_default().to_string(),
                            txn: txn.to_string(),
                            installed_copy: PathBuf::from(e.str_field("installed_copy").unwrap_or_default()),
                            seq: e.seq,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    out
}

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub kind: FileProblemKind,
    pub installed: Installed,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        let i = &self.installed;
        match &self.kind {
            FileProblemKind::Missing => write!(f, "{p} is missing (installed by {}, journal seq {})", i.txn, i.seq),
            FileProblemKind::Altered { sha256 } => write!(
                f,
                "{p} was altered: sha256 is {}, installed {}",
                crate::journal::short(sha256),
                crate::journal::short(&i.sha256)
            ),
            FileProblemKind::ModeChanged { mode } => {
                write!(f, "{p} has mode {}, installed {}", mode_str(*mode), mode_str(i.mode))
            }
            FileProblemKind::OwnerChanged { uid, gid } => {
                write!(f, "{p} is owned by {uid}:{gid}, installed {}:{}", i.uid, i.gid)
            }
        }
    }
}

/// Compares the files on disk with what the journal says was installed.
pub fn audit_files(installed: &BTreeMap<PathBuf, Installed>) -> Vec<FileProblem> {
    let mut out = Vec::new();
    for (path, i) in installed {
        let kind = match file_state(path) {
            Ok(None) => Some(FileProblemKind::Missing),
            Ok(Some(s)) if s.sha256 != i.sha256 => Some(FileProblemKind::Altered { sha256: s.sha256 }),
            Ok(Some(s)) if s.mode != i.mode => Some(FileProblemKind::ModeChanged { mode: s.mode }),
            Ok(Some(s)) if (s.uid, s.gid) != (i.uid, i.gid) => {
                Some(FileProblemKind::OwnerChanged { uid: s.uid, gid: s.gid })
            }
            Ok(Some(_)) => None,
            // Unreadable (e.g. replaced by a directory): treat as altered.
            Err(e) => Some(FileProblemKind::Altered { sha256: format!("unreadable: {e}") }),
        };
        if let Some(kind) = kind {
            out.push(FileProblem { path: path.clone(), kind, installed: i.clone() });
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
pub fn restore(journal: &mut Journal, problems: &[FileProblem], now: Timestamp) -> Result<Vec<Restored>, TxnError> {
    let mut out = Vec::new();
    for p in problems {
        match restore_one(p, now) {
            Ok((sha256, from, archived_to)) => {
                journal.append(
                    now,
                    &json!({
                        "type": "file_restored", "path": p.path.to_string_lossy(), "sha256": sha256,
                        "from": from.to_string_lossy(), "problem": p.kind.as_str(),
                        "archived_to": archived_to.as_ref().map(|a| a.to_string_lossy()),
                    }),
                )?;
                out.push(Restored::Done { path: p.path.clone(), sha256, from, archived_to });
            }
            Err(e) => out.push(Restored::Failed { path: p.path.clone(), reason: e.to_string() }),
        }
    }
    Ok(out)
}

fn restore_one(p: &FileProblem, now: Timestamp) -> Result<(String, PathBuf, Option<PathBuf>), TxnError> {
    let i = &p.installed;
    let from = i.installed_copy.clone();
    let data = fs::read(&from).map_err(ioe(&from, "read installed copy"))?;
    if sha256_hex(&data) != i.sha256 {
        return Err(TxnError::Io {
            path: from,
            op: "use installed copy",
            source: io::Error::other("its contents do not match the journal"),
        });
    }
    // Preserve an altered file before replacing it.
    let mut archived_to = None;
    if matches!(p.kind, FileProblemKind::Altered { .. }) && p.path.is_file() {
        // installed_copy = <archive root>/<key>/<stamp>/installed/<name>
        if let Some(key_dir) = from.parent().and_then(Path::parent).and_then(Path::parent) {
            let dir = key_dir.join(format!("{}-altered", archive_stamp(now)));
            ensure_dir(&dir, 0o700)?;
            let (dest, _) = archive_file(&p.path, &dir, &file_name_of(&p.path)?)?;
            sync_dir(&dir).map_err(ioe(&dir, "fsync directory"))?;
            archived_to = Some(dest);
        }
    }
    let dir = dir_of(&p.path);
    ensure_dir(dir, 0o755)?;
    let tmp = dir.join(format!(".{}.acmebot-restore", file_name_of(&p.path)?));
    let mut f = create_exact(&tmp, i.mode, false, Some((i.uid, i.gid)))?;
    f.write_all(&data).map_err(ioe(&tmp, "write"))?;
    f.sync_all().map_err(ioe(&tmp, "fsync"))?;
    drop(f);
    fs::rename(&tmp, &p.path).map_err(ioe(&p.path, "restore"))?;
    sync_dir(dir).map_err(ioe(dir, "fsync directory"))?;
    match file_state(&p.path)? {
        Some(s) if s.sha256 == i.sha256 && s.mode == i.mode => Ok((s.sha256, from, archived_to)),
        _ => Err(TxnError::Io {
            path: p.path.clone(),
            op: "verify restored",
            source: io::Error::other("contents or mode differ after restore"),
        }),
    }
}

// ---------------------------------------------------------------------------
// Fault injection for the binary

/// Parses `ACMEBOT_FAULT=<step>[:<n>]`.
pub fn parse_fault_spec(s: &str) -> Option<Fault> {
    let (name, n) = match s.split_once(':') {
        Some((a, b)) => (a, b.parse().ok()?),
        None => (s, 1),
    };
    Some(Fault { step: Step::parse(name)?, count: n })
}

/// A fault closure firing at the n-th time `fault.step` is reached.
pub fn fault_at(fault: Fault) -> impl Fn(Step) -> Result<(), Fault> {
    let seen = std::cell::Cell::new(0u32);
    move |step| {
        if step == fault.step {
            seen.set(seen.get() + 1);
            if seen.get() == fault.count {
                return Err(fault);
            }
        }
        Ok(())
    }
}

/// The faults requested by `ACMEBOT_FAULT` (only with the `fault-injection` feature).
#[cfg(feature = "fault-injection")]
pub fn env_faults() -> impl Fn(Step) -> Result<(), Fault> {
    let spec = std::env::var("ACMEBOT_FAULT").ok().filter(|s| !s.is_empty());
    let fault = spec.as_deref().map(|s| {
        parse_fault_spec(s).unwrap_or_else(|| {
            panic!("ACMEBOT_FAULT={s:?}: expected <step>[:<n>], steps: {}", Step::ALL.map(Step::name).join(", "))
        })
    });
    let f = fault.map(fault_at);
    move |step| match &f {
        Some(f) => f(step),
        None => Ok(()),
    }
}

/// Without the `fault-injection` feature: never fails.
#[cfg(not(feature = "fault-injection"))]
pub fn env_faults() -> impl Fn(Step) -> Result<(), Fault> {
    |_| Ok(())
}

/// For the binary: like [`env_faults`], but a firing fault ends the process at once
/// (`_exit(86)`, no destructors, no buffered output), as a real crash would.
pub fn env_faults_exit() -> impl Fn(Step) -> Result<(), Fault> {
    let f = env_faults();
    move |step| {
        if let Err(fault) = f(step) {
            let msg = format!("acmebot: {fault}: exiting\n");
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(86);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{read, Journal};
    use std::os::unix::fs::PermissionsExt;

    const T0: Timestamp = 1_795_968_146; // 2026-11-29T16:02:26Z

    struct Fx {
        root: PathBuf,
        jpath: PathBuf,
        archive_root: PathBuf,
        key: PathBuf,
        cert: PathBuf,
        chain: PathBuf,
        extra: PathBuf,
    }

    impl Drop for Fx {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn write_mode(p: &Path, data: &[u8], mode: u32) {
        fs::write(p, data).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn setup(name: &str) -> Fx {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "acmebot-txn-test-{}-{}-{}",
            std::process::id(),
            name,
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("private")).unwrap();
        fs::create_dir_all(root.join("certs")).unwrap();
        let fx = Fx {
            jpath: root.join("state/journal.jsonl"),
            archive_root: root.join("archive"),
            key: root.join("private/example.com.rsa.key"),
            cert: root.join("certs/example.com.rsa.pem"),
            chain: root.join("params/example.com_chain.rsa.pem"),
            extra: root.join("certs/example.com+root.rsa.pem"),
            root,
        };
        write_mode(&fx.key, b"OLD KEY", 0o600);
        write_mode(&fx.cert, b"OLD CERT", 0o644);
        write_mode(&fx.extra, b"OLD EXTRA", 0o644);
        fx
    }

    fn plan(fx: &Fx) -> Plan {
        let w = |p: &Path, kind: &str, c: &[u8], mode| FileOp {
            path: p.to_path_buf(),
            kind: kind.into(),
            action: Action::Write { contents: c.to_vec(), mode },
        };
        Plan {
            key_name: "example.com".into(),
            ops: vec![
                w(&fx.key, "private_key", b"NEW KEY", 0o640),
                w(&fx.cert, "certificate", b"NEW CERT", 0o644),
                w(&fx.chain, "chain", b"NEW CHAIN", 0o644),
                FileOp { path: fx.extra.clone(), kind: "full_chain".into(), action: Action::Remove },
            ],
            owner: None,
            archive_root: fx.archive_root.clone(),
        }
    }

    fn state(p: &Path) -> Option<(Vec<u8>, u32)> {
        let d = fs::read(p).ok()?;
        Some((d, fs::metadata(p).unwrap().permissions().mode() & 0o7777))
    }

    fn assert_all_old(fx: &Fx, ctx: &str) {
        assert_eq!(state(&fx.key), Some((b"OLD KEY".to_vec(), 0o600)), "{ctx}");
        assert_eq!(state(&fx.cert), Some((b"OLD CERT".to_vec(), 0o644)), "{ctx}");
        assert_eq!(state(&fx.chain), None, "{ctx}");
        assert_eq!(state(&fx.extra), Some((b"OLD EXTRA".to_vec(), 0o644)), "{ctx}");
    }

    fn assert_all_new(fx: &Fx, ctx: &str) {
        assert_eq!(state(&fx.key), Some((b"NEW KEY".to_vec(), 0o640)), "{ctx}");
        assert_eq!(state(&fx.cert), Some((b"NEW CERT".to_vec(), 0o644)), "{ctx}");
        assert_eq!(state(&fx.chain), Some((b"NEW CHAIN".to_vec(), 0o644)), "{ctx}");
        assert_eq!(state(&fx.extra), None, "{ctx}");
    }

    fn temp_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                temp_files(&p, out);
            } else if p.file_name().unwrap().to_string_lossy().contains(".acmebot-") {
                out.push(p);
            }
        }
    }

    fn assert_archive_has_old(fx: &Fx, archive: &Path, ctx: &str) {
        assert_eq!(fs::read(archive.join("example.com.rsa.key")).unwrap(), b"OLD KEY", "{ctx}");
        assert_eq!(
            fs::metadata(archive.join("example.com.rsa.key")).unwrap().permissions().mode() & 0o777,
            0o600,
            "{ctx}"
        );
        assert_eq!(fs::read(archive.join("example.com.rsa.pem")).unwrap(), b"OLD CERT", "{ctx}");
        assert_eq!(fs::read(archive.join("example.com+root.rsa.pem")).unwrap(), b"OLD EXTRA", "{ctx}");
        assert!(!archive.join("example.com_chain.rsa.pem").exists(), "{ctx}");
        let inst = archive.join("installed");
        assert_eq!(state(&inst.join("example.com.rsa.key")), Some((b"NEW KEY".to_vec(), 0o640)), "{ctx}");
        assert_eq!(state(&inst.join("example.com_chain.rsa.pem")), Some((b"NEW CHAIN".to_vec(), 0o644)), "{ctx}");
        let _ = fx;
    }

    #[test]
    fn fault_at_every_step_recovers_to_all_old_or_all_new() {
        let mut crashed_steps = BTreeSet::new();
        for step in Step::ALL {
            for n in 1..20u32 {
                let ctx = format!("fault {step}:{n}");
                let fx = setup(&format!("{step}-{n}"));
                let p = plan(&fx);
                let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
                let r = commit_with_faults(&mut j, &p, T0, &fault_at(Fault { step, count: n }));
                match r {
                    Ok(c) => {
                        // The fault never fired: step reached fewer than n times.
                        assert!(n > 1, "{ctx}: step never reached");
                        assert_all_new(&fx, &ctx);
                        assert_archive_has_old(&fx, c.archive_dir.as_ref().unwrap(), &ctx);
                        break;
                    }
                    Err(TxnError::Crashed(f)) => assert_eq!(f, Fault { step, count: n }),
                    Err(e) => panic!("{ctx}: {e}"),
                }
                crashed_steps.insert(step);
                if step == Step::TempCreated && n == 1 {
                    // The key's temp file: final mode from creation, still empty.
                    let mut temps = Vec::new();
                    temp_files(&fx.root.join("private"), &mut temps);
                    assert_eq!(temps.len(), 1, "{ctx}");
                    let md = fs::metadata(&temps[0]).unwrap();
                    assert_eq!(md.permissions().mode() & 0o7777, 0o640, "{ctx}");
                    assert_eq!(md.len(), 0);
                }
                drop(j);

                // The next run: reopen, recover.
                let (mut j, opened) = Journal::open(&fx.jpath, T0 + 60).unwrap();
                let rec = recover_interrupted(&mut j, &opened.records, T0 + 60).unwrap();
                let out = read(&fx.jpath).unwrap();
                assert!(out.problems.is_empty() && out.torn.is_none(), "{ctx}");
                let verdicts: Vec<&str> = out
                    .records
                    .iter()
                    .map(|r| r.event_type())
                    .filter(|t| matches!(*t, "txn_committed" | "txn_rolled_back"))
                    .collect();
                assert_eq!(verdicts.len(), 1, "{ctx}: {verdicts:?}");
                let expect_back =
                    matches!(step, Step::Begun | Step::TempCreated) || (step == Step::TempWritten && n < 3);
                let archive = fx.archive_root.join("example.com/2026_11_29_160226");
                if step == Step::Committed {
                    assert!(rec.is_empty(), "{ctx}");
                } else {
                    assert_eq!(rec.len(), 1, "{ctx}");
                    assert_eq!(rec[0].txn, "example.com@2026_11_29_160226");
                }
                let mut temps = Vec::new();
                temp_files(&fx.root, &mut temps);
                assert!(temps.is_empty(), "{ctx}: temp files left: {temps:?}");
                let inst = installed_files(&out.records);
                if expect_back {
                    assert_eq!(verdicts[0], "txn_rolled_back", "{ctx}");
                    assert!(matches!(rec[0].outcome, RecoveryOutcome::RolledBack { .. }), "{ctx}");
                    assert_all_old(&fx, &ctx);
                    assert!(inst.is_empty(), "{ctx}");
                } else {
                    assert_eq!(verdicts[0], "txn_committed", "{ctx}");
                    if step != Step::Committed {
                        assert_eq!(rec[0].outcome, RecoveryOutcome::RolledForward, "{ctx}");
                        assert_eq!(
                            out.records
                                .iter()
                                .rev()
                                .find(|r| r.event_type() == "txn_committed")
                                .unwrap()
                                .field("recovered"),
                            Some(&Value::Bool(true))
                        );
                    }
                    assert_all_new(&fx, &ctx);
                    assert_archive_has_old(&fx, &archive, &ctx);
                    // Every file journaled exactly once.
                    for t in ["file_archived", "file_installed", "file_removed"] {
                        let mut paths: Vec<_> = out
                            .records
                            .iter()
                            .filter(|r| r.event_type() == t)
                            .map(|r| r.str_field("path").unwrap().to_string())
                            .collect();
                        let total = paths.len();
                        paths.sort();
                        paths.dedup();
                        assert_eq!(total, paths.len(), "{ctx}: duplicate {t}");
                        assert_eq!(
                            total,
                            match t {
                                "file_archived" => 3,
                                "file_installed" => 3,
                                _ => 1,
                            },
                            "{ctx}: {t}"
                        );
                    }
                    assert_eq!(inst.len(), 3, "{ctx}");
                    assert!(audit_files(&inst).is_empty(), "{ctx}");
                }
                // Recovery is idempotent.
                assert!(recover_interrupted(&mut j, &out.records, T0 + 61).unwrap().is_empty(), "{ctx}");
                // Running the plan again: a no-op after commit, a fresh commit after rollback.
                let before = fs::read(&fx.jpath).unwrap();
                let c = commit(&mut j, &p, T0 + 120).unwrap();
                assert_all_new(&fx, &ctx);
                if expect_back {
                    assert!(c.changed());
                } else {
                    assert!(!c.changed(), "{ctx}");
                    assert_eq!(fs::read(&fx.jpath).unwrap(), before, "{ctx}");
                }
                assert!(read(&fx.jpath).unwrap().problems.is_empty());
            }
        }
        assert_eq!(crashed_steps.len(), Step::ALL.len());
    }

    #[test]
    fn commit_happy_path_and_noop() {
        let fx = setup("happy");
        let p = plan(&fx);
        let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
        let c = commit(&mut j, &p, T0).unwrap();
        assert_eq!(c.txn.as_deref(), Some("example.com@2026_11_29_160226"));
        assert_eq!(c.installed, vec![fx.key.clone(), fx.cert.clone(), fx.chain.clone()]);
        assert_eq!(c.removed, vec![fx.extra.clone()]);
        assert_eq!(c.archived.len(), 3);
        assert_all_new(&fx, "happy");
        let archive = c.archive_dir.clone().unwrap();
        assert_archive_has_old(&fx, &archive, "happy");
        let out = read(&fx.jpath).unwrap();
        let types: Vec<_> = out.records.iter().map(|r| r.event_type()).collect();
        assert_eq!(
            types,
            [
                "txn_begun",
                "file_archived",
                "file_archived",
                "file_archived",
                "file_installed",
                "file_installed",
                "file_installed",
                "file_removed",
                "txn_committed"
            ]
        );
        let begun = &out.records[0].event;
        assert_eq!(begun["files"][0]["mode"], "0640");
        assert_eq!(begun["files"][0]["old_sha256"], sha256_hex(b"OLD KEY"));
        assert_eq!(begun["files"][2]["old_sha256"], Value::Null);
        assert_eq!(begun["files"][3]["sha256"], Value::Null);
        assert_eq!(fs::metadata(fx.chain.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o755);

        // No-op: nothing journaled, nothing archived.
        let before = fs::read(&fx.jpath).unwrap();
        let c2 = commit(&mut j, &p, T0 + 5).unwrap();
        assert!(!c2.changed());
        assert_eq!(c2.unchanged.len(), 4);
        assert_eq!(fs::read(&fx.jpath).unwrap(), before);
        assert_eq!(fs::read_dir(fx.archive_root.join("example.com")).unwrap().count(), 1);

        // A second change in the same second gets its own archive dir / txn id.
        let mut p2 = p.clone();
        p2.ops.truncate(1);
        p2.ops[0].action = Action::Write { contents: b"NEWER KEY".to_vec(), mode: 0o600 };
        let c3 = commit(&mut j, &p2, T0).unwrap();
        assert_eq!(c3.txn.as_deref(), Some("example.com@2026_11_29_160226-1"));
        assert_eq!(fs::read(c3.archive_dir.unwrap().join("example.com.rsa.key")).unwrap(), b"NEW KEY");
        assert_eq!(state(&fx.key), Some((b"NEWER KEY".to_vec(), 0o600)));
        let inst = installed_files(&read(&fx.jpath).unwrap().records);
        assert_eq!(inst.len(), 3);
        assert_eq!(inst[&fx.key].sha256, sha256_hex(b"NEWER KEY"));
        assert_eq!(inst[&fx.key].txn, "example.com@2026_11_29_160226-1");
    }

    #[test]
    fn mode_only_change_is_a_change() {
        let fx = setup("modeonly");
        let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
        let p = Plan {
            key_name: "k".into(),
            ops: vec![FileOp {
                path: fx.key.clone(),
                kind: "private_key".into(),
                action: Action::Write { contents: b"OLD KEY".to_vec(), mode: 0o640 },
            }],
            owner: None,
            archive_root: fx.archive_root.clone(),
        };
        assert!(commit(&mut j, &p, T0).unwrap().changed());
        assert_eq!(state(&fx.key), Some((b"OLD KEY".to_vec(), 0o640)));
        assert!(!commit(&mut j, &p, T0).unwrap().changed());
    }

    #[test]
    fn real_error_mid_commit_rolls_back() {
        let fx = setup("error");
        let mut p = plan(&fx);
        // Its directory cannot be created: the cert path is a file.
        p.ops.push(FileOp {
            path: fx.cert.join("sub.pem"),
            kind: "x".into(),
            action: Action::Write { contents: b"X".to_vec(), mode: 0o644 },
        });
        let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
        let e = commit(&mut j, &p, T0).unwrap_err();
        assert!(matches!(e, TxnError::Io { .. }), "{e}");
        assert_all_old(&fx, "error");
        let mut temps = Vec::new();
        temp_files(&fx.root, &mut temps);
        assert!(temps.is_empty(), "{temps:?}");
        let out = read(&fx.jpath).unwrap();
        assert_eq!(out.records.last().unwrap().event_type(), "txn_rolled_back");
        assert!(out.records.last().unwrap().str_field("reason").unwrap().contains("commit failed"));
        let (mut j, opened) = Journal::open(&fx.jpath, T0).unwrap();
        assert!(recover_interrupted(&mut j, &opened.records, T0).unwrap().is_empty());
    }

    #[test]
    fn audit_and_restore_fix_deleted_altered_and_chmodded_files() {
        let fx = setup("restore");
        let p = plan(&fx);
        let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
        commit(&mut j, &p, T0).unwrap();
        let inst = installed_files(&read(&fx.jpath).unwrap().records);
        assert_eq!(inst.keys().cloned().collect::<Vec<_>>(), {
            let mut v = vec![fx.key.clone(), fx.cert.clone(), fx.chain.clone()];
            v.sort();
            v
        });
        assert_eq!(inst[&fx.key].mode, 0o640);
        assert_eq!(inst[&fx.key].kind, "private_key");
        assert!(audit_files(&inst).is_empty());

        fs::remove_file(&fx.cert).unwrap();
        fs::write(&fx.key, b"EDITED BY HAND").unwrap();
        fs::set_permissions(&fx.chain, fs::Permissions::from_mode(0o600)).unwrap();
        let problems = audit_files(&inst);
        let kinds: BTreeMap<PathBuf, &str> = problems.iter().map(|p| (p.path.clone(), p.kind.as_str())).collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[&fx.cert], "missing");
        assert_eq!(kinds[&fx.key], "altered");
        assert_eq!(kinds[&fx.chain], "mode");
        for p in &problems {
            assert!(p.to_string().starts_with(&p.path.display().to_string()));
        }

        let restored = restore(&mut j, &problems, T0 + 100).unwrap();
        assert_eq!(restored.len(), 3);
        for r in &restored {
            assert!(matches!(r, Restored::Done { .. }), "{r:?}");
        }
        assert_all_new(&fx, "restored");
        assert!(audit_files(&inst).is_empty());
        // The hand-edited file was preserved.
        let altered = fx
            .archive_root
            .join("example.com")
            .join(format!("{}-altered", archive_stamp(T0 + 100)))
            .join("example.com.rsa.key");
        assert_eq!(fs::read(altered).unwrap(), b"EDITED BY HAND");
        let out = read(&fx.jpath).unwrap();
        assert!(out.problems.is_empty());
        let restored_events: Vec<_> = out.records.iter().filter(|r| r.event_type() == "file_restored").collect();
        assert_eq!(restored_events.len(), 3);
        assert_eq!(installed_files(&out.records), inst);

        // A missing installed copy is reported per file, not fatal.
        fs::remove_file(&fx.cert).unwrap();
        fs::remove_file(&inst[&fx.cert].installed_copy).unwrap();
        let r = restore(&mut j, &audit_files(&inst), T0 + 200).unwrap();
        assert!(matches!(&r[..], [Restored::Failed { .. }]), "{r:?}");
    }

    #[test]
    fn installed_files_ignores_uncommitted_and_applies_removals() {
        let fx = setup("state");
        let (mut j, _) = Journal::open(&fx.jpath, T0).unwrap();
        commit(&mut j, &plan(&fx), T0).unwrap();
        // Remove the chain in a later transaction.
        let p = Plan {
            key_name: "example.com".into(),
            ops: vec![FileOp { path: fx.chain.clone(), kind: "chain".into(), action: Action::Remove }],
            owner: None,
            archive_root: fx.archive_root.clone(),
        };
        commit(&mut j, &p, T0 + 1).unwrap();
        // An interrupted transaction's file_installed must not count.
        let p2 = Plan {
            key_name: "example.com".into(),
            ops: vec![FileOp {
                path: fx.cert.clone(),
                kind: "certificate".into(),
                action: Action::Write { contents: b"NEWEST".to_vec(), mode: 0o644 },
            }],
            owner: None,
            archive_root: fx.archive_root.clone(),
        };
        let e = commit_with_faults(&mut j, &p2, T0 + 2, &fault_at(Fault { step: Step::InstalledJournaled, count: 1 }))
            .unwrap_err();
        assert!(matches!(e, TxnError::Crashed(_)));
        let recs = read(&fx.jpath).unwrap().records;
        let inst = installed_files(&recs);
        assert_eq!(inst.len(), 2);
        assert!(!inst.contains_key(&fx.chain));
        assert_eq!(inst[&fx.cert].sha256, sha256_hex(b"NEW CERT"));
    }

    #[test]
    fn names_and_fault_specs() {
        let a = Path::new("/a/x.pem");
        let b = Path::new("/b/x.pem");
        let c = Path::new("/c/installed");
        assert_eq!(unique_names(&[a, b, c]).unwrap(), vec!["x.pem", "x.pem.1", "installed.1"]);
        assert_eq!(parse_fault_spec("replaced:3"), Some(Fault { step: Step::Replaced, count: 3 }));
        assert_eq!(parse_fault_spec("begun"), Some(Fault { step: Step::Begun, count: 1 }));
        assert_eq!(parse_fault_spec("nope"), None);
        for s in Step::ALL {
            assert_eq!(Step::parse(s.name()), Some(s));
        }
        let f = fault_at(Fault { step: Step::Replaced, count: 2 });
        assert!(
            f(Step::Replaced).is_ok()
                && f(Step::Begun).is_ok()
                && f(Step::Replaced).is_err()
                && f(Step::Replaced).is_ok()
        );
        #[cfg(not(feature = "fault-injection"))]
        assert!(env_faults()(Step::Begun).is_ok());
        let bad = Plan { key_name: "a/b".into(), ops: vec![], owner: None, archive_root: "/x".into() };
        assert!(matches!(validate(&bad), Err(TxnError::Invalid(_))));
    }
}
