//! The ACME v2 client (RFC 8555): nonces, signed requests, retries and polling.
//! Everything it sends goes through [`Transport`]; every wait through the run's [`Clock`](crate::time::Clock),
//! so tests and later issues (ACME v1, ARI) reuse the same flow.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::types::*;
use crate::crypto::{self, PrivateKey};
use crate::http::{HttpError, Response, Transport};
use crate::time::{Clock, Timestamp};

#[derive(Debug)]
pub enum AcmeError {
    Http(HttpError),
    /// The server answered with a problem document.
    Problem {
        server: String,
        method: &'static str,
        url: String,
        problem: Box<Problem>,
        retry_after: Option<String>,
    },
    /// The server answered something RFC 8555 does not allow.
    Protocol {
        server: String,
        url: String,
        detail: String,
    },
    /// A signal asked the run to stop while it waited.
    Stopped {
        server: String,
        url: String,
    },
    /// A resource did not reach the wanted state in time.
    Timeout {
        server: String,
        url: String,
        what: String,
        waited_secs: u64,
    },
}

impl std::fmt::Display for AcmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs, header values and details come from the server: escaped and cut.
        use crate::text::{printable, DETAIL, SHORT};
        let short = |s: &str| printable(s, SHORT);
        match self {
            AcmeError::Http(e) => write!(f, "{e}"),
            AcmeError::Problem { server, method, url, problem, retry_after } => {
                write!(f, "ACME server {}: {method} {}: {problem}", short(server), short(url))?;
                if let Some(when) = retry_after {
                    write!(f, "\n    retry after {}", printable(when, 64))?;
                }
                Ok(())
            }
            AcmeError::Protocol { server, url, detail } => {
                write!(f, "ACME server {}: {}: {}", short(server), short(url), printable(detail, DETAIL))
            }
            AcmeError::Stopped { server, url } => {
                write!(f, "ACME server {}: {}: stopped by a signal while waiting", short(server), short(url))
            }
            AcmeError::Timeout { server, url, what, waited_secs } => {
                write!(
                    f,
                    "ACME server {}: {}: {} (gave up after {waited_secs} s)",
                    short(server),
                    short(url),
                    short(what)
                )
            }
        }
    }
}

impl std::error::Error for AcmeError {}

impl From<HttpError> for AcmeError {
    fn from(e: HttpError) -> Self {
        AcmeError::Http(e)
    }
}

/// How many times a request is re-sent after `badNonce` (RFC 8555 §6.5).
const BAD_NONCE_RETRIES: usize = 25;
/// The first wait before polling an authorization or order again; it doubles
/// after each poll. Short: a nearby CA validates in tens of milliseconds, and a
/// far one answers with Retry-After, which is honoured instead.
const FIRST_POLL: Duration = Duration::from_millis(50);

/// The next polling delay: half again as long, at most `max`. Gentler than
/// doubling, so a validation that takes a second is seen soon after it ends.
pub fn next_poll(delay: Duration, max: Duration) -> Duration {
    (delay * 3 / 2).min(max.max(FIRST_POLL))
}
/// Longest `Retry-After` honoured inside one request before giving up.
const MAX_RETRY_AFTER: u64 = 120;

pub struct AcmeClient<'a> {
    pub(super) transport: &'a dyn Transport,
    pub(super) clock: &'a dyn Clock,
    pub directory_url: String,
    /// The v2 directory; for a v1 server, its resources mapped onto it
    /// (`new-reg` as newAccount, `new-authz` as newOrder, the directory URL as newNonce).
    pub directory: Directory,
    pub(super) key: &'a PrivateKey,
    pub(super) kid: Mutex<Option<String>>,
    pub(super) nonces: Mutex<Vec<String>>,
    /// The ACME v1 state when the server speaks v1 (draft-ietf-acme-acme-02).
    pub(super) v1: Option<super::v1::V1>,
}

/// The protocol a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcmeVersion {
    /// draft-ietf-acme-acme-02 as Boulder deployed it.
    V1,
    /// RFC 8555.
    V2,
}

