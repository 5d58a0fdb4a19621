//! Configuration errors: every problem with its JSON path.

use std::fmt;
use std::path::PathBuf;

use crate::format::FormatError;

/// One validation problem: where in the JSON document, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub json_path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.json_path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.json_path, self.message)
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    /// No configuration file in any of the searched places.
    NotFound { name: String, tried: Vec<PathBuf> },
    /// The file exists but could not be read.
    Read { path: PathBuf, message: String },
    /// The file is not valid JSON or YAML (`format`); line and column from 1.
    Parse { path: PathBuf, line: usize, column: usize, format: &'static str, message: String },
    /// The document is well formed but the configuration is not valid.
    Invalid { path: PathBuf, problems: Vec<Problem> },
    /// A pattern could not be rendered at run time.
    Pattern { json_path: String, error: FormatError },
    /// `file_user`/`file_group` (or the log equivalents) do not resolve.
    Owner { setting: &'static str, name: String, message: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { name, tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(f, "configuration file {name} not found (tried: {})", tried.join(", "))
            }
            ConfigError::Read { path, message } => {
                write!(f, "{}: cannot read: {message}", path.display())
            }
            ConfigError::Parse { path, line, column, format, message } => {
                write!(f, "{}:{line}:{column}: invalid {format}: {message}", path.display())
            }
            ConfigError::Invalid { path, problems } => {
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}: {problem}", path.display())?;
                }
                Ok(())
            }
            ConfigError::Pattern { json_path, error } => write!(f, "{json_path}: {error}"),
            ConfigError::Owner { setting, name, message } => write!(f, "settings.{setting}: {name:?}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}
