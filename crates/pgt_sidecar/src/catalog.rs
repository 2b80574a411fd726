//! Stream tables in the sidecar's catalog over a client connection: creating, dropping,
//! refreshing and listing them, and the scheduler's two traits (`pgt_scheduler::CatalogAccess`,
//! `pgt_scheduler::Refresher`, ADR-077) that `crate::serve` runs the shared scheduler tick
//! with.

use std::cell::RefCell;
use std::rc::Rc;

use pgt_core::status::AfterFailure;
use pgt_core::{OutputColumn, Schedule, ROW_ID_COLUMN};
use pgt_scheduler::{CatalogAccess, CatalogState, Entry, RefreshError, Refresher};
use pgt_sql::{quote_ident, QualifiedName};
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Transaction};

use pgt_pgquery::{ClientCatalog, FrontendError, PgQueryFrontend};

use crate::schema::{server_functions, SCHEMA};

/// The session settings a defining query is pinned to at creation and evaluated under at
/// every refresh (as the extension does, ADR-076): names resolve and values print the
/// same way whoever runs the refresh.
pub const PINNED_SETTINGS: &[&str] = &[
    "search_path",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "extra_float_digits",
    "bytea_output",
];

/// A server error's message (the `postgres` crate's Display adds "db error: ").
pub fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

/// Whether the catalog is installed in the connected database.
pub fn installed(c: &mut Client) -> Result<bool, postgres::Error> {
    Ok(c.query_one(
        "SELECT pg_catalog.to_regnamespace($1) IS NOT NULL",
        &[&SCHEMA],
    )?
    .get(0))
}

/// Installs (or completes) the catalog.
pub fn install(c: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = c.transaction()?;
    for ddl in crate::schema::install() {
        tx.batch_execute(&ddl)?;
    }
    tx.commit()
}

