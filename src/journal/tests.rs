use super::chain::ProblemKind;
use super::*;
use crate::time::{ManualClock, Time};
use crate::types::{sha256_hex, KeyRole, KeyType};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;

const T0: i64 = 1_795_968_146; // 2026-11-29T16:02:26Z

fn tmpdir(name: &str) -> PathBuf {
    crate::test_support::scratch_dir(&format!("journal-test-{name}"))
}

fn key_event(i: u64) -> Event {
    Event::KeyGenerated {
        key: format!("k{i}"),
        key_type: KeyType::Ecdsa,
        role: KeyRole::Primary,
        spki_sha256: format!("{i:064x}"),
        path: format!("/k{i}"),
        txn: None,
    }
}

/// `n` events, one second apart, on a manual clock.
fn write_events(path: &Path, n: u64) -> Vec<Event> {
    let clock = ManualClock::at(Time::from_secs(T0));
    let (mut j, _) = Journal::open(path, clock).unwrap();
    assert_eq!(j.state().last_seq, 0);
    let mut evs = vec![];
    for i in 0..n {
        let rec = j.append(key_event(i)).unwrap();
        assert_eq!(rec.seq, i + 1);
        assert_eq!(rec.ts, Time::from_secs(T0 + i as i64));
        clock.sleep(std::time::Duration::from_secs(1));
        evs.push(key_event(i));
    }
    evs
}

fn records_of(path: &Path) -> (Vec<Record>, Scanned) {
    let mut out = Vec::new();
    let scanned = scan(BufReader::new(File::open(path).unwrap()), |r| out.push(r)).unwrap();
    (out, scanned)
}

#[test]
fn round_trip_and_format() {
    let d = tmpdir("rt");
    let path = d.join("sub/dir").join(FILE_NAME);
    let evs = write_events(&path, 3);
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let text = fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{{\"v\":1,\"seq\":1,\"ts\":\"2026-11-29T16:02:26.000000Z\",\"type\":\"key_generated\",\"key\":\"k0\",\"key_type\":\"ecdsa\",\"role\":\"primary\",\"spki_sha256\":\"{:064x}\",\"path\":\"/k0\",\"prev\":\"{ZERO_HASH}\"}}",
            0
        )
    );
    let (records, scanned) = records_of(&path);
    assert!(scanned.problems.is_empty() && scanned.torn.is_none());
    assert_eq!(records.len(), 3);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.ts, Time::from_secs(T0 + i as i64));
        assert_eq!(r.event, evs[i]);
        assert_eq!(r.hash.to_string(), sha256_hex(text.lines().nth(i).unwrap().as_bytes()));
    }
    // Reopen: the state is replayed and the chain continues.
    let (mut j, _) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 10))).unwrap();
    assert_eq!(j.state().last_seq, 3);
    assert_eq!(j.state().generated.len(), 3, "the state was replayed on open");
    let rec = j.append(Event::RunFinished { exit_code: 0, changed: false }).unwrap();
    assert_eq!(rec.seq, 4);
    assert_eq!(j.state().last_seq, 4, "append applies the record to the state");
    let (records, scanned) = records_of(&path);
    assert!(scanned.problems.is_empty());
    assert_eq!(records[3].hash.to_string(), scanned.last_hash);
    // An event of unknown type cannot be written.
    assert!(matches!(j.append(Event::Other), Err(JournalError::BadEvent { .. })));
    assert_eq!(j.append(Event::RunFinished { exit_code: 1, changed: true }).unwrap().seq, 5);
    // Missing file = empty.
    let out = read(&d.join("nope.jsonl")).unwrap();
    assert!(out.scanned.lines == 0 && out.scanned.torn.is_none() && out.scanned.problems.is_empty());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn time_never_runs_back_and_a_clock_behind_is_said_once() {
    let d = tmpdir("clock");
    let path = d.join(FILE_NAME);
    let clock = ManualClock::at(Time::from_micros(T0 * 1_000_000 + 250_000));
    let (mut j, _) = Journal::open(&path, clock).unwrap();
    let a = j.append(key_event(1)).unwrap();
    assert_eq!(a.ts.to_string(), "2026-11-29T16:02:26.250000Z");
    assert!(j.take_clock_warning().is_none());
    drop(j);
    // The next run's clock is an hour behind (a router before NTP).
    let behind = ManualClock::at(Time::from_secs(T0 - 3600));
    let (mut j, _) = Journal::open(&path, behind).unwrap();
    let b = j.append(key_event(2)).unwrap();
    let c = j.append(key_event(3)).unwrap();
    assert_eq!((b.ts, c.ts), (a.ts, a.ts), "the last line's time, never earlier");
    assert_eq!(b.clock, Some(Time::from_secs(T0 - 3600)), "the real reading is kept");
    assert_eq!(j.take_clock_warning(), Some(ClockBehind { clock: Time::from_secs(T0 - 3600), last: a.ts }));
    assert_eq!(j.take_clock_warning(), None, "said once per run");
    let text = fs::read_to_string(&path).unwrap();
    let line2: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(line2["clock"], "2026-11-29T15:02:26.000000Z");
    let (records, scanned) = records_of(&path);
    assert!(scanned.problems.is_empty());
    assert_eq!(records[1].clock, Some(Time::from_secs(T0 - 3600)));
    fs::remove_dir_all(&d).unwrap();
}

