//! The driver: recognizes the top shape, lets the operators emit their CTEs, and wraps
//! them into one statement that applies the result to the storage table with `MERGE`.
//!
//! Every statement returns one row `(snapshot text, rows_inserted bigint, rows_deleted
//! bigint)`. The snapshot is `pg_current_snapshot()` taken **inside the same statement**
//! that read the buffers and tables, so it is exactly the snapshot the result reflects;
//! the caller stores it as the new frontier.

use pgt_sql::server_functions::ServerFunctions;
use pgt_sql::{quote_ident, QualifiedName};

use crate::operators::aggregate::COUNT_COLUMN;
use crate::operators::DeltaContext;
use crate::optree::OpTree;
use crate::storage::{canonical_row_hash, key_hash, quoted, row_hash, TopShape, KEY_COLUMN};
use crate::DvmError;

const SNAP_CTE: &str =
    "__pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s)";
const RESULT: &str = "SELECT (SELECT s FROM __pgt_snap) AS snapshot, \
     pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, \
     pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m";

fn assemble(cx: &DeltaContext<'_>, extra: Vec<String>) -> String {
    let snap = if cx.omitted.is_empty() {
        SNAP_CTE.to_string()
    } else {
        // The statement's own snapshot decides: if a source whose terms were left out has
        // a change in it, the statement fails and the refresh runs the gated statement.
        let omitted: Vec<u32> = cx.omitted.iter().copied().collect();
        format!(
            "__pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s \
             WHERE {})",
            cx.server.quiet_check(&format!("NOT {}", crate::operators::changes_gate(cx, &omitted)))
        )
    };
    let mut ctes = vec![snap];
    ctes.extend(cx.cte_list());
    ctes.extend(extra);
    format!("WITH {} {RESULT}", ctes.join(", "))
}

/// `alias."c0", alias."c1", …` for `n` positional columns.
fn positional(alias: &str, n: usize) -> String {
    crate::operators::col_list(n, Some(alias))
}

fn check(server: &dyn ServerFunctions, cond: &str, what: &str) -> String {
    server.check(
        cond,
        &pgt_sql::quote_literal(&format!(
            "stream table storage is inconsistent with its change history ({what})"
        )),
    )
}

/// What a stream table's storage needs beyond its visible columns.
pub struct StorageSpec {
    pub hidden_columns: Vec<(String, String)>,
    /// Extra statements (indexes) to run after `CREATE TABLE`.
    pub extra_ddl: Vec<String>,
}

/// The hidden storage columns `tree` needs, without generating any SQL (cheap enough to
/// check at every refresh).
pub fn hidden_columns(tree: &OpTree) -> Result<Vec<(String, String)>, DvmError> {
    Ok(TopShape::of(tree)?.hidden_columns())
}

/// Validates that `tree` can be maintained incrementally and returns its storage needs.
pub fn storage_spec(tree: &OpTree, target: &QualifiedName) -> Result<StorageSpec, DvmError> {
    let shape = TopShape::of(tree)?;
    // Generate once with a dummy frontier so every operator's preconditions are checked now.
    let dummy = |_oid: u32| "true".to_string();
    let user_columns = match tree {
        OpTree::TopK(k) => tree.columns().len() - k.sort_only,
        _ => tree.columns().len(),
    };
    differential_statement_for(
        tree,
        target,
        &vec![String::new(); user_columns],
        &dummy,
        &PendingShape::default(),
        Some(&crate::state::StateTables::for_storage(0)),
        // (The statement is only generated, not run: any server's functions do.)
        &pgt_sql::server_functions::Extension,
    )?;
    let mut extra_ddl = Vec::new();
    // Storage whose rows a refresh updates in place (an aggregate's groups, a keyed
    // result's rows) leaves free space in each page, so an update is a heap-only tuple
    // on the same page instead of a new index entry: a refresh updating 6,000 of 10,000
    // groups took 53 ms at the default fillfactor and 42 ms at 50.
    let fillfactor = match shape {
        TopShape::Aggregate { .. } => Some(50),
        TopShape::Keyed(..) => Some(85),
        TopShape::Bag(_) | TopShape::Distinct(_) | TopShape::TopK(_) => None,
    };
    if let Some(f) = fillfactor {
        extra_ddl.push(format!("ALTER TABLE {target} SET (fillfactor = {f})"));
    }
    if let TopShape::Bag(_) = shape {
        let idx = format!("{}_key_idx", target.name);
        extra_ddl.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {target} ({})",
            quote_ident(&idx),
            quote_ident(KEY_COLUMN)
        ));
    }
    Ok(StorageSpec {
        hidden_columns: shape.hidden_columns(),
        extra_ddl,
    })
}

