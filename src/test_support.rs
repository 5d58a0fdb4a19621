//! What unit tests share: scratch directories made the same way on every
//! machine. The file code refuses directories that others can write to
//! (`safe_fs`), so the umask of the test process is fixed at 022 (a CI
//! runner's 002 would make every directory group-writable) and each scratch
//! directory is 0755 under the system's temporary directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A new, empty directory `acmebot-<name>-<pid>-<n>` (0755).
pub fn scratch_dir(name: &str) -> PathBuf {
    static UMASK: std::sync::Once = std::sync::Once::new();
    static N: AtomicU32 = AtomicU32::new(0);
    // SAFETY: umask(2) cannot fail and touches no memory.
    UMASK.call_once(|| unsafe {
        libc::umask(0o022);
    });
    let d = std::env::temp_dir().join(format!(
        "acmebot-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d
}
