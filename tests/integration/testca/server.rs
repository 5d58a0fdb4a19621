//! HTTP/1.1 over rustls, and the ACME resources (RFC 8555 §7, RFC 9773 §4-5).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use super::jws::{thumbprint, Jws, PubKey, ALGS};
use super::pki::{ari_cert_id, parse_csr, Pki};
use super::{b64, hex, now, random_bytes, rfc3339, unb64, IssuedCert, OrderRecord, Revocation, TestCaOptions};
use crate::http1::{tls_request, write_response, Req};

pub struct Shared {
    pub opts: TestCaOptions,
    pub base: String,
    pub pki: Pki,
    state: Mutex<State>,
}

#[derive(Default)]
pub struct State {
    nonces: HashSet<String>,
    pub nonce_reject_percent: u8,
    pub accounts: Vec<Account>,
    pub orders: Vec<Order>,
    authzs: Vec<Authz>,
    pub certs: Vec<Cert>,
    pub windows: HashMap<String, (i64, i64)>,
    /// See `TestCaOptions::order_problem`.
    pub order_problem: Option<(String, String)>,
    pub ari_ids: Vec<String>,
    pub revocations: Vec<Revocation>,
}

pub struct Account {
    url: String,
    key: PubKey,
    jwk: Value,
    thumb: String,
    contact: Value,
    tos: bool,
    status: &'static str,
}

pub struct Order {
    pub rec: OrderRecord,
    account: usize,
    authz: Vec<usize>,
    expires: i64,
    cert: Option<usize>,
}

struct Authz {
    account: usize,
    ident: String,
    wildcard: bool,
    status: &'static str,
    token: String,
    expires: i64,
    challs: Vec<Chall>,
}

struct Chall {
    typ: &'static str,
    status: &'static str,
    validated: Option<i64>,
    error: Option<Value>,
}

pub struct Cert {
    pub info: IssuedCert,
    der: Vec<u8>,
    chain: String,
    account: usize,
    key: Vec<u8>,
    revoked: bool,
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

/// An RFC 7807 problem document with an ACME error type.
fn problem(status: u16, typ: &str, detail: impl Into<String>) -> Resp {
    let v = json!({"type": format!("urn:ietf:params:acme:error:{typ}"), "detail": detail.into(), "status": status});
    Resp::new(status, "application/problem+json", serde_json::to_vec(&v).unwrap())
}

type R = Result<Resp, Resp>;

impl Shared {
    pub fn new(opts: TestCaOptions, base: String, pki: Pki) -> Shared {
        let state = State {
            nonce_reject_percent: opts.nonce_reject_percent,
            order_problem: opts.order_problem.clone(),
            ..State::default()
        };
        Shared { opts, base, pki, state: Mutex::new(state) }
    }
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn url(&self, kind: &str, i: usize) -> String {
        format!("{}/{kind}/{}", self.base, i + 1)
    }
}

/// One connection: its request answered.
pub fn serve(sh: &Arc<Shared>, tls: Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<()> {
    let (mut s, req) = tls_request(tls, tcp)?;
    let mut resp = route(sh, &req).unwrap_or_else(|e| e);
    let nonce = sh.lock().new_nonce();
    resp.headers.push(("Replay-Nonce".into(), nonce));
    resp.headers.push(("Link".into(), format!("<{}/dir>;rel=\"index\"", sh.base)));
    resp.headers.push(("Cache-Control".into(), "no-store".into()));
    write_response(&mut s, resp.status, &resp.headers, &resp.body, req.method == "HEAD")?;
    s.conn.send_close_notify();
    s.flush()
}

fn route(sh: &Arc<Shared>, req: &Req) -> R {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["dir"]) => Ok(Resp::json(200, &directory(sh))),
        ("HEAD", ["nonce"]) => Ok(Resp::new(200, "", vec![])),
        ("GET", ["nonce"]) => Ok(Resp::new(204, "", vec![])),
        ("GET", ["renewal-info", id]) => renewal_info(sh, id),
        ("POST", _) => post(sh, req, &segs),
        (_, ["dir" | "nonce" | "renewal-info", ..]) => Err(problem(405, "malformed", "method not allowed")),
        _ => Err(problem(404, "malformed", format!("no resource at {}", req.path))),
    }
}

