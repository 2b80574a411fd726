//! [`Catalog`] over an ordinary client connection (no extension needed): the catalog
//! queries the extension's frontend runs through SPI, plus plain-SQL forms of what it
//! reads from the server's caches (`getBaseTypeAndTypmod`, `format_type_extended` with
//! forced qualification, the type cache's extended hash function). Answers are cached
//! for the catalog's lifetime (one translation).

use std::collections::HashMap;

use postgres::{GenericClient, Row, SimpleQueryMessage};

use crate::catalog::*;

/// The server's message of a failed query (`postgres::Error` displays only "db error").
fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

pub struct ClientCatalog<'a, G: GenericClient = postgres::Client> {
    client: &'a mut G,
    types: HashMap<(TypeRef, u32), TypeInfo>,
    type_sql: HashMap<TypeRef, String>,
    operators: HashMap<String, Vec<Operator>>,
    casts: HashMap<(u32, u32), Option<Cast>>,
}

impl<'a, G: GenericClient> ClientCatalog<'a, G> {
    /// Look-ups over `client` (a connection or a transaction).
    pub fn new(client: &'a mut G) -> Self {
        ClientCatalog {
            client,
            types: HashMap::new(),
            type_sql: HashMap::new(),
            operators: HashMap::new(),
            casts: HashMap::new(),
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> CatalogResult<Vec<Row>> {
        self.client
            .query(sql, params)
            .map_err(|e| CatalogError(format!("catalog query failed: {}", db_message(&e))))
    }

    /// `getBaseTypeAndTypmod`: a domain's base type with the innermost domain's modifier.
    fn base_type(&mut self, ty: TypeRef) -> CatalogResult<TypeRef> {
        let rows = self.query(
            "WITH RECURSIVE d(oid, typmod, depth) AS ( \
                 SELECT $1::pg_catalog.oid, $2::pg_catalog.int4, 0 \
                 UNION ALL \
                 SELECT t.typbasetype, t.typtypmod, d.depth + 1 FROM d JOIN pg_catalog.pg_type t ON t.oid = d.oid \
                  WHERE t.typtype = 'd') \
             SELECT oid, typmod FROM d ORDER BY depth DESC LIMIT 1",
            &[&ty.oid, &ty.typmod],
        )?;
        Ok(rows
            .first()
            .map(|r| TypeRef {
                oid: r.get(0),
                typmod: r.get(1),
            })
            .unwrap_or(ty))
    }

    /// `format_type_extended(oid, typmod, TYPEMOD_GIVEN | FORCE_QUALIFY)`.
    fn type_sql(&mut self, ty: TypeRef) -> CatalogResult<String> {
        if let Some(s) = self.type_sql.get(&ty) {
            return Ok(s.clone());
        }
        let rows = self.query(
            "SELECT t.typelem, t.typsubscript OPERATOR(pg_catalog.=) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc, \
                    pg_catalog.format_type(t.oid, $2), pg_catalog.format('%I.%I', n.nspname, t.typname) \
               FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace \
              WHERE t.oid OPERATOR(pg_catalog.=) $1",
            &[&ty.oid, &ty.typmod],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| CatalogError(format!("type {} does not exist", ty.oid)))?;
        let (elem, array, formatted, qualified): (u32, bool, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        // The types with their own productions in the grammar print unqualified, with
        // their modifiers (format_type.c); every other name is qualified.
        const SPECIAL: &[u32] = &[
            16, 20, 21, 23, 700, 701, 1042, 1043, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700,
        ];
        let s = if elem != 0 && array {
            format!(
                "{}[]",
                self.type_sql(TypeRef {
                    oid: elem,
                    typmod: ty.typmod
                })?
            )
        } else if SPECIAL.contains(&ty.oid) {
            formatted
        } else if ty.typmod >= 0 {
            return Err(CatalogError(format!(
                "the modifier of type {formatted} is printed by its own function"
            )));
        } else {
            qualified
        };
        self.type_sql.insert(ty, s.clone());
        Ok(s)
    }

    /// The extended hash function of the type's default hash operator class, as the
    /// type cache finds it for a type with its own class (`None`: no hash support).
    fn hash_extended_proc(&mut self, oid: u32) -> CatalogResult<Option<u32>> {
        let rows = self.query(
            "SELECT p.amproc::pg_catalog.oid, t.typelem OPERATOR(pg_catalog.<>) 0 OR t.typtype OPERATOR(pg_catalog.=) ANY (ARRAY['c', 'r', 'm', 'e', 'p']::pg_catalog.\"char\"[]) \
               FROM pg_catalog.pg_type t \
               LEFT JOIN pg_catalog.pg_opclass oc ON oc.opcmethod OPERATOR(pg_catalog.=) 405::pg_catalog.oid AND oc.opcdefault \
                     AND oc.opcintype OPERATOR(pg_catalog.=) t.oid \
               LEFT JOIN pg_catalog.pg_amproc p ON p.amprocfamily OPERATOR(pg_catalog.=) oc.opcfamily AND p.amprocnum OPERATOR(pg_catalog.=) 2 \
                     AND p.amproclefttype OPERATOR(pg_catalog.=) oc.opcintype AND p.amprocrighttype OPERATOR(pg_catalog.=) oc.opcintype \
              WHERE t.oid OPERATOR(pg_catalog.=) $1",
            &[&oid],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let (proc, generic): (Option<u32>, bool) = (row.get(0), row.get(1));
        match proc {
            Some(p) => Ok(Some(p)),
            // Arrays, composites, ranges, enums and pseudo-types get their hash support
            // from polymorphic classes through the type cache.
            None if generic => Err(CatalogError(format!(
                "the hash support of type {oid} is found through the server's type cache"
            ))),
            None => Ok(None),
        }
    }

    fn function_row(row: &Row, at: usize) -> Function {
        let vol: String = row.get(at + 4);
        Function {
            oid: row.get(at),
            name_sql: row.get(at + 1),
            builtin: row.get(at + 2),
            leakproof: row.get(at + 3),
            volatility: vol.chars().next().unwrap_or('v'),
            result: row.get(at + 5),
        }
    }
}

/// The columns of a function row, in [`ClientCatalog::function_row`]'s order (`p` is
/// `pg_proc`, `pn` its namespace).
const FUNCTION_COLUMNS: &str = "p.oid, pg_catalog.format('%I.%I', pn.nspname, p.proname), \
    pn.nspname OPERATOR(pg_catalog.=) 'pg_catalog', p.proleakproof, p.provolatile::pg_catalog.text, p.prorettype";

impl<G: GenericClient> Catalog for ClientCatalog<'_, G> {
    fn relation(&mut self, schema: Option<&str>, name: &str) -> CatalogResult<Option<Relation>> {
        let path = match schema {
            Some(s) => format!("{}.{}", pgt_sql::quote_ident(s), pgt_sql::quote_ident(name)),
            None => pgt_sql::quote_ident(name),
        };
        let rows = self.query(
            "SELECT c.oid, n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text, \
                    c.relhassubclass, c.relispartition, \
                    (SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
                        AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
                        AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['__pgt_change_id', '__pgt_xid', '__pgt_op']::pg_catalog.name[]) \
                      ORDER BY a.attnum LIMIT 1), \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
                        AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) 'v'), \
                    (SELECT i.indkey::pg_catalog.text FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid \
                        AND i.indisprimary AND i.indimmediate) \
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
              WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
            &[&path],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let oid: u32 = row.get(0);
        let kind: String = row.get(3);
        let pk: Option<String> = row.get(8);
        let mut rel = Relation {
            oid,
            schema: row.get(1),
            name: row.get(2),
            kind: kind.chars().next().unwrap_or('?'),
            has_children: row.get(4),
            is_partition: row.get(5),
            reserved_column: row.get(6),
            has_virtual_columns: row.get(7),
            columns: Vec::new(),
            primary_key: pk.map(|k| {
                k.split_whitespace()
                    .filter_map(|a| a.parse::<i16>().ok())
                    .collect()
            }),
        };
        let cols = self.query(
            "SELECT a.attnum, a.attname::pg_catalog.text, a.atttypid, a.atttypmod, a.attcollation, \
                    (SELECT pg_catalog.format('%I.%I', n.nspname, cl.collname) FROM pg_catalog.pg_collation cl \
                       JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.collnamespace \
                      WHERE cl.oid OPERATOR(pg_catalog.=) a.attcollation) \
               FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 \
                AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.<>) 'v' ORDER BY a.attnum",
            &[&oid],
        )?;
        for c in cols {
            let declared = TypeRef {
                oid: c.get(2),
                typmod: c.get(3),
            };
            let base = self.base_type(declared)?;
            rel.columns.push(RelColumn {
                attnum: c.get(0),
                name: c.get(1),
                declared,
                base,
                collation: c.get(4),
                collation_sql: c.get(5),
            });
        }
        Ok(Some(rel))
    }

