//! The line format and the hash chain.
//!
//! One JSON object per line, keys in this order:
//! `{"v":1,"seq":N,"ts":"2026-11-29T16:02:26.123456Z","type":"...", ...fields..., ["clock":"...",] "prev":"<sha256>"}`
//! where `prev` is the SHA-256 (lower-case hex) of the previous line's bytes
//! without its newline, or 64 zeros for the first line; `seq` starts at 1 and
//! increments by 1; `ts` is when the line was written, never earlier than the
//! line before (`clock` holds the system clock's reading when it was behind).
//!
//! Reading policy (one, explicit), in [`scan`]:
//! * A **torn tail** is not an error: the bytes after the last `\n` (a write
//!   that did not finish), or, when the file ends with `\n`, a final line that
//!   is not valid JSON.
//! * Every other bad line (invalid JSON, missing envelope fields, an event of
//!   a known type whose fields do not read, wrong `seq`, `prev` that does not
//!   match the previous line's hash, unsupported `v`) is a [`Problem`]; the
//!   lines after it are still read.
//!
//! The chain protects each line through the *next* line's `prev`: an edit of
//! the very last line cannot be detected by the chain alone.

use std::fmt;
use std::io::{self, BufRead};

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::error::Category;

use super::event::Event;
use super::fields::{read_event, FieldError, Fields};
use super::state::State;
use crate::time::Time;

/// The journal format version this code writes and reads.
pub const VERSION: u32 = 1;
/// `prev` of the first line.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Field names the envelope owns; events must not use them.
const RESERVED: [&str; 5] = ["v", "seq", "ts", "clock", "prev"];

/// One journal line, verified as far as the chain goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub seq: u64,
    /// When the line was written.
    pub ts: Time,
    /// The system clock's reading, when it was behind the line before.
    pub clock: Option<Time>,
    pub event: Event,
    /// SHA-256 of this line's bytes (without the newline).
    pub hash: LineHash,
}

/// The SHA-256 of a line, which the next line's `prev` names in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineHash(pub [u8; 32]);

impl LineHash {
    pub const ZERO: LineHash = LineHash([0; 32]);

    pub fn of(line: &[u8]) -> LineHash {
        let mut h = [0u8; 32];
        h.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, line).as_ref());
        LineHash(h)
    }

    /// From 64 lower-case hex digits (every line's `prev`: a table lookup
    /// per digit, since the size-optimized build does not unroll a match).
    pub fn parse(hex: &str) -> Option<LineHash> {
        const INVALID: u8 = 0xff;
        const DIGITS: [u8; 256] = {
            let mut t = [INVALID; 256];
            let mut c = 0;
            while c < 10 {
                t[b'0' as usize + c] = c as u8;
                c += 1;
            }
            let mut c = 0;
            while c < 6 {
                t[b'a' as usize + c] = 10 + c as u8;
                c += 1;
            }
            t
        };
        let b: &[u8; 64] = hex.as_bytes().try_into().ok()?;
        let mut h = [0u8; 32];
        let mut bad = 0u8;
        for (out, pair) in h.iter_mut().zip(b.chunks_exact(2)) {
            let (hi, lo) = (DIGITS[pair[0] as usize], DIGITS[pair[1] as usize]);
            bad |= hi | lo;
            *out = hi << 4 | (lo & 0x0f);
        }
        (bad & 0xf0 == 0).then_some(LineHash(h))
    }
}

impl fmt::Display for LineHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::types::hex(&self.0))
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
    /// Valid JSON, but not a journal record (missing or mistyped envelope
    /// fields, or an event of a known type whose fields do not read).
    Malformed,
    /// `v` is not a version this program reads.
    UnsupportedVersion,
    /// `seq` is not the previous record's seq + 1.
    SeqMismatch,
    /// `prev` differs from the hash of the previous line.
    PrevMismatch,
    /// A checkpoint's state differs from the replay up to it (or does not read).
    CheckpointMismatch,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::InvalidJson => "invalid JSON",
            ProblemKind::Malformed => "malformed record",
            ProblemKind::UnsupportedVersion => "unsupported version",
            ProblemKind::SeqMismatch => "wrong seq",
            ProblemKind::PrevMismatch => "broken chain",
            ProblemKind::CheckpointMismatch => "checkpoint differs from the replay",
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
    /// The segment file it is in, when not the current journal file.
    pub file: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        match self.seq {
            Some(s) => write!(f, "line {} (seq {}): {}", self.line_no, s, self.detail),
            None => write!(f, "line {}: {}", self.line_no, self.detail),
        }
    }
}

