//! The extension's parse frontend: PostgreSQL's analyzed `Query` → `pgt_dvm::OpTree`.
//!
//! One pass over the query resolves every column reference to an operator input, checks
//! every construct, and either yields a tree the delta rules may trust or names the
//! construct that cannot be maintained incrementally (`DvmError::Unsupported`).
#![allow(unsafe_code)]

mod decorrelate;
mod deparse;
mod grouping_sets;
mod lateral;
mod lateral_subquery;
mod numeric_scale;
mod recursive;
mod sublink;
mod window;

use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::rc::Rc;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use pgt_dvm::{AggCall, AggKind, Column, DvmError, Expr, OpTree};
use pgt_sql::QualifiedName;

use crate::error::{PgtError, PgtResult};
use deparse::{ColumnResolver, Deparser};

/// The result of translating a defining query.
pub type Translation = pgt_dvm::frontend::Translated;

/// The server-side frontend: SQL text → PostgreSQL's parser and analysis → `OpTree`.
pub struct PgFrontend;

impl pgt_dvm::frontend::ParseFrontend for PgFrontend {
    type Query = str;
    type Error = PgtError;

    fn translate(&self, sql: &str) -> PgtResult<Translation> {
        translate_sql(sql)
    }
}

/// Translates the (stored, schema-qualified) defining query `sql`.
pub fn translate(sql: &str) -> PgtResult<Translation> {
    use pgt_dvm::frontend::ParseFrontend;
    PgFrontend.plan(sql)
}

fn unsupported(construct: &str, reason: &str) -> PgtError {
    PgtError::Dvm(DvmError::unsupported(construct, reason))
}

fn translate_sql(sql: &str) -> PgtResult<Translation> {
    let c_sql = CString::new(sql).map_err(|_| PgtError::EmptyQuery)?;
    // SAFETY: parse_and_analyze returns a valid analyzed Query allocated in the current
    // memory context, which outlives this call; the builder only follows pointers inside it.
    unsafe {
        let query = crate::analyze::parse_and_analyze(&c_sql)?;
        let volatile = pg_sys::contain_volatile_functions(query as *mut pg_sys::Node);
        let mut b = Builder::default();
        let (tree, _) = b.query(query)?;
        if let Some(f) = b.d.session_dependent.take() {
            return Err(unsupported(
                &format!("the session- or transaction-dependent function {f}"),
                "Its result differs between the transactions that refresh the stream table (transaction ids, snapshots, settings, the backend), without any change to the source tables.",
            ));
        }
        if let Some(f) = b.d.time_dependent.take() {
            return Err(unsupported(
                &format!("the time-dependent function {f}"),
                "Its result changes as time passes without any change to the source tables.",
            ));
        }
        Ok(Translation {
            tree,
            sources: b.sources.iter().map(|o| o.to_u32()).collect(),
            volatile,
        })
    }
}

/// What a scan needs to know about its relation.
struct SourceInfo {
    schema: String,
    name: String,
    kind: String,
    has_children: bool,
    is_partition: bool,
    /// A column named like one of the change buffer's own, if any.
    reserved_column: Option<String>,
}

/// Positions of each range-table entry's columns in a FROM item's output.
type Layout = HashMap<i32, Vec<Option<usize>>>;

#[derive(Default)]
struct Builder {
    d: Deparser,
    levels: Vec<*mut pg_sys::Query>,
    shared: HashMap<(usize, String), Rc<OpTree>>,
    next_shared: usize,
    sources: Vec<pg_sys::Oid>,
    /// A restriction for the query level being built at depth `.0` (`decorrelate.rs`):
    /// after its WHERE, its rows are semi-joined with the outer rows' keys.
    restrict: Option<(usize, decorrelate::KeyRestriction)>,
    /// The recursive CTEs whose recursive term is being translated: their work tables'
    /// ids and columns (`recursive.rs`).
    recursions: HashMap<(usize, String), (usize, Vec<Column>)>,
}

/// Makes the ORDER BY expressions that `q` does not select (resjunk entries of its target
/// list, which PostgreSQL appends after the selected ones) selected, so that the tree
/// outputs them after the query's own columns; returns how many.
unsafe fn select_sort_keys(q: *mut pg_sys::Query) -> usize {
    let mut n = 0;
    for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*q).sortClause).iter_ptr() {
        let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
        if (*tle).resjunk {
            (*tle).resjunk = false;
            n += 1;
        }
    }
    n
}

/// The function behind an operator call (looked up when the parser left it unset).
///
/// Safety: `o` is a valid operator expression node.
unsafe fn op_function(o: *mut pg_sys::OpExpr) -> pg_sys::Oid {
    if (*o).opfuncid == pg_sys::InvalidOid {
        pg_sys::get_opcode((*o).opno)
    } else {
        (*o).opfuncid
    }
}

unsafe fn rt_fetch(q: *mut pg_sys::Query, index: i32) -> *mut pg_sys::RangeTblEntry {
    PgList::<pg_sys::RangeTblEntry>::from_pg((*q).rtable)
        .get_ptr(index as usize - 1)
        .expect("valid range table index")
}

/// PostgreSQL 18 represents grouped expressions above the GROUP BY step as Vars of an
/// `RTE_GROUP` entry; this returns the grouped expression such a Var stands for (or the
/// node itself).
unsafe fn strip_group_var(q: *mut pg_sys::Query, node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Var {
        return node;
    }
    let v = node as *mut pg_sys::Var;
    if (*v).varlevelsup > 0 || (*v).varno <= 0 {
        return node;
    }
    let rte = rt_fetch(q, (*v).varno);
    if (*rte).rtekind != pg_sys::RTEKind::RTE_GROUP || (*v).varattno <= 0 {
        return node;
    }
    match PgList::<pg_sys::Node>::from_pg((*rte).groupexprs).get_ptr((*v).varattno as usize - 1) {
        Some(e) if !e.is_null() => strip_group_var(q, e),
        _ => node,
    }
}

/// The output position of a plain column reference (join aliases and binary-compatible
/// casts followed), if `node` is one.
unsafe fn var_position(
    q: *mut pg_sys::Query,
    layout: &Layout,
    node: *mut pg_sys::Node,
) -> Option<usize> {
    if node.is_null() {
        return None;
    }
    match (*node).type_ {
        pg_sys::NodeTag::T_RelabelType => var_position(
            q,
            layout,
            (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node,
        ),
        pg_sys::NodeTag::T_Var => {
            let v = node as *mut pg_sys::Var;
            if (*v).varlevelsup > 0 || (*v).varattno <= 0 {
                return None;
            }
            let rte = rt_fetch(q, (*v).varno);
            if (*rte).rtekind == pg_sys::RTEKind::RTE_JOIN {
                let alias = PgList::<pg_sys::Node>::from_pg((*rte).joinaliasvars)
                    .get_ptr((*v).varattno as usize - 1)?;
                return var_position(q, layout, alias);
            }
            layout
                .get(&(*v).varno)?
                .get((*v).varattno as usize - 1)
                .copied()
                .flatten()
        }
        _ => None,
    }
}

/// Whether evaluating `node` cannot raise an error whatever the row: it is made of columns,
/// constant subexpressions (which the planner folds before any row is read, so their errors
/// are the query's own), boolean logic, NULL and boolean tests, and operators or functions
/// of `pg_catalog` that are leakproof or compare values of an ordering operator family
/// (`numeric_ge` is not marked leakproof, yet no comparison of valid values fails).
///
/// Safety: `node` is null or a valid expression node of an analyzed query.
unsafe fn error_free(node: *mut pg_sys::Node) -> bool {
    use pg_sys::NodeTag as T;
    if node.is_null() {
        return true;
    }
    if !pg_sys::contain_var_clause(node) {
        return !pg_sys::checkExprHasSubLink(node);
    }
    let builtin = |func: pg_sys::Oid| {
        pg_sys::get_func_namespace(func) == pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE)
    };
    let comparison = |op: pg_sys::Oid, func: pg_sys::Oid| {
        let func = if func == pg_sys::InvalidOid {
            pg_sys::get_opcode(op)
        } else {
            func
        };
        builtin(func)
            && (pg_sys::get_func_leakproof(func)
                || !pg_sys::get_op_index_interpretation(op).is_null())
    };
    let all = |args: *mut pg_sys::List| {
        PgList::<pg_sys::Node>::from_pg(args)
            .iter_ptr()
            .all(|a| error_free(a))
    };
    match (*node).type_ {
        T::T_Var => true,
        T::T_RelabelType => error_free((*(node as *mut pg_sys::RelabelType)).arg as _),
        T::T_CollateExpr => error_free((*(node as *mut pg_sys::CollateExpr)).arg as _),
        T::T_NullTest => error_free((*(node as *mut pg_sys::NullTest)).arg as _),
        T::T_BooleanTest => error_free((*(node as *mut pg_sys::BooleanTest)).arg as _),
        T::T_BoolExpr => all((*(node as *mut pg_sys::BoolExpr)).args),
        T::T_OpExpr | T::T_NullIfExpr => {
            let o = node as *mut pg_sys::OpExpr;
            let func = op_function(o);
            let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*o).args)
                .iter_ptr()
                .collect();
            if [pg_sys::F_TEXTLIKE, pg_sys::F_BPCHARLIKE].contains(&u32::from(func)) {
                // LIKE fails whatever the row for a pattern ending in its escape character
                // (`\`) or under a nondeterministic collation, and never otherwise. Such
                // an error must not come from a version that cancels (on an empty table
                // the query itself raises nothing), so only a literal pattern that is
                // valid, under a deterministic collation, counts.
                let coll = (*o).inputcollid;
                let deterministic =
                    coll == pg_sys::InvalidOid || pg_sys::get_collation_isdeterministic(coll);
                return deterministic
                    && args.len() == 2
                    && valid_like_literal(args[1])
                    && error_free(args[0]);
            }
            if bounded_numeric(node, &mut 0) {
                return true;
            }
            comparison((*o).opno, (*o).opfuncid) && all((*o).args)
        }
        T::T_CaseExpr => {
            let c = node as *mut pg_sys::CaseExpr;
            error_free((*c).arg as _)
                && error_free((*c).defresult as _)
                && PgList::<pg_sys::CaseWhen>::from_pg((*c).args)
                    .iter_ptr()
                    .all(|w| error_free((*w).expr as _) && error_free((*w).result as _))
        }
        T::T_CaseTestExpr => true,
        T::T_CoalesceExpr => all((*(node as *mut pg_sys::CoalesceExpr)).args),
        // GREATEST and LEAST compare with the type's default ordering.
        T::T_MinMaxExpr => all((*(node as *mut pg_sys::MinMaxExpr)).args),
        T::T_ScalarArrayOpExpr => {
            let o = node as *mut pg_sys::ScalarArrayOpExpr;
            comparison((*o).opno, (*o).opfuncid) && all((*o).args)
        }
        T::T_FuncExpr => {
            let f = node as *mut pg_sys::FuncExpr;
            builtin((*f).funcid) && pg_sys::get_func_leakproof((*f).funcid) && all((*f).args)
        }
        _ => false,
    }
}

