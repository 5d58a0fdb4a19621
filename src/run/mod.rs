//! One run of acmebot: validate, then act. This is the outer layer: it reads
//! the clock once, opens the journal, inspects the files on disk against the
//! replayed state, and drives the ACME client and the file transactions.

mod account;
mod ari;
mod authz;
mod dns01;
mod hpkp;
mod inspect;
mod install;
mod issue;
mod revoke;
#[allow(dead_code)] // until main_job calls tlsa_mode / sync_tlsa
mod tlsa;

use account::*;
use ari::*;
use authz::*;
use dns01::*;
use inspect::*;
use install::*;
use issue::*;
use revoke::*;
use tlsa::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::acme::client::SystemClock;
use crate::acme::{AcmeClient, AcmeError, Status};
use crate::cli::{Args, ErrorCode, WarningCode};
use crate::config::{CertificateSpec, Config, Dir, FileKind, Hook, Passphrase, PrivateKeySpec};
use crate::crypto::{self, CertInfo, PrivateKey};
use crate::events::Event;
use crate::hooks;
use crate::http::{self, Transport, UreqTransport};
use crate::journal::{self, Journal, Record};
use crate::renew::{self, Reason};
use crate::rollover;
use crate::state::State;
use crate::time::{rfc3339, Timestamp};
use crate::txn::{self, Action, FileOp, Plan};
use crate::types::{sha256_hex, KeyRole, KeyType};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A failure that ends the work on one item (or the run), with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<AcmeError> for Failure {
    fn from(e: AcmeError) -> Self {
        Failure::new(ErrorCode::Acme, e.to_string())
    }
}

impl From<journal::JournalError> for Failure {
    fn from(e: journal::JournalError) -> Self {
        Failure::new(ErrorCode::Journal, e.to_string())
    }
}

impl From<txn::TxnError> for Failure {
    fn from(e: txn::TxnError) -> Self {
        Failure::new(ErrorCode::Permission, e.to_string())
    }
}

type R<T> = Result<T, Failure>;

/// What a run ends with: the worst error and the worst warning seen.
#[derive(Default, Debug)]
pub struct Outcome {
    pub error: Option<ErrorCode>,
    pub warning: Option<WarningCode>,
    pub changed: bool,
}

impl Outcome {
    pub fn error(&mut self, f: Failure) {
        tracing::error!("{}", f.message);
        if self.error.is_none() {
            self.error = Some(f.code);
        }
    }

    pub fn warn(&mut self, code: WarningCode, message: impl std::fmt::Display) {
        tracing::warn!("{message}");
        if self.warning.is_none() {
            self.warning = Some(code);
        }
    }

    pub fn exit_code(&self, warning_exit_code: bool) -> i32 {
        if let Some(e) = self.error {
            return e as i32;
        }
        match self.warning {
            Some(w) if warning_exit_code => w as i32,
            _ => 0,
        }
    }
}

/// The state of a run that writes: journal open and locked, state replayed.
pub struct Ctx<'c> {
    pub config: &'c Config,
    pub args: &'c Args,
    pub raw_args: Vec<String>,
    pub now: Timestamp,
    pub journal: Journal,
    pub records: Vec<Record>,
    pub state: State,
    pub outcome: Outcome,
    run_started: bool,
    services: BTreeSet<String>,
    _lock: journal::LockGuard,
}

