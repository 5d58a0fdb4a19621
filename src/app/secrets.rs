//! Passphrases of private keys, and key files read and written with them.
//!
//! `key_passphrase` (global or per private key): null/false writes keys
//! unencrypted; a string is the passphrase; `true` asks at run time, in the
//! manual's order: `--pass`, then `ACMEBOT_PASSPHRASE`, then a prompt per
//! private key on a terminal, then one line of standard input per private
//! key. An encrypted key found without a passphrase configured is read with
//! one asked for the same way (as the original does), and new keys are then
//! written unencrypted. A passphrase never reaches the journal, a log, an
//! error message or a hook's command line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use super::error::{AppError, R};
use crate::config::{Passphrase, PrivateKeySpec};
use crate::crypto::{self, KeyCipher, PrivateKey};
use crate::hooks::PASSPHRASE_ENV;

/// Where run-time passphrases come from, and those already given (one per
/// private key name: every key type of a key shares it).
pub struct Passphrases {
    command_line: Option<String>,
    environment: Option<String>,
    given: RefCell<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Passphrases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrases(<redacted>)")
    }
}

impl Passphrases {
    /// `--pass` and the environment, as the run found them.
    pub fn new(command_line: Option<String>) -> Passphrases {
        let environment = std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty());
        Passphrases { command_line: command_line.filter(|p| !p.is_empty()), environment, given: Default::default() }
    }

    /// The passphrase `spec`'s keys are written with; None: unencrypted.
    pub fn for_writing(&self, spec: &PrivateKeySpec) -> R<Option<String>> {
        match &spec.key_passphrase {
            Passphrase::None => Ok(None),
            Passphrase::Value(p) => Ok(Some(p.clone())),
            Passphrase::Prompt => self.at_run_time(&spec.name).map(Some),
        }
    }

    /// The passphrase to read an encrypted key of the private key `name`.
    fn for_reading(&self, name: &str, configured: &Passphrase) -> R<String> {
        match configured {
            Passphrase::Value(p) => Ok(p.clone()),
            _ => self.at_run_time(name),
        }
    }

    fn at_run_time(&self, name: &str) -> R<String> {
        if let Some(p) = self.command_line.as_ref().or(self.environment.as_ref()) {
            return Ok(p.clone());
        }
        if let Some(p) = self.given.borrow().get(name) {
            return Ok(p.clone());
        }
        let asked = if crate::platform::stdin_is_terminal() {
            crate::platform::read_secret_from_terminal(&format!("Passphrase for private key {name}: "))
                .map_err(|e| no_passphrase(name, &format!("the terminal could not be read ({e})")))?
        } else {
            let mut line = String::new();
            let read = std::io::stdin().lock().read_line(&mut line);
            let line_given = matches!(read, Ok(n) if n > 0);
            let passphrase = line.trim_end_matches(['\n', '\r']).to_string();
            let mut bytes = line.into_bytes();
            crate::platform::zeroize(&mut bytes);
            if !line_given {
                return Err(no_passphrase(name, "standard input has no more lines"));
            }
            passphrase
        };
        if asked.is_empty() {
            return Err(no_passphrase(name, "an empty passphrase was given"));
        }
        self.given.borrow_mut().insert(name.to_string(), asked.clone());
        Ok(asked)
    }
}

fn no_passphrase(name: &str, why: &str) -> AppError {
    AppError::setting(
        format!("private key {name}: key_passphrase"),
        format!(
            "no passphrase: {why}; give one with --pass, {PASSPHRASE_ENV}, on a terminal, or as a line on \
             standard input"
        ),
    )
}

/// A private key file of `spec`, decrypted when it is encrypted. A wrong
/// passphrase is an error naming the file (nothing is changed).
pub fn read_key(pp: &Passphrases, spec: &PrivateKeySpec, path: &Path, bytes: &[u8]) -> R<PrivateKey> {
    if crypto::is_encrypted_pem(bytes) {
        let passphrase = pp.for_reading(&spec.name, &spec.key_passphrase)?;
        PrivateKey::from_pem_with_passphrase(bytes, passphrase.as_bytes()).map_err(AppError::key(path))
    } else {
        PrivateKey::from_pem(bytes).map_err(AppError::key(path))
    }
}

/// The size or curve of a key (what `crypto::key_params_from_pem` reads
/// from an unencrypted file).
pub fn key_params(key: &PrivateKey) -> Option<crypto::KeyParams> {
    match (key.rsa_bits(), key.curve()) {
        (Some(bits), _) => Some(crypto::KeyParams::Rsa(bits)),
        (None, Some(curve)) => Some(crypto::KeyParams::Ec(curve)),
        _ => None,
    }
}

/// How `spec`'s key files are written: the passphrase and cipher, or none.
pub struct KeyWriting {
    passphrase: Option<String>,
    cipher: KeyCipher,
}

impl KeyWriting {
    pub fn of(pp: &Passphrases, spec: &PrivateKeySpec, settings_cipher: Option<&str>) -> R<KeyWriting> {
        let passphrase = pp.for_writing(spec)?;
        let name = spec.key_cipher.as_deref().or(settings_cipher).unwrap_or("blowfish");
        // Checked when the configuration loaded; the mapping's note was said there.
        let (cipher, _) = crypto::key_cipher(name)
            .map_err(|e| AppError::setting(format!("private key {}: key_cipher", spec.name), e))?;
        Ok(KeyWriting { passphrase, cipher })
    }

    /// Keys written unencrypted (a transaction that writes no key).
    pub fn none() -> KeyWriting {
        KeyWriting { passphrase: None, cipher: KeyCipher::Aes256Cbc }
    }

    /// The key as PEM: PKCS#8, encrypted (PBES2) when a passphrase is set.
    pub fn pem(&self, key: &PrivateKey) -> R<String> {
        match &self.passphrase {
            None => Ok(key.to_pkcs8_pem()),
            Some(p) => key.to_encrypted_pkcs8_pem(p.as_bytes(), self.cipher).map_err(AppError::KeyGeneration),
        }
    }

    /// A key file kept as it is (a previous key), re-encoded encrypted when
    /// a passphrase is set and the file is not encrypted yet.
    pub fn keep(&self, pp: &Passphrases, spec: &PrivateKeySpec, path: &Path, bytes: &[u8]) -> R<Vec<u8>> {
        if self.passphrase.is_none() || crypto::is_encrypted_pem(bytes) {
            return Ok(bytes.to_vec());
        }
        let key = read_key(pp, spec, path, bytes)?;
        Ok(self.pem(&key)?.into_bytes())
    }

    /// What the journal says of a written key file: how it is encrypted.
    pub fn encryption(&self) -> Option<String> {
        self.passphrase.as_ref().map(|_| format!("pkcs8-pbes2-scrypt-{}", self.cipher.name()))
    }

    /// The `passphrase` field of the key hooks: the passphrase (it reaches
    /// the hook through its environment, never its command line), or empty.
    pub fn hook_field(&self) -> String {
        self.passphrase.clone().unwrap_or_default()
    }
}