fn directory(sh: &Shared) -> Value {
    let b = &sh.base;
    let profiles: serde_json::Map<String, Value> =
        sh.opts.profiles.iter().map(|(n, d, _)| (n.clone(), json!(d))).collect();
    let mut meta = json!({"profiles": profiles, "externalAccountRequired": false});
    if let Some(t) = &sh.opts.tos_url {
        meta["termsOfService"] = json!(t);
    }
    json!({
        "newNonce": format!("{b}/nonce"), "newAccount": format!("{b}/new-acct"),
        "newOrder": format!("{b}/new-order"), "revokeCert": format!("{b}/revoke"),
        "keyChange": format!("{b}/key-change"), "renewalInfo": format!("{b}/renewal-info"),
        "meta": meta,
    })
}

impl State {
    fn new_nonce(&mut self) -> String {
        let n = b64(&random_bytes(16));
        self.nonces.insert(n.clone());
        n
    }

    /// RFC 8555 §6.2-6.5: checks alg, url, key (jwk or kid), signature and nonce.
    fn authenticate(
        &mut self,
        jws: &Jws,
        url: &str,
        jwk_only: bool,
        jwk_ok: bool,
    ) -> Result<(PubKey, Option<usize>), Resp> {
        let alg = jws.h("alg").unwrap_or("");
        if !ALGS.contains(&alg) {
            let mut p = problem(400, "badSignatureAlgorithm", format!("JWS alg {alg:?} is not supported"));
            let mut v: Value = serde_json::from_slice(&p.body).unwrap();
            v["algorithms"] = json!(ALGS);
            p.body = serde_json::to_vec(&v).unwrap();
            return Err(p);
        }
        if jws.h("url") != Some(url) {
            return Err(problem(
                401,
                "unauthorized",
                format!("JWS url {:?} is not the request URL {url}", jws.h("url")),
            ));
        }
        let (key, acct) = match (jws.header.get("jwk"), jws.h("kid")) {
            (Some(jwk), None) if jwk_ok => (PubKey::from_jwk(jwk).map_err(|e| problem(400, "badPublicKey", e))?, None),
            (None, Some(kid)) if !jwk_only => {
                let i = self
                    .accounts
                    .iter()
                    .position(|a| a.url == kid)
                    .ok_or_else(|| problem(400, "accountDoesNotExist", format!("no account {kid}")))?;
                if self.accounts[i].status != "valid" {
                    return Err(problem(401, "unauthorized", "account is deactivated"));
                }
                (self.accounts[i].key.clone(), Some(i))
            }
            (Some(_), Some(_)) => return Err(problem(400, "malformed", "JWS has both jwk and kid")),
            _ if jwk_only => return Err(problem(400, "malformed", "this resource requires a jwk header")),
            _ => return Err(problem(400, "malformed", "this resource requires a kid header")),
        };
        if key.alg() != alg {
            return Err(problem(400, "badSignatureAlgorithm", format!("alg {alg} does not match the key")));
        }
        if !key.verify(&jws.signing_input, &jws.signature) {
            return Err(problem(400, "malformed", "JWS signature is invalid"));
        }
        let nonce = jws.h("nonce").unwrap_or("");
        if !self.nonces.remove(nonce) {
            return Err(problem(400, "badNonce", format!("nonce {nonce:?} is unknown or was used")));
        }
        if self.nonce_reject_percent > 0
            && u32::from(random_bytes(1)[0]) * 100 / 256 < u32::from(self.nonce_reject_percent)
        {
            return Err(problem(400, "badNonce", "nonce rejected at random (nonce_reject_percent)"));
        }
        Ok((key, acct))
    }

    fn order_status(&self, o: &Order) -> &'static str {
        let st: Vec<&str> = o.authz.iter().map(|&a| self.authzs[a].status).collect();
        if o.cert.is_some() {
            "valid"
        } else if st.iter().any(|s| *s != "valid" && *s != "pending") {
            "invalid"
        } else if st.iter().all(|s| *s == "valid") {
            "ready"
        } else {
            "pending"
        }
    }
}

