//! **UNION ALL**: `A ⊎ B`.
//!
//! `Δ(A ⊎ B) = ΔA ⊎ ΔB`: linear, weights pass through.
//!
//! **SQL:** `SELECT * FROM ΔA UNION ALL SELECT * FROM ΔB` (columns line up by position;
//! PostgreSQL resolves the common types exactly as it did for the query).

use super::{col_list, DeltaContext, Operator};
use crate::optree::{Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct UnionAll {
    pub inputs: Vec<OpTree>,
}

impl Operator for UnionAll {
    fn name(&self) -> &'static str {
        "UnionAll"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        let mut all = Vec::new();
        for i in &self.inputs {
            all.extend(i.rule().quiet_sources(cx)?);
        }
        Some(all)
    }

    fn columns(&self) -> Vec<Column> {
        self.inputs[0].columns()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let n = self.columns().len();
        let mut branches = Vec::new();
        for input in &self.inputs {
            let quiet = input.rule().quiet_sources(cx);
            if cx.left_out(&quiet) {
                continue;
            }
            let d = input.rule().delta(cx)?;
            branches.push(format!("SELECT {}, __pgt_w FROM {d}", col_list(n, None)));
        }
        if branches.is_empty() {
            return Ok(super::empty_delta(cx, &self.columns()));
        }
        Ok(cx.add_cte("union_delta", branches.join(" UNION ALL ")))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let n = self.columns().len();
        let mut branches = Vec::new();
        for input in &self.inputs {
            let c = input.rule().current(cx)?;
            branches.push(format!("SELECT {} FROM ({c}) AS u", col_list(n, None)));
        }
        Ok(branches.join(" UNION ALL "))
    }
}
