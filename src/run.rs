//! One run of acmebot: validate, then act. This is the outer layer: it reads
//! the clock once, opens the journal, inspects the files on disk against the
//! replayed state, and drives the ACME client and the file transactions.

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
                format!("journal {} ended in a torn line (a crash while appending); its {bytes} bytes were kept in {}", path.display(), saved.display()),
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

    /// Re-reads the journal after another component appended to it.
    fn reload(&mut self) -> R<()> {
        let outcome = journal::read(self.journal.path())?;
        self.records = outcome.records;
        self.state = State::replay(&self.records);
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
        self.records.push(Record { v: journal::VERSION, seq, ts, event: value, line_hash: self.journal.last_hash().to_string(), prev, line_no });
        Ok(())
    }

    pub fn finish(&mut self) -> i32 {
        let warning_exit = (self.config.settings.warning_exit_code || self.args.warning_exit_code) && !self.args.no_warning_exit_code;
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
    is_new: bool,
}

/// What one certificate of one key type needs.
struct CertWork {
    cert: CertificateSpec,
    key_type: KeyType,
    reason: Reason,
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
    let unimplemented: Vec<&str> = [
        (ctx.args.rollover, "--rollover"),
        (ctx.args.force, "--force"),
        (ctx.args.revoke, "--revoke"),
        (ctx.args.auth, "--auth"),
        (ctx.args.tlsa, "--tlsa"),
        (ctx.args.sct, "--sct"),
        (ctx.args.ocsp, "--ocsp"),
        (ctx.args.verify, "--verify"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !unimplemented.is_empty() {
        ctx.outcome.error(Failure::new(ErrorCode::General, format!("{} not implemented yet", unimplemented.join(", "))));
        return;
    }
    if ctx.config.settings.follower_mode {
        ctx.outcome.error(Failure::new(ErrorCode::General, "settings.follower_mode: follower mode is not implemented yet"));
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
    if !ops.certs {
        return;
    }
    // Inspect every selected key: adopt what is on disk, decide what to issue.
    let mut plans = Vec::new();
    for spec in selected {
        match inspect_key(ctx, spec) {
            Ok(p) => plans.push(p),
            Err(f) => ctx.outcome.error(f.with_context(&spec.name)),
        }
    }
    let needs_acme = plans.iter().any(|p| !p.work.is_empty());
    let needs_install = plans.iter().any(|p| !p.work.is_empty() || p.slots.values().any(|s| s.is_new));
    if !needs_install {
        return;
    }
    // Generate the keys that are missing, in parallel (RSA 4096 takes a while).
    if let Err(f) = generate_keys(ctx, &mut plans) {
        return ctx.outcome.error(f);
    }
    let mut issued: BTreeMap<String, Vec<Issued>> = BTreeMap::new();
    if needs_acme {
        let result = with_acme(ctx, false, |ctx, client| {
            issued = issue_all(ctx, client, &plans);
            Ok(())
        });
        if let Err(f) = result {
            return ctx.outcome.error(f);
        }
    }
    for plan in &plans {
        let got = issued.remove(&plan.spec.name).unwrap_or_default();
        if got.len() < plan.work.len() && !got.is_empty() {
            // Some certificates of this key failed: install nothing of this key, so
            // keys and certificates stay consistent (errors were reported).
            ctx.outcome.error(Failure::new(
                ErrorCode::Acme,
                format!("private key {}: not all certificates were issued; nothing of it was installed", plan.spec.name),
            ));
            continue;
        }
        if got.is_empty() && !plan.work.is_empty() {
            continue; // errors already reported
        }
        if let Err(f) = install(ctx, plan, got) {
            ctx.outcome.error(f.with_context(&plan.spec.name));
        }
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
                return Err(Failure::new(ErrorCode::Config, format!("no private key or certificate named {n:?} is configured (known: {})", known.join(", "))));
            }
        }
    }
    Ok(out)
}

struct KeyPlan<'c> {
    spec: &'c PrivateKeySpec,
    slots: BTreeMap<(KeyType, KeyRole), KeySlot>,
    work: Vec<CertWork>,
}

