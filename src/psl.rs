//! The Public Suffix List (<https://publicsuffix.org/>): where a name's
//! registered domain begins, the zone of a certificate configured without
//! `alt_names` (`www.example.co.uk` → zone `example.co.uk`, host `www`), as
//! in the original.
//!
//! The list compiled in is `vendor/public_suffix_list.dat` (see
//! `vendor/README.md`, refreshed by `vendor/update-psl`), encoded at build
//! time into a compact table (`psl/table.rs`: 69 KB for 10,397 rules). The
//! original downloaded the list daily from `public_suffix_list_url` into
//! `<resource>/public_suffix_list.dat`; acmebot never downloads it (the
//! setting is accepted and unused), but the configuration uses that file
//! instead of the compiled-in list when it is a complete list
//! ([`List::parse`]). This module does no I/O.
//!
//! Lookup follows the list's algorithm
//! (<https://github.com/publicsuffix/list/wiki/Format>): every rule of the
//! file counts (ICANN and private sections), the longest matching rule
//! prevails, an exception (`!`) prevails over any other, `*` matches one
//! label, and a name no rule matches has the implicit rule `*` (its last
//! label is the public suffix). A wildcard rule `*.foo.com` also makes
//! `foo.com` a public suffix, as browsers, the list's own linter and the
//! original read it (the wiki's text does not say so; publicsuffix/list
//! issues 694 and 1989). Names are compared lower-cased, without a trailing
//! dot, as A-labels (`xn--…`): the list's Unicode rules are converted to
//! punycode when the table is made.
//!
//! Where the original (`_split_registered_domain`) answers differently:
//! - none for a name under a TLD no rule knows (`www.router.lan`): as in
//!   the original, [`List::split`] takes the TLD itself as the zone (`lan`,
//!   host `www.router`: OpenWrt's local domain is the zone `lan`), not the
//!   implicit `*` rule's `router.lan` ([`List::suffix_labels`] follows the
//!   rule, for the list's own test data). `alt_names` names another zone.
//! - the original walks a tree of the rules' labels and stops where the name
//!   leaves the tree, so a label that is only part of longer rules counts as
//!   a rule (with `*.compute.amazonaws.com` and no rule `amazonaws.com`, it
//!   makes `www.amazonaws.com` its own zone; here it is in `amazonaws.com`,
//!   host `www`), and it follows a `*` branch rather than a named one. Here
//!   only rules match. Both concern only names inside the private section's
//!   deeper entries (cloud providers' regions and the like).
//!
//! Kept from the original: a name that is itself a public suffix (`co.uk`,
//! `github.io`) is its own zone, host `@`. A leading `*.` (a wildcard
//! certificate) is kept out of the lookup and in the host (`*.example.co.uk`
//! → zone `example.co.uk`, host `*`), where the original looked `*` up as a
//! label.

mod table;

use std::borrow::Cow;

/// The file in the resource directory that the original kept the list in.
pub const FILE_NAME: &str = "public_suffix_list.dat";

/// The `VERSION` line of the compiled-in list.
pub const EMBEDDED_VERSION: &str = env!("ACMEBOT_PSL_VERSION");

static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/public_suffix_list.bin"));

/// A list of rules, ready for lookups.
#[derive(Clone, Debug)]
pub struct List {
    table: Cow<'static, [u8]>,
}

impl List {
    /// The list compiled in.
    pub fn embedded() -> List {
        List { table: Cow::Borrowed(EMBEDDED) }
    }

    /// A list in the list's text format, if it is a complete copy: its ICANN
    /// section ends (`===END ICANN DOMAINS===`, so a truncated or foreign
    /// file is refused) and it has at least one rule.
    pub fn parse(text: &str) -> Option<List> {
        if !text.lines().any(|l| l.trim() == "// ===END ICANN DOMAINS===") {
            return None;
        }
        table::encode(text).map(|t| List { table: Cow::Owned(t) })
    }

    /// Splits a name at its registered domain: (zone, host), the host `@`
    /// when the name is the registered domain or itself a public suffix.
    /// The name is lower-cased and a trailing dot dropped.
    pub fn split(&self, name: &str) -> (String, String) {
        self.split_at(name, true)
    }

