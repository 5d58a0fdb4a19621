//! Commands and text patterns: `services`, `hooks`, `hpkp_headers`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Builder;
use crate::config::check::{as_opt_string, check_name, join, quoted_list};
use crate::config::model::HPKP_HEADER_FIELDS;
use crate::format;
use crate::hooks::Hook;

impl Builder<'_> {
    pub(super) fn services(&mut self, m: &Map<String, Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("services", name);
            if let Some(cmd) = as_opt_string(self.ck, &p, v) {
                out.insert(name.clone(), cmd);
            }
        }
        out
    }

    pub(super) fn hpkp_headers(&mut self, m: &Map<String, Value>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (server, v) in m {
            let p = join("hpkp_headers", server);
            let Some(pattern) = as_opt_string(self.ck, &p, v) else {
                continue;
            };
            if !check_name(self.ck, &p, "server", server) {
                continue;
            }
            if let Err(e) = format::check(&pattern, HPKP_HEADER_FIELDS) {
                self.ck.err(&p, e);
            }
            out.push((server.clone(), pattern));
        }
        out
    }

    pub(super) fn hooks(&mut self, m: &Map<String, Value>) -> BTreeMap<Hook, String> {
        let mut out = BTreeMap::new();
        for (name, v) in m {
            let p = join("hooks", name);
            let Some(hook) = Hook::parse(name) else {
                let names: Vec<&str> = Hook::ALL.iter().map(|h| h.name()).collect();
                self.ck.err(&p, format!("unknown hook {name:?}; use one of {}", quoted_list(&names)));
                continue;
            };
            let Some(pattern) = as_opt_string(self.ck, &p, v) else {
                continue;
            };
            if let Err(e) = format::check(&pattern, hook.fields()) {
                self.ck.err(&p, e);
            }
            out.insert(hook, pattern);
        }
        out
    }
}
