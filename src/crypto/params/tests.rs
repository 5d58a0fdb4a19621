use super::*;

/// `openssl ecparam -name <name>` (OpenSSL 3.0.19, Debian 12), the base64
/// line of each, run once by hand on 2026-12-03 and pasted here.
const OPENSSL_ECPARAM: &[(&str, &str)] = &[
    ("secp112r1", "BgUrgQQABg=="),
    ("secp112r2", "BgUrgQQABw=="),
    ("secp128r1", "BgUrgQQAHA=="),
    ("secp128r2", "BgUrgQQAHQ=="),
    ("secp160k1", "BgUrgQQACQ=="),
    ("secp160r1", "BgUrgQQACA=="),
    ("secp160r2", "BgUrgQQAHg=="),
    ("secp192k1", "BgUrgQQAHw=="),
    ("secp224k1", "BgUrgQQAIA=="),
    ("secp224r1", "BgUrgQQAIQ=="),
    ("secp256k1", "BgUrgQQACg=="),
    ("secp384r1", "BgUrgQQAIg=="),
    ("secp521r1", "BgUrgQQAIw=="),
    ("prime192v1", "BggqhkjOPQMBAQ=="),
    ("prime192v2", "BggqhkjOPQMBAg=="),
    ("prime192v3", "BggqhkjOPQMBAw=="),
    ("prime239v1", "BggqhkjOPQMBBA=="),
    ("prime239v2", "BggqhkjOPQMBBQ=="),
    ("prime239v3", "BggqhkjOPQMBBg=="),
    ("prime256v1", "BggqhkjOPQMBBw=="),
    ("brainpoolP160r1", "BgkrJAMDAggBAQE="),
    ("brainpoolP160t1", "BgkrJAMDAggBAQI="),
    ("brainpoolP192r1", "BgkrJAMDAggBAQM="),
    ("brainpoolP192t1", "BgkrJAMDAggBAQQ="),
    ("brainpoolP224r1", "BgkrJAMDAggBAQU="),
    ("brainpoolP224t1", "BgkrJAMDAggBAQY="),
    ("brainpoolP256r1", "BgkrJAMDAggBAQc="),
    ("brainpoolP256t1", "BgkrJAMDAggBAQg="),
    ("brainpoolP320r1", "BgkrJAMDAggBAQk="),
    ("brainpoolP320t1", "BgkrJAMDAggBAQo="),
    ("brainpoolP384r1", "BgkrJAMDAggBAQs="),
    ("brainpoolP384t1", "BgkrJAMDAggBAQw="),
    ("brainpoolP512r1", "BgkrJAMDAggBAQ0="),
    ("brainpoolP512t1", "BgkrJAMDAggBAQ4="),
    ("secp192r1", "BggqhkjOPQMBAQ=="),
    ("secp256r1", "BggqhkjOPQMBBw=="),
    ("P-192", "BggqhkjOPQMBAQ=="),
    ("P-224", "BgUrgQQAIQ=="),
    ("P-256", "BggqhkjOPQMBBw=="),
    ("P-384", "BgUrgQQAIg=="),
    ("P-521", "BgUrgQQAIw=="),
];

/// `openssl dhparam -out dh512.pem 512` (OpenSSL 3.0.19), made once by hand.
const OPENSSL_DH512: &str = "-----BEGIN DH PARAMETERS-----
MEYCQQDJCXJrgeAZCGLj+20sNjW9eFv155Pc+Ori0UOjxTKtNhmW+uxcIoT1Wn3v
9mvjrVE7FqjDuFgrCc8OBMTqzml3AgEC
-----END DH PARAMETERS-----
";
/// The prime of OPENSSL_DH512.
const SAFE_512: &str = "C909726B81E0190862E3FB6D2C3635BD785BF5E793DCF8EAE2D143A3C532AD361996FAEC5C2284F55A7DEFF66BE3AD513B16A8C3B8582B09CF0E04C4EACE6977";
/// `openssl prime -generate -bits 512`: prime, but (p - 1)/2 is not
/// (`openssl prime` says so; `openssl dhparam -check` fails it with g = 2).
const UNSAFE_512: &str = "F300A76A2F2A8AF59125A6D1F22BAE7A51B550A4B800CFDCE47ED7906B164535CC39261E3D893CDF530CF3D39DE22EE7E2AEB09C14F24E2BA28B1A4D58209B39";
/// `openssl prime -generate -bits 256 -safe`: safe, but below 512 bits
/// (`openssl dhparam -check`: "modulus too small").
const SAFE_256: &str = "FF479C53F1C1087019862506ADD66064196C887C1F62FFB5EA5F5A0509E40583";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// PEM "DH PARAMETERS" for any p and g, built independently of the module's encoder.
fn dh_pem(p: &[u8], g: &[u8]) -> String {
    fn int(v: &[u8]) -> Vec<u8> {
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        let body = if v.first().is_none_or(|&b| b >= 0x80) { [&[0u8][..], &v].concat() } else { v };
        [&[0x02][..], &len(body.len()), &body].concat()
    }
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            128..=255 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }
    let body = [int(p), int(g)].concat();
    pem_encode("DH PARAMETERS", &[&[0x30][..], &len(body.len()), &body].concat())
}

