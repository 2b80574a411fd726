//! **Values**: a constant relation `V` (`VALUES (…), (…)` in FROM).
//!
//! `ΔV = ∅`: nothing a refresh consumes can change a constant, so every delta through it
//! comes from the other inputs (`Δ(A ⋈ V) = ΔA ⋈ V`).
//!
//! **Preconditions:** every expression is a constant of the query (no column reference;
//! volatility is checked by the frontend like any expression).
//!
//! **SQL:** delta = `SELECT NULL::t… AS c…, 0 AS __pgt_w WHERE false`;
//! current = `SELECT v.column1 AS c0, … FROM (VALUES (…), …) AS v`.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Values {
    pub columns: Vec<Column>,
    /// The rows, each with one expression per column (already of the column's type).
    pub rows: Vec<Vec<Expr>>,
}

impl Operator for Values {
    fn name(&self) -> &'static str {
        "Values"
    }

    fn quiet_sources(&self, _cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        Some(Vec::new())
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cols = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("NULL::{} AS {}", c.type_sql, col_name(i)))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(cx.add_cte(
            "values_delta",
            format!("SELECT {cols}, 0::bigint AS __pgt_w WHERE false"),
        ))
    }

    fn current(&self, _cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let no_columns = |_: usize| -> String { "NULL".into() };
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let vals = r
                    .iter()
                    .map(|e| e.render(&no_columns))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({vals})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        // VALUES names its columns column1, column2, …
        let cols = (0..self.columns.len())
            .map(|i| format!("v.\"column{}\" AS {}", i + 1, col_name(i)))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(format!("SELECT {cols} FROM (VALUES {rows}) AS v"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optree::OpTree;

    #[test]
    fn constant_rows_have_no_delta() {
        let col = Column {
            name: "x".into(),
            type_sql: "integer".into(),
            exact_equality: true,
            binary_identity: true,
            canonical: None,
        };
        let v = OpTree::values(vec![col], vec![vec![Expr::sql("1")], vec![Expr::sql("2")]]);
        let none = |_: u32| "false".to_string();
        let mut cx = DeltaContext::new(&none, &pgt_sql::server_functions::Extension);
        let d = v.rule().delta(&mut cx).unwrap();
        let sql = cx.cte_list().join(", ");
        assert!(
            sql.contains(&format!(
                "{d} AS (SELECT NULL::integer AS \"c0\", 0::bigint AS __pgt_w WHERE false)"
            )),
            "{sql}"
        );
        let cur = v.rule().current(&mut cx).unwrap();
        assert_eq!(
            cur,
            r#"SELECT v."column1" AS "c0" FROM (VALUES (1), (2)) AS v"#
        );
        assert_eq!(pgt_sql::lint::unqualified(&cur), Vec::<String>::new());
    }
}
