//! A small ACME v1 test server: draft-ietf-acme-acme-02 as Let's Encrypt's
//! Boulder deployed it (its "ACMEv1"), written from the draft and from
//! Boulder's documented behaviour, independently of the `acmebot` crate, so a
//! v1 client is tested against a second implementation of the protocol. No
//! installable server speaks v1 any more (Let's Encrypt switched it off in
//! 2021; pebble is v2 only).
//!
//! `AcmeV1::start(AcmeV1Options::default())` serves HTTPS on 127.0.0.1 with a
//! throwaway root; point the client at `directory_url()` and trust
//! `ca_pem_path()`. It reuses the v2 test CA's JWK/JWS verification and its
//! PKI (root, intermediate, rcgen issuance), which are test code too.
//!
//! Resources (Boulder's paths):
//!
//! | resource     | URL                               | methods          |
//! |--------------|-----------------------------------|------------------|
//! | directory    | `/directory`                      | GET, HEAD        |
//! | terms        | `/terms/v1`                       | GET, HEAD        |
//! | new-reg      | `/acme/new-reg`                   | POST             |
//! | reg          | `/acme/reg/<id>`                  | POST             |
//! | new-authz    | `/acme/new-authz`                 | POST             |
//! | authz        | `/acme/authz/<id>`                | GET, HEAD, POST  |
//! | challenge    | `/acme/challenge/<authz>/<index>` | GET, HEAD, POST  |
//! | new-cert     | `/acme/new-cert`                  | POST             |
//! | cert         | `/acme/cert/<serial hex>`         | GET, HEAD        |
//! | issuer       | `/acme/issuer-cert`               | GET, HEAD        |
//! | root         | `/acme/root-cert`                 | GET, HEAD        |
//! | revoke-cert  | `/acme/revoke-cert`               | POST             |
//! | key-change   | `/acme/key-change`                | POST             |
//!
//! Every response, errors and 405s included, carries a `Replay-Nonce`.
//! Problems are `application/problem+json` with types in the v1 namespace
//! `urn:acme:error:`. Times are Unix seconds.
#![allow(dead_code)]

mod server;
#[cfg(test)]
mod tests;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http1::Listening;

use serde_json::Value;

use crate::testca::pki::Pki;

/// The v1 error namespace (draft-ietf-acme-acme-01 §5.4, kept by Boulder's v1 API).
pub const ERROR_NS: &str = "urn:acme:error:";

/// How the server behaves. `Default`: Boulder-like, with challenges answered
/// valid without fetching anything (`auto_valid`), agreement required, and
/// `key-change` offered.
#[derive(Clone, Debug)]
pub struct AcmeV1Options {
    /// Port on 127.0.0.1 where http-01 is fetched, with `Host: <name>`
    /// (the real port 80 by default).
    pub http_port: u16,
    /// `ip:port` of the DNS server asked for `_acme-challenge.<name>` TXT
    /// records (dns-01). None: dns-01 validations fail with `urn:acme:error:dns`.
    pub dns_server: Option<String>,
    /// Percentage of otherwise good nonces rejected with badNonce (like
    /// pebble's PEBBLE_WFE_NONCEREJECT), so clients must retry.
    pub nonce_reject_percent: u8,
    /// new-authz, challenge responses and new-cert are refused (403
    /// `urn:acme:error:unauthorized`) until the registration carries an
    /// `agreement`, as Boulder did.
    pub require_agreement: bool,
    /// Seconds a validation waits before it runs; the authorization stays
    /// pending meanwhile and its GETs carry `Retry-After`.
    pub validation_delay_secs: u64,
    /// A challenge response (with the right keyAuthorization) is accepted
    /// without fetching anything, like PEBBLE_VA_ALWAYS_VALID: the client
    /// still has to create the authorization and answer a challenge.
    pub auto_valid: bool,
    /// Offer `key-change` (Boulder's roll-over, draft-05 style). False: the
    /// directory has no `key-change` and the resource answers 404.
    pub key_change: bool,
}

