//! Subqueries in WHERE conjuncts as semi- and anti-joins.
//!
//! A conjunct of a query level's WHERE that is `[NOT] EXISTS (…)`, `x [NOT] IN (…)`,
//! `x op ANY (…)` or `x op ALL (…)` keeps or drops each row by whether the subquery has a
//! matching row, so it becomes `A ⋉_θ B` or `A ▷_θ B` (`pgt_dvm::operators::semi_join`)
//! with `B` the subquery without its correlated WHERE conjuncts and `θ` those conjuncts
//! and the comparison, chosen so that SQL's three-valued logic is kept exactly (a row is
//! kept only where the predicate is TRUE):
//!
//! | predicate | join | θ (besides the correlated conjuncts) |
//! |---|---|---|
//! | `EXISTS (S)` / `NOT EXISTS (S)` | semi / anti | — |
//! | `x op ANY (S)`, `x IN (S)` | semi | `x op s` |
//! | `NOT (x op ANY (S))`, `x NOT IN (S)` | anti | `(x op s) IS NOT FALSE` |
//! | `x op ALL (S)` | anti | `(x op s) IS NOT TRUE` |
//! | `NOT (x op ALL (S))` | semi | `(x op s) IS FALSE` |
//!
//! So `x NOT IN (S)` keeps no row when `S` holds a NULL (every `x = NULL` is unknown), and
//! a NULL `x` only when `S` is empty. Uncorrelated one-row scalar subqueries are joined as
//! one-row inputs (below), correlated aggregate ones are decorrelated (`decorrelate.rs`);
//! `EXISTS` in the SELECT list or inside a WHERE expression (under OR, say) is a flag over
//! a semi-join and an anti-join (below); other subqueries (`IN`/`ANY`/`ALL` other than as
//! a WHERE conjunct, scalar subqueries that may return several rows) are refused by the
//! deparser with the construct named.

use pgrx::pg_sys;
use pgrx::PgList;
use pgt_dvm::{Column, Expr, OpTree};

use super::deparse::{ColumnResolver, Deparser};
use super::{conjuncts, unsupported, Builder, FromResolver, Layout};
use crate::error::PgtResult;

/// What a WHERE conjunct with a subquery asks for.
pub(super) struct SublinkConjunct {
    sublink: *mut pg_sys::SubLink,
    negated: bool,
}

/// The conjunct as a subquery test, if it is one this module translates.
pub(super) unsafe fn as_sublink(node: *mut pg_sys::Node) -> Option<SublinkConjunct> {
    use pg_sys::SubLinkType::*;
    let (node, negated) = match (*node).type_ {
        pg_sys::NodeTag::T_BoolExpr
            if (*(node as *mut pg_sys::BoolExpr)).boolop == pg_sys::BoolExprType::NOT_EXPR =>
        {
            let args = PgList::<pg_sys::Node>::from_pg((*(node as *mut pg_sys::BoolExpr)).args);
            (args.get_ptr(0)?, true)
        }
        _ => (node, false),
    };
    if (*node).type_ != pg_sys::NodeTag::T_SubLink {
        return None;
    }
    let s = node as *mut pg_sys::SubLink;
    matches!((*s).subLinkType, EXISTS_SUBLINK | ANY_SUBLINK | ALL_SUBLINK).then_some(
        SublinkConjunct {
            sublink: s,
            negated,
        },
    )
}

/// Resolves the pieces of θ: the outer query's columns (Vars one level up, as seen from
/// the subquery), the subquery's columns (its own Vars, appended to its SELECT list) and
/// its output columns (`PARAM_SUBLINK` parameters of the comparison).
struct SublinkResolver<'a> {
    outer: FromResolver<'a>,
    nl: usize,
    /// The subquery's own Vars read by correlated conjuncts, at positions `first_var..`.
    vars: Vec<*mut pg_sys::Var>,
    first_var: usize,
    /// Output position of each SELECT-list entry (by resno) of the subquery.
    resno_pos: Vec<(i16, usize)>,
    /// Rendering the comparison (`testexpr`), which belongs to the outer query: its own
    /// Vars are the outer query's.
    outer_level: bool,
}

