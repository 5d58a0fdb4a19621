//! Inspecting one private key: what is on disk, what the journal knows,
//! what has to be generated, adopted or issued.

use super::*;

pub(super) struct KeyPlan<'c> {
    pub(super) spec: &'c PrivateKeySpec,
    pub(super) slots: BTreeMap<(KeyType, KeyRole), KeySlot>,
    pub(super) work: Vec<CertWork>,
    /// The HPKP header files are missing or out of date with keys that are
    /// all installed already (nothing else may need doing).
    pub(super) hpkp_stale: bool,
}

pub(super) fn inspect_key<'c>(ctx: &mut Ctx<'_>, spec: &'c PrivateKeySpec) -> R<KeyPlan<'c>> {
    let cfg = ctx.config;
    let mut slots = BTreeMap::new();
    let key_types: Vec<KeyType> = spec.key_types.clone();
    let roll = rollover_decision(ctx, spec) == rollover::Decision::Roll;
    for &kt in &key_types {
        for role in [KeyRole::Primary, KeyRole::Backup] {
            let kind = if role == KeyRole::Primary { FileKind::PrivateKey } else { FileKind::BackupKey };
            let Some(path) = cfg
                .file_path(kind, &spec.name, Some(kt))
                .map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?
            else {
                continue;
            };
            let slot = match read_optional(&path)? {
                Some(found) => known_or_adopted_key(ctx, spec, kt, role, found)?,
                None => KeySlot {
                    path,
                    spki_sha256: String::new(),
                    key: None,
                    is_new: true,
                    promoted: None,
                    previous_pem: None,
                },
            };
            slots.insert((kt, role), slot);
        }
        // No primary key but a backup (after --revoke, or a primary removed by
        // hand), or a rollover (--rollover, auto_rollover): the backup becomes
        // the primary, a new backup is made, the old primary becomes the
        // previous key.
        let primary_missing = slots.get(&(kt, KeyRole::Primary)).map(|s| s.is_new).unwrap_or(false);
        let backup_present = slots.get(&(kt, KeyRole::Backup)).map(|s| !s.is_new).unwrap_or(false);
        if (primary_missing || roll) && backup_present {
            let previous_pem = match slots.get(&(kt, KeyRole::Primary)) {
                Some(p) if !p.is_new => Some(std::fs::read(&p.path).map_err(|e| {
                    Failure::new(ErrorCode::Permission, format!("cannot read {}: {e}", p.path.display()))
                })?),
                _ => None,
            };
            let mut backup = slots.remove(&(kt, KeyRole::Backup)).expect("backup slot");
            let key = match backup.key.take() {
                Some(k) => k,
                None => {
                    let bytes = std::fs::read(&backup.path).map_err(|e| {
                        Failure::new(ErrorCode::Key, format!("cannot read {}: {e}", backup.path.display()))
                    })?;
                    PrivateKey::from_pem(&bytes)
                        .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", backup.path.display())))?
                }
            };
            let previous = ctx
                .state
                .keys
                .values()
                .filter(|k| k.key == spec.name && k.key_type == kt && k.role == KeyRole::Primary)
                .map(|k| k.spki_sha256.clone())
                .next();
            let primary = slots.get_mut(&(kt, KeyRole::Primary)).expect("primary slot");
            primary.spki_sha256 = backup.spki_sha256.clone();
            primary.key = Some(key);
            primary.promoted = Some(previous);
            primary.is_new = true;
            primary.previous_pem = previous_pem;
            tracing::info!("Rolling {} private key {} over to its backup key", kt.as_str().to_uppercase(), spec.name);
            slots.insert(
                (kt, KeyRole::Backup),
                KeySlot {
                    path: backup.path,
                    spki_sha256: String::new(),
                    key: None,
                    is_new: true,
                    promoted: None,
                    previous_pem: None,
                },
            );
        }
    }
    if slots.values().any(|s| s.is_new) && !matches!(spec.key_passphrase, Passphrase::None) {
        return Err(Failure::new(
            ErrorCode::Key,
            "key_passphrase is set, but writing encrypted private keys is not implemented yet",
        ));
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
                cert_reason(ctx, spec, cert, kt, &primary.spki_sha256)?
            };
            if let Some(reason) = reason {
                let replaces = replaces_id(ctx, &cert.name, kt);
                work.push(CertWork { cert: cert.clone(), key_type: kt, reason, replaces });
            }
        }
    }
    let mut plan = KeyPlan { spec, slots, work, hpkp_stale: false };
    plan.hpkp_stale = hpkp::stale(cfg, &plan)?;
    Ok(plan)
}

