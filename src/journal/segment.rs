//! Journal segments: compaction keeps the journal file small without losing
//! the chain. The current segment is `journal.jsonl`; compaction renames it
//! to `journal.<first seq, 10 digits>.jsonl` and starts a new one whose first
//! line, `segment_started`, chains to the old segment's last line (`prev`,
//! and `seq` goes on), followed by a `checkpoint` with the whole state.
//! Old segments beyond the retention setting are deleted, each deletion
//! journaled (`segment_deleted`, with the file's SHA-256) before the file
//! goes. A crash between the rename and the new file is finished by the next
//! run. `--audit` reads every segment kept, in order, across the links.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use std::io::Write;

use super::chain::{scan_from, Envelope, Events, LineHash, Start};
use super::{parent_of, Event, Journal, JournalError};
use crate::safe_fs::{self, Dir, Trust};
use crate::time::{archive_stamp, ClockRef};
use crate::types::sha256_hex;

/// Why a segment was started.
pub const COMPACTED: &str = "compacted";
pub const RESUMED: &str = "compaction finished after an interruption";
pub const REPAIRED: &str = "repair: the damaged part of the journal was set aside";

/// The file name of the segment whose first line has `first_seq`.
pub fn segment_name(journal: &Path, first_seq: u64) -> OsString {
    let name = journal.file_name().map(OsStr::to_string_lossy).unwrap_or_default();
    match name.strip_suffix(".jsonl") {
        Some(stem) => format!("{stem}.{first_seq:010}.jsonl").into(),
        None => format!("{name}.{first_seq:010}").into(),
    }
}