/// The first 8 hex digits of a hash, for messages.
pub fn short(hash: &str) -> String {
    if hash.len() > 8 {
        format!("{}…", &hash[..8])
    } else {
        hash.to_string()
    }
}

/// What [`scan`] found besides the records.
#[derive(Clone, Debug, Default)]
pub struct Scanned {
    pub problems: Vec<Problem>,
    pub torn: Option<TornTail>,
    /// Number of complete lines (excluding a torn tail).
    pub lines: usize,
    /// Hash of the last complete line (ZERO_HASH if none): the next line's `prev`.
    pub last_hash: String,
    /// Seq of the last record read (0 if none).
    pub last_seq: u64,
}

/// Which events [`scan`] reads into their types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Events {
    /// Every event (`--audit`, `--replay`, tools): one whose fields do not
    /// read is a problem.
    All,
    /// Only those the state is built from ([`State::reads`]); the others are
    /// handed on as [`Event::Other`], checked to be JSON only when their
    /// envelope is not exactly as this program writes it (a writing run's
    /// open: the chain is verified all the same).
    State,
}

/// Reads journal lines one at a time, verifying the chain, and hands every
/// record that could be read to `each` (records after a problem too). Memory
/// use is one line, whatever the journal's length.
#[cfg(test)]
pub fn scan(reader: impl BufRead, each: impl FnMut(Record)) -> io::Result<Scanned> {
    scan_events(reader, Events::All, each)
}

/// Where a scan starts: the top of the file, or a line in the middle (a
/// checkpoint, [`find_last_checkpoint`]) with what the chain says before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// Byte offset of the first line read.
    pub offset: u64,
    /// The hash that line's `prev` must name.
    pub prev: LineHash,
    /// The seq that line must have.
    pub seq: u64,
}

impl Start {
    pub const TOP: Start = Start { offset: 0, prev: LineHash::ZERO, seq: 1 };
}

/// [`scan`], reading the events `events` selects.
pub fn scan_events(reader: impl BufRead, events: Events, each: impl FnMut(Record)) -> io::Result<Scanned> {
    scan_from(reader, Start::TOP, events, each)
}

/// [`scan_events`] from `start` (`reader` positioned at `start.offset`).
/// Line numbers in problems count from the start line as line `start.seq`.
pub fn scan_from(
    mut reader: impl BufRead,
    start: Start,
    events: Events,
    mut each: impl FnMut(Record),
) -> io::Result<Scanned> {
    scan_lines(&mut reader, start, events, &mut each)
}

/// The scan itself, compiled once: every reader and every caller's closure
/// is passed behind a pointer (an instance per caller cost the router
/// binary 8 KB).
fn scan_lines(
    reader: &mut dyn BufRead,
    start: Start,
    events: Events,
    each: &mut dyn FnMut(Record),
) -> io::Result<Scanned> {
    let mut out = Scanned { lines: start.seq as usize - 1, ..Scanned::default() };
    let mut last = start.prev;
    let mut expected_seq: u64 = start.seq;
    let mut offset: u64 = start.offset;
    let mut buf: Vec<u8> = Vec::new();
    // A complete line that is not JSON: torn if it is the last one, else a problem.
    let mut deferred: Option<(u64, Vec<u8>)> = None;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if let Some((_, mut line)) = deferred.take() {
            line.pop(); // its newline
            out.lines += 1;
            let detail = serde_json::from_slice::<IgnoredAny>(&line).err().map(|e| e.to_string()).unwrap_or_default();
            out.problems.push(Problem {
                line_no: out.lines,
                seq: None,
                kind: ProblemKind::InvalidJson,
                detail: format!("not valid JSON ({detail})"),
                file: None,
            });
            expected_seq += 1;
            last = LineHash::of(&line);
        }
        let start = offset;
        offset += n as u64;
        if buf.last() != Some(&b'\n') {
            out.torn = Some(TornTail { offset: start, bytes: buf.clone() });
            break;
        }
        let line = &buf[..buf.len() - 1];
        let envelope: Envelope<'_> =
            match Envelope::as_written(line).map(Ok).unwrap_or_else(|| serde_json::from_slice(line)) {
                Ok(e) => e,
                Err(e) if matches!(e.classify(), Category::Syntax | Category::Eof) => {
                    deferred = Some((start, buf.clone()));
                    continue;
                }
                Err(e) => {
                    // JSON, but not an object with the envelope's fields as they must be.
                    out.lines += 1;
                    let detail = format!("not a journal record ({e})");
                    out.problems.push(Problem {
                        line_no: out.lines,
                        seq: None,
                        kind: ProblemKind::Malformed,
                        detail,
                        file: None,
                    });
                    expected_seq += 1;
                    last = LineHash::of(line);
                    continue;
                }
            };
        out.lines += 1;
        let hash = LineHash::of(line);
        match parse_line(envelope, line, events, out.lines, last, expected_seq, hash, &mut out.problems) {
            Parsed::Record(rec) => {
                expected_seq = rec.seq + 1;
                out.last_seq = rec.seq;
                each(rec);
            }
            Parsed::Problem => expected_seq += 1,
            Parsed::NotJson => {
                // Only the event's parser saw it: judged like any line that is not JSON.
                out.lines -= 1;
                deferred = Some((start, buf.clone()));
                continue;
            }
        }
        last = hash;
    }
    out.last_hash = last.to_string();
    if let Some((start, bytes)) = deferred {
        out.torn = Some(TornTail { offset: start, bytes });
    }
    Ok(out)
}

