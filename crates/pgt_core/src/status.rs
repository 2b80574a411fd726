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
}
