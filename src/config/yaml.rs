//! YAML configuration documents, read as the original read them: PyYAML's
//! `SafeLoader` (YAML 1.1 scalar resolution), turned into the JSON value the
//! rest of the configuration code checks. Pure: text in, value out.
//!
//! What the original's loader did, and so what this does:
//!
//! * Plain (unquoted) scalars are resolved by YAML 1.1 rules: `yes`, `no`,
//!   `on`, `off`, `true`, `false` (lower case, Capitalized or UPPER CASE) are
//!   booleans; `~`, `null`, `Null`, `NULL` and nothing are null; integers
//!   may be `0x1f`, `0b101`, `017` (octal), `1_000` or `1:30` (base 60);
//!   floats need a dot (`1.5`, `1.0e+3`, `.5`) or are `.inf`/`.nan`;
//!   everything else, timestamps and `0o17` included, is a string. Quoted
//!   and block scalars are always strings.
//! * Anchors (`&a`), aliases (`*a`) and merge keys (`<<: *a`,
//!   `<<: [*a, *b]`, earlier sources winning) work; explicit keys override
//!   merged ones. A later duplicate key wins, in the place of the first.
//! * One document at most; an empty stream or document is null.
//! * Tags: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`,
//!   `!!seq` and `!`; any other tag is an error, as in `SafeLoader`.
//! * Mapping keys become strings as the original's `json.dumps` wrote them
//!   (`1` → `"1"`, `true` → `"true"`, `~` → `"null"`); a mapping or
//!   sequence as a key is an error.
//!
//! Where the value cannot be JSON, it is an error with its position: `.inf`,
//! `.nan` and numbers too large for a double, a recursive alias. Integers
//! past 64 bits and floats are read as the JSON configuration's numbers are
//! (serde_json, which may be one unit in the last place off for a float with
//! a large exponent; the standard library's exact parser would add its tables
//! to the binary). Left as PyYAML did not: a redefined anchor (aliases take
//! the latest), tabs as separators, an empty key in a block mapping. Nesting is
//! bounded ([`MAX_DEPTH`]) and so is what aliases expand to ([`MAX_NODES`],
//! [`MAX_TEXT`]): a "billion laughs" document is refused, not built.
//!
//! The parser is `yaml_rust2`'s event parser, pulled one event at a time (its
//! `load` recurses once per nesting level before a receiver could stop it).

use std::fmt;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// The deepest nesting of mappings and sequences accepted (aliases included).
pub(crate) const MAX_DEPTH: usize = 64;
/// The most values (scalars, mappings, sequences, keys) a document may
/// expand to, aliases repeated and anchors kept counted.
pub(crate) const MAX_NODES: usize = 1_000_000;
/// The most text (bytes of scalars and keys) a document may expand to.
pub(crate) const MAX_TEXT: usize = 16 << 20;

/// A YAML document that cannot be read, with its 1-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

fn error_at(mark: Marker, message: impl Into<String>) -> YamlError {
    YamlError { line: mark.line(), column: mark.col() + 1, message: message.into() }
}

fn scan_error(e: ScanError) -> YamlError {
    error_at(*e.marker(), e.info())
}

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Parses a YAML stream holding at most one document into JSON; an empty
/// stream, or a document that is empty or `~`, gives `Value::Null`.
pub(crate) fn to_json(text: &str) -> Result<Value, YamlError> {
    // PyYAML skips a byte order mark at the start.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_printable(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let mut result = Value::Null;
    let mut documents = 0;
    loop {
        let (event, mark) = parser.next_token().map_err(scan_error)?;
        match event {
            Event::StreamEnd => return Ok(result),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(error_at(mark, "expected a single document in the stream, but found another document"));
                }
            }
            event => {
                if let Some(root) = builder.event(event, mark)? {
                    result = root;
                }
            }
        }
    }
}

/// PyYAML refuses control characters (other than tab and line breaks),
/// DEL, the C1 controls other than NEL, and U+FFFE/U+FFFF anywhere.
fn check_printable(text: &str) -> Result<(), YamlError> {
    let bad = |c: char| match c {
        '\t' | '\n' | '\r' | '\u{85}' => false,
        c if c < ' ' => true,
        '\u{7f}'..='\u{9f}' => true,
        '\u{fffe}' | '\u{ffff}' => true,
        _ => false,
    };
    let Some((at, c)) = text.char_indices().find(|&(_, c)| bad(c)) else {
        return Ok(());
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Err(YamlError {
        line,
        column,
        message: format!("unacceptable character #x{:04x}: special characters are not allowed", c as u32),
    })
}

/// How much a value costs: the budget of [`MAX_NODES`] and [`MAX_TEXT`], and
/// its height (0 for a scalar) for [`MAX_DEPTH`].
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    nodes: usize,
    text: usize,
    height: usize,
}

