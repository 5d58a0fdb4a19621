//! Every call into libc that Rust's standard library does not offer, each
//! `unsafe` block with the reason it is sound. The only other `unsafe` of the
//! crate is the `bn` module of `crypto/params.rs` (aws-lc's big numbers).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// Takes an exclusive `flock`, waiting for it.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
        match check(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(drop),
        }
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
/// `u32::MAX` leaves that id as it is.
pub fn fchown(file: impl AsFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor borrowed for the call.
    if unsafe { libc::fchown(file.as_fd().as_raw_fd(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fchmod(2)` on an open file.
pub fn fchmod(file: impl AsFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor borrowed for the call.
    if unsafe { libc::fchmod(file.as_fd().as_raw_fd(), (mode & 0o7777) as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A path component or relative path as a C string; a NUL byte is an error.
fn c_name(name: &std::ffi::OsStr) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// `-1` into the last OS error, anything else into `Ok`.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `openat(2)`: `name` relative to the directory `dir` (`None`: an absolute
/// `name`, or relative to the working directory). `O_CLOEXEC` is always added.
pub fn openat(dir: Option<BorrowedFd<'_>>, name: &std::ffi::OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let cname = c_name(name)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `cname` is NUL-terminated and outlives the call; `dirfd` is
    // AT_FDCWD or a descriptor borrowed for the call. A descriptor returned
    // by a successful openat is new and owned by nobody else.
    let fd = check(unsafe { libc::openat(dirfd, cname.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) })?;
    // SAFETY: see above: `fd` is a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &std::ffi::OsStr, mode: u32) -> io::Result<()> {
    let cname = c_name(name)?;
    // SAFETY: valid borrowed descriptor and NUL-terminated name for the call.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// `renameat(2)`: replaces whatever `to` names (a symbolic link is replaced,
/// never followed).
pub fn renameat(
    from_dir: BorrowedFd<'_>,
    from: &std::ffi::OsStr,
    to_dir: BorrowedFd<'_>,
    to: &std::ffi::OsStr,
) -> io::Result<()> {
    let (cfrom, cto) = (c_name(from)?, c_name(to)?);
    // SAFETY: valid borrowed descriptors and NUL-terminated names for the call.
    check(unsafe { libc::renameat(from_dir.as_raw_fd(), cfrom.as_ptr(), to_dir.as_raw_fd(), cto.as_ptr()) }).map(drop)
}

/// `linkat(2)` without `AT_SYMLINK_FOLLOW`: a symbolic link is linked as
/// itself, never the file it points to.
pub fn linkat(
    from_dir: BorrowedFd<'_>,
    from: &std::ffi::OsStr,
    to_dir: BorrowedFd<'_>,
    to: &std::ffi::OsStr,
) -> io::Result<()> {
    let (cfrom, cto) = (c_name(from)?, c_name(to)?);
    // SAFETY: valid borrowed descriptors and NUL-terminated names for the call.
    check(unsafe { libc::linkat(from_dir.as_raw_fd(), cfrom.as_ptr(), to_dir.as_raw_fd(), cto.as_ptr(), 0) }).map(drop)
}

/// `unlinkat(2)` of a file (not a directory).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> io::Result<()> {
    let cname = c_name(name)?;
    // SAFETY: valid borrowed descriptor and NUL-terminated name for the call.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) }).map(drop)
}

/// What `stat(2)` says of a file, in the types this program uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The whole `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub size: u64,
}

#[allow(clippy::unnecessary_cast)] // mode_t is not u32 on every target
impl Stat {
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT as u32 == libc::S_IFREG as u32
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT as u32 == libc::S_IFLNK as u32
    }
    /// The permission bits (with setuid, setgid and sticky).
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

#[allow(clippy::unnecessary_cast)] // the field types differ between targets
fn stat_of(st: &libc::stat) -> Stat {
    Stat {
        mode: st.st_mode as u32,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        nlink: st.st_nlink as u64,
        size: st.st_size as u64,
    }
}

/// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`: a symbolic link is described as
/// itself. `Ok(None)` when there is no such name.
pub fn lstatat(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> io::Result<Option<Stat>> {
    let cname = c_name(name)?;
    // SAFETY: `st` is plain old data, valid when zeroed, and written by the
    // call; valid borrowed descriptor and NUL-terminated name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    match check(unsafe { libc::fstatat(dir.as_raw_fd(), cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) }) {
        Ok(_) => Ok(Some(stat_of(&st))),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `fstat(2)` of an open descriptor (also one opened with `O_PATH`).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    // SAFETY: `st` is plain old data, valid when zeroed, written by the call
    // on a descriptor borrowed for the call.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(stat_of(&st))
}

/// `readlinkat(2)`: the target of the symbolic link `name` in `dir`.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> io::Result<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    let cname = c_name(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for `buf.len()` bytes; valid borrowed
    // descriptor and NUL-terminated name; readlinkat writes at most that many.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), cname.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize >= buf.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "symbolic link target too long"));
    }
    buf.truncate(n as usize);
    Ok(std::ffi::OsString::from_vec(buf))
}

/// `fsync(2)` of a descriptor (a directory's, to make renames in it durable).
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor borrowed for the call.
    check(unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`), for values
/// that must be unpredictable but are no key material: DNS message IDs,
/// temporary file names, random waits. Unlike the crypto library's
/// generator, this costs no start-up: aws-lc gathers CPU-jitter entropy at
/// its first use (40-50 ms), which a no-op run must not pay.
pub fn random_fill(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes for the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The effective group id of this process.
pub fn egid() -> u32 {
    // SAFETY: getegid cannot fail and touches no memory.
    unsafe { libc::getegid() }
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

/// The signal that asked this process to stop (SIGTERM, SIGINT, SIGHUP), or 0.
static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_SIGNAL.store(signal, std::sync::atomic::Ordering::SeqCst);
}

/// From now on SIGTERM, SIGINT and SIGHUP only ask the run to stop: it stops
/// waiting (for authorizations, DNS, orders), cleans up its challenges and
/// exits, instead of dying with challenge files and records left behind.
pub fn watch_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: `sa` is plain old data, valid when zeroed; the handler is an
        // `extern "C" fn(c_int)` that only stores an atomic, which is
        // async-signal-safe; SA_RESTART keeps system calls in flight going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(signal, &sa, std::ptr::null_mut());
        }
    }
}

/// The signal that asked the run to stop, if one did.
pub fn stop_requested() -> Option<i32> {
    match STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
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

/// Whether standard error is a terminal (progress dots are drawn there).
pub fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor; 2 is always a valid number.
    unsafe { libc::isatty(2) == 1 }
}

/// Whether standard input is a terminal.
pub fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor; 0 is always a valid number.
    unsafe { libc::isatty(0) == 1 }
}

/// Asks for a secret on the controlling terminal (`/dev/tty`): `prompt` is
/// written there, echo is off while the line is typed, and restored after
/// (also when reading fails). The line, without its newline.
pub fn read_secret_from_terminal(prompt: &str) -> io::Result<String> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid value to be filled by tcgetattr.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor of `tty`, `saved` a valid termios.
    check(unsafe { libc::tcgetattr(fd, &mut saved) })?;
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    (&tty).write_all(prompt.as_bytes())?;
    // SAFETY: as above; `quiet` is a copy of the terminal's own settings.
    check(unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) })?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: as above; puts back what tcgetattr returned.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
    read?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    let mut bytes = line.into_bytes();
    zeroize(&mut bytes);
    Ok(trimmed)
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
    fn random_bytes_come_from_the_kernel() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        random_fill(&mut a).unwrap();
        random_fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        random_fill(&mut []).unwrap();
    }

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
