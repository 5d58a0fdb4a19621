//! Text from outside (an ACME server's problem document, a header, a TLS
//! error naming a server) made safe to print: control characters and the
//! Unicode controls that reorder text are shown escaped (`\u{1b}`), so no
//! escape sequence reaches the terminal and no line can be faked, and the
//! text is cut to a sane length.

use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is.
fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(s: &str, max_chars: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars + 32));
    for (shown, (at, c)) in s.char_indices().enumerate() {
        if shown == max_chars {
            let _ = write!(out, "… [{} more bytes]", s.len() - at);
            break;
        }
        if is_hidden(c) && !(keep_newlines && c == '\n') {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of outside text: every control character escaped (newlines
/// too), at most `max_chars` characters.
pub fn printable(s: &str, max_chars: usize) -> String {
    escaped(s, max_chars, false)
}

/// A message of this program's own, which may span lines: every control
/// character but the newline escaped, at most `max_chars` characters.
pub fn printable_lines(s: &str, max_chars: usize) -> String {
    escaped(s, max_chars, true)
}

/// The longest piece of outside text shown in a message (a problem's detail).
pub const DETAIL: usize = 1024;
/// The longest short outside value shown (a URL, a header, a type).
pub const SHORT: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_cannot_reach_the_terminal_and_lines_cannot_be_faked() {
        let hostile = "bad\x1b[2K\rWARNING: all fine\nERROR: \u{202e}txt.exe\u{7f}\u{9b}";
        let shown = printable(hostile, 1000);
        assert_eq!(shown, "bad\\u{1b}[2K\\u{d}WARNING: all fine\\u{a}ERROR: \\u{202e}txt.exe\\u{7f}\\u{9b}");
        assert!(!shown.chars().any(is_hidden));
        assert_eq!(printable_lines("a\nb\x07", 100), "a\nb\\u{7}");
        assert_eq!(printable("plain ünïcode", 100), "plain ünïcode");
    }

    #[test]
    fn long_text_is_cut() {
        let big = "x".repeat(10 * 1024 * 1024);
        let shown = printable(&big, DETAIL);
        assert!(shown.len() < DETAIL + 40, "{}", shown.len());
        assert!(shown.ends_with(&format!("… [{} more bytes]", big.len() - DETAIL)));
        assert_eq!(printable("é".repeat(3).as_str(), 2), "éé… [2 more bytes]");
        assert_eq!(printable("abc", 3), "abc");
    }
}
