//! Issuing: orders for every needed certificate, authorizations answered
//! together, orders finalized in parallel.

use super::*;

/// Orders finalized and downloaded at the same time.
const MAX_PARALLEL_ORDERS: usize = 8;

/// Orders, authorizes and finalizes every needed certificate: all orders are
/// created first, then every pending authorization is answered together,
/// while the missing keys are generated in the background; then the orders
/// are finalized in parallel. Returns what was issued per key name.
pub(super) fn issue_all(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    plans: &mut [KeyPlan<'_>],
) -> R<BTreeMap<String, Vec<Issued>>> {
    let todo = key_todo(plans)?;
    let (ordered, mut failed_keys, failed_names, generated) = std::thread::scope(|s| {
        let todo = &todo;
        let keygen = s.spawn(move || generate(todo));
        let (ordered, failed_keys) = create_orders(ctx, client, plans);
        // Authorizations: every distinct pending one, answered together.
        let mut authz_urls: Vec<String> = Vec::new();
        for (_, _, _, order) in &ordered {
            if order.status == Status::Pending {
                for u in &order.authorizations {
                    if !authz_urls.contains(u) {
                        authz_urls.push(u.clone());
                    }
                }
            }
        }
        let failed_names = authorize(ctx, client, &authz_urls);
        (ordered, failed_keys, failed_names, keygen.join().expect("key generation thread"))
    });
    apply_generated(plans, todo, generated)?;
    let plans = &*plans;
    struct Job<'p> {
        plan: usize,
        work: &'p CertWork,
        key: &'p PrivateKey,
        order_url: String,
        order: crate::acme::Order,
    }
    let jobs: Vec<Job<'_>> = ordered
        .into_iter()
        .map(|(plan, w, order_url, order)| {
            let work = &plans[plan].work[w];
            let key = plans[plan].slots[&(work.key_type, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
            Job { plan, work, key, order_url, order }
        })
        .collect();
    // Finalize in parallel.
    let settings = &ctx.config.settings;
    let poll_secs = settings.cert_poll_time as u64;
    // A bounded pool: many certificates proceed together without a thread each.
    let ready: Vec<&Job<'_>> = jobs
        .iter()
        .filter(|j| !j.work.cert.all_names().iter().any(|n| failed_names.contains(n.trim_start_matches("*."))))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..ready.len().min(MAX_PARALLEL_ORDERS) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = ready.get(i) else { break };
                let r = finalize_one(
                    client,
                    job.key,
                    &job.work.cert,
                    job.work.key_type,
                    &job.order_url,
                    &job.order,
                    poll_secs,
                );
                done.lock().unwrap().push((i, job.plan, job.work, r));
            });
        }
    });
    let mut results = done.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let results: Vec<(usize, &CertWork, Result<Issued, String>)> =
        results.into_iter().map(|(_, p, w, r)| (p, w, r)).collect();
    for job in &jobs {
        if job.work.cert.all_names().iter().any(|n| failed_names.contains(n.trim_start_matches("*."))) {
            failed_keys.insert(plans[job.plan].spec.name.clone());
        }
    }
    let mut out: BTreeMap<String, Vec<Issued>> = BTreeMap::new();
    for (plan_index, work, result) in results {
        let plan = &plans[plan_index];
        match result {
            Ok(issued) => {
                let leaf = &issued.leaf;
                let _ = ctx.record(Event::CertificateIssued {
                    cert: work.cert.name.clone(),
                    key: plan.spec.name.clone(),
                    key_type: work.key_type,
                    serial: leaf.serial_hex.clone(),
                    common_name: leaf.subject_cn.clone(),
                    not_before: rfc3339(leaf.not_before),
                    not_after: rfc3339(leaf.not_after),
                    sans: leaf.sans.clone(),
                    issuer: leaf.issuer.clone(),
                    order_url: issued.order_url.clone(),
                    spki_sha256: sha256_hex(&leaf.spki_der),
                });
                out.entry(plan.spec.name.clone()).or_default().push(issued);
            }
            Err(message) => {
                ctx.outcome.error(Failure::new(
                    ErrorCode::Acme,
                    format!("{} certificate {}: {message}", work.key_type.as_str().to_uppercase(), work.cert.name),
                ));
                failed_keys.insert(plan.spec.name.clone());
            }
        }
    }
    for k in failed_keys {
        out.remove(&k);
    }
    Ok(out)
}

