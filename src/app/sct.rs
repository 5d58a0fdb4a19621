//! Signed certificate timestamps (RFC 6962): each certificate is submitted
//! (`add-chain`) to the CT logs of its `ct_submit_logs`, at the log's shard
//! for the certificate's notAfter; the answer is checked (the log's ID, and
//! the signature with the log's key over the RFC 6962 §3.2 structure) and
//! kept as the TLS-encoded `SignedCertificateTimestamp`, the original's
//! `.sct` file. A log's failure is a warning naming it (code 106), never the
//! run's.

use base64::Engine;

use super::ctx::Ctx;
use super::error::R;
use super::plan::read_optional;
use super::web::{answer_text, CertFiles, Web, Which};
use super::writes::Install;
use crate::cli::WarningCode;
use crate::config::{CtLogShard, FileKind};
use crate::ct::Sct;
use crate::hooks::Hook;
use crate::journal::{cert_id, Effect};
use crate::time::{self, Time};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Adds the `.sct` files the certificate lacks to the key's transaction.
pub fn add_scts(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    key_name: &str,
    cert: &CertFiles<'_>,
    fresh: bool,
    which: Which,
    inst: &mut Install,
) -> R<()> {
    let cfg = ctx.config;
    let kt = cert.key_type;
    for log_name in &cert.spec.ct_submit_logs {
        let path = cfg.file_path_with(FileKind::Sct, &cert.spec.name, Some(kt), &[("ct_log_name", log_name)])?;
        let Some(path) = path else { return Ok(()) };
        let existing = read_optional(&path)?;
        if !which.sct {
            if fresh && existing.is_some() {
                inst.remove(path, "sct", Some(kt));
            }
            continue;
        }
        // Names are checked against `ct_logs` when the configuration loads.
        let Some(log) = cfg.ct_logs.get(log_name) else { continue };
        let Some(shard) = log.shard_for(cert.leaf.not_after) else {
            let message = format!(
                "CT log {log_name} has no shard for certificates expiring {}: update the CT log list \
                 (settings.ct_log_list) or configure a new shard in ct_logs",
                time::rfc3339(cert.leaf.not_after)
            );
            // Said when the certificate is new and when asked (`--sct`);
            // a daily run that changes nothing stays quiet about it.
            if fresh || which.explicit {
                ctx.report.warn(WarningCode::Sct, message);
            } else {
                tracing::debug!("{message}");
            }
            if fresh && existing.is_some() {
                inst.remove(path, "sct", Some(kt));
            }
            continue;
        };
        let key = match shard.key.as_deref().map(|k| B64.decode(k)) {
            Some(Ok(k)) => Some(k),
            _ => None,
        };
        if !fresh {
            if let Some(found) = &existing {
                match valid_on_disk(ctx, cert, log_name, shard, key.as_deref(), &found.bytes) {
                    Ok(()) => continue,
                    Err(why) => tracing::debug!("SCT {} is to be replaced: {why}", path.display()),
                }
            }
        }
        match fetch(ctx, web, cert, log_name, shard, key.as_deref()) {
            Some(sct) => {
                tracing::debug!(
                    "{log_name} has SCT for {} at {}",
                    cert.what(),
                    time::rfc3339((sct.timestamp / 1000) as i64)
                );
                tracing::info!("Saving Signed Certificate Timestamp for {} from {log_name}", cert.what());
                inst.write(path.clone(), "sct", Some(kt), sct.to_tls(), 0o644);
                inst.effects.push(Effect::SctStored {
                    cert: cert.spec.name.clone(),
                    key_type: kt,
                    serial: cert.leaf.serial_hex.clone(),
                    log: log_name.clone(),
                    log_id: shard.log_id.clone(),
                    timestamp: Time::from_micros((sct.timestamp as i64).saturating_mul(1000)),
                });
                let fields = vec![
                    ("key_name", key_name.to_string()),
                    ("key_type", kt.to_string()),
                    ("certificate_name", cert.spec.name.clone()),
                    ("ct_log_name", log_name.clone()),
                    ("sct_file", path.display().to_string()),
                ];
                inst.hooks.push((Hook::SctInstalled, fields));
            }
            // The previous certificate's SCT would be wrong beside the new one.
            None if fresh && existing.is_some() => inst.remove(path, "sct", Some(kt)),
            None => {}
        }
    }
    Ok(())
}

/// Whether the `.sct` file on disk is this log's SCT for this certificate:
/// its signature verifies with the log's key; for a log configured without a
/// key, the journal says it was stored for this certificate.
fn valid_on_disk(
    ctx: &Ctx<'_>,
    cert: &CertFiles<'_>,
    log_name: &str,
    shard: &CtLogShard,
    key: Option<&[u8]>,
    bytes: &[u8],
) -> Result<(), String> {
    let sct = Sct::from_tls(bytes).map_err(|e| e.to_string())?;
    if B64.encode(sct.log_id) != shard.log_id {
        return Err(format!("it is not from {log_name}'s shard for this certificate"));
    }
    match key {
        Some(key) => sct.verify(key, &cert.leaf.der).map_err(|e| e.to_string()),
        None => {
            let id = format!("{}/{log_name}", cert_id(&cert.spec.name, cert.key_type));
            match ctx.state().scts.get(&id) {
                Some(s) if s.serial == cert.leaf.serial_hex => Ok(()),
                _ => Err("the journal stored no SCT of this log for this certificate".into()),
            }
        }
    }
}

/// Submits the certificate and its chain to the shard; the SCT when the log
/// gave a valid one, otherwise a warning naming the log.
fn fetch(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    cert: &CertFiles<'_>,
    log_name: &str,
    shard: &CtLogShard,
    key: Option<&[u8]>,
) -> Option<Sct> {
    let url = format!("{}/ct/v1/add-chain", shard.url.trim_end_matches('/'));
    let body = crate::ct::add_chain_body(&cert.leaf.der, &cert.chain);
    let warn = |ctx: &mut Ctx<'_>, why: String| {
        ctx.report.warn(WarningCode::Sct, format!("Unable to retrieve SCT from log {log_name} ({url}): {why}"));
    };
    let answer = match web.post(ctx.config, &url, "application/json", "application/json", &body) {
        Ok(a) => a,
        Err(e) => {
            warn(ctx, crate::text::printable(&e, crate::text::DETAIL));
            return None;
        }
    };
    if answer.status != 200 {
        let why = match answer.status {
            410 => " (the shard is retired: update the CT log list)",
            _ => "",
        };
        warn(ctx, format!("HTTP error {}{why}{}", answer.status, answer_text(&answer)));
        return None;
    }
    let sct = match crate::ct::parse_add_chain_response(&answer.body) {
        Ok(s) => s,
        Err(e) => {
            warn(ctx, e.to_string());
            return None;
        }
    };
    if B64.encode(sct.log_id) != shard.log_id {
        warn(ctx, format!("the SCT is signed by log ID {}, not this log's {}", B64.encode(sct.log_id), shard.log_id));
        return None;
    }
    match key {
        Some(key) => {
            if let Err(e) = sct.verify(key, &cert.leaf.der) {
                warn(ctx, format!("the SCT is rejected: {e}"));
                return None;
            }
        }
        None => ctx.report.warn(
            WarningCode::Sct,
            format!(
                "CT log {log_name} is configured without its \"key\": its SCT for {} is kept unverified",
                cert.what()
            ),
        ),
    }
    Some(sct)
}
