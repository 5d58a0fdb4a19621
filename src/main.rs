//! The `acmebot` binary: parse and validate the command line and the
//! configuration, then act (`app::run`).

use std::path::PathBuf;

use acmebot::cli::{Args, ErrorCode, Mode};
use acmebot::output::{Output, Subscriber_};
use acmebot::{app, config, time};

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let raw: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
    let args: Args = match argh::FromArgs::from_args(&strs[..1], &strs[1..]) {
        Ok(a) => a,
        // --help prints to stdout and exits 0; a usage error to stderr with code 4.
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            return 0;
        }
        Err(early) => {
            eprintln!("{}", early.output);
            return ErrorCode::Config as i32;
        }
    };
    if args.version {
        println!("acmebot {}", app::VERSION);
        return 0;
    }
    let out: &'static Output = Box::leak(Box::new(Output::new(args.console_level())));
    let _ = tracing::subscriber::set_global_default(Subscriber_ { out });
    let clock = match time::process_clock() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ErrorCode::Config as i32;
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
    let loaded = config::locate(args.config.as_deref(), &cwd, exe_dir.as_deref()).and_then(|p| config::load(&p));
    let cfg = match loaded {
        Ok(l) => {
            l.warnings.iter().for_each(|w| tracing::warn!("{w}"));
            l.config
        }
        Err(e) => {
            tracing::error!("{e}");
            return ErrorCode::Config as i32;
        }
    };
    out.configure_from(&cfg, &args, clock);
    let mode = args.mode();
    if mode == Mode::ShowConfig {
        println!("{}", serde_json::to_string_pretty(&cfg.to_effective_json()).expect("JSON serializes"));
        return 0;
    }
    if args.randomwait {
        random_wait(&cfg, clock);
    }
    app::run(&cfg, &args.options(&raw[1..]), mode, clock)
}

/// `--randomwait`: a random time between `min_run_delay` and `max_run_delay`.
fn random_wait(cfg: &config::Config, clock: time::ClockRef) {
    let (min, max) = (cfg.settings.min_run_delay as u64, cfg.settings.max_run_delay as u64);
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let wait = if max > min { min + u64::from_le_bytes(b) % (max - min + 1) } else { min };
    tracing::debug!("Waiting {wait} s (--randomwait)");
    clock.sleep(std::time::Duration::from_secs(wait));
}
