//! Set-returning functions in FROM (ADR-059): `FROM a, LATERAL unnest(a.tags) AS t(tag)`,
//! `a CROSS JOIN LATERAL jsonb_array_elements(a.doc)`, `a LEFT JOIN LATERAL
//! jsonb_each(a.doc) AS e ON true`, `ROWS FROM (…)`, `WITH ORDINALITY`, column definition
//! lists, and uncorrelated calls (`CROSS JOIN generate_series(1, 3)`). Each becomes a
//! `pgt_dvm::operators::lateral_function::LateralFunction` over the FROM items before it:
//! the rows a call produces depend on its arguments only, so its delta is the call applied
//! to the changed rows.
//!
//! A FROM clause of functions only has no source to maintain, and a function before the
//! tables its arguments read (`generate_series(…) g JOIN a ON …`) is refused by name.

use pgrx::pg_sys;
use pgrx::PgList;
use pgt_dvm::operators::lateral_function::LateralFunction;
use pgt_dvm::{Expr, OpTree};

use super::deparse::Deparser;
use super::{expr_column, rt_fetch, unsupported, Builder, FromResolver, Layout};
use crate::error::PgtResult;

/// The range table index of `node` when it is a reference to a function in FROM.
pub(super) unsafe fn function_rte(q: *mut pg_sys::Query, node: *mut pg_sys::Node) -> Option<i32> {
    if (*node).type_ != pg_sys::NodeTag::T_RangeTblRef {
        return None;
    }
    let index = (*(node as *mut pg_sys::RangeTblRef)).rtindex;
    let rte = rt_fetch(q, index);
    ((*rte).rtekind == pg_sys::RTEKind::RTE_FUNCTION).then_some(index)
}

impl Builder {
    /// `tree ⋈_lat F` for the function entry `rtindex` (`outer`: LEFT JOIN LATERAL … ON
    /// true); its columns are added to `layout`.
    pub(super) unsafe fn lateral_function(
        &mut self,
        q: *mut pg_sys::Query,
        rtindex: i32,
        tree: OpTree,
        layout: &mut Layout,
        outer: bool,
    ) -> PgtResult<OpTree> {
        let rte = rt_fetch(q, rtindex);
        let mut call = Expr::sql("ROWS FROM (");
        for (i, f) in PgList::<pg_sys::RangeTblFunction>::from_pg((*rte).functions)
            .iter_ptr()
            .enumerate()
        {
            if i > 0 {
                call.push_sql(", ");
            }
            call.append(
                self.d
                    .expr((*f).funcexpr, &mut FromResolver { q, layout })?,
            );
            if !(*f).funccolnames.is_null() {
                call.push_sql(&column_definitions(f)?);
            }
        }
        call.push_sql(")");
        if (*rte).funcordinality {
            call.push_sql(" WITH ORDINALITY");
        }
        let mut names: *mut pg_sys::List = std::ptr::null_mut();
        let mut vars: *mut pg_sys::List = std::ptr::null_mut();
        pg_sys::expandRTE(
            rte,
            rtindex,
            0,
            pg_sys::VarReturningType::VAR_RETURNING_DEFAULT,
            -1,
            false,
            &mut names,
            &mut vars,
        );
        let names = super::string_list(names);
        let mut call_columns = Vec::new();
        for (name, var) in names
            .into_iter()
            .zip(PgList::<pg_sys::Node>::from_pg(vars).iter_ptr())
        {
            call_columns.push(expr_column(name, var)?);
        }
        let nl = tree.columns().len();
        layout.insert(
            rtindex,
            (0..call_columns.len()).map(|i| Some(nl + i)).collect(),
        );
        Ok(OpTree::LateralFunction(LateralFunction {
            input: Box::new(tree),
            call,
            call_columns,
            outer,
        }))
    }
}

/// ` AS (name type [COLLATE c], …)` of a function with a column definition list.
unsafe fn column_definitions(f: *mut pg_sys::RangeTblFunction) -> PgtResult<String> {
    let names = super::string_list((*f).funccolnames);
    let types: Vec<pg_sys::Oid> = PgList::<pg_sys::Oid>::from_pg((*f).funccoltypes)
        .iter_oid()
        .collect();
    let mods: Vec<i32> = PgList::<i32>::from_pg((*f).funccoltypmods)
        .iter_int()
        .collect();
    let colls: Vec<pg_sys::Oid> = PgList::<pg_sys::Oid>::from_pg((*f).funccolcollations)
        .iter_oid()
        .collect();
    if names.len() != types.len() || types.len() != mods.len() {
        return Err(unsupported(
            "a column definition list",
            "It could not be read.",
        ));
    }
    let mut d = Deparser::default();
    let mut defs = Vec::new();
    for i in 0..names.len() {
        let mut def = format!(
            "{} {}",
            pgt_sql::quote_ident(&names[i]),
            Deparser::type_name(types[i], mods[i])
        );
        if let Some(&c) = colls.get(i) {
            if c != pg_sys::InvalidOid && c != pg_sys::get_typcollation(types[i]) {
                def.push_str(&format!(" COLLATE {}", d.collation_name(c)?));
            }
        }
        defs.push(def);
    }
    Ok(format!(" AS ({})", defs.join(", ")))
}
