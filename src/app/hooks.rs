//! Running the configured hooks and reloading services, each journaled.

use std::collections::BTreeSet;

use super::ctx::Ctx;
use super::error::AppError;
use crate::cli::WarningCode;
use crate::hooks::{self, Hook};
use crate::journal::Event;

/// Runs a configured hook (if any) with its fields. A failing hook is an error
/// (exit code 7) but does not stop the run, as in the original.
pub fn run_hook(ctx: &mut Ctx<'_>, hook: Hook, fields: &[(&str, &str)]) {
    let Some(pattern) = ctx.config.hook(hook).map(str::to_string) else { return };
    let argv = match hooks::prepare(&pattern, fields) {
        Ok(a) => a,
        Err(source) => return ctx.report.error(AppError::Hook { hook, source }),
    };
    tracing::debug!("Calling hook {hook}: {}", argv.join(" "));
    match hooks::run(&argv, &[]) {
        Ok(ran) => {
            if !ran.output.trim().is_empty() {
                tracing::info!("{}", ran.output.trim_end());
            }
            if let Err(e) = ctx.record(Event::HookRun { hook, program: argv[0].clone(), exit_code: ran.exit_code }) {
                return ctx.report.error(e);
            }
            if ran.exit_code != Some(0) {
                ctx.report.error(AppError::HookFailed { hook, exit_code: ran.exit_code });
            }
        }
        Err(source) => ctx.report.error(AppError::Hook { hook, source }),
    }
}

/// Services to reload at the end of the run, each once.
#[derive(Default)]
pub struct Services(BTreeSet<String>);

impl Services {
    pub fn add<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        self.0.extend(names.into_iter().cloned());
    }
}

/// Reloads each service used by a changed certificate once; a failing reload
/// is a warning (code 105), as in the original.
pub fn reload_services(ctx: &mut Ctx<'_>, services: Services) {
    for service in services.0 {
        let Some(command) = ctx.config.services.get(&service).cloned() else { continue };
        let argv = match hooks::prepare(&command, &[]) {
            Ok(a) => a,
            Err(e) => {
                ctx.report.warn(WarningCode::Service, format!("service {service}: {e}"));
                continue;
            }
        };
        tracing::info!("Reloading service {service}");
        match hooks::run(&argv, &[]) {
            Ok(ran) => {
                let event = Event::ServiceReloaded {
                    service: service.clone(),
                    program: argv[0].clone(),
                    exit_code: ran.exit_code,
                };
                if let Err(e) = ctx.record(event) {
                    ctx.report.error(e);
                }
                if ran.exit_code != Some(0) {
                    let output = ran.output.trim_end();
                    let message =
                        format!("service {service} responded to reload with code {:?}:\n{output}", ran.exit_code);
                    ctx.report.warn(WarningCode::Service, message);
                }
            }
            Err(e) => ctx.report.warn(WarningCode::Service, format!("service {service}: {e}")),
        }
    }
}