fn inspect_key<'c>(ctx: &mut Ctx<'_>, spec: &'c PrivateKeySpec) -> R<KeyPlan<'c>> {
    let cfg = ctx.config;
    let mut slots = BTreeMap::new();
    let key_types: Vec<KeyType> = spec.key_types.clone();
    for &kt in &key_types {
        for role in [KeyRole::Primary, KeyRole::Backup] {
            let kind = if role == KeyRole::Primary { FileKind::PrivateKey } else { FileKind::BackupKey };
            let Some(path) = cfg.file_path(kind, &spec.name, Some(kt)).map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))? else {
                continue;
            };
            let slot = match read_optional(&path)? {
                Some(found) => known_or_adopted_key(ctx, spec, kt, role, found)?,
                None => KeySlot { path, spki_sha256: String::new(), key: None, is_new: true },
            };
            slots.insert((kt, role), slot);
        }
    }
    if slots.values().any(|s| s.is_new) && !matches!(spec.key_passphrase, Passphrase::None) {
        return Err(Failure::new(ErrorCode::Key, "key_passphrase is set, but writing encrypted private keys is not implemented yet"));
    }
    let mut work = Vec::new();
    for cert in &spec.certificates {
        for &kt in &cert.key_types {
            let Some(primary) = slots.get(&(kt, KeyRole::Primary)) else { continue };
            let reason = if primary.is_new {
                Some(Reason::Missing)
            } else {
                cert_reason(ctx, spec, cert, kt, &primary.spki_sha256)?
            };
            if let Some(reason) = reason {
                work.push(CertWork { cert: cert.clone(), key_type: kt, reason });
            }
        }
    }
    Ok(KeyPlan { spec, slots, work })
}

fn known_or_adopted_key(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec, kt: KeyType, role: KeyRole, found: Found) -> R<KeySlot> {
    let known = ctx.state.key(&spec.name, kt, role).cloned();
    let file_known = ctx.state.file(&found.path).map(|f| f.sha256 == found.sha256).unwrap_or(false);
    if let (Some(k), true) = (&known, file_known) {
        return Ok(KeySlot { path: found.path, spki_sha256: k.spki_sha256.clone(), key: None, is_new: false });
    }
    let key = PrivateKey::from_pem(&found.bytes)
        .map_err(|e| Failure::new(ErrorCode::Key, format!("{} key file {}: {e}", role.as_str(), found.path.display())))?;
    if key.key_type() != kt {
        return Err(Failure::new(ErrorCode::Key, format!("{} holds a {} key where a {kt} key belongs", found.path.display(), key.key_type())));
    }
    let spki = key.spki_sha256_hex();
    if known.as_ref().map(|k| k.spki_sha256 != spki).unwrap_or(true) || !file_known {
        if known.as_ref().map(|k| k.spki_sha256 == spki).unwrap_or(false) {
            // Same key, file rewritten (e.g. re-encoded): nothing to record.
        } else {
            tracing::info!("Adopted existing {} {} key {} ({})", kt.as_str().to_uppercase(), role.as_str(), spec.name, found.path.display());
            ctx.record(Event::KeyAdopted {
                key: spec.name.clone(),
                key_type: kt,
                role,
                spki_sha256: spki.clone(),
                path: found.path.display().to_string(),
                sha256: found.sha256.clone(),
            })?;
        }
    }
    Ok(KeySlot { path: found.path, spki_sha256: spki, key: Some(key), is_new: false })
}

fn cert_reason(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec, cert: &CertificateSpec, kt: KeyType, key_spki: &str) -> R<Option<Reason>> {
    let names = cert.all_names();
    let Some(path) = ctx.config.file_path(FileKind::Certificate, &cert.name, Some(kt)).map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))? else {
        return Ok(None);
    };
    let Some(found) = read_optional(&path)? else {
        return Ok(renew::reason(None, &cert.common_name, &names, key_spki, ctx.config.settings.renewal_days, ctx.args.renew, ctx.now));
    };
    let known = ctx.state.certificate(&cert.name, kt).cloned();
    let file_known = ctx.state.file(&path).map(|f| f.sha256 == found.sha256).unwrap_or(false);
    let view = match (&known, file_known) {
        (Some(c), true) => c.clone(),
        _ => {
            let ders = crypto::pem_to_ders(&found.bytes).map_err(|e| Failure::new(ErrorCode::Key, format!("certificate {}: {e}", path.display())))?;
            let Some(leaf) = ders.first() else {
                return Ok(Some(Reason::Missing));
            };
            let info = crypto::parse_cert(leaf).map_err(|e| Failure::new(ErrorCode::Key, format!("certificate {}: {e}", path.display())))?;
            let spki = sha256_hex(&info.spki_der);
            if known.as_ref().map(|k| k.serial != info.serial_hex).unwrap_or(true) {
                tracing::info!("Adopted existing {} certificate {} ({})", kt.as_str().to_uppercase(), cert.name, path.display());
            }
            ctx.record(Event::CertificateAdopted {
                cert: cert.name.clone(),
                key: spec.name.clone(),
                key_type: kt,
                serial: info.serial_hex.clone(),
                common_name: info.subject_cn.clone(),
                not_before: rfc3339(info.not_before),
                not_after: rfc3339(info.not_after),
                sans: info.sans.clone(),
                issuer: info.issuer.clone(),
                spki_sha256: spki,
                path: path.display().to_string(),
                sha256: found.sha256.clone(),
            })?;
            ctx.state = State::replay(&ctx.records);
            ctx.state.certificate(&cert.name, kt).cloned().expect("adopted certificate is in the state")
        }
    };
    let installed = renew::Installed {
        common_name: view.common_name.as_deref(),
        sans: &view.sans,
        spki_sha256: &view.spki_sha256,
        not_before: crate::time::parse_rfc3339(&view.not_before).unwrap_or(0),
        not_after: crate::time::parse_rfc3339(&view.not_after).unwrap_or(0),
    };
    Ok(renew::reason(Some(&installed), &cert.common_name, &names, key_spki, ctx.config.settings.renewal_days, ctx.args.renew, ctx.now))
}

