//! **Stored state of groupings below the top**: which aggregates of a tree keep their
//! per-group states in a table of their own, and what those tables are called.
//!
//! An aggregate below the top of the query (its output is joined, filtered, aggregated
//! again or ordered for a top-k) has no storage in the stream table. When every one of its
//! aggregates is algebraic (COUNT, and SUM/AVG over integers or numeric of a fixed scale),
//! its states (row count, non-NULL counts, sums) are kept per group in a hidden *state
//! table*, maintained by the refresh statement itself (`operators/stored_group.rs`). The
//! delta then costs the changed groups' rows of that table, never a re-read of the
//! groups' input.
//!
//! Each such aggregate has a *slot*: its position in a pre-order walk of the tree (a shared
//! subtree counted once). Its table is `pgtrickle_changes."<stem>_<slot>_<signature>"`,
//! where the stem names the stream table (`state_<storage oid>`) and the signature is a
//! hash of the aggregate's whole subtree: a changed query, source key or state layout
//! gives a new name, so a table is never read by a grouping it was not built for (the
//! refresh creates the missing table and recomputes in full).

use std::collections::HashSet;

use pgt_sql::{quote_ident, QualifiedName};

use crate::operators::aggregate::Aggregate;
use crate::operators::recursive::Recursive;
use crate::optree::{AggKind, OpTree};
use crate::storage::TopShape;

/// The schema holding state tables (with the change buffers: both are pg_trickle's own
/// data, not the user's).
pub const STATE_SCHEMA: &str = "pgtrickle_changes";

/// Where one stream table's state tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTables {
    stem: String,
}

impl StateTables {
    /// The state tables of the stream table whose storage has OID `relid`.
    pub fn for_storage(relid: u32) -> Self {
        StateTables {
            stem: format!("state_{relid}"),
        }
    }

    /// The `LIKE` pattern matching every state table name of this stream table.
    pub fn like_pattern(&self) -> String {
        format!("{}\\_%", self.stem.replace('_', "\\_"))
    }

    fn name(&self, slot: usize, signature: i64) -> QualifiedName {
        QualifiedName::new(
            STATE_SCHEMA,
            format!("{}_{slot}_{:016x}", self.stem, signature as u64),
        )
    }

    /// Whether `name` (one of this stem's tables) holds a recursion's fixpoint rather than
    /// a grouping's states.
    pub fn is_fixpoint(&self, name: &QualifiedName) -> bool {
        name.name
            .strip_prefix(&format!("{}_r", self.stem))
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    }

    fn fixpoint_name(&self, slot: usize, signature: i64) -> QualifiedName {
        QualifiedName::new(
            STATE_SCHEMA,
            format!("{}_r{slot}_{:016x}", self.stem, signature as u64),
        )
    }
}

/// Whether `agg` (below the top) keeps stored states: every aggregate is COUNT, or SUM/AVG
/// whose display scale is fixed (integers, numeric of a fixed scale).
pub(crate) fn stores_state(agg: &Aggregate) -> bool {
    agg.group_columns.iter().all(|c| c.keyable())
        && agg.aggs.iter().all(|a| match a.kind {
            AggKind::CountStar | AggKind::Count => true,
            AggKind::Sum | AggKind::Avg => !a.tracks_scale,
            _ => false,
        })
}

/// The aggregates below the top of `tree` that keep stored states, in slot order, with
/// their signatures. Two groupings with the same subtree (a subquery written twice) are one
/// slot: they have the same states.
pub(crate) fn slots(tree: &OpTree) -> Vec<(&Aggregate, i64)> {
    let top: Option<*const Aggregate> = match TopShape::of(tree) {
        Ok(TopShape::Aggregate { agg, .. }) => Some(agg as *const Aggregate),
        _ => None,
    };
    let mut out: Vec<(&Aggregate, i64)> = Vec::new();
    walk(tree, &mut |node| {
        if let OpTree::Aggregate(agg) = node {
            if Some(agg as *const Aggregate) != top && stores_state(agg) {
                let sig = signature(agg);
                if !out.iter().any(|(_, s)| *s == sig) {
                    out.push((agg, sig));
                }
            }
        }
    });
    out
}

/// The recursions of `tree` that keep their fixpoint in a state table
/// (`operators/recursive.rs`), in slot order, with their signatures.
pub(crate) fn recursion_slots(tree: &OpTree) -> Vec<(&Recursive, i64)> {
    let mut out: Vec<(&Recursive, i64)> = Vec::new();
    walk(tree, &mut |node| {
        if let OpTree::Recursive(r) = node {
            if r.stores_fixpoint() {
                let sig = recursion_signature(r);
                if !out.iter().any(|(_, s)| *s == sig) {
                    out.push((r, sig));
                }
            }
        }
    });
    out
}

