//! Files and directories without races against other local users.
//!
//! Every file this program writes is created with `O_CREAT|O_EXCL|O_NOFOLLOW`
//! (a fresh inode, never one somebody opened before, never through a link)
//! relative to a [`Dir`]: a directory descriptor reached from `/` one
//! component at a time with `O_DIRECTORY|O_NOFOLLOW`. What a path names cannot
//! change under a `Dir` once it is open.
//!
//! On the way down, a directory is *trusted* when it is owned by root or by
//! the user running this program and no one else can write to it (a sticky
//! directory such as `/tmp` counts: others cannot rename or delete what is
//! ours in it). A symbolic link is followed only where it sits in a trusted
//! directory (so root or we put it there; in a sticky directory, only a link
//! owned by root or us); a link another user could have planted stops the walk
//! with an error naming it.
//!
//! [`Trust::Private`] (keys, the archive, the account, the journal) also
//! refuses every directory on the path that is not trusted, naming it; the
//! last one must not be writable by others even when sticky.
//! [`Trust::Shared`] (certificates, challenge files, the pid and log files)
//! lets others own directories on the way, as a web server's user owns its
//! webroot: there nothing secret is written, files are still created fresh
//! under random names and renamed into place, and links are replaced, never
//! followed.
//!
//! Directories this program creates get the mode asked for exactly (whatever
//! the umask) and are checked after opening to be the ones it made.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::platform::{self, Stat};

/// How much a directory path must be trusted; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    Private,
    Shared,
}

impl Trust {
    /// A file of `mode` readable by everybody is public: [`Trust::Shared`];
    /// anything else is [`Trust::Private`].
    pub fn for_mode(mode: u32) -> Trust {
        if mode & 0o004 != 0 {
            Trust::Shared
        } else {
            Trust::Private
        }
    }
}

/// Why a path could not be used.
#[derive(Debug)]
pub enum FsError {
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// A directory or link on the path is not safe to use.
    Unsafe {
        path: PathBuf,
        reason: String,
    },
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Io { path, op, source } => write!(f, "cannot {op} {}: {source}", path.display()),
            FsError::Unsafe { path, reason } => write!(f, "refusing to use {}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for FsError {}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError::Io { path: path.to_path_buf(), op, source }
}

/// The mode of a directory made for files of `file_mode`, as the original
/// makes it: the file's permissions plus search (x) for each class that has
/// any (0640 -> 0750, 0644 -> 0755, 0600 -> 0700).
pub fn dir_mode_for(file_mode: u32) -> u32 {
    let mut m = file_mode & 0o777;
    for class in [0o700, 0o070, 0o007] {
        if m & class != 0 {
            m |= class & 0o111;
        }
    }
    m
}

/// The directory and the file name of `path`.
pub fn split(path: &Path) -> Result<(&Path, &OsStr), FsError> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((if dir.as_os_str().is_empty() { Path::new(".") } else { dir }, name)),
        _ => Err(FsError::Unsafe { path: path.to_path_buf(), reason: "it names no file".into() }),
    }
}

/// An open directory; see the module docs.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Whether `st` (a directory) is owned by root or us.
fn owned_by_us_or_root(st: &Stat) -> bool {
    st.uid == 0 || st.uid == platform::euid()
}

fn writable_by_others(st: &Stat) -> bool {
    st.perm() & 0o022 != 0
}

fn sticky(st: &Stat) -> bool {
    st.perm() & 0o1000 != 0
}

/// Why a directory of the path is not trusted, if it is not.
fn distrust(st: &Stat, last: bool) -> Option<String> {
    if !owned_by_us_or_root(st) {
        return Some(format!(
            "the directory is owned by uid {}, not by root or this user (uid {})",
            st.uid,
            platform::euid()
        ));
    }
    if writable_by_others(st) && (last || !sticky(st)) {
        return Some(format!("the directory is writable by group or others (mode {:04o})", st.perm()));
    }
    None
}

const MAX_LINKS: usize = 40;
const WALK: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;

impl Dir {
    /// Opens the directory `path`; see the module docs for what is refused.
    pub fn open(path: &Path, trust: Trust) -> Result<Dir, FsError> {
        Dir::walk(path, trust, None)
    }

    /// As [`Dir::open`], creating missing directories with exactly `mode`
    /// and, when given, group `group`.
    pub fn create(path: &Path, trust: Trust, mode: u32, group: Option<u32>) -> Result<Dir, FsError> {
        Dir::walk(path, trust, Some((mode, group)))
    }

