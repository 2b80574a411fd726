//! **Window**: `ω_{p; f}(A)`, every row of `A` with the window functions `f` of one
//! window clause (`PARTITION BY p ORDER BY … frame`) appended. A query with several
//! different window clauses is a chain of these, one per clause, each reading the
//! previous one's output (its functions read only the base columns).
//!
//! A window function's value for a row depends on nothing but the rows of its partition,
//! so a partition none of whose rows changed keeps every value. With `K` the partition
//! keys present in `ΔA`:
//!
//! ```text
//! Δω(A) = ω(A′|K) − ω(A|K),   A|K = consolidate(A′|K − ΔA)
//! ```
//!
//! exactly the recomputation of the affected groups of a grouping (`regroup.rs`), with
//! one output row per input row instead of one per group. A row whose window values did
//! not change cancels in the final consolidation; an update that moves a row to another
//! partition recomputes both. Any window function and frame is maintained this way
//! (ranking, `lag`/`lead`, running aggregates, `ROWS`/`RANGE`/`GROUPS` frames with
//! offsets and exclusions), because each affected partition is evaluated whole by
//! PostgreSQL itself.
//!
//! Without PARTITION BY the window is one partition: any change recomputes it, before
//! and after (the cost follows the input), and no change costs nothing.
//!
//! **Determinism.** `ω(A|K)` must reproduce the values stored at the last refresh, row
//! for row. Rows tied in the window's ORDER BY can be numbered in either order by
//! PostgreSQL (`row_number`, `lag`, a `ROWS` frame), so functions whose value depends on
//! the order among peers get the row's binary image as a last sort key (`tiebreak`):
//! PostgreSQL itself may order peers any way, and this is one of those ways, the same at
//! every evaluation. Functions that treat peers alike (`rank`, `dense_rank`,
//! `percent_rank`, `cume_dist`, aggregates over `RANGE`/`GROUPS` frames) need none; the
//! frontend refuses the few whose result would change with a tiebreak (`last_value`,
//! `nth_value` over a frame ending among peers).
//!
//! **Preconditions:** partition keys are keyable, every input column and every function
//! result has a binary image (old rows are consolidated by it).
//!
//! **SQL:** see `regroup.rs`; the current state is the input with the functions appended.

use super::{col_list, restricted_on_top, DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

/// One window function of the clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCall {
    /// The call before `OVER` (`pg_catalog.row_number()`, `pg_catalog.sum($2) FILTER (…)`).
    pub call: Expr,
    /// Append the row's binary image to the ORDER BY (see the module doc).
    pub tiebreak: bool,
    /// The frame clause as SQL (empty: the default frame). Functions that ignore frames
    /// (`row_number`, `lag`, …) get none, so a tiebreak never meets a `RANGE` offset
    /// frame, which allows one sort key only.
    pub frame: String,
}

#[derive(Debug, Clone)]
pub struct Window {
    pub input: Box<OpTree>,
    /// `PARTITION BY`, over the input's columns.
    pub partition_by: Vec<Expr>,
    pub partition_columns: Vec<Column>,
    /// `ORDER BY` keys, each `expr USING OPERATOR(…) NULLS FIRST|LAST`.
    pub order_by: Vec<Expr>,
    pub calls: Vec<WindowCall>,
    /// The functions' result columns (after the input's).
    pub call_columns: Vec<Column>,
}

impl Window {
    /// `call OVER (PARTITION BY … ORDER BY … frame)` over the input's columns.
    pub fn function_sql(&self, c: &WindowCall) -> Expr {
        let mut e = c.call.clone();
        e.push_sql(" OVER (");
        if !self.partition_by.is_empty() {
            e.push_sql("PARTITION BY ");
            for (i, p) in self.partition_by.iter().enumerate() {
                if i > 0 {
                    e.push_sql(", ");
                }
                e.append(p.clone());
            }
        }
        let mut keys: Vec<Expr> = self.order_by.clone();
        if c.tiebreak {
            let n = self.input.columns().len();
            let mut img = Expr::sql("pg_catalog.record_send(ROW(");
            for i in 0..n {
                if i > 0 {
                    img.push_sql(", ");
                }
                img.push_col(i);
            }
            img.push_sql(")) USING OPERATOR(pg_catalog.<)");
            keys.push(img);
        }
        if !keys.is_empty() {
            e.push_sql(if self.partition_by.is_empty() {
                "ORDER BY "
            } else {
                " ORDER BY "
            });
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    e.push_sql(", ");
                }
                e.append(k);
            }
        }
        if !c.frame.is_empty() {
            e.push_sql(" ");
            e.push_sql(&c.frame);
        }
        e.push_sql(")");
        e
    }

    fn with_functions(&self, cur: &str) -> String {
        let n_in = self.input.columns().len();
        let funcs = self
            .calls
            .iter()
            .enumerate()
            .map(|(j, c)| {
                format!(
                    ", {} AS {}",
                    self.function_sql(c).render_on("s"),
                    col_name(n_in + j)
                )
            })
            .collect::<String>();
        format!(
            "SELECT {}{funcs} FROM ({cur}) AS s",
            col_list(n_in, Some("s"))
        )
    }
}