impl<'c> Ctx<'c> {
    pub fn open(config: &'c Config, args: &'c Args, raw_args: Vec<String>, now: Timestamp) -> R<Ctx<'c>> {
        let pid_dir = config
            .dir(Dir::Pid, &[])
            .map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?
            .ok_or_else(|| Failure::new(ErrorCode::Config, "directories.pid is null, but a lock file is needed"))?;
        let lock = journal::lock(&pid_dir)?;
        let path = config.journal_path().to_path_buf();
        let (journal, opened) = Journal::open(&path, now)?;
        let mut ctx = Ctx {
            config,
            args,
            raw_args,
            now,
            journal,
            records: opened.records,
            state: State::default(),
            outcome: Outcome::default(),
            run_started: false,
            services: BTreeSet::new(),
            _lock: lock,
        };
        if let Some(saved) = opened.torn_saved_to {
            let bytes = std::fs::metadata(&saved).map(|m| m.len()).unwrap_or(0);
            ctx.outcome.warn(
                WarningCode::General,
                format!(
                    "journal {} ended in a torn line (a crash while appending); its {bytes} bytes were kept in {}",
                    path.display(),
                    saved.display()
                ),
            );
            ctx.record(Event::JournalRepaired { torn_saved_to: saved.display().to_string(), bytes })?;
        }
        let recovered = txn::recover_interrupted(&mut ctx.journal, &ctx.records, now)?;
        if !recovered.is_empty() {
            for r in &recovered {
                ctx.outcome.warn(WarningCode::General, format!("interrupted file transaction: {r}"));
            }
            ctx.reload()?;
        }
        ctx.state = State::replay(&ctx.records);
        Ok(ctx)
    }

    /// Re-reads the journal's records after another component (a file
    /// transaction) appended to it; callers replay the state where they need it.
    fn reload(&mut self) -> R<()> {
        self.records = journal::read(self.journal.path())?.records;
        Ok(())
    }

    /// Appends an event; the first one of a run is preceded by `run_started`,
    /// so a run that changes nothing writes nothing.
    pub fn record(&mut self, event: Event) -> R<()> {
        if !self.run_started {
            self.run_started = true;
            let start = Event::RunStarted {
                version: VERSION.into(),
                pid: std::process::id(),
                args: Args::journal_form(&self.raw_args),
                config: self.config.path.display().to_string(),
            };
            self.append(start)?;
        }
        self.append(event)
    }

    fn append(&mut self, event: Event) -> R<()> {
        let value = event.to_value();
        let prev = self.journal.last_hash().to_string();
        // Decisions use the run's clock (`self.now`); the journal records when
        // each thing actually happened.
        let ts = crate::time::now();
        let seq = self.journal.append(ts, &value)?;
        // Keep the in-memory view in step without re-reading the file.
        let line_no = self.records.last().map(|r| r.line_no + 1).unwrap_or(1);
        self.records.push(Record {
            v: journal::VERSION,
            seq,
            ts,
            event: value,
            line_hash: self.journal.last_hash().to_string(),
            prev,
            line_no,
        });
        Ok(())
    }

    pub fn finish(&mut self) -> i32 {
        let warning_exit =
            (self.config.settings.warning_exit_code || self.args.warning_exit_code) && !self.args.no_warning_exit_code;
        let code = self.outcome.exit_code(warning_exit);
        if self.run_started {
            let changed = self.outcome.changed;
            if let Err(e) = self.append(Event::RunFinished { exit_code: code, changed }) {
                tracing::error!("{}", e.message);
            }
        }
        code
    }
}

/// One private key's file, as found on disk.
struct Found {
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
}

fn read_optional(path: &Path) -> R<Option<Found>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Found { path: path.to_path_buf(), sha256: sha256_hex(&bytes), bytes })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::new(ErrorCode::Permission, format!("cannot read {}: {e}", path.display()))),
    }
}

/// A key of one type and role: loaded, adopted, or to be generated.
struct KeySlot {
    path: PathBuf,
    spki_sha256: String,
    /// Parsed lazily: only a run that issues or writes needs the key itself.
    key: Option<PrivateKey>,
    /// The file has to be written (a generated key, or a promoted backup).
    is_new: bool,
    /// A primary key that is the former backup key (rollover), with the SPKI
    /// digest of the primary it replaces, if that is known.
    promoted: Option<Option<String>>,
    /// On a rollover of a primary key that was installed: its PEM, written to
    /// `directories.previous_key` (when set) in the same transaction.
    previous_pem: Option<Vec<u8>>,
}

