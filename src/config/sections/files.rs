//! Where files go: `directories`, `key_type_suffixes`, `file_names`.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{Builder, NULL};
use crate::config::check::{as_opt_string, join, resolve_path, warn_unknown};
use crate::config::model::{Dir, FileKind};
use crate::format;

impl Builder<'_> {
    pub(super) fn directories(&mut self, m: &Map<String, Value>) -> (Vec<Option<String>>, PathBuf) {
        let mut known: Vec<&str> = Dir::ALL.iter().map(|d| d.key()).collect();
        known.push("journal");
        warn_unknown(self.ck, "directories", m, &known, "key");
        let mut dirs = Vec::with_capacity(Dir::ALL.len());
        for kind in Dir::ALL {
            let p = join("directories", kind.key());
            let raw = as_opt_string(self.ck, &p, m.get(kind.key()).unwrap_or(&NULL));
            if let (Some(pattern), Some(fields)) = (&raw, kind.fields()) {
                if let Err(e) = format::check(pattern, fields) {
                    self.ck.err(&p, e);
                }
            }
            if raw.is_none() && kind == Dir::Resource {
                self.ck.err(&p, "must not be null: the account key, registration and journal are kept there");
            }
            dirs.push(raw.map(|s| resolve_path(&self.config_dir, &s).to_string_lossy().into_owned()));
        }
        let resource = PathBuf::from(dirs[Dir::Resource as usize].clone().unwrap_or_else(|| ".".into()));
        let journal = match as_opt_string(self.ck, "directories.journal", m.get("journal").unwrap_or(&NULL)) {
            Some(j) => resolve_path(&self.config_dir, &j),
            None => resource.join("journal.jsonl"),
        };
        (dirs, journal)
    }

    pub(super) fn key_type_suffixes(&mut self, m: &Map<String, Value>) -> [String; 2] {
        warn_unknown(self.ck, "key_type_suffixes", m, &["rsa", "ecdsa"], "key");
        let mut get = |k: &str| {
            let p = join("key_type_suffixes", k);
            let s = as_opt_string(self.ck, &p, m.get(k).unwrap_or(&NULL)).unwrap_or_default();
            if s.contains('/') || s.chars().any(|c| c.is_control()) {
                self.ck.err(&p, format!("{s:?} is not allowed; a suffix may not contain \"/\" or control characters"));
            }
            s
        };
        let rsa = get("rsa");
        let ecdsa = get("ecdsa");
        if rsa == ecdsa {
            self.ck.warn(format!(
                "key_type_suffixes.rsa and key_type_suffixes.ecdsa are both {rsa:?}: RSA and ECDSA files will overwrite each other unless file names use {{key_type}}"
            ));
        }
        [rsa, ecdsa]
    }

    pub(super) fn file_names(&mut self, m: &Map<String, Value>) -> Vec<Option<String>> {
        let known: Vec<&str> = FileKind::ALL.iter().map(|f| f.key()).collect();
        warn_unknown(self.ck, "file_names", m, &known, "key");
        FileKind::ALL
            .iter()
            .map(|kind| {
                let p = join("file_names", kind.key());
                let raw = as_opt_string(self.ck, &p, m.get(kind.key()).unwrap_or(&NULL));
                if let Some(pattern) = &raw {
                    if let Err(e) = format::check(pattern, kind.fields()) {
                        self.ck.err(&p, e);
                    }
                }
                raw
            })
            .collect()
    }
}
