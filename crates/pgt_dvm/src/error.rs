//! The engine's error: a construct it cannot maintain incrementally, with the reason.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DvmError {
    /// The query uses `construct`, which cannot be maintained incrementally.
    #[error("{construct} is not supported for incremental maintenance")]
    Unsupported { construct: String, reason: String },
}

impl DvmError {
    pub fn unsupported(construct: impl Into<String>, reason: impl Into<String>) -> Self {
        DvmError::Unsupported {
            construct: construct.into(),
            reason: reason.into(),
        }
    }

    /// A one-line reason suitable for the catalog (`refresh_mode_reason`).
    pub fn reason_line(&self) -> String {
        match self {
            DvmError::Unsupported { construct, reason } => format!("{construct}: {reason}"),
        }
    }
}
