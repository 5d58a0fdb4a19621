//! Reading an event from its line: the line is split once into its fields
//! (name and raw JSON text, borrowed), then each event takes the fields it
//! has by name. Serde's derive would do the same per event type through a
//! buffered tree; this is a few small functions shared by every type, which
//! keeps the router binary small (the derive cost 100 KB).
//!
//! The rules are serde's: fields not named are ignored (envelope, newer
//! fields); an optional field may be missing or null; a required one missing
//! or of the wrong type is an error naming it; a name given twice is an
//! error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::event::{
    CertFacts, DnsRecord, Effect, Event, FileAction, FileInstalled, KeyArchived, KeyRollover, Mode, Snapshot, TxnBegun,
    TxnFile,
};
use crate::hooks::Hook;
use crate::time::Time;
use crate::types::{KeyRole, KeyType};

/// Why an event's fields do not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The line is not JSON at all.
    Syntax(String),
    /// JSON, but a field is missing, given twice or of the wrong type.
    Field(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Syntax(s) | FieldError::Field(s) => f.write_str(s),
        }
    }
}

type R<T> = Result<T, FieldError>;

/// The fields of one JSON object, in order, with their raw text.
pub struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Deserialize<'a> for Fields<'a> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Fields<'a>, D::Error> {
        struct V;
        impl<'a> Visitor<'a> for V {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<Fields<'a>, M::Error> {
                let mut out: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::with_capacity(16);
                while let Some((k, v)) = map.next_entry::<Cow<'a, str>, &'a RawValue>()? {
                    if out.iter().any(|(name, _)| *name == k) {
                        return Err(serde::de::Error::custom(format_args!("duplicate field `{k}`")));
                    }
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Fields<'a> {
    /// The fields of a JSON object's text.
    pub fn of(text: &'a [u8]) -> R<Fields<'a>> {
        serde_json::from_slice(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => FieldError::Syntax(e.to_string()),
            _ => FieldError::Field(e.to_string()),
        })
    }

    /// The names of the fields, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    pub fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v).filter(|v| v.get() != "null")
    }

    fn value<T: Deserialize<'a>>(&self, name: &str) -> R<Option<T>> {
        match self.raw(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw.get())
                .map(Some)
                .map_err(|e| FieldError::Field(format!("field `{name}`: {}", strip_position(&e)))),
        }
    }

    pub fn required<T>(name: &str, v: Option<T>) -> R<T> {
        v.ok_or_else(|| FieldError::Field(format!("missing field `{name}`")))
    }

    pub fn string(&self, name: &str) -> R<String> {
        Self::required(name, self.opt_string(name)?)
    }

    pub fn opt_string(&self, name: &str) -> R<Option<String>> {
        self.value::<String>(name)
    }

    pub fn strings(&self, name: &str) -> R<Vec<String>> {
        Self::required(name, self.value::<Vec<String>>(name)?)
    }

    pub fn flag(&self, name: &str) -> R<bool> {
        Self::required(name, self.value::<bool>(name)?)
    }

    /// A bool that is false when missing (`#[serde(default)]`).
    pub fn flag_or_false(&self, name: &str) -> R<bool> {
        Ok(self.value::<bool>(name)?.unwrap_or(false))
    }

    pub fn int(&self, name: &str) -> R<i64> {
        Self::required(name, self.value::<i64>(name)?)
    }

    pub fn opt_int(&self, name: &str) -> R<Option<i64>> {
        self.value::<i64>(name)
    }

    /// An integer in `T`'s range.
    pub fn num<T: TryFrom<i64>>(&self, name: &str) -> R<T> {
        let n = self.int(name)?;
        T::try_from(n).map_err(|_| FieldError::Field(format!("field `{name}`: {n} is out of range")))
    }

    pub fn opt_num<T: TryFrom<i64>>(&self, name: &str) -> R<Option<T>> {
        match self.opt_int(name)? {
            None => Ok(None),
            Some(n) => {
                T::try_from(n).map(Some).map_err(|_| FieldError::Field(format!("field `{name}`: {n} is out of range")))
            }
        }
    }

    pub fn u64(&self, name: &str) -> R<u64> {
        Self::required(name, self.value::<u64>(name)?)
    }

    pub fn time(&self, name: &str) -> R<Time> {
        Self::required(name, self.opt_time(name)?)
    }

    pub fn opt_time(&self, name: &str) -> R<Option<Time>> {
        self.opt_token(name, Time::parse, "an RFC 3339 time")
    }

    /// A string from a fixed vocabulary.
    pub fn token<T>(&self, name: &str, parse: fn(&str) -> Option<T>, what: &str) -> R<T> {
        Self::required(name, self.opt_token(name, parse, what)?)
    }

    pub fn opt_token<T>(&self, name: &str, parse: fn(&str) -> Option<T>, what: &str) -> R<Option<T>> {
        match self.value::<Cow<'a, str>>(name)? {
            None => Ok(None),
            Some(s) => {
                parse(&s).map(Some).ok_or_else(|| FieldError::Field(format!("field `{name}`: {s:?} is not {what}")))
            }
        }
    }

    pub fn key_type(&self) -> R<KeyType> {
        self.token("key_type", KeyType::parse, "a key type (rsa, ecdsa)")
    }

    pub fn role(&self) -> R<KeyRole> {
        self.token("role", KeyRole::parse, "a key role (primary, backup, previous)")
    }

    /// A file mode: octal digits in a string (`"0640"`), or a number.
    pub fn opt_mode(&self, name: &str) -> R<Option<Mode>> {
        match self.raw(name) {
            Some(raw) if !raw.get().starts_with('"') => Ok(self.opt_num::<u32>(name)?.map(|m| Mode(m & 0o7777))),
            _ => self.opt_token(name, |s| u32::from_str_radix(s, 8).ok().map(|m| Mode(m & 0o7777)), "an octal mode"),
        }
    }

    pub fn mode(&self, name: &str) -> R<Mode> {
        Self::required(name, self.opt_mode(name)?)
    }

    /// A list of objects, each read by `read`.
    pub fn objects<T>(&self, name: &str, read: fn(&Fields<'a>) -> R<T>) -> R<Option<Vec<T>>> {
        let Some(list) = self.value::<Vec<Fields<'a>>>(name)? else {
            return Ok(None);
        };
        list.iter()
            .enumerate()
            .map(|(i, f)| read(f).map_err(|e| FieldError::Field(format!("field `{name}`[{i}]: {e}"))))
            .collect::<R<Vec<T>>>()
            .map(Some)
    }
}

