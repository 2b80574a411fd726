//! **DISTINCT**: `δ(A)`, maintained at the top of the query by multiplicity counting.
//!
//! Each distinct row `r` is stored once with a hidden count `n(r)` of how many input rows
//! produce it: `n′(r) = n(r) + Σ_{ΔA, row = r} w`. The row appears when `n′` becomes
//! positive and disappears when it reaches 0.
//!
//! **Preconditions:** every column has exact equality (the row's identity is the hash of
//! its binary form).
//!
//! **SQL:** see `storage.rs` (distinct model).

use super::{col_list, DeltaContext, Operator};
use crate::optree::{Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Distinct {
    pub input: Box<OpTree>,
}

impl Operator for Distinct {
    fn name(&self) -> &'static str {
        "Distinct"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.input.columns()
    }

    /// Below the top of the query: a grouping by every column (`regroup.rs`).
    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        super::regroup::distinct_delta(&self.input, cx)
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        let columns = self.columns();
        let all: Vec<crate::expr::Expr> = (0..columns.len()).map(crate::expr::Expr::col).collect();
        // Columns without exact equality: a deterministic one of the equal values, as
        // regrouping shows it (`regroup::with_representatives`).
        if let Some((rows, keys)) =
            super::regroup::with_representatives(cx.server, &cur, &all, &columns)
        {
            let sel = keys
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{} AS {}", k.render_on("s"), crate::optree::col_name(i)))
                .collect::<Vec<_>>()
                .join(", ");
            return Ok(format!("SELECT DISTINCT {sel} FROM ({rows}) AS s"));
        }
        Ok(format!(
            "SELECT DISTINCT {} FROM ({cur}) AS s",
            col_list(columns.len(), Some("s"))
        ))
    }
}
