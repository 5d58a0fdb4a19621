//! The command line (every option of the original, plus the journal's own),
//! exit codes, and the two phases: validate, then act.

use argh::FromArgs;

/// acmebot: keeps certificates, keys and their companions up to date over ACME.
#[derive(FromArgs, Debug, Default, Clone)]
pub struct Args {
    /// private key names to process (default: all)
    #[argh(positional)]
    pub private_key_names: Vec<String>,
    /// print nothing but errors
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// print more detailed status messages
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    /// print debugging information
    #[argh(switch, short = 'd')]
    pub debug: bool,
    /// print every detail of what is done
    #[argh(switch, short = 'D')]
    pub detail: bool,
    /// colorize output
    #[argh(switch)]
    pub color: bool,
    /// do not colorize output
    #[argh(switch)]
    pub no_color: bool,
    /// configuration file (searched in ., /etc/acmebot and the binary's folder when relative)
    #[argh(option, short = 'c')]
    pub config: Option<String>,
    /// wait a random time (settings min_run_delay..max_run_delay) before running
    #[argh(switch, short = 'w')]
    pub randomwait: bool,
    /// passphrase for private keys (prefer ACMEBOT_PASSPHRASE or a prompt)
    #[argh(option, short = 'p')]
    pub pass: Option<String>,
    /// roll private keys over to their backup keys
    #[argh(switch, short = 'r')]
    pub rollover: bool,
    /// force a rollover inside the HPKP window
    #[argh(switch, short = 'F')]
    pub force: bool,
    /// renew certificates now, whatever their age
    #[argh(switch, short = 'R')]
    pub renew: bool,
    /// revoke the certificates of the named private keys
    #[argh(switch, short = 'K')]
    pub revoke: bool,
    /// revocation reason for --revoke: unspecified (default), keyCompromise,
    /// affiliationChanged, superseded or cessationOfOperation
    #[argh(option)]
    pub revoke_reason: Option<String>,
    /// obtain authorizations only
    #[argh(switch, short = 'a')]
    pub auth: bool,
    /// issue and renew certificates only
    #[argh(switch, short = 'C')]
    pub certs: bool,
    /// update TLSA records only
    #[argh(switch, short = 't')]
    pub tlsa: bool,
    /// update Signed Certificate Timestamps only
    #[argh(switch, short = 's')]
    pub sct: bool,
    /// update OCSP responses only
    #[argh(switch, short = 'o')]
    pub ocsp: bool,
    /// verify certificate installations only
    #[argh(switch, short = 'V')]
    pub verify: bool,
    /// accept the certificate authority's terms of service
    #[argh(switch, short = 'A')]
    pub accept: bool,
    /// register the ACME account (again) and stop
    #[argh(switch)]
    pub register: bool,
    /// move the ACME account to a new key (RFC 8555 keyChange) and stop
    #[argh(switch)]
    pub account_key_rollover: bool,
    /// export the client key and registration for a follower and stop
    #[argh(switch)]
    pub export_client: bool,
    /// print the effective configuration and stop
    #[argh(switch)]
    pub show_config: bool,
    /// print CAA records (RFC 8659, RFC 8657) that limit issuance for the
    /// configured zones to this ACME account and its validation methods, and stop
    #[argh(switch)]
    pub show_caa: bool,
    /// limit Diffie-Hellman parameters to 2048 bits (faster generation)
    #[argh(switch)]
    pub quick: bool,
    /// print the state replayed from the journal as JSON and stop
    #[argh(switch)]
    pub replay: bool,
    /// verify the journal's hash chain and every installed file; non-zero exit on any problem
    #[argh(switch)]
    pub audit: bool,
    /// restore missing or altered installed files from the archive
    #[argh(switch)]
    pub recover: bool,
    /// start a new journal segment now (old ones kept per journal_keep_segments)
    #[argh(switch)]
    pub compact: bool,
    /// set a damaged journal aside and go on from what is intact and on disk
    #[argh(switch)]
    pub repair: bool,
    /// only finish or undo an interrupted file transaction, without network (at boot)
    #[argh(switch)]
    pub finish_interrupted: bool,
    /// use non-zero exit codes for warnings
    #[argh(switch)]
    pub warning_exit_code: bool,
    /// do not use non-zero exit codes for warnings
    #[argh(switch)]
    pub no_warning_exit_code: bool,
    /// print the version and stop
    #[argh(switch)]
    pub version: bool,
}