impl<'a> Fields<'a> {
    /// An optional object, read by `read`.
    pub fn object<T>(&self, name: &str, read: fn(&Fields<'a>) -> R<T>) -> R<Option<T>> {
        match self.value::<Fields<'a>>(name)? {
            None => Ok(None),
            Some(f) => read(&f).map(Some).map_err(|e| FieldError::Field(format!("field `{name}`: {e}"))),
        }
    }

    /// The entries of an object (missing: none), in order, with their raw
    /// text. One function for every map of a checkpoint: no map type of
    /// its own per value type (the router binary's size).
    pub fn entries(&self, name: &str) -> R<Vec<(Cow<'a, str>, &'a RawValue)>> {
        Ok(self.value::<Fields<'a>>(name)?.map(|f| f.0).unwrap_or_default())
    }

    /// An object of objects (missing: none): `each` is given every entry's
    /// key and fields, in order.
    pub fn each_object(&self, name: &str, each: &mut dyn FnMut(String, &Fields<'a>) -> R<()>) -> R<()> {
        for (k, raw) in self.entries(name)? {
            let read = Fields::of(raw.get().as_bytes()).and_then(|f| each(k.to_string(), &f));
            read.map_err(|e| FieldError::Field(format!("field `{name}`.{k}: {e}")))?;
        }
        Ok(())
    }

    /// An object of RFC 3339 times (missing: none): `each` is given every
    /// entry's key and time, in order.
    pub fn each_time(&self, name: &str, each: &mut dyn FnMut(String, Time)) -> R<()> {
        for (k, raw) in self.entries(name)? {
            match serde_json::from_str::<Cow<'a, str>>(raw.get()).ok().and_then(|t| Time::parse(&t)) {
                Some(t) => each(k.into_owned(), t),
                None => {
                    let t = raw.get();
                    return Err(FieldError::Field(format!("field `{name}`.{k}: {t} is not an RFC 3339 time")));
                }
            }
        }
        Ok(())
    }

    /// A list of plain values (missing: empty).
    pub fn list<T: Deserialize<'a>>(&self, name: &str) -> R<Vec<T>> {
        Ok(self.value::<Vec<T>>(name)?.unwrap_or_default())
    }
}

/// serde_json's message without " at line 1 column N" (the position is in
/// the field's text, not the line's, and would mislead).
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}