pub(super) fn known_or_adopted_key(
    ctx: &mut Ctx<'_>,
    spec: &PrivateKeySpec,
    kt: KeyType,
    role: KeyRole,
    found: Found,
) -> R<KeySlot> {
    let known = ctx.state.key(&spec.name, kt, role).cloned();
    let file_known = ctx.state.file(&found.path).map(|f| f.sha256 == found.sha256).unwrap_or(false);
    if let (Some(k), true) = (&known, file_known) {
        return Ok(KeySlot {
            path: found.path,
            spki_sha256: k.spki_sha256.clone(),
            key: None,
            is_new: false,
            promoted: None,
            previous_pem: None,
        });
    }
    let key = PrivateKey::from_pem(&found.bytes).map_err(|e| {
        Failure::new(ErrorCode::Key, format!("{} key file {}: {e}", role.as_str(), found.path.display()))
    })?;
    if key.key_type() != kt {
        return Err(Failure::new(
            ErrorCode::Key,
            format!("{} holds a {} key where a {kt} key belongs", found.path.display(), key.key_type()),
        ));
    }
    let spki = key.spki_sha256_hex();
    if known.as_ref().map(|k| k.spki_sha256 != spki).unwrap_or(true) || !file_known {
        if known.as_ref().map(|k| k.spki_sha256 == spki).unwrap_or(false) {
            // Same key, file rewritten (e.g. re-encoded): nothing to record.
        } else {
            tracing::info!(
                "Adopted existing {} {} key {} ({})",
                kt.as_str().to_uppercase(),
                role.as_str(),
                spec.name,
                found.path.display()
            );
            ctx.record(Event::KeyAdopted {
                key: spec.name.clone(),
                key_type: kt,
                role,
                spki_sha256: spki.clone(),
                path: found.path.display().to_string(),
                sha256: found.sha256.clone(),
            })?;
        }
    }
    Ok(KeySlot {
        path: found.path,
        spki_sha256: spki,
        key: Some(key),
        is_new: false,
        promoted: None,
        previous_pem: None,
    })
}

pub(super) fn cert_reason(
    ctx: &mut Ctx<'_>,
    spec: &PrivateKeySpec,
    cert: &CertificateSpec,
    kt: KeyType,
    key_spki: &str,
) -> R<Option<Reason>> {
    let names = cert.all_names();
    let Some(path) = ctx
        .config
        .file_path(FileKind::Certificate, &cert.name, Some(kt))
        .map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?
    else {
        return Ok(None);
    };
    let Some(found) = read_optional(&path)? else {
        return Ok(renew::reason(
            None,
            &cert.common_name,
            &names,
            key_spki,
            ctx.config.settings.renewal_days,
            ctx.args.renew,
            ctx.now,
        ));
    };
    let known = ctx.state.certificate(&cert.name, kt).cloned();
    let file_known = ctx.state.file(&path).map(|f| f.sha256 == found.sha256).unwrap_or(false);
    let view = match (&known, file_known) {
        (Some(c), true) => c.clone(),
        _ => {
            let ders = crypto::pem_to_ders(&found.bytes)
                .map_err(|e| Failure::new(ErrorCode::Key, format!("certificate {}: {e}", path.display())))?;
            let Some(leaf) = ders.first() else {
                return Ok(Some(Reason::Missing));
            };
            let info = crypto::parse_cert(leaf)
                .map_err(|e| Failure::new(ErrorCode::Key, format!("certificate {}: {e}", path.display())))?;
            let spki = sha256_hex(&info.spki_der);
            if known.as_ref().map(|k| k.serial != info.serial_hex).unwrap_or(true) {
                tracing::info!(
                    "Adopted existing {} certificate {} ({})",
                    kt.as_str().to_uppercase(),
                    cert.name,
                    path.display()
                );
            }
            ctx.record(Event::CertificateAdopted {
                cert: cert.name.clone(),
                key: spec.name.clone(),
                key_type: kt,
                serial: info.serial_hex.clone(),
                common_name: info.subject_cn.clone(),
                not_before: rfc3339(info.not_before),
                not_after: rfc3339(info.not_after),
                sans: info.sans.clone(),
                issuer: info.issuer.clone(),
                spki_sha256: spki,
                path: path.display().to_string(),
                sha256: found.sha256.clone(),
            })?;
            ctx.state = State::replay(&ctx.records);
            ctx.state.certificate(&cert.name, kt).cloned().expect("adopted certificate is in the state")
        }
    };
    let installed = renew::Installed {
        common_name: view.common_name.as_deref(),
        sans: &view.sans,
        spki_sha256: &view.spki_sha256,
        not_before: crate::time::parse_rfc3339(&view.not_before).unwrap_or(0),
        not_after: crate::time::parse_rfc3339(&view.not_after).unwrap_or(0),
    };
    let reason = renew::reason(
        Some(&installed),
        &cert.common_name,
        &names,
        key_spki,
        ctx.config.settings.renewal_days,
        ctx.args.renew,
        ctx.now,
    );
    Ok(reason.or_else(|| ari_reason(ctx, &cert.name, kt, &view.serial)))
}

