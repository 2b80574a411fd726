//! **Aggregate** with or without GROUP BY: `γ_{g; f₁…fₖ}(A)`, maintained at the top of
//! the query with hidden state columns in the storage table.
//!
//! For a group `g` with stored state `S(g)` and input delta `ΔA`:
//!
//! ```text
//! count′(g) = count(g) + Σ_{ΔA_g} w                       COUNT(*)
//! cnt′ₓ(g)  = cntₓ(g)  + Σ_{ΔA_g, x≠NULL} w                COUNT(x)
//! sum′ₓ(g)  = sumₓ(g)  + Σ_{ΔA_g} w·x  (NULL when cnt′ₓ=0) SUM(x), AVG(x) = sum′ₓ / cnt′ₓ
//! min′ₓ(g)  = least(minₓ(g), min_{w>0} x)                 unless a deleted x ≤ minₓ(g)
//! ```
//!
//! A group whose `count′` reaches 0 disappears (except for an aggregate without GROUP
//! BY, which always has exactly one row). **Rescan**: groups where the delta deletes the
//! current MIN/MAX, groups of an aggregate the algebra does not cover (string_agg,
//! DISTINCT/FILTER variants, float sums, …), every affected group when there is a HAVING
//! clause (groups failing it are not stored), and groups with deletions under SUM/AVG of
//! unconstrained numeric (the display scale of a sum can shrink), and groups where a NaN or
//! ±Infinity is deleted (`NaN − NaN` is NaN: such a value cannot be subtracted out of a
//! running sum, while adding one gives exactly what a recomputation gives) are recomputed
//! from the current input restricted to those groups, so the cost follows the affected
//! groups.
//!
//! **Preconditions:** group keys have exact equality or a canonical form (see
//! `Column::keyable`; a group's row id hashes the canonical form);
//! SUM/AVG kinds are only used for integer and numeric arguments (exact arithmetic).
//!
//! **SQL:** `__pgt_dg` = delta grouped per key; left join to the storage on the group's
//! row id; split into algebraic and rescan groups; union their new states; project the
//! visible columns; `MERGE` (see `storage.rs`).

use pgt_sql::quote_ident;

use super::{DeltaContext, Operator};
use crate::expr::Expr;
use crate::optree::{col_name, AggCall, AggKind, Column, OpTree};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Aggregate {
    pub input: Box<OpTree>,
    /// Group key expressions over the input's columns (empty: one group).
    pub group_by: Vec<Expr>,
    pub group_columns: Vec<Column>,
    pub aggs: Vec<AggCall>,
    /// No group key, argument or FILTER can raise an error for any input row (the frontend
    /// proved it, as for `Filter::error_free`). Then a scan directly below (or an error-free
    /// filter over one) is read as buffered, unconsolidated: the aggregate adds the weights
    /// of a group's versions anyway, and versions that cancel add up to nothing (used when
    /// every aggregate is algebraic).
    pub input_error_free: bool,
}

/// One hidden state column of the storage table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateColumn {
    pub name: String,
    pub type_sql: String,
}

pub const COUNT_COLUMN: &str = "__pgt_count";

fn a(j: usize) -> String {
    format!("__pgt_a{j}")
}
fn an(j: usize) -> String {
    format!("__pgt_a{j}_n")
}
fn asc(j: usize) -> String {
    format!("__pgt_a{j}_sc")
}
fn ascn(j: usize) -> String {
    format!("__pgt_a{j}_scn")
}
/// The window column holding a delta group's (or a recomputed group's) largest input scale.
fn wsc(j: usize) -> String {
    format!("\"__pgt_w{j}_sc\"")
}

impl Aggregate {
    pub fn is_scalar(&self) -> bool {
        self.group_by.is_empty()
    }

