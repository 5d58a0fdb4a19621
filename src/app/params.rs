//! Diffie-Hellman and EC parameters, as the original keeps them: per
//! certificate, in `directories.param` (`{name}_param.pem`) and appended to
//! the certificate, full certificate and full key files ("\n" + DH block,
//! "\n" + EC blocks).
//!
//! Generating DH parameters takes seconds to minutes (a 4096-bit safe prime
//! on a router), so it never holds up a renewal: a new certificate is
//! installed with the parameters already on disk (the param file, else its
//! certificate file, so what the original wrote is kept), and parameters
//! that are missing, of another size, or older than a key rollover are made
//! afterwards, in this run's last phase, and installed in a transaction of
//! their own (journaled `params_generated`, `params_installed`). A run
//! stopped while generating leaves everything as it was; the next run
//! tries again.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use super::ctx::Ctx;
use super::error::{AppError, R};
use super::hooks::Services;
use super::plan::read_optional;
use super::writes::{commit_key, run_hooks, Install};
use crate::config::{CertificateSpec, Config, FileKind, PrivateKeySpec};
use crate::crypto::params::{self, DhInfo};
use crate::hooks::Hook;
use crate::journal::{Effect, Event};
use crate::types::KeyRole;

const DH_BEGIN: &str = "-----BEGIN DH PARAMETERS-----";
const DH_END: &str = "-----END DH PARAMETERS-----";
const EC_BEGIN: &str = "-----BEGIN EC PARAMETERS-----";

/// The parameters one certificate's files carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// The DH PARAMETERS block (with its final newline).
    pub dh: Option<String>,
    /// The EC PARAMETERS blocks, one after the other.
    pub ec: Option<String>,
}

impl Params {
    /// What the original appends to a certificate file: "\n" before each part.
    pub fn appended(&self) -> String {
        let mut out = String::new();
        for part in [&self.dh, &self.ec].into_iter().flatten() {
            out.push('\n');
            out.push_str(part);
        }
        out
    }

