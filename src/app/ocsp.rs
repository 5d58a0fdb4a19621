//! OCSP responses (RFC 6960) for stapling: asked of the certificate's AIA
//! OCSP URL, else of `ocsp_responder_urls` (a certificate with neither, as
//! every Let's Encrypt certificate since 2025, needs nothing and says
//! nothing), **validated** (signed by the issuer or a responder it delegated,
//! for this certificate, current) and kept as DER only when `good`. A kept
//! response is asked again once past half its validity or when the
//! certificate changed. `revoked` is an error naming the certificate.

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::plan::read_optional;
use super::web::{answer_text, CertFiles, Web};
use super::writes::Install;
use crate::cli::WarningCode;
use crate::config::FileKind;
use crate::hooks::Hook;
use crate::journal::Effect;
use crate::ocsp::{CertStatus, Checked};
use crate::time::{self, Time, Timestamp};

/// A response without nextUpdate is asked for again after this long.
const REFRESH_WITHOUT_NEXT_UPDATE: i64 = time::DAY;

/// Adds the certificate's OCSP response to the key's transaction when the
/// one on disk is missing, invalid or past half its validity.
pub fn add_ocsp(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    key_name: &str,
    cert: &CertFiles<'_>,
    fresh: bool,
    asked: bool,
    inst: &mut Install,
) -> R<()> {
    let cfg = ctx.config;
    let kt = cert.key_type;
    let Some(path) = cfg.file_path(FileKind::Ocsp, &cert.spec.name, Some(kt))? else { return Ok(()) };
    let existing = read_optional(&path)?;
    let urls: Vec<String> = if cert.leaf.ocsp_urls.is_empty() {
        cert.spec.ocsp_responder_urls.clone()
    } else {
        cert.leaf.ocsp_urls.clone()
    };
    // The previous certificate's response must not be stapled to the new one.
    let stale = |inst: &mut Install| {
        if fresh && existing.is_some() {
            inst.remove(path.clone(), "ocsp", Some(kt));
        }
    };
    if urls.is_empty() || !asked {
        stale(inst);
        return Ok(());
    }
    let Some(issuer) = cert.chain.first() else {
        ctx.report.warn(
            WarningCode::Ocsp,
            format!("{} has no chain: its issuer is needed to ask for its OCSP response", cert.what()),
        );
        stale(inst);
        return Ok(());
    };
    let now = ctx.now.secs();
    let mut kept_update = None;
    if !fresh {
        if let Some(found) = &existing {
            match crate::ocsp::check_response(&found.bytes, &cert.leaf.der, issuer, now) {
                Ok(c) if c.status == CertStatus::Good && now < refresh_at(&c) => {
                    tracing::debug!(
                        "Have stapled OCSP response for {} updated at {}",
                        cert.what(),
                        time::rfc3339(c.this_update)
                    );
                    return Ok(());
                }
                Ok(c) => {
                    tracing::debug!("The OCSP response for {} is past half its validity", cert.what());
                    kept_update = Some(c.this_update);
                }
                Err(e) => tracing::debug!("The OCSP response {} is to be replaced: {e}", path.display()),
            }
        }
    }
    let request = match crate::ocsp::request_der(&cert.leaf.der, issuer) {
        Ok(r) => r,
        Err(e) => {
            ctx.report.warn(WarningCode::Ocsp, format!("no OCSP request for {}: {e}", cert.what()));
            stale(inst);
            return Ok(());
        }
    };
    for url in &urls {
        let Some((checked, der)) = fetch(ctx, web, cert, url, &request, issuer) else { continue };
        let updated = time::rfc3339(checked.this_update);
        match &checked.status {
            CertStatus::Good if kept_update == Some(checked.this_update) => {
                // As the original: the responder has nothing newer.
                tracing::debug!("OCSP response for {} from {url} has not been updated", cert.what());
                return Ok(());
            }
            CertStatus::Good => {
                tracing::info!("Saving OCSP response for {} from {url}", cert.what());
                inst.write(path.clone(), "ocsp", Some(kt), der, 0o644);
                inst.effects.push(Effect::OcspStored {
                    cert: cert.spec.name.clone(),
                    key_type: kt,
                    serial: cert.leaf.serial_hex.clone(),
                    status: "good".into(),
                    this_update: Time::from_secs(checked.this_update),
                    next_update: checked.next_update.map(Time::from_secs),
                    produced_at: Time::from_secs(checked.produced_at),
                });
                let fields = vec![
                    ("key_name", key_name.to_string()),
                    ("key_type", kt.to_string()),
                    ("certificate_name", cert.spec.name.clone()),
                    ("ocsp_file", path.display().to_string()),
                ];
                inst.hooks.push((Hook::OcspInstalled, fields));
                return Ok(());
            }
            CertStatus::Revoked { at, reason } => {
                let reason = reason.as_deref().map(|r| format!(", reason {r}")).unwrap_or_default();
                let detail = format!(
                    "is revoked (since {}{reason}), says the OCSP responder {url} (response of {updated}); \
                     renew it with --force",
                    time::rfc3339(*at)
                );
                ctx.report.error(AppError::Revoked { what: cert.what(), detail });
                stale(inst);
                return Ok(());
            }
            CertStatus::Unknown => ctx.report.warn(
                WarningCode::Ocsp,
                format!("{} has OCSP status \"UNKNOWN\" from {url} updated at {updated}", cert.what()),
            ),
        }
    }
    stale(inst);
    Ok(())
}

/// When a good response is asked for again: half-way between thisUpdate and
/// nextUpdate (a day after thisUpdate without nextUpdate).
fn refresh_at(c: &Checked) -> Timestamp {
    match c.next_update {
        Some(next) => c.this_update + (next - c.this_update) / 2,
        None => c.this_update + REFRESH_WITHOUT_NEXT_UPDATE,
    }
}

/// Asks one responder; the validated answer, otherwise a warning naming it.
fn fetch(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    cert: &CertFiles<'_>,
    url: &str,
    request: &[u8],
    issuer: &[u8],
) -> Option<(Checked, Vec<u8>)> {
    let warn = |ctx: &mut Ctx<'_>, why: String| {
        ctx.report
            .warn(WarningCode::Ocsp, format!("Unable to retrieve OCSP response from {url} for {}: {why}", cert.what()));
    };
    let answer = match web.post(ctx.config, url, "application/ocsp-request", "application/ocsp-response", request) {
        Ok(a) => a,
        Err(e) => {
            warn(ctx, crate::text::printable(&e, crate::text::DETAIL));
            return None;
        }
    };
    if answer.status != 200 {
        warn(ctx, format!("HTTP error {}{}", answer.status, answer_text(&answer)));
        return None;
    }
    match crate::ocsp::check_response(&answer.body, &cert.leaf.der, issuer, ctx.now.secs()) {
        Ok(checked) => {
            tracing::debug!(
                "Retrieved OCSP status \"{}\" for {} from {url} updated at {}",
                status_word(&checked.status),
                cert.what(),
                time::rfc3339(checked.this_update)
            );
            Some((checked, answer.body))
        }
        Err(e) => {
            warn(ctx, format!("the response is rejected: {e}"));
            None
        }
    }
}

fn status_word(s: &CertStatus) -> &'static str {
    match s {
        CertStatus::Good => "GOOD",
        CertStatus::Revoked { .. } => "REVOKED",
        CertStatus::Unknown => "UNKNOWN",
    }
}
