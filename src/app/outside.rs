//! Files changed by someone else: the original renewed once more, or an
//! operator installed a certificate by hand. A change that leaves a valid
//! certificate for the configured names, matching its private key, is taken
//! over (journaled, never treated as damage); anything else is damage or
//! tampering, which `--audit` reports and `--recover` undoes.

use std::path::{Path, PathBuf};

use super::secrets::{self, Passphrases};
use crate::config::{CertificateSpec, Config, FileKind, PrivateKeySpec};
use crate::crypto::{self, CertInfo, PrivateKey};
use crate::time::Time;
use crate::types::KeyType;

/// Where a file belongs in the configuration.
struct Place<'c> {
    kind: FileKind,
    key: &'c PrivateKeySpec,
    cert: Option<&'c CertificateSpec>,
    key_type: KeyType,
}

/// The configured file `path` is, if any.
fn place_of<'c>(config: &'c Config, path: &Path) -> Option<Place<'c>> {
    for key in &config.private_keys {
        for &kt in &key.key_types {
            for kind in [FileKind::PrivateKey, FileKind::BackupKey] {
                if config.file_path(kind, &key.name, Some(kt)).ok().flatten().as_deref() == Some(path) {
                    return Some(Place { kind, key, cert: None, key_type: kt });
                }
            }
            for cert in &key.certificates {
                for kind in [FileKind::Certificate, FileKind::FullCertificate, FileKind::Chain, FileKind::FullKey] {
                    if config.file_path(kind, &cert.name, Some(kt)).ok().flatten().as_deref() == Some(path) {
                        return Some(Place { kind, key, cert: Some(cert), key_type: kt });
                    }
                }
            }
        }
    }
    None
}

/// The private key `path` belongs to (its archive directory's name).
pub fn key_of(config: &Config, path: &Path) -> Option<String> {
    place_of(config, path).map(|p| p.key.name.clone())
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn certs_in(bytes: &[u8]) -> Vec<CertInfo> {
    crypto::pem_to_ders(bytes).unwrap_or_default().iter().filter_map(|d| crypto::parse_cert(d).ok()).collect()
}

/// The primary key of `place`, read from its file.
fn primary_key(config: &Config, pp: &Passphrases, place: &Place<'_>) -> Option<PrivateKey> {
    let path: PathBuf = config.file_path(FileKind::PrivateKey, &place.key.name, Some(place.key_type)).ok()??;
    secrets::read_key(pp, place.key, &path, &read(&path)?).ok()
}

/// Why `leaf` is a valid certificate of `cert` for `key` now, or why not.
fn judge_leaf(leaf: &CertInfo, cert: &CertificateSpec, key: &PrivateKey, now: Time) -> Result<(), String> {
    let t = now.secs();
    if leaf.not_before > t || leaf.not_after <= t {
        return Err(format!("the certificate (serial {}) is not valid now", leaf.serial_hex));
    }
    let missing: Vec<String> = cert.all_names().into_iter().filter(|n| !leaf.sans.contains(n)).collect();
    if !missing.is_empty() {
        return Err(format!("the certificate does not name {}", missing.join(", ")));
    }
    if !crypto::key_matches_cert(key, leaf) {
        return Err("the certificate does not match the private key".into());
    }
    Ok(())
}

/// The certificate file of `cert` and `key_type`, parsed.
fn installed_leaf(config: &Config, cert: &CertificateSpec, kt: KeyType) -> Option<CertInfo> {
    let path = config.file_path(FileKind::Certificate, &cert.name, Some(kt)).ok()??;
    certs_in(&read(&path)?).into_iter().next()
}

/// Whether the file at `path` (which differs from what acmebot installed) is
/// a valid change made outside acmebot: `Ok(what)` says what it now holds,
/// `Err(why)` why it is damage. Only key and certificate files can be such
/// a change; any other file is damage.
pub fn judge(config: &Config, pp: &Passphrases, path: &Path, now: Time) -> Result<String, String> {
    let Some(place) = place_of(config, path) else {
        return Err("not a key or certificate file".into());
    };
    let bytes = read(path).ok_or_else(|| "unreadable".to_string())?;
    match (place.kind, place.cert) {
        (FileKind::PrivateKey | FileKind::BackupKey, _) => {
            let key =
                secrets::read_key(pp, place.key, path, &bytes).map_err(|e| format!("not a usable private key: {e}"))?;
            if key.key_type() != place.key_type {
                return Err(format!("holds a {} key where a {} key belongs", key.key_type(), place.key_type));
            }
            if place.kind == FileKind::PrivateKey {
                for cert in place.key.certificates.iter().filter(|c| c.key_types.contains(&place.key_type)) {
                    let leaf = installed_leaf(config, cert, place.key_type)
                        .ok_or_else(|| format!("certificate {} is missing", cert.name))?;
                    judge_leaf(&leaf, cert, &key, now).map_err(|e| format!("certificate {}: {e}", cert.name))?;
                }
                Ok(format!("a {} private key matching its certificates", place.key_type))
            } else {
                Ok(format!("a {} backup key", place.key_type))
            }
        }
        (kind, Some(cert)) => {
            let key = primary_key(config, pp, &place).ok_or_else(|| "its private key cannot be read".to_string())?;
            let certs = certs_in(&bytes);
            let leaf = match kind {
                FileKind::Chain => {
                    if certs.is_empty() {
                        return Err("holds no certificate".into());
                    }
                    installed_leaf(config, cert, place.key_type).ok_or("its certificate is missing")?
                }
                _ => certs.first().cloned().ok_or("holds no certificate")?,
            };
            judge_leaf(&leaf, cert, &key, now)?;
            if kind == FileKind::FullKey {
                let held = secrets::read_key(pp, place.key, path, &bytes)
                    .map_err(|_| "holds no usable private key".to_string())?;
                if !crypto::key_matches_cert(&held, &leaf) {
                    return Err("its private key does not match its certificate".into());
                }
            }
            let until = crate::time::rfc3339(leaf.not_after);
            Ok(format!(
                "a valid certificate for {} (serial {}, until {until}) matching its key",
                cert.name, leaf.serial_hex
            ))
        }
        _ => Err("not a key or certificate file".into()),
    }
}
