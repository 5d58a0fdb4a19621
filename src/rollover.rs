//! Whether a private key rolls over to its backup key, as the original
//! decides it: asked for (`--rollover`) or due (`auto_rollover` with the
//! oldest backup key at least `expiration_days` old), and safe: every backup
//! key older than `hpkp_days`, so clients that cached the pins have seen the
//! backup key's pin — unless `--force`. Pure: ages come in, a decision out.

/// What the caller knows of one private key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// `--rollover`
    pub requested: bool,
    /// `--force`
    pub force: bool,
    pub auto_rollover: bool,
    /// Keys supplied by the user (`key_provided`): never replaced here.
    pub key_provided: bool,
    pub expiration_days: Option<u32>,
    pub hpkp_days: Option<u32>,
    /// Age in whole days of the oldest and youngest backup key (from the
    /// journal), `None` when no backup key's age is known.
    pub oldest_backup_days: Option<i64>,
    pub youngest_backup_days: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Roll,
    /// Wanted, but a backup key is younger than `hpkp_days`, by this many days.
    Refused {
        younger_by_days: i64,
    },
    /// Past `expiration_days` and safe to roll, but nobody asked for it.
    Expired,
}

pub fn decide(i: &Input) -> Decision {
    let need = match (i.oldest_backup_days, i.expiration_days) {
        (Some(age), Some(days)) if days > 0 => i64::from(days) <= age,
        _ => false,
    };
    let unsafe_by = unsafe_by(i.youngest_backup_days, i.hpkp_days);
    let wanted = !i.key_provided && (i.requested || (i.auto_rollover && need));
    match (wanted, unsafe_by) {
        (true, None) => Decision::Roll,
        (true, Some(_)) if i.force => Decision::Roll,
        (true, Some(by)) => Decision::Refused { younger_by_days: by },
        (false, None) if need => Decision::Expired,
        _ => Decision::Keep,
    }
}

/// By how many days a rollover would come too early for HPKP: the youngest
/// backup key is not older than `hpkp_days`. `None` when it is safe.
pub fn unsafe_by(youngest_backup_days: Option<i64>, hpkp_days: Option<u32>) -> Option<i64> {
    match (youngest_backup_days, hpkp_days) {
        (Some(age), Some(days)) if days > 0 && i64::from(days) >= age => Some(i64::from(days) - age),
        _ => None,
    }
}

/// "1 day", "5 days" (the original's wording in its warnings).
pub fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            expiration_days: Some(730),
            hpkp_days: Some(60),
            oldest_backup_days: Some(10),
            youngest_backup_days: Some(10),
            ..Input::default()
        }
    }

    #[test]
    fn a_requested_rollover_waits_for_the_hpkp_window_unless_forced() {
        let young = Input { requested: true, ..input() };
        assert_eq!(decide(&young), Decision::Refused { younger_by_days: 50 });
        assert_eq!(decide(&Input { force: true, ..young }), Decision::Roll);
        // exactly hpkp_days old is still too young: the original wants hpkp_days < age
        let edge = Input { requested: true, oldest_backup_days: Some(60), youngest_backup_days: Some(60), ..input() };
        assert_eq!(decide(&edge), Decision::Refused { younger_by_days: 0 });
        let old = Input { requested: true, oldest_backup_days: Some(61), youngest_backup_days: Some(61), ..input() };
        assert_eq!(decide(&old), Decision::Roll);
        // HPKP off, or no known age: nothing to wait for
        assert_eq!(decide(&Input { hpkp_days: Some(0), ..young }), Decision::Roll);
        assert_eq!(decide(&Input { hpkp_days: None, ..young }), Decision::Roll);
        assert_eq!(decide(&Input { youngest_backup_days: None, ..young }), Decision::Roll);
        // the youngest backup key counts for safety
        let mixed = Input { requested: true, oldest_backup_days: Some(400), youngest_backup_days: Some(59), ..input() };
        assert_eq!(decide(&mixed), Decision::Refused { younger_by_days: 1 });
    }

    #[test]
    fn expiry_rolls_over_only_with_auto_rollover() {
        let expired = Input { oldest_backup_days: Some(730), youngest_backup_days: Some(730), ..input() };
        assert_eq!(decide(&expired), Decision::Expired);
        assert_eq!(decide(&Input { auto_rollover: true, ..expired }), Decision::Roll);
        assert_eq!(decide(&Input { auto_rollover: true, oldest_backup_days: Some(729), ..expired }), Decision::Keep);
        assert_eq!(decide(&Input { expiration_days: Some(0), auto_rollover: true, ..expired }), Decision::Keep);
        assert_eq!(decide(&Input { expiration_days: None, ..expired }), Decision::Keep);
        // auto rollover still honours the HPKP window (the oldest expired, the youngest is new)
        let young = Input { auto_rollover: true, youngest_backup_days: Some(3), ..expired };
        assert_eq!(decide(&young), Decision::Refused { younger_by_days: 57 });
        // expired and unsafe: no expiry warning either (the original's order)
        assert_eq!(decide(&Input { youngest_backup_days: Some(3), ..expired }), Decision::Keep);
    }

    #[test]
    fn provided_keys_are_never_rolled() {
        let i = Input { requested: true, force: true, key_provided: true, ..input() };
        assert_eq!(decide(&i), Decision::Keep);
        assert_eq!(days(1), "1 day");
        assert_eq!(days(5), "5 days");
    }
}
