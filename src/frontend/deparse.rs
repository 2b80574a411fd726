//! Printing analyzed expression trees back to SQL for the DVM engine.
//!
//! Every function, operator and type is printed schema-qualified (`pg_catalog.upper(…)`,
//! `OPERATOR(pg_catalog.+)`, `::pg_catalog.int4`), constants as typed literals, and
//! implicit casts explicitly, so the printed expression resolves to exactly the same
//! functions whatever the session's `search_path`. References to input columns become
//! [`ExprPart::Col`] placeholders through the caller's [`ColumnResolver`]. Node types the
//! printer does not know become `DvmError::Unsupported`, never a guess.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use pgt_dvm::{DvmError, Expr};
use pgt_sql::{quote_ident, quote_literal};

use crate::error::{PgtError, PgtResult};

/// Maps a column reference to an input column position (or a substitute expression).
pub trait ColumnResolver {
    /// SAFETY: `node` must be a valid node pointer of the analyzed query being walked.
    /// Returns `Some` when the whole node is replaced (group keys, aggregates, join aliases).
    unsafe fn substitute(
        &mut self,
        d: &mut Deparser,
        node: *mut pg_sys::Node,
    ) -> PgtResult<Option<Expr>>;
}

/// Catalog lookups, cached for one translation.
#[derive(Default)]
pub struct Deparser {
    names: HashMap<(u8, u32), String>,
    case_tests: Vec<Expr>,
    /// Set when a time-dependent function (now(), CURRENT_DATE, …) is found.
    pub time_dependent: Option<String>,
    /// The first function whose result depends on the session or transaction that
    /// evaluates it (transaction ids, snapshots, settings, the backend), if any.
    pub session_dependent: Option<String>,
}

fn unsupported(construct: &str, reason: &str) -> PgtError {
    PgtError::Dvm(DvmError::unsupported(construct, reason))
}

use pgt_dvm::frontend::{SESSION_FUNCTIONS, TIME_FUNCTIONS};

impl Deparser {
    /// `"schema"."name"` of a function.
    pub fn func_name(&mut self, oid: pg_sys::Oid) -> PgtResult<String> {
        self.lookup(
            0,
            oid,
            "SELECT format('%I.%I', n.nspname, p.proname) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = $1",
        )
    }

    /// `OPERATOR("schema".op)` of an operator.
    pub fn oper_name(&mut self, oid: pg_sys::Oid) -> PgtResult<String> {
        self.lookup(
            1,
            oid,
            "SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname) FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace WHERE o.oid = $1",
        )
    }

    /// What aggregate `oid` returns over no rows: `zero` (count, regr_count), `null` (the
    /// other built-in aggregates; a user-defined one without initial state and final
    /// function), or `unknown`.
    pub fn empty_aggregate_value(&mut self, oid: pg_sys::Oid) -> PgtResult<String> {
        self.lookup(
            3,
            oid,
            "SELECT CASE WHEN p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace \
                          AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['count', 'regr_count']::pg_catalog.name[]) THEN 'zero' \
                        WHEN p.oid OPERATOR(pg_catalog.<) 16384::pg_catalog.oid \
                          OR (a.agginitval IS NULL AND a.aggfinalfn OPERATOR(pg_catalog.=) 0::pg_catalog.regproc) THEN 'null' \
                        ELSE 'unknown' END \
               FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) a.aggfnoid \
              WHERE a.aggfnoid OPERATOR(pg_catalog.=) $1",
        )
    }

    pub fn collation_name(&mut self, oid: pg_sys::Oid) -> PgtResult<String> {
        self.lookup(
            2,
            oid,
            "SELECT format('%I.%I', n.nspname, c.collname) FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace WHERE c.oid = $1",
        )
    }

    /// Refuses a STABLE function outside `pg_catalog`: its result may depend on tables the
    /// stream table does not read, or on settings it does not pin. (STABLE functions of
    /// `pg_catalog` depend on the settings pinned at creation, which refreshes restore; the
    /// time- and session-dependent ones are refused by name. VOLATILE ones follow
    /// `pg_trickle.volatile_function_policy`.)
    pub(super) fn check_stable(&mut self, func: pg_sys::Oid) -> PgtResult<()> {
        let v = self.lookup(
            3,
            func,
            "SELECT p.provolatile::pg_catalog.text || pg_catalog.format('%I.%I', n.nspname, p.proname) \
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE p.oid OPERATOR(pg_catalog.=) $1",
        )?;
        let (vol, name) = v.split_at(1);
        if vol == "s" && !name.starts_with("pg_catalog.") {
            return Err(unsupported(
                &format!("the STABLE function {name}()"),
                "Its result may change without any change to the source tables (it may read other tables or settings); mark it IMMUTABLE if it truly is, or use FULL.",
            ));
        }
        Ok(())
    }

