use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::commit::commit;
use super::fault::{fault_at, parse_fault_spec};
use super::fs::unique_names;
use super::recover::RecoveryOutcome;
use super::*;
use crate::journal::{read, scan, Event, FileState, Journal, Record};
use crate::time::{archive_stamp, ClockRef, ManualClock, Time};
use crate::types::sha256_hex;

const T0: i64 = 1_795_968_146; // 2026-11-29T16:02:26Z

struct Fx {
    root: PathBuf,
    jpath: PathBuf,
    archive_root: PathBuf,
    key: PathBuf,
    cert: PathBuf,
    chain: PathBuf,
    extra: PathBuf,
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn at(secs: i64) -> ClockRef {
    ManualClock::at(Time::from_secs(secs))
}

fn write_mode(p: &Path, data: &[u8], mode: u32) {
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn setup(name: &str) -> Fx {
    let root = crate::test_support::scratch_dir(&format!("txn-test-{name}"));
    fs::create_dir_all(root.join("private")).unwrap();
    fs::create_dir_all(root.join("certs")).unwrap();
    let fx = Fx {
        jpath: root.join("state/journal.jsonl"),
        archive_root: root.join("archive"),
        key: root.join("private/example.com.rsa.key"),
        cert: root.join("certs/example.com.rsa.pem"),
        chain: root.join("params/example.com_chain.rsa.pem"),
        extra: root.join("certs/example.com+root.rsa.pem"),
        root,
    };
    write_mode(&fx.key, b"OLD KEY", 0o600);
    write_mode(&fx.cert, b"OLD CERT", 0o644);
    write_mode(&fx.extra, b"OLD EXTRA", 0o644);
    fx
}

fn plan(fx: &Fx) -> Plan {
    let w = |p: &Path, kind: &str, c: &[u8], mode| FileOp {
        path: p.to_path_buf(),
        kind: kind.into(),
        action: Action::Write { contents: c.to_vec(), mode },
    };
    Plan {
        key_name: "example.com".into(),
        ops: vec![
            w(&fx.key, "private_key", b"NEW KEY", 0o640),
            w(&fx.cert, "certificate", b"NEW CERT", 0o644),
            w(&fx.chain, "chain", b"NEW CHAIN", 0o644),
            FileOp { path: fx.extra.clone(), kind: "full_chain".into(), action: Action::Remove },
        ],
        owner: None,
        archive_root: fx.archive_root.clone(),
        effects: vec![],
    }
}

fn records(path: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    let scanned = scan(BufReader::new(fs::File::open(path).unwrap()), |r| out.push(r)).unwrap();
    assert!(scanned.problems.is_empty() && scanned.torn.is_none(), "{:?}", scanned.problems);
    out
}

fn types(path: &Path) -> Vec<String> {
    records(path).iter().map(|r| r.event.type_name()).collect()
}

fn installed(path: &Path) -> BTreeMap<String, FileState> {
    read(path).unwrap().state.files
}

fn file(p: &Path) -> Option<(Vec<u8>, u32)> {
    let d = fs::read(p).ok()?;
    Some((d, fs::metadata(p).unwrap().permissions().mode() & 0o7777))
}

fn assert_all_old(fx: &Fx, ctx: &str) {
    assert_eq!(file(&fx.key), Some((b"OLD KEY".to_vec(), 0o600)), "{ctx}");
    assert_eq!(file(&fx.cert), Some((b"OLD CERT".to_vec(), 0o644)), "{ctx}");
    assert_eq!(file(&fx.chain), None, "{ctx}");
    assert_eq!(file(&fx.extra), Some((b"OLD EXTRA".to_vec(), 0o644)), "{ctx}");
}

fn assert_all_new(fx: &Fx, ctx: &str) {
    assert_eq!(file(&fx.key), Some((b"NEW KEY".to_vec(), 0o640)), "{ctx}");
    assert_eq!(file(&fx.cert), Some((b"NEW CERT".to_vec(), 0o644)), "{ctx}");
    assert_eq!(file(&fx.chain), Some((b"NEW CHAIN".to_vec(), 0o644)), "{ctx}");
    assert_eq!(file(&fx.extra), None, "{ctx}");
}

fn temp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            temp_files(&p, out);
        } else if p.file_name().unwrap().to_string_lossy().contains(".acmebot-") {
            out.push(p);
        }
    }
}

