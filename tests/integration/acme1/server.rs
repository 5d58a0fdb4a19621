//! HTTP/1.1 over rustls and the ACME v1 resources: draft-ietf-acme-acme-02
//! §5-7 with Boulder's v1 divergences (docs/acme-divergences-v1.md in
//! Boulder): `jwk` in every JWS and no `kid`, a `resource` field in every
//! payload instead of a `url` header, `urn:acme:error:` problems, 409 for a
//! known key at new-reg, 202 for challenge responses, DER certificates with
//! `rel="up"` links, draft-05 style key-change.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use der::Decode;
use serde_json::{json, Value};

use super::{AcmeV1Options, Authorization, IssuedCert, Registration, Revocation, ERROR_NS};
use crate::http1::{tls_request, write_response, Req};
use crate::testca::jws::{thumbprint, PubKey, ALGS};
use crate::testca::pki::{parse_csr, Pki};
use crate::testca::{b64, hex, now, random_bytes, rfc3339, unb64};

/// Pending authorizations live a week, valid ones 30 days (Boulder's v1 settings).
const PENDING_LIFETIME: i64 = 7 * 86400;
const VALID_LIFETIME: i64 = 30 * 86400;
/// Certificates live 90 days.
const CERT_LIFETIME: i64 = 90 * 86400;
/// Boulder's limit of names in one certificate.
const MAX_NAMES: usize = 100;
/// revocation.UserAllowedReasons in Boulder: unspecified, keyCompromise,
/// affiliationChanged, superseded, cessationOfOperation.
const USER_REASONS: [u64; 5] = [0, 1, 3, 4, 5];

pub struct Shared {
    pub opts: AcmeV1Options,
    pub base: String,
    pub pki: Pki,
    state: Mutex<State>,
}

#[derive(Default)]
pub struct State {
    nonces: HashSet<String>,
    pub nonce_reject_percent: u8,
    pub requests: Vec<(String, String)>,
    pub regs: Vec<Reg>,
    pub authzs: Vec<Authz>,
    pub certs: Vec<Cert>,
    pub revocations: Vec<Revocation>,
}

pub struct Reg {
    key: PubKey,
    jwk: Value,
    thumb: String,
    contact: Vec<String>,
    agreement: Option<String>,
    created: i64,
    status: &'static str,
}

pub struct Authz {
    reg: usize,
    name: String,
    status: &'static str,
    expires: i64,
    challs: Vec<Chall>,
    /// When a validation was started: the time it runs (for Retry-After).
    validating: Option<i64>,
}

struct Chall {
    typ: &'static str,
    token: String,
    status: &'static str,
    key_authz: Option<String>,
    validated: Option<i64>,
    error: Option<Value>,
    record: Option<Value>,
}

