//! The ACME account: the client key and registration in the original's
//! files, registration with terms of service and External Account Binding,
//! and the account key rollover.

use std::io::IsTerminal;
use std::path::Path;

use super::ctx::{Ctx, VERSION};
use super::error::{AppError, R};
use crate::acme::client::versions_offered;
use crate::acme::{AcmeClient, AcmeVersion};
use crate::config::{Config, Dir, VerifySsl};
use crate::crypto::{self, PrivateKey};
use crate::http::{self, Transport, UreqTransport};
use crate::journal::Event;
use crate::output;
use crate::text;
use crate::txn::{Action, FileOp, Plan};
use crate::types::Curve;

/// The archive root every transaction needs.
pub fn archive_root(config: &Config) -> R<std::path::PathBuf> {
    config
        .dir(Dir::Archive, &[])?
        .ok_or_else(|| AppError::setting("directories.archive", "is null, but replaced files must be archived"))
}

/// The account's files, read only from a directory no other user controls.
fn read_optional(path: &Path) -> R<Option<Vec<u8>>> {
    Ok(super::plan::read_private(path)?.map(|f| f.bytes))
}

/// The HTTPS transport to the CA, as `acme_directory_verify_ssl` and
/// `ca_bundle` say.
fn transport(ctx: &Ctx<'_>) -> R<UreqTransport> {
    let settings = &ctx.config.settings;
    // acme_directory_verify_ssl as the original's: true, false, or a bundle.
    let (roots, verify) = match &settings.acme_directory_verify_ssl {
        VerifySsl::Bundle(path) => {
            let mut roots = http::bundle(path, "settings.acme_directory_verify_ssl")
                .map_err(|message| AppError::setting("settings.acme_directory_verify_ssl", message))?;
            if let Some(extra) = settings.ca_bundle.as_deref() {
                roots.extend(
                    http::bundle(extra, "settings.ca_bundle")
                        .map_err(|message| AppError::setting("settings.ca_bundle", message))?,
                );
            }
            (roots, true)
        }
        VerifySsl::Verify(verify) => {
            let roots = http::trust_anchors(settings.ca_bundle.as_deref())
                .map_err(|message| AppError::setting("settings.ca_bundle", message))?;
            (roots, *verify)
        }
    };
    let user_agent = format!("acmebot/{VERSION} (+https://github.com/plinss/acmebot)");
    let transport = UreqTransport::new(roots, &user_agent, verify);
    Ok(transport)
}

/// Fetches the directory and speaks the ACME version it offers (v2 when it
/// offers both), or the one `settings.acme_version` asks for: a directory
/// that does not offer it is an error naming the setting.
fn connect<'a>(
    ctx: &Ctx<'a>,
    transport: &'a UreqTransport,
    directory_url: &str,
    key: &'a PrivateKey,
) -> R<AcmeClient<'a>> {
    let transport = transport as &dyn Transport;
    let (document, response) = AcmeClient::fetch_directory(transport, directory_url)?;
    let (v1, v2) = versions_offered(&document);
    let version = match ctx.config.settings.acme_version {
        None if v2 || !v1 => AcmeVersion::V2,
        None => AcmeVersion::V1,
        Some(1) if v1 => AcmeVersion::V1,
        Some(2) if v2 || !v1 => AcmeVersion::V2,
        Some(n) => {
            let offered = if v1 {
                "an ACME v1 directory (new-reg, new-authz)"
            } else {
                "an ACME v2 directory (newAccount, newOrder)"
            };
            let detail = format!(
                "is {n}, but {} is {offered}; set it to null to speak what the directory offers",
                text::printable(directory_url, text::SHORT)
            );
            return Err(AppError::setting("settings.acme_version", detail));
        }
    };
    if version == AcmeVersion::V1 {
        tracing::debug!("{directory_url} speaks ACME v1 (draft-ietf-acme-acme-02)");
    }
    Ok(AcmeClient::with_directory(transport, ctx.clock, directory_url, &document, &response, key, version)?)
}

/// Connects to the ACME server for requests that need no account (ARI's
/// renewal windows, RFC 9773 §4: plain GETs), then runs `f`. The account key
/// is used when there is one; otherwise a throwaway key, never saved,
/// journaled or registered: a run that only asks for renewal windows makes
/// no account.
pub fn with_acme_read_only(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Ctx<'_>, &AcmeClient<'_>) -> R<()>) -> R<()> {
    let transport = transport(ctx)?;
    let directory_url = ctx.config.settings.acme_directory_url.clone();
    let key_path = ctx.config.resource_dir().join("client_key.json");
    let account_key = match read_optional(&key_path)? {
        Some(bytes) => crypto::account_key_from_json(&bytes).map_err(AppError::key(&key_path))?,
        None => PrivateKey::generate_ecdsa(Curve::P256).map_err(AppError::KeyGeneration)?,
    };
    let client = connect(ctx, &transport, &directory_url, &account_key)?;
    f(ctx, &client)
}

