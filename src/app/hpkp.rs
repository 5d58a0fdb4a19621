//! HPKP header files of one private key: pins of its primary, backup and
//! previous keys (every key type, in that order, as the original lists them),
//! written in the key's transaction whenever their text changes.

use std::path::PathBuf;

use super::error::{AppError, R};
use super::plan::{read_optional, KeyPlan};
use super::secrets::{self, Passphrases};
use super::tlsa::read_key_spki;
use crate::config::{Config, FileKind};
use crate::types::KeyRole;

pub struct HpkpFile {
    pub server: String,
    pub path: PathBuf,
    /// The file's text, the header line as the server reads it.
    pub contents: String,
}

/// The header files the key should have; `None` while a key is still to be
/// generated (its pin is not known yet). Empty when HPKP is off for the key
/// (`hpkp_days` 0 or null, `directories.hpkp` null) or it has fewer than two
/// keys to pin (a pin set without a backup would lock clients out).
pub fn wanted(cfg: &Config, pp: &Passphrases, plan: &KeyPlan<'_>) -> R<Option<Vec<HpkpFile>>> {
    let spec = plan.spec;
    let days = match spec.hpkp_days {
        Some(d) if d > 0 => d,
        _ => return Ok(Some(Vec::new())),
    };
    // Where the files go, first: with `directories.hpkp` null (the default)
    // there is nothing to compute and no key file to read.
    let mut targets = Vec::new();
    for (server, pattern) in &cfg.hpkp_headers {
        if let Some(path) = cfg.file_path_with(FileKind::Hpkp, &spec.name, None, &[("server", server)])? {
            targets.push((server, pattern, path));
        }
    }
    if targets.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut pins = Vec::new();
    for role in [KeyRole::Primary, KeyRole::Backup] {
        for &kt in &spec.key_types {
            let Some(slot) = plan.slots.get(&(kt, role)) else { continue };
            if slot.spki_sha256.is_empty() {
                return Ok(None);
            }
            let digest = crate::hpkp::from_hex(&slot.spki_sha256).ok_or_else(|| AppError::KeyMismatch {
                path: slot.path.clone(),
                detail: format!("bad key digest {:?}", slot.spki_sha256),
            })?;
            pins.push(crate::hpkp::pin(&digest));
        }
    }
    for &kt in &spec.key_types {
        let Some(path) = cfg.file_path(FileKind::PreviousKey, &spec.name, Some(kt))? else { continue };
        // a rollover of this run writes the previous key in the same transaction
        let spki = match plan.slots.get(&(kt, KeyRole::Primary)).and_then(|s| s.previous_pem.as_deref()) {
            Some(pem) => Some(secrets::read_key(pp, spec, &path, pem)?.spki_der().to_vec()),
            None => read_key_spki(pp, spec, &path)?,
        };
        if let Some(spki) = spki {
            pins.push(crate::hpkp::pin(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki).as_ref()));
        }
    }
    if pins.len() < 2 {
        return Ok(Some(Vec::new()));
    }
    let header = crate::hpkp::header(&pins, days, spec.pin_subdomains, spec.hpkp_report_uri.as_deref());
    let mut files = Vec::new();
    for (server, pattern, path) in targets {
        let fields = [
            ("header", header.as_str()),
            ("key_name", spec.name.as_str()),
            ("name", spec.name.as_str()),
            ("server", server.as_str()),
        ];
        let contents = crate::format::render(pattern, &fields)
            .map_err(|e| AppError::setting(format!("hpkp_headers.{server}"), e.to_string()))?;
        files.push(HpkpFile { server: server.clone(), path, contents });
    }
    Ok(Some(files))
}

/// Whether any header file differs from what is on disk (or is missing).
pub fn differs(file: &HpkpFile) -> R<bool> {
    Ok(read_optional(&file.path)?.map(|f| f.bytes != file.contents.as_bytes()).unwrap_or(true))
}

/// Whether the key's header files are out of date with keys that are all known
/// (a key still to be generated rewrites them anyway when it is installed).
pub fn stale(cfg: &Config, pp: &Passphrases, plan: &KeyPlan<'_>) -> R<bool> {
    match wanted(cfg, pp, plan)? {
        Some(files) => {
            for f in &files {
                if differs(f)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        None => Ok(false),
    }
}
