//! The append-only JSONL event journal, and the run lock.
//!
//! One JSON object per line, keys in this order:
//! `{"v":1,"seq":N,"ts":"2026-11-29T16:02:26Z","type":"...", ...fields..., "prev":"<sha256>"}`
//! where `prev` is the SHA-256 (lower-case hex) of the previous line's bytes without
//! its newline, or 64 zeros for the first line. `seq` starts at 1 and increments by 1.
//!
//! Reading policy (one, explicit):
//! * A **torn tail** is not an error: the bytes after the last `\n` (a write that did not
//!   finish), or, when the file ends with `\n`, a final line that is not valid JSON.
//!   [`read`] reports it in [`ReadOutcome::torn`]; [`Journal::open`] moves it aside into
//!   `journal.jsonl.torn-<YYYY_MM_DD_HHMMSS>` and truncates the journal to the last
//!   complete line.
//! * Every other bad line (invalid JSON, missing fields, wrong `seq`, `prev` that does
//!   not match the previous line's hash, unsupported `v`) is a [`Problem`]. Later lines
//!   are still parsed and returned. [`Journal::open`] refuses to append to a journal
//!   with problems ([`JournalError::Broken`]).
//!
//! Note that the chain protects each line through the *next* line's `prev`: an edit of
//! the very last line cannot be detected by the chain alone.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::time::{archive_stamp, parse_rfc3339, rfc3339, Timestamp};
use crate::types::sha256_hex;

/// The journal format version this code writes and reads.
pub const VERSION: u32 = 1;
/// The file name of the journal inside its directory.
pub const FILE_NAME: &str = "journal.jsonl";
/// The lock (pid) file name inside the pid directory.
pub const LOCK_FILE_NAME: &str = "acmebot.pid";
/// `prev` of the first line.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Field names the journal owns; events must not use them.
const RESERVED: [&str; 4] = ["v", "seq", "ts", "prev"];

/// One verified-as-far-as-possible journal line.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub ts: Timestamp,
    /// The event object: `"type"` first, then its fields; without v/seq/ts/prev.
    pub event: Value,
    /// SHA-256 hex of this line's bytes (without the newline).
    pub line_hash: String,
    /// The `prev` field as written in the line.
    pub prev: String,
    /// 1-based line number in the file.
    pub line_no: usize,
}

impl Record {
    pub fn event_type(&self) -> &str {
        self.event.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// A field of the event, if present.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.event.get(name)
    }

    /// A string field of the event, if present and a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.event.get(name).and_then(Value::as_str)
    }
}

/// Trailing bytes of an interrupted append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the torn part starts (= length of the intact journal).
    pub offset: u64,
    /// The exact torn bytes.
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not valid JSON (and not the torn tail).
    InvalidJson,
    /// Valid JSON, but not a journal record (missing or mistyped v/seq/ts/type/prev).
    Malformed,
    /// `v` is not a version this program reads.
    UnsupportedVersion,
    /// `seq` is not the previous record's seq + 1.
    SeqMismatch,
    /// `prev` differs from the hash of the previous line.
    PrevMismatch,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::InvalidJson => "invalid JSON",
            ProblemKind::Malformed => "malformed record",
            ProblemKind::UnsupportedVersion => "unsupported version",
            ProblemKind::SeqMismatch => "wrong seq",
            ProblemKind::PrevMismatch => "broken chain",
        }
    }
}

/// A bad line in the middle of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line_no: usize,
    /// The line's `seq`, when it could be read.
    pub seq: Option<u64>,
    pub kind: ProblemKind,
    /// Human-readable detail, e.g. `prev is 3fa1…, but line 6 hashes to 9bc0…`.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(s) => write!(f, "line {} (seq {}): {}", self.line_no, s, self.detail),
            None => write!(f, "line {}: {}", self.line_no, self.detail),
        }
    }
}

/// Everything [`read`] found.
#[derive(Clone, Debug, Default)]
pub struct ReadOutcome {
    pub records: Vec<Record>,
    pub torn: Option<TornTail>,
    pub problems: Vec<Problem>,
    /// Number of complete lines (excluding a torn tail).
    pub lines: usize,
    /// Hash of the last complete line (ZERO_HASH if none): the next line's `prev`.
    pub last_hash: String,
}

