//! Committing a plan: steps 1-5 of the protocol in the module docs (step 6 is
//! in `declared`, shared with the roll-forward after a crash).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use super::declared::{finish, Entry, Txn};
use super::fs::{
    archive_file, claim_archive_dir, create_new, dir_of, file_name_of, make_dir, on_disk, remove, rename_into_place,
    sync_dirs, unique_names, OnDisk,
};
use super::recover::roll_back;
use super::{ioe, Action, Committed, Fault, FileOp, Plan, Step, TxnError};
use crate::journal::{Event, Journal, TxnBegun};
use crate::safe_fs::{self, dir_mode_for, Trust};
use crate::types::sha256_hex;

fn validate(plan: &Plan) -> Result<(), TxnError> {
    let k = &plan.key_name;
    if k.is_empty() || k == "." || k == ".." || k.contains('/') || k.contains('\0') {
        return Err(TxnError::Invalid(format!("bad key name {k:?}")));
    }
    let mut seen = BTreeSet::new();
    for op in &plan.ops {
        if !op.path.is_absolute() {
            return Err(TxnError::Invalid(format!("{} is not an absolute path", op.path.display())));
        }
        file_name_of(&op.path)?;
        if !seen.insert(&op.path) {
            return Err(TxnError::Invalid(format!("{} appears twice", op.path.display())));
        }
    }
    Ok(())
}

/// [`commit_with_faults`] without fault injection (tests).
#[cfg(test)]
pub fn commit(journal: &mut Journal, plan: &Plan) -> Result<Committed, TxnError> {
    commit_with_faults(journal, plan, &super::fault::no_faults)
}

/// Whether a target already is what the op wants.
fn already_done(op: &FileOp, old: &Option<OnDisk>, owner: Option<(u32, u32)>) -> bool {
    match (&op.action, old) {
        (Action::Write { contents, mode }, Some(o)) => {
            o.mode == mode & 0o7777
                && o.sha256 == sha256_hex(contents)
                && owner.is_none_or(|(u, g)| (o.uid, o.gid) == (u, g))
        }
        (Action::Write { .. }, None) => false,
        (Action::Remove, old) => old.is_none(),
    }
}

/// Installs all files of `plan` as one transaction. `faults` is called at every
/// check point; if it returns Err the commit returns `TxnError::Crashed` at once,
/// without any cleanup, exactly as if the process had died there. On any other error
/// after `txn_begun`, the transaction is rolled back (best effort) before returning.
pub fn commit_with_faults(
    journal: &mut Journal,
    plan: &Plan,
    faults: &dyn Fn(Step) -> Result<(), Fault>,
) -> Result<Committed, TxnError> {
    validate(plan)?;
    // 1. What actually has to change; the directories of the files to write
    // are made (mode from the files', as the original makes them) and checked
    // safe before anything is journaled.
    let mut result = Committed::default();
    let mut todo: Vec<(&FileOp, Option<OnDisk>)> = Vec::new();
    // A directory shared by files of several modes (a 0640 primary key and a
    // 0600 backup key) is made for the most readable of them, whatever their
    // order: the service's group must reach the primary key.
    let mut dirs: Vec<(&Path, u32)> = Vec::new();
    for op in &plan.ops {
        if let Action::Write { mode, .. } = &op.action {
            let dir = dir_of(&op.path);
            match dirs.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, m)) => *m |= *mode,
                None => dirs.push((dir, *mode)),
            }
        }
    }
    for (dir, mode) in &dirs {
        make_dir(dir, Trust::for_mode(*mode), dir_mode_for(*mode), plan.owner.map(|(_, g)| g))?;
    }
    for op in &plan.ops {
        let old = on_disk(&op.path)?;
        if already_done(op, &old, plan.owner) {
            result.unchanged.push(op.path.clone());
        } else {
            todo.push((op, old));
        }
    }
    if todo.is_empty() && plan.effects.is_empty() {
        return Ok(result);
    }

    // 2. Claim the archive dir, journal txn_begun.
    let archive = claim_archive_dir(&plan.archive_root, &plan.key_name, journal.clock().now())?;
    let txn = plan_txn(plan, &archive, &todo)?;
    let begun = TxnBegun {
        txn: txn.id.clone(),
        key: txn.key.clone(),
        archive: archive.to_string_lossy().into_owned(),
        owner: plan.owner,
        files: txn.files.iter().map(Entry::journaled).collect(),
        effects: plan.effects.clone(),
    };
    journal.append(Event::TxnBegun(begun))?;
    result.txn = Some(txn.id.clone());
    result.archive_dir = Some(archive.clone());
    let crash = |step| faults(step).map_err(TxnError::Crashed);
    crash(Step::Begun)?;

    match commit_steps(journal, plan, &txn, &todo, &crash, &mut result) {
        Ok(()) => Ok(result),
        Err(TxnError::Crashed(f)) => Err(TxnError::Crashed(f)),
        Err(e) => {
            // A real error (not a crash): put everything back as it was, best effort.
            // If this fails too, the next run's recover_interrupted finishes the job.
            let known = result.archived.clone();
            if let Err(e2) = roll_back(journal, &txn, None, &known, &format!("commit failed: {e}"), false) {
                tracing::error!(
                    "file transaction {} failed ({e}) and could not be rolled back ({e2}); the next run will recover it",
                    txn.id
                );
            }
            Err(e)
        }
    }
}

