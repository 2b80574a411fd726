//! **Project** (the SELECT list): `π_e` with arbitrary deterministic expressions, CASE,
//! casts and function calls.
//!
//! `Δ(π_e(A)) = π_e(ΔA)`: projection is linear on Z-sets (duplicates it creates are kept
//! as weights, not collapsed).
//!
//! **SQL:** `SELECT e0(d) AS c0, …, d.__pgt_w FROM ΔA d`.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Project {
    pub input: Box<OpTree>,
    pub exprs: Vec<Expr>,
    pub columns: Vec<Column>,
}

impl Project {
    pub(crate) fn select_list(&self, alias: &str) -> String {
        self.exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{} AS {}", e.render_on(alias), col_name(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Operator for Project {
    fn name(&self) -> &'static str {
        "Project"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let d = self.input.rule().delta(cx)?;
        let sql = format!("SELECT {}, d.__pgt_w FROM {d} AS d", self.select_list("d"));
        Ok(cx.add_cte("project_delta", sql))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(format!(
            "SELECT {} FROM ({cur}) AS s",
            self.select_list("s")
        ))
    }

    /// `σ_{col ∈ K}(π_e A) = π_e(σ_{i ∈ K} A)` when output `col` is the bare input column `i`.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let cur = match self.exprs.get(col).and_then(|e| e.as_column()) {
            Some(i) => self.input.rule().current_restricted(cx, i, keys)?,
            None => return Ok(super::restricted_on_top(&self.current(cx)?, col, keys)),
        };
        Ok(format!(
            "SELECT {} FROM ({cur}) AS s",
            self.select_list("s")
        ))
    }

    /// The input's key survives when every key column is output as a bare column.
    fn unique_key(&self) -> Option<Vec<usize>> {
        let key = self.input.rule().unique_key()?;
        key.iter()
            .map(|k| self.exprs.iter().position(|e| e.as_column() == Some(*k)))
            .collect()
    }
}
