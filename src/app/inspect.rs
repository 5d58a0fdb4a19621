//! Inspecting one private key: what is on disk, what the journal knows, what
//! has to be generated, adopted, rolled over or issued.

use std::collections::BTreeMap;

use super::ari::{ari_reason, replaces_id};
use super::ctx::Ctx;
use super::error::{AppError, R};
use super::hpkp;
use super::maintenance;
use super::outside;
use super::plan::{read_optional, read_private, CertWork, Found, KeyPlan, KeySlot};
use super::secrets;
use crate::cli::WarningCode;
use crate::config::{CertificateSpec, FileKind, Passphrase, PrivateKeySpec};
use crate::crypto;
use crate::journal::{CertFacts, CertState, Event};
use crate::renew::{self, Reason};
use crate::rollover;
use crate::time::{Time, DAY};
use crate::types::{sha256_hex, KeyRole, KeyType};

pub fn inspect_key<'c>(ctx: &mut Ctx<'_>, spec: &'c PrivateKeySpec) -> R<KeyPlan<'c>> {
    let mut slots = BTreeMap::new();
    let mut primary_params = BTreeMap::new();
    for &kt in &spec.key_types {
        for role in [KeyRole::Primary, KeyRole::Backup] {
            let kind = if role == KeyRole::Primary { FileKind::PrivateKey } else { FileKind::BackupKey };
            let Some(path) = ctx.config.file_path(kind, &spec.name, Some(kt))? else { continue };
            let slot = match read_private(&path)? {
                Some(found) => {
                    let params = crypto::key_params_from_pem(&found.bytes);
                    let encrypted = crypto::is_encrypted_pem(&found.bytes);
                    let (path, bytes) = (found.path.clone(), found.bytes.clone());
                    let mut slot = known_or_adopted_key(ctx, spec, kt, role, found)?;
                    // A passphrase set for a key written without one: the
                    // same key is written again, encrypted.
                    if !encrypted && !matches!(spec.key_passphrase, Passphrase::None) {
                        if slot.key.is_none() {
                            slot.key = Some(secrets::read_key(&ctx.passphrases, spec, &path, &bytes)?);
                        }
                        tracing::debug!(
                            "Encrypting the {} {} key {}",
                            kt.as_str().to_uppercase(),
                            role.as_str(),
                            spec.name
                        );
                        slot.rewrite = true;
                    }
                    if role == KeyRole::Primary {
                        // An encrypted key's size or curve is known once it is decrypted.
                        let params = match (&slot.key, encrypted) {
                            (_, false) => params,
                            (Some(key), true) => secrets::key_params(key),
                            // Known without the passphrase from its certificate's
                            // public key (no key derivation on every run).
                            (None, true) => match params_from_certificates(ctx, spec, kt, &slot.spki_sha256)? {
                                Some(p) => Some(p),
                                None => secrets::key_params(&secrets::read_key(&ctx.passphrases, spec, &path, &bytes)?),
                            },
                        };
                        primary_params.insert(kt, params);
                    }
                    slot
                }
                None => KeySlot::missing(path),
            };
            slots.insert((kt, role), slot);
        }
    }
    // Decided once the keys on disk are known (an adopted key's age counts).
    let roll = rollover_decision(ctx, spec) == rollover::Decision::Roll;
    for &kt in &spec.key_types {
        let params = primary_params.get(&kt).copied().flatten();
        let replace = !roll && params.is_some_and(|p| params_changed(ctx, spec, p));
        promote_backup(ctx, spec, kt, roll || replace, &mut slots)?;
        if replace && !slots.get(&(kt, KeyRole::Primary)).is_some_and(|s| s.is_new) {
            // No backup to roll over to: a new primary key of the configured
            // size or curve (the old one is archived by the transaction).
            let path = slots.get(&(kt, KeyRole::Primary)).expect("primary slot").path.clone();
            tracing::debug!("Replacing the {} key of {}", kt.as_str().to_uppercase(), spec.name);
            slots.insert((kt, KeyRole::Primary), KeySlot::missing(path));
        }
    }
    let mut work = Vec::new();
    for cert in &spec.certificates {
        for &kt in &cert.key_types {
            let Some(primary) = slots.get(&(kt, KeyRole::Primary)) else { continue };
            let reason = if primary.promoted.is_some() {
                Some(Reason::KeyRolledOver)
            } else if primary.is_new {
                Some(Reason::Missing)
            } else {
                let spki = primary.spki_sha256.clone();
                cert_reason(ctx, spec, cert, kt, &spki)?
            };
            if let Some(reason) = reason {
                let replaces = replaces_id(ctx.state(), &cert.name, kt);
                work.push(CertWork { cert: cert.clone(), key_type: kt, reason, replaces });
            }
        }
    }
    // Keys to write: the passphrase is asked for now, before the CA is.
    if slots.values().any(|s| s.is_new || s.rewrite) || !work.is_empty() {
        ctx.passphrases.for_writing(spec)?;
    }
    let mut plan = KeyPlan { spec, slots, work, hpkp_stale: false };
    plan.hpkp_stale = hpkp::stale(ctx.config, &ctx.passphrases, &plan)?;
    Ok(plan)
}

