//! `--show-caa` on an installation with a journaled account, every record read
//! back with a parser of RFC 8659's presentation format and `issue-value`
//! grammar and RFC 8657's `accounturi` and `validationmethods`, written here
//! from the RFCs and not from acmebot's code.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::support::{run_binary, temp_dir, testca_site, tree};
use crate::testca::{TestCa, TestCaOptions};

/// ACME validation method labels registered with IANA (RFC 8555 §9.7.8,
/// RFC 8737, RFC 8823, RFC 9447, RFC 9799).
const ACME_METHODS: [&str; 6] = ["http-01", "dns-01", "tls-alpn-01", "email-reply-00", "tkauth-01", "onion-csr-01"];

/// One CAA resource record as a zone file holds it.
#[derive(Debug)]
struct Caa {
    owner: String,
    flags: u8,
    tag: String,
    issuer: String,
    /// Parameter tag (lower case) → value, in order.
    params: Vec<(String, String)>,
}

impl Caa {
    /// The value of the one parameter `tag` (two are an error: RFC 8657 does
    /// not say which would count, and Let's Encrypt refuses them).
    fn one(&self, tag: &str) -> Result<&str, String> {
        match self.params.iter().filter(|(t, _)| t == tag).map(|(_, v)| v.as_str()).collect::<Vec<_>>()[..] {
            [one] => Ok(one),
            ref found => Err(format!("{} {tag} parameters", found.len())),
        }
    }

    fn param(&self, tag: &str) -> &str {
        self.one(tag).unwrap()
    }

    fn methods(&self) -> Vec<&str> {
        self.param("validationmethods").split(',').collect()
    }
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// RFC 8659 §4.2: `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`, the form of
/// both an issuer domain name's labels and a parameter's tag.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]) && b.iter().all(|&c| alnum(c) || c == b'-')
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 8659 §4.2 `issue-value` (also `issuewild`'s):
/// `*WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]`, with
/// `parameters = (parameter *WSP ";" *WSP parameters) / parameter`,
/// `parameter = tag *WSP "=" *WSP value`, `value = *(%x21-3A / %x3C-7E)`.
fn parse_issue_value(v: &str) -> Result<(String, Vec<(String, String)>), String> {
    let v = v.trim_start_matches(is_wsp);
    let (issuer, rest) = match v.split_once(';') {
        Some((i, r)) => (i.trim_end_matches(is_wsp), Some(r)),
        None => (v.trim_end_matches(is_wsp), None),
    };
    if !issuer.is_empty() && !issuer.split('.').all(is_label) {
        return Err(format!("issuer-domain-name {issuer:?}"));
    }
    let mut params = Vec::new();
    let Some(rest) = rest else { return Ok((issuer.to_string(), params)) };
    let rest = rest.trim_matches(is_wsp);
    if rest.is_empty() {
        return Ok((issuer.to_string(), params));
    }
    for p in rest.split(';') {
        let p = p.trim_matches(is_wsp);
        let (tag, value) = p.split_once('=').ok_or_else(|| format!("parameter {p:?} has no '='"))?;
        let (tag, value) = (tag.trim_end_matches(is_wsp), value.trim_start_matches(is_wsp));
        if !is_label(tag) {
            return Err(format!("parameter tag {tag:?}"));
        }
        if !value.bytes().all(|c| (0x21..=0x3a).contains(&c) || (0x3c..=0x7e).contains(&c)) {
            return Err(format!("parameter value {value:?}"));
        }
        params.push((tag.to_ascii_lowercase(), value.to_string()));
    }
    Ok((issuer.to_string(), params))
}

/// RFC 3986 §3: `scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, checked
/// as far as an accounturi needs: the scheme, the characters of the rest,
/// percent-encodings, and for http(s) a non-empty authority.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let scheme_ok = scheme.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.bytes().all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c));
    let b = rest.as_bytes();
    let chars_ok = b.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_alphanumeric()
            || b"-._~:/?#[]@!$&'()*+,;=".contains(&c)
            || (c == b'%' && b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)))
            || (i >= 1 && b[i - 1] == b'%' && c.is_ascii_hexdigit())
            || (i >= 2 && b[i - 2] == b'%' && c.is_ascii_hexdigit())
    });
    let authority_ok = match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => rest.strip_prefix("//").is_some_and(|r| !r.split('/').next().unwrap_or("").is_empty()),
        _ => true,
    };
    scheme_ok && chars_ok && !rest.is_empty() && authority_ok
}

