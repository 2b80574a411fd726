//! Parse analysis of expressions: libpg_query's raw nodes → [`Node`]s, resolving column
//! names through the FROM clause's scope and operators, functions, aggregates and casts
//! through the catalog, as PostgreSQL's `transformExpr` does for the cases this frontend
//! accepts. Where PostgreSQL's choice needs more of its resolution rules than are
//! implemented here (implicit casts between columns, domains, polymorphic functions),
//! the construct is refused, never guessed.

use pg_query::protobuf::{self as pb, node::Node as N};

use crate::catalog::*;
use crate::node::{BoolKind, Node};
use crate::{unsupported, FrontendError, Result};

/// One column visible in a FROM item.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    pub name: String,
    pub pos: usize,
    pub ty: TypeRef,
    pub coll: u32,
    /// A column of a subquery in FROM.
    pub sub: bool,
    /// Named by a USING clause: unqualified, the name means the join's merged column.
    pub merged_away: bool,
}

/// A FROM item: its reference name and columns.
#[derive(Debug, Clone)]
pub struct Entry {
    pub refname: String,
    pub rel: usize,
    pub columns: Vec<ScopeColumn>,
}

/// The FROM items of one query level.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub entries: Vec<Entry>,
    /// The FROM items of the query a subquery filters (names not found here are looked
    /// up there, as correlated references).
    pub outer: Vec<Entry>,
}

impl Scope {
    /// Shifts every position by `n` (the item is joined to the right of `n` columns).
    pub fn shifted(mut self, n: usize) -> Scope {
        for e in &mut self.entries {
            for c in &mut e.columns {
                c.pos += n;
            }
        }
        self
    }

    pub fn column(&self, qualifier: Option<&str>, name: &str) -> Result<Node> {
        let local = match qualifier {
            Some(q) => self.entries.iter().any(|e| e.refname == q),
            None => self.has_column(name),
        };
        if !local && !self.outer.is_empty() {
            let outer = Scope {
                entries: self.outer.clone(),
                outer: Vec::new(),
            };
            return match outer.column(qualifier, name)? {
                Node::Var { pos, ty, coll, .. } => Ok(Node::OuterVar { pos, ty, coll }),
                other => Ok(other),
            };
        }
        let mut found = Vec::new();
        for e in &self.entries {
            if qualifier.is_some_and(|q| q != e.refname) {
                continue;
            }
            for c in &e.columns {
                if c.name == name && !(qualifier.is_none() && c.merged_away) {
                    found.push(Node::Var {
                        rel: e.rel,
                        pos: c.pos,
                        ty: c.ty,
                        coll: c.coll,
                        sub: c.sub,
                    });
                }
            }
        }
        let shown = match qualifier {
            Some(q) => format!("{q}.{name}"),
            None => name.to_string(),
        };
        match found.len() {
            1 => Ok(found.pop().expect("one")),
            0 => Err(FrontendError::Invalid(format!(
                "column {shown} does not exist"
            ))),
            _ => Err(FrontendError::Invalid(format!(
                "column reference {shown} is ambiguous"
            ))),
        }
    }

    /// The unqualified column `name`.
    pub fn unqualified(&self, name: &str) -> Result<Node> {
        self.column(None, name)
    }

    /// Whether an unqualified name is a column of some FROM item.
    pub fn has_column(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.columns.iter().any(|c| c.name == name && !c.merged_away))
    }

    /// Whether a USING join merged columns here (`*` would list them first).
    pub fn has_merged_columns(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.columns.iter().any(|c| c.merged_away))
    }
}

/// The text of a `String` node.
pub fn string(n: &pb::Node) -> Option<&str> {
    match &n.node {
        Some(N::String(s)) => Some(&s.sval),
        _ => None,
    }
}

/// Pseudo-types (`anyelement`, `anyarray`, …): polymorphic arguments.
fn is_pseudo(oid: u32) -> bool {
    matches!(oid, 2276..=2283 | 3500 | 3831 | 4537 | 4538 | 5077..=5080 | 2776 | 2249)
}

/// An ORDER BY item: its expression, whether descending, whether NULLs come first
/// (by default last ascending, first descending). `USING op` is refused.
pub fn sort_by(sb: &pb::SortBy) -> Result<(&pb::Node, bool, bool)> {
    let desc = match pb::SortByDir::try_from(sb.sortby_dir) {
        Ok(pb::SortByDir::SortbyDesc) => true,
        Ok(pb::SortByDir::SortbyDefault | pb::SortByDir::SortbyAsc) => false,
        _ => {
            return Err(unsupported(
                "ORDER BY … USING",
                "Translated by the extension's frontend only.",
            ))
        }
    };
    let nulls_first = match pb::SortByNulls::try_from(sb.sortby_nulls) {
        Ok(pb::SortByNulls::SortbyNullsFirst) => true,
        Ok(pb::SortByNulls::SortbyNullsLast) => false,
        _ => desc,
    };
    let e = sb
        .node
        .as_deref()
        .ok_or_else(|| FrontendError::Invalid("an empty ORDER BY item".into()))?;
    Ok((e, desc, nulls_first))
}

