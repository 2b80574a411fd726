//! **Recursive CTE**: `r = μr. B ∪ R(r)` (`WITH RECURSIVE r AS (B UNION [ALL] R(r))`),
//! the fixpoint PostgreSQL computes by iterating the recursive term `R` on the rows the
//! previous iteration produced (the *work table*, [`WorkTable`]) until none is new.
//!
//! Delta by recomputation at both snapshots:
//!
//! ```text
//! Δr = μr. B′ ∪ R′(r)  −  μr. B ∪ R(r),     (B, R over the sources' old states)
//! ```
//!
//! The old state of every source `S` read below is `consolidate(S′ − ΔS)`, each row as
//! many times as its weight (the "old state" rendering of a scan,
//! [`DeltaContext::old_state`]); both fixpoints are computed by PostgreSQL itself, so
//! `UNION` (a set, cycles allowed) and `UNION ALL` (a bag) keep exactly PostgreSQL's
//! semantics, whatever the change (inserts, deletes, updates of edges or of the seed). The
//! two results are consolidated against each other, so only the rows that changed leave
//! the operator. The whole computation is gated by a one-time check that some source below
//! has a change, so a refresh that changed only other sources costs nothing here.
//!
//! The cost follows the size of the recursion, not of the change (ADR-028): this is the
//! rule that is always correct. Stored states with semi-naive insertion and
//! delete-and-rederive would follow the change; they are not built yet.
//!
//! **Preconditions:** every column has a binary image (old source rows are consolidated
//! by it); the recursive term is built from scans, filters, projections, inner joins and
//! the work table only (PostgreSQL allows the recursive reference nowhere else that this
//! engine would render it), checked by the frontend.
//!
//! **SQL:** `WITH RECURSIVE __pgt_rN(c0, …) AS (B UNION [ALL] R) SELECT * FROM __pgt_rN`,
//! with the work table rendered as `SELECT … FROM __pgt_rN`.

use std::collections::BTreeSet;

use super::{col_list, DeltaContext, Operator};
use crate::optree::{Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Recursive {
    /// Identifies the work table leaves of `recursive_term` that read this fixpoint.
    pub id: usize,
    pub seed: Box<OpTree>,
    pub recursive_term: Box<OpTree>,
    /// `UNION ALL` (a bag; duplicates kept) instead of `UNION` (a set).
    pub all: bool,
    pub columns: Vec<Column>,
}

/// The rows the previous iteration of recursion `id` produced.
#[derive(Debug, Clone)]
pub struct WorkTable {
    pub id: usize,
    pub columns: Vec<Column>,
}

impl Recursive {
    fn fixpoint(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let n = self.columns.len();
        let name = format!("__pgt_r{}", cx.next_recursion());
        let seed = self.seed.rule().current(cx)?;
        let was = cx.worktables.insert(self.id, name.clone());
        let rec = self.recursive_term.rule().current(cx);
        match was {
            Some(w) => cx.worktables.insert(self.id, w),
            None => cx.worktables.remove(&self.id),
        };
        let rec = rec?;
        Ok(format!(
            "WITH RECURSIVE {name}({}) AS (SELECT {} FROM ({seed}) AS s UNION{} SELECT {} FROM ({rec}) AS s) SELECT {} FROM {name}",
            col_list(n, None),
            col_list(n, Some("s")),
            if self.all { " ALL" } else { "" },
            col_list(n, Some("s")),
            col_list(n, None)
        ))
    }

    /// The OIDs of the sources read below.
    fn sources(&self) -> BTreeSet<u32> {
        self.seed
            .source_oids()
            .into_iter()
            .chain(self.recursive_term.source_oids())
            .collect()
    }
}

impl Operator for Recursive {
    fn name(&self) -> &'static str {
        "Recursive"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        let all = self.sources();
        all.iter()
            .all(|s| cx.quiet.contains(s))
            .then(|| all.into_iter().collect())
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some(c) = self.columns.iter().find(|c| !c.binary_identity) {
            return Err(DvmError::unsupported(
                format!("WITH RECURSIVE over column \"{}\" of type {}", c.name, c.type_sql),
                "The type has no binary output function, which the old rows of the sources are consolidated by.",
            ));
        }
        let gate = super::changes_gate(cx, &self.sources().into_iter().collect::<Vec<_>>());
        let new = self.fixpoint(cx)?;
        let was = std::mem::replace(&mut cx.old_state, true);
        let old = self.fixpoint(cx);
        cx.old_state = was;
        let old = old?;
        let n = self.columns.len();
        let sql = super::consolidate::consolidated(
            &format!(
                "SELECT {cols}, 1::bigint AS __pgt_w FROM ({new}) AS s WHERE {gate} \
                 UNION ALL SELECT {cols}, -1::bigint AS __pgt_w FROM ({old}) AS s WHERE {gate}",
                cols = col_list(n, Some("s"))
            ),
            &self.columns,
        );
        Ok(cx.add_cte("recursive_delta", sql))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        self.fixpoint(cx)
    }
}

impl Operator for WorkTable {
    fn name(&self) -> &'static str {
        "WorkTable"
    }

    /// The work table changes only through the sources of its recursion, whose operator
    /// accounts for them: as a leaf it is constant.
    fn quiet_sources(&self, _cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        Some(Vec::new())
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn delta(&self, _cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        Err(DvmError::unsupported(
            "a recursive reference outside its recursion",
            "The work table of a recursive CTE is only read by its recursive term.",
        ))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let name = cx.worktables.get(&self.id).cloned().ok_or_else(|| {
            DvmError::unsupported(
                "a recursive reference outside its recursion",
                "The work table of a recursive CTE is only read by its recursive term.",
            )
        })?;
        Ok(format!(
            "SELECT {} FROM {name}",
            col_list(self.columns.len(), None)
        ))
    }
}