    fn type_info(&mut self, ty: TypeRef, collation: u32) -> CatalogResult<TypeInfo> {
        if let Some(t) = self.types.get(&(ty, collation)) {
            return Ok(t.clone());
        }
        let type_sql = self.type_sql(ty)?;
        let base = self.base_type(ty)?;
        let rows = self.query(
            "WITH p(t, m, c, d) AS (SELECT $1::pg_catalog.oid, $2::pg_catalog.int4, $3::pg_catalog.oid, $4::pg_catalog.oid) \
             SELECT CASE WHEN p.t IN (16, 18, 19, 20, 21, 23, 26, 17, 1082, 1083, 1114, 1184, 2950) THEN true \
                         WHEN p.t IN (25, 1043) OR (p.t = 1042 AND p.m >= 0) \
                              THEN coalesce((SELECT c.collisdeterministic FROM pg_catalog.pg_collation c WHERE c.oid = p.c), true) \
                         WHEN p.t = 1700 THEN p.m >= 0 \
                         ELSE coalesce((SELECT t.typtype = 'e' FROM pg_catalog.pg_type t WHERE t.oid = p.t), false) END, \
                    (SELECT t.typsend <> 0 AND (t.typelem = 0 OR coalesce((SELECT e.typsend <> 0 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem), false)) \
                       FROM pg_catalog.pg_type t WHERE t.oid = p.t), \
                    (SELECT t.typcollation FROM pg_catalog.pg_type t WHERE t.oid = p.d), \
                    (SELECT t.typtype = 'd' FROM pg_catalog.pg_type t WHERE t.oid = p.d) \
               FROM p",
            &[&base.oid, &base.typmod, &collation, &ty.oid],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| CatalogError("type properties".into()))?;
        let exact: bool = row.get::<_, Option<bool>>(0).unwrap_or(false);
        let binary: bool = row.get::<_, Option<bool>>(1).unwrap_or(false);
        let own_collation: u32 = row.get::<_, Option<u32>>(2).unwrap_or(0);
        let is_domain: bool = row.get::<_, Option<bool>>(3).unwrap_or(false);
        // The extension's canonical forms (numeric scales, -0 and NaN of floats).
        let mut canonical = match (base.oid, base.typmod) {
            (1700, m) if m < 0 => Some("pg_catalog.trim_scale($)".to_string()),
            (700 | 701, _) => {
                let t = if base.oid == 700 { "float4" } else { "float8" };
                Some(format!(
                    "(CASE WHEN $ OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.{t} THEN 'NaN'::pg_catalog.{t} \
                     ELSE $ OPERATOR(pg_catalog.+) 0::pg_catalog.{t} END)"
                ))
            }
            _ => None,
        };
        if canonical.is_none() && !exact {
            if let Some(proc) = self.hash_extended_proc(base.oid)? {
                let rows = self.query(
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
                    &[&proc, &collation, &base.oid],
                )?;
                if let Some(r) = rows.first() {
                    let f: Option<String> = r.get(0);
                    let coll: Option<String> = r.get(1);
                    canonical = f.map(|f| {
                        format!("{f}(($){}, 0::pg_catalog.int8)", coll.unwrap_or_default())
                    });
                }
            }
        }
        let info = TypeInfo {
            type_sql,
            exact_equality: exact,
            binary_identity: binary,
            canonical,
            collation: own_collation,
            is_domain,
        };
        self.types.insert((ty, collation), info.clone());
        Ok(info)
    }