fn generate_keys(ctx: &mut Ctx<'_>, plans: &mut [KeyPlan<'_>]) -> R<()> {
    // Parse the existing keys that will be used, and generate the missing ones.
    let mut todo: Vec<(usize, (KeyType, KeyRole), u32, crate::types::Curve)> = Vec::new();
    for (i, plan) in plans.iter_mut().enumerate() {
        let needs_keys = !plan.work.is_empty() || plan.slots.values().any(|s| s.is_new);
        if !needs_keys {
            continue;
        }
        for (&(kt, role), slot) in plan.slots.iter_mut() {
            if slot.is_new {
                let bits = plan.spec.rsa_key_size.unwrap_or(4096);
                let curve = plan.spec.ecdsa_curve.unwrap_or(crate::types::Curve::P384);
                todo.push((i, (kt, role), bits, curve));
            } else if slot.key.is_none() && (role == KeyRole::Primary) {
                let bytes = std::fs::read(&slot.path).map_err(|e| Failure::new(ErrorCode::Key, format!("cannot read {}: {e}", slot.path.display())))?;
                slot.key = Some(PrivateKey::from_pem(&bytes).map_err(|e| Failure::new(ErrorCode::Key, format!("{}: {e}", slot.path.display())))?);
            }
        }
    }
    let generated: Vec<Result<PrivateKey, crypto::CryptoError>> = std::thread::scope(|s| {
        let handles: Vec<_> = todo.iter().map(|&(_, (kt, _), bits, curve)| s.spawn(move || PrivateKey::generate(kt, bits, curve))).collect();
        handles.into_iter().map(|h| h.join().expect("key generation thread")).collect()
    });
    for ((i, slot_id, _, _), key) in todo.into_iter().zip(generated) {
        let key = key.map_err(|e| Failure::new(ErrorCode::Key, format!("key generation failed: {e}")))?;
        let plan = &mut plans[i];
        let slot = plan.slots.get_mut(&slot_id).expect("slot exists");
        slot.spki_sha256 = key.spki_sha256_hex();
        tracing::debug!("Generated {} {} key for {}", slot_id.0, slot_id.1.as_str(), plan.spec.name);
        slot.key = Some(key);
    }
    let _ = ctx;
    Ok(())
}

/// Connects to the ACME server with the account (loaded, or generated and
/// registered), then runs `f`.
fn with_acme(ctx: &mut Ctx<'_>, force_register: bool, f: impl FnOnce(&mut Ctx<'_>, &AcmeClient<'_>) -> R<()>) -> R<()> {
    let roots = http::trust_anchors(ctx.config.settings.ca_bundle.as_deref()).map_err(|e| Failure::new(ErrorCode::Config, e))?;
    let transport = UreqTransport::new(roots, &format!("acmebot/{VERSION} (+https://github.com/plinss/acmebot)"));
    let directory_url = ctx.config.settings.acme_directory_url.clone();
    let resource = ctx.config.resource_dir();
    let key_path = resource.join("client_key.json");
    let reg_path = resource.join("registration.json");

    let mut key_is_new = false;
    let mut account_key = match read_optional(&key_path)? {
        Some(found) => crypto::account_key_from_json(&found.bytes)
            .map_err(|e| Failure::new(ErrorCode::Key, format!("client key {}: {e}", key_path.display())))?,
        None => {
            key_is_new = true;
            tracing::info!("Client key not present, generating");
            PrivateKey::generate_rsa(4096).map_err(|e| Failure::new(ErrorCode::Key, e.to_string()))?
        }
    };
    let mut registered_url = None;
    if !key_is_new && !force_register {
        if let Some(found) = read_optional(&reg_path)? {
            let reg: serde_json::Value = serde_json::from_slice(&found.bytes)
                .map_err(|e| Failure::new(ErrorCode::Config, format!("registration {}: {e}", reg_path.display())))?;
            if let Some(uri) = reg.get("uri").and_then(|u| u.as_str()) {
                if same_origin(uri, &directory_url) {
                    registered_url = Some(uri.to_string());
                } else {
                    tracing::info!("ACME service URL has changed, re-registering with new client key");
                    account_key = PrivateKey::generate_rsa(4096).map_err(|e| Failure::new(ErrorCode::Key, e.to_string()))?;
                    key_is_new = true;
                }
            }
        }
    }
    let clock = SystemClock;
    let client = AcmeClient::connect(&transport as &dyn Transport, &clock, &directory_url, &account_key)?;
    match registered_url {
        Some(url) => client.set_account_url(&url),
        None => register(ctx, &client, &account_key, key_is_new, &key_path, &reg_path)?,
    }
    f(ctx, &client)
}

