//! Installation verification: connect to a server (through its STARTTLS
//! dialect where it has one), do a TLS handshake offering one key type, and
//! compare what it serves with the installed certificate, chain, OCSP
//! response and HPKP pins. The network side is [`fetch`]; [`compare`] is
//! pure and says exactly what differed. Which servers to ask, how many at
//! once, and what is reported and journaled is `app::verify`'s.

pub mod starttls;
pub mod tls;

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::config::StartTls;
use crate::crypto::{self, CertInfo};
use crate::ocsp::{self, CertStatus};
use crate::time::Timestamp;
use crate::types::KeyType;

pub use tls::Handshake;

/// One connection to make.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub addr: SocketAddr,
    pub starttls: Option<StartTls>,
    /// Also fetch the page's headers (the `http` protocol).
    pub http: bool,
    pub key_type: KeyType,
}

impl Target {
    /// "www.example.com at [::1]:443", as the original names a connection.
    pub fn describe(&self) -> String {
        format!("{} at {}", self.host, self.addr)
    }
}

/// What a server served.
#[derive(Debug, Clone)]
pub struct Served {
    pub handshake: Handshake,
    /// With the `http` protocol: the Public-Key-Pins header's pins, `None`
    /// when the response has no such header.
    pub pins: Option<Option<Vec<Pin>>>,
}

/// One `pin-<algorithm>="<base64>"` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub algorithm: String,
    pub digest: Vec<u8>,
}

/// Time limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Each read and write (the STARTTLS exchange, the handshake, HTTP).
    pub io: Duration,
}

/// Connects to `t` and records what it serves.
pub fn fetch(t: &Target, timeouts: Timeouts) -> Result<Served, String> {
    let mut sock = TcpStream::connect_timeout(&t.addr, timeouts.connect).map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(timeouts.io)).map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(timeouts.io)).map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    if let Some(dialect) = t.starttls {
        starttls::negotiate(&mut sock, dialect, &t.host).map_err(|e| e.0)?;
    }
    let (handshake, headers) = tls::handshake(sock, &t.host, t.key_type, t.http)?;
    let pins = headers.map(|h| h.iter().find(|(k, _)| k == "public-key-pins").map(|(_, v)| parse_pins(v)));
    Ok(Served { handshake, pins })
}

/// The pins of a Public-Key-Pins header value (other directives skipped).
pub fn parse_pins(value: &str) -> Vec<Pin> {
    value
        .split(';')
        .filter_map(|d| {
            let (name, v) = d.trim().split_once('=')?;
            // directive names are case-insensitive (RFC 7469 §2.1)
            let algorithm = name.trim().to_ascii_lowercase().strip_prefix("pin-")?.to_string();
            let digest = STANDARD.decode(v.trim().trim_matches(['"', '\''])).ok()?;
            Some(Pin { algorithm, digest })
        })
        .collect()
}

/// A key whose pin the served header must carry.
#[derive(Debug, Clone)]
pub struct ExpectedPin {
    /// "RSA backup key example.com".
    pub what: String,
    pub spki_sha256: Vec<u8>,
    pub spki_sha512: Vec<u8>,
}

/// What the server should serve: the installed files.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub leaf: &'a CertInfo,
    pub chain: &'a [Vec<u8>],
    /// The certificate the installed one replaced: (serial, when).
    pub previous: Option<(&'a str, Timestamp)>,
    /// A staple is required: an OCSP response is installed, or the
    /// certificate has OCSP Must-Staple.
    pub staple_required: bool,
    /// With the `http` protocol and HPKP on for the key: the pins to find.
    pub pins: Option<&'a [ExpectedPin]>,
    /// The TLSA records DNS has for the port and host (RFC 6698 §3): when
    /// there are any, one must match what is served.
    pub tlsa: &'a [TlsaRecord],
}

/// A TLSA record's fields: usage, selector, matching type, data.
pub type TlsaRecord = (u8, u8, u8, Vec<u8>);

/// One difference between what a server serves and what is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The server sent no certificate.
    NoCertificate,
    /// Another leaf: its subject CN (or subject) and serial, and when it is
    /// the certificate the installed one replaced, when that happened.
    Leaf {
        served: String,
        serial: String,
        expected_serial: String,
        replaced: Option<Timestamp>,
    },
    Unreadable(String),
    ChainLength {
        got: usize,
        expected: usize,
    },
    Intermediate {
        index: usize,
        served: String,
        expected: String,
    },
    StapleMissing {
        must_staple: bool,
    },
    StapleInvalid(String),
    StapleStatus(String),
    PinsMissing,
    PinMissing(String),
    /// None of the host's TLSA records (this many) matches the served chain.
    Tlsa(usize),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoCertificate => write!(f, "no certificate served"),
            Problem::Leaf { served, serial, expected_serial, replaced: Some(at) } => write!(
                f,
                "still serves the previous certificate \"{served}\" (serial {serial}, replaced {}) instead of serial {expected_serial}",
                crate::time::rfc3339(*at)
            ),
            Problem::Leaf { served, serial, expected_serial, replaced: None } => {
                write!(f, "serves another certificate \"{served}\" (serial {serial}), not the installed serial {expected_serial}")
            }
            Problem::Unreadable(e) => write!(f, "serves a certificate that cannot be read: {e}"),
            Problem::ChainLength { got, expected } => {
                write!(f, "certificate chain length mismatch: got {got} intermediate(s), expected {expected}")
            }
            Problem::Intermediate { index, served, expected } => {
                write!(f, "intermediate {} \"{served}\" differs from the installed \"{expected}\"", index + 1)
            }
            Problem::StapleMissing { must_staple: true } => {
                write!(f, "certificate has OCSP Must-Staple but no OCSP staple was sent")
            }
            Problem::StapleMissing { must_staple: false } => {
                write!(f, "no OCSP staple was sent, but an OCSP response is installed")
            }
            Problem::StapleInvalid(e) => write!(f, "the OCSP staple is not valid: {e}"),
            Problem::StapleStatus(s) => write!(f, "OCSP staple has status: {s}"),
            Problem::PinsMissing => write!(f, "Public-Key-Pins header not found"),
            Problem::PinMissing(what) => write!(f, "Public key pin missing for {what}"),
            Problem::Tlsa(n) => write!(f, "none of the {n} TLSA record(s) in DNS matches the served certificate"),
        }
    }
}

