//! TLSA records (RFC 6698) from `tlsa_records`: zones with a
//! `zone_update_keys` entry are made to hold exactly the configured set at
//! each name (one RFC 2136 UPDATE per zone adding what is missing, deleting
//! stale records by RDATA, nothing sent when already right); zones without
//! one are updated locally: `reload_zone_command <zone>` (not in follower mode).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::hooks::run_hook;
use super::secrets::{self, Passphrases};
use super::zones::{reload_zone, remote, resolver, Remote};
use crate::cli::WarningCode;
use crate::config::{CertificateSpec, Config, FileKind, PrivateKeySpec, TlsaZone};
use crate::crypto;
use crate::dns::{self, Record};
use crate::hooks::Hook;
use crate::journal::{DnsRecord, Event};
use crate::types::{hex, sha256_hex, KeyType};

/// One wanted TLSA record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().to_vec()
}

fn sha512(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, bytes).as_ref().to_vec()
}

/// The owner name `_<port>._<protocol>.<fqdn>.`, lower case.
pub fn owner(port: u16, protocol: &str, fqdn: &str) -> String {
    format!("_{port}._{}.{}.", protocol.to_ascii_lowercase(), fqdn.trim_end_matches('.').to_ascii_lowercase())
}

/// What one certificate (all its key types) contributes: end-entity
/// certificates, public keys (primary, backup, previous) and the CA
/// certificates above them (chain and configured roots), as DER.
#[derive(Default)]
pub struct Material {
    pub leaves: Vec<Vec<u8>>,
    pub spkis: Vec<Vec<u8>>,
    pub cas: Vec<Vec<u8>>,
}

fn push_unique(v: &mut Vec<Vec<u8>>, item: Vec<u8>) {
    if !v.contains(&item) {
        v.push(item);
    }
}

/// The TLSA records one configured entry wants: for each certificate or
/// public key, a SHA-256 (matching type 1) and a SHA-512 (matching type 2)
/// record, as the original writes them.
pub fn wanted_records(usage: u8, selector: u8, end_entity: bool, m: &Material) -> R<Vec<Tlsa>> {
    let mut items: Vec<Vec<u8>> = Vec::new();
    match (end_entity, selector) {
        (true, 1) => m.spkis.iter().for_each(|s| push_unique(&mut items, s.clone())),
        (true, _) => m.leaves.iter().for_each(|c| push_unique(&mut items, c.clone())),
        (false, 1) => {
            for c in &m.cas {
                let info = crypto::parse_cert(c).map_err(AppError::key("a CA certificate of the chain"))?;
                push_unique(&mut items, info.spki_der);
            }
        }
        (false, _) => m.cas.iter().for_each(|c| push_unique(&mut items, c.clone())),
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for item in items {
        out.push(Tlsa { usage, selector, matching: 1, data: sha256(&item) });
        out.push(Tlsa { usage, selector, matching: 2, data: sha512(&item) });
    }
    Ok(out)
}

/// The public key of a key file of `spec`, if the file is there.
pub fn read_key_spki(pp: &Passphrases, spec: &PrivateKeySpec, path: &Path) -> R<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(secrets::read_key(pp, spec, path, &bytes)?.spki_der().to_vec())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::file(path, "read")(e)),
    }
}

