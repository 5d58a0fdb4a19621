//! TSIG, secret key transaction authentication (RFC 8945): signing requests
//! (§5.1) and verifying the signed response (§5.3, §5.4). Pure: the message
//! bytes and the clock (`now`, seconds since the epoch) are passed in.
//!
//! The MAC is computed here over the wire format (§4.3.3) rather than by
//! hickory-proto, whose TSIG has no HMAC-MD5. HMAC-SHA* come from aws-lc-rs,
//! HMAC-MD5 from [`super::md5`].

use super::md5::hmac_md5;
use super::wire::{self, canonical_name, u16_at};
use std::fmt;

/// TSIG RR type (RFC 8945 §4.1).
pub const TYPE_TSIG: u16 = 250;
/// CLASS ANY (RFC 8945 §4.2: the TSIG RR's class).
pub const CLASS_ANY: u16 = 255;
/// The fudge acmebot signs with and accepts a response's time within (RFC 8945 §10: 300 s recommended).
pub const FUDGE: u16 = 300;

/// The MAC algorithms of RFC 8945 §6 that acmebot supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// The algorithm name carried in the TSIG RDATA (RFC 8945 §6, table 3).
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5.sig-alg.reg.int.",
            Algorithm::HmacSha1 => "hmac-sha1.",
            Algorithm::HmacSha224 => "hmac-sha224.",
            Algorithm::HmacSha256 => "hmac-sha256.",
            Algorithm::HmacSha384 => "hmac-sha384.",
            Algorithm::HmacSha512 => "hmac-sha512.",
        }
    }

    /// The name BIND's configuration uses (`algorithm hmac-sha256;`).
    pub fn config_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5",
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha224 => "hmac-sha224",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// From a BIND/knot configuration name or an RFC 8945 wire name, case-insensitive.
    /// A truncation suffix (`hmac-sha256-128`) is accepted and ignored: acmebot
    /// always sends the full MAC.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let base = match n.rsplit_once('-') {
            Some((b, bits)) if b.starts_with("hmac-") && bits.chars().all(|c| c.is_ascii_digit()) => b.to_string(),
            _ => n,
        };
        Some(match base.as_str() {
            "hmac-md5" | "hmac-md5.sig-alg.reg.int" => Algorithm::HmacMd5,
            "hmac-sha1" => Algorithm::HmacSha1,
            "hmac-sha224" => Algorithm::HmacSha224,
            "hmac-sha256" => Algorithm::HmacSha256,
            "hmac-sha384" => Algorithm::HmacSha384,
            "hmac-sha512" => Algorithm::HmacSha512,
            _ => return None,
        })
    }

    /// The DNSSEC algorithm numbers `dnssec-keygen` used for HMAC keys
    /// (`Algorithm: 157 (HMAC_MD5)` in a `.private` file; 161-165 for SHA).
    pub fn from_dnssec_number(n: u16) -> Option<Algorithm> {
        Some(match n {
            157 => Algorithm::HmacMd5,
            161 => Algorithm::HmacSha1,
            162 => Algorithm::HmacSha224,
            163 => Algorithm::HmacSha256,
            164 => Algorithm::HmacSha384,
            165 => Algorithm::HmacSha512,
            _ => return None,
        })
    }

    /// Full MAC length in bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacMd5 => 16,
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha224 => 28,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// HMAC over the concatenation of `parts`.
    pub fn mac(self, secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        use aws_lc_rs::hmac;
        let alg = match self {
            Algorithm::HmacMd5 => return hmac_md5(secret, parts).to_vec(),
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha224 => hmac::HMAC_SHA224,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        let mut ctx = hmac::Context::with_key(&hmac::Key::new(alg, secret));
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref().to_vec()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

/// A TSIG key. Its Debug output and every error leave the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key name, as configured on the server (e.g. `update.example.com.`).
    pub name: String,
    pub algorithm: Algorithm,
    secret: Vec<u8>,
}

impl TsigKey {
    pub fn new(name: impl Into<String>, algorithm: Algorithm, secret: Vec<u8>) -> TsigKey {
        TsigKey { name: name.into(), algorithm, secret }
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Drop for TsigKey {
    fn drop(&mut self) {
        crate::platform::zeroize(&mut self.secret);
    }
}

/// What a signed request leaves behind for verifying its response (RFC 8945 §5.3:
/// the response MAC covers the request MAC).
#[derive(Debug, Clone)]
pub struct RequestSignature {
    pub key_name: String,
    pub algorithm: Algorithm,
    pub mac: Vec<u8>,
    pub time_signed: u64,
}

/// The TSIG error field's values (RFC 8945 §3, §5.3.2, §5.2.3).
pub fn error_name(code: u16) -> String {
    match code {
        16 => "BADSIG".into(),
        17 => "BADKEY".into(),
        18 => "BADTIME".into(),
        22 => "BADTRUNC".into(),
        n => crate::dns::rcode_name(n),
    }
}

/// The TSIG variables of RFC 8945 §4.3.3, in digest form.
fn variables(key_name: &[u8], alg_name: &[u8], time_signed: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key_name.len() + alg_name.len() + 16 + other.len());
    v.extend_from_slice(key_name);
    v.extend_from_slice(&CLASS_ANY.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes()); // TTL
    v.extend_from_slice(alg_name);
    v.extend_from_slice(&time_signed.to_be_bytes()[2..]); // 48 bits
    v.extend_from_slice(&fudge.to_be_bytes());
    v.extend_from_slice(&error.to_be_bytes());
    v.extend_from_slice(&(other.len() as u16).to_be_bytes());
    v.extend_from_slice(other);
    v
}

/// Signs a complete request (RFC 8945 §5.1): appends the TSIG RR to the
/// additional section and increments ARCOUNT. The digest is the message as
/// built (§4.3.2) followed by the TSIG variables (§4.3.3).
pub fn sign_request(msg: &[u8], key: &TsigKey, now: i64) -> Result<(Vec<u8>, RequestSignature), String> {
    if msg.len() < wire::HEADER_LEN {
        return Err("message shorter than a DNS header".into());
    }
    let key_name = canonical_name(&key.name).map_err(|e| format!("TSIG key name: {e}"))?;
    let alg_name = canonical_name(key.algorithm.wire_name())?;
    let time_signed = now.max(0) as u64 & 0xffff_ffff_ffff;
    let vars = variables(&key_name, &alg_name, time_signed, FUDGE, 0, &[]);
    let mac = key.algorithm.mac(&key.secret, &[msg, &vars]);

    let mut out = msg.to_vec();
    let arcount = u16_at(msg, 10)?.checked_add(1).ok_or("too many additional records")?;
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    // The TSIG RR (RFC 8945 §4.2).
    let mut rdata = Vec::with_capacity(alg_name.len() + 16 + mac.len());
    rdata.extend_from_slice(&alg_name);
    rdata.extend_from_slice(&time_signed.to_be_bytes()[2..]);
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&msg[0..2]); // Original ID
    rdata.extend_from_slice(&0u16.to_be_bytes()); // Error
    rdata.extend_from_slice(&0u16.to_be_bytes()); // Other Len
    out.extend_from_slice(&key_name);
    out.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    Ok((out, RequestSignature { key_name: key.name.clone(), algorithm: key.algorithm, mac, time_signed }))
}

/// A TSIG RR as found at the end of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigRecord {
    pub key_name: String,
    pub algorithm_name: String,
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
    /// Where the TSIG RR starts in the message.
    pub start: usize,
}