/// The size or curve of the key whose SPKI digest is `spki_sha256`, read
/// from an installed certificate of it (`None` when none is installed).
fn params_from_certificates(
    ctx: &Ctx<'_>,
    spec: &PrivateKeySpec,
    kt: KeyType,
    spki_sha256: &str,
) -> R<Option<crypto::KeyParams>> {
    for cert in spec.certificates.iter().filter(|c| c.key_types.contains(&kt)) {
        let Some(path) = ctx.config.file_path(FileKind::Certificate, &cert.name, Some(kt))? else { continue };
        let Some(found) = read_optional(&path)? else { continue };
        let Some(der) = crypto::pem_to_ders(&found.bytes).ok().and_then(|d| d.into_iter().next()) else { continue };
        let Ok(leaf) = crypto::parse_cert(&der) else { continue };
        if sha256_hex(&leaf.spki_der) == spki_sha256 {
            return Ok(crypto::key_params_from_spki(&leaf.spki_der));
        }
    }
    Ok(None)
}

/// Whether the primary key's size or curve differs from the configuration and
/// the key is to be replaced, as the original does: when a rollover is safe
/// for HPKP (or `--force`); otherwise a key warning says why it waits.
fn params_changed(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec, have: crypto::KeyParams) -> bool {
    if spec.key_provided {
        return false;
    }
    let (matches, wanted) = match have {
        crypto::KeyParams::Rsa(bits) => {
            let want = spec.rsa_key_size.unwrap_or(4096);
            (bits == want || bits == crypto::rsa_generation_bits(want), format!("{want} bits"))
        }
        crypto::KeyParams::Ec(curve) => {
            let want = spec.ecdsa_curve.unwrap_or(crate::types::Curve::P384);
            (curve == want, format!("curve {}", want.as_str()))
        }
    };
    if matches {
        return false;
    }
    let kt = match have {
        crypto::KeyParams::Rsa(_) => "RSA",
        crypto::KeyParams::Ec(_) => "ECDSA",
    };
    tracing::debug!("Private {kt} key {} is not {wanted}", spec.name);
    let youngest = backup_ages(ctx, spec).into_iter().min();
    match rollover::unsafe_by(youngest, spec.hpkp_days) {
        Some(by) if !ctx.opts.force => {
            let by = if by > 0 { format!(" by {}", rollover::days(by)) } else { String::new() };
            let message = format!(
                "A backup private key for {} is younger than the HPKP duration{by}, so its {kt} key is not \
                 replaced with one of {wanted} yet. Use \"--force\" to force the rollover; note that this can brick \
                 a web site where HPKP is deployed",
                spec.name
            );
            ctx.report.warn(WarningCode::Key, message);
            false
        }
        _ => true,
    }
}

/// No primary key but a backup (after --revoke, or a primary removed by hand),
/// or a rollover (--rollover, auto_rollover): the backup becomes the primary,
/// a new backup is made, the old primary becomes the previous key.
fn promote_backup(
    ctx: &Ctx<'_>,
    spec: &PrivateKeySpec,
    kt: KeyType,
    roll: bool,
    slots: &mut BTreeMap<(KeyType, KeyRole), KeySlot>,
) -> R<()> {
    let primary_missing = slots.get(&(kt, KeyRole::Primary)).is_some_and(|s| s.is_new);
    let backup_present = slots.get(&(kt, KeyRole::Backup)).is_some_and(|s| !s.is_new);
    if !(primary_missing || roll) || !backup_present {
        return Ok(());
    }
    let previous_pem = match slots.get(&(kt, KeyRole::Primary)) {
        Some(p) if !p.is_new => read_private(&p.path)?.map(|f| f.bytes),
        _ => None,
    };
    let mut backup = slots.remove(&(kt, KeyRole::Backup)).expect("backup slot");
    let key = match backup.key.take() {
        Some(k) => k,
        None => {
            let missing = || AppError::file(&backup.path, "read")(std::io::ErrorKind::NotFound.into());
            let bytes = read_private(&backup.path)?.ok_or_else(missing)?.bytes;
            secrets::read_key(&ctx.passphrases, spec, &backup.path, &bytes)?
        }
    };
    let previous = ctx.state().key(&spec.name, kt, KeyRole::Primary).map(|k| k.spki_sha256.clone());
    let primary = slots.get_mut(&(kt, KeyRole::Primary)).expect("primary slot");
    primary.spki_sha256 = backup.spki_sha256.clone();
    primary.key = Some(key);
    primary.promoted = Some(previous);
    primary.is_new = true;
    primary.previous_pem = previous_pem;
    tracing::debug!("Rolling {} private key {} over to its backup key", kt.as_str().to_uppercase(), spec.name);
    slots.insert((kt, KeyRole::Backup), KeySlot::missing(backup.path));
    Ok(())
}