pub struct Cert {
    serial_hex: String,
    names: Vec<String>,
    der: Vec<u8>,
    reg: usize,
    /// The certified public key as in its SubjectPublicKeyInfo bit string.
    key: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

pub struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn new(status: u16, ctype: &str, body: Vec<u8>) -> Resp {
        let headers = if ctype.is_empty() { vec![] } else { vec![("Content-Type".into(), ctype.into())] };
        Resp { status, headers, body }
    }
    fn json(status: u16, v: &Value) -> Resp {
        Resp::new(status, "application/json", serde_json::to_vec_pretty(v).unwrap())
    }
    fn with(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// A problem document (draft-02 §5.5) with a v1 error type.
fn problem_json(status: u16, typ: &str, detail: &str) -> Value {
    json!({"type": format!("{ERROR_NS}{typ}"), "detail": detail, "status": status})
}

fn problem(status: u16, typ: &str, detail: impl Into<String>) -> Resp {
    let v = problem_json(status, typ, &detail.into());
    Resp::new(status, "application/problem+json", serde_json::to_vec_pretty(&v).unwrap())
}

fn malformed(detail: impl Into<String>) -> Resp {
    problem(400, "malformed", detail)
}

fn unauthorized(detail: impl Into<String>) -> Resp {
    problem(403, "unauthorized", detail)
}

fn not_found(detail: impl Into<String>) -> Resp {
    problem(404, "malformed", detail)
}

/// Boulder's probs.Conflict: a 409 with the malformed type.
fn conflict(detail: impl Into<String>) -> Resp {
    problem(409, "malformed", detail)
}

fn link(url: &str, rel: &str) -> String {
    format!("<{url}>;rel=\"{rel}\"")
}

type R = Result<Resp, Resp>;

impl Shared {
    pub fn new(opts: AcmeV1Options, base: String, pki: Pki) -> Shared {
        let state = State { nonce_reject_percent: opts.nonce_reject_percent, ..State::default() };
        Shared { opts, base, pki, state: Mutex::new(state) }
    }
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn tos_url(&self) -> String {
        format!("{}/terms/v1", self.base)
    }
    pub fn issuer_url(&self) -> String {
        format!("{}/acme/issuer-cert", self.base)
    }
    pub fn root_url(&self) -> String {
        format!("{}/acme/root-cert", self.base)
    }
    fn url(&self, resource: &str) -> String {
        format!("{}/acme/{resource}", self.base)
    }
    fn reg_url(&self, i: usize) -> String {
        format!("{}/acme/reg/{}", self.base, i + 1)
    }
    fn authz_url(&self, i: usize) -> String {
        format!("{}/acme/authz/{}", self.base, i + 1)
    }
    fn chall_url(&self, i: usize, j: usize) -> String {
        format!("{}/acme/challenge/{}/{j}", self.base, i + 1)
    }
    fn cert_url(&self, serial_hex: &str) -> String {
        format!("{}/acme/cert/{serial_hex}", self.base)
    }
}

/// One connection: its request answered.
pub fn serve(sh: &Arc<Shared>, tls: Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<()> {
    let (mut s, req) = tls_request(tls, tcp)?;
    sh.lock().requests.push((req.method.clone(), req.path.clone()));
    let mut resp = route(sh, &req).unwrap_or_else(|e| e);
    // Boulder sets the nonce before anything else: every response has one.
    let nonce = sh.lock().new_nonce();
    resp.headers.push(("Replay-Nonce".into(), nonce));
    resp.headers.push(("Cache-Control".into(), "public, max-age=0, no-cache".into()));
    write_response(&mut s, resp.status, &resp.headers, &resp.body, req.method == "HEAD")?;
    s.conn.send_close_notify();
    s.flush()
}

fn route(sh: &Arc<Shared>, req: &Req) -> R {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (get, post, both): (&[&str], &[&str], &[&str]) = (&["GET", "HEAD"], &["POST"], &["GET", "HEAD", "POST"]);
    let allowed = match segs.as_slice() {
        ["directory"] | ["terms", "v1"] | ["acme", "issuer-cert" | "root-cert"] | ["acme", "cert", _] => get,
        ["acme", "new-reg" | "reg" | "new-authz" | "new-cert" | "revoke-cert", ..] => post,
        ["acme", "key-change"] if sh.opts.key_change => post,
        ["acme", "authz", _] | ["acme", "challenge", _, _] => both,
        _ => return Err(not_found(format!("no resource at {}", req.path))),
    };
    if !allowed.contains(&req.method.as_str()) {
        return Err(problem(405, "malformed", "Method not allowed").with("Allow", allowed.join(", ")));
    }
    if req.method == "POST" {
        // Boulder's verifyPOST starts here, before reading the body.
        if req.header("content-length").is_none() {
            return Err(problem(411, "malformed", "missing Content-Length header"));
        }
        let mut st = sh.lock();
        return match segs.as_slice() {
            ["acme", "new-reg"] => new_reg(sh, &mut st, req),
            ["acme", "reg", id] => update_reg(sh, &mut st, req, id),
            ["acme", "new-authz"] => new_authz(sh, &mut st, req),
            ["acme", "authz", id] => deactivate_authz(sh, &mut st, req, id),
            ["acme", "challenge", a, c] => answer_challenge(sh, &mut st, req, a, c),
            ["acme", "new-cert"] => new_cert(sh, &mut st, req),
            ["acme", "revoke-cert"] => revoke_cert(&mut st, req),
            ["acme", "key-change"] => key_change(sh, &mut st, req),
            _ => Err(not_found(format!("no resource at {}", req.path))),
        };
    }
    let st = sh.lock();
    match segs.as_slice() {
        ["directory"] => Ok(Resp::json(200, &directory(sh))),
        ["terms", "v1"] => {
            Ok(Resp::new(200, "text/plain; charset=utf-8", b"acmebot ACME v1 test server: no terms at all.\n".to_vec()))
        }
        ["acme", "issuer-cert"] => Ok(Resp::new(200, "application/pkix-cert", sh.pki.inter.der().to_vec())
            .with("Link", link(&sh.root_url(), "up"))),
        ["acme", "root-cert"] => Ok(Resp::new(200, "application/pkix-cert", sh.pki.root_der.clone())),
        ["acme", "cert", serial] => {
            let c =
                st.certs.iter().find(|c| c.serial_hex == *serial).ok_or_else(|| not_found("Certificate not found"))?;
            Ok(Resp::new(200, "application/pkix-cert", c.der.clone()).with("Link", link(&sh.issuer_url(), "up")))
        }
        ["acme", "authz", id] => {
            let i = st.authz_index(id)?;
            let mut r = Resp::json(200, &st.authz_json(sh, i)).with("Link", link(&sh.url("new-cert"), "next"));
            if let Some(ra) = st.retry_after(i) {
                r = r.with("Retry-After", ra);
            }
            Ok(r)
        }
        ["acme", "challenge", a, c] => {
            let (i, j) = st.chall_index(a, c)?;
            Ok(st.chall_resp(sh, i, j))
        }
        _ => Err(not_found(format!("no resource at {}", req.path))),
    }
}

/// draft-02 §6.2 with Boulder's keys: key-change and a random entry (so
/// clients cannot assume a fixed set of keys) besides the draft's four.
fn directory(sh: &Shared) -> Value {
    let mut d = json!({
        "new-reg": sh.url("new-reg"), "new-authz": sh.url("new-authz"),
        "new-cert": sh.url("new-cert"), "revoke-cert": sh.url("revoke-cert"),
        "meta": {"terms-of-service": sh.tos_url()},
    });
    if sh.opts.key_change {
        d["key-change"] = json!(sh.url("key-change"));
    }
    d[b64(&random_bytes(8))] = json!(format!("{}/random-directory-entries", sh.base));
    d
}

/// A flattened JWS (draft-02 §5.2). Header parameters may also sit in an
/// unprotected `header`, except the nonce (§5.4.2).
struct Jws {
    header: Value,
    protected: Value,
    payload: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl Jws {
    fn parse(body: &Value) -> Result<Jws, String> {
        if body.get("signatures").is_some() {
            return Err("only the flattened JWS JSON serialization is accepted".into());
        }
        let part = |k: &str| body.get(k).and_then(Value::as_str).ok_or(format!("JWS lacks {k:?}"));
        let (p, pl, sig) = (part("protected")?, part("payload")?, part("signature")?);
        let protected: Value = unb64(p)
            .and_then(|h| serde_json::from_slice(&h).ok())
            .filter(Value::is_object)
            .ok_or("protected header is not base64url JSON")?;
        let mut header = protected.clone();
        match body.get("header") {
            None => {}
            Some(Value::Object(u)) => {
                for (k, v) in u {
                    if header.get(k).is_some() {
                        return Err(format!("header parameter {k:?} is both protected and unprotected"));
                    }
                    header[k] = v.clone();
                }
            }
            Some(_) => return Err("JWS header is not an object".into()),
        }
        Ok(Jws {
            header,
            protected,
            payload: unb64(pl).ok_or("payload is not base64url")?,
            signing_input: format!("{p}.{pl}").into_bytes(),
            signature: unb64(sig).ok_or("signature is not base64url")?,
        })
    }

    /// The key from the `jwk` header; Boulder's extractJWSKey.
    fn key(&self) -> Result<(PubKey, Value), Resp> {
        let jwk = self.header.get("jwk").ok_or_else(|| malformed("No JWK in JWS header"))?;
        let key = PubKey::from_jwk(jwk).map_err(|e| malformed(format!("Invalid JWK in JWS header: {e}")))?;
        Ok((key, jwk.clone()))
    }

    /// Boulder's checkAlgorithm and signature verification.
    fn verify(&self, key: &PubKey, jwk: &Value) -> Result<(), Resp> {
        let alg = self.header.get("alg").and_then(Value::as_str).unwrap_or("");
        if !ALGS.contains(&alg) {
            return Err(malformed(format!("signature type {alg:?} not allowed (use one of {ALGS:?})")));
        }
        if alg != key.alg() {
            return Err(malformed(format!("algorithm {alg:?} on JWS does not match the key type {}", key.alg())));
        }
        if let Some(a) = jwk.get("alg").and_then(Value::as_str) {
            if a != alg {
                return Err(malformed(format!("algorithm {alg:?} on JWS does not match the JWK's alg {a:?}")));
            }
        }
        if !key.verify(&self.signing_input, &self.signature) {
            return Err(malformed("JWS verification error"));
        }
        Ok(())
    }
}

/// What `verify_post` found out about a request.
struct Post {
    payload: Value,
    key: PubKey,
    jwk: Value,
    reg: Option<usize>,
}

/// Dotted-name checks of Boulder's policy (ValidDomain), short of the public suffix list.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Domain name is empty".into());
    }
    if name.starts_with("*.") {
        return Err("Wildcard domain names are not supported".into());
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return Err("Domain name contains an invalid character".into());
    }
    if name.len() > 253 {
        return Err("Domain name is longer than 253 bytes".into());
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err("The ACME server can not issue a certificate for an IP address".into());
    }
    if name.ends_with('.') {
        return Err("Domain name ends in a dot".into());
    }
    if !name.contains('.') {
        return Err("Domain name needs at least one dot".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("Domain name can not have two dots in a row".into());
        }
        if label.len() > 63 {
            return Err("Domain has a label (component between dots) longer than 63 bytes".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("Domain name contains an invalid label: a hyphen at its start or end".into());
        }
    }
    Ok(())
}

impl State {
    fn new_nonce(&mut self) -> String {
        let n = b64(&random_bytes(16));
        self.nonces.insert(n.clone());
        n
    }

    fn reg_by_thumb(&self, thumb: &str) -> Option<usize> {
        self.regs.iter().position(|r| r.thumb == thumb)
    }

    /// Boulder's verifyPOST: parse the JWS, find the registration of its
    /// `jwk` (required when `reg_required`), check the algorithm and the
    /// signature, the nonce, then the payload's `resource`.
    fn verify_post(&mut self, req: &Req, reg_required: bool, resource: &str) -> Result<Post, Resp> {
        let body: Value = serde_json::from_slice(&req.body).map_err(|_| malformed("Parse error reading JWS"))?;
        let jws = Jws::parse(&body).map_err(|e| malformed(format!("Parse error reading JWS: {e}")))?;
        let (key, jwk) = jws.key()?;
        let thumb = thumbprint(&jwk).map_err(|e| malformed(format!("Invalid JWK in JWS header: {e}")))?;
        let reg = self.reg_by_thumb(&thumb);
        if reg_required {
            let i = reg.ok_or_else(|| unauthorized("No registration exists matching provided key"))?;
            if self.regs[i].status != "valid" {
                return Err(unauthorized(format!("Registration is not valid, has status '{}'", self.regs[i].status)));
            }
        }
        jws.verify(&key, &jwk)?;
        let nonce = jws.protected.get("nonce").and_then(Value::as_str).unwrap_or("");
        if nonce.is_empty() {
            return Err(problem(400, "badNonce", "JWS has no anti-replay nonce"));
        }
        if !self.nonces.remove(nonce) {
            return Err(problem(400, "badNonce", format!("JWS has invalid anti-replay nonce {nonce}")));
        }
        if self.nonce_reject_percent > 0
            && u32::from(random_bytes(1)[0]) * 100 / 256 < u32::from(self.nonce_reject_percent)
        {
            return Err(problem(
                400,
                "badNonce",
                format!("JWS has invalid anti-replay nonce {nonce} (rejected at random)"),
            ));
        }
        let payload: Value =
            serde_json::from_slice(&jws.payload).map_err(|_| malformed("Request payload did not parse as JSON"))?;
        match payload.get("resource").and_then(Value::as_str) {
            None | Some("") => return Err(malformed("Request payload does not specify a resource")),
            Some(r) if r != resource => {
                return Err(malformed(format!(
                    "JWS resource payload does not match the HTTP resource: {r} != {resource}"
                )))
            }
            Some(_) => {}
        }
        Ok(Post { payload, key, jwk, reg })
    }

    fn authz_index(&self, id: &str) -> Result<usize, Resp> {
        let i = id
            .parse::<usize>()
            .ok()
            .filter(|&i| i >= 1 && i <= self.authzs.len())
            .map(|i| i - 1)
            .ok_or_else(|| not_found("No such authorization"))?;
        if self.authzs[i].expires < now() {
            return Err(not_found("Expired authorization"));
        }
        Ok(i)
    }

    fn chall_index(&self, authz: &str, chall: &str) -> Result<(usize, usize), Resp> {
        let i = self.authz_index(authz).map_err(|_| not_found("No such challenge"))?;
        let j = chall
            .parse::<usize>()
            .ok()
            .filter(|&j| j < self.authzs[i].challs.len())
            .ok_or_else(|| not_found("No such challenge"))?;
        Ok((i, j))
    }

    fn retry_after(&self, i: usize) -> Option<String> {
        let a = &self.authzs[i];
        let at = a.validating.filter(|_| a.status == "pending")?;
        Some((at - now()).max(1).to_string())
    }

    fn reg_json(&self, i: usize) -> Value {
        let r = &self.regs[i];
        let mut v = json!({"id": i + 1, "key": r.jwk, "contact": r.contact, "initialIp": "127.0.0.1",
                           "createdAt": rfc3339(r.created), "status": r.status});
        if let Some(a) = &r.agreement {
            v["agreement"] = json!(a);
        }
        v
    }

    fn chall_json(&self, sh: &Shared, i: usize, j: usize) -> Value {
        let (a, c) = (&self.authzs[i], &self.authzs[i].challs[j]);
        // Boulder shows every challenge of an invalid authorization as invalid.
        let status = if a.status == "invalid" { "invalid" } else { c.status };
        let mut v = json!({"type": c.typ, "status": status, "uri": sh.chall_url(i, j), "token": c.token});
        if let Some(k) = &c.key_authz {
            v["keyAuthorization"] = json!(k);
        }
        if let Some(t) = c.validated {
            v["validated"] = json!(rfc3339(t));
        }
        if let Some(e) = &c.error {
            v["error"] = e.clone();
        }
        if let Some(r) = &c.record {
            v["validationRecord"] = json!([r]);
        }
        v
    }

    fn authz_json(&self, sh: &Shared, i: usize) -> Value {
        let a = &self.authzs[i];
        let challs: Vec<Value> = (0..a.challs.len()).map(|j| self.chall_json(sh, i, j)).collect();
        let combos: Vec<Value> = (0..a.challs.len()).map(|j| json!([j])).collect();
        json!({"identifier": {"type": "dns", "value": a.name}, "status": a.status,
               "expires": rfc3339(a.expires), "challenges": challs, "combinations": combos})
    }

    /// A challenge in Boulder's answer: 202 (GET or POST), Location the
    /// challenge, `rel="up"` its authorization.
    fn chall_resp(&self, sh: &Shared, i: usize, j: usize) -> Resp {
        let mut r = Resp::json(202, &self.chall_json(sh, i, j))
            .with("Location", sh.chall_url(i, j))
            .with("Link", link(&sh.authz_url(i), "up"));
        if let Some(ra) = self.retry_after(i) {
            r = r.with("Retry-After", ra);
        }
        r
    }

    fn require_agreement(&self, sh: &Shared, reg: usize) -> Result<(), Resp> {
        if sh.opts.require_agreement && self.regs[reg].agreement.is_none() {
            return Err(unauthorized("Must agree to subscriber agreement before any further actions"));
        }
        Ok(())
    }

    /// A valid, unexpired authorization of `reg` for `name`.
    fn valid_authz(&self, reg: usize, name: &str, min_expiry: i64) -> Option<usize> {
        self.authzs.iter().position(|a| a.reg == reg && a.name == name && a.status == "valid" && a.expires > min_expiry)
    }

    pub fn registration(&self, sh: &Shared, i: usize) -> Registration {
        let r = &self.regs[i];
        Registration {
            id: i as u64 + 1,
            url: sh.reg_url(i),
            thumbprint: r.thumb.clone(),
            jwk: r.jwk.clone(),
            contact: r.contact.clone(),
            agreement: r.agreement.clone(),
            status: r.status.to_string(),
        }
    }

    pub fn authorization(&self, sh: &Shared, i: usize) -> Authorization {
        let a = &self.authzs[i];
        Authorization {
            url: sh.authz_url(i),
            registration_url: sh.reg_url(a.reg),
            name: a.name.clone(),
            status: a.status.to_string(),
            expires: a.expires,
        }
    }

    pub fn issued_cert(&self, sh: &Shared, i: usize) -> IssuedCert {
        let c = &self.certs[i];
        IssuedCert {
            serial_hex: c.serial_hex.clone(),
            names: c.names.clone(),
            url: sh.cert_url(&c.serial_hex),
            registration_url: sh.reg_url(c.reg),
            der: c.der.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
        }
    }
}

/// `contact`: mailto: URIs only (Boulder), else `invalidEmail`.
fn contacts(p: &Value) -> Result<Option<Vec<String>>, Resp> {
    let Some(c) = p.get("contact") else { return Ok(None) };
    let list = c.as_array().ok_or_else(|| malformed("contact must be an array of strings"))?;
    let mut out = Vec::new();
    for m in list {
        let m = m.as_str().ok_or_else(|| malformed("contact must be an array of strings"))?;
        let ok = m.strip_prefix("mailto:").is_some_and(|a| {
            a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.ends_with('.'))
        });
        if !ok {
            return Err(problem(400, "invalidEmail", format!("contact {m:?} is not a mailto: URI of a valid address")));
        }
        out.push(m.to_string());
    }
    Ok(Some(out))
}

/// draft-02 §6.3: 201 with Location and the terms link; a known key is 409
/// with the existing registration's Location.
fn new_reg(sh: &Shared, st: &mut State, req: &Req) -> R {
    let p = st.verify_post(req, false, "new-reg")?;
    if let Some(i) = p.reg {
        return Err(conflict("Registration key is already in use").with("Location", sh.reg_url(i)));
    }
    let contact = contacts(&p.payload)?.unwrap_or_default();
    let agreement = match p.payload.get("agreement") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if a.is_empty() => None,
        Some(Value::String(a)) if *a == sh.tos_url() => Some(a.clone()),
        Some(a) => {
            return Err(malformed(format!(
                "Provided agreement URL [{}] does not match current agreement URL [{}]",
                a.as_str().unwrap_or(&a.to_string()),
                sh.tos_url()
            )))
        }
    };
    let thumb = thumbprint(&p.jwk).map_err(malformed)?;
    st.regs.push(Reg { key: p.key, jwk: p.jwk, thumb, contact, agreement, created: now(), status: "valid" });
    let i = st.regs.len() - 1;
    Ok(Resp::json(201, &st.reg_json(i))
        .with("Location", sh.reg_url(i))
        .with("Link", link(&sh.url("new-authz"), "next"))
        .with("Link", link(&sh.tos_url(), "terms-of-service")))
}

/// POST to a registration: contact and agreement updates, or deactivation.
/// Boulder answers 202 with the same links as new-reg.
fn update_reg(sh: &Shared, st: &mut State, req: &Req, id: &str) -> R {
    let p = st.verify_post(req, true, "reg")?;
    let i = p.reg.expect("reg_required");
    let id: i64 = id.parse().map_err(|_| malformed("Registration ID must be an integer"))?;
    if id <= 0 {
        return Err(malformed(format!("Registration ID must be a positive non-zero integer, was {id}")));
    }
    if id as usize != i + 1 {
        return Err(unauthorized("Request signing key did not match registration key"));
    }
    match p.payload.get("status").and_then(Value::as_str) {
        None | Some("") | Some("valid") => {}
        Some("deactivated") => {
            st.regs[i].status = "deactivated";
            return Ok(Resp::json(200, &st.reg_json(i)));
        }
        Some(_) => return Err(malformed("Invalid value provided for status field")),
    }
    let agreement = p.payload.get("agreement").and_then(Value::as_str).filter(|a| !a.is_empty());
    if let Some(a) = agreement {
        if Some(a) != st.regs[i].agreement.as_deref() && a != sh.tos_url() {
            return Err(malformed(format!(
                "Provided agreement URL [{a}] does not match current agreement URL [{}]",
                sh.tos_url()
            )));
        }
    }
    let contact = contacts(&p.payload)?;
    let r = &mut st.regs[i];
    if let Some(a) = agreement {
        r.agreement = Some(a.to_string());
    }
    if let Some(c) = contact {
        r.contact = c;
    }
    Ok(Resp::json(202, &st.reg_json(i))
        .with("Link", link(&sh.url("new-authz"), "next"))
        .with("Link", link(&sh.tos_url(), "terms-of-service")))
}

/// draft-02 §6.4: a pending authorization with an http-01 and a dns-01
/// challenge. As Boulder, a valid one (24 hours from expiry at least) or a
/// pending one of the same registration for the same name is returned again.
fn new_authz(sh: &Shared, st: &mut State, req: &Req) -> R {
    let p = st.verify_post(req, true, "new-authz")?;
    let reg = p.reg.expect("reg_required");
    st.require_agreement(sh, reg)?;
    let ident = p.payload.get("identifier");
    let typ = ident.and_then(|i| i.get("type")).and_then(Value::as_str).unwrap_or("");
    let value = ident.and_then(|i| i.get("value")).and_then(Value::as_str).unwrap_or("");
    if typ.is_empty() || value.is_empty() {
        return Err(malformed("Invalid new-authorization request: missing fields"));
    }
    if typ != "dns" {
        return Err(malformed("Invalid new-authorization request: wrong identifier type"));
    }
    let name = value.to_ascii_lowercase();
    check_name(&name).map_err(|e| malformed(format!("Error creating new authz :: {e}")))?;
    let t = now();
    let existing = st.valid_authz(reg, &name, t + 86400).or_else(|| {
        st.authzs.iter().position(|a| a.reg == reg && a.name == name && a.status == "pending" && a.expires > t + 3600)
    });
    let i = match existing {
        Some(i) => i,
        None => {
            let chall = |typ| Chall {
                typ,
                token: b64(&random_bytes(32)),
                status: "pending",
                key_authz: None,
                validated: None,
                error: None,
                record: None,
            };
            st.authzs.push(Authz {
                reg,
                name,
                status: "pending",
                expires: t + PENDING_LIFETIME,
                challs: vec![chall("http-01"), chall("dns-01")],
                validating: None,
            });
            st.authzs.len() - 1
        }
    };
    Ok(Resp::json(201, &st.authz_json(sh, i))
        .with("Location", sh.authz_url(i))
        .with("Link", link(&sh.url("new-cert"), "next")))
}

/// Boulder's authorization deactivation: `{"resource": "authz", "status": "deactivated"}`.
fn deactivate_authz(sh: &Shared, st: &mut State, req: &Req, id: &str) -> R {
    let i = st.authz_index(id)?;
    let p = st.verify_post(req, true, "authz")?;
    if p.reg != Some(st.authzs[i].reg) {
        return Err(unauthorized("Registration ID doesn't match ID for authorization"));
    }
    if p.payload.get("status").and_then(Value::as_str) != Some("deactivated") {
        return Err(malformed("Invalid status value"));
    }
    if !matches!(st.authzs[i].status, "pending" | "valid") {
        return Err(malformed("Only valid and pending authorizations can be deactivated"));
    }
    st.authzs[i].status = "deactivated";
    Ok(Resp::json(200, &st.authz_json(sh, i)).with("Link", link(&sh.url("new-cert"), "next")))
}

/// draft-02 §6.4.1 and §7: the client's keyAuthorization must be the
/// expected one (else 400, as Boulder did while v1 was current); validation
/// then runs in the background and the challenge is answered with 202.
fn answer_challenge(sh: &Arc<Shared>, st: &mut State, req: &Req, a: &str, c: &str) -> R {
    let (i, j) = st.chall_index(a, c)?;
    let p = st.verify_post(req, true, "challenge")?;
    let reg = p.reg.expect("reg_required");
    if sh.opts.require_agreement && st.regs[reg].agreement.is_none() {
        return Err(unauthorized("Registration didn't agree to subscriber agreement before any further actions"));
    }
    if reg != st.authzs[i].reg {
        return Err(unauthorized("User registration ID doesn't match registration ID in authorization"));
    }
    if st.authzs[i].status == "valid" {
        return Ok(st.chall_resp(sh, i, j));
    }
    if st.authzs[i].status != "pending" {
        return Err(malformed(format!("Unable to update challenge :: authorization is {}", st.authzs[i].status)));
    }
    let expected = format!("{}.{}", st.authzs[i].challs[j].token, st.regs[reg].thumb);
    let given = p.payload.get("keyAuthorization").and_then(Value::as_str).unwrap_or("");
    if given != expected {
        return Err(malformed(format!(
            "Unable to update challenge :: provided key authorization was incorrect: {given:?}, expected {expected:?}"
        )));
    }
    if st.authzs[i].validating.is_none() {
        let run_at = now() + sh.opts.validation_delay_secs as i64;
        let a = &mut st.authzs[i];
        a.validating = Some(run_at);
        a.challs[j].key_authz = Some(expected.clone());
        let (typ, name, token) = (a.challs[j].typ, a.name.clone(), a.challs[j].token.clone());
        let sh = sh.clone();
        std::thread::spawn(move || validate(sh, i, j, typ, name, token, expected));
    }
    Ok(st.chall_resp(sh, i, j))
}

/// The validation authority: waits `validation_delay_secs`, checks the
/// challenge (unless `auto_valid`) and finalizes the authorization.
fn validate(sh: Arc<Shared>, i: usize, j: usize, typ: &str, name: String, token: String, key_authz: String) {
    std::thread::sleep(Duration::from_secs(sh.opts.validation_delay_secs));
    let (outcome, record) = match typ {
        _ if sh.opts.auto_valid => (Ok(()), json!({"hostname": name})),
        "http-01" => validate_http01(sh.opts.http_port, &name, &token, &key_authz),
        _ => validate_dns01(sh.opts.dns_server.as_deref(), &name, &key_authz),
    };
    let mut st = sh.lock();
    let a = &mut st.authzs[i];
    if a.status != "pending" {
        return;
    }
    a.validating = None;
    let c = &mut a.challs[j];
    c.record = Some(record);
    match outcome {
        Ok(()) => {
            let t = now();
            (c.status, c.validated) = ("valid", Some(t));
            (a.status, a.expires) = ("valid", t + VALID_LIFETIME);
        }
        Err((status, typ, detail)) => {
            (c.status, c.error) = ("invalid", Some(problem_json(status, typ, &detail)));
            a.status = "invalid";
        }
    }
}

type Outcome = Result<(), (u16, &'static str, String)>;

/// draft-02 §7.2: GET http://<name>/.well-known/acme-challenge/<token>, sent
/// to 127.0.0.1:<http_port> (the names of the tests resolve there).
fn validate_http01(port: u16, name: &str, token: &str, key_authz: &str) -> (Outcome, Value) {
    let host = if port == 80 { name.to_string() } else { format!("{name}:{port}") };
    let url = format!("http://{host}/.well-known/acme-challenge/{token}");
    let record = json!({"url": url, "hostname": name, "port": port.to_string(),
                        "addressesResolved": ["127.0.0.1"], "addressUsed": "127.0.0.1"});
    let fetch = || -> io::Result<(u16, Vec<u8>)> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let req = format!(
            "GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: {host}\r\n\
             User-Agent: acmebot-acme1-va\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())?;
        let mut buf = Vec::new();
        s.take(128 * 1024).read_to_end(&mut buf)?;
        let p = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or(io::ErrorKind::InvalidData)?;
        let head = String::from_utf8_lossy(&buf[..p]);
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(io::ErrorKind::InvalidData)?;
        Ok((status, buf[p + 4..].to_vec()))
    };
    let outcome = match fetch() {
        Err(e) => Err((400, "connection", format!("Fetching {url}: {e}"))),
        Ok((200, body)) => {
            let got = String::from_utf8_lossy(&body);
            let got = got.trim_end();
            if got == key_authz {
                Ok(())
            } else {
                Err((
                    403,
                    "unauthorized",
                    format!("The key authorization file from the server did not match this challenge {key_authz:?} != {got:?}"),
                ))
            }
        }
        Ok((status, _)) => Err((403, "unauthorized", format!("Invalid response from {url} [127.0.0.1]: {status}"))),
    };
    (outcome, record)
}

/// draft-02 §7.5: a TXT record at `_acme-challenge.<name>` holding
/// base64url(SHA-256(key authorization)), asked of the configured server.
fn validate_dns01(server: Option<&str>, name: &str, key_authz: &str) -> (Outcome, Value) {
    let record = json!({"hostname": name});
    let qname = format!("_acme-challenge.{name}");
    let Some(server) = server else {
        return (
            Err((400, "dns", format!("DNS problem: no DNS server configured to look up TXT for {qname}"))),
            record,
        );
    };
    let want = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authz.as_bytes()).as_ref());
    let outcome = match query_txt(server, &qname) {
        Err(e) => Err((400, "dns", format!("DNS problem: {e} looking up TXT for {qname}"))),
        Ok(txts) if txts.contains(&want) => Ok(()),
        Ok(txts) if txts.is_empty() => Err((403, "unauthorized", format!("No TXT record found at {qname}"))),
        Ok(txts) => Err((403, "unauthorized", format!("Incorrect TXT record {:?} found at {qname}", txts[0]))),
    };
    (outcome, record)
}

