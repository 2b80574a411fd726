//! The extension's error type and the one place errors become PostgreSQL ERRORs.
//!
//! Every fallible function returns [`PgtResult`]; the `#[pg_extern]` boundary calls
//! [`PgtError::report`], which maps each variant to a SQLSTATE and attaches DETAIL and HINT.
//! PostgreSQL's own ERRORs (syntax errors, missing relations, …) are never caught here:
//! they propagate untouched with their own SQLSTATE.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use pgt_core::CoreError;
use thiserror::Error;

pub type PgtResult<T> = Result<T, PgtError>;

#[derive(Debug, Error)]
pub enum PgtError {
    #[error(transparent)]
    Core(#[from] CoreError),

    #[error("the change capture of {table} changed while the refresh ran")]
    CaptureModeChanged { table: String },

    #[error("the change buffer of source {relid} {what}")]
    ChangeBuffer { relid: u32, what: String },

    #[error("pgtrickle._capture_changes() is attached the wrong way: {what}")]
    CaptureTriggerMisuse { what: String },

    #[error("argument \"{arg}\" must not be NULL")]
    NullArgument { arg: &'static str },

    #[error("stream table \"{name}\" does not exist")]
    NotFound { name: String },

    #[error("relation \"{name}\" is not a stream table")]
    NotAStreamTable { name: String },

    #[error("cannot create stream table \"{name}\" in schema \"{schema}\"")]
    ReservedSchema { name: String, schema: String },

    #[error("cannot create stream table \"{name}\" in a temporary schema")]
    TemporaryStreamTable { name: String },

    #[error("column name \"{column}\" of source \"{relation}\" is reserved for pg_trickle")]
    ReservedSourceColumn { relation: String, column: String },

    #[error("cannot {action} {object}")]
    ProtectedObject {
        action: &'static str,
        object: String,
    },

    #[error("cannot {action} change capture trigger \"{trigger}\" of {table}")]
    CaptureTampered {
        action: &'static str,
        trigger: String,
        table: String,
    },

    #[error("cannot change the columns of stream table \"{name}\"")]
    StorageDdl { name: String },

    #[error("stream table \"{name}\" cannot be refreshed incrementally any more")]
    SourceChanged { name: String, reason: String },

    #[error("the incremental refresh of stream table \"{name}\" was stopped by its work budget")]
    DeltaOverBudget { name: String, what: String },

    #[error("no schema has been selected to create stream table \"{name}\" in")]
    NoCreationSchema { name: String },

    #[error("the defining query is empty")]
    EmptyQuery,

    #[error("the defining query must be a single statement, but it has {count}")]
    MultipleStatements { count: i32 },

    #[error("the defining query must be a SELECT statement, not {command}")]
    NotSelect { command: String },

    #[error("the defining query must not use SELECT INTO")]
    SelectInto,

    #[error("the defining query must not use {clause}")]
    LockingClause { clause: &'static str },

    #[error("the defining query must not contain data-modifying statements in WITH")]
    ModifyingCte,

    #[error("cannot use temporary table \"{name}\" as a source of a stream table")]
    TemporarySource { name: String },

    #[error("cannot use system catalog \"{name}\" as a source of a stream table")]
    CatalogSource { name: String },

    /// A construct the incremental engine cannot maintain (used internally; AUTO turns it
    /// into a FULL fallback, DIFFERENTIAL into [`PgtError::CannotMaintain`]).
    #[error(transparent)]
    Dvm(#[from] pgt_dvm::DvmError),

    #[error("cannot maintain stream table \"{name}\" incrementally")]
    CannotMaintain {
        name: String,
        cause: pgt_dvm::DvmError,
    },

    #[error("stream table \"{name}\" is in status ERROR")]
    InErrorState { name: String, reason: String },

    #[error("cannot drop stream table \"{name}\" because other stream tables read it")]
    HasReaders { name: String, readers: Vec<String> },

    #[error("permission denied to {action}")]
    NotSuperuser { action: &'static str },

    #[error("cross-database references are not implemented: {name}")]
    CrossDatabase { name: String },

    #[error("stream table \"{name}\" is still being restored")]
    RestoreIncomplete { name: String },

    #[error("permission denied to {action} stream table \"{name}\"")]
    NotOwner {
        action: &'static str,
        name: String,
        owner: String,
        /// Would `MAINTAIN` on the stream table do (refresh, explain)?
        maintain: bool,
    },

    #[error("permission denied for table {table}")]
    SourcePrivilege {
        role: String,
        stream_table: String,
        table: String,
        privilege: &'static str,
    },

    #[error("BEFORE row trigger {trigger} is not allowed on stream table \"{table}\"")]
    BeforeRowTrigger { trigger: String, table: String },

    #[error("WAL change capture failed: {what}")]
    WalCapture { what: String },

    #[error("{action} must run in a transaction that has not written anything yet")]
    NeedsFreshTransaction { action: &'static str },

    #[error("internal SPI error: {0}")]
    Spi(#[from] pgrx::spi::Error),
}

impl PgtError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            PgtError::Core(core) => match core {
                CoreError::InvalidRefreshMode { .. }
                | CoreError::InvalidSchedule { .. }
                | CoreError::InvalidStatus { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
                CoreError::DuplicateColumn { .. } => ERRCODE_DUPLICATE_COLUMN,
                CoreError::ReservedColumn { .. } => ERRCODE_RESERVED_NAME,
                CoreError::PseudoTypeColumn { .. } => ERRCODE_INVALID_TABLE_DEFINITION,
                CoreError::NoColumns => ERRCODE_INVALID_TABLE_DEFINITION,
                CoreError::InvalidName { .. } => ERRCODE_INVALID_NAME,
            },
            PgtError::NullArgument { .. } => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            PgtError::NotFound { .. } => ERRCODE_UNDEFINED_TABLE,
            PgtError::NotAStreamTable { .. } => ERRCODE_WRONG_OBJECT_TYPE,
            PgtError::NoCreationSchema { .. } => ERRCODE_INVALID_SCHEMA_NAME,
            PgtError::ReservedSchema { .. } | PgtError::ReservedSourceColumn { .. } => {
                ERRCODE_RESERVED_NAME
            }
            PgtError::TemporaryStreamTable { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            PgtError::ProtectedObject { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            PgtError::CaptureTampered { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            PgtError::StorageDdl { .. } => ERRCODE_WRONG_OBJECT_TYPE,
            PgtError::SourceChanged { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            PgtError::DeltaOverBudget { .. } => ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            PgtError::EmptyQuery
            | PgtError::MultipleStatements { .. }
            | PgtError::NotSelect { .. }
            | PgtError::SelectInto
            | PgtError::LockingClause { .. }
            | PgtError::ModifyingCte => ERRCODE_INVALID_OBJECT_DEFINITION,
            PgtError::TemporarySource { .. } | PgtError::CatalogSource { .. } => {
                ERRCODE_FEATURE_NOT_SUPPORTED
            }
            PgtError::Dvm(_) | PgtError::CannotMaintain { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            PgtError::CrossDatabase { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            PgtError::InErrorState { .. } | PgtError::RestoreIncomplete { .. } => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            PgtError::HasReaders { .. } => ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            PgtError::NotSuperuser { .. }
            | PgtError::NotOwner { .. }
            | PgtError::SourcePrivilege { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            PgtError::WalCapture { .. } | PgtError::ChangeBuffer { .. } => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            PgtError::CaptureTriggerMisuse { .. } => ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            PgtError::CaptureModeChanged { .. } => ERRCODE_T_R_SERIALIZATION_FAILURE,
            PgtError::BeforeRowTrigger { .. } => ERRCODE_WRONG_OBJECT_TYPE,
            PgtError::NeedsFreshTransaction { .. } => ERRCODE_ACTIVE_SQL_TRANSACTION,
            PgtError::Spi(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            PgtError::Core(core) => core.detail(),
            PgtError::NotSuperuser { .. } => Some(
                "Change capture is shared by every stream table of the database; only superusers manage it."
                    .into(),
            ),
            PgtError::NotOwner { owner, maintain: false, .. } => Some(format!(
                "Only its owner (role \"{owner}\"), members of that role and superusers may."
            )),
            PgtError::NotOwner { owner, maintain: true, .. } => Some(format!(
                "Roles with MAINTAIN on it may: its owner (role \"{owner}\"), members of that role, of pg_maintain, and superusers."
            )),
            PgtError::SourcePrivilege { role, stream_table, privilege: "SELECT", .. } => Some(format!(
                "Role \"{role}\", the owner of stream table {stream_table}, needs SELECT on every table its query reads, on the whole table (change buffers hold whole rows)."
            )),
            PgtError::SourcePrivilege { role, stream_table, privilege, .. } => Some(format!(
                "Role \"{role}\", the owner of IMMEDIATE stream table {stream_table}, needs {privilege} on every table its query reads: its maintenance runs inside the transactions that write them."
            )),
            PgtError::TemporarySource { .. } => Some(
                "A temporary table exists only in its own session; a stream table outlives it."
                    .into(),
            ),
            PgtError::CatalogSource { .. } => {
                Some("Changes to system catalogs cannot be tracked.".into())
            }
            PgtError::InErrorState { reason, .. } | PgtError::SourceChanged { reason, .. } => {
                Some(format!("{}.", capitalize(reason)))
            }
            PgtError::DeltaOverBudget { what, .. } => Some(format!(
                "The delta statement {what}; the refresh was rolled back and nothing was consumed."
            )),
            PgtError::ReservedSchema { schema, .. } => Some(format!(
                "Schema \"{schema}\" holds system or pg_trickle objects; stream tables live in user schemas."
            )),
            PgtError::TemporaryStreamTable { .. } => Some(
                "A temporary schema belongs to one session; a stream table outlives it.".into(),
            ),
            PgtError::ReservedSourceColumn { .. } => Some(
                "Change buffers have their own columns __pgt_change_id, __pgt_xid and __pgt_op; a source column with one of these names would collide with them.".into(),
            ),
            PgtError::ProtectedObject { .. } => Some(
                "pg_trickle creates, alters and drops its change buffers, state tables and triggers itself.".into(),
            ),
            PgtError::BeforeRowTrigger { .. } => Some(
                "A BEFORE row trigger can change or skip the rows a refresh writes; the stream table would no longer equal its query.".into(),
            ),
            PgtError::CaptureTampered { .. } => Some(
                "Stream tables read this table incrementally; without the trigger their changes would be lost.".into(),
            ),
            PgtError::StorageDdl { .. } => Some(
                "A stream table's columns follow its defining query; pg_trickle's hidden __pgt_* columns and guard triggers must stay as they are.".into(),
            ),
            PgtError::HasReaders { readers, .. } => {
                Some(format!("Stream tables reading it: {}.", readers.join(", ")))
            }
            PgtError::CannotMaintain {
                cause: pgt_dvm::DvmError::Unsupported { construct, reason },
                ..
            }
            | PgtError::Dvm(pgt_dvm::DvmError::Unsupported { construct, reason }) => Some(format!(
                "{} is not supported for incremental maintenance. {reason}",
                capitalize(construct)
            )),
            _ => None,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            PgtError::Core(core) => core.hint(),
            PgtError::NotFound { .. } => {
                Some("List stream tables with: SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables.".into())
            }
            PgtError::NotSelect { .. } | PgtError::SelectInto | PgtError::EmptyQuery => {
                Some("A stream table is defined by a query such as SELECT ... FROM ....".into())
            }
            PgtError::MultipleStatements { .. } => Some("Remove the extra statements; one SELECT defines a stream table.".into()),
            PgtError::LockingClause { .. } => Some("Remove the locking clause; refreshes read a consistent snapshot.".into()),
            PgtError::ModifyingCte => Some("Move INSERT, UPDATE, DELETE or MERGE out of the defining query.".into()),
            PgtError::TemporarySource { .. } => Some("Use a permanent or unlogged table.".into()),
            PgtError::CannotMaintain { .. } | PgtError::Dvm(_) => {
                Some("Use refresh_mode => 'AUTO' (falls back to FULL and records why) or 'FULL', or rewrite the query.".into())
            }
            PgtError::InErrorState { .. } => Some(
                "It cannot be refreshed, resumed or suspended; drop the stream table and create it again once its sources are back."
                    .into(),
            ),
            PgtError::ReservedSchema { .. } | PgtError::TemporaryStreamTable { .. } => {
                Some("Qualify the name with a user schema, as in 'myschema.name'.".into())
            }
            PgtError::ReservedSourceColumn { .. } => {
                Some("Rename the column, or use refresh_mode => 'FULL' (no change capture).".into())
            }
            PgtError::BeforeRowTrigger { .. } => Some(
                "Use an AFTER trigger (row or statement level): it sees each refresh's changes as INSERT, UPDATE and DELETE without being able to alter them.".into(),
            ),
            PgtError::WalCapture { .. } => Some(
                "SELECT * FROM pgtrickle.change_capture shows each source's state; SELECT pgtrickle.sync_change_capture() (or the scheduler's next tick) returns the affected sources to triggers, and their stream tables recompute in full.".into(),
            ),
            PgtError::CaptureModeChanged { .. } => Some(
                "It was handed over to WAL capture meanwhile; run the refresh again (the scheduler does on its next tick).".into(),
            ),
            PgtError::ChangeBuffer { .. } => Some(
                "pg_trickle keeps change buffers in line with their sources through its DDL event trigger; drop and create again the stream tables reading the source to rebuild it.".into(),
            ),
            PgtError::NeedsFreshTransaction { .. } => Some(
                "Run it on its own, outside an explicit transaction block that has written.".into(),
            ),
            PgtError::CaptureTampered { .. } => Some(
                "Drop the stream tables that read it, or switch them to refresh_mode => 'FULL', first.".into(),
            ),
            PgtError::StorageDdl { .. } => Some(
                "Change the defining query instead: drop the stream table and create it again.".into(),
            ),
            PgtError::SourceChanged { .. } => Some(
                "Switch it to refresh_mode => 'FULL' with alter_stream_table, or drop it and create it again over the partitioned table.".into(),
            ),
            PgtError::DeltaOverBudget { .. } => Some(
                "Use refresh_mode => 'AUTO' (it recomputes in full instead), refresh more often, or raise pg_trickle.differential_temp_file_limit / pg_trickle.differential_statement_timeout.".into(),
            ),
            PgtError::HasReaders { .. } => Some("Drop those first, or use drop_stream_table(name, cascade => true).".into()),
            PgtError::NotSuperuser { .. } => Some("Ask a superuser to run it.".into()),
            PgtError::RestoreIncomplete { .. } => Some(
                "Its catalog row was restored, but its storage table's triggers (restored after its rows) are not there yet; finish the restore.".into(),
            ),
            PgtError::NotOwner { maintain: true, .. } => Some(
                "Ask its owner to GRANT MAINTAIN ON it, or to run it.".into(),
            ),
            PgtError::NotOwner { .. } => Some("Ask its owner or a superuser to run it.".into()),
            PgtError::SourcePrivilege { privilege, table, .. } => Some(format!(
                "GRANT {privilege} ON {table} to the stream table's owner."
            )),
            PgtError::NoCreationSchema { .. } => Some("Qualify the name with a schema, as in 'myschema.name'.".into()),
            _ => None,
        }
    }

    /// Raises this error as a PostgreSQL ERROR. Never returns.
    #[track_caller]
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "pg_trickle");
        if let Some(d) = self.detail() {
            report = report.set_detail(d);
        }
        if let Some(h) = self.hint() {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Unwraps a result at the SQL boundary, raising the error as a PostgreSQL ERROR.
#[track_caller]
pub fn or_report<T>(result: PgtResult<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => e.report(),
    }
}

/// Management functions are for superusers (see "Privileges" in docs/SQL_REFERENCE.md).
pub fn require_superuser(action: &'static str) -> PgtResult<()> {
    // SAFETY: superuser() only reads the current user id and its pg_authid row.
    if unsafe { pgrx::pg_sys::superuser() } {
        Ok(())
    } else {
        Err(PgtError::NotSuperuser { action })
    }
}

/// Turns a NULL argument into a clear error.
pub fn required<T>(value: Option<T>, arg: &'static str) -> PgtResult<T> {
    value.ok_or(PgtError::NullArgument { arg })
}
