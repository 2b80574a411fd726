//! Window functions: a query level's window functions become a chain of
//! `pgt_dvm::operators::window::Window` operators, one per window clause, over the level's
//! FROM/WHERE (or its grouping and HAVING), below the SELECT list. Each function is
//! printed with its clause's `PARTITION BY`, `ORDER BY` (the sort operators and NULLS
//! placement the analyzed query chose) and frame.
//!
//! The operator recomputes whole partitions, so its values must be the same at every
//! evaluation (see the operator's module doc). This module decides, per function, whether
//! the row's image is appended as a last sort key, and refuses the few functions whose
//! value would change with it and that could take different values among tied rows.

use std::ffi::c_void;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use pgt_dvm::operators::window::{Window, WindowCall};
use pgt_dvm::{Expr, OpTree};

use super::deparse::{ColumnResolver, Deparser};
use super::{expr_column, unsupported, Builder};
use crate::error::PgtResult;

/// Maps each window function of the level to its output column, everything else to the
/// level's own resolver.
pub(super) struct WindowResolver<'r> {
    pub inner: &'r mut dyn ColumnResolver,
    pub funcs: Vec<(*mut pg_sys::Node, usize)>,
}

impl ColumnResolver for WindowResolver<'_> {
    unsafe fn substitute(
        &mut self,
        d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        if (*node).type_ == pg_sys::NodeTag::T_WindowFunc {
            for (f, pos) in &self.funcs {
                if pg_sys::equal(node as *const c_void, *f as *const c_void) {
                    return Ok(Some(Expr::col(*pos)));
                }
            }
            return Err(unsupported(
                "a window function in this position",
                "Window functions are supported in the SELECT list and ORDER BY.",
            ));
        }
        self.inner.substitute(d, node)
    }
}

/// How a function depends on the order of rows tied in the window's ORDER BY.
enum Kind {
    /// Treats peers alike and ignores the frame (`rank`, …): no tiebreak.
    PeerRanking,
    /// Numbers or reads rows in order, ignoring the frame (`row_number`, `lag`, …).
    OrderedIgnoringFrame,
    /// `first_value`, `last_value`, `nth_value`: a row at a frame position.
    Value(&'static str),
    /// An aggregate over the frame, order-insensitive for these inputs (`count`, `sum` of
    /// exact numbers, `min`, …).
    SetAggregate,
    /// Any other aggregate (`array_agg`, `string_agg`, float sums, user-defined): its value
    /// may depend on the order the frame's rows are fed in.
    OrderedAggregate,
}

impl Builder {
    /// Wraps `tree` into one window operator per window clause that the level's functions
    /// use; returns the chain and each function's output position.
    pub(super) unsafe fn windows(
        &mut self,
        q: *mut pg_sys::Query,
        mut tree: OpTree,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<(OpTree, Vec<(*mut pg_sys::Node, usize)>)> {
        let funcs =
            super::collect_nodes(&super::select_and_having(q), pg_sys::NodeTag::T_WindowFunc);
        let mut positions = Vec::new();
        for wc in PgList::<pg_sys::WindowClause>::from_pg((*q).windowClause).iter_ptr() {
            let mine: Vec<*mut pg_sys::WindowFunc> = funcs
                .iter()
                .map(|f| *f as *mut pg_sys::WindowFunc)
                .filter(|f| (**f).winref == (*wc).winref)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut partition_by = Vec::new();
            let mut partition_columns = Vec::new();
            for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*wc).partitionClause).iter_ptr()
            {
                let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
                let e = (*tle).expr as *mut pg_sys::Node;
                partition_by.push(self.d.expr(e, r)?);
                partition_columns.push(expr_column(format!("p{}", partition_by.len()), e)?);
            }
            let mut order_by = Vec::new();
            for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*wc).orderClause).iter_ptr() {
                let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
                let mut key = self.d.expr((*tle).expr as *mut pg_sys::Node, r)?;
                let op = self.d.oper_name((*sgc).sortop)?;
                key.push_sql(&format!(
                    " USING {op} NULLS {}",
                    if (*sgc).nulls_first { "FIRST" } else { "LAST" }
                ));
                order_by.push(key);
            }
            let opts = (*wc).frameOptions as u32;
            let frame = self.frame_sql(opts, (*wc).startOffset, (*wc).endOffset)?;
            let mut calls = Vec::new();
            let mut call_columns = Vec::new();
            let base = tree.columns().len();
            for (j, &f) in mine.iter().enumerate() {
                let (call, kind, shown) = self.window_call(f, r)?;
                let (tiebreak, own_frame) = decide(kind, opts, order_by.is_empty(), &shown)?;
                calls.push(WindowCall {
                    call,
                    tiebreak,
                    frame: own_frame
                        .map(str::to_string)
                        .unwrap_or_else(|| frame.clone()),
                });
                call_columns.push(expr_column(format!("w{j}"), f as *mut pg_sys::Node)?);
                positions.push((f as *mut pg_sys::Node, base + j));
            }
            tree = OpTree::Window(Window {
                input: Box::new(tree),
                partition_by,
                partition_columns,
                order_by,
                calls,
                call_columns,
            });
        }
        Ok((tree, positions))
    }
}

