//! Answering authorizations (http-01 and dns-01), authorization-only orders
//! (`--auth`, the `authorizations` section) and follower mode.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use super::ctx::Ctx;
use super::dns01::{clear_dns_challenges, set_dns_challenges, DnsChallenge};
use super::error::AppError;
use super::hooks::run_hook;
use crate::acme::{AcmeClient, AcmeError, Authorization, Challenge, Status};
use crate::config::{Config, PrivateKeySpec};
use crate::crypto;
use crate::hooks::Hook;
use crate::journal::Event;
use crate::safe_fs::{Dir, FsError, Trust};
use crate::time::DAY;

/// Journaled authorizations closer than this to expiry are obtained again:
/// a day, or the last third of an authorization's lifetime when it is short
/// (Let's Encrypt's reuse goes to 7 hours in 2028: a day's margin would ask
/// again on every run).
const AUTHORIZATION_MARGIN: i64 = DAY;

fn authorization_margin(a: &crate::journal::AuthzState) -> i64 {
    match (a.obtained, a.expires) {
        (Some(from), Some(to)) => AUTHORIZATION_MARGIN.min((to.secs() - from.secs()) / 3),
        _ => AUTHORIZATION_MARGIN,
    }
}

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
pub fn authorization_names(ctx: &Ctx<'_>, selected: &[&PrivateKeySpec]) -> Vec<String> {
    let explicit = ctx.opts.auth_only;
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
    let now = ctx.now.secs();
    names
        .into_iter()
        .filter(|n| {
            let a = ctx.state().authorizations.get(n.as_str());
            a.and_then(|a| a.expires.map(|e| e.secs() - now < authorization_margin(a))).unwrap_or(true)
        })
        .collect()
}

/// Authorization-only orders, at most `max_domains_per_order` names each; the
/// orders are never finalized.
pub fn authorize_only(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, names: &[String]) {
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
            Err(e) => {
                let name = format!("authorization order for {}", group.join(", "));
                ctx.report.error(AppError::Auth { name, detail: e.to_string() })
            }
        }
    }
    let failed = authorize(ctx, client, &urls);
    let ok: Vec<&str> =
        names.iter().filter(|n| !failed.contains(n.trim_start_matches("*."))).map(String::as_str).collect();
    if !ok.is_empty() && ctx.opts.auth_only {
        tracing::info!("Authorized {}", ok.join(", "));
    }
}

/// One pending authorization, its challenge answered in this run.
struct Pending {
    url: String,
    authz: Authorization,
    /// The challenge answered (v1 needs its type and token with the answer).
    challenge: Challenge,
    /// The http-01 challenge file; None for dns-01.
    file: Option<PathBuf>,
    /// The answering round (local DNS zones hold one value per name at a time).
    round: usize,
}

/// Answers every pending authorization: all challenge files first, then all
/// responses, then polling. Returns the names that failed. In follower mode
/// nothing is answered: a pending authorization is an error naming the names.
pub fn authorize(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, urls: &[String]) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    let (mut pending, mut dns_items) = prepare(ctx, client, urls, &mut failed);
    assign_rounds(ctx.config, &mut pending, &mut dns_items);
    let rounds = pending.iter().map(|p| p.round + 1).max().unwrap_or(0);
    for round in 0..rounds {
        let round_dns: Vec<DnsChallenge> =
            dns_items.iter().filter(|(_, r)| *r == round).map(|(c, _)| c.clone()).collect();
        let round_pending: Vec<&Pending> = pending.iter().filter(|p| p.round == round).collect();
        // Every DNS record first (one update per zone, propagation checked), then answers.
        failed.extend(set_dns_challenges(ctx, &round_dns));
        for p in &round_pending {
            if failed.contains(&p.authz.identifier.value) {
                continue;
            }
            if let Err(e) = client.respond(&p.challenge) {
                let name = p.authz.identifier.value.clone();
                ctx.report.error(AppError::Auth {
                    name: name.clone(),
                    detail: format!("answering challenge {}: {e}", p.challenge.url),
                });
                failed.insert(name);
            }
        }
        for p in &round_pending {
            if !failed.contains(&p.authz.identifier.value) {
                if let Err(name) = wait_valid(ctx, client, p) {
                    failed.insert(name);
                }
            }
        }
        for p in &round_pending {
            let Some(file) = &p.file else { continue };
            super::dns01::remove_challenge_file(ctx, file);
            let (domain, file) = (p.authz.identifier.value.as_str(), file.display().to_string());
            run_hook(ctx, Hook::ClearHttpChallenge, &[("domain", domain), ("challenge_file", &file)]);
        }
        clear_dns_challenges(ctx, &round_dns);
    }
    failed
}