/// The incremental refresh statement. `visible` are the storage's user column names,
/// `unconsumed(oid)` the predicate (over buffer alias `b`) selecting this refresh's changes.
pub fn differential_statement(
    tree: &OpTree,
    target: &QualifiedName,
    visible: &[String],
    unconsumed: &dyn Fn(u32) -> String,
    server: &dyn ServerFunctions,
) -> Result<String, DvmError> {
    differential_statement_for(
        tree,
        target,
        visible,
        unconsumed,
        &PendingShape::default(),
        None,
        server,
    )
}

/// What a refresh knows about its sources' pending changes before it generates the delta
/// statement.
#[derive(Debug, Clone, Default)]
pub struct PendingShape {
    /// Sources without any pending change: the delta terms that would start from them are
    /// gated off (see `DeltaContext::quiet`).
    pub quiet: Vec<u32>,
    /// Sources with many pending changes (see `DeltaContext::large`).
    pub large: Vec<u32>,
    /// Leave the quiet sources' terms out, checked at run time (see
    /// `DeltaContext::omit_quiet`).
    pub omit_quiet: bool,
}

/// [`differential_statement`] for a refresh whose pending changes have `shape`, with the
/// groupings below the top that keep stored states using the tables of `states` (None:
/// none keeps any; see `crate::state`).
pub fn differential_statement_for(
    tree: &OpTree,
    target: &QualifiedName,
    visible: &[String],
    unconsumed: &dyn Fn(u32) -> String,
    shape: &PendingShape,
    states: Option<&crate::state::StateTables>,
    server: &dyn ServerFunctions,
) -> Result<String, DvmError> {
    let mut cx = DeltaContext::new(unconsumed, server);
    if let Some(states) = states {
        cx.slots = crate::state::Slots::of(tree, states);
    }
    cx.quiet = shape.quiet.iter().copied().collect();
    cx.large = shape.large.iter().copied().collect();
    cx.omit_quiet = shape.omit_quiet;
    let v = quoted(visible);
    let n = visible.len();
    let extra = match TopShape::of(tree)? {
        TopShape::Keyed(top, key) => {
            // Per key, the version with net weight +1 is the row's new value (upsert);
            // a key with only deleted versions is deleted. Two live versions of one key
            // would contradict its uniqueness and stop the refresh. The apply steps net the
            // versions of each key, so a scan below is read as buffered.
            let d = crate::operators::delta_for_netting(top, &mut cx)?;
            let rs = positional("r", n);
            let sv = positional("s", n);
            let set = v
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = s.\"c{i}\""))
                .collect::<Vec<_>>()
                .join(", ");
            // No CTE is joined to another: whatever the planner estimates for the delta
            // (its estimates of consolidated deltas are often far too small), the work is
            // two sorts of the delta and one index probe per changed key.
            vec![
                format!("__pgt_d AS (SELECT {} AS rid, {} AS vh, d.* FROM {d} AS d)", key_hash(cx.server, &key, "d"), row_hash(cx.server, n, "d")),
                // One row per (key, version) with its net weight.
                "__pgt_v AS (SELECT x.* FROM (SELECT d.*, pg_catalog.sum(d.__pgt_w) OVER __pgt_kv AS vw, \
                   pg_catalog.row_number() OVER __pgt_kv AS vn FROM __pgt_d AS d WINDOW __pgt_kv AS (PARTITION BY d.rid, d.vh)) AS x \
                   WHERE x.vn OPERATOR(pg_catalog.=) 1 AND x.vw OPERATOR(pg_catalog.<>) 0)".into(),
                // Per key: the version with net weight +1 is its new value (upsert); only
                // deleted versions: the key is deleted.
                format!(
                    "__pgt_src AS (SELECT r.rid, CASE WHEN r.n_new OPERATOR(pg_catalog.=) 1 THEN 'U' ELSE 'D' END AS op, {rs} \
                     FROM (SELECT v.*, pg_catalog.count(*) FILTER (WHERE v.vw OPERATOR(pg_catalog.>) 0) OVER __pgt_key AS n_new, \
                                  pg_catalog.bool_and(v.vw OPERATOR(pg_catalog.>=) -1 AND v.vw OPERATOR(pg_catalog.<=) 1) OVER __pgt_key AS sane, \
                                  pg_catalog.row_number() OVER (PARTITION BY v.rid ORDER BY v.vw OPERATOR(pg_catalog.>) 0 DESC) AS kn \
                             FROM __pgt_v AS v WINDOW __pgt_key AS (PARTITION BY v.rid)) AS r \
                     WHERE r.kn OPERATOR(pg_catalog.=) 1 AND {})",
                    check(cx.server, "r.n_new OPERATOR(pg_catalog.<=) 1 AND r.sane", "two versions of a unique row")
                ),
                format!(
                    "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
                     WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE \
                     WHEN MATCHED THEN UPDATE SET {set} \
                     WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'U' THEN INSERT (__pgt_row_id, {}) VALUES (s.rid, {sv}) \
                     RETURNING merge_action() AS a)",
                    v.join(", ")
                ),
            ]
        }
        TopShape::Bag(top) => {
            let d = crate::operators::delta_for_netting(top, &mut cx)?;
            let cs = positional("c", n);
            let nulls = (0..n).map(|_| "NULL").collect::<Vec<_>>().join(", ");
            let sv = positional("s", n);
            vec![
                format!("__pgt_d AS (SELECT {} AS k, d.* FROM {d} AS d)", row_hash(cx.server, n, "d")),
                // One representative row per distinct row, with its net weight; then its
                // current number of copies by one index probe each (no CTE is joined to
                // another, so no misestimate can make this quadratic).
                "__pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, \
                   pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.k)) AS x \
                   WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0)".into(),
                format!(
                    "__pgt_cur AS (SELECT n.*, (SELECT pg_catalog.count(*) FROM {target} AS t WHERE t.{KEY_COLUMN} OPERATOR(pg_catalog.=) n.k) AS cur \
                     FROM __pgt_net AS n)"
                ),
                format!(
                    "__pgt_src AS (\
                     SELECT 'I'::pg_catalog.text AS op, {hc} AS rid, c.k, {cs} \
                       FROM __pgt_cur AS c \
                       CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) 1, c.cur OPERATOR(pg_catalog.+) c.nw) AS o \
                      WHERE c.nw OPERATOR(pg_catalog.>) 0 \
                     UNION ALL \
                     SELECT 'D'::pg_catalog.text, {hc}, c.k, {nulls} \
                       FROM __pgt_cur AS c \
                       CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.+) 1, c.cur) AS o \
                      WHERE c.nw OPERATOR(pg_catalog.<) 0 AND {})",
                    check(cx.server, "c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.>=) 0", "more copies of a row deleted than stored"),
                    hc = cx.server.hash_combine("c.k", "o"),
                ),
                format!(
                    "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
                     WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE \
                     WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' AND {} THEN DO NOTHING \
                     WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' THEN INSERT (__pgt_row_id, {KEY_COLUMN}, {}) VALUES (s.rid, s.k, {sv}) \
                     RETURNING merge_action() AS a)",
                    check(cx.server, "false", "a row copy to insert already exists"),
                    v.join(", ")
                ),
            ]
        }
        TopShape::Distinct(input) => {
            let d = crate::operators::delta_for_netting(input, &mut cx)?;
            let rs = positional("n", n);
            let sv = positional("s", n);
            vec![
                format!("__pgt_d AS (SELECT {} AS rid, d.* FROM {d} AS d)", canonical_row_hash(cx.server, &input.columns(), "d")),
                // One representative per distinct row with its net weight, and the stored
                // count by one index probe each (no CTE joined to another).
                "__pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, \
                   pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.rid)) AS x \
                   WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0)".into(),
                format!(
                    "__pgt_src AS (SELECT y.* FROM (SELECT n.rid, {rs}, \
                       coalesce((SELECT t.__pgt_count FROM {target} AS t WHERE t.__pgt_row_id OPERATOR(pg_catalog.=) n.rid), 0) OPERATOR(pg_catalog.+) n.nw AS cnt \
                       FROM __pgt_net AS n) AS y \
                     WHERE {})",
                    check(cx.server, "y.cnt OPERATOR(pg_catalog.>=) 0", "a distinct row's count went negative")
                ),
                format!(
                    "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
                     WHEN MATCHED AND s.cnt OPERATOR(pg_catalog.<=) 0 THEN DELETE \
                     WHEN MATCHED THEN UPDATE SET __pgt_count = s.cnt \
                     WHEN NOT MATCHED AND s.cnt OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id, __pgt_count, {}) VALUES (s.rid, s.cnt, {sv}) \
                     RETURNING merge_action() AS a)",
                    v.join(", ")
                ),
            ]
        }
        TopShape::TopK(top) => {
            let stored = top.stored_names(&v);
            let n = stored.len();
            let server = cx.server;
            let rows = top.new_rows(&mut cx, &target.to_string(), &stored, KEY_COLUMN, &|a| {
                row_hash(server, n, a)
            })?;
            replace_bag(cx.server, target, &stored, &rows)
        }
        TopShape::Aggregate {
            agg,
            having,
            project,
        } => {
            if agg.merges_in_place(having.is_some()) {
                let source = agg.merge_source_sql(&mut cx, &target.to_string())?;
                aggregate_merge_in_place(cx.server, agg, project, target, &v, source)
            } else {
                let new_states =
                    agg.new_states_sql(&mut cx, &target.to_string(), having.is_some())?;
                aggregate_apply(
                    cx.server, agg, having, project, target, &v, new_states, false,
                )
            }
        }
    };
    // Every stored grouping applies this refresh's changes, whether or not a term above
    // read its delta (a state table must never miss a change its sources' frontiers pass).
    for (slot, agg, table) in cx.slots.all() {
        crate::operators::stored_group::merge(agg, slot, &table, &mut cx)?;
    }
    // So does every stored fixpoint (`operators/recursive.rs`).
    for (r, table) in cx.slots.all_fixpoints() {
        r.store(&mut cx, &table)?;
    }
    Ok(assemble(&cx, extra))
}

