//! Diffie-Hellman and EC parameters for servers (appended to certificate
//! files or written to parameter files), as the original made them with
//! `openssl dhparam <bits>` and `openssl ecparam -name <curve>`, without
//! running or linking OpenSSL.
//!
//! - DH: a new safe prime `p = 2q + 1` (`q` prime) with generator 2, PEM
//!   `DH PARAMETERS` (PKCS#3 `DHParameter`) in the form `openssl dhparam`
//!   writes, and the checks `openssl dhparam -check` makes.
//! - EC: the named-curve OID of a curve `openssl ecparam -name` knows, byte
//!   for byte its `EC PARAMETERS` output, and the names back from PEM data.
//!
//! The big-number work is aws-lc's (through `aws-lc-sys`, the library
//! aws-lc-rs links): Montgomery exponentiation and Miller-Rabin. Only
//! functions of `bn.h` that take no `BN_ULONG` are called: `aws-lc-sys`
//! as aws-lc-rs builds it has no `dh.h` bindings, and its one set of
//! bindings for every target declares `BN_ULONG` as 64 bits, which is wrong
//! on the 32-bit routers. Every `unsafe` block is in [`bn`] at the end.
//!
//! How a safe prime is searched for: candidates `q ≡ 11 (mod 12)` (so
//! `p ≡ 23 (mod 24)`: neither is divisible by 2 or 3, and 2 is a quadratic
//! residue mod `p`, so `g = 2` generates the subgroup of prime order `q`, as
//! in what `openssl dhparam` makes) from a random start, in windows that a
//! sieve of the primes below [`sieve_bound`] (2^22 at 2048 bits: 296,000 of
//! them) clears of every `q` where `q` or `2q + 1` has a small factor. Each
//! survivor costs one exponentiation, `2^q mod p` (1 when `p` is prime, by
//! Euler's criterion); the rare one that passes gets Miller-Rabin on `q` and
//! `p`. The search runs on every core the process may use, each thread from
//! its own random start; the first safe prime found wins.
//!
//! aws-lc's own search (`BN_generate_prime_ex` with `safe`, which its
//! `DH_generate_parameters_ex` calls) divides each candidate anew by its
//! 1,024 small primes (to 8161), in constant time, before Miller-Rabin;
//! OpenSSL 3.0 sieves with 384 primes at 2048 bits, so about four times as
//! many candidates reach an exponentiation. Both were several times slower
//! here (`bench/README.md`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::asn1::{AnyRef, ObjectIdentifier, UintRef};
use der::{Decode, Encode, Tag};

use super::pem_encode;

// ---------------------------------------------------------------------------
// Errors

/// Why parameters could not be made or read. Its `Display` is one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError(ErrorKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorKind {
    Stopped,
    UnsupportedSize(u32),
    NoDhParams,
    InvalidDhParams(&'static str),
    Library(&'static str),
}

impl ParamsError {
    /// The search was ended by its `stop` function before a prime was found.
    pub fn is_stopped(&self) -> bool {
        self.0 == ErrorKind::Stopped
    }
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::Stopped => f.write_str("Diffie-Hellman parameter generation was stopped before it finished"),
            ErrorKind::UnsupportedSize(bits) => write!(
                f,
                "Diffie-Hellman parameters of {bits} bits are not supported (from {MIN_DH_BITS} to {MAX_DH_BITS} bits)"
            ),
            ErrorKind::NoDhParams => f.write_str("no DH PARAMETERS block found in the PEM data"),
            ErrorKind::InvalidDhParams(why) => write!(f, "the DH PARAMETERS block is not valid: {why}"),
            ErrorKind::Library(what) => write!(f, "aws-lc failed in {what}"),
        }
    }
}

impl std::error::Error for ParamsError {}

fn invalid(why: &'static str) -> ParamsError {
    ParamsError(ErrorKind::InvalidDhParams(why))
}

// ---------------------------------------------------------------------------
// DH parameters

/// The smallest and largest DH modulus accepted, OpenSSL's `DH_MIN_MODULUS_BITS`
/// and `OPENSSL_DH_MAX_MODULUS_BITS`: `openssl dhparam -check` fails others.
pub const MIN_DH_BITS: u32 = 512;
pub const MAX_DH_BITS: u32 = 10_000;

