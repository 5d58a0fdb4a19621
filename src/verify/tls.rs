//! The TLS side of a verification: a rustls handshake that offers only the
//! signature schemes (and TLS 1.2 suites) of one key type, so a server with
//! an RSA and an ECDSA certificate shows the one asked for, and that records
//! what the server sent (its chain and OCSP staple) instead of judging it:
//! the comparison with the installed files is `verify::compare`'s. The
//! handshake's signatures are still checked against the served leaf, so a
//! server that does not hold the certificate's key fails the handshake.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedCipherSuite};

use crate::types::KeyType;

/// What the server sent in its handshake.
#[derive(Debug, Default, Clone)]
pub struct Handshake {
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The stapled OCSP response (DER), if any.
    pub ocsp: Option<Vec<u8>>,
    /// "TLSv1.3", "TLSv1.2".
    pub version: String,
    pub cipher: String,
}

/// Signature schemes a client offers for `kt`.
fn schemes(kt: KeyType) -> Vec<SignatureScheme> {
    match kt {
        KeyType::Rsa => vec![
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA512,
        ],
        KeyType::Ecdsa => vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ECDSA_NISTP521_SHA512,
        ],
    }
}

/// Accepts whatever chain the server sends and keeps it (and its staple).
#[derive(Debug)]
struct Recorder {
    key_type: KeyType,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Handshake>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.to_vec()).collect();
        seen.ocsp = (!ocsp_response.is_empty()).then(|| ocsp_response.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes(self.key_type)
    }
}

/// A TLS 1.2 suite authenticated with `kt` (TLS 1.3 suites carry no key type).
fn suite_for(suite: &SupportedCipherSuite, kt: KeyType) -> bool {
    let name = format!("{:?}", suite.suite());
    match suite {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => match kt {
            KeyType::Rsa => name.contains("_RSA_"),
            KeyType::Ecdsa => name.contains("_ECDSA_"),
        },
    }
}

fn client_config(kt: KeyType) -> Result<(Arc<rustls::ClientConfig>, Arc<Recorder>), String> {
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let provider = CryptoProvider {
        cipher_suites: base.cipher_suites.iter().filter(|s| suite_for(s, kt)).copied().collect(),
        ..base
    };
    let recorder = Arc::new(Recorder {
        key_type: kt,
        algorithms: provider.signature_verification_algorithms,
        seen: Mutex::new(Handshake::default()),
    });
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    Ok((Arc::new(config), recorder))
}

/// A TLS connection over `sock` (already past any STARTTLS exchange) to
/// `host`, offering only `kt`'s signature schemes. With `http`, also a HEAD
/// request whose response headers are returned.
pub fn handshake(sock: TcpStream, host: &str, kt: KeyType, http: bool) -> Result<(Handshake, Option<Headers>), String> {
    let (config, recorder) = client_config(kt)?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(|e| format!("TLS handshake: {e}"))?;
    }
    let mut seen = recorder.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    seen.version = match tls.conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    seen.cipher = tls.conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
    let headers = if http { Some(head(&mut tls, host)?) } else { None };
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    Ok((seen, headers))
}

/// HTTP response header fields: lower-cased names and their values.
pub type Headers = Vec<(String, String)>;

/// The most of an HTTP response read for its headers.
const MAX_HEAD: usize = 64 * 1024;

/// `HEAD / HTTP/1.0` (as the original asks); the response's headers, names
/// lower-cased.
fn head<S: Read + Write>(stream: &mut S, host: &str) -> Result<Headers, String> {
    let request = format!("HEAD / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: acmebot\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).and_then(|_| stream.flush()).map_err(|e| format!("HTTP request: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") && !answer.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // a server that closes without close_notify after its answer
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => break,
            Err(e) => return Err(format!("HTTP response: {e}")),
        }
        if answer.len() > MAX_HEAD {
            break;
        }
    }
    parse_head(&answer)
}

/// The header fields of an HTTP/1.x response head.
pub fn parse_head(answer: &[u8]) -> Result<Headers, String> {
    let text = String::from_utf8_lossy(answer);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/") {
        let said = crate::text::printable(status, crate::text::DETAIL);
        return Err(format!("not an HTTP response: {said:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_type_offers_only_its_own_schemes_and_suites() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        for kt in KeyType::ALL {
            let (config, recorder) = client_config(kt).unwrap();
            let offered = recorder.supported_verify_schemes();
            assert!(!offered.is_empty());
            for s in &offered {
                let name = format!("{s:?}");
                let want = if kt == KeyType::Rsa { "RSA" } else { "ECDSA" };
                assert!(name.starts_with(want), "{kt:?}: {name}");
            }
            let tls12: Vec<String> = config
                .crypto_provider()
                .cipher_suites
                .iter()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
                .map(|s| format!("{:?}", s.suite()))
                .collect();
            assert!(!tls12.is_empty());
            let other = if kt == KeyType::Rsa { "_ECDSA_" } else { "_RSA_" };
            assert!(tls12.iter().all(|n| !n.contains(other)), "{tls12:?}");
            let tls13 = provider.cipher_suites.iter().filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))).count();
            assert_eq!(config.crypto_provider().cipher_suites.len(), tls12.len() + tls13);
        }
    }

    #[test]
    fn http_heads_are_read_as_the_original_reads_them() {
        let head =
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\nPublic-Key-Pins: pin-sha256=\"AAAA\"; max-age=60\r\n\r\nbody: no";
        let h = parse_head(head).unwrap();
        assert_eq!(h[1], ("public-key-pins".to_string(), "pin-sha256=\"AAAA\"; max-age=60".to_string()));
        assert_eq!(h.len(), 2);
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n").unwrap_err().contains("not an HTTP response"));
    }
}
