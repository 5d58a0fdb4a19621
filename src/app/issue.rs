//! Issuing: orders for every needed certificate, authorizations answered
//! together while the missing keys are generated, the new keys journaled,
//! then the orders finalized in parallel and every certificate journaled as
//! issued.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::authz::authorize;
use super::ctx::Ctx;
use super::error::{AppError, R};
use super::keys::{apply_generated, generate, key_todo};
use super::plan::{CertWork, KeyPlan};
use crate::acme::{AcmeClient, AcmeError, Order, Status};
use crate::config::CertificateSpec;
use crate::crypto::{self, CertInfo, PrivateKey};
use crate::journal::{CertFacts, Event};
use crate::time::Time;
use crate::types::{sha256_hex, KeyRole, KeyType};

/// Orders finalized and downloaded at the same time.
const MAX_PARALLEL_ORDERS: usize = 8;

/// A certificate the CA issued.
pub struct Issued {
    pub cert: CertificateSpec,
    pub key_type: KeyType,
    pub leaf: CertInfo,
    pub chain: Vec<Vec<u8>>,
    pub order_url: String,
}

/// An order of one piece of work: (plan index, work index, order URL, order).
type Ordered = (usize, usize, String, Order);

/// Orders, authorizes and finalizes every needed certificate: all orders are
/// created first, then every pending authorization is answered together,
/// while the missing keys are generated in the background; then the orders
/// are finalized in parallel. Returns what was issued per key name.
pub fn issue_all(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    plans: &mut [KeyPlan<'_>],
) -> R<BTreeMap<String, Vec<Issued>>> {
    let todo = key_todo(&ctx.passphrases, plans)?;
    let (ordered, mut failed_keys, failed_names, generated) = std::thread::scope(|s| {
        let todo = &todo;
        let keygen = s.spawn(move || generate(todo));
        let (ordered, failed_keys) = create_orders(ctx, client, plans);
        // Authorizations: every distinct pending one, answered together.
        let mut authz_urls: Vec<String> = Vec::new();
        for (_, _, _, order) in ordered.iter().filter(|o| o.3.status == Status::Pending) {
            for u in &order.authorizations {
                if !authz_urls.contains(u) {
                    authz_urls.push(u.clone());
                }
            }
        }
        let failed_names = authorize(ctx, client, &authz_urls);
        (ordered, failed_keys, failed_names, keygen.join().expect("key generation thread"))
    });
    // Every new key is journaled before any certificate is issued for it.
    apply_generated(ctx, plans, todo, generated)?;
    let names_failed =
        |w: &CertWork| w.cert.all_names().iter().any(|n| failed_names.contains(n.trim_start_matches("*.")));
    for (plan, w, _, _) in &ordered {
        let work = &plans[*plan].work[*w];
        if names_failed(work) {
            failed_keys.insert(plans[*plan].spec.name.clone());
            if crate::platform::stop_requested().is_some() {
                // Stopped by a signal: that is the run's error, said last.
                continue;
            }
            // As the original: the certificate's own failure follows the
            // authorization's (and, the last error, gives the exit code 8).
            let what =
                format!("{} certificate {} issuance failed", work.key_type.as_str().to_uppercase(), work.cert.name);
            let detail = "an authorization for its names failed".to_string();
            ctx.report.error(AppError::Issue { what, detail });
        }
    }
    let ready: Vec<&Ordered> = ordered.iter().filter(|(p, w, _, _)| !names_failed(&plans[*p].work[*w])).collect();
    let results = finalize_all(client, plans, &ready, ctx.config.settings.cert_poll_time as u64);
    let mut out: BTreeMap<String, Vec<Issued>> = BTreeMap::new();
    for (plan_index, work_index, result) in results {
        let plan = &plans[plan_index];
        let work = &plan.work[work_index];
        let what = format!("{} certificate {}", work.key_type.as_str().to_uppercase(), work.cert.name);
        let issued = result.and_then(|issued| {
            ctx.record(Event::CertificateIssued(facts(plan.spec.name.clone(), &issued)))?;
            Ok(issued)
        });
        match issued {
            Ok(issued) => out.entry(plan.spec.name.clone()).or_default().push(issued),
            Err(e) => {
                ctx.report.error(e.about(what));
                failed_keys.insert(plan.spec.name.clone());
            }
        }
    }
    for k in failed_keys {
        out.remove(&k);
    }
    Ok(out)
}

/// What `certificate_issued` records of a certificate.
fn facts(key: String, issued: &Issued) -> CertFacts {
    let leaf = &issued.leaf;
    CertFacts {
        cert: issued.cert.name.clone(),
        key,
        key_type: issued.key_type,
        serial: leaf.serial_hex.clone(),
        common_name: leaf.subject_cn.clone(),
        not_before: Time::from_secs(leaf.not_before),
        not_after: Time::from_secs(leaf.not_after),
        sans: leaf.sans.clone(),
        issuer: leaf.issuer.clone(),
        order_url: Some(issued.order_url.clone()),
        spki_sha256: sha256_hex(&leaf.spki_der),
        profile: Some(issued.cert.profile.clone().unwrap_or_default()),
    }
}

/// Finalizes orders on a bounded pool of threads: many certificates proceed
/// together without a thread each. Results in the order of `ready`.
fn finalize_all(
    client: &AcmeClient<'_>,
    plans: &[KeyPlan<'_>],
    ready: &[&Ordered],
    poll_secs: u64,
) -> Vec<(usize, usize, R<Issued>)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..ready.len().min(MAX_PARALLEL_ORDERS) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&&(plan, w, ref order_url, ref order)) = ready.get(i) else { break };
                let work = &plans[plan].work[w];
                let key =
                    plans[plan].slots[&(work.key_type, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
                let r = finalize_one(client, key, &work.cert, work.key_type, order_url, order, poll_secs);
                done.lock().unwrap().push((i, plan, w, r));
            });
        }
    });
    let mut results = done.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    results.into_iter().map(|(_, p, w, r)| (p, w, r)).collect()
}

