//! The `account` section: contact and External Account Binding.

use serde_json::{Map, Value};

use super::{Builder, NULL};
use crate::config::check::{as_opt_string, warn_unknown};
use crate::config::model::Account;

impl Builder<'_> {
    pub(super) fn account(&mut self, m: &Map<String, Value>) -> Account {
        warn_unknown(self.ck, "account", m, &["email", "eab_kid", "eab_hmac_key", "eab_algorithm", "key_type"], "key");
        let get = |k: &str| m.get(k).unwrap_or(&NULL);
        let email = as_opt_string(self.ck, "account.email", get("email"));
        if let Some(e) = &email {
            if e.starts_with('<') && e.ends_with('>') {
                self.ck.warn(format!(
                    "account.email: {e:?} is a placeholder; replace it with your address, without the angle brackets"
                ));
            } else if !e.contains('@') {
                self.ck.err("account.email", format!("{e:?} is not an email address"));
            }
        }
        let eab_kid = as_opt_string(self.ck, "account.eab_kid", get("eab_kid"));
        let eab_hmac_key = match get("eab_hmac_key") {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                self.ck.err("account.eab_hmac_key", "this value is not allowed; use a base64url string or null");
                None
            }
        };
        if eab_kid.is_some() != eab_hmac_key.is_some() {
            self.ck.err("account", "eab_kid and eab_hmac_key must be given together");
        }
        let eab_algorithm = match as_opt_string(self.ck, "account.eab_algorithm", get("eab_algorithm")) {
            None => "HS256".to_string(),
            Some(a) if ["HS256", "HS384", "HS512"].contains(&a.as_str()) => a,
            Some(a) => {
                self.ck.err(
                    "account.eab_algorithm",
                    format!("{a:?} is not allowed; use one of \"HS256\", \"HS384\", \"HS512\""),
                );
                "HS256".to_string()
            }
        };
        let key_type = as_opt_string(self.ck, "account.key_type", get("key_type"));
        Account { email, eab_kid, eab_hmac_key, eab_algorithm, key_type }
    }
}
