//! Correlated aggregate scalar subqueries, decorrelated into a join with a grouping
//! (ADR-058).
//!
//! A scalar subquery `(SELECT f(aggs) FROM F WHERE L AND i₁ = o₁ AND … AND iₘ = oₘ)`, where
//! the `iⱼ` read only the subquery's FROM items, the `oⱼ` only the outer query's, each `=`
//! is the default equality of the `iⱼ`'s type and nothing else refers to the outer query,
//! yields for each outer row the aggregate over the subquery's rows in the group
//! `(i₁ … iₘ) = (o₁ … oₘ)`. So it is the grouping
//!
//! ```text
//! G = γ_{i₁…iₘ; f(aggs)}(σ_L(F))
//! ```
//!
//! joined to the outer rows on `oⱼ = G.iⱼ`: at most one group matches a row (the keys are
//! the grouping's, compared with the grouping's own equality), and a row without a group
//! sees the subquery over no rows, whose value `f(aggs over ∅)` is a constant (NULL for most
//! aggregates, 0 for `count`). Hence:
//!
//! - a LEFT JOIN, with `CASE WHEN G.i₁ IS NULL THEN f(∅) ELSE G.v END` when `f(∅)` is not
//!   NULL (a matched group's key is never NULL: it equalled the row's value);
//! - an inner join when `f(∅)` is NULL and the WHERE conjunct holding the subquery is not
//!   true for a NULL value (TPC-H Q2, Q17, Q20: `x < (SELECT 0.2 * avg(…) …)`): the rows
//!   without a group are filtered out either way.
//!
//! `G` is an aggregate below the top (`regroup.rs`), so a change recomputes only the
//! groups whose keys it touches, and the join reaches the outer rows through the keys.
//!
//! **Restricted to the outer keys.** When every `oⱼ` reads one table `r` of the outer
//! query and the outer WHERE has conditions `P_r` on `r` alone, only groups whose key some
//! row of `σ_{P_r}(r)` has can meet a result row, so the grouping's input is semi-joined
//! with those rows first (a "magic set"):
//!
//! ```text
//! G = γ_{i₁…iₘ; f(aggs)}(σ_L(F) ⋉_{i = o} σ_{P_r}(r))
//! ```
//!
//! A kept group keeps all its rows (the semi-join tests the key only), so its value is
//! unchanged; a dropped group only met outer rows that the WHERE removes anyway (with the
//! LEFT JOIN they would get the empty value, and are removed all the same). TPC-H Q17
//! groups the line items of the 0.1% of parts with the brand and container asked for, not
//! of all parts.

use std::ffi::c_void;

use pgrx::pg_sys;
use pgrx::{PgBox, PgList};
use pgt_dvm::operators::outer_join::OuterKind;
use pgt_dvm::{Expr, OpTree};

use super::deparse::Deparser;
use super::{conjuncts, sublink::scalar_key, unsupported, Builder, FromResolver, Layout};
use crate::error::PgtResult;

/// An aggregate scalar subquery correlated with the query it is in: no GROUP BY, HAVING,
/// DISTINCT, LIMIT, window functions, set operations or set-returning functions.
pub(super) unsafe fn correlated_aggregate(s: *mut pg_sys::SubLink) -> bool {
    let sq = (*s).subselect as *mut pg_sys::Query;
    super::sublink::aggregate_scalar(s)
        && (*sq).distinctClause.is_null()
        && !(*sq).hasWindowFuncs
        && pg_sys::contain_vars_of_level(sq as *mut pg_sys::Node, 1)
}

