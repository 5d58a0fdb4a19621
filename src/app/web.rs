//! What the SCT and OCSP phases share: the certificate they work on (read
//! from its installed file, or just issued), the HTTP client for CT logs and
//! OCSP responders, and which of the two a run keeps.

use std::time::Duration;

use super::ctx::VERSION;
use super::error::{AppError, R};
use super::plan::read_optional;
use crate::config::{CertificateSpec, Config, FileKind};
use crate::crypto::{self, CertInfo};
use crate::http::{self, Response, Transport, UreqTransport};
use crate::types::KeyType;

/// Which of the two this run keeps (`--sct`, `--ocsp`, or both by default).
#[derive(Clone, Copy, Debug)]
pub struct Which {
    pub sct: bool,
    pub ocsp: bool,
    /// Asked for by itself (`--sct`, `--ocsp`): what a daily run only notes
    /// (a CT log list without a shard for a certificate) is a warning.
    pub explicit: bool,
}

/// An installed (or about to be installed) certificate and its chain.
pub struct CertFiles<'a> {
    pub spec: &'a CertificateSpec,
    pub key_type: KeyType,
    pub leaf: CertInfo,
    pub chain: Vec<Vec<u8>>,
}

impl CertFiles<'_> {
    /// "RSA certificate example.com", as the original names one.
    pub fn what(&self) -> String {
        format!("{} certificate {}", self.key_type.as_str().to_uppercase(), self.spec.name)
    }
}

/// The HTTP client for CT logs and OCSP responders, made when first needed
/// (a run whose files are all good makes none).
#[derive(Default)]
pub struct Web(Option<UreqTransport>);

/// Time to connect to a log or responder, and for a whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

impl Web {
    /// POSTs `body` to `url`; the answer whatever its status.
    pub fn post(
        &mut self,
        cfg: &Config,
        url: &str,
        content_type: &str,
        accept: &str,
        body: &[u8],
    ) -> Result<Response, String> {
        if self.0.is_none() {
            let roots = http::trust_anchors(cfg.settings.ca_bundle.as_deref())?;
            let agent = format!("acmebot/{VERSION} (+https://github.com/plinss/acmebot)");
            self.0 = Some(UreqTransport::with_timeouts(roots, &agent, true, CONNECT_TIMEOUT, EXCHANGE_TIMEOUT));
        }
        let transport = self.0.as_ref().expect("made above");
        let headers = [("Content-Type", content_type), ("Accept", accept)];
        transport.request("POST", url, &headers, Some(body)).map_err(|e| e.message)
    }
}

/// The installed certificate of `cert` for `kt`, read from its file (the
/// certificate then its chain; the chain file when the certificate file has
/// none); `None` when it is not there.
pub fn installed<'a>(cfg: &Config, cert: &'a CertificateSpec, kt: KeyType) -> R<Option<CertFiles<'a>>> {
    let Some(path) = cfg.file_path(FileKind::Certificate, &cert.name, Some(kt))? else { return Ok(None) };
    let Some(found) = read_optional(&path)? else { return Ok(None) };
    let bad = |e: crypto::CryptoError| AppError::file(&path, "read")(invalid(e));
    let mut ders = crypto::pem_to_ders(&found.bytes).map_err(bad)?;
    if ders.is_empty() {
        return Ok(None);
    }
    let leaf = crypto::parse_cert(&ders.remove(0)).map_err(bad)?;
    let mut chain = ders;
    if chain.is_empty() {
        if let Some(chain_path) = cfg.file_path(FileKind::Chain, &cert.name, Some(kt))? {
            if let Some(c) = read_optional(&chain_path)? {
                let bad = |e: crypto::CryptoError| AppError::file(&chain_path, "read")(invalid(e));
                chain = crypto::pem_to_ders(&c.bytes).map_err(bad)?;
            }
        }
    }
    Ok(Some(CertFiles { spec: cert, key_type: kt, leaf, chain }))
}

fn invalid(e: crypto::CryptoError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// The first part of a server's answer worth quoting in a warning.
pub fn answer_text(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body);
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::text::printable(body, crate::text::SHORT))
    }
}