impl Default for AcmeV1Options {
    fn default() -> Self {
        AcmeV1Options {
            http_port: 80,
            dns_server: None,
            nonce_reject_percent: 0,
            require_agreement: true,
            validation_delay_secs: 0,
            auto_valid: true,
            key_change: true,
        }
    }
}

/// A registration as the server holds it.
#[derive(Clone, Debug)]
pub struct Registration {
    pub id: u64,
    pub url: String,
    /// RFC 7638 thumbprint of the current key.
    pub thumbprint: String,
    pub jwk: Value,
    pub contact: Vec<String>,
    pub agreement: Option<String>,
    /// "valid" or "deactivated".
    pub status: String,
}

/// An authorization as the server holds it.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub url: String,
    pub registration_url: String,
    pub name: String,
    /// "pending", "valid", "invalid" or "deactivated".
    pub status: String,
    pub expires: i64,
}

/// A certificate the server issued.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// Lowercase hex of the serial's DER content bytes (16 bytes); the cert URL ends in it.
    pub serial_hex: String,
    /// Lowercased, sorted, deduplicated.
    pub names: Vec<String>,
    pub url: String,
    pub registration_url: String,
    pub der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
}

/// A revoke-cert request that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub serial_hex: String,
    pub reason: u8,
}

/// The running server; stopped when dropped.
pub struct AcmeV1 {
    shared: Arc<server::Shared>,
    port: u16,
    _server: Listening,
    dir: PathBuf,
    ca_pem: PathBuf,
}

impl AcmeV1 {
    pub fn start(opts: AcmeV1Options) -> AcmeV1 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind ACME v1 test server");
        let port = listener.local_addr().unwrap().port();
        let base = format!("https://127.0.0.1:{port}");
        let pki = Pki::new().expect("ACME v1 test CA keys");
        let dir = std::env::temp_dir().join(format!("acmebot-acme1-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = dir.join("acme1-root.pem");
        std::fs::write(&ca_pem, &pki.root_pem).unwrap();
        let tls = pki.tls_config();
        let shared = Arc::new(server::Shared::new(opts, base, pki));
        let sh = shared.clone();
        let server = Listening::start(listener, move |tcp, _| {
            let _ = server::serve(&sh, tls.clone(), tcp);
        });
        AcmeV1 { shared, port, _server: server, dir, ca_pem }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    /// `https://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }
    /// `https://127.0.0.1:<port>/directory`
    pub fn directory_url(&self) -> String {
        format!("{}/directory", self.shared.base)
    }
    /// The current terms of service: the directory's meta `terms-of-service`,
    /// the `Link: rel="terms-of-service"` target, the only accepted `agreement`.
    pub fn tos_url(&self) -> String {
        self.shared.tos_url()
    }
    /// Where the issuing intermediate is served (the `rel="up"` of every certificate).
    pub fn issuer_url(&self) -> String {
        self.shared.issuer_url()
    }
    /// Where the root is served (the `rel="up"` of the issuer).
    pub fn root_url(&self) -> String {
        self.shared.root_url()
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
    pub fn set_nonce_reject_percent(&self, percent: u8) {
        self.shared.lock().nonce_reject_percent = percent;
    }
    /// Every request received, in order: (method, path).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.lock().requests.clone()
    }
    pub fn registrations(&self) -> Vec<Registration> {
        let st = self.shared.lock();
        (0..st.regs.len()).map(|i| st.registration(&self.shared, i)).collect()
    }
    pub fn authorizations(&self) -> Vec<Authorization> {
        let st = self.shared.lock();
        (0..st.authzs.len()).map(|i| st.authorization(&self.shared, i)).collect()
    }
    pub fn issued(&self) -> Vec<IssuedCert> {
        let st = self.shared.lock();
        (0..st.certs.len()).map(|i| st.issued_cert(&self.shared, i)).collect()
    }
    /// Whether the certificate with this serial (hex, any case) was revoked.
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        let s = serial_hex.to_ascii_lowercase();
        self.shared.lock().revocations.iter().any(|r| r.serial_hex == s)
    }
    pub fn revocations(&self) -> Vec<Revocation> {
        self.shared.lock().revocations.clone()
    }
}

impl Drop for AcmeV1 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