impl Size {
    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.text = self.text.saturating_add(other.text);
        self.height = self.height.max(other.height);
    }
}

enum Key {
    /// A plain `<<`: the value is merged into the mapping.
    Merge,
    Name(String),
}

enum Kind {
    Seq(Vec<Value>),
    Map {
        /// Mappings merged in by `<<`, in the order they take effect.
        merged: Vec<Map<String, Value>>,
        pairs: Vec<(String, Value)>,
        key: Option<Key>,
    },
}

struct Frame {
    kind: Kind,
    anchor: usize,
    /// Where the collection starts, for errors.
    start: Marker,
    /// This collection and what is in it so far.
    size: Size,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Completed anchored values by the parser's anchor id (1, 2, ...).
    anchors: Vec<Option<(Value, Size)>>,
    /// What the document has expanded to so far.
    total: Size,
}

impl Builder {
    /// Whether the next node is a mapping key.
    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame { kind: Kind::Map { key: None, .. }, .. }))
    }

    fn spend(&mut self, size: Size, mark: Marker) -> Result<(), YamlError> {
        self.total.add(Size { height: 0, ..size });
        if self.total.nodes > MAX_NODES || self.total.text > MAX_TEXT {
            return Err(error_at(
                mark,
                format!(
                    "the document expands to more than {MAX_NODES} values or {} MiB of text \
                     (each alias repeats what its anchor holds)",
                    MAX_TEXT >> 20
                ),
            ));
        }
        Ok(())
    }

    fn too_deep(mark: Marker) -> YamlError {
        error_at(mark, format!("mappings and sequences are nested more than {MAX_DEPTH} deep"))
    }

    /// Keeps a completed anchored value for its aliases; the copy counts.
    fn keep(&mut self, anchor: usize, value: &Value, size: Size, mark: Marker) -> Result<(), YamlError> {
        if anchor != 0 {
            self.spend(size, mark)?;
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some((value.clone(), size));
        }
        Ok(())
    }

    /// Takes one event inside a document; returns the root once complete.
    fn event(&mut self, event: Event, mark: Marker) -> Result<Option<Value>, YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let size = Size { nodes: 1, text: text.len(), height: 0 };
                self.spend(size, mark)?;
                if self.expecting_key() && style == TScalarStyle::Plain && tag.is_none() {
                    // `<<` is a merge key; a `=` key is the text (PyYAML's flatten_mapping).
                    let key = match text.as_str() {
                        "<<" => Some(Key::Merge),
                        "=" => Some(Key::Name(text.clone())),
                        _ => None,
                    };
                    if let Some(key) = key {
                        self.set_key(key, size);
                        return Ok(None);
                    }
                }
                let scalar = Scalar::read(text, style, tag.as_ref(), mark)?;
                if self.expecting_key() {
                    if anchor != 0 {
                        self.keep(anchor, &scalar.value(mark)?, size, mark)?;
                    }
                    self.set_key(Key::Name(scalar.key()), size);
                    return Ok(None);
                }
                let value = scalar.value(mark)?;
                self.keep(anchor, &value, size, mark)?;
                self.complete(value, size, mark)
            }
            Event::Alias(id) => {
                let Some((value, size)) = self.anchors.get(id).and_then(|a| a.as_ref()).map(|(v, s)| (v.clone(), *s))
                else {
                    return Err(error_at(mark, "an alias refers to its own anchor (a recursive structure)"));
                };
                if self.stack.len() + size.height > MAX_DEPTH {
                    return Err(Self::too_deep(mark));
                }
                self.spend(size, mark)?;
                if self.expecting_key() {
                    let key = key_of_value(&value)
                        .ok_or_else(|| error_at(mark, "a mapping key must be a scalar, not a mapping or sequence"))?;
                    self.set_key(Key::Name(key), size);
                    return Ok(None);
                }
                self.complete(value, size, mark)
            }
            Event::SequenceStart(anchor, tag) => self.open(Kind::Seq(Vec::new()), "seq", anchor, tag, mark),
            Event::MappingStart(anchor, tag) => {
                let kind = Kind::Map { merged: Vec::new(), pairs: Vec::new(), key: None };
                self.open(kind, "map", anchor, tag, mark)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(error_at(mark, "unexpected end of a collection"));
                };
                let value = match frame.kind {
                    Kind::Seq(items) => Value::Array(items),
                    Kind::Map { merged, pairs, .. } => {
                        let mut map = Map::new();
                        for (k, v) in merged.into_iter().flatten().chain(pairs) {
                            map.insert(k, v);
                        }
                        Value::Object(map)
                    }
                };
                let size = Size { height: frame.size.height + 1, ..frame.size };
                self.keep(frame.anchor, &value, size, frame.start)?;
                self.complete(value, size, frame.start)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {
                Ok(None)
            }
        }
    }

    fn open(
        &mut self,
        kind: Kind,
        tag_name: &str,
        anchor: usize,
        tag: Option<Tag>,
        mark: Marker,
    ) -> Result<Option<Value>, YamlError> {
        if let Some(tag) = tag {
            let full = format!("{}{}", tag.handle, tag.suffix);
            if full != "!" && full.strip_prefix(TAG_PREFIX) != Some(tag_name) {
                return Err(no_constructor(&full, mark));
            }
        }
        if self.expecting_key() {
            return Err(error_at(mark, "a mapping key must be a scalar, not a mapping or sequence"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(Self::too_deep(mark));
        }
        let size = Size { nodes: 1, text: 0, height: 0 };
        self.spend(size, mark)?;
        self.stack.push(Frame { kind, anchor, start: mark, size });
        Ok(None)
    }

    /// The next node is the value of `new`, whose size the mapping holds.
    fn set_key(&mut self, new: Key, size: Size) {
        if let Some(Frame { kind: Kind::Map { key, .. }, size: map_size, .. }) = self.stack.last_mut() {
            map_size.add(size);
            *key = Some(new);
        }
    }

    /// A node is complete: it becomes an item, a value of its key, merged
    /// mappings, or the root.
    fn complete(&mut self, value: Value, size: Size, mark: Marker) -> Result<Option<Value>, YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            return Ok(Some(value));
        };
        frame.size.add(size);
        match &mut frame.kind {
            Kind::Seq(items) => items.push(value),
            Kind::Map { merged, pairs, key } => match key.take() {
                Some(Key::Name(k)) => pairs.push((k, value)),
                Some(Key::Merge) => match value {
                    Value::Object(m) => merged.push(m),
                    Value::Array(items) => {
                        let mut maps = Vec::with_capacity(items.len());
                        for item in items {
                            match item {
                                Value::Object(m) => maps.push(m),
                                _ => return Err(error_at(mark, "expected a mapping for merging (<<)")),
                            }
                        }
                        // The first of the list wins: it is merged last.
                        merged.extend(maps.into_iter().rev());
                    }
                    _ => return Err(error_at(mark, "expected a mapping or list of mappings for merging (<<)")),
                },
                // Keys never complete: `event` sets them.
                None => return Err(error_at(mark, "a mapping key is missing")),
            },
        }
        Ok(None)
    }
}

