//! One certificate: its names, and the options it inherits from its private
//! key and the settings.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::verify::verify_list;
use super::{pick, Builder, Layer, NULL};
use crate::config::check::{
    as_bool, as_key_types, as_object, as_opt_string, as_opt_u32, as_str_list, as_string, check_refs, ct_log_refs,
    dns_name, host_matches, ip_literal, join, Ck,
};
use crate::config::model::{CertificateSpec, CtLog, PrivateKeySpec, ZoneNames};
use crate::psl;
use crate::types::KeyType;

/// A certificate's entry in the file.
pub(super) struct CertInput<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub obj: &'a Map<String, Value>,
    /// Where its options are looked up: the certificate, its key, the settings.
    pub layers: &'a [Layer<'a>],
}

/// What a certificate needs of its private key and the other sections.
pub(super) struct KeyContext<'a> {
    pub key: &'a PrivateKeySpec,
    /// Key types the key's sizes and curves enable.
    pub enabled: &'a [KeyType],
    pub services: &'a BTreeMap<String, String>,
    pub ct_logs: &'a BTreeMap<String, CtLog>,
    pub suffixes: &'a Suffixes,
}

/// The Public Suffix List that finds the zone of a certificate without
/// `alt_names`: the original's copy, `<resource>/public_suffix_list.dat`,
/// when it is a complete list, else the one compiled in (see
/// [`crate::psl`]). Read once, when a certificate first needs it. The
/// original's `public_suffix_list_url` is accepted and not used: nothing is
/// downloaded.
pub(super) struct Suffixes {
    file: Option<PathBuf>,
    list: OnceCell<psl::List>,
}

impl Suffixes {
    pub(super) fn new(resource_dir: Option<&str>) -> Suffixes {
        Suffixes { file: resource_dir.map(|d| Path::new(d).join(psl::FILE_NAME)), list: OnceCell::new() }
    }

    fn get(&self, ck: &mut Ck) -> &psl::List {
        self.list
            .get_or_init(|| self.file.as_deref().and_then(|f| read_list(ck, f)).unwrap_or_else(psl::List::embedded))
    }
}

/// The largest list file read (the list is about 340 KB).
const MAX_LIST_BYTES: u64 = 4 << 20;

/// The list in `path`; `None` if there is no such file, or (warned) if it
/// cannot be used.
fn read_list(ck: &mut Ck, path: &Path) -> Option<psl::List> {
    let problem = match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => e.to_string(),
        Ok(m) if !m.is_file() => "not a regular file".to_string(),
        Ok(_) => {
            let mut bytes = Vec::new();
            match std::fs::File::open(path).and_then(|f| f.take(MAX_LIST_BYTES + 1).read_to_end(&mut bytes)) {
                Err(e) => e.to_string(),
                Ok(n) if n as u64 > MAX_LIST_BYTES => format!("larger than {MAX_LIST_BYTES} bytes"),
                Ok(_) => match String::from_utf8(bytes).ok().as_deref().map(psl::List::parse) {
                    None => "not UTF-8 text".to_string(),
                    Some(Some(list)) => return Some(list),
                    Some(None) => {
                        "not a complete Public Suffix List (no \"// ===END ICANN DOMAINS===\" line, or no rule)"
                            .to_string()
                    }
                },
            }
        }
    };
    let version = psl::EMBEDDED_VERSION;
    ck.warn(format!("{}: {problem}; the compiled-in Public Suffix List ({version}) is used instead", path.display()));
    None
}