/// The TSIG RR of a message, if its last record is one (RFC 8945 §5.1: it must be last).
pub fn find_tsig(msg: &[u8]) -> Result<Option<TsigRecord>, String> {
    let Some(rr) = wire::last_additional(msg)? else {
        return Ok(None);
    };
    if rr.rtype != TYPE_TSIG {
        return Ok(None);
    }
    let (algorithm_name, mut p) = wire::read_name(msg, rr.rdata_start)?;
    let field = |p: usize, n: usize| -> Result<&[u8], String> {
        if p + n > rr.end {
            Err("TSIG record data truncated".to_string())
        } else {
            Ok(&msg[p..p + n])
        }
    };
    let t = field(p, 6)?;
    let time_signed = t.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
    p += 6;
    let fudge = u16_at(field(p, 2)?, 0)?;
    let mac_len = u16_at(field(p + 2, 2)?, 0)? as usize;
    p += 4;
    let mac = field(p, mac_len)?.to_vec();
    p += mac_len;
    let original_id = u16_at(field(p, 2)?, 0)?;
    let error = u16_at(field(p + 2, 2)?, 0)?;
    let other_len = u16_at(field(p + 4, 2)?, 0)? as usize;
    p += 6;
    let other = field(p, other_len)?.to_vec();
    if p + other_len != rr.end {
        return Err("TSIG record data has trailing bytes".into());
    }
    Ok(Some(TsigRecord {
        key_name: rr.name,
        algorithm_name,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
        start: rr.start,
    }))
}

