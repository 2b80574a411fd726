//! The parse-frontend interface. A frontend turns a parsed, name-resolved defining query
//! into an [`OpTree`], or explains which construct it cannot translate. The extension's
//! frontend walks PostgreSQL's analyzed `Query`; `pgt_pgquery` implements the same trait
//! over libpg_query's parse tree and catalog look-ups over a client connection.

use crate::optree::OpTree;
use crate::DvmError;

/// pg_catalog functions whose result changes as time passes.
pub const TIME_FUNCTIONS: &[&str] = &[
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "timeofday",
    "current_date",
    "localtimestamp",
];

/// Functions in pg_catalog whose result differs between the transactions that refresh a
/// stream table (or between the creator's session and the refresher's), with no change to
/// any source. They are stable or volatile, but a refresh reproduces the query only for
/// functions that return the same value for the same rows.
pub const SESSION_FUNCTIONS: &[&str] = &[
    "txid_current",
    "txid_current_if_assigned",
    "txid_current_snapshot",
    "pg_current_xact_id",
    "pg_current_xact_id_if_assigned",
    "pg_current_snapshot",
    "current_setting",
    "current_schema",
    "current_schemas",
    "pg_backend_pid",
    "pg_trigger_depth",
    "pg_current_wal_lsn",
    "pg_current_wal_insert_lsn",
    "pg_current_wal_flush_lsn",
    "pg_my_temp_schema",
    "inet_client_addr",
    "inet_client_port",
    "inet_server_addr",
    "inet_server_port",
    "pg_postmaster_start_time",
    "pg_conf_load_time",
    "pg_is_in_recovery",
    "pg_last_committed_xact",
];

/// What a frontend produces besides the tree.
#[derive(Debug, Clone)]
pub struct Translated {
    pub tree: OpTree,
    /// OIDs of the base relations read, each once (their change buffers are the inputs).
    pub sources: Vec<u32>,
    /// Whether the query calls volatile functions.
    pub volatile: bool,
}

pub trait ParseFrontend {
    /// The frontend's own representation of a query (SQL text, a parse tree, …).
    type Query: ?Sized;
    /// The frontend's error; unsupported constructs arrive as [`DvmError`].
    type Error: From<DvmError>;

    /// The literal tree: the query exactly as written (a comma join is a cross join under
    /// a filter per WHERE conjunct).
    fn translate(&self, query: &Self::Query) -> Result<Translated, Self::Error>;

    /// The tree the engine maintains: [`translate`](Self::translate) followed by the
    /// rewrite rules ([`crate::rewrite::optimize`]).
    fn plan(&self, query: &Self::Query) -> Result<Translated, Self::Error> {
        let mut t = self.translate(query)?;
        t.tree = crate::rewrite::optimize(&t.tree);
        Ok(t)
    }
}