/// Fetches every authorization: valid ones are journaled (reused), pending ones
/// get their http-01 file written or their dns-01 record listed.
fn prepare(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    urls: &[String],
    failed: &mut BTreeSet<String>,
) -> (Vec<Pending>, Vec<(DnsChallenge, usize)>) {
    let zones = zone_map(ctx.config);
    let follower = ctx.config.settings.follower_mode;
    let mut unauthorized: Vec<String> = Vec::new();
    let mut pending = Vec::new();
    let mut dns_items = Vec::new();
    for url in urls {
        let authz = match client.authorization(url) {
            Ok(a) => a,
            Err(e) => {
                ctx.report.error(AppError::Auth { name: format!("authorization {url}"), detail: e.to_string() });
                continue;
            }
        };
        let name = authz.identifier.value.clone();
        if authz.status == Status::Valid {
            let event = Event::AuthorizationObtained {
                name: name.clone(),
                challenge: "reused".into(),
                url: url.clone(),
                expires: authz.expires.as_deref().and_then(crate::time::Time::parse),
            };
            if let Err(e) = ctx.record(event) {
                ctx.report.error(e);
                failed.insert(name);
            }
            continue;
        }
        if authz.status != Status::Pending {
            ctx.report.error(AppError::Auth {
                name: name.clone(),
                detail: format!("authorization {url} is {:?}", authz.status),
            });
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
        match start_challenge(ctx, client, url, authz, fqdn, zone) {
            Some((p, dns)) => {
                dns_items.extend(dns.map(|d| (d, 0)));
                pending.push(p);
            }
            None => {
                failed.insert(name);
            }
        }
    }
    if !unauthorized.is_empty() {
        let detail = format!(
            "not authorized: {}; the master must obtain these authorizations first (its authorizations section)",
            unauthorized.join(", ")
        );
        ctx.report.error(AppError::Auth { name: "follower mode".into(), detail });
    }
    (pending, dns_items)
}

/// Picks the challenge of a pending authorization and publishes its
/// response: the http-01 file now, the dns-01 record listed (every zone's
/// records are set together afterwards). `None` when it failed (reported).
fn start_challenge(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    url: &str,
    authz: Authorization,
    fqdn: String,
    zone: String,
) -> Option<(Pending, Option<DnsChallenge>)> {
    let name = authz.identifier.value.clone();
    let dir = if authz.wildcard { None } else { ctx.config.http_challenge_dir(&name, &zone) };
    let kind = if dir.is_some() { "http-01" } else { "dns-01" };
    if authz.identifier.kind == "ip" && dir.is_none() {
        // RFC 8738: an IP address is validated over http-01 (or tls-alpn-01), never dns-01.
        let detail = "an IP address can only be validated over http-01: give it an http_challenges entry \
                      or set directories.http_challenge"
            .to_string();
        ctx.report.error(AppError::Auth { name, detail });
        return None;
    }
    let (challenge, token) = match pick_challenge(&authz, kind, url) {
        Ok(c) => c,
        Err(detail) => {
            let who = if dir.is_some() { name } else { fqdn };
            ctx.report.error(AppError::Auth { name: who, detail });
            return None;
        }
    };
    let (file, dns) = match dir {
        None => {
            let value = crypto::dns01_txt_value(&token, client.key());
            (None, Some(DnsChallenge { name, fqdn, zone, value }))
        }
        Some(dir) => (Some(write_http_challenge(ctx, client, &name, &dir, &token)?), None),
    };
    Some((Pending { url: url.to_string(), authz, challenge, file, round: 0 }, dns))
}

/// Writes the key authorization where the web server serves it.
fn write_http_challenge(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    name: &str,
    dir: &std::path::Path,
    token: &str,
) -> Option<PathBuf> {
    let file = dir.join(token);
    // Journaled first: a run stopped before removing it leaves the next run
    // a record of what to remove.
    if let Err(e) = ctx.record(Event::ChallengeFileWritten { path: file.display().to_string() }) {
        ctx.report.error(e);
        return None;
    }
    // Web servers' users often own the webroot: the file is created fresh under
    // a random name and renamed into place, never written through a link, and
    // no link another user could have planted is followed on the way.
    let write = Dir::create(dir, Trust::Shared, 0o755, None).and_then(|d| {
        d.replace(OsStr::new(token), crypto::key_authorization(token, client.key()).as_bytes(), 0o644, None)
            .map_err(|source| FsError::Io { path: file.clone(), op: "write the http-01 challenge file", source })
    });
    if let Err(e) = write {
        ctx.report.error(AppError::from(e).about(name.to_string()));
        return None;
    }
    tracing::debug!("Wrote http-01 challenge for {name} to {}", file.display());
    run_hook(ctx, Hook::SetHttpChallenge, &[("domain", name), ("challenge_file", &file.display().to_string())]);
    Some(file)
}

/// Local DNS updates hold one value per name (the zone's challenge file is an
/// object keyed by name), so a second authorization of the same name (another
/// order's) waits for a later round; remote and http-01: round 0.
fn assign_rounds(config: &Config, pending: &mut [Pending], dns_items: &mut [(DnsChallenge, usize)]) {
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut items = dns_items.iter_mut();
    for p in pending.iter_mut() {
        if p.file.is_some() {
            continue;
        }
        let Some((item, round)) = items.next() else { break };
        if !config.zone_update_keys.contains_key(item.zone.trim_end_matches('.')) {
            let n = per_name.entry(item.fqdn.clone()).or_insert(0);
            *round = *n;
            *n += 1;
        }
        p.round = *round;
    }
}

/// Polls one answered authorization until it is valid; journals the outcome.
/// `Err(name)` when it failed (the error is reported).
fn wait_valid(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, p: &Pending) -> Result<(), String> {
    let name = p.authz.identifier.value.clone();
    let s = &ctx.config.settings;
    let max_delay = Duration::from_secs(s.authorization_delay.max(1) as u64);
    let budget = max_delay * s.max_authorization_attempts.max(1);
    let kind = if p.file.is_some() { "http-01" } else { "dns-01" };
    match client.wait_authorization(&p.url, budget, max_delay) {
        Ok(done) if done.status == Status::Valid => {
            let expires = done.expires.as_deref().and_then(crate::time::Time::parse);
            let event = Event::AuthorizationObtained {
                name: name.clone(),
                challenge: kind.into(),
                url: p.url.clone(),
                expires,
            };
            if let Err(e) = ctx.record(event) {
                ctx.report.error(e);
                return Err(name);
            }
            tracing::debug!("Authorization for {name} is valid");
            Ok(())
        }
        Ok(done) => {
            let detail = done
                .challenges
                .iter()
                .find(|c| c.url == p.challenge.url)
                .and_then(|c| c.error.as_ref())
                .map(|p| p.to_string())
                .unwrap_or_else(|| format!("authorization is {:?}", done.status));
            let message = format!("{kind} challenge {} failed: {detail}", p.challenge.url);
            ctx.report.error(AppError::Auth { name: name.clone(), detail: message });
            let event = Event::ChallengeFailed {
                name: name.clone(),
                challenge: kind.into(),
                url: p.url.clone(),
                error: detail,
            };
            if let Err(e) = ctx.record(event) {
                ctx.report.error(e);
            }
            Err(name)
        }
        Err(AcmeError::Stopped { .. }) => {
            ctx.report.error(AppError::Stopped);
            Err(name)
        }
        Err(e) => {
            ctx.report.error(AppError::Auth { name: name.clone(), detail: e.to_string() });
            Err(name)
        }
    }
}

/// The challenge of `kind` and its token, which must be base64url (RFC 8555
/// §8.1): it becomes a file name and part of a DNS record.
fn pick_challenge(authz: &Authorization, kind: &str, url: &str) -> Result<(Challenge, String), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    #[test]
    fn the_margin_is_a_day_or_the_last_third_of_a_short_authorization() {
        let a = |hours: i64| crate::journal::AuthzState {
            challenge: "http-01".into(),
            url: "u".into(),
            obtained: Some(Time::from_secs(0)),
            expires: Some(Time::from_secs(hours * 3600)),
        };
        assert_eq!(authorization_margin(&a(30 * 24)), DAY, "30 days: a day");
        assert_eq!(authorization_margin(&a(7)), 7 * 3600 / 3, "7 hours: the last third");
        let unknown = crate::journal::AuthzState { obtained: None, ..a(7) };
        assert_eq!(authorization_margin(&unknown), DAY);
    }
}