/// A key file the journal installed is trusted as it is; any other is parsed
/// and, if the journal did not know it, adopted (journaled, never regenerated).
fn known_or_adopted_key(
    ctx: &mut Ctx<'_>,
    spec: &PrivateKeySpec,
    kt: KeyType,
    role: KeyRole,
    found: Found,
) -> R<KeySlot> {
    let known = ctx.state().key(&spec.name, kt, role).cloned();
    let file_known = ctx.state().file(&found.path).is_some_and(|f| f.sha256 == found.sha256);
    if let (Some(k), true) = (&known, file_known) {
        let slot = KeySlot::missing(found.path);
        return Ok(KeySlot { spki_sha256: k.spki_sha256.clone(), is_new: false, ..slot });
    }
    let key = secrets::read_key(&ctx.passphrases, spec, &found.path, &found.bytes)
        .map_err(|e| e.about(format!("{} key file", role.as_str())))?;
    if key.key_type() != kt {
        let detail = format!("holds a {} key where a {kt} key belongs", key.key_type());
        return Err(AppError::KeyMismatch { path: found.path, detail });
    }
    let spki = key.spki_sha256_hex();
    // The same key, its file rewritten (e.g. re-encoded): nothing to record.
    if known.as_ref().map(|k| k.spki_sha256 != spki).unwrap_or(true) {
        tracing::debug!(
            "Adopted existing {} {} key {} ({})",
            kt.as_str().to_uppercase(),
            role.as_str(),
            spec.name,
            found.path.display()
        );
        ctx.note(Event::KeyAdopted {
            key: spec.name.clone(),
            key_type: kt,
            role,
            spki_sha256: spki.clone(),
            path: found.path.display().to_string(),
            sha256: found.sha256.clone(),
            modified: modified_time(&found.path),
        })?;
    }
    take_over_if_valid(ctx, &found.path)?;
    Ok(KeySlot { spki_sha256: spki, key: Some(key), is_new: false, ..KeySlot::missing(found.path) })
}

/// A file acmebot installed, now different (changed outside acmebot): taken
/// over when it is valid for its names and key (see `outside`); otherwise
/// the run replaces it as it would a missing or wrong one.
fn take_over_if_valid(ctx: &mut Ctx<'_>, path: &std::path::Path) -> R<()> {
    if ctx.state().file(path).is_none() {
        return Ok(());
    }
    if let Ok(what) = outside::judge(ctx.config, &ctx.passphrases, path, ctx.now) {
        maintenance::take_over(ctx, path, &what)?;
    }
    Ok(())
}

/// A file's modification time: an adopted key's age counts from there, as
/// the original's does (a key the original made two years ago is due for
/// `expiration_days` as it would have been there).
fn modified_time(path: &std::path::Path) -> Option<Time> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Time::from_secs(i64::try_from(secs).ok()?))
}

/// Why the installed certificate of one name and key type must be issued
/// again, if it must.
fn cert_reason(
    ctx: &mut Ctx<'_>,
    spec: &PrivateKeySpec,
    cert: &CertificateSpec,
    kt: KeyType,
    key_spki: &str,
) -> R<Option<Reason>> {
    let names = cert.all_names();
    let (renewal_days, forced, now) = (ctx.config.settings.renewal_days, ctx.opts.renew, ctx.now.secs());
    let Some(path) = ctx.config.file_path(FileKind::Certificate, &cert.name, Some(kt))? else {
        return Ok(None);
    };
    let Some(found) = read_optional(&path)? else {
        return Ok(renew::reason(None, &cert.common_name, &names, key_spki, renewal_days, forced, now));
    };
    let known = ctx.state().certificate(&cert.name, kt).cloned();
    let file_known = ctx.state().file(&path).is_some_and(|f| f.sha256 == found.sha256);
    let view = match (known, file_known) {
        (Some(c), true) => c,
        (known, _) => match adopt_certificate(ctx, spec, cert, kt, &found, known)? {
            Some(c) => {
                take_over_if_valid(ctx, &path)?;
                c
            }
            None => return Ok(Some(Reason::Missing)),
        },
    };
    let installed = renew::Installed {
        common_name: view.common_name.as_deref(),
        sans: &view.sans,
        spki_sha256: &view.spki_sha256,
        not_before: view.not_before.secs(),
        not_after: view.not_after.secs(),
    };
    let reason = renew::reason(Some(&installed), &cert.common_name, &names, key_spki, renewal_days, forced, now);
    // The profile configured now is not the one it was ordered with (known
    // for certificates this version ordered).
    let wanted_profile = cert.profile.clone().unwrap_or_default();
    let profile = view
        .profile
        .as_ref()
        .filter(|was| **was != wanted_profile)
        .map(|was| Reason::ProfileChanged { was: was.clone(), now: wanted_profile.clone() });
    Ok(reason.or(profile).or_else(|| ari_reason(ctx.state(), ctx.now, &cert.name, kt, &view.serial)))
}

