//! Checks every section shares: value conversions that report the JSON path
//! and what is allowed, names that become file names, DNS names, paths.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::{Passphrase, Problem};
use crate::types::{Curve, KeyType};

#[derive(Default)]
pub(crate) struct Ck {
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
}

impl Ck {
    pub(crate) fn err(&mut self, path: &str, message: impl fmt::Display) {
        self.problems.push(Problem { json_path: path.to_string(), message: message.to_string() });
    }
    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

pub(crate) fn quoted_list(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    q.join(", ")
}

pub(crate) fn as_bool(ck: &mut Ck, path: &str, v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        _ => {
            ck.err(path, format!("{} is not allowed; use true or false", show(v)));
            false
        }
    }
}

pub(crate) fn as_u32(ck: &mut Ck, path: &str, v: &Value) -> u32 {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        // The original accepted anything int() accepts; numeric strings stay valid.
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n.and_then(|n| u32::try_from(n).ok()) {
        Some(n) => n,
        None => {
            ck.err(path, format!("{} is not allowed; use a non-negative integer", show(v)));
            0
        }
    }
}

/// Sizes and day counts where `0` or `null` disable the feature.
pub(crate) fn as_opt_u32(ck: &mut Ck, path: &str, v: &Value) -> Option<u32> {
    match v {
        Value::Null | Value::Bool(false) => None,
        _ => Some(as_u32(ck, path, v)).filter(|n| *n > 0),
    }
}

pub(crate) fn as_string(ck: &mut Ck, path: &str, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => {
            ck.err(path, format!("{} is not allowed; use a string", show(v)));
            String::new()
        }
    }
}

/// A string, or `null`/empty for none.
pub(crate) fn as_opt_string(ck: &mut Ck, path: &str, v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        _ => {
            ck.err(path, format!("{} is not allowed; use a string or null", show(v)));
            None
        }
    }
}

/// A string, a list of strings, or null (the original's `_get_list`).
pub(crate) fn as_str_list(ck: &mut Ck, path: &str, v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    Value::Null => {}
                    _ => ck.err(&idx(path, i), format!("{} is not allowed; use a string", show(item))),
                }
            }
            out
        }
        _ => {
            ck.err(path, format!("{} is not allowed; use a string, a list of strings or null", show(v)));
            Vec::new()
        }
    }
}

/// One of a fixed set of strings (or null when `nullable`).
pub(crate) fn as_choice<T: Copy>(
    ck: &mut Ck,
    path: &str,
    v: &Value,
    options: &[(&str, T)],
    nullable: bool,
) -> Option<T> {
    if v.is_null() && nullable {
        return None;
    }
    if let Value::String(s) = v {
        if let Some((_, t)) = options.iter().find(|(name, _)| name == s) {
            return Some(*t);
        }
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let mut allowed = quoted_list(&names);
    if nullable {
        allowed.push_str(" or null");
    }
    ck.err(path, format!("{} is not allowed; use one of {allowed}", show(v)));
    None
}

pub(crate) fn as_object<'a>(ck: &mut Ck, path: &str, v: &'a Value) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        Value::Null => None,
        _ => {
            ck.err(path, format!("{} is not allowed; use an object", show(v)));
            None
        }
    }
}

pub(crate) const KEY_TYPE_CHOICES: &[(&str, KeyType)] = &[("rsa", KeyType::Rsa), ("ecdsa", KeyType::Ecdsa)];

pub(crate) fn as_key_types(ck: &mut Ck, path: &str, v: &Value) -> Vec<KeyType> {
    let items: Vec<(String, &Value)> = match v {
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| (idx(path, i), item)).collect(),
        Value::Null => Vec::new(),
        _ => vec![(path.to_string(), v)],
    };
    let mut out = Vec::new();
    for (p, item) in items {
        if let Some(k) = as_choice(ck, &p, item, KEY_TYPE_CHOICES, false) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn as_curve(ck: &mut Ck, path: &str, v: &Value) -> Option<Curve> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) if Curve::parse(s).is_some() => Curve::parse(s),
        _ => {
            let names: Vec<&str> = Curve::ALL.iter().map(|c| c.as_str()).collect();
            ck.err(path, format!("{} is not allowed; use one of {} or null", show(v), quoted_list(&names)));
            None
        }
    }
}

pub(crate) const RSA_KEY_SIZES: [u32; 4] = [2048, 3072, 4096, 8192];

/// `key_size`: any size the original accepted (from 1024 bits) is taken, so
/// existing keys of that size are adopted; a size that cannot be generated
/// here is a warning saying what a new key will be.
pub(crate) fn as_key_size(ck: &mut Ck, path: &str, v: &Value) -> Option<u32> {
    let size = as_opt_u32(ck, path, v)?;
    if size == 0 {
        return Some(size);
    }
    if !(1024..=16384).contains(&size) {
        ck.err(path, format!("{size} is not allowed; use 2048, 3072, 4096 or 8192 (or 0 or null to disable RSA)"));
    } else if !RSA_KEY_SIZES.contains(&size) {
        ck.warn(format!(
            "{path}: existing {size}-bit RSA keys are used, but new RSA keys can only be 2048, 3072, 4096 or \
             8192 bits here: a new key will have {} bits",
            crate::crypto::rsa_generation_bits(size)
        ));
    }
    Some(size)
}

