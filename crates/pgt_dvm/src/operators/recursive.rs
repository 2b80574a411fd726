//! **Recursive CTE**: `r = μr. B ∪ R(r)` (`WITH RECURSIVE r AS (B UNION [ALL] R(r))`),
//! the fixpoint PostgreSQL computes by iterating the recursive term `R` on the rows the
//! previous iteration produced (the *work table*, [`WorkTable`]) until none is new.
//!
//! **Delete and rederive** (ADR-046), for `UNION` (a set) over columns with an identity:
//! the fixpoint is kept in a state table `T = r` (`crate::state`), and with `ΔB` the
//! consolidated delta of the non-recursive term,
//!
//! ```text
//! D₀ = T ∩ ({x : ΔB(x) < 0} ∪ {x : Δ⁻R(T)(x) < 0})    derivations lost
//! OD = μX. D₀ ∪ (R′(X) ∩ T)                            over-deleted: all that used them
//! K  = T − OD                                          certainly kept
//! N₀ = ({x : ΔB(x) > 0} ∪ Δ⁺R(K) ∪ ((B′ ∪ R′(K)) ∩ OD)) − K
//! N  = μZ. N₀ ∪ (R′(Z) − K)                            new and rederived
//! Δr = (N − OD) − (OD − N),   T′ = K ∪ N
//! ```
//!
//! `Δ⁻R(T)` is the recursive term's delta over the work table `T` with the deletes of its
//! sources only (`ChangeKind::Deletes`): minus every derivation that used a deleted row;
//! `Δ⁺R(K)` the one with the inserts only over `K`: every derivation that uses an inserted
//! row. Lost and gained derivations of one row never cancel, which is why the two are
//! kept apart (an edge into a node deleted while another edge into it is inserted from a
//! node that only the first one reached: the node must go). Every row of `K` keeps a
//! derivation that used neither a deleted row nor an over-deleted one, so `K ⊆ r′`; the
//! fixpoint through `K` is `r′`, and only its rows outside `K` are computed: a refresh
//! costs the changed derivations, the over-deleted rows (the part of the recursion that
//! depended on a deleted row) and their rederivation, each found through the keys the
//! recursive term joins on (indexed in `T`). Insert-only changes have `OD = ∅`: semi-naive
//! evaluation from the new derivations. The recursive term is monotone in its sources (the
//! frontend admits scans, filters, projections, inner joins and VALUES), the
//! non-recursive term may be anything (its delta is signed).
//!
//! Membership in `T` is by the row's identity over each column's canonical form (equal
//! values in different binary forms, `1.0`/`1.00`, are one row, as `UNION` compares them);
//! such a row keeps the form it was first stored with.
//!
//! **Recomputation** otherwise (`UNION ALL`, whose bag of derivation paths no state table
//! counts, or columns without an identity):
//!
//! ```text
//! Δr = μr. B′ ∪ R′(r)  −  μr. B ∪ R(r),     (B, R over the sources' old states)
//! ```
//!
//! The old state of every source `S` read below is `consolidate(S′ − ΔS)` (the "old state"
//! rendering of a scan, [`DeltaContext::old_state`]); both fixpoints are computed by
//! PostgreSQL itself, so `UNION` and `UNION ALL` keep exactly PostgreSQL's semantics, and
//! the two results are consolidated against each other. The cost follows the size of the
//! recursion, not of the change.
//!
//! Either way the computation is gated by a one-time check that some source below has a
//! change, so a refresh that changed only other sources costs nothing here.
//!
//! **Preconditions:** every column has a binary image (old source rows and results are
//! consolidated by it); the recursive term is built from scans, filters, projections,
//! inner joins and the work table only, checked by the frontend.
//!
//! **SQL:** `WITH RECURSIVE __pgt_rN(c0, …) AS (B UNION [ALL] R) SELECT * FROM __pgt_rN`,
//! with the work table rendered as `SELECT … FROM __pgt_rN`.

use pgt_sql::server_functions::ServerFunctions;
use std::collections::BTreeSet;

use pgt_sql::QualifiedName;

