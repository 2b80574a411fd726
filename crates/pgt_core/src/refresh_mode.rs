//! Refresh modes. `FULL` recomputes the defining query; `DIFFERENTIAL` applies only the
//! change since the last refresh; `AUTO` picks DIFFERENTIAL when the query can be
//! maintained incrementally and FULL otherwise, recording why; `IMMEDIATE` maintains the
//! stream table incrementally inside every transaction that writes one of its sources.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshMode {
    Full,
    Differential,
    Auto,
    Immediate,
}

impl RefreshMode {
    /// Whether the mode requires incremental maintenance (the query must support it).
    pub fn requires_incremental(self) -> bool {
        matches!(self, RefreshMode::Differential | RefreshMode::Immediate)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RefreshMode::Full => "FULL",
            RefreshMode::Differential => "DIFFERENTIAL",
            RefreshMode::Auto => "AUTO",
            RefreshMode::Immediate => "IMMEDIATE",
        }
    }
}

impl fmt::Display for RefreshMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefreshMode {
    type Err = CoreError;

    /// Case-insensitive, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // No trimming: ' FULL ' is a typo, not a mode.
        match s.to_ascii_uppercase().as_str() {
            "FULL" => Ok(RefreshMode::Full),
            "DIFFERENTIAL" => Ok(RefreshMode::Differential),
            "AUTO" => Ok(RefreshMode::Auto),
            "IMMEDIATE" => Ok(RefreshMode::Immediate),
            _ => Err(CoreError::InvalidRefreshMode {
                given: s.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("full".parse::<RefreshMode>(), Ok(RefreshMode::Full));
        assert_eq!(
            "Differential".parse::<RefreshMode>(),
            Ok(RefreshMode::Differential)
        );
        assert_eq!("AUTO".parse::<RefreshMode>(), Ok(RefreshMode::Auto));
        assert_eq!(
            "immediate".parse::<RefreshMode>(),
            Ok(RefreshMode::Immediate)
        );
        assert!(RefreshMode::Immediate.requires_incremental());
        assert!(!RefreshMode::Auto.requires_incremental());
    }

    #[test]
    fn rejects_unknown() {
        for bad in [
            "",
            "incremental",
            "FULL;",
            "fu ll",
            " FULL",
            "AUTO ",
            "\tdifferential",
        ] {
            assert!(
                matches!(
                    bad.parse::<RefreshMode>(),
                    Err(CoreError::InvalidRefreshMode { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn round_trips() {
        for m in [
            RefreshMode::Full,
            RefreshMode::Differential,
            RefreshMode::Auto,
        ] {
            assert_eq!(m.as_str().parse::<RefreshMode>(), Ok(m));
        }
    }
}
