//! The context of a writing run: the configuration and options it runs with,
//! its one clock and the instant every decision uses, the journal (which holds
//! the replayed state) under the run lock, and the report.

use super::error::{AppError, R};
use super::report::Report;
use crate::cli::{ErrorCode, Options, WarningCode};
use crate::config::{Config, Dir};
use crate::journal::{self, Event, Journal, LockGuard, Record, State};
use crate::time::{ClockRef, Time};
use crate::txn::{self, Committed, Plan};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Ctx<'c> {
    pub config: &'c Config,
    pub opts: &'c Options,
    pub clock: ClockRef,
    /// Read once when the run starts: every decision of the run uses it.
    pub now: Time,
    pub journal: Journal,
    pub report: Report,
    _lock: LockGuard,
}

impl<'c> Ctx<'c> {
    /// Takes the run lock, opens and replays the journal (setting a torn last
    /// line aside) and finishes or undoes interrupted transactions. The run's
    /// first line, if it writes any, is `run_started`.
    pub fn open(config: &'c Config, opts: &'c Options, clock: ClockRef) -> R<Ctx<'c>> {
        let now = clock.now();
        let pid_dir = config
            .dir(Dir::Pid, &[])?
            .ok_or_else(|| AppError::setting("directories.pid", "is null, but a lock file is needed"))?;
        let lock = journal::lock(&pid_dir)?;
        let path = config.journal_path().to_path_buf();
        let (mut journal, opened) = Journal::open(&path, clock)?;
        journal.begin_with(Event::RunStarted {
            version: VERSION.into(),
            pid: std::process::id(),
            args: opts.journal_args.clone(),
            config: config.path.display().to_string(),
        });
        let mut ctx = Ctx { config, opts, clock, now, journal, report: Report::default(), _lock: lock };
        if let Some(saved) = opened.torn_saved_to {
            let bytes = std::fs::metadata(&saved).map(|m| m.len()).unwrap_or(0);
            let (journal, kept) = (path.display(), saved.display());
            let message =
                format!("journal {journal} ended in a torn line (a crash while appending); its {bytes} bytes were kept in {kept}");
            ctx.report.warn(WarningCode::General, message);
            ctx.record(Event::JournalRepaired { torn_saved_to: saved.display().to_string(), bytes })?;
        }
        let recovered = txn::recover_interrupted(&mut ctx.journal)?;
        ctx.warn_clock();
        for r in &recovered {
            ctx.report.warn(WarningCode::General, format!("interrupted file transaction: {r}"));
        }
        Ok(ctx)
    }

    /// The state replayed from the journal, up to its last line.
    pub fn state(&self) -> &State {
        self.journal.state()
    }

    /// Appends an event: the action it records counts as done only when this
    /// returns Ok.
    pub fn record(&mut self, event: Event) -> R<Record> {
        let record = self.journal.append(event)?;
        self.warn_clock();
        Ok(record)
    }

    /// Installs a file transaction; fault injection applies in test builds.
    pub fn commit(&mut self, plan: &Plan) -> R<Committed> {
        let faults = txn::env_faults_exit();
        let committed = txn::commit_with_faults(&mut self.journal, plan, &faults);
        self.warn_clock();
        Ok(committed?)
    }

    fn warn_clock(&mut self) {
        if let Some(w) = self.journal.take_clock_warning() {
            let message = format!(
                "the system clock ({}) is behind the journal's last line ({}); this run's lines carry that line's time",
                w.clock, w.last
            );
            self.report.warn(WarningCode::General, message);
        }
    }

    /// Journals `run_finished` (if the run journaled anything) and returns the exit code.
    pub fn finish(mut self) -> i32 {
        let warning_exit = self.opts.warning_exit_code.unwrap_or(self.config.settings.warning_exit_code);
        let code = self.report.exit_code(warning_exit);
        if self.journal.appended() {
            let changed = self.report.changed;
            if let Err(e) = self.record(Event::RunFinished { exit_code: code, changed }) {
                tracing::error!("{e}");
                return if code == 0 { ErrorCode::Journal as i32 } else { code };
            }
        }
        code
    }
}
