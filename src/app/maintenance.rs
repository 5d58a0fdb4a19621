//! The journal's own modes: `--replay`, `--audit`, `--recover`, and
//! `--export-client` for a follower.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::outside;
use super::secrets::Passphrases;
use crate::cli::ErrorCode;
use crate::config::Config;
use crate::crypto;
use crate::journal::{self, ChainReport, Event, Repaired};
use crate::output;
use crate::safe_fs::{Dir, Trust};
use crate::txn::{self, Restored};

/// `--replay`: the state replayed from the journal, as JSON on stdout.
pub fn replay(config: &Config) -> i32 {
    let path = config.journal_path();
    match journal::read(path) {
        Ok(outcome) => {
            for p in &outcome.scanned.problems {
                tracing::warn!("journal {}: {p}", path.display());
            }
            output::print(&format!("{}\n", outcome.state.to_json_pretty()));
            if outcome.scanned.problems.is_empty() {
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

/// `--audit`: the hash chain, then every installed file against the journal
/// (between runs: it waits while a run holds the lock). Files of a
/// transaction a run left open are not "altered": the transaction is named
/// and the next run finishes or undoes it.
pub fn audit(config: &Config, pp: &Passphrases, now: crate::time::Time) -> i32 {
    let path = config.journal_path();
    let _lock = match config.dir(crate::config::Dir::Pid, &[]) {
        Ok(Some(pid_dir)) => {
            let waiting = |pid: Option<u32>| {
                let holder = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                tracing::info!("Waiting for the acmebot run{holder} holding the lock to finish");
            };
            match journal::lock_waiting(&pid_dir, &waiting) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!("{e}");
                    return AppError::Journal(e).code() as i32;
                }
            }
        }
        _ => None,
    };
    let read = journal::read(path);
    let chain = ChainReport::of(path, &read);
    let mut ok = chain.is_ok();
    output::print(&format!("{chain}\n"));
    let Ok(outcome) = read else { return ErrorCode::Journal as i32 };
    let installed = &outcome.state.files;
    let open: Vec<&journal::OpenTxn> = outcome.state.open.values().collect();
    let in_open = |p: &Path| open.iter().any(|o| o.begun.files.iter().any(|f| Path::new(&f.path) == p));
    let all: Vec<_> = txn::audit_files(installed).into_iter().filter(|p| !in_open(&p.path)).collect();
    // A key or certificate changed outside acmebot that is valid for its
    // names and key is a change to take over, not damage (a warning).
    let mut outside = Vec::new();
    let mut problems = Vec::new();
    for p in all {
        let judged = matches!(p.kind, txn::FileProblemKind::Altered { .. })
            .then(|| outside::judge(config, pp, &p.path, now).ok())
            .flatten();
        match judged {
            Some(what) => outside.push((p, what)),
            None => problems.push(p),
        }
    }
    for (p, what) in &outside {
        tracing::warn!("{} was changed outside acmebot and holds {what}: the next run takes it over", p.path.display());
    }
    for o in &open {
        ok = false;
        output::print(&format!(
            "interrupted transaction {} (key {}, {} files): the next run (or --recover) finishes or undoes it\n",
            o.begun.txn,
            o.begun.key,
            o.begun.files.len()
        ));
    }
    if problems.is_empty() && outside.is_empty() {
        output::print(&format!("files: all {} installed files match the journal\n", installed.len()));
    } else if problems.is_empty() {
        output::print(&format!(
            "files: {} of {} installed files were changed outside acmebot, validly; the others match the journal\n",
            outside.len(),
            installed.len()
        ));
    } else {
        ok = false;
        output::print(&format!(
            "files: {} of {} installed files differ from the journal:\n",
            problems.len(),
            installed.len()
        ));
        for p in &problems {
            output::print(&format!("  {p}\n"));
        }
    }
    if !ok {
        ErrorCode::Journal as i32
    } else if !outside.is_empty() && config.settings.warning_exit_code {
        crate::cli::WarningCode::General as i32
    } else {
        0
    }
}

/// `--recover`: missing or altered installed files put back from their copies.
pub fn recover(ctx: &mut Ctx<'_>) {
    let mut problems = txn::audit_files(&ctx.state().files);
    // Never an older certificate over a newer valid one: a valid change made
    // outside acmebot is taken over instead of undone.
    let now = ctx.now;
    let mut kept = Vec::new();
    let pp = &ctx.passphrases;
    problems.retain(|p| {
        let valid = matches!(p.kind, txn::FileProblemKind::Altered { .. })
            && outside::judge(ctx.config, pp, &p.path, now).map(|what| kept.push((p.path.clone(), what))).is_ok();
        !valid
    });
    for (path, what) in kept {
        if let Err(e) = take_over(ctx, &path, &what) {
            return ctx.report.error(e);
        }
    }
    if problems.is_empty() {
        return;
    }
    let restored = match txn::restore(&mut ctx.journal, &problems) {
        Ok(r) => r,
        Err(e) => return ctx.report.error(AppError::Txn(e)),
    };
    for r in restored {
        match r {
            Restored::Done { path, from, archived_to, .. } => {
                let kept =
                    archived_to.map(|a| format!("; the altered file was kept in {}", a.display())).unwrap_or_default();
                tracing::info!("Restored {} from {}{kept}", path.display(), from.display());
                ctx.report.changed = true;
            }
            Restored::Failed { path, reason } => {
                ctx.report.error(AppError::Restore { path, reason });
            }
        }
    }
}

/// Journals the file at `path`, changed outside acmebot, as installed as it
/// is now (`file_adopted`).
pub fn take_over(ctx: &mut Ctx<'_>, path: &Path, what: &str) -> R<()> {
    let Some((sha256, mode, uid, gid)) = txn::file_facts(path).map_err(AppError::Txn)? else { return Ok(()) };
    let key = outside::key_of(ctx.config, path).unwrap_or_default();
    let copy = txn::keep_installed_copy(path, &super::account::archive_root(ctx.config)?, &key, ctx.now)
        .map_err(AppError::Txn)?;
    let p = path.display().to_string();
    let installed_copy = Some(copy.display().to_string());
    ctx.note(Event::FileAdopted { path: p, sha256, mode: journal::Mode(mode), uid, gid, installed_copy })?;
    // Quiet, as the original is about its own renewals (said with -v).
    tracing::debug!("{} was changed outside acmebot and holds {what}: taken over", path.display());
    Ok(())
}

/// `--repair`: said what was set aside, then takes what is on disk as
/// installed where the journal's files differ (`file_adopted`) or are gone
/// (`file_forgotten`). Keys and certificates are adopted by the next run as
/// on an installation without a journal.
pub fn repair(ctx: &mut Ctx<'_>, repaired: Option<Repaired>) {
    let path = ctx.config.journal_path().display().to_string();
    let Some(r) = repaired else {
        return tracing::info!("Journal {path}: its current file has no problem; nothing to repair");
    };
    tracing::info!(
        "Journal {path} repaired: {} intact line(s) kept, {} line(s) from the first problem on set aside in {} ({})",
        r.kept,
        r.dropped,
        r.set_aside.display(),
        r.problem
    );
    ctx.report.changed = true;
    for p in txn::audit_files(&ctx.state().files) {
        let event = match txn::file_facts(&p.path) {
            Ok(Some((sha256, mode, uid, gid))) => {
                let path = p.path.display().to_string();
                Event::FileAdopted { path, sha256, mode: journal::Mode(mode), uid, gid, installed_copy: None }
            }
            Ok(None) => Event::FileForgotten { path: p.path.display().to_string() },
            Err(e) => return ctx.report.error(AppError::Txn(e)),
        };
        let what = if matches!(event, Event::FileForgotten { .. }) { "forgotten" } else { "taken as it is on disk" };
        if let Err(e) = ctx.record(event) {
            return ctx.report.error(e);
        }
        tracing::info!("{p}: {what}");
    }
}

/// `--compact`: a new journal segment now; old segments beyond
/// `journal_keep_segments` are deleted, each deletion journaled first.
pub fn compact(ctx: &mut Ctx<'_>) {
    let keep = ctx.config.settings.retention.journal_keep_segments;
    match ctx.journal.compact(keep) {
        Ok(deleted) => {
            tracing::info!("Started a new journal segment in {}", ctx.config.journal_path().display());
            for d in deleted {
                tracing::info!("Deleted the old journal segment {}", d.display());
            }
            ctx.report.changed = true;
        }
        Err(e) => ctx.report.error(AppError::Journal(e)),
    }
}

/// `--export-client`: what a follower needs, in the current directory, mode
/// 0600, never overwriting: `acmebot_client_key.pem` (the original's export),
/// and `acmebot_client_key.json` / `acmebot_registration.json` to copy into
/// the follower's resource directory as `client_key.json` / `registration.json`.
pub fn export_client(config: &Config) -> R<Vec<PathBuf>> {
    let resource = config.resource_dir();
    let read = |name: &str| -> R<Vec<u8>> {
        let p = resource.join(name);
        std::fs::read(&p).map_err(|e| AppError::KeyMismatch {
            path: p.clone(),
            detail: format!("cannot read it: {e} (run acmebot once to register first)"),
        })
    };
    let key_json = read("client_key.json")?;
    let registration = read("registration.json")?;
    let key = crypto::account_key_from_json(&key_json).map_err(AppError::key(resource.join("client_key.json")))?;
    let outputs = [
        (PathBuf::from("acmebot_client_key.pem"), key.to_pkcs8_pem().into_bytes()),
        (PathBuf::from("acmebot_client_key.json"), key_json),
        (PathBuf::from("acmebot_registration.json"), registration),
    ];
    let mut written = Vec::new();
    let here = Dir::open(Path::new("."), Trust::Shared)?;
    for (out, bytes) in outputs {
        let mut f = here.create_new(out.as_os_str(), 0o600, None).map_err(AppError::file(&out, "create"))?;
        f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(AppError::file(&out, "write"))?;
        written.push(out);
    }
    Ok(written)
}
