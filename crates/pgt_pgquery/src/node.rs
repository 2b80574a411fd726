//! Analyzed expressions: what PostgreSQL's parse analysis makes of an expression (the
//! node kinds of `primnodes.h` this frontend produces), with every name resolved, every
//! type known and every implicit cast explicit. The extension's frontend reads the same
//! facts from the server's analyzed `Query`; the functions here mirror its helpers
//! (`conjuncts`, `error_free`, `equi_pair`, …) node kind for node kind, so both
//! frontends build the same tree.

use crate::catalog::{CastMethod, Function, Operator, TypeRef, BOOL, NUMERIC};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolKind {
    And,
    Or,
    Not,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A column of FROM item `rel`, at position `pos` of the FROM clause's output
    /// (`sub`: the item is a subquery).
    Var {
        rel: usize,
        pos: usize,
        ty: TypeRef,
        coll: u32,
        sub: bool,
    },
    /// A column of the query a subquery filters (one level out), at position `pos` of
    /// that query's FROM clause.
    OuterVar {
        pos: usize,
        ty: TypeRef,
        coll: u32,
    },
    /// A subquery test in WHERE (`EXISTS`, `IN`, `op ANY`, `op ALL`), the `id`-th met;
    /// translated by the builder as a semi- or anti-join.
    Sublink {
        id: usize,
    },
    /// An uncorrelated one-row (aggregate) scalar subquery, by its parse location; `pos`:
    /// the column it is joined as, once joined.
    Scalar {
        location: i32,
        ty: TypeRef,
        coll: u32,
        pos: Option<usize>,
    },
    /// The (first) output column of the subquery a comparison tests against.
    Param {
        ty: TypeRef,
        coll: u32,
    },
    /// A constant in its type's output form (`None`: NULL).
    Const {
        ty: TypeRef,
        value: Option<String>,
    },
    /// A binary (or prefix, one argument) operator.
    Op {
        op: Operator,
        args: Vec<Node>,
        coll: u32,
    },
    Bool {
        kind: BoolKind,
        args: Vec<Node>,
    },
    NullTest {
        arg: Box<Node>,
        is_null: bool,
    },
    /// A cast that changes the type (FuncExpr / RelabelType / CoerceViaIO).
    Cast {
        arg: Box<Node>,
        ty: TypeRef,
        method: CastMethod,
        coll: u32,
    },
    Func {
        func: Function,
        args: Vec<Node>,
        coll: u32,
    },
    /// `COALESCE(…)`, `GREATEST(…)`, `LEAST(…)` (`name`) over arguments of one type.
    Variadic {
        name: &'static str,
        args: Vec<Node>,
        coll: u32,
    },
    /// A searched `CASE WHEN c THEN r … ELSE d END` (`default`: NULL of the type when
    /// the query has no ELSE).
    Case {
        whens: Vec<(Node, Node)>,
        default: Box<Node>,
        ty: TypeRef,
        coll: u32,
    },
    /// `lhs op ANY (ARRAY[…])` (`any`) or `lhs op ALL (ARRAY[…])`: an IN list.
    InList {
        op: Operator,
        any: bool,
        lhs: Box<Node>,
        items: Vec<Node>,
        array_type: u32,
    },
    /// `a IS DISTINCT FROM b`, with the `=` operator of their types.
    Distinct {
        op: Operator,
        args: Vec<Node>,
    },
    /// `NULLIF(a, b)`, with the `=` operator of their types.
    NullIf {
        op: Operator,
        args: Vec<Node>,
        coll: u32,
    },
    /// `arg COLLATE coll` (`coll_sql`: its qualified name).
    Collate {
        arg: Box<Node>,
        coll: u32,
        coll_sql: String,
    },
    /// An aggregate call (`args` empty for `agg(*)`), with DISTINCT, its ORDER BY
    /// (expression, sort operator, NULLS FIRST) and FILTER.
    Agg {
        agg: Function,
        star: bool,
        args: Vec<Node>,
        distinct: bool,
        order: Vec<(Node, String, bool)>,
        filter: Option<Box<Node>>,
        coll: u32,
    },
}

