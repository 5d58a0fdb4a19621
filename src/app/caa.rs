//! `--show-caa`: the CAA records (RFC 8659) that let only this ACME account
//! (RFC 8657 `accounturi`) obtain certificates for the configured zones, and
//! only by the validation methods this configuration answers with (RFC 8657
//! `validationmethods`): `http-01` for a name with an http challenge
//! directory, `dns-01` otherwise, and always `dns-01` for a wildcard.
//!
//! Read-only, like `--replay`: it takes no lock, writes nothing and contacts
//! nothing. The account URL comes from `registration.json` (what the runs use)
//! or the journal (`account_registered`); the CA's CAA identity is not stored
//! anywhere acmebot can read offline (the directory's `meta.caaIdentities`),
//! so it is derived from the directory URL, and the output says so.

use std::collections::{BTreeMap, BTreeSet};

use super::account::same_origin;
use super::error::{AppError, R};
use crate::config::Config;
use crate::journal;
use crate::output;

const HTTP_01: &str = "http-01";
const DNS_01: &str = "dns-01";

/// `--show-caa` for the zones of the private keys named (all when none).
pub fn show_caa(config: &Config, key_names: &[String]) -> i32 {
    match text(config, key_names) {
        Ok(text) => {
            output::print(&text);
            0
        }
        Err(e) => {
            tracing::error!("{e}");
            e.code() as i32
        }
    }
}

fn text(config: &Config, key_names: &[String]) -> R<String> {
    let selected = super::select_keys(config, key_names)?;
    let account = account(config)?;
    let issuer = issuer(&config.settings.acme_directory_url)?;
    let all = zones(config);
    // A zone's records are shared by every name in it: they are computed over
    // the whole configuration, and naming keys only picks the zones shown.
    let shown: Vec<(&String, &Zone)> =
        all.iter().filter(|(_, z)| key_names.is_empty() || selected.iter().any(|k| z.keys.contains(&k.name))).collect();
    render(&shown, &issuer, &account)
}

/// What the records of one zone cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Zone {
    /// Private keys with a certificate naming something in the zone.
    keys: BTreeSet<String>,
    certificates: BTreeSet<String>,
    /// Names of the `authorizations` section in the zone.
    authorizations: BTreeSet<String>,
    /// How the zone's names that are not wildcards are validated.
    methods: BTreeSet<&'static str>,
    /// A name in the zone is a wildcard (validated by dns-01 only).
    wildcard: bool,
}

impl Zone {
    fn add(&mut self, config: &Config, fqdn: &str, zone: &str) {
        if fqdn.starts_with("*.") {
            self.wildcard = true;
        } else {
            self.methods.insert(if config.http_challenge_dir(fqdn, zone).is_some() { HTTP_01 } else { DNS_01 });
        }
    }
}

/// Every zone of the certificates (and of the `authorizations` section), with
/// the methods its names are validated by: those `authz` answers with.
fn zones(config: &Config) -> BTreeMap<String, Zone> {
    let mut zones: BTreeMap<String, Zone> = BTreeMap::new();
    for key in &config.private_keys {
        for cert in &key.certificates {
            for names in cert.alt_names.iter().filter(|n| !n.zone.is_empty()) {
                let zone = zones.entry(names.zone.clone()).or_default();
                zone.keys.insert(key.name.clone());
                zone.certificates.insert(cert.name.clone());
                names.fqdns.iter().for_each(|f| zone.add(config, f, &names.zone));
            }
        }
    }
    for names in config.authorizations.iter().filter(|n| !n.zone.is_empty()) {
        let zone = zones.entry(names.zone.clone()).or_default();
        for fqdn in &names.fqdns {
            zone.authorizations.insert(fqdn.clone());
            zone.add(config, fqdn, &names.zone);
        }
    }
    zones
}

/// The issuer domain name of the CA's CAA identity, and what the output
/// says about where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Issuer {
    domain: String,
    /// The CA whose documented identity this is; `None`: the directory's host, a guess.
    known_as: Option<&'static str>,
}

/// Host suffix of an ACME directory → the CAA identity its CA documents (the
/// first of its directory's `meta.caaIdentities`), and the CA's name.
const KNOWN_CAS: [(&str, &str, &str); 7] = [
    ("letsencrypt.org", "letsencrypt.org", "Let's Encrypt"),
    ("pki.goog", "pki.goog", "Google Trust Services"),
    ("zerossl.com", "sectigo.com", "ZeroSSL (Sectigo)"),
    ("sectigo.com", "sectigo.com", "Sectigo"),
    ("ssl.com", "ssl.com", "SSL.com"),
    ("buypass.com", "buypass.com", "Buypass"),
    ("buypass.no", "buypass.com", "Buypass"),
];

