//! **merge_projects**: `π_{e₂}(π_{e₁}(A)) = π_{e₂[c_i := e₁ᵢ]}(A)`, when the substitution
//! cannot change a type or duplicate work: every column `e₂` reads is a bare column of
//! `e₁`, or `e₂` is a list of bare columns (it only selects and reorders `e₁`).
//!
//! A subquery's SELECT list and the one above it become one level of generated SQL.

use super::filter_below_project::bare;
use super::LocalRule;
use crate::expr::ExprPart;
use crate::optree::OpTree;

pub struct MergeProjects;

impl LocalRule for MergeProjects {
    fn name(&self) -> &'static str {
        "merge_projects"
    }

    fn apply(&self, node: &OpTree) -> Option<OpTree> {
        let OpTree::Project(outer) = node else {
            return None;
        };
        let OpTree::Project(inner) = outer.input.as_ref() else {
            return None;
        };
        let outer_bare: Option<Vec<usize>> =
            (0..outer.exprs.len()).map(|i| bare(outer, i)).collect();
        let exprs = if let Some(sel) = outer_bare {
            sel.iter().map(|&j| inner.exprs[j].clone()).collect()
        } else {
            let reads_bare = outer
                .exprs
                .iter()
                .flat_map(|e| e.columns())
                .all(|c| bare(inner, c).is_some());
            if !reads_bare {
                return None;
            }
            outer
                .exprs
                .iter()
                .map(|e| e.remap(&|c| bare(inner, c).expect("checked")))
                .collect()
        };
        // A bare column keeps its own column description (name, type) from the outer level.
        debug_assert!(outer.exprs.iter().all(|e| e
            .parts
            .iter()
            .all(|p| !matches!(p, ExprPart::Col(c) if *c >= inner.exprs.len()))));
        Some(OpTree::project(
            (*inner.input).clone(),
            exprs,
            outer.columns.clone(),
        ))
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
    fn a_selection_of_a_projection_is_one_projection() {
        let a = scan(1, "a", &["id", "k", "v"]);
        let mut plus = Expr::col(2);
        plus.push_sql(" OPERATOR(pg_catalog.+) 1");
        let inner = OpTree::project(a, vec![Expr::col(0), plus], vec![col("id"), col("v1")]);
        let t = OpTree::project(inner.clone(), vec![Expr::col(1)], vec![col("v1")]);
        let out = MergeProjects.rewrite(&t).expect("applies");
        let mut computed = Expr::col(1);
        computed.push_sql(" OPERATOR(pg_catalog.*) 2");
        // An expression over a computed column is not substituted.
        let kept = OpTree::project(inner, vec![computed], vec![col("v2")]);
        assert!(MergeProjects.rewrite(&kept).is_none());
        crate::golden::check(
            "rules/merge_projects.txt",
            &format!("in:\n{}\nout:\n{}", tree_text(&t), tree_text(&out)),
        );
    }
}
