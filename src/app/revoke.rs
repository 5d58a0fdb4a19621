//! `--revoke`: every certificate of the named private keys is revoked, its
//! files and the primary key move to the archive (one transaction per key),
//! and the next run rolls the key over to its backup.

use std::collections::BTreeSet;

use super::account::{archive_root, with_acme};
use super::ctx::Ctx;
use super::error::{AppError, R};
use super::plan::read_optional;
use super::tlsa::remove_tlsa;
use crate::acme::AcmeClient;
use crate::cli::REVOCATION_REASONS;
use crate::config::{FileKind, PrivateKeySpec};
use crate::crypto;
use crate::journal::{Effect, Event, KeyArchived};
use crate::txn::{Action, FileOp, Plan};
use crate::types::{KeyRole, KeyType};

pub fn revoke(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec]) {
    if ctx.opts.key_names.is_empty() {
        let message = "revocation must explicitly name the private keys to revoke (acmebot --revoke <key name> ...)";
        return ctx.report.error(AppError::Usage(message.into()));
    }
    let reason_name = ctx.opts.revoke_reason.clone().unwrap_or_else(|| "unspecified".into());
    let Some(&(_, reason)) = REVOCATION_REASONS.iter().find(|(n, _)| *n == reason_name) else {
        let allowed: Vec<&str> = REVOCATION_REASONS.iter().map(|(n, _)| *n).collect();
        let detail = format!("{reason_name:?} is not allowed; use one of {}", allowed.join(", "));
        return ctx.report.error(AppError::setting("--revoke-reason", detail));
    };
    if let Err(e) = archive_root(ctx.config) {
        return ctx.report.error(e);
    }
    let result = with_acme(ctx, false, |ctx, client| {
        for spec in selected {
            if let Err(e) = revoke_key(ctx, client, spec, reason, &reason_name) {
                ctx.report.error(e.about(format!("private key {}", spec.name)));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        ctx.report.error(e);
    }
}

fn revoke_key(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    spec: &PrivateKeySpec,
    reason: u8,
    reason_name: &str,
) -> R<()> {
    let cfg = ctx.config;
    let mut ops = Vec::new();
    let mut revoked_types = BTreeSet::new();
    let mut found_any = false;
    for cert in &spec.certificates {
        for &kt in &cert.key_types {
            let what = format!("{} certificate {}", kt.as_str().to_uppercase(), cert.name);
            let Some(path) = cfg.file_path(FileKind::Certificate, &cert.name, Some(kt))? else { continue };
            let Some(found) = read_optional(&path)? else {
                ctx.report.error(AppError::setting(what, format!("not found ({})", path.display())));
                continue;
            };
            found_any = true;
            let ders = crypto::pem_to_ders(&found.bytes).map_err(AppError::key(&path))?;
            let der = ders
                .first()
                .ok_or_else(|| AppError::KeyMismatch { path: path.clone(), detail: "holds no certificate".into() })?;
            let info = crypto::parse_cert(der).map_err(AppError::key(&path))?;
            if let Err(e) = client.revoke(der, reason) {
                ctx.report.error(AppError::Issue { what: format!("unable to revoke {what}"), detail: e.to_string() });
                continue;
            }
            tracing::info!("{what} revoked");
            tracing::debug!("{what}: serial {}, reason {reason_name}", info.serial_hex);
            ctx.record(Event::CertificateRevoked {
                cert: cert.name.clone(),
                key: spec.name.clone(),
                key_type: kt,
                serial: info.serial_hex.clone(),
                reason: reason_name.into(),
            })?;
            revoked_types.insert(kt);
            for kind in [FileKind::Certificate, FileKind::Chain, FileKind::FullKey, FileKind::FullCertificate] {
                if let Some(p) = cfg.file_path(kind, &cert.name, Some(kt))? {
                    ops.push(FileOp { path: p, kind: kind.key().into(), action: Action::Remove });
                }
            }
        }
    }
    if !found_any {
        return Ok(());
    }
    let effects = archive_primary_keys(ctx, spec, &revoked_types, &mut ops)?;
    ops.dedup_by(|a, b| a.path == b.path);
    if ops.is_empty() {
        return Ok(());
    }
    let plan = Plan { key_name: spec.name.clone(), ops, owner: None, archive_root: archive_root(cfg)?, effects };
    let committed = ctx.commit(&plan)?;
    if let Some(dir) = committed.archive_dir {
        tracing::info!("Moved the certificates and primary key of {} to {}", spec.name, dir.display());
    }
    remove_tlsa(ctx, spec);
    ctx.report.changed = true;
    Ok(())
}

/// The primary and previous keys of the revoked key types leave service with
/// their certificates, and the HPKP files once every key type is revoked.
fn archive_primary_keys(
    ctx: &Ctx<'_>,
    spec: &PrivateKeySpec,
    revoked_types: &BTreeSet<KeyType>,
    ops: &mut Vec<FileOp>,
) -> R<Vec<Effect>> {
    let mut effects = Vec::new();
    for &kt in revoked_types {
        let Some(p) = ctx.config.file_path(FileKind::PrivateKey, &spec.name, Some(kt))? else { continue };
        if let Some(k) = ctx.state().key(&spec.name, kt, KeyRole::Primary) {
            effects.push(Effect::KeyArchived(KeyArchived {
                key: spec.name.clone(),
                key_type: kt,
                role: KeyRole::Primary,
                spki_sha256: k.spki_sha256.clone(),
                reason: "revoked".into(),
            }));
        }
        ops.push(FileOp { path: p, kind: "private_key".into(), action: Action::Remove });
        // The previous key goes with it, as in the original.
        if let Some(p) = ctx.config.file_path(FileKind::PreviousKey, &spec.name, Some(kt))? {
            ops.push(FileOp { path: p, kind: "previous_key".into(), action: Action::Remove });
        }
    }
    // Every key type revoked: the HPKP header files pinning them go to the
    // archive too (the next run writes them anew for the new keys).
    if spec.key_types.iter().all(|kt| revoked_types.contains(kt)) {
        for (server, _) in &ctx.config.hpkp_headers {
            let fields = [("server", server.as_str())];
            if let Some(p) = ctx.config.file_path_with(FileKind::Hpkp, &spec.name, None, &fields)? {
                ops.push(FileOp { path: p, kind: "hpkp".into(), action: Action::Remove });
            }
        }
    }
    Ok(effects)
}