impl Node {
    pub fn ty(&self) -> TypeRef {
        match self {
            Node::Var { ty, .. } | Node::Const { ty, .. } | Node::Cast { ty, .. } => *ty,
            Node::Variadic { args, .. } | Node::NullIf { args, .. } => args[0].ty(),
            Node::Case { ty, .. } => *ty,
            Node::Collate { arg, .. } => arg.ty(),
            Node::OuterVar { ty, .. } | Node::Param { ty, .. } | Node::Scalar { ty, .. } => *ty,
            Node::Sublink { .. } => TypeRef::of(BOOL),
            Node::InList { .. } | Node::Distinct { .. } => TypeRef::of(BOOL),
            Node::Op { op, .. } => TypeRef::of(op.result),
            Node::Bool { .. } | Node::NullTest { .. } => TypeRef::of(BOOL),
            Node::Func { func, .. } => TypeRef::of(func.result),
            Node::Agg { agg, .. } => TypeRef::of(agg.result),
        }
    }

    /// `exprCollation`.
    pub fn collation(&self) -> u32 {
        match self {
            Node::Var { coll, .. }
            | Node::Op { coll, .. }
            | Node::Cast { coll, .. }
            | Node::Func { coll, .. }
            | Node::Variadic { coll, .. }
            | Node::Case { coll, .. }
            | Node::NullIf { coll, .. }
            | Node::Collate { coll, .. }
            | Node::OuterVar { coll, .. }
            | Node::Param { coll, .. }
            | Node::Scalar { coll, .. }
            | Node::Agg { coll, .. } => *coll,
            Node::Const { .. }
            | Node::Bool { .. }
            | Node::NullTest { .. }
            | Node::InList { .. }
            | Node::Sublink { .. }
            | Node::Distinct { .. } => 0,
        }
    }

    pub fn children(&self) -> Vec<&Node> {
        match self {
            Node::Var { .. }
            | Node::Const { .. }
            | Node::OuterVar { .. }
            | Node::Sublink { .. }
            | Node::Scalar { .. }
            | Node::Param { .. } => Vec::new(),
            Node::Op { args, .. }
            | Node::Bool { args, .. }
            | Node::Func { args, .. }
            | Node::Variadic { args, .. }
            | Node::Distinct { args, .. }
            | Node::NullIf { args, .. } => args.iter().collect(),
            Node::Agg {
                args,
                order,
                filter,
                ..
            } => args
                .iter()
                .chain(order.iter().map(|(e, _, _)| e))
                .chain(filter.as_deref())
                .collect(),
            Node::Case { whens, default, .. } => whens
                .iter()
                .flat_map(|(w, r)| [w, r])
                .chain(std::iter::once(&**default))
                .collect(),
            Node::InList { lhs, items, .. } => std::iter::once(&**lhs).chain(items).collect(),
            Node::NullTest { arg, .. } | Node::Cast { arg, .. } | Node::Collate { arg, .. } => {
                vec![arg]
            }
        }
    }

    /// `contain_var_clause` (this level's columns only).
    pub fn contains_var(&self) -> bool {
        matches!(self, Node::Var { .. }) || self.children().into_iter().any(Node::contains_var)
    }

    /// This level's column references in walk order, each once (`own_vars`).
    pub fn own_vars(&self, out: &mut Vec<Node>) {
        if let Node::Var { .. } = self {
            if !out.contains(self) {
                out.push(self.clone());
            }
            return;
        }
        for c in self.children() {
            c.own_vars(out);
        }
    }

    /// `contain_volatile_functions`.
    pub fn volatile(&self) -> bool {
        let own = match self {
            Node::Op { op, .. }
            | Node::InList { op, .. }
            | Node::Distinct { op, .. }
            | Node::NullIf { op, .. } => op.func.volatility == 'v',
            Node::Func { func, .. } => func.volatility == 'v',
            Node::Cast {
                method: CastMethod::Function(f),
                ..
            } => f.volatility == 'v',
            Node::Agg { agg, .. } => agg.volatility == 'v',
            _ => false,
        };
        own || self.children().into_iter().any(Node::volatile)
    }

    /// The distinct (by equality) aggregate calls in `self`, in walk order, without looking
    /// inside them (`collect_nodes(…, T_Aggref)`).
    pub fn collect_aggs(&self, out: &mut Vec<Node>) {
        if let Node::Agg { .. } = self {
            if !out.contains(self) {
                out.push(self.clone());
            }
            return;
        }
        for c in self.children() {
            c.collect_aggs(out);
        }
    }

    fn rels(&self, out: &mut Vec<usize>) {
        if let Node::Var { rel, .. } = self {
            if !out.contains(rel) {
                out.push(*rel);
            }
        }
        for c in self.children() {
            c.rels(out);
        }
    }
}

