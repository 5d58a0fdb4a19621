//! Finding and reading the configuration: the search path, the document
//! format (JSON, or YAML read as PyYAML does: [`super::yaml`]), `conf.d/`
//! merged in, then validation by [`super::sections`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::check::{normalize, Ck};
use super::sections::Builder;
use super::{ConfigError, Loaded, Problem, CONFIG_FILE_NAME, SYSTEM_CONFIG_DIR};

/// Finds the configuration file: an absolute `arg` as is; otherwise `arg`
/// (default `acmebot`) in `cwd`, `/etc/acmebot`, then `exe_dir`. A name
/// without an extension is tried as `<name>.json`, `<name>.yaml` and
/// `<name>.yml` in each directory, as the original did (and a given name
/// then also as it is).
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
    let mut names = Vec::new();
    if expanded.extension().is_none() {
        for ext in CONFIG_EXTENSIONS {
            let mut with_ext = expanded.clone().into_os_string();
            with_ext.push(".");
            with_ext.push(ext);
            names.push(PathBuf::from(with_ext));
        }
    }
    // The bare name only when given: the default `acmebot` in the binary's
    // folder is the binary itself.
    if arg.is_some() || names.is_empty() {
        names.push(expanded.clone());
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

/// The extensions a configuration file is looked for with, in this order;
/// `conf.d/` merges files with any of them.
const CONFIG_EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// The document formats a configuration file may be written in, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format of a known extension.
    fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Format::Json),
            Some("yaml" | "yml") => Some(Format::Yaml),
            _ => None,
        }
    }

    /// The format a file is read in: as the original, anything but `.json`
    /// is YAML (JSON documents read as YAML the same).
    fn for_path(path: &Path) -> Format {
        Format::of(path).unwrap_or(Format::Yaml)
    }
}

/// Reads one document. `Value::Null` is an empty document (YAML with no
/// content, or JSON `null`).
fn read_document(path: &Path) -> Result<Value, ConfigError> {
    let text = fs_err::read_to_string(path)
        .map_err(|e| ConfigError::Read { path: path.to_path_buf(), message: e.to_string() })?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Value, ConfigError> {
    match Format::for_path(path) {
        Format::Json => parse_json(text, path),
        Format::Yaml => super::yaml::to_json(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            format: "YAML",
            message: e.message,
        }),
    }
}

fn parse_json(text: &str, path: &Path) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Parse { path: path.to_path_buf(), line: e.line(), column: e.column(), format: "JSON", message }
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

/// The files of `conf.d/` merged into a configuration, sorted by path: those
/// ending in `.json`, `.yaml` or `.yml`, hidden ones left out (the
/// original's `glob`).
fn conf_d_files(config_path: &Path) -> Vec<PathBuf> {
    let conf_d = config_path.parent().unwrap_or(Path::new(".")).join("conf.d");
    let Ok(entries) = std::fs::read_dir(&conf_d) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let hidden = p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
            !hidden && Format::of(p).is_some() && p.is_file()
        })
        .collect();
    files.sort();
    files
}

fn invalid(path: &Path, message: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem { json_path: String::new(), message: message.to_string() }],
    }
}

/// Loads, merges `conf.d/*.json`, `*.yaml` and `*.yml` next to it (as the
/// original does), validates and resolves a configuration file. An empty
/// `conf.d` document adds nothing; an empty main file is allowed only when
/// `conf.d` adds something (the original failed on both).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut root = read_document(path)?;
    let empty = root.is_null();
    if empty {
        root = Value::Object(Default::default());
    }
    let mut added = false;
    for p in conf_d_files(path) {
        match read_document(&p)? {
            Value::Null => {}
            v @ Value::Object(_) => {
                added = true;
                merge(&mut root, v);
            }
            _ => return Err(invalid(&p, "a conf.d file must hold a mapping (a JSON object) to merge")),
        }
    }
    if empty && !added {
        return Err(invalid(path, "the file is empty and no conf.d file adds to it: there is no configuration"));
    }
    build(root, path)
}

/// Validates and resolves configuration text as if read from `path` (tests,
/// fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub fn from_json_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    build(parse_json(text, path)?, path)
}

/// Like [`from_json_str`], in the format `path` names (YAML unless `.json`).
#[cfg(any(test, feature = "fuzzing"))]
pub fn from_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    build(parse(text, path)?, path)
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
