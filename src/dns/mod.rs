//! Native DNS: RFC 2136 dynamic updates signed with TSIG (RFC 8945), and plain
//! lookups for propagation checks. No `nsupdate` or `dig` is run.
//!
//! Pure core, thin I/O (as hickory-dns splits `proto` from `net`): [`proto`]
//! ([`tsig`], [`md5`], [`wire`], [`update`], [`query`] and [`keyfile`]'s
//! parsers) computes on bytes and takes the clock (`now`, seconds since the
//! epoch) as an argument; [`net`] sends messages through one small trait,
//! [`Exchange`] ([`transport`]), and asks questions ([`resolver`]).

pub mod net;
pub mod proto;

pub use net::transport::{Exchange, Network, NETWORK};
pub use net::{resolver, transport};
pub use proto::{keyfile, md5, query, tsig, update, wire};

pub use hickory_proto::rr::RecordType;
pub use resolver::Resolver;
pub use tsig::{Algorithm, TsigFailure, TsigKey};
pub use update::{Change, Record, RecordData};

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long one update exchange may take, UDP tries and TCP fallback included.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(10);

/// RCODE mnemonics (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 6895 §2.3).
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        n => format!("RCODE{n}"),
    }
}

/// Everything that can go wrong in the DNS layer. Never carries a key's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// A key file is missing, unreadable or not understood.
    KeyFile { path: PathBuf, detail: String },
    /// Bad input (an invalid domain name, an unencodable message).
    Invalid { detail: String },
    /// A socket error talking to `server`.
    Network { server: SocketAddr, detail: String },
    /// No answer from `server` in time.
    Timeout { server: SocketAddr },
    /// The answer from `server` is not a valid response to the request.
    Malformed { server: SocketAddr, detail: String },
    /// The server refused the update: RCODE (REFUSED, NOTAUTH, NOTZONE, ...) and
    /// the TSIG error (BADSIG, BADKEY, BADTIME) when the server reported one.
    UpdateRejected { zone: String, server: SocketAddr, rcode: u16, tsig_error: Option<u16> },
    /// The update was signed but the response's TSIG is missing or does not verify.
    ResponseNotAuthenticated { zone: String, server: SocketAddr, rcode: u16, failure: TsigFailure },
    /// A lookup answered with an error RCODE (SERVFAIL, REFUSED, ...).
    Query { name: String, rtype: String, server: SocketAddr, rcode: u16 },
    /// A lookup found nothing usable (no SOA, no name server address, no resolver).
    NotFound { what: String },
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::KeyFile { path, detail } => {
                write!(f, "TSIG key file {}: {detail}", path.display())
            }
            DnsError::Invalid { detail } => write!(f, "DNS: {detail}"),
            DnsError::Network { server, detail } => write!(f, "DNS server {server}: {detail}"),
            DnsError::Timeout { server } => write!(f, "DNS server {server} did not answer in time"),
            DnsError::Malformed { server, detail } => {
                write!(f, "DNS server {server} sent an invalid response: {detail}")
            }
            DnsError::UpdateRejected { zone, server, rcode, tsig_error } => {
                write!(f, "update of zone {zone} at {server} failed: {}", rcode_name(*rcode))?;
                if let Some(e) = tsig_error {
                    write!(f, " (TSIG error {})", tsig::error_name(*e))?;
                }
                Ok(())
            }
            DnsError::ResponseNotAuthenticated { zone, server, rcode, failure } => {
                write!(f, "update of zone {zone} at {server}: response {} rejected: {failure}", rcode_name(*rcode))
            }
            DnsError::Query { name, rtype, server, rcode } => {
                write!(f, "lookup of {rtype} {name} at {server} failed: {}", rcode_name(*rcode))
            }
            DnsError::NotFound { what } => write!(f, "DNS: {what}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// A random message ID (RFC 5452 §9.2 asks for unpredictable IDs).
pub fn random_id() -> u16 {
    let mut b = [0u8; 2];
    if crate::platform::random_fill(&mut b).is_err() {
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        b = (t as u16).to_be_bytes();
    }
    u16::from_be_bytes(b)
}

/// Sends one RFC 2136 UPDATE for `zone` to `server` over the network: first the `deletes`
/// (each a specific RR, by its RDATA: class NONE), then the `adds`, all in one
/// message, signed with `key` when given. `now` is the TSIG time signed and the
/// reference for checking the response's.
pub fn update(
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    adds: &[Record],
    deletes: &[Record],
    now: i64,
) -> Result<(), DnsError> {
    let changes: Vec<Change> =
        deletes.iter().cloned().map(Change::Delete).chain(adds.iter().cloned().map(Change::Add)).collect();
    update_changes(server, zone, key, &changes, now, UPDATE_TIMEOUT)
}

/// [`update_changes`] through the network.
pub fn update_changes(
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    changes: &[Change],
    now: i64,
    timeout: Duration,
) -> Result<(), DnsError> {
    update_via(&NETWORK, server, zone, key, changes, now, timeout)
}

/// [`update`] with the update section given entry by entry (e.g. with
/// [`Change::DeleteRrset`]), an explicit timeout, through `net`.
#[allow(clippy::too_many_arguments)]
pub fn update_via(
    net: &dyn Exchange,
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    changes: &[Change],
    now: i64,
    timeout: Duration,
) -> Result<(), DnsError> {
    let id = random_id();
    let msg = update::build_update(id, zone, changes).map_err(|detail| DnsError::Invalid { detail })?;
    let (msg, signature) = match key {
        Some(k) => {
            let (m, s) = tsig::sign_request(&msg, k, now).map_err(|detail| DnsError::Invalid { detail })?;
            (m, Some(s))
        }
        None => (msg, None),
    };
    let response = net.exchange(server, &msg, timeout)?;
    let zone_name = if zone.ends_with('.') { zone.to_string() } else { format!("{zone}.") };
    update::check_response(id, &response, key.zip(signature.as_ref()), now).map_err(|p| match p {
        update::ResponseProblem::Malformed(detail) => DnsError::Malformed { server, detail },
        update::ResponseProblem::Rcode { rcode, tsig_error } => {
            DnsError::UpdateRejected { zone: zone_name.clone(), server, rcode, tsig_error }
        }
        update::ResponseProblem::Tsig { rcode, failure } => {
            DnsError::ResponseNotAuthenticated { zone: zone_name.clone(), server, rcode, failure }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_zone_server_and_codes() {
        let server: SocketAddr = "192.0.2.1:53".parse().unwrap();
        let e = DnsError::UpdateRejected { zone: "example.com.".into(), server, rcode: 9, tsig_error: Some(16) };
        assert_eq!(e.to_string(), "update of zone example.com. at 192.0.2.1:53 failed: NOTAUTH (TSIG error BADSIG)");
        let e = DnsError::UpdateRejected { zone: "example.com.".into(), server, rcode: 5, tsig_error: None };
        assert_eq!(e.to_string(), "update of zone example.com. at 192.0.2.1:53 failed: REFUSED");
        let e = DnsError::ResponseNotAuthenticated {
            zone: "example.com.".into(),
            server,
            rcode: 0,
            failure: TsigFailure::Missing,
        };
        assert!(e.to_string().contains("not signed"), "{e}");
    }
}