/// The versions a directory document offers: (v1, v2), from its keys
/// (`new-reg`/`new-authz`/`new-cert`; `newAccount`/`newOrder`).
pub fn versions_offered(directory: &Value) -> (bool, bool) {
    let has = |k: &str| directory.get(k).and_then(Value::as_str).is_some();
    (has("new-reg") && has("new-authz") && has("new-cert"), has("newAccount") && has("newOrder"))
}

impl<'a> AcmeClient<'a> {
    /// Fetches the directory (RFC 8555 §7.1.1) and speaks the version it
    /// offers (v2 when it offers both). The run connects through
    /// `app::account`, which also honours `settings.acme_version`.
    #[cfg(test)]
    pub fn connect(
        transport: &'a dyn Transport,
        clock: &'a dyn Clock,
        directory_url: &str,
        key: &'a PrivateKey,
    ) -> Result<AcmeClient<'a>, AcmeError> {
        let (document, response) = Self::fetch_directory(transport, directory_url)?;
        let version = match versions_offered(&document) {
            (_, true) => AcmeVersion::V2,
            (true, false) => AcmeVersion::V1,
            (false, false) => AcmeVersion::V2, // reported as not a v2 directory below
        };
        Self::with_directory(transport, clock, directory_url, &document, &response, key, version)
    }

    /// GETs the directory document.
    pub fn fetch_directory(transport: &dyn Transport, directory_url: &str) -> Result<(Value, Response), AcmeError> {
        let response = transport.request("GET", directory_url, &[], None)?;
        let server = directory_url.to_string();
        if response.status != 200 {
            return Err(problem_or_protocol(&server, "GET", directory_url, &response));
        }
        let document: Value = serde_json::from_slice(&response.body).map_err(|e| AcmeError::Protocol {
            server: server.clone(),
            url: directory_url.into(),
            detail: format!("not an ACME directory: {e}"),
        })?;
        Ok((document, response))
    }

    /// A client for a fetched directory document, speaking `version`.
    pub fn with_directory(
        transport: &'a dyn Transport,
        clock: &'a dyn Clock,
        directory_url: &str,
        document: &Value,
        response: &Response,
        key: &'a PrivateKey,
        version: AcmeVersion,
    ) -> Result<AcmeClient<'a>, AcmeError> {
        let server = directory_url.to_string();
        let (directory, v1) = match version {
            AcmeVersion::V2 => {
                let directory: Directory =
                    serde_json::from_value(document.clone()).map_err(|e| AcmeError::Protocol {
                        server: server.clone(),
                        url: directory_url.into(),
                        detail: format!("not an ACME v2 directory: {e}"),
                    })?;
                (directory, None)
            }
            AcmeVersion::V1 => {
                let (directory, v1) = super::v1::V1::from_directory(directory_url, document).map_err(|detail| {
                    AcmeError::Protocol { server: server.clone(), url: directory_url.into(), detail }
                })?;
                (directory, Some(v1))
            }
        };
        let client = AcmeClient {
            transport,
            clock,
            directory_url: server,
            directory,
            key,
            kid: Mutex::new(None),
            nonces: Mutex::new(Vec::new()),
            v1,
        };
        if client.v1.is_some() {
            // v1 has no newNonce: every response's Replay-Nonce is one.
            client.keep_nonce(response);
        }
        Ok(client)
    }

    /// The protocol version this client speaks.
    pub fn version(&self) -> AcmeVersion {
        if self.v1.is_some() {
            AcmeVersion::V1
        } else {
            AcmeVersion::V2
        }
    }

    pub fn set_account_url(&self, url: &str) {
        *self.kid.lock().unwrap() = Some(url.to_string());
    }

    pub fn account_url(&self) -> Option<String> {
        self.kid.lock().unwrap().clone()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    /// The account key requests are signed with.
    pub fn key(&self) -> &PrivateKey {
        self.key
    }

    pub(super) fn protocol(&self, url: &str, detail: impl Into<String>) -> AcmeError {
        AcmeError::Protocol { server: self.directory_url.clone(), url: url.into(), detail: detail.into() }
    }

    pub(super) fn nonce(&self) -> Result<String, AcmeError> {
        if let Some(n) = self.nonces.lock().unwrap().pop() {
            return Ok(n);
        }
        let url = &self.directory.new_nonce;
        let response = self.transport.request("HEAD", url, &[], None)?;
        match response.header("Replay-Nonce") {
            Some(n) if response.status < 300 => Ok(n.to_string()),
            _ => Err(self.protocol(url, format!("newNonce answered HTTP {} without a Replay-Nonce", response.status))),
        }
    }

    pub(super) fn keep_nonce(&self, response: &Response) {
        if let Some(n) = response.header("Replay-Nonce") {
            let mut pool = self.nonces.lock().unwrap();
            pool.push(n.to_string());
            if pool.len() > 8 {
                pool.remove(0);
            }
        }
    }

    /// A signed POST (RFC 8555 §6.2). `payload: None` is POST-as-GET. Uses the
    /// account URL as `kid` once known, else the JWK (newAccount, revocation by key).
    pub fn post(&self, url: &str, payload: Option<&Value>) -> Result<Response, AcmeError> {
        let body = payload.map(|p| serde_json::to_vec(p).expect("JSON value serializes"));
        self.post_bytes(url, body.as_deref(), "application/json")
    }

    fn post_bytes(&self, url: &str, payload: Option<&[u8]>, accept: &str) -> Result<Response, AcmeError> {
        let sign = |nonce: &str| {
            let kid = self.kid.lock().unwrap().clone();
            crypto::jws(self.key, kid.as_deref(), nonce, url, payload)
        };
        self.post_signed(url, accept, &|status| status < 400, &sign)
    }

    /// Sends a JWS made by `sign` for each fresh nonce, retrying badNonce and
    /// 503 (with Retry-After); a status `ok` accepts is returned, any other is
    /// the server's problem.
    pub(super) fn post_signed(
        &self,
        url: &str,
        accept: &str,
        ok: &dyn Fn(u16) -> bool,
        sign: &dyn Fn(&str) -> Result<Value, crypto::CryptoError>,
    ) -> Result<Response, AcmeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let nonce = self.nonce()?;
            let jws = sign(&nonce).map_err(|e| self.protocol(url, format!("signing the request: {e}")))?;
            let body = serde_json::to_vec(&jws).expect("JWS serializes");
            let response = self.transport.request(
                "POST",
                url,
                &[("Content-Type", "application/jose+json"), ("Accept", accept)],
                Some(&body),
            )?;
            self.keep_nonce(&response);
            if ok(response.status) {
                return Ok(response);
            }
            let problem = parse_problem(&response);
            let short = problem.as_ref().map(|p| p.short_type().to_string()).unwrap_or_default();
            if short == "badNonce" && attempt <= BAD_NONCE_RETRIES {
                tracing::debug!("badNonce from {url}; retrying with the fresh nonce (attempt {attempt})");
                continue;
            }
            if response.status == 503 && attempt <= 3 && short != "rateLimited" {
                if let Some(wait) = retry_after_secs(&response, self.clock.now().secs()) {
                    if wait <= MAX_RETRY_AFTER {
                        tracing::debug!("{url} answered 503; retrying after {wait} s");
                        self.clock.sleep(Duration::from_secs(wait.max(1)));
                        continue;
                    }
                }
            }
            return Err(problem_or_protocol(&self.directory_url, "POST", url, &response));
        }
    }

    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<(T, Response), AcmeError> {
        let response = self.post(url, payload)?;
        let value = serde_json::from_slice(&response.body)
            .map_err(|e| self.protocol(url, format!("unexpected response body: {e}")))?;
        Ok((value, response))
    }

    /// newAccount (RFC 8555 §7.3), optionally with External Account Binding (§7.3.4).
    /// Returns the account URL and the account object.
    /// `eab` is (key id, base64url MAC key, "HS256" | "HS384" | "HS512").
    pub fn new_account(
        &self,
        contact: &[String],
        tos_agreed: bool,
        eab: Option<(&str, &str, &str)>,
    ) -> Result<(String, Value), AcmeError> {
        if self.v1.is_some() {
            if eab.is_some() {
                let detail = "External Account Binding does not exist in ACME v1: this directory is a v1 one; \
                              remove account.eab_kid and account.eab_hmac_key, or use the CA's v2 directory";
                return Err(self.protocol(&self.directory_url, detail));
            }
            return self.v1_new_account(contact, tos_agreed);
        }
        let url = self.directory.new_account.clone();
        let mut payload = json!({ "contact": contact, "termsOfServiceAgreed": tos_agreed });
        if let Some((kid, hmac_key, alg)) = eab {
            let binding = crypto::jws_hmac_eab(&self.key.public_jwk(), kid, hmac_key, alg, &url)
                .map_err(|e| self.protocol(&url, format!("external account binding: {e}")))?;
            payload["externalAccountBinding"] = binding;
        }
        *self.kid.lock().unwrap() = None;
        let (account, response): (Value, Response) = self.post_json(&url, Some(&payload))?;
        let location = response
            .header("Location")
            .ok_or_else(|| self.protocol(&url, "newAccount answered without a Location header"))?
            .to_string();
        self.set_account_url(&location);
        Ok((location, account))
    }

    /// newOrder (RFC 8555 §7.4). Returns the order URL and the order.
    /// `profile` is a certificate profile the directory offers
    /// (draft-aaron-acme-profiles); `replaces` the ARI certificate ID of the
    /// certificate this order renews (RFC 9773 §5).
    pub fn new_order(
        &self,
        names: &[String],
        profile: Option<&str>,
        replaces: Option<&str>,
    ) -> Result<(String, Order), AcmeError> {
        if self.v1.is_some() {
            return self.v1_new_order(names, profile, replaces);
        }
        let url = self.directory.new_order.clone();
        let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::for_name(n)).collect();
        let mut payload = json!({ "identifiers": identifiers });
        if let Some(p) = profile {
            payload["profile"] = json!(p);
        }
        if let Some(r) = replaces {
            payload["replaces"] = json!(r);
        }
        let (order, response): (Order, Response) = self.post_json(&url, Some(&payload))?;
        let location = response
            .header("Location")
            .ok_or_else(|| self.protocol(&url, "newOrder answered without a Location header"))?
            .to_string();
        Ok((location, order))
    }

    /// GET renewalInfo (RFC 9773 §4.2) for a certificate identifier. Returns
    /// the window and the server's Retry-After in seconds, if any.
    pub fn renewal_info(&self, cert_id: &str) -> Result<Option<(RenewalInfo, Option<u64>)>, AcmeError> {
        if self.v1.is_some() {
            return Ok(None);
        }
        let Some(base) = self.directory.renewal_info.as_deref() else { return Ok(None) };
        let url = format!("{}/{cert_id}", base.trim_end_matches('/'));
        let response = self.transport.request("GET", &url, &[], None)?;
        if response.status != 200 {
            return Err(problem_or_protocol(&self.directory_url, "GET", &url, &response));
        }
        let info: RenewalInfo = serde_json::from_slice(&response.body)
            .map_err(|e| self.protocol(&url, format!("not a RenewalInfo object: {e}")))?;
        Ok(Some((info, retry_after_secs(&response, self.clock.now().secs()))))
    }

    /// keyChange (RFC 8555 §7.3.5): the account is moved to `new_key`. The
    /// caller must sign later requests with the new key (a new client).
    pub fn key_change(&self, new_key: &PrivateKey) -> Result<(), AcmeError> {
        if self.v1.is_some() {
            return self.v1_key_change(new_key);
        }
        let url = self.directory.key_change.clone();
        let account = self.account_url().ok_or_else(|| self.protocol(&url, "key change needs a registered account"))?;
        let inner = crypto::jws_key_change(new_key, self.key, &account, &url)
            .map_err(|e| self.protocol(&url, format!("signing the key change: {e}")))?;
        self.post(&url, Some(&inner))?;
        Ok(())
    }

    /// revokeCert (RFC 8555 §7.6), signed with the account key. `reason` is an
    /// RFC 5280 CRLReason code.
    pub fn revoke(&self, cert_der: &[u8], reason: u8) -> Result<(), AcmeError> {
        if self.v1.is_some() {
            return self.v1_revoke(cert_der, reason);
        }
        let url = self.directory.revoke_cert.clone();
        self.post(&url, Some(&json!({ "certificate": crypto::b64url(cert_der), "reason": reason })))?;
        Ok(())
    }

    pub fn authorization(&self, url: &str) -> Result<Authorization, AcmeError> {
        if self.v1.is_some() {
            return Ok(self.v1_authorization(url)?.0);
        }
        Ok(self.post_json(url, None)?.0)
    }

    pub fn order(&self, url: &str) -> Result<(Order, Response), AcmeError> {
        if self.v1.is_some() {
            return self.v1_order(url);
        }
        self.post_json(url, None)
    }

    /// Tells the server a challenge is ready to be validated (RFC 8555 §7.5.1;
    /// in v1 with its type and key authorization).
    pub fn respond(&self, challenge: &Challenge) -> Result<(), AcmeError> {
        if self.v1.is_some() {
            return self.v1_respond(challenge);
        }
        self.post_json::<Value>(&challenge.url, Some(&json!({})))?;
        Ok(())
    }

    /// Polls an authorization until it is no longer pending: first after
    /// [`FIRST_POLL`], then with the delay growing by half up to `max_delay`, honouring
    /// `Retry-After`, for at most `budget` (the original's
    /// max_authorization_attempts × authorization_delay).
    pub fn wait_authorization(
        &self,
        url: &str,
        budget: Duration,
        max_delay: Duration,
    ) -> Result<Authorization, AcmeError> {
        let start = self.clock.now();
        // The time of the requests counts too: a server answering each poll
        // slowly does not stretch the budget.
        let elapsed = || Duration::from_micros((self.clock.now().micros() - start.micros()).max(0) as u64);
        let mut delay = FIRST_POLL.min(max_delay);
        loop {
            let (authz, response) = if self.v1.is_some() {
                self.v1_authorization(url)?
            } else {
                let response = self.post(url, None)?;
                let authz: Authorization = serde_json::from_slice(&response.body)
                    .map_err(|e| self.protocol(url, format!("unexpected authorization: {e}")))?;
                (authz, response)
            };
            if authz.status != Status::Pending {
                return Ok(authz);
            }
            let waited = elapsed();
            if waited >= budget {
                break;
            }
            let pause =
                self.poll_delay(&response, delay).min(budget.saturating_sub(waited).max(Duration::from_millis(50)));
            self.clock.sleep(pause);
            self.stop_check(url)?;
            delay = next_poll(delay, max_delay);
        }
        Err(AcmeError::Timeout {
            server: self.directory_url.clone(),
            url: url.into(),
            what: "authorization is still pending".into(),
            waited_secs: elapsed().as_secs(),
        })
    }

    /// Err when a signal asked the run to stop.
    fn stop_check(&self, url: &str) -> Result<(), AcmeError> {
        match crate::platform::stop_requested() {
            Some(_) => Err(AcmeError::Stopped { server: self.directory_url.clone(), url: url.into() }),
            None => Ok(()),
        }
    }

    fn poll_delay(&self, response: &Response, delay: Duration) -> Duration {
        match retry_after_secs(response, self.clock.now().secs()) {
            Some(s) => Duration::from_secs(s.min(MAX_RETRY_AFTER)).max(delay.min(Duration::from_secs(1))),
            None => delay,
        }
    }

    /// Finalizes an order with a CSR and polls it until it is valid (RFC 8555 §7.4),
    /// for at most `poll_secs` seconds.
    pub fn finalize(&self, order_url: &str, order: &Order, csr_der: &[u8], poll_secs: u64) -> Result<Order, AcmeError> {
        if self.v1.is_some() {
            return self.v1_finalize(order_url, order, csr_der);
        }
        let (order, response): (Order, Response) =
            self.post_json(&order.finalize, Some(&json!({ "csr": crypto::b64url(csr_der) })))?;
        self.poll_order(order_url, order, response, poll_secs)
    }

    /// Polls an order that is already being processed until it is valid.
    pub fn finalize_poll(&self, order_url: &str, poll_secs: u64) -> Result<Order, AcmeError> {
        if self.v1.is_some() {
            return Ok(self.v1_order(order_url)?.0);
        }
        let (order, response) = self.order(order_url)?;
        self.poll_order(order_url, order, response, poll_secs)
    }

    fn poll_order(
        &self,
        order_url: &str,
        mut order: Order,
        mut response: Response,
        poll_secs: u64,
    ) -> Result<Order, AcmeError> {
        let start = self.clock.now().secs();
        let mut delay = FIRST_POLL;
        loop {
            match order.status {
                Status::Valid => return Ok(order),
                Status::Invalid => {
                    let problem = Box::new(order.error.clone().unwrap_or_default());
                    return Err(AcmeError::Problem {
                        server: self.directory_url.clone(),
                        method: "POST",
                        url: order_url.into(),
                        problem,
                        retry_after: None,
                    });
                }
                Status::Processing | Status::Ready | Status::Pending => {}
                _ => return Err(self.protocol(order_url, format!("order has unexpected status {:?}", order.status))),
            }
            let waited = (self.clock.now().secs() - start).max(0) as u64;
            if waited >= poll_secs {
                return Err(AcmeError::Timeout {
                    server: self.directory_url.clone(),
                    url: order_url.into(),
                    what: format!("order is still {:?}", order.status).to_lowercase(),
                    waited_secs: waited,
                });
            }
            self.clock.sleep(self.poll_delay(&response, delay));
            self.stop_check(order_url)?;
            delay = next_poll(delay, Duration::from_secs(5));
            (order, response) = self.order(order_url)?;
        }
    }

    /// Downloads the certificate chain (RFC 8555 §7.4.2). Returns the PEM and the
    /// URLs of alternate chains (`Link: rel="alternate"`).
    pub fn download(&self, cert_url: &str) -> Result<(Vec<u8>, Vec<String>), AcmeError> {
        if self.v1.is_some() {
            return self.v1_download(cert_url);
        }
        let response = self.post_bytes(cert_url, None, "application/pem-certificate-chain")?;
        let alternates = links(&response, "alternate");
        Ok((response.body, alternates))
    }
}