fn account_json(_sh: &Shared, st: &State, i: usize) -> Value {
    let a = &st.accounts[i];
    json!({"status": a.status, "contact": a.contact, "termsOfServiceAgreed": a.tos,
           "orders": format!("{}/orders", a.url), "key": a.jwk})
}

fn order_json(sh: &Shared, st: &State, i: usize) -> Value {
    let o = &st.orders[i];
    let status = st.order_status(o);
    let idents: Vec<Value> = o.rec.identifiers.iter().map(|n| json!({"type": "dns", "value": n})).collect();
    let mut v = json!({
        "status": status, "expires": rfc3339(o.expires), "identifiers": idents,
        "authorizations": o.authz.iter().map(|&a| sh.url("authz", a)).collect::<Vec<_>>(),
        "finalize": sh.url("finalize", i), "profile": o.rec.profile,
    });
    if let Some(r) = &o.rec.replaces {
        v["replaces"] = json!(r);
    }
    if let Some(c) = o.cert {
        v["certificate"] = json!(sh.url("cert", c));
    }
    if status == "invalid" {
        v["error"] = json!({"type": "urn:ietf:params:acme:error:unauthorized", "detail": "an authorization failed"});
    }
    v
}

fn authz_json(sh: &Shared, st: &State, i: usize) -> Value {
    let a = &st.authzs[i];
    let challs: Vec<Value> = (0..a.challs.len()).map(|j| chall_json(sh, st, i, j)).collect();
    let mut v = json!({"identifier": {"type": "dns", "value": a.ident}, "status": a.status,
                       "expires": rfc3339(a.expires), "challenges": challs});
    if a.wildcard {
        v["wildcard"] = json!(true);
    }
    v
}

fn chall_json(sh: &Shared, st: &State, i: usize, j: usize) -> Value {
    let (a, c) = (&st.authzs[i], &st.authzs[i].challs[j]);
    let mut v = json!({"type": c.typ, "url": format!("{}/{}", sh.url("chall", i), c.typ),
                       "token": a.token, "status": c.status});
    if let Some(t) = c.validated {
        v["validated"] = json!(rfc3339(t));
    }
    if let Some(e) = &c.error {
        v["error"] = e.clone();
    }
    v
}