/// Reads the event of type `type_name` from its fields; a type this version
/// does not know is [`Event::Other`].
pub fn read_event(type_name: &str, f: &Fields<'_>) -> R<Event> {
    Ok(match type_name {
        "run_started" => Event::RunStarted {
            version: f.string("version")?,
            pid: f.num("pid")?,
            args: f.strings("args")?,
            config: f.string("config")?,
        },
        "run_finished" => Event::RunFinished { exit_code: f.num("exit_code")?, changed: f.flag("changed")? },
        "journal_repaired" => {
            Event::JournalRepaired { torn_saved_to: f.string("torn_saved_to")?, bytes: f.u64("bytes")? }
        }
        "account_key_generated" => Event::AccountKeyGenerated {
            path: f.string("path")?,
            key_type: f.key_type()?,
            thumbprint: f.string("thumbprint")?,
        },
        "account_key_rolled_over" => Event::AccountKeyRolledOver {
            account_url: f.string("account_url")?,
            old_thumbprint: f.string("old_thumbprint")?,
            new_thumbprint: f.string("new_thumbprint")?,
            key_type: f.key_type()?,
        },
        "account_registered" => Event::AccountRegistered {
            directory_url: f.string("directory_url")?,
            account_url: f.string("account_url")?,
            thumbprint: f.string("thumbprint")?,
            contact: f.strings("contact")?,
            tos_agreed: f.flag("tos_agreed")?,
        },
        "key_generated" => Event::KeyGenerated {
            key: f.string("key")?,
            key_type: f.key_type()?,
            role: f.role()?,
            spki_sha256: f.string("spki_sha256")?,
            path: f.string("path")?,
            txn: f.opt_string("txn")?,
        },
        "key_adopted" => Event::KeyAdopted {
            key: f.string("key")?,
            key_type: f.key_type()?,
            role: f.role()?,
            spki_sha256: f.string("spki_sha256")?,
            path: f.string("path")?,
            sha256: f.string("sha256")?,
            modified: f.opt_time("modified")?,
        },
        "authorization_obtained" => Event::AuthorizationObtained {
            name: f.string("name")?,
            challenge: f.string("challenge")?,
            url: f.string("url")?,
            expires: f.opt_time("expires")?,
        },
        "challenge_failed" => Event::ChallengeFailed {
            name: f.string("name")?,
            challenge: f.string("challenge")?,
            url: f.string("url")?,
            error: f.string("error")?,
        },
        "order_created" => Event::OrderCreated {
            order_url: f.string("order_url")?,
            names: f.strings("names")?,
            key_type: f.key_type()?,
        },
        "certificate_issued" => Event::CertificateIssued(cert_facts(f)?),
        "certificate_installed" => Event::CertificateInstalled {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            txn: f.string("txn")?,
        },
        "certificate_adopted" => {
            Event::CertificateAdopted { facts: cert_facts(f)?, path: f.string("path")?, sha256: f.string("sha256")? }
        }
        "certificate_revoked" => Event::CertificateRevoked {
            cert: f.string("cert")?,
            key: f.string("key")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            reason: f.string("reason")?,
        },
        "key_archived" => Event::KeyArchived(key_archived(f)?),
        "key_rolled_over" => Event::KeyRolledOver { rollover: key_rollover(f)?, txn: f.string("txn")? },
        "renewal_info_fetched" => Event::RenewalInfoFetched {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            cert_id: f.string("cert_id")?,
            window_start: f.time("window_start")?,
            window_end: f.time("window_end")?,
            renew_at: f.time("renew_at")?,
            next_check: f.time("next_check")?,
            explanation_url: f.opt_string("explanation_url")?,
        },
        "renewal_info_unsupported" => Event::RenewalInfoUnsupported { directory_url: f.string("directory_url")? },
        "hook_run" => Event::HookRun {
            hook: f.token("hook", Hook::parse, "a hook name")?,
            program: f.string("program")?,
            exit_code: f.opt_num("exit_code")?,
        },
        "service_reloaded" => Event::ServiceReloaded {
            service: f.string("service")?,
            program: f.string("program")?,
            exit_code: f.opt_num("exit_code")?,
        },
        "dns_record_added" => Event::DnsRecordAdded(dns_record(f)?),
        "dns_record_removed" => Event::DnsRecordRemoved(dns_record(f)?),
        "params_generated" => {
            Event::ParamsGenerated { cert: f.string("cert")?, dh_bits: f.num("dh_bits")?, millis: f.u64("millis")? }
        }
        "zone_reloaded" => Event::ZoneReloaded {
            zone: f.string("zone")?,
            program: f.string("program")?,
            exit_code: f.opt_num("exit_code")?,
            reason: f.string("reason")?,
        },
        "txn_begun" => Event::TxnBegun(txn_begun(f)?),
        "file_archived" => Event::FileArchived {
            txn: f.string("txn")?,
            path: f.string("path")?,
            archived_to: f.string("archived_to")?,
            sha256: f.string("sha256")?,
        },
        "file_installed" => Event::FileInstalled(FileInstalled {
            txn: f.string("txn")?,
            path: f.string("path")?,
            kind: f.string("kind")?,
            sha256: f.string("sha256")?,
            mode: f.mode("mode")?,
            uid: f.num("uid")?,
            gid: f.num("gid")?,
            installed_copy: f.string("installed_copy")?,
        }),
        "file_removed" => Event::FileRemoved {
            txn: f.string("txn")?,
            path: f.string("path")?,
            archived_to: f.opt_string("archived_to")?,
        },
        "txn_committed" => Event::TxnCommitted { txn: f.string("txn")?, recovered: f.flag_or_false("recovered")? },
        "txn_rolled_back" => Event::TxnRolledBack {
            txn: f.string("txn")?,
            reason: f.string("reason")?,
            recovered: f.flag_or_false("recovered")?,
        },
        "file_restored" => Event::FileRestored {
            path: f.string("path")?,
            sha256: f.string("sha256")?,
            from: f.string("from")?,
            problem: f.string("problem")?,
            archived_to: f.opt_string("archived_to")?,
        },
        "segment_started" => Event::SegmentStarted {
            previous: f.string("previous")?,
            first_seq: f.u64("first_seq")?,
            last_seq: f.u64("last_seq")?,
            sha256: f.string("sha256")?,
            reason: f.string("reason")?,
        },
        "segment_deleted" => Event::SegmentDeleted {
            name: f.string("name")?,
            first_seq: f.u64("first_seq")?,
            last_seq: f.u64("last_seq")?,
            sha256: f.string("sha256")?,
        },
        "challenge_file_written" => Event::ChallengeFileWritten { path: f.string("path")? },
        "challenge_file_removed" => Event::ChallengeFileRemoved { path: f.string("path")? },
        "archive_pruned" => {
            Event::ArchivePruned { key: f.string("key")?, dir: f.string("dir")?, files: f.u64("files")? }
        }
        "renewal_failed" => {
            Event::RenewalFailed { cert: f.string("cert")?, key_type: f.key_type()?, error: f.string("error")? }
        }
        "installation_verified" => Event::InstallationVerified {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            checked: f.num("checked")?,
            failures: f.strings("failures")?,
        },
        "journal_set_aside" => Event::JournalSetAside {
            file: f.string("file")?,
            sha256: f.string("sha256")?,
            lines: f.u64("lines")?,
            problem: f.string("problem")?,
        },
        "file_adopted" => Event::FileAdopted {
            path: f.string("path")?,
            sha256: f.string("sha256")?,
            mode: f.mode("mode")?,
            uid: f.num("uid")?,
            gid: f.num("gid")?,
            installed_copy: f.opt_string("installed_copy")?,
        },
        "file_forgotten" => Event::FileForgotten { path: f.string("path")? },
        "checkpoint" => Event::Checkpoint { state: Snapshot(Fields::required("state", f.raw("state"))?.to_owned()) },
        _ => Event::Other,
    })
}

