use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use super::*;

/// A fresh directory of this test's own (0755), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        Scratch(crate::test_support::scratch_dir(&format!("safe-fs-{name}")))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[allow(clippy::unnecessary_cast)] // mode_t is not u32 on every target
fn stat(uid: u32, perm: u32) -> Stat {
    Stat { mode: libc::S_IFDIR as u32 | perm, uid, gid: 0, dev: 1, ino: 2, nlink: 2, size: 0 }
}

fn unsafe_reason(r: Result<Dir, FsError>) -> String {
    match r {
        Err(FsError::Unsafe { path, reason }) => format!("{}: {reason}", path.display()),
        Err(e) => panic!("not refused as unsafe: {e}"),
        Ok(d) => panic!("{} was accepted", d.path().display()),
    }
}

#[test]
fn directory_modes_follow_the_file_modes_as_the_original_makes_them() {
    assert_eq!(dir_mode_for(0o640), 0o750);
    assert_eq!(dir_mode_for(0o644), 0o755);
    assert_eq!(dir_mode_for(0o600), 0o700);
    assert_eq!(dir_mode_for(0o604), 0o705);
    assert_eq!(Trust::for_mode(0o644), Trust::Shared);
    assert_eq!(Trust::for_mode(0o640), Trust::Private);
    assert_eq!(Trust::for_mode(0o600), Trust::Private);
}

#[test]
fn trust_is_owner_root_or_us_and_nobody_else_writing() {
    let me = platform::euid();
    assert_eq!(distrust(&stat(0, 0o755), true), None);
    assert_eq!(distrust(&stat(me, 0o700), true), None);
    let other = if me == 4242 { 4243 } else { 4242 };
    assert!(distrust(&stat(other, 0o755), false).unwrap().contains("owned by uid"));
    assert!(distrust(&stat(0, 0o775), false).unwrap().contains("writable by group or others (mode 0775)"));
    assert!(distrust(&stat(0, 0o757), true).is_some());
    // A sticky directory (/tmp) is fine on the way, not as the place of the files.
    assert_eq!(distrust(&stat(0, 0o1777), false), None);
    assert!(distrust(&stat(0, 0o1777), true).is_some());
}

#[test]
fn missing_directories_are_made_with_exactly_the_mode_asked() {
    let s = Scratch::new("create");
    let deep = s.0.join("a/b/c");
    // 0770 under the usual umask 022 would come out 0750: the mode is restored.
    let d = Dir::create(&deep, Trust::Shared, 0o770, None).unwrap();
    assert_eq!(d.path(), deep);
    assert_eq!(fs::metadata(&deep).unwrap().mode() & 0o7777, 0o770);
    for p in ["a", "a/b"] {
        assert_eq!(fs::metadata(s.0.join(p)).unwrap().mode() & 0o7777, 0o755, "{p}: made on the way, as mkdir -p");
    }
    // Private refuses what it made group-writable itself, by name.
    let r = unsafe_reason(Dir::open(&deep, Trust::Private));
    assert!(r.contains("/a/b/c: the directory is writable by group or others (mode 0770)"), "{r}");
    let d = Dir::create(&s.0.join("k/l"), Trust::Private, 0o750, None).unwrap();
    assert!(d.path().ends_with("k/l"));
    assert_eq!(fs::metadata(s.0.join("k/l")).unwrap().mode() & 0o7777, 0o750);
}

#[test]
fn links_are_followed_only_where_nobody_else_could_have_planted_them() {
    let s = Scratch::new("links");
    fs::create_dir_all(s.0.join("real/keys")).unwrap();
    symlink(s.0.join("real"), s.0.join("via")).unwrap();
    symlink("../real/keys", s.0.join("real/up")).unwrap();
    let d = Dir::open(&s.0.join("via/keys"), Trust::Private).unwrap();
    assert_eq!(d.path(), s.0.join("real/keys"), "the path as resolved");
    assert_eq!(Dir::open(&s.0.join("real/up"), Trust::Private).unwrap().path(), s.0.join("real/keys"));
    // The same link in a directory others can write: refused for both trusts.
    fs::create_dir(s.0.join("open")).unwrap();
    fs::set_permissions(s.0.join("open"), fs::Permissions::from_mode(0o777)).unwrap();
    symlink(s.0.join("real"), s.0.join("open/planted")).unwrap();
    let r = unsafe_reason(Dir::open(&s.0.join("open/planted/keys"), Trust::Shared));
    assert!(r.contains("open/planted: it is a symbolic link in a directory that other users can write to"), "{r}");
    let r = unsafe_reason(Dir::open(&s.0.join("open/planted/keys"), Trust::Private));
    assert!(r.ends_with("/open: the directory is writable by group or others (mode 0777)"), "{r}");
    // A loop ends.
    symlink(s.0.join("loop"), s.0.join("loop")).unwrap();
    assert!(unsafe_reason(Dir::open(&s.0.join("loop"), Trust::Shared)).contains("symbolic links on the way"));
    // A file is no directory.
    fs::write(s.0.join("file"), "x").unwrap();
    assert!(matches!(Dir::open(&s.0.join("file"), Trust::Shared), Err(FsError::Io { .. })));
}

