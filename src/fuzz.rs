//! Entry points of the fuzz targets (`fuzz/`): every parser that reads bytes
//! from outside, driven the way the program drives it. Each takes any bytes
//! and must return without panicking; the fuzz runs also bound every single
//! allocation (see `fuzz/README.md`). Compiled only with the `fuzzing`
//! feature.

use std::io::BufReader;

use crate::acme::{self, Authorization, Challenge, Directory, Order, Problem, RenewalInfo};
use crate::dns::{query, tsig, update, wire, Algorithm, RecordType, TsigKey};
use crate::http::Response;
use crate::journal::{scan_events, Events, State};

/// The first byte chooses a variant, the rest is the input.
fn split(data: &[u8]) -> (u8, &[u8]) {
    data.split_first().map(|(a, b)| (*a, b)).unwrap_or((0, &[]))
}

/// An ACME server's answer: the body read as each resource the client reads
/// (and a problem shown as the user sees it); headers from the first lines
/// (`Name: value` up to an empty line) for `Link`, `Retry-After`,
/// `Replay-Nonce`, as the client reads them.
pub fn acme_response(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or(("", &text));
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let response = Response { status: 200, headers, body: body.as_bytes().to_vec() };
    let _ = acme::client::links(&response, "alternate");
    let _ = acme::client::links(&response, "up");
    let _ = acme::client::retry_after_secs(&response, 1_800_000_000);
    let body = response.body.as_slice();
    if let Ok(d) = serde_json::from_slice::<Directory>(body) {
        let _ = format!("{d:?}");
    }
    if let Ok(o) = serde_json::from_slice::<Order>(body) {
        let _ = format!("{o:?}");
    }
    if let Ok(a) = serde_json::from_slice::<Authorization>(body) {
        for problem in a.challenges.iter().filter_map(|c| c.error.as_ref()) {
            let _ = problem.to_string();
        }
    }
    let _ = serde_json::from_slice::<Challenge>(body);
    if let Ok(p) = serde_json::from_slice::<Problem>(body) {
        let _ = p.to_string();
    }
    let _ = serde_json::from_slice::<RenewalInfo>(body);
}

/// A DNS message as a resolver's answer (to each question type asked), an
/// update's response (signed and not) and a TSIG record.
pub fn dns_message(data: &[u8]) {
    let id = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])).unwrap_or(0);
    for rtype in [RecordType::SOA, RecordType::NS, RecordType::TXT, RecordType::TLSA, RecordType::A, RecordType::AAAA] {
        if let Ok(answer) = query::parse_answer(id, "example.test.", rtype, data) {
            let _ = format!("{answer:?}");
        }
    }
    let _ = tsig::find_tsig(data);
    let _ = wire::last_additional(data);
    for pos in [0, 12, data.len() / 2] {
        let _ = wire::read_name(data, pos);
        let _ = wire::read_record(data, pos);
    }
    let key = TsigKey::new("key.example.test.", Algorithm::HmacSha256, vec![7; 32]);
    let request = tsig::RequestSignature {
        key_name: "key.example.test.".into(),
        algorithm: Algorithm::HmacSha256,
        mac: vec![1; 32],
        time_signed: 1_800_000_000,
    };
    let _ = update::check_response(id, data, None, 1_800_000_000);
    let _ = update::check_response(id, data, Some((&key, &request)), 1_800_000_000);
}

/// PEM and DER as read from key and certificate files, certificate chains
/// from the CA, and the account key file.
pub fn pem_der(data: &[u8]) {
    if let Ok(ders) = crate::crypto::pem_to_ders(data) {
        for der in ders.iter().take(8) {
            let _ = crate::crypto::parse_cert(der);
        }
    }
    let _ = crate::crypto::parse_cert(data);
    let _ = crate::crypto::PrivateKey::from_pem(data);
    let (which, der) = split(data);
    let _ = match which % 3 {
        0 => crate::crypto::PrivateKey::from_pkcs8_der(der),
        1 => crate::crypto::PrivateKey::from_sec1_der(der),
        _ => crate::crypto::PrivateKey::from_pkcs1_der(der),
    };
    let _ = crate::crypto::account_key_from_json(data);
}

/// A journal: every line read, the chain verified, the state replayed and
/// written out as `--replay` does.
pub fn journal(data: &[u8]) {
    let mut state = State::new();
    let scanned = scan_events(BufReader::new(data), Events::All, |r| state.apply_owned(r));
    if scanned.is_ok() {
        let _ = serde_json::to_string(&state);
    }
    let mut state = State::new();
    let _ = scan_events(BufReader::new(data), Events::State, |r| state.apply_owned(r));
}

