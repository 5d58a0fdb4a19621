//! The verification phase: for every certificate with `verify` targets, every
//! host (its alternative names or the target's `hosts`), every address of
//! it, every port and key type, ask the server what it serves and compare
//! it with the installed files (`crate::verify`). Connections run at most
//! [`PARALLEL`] at once, each with time limits. Runs after the services were
//! reloaded; what differs is a warning naming the host, address, port and
//! key type, the run's exit code is the original's for verification (12),
//! and each certificate's result is journaled (`installation_verified`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::plan::read_optional;
use super::web;
use crate::config::{CertificateSpec, FileKind, PrivateKeySpec, VerifyProtocol, VerifySpec};
use crate::journal::{cert_id, Event};
use crate::types::{KeyRole, KeyType};
use crate::verify::{self, ExpectedPin, Problem, Served, Target, Timeouts};

/// Connections (and name lookups) at most at once.
pub const PARALLEL: usize = 8;

const TIMEOUTS: Timeouts = Timeouts { connect: Duration::from_secs(10), io: Duration::from_secs(30) };

/// After services were reloaded, a server that still shows the old files is
/// asked again until this long after the reload (the original waited 5 s
/// before verifying at all).
const SETTLE: Duration = Duration::from_secs(5);
const SETTLE_STEP: Duration = Duration::from_millis(250);

/// One certificate and key type to verify, with what it should look like.
struct Item<'a> {
    cert: &'a CertificateSpec,
    key_type: KeyType,
    files: web::CertFiles<'a>,
    previous: Option<(String, i64)>,
    staple_required: bool,
    /// Pins of the installed HPKP header files (None: HPKP is off).
    pins: Option<Vec<ExpectedPin>>,
    /// (host, target spec) pairs.
    hosts: Vec<(String, &'a VerifySpec)>,
}

const HOSTS_FILE: &str = "/etc/hosts";

/// The addresses `/etc/hosts` (its text) gives `host`, in file order.
fn in_hosts_file(text: &str, host: &str) -> Vec<std::net::IpAddr> {
    let host = host.trim_end_matches('.');
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<std::net::IpAddr>) else { continue };
        if fields.any(|name| name.trim_end_matches('.').eq_ignore_ascii_case(host)) && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

/// One connection's outcome.
enum Outcome {
    Served(Box<Served>, Vec<Problem>),
    Failed(String),
}

