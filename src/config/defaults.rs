//! The defaults, as data: `defaults.json` (every section's defaults, as the
//! original's `acmebot.example.json` documents them), the CT log list
//! `vendor/ct/log_list.json` (the schema of the public v3 list, turned into
//! the `ct_logs` section by [`crate::ct::ct_logs_from_list`]) and
//! `vendor/ct-logs.json` (the default `ct_submit_logs` and the retired log
//! names), each with its provenance in `vendor/README.md`.

use serde_json::{Map, Value};

const DEFAULTS: &str = include_str!("defaults.json");
const CT_LOGS: &str = include_str!("../../vendor/ct-logs.json");
const CT_LOG_LIST: &str = include_str!("../../vendor/ct/log_list.json");

/// Every defaulted section, `ct_logs` included.
pub(super) fn defaults() -> Map<String, Value> {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(DEFAULTS) else {
        unreachable!("defaults.json is a JSON object (checked by a unit test)");
    };
    m.insert("ct_logs".into(), Value::Object(default_ct_logs().clone()));
    m
}

/// The `ct_logs` section built from the vendored log list, once per process.
/// A log with one shard and no interval is one object rather than a list of
/// one, as the original wrote its unsharded logs (and as
/// `acmebot.example.json` shows them).
fn default_ct_logs() -> &'static Map<String, Value> {
    static LOGS: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let mut logs = crate::ct::ct_logs_from_list(CT_LOG_LIST).unwrap_or_default();
        for shards in logs.values_mut() {
            if let Value::Array(list) = shards {
                if let [only] = list.as_slice() {
                    if only.get("start").is_none() && only.get("end").is_none() {
                        *shards = only.clone();
                    }
                }
            }
        }
        logs
    })
}

/// Names of certificate transparency logs that are shut down but that the
/// original's manual and earlier defaults used (`google_icarus`, ...).
/// Read from the data once per process: every certificate's
/// `ct_submit_logs` is checked against it.
pub(super) fn retired_ct_logs() -> &'static [String] {
    static RETIRED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    RETIRED.get_or_init(|| {
        let list = serde_json::from_str::<Value>(CT_LOGS).ok().and_then(|v| v.get("retired").cloned());
        match list {
            Some(Value::Array(names)) => names.into_iter().filter_map(|n| n.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_files_read() {
        let d = defaults();
        assert!(d["settings"].is_object() && d["directories"].is_object());
        // The vendored list converts whole: every log of it is usable.
        assert!(crate::ct::ct_logs_from_list(CT_LOG_LIST).is_ok());
        let logs = d["ct_logs"].as_object().unwrap();
        assert!(logs.contains_key("google_argon") && logs.len() > 5, "{:?}", logs.keys().collect::<Vec<_>>());
        let vendor: Value = serde_json::from_str(CT_LOGS).unwrap();
        for name in vendor["default_submit_logs"].as_array().unwrap() {
            assert!(logs.contains_key(name.as_str().unwrap()));
        }
        assert_eq!(d["settings"]["ct_submit_logs"], vendor["default_submit_logs"]);
        let retired = retired_ct_logs();
        assert!(retired.iter().any(|n| n == "google_icarus") && retired.iter().all(|n| !logs.contains_key(n)));
    }

    /// The names and shards the original's defaults had (the `ct_logs` of
    /// `vendor/ct-logs.json` before the log list replaced it, as
    /// `acmebot.example.json` still shows them): the list converted from them
    /// reproduces them.
    #[test]
    fn the_list_gives_the_originals_ct_logs() {
        let list: Value = serde_json::from_str(CT_LOG_LIST).unwrap();
        if !list["version"].as_str().unwrap().starts_with("acmebot-converted") {
            return; // refreshed from the public list by vendor/update-ct-logs
        }
        let example: Value = serde_json::from_str(include_str!("../../acmebot.example.json")).unwrap();
        let logs = &defaults()["ct_logs"];
        assert_eq!(logs, &example["ct_logs"]);
        let names: Vec<&String> = logs.as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            [
                "google_argon",
                "google_xenon",
                "cloudflare_nimbus",
                "digicert_log_server",
                "digicert_log_server_2",
                "digicert_yeti",
                "digicert_nessie",
                "digicert_sphinx",
                "digicert_wyvern",
                "sectigo_sabre",
                "sectigo_mammoth",
                "sectigo_elephant",
                "sectigo_tiger",
                "lets_encrypt_oak",
                "lets_encrypt_sycamore",
                "lets_encrypt_willow"
            ]
        );
        let shards: usize = logs.as_object().unwrap().values().map(|v| v.as_array().map_or(1, Vec::len)).sum();
        assert_eq!(shards, 53);
        assert!(logs["digicert_log_server"].is_object(), "an unsharded log is one object");
        assert_eq!(logs["lets_encrypt_sycamore"][0]["url"], "https://log.sycamore.ct.letsencrypt.org/2025h2d/");
    }
}