fn assert_archive_has_old(archive: &Path, ctx: &str) {
    assert_eq!(fs::read(archive.join("example.com.rsa.key")).unwrap(), b"OLD KEY", "{ctx}");
    assert_eq!(fs::metadata(archive.join("example.com.rsa.key")).unwrap().permissions().mode() & 0o777, 0o600, "{ctx}");
    assert_eq!(fs::read(archive.join("example.com.rsa.pem")).unwrap(), b"OLD CERT", "{ctx}");
    assert_eq!(fs::read(archive.join("example.com+root.rsa.pem")).unwrap(), b"OLD EXTRA", "{ctx}");
    assert!(!archive.join("example.com_chain.rsa.pem").exists(), "{ctx}");
    let inst = archive.join("installed");
    assert_eq!(file(&inst.join("example.com.rsa.key")), Some((b"NEW KEY".to_vec(), 0o640)), "{ctx}");
    assert_eq!(file(&inst.join("example.com_chain.rsa.pem")), Some((b"NEW CHAIN".to_vec(), 0o644)), "{ctx}");
}

/// After a crash at `step:n` and a reopen with recovery: the files are all
/// old or all new, the journal says which, and nothing is left behind.
fn check_recovered(fx: &Fx, p: &Plan, step: Step, n: u32, ctx: &str) {
    let (mut j, _) = Journal::open(&fx.jpath, at(T0 + 60)).unwrap();
    let rec = recover_interrupted(&mut j).unwrap();
    let recs = records(&fx.jpath);
    let verdicts: Vec<&Event> = recs
        .iter()
        .map(|r| &r.event)
        .filter(|e| matches!(e, Event::TxnCommitted { .. } | Event::TxnRolledBack { .. }))
        .collect();
    assert_eq!(verdicts.len(), 1, "{ctx}: {verdicts:?}");
    let expect_back = matches!(step, Step::Begun | Step::TempCreated) || (step == Step::TempWritten && n < 3);
    if step == Step::Committed {
        assert!(rec.is_empty(), "{ctx}");
    } else {
        assert_eq!(rec.len(), 1, "{ctx}");
        assert_eq!(rec[0].txn, "example.com@2026_11_29_160226");
    }
    let mut temps = Vec::new();
    temp_files(&fx.root, &mut temps);
    assert!(temps.is_empty(), "{ctx}: temp files left: {temps:?}");
    let inst = installed(&fx.jpath);
    if expect_back {
        assert!(matches!(verdicts[0], Event::TxnRolledBack { recovered: true, .. }), "{ctx}");
        assert!(matches!(rec[0].outcome, RecoveryOutcome::RolledBack { .. }), "{ctx}");
        assert_all_old(fx, ctx);
        assert!(inst.is_empty(), "{ctx}");
    } else {
        assert!(
            matches!(verdicts[0], Event::TxnCommitted { recovered, .. } if *recovered == (step != Step::Committed)),
            "{ctx}"
        );
        if step != Step::Committed {
            assert_eq!(rec[0].outcome, RecoveryOutcome::RolledForward, "{ctx}");
        }
        assert_all_new(fx, ctx);
        assert_archive_has_old(&fx.archive_root.join("example.com/2026_11_29_160226"), ctx);
        // Every file journaled exactly once.
        for (t, want) in [("file_archived", 3), ("file_installed", 3), ("file_removed", 1)] {
            let mut paths: Vec<String> = recs
                .iter()
                .filter(|r| r.event.type_name() == t)
                .map(|r| serde_json::to_value(&r.event).unwrap()["path"].as_str().unwrap().to_string())
                .collect();
            let total = paths.len();
            paths.sort();
            paths.dedup();
            assert_eq!((total, paths.len()), (want, want), "{ctx}: {t}");
        }
        assert_eq!(inst.len(), 3, "{ctx}");
        assert!(audit_files(&inst).is_empty(), "{ctx}");
    }
    // Recovery is idempotent.
    assert!(recover_interrupted(&mut j).unwrap().is_empty(), "{ctx}");
    // Running the plan again: a no-op after commit, a fresh commit after rollback.
    let before = fs::read(&fx.jpath).unwrap();
    let c = commit(&mut j, p).unwrap();
    assert_all_new(fx, ctx);
    if expect_back {
        assert!(c.changed());
    } else {
        assert!(!c.changed(), "{ctx}");
        assert_eq!(fs::read(&fx.jpath).unwrap(), before, "{ctx}");
    }
    assert!(read(&fx.jpath).unwrap().scanned.problems.is_empty());
}

