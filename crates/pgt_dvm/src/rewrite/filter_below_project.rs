//! **filter_below_project**: a filter over a projection moves below it when it reads only
//! columns the projection passes through unchanged.
//!
//! ```text
//! σ_p(π_{e}(A)) = π_{e}(σ_{p[c_i := a_j]}(A))     every column c_i that p reads is e_i = a_j
//! ```
//!
//! So a predicate over a subquery's output reaches the subquery's joins and scans.

use super::LocalRule;
use crate::operators::filter::Filter;
use crate::operators::project::Project;
use crate::optree::OpTree;

pub struct FilterBelowProject;

/// The input column a projection passes through at output `i`, if it is a bare column.
pub(crate) fn bare(p: &Project, i: usize) -> Option<usize> {
    p.exprs.get(i)?.as_column()
}

impl LocalRule for FilterBelowProject {
    fn name(&self) -> &'static str {
        "filter_below_project"
    }

    fn apply(&self, node: &OpTree) -> Option<OpTree> {
        let OpTree::Filter(Filter {
            input,
            predicate,
            equi,
            error_free,
        }) = node
        else {
            return None;
        };
        let OpTree::Project(p) = input.as_ref() else {
            return None;
        };
        let cols = predicate.columns();
        if cols.is_empty() || cols.iter().any(|&c| bare(p, c).is_none()) {
            return None;
        }
        let map = |i: usize| bare(p, i).expect("checked");
        let moved = OpTree::filter_equi(
            (*p.input).clone(),
            predicate.remap(&map),
            equi.iter().map(|&(a, b)| (map(a), map(b))).collect(),
        )
        .with_error_free(*error_free);
        Some(OpTree::project(moved, p.exprs.clone(), p.columns.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Rule;
    use super::*;
    use crate::explain::tree_text;
    use crate::Expr;

    #[test]
    fn a_filter_over_a_subquery_moves_down() {
        let a = scan(1, "a", &["id", "k", "v"]);
        let mut doubled = Expr::col(2);
        doubled.push_sql(" OPERATOR(pg_catalog.*) 2");
        let sub = OpTree::project(a, vec![Expr::col(0), doubled], vec![col("id"), col("v2")]);
        let t = OpTree::filter(sub.clone(), gt(0, 10));
        let out = FilterBelowProject.rewrite(&t).expect("applies");
        crate::golden::check(
            "rules/filter_below_project.txt",
            &format!("in:\n{}\nout:\n{}", tree_text(&t), tree_text(&out)),
        );
        // A predicate on a computed column stays above.
        assert!(FilterBelowProject
            .rewrite(&OpTree::filter(sub, gt(1, 10)))
            .is_none());
    }
}