/// A scalar subquery correlated with the query it is in that reads one table and no
/// aggregate: `(SELECT e FROM t WHERE …)`, a look-up. It is decorrelated when its
/// correlated equalities cover a unique key of `t` (at most one row per outer row).
pub(super) unsafe fn correlated_lookup(s: *mut pg_sys::SubLink) -> bool {
    let sq = (*s).subselect as *mut pg_sys::Query;
    if (*s).subLinkType != pg_sys::SubLinkType::EXPR_SUBLINK
        || (*s).location < 0
        || (*sq).commandType != pg_sys::CmdType::CMD_SELECT
        || (*sq).hasAggs
        || (*sq).hasWindowFuncs
        || (*sq).hasTargetSRFs
        || !(*sq).groupClause.is_null()
        || !(*sq).groupingSets.is_null()
        || !(*sq).havingQual.is_null()
        || !(*sq).distinctClause.is_null()
        || !(*sq).setOperations.is_null()
        || !(*sq).limitCount.is_null()
        || !(*sq).limitOffset.is_null()
        || !(*sq).cteList.is_null()
        || (*sq).jointree.is_null()
        || !pg_sys::contain_vars_of_level(sq as *mut pg_sys::Node, 1)
    {
        return false;
    }
    let from = PgList::<pg_sys::Node>::from_pg((*(*sq).jointree).fromlist);
    match (from.len(), from.get_ptr(0)) {
        (1, Some(n)) if (*n).type_ == pg_sys::NodeTag::T_RangeTblRef => {
            let rte = super::rt_fetch(sq, (*(n as *mut pg_sys::RangeTblRef)).rtindex);
            (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION
        }
        _ => false,
    }
}

unsafe fn correlated_scalar(s: *mut pg_sys::SubLink) -> bool {
    correlated_aggregate(s) || correlated_lookup(s)
}

/// The correlated aggregate and look-up subqueries in `node` (not inside other
/// subqueries).
pub(super) unsafe fn correlated_sublinks(node: *mut pg_sys::Node) -> Vec<*mut pg_sys::SubLink> {
    let mut out = Vec::new();
    super::sublink::sublinks_where(node, correlated_scalar, &mut out);
    out
}

/// Whether the columns `attnos` of table `relid` include every column of one of its
/// unique indexes (non-partial, on plain columns, checked immediately, with the default
/// operator class and the column's own collation, so its uniqueness is that of the
/// default equality the correlated conditions use).
fn covers_unique_key(relid: pg_sys::Oid, attnos: &[i16]) -> PgtResult<bool> {
    Ok(pgrx::Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                 WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique AND i.indimmediate AND i.indisvalid \
                   AND i.indpred IS NULL AND i.indexprs IS NULL \
                   AND i.indkey::pg_catalog.int2[] OPERATOR(pg_catalog.<@) $2 \
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, i.indnkeyatts OPERATOR(pg_catalog.-) 1) AS k(n) \
                                     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
                                      AND a.attnum OPERATOR(pg_catalog.=) (i.indkey::pg_catalog.int2[])[k.n] \
                                     JOIN pg_catalog.pg_opclass c ON c.oid OPERATOR(pg_catalog.=) (i.indclass::pg_catalog.oid[])[k.n] \
                                    WHERE NOT c.opcdefault \
                                       OR (i.indcollation::pg_catalog.oid[])[k.n] OPERATOR(pg_catalog.<>) a.attcollation))",
        &[relid.into(), attnos.to_vec().into()],
    )?
    .unwrap_or(false))
}