/// The collation `node` has by an explicit COLLATE clause in it (which beats the
/// collations of columns), if any.
pub fn explicit_collation(node: &Node) -> Option<u32> {
    match node {
        Node::Collate { coll, .. } => Some(*coll),
        Node::Var { .. } | Node::Const { .. } | Node::Agg { .. } => None,
        _ if node.collation() != 0 => node.children().into_iter().find_map(explicit_collation),
        _ => None,
    }
}

/// Whether `node` reads the query one level out (a correlated condition).
pub fn is_correlated(node: &Node) -> bool {
    matches!(node, Node::OuterVar { .. }) || node.children().into_iter().any(is_correlated)
}

fn has_sublink(node: &Node) -> bool {
    matches!(
        node,
        Node::Sublink { .. } | Node::OuterVar { .. } | Node::Scalar { .. }
    ) || node.children().into_iter().any(has_sublink)
}

/// Whether `node` has a scalar subquery.
pub fn has_scalar(node: &Node) -> bool {
    matches!(node, Node::Scalar { .. }) || node.children().into_iter().any(has_scalar)
}

/// `checkExprHasSubLink`.
fn has_subquery(node: &Node) -> bool {
    matches!(node, Node::Sublink { .. } | Node::Scalar { .. })
        || node.children().into_iter().any(has_subquery)
}

impl Node {
    /// The same expression with each joined scalar subquery's column set.
    pub fn with_scalar_positions(&self, at: &std::collections::HashMap<i32, usize>) -> Node {
        let mut n = self.clone();
        n.set_scalar_positions(at);
        n
    }

    fn set_scalar_positions(&mut self, at: &std::collections::HashMap<i32, usize>) {
        match self {
            Node::Scalar { location, pos, .. } => {
                if let Some(p) = at.get(location) {
                    *pos = Some(*p);
                }
            }
            Node::Op { args, .. }
            | Node::Bool { args, .. }
            | Node::Func { args, .. }
            | Node::Variadic { args, .. }
            | Node::Distinct { args, .. }
            | Node::NullIf { args, .. } => args.iter_mut().for_each(|a| a.set_scalar_positions(at)),
            Node::Agg {
                args,
                order,
                filter,
                ..
            } => {
                args.iter_mut().for_each(|a| a.set_scalar_positions(at));
                order
                    .iter_mut()
                    .for_each(|(e, _, _)| e.set_scalar_positions(at));
                if let Some(f) = filter {
                    f.set_scalar_positions(at);
                }
            }
            Node::Case { whens, default, .. } => {
                for (w, r) in whens {
                    w.set_scalar_positions(at);
                    r.set_scalar_positions(at);
                }
                default.set_scalar_positions(at);
            }
            Node::InList { lhs, items, .. } => {
                lhs.set_scalar_positions(at);
                items.iter_mut().for_each(|a| a.set_scalar_positions(at));
            }
            Node::NullTest { arg, .. } | Node::Cast { arg, .. } | Node::Collate { arg, .. } => {
                arg.set_scalar_positions(at)
            }
            Node::Var { .. }
            | Node::Const { .. }
            | Node::OuterVar { .. }
            | Node::Sublink { .. }
            | Node::Param { .. } => {}
        }
    }

    /// The scalar subqueries' locations in walk order.
    pub fn scalar_locations(&self, out: &mut Vec<i32>) {
        if let Node::Scalar { location, .. } = self {
            out.push(*location);
            return;
        }
        for c in self.children() {
            c.scalar_locations(out);
        }
    }
}

/// The FROM item all of `node`'s columns come from, when there is exactly one (none
/// when it has a subquery or reads an outer query).
pub fn single_relation(node: &Node) -> Option<usize> {
    if has_sublink(node) {
        return None;
    }
    let mut rels = Vec::new();
    node.rels(&mut rels);
    match rels.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The AND-ed conjuncts of `node`, nested ANDs flattened; an OR also contributes the
/// conjuncts common to all its arms and the condition it implies per FROM item.
pub fn conjuncts(node: &Node, out: &mut Vec<Node>) {
    if let Node::Bool {
        kind: BoolKind::And,
        args,
    } = node
    {
        for a in args {
            conjuncts(a, out);
        }
    } else {
        out.extend(common_to_every_arm(node));
        out.extend(implied_per_relation(node));
        out.push(node.clone());
    }
}

fn or_arms(node: &Node) -> Option<Vec<Vec<Node>>> {
    match node {
        Node::Bool {
            kind: BoolKind::Or,
            args,
        } => Some(
            args.iter()
                .map(|a| {
                    let mut cs = Vec::new();
                    conjuncts(a, &mut cs);
                    cs
                })
                .collect(),
        ),
        _ => None,
    }
}

/// `(A ∧ X) ∨ (A ∧ Y)` implies `A`.
fn common_to_every_arm(node: &Node) -> Vec<Node> {
    let Some(arms) = or_arms(node) else {
        return Vec::new();
    };
    let Some((first, rest)) = arms.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|c| !c.volatile())
        .filter(|c| rest.iter().all(|arm| arm.contains(c)))
        .cloned()
        .collect()
}