    /// The aggregate whose state aggregate `j` reads: `sum(x)`, `avg(x)` and `count(x)`
    /// over the same `x` share one running sum and non-NULL count (kept by the first SUM
    /// or AVG of `x`).
    fn owner(&self, j: usize) -> usize {
        let agg = &self.aggs[j];
        if !matches!(agg.kind, AggKind::Sum | AggKind::Avg | AggKind::Count) {
            return j;
        }
        self.aggs
            .iter()
            .position(|k| {
                matches!(k.kind, AggKind::Sum | AggKind::Avg)
                    && k.arg == agg.arg
                    && (agg.kind == AggKind::Count || k.rescan_on_delete == agg.rescan_on_delete)
            })
            .unwrap_or(j)
    }

    fn owns_state(&self, j: usize) -> bool {
        self.owner(j) == j
    }

    /// SUM/AVG over unconstrained numeric: PostgreSQL shows the largest scale among the
    /// group's inputs, so the state keeps that scale and how many inputs have it.
    fn scaled(&self, j: usize) -> bool {
        matches!(self.aggs[j].kind, AggKind::Sum | AggKind::Avg) && self.aggs[j].rescan_on_delete
    }

    fn any_scaled(&self) -> bool {
        (0..self.aggs.len()).any(|j| self.scaled(j) && self.owns_state(j))
    }