/// The name of the raw node kind, for messages.
pub fn kind_name(n: &pb::Node) -> String {
    match &n.node {
        Some(k) => {
            let d = format!("{k:?}");
            d.split('(').next().unwrap_or("node").to_string()
        }
        None => "an empty node".into(),
    }
}

pub struct Analyzer<'c, C: Catalog> {
    pub cat: &'c mut C,
    /// The subqueries met (their ids count on from `first_sublink`).
    pub sublinks: Vec<pb::SubLink>,
    pub first_sublink: usize,
    /// The types of the scalar subqueries translated already, by parse location.
    pub scalars: std::collections::HashMap<i32, (TypeRef, u32)>,
}

impl<'c, C: Catalog> Analyzer<'c, C> {
    pub fn new(cat: &'c mut C) -> Self {
        Analyzer {
            cat,
            sublinks: Vec::new(),
            first_sublink: 0,
            scalars: std::collections::HashMap::new(),
        }
    }
    /// Analyzes `n` over `scope`; aggregates are accepted when `aggs` is set (SELECT list
    /// and HAVING of a grouped level), without nesting.
    pub fn expr(&mut self, n: &pb::Node, scope: &Scope, aggs: bool) -> Result<Node> {
        let Some(node) = &n.node else {
            return Err(FrontendError::Invalid("an empty expression".into()));
        };
        match node {
            N::ColumnRef(c) => {
                let names: Vec<&str> = c.fields.iter().filter_map(string).collect();
                if names.len() != c.fields.len() {
                    return Err(unsupported(
                        "a whole-row or * reference in an expression",
                        "Name the columns explicitly.",
                    ));
                }
                match names.as_slice() {
                    [name] => scope.column(None, name),
                    [rel, name] => scope.column(Some(rel), name),
                    _ => Err(unsupported(
                        "a schema-qualified column reference",
                        "Qualify columns by their table's name or alias only.",
                    )),
                }
            }
            N::AConst(c) => self.constant(c),
            N::TypeCast(t) => {
                let arg = t
                    .arg
                    .as_deref()
                    .ok_or_else(|| FrontendError::Invalid("a cast without an argument".into()))?;
                let arg = self.expr(arg, scope, aggs)?;
                let target = self.type_name(t.type_name.as_ref())?;
                self.explicit_cast(arg, target)
            }
            N::AExpr(e) if e.kind == pb::AExprKind::AexprIn as i32 => self.in_list(e, scope, aggs),
            N::AExpr(e)
                if [
                    pb::AExprKind::AexprDistinct as i32,
                    pb::AExprKind::AexprNotDistinct as i32,
                    pb::AExprKind::AexprNullif as i32,
                ]
                .contains(&e.kind) =>
            {
                let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
                    return Err(FrontendError::Invalid("a comparison without two operands".into()));
                };
                let (l, r) = (self.expr(l, scope, aggs)?, self.expr(r, scope, aggs)?);
                let Node::Op { op, args, coll } = self.binary("=", l, r)? else {
                    return Err(FrontendError::Invalid("an equality that is not an operator".into()));
                };
                if op.result != BOOL {
                    return Err(FrontendError::Invalid("an equality that is not boolean".into()));
                }
                let _ = coll;
                if e.kind == pb::AExprKind::AexprNullif as i32 {
                    let coll = self.derive_collation(args[0].ty(), &[&args[0], &args[1]])?;
                    return Ok(Node::NullIf { op, args, coll });
                }
                let d = Node::Distinct { op, args };
                Ok(if e.kind == pb::AExprKind::AexprNotDistinct as i32 {
                    Node::Bool {
                        kind: BoolKind::Not,
                        args: vec![d],
                    }
                } else {
                    d
                })
            }
            N::CaseExpr(c) => self.case(c, scope, aggs),
            N::CollateClause(c) => {
                let arg = c
                    .arg
                    .as_deref()
                    .ok_or_else(|| FrontendError::Invalid("COLLATE without an argument".into()))?;
                let arg = self.expr(arg, scope, aggs)?;
                let arg = if arg.ty().oid == UNKNOWN {
                    self.typed_literal(arg, TypeRef::of(TEXT))?
                } else {
                    arg
                };
                if self.cat.type_info(arg.ty(), 0)?.collation == 0 {
                    return Err(FrontendError::Invalid("COLLATE on a type that is not collatable".into()));
                }
                let name: Vec<String> = c.collname.iter().filter_map(string).map(pgt_sql::quote_ident).collect();
                let (coll, coll_sql) = self.cat.collation_named(&name.join("."))?.ok_or_else(|| {
                    FrontendError::Invalid(format!("collation {} does not exist", name.join(".")))
                })?;
                Ok(Node::Collate {
                    arg: Box::new(arg),
                    coll,
                    coll_sql,
                })
            }
            N::AExpr(e) => {
                if e.kind != pb::AExprKind::AexprOp as i32 {
                    return Err(unsupported(
                        &format!(
                            "the expression kind {:?}",
                            pb::AExprKind::try_from(e.kind).unwrap_or(pb::AExprKind::Undefined)
                        ),
                        "The sidecar's frontend translates plain operators only (IN, LIKE, BETWEEN, IS DISTINCT FROM, … are the extension's).",
                    ));
                }
                let name = match e.name.as_slice() {
                    [one] => string(one).unwrap_or_default().to_string(),
                    _ => {
                        return Err(unsupported(
                            "OPERATOR(schema.op)",
                            "Qualified operators are translated by the extension's frontend only.",
                        ))
                    }
                };
                let right = self.expr(
                    e.rexpr
                        .as_deref()
                        .ok_or_else(|| FrontendError::Invalid("an operator without operand".into()))?,
                    scope,
                    aggs,
                )?;
                match e.lexpr.as_deref() {
                    Some(l) => {
                        let left = self.expr(l, scope, aggs)?;
                        self.binary(&name, left, right)
                    }
                    None => self.prefix(&name, right),
                }
            }
            N::BoolExpr(b) => {
                let kind = match pb::BoolExprType::try_from(b.boolop) {
                    Ok(pb::BoolExprType::AndExpr) => BoolKind::And,
                    Ok(pb::BoolExprType::OrExpr) => BoolKind::Or,
                    Ok(pb::BoolExprType::NotExpr) => BoolKind::Not,
                    _ => return Err(FrontendError::Invalid("an unknown boolean operator".into())),
                };
                let mut args = Vec::new();
                for a in &b.args {
                    let a = self.expr(a, scope, aggs)?;
                    args.push(self.to_bool(a)?);
                }
                Ok(Node::Bool { kind, args })
            }
            N::NullTest(t) => {
                let arg = self.expr(
                    t.arg
                        .as_deref()
                        .ok_or_else(|| FrontendError::Invalid("IS NULL without operand".into()))?,
                    scope,
                    aggs,
                )?;
                if arg.ty().oid == UNKNOWN {
                    return Err(unsupported(
                        "IS NULL of a literal",
                        "Translated by the extension's frontend only.",
                    ));
                }
                Ok(Node::NullTest {
                    arg: Box::new(arg),
                    is_null: t.nulltesttype == pb::NullTestType::IsNull as i32,
                })
            }
            N::FuncCall(f) => self.call(f, scope, aggs),
            N::SubLink(sl) if sl.sub_link_type == pb::SubLinkType::ExprSublink as i32 => {
                match self.scalars.get(&sl.location) {
                    Some(&(ty, coll)) => Ok(Node::Scalar {
                        location: sl.location,
                        ty,
                        coll,
                        pos: None,
                    }),
                    None => Err(unsupported(
                        "a scalar subquery that is not an uncorrelated aggregate",
                        "Only one-row aggregate subqueries without GROUP BY are joined here; the stream table is refreshed in full.",
                    )),
                }
            }
            N::SubLink(sl) => {
                if !matches!(
                    pb::SubLinkType::try_from(sl.sub_link_type),
                    Ok(pb::SubLinkType::ExistsSublink
                        | pb::SubLinkType::AnySublink
                        | pb::SubLinkType::AllSublink)
                ) {
                    return Err(unsupported(
                        "a scalar, ARRAY or row subquery",
                        "Subqueries are translated as WHERE conjuncts ([NOT] EXISTS, [NOT] IN, op ANY/ALL) only here; the stream table is refreshed in full.",
                    ));
                }
                let id = self.first_sublink + self.sublinks.len();
                self.sublinks.push((**sl).clone());
                Ok(Node::Sublink { id })
            }
            N::CoalesceExpr(c) => self.variadic("COALESCE", &c.args, scope, aggs),
            N::MinMaxExpr(m) => {
                let name = if m.op == pb::MinMaxOp::IsGreatest as i32 {
                    "GREATEST"
                } else {
                    "LEAST"
                };
                self.variadic(name, &m.args, scope, aggs)
            }
            _ => Err(unsupported(
                &format!("the expression node {}", kind_name(n)),
                "The sidecar's frontend does not translate it (the extension's does); the stream table is refreshed in full.",
            )),
        }
    }

    /// A searched CASE; its results' common type when every typed result already has
    /// it (untyped literals are read as it, all untyped: text).
    fn case(&mut self, c: &pb::CaseExpr, scope: &Scope, aggs: bool) -> Result<Node> {
        if c.arg.is_some() {
            return Err(unsupported(
                "a simple CASE (CASE x WHEN …)",
                "Translated by the extension's frontend only; write CASE WHEN x = … instead.",
            ));
        }
        let mut whens = Vec::new();
        for w in &c.args {
            let Some(N::CaseWhen(w)) = &w.node else {
                return Err(FrontendError::Invalid("a CASE branch".into()));
            };
            let (Some(cond), Some(res)) = (w.expr.as_deref(), w.result.as_deref()) else {
                return Err(FrontendError::Invalid(
                    "a CASE branch without condition or result".into(),
                ));
            };
            let cond = self.expr(cond, scope, aggs)?;
            let cond = self.to_bool(cond)?;
            whens.push((cond, self.expr(res, scope, aggs)?));
        }
        let default = match c.defresult.as_deref() {
            Some(d) => Some(self.expr(d, scope, aggs)?),
            None => None,
        };
        let mut types: Vec<u32> = whens
            .iter()
            .map(|(_, r)| r.ty().oid)
            .chain(default.iter().map(|d| d.ty().oid))
            .filter(|t| *t != UNKNOWN)
            .collect();
        types.dedup();
        let ty = match types.as_slice() {
            [] => TypeRef::of(TEXT),
            [t] => TypeRef::of(*t),
            _ => {
                return Err(unsupported(
                    "CASE with results of different types",
                    "Their common type is resolved by the extension's frontend only.",
                ))
            }
        };
        for (_, r) in &whens {
            self.plain_operand(r)?;
        }
        let mut typed = Vec::new();
        for (c, r) in whens {
            typed.push((c, self.typed_literal(r, ty)?));
        }
        let default = match default {
            Some(d) => self.typed_literal(d, ty)?,
            None => Node::Const { ty, value: None },
        };
        let refs: Vec<&Node> = typed
            .iter()
            .map(|(_, r)| r)
            .chain(std::iter::once(&default))
            .collect();
        let coll = self.derive_collation(ty, &refs)?;
        Ok(Node::Case {
            whens: typed,
            default: Box::new(default),
            ty,
            coll,
        })
    }

    /// `x IN (c₁, c₂, …)` / `x NOT IN (…)` over constants of `x`'s type: `x = ANY
    /// (ARRAY[…])` / `x <> ALL (ARRAY[…])`, as PostgreSQL builds it.
    fn in_list(&mut self, e: &pb::AExpr, scope: &Scope, aggs: bool) -> Result<Node> {
        let name = match e.name.as_slice() {
            [one] => string(one).unwrap_or_default().to_string(),
            _ => return Err(FrontendError::Invalid("an IN list operator".into())),
        };
        let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
            return Err(FrontendError::Invalid("IN without operands".into()));
        };
        let Some(N::List(list)) = &r.node else {
            return Err(FrontendError::Invalid("IN without a list".into()));
        };
        let lhs = self.expr(l, scope, aggs)?;
        self.plain_operand(&lhs)?;
        let mut items = Vec::new();
        for i in &list.items {
            items.push(self.expr(i, scope, aggs)?);
        }
        let refuse = || {
            unsupported(
                "an IN list of one value, of columns, or of values of other types",
                "Translated by the extension's frontend only.",
            )
        };
        if items.len() < 2 || items.iter().any(|i| !matches!(i, Node::Const { .. })) {
            return Err(refuse());
        }
        let ty = lhs.ty();
        if ty.oid == UNKNOWN
            || items
                .iter()
                .any(|i| i.ty().oid != UNKNOWN && i.ty().oid != ty.oid)
        {
            return Err(refuse());
        }
        let op = self
            .cat
            .operators(&name)?
            .into_iter()
            .find(|o| o.left == ty.oid && o.right == ty.oid && o.result == BOOL)
            .ok_or_else(refuse)?;
        let array_type = self.cat.array_type(ty.oid)?.ok_or_else(refuse)?;
        let mut typed = Vec::new();
        for i in items {
            typed.push(self.typed_literal(i, TypeRef::of(ty.oid))?);
        }
        Ok(Node::InList {
            op,
            any: name != "<>",
            lhs: Box::new(lhs),
            items: typed,
            array_type,
        })
    }

    fn constant(&mut self, c: &pb::AConst) -> Result<Node> {
        if c.isnull {
            return Ok(Node::Const {
                ty: TypeRef::of(UNKNOWN),
                value: None,
            });
        }
        use pb::a_const::Val;
        match &c.val {
            Some(Val::Ival(i)) => Ok(Node::Const {
                ty: TypeRef::of(INT4),
                value: Some(i.ival.to_string()),
            }),
            Some(Val::Fval(f)) => {
                // An integer too wide for int4 is int8 when it fits, numeric otherwise
                // (make_const).
                if let Ok(v) = f.fval.parse::<i64>() {
                    return Ok(Node::Const {
                        ty: TypeRef::of(INT8),
                        value: Some(v.to_string()),
                    });
                }
                let value = self.cat.constant(&f.fval, TypeRef::of(NUMERIC))?;
                Ok(Node::Const {
                    ty: TypeRef::of(NUMERIC),
                    value: Some(value),
                })
            }
            Some(Val::Sval(s)) => Ok(Node::Const {
                ty: TypeRef::of(UNKNOWN),
                value: Some(s.sval.clone()),
            }),
            Some(Val::Boolval(b)) => Ok(Node::Const {
                ty: TypeRef::of(BOOL),
                value: Some(if b.boolval { "t" } else { "f" }.into()),
            }),
            _ => Err(unsupported(
                "a bit-string literal",
                "Translated by the extension's frontend only.",
            )),
        }
    }

    fn type_name(&mut self, t: Option<&pb::TypeName>) -> Result<TypeRef> {
        let t = t.ok_or_else(|| FrontendError::Invalid("a cast without a type".into()))?;
        if !t.typmods.is_empty() || !t.array_bounds.is_empty() || t.setof || t.pct_type {
            return Err(unsupported(
                "a cast to a type with a modifier or array bounds",
                "Translated by the extension's frontend only.",
            ));
        }
        let parts: Vec<String> = t
            .names
            .iter()
            .filter_map(string)
            .map(pgt_sql::quote_ident)
            .collect();
        let name = parts.join(".");
        let oid = self
            .cat
            .type_named(&name)?
            .ok_or_else(|| FrontendError::Invalid(format!("type {name} does not exist")))?;
        Ok(TypeRef::of(oid))
    }

    /// The collation of a node of type `result` over `args` (collation derivation without
    /// COLLATE clauses: a column's collation beats the default one; two different ones
    /// are left to the extension's frontend).
    fn derive_collation(&mut self, result: TypeRef, args: &[&Node]) -> Result<u32> {
        let own = self.cat.type_info(result, 0)?.collation;
        if own == 0 {
            return Ok(0);
        }
        // An explicit COLLATE beats the columns' collations; two different ones conflict.
        let explicit: Vec<u32> = args
            .iter()
            .filter_map(|a| crate::node::explicit_collation(a))
            .collect();
        if let Some(&first) = explicit.first() {
            if explicit.iter().any(|c| *c != first) {
                return Err(FrontendError::Invalid(
                    "collation mismatch between explicit collations".into(),
                ));
            }
            return Ok(first);
        }
        let mut found: Option<u32> = None;
        let mut any = false;
        for a in args {
            let c = a.collation();
            if c == 0 {
                continue;
            }
            any = true;
            if c == DEFAULT_COLLATION {
                continue;
            }
            match found {
                Some(f) if f != c => {
                    return Err(unsupported(
                        "an expression over columns of different collations",
                        "Translated by the extension's frontend only.",
                    ))
                }
                _ => found = Some(c),
            }
        }
        Ok(found.unwrap_or(if any { DEFAULT_COLLATION } else { own }))
    }

    /// An unknown-type literal read as `ty` (its NULL as a NULL of `ty`).
    pub fn typed_literal(&mut self, node: Node, ty: TypeRef) -> Result<Node> {
        match node {
            Node::Const { ty: t, value } if t.oid == UNKNOWN => {
                let value = match value {
                    Some(v) => Some(self.cat.constant(&v, ty)?),
                    None => None,
                };
                Ok(Node::Const {
                    ty: TypeRef::of(ty.oid),
                    value,
                })
            }
            other => Ok(other),
        }
    }

    pub fn to_bool(&mut self, n: Node) -> Result<Node> {
        let n = self.typed_literal(n, TypeRef::of(BOOL))?;
        if n.ty().oid != BOOL {
            return Err(FrontendError::Invalid(
                "an argument of AND/OR/NOT is not boolean".into(),
            ));
        }
        Ok(n)
    }

    /// Refuses what operator resolution here leaves to the extension: domains.
    fn plain_operand(&mut self, n: &Node) -> Result<()> {
        if n.ty().oid != UNKNOWN && self.cat.type_info(n.ty(), 0)?.is_domain {
            return Err(unsupported(
                "an operator over a domain-typed value",
                "Translated by the extension's frontend only.",
            ));
        }
        Ok(())
    }

    /// `left = right` as a USING clause compares them.
    pub fn equality(&mut self, left: Node, right: Node) -> Result<Node> {
        self.binary("=", left, right)
    }

    /// `left name right`, resolved as an operator expression is.
    pub fn operator(&mut self, name: &str, left: Node, right: Node) -> Result<Node> {
        self.binary(name, left, right)
    }

    fn binary(&mut self, name: &str, left: Node, right: Node) -> Result<Node> {
        self.plain_operand(&left)?;
        self.plain_operand(&right)?;
        let ops: Vec<Operator> = self
            .cat
            .operators(name)?
            .into_iter()
            .filter(|o| o.left != 0)
            .collect();
        let (lt, rt) = (left.ty().oid, right.ty().oid);
        // An exact match, an unknown literal taking the other side's type
        // (binary_oper_exact).
        let (el, er) = match (lt == UNKNOWN, rt == UNKNOWN) {
            (true, true) => {
                return Err(unsupported(
                    "an operator between two untyped literals",
                    "Translated by the extension's frontend only.",
                ))
            }
            (true, false) => (rt, rt),
            (false, true) => (lt, lt),
            (false, false) => (lt, rt),
        };
        if let Some(op) = ops.iter().find(|o| o.left == el && o.right == er).cloned() {
            let l = self.typed_literal(left, TypeRef::of(op.left))?;
            let r = self.typed_literal(right, TypeRef::of(op.right))?;
            return self.make_op(op, vec![l, r]);
        }
        // Otherwise the operators both inputs can be implicitly cast to, and among them
        // the one with the most inputs of exactly its type (oper_select_candidate,
        // func_match_argtypes, func_select_candidate's first rule). Polymorphic operators
        // never match an input exactly, so leaving them out changes no unique winner; a
        // tie is left to the server's further rules, i.e. refused here.
        let no_match = || {
            unsupported(
                &format!("the operator {name} between types {lt} and {rt} without an exact match"),
                "Resolving it needs PostgreSQL's full rules for implicit casts, which only the extension's frontend applies.",
            )
        };
        let mut candidates: Vec<(Operator, Option<Cast>, Option<Cast>, usize)> = Vec::new();
        for o in &ops {
            if is_pseudo(o.left) || is_pseudo(o.right) {
                continue;
            }
            let Some(lc) = self.implicit(lt, o.left)? else {
                continue;
            };
            let Some(rc) = self.implicit(rt, o.right)? else {
                continue;
            };
            let exact = usize::from(lt == o.left) + usize::from(rt == o.right);
            candidates.push((o.clone(), lc.1, rc.1, exact));
        }
        let best = candidates.iter().map(|c| c.3).max().ok_or_else(no_match)?;
        if candidates.len() > 1 {
            candidates.retain(|c| c.3 == best);
        }
        if candidates.len() != 1 {
            return Err(no_match());
        }
        let (op, lc, rc, _) = candidates.pop().expect("one");
        let l = self.coerce(left, TypeRef::of(op.left), lc)?;
        let r = self.coerce(right, TypeRef::of(op.right), rc)?;
        self.make_op(op, vec![l, r])
    }

    /// Whether a value of type `from` is implicitly cast to `to`: `Some((true, None))`
    /// when nothing is done (the same type, or an untyped literal), `Some((_, cast))` for
    /// an implicit cast, `None` when there is none.
    fn implicit(&mut self, from: u32, to: u32) -> Result<Option<(bool, Option<Cast>)>> {
        if from == to || from == UNKNOWN {
            return Ok(Some((true, None)));
        }
        Ok(self
            .cat
            .cast(from, to)?
            .filter(|c| c.context == 'i')
            .map(|c| (false, Some(c))))
    }

    /// `node` as an input of type `ty`: an untyped literal read as it, an implicit cast.
    fn coerce(&mut self, node: Node, ty: TypeRef, cast: Option<Cast>) -> Result<Node> {
        match cast {
            None => self.typed_literal(node, ty),
            Some(c) => self.cast_node(node, ty, c.method),
        }
    }

    fn prefix(&mut self, name: &str, arg: Node) -> Result<Node> {
        self.plain_operand(&arg)?;
        let t = arg.ty().oid;
        let op = self
            .cat
            .operators(name)?
            .into_iter()
            .find(|o| o.left == 0 && o.right == t)
            .ok_or_else(|| {
                unsupported(
                    &format!("the prefix operator {name} without an exact match"),
                    "Translated by the extension's frontend only.",
                )
            })?;
        self.make_op(op, vec![arg])
    }

    fn make_op(&mut self, op: Operator, args: Vec<Node>) -> Result<Node> {
        let refs: Vec<&Node> = args.iter().collect();
        let coll = self.derive_collation(TypeRef::of(op.result), &refs)?;
        Ok(Node::Op { op, args, coll })
    }

    fn cast_node(&mut self, arg: Node, ty: TypeRef, method: CastMethod) -> Result<Node> {
        let coll = self.derive_collation(ty, &[&arg])?;
        Ok(Node::Cast {
            arg: Box::new(arg),
            ty,
            method,
            coll,
        })
    }

    /// `arg::target`.
    fn explicit_cast(&mut self, arg: Node, target: TypeRef) -> Result<Node> {
        if arg.ty().oid == UNKNOWN {
            return self.typed_literal(arg, target);
        }
        if arg.ty().oid == target.oid {
            return Ok(arg);
        }
        if self.cat.type_info(target, 0)?.is_domain || self.cat.type_info(arg.ty(), 0)?.is_domain {
            return Err(unsupported(
                "a cast to or from a domain",
                "Translated by the extension's frontend only.",
            ));
        }
        let cast = self.cat.cast(arg.ty().oid, target.oid)?.ok_or_else(|| {
            FrontendError::Invalid(format!(
                "cannot cast type {} to {}",
                arg.ty().oid,
                target.oid
            ))
        })?;
        self.cast_node(arg, target, cast.method)
    }

    /// COALESCE, GREATEST, LEAST: their arguments' common type, when every typed
    /// argument already has it (untyped literals are read as it); other mixtures need
    /// `select_common_type`'s rules and are left to the extension's frontend.
    fn variadic(
        &mut self,
        name: &'static str,
        raw: &[pb::Node],
        scope: &Scope,
        aggs: bool,
    ) -> Result<Node> {
        let mut args = Vec::new();
        for a in raw {
            let a = self.expr(a, scope, aggs)?;
            self.plain_operand(&a)?;
            args.push(a);
        }
        let types: Vec<u32> = args
            .iter()
            .map(|a| a.ty().oid)
            .filter(|t| *t != UNKNOWN)
            .collect();
        let Some(&ty) = types.first() else {
            return Err(unsupported(
                &format!("{name} of untyped literals only"),
                "Translated by the extension's frontend only.",
            ));
        };
        if types.iter().any(|t| *t != ty) {
            return Err(unsupported(
                &format!("{name} over arguments of different types"),
                "Translated by the extension's frontend only.",
            ));
        }
        if name != "COALESCE"
            && !self
                .cat
                .operators("<")?
                .iter()
                .any(|o| o.left == ty && o.right == ty && o.btree)
        {
            return Err(unsupported(
                &format!("{name} over a type without a default ordering here"),
                "Translated by the extension's frontend only.",
            ));
        }
        let mut typed = Vec::new();
        for a in args {
            typed.push(self.typed_literal(a, TypeRef::of(ty))?);
        }
        let refs: Vec<&Node> = typed.iter().collect();
        let coll = self.derive_collation(TypeRef::of(ty), &refs)?;
        Ok(Node::Variadic {
            name,
            args: typed,
            coll,
        })
    }

    fn call(&mut self, f: &pb::FuncCall, scope: &Scope, aggs: bool) -> Result<Node> {
        let name = match f.funcname.as_slice() {
            [one] => string(one).unwrap_or_default().to_string(),
            _ => {
                return Err(unsupported(
                    "a schema-qualified function call",
                    "Translated by the extension's frontend only.",
                ))
            }
        };
        if f.over.is_some() {
            return Err(unsupported(
                &format!("the window function {name}()"),
                "Translated by the extension's frontend only.",
            ));
        }
        if f.agg_within_group || f.func_variadic {
            return Err(unsupported(
                &format!("{name}() with WITHIN GROUP or VARIADIC"),
                "Translated by the extension's frontend only.",
            ));
        }
        let modified = f.agg_distinct || f.agg_filter.is_some() || !f.agg_order.is_empty();
        if f.agg_star {
            let agg = self
                .cat
                .aggregate(&name, None)?
                .ok_or_else(|| FrontendError::Invalid(format!("{name}(*) is not an aggregate")))?;
            return self.aggregate_call(agg, true, Vec::new(), f, scope, aggs);
        }
        // Aggregate arguments are analyzed without aggregates (no nesting).
        let mut args = Vec::new();
        for a in &f.args {
            if matches!(a.node, Some(N::NamedArgExpr(_))) {
                return Err(unsupported(
                    "a named argument",
                    "Translated by the extension's frontend only.",
                ));
            }
            args.push(self.expr(a, scope, false)?);
        }
        for a in &args {
            self.plain_operand(a)?;
        }
        if args.iter().any(|a| a.ty().oid == UNKNOWN) {
            // The one candidate taking every typed argument's type exactly (an untyped
            // literal matches any type): it has the most exact matches, which is
            // PostgreSQL's choice when it is the only one; more are left to PostgreSQL's
            // further rules (refused here).
            let fits = |declared: &[u32]| {
                declared.len() == args.len()
                    && args
                        .iter()
                        .zip(declared)
                        .all(|(a, d)| !is_pseudo(*d) && (a.ty().oid == UNKNOWN || a.ty().oid == *d))
            };
            let mut found = Vec::new();
            let mut all = 0;
            for aggregate in [true, false] {
                for (func, declared) in self.cat.candidates(&name, args.len(), aggregate)? {
                    all += 1;
                    if fits(&declared) {
                        found.push((func, declared, aggregate));
                    }
                }
            }
            // With no typed argument, no candidate has an exact match, and PostgreSQL
            // decides among all of them (polymorphic ones too) by type categories.
            let untyped_only = args.iter().all(|a| a.ty().oid == UNKNOWN);
            if found.len() != 1 || (untyped_only && all != 1) {
                return Err(unsupported(
                    &format!("{name}() with an untyped literal argument"),
                    "Its type is resolved by PostgreSQL's further rules, which only the extension's frontend applies.",
                ));
            }
            let (func, declared, aggregate) = found.pop().expect("one");
            let mut typed = Vec::new();
            for (a, d) in args.into_iter().zip(&declared) {
                typed.push(self.typed_literal(a, TypeRef::of(*d))?);
            }
            if aggregate {
                return self.aggregate_call(func, false, typed, f, scope, aggs);
            }
            if modified {
                return Err(FrontendError::Invalid(format!(
                    "DISTINCT, ORDER BY or FILTER given to {name}(), which is not an aggregate"
                )));
            }
            let refs: Vec<&Node> = typed.iter().collect();
            let coll = self.derive_collation(TypeRef::of(func.result), &refs)?;
            return Ok(Node::Func {
                func,
                args: typed,
                coll,
            });
        }
        let types: Vec<u32> = args.iter().map(|a| a.ty().oid).collect();
        if !args.is_empty() {
            if let Some(agg) = self.cat.aggregate(&name, Some(&types))? {
                return self.aggregate_call(agg, false, args, f, scope, aggs);
            }
        }
        if modified {
            return Err(unsupported(
                &format!("{name}() with DISTINCT, FILTER or ORDER BY"),
                "An aggregate of these argument types is not found without implicit casts here; translated by the extension's frontend only.",
            ));
        }
        let func = self.cat.function(&name, &types)?.ok_or_else(|| {
            unsupported(
                &format!("the function {name}() without an exact match for its argument types"),
                "Translated by the extension's frontend only.",
            )
        })?;
        let refs: Vec<&Node> = args.iter().collect();
        let coll = self.derive_collation(TypeRef::of(func.result), &refs)?;
        Ok(Node::Func { func, args, coll })
    }

    /// An aggregate call with its DISTINCT, ORDER BY (each key sorted by its type's
    /// default B-tree operator, as ORDER BY sorts) and FILTER.
    fn aggregate_call(
        &mut self,
        agg: Function,
        star: bool,
        args: Vec<Node>,
        f: &pb::FuncCall,
        scope: &Scope,
        aggs: bool,
    ) -> Result<Node> {
        if !aggs {
            return Err(FrontendError::Invalid(format!(
                "aggregate {} is not allowed here",
                agg.name_sql
            )));
        }
        let mut order = Vec::new();
        for item in &f.agg_order {
            let Some(N::SortBy(sb)) = &item.node else {
                return Err(FrontendError::Invalid(
                    "an aggregate's ORDER BY item".into(),
                ));
            };
            let (e, desc, nulls_first) = sort_by(sb)?;
            let e = self.expr(e, scope, false)?;
            let e = if e.ty().oid == UNKNOWN {
                self.typed_literal(e, TypeRef::of(TEXT))?
            } else {
                e
            };
            let op = self.cat.sort_operator(e.ty().oid, desc)?.ok_or_else(|| {
                unsupported(
                    "an aggregate's ORDER BY over a type without a default B-tree operator class of its own",
                    "Translated by the extension's frontend only.",
                )
            })?;
            order.push((e, op, nulls_first));
        }
        let filter = match f.agg_filter.as_deref() {
            Some(w) => {
                let w = self.expr(w, scope, false)?;
                Some(Box::new(self.to_bool(w)?))
            }
            None => None,
        };
        let refs: Vec<&Node> = args.iter().collect();
        let coll = self.derive_collation(TypeRef::of(agg.result), &refs)?;
        Ok(Node::Agg {
            agg,
            star,
            args,
            distinct: f.agg_distinct,
            order,
            filter,
            coll,
        })
    }
}
