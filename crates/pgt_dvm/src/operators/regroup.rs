//! **Aggregate and DISTINCT below the top** (`γ_{g; f}(A)` or `δ(A)` whose output is
//! joined, filtered or aggregated again): their delta, from recomputing the affected
//! groups before and after the change.
//!
//! With `K` the group keys present in `ΔA` and `A = A′ − ΔA` (a Z-set):
//!
//! ```text
//! Δγ(A) = γ(A′|K) − γ(A|K),   A|K = consolidate(A′|K − ΔA)
//! ```
//!
//! Groups outside `K` did not change. `γ(A′|K)` recomputes the affected groups from the
//! current input restricted to them; `γ(A|K)` recomputes them from the old rows of those
//! groups, which are the current rows minus the delta, consolidated and expanded by their
//! multiplicity (`generate_series(1, w)`), so *any* aggregate (string_agg, DISTINCT,
//! FILTER, ordered, user-defined) gets exactly the value it had. When the input has a
//! unique key, the old rows are the current ones whose key the delta does not touch plus
//! the delta's old versions, without consolidating. A group that appears has
//! no old row, one that disappears no new row, an unchanged one cancels in the final
//! consolidation. `DISTINCT` is the grouping by every column with no aggregate.
//!
//! Without GROUP BY the aggregate always has exactly one row: when `ΔA` is not empty its
//! old and new rows are recomputed from the whole input (the cost follows the input, not
//! the change).
//!
//! Groupings whose aggregates are all algebraic keep stored states instead
//! (`stored_group.rs`) when the statement has a table for them.
//!
//! **Preconditions:** group keys are keyable (equality is binary equality or of a
//! canonical form, so the affected groups are found by a hash of their keys), and every
//! input column has a binary image (the old rows are consolidated).
//!
//! **SQL:** `K` with one row per key and its row id; the current input restricted by the
//! first key (through the input's own key restriction, so it reaches the tables' indexes;
//! NULL keys separately) and then exactly by row id (a hash semi-join); the two
//! recomputations under `UNION ALL`, consolidated.

use super::DeltaContext;
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;
use pgt_sql::server_functions::ServerFunctions;

/// A grouping whose delta is computed by recomputing the affected groups.
pub(crate) struct Regroup<'a> {
    pub input: &'a OpTree,
    pub group_by: &'a [Expr],
    pub group_columns: &'a [Column],
    /// Per output column after the keys: the aggregate call over the input's columns.
    pub outputs: Vec<Expr>,
    /// Every output column (keys, then `outputs`; for a window, the input's, then
    /// `outputs`).
    pub columns: Vec<Column>,
    /// What is grouped, for errors ("GROUP BY", "DISTINCT", "PARTITION BY").
    pub clause: &'static str,
    /// Recompute a window (`window.rs`) instead of a grouping: `group_by` are its
    /// partition keys, and each input row of an affected partition is output with the
    /// window functions `outputs` (complete `f(…) OVER (…)` expressions) appended.
    pub window: bool,
    /// For a window: a filter over its output columns applied to each recomputation
    /// (`Window::delta_filtered`).
    pub post_filter: Option<&'a Expr>,
}