/// What one certificate of one key type needs.
struct CertWork {
    cert: CertificateSpec,
    key_type: KeyType,
    reason: Reason,
    /// ARI certificate identifier of the certificate this one replaces.
    replaces: Option<String>,
}

struct Issued {
    cert: CertificateSpec,
    key_type: KeyType,
    leaf: CertInfo,
    chain: Vec<Vec<u8>>,
    order_url: String,
}

/// Entry point for the main job (no journal-only flag given).
pub fn main_job(ctx: &mut Ctx<'_>) {
    let ops = ctx.args.operations();
    let unimplemented: Vec<&str> = [(ctx.args.sct, "--sct"), (ctx.args.ocsp, "--ocsp"), (ctx.args.verify, "--verify")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
    if !unimplemented.is_empty() {
        ctx.outcome
            .error(Failure::new(ErrorCode::General, format!("{} not implemented yet", unimplemented.join(", "))));
        return;
    }
    let selected = match select_keys(ctx.config, &ctx.args.private_key_names) {
        Ok(s) => s,
        Err(f) => return ctx.outcome.error(f),
    };
    if ctx.args.register {
        if let Err(f) = with_acme(ctx, true, |_, _| Ok(())) {
            ctx.outcome.error(f);
        }
        return;
    }
    if ctx.args.revoke {
        return revoke(ctx, &selected);
    }
    if ctx.args.account_key_rollover {
        if let Err(f) = account_key_rollover(ctx) {
            ctx.outcome.error(f);
        }
        return;
    }
    let follower = ctx.config.settings.follower_mode;
    if ctx.args.tlsa && !ops.certs && !ops.auth {
        return tlsa_mode(ctx);
    }
    // Names to authorize on their own: the `authorizations` section (when its
    // journaled authorizations run out), and with --auth every configured name.
    let auth_names = if ops.auth && !follower { authorization_names(ctx, &selected) } else { Vec::new() };
    if !ops.certs && auth_names.is_empty() {
        if ctx.args.auth && follower {
            ctx.outcome
                .warn(WarningCode::Auth, "--auth does nothing in follower mode: the master obtains authorizations");
        }
        return;
    }
    // Inspect every selected key: adopt what is on disk, decide what to issue.
    let mut plans = Vec::new();
    for &spec in selected.iter().filter(|_| ops.certs) {
        match inspect_key(ctx, spec) {
            Ok(p) => plans.push(p),
            Err(f) => ctx.outcome.error(f.with_context(&spec.name)),
        }
    }
    // Certificates whose ARI window is due to be asked for (journaled windows
    // with a Retry-After still ahead are not asked again).
    let due = ari_due(ctx, &plans, false);
    let needs_install = |plans: &[KeyPlan<'_>]| {
        plans.iter().any(|p| !p.work.is_empty() || p.slots.values().any(|s| s.is_new) || p.hpkp_stale)
    };
    let only_ari = plans.iter().all(|p| p.work.is_empty()) && auth_names.is_empty() && !due.is_empty();
    let needs_acme = plans.iter().any(|p| !p.work.is_empty()) || !auth_names.is_empty() || !due.is_empty();
    if !needs_acme && !needs_install(&plans) {
        return;
    }
    // Validate what installing needs before asking the CA for anything.
    let ready_to_install = |ctx: &Ctx<'_>| -> R<()> {
        ctx.config.file_owner().map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?;
        archive_root(ctx.config).map(|_| ())
    };
    if needs_install(&plans) {
        if let Err(f) = ready_to_install(ctx) {
            return ctx.outcome.error(f);
        }
    }
    let mut installed_keys: Vec<String> = Vec::new();
    let result = if needs_acme {
        with_acme(ctx, false, |ctx, client| {
            authorize_only(ctx, client, &auth_names);
            check_ari(ctx, client, &mut plans, &due);
            if needs_install(&plans) {
                ready_to_install(ctx)?;
                let issued = issue_all(ctx, client, &mut plans)?;
                installed_keys = install_all(ctx, &plans, issued);
                // Ask for the new certificates' renewal windows now, while connected,
                // so the next run has nothing to ask.
                let fresh = ari_due(ctx, &plans, true);
                check_ari(ctx, client, &mut plans, &fresh);
            }
            Ok(())
        })
    } else {
        generate_keys(&mut plans).map(|_| installed_keys = install_all(ctx, &plans, BTreeMap::new()))
    };
    if let Err(f) = result {
        // Asking for renewal windows is a courtesy: an unreachable CA then is a
        // warning, and the certificates are still renewed by the fallback rule.
        if only_ari {
            return ctx.outcome.warn(WarningCode::General, format!("renewal information not checked: {}", f.message));
        }
        return ctx.outcome.error(f);
    }
    if !installed_keys.is_empty() {
        sync_tlsa(ctx, &installed_keys);
    }
    reload_services(ctx);
}

