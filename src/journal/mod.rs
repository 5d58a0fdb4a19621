//! The append-only JSONL event journal: its line format and hash chain
//! ([`chain`]), the event vocabulary ([`event`]), the one replay ([`state`]),
//! and the run lock ([`lock`]).
//!
//! [`Journal::open`] reads the file once, line by line, applying every record
//! to a [`State`]; [`Journal::append`] writes one event (fsynced before it
//! returns: the action it records counts as done only then), returns its
//! [`Record`] and applies that one record to the state. Nothing re-reads the
//! file during a run.

mod chain;
mod event;
mod fields;
mod lock;
mod state;

pub use chain::{
    format_line, scan, scan_events, short, Events, LineHash, Problem, Record, Scanned, TornTail, ZERO_HASH,
};
pub use event::{
    CertFacts, DnsRecord, Effect, Event, FileAction, FileInstalled, KeyArchived, KeyRollover, Mode, TxnBegun, TxnFile,
};
pub use lock::{lock, LockGuard};
pub use state::{cert_id, CertState, FileState, OpenTxn, State};

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::safe_fs::{self, Dir, FsError, Trust};
use crate::time::{archive_stamp, ClockRef, Time};

/// The file name of the journal inside its directory.
pub const FILE_NAME: &str = "journal.jsonl";

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
    /// The journal's (or the lock's) directory or file is not safe to use
    /// (see `safe_fs`).
    Unsafe {
        path: PathBuf,
        reason: String,
    },
}

impl From<FsError> for JournalError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Io { path, op, source } => JournalError::Io { path, op, source },
            FsError::Unsafe { path, reason } => JournalError::Unsafe { path, reason },
        }
    }
}

impl JournalError {
    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        JournalError::Io { path: path.to_path_buf(), op, source }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, op, source } => write!(f, "journal {}: cannot {}: {}", path.display(), op, source),
            JournalError::Broken { path, problems } => {
                let n = problems.len();
                let s = if n == 1 { "" } else { "s" };
                write!(
                    f,
                    "journal {} is broken ({n} problem{s}); refusing to append; run --audit for details",
                    path.display()
                )?;
                for p in problems.iter().take(5) {
                    write!(f, "\n  {p}")?;
                }
                if n > 5 {
                    write!(f, "\n  ... and {} more", n - 5)?;
                }
                Ok(())
            }
            JournalError::Locked { path, pid } => match pid {
                Some(pid) => {
                    write!(
                        f,
                        "another acmebot run (pid {pid}) holds {}; try again when it has finished",
                        path.display()
                    )
                }
                None => write!(f, "another acmebot run holds {}; try again when it has finished", path.display()),
            },
            JournalError::BadEvent { path, detail } => {
                write!(f, "journal {}: cannot journal event: {}", path.display(), detail)
            }
            JournalError::Poisoned { path } => {
                write!(f, "journal {}: an earlier append failed; not appending again in this run", path.display())
            }
            JournalError::Unsafe { path, reason } => write!(f, "refusing to use {}: {reason}", path.display()),
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

/// A journal read without writing (`--replay`, `--audit`).
#[derive(Debug)]
pub struct ReadOutcome {
    pub state: State,
    pub scanned: Scanned,
}