fn name_of(c: &CertInfo) -> String {
    c.subject_cn.clone().unwrap_or_else(|| c.subject.clone())
}

/// What differs between `served` and `e` (empty: the server serves the
/// installed files). The staple is checked against the installed leaf and
/// its issuer at `now`.
pub fn compare(e: &Expected<'_>, served: &Served, now: Timestamp) -> Vec<Problem> {
    let mut problems = Vec::new();
    let hs = &served.handshake;
    let Some(leaf_der) = hs.chain.first() else { return vec![Problem::NoCertificate] };
    let leaf_matches = *leaf_der == e.leaf.der;
    if !leaf_matches {
        match crypto::parse_cert(leaf_der) {
            Ok(c) => {
                let replaced = e.previous.filter(|(serial, _)| *serial == c.serial_hex).map(|(_, at)| at);
                problems.push(Problem::Leaf {
                    served: name_of(&c),
                    serial: c.serial_hex.clone(),
                    expected_serial: e.leaf.serial_hex.clone(),
                    replaced,
                });
            }
            Err(err) => problems.push(Problem::Unreadable(err.to_string())),
        }
    }
    let served_chain = &hs.chain[1..];
    if served_chain.len() != e.chain.len() {
        problems.push(Problem::ChainLength { got: served_chain.len(), expected: e.chain.len() });
    } else {
        for (index, (got, want)) in served_chain.iter().zip(e.chain).enumerate() {
            if got != want {
                let name = |der: &[u8]| crypto::parse_cert(der).map(|c| name_of(&c)).unwrap_or_else(|_| "?".into());
                problems.push(Problem::Intermediate { index, served: name(got), expected: name(want) });
            }
        }
    }
    // A staple is judged for the installed certificate only: a wrong leaf
    // was said already.
    if leaf_matches {
        match &hs.ocsp {
            None if e.staple_required => problems.push(Problem::StapleMissing { must_staple: e.leaf.must_staple }),
            None => {}
            Some(der) => match e.chain.first() {
                Some(issuer) => match ocsp::check_response(der, &e.leaf.der, issuer, now) {
                    Ok(checked) => match checked.status {
                        CertStatus::Good => {}
                        CertStatus::Unknown => problems.push(Problem::StapleStatus("UNKNOWN".into())),
                        CertStatus::Revoked { at, reason } => problems.push(Problem::StapleStatus(format!(
                            "REVOKED at {at}{}",
                            reason.map(|r| format!(" ({r})")).unwrap_or_default()
                        ))),
                    },
                    Err(err) => problems.push(Problem::StapleInvalid(err.to_string())),
                },
                None => problems.push(Problem::StapleInvalid("no issuer certificate is installed to check it".into())),
            },
        }
    }
    if let (Some(expected), Some(pins)) = (e.pins, &served.pins) {
        match pins {
            None => problems.push(Problem::PinsMissing),
            Some(pins) => {
                for want in expected {
                    let found = pins.iter().any(|p| match p.algorithm.as_str() {
                        "sha256" => p.digest == want.spki_sha256,
                        "sha512" => p.digest == want.spki_sha512,
                        _ => false,
                    });
                    if !found {
                        problems.push(Problem::PinMissing(want.what.clone()));
                    }
                }
            }
        }
    }
    if !e.tlsa.is_empty() && !e.tlsa.iter().any(|r| tlsa_matches(r, &hs.chain)) {
        problems.push(Problem::Tlsa(e.tlsa.len()));
    }
    problems
}

/// Whether a TLSA record matches a served chain (leaf first): usages 1 and
/// 3 the leaf, 0 and 2 a certificate of the chain the server sent.
pub fn tlsa_matches(record: &TlsaRecord, chain: &[Vec<u8>]) -> bool {
    let (usage, selector, matching, data) = record;
    let candidates: &[Vec<u8>] = match usage {
        1 | 3 => &chain[..chain.len().min(1)],
        0 | 2 => chain.get(1..).unwrap_or(&[]),
        _ => return false,
    };
    candidates.iter().any(|der| {
        let selected = match selector {
            0 => der.clone(),
            1 => match crypto::parse_cert(der) {
                Ok(c) => c.spki_der,
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest = match matching {
            0 => selected,
            1 => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &selected).as_ref().to_vec(),
            2 => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &selected).as_ref().to_vec(),
            _ => return false,
        };
        digest == *data
    })
}

#[cfg(test)]
mod tests;