/// The envelope's fields as they must be: `(seq, ts, clock)`; problems with
/// the chain (`seq`, `prev`) are recorded but do not stop the line being read.
fn check_envelope(
    env: &Envelope<'_>,
    line_no: usize,
    prev_hash: LineHash,
    expected_seq: u64,
    problems: &mut Vec<Problem>,
) -> Option<(u64, Time, Option<Time>)> {
    let seq = env.seq;
    let mut prob = |kind, detail: String| problems.push(Problem { line_no, seq, kind, detail, file: None });
    let Some(v) = env.v else {
        prob(ProblemKind::Malformed, "no numeric \"v\" field".into());
        return None;
    };
    if v != VERSION as u64 {
        prob(
            ProblemKind::UnsupportedVersion,
            format!("version {v} is not supported (this program reads version {VERSION})"),
        );
        return None;
    }
    let Some(seq) = seq else {
        prob(ProblemKind::Malformed, "no numeric \"seq\" field".into());
        return None;
    };
    let time = |name: &str, s: &Option<Cow<'_, str>>| -> Result<Option<Time>, String> {
        match s {
            None => Ok(None),
            Some(s) => Time::parse(s).map(Some).ok_or_else(|| format!("{name:?} {s:?} is not an RFC 3339 time")),
        }
    };
    let ts = match time("ts", &env.ts) {
        Ok(Some(t)) => t,
        Ok(None) => {
            prob(ProblemKind::Malformed, "no \"ts\" string".into());
            return None;
        }
        Err(detail) => {
            prob(ProblemKind::Malformed, detail);
            return None;
        }
    };
    let clock = match time("clock", &env.clock) {
        Ok(c) => c,
        Err(detail) => {
            prob(ProblemKind::Malformed, detail);
            return None;
        }
    };
    let Some(prev) = &env.prev else {
        prob(ProblemKind::Malformed, "no \"prev\" string".into());
        return None;
    };
    if seq != expected_seq {
        prob(ProblemKind::SeqMismatch, format!("seq is {seq}, expected {expected_seq}"));
    }
    if LineHash::parse(prev) != Some(prev_hash) {
        let detail = if line_no == 1 {
            format!("prev is {}, but the first line must have prev {}", short(prev), short(ZERO_HASH))
        } else {
            format!("prev is {}, but line {} hashes to {}", short(prev), line_no - 1, short(&prev_hash.to_string()))
        };
        prob(ProblemKind::PrevMismatch, detail);
    }
    Some((seq, ts, clock))
}

/// The envelope of a line, read without copying; the event is read from the
/// same bytes (its deserializer ignores the envelope's fields).
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    v: Option<u64>,
    pub(super) seq: Option<u64>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    clock: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) prev: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    pub(super) ty: Option<Cow<'a, str>>,
    /// Read by [`Envelope::as_written`]: the line has exactly the shape this
    /// program writes.
    #[serde(skip)]
    exact: bool,
}