fn post(sh: &Arc<Shared>, req: &Req, segs: &[&str]) -> R {
    let ctype = req.headers.iter().find(|h| h.0 == "content-type").map(|h| h.1.as_str()).unwrap_or("");
    if !ctype.starts_with("application/jose+json") {
        return Err(problem(415, "malformed", format!("Content-Type must be application/jose+json, not {ctype:?}")));
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|_| problem(400, "malformed", "body is not JSON"))?;
    let jws = Jws::parse(&body).map_err(|e| problem(400, "malformed", e))?;
    let url = format!("{}{}", sh.base, req.path);
    let mut st = sh.lock();
    let jwk_only = segs == ["new-acct"];
    let (key, acct) = st.authenticate(&jws, &url, jwk_only, jwk_only || segs == ["revoke"])?;
    let payload: Option<Value> = if jws.payload.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&jws.payload).map_err(|_| problem(400, "malformed", "payload is not JSON"))?)
    };
    if jwk_only {
        return new_account(sh, &mut st, &jws, key, payload);
    }
    if segs == ["revoke"] {
        return revoke(&mut st, key, acct, payload);
    }
    let acct = acct.expect("kid");
    let idx = |s: &str, n: usize| -> Result<usize, Resp> {
        s.parse::<usize>()
            .ok()
            .filter(|&i| i >= 1 && i <= n)
            .map(|i| i - 1)
            .ok_or_else(|| problem(404, "malformed", "no such resource"))
    };
    let own = |owner: usize| {
        if owner == acct {
            Ok(())
        } else {
            Err(problem(403, "unauthorized", "resource belongs to another account"))
        }
    };
    match segs {
        ["acct", n] => {
            let i = idx(n, st.accounts.len())?;
            own(i)?;
            if let Some(p) = payload {
                if let Some(c) = p.get("contact") {
                    st.accounts[i].contact = c.clone();
                }
                if p.get("status").and_then(Value::as_str) == Some("deactivated") {
                    st.accounts[i].status = "deactivated";
                }
            }
            Ok(Resp::json(200, &account_json(sh, &st, i)))
        }
        ["acct", n, "orders"] => {
            let i = idx(n, st.accounts.len())?;
            own(i)?;
            let urls: Vec<String> =
                (0..st.orders.len()).filter(|&o| st.orders[o].account == i).map(|o| sh.url("order", o)).collect();
            Ok(Resp::json(200, &json!({"orders": urls})))
        }
        ["new-order"] => new_order(sh, &mut st, acct, payload.unwrap_or(Value::Null)),
        ["order", n] => {
            let i = idx(n, st.orders.len())?;
            own(st.orders[i].account)?;
            Ok(Resp::json(200, &order_json(sh, &st, i)))
        }
        ["authz", n] => {
            let i = idx(n, st.authzs.len())?;
            own(st.authzs[i].account)?;
            if payload.and_then(|p| p.get("status").cloned()) == Some(json!("deactivated")) {
                st.authzs[i].status = "deactivated";
            }
            Ok(Resp::json(200, &authz_json(sh, &st, i)))
        }
        ["chall", n, typ] => {
            let i = idx(n, st.authzs.len())?;
            own(st.authzs[i].account)?;
            let j = st.authzs[i]
                .challs
                .iter()
                .position(|c| c.typ == *typ)
                .ok_or_else(|| problem(404, "malformed", "no such challenge"))?;
            if payload.is_some() && st.authzs[i].status == "pending" && st.authzs[i].challs[j].status == "pending" {
                start_validation(sh, &mut st, i, j);
            }
            Ok(Resp::json(200, &chall_json(sh, &st, i, j)).with("Link", format!("<{}>;rel=\"up\"", sh.url("authz", i))))
        }
        ["finalize", n] => {
            let i = idx(n, st.orders.len())?;
            own(st.orders[i].account)?;
            finalize(sh, &mut st, i, payload.unwrap_or(Value::Null))
        }
        ["cert", n] => {
            let i = idx(n, st.certs.len())?;
            own(st.certs[i].account)?;
            Ok(Resp::new(200, "application/pem-certificate-chain", st.certs[i].chain.clone().into_bytes()))
        }
        ["key-change"] => key_change(sh, &mut st, acct, &url, payload.unwrap_or(Value::Null)),
        _ => Err(problem(404, "malformed", format!("no resource at {}", req.path))),
    }
}

fn new_account(sh: &Shared, st: &mut State, jws: &Jws, key: PubKey, payload: Option<Value>) -> R {
    let p =
        payload.filter(Value::is_object).ok_or_else(|| problem(400, "malformed", "newAccount needs a JSON object"))?;
    let jwk = jws.header["jwk"].clone();
    let thumb = thumbprint(&jwk).map_err(|e| problem(400, "badPublicKey", e))?;
    if let Some(i) = st.accounts.iter().position(|a| a.thumb == thumb) {
        return Ok(Resp::json(200, &account_json(sh, st, i)).with("Location", st.accounts[i].url.clone()));
    }
    if p.get("onlyReturnExisting") == Some(&json!(true)) {
        return Err(problem(400, "accountDoesNotExist", "no account for this key"));
    }
    let contact = p.get("contact").cloned().unwrap_or(json!([]));
    let ok = contact
        .as_array()
        .is_some_and(|c| c.iter().all(|m| m.as_str().is_some_and(|m| m.starts_with("mailto:") && m.contains('@'))));
    if !ok {
        return Err(problem(400, "invalidContact", format!("contact must be mailto: URLs, not {contact}")));
    }
    let i = st.accounts.len();
    let tos = p.get("termsOfServiceAgreed") == Some(&json!(true));
    st.accounts.push(Account { url: sh.url("acct", i), key, jwk, thumb, contact, tos, status: "valid" });
    Ok(Resp::json(201, &account_json(sh, st, i)).with("Location", sh.url("acct", i)))
}

