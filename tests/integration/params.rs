//! DH and EC parameters (`acmebot::crypto::params`) against real openssl:
//! what acmebot makes, `openssl dhparam -check` accepts and `openssl ecparam`
//! would have written byte for byte; what openssl makes, acmebot accepts; and
//! both fail the same bad parameters.

use std::path::{Path, PathBuf};
use std::process::Command;

use acmebot::crypto::params::{dh_params_info, ec_curve_names, ec_params_pem, generate_dh_params, DhInfo};

use crate::support::{openssl, temp_dir};

/// openssl's exit status and what it printed (stdout, then stderr).
fn openssl_status(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().expect("openssl is installed by scripts/install-deps");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl dhparam -check` on a file: passed, and its words.
fn openssl_check(file: &Path) -> (bool, String) {
    openssl_status(&["dhparam", "-check", "-in", path_str(file), "-noout"])
}

fn our_info(file: &Path) -> DhInfo {
    dh_params_info(&std::fs::read(file).unwrap()).unwrap()
}

/// PEM DH parameters {p, g} made by openssl alone (`asn1parse -genconf`, then
/// `dhparam -inform DER`), from hex.
fn openssl_dh_pem(dir: &Path, name: &str, p_hex: &str, g: u32) -> PathBuf {
    let conf = dir.join(format!("{name}.cnf"));
    std::fs::write(&conf, format!("asn1=SEQUENCE:dh\n[dh]\np=INTEGER:0x{p_hex}\ng=INTEGER:{g}\n")).unwrap();
    let der = dir.join(format!("{name}.der"));
    openssl(&["asn1parse", "-genconf", path_str(&conf), "-out", path_str(&der), "-noout"]);
    let pem = dir.join(format!("{name}.pem"));
    openssl(&["dhparam", "-inform", "DER", "-in", path_str(&der), "-out", path_str(&pem)]);
    pem
}

#[test]
fn generated_dh_params_pass_openssl_dhparam_check() {
    let dir = temp_dir("params-dh-ours");
    for bits in [1024u32, 2048] {
        let mut calls = 0;
        let pem = generate_dh_params(bits, &mut |_| calls += 1, &|| false).unwrap();
        assert!(calls > 0);
        let file = dir.join(format!("dh{bits}.pem"));
        std::fs::write(&file, &pem).unwrap();

        let (ok, said) = openssl_check(&file);
        assert!(ok, "openssl dhparam -check failed {bits}-bit parameters: {said}\n{pem}");
        assert!(said.contains("DH parameters appear to be ok."), "{said}");

        let text = openssl(&["dhparam", "-in", path_str(&file), "-text", "-noout"]);
        assert!(text.contains(&format!("DH Parameters: ({bits} bit)")), "{text}");
        assert!(text.contains("G:    2 (0x2)"), "{text}");

        // openssl writes them back exactly as they are: the same PEM form
        let again = openssl(&["dhparam", "-in", path_str(&file)]);
        assert_eq!(again, pem);

        assert_eq!(our_info(&file), DhInfo { bits, ok: true });
    }
}

#[test]
fn ec_params_are_what_openssl_ecparam_writes_now() {
    let mut names = 0;
    for name in ec_curve_names() {
        // (stdout only: for secp256r1 openssl says "using curve name prime256v1 instead" on stderr)
        let theirs = openssl(&["ecparam", "-name", name]);
        assert_eq!(ec_params_pem(name).as_deref(), Some(theirs.as_str()), "{name}");
        names += 1;
    }
    assert!(names >= 41, "{names}");
    for name in ["x25519", "x448", "SECP256R1", "p-256"] {
        let (ok, _) = openssl_status(&["ecparam", "-name", name]);
        assert!(!ok, "openssl ecparam -name {name} succeeded");
        assert_eq!(ec_params_pem(name), None, "{name}");
    }
}

#[test]
fn openssl_made_dh_params_pass_our_check() {
    let dir = temp_dir("params-dh-openssl");
    // a search of openssl's own
    let made = dir.join("openssl1024.pem");
    openssl(&["dhparam", "-out", path_str(&made), "1024"]);
    // RFC 7919's ffdhe2048, as openssl writes it
    let ffdhe = dir.join("ffdhe2048.pem");
    openssl(&["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", path_str(&ffdhe)]);
    for (file, bits) in [(&made, 1024), (&ffdhe, 2048)] {
        let (ok, said) = openssl_check(file);
        assert!(ok, "{said}");
        assert_eq!(our_info(file), DhInfo { bits, ok: true }, "{}", file.display());
    }
}

#[test]
fn bad_dh_params_fail_both_checks() {
    let dir = temp_dir("params-dh-bad");
    // a prime that is not safe: (p - 1)/2 composite, as openssl prime says
    let p = openssl(&["prime", "-generate", "-bits", "1024", "-hex"]).trim().to_string();
    let unsafe_prime = openssl_dh_pem(&dir, "unsafe", &p, 2);
    // a safe prime (from openssl's ffdhe2048) with the generators 1 and 3
    let ffdhe = dir.join("ffdhe2048.pem");
    openssl(&["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", path_str(&ffdhe)]);
    let asn1 = openssl(&["asn1parse", "-in", path_str(&ffdhe)]);
    let safe_hex = asn1.lines().find(|l| l.contains("prim: INTEGER")).and_then(|l| l.rsplit(':').next()).unwrap();
    let said = openssl(&["prime", "-hex", &half_hex(&p)]);
    assert!(said.contains("is not prime"), "(p - 1)/2 of {p}: {said}");
    let g1 = openssl_dh_pem(&dir, "g1", safe_hex, 1);
    let g3 = openssl_dh_pem(&dir, "g3", safe_hex, 3);
    for (file, expected_ok) in [(&unsafe_prime, false), (&g1, false), (&g3, true)] {
        let (openssl_ok, said) = openssl_check(file);
        assert_eq!(openssl_ok, expected_ok, "openssl on {}: {said}", file.display());
        let ours = our_info(file);
        assert_eq!(ours.ok, expected_ok, "ours on {}", file.display());
    }
}

/// (p - 1)/2 of an odd hex number, in hex: a right shift by one bit.
fn half_hex(hex: &str) -> String {
    let mut carry = 0;
    let mut out = String::new();
    for c in hex.chars() {
        let d = c.to_digit(16).unwrap() + carry * 16;
        out.push(char::from_digit(d / 2, 16).unwrap());
        carry = d % 2;
    }
    out.trim_start_matches('0').to_uppercase()
}