pub(crate) fn as_passphrase(ck: &mut Ck, path: &str, v: &Value) -> Passphrase {
    match v {
        Value::Null | Value::Bool(false) => Passphrase::None,
        Value::Bool(true) => Passphrase::Prompt,
        Value::String(s) if s.is_empty() => Passphrase::None,
        Value::String(s) => Passphrase::Value(s.clone()),
        // Never echo the value: it may be a mistyped secret.
        _ => {
            ck.err(path, "this value is not allowed; use null, false, true (ask at run time) or a passphrase string");
            Passphrase::None
        }
    }
}

pub(crate) fn as_port(ck: &mut Ck, path: &str, v: &Value) -> u16 {
    let before = ck.problems.len();
    let n = as_u32(ck, path, v);
    if ck.problems.len() > before {
        return 0;
    }
    match u16::try_from(n) {
        Ok(port) if port > 0 => port,
        _ => {
            ck.err(path, format!("{} is not allowed; use a port number from 1 to 65535", show(v)));
            0
        }
    }
}

pub(crate) fn warn_unknown(ck: &mut Ck, path: &str, map: &Map<String, Value>, known: &[&str], what: &str) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            ck.warn(format!("unknown {what} {} (ignored)", join(path, key)));
        }
    }
}

/// Why a private key or certificate name could escape its directory, if it could.
pub(crate) fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("it contains a path separator")
    } else if name.contains("..") {
        Some("it contains \"..\"")
    } else if name.starts_with('.') {
        Some("it starts with \".\"")
    } else if name.chars().any(|c| c.is_control()) {
        Some("it contains a control character")
    } else {
        None
    }
}

pub(crate) fn check_name(ck: &mut Ck, path: &str, what: &str, name: &str) -> bool {
    match unsafe_name_reason(name) {
        Some(reason) => {
            ck.err(path, format!("{what} name {name:?} is not allowed because {reason}; names are used as file names"));
            false
        }
        None => true,
    }
}

/// An IP address literal (RFC 8738 identifiers), in its canonical text
/// (IPv6 as RFC 5952: lower case, zeros compressed).
pub(crate) fn ip_literal(name: &str) -> Option<String> {
    name.trim().parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// Lower-cases and checks a DNS name (a leading `*.` label is allowed), or
/// an IP address literal (canonical form).
pub(crate) fn dns_name(ck: &mut Ck, path: &str, name: &str) -> Option<String> {
    if let Some(ip) = ip_literal(name) {
        return Some(ip);
    }
    let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let body = lower.strip_prefix("*.").unwrap_or(&lower);
    let ok = !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Some(lower)
    } else {
        ck.err(path, format!("{name:?} is not a valid DNS name"));
        None
    }
}

/// `@` → the zone, `host` → `host.zone`.
pub(crate) fn host_in_zone(host: &str, zone: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host == "@" {
        zone.to_string()
    } else {
        format!("{host}.{zone}")
    }
}

/// The original's `_host_in_list`: equal, or one is a wildcard covering the other.
pub(crate) fn host_matches(a: &str, b: &str) -> bool {
    let parent = |n: &str| n.split_once('.').map(|(_, p)| p.to_string());
    a == b
        || (b.starts_with("*.") && parent(a).as_deref() == Some(&b[2..]))
        || (a.starts_with("*.") && parent(b).as_deref() == Some(&a[2..]))
}

/// Lexical normalization (the original's `os.path.normpath`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

pub(crate) fn resolve_path(base: &Path, p: &str) -> PathBuf {
    normalize(&base.join(p))
}

/// `ip`, `ip:port`, `[v6]:port` or bare `v6`; the port defaults to 53.
pub fn parse_resolver(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, 53));
        }
    }
    None
}

/// Every name in `list` must be a key of `defined`.
/// `ct_submit_logs`: names defined in `ct_logs` are kept; a retired log the
/// original's defaults named (`google_icarus`, `google_pilot`...) is a warning
/// and skipped, as a migrating user's configuration still lists them; any
/// other name is an error.
pub(crate) fn ct_log_refs<T>(ck: &mut Ck, path: &str, list: Vec<String>, defined: &BTreeMap<String, T>) -> Vec<String> {
    let retired = super::defaults::retired_ct_logs();
    let mut kept = Vec::with_capacity(list.len());
    let mut unknown = Vec::new();
    for name in list {
        if defined.contains_key(&name) {
            kept.push(name);
        } else if retired.contains(&name) {
            ck.warn(format!("{path}: {name:?} is a certificate transparency log that was shut down; skipped"));
        } else {
            unknown.push(name);
        }
    }
    check_refs(ck, path, &unknown, defined, "certificate transparency log", "ct_logs");
    kept
}

pub(crate) fn check_refs<T>(
    ck: &mut Ck,
    path: &str,
    list: &[String],
    defined: &BTreeMap<String, T>,
    what: &str,
    section: &str,
) {
    for (i, name) in list.iter().enumerate() {
        if !defined.contains_key(name) {
            let p = if list.len() == 1 { path.to_string() } else { idx(path, i) };
            let names: Vec<&str> = defined.keys().map(String::as_str).collect();
            ck.err(
                &p,
                format!("unknown {what} {name:?}; define it in {section} or use one of {}", quoted_list(&names)),
            );
        }
    }
}
