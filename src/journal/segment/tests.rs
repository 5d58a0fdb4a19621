use std::fs;
use std::path::{Path, PathBuf};

use super::super::chain::ProblemKind;
use super::super::{read, Event, Journal, FILE_NAME};
use super::{segment_name, segments, RESUMED};
use crate::time::{ManualClock, Time};
use crate::types::{KeyRole, KeyType};

const T0: i64 = 1_795_968_146;

fn key_event(i: u64) -> Event {
    Event::KeyGenerated {
        key: format!("k{i}"),
        key_type: KeyType::Rsa,
        role: KeyRole::Backup,
        spki_sha256: format!("{i:064x}"),
        path: format!("/k{i}"),
        txn: None,
    }
}

fn journal_path(name: &str) -> PathBuf {
    crate::test_support::scratch_dir(&format!("segment-{name}")).join(FILE_NAME)
}

fn open(path: &Path, at: i64) -> Journal {
    Journal::open(path, ManualClock::at(Time::from_secs(T0 + at))).unwrap().0
}

fn types(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn compaction_keeps_the_chain_and_the_state() {
    let path = journal_path("compact");
    let mut j = open(&path, 0);
    (0..10).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    j.compact(None).unwrap();
    (10..13).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    drop(j);
    let first = path.with_file_name(segment_name(&path, 1));
    assert!(first.ends_with("journal.0000000001.jsonl"), "{}", first.display());
    assert_eq!(segments(&path).unwrap(), vec![(1, first.clone())]);
    assert_eq!(types(&path)[..2], ["segment_started", "checkpoint"]);
    let started: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&path).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        (started["seq"].as_u64(), started["first_seq"].as_u64(), started["last_seq"].as_u64()),
        (Some(11), Some(1), Some(10))
    );
    assert_eq!(started["sha256"], crate::types::sha256_hex(&fs::read(&first).unwrap()));
    let all = read(&path).unwrap();
    assert!(all.scanned.problems.is_empty(), "{:?}", all.scanned.problems);
    assert_eq!(all.scanned.lines, 15);
    assert_eq!(all.state.generated.len(), 13);
    let (j, opened) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 100))).unwrap();
    assert_eq!(opened.read_from, 12, "from the new segment's checkpoint");
    assert_eq!(j.state().generated.len(), 13);
    assert_eq!(j.state().last_seq, 15);
}

#[test]
fn old_segments_beyond_the_setting_go_and_the_journal_says_so() {
    let path = journal_path("prune");
    let mut j = open(&path, 0);
    for round in 0..3 {
        (0..4).for_each(|i| drop(j.append(key_event(round * 10 + i)).unwrap()));
        j.compact(Some(1)).unwrap();
    }
    drop(j);
    let kept = segments(&path).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = fs::read_to_string(&path).unwrap();
    let deleted: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "segment_deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "the last compaction deleted the oldest but one... {text}");
    // What is left reads on from the first kept segment's checkpoint.
    let all = read(&path).unwrap();
    assert!(all.scanned.problems.is_empty(), "{:?}", all.scanned.problems);
    assert_eq!(all.state.generated.len(), 12);
    let reopened = open(&path, 100);
    assert_eq!(reopened.state().generated.len(), 12);
}

#[test]
fn a_compaction_interrupted_after_the_rename_is_finished() {
    let path = journal_path("resume");
    let mut j = open(&path, 0);
    (0..5).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    drop(j);
    // The crash: renamed, no new file yet.
    fs::rename(&path, path.with_file_name(segment_name(&path, 1))).unwrap();
    let (j, _) = Journal::open(&path, ManualClock::at(Time::from_secs(T0 + 10))).unwrap();
    assert_eq!(j.state().generated.len(), 5);
    assert_eq!(j.state().last_seq, 7);
    drop(j);
    assert_eq!(types(&path), ["segment_started", "checkpoint"]);
    assert!(fs::read_to_string(&path).unwrap().contains(RESUMED));
    assert!(read(&path).unwrap().scanned.problems.is_empty());

    // The crash one line later: segment_started written, no checkpoint.
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let j = open(&path, 20);
    assert_eq!(j.state().generated.len(), 5, "replayed through the segment before");
    assert_eq!(j.state().last_seq, 6);
}