/// Miller-Rabin rounds for parameters read from a file (aws-lc's
/// `BN_prime_checks_for_validation`, as its `DH_check` uses; OpenSSL 3's
/// `BN_check_prime` does 64 as well up to 2048 bits).
const VALIDATION_CHECKS: i32 = 64;
/// For a candidate the search found: aws-lc's `BN_prime_checks_for_generation`
/// (0), a count by size for an error below 2^-125 on random candidates.
const GENERATION_CHECKS: i32 = 0;

/// How often, at most, `progress` is called during a search.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Candidates `q = start + 12k` per sieve window (`k` below this).
const WINDOW: usize = 1 << 16;
/// Threads at most, whatever the machine says.
const MAX_THREADS: usize = 32;

/// What [`dh_params_info`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhInfo {
    /// The size of the prime `p` in bits (what `openssl dhparam -text` shows).
    pub bits: u32,
    /// Whether the parameters pass the checks of `openssl dhparam -check`.
    pub ok: bool,
}

/// A new safe prime p of `bits` bits (p = 2q+1, q prime), generator 2, as PEM
/// "DH PARAMETERS" (PKCS#3 `DHParameter ::= SEQUENCE { prime INTEGER, base
/// INTEGER }`), 64-column base64, exactly the form `openssl dhparam` writes.
///
/// `progress` is called on the calling thread about every 100 ms while the
/// search runs, and once when it ends, with the number of candidates tested
/// so far (on all threads; each costs one modular exponentiation). `stop` is
/// polled on the calling thread before every candidate it tests (every 2 ms
/// or so at 2048 bits) and ends the search early: `Err` for which
/// [`ParamsError::is_stopped`] is true. Sizes from [`MIN_DH_BITS`] to
/// [`MAX_DH_BITS`]; the time taken varies a great deal from one call to the
/// next (the gaps between safe primes do).
pub fn generate_dh_params(
    bits: u32,
    progress: &mut dyn FnMut(u64),
    stop: &dyn Fn() -> bool,
) -> Result<String, ParamsError> {
    if !(MIN_DH_BITS..=MAX_DH_BITS).contains(&bits) {
        return Err(ParamsError(ErrorKind::UnsupportedSize(bits)));
    }
    if stop() {
        return Err(ParamsError(ErrorKind::Stopped));
    }
    let sieve = Sieve::new(sieve_bound(bits));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS);
    let shared = Shared { done: AtomicBool::new(false), tested: AtomicU64::new(0), outcome: Mutex::new(None) };
    let stopped = std::thread::scope(|scope| {
        for _ in 1..threads {
            let (sieve, shared) = (&sieve, &shared);
            let worker = std::thread::Builder::new().name("dhparam".into()).spawn_scoped(scope, move || {
                let outcome = search(bits, sieve, shared, &mut || !shared.done.load(Ordering::Relaxed));
                shared.finish(outcome);
            });
            if worker.is_err() {
                break; // fewer threads, same search
            }
        }
        let mut stopped = false;
        let mut last = Instant::now();
        let outcome = search(bits, &sieve, &shared, &mut || {
            if shared.done.load(Ordering::Relaxed) {
                return false;
            }
            if stop() {
                stopped = true;
                shared.done.store(true, Ordering::Relaxed);
                return false;
            }
            if last.elapsed() >= PROGRESS_EVERY {
                progress(shared.tested.load(Ordering::Relaxed));
                last = Instant::now();
            }
            true
        });
        shared.finish(outcome);
        stopped
    });
    progress(shared.tested.load(Ordering::Relaxed));
    match shared.outcome.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(Ok(p)) => Ok(dh_params_pem(&p)?),
        Some(Err(e)) => Err(e),
        None if stopped => Err(ParamsError(ErrorKind::Stopped)),
        None => Err(ParamsError(ErrorKind::Library("the safe-prime search"))),
    }
}

