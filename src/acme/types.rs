//! ACME resources as they appear on the wire (RFC 8555 §7.1).

use serde::{Deserialize, Serialize};

/// RFC 8555 §7.1.1.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub revoke_cert: String,
    pub key_change: String,
    #[serde(default)]
    pub renewal_info: Option<String>,
    #[serde(default)]
    pub meta: DirectoryMeta,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    #[serde(default)]
    pub terms_of_service: Option<String>,
    #[serde(default)]
    pub external_account_required: bool,
    #[serde(default)]
    pub profiles: serde_json::Map<String, serde_json::Value>,
}

/// Statuses mirror the wire, with a catch-all for forward compatibility.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
    Deactivated,
    Expired,
    Revoked,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    pub fn dns(name: &str) -> Identifier {
        Identifier { kind: "dns".into(), value: name.into() }
    }

    /// A name as an order lists it: an IP address literal is an `ip`
    /// identifier (RFC 8738), in its canonical text; anything else `dns`.
    pub fn for_name(name: &str) -> Identifier {
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Identifier { kind: "ip".into(), value: ip.to_string() },
            Err(_) => Identifier::dns(name),
        }
    }
}

/// RFC 8555 §7.1.3.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub status: Status,
    pub authorizations: Vec<String>,
    pub finalize: String,
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub error: Option<Problem>,
}

/// RFC 8555 §7.1.4.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub identifier: Identifier,
    pub status: Status,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    #[serde(default)]
    pub wildcard: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub error: Option<Problem>,
}

/// RFC 7807 problem document as ACME uses it (RFC 8555 §6.7), subproblems included.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub identifier: Option<Identifier>,
    #[serde(default)]
    pub subproblems: Vec<Problem>,
}

impl Problem {
    /// The short name after `urn:ietf:params:acme:error:` (RFC 8555), or
    /// after ACME v1's `urn:acme:error:` (draft-ietf-acme-acme-02).
    pub fn short_type(&self) -> &str {
        self.kind
            .strip_prefix("urn:ietf:params:acme:error:")
            .or_else(|| self.kind.strip_prefix("urn:acme:error:"))
            .unwrap_or(&self.kind)
    }
}

/// Subproblems shown of one problem; the rest are counted.
const SUBPROBLEMS_SHOWN: usize = 10;

/// A problem document as the server sent it, shown safely: every string is
/// the server's, so each is escaped and cut (see `text`).
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text::{printable, DETAIL, SHORT};
        let kind = if self.kind.is_empty() { "about:blank" } else { &self.kind };
        write!(f, "{}", printable(kind, SHORT))?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(id) = &self.identifier {
            write!(f, " for {} {}", printable(&id.kind, SHORT), printable(&id.value, SHORT))?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {}", printable(detail, DETAIL))?;
        }
        for sub in self.subproblems.iter().take(SUBPROBLEMS_SHOWN) {
            write!(f, "\n    - {sub}")?;
        }
        if self.subproblems.len() > SUBPROBLEMS_SHOWN {
            write!(f, "\n    - ... and {} more", self.subproblems.len() - SUBPROBLEMS_SHOWN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc8555_examples() {
        // RFC 8555 §7.1.3 order example.
        let order: Order = serde_json::from_str(
            r#"{"status":"valid","expires":"2016-01-20T14:09:07.99Z",
            "identifiers":[{"type":"dns","value":"www.example.org"},{"type":"dns","value":"example.org"}],
            "notBefore":"2016-01-01T00:00:00Z","notAfter":"2016-01-08T00:00:00Z",
            "authorizations":["https://example.com/acme/authz/PAniVnsZcis","https://example.com/acme/authz/r4HqLzrSrpI"],
            "finalize":"https://example.com/acme/order/TOlocE8rfgo/finalize",
            "certificate":"https://example.com/acme/cert/mAt3xBGaobw"}"#,
        )
        .unwrap();
        assert_eq!(order.status, Status::Valid);
        assert_eq!(order.authorizations[1], "https://example.com/acme/authz/r4HqLzrSrpI");
        assert_eq!(order.certificate.as_deref(), Some("https://example.com/acme/cert/mAt3xBGaobw"));
        // RFC 8555 §6.7.1 subproblems example.
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:malformed","detail":"Some of the identifiers requested were rejected",
            "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"Invalid underscore in DNS name \"_example.org\"",
            "identifier":{"type":"dns","value":"_example.org"}},{"type":"urn:ietf:params:acme:error:rejectedIdentifier",
            "detail":"This CA will not issue for \"example.net\"","identifier":{"type":"dns","value":"example.net"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.short_type(), "malformed");
        let v1 = Problem { kind: "urn:acme:error:badNonce".into(), ..Default::default() };
        assert_eq!(v1.short_type(), "badNonce");
        let other = Problem { kind: "about:blank".into(), ..Default::default() };
        assert_eq!(other.short_type(), "about:blank");
        let shown = p.to_string();
        assert!(shown.contains("rejectedIdentifier for dns example.net"), "{shown}");
        assert_eq!(serde_json::from_str::<Status>("\"somethingNew\"").unwrap(), Status::Unknown);
    }
}

/// RFC 9773 §4.2 RenewalInfo.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    pub suggested_window: SuggestedWindow,
    #[serde(default, rename = "explanationURL")]
    pub explanation_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SuggestedWindow {
    pub start: String,
    pub end: String,
}
