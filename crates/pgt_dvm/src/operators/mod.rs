//! One file per operator. Each implements [`Operator`]: its name, its output columns, its
//! delta (a Z-set with weight column `__pgt_w`) and its current state, both as SQL over
//! positional columns. The driver walks the tree; operators only call their inputs.

pub mod aggregate;
pub mod consolidate;
pub mod distinct;
pub mod filter;
pub mod join;
pub mod lateral_function;
pub mod match_count;
pub mod outer_join;
pub mod project;
pub mod recursive;
pub mod regroup;
pub mod replicate;
pub mod scan;
pub mod semi_join;
pub mod shared;
pub mod stored_group;
pub mod top_k;
pub mod union_all;
pub mod values;
pub mod window;

use std::collections::{HashMap, HashSet};

use pgt_sql::server_functions::ServerFunctions;

use crate::optree::{col_name, Column, OpTree};
use crate::DvmError;

/// Per-statement state shared by all operators while SQL is generated.
pub struct DeltaContext<'a> {
    ctes: Vec<(String, String)>,
    next_id: usize,
    /// Predicate over a change-buffer row aliased `b` selecting the changes this refresh
    /// consumes from the source with this OID.
    pub unconsumed: &'a dyn Fn(u32) -> String,
    /// The row hashes and checks of the server the statement runs on (ADR-077).
    pub server: &'a dyn ServerFunctions,
    /// Memo: (source OID, columns read) → delta CTE (a source scanned twice for the same
    /// columns is read once).
    pub(crate) scan_deltas: HashMap<(u32, Vec<String>), String>,
    /// Memo: shared subtree id → (delta CTE, current CTE).
    pub(crate) shared: HashMap<usize, (Option<String>, Option<String>)>,
    /// Sources that had no pending change when the refresh looked. A delta term that starts
    /// from only such sources is gated by a one-time check that their buffers are still
    /// empty at the statement's snapshot, so PostgreSQL never executes it (a change that
    /// commits in between is still consumed, by the same statement).
    pub quiet: HashSet<u32>,
    /// Sources with many pending changes (their buffers were analyzed, so the planner's
    /// estimates of their deltas are realistic). A join whose delta side reads one of them
    /// does not restrict a single-table current side by the delta's keys: joined on its key
    /// directly, the table is probed through its index (or hashed) anyway, and an
    /// `= ANY (ARRAY(…))` with thousands of keys would be re-sorted at every index probe.
    pub large: HashSet<u32>,
    /// Leave the delta terms of quiet sources out instead of gating them, so PostgreSQL
    /// plans a much smaller statement (a delta term's current side is a join of every other
    /// input). The sources whose terms were left out are collected in `omitted`; the driver
    /// makes the statement fail (SQLSTATE 40001, [`QUIET_SOURCE_CHANGED`]) if one of them
    /// has a change at the statement's snapshot after all, and the refresh then runs the
    /// gated statement instead. A statement that succeeds is exact: the terms it left out
    /// had empty deltas at its snapshot.
    pub omit_quiet: bool,
    pub(crate) omitted: std::collections::BTreeSet<u32>,
    /// CTEs computed once per statement (see [`DeltaContext::add_materialized_cte`]).
    materialized: HashSet<String>,
    /// Memo: the current state of a scalar aggregate, by its SQL → its CTE.
    pub(crate) scalar_currents: HashMap<String, String>,
    /// The aggregates below the top that keep stored states, with their tables
    /// (`crate::state`); empty: none does (every grouping below the top is regrouped).
    pub(crate) slots: crate::state::Slots<'a>,
    /// Generating a FULL statement: stored groupings are recomputed and refilled.
    pub(crate) full: bool,
    /// Memo per slot: the `MERGE` CTE (delta statement) or the recomputed states' CTE
    /// (FULL statement).
    pub(crate) stored_merges: HashMap<usize, String>,
    /// Memo per slot: the CTE of the grouping's current state.
    pub(crate) stored_currents: HashMap<usize, String>,
    /// Rendering a current state that a correlated subquery reads once per outer row (see
    /// [`DeltaContext::correlated_current`]).
    pub(crate) correlated: bool,
    /// Rendering the *old* state (before this refresh's changes): every scan reads
    /// `consolidate(R′ − ΔR)` instead of `R′` (`recursive.rs` recomputes a fixpoint at both
    /// snapshots).
    pub(crate) old_state: bool,
    /// The CTE name of each recursion's work table while its recursive term is rendered.
    pub(crate) worktables: HashMap<usize, String>,
    next_recursion: usize,
    /// Memo of shared subtrees' old states (see `old_state`).
    pub(crate) shared_old: HashMap<usize, String>,
    /// Rendering as if this refresh's changes were only their deletes or only their
    /// inserts (`recursive.rs`, delete and rederive): see [`ChangeKind`].
    pub(crate) changes_only: Option<ChangeKind>,
    /// Memo: recursion id → its delta CTE (a recursion keeping its fixpoint).
    pub(crate) recursion_deltas: HashMap<usize, String>,
    /// Memo: recursion id → its recomputed fixpoint's CTE (FULL statement).
    pub(crate) recursion_fulls: HashMap<usize, String>,
}