    fn type_name(&mut self, ty: TypeRef) -> CatalogResult<String> {
        self.type_sql(ty)
    }

    fn type_named(&mut self, name: &str) -> CatalogResult<Option<u32>> {
        let rows = self.query("SELECT pg_catalog.to_regtype($1)::pg_catalog.oid", &[&name])?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<u32>>(0)))
    }

    fn operators(&mut self, name: &str) -> CatalogResult<Vec<Operator>> {
        if let Some(v) = self.operators.get(name) {
            return Ok(v.clone());
        }
        let sql = format!(
            "SELECT o.oid, pg_catalog.format('OPERATOR(%I.%s)', n.nspname, o.oprname), o.oprleft, o.oprright, o.oprresult, \
                    o.oprcanmerge, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_amop a WHERE a.amopmethod OPERATOR(pg_catalog.=) 403::pg_catalog.oid \
                              AND (a.amopopr OPERATOR(pg_catalog.=) o.oid \
                                   OR (a.amopopr OPERATOR(pg_catalog.=) o.oprnegate AND a.amopstrategy OPERATOR(pg_catalog.=) 3))), \
                    {FUNCTION_COLUMNS} \
               FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace \
               JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) o.oprcode \
               JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE o.oprname OPERATOR(pg_catalog.=) $1 AND pg_catalog.pg_operator_is_visible(o.oid)"
        );
        let rows = self.query(&sql, &[&name])?;
        let ops: Vec<Operator> = rows
            .iter()
            .map(|r| Operator {
                oid: r.get(0),
                name_sql: r.get(1),
                left: r.get(2),
                right: r.get(3),
                result: r.get(4),
                mergejoinable: r.get(5),
                btree: r.get(6),
                func: Self::function_row(r, 7),
            })
            .collect();
        self.operators.insert(name.to_string(), ops.clone());
        Ok(ops)
    }

    fn function(&mut self, name: &str, args: &[u32]) -> CatalogResult<Option<Function>> {
        let argtypes = args
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let sql = format!(
            "SELECT {FUNCTION_COLUMNS} FROM pg_catalog.pg_proc p \
               JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE p.proname OPERATOR(pg_catalog.=) $1 AND p.proargtypes::pg_catalog.text OPERATOR(pg_catalog.=) $2 \
                AND p.prokind OPERATOR(pg_catalog.=) 'f' AND NOT p.proretset AND p.provariadic OPERATOR(pg_catalog.=) 0::pg_catalog.oid \
                AND pg_catalog.pg_function_is_visible(p.oid)"
        );
        let rows = self.query(&sql, &[&name, &argtypes])?;
        Ok(rows.first().map(|r| Self::function_row(r, 0)))
    }

    fn aggregate(&mut self, name: &str, args: Option<&[u32]>) -> CatalogResult<Option<Function>> {
        let sql = format!(
            "SELECT {FUNCTION_COLUMNS} FROM pg_catalog.pg_proc p \
               JOIN pg_catalog.pg_aggregate g ON g.aggfnoid OPERATOR(pg_catalog.=) p.oid \
               JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE p.proname OPERATOR(pg_catalog.=) $1 AND p.proargtypes::pg_catalog.text OPERATOR(pg_catalog.=) $2 \
                AND p.prokind OPERATOR(pg_catalog.=) 'a' AND g.aggkind OPERATOR(pg_catalog.=) 'n' \
                AND pg_catalog.pg_function_is_visible(p.oid)"
        );
        let candidates: Vec<String> = match args {
            None => vec![String::new()],
            Some([t]) => vec![t.to_string(), "2276".to_string()],
            Some(ts) => vec![ts.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")],
        };
        for args in candidates {
            let rows = self.query(&sql, &[&name, &args])?;
            if let Some(r) = rows.first() {
                return Ok(Some(Self::function_row(r, 0)));
            }
        }
        Ok(None)
    }

    fn sort_operator(&mut self, ty: u32, descending: bool) -> CatalogResult<Option<String>> {
        let strategy: i16 = if descending { 5 } else { 1 };
        let rows = self.query(
            "SELECT pg_catalog.format('OPERATOR(%I.%s)', n.nspname, o.oprname) \
               FROM pg_catalog.pg_opclass oc \
               JOIN pg_catalog.pg_amop a ON a.amopfamily OPERATOR(pg_catalog.=) oc.opcfamily \
                AND a.amoplefttype OPERATOR(pg_catalog.=) oc.opcintype AND a.amoprighttype OPERATOR(pg_catalog.=) oc.opcintype \
                AND a.amopstrategy OPERATOR(pg_catalog.=) $2 \
               JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) a.amopopr \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace \
              WHERE oc.opcmethod OPERATOR(pg_catalog.=) 403::pg_catalog.oid AND oc.opcdefault \
                AND oc.opcintype OPERATOR(pg_catalog.=) $1",
            &[&ty, &strategy],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn collation_named(&mut self, name: &str) -> CatalogResult<Option<(u32, String)>> {
        let rows = self.query(
            "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.collname) FROM pg_catalog.pg_collation c \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.collnamespace \
              WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regcollation($1)",
            &[&name],
        )?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    fn collation_name(&mut self, oid: u32) -> CatalogResult<String> {
        let rows = self.query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.collname) FROM pg_catalog.pg_collation c \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.collnamespace \
              WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[&oid],
        )?;
        rows.first()
            .map(|r| r.get(0))
            .ok_or_else(|| CatalogError(format!("collation {oid} does not exist")))
    }

    fn array_type(&mut self, elem: u32) -> CatalogResult<Option<u32>> {
        let rows = self.query(
            "SELECT t.typarray FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) $1 \
                AND t.typarray OPERATOR(pg_catalog.<>) 0::pg_catalog.oid",
            &[&elem],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn candidates(
        &mut self,
        name: &str,
        nargs: usize,
        aggregate: bool,
    ) -> CatalogResult<Vec<(Function, Vec<u32>)>> {
        let sql = format!(
            "SELECT {FUNCTION_COLUMNS}, p.proargtypes::pg_catalog.text FROM pg_catalog.pg_proc p \
               JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE p.proname OPERATOR(pg_catalog.=) $1 AND p.pronargs OPERATOR(pg_catalog.=) $2 \
                AND p.prokind::pg_catalog.text OPERATOR(pg_catalog.=) $3::pg_catalog.text AND NOT p.proretset \
                AND p.provariadic OPERATOR(pg_catalog.=) 0::pg_catalog.oid \
                AND (p.prokind OPERATOR(pg_catalog.<>) 'a' OR EXISTS (SELECT 1 FROM pg_catalog.pg_aggregate g \
                      WHERE g.aggfnoid OPERATOR(pg_catalog.=) p.oid AND g.aggkind OPERATOR(pg_catalog.=) 'n')) \
                AND pg_catalog.pg_function_is_visible(p.oid)"
        );
        let nargs = i16::try_from(nargs).unwrap_or(i16::MAX);
        let kind = if aggregate { "a" } else { "f" };
        let rows = self.query(&sql, &[&name, &nargs, &kind])?;
        Ok(rows
            .iter()
            .map(|r| {
                let types: String = r.get(6);
                (
                    Self::function_row(r, 0),
                    types
                        .split_whitespace()
                        .filter_map(|t| t.parse().ok())
                        .collect(),
                )
            })
            .collect())
    }

    fn cast(&mut self, from: u32, to: u32) -> CatalogResult<Option<Cast>> {
        if let Some(c) = self.casts.get(&(from, to)) {
            return Ok(c.clone());
        }
        let sql = format!(
            "SELECT c.castmethod::pg_catalog.text, c.castcontext::pg_catalog.text, {} \
               FROM pg_catalog.pg_cast c LEFT JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) c.castfunc \
               LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace \
              WHERE c.castsource OPERATOR(pg_catalog.=) $1 AND c.casttarget OPERATOR(pg_catalog.=) $2",
            // A cast without a function has no name to format.
            FUNCTION_COLUMNS.replace(
                "pg_catalog.format('%I.%I', pn.nspname, p.proname)",
                "CASE WHEN p.oid IS NOT NULL THEN pg_catalog.format('%I.%I', pn.nspname, p.proname) END"
            )
        );
        let rows = self.query(&sql, &[&from, &to])?;
        let cast = match rows.first() {
            Some(r) => {
                let method: String = r.get(0);
                let context: String = r.get(1);
                let method = match method.as_str() {
                    "f" => CastMethod::Function(Self::function_row(r, 2)),
                    "b" => CastMethod::Binary,
                    _ => CastMethod::InOut,
                };
                Some(Cast {
                    method,
                    context: context.chars().next().unwrap_or('e'),
                })
            }
            None => {
                // Automatic I/O conversion to a string type (assignment) or from one
                // (explicit).
                let rows = self.query(
                    "SELECT (SELECT t.typcategory OPERATOR(pg_catalog.=) 'S' FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) $1), \
                            (SELECT t.typcategory OPERATOR(pg_catalog.=) 'S' FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) $2)",
                    &[&from, &to],
                )?;
                let (from_s, to_s): (Option<bool>, Option<bool>) = rows
                    .first()
                    .map(|r| (r.get(0), r.get(1)))
                    .unwrap_or((None, None));
                match (from_s.unwrap_or(false), to_s.unwrap_or(false)) {
                    (_, true) => Some(Cast {
                        method: CastMethod::InOut,
                        context: 'a',
                    }),
                    (true, false) => Some(Cast {
                        method: CastMethod::InOut,
                        context: 'e',
                    }),
                    _ => None,
                }
            }
        };
        self.casts.insert((from, to), cast.clone());
        Ok(cast)
    }

    fn constant(&mut self, text: &str, ty: TypeRef) -> CatalogResult<String> {
        let type_sql = self.type_sql(ty)?;
        // The simple protocol returns values in text form: the type's output function.
        let sql = format!(
            "SELECT pg_catalog.set_config('extra_float_digits', '3', true), {}::{type_sql}",
            pgt_sql::quote_literal(text)
        );
        let messages = self.client.simple_query(&sql).map_err(|e| {
            CatalogError(format!(
                "invalid constant {}: {}",
                pgt_sql::quote_literal(text),
                db_message(&e)
            ))
        })?;
        for m in messages {
            if let SimpleQueryMessage::Row(r) = m {
                return Ok(r.get(1).unwrap_or_default().to_string());
            }
        }
        Err(CatalogError("a constant could not be read".into()))
    }
}
