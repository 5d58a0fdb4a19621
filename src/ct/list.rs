//! A CT log list in the schema of the public v3 list
//! (<https://www.gstatic.com/ct/log_list/v3/log_list.json>) turned into the
//! configuration's `ct_logs` section: one name per log family, its temporal
//! shards in a list.

use serde_json::{Map, Value};

/// The states of a log that accepts submissions and whose SCTs count.
const SUBMITTABLE: &[&str] = &["usable", "qualified"];

/// One submittable log of the list, on its way to a `ct_logs` entry.
struct Entry {
    name: String,
    /// The trailing letter of the log's name ("log2026a" → 'a'), if any.
    variant: Option<char>,
    start: Option<String>,
    end: Option<String>,
    shard: Map<String, Value>,
}

/// Converts a log list (the public v3 schema: `operators[]` with `logs[]`
/// (`url`) and `tiled_logs[]` (`submission_url`), each log with
/// `description`, `log_id`, `key`, `state`, `temporal_interval`) into the
/// configuration's `ct_logs` section: `{"<name>": [{"url", "log_id", "key",
/// "start", "end"}, ...]}`.
///
/// Only logs in state `usable` or `qualified` are taken (pending, readonly,
/// retired and rejected ones are skipped); a Static CT (tiled) log is
/// submitted to at its `submission_url`; `start`/`end` are the temporal
/// interval's bounds (left out when the log has none). The name is
/// `<operator>_<family>` in lower snake case: the operator's name
/// ("Let's Encrypt" → `lets_encrypt`), and the log's name from its
/// description (the quoted part, else what follows the operator's name, a
/// trailing "log" dropped) without the trailing year, `h1`/`h2` half and
/// shard letter ("Google 'Argon2026h1' log" → `google_argon`,
/// "DigiCert Yeti2025 Log" → `digicert_yeti`, "DigiCert Log Server 2" →
/// `digicert_log_server_2`). Logs that end up with one name and the same
/// interval are parallel logs, not shards: they keep their letter
/// (TrustAsia 'log2026a' and 'log2026b' → `trustasia_log_a`, `_b`). The
/// shards of a name are sorted by start; names come in the list's order.
pub fn ct_logs_from_list(json: &str) -> Result<Map<String, Value>, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("the CT log list is not JSON: {e}"))?;
    let Some(operators) = doc.get("operators").and_then(Value::as_array) else {
        return Err("the CT log list has no \"operators\" array".into());
    };
    let mut entries = Vec::new();
    for (i, op) in operators.iter().enumerate() {
        let Some(op_name) = op.get("name").and_then(Value::as_str) else {
            return Err(format!("the CT log list's operators[{i}] has no \"name\""));
        };
        for (kind, url_key) in [("logs", "url"), ("tiled_logs", "submission_url")] {
            let logs = match op.get(kind) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(logs)) => logs,
                Some(_) => return Err(format!("the CT log list's operators[{i}].{kind} is not an array")),
            };
            for (j, log) in logs.iter().enumerate() {
                let at = format!("the CT log list's operators[{i}].{kind}[{j}]");
                if let Some(e) = entry(op_name, log, url_key).map_err(|e| format!("{at}: {e}"))? {
                    entries.push(e);
                }
            }
        }
    }
    split_parallel_logs(&mut entries);
    let mut out = Map::new();
    let mut order: Vec<String> = Vec::new();
    for e in &entries {
        if !order.contains(&e.name) {
            order.push(e.name.clone());
        }
    }
    for name in order {
        let mut shards: Vec<&Entry> = entries.iter().filter(|e| e.name == name).collect();
        // Stable: no start first, then by start (RFC 3339 UTC strings sort as times).
        shards.sort_by(|a, b| a.start.cmp(&b.start));
        out.insert(name, Value::Array(shards.into_iter().map(|e| Value::Object(e.shard.clone())).collect()));
    }
    Ok(out)
}