/// The issuer domain for the directory at `directory_url`: a known CA's
/// documented CAA identity, else the directory's host.
fn issuer(directory_url: &str) -> R<Issuer> {
    let rest = directory_url.split_once("://").map(|(_, r)| r).unwrap_or(directory_url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let known = KNOWN_CAS.iter().find(|(suffix, _, _)| host == *suffix || host.ends_with(&format!(".{suffix}")));
    let issuer = match known {
        Some(&(_, domain, name)) => Issuer { domain: domain.to_string(), known_as: Some(name) },
        None => Issuer { domain: host.clone(), known_as: None },
    };
    if !is_issuer_domain_name(&issuer.domain) {
        let detail = format!(
            "no CAA issuer domain name can be derived from the ACME directory's host {host:?}: \
             write the records by hand with the CA's CAA identity (its directory's meta.caaIdentities)"
        );
        return Err(AppError::setting("settings.acme_directory_url", detail));
    }
    Ok(issuer)
}

/// RFC 8659 §4.2: `issuer-domain-name = label *("." label)`,
/// `label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`.
fn is_issuer_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// RFC 8657 §3: `accounturi` is a URI (RFC 3986); as an RFC 8659 parameter
/// value it may hold no `;` and nothing outside %x21-7E.
fn is_account_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let uri_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,=%".contains(c);
    scheme_ok && !rest.is_empty() && rest.chars().all(uri_char)
}

/// The account the records name, and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    url: String,
    from: &'static str,
}

/// The account URL, without network: `registration.json` (what the runs use)
/// and the journal's last `account_registered`, each only when it is with
/// the configured CA. Neither: an error saying to register first.
fn account(config: &Config) -> R<Account> {
    let directory = &config.settings.acme_directory_url;
    let reg_path = config.resource_dir().join("registration.json");
    let registered = match super::plan::read_private(&reg_path)? {
        Some(found) => {
            let reg: serde_json::Value = serde_json::from_slice(&found.bytes)
                .map_err(|e| AppError::setting(reg_path.display().to_string(), e.to_string()))?;
            reg.get("uri").and_then(|u| u.as_str()).filter(|u| same_origin(u, directory)).map(str::to_string)
        }
        None => None,
    };
    let mut elsewhere = None;
    let journaled = match journal::read(config.journal_path()) {
        Ok(outcome) => {
            for p in &outcome.scanned.problems {
                tracing::warn!("journal {}: {p}", config.journal_path().display());
            }
            let account = outcome.state.account;
            elsewhere = account.as_ref().filter(|a| !same_origin(&a.directory_url, directory)).cloned();
            account.filter(|a| same_origin(&a.directory_url, directory)).map(|a| a.account_url)
        }
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    };
    match (registered, journaled) {
        (Some(r), Some(j)) if r == j => Ok(Account { url: r, from: "registration.json and the journal" }),
        (Some(r), Some(j)) => {
            tracing::warn!(
                "registration.json names account {r}, the journal's last registration {j}: \
                 the records name registration.json's, which the runs use"
            );
            Ok(Account { url: r, from: "registration.json" })
        }
        (Some(r), None) => Ok(Account { url: r, from: "registration.json" }),
        (None, Some(j)) => Ok(Account { url: j, from: "the journal" }),
        (None, None) => {
            let other = elsewhere
                .map(|a| format!(" (the journal's account {} is with {})", a.account_url, a.directory_url))
                .unwrap_or_default();
            let detail = format!(
                "no ACME account is registered with {directory} yet{other}: register first \
                 (acmebot --register, or a run that issues), then ask for the CAA records again"
            );
            Err(AppError::setting("account", detail))
        }
    }
}

