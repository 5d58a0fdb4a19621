//! dns-01 challenges (RFC 8555 §8.4) for a batch of authorizations: the TXT
//! records of every zone set at once (one RFC 2136 UPDATE per zone with a
//! `zone_update_keys` entry, else the zone's challenge JSON file and
//! `reload_zone_command`), propagation confirmed at every authoritative
//! server, and afterwards only the records acmebot added removed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::hooks::run_hook;
use super::zones::{no_reload_command, reload_zone, remote, resolver, Remote};
use crate::cli::WarningCode;
use crate::config::{Config, FileKind};
use crate::dns::{self, Record, Resolver};
use crate::hooks::Hook;
use crate::journal::{DnsRecord, Event};
use crate::types::sha256_hex;

/// One dns-01 challenge to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsChallenge {
    /// The identifier, without `*.`.
    pub name: String,
    /// The name as configured (`*.example.com` for a wildcard).
    pub fqdn: String,
    pub zone: String,
    /// base64url SHA-256 of the key authorization (`crypto::dns01_txt_value`).
    pub value: String,
}

/// TTL of challenge records, as the original and the manual.
const CHALLENGE_TTL: u32 = 300;

/// The owner name of a challenge record: `_acme-challenge.<name>.`.
pub fn challenge_owner(name: &str) -> String {
    format!("_acme-challenge.{}.", name.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase())
}

fn txt_event(added: bool, zone: &str, owner: &str, value: &str, server: Option<SocketAddr>, mode: &str) -> Event {
    Event::dns_record(
        added,
        DnsRecord {
            zone: zone.to_string(),
            name: owner.to_string(),
            rtype: "TXT".into(),
            value_sha256: sha256_hex(value.as_bytes()),
            server: server.map(|s| s.to_string()),
            mode: mode.to_string(),
            usage: None,
            selector: None,
            matching: None,
            digest: None,
        },
    )
}

/// Challenges grouped by zone, in order.
fn by_zone(items: &[DnsChallenge]) -> BTreeMap<String, Vec<&DnsChallenge>> {
    let mut out: BTreeMap<String, Vec<&DnsChallenge>> = BTreeMap::new();
    for c in items {
        let v = out.entry(c.zone.trim_end_matches('.').to_ascii_lowercase()).or_default();
        if !v.iter().any(|o| o.fqdn == c.fqdn && o.value == c.value) {
            v.push(c);
        }
    }
    out
}

/// Publishes every challenge, zone by zone, then waits until every
/// authoritative server of each zone serves every value. Returns the names
/// (identifiers) whose records could not be set.
pub fn set_dns_challenges(ctx: &mut Ctx<'_>, items: &[DnsChallenge]) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    if items.is_empty() {
        return failed;
    }
    let resolver = match resolver(ctx.config) {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.report.warn(WarningCode::Dns, format!("no DNS resolver: {e}"));
            None
        }
    };
    // (zone, owner, value) that were published and must be seen.
    let mut published: Vec<(String, String, String)> = Vec::new();
    for (zone, group) in by_zone(items) {
        for c in &group {
            tracing::debug!("Setting DNS for {} = \"{}\"", challenge_owner(&c.name), c.value);
            run_hook(ctx, Hook::SetDnsChallenge, &[("domain", &c.fqdn), ("zone", &zone), ("challenge", &c.value)]);
        }
        let result = if ctx.config.zone_update_keys.contains_key(&zone) {
            set_remote(ctx, resolver.as_ref(), &zone, &group)
        } else {
            set_local(ctx, &zone, &group)
        };
        match result {
            Ok(()) => published.extend(group.iter().map(|c| (zone.clone(), challenge_owner(&c.name), c.value.clone()))),
            Err(e) => {
                let names: Vec<&str> = group.iter().map(|c| c.fqdn.as_str()).collect();
                ctx.report.error(e.about(format!("dns-01 for {}", names.join(", "))));
                failed.extend(group.iter().map(|c| c.name.clone()));
            }
        }
        run_hook(ctx, Hook::DnsZoneUpdate, &[("zone", &zone)]);
    }
    if let (Some(resolver), false) = (resolver, published.is_empty()) {
        wait_for_propagation(ctx, &resolver, &published);
    }
    failed
}