/// Why a response to a signed request is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsigFailure {
    /// The response carries no TSIG RR (RFC 8945 §5.3).
    Missing,
    /// The server reports a TSIG error (BADSIG, BADKEY, BADTIME, ...) in the TSIG RR.
    ServerError { error: u16, server_time: Option<u64> },
    /// The response is signed with another key or algorithm than the request.
    WrongKey { key_name: String, algorithm: String },
    /// The MAC does not verify (RFC 8945 §5.4.1 / §5.3).
    BadSignature,
    /// The MAC is shorter than RFC 8945 §5.2.2.1 allows.
    BadTruncation,
    /// The signature time is outside `now ± fudge` (RFC 8945 §5.4.2 applied to responses).
    BadTime { time_signed: u64, now: i64 },
    /// The TSIG RR could not be parsed.
    Malformed(String),
}

impl fmt::Display for TsigFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsigFailure::Missing => f.write_str("the response is not signed (no TSIG record)"),
            TsigFailure::ServerError { error, server_time: Some(t) } => {
                write!(f, "TSIG error {} (server time {t})", error_name(*error))
            }
            TsigFailure::ServerError { error, server_time: None } => write!(f, "TSIG error {}", error_name(*error)),
            TsigFailure::WrongKey { key_name, algorithm } => {
                write!(f, "the response is signed with another key ({key_name}, {algorithm})")
            }
            TsigFailure::BadSignature => f.write_str("the response's TSIG signature does not verify"),
            TsigFailure::BadTruncation => f.write_str("the response's TSIG MAC is truncated too far"),
            TsigFailure::BadTime { time_signed, now } => {
                write!(f, "the response's TSIG time {time_signed} is outside {now} ± {FUDGE} s")
            }
            TsigFailure::Malformed(e) => write!(f, "malformed TSIG record: {e}"),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the TSIG of a response to a request signed with `key` (RFC 8945
/// §5.3, §4.3.1): the digest is the request MAC (length + bytes), the response
/// without its TSIG RR (ARCOUNT decremented, ID = Original ID), and the TSIG
/// variables. `now` is checked against the response's time signed and fudge.
pub fn verify_response(
    msg: &[u8],
    key: &TsigKey,
    request: &RequestSignature,
    now: i64,
) -> Result<TsigRecord, TsigFailure> {
    let tsig = find_tsig(msg).map_err(TsigFailure::Malformed)?.ok_or(TsigFailure::Missing)?;
    if tsig.error != 0 {
        let server_time = (tsig.error == 18 && tsig.other.len() == 6)
            .then(|| tsig.other.iter().fold(0u64, |a, &b| (a << 8) | b as u64));
        return Err(TsigFailure::ServerError { error: tsig.error, server_time });
    }
    let same_name = canonical_name(&tsig.key_name).ok() == canonical_name(&request.key_name).ok();
    if !same_name || Algorithm::from_name(&tsig.algorithm_name) != Some(key.algorithm) {
        return Err(TsigFailure::WrongKey { key_name: tsig.key_name.clone(), algorithm: tsig.algorithm_name.clone() });
    }
    let full = key.algorithm.mac_len();
    // RFC 8945 §5.2.2.1: a truncated MAC must keep at least half, and at least 10 bytes.
    if tsig.mac.len() > full || tsig.mac.len() < (full / 2).max(10).min(full) {
        return Err(TsigFailure::BadTruncation);
    }
    let mut stripped = msg[..tsig.start].to_vec();
    stripped[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    let arcount = u16_at(msg, 10).map_err(TsigFailure::Malformed)? - 1;
    stripped[10..12].copy_from_slice(&arcount.to_be_bytes());
    let key_name = canonical_name(&tsig.key_name).map_err(TsigFailure::Malformed)?;
    let alg_name = canonical_name(&tsig.algorithm_name).map_err(TsigFailure::Malformed)?;
    let vars = variables(&key_name, &alg_name, tsig.time_signed, tsig.fudge, tsig.error, &tsig.other);
    let request_mac_len = (request.mac.len() as u16).to_be_bytes();
    let mac = key.algorithm.mac(&key.secret, &[&request_mac_len, &request.mac, &stripped, &vars]);
    if !constant_time_eq(&mac[..tsig.mac.len()], &tsig.mac) {
        return Err(TsigFailure::BadSignature);
    }
    if (now - tsig.time_signed as i64).unsigned_abs() > tsig.fudge as u64 {
        return Err(TsigFailure::BadTime { time_signed: tsig.time_signed, now });
    }
    Ok(tsig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const ALL: [Algorithm; 6] = [
        Algorithm::HmacMd5,
        Algorithm::HmacSha1,
        Algorithm::HmacSha224,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// RFC 4231 §4.2 test case 1 and RFC 2202 §3 case 1, through the same entry point TSIG uses.
    #[test]
    fn hmac_vectors() {
        let key = [0x0bu8; 20];
        assert_eq!(
            hex(&Algorithm::HmacSha256.mac(&key, &[b"Hi ", b"There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&Algorithm::HmacSha224.mac(&key, &[b"Hi There"])),
            "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"
        );
        assert_eq!(hex(&Algorithm::HmacSha1.mac(&key, &[b"Hi There"])), "b617318655057264e28bc0b6fb378c8ef146be00");
        assert_eq!(hex(&Algorithm::HmacMd5.mac(&[0x0b; 16], &[b"Hi There"])), "9294727a3638bb1c13f48ef8158bfc9d");
        for a in ALL {
            assert_eq!(a.mac(b"k", &[b"x"]).len(), a.mac_len());
        }
    }

    #[test]
    fn algorithm_names() {
        for a in ALL {
            assert_eq!(Algorithm::from_name(a.wire_name()), Some(a));
            assert_eq!(Algorithm::from_name(a.config_name()), Some(a));
        }
        assert_eq!(Algorithm::from_name("HMAC-MD5.SIG-ALG.REG.INT"), Some(Algorithm::HmacMd5));
        assert_eq!(Algorithm::from_name("hmac-sha256-128"), Some(Algorithm::HmacSha256));
        assert_eq!(Algorithm::from_name("gss-tsig"), None);
        assert_eq!(Algorithm::from_dnssec_number(157), Some(Algorithm::HmacMd5));
        assert_eq!(Algorithm::from_dnssec_number(163), Some(Algorithm::HmacSha256));
        assert_eq!(Algorithm::from_dnssec_number(8), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = TsigKey::new("k.", Algorithm::HmacSha256, b"supersecretbytes".to_vec());
        let d = format!("{k:?}");
        assert!(!d.contains("supersecret") && !d.contains("115, 117"), "{d}");
        assert!(d.contains("redacted"));
    }

    /// A minimal query: header + one question.
    fn query(id: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(b"\x07example\x04test\x00\x00\x06\x00\x01");
        m
    }

    /// Builds a signed response the way a server does (RFC 8945 §4.3.1), from the
    /// request MAC, independently of `verify_response`.
    fn server_response(request_mac: &[u8], key: &TsigKey, time: u64, error: u16, corrupt: bool) -> Vec<u8> {
        let mut body = query(0x1234);
        body[2] |= 0x80; // QR
        let key_name = canonical_name(&key.name).unwrap();
        let alg = canonical_name(key.algorithm.wire_name()).unwrap();
        let vars = variables(&key_name, &alg, time, FUDGE, error, &[]);
        let mut mac =
            key.algorithm.mac(&key.secret, &[&(request_mac.len() as u16).to_be_bytes(), request_mac, &body, &vars]);
        if corrupt {
            mac[0] ^= 1;
        }
        let mut m = body.clone();
        m[11] = 1;
        m.extend_from_slice(&key_name);
        m.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
        let mut rdata = alg.clone();
        rdata.extend_from_slice(&time.to_be_bytes()[2..]);
        rdata.extend_from_slice(&FUDGE.to_be_bytes());
        rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        rdata.extend_from_slice(&mac);
        rdata.extend_from_slice(&[0x12, 0x34]);
        rdata.extend_from_slice(&error.to_be_bytes());
        rdata.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        m
    }

    #[test]
    fn sign_then_verify_every_algorithm() {
        let now = 1_700_000_000i64;
        for a in ALL {
            let key = TsigKey::new("Acme-Key.", a, b"0123456789abcdef0123456789abcdef".to_vec());
            let (signed, sig) = sign_request(&query(0x1234), &key, now).unwrap();
            // The request's own TSIG parses back and its MAC is over message + variables.
            let t = find_tsig(&signed).unwrap().expect("tsig");
            assert_eq!(t.key_name, "acme-key.");
            assert_eq!(Algorithm::from_name(&t.algorithm_name), Some(a));
            assert_eq!(t.time_signed, now as u64);
            assert_eq!(t.mac, sig.mac);
            assert_eq!(u16_at(&signed, 10).unwrap(), 1);
            let vars = variables(
                &canonical_name("acme-key").unwrap(),
                &canonical_name(a.wire_name()).unwrap(),
                now as u64,
                FUDGE,
                0,
                &[],
            );
            assert_eq!(a.mac(key.secret(), &[&query(0x1234), &vars]), sig.mac);

            let good = server_response(&sig.mac, &key, now as u64 + 5, 0, false);
            verify_response(&good, &key, &sig, now).unwrap();
            let bad = server_response(&sig.mac, &key, now as u64, 0, true);
            assert_eq!(verify_response(&bad, &key, &sig, now), Err(TsigFailure::BadSignature));
            let late = server_response(&sig.mac, &key, now as u64 + 301, 0, false);
            assert!(matches!(verify_response(&late, &key, &sig, now), Err(TsigFailure::BadTime { .. })));
            let other_key = TsigKey::new("acme-key", a, b"another secret".to_vec());
            assert_eq!(verify_response(&good, &other_key, &sig, now), Err(TsigFailure::BadSignature));
            let mut unsigned = query(0x1234);
            unsigned[2] |= 0x80;
            assert_eq!(verify_response(&unsigned, &key, &sig, now), Err(TsigFailure::Missing));
            let badsig = server_response(&[], &key, now as u64, 16, false);
            assert_eq!(
                verify_response(&badsig, &key, &sig, now),
                Err(TsigFailure::ServerError { error: 16, server_time: None })
            );
        }
    }
}