    fn walk(path: &Path, trust: Trust, create: Option<(u32, Option<u32>)>) -> Result<Dir, FsError> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(io_err(path, "find the working directory for"))?.join(path)
        };
        let mut todo: Vec<OsString> = components(&abs);
        todo.reverse(); // a stack: the next component last
        let root = Path::new("/");
        let mut fd = platform::openat(None, root.as_os_str(), WALK, 0).map_err(io_err(root, "open"))?;
        let mut here = PathBuf::from("/");
        let mut st = platform::fstat(fd.as_fd()).map_err(io_err(root, "inspect"))?;
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                fd = platform::openat(Some(fd.as_fd()), OsStr::new(".."), WALK, 0).map_err(io_err(&here, "open"))?;
                here.pop();
                st = platform::fstat(fd.as_fd()).map_err(io_err(&here, "inspect"))?;
                continue;
            }
            if trust == Trust::Private {
                if let Some(reason) = distrust(&st, false) {
                    return Err(FsError::Unsafe { path: here, reason });
                }
            }
            let next = here.join(&name);
            match platform::openat(Some(fd.as_fd()), &name, WALK, 0) {
                Ok(child) => {
                    fd = child;
                    st = platform::fstat(fd.as_fd()).map_err(io_err(&next, "inspect"))?;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    let target = Dir::link_target(fd.as_fd(), &st, &next, &name, e)?;
                    links += 1;
                    if links > MAX_LINKS {
                        let reason = format!("more than {MAX_LINKS} symbolic links on the way");
                        return Err(FsError::Unsafe { path: next, reason });
                    }
                    let target = Path::new(&target);
                    if target.is_absolute() {
                        fd = platform::openat(None, root.as_os_str(), WALK, 0).map_err(io_err(root, "open"))?;
                        here = PathBuf::from("/");
                        st = platform::fstat(fd.as_fd()).map_err(io_err(root, "inspect"))?;
                    }
                    todo.extend(components(target).into_iter().rev());
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create.is_some() => {
                    // The directory asked for gets its mode and group; those
                    // made on the way to it are 0755, as `mkdir -p` makes them,
                    // so a public sibling (certs beside private) stays reachable.
                    let (mode, group) = match create {
                        Some(asked) if todo.is_empty() => asked,
                        _ => (0o755, None),
                    };
                    fd = Dir::make(fd.as_fd(), &name, &next, mode, group)?;
                    st = platform::fstat(fd.as_fd()).map_err(io_err(&next, "inspect"))?;
                }
                Err(e) => return Err(io_err(&next, "open directory")(e)),
            }
            here = next;
        }
        if trust == Trust::Private {
            if let Some(reason) = distrust(&st, true) {
                return Err(FsError::Unsafe { path: here, reason });
            }
        }
        // The walk used O_PATH descriptors; the directory itself is opened for
        // reading (fsync needs it) when permissions allow.
        let fd = platform::openat(Some(fd.as_fd()), OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .or_else(|e| if e.raw_os_error() == Some(libc::EACCES) { Ok(fd) } else { Err(e) })
            .map_err(io_err(&here, "open directory"))?;
        Ok(Dir { fd, path: here })
    }

    /// The target of the link `name` in the directory `dir_fd` (whose stat is
    /// `dir_st`), if following it is safe; `e` is why it could not be opened
    /// as a directory.
    fn link_target(
        dir_fd: BorrowedFd<'_>,
        dir_st: &Stat,
        path: &Path,
        name: &OsStr,
        e: io::Error,
    ) -> Result<OsString, FsError> {
        let link = platform::lstatat(dir_fd, name).map_err(io_err(path, "inspect"))?;
        let Some(link) = link.filter(Stat::is_symlink) else {
            return Err(io_err(path, "open directory")(e));
        };
        let planted_by_other = !owned_by_us_or_root(dir_st)
            || (writable_by_others(dir_st) && !(sticky(dir_st) && owned_by_us_or_root(&link)));
        if planted_by_other {
            let reason = format!(
                "it is a symbolic link in a directory that other users can write to (owner uid {}, mode {:04o})",
                dir_st.uid,
                dir_st.perm()
            );
            return Err(FsError::Unsafe { path: path.to_path_buf(), reason });
        }
        platform::readlinkat(dir_fd, name).map_err(io_err(path, "read the link"))
    }

    /// Makes the directory `name` in `parent` with exactly `mode`, and opens
    /// it, checking it is the one made.
    fn make(
        parent: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        mode: u32,
        group: Option<u32>,
    ) -> Result<OwnedFd, FsError> {
        match platform::mkdirat(parent, name, mode & 0o7777) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path, "create directory")(e)),
        }
        let fd = platform::openat(Some(parent), name, WALK, 0).map_err(io_err(path, "open directory"))?;
        let st = platform::fstat(fd.as_fd()).map_err(io_err(path, "inspect"))?;
        if st.uid != platform::euid() {
            let reason = format!("it appeared while being created, owned by uid {}", st.uid);
            return Err(FsError::Unsafe { path: path.to_path_buf(), reason });
        }
        // O_PATH descriptors take no fchmod/fchown: reopen for that.
        let rd = platform::openat(Some(parent), name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
            .map_err(io_err(path, "open directory"))?;
        if platform::fstat(rd.as_fd()).map(|s| (s.dev, s.ino)).ok() != Some((st.dev, st.ino)) {
            let reason = "it was replaced while being created".to_string();
            return Err(FsError::Unsafe { path: path.to_path_buf(), reason });
        }
        if let Some(gid) = group.filter(|&g| g != st.gid) {
            platform::fchown(rd.as_fd(), u32::MAX, gid).map_err(io_err(path, "set the group of"))?;
        }
        if st.perm() != mode & 0o7777 {
            // The umask took bits away: give the directory the mode asked for.
            platform::fchmod(rd.as_fd(), mode).map_err(io_err(path, "set the mode of"))?;
        }
        let _ = platform::fsync(parent);
        Ok(fd)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory (for messages and the journal).
    pub fn join(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Makes the new directory `name` here with exactly `mode`; `Ok(false)`
    /// when the name is taken.
    pub fn make_new_dir(&self, name: &OsStr, mode: u32) -> Result<bool, FsError> {
        let path = self.join(name);
        match platform::mkdirat(self.fd.as_fd(), name, mode & 0o7777) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io_err(&path, "create directory")(e)),
        }
        let fd =
            platform::openat(Some(self.fd.as_fd()), name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                .map_err(io_err(&path, "open directory"))?;
        let st = platform::fstat(fd.as_fd()).map_err(io_err(&path, "inspect"))?;
        if st.uid != platform::euid() {
            let reason = format!("it appeared while being created, owned by uid {}", st.uid);
            return Err(FsError::Unsafe { path, reason });
        }
        if st.perm() != mode & 0o7777 {
            platform::fchmod(fd.as_fd(), mode).map_err(io_err(&path, "set the mode of"))?;
        }
        Ok(true)
    }

    /// What `name` is, without following a link.
    pub fn lstat(&self, name: &OsStr) -> io::Result<Option<Stat>> {
        platform::lstatat(self.fd.as_fd(), name)
    }

    /// Opens `name` for reading, following a final link (the files this program
    /// reads are replaced by renaming, never written through a link). `None`
    /// when there is no such file. Only regular files are read.
    pub fn open_read(&self, name: &OsStr) -> io::Result<Option<(File, Stat)>> {
        let fd = match platform::openat(Some(self.fd.as_fd()), name, libc::O_RDONLY | libc::O_NONBLOCK, 0) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = platform::fstat(fd.as_fd())?;
        if !st.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(Some((File::from(fd), st)))
    }

    /// The contents of `name` (see [`Dir::open_read`]).
    pub fn read(&self, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let Some((mut f, st)) = self.open_read(name)? else { return Ok(None) };
        let mut data = Vec::with_capacity(st.size.min(1 << 20) as usize);
        f.read_to_end(&mut data)?;
        Ok(Some(data))
    }

    /// Creates `name`, which must not exist (not even as a link), with exactly
    /// `mode` and, when given, `owner`, before a byte is written.
    pub fn create_new(&self, name: &OsStr, mode: u32, owner: Option<(u32, u32)>) -> io::Result<File> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = platform::openat(Some(self.fd.as_fd()), name, flags, mode & 0o7777)?;
        let st = platform::fstat(fd.as_fd())?;
        if let Some((uid, gid)) = owner.filter(|&(u, g)| (u, g) != (st.uid, st.gid)) {
            platform::fchown(fd.as_fd(), uid, gid)?;
        }
        if st.perm() != mode & 0o7777 {
            // Only bits the umask took away are given back: never more than `mode`.
            platform::fchmod(fd.as_fd(), mode)?;
        }
        Ok(File::from(fd))
    }

    /// Creates a new file `.<stem>.acmebot-<random>` (see [`Dir::create_new`]);
    /// returns its name.
    pub fn create_temp(&self, stem: &OsStr, mode: u32, owner: Option<(u32, u32)>) -> io::Result<(OsString, File)> {
        loop {
            let name = temp_name(stem);
            match self.create_new(&name, mode, owner) {
                Ok(f) => return Ok((name, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts `contents` at `name` through a new temporary file (fsynced) and a
    /// rename: whatever was at `name` (a file, a link) is replaced, never
    /// written through. The caller fsyncs the directory.
    pub fn replace(&self, name: &OsStr, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
        let (temp, mut f) = self.create_temp(name, mode, owner)?;
        let written = f.write_all(contents).and_then(|_| f.sync_all());
        drop(f);
        match written.and_then(|_| self.rename(&temp, self, name)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.remove(&temp);
                Err(e)
            }
        }
    }

    /// `renameat`: `from` here becomes `to` in `to_dir`.
    pub fn rename(&self, from: &OsStr, to_dir: &Dir, to: &OsStr) -> io::Result<()> {
        platform::renameat(self.fd.as_fd(), from, to_dir.fd.as_fd(), to)
    }

    /// A hard link `to` in `to_dir` of `from` here (a link is linked as itself).
    pub fn link(&self, from: &OsStr, to_dir: &Dir, to: &OsStr) -> io::Result<()> {
        platform::linkat(self.fd.as_fd(), from, to_dir.fd.as_fd(), to)
    }

    /// Removes the file `name`; `Ok(false)` when there was none.
    pub fn remove(&self, name: &OsStr) -> io::Result<bool> {
        match platform::unlinkat(self.fd.as_fd(), name) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes the directory's entries durable. A directory this user may not
    /// read (only search) cannot be fsynced: that is not an error.
    pub fn sync(&self) -> io::Result<()> {
        match platform::fsync(self.fd.as_fd()) {
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(()),
            other => other,
        }
    }

    /// Opens `name` for appending (a log), creating it with `mode` and, when
    /// given, `owner` (uid, gid) before a byte is written. Refused when it is a
    /// link, not a regular file, has other names (a hard link to somebody's
    /// file) or belongs to a user other than this one and `owner`'s (the log
    /// file of `log_user`).
    pub fn open_append_as(&self, name: &OsStr, mode: u32, owner: Option<(u32, u32)>) -> io::Result<File> {
        match self.create_new(name, mode, owner) {
            Ok(f) => {
                // create_new opened it write-only: reopen for appending.
                drop(f);
                let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_NOFOLLOW;
                self.open_checked(name, flags, mode, owner.map(|(u, _)| u))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_NOFOLLOW;
                self.open_checked(name, flags, mode, owner.map(|(u, _)| u))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens `name` for reading and writing without truncating it (a lock
    /// file), creating it with `mode`; refused as [`Dir::open_append_as`].
    pub fn open_own_rw(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        self.open_own(name, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, mode)
    }

    /// Opens `name` with `flags` (which must hold `O_NOFOLLOW`), creating it
    /// with `mode` when they hold `O_CREAT`; refused unless it is a regular
    /// file of this user with no other name.
    pub fn open_own(&self, name: &OsStr, flags: i32, mode: u32) -> io::Result<File> {
        self.open_checked(name, flags, mode, None)
    }

    /// [`Dir::open_own`], also accepting a file of `also_uid`.
    fn open_checked(&self, name: &OsStr, flags: i32, mode: u32, also_uid: Option<u32>) -> io::Result<File> {
        let fd =
            platform::openat(Some(self.fd.as_fd()), name, flags | libc::O_NONBLOCK, mode & 0o7777).map_err(|e| {
                // A link (ELOOP with O_NOFOLLOW; EACCES where the kernel protects
                // links in sticky directories) is said as what it is.
                match self.lstat(name) {
                    Ok(Some(st)) if st.is_symlink() => io::Error::other("it is a symbolic link"),
                    _ => e,
                }
            })?;
        let st = platform::fstat(fd.as_fd())?;
        if !st.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        if st.uid != platform::euid() && Some(st.uid) != also_uid {
            return Err(io::Error::other(format!("it belongs to uid {}, not to this user", st.uid)));
        }
        if st.nlink > 1 {
            return Err(io::Error::other(format!("it has {} names (hard links)", st.nlink)));
        }
        Ok(File::from(fd))
    }
}

/// `.<stem>.acmebot-<12 random hex digits>`.
pub fn temp_name(stem: &OsStr) -> OsString {
    let mut b = [0u8; 6];
    if platform::random_fill(&mut b).is_err() {
        // Not expected; O_EXCL still makes a taken name fail, never reuse it.
        b = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos().to_le_bytes())
            .unwrap_or_default()[..6]
            .try_into()
            .unwrap_or_default();
    }
    let mut name = OsString::from(".");
    // A long stem is cut so the name stays under NAME_MAX.
    let stem = stem.as_bytes();
    name.push(OsStr::from_bytes(&stem[..stem.len().min(200)]));
    name.push(format!(".acmebot-{}", crate::types::hex(&b)));
    name
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
