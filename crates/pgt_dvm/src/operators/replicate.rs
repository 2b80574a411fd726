//! **Replicate**: `ρ_f(A)`, each row `r` of `A` repeated `f(r)` times (none when
//! `f(r) ≤ 0`), keeping its first `keep` columns. `INTERSECT ALL` and `EXCEPT ALL` are
//! this over a grouping of both sides' rows with per-side counts `a`, `b` (the frontend's
//! `intersect_or_except`): `f = least(a, b)` and `f = greatest(a − b, 0)`, exactly
//! PostgreSQL's multiplicities.
//!
//! Repetition is linear in the weights of the input's rows, so for a Z-set delta:
//!
//! ```text
//! Δρ_f(A) = { (π_keep r, w · max(f(r), 0)) | (r, w) ∈ ΔA }, consolidated
//! ```
//!
//! Over a grouping, `ΔA` holds each changed group's old row with weight −1 and its new row
//! with +1, so a group whose count goes from 3 to 2 yields `−3 + 2 = −1` copy of its row.
//!
//! **SQL:** the delta is one pass over the input's delta; the current state repeats each
//! row with `generate_series(1, f)`.

use super::{col_list, DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Replicate {
    pub input: Box<OpTree>,
    /// The number of copies of a row, over the input's columns (an integer expression).
    pub count: Expr,
    /// How many of the input's leading columns are output.
    pub keep: usize,
}

impl Replicate {
    fn copies(&self, alias: &str) -> String {
        format!("GREATEST(({})::bigint, 0)", self.count.render_on(alias))
    }

    fn repeated(&self, cur: &str) -> String {
        format!(
            "SELECT {} FROM ({cur}) AS s CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, {}) AS __pgt_copy",
            (0..self.keep)
                .map(|i| format!("s.{} AS {}", col_name(i), col_name(i)))
                .collect::<Vec<_>>()
                .join(", "),
            self.copies("s")
        )
    }
}

impl Operator for Replicate {
    fn name(&self) -> &'static str {
        "Replicate"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.input.columns().into_iter().take(self.keep).collect()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let d = self.input.rule().delta(cx)?;
        let copies = self.copies("d");
        let sql = format!(
            "SELECT {}, (d.__pgt_w OPERATOR(pg_catalog.*) {copies})::bigint AS __pgt_w FROM {d} AS d \
              WHERE {copies} OPERATOR(pg_catalog.<>) 0",
            col_list(self.keep, Some("d"))
        );
        let sql = super::consolidate::consolidated(&sql, &self.columns());
        Ok(cx.add_cte("replicate_delta", sql))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(self.repeated(&cur))
    }

    /// `σ_{col ∈ K}(ρ_f(A)) = ρ_f(σ_{col ∈ K}(A))`: the kept columns are the input's.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let cur = self.input.rule().current_restricted(cx, col, keys)?;
        Ok(self.repeated(&cur))
    }
}
