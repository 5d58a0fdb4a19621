//! One run of acmebot, the outer layer: it reads the clock once, opens the
//! journal under the run lock, inspects the files on disk against the
//! replayed state, and drives the ACME client and the file transactions.
//!
//! The main job, phase by phase: [`inspect`] every selected key (adopt what
//! is on disk, decide rollovers and what to issue), ask [`ari`] for renewal
//! windows, then with the [`account`]: [`authz`] (http-01, [`dns01`]),
//! [`issue`] (keys generated meanwhile, see [`keys`]), [`install`] one
//! transaction per key, [`tlsa`] records, and the services' reloads
//! ([`hooks`]). [`revoke`] and [`maintenance`] are the other modes.

mod account;
mod ari;
mod authz;
mod caa;
mod ctx;
mod dns01;
mod error;
mod hooks;
mod hpkp;
mod inspect;
mod install;
mod issue;
mod keys;
mod maintenance;
mod ocsp;
mod outside;
mod params;
mod plan;
mod report;
mod revoke;
mod sct;
mod secrets;
mod staple;
mod tlsa;
mod verify;
mod web;
mod writes;
mod zones;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use ctx::VERSION;

use self::account::{account_key_rollover, archive_root, with_acme, with_acme_read_only};
use self::ari::{ari_due, check_ari};
use self::authz::{authorization_names, authorize_only};
use self::ctx::Ctx;
use self::error::{AppError, R};
use self::hooks::{reload_services, Services};
use self::inspect::inspect_key;
use self::install::install;
use self::issue::{issue_all, Issued};
use self::keys::generate_keys;
use self::plan::KeyPlan;
use self::staple::Which;
use self::tlsa::sync_tlsa;
use crate::cli::{Args, ErrorCode, Mode, Options, WarningCode};
use crate::config::{self, Config, PrivateKeySpec};
use crate::journal::Event;
use crate::output::{self, Output, Subscriber_};
use crate::text;
use crate::time::{self, ClockRef};
use crate::types;

/// The exit code of a command-line usage error: argparse's 2, as the
/// original exits for an unknown or ambiguous option.
const USAGE_ERROR: i32 = 2;

/// The program: parse and validate the command line and the configuration
/// (`raw`: the arguments, the program name first), then act. Returns the exit code.
pub fn main(raw: Vec<String>) -> i32 {
    let program = raw.first().cloned().unwrap_or_else(|| "acmebot".into());
    // Usage errors exit 2, as argparse's do in the original.
    let normalized = match Args::normalize(raw.get(1..).unwrap_or_default()) {
        Ok(n) => n,
        Err(e) => {
            let message = Args::redact_error(&e, raw.get(1..).unwrap_or_default());
            eprintln!("{}", text::printable(&message, 4096));
            return USAGE_ERROR;
        }
    };
    let raw: Vec<String> = std::iter::once(program).chain(normalized).collect();
    let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
    let args: Args = match argh::FromArgs::from_args(&strs[..1], &strs[1..]) {
        Ok(a) => a,
        // --help prints to stdout and exits 0; a usage error to stderr with code 4.
        Err(early) if early.status.is_ok() => {
            output::print(&early.output);
            return 0;
        }
        Err(early) => {
            let message = Args::redact_error(&early.output, &raw);
            eprintln!("{}", text::printable(message.trim_end(), 4096));
            return USAGE_ERROR;
        }
    };
    if args.version {
        output::print(&format!("acmebot {VERSION}\n"));
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
    let cfg = match config::locate(args.config.as_deref(), &cwd, exe_dir.as_deref()).and_then(|p| config::load(&p)) {
        Ok(l) => {
            l.warnings.iter().for_each(|w| tracing::warn!("{w}"));
            l.config.missing_owner_warnings().iter().for_each(|w| tracing::warn!("{w}"));
            l.config
        }
        Err(e) => {
            tracing::error!("{e}");
            // As the original: a file that cannot be found, read or parsed
            // exits 3 (the original's error escapes as an exception there);
            // a configuration that reads but is wrong exits 4.
            let unreadable = matches!(
                e,
                config::ConfigError::NotFound { .. }
                    | config::ConfigError::Read { .. }
                    | config::ConfigError::Parse { .. }
            );
            return if unreadable { ErrorCode::Exception as i32 } else { ErrorCode::Config as i32 };
        }
    };
    out.configure_from(&cfg, &args, clock);
    let mode = args.mode();
    if mode == Mode::ShowConfig {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&cfg.to_effective_json()).expect("JSON serializes")
        ));
        return 0;
    }
    crate::platform::watch_stop_signals();
    if args.randomwait {
        random_wait(&cfg, clock);
        if crate::platform::stop_requested().is_some() {
            tracing::error!("stopped by a signal before the run began");
            return ErrorCode::Fatal as i32;
        }
    }
    run(&cfg, &args.options(&raw[1..]), mode, clock)
}

