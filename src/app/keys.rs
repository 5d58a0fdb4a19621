//! Loading the primary keys that will sign, and generating the missing keys on
//! every core; each generated key is journaled before anything uses it.

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::plan::{read_private, KeyPlan};
use super::secrets::{self, Passphrases};
use crate::crypto::{self, PrivateKey};
use crate::journal::Event;
use crate::types::{Curve, KeyRole, KeyType};

/// A key to generate: plan index, slot, RSA bits, ECDSA curve.
pub struct KeyTodo {
    plan: usize,
    slot: (KeyType, KeyRole),
    bits: u32,
    curve: Curve,
}

/// Parses the existing primary keys that will be used and lists the keys to generate.
pub fn key_todo(pp: &Passphrases, plans: &mut [KeyPlan<'_>]) -> R<Vec<KeyTodo>> {
    let mut todo = Vec::new();
    for (i, plan) in plans.iter_mut().enumerate() {
        let needs_keys = !plan.work.is_empty() || plan.slots.values().any(|s| s.is_new);
        if !needs_keys {
            continue;
        }
        for (&(kt, role), slot) in plan.slots.iter_mut() {
            if slot.is_new && slot.key.is_none() {
                let bits = crate::crypto::rsa_generation_bits(plan.spec.rsa_key_size.unwrap_or(4096));
                let curve = plan.spec.ecdsa_curve.unwrap_or(Curve::P384);
                todo.push(KeyTodo { plan: i, slot: (kt, role), bits, curve });
            } else if slot.key.is_none() && role == KeyRole::Primary {
                let missing = || AppError::file(&slot.path, "read")(std::io::ErrorKind::NotFound.into());
                let bytes = read_private(&slot.path)?.ok_or_else(missing)?.bytes;
                slot.key = Some(secrets::read_key(pp, plan.spec, &slot.path, &bytes)?);
            }
        }
    }
    Ok(todo)
}

/// Generates keys on every core (RSA-4096 takes a while). Pure: nothing is
/// journaled or written.
pub fn generate(todo: &[KeyTodo]) -> Vec<Result<PrivateKey, crypto::CryptoError>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(todo.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<PrivateKey, crypto::CryptoError>>>> =
        (0..todo.len()).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = todo.get(i) else { break };
                let key = PrivateKey::generate(t.slot.0, t.bits, t.curve);
                *slots[i].lock().unwrap() = Some(key);
            });
        }
    });
    slots.into_iter().map(|k| k.into_inner().unwrap().expect("every key generated")).collect()
}

/// Puts generated keys into their slots and journals each as generated.
pub fn apply_generated(
    ctx: &mut Ctx<'_>,
    plans: &mut [KeyPlan<'_>],
    todo: Vec<KeyTodo>,
    generated: Vec<Result<PrivateKey, crypto::CryptoError>>,
) -> R<()> {
    for (t, key) in todo.into_iter().zip(generated) {
        let key = key.map_err(AppError::KeyGeneration)?;
        let plan = &mut plans[t.plan];
        let slot = plan.slots.get_mut(&t.slot).expect("slot exists");
        slot.spki_sha256 = key.spki_sha256_hex();
        ctx.record(Event::KeyGenerated {
            key: plan.spec.name.clone(),
            key_type: t.slot.0,
            role: t.slot.1,
            spki_sha256: slot.spki_sha256.clone(),
            path: slot.path.display().to_string(),
            txn: None,
        })?;
        // The original's status line.
        let (role, kt) = (t.slot.1.as_str(), t.slot.0.as_str().to_uppercase());
        tracing::info!("Generating {role} {kt} key for {}", plan.spec.name);
        slot.key = Some(key);
    }
    Ok(())
}

/// Loads and generates every key the plans need (when nothing is issued).
pub fn generate_keys(ctx: &mut Ctx<'_>, plans: &mut [KeyPlan<'_>]) -> R<()> {
    let todo = key_todo(&ctx.passphrases, plans)?;
    let generated = generate(&todo);
    apply_generated(ctx, plans, todo, generated)
}