fn valid_dns(name: &str) -> bool {
    let n = name.strip_prefix("*.").unwrap_or(name);
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn new_order(sh: &Shared, st: &mut State, acct: usize, p: Value) -> R {
    if let Some((detail, retry_after)) = &st.order_problem {
        return Err(problem(429, "rateLimited", detail.clone()).with("Retry-After", retry_after.clone()));
    }
    let list = p.get("identifiers").and_then(Value::as_array).filter(|l| !l.is_empty());
    let list = list.ok_or_else(|| problem(400, "malformed", "newOrder needs a non-empty identifiers array"))?;
    let mut names = Vec::new();
    for id in list {
        if id.get("type").and_then(Value::as_str) != Some("dns") {
            return Err(problem(400, "unsupportedIdentifier", format!("only dns identifiers are supported, not {id}")));
        }
        let v = id.get("value").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        if !valid_dns(&v) {
            return Err(problem(400, "rejectedIdentifier", format!("{v:?} is not a valid DNS name")));
        }
        names.push(v);
    }
    names.sort();
    names.dedup();
    let requested = match p.get("profile") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(problem(400, "malformed", format!("profile must be a string, not {other}"))),
    };
    let profile = requested.clone().unwrap_or_else(|| sh.opts.default_profile.clone());
    if !sh.opts.profiles.iter().any(|x| x.0 == profile) {
        return Err(problem(400, "invalidProfile", format!("profile {profile:?} is not offered by this server")));
    }
    let replaces = match p.get("replaces") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let r = v.as_str().ok_or_else(|| problem(400, "malformed", "replaces must be a string"))?;
            let c = st.certs.iter().find(|c| c.info.cert_id == r);
            let c = c.ok_or_else(|| {
                problem(400, "malformed", format!("replaces {r:?}: no such certificate was issued here"))
            })?;
            if c.account != acct {
                return Err(problem(400, "malformed", "replaces: that certificate was issued to another account"));
            }
            if !c.info.names.iter().any(|n| names.contains(n)) {
                return Err(problem(
                    400,
                    "malformed",
                    "replaces: that certificate shares no identifier with this order",
                ));
            }
            let elsewhere = sh.opts.replaced_elsewhere;
            if elsewhere
                || st.orders.iter().any(|o| o.rec.replaces.as_deref() == Some(r) && st.order_status(o) != "invalid")
            {
                return Err(problem(409, "alreadyReplaced", format!("{r} is already replaced by another order")));
            }
            Some(r.to_string())
        }
    };
    let t = now();
    let mut authz = Vec::new();
    for n in &names {
        let wildcard = n.starts_with("*.");
        let ident = n.trim_start_matches("*.").to_string();
        let auto = sh.opts.auto_valid;
        let status = if auto { "valid" } else { "pending" };
        let typs: &[&'static str] = if wildcard { &["dns-01"] } else { &["http-01", "dns-01"] };
        let challs = typs
            .iter()
            .enumerate()
            .map(|(k, typ)| Chall {
                typ,
                status: if auto && k == 0 { "valid" } else { "pending" },
                validated: (auto && k == 0).then_some(t),
                error: None,
            })
            .collect();
        authz.push(st.authzs.len());
        let token = b64(&random_bytes(32));
        st.authzs.push(Authz { account: acct, ident, wildcard, status, token, expires: t + 7 * 86400, challs });
    }
    let i = st.orders.len();
    let rec = OrderRecord {
        url: sh.url("order", i),
        account_url: st.accounts[acct].url.clone(),
        identifiers: names,
        requested_profile: requested,
        profile,
        replaces,
        serial_hex: None,
    };
    st.orders.push(Order { rec, account: acct, authz, expires: t + 7 * 86400, cert: None });
    Ok(Resp::json(201, &order_json(sh, st, i)).with("Location", sh.url("order", i)))
}