impl ColumnResolver for SublinkResolver<'_> {
    unsafe fn substitute(
        &mut self,
        d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>> {
        match (*node).type_ {
            pg_sys::NodeTag::T_Var => {
                let v = node as *mut pg_sys::Var;
                if self.outer_level {
                    return self.outer.substitute(d, node);
                }
                match (*v).varlevelsup {
                    0 => {
                        let i = self
                            .vars
                            .iter()
                            .position(|w| pg_sys::equal(*w as *const _, v as *const _))
                            .ok_or_else(|| {
                                unsupported("a subquery column", "It could not be resolved.")
                            })?;
                        Ok(Some(Expr::col(self.nl + self.first_var + i)))
                    }
                    1 => {
                        let up = pg_sys::copyObjectImpl(v as *const _) as *mut pg_sys::Var;
                        (*up).varlevelsup = 0;
                        self.outer.substitute(d, up as *mut pg_sys::Node)
                    }
                    _ => Err(unsupported(
                        "a reference to a query two or more levels out",
                        "A subquery may only read its own FROM items and those of the query it filters.",
                    )),
                }
            }
            pg_sys::NodeTag::T_Param => {
                let p = node as *mut pg_sys::Param;
                if (*p).paramkind != pg_sys::ParamKind::PARAM_SUBLINK {
                    return Ok(None);
                }
                let pos = self
                    .resno_pos
                    .iter()
                    .find(|(r, _)| i32::from(*r) == (*p).paramid)
                    .map(|(_, pos)| *pos)
                    .ok_or_else(|| {
                        unsupported("a subquery output column", "It could not be resolved.")
                    })?;
                Ok(Some(Expr::col(self.nl + pos)))
            }
            _ => Ok(None),
        }
    }
}

/// The Vars of the subquery's own level in `node` (not descending into nested
/// subqueries, whose Vars belong to other levels).
unsafe fn own_vars(node: *mut pg_sys::Node) -> Vec<*mut pg_sys::Var> {
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, ctx: *mut std::ffi::c_void) -> bool {
        if node.is_null() {
            return false;
        }
        let out = &mut *(ctx as *mut Vec<*mut pg_sys::Var>);
        if (*node).type_ == pg_sys::NodeTag::T_Var {
            let v = node as *mut pg_sys::Var;
            if (*v).varlevelsup == 0 {
                out.push(v);
            }
            return false;
        }
        pg_sys::expression_tree_walker_impl(node, Some(walk), ctx)
    }
    let mut out: Vec<*mut pg_sys::Var> = Vec::new();
    walk(
        node,
        &mut out as *mut Vec<*mut pg_sys::Var> as *mut std::ffi::c_void,
    );
    out
}

fn wrapped(e: Expr, suffix: &str) -> Expr {
    let mut out = Expr::sql("((");
    out.append(e);
    out.push_sql(&format!(") {suffix})"));
    out
}