#[test]
fn new_files_are_never_opened_through_a_link_or_over_an_existing_file() {
    let s = Scratch::new("create-new");
    let d = Dir::open(&s.0, Trust::Private).unwrap();
    fs::write(s.0.join("victim"), "precious").unwrap();
    symlink(s.0.join("victim"), s.0.join("key.pem")).unwrap();
    symlink(s.0.join("nowhere"), s.0.join("dangling")).unwrap();
    for name in ["key.pem", "dangling", "victim"] {
        let e = d.create_new(OsStr::new(name), 0o600, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{name}");
    }
    assert!(!s.0.join("nowhere").exists());
    // replace() puts a regular file where the link was; the link's target is untouched.
    d.replace(OsStr::new("key.pem"), b"new key", 0o640, None).unwrap();
    let md = fs::symlink_metadata(s.0.join("key.pem")).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!(fs::read(s.0.join("key.pem")).unwrap(), b"new key");
    assert_eq!(fs::read(s.0.join("victim")).unwrap(), b"precious");
    // 0660 under umask 022: exact all the same, and no temporary file is left.
    let mut f = d.create_new(OsStr::new("exact"), 0o660, None).unwrap();
    f.write_all(b"x").unwrap();
    assert_eq!(fs::metadata(s.0.join("exact")).unwrap().mode() & 0o7777, 0o660);
    let mut left: Vec<_> = fs::read_dir(&s.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["dangling", "exact", "key.pem", "victim"]);
}

#[test]
fn temporary_names_are_unpredictable() {
    let a = temp_name(OsStr::new("k.key"));
    let b = temp_name(OsStr::new("k.key"));
    assert_ne!(a, b);
    let a = a.to_string_lossy();
    assert!(a.starts_with(".k.key.acmebot-") && a.len() == ".k.key.acmebot-".len() + 12, "{a}");
    assert!(temp_name(OsStr::new(&"x".repeat(300))).len() < 255);
}

#[test]
fn logs_and_locks_are_not_opened_through_links_or_other_names() {
    let s = Scratch::new("append");
    let d = Dir::open(&s.0, Trust::Shared).unwrap();
    let mut f = d.open_append_as(OsStr::new("acmebot.log"), 0o640, None).unwrap();
    f.write_all(b"one\n").unwrap();
    assert_eq!(fs::metadata(s.0.join("acmebot.log")).unwrap().mode() & 0o7777, 0o640);
    fs::write(s.0.join("victim"), "precious").unwrap();
    symlink(s.0.join("victim"), s.0.join("link.log")).unwrap();
    fs::hard_link(s.0.join("victim"), s.0.join("hard.log")).unwrap();
    let e = d.open_append_as(OsStr::new("link.log"), 0o640, None).unwrap_err();
    assert_eq!(e.to_string(), "it is a symbolic link");
    let e = d.open_own_rw(OsStr::new("hard.log"), 0o644).unwrap_err();
    assert_eq!(e.to_string(), "it has 2 names (hard links)");
    assert_eq!(fs::read(s.0.join("victim")).unwrap(), b"precious");
    fs::create_dir(s.0.join("dir.log")).unwrap();
    assert!(d.open_append_as(OsStr::new("dir.log"), 0o640, None).is_err());
}

#[test]
fn reads_take_regular_files_only() {
    let s = Scratch::new("read");
    let d = Dir::open(&s.0, Trust::Shared).unwrap();
    assert_eq!(d.read(OsStr::new("missing")).unwrap(), None);
    fs::write(s.0.join("f"), "data").unwrap();
    symlink(s.0.join("f"), s.0.join("l")).unwrap();
    assert_eq!(d.read(OsStr::new("l")).unwrap().unwrap(), b"data", "a final link is read through");
    fs::create_dir(s.0.join("sub")).unwrap();
    assert!(d.read(OsStr::new("sub")).is_err());
    let fifo = std::ffi::CString::new(s.0.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path for mkfifo(3).
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    assert_eq!(d.read(OsStr::new("fifo")).unwrap_err().to_string(), "not a regular file", "no hang on a FIFO");
}

#[test]
fn renames_links_and_removals_stay_inside_the_directories() {
    let s = Scratch::new("ops");
    let a = Dir::create(&s.0.join("a"), Trust::Private, 0o700, None).unwrap();
    let b = Dir::create(&s.0.join("b"), Trust::Private, 0o700, None).unwrap();
    a.create_new(OsStr::new("f"), 0o600, None).unwrap().write_all(b"1").unwrap();
    a.link(OsStr::new("f"), &b, OsStr::new("g")).unwrap();
    assert_eq!(fs::metadata(s.0.join("b/g")).unwrap().nlink(), 2);
    a.rename(OsStr::new("f"), &b, OsStr::new("h")).unwrap();
    assert!(a.remove(OsStr::new("h")).is_ok_and(|removed| !removed));
    assert!(b.remove(OsStr::new("h")).unwrap());
    a.sync().unwrap();
    assert_eq!(b.lstat(OsStr::new("g")).unwrap().unwrap().nlink, 1);
    let (name, _f) = b.create_temp(OsStr::new("g"), 0o600, None).unwrap();
    assert!(b.lstat(&name).unwrap().is_some());
}
