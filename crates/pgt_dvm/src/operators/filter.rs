//! **Filter** (WHERE): `σ_p`.
//!
//! `Δ(σ_p(A)) = σ_p(ΔA)`: filtering is linear, weights pass through unchanged.
//!
//! **Preconditions:** `p` is deterministic (volatile functions were refused by validation).
//!
//! **SQL:** `SELECT d.* FROM ΔA d WHERE p(d)`.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Filter {
    pub input: Box<OpTree>,
    pub predicate: Expr,
    /// Column pairs (input positions) the predicate equates with the types' btree
    /// equality, as conjuncts `a = b` (the frontend found them; `filter_into_join` turns
    /// them into join keys).
    pub equi: Vec<(usize, usize)>,
    /// The predicate cannot raise an error for any input row (the frontend proved it: only
    /// columns, constants, boolean logic and comparisons of built-in types). Such a filter
    /// directly over a scan is evaluated on the buffered changes before they are
    /// consolidated (see `Scan::delta_where`), so the consolidation sorts only the rows that
    /// pass.
    pub error_free: bool,
}

impl Operator for Filter {
    fn name(&self) -> &'static str {
        "Filter"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.input.columns()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let (OpTree::Scan(scan), true) = (self.input.as_ref(), self.error_free) {
            // `consolidate(σ_p(ΔR)) = σ_p(consolidate(ΔR))`: rows with the same image agree
            // on `p`, so filtering first keeps or drops whole groups of versions.
            return scan.delta_where(cx, Some(&self.predicate), true);
        }
        if let OpTree::Window(w) = self.input.as_ref() {
            // Filtered inside the window's recomputation (`Window::delta_filtered`).
            return w.delta_filtered(cx, Some(&self.predicate));
        }
        let d = self.input.rule().delta(cx)?;
        let sql = format!(
            "SELECT d.* FROM {d} AS d WHERE {}",
            self.predicate.render_on("d")
        );
        Ok(cx.add_cte("filter_delta", sql))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(format!(
            "SELECT s.* FROM ({cur}) AS s WHERE {}",
            self.predicate.render_on("s")
        ))
    }

    fn unique_key(&self) -> Option<Vec<usize>> {
        self.input.rule().unique_key()
    }

    /// `σ_{col ∈ K}(σ_p A) = σ_p(σ_{col ∈ K} A)`.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let cur = self.input.rule().current_restricted(cx, col, keys)?;
        Ok(format!(
            "SELECT s.* FROM ({cur}) AS s WHERE {}",
            self.predicate.render_on("s")
        ))
    }
}