/// The transaction's id, entries and temp file names.
fn plan_txn(plan: &Plan, archive: &Path, todo: &[(&FileOp, Option<OnDisk>)]) -> Result<Txn, TxnError> {
    let id = format!("{}@{}", plan.key_name, file_name_of(archive)?);
    let names = unique_names(todo.iter().map(|(op, _)| op.path.as_path()))?;
    let mut files = Vec::new();
    for ((op, old), name) in todo.iter().zip(names) {
        let (sha256, mode, temp) = match &op.action {
            Action::Write { contents, mode } => {
                // A random name, journaled in txn_begun before it is created (O_EXCL).
                let temp = dir_of(&op.path).join(safe_fs::temp_name(file_name_of(&op.path)?.as_ref()));
                (Some(sha256_hex(contents)), Some(mode & 0o7777), Some(temp))
            }
            Action::Remove => (None, None, None),
        };
        files.push(Entry {
            path: op.path.clone(),
            kind: op.kind.clone(),
            sha256,
            mode,
            old_sha256: old.as_ref().map(|o| o.sha256.clone()),
            old_mode: old.as_ref().map(|o| o.mode),
            temp,
            name,
        });
    }
    Ok(Txn { id, key: plan.key_name.clone(), archive: archive.to_path_buf(), files })
}

fn commit_steps(
    journal: &mut Journal,
    plan: &Plan,
    txn: &Txn,
    todo: &[(&FileOp, Option<OnDisk>)],
    crash: &dyn Fn(Step) -> Result<(), TxnError>,
    result: &mut Committed,
) -> Result<(), TxnError> {
    // 3. Temp files, created with their final mode and owner before any byte is written.
    for ((op, _), f) in todo.iter().zip(&txn.files) {
        let (Action::Write { contents, mode }, Some(temp)) = (&op.action, &f.temp) else { continue };
        let mut file = create_new(temp, Trust::for_mode(*mode), *mode, plan.owner)?;
        crash(Step::TempCreated)?;
        file.write_all(contents).map_err(ioe(temp, "write"))?;
        file.sync_all().map_err(ioe(temp, "fsync"))?;
        drop(file);
        crash(Step::TempWritten)?;
    }

    // 4. Archive every file that is about to be replaced or removed.
    let mut archived = Vec::new();
    for ((_, old), f) in todo.iter().zip(&txn.files) {
        if old.is_none() {
            continue;
        }
        let (dest, sha) = archive_file(&f.path, &txn.archive, &f.name)?;
        crash(Step::Archived)?;
        archived.push((f.path.clone(), dest, sha));
    }
    if !archived.is_empty() {
        sync_dirs([txn.archive.as_path()])?;
    }
    for (path, dest, sha256) in archived {
        journal.append(Event::FileArchived {
            txn: txn.id.clone(),
            path: path.to_string_lossy().into_owned(),
            archived_to: dest.to_string_lossy().into_owned(),
            sha256,
        })?;
        crash(Step::ArchiveJournaled)?;
        result.archived.push((path, dest));
    }

    // 5. Replace.
    for f in &txn.files {
        match &f.temp {
            Some(temp) => rename_into_place(temp, &f.path, f.trust())?,
            None => {
                if !remove(&f.path)? {
                    let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
                    return Err(ioe(&f.path, "remove")(gone));
                }
            }
        }
        crash(Step::Replaced)?;
    }
    sync_dirs(txn.files.iter().map(|f| dir_of(&f.path)).chain([txn.archive.as_path()]))?;
    crash(Step::DirsSynced)?;

    // 6. Installed copies, then the events that make the transaction committed.
    finish(journal, txn, None, crash, false, result)
}
