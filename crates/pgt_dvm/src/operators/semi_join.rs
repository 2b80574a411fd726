//! **Semi- and anti-join**: `A ⋉_θ B` (the rows of `A` with a match in `B`: `EXISTS`,
//! `IN`, `= ANY`) and `A ▷_θ B` (those without: `NOT EXISTS`, `NOT IN`, `<> ALL`). The
//! output is `A`'s columns; each row of `A` appears with its own multiplicity, however
//! many rows of `B` it matches.
//!
//! The delta is the match-count rule (`match_count.rs`) with `P(m) = [m > 0]` (semi) or
//! `P(m) = [m = 0]` (anti):
//!
//! ```text
//! Δ(A ⋉ B) = ΔA·[m′ − dm > 0] + A′·([m′ > 0] − [m′ − dm > 0])
//! Δ(A ▷ B) = ΔA·[m′ − dm = 0] + A′·([m′ = 0] − [m′ − dm = 0])
//! ```
//!
//! SQL's NULL semantics live in `θ`, which the frontend builds from the predicate: for
//! `x NOT IN (SELECT y …)` the anti-join's condition is `(x = y) IS NOT FALSE`, so a NULL
//! `y` (or a NULL `x` facing a non-empty subquery) removes the row, exactly as `NOT IN`
//! yields no row there; for `x op ALL (…)`, `(x op y) IS NOT TRUE`.
//!
//! **Preconditions:** `θ` is deterministic.
//!
//! **SQL:** T2 and T3 under `UNION ALL`, consolidated.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::operators::join::Join;
use crate::operators::match_count::{match_terms, Side};
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct SemiJoin {
    /// Anti-join: keep the rows without a match.
    pub anti: bool,
    pub left: Box<OpTree>,
    pub right: Box<OpTree>,
    /// Over the left columns followed by the right ones.
    pub condition: Expr,
    /// Column pairs `(left position, right position)` the condition equates.
    pub equi: Vec<(usize, usize)>,
    pub condition_error_free: bool,
}

impl SemiJoin {
    fn join(&self) -> Join {
        Join {
            left: self.left.clone(),
            right: self.right.clone(),
            condition: Some(self.condition.clone()),
            equi: self.equi.clone(),
            condition_error_free: self.condition_error_free,
        }
    }

    fn select(&self) -> String {
        (0..self.left.columns().len())
            .map(|i| format!("l.{}", col_name(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Operator for SemiJoin {
    fn name(&self) -> &'static str {
        if self.anti {
            "AntiJoin"
        } else {
            "SemiJoin"
        }
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        let mut all = self.left.rule().quiet_sources(cx)?;
        all.extend(self.right.rule().quiet_sources(cx)?);
        Some(all)
    }

    fn columns(&self) -> Vec<Column> {
        self.left.columns()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let join = self.join();
        let (lq, rq) = (
            self.left.rule().quiet_sources(cx),
            self.right.rule().quiet_sources(cx),
        );
        let (l_out, r_out) = (cx.left_out(&lq), cx.left_out(&rq));
        if l_out && r_out {
            return Ok(super::empty_delta(cx, &self.columns()));
        }
        let dl = (!l_out)
            .then(|| join.input_delta(&self.left, cx))
            .transpose()?;
        let dr = (!r_out)
            .then(|| join.input_delta(&self.right, cx))
            .transpose()?;
        let terms = match_terms(
            cx,
            &join,
            Side::Left,
            dl.as_deref(),
            dr.as_deref(),
            &self.select(),
            !self.anti,
        )?;
        let sql = super::consolidate::consolidated(&terms.join(" UNION ALL "), &self.columns());
        Ok(cx.add_cte("semi_join_delta", sql))
    }

    fn unique_key(&self) -> Option<Vec<usize>> {
        self.left.rule().unique_key()
    }

    /// `σ_{col ∈ K}(A ⋉ B) = σ_{col ∈ K}(A) ⋉ B`, and when `θ` equates `a = b` and `B` is
    /// not a single table (an aggregate, a join: nothing PostgreSQL can probe per row),
    /// `B` is restricted too, to the rows whose `b` some restricted row of `A` has:
    /// `σ_{col ∈ K}(A) ⋉ σ_{b ∈ π_a σ_{col ∈ K}(A)}(B)`. Only such rows of `B` can match
    /// (anti-joins alike). TPC-H Q18 regrouping one customer's orders read the whole
    /// `IN (SELECT l_orderkey … GROUP BY … HAVING …)` grouping of 6M line items (4 s).
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let cl = self.left.rule().current_restricted(cx, col, keys)?;
        let (lc, rc) = (self.left.columns(), self.right.columns());
        let pair = self.equi.iter().copied().find(|&(l, r)| {
            lc[l].exact_equality && rc[r].exact_equality && lc[l].type_sql == rc[r].type_sql
        });
        match pair {
            Some((l, r)) if !self.right.is_single_table() => {
                let left = cx.add_cte("semi_restricted_left", cl);
                let cr = self.right.rule().current_restricted(
                    cx,
                    r,
                    &format!("SELECT x.{} FROM {left} AS x", col_name(l)),
                )?;
                Ok(self.filtered(&format!("SELECT * FROM {left}"), &cr))
            }
            _ => {
                let cr = cx.correlated_current(&self.right)?;
                Ok(self.filtered(&cl, &cr))
            }
        }
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cl = self.left.rule().current(cx)?;
        let cr = cx.correlated_current(&self.right)?;
        Ok(self.filtered(&cl, &cr))
    }
}

impl SemiJoin {
    fn filtered(&self, cl: &str, cr: &str) -> String {
        let nl = self.left.columns().len();
        format!(
            "SELECT {} FROM ({cl}) AS l WHERE {}EXISTS (SELECT 1 FROM ({cr}) AS r WHERE {})",
            self.select(),
            if self.anti { "NOT " } else { "" },
            self.join().on(nl)
        )
    }
}