/// `--randomwait`: a random time between `min_run_delay` and `max_run_delay`.
fn random_wait(cfg: &Config, clock: ClockRef) {
    let (min, max) = (cfg.settings.min_run_delay as u64, cfg.settings.max_run_delay as u64);
    let mut b = [0u8; 8];
    let _ = crate::platform::random_fill(&mut b);
    let wait = if max > min { min + u64::from_le_bytes(b) % (max - min + 1) } else { min };
    tracing::debug!("Waiting {wait} s (--randomwait)");
    clock.sleep(std::time::Duration::from_secs(wait));
}

/// Runs what the command line asked for (everything but `--version` and
/// `--show-config`) and returns the exit code.
fn run(config: &Config, opts: &Options, mode: Mode, clock: ClockRef) -> i32 {
    match mode {
        Mode::Replay => return maintenance::replay(config),
        Mode::ShowCaa => return caa::show_caa(config, &opts.key_names),
        Mode::Audit => {
            let pp = secrets::Passphrases::new(opts.pass.as_ref().map(|p| p.0.clone()));
            return maintenance::audit(config, &pp, clock.now());
        }
        Mode::ExportClient => {
            return match maintenance::export_client(config) {
                Ok(paths) => {
                    for p in paths {
                        tracing::info!("Client exported to {}", p.display());
                    }
                    0
                }
                Err(e) => {
                    tracing::error!("{e}");
                    e.code() as i32
                }
            }
        }
        _ => {}
    }
    let opened = if mode == Mode::Repair {
        Ctx::open_repairing(config, opts, clock)
    } else {
        Ctx::open(config, opts, clock).map(|c| (c, None))
    };
    let (mut ctx, repaired) = match opened {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return e.code() as i32;
        }
    };
    // A wrong clock (a router before NTP) makes no renewal decision and no
    // change; recovery, which does not depend on time, still runs.
    let talks_to_the_ca = matches!(mode, Mode::Main | Mode::Register | Mode::Revoke | Mode::AccountKeyRollover);
    if let Some(why) = ctx.clock_is_wrong().filter(|_| talks_to_the_ca) {
        let message = format!("{why}: no renewal decision and no change in this run; the next run tries again");
        ctx.report.warn(WarningCode::Clock, message);
        return ctx.finish();
    }
    match mode {
        Mode::Repair => maintenance::repair(&mut ctx, repaired),
        Mode::Recover => maintenance::recover(&mut ctx),
        Mode::Compact => maintenance::compact(&mut ctx),
        Mode::FinishInterrupted => {}
        Mode::Register => {
            if let Err(e) = with_acme(&mut ctx, true, |_, _| Ok(())) {
                ctx.report.error(e);
            }
        }
        Mode::AccountKeyRollover => {
            if let Err(e) = account_key_rollover(&mut ctx) {
                ctx.report.error(e);
            }
        }
        Mode::Revoke => match select_keys(config, &opts.key_names) {
            Ok(selected) => revoke::revoke(&mut ctx, &selected),
            Err(e) => ctx.report.error(e),
        },
        _ => main_job(&mut ctx),
    }
    ctx.finish()
}