/// One TXT query (UDP, then TCP if truncated). NXDOMAIN and NODATA give no records.
fn query_txt(server: &str, qname: &str) -> Result<Vec<String>, String> {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};
    let addr: SocketAddr = server.parse().map_err(|e| format!("bad DNS server address {server:?}: {e}"))?;
    let name = Name::from_ascii(format!("{qname}.")).map_err(|e| format!("bad name: {e}"))?;
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name, RecordType::TXT));
    let id = q.metadata.id;
    let wire = q.to_vec().map_err(|e| e.to_string())?;
    let timeout =
        |e: io::Error| if e.kind() == io::ErrorKind::WouldBlock { "query timed out".into() } else { e.to_string() };

    let local: SocketAddr =
        if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let udp = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    udp.connect(addr).map_err(|e| e.to_string())?;
    udp.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    let mut answer = None;
    for _ in 0..2 {
        udp.send(&wire).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        match udp.recv(&mut buf) {
            Ok(n) => match Message::from_vec(&buf[..n]) {
                Ok(m) if m.metadata.id == id => {
                    answer = Some(m);
                    break;
                }
                _ => continue,
            },
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut m = answer.ok_or("query timed out")?;
    if m.metadata.truncation {
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
        tcp.write_all(&[&(wire.len() as u16).to_be_bytes()[..], &wire].concat()).map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).map_err(timeout)?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        tcp.read_exact(&mut buf).map_err(timeout)?;
        m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    }
    match m.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        rc => return Err(format!("{rc:?}").to_ascii_uppercase()),
    }
    Ok(m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
            _ => None,
        })
        .collect())
}