/// One kind of change, rendered as if it were the refresh's whole change. Each source's
/// change `ΔS = Ins − Del` (consolidated) splits at its *kept* rows `S∘ = S − Del = S′ − Ins`:
///
/// - `Deletes`: the change is `−Del`, from `S` to `S∘` (scans' deltas keep their negative
///   rows; their current state is `S∘`);
/// - `Inserts`: the change is `+Ins`, from `S∘` to `S′` (positive rows; current state `S′`).
///
/// For a monotone tree (scans, filters, projections, inner joins) the delta under
/// `Deletes` is minus the derivations that used at least one deleted row, and under
/// `Inserts` the derivations that use at least one inserted row: no derivation lost and
/// one gained cancel, which a consolidated delta of the whole change would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Deletes,
    Inserts,
}

/// The message of the error a statement with omitted quiet terms raises when one of those
/// sources changed after all (SQLSTATE 40001).
pub const QUIET_SOURCE_CHANGED: &str =
    "pg_trickle: a source without pending changes got one while the refresh started";

impl<'a> DeltaContext<'a> {
    pub fn new(unconsumed: &'a dyn Fn(u32) -> String, server: &'a dyn ServerFunctions) -> Self {
        DeltaContext {
            ctes: Vec::new(),
            next_id: 0,
            unconsumed,
            server,
            scan_deltas: HashMap::new(),
            shared: HashMap::new(),
            quiet: HashSet::new(),
            large: HashSet::new(),
            omit_quiet: false,
            omitted: std::collections::BTreeSet::new(),
            materialized: HashSet::new(),
            scalar_currents: HashMap::new(),
            slots: crate::state::Slots::default(),
            full: false,
            stored_merges: HashMap::new(),
            stored_currents: HashMap::new(),
            correlated: false,
            old_state: false,
            worktables: HashMap::new(),
            next_recursion: 0,
            shared_old: HashMap::new(),
            changes_only: None,
            recursion_deltas: HashMap::new(),
            recursion_fulls: HashMap::new(),
        }
    }

    /// A fresh number for a recursive CTE's name.
    pub(crate) fn next_recursion(&mut self) -> usize {
        self.next_recursion += 1;
        self.next_recursion
    }

    /// Whether a side whose sources are `quiet` (see [`Operator::quiet_sources`])
    /// contributes no delta term: it is constant, or quiet with `omit_quiet` (recorded).
    pub(crate) fn left_out(&mut self, quiet: &Option<Vec<u32>>) -> bool {
        match quiet {
            Some(q) if q.is_empty() => true,
            Some(q) if self.omit_quiet => {
                self.omitted.extend(q.iter().copied());
                true
            }
            _ => false,
        }
    }

    /// Adds a CTE and returns its name.
    pub fn add_cte(&mut self, prefix: &str, sql: String) -> String {
        let name = format!("__pgt_{prefix}_{}", self.next_id);
        self.next_id += 1;
        self.ctes.push((name.clone(), sql));
        name
    }

    /// Adds a CTE that PostgreSQL computes at most once per statement (`AS
    /// MATERIALIZED`), however often the plan reads it, and returns its name.
    pub fn add_materialized_cte(&mut self, prefix: &str, sql: String) -> String {
        let name = self.add_cte(prefix, sql);
        self.materialized.insert(name.clone());
        name
    }

    /// The current state of `tree` for a correlated subquery, evaluated once per outer row
    /// with a condition PostgreSQL pushes into it: a grouping with stored states is then
    /// read from its input (whose indexes the condition reaches), not from its state table
    /// (a whole-grouping read, which per outer row would be quadratic).
    pub(crate) fn correlated_current(&mut self, tree: &OpTree) -> Result<String, DvmError> {
        let was = std::mem::replace(&mut self.correlated, true);
        let out = tree.rule().current(self);
        self.correlated = was;
        out
    }

    /// The accumulated `name AS (sql)` list, in dependency order.
    pub fn cte_list(&self) -> Vec<String> {
        self.ctes
            .iter()
            .map(|(n, s)| {
                if self.materialized.contains(n) {
                    format!("{n} AS MATERIALIZED ({s})")
                } else {
                    format!("{n} AS ({s})")
                }
            })
            .collect()
    }
}