impl Builder {
    /// The frame clause of `opts` (empty for the default frame), offsets as constants.
    unsafe fn frame_sql(
        &mut self,
        opts: u32,
        start: *mut pg_sys::Node,
        end: *mut pg_sys::Node,
    ) -> PgtResult<String> {
        if opts & pg_sys::FRAMEOPTION_NONDEFAULT == 0 {
            return Ok(String::new());
        }
        let mode = if opts & pg_sys::FRAMEOPTION_ROWS != 0 {
            "ROWS"
        } else if opts & pg_sys::FRAMEOPTION_GROUPS != 0 {
            "GROUPS"
        } else {
            "RANGE"
        };
        let mut offset = |d: &mut Deparser, n: *mut pg_sys::Node| -> PgtResult<String> {
            let e = d.expr(
                n,
                &mut super::ConstantResolver {
                    construct: "a frame offset reading a column",
                    reason: "Frame offsets are constants.",
                },
            )?;
            Ok(e.render(&|_| String::new()))
        };
        let bound =
            |d: &mut Deparser,
             offset: &mut dyn FnMut(&mut Deparser, *mut pg_sys::Node) -> PgtResult<String>,
             unbounded_preceding: u32,
             unbounded_following: u32,
             current: u32,
             preceding: u32,
             following: u32,
             n: *mut pg_sys::Node|
             -> PgtResult<String> {
                Ok(if opts & unbounded_preceding != 0 {
                    "UNBOUNDED PRECEDING".into()
                } else if opts & unbounded_following != 0 {
                    "UNBOUNDED FOLLOWING".into()
                } else if opts & current != 0 {
                    "CURRENT ROW".into()
                } else if opts & preceding != 0 {
                    format!("{} PRECEDING", offset(d, n)?)
                } else if opts & following != 0 {
                    format!("{} FOLLOWING", offset(d, n)?)
                } else {
                    return Err(unsupported(
                        "a window frame",
                        "Its bound could not be read.",
                    ));
                })
            };
        #[allow(unused_imports)]
        use pg_sys::{
            FRAMEOPTION_BETWEEN, FRAMEOPTION_END_CURRENT_ROW, FRAMEOPTION_END_OFFSET_FOLLOWING,
            FRAMEOPTION_END_OFFSET_PRECEDING, FRAMEOPTION_END_UNBOUNDED_FOLLOWING,
            FRAMEOPTION_END_UNBOUNDED_PRECEDING, FRAMEOPTION_EXCLUDE_CURRENT_ROW,
            FRAMEOPTION_EXCLUDE_GROUP, FRAMEOPTION_EXCLUDE_TIES, FRAMEOPTION_EXCLUSION,
            FRAMEOPTION_NONDEFAULT, FRAMEOPTION_ROWS, FRAMEOPTION_START_CURRENT_ROW,
            FRAMEOPTION_START_OFFSET_FOLLOWING, FRAMEOPTION_START_OFFSET_PRECEDING,
            FRAMEOPTION_START_UNBOUNDED_FOLLOWING, FRAMEOPTION_START_UNBOUNDED_PRECEDING,
        };
        let s = bound(
            &mut self.d,
            &mut offset,
            FRAMEOPTION_START_UNBOUNDED_PRECEDING,
            FRAMEOPTION_START_UNBOUNDED_FOLLOWING,
            FRAMEOPTION_START_CURRENT_ROW,
            FRAMEOPTION_START_OFFSET_PRECEDING,
            FRAMEOPTION_START_OFFSET_FOLLOWING,
            start,
        )?;
        let mut sql = if opts & FRAMEOPTION_BETWEEN != 0 {
            let e = bound(
                &mut self.d,
                &mut offset,
                FRAMEOPTION_END_UNBOUNDED_PRECEDING,
                FRAMEOPTION_END_UNBOUNDED_FOLLOWING,
                FRAMEOPTION_END_CURRENT_ROW,
                FRAMEOPTION_END_OFFSET_PRECEDING,
                FRAMEOPTION_END_OFFSET_FOLLOWING,
                end,
            )?;
            format!("{mode} BETWEEN {s} AND {e}")
        } else {
            format!("{mode} {s}")
        };
        if opts & FRAMEOPTION_EXCLUDE_CURRENT_ROW != 0 {
            sql.push_str(" EXCLUDE CURRENT ROW");
        } else if opts & FRAMEOPTION_EXCLUDE_GROUP != 0 {
            sql.push_str(" EXCLUDE GROUP");
        } else if opts & FRAMEOPTION_EXCLUDE_TIES != 0 {
            sql.push_str(" EXCLUDE TIES");
        }
        Ok(sql)
    }

