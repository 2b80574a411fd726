//! Schedules. A stream table's schedule says how fresh it must be kept:
//!
//! * a duration — `'30s'`, `'5m'`, `'1h'`, `'1d'`, `'1w'`, compounds like `'1h30m'` — the
//!   longest the data may lag behind its sources;
//! * a standard 5-field cron expression (`'*/5 * * * *'`, or a nickname like `'@hourly'`);
//! * `'calculated'` (or SQL NULL): "as often as the stream tables that read me need".
//!
//! Parsing is strict: a malformed schedule is an error, never a silent default.

use std::fmt;
use std::time::Duration;

use crate::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Refresh so the data is never older than this.
    Every(Duration),
    /// Refresh at the times a 5-field cron expression names (kept as written).
    Cron(String),
    /// Inherit the tightest schedule of the stream tables that read this one.
    Calculated,
}

impl Schedule {
    /// Parses the user's schedule text. `None` (SQL NULL) means [`Schedule::Calculated`].
    pub fn parse(text: Option<&str>) -> Result<Schedule, CoreError> {
        let Some(raw) = text else {
            return Ok(Schedule::Calculated);
        };
        let s = raw;
        let invalid = |reason: String| CoreError::InvalidSchedule {
            given: raw.to_string(),
            reason,
        };
        if s.trim().is_empty() {
            return Err(invalid("The schedule is empty.".into()));
        }
        if s.trim() != s {
            return Err(invalid(
                "It has leading or trailing blanks; write it without them.".into(),
            ));
        }
        if s.eq_ignore_ascii_case("calculated") {
            return Ok(Schedule::Calculated);
        }
        if s.starts_with('@') || s.split_whitespace().count() > 1 {
            let fields = s.split_whitespace().count();
            if !s.starts_with('@') && fields != 5 {
                return Err(invalid(format!(
                    "A cron expression needs exactly 5 fields (minute hour day-of-month month day-of-week), found {fields}."
                )));
            }
            return match croner::Cron::new(s).parse() {
                Ok(_) => Ok(Schedule::Cron(s.to_string())),
                Err(e) => Err(invalid(format!("The cron expression is not valid: {e}."))),
            };
        }
        parse_duration(s).map(Schedule::Every).map_err(invalid)
    }

    /// The period in seconds of a duration schedule.
    pub fn period_secs(&self) -> Option<u64> {
        match self {
            Schedule::Every(d) => Some(d.as_secs()),
            _ => None,
        }
    }

    /// When a stream table last refreshed at `last` (Unix seconds) is next due, in Unix
    /// seconds: for durations, the next boundary of its canonical period after `last` (see
    /// [`canonical_period`]); for cron expressions, the next cron time after `last` (UTC);
    /// None for calculated schedules (they follow their readers).
    pub fn next_due_after(&self, last: i64) -> Option<i64> {
        match self {
            Schedule::Every(d) => Some(next_boundary(last, canonical_period(d.as_secs()))),
            Schedule::Cron(expr) => {
                let cron = croner::Cron::new(expr).parse().ok()?;
                let start = chrono::DateTime::<chrono::Utc>::from_timestamp(last, 0)?;
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|t| t.timestamp())
            }
            Schedule::Calculated => None,
        }
    }

    /// Whether a stream table with this schedule, last refreshed at `last` (Unix seconds,
    /// None: never), is due at `now`. A calculated schedule is served with `effective`, the
    /// period its readers need (None: no reader with a schedule, never due once
    /// refreshed). Nothing is due less than `min_secs` after its last refresh
    /// (`pg_trickle.min_schedule_seconds`). The scheduler's rule, as a pure function so a
    /// sidecar's scheduler serves the same ticks (ADR-077).
    pub fn is_due(
        &self,
        last: Option<i64>,
        effective: Option<u64>,
        now: i64,
        min_secs: i64,
    ) -> bool {
        let Some(last) = last else { return true };
        let next = match self {
            Schedule::Calculated => effective.map(|p| next_boundary(last, canonical_period(p))),
            s => s.next_due_after(last),
        };
        next.is_some_and(|n| now >= n.max(last.saturating_add(min_secs)))
    }

    /// The canonical text stored in the catalog (`NULL` for calculated).
    pub fn to_catalog_text(&self) -> Option<String> {
        match self {
            Schedule::Calculated => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => f.write_str(&format_duration(*d)),
            Schedule::Cron(c) => f.write_str(c),
            Schedule::Calculated => f.write_str("calculated"),
        }
    }
}