/// A key to generate: plan index, slot, RSA bits, ECDSA curve.
pub(super) type KeyTodo = (usize, (KeyType, KeyRole), u32, crate::types::Curve);

/// Parses the existing primary keys that will be used and lists the keys to generate.
pub(super) fn key_todo(plans: &mut [KeyPlan<'_>]) -> R<Vec<KeyTodo>> {
    let mut todo = Vec::new();
    for (i, plan) in plans.iter_mut().enumerate() {
        let needs_keys = !plan.work.is_empty() || plan.slots.values().any(|s| s.is_new);
        if !needs_keys {
            continue;
        }
        for (&(kt, role), slot) in plan.slots.iter_mut() {
            if slot.is_new && slot.key.is_none() {
                let bits = plan.spec.rsa_key_size.unwrap_or(4096);
                let curve = plan.spec.ecdsa_curve.unwrap_or(crate::types::Curve::P384);
                todo.push((i, (kt, role), bits, curve));
            } else if slot.key.is_none() && (role == KeyRole::Primary) {
                let bytes = std::fs::read(&slot.path)
                    .map_err(|e| Failure::new(ErrorCode::Key, format!("cannot read {}: {e}", slot.path.display())))?;
                slot.key = Some(
                    PrivateKey::from_pem(&bytes)
                        .map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", slot.path.display())))?,
                );
            }
        }
    }
    Ok(todo)
}

/// Generates keys on every core (RSA-4096 takes a while).
pub(super) fn generate(todo: &[KeyTodo]) -> Vec<Result<PrivateKey, crypto::CryptoError>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(todo.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<Option<Result<PrivateKey, crypto::CryptoError>>>> =
        std::sync::Mutex::new((0..todo.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(_, (kt, _), bits, curve)) = todo.get(i) else { break };
                let key = PrivateKey::generate(kt, bits, curve);
                out.lock().unwrap()[i] = Some(key);
            });
        }
    });
    out.into_inner().unwrap().into_iter().map(|k| k.expect("every key generated")).collect()
}

/// Puts generated keys into their slots.
pub(super) fn apply_generated(
    plans: &mut [KeyPlan<'_>],
    todo: Vec<KeyTodo>,
    generated: Vec<Result<PrivateKey, crypto::CryptoError>>,
) -> R<()> {
    for ((i, slot_id, _, _), key) in todo.into_iter().zip(generated) {
        let key = key.map_err(|e| Failure::new(ErrorCode::Key, format!("key generation failed: {e}")))?;
        let plan = &mut plans[i];
        let slot = plan.slots.get_mut(&slot_id).expect("slot exists");
        slot.spki_sha256 = key.spki_sha256_hex();
        tracing::debug!("Generated {} {} key for {}", slot_id.0, slot_id.1.as_str(), plan.spec.name);
        slot.key = Some(key);
    }
    Ok(())
}

/// Loads and generates every key the plans need (when nothing is issued).
pub(super) fn generate_keys(plans: &mut [KeyPlan<'_>]) -> R<()> {
    let todo = key_todo(plans)?;
    let generated = generate(&todo);
    apply_generated(plans, todo, generated)
}

/// Whether `spec` rolls over this run (see `rollover`); warns when a wanted
/// rollover waits for the HPKP window, or the key expired with nobody asking.
pub(super) fn rollover_decision(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec) -> rollover::Decision {
    let ages: Vec<i64> = spec
        .key_types
        .iter()
        .filter_map(|&kt| ctx.state.key(&spec.name, kt, KeyRole::Backup))
        .filter_map(|k| crate::time::parse_rfc3339(&k.since))
        .map(|since| (ctx.now - since).max(0) / 86_400)
        .collect();
    let input = rollover::Input {
        requested: ctx.args.rollover,
        force: ctx.args.force,
        auto_rollover: spec.auto_rollover,
        key_provided: spec.key_provided,
        expiration_days: spec.expiration_days,
        hpkp_days: spec.hpkp_days,
        oldest_backup_days: ages.iter().copied().max(),
        youngest_backup_days: ages.iter().copied().min(),
    };
    let decision = rollover::decide(&input);
    match decision {
        rollover::Decision::Refused { younger_by_days } => ctx.outcome.warn(
            WarningCode::Key,
            format!(
                "A backup private key for {} is younger than the HPKP duration ({}){}, rollover skipped. \
                 Use \"--force\" to force the rollover; note that this can brick a web site where HPKP is deployed",
                spec.name,
                rollover::days(i64::from(spec.hpkp_days.unwrap_or(0))),
                if younger_by_days > 0 { format!(" by {}", rollover::days(younger_by_days)) } else { String::new() }
            ),
        ),
        rollover::Decision::Expired => ctx.outcome.warn(
            WarningCode::Key,
            format!("Private key for {} has expired. Use \"--rollover\" to replace", spec.name),
        ),
        rollover::Decision::Keep | rollover::Decision::Roll => {}
    }
    decision
}