fn no_resolver(zone: &str) -> AppError {
    AppError::Zone { zone: zone.into(), detail: "no DNS resolver to find the update server".into() }
}

fn set_remote(ctx: &mut Ctx<'_>, resolver: Option<&Resolver>, zone: &str, group: &[&DnsChallenge]) -> R<()> {
    let resolver = resolver.ok_or_else(|| no_resolver(zone))?;
    let Remote { key, server } = remote(ctx.config, resolver, zone)?.expect("zone has an update key");
    let adds: Vec<Record> =
        group.iter().map(|c| Record::txt(&challenge_owner(&c.name), CHALLENGE_TTL, &c.value)).collect();
    dns::update(server, zone, Some(&key), &adds, &[], ctx.clock.now().secs())
        .map_err(AppError::dns(format!("zone {zone}")))?;
    tracing::debug!("Set {} DNS challenge record(s) in zone {zone} at {server}", adds.len());
    for c in group {
        ctx.record(txt_event(true, zone, &challenge_owner(&c.name), &c.value, Some(server), "remote"))?;
    }
    Ok(())
}

fn challenge_file(config: &Config, zone: &str) -> R<PathBuf> {
    config.file_path(FileKind::Challenge, zone, None)?.ok_or_else(|| {
        let detail = "it has no zone_update_keys entry, so it is updated locally, but directories.challenge or file_names.challenge is null";
        AppError::Zone { zone: zone.into(), detail: detail.into() }
    })
}

fn set_local(ctx: &mut Ctx<'_>, zone: &str, group: &[&DnsChallenge]) -> R<()> {
    if ctx.config.settings.reload_zone_command.is_none() {
        return Err(no_reload_command(zone));
    }
    let path = challenge_file(ctx.config, zone)?;
    // One object: fqdn (wildcards keep their "*.") → value, as the manual says.
    let mut object = serde_json::Map::new();
    for c in group {
        object.insert(c.fqdn.clone(), serde_json::Value::String(c.value.clone()));
    }
    let text = serde_json::to_vec_pretty(&serde_json::Value::Object(object)).expect("a JSON value serializes");
    write_file(&path, &text)?;
    tracing::debug!("Wrote DNS challenge file {}", path.display());
    for c in group {
        ctx.record(txt_event(true, zone, &challenge_owner(&c.name), &c.value, None, "local"))?;
    }
    reload_zone(ctx, zone, "dns-01 challenges set")
}

/// Writes a challenge file (0644, its directory 0755 if missing): a new file
/// of random name renamed into place, never written through a link.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), crate::safe_fs::FsError> {
    use crate::safe_fs::{self, Dir, FsError, Trust};
    let (dir, name) = safe_fs::split(path)?;
    let dir = Dir::create(dir, Trust::Shared, 0o755, None)?;
    dir.replace(name, bytes, 0o644, None).map_err(|source| FsError::Io {
        path: path.to_path_buf(),
        op: "write",
        source,
    })
}

/// Removes an http-01 challenge file and journals it (a warning if it cannot
/// be removed: the authorization is done either way).
pub fn remove_challenge_file(ctx: &mut Ctx<'_>, file: &Path) {
    match remove_file(file) {
        Ok(removed) => {
            if removed {
                tracing::debug!("Removed http-01 challenge file {}", file.display());
            }
            if let Err(e) = ctx.note(Event::ChallengeFileRemoved { path: file.display().to_string() }) {
                ctx.report.error(e);
            }
        }
        Err(e) => ctx.report.warn(WarningCode::Auth, format!("http-01 challenge file not removed: {e}")),
    }
}

