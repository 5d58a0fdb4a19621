//! When does a certificate need issuing? A pure decision over what is known
//! (journal state checked against the file) and what is configured.

use crate::time::{Timestamp, DAY};

/// What is known about the installed certificate of one name and key type.
#[derive(Clone, Debug)]
pub struct Installed<'a> {
    pub common_name: Option<&'a str>,
    pub sans: &'a [String],
    pub spki_sha256: &'a str,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Missing,
    Forced,
    /// The primary key was rolled over to the backup key.
    KeyRolledOver,
    /// The certificate's public key is not the primary key's.
    KeyMismatch,
    CommonNameChanged {
        was: String,
        now: String,
    },
    NamesChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    Expiring {
        days_left: i64,
    },
    Expired,
    /// The configured certificate profile is not the one it was ordered with.
    ProfileChanged {
        was: String,
        now: String,
    },
    /// The CA's ARI window (RFC 9773) says renew now.
    RenewalWindow {
        start: String,
        end: String,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Missing => write!(f, "no certificate installed"),
            Reason::Forced => write!(f, "renewal requested (--renew)"),
            Reason::KeyRolledOver => write!(f, "private key rolled over to the backup key"),
            Reason::KeyMismatch => write!(f, "certificate does not match the private key"),
            Reason::CommonNameChanged { was, now } => write!(f, "common name changed from {was} to {now}"),
            Reason::NamesChanged { added, removed } => {
                write!(f, "alternative names changed")?;
                if !added.is_empty() {
                    write!(f, " (added {})", added.join(", "))?;
                }
                if !removed.is_empty() {
                    write!(f, " (removed {})", removed.join(", "))?;
                }
                Ok(())
            }
            Reason::Expiring { days_left } => write!(f, "expires in {days_left} days"),
            Reason::Expired => write!(f, "certificate has expired"),
            Reason::RenewalWindow { start, end } => write!(f, "inside the CA's renewal window {start} .. {end}"),
            Reason::ProfileChanged { was, now } => {
                let name = |p: &str| if p.is_empty() { "none".to_string() } else { format!("{p:?}") };
                write!(f, "certificate profile changed from {} to {}", name(was), name(now))
            }
        }
    }
}

/// Renew when forced, missing, mismatched, renamed, or within `renewal_days` of
/// expiry. For short-lived certificates (lifetime up to 3 × renewal_days) the
/// window is instead the last third of the lifetime, so a 6-day certificate is
/// not renewed on every run.
pub fn reason(
    installed: Option<&Installed<'_>>,
    common_name: &str,
    names: &[String],
    key_spki_sha256: &str,
    renewal_days: u32,
    forced: bool,
    now: Timestamp,
) -> Option<Reason> {
    let Some(c) = installed else { return Some(Reason::Missing) };
    if forced {
        return Some(Reason::Forced);
    }
    if c.spki_sha256 != key_spki_sha256 {
        return Some(Reason::KeyMismatch);
    }
    let want: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let have: std::collections::BTreeSet<&str> = c.sans.iter().map(String::as_str).collect();
    if want != have {
        return Some(Reason::NamesChanged {
            added: want.difference(&have).map(|s| s.to_string()).collect(),
            removed: have.difference(&want).map(|s| s.to_string()).collect(),
        });
    }
    if let Some(cn) = c.common_name {
        if !cn.eq_ignore_ascii_case(common_name) {
            return Some(Reason::CommonNameChanged { was: cn.to_string(), now: common_name.to_string() });
        }
    }
    if c.not_after <= now {
        return Some(Reason::Expired);
    }
    let lifetime = c.not_after - c.not_before;
    let window = (renewal_days as i64 * DAY).min(lifetime / 3);
    if c.not_after - now <= window {
        return Some(Reason::Expiring { days_left: (c.not_after - now) / DAY });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_795_968_146;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn decisions() {
        let sans = names(&["example.com", "www.example.com"]);
        let c = Installed {
            common_name: Some("example.com"),
            sans: &sans,
            spki_sha256: "k",
            not_before: NOW - 10 * DAY,
            not_after: NOW + 80 * DAY,
        };
        let r = |c: &Installed, n: &[String], forced| reason(Some(c), "example.com", n, "k", 30, forced, NOW);
        assert_eq!(reason(None, "example.com", &sans, "k", 30, false, NOW), Some(Reason::Missing));
        assert_eq!(r(&c, &sans, false), None);
        assert_eq!(r(&c, &sans, true), Some(Reason::Forced));
        assert_eq!(reason(Some(&c), "example.com", &sans, "other", 30, false, NOW), Some(Reason::KeyMismatch));
        let more = names(&["example.com", "www.example.com", "mail.example.com"]);
        assert_eq!(
            r(&c, &more, false),
            Some(Reason::NamesChanged { added: names(&["mail.example.com"]), removed: vec![] })
        );
        let soon = Installed { not_before: NOW - 60 * DAY, not_after: NOW + 29 * DAY + 5, ..c.clone() };
        assert_eq!(r(&soon, &sans, false), Some(Reason::Expiring { days_left: 29 }));
        let gone = Installed { not_after: NOW - 1, ..c.clone() };
        assert_eq!(r(&gone, &sans, false), Some(Reason::Expired));
        // A 6-day certificate with 5 days left is not renewed although renewal_days is 30 ...
        let short = Installed { not_before: NOW - DAY, not_after: NOW + 5 * DAY, ..c.clone() };
        assert_eq!(r(&short, &sans, false), None);
        // ... but is in its last third.
        let short_late = Installed { not_before: NOW - 4 * DAY - 1, not_after: NOW + 2 * DAY - 1, ..c.clone() };
        assert_eq!(r(&short_late, &sans, false), Some(Reason::Expiring { days_left: 1 }));
    }
}