fn no_constructor(tag: &str, mark: Marker) -> YamlError {
    error_at(mark, format!("could not determine a constructor for the tag '{tag}'"))
}

/// A resolved scalar, before it is a JSON value or a key.
#[derive(Debug, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(Int),
    Float(f64),
    Str(String),
}

/// An integer: exact, or (past `i128`) approximated as the JSON parser does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Int {
    Exact(i128),
    Approx(f64),
}

impl Scalar {
    fn read(text: String, style: TScalarStyle, tag: Option<&Tag>, mark: Marker) -> Result<Scalar, YamlError> {
        let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
        let bad = |kind: &str| error_at(mark, format!("cannot read {text:?} as {kind}"));
        Ok(match tag.as_deref() {
            None if style == TScalarStyle::Plain => resolve(text, mark)?,
            None => Scalar::Str(text),
            // PyYAML resolves a scalar with the non-specific tag as if plain.
            Some("!") => resolve(text, mark)?,
            Some(t) => match t.strip_prefix(TAG_PREFIX) {
                Some("str") => Scalar::Str(text),
                Some("null") => Scalar::Null,
                Some("bool") => Scalar::Bool(bool_word(&text).ok_or_else(|| bad("a boolean"))?),
                Some("int") if int_shape(&text) => Scalar::Int(int_value(&text).ok_or_else(|| bad("an integer"))?),
                Some("int") => return Err(bad("an integer")),
                Some("float") => Scalar::Float(float_value(&text).ok_or_else(|| bad("a float"))?),
                _ => return Err(no_constructor(t, mark)),
            },
        })
    }