fn cert_facts(f: &Fields<'_>) -> R<CertFacts> {
    Ok(CertFacts {
        cert: f.string("cert")?,
        key: f.string("key")?,
        key_type: f.key_type()?,
        serial: f.string("serial")?,
        common_name: f.opt_string("common_name")?,
        not_before: f.time("not_before")?,
        not_after: f.time("not_after")?,
        sans: f.strings("sans")?,
        issuer: f.string("issuer")?,
        order_url: f.opt_string("order_url")?,
        spki_sha256: f.string("spki_sha256")?,
        profile: f.opt_string("profile")?,
    })
}

fn key_archived(f: &Fields<'_>) -> R<KeyArchived> {
    Ok(KeyArchived {
        key: f.string("key")?,
        key_type: f.key_type()?,
        role: f.role()?,
        spki_sha256: f.string("spki_sha256")?,
        reason: f.string("reason")?,
    })
}

fn key_rollover(f: &Fields<'_>) -> R<KeyRollover> {
    Ok(KeyRollover {
        key: f.string("key")?,
        key_type: f.key_type()?,
        spki_sha256: f.string("spki_sha256")?,
        path: f.string("path")?,
        previous_spki_sha256: f.opt_string("previous_spki_sha256")?,
    })
}

fn dns_record(f: &Fields<'_>) -> R<DnsRecord> {
    Ok(DnsRecord {
        zone: f.string("zone")?,
        name: f.string("name")?,
        rtype: f.string("rtype")?,
        value_sha256: f.string("value_sha256")?,
        server: f.opt_string("server")?,
        mode: f.string("mode")?,
        usage: f.opt_num("usage")?,
        selector: f.opt_num("selector")?,
        matching: f.opt_num("matching")?,
        digest: f.opt_string("digest")?,
    })
}

