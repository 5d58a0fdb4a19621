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
    /// print the state replayed from the journal as JSON and stop
    #[argh(switch)]
    pub replay: bool,
    /// verify the journal's hash chain and every installed file; non-zero exit on any problem
    #[argh(switch)]
    pub audit: bool,
    /// restore missing or altered installed files from the archive
    #[argh(switch)]
    pub recover: bool,
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
    Replay,
    Audit,
    ExportClient,
    /// Writing runs: they take the lock and open the journal.
    Recover,
    Register,
    Revoke,
    AccountKeyRollover,
    /// The main job: authorizations, keys, certificates, TLSA, services.
    Main,
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
    /// `--warning-exit-code` / `--no-warning-exit-code`, when given.
    pub warning_exit_code: Option<bool>,
    /// The command line as journaled (`--pass`'s value redacted).
    pub journal_args: Vec<String>,
}

impl Args {
    /// What the console shows: `None` for `--quiet` (warnings and errors only).
    pub fn console_level(&self) -> Option<tracing::Level> {
        if self.detail || self.debug {
            Some(tracing::Level::TRACE)
        } else if self.verbose {
            Some(tracing::Level::DEBUG)
        } else if self.quiet {
            None
        } else {
            Some(tracing::Level::INFO)
        }
    }

    pub fn mode(&self) -> Mode {
        [
            (self.show_config, Mode::ShowConfig),
            (self.replay, Mode::Replay),
            (self.audit, Mode::Audit),
            (self.export_client, Mode::ExportClient),
            (self.recover, Mode::Recover),
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
            warning_exit_code,
            journal_args: Args::journal_form(raw),
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
    fn passphrase_never_journaled() {
        let raw: Vec<String> =
            ["-p", "s3cret", "--pass=s3cret", "-ps3cret", "-v"].iter().map(|s| s.to_string()).collect();
        let shown = Args::journal_form(&raw).join(" ");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.ends_with("-v"));
    }
}
