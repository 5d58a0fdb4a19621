use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use super::super::chain::{find_last_checkpoint, format_line, scan, LineHash, ProblemKind, Start, ZERO_HASH};
use super::super::{read, Event, Journal, State, FILE_NAME};
use super::CHECKPOINT_EVERY;
use crate::time::{ManualClock, Time};
use crate::types::{KeyRole, KeyType};

const T0: i64 = 1_795_968_146;

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

fn journal_path(name: &str) -> PathBuf {
    crate::test_support::scratch_dir(&format!("checkpoint-{name}")).join(FILE_NAME)
}

/// Appends `n` events as a run would, then the run's checkpoint if due.
fn run(path: &Path, n: u64, at: i64) -> bool {
    let (mut j, _) = Journal::open(path, ManualClock::at(Time::from_secs(at))).unwrap();
    for i in 0..n {
        j.append(key_event(i)).unwrap();
    }
    j.checkpoint_if_due().unwrap()
}

#[test]
fn the_state_of_every_golden_journal_survives_a_snapshot() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            let replayed = read(&e.path()).unwrap().state;
            let restored = State::from_snapshot(&replayed.snapshot()).unwrap();
            assert!(replayed.same_facts(&restored), "{}", e.path().display());
            assert_eq!(restored.snapshot(), replayed.snapshot());
            n += 1;
        }
    }
    assert!(n >= 10);
}

#[test]
fn a_run_starts_at_the_last_checkpoint_and_gets_the_same_state() {
    let path = journal_path("resume");
    assert!(!run(&path, CHECKPOINT_EVERY - 1, T0), "not due yet");
    assert!(run(&path, 5, T0 + 10), "due: {} lines since the start", CHECKPOINT_EVERY + 4);
    run(&path, 7, T0 + 20);
    let (j, opened) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 30))).unwrap();
    assert_eq!(opened.read_from, CHECKPOINT_EVERY + 5, "read from the checkpoint line on");
    let full = read(&path).unwrap();
    assert!(full.scanned.problems.is_empty(), "{:?}", full.scanned.problems);
    assert!(full.state.same_facts(j.state()));
    assert_eq!(j.state().last_seq, full.state.last_seq);
    assert_eq!(j.state().last_checkpoint, Some(CHECKPOINT_EVERY + 5));
    assert_eq!(j.state().generated.len(), CHECKPOINT_EVERY as usize - 1, "k0..k998: the later runs made the same keys");
    drop(j);
    // The next checkpoint comes CHECKPOINT_EVERY lines after this one.
    assert!(!run(&path, 10, T0 + 40));
}

/// Writes `events` as a chained journal, line by line, as given.
fn write_chain(path: &Path, events: &[Event]) -> Vec<String> {
    let mut prev = ZERO_HASH.to_string();
    let mut lines = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let line = format_line(i as u64 + 1, Time::from_secs(T0 + i as i64), None, e, &prev).unwrap();
        prev = LineHash::of(line.as_bytes()).to_string();
        lines.push(line);
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    lines
}

#[test]
fn audit_holds_every_checkpoint_against_the_replay() {
    let path = journal_path("audit");
    let mut state = State::new();
    let mut events: Vec<Event> = (0..3).map(key_event).collect();
    for (i, e) in events.iter().enumerate() {
        state.apply_owned(super::super::Record {
            seq: i as u64 + 1,
            ts: Time::from_secs(T0 + i as i64),
            clock: None,
            event: e.clone(),
            hash: LineHash::ZERO,
        });
    }
    events.push(Event::Checkpoint { state: state.snapshot() });
    events.push(key_event(3));
    write_chain(&path, &events);
    assert!(read(&path).unwrap().scanned.problems.is_empty());

    // A checkpoint that lies (re-chained, so only the replay can tell).
    let mut liar = state.clone();
    liar.generated.clear();
    events[3] = Event::Checkpoint { state: liar.snapshot() };
    write_chain(&path, &events);
    let problems = read(&path).unwrap().scanned.problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::CheckpointMismatch);
    assert_eq!(problems[0].seq, Some(4));
    // A writing run starts at it and believes it: only --audit can tell.
    let (j, opened) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 10))).unwrap();
    assert_eq!(opened.read_from, 4);
    assert_eq!(j.state().generated.len(), 1, "the key generated after the checkpoint");
}

#[test]
fn the_last_checkpoint_is_found_from_the_end() {
    let path = journal_path("find");
    let mut big = State::new();
    big.runs = 7;
    // A checkpoint line longer than the 64 KiB read-back chunks.
    let mut large = big.clone();
    for i in 0..3000 {
        large.generated.insert(format!("f{i:063x}"), Time::from_secs(T0));
    }
    let events = vec![
        Event::Checkpoint { state: big.snapshot() },
        key_event(1),
        Event::Checkpoint { state: large.snapshot() },
        key_event(2),
    ];
    let lines = write_chain(&path, &events);
    assert!(lines[2].len() > 200_000, "{}", lines[2].len());
    let mut f = fs::File::open(&path).unwrap();
    let start = find_last_checkpoint(&mut f).unwrap().unwrap();
    let offset = (lines[0].len() + lines[1].len() + 2) as u64;
    assert_eq!(start, Start { offset, prev: LineHash::of(lines[1].as_bytes()), seq: 3 });
    // A torn tail after it is skipped; a checkpoint as the first line has prev zero.
    fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"v\":1,\"seq\":5,\"ty").unwrap();
    assert_eq!(find_last_checkpoint(&mut fs::File::open(&path).unwrap()).unwrap(), Some(start));
    write_chain(&path, &events[..2]);
    let first = find_last_checkpoint(&mut fs::File::open(&path).unwrap()).unwrap().unwrap();
    assert_eq!(first, Start { offset: 0, prev: LineHash::ZERO, seq: 1 });
    write_chain(&path, &[key_event(1)]);
    assert_eq!(find_last_checkpoint(&mut fs::File::open(&path).unwrap()).unwrap(), None);
    // The state read from the large checkpoint on is the large one.
    write_chain(&path, &events);
    let (j, _) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 10))).unwrap();
    assert_eq!(j.state().runs, 7);
    assert_eq!(j.state().generated.len(), 3001);
    let mut n = 0;
    scan(BufReader::new(fs::File::open(&path).unwrap()), |_| n += 1).unwrap();
    assert_eq!(n, 4);
}
