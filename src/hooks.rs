//! Hooks and service reloads as the original runs them: the configured line
//! goes to `/bin/sh -c`, so it may use redirections, `&&` and pipes, and every
//! `{field}` is filled in shell-quoted (as Python's `shlex.quote` does), so a
//! value (a domain, a path) can never become shell code. A passphrase is never
//! put on the command line: `{passphrase}` becomes `"$ACMEBOT_PASSPHRASE"`,
//! set only in that hook's environment.

use std::process::{Command, Stdio};

use crate::format;

/// The deployment hooks of the manual, by the names the configuration and
/// the journal use for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    SetDnsChallenge,
    ClearDnsChallenge,
    DnsZoneUpdate,
    SetHttpChallenge,
    ClearHttpChallenge,
    PrivateKeyRollover,
    PrivateKeyInstalled,
    BackupKeyInstalled,
    PreviousKeyInstalled,
    HpkpHeaderInstalled,
    CertificateInstalled,
    FullCertificateInstalled,
    ChainInstalled,
    FullKeyInstalled,
    ParamsInstalled,
    SctInstalled,
    OcspInstalled,
}

impl Hook {
    pub const ALL: [Hook; 17] = [
        Hook::SetDnsChallenge,
        Hook::ClearDnsChallenge,
        Hook::DnsZoneUpdate,
        Hook::SetHttpChallenge,
        Hook::ClearHttpChallenge,
        Hook::PrivateKeyRollover,
        Hook::PrivateKeyInstalled,
        Hook::BackupKeyInstalled,
        Hook::PreviousKeyInstalled,
        Hook::HpkpHeaderInstalled,
        Hook::CertificateInstalled,
        Hook::FullCertificateInstalled,
        Hook::ChainInstalled,
        Hook::FullKeyInstalled,
        Hook::ParamsInstalled,
        Hook::SctInstalled,
        Hook::OcspInstalled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hook::SetDnsChallenge => "set_dns_challenge",
            Hook::ClearDnsChallenge => "clear_dns_challenge",
            Hook::DnsZoneUpdate => "dns_zone_update",
            Hook::SetHttpChallenge => "set_http_challenge",
            Hook::ClearHttpChallenge => "clear_http_challenge",
            Hook::PrivateKeyRollover => "private_key_rollover",
            Hook::PrivateKeyInstalled => "private_key_installed",
            Hook::BackupKeyInstalled => "backup_key_installed",
            Hook::PreviousKeyInstalled => "previous_key_installed",
            Hook::HpkpHeaderInstalled => "hpkp_header_installed",
            Hook::CertificateInstalled => "certificate_installed",
            Hook::FullCertificateInstalled => "full_certificate_installed",
            Hook::ChainInstalled => "chain_installed",
            Hook::FullKeyInstalled => "full_key_installed",
            Hook::ParamsInstalled => "params_installed",
            Hook::SctInstalled => "sct_installed",
            Hook::OcspInstalled => "ocsp_installed",
        }
    }

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The fields the manual documents for this hook.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Hook::SetDnsChallenge | Hook::ClearDnsChallenge => &["domain", "zone", "challenge"],
            Hook::DnsZoneUpdate => &["zone"],
            Hook::SetHttpChallenge | Hook::ClearHttpChallenge => &["domain", "challenge_file"],
            Hook::PrivateKeyRollover => {
                &["key_name", "key_type", "backup_key_file", "private_key_file", "previous_key_file", "passphrase"]
            }
            Hook::PrivateKeyInstalled => &["key_name", "key_type", "private_key_file", "passphrase"],
            Hook::BackupKeyInstalled => &["key_name", "key_type", "backup_key_file", "passphrase"],
            Hook::PreviousKeyInstalled => &["key_name", "key_type", "previous_key_file", "passphrase"],
            Hook::HpkpHeaderInstalled => &["key_name", "server", "header", "hpkp_file"],
            Hook::CertificateInstalled => &["key_name", "key_type", "certificate_name", "certificate_file"],
            Hook::FullCertificateInstalled => &["key_name", "key_type", "certificate_name", "full_certificate_file"],
            Hook::ChainInstalled => &["key_name", "key_type", "certificate_name", "chain_file"],
            Hook::FullKeyInstalled => &["key_name", "key_type", "certificate_name", "full_key_file"],
            Hook::ParamsInstalled => &["key_name", "certificate_name", "params_file"],
            Hook::SctInstalled => &["key_name", "key_type", "certificate_name", "ct_log_name", "sct_file"],
            Hook::OcspInstalled => &["key_name", "key_type", "certificate_name", "ocsp_file"],
        }
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Hook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Hook {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hook, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hook::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown hook {s:?}")))
    }
}