    fn value(&self, mark: Marker) -> Result<Value, YamlError> {
        let float = |f: f64| {
            Number::from_f64(f).map(Value::Number).ok_or_else(|| {
                error_at(mark, "infinity, NaN and numbers too large for a double are not allowed in the configuration")
            })
        };
        Ok(match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Int(Int::Exact(i)) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(u)) => Value::from(u),
                _ => float(*i as f64)?,
            },
            Scalar::Int(Int::Approx(f)) | Scalar::Float(f) => float(*f)?,
            Scalar::Str(s) => Value::String(s.clone()),
        })
    }

    /// The key's text, as the original's `json.dumps` wrote a key.
    fn key(self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(Int::Exact(i)) => i.to_string(),
            Scalar::Int(Int::Approx(f)) | Scalar::Float(f) => py_float_repr(f),
            Scalar::Str(s) => s,
        }
    }
}

/// The key an aliased scalar stands for; `None` for a collection.
fn key_of_value(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => py_float_repr(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// YAML 1.1 implicit resolution of a plain scalar, PyYAML's rules.
fn resolve(text: String, mark: Marker) -> Result<Scalar, YamlError> {
    if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Scalar::Null);
    }
    if let Some(b) = bool_word(&text).filter(|_| is_bool_spelling(&text)) {
        return Ok(Scalar::Bool(b));
    }
    if float_shape(&text) {
        return float_value(&text).map(Scalar::Float).ok_or_else(|| error_at(mark, format!("invalid float {text:?}")));
    }
    if int_shape(&text) {
        // `0x_` and `0b_` have the shape but no digits: PyYAML fails on them too.
        return int_value(&text).map(Scalar::Int).ok_or_else(|| error_at(mark, format!("invalid integer {text:?}")));
    }
    // Plain `<<` and `=` resolve to tags that SafeLoader cannot construct.
    if text == "<<" || text == "=" {
        let what = if text == "<<" { "merge" } else { "value" };
        return Err(error_at(
            mark,
            format!("could not determine a constructor for the tag '{TAG_PREFIX}{what}' (quote {text:?} for the text)"),
        ));
    }
    Ok(Scalar::Str(text))
}

/// The boolean words of YAML 1.1, in any casing (as `!!bool` reads them).
fn bool_word(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Whether a boolean word is in one of the three casings resolved implicitly.
fn is_bool_spelling(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let mut capitalized = lower.clone();
    capitalized[..1].make_ascii_uppercase();
    s == lower || s == capitalized || s == lower.to_ascii_uppercase()
}

/// A cursor for matching PyYAML's resolver patterns by hand.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s: s.as_bytes(), i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, ok: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(c) if ok(c) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    fn eat_all(&mut self, ok: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.eat(&ok) {}
        self.i - start
    }
    fn sign(&mut self) -> bool {
        self.eat(|c| c == b'+' || c == b'-')
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
    /// `(?::[0-5]?[0-9])+`, at least once.
    fn sexagesimal(&mut self) -> bool {
        let mut parts = 0;
        while self.eat(|c| c == b':') {
            let two = matches!(self.s.get(self.i..self.i + 2), Some([a, b]) if (b'0'..=b'5').contains(a) && b.is_ascii_digit());
            if two {
                self.i += 2;
            } else if !self.eat(|c| c.is_ascii_digit()) {
                return false;
            }
            parts += 1;
        }
        parts > 0
    }
    /// `(?:[eE][-+][0-9]+)?` then the end.
    fn exponent_then_end(&mut self) -> bool {
        if self.eat(|c| c == b'e' || c == b'E') && !(self.sign() && self.eat_all(|c| c.is_ascii_digit()) > 0) {
            return false;
        }
        self.done()
    }
}

