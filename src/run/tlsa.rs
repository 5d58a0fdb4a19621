//! TLSA records (RFC 6698) from `tlsa_records`: zones with a
//! `zone_update_keys` entry are made to hold exactly the configured set at
//! each name (one RFC 2136 UPDATE per zone adding what is missing, deleting
//! stale records by RDATA, nothing sent when already right); zones without
//! one are updated locally: `reload_zone_command <zone>` (not in follower mode).

use super::*;
use crate::config::TlsaZone;
use crate::dns::{self, Record};

/// One wanted TLSA record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The owner name `_<port>._<protocol>.<fqdn>.`, lower case.
pub(super) fn owner(port: u16, protocol: &str, fqdn: &str) -> String {
    format!("_{port}._{}.{}.", protocol.to_ascii_lowercase(), fqdn.trim_end_matches('.').to_ascii_lowercase())
}

/// What one certificate (all its key types) contributes: end-entity
/// certificates, public keys (primary, backup, previous) and the CA
/// certificates above them (chain and configured roots), as DER.
#[derive(Default)]
pub(super) struct Material {
    pub leaves: Vec<Vec<u8>>,
    pub spkis: Vec<Vec<u8>>,
    pub cas: Vec<Vec<u8>>,
}

fn push_unique(v: &mut Vec<Vec<u8>>, item: Vec<u8>) {
    if !v.contains(&item) {
        v.push(item);
    }
}

/// The TLSA records one configured entry wants, SHA-256 matching type.
pub(super) fn wanted_records(usage: u8, selector: u8, end_entity: bool, m: &Material) -> R<Vec<Tlsa>> {
    let mut data: Vec<Vec<u8>> = Vec::new();
    match (end_entity, selector) {
        (true, 1) => m.spkis.iter().for_each(|s| push_unique(&mut data, sha256(s))),
        (true, _) => m.leaves.iter().for_each(|c| push_unique(&mut data, sha256(c))),
        (false, 1) => {
            for c in &m.cas {
                let info =
                    crypto::parse_cert(c).map_err(|e| Failure::new(ErrorCode::Key, format!("CA certificate: {e}")))?;
                push_unique(&mut data, sha256(&info.spki_der));
            }
        }
        (false, _) => m.cas.iter().for_each(|c| push_unique(&mut data, sha256(c))),
    }
    Ok(data.into_iter().map(|data| Tlsa { usage, selector, matching: 1, data }).collect())
}

pub(super) fn read_key_spki(path: &Path) -> R<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let key = PrivateKey::from_pem(&bytes)
                .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", path.display())))?;
            Ok(Some(key.spki_der().to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::new(ErrorCode::Permission, format!("cannot read {}: {e}", path.display()))),
    }
}

fn cfg<T>(r: Result<T, crate::config::ConfigError>) -> R<T> {
    r.map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))
}

