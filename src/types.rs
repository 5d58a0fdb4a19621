//! Small value types shared by every layer.

use std::fmt;

/// The two key algorithms acmebot keeps in parallel for every private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Rsa,
    Ecdsa,
}

impl KeyType {
    pub const ALL: [KeyType; 2] = [KeyType::Rsa, KeyType::Ecdsa];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ecdsa => "ecdsa",
        }
    }

    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "rsa" => Some(KeyType::Rsa),
            "ecdsa" => Some(KeyType::Ecdsa),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ECDSA curves, named as the original's configuration names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Curve {
    #[serde(rename = "secp256r1")]
    P256,
    #[serde(rename = "secp384r1")]
    P384,
    #[serde(rename = "secp521r1")]
    P521,
}

impl Curve {
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "secp256r1",
            Curve::P384 => "secp384r1",
            Curve::P521 => "secp521r1",
        }
    }

    pub fn parse(s: &str) -> Option<Curve> {
        match s {
            "secp256r1" | "prime256v1" | "P-256" => Some(Curve::P256),
            "secp384r1" | "P-384" => Some(Curve::P384),
            "secp521r1" | "P-521" => Some(Curve::P521),
            _ => None,
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a private key file is for (the original's primary/backup/previous files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    Primary,
    Backup,
    Previous,
}

impl KeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Primary => "primary",
            KeyRole::Backup => "backup",
            KeyRole::Previous => "previous",
        }
    }

    pub fn parse(s: &str) -> Option<KeyRole> {
        match s {
            "primary" => Some(KeyRole::Primary),
            "backup" => Some(KeyRole::Backup),
            "previous" => Some(KeyRole::Previous),
            _ => None,
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(D[(b >> 4) as usize]);
        out.push(D[(b & 15) as usize]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// SHA-256 of bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}