/// The DH parameters in PEM data (the first "DH PARAMETERS" block): their size
/// in bits and whether they pass the checks `openssl dhparam -check` makes:
/// the size within [`MIN_DH_BITS`]..=[`MAX_DH_BITS`], p odd, 1 < g < p - 1
/// (a suitable generator), p prime and (p - 1)/2 prime. That costs 65
/// exponentiations mod p: about 0.15 s of CPU at 2048 bits, 1 s at 4096 (on a
/// router, far more: worth remembering the answer for parameters already
/// checked). `Err` when there is no such block or it is not PKCS#3
/// `DHParameter` DER.
pub fn dh_params_info(pem: &[u8]) -> Result<DhInfo, ParamsError> {
    let der = pem_blocks(pem, "DH PARAMETERS")
        .into_iter()
        .next()
        .ok_or(ParamsError(ErrorKind::NoDhParams))?
        .ok_or_else(|| invalid("its base64 does not decode"))?;
    let (p, g) = AnyRef::from_der(&der)
        .and_then(|any| {
            any.sequence(|r| {
                let p = UintRef::decode(r)?;
                let g = UintRef::decode(r)?;
                let _private_value_length = Option::<UintRef<'_>>::decode(r)?;
                Ok((p.as_bytes().to_vec(), g.as_bytes().to_vec()))
            })
        })
        .map_err(|_| invalid("it is not a PKCS#3 DHParameter (a SEQUENCE of the prime and the generator)"))?;
    let p = bn::Bn::from_be(&p)?;
    let g = bn::Bn::from_be(&g)?;
    let bits = p.bits();
    let ok = check_dh(&p, &g)?;
    Ok(DhInfo { bits, ok })
}

/// `openssl dhparam -check` for parameters without q (OpenSSL 3's `DH_check`
/// and `DH_check_params`): size, p odd, 1 < g < p - 1, p and q = (p - 1)/2
/// prime. Where OpenSSL runs Miller-Rabin on both, q gets it (64 rounds) and
/// p is proved prime from q by Pocklington's criterion: p - 1 = 2q with q
/// prime and q > √p, so 2^(p-1) ≡ 1 (mod p) and gcd(2^2 - 1, p) = 1 make p
/// prime. The same answer for half the exponentiations (0.15 s at 2048 bits).
fn check_dh(p: &bn::Bn, g: &bn::Bn) -> Result<bool, ParamsError> {
    if !(MIN_DH_BITS..=MAX_DH_BITS).contains(&p.bits()) || !p.is_odd() {
        return Ok(false);
    }
    let one = bn::Bn::from_be(&[1])?;
    let mut p_minus_1 = bn::Bn::new()?;
    bn::sub(&mut p_minus_1, p, &one)?;
    if g <= &one || g >= &p_minus_1 {
        return Ok(false);
    }
    if bytes_mod(&p.to_be(), 3) == 0 {
        return Ok(false);
    }
    let mut ctx = bn::Ctx::new()?;
    let (two, mut r) = (bn::Bn::from_be(&[2])?, bn::Bn::new()?);
    bn::mod_exp(&mut r, &two, &p_minus_1, p, &mut ctx)?;
    if !r.is_one() {
        return Ok(false); // p is not prime (Fermat)
    }
    let mut q = bn::Bn::new()?;
    bn::rshift1(&mut q, p)?;
    bn::is_prime(&q, VALIDATION_CHECKS, &mut ctx)
}

/// PKCS#3 `DHParameter` { p, 2 } as PEM.
fn dh_params_pem(p: &[u8]) -> Result<String, ParamsError> {
    let encode = || -> der::Result<Vec<u8>> {
        let mut body = UintRef::new(p)?.to_der()?;
        body.extend(UintRef::new(&[2])?.to_der()?);
        AnyRef::new(Tag::Sequence, &body)?.to_der()
    };
    let der = encode().map_err(|_| ParamsError(ErrorKind::Library("DER encoding")))?;
    Ok(pem_encode("DH PARAMETERS", &der))
}

/// Below this the sieve's primes are: more primes leave fewer candidates to
/// exponentiate (at 2048 bits about 3,300 expected with primes below 2^20,
/// 2,700 below 2^22) at the cost of reducing each thread's random start by
/// each (0.1 s at 2048 bits for 2^22) and memory (8 bytes a prime in all,
/// 4 more per thread). `bits`², within 2^18..=2^23: 2^22 at 2048 bits.
fn sieve_bound(bits: u32) -> u32 {
    bits.saturating_mul(bits).clamp(1 << 18, 1 << 23)
}