/// Reads the installed keys and certificates of one certificate.
fn material(config: &Config, spec: &PrivateKeySpec, cert: &CertificateSpec) -> R<Material> {
    let mut m = Material::default();
    let key_types: Vec<KeyType> = cert.key_types.iter().copied().filter(|kt| spec.key_types.contains(kt)).collect();
    for kt in key_types {
        for kind in [FileKind::PrivateKey, FileKind::BackupKey, FileKind::PreviousKey] {
            let Some(path) = cfg(config.file_path(kind, &spec.name, Some(kt)))? else { continue };
            match read_key_spki(&path)? {
                Some(spki) => push_unique(&mut m.spkis, spki),
                None if kind == FileKind::PrivateKey => {
                    return Err(Failure::new(
                        ErrorCode::Key,
                        format!("{} private key {} not found", kt.as_str().to_uppercase(), path.display()),
                    ))
                }
                None => {}
            }
        }
        let path = cfg(config.file_path(FileKind::Certificate, &cert.name, Some(kt)))?.ok_or_else(|| {
            Failure::new(ErrorCode::Config, "directories.certificate is null, but TLSA records need the certificates")
        })?;
        let bytes = std::fs::read(&path).map_err(|e| {
            Failure::new(
                ErrorCode::Config,
                format!("{} certificate {} not found: {e}", kt.as_str().to_uppercase(), path.display()),
            )
        })?;
        let mut ders = crypto::pem_to_ders(&bytes)
            .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", path.display())))?;
        let leaf = ders.remove(0);
        push_unique(&mut m.leaves, leaf);
        if ders.is_empty() {
            if let Some(chain_path) = cfg(config.file_path(FileKind::Chain, &cert.name, Some(kt)))? {
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
pub(super) type Wanted = BTreeMap<String, BTreeMap<String, (u32, BTreeSet<Tlsa>)>>;

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
    let (zone, name, rtype, value_sha256, server, mode) = (
        zone.to_string(),
        name.to_string(),
        "TLSA".to_string(),
        sha256_hex(text.as_bytes()),
        Some(server.to_string()),
        "remote".to_string(),
    );
    let (usage, selector, matching, digest) = (Some(t.usage), Some(t.selector), Some(t.matching), Some(hex(&t.data)));
    Event::dns_record(
        added,
        crate::events::DnsRecord { zone, name, rtype, value_sha256, server, mode, usage, selector, matching, digest },
    )
}

/// Makes the TLSA records of the certificates of `key_names` right: remote
/// zones synchronized record by record, local zones (the certificates'
/// `alt_names` and `tlsa_records` zones without an update key) reloaded.
pub(super) fn sync_tlsa(ctx: &mut Ctx<'_>, key_names: &[String]) {
    let mut wanted: Wanted = BTreeMap::new();
    let mut local: BTreeSet<String> = BTreeSet::new();
    let mut local_tlsa: BTreeSet<String> = BTreeSet::new();
    let config = ctx.config;
    let remote_zone = |z: &str| config.zone_update_keys.contains_key(z.trim_end_matches('.'));
    for key_name in key_names {
        let Some(spec) = config.private_key(key_name) else { continue };
        for cert in &spec.certificates {
            // A zone is updated locally unless it has an update key or every
            // name in it is authorized over http-01 (the manual, "Zone Update Keys").
            for z in &cert.alt_names {
                let uses_dns =
                    z.fqdns.iter().any(|f| f.starts_with("*.") || config.http_challenge_dir(f, &z.zone).is_none());
                if !remote_zone(&z.zone) && uses_dns {
                    local.insert(z.zone.clone());
                }
            }
            let remote_tlsa: Vec<TlsaZone> =
                cert.tlsa_records.iter().filter(|tz| remote_zone(&tz.zone)).cloned().collect();
            for tz in cert.tlsa_records.iter().filter(|tz| !remote_zone(&tz.zone)) {
                local.insert(tz.zone.clone());
                local_tlsa.insert(tz.zone.clone());
            }
            if remote_tlsa.is_empty() {
                continue;
            }
            match material(config, spec, cert).and_then(|m| add_wanted(&mut wanted, &remote_tlsa, &m)) {
                Ok(()) => {}
                Err(f) => ctx
                    .outcome
                    .error(Failure::new(f.code, format!("TLSA records of certificate {}: {}", cert.name, f.message))),
            }
        }
    }
    for (zone, owners) in &wanted {
        if let Err(message) = sync_zone(ctx, zone, owners) {
            ctx.outcome.error(Failure::new(ErrorCode::Dns, format!("TLSA records of zone {zone}: {message}")));
        }
    }
    if config.settings.follower_mode {
        return;
    }
    for zone in local {
        if config.settings.reload_zone_command.is_none() {
            if local_tlsa.contains(&zone) {
                ctx.outcome.warn(WarningCode::Config, format!("zone {zone} has TLSA records but neither a zone_update_keys entry nor settings.reload_zone_command"));
            }
            continue;
        }
        match reload_zone(ctx, &zone, "certificates changed") {
            Ok(()) => run_hook(ctx, "dns_zone_update", &[("zone", &zone)], &[]),
            Err(message) => ctx.outcome.warn(WarningCode::Dns, message),
        }
    }
}

/// After revocation: every TLSA record at the revoked certificates' TLSA names
/// in remote zones is removed (the wanted set is empty); local zones are
/// reloaded so the zone tool drops them.
pub(super) fn remove_tlsa(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec) {
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
        if let Err(message) = sync_zone(ctx, zone, owners) {
            ctx.outcome
                .error(Failure::new(ErrorCode::Dns, format!("removing the TLSA records of zone {zone}: {message}")));
        }
    }
    if config.settings.follower_mode || config.settings.reload_zone_command.is_none() {
        return;
    }
    for zone in local {
        match reload_zone(ctx, &zone, "certificates revoked") {
            Ok(()) => run_hook(ctx, "dns_zone_update", &[("zone", &zone)], &[]),
            Err(message) => ctx.outcome.warn(WarningCode::Dns, message),
        }
    }
}

/// Reads the zone's TLSA RRsets at the update server (its primary) and sends
/// one update with the difference, if there is any.
fn sync_zone(ctx: &mut Ctx<'_>, zone: &str, owners: &BTreeMap<String, (u32, BTreeSet<Tlsa>)>) -> Result<(), String> {
    let resolver = resolver(ctx.config).map_err(|e| e.to_string())?;
    let Some(Remote { key, server }) = remote(ctx.config, &resolver, zone)? else { return Ok(()) };
    let mut adds: Vec<(String, u32, Tlsa)> = Vec::new();
    let mut deletes: Vec<(String, u32, Tlsa)> = Vec::new();
    for (name, (ttl, want)) in owners {
        let have: BTreeSet<Tlsa> = resolver
            .tlsa_records(server, name)
            .map_err(|e| e.to_string())?
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
    dns::update(server, zone, Some(&key), &add_records, &delete_records, crate::time::now())
        .map_err(|e| e.to_string())?;
    tracing::info!("Updated TLSA records of zone {zone}: {} added, {} removed", adds.len(), deletes.len());
    let srv = server.to_string();
    for (name, _, t) in &deletes {
        ctx.record(tlsa_event(false, zone, name, t, &srv)).map_err(|f| f.message)?;
    }
    for (name, _, t) in &adds {
        ctx.record(tlsa_event(true, zone, name, t, &srv)).map_err(|f| f.message)?;
    }
    ctx.outcome.changed = true;
    run_hook(ctx, "dns_zone_update", &[("zone", zone)], &[]);
    Ok(())
}

/// `--tlsa`: the TLSA records of the selected keys' certificates.
pub(super) fn tlsa_mode(ctx: &mut Ctx<'_>) {
    let names: Vec<String> = match select_keys(ctx.config, &ctx.args.private_key_names) {
        Ok(s) => s.iter().map(|k| k.name.clone()).collect(),
        Err(f) => return ctx.outcome.error(f),
    };
    sync_tlsa(ctx, &names);
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
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], Tlsa { usage: 3, selector: 1, matching: 1, data: sha256(b"k1") });
        let r = wanted_records(1, 0, true, &m).unwrap();
        assert_eq!(hex(&r[0].data), crate::types::sha256_hex(b"leaf"));
        assert!(wanted_records(2, 0, false, &m).unwrap().is_empty());
    }
}
