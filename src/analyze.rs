//! Analysis of a defining query with PostgreSQL's own parser: `raw_parser` for the
//! grammar, `parse_analyze_fixedparams` for name and type resolution, a tree walk for
//! the relations (and columns) it reads, and `pg_get_querydef` to print it back.
//!
//! The printed form is what pg_trickle stores and runs: printed with an empty
//! `search_path`, every relation, function and type is schema-qualified (as `pg_dump`
//! does for views), so a refresh means the same thing whatever the session's search path.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{c_void, CStr, CString};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use pgt_core::OutputColumn;

use crate::error::{PgtError, PgtResult};

/// A source relation of a defining query.
#[derive(Debug, Clone)]
pub struct SourceRelation {
    pub relid: pg_sys::Oid,
    pub schema: String,
    pub name: String,
    pub source_type: &'static str,
    pub columns_used: Vec<String>,
    /// `"name type"` of each used column, in the same order.
    pub columns_signature: Vec<String>,
}

/// What analysis learned about a defining query.
#[derive(Debug, Clone)]
pub struct AnalyzedQuery {
    /// The query as PostgreSQL prints it back, fully schema-qualified.
    pub deparsed: String,
    pub columns: Vec<OutputColumn>,
    pub sources: Vec<SourceRelation>,
}

/// Relations found by the tree walk: OID → attribute numbers read (0 = whole row).
#[derive(Default)]
struct WalkState {
    relations: BTreeMap<u32, Vec<i32>>,
}

/// Parses and analyzes `sql`, refusing anything that is not a single plain SELECT.
pub fn analyze_defining_query(sql: &str) -> PgtResult<AnalyzedQuery> {
    let c_sql = CString::new(sql).map_err(|_| PgtError::EmptyQuery)?;
    let (deparsed, raw_columns, walk) = analyze_raw(&c_sql)?;
    // Type names below are printed for DDL and for signatures that event triggers compare
    // later under a pinned path: print them qualified, whatever the caller's search_path.
    let _path = crate::security::PinnedSearchPath::enter();

    let mut columns = Vec::with_capacity(raw_columns.len());
    for (name, typid, typmod, collation) in raw_columns {
        columns.push(output_column(name, typid, typmod, collation)?);
    }
    let mut sources = Vec::with_capacity(walk.relations.len());
    for (relid, attnos) in walk.relations {
        sources.push(source_relation(pg_sys::Oid::from(relid), &attnos)?);
    }
    Ok(AnalyzedQuery {
        deparsed,
        columns,
        sources,
    })
}

type RawColumn = (String, pg_sys::Oid, i32, pg_sys::Oid);

/// Parses `c_sql` with PostgreSQL's grammar and analyzes it, refusing anything that is not
/// a single plain SELECT.
///
/// SAFETY: the returned Query lives in CurrentMemoryContext; callers must not keep it
/// beyond the current function call.
pub unsafe fn parse_and_analyze(c_sql: &CStr) -> PgtResult<*mut pg_sys::Query> {
    let stmts = PgList::<pg_sys::RawStmt>::from_pg(pg_sys::raw_parser(
        c_sql.as_ptr(),
        pg_sys::RawParseMode::RAW_PARSE_DEFAULT,
    ));
    match stmts.len() {
        0 => return Err(PgtError::EmptyQuery),
        1 => {}
        n => return Err(PgtError::MultipleStatements { count: n as i32 }),
    }
    let raw = stmts.get_ptr(0).expect("one statement");
    let stmt = (*raw).stmt;
    if (*stmt).type_ != pg_sys::NodeTag::T_SelectStmt {
        let tag = CStr::from_ptr(pg_sys::CreateCommandName(stmt))
            .to_string_lossy()
            .into_owned();
        return Err(PgtError::NotSelect { command: tag });
    }
    let select = stmt as *mut pg_sys::SelectStmt;
    if !(*select).intoClause.is_null() {
        return Err(PgtError::SelectInto);
    }
    if let Some(clause) = locking_clause(select) {
        return Err(PgtError::LockingClause { clause });
    }
    let query = pg_sys::parse_analyze_fixedparams(
        raw,
        c_sql.as_ptr(),
        std::ptr::null(),
        0,
        std::ptr::null_mut(),
    );
    if (*query).hasModifyingCTE {
        return Err(PgtError::ModifyingCte);
    }
    if (*query).commandType != pg_sys::CmdType::CMD_SELECT || !(*query).utilityStmt.is_null() {
        return Err(PgtError::NotSelect {
            command: "a utility statement".into(),
        });
    }
    if !(*query).rowMarks.is_null() {
        return Err(PgtError::LockingClause {
            clause: "FOR UPDATE/FOR SHARE",
        });
    }
    Ok(query)
}