    /// `rows` (a relation aliased `alias` inside) with, per scaled aggregate, the largest
    /// scale of its input within the row's group as column `__pgt_w<j>_sc`.
    fn with_scale_windows(&self, rows: &str, alias: &str) -> String {
        if !self.any_scaled() {
            return rows.to_string();
        }
        let part = if self.is_scalar() {
            String::new()
        } else {
            format!(
                "PARTITION BY {}",
                self.group_by
                    .iter()
                    .map(|g| g.render_on(alias))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let wins = (0..self.aggs.len())
            .filter(|&j| self.scaled(j) && self.owns_state(j))
            .map(|j| {
                format!(
                    "pg_catalog.max(pg_catalog.scale(({})::numeric)) OVER ({part}) AS {}",
                    self.arg(j, alias),
                    wsc(j)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("(SELECT {alias}.*, {wins} FROM {rows} AS {alias})")
    }

    /// The hidden state columns, `__pgt_count` first.
    pub fn state_columns(&self) -> Vec<StateColumn> {
        let mut out = vec![StateColumn {
            name: COUNT_COLUMN.into(),
            type_sql: "bigint".into(),
        }];
        for (j, agg) in self.aggs.iter().enumerate() {
            match agg.kind {
                AggKind::CountStar => {}
                _ if !self.owns_state(j) => {}
                AggKind::Count => out.push(StateColumn {
                    name: a(j),
                    type_sql: "bigint".into(),
                }),
                AggKind::Sum | AggKind::Avg => {
                    out.push(StateColumn {
                        name: a(j),
                        type_sql: "numeric".into(),
                    });
                    out.push(StateColumn {
                        name: an(j),
                        type_sql: "bigint".into(),
                    });
                    if self.scaled(j) {
                        out.push(StateColumn {
                            name: asc(j),
                            type_sql: "integer".into(),
                        });
                        out.push(StateColumn {
                            name: ascn(j),
                            type_sql: "bigint".into(),
                        });
                    }
                }
                AggKind::Min | AggKind::Max | AggKind::Other => out.push(StateColumn {
                    name: a(j),
                    type_sql: agg.result_type.clone(),
                }),
            }
        }
        out
    }

    /// The value of aggregate `j`, from state columns read through `st`.
    pub fn final_value(&self, j: usize, st: &dyn Fn(&str) -> String) -> String {
        let agg = &self.aggs[j];
        let k = self.owner(j);
        // The running sum, shown at the group's largest input scale when that varies.
        let sum = if self.scaled(k) {
            format!(
                "pg_catalog.round({}, coalesce({}, 0))",
                st(&a(k)),
                st(&asc(k))
            )
        } else {
            st(&a(k))
        };
        match agg.kind {
            AggKind::CountStar => st(COUNT_COLUMN),
            AggKind::Count if k != j => st(&an(k)),
            AggKind::Count => st(&a(j)),
            AggKind::Sum => format!(
                "(CASE WHEN {} OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ({sum})::{} END)",
                st(&an(k)),
                agg.result_type
            ),
            AggKind::Avg => format!(
                "(CASE WHEN {n} OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ({sum} OPERATOR(pg_catalog./) ({n})::numeric)::{t} END)",
                n = st(&an(k)),
                t = agg.result_type
            ),
            AggKind::Min | AggKind::Max | AggKind::Other => st(&a(j)),
        }
    }

    fn arg(&self, j: usize, alias: &str) -> String {
        self.aggs[j]
            .arg
            .as_ref()
            .map(|e| e.render_on(alias))
            .unwrap_or_else(|| "NULL".into())
    }

    /// State values recomputed from input rows aliased `s` (inside a GROUP BY query).
    fn recompute_states(&self) -> Vec<String> {
        let mut out = vec!["pg_catalog.count(*)::bigint".to_string()];
        for (j, agg) in self.aggs.iter().enumerate() {
            let x = self.arg(j, "s");
            match agg.kind {
                AggKind::CountStar => {}
                _ if !self.owns_state(j) => {}
                AggKind::Count => out.push(format!("pg_catalog.count({x})::bigint")),
                AggKind::Sum | AggKind::Avg => {
                    out.push(format!(
                        "coalesce(pg_catalog.sum(({x})::numeric), 0)::numeric"
                    ));
                    out.push(format!("pg_catalog.count({x})::bigint"));
                    if self.scaled(j) {
                        // Rows come with their group's largest scale (`with_scale_windows`).
                        out.push(format!("pg_catalog.max(s.{})::integer", wsc(j)));
                        out.push(format!(
                            "pg_catalog.count(*) FILTER (WHERE pg_catalog.scale(({x})::numeric) OPERATOR(pg_catalog.=) s.{})::bigint",
                            wsc(j)
                        ));
                    }
                }
                AggKind::Min => out.push(format!("(pg_catalog.min({x}))::{}", agg.result_type)),
                AggKind::Max => out.push(format!("(pg_catalog.max({x}))::{}", agg.result_type)),
                AggKind::Other => out.push(format!(
                    "({})::{}",
                    agg.call.render_on("s"),
                    agg.result_type
                )),
            }
        }
        out
    }

    /// Row id of a group from its key columns `alias.g0, …`.
    pub fn group_row_id(&self, alias: &str) -> String {
        let keys: Vec<String> = (0..self.group_by.len())
            .map(|i| format!("{alias}.\"g{i}\""))
            .collect();
        self.group_row_id_of(&keys)
    }

    /// Row id of a group from SQL expressions for its keys.
    fn group_row_id_of(&self, keys: &[String]) -> String {
        if self.is_scalar() {
            return "pgtrickle.pg_trickle_hash(''::pg_catalog.text)".into();
        }
        let keys: Vec<String> = self
            .group_columns
            .iter()
            .zip(keys)
            .map(|(c, k)| c.identity_sql(k))
            .collect();
        crate::storage::identity_hash(&keys)
    }

    fn group_select(&self, alias: &str) -> (String, String) {
        let sel = self
            .group_by
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} AS \"g{i}\"", g.render_on(alias)))
            .collect::<Vec<_>>();
        let grp = self
            .group_by
            .iter()
            .map(|g| g.render_on(alias))
            .collect::<Vec<_>>();
        (
            sel.iter().map(|s| format!("{s}, ")).collect::<String>(),
            if grp.is_empty() {
                String::new()
            } else {
                format!(" GROUP BY {}", grp.join(", "))
            },
        )
    }

    /// Full recomputation: a query with columns `rid, g0…, <state columns>`.
    pub fn full_states_sql(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        let (gsel, gby) = self.group_select("s");
        let states = self.state_aliased(self.recompute_states());
        let rows = self.with_scale_windows(&format!("({cur})"), "s");
        let inner = format!("SELECT {gsel}{states} FROM {rows} AS s{gby}");
        Ok(format!(
            "SELECT {} AS rid, x.* FROM ({inner}) AS x",
            self.group_row_id("x")
        ))
    }

    fn state_aliased(&self, exprs: Vec<String>) -> String {
        exprs
            .into_iter()
            .zip(self.state_columns())
            .map(|(e, c)| format!("{e} AS {}", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Incremental maintenance: a query with columns `rid, g0…, <state columns>` holding
    /// the new state of every group the delta touches (count 0 = group gone).
    /// `always_rescan` forces the rescan path (HAVING).
    pub fn new_states_sql(
        &self,
        cx: &mut DeltaContext<'_>,
        target: &str,
        always_rescan: bool,
    ) -> Result<String, DvmError> {
        // Only when every aggregate is algebraic: MIN/MAX and recomputed aggregates would
        // take a cancelling pair for a change and recompute its group for nothing.
        let algebraic = self.aggs.iter().all(|a| {
            matches!(
                a.kind,
                AggKind::CountStar | AggKind::Count | AggKind::Sum | AggKind::Avg
            )
        });
        let delta = if self.input_error_free && algebraic {
            super::delta_for_netting(&self.input, cx)?
        } else {
            self.input.rule().delta(cx)?
        };
        let ng = self.group_by.len();

        // 1. The delta grouped per key.
        let (gsel, gby) = self.group_select("d");
        let mut dcols = vec![
            "pg_catalog.sum(d.__pgt_w)::bigint AS dcount".to_string(),
            "coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0), false) AS has_del"
                .to_string(),
        ];
        for (j, agg) in self.aggs.iter().enumerate() {
            let x = self.arg(j, "d");
            match agg.kind {
                AggKind::CountStar | AggKind::Other => {}
                _ if !self.owns_state(j) => {}
                AggKind::Count => dcols.push(format!(
                    "pg_catalog.sum(CASE WHEN ({x}) IS NOT NULL THEN d.__pgt_w ELSE 0 END)::bigint AS d{j}"
                )),
                AggKind::Sum | AggKind::Avg => {
                    dcols.push(format!(
                        "coalesce(pg_catalog.sum((d.__pgt_w)::numeric OPERATOR(pg_catalog.*) ({x})::numeric), 0) AS d{j}"
                    ));
                    dcols.push(format!("pg_catalog.sum(CASE WHEN ({x}) IS NOT NULL THEN d.__pgt_w ELSE 0 END)::bigint AS d{j}_n"));
                    // A deleted NaN or ±Infinity cannot be subtracted out of a running sum
                    // (NaN − NaN is NaN): such groups are recomputed.
                    dcols.push(format!(
                        "coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0 AND ({x})::numeric \
                         OPERATOR(pg_catalog.=) ANY (ARRAY['NaN', 'Infinity', '-Infinity']::numeric[])), false) AS d{j}_sdel"
                    ));
                    if self.scaled(j) {
                        // The delta's largest scale, and the net number of inputs at it.
                        dcols.push(format!("pg_catalog.max(d.{}) AS d{j}_msc", wsc(j)));
                        dcols.push(format!(
                            "coalesce(pg_catalog.sum(d.__pgt_w) FILTER (WHERE pg_catalog.scale(({x})::numeric) OPERATOR(pg_catalog.=) d.{}), 0)::bigint AS d{j}_mscw",
                            wsc(j)
                        ));
                    }
                }
                AggKind::Min | AggKind::Max => {
                    let f = if agg.kind == AggKind::Min {
                        "pg_catalog.min"
                    } else {
                        "pg_catalog.max"
                    };
                    dcols.push(format!(
                        "({f}({x}) FILTER (WHERE d.__pgt_w OPERATOR(pg_catalog.>) 0))::{} AS d{j}_ins",
                        agg.result_type
                    ));
                    dcols.push(format!(
                        "({f}({x}) FILTER (WHERE d.__pgt_w OPERATOR(pg_catalog.<) 0))::{} AS d{j}_del",
                        agg.result_type
                    ));
                }
            }
        }
        let having_nonempty = if self.is_scalar() {
            " HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0"
        } else {
            ""
        };
        let drows = self.with_scale_windows(&delta, "d");
        let dg = cx.add_cte(
            "agg_delta",
            format!(
                "SELECT {gsel}{} FROM {drows} AS d{gby}{having_nonempty}",
                dcols.join(", ")
            ),
        );

        // 2. Joined with the stored state of each group.
        let state_cols = self.state_columns();
        let olds = state_cols
            .iter()
            .map(|c| format!("t.{} AS \"o_{}\"", quote_ident(&c.name), c.name))
            .collect::<Vec<_>>();
        let dj = cx.add_cte(
            "agg_old",
            format!(
                "SELECT x.*, (t.__pgt_row_id IS NOT NULL) AS o_exists, {} FROM (SELECT {} AS rid, dg.* FROM {dg} AS dg) AS x \
                 LEFT JOIN {target} AS t ON t.__pgt_row_id OPERATOR(pg_catalog.=) x.rid",
                olds.join(", "),
                self.group_row_id("dg"),
            ),
        );

        // 3. Which groups need a rescan.
        let mut rescan = vec!["(NOT x.o_exists AND x.has_del)".to_string()];
        if always_rescan || self.aggs.iter().any(|a| a.kind == AggKind::Other) {
            rescan.push("true".into());
        }
        for (j, agg) in self.aggs.iter().enumerate() {
            match agg.kind {
                AggKind::Min => rescan.push(format!("(x.d{j}_del IS NOT NULL AND (x.\"o_{0}\" IS NULL OR x.d{j}_del OPERATOR(pg_catalog.<=) x.\"o_{0}\"))", a(j))),
                AggKind::Max => rescan.push(format!("(x.d{j}_del IS NOT NULL AND (x.\"o_{0}\" IS NULL OR x.d{j}_del OPERATOR(pg_catalog.>=) x.\"o_{0}\"))", a(j))),
                _ if !self.owns_state(j) => {}
                AggKind::Sum | AggKind::Avg if self.scaled(j) => {
                    // The largest scale may have lost its last input: recompute then.
                    let (sc, scn) = (format!("x.\"o_{}\"", asc(j)), format!("x.\"o_{}\"", ascn(j)));
                    rescan.push(format!(
                        "x.d{j}_sdel OR (x.d{j}_msc IS NOT NULL AND \
                         ((({sc} IS NULL OR x.d{j}_msc OPERATOR(pg_catalog.>) {sc}) AND x.d{j}_mscw OPERATOR(pg_catalog.<=) 0) \
                          OR (x.d{j}_msc IS NOT DISTINCT FROM {sc} AND {scn} OPERATOR(pg_catalog.+) x.d{j}_mscw OPERATOR(pg_catalog.<=) 0)))"
                    ));
                }
                AggKind::Sum | AggKind::Avg => rescan.push(format!("x.d{j}_sdel")),
                _ => {}
            }
        }
        // Unknown (a NULL somewhere) means recompute: every group lands on exactly one side.
        let rescan_cond = format!("coalesce(({}), true)", rescan.join(" OR "));

        // 4a. New state of algebraic groups.
        let mut alg = vec![format!(
            "(coalesce(x.\"o_{COUNT_COLUMN}\", 0) OPERATOR(pg_catalog.+) x.dcount)::bigint"
        )];
        for (j, agg) in self.aggs.iter().enumerate() {
            let o = format!("x.\"o_{}\"", a(j));
            match agg.kind {
                AggKind::CountStar => {}
                _ if !self.owns_state(j) => {}
                AggKind::Count => alg.push(format!(
                    "(coalesce({o}, 0) OPERATOR(pg_catalog.+) x.d{j})::bigint"
                )),
                AggKind::Sum | AggKind::Avg => {
                    alg.push(format!(
                        "(coalesce({o}, 0) OPERATOR(pg_catalog.+) x.d{j})::numeric"
                    ));
                    alg.push(format!(
                        "(coalesce(x.\"o_{}\", 0) OPERATOR(pg_catalog.+) x.d{j}_n)::bigint",
                        an(j)
                    ));
                    if self.scaled(j) {
                        let (sc, scn) = (
                            format!("x.\"o_{}\"", asc(j)),
                            format!("x.\"o_{}\"", ascn(j)),
                        );
                        let rises = format!("x.d{j}_msc IS NOT NULL AND ({sc} IS NULL OR x.d{j}_msc OPERATOR(pg_catalog.>) {sc})");
                        alg.push(format!(
                            "(CASE WHEN {rises} THEN x.d{j}_msc ELSE {sc} END)::integer"
                        ));
                        alg.push(format!(
                            "(CASE WHEN {rises} THEN x.d{j}_mscw \
                                   WHEN x.d{j}_msc OPERATOR(pg_catalog.=) {sc} THEN {scn} OPERATOR(pg_catalog.+) x.d{j}_mscw \
                                   ELSE {scn} END)::bigint"
                        ));
                    }
                }
                AggKind::Min => alg.push(format!("(least({o}, x.d{j}_ins))::{}", agg.result_type)),
                AggKind::Max => {
                    alg.push(format!("(greatest({o}, x.d{j}_ins))::{}", agg.result_type))
                }
                AggKind::Other => alg.push(format!("(NULL)::{}", agg.result_type)),
            }
        }
        let gcols = (0..ng).map(|i| format!("x.\"g{i}\", ")).collect::<String>();
        let alg_sql = format!(
            "SELECT x.rid, {gcols}{} FROM {dj} AS x WHERE NOT ({rescan_cond})",
            self.state_aliased(alg)
        );

        // 4b. New state of rescanned groups: recomputed from the current input, restricted
        //     to those groups; groups with no rows left come back with count 0.
        let rk = cx.add_cte(
            "agg_rescan_keys",
            format!("SELECT x.* FROM {dj} AS x WHERE {rescan_cond}"),
        );
        let cur = self.input.rule().current(cx)?;
        let (ssel, sgby) = self.group_select("s");
        // The recomputed groups, from the current input restricted by `restrict` (a
        // condition appended to `WHERE true`), only when the one-time condition `gate`
        // holds.
        let rescan = |restrict: &str, gate: &str| -> String {
            let filter = if gate.is_empty() && restrict.is_empty() {
                String::new()
            } else {
                format!(
                    " WHERE {}{restrict}",
                    if gate.is_empty() { "true" } else { gate }
                )
            };
            let rows = if self.any_scaled() {
                // The scale window must see only the group's rows: restrict first.
                self.with_scale_windows(&format!("(SELECT s.* FROM ({cur}) AS s{filter})"), "s")
            } else {
                format!("({cur})")
            };
            format!(
                "SELECT {} AS rid, y.* FROM (SELECT {ssel}{} FROM {rows} AS s{filter}{sgby}) AS y",
                self.group_row_id("y"),
                self.state_aliased(self.recompute_states())
            )
        };
        let resc_sql = if self.is_scalar() {
            let rescanned = format!("{} WHERE EXISTS (SELECT 1 FROM {rk})", rescan("", ""));
            let zero_states = state_cols
                .iter()
                .map(|c| {
                    if c.name == COUNT_COLUMN {
                        format!("coalesce(r.{0}, 0)::bigint AS {0}", quote_ident(&c.name))
                    } else {
                        format!("r.{0} AS {0}", quote_ident(&c.name))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("SELECT k.rid, {zero_states} FROM {rk} AS k LEFT JOIN ({rescanned}) AS r ON r.rid OPERATOR(pg_catalog.=) k.rid")
        } else {
            // The exact match on all keys is a hash semi-join on the group's row id
            // (NULL-safe: a NULL key hashes like any value), never a per-row search of the
            // affected keys. Few affected groups: first an index-friendly prefilter on the
            // first key (`= ANY(ARRAY(...))`, NULL keys separately). Many (more than a
            // tenth of the stored groups, or 1000): all groups in one pass over the input,
            // which is cheaper than probing for most of it. Which one runs is decided when the
            // statement runs, by a one-time condition.
            let g0 = self.group_by[0].render_on("s");
            let rid = self.group_row_id_of(
                &self
                    .group_by
                    .iter()
                    .map(|g| g.render_on("s"))
                    .collect::<Vec<_>>(),
            );
            let exact =
                format!(" AND {rid} OPERATOR(pg_catalog.=) ANY (SELECT k.rid FROM {rk} AS k)");
            let prefilter = format!(
                " AND ({g0} OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k.\"g0\" FROM {rk} AS k WHERE k.\"g0\" IS NOT NULL)) \
                   OR ({g0} IS NULL AND EXISTS (SELECT 1 FROM {rk} AS k WHERE k.\"g0\" IS NULL)))"
            );
            let many = format!(
                "(SELECT (SELECT pg_catalog.count(*) FROM {rk})::pg_catalog.float8 OPERATOR(pg_catalog.>) GREATEST(0.1::pg_catalog.float8 OPERATOR(pg_catalog.*) \
                   (SELECT c.reltuples FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) {}::pg_catalog.regclass)::pg_catalog.float8, 1000::pg_catalog.float8))",
                pgt_sql::quote_literal(target)
            );
            // Gated off entirely when no group needs a rescan (the prefilter alone may be
            // checked only deep inside the plan, after the rest of the input was joined).
            let few = rescan(
                &format!("{prefilter}{exact}"),
                &format!("NOT {many} AND EXISTS (SELECT 1 FROM {rk})"),
            );
            // Many: every group in one pass (a hash aggregate, one row id per group, not
            // per row); the merge below keeps only the affected ones.
            let all = rescan("", &many);
            // Each affected group once: its recomputed state, or count 0 when no row is left
            // (sorted, not joined, so no misestimate makes it quadratic).
            let zeros = state_cols
                .iter()
                .map(|c| {
                    if c.name == COUNT_COLUMN {
                        format!("0::bigint AS {}", quote_ident(&c.name))
                    } else {
                        format!("NULL::{} AS {}", c.type_sql, quote_ident(&c.name))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT z.rid, {zkeys}{znames} FROM (SELECT u.*, pg_catalog.bool_or(u.__pgt_k) OVER __pgt_g AS __pgt_in, \
                   pg_catalog.row_number() OVER (PARTITION BY u.rid ORDER BY u.__pgt_k) AS __pgt_n \
                   FROM (SELECT r.rid, {rkeys}{rnames}, false AS __pgt_k FROM ({few} UNION ALL {all}) AS r \
                         UNION ALL SELECT k.rid, {kkeys}{zeros}, true FROM {rk} AS k) AS u WINDOW __pgt_g AS (PARTITION BY u.rid)) AS z \
                 WHERE z.__pgt_in AND z.__pgt_n OPERATOR(pg_catalog.=) 1",
                zkeys = (0..ng).map(|i| format!("z.\"g{i}\", ")).collect::<String>(),
                znames = prefixed("z", &state_cols),
                rkeys = (0..ng).map(|i| format!("r.\"g{i}\", ")).collect::<String>(),
                rnames = prefixed("r", &state_cols),
                kkeys = (0..ng).map(|i| format!("k.\"g{i}\", ")).collect::<String>(),
            )
        };
        Ok(format!("{alg_sql} UNION ALL {resc_sql}"))
    }
}

/// `alias."name", …` of the state columns.
fn prefixed(alias: &str, cols: &[StateColumn]) -> String {
    cols.iter()
        .map(|c| format!("{alias}.{}", quote_ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Operator for Aggregate {
    fn name(&self) -> &'static str {
        "Aggregate"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        let mut c = self.group_columns.clone();
        c.extend(self.aggs.iter().enumerate().map(|(j, a)| Column {
            name: format!("agg{j}"),
            type_sql: a.result_type.clone(),
            exact_equality: false,
            binary_identity: true,
            canonical: None,
        }));
        c
    }

    fn delta(&self, _cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        Err(DvmError::unsupported(
            "an aggregate below the top of the query",
            "Only the outermost query level may aggregate in this version.",
        ))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let cur = self.input.rule().current(cx)?;
        let (_, gby) = self.group_select("s");
        let mut sel: Vec<String> = self
            .group_by
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} AS {}", g.render_on("s"), col_name(i)))
            .collect();
        let ng = self.group_by.len();
        sel.extend(
            self.aggs
                .iter()
                .enumerate()
                .map(|(j, a)| format!("{} AS {}", a.call.render_on("s"), col_name(ng + j))),
        );
        Ok(format!("SELECT {} FROM ({cur}) AS s{gby}", sel.join(", ")))
    }
}