/// A list of names that must each be defined in `section`.
fn refs<T>(ck: &mut Ck, layers: &[Layer<'_>], key: &str, defined: &BTreeMap<String, T>, what: &str) -> Vec<String> {
    let (kp, v) = pick(layers, key);
    let list = as_str_list(ck, &kp, v);
    let section = if key == "services" { "services" } else { "ct_logs" };
    check_refs(ck, &kp, &list, defined, what, section);
    list
}

impl Builder<'_> {
    pub(super) fn certificate(&mut self, c: &CertInput<'_>, k: &KeyContext<'_>) -> Option<CertificateSpec> {
        let ck_before = self.ck.problems.len();
        let (common_name, alt_names) = self.names(c, k.suffixes);
        let all_names: Vec<String> = alt_names.iter().flat_map(|z| z.fqdns.iter().cloned()).collect();
        let key_types = self.cert_key_types(c, k);
        let tlsa_records = self.tlsa_records(&join(c.path, "tlsa_records"), c.obj.get("tlsa_records").unwrap_or(&NULL));
        let ck = &mut *self.ck;
        macro_rules! opt {
            ($f:ident, $k:expr) => {{
                let (kp, v) = pick(c.layers, $k);
                $f(ck, &kp, v)
            }};
        }
        let services = refs(ck, c.layers, "services", k.services, "service");
        let ct_submit_logs = {
            let (kp, v) = pick(c.layers, "ct_submit_logs");
            let list = as_str_list(ck, &kp, v);
            ct_log_refs(ck, &kp, list, k.ct_logs)
        };
        let verify = {
            let (kp, v) = pick(c.layers, "verify");
            let hosts = if kp.starts_with("settings.") { None } else { Some(all_names.as_slice()) };
            verify_list(ck, &kp, v, hosts)
        };
        let cert = CertificateSpec {
            name: c.name.to_string(),
            common_name,
            alt_names,
            services,
            key_types,
            dhparam_size: opt!(as_opt_u32, "dhparam_size"),
            ecparam_curve: opt!(as_str_list, "ecparam_curve"),
            ocsp_must_staple: opt!(as_bool, "ocsp_must_staple"),
            ocsp_responder_urls: opt!(as_str_list, "ocsp_responder_urls"),
            ct_submit_logs,
            verify,
            tlsa_records,
            profile: opt!(as_opt_string, "profile"),
            preferred_chain: opt!(as_opt_string, "preferred_chain"),
        };
        (self.ck.problems.len() == ck_before).then_some(cert)
    }

    /// The common name (default: the certificate's name) and the alternative
    /// names per zone, which must include it. Without `alt_names`, as in the
    /// original, the common name alone, in the zone of its registered domain
    /// (`www.example.co.uk` → zone `example.co.uk`).
    fn names(&mut self, c: &CertInput<'_>, suffixes: &Suffixes) -> (String, Vec<ZoneNames>) {
        let (name, p, obj) = (c.name, c.path, c.obj);
        let common_name_raw = match obj.get("common_name") {
            Some(v) => as_string(self.ck, &join(p, "common_name"), v),
            None => name.to_string(),
        };
        let cn_path = if obj.contains_key("common_name") { join(p, "common_name") } else { p.to_string() };
        let common_name = dns_name(self.ck, &cn_path, &common_name_raw).unwrap_or_default();
        let alt_path = join(p, "alt_names");
        let alt_names = match obj.get("alt_names") {
            None | Some(Value::Null) => {
                let zone = if common_name.is_empty() {
                    String::new()
                } else if ip_literal(&common_name).is_some() {
                    // An IP address is its own "zone" (it is validated over http-01).
                    common_name.clone()
                } else {
                    suffixes.get(self.ck).split(&common_name).0
                };
                vec![ZoneNames { zone, fqdns: vec![common_name.clone()] }]
            }
            Some(v) => match as_object(self.ck, &alt_path, v) {
                Some(m) => self.zone_names(&alt_path, m, Some(&common_name)),
                None => Vec::new(),
            },
        };
        let all: Vec<&String> = alt_names.iter().flat_map(|z| z.fqdns.iter()).collect();
        if !common_name.is_empty() && !all.contains(&&common_name) {
            let listed: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
            let detail = format!(
                "common name {common_name:?} is not among the alt_names ({}) of certificate {name:?}",
                listed.join(", ")
            );
            self.ck.err(&cn_path, detail);
        }
        for (i, a) in all.iter().enumerate() {
            if let Some(b) = all[i + 1..].iter().find(|b| host_matches(a, b)) {
                self.ck.err(&alt_path, format!("alt name {a:?} conflicts with {b:?} in certificate {name:?}"));
            }
        }
        (common_name, alt_names)
    }

    /// `key_types`: only the certificate object itself narrows the key's types.
    fn cert_key_types(&mut self, c: &CertInput<'_>, k: &KeyContext<'_>) -> Vec<KeyType> {
        let key_types = match c.obj.get("key_types") {
            Some(v) if !v.is_null() => {
                let kp = join(c.path, "key_types");
                let wanted = as_key_types(self.ck, &kp, v);
                for t in wanted.iter().filter(|t| !k.enabled.contains(t)) {
                    let why = if *t == KeyType::Rsa { "key_size is 0 or null" } else { "key_curve is null" };
                    self.ck.warn(format!("{kp}: {t} is not enabled for private key {:?} ({why}); ignored", k.key.name));
                }
                wanted.into_iter().filter(|t| k.enabled.contains(t)).collect::<Vec<_>>()
            }
            _ => k.enabled.to_vec(),
        };
        if key_types.is_empty() && !k.enabled.is_empty() {
            self.ck.err(&join(c.path, "key_types"), "no enabled key type is left for this certificate");
        }
        key_types
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load::from_json_str;
    use crate::config::{Loaded, ZoneNames};

    /// Loads certificates (the `certificates` object's text) with the
    /// resource directory `resource`.
    fn load(resource: &Path, certificates: &str, settings: &str) -> Loaded {
        let text = format!(
            r#"{{"account": {{"email": "admin@example.com"}}, "settings": {{{settings}}},
                "directories": {{"resource": {:?}}}, "certificates": {{{certificates}}}}}"#,
            resource.display()
        );
        match from_json_str(&text, Path::new("/etc/acmebot/acmebot.json")) {
            Ok(l) => l,
            Err(e) => panic!("unexpected error:\n{e}"),
        }
    }

    fn zones(l: &Loaded) -> Vec<(String, Vec<ZoneNames>)> {
        let certs = l.config.private_keys.iter().flat_map(|k| &k.certificates);
        certs.map(|c| (c.common_name.clone(), c.alt_names.clone())).collect()
    }

    fn zone(zone: &str, fqdn: &str) -> Vec<ZoneNames> {
        vec![ZoneNames { zone: zone.into(), fqdns: vec![fqdn.into()] }]
    }

    #[test]
    fn without_alt_names_the_zone_is_the_registered_domain() {
        let dir = crate::test_support::scratch_dir("psl-zone");
        let l = load(
            &dir,
            r#""www": {"common_name": "www.example.co.uk"},
               "example.com": null,
               "wild": {"common_name": "*.Example.COM"},
               "shop": {"common_name": "a.b.shop.example.uk.com"},
               "router": {"common_name": "www.router.lan"},
               "explicit": {"common_name": "mail.example.net", "alt_names": {"mail.example.net": ["@"]}}"#,
            r#""public_suffix_list_url": "https://example.com/list.dat""#,
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let got = zones(&l);
        let want = [
            ("example.com", zone("example.com", "example.com")),
            ("mail.example.net", zone("mail.example.net", "mail.example.net")),
            ("www.router.lan", zone("lan", "www.router.lan")),
            ("a.b.shop.example.uk.com", zone("example.uk.com", "a.b.shop.example.uk.com")),
            ("*.example.com", zone("example.com", "*.example.com")),
            ("www.example.co.uk", zone("example.co.uk", "www.example.co.uk")),
        ];
        for (cn, names) in want {
            assert!(got.contains(&(cn.to_string(), names.clone())), "{cn}: {names:?} not in {got:?}");
        }
        assert_eq!(got.len(), 6);
        assert_eq!(l.config.settings.public_suffix_list_url.as_deref(), Some("https://example.com/list.dat"));
    }

    #[test]
    fn a_list_in_the_resource_directory_replaces_the_compiled_in_one() {
        let dir = crate::test_support::scratch_dir("psl-resource");
        let certs = r#""www": {"common_name": "www.shop.example.co.uk"}"#;
        assert_eq!(zones(&load(&dir, certs, ""))[0].1[0].zone, "example.co.uk");

        // The original's copy (here one that also lists example.co.uk) wins.
        let list = "// ===BEGIN ICANN DOMAINS===\nuk\nco.uk\n// ===END ICANN DOMAINS===\nexample.co.uk\n";
        std::fs::write(dir.join("public_suffix_list.dat"), list).unwrap();
        let l = load(&dir, certs, "");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(zones(&l)[0].1, zone("shop.example.co.uk", "www.shop.example.co.uk"));

        // One that is not a complete list is warned about and not used.
        std::fs::write(dir.join("public_suffix_list.dat"), "<html>404</html>\n").unwrap();
        let l = load(&dir, certs, "");
        assert_eq!(zones(&l)[0].1[0].zone, "example.co.uk");
        let w = l.warnings.join("\n");
        assert!(w.contains("public_suffix_list.dat: not a complete Public Suffix List"), "{w}");
        assert!(w.contains("the compiled-in Public Suffix List (20"), "{w}");
        assert_eq!(l.warnings.len(), 1, "{w}");

        // It is read only for a certificate without alt_names.
        let l = load(&dir, r#""www": {"common_name": "www.example.com", "alt_names": {"example.com": ["www"]}}"#, "");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);

        // Not a file.
        std::fs::remove_file(dir.join("public_suffix_list.dat")).unwrap();
        std::fs::create_dir(dir.join("public_suffix_list.dat")).unwrap();
        let l = load(&dir, certs, "");
        assert_eq!(zones(&l)[0].1[0].zone, "example.co.uk");
        assert!(l.warnings.join("\n").contains("public_suffix_list.dat: not a regular file"), "{:?}", l.warnings);
    }
}