/// Challenges a stopped or killed run left behind (journaled as written or
/// added, never as removed): http-01 files are removed, dns-01 TXT records
/// deleted (found by their digest at the zone's update server, remote; the
/// zone's challenge file, local). Failures are warnings; the next run tries
/// again.
pub fn clear_leftovers(ctx: &mut Ctx<'_>) {
    let files: Vec<String> = ctx.state().challenge_files.iter().cloned().collect();
    for f in files {
        tracing::debug!("Removing the http-01 challenge file {f} a stopped run left");
        remove_challenge_file(ctx, Path::new(&f));
    }
    let mut by_zone: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (zone, owner, rtype, digest) in &ctx.state().dns_records {
        if rtype == "TXT" {
            by_zone.entry(zone.clone()).or_default().push((owner.clone(), digest.clone()));
        }
    }
    for (zone, records) in by_zone {
        let result = if ctx.config.zone_update_keys.contains_key(zone.trim_end_matches('.')) {
            clear_remote_leftovers(ctx, &zone, &records)
        } else {
            clear_local_leftovers(ctx, &zone, &records)
        };
        if let Err(e) = result {
            ctx.report.warn(WarningCode::Dns, format!("dns-01 challenges a stopped run left in zone {zone}: {e}"));
        }
    }
}

/// The leftover TXT records of a remote zone: their values are read back at
/// the update server and the ones whose digest the journal holds deleted.
fn clear_remote_leftovers(ctx: &mut Ctx<'_>, zone: &str, records: &[(String, String)]) -> R<()> {
    let resolver = resolver(ctx.config).map_err(AppError::dns(format!("zone {zone}")))?;
    let Remote { key, server } = remote(ctx.config, &resolver, zone)?.expect("zone has an update key");
    let mut deletes = Vec::new();
    let mut found = Vec::new();
    for (owner, digest) in records {
        let values = resolver.txt_values(server, owner).map_err(AppError::dns(format!("zone {zone}")))?;
        match values.into_iter().find(|v| &sha256_hex(v.as_bytes()) == digest) {
            Some(v) => {
                deletes.push(Record::txt(owner, CHALLENGE_TTL, &v));
                found.push((owner.clone(), v));
            }
            // Gone already (removed by hand, or the zone reloaded): forget it.
            None => {
                ctx.record(Event::dns_record(false, leftover(zone, owner, digest, Some(server), "remote")))?;
            }
        }
    }
    if !deletes.is_empty() {
        dns::update(server, zone, Some(&key), &[], &deletes, ctx.clock.now().secs())
            .map_err(AppError::dns(format!("zone {zone}")))?;
        for (owner, value) in found {
            ctx.record(txt_event(false, zone, &owner, &value, Some(server), "remote"))?;
        }
    }
    Ok(())
}

/// The leftover records of a locally updated zone: its challenge file goes
/// and the zone is reloaded.
fn clear_local_leftovers(ctx: &mut Ctx<'_>, zone: &str, records: &[(String, String)]) -> R<()> {
    let path = challenge_file(ctx.config, zone)?;
    remove_file(&path)?;
    for (owner, digest) in records {
        ctx.record(Event::dns_record(false, leftover(zone, owner, digest, None, "local")))?;
    }
    reload_zone(ctx, zone, "dns-01 challenges a stopped run left cleared")
}

/// A TXT record known by its digest only.
fn leftover(zone: &str, owner: &str, digest: &str, server: Option<SocketAddr>, mode: &str) -> DnsRecord {
    DnsRecord {
        zone: zone.to_string(),
        name: owner.to_string(),
        rtype: "TXT".into(),
        value_sha256: digest.to_string(),
        server: server.map(|s| s.to_string()),
        mode: mode.to_string(),
        usage: None,
        selector: None,
        matching: None,
        digest: None,
    }
}

