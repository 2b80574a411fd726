//! **Grouping below the top with stored states** (`γ_{g; f}(A)` whose output is joined,
//! filtered, aggregated again or ordered for a top-k, every `f` algebraic): the states of
//! each group live in a hidden state table `S` (see `crate::state`), which the refresh
//! statement maintains with a `MERGE` of its own.
//!
//! Per group `g` (row id `rid = hash(g)`), `S` holds `n` (rows), and per aggregate `j` over
//! `x`: `cⱼ` (non-NULL inputs), `sⱼ` (sum of the inputs that are not NaN) and `nanⱼ` (NaN
//! inputs, for numeric sums: `NaN − NaN` is NaN, so a NaN cannot be subtracted out of a
//! running sum, but it can be counted). With `ΔS` the delta grouped per key:
//!
//! ```text
//! Δn = Σw   Δcⱼ = Σ_{x≠NULL} w   Δsⱼ = Σ_{x≠NaN} w·x   Δnanⱼ = Σ_{x=NaN} w
//! S′ = S + ΔS   (a group whose n′ = 0 is deleted; one without a row starts at ΔS)
//! value(state): count(*) = n, count(x) = cⱼ, sum(x) = NULL if cⱼ = 0, NaN if nanⱼ > 0,
//!               else sⱼ;   avg(x) = sum(x) / cⱼ (numeric division, as PostgreSQL's avg)
//! Δγ(A) = { (g, value(S′(g)), +1) | n′ > 0 } ⊎ { (g, value(S(g)), −1) | n > 0 }, consolidated
//! ```
//!
//! The `MERGE` returns each changed group's old and new state (`RETURNING old.…, new.…`),
//! so the old state is read from `S` once, by the `MERGE`'s own join, and nothing of `A`
//! is read again: the cost follows the changed groups, not their sizes. Every
//! data-modifying CTE of a statement sees the snapshot the statement started with, so a
//! read of `S` elsewhere in the statement is the *old* state:
//!
//! ```text
//! γ(A′) = { rows of S whose rid is not in the MERGE's result } ⊎ { new rows it returned }
//! ```
//!
//! which is how a consumer reading the whole grouping (a scalar aggregate over it, a top-k
//! reading its window again) gets the new state without recomputing it. A restriction to
//! keys `K` of a single-key grouping probes `S` by row id.
//!
//! Without GROUP BY the one row (rid 0) always exists: it is never deleted, and its value
//! at `n = 0` is PostgreSQL's (count 0, sum NULL).
//!
//! **FULL refresh:** the states are computed from `A′` once (a materialized CTE), the
//! grouping's rows are derived from them, and a second `MERGE` makes `S` equal to them
//! (touching only groups that differ; `WHEN NOT MATCHED BY SOURCE THEN DELETE`).
//!
//! The arithmetic is exact (integers, numeric), and the visible values are PostgreSQL's:
//! a sum of inputs of one scale has that scale, `avg` is `sum / count` as numeric
//! division. An inconsistency (a count going negative, a change for a group without a
//! row) stops the refresh.

use pgt_sql::server_functions::ServerFunctions;
use pgt_sql::{quote_ident, QualifiedName};

use super::aggregate::Aggregate;
use super::DeltaContext;
use crate::optree::{col_name, AggKind};
use crate::state::key_col;
use crate::DvmError;

/// A state column's name (quoted): `n`, `c{j}`, `s{j}`, `nan{j}`.
fn q(name: &str) -> String {
    quote_ident(name)
}

/// Which states aggregate `j` keeps: (non-NULL count, sum, NaN count).
fn kept(agg: &Aggregate, j: usize) -> (bool, bool, bool) {
    let a = &agg.aggs[j];
    match a.kind {
        AggKind::Count => (true, false, false),
        AggKind::Sum | AggKind::Avg => {
            // A numeric sum (of numeric or bigint inputs, and every avg) can meet NaN.
            let numeric = a.kind == AggKind::Avg || a.result_type == "numeric";
            (true, true, numeric)
        }
        _ => (false, false, false),
    }
}