#[test]
fn audit_reads_across_segments_and_names_the_file() {
    let path = journal_path("audit");
    let mut j = open(&path, 0);
    (0..5).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    j.compact(None).unwrap();
    j.append(key_event(9)).unwrap();
    drop(j);
    let seg = path.with_file_name(segment_name(&path, 1));
    let text = fs::read_to_string(&seg).unwrap().replace("\"/k2\"", "\"/evil\"");
    fs::write(&seg, text).unwrap();
    let problems = read(&path).unwrap().scanned.problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::PrevMismatch);
    assert_eq!(problems[0].file.as_deref(), Some("journal.0000000001.jsonl"));
    assert!(problems[0].to_string().starts_with("journal.0000000001.jsonl: line 4 (seq 4)"), "{}", problems[0]);
    // A writing run starts at the current segment's checkpoint: it goes on.
    assert_eq!(open(&path, 10).state().last_seq, 8);
}

#[test]
fn repair_keeps_the_intact_lines_and_sets_the_rest_aside() {
    let path = journal_path("repair");
    let mut j = open(&path, 0);
    (0..6).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    drop(j);
    let original = fs::read_to_string(&path).unwrap();
    fs::write(&path, original.replace("\"/k3\"", "\"/evil\"")).unwrap();
    assert!(Journal::open(&path, ManualClock::at(Time::from_secs(T0))).is_err(), "a broken chain stops a writing run");

    let (j, repaired) = super::repair(&path, ManualClock::at(Time::from_secs(T0 + 50))).unwrap().unwrap();
    // Line 5's prev no longer matches line 4 (the edited one): lines 1-4 are kept.
    assert_eq!((repaired.kept, repaired.dropped), (4, 2));
    assert!(repaired.problem.contains("line 5 (seq 5)"), "{}", repaired.problem);
    assert_eq!(j.state().generated.len(), 4);
    drop(j);
    assert!(repaired.set_aside.file_name().unwrap().to_string_lossy().starts_with("journal.jsonl.damaged-"));
    assert_eq!(
        fs::read_to_string(&repaired.set_aside).unwrap(),
        original.replace("\"/k3\"", "\"/evil\""),
        "kept whole"
    );
    let kept = path.with_file_name(segment_name(&path, 1));
    assert_eq!(fs::read_to_string(&kept).unwrap().lines().count(), 4);
    assert_eq!(types(&path), ["segment_started", "checkpoint", "journal_set_aside"]);
    let all = read(&path).unwrap();
    assert!(all.scanned.problems.is_empty(), "{:?}", all.scanned.problems);
    assert_eq!(open(&path, 60).state().last_seq, 7);
    // Nothing more to repair.
    assert!(super::repair(&path, ManualClock::at(Time::from_secs(T0 + 70))).unwrap().is_none());
}

#[test]
fn repair_of_a_damaged_first_line_starts_over() {
    let path = journal_path("repair-first");
    let mut j = open(&path, 0);
    (0..2).for_each(|i| drop(j.append(key_event(i)).unwrap()));
    drop(j);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("\"seq\":1", "\"seq\":9", 1)).unwrap();
    let (j, repaired) = super::repair(&path, ManualClock::at(Time::from_secs(T0 + 5))).unwrap().unwrap();
    assert_eq!((repaired.kept, repaired.dropped), (0, 2));
    assert_eq!(j.state().last_seq, 1, "a new journal: the set-aside line is its first");
    drop(j);
    assert!(segments(&path).unwrap().is_empty());
    assert_eq!(types(&path), ["journal_set_aside"]);
    assert!(read(&path).unwrap().scanned.problems.is_empty());
}