    /// [`List::split`]; with `unknown_tld_is_zone` false, a name under a TLD
    /// no rule knows follows the implicit `*` rule, as the list's own test
    /// data expects.
    fn split_at(&self, name: &str, unknown_tld_is_zone: bool) -> (String, String) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, body) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        let labels = body.split('.').count();
        // A TLD the list does not know is the zone itself, as in the original.
        let tld = body.rsplit('.').next().unwrap_or_default();
        let suffix = if !unknown_tld_is_zone || self.knows_tld(tld) { self.suffix_labels(body) } else { 0 };
        let (zone, host) = if suffix >= labels {
            (body, "")
        } else {
            // The registered domain: the public suffix and one label more.
            let start = body.rmatch_indices('.').nth(suffix).map_or(0, |(i, _)| i + 1);
            (&body[start..], &body[..start.saturating_sub(1)])
        };
        let host = match (wildcard, host.is_empty()) {
            (false, true) => "@".to_string(),
            (false, false) => host.to_string(),
            (true, true) => "*".to_string(),
            (true, false) => format!("*.{host}"),
        };
        (zone.to_string(), host)
    }

    /// Whether the list has a rule under this top-level domain (`za` has
    /// none of its own, only `ac.za` and others).
    fn knows_tld(&self, tld: &str) -> bool {
        table::contains(&self.table, tld.as_bytes()) || table::has_first_label(&self.table, tld.as_bytes())
    }

    /// How many labels of `name` (lower case, no trailing dot) its public
    /// suffix has, per the prevailing rule.
    fn suffix_labels(&self, name: &str) -> usize {
        let labels: Vec<&str> = name.rsplit('.').collect();
        // The reversed key of the name's last `i` labels, for i = 1, 2, …
        let mut key: Vec<u8> = Vec::with_capacity(name.len() + 2);
        let mut probe: Vec<u8> = Vec::with_capacity(name.len() + 3);
        let mut longest = 1; // the implicit rule `*`
        let mut exception = None;
        for (i, label) in labels.iter().enumerate().map(|(i, l)| (i + 1, l)) {
            if i > 1 {
                key.push(b'.');
            }
            key.extend_from_slice(label.as_bytes());
            if table::contains(&self.table, &key) {
                longest = i;
            }
            // `*.<last i labels>` matches the last i + 1 labels, and makes
            // the last i labels a public suffix too.
            probe.clear();
            probe.extend_from_slice(&key);
            probe.extend_from_slice(b".*");
            if table::contains(&self.table, &probe) {
                longest = (i + 1).min(labels.len());
            }
            probe.clear();
            probe.push(b'!');
            probe.extend_from_slice(&key);
            if table::contains(&self.table, &probe) {
                exception = Some(i);
            }
        }
        // An exception prevails; its public suffix is the rule without its
        // leftmost label.
        exception.map_or(longest, |i| i - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The published list this build compiled in.
    const DAT: &str = include_str!("../vendor/public_suffix_list.dat");

    fn split(name: &str) -> (String, String) {
        List::embedded().split(name)
    }

    fn rules(list: &List) -> usize {
        list.table.iter().filter(|b| **b & 0x80 != 0).count()
    }

    fn zone(name: &str) -> String {
        split(name).0
    }

    /// The registered domain the list's own test data expects
    /// (`checkPublicSuffix`), `None` where the name has none: here, a name
    /// without one is its own zone with host `@` (as in the original).
    fn check(name: &str, expected: Option<&str>) {
        let (z, host) = List::embedded().split_at(name, false);
        match expected {
            Some(e) => {
                assert_eq!(z, e, "zone of {name}");
                let want_host = name.to_ascii_lowercase().strip_suffix(e).map(|h| h.trim_end_matches('.').to_string());
                let want_host = want_host.filter(|h| !h.is_empty()).unwrap_or_else(|| "@".into());
                assert_eq!(host, want_host, "host of {name}");
            }
            None => assert_eq!((z.as_str(), host.as_str()), (name.to_ascii_lowercase().as_str(), "@"), "{name}"),
        }
    }

    #[test]
    fn the_lists_own_test_data() {
        // From the list's tests/test_psl.txt, names in A-label form (the
        // Unicode ones of that file are the punycode ones below); leading
        // dots are not valid names here (the configuration refuses them).
        check("COM", None);
        check("example.COM", Some("example.com"));
        check("WwW.example.COM", Some("example.com"));
        check("example.example", Some("example.example"));
        check("b.example.example", Some("example.example"));
        check("a.b.example.example", Some("example.example"));
        check("biz", None);
        check("domain.biz", Some("domain.biz"));
        check("b.domain.biz", Some("domain.biz"));
        check("a.b.domain.biz", Some("domain.biz"));
        check("com", None);
        check("example.com", Some("example.com"));
        check("b.example.com", Some("example.com"));
        check("a.b.example.com", Some("example.com"));
        check("uk.com", None);
        check("example.uk.com", Some("example.uk.com"));
        check("b.example.uk.com", Some("example.uk.com"));
        check("a.b.example.uk.com", Some("example.uk.com"));
        check("test.ac", Some("test.ac"));
        check("mm", None);
        check("c.mm", None);
        check("b.c.mm", Some("b.c.mm"));
        check("a.b.c.mm", Some("b.c.mm"));
        check("jp", None);
        check("test.jp", Some("test.jp"));
        check("www.test.jp", Some("test.jp"));
        check("ac.jp", None);
        check("test.ac.jp", Some("test.ac.jp"));
        check("www.test.ac.jp", Some("test.ac.jp"));
        check("kyoto.jp", None);
        check("test.kyoto.jp", Some("test.kyoto.jp"));
        check("ide.kyoto.jp", None);
        check("b.ide.kyoto.jp", Some("b.ide.kyoto.jp"));
        check("a.b.ide.kyoto.jp", Some("b.ide.kyoto.jp"));
        check("c.kobe.jp", None);
        check("b.c.kobe.jp", Some("b.c.kobe.jp"));
        check("a.b.c.kobe.jp", Some("b.c.kobe.jp"));
        check("city.kobe.jp", Some("city.kobe.jp"));
        check("www.city.kobe.jp", Some("city.kobe.jp"));
        check("ck", None);
        check("test.ck", None);
        check("b.test.ck", Some("b.test.ck"));
        check("a.b.test.ck", Some("b.test.ck"));
        check("www.ck", Some("www.ck"));
        check("www.www.ck", Some("www.ck"));
        check("us", None);
        check("test.us", Some("test.us"));
        check("www.test.us", Some("test.us"));
        check("ak.us", None);
        check("test.ak.us", Some("test.ak.us"));
        check("www.test.ak.us", Some("test.ak.us"));
        check("k12.ak.us", None);
        check("test.k12.ak.us", Some("test.k12.ak.us"));
        check("www.test.k12.ak.us", Some("test.k12.ak.us"));
        check("xn--85x722f.com.cn", Some("xn--85x722f.com.cn"));
        check("xn--85x722f.xn--55qx5d.cn", Some("xn--85x722f.xn--55qx5d.cn"));
        check("www.xn--85x722f.xn--55qx5d.cn", Some("xn--85x722f.xn--55qx5d.cn"));
        check("shishi.xn--55qx5d.cn", Some("shishi.xn--55qx5d.cn"));
        check("xn--55qx5d.cn", None);
        check("xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s"));
        check("www.xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s"));
        check("shishi.xn--fiqs8s", Some("shishi.xn--fiqs8s"));
        check("xn--fiqs8s", None);
    }

    #[test]
    fn zones_and_hosts() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(split("example.com"), s("example.com", "@"));
        assert_eq!(split("www.example.com"), s("example.com", "www"));
        assert_eq!(split("www.example.co.uk"), s("example.co.uk", "www"));
        assert_eq!(split("a.b.example.co.uk"), s("example.co.uk", "a.b"));
        assert_eq!(split("a.b.example.uk.com"), s("example.uk.com", "a.b"));
        // Lower-cased, a trailing dot ignored.
        assert_eq!(split("WWW.Example.CO.UK."), s("example.co.uk", "www"));
        // Wildcard `*.ck`, exception `!www.ck`.
        assert_eq!(split("www.ck"), s("www.ck", "@"));
        assert_eq!(split("mail.www.ck"), s("www.ck", "mail"));
        assert_eq!(split("a.example.ck"), s("a.example.ck", "@"));
        assert_eq!(split("b.a.example.ck"), s("a.example.ck", "b"));
        // `*.kawasaki.jp`, `!city.kawasaki.jp`.
        assert_eq!(split("www.city.kawasaki.jp"), s("city.kawasaki.jp", "www"));
        assert_eq!(split("www.example.foo.kawasaki.jp"), s("example.foo.kawasaki.jp", "www"));
        assert_eq!(split("foo.kawasaki.jp"), s("foo.kawasaki.jp", "@"));
        // Private section: `blogspot.com`, `github.io`, `*.compute.amazonaws.com`.
        assert_eq!(split("www.myblog.blogspot.com"), s("myblog.blogspot.com", "www"));
        assert_eq!(split("me.github.io"), s("me.github.io", "@"));
        assert_eq!(split("a.b.me.github.io"), s("me.github.io", "a.b"));
        assert_eq!(split("x.host.region.compute.amazonaws.com"), s("host.region.compute.amazonaws.com", "x"));
        // Not a rule, only part of longer ones: `com` is the suffix.
        assert_eq!(split("www.amazonaws.com"), s("amazonaws.com", "www"));
        // Unknown TLD: the TLD is the zone, as in the original.
        assert_eq!(split("example.example"), s("example", "example"));
        assert_eq!(split("www.router.lan"), s("lan", "www.router"), "an unknown TLD is the zone, as in the original");
        assert_eq!(split("localhost"), s("localhost", "@"));
        // Names that are themselves a public suffix: their own zone.
        assert_eq!(split("co.uk"), s("co.uk", "@"));
        assert_eq!(split("blogspot.com"), s("blogspot.com", "@"));
        assert_eq!(split("uk"), s("uk", "@"));
        // A wildcard certificate's `*` stays in the host.
        assert_eq!(split("*.example.co.uk"), s("example.co.uk", "*"));
        assert_eq!(split("*.www.example.co.uk"), s("example.co.uk", "*.www"));
        assert_eq!(split("*.foo.kawasaki.jp"), s("foo.kawasaki.jp", "*"));
        // Nonsense never panics.
        for odd in ["", ".", "..", "*.", "a..b", "*", ".com", "com..", "-.-"] {
            let _ = split(odd);
        }
        assert_eq!(zone("a..example.com"), "example.com");
    }

    #[test]
    fn unicode_rules_are_looked_up_as_punycode() {
        // Rules `公司.cn` and `中国`.
        assert_eq!(zone("www.xn--85x722f.xn--55qx5d.cn"), "xn--85x722f.xn--55qx5d.cn");
        assert_eq!(zone("www.xn--85x722f.xn--fiqs8s"), "xn--85x722f.xn--fiqs8s");
        // `個人.香港` (xn--gmqw5a.xn--j6w193g).
        assert_eq!(zone("a.b.xn--gmqw5a.xn--j6w193g"), "b.xn--gmqw5a.xn--j6w193g");
    }

    #[test]
    fn punycode_vectors() {
        let p = |s: &str| table::punycode(s).unwrap();
        assert_eq!(p("公司"), "55qx5d");
        assert_eq!(p("中国"), "fiqs8s");
        assert_eq!(p("食狮"), "85x722f");
        assert_eq!(p("bücher"), "bcher-kva");
        assert_eq!(p("münchen"), "mnchen-3ya");
        assert_eq!(p("個人"), "gmqw5a");
        assert_eq!(p("香港"), "j6w193g");
        // RFC 3492 7.1 (A) Arabic, (L) Japanese with ASCII, (S) mixed case kept.
        assert_eq!(p("\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}"), "egbpdaj6bu4bxfgehfvwxn");
        assert_eq!(p("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}"), "3B-ww4c5e180e575a65lsy2b");
        assert_eq!(p("-> $1.00 <-"), "-> $1.00 <--");
    }

    #[test]
    fn rule_keys() {
        let k = |s: &str| table::rule_key(s);
        assert_eq!(k("co.uk").as_deref(), Some("uk.co"));
        assert_eq!(k("*.kawasaki.jp").as_deref(), Some("jp.kawasaki.*"));
        assert_eq!(k("!city.kawasaki.jp").as_deref(), Some("!jp.kawasaki.city"));
        assert_eq!(k("公司.cn").as_deref(), Some("cn.xn--55qx5d"));
        assert_eq!(k("  COM   trailing words").as_deref(), Some("com"));
        assert_eq!(k("// comment"), None);
        assert_eq!(k(""), None);
        assert_eq!(k("a.*.b"), None);
        assert_eq!(k("!*.b"), None);
        assert_eq!(k("a..b"), None);
        assert_eq!(k("<html>"), None);
    }

    /// Every rule of the published list is in the compiled-in table, and the
    /// table answers like a plain set of the rules for names made from each.
    /// The probes go through every 7th rule (all of them take minutes under
    /// qemu in the cross tests); `ACMEBOT_PSL_ALL=1 cargo test --lib psl`
    /// probes every rule (run whenever `vendor/update-psl` brings a new list).
    #[test]
    fn the_table_holds_exactly_the_lists_rules() {
        let list = List::embedded();
        let keys: Vec<String> = DAT.lines().filter_map(table::rule_key).collect();
        let set: HashSet<&str> = keys.iter().map(String::as_str).collect();
        assert!(set.len() > 9000, "{}", set.len());
        assert_eq!(rules(&list), set.len());
        let step = if std::env::var_os("ACMEBOT_PSL_ALL").is_some() { 1 } else { 7 };
        for key in keys.iter().map(String::as_str).step_by(step) {
            assert!(table::contains(&list.table, key.as_bytes()), "{key}");
            for other in [format!("{key}a"), format!("{key}.x"), format!("{key}-"), key[..key.len() - 1].to_string()] {
                assert_eq!(table::contains(&list.table, other.as_bytes()), set.contains(other.as_str()), "{other}");
            }
        }
        assert!(!table::contains(&list.table, b""));
        assert!(!table::contains(&list.table, b"\x7f"));
        // The compiled-in table is the list's text encoded again.
        assert_eq!(&*list.table, &table::encode(DAT).unwrap()[..]);
        assert!(List::parse(DAT).is_some());

        // A plain implementation of the algorithm on a set of the rules.
        let reference = |name: &str| -> usize {
            let labels: Vec<&str> = name.rsplit('.').collect();
            let (mut longest, mut exception) = (1, None);
            for i in 1..=labels.len() {
                let key = labels[..i].join(".");
                let wildcard = |k: &str| set.contains(format!("{k}.*").as_str());
                // A rule, or the parent of a wildcard rule.
                if set.contains(key.as_str()) || wildcard(&key) {
                    longest = i;
                }
                if i > 1 && wildcard(&labels[..i - 1].join(".")) {
                    longest = i;
                }
                if set.contains(format!("!{key}").as_str()) {
                    exception = Some(i);
                }
            }
            exception.map_or(longest, |i| i - 1)
        };
        for key in keys.iter().step_by(step) {
            let rule: Vec<&str> = key.trim_start_matches('!').split('.').rev().collect();
            let rule = rule.join(".").replace('*', "w");
            assert_eq!(list.suffix_labels(&rule), reference(&rule), "{rule}");
            let name = format!("a.{rule}");
            let n = reference(&name);
            assert_eq!(list.suffix_labels(&name), n, "{name}");
            let (z, _) = list.split(&name);
            assert_eq!(z.split('.').count(), (n + 1).min(name.split('.').count()), "{name}");
        }
    }

    #[test]
    fn top_level_domains_are_known_by_their_rules() {
        let list = List::embedded();
        for (tld, known) in [("com", true), ("za", true), ("uk", true), ("test", false), ("lan", false), ("zz", false)]
        {
            assert_eq!(list.knows_tld(tld), known, "{tld}");
        }
        // `za` has no rule of its own, only rules under it (`co.za`).
        assert!(!table::contains(&list.table, b"za"));
        assert_eq!(list.split("www.example.co.za"), ("example.co.za".into(), "www".into()));
    }

    #[test]
    fn a_list_file_must_be_complete() {
        let custom = "// ===BEGIN ICANN DOMAINS===\nuk\nco.uk\n// ===END ICANN DOMAINS===\nexample.co.uk\n";
        let list = List::parse(custom).unwrap();
        assert_eq!(rules(&list), 3);
        assert_eq!(list.split("www.shop.example.co.uk"), ("shop.example.co.uk".into(), "www".into()));
        assert!(List::parse("uk\nco.uk\n").is_none(), "no end of the ICANN section");
        assert!(List::parse("// ===END ICANN DOMAINS===\n// nothing\n").is_none(), "no rule");
        assert!(List::parse("<html>\n// ===END ICANN DOMAINS===\n<body>\n").is_none());
    }

    #[test]
    fn the_embedded_table_is_compact() {
        let list = List::embedded();
        assert!(EMBEDDED_VERSION.len() >= 10, "{EMBEDDED_VERSION}");
        // Front coding keeps it well under the list's text without comments.
        let text: usize = DAT.lines().filter_map(table::rule_key).map(|k| k.len() + 1).sum();
        assert!(list.table.len() * 10 < text * 6, "{} of {text}", list.table.len());
    }
}