fn info(pem: &str) -> DhInfo {
    dh_params_info(pem.as_bytes()).unwrap()
}

#[test]
fn ec_params_are_openssl_ecparam_output() {
    for (name, b64) in OPENSSL_ECPARAM {
        let expected = format!("-----BEGIN EC PARAMETERS-----\n{b64}\n-----END EC PARAMETERS-----\n");
        assert_eq!(ec_params_pem(name).as_deref(), Some(expected.as_str()), "{name}");
    }
    // every name offered is checked above
    for name in ec_curve_names() {
        assert!(OPENSSL_ECPARAM.iter().any(|(n, _)| *n == name), "{name} has no openssl output to compare");
    }
}

#[test]
fn ec_names_as_openssl_takes_them() {
    // short names in any case, as ecparam takes them
    assert_eq!(ec_params_pem("PRIME256V1"), ec_params_pem("prime256v1"));
    assert_eq!(ec_params_pem("Secp384r1"), ec_params_pem("secp384r1"));
    assert_eq!(ec_params_pem("BRAINPOOLP256R1"), ec_params_pem("brainpoolP256r1"));
    // aliases only as written (openssl ecparam rejects these)
    for rejected in ["SECP256R1", "Secp192r1", "p-256", "P-256 ", "", "secp256k1x", "sect163k1"] {
        assert_eq!(ec_params_pem(rejected), None, "{rejected:?}");
    }
}

#[test]
fn x25519_and_x448_are_not_ec_parameters() {
    for name in ["x25519", "x448", "X25519", "X448", "ed25519", "ed448"] {
        assert_eq!(ec_params_pem(name), None, "{name}");
    }
    // the original's default list makes three blocks
    let pem: String =
        ["x448", "x25519", "secp521r1", "secp384r1", "secp256k1"].iter().filter_map(|c| ec_params_pem(c)).collect();
    assert_eq!(pem.matches("-----BEGIN EC PARAMETERS-----").count(), 3);
    assert_eq!(ec_params_curves(pem.as_bytes()), ["secp521r1", "secp384r1", "secp256k1"]);
}

#[test]
fn ec_curves_of_concatenated_pem() {
    let mut pem = String::from(OPENSSL_DH512);
    pem.push('\n');
    for name in ["P-256", "brainpoolP512t1", "secp192r1"] {
        pem.push_str(&ec_params_pem(name).unwrap());
    }
    // another named curve (sect163k1, 1.3.132.0.1), explicit parameters, bad base64
    pem.push_str("-----BEGIN EC PARAMETERS-----\nBgUrgQQAAQ==\n-----END EC PARAMETERS-----\n");
    pem.push_str("-----BEGIN EC PARAMETERS-----\nMAMCAQE=\n-----END EC PARAMETERS-----\n");
    pem.push_str("-----BEGIN EC PARAMETERS-----\n!!!!\n-----END EC PARAMETERS-----\n");
    pem.push_str(&ec_params_pem("secp384r1").unwrap().replace('\n', "\r\n"));
    assert_eq!(
        ec_params_curves(pem.as_bytes()),
        ["prime256v1", "brainpoolP512t1", "prime192v1", "1.3.132.0.1", "secp384r1"]
    );
    assert!(ec_params_curves(b"").is_empty());
    assert!(ec_params_curves(OPENSSL_DH512.as_bytes()).is_empty());
}