fn same_origin(a: &str, b: &str) -> bool {
    fn origin(u: &str) -> &str {
        let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
        let end = rest.find('/').unwrap_or(rest.len());
        &u[..u.len() - rest.len() + end]
    }
    origin(a).eq_ignore_ascii_case(origin(b))
}

fn register(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, key: &PrivateKey, key_is_new: bool, key_path: &Path, reg_path: &Path) -> R<()> {
    let tos = client.directory.meta.terms_of_service.clone();
    let agreed = match &tos {
        None => false,
        Some(_) if ctx.args.accept => true,
        Some(url) if std::io::stdin().is_terminal() => {
            println!("The ACME service has these terms of service:\n  {url}");
            print!("Accept? (Y/n) ");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            let answer = answer.trim().to_lowercase();
            if !(answer.is_empty() || answer.starts_with('y')) {
                return Err(Failure::new(ErrorCode::Acme, "terms of service rejected; no account was registered"));
            }
            true
        }
        Some(url) => {
            return Err(Failure::new(
                ErrorCode::Acme,
                format!("the ACME service at {} requires accepting its terms of service ({url}); run acmebot --accept once, or run it on a terminal to be asked", client.directory_url),
            ))
        }
    };
    let contact: Vec<String> = ctx.config.account.email.iter().map(|e| format!("mailto:{e}")).collect();
    let eab = match (&ctx.config.account.eab_kid, &ctx.config.account.eab_hmac_key) {
        (Some(k), Some(h)) => Some((k.as_str(), h.as_str())),
        _ => None,
    };
    if client.directory.meta.external_account_required && eab.is_none() {
        return Err(Failure::new(ErrorCode::Config, format!("the ACME service at {} requires External Account Binding: set account.eab_kid and account.eab_hmac_key", client.directory_url)));
    }
    let (url, account) = client.new_account(&contact, agreed, eab)?;
    let thumbprint = key.jwk_thumbprint();
    let mut ops = Vec::new();
    if key_is_new {
        let json = crypto::account_key_to_json(key).map_err(|e| Failure::new(ErrorCode::Key, e.to_string()))?;
        ops.push(FileOp { path: key_path.to_path_buf(), kind: "client_key".into(), action: Action::Write { contents: json.into_bytes(), mode: 0o600 } });
    }
    let registration = serde_json::json!({ "body": account, "uri": url, "terms_of_service": tos });
    ops.push(FileOp {
        path: reg_path.to_path_buf(),
        kind: "registration".into(),
        action: Action::Write { contents: serde_json::to_vec_pretty(&registration).expect("json").into_iter().chain(*b"\n").collect(), mode: 0o600 },
    });
    if key_is_new {
        ctx.record(Event::AccountKeyGenerated { path: key_path.display().to_string(), key_type: key.key_type(), thumbprint: thumbprint.clone() })?;
    }
    let plan = Plan { key_name: "client".into(), ops, owner: None, archive_root: archive_root(ctx.config)? };
    commit(ctx, &plan)?;
    ctx.record(Event::AccountRegistered { directory_url: client.directory_url.clone(), account_url: url.clone(), thumbprint, contact, tos_agreed: agreed })?;
    tracing::info!("Registered ACME account {url}");
    ctx.outcome.changed = true;
    Ok(())
}

fn archive_root(config: &Config) -> R<PathBuf> {
    config
        .dir(Dir::Archive, &[])
        .map_err(|e| Failure::new(ErrorCode::Config, e.to_string()))?
        .ok_or_else(|| Failure::new(ErrorCode::Config, "directories.archive is null, but replaced files must be archived"))
}

fn commit(ctx: &mut Ctx<'_>, plan: &Plan) -> R<txn::Committed> {
    let faults = txn::env_faults_exit();
    let committed = txn::commit_with_faults(&mut ctx.journal, plan, ctx.now, &faults)?;
    ctx.reload()?;
    Ok(committed)
}