#[test]
fn fault_at_every_step_recovers_to_all_old_or_all_new() {
    let mut crashed_steps = BTreeSet::new();
    for step in Step::ALL {
        for n in 1..20u32 {
            let ctx = format!("fault {step}:{n}");
            let fx = setup(&format!("{step}-{n}"));
            let p = plan(&fx);
            let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
            match commit_with_faults(&mut j, &p, &fault_at(Fault { step, count: n })) {
                Ok(c) => {
                    // The fault never fired: step reached fewer than n times.
                    assert!(n > 1, "{ctx}: step never reached");
                    assert_all_new(&fx, &ctx);
                    assert_archive_has_old(c.archive_dir.as_ref().unwrap(), &ctx);
                    break;
                }
                Err(TxnError::Crashed(f)) => assert_eq!(f, Fault { step, count: n }),
                Err(e) => panic!("{ctx}: {e}"),
            }
            crashed_steps.insert(step);
            if step == Step::TempCreated && n == 1 {
                // The key's temp file: final mode from creation, still empty.
                let mut temps = Vec::new();
                temp_files(&fx.root.join("private"), &mut temps);
                assert_eq!(temps.len(), 1, "{ctx}");
                let md = fs::metadata(&temps[0]).unwrap();
                assert_eq!(md.permissions().mode() & 0o7777, 0o640, "{ctx}");
                assert_eq!(md.len(), 0);
            }
            drop(j);
            check_recovered(&fx, &p, step, n, &ctx);
        }
    }
    assert_eq!(crashed_steps.len(), Step::ALL.len());
}