fn check_torn(tail: &[u8], name: &str) {
    let d = tmpdir(name);
    let path = d.join(FILE_NAME);
    write_events(&path, 3);
    let good = fs::read(&path).unwrap();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(tail).unwrap();
    drop(f);
    let (records, scanned) = records_of(&path);
    assert!(scanned.problems.is_empty(), "{:?}", scanned.problems);
    assert_eq!(records.len(), 3);
    assert_eq!(scanned.torn, Some(TornTail { offset: good.len() as u64, bytes: tail.to_vec() }));
    let report = ChainReport::of(&path, &read(&path));
    assert!(!report.is_ok());
    assert!(report.to_string().contains("torn tail"), "{report}");

    let (mut j, opened) = Journal::open(&path, ManualClock::at(Time::from_secs(T0))).unwrap();
    let saved = opened.torn_saved_to.unwrap();
    assert_eq!(saved, d.join("journal.jsonl.torn-2026_11_29_160226"));
    assert_eq!(fs::read(&saved).unwrap(), tail);
    assert_eq!(fs::read(&path).unwrap(), good);
    assert_eq!(j.state().last_seq, 3);
    assert_eq!(j.append(key_event(9)).unwrap().seq, 4);
    let (records, scanned) = records_of(&path);
    assert!(scanned.problems.is_empty() && scanned.torn.is_none());
    assert_eq!(records[3].seq, 4);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn torn_tail_without_newline() {
    // A whole, valid object but no newline: the append did not finish.
    let line = format_line(4, Time::from_secs(T0), None, &key_event(4), ZERO_HASH).unwrap();
    check_torn(line.as_bytes(), "torn1");
}

#[test]
fn torn_tail_half_object() {
    check_torn(b"{\"v\":1,\"seq\":4,\"ts\":\"2026-11-", "torn2");
}

#[test]
fn torn_tail_garbage_with_newline() {
    check_torn(b"{\"v\":1,\"seq\0\0\0\n", "torn3");
}

#[test]
fn torn_name_collision_uses_suffix() {
    let d = tmpdir("torncoll");
    let path = d.join(FILE_NAME);
    write_events(&path, 1);
    fs::write(d.join("journal.jsonl.torn-2026_11_29_160226"), b"older").unwrap();
    OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"v").unwrap();
    let (_j, opened) = Journal::open(&path, ManualClock::at(Time::from_secs(T0))).unwrap();
    assert_eq!(opened.torn_saved_to.unwrap(), d.join("journal.jsonl.torn-2026_11_29_160226.1"));
    assert_eq!(fs::read(d.join("journal.jsonl.torn-2026_11_29_160226")).unwrap(), b"older");
    fs::remove_dir_all(&d).unwrap();
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap().lines().map(String::from).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(path, s).unwrap();
}