/// `(A₁ ∧ B₁) ∨ (A₂ ∧ B₂)` implies `A₁ ∨ A₂` when the `Aᵢ` read only one FROM item.
fn implied_per_relation(node: &Node) -> Vec<Node> {
    if node.volatile() {
        return Vec::new();
    }
    let Some(arms) = or_arms(node) else {
        return Vec::new();
    };
    let arms: Vec<Vec<(Option<usize>, Node)>> = arms
        .into_iter()
        .map(|cs| cs.into_iter().map(|c| (single_relation(&c), c)).collect())
        .collect();
    let Some(first) = arms.first() else {
        return Vec::new();
    };
    let mut rels: Vec<usize> = first.iter().filter_map(|(r, _)| *r).collect();
    rels.dedup();
    let mut out = Vec::new();
    for r in rels {
        if !arms
            .iter()
            .all(|arm| arm.iter().any(|(x, _)| *x == Some(r)))
        {
            continue;
        }
        let ors = arms
            .iter()
            .map(|arm| {
                let mine: Vec<Node> = arm
                    .iter()
                    .filter(|(x, _)| *x == Some(r))
                    .map(|(_, c)| c.clone())
                    .collect();
                if mine.len() == 1 {
                    mine.into_iter().next().expect("one")
                } else {
                    Node::Bool {
                        kind: BoolKind::And,
                        args: mine,
                    }
                }
            })
            .collect();
        out.push(Node::Bool {
            kind: BoolKind::Or,
            args: ors,
        });
    }
    out
}

/// The output position of a plain column reference (through binary-compatible casts).
pub fn var_position(node: &Node) -> Option<usize> {
    match node {
        Node::Var { pos, .. } => Some(*pos),
        Node::Cast {
            arg,
            method: CastMethod::Binary,
            ..
        } => var_position(arg),
        _ => None,
    }
}

/// The column pair a conjunct `a = b` equates with a mergejoinable equality.
pub fn equi_pair(node: &Node) -> Option<(usize, usize)> {
    match node {
        Node::Op { op, args, .. } if args.len() == 2 && op.mergejoinable => {
            Some((var_position(&args[0])?, var_position(&args[1])?))
        }
        _ => None,
    }
}

const INT_TO_NUMERIC: &[&str] = &["pg_catalog.\"numeric\"", "pg_catalog.numeric"];

fn int_to_numeric(func: &Function, arg: &Node) -> bool {
    INT_TO_NUMERIC.contains(&func.name_sql.as_str())
        && func.result == NUMERIC
        && [
            crate::catalog::INT2,
            crate::catalog::INT4,
            crate::catalog::INT8,
        ]
        .contains(&arg.ty().oid)
}

/// Whether evaluating `node` cannot raise an error whatever the row (the extension's
/// `error_free`).
pub fn error_free(node: &Node) -> bool {
    if !node.contains_var() {
        return !has_subquery(node);
    }
    let all = |args: &[Node]| args.iter().all(error_free);
    match node {
        Node::Var { .. } => true,
        Node::NullTest { arg, .. } => error_free(arg),
        Node::Bool { args, .. } => all(args),
        Node::Op { op, args, .. } => {
            if bounded_numeric(node, &mut 0) {
                return true;
            }
            op.func.builtin && (op.func.leakproof || op.btree) && all(args)
        }
        Node::Cast { arg, method, .. } => match method {
            CastMethod::Binary => error_free(arg),
            CastMethod::Function(f) => f.builtin && f.leakproof && error_free(arg),
            CastMethod::InOut => false,
        },
        Node::Func { func, args, .. } => func.builtin && func.leakproof && all(args),
        // GREATEST and LEAST compare with the type's default ordering.
        Node::Variadic { args, .. } => all(args),
        Node::Case { .. } => node.children().into_iter().all(error_free),
        Node::InList { op, .. } => {
            op.func.builtin
                && (op.func.leakproof || op.btree)
                && node.children().into_iter().all(error_free)
        }
        Node::NullIf { op, args, .. } => {
            op.func.builtin && (op.func.leakproof || op.btree) && all(args)
        }
        Node::Distinct { .. } => false,
        Node::Collate { arg, .. } => error_free(arg),
        Node::Const { .. }
        | Node::Agg { .. }
        | Node::Scalar { .. }
        | Node::Sublink { .. }
        | Node::OuterVar { .. }
        | Node::Param { .. } => false,
    }
}