/// What the command line asks for, in the order it is checked: the first
/// flag of the list that is given decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    ShowConfig,
    /// Read-only, without the lock, like `Replay`.
    ShowCaa,
    Replay,
    Audit,
    ExportClient,
    /// Sets a damaged journal aside (takes the lock, opens nothing before).
    Repair,
    /// Writing runs: they take the lock and open the journal.
    Recover,
    Compact,
    /// Opening the journal finishes an interrupted transaction: nothing more.
    FinishInterrupted,
    Register,
    Revoke,
    AccountKeyRollover,
    /// The main job: authorizations, keys, certificates, TLSA, services.
    Main,
}

/// A secret given on the command line: never shown by `Debug`.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a writing run needs of the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Private key names to process (all when empty).
    pub key_names: Vec<String>,
    pub renew: bool,
    pub force: bool,
    pub rollover: bool,
    pub accept: bool,
    pub revoke_reason: Option<String>,
    pub operations: Operations,
    /// `--auth` was given (not only implied by no operation flag).
    pub auth_only: bool,
    /// `--tlsa`, `--sct`, `--ocsp`, `--verify` as given.
    pub tlsa: bool,
    pub sct: bool,
    pub ocsp: bool,
    pub verify: bool,
    /// `--quick`: Diffie-Hellman parameters of at most 2048 bits.
    pub quick: bool,
    /// `--warning-exit-code` / `--no-warning-exit-code`, when given.
    pub warning_exit_code: Option<bool>,
    /// The command line as journaled (`--pass`'s value redacted).
    pub journal_args: Vec<String>,
    /// `--pass`: a passphrase for private keys whose `key_passphrase` is true.
    pub pass: Option<Secret>,
}

impl Args {
    /// What the console shows: `None` for `--quiet` (errors only: as in the
    /// original, `-q` hides warnings too, and wins over `-v`/`-d`/`-D`).
    pub fn console_level(&self) -> Option<tracing::Level> {
        if self.quiet {
            None
        } else if self.detail || self.debug {
            Some(tracing::Level::TRACE)
        } else if self.verbose {
            Some(tracing::Level::DEBUG)
        } else {
            Some(tracing::Level::INFO)
        }
    }

    pub fn mode(&self) -> Mode {
        [
            (self.show_config, Mode::ShowConfig),
            (self.show_caa, Mode::ShowCaa),
            (self.replay, Mode::Replay),
            (self.audit, Mode::Audit),
            (self.export_client, Mode::ExportClient),
            (self.repair, Mode::Repair),
            (self.recover, Mode::Recover),
            (self.compact, Mode::Compact),
            (self.finish_interrupted, Mode::FinishInterrupted),
            (self.register, Mode::Register),
            (self.revoke, Mode::Revoke),
            (self.account_key_rollover, Mode::AccountKeyRollover),
        ]
        .into_iter()
        .find_map(|(on, m)| on.then_some(m))
        .unwrap_or(Mode::Main)
    }

    /// `raw`: the arguments as given, for the journal.
    pub fn options(&self, raw: &[String]) -> Options {
        let warning_exit_code = match (self.warning_exit_code, self.no_warning_exit_code) {
            (_, true) => Some(false),
            (true, false) => Some(true),
            _ => None,
        };
        Options {
            key_names: self.private_key_names.clone(),
            renew: self.renew,
            force: self.force,
            rollover: self.rollover,
            accept: self.accept,
            revoke_reason: self.revoke_reason.clone(),
            operations: self.operations(),
            auth_only: self.auth,
            tlsa: self.tlsa,
            sct: self.sct,
            ocsp: self.ocsp,
            verify: self.verify,
            quick: self.quick,
            warning_exit_code,
            journal_args: Args::journal_form(raw),
            pass: self.pass.clone().map(Secret),
        }
    }