/// The records, zone by zone, with `;` comments a zone file takes as they are.
fn render(zones: &[(&String, &Zone)], issuer: &Issuer, account: &Account) -> R<String> {
    if !is_account_uri(&account.url) {
        let detail = format!(
            "account URL {:?} cannot be written as an RFC 8657 accounturi (a URI without ';' or spaces)",
            account.url
        );
        return Err(AppError::setting("account", detail));
    }
    let mut out = String::new();
    out.push_str(
        "; CAA records (RFC 8659) for the zones acmebot obtains certificates in: only this ACME account\n\
         ; may have certificates issued (accounturi), and only by the validation methods acmebot answers\n\
         ; with here (validationmethods, RFC 8657). Publish them at each zone's apex; a name below it that\n\
         ; has CAA records of its own (or is an alias of a name that has) is governed by those instead.\n",
    );
    out.push_str(&format!("; Account {} (from {})\n", account.url, account.from));
    match issuer.known_as {
        Some(ca) => out.push_str(&format!(
            "; Issuer {}: {ca}'s documented CAA identity (not read from its directory: this contacts nothing)\n",
            issuer.domain
        )),
        None => out.push_str(&format!(
            "; Issuer {}: the ACME directory's host, a guess; check the CA's documented CAA identity (its\n\
             ; directory's meta.caaIdentities) and put that in its place\n",
            issuer.domain
        )),
    }
    if zones.is_empty() {
        out.push_str("; no zones: no certificate is configured\n");
    }
    let params = |methods: &[&str]| {
        format!("{}; accounturi={}; validationmethods={}", issuer.domain, account.url, methods.join(","))
    };
    for (name, zone) in zones {
        let mut covers = Vec::new();
        if !zone.certificates.is_empty() {
            covers.push(format!("certificates: {}", join(&zone.certificates)));
        }
        if !zone.authorizations.is_empty() {
            covers.push(format!("authorizations: {}", join(&zone.authorizations)));
        }
        out.push_str(&format!("\n; zone {name} ({})\n", covers.join("; ")));
        // Only wildcards in the zone: the issue record still keeps the zone's
        // other names to this account, by the method its names use.
        let issue: Vec<&str> =
            if zone.methods.is_empty() { vec![DNS_01] } else { zone.methods.iter().copied().collect() };
        out.push_str(&format!("{name}. IN CAA 0 issue \"{}\"\n", params(&issue)));
        if zone.wildcard {
            out.push_str(&format!("{name}. IN CAA 0 issuewild \"{}\"\n", params(&[DNS_01])));
        }
    }
    Ok(out)
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE_ACCOUNT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/123";

    fn config(json: &str) -> Config {
        let dir = crate::test_support::scratch_dir("caa");
        let path = dir.join("acmebot.json");
        std::fs::write(&path, json).unwrap();
        crate::config::load(&path).unwrap_or_else(|e| panic!("{e}")).config
    }

    fn le_account() -> Account {
        Account { url: LE_ACCOUNT.into(), from: "registration.json" }
    }

    fn le() -> Issuer {
        issuer("https://acme-v02.api.letsencrypt.org/directory").unwrap()
    }

    fn shown(config: &Config) -> String {
        let all = zones(config);
        let list: Vec<(&String, &Zone)> = all.iter().collect();
        render(&list, &le(), &le_account()).unwrap()
    }

    /// The record lines alone.
    fn records(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with(';') && !l.is_empty()).collect()
    }

    #[test]
    fn methods_per_zone_and_issuewild_only_with_a_wildcard() {
        let c = config(
            r#"{
            "account": {"email": "admin@example.com"},
            "http_challenges": {"www.example.com": "/var/www/acme", "mail.example.com": null},
            "certificates": {
                "example.com": {"alt_names": {"example.com": ["@", "www"], "example.net": ["@", "*"]}},
                "mail.example.com": {"alt_names": {"example.com": ["mail"]}},
                "only-wild.example.org": {"common_name": "*.example.org", "alt_names": {"example.org": ["*"]}}
            }
        }"#,
        );
        let text = shown(&c);
        let issue = |zone: &str, methods: &str| {
            format!("{zone}. IN CAA 0 issue \"letsencrypt.org; accounturi={LE_ACCOUNT}; validationmethods={methods}\"")
        };
        let wild = |zone: &str| {
            format!("{zone}. IN CAA 0 issuewild \"letsencrypt.org; accounturi={LE_ACCOUNT}; validationmethods=dns-01\"")
        };
        assert_eq!(
            records(&text),
            vec![
                issue("example.com", "dns-01,http-01"),
                issue("example.net", "dns-01"),
                wild("example.net"),
                issue("example.org", "dns-01"),
                wild("example.org"),
            ],
            "{text}"
        );
        assert!(text.contains("\n; zone example.com (certificates: example.com, mail.example.com)\n"), "{text}");
        assert!(text.contains("\n; zone example.net (certificates: example.com)\n"), "{text}");
        assert!(text.contains("; Account https://acme-v02.api.letsencrypt.org/acme/acct/123 (from registration.json)"));
        assert!(text.contains("; Issuer letsencrypt.org: Let's Encrypt's documented CAA identity (not read"), "{text}");
    }

    #[test]
    fn a_default_http_challenge_directory_makes_every_plain_name_http_01() {
        let c = config(
            r#"{
            "account": {"email": "admin@example.com"},
            "directories": {"http_challenge": "/var/www/{zone}/{host}/.well-known/acme-challenge"},
            "certificates": {"example.com": {"alt_names": {"example.com": ["@", "*"]}},
                             "www.example.co.uk": {}}
        }"#,
        );
        let all = zones(&c);
        assert_eq!(all["example.com"].methods, BTreeSet::from([HTTP_01]));
        assert!(all["example.com"].wildcard, "the wildcard is dns-01 whatever the directory");
        // Without alt_names: the zone the configuration computes (the registered domain).
        assert_eq!(all["example.co.uk"].certificates, BTreeSet::from(["www.example.co.uk".to_string()]));
        let text = shown(&c);
        assert!(text.contains("example.com. IN CAA 0 issue \"letsencrypt.org; accounturi="), "{text}");
        assert!(text.contains("; validationmethods=http-01\"\nexample.com. IN CAA 0 issuewild"), "{text}");
    }

    #[test]
    fn authorizations_count_in_their_zones() {
        let c = config(
            r#"{
            "account": {"email": "admin@example.com"},
            "authorizations": {"example.com": ["@", "*"], "example.org": ["www"]},
            "http_challenges": {"www.example.org": "/var/www/acme"},
            "certificates": {"example.com": {"alt_names": {"example.com": ["@"]}}}
        }"#,
        );
        let all = zones(&c);
        assert!(all["example.com"].wildcard);
        assert_eq!(all["example.org"].methods, BTreeSet::from([HTTP_01]));
        assert!(shown(&c).contains(
            "\n; zone example.com (certificates: example.com; authorizations: *.example.com, example.com)\n"
        ));
    }

    #[test]
    fn issuer_domains() {
        assert_eq!(le(), Issuer { domain: "letsencrypt.org".into(), known_as: Some("Let's Encrypt") });
        let staging = issuer("https://acme-staging-v02.api.letsencrypt.org/directory").unwrap();
        assert_eq!(staging.domain, "letsencrypt.org");
        assert_eq!(issuer("https://dv.acme-v02.api.pki.goog/directory").unwrap().domain, "pki.goog");
        assert_eq!(issuer("https://acme.zerossl.com/v2/DV90").unwrap().domain, "sectigo.com");
        let other = issuer("https://ACME.Example.net:8443/dir").unwrap();
        assert_eq!(other, Issuer { domain: "acme.example.net".into(), known_as: None });
        let text = render(&[], &other, &le_account()).unwrap();
        assert!(text.contains("; Issuer acme.example.net: the ACME directory's host, a guess; check"), "{text}");
        assert!(text.contains("; no zones"), "{text}");
        assert!(!issuer("https://[::1]:14000/dir").unwrap_err().to_string().is_empty());
        assert_eq!(issuer("https://xletsencrypt.org/dir").unwrap().known_as, None);
    }

    #[test]
    fn an_account_url_that_is_no_caa_value_is_refused() {
        for bad in ["https://ca.example/acct/1;x=y", "https://ca.example/acct/ 1", "acct/1", "https://ca.example/\"1"] {
            let account = Account { url: bad.into(), from: "the journal" };
            let e = render(&[], &le(), &account).unwrap_err();
            assert_eq!(e.code(), crate::cli::ErrorCode::Config, "{bad}");
            assert!(e.to_string().contains("accounturi"), "{e}");
        }
        assert!(is_account_uri(LE_ACCOUNT));
    }

    #[test]
    fn the_account_comes_from_registration_json_or_the_journal_of_the_same_ca() {
        let dir = crate::test_support::scratch_dir("caa-account");
        let resource = dir.join("var");
        std::fs::create_dir_all(&resource).unwrap();
        std::fs::set_permissions(&resource, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let path = dir.join("acmebot.json");
        let json = serde_json::json!({
            "account": {"email": "admin@example.com"},
            "settings": {"acme_directory_url": "https://acme-v02.api.letsencrypt.org/directory"},
            "directories": {"resource": resource},
            "certificates": {"example.com": {}}
        });
        std::fs::write(&path, json.to_string()).unwrap();
        let c = crate::config::load(&path).unwrap().config;
        let e = account(&c).unwrap_err();
        assert_eq!(e.code(), crate::cli::ErrorCode::Config);
        assert!(e.to_string().contains("acmebot --register"), "{e}");
        // Another CA's registration does not count.
        let reg = |uri: &str| serde_json::json!({"body": {}, "uri": uri}).to_string();
        std::fs::write(resource.join("registration.json"), reg("https://other.example/acct/9")).unwrap();
        assert!(account(&c).is_err());
        std::fs::write(resource.join("registration.json"), reg(LE_ACCOUNT)).unwrap();
        assert_eq!(account(&c).unwrap(), Account { url: LE_ACCOUNT.into(), from: "registration.json" });
    }
}
