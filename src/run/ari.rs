//! ARI, ACME Renewal Information (RFC 9773): the CA suggests a renewal window
//! per certificate; acmebot renews at a random time inside it and sends
//! `replaces` in the new order. Windows and the server's Retry-After are
//! journaled, so cron runs do not ask again before the server wants them to.

use super::*;

/// Retry-After bounds (RFC 9773 §4.3.2 leaves the policy to the client).
const MIN_RECHECK: i64 = 0;
const MAX_RECHECK: i64 = 7 * crate::time::DAY;
const DEFAULT_RECHECK: i64 = 6 * 3600;

/// From the journal alone: has the chosen time inside the window passed?
pub(super) fn ari_reason(ctx: &Ctx<'_>, cert: &str, kt: KeyType, serial: &str) -> Option<Reason> {
    let a = ctx.state.renewal_info.get(&crate::state::cert_id(cert, kt))?;
    if a.serial != serial {
        return None;
    }
    let renew_at = crate::time::parse_rfc3339(&a.renew_at)?;
    (ctx.now >= renew_at).then(|| Reason::RenewalWindow { start: a.window_start.clone(), end: a.window_end.clone() })
}

/// The ARI identifier of the installed certificate, to send as `replaces`.
pub(super) fn replaces_id(ctx: &Ctx<'_>, cert: &str, kt: KeyType) -> Option<String> {
    let installed = ctx.state.certificate(cert, kt)?;
    let a = ctx.state.renewal_info.get(&crate::state::cert_id(cert, kt))?;
    (a.serial == installed.serial).then(|| a.cert_id.clone())
}

/// Installed certificates whose renewal window is due to be asked for
/// (before issuing: those not being renewed anyway; after: all of them).
pub(super) fn ari_due(
    ctx: &Ctx<'_>,
    plans: &[KeyPlan<'_>],
    after_install: bool,
) -> Vec<(usize, CertificateSpec, KeyType)> {
    if ctx.state.ari_unsupported.contains(&ctx.config.settings.acme_directory_url) {
        return Vec::new();
    }
    let mut due = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        for cert in &plan.spec.certificates {
            for &kt in &cert.key_types {
                if !after_install && plan.work.iter().any(|w| w.cert.name == cert.name && w.key_type == kt) {
                    continue;
                }
                let Some(installed) = ctx.state.certificate(&cert.name, kt) else { continue };
                let fresh = ctx
                    .state
                    .renewal_info
                    .get(&crate::state::cert_id(&cert.name, kt))
                    .filter(|a| a.serial == installed.serial)
                    .and_then(|a| crate::time::parse_rfc3339(&a.next_check))
                    .map(|next| next > ctx.now)
                    .unwrap_or(false);
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
    let _ = aws_lc_rs::rand::fill(&mut b);
    start + (u64::from_le_bytes(b) % ((end - start) as u64 + 1)) as i64
}

/// Asks the CA for the windows that are due; certificates whose chosen time
/// has come get work (with `replaces`). Failures are warnings: the fallback
/// renewal rule still applies.
pub(super) fn check_ari(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    plans: &mut [KeyPlan<'_>],
    due: &[(usize, CertificateSpec, KeyType)],
) {
    if due.is_empty() {
        return;
    }
    if client.directory.renewal_info.is_none() {
        let _ =
            ctx.record(Event::RenewalInfoUnsupported { directory_url: ctx.config.settings.acme_directory_url.clone() });
        return;
    }
    for (i, cert, kt) in due {
        let Ok(Some(path)) = ctx.config.file_path(FileKind::Certificate, &cert.name, Some(*kt)) else { continue };
        let info = match std::fs::read(&path)
            .ok()
            .and_then(|pem| crypto::pem_to_ders(&pem).ok())
            .and_then(|d| d.first().and_then(|c| crypto::parse_cert(c).ok()))
        {
            Some(i) => i,
            None => continue,
        };
        let Some(id) = info.ari_cert_id.clone() else {
            tracing::debug!("certificate {} has no authority key identifier: no ARI", cert.name);
            continue;
        };
        let (ri, retry) = match client.renewal_info(&id) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                ctx.outcome.warn(
                    WarningCode::General,
                    format!("renewal information for {} certificate {}: {e}", kt.as_str().to_uppercase(), cert.name),
                );
                continue;
            }
        };
        let (Some(start), Some(end)) = (
            crate::time::parse_rfc3339(&ri.suggested_window.start),
            crate::time::parse_rfc3339(&ri.suggested_window.end),
        ) else {
            ctx.outcome.warn(
                WarningCode::General,
                format!("renewal information for {}: unreadable window {:?}", cert.name, ri.suggested_window),
            );
            continue;
        };
        let (window_start, window_end) = (rfc3339(start), rfc3339(end));
        // Keep the time chosen earlier while the window stays the same.
        let previous = ctx.state.renewal_info.get(&crate::state::cert_id(&cert.name, *kt)).cloned();
        let renew_at = match previous {
            Some(p) if p.serial == info.serial_hex && p.window_start == window_start && p.window_end == window_end => {
                p.renew_at
            }
            _ => rfc3339(random_between(start, end)),
        };
        let recheck = retry.map(|s| s as i64).unwrap_or(DEFAULT_RECHECK).clamp(MIN_RECHECK, MAX_RECHECK);
        let _ = ctx.record(Event::RenewalInfoFetched {
            cert: cert.name.clone(),
            key_type: *kt,
            serial: info.serial_hex.clone(),
            cert_id: id.clone(),
            window_start: window_start.clone(),
            window_end: window_end.clone(),
            renew_at: renew_at.clone(),
            next_check: rfc3339(ctx.now + recheck),
            explanation_url: ri.explanation_url.clone(),
        });
        if crate::time::parse_rfc3339(&renew_at).map(|t| ctx.now >= t).unwrap_or(false) {
            plans[*i].work.push(CertWork {
                cert: cert.clone(),
                key_type: *kt,
                reason: Reason::RenewalWindow { start: window_start, end: window_end },
                replaces: Some(id),
            });
        } else {
            tracing::debug!(
                "{} certificate {}: renewal window {window_start} .. {window_end}, renewing at {renew_at}",
                kt.as_str().to_uppercase(),
                cert.name
            );
        }
    }
}