    /// The flags as recorded in the journal: never the passphrase.
    pub fn journal_form(raw: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut hide_next = false;
        for a in raw {
            if hide_next {
                out.push("<redacted>".into());
                hide_next = false;
            } else if a == "-p" || a == "--pass" {
                out.push(a.clone());
                hide_next = true;
            } else if a.starts_with("--pass=") {
                out.push("--pass=<redacted>".into());
            } else if a.starts_with("-p") && a.len() > 2 && !a.starts_with("--") {
                out.push("-p<redacted>".into());
            } else {
                out.push(a.clone());
            }
        }
        out
    }

    /// Every long option, as argparse matches unambiguous prefixes of them.
    const LONG: [&'static str; 36] = [
        "--quiet",
        "--verbose",
        "--debug",
        "--detail",
        "--color",
        "--no-color",
        "--config",
        "--randomwait",
        "--pass",
        "--rollover",
        "--force",
        "--renew",
        "--revoke",
        "--revoke-reason",
        "--auth",
        "--certs",
        "--tlsa",
        "--sct",
        "--ocsp",
        "--verify",
        "--accept",
        "--register",
        "--account-key-rollover",
        "--export-client",
        "--show-config",
        "--quick",
        "--replay",
        "--audit",
        "--recover",
        "--compact",
        "--repair",
        "--finish-interrupted",
        "--warning-exit-code",
        "--no-warning-exit-code",
        "--version",
        "--help",
    ];

