//! What a run plans for each private key: the key files of every type and
//! role (on disk, or to be generated or promoted) and the certificates to
//! issue, with why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{AppError, R};
use crate::config::{CertificateSpec, PrivateKeySpec};
use crate::crypto::PrivateKey;
use crate::renew::Reason;
use crate::safe_fs::{self, Dir, FsError, Trust};
use crate::types::{sha256_hex, KeyRole, KeyType};

/// A file as found on disk.
pub struct Found {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

pub fn read_optional(path: &Path) -> R<Option<Found>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Found { path: path.to_path_buf(), sha256: sha256_hex(&bytes), bytes })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::file(path, "read")(e)),
    }
}

/// A private key (or the account key), read only from a directory no other
/// user controls: a key another user could have put there is never used
/// (`safe_fs`: the directory is refused, naming it). `None` when the file or
/// its directory does not exist.
pub fn read_private(path: &Path) -> R<Option<Found>> {
    let (dir, name) = safe_fs::split(path)?;
    let dir = match Dir::open(dir, Trust::Private) {
        Err(FsError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let bytes = dir.read(name).map_err(AppError::file(path, "read"))?;
    Ok(bytes.map(|bytes| Found { path: path.to_path_buf(), sha256: sha256_hex(&bytes), bytes }))
}

/// A key of one type and role: loaded, adopted, or to be generated.
pub struct KeySlot {
    pub path: PathBuf,
    pub spki_sha256: String,
    /// Parsed lazily: only a run that issues or writes needs the key itself.
    pub key: Option<PrivateKey>,
    /// The file has to be written (a generated key, or a promoted backup).
    pub is_new: bool,
    /// A primary key that is the former backup key (rollover), with the SPKI
    /// digest of the primary it replaces, if that is known.
    pub promoted: Option<Option<String>>,
    /// On a rollover of a primary key that was installed: its PEM, written to
    /// `directories.previous_key` (when set) in the same transaction.
    pub previous_pem: Option<Vec<u8>>,
    /// The same key, written again: encrypted, now that a passphrase is set.
    pub rewrite: bool,
}

impl KeySlot {
    pub fn missing(path: PathBuf) -> KeySlot {
        KeySlot {
            path,
            spki_sha256: String::new(),
            key: None,
            is_new: true,
            promoted: None,
            previous_pem: None,
            rewrite: false,
        }
    }
}

/// What one certificate of one key type needs.
pub struct CertWork {
    pub cert: CertificateSpec,
    pub key_type: KeyType,
    pub reason: Reason,
    /// ARI certificate identifier of the certificate this one replaces.
    pub replaces: Option<String>,
}

pub struct KeyPlan<'c> {
    pub spec: &'c PrivateKeySpec,
    pub slots: BTreeMap<(KeyType, KeyRole), KeySlot>,
    pub work: Vec<CertWork>,
    /// The HPKP header files are missing or out of date with keys that are
    /// all installed already (nothing else may need doing).
    pub hpkp_stale: bool,
}

impl KeyPlan<'_> {
    /// Whether the key's transaction has anything to install.
    pub fn needs_install(&self) -> bool {
        !self.work.is_empty() || self.slots.values().any(|s| s.is_new || s.rewrite) || self.hpkp_stale
    }
}
