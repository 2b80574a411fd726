//! The parse-frontend interface. A frontend turns a parsed, name-resolved defining query
//! into an [`OpTree`], or explains which construct it cannot translate. The extension's
//! frontend walks PostgreSQL's analyzed `Query`; `pgt_pgquery` implements the same trait
//! over libpg_query's parse tree and catalog look-ups over a client connection.

use crate::expr::Expr;
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

/// `A INTERSECT B` / `A EXCEPT B` (without ALL) from operators the engine maintains: each
/// row of `A` tagged `(1, 0)`, of `B` `(0, 1)`, grouped by every column (NULLs equal, as
/// set operations compare) with the tags summed into `(a, b)`, the groups kept where
/// `a > 0 AND b > 0` (INTERSECT) or `a > 0 AND b = 0` (EXCEPT), the counts dropped:
///
/// ```text
/// A ∩ B = π_cols σ_{a>0 ∧ b>0} γ_{cols; Σa, Σb}(A×{(1,0)} ⊎ B×{(0,1)})
/// A − B = π_cols σ_{a>0 ∧ b=0} γ_{cols; Σa, Σb}(A×{(1,0)} ⊎ B×{(0,1)})
/// ```
///
/// With ALL, each group's row is repeated (`operators/replicate.rs`) `least(a, b)` times
/// (INTERSECT ALL) or `greatest(a − b, 0)` times (EXCEPT ALL), PostgreSQL's multiplicities.
///
/// The grouping's sums are algebraic, so below the top it keeps stored states, and at the
/// top its storage holds the counts: a change costs the changed rows' groups.
pub fn intersect_or_except(left: OpTree, right: OpTree, intersect: bool, all: bool) -> OpTree {
    let columns = left.columns();
    let n = columns.len();
    let tag_column = |name: &str| crate::optree::Column {
        name: name.into(),
        type_sql: "integer".into(),
        exact_equality: true,
        binary_identity: true,
        canonical: None,
    };
    let tagged = |tree: OpTree, a: &str, b: &str| {
        let mut exprs: Vec<Expr> = (0..n).map(Expr::col).collect();
        exprs.push(Expr::sql(a));
        exprs.push(Expr::sql(b));
        let mut cols = tree.columns();
        cols.push(tag_column("__pgt_a"));
        cols.push(tag_column("__pgt_b"));
        OpTree::project(tree, exprs, cols)
    };
    let union = OpTree::union_all(vec![tagged(left, "1", "0"), tagged(right, "0", "1")]);
    let sum = |i: usize| {
        let mut call = Expr::sql("pg_catalog.sum(");
        call.push_col(i);
        call.push_sql(")");
        crate::optree::AggCall {
            kind: crate::optree::AggKind::Sum,
            arg: Some(Expr::col(i)),
            call,
            result_type: "bigint".into(),
            tracks_scale: false,
        }
    };
    let grouped = OpTree::aggregate(
        union,
        (0..n).map(Expr::col).collect(),
        columns.clone(),
        vec![sum(n), sum(n + 1)],
    );
    if all {
        let mut copies = Expr::sql(if intersect { "LEAST(" } else { "GREATEST(" });
        copies.push_col(n);
        copies.push_sql(if intersect {
            ", "
        } else {
            " OPERATOR(pg_catalog.-) "
        });
        copies.push_col(n + 1);
        copies.push_sql(if intersect { ")" } else { ", 0)" });
        return OpTree::replicate(grouped, copies, n);
    }
    let mut keep = Expr::col(n);
    keep.push_sql(" OPERATOR(pg_catalog.>) 0 AND ");
    keep.push_col(n + 1);
    keep.push_sql(if intersect {
        " OPERATOR(pg_catalog.>) 0"
    } else {
        " OPERATOR(pg_catalog.=) 0"
    });
    let kept = OpTree::filter(grouped, keep).with_error_free(true);
    OpTree::project(kept, (0..n).map(Expr::col).collect(), columns)
}