/// The state columns (names, in order) besides `rid` and the keys: for the signature.
pub(crate) fn state_columns(agg: &Aggregate) -> Vec<String> {
    let mut out = vec!["n".to_string()];
    for j in 0..agg.aggs.len() {
        let (c, s, nan) = kept(agg, j);
        if c {
            out.push(format!("c{j}"));
        }
        if s {
            out.push(format!("s{j}"));
        }
        if nan {
            out.push(format!("nan{j}"));
        }
    }
    out
}

/// `x` is not NaN (for numeric sums; always true otherwise).
fn finite(agg: &Aggregate, j: usize, x: &str) -> String {
    if kept(agg, j).2 {
        format!("({x}) OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric")
    } else {
        "true".into()
    }
}

/// The argument of aggregate `j` rendered on `alias`.
fn arg(agg: &Aggregate, j: usize, alias: &str) -> String {
    agg.aggs[j]
        .arg
        .as_ref()
        .map(|e| e.render_on(alias))
        .unwrap_or_else(|| "NULL".into())
}

/// The group's row id from its keys as stored (`alias."g0"`, …); `0` without GROUP BY.
fn rid_of_keys(server: &dyn ServerFunctions, agg: &Aggregate, alias: &str) -> String {
    if agg.group_by.is_empty() {
        return "0::bigint".into();
    }
    let ks: Vec<String> = agg
        .group_columns
        .iter()
        .enumerate()
        .map(|(i, c)| c.identity_sql(&format!("{alias}.{}", key_col(i))))
        .collect();
    crate::storage::identity_hash(server, &ks)
}

