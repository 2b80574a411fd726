//! Printing analyzed expressions as the extension's deparser prints them: functions and
//! operators schema-qualified, constants as typed literals, casts explicit, column
//! references as placeholders through a [`Resolve`]r.

use pgt_dvm::frontend::{SESSION_FUNCTIONS, TIME_FUNCTIONS};
use pgt_dvm::Expr;
use pgt_sql::quote_literal;

use crate::catalog::{Catalog, Function, TypeRef};
use crate::node::{BoolKind, Node};
use crate::{unsupported, Result};

/// Maps a node to an input column (or another expression) before it is printed.
pub trait Resolve {
    fn substitute(&mut self, node: &Node) -> Result<Option<Expr>>;
}

/// Columns of the FROM clause are its positions.
pub struct FromColumns;

impl Resolve for FromColumns {
    fn substitute(&mut self, node: &Node) -> Result<Option<Expr>> {
        Ok(match node {
            Node::Var { pos, .. } | Node::Scalar { pos: Some(pos), .. } => Some(Expr::col(*pos)),
            _ => None,
        })
    }
}

/// Above a grouping: the group keys, then the aggregates.
pub struct Grouped<'a> {
    pub keys: &'a [Node],
    pub aggs: &'a [Node],
}

impl Resolve for Grouped<'_> {
    fn substitute(&mut self, node: &Node) -> Result<Option<Expr>> {
        if let Node::Scalar { pos: Some(p), .. } = node {
            return Ok(Some(Expr::col(*p)));
        }
        if let Some(i) = self.keys.iter().position(|k| k == node) {
            return Ok(Some(Expr::col(i)));
        }
        if let Node::Agg { .. } = node {
            if let Some(j) = self.aggs.iter().position(|a| a == node) {
                return Ok(Some(Expr::col(self.keys.len() + j)));
            }
        }
        if let Node::Var { .. } = node {
            return Err(unsupported(
                "a column that is neither grouped nor aggregated",
                "Add the column to GROUP BY (functional dependencies on a primary key are not used).",
            ));
        }
        Ok(None)
    }
}

/// What printing noticed about the functions called.
#[derive(Default)]
pub struct Printer {
    pub time_dependent: Option<String>,
    pub session_dependent: Option<String>,
}

impl Printer {
    /// A STABLE function outside `pg_catalog` is refused, as the extension refuses it.
    fn check_stable(&self, f: &Function) -> Result<()> {
        if f.volatility == 's' && !f.name_sql.starts_with("pg_catalog.") {
            return Err(unsupported(
                &format!("the STABLE function {}()", f.name_sql),
                "Its result may change without any change to the source tables (it may read other tables or settings); mark it IMMUTABLE if it truly is, or use FULL.",
            ));
        }
        Ok(())
    }