/// draft-02 §6.5 with Boulder's answer: 201, the DER certificate,
/// `Location` the certificate, `rel="up"` the issuer.
fn new_cert(sh: &Shared, st: &mut State, req: &Req) -> R {
    let p = st.verify_post(req, true, "new-cert")?;
    let reg = p.reg.expect("reg_required");
    st.require_agreement(sh, reg)?;
    let der = p.payload.get("csr").and_then(Value::as_str).and_then(unb64);
    let der = der.ok_or_else(|| malformed("Error unmarshaling certificate request: csr must be base64url DER"))?;
    let csr = parse_csr(&der).map_err(|e| malformed(format!("Error parsing certificate request: {e}")))?;
    if csr.names.is_empty() {
        return Err(malformed("Error creating new cert :: at least one DNS name is required"));
    }
    if csr.names.len() > MAX_NAMES {
        return Err(malformed(format!("Error creating new cert :: CSR contains more than {MAX_NAMES} DNS names")));
    }
    for n in &csr.names {
        check_name(n)
            .map_err(|e| malformed(format!("Error creating new cert :: policy forbids issuing for {n:?}: {e}")))?;
    }
    if csr.key.bits == st.regs[reg].key.bytes() {
        return Err(malformed("Error creating new cert :: certificate public key must be different than account key"));
    }
    let t = now();
    let missing: Vec<&str> =
        csr.names.iter().filter(|n| st.valid_authz(reg, n, t).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(unauthorized(format!(
            "Error creating new cert :: authorizations for these names not found or expired: {}",
            missing.join(", ")
        )));
    }
    let mut serial = random_bytes(16);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let (nb, na) = (t, t + CERT_LIFETIME);
    let leaf = sh.pki.issue(&csr.key, &csr.names, nb, na, &serial).map_err(|e| problem(500, "serverInternal", e))?;
    let serial_hex = hex(&serial);
    let url = sh.cert_url(&serial_hex);
    st.certs.push(Cert {
        serial_hex,
        names: csr.names,
        der: leaf.clone(),
        reg,
        key: csr.key.bits,
        not_before: nb,
        not_after: na,
    });
    Ok(Resp::new(201, "application/pkix-cert", leaf).with("Location", url).with("Link", link(&sh.issuer_url(), "up")))
}

