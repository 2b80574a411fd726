//! The typed error of the core crate. Variants carry data, never a preformatted `String`
//! message; `Display` renders the primary message in PostgreSQL style (lowercase, no final
//! period, identifiers in double quotes), and [`CoreError::detail`] / [`CoreError::hint`]
//! give the DETAIL and HINT sentences.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error("invalid refresh mode \"{given}\"")]
    InvalidRefreshMode { given: String },

    #[error("invalid schedule \"{given}\"")]
    InvalidSchedule { given: String, reason: String },

    #[error("invalid status \"{given}\"")]
    InvalidStatus { given: String },

    #[error("column \"{name}\" specified more than once in the defining query")]
    DuplicateColumn { name: String },

    #[error("column name \"{name}\" is reserved for pg_trickle")]
    ReservedColumn { name: String },

    #[error("column \"{name}\" has pseudo-type {type_name}")]
    PseudoTypeColumn { name: String, type_name: String },

    #[error("the defining query returns no columns")]
    NoColumns,

    #[error("improper stream table name \"{given}\"")]
    InvalidName { given: String, reason: String },
}

impl CoreError {
    /// The DETAIL sentence for this error, if it has one.
    pub fn detail(&self) -> Option<String> {
        match self {
            CoreError::InvalidSchedule { reason, .. } | CoreError::InvalidName { reason, .. } => {
                Some(reason.clone())
            }
            CoreError::ReservedColumn { .. } => Some(format!(
                "Names starting with \"{}\" are used for pg_trickle's hidden columns.",
                crate::RESERVED_COLUMN_PREFIX
            )),
            _ => None,
        }
    }

    /// The HINT sentence for this error, if it has one.
    pub fn hint(&self) -> Option<String> {
        match self {
            CoreError::InvalidRefreshMode { .. } => {
                Some("Valid refresh modes are FULL, DIFFERENTIAL, AUTO and IMMEDIATE.".into())
            }
            CoreError::InvalidSchedule { .. } => Some(
                "Use a duration such as '30s', '5m', '1h30m' or '1d', a 5-field cron expression such as '*/5 * * * *', or 'calculated'."
                    .into(),
            ),
            CoreError::InvalidStatus { .. } => Some("Valid statuses are ACTIVE and SUSPENDED.".into()),
            CoreError::DuplicateColumn { .. } | CoreError::ReservedColumn { .. } => {
                Some("Give each output column a distinct name with AS.".into())
            }
            CoreError::PseudoTypeColumn { .. } => {
                Some("Cast the expression to a concrete type, for example with ::text.".into())
            }
            CoreError::NoColumns => Some("Select at least one column.".into()),
            CoreError::InvalidName { .. } => {
                Some("Use a name of the form name or schema.name; quote parts with double quotes.".into())
            }
        }
    }
}