impl<'a> Envelope<'a> {
    /// The envelope of a line exactly as [`format_line`] writes it
    /// (`{"v":1,"seq":N,"ts":"…","type":"…",…[,"clock":"…"],"prev":"<64 hex>"}`,
    /// no escapes in those values), read without a JSON parser; `None` for any
    /// other shape, which the JSON parser then reads.
    pub(super) fn as_written(line: &'a [u8]) -> Option<Envelope<'a>> {
        /// Decimal digits, then `delimiter`.
        fn number<'b>(b: &'b [u8], delimiter: &[u8]) -> Option<(u64, &'b [u8])> {
            let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let value = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
            Some((value, b[n..].strip_prefix(delimiter)?))
        }
        /// A string value up to its closing quote, without escapes.
        fn plain(b: &[u8]) -> Option<(&str, &[u8])> {
            let q = b.iter().position(|&c| c == b'"' || c == b'\\')?;
            (b[q] == b'"').then_some(())?;
            Some((std::str::from_utf8(&b[..q]).ok()?, &b[q..]))
        }
        const TAIL: usize = 9 + 64 + 2; // ,"prev":"<64 hex>"}
        const CLOCK: usize = 10 + 27 + 1; // ,"clock":"<27>"
        let rest = line.strip_prefix(b"{\"v\":")?;
        let (v, rest) = number(rest, b",\"seq\":")?;
        let (seq, rest) = number(rest, b",\"ts\":\"")?;
        let (ts, rest) = plain(rest)?;
        let (ty, _) = plain(rest.strip_prefix(b"\",\"type\":\"")?)?;
        let (body, tail) = line.split_at(line.len().checked_sub(TAIL)?);
        // Whether `prev` is hex is judged by LineHash::parse, as for any line.
        let prev = tail.strip_prefix(b",\"prev\":\"")?.strip_suffix(b"\"}")?;
        let clock = match body.len().checked_sub(CLOCK).map(|at| &body[at..]) {
            Some(c) if c.starts_with(b",\"clock\":\"") && c.ends_with(b"\"") => {
                Some(std::str::from_utf8(&c[10..37]).ok()?)
            }
            _ => None,
        };
        Some(Envelope {
            v: Some(v),
            seq: Some(seq),
            ts: Some(Cow::Borrowed(ts)),
            clock: clock.map(Cow::Borrowed),
            prev: Some(Cow::Borrowed(std::str::from_utf8(prev).ok()?)),
            ty: Some(Cow::Borrowed(ty)),
            exact: true,
        })
    }
}

/// The last `checkpoint` line of a journal file, found reading backwards
/// from its end (a torn tail is skipped), so a run starts there instead of at
/// line 1. `None` when there is none. The line before it is hashed, so the
/// scan from it still checks the checkpoint's own `prev`.
pub fn find_last_checkpoint(file: &mut (impl io::Read + io::Seek)) -> io::Result<Option<Start>> {
    const CHUNK: u64 = 64 * 1024;
    let end = file.seek(io::SeekFrom::End(0))?;
    let mut pos = end;
    // The line being read backwards, in pieces (the latest piece read is the
    // earliest in the file): a long line costs its length once, not squared.
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut found: Option<(u64, u64)> = None; // (offset, seq) of the checkpoint
    let mut skip_partial = true; // bytes after the last newline are a torn tail
    let assemble = |first: &[u8], pieces: &mut Vec<Vec<u8>>| -> Vec<u8> {
        let mut line = first.to_vec();
        pieces.drain(..).rev().for_each(|p| line.extend_from_slice(&p));
        line
    };
    while pos > 0 {
        let n = CHUNK.min(pos);
        pos -= n;
        let mut chunk = vec![0u8; n as usize];
        file.seek(io::SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk)?;
        let mut upto = chunk.len();
        // Complete lines: after each newline of the chunk, from its end.
        while let Some(nl) = chunk[..upto].iter().rposition(|&b| b == b'\n') {
            let line = assemble(&chunk[nl + 1..upto], &mut pieces);
            upto = nl;
            if std::mem::take(&mut skip_partial) {
                continue; // what followed the last newline
            }
            if let Some(cp) = check_line(&line, pos + nl as u64 + 1, &mut found) {
                return Ok(Some(cp));
            }
        }
        pieces.push(chunk[..upto].to_vec());
    }
    // The file's first line.
    let line = assemble(&[], &mut pieces);
    if skip_partial {
        return Ok(None); // a single torn line
    }
    if let Some(cp) = check_line(&line, 0, &mut found) {
        return Ok(Some(cp));
    }
    Ok(found.map(|(offset, seq)| Start { offset, prev: LineHash::ZERO, seq }))
}

/// One complete line of the backward search: the line before a found
/// checkpoint completes it; otherwise the line may be the checkpoint.
fn check_line(line: &[u8], offset: u64, found: &mut Option<(u64, u64)>) -> Option<Start> {
    if let Some((cp_offset, seq)) = *found {
        return Some(Start { offset: cp_offset, prev: LineHash::of(line), seq });
    }
    let env = Envelope::as_written(line)?;
    if env.ty.as_deref() == Some("checkpoint") {
        *found = Some((offset, env.seq?));
    }
    None
}