/// Whether `node` is a non-NULL text literal that is a valid LIKE pattern with the default
/// escape character: it does not end in an unescaped `\`.
///
/// Safety: `node` is a valid expression node of an analyzed query.
unsafe fn valid_like_literal(node: *mut pg_sys::Node) -> bool {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Const {
        return false;
    }
    let c = node as *mut pg_sys::Const;
    if (*c).constisnull || (*c).consttype != pg_sys::TEXTOID {
        return false;
    }
    let Some(pattern) = <String as pgrx::FromDatum>::from_datum((*c).constvalue, false) else {
        return false;
    };
    let trailing = pattern.chars().rev().take_while(|&ch| ch == '\\').count();
    trailing % 2 == 0
}

/// Whether `node` is `numeric` arithmetic (`+`, `-`, `*`) over constrained `numeric`
/// columns, integers and constants: its value stays below 10^(sum of the leaves' digits),
/// far inside `numeric`'s range, so it cannot overflow (unlike integer arithmetic, which
/// can). `leaves` counts the operands seen, and more than 64 are refused, which bounds
/// that sum.
///
/// Safety: `node` is null or a valid expression node of an analyzed query.
unsafe fn bounded_numeric(node: *mut pg_sys::Node, leaves: &mut usize) -> bool {
    use pg_sys::NodeTag as T;
    if node.is_null() {
        return false;
    }
    *leaves += 1;
    if *leaves > 64 {
        return false;
    }
    let numeric = pg_sys::exprType(node) == pg_sys::NUMERICOID;
    match (*node).type_ {
        T::T_Const => true,
        T::T_Var => numeric && pg_sys::exprTypmod(node) >= 0,
        T::T_RelabelType => bounded_numeric((*(node as *mut pg_sys::RelabelType)).arg as _, leaves),
        T::T_FuncExpr => {
            let f = node as *mut pg_sys::FuncExpr;
            let args = PgList::<pg_sys::Node>::from_pg((*f).args);
            let int_to_numeric = [
                pg_sys::F_NUMERIC_INT2,
                pg_sys::F_NUMERIC_INT4,
                pg_sys::F_NUMERIC_INT8,
            ]
            .contains(&u32::from((*f).funcid));
            // An integer value has at most 19 digits; a constant is one finite value.
            int_to_numeric
                && args.len() == 1
                && args
                    .get_ptr(0)
                    .is_some_and(|a| (*a).type_ == T::T_Var || !pg_sys::contain_var_clause(a))
        }
        T::T_OpExpr => {
            let o = node as *mut pg_sys::OpExpr;
            let func = op_function(o);
            [
                pg_sys::F_NUMERIC_ADD,
                pg_sys::F_NUMERIC_SUB,
                pg_sys::F_NUMERIC_MUL,
            ]
            .contains(&u32::from(func))
                && PgList::<pg_sys::Node>::from_pg((*o).args)
                    .iter_ptr()
                    .all(|a| bounded_numeric(a, leaves))
        }
        _ => !pg_sys::contain_var_clause(node) && !pg_sys::checkExprHasSubLink(node) && numeric,
    }
}

/// The AND-ed conjuncts of `quals` (nested ANDs flattened).
unsafe fn conjuncts(quals: *mut pg_sys::Node, out: &mut Vec<*mut pg_sys::Node>) {
    if quals.is_null() {
        return;
    }
    if (*quals).type_ == pg_sys::NodeTag::T_BoolExpr
        && (*(quals as *mut pg_sys::BoolExpr)).boolop == pg_sys::BoolExprType::AND_EXPR
    {
        for arg in
            PgList::<pg_sys::Node>::from_pg((*(quals as *mut pg_sys::BoolExpr)).args).iter_ptr()
        {
            conjuncts(arg, out);
        }
    } else {
        // `(A ∧ X) ∨ (A ∧ Y)` implies `A`: a conjunct common to every arm of an OR is added
        // on its own (the OR stays as written, so nothing changes but what the rewrite
        // rules can see), and a join key hidden in each arm (TPC-H Q19) becomes a key.
        out.extend(common_to_every_arm(quals));
        out.extend(implied_per_relation(quals));
        out.push(quals);
    }
}

/// The range-table indexes of this query level's Vars in `node` (None: it reads a join
/// alias, an outer level, or nothing).
unsafe fn single_relation(node: *mut pg_sys::Node) -> Option<i32> {
    #[pg_guard]
    unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, ctx: *mut c_void) -> bool {
        if node.is_null() {
            return false;
        }
        let seen = &mut *(ctx as *mut (Vec<i32>, bool));
        if (*node).type_ == pg_sys::NodeTag::T_Var {
            let v = node as *mut pg_sys::Var;
            if (*v).varlevelsup == 0 {
                if !seen.0.contains(&(*v).varno) {
                    seen.0.push((*v).varno);
                }
            } else {
                seen.1 = true;
            }
            return false;
        }
        if (*node).type_ == pg_sys::NodeTag::T_SubLink {
            seen.1 = true;
            return false;
        }
        pg_sys::expression_tree_walker_impl(node, Some(walk), ctx)
    }
    let mut seen: (Vec<i32>, bool) = (Vec::new(), false);
    walk(node, &mut seen as *mut (Vec<i32>, bool) as *mut c_void);
    match seen.0.as_slice() {
        [one] if !seen.1 => Some(*one),
        _ => None,
    }
}

/// For an OR whose every arm constrains relation `r` on its own, the implied condition on
/// `r` alone: `(A₁ ∧ B₁) ∨ (A₂ ∧ B₂)` implies `A₁ ∨ A₂` when the `Aᵢ` read only `r` (as
/// PostgreSQL's planner derives restriction clauses from ORs). The OR stays as written;
/// the implied filters let the rewrite rules restrict each table before it is joined
/// (TPC-H Q7: `n1.n_name IN ('FRANCE', 'GERMANY')`; Q19: the part and line item filters).
unsafe fn implied_per_relation(node: *mut pg_sys::Node) -> Vec<*mut pg_sys::Node> {
    if (*node).type_ != pg_sys::NodeTag::T_BoolExpr
        || (*(node as *mut pg_sys::BoolExpr)).boolop != pg_sys::BoolExprType::OR_EXPR
        || pg_sys::contain_volatile_functions(node)
    {
        return Vec::new();
    }
    let arms: Vec<Vec<(Option<i32>, *mut pg_sys::Node)>> =
        PgList::<pg_sys::Node>::from_pg((*(node as *mut pg_sys::BoolExpr)).args)
            .iter_ptr()
            .map(|arm| {
                let mut cs = Vec::new();
                conjuncts(arm, &mut cs);
                cs.into_iter().map(|c| (single_relation(c), c)).collect()
            })
            .collect();
    let Some(first) = arms.first() else {
        return Vec::new();
    };
    let mut rels: Vec<i32> = first.iter().filter_map(|(r, _)| *r).collect();
    rels.dedup();
    let mut out = Vec::new();
    for r in rels {
        if !arms
            .iter()
            .all(|arm| arm.iter().any(|(x, _)| *x == Some(r)))
        {
            continue;
        }
        // An arm's own conditions on r, AND-ed; the arms' conditions OR-ed.
        let mut ors: *mut pg_sys::List = std::ptr::null_mut();
        for arm in &arms {
            let mut ands: *mut pg_sys::List = std::ptr::null_mut();
            let mine: Vec<_> = arm.iter().filter(|(x, _)| *x == Some(r)).collect();
            for (_, c) in &mine {
                ands = pg_sys::lappend(ands, *c as *mut c_void);
            }
            let conj = if mine.len() == 1 {
                mine[0].1
            } else {
                pg_sys::makeBoolExpr(pg_sys::BoolExprType::AND_EXPR, ands, -1) as *mut pg_sys::Node
            };
            ors = pg_sys::lappend(ors, conj as *mut c_void);
        }
        out.push(pg_sys::makeBoolExpr(pg_sys::BoolExprType::OR_EXPR, ors, -1) as *mut pg_sys::Node);
    }
    out
}

/// The conjuncts (without volatile functions) that every arm of the OR `node` has.
unsafe fn common_to_every_arm(node: *mut pg_sys::Node) -> Vec<*mut pg_sys::Node> {
    if (*node).type_ != pg_sys::NodeTag::T_BoolExpr
        || (*(node as *mut pg_sys::BoolExpr)).boolop != pg_sys::BoolExprType::OR_EXPR
    {
        return Vec::new();
    }
    let arms: Vec<Vec<*mut pg_sys::Node>> =
        PgList::<pg_sys::Node>::from_pg((*(node as *mut pg_sys::BoolExpr)).args)
            .iter_ptr()
            .map(|arm| {
                let mut cs = Vec::new();
                conjuncts(arm, &mut cs);
                cs
            })
            .collect();
    let Some((first, rest)) = arms.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .copied()
        .filter(|c| !pg_sys::contain_volatile_functions(*c))
        .filter(|c| {
            rest.iter().all(|arm| {
                arm.iter()
                    .any(|o| pg_sys::equal(*c as *const c_void, *o as *const c_void))
            })
        })
        .collect()
}

