//! `GROUPING SETS`, `ROLLUP` and `CUBE` (ADR-051): the query's grouping sets, expanded as
//! PostgreSQL expands them, become one grouping per set under a `UNION ALL`:
//!
//! ```text
//! γ_{GROUPING SETS (S₁, …, Sₙ); f}(A) = ⊎ᵢ π_{keys of Sᵢ, NULL for the others, f, GROUPING(…)}(γ_{Sᵢ; f}(A))
//! ```
//!
//! Each branch is an ordinary grouping over the same input (a shared subtree), maintained
//! by the aggregate rules below the top (stored states when algebraic, else regrouping);
//! `GROUPING(a, b, …)` is a constant per branch (bit `i` counted from the right set when
//! the `i`-th argument from the right is not grouped in that set). HAVING and the SELECT
//! list apply to the union as to a plain grouping. The empty set `()` is a grouping without
//! keys: one row, even over no input rows, as in PostgreSQL.

use std::collections::BTreeSet;
use std::ffi::c_void;

use pgrx::pg_sys;
use pgrx::PgList;
use pgt_dvm::{AggCall, Column, Expr, OpTree};

use super::{expr_column, unsupported};
use crate::error::PgtResult;

/// More sets than this are refused for incremental maintenance (each is a grouping the
/// refresh maintains).
const MAX_SETS: usize = 64;

/// The grouping sets of `q`, each as the sort-group references it groups by.
pub(super) unsafe fn expand(q: *mut pg_sys::Query) -> PgtResult<Vec<Vec<u32>>> {
    let mut sets: Vec<Vec<u32>> = vec![Vec::new()];
    for node in PgList::<pg_sys::Node>::from_pg((*q).groupingSets).iter_ptr() {
        let part = expand_node(node)?;
        let mut product = Vec::new();
        for s in &sets {
            for p in &part {
                let mut c = s.clone();
                c.extend(p.iter().copied());
                product.push(c);
                if product.len() > MAX_SETS {
                    return Err(too_many());
                }
            }
        }
        sets = product;
    }
    if (*q).groupDistinct {
        let mut seen = BTreeSet::new();
        sets.retain(|s| seen.insert(s.iter().copied().collect::<BTreeSet<u32>>()));
    }
    Ok(sets)
}

fn too_many() -> crate::error::PgtError {
    unsupported(
        &format!("more than {MAX_SETS} grouping sets"),
        "Each grouping set is a grouping that every refresh maintains; split the query, or use FULL.",
    )
}

unsafe fn refs(list: *mut pg_sys::List) -> Vec<u32> {
    PgList::<c_void>::from_pg(list)
        .iter_int()
        .map(|i| i as u32)
        .collect()
}

unsafe fn expand_node(node: *mut pg_sys::Node) -> PgtResult<Vec<Vec<u32>>> {
    use pg_sys::GroupingSetKind::*;
    if (*node).type_ != pg_sys::NodeTag::T_GroupingSet {
        return Err(unsupported(
            "a grouping set element",
            "It is not a grouping set node.",
        ));
    }
    let g = node as *mut pg_sys::GroupingSet;
    let children = || -> Vec<*mut pg_sys::Node> {
        PgList::<pg_sys::Node>::from_pg((*g).content)
            .iter_ptr()
            .collect()
    };
    Ok(match (*g).kind {
        GROUPING_SET_EMPTY => vec![Vec::new()],
        GROUPING_SET_SIMPLE => vec![refs((*g).content)],
        GROUPING_SET_ROLLUP => {
            // (a, b, c) → (a, b, c), (a, b), (a), ()
            let parts: Vec<Vec<u32>> = children()
                .into_iter()
                .map(|c| refs((*(c as *mut pg_sys::GroupingSet)).content))
                .collect();
            (0..=parts.len())
                .rev()
                .map(|n| parts[..n].concat())
                .collect()
        }
        GROUPING_SET_CUBE => {
            let parts: Vec<Vec<u32>> = children()
                .into_iter()
                .map(|c| refs((*(c as *mut pg_sys::GroupingSet)).content))
                .collect();
            if parts.len() > 6 {
                return Err(too_many());
            }
            (0..1u32 << parts.len())
                .rev()
                .map(|mask| {
                    parts
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << (parts.len() - 1 - i)) != 0)
                        .flat_map(|(_, p)| p.iter().copied())
                        .collect()
                })
                .collect()
        }
        GROUPING_SET_SETS => {
            let mut out = Vec::new();
            for c in children() {
                out.extend(expand_node(c)?);
                if out.len() > MAX_SETS {
                    return Err(too_many());
                }
            }
            out
        }
        other => {
            return Err(unsupported(
                &format!("a grouping set of kind {other}"),
                "It is not known to the incremental engine.",
            ))
        }
    })
}

/// `GROUPING(args)` in the set `set`: bit `n − 1 − i` for each argument `i` not grouped.
pub(super) unsafe fn grouping_value(f: *mut pg_sys::GroupingFunc, set: &[u32]) -> i32 {
    let r = refs((*f).refs);
    let n = r.len();
    r.iter()
        .enumerate()
        .filter(|(_, x)| !set.contains(x))
        .fold(0i32, |acc, (i, _)| acc | (1 << (n - 1 - i)))
}

/// A level's grouping: its GROUP BY items (with their sort-group references) and its
/// aggregates.
pub(super) struct Grouped<'a> {
    pub refs: &'a [u32],
    pub by: &'a [Expr],
    pub columns: &'a [Column],
    pub aggs: &'a [AggCall],
    pub aggrefs: &'a [*mut pg_sys::Node],
    pub error_free: bool,
}

impl Grouped<'_> {
    /// One grouping of `input` (a shared subtree) per grouping set of `q`, under UNION ALL:
    /// every GROUP BY item (NULL where the set leaves it out), the aggregates, then the
    /// value of each of `groupings` (GROUPING() calls) in that set.
    pub(super) unsafe fn union_of_sets(
        &self,
        q: *mut pg_sys::Query,
        input: OpTree,
        groupings: &[*mut pg_sys::Node],
    ) -> PgtResult<OpTree> {
        let mut branches = Vec::new();
        for set in &expand(q)? {
            let keep: Vec<usize> = (0..self.by.len())
                .filter(|&i| set.contains(&self.refs[i]))
                .collect();
            let grouped = OpTree::aggregate(
                input.clone(),
                keep.iter().map(|&i| self.by[i].clone()).collect(),
                keep.iter().map(|&i| self.columns[i].clone()).collect(),
                self.aggs.to_vec(),
            )
            .with_error_free_aggregate_input(self.error_free);
            let mut exprs = Vec::new();
            let mut columns = Vec::new();
            for (i, c) in self.columns.iter().enumerate() {
                exprs.push(match keep.iter().position(|&k| k == i) {
                    Some(p) => Expr::col(p),
                    None => Expr::sql(format!("NULL::{}", c.type_sql)),
                });
                columns.push(c.clone());
            }
            for (j, &a) in self.aggrefs.iter().enumerate() {
                exprs.push(Expr::col(keep.len() + j));
                columns.push(expr_column(format!("a{j}"), a)?);
            }
            for (g, &f) in groupings.iter().enumerate() {
                let v = grouping_value(f as *mut pg_sys::GroupingFunc, set);
                exprs.push(Expr::sql(format!("{v}::pg_catalog.int4")));
                columns.push(expr_column(format!("grouping{g}"), f)?);
            }
            branches.push(OpTree::project(grouped, exprs, columns));
        }
        Ok(if branches.len() == 1 {
            branches.pop().expect("one branch")
        } else {
            OpTree::union_all(branches)
        })
    }
}
