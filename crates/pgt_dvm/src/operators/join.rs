//! **Inner join** (equi or theta, cross join when there is no condition): `A ⋈_θ B`.
//!
//! `Δ(A ⋈ B) = ΔA ⋈ B′ + A′ ⋈ ΔB − ΔA ⋈ ΔB`, where `A′`, `B′` are the current (new)
//! states. (From `A′⋈B′ − A⋈B` with `A = A′ − ΔA`, `B = B′ − ΔB`.) Weights multiply: the
//! first two terms carry the delta side's weight, the correction term `−w_a·w_b`.
//! Chains of joins nest; a self-join reads the same source delta twice.
//!
//! **Preconditions:** `θ` is deterministic. NULL keys never match, as in SQL, because the
//! same condition is evaluated.
//!
//! With an equi-conjunct `a = b` in `θ`, the current side of each of the first two terms is
//! semi-join reduced by the keys in the other side's delta (`A′ ⋈ ΔB = (A′ ⋉ ΔB) ⋈ ΔB`).
//! The reduction is pushed down (`current_restricted`) through filters, bare-column
//! projections and further equi-joins to the base tables, so every table of a chain is read
//! through its index for just the changed keys.
//!
//! **SQL:** three `SELECT … FROM … JOIN … ON θ` branches under `UNION ALL`, consolidated
//! (`consolidate.rs`): rows with the same image are merged and cancelling ones dropped, so
//! the delta of a chain of k joins stays the size of the net change instead of growing as
//! 3^k, and a refresh's cost grows linearly with the number of joined inputs.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

/// The terms of an inner join's delta and the input deltas they read.
pub(crate) struct JoinDeltaTerms {
    pub terms: Vec<String>,
    pub left: Option<String>,
    pub right: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Join {
    pub left: Box<OpTree>,
    pub right: Box<OpTree>,
    /// Over the concatenated columns (left first); None = cross join.
    pub condition: Option<Expr>,
    /// Column pairs `(left position, right position)` the condition equates with the
    /// types' default equality (a conjunct `l = r`), as the frontend found them.
    pub equi: Vec<(usize, usize)>,
    /// The condition cannot raise an error for any pair of rows (every conjunct was an
    /// error-free filter; a cross join has none). Then a scan joined directly reads its
    /// buffered changes without consolidating them first: this join's output is
    /// consolidated anyway, and versions that cancel produce pairs that cancel.
    pub condition_error_free: bool,
}

impl Join {
    /// The first equated column pair `(left position, right position)` whose columns have
    /// the same built-in type with exact equality (so `OPERATOR(pg_catalog.=)` is the very
    /// equality the condition uses).
    pub(crate) fn reducible_pair(&self) -> Option<(usize, usize)> {
        let lc = self.left.columns();
        let rc = self.right.columns();
        self.equi
            .iter()
            .copied()
            .find(|&(l, r)| match (lc.get(l), rc.get(r)) {
                (Some(a), Some(b)) => {
                    a.exact_equality && b.exact_equality && a.type_sql == b.type_sql
                }
                _ => false,
            })
    }

    /// The delta of one input. With an error-free condition, a scan (or an error-free
    /// filter over one) is read as buffered, unconsolidated: the join's output is
    /// consolidated anyway, and a pair of versions that cancel yields pairs of output rows
    /// that cancel there. Only the condition is evaluated on them, and it cannot fail.
    /// Sorting the buffered versions once more costs as much as the join itself for a
    /// large change (120,000 versions of TPC-H lineitem: 90 ms).
    pub(crate) fn input_delta(
        &self,
        side: &OpTree,
        cx: &mut DeltaContext<'_>,
    ) -> Result<String, DvmError> {
        if self.condition_error_free {
            super::delta_for_netting(side, cx)
        } else {
            side.rule().delta(cx)
        }
    }

