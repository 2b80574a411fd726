//! **filter_into_join**: a WHERE conjunct goes to the join whose inputs it reads.
//!
//! For an inner join `A ⋈_θ B` (a cross join has `θ = true`) and a conjunct `p`:
//!
//! ```text
//! σ_p(A ⋈_θ B) = σ_p(A) ⋈_θ B          p reads only A's columns (or none)
//!              = A ⋈_θ σ_p(B)          p reads only B's columns
//!              = A ⋈_{θ ∧ p} B          p reads both; p's equated pairs become join keys
//! ```
//!
//! Applied bottom-up until nothing moves, the filters over a comma join `FROM a, b, c`
//! sink into the joins they constrain, so no delta term is ever a cross product.

use super::LocalRule;
use crate::operators::filter::Filter;
use crate::operators::join::Join;
use crate::optree::OpTree;

pub struct FilterIntoJoin;

impl LocalRule for FilterIntoJoin {
    fn name(&self) -> &'static str {
        "filter_into_join"
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
        let OpTree::Join(j) = input.as_ref() else {
            return None;
        };
        let nl = j.left.columns().len();
        let cols = predicate.columns();
        let mut j = j.clone();
        if cols.iter().all(|&c| c < nl) {
            j.left = Box::new(
                OpTree::filter_equi((*j.left).clone(), predicate.clone(), equi.clone())
                    .with_error_free(*error_free),
            );
        } else if cols.iter().all(|&c| c >= nl) {
            let shifted = equi.iter().map(|&(a, b)| (a - nl, b - nl)).collect();
            j.right = Box::new(
                OpTree::filter_equi((*j.right).clone(), predicate.remap(&|i| i - nl), shifted)
                    .with_error_free(*error_free),
            );
        } else {
            j.condition = Some(match &j.condition {
                Some(c) => super::and(c, predicate),
                None => predicate.clone(),
            });
            j.condition_error_free &= *error_free;
            for &(a, b) in equi {
                let pair = if a < nl && b >= nl {
                    Some((a, b - nl))
                } else if b < nl && a >= nl {
                    Some((b, a - nl))
                } else {
                    None
                };
                if let Some(p) = pair {
                    if !j.equi.contains(&p) {
                        j.equi.push(p);
                    }
                }
            }
        }
        Some(OpTree::Join(Join { ..j }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{optimize, Rule};
    use super::*;
    use crate::explain::tree_text;

    /// `FROM a, b, c WHERE a.k = b.k AND b.x = c.x AND c.y > 3`: each conjunct reaches
    /// the join or scan it constrains.
    #[test]
    fn a_comma_join_becomes_inner_joins() {
        let a = scan(1, "a", &["id", "k"]);
        let b = scan(2, "b", &["k", "x"]);
        let c = scan(3, "c", &["x", "y"]);
        let cross = OpTree::join(OpTree::join(a, b, None), c, None);
        let t = OpTree::filter(cross, gt(5, 3));
        let t = OpTree::filter_equi(t, eq(2, 4), vec![(2, 4)]);
        let t = OpTree::filter_equi(t, eq(1, 2), vec![(1, 2)]);
        let input = tree_text(&t);
        let out = FilterIntoJoin.rewrite(&t).expect("applies");
        crate::golden::check(
            "rules/filter_into_join.txt",
            &format!("in:\n{input}\nout:\n{}", tree_text(&out)),
        );
        // Nothing is left to move.
        assert!(FilterIntoJoin.rewrite(&out).is_none());
        let text = tree_text(&optimize(&t));
        assert!(!text.contains("(cross)"), "{text}");
    }
}