fn digit_(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

/// PyYAML's implicit int pattern:
/// `[-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`
fn int_shape(s: &str) -> bool {
    let mut c = Cursor::new(s);
    c.sign();
    let rest = &s[c.i..];
    if let Some(r) = rest.strip_prefix("0b") {
        return !r.is_empty() && r.bytes().all(|b| matches!(b, b'0' | b'1' | b'_'));
    }
    if let Some(r) = rest.strip_prefix("0x") {
        return !r.is_empty() && r.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_');
    }
    if let Some(r) = rest.strip_prefix('0') {
        return r.bytes().all(|b| matches!(b, b'0'..=b'7' | b'_'));
    }
    if !c.eat(|b| (b'1'..=b'9').contains(&b)) {
        return false;
    }
    c.eat_all(digit_);
    c.done() || (c.sexagesimal() && c.done())
}

/// PyYAML's implicit float pattern:
/// `[-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)?
///  | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)`
fn float_shape(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let mut c = Cursor::new(s);
    let signed = c.sign();
    if matches!(&s[c.i..], ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if c.peek() == Some(b'.') {
        c.i += 1;
        return !signed && c.eat(|b| b.is_ascii_digit()) && {
            c.eat_all(digit_);
            c.exponent_then_end()
        };
    }
    if !c.eat(|b| b.is_ascii_digit()) {
        return false;
    }
    c.eat_all(digit_);
    if c.peek() == Some(b':') {
        if !(c.sexagesimal() && c.eat(|b| b == b'.')) {
            return false;
        }
        c.eat_all(digit_);
        return c.done();
    }
    c.eat(|b| b == b'.') && {
        c.eat_all(digit_);
        c.exponent_then_end()
    }
}

/// `construct_yaml_int`: underscores dropped; `0b`, `0x`, a leading `0`
/// (octal) and `:` (base 60) as PyYAML reads them. `None`: no digits.
fn int_value(text: &str) -> Option<Int> {
    let s: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, &s[..]),
    };
    let (digits, radix) = if let Some(d) = s.strip_prefix("0b") {
        (d, 2)
    } else if let Some(d) = s.strip_prefix("0x") {
        (d, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (s, 8)
    } else if s.contains(':') {
        let mut total = Int::Exact(0);
        for part in s.split(':') {
            let part = match part.parse::<u32>() {
                Ok(p) => Int::Exact(i128::from(p)),
                Err(_) => return None,
            };
            total = total.mul_add(60, part);
        }
        return Some(total.with_sign(negative));
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let mut total = Int::Exact(0);
    for c in digits.chars() {
        total = total.mul_add(radix, Int::Exact(i128::from(c.to_digit(radix)?)));
    }
    Some(total.with_sign(negative))
}

impl Int {
    fn as_f64(self) -> f64 {
        match self {
            Int::Exact(i) => i as f64,
            Int::Approx(f) => f,
        }
    }
    fn mul_add(self, radix: u32, digit: Int) -> Int {
        match (self, digit) {
            (Int::Exact(a), Int::Exact(d)) => match a.checked_mul(i128::from(radix)).and_then(|m| m.checked_add(d)) {
                Some(v) => Int::Exact(v),
                None => Int::Approx(a as f64 * f64::from(radix) + d as f64),
            },
            (a, d) => Int::Approx(a.as_f64() * f64::from(radix) + d.as_f64()),
        }
    }
    fn with_sign(self, negative: bool) -> Int {
        match (self, negative) {
            (i, false) => i,
            (Int::Exact(i), true) => Int::Exact(-i),
            (Int::Approx(f), true) => Int::Approx(-f),
        }
    }
}

/// `construct_yaml_float`: underscores dropped, `.inf`, `.nan`, base 60.
fn float_value(text: &str) -> Option<f64> {
    let s: String = text.chars().filter(|&c| c != '_').collect::<String>().to_ascii_lowercase();
    let (sign, s) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, &s[..]),
    };
    let value = match s {
        ".inf" => f64::INFINITY,
        ".nan" => f64::NAN,
        s if s.contains(':') => {
            let mut total = 0.0;
            for part in s.split(':') {
                total = total * 60.0 + decimal(part)?;
            }
            total
        }
        s => decimal(s)?,
    };
    Some(sign * value)
}

