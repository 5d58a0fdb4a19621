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
mod checkpoint;
mod event;
mod fields;
mod lock;
mod segment;
mod state;

#[cfg(test)]
pub use chain::scan;
pub use chain::{
    find_last_checkpoint, format_line, scan_events, scan_from, short, Events, LineHash, Problem, ProblemKind, Record,
    Scanned, TornTail, ZERO_HASH,
};
pub use checkpoint::CHECKPOINT_EVERY;
pub use event::{
    CertFacts, DnsRecord, Effect, Event, FileAction, FileInstalled, KeyArchived, KeyRollover, Mode, TxnBegun, TxnFile,
};
pub use lock::{lock, lock_waiting, LockGuard};
pub use segment::{repair, Repaired};
pub use state::{cert_id, AuthzState, CertState, FileState, OpenTxn, State};

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::safe_fs::{self, Dir, FsError, Trust};

use crate::time::{archive_stamp, ClockRef, Time};
use chain::Start;

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

/// Reads and verifies the journal at `path` and the segments kept before it,
/// in order and across their links, replaying every line (from the first
/// segment's checkpoint when older history was deleted). A missing file is
/// an empty journal. Every checkpoint is held against the replay.
pub fn read(path: &Path) -> Result<ReadOutcome, JournalError> {
    let io = |p: &Path, op| {
        let p = p.to_path_buf();
        move |e| JournalError::Io { path: p, op, source: e }
    };
    let segs = segment::segments(path).map_err(io(path, "list segments of"))?;
    let mut files: Vec<PathBuf> = segs.into_iter().map(|(_, p)| p).collect();
    files.push(path.to_path_buf());
    let mut next = None;
    let mut state = State::new();
    let mut out = Scanned { last_hash: ZERO_HASH.into(), ..Scanned::default() };
    let count = files.len();
    for (i, file) in files.iter().enumerate() {
        let mut f = match File::open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && i + 1 == count => break,
            Err(e) => return Err(JournalError::io(file, "open", e)),
        };
        let start = match next {
            Some(s) => s,
            None => {
                let s = segment::start_of(&mut f).map_err(io(file, "read"))?;
                if s != Start::TOP {
                    state = State::resuming(); // older history was deleted
                }
                s
            }
        };
        let scanned =
            scan_from(BufReader::new(f), start, Events::All, |r| state.apply_owned(r)).map_err(io(file, "read"))?;
        let name = (i + 1 < count).then(|| file.file_name().unwrap_or_default().to_string_lossy().into_owned());
        out.problems.extend(scanned.problems.into_iter().map(|p| Problem { file: name.clone(), ..p }));
        out.lines += scanned.lines + 1 - start.seq as usize;
        if let Some(torn) = scanned.torn {
            if name.is_some() {
                let detail = "the segment ends in a torn line".to_string();
                let (line_no, kind) = (scanned.lines + 1, ProblemKind::Malformed);
                out.problems.push(Problem { line_no, seq: None, kind, detail, file: name.clone() });
            } else {
                out.torn = Some(torn);
            }
        }
        out.last_seq = scanned.last_seq.max(out.last_seq);
        out.last_hash = scanned.last_hash.clone();
        let prev = LineHash::parse(&scanned.last_hash).unwrap_or(LineHash::ZERO);
        next = Some(Start { offset: 0, prev, seq: scanned.last_seq + 1 });
    }
    for (seq, detail) in std::mem::take(&mut state.checkpoint_problems) {
        let (kind, detail) = (ProblemKind::CheckpointMismatch, format!("checkpoint: {detail}"));
        out.problems.push(Problem { line_no: seq as usize, seq: Some(seq), kind, detail, file: None });
    }
    out.problems.sort_by_key(|p| p.line_no);
    Ok(ReadOutcome { state, scanned: out })
}

/// What a writing run starts from.
struct Replayed {
    state: State,
    /// The current file's scan (its torn tail, if any).
    scanned: Scanned,
    /// Problems in any file read.
    problems: Vec<Problem>,
    read_from: u64,
    /// Seq of the current file's first line (or the one it will have).
    segment_first: u64,
    /// The last segment, when the current file is empty after it: a
    /// compaction was interrupted after the rename.
    unfinished: Option<std::ffi::OsString>,
}