#[test]
fn dh_512_generated_checked_and_in_openssl_form() {
    let mut last = 0;
    let pem = generate_dh_params(512, &mut |n| last = n, &|| false).unwrap();
    assert!(last > 0, "progress gets the count at the end");
    let lines: Vec<&str> = pem.lines().collect();
    assert_eq!(lines.first(), Some(&"-----BEGIN DH PARAMETERS-----"));
    assert_eq!(lines.last(), Some(&"-----END DH PARAMETERS-----"));
    assert!(pem.ends_with("-----\n") && !pem.contains('\r'));
    // 72 bytes of DER (SEQUENCE { INTEGER 65 bytes, INTEGER 2 }): one full line, one of 32
    assert_eq!(lines[1..lines.len() - 1].iter().map(|l| l.len()).collect::<Vec<_>>(), [64, 32]);
    assert_eq!(info(&pem), DhInfo { bits: 512, ok: true });
    // the same shape as openssl's own, byte for byte outside the prime
    let der = pem_blocks(pem.as_bytes(), "DH PARAMETERS")[0].clone().unwrap();
    let theirs = pem_blocks(OPENSSL_DH512.as_bytes(), "DH PARAMETERS")[0].clone().unwrap();
    assert_eq!((&der[..5], &der[69..]), (&theirs[..5], &theirs[69..]));
    assert_eq!(der.len(), theirs.len());
    let p = &der[5..69];
    assert_eq!(bytes_mod(p, 24), 23, "p ≡ 23 (mod 24): 2 generates the order-q subgroup");
    assert_eq!(dh_pem(p, &[2]), pem, "DER independently built");
    // two calls, two primes
    let again = generate_dh_params(512, &mut |_| {}, &|| false).unwrap();
    assert_ne!(again, pem);
}

#[test]
fn dh_sizes_outside_openssl_limits_are_refused() {
    for bits in [0, 256, 511, 10_001] {
        let err = generate_dh_params(bits, &mut |_| {}, &|| false).unwrap_err();
        assert!(!err.is_stopped());
        assert_eq!(
            err.to_string(),
            format!("Diffie-Hellman parameters of {bits} bits are not supported (from 512 to 10000 bits)")
        );
    }
}

#[test]
fn dh_stop_ends_the_search() {
    // (No timing here: speed is a benchmark's business, and under qemu a
    // sieve's set-up alone takes seconds. The polls count the work.)
    let err = generate_dh_params(4096, &mut |_| {}, &|| true).unwrap_err();
    assert!(err.is_stopped());
    assert_eq!(err.to_string(), "Diffie-Hellman parameter generation was stopped before it finished");
    // stopped in the middle, after a few candidates of the thousands 2048 bits take on
    // average; finding the prime in the first few (about 1 in 200) only means another try
    let stopped = (0..3).find_map(|_| {
        let polls = std::cell::Cell::new(0);
        let outcome = generate_dh_params(2048, &mut |_| {}, &|| {
            polls.set(polls.get() + 1);
            polls.get() > 5
        });
        outcome.err().map(|e| (e, polls.get()))
    });
    let (err, polls) = stopped.expect("stopped");
    assert!(err.is_stopped());
    assert_eq!(polls, 6, "the search ends at the first poll that says stop");
}

#[test]
fn dh_info_of_openssl_made_params() {
    assert_eq!(info(OPENSSL_DH512), DhInfo { bits: 512, ok: true });
    assert_eq!(dh_pem(&unhex(SAFE_512), &[2]), OPENSSL_DH512);
    // in the middle of other blocks, CRLF line ends, the first DH block counts
    let bundle = format!(
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n{}\n{}",
        OPENSSL_DH512.replace('\n', "\r\n"),
        dh_pem(&unhex(UNSAFE_512), &[2])
    );
    assert_eq!(info(&bundle), DhInfo { bits: 512, ok: true });
}

