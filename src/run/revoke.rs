//! `--revoke`: every certificate of the named private keys is revoked, its
//! files and the primary key move to the archive (one transaction per key),
//! and the next run rolls the key over to its backup.

use super::*;
use crate::cli::REVOCATION_REASONS;

pub(super) fn revoke(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec]) {
    if ctx.args.private_key_names.is_empty() {
        return ctx.outcome.error(Failure::new(
            ErrorCode::Fatal,
            "revocation must explicitly name the private keys to revoke (acmebot --revoke <key name> ...)",
        ));
    }
    let reason_name = ctx.args.revoke_reason.clone().unwrap_or_else(|| "unspecified".into());
    let Some(&(_, reason)) = REVOCATION_REASONS.iter().find(|(n, _)| *n == reason_name) else {
        let allowed: Vec<&str> = REVOCATION_REASONS.iter().map(|(n, _)| *n).collect();
        return ctx.outcome.error(Failure::new(
            ErrorCode::Config,
            format!("--revoke-reason {reason_name:?} is not allowed; use one of {}", allowed.join(", ")),
        ));
    };
    if let Err(f) = archive_root(ctx.config) {
        return ctx.outcome.error(f);
    }
    let result = with_acme(ctx, false, |ctx, client| {
        for spec in selected {
            if let Err(f) = revoke_key(ctx, client, spec, reason, &reason_name) {
                ctx.outcome.error(f.with_context(&spec.name));
            }
        }
        Ok(())
    });
    if let Err(f) = result {
        ctx.outcome.error(f);
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
    let cfg_err = |e: crate::config::ConfigError| Failure::new(ErrorCode::Config, e.to_string());
    let mut ops = Vec::new();
    let mut revoked_types = BTreeSet::new();
    let mut found_any = false;
    for cert in &spec.certificates {
        for &kt in &cert.key_types {
            let Some(path) = cfg.file_path(FileKind::Certificate, &cert.name, Some(kt)).map_err(cfg_err)? else {
                continue;
            };
            let Some(found) = read_optional(&path)? else {
                ctx.outcome.error(Failure::new(
                    ErrorCode::Config,
                    format!("{} certificate {} not found ({})", kt.as_str().to_uppercase(), cert.name, path.display()),
                ));
                continue;
            };
            found_any = true;
            let ders = crypto::pem_to_ders(&found.bytes)
                .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", path.display())))?;
            let info = crypto::parse_cert(&ders[0])
                .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", path.display())))?;
            match client.revoke(&ders[0], reason) {
                Ok(()) => {
                    tracing::info!(
                        "{} certificate {} revoked (serial {}, reason {reason_name})",
                        kt.as_str().to_uppercase(),
                        cert.name,
                        info.serial_hex
                    );
                    ctx.record(Event::CertificateRevoked {
                        cert: cert.name.clone(),
                        key: spec.name.clone(),
                        key_type: kt,
                        serial: info.serial_hex.clone(),
                        reason: reason_name.into(),
                    })?;
                    revoked_types.insert(kt);
                    for kind in [FileKind::Certificate, FileKind::Chain, FileKind::FullKey, FileKind::FullCertificate] {
                        if let Some(p) = cfg.file_path(kind, &cert.name, Some(kt)).map_err(cfg_err)? {
                            ops.push(FileOp { path: p, kind: kind.key().into(), action: Action::Remove });
                        }
                    }
                }
                Err(e) => ctx.outcome.error(Failure::new(
                    ErrorCode::Acme,
                    format!("unable to revoke {} certificate {}: {e}", kt.as_str().to_uppercase(), cert.name),
                )),
            }
        }
    }
    if !found_any {
        return Ok(());
    }
    let mut archived_keys = Vec::new();
    for &kt in &revoked_types {
        if let Some(p) = cfg.file_path(FileKind::PrivateKey, &spec.name, Some(kt)).map_err(cfg_err)? {
            if let Some(k) = ctx.state.key(&spec.name, kt, KeyRole::Primary) {
                archived_keys.push((kt, k.spki_sha256.clone()));
            }
            ops.push(FileOp { path: p, kind: "private_key".into(), action: Action::Remove });
        }
    }
    ops.dedup_by(|a, b| a.path == b.path);
    if ops.is_empty() {
        return Ok(());
    }
    let plan = Plan { key_name: spec.name.clone(), ops, owner: None, archive_root: archive_root(cfg)? };
    let committed = commit(ctx, &plan)?;
    for (kt, spki) in archived_keys {
        ctx.record(Event::KeyArchived {
            key: spec.name.clone(),
            key_type: kt,
            role: KeyRole::Primary,
            spki_sha256: spki,
            reason: "revoked".into(),
        })?;
    }
    if let Some(dir) = committed.archive_dir {
        tracing::info!("Moved the certificates and primary key of {} to {}", spec.name, dir.display());
    }
    remove_tlsa(ctx, spec);
    ctx.outcome.changed = true;
    Ok(())
}