impl Builder {
    /// `tree ⋉_θ S` or `tree ▷_θ S` for the subquery test `c` of query `q` (whose FROM
    /// items `tree` computes, laid out as `layout`).
    pub(super) unsafe fn sublink_join(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &Layout,
        tree: OpTree,
        c: &SublinkConjunct,
    ) -> PgtResult<OpTree> {
        use pg_sys::SubLinkType::*;
        let s = c.sublink;
        let kind = (*s).subLinkType;
        let sq = (*s).subselect as *mut pg_sys::Query;
        if (*sq).commandType != pg_sys::CmdType::CMD_SELECT || !(*sq).utilityStmt.is_null() {
            return Err(unsupported(
                "this subquery",
                "Only SELECT subqueries are maintained.",
            ));
        }
        // The subquery's WHERE conjuncts that read the outer query become part of θ.
        let copy = pg_sys::copyObjectImpl(sq as *const _) as *mut pg_sys::Query;
        let mut cs = Vec::new();
        if !(*copy).jointree.is_null() {
            conjuncts((*(*copy).jointree).quals, &mut cs);
        }
        let (corr, local): (Vec<_>, Vec<_>) = cs
            .into_iter()
            .partition(|&n| pg_sys::contain_vars_of_level(n, 1));
        if !corr.is_empty() {
            if (*copy).hasAggs
                || !(*copy).groupClause.is_null()
                || !(*copy).havingQual.is_null()
                || !(*copy).distinctClause.is_null()
                || !(*copy).limitCount.is_null()
                || !(*copy).limitOffset.is_null()
                || !(*copy).setOperations.is_null()
                || (*copy).hasWindowFuncs
            {
                return Err(unsupported(
                    "a correlated subquery with aggregates, DISTINCT, LIMIT or set operations",
                    "Its correlated conditions cannot be moved out of it; join a grouped subquery instead, or use FULL.",
                ));
            }
            let mut list = PgList::<pg_sys::Node>::new();
            for n in &local {
                list.push(*n);
            }
            (*(*copy).jointree).quals = if local.is_empty() {
                std::ptr::null_mut()
            } else {
                pg_sys::make_ands_explicit(list.into_pg()) as *mut pg_sys::Node
            };
        }
        // The subquery's own columns the correlated conjuncts read are appended to its
        // SELECT list, so the subquery's tree yields them.
        let mut vars: Vec<*mut pg_sys::Var> = Vec::new();
        for &n in &corr {
            for v in own_vars(n) {
                if !vars
                    .iter()
                    .any(|w| pg_sys::equal(*w as *const _, v as *const _))
                {
                    vars.push(v);
                }
            }
        }
        let mut tlist = PgList::<pg_sys::TargetEntry>::from_pg((*copy).targetList);
        let mut resno_pos = Vec::new();
        let mut pos = 0usize;
        let mut max_resno = 0i16;
        for t in tlist.iter_ptr() {
            max_resno = max_resno.max((*t).resno);
            if !(*t).resjunk {
                resno_pos.push(((*t).resno, pos));
                pos += 1;
            }
        }
        let first_var = pos;
        for (i, v) in vars.iter().enumerate() {
            let name = std::ffi::CString::new(format!("__pgt_corr{i}")).expect("no NUL");
            let te = pg_sys::makeTargetEntry(
                pg_sys::copyObjectImpl(*v as *const _) as *mut pg_sys::Expr,
                max_resno + 1 + i as i16,
                pg_sys::pstrdup(name.as_ptr()),
                false,
            );
            tlist.push(te);
        }
        (*copy).targetList = tlist.into_pg();
        let (inner, _) = self.query(copy)?;
        let nl = tree.columns().len();
        let mut r = SublinkResolver {
            outer: FromResolver { q, layout },
            nl,
            vars,
            first_var,
            resno_pos,
            outer_level: false,
        };
        let mut parts = Vec::new();
        let mut equi = Vec::new();
        let mut pair_of = |d: &mut Deparser, r: &mut SublinkResolver<'_>, n: *mut pg_sys::Node| {
            if (*n).type_ != pg_sys::NodeTag::T_OpExpr {
                return Ok::<_, crate::error::PgtError>(());
            }
            let o = n as *mut pg_sys::OpExpr;
            let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*o).args)
                .iter_ptr()
                .collect();
            if args.len() != 2 || !pg_sys::op_mergejoinable((*o).opno, pg_sys::exprType(args[0])) {
                return Ok(());
            }
            let a = d.expr(args[0], r)?.as_column();
            let b = d.expr(args[1], r)?.as_column();
            if let (Some(a), Some(b)) = (a, b) {
                let p = match (a < nl, b < nl) {
                    (true, false) => Some((a, b - nl)),
                    (false, true) => Some((b, a - nl)),
                    _ => None,
                };
                if let Some(p) = p.filter(|p| !equi.contains(p)) {
                    equi.push(p);
                }
            }
            Ok(())
        };
        for &n in &corr {
            parts.push(self.d.expr(n, &mut r)?);
            pair_of(&mut self.d, &mut r, n)?;
        }
        r.outer_level = true;
        let anti = match (kind, c.negated) {
            (EXISTS_SUBLINK, neg) => neg,
            (ANY_SUBLINK, false) => {
                let t = (*s).testexpr;
                let mut tc = Vec::new();
                conjuncts(t, &mut tc);
                for n in tc {
                    pair_of(&mut self.d, &mut r, n)?;
                }
                parts.push(self.d.expr(t, &mut r)?);
                false
            }
            (ANY_SUBLINK, true) => {
                parts.push(wrapped(self.d.expr((*s).testexpr, &mut r)?, "IS NOT FALSE"));
                true
            }
            (ALL_SUBLINK, false) => {
                parts.push(wrapped(self.d.expr((*s).testexpr, &mut r)?, "IS NOT TRUE"));
                true
            }
            (ALL_SUBLINK, true) => {
                parts.push(wrapped(self.d.expr((*s).testexpr, &mut r)?, "IS FALSE"));
                false
            }
            (other, _) => {
                return Err(unsupported(
                    &format!("the subquery kind {other:?}"),
                    "It is not maintained incrementally.",
                ))
            }
        };
        let condition = match parts.len() {
            0 => Expr::sql("true"),
            _ => {
                let mut e = Expr::sql("(");
                for (i, p) in parts.into_iter().enumerate() {
                    if i > 0 {
                        e.push_sql(") AND (");
                    }
                    e.append(p);
                }
                e.push_sql(")");
                e
            }
        };
        Ok(OpTree::semi_join(anti, tree, inner, condition, equi, false))
    }
}