/// What one line is (a transient value, handed on at once: not boxed).
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Record(Record),
    /// A problem was recorded.
    Problem,
    /// Not JSON at all (found by the event's parser after the fast envelope read).
    NotJson,
}

#[allow(clippy::too_many_arguments)]
fn parse_line(
    env: Envelope<'_>,
    line: &[u8],
    events: Events,
    line_no: usize,
    prev_hash: LineHash,
    expected_seq: u64,
    hash: LineHash,
    problems: &mut Vec<Problem>,
) -> Parsed {
    // The event is read first: a line that is not JSON is judged as such,
    // whatever its envelope looked like.
    let event = match env.ty.as_deref() {
        Some(ty) if events == Events::All || State::reads(ty) => Fields::of(line).and_then(|f| read_event(ty, &f)),
        // Opening the journal skips the lines the state does not read, unparsed
        // when their envelope is exactly as written: the hash chain vouches for
        // their bytes, and `--audit` (Events::All) reads every one.
        Some(_) if env.exact => Ok(Event::Other),
        _ => serde_json::from_slice::<IgnoredAny>(line).map(|_| Event::Other).map_err(|e| {
            if matches!(e.classify(), Category::Syntax | Category::Eof) {
                FieldError::Syntax(e.to_string())
            } else {
                FieldError::Field(e.to_string())
            }
        }),
    };
    let event = match event {
        Err(FieldError::Syntax(_)) => return Parsed::NotJson,
        other => other,
    };
    let (seq, ts, clock) = match check_envelope(&env, line_no, prev_hash, expected_seq, problems) {
        Some(checked) => checked,
        None => return Parsed::Problem,
    };
    let mut prob = |kind, detail: String| problems.push(Problem { line_no, seq: Some(seq), kind, detail, file: None });
    let Some(type_name) = env.ty else {
        prob(ProblemKind::Malformed, "no \"type\" string".into());
        return Parsed::Problem;
    };
    match event {
        Ok(event) => Parsed::Record(Record { seq, ts, clock, event, hash }),
        Err(e) => {
            prob(ProblemKind::Malformed, format!("event {type_name:?} does not read: {e}"));
            Parsed::Problem
        }
    }
}

/// Serializes one journal line (without the newline): the envelope's `v`,
/// `seq` and `ts`, the event's `type` and fields as it serializes them, then
/// `clock` and `prev`. Written as text, not through a JSON tree.
pub fn format_line(seq: u64, ts: Time, clock: Option<Time>, event: &Event, prev: &str) -> Result<String, String> {
    if matches!(event, Event::Other) {
        return Err("an event of unknown type cannot be written".into());
    }
    let ts = ts.rfc3339_micros();
    let clock = clock.map(|c| format!(",\"clock\":\"{}\"", c.rfc3339_micros())).unwrap_or_default();
    if let Event::Checkpoint { state } = event {
        // Megabytes for a large installation: written as it is.
        let state = state.0.get();
        return Ok(format!(
            "{{\"v\":{VERSION},\"seq\":{seq},\"ts\":\"{ts}\",\"type\":\"checkpoint\",\"state\":{state}{clock},\"prev\":\"{prev}\"}}"
        ));
    }
    // `{"type":"…",…}` (serde writes an internally tagged enum's tag first).
    let text = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let fields = Fields::of(text.as_bytes()).map_err(|e| e.to_string())?;
    let ty = fields.raw("type").and_then(|t| serde_json::from_str::<Cow<'_, str>>(t.get()).ok());
    let Some(ty) = ty.filter(|_| text.starts_with("{\"type\":")) else {
        return Err("event has no \"type\" string".into());
    };
    if let Some(k) = fields.names().find(|k| RESERVED.contains(k)) {
        return Err(format!("event {ty:?} uses the reserved field name {k:?}"));
    }
    let body = &text[1..text.len() - 1];
    Ok(format!("{{\"v\":{VERSION},\"seq\":{seq},\"ts\":\"{ts}\",{body}{clock},\"prev\":\"{prev}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_hashes_read_back_from_lower_case_hex_only() {
        let h = LineHash::of(b"{\"v\":1}");
        assert_eq!(LineHash::parse(&h.to_string()), Some(h));
        assert_eq!(LineHash::parse(ZERO_HASH), Some(LineHash::ZERO));
        assert_eq!(LineHash::parse(&"f".repeat(64)), Some(LineHash([0xff; 32])));
        for bad in ["F".repeat(64), "g".repeat(64), format!("{}x", &ZERO_HASH[1..]), "0".repeat(63), "0".repeat(65)] {
            assert_eq!(LineHash::parse(&bad), None, "{bad}");
        }
    }
}
