//! Every call into libc that Rust's standard library does not offer, each
//! `unsafe` block with the reason it is sound. Nothing else in the crate uses
//! `unsafe`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

/// Takes an exclusive `flock` without waiting: `Ok(false)` when another
/// process holds it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Releases a `flock` (closing the descriptor would too).
pub fn unlock(file: &File) {
    // SAFETY: flock on a descriptor owned by `file`; the result is not needed,
    // the lock goes with the descriptor anyway.
    unsafe {
        libc::flock(file.as_raw_fd(), libc::LOCK_UN);
    }
}

/// `fchown(2)` on an open file.
pub fn fchown(file: &File, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor owned by `file`.
    if unsafe { libc::fchown(file.as_raw_fd(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fchmod(2)` on an open file.
pub fn fchmod(file: &File, mode: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor owned by `file`.
    if unsafe { libc::fchmod(file.as_raw_fd(), (mode & 0o7777) as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The id of a user (`user` true) or group by name, through the system's
/// databases (`getpwnam_r`/`getgrnam_r`); `Ok(None)` when there is no such name.
pub fn lookup_id(name: &str, user: bool) -> io::Result<Option<u32>> {
    let cname =
        CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        let (rc, found) = if user {
            // SAFETY: `pwd` and `result` are valid for writes, `buf` is a
            // writable buffer of the length passed, `cname` is NUL-terminated;
            // `pwd`'s pointers into `buf` are not used after `buf` changes.
            unsafe {
                let mut pwd: libc::passwd = std::mem::zeroed();
                let mut result: *mut libc::passwd = std::ptr::null_mut();
                let rc = libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
                (rc, (!result.is_null()).then_some(pwd.pw_uid))
            }
        } else {
            // SAFETY: as above, for getgrnam_r.
            unsafe {
                let mut grp: libc::group = std::mem::zeroed();
                let mut result: *mut libc::group = std::ptr::null_mut();
                let rc = libc::getgrnam_r(cname.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
                (rc, (!result.is_null()).then_some(grp.gr_gid))
            }
        };
        if rc == libc::ERANGE && buf.len() < (1 << 22) {
            let len = buf.len() * 2;
            buf.resize(len, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(found);
    }
}

/// Writes `message` to stderr and ends the process at once with `code`: no
/// destructors, no buffered output, as a crash would (fault injection).
pub fn exit_immediately(code: i32, message: &str) -> ! {
    // SAFETY: write(2) from a valid buffer of the given length, then _exit(2),
    // which never returns and touches no Rust state.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(code)
    }
}

/// Overwrites a secret in memory so the optimizer cannot drop the writes.
pub fn zeroize(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_resolve() {
        assert_eq!(lookup_id("root", true).unwrap(), Some(0));
        assert_eq!(lookup_id("root", false).unwrap(), Some(0));
        assert_eq!(lookup_id("no-such-user-acmebot", true).unwrap(), None);
        assert!(lookup_id("a\0b", true).is_err());
    }

    #[test]
    fn locks_exclude_a_second_descriptor() {
        let path = std::env::temp_dir().join(format!("acmebot-platform-lock-{}", std::process::id()));
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        unlock(&a);
        assert!(try_lock_exclusive(&b).unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn zeroize_clears() {
        let mut s = *b"secret";
        zeroize(&mut s);
        assert_eq!(s, [0; 6]);
    }
}
