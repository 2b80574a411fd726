//! The lifecycle status of a stream table, as stored in `pgt_stream_tables.status`.
//! `ACTIVE` tables are refreshed; `SUSPENDED` ones are skipped by automatic refresh until
//! resumed; `ERROR` marks a stream table that cannot be refreshed until its cause is fixed.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamTableStatus {
    Active,
    Suspended,
    Error,
}

impl StreamTableStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamTableStatus::Active => "ACTIVE",
            StreamTableStatus::Suspended => "SUSPENDED",
            StreamTableStatus::Error => "ERROR",
        }
    }

    /// Parses a status a user may set through `alter_stream_table` (ERROR is set only by
    /// pg_trickle itself).
    pub fn parse_user_settable(s: &str) -> Result<Self, CoreError> {
        match s.parse::<StreamTableStatus>()? {
            StreamTableStatus::Error => Err(CoreError::InvalidStatus {
                given: s.to_string(),
            }),
            st => Ok(st),
        }
    }
}

impl fmt::Display for StreamTableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StreamTableStatus {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ACTIVE" => Ok(StreamTableStatus::Active),
            "SUSPENDED" => Ok(StreamTableStatus::Suspended),
            "ERROR" => Ok(StreamTableStatus::Error),
            _ => Err(CoreError::InvalidStatus {
                given: s.to_string(),
            }),
        }
    }
}

/// What an automatic refresh that failed does to its stream table (the scheduler's error
/// accounting, decided without PostgreSQL; ADR-077). A refresh skipped because its locks
/// were not available in time is not a failure and never comes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterFailure {
    /// The new `consecutive_errors`.
    pub consecutive_errors: i32,
    /// `Some(reason)`: the stream table becomes SUSPENDED with this status reason.
    pub suspend: Option<String>,
}

/// The error accounting of a failed automatic refresh: one more error in a row; at
/// `max_errors` (`pg_trickle.max_consecutive_errors`) the stream table is suspended, with
/// the count and the last error as the reason. A success resets the count (elsewhere:
/// recording a completed refresh sets it to 0).
pub fn after_failure(consecutive_errors: i32, max_errors: i32, error: &str) -> AfterFailure {
    let n = consecutive_errors.max(0).saturating_add(1);
    AfterFailure {
        consecutive_errors: n,
        suspend: (n >= max_errors.max(1)).then(|| {
            format!("suspended after {n} consecutive failed refreshes; last error: {error}")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settable() {
        assert_eq!(
            StreamTableStatus::parse_user_settable("active"),
            Ok(StreamTableStatus::Active)
        );
        assert_eq!(
            StreamTableStatus::parse_user_settable("Suspended"),
            Ok(StreamTableStatus::Suspended)
        );
        assert!(StreamTableStatus::parse_user_settable("error").is_err());
        assert!(StreamTableStatus::parse_user_settable("paused").is_err());
    }

    #[test]
    fn failures_count_up_to_a_suspension() {
        let a = after_failure(0, 3, "boom");
        assert_eq!(
            a,
            AfterFailure {
                consecutive_errors: 1,
                suspend: None
            }
        );
        assert_eq!(after_failure(1, 3, "boom").suspend, None);
        assert_eq!(
            after_failure(2, 3, "division by zero").suspend.as_deref(),
            Some("suspended after 3 consecutive failed refreshes; last error: division by zero")
        );
        // Already past the limit (the setting was lowered): suspended at once.
        assert!(after_failure(7, 3, "x").suspend.is_some());
        // A limit of 1 (the setting's minimum) suspends on the first failure; nonsense
        // values cannot make the count overflow or never suspend.
        assert!(after_failure(0, 1, "x").suspend.is_some());
        assert!(after_failure(0, 0, "x").suspend.is_some());
        assert_eq!(after_failure(i32::MAX, 5, "x").consecutive_errors, i32::MAX);
        assert_eq!(after_failure(-4, 5, "x").consecutive_errors, 1);
    }
}