    /// Long options added after those: matched in full, or by a prefix that
    /// no option of [`Args::LONG`] has, so an abbreviation that already
    /// meant something keeps its meaning (`--show` is still `--show-config`).
    const ADDED: [&'static str; 1] = ["--show-caa"];

    /// The command line as the original's argparse reads it, in the form
    /// argh reads: `--config=FILE` and `-cFILE` become `--config FILE` and
    /// `-c FILE` (for every option that takes a value), grouped switches
    /// `-qR` become `-q -R` (a valued option may end the group: `-qcFILE`,
    /// `-qc FILE`), and an unambiguous prefix of a long option stands for it
    /// (`--show` is `--show-config`). Everything after `--` is left as it is.
    /// An ambiguous prefix is an error naming the options it could be.
    pub fn normalize(raw: &[String]) -> Result<Vec<String>, String> {
        const VALUED_LONG: [&str; 3] = ["--config", "--pass", "--revoke-reason"];
        const VALUED_SHORT: [char; 2] = ['c', 'p'];
        const SWITCHES: &str = "qvdDwrFRKaCtsoVA";
        let long_names = &Args::LONG;
        let mut out = Vec::with_capacity(raw.len() + 2);
        let mut args = raw.iter();
        while let Some(a) = args.next() {
            if a == "--" {
                out.push(a.clone());
                out.extend(args.by_ref().cloned());
                break;
            }
            if a.starts_with("--") && a.len() > 2 {
                let (name, value) = match a.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (a.as_str(), None),
                };
                let full = if long_names.contains(&name) || Args::ADDED.contains(&name) {
                    name.to_string()
                } else {
                    let prefixed = |list: &[&'static str]| -> Vec<&'static str> {
                        list.iter().copied().filter(|l| l.starts_with(name)).collect()
                    };
                    let mut matches = prefixed(long_names);
                    if matches.is_empty() {
                        matches = prefixed(&Args::ADDED);
                    }
                    match matches.as_slice() {
                        [one] => one.to_string(),
                        [] => name.to_string(),
                        many => return Err(format!("ambiguous option: {name} could match {}", many.join(", "))),
                    }
                };
                match value {
                    Some(v) if VALUED_LONG.contains(&full.as_str()) => out.extend([full, v.to_string()]),
                    Some(v) => out.push(format!("{full}={v}")),
                    None => out.push(full),
                }
                continue;
            }
            let short = a.strip_prefix('-').filter(|r| !r.starts_with('-') && r.chars().count() > 1);
            if let Some(rest) = short {
                // Switches, then at most one valued option taking the rest.
                let split = rest.find(|c: char| !SWITCHES.contains(c)).unwrap_or(rest.len());
                let (switches, tail) = rest.split_at(split);
                let valued = tail.chars().next().filter(|c| VALUED_SHORT.contains(c));
                if tail.is_empty() || valued.is_some() {
                    out.extend(switches.chars().map(|c| format!("-{c}")));
                    if let Some(v) = valued {
                        out.push(format!("-{v}"));
                        let value = &tail[v.len_utf8()..];
                        if !value.is_empty() {
                            out.push(value.to_string());
                        }
                    }
                    continue;
                }
            }
            out.push(a.clone());
        }
        Ok(out)
    }

    /// A command-line error message with every passphrase given on `raw`
    /// (normalized) and every value of an unknown `--option=value` removed:
    /// an error is printed, and it must not print a secret.
    pub fn redact_error(message: &str, raw: &[String]) -> String {
        let mut text = message.to_string();
        let secrets = raw.windows(2).filter(|w| w[0] == "-p" || w[0] == "--pass").map(|w| w[1].as_str());
        for secret in secrets.filter(|s| !s.is_empty()) {
            text = text.replace(secret, "<redacted>");
        }
        for a in raw.iter().filter(|a| a.starts_with('-') && a.contains('=')) {
            if let Some((name, _)) = a.split_once('=') {
                text = text.replace(a.as_str(), &format!("{name}=<redacted>"));
            }
        }
        text
    }

    /// The operations selected; none selected means all.
    pub fn operations(&self) -> Operations {
        let any = self.auth || self.certs || self.tlsa || self.sct || self.ocsp || self.verify;
        Operations {
            auth: !any || self.auth,
            certs: !any || self.certs,
            tlsa: !any || self.tlsa,
            sct: !any || self.sct,
            ocsp: !any || self.ocsp,
            verify: !any || self.verify,
            explicit: any,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Operations {
    pub auth: bool,
    pub certs: bool,
    pub tlsa: bool,
    pub sct: bool,
    pub ocsp: bool,
    pub verify: bool,
    pub explicit: bool,
}

/// RFC 5280 §5.3.1 CRLReason codes acmebot offers for `--revoke-reason`.
pub const REVOCATION_REASONS: [(&str, u8); 5] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
];

/// Exit codes: the original's error codes (1-12) and warning codes (100-107,
/// used only with `warning_exit_code`), plus 13 for the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    General = 1,
    Fatal = 2,
    Exception = 3,
    Config = 4,
    Permission = 5,
    Dns = 6,
    Hook = 7,
    Acme = 8,
    Auth = 9,
    Key = 10,
    Param = 11,
    Verify = 12,
    /// The journal's chain is broken, a file differs from what it records, or it is locked.
    Journal = 13,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WarningCode {
    General = 100,
    Config = 101,
    Key = 102,
    Dns = 103,
    Auth = 104,
    Service = 105,
    Sct = 106,
    Ocsp = 107,
    /// The clock is before the journal's last line or the build time: nothing
    /// was decided or changed (the exit code whatever `warning_exit_code` says).
    Clock = 108,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_original_option_parses() {
        let args = Args::from_args(
            &["acmebot"],
            &[
                "-q",
                "-v",
                "-d",
                "-D",
                "--color",
                "--no-color",
                "-c",
                "x.json",
                "-w",
                "-p",
                "secret",
                "-r",
                "-F",
                "-R",
                "-K",
                "-a",
                "-C",
                "-t",
                "-s",
                "-o",
                "-V",
                "-A",
                "--register",
                "--export-client",
                "--show-config",
                "--replay",
                "--audit",
                "--recover",
                "--version",
                "example.com",
            ],
        )
        .unwrap();
        assert!(
            args.quiet && args.verbose && args.debug && args.detail && args.randomwait && args.revoke && args.accept
        );
        assert_eq!(args.config.as_deref(), Some("x.json"));
        assert_eq!(args.private_key_names, vec!["example.com"]);
        let ops = args.operations();
        assert!(ops.explicit && ops.auth && ops.verify);
        assert!(!Args::default().operations().explicit);
    }

    #[test]
    fn argparse_forms_are_read_as_the_original_reads_them() {
        let norm = |a: &[&str]| Args::normalize(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            norm(&["--config=a.json", "-pS=1", "-qR", "--revoke-reason=superseded"]),
            ["--config", "a.json", "-p", "S=1", "-q", "-R", "--revoke-reason", "superseded"]
        );
        assert_eq!(norm(&["-cx.json", "-v", "--", "-qR", "--pass=x"]), ["-c", "x.json", "-v", "--", "-qR", "--pass=x"]);
        assert_eq!(
            norm(&["-qZ", "--quiet=1", "example.com"]),
            ["-qZ", "--quiet=1", "example.com"],
            "left to argh to refuse"
        );
        let raw = norm(&["--pass=SECRET", "--renew", "-qR"]);
        let args = Args::from_args(&["acmebot"], &raw.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert_eq!(args.pass.as_deref(), Some("SECRET"));
        assert!(args.renew && args.quiet);
        // Bundles ending in a valued option, and the -pX form.
        assert_eq!(
            norm(&["-qwcFILE", "-Rp", "X", "-qpS"]),
            ["-q", "-w", "-c", "FILE", "-R", "-p", "X", "-q", "-p", "S"]
        );
        assert_eq!(norm(&["-qc", "F"]), ["-q", "-c", "F"]);
        // Unambiguous prefixes of long options, as argparse allows.
        assert_eq!(
            norm(&["--show", "--conf=x.json", "--pa", "S", "--no-w", "--quic", "--revoke"]),
            ["--show-config", "--config", "x.json", "--pass", "S", "--no-warning-exit-code", "--quick", "--revoke"]
        );
        // --show-caa came later: --show and --show-c keep meaning --show-config.
        assert_eq!(norm(&["--show-ca", "--show-caa", "--show-c"]), ["--show-caa", "--show-caa", "--show-config"]);
        let raw = norm(&["--show-ca", "--show"]);
        let args = Args::from_args(&["acmebot"], &raw.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert_eq!(args.mode(), Mode::ShowConfig, "the first of the list given decides");
        assert_eq!(Args { show_caa: true, replay: true, ..Args::default() }.mode(), Mode::ShowCaa);
        let ambiguous = Args::normalize(&["--re".to_string()]).unwrap_err();
        assert!(
            ambiguous.contains("ambiguous option: --re could match") && ambiguous.contains("--renew"),
            "{ambiguous}"
        );
        assert_eq!(norm(&["--bogus", "--quiet=1"]), ["--bogus", "--quiet=1"], "left to argh to refuse");
        assert!(Args::normalize(&["--ver".to_string()]).is_err(), "--verbose, --verify or --version");
        let raw = norm(&["--verb", "--quick"]);
        let args = Args::from_args(&["acmebot"], &raw.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert!(args.quick && args.verbose);
    }

    #[test]
    fn command_line_errors_never_show_a_passphrase() {
        for given in [&["--pass", "SECRET", "--bogus", "SECRET"][..], &["--pasx=SECRET"], &["-pSECRET", "--x=SECRET"]] {
            let raw = Args::normalize(&given.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
            let err = Args::from_args(&["acmebot"], &strs).unwrap_err().output;
            let shown = Args::redact_error(&err, &raw);
            assert!(!shown.contains("SECRET"), "{given:?}: {shown}");
            assert!(shown.contains("<redacted>") || shown.contains("--bogus"), "{shown}");
        }
    }

    #[test]
    fn passphrase_never_journaled() {
        let raw: Vec<String> =
            ["-p", "s3cret", "--pass=s3cret", "-ps3cret", "-v"].iter().map(|s| s.to_string()).collect();
        let shown = Args::journal_form(&raw).join(" ");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.ends_with("-v"));
    }
}