/// Why a hook, service or zone reload command could not run.
#[derive(Debug)]
pub enum CommandError {
    /// The configured command line does not split into words.
    Syntax(String),
    /// A `{field}` in it cannot be filled in.
    Field(format::FormatError),
    /// The program could not be started.
    Spawn { program: String, source: std::io::Error },
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Syntax(s) => f.write_str(s),
            CommandError::Field(e) => e.fmt(f),
            CommandError::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// Splits a command line into words: whitespace separates, single and double
/// quotes group, backslash escapes (outside single quotes). No expansion.
pub fn split_words(line: &str) -> Result<Vec<String>, CommandError> {
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
                        None => return Err(CommandError::Syntax(format!("unterminated single quote in {line:?}"))),
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
                            None => return Err(CommandError::Syntax(format!("trailing backslash in {line:?}"))),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(CommandError::Syntax(format!("unterminated double quote in {line:?}"))),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(CommandError::Syntax(format!("trailing backslash in {line:?}"))),
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

/// A command ready to run: program and arguments with the fields filled in
/// (the zone reload command, which gets the zone as its argument).
pub fn prepare(pattern: &str, fields: &[(&str, &str)]) -> Result<Vec<String>, CommandError> {
    let words = split_words(pattern)?;
    if words.is_empty() {
        return Err(CommandError::Syntax(format!("empty command {pattern:?}")));
    }
    words.iter().map(|w| format::render(w, fields).map_err(CommandError::Field)).collect()
}

/// The environment variable a hook's shell reads the passphrase from.
pub const PASSPHRASE_ENV: &str = "ACMEBOT_PASSPHRASE";

/// `value` quoted for a POSIX shell the way Python's `shlex.quote` does: as
/// it is when it holds only safe characters, else in single quotes.
pub fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if value.is_empty() {
        "''".into()
    } else if value.chars().all(safe) {
        value.into()
    } else {
        format!("'{}'", value.replace('\'', "'\"'\"'"))
    }
}

/// A hook's shell command line: `pattern` with every field shell-quoted;
/// a non-empty `passphrase` becomes a reference to [`PASSPHRASE_ENV`] (the
/// second value: what that variable must hold when the line runs).
pub fn shell_line(pattern: &str, fields: &[(&str, &str)]) -> Result<(String, Option<String>), CommandError> {
    let mut secret = None;
    let quoted: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| {
            if *k == "passphrase" && !v.is_empty() {
                secret = Some(v.to_string());
                (*k, format!("\"${PASSPHRASE_ENV}\""))
            } else {
                (*k, shell_quote(v))
            }
        })
        .collect();
    let refs: Vec<(&str, &str)> = quoted.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if pattern.trim().is_empty() {
        return Err(CommandError::Syntax(format!("empty command {pattern:?}")));
    }
    let line = format::render(pattern, &refs).map_err(CommandError::Field)?;
    Ok((line, secret))
}

/// The first word of a configured command line, for the journal (which never
/// holds the filled-in values).
pub fn program_of(pattern: &str) -> String {
    pattern.split_whitespace().next().unwrap_or_default().to_string()
}

/// Runs a shell command line with `/bin/sh -c`, stdin closed, capturing
/// stdout and stderr together.
pub fn run_shell(line: &str, env: &[(&str, &str)]) -> Result<Ran, CommandError> {
    run(&["/bin/sh".to_string(), "-c".to_string(), line.to_string()], env)
}

pub struct Ran {
    pub exit_code: Option<i32>,
    pub output: String,
}

/// Runs argv with stdin closed, capturing stdout and stderr together.
pub fn run(argv: &[String], env: &[(&str, &str)]) -> Result<Ran, CommandError> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|source| CommandError::Spawn { program: argv[0].clone(), source })?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(Ran { exit_code: out.status.code(), output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_reload_arguments_never_become_shell_code() {
        let argv = prepare("reload {zone} 'a b'", &[("zone", "x;rm -rf /$(id)")]).unwrap();
        assert_eq!(argv, vec!["reload", "x;rm -rf /$(id)", "a b"]);
        assert_eq!(split_words(r#"a "b c" d\ e 'f"g'"#).unwrap(), vec!["a", "b c", "d e", "f\"g"]);
        assert!(split_words("a 'b").is_err());
    }

    #[test]
    fn hook_values_are_shell_quoted_like_shlex() {
        assert_eq!(shell_quote("example.com"), "example.com");
        assert_eq!(shell_quote("/etc/ssl/a_b-c@d%e+f=g:h,i.pem"), "/etc/ssl/a_b-c@d%e+f=g:h,i.pem");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
        let nasty = ["$(touch /tmp/x)", "`id`", "a;b", "'\"", "x\ny", "$HOME", "*", "a\\b"];
        for value in nasty {
            let (line, _) = shell_line("printf '%s' {v}", &[("v", value)]).unwrap();
            let ran = run_shell(&line, &[]).unwrap();
            assert_eq!(ran.exit_code, Some(0), "{line}");
            assert_eq!(ran.output, value, "{line}");
        }
    }

    #[test]
    fn hooks_run_through_the_shell_and_passphrases_stay_off_the_command_line() {
        let (line, secret) = shell_line(
            "echo {key_name} >/dev/null && printf '%s|%s' {key_name} {passphrase} | tr a-z A-Z; exit 3",
            &[("key_name", "k1"), ("passphrase", "s3cr et")],
        )
        .unwrap();
        assert!(!line.contains("s3cr"), "{line}");
        assert_eq!(secret.as_deref(), Some("s3cr et"));
        let ran = run_shell(&line, &[(PASSPHRASE_ENV, "s3cr et")]).unwrap();
        assert_eq!(ran.exit_code, Some(3));
        assert_eq!(ran.output, "K1|S3CR ET");
        let (line, secret) = shell_line("h {passphrase}", &[("passphrase", "")]).unwrap();
        assert_eq!((line.as_str(), secret), ("h ''", None));
        assert!(matches!(shell_line("h {nope}", &[("a", "b")]), Err(CommandError::Field(_))));
        assert_eq!(program_of("  /usr/bin/hook {a} && x"), "/usr/bin/hook");
    }
}