fn finalize_one(
    client: &AcmeClient<'_>,
    key: &PrivateKey,
    cert: &CertificateSpec,
    kt: KeyType,
    order_url: &str,
    order: &Order,
    poll_secs: u64,
) -> R<Issued> {
    // After its authorizations turned valid the order becomes ready; wait for that.
    let mut order = order.clone();
    let mut tries = 0;
    let mut delay = Duration::from_millis(50);
    while order.status == Status::Pending {
        tries += 1;
        if tries > 25 {
            let detail = "stayed pending after its authorizations were valid".into();
            return Err(AppError::Issue { what: format!("order {order_url}"), detail });
        }
        client.clock().sleep(delay);
        if crate::platform::stop_requested().is_some() {
            return Err(AppError::Stopped);
        }
        delay = crate::acme::client::next_poll(delay, Duration::from_secs(3));
        order = client.order(order_url)?.0;
    }
    let names = cert.all_names();
    if order.status == Status::Ready {
        let csr = crypto::csr_der(key, &cert.common_name, &names, cert.ocsp_must_staple)
            .map_err(|e| AppError::Issue { what: format!("order {order_url}"), detail: format!("CSR: {e}") })?;
        order = client.finalize(order_url, &order, &csr, poll_secs)?;
    } else if order.status == Status::Processing {
        order = client.finalize_poll(order_url, poll_secs)?;
    }
    if order.status != Status::Valid {
        let detail = format!("ended {:?}: {}", order.status, order.error.map(|p| p.to_string()).unwrap_or_default());
        return Err(AppError::Issue { what: format!("order {order_url}"), detail });
    }
    let cert_url = order.certificate.ok_or_else(|| AppError::Issue {
        what: format!("valid order {order_url}"),
        detail: "has no certificate URL".into(),
    })?;
    let ders = download_chain(client, cert, &cert_url)?;
    let bad = |detail: String| AppError::Issue { what: format!("the certificate from {cert_url}"), detail };
    let (leaf_der, chain) = ders.split_first().ok_or_else(|| bad("is empty".into()))?;
    let leaf = crypto::parse_cert(leaf_der).map_err(|e| bad(e.to_string()))?;
    if !crypto::key_matches_cert(key, &leaf) {
        return Err(bad(format!("does not match the {kt} private key it was requested for")));
    }
    Ok(Issued { cert: cert.clone(), key_type: kt, leaf, chain: chain.to_vec(), order_url: order_url.to_string() })
}