    /// The terms of `Δ(A ⋈ B)` (to be unioned and consolidated), with the deltas of the
    /// two inputs they read (None: that side contributes no delta term). None when
    /// neither side does.
    pub(crate) fn delta_terms(
        &self,
        cx: &mut DeltaContext<'_>,
    ) -> Result<Option<JoinDeltaTerms>, DvmError> {
        let nl = self.left.columns().len();
        let nr = self.right.columns().len();
        // A side below which every source is quiet: its delta terms are left out (when the
        // side is constant, or with `omit_quiet`, which the statement checks when it runs),
        // or gated by a one-time check that those sources still have no change (never
        // executed when they have none). `Δ(A ⋈ B) = A′ ⋈ ΔB` when `ΔA = ∅`.
        let (lq, rq) = (
            self.left.rule().quiet_sources(cx),
            self.right.rule().quiet_sources(cx),
        );
        let (l_out, r_out) = (cx.left_out(&lq), cx.left_out(&rq));
        if l_out && r_out {
            return Ok(None);
        }
        let gate = |cx: &DeltaContext<'_>, q: &Option<Vec<u32>>| match q {
            Some(q) => format!(" WHERE {}", super::changes_gate(cx, q)),
            None => String::new(),
        };
        let (lgate, rgate) = (gate(cx, &lq), gate(cx, &rq));
        let dl = (!l_out)
            .then(|| self.input_delta(&self.left, cx))
            .transpose()?;
        let dr = (!r_out)
            .then(|| self.input_delta(&self.right, cx))
            .transpose()?;
        let sel = self.select_list(nl, nr);
        let on = self.on(nl);
        // Semi-join reduction: `A′ ⋈ ΔB = (A′ ⋉_{a=b} ΔB) ⋈ ΔB` when the condition contains
        // the conjunct a = b. The reduced side is filtered by the keys present in the other
        // side's (small) delta, a filter PostgreSQL pushes down to the table holding the
        // key, so a long chain of joins never recomputes the whole current side.
        let pair = self.reducible_pair();
        // Not for a single table when the delta side is large (see `DeltaContext::large`).
        let reduce = |delta_side: &OpTree, other: &OpTree| {
            !(other.is_single_table()
                && delta_side
                    .source_oids()
                    .iter()
                    .any(|o| cx.large.contains(o)))
        };
        let (reduce_right, reduce_left) = (
            reduce(&self.left, &self.right),
            reduce(&self.right, &self.left),
        );
        let mut terms = Vec::new();
        if let Some(dl) = &dl {
            let cr = match pair.filter(|_| reduce_right) {
                Some((a, b)) => self.right.rule().current_restricted(
                    cx,
                    b,
                    &format!("SELECT k.{} FROM {dl} AS k", col_name(a)),
                )?,
                None => self.right.rule().current(cx)?,
            };
            terms.push(format!(
                "SELECT {sel}, l.__pgt_w AS __pgt_w FROM {dl} AS l JOIN ({cr}) AS r ON {on}{lgate}"
            ));
        }
        if let Some(dr) = &dr {
            let cl = match pair.filter(|_| reduce_left) {
                Some((a, b)) => self.left.rule().current_restricted(
                    cx,
                    a,
                    &format!("SELECT k.{} FROM {dr} AS k", col_name(b)),
                )?,
                None => self.left.rule().current(cx)?,
            };
            terms.push(format!(
                "SELECT {sel}, r.__pgt_w AS __pgt_w FROM ({cl}) AS l JOIN {dr} AS r ON {on}{rgate}"
            ));
        }
        if let (Some(dl), Some(dr)) = (&dl, &dr) {
            let both = match (&lq, &rq) {
                (Some(_), _) => lgate.clone(),
                (None, Some(_)) => rgate.clone(),
                (None, None) => String::new(),
            };
            terms.push(format!(
                "SELECT {sel}, OPERATOR(pg_catalog.-) (l.__pgt_w OPERATOR(pg_catalog.*) r.__pgt_w) AS __pgt_w FROM {dl} AS l JOIN {dr} AS r ON {on}{both}"
            ));
        }
        Ok(Some(JoinDeltaTerms {
            terms,
            left: dl,
            right: dr,
        }))
    }

    /// `Δ(A ⋈ B)` for a consumer that nets versions itself (see
    /// [`super::delta_for_netting`]), with an error-free condition. When only one side has
    /// a delta term (the other side's sources are quiet and left out), the delta is
    /// `ΔA ⋈ B′`: one row per version of `ΔA` and match, so it is no larger than its
    /// input's versions times the fan-out, and the consumer's netting cancels what
    /// consolidation would. It is then passed on unconsolidated: in a chain of joins to
    /// quiet dimension tables, only the consumer sorts the versions, not every level. With
    /// terms from both sides (their combinations grow as 3^k under self-joins), the output
    /// is consolidated as usual.
    pub(crate) fn netted_delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        debug_assert!(self.condition_error_free);
        let Some(terms) = self.delta_terms(cx)? else {
            return Ok(super::empty_delta(cx, &self.columns()));
        };
        if let [one] = terms.terms.as_slice() {
            return Ok(cx.add_cte("join_delta", one.clone()));
        }
        let sql =
            super::consolidate::consolidated(&terms.terms.join(" UNION ALL "), &self.columns());
        Ok(cx.add_cte("join_delta", sql))
    }

    pub(crate) fn select_list(&self, nl: usize, nr: usize) -> String {
        let mut cols: Vec<String> = (0..nl).map(|i| format!("l.{}", col_name(i))).collect();
        cols.extend((0..nr).map(|i| format!("r.{} AS {}", col_name(i), col_name(nl + i))));
        cols.join(", ")
    }

    pub(crate) fn on(&self, nl: usize) -> String {
        match &self.condition {
            None => "true".to_string(),
            Some(c) => c.render(&|i| {
                if i < nl {
                    format!("l.{}", col_name(i))
                } else {
                    format!("r.{}", col_name(i - nl))
                }
            }),
        }
    }
}