/// Removes a challenge file; false when there was none.
pub(super) fn remove_file(path: &Path) -> Result<bool, crate::safe_fs::FsError> {
    use crate::safe_fs::{self, Dir, FsError, Trust};
    let (dir, name) = safe_fs::split(path)?;
    let dir = match Dir::open(dir, Trust::Shared) {
        Err(FsError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        other => other?,
    };
    dir.remove(name).map_err(|source| FsError::Io { path: path.to_path_buf(), op: "remove", source })
}

/// The delays between propagation checks: short first, then doubling up to `cap`.
pub fn check_delays(cap: Duration) -> impl Iterator<Item = Duration> {
    let cap = cap.max(Duration::from_millis(250));
    std::iter::successors(Some(Duration::from_millis(250)), move |d| Some((*d * 2).min(cap))).map(move |d| d.min(cap))
}

/// Every authoritative server of each zone, with the records it must serve.
fn servers_to_ask(
    ctx: &mut Ctx<'_>,
    resolver: &Resolver,
    published: &[(String, String, String)],
) -> Vec<(SocketAddr, String, String)> {
    let port = ctx.config.settings.name_server_port;
    let mut waiting = Vec::new();
    let zones: BTreeSet<&String> = published.iter().map(|(z, _, _)| z).collect();
    for zone in zones {
        match resolver.authoritative_servers(zone, port) {
            Ok(servers) => {
                let list: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
                tracing::debug!("Name servers of {zone}: {}", list.join(", "));
                for srv in servers {
                    let mine = published.iter().filter(|(z, _, _)| z == zone);
                    waiting.extend(mine.map(|(_, o, v)| (srv, o.clone(), v.clone())));
                }
            }
            Err(e) => ctx.report.warn(
                WarningCode::Dns,
                format!("cannot find the name servers of zone {zone} to check the challenge records: {e}"),
            ),
        }
    }
    waiting
}

/// Asks every authoritative server of each zone, directly, until all serve
/// every published value, within `max_dns_lookup_attempts` × `dns_lookup_delay`.
/// Values still missing then are a warning: the CA may see them anyway.
fn wait_for_propagation(ctx: &mut Ctx<'_>, resolver: &Resolver, published: &[(String, String, String)]) {
    let s = &ctx.config.settings;
    let cap = Duration::from_secs(s.dns_lookup_delay.max(1) as u64);
    let budget = cap * s.max_dns_lookup_attempts.max(1);
    let mut waiting = servers_to_ask(ctx, resolver, published);
    let start = ctx.clock.now();
    let elapsed = |ctx: &Ctx<'_>| Duration::from_micros((ctx.clock.now().micros() - start.micros()).max(0) as u64);
    let mut delays = check_delays(cap);
    loop {
        // One concurrent round per owner name, over the servers still missing something there.
        let owners: BTreeSet<String> = waiting.iter().map(|(_, o, _)| o.clone()).collect();
        let mut seen: BTreeSet<(SocketAddr, String, String)> = BTreeSet::new();
        for owner in owners {
            let servers: BTreeSet<SocketAddr> =
                waiting.iter().filter(|(_, o, _)| *o == owner).map(|(s, _, _)| *s).collect();
            let servers: Vec<SocketAddr> = servers.into_iter().collect();
            for (srv, r) in resolver.txt_values_each(&servers, &owner) {
                match r {
                    Ok(values) => seen.extend(values.into_iter().map(|v| (srv, owner.clone(), v))),
                    Err(e) => tracing::debug!("Challenge lookup of {owner} at {srv}: {e}"),
                }
            }
        }
        waiting.retain(|w| !seen.contains(w));
        if waiting.is_empty() {
            tracing::debug!("DNS challenges present at every name server after {:.2} s", elapsed(ctx).as_secs_f64());
            return;
        }
        let delay = delays.next().unwrap_or(cap);
        if elapsed(ctx) + delay > budget {
            break;
        }
        ctx.clock.sleep(delay);
        if crate::platform::stop_requested().is_some() {
            return; // the authorizations fail, the challenges are cleared
        }
    }
    for (srv, owner, _) in &waiting {
        ctx.report.warn(WarningCode::Dns, format!("maximum time reached waiting for DNS challenge {owner} at {srv}"));
    }
}

/// Removes the challenge records [`set_dns_challenges`] added (by RDATA, so
/// other TXT records at the same names stay), or the zone's challenge file.
/// Failures are warnings: the authorizations are done either way.
pub fn clear_dns_challenges(ctx: &mut Ctx<'_>, items: &[DnsChallenge]) {
    if items.is_empty() {
        return;
    }
    let resolver = resolver(ctx.config).ok();
    for (zone, group) in by_zone(items) {
        for c in &group {
            run_hook(ctx, Hook::ClearDnsChallenge, &[("domain", &c.fqdn), ("zone", &zone), ("challenge", &c.value)]);
        }
        let state = ctx.state();
        let ours: Vec<&DnsChallenge> = group
            .iter()
            .copied()
            .filter(|c| {
                let value = sha256_hex(c.value.as_bytes());
                state.dns_record_outstanding(&zone, &challenge_owner(&c.name), "TXT", &value)
            })
            .collect();
        let result = if ctx.config.zone_update_keys.contains_key(&zone) {
            clear_remote(ctx, resolver.as_ref(), &zone, &ours)
        } else {
            clear_local(ctx, &zone, &ours)
        };
        if let Err(e) = result {
            let message = format!("removing the dns-01 challenge records of zone {zone}: {e}");
            if matches!(e, AppError::Journal(_)) {
                ctx.report.error(AppError::Zone { zone: zone.clone(), detail: message });
            } else {
                ctx.report.warn(WarningCode::Dns, message);
            }
        }
        run_hook(ctx, Hook::DnsZoneUpdate, &[("zone", &zone)]);
    }
}

fn clear_remote(ctx: &mut Ctx<'_>, resolver: Option<&Resolver>, zone: &str, ours: &[&DnsChallenge]) -> R<()> {
    if ours.is_empty() {
        return Ok(());
    }
    let resolver = resolver.ok_or_else(|| no_resolver(zone))?;
    let Remote { key, server } = remote(ctx.config, resolver, zone)?.expect("zone has an update key");
    let deletes: Vec<Record> =
        ours.iter().map(|c| Record::txt(&challenge_owner(&c.name), CHALLENGE_TTL, &c.value)).collect();
    dns::update(server, zone, Some(&key), &[], &deletes, ctx.clock.now().secs())
        .map_err(AppError::dns(format!("zone {zone}")))?;
    tracing::debug!("Removed {} DNS challenge record(s) from zone {zone} at {server}", deletes.len());
    for c in ours {
        ctx.record(txt_event(false, zone, &challenge_owner(&c.name), &c.value, Some(server), "remote"))?;
    }
    Ok(())
}

fn clear_local(ctx: &mut Ctx<'_>, zone: &str, ours: &[&DnsChallenge]) -> R<()> {
    let path = challenge_file(ctx.config, zone)?;
    let existed = remove_file(&path)?;
    if !existed && ours.is_empty() {
        return Ok(());
    }
    tracing::debug!("Removed DNS challenge file {}", path.display());
    for c in ours {
        ctx.record(txt_event(false, zone, &challenge_owner(&c.name), &c.value, None, "local"))?;
    }
    reload_zone(ctx, zone, "dns-01 challenges cleared")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_delays() {
        assert_eq!(challenge_owner("*.Example.test"), "_acme-challenge.example.test.");
        assert_eq!(challenge_owner("www.example.test."), "_acme-challenge.www.example.test.");
        let d: Vec<u64> = check_delays(Duration::from_secs(2)).take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(d, [250, 500, 1000, 2000, 2000, 2000]);
        let d: Vec<u64> = check_delays(Duration::from_millis(100)).take(2).map(|d| d.as_millis() as u64).collect();
        assert_eq!(d, [250, 250]);
    }

    #[test]
    fn grouped_by_zone_without_duplicates() {
        let c = |fqdn: &str, zone: &str, v: &str| DnsChallenge {
            name: fqdn.trim_start_matches("*.").into(),
            fqdn: fqdn.into(),
            zone: zone.into(),
            value: v.into(),
        };
        let items = [
            c("example.test", "example.test", "a"),
            c("*.example.test", "example.test", "b"),
            c("x.other.test", "other.test.", "c"),
            c("example.test", "example.test", "a"),
        ];
        let g = by_zone(&items);
        assert_eq!(g.keys().collect::<Vec<_>>(), ["example.test", "other.test"]);
        assert_eq!(g["example.test"].len(), 2);
    }
}