/// The `ct_logs` shard of one log of the list, or None when its state
/// makes it no log to submit to.
fn entry(op_name: &str, log: &Value, url_key: &str) -> Result<Option<Entry>, String> {
    let state = log.get("state").and_then(Value::as_object);
    if !state.is_some_and(|s| SUBMITTABLE.iter().any(|k| s.contains_key(*k))) {
        return Ok(None);
    }
    let text = |key: &str| -> Result<String, String> {
        match log.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("no \"{key}\"")),
        }
    };
    let description = text("description")?;
    let mut shard = Map::new();
    shard.insert("url".into(), text(url_key)?.into());
    shard.insert("log_id".into(), text("log_id")?.into());
    shard.insert("key".into(), text("key")?.into());
    let (mut start, mut end) = (None, None);
    if let Some(ti) = log.get("temporal_interval").filter(|v| !v.is_null()) {
        let bound = |key: &str| match ti.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(format!("its temporal_interval has no \"{key}\"")),
        };
        start = Some(bound("start_inclusive")?);
        end = Some(bound("end_exclusive")?);
        shard.insert("start".into(), start.clone().into());
        shard.insert("end".into(), end.clone().into());
    }
    let (family, variant) = family(op_name, &description);
    Ok(Some(Entry { name: format!("{}_{family}", snake(op_name)), variant, start, end, shard }))
}

/// The log family named by a description, snake case, and the trailing
/// shard letter that was dropped, if any.
pub(super) fn family(op_name: &str, description: &str) -> (String, Option<char>) {
    let d = description.trim();
    // What follows the operator's name ("Let's Encrypt 'Oak2025h1'": its own
    // apostrophe is not a quote), else the whole description.
    let rest = match d.get(..op_name.len()) {
        Some(head) if head.eq_ignore_ascii_case(op_name) => &d[op_name.len()..],
        _ => d,
    };
    let core = match quoted(rest) {
        Some(q) => q.to_string(),
        None => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.split_last() {
                Some((last, init)) if last.eq_ignore_ascii_case("log") && !init.is_empty() => init.join(" "),
                _ => words.join(" "),
            }
        }
    };
    let (stem, variant) = strip_period(&core);
    let name = snake(stem);
    if name.is_empty() {
        // A description that is only a period ("'2026h1'"): keep all of it.
        let whole = snake(&core);
        return (if whole.is_empty() { "log".into() } else { whole }, None);
    }
    (name, variant)
}

/// The text between the last two single quotes, when there are two.
fn quoted(s: &str) -> Option<&str> {
    let close = s.rfind('\'')?;
    let open = s[..close].rfind('\'')?;
    Some(&s[open + 1..close]).filter(|q| !q.trim().is_empty())
}

/// Removes a trailing period from a log's name: a four-digit year, then
/// optionally `h1`/`h2`, then optionally one letter ("Argon2026h1",
/// "Nimbus2027", "Sycamore2025h2d", "log2026a"). Returns the stem and the
/// letter.
fn strip_period(name: &str) -> (&str, Option<char>) {
    let b = name.as_bytes();
    let mut end = b.len();
    let mut letter = None;
    let is_half = |e: usize| e >= 2 && b[e - 2].eq_ignore_ascii_case(&b'h') && matches!(b[e - 1], b'1' | b'2');
    let is_year = |e: usize| e >= 4 && b[e - 4..e].iter().all(u8::is_ascii_digit);
    if end > 0 && b[end - 1].is_ascii_alphabetic() {
        let e = end - 1;
        if is_half(e) && is_year(e - 2) || is_year(e) {
            letter = Some(b[e].to_ascii_lowercase() as char);
            end = e;
        }
    }
    if is_half(end) && is_year(end - 2) {
        end -= 2;
    }
    if is_year(end) && (end == 4 || !b[end - 5].is_ascii_digit()) {
        end -= 4;
    } else {
        return (name, None);
    }
    (&name[..end], letter)
}

/// Lower snake case: ASCII letters and digits kept (lower-cased), spaces,
/// dashes, dots and underscores turned into one `_`, anything else (such as
/// the apostrophe of "Let's") dropped.
pub(super) fn snake(s: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/') {
            gap = true;
        }
    }
    out
}

/// Gives logs that share a name and an interval (parallel logs such as
/// TrustAsia's 'log2026a' and 'log2026b') their letter back as a suffix.
fn split_parallel_logs(entries: &mut [Entry]) {
    let mut split: Vec<String> = Vec::new();
    for (i, a) in entries.iter().enumerate() {
        let clash = entries[i + 1..].iter().any(|b| b.name == a.name && b.start == a.start && b.end == a.end);
        if clash && !split.contains(&a.name) {
            split.push(a.name.clone());
        }
    }
    for e in entries.iter_mut() {
        if let (true, Some(letter)) = (split.contains(&e.name), e.variant) {
            e.name = format!("{}_{letter}", e.name);
        }
    }
}