/// Reads the installed keys and certificates of one certificate.
fn material(config: &Config, pp: &Passphrases, spec: &PrivateKeySpec, cert: &CertificateSpec) -> R<Material> {
    let mut m = Material::default();
    let key_types: Vec<KeyType> = cert.key_types.iter().copied().filter(|kt| spec.key_types.contains(kt)).collect();
    for kt in key_types {
        for kind in [FileKind::PrivateKey, FileKind::BackupKey, FileKind::PreviousKey] {
            let Some(path) = config.file_path(kind, &spec.name, Some(kt))? else { continue };
            match read_key_spki(pp, spec, &path)? {
                Some(spki) => push_unique(&mut m.spkis, spki),
                None if kind == FileKind::PrivateKey => {
                    let detail = format!("{} private key not found", kt.as_str().to_uppercase());
                    return Err(AppError::KeyMismatch { path, detail });
                }
                None => {}
            }
        }
        let path = config.file_path(FileKind::Certificate, &cert.name, Some(kt))?.ok_or_else(|| {
            AppError::setting("directories.certificate", "is null, but TLSA records need the certificates")
        })?;
        let bytes = std::fs::read(&path).map_err(AppError::file(&path, "read the certificate"))?;
        let mut ders = crypto::pem_to_ders(&bytes).map_err(AppError::key(&path))?;
        if ders.is_empty() {
            return Err(AppError::KeyMismatch { path, detail: "holds no certificate".into() });
        }
        push_unique(&mut m.leaves, ders.remove(0));
        if ders.is_empty() {
            if let Some(chain_path) = config.file_path(FileKind::Chain, &cert.name, Some(kt))? {
                if let Ok(chain) = std::fs::read(&chain_path) {
                    ders = crypto::pem_to_ders(&chain).unwrap_or_default();
                }
            }
        }
        for d in ders {
            push_unique(&mut m.cas, d);
        }
        if let Ok(root) = std::fs::read(config.root_cert_path(kt)) {
            for d in crypto::pem_to_ders(&root).unwrap_or_default() {
                push_unique(&mut m.cas, d);
            }
        }
    }
    Ok(m)
}

/// zone → owner → (ttl, wanted records).
pub type Wanted = BTreeMap<String, BTreeMap<String, (u32, BTreeSet<Tlsa>)>>;

fn add_wanted(wanted: &mut Wanted, zones: &[TlsaZone], m: &Material) -> R<()> {
    for tz in zones {
        let zone = wanted.entry(tz.zone.trim_end_matches('.').to_ascii_lowercase()).or_default();
        for r in &tz.records {
            let entry = zone.entry(owner(r.port, &r.protocol, &r.fqdn)).or_insert_with(|| (r.ttl, BTreeSet::new()));
            entry.1.extend(wanted_records(r.usage.number(), r.selector.number(), r.usage.is_end_entity(), m)?);
        }
    }
    Ok(())
}

fn tlsa_event(added: bool, zone: &str, name: &str, t: &Tlsa, server: &str) -> Event {
    let text = format!("{} {} {} {}", t.usage, t.selector, t.matching, hex(&t.data));
    Event::dns_record(
        added,
        DnsRecord {
            zone: zone.to_string(),
            name: name.to_string(),
            rtype: "TLSA".into(),
            value_sha256: sha256_hex(text.as_bytes()),
            server: Some(server.to_string()),
            mode: "remote".into(),
            usage: Some(t.usage),
            selector: Some(t.selector),
            matching: Some(t.matching),
            digest: Some(hex(&t.data)),
        },
    )
}

/// What the certificates of some keys want: the records of remote zones, and
/// the zones updated locally (those with TLSA records noted).
#[derive(Default)]
struct Zones {
    wanted: Wanted,
    local: BTreeSet<String>,
    local_tlsa: BTreeSet<String>,
}

/// The local zones of the certificates of `key_names` (no records read).
fn zones_of_local(ctx: &mut Ctx<'_>, key_names: &[String]) -> Zones {
    zones_with(ctx, key_names, false)
}

fn zones_of(ctx: &mut Ctx<'_>, key_names: &[String]) -> Zones {
    zones_with(ctx, key_names, true)
}

fn zones_with(ctx: &mut Ctx<'_>, key_names: &[String], remote_records: bool) -> Zones {
    let config = ctx.config;
    let mut z = Zones::default();
    let remote_zone = |zone: &str| config.zone_update_keys.contains_key(zone.trim_end_matches('.'));
    for spec in key_names.iter().filter_map(|k| config.private_key(k)) {
        for cert in &spec.certificates {
            // A zone is updated locally unless it has an update key or every
            // name in it is authorized over http-01 (the manual, "Zone Update Keys").
            for names in &cert.alt_names {
                let uses_dns = names
                    .fqdns
                    .iter()
                    .any(|f| f.starts_with("*.") || config.http_challenge_dir(f, &names.zone).is_none());
                if !remote_zone(&names.zone) && uses_dns {
                    z.local.insert(names.zone.clone());
                }
            }
            let remote_tlsa: Vec<TlsaZone> =
                cert.tlsa_records.iter().filter(|tz| remote_zone(&tz.zone)).cloned().collect();
            for tz in cert.tlsa_records.iter().filter(|tz| !remote_zone(&tz.zone)) {
                z.local.insert(tz.zone.clone());
                z.local_tlsa.insert(tz.zone.clone());
            }
            if remote_tlsa.is_empty() || !remote_records {
                continue;
            }
            if let Err(e) =
                material(config, &ctx.passphrases, spec, cert).and_then(|m| add_wanted(&mut z.wanted, &remote_tlsa, &m))
            {
                ctx.report.error(e.about(format!("TLSA records of certificate {}", cert.name)));
            }
        }
    }
    z
}