/// `SELECT rid, g…, <states> FROM rows AS s GROUP BY g…`: the states per group of `rows`
/// (the input's columns), each row counted once, or (`weighted`) a delta's states, each
/// version counted with its weight `s.__pgt_w` (without GROUP BY: one row only when the
/// delta is not empty).
fn grouped_states(
    server: &dyn ServerFunctions,
    agg: &Aggregate,
    rows: &str,
    weighted: bool,
) -> String {
    // Σ of `weight` over the rows where `cond` holds.
    let total = |cond: &str| {
        if cond == "true" {
            if weighted {
                "pg_catalog.sum(s.__pgt_w)::bigint".to_string()
            } else {
                "pg_catalog.count(*)::bigint".to_string()
            }
        } else if weighted {
            format!("pg_catalog.sum(CASE WHEN {cond} THEN s.__pgt_w ELSE 0 END)::bigint")
        } else {
            format!("(pg_catalog.count(*) FILTER (WHERE {cond}))::bigint")
        }
    };
    let mut cols: Vec<String> = agg
        .group_by
        .iter()
        .enumerate()
        .map(|(i, g)| format!("{} AS {}", g.render_on("s"), key_col(i)))
        .collect();
    cols.push(format!("{} AS {}", total("true"), q("n")));
    for j in 0..agg.aggs.len() {
        let (c, s, nan) = kept(agg, j);
        let x = arg(agg, j, "s");
        if c {
            cols.push(format!(
                "{} AS {}",
                total(&format!("({x}) IS NOT NULL")),
                q(&format!("c{j}"))
            ));
        }
        if s {
            let sum = if weighted {
                format!("coalesce(pg_catalog.sum(s.__pgt_w OPERATOR(pg_catalog.*) ({x})) FILTER (WHERE {}), 0)", finite(agg, j, &x))
            } else {
                format!("pg_catalog.sum({x}) FILTER (WHERE {})", finite(agg, j, &x))
            };
            cols.push(format!("{sum} AS {}", q(&format!("s{j}"))));
        }
        if nan {
            cols.push(format!(
                "{} AS {}",
                total(&format!(
                    "({x}) OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric"
                )),
                q(&format!("nan{j}"))
            ));
        }
    }
    let tail = if agg.group_by.is_empty() {
        if weighted {
            " HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0".to_string()
        } else {
            String::new()
        }
    } else {
        format!(
            " GROUP BY {}",
            agg.group_by
                .iter()
                .map(|g| g.render_on("s"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "SELECT {} AS rid, x.* FROM (SELECT {} FROM {rows} AS s{tail}) AS x",
        rid_of_keys(server, agg, "x"),
        cols.join(", ")
    )
}

fn states_of(server: &dyn ServerFunctions, agg: &Aggregate, rows: &str) -> String {
    grouped_states(server, agg, &format!("({rows})"), false)
}

/// `CREATE TABLE` (typed by PostgreSQL from the states query itself, so key columns keep
/// their types, typmods and collations) and its primary key.
pub(crate) fn ddl(
    server: &dyn ServerFunctions,
    agg: &Aggregate,
    table: &QualifiedName,
) -> Result<Vec<String>, DvmError> {
    let no_changes = |_oid: u32| "false".to_string();
    let mut cx = DeltaContext::new(&no_changes, server);
    let cur = agg.input.rule().current(&mut cx)?;
    let ctes = cx.cte_list();
    let with = if ctes.is_empty() {
        String::new()
    } else {
        format!("WITH {} ", ctes.join(", "))
    };
    Ok(vec![
        format!(
            "CREATE TABLE {table} AS {with}{} WITH NO DATA",
            states_of(cx.server, agg, &cur)
        ),
        // Groups are updated in place: free space in each page keeps an update on its page
        // (as for an aggregate's storage, `driver::storage_spec`).
        format!("ALTER TABLE {table} SET (fillfactor = 50)"),
        format!("ALTER TABLE {table} ADD PRIMARY KEY (rid)"),
    ])
}

/// The visible value of aggregate `j` from a state read through `st` (`st("n")` is the
/// SQL of state column `n`).
fn value(agg: &Aggregate, j: usize, st: &dyn Fn(&str) -> String) -> String {
    let a = &agg.aggs[j];
    let c = st(&format!("c{j}"));
    let s = format!("coalesce({}, 0)", st(&format!("s{j}")));
    let (_, _, nan) = kept(agg, j);
    let special = |finite_value: String| {
        if nan {
            format!(
                "CASE WHEN {c} OPERATOR(pg_catalog.=) 0 THEN NULL WHEN {} OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE {finite_value} END",
                st(&format!("nan{j}"))
            )
        } else {
            format!("CASE WHEN {c} OPERATOR(pg_catalog.=) 0 THEN NULL ELSE {finite_value} END")
        }
    };
    let v = match a.kind {
        AggKind::CountStar => st("n"),
        AggKind::Count => c.clone(),
        AggKind::Sum => special(s),
        AggKind::Avg => special(format!(
            "({s})::pg_catalog.numeric OPERATOR(pg_catalog./) ({c})::pg_catalog.numeric"
        )),
        _ => unreachable!("only algebraic aggregates keep stored states"),
    };
    format!("({v})::{}", a.result_type)
}

/// The grouping's row (`c0…`: keys, then values) from keys `key(i)` and states `st`.
fn row(agg: &Aggregate, key: &dyn Fn(usize) -> String, st: &dyn Fn(&str) -> String) -> String {
    let ng = agg.group_by.len();
    (0..ng)
        .map(|i| format!("{} AS {}", key(i), col_name(i)))
        .chain(
            (0..agg.aggs.len()).map(|j| format!("{} AS {}", value(agg, j, st), col_name(ng + j))),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(server: &dyn ServerFunctions, cond: &str, what: &str) -> String {
    server.check(
        cond,
        &pgt_sql::quote_literal(&format!(
            "stream table state is inconsistent with its change history ({what})"
        )),
    )
}

/// The statement's `MERGE` into the state table `table` (once per statement): its CTE,
/// returning per changed group `rid`, `og…`/`ng…` (old/new keys) and `o_<state>`/`n_<state>`.
pub(crate) fn merge(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    if let Some(m) = cx.stored_merges.get(&slot) {
        return Ok(m.clone());
    }
    let ng = agg.group_by.len();
    let d = agg.input.rule().delta(cx)?;
    let e = cx.add_cte("state_delta", grouped_states(cx.server, agg, &d, true));
    let states = state_columns(agg);
    let unchanged = states
        .iter()
        .map(|s| format!("e.{} OPERATOR(pg_catalog.=) 0", q(s)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let set = states
        .iter()
        .map(|s| {
            let s = q(s);
            format!("{s} = coalesce(t.{s}, 0) OPERATOR(pg_catalog.+) e.{s}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let n_new = format!("(t.{n} OPERATOR(pg_catalog.+) e.{n})", n = q("n"));
    let keys: Vec<String> = (0..ng).map(key_col).collect();
    let all_cols: Vec<String> = std::iter::once("rid".to_string())
        .chain(keys.iter().cloned())
        .chain(states.iter().map(|s| q(s)))
        .collect();
    let returning: Vec<String> = std::iter::once("e.rid".to_string())
        .chain((0..ng).map(|i| {
            format!(
                "old.{k} AS {}, new.{k} AS {}",
                q(&format!("og{i}")),
                q(&format!("ng{i}")),
                k = key_col(i)
            )
        }))
        .chain(states.iter().map(|s| {
            format!(
                "old.{c} AS {}, new.{c} AS {}",
                q(&format!("o_{s}")),
                q(&format!("n_{s}")),
                c = q(s)
            )
        }))
        .collect();
    let matched = if ng == 0 {
        // The one row is never deleted.
        format!(
            "WHEN MATCHED AND {} THEN UPDATE SET {set}",
            check(
                cx.server,
                &format!("{n_new} OPERATOR(pg_catalog.>=) 0"),
                "the row count went negative"
            )
        )
    } else {
        format!(
            "WHEN MATCHED AND {n_new} OPERATOR(pg_catalog.<=) 0 AND {} THEN DELETE \
             WHEN MATCHED THEN UPDATE SET {set}",
            check(
                cx.server,
                &format!("{n_new} OPERATOR(pg_catalog.=) 0"),
                "a group's row count went negative"
            )
        )
    };
    let not_matched = if ng == 0 {
        check(
            cx.server,
            "false",
            "the state row of an aggregate without GROUP BY is missing",
        )
    } else {
        let n = q("n");
        format!(
            "e.{n} OPERATOR(pg_catalog.<>) 0 AND {}",
            check(
                cx.server,
                &format!("e.{n} OPERATOR(pg_catalog.>) 0"),
                "a change for a group that is not stored"
            )
        )
    };
    let sql = format!(
        "MERGE INTO {table} AS t USING {e} AS e ON t.rid OPERATOR(pg_catalog.=) e.rid \
         WHEN MATCHED AND {unchanged} THEN DO NOTHING \
         {matched} \
         WHEN NOT MATCHED AND {not_matched} THEN INSERT ({}) VALUES ({}) \
         RETURNING {}",
        all_cols.join(", "),
        all_cols
            .iter()
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        returning.join(", ")
    );
    let m = cx.add_cte("state_merge", sql);
    cx.stored_merges.insert(slot, m.clone());
    Ok(m)
}

/// Whether the state `prefix` (`o_` or `n_`) of a returned group is a present group.
fn present(agg: &Aggregate, m: &str, prefix: &str) -> String {
    let n = format!("{m}.{}", q(&format!("{prefix}n")));
    if agg.group_by.is_empty() {
        format!("{n} IS NOT NULL")
    } else {
        format!("{n} OPERATOR(pg_catalog.>) 0")
    }
}

/// `Δγ(A)`: the returned groups' new rows minus their old rows, consolidated.
pub(crate) fn delta(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    let m = merge(agg, slot, table, cx)?;
    let side = |prefix: &str, keys: &str, w: i64| {
        let st = |c: &str| format!("m.{}", q(&format!("{prefix}{c}")));
        let key = |i: usize| format!("m.{}", q(&format!("{keys}{i}")));
        format!(
            "SELECT {}, {w}::bigint AS __pgt_w FROM {m} AS m WHERE {}",
            row(agg, &key, &st),
            present(agg, "m", prefix)
        )
    };
    let sql = format!("{} UNION ALL {}", side("n_", "ng", 1), side("o_", "og", -1));
    let sql = super::consolidate::consolidated(&sql, &super::Operator::columns(agg));
    Ok(cx.add_cte("stored_group_delta", sql))
}

/// The new rows of the groups whose row ids `restrict` selects (None: all): the stored
/// rows the `MERGE` did not touch and the new rows it returned.
fn current_from_state(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
    restrict: Option<&str>,
) -> Result<String, DvmError> {
    let m = merge(agg, slot, table, cx)?;
    let (t_filter, m_filter) = match restrict {
        Some(rids) => (
            format!(
                " AND t.rid OPERATOR(pg_catalog.=) ANY ({})",
                super::key_array(rids)
            ),
            // A semi-join (hashed), not `= ANY (ARRAY(…))`: over the returned rows that
            // would compare every row with every key.
            format!(" AND m.rid OPERATOR(pg_catalog.=) ANY ({rids})"),
        ),
        None => (String::new(), String::new()),
    };
    let stored = {
        let st = |c: &str| format!("t.{}", q(c));
        let key = |i: usize| format!("t.{}", key_col(i));
        row(agg, &key, &st)
    };
    let returned = {
        let st = |c: &str| format!("m.{}", q(&format!("n_{c}")));
        let key = |i: usize| format!("m.{}", q(&format!("ng{i}")));
        row(agg, &key, &st)
    };
    Ok(format!(
        "SELECT {stored} FROM {table} AS t \
          WHERE NOT EXISTS (SELECT 1 FROM {m} AS m WHERE m.rid OPERATOR(pg_catalog.=) t.rid){t_filter} \
         UNION ALL \
         SELECT {returned} FROM {m} AS m WHERE {}{m_filter}",
        present(agg, "m", "n_")
    ))
}

/// `γ(A′)` in a delta statement (a CTE, once per statement), or in a FULL statement the
/// grouping of the recomputed states (which also refill the state table).
pub(crate) fn current(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    if let Some(c) = cx.stored_currents.get(&slot) {
        return Ok(format!("SELECT * FROM {c}"));
    }
    let sql = if cx.full {
        let states = refill(agg, slot, table, cx)?;
        let st = |c: &str| format!("f.{}", q(c));
        let key = |i: usize| format!("f.{}", key_col(i));
        format!("SELECT {} FROM {states} AS f", row(agg, &key, &st))
    } else {
        current_from_state(agg, slot, table, cx, None)?
    };
    let c = cx.add_cte("stored_group_current", sql);
    cx.stored_currents.insert(slot, c.clone());
    Ok(format!("SELECT * FROM {c}"))
}

/// `σ_{col ∈ K}(γ(A′))` for a grouping by one key restricted on it, in a delta statement:
/// the state table probed by the keys' row ids. None otherwise.
pub(crate) fn current_restricted(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
    col: usize,
    keys: &str,
) -> Result<Option<String>, DvmError> {
    if cx.full || agg.group_by.len() != 1 || col != 0 {
        return Ok(None);
    }
    let rids = format!(
        "SELECT {} FROM ({keys}) AS x(k) WHERE x.k IS NOT NULL",
        crate::storage::identity_hash(cx.server, &[agg.group_columns[0].identity_sql("x.k")])
    );
    current_from_state(agg, slot, table, cx, Some(&rids)).map(Some)
}

/// In a FULL statement: the states recomputed from `A′` (a materialized CTE, returned) and
/// the `MERGE` making the state table equal to them (once per statement).
pub(crate) fn refill(
    agg: &Aggregate,
    slot: usize,
    table: &QualifiedName,
    cx: &mut DeltaContext<'_>,
) -> Result<String, DvmError> {
    if let Some(f) = cx.stored_merges.get(&slot) {
        return Ok(f.clone());
    }
    let cur = agg.input.rule().current(cx)?;
    let f = cx.add_materialized_cte("state_full", states_of(cx.server, agg, &cur));
    let states: Vec<String> = state_columns(agg).iter().map(|s| q(s)).collect();
    let ng = agg.group_by.len();
    let all_cols: Vec<String> = std::iter::once("rid".to_string())
        .chain((0..ng).map(key_col))
        .chain(states.iter().cloned())
        .collect();
    let t_states = states
        .iter()
        .map(|s| format!("t.{s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let f_states = states
        .iter()
        .map(|s| format!("f.{s}"))
        .collect::<Vec<_>>()
        .join(", ");
    cx.add_cte(
        "state_refill",
        format!(
            "MERGE INTO {table} AS t USING {f} AS f ON t.rid OPERATOR(pg_catalog.=) f.rid \
             WHEN MATCHED AND pg_catalog.record_send(ROW({t_states})) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW({f_states})) \
               THEN UPDATE SET {} \
             WHEN NOT MATCHED BY TARGET THEN INSERT ({}) VALUES ({}) \
             WHEN NOT MATCHED BY SOURCE THEN DELETE",
            states
                .iter()
                .map(|s| format!("{s} = f.{s}"))
                .collect::<Vec<_>>()
                .join(", "),
            all_cols.join(", "),
            all_cols
                .iter()
                .map(|c| format!("f.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    cx.stored_merges.insert(slot, f.clone());
    Ok(f)
}
