//! The run layer's error: what went wrong, with the data of the layer it came
//! from (an ACME problem document, a DNS failure, a file failure), turned into
//! the user's message and the exit code only at the edge ([`super::Report`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::acme::AcmeError;
use crate::cli::ErrorCode;
use crate::config::ConfigError;
use crate::crypto::CryptoError;
use crate::dns::DnsError;
use crate::hooks::{CommandError, Hook};
use crate::journal::JournalError;
use crate::safe_fs::FsError;
use crate::txn::TxnError;

#[derive(Debug)]
pub enum AppError {
    /// The configuration cannot be used as it is (`path`: the setting, when one is to blame).
    Config(ConfigError),
    /// A setting is missing or unusable for what this run must do.
    Setting {
        setting: String,
        message: String,
    },
    Journal(JournalError),
    /// `--recover` could not put an installed file back.
    Restore {
        path: PathBuf,
        reason: String,
    },
    Txn(TxnError),
    Acme(Box<AcmeError>),
    /// A DNS update or lookup failed, for `what` (a zone, a name).
    Dns {
        what: String,
        source: Box<DnsError>,
    },
    /// A zone could not be updated locally (`reload_zone_command`, the challenge file).
    Zone {
        zone: String,
        detail: String,
    },
    /// A key or certificate file does not read.
    Key {
        path: PathBuf,
        source: CryptoError,
    },
    /// A key or certificate is not what it must be.
    KeyMismatch {
        path: PathBuf,
        detail: String,
    },
    KeyGeneration(CryptoError),
    File {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// A directory, link or file another user could control is in the way
    /// (see `safe_fs`).
    Unsafe {
        path: PathBuf,
        reason: String,
    },
    /// An authorization failed for `name`.
    Auth {
        name: String,
        detail: String,
    },
    /// The CA refused or failed to issue, for `what`.
    Issue {
        what: String,
        detail: String,
    },
    Hook {
        hook: Hook,
        source: CommandError,
    },
    HookFailed {
        hook: Hook,
        exit_code: Option<i32>,
        /// What it printed (stdout and stderr), shown indented.
        output: String,
    },
    /// DH or EC parameters could not be made.
    Params {
        what: String,
        detail: String,
    },
    /// The certificate's OCSP responder says it is revoked.
    Revoked {
        what: String,
        detail: String,
    },
    /// The command line asks for something that cannot be done.
    Usage(String),
    /// A signal (SIGTERM, SIGINT, SIGHUP) asked the run to stop.
    Stopped,
    /// `source`, about `what` (a private key, a certificate, a zone).
    Context {
        what: String,
        source: Box<AppError>,
    },
}

pub type R<T> = Result<T, AppError>;

impl AppError {
    /// The original's exit code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Config(_) | AppError::Setting { .. } => ErrorCode::Config,
            AppError::Journal(JournalError::Unsafe { .. })
            | AppError::Txn(TxnError::Journal(JournalError::Unsafe { .. })) => ErrorCode::Permission,
            AppError::Journal(_) | AppError::Txn(TxnError::Journal(_)) | AppError::Restore { .. } => ErrorCode::Journal,
            AppError::Txn(_) | AppError::File { .. } | AppError::Unsafe { .. } => ErrorCode::Permission,
            AppError::Acme(_) | AppError::Issue { .. } => ErrorCode::Acme,
            AppError::Dns { .. } | AppError::Zone { .. } => ErrorCode::Dns,
            AppError::Key { .. } | AppError::KeyMismatch { .. } | AppError::KeyGeneration(_) => ErrorCode::Key,
            AppError::Auth { .. } => ErrorCode::Auth,
            // What a verification of the installation would find wrong.
            AppError::Revoked { .. } => ErrorCode::Verify,
            AppError::Params { .. } => ErrorCode::Param,
            AppError::Hook { .. } | AppError::HookFailed { .. } => ErrorCode::Hook,
            AppError::Usage(_) | AppError::Stopped => ErrorCode::Fatal,
            AppError::Context { source, .. } => source.code(),
        }
    }

    /// The same error, said to be about `what` (unless it already names it).
    pub fn about(self, what: impl Into<String>) -> AppError {
        let what = what.into();
        if self.to_string().contains(&what) {
            return self;
        }
        AppError::Context { what, source: Box::new(self) }
    }

    pub fn setting(setting: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Setting { setting: setting.into(), message: message.into() }
    }

    pub fn file(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(io::Error) -> AppError {
        let path = path.into();
        move |source| AppError::File { path, op, source }
    }

    pub fn key(path: impl Into<PathBuf>) -> impl FnOnce(CryptoError) -> AppError {
        let path = path.into();
        move |source| AppError::Key { path, source }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Config(e) => e.fmt(f),
            AppError::Setting { setting, message } => write!(f, "{setting}: {message}"),
            AppError::Journal(e) => e.fmt(f),
            AppError::Restore { path, reason } => write!(f, "cannot restore {}: {reason}", path.display()),
            AppError::Txn(e) => e.fmt(f),
            AppError::Acme(e) => e.fmt(f),
            AppError::Dns { what, source } => write!(f, "{what}: {source}"),
            AppError::Zone { zone, detail } => write!(f, "zone {zone}: {detail}"),
            AppError::Key { path, source } => write!(f, "{}: {source}", path.display()),
            AppError::KeyMismatch { path, detail } => write!(f, "{}: {detail}", path.display()),
            AppError::KeyGeneration(e) => write!(f, "key generation failed: {e}"),
            AppError::File { path, op, source } => write!(f, "cannot {op} {}: {source}", path.display()),
            AppError::Unsafe { path, reason } => write!(f, "refusing to use {}: {reason}", path.display()),
            AppError::Auth { name, detail } => write!(f, "{name}: {detail}"),
            AppError::Issue { what, detail } => write!(f, "{what}: {detail}"),
            AppError::Revoked { what, detail } => write!(f, "{what} {detail}"),
            AppError::Params { what, detail } => write!(f, "{what}: {detail}"),
            AppError::Hook { hook, source } => write!(f, "hook {hook}: {source}"),
            AppError::HookFailed { hook, exit_code, output } => {
                match exit_code {
                    Some(code) => write!(f, "Hook {hook} returned error, code: {code}")?,
                    None => write!(f, "Hook {hook} was killed by a signal")?,
                }
                for line in output.trim_end().lines() {
                    write!(f, "\n    {line}")?;
                }
                Ok(())
            }
            AppError::Usage(s) => f.write_str(s),
            AppError::Stopped => f.write_str("stopped by a signal; challenges set by this run were cleared"),
            AppError::Context { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        AppError::Config(e)
    }
}

impl From<JournalError> for AppError {
    fn from(e: JournalError) -> Self {
        AppError::Journal(e)
    }
}

impl From<FsError> for AppError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Io { path, op, source } => AppError::File { path, op, source },
            FsError::Unsafe { path, reason } => AppError::Unsafe { path, reason },
        }
    }
}

