//! **merge_filters**: `σ_q(σ_p(A)) = σ_{p ∧ q}(A)`: one WHERE per level of generated SQL.
//! Runs after placement, so it never hides a conjunct that could still move.

use super::LocalRule;
use crate::optree::OpTree;

pub struct MergeFilters;

impl LocalRule for MergeFilters {
    fn name(&self) -> &'static str {
        "merge_filters"
    }

    fn apply(&self, node: &OpTree) -> Option<OpTree> {
        let OpTree::Filter(outer) = node else {
            return None;
        };
        let OpTree::Filter(inner) = outer.input.as_ref() else {
            return None;
        };
        let mut equi = inner.equi.clone();
        equi.extend(outer.equi.iter().copied());
        Some(
            OpTree::filter_equi(
                (*inner.input).clone(),
                super::and(&inner.predicate, &outer.predicate),
                equi,
            )
            .with_error_free(inner.error_free && outer.error_free),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Rule;
    use super::*;
    use crate::explain::tree_text;

    #[test]
    fn stacked_filters_become_one() {
        let a = scan(1, "a", &["id", "k"]);
        let t = OpTree::filter(OpTree::filter_equi(a, eq(0, 1), vec![(0, 1)]), gt(1, 2));
        let out = MergeFilters.rewrite(&t).expect("applies");
        crate::golden::check(
            "rules/merge_filters.txt",
            &format!("in:\n{}\nout:\n{}", tree_text(&t), tree_text(&out)),
        );
    }
}