#[test]
fn broken_chain_in_the_middle() {
    let d = tmpdir("broken");
    let path = d.join(FILE_NAME);
    write_events(&path, 8);
    let mut lines = lines_of(&path);
    // Delete line 4: line 5 (now line 4) has seq 5 and a prev of the deleted line.
    let removed_hash = sha256_hex(lines[3].as_bytes());
    let line3_hash = sha256_hex(lines[2].as_bytes());
    lines.remove(3);
    write_lines(&path, &lines);
    let (records, scanned) = records_of(&path);
    assert_eq!(records.len(), 7, "records after the problem are still returned");
    assert_eq!(scanned.problems.len(), 2, "{:?}", scanned.problems);
    assert_eq!(scanned.problems[0].line_no, 4);
    assert_eq!(scanned.problems[0].kind, ProblemKind::SeqMismatch);
    assert_eq!(scanned.problems[1].kind, ProblemKind::PrevMismatch);
    assert_eq!(
        scanned.problems[1].to_string(),
        format!("line 4 (seq 5): prev is {}, but line 3 hashes to {}", short(&removed_hash), short(&line3_hash))
    );
    let err = Journal::open(&path, ManualClock::at(Time::from_secs(T0))).err().unwrap();
    match &err {
        JournalError::Broken { path: p, problems } => {
            assert_eq!(p, &path);
            assert_eq!(problems.len(), 2);
        }
        e => panic!("{e}"),
    }
    assert!(err.to_string().contains(&path.display().to_string()));
    let report = ChainReport::of(&path, &read(&path)).to_string();
    assert!(report.contains("line 4 (seq 5)"), "{report}");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn edited_field_detected() {
    let d = tmpdir("edited");
    let path = d.join(FILE_NAME);
    write_events(&path, 8);
    let mut lines = lines_of(&path);
    lines[5] = lines[5].replace("\"k5\"", "\"evil\"");
    write_lines(&path, &lines);
    let (records, scanned) = records_of(&path);
    assert_eq!(records.len(), 8);
    assert_eq!(scanned.problems.len(), 1);
    let p = &scanned.problems[0];
    assert_eq!((p.line_no, p.seq, p.kind), (7, Some(7), ProblemKind::PrevMismatch));
    assert!(p.to_string().starts_with("line 7 (seq 7): prev is "), "{p}");
    assert!(p.detail.contains(&format!("but line 6 hashes to {}", short(&sha256_hex(lines[5].as_bytes())))));
    assert!(Journal::open(&path, ManualClock::at(Time::from_secs(T0))).is_err());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn invalid_line_in_middle_bad_version_and_unreadable_event() {
    let d = tmpdir("invalid");
    let path = d.join(FILE_NAME);
    write_events(&path, 6);
    let mut lines = lines_of(&path);
    lines[1] = "not json".into();
    lines[3] = lines[3].replacen("\"v\":1", "\"v\":2", 1);
    // A known type whose fields do not read.
    lines[5] = lines[5].replacen("\"role\":\"primary\"", "\"role\":\"sideways\"", 1);
    write_lines(&path, &lines);
    let (records, scanned) = records_of(&path);
    let kinds: Vec<_> = scanned.problems.iter().map(|p| (p.line_no, p.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (2, ProblemKind::InvalidJson),
            (3, ProblemKind::PrevMismatch),
            (4, ProblemKind::UnsupportedVersion),
            (5, ProblemKind::PrevMismatch),
            (6, ProblemKind::Malformed)
        ]
    );
    assert!(scanned.problems[4].detail.contains("\"key_generated\" does not read"), "{}", scanned.problems[4]);
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 3, 5]);
    assert!(scanned.torn.is_none());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn append_fsync_and_poison() {
    let d = tmpdir("fsync");
    let path = d.join(FILE_NAME);
    let clock = ManualClock::at(Time::from_secs(T0));
    let (mut j, _) = Journal::open(&path, clock).unwrap();
    j.append(key_event(1)).unwrap();
    // Each append is durable on return: another reader sees it immediately.
    assert_eq!(read(&path).unwrap().scanned.lines, 1);
    // An append that fails poisons the handle.
    let (mut bad, _) = Journal::open(&path, clock).unwrap();
    bad.file = OpenOptions::new().read(true).open(&path).unwrap();
    assert!(matches!(bad.append(key_event(2)), Err(JournalError::Io { .. })));
    assert!(matches!(bad.append(key_event(2)), Err(JournalError::Poisoned { .. })));
    assert_eq!(j.append(key_event(3)).unwrap().seq, 2);
    fs::remove_dir_all(&d).unwrap();
}