/// Connects to the ACME server with the account (loaded, or generated and
/// registered), then runs `f`.
pub fn with_acme(
    ctx: &mut Ctx<'_>,
    force_register: bool,
    f: impl FnOnce(&mut Ctx<'_>, &AcmeClient<'_>) -> R<()>,
) -> R<()> {
    let transport = transport(ctx)?;
    let directory_url = ctx.config.settings.acme_directory_url.clone();
    let resource = ctx.config.resource_dir();
    let key_path = resource.join("client_key.json");
    let reg_path = resource.join("registration.json");

    let existing = read_optional(&key_path)?;
    let mut account_key = match &existing {
        Some(bytes) => crypto::account_key_from_json(bytes).map_err(AppError::key(&key_path))?,
        None => {
            tracing::info!("Client key not present, generating");
            new_account_key(ctx, &key_path)?
        }
    };
    let mut key_is_new = existing.is_none();
    let mut registered_url = None;
    if !key_is_new && !force_register {
        if let Some(bytes) = read_optional(&reg_path)? {
            let reg: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| AppError::setting(reg_path.display().to_string(), e.to_string()))?;
            if let Some(uri) = reg.get("uri").and_then(|u| u.as_str()) {
                if same_origin(uri, &directory_url) {
                    registered_url = Some(uri.to_string());
                } else {
                    tracing::info!("ACME service URL has changed, re-registering with new client key");
                    account_key = new_account_key(ctx, &key_path)?;
                    key_is_new = true;
                }
            }
        }
    }
    let client = connect(ctx, &transport, &directory_url, &account_key)?;
    match registered_url {
        Some(url) => client.set_account_url(&url),
        None => register(ctx, &client, key_is_new, &key_path, &reg_path)?,
    }
    f(ctx, &client)
}

/// A new account key of `account.key_type`, journaled as generated:
/// "rsa" (4096 bits, the original's, the default), "rsa2048", "rsa3072",
/// "ecdsa"/"secp256r1" (ES256) or "secp384r1" (ES384).
fn new_account_key(ctx: &mut Ctx<'_>, path: &Path) -> R<PrivateKey> {
    let kind = ctx.config.account.key_type.as_deref().unwrap_or("rsa").to_ascii_lowercase();
    let key = match kind.as_str() {
        "rsa" | "rsa4096" => PrivateKey::generate_rsa(4096),
        "rsa2048" => PrivateKey::generate_rsa(2048),
        "rsa3072" => PrivateKey::generate_rsa(3072),
        "ecdsa" | "secp256r1" | "p-256" | "es256" => PrivateKey::generate_ecdsa(Curve::P256),
        "secp384r1" | "p-384" | "es384" => PrivateKey::generate_ecdsa(Curve::P384),
        other => {
            let allowed = "use one of \"rsa\", \"rsa2048\", \"rsa3072\", \"ecdsa\" (secp256r1), \"secp384r1\"";
            return Err(AppError::setting("account.key_type", format!("{other:?} is not allowed; {allowed}")));
        }
    };
    let key = key.map_err(AppError::KeyGeneration)?;
    let event = Event::AccountKeyGenerated {
        path: path.display().to_string(),
        key_type: key.key_type(),
        thumbprint: key.jwk_thumbprint(),
    };
    ctx.record(event)?;
    Ok(key)
}

/// `--account-key-rollover`: keyChange to a new key of `account.key_type`,
/// then the new key replaces client_key.json (the old one is archived).
pub fn account_key_rollover(ctx: &mut Ctx<'_>) -> R<()> {
    let key_path = ctx.config.resource_dir().join("client_key.json");
    with_acme(ctx, false, |ctx, client| {
        let new_key = new_account_key(ctx, &key_path)?;
        let old_thumbprint = client.key().jwk_thumbprint();
        client.key_change(&new_key)?;
        let account_url = client.account_url().unwrap_or_default();
        let new_thumbprint = new_key.jwk_thumbprint();
        ctx.record(Event::AccountKeyRolledOver {
            account_url: account_url.clone(),
            old_thumbprint,
            new_thumbprint,
            key_type: new_key.key_type(),
        })?;
        let json = crypto::account_key_to_json(&new_key).map_err(AppError::key(&key_path))?;
        let op = FileOp {
            path: key_path.clone(),
            kind: "client_key".into(),
            action: Action::Write { contents: json.into_bytes(), mode: 0o600 },
        };
        let plan = Plan {
            key_name: "client".into(),
            ops: vec![op],
            owner: None,
            archive_root: archive_root(ctx.config)?,
            effects: vec![],
        };
        ctx.commit(&plan)?;
        tracing::info!("Account {account_url} now uses a new {} key", new_key.key_type().as_str().to_uppercase());
        ctx.report.changed = true;
        Ok(())
    })
}

