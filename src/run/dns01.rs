//! dns-01 challenges (RFC 8555 §8.4) for a batch of authorizations: the TXT
//! records of every zone set at once (one RFC 2136 UPDATE per zone with a
//! `zone_update_keys` entry, else the zone's challenge JSON file and
//! `reload_zone_command`), propagation confirmed at every authoritative
//! server, and afterwards only the records acmebot added removed.

use super::*;
use crate::dns::{self, DnsError, Record, Resolver, TsigKey};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One dns-01 challenge to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DnsChallenge {
    /// The identifier, without `*.`.
    pub name: String,
    /// The name as configured (`*.example.com` for a wildcard).
    pub fqdn: String,
    pub zone: String,
    /// base64url SHA-256 of the key authorization ([`crypto::dns01_txt_value`]).
    pub value: String,
}

/// TTL of challenge records, as the original and the manual.
const CHALLENGE_TTL: u32 = 300;

/// The owner name of a challenge record: `_acme-challenge.<name>.`.
pub(super) fn challenge_owner(name: &str) -> String {
    format!("_acme-challenge.{}.", name.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase())
}

/// The port authoritative name servers are asked on: 53, or `ACMEBOT_DNS_PORT`
/// (for test setups whose servers listen on an unprivileged port).
pub(super) fn query_port() -> u16 {
    std::env::var("ACMEBOT_DNS_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(53)
}

/// The resolver of `settings.dns_resolvers`, else `/etc/resolv.conf`.
pub(super) fn resolver(config: &Config) -> Result<Resolver, DnsError> {
    if config.settings.dns_resolvers.is_empty() {
        Resolver::from_settings(&[])
    } else {
        Ok(Resolver::new(config.settings.dns_resolvers.clone()))
    }
}

/// A zone updated remotely: its TSIG key and the server updates go to.
pub(super) struct Remote {
    pub key: TsigKey,
    pub server: SocketAddr,
}

/// Loads the zone's key and finds its update server (configured, else SOA MNAME).
pub(super) fn remote(config: &Config, resolver: &Resolver, zone: &str) -> Result<Option<Remote>, String> {
    let Some(zk) = config.zone_update_keys.get(zone.trim_end_matches('.')) else { return Ok(None) };
    let base = config.dir(Dir::UpdateKey, &[]).ok().flatten().unwrap_or_else(|| config.config_dir.clone());
    let key = TsigKey::load(&zk.file, &base).map_err(|e| format!("zone {zone}: {e}"))?;
    let server = resolver
        .update_server(zone, zk.server.as_deref(), zk.port)
        .map_err(|e| format!("zone {zone}: cannot find the server for updates: {e}"))?;
    Ok(Some(Remote { key, server }))
}

/// Runs `reload_zone_command <zone>` (argv, no shell) and journals it.
pub(super) fn reload_zone(ctx: &mut Ctx<'_>, zone: &str, reason: &str) -> Result<(), String> {
    let Some(command) = ctx.config.settings.reload_zone_command.clone() else {
        return Err(format!("zone {zone} has no zone_update_keys entry, so it is updated locally, but settings.reload_zone_command is not configured"));
    };
    let mut argv = hooks::prepare(&command, &[]).map_err(|e| format!("reload_zone_command: {e}"))?;
    argv.push(zone.to_string());
    tracing::debug!("Reloading zone {zone}: {}", argv.join(" "));
    let ran = hooks::run(&argv, &[]).map_err(|e| format!("reload of zone {zone}: {e}"))?;
    let _ = ctx.record(Event::ZoneReloaded {
        zone: zone.to_string(),
        program: argv[0].clone(),
        exit_code: ran.exit_code,
        reason: reason.to_string(),
    });
    if ran.exit_code != Some(0) {
        return Err(format!("failed to reload zone {zone}, code: {:?}\n{}", ran.exit_code, ran.output.trim_end()));
    }
    if !ran.output.trim().is_empty() {
        tracing::debug!("{}", ran.output.trim_end());
    }
    Ok(())
}

fn txt_event(added: bool, zone: &str, owner: &str, value: &str, server: Option<SocketAddr>, mode: &str) -> Event {
    let (zone, name, rtype, value_sha256, server, mode) = (
        zone.to_string(),
        owner.to_string(),
        "TXT".to_string(),
        sha256_hex(value.as_bytes()),
        server.map(|s| s.to_string()),
        mode.to_string(),
    );
    Event::dns_record(
        added,
        crate::events::DnsRecord {
            zone,
            name,
            rtype,
            value_sha256,
            server,
            mode,
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
pub(super) fn set_dns_challenges(ctx: &mut Ctx<'_>, items: &[DnsChallenge]) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    if items.is_empty() {
        return failed;
    }
    let resolver = match resolver(ctx.config) {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.outcome.warn(WarningCode::Dns, format!("no DNS resolver: {e}"));
            None
        }
    };
    // (zone, owner, value) that were published and must be seen.
    let mut published: Vec<(String, String, String)> = Vec::new();
    for (zone, group) in by_zone(items) {
        for c in &group {
            tracing::debug!("Setting DNS for {} = \"{}\"", challenge_owner(&c.name), c.value);
            run_hook(ctx, "set_dns_challenge", &[("domain", &c.fqdn), ("zone", &zone), ("challenge", &c.value)], &[]);
        }
        let result = if ctx.config.zone_update_keys.contains_key(&zone) {
            set_remote(ctx, resolver.as_ref(), &zone, &group)
        } else {
            set_local(ctx, &zone, &group)
        };
        match result {
            Ok(()) => published.extend(group.iter().map(|c| (zone.clone(), challenge_owner(&c.name), c.value.clone()))),
            Err(message) => {
                ctx.outcome.error(Failure::new(
                    ErrorCode::Dns,
                    format!(
                        "dns-01 for {}: {message}",
                        group.iter().map(|c| c.fqdn.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
                failed.extend(group.iter().map(|c| c.name.clone()));
            }
        }
        run_hook(ctx, "dns_zone_update", &[("zone", &zone)], &[]);
    }
    if let (Some(resolver), false) = (resolver, published.is_empty()) {
        wait_for_propagation(ctx, &resolver, &published);
    }
    failed
}

fn set_remote(
    ctx: &mut Ctx<'_>,
    resolver: Option<&Resolver>,
    zone: &str,
    group: &[&DnsChallenge],
) -> Result<(), String> {
    let resolver = resolver.ok_or_else(|| format!("zone {zone}: no DNS resolver to find the update server"))?;
    let Remote { key, server } = remote(ctx.config, resolver, zone)?.expect("zone has an update key");
    let adds: Vec<Record> =
        group.iter().map(|c| Record::txt(&challenge_owner(&c.name), CHALLENGE_TTL, &c.value)).collect();
    dns::update(server, zone, Some(&key), &adds, &[], crate::time::now()).map_err(|e| e.to_string())?;
    tracing::debug!("Set {} DNS challenge record(s) in zone {zone} at {server}", adds.len());
    for c in group {
        ctx.record(txt_event(true, zone, &challenge_owner(&c.name), &c.value, Some(server), "remote"))
            .map_err(|f| f.message)?;
    }
    Ok(())
}

fn challenge_file(config: &Config, zone: &str) -> Result<PathBuf, String> {
    config
        .file_path(FileKind::Challenge, zone, None)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("zone {zone} has no zone_update_keys entry, so it is updated locally, but directories.challenge or file_names.challenge is null"))
}

fn set_local(ctx: &mut Ctx<'_>, zone: &str, group: &[&DnsChallenge]) -> Result<(), String> {
    if ctx.config.settings.reload_zone_command.is_none() {
        return Err(format!("zone {zone} has no zone_update_keys entry, so it is updated locally, but settings.reload_zone_command is not configured"));
    }
    let path = challenge_file(ctx.config, zone)?;
    // One object: fqdn (wildcards keep their "*.") → value, as the manual says.
    let mut object = serde_json::Map::new();
    for c in group {
        object.insert(c.fqdn.clone(), serde_json::Value::String(c.value.clone()));
    }
    let text = serde_json::to_vec_pretty(&serde_json::Value::Object(object)).expect("json");
    write_file(&path, &text).map_err(|e| format!("cannot write the challenge file {}: {e}", path.display()))?;
    tracing::debug!("Wrote DNS challenge file {}", path.display());
    for c in group {
        ctx.record(txt_event(true, zone, &challenge_owner(&c.name), &c.value, None, "local")).map_err(|f| f.message)?;
    }
    reload_zone(ctx, zone, "dns-01 challenges set")
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The delays between propagation checks: short first, then doubling up to `cap`.
pub(super) fn check_delays(cap: Duration) -> impl Iterator<Item = Duration> {
    let cap = cap.max(Duration::from_millis(250));
    std::iter::successors(Some(Duration::from_millis(250)), move |d| Some((*d * 2).min(cap))).map(move |d| d.min(cap))
}

/// Asks every authoritative server of each zone, directly, until all serve
/// every published value, within `max_dns_lookup_attempts` × `dns_lookup_delay`.
/// Values still missing then are a warning: the CA may see them anyway.
fn wait_for_propagation(ctx: &mut Ctx<'_>, resolver: &Resolver, published: &[(String, String, String)]) {
    let s = &ctx.config.settings;
    let cap = Duration::from_secs(s.dns_lookup_delay.max(1) as u64);
    let budget = cap * s.max_dns_lookup_attempts.max(1);
    let port = query_port();
    // (server, owner, value) still to see.
    let mut waiting: Vec<(SocketAddr, String, String)> = Vec::new();
    let zones: BTreeSet<&String> = published.iter().map(|(z, _, _)| z).collect();
    for zone in zones {
        match resolver.authoritative_servers(zone, port) {
            Ok(servers) => {
                tracing::debug!(
                    "Name servers of {zone}: {}",
                    servers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                );
                for srv in servers {
                    waiting.extend(
                        published.iter().filter(|(z, _, _)| z == zone).map(|(_, o, v)| (srv, o.clone(), v.clone())),
                    );
                }
            }
            Err(e) => ctx.outcome.warn(
                WarningCode::Dns,
                format!("cannot find the name servers of zone {zone} to check the challenge records: {e}"),
            ),
        }
    }
    let start = Instant::now();
    let mut delays = check_delays(cap);
    loop {
        // One concurrent round per owner name, over the servers still missing something there.
        let owners: BTreeSet<String> = waiting.iter().map(|(_, o, _)| o.clone()).collect();
        let mut seen: BTreeSet<(SocketAddr, String, String)> = BTreeSet::new();
        for owner in owners {
            let servers: Vec<SocketAddr> = waiting
                .iter()
                .filter(|(_, o, _)| *o == owner)
                .map(|(s, _, _)| *s)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for (srv, r) in resolver.txt_values_each(&servers, &owner) {
                match r {
                    Ok(values) => seen.extend(values.into_iter().map(|v| (srv, owner.clone(), v))),
                    Err(e) => tracing::debug!("Challenge lookup of {owner} at {srv}: {e}"),
                }
            }
        }
        waiting.retain(|w| !seen.contains(w));
        if waiting.is_empty() {
            tracing::debug!("DNS challenges present at every name server after {:.2} s", start.elapsed().as_secs_f64());
            return;
        }
        let delay = delays.next().unwrap_or(cap);
        if start.elapsed() + delay > budget {
            break;
        }
        std::thread::sleep(delay);
    }
    for (srv, owner, _) in &waiting {
        ctx.outcome.warn(WarningCode::Dns, format!("maximum time reached waiting for DNS challenge {owner} at {srv}"));
    }
}

/// Whether the journal says acmebot added this TXT record and has not removed it.
fn outstanding(ctx: &Ctx<'_>, zone: &str, owner: &str, value: &str) -> bool {
    let sha = sha256_hex(value.as_bytes());
    for r in ctx.records.iter().rev() {
        let e = &r.event;
        if e["zone"] == zone && e["name"] == owner && e["rtype"] == "TXT" && e["value_sha256"] == sha.as_str() {
            match e["type"].as_str() {
                Some("dns_record_added") => return true,
                Some("dns_record_removed") => return false,
                _ => {}
            }
        }
    }
    false
}

/// Removes the challenge records [`set_dns_challenges`] added (by RDATA, so
/// other TXT records at the same names stay), or the zone's challenge file.
/// Failures are warnings: the authorizations are done either way.
pub(super) fn clear_dns_challenges(ctx: &mut Ctx<'_>, items: &[DnsChallenge]) {
    if items.is_empty() {
        return;
    }
    let resolver = resolver(ctx.config).ok();
    for (zone, group) in by_zone(items) {
        for c in &group {
            run_hook(ctx, "clear_dns_challenge", &[("domain", &c.fqdn), ("zone", &zone), ("challenge", &c.value)], &[]);
        }
        let ours: Vec<&DnsChallenge> =
            group.iter().copied().filter(|c| outstanding(ctx, &zone, &challenge_owner(&c.name), &c.value)).collect();
        let result = if ctx.config.zone_update_keys.contains_key(&zone) {
            clear_remote(ctx, resolver.as_ref(), &zone, &ours)
        } else {
            clear_local(ctx, &zone, &ours)
        };
        if let Err(message) = result {
            ctx.outcome
                .warn(WarningCode::Dns, format!("removing the dns-01 challenge records of zone {zone}: {message}"));
        }
        run_hook(ctx, "dns_zone_update", &[("zone", &zone)], &[]);
    }
}

fn clear_remote(
    ctx: &mut Ctx<'_>,
    resolver: Option<&Resolver>,
    zone: &str,
    ours: &[&DnsChallenge],
) -> Result<(), String> {
    if ours.is_empty() {
        return Ok(());
    }
    let resolver = resolver.ok_or_else(|| format!("zone {zone}: no DNS resolver to find the update server"))?;
    let Remote { key, server } = remote(ctx.config, resolver, zone)?.expect("zone has an update key");
    let deletes: Vec<Record> =
        ours.iter().map(|c| Record::txt(&challenge_owner(&c.name), CHALLENGE_TTL, &c.value)).collect();
    dns::update(server, zone, Some(&key), &[], &deletes, crate::time::now()).map_err(|e| e.to_string())?;
    tracing::debug!("Removed {} DNS challenge record(s) from zone {zone} at {server}", deletes.len());
    for c in ours {
        ctx.record(txt_event(false, zone, &challenge_owner(&c.name), &c.value, Some(server), "remote"))
            .map_err(|f| f.message)?;
    }
    Ok(())
}

fn clear_local(ctx: &mut Ctx<'_>, zone: &str, ours: &[&DnsChallenge]) -> Result<(), String> {
    let path = challenge_file(ctx.config, zone)?;
    let existed = match std::fs::remove_file(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("cannot remove the challenge file {}: {e}", path.display())),
    };
    if !existed && ours.is_empty() {
        return Ok(());
    }
    tracing::debug!("Removed DNS challenge file {}", path.display());
    for c in ours {
        ctx.record(txt_event(false, zone, &challenge_owner(&c.name), &c.value, None, "local"))
            .map_err(|f| f.message)?;
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