/// Reads and verifies the journal at `path`, replaying it. A missing file is
/// an empty journal.
pub fn read(path: &Path) -> Result<ReadOutcome, JournalError> {
    let mut state = State::new();
    let scanned = match File::open(path) {
        Ok(f) => scan(BufReader::new(f), |r| state.apply_owned(r)).map_err(|e| JournalError::io(path, "read", e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Scanned { last_hash: ZERO_HASH.into(), ..Scanned::default() },
        Err(e) => return Err(JournalError::io(path, "open", e)),
    };
    Ok(ReadOutcome { state, scanned })
}

/// What [`Journal::open`] found besides the state.
#[derive(Debug)]
pub struct Opened {
    /// Where a torn tail was saved, so the caller can warn.
    pub torn_saved_to: Option<PathBuf>,
}

/// The system clock was behind the journal's last line: lines were written
/// with the last line's time instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockBehind {
    pub clock: Time,
    pub last: Time,
}

/// The journal, open for appending, with its replayed state.
pub struct Journal {
    path: PathBuf,
    file: File,
    clock: ClockRef,
    last_hash: String,
    state: State,
    poisoned: bool,
    clock_behind: Option<ClockBehind>,
    clock_warned: bool,
    /// Written before the first line this handle appends (a run's `run_started`).
    preamble: Option<Event>,
    appended: bool,
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for appending and
    /// replays it. Creates the parent directory (0700) and the file (0600) if
    /// missing. A torn tail is saved to `<path>.torn-<stamp>` and cut off. A
    /// journal with chain problems is refused.
    pub fn open(path: &Path, clock: ClockRef) -> Result<(Journal, Opened), JournalError> {
        let (dir_path, name) = safe_fs::split(path)?;
        let dir = Dir::create(dir_path, Trust::Private, 0o700, None)?;
        let existed = dir.lstat(name).map_err(|e| JournalError::io(path, "inspect", e))?.is_some();
        let flags = libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW;
        let mut file = dir.open_own(name, flags, 0o600).map_err(|e| JournalError::io(path, "open", e))?;
        if !existed {
            dir.sync().map_err(|e| JournalError::io(dir_path, "fsync directory", e))?;
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| JournalError::io(path, "seek", e))?;
        let mut state = State::new();
        let scanned = scan_events(BufReader::new(&mut file), Events::State, |r| state.apply_owned(r))
            .map_err(|e| JournalError::io(path, "read", e))?;
        if !scanned.problems.is_empty() {
            return Err(JournalError::Broken { path: path.to_path_buf(), problems: scanned.problems });
        }
        let mut torn_saved_to = None;
        if let Some(torn) = &scanned.torn {
            let saved = save_torn(path, &dir, &torn.bytes, clock.now())?;
            file.set_len(torn.offset).map_err(|e| JournalError::io(path, "truncate torn tail", e))?;
            file.sync_all().map_err(|e| JournalError::io(path, "fsync", e))?;
            torn_saved_to = Some(saved);
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file,
            clock,
            last_hash: scanned.last_hash,
            state,
            poisoned: false,
            clock_behind: None,
            clock_warned: false,
            preamble: None,
            appended: false,
        };
        Ok((journal, Opened { torn_saved_to }))
    }

    /// The replayed state, up to the last line written.
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn clock(&self) -> ClockRef {
        self.clock
    }

    /// `event` is written before the first line this handle appends, if it
    /// appends any: a run that changes nothing writes nothing.
    pub fn begin_with(&mut self, event: Event) {
        if !self.appended {
            self.preamble = Some(event);
        }
    }

    /// Whether this handle appended anything.
    pub fn appended(&self) -> bool {
        self.appended
    }

    /// Appends one event, timed now (never earlier than the line before),
    /// fsyncs it and applies it to the state. The action it records counts
    /// as done only after this returns Ok.
    pub fn append(&mut self, event: Event) -> Result<Record, JournalError> {
        if let Some(first) = self.preamble.take() {
            self.write(first)?;
        }
        self.write(event)
    }

    fn write(&mut self, event: Event) -> Result<Record, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { path: self.path.clone() });
        }
        let seq = self.state.last_seq + 1;
        let real = self.clock.now();
        let (ts, clock) = match self.state.last_ts {
            Some(last) if real < last => {
                self.clock_behind.get_or_insert(ClockBehind { clock: real, last });
                (last, Some(real))
            }
            _ => (real, None),
        };
        let line = format_line(seq, ts, clock, &event, &self.last_hash)
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
        let hash = LineHash::of(line.as_bytes());
        self.last_hash = hash.to_string();
        self.appended = true;
        let record = Record { seq, ts, clock, event, hash };
        self.state.apply(&record);
        Ok(record)
    }

    /// The first time in this run the clock was found behind the journal, once.
    pub fn take_clock_warning(&mut self) -> Option<ClockBehind> {
        if self.clock_warned {
            return None;
        }
        let w = self.clock_behind?;
        self.clock_warned = true;
        Some(w)
    }
}

/// Writes the torn bytes to a new file next to the journal (O_EXCL, fsynced).
fn save_torn(path: &Path, dir: &Dir, bytes: &[u8], now: Time) -> Result<PathBuf, JournalError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.into());
    let base = format!("{name}.torn-{}", archive_stamp(now.secs()));
    for n in 0..1000 {
        let name = if n == 0 { base.clone() } else { format!("{base}.{n}") };
        let target = parent_of(path).join(&name);
        match dir.create_new(name.as_ref(), 0o600, None) {
            Ok(mut f) => {
                f.write_all(bytes).map_err(|e| JournalError::io(&target, "write torn tail", e))?;
                f.sync_all().map_err(|e| JournalError::io(&target, "fsync", e))?;
                dir.sync().map_err(|e| JournalError::io(dir.path(), "fsync directory", e))?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(JournalError::io(&target, "create", e)),
        }
    }
    let busy = io::Error::from(io::ErrorKind::AlreadyExists);
    Err(JournalError::io(dir.path(), "find a free name for the torn tail", busy))
}

/// A human-readable verification report of a journal (for `--audit`).
#[derive(Clone, Debug)]
pub struct ChainReport {
    pub path: PathBuf,
    pub lines: usize,
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

    pub fn of(path: &Path, read: &Result<ReadOutcome, JournalError>) -> ChainReport {
        match read {
            Ok(o) => ChainReport {
                path: path.to_path_buf(),
                lines: o.scanned.lines,
                last_seq: (o.scanned.last_seq > 0).then_some(o.scanned.last_seq),
                problems: o.scanned.problems.clone(),
                torn: o.scanned.torn.clone(),
                error: None,
            },
            Err(e) => ChainReport {
                path: path.to_path_buf(),
                lines: 0,
                last_seq: None,
                problems: vec![],
                torn: None,
                error: Some(e.to_string()),
            },
        }
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

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
