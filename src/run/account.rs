//! The ACME account: the client key and registration in the original's
//! files, registration with terms of service and External Account Binding.

use super::*;

/// Connects to the ACME server with the account (loaded, or generated and
/// registered), then runs `f`.
pub(super) fn with_acme(
    ctx: &mut Ctx<'_>,
    force_register: bool,
    f: impl FnOnce(&mut Ctx<'_>, &AcmeClient<'_>) -> R<()>,
) -> R<()> {
    let roots = http::trust_anchors(ctx.config.settings.ca_bundle.as_deref())
        .map_err(|e| Failure::new(ErrorCode::Config, e))?;
    let transport = UreqTransport::new(roots, &format!("acmebot/{VERSION} (+https://github.com/plinss/acmebot)"));
    let directory_url = ctx.config.settings.acme_directory_url.clone();
    let resource = ctx.config.resource_dir();
    let key_path = resource.join("client_key.json");
    let reg_path = resource.join("registration.json");

    let mut key_is_new = false;
    let mut account_key = match read_optional(&key_path)? {
        Some(found) => crypto::account_key_from_json(&found.bytes)
            .map_err(|e| Failure::new(ErrorCode::Key, format!("client key {}: {e}", key_path.display())))?,
        None => {
            key_is_new = true;
            tracing::info!("Client key not present, generating");
            new_account_key(ctx.config)?
        }
    };
    let mut registered_url = None;
    if !key_is_new && !force_register {
        if let Some(found) = read_optional(&reg_path)? {
            let reg: serde_json::Value = serde_json::from_slice(&found.bytes)
                .map_err(|e| Failure::new(ErrorCode::Config, format!("registration {}: {e}", reg_path.display())))?;
            if let Some(uri) = reg.get("uri").and_then(|u| u.as_str()) {
                if same_origin(uri, &directory_url) {
                    registered_url = Some(uri.to_string());
                } else {
                    tracing::info!("ACME service URL has changed, re-registering with new client key");
                    account_key = new_account_key(ctx.config)?;
                    key_is_new = true;
                }
            }
        }
    }
    let clock = SystemClock;
    let client = AcmeClient::connect(&transport as &dyn Transport, &clock, &directory_url, &account_key)?;
    match registered_url {
        Some(url) => client.set_account_url(&url),
        None => register(ctx, &client, &account_key, key_is_new, &key_path, &reg_path)?,
    }
    f(ctx, &client)
}

/// `account.key_type`: "rsa" (4096 bits, the original's, the default),
/// "rsa2048", "rsa3072", "ecdsa"/"secp256r1" (ES256) or "secp384r1" (ES384).
pub(super) fn new_account_key(config: &Config) -> R<PrivateKey> {
    use crate::types::Curve;
    let kind = config.account.key_type.as_deref().unwrap_or("rsa").to_ascii_lowercase();
    let key = match kind.as_str() {
        "rsa" | "rsa4096" => PrivateKey::generate_rsa(4096),
        "rsa2048" => PrivateKey::generate_rsa(2048),
        "rsa3072" => PrivateKey::generate_rsa(3072),
        "ecdsa" | "secp256r1" | "p-256" | "es256" => PrivateKey::generate_ecdsa(Curve::P256),
        "secp384r1" | "p-384" | "es384" => PrivateKey::generate_ecdsa(Curve::P384),
        other => {
            return Err(Failure::new(
                ErrorCode::Config,
                format!("account.key_type: {other:?} is not allowed; use one of \"rsa\", \"rsa2048\", \"rsa3072\", \"ecdsa\" (secp256r1), \"secp384r1\""),
            ))
        }
    };
    key.map_err(|e| Failure::new(ErrorCode::Key, format!("account key generation failed: {e}")))
}

