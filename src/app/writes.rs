//! A private key's transaction as it is built (`Install`: the files it
//! writes or removes, the effects it declares, the hooks it announces), and
//! its commit: shared by the installation of new keys and certificates
//! (`install`), their SCTs and OCSP responses (`staple`) and their
//! parameters (`params`).

use super::account::archive_root;
use super::ctx::Ctx;
use super::error::R;
use super::hooks::run_hook;
use super::secrets::KeyWriting;
use crate::cli::WarningCode;
use crate::hooks::Hook;
use crate::journal::Effect;
use crate::txn::{Action, FileOp, Plan};
use crate::types::KeyType;

/// A hook to run after the transaction, with its fields.
pub(super) type HookCall = (Hook, Vec<(&'static str, String)>);

/// What one private key's transaction writes, makes true and announces.
#[derive(Default)]
pub(super) struct Install {
    ops: Vec<(FileOp, Option<KeyType>)>,
    pub(super) effects: Vec<Effect>,
    pub(super) hooks: Vec<HookCall>,
    pub(super) hpkp_files: Vec<String>,
}

impl Install {
    /// A file to write; `kt`: the key type whose key and certificate it holds.
    pub(super) fn write(
        &mut self,
        path: std::path::PathBuf,
        kind: &str,
        kt: Option<KeyType>,
        contents: Vec<u8>,
        mode: u32,
    ) {
        self.ops.push((FileOp { path, kind: kind.into(), action: Action::Write { contents, mode } }, kt));
    }

    /// A file holding a private key, and what the journal says of its encryption.
    pub(super) fn write_key(
        &mut self,
        path: std::path::PathBuf,
        kind: &str,
        kt: KeyType,
        contents: Vec<u8>,
        mode: u32,
        writing: &KeyWriting,
    ) {
        let encryption = writing.encryption().unwrap_or_else(|| "none".into());
        let effect = Effect::KeyFileWritten { path: path.display().to_string(), kind: kind.into(), encryption };
        self.effects.push(effect);
        self.write(path, kind, Some(kt), contents, mode);
    }

    /// A file to remove (archived first, as every replaced file is).
    pub(super) fn remove(&mut self, path: std::path::PathBuf, kind: &str, kt: Option<KeyType>) {
        self.ops.push((FileOp { path, kind: kind.into(), action: Action::Remove }, kt));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.effects.is_empty()
    }

    /// The files in the order they are renamed into place: everything else
    /// first, then per key type its certificate files, the full key and last
    /// the private key, so a key and the certificates for it change within
    /// a few renames of each other (a crash between them is finished by the
    /// next run, or at boot by `--finish-interrupted`).
    pub(super) fn ordered_ops(&mut self) -> Vec<FileOp> {
        let rank = |(op, kt): &(FileOp, Option<KeyType>)| match (op.kind.as_str(), kt) {
            ("certificate", Some(kt)) => (1 + *kt as u8, 0),
            ("chain", Some(kt)) => (1 + *kt as u8, 1),
            ("full_certificate", Some(kt)) => (1 + *kt as u8, 2),
            ("full_key", Some(kt)) => (1 + *kt as u8, 3),
            ("private_key", Some(kt)) => (1 + *kt as u8, 4),
            _ => (0, 0),
        };
        let mut ops = std::mem::take(&mut self.ops);
        ops.sort_by_key(rank);
        ops.into_iter().map(|(op, _)| op).collect()
    }
}

/// Commits the transaction of the key `key_name` (its files, in order, and
/// its effects); returns the hooks to run now that it is done.
pub(super) fn commit_key(ctx: &mut Ctx<'_>, key_name: &str, inst: &mut Install) -> R<Vec<HookCall>> {
    let cfg = ctx.config;
    let owner = cfg.file_owner()?;
    let txn_plan = Plan {
        key_name: key_name.to_string(),
        ops: inst.ordered_ops(),
        owner: Some(owner),
        archive_root: archive_root(cfg)?,
        effects: std::mem::take(&mut inst.effects),
    };
    ctx.commit(&txn_plan)?;
    ctx.report.changed = true;
    prune_archive(ctx, key_name, &txn_plan.archive_root);
    Ok(std::mem::take(&mut inst.hooks))
}

/// Runs the hooks of a committed transaction, in order.
pub(super) fn run_hooks(ctx: &mut Ctx<'_>, hooks: Vec<HookCall>) {
    for (hook, fields) in hooks {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_hook(ctx, hook, &f);
    }
}

/// Old archived generations beyond `archive_keep` go (a warning if that
/// fails: the installation is done).
fn prune_archive(ctx: &mut Ctx<'_>, key: &str, archive_root: &std::path::Path) {
    let Some(keep) = ctx.config.settings.retention.archive_keep else { return };
    let state = ctx.state();
    let mut used: Vec<std::path::PathBuf> = state
        .files
        .values()
        .filter_map(|f| f.installed_copy.as_deref())
        .filter_map(|c| std::path::Path::new(c).parent().and_then(|p| p.parent()).map(|p| p.to_path_buf()))
        .collect();
    used.extend(state.open.values().map(|o| std::path::PathBuf::from(&o.begun.archive)));
    let in_use = |d: &std::path::Path| used.iter().any(|u| u == d);
    match crate::txn::prune_archive(&mut ctx.journal, archive_root, key, keep, &in_use) {
        Ok(deleted) => {
            for d in deleted {
                tracing::debug!("Deleted the old archived generation {}", d.display());
            }
        }
        Err(e) => ctx.report.warn(WarningCode::General, format!("old archived files not deleted: {e}")),
    }
}