/// `node` with every subtree for which `hit` holds replaced by a copy of `by`.
unsafe fn replace_where(
    node: *mut pg_sys::Node,
    hit: &dyn Fn(*mut pg_sys::Node) -> bool,
    by: *mut pg_sys::Node,
) -> *mut pg_sys::Node {
    struct Ctx<'a> {
        hit: &'a dyn Fn(*mut pg_sys::Node) -> bool,
        by: *mut pg_sys::Node,
    }
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn mutate(
        node: *mut pg_sys::Node,
        ctx: *mut c_void,
    ) -> *mut pg_sys::Node {
        if node.is_null() {
            return node;
        }
        let c = &*(ctx as *mut Ctx<'_>);
        if (c.hit)(node) {
            return pg_sys::copyObjectImpl(c.by as *const c_void) as *mut pg_sys::Node;
        }
        pg_sys::expression_tree_mutator_impl(node, Some(mutate), ctx)
    }
    let mut ctx = Ctx { hit, by };
    mutate(node, &mut ctx as *mut Ctx<'_> as *mut c_void)
}

/// `node` with each aggregate call replaced by its value over no rows; None when an
/// aggregate's empty value is not known (a user-defined aggregate with an initial state
/// or a final function).
pub(super) unsafe fn over_no_rows(
    d: &mut Deparser,
    node: *mut pg_sys::Node,
) -> PgtResult<Option<*mut pg_sys::Node>> {
    let aggs = super::collect_nodes(&[node], pg_sys::NodeTag::T_Aggref);
    let mut out = pg_sys::copyObjectImpl(node as *const c_void) as *mut pg_sys::Node;
    for a in aggs {
        let a = a as *mut pg_sys::Aggref;
        let kind = d.empty_aggregate_value((*a).aggfnoid)?;
        let value = match kind.as_str() {
            "zero" => pg_sys::makeConst(
                pg_sys::INT8OID,
                -1,
                pg_sys::InvalidOid,
                8,
                pg_sys::Datum::from(0i64),
                false,
                true,
            ) as *mut pg_sys::Node,
            "null" => pg_sys::makeNullConst((*a).aggtype, -1, (*a).aggcollid) as *mut pg_sys::Node,
            _ => return Ok(None),
        };
        out = replace_where(
            out,
            &|n| pg_sys::equal(n as *const c_void, a as *const c_void),
            value,
        );
    }
    Ok(Some(pg_sys::eval_const_expressions(
        std::ptr::null_mut(),
        out,
    )))
}

fn refused(reason: &str) -> crate::error::PgtError {
    unsupported("this correlated scalar subquery", reason)
}

/// The outer rows' keys a grouping is restricted to: one table of the outer query with
/// its own WHERE conditions, and per key the inner expression, the outer one (over that
/// table, in the outer query) and the equality.
pub(super) struct KeyRestriction {
    tree: OpTree,
    layout: Layout,
    outer_q: *mut pg_sys::Query,
    keys: Vec<(*mut pg_sys::Node, *mut pg_sys::Node, pg_sys::Oid)>,
}

/// Whether the WHERE conjunct `c` is a condition on range-table entry `rt` alone: it
/// reads no other entry, and any subquery in it is an uncorrelated EXISTS/IN/ANY/ALL
/// test (TPC-H Q20: `ps_partkey IN (SELECT p_partkey FROM part WHERE …)`).
unsafe fn restricts_only(c: *mut pg_sys::Node, rt: i32) -> bool {
    if super::single_relation(c) == Some(rt) {
        return true;
    }
    let Some(_) = super::sublink::as_sublink(c) else {
        return false;
    };
    let mut node = c;
    if (*node).type_ == pg_sys::NodeTag::T_BoolExpr {
        node = PgList::<pg_sys::Node>::from_pg((*(node as *mut pg_sys::BoolExpr)).args)
            .get_ptr(0)
            .unwrap_or(node);
    }
    let s = node as *mut pg_sys::SubLink;
    if pg_sys::contain_vars_of_level((*s).subselect, 1) {
        return false;
    }
    (*s).testexpr.is_null() || super::single_relation((*s).testexpr) == Some(rt)
}

/// One correlated condition `inner = outer`.
pub(super) struct KeyPair {
    pub(super) inner: *mut pg_sys::Node,
    /// As seen from the outer query (its Vars one level down).
    pub(super) outer: *mut pg_sys::Node,
    pub(super) eq: pg_sys::Oid,
}

impl KeyPair {
    /// A GROUP BY entry for target `sortgroupref` (the inner side), compared with the
    /// pair's equality (the type's default) and sorted by the type's `<`.
    pub(super) unsafe fn group_clause(&self, sortgroupref: u32) -> *mut pg_sys::SortGroupClause {
        let ty = pg_sys::exprType(self.inner);
        let tc = pg_sys::lookup_type_cache(ty, pg_sys::TYPECACHE_LT_OPR as i32);
        let mut g =
            PgBox::<pg_sys::SortGroupClause>::alloc_node(pg_sys::NodeTag::T_SortGroupClause);
        g.tleSortGroupRef = sortgroupref;
        g.eqop = self.eq;
        g.sortop = if tc.is_null() {
            pg_sys::InvalidOid
        } else {
            (*tc).lt_opr
        };
        g.nulls_first = false;
        g.hashable = pg_sys::op_hashjoinable(self.eq, ty);
        g.into_pg()
    }
}

/// Splits a correlated conjunct of a subquery (`what`, for errors) into its inner and
/// outer sides.
pub(super) unsafe fn key_pair(n: *mut pg_sys::Node, what: &str) -> PgtResult<KeyPair> {
    let refused = |reason: &str| unsupported(what, reason);
    let not_equality = || {
        refused("Its correlated conditions must be equalities between a column (or expression) of the subquery and one of the outer query; join a grouped subquery instead, or use FULL.")
    };
    if (*n).type_ != pg_sys::NodeTag::T_OpExpr {
        return Err(not_equality());
    }
    let o = n as *mut pg_sys::OpExpr;
    let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*o).args)
        .iter_ptr()
        .collect();
    if args.len() != 2 {
        return Err(not_equality());
    }
    let side = |a: *mut pg_sys::Node| -> (bool, bool) {
        (
            pg_sys::contain_vars_of_level(a, 0),
            pg_sys::contain_vars_of_level(a, 1),
        )
    };
    let (inner, outer) = match (side(args[0]), side(args[1])) {
        ((true, false), (false, true)) => (args[0], args[1]),
        ((false, true), (true, false)) => (args[1], args[0]),
        _ => return Err(not_equality()),
    };
    if pg_sys::contain_volatile_functions(inner) || pg_sys::contain_volatile_functions(outer) {
        return Err(not_equality());
    }
    let ty = pg_sys::exprType(inner);
    if !pg_sys::op_mergejoinable((*o).opno, ty) && !pg_sys::op_hashjoinable((*o).opno, ty) {
        return Err(not_equality());
    }
    let tc = pg_sys::lookup_type_cache(ty, pg_sys::TYPECACHE_EQ_OPR as i32);
    if tc.is_null() || (*tc).eq_opr != (*o).opno {
        return Err(refused("Its correlated equality is not the default equality of the subquery column's type, which the grouping would use; use FULL."));
    }
    let outer = pg_sys::copyObjectImpl(outer as *const c_void) as *mut pg_sys::Node;
    pg_sys::IncrementVarSublevelsUp(outer, -1, 1);
    Ok(KeyPair {
        inner,
        outer,
        eq: (*o).opno,
    })
}