/// The state a writing run starts from: replayed from the last checkpoint
/// (the chain verified from there on), or from line 1 when there is none;
/// through the segments before the current file when it has neither.
/// `--audit` verifies everything.
fn replay_for_writing(path: &Path, file: &mut File) -> io::Result<Replayed> {
    let cur_start = segment::start_of(file)?;
    let segment_first = cur_start.seq;
    if let Some(start) = find_last_checkpoint(file)? {
        file.seek(SeekFrom::Start(start.offset))?;
        let mut state = State::resuming();
        let scanned = scan_from(BufReader::new(&mut *file), start, Events::State, |r| state.apply_owned(r))?;
        if state.checkpoint_problems.is_empty() && state.last_checkpoint.is_some() {
            let problems = scanned.problems.clone();
            return Ok(Replayed { state, scanned, problems, read_from: start.seq, segment_first, unfinished: None });
        }
    }
    let segs = segment::segments(path)?;
    let empty = file.metadata()?.len() == 0;
    if segs.is_empty() || (cur_start == Start::TOP && !empty) {
        file.seek(SeekFrom::Start(0))?;
        let mut state = State::new();
        let scanned = scan_events(BufReader::new(&mut *file), Events::State, |r| state.apply_owned(r))?;
        let problems = scanned.problems.clone();
        return Ok(Replayed { state, scanned, problems, read_from: 1, segment_first: 1, unfinished: None });
    }
    // The current file has no checkpoint of its own: the history is in the
    // segments before it.
    let (mut state, mut problems, next, read_from) = replay_segments(&segs)?;
    file.seek(SeekFrom::Start(0))?;
    let scanned = scan_from(BufReader::new(&mut *file), next, Events::State, |r| state.apply_owned(r))?;
    problems.extend(scanned.problems.iter().cloned());
    let unfinished = empty.then(|| segs.last().and_then(|(_, p)| p.file_name()).unwrap_or_default().to_os_string());
    let segment_first = if empty { state.last_seq + 1 } else { segment_first };
    Ok(Replayed { state, scanned, problems, read_from, segment_first, unfinished })
}

/// Replays the segments from the last one a replay can start in (a
/// checkpoint, or seq 1) to the end; returns the state, the problems (named
/// by file), where the chain goes on, and the seq read from.
fn replay_segments(segs: &[(u64, PathBuf)]) -> io::Result<(State, Vec<Problem>, Start, u64)> {
    let mut begin = None;
    for (i, (_, p)) in segs.iter().enumerate().rev() {
        let mut f = File::open(p)?;
        if let Some(cp) = find_last_checkpoint(&mut f)? {
            begin = Some((i, cp, State::resuming()));
            break;
        }
        if segment::start_of(&mut f)? == Start::TOP {
            begin = Some((i, Start::TOP, State::new()));
            break;
        }
    }
    let (first, start, mut state) = begin.ok_or_else(|| io::Error::other("no segment holds a checkpoint or line 1"))?;
    let read_from = start.seq;
    let mut problems = Vec::new();
    let mut next = start;
    for (_, p) in &segs[first..] {
        let mut f = File::open(p)?;
        f.seek(SeekFrom::Start(next.offset))?;
        let scanned = scan_from(BufReader::new(f), next, Events::State, |r| state.apply_owned(r))?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        problems.extend(scanned.problems.into_iter().map(|pr| Problem { file: name.clone(), ..pr }));
        if scanned.torn.is_some() {
            let detail = "the segment ends in a torn line".to_string();
            let (line_no, kind) = (scanned.lines + 1, chain::ProblemKind::Malformed);
            problems.push(Problem { line_no, seq: None, kind, detail, file: name.clone() });
        }
        let prev = LineHash::parse(&scanned.last_hash).unwrap_or(LineHash::ZERO);
        next = Start { offset: 0, prev, seq: scanned.last_seq + 1 };
    }
    Ok((state, problems, next, read_from))
}

