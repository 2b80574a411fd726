//! **Match counts**: the delta of "the rows of `A` with (or without) a match in `B`", the
//! part shared by outer joins (their NULL-extended rows), anti-joins (`NOT EXISTS`,
//! `NOT IN`) and semi-joins (`EXISTS`, `IN`). Not an operator of its own.
//!
//! With `m_B(a) = |{ b ∈ B | θ(a, b) }|`, `m′ = m_{B′}`, `dm(a) = Σ_{b ∈ ΔB, θ(a, b)} w_b`
//! (so the old count is `m = m′ − dm`) and `A = A′ − ΔA`, for an indicator `P` of the count
//! (`P(m) = [m = 0]`: unmatched; `P(m) = [m > 0]`: matched):
//!
//! ```text
//! Δ{ a ∈ A | P(m_B(a)) } = A′·P(m′) − A·P(m)
//!                        = ΔA·P(m′ − dm)                    (T2: changed rows, old count)
//!                        + A′·(P(m′) − P(m′ − dm))          (T3: rows whose count crossed 0)
//! ```
//!
//! T3 is non-zero only for rows of `A′` with `dm ≠ 0`, that is rows matching some row of
//! `ΔB`, so its candidates are `A′ ⋉_θ ΔB` (restricted by the delta's keys when `θ`
//! equates columns). Every row of a bag is a candidate of its own (numbered, not grouped
//! by value), and `m′` counts matching rows, so duplicates keep their multiplicity.
//!
//! **SQL:** `m′(a)` is a correlated `count(*)` over `B′` with `θ`, which PostgreSQL answers
//! through `B`'s index on the join key; `dm` is one hash-joinable aggregate of the
//! numbered rows joined to `ΔB`. Aliases are fixed: left rows `l`, right rows `r`, as in
//! the join condition.

use super::DeltaContext;
use crate::operators::join::Join;
use crate::optree::col_name;
use crate::DvmError;

/// The side of a join whose rows are kept (or tested).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

/// T2 and T3 for the rows of the `preserved` side of `join` (with its condition θ), from
/// that side's delta `dp` and the other side's delta `dother` (None: no delta term). Each
/// term selects `select` (over the preserved row's alias) and `__pgt_w`. `matched`: keep
/// the rows with a match (semi-join) instead of those without (anti-join).
pub(crate) fn match_terms(
    cx: &mut DeltaContext<'_>,
    join: &Join,
    preserved: Side,
    dp: Option<&str>,
    dother: Option<&str>,
    select: &str,
    matched: bool,
) -> Result<Vec<String>, DvmError> {
    let nl = join.left.columns().len();
    let on = join.on(nl);
    let (p_tree, o_tree, pa, oa) = match preserved {
        Side::Left => (&join.left, &join.right, "l", "r"),
        Side::Right => (&join.right, &join.left, "r", "l"),
    };
    // P(x) as SQL, for a count `x` and an old-count offset.
    let p = |count: &str, minus: &str| {
        if matched {
            format!("({count} OPERATOR(pg_catalog.>) {minus})")
        } else {
            format!("({count} OPERATOR(pg_catalog.=) {minus})")
        }
    };
    let cur_other = o_tree.rule().current(cx)?;
    // m′: the rows of the other side's current state matching the preserved row.
    let matches_now = format!("(SELECT pg_catalog.count(*) FROM ({cur_other}) AS {oa} WHERE {on})");
    let mut terms = Vec::new();
    if let Some(dp) = dp {
        match dother {
            // T2 with m = m′ − dm.
            Some(dother) => {
                let numbered = cx.add_cte(
                    "match_rows",
                    format!(
                        "SELECT pg_catalog.row_number() OVER () AS __pgt_n, d.* FROM {dp} AS d"
                    ),
                );
                let dm = cx.add_cte(
                    "match_dm",
                    format!(
                        "SELECT {pa}.__pgt_n, pg_catalog.sum({oa}.__pgt_w)::bigint AS __pgt_dm \
                           FROM {numbered} AS {pa} JOIN {dother} AS {oa} ON {on} GROUP BY {pa}.__pgt_n"
                    ),
                );
                terms.push(format!(
                    "SELECT {select}, {pa}.__pgt_w AS __pgt_w FROM {numbered} AS {pa} \
                       LEFT JOIN {dm} AS x ON x.__pgt_n OPERATOR(pg_catalog.=) {pa}.__pgt_n \
                      WHERE {}",
                    p(&matches_now, "COALESCE(x.__pgt_dm, 0)")
                ));
            }
            // The other side did not change: m = m′.
            None => terms.push(format!(
                "SELECT {select}, {pa}.__pgt_w AS __pgt_w FROM {dp} AS {pa} \
                  WHERE {}EXISTS (SELECT 1 FROM ({cur_other}) AS {oa} WHERE {on})",
                if matched { "" } else { "NOT " }
            )),
        }
    }
    if let Some(dother) = dother {
        // T3: the current preserved rows matching some changed row of the other side,
        // restricted by its keys where θ equates a column pair.
        let pair = join.reducible_pair().map(|(a, b)| match preserved {
            Side::Left => (a, b),
            Side::Right => (b, a),
        });
        let large = o_tree.source_oids().iter().any(|o| cx.large.contains(o));
        let candidates = match pair {
            Some((pcol, ocol)) if !(large && p_tree.is_single_table()) => {
                p_tree.rule().current_restricted(
                    cx,
                    pcol,
                    &format!("SELECT k.{} FROM {dother} AS k", col_name(ocol)),
                )?
            }
            _ => format!(
                "SELECT {pa}.* FROM ({}) AS {pa} WHERE EXISTS (SELECT 1 FROM {dother} AS {oa} WHERE {on})",
                p_tree.rule().current(cx)?
            ),
        };
        let numbered = cx.add_cte(
            "match_cand",
            format!(
                "SELECT pg_catalog.row_number() OVER () AS __pgt_n, c.* FROM ({candidates}) AS c"
            ),
        );
        let dm = cx.add_cte(
            "match_cdm",
            format!(
                "SELECT {pa}.__pgt_n, pg_catalog.sum({oa}.__pgt_w)::bigint AS __pgt_dm \
                   FROM {numbered} AS {pa} JOIN {dother} AS {oa} ON {on} GROUP BY {pa}.__pgt_n \
                 HAVING pg_catalog.sum({oa}.__pgt_w) OPERATOR(pg_catalog.<>) 0"
            ),
        );
        terms.push(format!(
            "SELECT {select}, w.__pgt_w FROM {numbered} AS {pa} \
               JOIN {dm} AS x ON x.__pgt_n OPERATOR(pg_catalog.=) {pa}.__pgt_n \
               CROSS JOIN LATERAL (SELECT {matches_now} AS m) AS m \
               CROSS JOIN LATERAL (SELECT ({}::integer OPERATOR(pg_catalog.-) {}::integer)::bigint AS __pgt_w) AS w \
              WHERE w.__pgt_w OPERATOR(pg_catalog.<>) 0",
            p("m.m", "0"),
            p("m.m", "x.__pgt_dm")
        ));
    }
    Ok(terms)
}
