//! What a server sends beside its certificate: the signed certificate
//! timestamps of its CT logs ([`super::sct`]) and its OCSP response
//! ([`super::ocsp`]), kept as files next to the certificates.
//!
//! Both are fetched for a certificate when it is issued, in its key's
//! transaction (so a new certificate never sits beside the previous one's
//! SCTs or OCSP response), and checked on every later run ([`refresh`]): a
//! missing or invalid file, or an OCSP response past half its validity, is
//! fetched again, in a transaction of its own per key. Nothing is asked of a
//! log or a responder when the files on disk are good.

use std::time::Duration;

use super::ctx::{Ctx, VERSION};
use super::error::{AppError, R};
use super::hooks::Services;
use super::install::{commit_key, run_hooks, Install};
use super::plan::read_optional;
use crate::cli::WarningCode;
use crate::config::{CertificateSpec, Config, FileKind, PrivateKeySpec};
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

/// Adds the SCT and OCSP files one certificate needs to its key's
/// transaction. `fresh`: the certificate is installed by that transaction
/// (the files on disk belong to the certificate it replaces).
pub fn add_for_certificate(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    key_name: &str,
    cert: &CertFiles<'_>,
    fresh: bool,
    which: Which,
    inst: &mut Install,
) -> R<()> {
    // Not fetched in this run (`--certs` alone): a new certificate still
    // takes the previous one's files away.
    if which.sct || fresh {
        super::sct::add_scts(ctx, web, key_name, cert, fresh, which, inst)?;
    }
    if which.ocsp || fresh {
        super::ocsp::add_ocsp(ctx, web, key_name, cert, fresh, which.ocsp, inst)?;
    }
    Ok(())
}

/// Checks the SCT and OCSP files of every certificate of the selected keys
/// and fetches what is missing, invalid or ageing: one transaction per key
/// whose files change, then its hooks; the certificates' services reload.
/// With `which.explicit` (`--sct`, `--ocsp`), a certificate that is not
/// installed is worth a warning.
pub fn refresh(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec], which: Which, services: &mut Services) {
    let mut web = Web::default();
    for spec in selected {
        if let Err(e) = refresh_key(ctx, &mut web, spec, which, services) {
            ctx.report.error(e.about(format!("private key {}", spec.name)));
        }
    }
}

fn refresh_key(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    spec: &PrivateKeySpec,
    which: Which,
    services: &mut Services,
) -> R<()> {
    let mut inst = Install::default();
    for cert in &spec.certificates {
        let wants_sct = which.sct && !cert.ct_submit_logs.is_empty();
        let wants_ocsp = which.ocsp && ctx.config.file_path(FileKind::Ocsp, &cert.name, None)?.is_some();
        if !wants_sct && !wants_ocsp {
            continue;
        }
        for &kt in &cert.key_types {
            // Installed by this run: its files were fetched in its transaction
            // (a log that failed there is not asked twice in one run).
            if ctx.state().certificate(&cert.name, kt).is_some_and(|c| c.since >= ctx.now) {
                continue;
            }
            match installed(ctx.config, cert, kt)? {
                Some(files) => {
                    let before = inst.hooks.len();
                    add_for_certificate(ctx, web, &spec.name, &files, false, which, &mut inst)?;
                    if inst.hooks.len() > before {
                        services.add(&cert.services);
                    }
                }
                None if which.explicit => ctx.report.warn(
                    if which.ocsp { WarningCode::Ocsp } else { WarningCode::Sct },
                    format!("{} certificate {} is not installed", kt.as_str().to_uppercase(), cert.name),
                ),
                None => {}
            }
        }
    }
    if inst.is_empty() {
        return Ok(());
    }
    let hooks = commit_key(ctx, &spec.name, &mut inst)?;
    run_hooks(ctx, hooks);
    Ok(())
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
