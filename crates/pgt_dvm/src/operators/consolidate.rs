//! **Consolidation** of a delta (not an operator of the query: a step between operators).
//!
//! ```text
//! consolidate(Δ) = { (r, Σ_{(r', w) ∈ Δ, img(r') = img(r)} w) | r ∈ Δ }  minus rows whose sum is 0
//! ```
//!
//! where `img(r) = record_send(ROW(r))`, the binary image of the row. Rows with the same
//! image are the same value for every deterministic expression, so merging them, and
//! dropping those whose weights cancel, changes no result of any operator above.
//!
//! Two places need it:
//!
//! * **Join deltas.** `Δ(L ⋈ R) = ΔL ⋈ R′ + L′ ⋈ ΔR − ΔL ⋈ ΔR` keeps, unconsolidated, every
//!   combination of old and new versions: for a chain of k joins the delta has about 3^k
//!   rows where the net change has a handful (one UPDATE under a 16-way self-join: 43
//!   million rows). Consolidated at every join, the delta's size follows the net change,
//!   and the cost of a refresh grows linearly with the number of joined inputs.
//! * **Scan deltas.** A row inserted and deleted between two refreshes (or updated back and
//!   forth) cancels before any expression is evaluated on it, so a "poison row" that was
//!   fixed in the meantime cannot make a refresh fail.
//!
//! **Precondition:** every column has a binary send function (`Column::binary_identity`);
//! otherwise the delta is left as it is (correct, only larger).
//!
//! **SQL:** a window over the delta only (`PARTITION BY` the image, after a few exact-equality
//! columns that keep the planner's row estimates realistic): its cost follows the size of
//! the change, never of the tables.

use crate::optree::{col_name, Column};

/// The consolidated form of the delta query `sql` (columns `c0..`, `__pgt_w`), or `sql`
/// unchanged when some column has no binary image.
pub fn consolidated(sql: &str, columns: &[Column]) -> String {
    if columns.iter().any(|c| !c.binary_identity) {
        return sql.to_string();
    }
    let cols = (0..columns.len())
        .map(|i| format!("u.{}", col_name(i)))
        .collect::<Vec<_>>()
        .join(", ");
    let out = (0..columns.len())
        .map(|i| format!("d.{}, ", col_name(i)))
        .collect::<String>();
    // The window is partitioned by the image; a few columns with exact equality (whose
    // values the image determines, so the partitions are the same) go first, so that the
    // planner estimates the number of partitions from their statistics instead of the
    // default for an expression (200), which made it expect almost no consolidated rows
    // and plan quadratic nested loops above.
    let lead = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.exact_equality)
        .take(4)
        .map(|(i, _)| format!("x.{}, ", col_name(i)))
        .collect::<String>();
    // `OFFSET 0`, twice, keeps PostgreSQL from moving a condition of the operator above
    // into the window's input (it may for conditions on partition columns) or next to the
    // `<> 0` that drops cancelled versions (it orders one level's conditions by cost, so
    // the other could run first): either way that condition would be evaluated on versions
    // that cancel, which never existed at any refresh's snapshot, and one that can fail
    // (`100 / v > 3` on a version with `v = 0`, a LIKE pattern ending in `\` on some
    // values) would fail the refresh. Conditions proven error-free are placed below on
    // purpose (`Scan::delta_where`).
    //
    // The first row of each partition carries the net weight, the others 0, and rows of
    // weight 0 are dropped. Written as one `<>` over an expression (instead of
    // `row_number() = 1`, which PostgreSQL estimates at 0.5% of the rows), so that the
    // planner's estimate stays near the delta's size and plans above stay hash joins.
    let w = "CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END";
    format!(
        "SELECT {out}{w} AS __pgt_w FROM (\
           SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, \
                  pg_catalog.row_number() OVER __pgt_win AS __pgt_rn \
             FROM (SELECT u.*, pg_catalog.record_send(ROW({cols})) AS __pgt_img FROM ({sql}) AS u) AS x \
           WINDOW __pgt_win AS (PARTITION BY {lead}x.__pgt_img) OFFSET 0) AS d \
         WHERE {w} OPERATOR(pg_catalog.<>) 0 OFFSET 0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(binary: bool) -> Column {
        Column {
            name: "x".into(),
            type_sql: "integer".into(),
            exact_equality: true,
            binary_identity: binary,
            canonical: None,
        }
    }

    #[test]
    fn wraps_only_when_every_column_has_a_binary_image() {
        let sql = consolidated("SELECT 1 AS c0, 1 AS __pgt_w", &[col(true)]);
        assert!(sql.contains(r#"PARTITION BY x."c0", x.__pgt_img"#), "{sql}");
        assert_eq!(pgt_sql::lint::unqualified(&sql), Vec::<String>::new());
        assert_eq!(
            consolidated("SELECT 1 AS c0, 1 AS __pgt_w", &[col(true), col(false)]),
            "SELECT 1 AS c0, 1 AS __pgt_w"
        );
    }
}