/// The period a duration schedule is served with. Periods of 48 s and more are rounded down
/// to `48·2ⁿ` seconds (48 s, 96 s, 192 s, … 1 h 36 min 48 s·2ⁿ); shorter ones are kept. Refresh
/// times are boundaries (multiples since the Unix epoch) of that period. So stream tables
/// with related schedules refresh on shared ticks, to the same data timestamps, and never
/// later than their schedule asks.
pub fn canonical_period(period_secs: u64) -> u64 {
    if period_secs < 48 {
        return period_secs.max(1);
    }
    let mut c = 48u64;
    while c.saturating_mul(2) <= period_secs {
        c *= 2;
    }
    c
}

/// The first multiple of `period` strictly after `t`.
pub fn next_boundary(t: i64, period: u64) -> i64 {
    // Saturating: no schedule may make the scheduler's arithmetic overflow.
    let p = i64::try_from(period.max(1)).unwrap_or(i64::MAX);
    t.div_euclid(p).saturating_add(1).saturating_mul(p)
}

const UNITS: [(char, u64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// The longest duration schedule: 365 days. Longer periods are almost certainly mistakes
/// (or overflow attempts), and they would not fit the scheduler's time arithmetic safely.
pub const MAX_DURATION_SECS: u64 = 365 * 86_400;

/// Parses `<number><unit>` groups (units w, d, h, m, s; each at most once, largest first).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total: u64 = 0;
    let mut last_unit_rank: Option<usize> = None;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        // Units are lower case only: an upper-case "M" reads as "month" to many people.
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == ch) else {
            return Err(format!(
                "\"{ch}\" is not a duration unit; use s, m, h, d or w (lower case)."
            ));
        };
        if digits.is_empty() {
            return Err(format!("The unit \"{ch}\" has no number before it."));
        }
        if let Some(prev) = last_unit_rank {
            if rank <= prev {
                return Err(
                    "Duration units must appear at most once, largest first (as in '1h30m')."
                        .into(),
                );
            }
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| "The number is too large.".to_string())?;
        total = n
            .checked_mul(UNITS[rank].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "The duration is too large.".to_string())?;
        digits.clear();
        last_unit_rank = Some(rank);
    }
    if !digits.is_empty() {
        return Err("A number needs a unit (s, m, h, d or w), as in '30s'.".into());
    }
    if total == 0 {
        return Err("The duration must be positive.".into());
    }
    if total > MAX_DURATION_SECS {
        return Err(format!(
            "The duration is longer than the maximum of {} (365 days); use a cron expression for rarer refreshes.",
            format_duration(Duration::from_secs(MAX_DURATION_SECS))
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a whole-second duration in the same unit syntax, largest units first.
fn format_duration(d: Duration) -> String {
    let mut rest = d.as_secs();
    let mut out = String::new();
    for (unit, secs) in UNITS {
        if rest >= secs {
            out.push_str(&format!("{}{}", rest / secs, unit));
            rest %= secs;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: &str) -> u64 {
        match Schedule::parse(Some(s)).unwrap() {
            Schedule::Every(d) => d.as_secs(),
            other => panic!("{s} parsed as {other:?}"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("5m"), 300);
        assert_eq!(secs("1h"), 3600);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("1w"), 604_800);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("2d3h"), 2 * 86_400 + 3 * 3600);
        assert_eq!(secs("365d"), MAX_DURATION_SECS);
        assert_eq!(secs("90s"), 90);
    }

    #[test]
    fn boundaries_never_overflow() {
        assert_eq!(next_boundary(i64::MAX - 1, 10), i64::MAX);
        assert!(next_boundary(0, u64::MAX) > 0);
        assert!(Schedule::Every(Duration::from_secs(MAX_DURATION_SECS))
            .next_due_after(4_000_000_000)
            .is_some());
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "   ",
            "0s",
            "5",
            "m",
            "5x",
            "1m1h",
            "1h1h",
            "-5m",
            "1.5h",
            "5 m",
            "99999999999999999999s",
            "1h 30m",
            // Blanks around, upper-case units, overflow and absurd lengths.
            " 5m",
            "5m ",
            "\t5m",
            "5M",
            "2D3H",
            "9223372036854775807s",
            "2147483648s",
            "4294967296m",
            "99999999w",
            "366d",
            "53w",
        ] {
            assert!(
                matches!(
                    Schedule::parse(Some(bad)),
                    Err(CoreError::InvalidSchedule { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn cron() {
        assert_eq!(
            Schedule::parse(Some("*/5 * * * *")),
            Ok(Schedule::Cron("*/5 * * * *".into()))
        );
        assert_eq!(
            Schedule::parse(Some("0 3 * * 1-5")),
            Ok(Schedule::Cron("0 3 * * 1-5".into()))
        );
        assert!(matches!(
            Schedule::parse(Some("@hourly")),
            Ok(Schedule::Cron(_))
        ));
        for bad in [
            "61 * * * *",
            "* * * *",
            "0 0 * * * *",
            "a b c d e",
            "@sometimes",
        ] {
            assert!(
                Schedule::parse(Some(bad)).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn calculated() {
        assert_eq!(Schedule::parse(None), Ok(Schedule::Calculated));
        assert_eq!(
            Schedule::parse(Some("CALCULATED")),
            Ok(Schedule::Calculated)
        );
        assert_eq!(Schedule::Calculated.to_catalog_text(), None);
    }

    #[test]
    fn next_due() {
        // 30 s boundaries: 1000 → 1020; canonical periods for long schedules.
        assert_eq!(
            Schedule::parse(Some("30s")).unwrap().next_due_after(1000),
            Some(1020)
        );
        assert_eq!(canonical_period(30), 30);
        assert_eq!(canonical_period(60), 48);
        assert_eq!(canonical_period(300), 192);
        assert_eq!(canonical_period(3600), 3072);
        assert_eq!(
            Schedule::parse(Some("5m")).unwrap().next_due_after(1000),
            Some(1152)
        );
        // 2026-01-01 00:00:00 UTC is 1767225600; "*/5 * * * *" fires at 00:05.
        assert_eq!(
            Schedule::parse(Some("*/5 * * * *"))
                .unwrap()
                .next_due_after(1_767_225_600),
            Some(1_767_225_900)
        );
        assert_eq!(
            Schedule::parse(Some("*/5 * * * *"))
                .unwrap()
                .next_due_after(1_767_225_601),
            Some(1_767_225_900)
        );
        assert_eq!(Schedule::Calculated.next_due_after(5), None);
    }

    proptest! {
        #[test]
        fn canonical_never_later_than_asked(p in 1u64..10_000_000, last in 0i64..4_000_000_000) {
            let c = canonical_period(p);
            prop_assert!(c <= p.max(1));
            prop_assert!(p < 48 || c * 2 > p, "the largest 48·2ⁿ not above the period");
            let next = next_boundary(last, c);
            prop_assert!(next > last && next - last <= c as i64);
        }

        #[test]
        fn duration_display_round_trips(n in 1u64..10_000_000) {
            let s = Schedule::Every(Duration::from_secs(n));
            prop_assert_eq!(Schedule::parse(Some(&s.to_string())).unwrap(), s);
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = Schedule::parse(Some(&s));
        }
    }

    #[test]
    fn due_follows_boundaries_calculated_periods_and_the_minimum() {
        let every = Schedule::parse(Some("1m")).unwrap();
        // Never refreshed: due at once.
        assert!(every.is_due(None, None, 0, 60));
        // 60 s is served on 48 s boundaries: last at 100 → next boundary 144.
        assert!(!every.is_due(Some(100), None, 143, 1));
        assert!(every.is_due(Some(100), None, 144, 1));
        // The minimum gap wins over an earlier boundary.
        assert!(!every.is_due(Some(100), None, 144, 60));
        assert!(every.is_due(Some(100), None, 160, 60));
        // Calculated: its readers' period, or never.
        let calc = Schedule::Calculated;
        assert!(!calc.is_due(Some(100), None, 10_000, 1));
        assert!(calc.is_due(Some(100), Some(10), 110, 1));
        assert!(!calc.is_due(Some(100), Some(10), 109, 1));
        // Cron: the next cron time after the last refresh.
        let cron = Schedule::parse(Some("*/5 * * * *")).unwrap();
        assert!(!cron.is_due(Some(0), None, 299, 1));
        assert!(cron.is_due(Some(0), None, 300, 1));
    }
}
