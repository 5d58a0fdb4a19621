//! Installing: one file transaction per private key, declaring what it makes
//! true (keys installed or rolled over, certificates installed), then its
//! hooks.

use super::ctx::Ctx;
use super::error::R;
use super::hooks::Services;
use super::hpkp;
use super::issue::Issued;
use super::params;
use super::plan::{read_optional, KeyPlan, KeySlot};
use super::secrets::KeyWriting;
use super::staple::{self, CertFiles, Web, Which};
use super::writes::{commit_key, run_hooks, Install};
use crate::config::{Config, FileKind};
use crate::crypto::{self, PrivateKey};
use crate::hooks::Hook;
use crate::journal::{Effect, KeyRollover};
use crate::types::{KeyRole, KeyType};

/// Builds and commits the one transaction of a private key: new keys and every
/// file of every issued certificate; then runs the hooks and notes services.
pub fn install(
    ctx: &mut Ctx<'_>,
    plan: &KeyPlan<'_>,
    issued: Vec<Issued>,
    services: &mut Services,
    which: Which,
    web: &mut Web,
) -> R<()> {
    let cfg = ctx.config;
    let mut inst = Install::default();
    let writes_keys = plan.slots.values().any(|s| s.is_new || s.rewrite) || !issued.is_empty();
    let writing = match writes_keys {
        true => KeyWriting::of(&ctx.passphrases, plan.spec, cfg.settings.key_cipher.as_deref())?,
        false => KeyWriting::none(),
    };
    for (&(kt, role), slot) in plan.slots.iter().filter(|(_, s)| s.is_new) {
        add_key(ctx, plan, kt, role, slot, &writing, &mut inst)?;
    }
    for (&(kt, role), slot) in plan.slots.iter().filter(|(_, s)| s.rewrite && !s.is_new) {
        let key = slot.key.as_ref().expect("a key written again is loaded");
        let (kind, mode) = if role == KeyRole::Primary { ("private_key", 0o640) } else { ("backup_key", 0o600) };
        inst.write_key(slot.path.clone(), kind, kt, writing.pem(key)?.into_bytes(), mode, &writing);
        if role == KeyRole::Primary {
            encrypt_other_key_files(ctx, plan, kt, key, &issued, &writing, &mut inst)?;
        }
    }
    for item in &issued {
        let key = plan.slots[&(item.key_type, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
        add_certificate(cfg, &plan.spec.name, key, item, &writing, &mut inst)?;
        services.add(&item.cert.services);
        // Its SCTs and OCSP response, in the same transaction.
        let files =
            CertFiles { spec: &item.cert, key_type: item.key_type, leaf: item.leaf.clone(), chain: item.chain.clone() };
        staple::add_for_certificate(ctx, web, &plan.spec.name, &files, true, which, &mut inst)?;
    }
    // HPKP header files, whenever their text changes (new keys, a rollover,
    // a previous key added or removed, settings changed, a file lost).
    for file in hpkp::wanted(cfg, &ctx.passphrases, plan)?.unwrap_or_default() {
        if !hpkp::differs(&file)? {
            continue;
        }
        let hpkp_file = file.path.display().to_string();
        // `{header}` is the whole header line, as the file holds it (the
        // original's value), not only the pins.
        let fields = vec![
            ("key_name", plan.spec.name.clone()),
            ("server", file.server),
            ("header", file.contents.clone()),
            ("hpkp_file", hpkp_file.clone()),
        ];
        inst.write(file.path.clone(), "hpkp", None, file.contents.into_bytes(), 0o644);
        inst.hooks.push((Hook::HpkpHeaderInstalled, fields));
        inst.hpkp_files.push(hpkp_file);
    }
    if !inst.hpkp_files.is_empty() {
        // Servers send the header: every certificate of the key reloads.
        for cert in &plan.spec.certificates {
            services.add(&cert.services);
        }
    }
    if inst.is_empty() {
        return Ok(());
    }
    let hooks = commit_key(ctx, &plan.spec.name, &mut inst)?;
    say_installed(plan, &issued, &inst.hpkp_files);
    run_hooks(ctx, hooks);
    Ok(())
}

/// A passphrase newly set: the previous key and the full key files (those
/// not rewritten by an issuance in this transaction) are written again with
/// their key encrypted, the rest of each file as it is.
fn encrypt_other_key_files(
    ctx: &Ctx<'_>,
    plan: &KeyPlan<'_>,
    kt: KeyType,
    key: &PrivateKey,
    issued: &[Issued],
    writing: &KeyWriting,
    inst: &mut Install,
) -> R<()> {
    let cfg = ctx.config;
    if let Some(path) = cfg.file_path(FileKind::PreviousKey, &plan.spec.name, Some(kt))? {
        if let Some(found) = read_optional(&path)?.filter(|f| !crypto::is_encrypted_pem(&f.bytes)) {
            let kept = writing.keep(&ctx.passphrases, plan.spec, &path, &found.bytes)?;
            inst.write_key(path, "previous_key", kt, kept, 0o600, writing);
        }
    }
    for cert in plan.spec.certificates.iter().filter(|c| c.key_types.contains(&kt)) {
        if issued.iter().any(|i| i.cert.name == cert.name && i.key_type == kt) {
            continue;
        }
        let Some(path) = cfg.file_path(FileKind::FullKey, &cert.name, Some(kt))? else { continue };
        let Some(found) = read_optional(&path)?.filter(|f| !crypto::is_encrypted_pem(&f.bytes)) else { continue };
        let text = String::from_utf8_lossy(&found.bytes);
        // Everything after the key block: certificates, chain, parameters.
        let key_end = text
            .match_indices("-----END ")
            .map(|(i, _)| i)
            .find(|&i| text[i..].lines().next().is_some_and(|l| l.trim_end().ends_with("PRIVATE KEY-----")));
        let rest = key_end.and_then(|i| text[i..].find('\n').map(|n| &text[i + n + 1..])).unwrap_or_default();
        let contents = format!("{}{rest}", writing.pem(key)?);
        inst.write_key(path, "full_key", kt, contents.into_bytes(), 0o640, writing);
    }
    Ok(())
}

/// A new key (generated, or the backup promoted by a rollover) and, on a
/// rollover, the primary it replaces kept as the previous key.
#[allow(clippy::too_many_arguments)]
fn add_key(
    ctx: &Ctx<'_>,
    plan: &KeyPlan<'_>,
    kt: KeyType,
    role: KeyRole,
    slot: &KeySlot,
    writing: &KeyWriting,
    inst: &mut Install,
) -> R<()> {
    let cfg = ctx.config;
    let name = &plan.spec.name;
    let key = slot.key.as_ref().expect("generated key");
    // The original's modes: the primary key 0640 (its service's group reads
    // it), the backup key 0600 (nothing but acmebot needs it).
    let (kind, mode) = if role == KeyRole::Primary { ("private_key", 0o640) } else { ("backup_key", 0o600) };
    inst.write_key(slot.path.clone(), kind, kt, writing.pem(key)?.into_bytes(), mode, writing);
    // The primary key a rollover replaced, kept as the previous key (its pins
    // and TLSA records stay published while it is there), encrypted now if
    // it was not and a passphrase is set.
    let mut previous_file = String::new();
    if let (Some(pem), Some(path)) = (&slot.previous_pem, cfg.file_path(FileKind::PreviousKey, name, Some(kt))?) {
        let kept = writing.keep(&ctx.passphrases, plan.spec, &slot.path, pem)?;
        inst.write_key(path.clone(), "previous_key", kt, kept, 0o600, writing);
        previous_file = path.display().to_string();
        let fields = vec![
            ("key_name", name.clone()),
            ("key_type", kt.to_string()),
            ("previous_key_file", previous_file.clone()),
            ("passphrase", writing.hook_field()),
        ];
        inst.hooks.push((Hook::PreviousKeyInstalled, fields));
    }
    let path = slot.path.display().to_string();
    match &slot.promoted {
        Some(previous) => {
            let rollover = KeyRollover {
                key: name.clone(),
                key_type: kt,
                spki_sha256: slot.spki_sha256.clone(),
                path: path.clone(),
                previous_spki_sha256: previous.clone(),
            };
            inst.effects.push(Effect::KeyRolledOver(rollover));
            let backup_file =
                plan.slots.get(&(kt, KeyRole::Backup)).map(|b| b.path.display().to_string()).unwrap_or_default();
            let fields = vec![
                ("key_name", name.clone()),
                ("key_type", kt.to_string()),
                ("backup_key_file", backup_file),
                ("private_key_file", path.clone()),
                ("previous_key_file", previous_file),
                ("passphrase", writing.hook_field()),
            ];
            inst.hooks.push((Hook::PrivateKeyRollover, fields));
        }
        None => inst.effects.push(Effect::KeyInstalled {
            key: name.clone(),
            key_type: kt,
            role,
            spki_sha256: slot.spki_sha256.clone(),
            path: path.clone(),
        }),
    }
    let (hook, file_field) = match role {
        KeyRole::Primary => (Hook::PrivateKeyInstalled, "private_key_file"),
        _ => (Hook::BackupKeyInstalled, "backup_key_file"),
    };
    let fields = vec![
        ("key_name", name.clone()),
        ("key_type", kt.to_string()),
        (file_field, path),
        ("passphrase", writing.hook_field()),
    ];
    inst.hooks.push((hook, fields));
    Ok(())
}

/// Every file of an issued certificate: certificate + chain, chain, key +
/// certificate + chain, and certificate + chain + root when the root is there.
fn add_certificate(
    cfg: &Config,
    key_name: &str,
    key: &PrivateKey,
    item: &Issued,
    writing: &KeyWriting,
    inst: &mut Install,
) -> R<()> {
    let kt = item.key_type;
    let leaf_pem = crypto::ders_to_pem(std::slice::from_ref(&item.leaf.der));
    let chain_pem = crypto::ders_to_pem(&item.chain);
    let name = &item.cert.name;
    // The parameters the certificate's files carry now (the original's too):
    // new ones, when due, are made after the installation.
    let params = params::on_disk(cfg, &item.cert)?.appended();
    let fields = |extra: (&'static str, String)| -> Vec<(&'static str, String)> {
        vec![
            ("key_name", key_name.to_string()),
            ("key_type", kt.to_string()),
            ("certificate_name", name.clone()),
            extra,
        ]
    };
    if let Some(path) = cfg.file_path(FileKind::Certificate, name, Some(kt))? {
        inst.write(path.clone(), "certificate", Some(kt), format!("{leaf_pem}{chain_pem}{params}").into_bytes(), 0o644);
        inst.hooks.push((Hook::CertificateInstalled, fields(("certificate_file", path.display().to_string()))));
    }
    if !item.chain.is_empty() {
        if let Some(path) = cfg.file_path(FileKind::Chain, name, Some(kt))? {
            inst.write(path.clone(), "chain", Some(kt), chain_pem.clone().into_bytes(), 0o644);
            inst.hooks.push((Hook::ChainInstalled, fields(("chain_file", path.display().to_string()))));
        }
    }
    if let Some(path) = cfg.file_path(FileKind::FullKey, name, Some(kt))? {
        let contents = format!("{}{leaf_pem}{chain_pem}{params}", writing.pem(key)?);
        inst.write_key(path.clone(), "full_key", kt, contents.into_bytes(), 0o640, writing);
        inst.hooks.push((Hook::FullKeyInstalled, fields(("full_key_file", path.display().to_string()))));
    }
    if let Some(root) = read_optional(&cfg.root_cert_path(kt))? {
        if let Some(path) = cfg.file_path(FileKind::FullCertificate, name, Some(kt))? {
            let mut root_pem = String::from_utf8_lossy(&root.bytes).into_owned();
            if !root_pem.ends_with('\n') {
                root_pem.push('\n');
            }
            inst.write(
                path.clone(),
                "full_certificate",
                Some(kt),
                format!("{leaf_pem}{chain_pem}{root_pem}{params}").into_bytes(),
                0o644,
            );
            inst.hooks
                .push((Hook::FullCertificateInstalled, fields(("full_certificate_file", path.display().to_string()))));
        }
    }
    let serial = item.leaf.serial_hex.clone();
    inst.effects.push(Effect::CertificateInstalled { cert: name.clone(), key_type: kt, serial });
    Ok(())
}

/// What an installation says, in the original's words (scripts grep them):
/// "Private key rolling over for K", "Private keys for K installed", "Generating
/// HPKP headers for K", "RSA certificate C installed"; details with -v.
fn say_installed(plan: &KeyPlan<'_>, issued: &[Issued], hpkp_files: &[String]) {
    let name = &plan.spec.name;
    if plan.slots.values().any(|s| s.promoted.is_some()) {
        tracing::info!("Private key rolling over for {name}");
    }
    if plan.slots.values().any(|s| s.is_new) {
        tracing::info!("Private keys for {name} installed");
    }
    for (&(kt, role), slot) in &plan.slots {
        let what = kt.as_str().to_uppercase();
        if slot.promoted.is_some() {
            tracing::debug!("Installed the former backup key as {what} primary key {name} ({})", slot.path.display());
        } else if slot.is_new {
            tracing::debug!("Installed new {what} {} key {name} ({})", role.as_str(), slot.path.display());
        }
    }
    if !hpkp_files.is_empty() {
        tracing::info!("Generating HPKP headers for {name}");
    }
    for path in hpkp_files {
        tracing::debug!("Installed HPKP header file {path} for private key {name}");
    }
    for item in issued {
        let what = item.key_type.as_str().to_uppercase();
        tracing::info!("{what} certificate {} installed", item.cert.name);
        tracing::debug!(
            "{what} certificate {}: serial {}, valid until {}",
            item.cert.name,
            item.leaf.serial_hex,
            crate::time::rfc3339(item.leaf.not_after)
        );
    }
}
