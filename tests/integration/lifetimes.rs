//! Shorter certificate lifetimes: Let's Encrypt's `shortlived` profile (6
//! days) and its `classic` profile at 90 days (today), 64 days (from
//! 2027-02) and 45 days (from 2028-02), against the project's test CA on later
//! days (`ACMEBOT_TEST_CLOCK`).
//!
//! With `renewal_days` 30 (the default) a certificate is renewed 30 days
//! before it expires or in the last third of its lifetime, whichever is
//! later: after 4, 30, 42⅔ and 60 days. For each lifetime: the first run
//! issues, a run right after does nothing, a run a minute before the
//! renewal point does nothing, a run a second after renews exactly once, and
//! a run right after that does nothing again.
//!
//! Authorizations are never reused: the test CA makes new pending ones for
//! every order (`auto_valid` off, as Let's Encrypt's reuse period shrinks to
//! 7 hours) and validates http-01 by fetching the challenge from a web
//! server of this test, which counts the fetches. The CA's renewal window
//! (ARI) is put after the renewal point, so only acmebot's own rule can make
//! these runs renew.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acmebot::time::Time;
use serde_json::{json, Value};

use crate::peers::free_port;
use crate::support::{run_binary, temp_dir, testca_site, Run};
use crate::testca::{TestCa, TestCaOptions};

const DAY: i64 = 86_400;