/// The main job: authorizations, keys, certificates, TLSA records, SCTs,
/// OCSP responses, services.
fn main_job(ctx: &mut Ctx<'_>) {
    let opts = ctx.opts;
    let selected = match select_keys(ctx.config, &opts.key_names) {
        Ok(s) => s,
        Err(e) => return ctx.report.error(e),
    };
    if !ctx.state().challenge_files.is_empty() || ctx.state().dns_records.iter().any(|r| r.2 == "TXT") {
        dns01::clear_leftovers(ctx);
    }
    warn_failing_renewals(ctx, &selected);
    let ops = opts.operations;
    let which = Which { sct: ops.sct, ocsp: ops.ocsp, explicit: ops.explicit };
    let mut services = Services::default();
    let mut rolled = BTreeSet::new();
    if ops.certs || ops.auth {
        rolled = certificates(ctx, &selected, which, &mut services);
    } else if opts.tlsa {
        let names: Vec<String> = selected.iter().map(|k| k.name.clone()).collect();
        sync_tlsa(ctx, &names);
    }
    // SCTs and OCSP responses of the certificates already installed (those
    // installed by this run got theirs in their transaction and are good).
    if which.sct || which.ocsp {
        staple::refresh(ctx, &selected, which, &mut services);
    }
    // DH and EC parameters last: making them never holds up a renewal.
    if ops.certs && crate::platform::stop_requested().is_none() {
        params::refresh(ctx, &selected, &rolled, &mut services);
    }
    let reloaded = (!services.is_empty()).then(std::time::Instant::now);
    reload_services(ctx, services);
    // Verification last, after the servers were told about new files.
    if ops.verify && crate::platform::stop_requested().is_none() {
        verify::verify(ctx, &selected, reloaded, ops.explicit);
    }
    if crate::platform::stop_requested().is_some() && ctx.report.error.is_none() {
        ctx.report.error(AppError::Stopped);
    }
}

/// Authorizations, keys, certificates and TLSA records. Returns the private
/// keys whose primary key changed (a rollover, a new key).
fn certificates(
    ctx: &mut Ctx<'_>,
    selected: &[&PrivateKeySpec],
    which: Which,
    services: &mut Services,
) -> BTreeSet<String> {
    let opts = ctx.opts;
    let ops = opts.operations;
    let follower = ctx.config.settings.follower_mode;
    // Names to authorize on their own: the `authorizations` section (when its
    // journaled authorizations run out), and with --auth every configured name.
    let auth_names = if ops.auth && !follower { authorization_names(ctx, selected) } else { Vec::new() };
    if !ops.certs && auth_names.is_empty() {
        if opts.auth_only && follower {
            ctx.report
                .warn(WarningCode::Auth, "--auth does nothing in follower mode: the master obtains authorizations");
        }
        return BTreeSet::new();
    }
    // Inspect every selected key: adopt what is on disk, decide what to issue.
    let mut plans = Vec::new();
    for &spec in selected.iter().filter(|_| ops.certs) {
        match inspect_key(ctx, spec) {
            Ok(p) => plans.push(p),
            Err(e) => ctx.report.error(e.about(format!("private key {}", spec.name))),
        }
    }
    let acted = match act(ctx, &mut plans, &auth_names, services, which) {
        Ok(keys) => Some(keys),
        Err(e) => {
            ctx.report.error(e);
            None
        }
    };
    journal_failed_renewals(ctx, &plans);
    let Some(installed_keys) = acted else { return BTreeSet::new() };
    // TLSA records in remote zones are checked on every run (a zone edited by
    // hand, records lost); local zones are reloaded when certificates changed.
    let checked: Vec<String> = if ops.certs { selected.iter().map(|k| k.name.clone()).collect() } else { Vec::new() };
    tlsa::sync_tlsa_of(ctx, &checked, &installed_keys);
    plans
        .iter()
        .filter(|p| installed_keys.contains(&p.spec.name))
        .filter(|p| p.slots.iter().any(|(&(_, role), s)| role == types::KeyRole::Primary && s.is_new))
        .map(|p| p.spec.name.clone())
        .collect()
}