/// RFC 8657 §4: `value = [*(label ",") label]`, `label = 1*(ALPHA / DIGIT / "-")`.
fn is_method_list(v: &str) -> bool {
    v.split(',').all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

/// A presentation-format line (RFC 8659 §4.1.1): `<owner> IN CAA <flags> <tag> "<value>"`.
fn parse_record(line: &str) -> Result<Caa, String> {
    let (head, quoted) = line.split_once('"').ok_or("no quoted value")?;
    let value = quoted.strip_suffix('"').ok_or("the value does not end the line")?;
    if value.contains('"') || value.contains('\\') {
        return Err("a value with quotes or escapes".into());
    }
    let fields: Vec<&str> = head.split_whitespace().collect();
    let [owner, class, rtype, flags, tag] = fields[..] else { return Err(format!("fields {fields:?}")) };
    if !owner.ends_with('.') || !owner.trim_end_matches('.').split('.').all(is_label) {
        return Err(format!("owner {owner:?} is not an absolute domain name"));
    }
    if class != "IN" || rtype != "CAA" {
        return Err(format!("{class} {rtype}"));
    }
    let flags: u8 = flags.parse().map_err(|_| format!("flags {flags:?}"))?;
    // RFC 8659 §4.1: a tag is 1-15 letters and digits, compared case-insensitively.
    if tag.is_empty() || tag.len() > 15 || !tag.bytes().all(alnum) {
        return Err(format!("tag {tag:?}"));
    }
    let tag = tag.to_ascii_lowercase();
    if tag != "issue" && tag != "issuewild" {
        return Err(format!("tag {tag} is neither issue nor issuewild"));
    }
    let (issuer, params) = parse_issue_value(value)?;
    let caa = Caa { owner: owner.to_string(), flags, tag, issuer, params };
    let uri = caa.one("accounturi")?;
    if !is_uri(uri) {
        return Err(format!("accounturi {uri:?} is not a URI"));
    }
    let methods = caa.one("validationmethods")?;
    if !is_method_list(methods) {
        return Err(format!("validationmethods {methods:?}"));
    }
    for m in methods.split(',') {
        if !ACME_METHODS.contains(&m) {
            return Err(format!("{m} is not an ACME validation method"));
        }
    }
    Ok(caa)
}

/// Every record of the output, parsed; every other line must be a comment or empty.
fn parse_output(stdout: &str) -> Vec<Caa> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        out.push(parse_record(line).unwrap_or_else(|e| panic!("{line:?}: {e}\n{stdout}")));
    }
    out
}

#[test]
fn the_parser_is_the_rfcs() {
    let ok = parse_record(
        "example.com. IN CAA 0 issue \"ca.example; accounturi=https://ca.example/acct/1 ; validationmethods=dns-01\"",
    )
    .unwrap();
    assert_eq!((ok.issuer.as_str(), ok.methods()), ("ca.example", vec!["dns-01"]));
    for bad in [
        "example.com IN CAA 0 issue \"ca.example; accounturi=https://x/1; validationmethods=dns-01\"",
        "example.com. IN CAA 0 issue \"-ca.example; accounturi=https://x/1; validationmethods=dns-01\"",
        "example.com. IN CAA 0 issue \"ca.example; accounturi=https://x/1; validationmethods=dns-01,\"",
        "example.com. IN CAA 0 issue \"ca.example; accounturi=https://x/1; validationmethods=dns-01,ftp-01\"",
        "example.com. IN CAA 0 issue \"ca.example; accounturi=not a uri; validationmethods=dns-01\"",
        "example.com. IN CAA 0 issue \"ca.example; accounturi=https:///1; validationmethods=dns-01\"",
        "example.com. IN CAA 0 issue \"ca.example; validationmethods=dns-01\"",
        "example.com. IN CAA 0 issue \"ca.example; accounturi=https://x/1; accounturi=https://x/2; validationmethods=dns-01\"",
        "example.com. IN CAA 0 iodef \"mailto:a@example.com\"",
        "example.com. IN CAA 256 issue \"ca.example; accounturi=https://x/1; validationmethods=dns-01\"",
    ] {
        assert!(parse_record(bad).is_err(), "{bad}");
    }
}

fn journal(root: &Path) -> String {
    std::fs::read_to_string(root.join("out/resource/journal.jsonl")).unwrap_or_default()
}

