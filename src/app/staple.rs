//! What a server sends beside its certificate: the signed certificate
//! timestamps of its CT logs ([`super::sct`]) and its OCSP response
//! ([`super::ocsp`]), kept as files next to the certificates.
//!
//! Both are fetched for a certificate when it is issued, in its key's
//! transaction (so a new certificate never sits beside the previous one's
//! SCTs or OCSP response), and checked on every later run ([`refresh`]): a
//! missing or invalid file, or an OCSP response past half its validity, is
//! fetched again, in a transaction of its own per key. Nothing is asked of a
//! log or a responder when the files on disk are good.

use super::ctx::Ctx;
use super::error::R;
use super::hooks::Services;
use super::web::installed;
pub use super::web::{CertFiles, Web, Which};
use super::writes::{commit_key, run_hooks, Install};
use crate::cli::WarningCode;
use crate::config::{FileKind, PrivateKeySpec};

/// Adds the SCT and OCSP files one certificate needs to its key's
/// transaction. `fresh`: the certificate is installed by that transaction
/// (the files on disk belong to the certificate it replaces).
pub fn add_for_certificate(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    key_name: &str,
    cert: &CertFiles<'_>,
    fresh: bool,
    which: Which,
    inst: &mut Install,
) -> R<()> {
    // Not fetched in this run (`--certs` alone): a new certificate still
    // takes the previous one's files away.
    if which.sct || fresh {
        super::sct::add_scts(ctx, web, key_name, cert, fresh, which, inst)?;
    }
    if which.ocsp || fresh {
        super::ocsp::add_ocsp(ctx, web, key_name, cert, fresh, which.ocsp, inst)?;
    }
    Ok(())
}

/// Checks the SCT and OCSP files of every certificate of the selected keys
/// and fetches what is missing, invalid or ageing: one transaction per key
/// whose files change, then its hooks; the certificates' services reload.
/// With `which.explicit` (`--sct`, `--ocsp`), a certificate that is not
/// installed is worth a warning.
pub fn refresh(ctx: &mut Ctx<'_>, selected: &[&PrivateKeySpec], which: Which, services: &mut Services) {
    let mut web = Web::default();
    for spec in selected {
        if let Err(e) = refresh_key(ctx, &mut web, spec, which, services) {
            ctx.report.error(e.about(format!("private key {}", spec.name)));
        }
    }
}

fn refresh_key(
    ctx: &mut Ctx<'_>,
    web: &mut Web,
    spec: &PrivateKeySpec,
    which: Which,
    services: &mut Services,
) -> R<()> {
    let mut inst = Install::default();
    for cert in &spec.certificates {
        let wants_sct = which.sct && !cert.ct_submit_logs.is_empty();
        let wants_ocsp = which.ocsp && ctx.config.file_path(FileKind::Ocsp, &cert.name, None)?.is_some();
        if !wants_sct && !wants_ocsp {
            continue;
        }
        for &kt in &cert.key_types {
            // Installed by this run: its files were fetched in its transaction
            // (a log that failed there is not asked twice in one run).
            if ctx.state().certificate(&cert.name, kt).is_some_and(|c| c.since >= ctx.now) {
                continue;
            }
            match installed(ctx.config, cert, kt)? {
                Some(files) => {
                    let before = inst.hooks.len();
                    add_for_certificate(ctx, web, &spec.name, &files, false, which, &mut inst)?;
                    if inst.hooks.len() > before {
                        services.add(&cert.services);
                    }
                }
                None if which.explicit => ctx.report.warn(
                    if which.ocsp { WarningCode::Ocsp } else { WarningCode::Sct },
                    format!("{} certificate {} is not installed", kt.as_str().to_uppercase(), cert.name),
                ),
                None => {}
            }
        }
    }
    if inst.is_empty() {
        return Ok(());
    }
    let hooks = commit_key(ctx, &spec.name, &mut inst)?;
    run_hooks(ctx, hooks);
    Ok(())
}
