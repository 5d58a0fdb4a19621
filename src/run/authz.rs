//! Answering authorizations (http-01 and dns-01), authorization-only orders
//! (`--auth`, the `authorizations` section) and follower mode.

use super::*;

/// Journaled authorizations closer than this to expiry are obtained again.
const AUTHORIZATION_MARGIN: i64 = crate::time::DAY;

/// Every configured name and the zone it belongs to.
fn zone_map(config: &Config) -> BTreeMap<String, String> {
    let mut zones = BTreeMap::new();
    let cert_zones = config.private_keys.iter().flat_map(|k| k.certificates.iter()).flat_map(|c| c.alt_names.iter());
    for z in cert_zones.chain(config.authorizations.iter()) {
        for f in &z.fqdns {
            zones.entry(f.clone()).or_insert_with(|| z.zone.clone());
        }
    }
    zones
}

/// The names to authorize without issuing: the `authorizations` section's
/// names whose journaled authorization is missing or about to expire; with an
/// explicit `--auth`, every name of the selected keys and the section.
pub(super) fn authorization_names(ctx: &Ctx<'_>, selected: &[&PrivateKeySpec]) -> Vec<String> {
    let explicit = ctx.args.auth;
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &String| {
        if !names.contains(n) {
            names.push(n.clone());
        }
    };
    if explicit {
        for spec in selected {
            for cert in &spec.certificates {
                cert.all_names().iter().for_each(&mut add);
            }
        }
    }
    for z in &ctx.config.authorizations {
        z.fqdns.iter().for_each(&mut add);
    }
    if explicit {
        return names;
    }
    names
        .into_iter()
        .filter(|n| {
            let expires = ctx
                .state
                .authorizations
                .get(n.as_str())
                .and_then(|a| a.expires.as_deref())
                .and_then(crate::time::parse_rfc3339);
            expires.map(|e| e - ctx.now < AUTHORIZATION_MARGIN).unwrap_or(true)
        })
        .collect()
}