/// Every certificate this run was to issue and did not install: journaled
/// with the run's first error (`renewal_failed`), so later runs warn while it
/// nears expiry.
fn journal_failed_renewals(ctx: &mut Ctx<'_>, plans: &[KeyPlan<'_>]) {
    let error = ctx.report.first_error.clone().unwrap_or_else(|| "not issued".into());
    for w in plans.iter().flat_map(|p| &p.work) {
        let installed = ctx.state().certificate(&w.cert.name, w.key_type).is_some_and(|c| c.since >= ctx.now);
        if installed {
            continue;
        }
        let event = Event::RenewalFailed { cert: w.cert.name.clone(), key_type: w.key_type, error: error.clone() };
        if let Err(e) = ctx.record(event) {
            return ctx.report.error(e);
        }
    }
}

/// Certificates near expiry (within renewal_days, or inside their ARI
/// window) whose last renewal failed: a warning on every run, since Let's
/// Encrypt no longer mails about expiry.
fn warn_failing_renewals(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec]) {
    let soon = ctx.now.plus_secs(i64::from(ctx.config.settings.renewal_days) * 86400);
    let mut warnings = Vec::new();
    for spec in selected {
        for cert in &spec.certificates {
            for &kt in &cert.key_types {
                let id = crate::journal::cert_id(&cert.name, kt);
                let (state, now) = (ctx.state(), ctx.now);
                let (Some(failure), Some(c)) = (state.renewal_failures.get(&id), state.certificates.get(&id)) else {
                    continue;
                };
                let in_window =
                    state.renewal_info.get(&id).is_some_and(|a| a.serial == c.serial && a.window_start <= now);
                if c.not_after > soon && !in_window {
                    continue;
                }
                let days = (c.not_after.secs() - now.secs()).div_euclid(86400);
                warnings.push(format!(
                    "{} certificate {} expires {} (in {days} days); the last renewal attempt ({}) failed: {}",
                    kt.as_str().to_uppercase(),
                    cert.name,
                    c.not_after,
                    failure.at,
                    failure.error
                ));
            }
        }
    }
    for w in warnings {
        ctx.report.warn(WarningCode::General, w);
    }
}

