//! The defaults, as data: `defaults.json` (every section's defaults, as the
//! original's `acmebot.example.json` documents them) and the CT log list
//! kept in `vendor/ct-logs.json` with its provenance.

use serde_json::{Map, Value};

const DEFAULTS: &str = include_str!("defaults.json");
const CT_LOGS: &str = include_str!("../../vendor/ct-logs.json");

/// Every defaulted section, `ct_logs` included.
pub(super) fn defaults() -> Map<String, Value> {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(DEFAULTS) else {
        unreachable!("defaults.json is a JSON object (checked by a unit test)");
    };
    let logs = serde_json::from_str::<Value>(CT_LOGS).ok().and_then(|v| v.get("logs").cloned());
    m.insert("ct_logs".into(), logs.unwrap_or_else(|| Value::Object(Map::new())));
    m
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
}
