//! ARI, ACME Renewal Information (RFC 9773): the CA suggests a renewal window
//! per certificate; acmebot renews at a random time inside it and sends
//! `replaces` in the new order. Windows and the server's Retry-After are
//! journaled, so cron runs do not ask again before the server wants them to.

use super::ctx::Ctx;
use super::error::R;
use super::plan::{CertWork, KeyPlan};
use crate::acme::AcmeClient;
use crate::cli::WarningCode;
use crate::config::{CertificateSpec, FileKind};
use crate::crypto;
use crate::journal::{cert_id, Event, State};
use crate::renew::Reason;
use crate::time::{Time, Timestamp, DAY};
use crate::types::KeyType;

/// Retry-After bounds (RFC 9773 §4.3.2 leaves the policy to the client).
const MIN_RECHECK: i64 = 0;
const MAX_RECHECK: i64 = 7 * DAY;
const DEFAULT_RECHECK: i64 = 6 * 3600;

/// From the journal alone: has the chosen time inside the window passed?
pub fn ari_reason(state: &State, now: Time, cert: &str, kt: KeyType, serial: &str) -> Option<Reason> {
    let a = state.renewal_info.get(&cert_id(cert, kt))?;
    if a.serial != serial {
        return None;
    }
    (now >= a.renew_at)
        .then(|| Reason::RenewalWindow { start: a.window_start.to_string(), end: a.window_end.to_string() })
}

/// The ARI identifier of the installed certificate, to send as `replaces`.
pub fn replaces_id(state: &State, cert: &str, kt: KeyType) -> Option<String> {
    let installed = state.certificate(cert, kt)?;
    let a = state.renewal_info.get(&cert_id(cert, kt))?;
    (a.serial == installed.serial).then(|| a.cert_id.clone())
}

/// A certificate whose renewal window is to be asked for: (plan index, certificate, key type).
pub type Due = (usize, CertificateSpec, KeyType);

/// Installed certificates whose renewal window is due to be asked for
/// (before issuing: those not being renewed anyway; after: all of them).
pub fn ari_due(ctx: &Ctx<'_>, plans: &[KeyPlan<'_>], after_install: bool) -> Vec<Due> {
    let state = ctx.state();
    if state.ari_unsupported.contains(&ctx.config.settings.acme_directory_url) {
        return Vec::new();
    }
    let mut due = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        for cert in &plan.spec.certificates {
            for &kt in &cert.key_types {
                if !after_install && plan.work.iter().any(|w| w.cert.name == cert.name && w.key_type == kt) {
                    continue;
                }
                let Some(installed) = state.certificate(&cert.name, kt) else { continue };
                let fresh = state
                    .renewal_info
                    .get(&cert_id(&cert.name, kt))
                    .filter(|a| a.serial == installed.serial)
                    .is_some_and(|a| a.next_check > ctx.now);
                if !fresh {
                    due.push((i, cert.clone(), kt));
                }
            }
        }
    }
    due
}

/// A uniformly random instant in [start, end] (RFC 9773 §4.2).
fn random_between(start: Timestamp, end: Timestamp) -> Timestamp {
    if end <= start {
        return start;
    }
    let mut b = [0u8; 8];
    let _ = crate::platform::random_fill(&mut b);
    start + (u64::from_le_bytes(b) % ((end - start) as u64 + 1)) as i64
}

/// Asks the CA for the windows that are due; certificates whose chosen time
/// has come get work (with `replaces`). Failures to ask are warnings: the
/// fallback renewal rule still applies. A window that cannot be journaled is
/// an error.
pub fn check_ari(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, plans: &mut [KeyPlan<'_>], due: &[Due]) -> R<()> {
    if due.is_empty() {
        return Ok(());
    }
    // ACME v1 has no ARI either: its directory maps to one without renewalInfo.
    if client.directory.renewal_info.is_none() {
        let directory_url = ctx.config.settings.acme_directory_url.clone();
        ctx.record(Event::RenewalInfoUnsupported { directory_url })?;
        return Ok(());
    }
    for (i, cert, kt) in due {
        if let Some(work) = check_one(ctx, client, cert, *kt)? {
            plans[*i].work.push(work);
        }
    }
    Ok(())
}

fn check_one(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, cert: &CertificateSpec, kt: KeyType) -> R<Option<CertWork>> {
    let Ok(Some(path)) = ctx.config.file_path(FileKind::Certificate, &cert.name, Some(kt)) else { return Ok(None) };
    let parsed = std::fs::read(&path)
        .ok()
        .and_then(|pem| crypto::pem_to_ders(&pem).ok())
        .and_then(|d| d.first().and_then(|c| crypto::parse_cert(c).ok()));
    let Some(info) = parsed else { return Ok(None) };
    let Some(id) = info.ari_cert_id.clone() else {
        tracing::debug!("certificate {} has no authority key identifier: no ARI", cert.name);
        return Ok(None);
    };
    let what = format!("{} certificate {}", kt.as_str().to_uppercase(), cert.name);
    let (ri, retry) = match client.renewal_info(&id) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => {
            ctx.report.warn(WarningCode::General, format!("renewal information for {what}: {e}"));
            return Ok(None);
        }
    };
    let (Some(start), Some(end)) = (Time::parse(&ri.suggested_window.start), Time::parse(&ri.suggested_window.end))
    else {
        let message = format!("renewal information for {}: unreadable window {:?}", cert.name, ri.suggested_window);
        ctx.report.warn(WarningCode::General, message);
        return Ok(None);
    };
    let (start, end) = (Time::from_secs(start.secs()), Time::from_secs(end.secs()));
    // Keep the time chosen earlier while the window stays the same.
    let previous = ctx.state().renewal_info.get(&cert_id(&cert.name, kt)).cloned();
    let renew_at = match previous {
        Some(p) if p.serial == info.serial_hex && p.window_start == start && p.window_end == end => p.renew_at,
        _ => Time::from_secs(random_between(start.secs(), end.secs())),
    };
    let recheck = retry.map(|s| s as i64).unwrap_or(DEFAULT_RECHECK).clamp(MIN_RECHECK, MAX_RECHECK);
    ctx.record(Event::RenewalInfoFetched {
        cert: cert.name.clone(),
        key_type: kt,
        serial: info.serial_hex.clone(),
        cert_id: id.clone(),
        window_start: start,
        window_end: end,
        renew_at,
        next_check: Time::from_secs(ctx.now.secs() + recheck),
        explanation_url: ri.explanation_url.clone(),
    })?;
    let (start_s, end_s) = (start.to_string(), end.to_string());
    if ctx.now >= renew_at {
        let reason = Reason::RenewalWindow { start: start_s, end: end_s };
        return Ok(Some(CertWork { cert: cert.clone(), key_type: kt, reason, replaces: Some(id) }));
    }
    tracing::debug!("{what}: renewal window {start_s} .. {end_s}, renewing at {renew_at}");
    Ok(None)
}
