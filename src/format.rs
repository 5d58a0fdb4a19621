//! Python `str.format`-style patterns, as used by the configuration for
//! directories, file names, hooks and HPKP headers.
//!
//! Only the subset the configuration needs is supported: `{field}` is replaced
//! by the field's value, `{{` and `}}` stand for literal braces. Conversions
//! (`{x!r}`), format specs (`{x:>4}`), positional (`{}`, `{0}`) and attribute or
//! index access (`{a.b}`, `{a[0]}`) are rejected with a clear error.

use std::fmt;

/// Why a pattern could not be parsed or rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// `{field}` names a field that is not available here.
    UnknownField { field: String, pattern: String, available: Vec<String> },
    /// A `{` without its `}`, or a single `}` that is not doubled.
    Unbalanced { pattern: String, position: usize, message: &'static str },
    /// Something between braces that is not a plain field name.
    BadField { field: String, pattern: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::UnknownField { field, pattern, available } => {
                write!(f, "unknown field {{{field}}} in {pattern:?}")?;
                if available.is_empty() {
                    write!(f, " (no fields are available here; write {{{{ and }}}} for literal braces)")
                } else {
                    write!(f, " (available: {})", available.join(", "))
                }
            }
            FormatError::Unbalanced { pattern, position, message } => {
                write!(
                    f,
                    "{message} at character {} in {pattern:?} (write {{{{ and }}}} for literal braces)",
                    position + 1
                )
            }
            FormatError::BadField { field, pattern } => write!(
                f,
                "unsupported replacement field {{{field}}} in {pattern:?} (only plain {{name}} fields are supported)"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

enum Piece<'a> {
    Literal(&'a str),
    Field(&'a str),
}

fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a pattern into literal text and field names.
fn parse(pattern: &str) -> Result<Vec<Piece<'_>>, FormatError> {
    let mut pieces = Vec::new();
    let bytes = pattern.as_bytes();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                pieces.push(Piece::Literal(&pattern[literal_start..i + 1]));
                i += 2;
                literal_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                pieces.push(Piece::Literal(&pattern[literal_start..i + 1]));
                i += 2;
                literal_start = i;
            }
            b'{' => {
                let close = pattern[i + 1..].find(['}', '{']).map(|p| p + i + 1);
                match close {
                    Some(end) if bytes[end] == b'}' => {
                        pieces.push(Piece::Literal(&pattern[literal_start..i]));
                        let field = &pattern[i + 1..end];
                        if !is_field_name(field) {
                            return Err(FormatError::BadField {
                                field: field.to_string(),
                                pattern: pattern.to_string(),
                            });
                        }
                        pieces.push(Piece::Field(field));
                        i = end + 1;
                        literal_start = i;
                    }
                    _ => {
                        return Err(FormatError::Unbalanced {
                            pattern: pattern.to_string(),
                            position: i,
                            message: "unclosed '{'",
                        })
                    }
                }
            }
            b'}' => {
                return Err(FormatError::Unbalanced {
                    pattern: pattern.to_string(),
                    position: i,
                    message: "single '}'",
                })
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Literal(&pattern[literal_start..]));
    Ok(pieces)
}

/// Replaces every `{field}` of `pattern` with its value from `fields`.
pub fn render(pattern: &str, fields: &[(&str, &str)]) -> Result<String, FormatError> {
    let mut out = String::with_capacity(pattern.len() + 32);
    for piece in parse(pattern)? {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            Piece::Field(name) => match fields.iter().rev().find(|(k, _)| *k == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    let mut available: Vec<String> = Vec::new();
                    for (k, _) in fields {
                        if !available.iter().any(|a| a == k) {
                            available.push((*k).to_string());
                        }
                    }
                    return Err(FormatError::UnknownField {
                        field: name.to_string(),
                        pattern: pattern.to_string(),
                        available,
                    });
                }
            },
        }
    }
    Ok(out)
}

/// The field names a pattern uses, in order of first appearance.
pub fn fields_of(pattern: &str) -> Result<Vec<String>, FormatError> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(pattern)? {
        if let Piece::Field(name) = piece {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

/// Checks that a pattern is well formed and only uses `allowed` fields.
pub fn check(pattern: &str, allowed: &[&str]) -> Result<(), FormatError> {
    for field in fields_of(pattern)? {
        if !allowed.contains(&field.as_str()) {
            return Err(FormatError::UnknownField {
                field,
                pattern: pattern.to_string(),
                available: allowed.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fields_and_escapes() {
        let f = [("name", "example.com"), ("suffix", ".rsa")];
        assert_eq!(render("{name}{suffix}.pem", &f).unwrap(), "example.com.rsa.pem");
        assert_eq!(render("{{literal}} {name}", &f).unwrap(), "{literal} example.com");
        assert_eq!(render("a}}b{{c", &f).unwrap(), "a}b{c");
        assert_eq!(render("", &f).unwrap(), "");
        assert_eq!(render("no fields", &[]).unwrap(), "no fields");
        assert_eq!(render("{name}{name}", &f).unwrap(), "example.comexample.com");
        assert_eq!(render("{{{name}}}", &f).unwrap(), "{example.com}");
    }

    #[test]
    fn later_fields_override_earlier() {
        assert_eq!(render("{x}", &[("x", "1"), ("x", "2")]).unwrap(), "2");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = render("{nmae}.pem", &[("name", "a"), ("key_type", "rsa"), ("suffix", ".rsa")]).unwrap_err();
        assert_eq!(err.to_string(), r#"unknown field {nmae} in "{nmae}.pem" (available: name, key_type, suffix)"#);
    }

    #[test]
    fn unbalanced_braces() {
        let e = render("{name", &[("name", "a")]).unwrap_err();
        assert!(matches!(e, FormatError::Unbalanced { position: 0, .. }), "{e}");
        assert!(e.to_string().contains("unclosed '{'"));
        let e = render("a}b", &[]).unwrap_err();
        assert!(matches!(e, FormatError::Unbalanced { position: 1, .. }), "{e}");
        assert!(e.to_string().contains("single '}'"));
        assert!(render("{a{b}", &[("b", "x")]).is_err());
    }

    #[test]
    fn unsupported_fields() {
        for p in ["{}", "{0}", "{name!r}", "{name:>4}", "{a.b}", "{a[0]}", "{ name }"] {
            let e = fields_of(p).unwrap_err();
            assert!(matches!(e, FormatError::BadField { .. }), "{p}: {e}");
        }
    }

    #[test]
    fn fields_listing_and_check() {
        assert_eq!(fields_of("/x/{zone}/{host}/{zone}").unwrap(), vec!["zone", "host"]);
        assert!(fields_of("{{zone}}").unwrap().is_empty());
        assert!(check("{name}{suffix}", &["name", "suffix"]).is_ok());
        let e = check("{server}", &[]).unwrap_err();
        assert!(e.to_string().contains("no fields are available"), "{e}");
    }
}