/// The odd primes `5 <= r < bound`, each with the inverse of 12 mod `r`.
struct Sieve {
    primes: Vec<(u32, u32)>,
}

impl Sieve {
    fn new(bound: u32) -> Sieve {
        // Eratosthenes over the odd numbers: composite[i] is about 2i + 1
        let half = bound as usize / 2;
        let mut composite = vec![false; half];
        let mut primes = Vec::new();
        for i in 1..half {
            if composite[i] {
                continue;
            }
            let r = 2 * i + 1;
            if r >= 5 {
                primes.push((r as u32, pow_mod(12, r as u32 - 2, r as u32)));
            }
            let mut j = r * r / 2;
            while j < half {
                composite[j] = true;
                j += r;
            }
        }
        Sieve { primes }
    }

    /// Marks the `k` of `q = s + 12k` (`k` < `marks.len()`) where neither `q`
    /// nor `2q + 1` has a factor among the primes, given `residues[i]` =
    /// `s mod primes[i]`; then moves the residues on to the next window's start.
    fn window(&self, residues: &mut [u32], marks: &mut [bool]) {
        marks.fill(true);
        let len = marks.len() as u64;
        for (&(r, inv12), res) in self.primes.iter().zip(residues.iter_mut()) {
            let (r64, res64) = (u64::from(r), u64::from(*res));
            // r | q when k ≡ -res/12, r | 2q + 1 when k ≡ ((r - 1)/2 - res)/12 (mod r)
            for target in [0, u64::from((r - 1) / 2)] {
                let mut k = ((target + r64 - res64) % r64 * u64::from(inv12) % r64) as usize;
                while k < marks.len() {
                    marks[k] = false;
                    k += r as usize;
                }
            }
            *res = ((res64 + 12 * len % r64) % r64) as u32;
        }
    }
}

fn pow_mod(base: u32, mut exp: u32, m: u32) -> u32 {
    let m = u64::from(m);
    let (mut b, mut acc) = (u64::from(base) % m, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = acc * b % m;
        }
        b = b * b % m;
        exp >>= 1;
    }
    acc as u32
}

/// What the threads of one search share.
struct Shared {
    /// Set by the first thread to finish (found or failed) and on `stop`.
    done: AtomicBool,
    tested: AtomicU64,
    /// The first finished thread's result: the prime's bytes or an error.
    outcome: Mutex<Option<Result<Vec<u8>, ParamsError>>>,
}

impl Shared {
    fn finish(&self, outcome: Result<Option<Vec<u8>>, ParamsError>) {
        let outcome = match outcome {
            Ok(None) => return,
            Ok(Some(p)) => Ok(p),
            Err(e) => Err(e),
        };
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(outcome);
        }
        self.done.store(true, Ordering::Relaxed);
    }
}