    /// The call before `OVER`, how it depends on the order of peers, and its name (for
    /// errors).
    unsafe fn window_call(
        &mut self,
        f: *mut pg_sys::WindowFunc,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<(Expr, Kind, String)> {
        self.d.check_stable((*f).winfnoid)?;
        let name = self.d.func_name((*f).winfnoid)?;
        let info = Spi::get_one_with_args::<String>(
            "SELECT CASE WHEN p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace \
                         THEN p.proname::pg_catalog.text ELSE '' END \
               FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) $1",
            &[(*f).winfnoid.into()],
        )?
        .unwrap_or_default();
        let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*f).args)
            .iter_ptr()
            .collect();
        let mut call = Expr::sql(format!("{name}("));
        if (*f).winstar {
            call.push_sql("*");
        }
        for (i, &a) in args.iter().enumerate() {
            if i > 0 {
                call.push_sql(", ");
            }
            call.append(self.d.expr(a, r)?);
        }
        call.push_sql(")");
        if !(*f).aggfilter.is_null() {
            call.push_sql(" FILTER (WHERE ");
            call.append(self.d.expr((*f).aggfilter as *mut pg_sys::Node, r)?);
            call.push_sql(")");
        }
        let float_arg = args.first().is_some_and(|&a| {
            let t = pg_sys::exprType(a);
            t == pg_sys::FLOAT4OID || t == pg_sys::FLOAT8OID
        });
        let kind = match (info.as_str(), (*f).winagg) {
            ("rank" | "dense_rank" | "percent_rank" | "cume_dist", false) => Kind::PeerRanking,
            ("row_number" | "ntile" | "lag" | "lead", false) => Kind::OrderedIgnoringFrame,
            ("first_value", false) => Kind::Value("first_value"),
            ("last_value", false) => Kind::Value("last_value"),
            ("nth_value", false) => Kind::Value("nth_value"),
            ("count" | "min" | "max" | "bool_and" | "bool_or" | "every" | "bit_and" | "bit_or"
            | "bit_xor", true) => Kind::SetAggregate,
            ("sum" | "avg", true) if !float_arg => Kind::SetAggregate,
            (_, true) => Kind::OrderedAggregate,
            (_, false) => {
                return Err(unsupported(
                    &format!("the window function {name}()"),
                    "Only the built-in window functions and aggregates are maintained over windows; use FULL.",
                ))
            }
        };
        Ok((call, kind, name))
    }
}

