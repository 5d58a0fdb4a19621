//! UTC time without a calendar crate, and the clock of a run.
//!
//! Two representations: [`Timestamp`] (whole seconds since the epoch) for the
//! pure decisions (renewal windows, key ages, CT shards), and [`Time`]
//! (microseconds) for the journal, whose lines carry when they were written to
//! the sub-second. Nothing reads the system time except [`SystemClock`]; a run
//! gets one [`Clock`] from [`process_clock`] and passes it down.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

pub const DAY: i64 = 86_400;

/// An instant to the microsecond, UTC. Serialized as RFC 3339: whole seconds
/// without a fraction (so certificate times and old journal lines keep their
/// form), otherwise with six fraction digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

impl Time {
    pub const EPOCH: Time = Time(0);

    pub fn from_secs(secs: Timestamp) -> Time {
        Time(secs.saturating_mul(1_000_000))
    }

    pub fn from_micros(micros: i64) -> Time {
        Time(micros)
    }

    /// Whole seconds (rounded down).
    pub fn secs(self) -> Timestamp {
        self.0.div_euclid(1_000_000)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn plus_secs(self, secs: i64) -> Time {
        Time(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }

    /// RFC 3339 with six fraction digits always (the journal's `ts`).
    pub fn rfc3339_micros(self) -> String {
        format!("{}.{:06}Z", &rfc3339(self.secs())[..19], self.0.rem_euclid(1_000_000))
    }

    pub fn parse(s: &str) -> Option<Time> {
        parse_rfc3339_micros(s).map(Time)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.rem_euclid(1_000_000) == 0 {
            f.write_str(&rfc3339(self.secs()))
        } else {
            f.write_str(&self.rfc3339_micros())
        }
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Time::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an RFC 3339 time")))
    }
}

/// When this binary was built (`build.rs`): no correct clock is earlier.
pub fn build_time() -> Time {
    Time::from_secs(env!("ACMEBOT_BUILD_TIME").parse().unwrap_or(0))
}

/// Where a run gets the time from and how it waits: the system clock in
/// production, a shifted one in end-to-end tests (`test-clock` feature), a
/// manual one in unit tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
    fn sleep(&self, d: Duration);
}

/// Clocks live for the whole process.
pub type ClockRef = &'static dyn Clock;

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Time(d.as_micros() as i64),
            Err(e) => Time(-(e.duration().as_micros() as i64)),
        }
    }
    fn sleep(&self, d: Duration) {
        sleep_unless_stopped(d)
    }
}