/// One thread's search: `Ok(Some(p))` (big-endian) when it found a safe
/// prime, `Ok(None)` when `keep_going` (asked before each candidate) said no.
fn search(
    bits: u32,
    sieve: &Sieve,
    shared: &Shared,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Option<Vec<u8>>, ParamsError> {
    let mut ctx = bn::Ctx::new()?;
    let one = bn::Bn::from_be(&[1])?;
    let two = bn::Bn::from_be(&[2])?;
    let (mut offset, mut q, mut p, mut r) = (bn::Bn::new()?, bn::Bn::new()?, bn::Bn::new()?, bn::Bn::new()?);
    let mut marks = vec![false; WINDOW];
    'start: loop {
        let Some(start) = random_start(bits - 1)? else { continue };
        let start_bn = bn::Bn::from_be(&start)?;
        // start mod r, then (window start) mod r as the windows move on
        let mut residues: Vec<u32> = sieve.primes.iter().map(|&(r, _)| bytes_mod(&start, r)).collect();
        let mut base: u64 = 0;
        loop {
            sieve.window(&mut residues, &mut marks);
            for (k, _) in marks.iter().enumerate().filter(|(_, &m)| m) {
                if !keep_going() {
                    return Ok(None);
                }
                shared.tested.fetch_add(1, Ordering::Relaxed);
                let step = 12 * (base + k as u64);
                offset.set_be(&step.to_be_bytes())?;
                bn::add(&mut q, &start_bn, &offset)?;
                bn::lshift1(&mut r, &q)?;
                bn::add(&mut p, &r, &one)?;
                if p.bits() != bits {
                    continue 'start; // ran past the top: a new start
                }
                // Euler's criterion: 2 is a square mod p (p ≡ 7 mod 8), so 2^q ≡ 1 if p is prime.
                bn::mod_exp(&mut r, &two, &q, &p, &mut ctx)?;
                if !r.is_one() {
                    continue;
                }
                // q prime and 2^(p-1) ≡ 1 with gcd(2^2 - 1, p) = 1 prove p prime (Pocklington);
                // p gets Miller-Rabin anyway, for what q's test leaves open.
                if bn::is_prime(&q, GENERATION_CHECKS, &mut ctx)? && bn::is_prime(&p, GENERATION_CHECKS, &mut ctx)? {
                    return Ok(Some(p.to_be()));
                }
            }
            base += WINDOW as u64;
        }
    }
}

/// A random `qbits`-bit number (top bit set) ≡ 11 (mod 12), big-endian;
/// `None` (try again) when rounding up to 11 mod 12 would carry past the top.
fn random_start(qbits: u32) -> Result<Option<Vec<u8>>, ParamsError> {
    let len = qbits.div_ceil(8) as usize;
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ParamsError(ErrorKind::Library("the random number generator")))?;
    let top = (qbits - 1) % 8; // the top bit's place in the first byte
    bytes[0] = (bytes[0] & ((1u16 << (top + 1)) - 1) as u8) | (1 << top);
    let delta = (11 + 12 - bytes_mod(&bytes, 12)) % 12;
    let mut carry = delta;
    for b in bytes.iter_mut().rev() {
        let sum = u32::from(*b) + carry;
        *b = sum as u8;
        carry = sum >> 8;
        if carry == 0 {
            break;
        }
    }
    Ok((carry == 0 && u32::from(bytes[0]) >> top == 1).then_some(bytes))
}

/// A big-endian number mod `m` (`m` below 2^32).
fn bytes_mod(bytes: &[u8], m: u32) -> u32 {
    let m = u64::from(m);
    let head = bytes.len() % 4;
    let mut acc = bytes[..head].iter().fold(0u64, |acc, &b| (acc << 8 | u64::from(b)) % m);
    for word in bytes[head..].chunks_exact(4) {
        let w = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        acc = (acc << 32 | u64::from(w)) % m;
    }
    acc as u32
}

// ---------------------------------------------------------------------------
// EC parameters

/// The prime-field curves `openssl ecparam -name` knows (OpenSSL 3.0's
/// `ecparam -list_curves`), by the short name it prints (`ASN1 OID:`), which
/// it also accepts in any case. The binary-field (`sect…`, `c2…`), WAP and
/// Oakley curves and SM2 are left out.
const EC_CURVES: &[(&str, ObjectIdentifier)] = &[
    ("secp112r1", ObjectIdentifier::new_unwrap("1.3.132.0.6")),
    ("secp112r2", ObjectIdentifier::new_unwrap("1.3.132.0.7")),
    ("secp128r1", ObjectIdentifier::new_unwrap("1.3.132.0.28")),
    ("secp128r2", ObjectIdentifier::new_unwrap("1.3.132.0.29")),
    ("secp160k1", ObjectIdentifier::new_unwrap("1.3.132.0.9")),
    ("secp160r1", ObjectIdentifier::new_unwrap("1.3.132.0.8")),
    ("secp160r2", ObjectIdentifier::new_unwrap("1.3.132.0.30")),
    ("secp192k1", ObjectIdentifier::new_unwrap("1.3.132.0.31")),
    ("secp224k1", ObjectIdentifier::new_unwrap("1.3.132.0.32")),
    ("secp224r1", ObjectIdentifier::new_unwrap("1.3.132.0.33")),
    ("secp256k1", ObjectIdentifier::new_unwrap("1.3.132.0.10")),
    ("secp384r1", ObjectIdentifier::new_unwrap("1.3.132.0.34")),
    ("secp521r1", ObjectIdentifier::new_unwrap("1.3.132.0.35")),
    ("prime192v1", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.1")),
    ("prime192v2", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.2")),
    ("prime192v3", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.3")),
    ("prime239v1", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.4")),
    ("prime239v2", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.5")),
    ("prime239v3", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.6")),
    ("prime256v1", ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")),
    ("brainpoolP160r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.1")),
    ("brainpoolP160t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.2")),
    ("brainpoolP192r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.3")),
    ("brainpoolP192t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.4")),
    ("brainpoolP224r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.5")),
    ("brainpoolP224t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.6")),
    ("brainpoolP256r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7")),
    ("brainpoolP256t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.8")),
    ("brainpoolP320r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.9")),
    ("brainpoolP320t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.10")),
    ("brainpoolP384r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.11")),
    ("brainpoolP384t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.12")),
    ("brainpoolP512r1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.13")),
    ("brainpoolP512t1", ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.14")),
];

