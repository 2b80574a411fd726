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
//! hₓ′(g)    = hₓ(g) + Σ_{ΔA_g, x≠NULL} w·10^-(12·(scale(x)+1))    unconstrained numeric
//! ```
//!
//! `hₓ` is a scale histogram: its `s`-th block of 12 fractional digits counts the inputs of
//! scale `s`, so the largest scale present is `(min_scale(hₓ) + 11) / 12 − 1` and the
//! visible SUM is `round(sum′ₓ, that)`, exactly PostgreSQL's display scale (scales above
//! 1000 share one bucket; then the running sum is shown as it is).
//!
//! A group whose `count′` reaches 0 disappears (except for an aggregate without GROUP
//! BY, which always has exactly one row). **Rescan**: groups where the delta deletes the
//! current MIN/MAX, groups of an aggregate the algebra does not cover (string_agg,
//! DISTINCT/FILTER variants, float sums, …), every affected group when there is a HAVING
//! clause (groups failing it are not stored), and groups where a NaN, ±Infinity or an
//! input of scale above 1000 is deleted (`NaN − NaN` is NaN: such a value cannot be
//! subtracted out of a running sum, while adding one gives exactly what a recomputation
//! gives) are recomputed from the current input restricted to those groups, so the cost
//! follows the affected groups.
//!
//! **Preconditions:** group keys have exact equality or a canonical form (see
//! `Column::keyable`; a group's row id hashes the canonical form);
//! SUM/AVG kinds are only used for integer and numeric arguments (exact arithmetic).
//!
//! **SQL, in place** (grouped, all COUNT/SUM/AVG, no HAVING: `merge_source_sql`): the
//! delta grouped per key is the `MERGE` source, and the `MERGE` adds it to the stored row
//! (`t.s + s.Δs`), inserts it for a new group, deletes a group whose count reaches 0;
//! groups to rescan come in the same source with their whole recomputed state.
//! **SQL, otherwise** (`new_states_sql`): the grouped delta is left-joined to the storage
//! on the group's row id (the rescan decision reads the stored MIN/MAX), split into
//! algebraic and rescan groups, their new states unioned, projected and merged.

use pgt_sql::quote_ident;
use pgt_sql::server_functions::ServerFunctions;

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
fn ash(j: usize) -> String {
    format!("__pgt_a{j}_sch")
}

/// Digits per scale in a scale histogram: a group may hold up to 10¹² − 1 inputs at one
/// scale.
const SCALE_DIGITS: usize = 12;
/// Scales above this share the histogram's last bucket (numeric keeps at most 16383
/// fractional digits, so the histogram can't have a bucket per scale up to 16383).
const SCALE_CAP: usize = 1000;

/// An input's contribution to its group's scale histogram: `10^-(12·(scale + 1))`, so the
/// histogram (the sum of contributions) holds, in its `s`-th block of 12 fractional
/// digits, how many inputs have scale `s`. NULL for NULL, NaN and ±Infinity (no scale).
/// Scales above `SCALE_CAP` count in bucket `SCALE_CAP + 1` (`int4smaller` is strict, so
/// a missing scale stays NULL, unlike with `LEAST`).
fn scale_weight(x: &str) -> String {
    let table = (1..=16)
        .map(|s| format!("1e-{}", SCALE_DIGITS * s))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "coalesce(('{{{table}}}'::numeric[])[pg_catalog.scale(({x})::numeric) OPERATOR(pg_catalog.+) 1], \
         ('1e-' OPERATOR(pg_catalog.||) ({SCALE_DIGITS} OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale(({x})::numeric), {cap}) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric)",
        cap = SCALE_CAP + 1
    )
}