/// The FULL refresh statement for an incrementally maintained stream table: recompute,
/// then `MERGE` with `WHEN NOT MATCHED BY SOURCE THEN DELETE`, touching only rows that
/// differ. Also the initial population. The state tables of `states` are refilled.
pub fn full_statement(
    tree: &OpTree,
    target: &QualifiedName,
    visible: &[String],
    states: Option<&crate::state::StateTables>,
    server: &dyn ServerFunctions,
) -> Result<String, DvmError> {
    let no_changes = |_oid: u32| "false".to_string();
    let mut cx = DeltaContext::new(&no_changes, server);
    cx.full = true;
    if let Some(states) = states {
        cx.slots = crate::state::Slots::of(tree, states);
    }
    let v = quoted(visible);
    let n = visible.len();
    let sv = positional("s", n);
    let extra = match TopShape::of(tree)? {
        TopShape::Keyed(top, key) => {
            let cur = top.rule().current(&mut cx)?;
            let set = v
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = s.\"c{i}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let t_all = v
                .iter()
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                format!("__pgt_new AS (SELECT {} AS rid, q.* FROM ({cur}) AS q)", key_hash(cx.server, &key, "q")),
                format!(
                    "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
                     WHEN MATCHED AND pg_catalog.record_send(ROW({t_all})) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW({sv})) THEN UPDATE SET {set} \
                     WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, {}) VALUES (s.rid, {sv}) \
                     WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a)",
                    v.join(", ")
                ),
            ]
        }
        TopShape::Bag(top) => replace_bag(cx.server, target, &v, &top.rule().current(&mut cx)?),
        TopShape::TopK(top) => replace_bag(
            cx.server,
            target,
            &top.stored_names(&v),
            &top.recomputed(&mut cx)?,
        ),
        TopShape::Distinct(input) => {
            let cur = input.rule().current(&mut cx)?;
            vec![
                format!(
                    "__pgt_new AS (SELECT DISTINCT ON (x.rid) x.*, pg_catalog.count(*) OVER (PARTITION BY x.rid) AS cnt \
                     FROM (SELECT {} AS rid, q.* FROM ({cur}) AS q) AS x)",
                    canonical_row_hash(cx.server, &input.columns(), "q")
                ),
                format!(
                    "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
                     WHEN MATCHED AND t.__pgt_count OPERATOR(pg_catalog.<>) s.cnt THEN UPDATE SET __pgt_count = s.cnt \
                     WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, __pgt_count, {}) VALUES (s.rid, s.cnt, {sv}) \
                     WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a)",
                    v.join(", ")
                ),
            ]
        }
        TopShape::Aggregate {
            agg,
            having,
            project,
        } => {
            let states = agg.full_states_sql(&mut cx)?;
            aggregate_apply(cx.server, agg, having, project, target, &v, states, true)
        }
    };
    for (slot, agg, table) in cx.slots.all() {
        crate::operators::stored_group::refill(agg, slot, &table, &mut cx)?;
    }
    for (r, table) in cx.slots.all_fixpoints() {
        r.refill(&mut cx, &table)?;
    }
    Ok(assemble(&cx, extra))
}

