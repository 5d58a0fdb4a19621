//! A small ACME v2 test server (RFC 8555, with RFC 9773 renewal information
//! and certificate profiles), written independently of the `acmebot` crate so
//! the client is tested against a second implementation of the protocol.
//!
//! `TestCa::start(TestCaOptions::default())` serves HTTPS on 127.0.0.1 with a
//! throwaway root; point the client at `directory_url()` and trust
//! `ca_pem_path()` (acmebot: `settings.ca_bundle`). Times are Unix seconds.
#![allow(dead_code)]

pub(crate) mod jws;
pub(crate) mod pki;
mod server;
#[cfg(test)]
mod tests;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http1::Listening;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

#[allow(unused_imports)]
pub use pki::ari_cert_id;

/// How the server behaves. `Default` gives pebble-like behaviour with
/// authorizations valid at once and three profiles.
#[derive(Clone, Debug)]
pub struct TestCaOptions {
    /// Authorizations are created `valid` (like PEBBLE_VA_ALWAYS_VALID).
    /// When false, http-01 is really validated against `http_port`.
    pub auto_valid: bool,
    /// Port on 127.0.0.1 where http-01 challenges are fetched (default 80).
    pub http_port: Option<u16>,
    /// (name, description, certificate lifetime in seconds), listed in meta.profiles.
    pub profiles: Vec<(String, String, u64)>,
    /// Profile used when an order names none.
    pub default_profile: String,
    /// meta.termsOfService (omitted when None).
    pub tos_url: Option<String>,
    /// Percentage of otherwise good nonces rejected with badNonce (like PEBBLE_WFE_NONCEREJECT).
    pub nonce_reject_percent: u8,
    /// Retry-After of renewalInfo responses.
    pub ari_retry_after_secs: u64,
    /// A hostile server: every newOrder is refused with a 429 problem whose
    /// detail is this text, with this Retry-After header.
    pub order_problem: Option<(String, String)>,
    /// Seconds an http-01 validation waits before it fetches (the
    /// authorization stays pending meanwhile).
    pub validation_delay_secs: u64,
    /// Every certificate counts as replaced already (another client renewed
    /// it first): a newOrder naming one in `replaces` gets `alreadyReplaced`.
    pub replaced_elsewhere: bool,
}

impl Default for TestCaOptions {
    fn default() -> Self {
        let p = |n: &str, d: &str, days: u64| (n.to_string(), d.to_string(), days * 86400);
        TestCaOptions {
            auto_valid: true,
            http_port: None,
            profiles: vec![
                p("classic", "The same profile you're accustomed to", 90),
                p("shortlived", "Six-day certificates", 6),
                p("tlsserver", "Server authentication only, 45 days", 45),
            ],
            default_profile: "classic".into(),
            tos_url: Some("https://127.0.0.1/testca/terms".into()),
            nonce_reject_percent: 0,
            ari_retry_after_secs: 21600,
            order_problem: None,
            validation_delay_secs: 0,
            replaced_elsewhere: false,
        }
    }
}

/// A certificate the server issued.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// Lowercase hex of the serial's DER content bytes (16 bytes).
    pub serial_hex: String,
    /// RFC 9773 certID: base64url(AKI keyIdentifier) "." base64url(serial).
    pub cert_id: String,
    pub names: Vec<String>,
    pub profile: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Leaf PEM alone.
    pub pem: String,
    pub order_url: String,
    pub account_url: String,
}

/// An order as the server recorded it.
#[derive(Clone, Debug)]
pub struct OrderRecord {
    pub url: String,
    pub account_url: String,
    /// DNS names, lowercased, as ordered (wildcards keep their `*.`).
    pub identifiers: Vec<String>,
    /// The `profile` field the client sent, if any.
    pub requested_profile: Option<String>,
    /// The profile applied (requested or default).
    pub profile: String,
    /// The `replaces` certID the client sent (only accepted orders are recorded).
    pub replaces: Option<String>,
    /// Serial of the certificate issued for it.
    pub serial_hex: Option<String>,
}

