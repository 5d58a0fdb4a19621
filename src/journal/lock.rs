//! The run lock: one writing run at a time, `<directories.pid>/acmebot.pid`
//! holding an exclusive `flock` and the holder's pid.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::JournalError;
use crate::platform;
use crate::safe_fs::{Dir, Trust};

/// The lock (pid) file name inside the pid directory.
pub const LOCK_FILE_NAME: &str = "acmebot.pid";

/// Holds the run lock; released when dropped, and the pid file removed then,
/// as the original removes it at exit.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    dir: Dir,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Removed while still locked, and only while the name is still this
        // file: a run waiting on it then finds its inode gone from the
        // directory and opens the name again (see `lock_with`).
        if is_still_named(&self.dir, &self.file) {
            let _ = self.dir.remove(OsStr::new(LOCK_FILE_NAME));
        }
        platform::unlock(&self.file);
    }
}

/// Whether `<dir>/acmebot.pid` is still the open `file` (same inode).
fn is_still_named(dir: &Dir, file: &File) -> bool {
    use std::os::fd::AsFd;
    match (dir.lstat(OsStr::new(LOCK_FILE_NAME)), platform::fstat(file.as_fd())) {
        (Ok(Some(named)), Ok(open)) => named.dev == open.dev && named.ino == open.ino,
        _ => false,
    }
}

/// Takes the run lock `<pid_dir>/acmebot.pid` (flock, non-blocking) and writes our pid.
/// The pid directory may be shared (a sticky `/tmp`, `/run/lock`): the file is
/// never opened through a link, and one that is not this user's own regular
/// file (with no other name) is refused before anything is written to it.
pub fn lock(pid_dir: &Path) -> Result<LockGuard, JournalError> {
    lock_with(pid_dir, None)
}

/// [`lock`], but when another run holds it, `waiting(pid)` is called and the
/// lock is waited for (`--audit`: files are only compared between runs).
pub fn lock_waiting(pid_dir: &Path, waiting: &dyn Fn(Option<u32>)) -> Result<LockGuard, JournalError> {
    lock_with(pid_dir, Some(waiting))
}

fn lock_with(pid_dir: &Path, waiting: Option<&dyn Fn(Option<u32>)>) -> Result<LockGuard, JournalError> {
    let dir = Dir::create(pid_dir, Trust::Shared, 0o755, None)?;
    let path = pid_dir.join(LOCK_FILE_NAME);
    let mut said_waiting = false;
    // The holder removes the file when it is done: a lock taken on a file
    // that is no longer the name in the directory is let go and taken again.
    let mut file = loop {
        let mut file = dir.open_own_rw(OsStr::new(LOCK_FILE_NAME), 0o644).map_err(|source| {
            let reason = format!("cannot use it as the lock file: {source}");
            if source.kind() == std::io::ErrorKind::Other {
                JournalError::Unsafe { path: path.clone(), reason }
            } else {
                JournalError::io(&path, "open lock file", source)
            }
        })?;
        if !platform::try_lock_exclusive(&file).map_err(|e| JournalError::io(&path, "lock", e))? {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            let pid = s.trim().parse::<u32>().ok();
            let Some(waiting) = waiting else { return Err(JournalError::Locked { path, pid }) };
            if !said_waiting {
                waiting(pid);
                said_waiting = true;
            }
            platform::lock_exclusive(&file).map_err(|e| JournalError::io(&path, "lock", e))?;
        }
        if is_still_named(&dir, &file) {
            break file;
        }
        platform::unlock(&file);
    };
    let pid = std::process::id();
    file.set_len(0).map_err(|e| JournalError::io(&path, "truncate lock file", e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| JournalError::io(&path, "seek", e))?;
    file.write_all(format!("{pid}\n").as_bytes()).map_err(|e| JournalError::io(&path, "write pid", e))?;
    Ok(LockGuard { file, dir })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lock_contention() {
        let d = crate::test_support::scratch_dir("lock-test").join("run");
        let g = lock(&d).unwrap();
        let pid_path = d.join(LOCK_FILE_NAME);
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        assert_eq!(fs::metadata(&pid_path).unwrap().permissions().mode() & 0o777, 0o644);
        let err = lock(&d).unwrap_err();
        match &err {
            JournalError::Locked { path, pid } => {
                assert_eq!(path, &pid_path);
                assert_eq!(*pid, Some(std::process::id()));
            }
            e => panic!("{e}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "another acmebot run (pid {}) holds {}; try again when it has finished",
                std::process::id(),
                pid_path.display()
            )
        );
        // The failed attempt did not clobber the pid.
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        drop(g);
        // Stale file (lock released): fine.
        fs::write(&pid_path, "999999\n").unwrap();
        let g2 = lock(&d).unwrap();
        assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", std::process::id()));
        drop(g2);
        assert!(!pid_path.exists(), "the pid file is removed at exit, as the original does");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_waiting_run_takes_the_lock_after_the_holder_removed_its_file() {
        let d = crate::test_support::scratch_dir("lock-wait").join("run");
        let g = lock(&d).unwrap();
        let pid_path = d.join(LOCK_FILE_NAME);
        let (tx, rx) = std::sync::mpsc::channel();
        let dd = d.clone();
        let waiter = std::thread::spawn(move || {
            let guard = lock_waiting(&dd, &|pid| tx.send(pid).unwrap()).unwrap();
            // Holding it: the name is this guard's file, and a third run is refused.
            assert!(matches!(lock(&dd), Err(JournalError::Locked { .. })));
            drop(guard);
        });
        assert_eq!(rx.recv().unwrap(), Some(std::process::id()));
        drop(g);
        waiter.join().unwrap();
        assert!(!pid_path.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