/// Removes the correlated conjuncts from the WHERE clause of `q` (a copy of a subquery
/// of `what`) and returns them as key pairs; the other conjuncts stay.
pub(super) unsafe fn take_correlated_keys(
    q: *mut pg_sys::Query,
    what: &str,
) -> PgtResult<Vec<KeyPair>> {
    let mut cs = Vec::new();
    if !(*q).jointree.is_null() {
        conjuncts((*(*q).jointree).quals, &mut cs);
    }
    let (corr, local): (Vec<_>, Vec<_>) = cs
        .into_iter()
        .partition(|&n| pg_sys::contain_vars_of_level(n, 1));
    let pairs = corr
        .iter()
        .map(|&n| key_pair(n, what))
        .collect::<PgtResult<Vec<_>>>()?;
    if !(*q).jointree.is_null() {
        let mut list = PgList::<pg_sys::Node>::new();
        for n in &local {
            list.push(*n);
        }
        (*(*q).jointree).quals = if local.is_empty() {
            std::ptr::null_mut()
        } else {
            pg_sys::make_ands_explicit(list.into_pg()) as *mut pg_sys::Node
        };
    }
    Ok(pairs)
}

impl Builder {
    /// The restriction of a decorrelated grouping to the keys of one outer table with its
    /// own WHERE conditions (see the module doc), if the keys read one such table.
    unsafe fn key_restriction(
        &mut self,
        q: *mut pg_sys::Query,
        pairs: &[KeyPair],
    ) -> PgtResult<Option<KeyRestriction>> {
        let mut rel = None;
        for p in pairs {
            match (super::single_relation(p.outer), rel) {
                (Some(r), None) => rel = Some(r),
                (Some(r), Some(s)) if r == s => {}
                _ => return Ok(None),
            }
        }
        let Some(rt) = rel else { return Ok(None) };
        let rte = super::rt_fetch(q, rt);
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
            return Ok(None);
        }
        let mut cs = Vec::new();
        conjuncts((*(*q).jointree).quals, &mut cs);
        let own: Vec<*mut pg_sys::Node> = cs
            .into_iter()
            .filter(|&c| restricts_only(c, rt) && !pg_sys::contain_volatile_functions(c))
            .collect();
        if own.is_empty() {
            return Ok(None); // every row of the table: nothing to restrict by
        }
        let (tree, cols) = self.range_entry(rte)?;
        let layout: Layout = std::collections::HashMap::from([(rt, cols)]);
        let mut list = PgList::<pg_sys::Node>::new();
        for c in &own {
            list.push(*c);
        }
        let tree = self.filters(
            q,
            &layout,
            tree,
            pg_sys::make_ands_explicit(list.into_pg()) as *mut pg_sys::Node,
        )?;
        Ok(Some(KeyRestriction {
            tree,
            layout,
            outer_q: q,
            keys: pairs.iter().map(|p| (p.inner, p.outer, p.eq)).collect(),
        }))
    }

    /// `tree ⋉_{i = o} σ_{P_r}(r)`: the rows of the subquery level `q` (laid out as
    /// `layout`) whose keys some restricting row has.
    pub(super) unsafe fn restricted_to_keys(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &Layout,
        tree: OpTree,
        r: KeyRestriction,
    ) -> PgtResult<OpTree> {
        let nl = tree.columns().len();
        let shifted: Layout = r
            .layout
            .iter()
            .map(|(k, cols)| (*k, cols.iter().map(|c| c.map(|i| i + nl)).collect()))
            .collect();
        let mut condition = Expr::sql("(");
        let mut equi = Vec::new();
        let mut error_free = true;
        for (n, (inner, outer, eq)) in r.keys.iter().enumerate() {
            let i = self.d.expr(*inner, &mut FromResolver { q, layout })?;
            let o = self.d.expr(
                *outer,
                &mut FromResolver {
                    q: r.outer_q,
                    layout: &shifted,
                },
            )?;
            if let (Some(a), Some(b)) = (i.as_column(), o.as_column()) {
                equi.push((a, b - nl));
            }
            error_free &= super::error_free(*inner) && super::error_free(*outer);
            if n > 0 {
                condition.push_sql(") AND (");
            }
            condition.append(i);
            condition.push_sql(&format!(" {} ", self.d.oper_name(*eq)?));
            condition.append(o);
        }
        condition.push_sql(")");
        Ok(OpTree::semi_join(
            false, tree, r.tree, condition, equi, error_free,
        ))
    }

    /// Joins `tree` (the FROM items of `q`, laid out as `layout`) with the decorrelated
    /// form of the correlated subquery `s` and registers the subquery's value in `layout`.
    /// `conjunct` is the WHERE conjunct holding it (None: the SELECT list).
    pub(super) unsafe fn decorrelate(
        &mut self,
        q: *mut pg_sys::Query,
        layout: &mut Layout,
        tree: OpTree,
        s: *mut pg_sys::SubLink,
        conjunct: Option<*mut pg_sys::Node>,
    ) -> PgtResult<OpTree> {
        let copy = pg_sys::copyObjectImpl((*s).subselect as *const c_void) as *mut pg_sys::Query;
        let pairs = take_correlated_keys(copy, "this correlated scalar subquery")?;
        if pg_sys::contain_vars_of_level(copy as *mut pg_sys::Node, 1) {
            return Err(refused("It reads the outer query outside equalities of its WHERE clause (in its SELECT list, an aggregate's argument or FILTER, or its FROM items); join a grouped subquery instead, or use FULL."));
        }
        // A look-up (no aggregate) yields at most one row when its equalities pin a unique
        // key of its table. Otherwise PostgreSQL raises an error for an outer row with
        // several matches, where a plain join would duplicate the row: a single-match LEFT
        // JOIN then raises the same error.
        let lookup = !(*copy).hasAggs;
        let mut single_match = false;
        if lookup {
            let from = PgList::<pg_sys::Node>::from_pg((*(*copy).jointree).fromlist);
            let rt = from
                .get_ptr(0)
                .map(|n| (*(n as *mut pg_sys::RangeTblRef)).rtindex)
                .unwrap_or(0);
            let rte = super::rt_fetch(copy, rt);
            let mut attnos = Vec::new();
            for p in &pairs {
                let mut inner = p.inner;
                while (*inner).type_ == pg_sys::NodeTag::T_RelabelType {
                    inner = (*(inner as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
                }
                if (*inner).type_ == pg_sys::NodeTag::T_Var {
                    let v = inner as *mut pg_sys::Var;
                    if (*v).varno == rt && (*v).varlevelsup == 0 {
                        attnos.push((*v).varattno);
                    }
                }
            }
            single_match = !covers_unique_key((*rte).relid, &attnos)?;
        }
        // The value, then one grouped key per correlated equality.
        let targets = PgList::<pg_sys::TargetEntry>::from_pg((*copy).targetList);
        let value = targets
            .iter_ptr()
            .find(|t| !(**t).resjunk)
            .ok_or_else(|| refused("It has no output column."))?;
        let mut tlist = PgList::<pg_sys::TargetEntry>::new();
        (*value).resno = 1;
        (*value).ressortgroupref = 0;
        tlist.push(value);
        let mut groups = PgList::<pg_sys::SortGroupClause>::new();
        for (i, p) in pairs.iter().enumerate() {
            let name = std::ffi::CString::new(format!("__pgt_key{i}")).expect("no NUL");
            let te = pg_sys::makeTargetEntry(
                pg_sys::copyObjectImpl(p.inner as *const c_void) as *mut pg_sys::Expr,
                2 + i as i16,
                pg_sys::pstrdup(name.as_ptr()),
                false,
            );
            tlist.push(te);
            if lookup {
                // The rows themselves, with their keys: no grouping.
                continue;
            }
            (*te).ressortgroupref = 1 + i as u32;
            groups.push(p.group_clause(1 + i as u32));
        }
        (*copy).groupClause = groups.into_pg();
        (*copy).targetList = tlist.into_pg();
        (*copy).sortClause = std::ptr::null_mut();
        if !lookup {
            if let Some(r) = self.key_restriction(q, &pairs)? {
                self.restrict = Some((self.levels.len() + 1, r));
            }
        }
        let grouped = self.query(copy);
        self.restrict = None;
        let (grouped, _) = grouped?;

        // The join: each outer side equals the group's key.
        let nl = tree.columns().len();
        let mut condition = Expr::sql("(");
        let mut equi = Vec::new();
        for (i, p) in pairs.iter().enumerate() {
            let outer = self.d.expr(p.outer, &mut FromResolver { q, layout })?;
            if let Some(c) = outer.as_column() {
                equi.push((c, 1 + i));
            }
            if i > 0 {
                condition.push_sql(") AND (");
            }
            condition.append(outer);
            condition.push_sql(&format!(" {} ", self.d.oper_name(p.eq)?));
            condition.push_col(nl + 1 + i);
        }
        condition.push_sql(")");
        let condition_error_free = pairs
            .iter()
            .all(|p| super::error_free(p.outer) && super::error_free(p.inner));

        // The value over no rows decides the join (a look-up over no rows is NULL).
        let empty = if lookup {
            None
        } else {
            over_no_rows(&mut self.d, (*value).expr as *mut pg_sys::Node)?
        };
        let empty_is_null = lookup
            || matches!(empty, Some(e) if (*e).type_ == pg_sys::NodeTag::T_Const && (*(e as *mut pg_sys::Const)).constisnull);
        let rejects_null = conjunct.is_some_and(|c| {
            let null = pg_sys::makeNullConst(
                pg_sys::exprType(s as *mut pg_sys::Node),
                -1,
                pg_sys::InvalidOid,
            );
            let folded = pg_sys::eval_const_expressions(
                std::ptr::null_mut(),
                replace_where(
                    c,
                    &|n| {
                        (*n).type_ == pg_sys::NodeTag::T_SubLink
                            && (*(n as *mut pg_sys::SubLink)).location == (*s).location
                    },
                    null as *mut pg_sys::Node,
                ),
            );
            (*folded).type_ == pg_sys::NodeTag::T_Const && {
                let k = folded as *mut pg_sys::Const;
                (*k).constisnull || (*k).constvalue.value() == 0
            }
        });
        let key = scalar_key((*s).location);
        if empty_is_null && rejects_null && !single_match {
            layout.insert(key, vec![Some(nl)]);
            return Ok(OpTree::join_equi(tree, grouped, Some(condition), equi)
                .with_error_free_condition(condition_error_free));
        }
        let joined = OpTree::outer_join(
            OuterKind::Left,
            tree,
            grouped,
            Some(condition),
            equi,
            condition_error_free,
        );
        let joined = if single_match {
            joined.with_single_match()
        } else {
            joined
        };
        if empty_is_null {
            layout.insert(key, vec![Some(nl)]);
            return Ok(joined);
        }
        // Not NULL over no rows (count): a row without a group gets that value.
        let Some(empty) = empty else {
            return Err(refused(
                "It uses a user-defined aggregate whose value over no rows is not known; use FULL.",
            ));
        };
        let empty_sql = self.d.expr(
            empty,
            &mut super::ConstantResolver {
                construct: "a correlated subquery whose value over no rows reads a column",
                reason: "Rewrite it as a join with a grouped subquery, or use FULL.",
            },
        )?;
        let columns = joined.columns();
        let mut exprs: Vec<Expr> = (0..columns.len()).map(Expr::col).collect();
        let mut case = Expr::sql("(CASE WHEN ");
        case.push_col(nl + 1);
        case.push_sql(" IS NULL THEN ");
        case.append(empty_sql);
        case.push_sql(" ELSE ");
        case.push_col(nl);
        case.push_sql(" END)");
        exprs.push(case);
        let mut out_columns = columns.clone();
        let mut v = columns[nl].clone();
        v.name = "__pgt_scalar".into();
        out_columns.push(v);
        layout.insert(key, vec![Some(columns.len())]);
        Ok(OpTree::project(joined, exprs, out_columns))
    }
}
