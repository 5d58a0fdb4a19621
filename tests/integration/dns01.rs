//! dns-01 issuance and TLSA records end to end: pebble resolves through a
//! bind9 started by the test (see `dns`), acmebot updates it with RFC 2136
//! (remote mode, TSIG keys in both file formats) or through a
//! `reload_zone_command` script (local mode; the script, not acmebot, runs
//! nsupdate). What bind9 then serves is read back with `dig` and compared with
//! digests computed here from the files, independently of acmebot.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::dns::{dig, output, tool, Bind, LEGACY_STEM};
use crate::peers::PebbleOptions;
use crate::support::{Run, Site};

const APEX_CHALLENGE: &str = "_acme-challenge.example.test";

fn certificates(tlsa: Value) -> Value {
    let mut cert = json!({"alt_names": {"example.test": ["@", "*"]}});
    if !tlsa.is_null() {
        cert["tlsa_records"] = tlsa;
    }
    json!({"example.test": cert})
}

/// A pebble whose DNS is `bind`, and a configuration with dns-01 only.
fn site(name: &str, bind: &Bind, certs: Value, patch: impl FnOnce(&mut Value)) -> Site {
    let opts = PebbleOptions { dns_server: Some(bind.server.to_string()), ..Default::default() };
    let site = Site::with_pebble(name, certs.clone(), opts);
    let mut config = site.config(certs);
    config["directories"]["http_challenge"] = Value::Null;
    config["directories"]["update_key"] = json!(bind.dir);
    config["settings"]["dns_resolvers"] = json!([bind.server.to_string()]);
    // Authoritative servers are asked on the port the test's bind9 listens on.
    config["settings"]["name_server_port"] = json!(bind.server.port());
    config["settings"]["dns_lookup_delay"] = json!(1);
    config["settings"]["max_dns_lookup_attempts"] = json!(30);
    patch(&mut config);
    site.write_config_value(&config);
    site
}

fn run(site: &Site, _bind: &Bind, args: &[&str]) -> Run {
    site.run(args)
}

