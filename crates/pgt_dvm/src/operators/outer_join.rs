//! **Outer join**: `A ⟕_θ B` (LEFT), `A ⟖_θ B` (RIGHT), `A ⟗_θ B` (FULL).
//!
//! An outer join is the inner join plus, for each preserved side, its rows without a
//! match, padded with NULLs:
//!
//! ```text
//! A ⟕ B = (A ⋈ B) + pad(A ▷ B)        A ▷ B = { a ∈ A | m_B(a) = 0 },  m_B(a) = |{ b ∈ B | θ(a, b) }|
//! A ⟗ B = (A ⋈ B) + pad(A ▷ B) + pad(B ▷ A)
//! ```
//!
//! The inner part uses the inner join's rule (`join.rs`); the unmatched rows' delta is the
//! match-count rule with `P(m) = [m = 0]` (`match_count.rs`): a changed preserved row
//! that had no match before (T2), and a current one whose match count went to or from 0
//! (T3). A left row gaining its first match drops its NULL-extended row; one losing its
//! last match gets it back. Duplicates on either side keep their multiplicity. NULL join
//! keys never match, because the same `θ` is evaluated.
//!
//! **Preconditions:** `θ` is deterministic; evaluated on buffered (unconsolidated) versions
//! only when it cannot raise an error, as for inner joins.
//!
//! **SQL:** the inner join's terms and the match-count terms of each preserved side under
//! `UNION ALL`, consolidated.
//!
//! **At most one match** (`single_match`, a correlated scalar subquery
//! `(SELECT e FROM B WHERE θ)` that no unique key bounds, ADR-058): the query raises an
//! error (SQLSTATE 21000) for a left row with two matches, and so must the stream table.
//! The current state checks every left row it computes (a window count of each row's
//! joined rows). A delta checks the rows whose match count may have grown: the left rows
//! it inserts and the current left rows matching a right row it inserts (net of versions
//! that cancel), each by
//! counting its matches in `B′` up to 2. A one-time condition on the delta runs that check
//! once, before any row of the delta is used.

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::operators::join::Join;
use crate::operators::match_count::{match_terms, Side};
use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;
use pgt_sql::server_functions::ServerFunctions;

/// Which sides of an outer join keep their unmatched rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterKind {
    Left,
    Right,
    Full,
}

impl OuterKind {
    pub fn sql(self) -> &'static str {
        match self {
            OuterKind::Left => "LEFT",
            OuterKind::Right => "RIGHT",
            OuterKind::Full => "FULL",
        }
    }
    fn preserves_left(self) -> bool {
        matches!(self, OuterKind::Left | OuterKind::Full)
    }
    fn preserves_right(self) -> bool {
        matches!(self, OuterKind::Right | OuterKind::Full)
    }
}

#[derive(Debug, Clone)]
pub struct OuterJoin {
    pub kind: OuterKind,
    pub left: Box<OpTree>,
    pub right: Box<OpTree>,
    /// The ON condition over the concatenated columns (left first); None = `ON true`.
    pub condition: Option<Expr>,
    /// Column pairs `(left position, right position)` the condition equates.
    pub equi: Vec<(usize, usize)>,
    /// The condition cannot raise an error for any pair of rows (see `Join`).
    pub condition_error_free: bool,
    /// LEFT only: a left row may have at most one match (a correlated scalar subquery
    /// without a unique key under its correlation); with more, the statement raises
    /// SQLSTATE 21000, as the query does. See the module doc.
    pub single_match: bool,
}

impl OuterJoin {
    /// The inner join of the same inputs and condition.
    fn inner(&self) -> Join {
        Join {
            left: self.left.clone(),
            right: self.right.clone(),
            condition: self.condition.clone(),
            equi: self.equi.clone(),
            condition_error_free: self.condition_error_free,
        }
    }

    /// The output row of a preserved row aliased `l` (left) or `r` (right), the other
    /// side's columns NULL.
    fn padded(&self, preserved: Side) -> String {
        let lc = self.left.columns();
        let rc = self.right.columns();
        let nl = lc.len();
        let mut cols = Vec::new();
        for (i, c) in lc.iter().enumerate() {
            cols.push(match preserved {
                Side::Left => format!("l.{}", col_name(i)),
                Side::Right => format!("NULL::{} AS {}", c.type_sql, col_name(i)),
            });
        }
        for (i, c) in rc.iter().enumerate() {
            cols.push(match preserved {
                Side::Right => format!("r.{} AS {}", col_name(i), col_name(nl + i)),
                Side::Left => format!("NULL::{} AS {}", c.type_sql, col_name(nl + i)),
            });
        }
        cols.join(", ")
    }
}

