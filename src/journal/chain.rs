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

use serde_json::{Map, Value};

use super::event::Event;
use crate::time::Time;
use crate::types::sha256_hex;

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
    /// SHA-256 hex of this line's bytes (without the newline).
    pub hash: String,
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

/// Reads journal lines one at a time, verifying the chain, and hands every
/// record that could be read to `each` (records after a problem too). Memory
/// use is one line, whatever the journal's length.
pub fn scan(mut reader: impl BufRead, mut each: impl FnMut(Record)) -> io::Result<Scanned> {
    let mut out = Scanned { last_hash: ZERO_HASH.to_string(), ..Scanned::default() };
    let mut expected_seq: u64 = 1;
    let mut offset: u64 = 0;
    let mut buf: Vec<u8> = Vec::new();
    // A complete line that is not JSON: torn if it is the last one, else a problem.
    let mut deferred: Option<(u64, Vec<u8>)> = None;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if let Some((_, line)) = deferred.take() {
            out.lines += 1;
            let detail = serde_json::from_slice::<Value>(&line).err().map(|e| e.to_string()).unwrap_or_default();
            out.problems.push(Problem {
                line_no: out.lines,
                seq: None,
                kind: ProblemKind::InvalidJson,
                detail: format!("not valid JSON ({detail})"),
            });
            expected_seq += 1;
            out.last_hash = sha256_hex(&line);
        }
        let start = offset;
        offset += n as u64;
        if buf.last() != Some(&b'\n') {
            out.torn = Some(TornTail { offset: start, bytes: buf.clone() });
            break;
        }
        let line = &buf[..buf.len() - 1];
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) => {
                deferred = Some((start, buf.clone()));
                continue;
            }
        };
        out.lines += 1;
        let hash = sha256_hex(line);
        match parse_line(value, out.lines, &out.last_hash, expected_seq, &hash, &mut out.problems) {
            Some(rec) => {
                expected_seq = rec.seq + 1;
                out.last_seq = rec.seq;
                each(rec);
            }
            None => expected_seq += 1,
        }
        out.last_hash = hash;
    }
    if let Some((start, bytes)) = deferred {
        out.torn = Some(TornTail { offset: start, bytes });
    }
    Ok(out)
}

fn parse_line(
    value: Value,
    line_no: usize,
    prev_hash: &str,
    expected_seq: u64,
    hash: &str,
    problems: &mut Vec<Problem>,
) -> Option<Record> {
    let prob =
        |problems: &mut Vec<Problem>, seq, kind, detail: String| problems.push(Problem { line_no, seq, kind, detail });
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
        let detail = format!("version {v} is not supported (this program reads version {VERSION})");
        prob(problems, seq, ProblemKind::UnsupportedVersion, detail);
        return None;
    }
    let Some(seq) = seq else {
        prob(problems, None, ProblemKind::Malformed, "no numeric \"seq\" field".into());
        return None;
    };
    let time_field = |obj: &Map<String, Value>, name: &str| -> Result<Option<Time>, String> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                Time::parse(s).map(Some).ok_or_else(|| format!("{name:?} {s:?} is not an RFC 3339 time"))
            }
            Some(_) => Err(format!("{name:?} is not a string")),
        }
    };
    let ts = match time_field(&obj, "ts") {
        Ok(Some(t)) => t,
        Ok(None) => {
            prob(problems, Some(seq), ProblemKind::Malformed, "no \"ts\" string".into());
            return None;
        }
        Err(detail) => {
            prob(problems, Some(seq), ProblemKind::Malformed, detail);
            return None;
        }
    };
    let clock = match time_field(&obj, "clock") {
        Ok(c) => c,
        Err(detail) => {
            prob(problems, Some(seq), ProblemKind::Malformed, detail);
            return None;
        }
    };
    let Some(prev) = obj.get("prev").and_then(Value::as_str).map(str::to_string) else {
        prob(problems, Some(seq), ProblemKind::Malformed, "no \"prev\" string".into());
        return None;
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
    let type_name = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => {
            prob(problems, Some(seq), ProblemKind::Malformed, "no \"type\" string".into());
            return None;
        }
    };
    match serde_json::from_value::<Event>(Value::Object(obj)) {
        Ok(event) => Some(Record { seq, ts, clock, event, hash: hash.to_string() }),
        Err(e) => {
            prob(problems, Some(seq), ProblemKind::Malformed, format!("event {type_name:?} does not read: {e}"));
            None
        }
    }
}

/// Serializes one journal line (without the newline).
pub fn format_line(seq: u64, ts: Time, clock: Option<Time>, event: &Event, prev: &str) -> Result<String, String> {
    let Value::Object(ev) = serde_json::to_value(event).map_err(|e| e.to_string())? else {
        return Err("event is not a JSON object".into());
    };
    let Some(ty) = ev.get("type").and_then(Value::as_str).map(str::to_string) else {
        return Err("event has no \"type\" string".into());
    };
    if matches!(event, Event::Other) {
        return Err("an event of unknown type cannot be written".into());
    }
    let mut m = Map::new();
    m.insert("v".into(), Value::from(VERSION));
    m.insert("seq".into(), Value::from(seq));
    m.insert("ts".into(), Value::from(ts.rfc3339_micros()));
    m.insert("type".into(), Value::from(ty.as_str()));
    for (k, v) in ev {
        if k == "type" {
            continue;
        }
        if RESERVED.contains(&k.as_str()) {
            return Err(format!("event {ty:?} uses the reserved field name {k:?}"));
        }
        m.insert(k, v);
    }
    if let Some(c) = clock {
        m.insert("clock".into(), Value::from(c.rfc3339_micros()));
    }
    m.insert("prev".into(), Value::from(prev));
    serde_json::to_string(&Value::Object(m)).map_err(|e| e.to_string())
}