/// Other names `openssl ecparam -name` takes, in exactly this case: the SECG
/// names of two X9.62 curves (it says "using curve name prime256v1 instead of
/// secp256r1") and the NIST names.
const EC_ALIASES: &[(&str, &str)] = &[
    ("secp192r1", "prime192v1"),
    ("secp256r1", "prime256v1"),
    ("P-192", "prime192v1"),
    ("P-224", "secp224r1"),
    ("P-256", "prime256v1"),
    ("P-384", "secp384r1"),
    ("P-521", "secp521r1"),
];

/// Every name [`ec_params_pem`] takes: the short names, then the aliases.
pub fn ec_curve_names() -> impl Iterator<Item = &'static str> {
    EC_CURVES.iter().map(|&(name, _)| name).chain(EC_ALIASES.iter().map(|&(alias, _)| alias))
}

fn ec_curve_oid(curve: &str) -> Option<ObjectIdentifier> {
    let name = EC_ALIASES.iter().find(|&&(alias, _)| alias == curve).map_or(curve, |&(_, name)| name);
    EC_CURVES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, oid)| oid)
}

/// `openssl ecparam -name <curve>` output, byte for byte:
/// "-----BEGIN EC PARAMETERS-----\n<b64 of the named-curve OID DER>\n-----END EC PARAMETERS-----\n"
/// for the curves OpenSSL's ecparam knows by name (see [`ec_curve_names`]);
/// `None` for names it rejects, x25519 and x448 among them (not EC parameters:
/// the original's default list `["x448", "x25519", "secp521r1", "secp384r1",
/// "secp256k1"]` therefore yields three blocks).
pub fn ec_params_pem(curve: &str) -> Option<String> {
    let der = ec_curve_oid(curve)?.to_der().ok()?;
    Some(pem_encode("EC PARAMETERS", &der))
}