fn analyze_raw(c_sql: &CStr) -> PgtResult<(String, Vec<RawColumn>, WalkState)> {
    // SAFETY: `c_sql` is a valid NUL-terminated string that outlives every call below.
    // raw_parser and parse_analyze_fixedparams allocate in CurrentMemoryContext (the
    // function-call context) and report problems by ERROR, which pgrx's FFI guard turns
    // into a Rust panic that unwinds to the SQL boundary. Every node pointer we read comes
    // from those results, and we check node tags before casting.
    unsafe {
        let query = parse_and_analyze(c_sql)?;
        strip_hidden_columns(query)?;
        let mut columns = Vec::new();
        for te in PgList::<pg_sys::TargetEntry>::from_pg((*query).targetList).iter_ptr() {
            if (*te).resjunk {
                continue;
            }
            let name = if (*te).resname.is_null() {
                "?column?".to_string()
            } else {
                CStr::from_ptr((*te).resname).to_string_lossy().into_owned()
            };
            let expr = (*te).expr as *mut pg_sys::Node;
            columns.push((
                name,
                pg_sys::exprType(expr),
                pg_sys::exprTypmod(expr),
                pg_sys::exprCollation(expr),
            ));
        }

        let mut walk = WalkState::default();
        relation_walker(
            query as *mut pg_sys::Node,
            &mut walk as *mut WalkState as *mut c_void,
        );

        let deparsed = deparse_qualified(query);
        Ok((deparsed, columns, walk))
    }
}

/// `SELECT *` over a stream table expands to its hidden `__pgt_*` columns too; a query
/// reading another stream table sees only its user columns, so such output columns are
/// dropped from the SELECT list (before the query is printed and stored).
///
/// SAFETY: `query` must be a valid analyzed `Query` in the current memory context.
unsafe fn strip_hidden_columns(query: *mut pg_sys::Query) -> PgtResult<()> {
    if !(*query).setOperations.is_null() {
        return Ok(());
    }
    let tles = PgList::<pg_sys::TargetEntry>::from_pg((*query).targetList);
    let mut keep = PgList::<pg_sys::TargetEntry>::new();
    let mut dropped = false;
    for tle in tles.iter_ptr() {
        let hidden = !(*tle).resjunk
            && !(*tle).resname.is_null()
            && CStr::from_ptr((*tle).resname)
                .to_bytes()
                .starts_with(b"__pgt_")
            && is_hidden_column(query, (*tle).expr as *mut pg_sys::Node)?;
        if hidden {
            dropped = true;
        } else {
            (*tle).resno = keep.len() as i16 + 1;
            keep.push(tle);
        }
    }
    if dropped {
        (*query).targetList = keep.into_pg();
    }
    Ok(())
}