fn start_validation(sh: &Arc<Shared>, st: &mut State, i: usize, j: usize) {
    let a = &mut st.authzs[i];
    if a.challs[j].typ != "http-01" {
        a.challs[j].status = "invalid";
        a.challs[j].error = Some(json!({"type": "urn:ietf:params:acme:error:unauthorized",
                                        "detail": "the test CA only validates http-01"}));
        a.status = "invalid";
        return;
    }
    a.challs[j].status = "processing";
    let (host, token) = (a.ident.clone(), a.token.clone());
    let keyauth = format!("{token}.{}", st.accounts[a.account].thumb);
    let port = sh.opts.http_port.unwrap_or(80);
    let sh = sh.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(sh.opts.validation_delay_secs));
        let result = fetch_http01(port, &host, &token).and_then(|(status, body)| match status {
            200 if body.trim_end() == keyauth => Ok(()),
            200 => Err(("unauthorized", format!("key authorization mismatch: {body:?}, expected {keyauth:?}"))),
            s => Err(("unauthorized", format!("http-01 fetch returned HTTP {s}"))),
        });
        let mut st = sh.lock();
        let a = &mut st.authzs[i];
        match result {
            Ok(()) => {
                (a.challs[j].status, a.challs[j].validated, a.status) = ("valid", Some(now()), "valid");
            }
            Err((typ, detail)) => {
                a.challs[j].status = "invalid";
                a.challs[j].error =
                    Some(json!({"type": format!("urn:ietf:params:acme:error:{typ}"), "detail": detail, "status": 403}));
                a.status = "invalid";
            }
        }
    });
}