impl Builder {
    /// The tree of the single-row scalar subquery `s` (one column).
    unsafe fn scalar_subquery(&mut self, s: *mut pg_sys::SubLink) -> PgtResult<OpTree> {
        let (sub, _) = self.query((*s).subselect as *mut pg_sys::Query)?;
        if sub.columns().len() != 1 {
            return Err(unsupported(
                "a scalar subquery with several columns",
                "A scalar subquery yields one column.",
            ));
        }
        Ok(sub)
    }

    /// The single-row scalar subqueries of a grouped query's HAVING and SELECT list, each
    /// joined to the grouping's output as a one-row input (`γ(A) × S`: a change of the
    /// scalar re-evaluates every group against its old and new value, a change of a group
    /// only that group). Returns the output position of each, by parse location.
    pub(super) unsafe fn join_scalars_after_grouping(
        &mut self,
        q: *mut pg_sys::Query,
        mut tree: OpTree,
    ) -> PgtResult<(OpTree, Vec<(i32, usize)>)> {
        let mut found = Vec::new();
        scalar_sublinks((*q).havingQual, &mut found);
        scalar_sublinks((*q).targetList as *mut pg_sys::Node, &mut found);
        let mut positions: Vec<(i32, usize)> = Vec::new();
        for s in found {
            if positions.iter().any(|(l, _)| *l == (*s).location) {
                continue;
            }
            let sub = self.scalar_subquery(s)?;
            positions.push(((*s).location, tree.columns().len()));
            tree = OpTree::join(tree, sub, None);
        }
        Ok((tree, positions))
    }
}

/// The layout key of the scalar subquery at parse location `location` (negative, so it
/// never collides with a range-table index).
pub(super) fn scalar_key(location: i32) -> i32 {
    i32::MIN + location
}

/// A scalar subquery that is an aggregate without GROUP BY, HAVING, LIMIT/OFFSET, set
/// operations or set-returning functions: one row (per outer row, if correlated).
pub(super) unsafe fn aggregate_scalar(s: *mut pg_sys::SubLink) -> bool {
    let sq = (*s).subselect as *mut pg_sys::Query;
    (*s).subLinkType == pg_sys::SubLinkType::EXPR_SUBLINK
        && (*s).location >= 0
        && (*sq).commandType == pg_sys::CmdType::CMD_SELECT
        && (*sq).hasAggs
        && (*sq).groupClause.is_null()
        && (*sq).groupingSets.is_null()
        && (*sq).havingQual.is_null()
        && !(*sq).hasTargetSRFs
        && (*sq).setOperations.is_null()
        && (*sq).limitCount.is_null()
        && (*sq).limitOffset.is_null()
}

/// An uncorrelated aggregate scalar subquery: exactly one row.
unsafe fn single_row_scalar(s: *mut pg_sys::SubLink) -> bool {
    aggregate_scalar(s) && !pg_sys::contain_vars_of_level((*s).subselect, 1)
}