    fn lookup(&mut self, kind: u8, oid: pg_sys::Oid, sql: &str) -> PgtResult<String> {
        if let Some(s) = self.names.get(&(kind, oid.to_u32())) {
            return Ok(s.clone());
        }
        let s = Spi::get_one_with_args::<String>(sql, &[oid.into()])?.ok_or_else(|| {
            unsupported(
                "an object",
                "A function, operator or collation could not be found.",
            )
        })?;
        self.names.insert((kind, oid.to_u32()), s.clone());
        Ok(s)
    }

    /// The fully qualified type name with modifier.
    pub fn type_name(typid: pg_sys::Oid, typmod: i32) -> String {
        // SAFETY: format_type_extended accepts any OID (reports ERROR for invalid ones) and
        // returns a palloc'd NUL-terminated string.
        unsafe {
            let flags =
                (pg_sys::FORMAT_TYPE_TYPEMOD_GIVEN | pg_sys::FORMAT_TYPE_FORCE_QUALIFY) as u16;
            CStr::from_ptr(pg_sys::format_type_extended(typid, typmod, flags))
                .to_string_lossy()
                .into_owned()
        }
    }

    /// Prints `node`.
    ///
    /// SAFETY: `node` must be a valid expression node of an analyzed query.
    pub unsafe fn expr(
        &mut self,
        node: *mut pg_sys::Node,
        r: &mut dyn ColumnResolver,
    ) -> PgtResult<Expr> {
        // Expressions can be thousands of terms deep: cancel and statement_timeout must
        // be able to stop the walk.
        pgrx::check_for_interrupts!();
        if node.is_null() {
            return Ok(Expr::sql("NULL"));
        }
        if let Some(e) = r.substitute(self, node)? {
            return Ok(e);
        }
        use pg_sys::NodeTag::*;
        let tag = (*node).type_;
        let mut out = Expr::default();
        match tag {
            T_Var => {
                return Err(unsupported(
                    "a column reference",
                    "The column could not be resolved to an input of the operator.",
                ))
            }
            T_Const => {
                let c = node as *mut pg_sys::Const;
                let ty = Self::type_name((*c).consttype, (*c).consttypmod);
                if (*c).constisnull {
                    out.push_sql(&format!("NULL::{ty}"));
                } else {
                    let mut fout = pg_sys::Oid::INVALID;
                    let mut varlena = false;
                    pg_sys::getTypeOutputInfo((*c).consttype, &mut fout, &mut varlena);
                    let text = crate::settings::with_exact_floats(|| {
                        CStr::from_ptr(pg_sys::OidOutputFunctionCall(fout, (*c).constvalue))
                            .to_string_lossy()
                            .into_owned()
                    });
                    out.push_sql(&format!("{}::{ty}", quote_literal(&text)));
                }
            }
            T_OpExpr | T_DistinctExpr | T_NullIfExpr => {
                let o = node as *mut pg_sys::OpExpr;
                let args = PgList::<pg_sys::Node>::from_pg((*o).args);
                let a: Vec<*mut pg_sys::Node> = args.iter_ptr().collect();
                self.check_stable((*o).opfuncid)?;
                match (tag, a.len()) {
                    // `IS DISTINCT FROM` and `NULLIF` would look `=` up by name again; they
                    // are spelled with the operator the analyzed query resolved.
                    (T_DistinctExpr, 2) => {
                        let op = self.oper_name((*o).opno)?;
                        let (x, y) = (self.expr(a[0], r)?, self.expr(a[1], r)?);
                        out.push_sql("(CASE WHEN (");
                        out.append(x.clone());
                        out.push_sql(") IS NULL THEN (");
                        out.append(y.clone());
                        out.push_sql(") IS NOT NULL WHEN (");
                        out.append(y.clone());
                        out.push_sql(") IS NULL THEN true ELSE NOT ((");
                        out.append(x);
                        out.push_sql(&format!(") {op} ("));
                        out.append(y);
                        out.push_sql(")) END)");
                    }
                    (T_NullIfExpr, 2) => {
                        let op = self.oper_name((*o).opno)?;
                        let (x, y) = (self.expr(a[0], r)?, self.expr(a[1], r)?);
                        out.push_sql("(CASE WHEN (");
                        out.append(x.clone());
                        out.push_sql(&format!(") {op} ("));
                        out.append(y);
                        out.push_sql(") THEN NULL ELSE (");
                        out.append(x);
                        out.push_sql(") END)");
                    }
                    (_, 2) => {
                        let op = self.oper_name((*o).opno)?;
                        out.push_sql("(");
                        out.append(self.expr(a[0], r)?);
                        out.push_sql(&format!(" {op} "));
                        out.append(self.expr(a[1], r)?);
                        out.push_sql(")");
                    }
                    (_, 1) => {
                        let op = self.oper_name((*o).opno)?;
                        out.push_sql(&format!("({op} "));
                        out.append(self.expr(a[0], r)?);
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
            T_ScalarArrayOpExpr => {
                let s = node as *mut pg_sys::ScalarArrayOpExpr;
                let a: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*s).args)
                    .iter_ptr()
                    .collect();
                let op = self.oper_name((*s).opno)?;
                out.push_sql("(");
                out.append(self.expr(a[0], r)?);
                out.push_sql(&format!(
                    " {op} {}(",
                    if (*s).useOr { "ANY" } else { "ALL" }
                ));
                out.append(self.expr(a[1], r)?);
                out.push_sql("))");
            }
            T_BoolExpr => {
                let b = node as *mut pg_sys::BoolExpr;
                let a: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*b).args)
                    .iter_ptr()
                    .collect();
                if (*b).boolop == pg_sys::BoolExprType::NOT_EXPR {
                    out.push_sql("(NOT ");
                    out.append(self.expr(a[0], r)?);
                    out.push_sql(")");
                } else {
                    let sep = if (*b).boolop == pg_sys::BoolExprType::AND_EXPR {
                        " AND "
                    } else {
                        " OR "
                    };
                    out.push_sql("(");
                    for (i, arg) in a.iter().enumerate() {
                        if i > 0 {
                            out.push_sql(sep);
                        }
                        out.append(self.expr(*arg, r)?);
                    }
                    out.push_sql(")");
                }
            }
            T_NullTest => {
                let n = node as *mut pg_sys::NullTest;
                out.push_sql("(");
                out.append(self.expr((*n).arg as *mut pg_sys::Node, r)?);
                out.push_sql(if (*n).nulltesttype == pg_sys::NullTestType::IS_NULL {
                    " IS NULL)"
                } else {
                    " IS NOT NULL)"
                });
            }
            T_BooleanTest => {
                let b = node as *mut pg_sys::BooleanTest;
                use pg_sys::BoolTestType::*;
                let t = match (*b).booltesttype {
                    IS_TRUE => " IS TRUE)",
                    IS_NOT_TRUE => " IS NOT TRUE)",
                    IS_FALSE => " IS FALSE)",
                    IS_NOT_FALSE => " IS NOT FALSE)",
                    IS_UNKNOWN => " IS UNKNOWN)",
                    _ => " IS NOT UNKNOWN)",
                };
                out.push_sql("(");
                out.append(self.expr((*b).arg as *mut pg_sys::Node, r)?);
                out.push_sql(t);
            }
            T_FuncExpr => {
                let f = node as *mut pg_sys::FuncExpr;
                self.check_stable((*f).funcid)?;
                let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*f).args)
                    .iter_ptr()
                    .collect();
                let fmt = (*f).funcformat;
                if (fmt == pg_sys::CoercionForm::COERCE_IMPLICIT_CAST
                    || fmt == pg_sys::CoercionForm::COERCE_EXPLICIT_CAST)
                    && !args.is_empty()
                {
                    let ty = Self::type_name((*f).funcresulttype, pg_sys::exprTypmod(node));
                    out.push_sql("(");
                    out.append(self.expr(args[0], r)?);
                    out.push_sql(&format!(")::{ty}"));
                } else {
                    let name = self.func_name((*f).funcid)?;
                    let bare = name
                        .rsplit('.')
                        .next()
                        .unwrap_or("")
                        .trim_matches('"')
                        .to_string();
                    if name.starts_with("pg_catalog.")
                        && (TIME_FUNCTIONS.contains(&bare.as_str())
                            || (bare == "age" && args.len() == 1))
                    {
                        self.time_dependent = Some(format!("{bare}()"));
                    }
                    if name.starts_with("pg_catalog.")
                        && SESSION_FUNCTIONS.contains(&bare.as_str())
                        && self.session_dependent.is_none()
                    {
                        self.session_dependent = Some(format!("{bare}()"));
                    }
                    out.push_sql(&format!("{name}("));
                    for (i, arg) in args.iter().enumerate() {
                        if i > 0 {
                            out.push_sql(", ");
                        }
                        if (*f).funcvariadic && i == args.len() - 1 {
                            out.push_sql("VARIADIC ");
                        }
                        out.append(self.expr(*arg, r)?);
                    }
                    out.push_sql(")");
                }
            }
            T_NamedArgExpr => {
                let n = node as *mut pg_sys::NamedArgExpr;
                let name = CStr::from_ptr((*n).name).to_string_lossy();
                out.push_sql(&format!("{} => ", quote_ident(&name)));
                out.append(self.expr((*n).arg as *mut pg_sys::Node, r)?);
            }
            T_RelabelType | T_CoerceViaIO | T_ArrayCoerceExpr | T_CoerceToDomain => {
                let arg = match tag {
                    T_RelabelType => (*(node as *mut pg_sys::RelabelType)).arg,
                    T_CoerceViaIO => (*(node as *mut pg_sys::CoerceViaIO)).arg,
                    T_ArrayCoerceExpr => (*(node as *mut pg_sys::ArrayCoerceExpr)).arg,
                    _ => (*(node as *mut pg_sys::CoerceToDomain)).arg,
                };
                let ty = Self::type_name(pg_sys::exprType(node), pg_sys::exprTypmod(node));
                out.push_sql("(");
                out.append(self.expr(arg as *mut pg_sys::Node, r)?);
                out.push_sql(&format!(")::{ty}"));
            }
            T_CollateExpr => {
                let c = node as *mut pg_sys::CollateExpr;
                let coll = self.collation_name((*c).collOid)?;
                out.push_sql("(");
                out.append(self.expr((*c).arg as *mut pg_sys::Node, r)?);
                out.push_sql(&format!(" COLLATE {coll})"));
            }
            T_CaseExpr => {
                let c = node as *mut pg_sys::CaseExpr;
                let has_arg = !(*c).arg.is_null();
                if has_arg {
                    let a = self.expr((*c).arg as *mut pg_sys::Node, r)?;
                    self.case_tests.push(a);
                }
                out.push_sql("CASE");
                let whens = PgList::<pg_sys::CaseWhen>::from_pg((*c).args);
                for w in whens.iter_ptr() {
                    out.push_sql(" WHEN ");
                    out.append(self.expr((*w).expr as *mut pg_sys::Node, r)?);
                    out.push_sql(" THEN ");
                    out.append(self.expr((*w).result as *mut pg_sys::Node, r)?);
                }
                if !(*c).defresult.is_null() {
                    out.push_sql(" ELSE ");
                    out.append(self.expr((*c).defresult as *mut pg_sys::Node, r)?);
                }
                out.push_sql(" END");
                if has_arg {
                    self.case_tests.pop();
                }
                let wrapped = {
                    let mut w = Expr::sql("(");
                    w.append(out);
                    w.push_sql(")");
                    w
                };
                return Ok(wrapped);
            }
            T_CaseTestExpr => {
                let Some(e) = self.case_tests.last() else {
                    return Err(unsupported(
                        "a CASE placeholder",
                        "It appeared outside a simple CASE.",
                    ));
                };
                out.push_sql("(");
                out.append(e.clone());
                out.push_sql(")");
            }
            T_CoalesceExpr | T_MinMaxExpr => {
                let (name, args) = if tag == T_CoalesceExpr {
                    ("COALESCE", (*(node as *mut pg_sys::CoalesceExpr)).args)
                } else {
                    let m = node as *mut pg_sys::MinMaxExpr;
                    (
                        if (*m).op == pg_sys::MinMaxOp::IS_GREATEST {
                            "GREATEST"
                        } else {
                            "LEAST"
                        },
                        (*m).args,
                    )
                };
                out.push_sql(&format!("{name}("));
                for (i, arg) in PgList::<pg_sys::Node>::from_pg(args).iter_ptr().enumerate() {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.append(self.expr(arg, r)?);
                }
                out.push_sql(")");
            }
            T_ArrayExpr => {
                let a = node as *mut pg_sys::ArrayExpr;
                out.push_sql("ARRAY[");
                for (i, e) in PgList::<pg_sys::Node>::from_pg((*a).elements)
                    .iter_ptr()
                    .enumerate()
                {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.append(self.expr(e, r)?);
                }
                out.push_sql(&format!("]::{}", Self::type_name((*a).array_typeid, -1)));
            }
            T_SubscriptingRef => {
                let s = node as *mut pg_sys::SubscriptingRef;
                if !(*s).refassgnexpr.is_null() || !(*s).reflowerindexpr.is_null() {
                    return Err(unsupported(
                        "an array slice or assignment",
                        "Only single-element subscripts are supported.",
                    ));
                }
                out.push_sql("(");
                out.append(self.expr((*s).refexpr as *mut pg_sys::Node, r)?);
                out.push_sql(")");
                for idx in PgList::<pg_sys::Node>::from_pg((*s).refupperindexpr).iter_ptr() {
                    out.push_sql("[");
                    out.append(self.expr(idx, r)?);
                    out.push_sql("]");
                }
            }
            T_SQLValueFunction => {
                self.time_dependent =
                    Some("CURRENT_DATE/CURRENT_TIME/CURRENT_TIMESTAMP/LOCALTIME".into());
                return Err(unsupported(
                    "a time-, session- or role-dependent value (CURRENT_DATE, CURRENT_TIMESTAMP, CURRENT_USER, …)",
                    "Its result changes as time passes, or with the session that evaluates it, without any change to the source tables.",
                ));
            }
            T_SubLink => {
                return Err(unsupported(
                    "a subquery in an expression (IN, EXISTS, ANY, scalar subquery)",
                    "Rewrite it as a join, or use refresh_mode => 'FULL'.",
                ))
            }
            T_WindowFunc => {
                return Err(unsupported(
                    "a window function",
                    "Window functions are not maintained incrementally yet.",
                ))
            }
            T_Aggref => {
                return Err(unsupported(
                    "an aggregate in this position",
                    "Aggregates are supported in the SELECT list and HAVING of a query level.",
                ))
            }
            T_Param => {
                return Err(unsupported(
                    "a parameter",
                    "Parameters cannot appear in a defining query.",
                ))
            }
            T_FieldSelect => {
                // `(composite).field`, by the field's name in the composite type.
                let f = node as *mut pg_sys::FieldSelect;
                let arg = (*f).arg as *mut pg_sys::Node;
                let field = Spi::get_one_with_args::<String>(
                    "SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_type t \
                       JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.typrelid \
                      WHERE t.oid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped",
                    &[pg_sys::exprType(arg).into(), (*f).fieldnum.into()],
                )
                .ok()
                .flatten()
                .ok_or_else(|| unsupported("a field selection", "The field could not be resolved."))?;
                out.push_sql("((");
                out.append(self.expr(arg, r)?);
                out.push_sql(&format!(")).{field}"));
            }
            T_RowCompareExpr => {
                // `(a, b) < (c, d)`: PostgreSQL compares ROW constructors column by column
                // with the named operator (not as records), so the comparison keeps its SQL
                // meaning, NULLs included.
                let rc = node as *mut pg_sys::RowCompareExpr;
                let opnos = PgList::<pg_sys::Oid>::from_pg((*rc).opnos);
                let first = opnos
                    .get_oid(0)
                    .ok_or_else(|| unsupported("a row comparison", "It has no operators."))?;
                let op = self.oper_name(first)?;
                let side = |d: &mut Self,
                            list: *mut pg_sys::List,
                            r: &mut dyn ColumnResolver|
                 -> PgtResult<Expr> {
                    let mut e = Expr::sql("ROW(");
                    for (i, n) in PgList::<pg_sys::Node>::from_pg(list).iter_ptr().enumerate() {
                        if i > 0 {
                            e.push_sql(", ");
                        }
                        e.append(d.expr(n, r)?);
                    }
                    e.push_sql(")");
                    Ok(e)
                };
                let l = side(self, (*rc).largs, r)?;
                let rr = side(self, (*rc).rargs, r)?;
                out.push_sql("(");
                out.append(l);
                out.push_sql(&format!(" {op} "));
                out.append(rr);
                out.push_sql(")");
            }
            other => {
                return Err(unsupported(
                    &format!("the expression node {other:?}"),
                    "The incremental engine does not translate this kind of expression yet.",
                ))
            }
        }
        Ok(out)
    }
}
