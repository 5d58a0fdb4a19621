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
        // The URL may be the server's, the message may quote it (a TLS error
        // naming a certificate's names): escaped and cut.
        use crate::text::{printable, DETAIL, SHORT};
        write!(f, "{} {} failed: {}", self.method, printable(&self.url, SHORT), printable(&self.message, DETAIL))
    }
}

impl std::error::Error for HttpError {}

/// What the ACME client needs from HTTP: tests and later transports plug in here.
pub trait Transport: Send + Sync {
    fn request(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError>;
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
    let system: Vec<PathBuf> = match std::env::var_os("SSL_CERT_FILE") {
        Some(file) => vec![PathBuf::from(file)],
        None => SYSTEM_BUNDLES.iter().map(PathBuf::from).collect(),
    };
    trust_anchors_from(&system, ca_bundle)
}

/// [`trust_anchors`] with the system store's candidate files given: the first
/// that exists is the store; when it is missing, unreadable or holds no
/// certificate, the compiled-in roots are used.
pub fn trust_anchors_from(
    system: &[PathBuf],
    ca_bundle: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut roots = Vec::new();
    if let Some(path) = system.iter().find(|p| p.is_file()) {
        if let Ok(data) = fs_err::read(path) {
            roots.extend(CertificateDer::pem_slice_iter(&data).filter_map(Result::ok));
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    }
    if let Some(path) = ca_bundle {
        roots.extend(bundle(path, "settings.ca_bundle")?);
    }
    Ok(roots)
}

/// The certificates of a PEM bundle file; an error names `setting`.
pub fn bundle(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = fs_err::read(path).map_err(|e| format!("{setting}: {e}"))?;
    let mut roots = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&data) {
        roots.push(cert.map_err(|e| format!("{setting} {}: bad PEM: {e:?}", path.display()))?);
    }
    if roots.is_empty() {
        return Err(format!("{setting} {}: no CERTIFICATE blocks found", path.display()));
    }
    Ok(roots)
}

/// The largest answer read from a server. The largest an ACME server sends
/// is a certificate chain (a few KB); a small machine must not be made to
/// hold more.
pub const RESPONSE_LIMIT: u64 = 1024 * 1024;

pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// `verify` false: the server's certificate is not checked at all
    /// (`acme_directory_verify_ssl: false`, which the configuration warns about).
    pub fn new(roots: Vec<CertificateDer<'static>>, user_agent: &str, verify: bool) -> UreqTransport {
        Self::with_timeouts(roots, user_agent, verify, Duration::from_secs(30), Duration::from_secs(120))
    }

    /// With its own time limits: to connect, and for the whole exchange
    /// (CT logs and OCSP responders get less time than the CA: a log that
    /// hangs costs a warning, not the run).
    pub fn with_timeouts(
        roots: Vec<CertificateDer<'static>>,
        user_agent: &str,
        verify: bool,
        connect: Duration,
        global: Duration,
    ) -> UreqTransport {
        let certs: Vec<ureq::tls::Certificate<'static>> =
            roots.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .disable_verification(!verify)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(user_agent)
            .timeout_connect(Some(connect))
            .timeout_global(Some(global))
            .build()
            .new_agent();
        UreqTransport { agent }
    }
}

impl Transport for UreqTransport {
    fn request(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
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
        let body = response
            .body_mut()
            .with_config()
            .limit(RESPONSE_LIMIT)
            .read_to_vec()
            .map_err(|e| err(format!("{e} (answers are read up to {} KiB)", RESPONSE_LIMIT / 1024)))?;
        Ok(Response { status, headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_of(cn: &str) -> (String, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), cert.der().to_vec())
    }

    fn has_isrg_root_x1(roots: &[CertificateDer<'_>]) -> bool {
        roots.iter().any(|c| c.as_ref().windows(12).any(|w| w == b"ISRG Root X1"))
    }

    #[test]
    fn errors_quoting_a_server_are_escaped_and_cut() {
        let e = HttpError {
            method: "GET",
            url: "https://ca.example.test/\u{1b}[2Jdir".into(),
            message: format!(
                "invalid peer certificate: NotValidForName(\"evil\u{1b}]0;x\u{7}\")\n{}",
                "x".repeat(5000)
            ),
        };
        let shown = e.to_string();
        assert!(!shown.contains('\u{1b}') && !shown.contains('\n') && !shown.contains('\u{7}'), "{shown}");
        assert!(
            shown.starts_with("GET https://ca.example.test/\\u{1b}[2Jdir failed: invalid peer certificate"),
            "{shown}"
        );
        assert!(shown.len() < 1200 && shown.ends_with("more bytes]"), "{}", shown.len());
    }

    #[test]
    fn no_system_store_means_the_compiled_in_roots() {
        let dir = std::env::temp_dir().join(format!("acmebot-roots-{}-none", std::process::id()));
        let roots = trust_anchors_from(&[dir.join("ca-certificates.crt"), dir.join("cert.pem")], None).unwrap();
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(roots.len() > 100, "{} roots", roots.len());
        assert!(has_isrg_root_x1(&roots), "Let's Encrypt's root is among the compiled-in roots");
    }

    #[test]
    fn the_system_store_replaces_the_compiled_in_roots() {
        let dir = std::env::temp_dir().join(format!("acmebot-roots-{}-system", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pem, der) = pem_of("Only Root");
        let bundle = dir.join("ca-certificates.crt");
        std::fs::write(&bundle, &pem).unwrap();
        // the first candidate is missing, the second is the store
        let roots = trust_anchors_from(&[dir.join("missing.crt"), bundle.clone()], None).unwrap();
        assert_eq!(roots.iter().map(|c| c.as_ref().to_vec()).collect::<Vec<_>>(), vec![der.clone()]);

        // ca_bundle adds to the system store
        let (extra_pem, extra_der) = pem_of("Extra Root");
        let extra = dir.join("extra.pem");
        std::fs::write(&extra, &extra_pem).unwrap();
        let roots = trust_anchors_from(std::slice::from_ref(&bundle), Some(&extra)).unwrap();
        assert_eq!(roots.iter().map(|c| c.as_ref().to_vec()).collect::<Vec<_>>(), vec![der, extra_der.clone()]);

        // a store with no certificate in it (an emptied bundle) falls back to the compiled-in roots
        std::fs::write(&bundle, "# no certificates here\n").unwrap();
        let roots = trust_anchors_from(std::slice::from_ref(&bundle), Some(&extra)).unwrap();
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1);
        assert!(has_isrg_root_x1(&roots));
        assert_eq!(roots.last().unwrap().as_ref(), &extra_der[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_an_error_naming_the_setting() {
        let dir = std::env::temp_dir().join(format!("acmebot-roots-{}-bad", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = trust_anchors_from(&[], Some(&empty)).unwrap_err();
        assert!(err.starts_with("settings.ca_bundle ") && err.contains("no CERTIFICATE blocks"), "{err}");
        let err = trust_anchors_from(&[], Some(&dir.join("missing.pem"))).unwrap_err();
        assert!(err.starts_with("settings.ca_bundle: ") && err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