/// Orders, authorizes and finalizes every needed certificate: all orders are
/// created first, then every pending authorization is answered together, then
/// the orders are finalized in parallel. Returns what was issued per key name.
fn issue_all(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, plans: &[KeyPlan<'_>]) -> BTreeMap<String, Vec<Issued>> {
    struct Job<'p> {
        plan: usize,
        work: &'p CertWork,
        key: &'p PrivateKey,
        order_url: String,
        order: crate::acme::Order,
    }
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut failed_keys: BTreeSet<String> = BTreeSet::new();
    for (i, plan) in plans.iter().enumerate() {
        for work in &plan.work {
            let key = plan.slots[&(work.key_type, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
            let names = work.cert.all_names();
            tracing::info!("Issuing {} certificate {} ({})", work.key_type.as_str().to_uppercase(), work.cert.name, work.reason);
            match client.new_order(&names) {
                Ok((order_url, order)) => {
                    let _ = ctx.record(Event::OrderCreated { order_url: order_url.clone(), names: names.clone(), key_type: work.key_type });
                    jobs.push(Job { plan: i, work, key, order_url, order });
                }
                Err(e) => {
                    ctx.outcome.error(Failure::new(ErrorCode::Acme, format!("certificate {}: new order failed: {e}", work.cert.name)));
                    failed_keys.insert(plan.spec.name.clone());
                }
            }
        }
    }
    // Authorizations: every distinct pending one, answered together.
    let mut authz_urls: Vec<String> = Vec::new();
    for job in &jobs {
        if job.order.status == Status::Pending {
            for u in &job.order.authorizations {
                if !authz_urls.contains(u) {
                    authz_urls.push(u.clone());
                }
            }
        }
    }
    let zones: BTreeMap<String, String> = plans
        .iter()
        .flat_map(|p| p.spec.certificates.iter())
        .flat_map(|c| c.alt_names.iter().flat_map(|z| z.fqdns.iter().map(move |f| (f.clone(), z.zone.clone()))))
        .collect();
    let failed_names = authorize(ctx, client, &authz_urls, &zones);
    // Finalize in parallel.
    let settings = &ctx.config.settings;
    let poll_secs = settings.cert_poll_time as u64;
    let results: Vec<(usize, &CertWork, Result<Issued, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .filter(|j| {
                let names = j.work.cert.all_names();
                !names.iter().any(|n| failed_names.contains(n))
            })
            .map(|job| {
                s.spawn(move || {
                    let r = finalize_one(client, job.key, &job.work.cert, job.work.key_type, &job.order_url, &job.order, poll_secs);
                    (job.plan, job.work, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("finalize thread")).collect()
    });
    for job in &jobs {
        if job.work.cert.all_names().iter().any(|n| failed_names.contains(n)) {
            failed_keys.insert(plans[job.plan].spec.name.clone());
        }
    }
    let mut out: BTreeMap<String, Vec<Issued>> = BTreeMap::new();
    for (plan_index, work, result) in results {
        let plan = &plans[plan_index];
        match result {
            Ok(issued) => {
                let leaf = &issued.leaf;
                let _ = ctx.record(Event::CertificateIssued {
                    cert: work.cert.name.clone(),
                    key: plan.spec.name.clone(),
                    key_type: work.key_type,
                    serial: leaf.serial_hex.clone(),
                    common_name: leaf.subject_cn.clone(),
                    not_before: rfc3339(leaf.not_before),
                    not_after: rfc3339(leaf.not_after),
                    sans: leaf.sans.clone(),
                    issuer: leaf.issuer.clone(),
                    order_url: issued.order_url.clone(),
                    spki_sha256: sha256_hex(&leaf.spki_der),
                });
                out.entry(plan.spec.name.clone()).or_default().push(issued);
            }
            Err(message) => {
                ctx.outcome.error(Failure::new(ErrorCode::Acme, format!("{} certificate {}: {message}", work.key_type.as_str().to_uppercase(), work.cert.name)));
                failed_keys.insert(plan.spec.name.clone());
            }
        }
    }
    for k in failed_keys {
        out.remove(&k);
    }
    out
}

fn finalize_one(client: &AcmeClient<'_>, key: &PrivateKey, cert: &CertificateSpec, kt: KeyType, order_url: &str, order: &crate::acme::Order, poll_secs: u64) -> Result<Issued, String> {
    // After its authorizations turned valid the order becomes ready; wait for that.
    let mut order = order.clone();
    let mut tries = 0;
    while order.status == Status::Pending {
        tries += 1;
        if tries > 20 {
            return Err(format!("order {order_url} stayed pending after its authorizations were valid"));
        }
        client.clock().sleep(std::time::Duration::from_millis(250 * tries));
        order = client.order(order_url).map_err(|e| e.to_string())?.0;
    }
    let names = cert.all_names();
    if order.status == Status::Ready {
        let csr = crypto::csr_der(key, &cert.common_name, &names, cert.ocsp_must_staple).map_err(|e| format!("CSR: {e}"))?;
        order = client.finalize(order_url, &order, &csr, poll_secs).map_err(|e| e.to_string())?;
    } else if order.status == Status::Processing {
        order = client.finalize_poll(order_url, poll_secs).map_err(|e| e.to_string())?;
    }
    if order.status != Status::Valid {
        return Err(format!("order {order_url} ended {:?}: {}", order.status, order.error.map(|p| p.to_string()).unwrap_or_default()));
    }
    let cert_url = order.certificate.ok_or_else(|| format!("valid order {order_url} has no certificate URL"))?;
    let (pem, _alternates) = client.download(&cert_url).map_err(|e| e.to_string())?;
    let ders = crypto::pem_to_ders(&pem).map_err(|e| format!("certificate from {cert_url}: {e}"))?;
    let (leaf_der, chain) = ders.split_first().ok_or_else(|| format!("{cert_url} returned no certificate"))?;
    let leaf = crypto::parse_cert(leaf_der).map_err(|e| format!("certificate from {cert_url}: {e}"))?;
    if !crypto::key_matches_cert(key, &leaf) {
        return Err(format!("the certificate from {cert_url} does not match the {kt} private key it was requested for"));
    }
    Ok(Issued { cert: cert.clone(), key_type: kt, leaf, chain: chain.to_vec(), order_url: order_url.to_string() })
}

/// Answers every pending authorization: all challenge files first, then all
/// responses, then polling. Returns the names that failed.
fn authorize(ctx: &mut Ctx<'_>, client: &AcmeClient<'_>, urls: &[String], zones: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    let mut pending: Vec<(String, crate::acme::Authorization, String, PathBuf)> = Vec::new(); // (authz url, authz, challenge url, file)
    for url in urls {
        let authz = match client.authorization(url) {
            Ok(a) => a,
            Err(e) => {
                ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("authorization {url}: {e}")));
                continue;
            }
        };
        let name = authz.identifier.value.clone();
        if authz.status == Status::Valid {
            let _ = ctx.record(Event::AuthorizationObtained { name, challenge: "reused".into(), url: url.clone(), expires: authz.expires.clone() });
            continue;
        }
        if authz.status != Status::Pending {
            ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("authorization for {name} ({url}) is {:?}", authz.status)));
            failed.insert(name);
            continue;
        }
        let fqdn = if authz.wildcard { format!("*.{name}") } else { name.clone() };
        let zone = zones.get(&fqdn).cloned().unwrap_or_else(|| name.clone());
        let dir = if authz.wildcard { None } else { ctx.config.http_challenge_dir(&name, &zone) };
        let Some(dir) = dir else {
            ctx.outcome.error(Failure::new(
                ErrorCode::Auth,
                format!("{fqdn}: dns-01 authorization is not implemented yet; configure http_challenges.{name} or directories.http_challenge for http-01"),
            ));
            failed.insert(name);
            continue;
        };
        let Some(challenge) = authz.challenges.iter().find(|c| c.kind == "http-01").cloned() else {
            ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: the server offers no http-01 challenge ({url})")));
            failed.insert(name);
            continue;
        };
        let Some(token) = challenge.token.clone().filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) else {
            ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: http-01 challenge {} has a missing or unsafe token", challenge.url)));
            failed.insert(name);
            continue;
        };
        let file = dir.join(&token);
        let write = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, crypto::key_authorization(&token, client_key(client))));
        if let Err(e) = write {
            ctx.outcome.error(Failure::new(ErrorCode::Permission, format!("{name}: cannot write http-01 challenge file {}: {e}", file.display())));
            failed.insert(name);
            continue;
        }
        tracing::debug!("Wrote http-01 challenge for {name} to {}", file.display());
        run_hook(ctx, "set_http_challenge", &[("domain", &name), ("challenge_file", &file.display().to_string())], &[]);
        pending.push((url.clone(), authz, challenge.url.clone(), file));
    }
    for (_, authz, challenge_url, _) in &pending {
        if let Err(e) = client.respond(challenge_url) {
            ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{}: answering challenge {challenge_url}: {e}", authz.identifier.value)));
            failed.insert(authz.identifier.value.clone());
        }
    }
    let s = &ctx.config.settings;
    let (attempts, delay) = (s.max_authorization_attempts, std::time::Duration::from_secs(s.authorization_delay as u64));
    // Short first delays: a local CA validates in milliseconds.
    let delay = delay.min(std::time::Duration::from_secs(1)).max(std::time::Duration::from_millis(200));
    let attempts = attempts.saturating_mul((s.authorization_delay as u32).max(1)).max(attempts);
    for (url, authz, challenge_url, file) in &pending {
        let name = authz.identifier.value.clone();
        if failed.contains(&name) {
            continue;
        }
        match client.wait_authorization(url, attempts, delay) {
            Ok(done) if done.status == Status::Valid => {
                let _ = ctx.record(Event::AuthorizationObtained { name: name.clone(), challenge: "http-01".into(), url: url.clone(), expires: done.expires.clone() });
                tracing::debug!("Authorization for {name} is valid");
            }
            Ok(done) => {
                let detail = done
                    .challenges
                    .iter()
                    .find(|c| &c.url == challenge_url)
                    .and_then(|c| c.error.as_ref())
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| format!("authorization is {:?}", done.status));
                ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: http-01 challenge {challenge_url} failed: {detail}")));
                let _ = ctx.record(Event::ChallengeFailed { name: name.clone(), challenge: "http-01".into(), url: url.clone(), error: detail });
                failed.insert(name);
            }
            Err(e) => {
                ctx.outcome.error(Failure::new(ErrorCode::Auth, format!("{name}: {e}")));
                failed.insert(name);
            }
        }
        let _ = file;
    }
    for (_, authz, _, file) in &pending {
        if std::fs::remove_file(file).is_ok() {
            tracing::debug!("Removed http-01 challenge file {}", file.display());
        }
        run_hook(ctx, "clear_http_challenge", &[("domain", &authz.identifier.value), ("challenge_file", &file.display().to_string())], &[]);
    }
    failed
}