/// draft-02 §6.6 with Boulder's checks: signed by the certificate's key, the
/// issuing registration, or one holding valid authorizations for every name.
fn revoke_cert(st: &mut State, req: &Req) -> R {
    let p = st.verify_post(req, false, "revoke-cert")?;
    let der = p.payload.get("certificate").and_then(Value::as_str).and_then(unb64);
    let der = der.ok_or_else(|| malformed("Unable to JSON parse revoke request"))?;
    let reason = match p.payload.get("reason") {
        None | Some(Value::Null) => None,
        Some(r) => Some(r.as_u64().ok_or_else(|| malformed("Unable to JSON parse revoke request"))?),
    };
    let parsed =
        x509_cert::Certificate::from_der(&der).map_err(|_| malformed("Unable to parse revoke certificate DER"))?;
    let serial_hex = hex(parsed.tbs_certificate.serial_number.as_bytes());
    let c = st.certs.iter().position(|c| c.serial_hex == serial_hex && c.der == der);
    let c = c.ok_or_else(|| not_found("No such certificate"))?;
    if st.certs[c].not_after < now() {
        return Err(unauthorized("Certificate is expired"));
    }
    if st.revocations.iter().any(|r| r.serial_hex == serial_hex) {
        return Err(conflict("Certificate already revoked"));
    }
    let cert = &st.certs[c];
    let by_key = p.key.bytes() == cert.key.as_slice();
    let by_reg = p.reg.is_some_and(|r| r == cert.reg && st.regs[r].status == "valid");
    let by_authz = p.reg.is_some_and(|r| {
        st.regs[r].status == "valid" && cert.names.iter().all(|n| st.valid_authz(r, n, now()).is_some())
    });
    if !(by_key || by_reg || by_authz) {
        return Err(unauthorized(
            "Revocation request must be signed by private key of cert to be revoked, by the account key of the \
             account that issued it, or by the account key of an account that holds valid authorizations for all \
             names in the certificate.",
        ));
    }
    let reason = reason.unwrap_or(0);
    if !USER_REASONS.contains(&reason) {
        return Err(malformed(format!(
            "unsupported revocation reason code provided: {reason}. Supported reasons: {USER_REASONS:?}"
        )));
    }
    st.revocations.push(Revocation { serial_hex, reason: reason as u8 });
    Ok(Resp::new(200, "", vec![]))
}