/// Makes the bag storage `target` hold exactly the rows of `rows` (a query with columns
/// `c0…`): a row's copies get occurrences `1..n`, so a row that stays keeps its row ids and
/// is not touched; the others are inserted or deleted.
fn replace_bag(
    server: &dyn ServerFunctions,
    target: &QualifiedName,
    v: &[String],
    rows: &str,
) -> Vec<String> {
    let n = v.len();
    vec![
        format!(
            "__pgt_new AS (SELECT {} AS rid, x.* \
             FROM (SELECT {} AS k, q.* FROM ({rows}) AS q) AS x)",
            server.hash_combine("x.k", "pg_catalog.row_number() OVER (PARTITION BY x.k)"),
            row_hash(server, n, "q")
        ),
        format!(
            "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
             WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, {KEY_COLUMN}, {}) VALUES (s.rid, s.k, {}) \
             WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a)",
            v.join(", "),
            positional("s", n)
        ),
    ]
}

/// The visible columns of an aggregate's top, from state columns read through `st`
/// (group keys from `keys`).
fn aggregate_visible(
    agg: &crate::operators::aggregate::Aggregate,
    project: &crate::operators::project::Project,
    keys: &str,
    st: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let bind = aggregate_binder(agg, keys, st);
    project.exprs.iter().map(|e| e.render(&bind)).collect()
}