/// What [`Journal::open`] found besides the state.
#[derive(Debug)]
pub struct Opened {
    /// Where a torn tail was saved, so the caller can warn.
    pub torn_saved_to: Option<PathBuf>,
    /// The seq of the first line read: 1, or the last checkpoint's.
    pub read_from: u64,
    /// What `--repair` did, when it was asked for and had something to do.
    pub repaired: Option<Repaired>,
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
    /// The journal's directory (private: see `safe_fs`).
    dir: Dir,
    file: File,
    /// Seq of the current segment's first line.
    segment_first: u64,
    clock: ClockRef,
    last_hash: String,
    state: State,
    poisoned: bool,
    clock_behind: Option<ClockBehind>,
    clock_warned: bool,
    /// Written before the first line this handle appends (a run's `run_started`).
    preamble: Option<Event>,
    appended: bool,
    /// Lines written since the last fsync ([`Journal::append_unsynced`]).
    unsynced: bool,
    /// The last line's time when the journal was opened (before this
    /// process wrote anything).
    last_ts_at_open: Option<Time>,
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
        Journal::open_finishing(path, clock, segment::RESUMED)
    }

    /// [`Journal::open`]; an empty file after a segment is begun with
    /// `segment_started` giving `reason`.
    fn open_finishing(path: &Path, clock: ClockRef, reason: &str) -> Result<(Journal, Opened), JournalError> {
        let (dir_path, name) = safe_fs::split(path)?;
        let dir = Dir::create(dir_path, Trust::Private, 0o700, None)?;
        let existed = dir.lstat(name).map_err(|e| JournalError::io(path, "inspect", e))?.is_some();
        let flags = libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW;
        let mut file = dir.open_own(name, flags, 0o600).map_err(|e| JournalError::io(path, "open", e))?;
        if !existed {
            dir.sync().map_err(|e| JournalError::io(dir_path, "fsync directory", e))?;
        }
        let replayed = replay_for_writing(path, &mut file).map_err(|e| JournalError::io(path, "read", e))?;
        let Replayed { state, scanned, problems, read_from, segment_first, unfinished } = replayed;
        if !problems.is_empty() {
            return Err(JournalError::Broken { path: path.to_path_buf(), problems });
        }
        let mut torn_saved_to = None;
        if let Some(torn) = &scanned.torn {
            let saved = save_torn(path, &dir, &torn.bytes, clock.now())?;
            file.set_len(torn.offset).map_err(|e| JournalError::io(path, "truncate torn tail", e))?;
            file.sync_all().map_err(|e| JournalError::io(path, "fsync", e))?;
            torn_saved_to = Some(saved);
        }
        // (An empty file after a segment: the scan started at that segment's
        // end, so its last hash is where the chain goes on.)
        let last_hash = scanned.last_hash;
        let mut journal = Journal {
            path: path.to_path_buf(),
            dir,
            file,
            segment_first,
            clock,
            last_hash,
            state,
            poisoned: false,
            clock_behind: None,
            clock_warned: false,
            preamble: None,
            appended: false,
            unsynced: false,
            last_ts_at_open: None,
        };
        journal.last_ts_at_open = journal.state.last_ts;
        if let Some(previous) = unfinished {
            journal.start_segment(&previous, reason)?;
        }
        Ok((journal, Opened { torn_saved_to, read_from, repaired: None }))
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

    /// The last line's time as the journal was found, before this process
    /// wrote to it.
    pub fn last_ts_at_open(&self) -> Option<Time> {
        self.last_ts_at_open
    }

    /// The current file's size in bytes.
    pub fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// Writes a checkpoint when this run wrote something, no transaction is
    /// open and [`CHECKPOINT_EVERY`] lines or more followed the last one.
    pub fn checkpoint_if_due(&mut self) -> Result<bool, JournalError> {
        let since = self.state.last_seq - self.state.last_checkpoint.unwrap_or(0);
        if !self.appended || !self.state.open.is_empty() || since < CHECKPOINT_EVERY {
            return Ok(false);
        }
        self.append(Event::Checkpoint { state: self.state.snapshot() })?;
        Ok(true)
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

    /// Appends an event that records a finding, not an action (an adoption):
    /// written now, fsynced with the next [`Journal::append`] or
    /// [`Journal::sync`]. Lost in a crash before that, it is found again.
    pub fn append_unsynced(&mut self, event: Event) -> Result<Record, JournalError> {
        if let Some(first) = self.preamble.take() {
            self.write(first)?;
        }
        self.write_line(event, false)
    }

    /// Makes every line appended so far durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.unsynced {
            self.file.sync_data().map_err(|e| JournalError::io(&self.path, "fsync", e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn write(&mut self, event: Event) -> Result<Record, JournalError> {
        self.write_line(event, true)
    }

    fn write_line(&mut self, event: Event, sync: bool) -> Result<Record, JournalError> {
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
        if sync {
            if let Err(e) = self.file.sync_data() {
                self.poisoned = true;
                return Err(JournalError::io(&self.path, "fsync", e));
            }
        }
        self.unsynced = !sync;
        let hash = LineHash::of(line.as_bytes());
        self.last_hash = hash.to_string();
        self.appended = true;
        let record = Record { seq, ts, clock, event, hash };
        if matches!(record.event, Event::Checkpoint { .. }) {
            // The state it holds is this state: nothing to read back.
            self.state.checkpointed(seq, ts);
        } else {
            self.state.apply(&record);
        }
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