fn txn_begun(f: &Fields<'_>) -> R<TxnBegun> {
    Ok(TxnBegun {
        txn: f.string("txn")?,
        key: f.string("key")?,
        archive: f.string("archive")?,
        owner: f.value::<(u32, u32)>("owner")?,
        files: Fields::required("files", f.objects("files", txn_file)?)?,
        effects: f.objects("effects", effect)?.unwrap_or_default(),
    })
}

fn txn_file(f: &Fields<'_>) -> R<TxnFile> {
    Ok(TxnFile {
        path: f.string("path")?,
        kind: f.string("kind")?,
        action: f.token("action", FileAction::parse, "write or remove")?,
        sha256: f.opt_string("sha256")?,
        mode: f.opt_mode("mode")?,
        old_sha256: f.opt_string("old_sha256")?,
        old_mode: f.opt_mode("old_mode")?,
        temp: f.opt_string("temp")?,
    })
}

fn effect(f: &Fields<'_>) -> R<Effect> {
    let kind = f.string("type")?;
    Ok(match kind.as_str() {
        "key_installed" => Effect::KeyInstalled {
            key: f.string("key")?,
            key_type: f.key_type()?,
            role: f.role()?,
            spki_sha256: f.string("spki_sha256")?,
            path: f.string("path")?,
        },
        "key_rolled_over" => Effect::KeyRolledOver(key_rollover(f)?),
        "certificate_installed" => Effect::CertificateInstalled {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
        },
        "key_archived" => Effect::KeyArchived(key_archived(f)?),
        "params_installed" => Effect::ParamsInstalled {
            cert: f.string("cert")?,
            dh_bits: f.opt_num("dh_bits")?,
            ec_curves: f.strings("ec_curves")?,
            key_spkis: f.strings("key_spkis")?,
        },
        "key_file_written" => Effect::KeyFileWritten {
            path: f.string("path")?,
            kind: f.string("kind")?,
            encryption: f.string("encryption")?,
        },
        "sct_stored" => Effect::SctStored {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            log: f.string("log")?,
            log_id: f.string("log_id")?,
            timestamp: f.time("timestamp")?,
        },
        "ocsp_stored" => Effect::OcspStored {
            cert: f.string("cert")?,
            key_type: f.key_type()?,
            serial: f.string("serial")?,
            status: f.string("status")?,
            this_update: f.time("this_update")?,
            next_update: f.opt_time("next_update")?,
            produced_at: f.time("produced_at")?,
        },
        // An effect this version does not know could make the replayed state
        // wrong: refuse to read it rather than guess.
        other => return Err(FieldError::Field(format!("unknown effect type {other:?}"))),
    })
}

