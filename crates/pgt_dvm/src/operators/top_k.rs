//! **ORDER BY … LIMIT k [OFFSET n]** at the top of the query: `τ_{<, k}(A)`, the first `k`
//! rows of `A` in the order `<`, maintained from the stored rows and the input's delta.
//!
//! `<` is the query's ORDER BY (its sort operators, collations and NULLS placement) followed
//! by the rows' binary images (`record_send`), so it is a total order on distinct rows and
//! ties are broken the same way by every refresh. Where the query's ORDER BY is total the
//! stored rows are exactly the query's; where it leaves ties, they are one of the answers
//! the query itself may give.
//!
//! With `S = τ(A)` stored (as a bag), `b = max_< S`, and the consolidated delta `ΔA`, per
//! distinct row `x` with `s(x)` stored copies and net weight `w(x)`:
//!
//! ```text
//! c(x) = max(s(x) + w(x), 0)        if s(x) > 0 or |S| < k
//!      = max(w(x), 0)               if s(x) = 0 and x < b
//!      = 0                          otherwise (x ranks after the boundary)
//! C    = ⊎ c(x)·{x}
//! τ(A′) = τ(C)                      if |S| < k  or  |C| ≥ k
//!       = τ(A′) read again          otherwise (members left and too few entered)
//! ```
//!
//! Why `τ(C)` is exact: when `|S| = k`, every row of `A′` outside `C` is a row of `A` that
//! ranked at or after `b`, or an inserted row after `b`; `C` holds at least `k` rows that
//! rank at or before `b`, so the first `k` rows of `A′` are the first `k` of `C` (a copy
//! equal to `b` is the same row wherever it came from). When `|S| < k`, `S` was all of `A`
//! and `C = A′`. Otherwise (deletions or updates moved members out and fewer rows took
//! their place) the boundary region is unknown and the first `k` rows are read from the
//! current input, gated so that PostgreSQL runs that query only then. With OFFSET the rows
//! before the window are not stored, so any change reads the window again.
//!
//! The new `k` rows replace the stored ones with a `MERGE` on row identities
//! `combine(hash(row), occurrence)` (the bag model of `storage.rs`): rows that stay are
//! not touched. A refresh's cost is the input's delta plus work on `k + |ΔA|` rows, and
//! the input's current state only when the boundary must be read again.
//!
//! **Only at the top:** LIMIT in a subquery has no delta rule here (the frontend refuses
//! it), and the stream table's rows carry no order: read it with the same ORDER BY.

use super::{DeltaContext, Operator};
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

/// One ORDER BY key: an output column and how it is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub column: usize,
    /// The sort operator, qualified (`OPERATOR(pg_catalog.<)`).
    pub operator: String,
    /// The collation the query sorts by, qualified, for collatable columns.
    pub collation: Option<String>,
    pub nulls_first: bool,
}

#[derive(Debug, Clone)]
pub struct TopK {
    pub input: Box<OpTree>,
    pub order: Vec<SortKey>,
    pub limit: i64,
    pub offset: i64,
    /// The input's last `sort_only` columns are ORDER BY expressions the query does not
    /// select: stored in hidden columns (`sort_column`) so that the kept rows can be
    /// ranked, never shown as the query's columns.
    pub sort_only: usize,
}

/// The hidden storage column of the `i`-th sort-only column.
pub fn sort_column(i: usize) -> String {
    format!("__pgt_sort{i}")
}

impl TopK {
    /// Hidden columns for the sort-only columns: (name, type).
    pub fn sort_columns(&self) -> Vec<(String, String)> {
        let cols = self.input.columns();
        let first = cols.len() - self.sort_only;
        cols[first..]
            .iter()
            .enumerate()
            .map(|(i, c)| (sort_column(i), c.type_sql.clone()))
            .collect()
    }

    /// The storage's names of all the input's columns: the visible ones, then the hidden
    /// sort-only ones.
    pub fn stored_names(&self, visible: &[String]) -> Vec<String> {
        visible
            .iter()
            .cloned()
            .chain(
                self.sort_columns()
                    .into_iter()
                    .map(|(n, _)| pgt_sql::quote_ident(&n)),
            )
            .collect()
    }