/// Binds the aggregate's output columns for rendering an expression above it: group keys
/// from `keys`, aggregate results computed from state columns read through `st`.
fn aggregate_binder<'a>(
    agg: &'a crate::operators::aggregate::Aggregate,
    keys: &'a str,
    st: &'a dyn Fn(&str) -> String,
) -> impl Fn(usize) -> String + 'a {
    let ng = agg.group_by.len();
    move |i: usize| -> String {
        if i < ng {
            format!("{keys}.\"g{i}\"")
        } else {
            agg.final_value(i - ng, st)
        }
    }
}

/// Applies a grouped, all-algebraic aggregate's delta inside the `MERGE`: the new state of
/// a stored group is its stored state plus the change (`t.c + s.c`), so the storage is
/// read once, by the `MERGE`'s own join, and the visible columns are computed from the
/// sum. Recomputed groups (`s.__pgt_abs`) replace their row; a group whose count reaches 0
/// is deleted; a change for a group not stored yet is its whole state.
fn aggregate_merge_in_place(
    server: &dyn ServerFunctions,
    agg: &crate::operators::aggregate::Aggregate,
    project: &crate::operators::project::Project,
    target: &QualifiedName,
    v: &[String],
    source: String,
) -> Vec<String> {
    let states: Vec<String> = agg
        .state_columns()
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect();
    let absolute = |c: &str| format!("s.{}", quote_ident(c));
    let added = |c: &str| {
        let c = quote_ident(c);
        format!("(coalesce(t.{c}, 0) OPERATOR(pg_catalog.+) s.{c})")
    };
    let assignments = |st: &dyn Fn(&str) -> String| -> Vec<String> {
        let mut out: Vec<String> = aggregate_visible(agg, project, "s", st)
            .into_iter()
            .zip(v)
            .map(|(e, c)| format!("{c} = {e}"))
            .collect();
        out.extend(
            agg.state_columns()
                .iter()
                .map(|c| format!("{} = {}", quote_ident(&c.name), st(&c.name))),
        );
        out
    };
    let insert_values: Vec<String> = aggregate_visible(agg, project, "s", &absolute)
        .into_iter()
        .chain(states.iter().map(|c| format!("s.{c}")))
        .collect();
    let new_count = format!("(t.{COUNT_COLUMN} OPERATOR(pg_catalog.+) s.{COUNT_COLUMN})");
    vec![format!(
        "__pgt_m AS (MERGE INTO {target} AS t USING ({source}) AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
         WHEN MATCHED AND s.__pgt_abs AND s.{COUNT_COLUMN} OPERATOR(pg_catalog.<=) 0 THEN DELETE \
         WHEN MATCHED AND s.__pgt_abs THEN UPDATE SET {abs_set} \
         WHEN MATCHED AND {new_count} OPERATOR(pg_catalog.<=) 0 AND {neg_matched} THEN DELETE \
         WHEN MATCHED THEN UPDATE SET {add_set} \
         WHEN NOT MATCHED AND {neg_new} AND s.{COUNT_COLUMN} OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id, {cols}) VALUES (s.rid, {vals}) \
         RETURNING merge_action() AS a)",
        abs_set = assignments(&absolute).join(", "),
        add_set = assignments(&added).join(", "),
        neg_matched = check(server, &format!("{new_count} OPERATOR(pg_catalog.>=) 0"), "a group's row count went negative"),
        neg_new = check(server, &format!("s.{COUNT_COLUMN} OPERATOR(pg_catalog.>=) 0"), "a group's row count went negative"),
        cols = [v.to_vec(), states.clone()].concat().join(", "),
        vals = insert_values.join(", "),
    )]
}