/// Makes the TLSA records of the certificates of `key_names` right: remote
/// zones synchronized record by record, local zones (the certificates'
/// `alt_names` and `tlsa_records` zones without an update key) reloaded.
pub fn sync_tlsa(ctx: &mut Ctx<'_>, key_names: &[String]) {
    sync_tlsa_of(ctx, key_names, key_names);
}

/// Every run: the remote TLSA records of every key in `checked` that has
/// them are read back and mended if someone or something changed them (one
/// query per owner name; nothing is sent when the zone is right), and the
/// local zones of the keys in `installed` (certificates changed) are
/// reloaded. Keys without TLSA records in a remote zone cost nothing.
pub fn sync_tlsa_of(ctx: &mut Ctx<'_>, checked: &[String], installed: &[String]) {
    let config = ctx.config;
    let has_remote = |k: &&String| {
        config.private_key(k).is_some_and(|spec| {
            spec.certificates.iter().any(|c| {
                c.tlsa_records.iter().any(|tz| config.zone_update_keys.contains_key(tz.zone.trim_end_matches('.')))
            })
        })
    };
    let mut remote: Vec<String> = checked.iter().filter(has_remote).cloned().collect();
    for k in installed.iter().filter(has_remote) {
        if !remote.contains(k) {
            remote.push(k.clone());
        }
    }
    if !remote.is_empty() {
        let zones = zones_of(ctx, &remote);
        for (zone, owners) in &zones.wanted {
            if let Err(e) = sync_zone(ctx, zone, owners) {
                ctx.report.error(e.about(format!("TLSA records of zone {zone}")));
            }
        }
    }
    if ctx.config.settings.follower_mode || installed.is_empty() {
        return;
    }
    let zones = zones_of_local(ctx, installed);
    for zone in zones.local {
        if ctx.config.settings.reload_zone_command.is_none() {
            if zones.local_tlsa.contains(&zone) {
                let message = format!(
                    "zone {zone} has TLSA records but neither a zone_update_keys entry nor settings.reload_zone_command"
                );
                ctx.report.warn(WarningCode::Config, message);
            }
            continue;
        }
        reload_local(ctx, &zone, "certificates changed");
    }
}

fn reload_local(ctx: &mut Ctx<'_>, zone: &str, reason: &str) {
    match reload_zone(ctx, zone, reason) {
        Ok(()) => run_hook(ctx, Hook::DnsZoneUpdate, &[("zone", zone)]),
        Err(e @ AppError::Journal(_)) => ctx.report.error(e),
        Err(e) => ctx.report.warn(WarningCode::Dns, e),
    }
}

/// After revocation: every TLSA record at the revoked certificates' TLSA names
/// in remote zones is removed (the wanted set is empty); local zones are
/// reloaded so the zone tool drops them.
pub fn remove_tlsa(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec) {
    let config = ctx.config;
    let mut wanted: Wanted = BTreeMap::new();
    let mut local: BTreeSet<String> = BTreeSet::new();
    for cert in &spec.certificates {
        for tz in &cert.tlsa_records {
            let zone = tz.zone.trim_end_matches('.').to_ascii_lowercase();
            if !config.zone_update_keys.contains_key(&zone) {
                local.insert(zone);
                continue;
            }
            let z = wanted.entry(zone).or_default();
            for r in &tz.records {
                z.entry(owner(r.port, &r.protocol, &r.fqdn)).or_insert_with(|| (r.ttl, BTreeSet::new()));
            }
        }
    }
    for (zone, owners) in &wanted {
        if let Err(e) = sync_zone(ctx, zone, owners) {
            ctx.report.error(e.about(format!("removing the TLSA records of zone {zone}")));
        }
    }
    if config.settings.follower_mode || config.settings.reload_zone_command.is_none() {
        return;
    }
    for zone in local {
        reload_local(ctx, &zone, "certificates revoked");
    }
}