/// The largest scale recorded in a histogram: the block of its last non-zero digit.
fn top_scale(h: &str) -> String {
    format!(
        "GREATEST(((pg_catalog.min_scale({h}) OPERATOR(pg_catalog.+) {}) OPERATOR(pg_catalog./) {SCALE_DIGITS}) OPERATOR(pg_catalog.-) 1, 0)",
        SCALE_DIGITS - 1
    )
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
                    && (agg.kind == AggKind::Count || k.tracks_scale == agg.tracks_scale)
            })
            .unwrap_or(j)
    }

    fn owns_state(&self, j: usize) -> bool {
        self.owner(j) == j
    }

    /// SUM/AVG over unconstrained numeric: PostgreSQL shows the largest scale among the
    /// group's inputs, so the state keeps that scale and how many inputs have it.
    fn scaled(&self, j: usize) -> bool {
        matches!(self.aggs[j].kind, AggKind::Sum | AggKind::Avg) && self.aggs[j].tracks_scale
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
                            name: ash(j),
                            type_sql: "numeric".into(),
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
        // The running sum, shown at the group's largest input scale when that varies (the
        // sum has no non-zero digit beyond it, so rounding is exact). Above the cap, the sum
        // as it is: a group loses such an input only by a rescan.
        let sum = if self.scaled(k) {
            let top = top_scale(&st(&ash(k)));
            format!(
                "(CASE WHEN {top} OPERATOR(pg_catalog.>) {SCALE_CAP} THEN {0} ELSE pg_catalog.round({0}, {top}) END)",
                st(&a(k)),
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
                        out.push(format!(
                            "coalesce(pg_catalog.sum({}), 0)::numeric",
                            scale_weight(&x)
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
    pub fn group_row_id(&self, server: &dyn ServerFunctions, alias: &str) -> String {
        let keys: Vec<String> = (0..self.group_by.len())
            .map(|i| format!("{alias}.\"g{i}\""))
            .collect();
        self.group_row_id_of(server, &keys)
    }

    /// Row id of a group from SQL expressions for its keys.
    fn group_row_id_of(&self, server: &dyn ServerFunctions, keys: &[String]) -> String {
        if self.is_scalar() {
            return server.hash_text("''::pg_catalog.text", "0");
        }
        let keys: Vec<String> = self
            .group_columns
            .iter()
            .zip(keys)
            .map(|(c, k)| c.identity_sql(k))
            .collect();
        crate::storage::identity_hash(server, &keys)
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
        let inner = format!("SELECT {gsel}{states} FROM ({cur}) AS s{gby}");
        Ok(format!(
            "SELECT {} AS rid, x.* FROM ({inner}) AS x",
            self.group_row_id(cx.server, "x")
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

    /// Every aggregate is algebraic: its state follows from the old state and the delta.
    fn algebraic(&self) -> bool {
        self.aggs.iter().all(|a| {
            matches!(
                a.kind,
                AggKind::CountStar | AggKind::Count | AggKind::Sum | AggKind::Avg
            )
        })
    }

    /// Whether the new states can be computed inside the `MERGE` from the stored row and
    /// the delta (`merge_source_sql`): grouped, all algebraic, no HAVING.
    pub fn merges_in_place(&self, having: bool) -> bool {
        !self.is_scalar() && !having && self.algebraic()
    }

    /// 1. The delta grouped per key (a CTE): `g0…, dcount, has_del` and per owned state
    ///    its change (`dJ`, `dJ_n`, `dJ_sch`), whether a NaN, ±Infinity or over-cap scale
    ///    was deleted (`dJ_sdel`), and for MIN/MAX the inserted and deleted extremes.
    fn delta_groups(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        // Only when every aggregate is algebraic: MIN/MAX and recomputed aggregates would
        // take a cancelling pair for a change and recompute its group for nothing.
        let delta = if self.input_error_free && self.algebraic() {
            super::delta_for_netting(&self.input, cx)?
        } else {
            self.input.rule().delta(cx)?
        };
        // `w·x` without a cast and a multiplication per row for the usual weights ±1.
        let weighted = |x: &str| {
            format!(
                "CASE d.__pgt_w WHEN 1 THEN {x} WHEN -1 THEN OPERATOR(pg_catalog.-) {x} \
                 ELSE (d.__pgt_w)::numeric OPERATOR(pg_catalog.*) {x} END"
            )
        };
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
                        "coalesce(pg_catalog.sum({}), 0)::numeric AS d{j}",
                        weighted(&format!("({x})::numeric"))
                    ));
                    dcols.push(format!("pg_catalog.sum(CASE WHEN ({x}) IS NOT NULL THEN d.__pgt_w ELSE 0 END)::bigint AS d{j}_n"));
                    // A deleted NaN or ±Infinity cannot be subtracted out of a running sum
                    // (NaN − NaN is NaN), nor an input above the histogram's scale cap out
                    // of the shown scale: such groups are recomputed.
                    let over_cap = if self.scaled(j) {
                        format!(" OR pg_catalog.scale(({x})::numeric) OPERATOR(pg_catalog.>) {SCALE_CAP}")
                    } else {
                        String::new()
                    };
                    dcols.push(format!(
                        "coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0 AND (({x})::numeric \
                         OPERATOR(pg_catalog.=) ANY (ARRAY['NaN', 'Infinity', '-Infinity']::numeric[]){over_cap})), false) AS d{j}_sdel"
                    ));
                    if self.scaled(j) {
                        dcols.push(format!(
                            "coalesce(pg_catalog.sum({}), 0)::numeric AS d{j}_sch",
                            weighted(&scale_weight(&x))
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
        Ok(cx.add_cte(
            "agg_delta",
            format!(
                "SELECT {gsel}{} FROM {delta} AS d{gby}{having_nonempty}",
                dcols.join(", ")
            ),
        ))
    }

    /// Rescan conditions that the delta alone decides, over a delta group aliased `x`.
    fn delta_rescan_conditions(&self) -> Vec<String> {
        (0..self.aggs.len())
            .filter(|&j| {
                matches!(self.aggs[j].kind, AggKind::Sum | AggKind::Avg) && self.owns_state(j)
            })
            .map(|j| format!("x.d{j}_sdel"))
            .collect()
    }

    /// The change of each state column of a delta group aliased `x` (in state order).
    fn delta_states(&self) -> Vec<String> {
        let mut out = vec!["x.dcount".to_string()];
        for (j, agg) in self.aggs.iter().enumerate() {
            match agg.kind {
                AggKind::CountStar => {}
                _ if !self.owns_state(j) => {}
                AggKind::Count => out.push(format!("x.d{j}")),
                AggKind::Sum | AggKind::Avg => {
                    out.push(format!("x.d{j}"));
                    out.push(format!("x.d{j}_n"));
                    if self.scaled(j) {
                        out.push(format!("x.d{j}_sch"));
                    }
                }
                AggKind::Min | AggKind::Max | AggKind::Other => {
                    unreachable!("delta_states is only used for algebraic aggregates")
                }
            }
        }
        out
    }

    /// In-place maintenance (`merges_in_place`): the `MERGE` source, with columns `rid,
    /// __pgt_abs, g0…, <state columns>`. A row with `__pgt_abs` false holds the change of
    /// each state (the `MERGE` adds it to the stored row, or inserts it when there is
    /// none); a row with `__pgt_abs` true holds a recomputed group's whole state (count 0:
    /// the group is gone). No join to the storage before the `MERGE`.
    pub fn merge_source_sql(
        &self,
        cx: &mut DeltaContext<'_>,
        target: &str,
    ) -> Result<String, DvmError> {
        let dg = self.delta_groups(cx)?;
        let ng = self.group_by.len();
        let gcols = (0..ng).map(|i| format!("x.\"g{i}\", ")).collect::<String>();
        let keyed = format!(
            "(SELECT {} AS rid, dg.* FROM {dg} AS dg)",
            self.group_row_id(cx.server, "dg")
        );
        let rescan = self.delta_rescan_conditions();
        let changes = |cond: &str| {
            format!(
                "SELECT x.rid, false AS __pgt_abs, {gcols}{} FROM {keyed} AS x{cond}",
                self.state_aliased(self.delta_states())
            )
        };
        if rescan.is_empty() {
            return Ok(changes(""));
        }
        let cond = rescan.join(" OR ");
        let rk = cx.add_cte(
            "agg_rescan_keys",
            format!("SELECT x.* FROM {keyed} AS x WHERE {cond}"),
        );
        let resc = self.rescanned_groups(cx, &rk, target)?;
        Ok(format!(
            "{} UNION ALL SELECT r.rid, true, {}{} FROM ({resc}) AS r",
            changes(&format!(" WHERE NOT ({cond})")),
            (0..ng).map(|i| format!("r.\"g{i}\", ")).collect::<String>(),
            prefixed("r", &self.state_columns())
        ))
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
        let ng = self.group_by.len();
        let dg = self.delta_groups(cx)?;

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
                self.group_row_id(cx.server, "dg"),
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
                _ => {}
            }
        }
        rescan.extend(self.delta_rescan_conditions());
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
                        alg.push(format!(
                            "(coalesce(x.\"o_{}\", 0) OPERATOR(pg_catalog.+) x.d{j}_sch)::numeric",
                            ash(j)
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

        // 4b. New state of rescanned groups.
        let rk = cx.add_cte(
            "agg_rescan_keys",
            format!("SELECT x.* FROM {dj} AS x WHERE {rescan_cond}"),
        );
        let resc_sql = self.rescanned_groups(cx, &rk, target)?;
        Ok(format!("{alg_sql} UNION ALL {resc_sql}"))
    }

    /// The groups listed in the CTE `rk` (columns `rid, g0…`), recomputed from the current
    /// input restricted to them: columns `rid, g0…, <state columns>`, each group once, count
    /// 0 when no row is left.
    fn rescanned_groups(
        &self,
        cx: &mut DeltaContext<'_>,
        rk: &str,
        target: &str,
    ) -> Result<String, DvmError> {
        let ng = self.group_by.len();
        let state_cols = self.state_columns();
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
            format!(
                "SELECT {} AS rid, y.* FROM (SELECT {ssel}{} FROM ({cur}) AS s{filter}{sgby}) AS y",
                self.group_row_id(cx.server, "y"),
                self.state_aliased(self.recompute_states())
            )
        };
        if self.is_scalar() {
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
            return Ok(format!("SELECT k.rid, {zero_states} FROM {rk} AS k LEFT JOIN ({rescanned}) AS r ON r.rid OPERATOR(pg_catalog.=) k.rid"));
        }
        // The exact match on all keys is a hash semi-join on the group's row id (NULL-safe:
        // a NULL key hashes like any value), never a per-row search of the affected keys.
        // Few affected groups: first an index-friendly prefilter on the first key
        // (`= ANY(ARRAY(...))`, NULL keys separately). Many (more than a tenth of the stored
        // groups, or 1000): all groups in one pass over the input, which is cheaper than
        // probing for most of it. Which one runs is decided when the statement runs, by a
        // one-time condition.
        let g0 = self.group_by[0].render_on("s");
        let rid = self.group_row_id_of(
            cx.server,
            &self
                .group_by
                .iter()
                .map(|g| g.render_on("s"))
                .collect::<Vec<_>>(),
        );
        let exact = format!(" AND {rid} OPERATOR(pg_catalog.=) ANY (SELECT k.rid FROM {rk} AS k)");
        let keys = format!("SELECT k.\"g0\" FROM {rk} AS k WHERE k.\"g0\" IS NOT NULL");
        // (The keys of `rk` are distinct already. An array-typed key is compared with the
        // subquery itself: `ARRAY(…)` of arrays would be a multidimensional array of their
        // elements.)
        let any = if self.group_columns[0].type_sql.ends_with(']') {
            format!("{g0} OPERATOR(pg_catalog.=) ANY (SELECT __pgt_k.* FROM ({keys}) AS __pgt_k)")
        } else {
            format!("{g0} OPERATOR(pg_catalog.=) ANY (ARRAY({keys}))")
        };
        let prefilter = format!(
            " AND ({any} OR ({g0} IS NULL AND EXISTS (SELECT 1 FROM {rk} AS k WHERE k.\"g0\" IS NULL)))"
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
        // Many: every group in one pass (a hash aggregate, one row id per group, not per
        // row); the merge below keeps only the affected ones.
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
        Ok(format!(
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
        ))
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

    /// Below the top of the query (no storage of its own): with stored states when every
    /// aggregate is algebraic (`stored_group.rs`), otherwise the affected groups
    /// recomputed before and after the change (`regroup.rs`).
    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some((slot, table)) = cx.slots.find(self) {
            return super::stored_group::delta(self, slot, &table, cx);
        }
        super::regroup::Regroup {
            input: &self.input,
            group_by: &self.group_by,
            group_columns: &self.group_columns,
            outputs: self.aggs.iter().map(|a| a.call.clone()).collect(),
            columns: self.columns(),
            clause: "GROUP BY",
            window: false,
            post_filter: None,
        }
        .delta(cx)
    }

    /// `σ_{g ∈ K}(γ_g(A)) = γ_g(σ_{g ∈ K}(A))` for a group key that is a plain input column
    /// with exact equality: the restriction reaches the input (and its indexes) instead of
    /// filtering the whole grouping. With stored states and one key, the state table is
    /// probed instead.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        if let Some((slot, table)) = cx.slots.find(self) {
            if let Some(sql) =
                super::stored_group::current_restricted(self, slot, &table, cx, col, keys)?
            {
                return Ok(sql);
            }
        }
        let input_col = self
            .group_by
            .get(col)
            .and_then(|g| g.as_column())
            .filter(|&c| self.input.columns()[c].exact_equality);
        let Some(c) = input_col else {
            return Ok(super::restricted_on_top(&self.current(cx)?, col, keys));
        };
        let cur = self.input.rule().current_restricted(cx, c, keys)?;
        Ok(self.grouped_over(cx.server, &cur))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some((slot, table)) = cx.slots.find(self) {
            if !cx.correlated && !cx.old_state {
                return super::stored_group::current(self, slot, &table, cx);
            }
        }
        let cur = self.input.rule().current(cx)?;
        if self.is_scalar() {
            return self.scalar_current(cx, &cur);
        }
        Ok(self.grouped_over(cx.server, &cur))
    }
}

impl Aggregate {
    /// The grouping of the rows `cur` (the input's columns): keys, then aggregate values.
    fn grouped_over(&self, server: &dyn ServerFunctions, cur: &str) -> String {
        // Keys without exact equality show a deterministic one of their equal values, the
        // one regrouping shows (`regroup::with_representatives`).
        if let Some((rows, keys)) =
            super::regroup::with_representatives(server, cur, &self.group_by, &self.group_columns)
        {
            let mut a = self.clone();
            a.group_by = keys;
            for c in &mut a.group_columns {
                c.exact_equality = true; // the representatives are compared as they are
            }
            return a.grouped_over(server, &rows);
        }
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
        format!("SELECT {} FROM ({cur}) AS s{gby}", sel.join(", "))
    }

    /// The current state of an aggregate without GROUP BY over the rows `cur`.
    fn scalar_current(&self, cx: &mut DeltaContext<'_>, cur: &str) -> Result<String, DvmError> {
        let sql = self.grouped_over(cx.server, cur);
        // Exactly one row, often joined to many (`x > (SELECT avg(…) …)`): computed once
        // per statement. As a subquery, a nested loop that expected one outer row re-ran
        // the aggregate for each of them (TPC-H Q22: 369 runs over the customers, 1.3 s).
        if let Some(cte) = cx.scalar_currents.get(&sql) {
            return Ok(format!("SELECT * FROM {cte}"));
        }
        let cte = cx.add_materialized_cte("scalar_current", sql.clone());
        cx.scalar_currents.insert(sql, cte.clone());
        Ok(format!("SELECT * FROM {cte}"))
    }
}
