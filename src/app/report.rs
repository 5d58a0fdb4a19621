//! What a run tells its user: errors and warnings (printed as they happen,
//! to stderr), the exit code they add up to, and whether anything changed.

use std::fmt::Display;

use super::error::AppError;
use crate::cli::{ErrorCode, WarningCode};

#[derive(Default, Debug)]
pub struct Report {
    pub error: Option<ErrorCode>,
    /// The first error, as said (journaled with a failed renewal).
    pub first_error: Option<String>,
    pub warning: Option<WarningCode>,
    /// Something was installed, registered, restored or updated.
    pub changed: bool,
    /// An installation verification found a server not serving the
    /// installed files.
    pub verification_failed: bool,
}

impl Report {
    /// Prints the error and remembers its code: as in the original, the last
    /// error's code is the exit code. The first error's text is kept.
    pub fn error(&mut self, e: AppError) {
        tracing::error!("{e}");
        let first = self.error.is_none();
        self.error = Some(e.code());
        if first {
            let text = e.to_string();
            let first_line = text.lines().next().unwrap_or_default();
            self.first_error = Some(crate::text::printable(first_line, crate::text::DETAIL));
        }
    }

    pub fn warn(&mut self, code: WarningCode, message: impl Display) {
        tracing::warn!("{message}");
        // The last warning's code wins, as in the original; a wrong clock
        // keeps its own code whatever is said after it.
        if self.warning != Some(WarningCode::Clock) {
            self.warning = Some(code);
        }
    }

    /// What a verification found different: said as a warning (nothing is
    /// undone and the run goes on), and the run's exit code is the
    /// original's for verification failures (12) unless an error set one.
    pub fn verification_failed(&mut self, message: impl Display) {
        tracing::warn!("{message}");
        self.verification_failed = true;
    }

    pub fn exit_code(&self, warning_exit_code: bool) -> i32 {
        if let Some(e) = self.error {
            return e as i32;
        }
        if self.verification_failed {
            return ErrorCode::Verify as i32;
        }
        match self.warning {
            // A run that did nothing because its clock is wrong says so in its
            // exit code, whatever warning_exit_code says.
            Some(WarningCode::Clock) => WarningCode::Clock as i32,
            Some(w) if warning_exit_code => w as i32,
            _ => 0,
        }
    }
}
