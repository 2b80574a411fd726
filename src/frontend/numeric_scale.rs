//! The display scale of a `numeric` expression when it does not depend on the data.
//!
//! `sum` and `avg` over plain `numeric` show the largest scale among the group's inputs,
//! so over an unconstrained argument the engine keeps a histogram of input scales per
//! group (ADR-009). Many such arguments have one scale for every row, though: a
//! `numeric(p,s)` value always has scale `s`, an integer cast to `numeric` has scale 0,
//! and PostgreSQL's arithmetic derives the result's scale from its operands' scales
//! alone (`numeric.c`):
//!
//! ```text
//! scale(a + b) = scale(a − b) = max(scale(a), scale(b))
//! scale(a · b) = scale(a) + scale(b)        scale(−a) = scale(a)
//! ```
//!
//! so `l_extendedprice * (1 - l_discount)` over `numeric(15,2)` columns has scale 4 on
//! every row. Such an argument is maintained like one of a fixed scale: no histogram, and
//! old groups derived from new ones (the algebraic regrouping). NaN has no scale, like
//! NULL; a deleted NaN makes its group recomputed either way.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;

/// Products are refused above this scale (far beyond any column's), so the sum of scales
/// stays far inside `numeric`'s display-scale limit, where PostgreSQL would round.
const MAX_SCALE: i32 = 1000;

/// The scale every non-NULL, non-NaN value of `node` has, when the expression alone
/// decides it; `None` when it depends on the values (division, functions, plain `numeric`
/// columns) or is not known to this analysis. A column of a subquery, a CTE or a join in
/// `q`'s range table is followed to the expression that computes it.
///
/// Safety: `q` is a valid analyzed query and `node` is null or one of its expressions.
pub(super) unsafe fn fixed_scale(q: *mut pg_sys::Query, node: *mut pg_sys::Node) -> Option<i32> {
    scale_in(&[q], node)
}

/// [`fixed_scale`] of `node`, an expression of the last query of `levels` (each query
/// nested in the one before it, for CTE references to outer levels).
unsafe fn scale_in(levels: &[*mut pg_sys::Query], node: *mut pg_sys::Node) -> Option<i32> {
    use pg_sys::NodeTag as T;
    if node.is_null() || pg_sys::exprType(node) != pg_sys::NUMERICOID {
        return None;
    }
    // A type modifier (a column, a cast to numeric(p,s)) fixes the scale: values are
    // rounded to it on the way in.
    if let Some(s) = typmod_scale(pg_sys::exprTypmod(node)) {
        return Some(s);
    }
    match (*node).type_ {
        T::T_Const => {
            let c = node as *mut pg_sys::Const;
            if (*c).constisnull {
                return None;
            }
            let text = AnyNumeric::from_datum((*c).constvalue, false)?.to_string();
            if !text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return None; // NaN, Infinity
            }
            Some(text.split_once('.').map_or(0, |(_, f)| f.len() as i32))
        }
        T::T_RelabelType => scale_in(levels, (*(node as *mut pg_sys::RelabelType)).arg as _),
        T::T_Var => {
            let ((up, enter), e) = defining_expr(levels, node as *mut pg_sys::Var)?;
            let mut inner = levels[..levels.len() - up].to_vec();
            inner.extend(enter);
            scale_in(&inner, e)
        }
        T::T_FuncExpr => {
            let f = node as *mut pg_sys::FuncExpr;
            let int_to_numeric = [
                pg_sys::F_NUMERIC_INT2,
                pg_sys::F_NUMERIC_INT4,
                pg_sys::F_NUMERIC_INT8,
            ]
            .contains(&u32::from((*f).funcid));
            // Any integer value converts with scale 0.
            int_to_numeric.then_some(0)
        }
        T::T_OpExpr => {
            let o = node as *mut pg_sys::OpExpr;
            let func = super::op_function(o);
            let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*o).args)
                .iter_ptr()
                .collect();
            let scales = args
                .iter()
                .map(|&a| scale_in(levels, a))
                .collect::<Option<Vec<i32>>>()?;
            let f = u32::from(func);
            let s = match scales.as_slice() {
                [a, b] if f == pg_sys::F_NUMERIC_ADD || f == pg_sys::F_NUMERIC_SUB => *a.max(b),
                [a, b] if f == pg_sys::F_NUMERIC_MUL => a + b,
                [a] if f == pg_sys::F_NUMERIC_UMINUS || f == pg_sys::F_NUMERIC_UPLUS => *a,
                _ => return None,
            };
            (s <= MAX_SCALE).then_some(s)
        }
        _ => None,
    }
}

/// The expression a column reference of the last query of `levels` stands for: for a
/// column of a grouping step or a join, an expression of the same query; of a subquery or
/// a (non-recursive) CTE, an output expression of that query. Returned with how many
/// levels to leave (a CTE of an outer level) and the query to enter (None: stay).
///
/// Safety: every query of `levels` is valid and `v` is an expression of the last one.
#[allow(clippy::type_complexity)]
unsafe fn defining_expr(
    levels: &[*mut pg_sys::Query],
    v: *mut pg_sys::Var,
) -> Option<((usize, Option<*mut pg_sys::Query>), *mut pg_sys::Node)> {
    use pg_sys::RTEKind as K;
    let q = *levels.last()?;
    if (*v).varlevelsup > 0 || (*v).varno <= 0 || (*v).varattno <= 0 {
        return None;
    }
    let rte = super::rt_fetch(q, (*v).varno);
    let attno = (*v).varattno as usize - 1;
    let output = |sub: *mut pg_sys::Query| -> Option<*mut pg_sys::Node> {
        if sub.is_null() || !(*sub).setOperations.is_null() {
            return None;
        }
        let tle = PgList::<pg_sys::TargetEntry>::from_pg((*sub).targetList).get_ptr(attno)?;
        Some((*tle).expr as *mut pg_sys::Node)
    };
    match (*rte).rtekind {
        K::RTE_GROUP => Some((
            (0, None),
            PgList::<pg_sys::Node>::from_pg((*rte).groupexprs).get_ptr(attno)?,
        )),
        K::RTE_JOIN => Some((
            (0, None),
            PgList::<pg_sys::Node>::from_pg((*rte).joinaliasvars).get_ptr(attno)?,
        )),
        K::RTE_SUBQUERY => {
            let sub = (*rte).subquery;
            Some(((0, Some(sub)), output(sub)?))
        }
        K::RTE_CTE => {
            let up = (*rte).ctelevelsup as usize;
            let owner = *levels.get(levels.len().checked_sub(1 + up)?)?;
            let name = std::ffi::CStr::from_ptr((*rte).ctename);
            let cte = PgList::<pg_sys::CommonTableExpr>::from_pg((*owner).cteList)
                .iter_ptr()
                .find(|&c| std::ffi::CStr::from_ptr((*c).ctename) == name)?;
            if (*cte).cterecursive {
                return None;
            }
            let sub = (*cte).ctequery as *mut pg_sys::Query;
            Some(((up, Some(sub)), output(sub)?))
        }
        _ => None,
    }
}

/// The scale of a `numeric(p,s)` type modifier (`-1`: none). Negative scales (values
/// rounded to tens, hundreds, …) are left to the histogram.
fn typmod_scale(typmod: i32) -> Option<i32> {
    let header = pg_sys::VARHDRSZ as i32;
    if typmod < header {
        return None;
    }
    // Bits 0–10 hold the scale as a signed 11-bit number (numeric.c, make_numeric_typmod).
    let scale = (((typmod - header) & 0x7ff) ^ 1024) - 1024;
    (scale >= 0).then_some(scale)
}