/// `numeric` arithmetic (`+`, `-`, `*`) over constrained numeric columns, integers and
/// constants, which cannot overflow (the extension's `bounded_numeric`).
pub fn bounded_numeric(node: &Node, leaves: &mut usize) -> bool {
    *leaves += 1;
    if *leaves > 64 {
        return false;
    }
    let numeric = node.ty().oid == NUMERIC;
    match node {
        Node::Const { .. } => true,
        Node::Var { ty, .. } => numeric && ty.typmod >= 0,
        Node::Cast {
            arg,
            method: CastMethod::Binary,
            ..
        } => bounded_numeric(arg, leaves),
        Node::Cast {
            arg,
            method: CastMethod::Function(f),
            ..
        } => int_to_numeric(f, arg) && (matches!(**arg, Node::Var { .. }) || !arg.contains_var()),
        Node::Func { func, args, .. } => {
            args.len() == 1
                && int_to_numeric(func, &args[0])
                && (matches!(args[0], Node::Var { .. }) || !args[0].contains_var())
        }
        Node::Op { op, args, .. } => {
            [
                "pg_catalog.numeric_add",
                "pg_catalog.numeric_sub",
                "pg_catalog.numeric_mul",
            ]
            .contains(&op.func.name_sql.as_str())
                && args.iter().all(|a| bounded_numeric(a, leaves))
        }
        _ => !node.contains_var() && !has_subquery(node) && numeric,
    }
}

/// The display scale every value of a numeric expression has, when the expression alone
/// decides it (the extension's `numeric_scale::fixed_scale`): a constrained column's, a
/// constant's, an integer's cast to numeric (0), and PostgreSQL's arithmetic on them
/// (`max` of the scales for `+` and `-`, their sum for `*`, up to 1000).
pub fn fixed_scale(node: &Node) -> Option<i32> {
    const MAX_SCALE: i32 = 1000;
    if node.ty().oid != NUMERIC {
        return None;
    }
    if let Some(s) = typmod_scale(node.ty().typmod) {
        return Some(s);
    }
    match node {
        Node::Const { value: Some(v), .. } => {
            if !v
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return None;
            }
            Some(v.split_once('.').map_or(0, |(_, f)| f.len() as i32))
        }
        Node::Cast {
            arg,
            method: CastMethod::Binary,
            ..
        } => fixed_scale(arg),
        Node::Cast {
            arg,
            method: CastMethod::Function(f),
            ..
        } => int_to_numeric(f, arg).then_some(0),
        Node::Func { func, args, .. } if args.len() == 1 => {
            int_to_numeric(func, &args[0]).then_some(0)
        }
        Node::Op { op, args, .. } => {
            let scales = args.iter().map(fixed_scale).collect::<Option<Vec<i32>>>()?;
            let s = match (op.func.name_sql.as_str(), scales.as_slice()) {
                ("pg_catalog.numeric_add" | "pg_catalog.numeric_sub", [a, b]) => *a.max(b),
                ("pg_catalog.numeric_mul", [a, b]) => a + b,
                ("pg_catalog.numeric_uminus" | "pg_catalog.numeric_uplus", [a]) => *a,
                _ => return None,
            };
            (s <= MAX_SCALE).then_some(s)
        }
        _ => None,
    }
}

/// Whether `node` reads a numeric column of a subquery or CTE without a type modifier,
/// whose scale the extension finds by following the column to its defining expression.
pub fn reads_unconstrained_derived_numeric(node: &Node) -> bool {
    match node {
        Node::Var { ty, sub: true, .. } => ty.oid == NUMERIC && ty.typmod < 0,
        _ => node
            .children()
            .into_iter()
            .any(reads_unconstrained_derived_numeric),
    }
}

fn typmod_scale(typmod: i32) -> Option<i32> {
    const HEADER: i32 = 4;
    if typmod < HEADER {
        return None;
    }
    let scale = (((typmod - HEADER) & 0x7ff) ^ 1024) - 1024;
    (scale >= 0).then_some(scale)
}