#[test]
fn records_pin_the_journaled_account_and_the_methods_each_zone_uses() {
    let ca = TestCa::start(TestCaOptions::default());
    let root = temp_dir("caa");
    let web = root.join("web");
    std::fs::create_dir_all(&web).unwrap();
    let certificates = json!({
        "example.test": {"alt_names": {"example.test": ["@", "*"]}, "key_types": ["ecdsa"]},
        "sub.example.test": {"alt_names": {"sub.example.test": ["@", "www"]}, "key_types": ["ecdsa"]},
        "mail.example.net": {"key_types": ["ecdsa"]}
    });
    let config = testca_site(&root, &ca, certificates, |c| {
        c["http_challenges"] = json!({"www.sub.example.test": web, "mail.example.net": web});
    });
    let issued = run_binary(&config, &["--accept"], &[]);
    assert_eq!(issued.code, 0, "{issued:?}");
    let account_url = ca.issued()[0].account_url.clone();
    let registered: Vec<Value> = journal(&root)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "account_registered")
        .collect();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["account_url"], json!(account_url), "the account is journaled");

    let (journal_before, files_before) = (journal(&root), tree(&root.join("out")));
    drop(ca); // nothing is asked of the CA
    let run = run_binary(&config, &["--show-caa"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert_eq!((journal(&root), tree(&root.join("out"))), (journal_before, files_before), "read-only");

    let records = parse_output(&run.stdout);
    let mut by_zone: BTreeMap<&str, Vec<&Caa>> = BTreeMap::new();
    for r in &records {
        assert_eq!(r.flags, 0, "not critical: {r:?}");
        assert_eq!(r.issuer, "127.0.0.1", "the test CA's host, said to be a guess: {r:?}");
        assert_eq!(r.param("accounturi"), account_url, "{r:?}");
        by_zone.entry(r.owner.as_str()).or_default().push(r);
    }
    assert!(run.stdout.contains("the ACME directory's host, a guess"), "{}", run.stdout);
    let methods = |zone: &str, tag: &str| -> Option<Vec<&str>> {
        by_zone.get(zone)?.iter().find(|r| r.tag == tag).map(|r| r.methods())
    };
    assert_eq!(by_zone.keys().copied().collect::<Vec<_>>(), ["example.net.", "example.test.", "sub.example.test."]);
    assert_eq!(methods("example.test.", "issue"), Some(vec!["dns-01"]));
    assert_eq!(methods("example.test.", "issuewild"), Some(vec!["dns-01"]), "a wildcard is dns-01 only");
    assert_eq!(methods("sub.example.test.", "issue"), Some(vec!["dns-01", "http-01"]));
    assert_eq!(methods("example.net.", "issue"), Some(vec!["http-01"]), "the zone computed without alt_names");
    for zone in ["sub.example.test.", "example.net."] {
        assert_eq!(methods(zone, "issuewild"), None, "no wildcard in {zone}");
    }
    assert!(run.stdout.contains("; zone example.net (certificates: mail.example.net)\n"), "{}", run.stdout);

    // Without registration.json the journal's account is used.
    std::fs::remove_file(root.join("out/resource/registration.json")).unwrap();
    let again = run_binary(&config, &["--show-caa"], &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("(from the journal)"), "{}", again.stdout);
    assert_eq!(parse_output(&again.stdout).len(), records.len());
    // Naming a key shows the zones of its certificates only.
    let one = run_binary(&config, &["--show-caa", "mail.example.net"], &[]);
    let owners: Vec<String> = parse_output(&one.stdout).into_iter().map(|r| r.owner).collect();
    assert_eq!(owners, ["example.net."], "{one:?}");
}

#[test]
fn before_any_registration_it_says_to_register_first() {
    let ca = TestCa::start(TestCaOptions::default());
    let root = temp_dir("caa-unregistered");
    let config = testca_site(&root, &ca, json!({"a.example.net": {"key_types": ["ecdsa"]}}), |_| {});
    let run = run_binary(&config, &["--show-caa"], &[]);
    assert_eq!(run.code, 4, "a configuration error's code: {run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("no ACME account is registered with") && run.stderr.contains("--register"), "{run:?}");
    assert!(journal(&root).is_empty() && tree(&root.join("out")).is_empty(), "nothing written");
    assert_eq!(ca.accounts(), 0);

    let registered = run_binary(&config, &["--register", "--accept"], &[]);
    assert_eq!(registered.code, 0, "{registered:?}");
    let run = run_binary(&config, &["--show-caa"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let records = parse_output(&run.stdout);
    assert_eq!(records.len(), 1, "{}", run.stdout);
    assert_eq!((records[0].owner.as_str(), records[0].methods()), ("example.net.", vec!["dns-01"]));
    assert!(run.stdout.contains("(from registration.json and the journal)"), "{}", run.stdout);
}
