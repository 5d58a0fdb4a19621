//! ACME v1 (draft-ietf-acme-acme-02 as Let's Encrypt's Boulder deployed it)
//! behind [`AcmeClient`]'s v2 methods, so the run keeps its flow of orders,
//! authorizations, finalization and download:
//!
//! - every JWS carries `jwk` (never `kid`) and every payload a `resource`;
//!   nonces come from every response (the first from `HEAD` on the directory);
//! - an "order" is made here: one `new-authz` per name, remembered under a
//!   synthetic URL (`v1-order:<n>`) whose status is recomputed from its
//!   authorizations; finalizing it is `new-cert`, which answers the
//!   certificate (DER) at once, its chain found by following `rel="up"`;
//! - authorizations and certificates are read with plain GETs.
//!
//! v1 has no wildcards, IP identifiers, profiles, ARI or External Account Binding.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::client::{links, problem_or_protocol, AcmeClient, AcmeError};
use super::types::*;
use crate::crypto::{self, CryptoError, PrivateKey};
use crate::http::Response;

/// How a synthetic order URL begins.
const ORDER_PREFIX: &str = "v1-order:";
/// `rel="up"` links followed from a certificate at most.
const MAX_UP_HOPS: usize = 4;

/// What a v1 client knows beyond the mapped [`Directory`].
pub(super) struct V1 {
    new_cert: String,
    key_change: Option<String>,
    orders: Mutex<HashMap<String, V1Order>>,
    /// Certificates `new-cert` answered, by URL.
    certs: Mutex<HashMap<String, Answered>>,
    next_order: AtomicUsize,
}

/// A certificate's body and its `rel="up"` links.
type Answered = (Vec<u8>, Vec<String>);

#[derive(Clone)]
struct V1Order {
    authorizations: Vec<String>,
    certificate: Option<String>,
}

impl V1 {
    /// The v1 directory mapped onto the v2 one (`new-reg` as newAccount,
    /// `new-authz` as newOrder, the directory itself as newNonce), and the rest.
    pub(super) fn from_directory(url: &str, doc: &Value) -> Result<(Directory, V1), String> {
        let get = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &str| get(k).ok_or_else(|| format!("not an ACME v1 directory: it has no {k:?}"));
        let meta = &doc["meta"];
        let tos = meta["terms-of-service"].as_str().or_else(|| meta["termsOfService"].as_str()).map(str::to_string);
        let key_change = get("key-change");
        let directory = Directory {
            new_nonce: url.to_string(),
            new_account: need("new-reg")?,
            new_order: need("new-authz")?,
            revoke_cert: get("revoke-cert").unwrap_or_default(),
            key_change: key_change.clone().unwrap_or_default(),
            renewal_info: None,
            meta: DirectoryMeta {
                terms_of_service: tos,
                external_account_required: false,
                profiles: Default::default(),
            },
        };
        let v1 = V1 {
            new_cert: need("new-cert")?,
            key_change,
            orders: Mutex::new(HashMap::new()),
            certs: Mutex::new(HashMap::new()),
            next_order: AtomicUsize::new(1),
        };
        Ok((directory, v1))
    }
}

/// A flattened JWS as v1 wants it: protected `{alg, jwk, nonce}` (no `kid`,
/// no `url`); `nonce: None` for the inner JWS of a key change.
fn jws_v1(key: &PrivateKey, nonce: Option<&str>, payload: &[u8]) -> Result<Value, CryptoError> {
    let mut protected = json!({"alg": key.jws_alg(), "jwk": key.public_jwk()});
    if let Some(n) = nonce {
        protected["nonce"] = json!(n);
    }
    let protected_b64 = crypto::b64url(protected.to_string().as_bytes());
    let payload_b64 = crypto::b64url(payload);
    let sig = key.sign(format!("{protected_b64}.{payload_b64}").as_bytes())?;
    Ok(json!({"protected": protected_b64, "payload": payload_b64, "signature": crypto::b64url(&sig)}))
}

/// The status of an order made of authorizations in these states.
fn order_status(statuses: &[Status]) -> Status {
    if statuses.iter().any(|s| !matches!(s, Status::Valid | Status::Pending)) {
        Status::Invalid
    } else if statuses.iter().all(|s| *s == Status::Valid) {
        Status::Ready
    } else {
        Status::Pending
    }
}

/// A v1 authorization as the v2 type: a challenge's `uri` is its `url`.
fn authorization_from(body: &[u8]) -> Result<Authorization, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| format!("unexpected authorization: {e}"))?;
    if let Some(challenges) = v.get_mut("challenges").and_then(Value::as_array_mut) {
        for c in challenges {
            if c.get("url").is_none() {
                if let Some(uri) = c.get("uri").cloned() {
                    c["url"] = uri;
                }
            }
        }
    }
    serde_json::from_value(v).map_err(|e| format!("unexpected authorization: {e}"))
}