/// The column pair a conjunct `a = b` equates with a btree (mergejoinable) equality, as
/// positions of the FROM layout.
unsafe fn equi_pair(
    q: *mut pg_sys::Query,
    layout: &Layout,
    conjunct: *mut pg_sys::Node,
) -> Option<(usize, usize)> {
    if (*conjunct).type_ != pg_sys::NodeTag::T_OpExpr {
        return None;
    }
    let o = conjunct as *mut pg_sys::OpExpr;
    let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*o).args)
        .iter_ptr()
        .collect();
    if args.len() != 2 || !pg_sys::op_mergejoinable((*o).opno, pg_sys::exprType(args[0])) {
        return None;
    }
    Some((
        var_position(q, layout, args[0])?,
        var_position(q, layout, args[1])?,
    ))
}

/// Resolves Vars of one query level through a FROM layout (join aliases followed).
struct FromResolver<'a> {
    q: *mut pg_sys::Query,
    layout: &'a Layout,
}

impl FromResolver<'_> {
    /// A virtual generated column is left out of scans (computed when read, it never
    /// reaches a change buffer): it becomes its generation expression over the stored
    /// columns, as PostgreSQL's rewriter expands it.
    unsafe fn virtual_column(
        &mut self,
        d: &mut Deparser,
        rte: *mut pg_sys::RangeTblEntry,
        v: *mut pg_sys::Var,
    ) -> PgtResult<Expr> {
        let is_virtual = Spi::get_one_with_args::<bool>(
            "SELECT true FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum = $2 AND a.attgenerated = 'v'",
            &[(*rte).relid.into(), (*v).varattno.into()],
        )?
        .unwrap_or(false);
        if !is_virtual {
            return Err(unsupported(
                "a column reference",
                "It could not be resolved to an input column.",
            ));
        }
        // SAFETY: the relation is the Var's own range table entry, locked by the analysis
        // that produced the query. It is opened and closed around the expansion, which
        // reads its tuple descriptor and returns a fresh copy of the generation
        // expression with its Vars retargeted to `varno`; the input Var is copied first
        // because the expansion may modify the tree it is given.
        let expanded = {
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open((*rte).relid, lock);
            let e = pg_sys::expand_generated_columns_in_expr(
                pg_sys::copyObjectImpl(v as *const c_void) as *mut pg_sys::Node,
                rel,
                (*v).varno,
            );
            pg_sys::table_close(rel, lock);
            e
        };
        if expanded.is_null() || (*expanded).type_ == pg_sys::NodeTag::T_Var {
            return Err(unsupported(
                "a virtual generated column",
                "Its generation expression could not be read.",
            ));
        }
        d.expr(expanded, self)
    }

    /// A whole-row reference `t` to a table: `ROW(every column)::table_type`, so that
    /// `to_jsonb(t)`, `t IS NULL` or `hashtext(t::text)` see the row the table has.
    unsafe fn whole_row(
        &mut self,
        d: &mut Deparser,
        rte: *mut pg_sys::RangeTblEntry,
        v: *mut pg_sys::Var,
    ) -> PgtResult<Expr> {
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
            return Err(unsupported(
                "a whole-row reference to a subquery, CTE or join",
                "Name the columns explicitly, or build the row with ROW(…).",
            ));
        }
        let atts = Spi::connect(|c| -> PgtResult<Vec<i16>> {
            let mut out = Vec::new();
            for row in c.select(
                "SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                None,
                &[(*rte).relid.into()],
            )? {
                out.push(row.get::<i16>(1)?.unwrap_or_default());
            }
            Ok(out)
        })?;
        let mut e = Expr::sql("ROW(");
        for (i, att) in atts.into_iter().enumerate() {
            if i > 0 {
                e.push_sql(", ");
            }
            // SAFETY: the attribute exists (read just above under the analysis' lock);
            // get_atttypetypmodcoll writes only through the three out-pointers, and
            // makeVar builds a fresh Var node in the current memory context.
            let (mut typ, mut typmod, mut coll) = (pg_sys::Oid::INVALID, -1, pg_sys::Oid::INVALID);
            pg_sys::get_atttypetypmodcoll((*rte).relid, att, &mut typ, &mut typmod, &mut coll);
            let col = pg_sys::makeVar((*v).varno, att, typ, typmod, coll, 0);
            match self.substitute(d, col as *mut pg_sys::Node)? {
                Some(x) => e.append(x),
                None => {
                    return Err(unsupported(
                        "a whole-row reference",
                        "A column of the row could not be resolved.",
                    ))
                }
            }
        }
        // Fields are matched to the type's live columns (dropped ones become NULL).
        e.push_sql(&format!(")::{}", Deparser::type_name((*v).vartype, -1)));
        Ok(e)
    }
}

impl ColumnResolver for FromResolver<'_> {
    unsafe fn substitute(
        &mut self,
        d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        if (*node).type_ == pg_sys::NodeTag::T_SubLink {
            // A single-row scalar subquery joined to the FROM items (`sublink.rs`).
            let s = node as *mut pg_sys::SubLink;
            if (*s).location >= 0 {
                if let Some(Some(pos)) = self
                    .layout
                    .get(&sublink::scalar_key((*s).location))
                    .and_then(|c| c.first())
                {
                    return Ok(Some(Expr::col(*pos)));
                }
            }
            return Ok(None);
        }
        if (*node).type_ != pg_sys::NodeTag::T_Var {
            return Ok(None);
        }
        let v = node as *mut pg_sys::Var;
        if (*v).varlevelsup > 0 {
            return Err(unsupported(
                "a reference to an outer query (LATERAL or correlated subquery)",
                "Each query level must read only its own FROM items.",
            ));
        }
        if (*v).varattno < 0 {
            return Err(unsupported(
                "a system column reference",
                "System columns (ctid, xmin, …) change without the row changing; name the user columns instead.",
            ));
        }
        let rte = rt_fetch(self.q, (*v).varno);
        if (*v).varattno == 0 {
            return self.whole_row(d, rte, v).map(Some);
        }
        if (*rte).rtekind == pg_sys::RTEKind::RTE_GROUP {
            let inner = strip_group_var(self.q, node);
            return if inner == node {
                Err(unsupported("a grouped column", "It could not be resolved."))
            } else {
                d.expr(inner, self).map(Some)
            };
        }
        if (*rte).rtekind == pg_sys::RTEKind::RTE_JOIN {
            let alias = PgList::<pg_sys::Node>::from_pg((*rte).joinaliasvars)
                .get_ptr((*v).varattno as usize - 1);
            return match alias {
                Some(a) if !a.is_null() => d.expr(a, self).map(Some),
                _ => Err(unsupported("a join column", "It could not be resolved.")),
            };
        }
        match self
            .layout
            .get(&(*v).varno)
            .and_then(|cols| cols.get((*v).varattno as usize - 1))
            .copied()
            .flatten()
        {
            Some(i) => Ok(Some(Expr::col(i))),
            None if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION => {
                self.virtual_column(d, rte, v).map(Some)
            }
            None => Err(unsupported(
                "a column reference",
                "It could not be resolved to an input column.",
            )),
        }
    }
}

/// Resolves expressions above an aggregate: group keys and aggregate calls become columns.
struct AggResolver {
    q: *mut pg_sys::Query,
    /// Group key expressions (already stripped of RTE_GROUP indirection).
    group_exprs: Vec<*mut pg_sys::Node>,
    aggrefs: Vec<*mut pg_sys::Node>,
    /// Single-row scalar subqueries joined after the grouping: (parse location, position).
    scalars: Vec<(i32, usize)>,
    /// `GROUPING(…)` calls with grouping sets: their columns (`grouping_sets.rs`); without
    /// grouping sets every such call is 0.
    groupings: Vec<(*mut pg_sys::Node, usize)>,
}

impl ColumnResolver for AggResolver {
    unsafe fn substitute(
        &mut self,
        _d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        let node = strip_group_var(self.q, node);
        if (*node).type_ == pg_sys::NodeTag::T_SubLink {
            let l = (*(node as *mut pg_sys::SubLink)).location;
            if let Some((_, pos)) = self.scalars.iter().find(|(loc, _)| *loc == l && l >= 0) {
                return Ok(Some(Expr::col(*pos)));
            }
        }
        for (i, g) in self.group_exprs.iter().enumerate() {
            if pg_sys::equal(node as *const c_void, *g as *const c_void) {
                return Ok(Some(Expr::col(i)));
            }
        }
        if (*node).type_ == pg_sys::NodeTag::T_GroupingFunc {
            for (f, pos) in &self.groupings {
                if pg_sys::equal(node as *const c_void, *f as *const c_void) {
                    return Ok(Some(Expr::col(*pos)));
                }
            }
            return Ok(Some(Expr::sql("0::pg_catalog.int4")));
        }
        if (*node).type_ == pg_sys::NodeTag::T_Aggref {
            for (j, a) in self.aggrefs.iter().enumerate() {
                if pg_sys::equal(node as *const c_void, *a as *const c_void) {
                    return Ok(Some(Expr::col(self.group_exprs.len() + j)));
                }
            }
        }
        if (*node).type_ == pg_sys::NodeTag::T_Var {
            return Err(unsupported(
                "a column that is neither grouped nor aggregated",
                "Add the column to GROUP BY (functional dependencies on a primary key are not used).",
            ));
        }
        Ok(None)
    }
}