/// `--account-key-rollover`: keyChange to a new key of `account.key_type`,
/// then the new key replaces client_key.json (the old one is archived).
pub(super) fn account_key_rollover(ctx: &mut Ctx<'_>) -> R<()> {
    let new_key = new_account_key(ctx.config)?;
    let key_path = ctx.config.resource_dir().join("client_key.json");
    with_acme(ctx, false, |ctx, client| {
        let old_thumbprint = client.key().jwk_thumbprint();
        client.key_change(&new_key)?;
        let account_url = client.account_url().unwrap_or_default();
        let json = crypto::account_key_to_json(&new_key).map_err(|e| Failure::new(ErrorCode::Key, e.to_string()))?;
        let plan = Plan {
            key_name: "client".into(),
            ops: vec![FileOp {
                path: key_path.clone(),
                kind: "client_key".into(),
                action: Action::Write { contents: json.into_bytes(), mode: 0o600 },
            }],
            owner: None,
            archive_root: archive_root(ctx.config)?,
        };
        commit(ctx, &plan)?;
        let new_thumbprint = new_key.jwk_thumbprint();
        ctx.record(Event::AccountKeyRolledOver {
            account_url: account_url.clone(),
            old_thumbprint,
            new_thumbprint,
            key_type: new_key.key_type(),
        })?;
        tracing::info!("Account {account_url} now uses a new {} key", new_key.key_type().as_str().to_uppercase());
        ctx.outcome.changed = true;
        Ok(())
    })
}

pub(super) fn same_origin(a: &str, b: &str) -> bool {
    fn origin(u: &str) -> &str {
        let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
        let end = rest.find('/').unwrap_or(rest.len());
        &u[..u.len() - rest.len() + end]
    }
    origin(a).eq_ignore_ascii_case(origin(b))
}

pub(super) fn register(
    ctx: &mut Ctx<'_>,
    client: &AcmeClient<'_>,
    key: &PrivateKey,
    key_is_new: bool,
    key_path: &Path,
    reg_path: &Path,
) -> R<()> {
    let tos = client.directory.meta.terms_of_service.clone();
    let agreed = match &tos {
        None => false,
        Some(_) if ctx.args.accept => true,
        Some(url) if std::io::stdin().is_terminal() => {
            println!("The ACME service has these terms of service:\n  {url}");
            print!("Accept? (Y/n) ");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            let answer = answer.trim().to_lowercase();
            if !(answer.is_empty() || answer.starts_with('y')) {
                return Err(Failure::new(ErrorCode::Acme, "terms of service rejected; no account was registered"));
            }
            true
        }
        Some(url) => {
            return Err(Failure::new(
                ErrorCode::Acme,
                format!("the ACME service at {} requires accepting its terms of service ({url}); run acmebot --accept once, or run it on a terminal to be asked", client.directory_url),
            ))
        }
    };
    let contact: Vec<String> = ctx.config.account.email.iter().map(|e| format!("mailto:{e}")).collect();
    let eab = match (&ctx.config.account.eab_kid, &ctx.config.account.eab_hmac_key) {
        (Some(k), Some(h)) => Some((k.as_str(), h.as_str(), ctx.config.account.eab_algorithm.as_str())),
        _ => None,
    };
    if client.directory.meta.external_account_required && eab.is_none() {
        return Err(Failure::new(ErrorCode::Config, format!("the ACME service at {} requires External Account Binding: set account.eab_kid and account.eab_hmac_key", client.directory_url)));
    }
    let (url, account) = client.new_account(&contact, agreed, eab)?;
    let thumbprint = key.jwk_thumbprint();
    let mut ops = Vec::new();
    if key_is_new {
        let json = crypto::account_key_to_json(key).map_err(|e| Failure::new(ErrorCode::Key, e.to_string()))?;
        ops.push(FileOp {
            path: key_path.to_path_buf(),
            kind: "client_key".into(),
            action: Action::Write { contents: json.into_bytes(), mode: 0o600 },
        });
    }
    let registration = serde_json::json!({ "body": account, "uri": url, "terms_of_service": tos });
    ops.push(FileOp {
        path: reg_path.to_path_buf(),
        kind: "registration".into(),
        action: Action::Write {
            contents: serde_json::to_vec_pretty(&registration).expect("json").into_iter().chain(*b"\n").collect(),
            mode: 0o600,
        },
    });
    if key_is_new {
        ctx.record(Event::AccountKeyGenerated {
            path: key_path.display().to_string(),
            key_type: key.key_type(),
            thumbprint: thumbprint.clone(),
        })?;
    }
    let plan = Plan { key_name: "client".into(), ops, owner: None, archive_root: archive_root(ctx.config)? };
    commit(ctx, &plan)?;
    ctx.record(Event::AccountRegistered {
        directory_url: client.directory_url.clone(),
        account_url: url.clone(),
        thumbprint,
        contact,
        tos_agreed: agreed,
    })?;
    tracing::info!("Registered ACME account {url}");
    ctx.outcome.changed = true;
    Ok(())
}