/// A certificate body: DER as Boulder sends it (`application/pkix-cert`), or PEM.
fn cert_ders(body: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
    if body.starts_with(b"-----") {
        crypto::pem_to_ders(body)
    } else {
        crypto::parse_cert(body)?;
        Ok(vec![body.to_vec()])
    }
}

impl AcmeClient<'_> {
    fn v1(&self) -> &V1 {
        self.v1.as_ref().expect("an ACME v1 client")
    }

    /// A signed v1 POST: `resource` added to the payload, the JWK in the header.
    fn v1_post(
        &self,
        url: &str,
        resource: &str,
        mut payload: Value,
        ok: &dyn Fn(u16) -> bool,
    ) -> Result<Response, AcmeError> {
        payload["resource"] = json!(resource);
        let bytes = serde_json::to_vec(&payload).expect("JSON value serializes");
        let accept = if resource == "new-cert" { "application/pkix-cert" } else { "application/json" };
        self.post_signed(url, accept, ok, &|nonce| jws_v1(self.key, Some(nonce), &bytes))
    }

    /// A plain GET (v1 has no POST-as-GET); its nonce is kept.
    fn v1_get(&self, url: &str) -> Result<Response, AcmeError> {
        let response = self.transport.request("GET", url, &[], None)?;
        self.keep_nonce(&response);
        if response.status >= 300 {
            return Err(problem_or_protocol(&self.directory_url, "GET", url, &response));
        }
        Ok(response)
    }

    /// `new-reg` with the contacts (and the agreement when agreed). 409: the
    /// key is registered already, at the `Location` given: that registration
    /// is used. When agreeing and the registration has not agreed to the
    /// current terms (`Link: rel="terms-of-service"`), the registration is
    /// updated with them.
    pub(super) fn v1_new_account(&self, contact: &[String], tos_agreed: bool) -> Result<(String, Value), AcmeError> {
        let url = self.directory.new_account.clone();
        let mut payload = json!({ "contact": contact });
        if let (true, Some(tos)) = (tos_agreed, &self.directory.meta.terms_of_service) {
            payload["agreement"] = json!(tos);
        }
        let response = self.v1_post(&url, "new-reg", payload, &|s| s < 400 || s == 409)?;
        let location = response
            .header("Location")
            .ok_or_else(|| {
                self.protocol(&url, format!("new-reg answered HTTP {} without a Location", response.status))
            })?
            .to_string();
        self.set_account_url(&location);
        let existing = response.status == 409;
        if existing {
            tracing::info!("This account key is registered already at {location}; using that registration");
        }
        let mut body: Value =
            if existing { Value::Null } else { serde_json::from_slice(&response.body).unwrap_or(Value::Null) };
        let tos =
            links(&response, "terms-of-service").into_iter().next().or(self.directory.meta.terms_of_service.clone());
        let agreed = body.get("agreement").and_then(Value::as_str);
        let update = match &tos {
            Some(tos) if tos_agreed && agreed != Some(tos.as_str()) => Some(json!({ "agreement": tos })),
            // Read the registration back.
            _ if existing => Some(json!({})),
            _ => None,
        };
        if let Some(update) = update {
            let r = self.v1_post(&location, "reg", update, &|s| s < 400)?;
            body = serde_json::from_slice(&r.body).unwrap_or(body);
        }
        Ok((location, body))
    }

    /// One `new-authz` per name (a still-valid authorization of the account
    /// comes back again), as a synthetic order.
    pub(super) fn v1_new_order(
        &self,
        names: &[String],
        profile: Option<&str>,
        replaces: Option<&str>,
    ) -> Result<(String, Order), AcmeError> {
        let url = self.directory.new_order.clone();
        if let Some(w) = names.iter().find(|n| n.starts_with("*.")) {
            let detail = format!(
                "ACME v1 has no wildcard certificates: {w} needs an ACME v2 server (settings.acme_directory_url)"
            );
            return Err(self.protocol(&url, detail));
        }
        if let Some(ip) = names.iter().find(|n| n.parse::<std::net::IpAddr>().is_ok()) {
            let detail = format!("ACME v1 has no IP address identifiers: {ip} needs an ACME v2 server");
            return Err(self.protocol(&url, detail));
        }
        if profile.is_some() || replaces.is_some() {
            tracing::debug!(
                "ACME v1 has no certificate profiles or renewal information: profile {profile:?} and replaces {replaces:?} are not sent"
            );
        }
        let mut authorizations = Vec::new();
        let mut statuses = Vec::new();
        for name in names {
            let payload = json!({ "identifier": Identifier::dns(name) });
            let response = self.v1_post(&url, "new-authz", payload, &|s| s < 400)?;
            let location = response
                .header("Location")
                .ok_or_else(|| self.protocol(&url, "new-authz answered without a Location header"))?
                .to_string();
            let authz = authorization_from(&response.body).map_err(|d| self.protocol(&location, d))?;
            if !authorizations.contains(&location) {
                authorizations.push(location);
                statuses.push(authz.status);
            }
        }
        let v1 = self.v1();
        let order_url = format!("{ORDER_PREFIX}{}", v1.next_order.fetch_add(1, Ordering::Relaxed));
        let order = Order {
            status: order_status(&statuses),
            authorizations: authorizations.clone(),
            finalize: v1.new_cert.clone(),
            certificate: None,
            error: None,
        };
        v1.orders.lock().unwrap().insert(order_url.clone(), V1Order { authorizations, certificate: None });
        Ok((order_url, order))
    }

    /// A synthetic order, its status recomputed from its authorizations.
    pub(super) fn v1_order(&self, url: &str) -> Result<(Order, Response), AcmeError> {
        let v1 = self.v1();
        let known = v1.orders.lock().unwrap().get(url).cloned();
        let Some(o) = known else {
            return Err(self.protocol(url, "not an order of this run (an ACME v1 server has no orders)"));
        };
        let response = Response { status: 200, headers: Vec::new(), body: Vec::new() };
        let mut order = Order {
            status: Status::Valid,
            authorizations: o.authorizations.clone(),
            finalize: v1.new_cert.clone(),
            certificate: o.certificate.clone(),
            error: None,
        };
        if o.certificate.is_some() {
            return Ok((order, response));
        }
        let mut statuses = Vec::new();
        for a in &o.authorizations {
            let (authz, _) = self.v1_authorization(a)?;
            if order.error.is_none() && authz.status == Status::Invalid {
                order.error = authz.challenges.iter().find_map(|c| c.error.clone());
            }
            statuses.push(authz.status);
        }
        order.status = order_status(&statuses);
        Ok((order, response))
    }

    pub(super) fn v1_authorization(&self, url: &str) -> Result<(Authorization, Response), AcmeError> {
        let response = self.v1_get(url)?;
        let authz = authorization_from(&response.body).map_err(|d| self.protocol(url, d))?;
        Ok((authz, response))
    }

    /// Answers a challenge with its type and key authorization.
    pub(super) fn v1_respond(&self, challenge: &Challenge) -> Result<(), AcmeError> {
        let token =
            challenge.token.as_deref().ok_or_else(|| self.protocol(&challenge.url, "the challenge has no token"))?;
        let payload = json!({ "type": challenge.kind, "keyAuthorization": crypto::key_authorization(token, self.key) });
        self.v1_post(&challenge.url, "challenge", payload, &|s| s < 400)?;
        Ok(())
    }

    /// `new-cert` with the CSR: the certificate comes back at once (201, DER,
    /// `Location`, `Link: rel="up"`) and the synthetic order is valid.
    pub(super) fn v1_finalize(&self, order_url: &str, order: &Order, csr_der: &[u8]) -> Result<Order, AcmeError> {
        let v1 = self.v1();
        let url = v1.new_cert.clone();
        let response = self.v1_post(&url, "new-cert", json!({ "csr": crypto::b64url(csr_der) }), &|s| s < 400)?;
        let location = response
            .header("Location")
            .ok_or_else(|| self.protocol(&url, "new-cert answered without a Location header"))?
            .to_string();
        if !response.body.is_empty() {
            v1.certs.lock().unwrap().insert(location.clone(), (response.body.clone(), links(&response, "up")));
        }
        if let Some(o) = v1.orders.lock().unwrap().get_mut(order_url) {
            o.certificate = Some(location.clone());
        }
        Ok(Order {
            status: Status::Valid,
            authorizations: order.authorizations.clone(),
            finalize: url,
            certificate: Some(location),
            error: None,
        })
    }

    /// The certificate (from `new-cert`'s answer, or GET) and its chain, found
    /// by following `rel="up"` up to a self-signed certificate (a root is no
    /// part of the chain) or [`MAX_UP_HOPS`] links, as PEM. v1 has no alternates.
    pub(super) fn v1_download(&self, cert_url: &str) -> Result<(Vec<u8>, Vec<String>), AcmeError> {
        let stored = self.v1().certs.lock().unwrap().get(cert_url).cloned();
        let (body, mut up) = match stored {
            Some(s) => s,
            None => {
                let r = self.v1_get(cert_url)?;
                let up = links(&r, "up");
                (r.body, up)
            }
        };
        let mut chain = cert_ders(&body).map_err(|e| self.protocol(cert_url, format!("not a certificate: {e}")))?;
        for _ in 0..MAX_UP_HOPS {
            let Some(next) = up.first().cloned() else { break };
            let r = self.v1_get(&next)?;
            let ders = cert_ders(&r.body).map_err(|e| self.protocol(&next, format!("not a certificate: {e}")))?;
            let Some(issuer) = ders.into_iter().next() else { break };
            let info =
                crypto::parse_cert(&issuer).map_err(|e| self.protocol(&next, format!("not a certificate: {e}")))?;
            if info.subject == info.issuer || chain.contains(&issuer) {
                break;
            }
            chain.push(issuer);
            up = links(&r, "up");
        }
        Ok((crypto::ders_to_pem(&chain).into_bytes(), Vec::new()))
    }

    /// `revoke-cert`, signed with the account key.
    pub(super) fn v1_revoke(&self, cert_der: &[u8], reason: u8) -> Result<(), AcmeError> {
        let url = self.directory.revoke_cert.clone();
        if url.is_empty() {
            return Err(self.protocol(&self.directory_url, "this ACME v1 directory offers no revoke-cert"));
        }
        let payload = json!({ "certificate": crypto::b64url(cert_der), "reason": reason });
        self.v1_post(&url, "revoke-cert", payload, &|s| s < 400)?;
        Ok(())
    }

    /// Boulder's v1 key change: the outer JWS by the old key carries the inner
    /// JWS by the new key, payload `{account, newKey}`, plus `resource`.
    pub(super) fn v1_key_change(&self, new_key: &PrivateKey) -> Result<(), AcmeError> {
        let Some(url) = self.v1().key_change.clone() else {
            let detail = "this ACME v1 server offers no key-change: the account key cannot be rolled over";
            return Err(self.protocol(&self.directory_url, detail));
        };
        let account = self.account_url().ok_or_else(|| self.protocol(&url, "key change needs a registered account"))?;
        let inner_payload = json!({ "account": account, "newKey": new_key.public_jwk() });
        let inner = jws_v1(new_key, None, inner_payload.to_string().as_bytes())
            .map_err(|e| self.protocol(&url, format!("signing the key change: {e}")))?;
        self.v1_post(&url, "key-change", inner, &|s| s < 400)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_status_from_authorizations() {
        assert_eq!(order_status(&[Status::Valid, Status::Valid]), Status::Ready);
        assert_eq!(order_status(&[Status::Valid, Status::Pending]), Status::Pending);
        assert_eq!(order_status(&[Status::Pending, Status::Invalid]), Status::Invalid);
        assert_eq!(order_status(&[Status::Deactivated]), Status::Invalid);
    }

    #[test]
    fn a_v1_authorization_reads_as_v2() {
        let a = authorization_from(
            br#"{"identifier":{"type":"dns","value":"a.test"},"status":"pending","expires":"2030-01-01T00:00:00Z",
            "challenges":[{"type":"http-01","uri":"https://ca/acme/challenge/1/0","token":"tok","status":"pending"}],
            "combinations":[[0]]}"#,
        )
        .unwrap();
        assert_eq!(a.challenges[0].url, "https://ca/acme/challenge/1/0");
        assert_eq!(a.challenges[0].token.as_deref(), Some("tok"));
        assert_eq!(a.status, Status::Pending);
    }

    #[test]
    fn a_v1_directory_maps_onto_v2() {
        let doc = json!({"new-reg": "https://ca/acme/new-reg", "new-authz": "https://ca/acme/new-authz",
            "new-cert": "https://ca/acme/new-cert", "revoke-cert": "https://ca/acme/revoke-cert",
            "meta": {"terms-of-service": "https://ca/terms"}, "x7Gq": "random"});
        let (d, v1) = V1::from_directory("https://ca/directory", &doc).unwrap();
        assert_eq!(super::super::client::versions_offered(&doc), (true, false));
        assert_eq!((d.new_nonce.as_str(), d.new_account.as_str()), ("https://ca/directory", "https://ca/acme/new-reg"));
        assert_eq!(d.meta.terms_of_service.as_deref(), Some("https://ca/terms"));
        assert!(v1.key_change.is_none());
        assert!(V1::from_directory("https://ca/directory", &json!({"new-reg": "x"})).is_err());
    }
}