/// An unsigned decimal float (`1.`, `.5`, `1.5e+3`, `017.0`), read by
/// serde_json's number parser as the JSON configuration's numbers are (the
/// standard library's parser would add its tables to the binary).
fn decimal(s: &str) -> Option<f64> {
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) || !exponent_ok {
        return None;
    }
    let int = int.trim_start_matches('0');
    let mut json = String::with_capacity(s.len() + 3);
    json.push_str(if int.is_empty() { "0" } else { int });
    json.push('.');
    json.push_str(if frac.is_empty() { "0" } else { frac });
    if let Some(e) = exponent {
        json.push('e');
        json.push_str(e);
    }
    // Well formed, so a failure is a number past the largest double.
    Some(serde_json::from_str::<f64>(&json).unwrap_or(f64::INFINITY))
}

/// Python's `repr` of a float (how `json.dumps` writes a float key): the
/// shortest digits that read back, positional for exponents -4 to 15.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // The shortest digits that read back, from serde_json's formatter (ryu):
    // "123.0", "0.0001", "1e20", "1.5e-7".
    let shortest = Number::from_f64(f).map_or_else(|| "0.0".to_string(), |n| n.to_string());
    let (sign, shortest) = match shortest.strip_prefix('-') {
        Some(s) => ("-", s),
        None => ("", shortest.as_str()),
    };
    let (mantissa, e) = shortest.split_once(['e', 'E']).unwrap_or((shortest, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    let (digits, exp) = if digits.is_empty() {
        ("0".to_string(), 0)
    } else {
        (digits.to_string(), int.len() as i32 - leading as i32 - 1 + e)
    };
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            let mut int_part = digits.clone();
            while int_part.len() < point {
                int_part.push('0');
            }
            let frac = &digits[point.min(digits.len())..];
            format!("{}.{}", &int_part[..point], if frac.is_empty() { "0" } else { frac })
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        format!("{first}{frac}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(text: &str) -> Value {
        match to_json(text) {
            Ok(v) => v,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    fn err(text: &str) -> YamlError {
        match to_json(text) {
            Ok(v) => panic!("{text:?}: expected an error, got {v}"),
            Err(e) => e,
        }
    }

    /// Plain scalars, each checked against PyYAML 6.0.3's `SafeLoader`.
    #[test]
    fn plain_scalars_resolve_as_pyyaml_does() {
        let cases: &[(&str, Value)] = &[
            // booleans: three casings of six words; no y/n
            ("yes", json!(true)),
            ("Yes", json!(true)),
            ("YES", json!(true)),
            ("on", json!(true)),
            ("On", json!(true)),
            ("ON", json!(true)),
            ("true", json!(true)),
            ("True", json!(true)),
            ("TRUE", json!(true)),
            ("no", json!(false)),
            ("No", json!(false)),
            ("NO", json!(false)),
            ("off", json!(false)),
            ("Off", json!(false)),
            ("OFF", json!(false)),
            ("false", json!(false)),
            ("FALSE", json!(false)),
            ("yEs", json!("yEs")),
            ("oN", json!("oN")),
            ("y", json!("y")),
            ("n", json!("n")),
            // null
            ("~", Value::Null),
            ("null", Value::Null),
            ("Null", Value::Null),
            ("NULL", Value::Null),
            ("nUll", json!("nUll")),
            // integers
            ("0", json!(0)),
            ("-0", json!(0)),
            ("+12", json!(12)),
            ("1_000", json!(1000)),
            ("0x1F", json!(31)),
            ("0xff", json!(255)),
            ("-0x10", json!(-16)),
            ("0b101", json!(5)),
            ("0777", json!(511)),
            ("00", json!(0)),
            ("0_", json!(0)),
            ("1:30", json!(90)),
            ("-1:00:01", json!(-3601)),
            ("9223372036854775807", json!(i64::MAX)),
            ("18446744073709551615", json!(u64::MAX)),
            // not integers
            ("0o17", json!("0o17")),
            ("08", json!("08")),
            ("0x", json!("0x")),
            ("1e5", json!("1e5")),
            ("1e+5", json!("1e+5")),
            ("1:60", json!("1:60")),
            ("1_000a", json!("1_000a")),
            // floats
            ("1.5", json!(1.5)),
            ("-1.5", json!(-1.5)),
            ("1.", json!(1.0)),
            ("1.e-3", json!(0.001)),
            ("1.0e+3", json!(1000.0)),
            ("1.5E-1", json!(0.15)),
            (".5", json!(0.5)),
            ("1_._", json!(1.0)),
            ("1:30.5", json!(90.5)),
            ("017.5", json!(17.5)),
            ("00.5", json!(0.5)),
            ("0.1", json!(0.1)),
            ("2.5e+300", json!(2.5e300)),
            ("1.0e-310", json!(1.0e-310)),
            // not floats
            ("-.5", json!("-.5")),
            ("+.5", json!("+.5")),
            ("._5", json!("._5")),
            ("1.0e5", json!("1.0e5")),
            ("1.0e", json!("1.0e")),
            (".", json!(".")),
            // timestamps and the rest stay strings
            ("2001-12-14", json!("2001-12-14")),
            ("2001-12-14t21:59:43.10-05:00", json!("2001-12-14t21:59:43.10-05:00")),
            ("example.com", json!("example.com")),
            ("/etc/ssl/certs", json!("/etc/ssl/certs")),
            ("1.2.3.4", json!("1.2.3.4")),
            ("192.0.2.1:53", json!("192.0.2.1:53")),
        ];
        for (text, expected) in cases {
            assert_eq!(&ok(text), expected, "{text:?}");
            assert_eq!(ok(&format!("v: {text}"))["v"], *expected, "v: {text}");
        }
        assert_eq!(ok(""), Value::Null);
        assert_eq!(ok("# only a comment\n"), Value::Null);
        assert_eq!(ok("---\n...\n"), Value::Null);
        assert_eq!(ok("a:"), json!({"a": null}));
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        let v = ok("a: 'yes'\nb: \"0x10\"\nc: |\n  on\nd: >\n  ~\ne: '~'\nf: \"\"\ng: 'null'\n");
        assert_eq!(v, json!({"a": "yes", "b": "0x10", "c": "on\n", "d": "~\n", "e": "~", "f": "", "g": "null"}));
    }

    #[test]
    fn tags_as_safe_loader_reads_them() {
        let v = ok("a: !!str 12\nb: !!int \"0x1f\"\nc: !!bool YeS\nd: !!null abc\ne: ! 12\nf: ! \"12\"\ng: !!float 1\nh: !!seq [1]\ni: !!map {j: 2}");
        assert_eq!(
            v,
            json!({"a": "12", "b": 31, "c": true, "d": null, "e": 12, "f": 12, "g": 1.0, "h": [1], "i": {"j": 2}})
        );
        let e = err("a: !foo x");
        assert_eq!((e.line, e.column), (1, 9));
        assert!(e.message.contains("could not determine a constructor for the tag '!foo'"), "{e}");
        assert!(err("a: !!binary aGk=").message.contains("tag:yaml.org,2002:binary"));
        assert!(err("a: !!set {x}").message.contains("tag:yaml.org,2002:set"));
        assert!(err("a: !!int abc").message.contains("cannot read \"abc\" as an integer"));
        assert_eq!(ok("a: !!float 1e5\nb: !!float '-1_0'"), json!({"a": 100000.0, "b": -10.0}));
        for bad in ["abc", "1.5.5", "--1", "1e", "1e+", "."] {
            assert!(err(&format!("a: !!float '{bad}'")).message.contains("as a float"), "{bad}");
        }
        assert!(err("a: <<").message.contains("tag:yaml.org,2002:merge"));
        assert!(err("a: =").message.contains("tag:yaml.org,2002:value"));
        assert_eq!(ok("'<<': 1\n=: 2"), json!({"<<": 1, "=": 2}));
    }

    #[test]
    fn keys_become_strings_as_json_dumps_wrote_them() {
        let v = ok("1: a\n2.5: b\ntrue: c\n~: d\n0x10: e\n1e400: f\n1.0e+20: g\n0.0001: h\n1.0e-5: i\n123456789012345678901234567890: j");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["1", "2.5", "true", "null", "16", "1e400", "1e+20", "0.0001", "1e-05", "123456789012345678901234567890"]
        );
        assert!(err("[a]: 1").message.contains("a mapping key must be a scalar"));
        assert!(err("? {a: 1}\n: 2").message.contains("a mapping key must be a scalar"));
        assert!(err("a: &x [1]\n*x : 2").message.contains("a mapping key must be a scalar"));
        assert_eq!(ok("a: &k name\n*k : 2"), json!({"a": "name", "name": 2}));
    }

    #[test]
    fn later_duplicate_keys_win_in_the_first_place() {
        let v = ok("a: 1\nb: 2\na: 3");
        assert_eq!(v, json!({"a": 3, "b": 2}));
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = ok("
base: &base
  x: 1
  y: 2
other: &other
  y: 20
  z: 30
list: &l [a, b]
copy: *l
one:
  <<: *base
  y: 3
two:
  <<: [*base, *other]
  w: 0
three:
  <<: *base
  <<: {x: 10, v: 5}
nested:
  <<: {<<: *other, z: 31}
");
        assert_eq!(v["copy"], json!(["a", "b"]));
        assert_eq!(v["one"], json!({"x": 1, "y": 3}));
        // The first of a merge list wins; the order is PyYAML's (later sources first).
        assert_eq!(v["two"], json!({"y": 2, "z": 30, "x": 1, "w": 0}));
        let order: Vec<&String> = v["two"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["y", "z", "x", "w"]);
        assert_eq!(v["three"], json!({"x": 10, "y": 2, "v": 5}));
        assert_eq!(v["nested"], json!({"y": 20, "z": 31}));
        assert!(err("a: &a {x: 1}\nb:\n  <<: 1").message.contains("expected a mapping or list of mappings"));
        assert!(err("a: &a {x: 1}\nb:\n  <<: [*a, 1]").message.contains("expected a mapping for merging"));
        let e = err("a: &a\n  - *a");
        assert!(e.message.contains("recursive"), "{e}");
        assert!(err("a: *nope").message.contains("unknown anchor"));
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = err("settings:\n  renewal_days: 30\n bad: [1\n");
        assert!(e.line >= 3, "{e}");
        let e = err("a: b\nc: d: e\n");
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert!(e.message.contains("mapping values are not allowed"), "{e}");
        let e = err("a: 1\n---\nb: 2\n");
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("expected a single document"), "{e}");
        let e = err("a: 1\nb: x\u{1}y\n");
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert!(e.message.contains("unacceptable character #x0001"), "{e}");
        let e = err("a: .inf");
        assert_eq!((e.line, e.column), (1, 4), "{e}");
        assert!(e.message.contains("infinity"), "{e}");
        assert!(err("a: 1.0e+400").message.contains("infinity"));
        assert!(err("a: 0x_").message.contains("invalid integer"));
        assert_eq!(ok("\u{feff}a: 1"), json!({"a": 1}));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(to_json(&deep(MAX_DEPTH)).is_ok());
        assert!(err(&deep(MAX_DEPTH + 1)).message.contains("nested more than 64 deep"));
        // Block nesting is not bounded by the scanner; the builder stops it.
        let block: String = (0..100).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
        assert!(err(&block).message.contains("nested more than 64 deep"));
        let compact = "- ".repeat(30_000) + "x";
        assert!(err(&compact).message.contains("nested more than 64 deep"));
        // Aliases count too: an anchor 40 deep used 40 deep.
        let anchored = format!("a: &a {}\nb: {}*a{}", deep(40), "[".repeat(40), "]".repeat(40));
        assert!(err(&anchored).message.contains("nested more than 64 deep"));
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = err(&doc);
        assert!(e.message.contains("expands to more than 1000000 values"), "{e}");
        // Long text repeated is bounded too.
        let mut doc = format!("t: &t '{}'\n", "x".repeat(60_000));
        doc.push_str(
            "l: &l [*t, *t, *t, *t, *t, *t, *t, *t, *t, *t]\nm: &m [*l, *l, *l, *l, *l, *l, *l, *l, *l, *l]\n",
        );
        doc.push_str("n: [*m, *m, *m, *m, *m, *m, *m, *m, *m, *m]\n");
        assert!(err(&doc).message.contains("MiB of text"));
        // A few levels are fine.
        let v = ok("a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]");
        assert_eq!(v["c"], json!([[[1, 2], [1, 2]], [[1, 2], [1, 2]]]));
    }

    #[test]
    fn json_documents_read_the_same() {
        let text = include_str!("../../acmebot.example.json");
        let from_json: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ok(text), from_json);
    }

    #[test]
    fn python_float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (2.5, "2.5"),
            (123.0, "123.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e300, "1e+300"),
        ] {
            assert_eq!(py_float_repr(f), s);
        }
    }
}