use super::{col_list, ChangeKind, DeltaContext, Operator};
use crate::optree::{col_name, Column, OpTree};
use crate::storage::canonical_row_hash;
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
        let seed = self.seed.rule().current(cx)?;
        self.iterated(cx, &seed, if self.all { " ALL" } else { "" }, "")
    }

    /// `WITH RECURSIVE w(c0, …) AS (SELECT … FROM (seed) UNION[ ALL] SELECT … FROM (R(w))
    /// WHERE step_filter) SELECT … FROM w`, with `step_filter` over the step's row `s`
    /// (empty: none).
    fn iterated(
        &self,
        cx: &mut DeltaContext<'_>,
        seed: &str,
        all: &str,
        step_filter: &str,
    ) -> Result<String, DvmError> {
        let n = self.columns.len();
        let name = format!("__pgt_r{}", cx.next_recursion());
        let rec = self.term_over(cx, &name, |cx, r| r.rule().current(cx))?;
        // A filter on the step goes above it (`OFFSET 0`): pushed into the step's join, a
        // hashed subplan in it would be priced at every rescan of a parameterized index
        // probe, and PostgreSQL would hash the joined table whole instead.
        let step = if step_filter.is_empty() {
            format!("({rec}) AS s")
        } else {
            format!("(SELECT * FROM ({rec}) AS s OFFSET 0) AS s WHERE {step_filter}")
        };
        Ok(format!(
            "WITH RECURSIVE {name}({}) AS (SELECT {} FROM ({seed}) AS s UNION{all} SELECT {} FROM {step}) SELECT {} FROM {name}",
            col_list(n, None),
            col_list(n, Some("s")),
            col_list(n, Some("s")),
            col_list(n, None)
        ))
    }

    /// `f` applied to the recursive term with its work table read from `from` (a FROM
    /// item: a table, a CTE or `(subquery) AS alias`, with columns `c0…`).
    fn term_over(
        &self,
        cx: &mut DeltaContext<'_>,
        from: &str,
        f: impl FnOnce(&mut DeltaContext<'_>, &OpTree) -> Result<String, DvmError>,
    ) -> Result<String, DvmError> {
        let was = cx.worktables.insert(self.id, from.to_string());
        let out = f(cx, &self.recursive_term);
        match was {
            Some(w) => cx.worktables.insert(self.id, w),
            None => cx.worktables.remove(&self.id),
        };
        out
    }

    /// The OIDs of the sources read below.
    fn sources(&self) -> BTreeSet<u32> {
        self.seed
            .source_oids()
            .into_iter()
            .chain(self.recursive_term.source_oids())
            .collect()
    }

    /// Whether the fixpoint is kept in a state table and maintained by delete and
    /// rederive: a set (`UNION`) whose columns all have an identity.
    pub fn stores_fixpoint(&self) -> bool {
        !self.all
            && self
                .columns
                .iter()
                .all(|c| c.keyable() && c.binary_identity)
    }

    /// The identity of a row of this recursion under `alias` (its canonical image, hashed).
    fn rid(&self, server: &dyn ServerFunctions, alias: &str) -> String {
        canonical_row_hash(server, &self.columns, alias)
    }

    /// `CREATE TABLE` of the state table holding the fixpoint (its columns typed, and
    /// collated, as the recursion's), keyed by the rows' identity, with an index on each
    /// column the recursive term joins the work table on.
    pub(crate) fn fixpoint_ddl(
        &self,
        server: &dyn ServerFunctions,
        table: &QualifiedName,
    ) -> Result<Vec<String>, DvmError> {
        let no_changes = |_oid: u32| "false".to_string();
        let mut cx = DeltaContext::new(&no_changes, server);
        let cur = self.fixpoint(&mut cx)?;
        let n = self.columns.len();
        let mut ddl = vec![
            format!(
                "CREATE TABLE {table} AS SELECT 0::bigint AS __pgt_id, {} FROM ({cur}) AS s WITH NO DATA",
                col_list(n, Some("s"))
            ),
            format!("ALTER TABLE {table} ADD PRIMARY KEY (__pgt_id)"),
        ];
        let mut joined = Vec::new();
        join_columns(&self.recursive_term, &mut joined);
        joined.sort_unstable();
        joined.dedup();
        for c in joined {
            ddl.push(format!("CREATE INDEX ON {table} ({})", col_name(c)));
        }
        Ok(ddl)
    }

    /// Δr by delete and rederive over the stored fixpoint `t` (see the module doc),
    /// computed once per statement.
    fn rederived_delta(
        &self,
        cx: &mut DeltaContext<'_>,
        t: &QualifiedName,
    ) -> Result<String, DvmError> {
        if let Some(d) = cx.recursion_deltas.get(&self.id) {
            return Ok(d.clone());
        }
        let n = self.columns.len();
        let cols = |a: &str| col_list(n, Some(a));
        let gate = super::changes_gate(cx, &self.sources().into_iter().collect::<Vec<_>>());
        // A probe of `T` by identity, per row: a scalar subquery, which PostgreSQL never
        // turns into a hash of the whole table (it may for EXISTS, when it overestimates
        // the rows probed).
        let in_t = |rid: &str| {
            format!("((SELECT m.__pgt_id FROM {t} AS m WHERE m.__pgt_id OPERATOR(pg_catalog.=) {rid}) IS NOT NULL)")
        };

        // The non-recursive term's change, netted.
        let db = self.seed.rule().delta(cx)?;
        let db = cx.add_materialized_cte(
            "recursive_seed_delta",
            super::consolidate::consolidated(
                &format!("SELECT {}, s.__pgt_w FROM {db} AS s", cols("s")),
                &self.columns,
            ),
        );
        // Derivations lost: through the deletes, over the stored fixpoint.
        let t_rows = format!("(SELECT {}, t.__pgt_id FROM {t} AS t) AS w", cols("t"));
        let lost = self.term_over(cx, &t_rows, |cx, r| {
            with_changes(cx, ChangeKind::Deletes, r)
        })?;
        let d0 = format!(
            "SELECT {rid} AS __pgt_id FROM (SELECT {c} FROM {db} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.<) 0 \
                                    UNION ALL SELECT {c} FROM {lost} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.<) 0) AS s \
              WHERE {gate}",
            c = cols("s"),
            rid = self.rid(cx.server, "s")
        );
        // Over-deleted: the stored rows derived from a lost one, transitively (in their
        // stored form, with their identity).
        let od_name = format!("__pgt_r{}", cx.next_recursion());
        let step = self.term_over(cx, &od_name, |cx, r| r.rule().current(cx))?;
        let od = cx.add_materialized_cte(
            "recursive_overdeleted",
            format!(
                "WITH RECURSIVE {od_name}({}, __pgt_id) AS (\
                   SELECT {}, t.__pgt_id FROM {t} AS t WHERE t.__pgt_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT l.__pgt_id FROM ({d0}) AS l)) \
                   UNION SELECT {}, t.__pgt_id FROM ({step}) AS s \
                         CROSS JOIN LATERAL (SELECT * FROM {t} AS t WHERE t.__pgt_id OPERATOR(pg_catalog.=) {} OFFSET 0) AS t) \
                 SELECT {}, __pgt_id FROM {od_name}",
                col_list(n, None),
                cols("t"),
                cols("t"),
                self.rid(cx.server, "s"),
                col_list(n, None)
            ),
        );
        let in_od = |rid: &str| {
            format!("{rid} OPERATOR(pg_catalog.=) ANY (SELECT o.__pgt_id FROM {od} AS o)")
        };
        // Kept for certain: the stored rows not over-deleted (read where probed, never
        // copied).
        let kept = format!(
            "(SELECT {}, t.__pgt_id FROM {t} AS t WHERE NOT (t.__pgt_id OPERATOR(pg_catalog.=) ANY (SELECT o.__pgt_id FROM {od} AS o))) AS k",
            cols("t")
        );
        // New derivations: through the inserts, from the kept rows.
        let gained = self.term_over(cx, &kept, |cx, r| with_changes(cx, ChangeKind::Inserts, r))?;
        // Rederived: over-deleted rows that the new non-recursive term or a kept row still
        // derives, found through a column the restriction reaches the tables by.
        let any_od = format!("EXISTS (SELECT 1 FROM {od})");
        let key = self.columns.iter().position(|c| c.exact_equality);
        // (`= ANY` never finds a NULL key: those rows are read whole, only when there are
        // any.)
        let restricted = |cx: &mut DeltaContext<'_>, tree: &OpTree| match key {
            Some(k) => {
                let c = col_name(k);
                let by_key = tree.rule().current_restricted(
                    cx,
                    k,
                    &format!("SELECT o.{c} FROM {od} AS o"),
                )?;
                let whole = tree.rule().current(cx)?;
                Ok(format!(
                    "{by_key} UNION ALL SELECT s.* FROM ({whole}) AS s WHERE s.{c} IS NULL \
                       AND EXISTS (SELECT 1 FROM {od} AS o WHERE o.{c} IS NULL)"
                ))
            }
            None => tree.rule().current(cx),
        };
        let seed_again = restricted(cx, &self.seed)?;
        let step_again = self.term_over(cx, &kept, |cx, r| restricted(cx, r))?;
        let outside_k = |rid: &str| format!("({} OR NOT {})", in_od(rid), in_t(rid));
        let n0 = format!(
            "SELECT {c} FROM (SELECT {c} FROM {db} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.>) 0 \
               UNION ALL SELECT {c} FROM {gained} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.>) 0 \
               UNION ALL SELECT {c} FROM ({seed_again}) AS s WHERE {any_od} AND {od_s} \
               UNION ALL SELECT {c} FROM ({step_again}) AS s WHERE {any_od} AND {od_s}) AS s \
             WHERE {gate} AND {out}",
            c = cols("s"),
            od_s = in_od(&self.rid(cx.server, "s")),
            out = outside_k(&self.rid(cx.server, "s")),
        );
        let new = self.iterated(cx, &n0, "", &outside_k(&self.rid(cx.server, "s")))?;
        let new = cx.add_materialized_cte("recursive_new", new);
        let delta = format!(
            "SELECT {c}, 1::bigint AS __pgt_w FROM {new} AS s WHERE NOT {od_s} \
             UNION ALL SELECT {o}, -1::bigint AS __pgt_w FROM {od} AS o \
              WHERE NOT (o.__pgt_id OPERATOR(pg_catalog.=) ANY (SELECT {rid} FROM {new} AS s))",
            c = cols("s"),
            o = cols("o"),
            od_s = in_od(&self.rid(cx.server, "s")),
            rid = self.rid(cx.server, "s"),
        );
        let name = cx.add_materialized_cte("recursive_delta", delta);
        cx.recursion_deltas.insert(self.id, name.clone());
        Ok(name)
    }

    /// The statement's change to the stored fixpoint `t`: its delta applied (a data-
    /// modifying CTE, run whether or not an operator above read the delta).
    pub(crate) fn store(
        &self,
        cx: &mut DeltaContext<'_>,
        t: &QualifiedName,
    ) -> Result<String, DvmError> {
        let d = self.rederived_delta(cx, t)?;
        let n = self.columns.len();
        // Probed by identity (the index on it, whatever the estimate of the delta); the
        // rows inserted are new identities, so the two never meet.
        cx.add_cte(
            "recursive_unstore",
            format!(
                "DELETE FROM {t} AS t WHERE t.__pgt_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT {rid} FROM {d} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.<) 0))",
                rid = self.rid(cx.server, "s"),
            ),
        );
        Ok(cx.add_cte(
            "recursive_store",
            format!(
                "INSERT INTO {t} (__pgt_id, {}) SELECT {rid}, {} FROM {d} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.>) 0",
                col_list(n, None),
                col_list(n, Some("s")),
                rid = self.rid(cx.server, "s"),
            ),
        ))
    }

    /// The fixpoint recomputed (once per FULL statement).
    fn full_fixpoint(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some(f) = cx.recursion_fulls.get(&self.id) {
            return Ok(f.clone());
        }
        let f = self.fixpoint(cx)?;
        let name = cx.add_materialized_cte("recursive_full", f);
        cx.recursion_fulls.insert(self.id, name.clone());
        Ok(name)
    }

    /// The stored fixpoint `t` made equal to the recomputed one (FULL statement): rows
    /// that stay are not touched.
    pub(crate) fn refill(
        &self,
        cx: &mut DeltaContext<'_>,
        t: &QualifiedName,
    ) -> Result<String, DvmError> {
        let f = self.full_fixpoint(cx)?;
        let n = self.columns.len();
        Ok(cx.add_cte(
            "recursive_refill",
            format!(
                "MERGE INTO {t} AS t USING (SELECT {rid} AS rid, s.* FROM {f} AS s) AS s ON t.__pgt_id OPERATOR(pg_catalog.=) s.rid \
                 WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_id, {}) VALUES (s.rid, {}) \
                 WHEN NOT MATCHED BY SOURCE THEN DELETE",
                col_list(n, None),
                col_list(n, Some("s")),
                rid = self.rid(cx.server, "s"),
            ),
        ))
    }
}

