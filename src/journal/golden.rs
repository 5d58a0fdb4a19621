//! Journals written by earlier versions still replay to the same state
//! (`tests/golden/`, see its README).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::read;

/// `expected` is contained in `actual`: objects may have more fields, every
/// other value must be equal.
fn contained(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    Some(av) => contained(v, av, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k} is missing")),
                }
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(format!("{at}: expected {e}, replayed {a}")),
    }
}

#[test]
fn journals_of_earlier_versions_replay_to_the_same_state() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut journals: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    journals.sort();
    assert!(journals.len() >= 10, "{journals:?}");
    for journal in journals {
        let name = journal.file_stem().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(Path::new(&dir).join(format!("{name}.replay.json"))).unwrap())
                .unwrap();
        let out = read(&journal).unwrap();
        assert!(out.scanned.problems.is_empty(), "{name}: {:?}", out.scanned.problems);
        assert!(out.scanned.torn.is_none(), "{name}");
        let actual = serde_json::to_value(&out.state).unwrap();
        assert_eq!(out.state.to_json_pretty(), serde_json::to_string_pretty(&out.state).unwrap(), "{name}: --replay");
        // A writing run reads only the events the state is built from: same state.
        let mut lean = super::State::new();
        let file = std::io::BufReader::new(std::fs::File::open(&journal).unwrap());
        let scanned = super::scan_events(file, super::Events::State, |r| lean.apply_owned(r)).unwrap();
        assert!(scanned.problems.is_empty(), "{name}");
        assert_eq!(lean, out.state, "{name}: the state-only read differs");
        let mut diffs = Vec::new();
        contained(&expected, &actual, &name, &mut diffs);
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    }
}