    /// `ORDER BY …` over positional columns of `alias` (the total order `<`).
    pub fn order_by(&self, alias: &str) -> String {
        let n = self.input.columns().len();
        let mut keys: Vec<String> = self
            .order
            .iter()
            .map(|k| {
                let coll = k
                    .collation
                    .as_ref()
                    .map(|c| format!(" COLLATE {c}"))
                    .unwrap_or_default();
                format!(
                    "{alias}.{}{coll} USING {} NULLS {}",
                    col_name(k.column),
                    k.operator,
                    if k.nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect();
        keys.push(format!(
            "pg_catalog.record_send(ROW({})) USING OPERATOR(pg_catalog.<)",
            super::col_list(n, Some(alias))
        ));
        format!("ORDER BY {}", keys.join(", "))
    }

    /// `LIMIT k OFFSET n`.
    fn window(&self) -> String {
        format!("LIMIT {} OFFSET {}", self.limit, self.offset)
    }

    /// The first rows of the current input (columns `c0…`), in order.
    pub fn recomputed(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(format!(
            "SELECT q.* FROM ({cur}) AS q {} {}",
            self.order_by("q"),
            self.window()
        ))
    }

    /// The new rows of the stream table (columns `c0…`, one row per copy) from the rows
    /// stored in `target` (bag storage: visible columns `visible`, each row's hash in
    /// `key_column`) and the input's delta, by the rule above. `row_hash(alias)` renders a
    /// row's identity from positional columns of `alias`, as the storage computes it.
    pub fn new_rows(
        &self,
        cx: &mut DeltaContext<'_>,
        target: &str,
        visible: &[String],
        key_column: &str,
        row_hash: &dyn Fn(&str) -> String,
    ) -> Result<String, DvmError> {
        let n = self.input.columns().len();
        let k = self.limit;
        // Versions are summed per row below, so they need no consolidation of their own.
        let d = super::delta_for_netting(&self.input, cx)?;
        let recompute = self.recomputed(cx)?;
        let stored_cols = visible
            .iter()
            .enumerate()
            .map(|(i, c)| format!("t.{c} AS {}", col_name(i)))
            .collect::<Vec<_>>()
            .join(", ");
        // Stored copies (s = 1 each) and delta versions (w): one row per distinct row with
        // its totals, and its position in the total order.
        let ranked = cx.add_cte(
            "topk_rows",
            format!(
                "SELECT y.*, pg_catalog.row_number() OVER (ORDER BY {rank}) AS pos FROM (\
                   SELECT {u_cols}, (pg_catalog.sum(u.s) OVER __pgt_r)::bigint AS s, (pg_catalog.sum(u.w) OVER __pgt_r)::bigint AS w, \
                          pg_catalog.row_number() OVER __pgt_r AS rn \
                     FROM (SELECT {stored_cols}, 1::bigint AS s, 0::bigint AS w, t.{key_column} AS k FROM {target} AS t \
                           UNION ALL SELECT {d_cols}, 0::bigint, d.__pgt_w::bigint, {dh} FROM {d} AS d) AS u \
                   WINDOW __pgt_r AS (PARTITION BY u.k)) AS y \
                 WHERE y.rn OPERATOR(pg_catalog.=) 1",
                rank = self.order_by("y").trim_start_matches("ORDER BY "),
                u_cols = super::col_list(n, Some("u")),
                d_cols = super::col_list(n, Some("d")),
                dh = row_hash("d"),
            ),
        );
        // How many copies of a ranked row are candidates (`c(x)`), given the stats `st`.
        let copies = format!(
            "CASE WHEN r.s OPERATOR(pg_catalog.>) 0 OR st.stored OPERATOR(pg_catalog.<) {k} THEN GREATEST(r.s OPERATOR(pg_catalog.+) r.w, 0) \
                  WHEN r.pos OPERATOR(pg_catalog.<) st.boundary THEN GREATEST(r.w, 0) ELSE 0 END"
        );
        // |S|, the boundary's position, whether anything changed; then |C| and whether
        // the window must be read again.
        let stats = cx.add_cte(
            "topk_stats",
            format!(
                "SELECT st.*, (st.changed AND NOT ({offset_zero} AND (st.stored OPERATOR(pg_catalog.<) {k} \
                        OR (SELECT coalesce(pg_catalog.sum({copies}), 0) FROM {ranked} AS r) OPERATOR(pg_catalog.>=) {k}))) AS reread \
                 FROM (SELECT coalesce(pg_catalog.sum(r.s), 0) AS stored, \
                              coalesce(pg_catalog.max(r.pos) FILTER (WHERE r.s OPERATOR(pg_catalog.>) 0), 0) AS boundary, \
                              coalesce(pg_catalog.bool_or(r.w OPERATOR(pg_catalog.<>) 0), false) AS changed \
                         FROM {ranked} AS r) AS st",
                offset_zero = self.offset == 0,
            ),
        );
        Ok(format!(
            "(SELECT {x_cols} FROM (SELECT r.*, ({copies})::bigint AS c FROM {ranked} AS r CROSS JOIN {stats} AS st \
                WHERE NOT st.reread) AS x \
              CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, x.c) AS __pgt_copy \
              {order} LIMIT {k}) \
             UNION ALL \
             (SELECT {q_cols} FROM ({recompute}) AS q WHERE (SELECT st.reread FROM {stats} AS st))",
            x_cols = super::col_list(n, Some("x")),
            order = self.order_by("x"),
            q_cols = super::col_list(n, Some("q")),
        ))
    }
}

impl Operator for TopK {
    fn name(&self) -> &'static str {
        "TopK"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.input.columns()
    }

    /// Only maintained at the top, against its stored rows (see the module doc).
    fn delta(&self, _cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        Err(DvmError::unsupported(
            "ORDER BY … LIMIT below the top of the query",
            "Only the outermost query's LIMIT is maintained; move the LIMIT to the top or use FULL.",
        ))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        self.recomputed(cx)
    }
}