/// Per function: whether the row's image is appended to the ORDER BY, and the frame it
/// gets instead of its clause's (`None`: the clause's). With the image as a last sort
/// key no two rows are peers, so a frame is kept only where peers do not matter to it:
///
/// - ranking by peers (`rank`, …) needs no tiebreak; functions that ignore the frame
///   (`row_number`, `ntile`, `lag`, `lead`) get one and no frame;
/// - a `ROWS` frame counts rows, not peers: tiebreak, same frame (unless it excludes a
///   peer group or ties, which the tiebreak would dissolve: refused);
/// - a frame covering the whole partition is one either way: tiebreak, as `ROWS`;
/// - otherwise (`RANGE`/`GROUPS` bounds at peer groups): an aggregate of exact values
///   (`count`, `sum` of integers or numeric, `min`, …) gets the same value however peers
///   are ordered, so no tiebreak; `first_value` of a frame starting at the partition's
///   first row and `last_value` of one ending at its last read that row whatever the
///   other bound is; anything else would take the value of one of several tied rows, and
///   is refused (use a ROWS frame, whose rows are counted in a total order).
fn decide(
    kind: Kind,
    opts: u32,
    no_order: bool,
    name: &str,
) -> PgtResult<(bool, Option<&'static str>)> {
    #[allow(unused_imports)]
    use pg_sys::{
        FRAMEOPTION_BETWEEN, FRAMEOPTION_END_CURRENT_ROW, FRAMEOPTION_END_OFFSET_FOLLOWING,
        FRAMEOPTION_END_OFFSET_PRECEDING, FRAMEOPTION_END_UNBOUNDED_FOLLOWING,
        FRAMEOPTION_END_UNBOUNDED_PRECEDING, FRAMEOPTION_EXCLUDE_CURRENT_ROW,
        FRAMEOPTION_EXCLUDE_GROUP, FRAMEOPTION_EXCLUDE_TIES, FRAMEOPTION_EXCLUSION,
        FRAMEOPTION_NONDEFAULT, FRAMEOPTION_ROWS, FRAMEOPTION_START_CURRENT_ROW,
        FRAMEOPTION_START_OFFSET_FOLLOWING, FRAMEOPTION_START_OFFSET_PRECEDING,
        FRAMEOPTION_START_UNBOUNDED_FOLLOWING, FRAMEOPTION_START_UNBOUNDED_PRECEDING,
    };
    let o = |f: u32| opts & f != 0;
    match kind {
        Kind::PeerRanking => return Ok((false, Some(""))),
        Kind::OrderedIgnoringFrame => return Ok((true, Some(""))),
        _ => {}
    }
    let excludes_peers = o(FRAMEOPTION_EXCLUDE_GROUP) || o(FRAMEOPTION_EXCLUDE_TIES);
    let default = !o(FRAMEOPTION_NONDEFAULT);
    let starts_first = default || o(FRAMEOPTION_START_UNBOUNDED_PRECEDING);
    let end_current = default || !o(FRAMEOPTION_BETWEEN) || o(FRAMEOPTION_END_CURRENT_ROW);
    let ends_last = o(FRAMEOPTION_END_UNBOUNDED_FOLLOWING);
    if o(FRAMEOPTION_ROWS) && !default {
        if excludes_peers {
            return Err(unsupported(
                &format!("{name}() over a ROWS frame with EXCLUDE GROUP or EXCLUDE TIES"),
                "Which rows the frame holds depends on the order of rows tied in the window's ORDER BY; use FULL.",
            ));
        }
        return Ok((true, None));
    }
    let no_exclusion = !o(FRAMEOPTION_EXCLUSION);
    if no_exclusion && starts_first && (ends_last || (no_order && end_current)) {
        return Ok((
            true,
            Some("ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"),
        ));
    }
    match kind {
        Kind::SetAggregate => Ok((false, None)),
        Kind::Value("first_value")
            if no_exclusion
                && starts_first
                && !o(FRAMEOPTION_END_OFFSET_PRECEDING)
                && !o(FRAMEOPTION_END_UNBOUNDED_PRECEDING) =>
        {
            Ok((true, Some("ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW")))
        }
        Kind::Value("last_value")
            if no_exclusion
                && ends_last
                && !o(FRAMEOPTION_START_OFFSET_FOLLOWING)
                && !o(FRAMEOPTION_START_UNBOUNDED_FOLLOWING) =>
        {
            Ok((true, Some("ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING")))
        }
        _ => Err(unsupported(
            &format!("{name}() over a RANGE or GROUPS frame (the default frame with ORDER BY is one)"),
            "Among rows tied in the window's ORDER BY its value is not determined, so a recomputed partition could differ from the stored one; use a ROWS frame (for example ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) with an ORDER BY that orders every row, or FULL.",
        )),
    }
}