    pub fn print<C: Catalog>(
        &mut self,
        cat: &mut C,
        node: &Node,
        r: &mut dyn Resolve,
    ) -> Result<Expr> {
        if let Some(e) = r.substitute(node)? {
            return Ok(e);
        }
        let mut out = Expr::default();
        match node {
            Node::Var { .. } => {
                return Err(unsupported(
                    "a column reference",
                    "The column could not be resolved to an input of the operator.",
                ))
            }
            Node::OuterVar { .. } => {
                return Err(unsupported(
                    "a reference to an outer query (LATERAL or correlated subquery)",
                    "Each query level must read only its own FROM items.",
                ))
            }
            Node::Sublink { .. } | Node::Param { .. } | Node::Scalar { .. } => {
                return Err(unsupported(
                    "a subquery in this position",
                    "Subqueries are translated as WHERE conjuncts ([NOT] EXISTS, [NOT] IN, op ANY/ALL) only here; rewrite it as a join, or the stream table is refreshed in full.",
                ))
            }
            Node::Const { ty, value } => {
                let t = cat.type_name(*ty)?;
                match value {
                    None => out.push_sql(&format!("NULL::{t}")),
                    Some(v) => out.push_sql(&format!("{}::{t}", quote_literal(v))),
                }
            }
            Node::Op { op, args, .. } => {
                self.check_stable(&op.func)?;
                match args.as_slice() {
                    [a, b] => {
                        out.push_sql("(");
                        out.append(self.print(cat, a, r)?);
                        out.push_sql(&format!(" {} ", op.name_sql));
                        out.append(self.print(cat, b, r)?);
                        out.push_sql(")");
                    }
                    [a] => {
                        out.push_sql(&format!("({} ", op.name_sql));
                        out.append(self.print(cat, a, r)?);
                        out.push_sql(")");
                    }
                    _ => {
                        return Err(unsupported(
                            "an operator expression",
                            "Unexpected operand count.",
                        ))
                    }
                }
            }
            Node::Bool { kind, args } => {
                if *kind == BoolKind::Not {
                    out.push_sql("(NOT ");
                    out.append(self.print(cat, &args[0], r)?);
                    out.push_sql(")");
                } else {
                    let sep = if *kind == BoolKind::And {
                        " AND "
                    } else {
                        " OR "
                    };
                    out.push_sql("(");
                    for (i, a) in args.iter().enumerate() {
                        if i > 0 {
                            out.push_sql(sep);
                        }
                        out.append(self.print(cat, a, r)?);
                    }
                    out.push_sql(")");
                }
            }
            Node::NullTest { arg, is_null } => {
                out.push_sql("(");
                out.append(self.print(cat, arg, r)?);
                out.push_sql(if *is_null {
                    " IS NULL)"
                } else {
                    " IS NOT NULL)"
                });
            }
            Node::Cast {
                arg, ty, method, ..
            } => {
                if let crate::catalog::CastMethod::Function(f) = method {
                    self.check_stable(f)?;
                }
                let t = cat.type_name(*ty)?;
                out.push_sql("(");
                out.append(self.print(cat, arg, r)?);
                out.push_sql(&format!(")::{t}"));
            }
            Node::Func { func, args, .. } => {
                self.check_stable(func)?;
                let bare = func
                    .name_sql
                    .rsplit('.')
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string();
                if func.name_sql.starts_with("pg_catalog.") {
                    if TIME_FUNCTIONS.contains(&bare.as_str()) || (bare == "age" && args.len() == 1)
                    {
                        self.time_dependent = Some(format!("{bare}()"));
                    }
                    if SESSION_FUNCTIONS.contains(&bare.as_str())
                        && self.session_dependent.is_none()
                    {
                        self.session_dependent = Some(format!("{bare}()"));
                    }
                }
                out.push_sql(&format!("{}(", func.name_sql));
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.append(self.print(cat, a, r)?);
                }
                out.push_sql(")");
            }
            Node::Variadic { name, args, .. } => {
                out.push_sql(&format!("{name}("));
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.append(self.print(cat, a, r)?);
                }
                out.push_sql(")");
            }
            Node::Case { whens, default, .. } => {
                out.push_sql("(CASE");
                for (w, res) in whens {
                    out.push_sql(" WHEN ");
                    out.append(self.print(cat, w, r)?);
                    out.push_sql(" THEN ");
                    out.append(self.print(cat, res, r)?);
                }
                out.push_sql(" ELSE ");
                out.append(self.print(cat, default, r)?);
                out.push_sql(" END)");
            }
            Node::InList {
                op,
                any,
                lhs,
                items,
                array_type,
            } => {
                self.check_stable(&op.func)?;
                out.push_sql("(");
                out.append(self.print(cat, lhs, r)?);
                out.push_sql(&format!(
                    " {} {}(ARRAY[",
                    op.name_sql,
                    if *any { "ANY" } else { "ALL" }
                ));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.append(self.print(cat, item, r)?);
                }
                let t = cat.type_name(TypeRef::of(*array_type))?;
                out.push_sql(&format!("]::{t}))"));
            }
            Node::Distinct { op, args } => {
                self.check_stable(&op.func)?;
                let (x, y) = (self.print(cat, &args[0], r)?, self.print(cat, &args[1], r)?);
                out.push_sql("(CASE WHEN (");
                out.append(x.clone());
                out.push_sql(") IS NULL THEN (");
                out.append(y.clone());
                out.push_sql(") IS NOT NULL WHEN (");
                out.append(y.clone());
                out.push_sql(") IS NULL THEN true ELSE NOT ((");
                out.append(x);
                out.push_sql(&format!(") {} (", op.name_sql));
                out.append(y);
                out.push_sql(")) END)");
            }
            Node::NullIf { op, args, .. } => {
                self.check_stable(&op.func)?;
                let (x, y) = (self.print(cat, &args[0], r)?, self.print(cat, &args[1], r)?);
                out.push_sql("(CASE WHEN (");
                out.append(x.clone());
                out.push_sql(&format!(") {} (", op.name_sql));
                out.append(y);
                out.push_sql(") THEN NULL ELSE (");
                out.append(x);
                out.push_sql(") END)");
            }
            Node::Collate { arg, coll_sql, .. } => {
                out.push_sql("(");
                out.append(self.print(cat, arg, r)?);
                out.push_sql(&format!(" COLLATE {coll_sql})"));
            }
            Node::Agg { .. } => {
                return Err(unsupported(
                    "an aggregate here",
                    "Aggregates belong in the SELECT list or HAVING of a grouped query.",
                ))
            }
        }
        Ok(out)
    }

    /// An aggregate call's text over the FROM clause's columns (`name(*)`,
    /// `name(DISTINCT args ORDER BY e USING op NULLS …) FILTER (WHERE …)`), and its
    /// arguments' texts.
    pub fn aggregate_call<C: Catalog>(
        &mut self,
        cat: &mut C,
        node: &Node,
    ) -> Result<(Expr, Vec<Expr>)> {
        let Node::Agg {
            agg,
            star,
            args,
            distinct,
            order,
            filter,
            ..
        } = node
        else {
            return Err(unsupported("an aggregate", "Not an aggregate call."));
        };
        let mut printed = Vec::new();
        for a in args {
            printed.push(self.print(cat, a, &mut FromColumns)?);
        }
        let mut call = Expr::sql(format!("{}(", agg.name_sql));
        if *star {
            call.push_sql("*");
        } else if *distinct {
            call.push_sql("DISTINCT ");
        }
        for (i, e) in printed.iter().enumerate() {
            if i > 0 {
                call.push_sql(", ");
            }
            call.append(e.clone());
        }
        for (i, (e, op, nulls_first)) in order.iter().enumerate() {
            call.push_sql(if i == 0 { " ORDER BY " } else { ", " });
            let key = self.print(cat, e, &mut FromColumns)?;
            call.append(pgt_dvm::frontend::sort_key(key, op, *nulls_first));
        }
        call.push_sql(")");
        if let Some(f) = filter {
            call.push_sql(" FILTER (WHERE ");
            call.append(self.print(cat, f, &mut FromColumns)?);
            call.push_sql(")");
        }
        Ok((call, printed))
    }
}