/// Verifies the installations of the `selected` keys' certificates.
/// `reloaded`: services were reloaded by this run (servers get time to pick
/// up the new files). `explicit`: `--verify` was asked for, so what is found
/// good is said too (a daily run says only what differs).
pub fn verify(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec], reloaded: Option<Instant>, explicit: bool) {
    let items = items(ctx, selected);
    if items.is_empty() {
        return;
    }
    // Addresses of every host: /etc/hosts first (as getaddrinfo, which the
    // original uses), then DNS, looked up at most PARALLEL at once.
    let hosts: BTreeSet<&str> = items.iter().flat_map(|i| i.hosts.iter().map(|(h, _)| h.as_str())).collect();
    let hosts_file = std::fs::read_to_string(HOSTS_FILE).unwrap_or_default();
    let mut addresses: BTreeMap<&str, Result<Vec<SocketAddr>, String>> = BTreeMap::new();
    let mut to_look_up = Vec::new();
    for host in hosts {
        let listed = in_hosts_file(&hosts_file, host);
        if listed.is_empty() {
            to_look_up.push(host);
        } else {
            addresses.insert(host, Ok(listed.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect()));
        }
    }
    let resolver = super::zones::resolver(ctx.config);
    match &resolver {
        Ok(resolver) => {
            let found = parallel(&to_look_up, |h| resolver.resolve_host(h, 0).map_err(|e| e.to_string()));
            addresses.extend(to_look_up.into_iter().zip(found));
        }
        Err(e) => addresses.extend(to_look_up.into_iter().map(|h| (h, Err(e.to_string())))),
    }
    // The TLSA records of every host and port (none when DNS has none or
    // cannot be asked: DANE is optional).
    let owners: BTreeSet<String> =
        items.iter().flat_map(|i| i.hosts.iter().map(|(h, v)| super::tlsa::owner(v.port, "tcp", h))).collect();
    let owners: Vec<String> = owners.into_iter().collect();
    let tlsa: BTreeMap<String, Vec<verify::TlsaRecord>> = match &resolver {
        Ok(resolver) => {
            let found = parallel(&owners, |o| resolver.lookup_tlsa(o).unwrap_or_default());
            owners.into_iter().zip(found).collect()
        }
        Err(_) => BTreeMap::new(),
    };
    // Every connection, in the order they are reported.
    let mut targets = Vec::new();
    for (index, item) in items.iter().enumerate() {
        for (host, spec) in &item.hosts {
            let Ok(addrs) = &addresses[host.as_str()] else { continue };
            for addr in dedup(addrs) {
                let target = Target {
                    host: host.clone(),
                    addr: SocketAddr::new(addr.ip(), spec.port),
                    starttls: spec.starttls,
                    http: spec.protocol == Some(VerifyProtocol::Http),
                    key_type: item.key_type,
                };
                targets.push((index, target));
            }
        }
    }
    let now = ctx.now.secs();
    let settings = &ctx.config.settings;
    let (attempts, delay) = (settings.max_ocsp_verify_attempts.max(1), settings.ocsp_verify_retry_delay);
    let settle_until = reloaded.map(|at| at + SETTLE);
    let outcomes = parallel(&targets, |(index, target)| {
        let owner = super::tlsa::owner(target.addr.port(), "tcp", &target.host);
        let records = tlsa.get(&owner).map(Vec::as_slice).unwrap_or_default();
        check(&items[*index], target, records, now, attempts, Duration::from_secs(u64::from(delay)), settle_until)
    });

    // Said and journaled per certificate and key type, in configuration order.
    let mut failures: Vec<Vec<String>> = vec![Vec::new(); items.len()];
    let mut checked = vec![0u32; items.len()];
    for (index, item) in items.iter().enumerate() {
        for (host, _) in &item.hosts {
            if let Err(e) = &addresses[host.as_str()] {
                let message = format!("Unable to get address for {host}: {e}");
                ctx.report.verification_failed(format!("{}: {message}", item.files.what()));
                failures[index].push(message);
            }
        }
    }
    for ((index, target), outcome) in targets.iter().zip(outcomes) {
        let item = &items[*index];
        let kt = item.key_type.as_str().to_uppercase();
        let on = target.describe();
        checked[*index] += 1;
        match outcome {
            Outcome::Failed(e) => {
                let message = format!("Unable to connect to {on} via {kt}: {e}");
                ctx.report.verification_failed(&message);
                failures[*index].push(message);
            }
            Outcome::Served(served, problems) if problems.is_empty() => {
                let hs = &served.handshake;
                let staple = if hs.ocsp.is_some() { ", OCSP staple good" } else { "" };
                let pins = if item.pins.is_some() && target.http { ", public key pins present" } else { "" };
                let owner = super::tlsa::owner(target.addr.port(), "tcp", &target.host);
                let dane = if tlsa.get(&owner).is_some_and(|r| !r.is_empty()) { ", TLSA record matches" } else { "" };
                let line = format!(
                    "{kt} certificate {} present on {on} ({}, {}{staple}{pins}{dane})",
                    item.cert.name, hs.version, hs.cipher
                );
                if explicit {
                    tracing::info!("{line}");
                } else {
                    tracing::debug!("{line}");
                }
            }
            Outcome::Served(_, problems) => {
                for p in problems {
                    let message = format!("{kt} certificate {} on {on}: {p}", item.cert.name);
                    ctx.report.verification_failed(&message);
                    failures[*index].push(format!("{on}: {p}"));
                }
            }
        }
    }
    // Journaled when the result differs from the last one journaled: a
    // daily run finding the same adds nothing to the journal.
    for (index, item) in items.iter().enumerate() {
        let (serial, failures) = (&item.files.leaf.serial_hex, std::mem::take(&mut failures[index]));
        let id = cert_id(&item.cert.name, item.key_type);
        let same = ctx
            .state()
            .verifications
            .get(&id)
            .is_some_and(|v| v.serial == *serial && v.checked == checked[index] && v.failures == failures);
        if same {
            continue;
        }
        let event = Event::InstallationVerified {
            cert: item.cert.name.clone(),
            key_type: item.key_type,
            serial: serial.clone(),
            checked: checked[index],
            failures,
        };
        if let Err(e) = ctx.note(event) {
            return ctx.report.error(e);
        }
    }
}

