//! The context of a writing run: the configuration and options it runs with,
//! its one clock and the instant every decision uses, the journal (which holds
//! the replayed state) under the run lock, and the report.

use super::error::{AppError, R};
use super::report::Report;
use super::secrets::Passphrases;
use crate::cli::{ErrorCode, Options, WarningCode};
use crate::config::{Config, Dir};
use crate::journal::{self, Event, Journal, LockGuard, Opened, Record, Repaired, State};
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
    /// The journal's last line's time when the run began (before its own lines).
    journal_last: Option<Time>,
    pub report: Report,
    /// Passphrases of private keys (`--pass`, the environment, asked).
    pub passphrases: Passphrases,
    _lock: LockGuard,
}

impl<'c> Ctx<'c> {
    /// Takes the run lock, opens and replays the journal (setting a torn last
    /// line aside) and finishes or undoes interrupted transactions. The run's
    /// first line, if it writes any, is `run_started`.
    pub fn open(config: &'c Config, opts: &'c Options, clock: ClockRef) -> R<Ctx<'c>> {
        Ok(Ctx::open_with(config, opts, clock, false)?.0)
    }

    /// [`Ctx::open`] for `--repair`: a journal with a problem in its current
    /// file is repaired first (see `journal::repair`); what was done is returned.
    pub fn open_repairing(config: &'c Config, opts: &'c Options, clock: ClockRef) -> R<(Ctx<'c>, Option<Repaired>)> {
        Ctx::open_with(config, opts, clock, true)
    }

    fn open_with(
        config: &'c Config,
        opts: &'c Options,
        clock: ClockRef,
        repair: bool,
    ) -> R<(Ctx<'c>, Option<Repaired>)> {
        let now = clock.now();
        let pid_dir = config
            .dir(Dir::Pid, &[])?
            .ok_or_else(|| AppError::setting("directories.pid", "is null, but a lock file is needed"))?;
        let lock = journal::lock(&pid_dir)?;
        let path = config.journal_path().to_path_buf();
        let repaired = if repair { journal::repair(&path, clock)? } else { None };
        let (mut journal, opened) = match repaired {
            Some((journal, repaired)) => {
                (journal, Opened { torn_saved_to: None, read_from: 0, repaired: Some(repaired) })
            }
            None => Journal::open(&path, clock)?,
        };
        tracing::trace!("Journal {} read from seq {}", path.display(), opened.read_from);
        journal.begin_with(Event::RunStarted {
            version: VERSION.into(),
            pid: std::process::id(),
            args: opts.journal_args.clone(),
            config: config.path.display().to_string(),
        });
        let journal_last = journal.last_ts_at_open();
        let passphrases = Passphrases::new(opts.pass.as_ref().map(|p| p.0.clone()));
        let report = Report::default();
        let mut ctx = Ctx { config, opts, clock, now, journal, journal_last, report, passphrases, _lock: lock };
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
        Ok((ctx, opened.repaired))
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

    /// Appends a finding that records no action (an adoption): fsynced with
    /// the next event or at the end of the run, not one by one.
    pub fn note(&mut self, event: Event) -> R<Record> {
        let record = self.journal.append_unsynced(event)?;
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

    /// Why the run's clock cannot be right, if it cannot: earlier than the
    /// journal's last line, or than this program's build.
    pub fn clock_is_wrong(&self) -> Option<String> {
        let (now, built) = (self.now, crate::time::build_time());
        match self.journal_last {
            Some(last) if now < last => {
                Some(format!("the system clock ({now}) is behind the journal's last line ({last})"))
            }
            _ if now < built => Some(format!("the system clock ({now}) is before this program was built ({built})")),
            _ => None,
        }
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
        if let Err(e) = self.journal.sync() {
            tracing::error!("{e}");
            return ErrorCode::Journal as i32;
        }
        if self.journal.appended() {
            // A new segment when the file has grown past journal_max_bytes,
            // else a checkpoint now and then: the next runs start reading there.
            let retention = &self.config.settings.retention;
            let max = u64::from(retention.journal_max_bytes);
            let done = if max > 0 && self.journal.size() > max && self.journal.growth() > max {
                self.journal.compact(retention.journal_keep_segments).map(|_| true)
            } else {
                self.journal.checkpoint_if_due()
            };
            if let Err(e) = done {
                self.report.warn(WarningCode::General, format!("journal not compacted or checkpointed: {e}"));
            }
            let changed = self.report.changed;
            if let Err(e) = self.record(Event::RunFinished { exit_code: code, changed }) {
                tracing::error!("{e}");
                return if code == 0 { ErrorCode::Journal as i32 } else { code };
            }
        }
        code
    }
}