impl Operator for Join {
    fn name(&self) -> &'static str {
        "Join"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        let mut all = self.left.rule().quiet_sources(cx)?;
        all.extend(self.right.rule().quiet_sources(cx)?);
        Some(all)
    }

    fn columns(&self) -> Vec<Column> {
        let mut c = self.left.columns();
        c.extend(self.right.columns());
        c
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let Some(terms) = self.delta_terms(cx)? else {
            return Ok(super::empty_delta(cx, &self.columns()));
        };
        let sql = terms.terms.join(" UNION ALL ");
        // Consolidated, so a chain of joins carries the net change, not every combination
        // of old and new versions (which grows as 3^k).
        let sql = super::consolidate::consolidated(&sql, &self.columns());
        Ok(cx.add_cte("join_delta", sql))
    }
    /// A left row matches at most one right row when the condition equates the right side's
    /// whole key with left columns; then the left key stays unique (and vice versa).
    /// Otherwise both keys together are unique.
    fn unique_key(&self) -> Option<Vec<usize>> {
        let nl = self.left.columns().len();
        let lk = self.left.rule().unique_key();
        let rk = self.right.rule().unique_key();
        let right_determined = rk
            .as_ref()
            .is_some_and(|rk| rk.iter().all(|r| self.equi.iter().any(|(_, er)| er == r)));
        let left_determined = lk
            .as_ref()
            .is_some_and(|lk| lk.iter().all(|l| self.equi.iter().any(|(el, _)| el == l)));
        match (lk, rk) {
            (Some(lk), _) if right_determined => Some(lk),
            (_, Some(rk)) if left_determined => Some(rk.into_iter().map(|r| r + nl).collect()),
            (Some(mut lk), Some(rk)) => {
                lk.extend(rk.into_iter().map(|r| r + nl));
                Some(lk)
            }
            _ => None,
        }
    }

    /// `σ_{col ∈ K}(A ⋈ B)`: the side holding `col` is restricted; when the condition
    /// equates `col` with a column of the other side (same built-in type, exact equality)
    /// and both sides are joins themselves, that side is restricted by the same keys too,
    /// so a chain of equi-joins is narrowed at every level.
    ///
    /// A single table on either side is not restricted as the partner: it is reached
    /// through the join key instead (an index probe per row of the restricted side, or a
    /// hash join). Restricting it too puts the key array on a table the planner may probe
    /// from a nested loop, and btree prepares (sorts) array keys at every probe: quadratic
    /// in the keys (TPC-H Q13: 1,385 probes, 220 ms; Q21 at SF 1: 3,567 probes of the
    /// line items by order key, each sorting 15,000 keys, 8 s).
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let nl = self.left.columns().len();
        let nr = self.right.columns().len();
        let lc = self.left.columns();
        let rc = self.right.columns();
        let same = |l: usize, r: usize| match (lc.get(l), rc.get(r)) {
            (Some(a), Some(b)) => a.exact_equality && b.exact_equality && a.type_sql == b.type_sql,
            _ => false,
        };
        let (cl, cr) = if col < nl {
            let partner = self
                .equi
                .iter()
                .filter(|_| super::restricts_partner(&self.left, &self.right))
                .find(|(l, r)| *l == col && same(*l, *r))
                .map(|(_, r)| *r);
            (
                self.left.rule().current_restricted(cx, col, keys)?,
                match partner {
                    Some(r) => self.right.rule().current_restricted(cx, r, keys)?,
                    None => self.right.rule().current(cx)?,
                },
            )
        } else {
            let rcol = col - nl;
            let partner = self
                .equi
                .iter()
                .filter(|_| super::restricts_partner(&self.left, &self.right))
                .find(|(l, r)| *r == rcol && same(*l, *r))
                .map(|(l, _)| *l);
            (
                match partner {
                    Some(l) => self.left.rule().current_restricted(cx, l, keys)?,
                    None => self.left.rule().current(cx)?,
                },
                self.right.rule().current_restricted(cx, rcol, keys)?,
            )
        };
        Ok(format!(
            "SELECT {} FROM ({cl}) AS l JOIN ({cr}) AS r ON {}",
            self.select_list(nl, nr),
            self.on(nl)
        ))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let nl = self.left.columns().len();
        let nr = self.right.columns().len();
        let cl = self.left.rule().current(cx)?;
        let cr = self.right.rule().current(cx)?;
        Ok(format!(
            "SELECT {} FROM ({cl}) AS l JOIN ({cr}) AS r ON {}",
            self.select_list(nl, nr),
            self.on(nl)
        ))
    }
}