/// Asks the CA for what is due (authorizations, renewal windows, certificates)
/// and installs; returns the names of the keys whose files changed.
fn act(
    ctx: &mut Ctx<'_>,
    plans: &mut [KeyPlan<'_>],
    auth_names: &[String],
    services: &mut Services,
    which: Which,
) -> R<Vec<String>> {
    // Certificates whose ARI window is due to be asked for (journaled windows
    // with a Retry-After still ahead are not asked again).
    let due = ari_due(ctx, plans, false);
    let any_work = |plans: &[KeyPlan<'_>]| plans.iter().any(|p| !p.work.is_empty());
    let needs_install = |plans: &[KeyPlan<'_>]| plans.iter().any(KeyPlan::needs_install);
    let only_ari = !any_work(plans) && auth_names.is_empty() && !due.is_empty();
    let needs_acme = any_work(plans) || !auth_names.is_empty() || !due.is_empty();
    if !needs_acme && !needs_install(plans) {
        return Ok(Vec::new());
    }
    // Validate what installing needs before asking the CA for anything.
    let ready_to_install = |ctx: &Ctx<'_>| -> R<()> {
        ctx.config.file_owner()?;
        // The archive will hold private keys: refused now (naming the
        // directory) if others could reach into it, before the CA is asked.
        let archive = archive_root(ctx.config)?;
        crate::safe_fs::Dir::create(&archive, crate::safe_fs::Trust::Private, 0o700, None)?;
        Ok(())
    };
    if needs_install(plans) {
        ready_to_install(ctx)?;
    }
    if !needs_acme {
        generate_keys(ctx, plans)?;
        return Ok(install_all(ctx, plans, BTreeMap::new(), services, which));
    }
    if only_ari {
        // Only renewal windows to ask for: plain GETs that need no account (an
        // installation taken over without its account files makes none).
        // Asking is a courtesy: an unreachable CA is a warning, and the
        // certificates are still renewed by the fallback rule.
        match with_acme_read_only(ctx, |ctx, client| check_ari(ctx, client, plans, &due)) {
            Err(e @ AppError::Journal(_)) => return Err(e),
            Err(e) => {
                ctx.report.warn(WarningCode::General, format!("renewal information not checked: {e}"));
                return Ok(Vec::new());
            }
            Ok(()) if !needs_install(plans) => return Ok(Vec::new()),
            // The CA's window says renew now: that needs the account.
            Ok(()) => {}
        }
    }
    let mut installed_keys = Vec::new();
    with_acme(ctx, false, |ctx, client| {
        if !only_ari {
            authorize_only(ctx, client, auth_names);
            check_ari(ctx, client, plans, &due)?;
        }
        if needs_install(plans) {
            ready_to_install(ctx)?;
            let issued = issue_all(ctx, client, plans)?;
            installed_keys = install_all(ctx, plans, issued, services, which);
            // Ask for the new certificates' renewal windows now, while connected,
            // so the next run has nothing to ask.
            let fresh = ari_due(ctx, plans, true);
            check_ari(ctx, client, plans, &fresh)?;
        }
        Ok(())
    })?;
    Ok(installed_keys)
}

/// Installs every key's transaction; a key whose certificates were not all
/// issued installs nothing (so keys and certificates stay consistent).
/// Returns the names of the keys that changed.
fn install_all(
    ctx: &mut Ctx<'_>,
    plans: &[KeyPlan<'_>],
    mut issued: BTreeMap<String, Vec<Issued>>,
    services: &mut Services,
    which: Which,
) -> Vec<String> {
    let mut changed = Vec::new();
    let mut web = staple::Web::default();
    for plan in plans {
        let got = issued.remove(&plan.spec.name).unwrap_or_default();
        if got.len() < plan.work.len() && !got.is_empty() {
            let detail = "not all certificates were issued; nothing of it was installed".to_string();
            ctx.report.error(AppError::Issue { what: format!("private key {}", plan.spec.name), detail });
            continue;
        }
        if got.is_empty() && !plan.work.is_empty() {
            continue; // errors already reported
        }
        if !plan.needs_install() {
            continue;
        }
        match install(ctx, plan, got, services, which, &mut web) {
            Ok(()) => changed.push(plan.spec.name.clone()),
            Err(e) => ctx.report.error(e.about(format!("private key {}", plan.spec.name))),
        }
    }
    changed
}

/// The private keys named on the command line, or all of them.
fn select_keys<'c>(config: &'c Config, names: &[String]) -> R<Vec<&'c PrivateKeySpec>> {
    if names.is_empty() {
        return Ok(config.private_keys.iter().collect());
    }
    let mut out = Vec::new();
    for n in names {
        match config.private_keys.iter().find(|k| &k.name == n) {
            Some(k) => out.push(k),
            None => {
                let known: Vec<&str> = config.private_keys.iter().map(|k| k.name.as_str()).collect();
                let detail =
                    format!("no private key or certificate named {n:?} is configured (known: {})", known.join(", "));
                return Err(AppError::setting("private key names", detail));
            }
        }
    }
    Ok(out)
}