#[test]
fn commit_happy_path_and_noop() {
    let fx = setup("happy");
    let p = plan(&fx);
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    let c = commit(&mut j, &p).unwrap();
    assert_eq!(c.txn.as_deref(), Some("example.com@2026_11_29_160226"));
    assert_eq!(c.installed, vec![fx.key.clone(), fx.cert.clone(), fx.chain.clone()]);
    assert_eq!(c.removed, vec![fx.extra.clone()]);
    assert_eq!(c.archived.len(), 3);
    assert_all_new(&fx, "happy");
    assert_archive_has_old(c.archive_dir.as_ref().unwrap(), "happy");
    assert_eq!(
        types(&fx.jpath),
        [
            "txn_begun",
            "file_archived",
            "file_archived",
            "file_archived",
            "file_installed",
            "file_installed",
            "file_installed",
            "file_removed",
            "txn_committed"
        ]
    );
    let begun = serde_json::to_value(&records(&fx.jpath)[0].event).unwrap();
    assert_eq!(begun["files"][0]["mode"], "0640");
    assert_eq!(begun["files"][0]["old_sha256"], sha256_hex(b"OLD KEY"));
    assert_eq!(begun["files"][2]["old_sha256"], serde_json::Value::Null);
    assert_eq!(begun["files"][3]["sha256"], serde_json::Value::Null);
    assert!(begun.get("effects").is_none(), "no effects, no field");
    assert_eq!(fs::metadata(fx.chain.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(j.state().files.len(), 3, "the journal's state follows its own appends");

    // No-op: nothing journaled, nothing archived.
    let before = fs::read(&fx.jpath).unwrap();
    let c2 = commit(&mut j, &p).unwrap();
    assert!(!c2.changed());
    assert_eq!(c2.unchanged.len(), 4);
    assert_eq!(fs::read(&fx.jpath).unwrap(), before);
    assert_eq!(fs::read_dir(fx.archive_root.join("example.com")).unwrap().count(), 1);

    // A second change in the same second gets its own archive dir / txn id.
    let mut p2 = p.clone();
    p2.ops.truncate(1);
    p2.ops[0].action = Action::Write { contents: b"NEWER KEY".to_vec(), mode: 0o600 };
    let c3 = commit(&mut j, &p2).unwrap();
    assert_eq!(c3.txn.as_deref(), Some("example.com@2026_11_29_160226-1"));
    assert_eq!(fs::read(c3.archive_dir.unwrap().join("example.com.rsa.key")).unwrap(), b"NEW KEY");
    assert_eq!(file(&fx.key), Some((b"NEWER KEY".to_vec(), 0o600)));
    let inst = installed(&fx.jpath);
    assert_eq!(inst.len(), 3);
    let key = fx.key.to_string_lossy().into_owned();
    assert_eq!(inst[&key].sha256, sha256_hex(b"NEWER KEY"));
    assert_eq!(inst[&key].txn, "example.com@2026_11_29_160226-1");
    assert_eq!(&inst, &j.state().files, "replayed from the file = applied while writing");
}

#[test]
fn effects_are_declared_in_txn_begun_and_count_once_committed() {
    use crate::journal::Effect;
    use crate::types::KeyType;
    let fx = setup("effects");
    let mut p = plan(&fx);
    p.effects = vec![Effect::CertificateInstalled { cert: "c".into(), key_type: KeyType::Rsa, serial: "01".into() }];
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    commit(&mut j, &p).unwrap();
    let begun = serde_json::to_value(&records(&fx.jpath)[0].event).unwrap();
    assert_eq!(begun["effects"][0]["type"], "certificate_installed");
    // Effects alone (every file already right) still make a transaction.
    let c = commit(&mut j, &p).unwrap();
    assert!(c.changed() && c.installed.is_empty());
    assert_eq!(types(&fx.jpath).iter().filter(|t| *t == "txn_committed").count(), 2);
}

#[test]
fn mode_only_change_is_a_change() {
    let fx = setup("modeonly");
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    let p = Plan {
        key_name: "k".into(),
        ops: vec![FileOp {
            path: fx.key.clone(),
            kind: "private_key".into(),
            action: Action::Write { contents: b"OLD KEY".to_vec(), mode: 0o640 },
        }],
        owner: None,
        archive_root: fx.archive_root.clone(),
        effects: vec![],
    };
    assert!(commit(&mut j, &p).unwrap().changed());
    assert_eq!(file(&fx.key), Some((b"OLD KEY".to_vec(), 0o640)));
    assert!(!commit(&mut j, &p).unwrap().changed());
}

#[test]
fn a_directory_that_cannot_be_made_stops_before_anything_is_journaled() {
    let fx = setup("nodir");
    let mut p = plan(&fx);
    // Its directory cannot be created: the cert path is a file.
    p.ops.push(FileOp {
        path: fx.cert.join("sub.pem"),
        kind: "x".into(),
        action: Action::Write { contents: b"X".to_vec(), mode: 0o644 },
    });
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    let e = commit(&mut j, &p).unwrap_err();
    assert!(matches!(e, TxnError::Io { .. }), "{e}");
    assert_all_old(&fx, "nodir");
    assert!(records(&fx.jpath).is_empty(), "no transaction was begun");
}

#[test]
fn real_error_mid_commit_rolls_back() {
    let fx = setup("error");
    let p = plan(&fx);
    // Somebody removes the temporary files after they were written: the
    // renames fail, a real error (not a crash), and all is put back.
    let root = fx.root.clone();
    let sabotage = move |step: Step| -> Result<(), Fault> {
        if step == Step::TempWritten {
            let mut temps = Vec::new();
            temp_files(&root, &mut temps);
            temps.iter().for_each(|t| fs::remove_file(t).unwrap());
        }
        Ok(())
    };
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    let e = commit_with_faults(&mut j, &p, &sabotage).unwrap_err();
    assert!(matches!(e, TxnError::Io { op: "rename into place", .. }), "{e}");
    assert_all_old(&fx, "error");
    let mut temps = Vec::new();
    temp_files(&fx.root, &mut temps);
    assert!(temps.is_empty(), "{temps:?}");
    let recs = records(&fx.jpath);
    match &recs.last().unwrap().event {
        Event::TxnRolledBack { reason, recovered: false, .. } => assert!(reason.contains("commit failed"), "{reason}"),
        e => panic!("{e:?}"),
    }
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    assert!(recover_interrupted(&mut j).unwrap().is_empty());
}

#[test]
fn audit_and_restore_fix_deleted_altered_and_chmodded_files() {
    let fx = setup("restore");
    let p = plan(&fx);
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    commit(&mut j, &p).unwrap();
    let inst = installed(&fx.jpath);
    let key = fx.key.to_string_lossy().into_owned();
    let cert = fx.cert.to_string_lossy().into_owned();
    let mut want = vec![key.clone(), cert.clone(), fx.chain.to_string_lossy().into_owned()];
    want.sort();
    assert_eq!(inst.keys().cloned().collect::<Vec<_>>(), want);
    assert_eq!(inst[&key].mode.0, 0o640);
    assert_eq!(inst[&key].kind, "private_key");
    assert!(audit_files(&inst).is_empty());

    fs::remove_file(&fx.cert).unwrap();
    fs::write(&fx.key, b"EDITED BY HAND").unwrap();
    fs::set_permissions(&fx.chain, fs::Permissions::from_mode(0o600)).unwrap();
    let problems = audit_files(&inst);
    let kinds: BTreeMap<PathBuf, &str> = problems.iter().map(|p| (p.path.clone(), p.kind.as_str())).collect();
    assert_eq!(kinds.len(), 3);
    assert_eq!(kinds[&fx.cert], "missing");
    assert_eq!(kinds[&fx.key], "altered");
    assert_eq!(kinds[&fx.chain], "mode");
    for p in &problems {
        assert!(p.to_string().starts_with(&p.path.display().to_string()));
    }

    let (mut j, _) = Journal::open(&fx.jpath, at(T0 + 100)).unwrap();
    let restored = restore(&mut j, &problems).unwrap();
    assert_eq!(restored.len(), 3);
    for r in &restored {
        assert!(matches!(r, Restored::Done { .. }), "{r:?}");
    }
    assert_all_new(&fx, "restored");
    assert!(audit_files(&inst).is_empty());
    // The hand-edited file was preserved.
    let altered = fx
        .archive_root
        .join("example.com")
        .join(format!("{}-altered", archive_stamp(T0 + 100)))
        .join("example.com.rsa.key");
    assert_eq!(fs::read(altered).unwrap(), b"EDITED BY HAND");
    assert_eq!(types(&fx.jpath).iter().filter(|t| *t == "file_restored").count(), 3);
    assert_eq!(installed(&fx.jpath), inst);

    // A missing installed copy is reported per file, not fatal.
    fs::remove_file(&fx.cert).unwrap();
    fs::remove_file(inst[&cert].installed_copy.as_deref().unwrap()).unwrap();
    let r = restore(&mut j, &audit_files(&inst)).unwrap();
    assert!(matches!(&r[..], [Restored::Failed { .. }]), "{r:?}");
}

#[test]
fn audit_reports_a_changed_owner() {
    let fx = setup("owner");
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    commit(&mut j, &plan(&fx)).unwrap();
    let inst = installed(&fx.jpath);
    let key = fx.key.to_string_lossy().into_owned();
    // Another owner than the one journaled (the journal says who installed it).
    let mut claimed = inst.clone();
    claimed.get_mut(&key).unwrap().uid = inst[&key].uid + 1;
    let problems = audit_files(&claimed);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind.as_str(), "owner");
    assert!(problems[0].to_string().contains("is owned by"), "{}", problems[0]);
}

#[test]
fn installed_files_ignore_uncommitted_and_apply_removals() {
    let fx = setup("state");
    let (mut j, _) = Journal::open(&fx.jpath, at(T0)).unwrap();
    commit(&mut j, &plan(&fx)).unwrap();
    // Remove the chain in a later transaction.
    let p = Plan {
        key_name: "example.com".into(),
        ops: vec![FileOp { path: fx.chain.clone(), kind: "chain".into(), action: Action::Remove }],
        owner: None,
        archive_root: fx.archive_root.clone(),
        effects: vec![],
    };
    commit(&mut j, &p).unwrap();
    // An interrupted transaction's file_installed must not count.
    let p2 = Plan {
        key_name: "example.com".into(),
        ops: vec![FileOp {
            path: fx.cert.clone(),
            kind: "certificate".into(),
            action: Action::Write { contents: b"NEWEST".to_vec(), mode: 0o644 },
        }],
        owner: None,
        archive_root: fx.archive_root.clone(),
        effects: vec![],
    };
    let e = commit_with_faults(&mut j, &p2, &fault_at(Fault { step: Step::InstalledJournaled, count: 1 })).unwrap_err();
    assert!(matches!(e, TxnError::Crashed(_)));
    let inst = installed(&fx.jpath);
    assert_eq!(inst.len(), 2);
    assert!(!inst.contains_key(fx.chain.to_string_lossy().as_ref()));
    assert_eq!(inst[fx.cert.to_string_lossy().as_ref()].sha256, sha256_hex(b"NEW CERT"));
    assert_eq!(read(&fx.jpath).unwrap().state.open.len(), 1);
}

#[test]
fn names_and_fault_specs() {
    let a = Path::new("/a/x.pem");
    let b = Path::new("/b/x.pem");
    let c = Path::new("/c/installed");
    assert_eq!(unique_names([a, b, c]).unwrap(), vec!["x.pem", "x.pem.1", "installed.1"]);
    assert_eq!(parse_fault_spec("replaced:3"), Some(Fault { step: Step::Replaced, count: 3 }));
    assert_eq!(parse_fault_spec("begun"), Some(Fault { step: Step::Begun, count: 1 }));
    assert_eq!(parse_fault_spec("nope"), None);
    for s in Step::ALL {
        assert_eq!(Step::parse(s.name()), Some(s));
    }
    let f = fault_at(Fault { step: Step::Replaced, count: 2 });
    assert!(
        f(Step::Replaced).is_ok() && f(Step::Begun).is_ok() && f(Step::Replaced).is_err() && f(Step::Replaced).is_ok()
    );
    let bad = Plan { key_name: "a/b".into(), ops: vec![], owner: None, archive_root: "/x".into(), effects: vec![] };
    let d = setup("bad");
    let (mut j, _) = Journal::open(&d.jpath, at(T0)).unwrap();
    assert!(matches!(commit(&mut j, &bad), Err(TxnError::Invalid(_))));
}

#[test]
fn old_archived_generations_go_except_those_in_use() {
    let fx = setup("prune");
    let p = plan(&fx);
    // Six generations: the same files installed again and again.
    for i in 0..6 {
        let (mut j, _) = Journal::open(&fx.jpath, at(T0 + i * 3600)).unwrap();
        let mut p = p.clone();
        for op in &mut p.ops {
            if let Action::Write { contents, .. } = &mut op.action {
                contents.extend_from_slice(format!(" generation {i}").as_bytes());
            }
        }
        commit(&mut j, &p).unwrap();
    }
    let key_dir = fx.archive_root.join("example.com");
    let mut stamps: Vec<PathBuf> = fs::read_dir(&key_dir).unwrap().map(|e| e.unwrap().path()).collect();
    stamps.sort();
    assert_eq!(stamps.len(), 6);
    let (mut j, _) = Journal::open(&fx.jpath, at(T0 + 86400)).unwrap();
    // The oldest is "in use" (say, it holds an installed copy): it stays.
    let keep_oldest = stamps[0].clone();
    let in_use = |d: &Path| d == keep_oldest;
    let deleted = prune_archive(&mut j, &fx.archive_root, "example.com", 2, &in_use).unwrap();
    assert_eq!(deleted, stamps[1..4].to_vec());
    let mut left: Vec<PathBuf> = fs::read_dir(&key_dir).unwrap().map(|e| e.unwrap().path()).collect();
    left.sort();
    assert_eq!(left, vec![stamps[0].clone(), stamps[4].clone(), stamps[5].clone()]);
    let pruned: Vec<_> = records(&fx.jpath)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::ArchivePruned { dir, files, .. } => Some((dir, files)),
            _ => None,
        })
        .collect();
    assert_eq!(pruned.len(), 3);
    assert_eq!(pruned[0].0, stamps[1].to_string_lossy());
    assert!(pruned.iter().all(|(_, n)| *n > 0), "{pruned:?}");
    // Nothing more to delete.
    assert!(prune_archive(&mut j, &fx.archive_root, "example.com", 2, &in_use).unwrap().is_empty());
}

#[test]
fn generations_sort_in_the_order_they_were_made() {
    use super::fs::generation_order;
    let mut names = vec!["2026_12_02_003222-10", "2026_12_02_003223", "2026_12_02_003222-2", "2026_12_02_003222"];
    names.sort_by_key(|n| generation_order(n));
    assert_eq!(names, ["2026_12_02_003222", "2026_12_02_003222-2", "2026_12_02_003222-10", "2026_12_02_003223"]);
    assert_eq!(generation_order("2026_12_02_003222-altered"), None);
    assert_eq!(generation_order("installed"), None);
}