/// Creates stream table `name` (`schema.name` or a name in the current schema) defined by
/// `query`, refreshed on `schedule` (None: calculated from its readers), and fills it.
pub fn create(
    c: &mut Client,
    name: &str,
    query: &str,
    schedule: Option<&str>,
) -> Result<i64, String> {
    let schedule = Schedule::parse(schedule).map_err(|e| e.to_string())?;
    let mut tx = c.transaction().map_err(|e| message(&e))?;
    let parts: Vec<String> = tx
        .query_one("SELECT pg_catalog.parse_ident($1)", &[&name])
        .map_err(|e| message(&e))?
        .get(0);
    let (schema, rel) = match parts.as_slice() {
        [rel] => {
            let s: String = tx
                .query_one("SELECT pg_catalog.current_schema()::text", &[])
                .map_err(|e| message(&e))?
                .get(0);
            (s, rel.clone())
        }
        [schema, rel] => (schema.clone(), rel.clone()),
        _ => {
            return Err(format!(
                "invalid stream table name {name}: use name or schema.name"
            ))
        }
    };
    let table = QualifiedName::new(&schema, &rel);
    // PostgreSQL analyzes the query as a view (one statement only: the extended protocol
    // refuses several), which gives its output columns and the relations it reads.
    tx.execute(
        &format!("CREATE TEMPORARY VIEW pgt_sidecar_probe AS {query}"),
        &[],
    )
    .map_err(|e| format!("the defining query is invalid: {}", message(&e)))?;
    let columns: Vec<(String, String)> = tx
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) \
                    || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                            THEN ' COLLATE ' || (SELECT pg_catalog.format('%I.%I', n.nspname, l.collname) \
                                                   FROM pg_catalog.pg_collation l JOIN pg_catalog.pg_namespace n ON n.oid = l.collnamespace \
                                                  WHERE l.oid = a.attcollation) ELSE '' END \
               FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
              WHERE a.attrelid = 'pg_temp.pgt_sidecar_probe'::pg_catalog.regclass AND a.attnum > 0 ORDER BY a.attnum",
            &[],
        )
        .map_err(|e| message(&e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if let Some((n, _)) = columns.iter().find(|(n, _)| n == ROW_ID_COLUMN) {
        return Err(format!(
            "the column name {n} is reserved; rename it in the query"
        ));
    }
    let sources: Vec<postgres::types::Oid> = tx
        .query(
            "SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend d \
               JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
              WHERE r.ev_class = 'pg_temp.pgt_sidecar_probe'::pg_catalog.regclass \
                AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class",
            &[],
        )
        .map_err(|e| message(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pinned: Vec<String> = tx
        .query(
            "SELECT s || '=' || pg_catalog.current_setting(s) FROM pg_catalog.unnest($1::text[]) AS s",
            &[&PINNED_SETTINGS],
        )
        .map_err(|e| message(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.batch_execute("DROP VIEW pg_temp.pgt_sidecar_probe")
        .map_err(|e| message(&e))?;
    let visible: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let plan = incremental_plan(&mut tx, query, &table, visible.len());
    let defs: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("{} {t}", quote_ident(n)))
        .chain(
            plan.as_ref()
                .ok()
                .into_iter()
                .flat_map(|p| p.spec.hidden_columns.iter())
                .map(|(n, t)| format!("{} {t}", quote_ident(n))),
        )
        .collect();
    tx.batch_execute(&format!(
        "CREATE TABLE {table} ({} bigint PRIMARY KEY, {})",
        quote_ident(ROW_ID_COLUMN),
        defs.join(", ")
    ))
    .map_err(|e| message(&e))?;
    let (mode, reason, refresh) = match &plan {
        Ok(p) => {
            for ddl in &p.spec.extra_ddl {
                tx.batch_execute(ddl).map_err(|e| message(&e))?;
            }
            let full = pgt_dvm::driver::full_statement(
                &p.tree,
                &table,
                &visible,
                None,
                &server_functions(),
            )
            .map_err(|e| e.reason_line())?;
            ("DIFFERENTIAL", None, full)
        }
        Err(why) => (
            "FULL",
            Some(why.clone()),
            refresh_sql(&table, &columns, query),
        ),
    };
    let id: i64 = tx
        .query_one(
            &format!(
                "INSERT INTO {SCHEMA}.stream_tables (pgt_relid, defining_query, schedule, pinned_settings, refresh_sql, refresh_mode, refresh_mode_reason) \
                 VALUES ($1::text::pg_catalog.regclass, $2, $3, $4, $5, $6, $7) RETURNING pgt_id"
            ),
            &[
                &table.to_string(),
                &query,
                &schedule.to_catalog_text(),
                &pinned,
                &refresh,
                &mode,
                &reason,
            ],
        )
        .map_err(|e| message(&e))?
        .get(0);
    if let Ok(p) = &plan {
        for &src in &p.sources {
            let (source, cols) = source_columns(&mut tx, src)?;
            for ddl in crate::capture::create(src, &source, &cols) {
                tx.batch_execute(&ddl).map_err(|e| message(&e))?;
            }
        }
        let delta = pgt_dvm::driver::differential_statement(
            &p.tree,
            &table,
            &visible,
            &|oid| crate::capture::unconsumed(id, oid),
            &server_functions(),
        )
        .map_err(|e| e.reason_line())?;
        tx.execute(
            &format!("UPDATE {SCHEMA}.stream_tables SET delta_sql = $2, truncated_sql = $3 WHERE pgt_id = $1"),
            &[&id, &delta, &crate::capture::truncated(id, &p.sources)],
        )
        .map_err(|e| message(&e))?;
    }
    for s in &sources {
        tx.execute(
            &format!("INSERT INTO {SCHEMA}.dependencies (pgt_id, source_relid) VALUES ($1, $2)"),
            &[&id, s],
        )
        .map_err(|e| message(&e))?;
    }
    refresh_in(&mut tx, id, "CREATE", false).map_err(|e| message(&e))?;
    tx.commit().map_err(|e| message(&e))?;
    Ok(id)
}

/// What incremental maintenance of a stream table needs: its tree (after the rewrite
/// rules), its sources and its storage's extra columns.
struct Plan {
    tree: pgt_dvm::OpTree,
    sources: Vec<u32>,
    spec: pgt_dvm::driver::StorageSpec,
}

/// The tree of `query` from the sidecar's parse frontend (ADR-080), or why the stream
/// table is maintained by recomputation. The frontend's look-ups run in a savepoint, so a
/// failed one does not abort the creation.
fn incremental_plan(
    tx: &mut Transaction<'_>,
    query: &str,
    table: &QualifiedName,
    n_visible: usize,
) -> Result<Plan, String> {
    use pgt_dvm::frontend::ParseFrontend;
    let mut sp = tx.transaction().map_err(|e| message(&e))?;
    let planned = PgQueryFrontend::new(ClientCatalog::new(&mut sp)).plan(query);
    let t = match planned {
        Ok(t) => {
            sp.commit().map_err(|e| message(&e))?;
            t
        }
        Err(e) => {
            sp.rollback().map_err(|e| message(&e))?;
            return Err(match e {
                FrontendError::Dvm(d) => d.reason_line(),
                other => format!("the query is not translated here: {other}"),
            });
        }
    };
    if t.volatile {
        return Err(
            "the query calls volatile functions, whose results a refresh cannot reproduce".into(),
        );
    }
    if t.tree.columns().len() != n_visible {
        return Err("the translated query has another number of columns than the query".into());
    }
    let spec = pgt_dvm::driver::storage_spec(&t.tree, table).map_err(|e| e.reason_line())?;
    Ok(Plan {
        tree: t.tree,
        sources: t.sources,
        spec,
    })
}

/// A source's name and its columns as its change buffer holds them (domains as their
/// base types, virtual generated columns left out).
fn source_columns(
    tx: &mut Transaction<'_>,
    oid: u32,
) -> Result<(QualifiedName, Vec<crate::capture::Column>), String> {
    use pgt_pgquery::Catalog;
    let row = tx
        .query_one(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
            &[&oid],
        )
        .map_err(|e| message(&e))?;
    let (schema, name): (String, String) = (row.get(0), row.get(1));
    let mut cat = ClientCatalog::new(tx);
    let rel = cat
        .relation(Some(&schema), &name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("source {schema}.{name} does not exist"))?;
    let mut cols = Vec::new();
    for c in &rel.columns {
        cols.push(crate::capture::Column {
            name: c.name.clone(),
            type_sql: cat
                .type_info(c.base, c.collation)
                .map_err(|e| e.to_string())?
                .type_sql,
        });
    }
    Ok((QualifiedName::new(schema, name), cols))
}

/// The id of stream table `name` (resolved like a table name).
pub fn lookup(c: &mut Client, name: &str) -> Result<i64, String> {
    c.query_opt(
        &format!(
            "SELECT s.pgt_id FROM {SCHEMA}.stream_tables s WHERE s.pgt_relid = pg_catalog.to_regclass($1)"
        ),
        &[&name],
    )
    .map_err(|e| message(&e))?
    .map(|r| r.get(0))
    .ok_or_else(|| format!("stream table {name} does not exist"))
}

/// Drops stream table `name` and its storage, unless another stream table reads it.
pub fn drop(c: &mut Client, name: &str) -> Result<(), String> {
    let id = lookup(c, name)?;
    let mut tx = c.transaction().map_err(|e| message(&e))?;
    let readers: Vec<String> = tx
        .query(
            &format!(
                "SELECT r.pgt_relid::pg_catalog.regclass::text FROM {SCHEMA}.stream_tables s \
                   JOIN {SCHEMA}.dependencies d ON d.source_relid = s.pgt_relid \
                   JOIN {SCHEMA}.stream_tables r ON r.pgt_id = d.pgt_id \
                  WHERE s.pgt_id = $1 ORDER BY 1"
            ),
            &[&id],
        )
        .map_err(|e| message(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !readers.is_empty() {
        return Err(format!(
            "cannot drop {name}: stream tables read it: {}",
            readers.join(", ")
        ));
    }
    let sources: Vec<u32> = tx
        .query(
            &format!("SELECT source_relid FROM {SCHEMA}.dependencies WHERE pgt_id = $1"),
            &[&id],
        )
        .map_err(|e| message(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let table: String = tx
        .query_one(
            &format!(
                "DELETE FROM {SCHEMA}.stream_tables WHERE pgt_id = $1 RETURNING pgt_relid::pg_catalog.regclass::text"
            ),
            &[&id],
        )
        .map_err(|e| message(&e))?
        .get(0);
    // Sources no incrementally maintained stream table reads any more lose their capture.
    for src in sources {
        let row = tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {SCHEMA}.dependencies d JOIN {SCHEMA}.stream_tables s ON s.pgt_id = d.pgt_id \
                                     WHERE d.source_relid = $1 AND s.refresh_mode = 'DIFFERENTIAL'), \
                            (SELECT n.nspname::text FROM pg_catalog.pg_class c \
                               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1), \
                            (SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = $1)"
                ),
                &[&src],
            )
            .map_err(|e| message(&e))?;
        let (still_read, schema, name): (bool, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        if still_read {
            continue;
        }
        let source = schema.zip(name).map(|(s, n)| QualifiedName::new(s, n));
        for ddl in crate::capture::drop(src, source.as_ref()) {
            tx.batch_execute(&ddl).map_err(|e| message(&e))?;
        }
    }
    tx.batch_execute(&format!("DROP TABLE {table}"))
        .map_err(|e| message(&e))?;
    tx.commit().map_err(|e| message(&e))
}

/// Refreshes `name` now, in a transaction of its own (a suspended one too; it is active
/// again afterwards).
pub fn refresh(c: &mut Client, name: &str) -> Result<(), String> {
    let id = lookup(c, name)?;
    let mut tx = c.transaction().map_err(|e| message(&e))?;
    refresh_in(&mut tx, id, "MANUAL", false).map_err(|e| message(&e))?;
    tx.commit().map_err(|e| message(&e))
}

/// One stream table as `list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub schedule: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub last_refresh_at: Option<String>,
    pub consecutive_errors: i32,
}

/// The stream tables, by name.
pub fn list(c: &mut Client) -> Result<Vec<Listed>, String> {
    Ok(c.query(
        &format!(
            "SELECT pgt_relid::pg_catalog.regclass::text, schedule, status, status_reason, \
                        last_refresh_at::text, consecutive_errors \
                   FROM {SCHEMA}.stream_tables ORDER BY 1"
        ),
        &[],
    )
    .map_err(|e| message(&e))?
    .iter()
    .map(|r| Listed {
        name: r.get(0),
        schedule: r.get(1),
        status: r.get(2),
        status_reason: r.get(3),
        last_refresh_at: r.get(4),
        consecutive_errors: r.get(5),
    })
    .collect())
}

/// Recomputes stream table `id` in `tx` and records it (`_refresh` in the sidecar's schema,
/// the one implementation of a refresh): false when it is gone or, with `only_active`, not
/// ACTIVE.
fn refresh_in(
    tx: &mut Transaction<'_>,
    id: i64,
    initiated_by: &str,
    only_active: bool,
) -> Result<bool, postgres::Error> {
    Ok(tx
        .query_one(
            &format!("SELECT {SCHEMA}._refresh($1, $2, $3)"),
            &[&id, &initiated_by, &only_active],
        )?
        .get(0))
}

/// The recomputing statement of a stream table with these visible columns: the extension's
/// FULL-mode statement (`pgt_sql`), with the sidecar's row hashes.
fn refresh_sql(table: &QualifiedName, columns: &[(String, String)], query: &str) -> String {
    let columns: Vec<OutputColumn> = columns
        .iter()
        .map(|(name, type_sql)| OutputColumn {
            name: name.clone(),
            type_sql: type_sql.clone(),
            collation_sql: None,
            is_pseudo_type: false,
        })
        .collect();
    pgt_sql::full_refresh::full_refresh_statement(table, &columns, query, &server_functions())
}

/// A connection shared by the scheduler's two traits, as the extension's share a backend.
pub type Shared = Rc<RefCell<Client>>;

/// `pgt_scheduler::CatalogAccess` over the sidecar's catalog.
pub struct SidecarCatalog(pub Shared);

impl CatalogAccess for SidecarCatalog {
    type Error = String;

    fn load(&mut self) -> Result<Option<CatalogState>, String> {
        let mut c = self.0.borrow_mut();
        if !installed(&mut c).map_err(|e| message(&e))? {
            return Ok(None);
        }
        let mut tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| message(&e))?;
        let entries = tx
            .query(
                &format!(
                    "SELECT pgt_id, pgt_relid::pg_catalog.regclass::text, schedule, status, \
                            CASE WHEN is_populated THEN extract(epoch FROM last_refresh_at)::bigint END \
                       FROM {SCHEMA}.stream_tables"
                ),
                &[],
            )
            .map_err(|e| message(&e))?
            .iter()
            .map(|r| Entry {
                pgt_id: r.get(0),
                name: r.get(1),
                schedule: Schedule::parse(r.get::<_, Option<String>>(2).as_deref())
                    .unwrap_or(Schedule::Calculated),
                status: r.get(3),
                last_refresh: r.get(4),
            })
            .collect::<Vec<_>>();
        let mut graph = pgt_dag::Dag::new();
        for e in &entries {
            graph.add_node(e.pgt_id);
        }
        // Base tables are nodes too (negative ids), so diamonds forking at one are found.
        for r in tx
            .query(
                &format!(
                    "SELECT coalesce(src.pgt_id, -(d.source_relid::bigint)), d.pgt_id FROM {SCHEMA}.dependencies d \
                       LEFT JOIN {SCHEMA}.stream_tables src ON src.pgt_relid = d.source_relid"
                ),
                &[],
            )
            .map_err(|e| message(&e))?
        {
            graph.add_edge(r.get(0), r.get(1));
        }
        tx.commit().map_err(|e| message(&e))?;
        Ok(Some(CatalogState { entries, graph }))
    }

    fn record_skip(&mut self, pgt_id: i64, why: &str) -> Result<(), String> {
        self.0
            .borrow_mut()
            .execute(
                &format!(
                    "INSERT INTO {SCHEMA}.refresh_history (pgt_id, action, status, started_at, ended_at, reason, initiated_by) \
                     SELECT s.pgt_id, 'FULL', 'SKIPPED', pg_catalog.now(), pg_catalog.clock_timestamp(), \
                            'skipped: its locks were not available in time: ' || $2 || '; retried on the next tick', 'SCHEDULER' \
                       FROM {SCHEMA}.stream_tables s WHERE s.pgt_id = $1"
                ),
                &[&pgt_id, &why],
            )
            .map(|_| ())
            .map_err(|e| message(&e))
    }

    fn record_failure(
        &mut self,
        pgt_id: i64,
        _name: &str,
        error: &str,
        decide: &mut dyn FnMut(i32) -> AfterFailure,
    ) -> Result<(), String> {
        let mut c = self.0.borrow_mut();
        let mut tx = c.transaction().map_err(|e| message(&e))?;
        let Some(row) = tx
            .query_opt(
                &format!("SELECT consecutive_errors FROM {SCHEMA}.stream_tables WHERE pgt_id = $1 FOR UPDATE"),
                &[&pgt_id],
            )
            .map_err(|e| message(&e))?
        else {
            return Ok(()); // dropped meanwhile
        };
        let after = decide(row.get(0));
        tx.execute(
            &format!(
                "UPDATE {SCHEMA}.stream_tables SET consecutive_errors = $2, \
                        status = CASE WHEN $3::text IS NOT NULL THEN 'SUSPENDED' ELSE status END, \
                        status_reason = coalesce($3::text, status_reason) WHERE pgt_id = $1"
            ),
            &[&pgt_id, &after.consecutive_errors, &after.suspend],
        )
        .map_err(|e| message(&e))?;
        tx.execute(
            &format!(
                "INSERT INTO {SCHEMA}.refresh_history (pgt_id, action, status, started_at, ended_at, error_message, initiated_by) \
                 VALUES ($1, 'FULL', 'FAILED', pg_catalog.now(), pg_catalog.clock_timestamp(), $2, 'SCHEDULER')"
            ),
            &[&pgt_id, &error],
        )
        .map_err(|e| message(&e))?;
        tx.commit().map_err(|e| message(&e))
    }

    fn prune_history(&mut self, keep_secs: i64) -> Result<(), String> {
        self.0
            .borrow_mut()
            .execute(
                &format!(
                    "DELETE FROM {SCHEMA}.refresh_history WHERE started_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
                ),
                &[&(keep_secs as f64)],
            )
            .map(|_| ())
            .map_err(|e| message(&e))
    }
}

/// `pgt_scheduler::Refresher` over the same connection.
pub struct SidecarRefresher {
    pub client: Shared,
    pub lock_timeout_ms: u32,
}

impl Refresher for SidecarRefresher {
    fn refresh(&mut self, batch: &[i64], together: bool) -> Result<bool, RefreshError> {
        let mut c = self.client.borrow_mut();
        let run = |c: &mut Client| -> Result<bool, postgres::Error> {
            let mut tx = if together {
                c.build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .start()?
            } else {
                c.transaction()?
            };
            tx.execute(
                "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
                &[&format!("{}ms", self.lock_timeout_ms)],
            )?;
            let mut any = false;
            for id in batch {
                any |= refresh_in(&mut tx, *id, "SCHEDULER", true)?;
            }
            tx.commit()?;
            Ok(any)
        };
        run(&mut c).map_err(|e| {
            let conflict = matches!(
                e.code(),
                Some(&SqlState::LOCK_NOT_AVAILABLE) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            );
            if conflict {
                RefreshError::LockConflict(message(&e))
            } else {
                RefreshError::Failed(message(&e))
            }
        })
    }
}
