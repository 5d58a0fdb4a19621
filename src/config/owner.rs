//! `file_user` / `file_group` resolved to ids.

use super::ConfigError;
use crate::platform;

pub(super) fn resolve_user(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, true).map_err(|message| ConfigError::Owner { setting, name: name.to_string(), message })
}

pub(super) fn resolve_group(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, false).map_err(|message| ConfigError::Owner { setting, name: name.to_string(), message })
}

/// The system's id for the name; a numeric name that is not found is used as the id.
fn lookup_id(name: &str, user: bool) -> Result<u32, String> {
    let what = if user { "user" } else { "group" };
    match platform::lookup_id(name, user) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => name.parse::<u32>().map_err(|_| format!("no such {what} on this system")),
        Err(e) => Err(format!("cannot look up {what}: {e}")),
    }
}