impl Operator for OuterJoin {
    fn name(&self) -> &'static str {
        match self.kind {
            OuterKind::Left => "LeftJoin",
            OuterKind::Right => "RightJoin",
            OuterKind::Full => "FullJoin",
        }
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
        let Some(t) = self.inner().delta_terms(cx)? else {
            return Ok(super::empty_delta(cx, &self.columns()));
        };
        let mut terms = t.terms;
        if self.kind.preserves_left() {
            let sel = self.padded(Side::Left);
            terms.extend(match_terms(
                cx,
                &self.inner(),
                Side::Left,
                t.left.as_deref(),
                t.right.as_deref(),
                &sel,
                false,
            )?);
        }
        if self.kind.preserves_right() {
            let sel = self.padded(Side::Right);
            terms.extend(match_terms(
                cx,
                &self.inner(),
                Side::Right,
                t.right.as_deref(),
                t.left.as_deref(),
                &sel,
                false,
            )?);
        }
        let sql = super::consolidate::consolidated(&terms.join(" UNION ALL "), &self.columns());
        if !self.single_match {
            return Ok(cx.add_cte("outer_join_delta", sql));
        }
        let check = self.single_match_check(cx, t.left.as_deref(), t.right.as_deref())?;
        Ok(cx.add_cte(
            "outer_join_delta",
            format!("SELECT d.* FROM ({sql}) AS d WHERE (SELECT c.ok FROM {check} AS c)"),
        ))
    }

    /// LEFT: every left row yields exactly one output row when the condition equates the
    /// right side's whole key with left columns (at most one match, else its NULL-extended
    /// row), so the left key stays unique and not NULL (RIGHT: the mirror image). Otherwise,
    /// and for FULL, no key: the NULL-extended rows carry NULL keys.
    fn unique_key(&self) -> Option<Vec<usize>> {
        let nl = self.left.columns().len();
        match self.kind {
            OuterKind::Left => {
                let lk = self.left.rule().unique_key()?;
                let rk = self.right.rule().unique_key()?;
                rk.iter()
                    .all(|r| self.equi.iter().any(|(_, er)| er == r))
                    .then_some(lk)
            }
            OuterKind::Right => {
                let rk = self.right.rule().unique_key()?;
                let lk = self.left.rule().unique_key()?;
                lk.iter()
                    .all(|l| self.equi.iter().any(|(el, _)| el == l))
                    .then(|| rk.into_iter().map(|r| r + nl).collect())
            }
            OuterKind::Full => None,
        }
    }

    /// `σ_{col ∈ K}(A ⟕ B) = σ_{col ∈ K}(A) ⟕ B` for a column of the preserved side of a
    /// LEFT (RIGHT) join; the other side is restricted too when θ equates `col` with one of
    /// its columns (rows of it matching no kept row don't matter). Otherwise a filter on top.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        let nl = self.left.columns().len();
        let on_preserved = match self.kind {
            OuterKind::Left => col < nl,
            OuterKind::Right => col >= nl,
            OuterKind::Full => false,
        };
        if !on_preserved {
            return Ok(super::restricted_on_top(&self.current(cx)?, col, keys));
        }
        let lc = self.left.columns();
        let rc = self.right.columns();
        let same = |l: usize, r: usize| match (lc.get(l), rc.get(r)) {
            (Some(a), Some(b)) => a.exact_equality && b.exact_equality && a.type_sql == b.type_sql,
            _ => false,
        };
        let (cl, cr) = if col < nl {
            // The partner only between two joins (see `Join::current_restricted`).
            let partner = self
                .equi
                .iter()
                .filter(|_| super::restricts_partner(&self.left, &self.right))
                .find(|(l, r)| *l == col && same(*l, *r))
                .map(|p| p.1);
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
                .map(|p| p.0);
            (
                match partner {
                    Some(l) => self.left.rule().current_restricted(cx, l, keys)?,
                    None => self.left.rule().current(cx)?,
                },
                self.right.rule().current_restricted(cx, rcol, keys)?,
            )
        };
        Ok(self.joined(cx.server, &cl, &cr))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cl = self.left.rule().current(cx)?;
        let cr = self.right.rule().current(cx)?;
        Ok(self.joined(cx.server, &cl, &cr))
    }
}

