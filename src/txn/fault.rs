//! Fault check points of the commit protocol, and fault injection for the
//! crash tests (`ACMEBOT_FAULT=<step>[:<n>]`, compiled in only with the
//! `fault-injection` feature).

use std::fmt;

/// Fault check points, in protocol order. Names are used by `ACMEBOT_FAULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// After `txn_begun` was journaled.
    Begun,
    /// After a temp file was created (mode and owner set, still empty).
    TempCreated,
    /// After a temp file was written and fsynced.
    TempWritten,
    /// After an old file was linked (or copied) into the archive.
    Archived,
    /// After a `file_archived` event was journaled.
    ArchiveJournaled,
    /// After a temp was renamed over its target, or a removed target unlinked.
    Replaced,
    /// After all touched directories were fsynced.
    DirsSynced,
    /// After an installed copy was written.
    InstalledCopy,
    /// After a `file_installed` / `file_removed` event was journaled.
    InstalledJournaled,
    /// After `txn_committed` was journaled.
    Committed,
}

impl Step {
    #[cfg(any(test, feature = "fault-injection"))]
    pub const ALL: [Step; 10] = [
        Step::Begun,
        Step::TempCreated,
        Step::TempWritten,
        Step::Archived,
        Step::ArchiveJournaled,
        Step::Replaced,
        Step::DirsSynced,
        Step::InstalledCopy,
        Step::InstalledJournaled,
        Step::Committed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Begun => "begun",
            Step::TempCreated => "temp_created",
            Step::TempWritten => "temp_written",
            Step::Archived => "archived",
            Step::ArchiveJournaled => "archive_journaled",
            Step::Replaced => "replaced",
            Step::DirsSynced => "dirs_synced",
            Step::InstalledCopy => "installed_copy",
            Step::InstalledJournaled => "installed_journaled",
            Step::Committed => "committed",
        }
    }

    #[cfg(any(test, feature = "fault-injection"))]
    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A simulated crash at the `count`-th time `step` was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub step: Step,
    pub count: u32,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected fault at {}:{}", self.step, self.count)
    }
}

/// A fault closure that never fires.
#[cfg(test)]
pub fn no_faults(_: Step) -> Result<(), Fault> {
    Ok(())
}

/// Parses `ACMEBOT_FAULT=<step>[:<n>]`.
#[cfg(any(test, feature = "fault-injection"))]
pub fn parse_fault_spec(s: &str) -> Option<Fault> {
    let (name, n) = match s.split_once(':') {
        Some((a, b)) => (a, b.parse().ok()?),
        None => (s, 1),
    };
    Some(Fault { step: Step::parse(name)?, count: n })
}

/// A fault closure firing at the n-th time `fault.step` is reached.
#[cfg(test)]
pub fn fault_at(fault: Fault) -> impl Fn(Step) -> Result<(), Fault> {
    let seen = std::cell::Cell::new(0u32);
    move |step| {
        if step == fault.step {
            seen.set(seen.get() + 1);
            if seen.get() == fault.count {
                return Err(fault);
            }
        }
        Ok(())
    }
}

/// The fault `ACMEBOT_FAULT` asks for, read once per process.
#[cfg(feature = "fault-injection")]
fn process_fault() -> Option<Fault> {
    static SPEC: std::sync::OnceLock<Option<Fault>> = std::sync::OnceLock::new();
    *SPEC.get_or_init(|| {
        let spec = std::env::var("ACMEBOT_FAULT").ok().filter(|s| !s.is_empty())?;
        let steps = Step::ALL.map(Step::name).join(", ");
        Some(
            parse_fault_spec(&spec)
                .unwrap_or_else(|| panic!("ACMEBOT_FAULT={spec:?}: expected <step>[:<n>], steps: {steps}")),
        )
    })
}

#[cfg(not(feature = "fault-injection"))]
fn process_fault() -> Option<Fault> {
    None
}

/// For the binary: a firing fault ends the process at once (`_exit(86)`, no
/// destructors, no buffered output), as a real crash would. The count runs
/// over the whole process, so `<step>:<n>` reaches every occurrence of a step
/// in a run, whichever transaction it is in.
pub fn env_faults_exit() -> impl Fn(Step) -> Result<(), Fault> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEEN: AtomicU32 = AtomicU32::new(0);
    |step| {
        if let Some(fault) = process_fault() {
            if step == fault.step && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == fault.count {
                crate::platform::exit_immediately(86, &format!("acmebot: {fault}: exiting\n"));
            }
        }
        Ok(())
    }
}
