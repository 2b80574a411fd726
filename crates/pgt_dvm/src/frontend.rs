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

/// `SELECT DISTINCT ON (k…) e… FROM … ORDER BY o…` over `input`: a grouping by the keys
/// `group_by` (columns `group_columns`) whose every output is
/// `(array_agg(e ORDER BY o…, image))[1]`, `image` the binary form of the selected values
/// (`record_send`), which breaks the ties the ORDER BY leaves the same way in every
/// column, so all come from one row. `sort_keys` are the ORDER BY items as
/// `e USING op NULLS FIRST|LAST`. Refused when a key cannot be found by identity or a
/// selected column has no binary form.
pub fn distinct_on(
    input: OpTree,
    group_by: Vec<Expr>,
    group_columns: Vec<crate::optree::Column>,
    values: &[Expr],
    columns: Vec<crate::optree::Column>,
    sort_keys: Vec<Expr>,
) -> Result<OpTree, DvmError> {
    if let Some(c) = group_columns.iter().find(|c| !c.keyable()) {
        return Err(DvmError::unsupported(
            format!("DISTINCT ON a column of type {}", c.type_sql),
            "Equal values of this type can differ in their stored form, so the affected groups cannot be found by identity; use FULL.",
        ));
    }
    if let Some(c) = columns.iter().find(|c| !c.binary_identity) {
        return Err(DvmError::unsupported(
            format!("DISTINCT ON selecting a column of type {}", c.type_sql),
            "Ties are broken by the selected values' binary form, which this type does not have; use FULL.",
        ));
    }
    let mut order = Expr::sql(" ORDER BY ");
    for k in sort_keys {
        order.append(k);
        order.push_sql(", ");
    }
    order.push_sql("pg_catalog.record_send(ROW(");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            order.push_sql(", ");
        }
        order.append(v.clone());
    }
    order.push_sql(")) USING OPERATOR(pg_catalog.<)");
    let aggs = values
        .iter()
        .zip(&columns)
        .map(|(v, c)| {
            let mut call = Expr::sql("(pg_catalog.array_agg(");
            call.append(v.clone());
            call.append(order.clone());
            call.push_sql("))[1]");
            crate::optree::AggCall {
                kind: crate::optree::AggKind::Other,
                arg: None,
                call,
                result_type: c.type_sql.clone(),
                tracks_scale: false,
            }
        })
        .collect();
    let (ng, n) = (group_by.len(), columns.len());
    let tree = OpTree::aggregate(input, group_by, group_columns, aggs);
    Ok(OpTree::project(
        tree,
        (ng..ng + n).map(Expr::col).collect(),
        columns,
    ))
}

/// What a scan's relation must be for its changes to be captured: an ordinary table
/// (`kind` `r`, without children) or a partitioned one read with its partitions, not a
/// partition itself, without columns named like the change buffer's own.
pub fn check_source(
    qualified: &str,
    kind: char,
    inherited: bool,
    has_children: bool,
    is_partition: bool,
    reserved_column: Option<&str>,
) -> Result<(), DvmError> {
    let refuse = |c: String, r: &str| Err(DvmError::unsupported(c, r));
    match kind {
        'r' => {}
        // Its partitions carry capture triggers too.
        'p' if inherited => {}
        'p' => return refuse(format!("FROM ONLY the partitioned table \"{qualified}\""), "ONLY of a partitioned table reads no rows, while its partitions' changes are captured as its own; leave out ONLY, or use FULL."),
        'v' => return refuse(format!("the view \"{qualified}\" as a source"), "Incremental refresh reads the changes of base tables; define the stream table over the view's tables, or use FULL."),
        'm' => return refuse(format!("the materialized view \"{qualified}\" as a source"), "Materialized views cannot be watched for changes; use FULL."),
        _ => return refuse(format!("the relation \"{qualified}\" as a source"), "Only ordinary tables can be watched for changes; use FULL."),
    }
    let has_children = has_children && kind == 'r';
    if has_children && inherited {
        return refuse(
            format!("the inheritance parent \"{qualified}\" as a source"),
            "Writes to child tables would not be captured; use FULL.",
        );
    }
    if has_children {
        return refuse(
            format!("FROM ONLY the inheritance parent \"{qualified}\""),
            "Statements on the parent that reach its children would be captured as changes of the parent; use FULL.",
        );
    }
    if is_partition {
        return refuse(
            format!("the partition \"{qualified}\" as a source"),
            "Rows routed to it through its partitioned parent would not be captured; use FULL.",
        );
    }
    if let Some(col) = reserved_column {
        return refuse(
            format!("the source \"{qualified}\" with column \"{col}\""),
            "The names __pgt_change_id, __pgt_xid and __pgt_op are the change buffer's own columns; rename the column or use FULL.",
        );
    }
    Ok(())
}

/// A sort key as generated SQL spells it: `e USING OPERATOR(schema.op) NULLS FIRST|LAST`,
/// the very operator and NULLS placement the query sorts by.
pub fn sort_key(mut key: Expr, operator: &str, nulls_first: bool) -> Expr {
    key.push_sql(&format!(
        " USING {operator} NULLS {}",
        if nulls_first { "FIRST" } else { "LAST" }
    ));
    key
}
