//! Finding and reading the configuration: the search path, the document
//! format, `conf.d/` merged in, then validation by [`super::sections`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::check::{normalize, Ck};
use super::sections::Builder;
use super::{ConfigError, Loaded, Problem, CONFIG_FILE_NAME, SYSTEM_CONFIG_DIR};

/// Finds the configuration file: an absolute `arg` as is; otherwise `arg`
/// (default `acmebot.json`) in `cwd`, `/etc/acmebot`, then `exe_dir`.
pub fn locate(arg: Option<&str>, cwd: &Path, exe_dir: Option<&Path>) -> Result<PathBuf, ConfigError> {
    locate_in(arg, cwd, Path::new(SYSTEM_CONFIG_DIR), exe_dir)
}

/// [`locate`] with the system directory as a parameter.
pub fn locate_in(
    arg: Option<&str>,
    cwd: &Path,
    system_dir: &Path,
    exe_dir: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    let name = arg.unwrap_or(CONFIG_FILE_NAME);
    let expanded: PathBuf = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(name),
    };
    // Like the original, a name without an extension also matches `<name>.json`.
    let mut names = vec![expanded.clone()];
    if expanded.extension().is_none() {
        let mut with_ext = expanded.clone().into_os_string();
        with_ext.push(".json");
        names.push(PathBuf::from(with_ext));
    }
    let bases: Vec<&Path> = if expanded.is_absolute() {
        vec![Path::new("")]
    } else {
        let mut b = vec![cwd, system_dir];
        b.extend(exe_dir);
        b
    };
    let mut tried = Vec::new();
    for base in bases {
        for n in &names {
            let candidate = base.join(n);
            if candidate.is_file() {
                return Ok(candidate);
            }
            tried.push(candidate);
        }
    }
    Err(ConfigError::NotFound { name: name.to_string(), tried })
}

/// The document formats a configuration file may be written in, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads one document; a file without a known extension is read as JSON.
fn read_document(path: &Path) -> Result<Value, ConfigError> {
    let text = fs_err::read_to_string(path)
        .map_err(|e| ConfigError::Read { path: path.to_path_buf(), message: e.to_string() })?;
    match Format::of(path).unwrap_or(Format::Json) {
        Format::Json => parse_json(&text, path),
    }
}

fn parse_json(text: &str, path: &Path) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Parse { path: path.to_path_buf(), line: e.line(), column: e.column(), message }
    })
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}

/// Loads, merges `conf.d/*.json` next to it (as the original does), validates
/// and resolves a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut root = read_document(path)?;
    let conf_d = path.parent().unwrap_or(Path::new(".")).join("conf.d");
    if let Ok(entries) = std::fs::read_dir(&conf_d) {
        let mut extra: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| Format::of(p).is_some() && p.is_file())
            .collect();
        extra.sort();
        for p in extra {
            let v = read_document(&p)?;
            merge(&mut root, v);
        }
    }
    build(root, path)
}

/// Validates and resolves configuration text as if read from `path` (tests,
/// fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub fn from_json_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    build(parse_json(text, path)?, path)
}

fn build(root: Value, path: &Path) -> Result<Loaded, ConfigError> {
    let config_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let config_dir = if config_dir.is_absolute() {
        config_dir
    } else {
        std::env::current_dir().map(|cwd| normalize(&cwd.join(&config_dir))).unwrap_or(config_dir)
    };
    let mut ck = Ck::default();
    let config = Builder { ck: &mut ck, config_dir: config_dir.clone() }.build(root, path);
    let mut problems: Vec<Problem> = Vec::new();
    for p in ck.problems {
        if !problems.contains(&p) {
            problems.push(p);
        }
    }
    match config {
        Some(config) if problems.is_empty() => {
            let mut warnings = Vec::new();
            for w in ck.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            Ok(Loaded { config, warnings })
        }
        _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems }),
    }
}