/// A configuration file, read as JSON and as YAML (loaded, checked, shown
/// as `--show-config` shows it), and the TSIG key files the configuration
/// names.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(loaded) = crate::config::from_json_str(&text, std::path::Path::new("/etc/acmebot/acmebot.json")) {
        let _ = loaded.config.to_effective_json();
    }
    match crate::config::from_str(&text, std::path::Path::new("/etc/acmebot/acmebot.yaml")) {
        Ok(loaded) => {
            let _ = loaded.config.to_effective_json();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = crate::dns::keyfile::parse_private("key.example.test.", &text);
    let _ = crate::dns::keyfile::parse_knot(&text, None);
    let _ = crate::dns::keyfile::parse_conf(&text, None);
}

/// What CT logs and OCSP responders send, and what sits in `.sct` and
/// `.ocsp` files: an `add-chain` answer and an SCT file read and verified
/// against a certificate; an OCSP response checked for a real leaf and
/// issuer (the fixtures of `src/ocsp/fixtures`); a v3 CT log list converted
/// as `settings.ct_log_list` is.
pub fn stapled(data: &[u8]) {
    const LEAF: &[u8] = include_bytes!("ocsp/fixtures/leaf.der");
    const ISSUER: &[u8] = include_bytes!("ocsp/fixtures/ca.der");
    // A real key for the SCT checks: the issuer's (an RSA key).
    let log_key = crate::crypto::parse_cert(ISSUER).map(|c| c.spki_der).unwrap_or_default();
    let (which, rest) = split(data);
    match which % 4 {
        0 => {
            if let Ok(sct) = crate::ct::parse_add_chain_response(rest) {
                let _ = sct.verify(&log_key, LEAF);
                let _ = crate::ct::Sct::from_tls(&sct.to_tls());
            }
        }
        1 => {
            if let Ok(sct) = crate::ct::Sct::from_tls(rest) {
                let _ = sct.verify(rest, LEAF);
                let _ = sct.verify(&log_key, LEAF);
            }
        }
        2 => {
            // now: inside the fixtures' validity (see src/ocsp/fixtures/made-at)
            let _ = crate::ocsp::check_response(rest, LEAF, ISSUER, 1_796_184_000);
            let _ = crate::ocsp::request_der(rest, ISSUER);
        }
        _ => {
            let _ = crate::ct::ct_logs_from_list(&String::from_utf8_lossy(rest));
        }
    }
}

/// What a server sends to installation verification: its answers before
/// TLS in each STARTTLS dialect (the first byte picks it), an HTTP response
/// head with a Public-Key-Pins header, and a served certificate (DER)
/// compared with an installed one and matched against TLSA records.
pub fn served(data: &[u8]) {
    use crate::config::StartTls;
    /// A server's side: what it says comes from `data`; what is sent is dropped.
    struct Replay<'a>(&'a [u8]);
    impl std::io::Read for Replay<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    impl std::io::Write for Replay<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    const DIALECTS: [StartTls; 7] = [
        StartTls::Smtp,
        StartTls::Pop3,
        StartTls::Imap,
        StartTls::Sieve,
        StartTls::Ftp,
        StartTls::Xmpp,
        StartTls::Ldap,
    ];
    const LEAF: &[u8] = include_bytes!("ocsp/fixtures/leaf.der");
    const ISSUER: &[u8] = include_bytes!("ocsp/fixtures/ca.der");
    let (which, rest) = split(data);
    match usize::from(which) % 9 {
        d @ 0..=6 => {
            let _ = crate::verify::starttls::negotiate(&mut Replay(rest), DIALECTS[d], "mail.example.com");
        }
        7 => {
            if let Ok(headers) = crate::verify::tls::parse_head(rest) {
                for (_, v) in headers.iter().filter(|(k, _)| k == "public-key-pins") {
                    let _ = crate::verify::parse_pins(v);
                }
            }
        }
        _ => {
            let Ok(leaf) = crate::crypto::parse_cert(LEAF) else { return };
            let chain = vec![ISSUER.to_vec()];
            let tlsa = [(3, 1, 1, vec![0; 32]), (2, 0, 0, ISSUER.to_vec()), (1, 0, 2, vec![])];
            let expected = crate::verify::Expected {
                leaf: &leaf,
                chain: &chain,
                previous: Some(("01", 0)),
                staple_required: true,
                pins: None,
                tlsa: &tlsa,
            };
            let served = crate::verify::Served {
                handshake: crate::verify::Handshake {
                    chain: vec![rest.to_vec(), ISSUER.to_vec()],
                    ocsp: Some(rest.to_vec()),
                    version: String::new(),
                    cipher: String::new(),
                },
                pins: Some(Some(crate::verify::parse_pins(&String::from_utf8_lossy(rest)))),
            };
            for p in crate::verify::compare(&expected, &served, 1_796_184_000) {
                let _ = p.to_string();
            }
        }
    }
}
