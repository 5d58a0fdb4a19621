//! Running the configured hooks and reloading services, each journaled.

use std::collections::BTreeSet;

use super::ctx::Ctx;
use super::error::AppError;
use crate::cli::WarningCode;
use crate::hooks::{self, Hook};
use crate::journal::Event;

/// Runs a configured hook (if any) with its fields, through `/bin/sh -c` as
/// the original does, every field shell-quoted. A failing hook is an error
/// (exit code 7) but does not stop the run, as in the original.
pub fn run_hook(ctx: &mut Ctx<'_>, hook: Hook, fields: &[(&str, &str)]) {
    let Some(pattern) = ctx.config.hook(hook).map(str::to_string) else { return };
    let (line, secret) = match hooks::shell_line(&pattern, fields) {
        Ok(l) => l,
        Err(source) => return ctx.report.error(AppError::Hook { hook, source }),
    };
    tracing::debug!("Calling hook {hook}: {line}");
    let env: Vec<(&str, &str)> = secret.as_deref().map(|s| (hooks::PASSPHRASE_ENV, s)).into_iter().collect();
    match hooks::run_shell(&line, &env) {
        Ok(ran) => {
            if ran.exit_code == Some(0) && !ran.output.trim().is_empty() {
                tracing::info!("{}", ran.output.trim_end());
            }
            let program = hooks::program_of(&pattern);
            if let Err(e) = ctx.record(Event::HookRun { hook, program, exit_code: ran.exit_code }) {
                return ctx.report.error(e);
            }
            if ran.exit_code != Some(0) {
                ctx.report.error(AppError::HookFailed { hook, exit_code: ran.exit_code, output: ran.output });
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

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reloads each service used by a changed certificate once, through
/// `/bin/sh -c` as the original does; a failing reload, or one that printed
/// something, is a warning (code 105), as in the original.
pub fn reload_services(ctx: &mut Ctx<'_>, services: Services) {
    for service in services.0 {
        let Some(command) = ctx.config.services.get(&service).cloned() else { continue };
        tracing::debug!("Reloading service {service}");
        match hooks::run_shell(&command, &[]) {
            Ok(ran) => {
                let event = Event::ServiceReloaded {
                    service: service.clone(),
                    program: hooks::program_of(&command),
                    exit_code: ran.exit_code,
                };
                if let Err(e) = ctx.record(event) {
                    ctx.report.error(e);
                }
                let output = ran.output.trim_end();
                if ran.exit_code != Some(0) {
                    let message = format!("Service {service} reload failed, code: {:?}\n{output}", ran.exit_code);
                    ctx.report.warn(WarningCode::Service, message.trim_end());
                } else if !output.is_empty() {
                    ctx.report
                        .warn(WarningCode::Service, format!("Service {service} responded to reload with:\n{output}"));
                }
            }
            Err(e) => ctx.report.warn(WarningCode::Service, format!("service {service}: {e}")),
        }
    }
}