/// A revokeCert request that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub serial_hex: String,
    pub reason: u8,
}

/// The running server; stopped when dropped.
pub struct TestCa {
    shared: Arc<server::Shared>,
    port: u16,
    _server: Listening,
    dir: PathBuf,
    ca_pem: PathBuf,
}

impl TestCa {
    pub fn start(opts: TestCaOptions) -> TestCa {
        assert!(opts.profiles.iter().any(|p| p.0 == opts.default_profile), "default_profile must be one of profiles");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test CA");
        let port = listener.local_addr().unwrap().port();
        let base = format!("https://127.0.0.1:{port}");
        let pki = pki::Pki::new().expect("test CA keys");
        let dir = std::env::temp_dir().join(format!("acmebot-testca-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = dir.join("testca-root.pem");
        std::fs::write(&ca_pem, &pki.root_pem).unwrap();
        let tls = pki.tls_config();
        let shared = Arc::new(server::Shared::new(opts, base, pki));
        let sh = shared.clone();
        let server = Listening::start(listener, move |tcp, _| {
            let _ = server::serve(&sh, tls.clone(), tcp);
        });
        TestCa { shared, port, _server: server, dir, ca_pem }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    /// `https://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }
    pub fn directory_url(&self) -> String {
        format!("{}/dir", self.shared.base)
    }
    /// PEM file holding the root that signs both the HTTPS certificate and the issuing intermediate.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem
    }
    pub fn root_pem(&self) -> String {
        self.shared.pki.root_pem.clone()
    }
    pub fn intermediate_pem(&self) -> String {
        self.shared.pki.inter_pem.clone()
    }
    /// Makes renewalInfo for this serial answer with [start, end] (Unix seconds).
    /// A window in the past means "renew now".
    pub fn set_window(&self, serial_hex: &str, start: i64, end: i64) {
        self.shared.lock().windows.insert(serial_hex.to_ascii_lowercase(), (start, end));
    }
    /// Back to the default window (2/3 to 5/6 of the lifetime).
    pub fn clear_window(&self, serial_hex: &str) {
        self.shared.lock().windows.remove(&serial_hex.to_ascii_lowercase());
    }
    /// Refuses every newOrder with a 429 problem of this detail (None: stop).
    pub fn set_order_problem(&self, problem: Option<&str>) {
        self.shared.lock().order_problem = problem.map(|d| (d.to_string(), "60".to_string()));
    }

    pub fn set_nonce_reject_percent(&self, percent: u8) {
        self.shared.lock().nonce_reject_percent = percent;
    }
    /// Number of renewalInfo requests received (including unknown certIDs).
    pub fn ari_requests(&self) -> usize {
        self.shared.lock().ari_ids.len()
    }
    /// The certIDs asked for, in order.
    pub fn ari_request_ids(&self) -> Vec<String> {
        self.shared.lock().ari_ids.clone()
    }
    /// The `replaces` certIDs of accepted newOrder requests, in order.
    pub fn replaced(&self) -> Vec<String> {
        self.shared.lock().orders.iter().filter_map(|o| o.rec.replaces.clone()).collect()
    }
    pub fn orders(&self) -> Vec<OrderRecord> {
        self.shared.lock().orders.iter().map(|o| o.rec.clone()).collect()
    }
    pub fn issued(&self) -> Vec<IssuedCert> {
        self.shared.lock().certs.iter().map(|c| c.info.clone()).collect()
    }
    pub fn revocations(&self) -> Vec<Revocation> {
        self.shared.lock().revocations.clone()
    }
    /// Number of accounts registered.
    pub fn accounts(&self) -> usize {
        self.shared.lock().accounts.len()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- small helpers shared by the modules ----

pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut v).expect("rng");
    v
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0, 4)?, n(5, 7)?, n(8, 10)?, n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss - offset)
}