/// Visits every node of `tree` (a shared subtree once; not the terms of a recursion,
/// which reads them whole: a grouping or recursion inside keeps no state).
fn walk<'t>(tree: &'t OpTree, visit: &mut dyn FnMut(&'t OpTree)) {
    fn go<'t>(
        tree: &'t OpTree,
        visit: &mut dyn FnMut(&'t OpTree),
        seen_shared: &mut HashSet<usize>,
    ) {
        visit(tree);
        match tree {
            OpTree::Scan(_) | OpTree::Values(_) => {}
            OpTree::Filter(f) => go(&f.input, visit, seen_shared),
            OpTree::Project(p) => go(&p.input, visit, seen_shared),
            OpTree::Join(j) => {
                go(&j.left, visit, seen_shared);
                go(&j.right, visit, seen_shared);
            }
            OpTree::OuterJoin(j) => {
                go(&j.left, visit, seen_shared);
                go(&j.right, visit, seen_shared);
            }
            OpTree::SemiJoin(j) => {
                go(&j.left, visit, seen_shared);
                go(&j.right, visit, seen_shared);
            }
            OpTree::UnionAll(u) => {
                for i in &u.inputs {
                    go(i, visit, seen_shared);
                }
            }
            OpTree::Aggregate(a) => go(&a.input, visit, seen_shared),
            OpTree::Distinct(d) => go(&d.input, visit, seen_shared),
            OpTree::Shared(s) => {
                if seen_shared.insert(s.id) {
                    go(&s.input, visit, seen_shared);
                }
            }
            OpTree::TopK(k) => go(&k.input, visit, seen_shared),
            OpTree::Replicate(r) => go(&r.input, visit, seen_shared),
            OpTree::Window(w) => go(&w.input, visit, seen_shared),
            OpTree::LateralFunction(f) => go(&f.input, visit, seen_shared),
            OpTree::Recursive(_) | OpTree::WorkTable(_) => {}
        }
    }
    go(tree, visit, &mut HashSet::new())
}

/// The signature of a stored fixpoint: a hash of the recursion (its terms and columns)
/// and of its table's layout.
fn recursion_signature(r: &Recursive) -> i64 {
    let text = format!("{r:?}|fixpoint v1");
    pgt_core::row_id::row_id(text.as_bytes(), 0)
}

/// The signature of a stored grouping: a hash of its whole subtree (sources, columns,
/// expressions) and of the layout of its table.
fn signature(agg: &Aggregate) -> i64 {
    let text = format!(
        "{:?}|{:?}",
        agg,
        crate::operators::stored_group::state_columns(agg)
    );
    pgt_core::row_id::row_id(text.as_bytes(), 0)
}

/// One state table a tree needs.
#[derive(Debug, Clone)]
pub struct StateTable {
    pub table: QualifiedName,
    /// `CREATE TABLE` and its indexes.
    pub ddl: Vec<String>,
}

/// The names of the state tables `tree` needs, in slot order (cheaper than
/// [`state_tables`]: no DDL is generated).
pub fn state_table_names(tree: &OpTree, states: &StateTables) -> Vec<QualifiedName> {
    slots(tree)
        .into_iter()
        .enumerate()
        .map(|(slot, (_, sig))| states.name(slot, sig))
        .chain(
            recursion_slots(tree)
                .into_iter()
                .enumerate()
                .map(|(slot, (_, sig))| states.fixpoint_name(slot, sig)),
        )
        .collect()
}

/// The state tables `tree` needs, in slot order.
pub fn state_tables(
    tree: &OpTree,
    states: &StateTables,
    server: &dyn pgt_sql::server_functions::ServerFunctions,
) -> Result<Vec<StateTable>, crate::DvmError> {
    let mut out = Vec::new();
    for (slot, (agg, sig)) in slots(tree).into_iter().enumerate() {
        let table = states.name(slot, sig);
        let ddl = crate::operators::stored_group::ddl(server, agg, &table)?;
        out.push(StateTable { table, ddl });
    }
    for (slot, (r, sig)) in recursion_slots(tree).into_iter().enumerate() {
        let table = states.fixpoint_name(slot, sig);
        let ddl = r.fixpoint_ddl(server, &table)?;
        out.push(StateTable { table, ddl });
    }
    Ok(out)
}