/// The curve names of the EC PARAMETERS blocks in PEM data, in order: OpenSSL's
/// short name (`prime256v1` for P-256, as `openssl ecparam -text` prints it)
/// for the curves of [`ec_params_pem`], the dotted OID for another named
/// curve. Blocks that hold no named curve (explicit parameters) or do not
/// decode are skipped.
pub fn ec_params_curves(pem: &[u8]) -> Vec<String> {
    pem_blocks(pem, "EC PARAMETERS")
        .into_iter()
        .flatten()
        .filter_map(|der| ObjectIdentifier::from_der(&der).ok())
        .map(|oid| {
            EC_CURVES.iter().find(|&&(_, known)| known == oid).map_or_else(|| oid.to_string(), |&(n, _)| n.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// PEM

/// The bodies of the `label` blocks in `pem`, base64-decoded, in order
/// (`None` for a body that is not base64).
fn pem_blocks(pem: &[u8], label: &str) -> Vec<Option<Vec<u8>>> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut blocks = Vec::new();
    let mut body: Option<String> = None;
    for line in String::from_utf8_lossy(pem).lines().map(str::trim) {
        match body.as_mut() {
            None if line == begin => body = Some(String::new()),
            None => {}
            Some(b) if line == end => {
                blocks.push(STANDARD.decode(b.as_bytes()).ok());
                body = None;
            }
            Some(b) => b.push_str(line),
        }
    }
    blocks
}

// ---------------------------------------------------------------------------
// aws-lc's big numbers

/// Safe wrappers around the `BIGNUM` functions of aws-lc (`aws-lc-sys`): the
/// only `unsafe` of this module. Values are owned (freed on drop) and not
/// `Send`: each thread makes its own.
mod bn {
    use std::cmp::Ordering;
    use std::os::raw::c_int;
    use std::ptr::{self, NonNull};

    use aws_lc_sys as sys;

    use super::{ErrorKind, ParamsError};

    fn failed(what: &'static str) -> ParamsError {
        ParamsError(ErrorKind::Library(what))
    }

    /// `1` into `Ok`, anything else (aws-lc's 0 for failure) into an error.
    fn check(rc: c_int, what: &'static str) -> Result<(), ParamsError> {
        if rc == 1 {
            Ok(())
        } else {
            Err(failed(what))
        }
    }

    /// An owned, non-null `BIGNUM`.
    pub struct Bn(NonNull<sys::BIGNUM>);

    impl Bn {
        pub fn new() -> Result<Bn, ParamsError> {
            // SAFETY: BN_new takes nothing and returns a new BIGNUM or NULL;
            // a non-null one is owned by the Bn from here on.
            NonNull::new(unsafe { sys::BN_new() }).map(Bn).ok_or_else(|| failed("BN_new"))
        }

        /// The unsigned big-endian number in `bytes`.
        pub fn from_be(bytes: &[u8]) -> Result<Bn, ParamsError> {
            let mut bn = Bn::new()?;
            bn.set_be(bytes)?;
            Ok(bn)
        }

        /// Sets the value to the unsigned big-endian number in `bytes`.
        pub fn set_be(&mut self, bytes: &[u8]) -> Result<(), ParamsError> {
            // SAFETY: `bytes` is valid for reads of its length during the call;
            // BN_bin2bn writes into the BIGNUM we own exclusively (&mut self)
            // and returns it, or NULL on allocation failure.
            let out = unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), self.0.as_ptr()) };
            if out.is_null() {
                Err(failed("BN_bin2bn"))
            } else {
                Ok(())
            }
        }

        /// The unsigned value, big-endian, without leading zeros.
        pub fn to_be(&self) -> Vec<u8> {
            let mut out = vec![0u8; self.bytes()];
            // SAFETY: BN_bn2bin writes exactly BN_num_bytes bytes, the length
            // of `out`, and only reads the BIGNUM.
            let n = unsafe { sys::BN_bn2bin(self.ptr(), out.as_mut_ptr()) };
            out.truncate(n);
            out
        }

        pub fn bits(&self) -> u32 {
            // SAFETY: reads a valid BIGNUM we own.
            unsafe { sys::BN_num_bits(self.ptr()) }
        }

        fn bytes(&self) -> usize {
            // SAFETY: reads a valid BIGNUM we own.
            unsafe { sys::BN_num_bytes(self.ptr()) as usize }
        }

        pub fn is_one(&self) -> bool {
            // SAFETY: reads a valid BIGNUM we own.
            unsafe { sys::BN_is_one(self.ptr()) == 1 }
        }

        pub fn is_odd(&self) -> bool {
            // SAFETY: reads a valid BIGNUM we own.
            unsafe { sys::BN_is_odd(self.ptr()) == 1 }
        }

        fn ptr(&self) -> *const sys::BIGNUM {
            self.0.as_ptr()
        }

        fn mut_ptr(&mut self) -> *mut sys::BIGNUM {
            self.0.as_ptr()
        }
    }

    impl Drop for Bn {
        fn drop(&mut self) {
            // SAFETY: the BIGNUM is ours and freed once, here.
            unsafe { sys::BN_free(self.0.as_ptr()) }
        }
    }

    impl PartialEq for Bn {
        fn eq(&self, other: &Bn) -> bool {
            self.partial_cmp(other) == Some(Ordering::Equal)
        }
    }

    impl PartialOrd for Bn {
        fn partial_cmp(&self, other: &Bn) -> Option<Ordering> {
            // SAFETY: reads two valid BIGNUMs.
            Some(unsafe { sys::BN_cmp(self.ptr(), other.ptr()) }.cmp(&0))
        }
    }

    /// An owned `BN_CTX` (scratch space for the functions below).
    pub struct Ctx(NonNull<sys::BN_CTX>);

    impl Ctx {
        pub fn new() -> Result<Ctx, ParamsError> {
            // SAFETY: BN_CTX_new takes nothing and returns a new BN_CTX or
            // NULL; a non-null one is owned by the Ctx from here on.
            NonNull::new(unsafe { sys::BN_CTX_new() }).map(Ctx).ok_or_else(|| failed("BN_CTX_new"))
        }
    }

    impl Drop for Ctx {
        fn drop(&mut self) {
            // SAFETY: the BN_CTX is ours and freed once, here.
            unsafe { sys::BN_CTX_free(self.0.as_ptr()) }
        }
    }

    /// `r = a + b`.
    pub fn add(r: &mut Bn, a: &Bn, b: &Bn) -> Result<(), ParamsError> {
        // SAFETY: three valid BIGNUMs; `r` is borrowed mutably, so it is
        // neither `a` nor `b` (BN_add would allow that anyway).
        check(unsafe { sys::BN_add(r.mut_ptr(), a.ptr(), b.ptr()) }, "BN_add")
    }

    /// `r = a - b`.
    pub fn sub(r: &mut Bn, a: &Bn, b: &Bn) -> Result<(), ParamsError> {
        // SAFETY: as in `add`.
        check(unsafe { sys::BN_sub(r.mut_ptr(), a.ptr(), b.ptr()) }, "BN_sub")
    }

    /// `r = 2a`.
    pub fn lshift1(r: &mut Bn, a: &Bn) -> Result<(), ParamsError> {
        // SAFETY: two valid, distinct BIGNUMs (`r` is borrowed mutably).
        check(unsafe { sys::BN_lshift1(r.mut_ptr(), a.ptr()) }, "BN_lshift1")
    }

    /// `r = a / 2` (rounded down).
    pub fn rshift1(r: &mut Bn, a: &Bn) -> Result<(), ParamsError> {
        // SAFETY: two valid, distinct BIGNUMs (`r` is borrowed mutably).
        check(unsafe { sys::BN_rshift1(r.mut_ptr(), a.ptr()) }, "BN_rshift1")
    }

    /// `r = a^e mod m` for an odd `m` and `0 <= a < m` (else an error).
    pub fn mod_exp(r: &mut Bn, a: &Bn, e: &Bn, m: &Bn, ctx: &mut Ctx) -> Result<(), ParamsError> {
        // SAFETY: valid BIGNUMs, `r` distinct from the inputs (borrowed
        // mutably), a BN_CTX we own exclusively; a NULL BN_MONT_CTX makes
        // BN_mod_exp_mont build its own. It checks `m` odd and `a < m` itself.
        let rc = unsafe { sys::BN_mod_exp_mont(r.mut_ptr(), a.ptr(), e.ptr(), m.ptr(), ctx.0.as_ptr(), ptr::null()) };
        check(rc, "BN_mod_exp_mont")
    }

    /// Miller-Rabin with `checks` rounds (0: aws-lc's count for the size).
    pub fn is_prime(n: &Bn, checks: c_int, ctx: &mut Ctx) -> Result<bool, ParamsError> {
        let mut probably_prime: c_int = 0;
        // SAFETY: `probably_prime` is a valid out-pointer for the call, `n` a
        // valid BIGNUM, the BN_CTX ours; no trial division, no callback (NULL).
        let rc =
            unsafe { sys::BN_primality_test(&mut probably_prime, n.ptr(), checks, ctx.0.as_ptr(), 0, ptr::null_mut()) };
        check(rc, "BN_primality_test")?;
        Ok(probably_prime == 1)
    }
}

#[cfg(test)]
mod tests;
