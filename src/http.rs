//! The thin HTTP layer: one trait the protocol code talks to, and its ureq
//! implementation over rustls with the aws-lc-rs provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// A response as the protocol layer needs it.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header of that name, in order (`Link` may repeat).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub struct HttpError {
    pub method: &'static str,
    pub url: String,
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} failed: {}", self.method, self.url, self.message)
    }
}

impl std::error::Error for HttpError {}

/// What the ACME client needs from HTTP: tests and later transports plug in here.
pub trait Transport: Send + Sync {
    fn request(&self, method: &'static str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<Response, HttpError>;
}

/// Where system trust anchors live on the systems acmebot runs on.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, OpenWrt (ca-bundle)
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // BSDs, macOS, some embedded systems
];

/// Loads the trust anchors: the system store where one exists
/// (`SSL_CERT_FILE`, else the first system bundle found that holds
/// certificates), else the Mozilla roots compiled in (`webpki-root-certs`), so
/// a router with no `/etc/ssl/certs` still verifies its CA; plus
/// `settings.ca_bundle` when configured, in either case.
pub fn trust_anchors(ca_bundle: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut roots = Vec::new();
    let system: Option<PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()));
    if let Some(path) = system {
        if let Ok(data) = fs_err::read(&path) {
            roots.extend(CertificateDer::pem_slice_iter(&data).filter_map(Result::ok));
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    }
    if let Some(path) = ca_bundle {
        let data = fs_err::read(path).map_err(|e| format!("settings.ca_bundle: {e}"))?;
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(&data) {
            roots.push(cert.map_err(|e| format!("settings.ca_bundle {}: bad PEM: {e:?}", path.display()))?);
        }
        if roots.len() == before {
            return Err(format!("settings.ca_bundle {}: no CERTIFICATE blocks found", path.display()));
        }
    }
    Ok(roots)
}

pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    pub fn new(roots: Vec<CertificateDer<'static>>, user_agent: &str) -> UreqTransport {
        let certs: Vec<ureq::tls::Certificate<'static>> =
            roots.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(user_agent)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        UreqTransport { agent }
    }
}

impl Transport for UreqTransport {
    fn request(&self, method: &'static str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<Response, HttpError> {
        let err = |message: String| HttpError { method, url: url.to_string(), message };
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).map_err(|e| err(e.to_string()))?;
        let mut response = self.agent.run(request).map_err(|e| err(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.body_mut().with_config().limit(16 * 1024 * 1024).read_to_vec().map_err(|e| err(e.to_string()))?;
        Ok(Response { status, headers, body })
    }
}