/// Projects new aggregate states to visible columns and merges them.
#[allow(clippy::too_many_arguments)]
fn aggregate_apply(
    server: &dyn ServerFunctions,
    agg: &crate::operators::aggregate::Aggregate,
    having: Option<&crate::expr::Expr>,
    project: &crate::operators::project::Project,
    target: &QualifiedName,
    v: &[String],
    new_states: String,
    full: bool,
) -> Vec<String> {
    let st = |c: &str| format!("n.{}", quote_ident(c));
    let bind = aggregate_binder(agg, "n", &st);
    let visible_exprs: Vec<String> = aggregate_visible(agg, project, "n", &st)
        .into_iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS \"c{i}\""))
        .collect();
    let states: Vec<String> = agg
        .state_columns()
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect();
    let mut delete_cond = Vec::new();
    if !agg.is_scalar() {
        delete_cond.push(format!("n.{COUNT_COLUMN} OPERATOR(pg_catalog.<=) 0"));
    }
    if let Some(h) = having {
        delete_cond.push(format!("NOT coalesce({}, false)", h.render(&bind)));
    }
    let op = if delete_cond.is_empty() {
        "'U'::pg_catalog.text".to_string()
    } else {
        format!(
            "CASE WHEN {} THEN 'D' ELSE 'U' END",
            delete_cond.join(" OR ")
        )
    };
    let n_states = states
        .iter()
        .map(|s| format!("n.{s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let src = format!(
        "__pgt_src AS (SELECT n.rid, {op} AS op, {}, {n_states} FROM ({new_states}) AS n WHERE {})",
        visible_exprs.join(", "),
        check(
            server,
            &format!("n.{COUNT_COLUMN} OPERATOR(pg_catalog.>=) 0"),
            "a group's row count went negative"
        )
    );
    let sv: Vec<String> = (0..v.len()).map(|i| format!("s.\"c{i}\"")).collect();
    let ss: Vec<String> = states.iter().map(|s| format!("s.{s}")).collect();
    let all_cols = [v.to_vec(), states.clone()].concat();
    let all_src = [sv.clone(), ss.clone()].concat();
    let set = all_cols
        .iter()
        .zip(&all_src)
        .map(|(c, s)| format!("{c} = {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "INSERT (__pgt_row_id, {}) VALUES (s.rid, {})",
        all_cols.join(", "),
        all_src.join(", ")
    );
    let merge = if full {
        let t_all = all_cols
            .iter()
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "__pgt_m AS (MERGE INTO {target} AS t USING (SELECT * FROM __pgt_src WHERE op OPERATOR(pg_catalog.<>) 'D') AS s \
             ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
             WHEN MATCHED AND pg_catalog.record_send(ROW({t_all})) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW({})) THEN UPDATE SET {set} \
             WHEN NOT MATCHED BY TARGET THEN {insert} \
             WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a)",
            all_src.join(", ")
        )
    } else {
        format!(
            "__pgt_m AS (MERGE INTO {target} AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid \
             WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE \
             WHEN MATCHED THEN UPDATE SET {set} \
             WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'U' THEN {insert} \
             RETURNING merge_action() AS a)",
        )
    };
    vec![src, merge]
}