/// An event from a JSON value (tests build events this way).
#[cfg(test)]
pub fn event_from_json(v: &serde_json::Value) -> R<Event> {
    let text = serde_json::to_vec(v).expect("a JSON value serializes");
    let ty = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    read_event(ty, &Fields::of(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Time {
        Time::parse(s).unwrap()
    }

    /// One of every event this version writes, with every optional field set
    /// and with it missing.
    fn every_event() -> Vec<Event> {
        let facts = |order_url: Option<String>, common_name: Option<String>| CertFacts {
            cert: "c".into(),
            key: "k".into(),
            key_type: KeyType::Ecdsa,
            serial: "01".into(),
            common_name,
            not_before: t("2026-11-29T00:00:00Z"),
            not_after: t("2027-02-27T00:00:00.5Z"),
            sans: vec!["c".into(), "www.c".into()],
            issuer: "CN=CA \"x\"".into(),
            profile: order_url.as_ref().map(|_| "shortlived".into()),
            order_url,
            spki_sha256: "p".into(),
        };
        let rollover = |prev: Option<String>| KeyRollover {
            key: "k".into(),
            key_type: KeyType::Rsa,
            spki_sha256: "b".into(),
            path: "/k".into(),
            previous_spki_sha256: prev,
        };
        let archived = KeyArchived {
            key: "k".into(),
            key_type: KeyType::Rsa,
            role: KeyRole::Primary,
            spki_sha256: "a".into(),
            reason: "revoked".into(),
        };
        let record = |server: Option<String>, tlsa: bool| DnsRecord {
            zone: "z".into(),
            name: "_25._tcp.mail.z.".into(),
            rtype: if tlsa { "TLSA" } else { "TXT" }.into(),
            value_sha256: "h".into(),
            server,
            mode: "remote".into(),
            usage: tlsa.then_some(3),
            selector: tlsa.then_some(1),
            matching: tlsa.then_some(1),
            digest: tlsa.then(|| "d".into()),
        };
        let file = |write: bool| TxnFile {
            path: "/etc/ssl/certs/c.pem".into(),
            kind: "certificate".into(),
            action: if write { FileAction::Write } else { FileAction::Remove },
            sha256: write.then(|| "n".into()),
            mode: write.then_some(Mode(0o644)),
            old_sha256: Some("o".into()),
            old_mode: Some(Mode(0o640)),
            temp: write.then(|| "/etc/ssl/certs/.c.pem.acmebot-1".into()),
        };
        let s = |x: &str| x.to_string();
        vec![
            Event::RunStarted { version: s("0.1.0"), pid: u32::MAX, args: vec![s("--renew")], config: s("/a.json") },
            Event::RunFinished { exit_code: -1, changed: true },
            Event::JournalRepaired { torn_saved_to: s("/j.torn"), bytes: u64::MAX },
            Event::AccountKeyGenerated { path: s("/c.json"), key_type: KeyType::Rsa, thumbprint: s("t") },
            Event::AccountKeyRolledOver {
                account_url: s("u"),
                old_thumbprint: s("a"),
                new_thumbprint: s("b"),
                key_type: KeyType::Ecdsa,
            },
            Event::AccountRegistered {
                directory_url: s("d"),
                account_url: s("u"),
                thumbprint: s("t"),
                contact: vec![s("mailto:a@b")],
                tos_agreed: false,
            },
            Event::KeyGenerated {
                key: s("k"),
                key_type: KeyType::Rsa,
                role: KeyRole::Backup,
                spki_sha256: s("s"),
                path: s("/p"),
                txn: None,
            },
            Event::KeyGenerated {
                key: s("k"),
                key_type: KeyType::Rsa,
                role: KeyRole::Previous,
                spki_sha256: s("s"),
                path: s("/p"),
                txn: Some(s("t")),
            },
            Event::KeyAdopted {
                key: s("k"),
                key_type: KeyType::Ecdsa,
                role: KeyRole::Primary,
                spki_sha256: s("s"),
                path: s("/p"),
                sha256: s("h"),
                modified: None,
            },
            Event::KeyAdopted {
                key: s("k"),
                key_type: KeyType::Rsa,
                role: KeyRole::Backup,
                spki_sha256: s("s"),
                path: s("/p"),
                sha256: s("h"),
                modified: Some(t("2024-02-03T04:05:06Z")),
            },
            Event::AuthorizationObtained {
                name: s("n"),
                challenge: s("dns-01"),
                url: s("u"),
                expires: Some(t("2026-12-31T00:00:00Z")),
            },
            Event::AuthorizationObtained { name: s("n"), challenge: s("http-01"), url: s("u"), expires: None },
            Event::ChallengeFailed { name: s("n"), challenge: s("dns-01"), url: s("u"), error: s("e\n\"q\"") },
            Event::OrderCreated { order_url: s("o"), names: vec![], key_type: KeyType::Ecdsa },
            Event::CertificateIssued(facts(Some(s("o")), Some(s("c")))),
            Event::CertificateIssued(facts(None, None)),
            Event::CertificateInstalled { cert: s("c"), key_type: KeyType::Rsa, serial: s("01"), txn: s("t") },
            Event::CertificateAdopted { facts: facts(None, Some(s("c"))), path: s("/c.pem"), sha256: s("h") },
            Event::CertificateRevoked {
                cert: s("c"),
                key: s("k"),
                key_type: KeyType::Rsa,
                serial: s("01"),
                reason: s("keyCompromise"),
            },
            Event::KeyArchived(archived.clone()),
            Event::KeyRolledOver { rollover: rollover(Some(s("a"))), txn: s("t") },
            Event::KeyRolledOver { rollover: rollover(None), txn: s("t") },
            Event::RenewalInfoFetched {
                cert: s("c"),
                key_type: KeyType::Ecdsa,
                serial: s("01"),
                cert_id: s("id"),
                window_start: t("2027-01-01T00:00:00Z"),
                window_end: t("2027-01-02T00:00:00Z"),
                renew_at: t("2027-01-01T12:00:00.000001Z"),
                next_check: t("2026-12-02T00:00:00Z"),
                explanation_url: Some(s("e")),
            },
            Event::RenewalInfoUnsupported { directory_url: s("d") },
            Event::HookRun { hook: Hook::CertificateInstalled, program: s("/bin/true"), exit_code: Some(0) },
            Event::HookRun { hook: Hook::PrivateKeyRollover, program: s("/bin/x"), exit_code: None },
            Event::ServiceReloaded { service: s("nginx"), program: s("systemctl"), exit_code: Some(i32::MIN) },
            Event::DnsRecordAdded(record(Some(s("127.0.0.1:53")), false)),
            Event::DnsRecordRemoved(record(None, true)),
            Event::ZoneReloaded { zone: s("z"), program: s("rndc"), exit_code: Some(1), reason: s("challenge") },
            Event::ParamsGenerated { cert: s("c"), dh_bits: 2048, millis: 1234 },
            Event::TxnBegun(TxnBegun {
                txn: s("t"),
                key: s("k"),
                archive: s("/a"),
                owner: Some((0, u32::MAX)),
                files: vec![file(true), file(false)],
                effects: vec![
                    Effect::KeyInstalled {
                        key: s("k"),
                        key_type: KeyType::Rsa,
                        role: KeyRole::Primary,
                        spki_sha256: s("s"),
                        path: s("/p"),
                    },
                    Effect::KeyRolledOver(rollover(None)),
                    Effect::CertificateInstalled { cert: s("c"), key_type: KeyType::Ecdsa, serial: s("02") },
                    Effect::KeyArchived(archived),
                    Effect::SctStored {
                        cert: s("c"),
                        key_type: KeyType::Ecdsa,
                        serial: s("02"),
                        log: s("google_argon"),
                        log_id: s("aWQ="),
                        timestamp: t("2026-12-02T10:00:00.123Z"),
                    },
                    Effect::ParamsInstalled {
                        cert: s("c"),
                        dh_bits: Some(2048),
                        ec_curves: vec![s("secp384r1")],
                        key_spkis: vec![s("aa"), s("bb")],
                    },
                    Effect::ParamsInstalled { cert: s("c"), dh_bits: None, ec_curves: vec![], key_spkis: vec![] },
                    Effect::KeyFileWritten {
                        path: s("/k.rsa.key"),
                        kind: s("private_key"),
                        encryption: s("pkcs8-pbes2-scrypt-aes-256-cbc"),
                    },
                    Effect::OcspStored {
                        cert: s("c"),
                        key_type: KeyType::Rsa,
                        serial: s("03"),
                        status: s("good"),
                        this_update: t("2026-12-02T00:00:00Z"),
                        next_update: Some(t("2026-12-09T00:00:00Z")),
                        produced_at: t("2026-12-02T00:00:01Z"),
                    },
                    Effect::OcspStored {
                        cert: s("c"),
                        key_type: KeyType::Ecdsa,
                        serial: s("02"),
                        status: s("good"),
                        this_update: t("2026-12-02T00:00:00Z"),
                        next_update: None,
                        produced_at: t("2026-12-02T00:00:00Z"),
                    },
                ],
            }),
            Event::TxnBegun(TxnBegun {
                txn: s("t"),
                key: s("k"),
                archive: s("/a"),
                owner: None,
                files: vec![],
                effects: vec![],
            }),
            Event::FileArchived { txn: s("t"), path: s("/p"), archived_to: s("/a/p"), sha256: s("h") },
            Event::FileInstalled(FileInstalled {
                txn: s("t"),
                path: s("/p"),
                kind: s("private_key"),
                sha256: s("h"),
                mode: Mode(0o600),
                uid: 0,
                gid: 101,
                installed_copy: s("/a/installed/p"),
            }),
            Event::FileRemoved { txn: s("t"), path: s("/p"), archived_to: None },
            Event::TxnCommitted { txn: s("t"), recovered: false },
            Event::TxnCommitted { txn: s("t"), recovered: true },
            Event::TxnRolledBack { txn: s("t"), reason: s("r"), recovered: true },
            Event::SegmentStarted {
                previous: s("journal.0000000001.jsonl"),
                first_seq: 1,
                last_seq: 4213,
                sha256: s("h"),
                reason: s("compacted"),
            },
            Event::SegmentDeleted { name: s("journal.0000000001.jsonl"), first_seq: 1, last_seq: 9, sha256: s("h") },
            Event::JournalSetAside {
                file: s("journal.jsonl.damaged-x"),
                sha256: s("h"),
                lines: 3,
                problem: s("line 5"),
            },
            Event::FileAdopted {
                path: s("/p"),
                sha256: s("h"),
                mode: Mode(0o640),
                uid: 0,
                gid: 7,
                installed_copy: None,
            },
            Event::FileAdopted {
                path: s("/p"),
                sha256: s("h"),
                mode: Mode(0o640),
                uid: 0,
                gid: 7,
                installed_copy: Some(s("/a/k/s/installed/p")),
            },
            Event::FileForgotten { path: s("/p") },
            Event::ChallengeFileWritten { path: s("/w/t") },
            Event::ChallengeFileRemoved { path: s("/w/t") },
            Event::ArchivePruned { key: s("k"), dir: s("/a/k/2026_01_01_000000"), files: 6 },
            Event::RenewalFailed { cert: s("c"), key_type: KeyType::Ecdsa, error: s("ACME server: rateLimited") },
            Event::InstallationVerified {
                cert: s("c"),
                key_type: KeyType::Rsa,
                serial: s("0a"),
                checked: 3,
                failures: vec![s("c.test at 127.0.0.1:25: no STARTTLS")],
            },
            Event::Checkpoint { state: crate::journal::State::new().snapshot() },
            Event::FileRestored {
                path: s("/p"),
                sha256: s("h"),
                from: s("/a/installed/p"),
                problem: s("missing"),
                archived_to: Some(s("/a/p-altered")),
            },
        ]
    }

    #[test]
    fn every_event_reads_back_as_written() {
        for e in every_event() {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(event_from_json(&v).as_ref(), Ok(&e), "{v}");
        }
    }

    /// A line is the envelope around the event's fields exactly as a JSON
    /// tree of them is written (as lines were made before they were written
    /// as text): journals stay byte for byte what they were.
    #[test]
    fn every_event_is_written_as_a_json_tree_of_its_fields() {
        use serde_json::{Map, Value};
        let ts = t("2026-11-29T10:00:00.123456Z");
        for e in every_event().into_iter().filter(|e| !matches!(e, Event::Checkpoint { .. })) {
            for clock in [None, Some(t("2026-11-29T09:00:00Z"))] {
                let Value::Object(ev) = serde_json::to_value(&e).unwrap() else { panic!("{e:?}") };
                let mut m = Map::new();
                m.insert("v".into(), Value::from(1));
                m.insert("seq".into(), Value::from(7));
                m.insert("ts".into(), Value::from(ts.rfc3339_micros()));
                m.insert("type".into(), ev["type"].clone());
                m.extend(ev.into_iter().filter(|(k, _)| k != "type"));
                if let Some(c) = clock {
                    m.insert("clock".into(), Value::from(c.rfc3339_micros()));
                }
                m.insert("prev".into(), Value::from("ab"));
                let tree = serde_json::to_string(&Value::Object(m)).unwrap();
                assert_eq!(crate::journal::chain::format_line(7, ts, clock, &e, "ab").unwrap(), tree);
            }
        }
    }

    #[test]
    fn optional_fields_may_be_null_or_missing_and_unknown_fields_are_ignored() {
        let v = json!({"type":"authorization_obtained","name":"n","challenge":"c","url":"u","expires":null,"new":[1]});
        let Ok(Event::AuthorizationObtained { expires: None, .. }) = event_from_json(&v) else { panic!() };
        let v = json!({"type":"txn_committed","txn":"t"});
        assert_eq!(event_from_json(&v), Ok(Event::TxnCommitted { txn: "t".into(), recovered: false }));
        let v = json!({"type":"file_installed","txn":"t","path":"/p","kind":"k","sha256":"h","mode":416,"uid":0,"gid":0,
            "installed_copy":"/c"});
        let Ok(Event::FileInstalled(f)) = event_from_json(&v) else { panic!() };
        assert_eq!(f.mode, Mode(0o640), "a numeric mode (as early versions wrote it)");
    }

    #[test]
    fn bad_fields_are_named() {
        let err = |v: serde_json::Value| event_from_json(&v).unwrap_err().to_string();
        assert_eq!(err(json!({"type":"txn_committed"})), "missing field `txn`");
        assert_eq!(err(json!({"type":"txn_committed","txn":null})), "missing field `txn`");
        assert_eq!(
            err(json!({"type":"run_finished","exit_code":"0","changed":true})),
            "field `exit_code`: invalid type: string \"0\", expected i64"
        );
        assert_eq!(
            err(json!({"type":"run_started","version":"v","pid":-1,"args":[],"config":"c"})),
            "field `pid`: -1 is out of range"
        );
        assert_eq!(
            err(
                json!({"type":"key_archived","key":"k","key_type":"dsa","role":"primary","spki_sha256":"s","reason":"r"})
            ),
            "field `key_type`: \"dsa\" is not a key type (rsa, ecdsa)"
        );
        assert_eq!(
            err(json!({"type":"txn_begun","txn":"t","key":"k","archive":"a","owner":null,"files":[],
                "effects":[{"type":"certificate_installed","cert":"c","key_type":"rsa"}]})),
            "field `effects`[0]: missing field `serial`"
        );
        assert_eq!(
            err(json!({"type":"txn_begun","txn":"t","key":"k","archive":"a","owner":null,"files":[],
                "effects":[{"type":"dns_changed"}]})),
            "field `effects`[0]: unknown effect type \"dns_changed\""
        );
        let dup = br#"{"type":"txn_committed","txn":"a","txn":"b"}"#;
        assert!(Fields::of(dup).err().unwrap().to_string().contains("duplicate field `txn`"));
        assert!(matches!(Fields::of(b"{\"type\":"), Err(FieldError::Syntax(_))));
        assert!(matches!(Fields::of(b"[1]"), Err(FieldError::Field(_))));
    }
}
