//! **Lateral function**: `A ⋈_lat F`, each row `r` of `A` joined with the rows the
//! set-returning function call(s) `F(r)` produce: `unnest(r.arr)`,
//! `jsonb_array_elements(r.doc)`, `generate_series(r.lo, r.hi)`, `ROWS FROM (…)`,
//! `WITH ORDINALITY`; with `outer`, `A LEFT JOIN LATERAL F ON true` (a row whose call
//! returns no rows is kept once, NULL-extended).
//!
//! The rows produced for `r` depend on `r` alone (the call is a deterministic function of
//! its arguments; volatile ones are refused by the frontend), so the operator is a
//! flat-map, linear in the weights of its input's rows:
//!
//! ```text
//! Δ(A ⋈_lat F) = ΔA ⋈_lat F
//! ```
//!
//! An updated row's old version (weight −1) produces its old output rows, the new version
//! its new ones; output rows that are the same in both cancel downstream. An uncorrelated
//! call (`CROSS JOIN generate_series(1, 3)`) is the same rule with arguments that read no
//! column.
//!
//! **SQL:** `… FROM (ΔA) AS d CROSS JOIN LATERAL ROWS FROM (…) AS __pgt_f(…)` (`LEFT JOIN
//! LATERAL … ON true` when outer); the input's delta is consolidated, so the function only
//! sees rows that exist at one of the two snapshots.

use super::{col_list, DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct LateralFunction {
    pub input: Box<OpTree>,
    /// `ROWS FROM (f(…) [AS (coldefs)], …) [WITH ORDINALITY]` over the input's columns.
    pub call: Expr,
    /// The call's output columns (after the input's).
    pub call_columns: Vec<Column>,
    /// `LEFT JOIN LATERAL … ON true` instead of `CROSS JOIN LATERAL`.
    pub outer: bool,
}

impl LateralFunction {
    /// `SELECT input columns, function columns [, weight] FROM (rows) AS s ⋈_lat F`.
    fn applied(&self, rows: &str, weight: Option<&str>) -> String {
        let n_in = self.input.columns().len();
        let aliases = (0..self.call_columns.len())
            .map(|i| format!("\"f{i}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let outs = (0..self.call_columns.len())
            .map(|i| format!(", __pgt_f.\"f{i}\" AS {}", col_name(n_in + i)))
            .collect::<String>();
        let w = weight.map(|w| format!(", {w}")).unwrap_or_default();
        let join = if self.outer {
            "LEFT JOIN LATERAL"
        } else {
            "CROSS JOIN LATERAL"
        };
        let on = if self.outer { " ON true" } else { "" };
        format!(
            "SELECT {}{outs}{w} FROM ({rows}) AS s {join} {} AS __pgt_f({aliases}){on}",
            col_list(n_in, Some("s")),
            self.call.render_on("s")
        )
    }
}

impl Operator for LateralFunction {
    fn name(&self) -> &'static str {
        "LateralFunction"
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
        let d = self.input.rule().delta(cx)?;
        let sql = self.applied(&format!("SELECT * FROM {d}"), Some("s.__pgt_w"));
        Ok(cx.add_cte("lateral_function_delta", sql))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        Ok(self.applied(&cur, None))
    }

    /// `σ_{col ∈ K}(A ⋈_lat F) = σ_{col ∈ K}(A) ⋈_lat F` for an input column: the rows of
    /// a kept input row are all kept.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        if col < self.input.columns().len() {
            let cur = self.input.rule().current_restricted(cx, col, keys)?;
            return Ok(self.applied(&cur, None));
        }
        Ok(super::restricted_on_top(&self.current(cx)?, col, keys))
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

    #[test]
    fn the_delta_applies_the_call_to_the_changed_rows() {
        let scan = OpTree::scan(
            7,
            QualifiedName::new("public", "docs"),
            vec![col("id", "integer"), col("tags", "text[]")],
        );
        let mut call = Expr::sql("ROWS FROM (pg_catalog.unnest(");
        call.push_col(1);
        call.push_sql(")) WITH ORDINALITY");
        let op = LateralFunction {
            input: Box::new(scan),
            call,
            call_columns: vec![col("tag", "text"), col("ord", "bigint")],
            outer: true,
        };
        let f = |_: u32| "true".to_string();
        let mut cx = DeltaContext::new(&f, &pgt_sql::server_functions::Extension);
        let d = op.delta(&mut cx).unwrap();
        let ctes = cx.cte_list().join("\n");
        assert!(ctes.contains(&format!("{d} AS (SELECT s.\"c0\", s.\"c1\", __pgt_f.\"f0\" AS \"c2\", __pgt_f.\"f1\" AS \"c3\", s.__pgt_w FROM (SELECT * FROM __pgt_")), "{ctes}");
        assert!(ctes.contains("LEFT JOIN LATERAL ROWS FROM (pg_catalog.unnest(s.\"c1\")) WITH ORDINALITY AS __pgt_f(\"f0\", \"f1\") ON true"), "{ctes}");
        assert_eq!(op.columns().len(), 4);
    }
}