impl Window {
    /// `Δσ_q(ω(A)) = σ_q(ω(A′|K)) − σ_q(ω(A|K))` (`q` = `filter`, over the output's
    /// columns): a filter above the window (`row_number() … <= n`) is applied to both
    /// recomputations before they are consolidated against each other, so only the rows
    /// it keeps are sorted, not every row of the affected partitions twice. Both sides are
    /// real states of the input, so the filter sees only rows a full evaluation would.
    pub(crate) fn delta_filtered(
        &self,
        cx: &mut DeltaContext<'_>,
        filter: Option<&Expr>,
    ) -> Result<String, DvmError> {
        super::regroup::Regroup {
            input: &self.input,
            group_by: &self.partition_by,
            group_columns: &self.partition_columns,
            outputs: self.calls.iter().map(|c| self.function_sql(c)).collect(),
            columns: self.columns(),
            clause: "PARTITION BY",
            window: true,
            post_filter: filter,
        }
        .delta(cx)
    }
}

impl Operator for Window {
    fn name(&self) -> &'static str {
        "Window"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        let mut c = self.input.columns();
        c.extend(self.call_columns.iter().cloned());
        c
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        self.delta_filtered(cx, None)
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(self.with_functions(&cur))
    }

    /// The rows stay the input's: a unique key of the input is one of the output.
    fn unique_key(&self) -> Option<Vec<usize>> {
        self.input.rule().unique_key()
    }

    /// `σ_{col ∈ K}(ω_p(A)) = ω_p(σ_{col ∈ K}(A))` when `col` is a partition key: whole
    /// partitions are kept or dropped. Otherwise a filter on top.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        if self.partition_by.iter().any(|p| p.as_column() == Some(col)) {
            let cur = self.input.rule().current_restricted(cx, col, keys)?;
            return Ok(self.with_functions(&cur));
        }
        Ok(restricted_on_top(&self.current(cx)?, col, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgt_sql::QualifiedName;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            type_sql: t.into(),
            exact_equality: true,
            binary_identity: true,
            canonical: None,
        }
    }

    fn window() -> Window {
        let scan = OpTree::scan(
            7,
            QualifiedName::new("public", "t"),
            vec![
                col("id", "integer"),
                col("k", "integer"),
                col("v", "integer"),
            ],
        );
        Window {
            input: Box::new(scan),
            partition_by: vec![Expr::col(1)],
            partition_columns: vec![col("k", "integer")],
            order_by: vec![{
                let mut e = Expr::col(2);
                e.push_sql(" USING OPERATOR(pg_catalog.<) NULLS LAST");
                e
            }],
            calls: vec![
                WindowCall {
                    call: Expr::sql("pg_catalog.rank()"),
                    tiebreak: false,
                    frame: String::new(),
                },
                WindowCall {
                    call: {
                        let mut e = Expr::sql("pg_catalog.sum(");
                        e.push_col(2);
                        e.push_sql(")");
                        e
                    },
                    tiebreak: true,
                    frame: "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW".into(),
                },
            ],
            call_columns: vec![col("r", "bigint"), col("s", "bigint")],
        }
    }

    #[test]
    fn renders_each_function_with_its_own_spec() {
        let w = window();
        assert_eq!(
            w.function_sql(&w.calls[0]).render_on("s"),
            r#"pg_catalog.rank() OVER (PARTITION BY s."c1" ORDER BY s."c2" USING OPERATOR(pg_catalog.<) NULLS LAST)"#
        );
        assert_eq!(
            w.function_sql(&w.calls[1]).render_on("s"),
            r#"pg_catalog.sum(s."c2") OVER (PARTITION BY s."c1" ORDER BY s."c2" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(s."c0", s."c1", s."c2")) USING OPERATOR(pg_catalog.<) ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"#
        );
        assert_eq!(w.columns().len(), 5);
    }

    #[test]
    fn restriction_on_a_partition_key_reaches_the_input() {
        let w = window();
        let f = |_: u32| "true".to_string();
        let mut cx = DeltaContext::new(&f, &pgt_sql::server_functions::Extension);
        let pushed = w.current_restricted(&mut cx, 1, "SELECT 1").unwrap();
        assert!(pushed.starts_with("SELECT s.\"c0\", s.\"c1\", s.\"c2\", pg_catalog.rank()"));
        assert!(
            pushed.contains("t.\"k\" OPERATOR(pg_catalog.=) ANY"),
            "{pushed}"
        );
        let on_top = w.current_restricted(&mut cx, 2, "SELECT 1").unwrap();
        assert!(on_top.starts_with("SELECT s.* FROM (SELECT"));
    }
}