impl Regroup<'_> {
    fn check(&self) -> Result<(), DvmError> {
        if let Some(c) = self.group_columns.iter().find(|c| !c.keyable()) {
            return Err(DvmError::unsupported(
                format!(
                    "{} below the top of the query on column \"{}\" of type {}",
                    self.clause, c.name, c.type_sql
                ),
                "Equal values of this type can differ in their stored form, so the affected groups cannot be found by identity.",
            ));
        }
        if let Some(c) = self.input.columns().iter().find(|c| !c.binary_identity) {
            return Err(DvmError::unsupported(
                format!(
                    "{} below the top of the query over column \"{}\" of type {}",
                    self.clause, c.name, c.type_sql
                ),
                "The type has no binary output function, which the old rows of a group are consolidated by.",
            ));
        }
        if self.window {
            if let Some(c) = self.columns.iter().find(|c| !c.binary_identity) {
                return Err(DvmError::unsupported(
                    format!("the window function result \"{}\" of type {}", c.name, c.type_sql),
                    "The type has no binary output function, which the old and new rows of a partition are matched by.",
                ));
            }
        }
        Ok(())
    }

    /// The group's row id from key expressions rendered on `alias`.
    fn rid(&self, server: &dyn ServerFunctions, alias: &str) -> String {
        let keys: Vec<String> = self
            .group_by
            .iter()
            .zip(self.group_columns)
            .map(|(g, c)| c.identity_sql(&g.render_on(alias)))
            .collect();
        crate::storage::identity_hash(server, &keys)
    }

    /// `SELECT keys, outputs, w FROM (rows) AS s GROUP BY keys` (`HAVING gate` without keys).
    fn grouped(
        &self,
        server: &dyn ServerFunctions,
        rows: &str,
        weight: i64,
        scalar_gate: &str,
    ) -> String {
        if self.window {
            // Every row of the partitions, with the window functions appended.
            let n_in = self.input.columns().len();
            let mut sel: Vec<String> = (0..n_in).map(|i| format!("s.{}", col_name(i))).collect();
            sel.extend(
                self.outputs
                    .iter()
                    .enumerate()
                    .map(|(j, e)| format!("{} AS {}", e.render_on("s"), col_name(n_in + j))),
            );
            let all = format!(
                "SELECT {}, {weight}::bigint AS __pgt_w FROM ({rows}) AS s",
                sel.join(", ")
            );
            return match self.post_filter {
                Some(f) => format!("SELECT f.* FROM ({all}) AS f WHERE {}", f.render_on("f")),
                None => all,
            };
        }
        let ng = self.group_by.len();
        let (rows, group_by) =
            match with_representatives(server, rows, self.group_by, self.group_columns) {
                Some((r, k)) => (r, k),
                None => (rows.to_string(), self.group_by.to_vec()),
            };
        let rows = rows.as_str();
        let mut sel: Vec<String> = group_by
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} AS {}", g.render_on("s"), col_name(i)))
            .collect();
        sel.extend(
            self.outputs
                .iter()
                .enumerate()
                .map(|(j, e)| format!("{} AS {}", e.render_on("s"), col_name(ng + j))),
        );
        let tail = if ng == 0 {
            format!(" HAVING {scalar_gate}")
        } else {
            format!(
                " GROUP BY {}",
                group_by
                    .iter()
                    .map(|g| g.render_on("s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!(
            "SELECT {}, {weight}::bigint AS __pgt_w FROM ({rows}) AS s{tail}",
            sel.join(", ")
        )
    }

    pub fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        self.check()?;
        let n_in = self.input.columns().len();
        let d = self.input.rule().delta(cx)?;
        let cur = self.input.rule().current(cx)?;
        let gate = format!("EXISTS (SELECT 1 FROM {d})");
        // The current rows of the affected groups.
        let current_rows = if self.group_by.is_empty() {
            format!("SELECT s.* FROM ({cur}) AS s WHERE {gate}")
        } else {
            let keys = self
                .group_by
                .iter()
                .enumerate()
                .map(|(i, g)| format!("{} AS \"g{i}\"", g.render_on("s")))
                .collect::<Vec<_>>()
                .join(", ");
            let k = cx.add_cte(
                "regroup_keys",
                format!(
                    "SELECT x.* FROM (SELECT y.*, pg_catalog.row_number() OVER (PARTITION BY y.rid) AS __pgt_n \
                       FROM (SELECT {} AS rid, {keys} FROM {d} AS s) AS y) AS x WHERE x.__pgt_n OPERATOR(pg_catalog.=) 1",
                    self.rid(cx.server, "s")
                ),
            );
            let non_null = format!("SELECT k.\"g0\" FROM {k} AS k WHERE k.\"g0\" IS NOT NULL");
            let null_key = format!("EXISTS (SELECT 1 FROM {k} AS k WHERE k.\"g0\" IS NULL)");
            let g0 = self.group_by[0].render_on("s");
            let first_exact = self.group_by[0]
                .as_column()
                .filter(|&c| self.input.columns()[c].exact_equality);
            let prefiltered = match first_exact {
                Some(c) => format!(
                    "SELECT s.* FROM ({}) AS s UNION ALL SELECT s.* FROM ({cur}) AS s WHERE s.{} IS NULL AND {null_key}",
                    self.input.rule().current_restricted(cx, c, &non_null)?,
                    col_name(c)
                ),
                // An expression or a key without exact equality reaches no index: a
                // hashed subplan, never `= ANY (ARRAY(…))`, which PostgreSQL searches
                // linearly for every input row (quadratic in the affected keys).
                None => format!(
                    "SELECT s.* FROM ({cur}) AS s WHERE {g0} OPERATOR(pg_catalog.=) ANY (SELECT __pgt_k.* FROM ({non_null}) AS __pgt_k) \
                     OR ({g0} IS NULL AND {null_key})"
                ),
            };
            if first_exact.is_some() && self.group_by.len() == 1 {
                // One key with exact equality: the restriction is already exact.
                prefiltered
            } else {
                // The row id is computed once per row, then probed (a semi-join whose inner
                // side the planner may rescan: it must not recompute hashes per pair).
                format!(
                    "SELECT s.* FROM (SELECT s.*, {} AS __pgt_rid FROM ({prefiltered}) AS s OFFSET 0) AS s                       WHERE s.__pgt_rid OPERATOR(pg_catalog.=) ANY (SELECT k.rid FROM {k} AS k)",
                    self.rid(cx.server, "s")
                )
            }
        };
        let rows = cx.add_cte("regroup_rows", current_rows);
        let cols = |a: &str| {
            (0..n_in)
                .map(|i| format!("{a}.{}", col_name(i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let old_rows = match self.input.rule().unique_key().filter(|k| !k.is_empty()) {
            // With a key (each key one row at either snapshot): the rows whose key the
            // delta does not touch, as they are, and the old versions of the touched keys.
            // No consolidation of the groups' rows (for a window over 1M rows whose
            // change touches most partitions, a sort of most of the table).
            Some(key) => {
                // `ROW(s.k1, s.k2) = ANY (SELECT d.k1, d.k2 …)`: the subquery lists the
                // columns (a row value there would be one column).
                let key_of = |a: &str| {
                    key.iter()
                        .map(|&c| format!("{a}.{}", col_name(c)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "SELECT {} FROM {rows} AS s WHERE NOT (ROW({}) OPERATOR(pg_catalog.=) ANY (SELECT {} FROM {d} AS d)) \
                     UNION ALL SELECT {} FROM {d} AS d WHERE d.__pgt_w OPERATOR(pg_catalog.<) 0",
                    cols("s"),
                    key_of("s"),
                    key_of("d"),
                    cols("d")
                )
            }
            // Otherwise current minus delta, consolidated, each row `w` times.
            None => {
                let old = cx.add_cte(
                    "regroup_old",
                    super::consolidate::consolidated(
                        &format!(
                            "SELECT {c}, 1::bigint AS __pgt_w FROM {rows} AS s \
                             UNION ALL SELECT {c}, OPERATOR(pg_catalog.-) s.__pgt_w AS __pgt_w FROM {d} AS s",
                            c = cols("s")
                        ),
                        &self.input.columns(),
                    ),
                );
                format!(
                    "SELECT o.* FROM {old} AS o CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, o.__pgt_w) AS __pgt_copy \
                      WHERE o.__pgt_w OPERATOR(pg_catalog.>) 0"
                )
            }
        };
        let sql = format!(
            "{} UNION ALL {}",
            self.grouped(cx.server, &format!("SELECT * FROM {rows}"), 1, &gate),
            self.grouped(cx.server, &old_rows, -1, &gate)
        );
        let sql = super::consolidate::consolidated(&sql, &self.columns);
        Ok(cx.add_cte("regroup_delta", sql))
    }
}

/// The rows `rows` with a deterministic representative for each group key whose equal
/// values can differ in binary form (`1.0`/`1.00`, `'Alpha'`/`'ALPHA'` under a
/// case-insensitive collation, `'1 day'`/`'24 hours'`), and the group keys to use
/// instead: the key value with the smallest binary image among the equal ones
/// (`first_value` over a window partitioned by the key's identity). `GROUP BY` itself
/// outputs any one of the equal values, which could differ between the recomputation of
/// a group's old rows and the evaluation that stored it; this one does not. `None` when
/// every key has exact equality.
pub(crate) fn with_representatives(
    server: &dyn ServerFunctions,
    rows: &str,
    group_by: &[Expr],
    group_columns: &[Column],
) -> Option<(String, Vec<Expr>)> {
    if group_columns.iter().all(|c| c.exact_equality) {
        return None;
    }
    let mut reps = String::new();
    let mut keys = Vec::new();
    for (i, (g, c)) in group_by.iter().zip(group_columns).enumerate() {
        if c.exact_equality {
            keys.push(g.clone());
            continue;
        }
        let v = g.render_on("s");
        reps.push_str(&format!(
            ", pg_catalog.first_value({v}) OVER (PARTITION BY {} ORDER BY pg_catalog.record_send(ROW({v})) USING OPERATOR(pg_catalog.<)) AS \"__pgt_rep{i}\"",
            crate::storage::identity_hash(server, &[c.identity_sql(&v)])
        ));
        keys.push(Expr::sql(format!("s.\"__pgt_rep{i}\"")));
    }
    Some((format!("SELECT s.*{reps} FROM ({rows}) AS s"), keys))
}

/// `DISTINCT` below the top as a grouping by all columns.
pub(crate) fn distinct_delta(
    input: &OpTree,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    let columns = input.columns();
    let group_by: Vec<Expr> = (0..columns.len()).map(Expr::col).collect();
    Regroup {
        input,
        group_by: &group_by,
        group_columns: &columns,
        outputs: Vec::new(),
        columns: columns.clone(),
        clause: "DISTINCT",
        window: false,
        post_filter: None,
    }
    .delta(cx)
}
