//! Hooks and service reloads as a small process contract: the configured
//! command is split into words FIRST, then each word is formatted, and the
//! program runs with that argument vector — never through a shell — so a value
//! (a domain, a path) can never become shell code.

use std::process::{Command, Stdio};

use crate::format;

/// Splits a command line into words: whitespace separates, single and double
/// quotes group, backslash escapes (outside single quotes). No expansion.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unterminated single quote in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => cur.push(ch),
                            None => return Err(format!("trailing backslash in {line:?}")),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unterminated double quote in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(format!("trailing backslash in {line:?}")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// A command ready to run: program and arguments with the fields filled in.
pub fn prepare(pattern: &str, fields: &[(&str, &str)]) -> Result<Vec<String>, String> {
    let words = split_words(pattern)?;
    if words.is_empty() {
        return Err(format!("empty command {pattern:?}"));
    }
    words.iter().map(|w| format::render(w, fields).map_err(|e| e.to_string())).collect()
}

pub struct Ran {
    pub exit_code: Option<i32>,
    pub output: String,
}

/// Runs argv with stdin closed, capturing stdout and stderr together.
pub fn run(argv: &[String], env: &[(&str, &str)]) -> Result<Ran, String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(Ran { exit_code: out.status.code(), output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_become_shell_code() {
        let argv = prepare(
            "scp {certificate_file} 'remote host:/etc/ssl/certs/'",
            &[("certificate_file", "/x/a b;rm -rf /$(id).pem")],
        )
        .unwrap();
        assert_eq!(argv, vec!["scp", "/x/a b;rm -rf /$(id).pem", "remote host:/etc/ssl/certs/"]);
        assert_eq!(split_words(r#"a "b c" d\ e 'f"g'"#).unwrap(), vec!["a", "b c", "d e", "f\"g"]);
        assert!(split_words("a 'b").is_err());
        let ran = run(&prepare("sh -c {script}", &[("script", "echo hi; exit 3")]).unwrap(), &[]).unwrap();
        assert_eq!(ran.exit_code, Some(3));
        assert_eq!(ran.output.trim(), "hi");
    }
}