/// For expressions that must not read any column (VALUES rows in FROM, a subquery's
/// value over no rows): a column reference is refused as the construct named.
struct ConstantResolver {
    construct: &'static str,
    reason: &'static str,
}

impl ColumnResolver for ConstantResolver {
    unsafe fn substitute(
        &mut self,
        _d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        if (*node).type_ == pg_sys::NodeTag::T_Var {
            return Err(unsupported(self.construct, self.reason));
        }
        Ok(None)
    }
}

/// Resolves the Vars of a set-operation query (they name output positions).
struct PositionResolver;

impl ColumnResolver for PositionResolver {
    unsafe fn substitute(
        &mut self,
        _d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        if (*node).type_ == pg_sys::NodeTag::T_Var {
            let v = node as *mut pg_sys::Var;
            return Ok(Some(Expr::col((*v).varattno as usize - 1)));
        }
        Ok(None)
    }
}

/// What [`collect_nodes`] looks for, and what it found.
struct Collected {
    tag: pg_sys::NodeTag,
    found: Vec<*mut pg_sys::Node>,
}

#[pg_guard]
unsafe extern "C-unwind" fn collect_walker(node: *mut pg_sys::Node, ctx: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    let c = &mut *(ctx as *mut Collected);
    if (*node).type_ == c.tag {
        if !c
            .found
            .iter()
            .any(|a| pg_sys::equal(*a as *const c_void, node as *const c_void))
        {
            c.found.push(node);
        }
        return false;
    }
    pg_sys::expression_tree_walker_impl(node, Some(collect_walker), ctx)
}

/// The distinct (by `equal()`) nodes of kind `tag` in the expressions `roots`, without
/// looking inside them (aggregates, window functions, GROUPING() calls).
///
/// SAFETY: every root is null or a valid expression node.
unsafe fn collect_nodes(
    roots: &[*mut pg_sys::Node],
    tag: pg_sys::NodeTag,
) -> Vec<*mut pg_sys::Node> {
    let mut c = Collected {
        tag,
        found: Vec::new(),
    };
    for &r in roots {
        collect_walker(r, &mut c as *mut Collected as *mut c_void);
    }
    c.found
}

/// The texts of a list of `String` nodes (column names of a CTE or a function).
///
/// SAFETY: `list` is null or a valid list of `String` nodes.
unsafe fn string_list(list: *mut pg_sys::List) -> Vec<String> {
    PgList::<pg_sys::String>::from_pg(list)
        .iter_ptr()
        .map(|n| CStr::from_ptr((*n).sval).to_string_lossy().into_owned())
        .collect()
}

/// The SELECT list's expressions (resjunk entries too) and HAVING of `q`.
unsafe fn select_and_having(q: *mut pg_sys::Query) -> Vec<*mut pg_sys::Node> {
    let mut v: Vec<*mut pg_sys::Node> = PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList)
        .iter_ptr()
        .map(|t| (*t).expr as *mut pg_sys::Node)
        .collect();
    v.push((*q).havingQual);
    v
}

/// (exact equality, binary identity, canonical form) of a type; see `pgt_dvm::Column`.
fn column_properties(
    typid: pg_sys::Oid,
    typmod: i32,
    collation: pg_sys::Oid,
) -> PgtResult<(bool, bool, Option<String>)> {
    // A domain compares and is sent as its base type (a domain over text is as good a
    // group key as text).
    let mut typmod = typmod;
    // SAFETY: getBaseTypeAndTypmod reads the type cache for an existing type and writes
    // only through the typmod pointer.
    let typid = unsafe { pg_sys::getBaseTypeAndTypmod(typid, &mut typmod) };
    let (exact, binary) = Spi::get_two_with_args::<bool, bool>(
        "SELECT CASE WHEN $1 IN (16, 18, 19, 20, 21, 23, 26, 17, 1082, 1083, 1114, 1184, 2950) THEN true \
                     WHEN $1 IN (25, 1043) OR ($1 = 1042 AND $2 >= 0) \
                          THEN coalesce((SELECT c.collisdeterministic FROM pg_catalog.pg_collation c WHERE c.oid = $3), true) \
                     WHEN $1 = 1700 THEN $2 >= 0 \
                     ELSE coalesce((SELECT t.typtype = 'e' FROM pg_catalog.pg_type t WHERE t.oid = $1), false) END, \
                (SELECT t.typsend <> 0 AND (t.typelem = 0 OR coalesce((SELECT e.typsend <> 0 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem), false)) \
                   FROM pg_catalog.pg_type t WHERE t.oid = $1)",
        &[typid.into(), typmod.into(), collation.into()],
    )?;
    // Equal values with different binary forms: numeric scales (1.0 = 1.00), and for
    // floats -0 = 0 and NaN payloads. Adding +0 turns -0 into +0 (IEEE 754).
    let canonical = match (typid.to_u32(), typmod) {
        (1700, m) if m < 0 => Some("pg_catalog.trim_scale($)".to_string()),
        (700 | 701, _) => {
            let t = if typid.to_u32() == 700 {
                "float4"
            } else {
                "float8"
            };
            Some(format!(
                "(CASE WHEN $ OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.{t} THEN 'NaN'::pg_catalog.{t} \
                 ELSE $ OPERATOR(pg_catalog.+) 0::pg_catalog.{t} END)"
            ))
        }
        _ => None,
    };
    let exact = exact.unwrap_or(false);
    let canonical = match canonical {
        Some(c) => Some(c),
        None if !exact => hashed_identity(typid, collation)?,
        None => None,
    };
    Ok((exact, binary.unwrap_or(false), canonical))
}

/// For a type whose equal values can differ in binary form and that has no cheaper
/// canonical form (interval: `'1 day'` = `'24 hours'`; jsonb: `1.0` = `1`; arrays and
/// composites of such; text under a nondeterministic collation): its extended hash
/// function, which by the hash opclass's contract maps equal values to one hash, under
/// the value's own collation. A row identity is already a 64-bit hash, so hashing a key
/// first adds no new kind of collision risk (ADR-004). `None` when the type has no hash
/// support (it then stays unusable as a key).
fn hashed_identity(typid: pg_sys::Oid, collation: pg_sys::Oid) -> PgtResult<Option<String>> {
    // SAFETY: lookup_type_cache returns the cache entry of an existing type (it raises an
    // ERROR for an unknown OID) and stays valid for the backend's life.
    let proc = unsafe {
        let tc = pg_sys::lookup_type_cache(typid, pg_sys::TYPECACHE_HASH_EXTENDED_PROC as i32);
        (*tc).hash_extended_proc
    };
    if proc == pg_sys::InvalidOid {
        return Ok(None);
    }
    // jsonb's hash skips container boundaries (`[null, {}]` and `[null, {}, {}]` hash
    // alike): unequal keys would share an identity. jsonb keys, and arrays and
    // composites with jsonb inside, stay refused (no name is returned for them).
    let found = Spi::get_two_with_args::<String, String>(
        "SELECT CASE WHEN $3 OPERATOR(pg_catalog.<>) 3802::pg_catalog.oid \
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) $3 \
                                         AND t.typelem OPERATOR(pg_catalog.=) 3802::pg_catalog.oid) \
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t \
                                         JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.typrelid \
                                        WHERE t.oid OPERATOR(pg_catalog.=) $3 AND a.attnum OPERATOR(pg_catalog.>) 0 \
                                          AND a.atttypid OPERATOR(pg_catalog.=) ANY (ARRAY[3802, 3807]::pg_catalog.oid[])) \
                  THEN (SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) \
                          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace \
                         WHERE p.oid OPERATOR(pg_catalog.=) $1) END, \
                (SELECT pg_catalog.format(' COLLATE %I.%I', cn.nspname, c.collname) \
                   FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) c.collnamespace \
                  WHERE c.oid OPERATOR(pg_catalog.=) $2)",
        &[proc.into(), collation.into(), typid.into()],
    )?;
    Ok(found.0.map(|f| {
        format!(
            "{f}(($){}, 0::pg_catalog.int8)",
            found.1.unwrap_or_default()
        )
    }))
}

/// The constant LIMIT count and OFFSET of `q` (None: absent, ALL or NULL).
unsafe fn limit_constants(q: *mut pg_sys::Query) -> PgtResult<(Option<i64>, Option<i64>)> {
    let constant = |n: *mut pg_sys::Node| -> Option<Option<i64>> {
        if n.is_null() {
            return Some(None);
        }
        let n = pg_sys::eval_const_expressions(std::ptr::null_mut(), n);
        if (*n).type_ != pg_sys::NodeTag::T_Const {
            return None;
        }
        let c = n as *mut pg_sys::Const;
        if (*c).constisnull {
            return Some(None);
        }
        ((*c).consttype == pg_sys::INT8OID).then(|| Some((*c).constvalue.value() as i64))
    };
    match (constant((*q).limitCount), constant((*q).limitOffset)) {
        (Some(count), Some(offset)) => Ok((count, offset)),
        _ => Err(unsupported(
            "LIMIT/OFFSET with a value that is not a constant",
            "Only constant LIMIT and OFFSET values are maintained; use FULL.",
        )),
    }
}

unsafe fn expr_column(name: String, node: *mut pg_sys::Node) -> PgtResult<Column> {
    let (t, m, c) = (
        pg_sys::exprType(node),
        pg_sys::exprTypmod(node),
        pg_sys::exprCollation(node),
    );
    let (exact_equality, binary_identity, canonical) = column_properties(t, m, c)?;
    Ok(Column {
        name,
        type_sql: Deparser::type_name(t, m),
        exact_equality,
        binary_identity,
        canonical,
    })
}