/// One connection, asked again while a required staple is missing (up to
/// `attempts` times, `delay` apart: a server fetches its staple lazily) and,
/// right after a reload, while the server still shows the old files.
fn check(
    item: &Item<'_>,
    target: &Target,
    tlsa: &[verify::TlsaRecord],
    now: i64,
    attempts: u32,
    delay: Duration,
    settle_until: Option<Instant>,
) -> Outcome {
    let expected = verify::Expected {
        leaf: &item.files.leaf,
        chain: &item.files.chain,
        previous: item.previous.as_ref().map(|(s, at)| (s.as_str(), *at)),
        staple_required: item.staple_required,
        pins: item.pins.as_deref(),
        tlsa,
    };
    let mut attempt = 1;
    loop {
        let outcome = match verify::fetch(target, TIMEOUTS) {
            Ok(served) => {
                let problems = verify::compare(&expected, &served, now);
                Outcome::Served(Box::new(served), problems)
            }
            Err(e) => Outcome::Failed(e),
        };
        let staple_missing =
            matches!(&outcome, Outcome::Served(_, p) if p.iter().any(|p| matches!(p, Problem::StapleMissing { .. })));
        let bad = matches!(&outcome, Outcome::Failed(_)) || matches!(&outcome, Outcome::Served(_, p) if !p.is_empty());
        if staple_missing && attempt < attempts {
            attempt += 1;
            tracing::debug!("Retrying to fetch OCSP staple from {}", target.describe());
            std::thread::sleep(delay);
            continue;
        }
        if bad && settle_until.is_some_and(|until| Instant::now() < until) {
            std::thread::sleep(SETTLE_STEP);
            continue;
        }
        return outcome;
    }
}

/// Runs `f` over `inputs`, at most PARALLEL at once; results in input order.
fn parallel<I: Sync, O: Send>(inputs: &[I], f: impl Fn(&I) -> O + Sync) -> Vec<O> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<O>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(inputs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else { break };
                let out = f(input);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(out);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|o| o.expect("every input ran")).collect()
}

fn dedup(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    for a in addrs {
        if !seen.iter().any(|s: &SocketAddr| s.ip() == a.ip()) {
            seen.push(*a);
        }
    }
    seen
}

/// The certificates to verify, with their installed files.
fn items<'a>(ctx: &mut Ctx<'_>, selected: &[&'a PrivateKeySpec]) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    for &spec in selected {
        for cert in spec.certificates.iter().filter(|c| !c.verify.is_empty()) {
            let http = cert.verify.iter().any(|v| v.protocol == Some(VerifyProtocol::Http));
            let pins = if http { installed_pins(ctx, spec) } else { None };
            for kt in cert.key_types.iter().copied().filter(|kt| spec.key_types.contains(kt)) {
                let mut hosts = Vec::new();
                for v in cert.verify.iter().filter(|v| v.key_types.is_empty() || v.key_types.contains(&kt)) {
                    let names = if v.hosts.is_empty() { cert.all_names() } else { v.hosts.clone() };
                    for name in names {
                        hosts.push((connectable(&name), v));
                    }
                }
                if hosts.is_empty() {
                    continue;
                }
                let files = match web::installed(ctx.config, cert, kt) {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        let what = format!("{} certificate {}", kt.as_str().to_uppercase(), cert.name);
                        ctx.report.verification_failed(format!("{what} not found: nothing to verify"));
                        continue;
                    }
                    Err(e) => {
                        ctx.report.verification_failed(format!("{e}: not verified"));
                        continue;
                    }
                };
                let state = ctx.state().certificates.get(&cert_id(&cert.name, kt));
                let previous = state
                    .filter(|c| c.serial == files.leaf.serial_hex)
                    .and_then(|c| c.previous.as_ref())
                    .map(|p| (p.serial.clone(), p.replaced.secs()));
                let ocsp_installed = ctx
                    .state()
                    .ocsp
                    .get(&cert_id(&cert.name, kt))
                    .is_some_and(|o| o.serial == files.leaf.serial_hex && o.status == "good");
                let staple_required = ocsp_installed || files.leaf.must_staple;
                items.push(Item { cert, key_type: kt, files, previous, staple_required, pins: pins.clone(), hosts });
            }
        }
    }
    items
}

/// A name to connect to: a wildcard's a made-up name under it (as the
/// original: `wildcard-test-<10 random letters>.<domain>`).
fn connectable(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(domain) => {
            let mut bytes = [0u8; 10];
            let _ = crate::platform::random_fill(&mut bytes);
            let random: String = bytes.iter().map(|b| char::from(b'a' + b % 26)).collect();
            format!("wildcard-test-{random}.{domain}")
        }
        None => name.to_string(),
    }
}