/// Sleeps for `d`, in short slices, and returns early when a signal asked
/// the run to stop (the caller sees `platform::stop_requested`).
fn sleep_unless_stopped(d: Duration) {
    let end = std::time::Instant::now() + d;
    while crate::platform::stop_requested().is_none() {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}

/// The system clock shifted by a fixed offset (`ACMEBOT_TEST_CLOCK`, only with
/// the `test-clock` feature): the real binary can run "100 days later".
#[cfg(feature = "test-clock")]
pub struct OffsetClock {
    pub offset_micros: i64,
}

#[cfg(feature = "test-clock")]
impl Clock for OffsetClock {
    fn now(&self) -> Time {
        Time(SystemClock.now().0 + self.offset_micros)
    }
    fn sleep(&self, d: Duration) {
        sleep_unless_stopped(d)
    }
}

/// Parses a test clock offset: `+100d`, `-2h`, `+90s`, or `@<RFC 3339>` (the
/// clock starts at that instant and runs on).
#[cfg(feature = "test-clock")]
pub fn parse_clock_offset(spec: &str, real_now: Time) -> Option<i64> {
    if let Some(at) = spec.strip_prefix('@') {
        return Time::parse(at).map(|t| t.0 - real_now.0);
    }
    let (sign, rest) = match spec.as_bytes().first()? {
        b'+' => (1, &spec[1..]),
        b'-' => (-1, &spec[1..]),
        _ => (1, spec),
    };
    let unit = match rest.chars().last()? {
        'd' => DAY,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    let n: i64 = rest[..rest.len() - 1].parse().ok()?;
    Some(sign * n * unit * 1_000_000)
}

/// The clock of this process: the system clock, or with the `test-clock`
/// feature and `ACMEBOT_TEST_CLOCK` set, the system clock shifted by it.
pub fn process_clock() -> Result<ClockRef, String> {
    #[cfg(feature = "test-clock")]
    if let Some(spec) = std::env::var("ACMEBOT_TEST_CLOCK").ok().filter(|s| !s.is_empty()) {
        let offset = parse_clock_offset(&spec, SystemClock.now())
            .ok_or_else(|| format!("ACMEBOT_TEST_CLOCK={spec:?}: use +100d, -2h, +90s or @2027-03-01T00:00:00Z"))?;
        return Ok(Box::leak(Box::new(OffsetClock { offset_micros: offset })));
    }
    Ok(&SystemClock)
}

/// A clock that only moves when told to, or when slept on (unit tests).
#[cfg(test)]
pub struct ManualClock(std::sync::Mutex<Time>);

#[cfg(test)]
impl ManualClock {
    pub fn at(t: Time) -> ClockRef {
        Box::leak(Box::new(ManualClock(std::sync::Mutex::new(t))))
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.0.lock().unwrap()
    }
    fn sleep(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t = Time(t.0 + d.as_micros() as i64);
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time: (year, month, day, hour, minute, second).
pub fn to_civil(t: Timestamp) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, (secs / 3600) as u32, ((secs % 3600) / 60) as u32, (secs % 60) as u32)
}

/// RFC 3339 UTC, second precision: `2026-11-29T16:02:26Z`.
pub fn rfc3339(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = to_civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The archive folder name the original uses: `YYYY_MM_DD_HHMMSS`.
pub fn archive_stamp(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = to_civil(t);
    format!("{y:04}_{mo:02}_{d:02}_{h:02}{mi:02}{s:02}")
}

/// Parses RFC 3339 (`Z` or `±hh:mm` offset, optional fraction, which is dropped).
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    parse_rfc3339_micros(s).map(|m| m.div_euclid(1_000_000))
}

/// Parses RFC 3339 to microseconds (fraction digits beyond six are dropped).
fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        for (i, c) in r[..n].bytes().take(6).enumerate() {
            micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let at = s.len() - 6;
            let (oh, om) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * DAY + h * 3600 + mi * 60 + se - offset;
    Some(secs * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_968_146), "2026-11-29T16:02:26Z");
        assert_eq!(parse_rfc3339("2026-11-29T16:02:26Z"), Some(1_795_968_146));
        assert_eq!(parse_rfc3339("2026-11-29T17:02:26.123+01:00"), Some(1_795_968_146));
        assert_eq!(archive_stamp(1_795_968_146), "2026_11_29_160226");
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z").map(rfc3339).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-+1-01T00:00:00Z"), None);
    }

    #[test]
    fn times_keep_microseconds_and_print_seconds_when_whole() {
        let t = Time::parse("2026-11-29T16:02:26.123456Z").unwrap();
        assert_eq!(t.secs(), 1_795_968_146);
        assert_eq!(t.micros() % 1_000_000, 123_456);
        assert_eq!(t.to_string(), "2026-11-29T16:02:26.123456Z");
        assert_eq!(Time::parse("2026-11-29T16:02:26.1Z").unwrap().to_string(), "2026-11-29T16:02:26.100000Z");
        assert_eq!(Time::parse("2026-11-29T16:02:26.1234567Z").unwrap().micros() % 1_000_000, 123_456);
        let whole = Time::from_secs(1_795_968_146);
        assert_eq!(whole.to_string(), "2026-11-29T16:02:26Z");
        assert_eq!(whole.rfc3339_micros(), "2026-11-29T16:02:26.000000Z");
        assert_eq!(serde_json::to_string(&whole).unwrap(), "\"2026-11-29T16:02:26Z\"");
        assert_eq!(
            serde_json::from_str::<Time>("\"2026-11-29T16:02:26.5Z\"").unwrap(),
            Time::from_micros(whole.micros() + 500_000)
        );
        assert!(serde_json::from_str::<Time>("\"yesterday\"").is_err());
        assert!(
            Time::from_micros(-1).secs() == -1
                && Time::from_micros(-1).to_string().starts_with("1969-12-31T23:59:59.999999")
        );
    }

    #[cfg(feature = "test-clock")]
    #[test]
    fn test_clock_offsets() {
        let now = Time::from_secs(1_000_000);
        assert_eq!(parse_clock_offset("+100d", now), Some(100 * DAY * 1_000_000));
        assert_eq!(parse_clock_offset("-2h", now), Some(-7200 * 1_000_000));
        assert_eq!(parse_clock_offset("90s", now), Some(90 * 1_000_000));
        assert_eq!(
            parse_clock_offset("@1970-01-12T13:46:41Z", now),
            Some(1_000_001 * 1_000_000 - 1_000_000 * 1_000_000)
        );
        assert_eq!(parse_clock_offset("soon", now), None);
    }

    #[test]
    fn a_manual_clock_moves_when_slept_on() {
        let c = ManualClock::at(Time::from_secs(100));
        c.sleep(Duration::from_millis(1500));
        assert_eq!(c.now(), Time::from_micros(101_500_000));
    }
}
