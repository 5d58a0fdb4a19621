//! What dns-01 and TLSA share: the resolver, a zone's update key and server,
//! and local updates through `reload_zone_command`.

use std::net::SocketAddr;

use super::ctx::Ctx;
use super::error::{AppError, R};
use crate::config::{Config, Dir};
use crate::dns::{DnsError, Resolver, TsigKey};
use crate::hooks;
use crate::journal::Event;

/// The resolver of `settings.dns_resolvers`, else `/etc/resolv.conf`.
pub fn resolver(config: &Config) -> Result<Resolver, DnsError> {
    if config.settings.dns_resolvers.is_empty() {
        Resolver::from_settings(&[])
    } else {
        Ok(Resolver::new(config.settings.dns_resolvers.clone()))
    }
}

/// A zone updated remotely: its TSIG key and the server updates go to.
pub struct Remote {
    pub key: TsigKey,
    pub server: SocketAddr,
}

/// Loads the zone's key and finds its update server (configured, else SOA
/// MNAME); `None` for a zone without a `zone_update_keys` entry.
pub fn remote(config: &Config, resolver: &Resolver, zone: &str) -> R<Option<Remote>> {
    let Some(zk) = config.zone_update_keys.get(zone.trim_end_matches('.')) else { return Ok(None) };
    let base = config.dir(Dir::UpdateKey, &[]).ok().flatten().unwrap_or_else(|| config.config_dir.clone());
    let what = format!("zone {zone}");
    let key = TsigKey::load(&zk.file, &base).map_err(AppError::dns(what.clone()))?;
    let server = resolver
        .update_server(zone, zk.server.as_deref(), zk.port)
        .map_err(AppError::dns(format!("zone {zone}: cannot find the server for updates")))?;
    Ok(Some(Remote { key, server }))
}

/// Why a zone without an update key cannot be updated locally.
pub fn no_reload_command(zone: &str) -> AppError {
    AppError::setting(
        "settings.reload_zone_command",
        format!(
            "zone {zone} has no zone_update_keys entry, so it is updated locally, but no reload command is configured"
        ),
    )
}

/// Runs `reload_zone_command <zone>` (argv, no shell) and journals it.
pub fn reload_zone(ctx: &mut Ctx<'_>, zone: &str, reason: &str) -> R<()> {
    let Some(command) = ctx.config.settings.reload_zone_command.clone() else {
        return Err(no_reload_command(zone));
    };
    let mut argv =
        hooks::prepare(&command, &[]).map_err(|e| AppError::setting("settings.reload_zone_command", e.to_string()))?;
    argv.push(zone.to_string());
    tracing::debug!("Reloading zone {zone}: {}", argv.join(" "));
    let ran =
        hooks::run(&argv, &[]).map_err(|e| AppError::Zone { zone: zone.into(), detail: format!("reload: {e}") })?;
    let event = Event::ZoneReloaded {
        zone: zone.to_string(),
        program: argv[0].clone(),
        exit_code: ran.exit_code,
        reason: reason.into(),
    };
    ctx.record(event)?;
    if ran.exit_code != Some(0) {
        let detail = format!("failed to reload, code: {:?}\n{}", ran.exit_code, ran.output.trim_end());
        return Err(AppError::Zone { zone: zone.into(), detail });
    }
    if !ran.output.trim().is_empty() {
        tracing::debug!("{}", ran.output.trim_end());
    }
    Ok(())
}