/// Reads the zone's TLSA RRsets at the update server (its primary) and sends
/// one update with the difference, if there is any.
fn sync_zone(ctx: &mut Ctx<'_>, zone: &str, owners: &BTreeMap<String, (u32, BTreeSet<Tlsa>)>) -> R<()> {
    let resolver = resolver(ctx.config).map_err(AppError::dns(format!("zone {zone}")))?;
    let Some(Remote { key, server }) = remote(ctx.config, &resolver, zone)? else { return Ok(()) };
    let mut adds: Vec<(String, u32, Tlsa)> = Vec::new();
    let mut deletes: Vec<(String, u32, Tlsa)> = Vec::new();
    for (name, (ttl, want)) in owners {
        let have: BTreeSet<Tlsa> = resolver
            .tlsa_records(server, name)
            .map_err(AppError::dns(format!("zone {zone}")))?
            .into_iter()
            .map(|(usage, selector, matching, data)| Tlsa { usage, selector, matching, data })
            .collect();
        adds.extend(want.difference(&have).map(|t| (name.clone(), *ttl, t.clone())));
        deletes.extend(have.difference(want).map(|t| (name.clone(), *ttl, t.clone())));
    }
    if adds.is_empty() && deletes.is_empty() {
        tracing::debug!("TLSA records of zone {zone} are up to date");
        return Ok(());
    }
    let rec = |(name, ttl, t): &(String, u32, Tlsa)| {
        Record::tlsa(name, *ttl, t.usage, t.selector, t.matching, t.data.clone())
    };
    let add_records: Vec<Record> = adds.iter().map(rec).collect();
    let delete_records: Vec<Record> = deletes.iter().map(rec).collect();
    dns::update(server, zone, Some(&key), &add_records, &delete_records, ctx.clock.now().secs())
        .map_err(AppError::dns(format!("zone {zone}")))?;
    tracing::info!("Updated TLSA records of zone {zone}: {} added, {} removed", adds.len(), deletes.len());
    let srv = server.to_string();
    for (name, _, t) in &deletes {
        ctx.record(tlsa_event(false, zone, name, t, &srv))?;
    }
    for (name, _, t) in &adds {
        ctx.record(tlsa_event(true, zone, name, t, &srv))?;
    }
    ctx.report.changed = true;
    run_hook(ctx, Hook::DnsZoneUpdate, &[("zone", zone)]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_and_digests() {
        assert_eq!(owner(443, "tcp", "WWW.example.test"), "_443._tcp.www.example.test.");
        let m = Material {
            leaves: vec![b"leaf".to_vec()],
            spkis: vec![b"k1".to_vec(), b"k2".to_vec(), b"k1".to_vec()],
            cas: vec![],
        };
        let r = wanted_records(3, 1, true, &m).unwrap();
        assert_eq!(r.len(), 4, "SHA-256 and SHA-512 of two keys, as the original writes them");
        assert_eq!(r[0], Tlsa { usage: 3, selector: 1, matching: 1, data: sha256(b"k1") });
        assert_eq!(r[1], Tlsa { usage: 3, selector: 1, matching: 2, data: sha512(b"k1") });
        let r = wanted_records(1, 0, true, &m).unwrap();
        assert_eq!(hex(&r[0].data), crate::types::sha256_hex(b"leaf"));
        // SHA-512 of "leaf", computed independently (Python hashlib).
        assert_eq!(
            hex(&r[1].data),
            "ee5e18c6c2600d63953682653e46c34efe18da9f3552ade86cb623e0f81e03f4\
             1ac6a276923bcdc9529106c0ebb85b17ebfb5859c15d3dcad2196aa8d753ab53"
        );
        assert!(wanted_records(2, 0, false, &m).unwrap().is_empty());
    }
}