/// A web server for the CA's http-01 fetches: serves `<root>/<token>` and
/// records (Host, token) of every request.
struct Web {
    port: u16,
    fetched: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Web {
    fn start(root: PathBuf) -> Web {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (fetched, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (f, s) = (fetched.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &root, &f),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Web { port, fetched, stop }
    }

    fn fetched(&self) -> Vec<(String, String)> {
        self.fetched.lock().unwrap().clone()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, root: &Path, fetched: &Mutex<Vec<(String, String)>>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut request, mut host) = (String::new(), String::new());
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("host") {
                host = v.trim().to_string();
            }
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let token = path.strip_prefix("/.well-known/acme-challenge/").unwrap_or("").to_string();
    let body = (!token.is_empty() && !token.contains('/')).then(|| std::fs::read(root.join(&token)).ok()).flatten();
    fetched.lock().unwrap().push((host, token));
    let mut stream = stream;
    let response = match body {
        Some(b) => {
            let mut r =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).into_bytes();
            r.extend(b);
            r
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// One installation with one certificate of `days` days from profile `profile`.
struct Case {
    ca: TestCa,
    web: Web,
    root: PathBuf,
    config: PathBuf,
    name: String,
    names: Vec<String>,
}

impl Case {
    fn new(profile: &str, days: i64) -> Case {
        let root = temp_dir(&format!("lifetime-{days}"));
        let webroot = root.join("webroot");
        std::fs::create_dir_all(&webroot).unwrap();
        let web = Web::start(webroot.clone());
        let ca = TestCa::start(TestCaOptions {
            auto_valid: false,
            http_port: Some(web.port),
            profiles: vec![(profile.into(), format!("{days}-day certificates"), (days * DAY) as u64)],
            default_profile: profile.into(),
            ..Default::default()
        });
        let label = format!("l{days}");
        let name = format!("{label}.example.net");
        let certificates = json!({name.clone(): {
            "alt_names": {"example.net": [label.clone(), format!("www.{label}")]},
            "key_types": ["ecdsa"],
            "profile": profile
        }});
        let config = testca_site(&root, &ca, certificates, |c| {
            c["directories"]["http_challenge"] = json!(webroot);
            c["settings"]["renewal_days"] = json!(30);
            c["settings"]["authorization_delay"] = json!(1);
        });
        let names = vec![name.clone(), format!("www.{name}")];
        Case { ca, web, root, config, name, names }
    }

    fn run_at(&self, at: Option<Time>, args: &[&str]) -> Run {
        match at {
            Some(t) => run_binary(&self.config, args, &[("ACMEBOT_TEST_CLOCK", &format!("@{t}"))]),
            None => run_binary(&self.config, args, &[]),
        }
    }

    fn journal(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.root.join("out/resource/journal.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// A run that changes nothing: no output, no order, no new journal line
    /// but renewal windows asked for (`windows_asked`).
    fn assert_quiet(&self, run: &Run, before: &[Value], windows_asked: bool, when: &str) {
        assert!(run.code == 0 && run.stdout.is_empty() && run.stderr.is_empty(), "{when}: {run:?}");
        let after = self.journal();
        let new: Vec<&Value> = after.iter().skip(before.len()).collect();
        let allowed = ["run_started", "renewal_info_fetched", "run_finished"];
        assert!(new.iter().all(|e| allowed.contains(&e["type"].as_str().unwrap_or(""))), "{when}: wrote {new:?}");
        if !windows_asked {
            assert!(new.is_empty(), "{when}: wrote {new:?}");
        }
    }

    /// Checks that the run that issued the newest certificate answered a
    /// fresh http-01 challenge for each name (the CA fetched it, with a token
    /// never used before), and never took an authorization as reused.
    fn assert_validated_afresh(&self, journal_before: usize, fetched_before: usize, when: &str) {
        let fetched = self.web.fetched();
        let old_tokens: BTreeSet<&String> = fetched[..fetched_before].iter().map(|(_, t)| t).collect();
        let hosts: BTreeSet<&str> = fetched[fetched_before..]
            .iter()
            .filter(|(_, t)| !old_tokens.contains(t))
            .map(|(h, _)| h.as_str())
            .collect();
        let want: BTreeSet<&str> = self.names.iter().map(String::as_str).collect();
        assert_eq!(hosts, want, "{when}: the CA validated every name with a new token");
        let obtained: Vec<Value> =
            self.journal().into_iter().skip(journal_before).filter(|e| e["type"] == "authorization_obtained").collect();
        let answered: BTreeSet<&str> = obtained.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(answered, want, "{when}: {obtained:?}");
        assert!(obtained.iter().all(|e| e["challenge"] == "http-01"), "{when}: none reused: {obtained:?}");
    }
}

fn last_ts(journal: &[Value]) -> Time {
    Time::parse(journal.last().unwrap()["ts"].as_str().unwrap()).unwrap()
}

/// The whole life of one certificate: `renews_after` is when (after its
/// notBefore) it is due, `days_left` what the renewal says is left then.
fn renewed_once_at_its_renewal_point(profile: &str, days: i64, renews_after: i64, days_left: i64) {
    let c = Case::new(profile, days);

    // The first run issues.
    let fetched = c.web.fetched().len();
    let first = c.run_at(None, &["--accept"]);
    assert_eq!(first.code, 0, "{first:?}");
    let issued = c.ca.issued();
    assert_eq!(issued.len(), 1, "{issued:?}");
    let a = issued[0].clone();
    assert_eq!(a.not_after - a.not_before, days * DAY, "a {days}-day certificate");
    assert_eq!(c.ca.orders()[0].profile, profile);
    c.assert_validated_afresh(0, fetched, "first issue");
    let journaled_authz_expiry = c
        .journal()
        .iter()
        .filter(|e| e["type"] == "authorization_obtained")
        .filter_map(|e| e["expires"].as_str().and_then(Time::parse))
        .min()
        .expect("the authorizations are journaled with their expiry");
    // Only acmebot's own rule may renew: the CA's window lies after it.
    c.ca.set_window(&a.serial_hex, a.not_after - 2 * 3600, a.not_after - 3600);

    // A run right after does nothing, and writes nothing.
    let before = c.journal();
    let right_after = c.run_at(None, &[]);
    c.assert_quiet(&right_after, &before, false, "right after issuing");

    // A minute before the renewal point: nothing (the window is asked again).
    let due = Time::from_secs(a.not_before + renews_after);
    let before = c.journal();
    let early = c.run_at(Some(due.plus_secs(-60)), &[]);
    c.assert_quiet(&early, &before, true, "a minute before the renewal point");
    assert_eq!(c.ca.orders().len(), 1);

    // The test CA issues on the real clock, so the renewed certificate's
    // renewal point is this one's plus the real time between the two issues;
    // the run after the renewal cannot go back before the renewal's journal
    // lines (a second after the renewal point, plus the run's length). A few
    // real seconds between the issues put that run before the new point.
    while crate::testca::now() < a.not_before + 8 {
        std::thread::sleep(Duration::from_millis(200));
    }

    // A second after it: renewed, exactly once, with fresh authorizations.
    let (before, fetched) = (c.journal(), c.web.fetched().len());
    let renewal_clock = due.plus_secs(1);
    let renewal = c.run_at(Some(renewal_clock), &["-v"]);
    assert_eq!(renewal.code, 0, "{renewal:?}");
    let said = format!("Issuing ECDSA certificate {} (expires in {days_left} days)", c.name);
    assert_eq!(renewal.stdout.matches(&said).count(), 1, "{said}: {renewal:?}");
    let issued = c.ca.issued();
    assert_eq!((issued.len(), c.ca.orders().len()), (2, 2), "one new order, one new certificate");
    let b = issued[1].clone();
    assert_eq!(c.ca.orders()[1].replaces.as_deref(), Some(a.cert_id.as_str()), "it names what it replaces");
    let installed: Vec<Value> = c
        .journal()
        .into_iter()
        .skip(before.len())
        .filter(|e| e["type"] == "txn_begun")
        .flat_map(|e| e["effects"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "certificate_installed")
        .collect();
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert_eq!(installed[0]["serial"], json!(b.serial_hex), "{installed:?}");
    c.assert_validated_afresh(before.len(), fetched, "renewal");
    if days == 6 {
        // The first run's authorizations are still unexpired in the journal
        // (the test CA gives 7 days), yet the CA did not reuse them, and
        // acmebot answered the new challenges as the CA asked.
        assert!(journaled_authz_expiry > renewal_clock, "journaled authorizations expire {journaled_authz_expiry}");
    }

    // A run right after the renewal does nothing.
    let after = c.journal();
    let b_due = b.not_before + renews_after;
    let next = last_ts(&after);
    assert!(next.secs() < b_due, "test timing: the run after the renewal ({next}) must come before {b_due}");
    let quiet = c.run_at(Some(next), &[]);
    c.assert_quiet(&quiet, &after, false, "right after the renewal");
    assert_eq!(c.ca.issued().len(), 2);
}

#[test]
fn shortlived_6_days_renews_after_4() {
    renewed_once_at_its_renewal_point("shortlived", 6, 4 * DAY, 1);
}

#[test]
fn classic_45_days_from_2028_renews_after_30() {
    renewed_once_at_its_renewal_point("classic", 45, 30 * DAY, 14);
}

#[test]
fn classic_64_days_from_2027_renews_after_42_and_two_thirds() {
    renewed_once_at_its_renewal_point("classic", 64, 42 * DAY + 16 * 3600, 21);
}

#[test]
fn classic_90_days_renews_after_60() {
    renewed_once_at_its_renewal_point("classic", 90, 60 * DAY, 29);
}