fn dns_events(site: &Site, kind: &str, rtype: &str) -> Vec<Value> {
    site.events_of(kind).into_iter().filter(|e| e["rtype"] == rtype).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-512 by coreutils' `sha512sum`, independently of acmebot's code.
fn sha512_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha512sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha512sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The original's pair of records for one certificate or key: SHA-256
/// (matching type 1) and SHA-512 (2).
fn both(usage_selector: &str, bytes: &[u8]) -> [String; 2] {
    [format!("{usage_selector} 1 {}", sha256_hex(bytes)), format!("{usage_selector} 2 {}", sha512_hex(bytes))]
}

/// Checks a dns-01 issuance: both certificates issued for the name and the
/// wildcard, two TXT records journaled as added and removed, and bind9 left
/// with only the TXT record that was there before.
fn check_issued(site: &Site, bind: &Bind, mode: &str) {
    for kt in ["rsa", "ecdsa"] {
        assert!(site.path(&format!("ssl/certs/example.test.{kt}.pem")).is_file(), "{kt} certificate");
    }
    let sans: Vec<Value> = site.events_of("certificate_issued").iter().map(|e| e["sans"].clone()).collect();
    assert!(sans.iter().all(|s| s.as_array().unwrap().iter().any(|n| n == "*.example.test")), "{sans:?}");
    let obtained = site.events_of("authorization_obtained");
    assert!(obtained.iter().any(|e| e["challenge"] == "dns-01"), "{obtained:?}");
    let added = dns_events(site, "dns_record_added", "TXT");
    let removed = dns_events(site, "dns_record_removed", "TXT");
    assert!(added.len() >= 2, "example.test and *.example.test: {added:?}");
    assert_eq!(added.len(), removed.len(), "every record added is removed");
    for e in added.iter().chain(&removed) {
        assert_eq!(e["zone"], "example.test");
        assert_eq!(e["name"], "_acme-challenge.example.test.");
        assert_eq!(e["mode"], mode);
        assert_eq!(e["value_sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(dig(bind.server, "TXT", APEX_CHALLENGE), ["someone-elses-record"]);
    // Nothing secret in the journal.
    let journal = std::fs::read_to_string(site.path("var/journal.jsonl")).unwrap();
    for f in std::fs::read_dir(&bind.dir).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        if let Some(secret) = text.split("secret \"").nth(1).and_then(|s| s.split('"').next()) {
            assert!(!journal.contains(secret), "a TSIG secret is in the journal");
        }
    }
}

#[test]
fn dns01_remote_hmac_sha256_name_and_wildcard_then_tlsa() {
    let bind = Bind::start("dns01-sha256");
    let tlsa = json!({"example.test": [
        {"host": "@", "usage": "dane-ee", "selector": "spki"},
        {"host": "@", "port": 25, "usage": "pkix-ee", "selector": "cert"},
        {"host": "@", "port": 465, "usage": "dane-ta", "selector": "cert"}
    ]});
    let port = bind.server.port();
    let site = site("dns01-sha256", &bind, certificates(tlsa), |c| {
        c["zone_update_keys"] =
            json!({"example.test": {"file": "acme-sha256.key", "server": "127.0.0.1", "port": port}});
        c["directories"]["previous_key"] = json!("ssl/previous");
    });
    let r = run(&site, &bind, &["--accept"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_issued(&site, &bind, "remote");
    assert!(dns_events(&site, "dns_record_added", "TXT").iter().all(|e| e["server"] == bind.server.to_string()));

    // TLSA: set by --tlsa (or already by the issuing run), then exactly what the files say.
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_tlsa(&site, &bind);
    let tlsa_added = dns_events(&site, "dns_record_added", "TLSA").len();
    assert_eq!(tlsa_added, 2 * (4 + 2 + 1), "SHA-256 and SHA-512 of 4 keys, 2 certificates, 1 intermediate");

    // A renewal changes the certificates: the cert-selector records follow.
    let r = run(&site, &bind, &["--renew"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_tlsa(&site, &bind);
    let removed = dns_events(&site, "dns_record_removed", "TLSA");
    assert_eq!(removed.len(), 4, "the two old certificates' two records each: {removed:?}");
    assert!(removed.iter().all(|e| e["name"] == "_25._tcp.example.test." && e["usage"] == 1 && e["selector"] == 0));
    assert_eq!(dns_events(&site, "dns_record_added", "TLSA").len(), tlsa_added + 4);

    // Already right: a further --tlsa run touches nothing, not even the journal.
    let before = std::fs::read(site.path("var/journal.jsonl")).unwrap();
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read(site.path("var/journal.jsonl")).unwrap(), before, "journal unchanged");
    check_tlsa(&site, &bind);

    // Records lost from the zone (an operator's edit) are put back by the
    // next plain run, without --tlsa; after that a plain run sends nothing.
    let update = format!(
        "server 127.0.0.1 {}\nzone example.test\nupdate delete _443._tcp.example.test. TLSA\nsend\n",
        bind.server.port()
    );
    let mut nsupdate = Command::new(crate::dns::tool("nsupdate"))
        .args(["-k", bind.dir.join("acme-sha256.key").to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut nsupdate.stdin.take().unwrap(), update.as_bytes()).unwrap();
    assert!(nsupdate.wait().unwrap().success());
    assert!(dig_tlsa(&bind, "_443._tcp.example.test").is_empty());
    let r = run(&site, &bind, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    check_tlsa(&site, &bind);
    let before = std::fs::read(site.path("var/journal.jsonl")).unwrap();
    let r = run(&site, &bind, &[]);
    assert!(r.code == 0 && r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
    assert_eq!(std::fs::read(site.path("var/journal.jsonl")).unwrap(), before, "a right zone: nothing sent or written");

    // A rollover: the old primary keys become previous keys, whose SPKI
    // records stay in the zone until their files are removed.
    let r = run(&site, &bind, &["--rollover", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_tlsa(&site, &bind);
    assert_eq!(dig_tlsa(&bind, "_443._tcp.example.test").len(), 12, "primary, backup and previous keys of both types");
    for kt in ["rsa", "ecdsa"] {
        std::fs::remove_file(site.path(&format!("ssl/previous/example.test_previous.{kt}.key"))).unwrap();
    }
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_tlsa(&site, &bind);
    assert_eq!(dig_tlsa(&bind, "_443._tcp.example.test").len(), 8);

    // Revocation removes the certificate's TLSA records from the zone.
    let r = run(&site, &bind, &["--revoke", "example.test"]);
    assert_eq!(r.code, 0, "{r:?}");
    for name in ["_443._tcp.example.test.", "_25._tcp.example.test.", "_465._tcp.example.test."] {
        assert!(dig_tlsa(&bind, name).is_empty(), "{name} still has TLSA records after revocation");
    }
}

/// `dig +short` TLSA answers as "u s m hex" (dig splits long hex into words).
fn dig_tlsa(bind: &Bind, name: &str) -> Vec<String> {
    let mut v: Vec<String> = dig(bind.server, "TLSA", name)
        .iter()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {} {}", w[0], w[1], w[2], w[3..].concat().to_ascii_lowercase())
        })
        .collect();
    v.sort();
    v
}

fn pem_ders(path: &Path) -> Vec<Vec<u8>> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut b64 = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            b64.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            out.push(base64::engine::general_purpose::STANDARD.decode(&b64).unwrap());
        } else if inside {
            b64.push_str(line.trim());
        }
    }
    out
}

fn check_tlsa(site: &Site, bind: &Bind) {
    let mut ee_spki = Vec::new();
    let mut ee_cert = Vec::new();
    let mut ta_cert = Vec::new();
    for kt in ["rsa", "ecdsa"] {
        for file in [format!("ssl/private/example.test.{kt}.key"), format!("ssl/private/example.test_backup.{kt}.key")]
        {
            let pem = std::fs::read_to_string(site.path(&file)).unwrap();
            let key = rcgen::KeyPair::from_pem(&pem).unwrap_or_else(|e| panic!("{file}: {e}"));
            ee_spki.extend(both("3 1", &rcgen::PublicKeyData::subject_public_key_info(&key)));
        }
        // A previous key (after a rollover) stays published while its file is there.
        let previous = site.path(&format!("ssl/previous/example.test_previous.{kt}.key"));
        if previous.exists() {
            ee_spki.push(format!("3 1 1 {}", openssl_key_spki_sha256(&previous)));
            let pem = std::fs::read_to_string(&previous).unwrap();
            let key = rcgen::KeyPair::from_pem(&pem).unwrap();
            ee_spki.push(both("3 1", &rcgen::PublicKeyData::subject_public_key_info(&key))[1].clone());
        }
        let leaf = &pem_ders(&site.path(&format!("ssl/certs/example.test.{kt}.pem")))[0];
        ee_cert.extend(both("1 0", leaf));
        for ca in pem_ders(&site.path(&format!("ssl/certs/example.test_chain.{kt}.pem"))) {
            for r in both("2 0", &ca) {
                if !ta_cert.contains(&r) {
                    ta_cert.push(r);
                }
            }
        }
        // The leaf's own SPKI is the primary key's (cross-check of the key digests).
        let d = openssl_spki_sha256(&site.path(&format!("ssl/certs/example.test.{kt}.pem")));
        assert!(ee_spki.contains(&format!("3 1 1 {d}")), "{kt} leaf SPKI, as openssl computes it");
    }
    for (v, name) in [
        (&mut ee_spki, "_443._tcp.example.test"),
        (&mut ee_cert, "_25._tcp.example.test"),
        (&mut ta_cert, "_465._tcp.example.test"),
    ] {
        v.sort();
        assert_eq!(&dig_tlsa(bind, name), v, "{name}");
    }
}

/// SHA-256 of a private key's SubjectPublicKeyInfo, by `openssl`.
fn openssl_key_spki_sha256(key: &Path) -> String {
    let script = format!("set -o pipefail; openssl pkey -in '{}' -pubout -outform DER | sha256sum", key.display());
    let out = Command::new("bash").args(["-c", &script]).output().expect("run openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo by `openssl` (an
/// independent computation; scripts/install-deps installs openssl).
fn openssl_spki_sha256(cert: &Path) -> String {
    let script = format!(
        "set -o pipefail; openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum",
        cert.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().expect("run openssl");
    let text = String::from_utf8(out.stdout).unwrap();
    let d = text.split_whitespace().next().unwrap_or("").to_string();
    assert!(
        out.status.success() && d.len() == 64 && d != sha256_hex(b""),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

#[test]
fn dns01_remote_hmac_md5_dnssec_keygen_pair_via_soa_primary() {
    let bind = Bind::start("dns01-md5");
    let port = bind.server.port();
    // No server given: the update goes to the SOA MNAME (ns1.example.test → 127.0.0.1).
    let site = site("dns01-md5", &bind, certificates(Value::Null), |c| {
        c["zone_update_keys"] = json!({"example.test": {"file": format!("{LEGACY_STEM}.key"), "port": port}});
    });
    let r = run(&site, &bind, &["--accept"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_issued(&site, &bind, "remote");
}

#[test]
fn dns01_local_challenge_file_and_reload_zone_command() {
    let bind = Bind::start("dns01-local");
    let dir = bind.dir.clone();
    let script = dir.join("reload-zone.sh");
    let site = site("dns01-local", &bind, certificates(Value::Null), |c| {
        c["settings"]["reload_zone_command"] = json!(script);
    });
    let challenge_dir = site.path("ssl/challenges");
    // The test's stand-in for bindtool: publishes the challenge file's records
    // with nsupdate, and removes the ones it published when the file is gone.
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
set -e
zone="$1"
state="{d}/$zone.published"
file="{c}/$zone"
[ -f "$file" ] && cat "$file" >> "{d}/seen-files"
echo "$zone" >> "{d}/reloads"
: > "$state.new"
{{
  echo "server 127.0.0.1 {port}"
  echo "zone $zone"
  [ -f "$state" ] && while read name value; do echo "update delete $name 300 TXT \"$value\""; done < "$state"
  if [ -f "$file" ]; then
    sed -n 's/^ *"\([^"]*\)": *"\([^"]*\)",\{{0,1\}}$/\1 \2/p' "$file" | while read fqdn value; do
      name="_acme-challenge.${{fqdn#\*.}}."
      echo "update add $name 300 TXT \"$value\""
      echo "$name $value" >> "$state.new"
    done
  fi
  echo send
}} | "{nsupdate}" -k "{d}/acme-sha256.key"
mv "$state.new" "$state"
"#,
            d = dir.display(),
            c = challenge_dir.display(),
            port = bind.server.port(),
            nsupdate = tool("nsupdate").display()
        ),
    )
    .unwrap();
    output(Command::new("chmod").args(["755", script.to_str().unwrap()]));

    let r = run(&site, &bind, &["--accept"]);
    assert_eq!(r.code, 0, "{r:?}");
    check_issued(&site, &bind, "local");
    // The challenge file held both names, the wildcard with its "*.", and is gone.
    let seen = std::fs::read_to_string(dir.join("seen-files")).unwrap();
    assert!(seen.contains("\"*.example.test\": \"") && seen.contains("\"example.test\": \""), "{seen}");
    assert!(!challenge_dir.join("example.test").exists());
    let reloads = std::fs::read_to_string(dir.join("reloads")).unwrap();
    assert!(reloads.lines().filter(|l| *l == "example.test").count() >= 2, "{reloads}");
    let journaled = site.events_of("zone_reloaded");
    assert!(
        journaled.len() >= 2 && journaled.iter().all(|e| e["zone"] == "example.test" && e["exit_code"] == 0),
        "{journaled:?}"
    );
}

/// Installation verification checks the served certificate against the TLSA
/// records DNS has for the port, as the original does: postfix on loopback
/// with acmebot's certificates, the records acmebot published in bind9, then
/// a record for some other key in their place (the DANE outage a renewal
/// without its records makes), then the records acmebot puts back.
#[test]
fn dns01_verification_checks_the_served_chain_against_tlsa_records() {
    use acmebot::dns::{self, Record};

    use crate::tls_servers::{CertPair, Postfix};
    let bind = Bind::start("verify-dane");
    let port = bind.server.port();
    let site = site("verify-dane", &bind, certificates(Value::Null), |c| {
        c["zone_update_keys"] =
            json!({"example.test": {"file": "acme-sha256.key", "server": "127.0.0.1", "port": port}});
    });
    let r = run(&site, &bind, &["--accept"]);
    assert_eq!(r.code, 0, "{r:?}");
    let pair = |kt: &str| {
        CertPair::new(
            site.path(&format!("ssl/certs/example.test.{kt}.pem")),
            site.path(&format!("ssl/private/example.test.{kt}.key")),
        )
    };
    let postfix = Postfix::start(&site.root.join("postfix"), &[pair("rsa"), pair("ecdsa")]);
    let smtp = postfix.port;
    let mut config: Value = serde_json::from_slice(&std::fs::read(&site.config_path).unwrap()).unwrap();
    let cert = &mut config["certificates"]["example.test"];
    cert["tlsa_records"] =
        json!({"example.test": [{"host": "@", "port": smtp, "usage": "dane-ee", "selector": "spki"}]});
    // the apex only: the wildcard's made-up name has no address in this zone
    cert["verify"] = json!([{"port": smtp, "starttls": "smtp", "hosts": "example.test"}]);
    site.write_config_value(&config);
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    let owner = format!("_{smtp}._tcp.example.test");
    assert_eq!(
        dig(bind.server, "TLSA", &owner).len(),
        8,
        "both key types' primary and backup keys, SHA-256 and SHA-512"
    );

    let clean = run(&site, &bind, &["--verify"]);
    assert_eq!(clean.code, 0, "{clean:?}");
    for kt in ["RSA", "ECDSA"] {
        let want = format!("{kt} certificate example.test present on example.test at 127.0.0.1:{smtp} (");
        let line = clean.stdout.lines().find(|l| l.starts_with(&want)).unwrap_or_else(|| panic!("{want}\n{clean:?}"));
        assert!(line.ends_with(", TLSA record matches)"), "{line}");
    }

    // Someone else's record in place of acmebot's.
    let key = bind.key("acme-sha256");
    let now = acmebot::time::Clock::now(&acmebot::time::SystemClock).secs();
    let drop_all = dns::Change::DeleteRrset { name: owner.clone(), rtype: dns::RecordType::TLSA };
    dns::update_changes(bind.server, "example.test", Some(&key), &[drop_all], now, dns::UPDATE_TIMEOUT).unwrap();
    let other = Record::tlsa(&owner, 300, 3, 1, 1, vec![0xee; 32]);
    dns::update(bind.server, "example.test", Some(&key), &[other], &[], now).unwrap();
    let broken = run(&site, &bind, &["--verify"]);
    assert_eq!(broken.code, 12, "{broken:?}");
    for kt in ["RSA", "ECDSA"] {
        let want = format!(
            "WARNING: {kt} certificate example.test on example.test at 127.0.0.1:{smtp}: none of the 1 TLSA record(s) in DNS matches the served certificate"
        );
        assert!(broken.stderr.lines().any(|l| l == want), "{want}\n{broken:?}");
    }
    // --tlsa puts acmebot's records back; the next verification is clean.
    let r = run(&site, &bind, &["--tlsa"]);
    assert_eq!(r.code, 0, "{r:?}");
    let again = run(&site, &bind, &["--verify"]);
    assert_eq!(again.code, 0, "{again:?}");
}