#[derive(Debug)]
pub enum JournalError {
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// The chain has problems; the run must not append to it.
    Broken {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    /// Another process holds the run lock.
    Locked {
        path: PathBuf,
        pid: Option<u32>,
    },
    /// The event handed to `append` cannot be journaled.
    BadEvent {
        path: PathBuf,
        detail: String,
    },
    /// An earlier append failed part-way; this handle must not append any more.
    Poisoned {
        path: PathBuf,
    },
}

impl JournalError {
    fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        JournalError::Io { path: path.to_path_buf(), op, source }
    }

    pub fn path(&self) -> &Path {
        match self {
            JournalError::Io { path, .. }
            | JournalError::Broken { path, .. }
            | JournalError::Locked { path, .. }
            | JournalError::BadEvent { path, .. }
            | JournalError::Poisoned { path } => path,
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, op, source } => write!(f, "journal {}: cannot {}: {}", path.display(), op, source),
            JournalError::Broken { path, problems } => {
                write!(
                    f,
                    "journal {} is broken ({} problem{}); refusing to append; run --audit for details",
                    path.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                )?;
                for p in problems.iter().take(5) {
                    write!(f, "\n  {p}")?;
                }
                if problems.len() > 5 {
                    write!(f, "\n  ... and {} more", problems.len() - 5)?;
                }
                Ok(())
            }
            JournalError::Locked { path, pid } => match pid {
                Some(pid) => write!(
                    f,
                    "another acmebot run (pid {}) holds {}; try again when it has finished",
                    pid,
                    path.display()
                ),
                None => write!(f, "another acmebot run holds {}; try again when it has finished", path.display()),
            },
            JournalError::BadEvent { path, detail } => {
                write!(f, "journal {}: cannot journal event: {}", path.display(), detail)
            }
            JournalError::Poisoned { path } => {
                write!(f, "journal {}: an earlier append failed; not appending again in this run", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Abbreviates a hash for messages: first 8 hex digits and an ellipsis.
pub fn short(hash: &str) -> String {
    if hash.len() > 8 {
        format!("{}…", &hash[..8])
    } else {
        hash.to_string()
    }
}

/// Reads and verifies the journal at `path`. A missing file is an empty journal.
pub fn read(path: &Path) -> Result<ReadOutcome, JournalError> {
    match fs::read(path) {
        Ok(bytes) => Ok(parse(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(parse(&[])),
        Err(e) => Err(JournalError::io(path, "read", e)),
    }
}

/// Parses and verifies journal bytes (see the module doc for the policy).
pub fn parse(bytes: &[u8]) -> ReadOutcome {
    let mut out = ReadOutcome { last_hash: ZERO_HASH.to_string(), ..Default::default() };
    // Split into complete lines (with their start offsets) and the unterminated rest.
    let mut lines: Vec<(usize, &[u8])> = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            lines.push((start, &bytes[start..i]));
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.torn = Some(TornTail { offset: start as u64, bytes: bytes[start..].to_vec() });
    } else if let Some(&(off, last)) = lines.last() {
        // The file ends with '\n': a final line that is not JSON is a torn write too.
        if serde_json::from_slice::<Value>(last).is_err() {
            out.torn = Some(TornTail { offset: off as u64, bytes: bytes[off..].to_vec() });
            lines.pop();
        }
    }
    out.lines = lines.len();

    let mut prev_hash = ZERO_HASH.to_string();
    let mut expected_seq: u64 = 1;
    for (idx, &(_, line)) in lines.iter().enumerate() {
        let line_no = idx + 1;
        let hash = sha256_hex(line);
        let result = parse_line(line, line_no, &prev_hash, expected_seq, &hash, &mut out.problems);
        match result {
            Some(rec) => {
                expected_seq = rec.seq + 1;
                out.records.push(rec);
            }
            None => expected_seq += 1,
        }
        prev_hash = hash;
    }
    out.last_hash = prev_hash;
    out
}

fn parse_line(
    line: &[u8],
    line_no: usize,
    prev_hash: &str,
    expected_seq: u64,
    hash: &str,
    problems: &mut Vec<Problem>,
) -> Option<Record> {
    let prob =
        |problems: &mut Vec<Problem>, seq, kind, detail: String| problems.push(Problem { line_no, seq, kind, detail });
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            prob(problems, None, ProblemKind::InvalidJson, format!("not valid JSON ({e})"));
            return None;
        }
    };
    let Value::Object(mut obj) = value else {
        prob(problems, None, ProblemKind::Malformed, "not a JSON object".into());
        return None;
    };
    let seq = obj.get("seq").and_then(Value::as_u64);
    let Some(v) = obj.get("v").and_then(Value::as_u64) else {
        prob(problems, seq, ProblemKind::Malformed, "no numeric \"v\" field".into());
        return None;
    };
    if v != VERSION as u64 {
        prob(
            problems,
            seq,
            ProblemKind::UnsupportedVersion,
            format!("version {v} is not supported (this program reads version {VERSION})"),
        );
        return None;
    }
    let Some(seq) = seq else {
        prob(problems, None, ProblemKind::Malformed, "no numeric \"seq\" field".into());
        return None;
    };
    let ts = match obj.get("ts").and_then(Value::as_str).map(|s| (s.to_string(), parse_rfc3339(s))) {
        Some((_, Some(t))) => t,
        Some((s, None)) => {
            prob(problems, Some(seq), ProblemKind::Malformed, format!("\"ts\" {s:?} is not an RFC 3339 time"));
            return None;
        }
        None => {
            prob(problems, Some(seq), ProblemKind::Malformed, "no \"ts\" string".into());
            return None;
        }
    };
    if obj.get("type").and_then(Value::as_str).is_none() {
        prob(problems, Some(seq), ProblemKind::Malformed, "no \"type\" string".into());
        return None;
    }
    let prev = match obj.get("prev").and_then(Value::as_str) {
        Some(p) => p.to_string(),
        None => {
            prob(problems, Some(seq), ProblemKind::Malformed, "no \"prev\" string".into());
            return None;
        }
    };
    if seq != expected_seq {
        prob(problems, Some(seq), ProblemKind::SeqMismatch, format!("seq is {seq}, expected {expected_seq}"));
    }
    if prev != prev_hash {
        let detail = if line_no == 1 {
            format!("prev is {}, but the first line must have prev {}", short(&prev), short(ZERO_HASH))
        } else {
            format!("prev is {}, but line {} hashes to {}", short(&prev), line_no - 1, short(prev_hash))
        };
        prob(problems, Some(seq), ProblemKind::PrevMismatch, detail);
    }
    for k in RESERVED {
        obj.shift_remove(k);
    }
    Some(Record { v: v as u32, seq, ts, event: Value::Object(obj), line_hash: hash.to_string(), prev, line_no })
}

/// Serializes one journal line (without the newline).
pub fn format_line(seq: u64, ts: Timestamp, event: &Value, prev: &str) -> Result<String, String> {
    let Value::Object(ev) = event else {
        return Err("event is not a JSON object".into());
    };
    let Some(ty) = ev.get("type").and_then(Value::as_str) else {
        return Err("event has no \"type\" string".into());
    };
    let mut m = Map::new();
    m.insert("v".into(), Value::from(VERSION));
    m.insert("seq".into(), Value::from(seq));
    m.insert("ts".into(), Value::from(rfc3339(ts)));
    m.insert("type".into(), Value::from(ty));
    for (k, v) in ev {
        if k == "type" {
            continue;
        }
        if RESERVED.contains(&k.as_str()) {
            return Err(format!("event {ty:?} uses the reserved field name {k:?}"));
        }
        m.insert(k.clone(), v.clone());
    }
    m.insert("prev".into(), Value::from(prev));
    serde_json::to_string(&Value::Object(m)).map_err(|e| e.to_string())
}

/// What [`Journal::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// All records of the (verified) journal.
    pub records: Vec<Record>,
    /// Where a torn tail was saved, so the caller can warn.
    pub torn_saved_to: Option<PathBuf>,
}

/// The journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    last_seq: u64,
    last_hash: String,
    poisoned: bool,
}

/// fsyncs a directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for appending. Creates the
    /// parent directory (0700) and the file (0600) if missing. A torn tail is saved to
    /// `<path>.torn-<stamp>` and cut off. A journal with chain problems is refused.
    pub fn open(path: &Path, now: Timestamp) -> Result<(Journal, Opened), JournalError> {
        let dir = parent_of(path);
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| JournalError::io(dir, "create directory", e))?;
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| JournalError::io(path, "open", e))?;
        if !existed {
            sync_dir(dir).map_err(|e| JournalError::io(dir, "fsync directory", e))?;
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(|e| JournalError::io(path, "seek", e))?;
        file.read_to_end(&mut bytes).map_err(|e| JournalError::io(path, "read", e))?;
        let outcome = parse(&bytes);
        if !outcome.problems.is_empty() {
            return Err(JournalError::Broken { path: path.to_path_buf(), problems: outcome.problems });
        }
        let mut torn_saved_to = None;
        if let Some(torn) = &outcome.torn {
            let saved = save_torn(path, dir, &torn.bytes, now)?;
            file.set_len(torn.offset).map_err(|e| JournalError::io(path, "truncate torn tail", e))?;
            file.sync_all().map_err(|e| JournalError::io(path, "fsync", e))?;
            torn_saved_to = Some(saved);
        }
        let last_seq = outcome.records.last().map(|r| r.seq).unwrap_or(0);
        let journal =
            Journal { path: path.to_path_buf(), file, last_seq, last_hash: outcome.last_hash, poisoned: false };
        Ok((journal, Opened { records: outcome.records, torn_saved_to }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seq of the last line (0 for an empty journal).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Hash of the last line (ZERO_HASH for an empty journal).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Appends one event and fsyncs it. The action it records counts as done only
    /// after this returns Ok. Returns the new line's seq.
    pub fn append(&mut self, ts: Timestamp, event: &Value) -> Result<u64, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { path: self.path.clone() });
        }
        let seq = self.last_seq + 1;
        let line = format_line(seq, ts, event, &self.last_hash)
            .map_err(|detail| JournalError::BadEvent { path: self.path.clone(), detail })?;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if let Err(e) = self.file.write_all(&buf) {
            self.poisoned = true;
            return Err(JournalError::io(&self.path, "append", e));
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(JournalError::io(&self.path, "fsync", e));
        }
        self.last_seq = seq;
        self.last_hash = sha256_hex(line.as_bytes());
        Ok(seq)
    }
}