/// A certificate file the journal did not install: parsed and journaled as
/// adopted. `None` when the file holds no certificate.
fn adopt_certificate(
    ctx: &mut Ctx<'_>,
    spec: &PrivateKeySpec,
    cert: &CertificateSpec,
    kt: KeyType,
    found: &Found,
    known: Option<CertState>,
) -> R<Option<CertState>> {
    let ders = crypto::pem_to_ders(&found.bytes).map_err(AppError::key(&found.path))?;
    let Some(leaf) = ders.first() else { return Ok(None) };
    let info = crypto::parse_cert(leaf).map_err(AppError::key(&found.path))?;
    if let Some(k) = known.filter(|k| k.serial == info.serial_hex) {
        // Adopted before (the journal has no file record of it): nothing new.
        return Ok(Some(k));
    }
    let what = kt.as_str().to_uppercase();
    tracing::debug!("Adopted existing {what} certificate {} ({})", cert.name, found.path.display());
    let facts = CertFacts {
        cert: cert.name.clone(),
        key: spec.name.clone(),
        key_type: kt,
        serial: info.serial_hex.clone(),
        common_name: info.subject_cn.clone(),
        not_before: Time::from_secs(info.not_before),
        not_after: Time::from_secs(info.not_after),
        sans: info.sans.clone(),
        issuer: info.issuer.clone(),
        order_url: None,
        spki_sha256: sha256_hex(&info.spki_der),
        profile: None,
    };
    let path = found.path.display().to_string();
    ctx.note(Event::CertificateAdopted { facts, path, sha256: found.sha256.clone() })?;
    Ok(ctx.state().certificate(&cert.name, kt).cloned())
}

/// Whether `spec` rolls over this run (see `rollover`); warns when a wanted
/// The ages in whole days of the key's backup keys the journal knows.
fn backup_ages(ctx: &Ctx<'_>, spec: &PrivateKeySpec) -> Vec<i64> {
    let now = ctx.now.secs();
    spec.key_types
        .iter()
        .filter_map(|&kt| ctx.state().key(&spec.name, kt, KeyRole::Backup))
        .map(|k| (now - k.since.secs()).max(0) / DAY)
        .collect()
}

/// rollover waits for the HPKP window, or the key expired with nobody asking.
pub fn rollover_decision(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec) -> rollover::Decision {
    let ages = backup_ages(ctx, spec);
    let input = rollover::Input {
        requested: ctx.opts.rollover,
        force: ctx.opts.force,
        auto_rollover: spec.auto_rollover,
        key_provided: spec.key_provided,
        expiration_days: spec.expiration_days,
        hpkp_days: spec.hpkp_days,
        oldest_backup_days: ages.iter().copied().max(),
        youngest_backup_days: ages.iter().copied().min(),
    };
    let decision = rollover::decide(&input);
    match decision {
        rollover::Decision::Refused { younger_by_days } => {
            let by =
                if younger_by_days > 0 { format!(" by {}", rollover::days(younger_by_days)) } else { String::new() };
            let message = format!(
                "A backup private key for {} is younger than the HPKP duration ({}){by}, rollover skipped. \
                 Use \"--force\" to force the rollover; note that this can brick a web site where HPKP is deployed",
                spec.name,
                rollover::days(i64::from(spec.hpkp_days.unwrap_or(0))),
            );
            ctx.report.warn(WarningCode::Key, message)
        }
        rollover::Decision::Expired => ctx.report.warn(
            WarningCode::Key,
            format!("Private key for {} has expired. Use \"--rollover\" to replace", spec.name),
        ),
        rollover::Decision::Keep | rollover::Decision::Roll => {}
    }
    decision
}
