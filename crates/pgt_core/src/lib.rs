//! # pgt_core
//!
//! The vocabulary every part of pg_trickle shares, as plain Rust with no PostgreSQL
//! dependency: refresh modes, schedules, statuses, output-column rules, row identities
//! and the typed error they report. The extension crate maps [`CoreError`] to a
//! PostgreSQL ERROR with a SQLSTATE in exactly one place.
//!
//! | module | what it holds |
//! |---|---|
//! | [`error`] | [`CoreError`], the one error enum of this crate |
//! | [`refresh_mode`] | `FULL` / `DIFFERENTIAL` / `AUTO` and how AUTO resolves |
//! | [`schedule`] | durations (`'1h30m'`), cron expressions, `'calculated'` |
//! | [`status`] | the lifecycle status of a stream table |
//! | [`cost`] | the refresh cost model behind AUTO's choice |
//! | [`refresh_plan`] | what an incremental-mode refresh does with what is pending, and after a stopped delta |
//! | [`columns`] | rules for the output columns of a defining query |
//! | [`names`] | relation names given as text, read as PostgreSQL reads identifiers |
//! | [`row_id`] | the 64-bit xxHash row identity behind `__pgt_row_id` |

pub mod columns;
pub mod cost;
pub mod error;
pub mod names;
pub mod refresh_mode;
pub mod refresh_plan;
pub mod row_id;
pub mod schedule;
pub mod status;

pub use columns::{validate_output_columns, OutputColumn, RESERVED_COLUMN_PREFIX, ROW_ID_COLUMN};
pub use error::CoreError;
pub use names::{parse_relation_name, RelationName};
pub use refresh_mode::RefreshMode;
pub use schedule::{canonical_period, Schedule};
pub use status::StreamTableStatus;
