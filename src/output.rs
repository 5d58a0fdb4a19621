//! Output for cron: silent unless something changed or failed. Status lines
//! (`tracing::info!`) go to stdout and warnings to stderr unless `--quiet`; errors
//! always go to stderr; `--verbose` adds `debug!`, `--debug`/`--detail` add `trace!`.
//! The same events, at the configured `log_level`, are appended to the log file,
//! which is opened only when there is something to write.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::time::ClockRef;

/// The longest message printed, in characters.
const MAX_MESSAGE: usize = 64 * 1024;

/// Writes `text` to stdout as it is. A closed stdout (`acmebot --show-config |
/// head -c1`) is not an error: what cannot be written is dropped.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

pub struct Output {
    pub console: Option<Level>,
    late: Mutex<Late>,
    log_file: Mutex<LogFile>,
}

/// The log file, opened at the first line to write.
enum LogFile {
    Closed,
    Open(std::fs::File),
    /// Opening failed (and was said); not tried again in this run.
    Failed,
}

/// Opens the log file for appending: its directory made 0750 if missing (the
/// original's mode for a 0640 file), the file created 0640 and owned by
/// `log_user`:`log_group` as the original does, never opened through a link
/// or another name of someone else's file.
fn open_log(path: &std::path::Path, owner: Option<(u32, u32)>) -> Result<std::fs::File, String> {
    use crate::safe_fs::{self, Dir, Trust};
    let (dir, name) = safe_fs::split(path).map_err(|e| e.to_string())?;
    let dir = Dir::create(dir, Trust::Shared, 0o750, owner.map(|(_, g)| g)).map_err(|e| e.to_string())?;
    dir.open_append_as(name, 0o640, owner).map_err(|e| e.to_string())
}

/// What is known only once the configuration is loaded.
#[derive(Default)]
struct Late {
    color: bool,
    log_level: Option<Level>,
    log_path: Option<PathBuf>,
    log_owner: Option<(u32, u32)>,
    clock: Option<ClockRef>,
}

impl Output {
    pub fn new(console: Option<Level>) -> Output {
        Output { console, late: Mutex::new(Late::default()), log_file: Mutex::new(LogFile::Closed) }
    }

    /// Applies the configuration's output settings (`color_output`,
    /// `log_level`, the log file) and the command line's color flags.
    pub fn configure_from(&self, cfg: &crate::config::Config, args: &crate::cli::Args, clock: ClockRef) {
        use crate::config::{FileKind, LogLevel, SCRIPT_NAME};
        let color = if args.no_color {
            false
        } else {
            args.color || (cfg.settings.color_output && std::io::IsTerminal::is_terminal(&std::io::stdout()))
        };
        let log_level = cfg.settings.log_level.map(|l| match l {
            LogLevel::Normal => Level::INFO,
            LogLevel::Verbose => Level::DEBUG,
            LogLevel::Debug | LogLevel::Detail => Level::TRACE,
        });
        let log_path = cfg.file_path(FileKind::Log, SCRIPT_NAME, None).ok().flatten();
        self.configure(color, log_level, log_path, clock);
        self.late.lock().unwrap().log_owner = cfg.log_owner().ok();
    }

    /// Applies the configuration's output settings.
    pub fn configure(&self, color: bool, log_level: Option<Level>, log_path: Option<PathBuf>, clock: ClockRef) {
        *self.late.lock().unwrap() = Late { color, log_level, log_path, log_owner: None, clock: Some(clock) };
    }

    fn max_level(&self) -> Level {
        let mut max = Level::WARN;
        let log_level = self.late.lock().unwrap().log_level;
        for l in [self.console, log_level].into_iter().flatten() {
            if l > max {
                max = l;
            }
        }
        max
    }
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

/// The `tracing` subscriber for this process (installed once by `main`).
pub struct Subscriber_ {
    pub out: &'static Output,
}

impl Subscriber for Subscriber_ {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.out.max_level() && metadata.target().starts_with("acmebot")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let level = *event.metadata().level();
        let mut msg = Message(String::new());
        event.record(&mut msg);
        // Messages quote outside text (server answers, file contents): no
        // control character reaches the terminal or the log, and no message
        // can flood it.
        let text = crate::text::printable_lines(&msg.0, MAX_MESSAGE);
        let (prefix, color) = match level {
            Level::ERROR => ("ERROR: ", "\x1b[31m"),
            Level::WARN => ("WARNING: ", "\x1b[33m"),
            Level::INFO => ("", "\x1b[32m"),
            _ => ("", "\x1b[2m"),
        };
        let (color_on, log_level, log_path, log_owner, clock) = {
            let late = self.out.late.lock().unwrap();
            (late.color, late.log_level, late.log_path.clone(), late.log_owner, late.clock)
        };
        let console_on = match self.out.console {
            Some(max) => level <= max,
            None => level <= Level::ERROR,
        };
        if console_on {
            let line = if color_on { format!("{color}{prefix}{text}\x1b[0m\n") } else { format!("{prefix}{text}\n") };
            if level <= Level::WARN {
                let _ = std::io::stderr().write_all(line.as_bytes());
            } else {
                let _ = std::io::stdout().write_all(line.as_bytes());
            }
        }
        if let Some(max) = log_level {
            if level <= max {
                let mut file = self.out.log_file.lock().unwrap();
                if let (LogFile::Closed, Some(path)) = (&*file, log_path.as_ref()) {
                    *file = match open_log(path, log_owner) {
                        Ok(f) => LogFile::Open(f),
                        Err(e) => {
                            // Said once, straight to stderr (this is the subscriber).
                            let _ = writeln!(
                                std::io::stderr(),
                                "WARNING: unable to write to log file {}: {e}",
                                path.display()
                            );
                            LogFile::Failed
                        }
                    };
                }
                if let (LogFile::Open(f), Some(clock)) = (&mut *file, clock) {
                    let _ = writeln!(f, "{} {}{}", crate::time::rfc3339(clock.now().secs()), prefix, text);
                }
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