pub fn same_origin(a: &str, b: &str) -> bool {
    fn origin(u: &str) -> &str {
        let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
        let end = rest.find('/').unwrap_or(rest.len());
        &u[..u.len() - rest.len() + end]
    }
    origin(a).eq_ignore_ascii_case(origin(b))
}

/// Whether the terms of service are agreed to: `--accept`, or asked on a terminal.
fn agree_to_terms(ctx: &Ctx<'_>, client: &AcmeClient<'_>) -> R<bool> {
    match &client.directory.meta.terms_of_service {
        None => Ok(false),
        Some(_) if ctx.opts.accept => Ok(true),
        Some(url) if std::io::stdin().is_terminal() => {
            let url = text::printable(url, text::SHORT);
            output::print(&format!("The ACME service has these terms of service:\n  {url}\nAccept? (Y/n) "));
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            let answer = answer.trim().to_lowercase();
            if !(answer.is_empty() || answer.starts_with('y')) {
                return Err(AppError::Issue {
                    what: client.directory_url.clone(),
                    detail: "terms of service rejected; no account was registered".into(),
                });
            }
            Ok(true)
        }
        Some(url) => Err(AppError::Issue {
            what: format!("the ACME service at {}", client.directory_url),
            detail: format!(
                "requires accepting its terms of service ({}); run acmebot --accept once, or run it on a terminal to be asked",
                text::printable(url, text::SHORT)
            ),
        }),
    }
}

fn register(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, key_is_new: bool, key_path: &Path, reg_path: &Path) -> R<()> {
    let agreed = agree_to_terms(ctx, client)?;
    let account = &ctx.config.account;
    let contact: Vec<String> = account.email.iter().map(|e| format!("mailto:{e}")).collect();
    let eab = match (&account.eab_kid, &account.eab_hmac_key) {
        (Some(k), Some(h)) => Some((k.as_str(), h.as_str(), account.eab_algorithm.as_str())),
        _ => None,
    };
    if client.version() == AcmeVersion::V1 && eab.is_some() {
        let detail = format!(
            "External Account Binding does not exist in ACME v1, and {} is an ACME v1 directory: \
             remove account.eab_kid and account.eab_hmac_key, or use the CA's ACME v2 directory",
            text::printable(&client.directory_url, text::SHORT)
        );
        return Err(AppError::setting("account.eab_kid", detail));
    }
    if client.directory.meta.external_account_required && eab.is_none() {
        let detail = format!(
            "the ACME service at {} requires External Account Binding: set account.eab_kid and account.eab_hmac_key",
            client.directory_url
        );
        return Err(AppError::setting("account", detail));
    }
    let (url, body) = client.new_account(&contact, agreed, eab)?;
    let key = client.key();
    let thumbprint = key.jwk_thumbprint();
    ctx.record(Event::AccountRegistered {
        directory_url: client.directory_url.clone(),
        account_url: url.clone(),
        thumbprint,
        contact,
        tos_agreed: agreed,
    })?;
    let mut ops = Vec::new();
    if key_is_new {
        let json = crypto::account_key_to_json(key).map_err(AppError::key(key_path))?;
        let action = Action::Write { contents: json.into_bytes(), mode: 0o600 };
        ops.push(FileOp { path: key_path.to_path_buf(), kind: "client_key".into(), action });
    }
    let tos = client.directory.meta.terms_of_service.clone();
    let registration = serde_json::json!({ "body": body, "uri": url, "terms_of_service": tos });
    let mut text = serde_json::to_vec_pretty(&registration).expect("a JSON value serializes");
    text.push(b'\n');
    let action = Action::Write { contents: text, mode: 0o600 };
    ops.push(FileOp { path: reg_path.to_path_buf(), kind: "registration".into(), action });
    let plan =
        Plan { key_name: "client".into(), ops, owner: None, archive_root: archive_root(ctx.config)?, effects: vec![] };
    ctx.commit(&plan)?;
    tracing::info!("Registered ACME account {url}");
    ctx.report.changed = true;
    Ok(())
}