/// The subqueries in `node` (not inside other subqueries) for which `keep` holds,
/// appended to `out`.
pub(super) unsafe fn sublinks_where(
    node: *mut pg_sys::Node,
    keep: unsafe fn(*mut pg_sys::SubLink) -> bool,
    out: &mut Vec<*mut pg_sys::SubLink>,
) {
    struct Ctx<'a> {
        keep: unsafe fn(*mut pg_sys::SubLink) -> bool,
        out: &'a mut Vec<*mut pg_sys::SubLink>,
    }
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, ctx: *mut std::ffi::c_void) -> bool {
        if node.is_null() {
            return false;
        }
        let c = &mut *(ctx as *mut Ctx<'_>);
        if (*node).type_ == pg_sys::NodeTag::T_SubLink {
            let s = node as *mut pg_sys::SubLink;
            if (c.keep)(s) {
                c.out.push(s);
            }
            return false;
        }
        pg_sys::expression_tree_walker_impl(node, Some(walk), ctx)
    }
    let mut ctx = Ctx { keep, out };
    walk(node, &mut ctx as *mut Ctx<'_> as *mut std::ffi::c_void);
}

/// The single-row scalar subqueries in `node` (not inside other subqueries).
pub(super) unsafe fn scalar_sublinks(node: *mut pg_sys::Node, out: &mut Vec<*mut pg_sys::SubLink>) {
    sublinks_where(node, single_row_scalar, out);
}

impl Builder {
    /// Uncorrelated single-row scalar subqueries of `q`'s WHERE and SELECT list, each
    /// cross-joined to the FROM items as a one-row input (`A × S`, so a change of the
    /// scalar re-evaluates the rows against its old and new value), and registered in
    /// `layout` under [`scalar_key`] of its location, where the column resolver finds it.
    pub(super) unsafe fn join_scalar_subqueries(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &mut Layout,
        mut tree: OpTree,
    ) -> PgtResult<OpTree> {
        let mut found = Vec::new();
        scalar_sublinks((*(*q).jointree).quals, &mut found);
        // A grouped query's SELECT list is computed after the grouping: its scalar
        // subqueries are joined there (`Builder::join_scalars_after_grouping`).
        let grouped = (*q).hasAggs || !(*q).groupClause.is_null();
        if !grouped {
            scalar_sublinks((*q).targetList as *mut pg_sys::Node, &mut found);
        }
        for s in found {
            let key = scalar_key((*s).location);
            if layout.contains_key(&key) {
                continue;
            }
            let sub = self.scalar_subquery(s)?;
            let pos = tree.columns().len();
            tree = OpTree::join(tree, sub, None);
            layout.insert(key, vec![Some(pos)]);
        }
        tree = self.mark_exists_flags(q, layout, tree, grouped)?;
        // Correlated aggregate subqueries: decorrelated into joins with groupings.
        let mut where_conjuncts = Vec::new();
        conjuncts((*(*q).jointree).quals, &mut where_conjuncts);
        let mut found: Vec<(*mut pg_sys::SubLink, Option<*mut pg_sys::Node>)> = Vec::new();
        for c in where_conjuncts {
            for s in super::decorrelate::correlated_sublinks(c) {
                found.push((s, Some(c)));
            }
        }
        if !grouped {
            for s in super::decorrelate::correlated_sublinks((*q).targetList as *mut pg_sys::Node) {
                found.push((s, None));
            }
        }
        for (s, conjunct) in found {
            if layout.contains_key(&scalar_key((*s).location)) {
                continue;
            }
            tree = self.decorrelate(q, layout, tree, s, conjunct)?;
        }
        Ok(tree)
    }
}

/// An `EXISTS (…)` test (any subquery the semi-join accepts).
unsafe fn exists_test(s: *mut pg_sys::SubLink) -> bool {
    (*s).subLinkType == pg_sys::SubLinkType::EXISTS_SUBLINK && (*s).location >= 0
}

impl Builder {
    /// `EXISTS (S)` inside an expression as a flag: in the SELECT list (of a query level
    /// without grouping) or in a WHERE conjunct that is not itself a subquery test
    /// (`x > 30 OR EXISTS (…)`, the plan's E2). The rows of `A` with a match and those
    /// without, each with its constant,
    ///
    /// ```text
    /// (A ⋉_θ S) × {true}  ⊎  (A ▷_θ S) × {false}
    /// ```
    ///
    /// The two parts split `A` exactly (a row has a match or has none; `EXISTS` is never
    /// NULL), and each is maintained by the match-count rule: a row whose matches go to or
    /// from zero moves from one part to the other. Registered in `layout` under
    /// [`scalar_key`] of the subquery's location, like a scalar subquery.
    unsafe fn mark_exists_flags(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &mut Layout,
        mut tree: OpTree,
        grouped: bool,
    ) -> PgtResult<OpTree> {
        let mut found = Vec::new();
        let mut where_conjuncts = Vec::new();
        conjuncts((*(*q).jointree).quals, &mut where_conjuncts);
        for c in where_conjuncts {
            // A conjunct that is a subquery test is a semi- or anti-join of its own.
            if as_sublink(c).is_none() {
                sublinks_where(c, exists_test, &mut found);
            }
        }
        if !grouped {
            sublinks_where(
                (*q).targetList as *mut pg_sys::Node,
                exists_test,
                &mut found,
            );
        }
        for s in found {
            let key = scalar_key((*s).location);
            if layout.contains_key(&key) {
                continue;
            }
            let columns = tree.columns();
            let n = columns.len();
            let flag = Column {
                name: "__pgt_exists".into(),
                type_sql: "boolean".into(),
                exact_equality: true,
                binary_identity: true,
                canonical: None,
            };
            let mut out_columns = columns.clone();
            out_columns.push(flag);
            let part = |t: OpTree, value: &str| {
                let mut exprs: Vec<Expr> = (0..n).map(Expr::col).collect();
                exprs.push(Expr::sql(value));
                OpTree::project(t, exprs, out_columns.clone())
            };
            let matched = self.sublink_join(
                q,
                layout,
                tree.clone(),
                &SublinkConjunct {
                    sublink: s,
                    negated: false,
                },
            )?;
            let unmatched = self.sublink_join(
                q,
                layout,
                tree,
                &SublinkConjunct {
                    sublink: s,
                    negated: true,
                },
            )?;
            tree = OpTree::union_all(vec![part(matched, "true"), part(unmatched, "false")]);
            layout.insert(key, vec![Some(n)]);
        }
        Ok(tree)
    }
}
