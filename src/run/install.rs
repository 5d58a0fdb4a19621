//! Installing: one file transaction per private key.

use super::*;

/// Builds and commits the one transaction of a private key: new keys and every
/// file of every issued certificate, then journals, runs hooks, notes services.
pub(super) fn install(ctx: &mut Ctx<'_>, plan: &KeyPlan<'_>, issued: Vec<Issued>) -> R<()> {
    let cfg = ctx.config;
    let cfg_err = |e: crate::config::ConfigError| Failure::new(ErrorCode::Config, e.to_string());
    let mut ops = Vec::new();
    let mut events = Vec::new();
    let mut hooks_to_run: Vec<(&'static str, Vec<(String, String)>)> = Vec::new();
    for (&(kt, role), slot) in &plan.slots {
        if !slot.is_new {
            continue;
        }
        let key = slot.key.as_ref().expect("generated key");
        ops.push(FileOp {
            path: slot.path.clone(),
            kind: if role == KeyRole::Primary { "private_key" } else { "backup_key" }.into(),
            action: Action::Write { contents: key.to_pkcs8_pem().into_bytes(), mode: 0o640 },
        });
        // The primary key a rollover replaced, kept as the previous key (its
        // pins and TLSA records stay published while it is there).
        let mut previous_file = String::new();
        if let (Some(pem), Some(path)) =
            (&slot.previous_pem, cfg.file_path(FileKind::PreviousKey, &plan.spec.name, Some(kt)).map_err(cfg_err)?)
        {
            ops.push(FileOp {
                path: path.clone(),
                kind: "previous_key".into(),
                action: Action::Write { contents: pem.clone(), mode: 0o600 },
            });
            previous_file = path.display().to_string();
            hooks_to_run.push((
                "previous_key_installed",
                vec![
                    ("key_name".into(), plan.spec.name.clone()),
                    ("key_type".into(), kt.to_string()),
                    ("previous_key_file".into(), previous_file.clone()),
                    ("passphrase".into(), String::new()),
                ],
            ));
        }
        match &slot.promoted {
            Some(previous) => {
                events.push(Event::KeyRolledOver {
                    key: plan.spec.name.clone(),
                    key_type: kt,
                    spki_sha256: slot.spki_sha256.clone(),
                    path: slot.path.display().to_string(),
                    previous_spki_sha256: previous.clone(),
                    txn: String::new(),
                });
                let backup_file =
                    plan.slots.get(&(kt, KeyRole::Backup)).map(|b| b.path.display().to_string()).unwrap_or_default();
                hooks_to_run.push((
                    "private_key_rollover",
                    vec![
                        ("key_name".into(), plan.spec.name.clone()),
                        ("key_type".into(), kt.to_string()),
                        ("backup_key_file".into(), backup_file),
                        ("private_key_file".into(), slot.path.display().to_string()),
                        ("previous_key_file".into(), previous_file.clone()),
                        ("passphrase".into(), String::new()),
                    ],
                ));
            }
            None => events.push(Event::KeyGenerated {
                key: plan.spec.name.clone(),
                key_type: kt,
                role,
                spki_sha256: slot.spki_sha256.clone(),
                path: slot.path.display().to_string(),
                txn: String::new(),
            }),
        }
        let file_field = if role == KeyRole::Primary { "private_key_file" } else { "backup_key_file" };
        hooks_to_run.push((
            if role == KeyRole::Primary { "private_key_installed" } else { "backup_key_installed" },
            vec![
                ("key_name".into(), plan.spec.name.clone()),
                ("key_type".into(), kt.to_string()),
                (file_field.into(), slot.path.display().to_string()),
                ("passphrase".into(), String::new()),
            ],
        ));
    }
    for item in &issued {
        let kt = item.key_type;
        let key = plan.slots[&(kt, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
        let leaf_pem = crypto::ders_to_pem(std::slice::from_ref(&item.leaf.der));
        let chain_pem = crypto::ders_to_pem(&item.chain);
        let name = &item.cert.name;
        let base = |extra: (&str, String)| -> Vec<(String, String)> {
            vec![
                ("key_name".into(), plan.spec.name.clone()),
                ("key_type".into(), kt.to_string()),
                ("certificate_name".into(), name.clone()),
                (extra.0.into(), extra.1),
            ]
        };
        if let Some(path) = cfg.file_path(FileKind::Certificate, name, Some(kt)).map_err(cfg_err)? {
            ops.push(FileOp {
                path: path.clone(),
                kind: "certificate".into(),
                action: Action::Write { contents: format!("{leaf_pem}{chain_pem}").into_bytes(), mode: 0o644 },
            });
            hooks_to_run.push(("certificate_installed", base(("certificate_file", path.display().to_string()))));
        }
        if !item.chain.is_empty() {
            if let Some(path) = cfg.file_path(FileKind::Chain, name, Some(kt)).map_err(cfg_err)? {
                ops.push(FileOp {
                    path: path.clone(),
                    kind: "chain".into(),
                    action: Action::Write { contents: chain_pem.clone().into_bytes(), mode: 0o644 },
                });
                hooks_to_run.push(("chain_installed", base(("chain_file", path.display().to_string()))));
            }
        }
        if let Some(path) = cfg.file_path(FileKind::FullKey, name, Some(kt)).map_err(cfg_err)? {
            let contents = format!("{}{leaf_pem}{chain_pem}", key.to_pkcs8_pem());
            ops.push(FileOp {
                path: path.clone(),
                kind: "full_key".into(),
                action: Action::Write { contents: contents.into_bytes(), mode: 0o640 },
            });
            hooks_to_run.push(("full_key_installed", base(("full_key_file", path.display().to_string()))));
        }
        let root_path = cfg.root_cert_path(kt);
        if let Some(root) = read_optional(&root_path)? {
            if let Some(path) = cfg.file_path(FileKind::FullCertificate, name, Some(kt)).map_err(cfg_err)? {
                let mut root_pem = String::from_utf8_lossy(&root.bytes).into_owned();
                if !root_pem.ends_with('\n') {
                    root_pem.push('\n');
                }
                ops.push(FileOp {
                    path: path.clone(),
                    kind: "full_certificate".into(),
                    action: Action::Write {
                        contents: format!("{leaf_pem}{chain_pem}{root_pem}").into_bytes(),
                        mode: 0o644,
                    },
                });
                hooks_to_run
                    .push(("full_certificate_installed", base(("full_certificate_file", path.display().to_string()))));
            }
        }
        events.push(Event::CertificateInstalled {
            cert: name.clone(),
            key_type: kt,
            serial: item.leaf.serial_hex.clone(),
            txn: String::new(),
        });
        for s in &item.cert.services {
            ctx.services.insert(s.clone());
        }
    }
    // HPKP header files, whenever their text changes (new keys, a rollover,
    // a previous key added or removed, settings changed, a file lost).
    let mut hpkp_installed = Vec::new();
    for file in hpkp::wanted(cfg, plan)?.unwrap_or_default() {
        if !hpkp::differs(&file)? {
            continue;
        }
        let hpkp_file = file.path.display().to_string();
        ops.push(FileOp {
            path: file.path.clone(),
            kind: "hpkp".into(),
            action: Action::Write { contents: file.contents.into_bytes(), mode: 0o644 },
        });
        hooks_to_run.push((
            "hpkp_header_installed",
            vec![
                ("key_name".into(), plan.spec.name.clone()),
                ("server".into(), file.server),
                ("header".into(), file.header),
                ("hpkp_file".into(), hpkp_file.clone()),
            ],
        ));
        hpkp_installed.push(hpkp_file);
    }
    if !hpkp_installed.is_empty() {
        // Servers send the header: every certificate of the key reloads.
        for cert in &plan.spec.certificates {
            ctx.services.extend(cert.services.iter().cloned());
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let owner = cfg.file_owner().map_err(cfg_err)?;
    let txn_plan = Plan { key_name: plan.spec.name.clone(), ops, owner: Some(owner), archive_root: archive_root(cfg)? };
    let committed = commit(ctx, &txn_plan)?;
    let txn_id = committed.txn.clone().unwrap_or_default();
    // What the transaction installed: keys made and certificates put in place.
    for mut e in events {
        match &mut e {
            Event::KeyGenerated { txn, .. }
            | Event::CertificateInstalled { txn, .. }
            | Event::KeyRolledOver { txn, .. } => *txn = txn_id.clone(),
            _ => {}
        }
        ctx.record(e)?;
    }
    ctx.state = State::replay(&ctx.records);
    ctx.outcome.changed = true;
    for item in &issued {
        tracing::info!(
            "Installed {} certificate {} (serial {}, valid until {})",
            item.key_type.as_str().to_uppercase(),
            item.cert.name,
            item.leaf.serial_hex,
            rfc3339(item.leaf.not_after)
        );
    }
    for path in &hpkp_installed {
        tracing::info!("Installed HPKP header file {path} for private key {}", plan.spec.name);
    }
    for (&(kt, role), slot) in &plan.slots {
        if slot.promoted.is_some() {
            tracing::info!(
                "Installed the former backup key as {} primary key {} ({})",
                kt.as_str().to_uppercase(),
                plan.spec.name,
                slot.path.display()
            );
        } else if slot.is_new {
            tracing::info!(
                "Installed new {} {} key {} ({})",
                kt.as_str().to_uppercase(),
                role.as_str(),
                plan.spec.name,
                slot.path.display()
            );
        }
    }
    let _ = committed;
    for (hook, fields) in hooks_to_run {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_hook(ctx, hook, &f, &[]);
    }
    Ok(())
}