/// Writes the torn bytes to a new file next to the journal (O_EXCL, fsynced).
fn save_torn(path: &Path, dir: &Path, bytes: &[u8], now: Timestamp) -> Result<PathBuf, JournalError> {
    let base = format!(
        "{}.torn-{}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.into()),
        archive_stamp(now)
    );
    for n in 0..1000 {
        let name = if n == 0 { base.clone() } else { format!("{base}.{n}") };
        let target = dir.join(&name);
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target) {
            Ok(mut f) => {
                f.write_all(bytes).map_err(|e| JournalError::io(&target, "write torn tail", e))?;
                f.sync_all().map_err(|e| JournalError::io(&target, "fsync", e))?;
                sync_dir(dir).map_err(|e| JournalError::io(dir, "fsync directory", e))?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(JournalError::io(&target, "create", e)),
        }
    }
    Err(JournalError::io(dir, "find a free name for the torn tail", io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// A human-readable verification report of a journal (for `--audit`).
#[derive(Clone, Debug)]
pub struct ChainReport {
    pub path: PathBuf,
    pub lines: usize,
    pub records: usize,
    pub last_seq: Option<u64>,
    pub problems: Vec<Problem>,
    pub torn: Option<TornTail>,
    /// Set when the file could not be read at all.
    pub error: Option<String>,
}

impl ChainReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.torn.is_none() && self.error.is_none()
    }
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.error {
            return write!(f, "journal {}: {}", self.path.display(), e);
        }
        write!(f, "journal {}: {} line{}", self.path.display(), self.lines, if self.lines == 1 { "" } else { "s" })?;
        if let Some(s) = self.last_seq {
            write!(f, ", last seq {s}")?;
        }
        if self.problems.is_empty() {
            write!(f, "; chain intact")?;
        } else {
            write!(f, "; {} problem{}:", self.problems.len(), if self.problems.len() == 1 { "" } else { "s" })?;
            for p in &self.problems {
                write!(f, "\n  {}: {}", p, p.kind.as_str())?;
            }
        }
        if let Some(t) = &self.torn {
            write!(
                f,
                "\n  torn tail at byte {} ({} bytes, an interrupted append; it will be moved aside on the next run)",
                t.offset,
                t.bytes.len()
            )?;
        }
        Ok(())
    }
}