/// The delta of `tree` as if the refresh's changes were only their `kind` (see
/// [`ChangeKind`]).
fn with_changes(
    cx: &mut DeltaContext<'_>,
    kind: ChangeKind,
    tree: &OpTree,
) -> Result<String, DvmError> {
    let was = cx.changes_only.replace(kind);
    let out = tree.rule().delta(cx);
    cx.changes_only = was;
    out
}

/// The work-table columns that `tree` (a recursive term) joins on: each side of an
/// equated pair of a join or filter that is a work-table column passed through.
fn join_columns(tree: &OpTree, out: &mut Vec<usize>) {
    let mut add = |t: &OpTree, c: usize| {
        if let Some(w) = worktable_column(t, c) {
            out.push(w);
        }
    };
    match tree {
        OpTree::Join(j) => {
            for &(a, b) in &j.equi {
                add(&j.left, a);
                add(&j.right, b);
            }
            join_columns(&j.left, out);
            join_columns(&j.right, out);
        }
        OpTree::Filter(f) => {
            for &(a, b) in &f.equi {
                add(&f.input, a);
                add(&f.input, b);
            }
            join_columns(&f.input, out);
        }
        OpTree::Project(p) => join_columns(&p.input, out),
        _ => {}
    }
}

/// The work-table column that output column `col` of `tree` passes through unchanged.
fn worktable_column(tree: &OpTree, col: usize) -> Option<usize> {
    match tree {
        OpTree::WorkTable(_) => Some(col),
        OpTree::Filter(f) => worktable_column(&f.input, col),
        OpTree::Project(p) => worktable_column(&p.input, p.exprs.get(col)?.as_column()?),
        OpTree::Join(j) => {
            let nl = j.left.columns().len();
            if col < nl {
                worktable_column(&j.left, col)
            } else {
                worktable_column(&j.right, col - nl)
            }
        }
        _ => None,
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
        if let Some(t) = self.stored(cx) {
            return self.rederived_delta(cx, &t);
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

    /// Recomputed in a FULL statement (once); over a stored fixpoint `T` otherwise: the
    /// old state is `T`, the current one `T` with the delta applied.
    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let n = self.columns.len();
        match (self.stored(cx), cx.old_state) {
            (Some(_), _) if cx.full => {
                let f = self.full_fixpoint(cx)?;
                Ok(format!("SELECT {} FROM {f}", col_list(n, None)))
            }
            (Some(t), true) => Ok(format!("SELECT {} FROM {t} AS t", col_list(n, Some("t")))),
            (Some(t), false) => {
                let d = self.rederived_delta(cx, &t)?;
                Ok(format!(
                    "SELECT {c} FROM {t} AS t WHERE NOT (t.__pgt_id OPERATOR(pg_catalog.=) ANY (SELECT {rid} FROM {d} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.<) 0)) \
                     UNION ALL SELECT {s} FROM {d} AS s WHERE s.__pgt_w OPERATOR(pg_catalog.>) 0",
                    c = col_list(n, Some("t")),
                    s = col_list(n, Some("s")),
                    rid = self.rid(cx.server, "s"),
                ))
            }
            (None, _) => self.fixpoint(cx),
        }
    }
}

impl Recursive {
    /// The stored fixpoint this statement maintains, when there is one and the rendering
    /// is of the whole change (not one kind of it).
    fn stored(&self, cx: &DeltaContext<'_>) -> Option<QualifiedName> {
        if cx.changes_only.is_some() {
            return None;
        }
        cx.slots.find_fixpoint(self)
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

    /// Bound to a stored fixpoint (or part of it) while the recursive term's delta is taken
    /// for delete and rederive, the work table is constant: no delta.
    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if !cx.worktables.contains_key(&self.id) {
            return Err(DvmError::unsupported(
                "a recursive reference outside its recursion",
                "The work table of a recursive CTE is only read by its recursive term.",
            ));
        }
        Ok(super::empty_delta(cx, &self.columns))
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