impl From<TxnError> for AppError {
    fn from(e: TxnError) -> Self {
        AppError::Txn(e)
    }
}

impl From<AcmeError> for AppError {
    fn from(e: AcmeError) -> Self {
        match e {
            AcmeError::Stopped { .. } => AppError::Stopped,
            e => AppError::Acme(Box::new(e)),
        }
    }
}

impl AppError {
    /// A DNS failure, for `what` (a zone, a name).
    pub fn dns(what: impl Into<String>) -> impl FnOnce(DnsError) -> AppError {
        let what = what.into();
        move |source| AppError::Dns { what, source: Box::new(source) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_context() {
        let e = AppError::Auth { name: "www.example.test".into(), detail: "http-01 challenge failed".into() };
        assert_eq!(e.code(), ErrorCode::Auth);
        let e = e.about("private key example.test");
        assert_eq!(e.code(), ErrorCode::Auth, "context keeps the code");
        assert_eq!(e.to_string(), "private key example.test: www.example.test: http-01 challenge failed");
        let named = AppError::Usage("example.test is broken".into()).about("example.test");
        assert_eq!(named.to_string(), "example.test is broken", "a message that names its subject is not repeated");
        let txn = AppError::Txn(TxnError::Journal(JournalError::Poisoned { path: "/j".into() }));
        assert_eq!(txn.code(), ErrorCode::Journal);
    }
}