/// Whether `node` (an expression of `query`'s SELECT list) is a plain reference to a
/// hidden column of a stream table, through join aliases, subqueries and CTEs.
unsafe fn is_hidden_column(query: *mut pg_sys::Query, node: *mut pg_sys::Node) -> PgtResult<bool> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Var {
        return Ok(false);
    }
    let v = node as *mut pg_sys::Var;
    if (*v).varlevelsup != 0 || (*v).varattno <= 0 {
        return Ok(false);
    }
    let rtable = PgList::<pg_sys::RangeTblEntry>::from_pg((*query).rtable);
    let Some(rte) = rtable.get_ptr((*v).varno as usize - 1) else {
        return Ok(false);
    };
    let att = (*v).varattno as usize - 1;
    let sub_output = |q: *mut pg_sys::Query| -> Option<*mut pg_sys::Node> {
        PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList)
            .iter_ptr()
            .filter(|t| !(**t).resjunk)
            .nth(att)
            .map(|t| (*t).expr as *mut pg_sys::Node)
    };
    match (*rte).rtekind {
        pg_sys::RTEKind::RTE_RELATION => Ok(Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s                               JOIN pg_catalog.pg_attribute a ON a.attrelid = s.pgt_relid                              WHERE s.pgt_relid = $1 AND a.attnum = $2 AND pg_catalog.starts_with(a.attname::text, '__pgt_'))",
            &[(*rte).relid.into(), (*v).varattno.into()],
        )?
        .unwrap_or(false)),
        pg_sys::RTEKind::RTE_JOIN => {
            let alias = PgList::<pg_sys::Node>::from_pg((*rte).joinaliasvars).get_ptr(att);
            match alias {
                Some(a) => is_hidden_column(query, a),
                None => Ok(false),
            }
        }
        pg_sys::RTEKind::RTE_SUBQUERY if !(*rte).subquery.is_null() => {
            let q = (*rte).subquery;
            match sub_output(q) {
                Some(e) if (*q).setOperations.is_null() => is_hidden_column(q, e),
                _ => Ok(false),
            }
        }
        _ => Ok(false),
    }
}

/// The first locking clause of a SELECT (or of either side of a set operation).
///
/// SAFETY: `select` must point to a valid `SelectStmt`.
unsafe fn locking_clause(select: *mut pg_sys::SelectStmt) -> Option<&'static str> {
    if select.is_null() {
        return None;
    }
    if !(*select).lockingClause.is_null() {
        return Some("FOR UPDATE/FOR SHARE");
    }
    locking_clause((*select).larg).or_else(|| locking_clause((*select).rarg))
}

/// Prints `query` back as SQL under an empty search_path so every name is qualified.
///
/// SAFETY: `query` must be a valid analyzed `Query`.
unsafe fn deparse_qualified(query: *mut pg_sys::Query) -> String {
    // A GUC nest level scopes the search_path change to this call, like a function's
    // SET clause; on ERROR, transaction (or subtransaction) abort unwinds it.
    let nest = pg_sys::NewGUCNestLevel();
    let user = pg_sys::GucContext::PGC_USERSET;
    crate::settings::set_saved("search_path", "", user);
    // Literals printed so that they parse back exactly, whatever the session: floats with
    // every digit, strings standard-conforming. Every other setting stays the creator's,
    // and refreshes pin the same ones (crate::settings).
    crate::settings::set_saved("standard_conforming_strings", "on", user);
    crate::settings::set_saved("extra_float_digits", "3", user);
    let text = CStr::from_ptr(pg_sys::pg_get_querydef(query, false))
        .to_string_lossy()
        .into_owned();
    pg_sys::AtEOXact_GUC(true, nest);
    text
}

/// Walks a query tree (sub-queries, CTEs, sublinks included) collecting every relation in
/// a range table with the columns its permission info says are read.
#[pg_guard]
unsafe extern "C-unwind" fn relation_walker(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if (*node).type_ == pg_sys::NodeTag::T_Query {
        let query = node as *mut pg_sys::Query;
        let state = &mut *(context as *mut WalkState);
        let perminfos = PgList::<pg_sys::RTEPermissionInfo>::from_pg((*query).rteperminfos);
        for rte in PgList::<pg_sys::RangeTblEntry>::from_pg((*query).rtable).iter_ptr() {
            if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
                continue;
            }
            let cols = state.relations.entry((*rte).relid.to_u32()).or_default();
            let idx = (*rte).perminfoindex as usize;
            if idx == 0 {
                continue;
            }
            if let Some(perm) = perminfos.get_ptr(idx - 1) {
                let mut member = pg_sys::bms_next_member((*perm).selectedCols, -1);
                while member >= 0 {
                    cols.push(member + pg_sys::FirstLowInvalidHeapAttributeNumber);
                    member = pg_sys::bms_next_member((*perm).selectedCols, member);
                }
            }
        }
        return pg_sys::query_tree_walker_impl(query, Some(relation_walker), context, 0);
    }
    pg_sys::expression_tree_walker_impl(node, Some(relation_walker), context)
}