impl Failure {
    fn with_context(mut self, key: &str) -> Failure {
        if !self.message.contains(key) {
            self.message = format!("private key {key}: {}", self.message);
        }
        self
    }
}

/// Installs every key's transaction; a key whose certificates were not all
/// issued installs nothing (so keys and certificates stay consistent).
/// Returns the names of the keys that changed.
fn install_all(ctx: &mut Ctx<'_>, plans: &[KeyPlan<'_>], mut issued: BTreeMap<String, Vec<Issued>>) -> Vec<String> {
    let mut changed = Vec::new();
    for plan in plans {
        let got = issued.remove(&plan.spec.name).unwrap_or_default();
        if got.len() < plan.work.len() && !got.is_empty() {
            ctx.outcome.error(Failure::new(
                ErrorCode::Acme,
                format!(
                    "private key {}: not all certificates were issued; nothing of it was installed",
                    plan.spec.name
                ),
            ));
            continue;
        }
        if got.is_empty() && !plan.work.is_empty() {
            continue; // errors already reported
        }
        if plan.work.is_empty() && !plan.slots.values().any(|s| s.is_new) && !plan.hpkp_stale {
            continue;
        }
        match install(ctx, plan, got) {
            Ok(()) => changed.push(plan.spec.name.clone()),
            Err(f) => ctx.outcome.error(f.with_context(&plan.spec.name)),
        }
    }
    changed
}

fn select_keys<'c>(config: &'c Config, names: &[String]) -> R<Vec<&'c PrivateKeySpec>> {
    if names.is_empty() {
        return Ok(config.private_keys.iter().collect());
    }
    let mut out = Vec::new();
    for n in names {
        match config.private_keys.iter().find(|k| &k.name == n) {
            Some(k) => out.push(k),
            None => {
                let known: Vec<&str> = config.private_keys.iter().map(|k| k.name.as_str()).collect();
                return Err(Failure::new(
                    ErrorCode::Config,
                    format!("no private key or certificate named {n:?} is configured (known: {})", known.join(", ")),
                ));
            }
        }
    }
    Ok(out)
}

fn archive_root(config: &Config) -> R<PathBuf> {
    config.dir(Dir::Archive, &[]).map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?.ok_or_else(|| {
        Failure::new(ErrorCode::Config, "directories.archive is null, but replaced files must be archived")
    })
}

fn commit(ctx: &mut Ctx<'_>, plan: &Plan) -> R<txn::Committed> {
    let faults = txn::env_faults_exit();
    let committed = txn::commit_with_faults(&mut ctx.journal, plan, ctx.now, &faults)?;
    ctx.reload()?;
    Ok(committed)
}