impl Builder {
    unsafe fn query(&mut self, q: *mut pg_sys::Query) -> PgtResult<(OpTree, ())> {
        self.levels.push(q);
        // The outermost query's ORDER BY … LIMIT is maintained as a top-k (`top_k.rs`);
        // a LIMIT anywhere else is refused by `query_inner`.
        let r = match self.top_limit(q) {
            Ok(Some((limit, offset))) => {
                // ORDER BY expressions the query does not select become trailing output
                // columns, stored hidden (`TopK::sort_only`).
                let sort_only = select_sort_keys(q);
                self.query_inner(q)
                    .and_then(|tree| self.top_k(q, tree, limit, offset))
                    .map(|t| t.with_sort_only(sort_only))
            }
            Ok(None) => self.query_inner(q),
            Err(e) => Err(e),
        };
        self.levels.pop();
        r.map(|t| (t, ()))
    }

    /// For the outermost query with a LIMIT: its constant count and offset.
    unsafe fn top_limit(&mut self, q: *mut pg_sys::Query) -> PgtResult<Option<(i64, i64)>> {
        if self.levels.len() != 1 || (*q).limitCount.is_null() {
            return Ok(None);
        }
        let (count, offset) = limit_constants(q)?;
        let Some(count) = count else {
            return Ok(None); // LIMIT ALL: the OFFSET check in `query_inner` decides
        };
        if (*q).limitOption == pg_sys::LimitOption::LIMIT_OPTION_WITH_TIES {
            return Err(unsupported(
                "FETCH FIRST … WITH TIES",
                "Only a fixed number of rows is maintained; use LIMIT, or FULL.",
            ));
        }
        if (*q).sortClause.is_null() {
            return Err(unsupported(
                "LIMIT without ORDER BY",
                "Which rows such a query returns is not defined, so no refresh could keep them; add an ORDER BY, or use FULL.",
            ));
        }
        if count < 0 || offset.is_some_and(|o| o < 0) {
            return Err(unsupported(
                "a negative LIMIT or OFFSET",
                "The query itself fails with it.",
            ));
        }
        Ok(Some((count, offset.unwrap_or(0))))
    }

