//! The journal's event vocabulary. Each event is one JSON line (see `journal`);
//! `type` is the snake_case variant name. File-transaction events
//! (`txn_begun`, `file_installed`, ...) are written by `txn` and read there.
//!
//! Rules: no event ever carries key material, a passphrase, a TSIG secret or an
//! EAB key; fields are only ever added (old journals keep replaying).

use serde::{Deserialize, Serialize};

use crate::types::{KeyRole, KeyType};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        version: String,
        pid: u32,
        /// Command-line flags; the value of `--pass` is never recorded.
        args: Vec<String>,
        config: String,
    },
    RunFinished {
        exit_code: i32,
        changed: bool,
    },
    JournalRepaired {
        torn_saved_to: String,
        bytes: u64,
    },
    AccountKeyGenerated {
        path: String,
        key_type: KeyType,
        thumbprint: String,
    },
    /// The account moved to a new key (RFC 8555 §7.3.5).
    AccountKeyRolledOver {
        account_url: String,
        old_thumbprint: String,
        new_thumbprint: String,
        key_type: KeyType,
    },
    AccountRegistered {
        directory_url: String,
        account_url: String,
        thumbprint: String,
        contact: Vec<String>,
        tos_agreed: bool,
    },
    /// A private key made by this run and installed by transaction `txn`
    /// (journaled right after that transaction committed).
    KeyGenerated {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        path: String,
        txn: String,
    },
    /// A key found on disk that the journal did not know (an installation of the
    /// Python original, or a journal lost and rebuilt): recorded, never regenerated.
    KeyAdopted {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        path: String,
        sha256: String,
    },
    AuthorizationObtained {
        name: String,
        challenge: String,
        url: String,
        expires: Option<String>,
    },
    ChallengeFailed {
        name: String,
        challenge: String,
        url: String,
        error: String,
    },
    OrderCreated {
        order_url: String,
        names: Vec<String>,
        key_type: KeyType,
    },
    /// The CA issued a certificate (journaled as soon as it was downloaded).
    CertificateIssued {
        cert: String,
        key: String,
        key_type: KeyType,
        serial: String,
        common_name: Option<String>,
        not_before: String,
        not_after: String,
        sans: Vec<String>,
        issuer: String,
        order_url: String,
        spki_sha256: String,
    },
    /// An issued certificate was installed by transaction `txn`.
    CertificateInstalled {
        cert: String,
        key_type: KeyType,
        serial: String,
        txn: String,
    },
    CertificateAdopted {
        cert: String,
        key: String,
        key_type: KeyType,
        serial: String,
        common_name: Option<String>,
        not_before: String,
        not_after: String,
        sans: Vec<String>,
        issuer: String,
        spki_sha256: String,
        path: String,
        sha256: String,
    },
    /// The CA was told to revoke this certificate (RFC 8555 §7.6).
    CertificateRevoked {
        cert: String,
        key: String,
        key_type: KeyType,
        serial: String,
        reason: String,
    },
    /// A key left service (moved to the archive), e.g. after revocation.
    KeyArchived {
        key: String,
        key_type: KeyType,
        role: KeyRole,
        spki_sha256: String,
        reason: String,
    },
    /// The backup key became the primary key (installed by transaction `txn`).
    KeyRolledOver {
        key: String,
        key_type: KeyType,
        spki_sha256: String,
        path: String,
        previous_spki_sha256: Option<String>,
        txn: String,
    },
    /// An ARI renewal window (RFC 9773) for an installed certificate, the time
    /// chosen inside it, and when to ask again (the server's Retry-After).
    RenewalInfoFetched {
        cert: String,
        key_type: KeyType,
        serial: String,
        cert_id: String,
        window_start: String,
        window_end: String,
        renew_at: String,
        next_check: String,
        explanation_url: Option<String>,
    },
    /// The ACME server has no renewalInfo resource: ARI is not asked again.
    RenewalInfoUnsupported {
        directory_url: String,
    },
    HookRun {
        hook: String,
        program: String,
        exit_code: Option<i32>,
    },
    ServiceReloaded {
        service: String,
        program: String,
        exit_code: Option<i32>,
    },
    /// A DNS record acmebot added: a dns-01 challenge TXT (`mode` "remote": an
    /// RFC 2136 update sent to `server`; "local": the zone's challenge file
    /// written for `reload_zone_command`) or a TLSA record. Never the value
    /// itself for TXT (only `value_sha256`); TLSA carries its fields and its
    /// association data (`digest`, a public hash).
    DnsRecordAdded(DnsRecord),
    /// A DNS record acmebot removed (same fields as `dns_record_added`).
    DnsRecordRemoved(DnsRecord),
    /// `reload_zone_command` was run for `zone` (local DNS updates).
    ZoneReloaded {
        zone: String,
        program: String,
        exit_code: Option<i32>,
        reason: String,
    },
    /// Any event type this version does not know (written by a newer acmebot,
    /// or a transaction event that `txn` interprets).
    #[serde(other)]
    Other,
}

/// The fields of `dns_record_added` / `dns_record_removed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsRecord {
    pub zone: String,
    pub name: String,
    pub rtype: String,
    pub value_sha256: String,
    pub server: Option<String>,
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Event {
    /// `dns_record_added` or `dns_record_removed`.
    pub fn dns_record(added: bool, record: DnsRecord) -> Event {
        if added {
            Event::DnsRecordAdded(record)
        } else {
            Event::DnsRecordRemoved(record)
        }
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("events serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_round_trip_and_unknown_types() {
        let e = Event::KeyGenerated {
            key: "example.com".into(),
            key_type: KeyType::Ecdsa,
            role: KeyRole::Backup,
            spki_sha256: "ab".into(),
            path: "/k".into(),
            txn: "t".into(),
        };
        let v = e.to_value();
        assert_eq!(v["type"], "key_generated");
        assert_eq!(v["role"], "backup");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        let r = DnsRecord {
            zone: "z".into(),
            name: "_acme-challenge.z.".into(),
            rtype: "TXT".into(),
            value_sha256: "h".into(),
            server: None,
            mode: "local".into(),
            usage: None,
            selector: None,
            matching: None,
            digest: None,
        };
        let v = Event::dns_record(true, r.clone()).to_value();
        assert_eq!(v["type"], "dns_record_added");
        assert_eq!(v["zone"], "z", "fields are flat beside the type");
        assert!(v.get("usage").is_none());
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), Event::DnsRecordAdded(r));
        let future = serde_json::json!({"type": "tlsa_record_added", "zone": "example.com"});
        assert_eq!(serde_json::from_value::<Event>(future).unwrap(), Event::Other);
    }
}