fn client_key<'a>(client: &'a AcmeClient<'_>) -> &'a PrivateKey {
    client.key()
}

/// Builds and commits the one transaction of a private key: new keys and every
/// file of every issued certificate, then journals, runs hooks, notes services.
fn install(ctx: &mut Ctx<'_>, plan: &KeyPlan<'_>, issued: Vec<Issued>) -> R<()> {
    let cfg = ctx.config;
    let cfg_err = |e: crate::config::ConfigError| Failure::new(ErrorCode::Config, e.to_string());
    let mut ops = Vec::new();
    let mut events = Vec::new();
    let mut hooks_to_run: Vec<(&'static str, Vec<(String, String)>)> = Vec::new();
    for (&(kt, role), slot) in &plan.slots {
        if !slot.is_new {
            continue;
        }
        let key = slot.key.as_ref().expect("generated key");
        ops.push(FileOp {
            path: slot.path.clone(),
            kind: if role == KeyRole::Primary { "private_key" } else { "backup_key" }.into(),
            action: Action::Write { contents: key.to_pkcs8_pem().into_bytes(), mode: 0o640 },
        });
        events.push(Event::KeyGenerated {
            key: plan.spec.name.clone(),
            key_type: kt,
            role,
            spki_sha256: slot.spki_sha256.clone(),
            path: slot.path.display().to_string(),
            txn: String::new(),
        });
        let file_field = if role == KeyRole::Primary { "private_key_file" } else { "backup_key_file" };
        hooks_to_run.push((
            if role == KeyRole::Primary { "private_key_installed" } else { "backup_key_installed" },
            vec![("key_name".into(), plan.spec.name.clone()), ("key_type".into(), kt.to_string()), (file_field.into(), slot.path.display().to_string()), ("passphrase".into(), String::new())],
        ));
    }
    for item in &issued {
        let kt = item.key_type;
        let key = plan.slots[&(kt, KeyRole::Primary)].key.as_ref().expect("primary key loaded");
        let leaf_pem = crypto::ders_to_pem(std::slice::from_ref(&item.leaf.der));
        let chain_pem = crypto::ders_to_pem(&item.chain);
        let name = &item.cert.name;
        let base = |extra: (&str, String)| -> Vec<(String, String)> {
            vec![("key_name".into(), plan.spec.name.clone()), ("key_type".into(), kt.to_string()), ("certificate_name".into(), name.clone()), (extra.0.into(), extra.1)]
        };
        if let Some(path) = cfg.file_path(FileKind::Certificate, name, Some(kt)).map_err(cfg_err)? {
            ops.push(FileOp { path: path.clone(), kind: "certificate".into(), action: Action::Write { contents: format!("{leaf_pem}{chain_pem}").into_bytes(), mode: 0o644 } });
            hooks_to_run.push(("certificate_installed", base(("certificate_file", path.display().to_string()))));
        }
        if !item.chain.is_empty() {
            if let Some(path) = cfg.file_path(FileKind::Chain, name, Some(kt)).map_err(cfg_err)? {
                ops.push(FileOp { path: path.clone(), kind: "chain".into(), action: Action::Write { contents: chain_pem.clone().into_bytes(), mode: 0o644 } });
                hooks_to_run.push(("chain_installed", base(("chain_file", path.display().to_string()))));
            }
        }
        if let Some(path) = cfg.file_path(FileKind::FullKey, name, Some(kt)).map_err(cfg_err)? {
            let contents = format!("{}{leaf_pem}{chain_pem}", key.to_pkcs8_pem());
            ops.push(FileOp { path: path.clone(), kind: "full_key".into(), action: Action::Write { contents: contents.into_bytes(), mode: 0o640 } });
            hooks_to_run.push(("full_key_installed", base(("full_key_file", path.display().to_string()))));
        }
        let root_path = cfg.root_cert_path(kt);
        if let Some(root) = read_optional(&root_path)? {
            if let Some(path) = cfg.file_path(FileKind::FullCertificate, name, Some(kt)).map_err(cfg_err)? {
                let mut root_pem = String::from_utf8_lossy(&root.bytes).into_owned();
                if !root_pem.ends_with('\n') {
                    root_pem.push('\n');
                }
                ops.push(FileOp { path: path.clone(), kind: "full_certificate".into(), action: Action::Write { contents: format!("{leaf_pem}{chain_pem}{root_pem}").into_bytes(), mode: 0o644 } });
                hooks_to_run.push(("full_certificate_installed", base(("full_certificate_file", path.display().to_string()))));
            }
        }
        events.push(Event::CertificateInstalled { cert: name.clone(), key_type: kt, serial: item.leaf.serial_hex.clone(), txn: String::new() });
        for s in &item.cert.services {
            ctx.services.insert(s.clone());
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let owner = cfg.file_owner().map_err(cfg_err)?;
    let txn_plan = Plan { key_name: plan.spec.name.clone(), ops, owner: Some(owner), archive_root: archive_root(cfg)? };
    let committed = commit(ctx, &txn_plan)?;
    let txn_id = committed.txn.clone().unwrap_or_default();
    // What the transaction installed: keys made and certificates put in place.
    for mut e in events {
        match &mut e {
            Event::KeyGenerated { txn, .. } | Event::CertificateInstalled { txn, .. } => *txn = txn_id.clone(),
            _ => {}
        }
        ctx.record(e)?;
    }
    ctx.state = State::replay(&ctx.records);
    ctx.outcome.changed = true;
    for item in &issued {
        tracing::info!(
            "Installed {} certificate {} (serial {}, valid until {})",
            item.key_type.as_str().to_uppercase(),
            item.cert.name,
            item.leaf.serial_hex,
            rfc3339(item.leaf.not_after)
        );
    }
    for (&(kt, role), slot) in &plan.slots {
        if slot.is_new {
            tracing::info!("Installed new {} {} key {} ({})", kt.as_str().to_uppercase(), role.as_str(), plan.spec.name, slot.path.display());
        }
    }
    let _ = committed;
    for (hook, fields) in hooks_to_run {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_hook(ctx, hook, &f, &[]);
    }
    Ok(())
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
            let _ = ctx.record(Event::HookRun { hook: hook.into(), program: argv[0].clone(), exit_code: ran.exit_code });
            if ran.exit_code != Some(0) {
                ctx.outcome.error(Failure::new(ErrorCode::Hook, format!("hook {hook} returned error, code: {:?}", ran.exit_code)));
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
                let _ = ctx.record(Event::ServiceReloaded { service: service.clone(), program: argv[0].clone(), exit_code: ran.exit_code });
                if ran.exit_code != Some(0) {
                    ctx.outcome.warn(WarningCode::Service, format!("service {service} responded to reload with code {:?}:\n{}", ran.exit_code, ran.output.trim_end()));
                }
            }
            Err(e) => ctx.outcome.warn(WarningCode::Service, format!("service {service}: {e}")),
        }
    }
}

/// `--export-client`: the client key as PEM in the current directory, as the original.
pub fn export_client(config: &Config) -> R<PathBuf> {
    let key_path = config.resource_dir().join("client_key.json");
    let bytes = std::fs::read(&key_path).map_err(|e| Failure::new(ErrorCode::Key, format!("cannot read client key {}: {e}", key_path.display())))?;
    let key = crypto::account_key_from_json(&bytes).map_err(|e| Failure::new(ErrorCode::Key, format!("client key {}: {e}", key_path.display())))?;
    let out = PathBuf::from("acmebot_client_key.pem");
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out)
        .map_err(|e| Failure::new(ErrorCode::Permission, format!("cannot create {}: {e}", out.display())))?;
    f.write_all(key.to_pkcs8_pem().as_bytes()).and_then(|_| f.sync_all()).map_err(|e| Failure::new(ErrorCode::Permission, format!("cannot write {}: {e}", out.display())))?;
    Ok(out)
}