    /// Wraps the outermost query's tree (its SELECT list, then the ORDER BY expressions
    /// it does not select, as output columns) into a top-k by its ORDER BY.
    unsafe fn top_k(
        &mut self,
        q: *mut pg_sys::Query,
        tree: OpTree,
        limit: i64,
        offset: i64,
    ) -> PgtResult<OpTree> {
        let targets = PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList);
        let mut order = Vec::new();
        for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*q).sortClause).iter_ptr() {
            let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
            let column = targets
                .iter_ptr()
                .take_while(|t| !std::ptr::eq(*t, tle))
                .filter(|t| !(**t).resjunk)
                .count();
            let expr = (*tle).expr as *mut pg_sys::Node;
            let coll = pg_sys::exprCollation(expr);
            let collation = if coll == pg_sys::InvalidOid {
                None
            } else {
                Some(self.d.collation_name(coll)?)
            };
            order.push(pgt_dvm::operators::top_k::SortKey {
                column,
                operator: self.d.oper_name((*sgc).sortop)?,
                collation,
                nulls_first: (*sgc).nulls_first,
            });
        }
        Ok(OpTree::top_k(tree, order, limit, offset))
    }

    unsafe fn query_inner(&mut self, q: *mut pg_sys::Query) -> PgtResult<OpTree> {
        pgrx::check_for_interrupts!();
        if (*q).hasWindowFuncs && (*q).hasDistinctOn {
            return Err(unsupported(
                "DISTINCT ON with window functions",
                "Compute the window functions in a subquery and apply DISTINCT ON above it, or use FULL.",
            ));
        }
        if (*q).hasTargetSRFs {
            return Err(unsupported(
                "a set-returning function in the SELECT list",
                "Its output multiplicity is not maintained incrementally.",
            ));
        }
        // Subqueries: WHERE conjuncts become semi- and anti-joins (`sublink.rs`); anywhere
        // else the deparser refuses them with the construct named.
        if (*q).hasDistinctOn && ((*q).hasAggs || !(*q).groupClause.is_null()) {
            return Err(unsupported(
                "DISTINCT ON over GROUP BY or aggregates",
                "Group in a subquery and apply DISTINCT ON above it, or use FULL.",
            ));
        }
        // LIMIT ALL and OFFSET 0 change nothing.
        let noop_limit = |n: *mut pg_sys::Node, zero_ok: bool| -> bool {
            if n.is_null() {
                return true;
            }
            // `OFFSET 0` arrives as a cast of an int4 constant; fold it first.
            let n = pg_sys::eval_const_expressions(std::ptr::null_mut(), n);
            if (*n).type_ != pg_sys::NodeTag::T_Const {
                return false;
            }
            let c = n as *mut pg_sys::Const;
            if (*c).constisnull {
                return true; // LIMIT ALL is a NULL count; a NULL offset is no offset
            }
            zero_ok && (*c).consttype == pg_sys::INT8OID && (*c).constvalue.value() == 0
        };
        let top_k = self.levels.len() == 1 && !(*q).limitCount.is_null() && {
            let c = pg_sys::eval_const_expressions(std::ptr::null_mut(), (*q).limitCount);
            !((*c).type_ == pg_sys::NodeTag::T_Const && (*(c as *mut pg_sys::Const)).constisnull)
        };
        if !top_k && (!noop_limit((*q).limitCount, false) || !noop_limit((*q).limitOffset, true)) {
            return Err(unsupported(
                "LIMIT/OFFSET in a subquery, or OFFSET without LIMIT",
                "Only the outermost query's ORDER BY … LIMIT is maintained; move it to the top, or use FULL.",
            ));
        }
        if !(*q).setOperations.is_null() {
            let tree = self.setop(q, (*q).setOperations)?;
            return self.project(q, tree, &mut PositionResolver);
        }

        // FROM and WHERE.
        let from = PgList::<pg_sys::Node>::from_pg((*(*q).jointree).fromlist);
        if from.is_empty() {
            return Err(unsupported(
                "a query without a FROM clause",
                "There is nothing to maintain incrementally; use FULL.",
            ));
        }
        let quals = (*(*q).jointree).quals;
        let mut items = Vec::new();
        // Functions in FROM (`lateral.rs`) and correlated LATERAL subqueries
        // (`lateral_subquery.rs`) apply to the other items' rows, in their FROM order.
        let mut laterals = Vec::new();
        for item in from.iter_ptr() {
            if let Some(rt) = lateral::function_rte(q, item) {
                laterals.push((rt, false));
                continue;
            }
            if let Some(rt) = lateral_subquery::correlated_rte(q, item) {
                laterals.push((rt, true));
                continue;
            }
            items.push(self.translate_from_item(q, item)?);
        }
        if items.is_empty() {
            return Err(unsupported(
                "a FROM clause of functions only",
                "No table's changes describe how the result changes; use FULL.",
            ));
        }
        // The FROM list is a chain of cross joins and WHERE a filter per conjunct, exactly
        // as written; the rewrite layer turns them into inner joins (`filter_into_join`).
        let (mut tree, layout) = {
            let mut it = items.into_iter();
            let (mut tree, mut layout) = it.next().expect("non-empty FROM");
            for (right, rlayout) in it {
                let nl = tree.columns().len();
                for (rt, cols) in rlayout {
                    layout.insert(rt, cols.into_iter().map(|c| c.map(|i| i + nl)).collect());
                }
                tree = OpTree::join(tree, right, None);
            }
            (tree, layout)
        };
        let mut layout = layout;
        for (rt, subquery) in laterals {
            tree = if subquery {
                self.lateral_subquery(q, rt, tree, &mut layout, false, std::ptr::null_mut())?
            } else {
                self.lateral_function(q, rt, tree, &mut layout, false)?
            };
        }
        tree = self.join_scalar_subqueries(q, &mut layout, tree)?;
        tree = self.filters(q, &layout, tree, quals)?;
        if matches!(&self.restrict, Some((depth, _)) if *depth == self.levels.len()) {
            let (_, r) = self.restrict.take().expect("matched above");
            tree = self.restricted_to_keys(q, &layout, tree, r)?;
        }

        if (*q).hasDistinctOn {
            return self.distinct_on(q, tree, &layout);
        }

        // GROUP BY / aggregates / HAVING.
        if (*q).hasAggs || !(*q).groupClause.is_null() {
            let mut group_exprs = Vec::new();
            let mut group_by = Vec::new();
            let mut group_columns = Vec::new();
            let mut group_refs = Vec::new();
            for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*q).groupClause).iter_ptr() {
                group_refs.push((*sgc).tleSortGroupRef);
                let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
                let e = strip_group_var(q, (*tle).expr as *mut pg_sys::Node);
                group_exprs.push(e);
                group_by.push(self.d.expr(e, &mut FromResolver { q, layout: &layout })?);
                let name = if (*tle).resname.is_null() {
                    format!("g{}", group_by.len())
                } else {
                    CStr::from_ptr((*tle).resname)
                        .to_string_lossy()
                        .into_owned()
                };
                group_columns.push(expr_column(name, e)?);
            }
            let aggrefs = collect_nodes(&select_and_having(q), pg_sys::NodeTag::T_Aggref);
            let mut aggs = Vec::new();
            for a in &aggrefs {
                aggs.push(self.agg_call(q, *a as *mut pg_sys::Aggref, &layout)?);
            }
            let inputs_error_free = group_exprs.iter().all(|&e| error_free(e))
                && aggrefs.iter().all(|&a| {
                    let a = a as *mut pg_sys::Aggref;
                    error_free((*a).aggfilter as *mut pg_sys::Node)
                        && PgList::<pg_sys::TargetEntry>::from_pg((*a).args)
                            .iter_ptr()
                            .all(|t| error_free((*t).expr as *mut pg_sys::Node))
                });
            let groupings = collect_nodes(&select_and_having(q), pg_sys::NodeTag::T_GroupingFunc);
            let grouping_positions;
            if (*q).groupingSets.is_null() {
                tree = OpTree::aggregate(tree, group_by, group_columns, aggs)
                    .with_error_free_aggregate_input(inputs_error_free);
                grouping_positions = Vec::new();
            } else {
                // One grouping per set over the same (shared) input, under UNION ALL
                // (`grouping_sets.rs`): keys, aggregates, then each GROUPING(…) value.
                let (ng, na) = (group_by.len(), aggs.len());
                let input = self.share(tree);
                tree = grouping_sets::Grouped {
                    refs: &group_refs,
                    by: &group_by,
                    columns: &group_columns,
                    aggs: &aggs,
                    aggrefs: &aggrefs,
                    error_free: inputs_error_free,
                }
                .union_of_sets(q, input, &groupings)?;
                grouping_positions = groupings
                    .iter()
                    .enumerate()
                    .map(|(g, &f)| (f, ng + na + g))
                    .collect();
            }
            let (joined, scalars) = self.join_scalars_after_grouping(q, tree)?;
            tree = joined;
            let mut ar = AggResolver {
                q,
                group_exprs,
                aggrefs,
                scalars,
                groupings: grouping_positions,
            };
            if !(*q).havingQual.is_null() {
                let h = self.d.expr((*q).havingQual, &mut ar)?;
                tree = OpTree::filter(tree, h);
            }
            let out = self.project_windowed(q, tree, &mut ar)?;
            return self.distinct(q, out);
        }
        let out = self.project_windowed(q, tree, &mut FromResolver { q, layout: &layout })?;
        self.distinct(q, out)
    }

    /// `σ_{p₁}(σ_{p₂}(… tree))`, one filter per conjunct of `quals`, each with the column
    /// pair it equates (the rewrite layer moves them into joins and down to scans).
    unsafe fn filters(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &Layout,
        mut tree: OpTree,
        quals: *mut pg_sys::Node,
    ) -> PgtResult<OpTree> {
        let mut cs = Vec::new();
        conjuncts(quals, &mut cs);
        // Subquery tests go on top of the ordinary filters (`σ_p(A) ⋉ S = σ_p(A ⋉ S)`).
        let (subs, cs): (Vec<_>, Vec<_>) = cs
            .into_iter()
            .partition(|&c| sublink::as_sublink(c).is_some());
        for c in cs {
            let p = self.d.expr(c, &mut FromResolver { q, layout })?;
            let equi = equi_pair(q, layout, c).into_iter().collect();
            tree = OpTree::filter_equi(tree, p, equi).with_error_free(error_free(c));
        }
        for c in subs {
            let s = sublink::as_sublink(c).expect("partitioned above");
            tree = self.sublink_join(q, layout, tree, &s)?;
        }
        Ok(tree)
    }

    /// `SELECT DISTINCT ON (k…) e… FROM … ORDER BY k…, o…`: of each group of rows equal in
    /// `k`, the first by the ORDER BY. It is a grouping by `k` whose every output column is
    /// `(array_agg(e ORDER BY k…, o…, img))[1]`, maintained by recomputing the affected
    /// groups (`pgt_dvm::operators::aggregate`; below the top, `regroup.rs`). `img`, the
    /// binary image of the selected values, breaks ties the ORDER BY leaves, the same way
    /// in every column, so all columns come from one row: the row PostgreSQL would keep
    /// when the ORDER BY is total, and one of the tied rows (as PostgreSQL keeps one of
    /// them) when it is not.
    unsafe fn distinct_on(
        &mut self,
        q: *mut pg_sys::Query,
        tree: OpTree,
        layout: &Layout,
    ) -> PgtResult<OpTree> {
        let mut group_by = Vec::new();
        let mut group_columns = Vec::new();
        for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*q).distinctClause).iter_ptr() {
            let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
            let e = (*tle).expr as *mut pg_sys::Node;
            group_by.push(self.d.expr(e, &mut FromResolver { q, layout })?);
            group_columns.push(expr_column(format!("g{}", group_by.len()), e)?);
        }
        let (values, columns) = self.select_list(q, &mut FromResolver { q, layout })?;
        // ORDER BY k…, o… (the query's own sort operators and NULLS placement).
        let mut sort_keys = Vec::new();
        for sgc in PgList::<pg_sys::SortGroupClause>::from_pg((*q).sortClause).iter_ptr() {
            let tle = pg_sys::get_sortgroupclause_tle(sgc, (*q).targetList);
            sort_keys.push(self.sort_key(q, layout, tle, sgc)?);
        }
        Ok(pgt_dvm::frontend::distinct_on(
            tree,
            group_by,
            group_columns,
            &values,
            columns,
            sort_keys,
        )?)
    }

    unsafe fn distinct(&mut self, q: *mut pg_sys::Query, tree: OpTree) -> PgtResult<OpTree> {
        Ok(if (*q).distinctClause.is_null() {
            tree
        } else {
            OpTree::distinct(tree)
        })
    }

    /// `tree` as a shared subtree (read by several operators, differentiated once).
    fn share(&mut self, tree: OpTree) -> OpTree {
        let rc = Rc::new(tree);
        self.next_shared += 1;
        OpTree::shared(Rc::as_ptr(&rc) as usize, rc)
    }

    /// The SELECT list as a Project over `input`, with the level's window functions (if
    /// any) computed between them (`window.rs`).
    unsafe fn project_windowed(
        &mut self,
        q: *mut pg_sys::Query,
        input: OpTree,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<OpTree> {
        if !(*q).hasWindowFuncs {
            return self.project(q, input, r);
        }
        let (tree, funcs) = self.windows(q, input, r)?;
        self.project(q, tree, &mut window::WindowResolver { inner: r, funcs })
    }

    /// The SELECT list as a Project over `input`.
    unsafe fn project(
        &mut self,
        q: *mut pg_sys::Query,
        input: OpTree,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<OpTree> {
        let (exprs, columns) = self.select_list(q, r)?;
        Ok(OpTree::project(input, exprs, columns))
    }

    /// One sort key, `e USING OPERATOR(schema.op) NULLS FIRST|LAST`: the very sort operator
    /// and NULLS placement the analyzed query chose for `tle`.
    unsafe fn sort_key(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &Layout,
        tle: *mut pg_sys::TargetEntry,
        sgc: *mut pg_sys::SortGroupClause,
    ) -> PgtResult<Expr> {
        let mut key = self.d.expr(
            (*tle).expr as *mut pg_sys::Node,
            &mut FromResolver { q, layout },
        )?;
        let op = self.d.oper_name((*sgc).sortop)?;
        key.push_sql(&format!(
            " USING {op} NULLS {}",
            if (*sgc).nulls_first { "FIRST" } else { "LAST" }
        ));
        Ok(key)
    }

    /// The SELECT list's visible entries: each expression and its output column.
    unsafe fn select_list(
        &mut self,
        q: *mut pg_sys::Query,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<(Vec<Expr>, Vec<Column>)> {
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for tle in PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList).iter_ptr() {
            if (*tle).resjunk {
                continue;
            }
            let e = (*tle).expr as *mut pg_sys::Node;
            exprs.push(self.d.expr(e, r)?);
            let name = if (*tle).resname.is_null() {
                "?column?".to_string()
            } else {
                CStr::from_ptr((*tle).resname)
                    .to_string_lossy()
                    .into_owned()
            };
            columns.push(expr_column(name, e)?);
        }
        Ok((exprs, columns))
    }

    unsafe fn setop(
        &mut self,
        q: *mut pg_sys::Query,
        node: *mut pg_sys::Node,
    ) -> PgtResult<OpTree> {
        if (*node).type_ == pg_sys::NodeTag::T_RangeTblRef {
            let rte = rt_fetch(q, (*(node as *mut pg_sys::RangeTblRef)).rtindex);
            return Ok(self.query((*rte).subquery)?.0);
        }
        let s = node as *mut pg_sys::SetOperationStmt;
        let (op, all) = ((*s).op, (*s).all);
        let left = self.setop(q, (*s).larg)?;
        let right = self.setop(q, (*s).rarg)?;
        if op == pg_sys::SetOperation::SETOP_UNION {
            // UNION ALL concatenates; UNION is DISTINCT over the concatenation.
            let mut inputs = Vec::new();
            for side in [left, right] {
                match side {
                    OpTree::UnionAll(u) => inputs.extend(u.inputs),
                    other => inputs.push(other),
                }
            }
            let union = OpTree::union_all(inputs);
            return Ok(if all { union } else { OpTree::distinct(union) });
        }
        Ok(pgt_dvm::frontend::intersect_or_except(
            left,
            right,
            op == pg_sys::SetOperation::SETOP_INTERSECT,
            all,
        ))
    }

    unsafe fn translate_from_item(
        &mut self,
        q: *mut pg_sys::Query,
        node: *mut pg_sys::Node,
    ) -> PgtResult<(OpTree, Layout)> {
        pgrx::check_for_interrupts!();
        match (*node).type_ {
            pg_sys::NodeTag::T_RangeTblRef => {
                let index = (*(node as *mut pg_sys::RangeTblRef)).rtindex;
                let rte = rt_fetch(q, index);
                let (tree, cols) = self.range_entry(rte)?;
                Ok((tree, HashMap::from([(index, cols)])))
            }
            pg_sys::NodeTag::T_JoinExpr => {
                let j = node as *mut pg_sys::JoinExpr;
                use pgt_dvm::operators::outer_join::OuterKind;
                let outer = match (*j).jointype {
                    pg_sys::JoinType::JOIN_INNER => None,
                    pg_sys::JoinType::JOIN_LEFT => Some(OuterKind::Left),
                    pg_sys::JoinType::JOIN_RIGHT => Some(OuterKind::Right),
                    pg_sys::JoinType::JOIN_FULL => Some(OuterKind::Full),
                    other => {
                        return Err(unsupported(
                            &format!("the join type {other:?}"),
                            "It is not maintained incrementally.",
                        ))
                    }
                };
                if let Some(rt) = lateral::function_rte(q, (*j).rarg) {
                    // `A [LEFT] JOIN LATERAL f(…) ON p`: the call applied to A's rows.
                    let (left, mut layout) = self.translate_from_item(q, (*j).larg)?;
                    return match outer {
                        None => {
                            let tree = self.lateral_function(q, rt, left, &mut layout, false)?;
                            let tree = self.filters(q, &layout, tree, (*j).quals)?;
                            Ok((tree, layout))
                        }
                        Some(OuterKind::Left) if constant_true((*j).quals) => {
                            let tree = self.lateral_function(q, rt, left, &mut layout, true)?;
                            Ok((tree, layout))
                        }
                        Some(_) => Err(unsupported(
                            "a RIGHT or FULL join, or a LEFT join with an ON condition other than true, to a function",
                            "Only LEFT JOIN LATERAL f(…) ON true keeps the rows a call returns nothing for; filter in WHERE instead, or use FULL.",
                        )),
                    };
                }
                if let Some(rt) = lateral_subquery::correlated_rte(q, (*j).rarg) {
                    // `A [LEFT] JOIN LATERAL (S) s ON p` (PostgreSQL allows no other kind).
                    let (left, mut layout) = self.translate_from_item(q, (*j).larg)?;
                    let left_join = matches!(outer, Some(OuterKind::Left));
                    if outer.is_some() && !left_join {
                        return Err(unsupported(
                            "a RIGHT or FULL join to a LATERAL subquery",
                            "Only inner and LEFT joins may read the items before them.",
                        ));
                    }
                    let tree =
                        self.lateral_subquery(q, rt, left, &mut layout, left_join, (*j).quals)?;
                    return Ok((tree, layout));
                }
                let (left, mut layout) = self.translate_from_item(q, (*j).larg)?;
                let (right, rlayout) = self.translate_from_item(q, (*j).rarg)?;
                let nl = left.columns().len();
                for (rt, cols) in rlayout {
                    layout.insert(rt, cols.into_iter().map(|c| c.map(|i| i + nl)).collect());
                }
                if let Some(kind) = outer {
                    // The ON condition belongs to the outer join itself (a filter above it
                    // would drop the NULL-extended rows); its equated pairs become join keys.
                    let mut cs = Vec::new();
                    conjuncts((*j).quals, &mut cs);
                    let mut equi = Vec::new();
                    for &c in &cs {
                        if let Some((a, b)) = equi_pair(q, &layout, c) {
                            let pair = if a < nl && b >= nl {
                                Some((a, b - nl))
                            } else if b < nl && a >= nl {
                                Some((b, a - nl))
                            } else {
                                None
                            };
                            if let Some(p) = pair.filter(|p| !equi.contains(p)) {
                                equi.push(p);
                            }
                        }
                    }
                    let condition = if (*j).quals.is_null() {
                        None
                    } else {
                        Some(
                            self.d
                                .expr((*j).quals, &mut FromResolver { q, layout: &layout })?,
                        )
                    };
                    let error_free = error_free((*j).quals);
                    let tree = OpTree::outer_join(kind, left, right, condition, equi, error_free);
                    return Ok((tree, layout));
                }
                // `A JOIN B ON p` is `σ_p(A × B)` for an inner join.
                let tree = OpTree::join(left, right, None);
                let tree = self.filters(q, &layout, tree, (*j).quals)?;
                Ok((tree, layout))
            }
            other => Err(unsupported(
                &format!("the FROM item {other:?}"),
                "It is not maintained incrementally.",
            )),
        }
    }

    /// A FROM-clause relation, subquery or CTE reference; returns its tree and the position
    /// of each of its attribute numbers.
    unsafe fn range_entry(
        &mut self,
        rte: *mut pg_sys::RangeTblEntry,
    ) -> PgtResult<(OpTree, Vec<Option<usize>>)> {
        use pg_sys::RTEKind::*;
        match (*rte).rtekind {
            RTE_RELATION => self.scan(rte),
            RTE_SUBQUERY => {
                let (tree, _) = self.query((*rte).subquery)?;
                Ok(positional(tree, (*rte).subquery))
            }
            RTE_CTE => {
                let name = CStr::from_ptr((*rte).ctename)
                    .to_string_lossy()
                    .into_owned();
                let level = self.levels.len() - 1 - (*rte).ctelevelsup as usize;
                let owner = self.levels[level];
                let key = (owner as usize, name.clone());
                let cte = PgList::<pg_sys::CommonTableExpr>::from_pg((*owner).cteList)
                    .iter_ptr()
                    .find(|c| CStr::from_ptr((**c).ctename).to_string_lossy() == name)
                    .ok_or_else(|| unsupported("a CTE reference", "The CTE could not be found."))?;
                let cq = (*cte).ctequery as *mut pg_sys::Query;
                if (*rte).self_reference {
                    // Inside the recursive term: the previous iteration's rows.
                    let (id, columns) = self.recursions.get(&key).cloned().ok_or_else(|| {
                        unsupported("a recursive reference", "Its recursion could not be found.")
                    })?;
                    let wt = OpTree::WorkTable(pgt_dvm::operators::recursive::WorkTable { id, columns });
                    return Ok(positional(wt, cq));
                }
                let shared = match self.shared.get(&key) {
                    Some(s) => s.clone(),
                    None if (*cte).cterecursive => {
                        let s = Rc::new(self.recursive_cte(cte, level, key.clone())?);
                        self.shared.insert(key, s.clone());
                        s
                    }
                    None => {
                        // A CTE is translated in the context of the query that defines it.
                        let outer = self.levels[..=level].to_vec();
                        let saved = std::mem::replace(&mut self.levels, outer);
                        let r = self.query(cq);
                        self.levels = saved;
                        let s = Rc::new(r?.0);
                        self.shared.insert(key, s.clone());
                        s
                    }
                };
                self.next_shared += 1;
                let id = Rc::as_ptr(&shared) as usize;
                Ok(positional(OpTree::shared(id, shared), cq))
            }
            RTE_FUNCTION => Err(unsupported(
                "a function in FROM before the tables it is joined with",
                "A function is maintained as applied to the rows of the FROM items before it; write it after them (FROM t, LATERAL f(t.x)), or use FULL.",
            )),
            RTE_VALUES => self.values(rte),
            other => Err(unsupported(
                &format!("the range table entry kind {other:?}"),
                "It is not maintained incrementally.",
            )),
        }
    }

    /// `VALUES (…), …` in FROM: a constant relation.
    unsafe fn values(
        &mut self,
        rte: *mut pg_sys::RangeTblEntry,
    ) -> PgtResult<(OpTree, Vec<Option<usize>>)> {
        let types: Vec<pg_sys::Oid> = PgList::<pg_sys::Oid>::from_pg((*rte).coltypes)
            .iter_oid()
            .collect();
        let typmods: Vec<i32> = PgList::<i32>::from_pg((*rte).coltypmods)
            .iter_int()
            .collect();
        let colls: Vec<pg_sys::Oid> = PgList::<pg_sys::Oid>::from_pg((*rte).colcollations)
            .iter_oid()
            .collect();
        let mut columns = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let (m, c) = (
                typmods.get(i).copied().unwrap_or(-1),
                colls.get(i).copied().unwrap_or(pg_sys::Oid::INVALID),
            );
            let (exact_equality, binary_identity, canonical) = column_properties(*t, m, c)?;
            columns.push(Column {
                name: format!("column{}", i + 1),
                type_sql: Deparser::type_name(*t, m),
                exact_equality,
                binary_identity,
                canonical,
            });
        }
        let mut rows = Vec::new();
        for list in PgList::<pg_sys::List>::from_pg((*rte).values_lists).iter_ptr() {
            let mut row = Vec::with_capacity(types.len());
            for (i, e) in PgList::<pg_sys::Node>::from_pg(list).iter_ptr().enumerate() {
                let mut x = self.d.expr(
                    e,
                    &mut ConstantResolver {
                        construct: "a column reference inside VALUES",
                        reason: "VALUES rows in FROM must be constants (LATERAL references are not maintained).",
                    },
                )?;
                // The analyzer coerced each value to its column's type; a bare literal
                // would still be typed by its own look in VALUES, so say it.
                if pg_sys::exprType(e) != types[i]
                    || pg_sys::exprTypmod(e) != typmods.get(i).copied().unwrap_or(-1)
                {
                    let mut cast = Expr::sql("(");
                    cast.append(x);
                    cast.push_sql(&format!(")::{}", columns[i].type_sql));
                    x = cast;
                }
                row.push(x);
            }
            rows.push(row);
        }
        let positions = (0..types.len()).map(Some).collect();
        Ok((OpTree::values(columns, rows), positions))
    }

    unsafe fn scan(
        &mut self,
        rte: *mut pg_sys::RangeTblEntry,
    ) -> PgtResult<(OpTree, Vec<Option<usize>>)> {
        if !(*rte).tablesample.is_null() {
            return Err(unsupported(
                "TABLESAMPLE",
                "A sample is drawn anew by every evaluation, so no change of the source describes how it changes; use FULL.",
            ));
        }
        let relid = (*rte).relid;
        let SourceInfo {
            schema,
            name,
            kind,
            has_children,
            is_partition,
            reserved_column,
        } = Spi::connect(|c| -> PgtResult<SourceInfo> {
            let row = c
                .select(
                    "SELECT n.nspname::text, r.relname::text, r.relkind::text, r.relhassubclass, r.relispartition, \
                            (SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0 \
                                AND NOT a.attisdropped AND a.attname IN ('__pgt_change_id', '__pgt_xid', '__pgt_op') ORDER BY a.attnum LIMIT 1) \
                       FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = $1",
                    Some(1),
                    &[relid.into()],
                )?
                .first();
            Ok(SourceInfo {
                schema: row.get::<String>(1)?.unwrap_or_default(),
                name: row.get::<String>(2)?.unwrap_or_default(),
                kind: row.get::<String>(3)?.unwrap_or_default(),
                has_children: row.get::<bool>(4)?.unwrap_or(false),
                is_partition: row.get::<bool>(5)?.unwrap_or(false),
                reserved_column: row.get::<String>(6)?,
            })
        })?;
        let qualified = format!("{schema}.{name}");
        pgt_dvm::frontend::check_source(
            &qualified,
            kind.chars().next().unwrap_or('?'),
            (*rte).inh,
            has_children,
            is_partition,
            reserved_column.as_deref(),
        )?;
        if !self.sources.contains(&relid) {
            self.sources.push(relid);
        }
        let attrs = Spi::connect(|c| -> PgtResult<Vec<(i16, Column, Option<String>)>> {
            let mut out = Vec::new();
            for row in c.select(
                "SELECT a.attnum, a.attname::text, a.atttypid, a.atttypmod, a.attcollation, \
                        (SELECT pg_catalog.format('%I.%I', n.nspname, cl.collname) FROM pg_catalog.pg_collation cl \
                           JOIN pg_catalog.pg_namespace n ON n.oid = cl.collnamespace WHERE cl.oid = a.attcollation) \
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
                    AND a.attgenerated <> 'v' ORDER BY a.attnum",
                None,
                &[relid.into()],
            )? {
                let attnum = row.get::<i16>(1)?.unwrap_or_default();
                let name = row.get::<String>(2)?.unwrap_or_default();
                let declared = row.get::<pg_sys::Oid>(3)?.unwrap_or(pg_sys::Oid::INVALID);
                let mut typmod = row.get::<i32>(4)?.unwrap_or(-1);
                // Change buffers hold a domain column's base type (so capture never runs a
                // domain's CHECK code, ADR-074); the delta reads it as that type, and the
                // scan of the table itself casts it to that type too (a relabeling, no
                // check), so row identities hashed on either path agree.
                // SAFETY: getBaseTypeAndTypmod reads the type cache for a type that exists
                // (it is the type of a live column) and writes only through `typmod`.
                let typid = pg_sys::getBaseTypeAndTypmod(declared, &mut typmod);
                let coll = row.get::<pg_sys::Oid>(5)?.unwrap_or(pg_sys::Oid::INVALID);
                let type_sql = Deparser::type_name(typid, typmod);
                let read_as = (typid != declared).then(|| match row.get::<String>(6).ok().flatten() {
                    Some(c) => format!("{type_sql} COLLATE {c}"),
                    None => type_sql.clone(),
                });
                let (exact_equality, binary_identity, canonical) = column_properties(typid, typmod, coll)?;
                out.push((attnum, Column { name, type_sql, exact_equality, binary_identity, canonical }, read_as));
            }
            Ok(out)
        })?;
        let max_att = attrs.iter().map(|(a, _, _)| *a).max().unwrap_or(0) as usize;
        let mut positions = vec![None; max_att];
        let mut columns = Vec::with_capacity(attrs.len());
        let mut read_as = Vec::with_capacity(attrs.len());
        for (pos, (attnum, col, cast)) in attrs.into_iter().enumerate() {
            positions[attnum as usize - 1] = Some(pos);
            columns.push(col);
            read_as.push(cast);
        }
        // An immediate (non-deferrable) primary key makes the scanned rows unique.
        let pk = Spi::connect(|c| -> PgtResult<Option<String>> {
            let rows = c.select(
                "SELECT i.indkey::text FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indisprimary AND i.indimmediate",
                None,
                &[relid.into()],
            )?;
            match rows.into_iter().next() {
                Some(row) => Ok(row.get::<String>(1)?),
                None => Ok(None),
            }
        })?;
        let key = pk.and_then(|k| {
            k.split_whitespace()
                .map(|a| {
                    a.parse::<usize>()
                        .ok()
                        .and_then(|a| positions.get(a.checked_sub(1)?).copied().flatten())
                })
                .collect::<Option<Vec<usize>>>()
        });
        Ok((
            OpTree::scan_keyed(
                relid.to_u32(),
                QualifiedName::new(schema, name),
                columns,
                key,
            )
            .with_read_casts(read_as),
            positions,
        ))
    }

    unsafe fn agg_call(
        &mut self,
        q: *mut pg_sys::Query,
        a: *mut pg_sys::Aggref,
        layout: &Layout,
    ) -> PgtResult<AggCall> {
        if (*a).agglevelsup > 0 {
            return Err(unsupported(
                "an outer-level aggregate",
                "Aggregates must belong to their own query level.",
            ));
        }
        // Ordered-set and hypothetical-set aggregates (`percentile_cont(0.5) WITHIN GROUP
        // (ORDER BY x)`, `mode()`, `rank(3) WITHIN GROUP (…)`) are recomputed per affected
        // group like any other non-algebraic aggregate.
        let within_group = (*a).aggkind != b'n' as std::ffi::c_char;
        let name = self.d.func_name((*a).aggfnoid)?;
        let mut args = Vec::new();
        let mut arg_types = Vec::new();
        let tles: Vec<*mut pg_sys::TargetEntry> = PgList::<pg_sys::TargetEntry>::from_pg((*a).args)
            .iter_ptr()
            .collect();
        // Sort keys of `agg(x ORDER BY y)` that are not arguments come as resjunk entries.
        for &tle in tles.iter().filter(|t| !(***t).resjunk) {
            let e = (*tle).expr as *mut pg_sys::Node;
            // Whether each value's display scale depends on the data (numeric_scale.rs).
            let scale_varies = pg_sys::exprType(e) == pg_sys::NUMERICOID
                && numeric_scale::fixed_scale(q, e).is_none();
            arg_types.push((pg_sys::exprType(e), scale_varies));
            args.push(self.d.expr(e, &mut FromResolver { q, layout })?);
        }
        // `ORDER BY e USING OPERATOR(schema.op) NULLS FIRST|LAST`: the very sort operator
        // the analyzed query chose. Such aggregates are recomputed per affected group.
        let mut order = Expr::default();
        for (i, sgc) in PgList::<pg_sys::SortGroupClause>::from_pg((*a).aggorder)
            .iter_ptr()
            .enumerate()
        {
            let Some(&tle) = tles
                .iter()
                .find(|t| (***t).ressortgroupref == (*sgc).tleSortGroupRef)
            else {
                return Err(unsupported(
                    "an aggregate's ORDER BY",
                    "Its sort key could not be resolved.",
                ));
            };
            order.push_sql(if i == 0 { " ORDER BY " } else { ", " });
            order.append(self.sort_key(q, layout, tle, sgc)?);
        }
        let mut call = Expr::sql(format!("{name}("));
        if within_group {
            for (i, d) in PgList::<pg_sys::Node>::from_pg((*a).aggdirectargs)
                .iter_ptr()
                .enumerate()
            {
                if i > 0 {
                    call.push_sql(", ");
                }
                call.append(self.d.expr(d, &mut FromResolver { q, layout })?);
            }
            call.push_sql(") WITHIN GROUP (");
            call.append(order);
        } else if (*a).aggstar {
            call.push_sql("*");
        } else {
            if !(*a).aggdistinct.is_null() {
                call.push_sql("DISTINCT ");
            }
            for (i, e) in args.iter().enumerate() {
                if i > 0 {
                    call.push_sql(", ");
                }
                call.append(e.clone());
            }
            call.append(order);
        }
        call.push_sql(")");
        if !(*a).aggfilter.is_null() {
            call.push_sql(" FILTER (WHERE ");
            call.append(self.d.expr(
                (*a).aggfilter as *mut pg_sys::Node,
                &mut FromResolver { q, layout },
            )?);
            call.push_sql(")");
        }
        let plain = !within_group
            && (*a).aggdistinct.is_null()
            && (*a).aggfilter.is_null()
            && (*a).aggorder.is_null();
        let exact_num = |t: pg_sys::Oid| [20u32, 21, 23, 1700].contains(&t.to_u32());
        let (kind, tracks_scale) = match (plain, name.as_str(), args.len(), (*a).aggstar) {
            (true, "pg_catalog.count", 0, true) => (AggKind::CountStar, false),
            (true, "pg_catalog.count", 1, false) => (AggKind::Count, false),
            (true, "pg_catalog.sum", 1, _) if exact_num(arg_types[0].0) => {
                (AggKind::Sum, arg_types[0].1)
            }
            (true, "pg_catalog.avg", 1, _) if exact_num(arg_types[0].0) => {
                (AggKind::Avg, arg_types[0].1)
            }
            (true, "pg_catalog.min", 1, _) => (AggKind::Min, false),
            (true, "pg_catalog.max", 1, _) => (AggKind::Max, false),
            _ => (AggKind::Other, false),
        };
        let arg = if matches!(kind, AggKind::CountStar | AggKind::Other) {
            None
        } else {
            args.into_iter().next()
        };
        Ok(AggCall {
            kind,
            arg,
            call,
            result_type: Deparser::type_name((*a).aggtype, -1),
            tracks_scale,
        })
    }
}

/// `ON true` (or no condition).
unsafe fn constant_true(quals: *mut pg_sys::Node) -> bool {
    if quals.is_null() {
        return true;
    }
    let c = quals as *mut pg_sys::Const;
    (*quals).type_ == pg_sys::NodeTag::T_Const
        && !(*c).constisnull
        && (*c).consttype == pg_sys::BOOLOID
        && (*c).constvalue.value() != 0
}

/// A subquery or CTE's output columns are numbered by its non-junk target entries.
unsafe fn positional(tree: OpTree, q: *mut pg_sys::Query) -> (OpTree, Vec<Option<usize>>) {
    let mut positions = Vec::new();
    let mut next = 0;
    for tle in PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList).iter_ptr() {
        if (*tle).resjunk {
            positions.push(None);
        } else {
            positions.push(Some(next));
            next += 1;
        }
    }
    (tree, positions)
}