/// `Link: <url>;rel="name"` values of one relation.
pub fn links(response: &Response, rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in response.headers_named("Link") {
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next().unwrap_or("").trim();
            let is_rel = pieces.any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=").map(|r| r.trim_matches('"') == rel).unwrap_or(false)
            });
            if is_rel && target.starts_with('<') && target.ends_with('>') {
                out.push(target[1..target.len() - 1].to_string());
            }
        }
    }
    out
}

pub(super) fn parse_problem(response: &Response) -> Option<Problem> {
    serde_json::from_slice::<Problem>(&response.body).ok().filter(|p| !p.kind.is_empty() || p.detail.is_some())
}

pub(super) fn problem_or_protocol(server: &str, method: &'static str, url: &str, response: &Response) -> AcmeError {
    match parse_problem(response) {
        Some(mut problem) => {
            problem.status.get_or_insert(response.status);
            AcmeError::Problem {
                server: server.into(),
                method,
                url: url.into(),
                problem: Box::new(problem),
                retry_after: response.header("Retry-After").map(str::to_string),
            }
        }
        None => AcmeError::Protocol {
            server: server.into(),
            url: url.into(),
            detail: format!(
                "HTTP {} without a problem document: {}",
                response.status,
                String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
            ),
        },
    }
}

/// `Retry-After` as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after_secs(response: &Response, now: Timestamp) -> Option<u64> {
    let value = response.header("Retry-After")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    parse_http_date(value).map(|t| (t - now).max(0) as u64)
}

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == parts[2])? + 1;
    let day: u32 = parts[1].parse().ok()?;
    let year: i64 = parts[3].parse().ok()?;
    crate::time::parse_rfc3339(&format!("{year:04}-{month:02}-{day:02}T{}Z", parts[4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: vec![],
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = crate::time::parse_rfc3339("2015-10-21T07:28:00Z").unwrap();
        assert_eq!(retry_after_secs(&response(&[("Retry-After", "120")]), now), Some(120));
        assert_eq!(retry_after_secs(&response(&[("retry-after", "Wed, 21 Oct 2015 07:30:00 GMT")]), now), Some(120));
        assert_eq!(retry_after_secs(&response(&[]), now), None);
    }

    #[test]
    fn link_relations() {
        let r = response(&[
            ("Link", "<https://ca/dir>;rel=\"index\""),
            ("Link", "<https://ca/cert/1/1>;rel=\"alternate\", <https://ca/cert/1/2>; rel=\"alternate\""),
        ]);
        assert_eq!(links(&r, "alternate"), vec!["https://ca/cert/1/1", "https://ca/cert/1/2"]);
        assert_eq!(links(&r, "index"), vec!["https://ca/dir"]);
    }

    /// A transport that answers from a script and remembers every request.
    struct Scripted {
        replies: std::sync::Mutex<std::collections::VecDeque<Response>>,
        /// (method, url, the nonce a POST was signed with)
        seen: std::sync::Mutex<Vec<(&'static str, String, Option<String>)>>,
    }

    impl Scripted {
        fn new(replies: Vec<Response>) -> Scripted {
            Scripted { replies: std::sync::Mutex::new(replies.into()), seen: std::sync::Mutex::new(Vec::new()) }
        }
        fn posts(&self) -> Vec<Option<String>> {
            self.seen.lock().unwrap().iter().filter(|(m, _, _)| *m == "POST").map(|(_, _, n)| n.clone()).collect()
        }
    }

    impl Transport for Scripted {
        fn request(
            &self,
            method: &'static str,
            url: &str,
            _: &[(&str, &str)],
            body: Option<&[u8]>,
        ) -> Result<Response, HttpError> {
            let nonce = body.and_then(|b| {
                let jws: Value = serde_json::from_slice(b).ok()?;
                let protected = crypto::b64url_decode(jws["protected"].as_str()?).ok()?;
                let header: Value = serde_json::from_slice(&protected).ok()?;
                Some(header["nonce"].as_str()?.to_string())
            });
            self.seen.lock().unwrap().push((method, url.to_string(), nonce));
            let reply = self.replies.lock().unwrap().pop_front();
            reply.ok_or_else(|| HttpError { method, url: url.into(), message: "the script ran out".into() })
        }
    }

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    const DIRECTORY: &str = r#"{"newNonce":"https://ca/nonce","newAccount":"https://ca/acct","newOrder":"https://ca/order",
        "revokeCert":"https://ca/revoke","keyChange":"https://ca/key"}"#;
    const BAD_NONCE: &str = r#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale nonce"}"#;

    /// The directory, a first nonce, then `posts`.
    fn script(posts: Vec<Response>) -> Scripted {
        let mut replies = vec![reply(200, &[], DIRECTORY), reply(200, &[("Replay-Nonce", "n0")], "")];
        replies.extend(posts);
        Scripted::new(replies)
    }

    fn with_client<T>(t: &Scripted, clock: crate::time::ClockRef, f: impl FnOnce(&AcmeClient<'_>) -> T) -> T {
        with_client_on(t, clock, f)
    }

    fn with_client_on<T>(t: &dyn Transport, clock: crate::time::ClockRef, f: impl FnOnce(&AcmeClient<'_>) -> T) -> T {
        let key = PrivateKey::generate_ecdsa(crate::types::Curve::P256).unwrap();
        let client = AcmeClient::connect(t, clock, "https://ca/dir", &key).unwrap();
        client.set_account_url("https://ca/acct/1");
        f(&client)
    }

    #[test]
    fn a_bad_nonce_is_retried_with_the_fresh_nonce() {
        let t =
            script(vec![reply(400, &[("Replay-Nonce", "n1")], BAD_NONCE), reply(200, &[("Replay-Nonce", "n2")], "{}")]);
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        with_client(&t, clock, |c| c.post("https://ca/acct/1", None).unwrap());
        assert_eq!(
            t.posts(),
            vec![Some("n0".to_string()), Some("n1".to_string())],
            "retried once, with the nonce the error carried"
        );
        assert_eq!(clock.now().secs(), 1_000, "a bad nonce is retried at once");
    }

    #[test]
    fn bad_nonce_retries_run_out() {
        let posts: Vec<Response> =
            (1..=BAD_NONCE_RETRIES + 1).map(|i| reply(400, &[("Replay-Nonce", &format!("n{i}"))], BAD_NONCE)).collect();
        let t = script(posts);
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        let e = with_client(&t, clock, |c| c.post("https://ca/acct/1", None).unwrap_err());
        assert_eq!(t.posts().len(), BAD_NONCE_RETRIES + 1);
        match e {
            AcmeError::Problem { problem, url, .. } => {
                assert_eq!(problem.short_type(), "badNonce");
                assert_eq!(url, "https://ca/acct/1");
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn unavailable_is_retried_after_the_time_the_server_asks_for_then_given_up() {
        let busy = |n: &str| reply(503, &[("Replay-Nonce", n), ("Retry-After", "7")], "");
        let t = script(vec![busy("n1"), reply(200, &[("Replay-Nonce", "n2")], "{}")]);
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        with_client(&t, clock, |c| c.post("https://ca/order", Some(&json!({}))).unwrap());
        assert_eq!(t.posts().len(), 2);
        assert_eq!(clock.now().secs(), 1_007, "waited the Retry-After before the retry");

        let t = script(vec![busy("n1"), busy("n2"), busy("n3"), busy("n4")]);
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        let e = with_client(&t, clock, |c| c.post("https://ca/order", Some(&json!({}))).unwrap_err());
        assert_eq!(t.posts().len(), 4, "three retries, then the error");
        assert_eq!(clock.now().secs(), 1_021);
        assert!(e.to_string().contains("HTTP 503") && e.to_string().contains("https://ca/order"), "{e}");
        // A Retry-After beyond what a run waits for is not waited for.
        let t = script(vec![reply(503, &[("Replay-Nonce", "n1"), ("Retry-After", "3600")], "")]);
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        assert!(with_client(&t, clock, |c| c.post("https://ca/order", None)).is_err());
        assert_eq!((t.posts().len(), clock.now().secs()), (1, 1_000));
    }

    /// Answers every poll "pending", each answer taking `cost` of the clock.
    struct SlowPending {
        clock: crate::time::ClockRef,
        cost: Duration,
        polls: std::sync::atomic::AtomicUsize,
    }

    impl Transport for SlowPending {
        fn request(
            &self,
            method: &'static str,
            _: &str,
            _: &[(&str, &str)],
            _: Option<&[u8]>,
        ) -> Result<Response, HttpError> {
            Ok(match method {
                "GET" => reply(200, &[], DIRECTORY),
                "HEAD" => reply(200, &[("Replay-Nonce", "n")], ""),
                _ => {
                    self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.clock.sleep(self.cost);
                    let body = r#"{"identifier":{"type":"dns","value":"a.test"},"status":"pending","challenges":[]}"#;
                    reply(200, &[("Replay-Nonce", "n")], body)
                }
            })
        }
    }

    #[test]
    fn an_authorization_budget_counts_the_time_of_the_requests() {
        let clock = crate::time::ManualClock::at(crate::time::Time::from_secs(1_000));
        let t = SlowPending { clock, cost: Duration::from_secs(10), polls: 0.into() };
        let e = with_client_on(&t, clock, |c| {
            c.wait_authorization("https://ca/authz/1", Duration::from_secs(30), Duration::from_secs(1))
        });
        let e = e.unwrap_err();
        let polls = t.polls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(polls <= 4, "{polls} polls of 10 s each within a 30 s budget");
        let spent = clock.now().secs() - 1_000;
        assert!((30..45).contains(&spent), "gave up after {spent} s");
        assert!(matches!(e, AcmeError::Timeout { .. }), "{e}");
    }
}