fn output_column(
    name: String,
    typid: pg_sys::Oid,
    typmod: i32,
    collation: pg_sys::Oid,
) -> PgtResult<OutputColumn> {
    // A domain-typed output is stored as the domain's base type: assigning into a domain
    // column would run the domain's CHECK code (owned by whoever owns the domain) as the
    // refreshing role on every refresh (ADR-074). The values already passed the check.
    let mut typmod = typmod;
    // SAFETY: getBaseTypeAndTypmod reads the type cache for an existing type (the type of
    // an analyzed expression) and writes only through the typmod pointer.
    let typid = unsafe { pg_sys::getBaseTypeAndTypmod(typid, &mut typmod) };
    let row = Spi::get_three_with_args::<String, bool, String>(
        "SELECT pg_catalog.format_type(t.oid, $2), t.typtype = 'p', \
                CASE WHEN $3::oid <> 0 AND $3::oid <> t.typcollation \
                     THEN (SELECT format('%I.%I', n.nspname, c.collname) \
                             FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace \
                            WHERE c.oid = $3::oid) END \
           FROM pg_catalog.pg_type t WHERE t.oid = $1",
        &[typid.into(), typmod.into(), collation.into()],
    )?;
    let (type_sql, is_pseudo, collation_sql) = row;
    Ok(OutputColumn {
        name,
        type_sql: type_sql.unwrap_or_else(|| "unknown".into()),
        collation_sql,
        is_pseudo_type: is_pseudo.unwrap_or(true),
    })
}

fn source_relation(relid: pg_sys::Oid, attnos: &[i32]) -> PgtResult<SourceRelation> {
    let (schema, name, kind) = Spi::get_three_with_args::<String, String, String>(
        "SELECT n.nspname::text, c.relname::text, \
                CASE WHEN c.relpersistence = 't' THEN 'TEMP' \
                     WHEN n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') THEN 'CATALOG' \
                     WHEN EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_relid = c.oid) THEN 'STREAM_TABLE' \
                     ELSE CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED_TABLE' WHEN 'v' THEN 'VIEW' \
                                         WHEN 'm' THEN 'MATERIALIZED_VIEW' WHEN 'f' THEN 'FOREIGN_TABLE' ELSE 'OTHER' END \
                END \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
        &[relid.into()],
    )?;
    let schema = schema.unwrap_or_default();
    let name = name.unwrap_or_default();
    let qualified = format!("{schema}.{name}");
    let source_type = match kind.as_deref() {
        Some("TEMP") => return Err(PgtError::TemporarySource { name: qualified }),
        Some("CATALOG") | None => return Err(PgtError::CatalogSource { name: qualified }),
        Some("TABLE") => "TABLE",
        Some("PARTITIONED_TABLE") => "PARTITIONED_TABLE",
        Some("VIEW") => "VIEW",
        Some("MATERIALIZED_VIEW") => "MATERIALIZED_VIEW",
        Some("FOREIGN_TABLE") => "FOREIGN_TABLE",
        Some("STREAM_TABLE") => "STREAM_TABLE",
        Some(_) => return Err(PgtError::CatalogSource { name: qualified }),
    };
    // Whole-row references (attno 0) read every column.
    let whole_row = attnos.contains(&0);
    let wanted: Vec<i32> = attnos.iter().copied().filter(|a| *a > 0).collect();
    let (columns_used, columns_signature) = Spi::get_two_with_args::<Vec<String>, Vec<String>>(
        "SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}'), \
                coalesce(array_agg(pgtrickle._column_signature(a.attrelid, a.attnum) ORDER BY a.attnum), '{}') \
           FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND ($2 OR a.attnum = ANY($3::int2[]))",
        &[relid.into(), whole_row.into(), wanted.into()],
    )?;
    Ok(SourceRelation {
        relid,
        schema,
        name,
        source_type,
        columns_used: columns_used.unwrap_or_default(),
        columns_signature: columns_signature.unwrap_or_default(),
    })
}