pub(super) fn finalize_one(
    client: &AcmeClient<'_>,
    key: &PrivateKey,
    cert: &CertificateSpec,
    kt: KeyType,
    order_url: &str,
    order: &crate::acme::Order,
    poll_secs: u64,
) -> Result<Issued, String> {
    // After its authorizations turned valid the order becomes ready; wait for that.
    let mut order = order.clone();
    let mut tries = 0;
    let mut delay = std::time::Duration::from_millis(50);
    while order.status == Status::Pending {
        tries += 1;
        if tries > 25 {
            return Err(format!("order {order_url} stayed pending after its authorizations were valid"));
        }
        client.clock().sleep(delay);
        delay = crate::acme::client::next_poll(delay, std::time::Duration::from_secs(3));
        order = client.order(order_url).map_err(|e| e.to_string())?.0;
    }
    let names = cert.all_names();
    if order.status == Status::Ready {
        let csr =
            crypto::csr_der(key, &cert.common_name, &names, cert.ocsp_must_staple).map_err(|e| format!("CSR: {e}"))?;
        order = client.finalize(order_url, &order, &csr, poll_secs).map_err(|e| e.to_string())?;
    } else if order.status == Status::Processing {
        order = client.finalize_poll(order_url, poll_secs).map_err(|e| e.to_string())?;
    }
    if order.status != Status::Valid {
        return Err(format!(
            "order {order_url} ended {:?}: {}",
            order.status,
            order.error.map(|p| p.to_string()).unwrap_or_default()
        ));
    }
    let cert_url = order.certificate.ok_or_else(|| format!("valid order {order_url} has no certificate URL"))?;
    let (pem, alternates) = client.download(&cert_url).map_err(|e| e.to_string())?;
    let mut ders = crypto::pem_to_ders(&pem).map_err(|e| format!("certificate from {cert_url}: {e}"))?;
    if let Some(preferred) = cert.preferred_chain.as_deref() {
        if !chain_matches(&ders, preferred) {
            let mut chosen = false;
            for alt in &alternates {
                let (alt_pem, _) = client.download(alt).map_err(|e| e.to_string())?;
                let alt_ders = crypto::pem_to_ders(&alt_pem).map_err(|e| format!("alternate chain {alt}: {e}"))?;
                if alt_ders.first() == ders.first() && chain_matches(&alt_ders, preferred) {
                    tracing::debug!("Using the alternate chain {alt} (issuer {preferred})");
                    ders = alt_ders;
                    chosen = true;
                    break;
                }
            }
            if !chosen {
                tracing::warn!("certificate {}: no chain ends with an issuer named {preferred:?} ({} alternates offered); using the default chain", cert.name, alternates.len());
            }
        }
    }
    let (leaf_der, chain) = ders.split_first().ok_or_else(|| format!("{cert_url} returned no certificate"))?;
    let leaf = crypto::parse_cert(leaf_der).map_err(|e| format!("certificate from {cert_url}: {e}"))?;
    if !crypto::key_matches_cert(key, &leaf) {
        return Err(format!(
            "the certificate from {cert_url} does not match the {kt} private key it was requested for"
        ));
    }
    Ok(Issued { cert: cert.clone(), key_type: kt, leaf, chain: chain.to_vec(), order_url: order_url.to_string() })
}

/// Does the chain's top certificate have `issuer` as its issuer's common name
/// (or its own, for a chain that includes its root)? This is how
/// `preferred_chain` is matched, as certbot and lego do.
pub(super) fn chain_matches(ders: &[Vec<u8>], issuer: &str) -> bool {
    let Some(top) = ders.last().and_then(|d| crypto::parse_cert(d).ok()) else { return false };
    top.issuer_cn.as_deref().map(|cn| cn.eq_ignore_ascii_case(issuer)).unwrap_or(false)
        || top.subject_cn.as_deref().map(|cn| cn.eq_ignore_ascii_case(issuer)).unwrap_or(false)
}

/// newOrder for every piece of work; returns (plan, work index, order URL,
/// order) and the keys with a failed order.
fn create_orders(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    plans: &[KeyPlan<'_>],
) -> (Vec<(usize, usize, String, crate::acme::Order)>, BTreeSet<String>) {
    let mut ordered = Vec::new();
    let mut failed_keys: BTreeSet<String> = BTreeSet::new();
    for (i, plan) in plans.iter().enumerate() {
        for (w, work) in plan.work.iter().enumerate() {
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
                    ctx.outcome.error(Failure::new(
                        ErrorCode::Config,
                        format!(
                            "certificate {}: profile {profile:?} is not offered by {} ({allowed})",
                            work.cert.name, client.directory_url
                        ),
                    ));
                    failed_keys.insert(plan.spec.name.clone());
                    continue;
                }
            }
            tracing::info!(
                "Issuing {} certificate {} ({})",
                work.key_type.as_str().to_uppercase(),
                work.cert.name,
                work.reason
            );
            // `replaces` (RFC 9773 §5) is a courtesy: if the CA refuses it, order without.
            let result = match client.new_order(&names, work.cert.profile.as_deref(), work.replaces.as_deref()) {
                Err(AcmeError::Problem { problem, .. })
                    if work.replaces.is_some()
                        && matches!(problem.short_type(), "alreadyReplaced" | "malformed" | "conflict") =>
                {
                    tracing::debug!(
                        "certificate {}: the CA refused replaces ({problem}); ordering without it",
                        work.cert.name
                    );
                    client.new_order(&names, work.cert.profile.as_deref(), None)
                }
                other => other,
            };
            match result {
                Ok((order_url, order)) => {
                    let _ = ctx.record(Event::OrderCreated {
                        order_url: order_url.clone(),
                        names: names.clone(),
                        key_type: work.key_type,
                    });
                    ordered.push((i, w, order_url, order));
                }
                Err(e) => {
                    ctx.outcome.error(Failure::new(
                        ErrorCode::Acme,
                        format!("certificate {}: new order failed: {e}", work.cert.name),
                    ));
                    failed_keys.insert(plan.spec.name.clone());
                }
            }
        }
    }
    (ordered, failed_keys)
}