/// Authorization-only orders, at most `max_domains_per_order` names each; the
/// orders are never finalized.
pub(super) fn authorize_only(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, names: &[String]) {
    let per_order = (ctx.config.settings.max_domains_per_order as usize).max(1);
    let mut urls: Vec<String> = Vec::new();
    for group in names.chunks(per_order) {
        let group = group.to_vec();
        match client.new_order(&group, None, None) {
            Ok((order_url, order)) => {
                tracing::debug!("Authorization order {order_url} for {}", group.join(", "));
                for u in order.authorizations {
                    if !urls.contains(&u) {
                        urls.push(u);
                    }
                }
            }
            Err(e) => ctx
                .outcome
                .error(Failure::new(ErrorCode::Auth, format!("authorization order for {}: {e}", group.join(", ")))),
        }
    }
    let failed = authorize(ctx, client, &urls);
    let ok: Vec<&String> = names.iter().filter(|n| !failed.contains(n.trim_start_matches("*."))).collect();
    if !ok.is_empty() && ctx.args.auth {
        tracing::info!("Authorized {}", ok.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
    }
}

/// Answers every pending authorization: all challenge files first, then all
/// responses, then polling. Returns the names that failed. In follower mode
/// nothing is answered: a pending authorization is an error naming the names.
pub(super) fn authorize(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, urls: &[String]) -> BTreeSet<String> {
    let zones = zone_map(ctx.config);
    let follower = ctx.config.settings.follower_mode;
    let mut unauthorized: Vec<String> = Vec::new();
    let mut failed = BTreeSet::new();
    // (authz url, authz, challenge url, http-01 file; None for dns-01)
    let mut pending: Vec<(String, crate::acme::Authorization, String, Option<PathBuf>)> = Vec::new();
    let mut dns_items: Vec<DnsChallenge> = Vec::new();
    for url in urls {
        let authz = match client.authorization(url) {
            Ok(a) => a,
            Err(e) => {
                ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("authorization {url}: {e}")));
                continue;
            }
        };
        let name = authz.identifier.value.clone();
        if authz.status == Status::Valid {
            let _ = ctx.record(Event::AuthorizationObtained {
                name,
                challenge: "reused".into(),
                url: url.clone(),
                expires: authz.expires.clone(),
            });
            continue;
        }
        if authz.status != Status::Pending {
            ctx.outcome.error(Failure::new(
                ErrorCode::Auth,
                format!("authorization for {name} ({url}) is {:?}", authz.status),
            ));
            failed.insert(name);
            continue;
        }
        let fqdn = if authz.wildcard { format!("*.{name}") } else { name.clone() };
        if follower {
            unauthorized.push(fqdn);
            failed.insert(name);
            continue;
        }
        let zone = zones.get(&fqdn).cloned().unwrap_or_else(|| name.clone());
        let dir = if authz.wildcard { None } else { ctx.config.http_challenge_dir(&name, &zone) };
        let Some(dir) = dir else {
            // dns-01: the records of every zone are set together after this loop.
            let (challenge, token) = match pick_challenge(&authz, "dns-01", url) {
                Ok(c) => c,
                Err(e) => {
                    ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{fqdn}: {e}")));
                    failed.insert(name);
                    continue;
                }
            };
            let value = crypto::dns01_txt_value(&token, client.key());
            dns_items.push(DnsChallenge { name: name.clone(), fqdn: fqdn.clone(), zone, value });
            pending.push((url.clone(), authz, challenge.url.clone(), None));
            continue;
        };
        let (challenge, token) = match pick_challenge(&authz, "http-01", url) {
            Ok(c) => c,
            Err(e) => {
                ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: {e}")));
                failed.insert(name);
                continue;
            }
        };
        let file = dir.join(&token);
        let write = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&file, crypto::key_authorization(&token, client.key())));
        if let Err(e) = write {
            ctx.outcome.error(Failure::new(
                ErrorCode::Permission,
                format!("{name}: cannot write http-01 challenge file {}: {e}", file.display()),
            ));
            failed.insert(name);
            continue;
        }
        tracing::debug!("Wrote http-01 challenge for {name} to {}", file.display());
        run_hook(ctx, "set_http_challenge", &[("domain", &name), ("challenge_file", &file.display().to_string())], &[]);
        pending.push((url.clone(), authz, challenge.url.clone(), Some(file)));
    }
    if !unauthorized.is_empty() {
        ctx.outcome.error(Failure::new(
            ErrorCode::Auth,
            format!("follower mode: not authorized: {}; the master must obtain these authorizations first (its authorizations section)", unauthorized.join(", ")),
        ));
    }
    // Local DNS updates hold one value per name (the zone's challenge file is
    // an object keyed by name), so a second authorization of the same name
    // (another order's) waits for a later round; remote and http-01: round 0.
    let mut round_of: Vec<usize> = Vec::with_capacity(pending.len());
    let mut dns_round: Vec<usize> = Vec::with_capacity(dns_items.len());
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, _, file) in &pending {
        if file.is_some() {
            round_of.push(0);
            continue;
        }
        let item = &dns_items[dns_round.len()];
        let round = if ctx.config.zone_update_keys.contains_key(item.zone.trim_end_matches('.')) {
            0
        } else {
            let n = per_name.entry(item.fqdn.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        round_of.push(round);
        dns_round.push(round);
    }
    let rounds = round_of.iter().max().map_or(0, |m| m + 1);
    for round in 0..rounds {
        let round_dns: Vec<DnsChallenge> =
            dns_items.iter().zip(&dns_round).filter(|(_, r)| **r == round).map(|(c, _)| c.clone()).collect();
        let round_pending: Vec<_> =
            pending.iter().zip(&round_of).filter(|(_, r)| **r == round).map(|(p, _)| p).collect();
        // Every DNS record first (one update per zone, propagation checked), then answers.
        for name in set_dns_challenges(ctx, &round_dns) {
            failed.insert(name);
        }
        for (_, authz, challenge_url, _) in round_pending.iter().copied() {
            if failed.contains(&authz.identifier.value) {
                continue;
            }
            if let Err(e) = client.respond(challenge_url) {
                ctx.outcome.error(Failure::new(
                    ErrorCode::Auth,
                    format!("{}: answering challenge {challenge_url}: {e}", authz.identifier.value),
                ));
                failed.insert(authz.identifier.value.clone());
            }
        }
        let s = &ctx.config.settings;
        let max_delay = std::time::Duration::from_secs(s.authorization_delay.max(1) as u64);
        let budget = max_delay * s.max_authorization_attempts.max(1);
        for (url, authz, challenge_url, file) in round_pending.iter().copied() {
            let name = authz.identifier.value.clone();
            if failed.contains(&name) {
                continue;
            }
            let kind = if file.is_some() { "http-01" } else { "dns-01" };
            match client.wait_authorization(url, budget, max_delay) {
                Ok(done) if done.status == Status::Valid => {
                    let _ = ctx.record(Event::AuthorizationObtained {
                        name: name.clone(),
                        challenge: kind.into(),
                        url: url.clone(),
                        expires: done.expires.clone(),
                    });
                    tracing::debug!("Authorization for {name} is valid");
                }
                Ok(done) => {
                    let detail = done
                        .challenges
                        .iter()
                        .find(|c| &c.url == challenge_url)
                        .and_then(|c| c.error.as_ref())
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| format!("authorization is {:?}", done.status));
                    ctx.outcome.error(Failure::new(
                        ErrorCode::Auth,
                        format!("{name}: {kind} challenge {challenge_url} failed: {detail}"),
                    ));
                    let _ = ctx.record(Event::ChallengeFailed {
                        name: name.clone(),
                        challenge: kind.into(),
                        url: url.clone(),
                        error: detail,
                    });
                    failed.insert(name);
                }
                Err(e) => {
                    ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: {e}")));
                    failed.insert(name);
                }
            }
            let _ = file;
        }
        for (_, authz, _, file) in round_pending.iter().copied() {
            let Some(file) = file else { continue };
            if std::fs::remove_file(file).is_ok() {
                tracing::debug!("Removed http-01 challenge file {}", file.display());
            }
            run_hook(
                ctx,
                "clear_http_challenge",
                &[("domain", &authz.identifier.value), ("challenge_file", &file.display().to_string())],
                &[],
            );
        }
        clear_dns_challenges(ctx, &round_dns);
    }
    failed
}

/// The challenge of `kind` and its token, which must be base64url (RFC 8555
/// §8.1): it becomes a file name and part of a DNS record.
fn pick_challenge(
    authz: &crate::acme::Authorization,
    kind: &str,
    url: &str,
) -> Result<(crate::acme::Challenge, String), String> {
    let challenge = authz
        .challenges
        .iter()
        .find(|c| c.kind == kind)
        .cloned()
        .ok_or_else(|| format!("the server offers no {kind} challenge ({url})"))?;
    let token = challenge
        .token
        .clone()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .ok_or_else(|| format!("{kind} challenge {} has a missing or unsafe token", challenge.url))?;
    Ok((challenge, token))
}