#[test]
fn dh_info_fails_what_openssl_dhparam_check_fails() {
    let safe = unhex(SAFE_512);
    // prime, not safe
    assert_eq!(info(&dh_pem(&unhex(UNSAFE_512), &[2])), DhInfo { bits: 512, ok: false });
    // not prime: p + 2, p + 4 (odd)
    for add in [2u8, 4] {
        let mut p = safe.clone();
        *p.last_mut().unwrap() += add;
        assert_eq!(info(&dh_pem(&p, &[2])), DhInfo { bits: 512, ok: false }, "+{add}");
    }
    // even
    let mut even = safe.clone();
    *even.last_mut().unwrap() -= 1;
    assert!(!info(&dh_pem(&even, &[2])).ok);
    // generators: 0, 1 and p - 1 are not suitable; 3 is, as openssl sees it
    let p_minus_1 = even;
    for g in [&[0u8][..], &[1], &p_minus_1, &safe] {
        assert!(!info(&dh_pem(&safe, g)).ok, "g = {g:?}");
    }
    assert!(info(&dh_pem(&safe, &[3])).ok);
    // a safe prime below 512 bits
    assert_eq!(info(&dh_pem(&unhex(SAFE_256), &[2])), DhInfo { bits: 256, ok: false });
    // above 10000 bits: refused without testing
    let mut huge = vec![0xff; 1251];
    huge[0] = 0x01;
    assert_eq!(info(&dh_pem(&huge, &[2])), DhInfo { bits: 10_001, ok: false });
}

#[test]
fn dh_info_errors_when_there_are_no_dh_params() {
    let err = dh_params_info(ec_params_pem("secp384r1").unwrap().as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "no DH PARAMETERS block found in the PEM data");
    let err = dh_params_info(b"-----BEGIN DH PARAMETERS-----\n!!\n-----END DH PARAMETERS-----\n").unwrap_err();
    assert_eq!(err.to_string(), "the DH PARAMETERS block is not valid: its base64 does not decode");
    for der in [&b"\x02\x01\x02"[..], b"\x30\x03\x02\x01\x02", b"\x30\x06\x02\x01\x17\x02\x01\xfe", b"\x30\x00"] {
        let pem = pem_encode("DH PARAMETERS", der);
        let err = dh_params_info(pem.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("the DH PARAMETERS block is not valid: it is not a PKCS#3"), "{der:?}");
    }
    // the optional privateValueLength is allowed
    let mut der = pem_blocks(OPENSSL_DH512.as_bytes(), "DH PARAMETERS")[0].clone().unwrap();
    der.extend([0x02, 0x02, 0x01, 0x00]);
    der[1] += 4;
    assert_eq!(info(&pem_encode("DH PARAMETERS", &der)), DhInfo { bits: 512, ok: true });
}

#[test]
fn sieve_windows_leave_exactly_the_candidates_without_small_factors() {
    let sieve = Sieve::new(1000);
    let start: u128 = (0x00ab_cdef_0123_4567_89ab_cdef_u128 / 12) * 12 + 11;
    let mut residues: Vec<u32> = sieve.primes.iter().map(|&(r, _)| bytes_mod(&start.to_be_bytes(), r)).collect();
    let mut marks = vec![false; 5000];
    for window in 0..3u128 {
        sieve.window(&mut residues, &mut marks);
        for (k, &survivor) in marks.iter().enumerate() {
            let q = start + 12 * (window * 5000 + k as u128);
            let small_factor = sieve
                .primes
                .iter()
                .any(|&(r, _)| q.is_multiple_of(u128::from(r)) || (2 * q + 1).is_multiple_of(u128::from(r)));
            assert_eq!(survivor, !small_factor, "window {window}, k {k}");
        }
    }
    assert!(marks.iter().filter(|&&m| m).count() > 100);
}

#[test]
fn sieve_and_start() {
    let sieve = Sieve::new(100);
    let primes: Vec<u32> = sieve.primes.iter().map(|&(r, _)| r).collect();
    assert_eq!(primes, [5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97]);
    assert!(sieve.primes.iter().all(|&(r, inv)| 12 * inv % r == 1));
    for qbits in [7, 8, 9, 511, 2047] {
        let start = random_start(qbits).unwrap().unwrap_or_else(|| random_start(qbits).unwrap().unwrap());
        assert_eq!(bytes_mod(&start, 12), 11);
        assert_eq!(bn::Bn::from_be(&start).unwrap().bits(), qbits);
    }
    let n: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    for m in [3, 12, 65_521, 4_194_301, u32::MAX] {
        assert_eq!(u128::from(bytes_mod(&n.to_be_bytes(), m)), n % u128::from(m), "{m}");
        let low = n & ((1 << 120) - 1); // 15 bytes: a head of 3 before the words
        assert_eq!(u128::from(bytes_mod(&n.to_be_bytes()[1..], m)), low % u128::from(m), "{m}");
    }
}
