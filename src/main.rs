//! The `acmebot` binary: parse, validate, then act.

use std::path::PathBuf;

use acmebot::cli::{Args, ErrorCode};
use acmebot::output::{Output, Subscriber_};
use acmebot::{config, journal, run, state, time, txn};
use tracing::Level;

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let raw: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
    let args: Args = match argh::FromArgs::from_args(&strs[..1], &strs[1..]) {
        Ok(a) => a,
        Err(early) => {
            // --help prints to stdout and exits 0; a usage error to stderr with code 4.
            if early.status.is_ok() {
                print!("{}", early.output);
                return 0;
            }
            eprintln!("{}", early.output);
            return ErrorCode::Config as i32;
        }
    };
    if args.version {
        println!("acmebot {}", run::VERSION);
        return 0;
    }
    let console = if args.detail || args.debug {
        Some(Level::TRACE)
    } else if args.verbose {
        Some(Level::DEBUG)
    } else if args.quiet {
        None
    } else {
        Some(Level::INFO)
    };
    let out: &'static Output = Box::leak(Box::new(Output::new(console)));
    let _ = tracing::subscriber::set_global_default(Subscriber_ { out });

    // Phase one: validate.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
    let loaded = config::locate(args.config.as_deref(), &cwd, exe_dir.as_deref()).and_then(|p| config::load(&p));
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return ErrorCode::Config as i32;
        }
    };
    let cfg = loaded.config;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let color = if args.no_color {
        false
    } else {
        args.color || (cfg.settings.color_output && std::io::IsTerminal::is_terminal(&std::io::stdout()))
    };
    let log_level = cfg.settings.log_level.map(|l| match l {
        config::LogLevel::Normal => Level::INFO,
        config::LogLevel::Verbose => Level::DEBUG,
        config::LogLevel::Debug | config::LogLevel::Detail => Level::TRACE,
    });
    let log_path = cfg.file_path(config::FileKind::Log, config::SCRIPT_NAME, None).ok().flatten();
    out.configure(color, log_level, log_path);
    if args.show_config {
        println!("{}", serde_json::to_string_pretty(&cfg.to_effective_json()).expect("json"));
        return 0;
    }
    if args.replay {
        return replay(&cfg);
    }
    if args.audit {
        return audit(&cfg);
    }
    if args.export_client {
        return match run::export_client(&cfg) {
            Ok(paths) => {
                for p in paths {
                    tracing::info!("Client exported to {}", p.display());
                }
                0
            }
            Err(f) => {
                tracing::error!("{}", f.message);
                f.code as i32
            }
        };
    }
    if args.randomwait {
        let (min, max) = (cfg.settings.min_run_delay as u64, cfg.settings.max_run_delay as u64);
        let mut b = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut b);
        let wait = if max > min { min + u64::from_le_bytes(b) % (max - min + 1) } else { min };
        tracing::debug!("Waiting {wait} s (--randomwait)");
        std::thread::sleep(std::time::Duration::from_secs(wait));
    }

    // Phase two: act.
    let now = time::now();
    let mut ctx = match run::Ctx::open(&cfg, &args, raw[1..].to_vec(), now) {
        Ok(c) => c,
        Err(f) => {
            tracing::error!("{}", f.message);
            return f.code as i32;
        }
    };
    if args.recover {
        recover(&mut ctx);
    } else {
        run::main_job(&mut ctx);
    }
    ctx.finish()
}

fn replay(cfg: &config::Config) -> i32 {
    let path = cfg.journal_path();
    match journal::read(&path) {
        Ok(outcome) => {
            for p in &outcome.problems {
                tracing::warn!("journal {}: {p}", path.display());
            }
            let state = state::State::replay(&outcome.records);
            println!("{}", serde_json::to_string_pretty(&state).expect("json"));
            if outcome.problems.is_empty() {
                0
            } else {
                ErrorCode::Journal as i32
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            ErrorCode::Journal as i32
        }
    }
}

fn audit(cfg: &config::Config) -> i32 {
    let path = cfg.journal_path();
    let chain = journal::audit_chain(&path);
    let mut ok = chain.is_ok();
    println!("{chain}");
    let records = match journal::read(&path) {
        Ok(o) => o.records,
        Err(e) => {
            println!("{e}");
            return ErrorCode::Journal as i32;
        }
    };
    let installed = txn::installed_files(&records);
    let problems = txn::audit_files(&installed);
    if problems.is_empty() {
        println!("files: all {} installed files match the journal", installed.len());
    } else {
        ok = false;
        println!("files: {} of {} installed files differ from the journal:", problems.len(), installed.len());
        for p in &problems {
            println!("  {p}");
        }
    }
    if ok {
        0
    } else {
        ErrorCode::Journal as i32
    }
}

fn recover(ctx: &mut run::Ctx<'_>) {
    let installed = txn::installed_files(&ctx.records);
    let problems = txn::audit_files(&installed);
    if problems.is_empty() {
        return;
    }
    match txn::restore(&mut ctx.journal, &problems, ctx.now) {
        Ok(restored) => {
            for r in restored {
                match r {
                    txn::Restored::Done { path, from, archived_to, .. } => {
                        let kept = archived_to
                            .map(|a| format!("; the altered file was kept in {}", a.display()))
                            .unwrap_or_default();
                        tracing::info!("Restored {} from {}{kept}", path.display(), from.display());
                        ctx.outcome.changed = true;
                    }
                    txn::Restored::Failed { path, reason } => {
                        ctx.outcome.error(run::Failure::new(
                            ErrorCode::Journal,
                            format!("cannot restore {}: {reason}", path.display()),
                        ));
                    }
                }
            }
        }
        Err(e) => ctx.outcome.error(run::Failure::new(ErrorCode::Journal, e.to_string())),
    }
}