/// Runs a configured hook (if any) with its fields. A failing hook is an error
/// (exit code 7) but does not stop the run, as in the original.
pub fn run_hook(ctx: &mut Ctx<'_>, hook: &str, fields: &[(&str, &str)], env: &[(&str, &str)]) {
    let Some(pattern) = Hook::parse(hook).and_then(|h| ctx.config.hook(h)).map(str::to_string) else { return };
    let argv = match hooks::prepare(&pattern, fields) {
        Ok(a) => a,
        Err(e) => return ctx.outcome.error(Failure::new(ErrorCode::Hook, format!("hook {hook}: {e}"))),
    };
    tracing::debug!("Calling hook {hook}: {}", argv.join(" "));
    match hooks::run(&argv, env) {
        Ok(ran) => {
            if !ran.output.trim().is_empty() {
                tracing::info!("{}", ran.output.trim_end());
            }
            let _ =
                ctx.record(Event::HookRun { hook: hook.into(), program: argv[0].clone(), exit_code: ran.exit_code });
            if ran.exit_code != Some(0) {
                ctx.outcome.error(Failure::new(
                    ErrorCode::Hook,
                    format!("hook {hook} returned error, code: {:?}", ran.exit_code),
                ));
            }
        }
        Err(e) => ctx.outcome.error(Failure::new(ErrorCode::Hook, format!("failed to call hook {hook}: {e}"))),
    }
}

/// Each service used by a changed certificate is reloaded once per run.
fn reload_services(ctx: &mut Ctx<'_>) {
    let services = std::mem::take(&mut ctx.services);
    for service in services {
        let Some(command) = ctx.config.services.get(&service).cloned() else { continue };
        let argv = match hooks::prepare(&command, &[]) {
            Ok(a) => a,
            Err(e) => {
                ctx.outcome.warn(WarningCode::Service, format!("service {service}: {e}"));
                continue;
            }
        };
        tracing::info!("Reloading service {service}");
        match hooks::run(&argv, &[]) {
            Ok(ran) => {
                let _ = ctx.record(Event::ServiceReloaded {
                    service: service.clone(),
                    program: argv[0].clone(),
                    exit_code: ran.exit_code,
                });
                if ran.exit_code != Some(0) {
                    ctx.outcome.warn(
                        WarningCode::Service,
                        format!(
                            "service {service} responded to reload with code {:?}:\n{}",
                            ran.exit_code,
                            ran.output.trim_end()
                        ),
                    );
                }
            }
            Err(e) => ctx.outcome.warn(WarningCode::Service, format!("service {service}: {e}")),
        }
    }
}

/// `--export-client`: what a follower needs, in the current directory, mode
/// 0600, never overwriting: `acmebot_client_key.pem` (the original's export),
/// and `acmebot_client_key.json` / `acmebot_registration.json` to copy into
/// the follower's resource directory as `client_key.json` / `registration.json`.
pub fn export_client(config: &Config) -> R<Vec<PathBuf>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let resource = config.resource_dir();
    let read = |name: &str| -> R<Vec<u8>> {
        let p = resource.join(name);
        std::fs::read(&p).map_err(|e| {
            Failure::new(
                ErrorCode::Key,
                format!("cannot read {}: {e} (run acmebot once to register first)", p.display()),
            )
        })
    };
    let key_json = read("client_key.json")?;
    let registration = read("registration.json")?;
    let key = crypto::account_key_from_json(&key_json).map_err(|e| {
        Failure::new(ErrorCode::Key, format!("client key {}: {e}", resource.join("client_key.json").display()))
    })?;
    let outputs = [
        (PathBuf::from("acmebot_client_key.pem"), key.to_pkcs8_pem().into_bytes()),
        (PathBuf::from("acmebot_client_key.json"), key_json),
        (PathBuf::from("acmebot_registration.json"), registration),
    ];
    let mut written = Vec::new();
    for (out, bytes) in outputs {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&out)
            .map_err(|e| Failure::new(ErrorCode::Permission, format!("cannot create {}: {e}", out.display())))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Failure::new(ErrorCode::Permission, format!("cannot write {}: {e}", out.display())))?;
        written.push(out);
    }
    Ok(written)
}