    /// The param file's text: DH, a blank line, EC (as the original's save_params).
    fn file_text(&self) -> Option<String> {
        match (&self.dh, &self.ec) {
            (Some(dh), Some(ec)) => Some(format!("{dh}\n{ec}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }

    /// The blocks found in PEM text (a param file or a certificate file).
    pub fn from_text(text: &str) -> Params {
        let dh = text.find(DH_BEGIN).and_then(|start| {
            let end = text[start..].find(DH_END)? + start + DH_END.len();
            Some(format!("{}\n", &text[start..end]))
        });
        let ec = text.find(EC_BEGIN).map(|start| {
            let blocks: String = text[start..]
                .split_inclusive('\n')
                .scan(true, |inside, line| {
                    // EC blocks follow each other; anything else ends them.
                    if line.starts_with("-----BEGIN ") && !line.starts_with(EC_BEGIN) {
                        *inside = false;
                    }
                    Some(if *inside { line } else { "" })
                })
                .collect();
            let mut blocks = blocks.trim_end().to_string();
            blocks.push('\n');
            blocks
        });
        Params { dh, ec: ec.filter(|e| e.contains("-----END EC PARAMETERS-----")) }
    }
}

/// `text` without the parameter blocks appended to it (and the blank lines
/// before them).
pub fn strip(text: &str) -> &str {
    let first = [text.find(DH_BEGIN), text.find(EC_BEGIN)].into_iter().flatten().min();
    match first {
        Some(i) => {
            let head = &text[..i];
            let trimmed = head.trim_end_matches('\n');
            &text[..(trimmed.len() + 1).min(head.len())]
        }
        None => text,
    }
}

/// The parameters on disk for `cert`: the param file, else the first of its
/// certificate files that has any (as the original reads them).
pub fn on_disk(cfg: &Config, cert: &CertificateSpec) -> R<Params> {
    Ok(read_params(cfg, cert)?.0)
}

/// [`on_disk`], and the param file they came from with its SHA-256 (None
/// when they came from a certificate file or there are none).
fn read_params(cfg: &Config, cert: &CertificateSpec) -> R<(Params, Option<(PathBuf, String)>)> {
    if let Some(path) = cfg.file_path(FileKind::Param, &cert.name, None)? {
        if let Some(found) = read_optional(&path)? {
            let p = Params::from_text(&String::from_utf8_lossy(&found.bytes));
            if p.dh.is_some() || p.ec.is_some() {
                return Ok((p, Some((path, found.sha256))));
            }
        }
    }
    for &kt in &cert.key_types {
        let Some(path) = cfg.file_path(FileKind::Certificate, &cert.name, Some(kt))? else { continue };
        if let Some(found) = read_optional(&path)? {
            let p = Params::from_text(&String::from_utf8_lossy(&found.bytes));
            if p.dh.is_some() || p.ec.is_some() {
                return Ok((p, None));
            }
        }
    }
    Ok((Params::default(), None))
}

/// What the configuration asks for one certificate.
struct Wanted {
    /// DH size to generate (`--quick`: at most 2048), and the size configured.
    dh_bits: Option<(u32, u32)>,
    ec: Option<String>,
    ec_names: Vec<String>,
}

fn wanted(cert: &CertificateSpec, quick: bool) -> Wanted {
    wanted_of(cert.dhparam_size, &cert.ecparam_curve, quick)
}

fn wanted_of(dhparam_size: Option<u32>, ecparam_curve: &[String], quick: bool) -> Wanted {
    let dh_bits = dhparam_size.filter(|&b| b > 0).map(|b| (if quick { b.min(2048) } else { b }, b));
    // Names `openssl ecparam` does not know (x25519, x448: not EC
    // parameters) are left out, as the original's generation skips them.
    let ec: String = ecparam_curve.iter().filter_map(|c| params::ec_params_pem(c)).collect();
    Wanted { dh_bits, ec: (!ec.is_empty()).then_some(ec), ec_names: ecparam_curve.to_vec() }
}

/// The parameters phase: for each certificate of the selected keys, what is
/// missing, of another size or older than its key's last rollover (`rolled`:
/// keys whose primary key changed in this run) is made and installed with
/// every file that carries it.
pub fn refresh(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec], rolled: &BTreeSet<String>, services: &mut Services) {
    for spec in selected {
        if let Err(e) = refresh_key(ctx, spec, rolled.contains(&spec.name), services) {
            ctx.report.error(e.about(format!("parameters of private key {}", spec.name)));
        }
        if crate::platform::stop_requested().is_some() {
            return;
        }
    }
}

fn refresh_key(ctx: &mut Ctx<'_>, spec: &PrivateKeySpec, rolled: bool, services: &mut Services) -> R<()> {
    let cfg = ctx.config;
    let mut inst = Install::default();
    let spkis = primary_spkis(ctx, spec);
    for cert in &spec.certificates {
        let want = wanted(cert, ctx.opts.quick);
        if want.dh_bits.is_none() && want.ec.is_none() {
            continue;
        }
        // Only certificates that are installed carry parameters.
        if !installed_any(cfg, cert)? {
            continue;
        }
        let (have, param_file) = read_params(cfg, cert)?;
        // The param file as the journal says acmebot installed it.
        let journaled_file =
            param_file.is_some_and(|(path, sha)| ctx.state().file(&path).is_some_and(|f| f.sha256 == sha));
        let journaled = ctx.state().params.get(&cert.name).cloned();
        let older_than_key = rolled || journaled.as_ref().is_some_and(|p| p.key_spkis != spkis);
        let mut next = have.clone();
        let mut generated = false;
        if let Some((bits, configured)) = want.dh_bits {
            // Parameters acmebot installed (the param file as journaled) are
            // not checked again: a 2048-bit check costs 0.15 s, 4096 a second.
            let info = match (journaled_file, journaled.as_ref().and_then(|p| p.dh_bits)) {
                (true, Some(bits)) if have.dh.is_some() => Some(DhInfo { bits, ok: true }),
                _ => have.dh.as_deref().and_then(|dh| params::dh_params_info(dh.as_bytes()).ok()),
            };
            let why = match info {
                None => Some("missing".to_string()),
                Some(DhInfo { ok: false, .. }) => Some("not valid".to_string()),
                Some(DhInfo { bits: b, .. }) if b != bits && b != configured => Some(format!("not {bits} bits")),
                Some(_) if older_than_key => Some("older than the private key".to_string()),
                Some(_) => None,
            };
            if let Some(why) = why {
                tracing::debug!("Diffie-Hellman parameters for {} are {why}", cert.name);
                match generate_dh(ctx, cert, bits)? {
                    Some(dh) => {
                        next.dh = Some(dh);
                        generated = true;
                    }
                    None => return Ok(()), // stopped: nothing written
                }
            }
        }
        // Parameters no longer configured stay as they are (as in the original).
        if want.ec.is_some() && next.ec != want.ec {
            tracing::info!("Generating {} elliptical curve parameters for {}", want.ec_names.join(":"), cert.name);
            generated = true;
            next.ec = want.ec.clone();
        }
        add_params(ctx, spec, cert, &have, &next, generated, &spkis, &mut inst)?;
        if !inst.is_empty() {
            services.add(&cert.services);
        }
    }
    if inst.is_empty() {
        return Ok(());
    }
    let hooks = commit_key(ctx, &spec.name, &mut inst)?;
    run_hooks(ctx, hooks);
    Ok(())
}

/// Whether any certificate file of `cert` is installed.
fn installed_any(cfg: &Config, cert: &CertificateSpec) -> R<bool> {
    for &kt in &cert.key_types {
        if let Some(path) = cfg.file_path(FileKind::Certificate, &cert.name, Some(kt))? {
            if path.exists() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The SPKI digests of the key's primary keys, as the journal knows them.
fn primary_spkis(ctx: &Ctx<'_>, spec: &PrivateKeySpec) -> Vec<String> {
    spec.key_types
        .iter()
        .filter_map(|&kt| ctx.state().key(&spec.name, kt, KeyRole::Primary).map(|k| k.spki_sha256.clone()))
        .collect()
}

/// Makes DH parameters, with dots on a terminal; None when stopped.
fn generate_dh(ctx: &mut Ctx<'_>, cert: &CertificateSpec, bits: u32) -> R<Option<String>> {
    tracing::info!("Generating {bits} bit Diffie-Hellman parameters for {}", cert.name);
    let started = std::time::Instant::now();
    let terminal = crate::platform::stderr_is_terminal();
    let mut last = std::time::Instant::now();
    let mut progress = |_: u64| {
        if terminal && last.elapsed() >= std::time::Duration::from_millis(500) {
            last = std::time::Instant::now();
            let _ = std::io::stderr().write_all(b".");
        }
    };
    let stop = || crate::platform::stop_requested().is_some();
    let made = params::generate_dh_params(bits, &mut progress, &stop);
    if terminal {
        let _ = std::io::stderr().write_all(b"\n");
    }
    match made {
        Ok(pem) => {
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!("{bits} bit Diffie-Hellman parameters for {} made in {seconds:.1} s", cert.name);
            ctx.record(Event::ParamsGenerated {
                cert: cert.name.clone(),
                dh_bits: bits,
                millis: (seconds * 1000.0) as u64,
            })?;
            Ok(Some(pem))
        }
        Err(_) if stop() => Ok(None),
        Err(e) => Err(AppError::Params {
            what: format!("Diffie-Hellman parameters generation failed for {bits} bits ({})", cert.name),
            detail: e.to_string(),
        }),
    }
}

/// The param file and every file carrying the parameters, written when
/// their parameters change (or the param file is missing or different).
#[allow(clippy::too_many_arguments)]
fn add_params(
    ctx: &Ctx<'_>,
    spec: &PrivateKeySpec,
    cert: &CertificateSpec,
    have: &Params,
    next: &Params,
    generated: bool,
    spkis: &[String],
    inst: &mut Install,
) -> R<()> {
    let cfg = ctx.config;
    let mut changed = generated || have != next;
    if let (Some(path), Some(text)) = (cfg.file_path(FileKind::Param, &cert.name, None)?, next.file_text()) {
        let current = read_optional(&path)?;
        if changed || current.as_ref().map(|f| f.bytes != text.as_bytes()).unwrap_or(true) {
            inst.write(path.clone(), "param", None, text.into_bytes(), 0o640);
            let fields = vec![
                ("key_name", spec.name.clone()),
                ("certificate_name", cert.name.clone()),
                ("params_file", path.display().to_string()),
            ];
            inst.hooks.push((Hook::ParamsInstalled, fields));
            changed = true;
        }
    }
    // The files that carry the parameters: rewritten with the new ones.
    for &kt in &cert.key_types {
        for (kind, name, mode) in [
            (FileKind::Certificate, "certificate", 0o644),
            (FileKind::FullCertificate, "full_certificate", 0o644),
            (FileKind::FullKey, "full_key", 0o640),
        ] {
            let Some(path) = cfg.file_path(kind, &cert.name, Some(kt))? else { continue };
            let Some(found) = read_optional(&path)? else { continue };
            let text = String::from_utf8_lossy(&found.bytes);
            let rewritten = format!("{}{}", strip(&text), next.appended());
            if rewritten.as_bytes() != found.bytes {
                inst.write(path, name, Some(kt), rewritten.into_bytes(), mode);
                changed = true;
            }
        }
    }
    if changed {
        inst.effects.push(Effect::ParamsInstalled {
            cert: cert.name.clone(),
            dh_bits: next.dh.as_deref().and_then(|d| params::dh_params_info(d.as_bytes()).ok()).map(|i| i.bits),
            ec_curves: next.ec.as_deref().map(|e| params::ec_params_curves(e.as_bytes())).unwrap_or_default(),
            key_spkis: spkis.to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DH: &str = "-----BEGIN DH PARAMETERS-----\nMAYCAQcCAQI=\n-----END DH PARAMETERS-----\n";
    const EC1: &str = "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n";
    const EC2: &str = "-----BEGIN EC PARAMETERS-----\nBgUrgQQACg==\n-----END EC PARAMETERS-----\n";
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn parameter_blocks_are_read_appended_and_stripped_as_the_original_writes_them() {
        let p = Params { dh: Some(DH.into()), ec: Some(format!("{EC1}{EC2}")) };
        let file = format!("{CERT}{CERT}{}", p.appended());
        assert_eq!(file, format!("{CERT}{CERT}\n{DH}\n{EC1}{EC2}"));
        assert_eq!(Params::from_text(&file), p);
        assert_eq!(strip(&file), format!("{CERT}{CERT}"));
        assert_eq!(p.file_text().unwrap(), format!("{DH}\n{EC1}{EC2}"));
        assert_eq!(Params::from_text(&p.file_text().unwrap()), p);
        // Only one kind, and none.
        let ec_only = Params { dh: None, ec: Some(EC1.into()) };
        assert_eq!(Params::from_text(&format!("{CERT}{}", ec_only.appended())), ec_only);
        assert_eq!(ec_only.file_text().unwrap(), EC1);
        assert_eq!(Params::from_text(CERT), Params::default());
        assert_eq!(strip(CERT), CERT);
        assert_eq!(Params::default().appended(), "");
        // A full key file: key, certificates, parameters.
        let key = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let full = format!("{key}{CERT}{}", p.appended());
        assert_eq!(strip(&full), format!("{key}{CERT}"));
        // An EC block list ends where another kind of block starts.
        assert_eq!(Params::from_text(&format!("{EC1}{CERT}")).ec.as_deref(), Some(EC1));
    }

    #[test]
    fn quick_caps_dh_at_2048_bits() {
        let none: Vec<String> = Vec::new();
        assert_eq!(wanted_of(Some(4096), &none, true).dh_bits, Some((2048, 4096)));
        assert_eq!(wanted_of(Some(4096), &none, false).dh_bits, Some((4096, 4096)));
        assert_eq!(wanted_of(Some(1024), &none, true).dh_bits, Some((1024, 1024)));
        assert_eq!(wanted_of(Some(0), &none, true).dh_bits, None);
        let curves: Vec<String> = ["x448", "secp384r1"].iter().map(|s| s.to_string()).collect();
        let w = wanted_of(None, &curves, false);
        assert_eq!(
            w.ec.as_deref().map(|e| e.matches("BEGIN EC PARAMETERS").count()),
            Some(1),
            "x448 is no EC parameter"
        );
    }
}