/// Boulder's v1 roll-over (draft-05 §6.3.6 without `url`): the payload is a
/// JWS signed by the new key (plus `"resource": "key-change"`), whose own
/// payload is `{"account": <reg URL>, "newKey": <new JWK>}`.
fn key_change(sh: &Shared, st: &mut State, req: &Req) -> R {
    let p = st.verify_post(req, true, "key-change")?;
    let reg = p.reg.expect("reg_required");
    let inner = Jws::parse(&p.payload).map_err(|e| malformed(format!("Parse error reading JWS: {e}")))?;
    let (key, jwk) = inner.key()?;
    inner.verify(&key, &jwk)?;
    let ip: Value =
        serde_json::from_slice(&inner.payload).map_err(|_| malformed("Request payload did not parse as JSON"))?;
    if ip.get("account").and_then(Value::as_str) != Some(sh.reg_url(reg).as_str()) {
        return Err(malformed("Incorrect account URL provided in payload"));
    }
    let new_key = ip.get("newKey").ok_or_else(|| malformed("Unable to marshal new JWK"))?;
    let thumb = thumbprint(&jwk).map_err(malformed)?;
    if thumbprint(new_key).ok() != Some(thumb.clone()) {
        return Err(malformed("New JWK in inner payload doesn't match key used to sign inner JWS"));
    }
    if let Some(other) = st.reg_by_thumb(&thumb) {
        return Err(
            conflict("Unable to update registration :: key is already in use").with("Location", sh.reg_url(other))
        );
    }
    let r = &mut st.regs[reg];
    (r.key, r.jwk, r.thumb) = (key, jwk, thumb);
    Ok(Resp::json(200, &st.reg_json(reg)))
}