/// Verifies the journal at `path` and reports on it.
pub fn audit_chain(path: &Path) -> ChainReport {
    match read(path) {
        Ok(o) => ChainReport {
            path: path.to_path_buf(),
            lines: o.lines,
            records: o.records.len(),
            last_seq: o.records.last().map(|r| r.seq),
            problems: o.problems,
            torn: o.torn,
            error: None,
        },
        Err(e) => ChainReport {
            path: path.to_path_buf(),
            lines: 0,
            records: 0,
            last_seq: None,
            problems: vec![],
            torn: None,
            error: Some(e.to_string()),
        },
    }
}

/// Holds the run lock; released when dropped (the pid file itself is left in place).
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock too; unlock explicitly anyway.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Takes the run lock `<pid_dir>/acmebot.pid` (flock, non-blocking) and writes our pid.
pub fn lock(pid_dir: &Path) -> Result<LockGuard, JournalError> {
    if !pid_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(pid_dir)
            .map_err(|e| JournalError::io(pid_dir, "create directory", e))?;
    }
    let path = pid_dir.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| JournalError::io(&path, "open lock file", e))?;
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            let pid = s.trim().parse::<u32>().ok();
            return Err(JournalError::Locked { path, pid });
        }
        return Err(JournalError::io(&path, "lock", err));
    }
    let pid = std::process::id();
    file.set_len(0).map_err(|e| JournalError::io(&path, "truncate lock file", e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| JournalError::io(&path, "seek", e))?;
    file.write_all(format!("{pid}\n").as_bytes()).map_err(|e| JournalError::io(&path, "write pid", e))?;
    Ok(LockGuard { file, path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    const T0: Timestamp = 1_795_968_146; // 2026-11-29T16:02:26Z

    fn tmpdir(name: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "acmebot-journal-test-{}-{}-{}",
            std::process::id(),
            name,
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_events(path: &Path, n: u64) -> Vec<Value> {
        let (mut j, opened) = Journal::open(path, T0).unwrap();
        assert!(opened.records.is_empty());
        let mut evs = vec![];
        for i in 0..n {
            let ev = json!({"type": "key_generated", "key": format!("k{i}"), "n": i});
            assert_eq!(j.append(T0 + i as i64, &ev).unwrap(), i + 1);
            evs.push(ev);
        }
        evs
    }

    #[test]
    fn round_trip_and_format() {
        let d = tmpdir("rt");
        let path = d.join("sub/dir").join(FILE_NAME);
        let evs = write_events(&path, 3);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(first, format!("{{\"v\":1,\"seq\":1,\"ts\":\"2026-11-29T16:02:26Z\",\"type\":\"key_generated\",\"key\":\"k0\",\"n\":0,\"prev\":\"{ZERO_HASH}\"}}"));
        let out = read(&path).unwrap();
        assert!(out.problems.is_empty() && out.torn.is_none());
        assert_eq!(out.records.len(), 3);
        for (i, r) in out.records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(r.ts, T0 + i as i64);
            assert_eq!(r.event, evs[i]);
            assert_eq!(r.event_type(), "key_generated");
            assert_eq!(r.line_hash, sha256_hex(text.lines().nth(i).unwrap().as_bytes()));
        }
        assert_eq!(out.records[1].prev, out.records[0].line_hash);
        // Reopen and continue the chain.
        let (mut j, opened) = Journal::open(&path, T0).unwrap();
        assert_eq!(opened.records.len(), 3);
        assert_eq!(j.last_seq(), 3);
        assert_eq!(j.append(T0, &json!({"type": "x"})).unwrap(), 4);
        let out = read(&path).unwrap();
        assert!(out.problems.is_empty());
        assert_eq!(out.records[3].prev, out.records[2].line_hash);
        // "type" is placed first even if the event object has it later.
        let line = format_line(9, T0, &json!({"a": 1, "type": "t"}), ZERO_HASH).unwrap();
        assert!(line.starts_with("{\"v\":1,\"seq\":9,\"ts\":\"2026-11-29T16:02:26Z\",\"type\":\"t\",\"a\":1,\"prev\":"));
        // Reserved names and non-objects are refused.
        assert!(matches!(j.append(T0, &json!({"type": "t", "seq": 1})), Err(JournalError::BadEvent { .. })));
        assert!(matches!(j.append(T0, &json!({"no_type": 1})), Err(JournalError::BadEvent { .. })));
        assert!(matches!(j.append(T0, &json!([1])), Err(JournalError::BadEvent { .. })));
        assert_eq!(j.append(T0, &json!({"type": "y"})).unwrap(), 5);
        assert!(read(&path).unwrap().problems.is_empty());
        // Missing file = empty.
        let out = read(&d.join("nope.jsonl")).unwrap();
        assert!(out.records.is_empty() && out.torn.is_none() && out.problems.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    fn check_torn(tail: &[u8], name: &str) {
        let d = tmpdir(name);
        let path = d.join(FILE_NAME);
        write_events(&path, 3);
        let good = fs::read(&path).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(tail).unwrap();
        drop(f);
        let out = read(&path).unwrap();
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.records.len(), 3);
        assert_eq!(out.torn, Some(TornTail { offset: good.len() as u64, bytes: tail.to_vec() }));
        let report = audit_chain(&path);
        assert!(!report.is_ok());
        assert!(report.to_string().contains("torn tail"), "{report}");

        let (mut j, opened) = Journal::open(&path, T0).unwrap();
        let saved = opened.torn_saved_to.unwrap();
        assert_eq!(saved, d.join("journal.jsonl.torn-2026_11_29_160226"));
        assert_eq!(fs::read(&saved).unwrap(), tail);
        assert_eq!(fs::read(&path).unwrap(), good);
        assert_eq!(opened.records.len(), 3);
        assert_eq!(j.append(T0, &json!({"type": "after"})).unwrap(), 4);
        let out = read(&path).unwrap();
        assert!(out.problems.is_empty() && out.torn.is_none());
        assert_eq!(out.records[3].seq, 4);
        assert_eq!(out.records[3].prev, out.records[2].line_hash);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn torn_tail_without_newline() {
        // A whole, valid object but no newline: the append did not finish.
        let line = format_line(4, T0, &json!({"type": "x"}), ZERO_HASH).unwrap();
        check_torn(line.as_bytes(), "torn1");
    }

    #[test]
    fn torn_tail_half_object() {
        check_torn(b"{\"v\":1,\"seq\":4,\"ts\":\"2026-11-", "torn2");
    }

    #[test]
    fn torn_tail_garbage_with_newline() {
        check_torn(b"{\"v\":1,\"seq\0\0\0\n", "torn3");
    }

    #[test]
    fn torn_name_collision_uses_suffix() {
        let d = tmpdir("torncoll");
        let path = d.join(FILE_NAME);
        write_events(&path, 1);
        fs::write(d.join("journal.jsonl.torn-2026_11_29_160226"), b"older").unwrap();
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"v").unwrap();
        let (_j, opened) = Journal::open(&path, T0).unwrap();
        assert_eq!(opened.torn_saved_to.unwrap(), d.join("journal.jsonl.torn-2026_11_29_160226.1"));
        assert_eq!(fs::read(d.join("journal.jsonl.torn-2026_11_29_160226")).unwrap(), b"older");
        fs::remove_dir_all(&d).unwrap();
    }

    fn lines_of(path: &Path) -> Vec<String> {
        fs::read_to_string(path).unwrap().lines().map(String::from).collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        let mut s = lines.join("\n");
        s.push('\n');
        fs::write(path, s).unwrap();
    }

    #[test]
    fn broken_chain_in_the_middle() {
        let d = tmpdir("broken");
        let path = d.join(FILE_NAME);
        write_events(&path, 8);
        let mut lines = lines_of(&path);
        // Delete line 4: line 5 (now line 4) has seq 5 and a prev of the deleted line.
        let removed_hash = sha256_hex(lines[3].as_bytes());
        let line3_hash = sha256_hex(lines[2].as_bytes());
        lines.remove(3);
        write_lines(&path, &lines);
        let out = read(&path).unwrap();
        assert_eq!(out.records.len(), 7, "records after the problem are still returned");
        assert_eq!(out.problems.len(), 2, "{:?}", out.problems);
        assert_eq!(out.problems[0].line_no, 4);
        assert_eq!(out.problems[0].kind, ProblemKind::SeqMismatch);
        assert_eq!(out.problems[1].kind, ProblemKind::PrevMismatch);
        assert_eq!(
            out.problems[1].to_string(),
            format!("line 4 (seq 5): prev is {}, but line 3 hashes to {}", short(&removed_hash), short(&line3_hash))
        );
        let err = Journal::open(&path, T0).unwrap_err();
        match &err {
            JournalError::Broken { path: p, problems } => {
                assert_eq!(p, &path);
                assert_eq!(problems.len(), 2);
            }
            e => panic!("{e}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
        let report = audit_chain(&path).to_string();
        assert!(report.contains("line 4 (seq 5)"), "{report}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn edited_field_detected() {
        let d = tmpdir("edited");
        let path = d.join(FILE_NAME);
        write_events(&path, 8);
        let mut lines = lines_of(&path);
        lines[5] = lines[5].replace("\"k5\"", "\"evil\"");
        write_lines(&path, &lines);
        let out = read(&path).unwrap();
        assert_eq!(out.records.len(), 8);
        assert_eq!(out.problems.len(), 1);
        let p = &out.problems[0];
        assert_eq!((p.line_no, p.seq, p.kind), (7, Some(7), ProblemKind::PrevMismatch));
        assert!(p.to_string().starts_with("line 7 (seq 7): prev is "), "{p}");
        assert!(p.detail.contains(&format!("but line 6 hashes to {}", short(&sha256_hex(lines[5].as_bytes())))));
        assert!(Journal::open(&path, T0).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn invalid_line_in_middle_and_bad_version() {
        let d = tmpdir("invalid");
        let path = d.join(FILE_NAME);
        write_events(&path, 5);
        let mut lines = lines_of(&path);
        lines[1] = "not json".into();
        lines[3] = lines[3].replacen("\"v\":1", "\"v\":2", 1);
        write_lines(&path, &lines);
        let out = read(&path).unwrap();
        let kinds: Vec<_> = out.problems.iter().map(|p| (p.line_no, p.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (2, ProblemKind::InvalidJson),
                (3, ProblemKind::PrevMismatch),
                (4, ProblemKind::UnsupportedVersion),
                (5, ProblemKind::PrevMismatch)
            ]
        );
        assert_eq!(out.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 3, 5]);
        assert!(out.torn.is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn lock_contention() {
        let d = tmpdir("lock");
        let g = lock(&d).unwrap();
        let pid_path = d.join(LOCK_FILE_NAME);
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        assert_eq!(fs::metadata(&pid_path).unwrap().permissions().mode() & 0o777, 0o644);
        let err = lock(&d).unwrap_err();
        match &err {
            JournalError::Locked { path, pid } => {
                assert_eq!(path, &pid_path);
                assert_eq!(*pid, Some(std::process::id()));
            }
            e => panic!("{e}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "another acmebot run (pid {}) holds {}; try again when it has finished",
                std::process::id(),
                pid_path.display()
            )
        );
        // The failed attempt did not clobber the pid.
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        drop(g);
        // Stale file (lock released): fine.
        fs::write(&pid_path, "999999\n").unwrap();
        let g2 = lock(&d).unwrap();
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        drop(g2);
        assert!(pid_path.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn append_fsync_path_and_poison() {
        let d = tmpdir("fsync");
        let path = d.join(FILE_NAME);
        let (mut j, _) = Journal::open(&path, T0).unwrap();
        j.append(T0, &json!({"type": "a"})).unwrap();
        // Each append is durable on return: another reader sees it immediately.
        assert_eq!(read(&path).unwrap().records.len(), 1);
        // An append that fails poisons the handle.
        let ro = OpenOptions::new().read(true).open(&path).unwrap();
        let mut bad = Journal {
            path: path.clone(),
            file: ro,
            last_seq: 1,
            last_hash: j.last_hash().to_string(),
            poisoned: false,
        };
        assert!(matches!(bad.append(T0, &json!({"type": "b"})), Err(JournalError::Io { .. })));
        assert!(matches!(bad.append(T0, &json!({"type": "b"})), Err(JournalError::Poisoned { .. })));
        assert_eq!(j.append(T0, &json!({"type": "c"})).unwrap(), 2);
        fs::remove_dir_all(&d).unwrap();
    }
}