/// The slots of one statement being generated: each stored aggregate of the tree with its
/// signature and table.
#[derive(Default)]
pub(crate) struct Slots<'t> {
    entries: Vec<(&'t Aggregate, i64, QualifiedName)>,
    fixpoints: Vec<(&'t Recursive, i64, QualifiedName)>,
}

impl<'t> Slots<'t> {
    pub fn of(tree: &'t OpTree, states: &StateTables) -> Self {
        Slots {
            entries: slots(tree)
                .into_iter()
                .enumerate()
                .map(|(slot, (agg, sig))| (agg, sig, states.name(slot, sig)))
                .collect(),
            fixpoints: recursion_slots(tree)
                .into_iter()
                .enumerate()
                .map(|(slot, (r, sig))| (r, sig, states.fixpoint_name(slot, sig)))
                .collect(),
        }
    }

    /// The table holding the fixpoint of recursion `r`, when it keeps one in this
    /// statement (found by identity, or by signature for a copy).
    pub fn find_fixpoint(&self, r: &Recursive) -> Option<QualifiedName> {
        if self.fixpoints.is_empty() || !r.stores_fixpoint() {
            return None;
        }
        if let Some((_, _, t)) = self.fixpoints.iter().find(|(x, _, _)| std::ptr::eq(*x, r)) {
            return Some(t.clone());
        }
        let sig = recursion_signature(r);
        self.fixpoints
            .iter()
            .find(|(_, s, _)| *s == sig)
            .map(|(_, _, t)| t.clone())
    }

    /// Every stored fixpoint: its recursion and table.
    pub fn all_fixpoints(&self) -> Vec<(&'t Recursive, QualifiedName)> {
        self.fixpoints
            .iter()
            .map(|(r, _, t)| (*r, t.clone()))
            .collect()
    }

    /// The slot and table of `agg`, when it keeps stored states in this statement: the
    /// aggregate itself, or a copy of it (operators clone subtrees, e.g. a semi-join
    /// viewed as a join), recognized by its signature.
    pub fn find(&self, agg: &Aggregate) -> Option<(usize, QualifiedName)> {
        if self.entries.is_empty() {
            return None;
        }
        let i = match self
            .entries
            .iter()
            .position(|(a, _, _)| std::ptr::eq(*a, agg))
        {
            Some(i) => i,
            None => {
                if !stores_state(agg) {
                    return None;
                }
                let sig = signature(agg);
                self.entries.iter().position(|(_, s, _)| *s == sig)?
            }
        };
        Some((i, self.entries[i].2.clone()))
    }

    /// Every slot: its aggregate and table.
    pub fn all(&self) -> Vec<(usize, &'t Aggregate, QualifiedName)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, (a, _, t))| (i, *a, t.clone()))
            .collect()
    }
}

/// `"name"` of the state table's column for group key `i`, and so on: the column names of
/// a state table.
pub(crate) fn key_col(i: usize) -> String {
    quote_ident(&format!("g{i}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optree::AggCall;
    use crate::rewrite::test_util::{col, scan};
    use crate::Expr;

    fn count_by_k(input: OpTree) -> OpTree {
        OpTree::aggregate(
            input,
            vec![Expr::col(0)],
            vec![col("k")],
            vec![AggCall {
                kind: AggKind::CountStar,
                arg: None,
                call: Expr::sql("pg_catalog.count(*)"),
                result_type: "bigint".into(),
                tracks_scale: false,
            }],
        )
    }

    fn max_by_k(input: OpTree) -> OpTree {
        OpTree::aggregate(
            input,
            vec![Expr::col(0)],
            vec![col("k")],
            vec![AggCall {
                kind: AggKind::Max,
                arg: Some(Expr::col(1)),
                call: Expr::sql("pg_catalog.max(x)"),
                result_type: "integer".into(),
                tracks_scale: false,
            }],
        )
    }

    fn names(tree: &OpTree) -> Vec<String> {
        state_table_names(tree, &StateTables::for_storage(7))
            .into_iter()
            .map(|n| n.name)
            .collect()
    }

    /// Fixpoint tables are told from grouping tables by name, for this stem only.
    #[test]
    fn fixpoint_tables_are_recognized_by_name() {
        let st = StateTables::for_storage(7);
        let t = |n: &str| QualifiedName::new(STATE_SCHEMA, n);
        assert!(st.is_fixpoint(&t("state_7_r0_00000000000000ab")));
        assert!(!st.is_fixpoint(&t("state_7_0_00000000000000ab")));
        assert!(!st.is_fixpoint(&t("state_70_r0_00000000000000ab")));
    }

    /// The top aggregate is stored in the stream table itself; the one below it keeps a
    /// state table. MIN/MAX groupings do not (they need the group's multiset).
    #[test]
    fn only_algebraic_groupings_below_the_top_keep_state() {
        let inner = count_by_k(scan(1, "a", &["k", "x"]));
        let top = OpTree::project(
            count_by_k(inner),
            vec![Expr::col(0), Expr::col(1)],
            vec![col("n"), col("c")],
        );
        let n = names(&top);
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(n[0].starts_with("state_7_0_"), "{n:?}");
        let with_max = OpTree::project(
            count_by_k(max_by_k(scan(1, "a", &["k", "x"]))),
            vec![Expr::col(0), Expr::col(1)],
            vec![col("m"), col("c")],
        );
        assert!(names(&with_max).is_empty());
    }

    /// A grouping written twice (the same subtree) is one slot; a shared CTE is walked once;
    /// a different grouping gets a different name.
    #[test]
    fn equal_groupings_share_a_slot_and_names_follow_the_subtree() {
        let g = || count_by_k(scan(1, "a", &["k", "x"]));
        let twice = OpTree::join(g(), g(), None);
        assert_eq!(names(&twice).len(), 1);
        let shared = std::rc::Rc::new(g());
        let cte = OpTree::join(
            OpTree::shared(0, shared.clone()),
            OpTree::shared(0, shared),
            None,
        );
        assert_eq!(names(&cte), names(&twice));
        let other = OpTree::join(g(), count_by_k(scan(2, "b", &["k", "x"])), None);
        let n = names(&other);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0], names(&twice)[0]);
        assert_ne!(n[1].split('_').next_back(), n[0].split('_').next_back());
    }
}
