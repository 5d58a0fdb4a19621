//! The Public Suffix List as a compact table: parsed from the list's text
//! format and encoded for lookups without any allocation beyond the table.
//!
//! This file is shared: `build.rs` includes it (`#[path]`) to encode the
//! embedded list at build time, and [`crate::psl`] uses it for a list file
//! read at run time, so both go through the same parser. It uses `std` only.
//!
//! Rules. A line's first whitespace-separated word is a rule; blank lines
//! and `//` comments are skipped. Labels are lower-cased, and a label that
//! is not ASCII is converted to its punycode A-label (`xn--…`, RFC 3492),
//! since the names acmebot looks up are A-labels. A rule that is still not
//! made of DNS labels (`a-z`, `0-9`, `-`, `_`), or has a `*` other than as
//! its whole leftmost label, cannot match such a name and is skipped.
//!
//! Keys. A rule's key is its labels in reverse order joined by `.`
//! (`*.kawasaki.jp` → `jp.kawasaki.*`), and an exception's key is that with a
//! leading `!` (`!city.kawasaki.jp` → `!jp.kawasaki.city`). Keys are ASCII.
//!
//! Encoding. The keys, sorted and without duplicates, are front-coded: each
//! entry is one byte, the length of the prefix it shares with the previous
//! key (at most [`MAX_SHARED`], so below 0x80), then the rest of the key
//! (at least one byte), its last byte with bit 7 set. An entry with a shared
//! length of 0 (an *anchor*) holds its whole key; at least every
//! [`RESTART`]-th entry is one. Since only the last byte of a key has bit 7
//! set, an entry starts at 0 or after such a byte, and an anchor is an entry
//! start holding 0: [`contains`] finds anchors from any byte position, does
//! a binary search over them, then decodes at most [`RESTART`] entries.

/// The longest prefix an entry shares with the previous key.
pub const MAX_SHARED: usize = 0x7f;
/// An anchor (a whole key) at least every this many entries.
pub const RESTART: usize = 32;

/// Encodes the rules of a list in the text format; `None` if it has no rule.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut keys: Vec<String> = text.lines().filter_map(rule_key).collect();
    if keys.is_empty() {
        return None;
    }
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::with_capacity(keys.len() * 8);
    let mut prev: &[u8] = &[];
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_bytes();
        let shared = if i % RESTART == 0 {
            0
        } else {
            let common = prev.iter().zip(key).take_while(|(a, b)| a == b).count();
            // Keys are distinct and sorted, so a key never ends inside the prefix.
            common.min(MAX_SHARED).min(key.len() - 1)
        };
        out.push(shared as u8);
        let rest = &key[shared..];
        out.extend_from_slice(&rest[..rest.len() - 1]);
        out.push(rest[rest.len() - 1] | 0x80);
        prev = key;
    }
    Some(out)
}

/// The key of the rule on one line of the list, if it holds a usable rule.
pub fn rule_key(line: &str) -> Option<String> {
    let rule = line.split_whitespace().next()?;
    if rule.starts_with("//") {
        return None;
    }
    let (exception, rule) = match rule.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, rule),
    };
    let labels: Vec<&str> = rule.split('.').collect();
    let mut key = String::with_capacity(rule.len() + 8);
    if exception {
        key.push('!');
    }
    for (i, label) in labels.iter().enumerate().rev() {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        if i + 1 < labels.len() {
            key.push('.');
        }
        if *label == "*" {
            if exception || i != 0 {
                return None;
            }
            key.push('*');
        } else if label.is_ascii() {
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return None;
            }
            key.push_str(&label.to_ascii_lowercase());
        } else {
            key.push_str("xn--");
            key.push_str(&punycode(&label.to_lowercase())?);
        }
    }
    Some(key)
}

/// Whether some key of an encoded table is `label` or starts with `label.`
/// (a top-level domain the list has rules under). Two binary searches.
pub fn has_first_label(table: &[u8], label: &[u8]) -> bool {
    if contains(table, label) {
        return true;
    }
    // Keys starting with `label.` are adjacent in the sorted table; the first
    // key at or after `label.` is one of them if there is any.
    let mut prefix = label.to_vec();
    prefix.push(b'.');
    first_at_least(table, &prefix).is_some_and(|k| k.starts_with(&prefix))
}

/// Whether an encoded table holds `key`.
pub fn contains(table: &[u8], key: &[u8]) -> bool {
    first_at_least(table, key).is_some_and(|k| k == key)
}

/// The smallest key of an encoded table that is not below `key`.
fn first_at_least(table: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    if table.is_empty() {
        return None;
    }
    // The last anchor whose key is <= `key` is at or after `lo` (position 0
    // is an anchor); every anchor at or after `hi` holds a larger key.
    let (mut lo, mut hi) = (0, table.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match (mid..hi).find(|&q| table[q] == 0 && table[q - 1] & 0x80 != 0) {
            None => hi = mid,
            Some(a) if anchor_key(table, a).cmp(key.iter().copied()).is_le() => lo = a,
            Some(a) => hi = a,
        }
    }
    let mut current: Vec<u8> = Vec::with_capacity(key.len() + 16);
    let mut p = lo;
    while p < table.len() {
        current.truncate(usize::from(table[p]));
        p += 1;
        while let Some(&b) = table.get(p) {
            p += 1;
            current.push(b & 0x7f);
            if b & 0x80 != 0 {
                break;
            }
        }
        if current.as_slice() >= key {
            return Some(current);
        }
    }
    None
}

/// The whole key of the anchor at `at` (compared, never stored).
fn anchor_key(table: &[u8], at: usize) -> impl Iterator<Item = u8> + '_ {
    let rest = &table[at + 1..];
    let end = rest.iter().position(|b| b & 0x80 != 0).map_or(rest.len(), |i| i + 1);
    rest[..end].iter().map(|b| b & 0x7f)
}

/// Punycode (RFC 3492) of one label, without the `xn--` prefix; `None` on
/// overflow (a label far beyond DNS limits).
pub fn punycode(label: &str) -> Option<String> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    let digit = |d: u32| -> char {
        let d = d as u8;
        char::from(if d < 26 { b'a' + d } else { b'0' + d - 26 })
    };
    let code_points: Vec<u32> = label.chars().map(u32::from).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len();
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (0x80u32, 0u32, 72u32, basic);
    while handled < code_points.len() {
        let m = code_points.iter().copied().filter(|&c| c >= n).min()?;
        let seen = u32::try_from(handled + 1).ok()?;
        delta = delta.checked_add((m - n).checked_mul(seen)?)?;
        n = m;
        for &c in &code_points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias { T_MIN } else { (k - bias).min(T_MAX) };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, u32::try_from(handled + 1).ok()?, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// RFC 3492's bias adaptation.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + 38)
}