/// The pins of the key's installed HPKP header files, named after the keys
/// the journal knows them for; `None` when the key has no header file.
fn installed_pins(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec) -> Option<Vec<ExpectedPin>> {
    if spec.hpkp_days.is_none_or(|d| d == 0) {
        return None;
    }
    let mut digests: Vec<Vec<u8>> = Vec::new();
    let mut any_file = false;
    for (server, _) in &ctx.config.hpkp_headers {
        let path = match ctx.config.file_path_with(FileKind::Hpkp, &spec.name, None, &[("server", server)]) {
            Ok(Some(p)) => p,
            _ => continue,
        };
        match read_optional(&path) {
            Ok(Some(found)) => {
                any_file = true;
                for pin in pins_in(&String::from_utf8_lossy(&found.bytes)) {
                    if !digests.contains(&pin) {
                        digests.push(pin);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => ctx.report.verification_failed(format!("{e}: public key pins not verified")),
        }
    }
    if !any_file {
        return None;
    }
    let state = ctx.state();
    let named = |digest: &[u8]| -> String {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        for kt in KeyType::ALL {
            for (role, word) in
                [(KeyRole::Primary, "private"), (KeyRole::Backup, "backup"), (KeyRole::Previous, "previous")]
            {
                if state.key(&spec.name, kt, role).is_some_and(|k| k.spki_sha256 == hex) {
                    return format!("{} {word} key {}", kt.as_str().to_uppercase(), spec.name);
                }
            }
        }
        format!("pin-sha256 {} of key {}", crate::hpkp::pin(digest), spec.name)
    };
    Some(
        digests
            .iter()
            .map(|d| ExpectedPin { what: named(d), spki_sha256: d.clone(), spki_sha512: Vec::new() })
            .collect(),
    )
}

/// The SHA-256 pins written in a header file (its quotes may be escaped).
fn pins_in(text: &str) -> Vec<Vec<u8>> {
    let unescaped = text.replace("\\\"", "\"");
    verify::parse_pins(unescaped.lines().map(header_value).collect::<Vec<_>>().join(";").as_str())
        .into_iter()
        .filter(|p| p.algorithm == "sha256")
        .map(|p| p.digest)
        .collect()
}

/// A header file line from its first `pin-` on (the directives, `;` apart).
fn header_value(line: &str) -> &str {
    line.find("pin-").map(|i| &line[i..]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_from_the_files_the_original_writes() {
        let nginx = "add_header Public-Key-Pins \"pin-sha256=\\\"AQID\\\"; pin-sha256=\\\"BAU=\\\"; max-age=5184000;\" always;\n";
        assert_eq!(pins_in(nginx), vec![vec![1, 2, 3], vec![4, 5]]);
        let apache = "Header always set Public-Key-Pins \"pin-sha256=\\\"AQID\\\"; max-age=60; includeSubdomains;\"\n";
        assert_eq!(pins_in(apache), vec![vec![1, 2, 3]]);
        assert!(pins_in("# nothing\n").is_empty());
    }

    #[test]
    fn hosts_file_names_are_found_as_getaddrinfo_finds_them() {
        let text = "127.0.0.1 localhost\n# 10.0.0.1 mail.example.com\n::1 localhost ip6-localhost\n192.0.2.7\tMail.Example.com mail # relay\nbad line\n";
        let ips = |h| in_hosts_file(text, h).iter().map(|ip| ip.to_string()).collect::<Vec<_>>();
        assert_eq!(ips("localhost"), ["127.0.0.1", "::1"]);
        assert_eq!(ips("mail.example.com."), ["192.0.2.7"]);
        assert_eq!(ips("mail"), ["192.0.2.7"]);
        assert!(ips("www.example.com").is_empty());
    }

    #[test]
    fn parallel_keeps_the_order_and_the_bound() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let inputs: Vec<usize> = (0..40).collect();
        let out = parallel(&inputs, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::yield_now();
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, inputs.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= PARALLEL);
    }

    #[test]
    fn wildcards_become_a_random_name_under_them() {
        let a = connectable("*.example.com");
        assert!(a.starts_with("wildcard-test-") && a.ends_with(".example.com") && a.len() == 14 + 10 + 12, "{a}");
        assert_ne!(a, connectable("*.example.com"));
        assert_eq!(connectable("www.example.com"), "www.example.com");
    }
}
