//! `file_user` / `file_group` and `log_user` / `log_group` resolved to ids.
//!
//! As in the original, a user or group that does not exist on this system
//! (there is no `ssl-cert` group on OpenWrt, Alpine or Fedora, no `adm` on
//! OpenWrt) leaves files with the running user's id; the configuration load
//! says so in a warning ([`missing_owners`]).

use super::ConfigError;
use crate::platform;

/// The uid for `name`: the system's, a number, or the running user's when
/// there is no such user.
pub(super) fn resolve_user(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, true).map(|id| id.unwrap_or_else(platform::euid)).map_err(|message| ConfigError::Owner {
        setting,
        name: name.to_string(),
        message,
    })
}

/// The gid for `name`: the system's, a number, or the running user's group
/// when there is no such group.
pub(super) fn resolve_group(setting: &'static str, name: &str) -> Result<u32, ConfigError> {
    lookup_id(name, false).map(|id| id.unwrap_or_else(platform::egid)).map_err(|message| ConfigError::Owner {
        setting,
        name: name.to_string(),
        message,
    })
}

/// A warning for each owner setting naming a user or group this system does
/// not have.
pub(super) fn missing_owners(settings: &[(&str, &str, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(setting, name, user) in settings {
        if let Ok(None) = lookup_id(name, user) {
            let what = if user { "user" } else { "group" };
            out.push(format!(
                "settings.{setting}: there is no {what} {name:?} on this system; files keep the running {what}'s id"
            ));
        }
    }
    out
}

/// The system's id for the name (a number that is no name is used as the id);
/// `Ok(None)` when there is no such name.
fn lookup_id(name: &str, user: bool) -> Result<Option<u32>, String> {
    let what = if user { "user" } else { "group" };
    match platform::lookup_id(name, user) {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => Ok(name.parse::<u32>().ok()),
        Err(e) => Err(format!("cannot look up {what}: {e}")),
    }
}