fn fetch_http01(port: u16, host: &str, token: &str) -> Result<(u16, String), (&'static str, String)> {
    let conn_err = |e: io::Error| ("connection", format!("http-01 to 127.0.0.1:{port}: {e}"));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(conn_err)?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(conn_err)?;
    let req = format!("GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: acmebot-testca\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(conn_err)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(conn_err)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or(("connection", "malformed HTTP response".to_string()))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

fn finalize(sh: &Shared, st: &mut State, i: usize, p: Value) -> R {
    let status = st.order_status(&st.orders[i]);
    if status != "ready" {
        return Err(problem(403, "orderNotReady", format!("order is {status}, not ready")));
    }
    let der = p.get("csr").and_then(Value::as_str).and_then(unb64);
    let der = der.ok_or_else(|| problem(400, "malformed", "finalize needs a base64url csr"))?;
    let csr = parse_csr(&der).map_err(|e| problem(400, "badCSR", e))?;
    let want = &st.orders[i].rec.identifiers;
    if &csr.names != want {
        return Err(problem(400, "badCSR", format!("CSR names {:?} are not the order's {want:?}", csr.names)));
    }
    let profile = st.orders[i].rec.profile.clone();
    let lifetime = sh.opts.profiles.iter().find(|x| x.0 == profile).map(|x| x.2).unwrap_or(90 * 86400) as i64;
    let mut serial = random_bytes(16);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let (nb, na) = (now(), now() + lifetime);
    let leaf = sh.pki.issue(&csr.key, want, nb, na, &serial).map_err(|e| problem(500, "serverInternal", e))?;
    let cert_id = ari_cert_id(&leaf).ok_or_else(|| problem(500, "serverInternal", "issued cert lacks an AKI"))?;
    let c = st.certs.len();
    let info = IssuedCert {
        serial_hex: hex(&serial),
        cert_id,
        names: want.clone(),
        profile,
        not_before: nb,
        not_after: na,
        pem: pem(&leaf),
        order_url: sh.url("order", i),
        account_url: st.orders[i].rec.account_url.clone(),
    };
    let chain = format!("{}{}", info.pem, sh.pki.inter_pem);
    st.orders[i].rec.serial_hex = Some(info.serial_hex.clone());
    st.certs.push(Cert { info, der: leaf, chain, account: st.orders[i].account, key: csr.key.bits, revoked: false });
    st.orders[i].cert = Some(c);
    Ok(Resp::json(200, &order_json(sh, st, i)).with("Location", sh.url("order", i)))
}

fn revoke(st: &mut State, key: PubKey, acct: Option<usize>, p: Option<Value>) -> R {
    let p = p.unwrap_or(Value::Null);
    let der = p.get("certificate").and_then(Value::as_str).and_then(unb64);
    let der = der.ok_or_else(|| problem(400, "malformed", "revokeCert needs a base64url certificate"))?;
    let c = st
        .certs
        .iter()
        .position(|c| c.der == der)
        .ok_or_else(|| problem(404, "malformed", "certificate not issued here"))?;
    let authorized = match acct {
        Some(a) => st.certs[c].account == a,
        None => key.bytes() == st.certs[c].key.as_slice(),
    };
    if !authorized {
        return Err(problem(403, "unauthorized", "neither the issuing account nor the certificate's key"));
    }
    let reason = p.get("reason").map(|r| r.as_u64().unwrap_or(99)).unwrap_or(0);
    if reason > 10 || reason == 7 {
        return Err(problem(400, "badRevocationReason", format!("reason {reason} is not allowed")));
    }
    if st.certs[c].revoked {
        return Err(problem(400, "alreadyRevoked", "certificate is already revoked"));
    }
    st.certs[c].revoked = true;
    let serial_hex = st.certs[c].info.serial_hex.clone();
    st.revocations.push(Revocation { serial_hex, reason: reason as u8 });
    Ok(Resp::new(200, "", vec![]))
}

/// RFC 8555 §7.3.5: the payload is a JWS signed by the new key.
fn key_change(sh: &Shared, st: &mut State, acct: usize, url: &str, p: Value) -> R {
    let inner = Jws::parse(&p).map_err(|e| problem(400, "malformed", format!("inner JWS: {e}")))?;
    let jwk = inner.header.get("jwk").cloned().ok_or_else(|| problem(400, "malformed", "inner JWS needs a jwk"))?;
    if inner.h("url") != Some(url) || inner.header.get("nonce").is_some() || inner.header.get("kid").is_some() {
        return Err(problem(400, "malformed", "inner JWS must carry the same url, and no nonce or kid"));
    }
    let key = PubKey::from_jwk(&jwk).map_err(|e| problem(400, "badPublicKey", e))?;
    if inner.h("alg") != Some(key.alg()) || !key.verify(&inner.signing_input, &inner.signature) {
        return Err(problem(400, "malformed", "inner JWS signature is invalid"));
    }
    let ip: Value = serde_json::from_slice(&inner.payload).map_err(|_| problem(400, "malformed", "inner payload"))?;
    let old = ip.get("oldKey").map(thumbprint);
    if ip.get("account").and_then(Value::as_str) != Some(&st.accounts[acct].url)
        || old != Some(Ok(st.accounts[acct].thumb.clone()))
    {
        return Err(problem(400, "malformed", "inner payload account/oldKey do not match"));
    }
    let thumb = thumbprint(&jwk).map_err(|e| problem(400, "badPublicKey", e))?;
    if let Some(other) = st.accounts.iter().find(|a| a.thumb == thumb) {
        return Err(problem(409, "malformed", "new key is already in use").with("Location", other.url.clone()));
    }
    let a = &mut st.accounts[acct];
    (a.key, a.jwk, a.thumb) = (key, jwk, thumb);
    Ok(Resp::json(200, &account_json(sh, st, acct)))
}

/// RFC 9773 §4: GET <renewalInfo>/<certID>.
fn renewal_info(sh: &Shared, id: &str) -> R {
    let mut st = sh.lock();
    st.ari_ids.push(id.to_string());
    let ok = id
        .split_once('.')
        .is_some_and(|(a, b)| unb64(a).is_some_and(|v| !v.is_empty()) && unb64(b).is_some_and(|v| !v.is_empty()));
    if !ok {
        return Err(problem(400, "malformed", format!("{id:?} is not base64url(AKI).base64url(serial)")));
    }
    let c = st
        .certs
        .iter()
        .find(|c| c.info.cert_id == id)
        .ok_or_else(|| problem(404, "malformed", "unknown certificate"))?;
    let (nb, na) = (c.info.not_before, c.info.not_after);
    let (start, end) = match st.windows.get(&c.info.serial_hex) {
        Some(w) => *w,
        None if c.revoked => (now() - 7200, now() - 3600),
        // As Let's Encrypt: a window inside the lifetime, ending well before
        // expiry (from 2/3 to 5/6 of it).
        None => (nb + (na - nb) * 2 / 3, nb + (na - nb) * 5 / 6),
    };
    let v = json!({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)},
                   "explanationURL": format!("{}/docs/ari", sh.base)});
    Ok(Resp::json(200, &v).with("Retry-After", sh.opts.ari_retry_after_secs.to_string()))
}