/// The certificate chain, the alternate whose top issuer is `preferred_chain`
/// when one is configured and offered.
fn download_chain(client: &AcmeClient<'_>, cert: &CertificateSpec, cert_url: &str) -> R<Vec<Vec<u8>>> {
    let (pem, alternates) = client.download(cert_url)?;
    let unreadable = |what: String, e: crypto::CryptoError| AppError::Issue { what, detail: e.to_string() };
    let ders = crypto::pem_to_ders(&pem).map_err(|e| unreadable(format!("certificate from {cert_url}"), e))?;
    let Some(preferred) = cert.preferred_chain.as_deref() else { return Ok(ders) };
    if chain_matches(&ders, preferred) {
        return Ok(ders);
    }
    for alt in &alternates {
        let (alt_pem, _) = client.download(alt)?;
        let alt_ders = crypto::pem_to_ders(&alt_pem).map_err(|e| unreadable(format!("alternate chain {alt}"), e))?;
        if alt_ders.first() == ders.first() && chain_matches(&alt_ders, preferred) {
            tracing::debug!("Using the alternate chain {alt} (issuer {preferred})");
            return Ok(alt_ders);
        }
    }
    tracing::warn!(
        "certificate {}: no chain ends with an issuer named {preferred:?} ({} alternates offered); using the default chain",
        cert.name,
        alternates.len()
    );
    Ok(ders)
}

/// Does the chain's top certificate have `issuer` as its issuer's common name
/// (or its own, for a chain that includes its root)? This is how
/// `preferred_chain` is matched, as certbot and lego do.
fn chain_matches(ders: &[Vec<u8>], issuer: &str) -> bool {
    let Some(top) = ders.last().and_then(|d| crypto::parse_cert(d).ok()) else { return false };
    top.issuer_cn.as_deref().is_some_and(|cn| cn.eq_ignore_ascii_case(issuer))
        || top.subject_cn.as_deref().is_some_and(|cn| cn.eq_ignore_ascii_case(issuer))
}

/// newOrder for every piece of work; returns the orders and the keys with a
/// failed order.
fn create_orders(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    plans: &[KeyPlan<'_>],
) -> (Vec<Ordered>, BTreeSet<String>) {
    let mut ordered = Vec::new();
    let mut failed_keys: BTreeSet<String> = BTreeSet::new();
    for (i, plan) in plans.iter().enumerate() {
        for (w, work) in plan.work.iter().enumerate() {
            match create_order(ctx, client, work) {
                Ok((order_url, order)) => ordered.push((i, w, order_url, order)),
                Err(e) => {
                    ctx.report.error(e.about(format!("certificate {}", work.cert.name)));
                    failed_keys.insert(plan.spec.name.clone());
                }
            }
        }
    }
    (ordered, failed_keys)
}

fn create_order(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, work: &CertWork) -> R<(String, Order)> {
    let names = work.cert.all_names();
    if let Some(profile) = work.cert.profile.as_deref() {
        let offered = &client.directory.meta.profiles;
        if !offered.contains_key(profile) {
            let list: Vec<&str> = offered.keys().map(String::as_str).collect();
            let allowed = if list.is_empty() {
                "it offers no profiles".to_string()
            } else {
                format!("it offers {}", list.join(", "))
            };
            let detail = format!("profile {profile:?} is not offered by {} ({allowed})", client.directory_url);
            return Err(AppError::setting(format!("certificate {}", work.cert.name), detail));
        }
    }
    tracing::debug!(
        "Issuing {} certificate {} ({})",
        work.key_type.as_str().to_uppercase(),
        work.cert.name,
        work.reason
    );
    let profile = work.cert.profile.as_deref();
    // `replaces` (RFC 9773 §5) is a courtesy: if the CA refuses it, order without.
    let result = match client.new_order(&names, profile, work.replaces.as_deref()) {
        Err(AcmeError::Problem { problem, .. })
            if work.replaces.is_some()
                && matches!(problem.short_type(), "alreadyReplaced" | "malformed" | "conflict") =>
        {
            tracing::debug!("certificate {}: the CA refused replaces ({problem}); ordering without it", work.cert.name);
            client.new_order(&names, profile, None)
        }
        other => other,
    };
    let (order_url, order) =
        result.map_err(|e| AppError::Issue { what: "new order failed".into(), detail: e.to_string() })?;
    ctx.record(Event::OrderCreated { order_url: order_url.clone(), names, key_type: work.key_type })?;
    Ok((order_url, order))
}