impl OuterJoin {
    fn joined(&self, server: &dyn ServerFunctions, cl: &str, cr: &str) -> String {
        let nl = self.left.columns().len();
        let nr = self.right.columns().len();
        let inner = self.inner();
        if self.single_match {
            // Each left row numbered, its joined rows counted: more than one is an error.
            return format!(
                "SELECT {cols} FROM (SELECT {sel}, pg_catalog.count(*) OVER (PARTITION BY l.__pgt_n) AS __pgt_mc \
                   FROM (SELECT pg_catalog.row_number() OVER () AS __pgt_n, l0.* FROM ({cl}) AS l0) AS l \
                   LEFT JOIN ({cr}) AS r ON {on}) AS y \
                 WHERE {check}",
                check = server.single_row_check("y.__pgt_mc OPERATOR(pg_catalog.<=) 1"),
                cols = super::col_list(nl + nr, Some("y")),
                sel = inner.select_list(nl, nr),
                on = inner.on(nl)
            );
        }
        format!(
            "SELECT {} FROM ({cl}) AS l {} JOIN ({cr}) AS r ON {}",
            inner.select_list(nl, nr),
            self.kind.sql(),
            inner.on(nl)
        )
    }

    /// A one-row CTE whose `ok` raises SQLSTATE 21000 when a left row whose matches may
    /// have grown (an inserted left version `dl`, or a current left row matching an
    /// inserted right version of `dr`) has more than one match in the right side's
    /// current state.
    fn single_match_check(
        &self,
        cx: &mut DeltaContext<'_>,
        dl: Option<&str>,
        dr: Option<&str>,
    ) -> Result<String, DvmError> {
        let nl = self.left.columns().len();
        let inner = self.inner();
        let on = inner.on(nl);
        let cols = super::col_list(nl, Some("l"));
        let mut candidates = Vec::new();
        // Net insertions only: a buffered delta may hold a version inserted and deleted
        // again, which must not be checked.
        if let Some(dl) = dl {
            let net = super::consolidate::consolidated(
                &format!("SELECT * FROM {dl}"),
                &self.left.columns(),
            );
            candidates.push(format!(
                "SELECT {cols} FROM ({net}) AS l WHERE l.__pgt_w OPERATOR(pg_catalog.>) 0"
            ));
        }
        if let Some(dr) = dr {
            let net = cx.add_cte(
                "single_match_inserted",
                format!(
                    "SELECT n.* FROM ({}) AS n WHERE n.__pgt_w OPERATOR(pg_catalog.>) 0",
                    super::consolidate::consolidated(
                        &format!("SELECT * FROM {dr}"),
                        &self.right.columns(),
                    )
                ),
            );
            // Through the inserted rows' keys where θ equates columns (as the match
            // count's candidates are found), else a semi-join over the whole left side.
            let large = self
                .right
                .source_oids()
                .iter()
                .any(|o| cx.large.contains(o));
            let cur_left = match inner.reducible_pair() {
                Some((a, b)) if !(large && self.left.is_single_table()) => {
                    self.left.rule().current_restricted(
                        cx,
                        a,
                        &format!("SELECT k.{} FROM {net} AS k", col_name(b)),
                    )?
                }
                _ => self.left.rule().current(cx)?,
            };
            candidates.push(format!(
                "SELECT {cols} FROM ({cur_left}) AS l WHERE EXISTS (SELECT 1 FROM {net} AS r WHERE {on})"
            ));
        }
        // A delta has a term from one side at least (else it is statically empty).
        debug_assert!(!candidates.is_empty());
        let cur_right = cx.correlated_current(&self.right)?;
        let body = format!(
            "SELECT {} AS ok",
            cx.server.single_row_check(&format!(
                "NOT EXISTS (SELECT 1 FROM ({}) AS l \
                   WHERE (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM ({cur_right}) AS r WHERE {on} LIMIT 2) AS m) \
                         OPERATOR(pg_catalog.>) 1)",
                candidates.join(" UNION ALL ")
            ))
        );
        Ok(cx.add_cte("single_match_check", body))
    }
}