/// The segments kept beside `journal` (not the current one), oldest first.
pub fn segments(journal: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let name = journal.file_name().map(OsStr::to_string_lossy).unwrap_or_default().into_owned();
    let (stem, ext) = match name.strip_suffix(".jsonl") {
        Some(stem) => (format!("{stem}."), ".jsonl"),
        None => (format!("{name}."), ""),
    };
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(parent_of(journal)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        let digits = n.strip_prefix(&stem).and_then(|r| r.strip_suffix(ext));
        if let Some(seq) = digits.filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit())) {
            out.push((seq.parse().unwrap_or(0), e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The chain position a file starts at, read from its first line: `seq` 1
/// with a zero `prev` for the first segment of a journal; otherwise what its
/// first line says (history before it was compacted away).
pub fn start_of(file: &mut File) -> io::Result<Start> {
    file.seek(SeekFrom::Start(0))?;
    let mut first = Vec::new();
    BufReader::new(&mut *file).read_until(b'\n', &mut first)?;
    file.seek(SeekFrom::Start(0))?;
    let env = Envelope::as_written(first.strip_suffix(b"\n").unwrap_or(&first));
    Ok(match env.and_then(|e| Some((e.seq?, LineHash::parse(e.prev.as_deref()?)?))) {
        // A first line after a deleted segment chains to it; a journal's
        // first line has prev zero and seq 1 (anything else is damage,
        // judged from the top).
        Some((seq, prev)) if seq > 1 && prev != LineHash::ZERO => Start { offset: 0, prev, seq },
        _ => Start::TOP,
    })
}

/// What `--repair` did.
#[derive(Debug)]
pub struct Repaired {
    /// Where the damaged file was set aside, whole.
    pub set_aside: PathBuf,
    /// Lines kept (before the first problem), and the lines not kept.
    pub kept: u64,
    pub dropped: u64,
    /// The first problem.
    pub problem: String,
}

/// `--repair`: when the current journal file has a problem, its intact lines
/// (before the first problem) become a segment of their own, the whole
/// damaged file is set aside as `<name>.damaged-<stamp>`, and a new segment
/// starts (`segment_started`, `journal_set_aside` with the set-aside file's
/// SHA-256, a checkpoint). Returns the journal, open, and what was done; None
/// when the file has no problem. The caller holds the run lock.
pub fn repair(path: &Path, clock: ClockRef) -> Result<Option<(Journal, Repaired)>, JournalError> {
    let io = |op| move |e| JournalError::io(path, op, e);
    let (dir_path, name) = safe_fs::split(path)?;
    let dir = Dir::create(dir_path, Trust::Private, 0o700, None)?;
    let Some(bytes) = dir.read(name).map_err(io("read"))? else { return Ok(None) };
    let mut f = File::open(path).map_err(io("read"))?;
    let start = start_of(&mut f).map_err(io("read"))?;
    let scanned = scan_from(&bytes[..], start, Events::State, |_| {}).map_err(io("read"))?;
    let Some(first) = scanned.problems.first() else { return Ok(None) };
    // The problem's line within this file, and where it begins.
    let index = first.line_no + 1 - start.seq as usize;
    let offset = bytes.split_inclusive(|&b| b == b'\n').take(index - 1).map(<[u8]>::len).sum::<usize>();
    let kept = (index - 1) as u64;
    let dropped = bytes[offset..].split_inclusive(|&b| b == b'\n').count() as u64;
    if kept > 0 {
        let segment = segment_name(path, start.seq);
        let mut seg = dir.create_new(&segment, 0o600, None).map_err(io("create a segment for"))?;
        seg.write_all(&bytes[..offset]).and_then(|_| seg.sync_all()).map_err(io("write a segment for"))?;
    }
    let stamp = archive_stamp(clock.now().secs());
    let aside = (0..1000)
        .map(|n| {
            if n == 0 {
                format!("{}.damaged-{stamp}", name.to_string_lossy())
            } else {
                format!("{}.damaged-{stamp}.{n}", name.to_string_lossy())
            }
        })
        .find(|n| dir.lstat(OsStr::new(n)).ok().flatten().is_none())
        .ok_or_else(|| io("find a free name to set aside")(io::ErrorKind::AlreadyExists.into()))?;
    dir.rename(name, &dir, OsStr::new(&aside)).map_err(io("set aside"))?;
    dir.create_new(name, 0o600, None).map_err(io("create"))?;
    dir.sync().map_err(io("fsync directory"))?;
    let problem = first.to_string();
    let (mut journal, _) = Journal::open_finishing(path, clock, REPAIRED)?;
    journal.append(Event::JournalSetAside {
        file: aside.clone(),
        sha256: sha256_hex(&bytes),
        lines: dropped,
        problem: problem.clone(),
    })?;
    let set_aside = parent_of(path).join(&aside);
    Ok(Some((journal, Repaired { set_aside, kept, dropped, problem })))
}

impl Journal {
    /// Bytes the current file grew by since its segment began: its size less
    /// the leading `segment_started` and checkpoint (a large installation's
    /// checkpoint alone can exceed `journal_max_bytes`).
    pub fn growth(&self) -> u64 {
        let size = self.size();
        let Ok(f) = File::open(&self.path) else { return size };
        let mut r = BufReader::new(f);
        let mut base = 0u64;
        let mut line = Vec::new();
        for expected in ["segment_started", "checkpoint"] {
            line.clear();
            if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                break;
            }
            let ty = Envelope::as_written(line.strip_suffix(b"\n").unwrap_or(&line))
                .and_then(|e| e.ty.map(|t| t.into_owned()));
            if ty.as_deref() != Some(expected) {
                break;
            }
            base += line.len() as u64;
        }
        size.saturating_sub(base)
    }

    /// Starts a new segment: the current file becomes
    /// `journal.<first seq>.jsonl`, the new one begins with `segment_started`
    /// and a checkpoint. Then segments beyond `keep` are deleted (oldest
    /// first, each journaled first). Only when no transaction is open.
    pub fn compact(&mut self, keep: Option<u32>) -> Result<Vec<PathBuf>, JournalError> {
        if !self.state.open.is_empty() {
            let detail = "a file transaction is open".to_string();
            return Err(JournalError::BadEvent { path: self.path.clone(), detail });
        }
        if let Some(first) = self.preamble.take() {
            self.write(first)?;
        }
        let segment = segment_name(&self.path, self.segment_first);
        self.dir.rename(self.name(), &self.dir, &segment).map_err(|e| JournalError::io(&self.path, "rename", e))?;
        self.dir.sync().map_err(|e| JournalError::io(&self.path, "fsync directory", e))?;
        let name = self.name().to_os_string();
        self.file = self.dir.create_new(&name, 0o600, None).map_err(|e| JournalError::io(&self.path, "create", e))?;
        self.dir.sync().map_err(|e| JournalError::io(&self.path, "fsync directory", e))?;
        self.start_segment(&segment, COMPACTED)?;
        self.prune_segments(keep)
    }

    /// Begins the (new, empty) current file after `previous` was set aside:
    /// `segment_started` (chained to `previous`'s last line) and a checkpoint.
    pub(super) fn start_segment(&mut self, previous: &OsStr, reason: &str) -> Result<(), JournalError> {
        let prev_path = parent_of(&self.path).join(previous);
        let bytes = std::fs::read(&prev_path).map_err(|e| JournalError::io(&prev_path, "read", e))?;
        let mut f = File::open(&prev_path).map_err(|e| JournalError::io(&prev_path, "read", e))?;
        let first_seq = start_of(&mut f).map_err(|e| JournalError::io(&prev_path, "read", e))?.seq;
        self.segment_first = self.state.last_seq + 1;
        self.append(Event::SegmentStarted {
            previous: previous.to_string_lossy().into_owned(),
            first_seq,
            last_seq: self.state.last_seq,
            sha256: sha256_hex(&bytes),
            reason: reason.into(),
        })?;
        self.append(Event::Checkpoint { state: self.state.snapshot() })?;
        Ok(())
    }

    /// Deletes the oldest segments beyond `keep`, each journaled before it goes.
    fn prune_segments(&mut self, keep: Option<u32>) -> Result<Vec<PathBuf>, JournalError> {
        let Some(keep) = keep else { return Ok(Vec::new()) };
        let all = segments(&self.path).map_err(|e| JournalError::io(&self.path, "list segments of", e))?;
        let excess = all.len().saturating_sub(keep as usize);
        let mut deleted = Vec::new();
        for i in 0..excess {
            let (first_seq, path) = &all[i];
            // It ends where the next one (kept, or the current file) begins.
            let next_first = match all.get(i + 1) {
                Some((n, _)) => *n,
                None => self.segment_first,
            };
            let bytes = std::fs::read(path).map_err(|e| JournalError::io(path, "read", e))?;
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            self.append(Event::SegmentDeleted {
                name: name.clone(),
                first_seq: *first_seq,
                last_seq: next_first - 1,
                sha256: sha256_hex(&bytes),
            })?;
            self.dir.remove(OsStr::new(&name)).map_err(|e| JournalError::io(path, "delete", e))?;
            deleted.push(path.clone());
        }
        if !deleted.is_empty() {
            self.dir.sync().map_err(|e| JournalError::io(&self.path, "fsync directory", e))?;
        }
        Ok(deleted)
    }

    fn name(&self) -> &OsStr {
        self.path.file_name().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