/// A differentiable operator.
pub trait Operator {
    fn name(&self) -> &'static str;
    fn columns(&self) -> Vec<Column>;
    /// Adds CTEs computing this operator's delta; returns the CTE holding it, with columns
    /// `c0..cN` and `__pgt_w`.
    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError>;
    /// When every source below this operator is quiet (see [`DeltaContext::quiet`]): those
    /// sources (empty: the delta is empty whatever the data, as for constants). Joins gate
    /// or leave out the delta terms that start from such a side, so a refresh executes only
    /// the terms of the sources that changed.
    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>>;
    /// SQL (a query, usable as a subquery) for this operator's current state, columns `c0..cN`.
    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError>;
    /// Output columns that are unique and not NULL in every state (a primary key carried
    /// through), if known. Lets the top of the tree be stored keyed, with in-place updates.
    fn unique_key(&self) -> Option<Vec<usize>> {
        None
    }
    /// The current state restricted to the rows whose column `col` is one of the values
    /// `keys` (a subquery yielding values of that column's type, compared with the built-in
    /// `=`): `σ_{col ∈ K}(A′)`. Operators push the restriction down to their inputs where
    /// that is exact, so it reaches the base tables (and their indexes) instead of
    /// filtering a fully computed state. Default: a filter on top.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        Ok(restricted_on_top(&self.current(cx)?, col, keys))
    }
}

/// The delta of `tree` for a consumer that nets the versions of each row itself (the
/// storage's apply steps sum the weights per row id; an algebraic aggregate adds them; a
/// join with an error-free condition passes them on to a consumer that nets): a scan, an
/// error-free filter over one, bare-column projections of those, and an error-free join
/// whose delta comes from one side only ([`join::Join::netted_delta`]) are read without a
/// consolidation of their own; anything else as usual. Nothing that can fail is evaluated
/// on versions that cancel.
pub(crate) fn delta_for_netting(
    tree: &OpTree,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    match tree {
        OpTree::Scan(s) => s.delta_where(cx, None, false),
        OpTree::Filter(f) if f.error_free => match f.input.as_ref() {
            OpTree::Scan(s) => s.delta_where(cx, Some(&f.predicate), false),
            _ => tree.rule().delta(cx),
        },
        OpTree::Join(j) if j.condition_error_free => j.netted_delta(cx),
        OpTree::Project(p) if p.exprs.iter().all(|e| e.as_column().is_some()) => {
            let d = delta_for_netting(&p.input, cx)?;
            let sql = format!("SELECT {}, d.__pgt_w FROM {d} AS d", p.select_list("d"));
            Ok(cx.add_cte("project_delta", sql))
        }
        other => other.rule().delta(cx),
    }
}

/// `σ_{col ∈ K}` as a filter over the state `cur` (where the restriction cannot be pushed
/// further down).
pub(crate) fn restricted_on_top(cur: &str, col: usize, keys: &str) -> String {
    format!(
        "SELECT s.* FROM ({cur}) AS s WHERE s.{} OPERATOR(pg_catalog.=) ANY ({})",
        col_name(col),
        key_array(keys)
    )
}

/// Whether a key restriction of an equi-join (inner or outer, on its preserved side)
/// also restricts the other side by the same keys: only when both sides are joins (see
/// `Join::current_restricted`).
pub(crate) fn restricts_partner(left: &OpTree, right: &OpTree) -> bool {
    !left.is_single_table() && !right.is_single_table()
}

/// The keys of `keys` (a one-column subquery) as an array without duplicates, for
/// `col = ANY (…)`. A delta's keys repeat (every version of a changed row, every line of a
/// changed order): btree sorts and deduplicates the array before its index scan, which for
/// 120,000 elements costs more than hashing them away first.
pub(crate) fn key_array(keys: &str) -> String {
    format!("ARRAY(SELECT DISTINCT __pgt_k.* FROM ({keys}) AS __pgt_k)")
}

/// A one-time condition (an uncorrelated scalar subquery, which PostgreSQL evaluates
/// once and uses to skip the plan below it): some of `sources` has an unconsumed change.
pub(crate) fn changes_gate(cx: &DeltaContext<'_>, sources: &[u32]) -> String {
    let any = sources
        .iter()
        .map(|&oid| {
            format!(
                "EXISTS (SELECT 1 FROM {} AS b WHERE {})",
                cx.server.change_buffer(oid),
                (cx.unconsumed)(oid)
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    format!("(SELECT {any})")
}

/// An empty delta with `columns`' types (for an operator whose delta is statically empty).
pub(crate) fn empty_delta(cx: &mut DeltaContext<'_>, columns: &[Column]) -> String {
    let cols = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("NULL::{} AS {}", c.type_sql, col_name(i)))
        .collect::<Vec<_>>()
        .join(", ");
    cx.add_cte(
        "empty_delta",
        format!("SELECT {cols}, 0::bigint AS __pgt_w WHERE false"),
    )
}

/// `"c0", "c1", …` for `n` columns, each qualified with `alias.` when given.
pub(crate) fn col_list(n: usize, alias: Option<&str>) -> String {
    (0..n)
        .map(|i| match alias {
            Some(a) => format!("{a}.{}", col_name(i)),
            None => col_name(i),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
