//! Each command: the SQL it runs and how it prints the result.
//!
//! Rows are read through `row_to_json`, so JSON output carries every value in the
//! server's own JSON form. Every name in the SQL is schema-qualified (operators too where
//! a user's search path could supply another): the CLI runs as whoever the operator
//! connects as, with their search path.
//!
//! The SQL names the extension's schema, `pgtrickle`. A database where pg_trickle_sidecar
//! keeps the stream tables (no extension) has views and functions of the same names and
//! columns in `pgtrickle_sidecar` (ADR-079); [`Db`] then runs every statement against
//! that schema instead.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use postgres::types::ToSql;
use postgres::{Client, Config};
use postgres_native_tls::MakeTlsConnector;
use serde_json::{json, Value};

use crate::cli::{Args, Command};
use crate::graph::{Graph, Kind};
use crate::output::{col, json as json_text, record, table, Column, Format, Row};
use crate::progress::Progress;
use crate::{exit, CmdResult, SharedWriter};

/// `health` exit codes (the monitoring-plugin convention).
pub const HEALTH_OK: i32 = 0;
pub const HEALTH_WARNING: i32 = 1;
pub const HEALTH_ERROR: i32 = 2;
pub const HEALTH_UNKNOWN: i32 = 3;

pub fn dispatch(args: &Args, out: &mut dyn Write, err: &SharedWriter) -> CmdResult {
    let (cfg, tls) = crate::conn::config(args.dsn.as_deref(), &crate::conn::ProcessEnv)?;
    let connector = tls.connector()?;
    let mut c = cfg.connect(connector.clone()).map_err(|e| {
        format!(
            "could not connect ({}): {}",
            crate::conn::describe(&cfg),
            db_error(&e)
        )
    })?;
    let found: Option<String> = c
        .query_one(
            "SELECT CASE WHEN pg_catalog.to_regclass('pgtrickle.stream_tables_info') IS NOT NULL THEN 'pgtrickle' \
                         WHEN pg_catalog.to_regclass('pgtrickle_sidecar.stream_tables_info') IS NOT NULL THEN 'pgtrickle_sidecar' END",
            &[],
        )
        .map_err(|e| db_error(&e))?
        .get(0);
    let Some(schema) = found else {
        let db: String = c
            .query_one("SELECT pg_catalog.current_database()::pg_catalog.text", &[])
            .map_err(|e| db_error(&e))?
            .get(0);
        return Err(format!(
            "pg_trickle is not installed in database \"{db}\" (CREATE EXTENSION pg_trickle), and pg_trickle_sidecar does not serve it"
        ));
    };
    let mut c = Db {
        client: &mut c,
        sidecar: schema == "pgtrickle_sidecar",
    };
    let mut w = Writer {
        out,
        json: args.json,
    };
    match &args.command {
        Command::List => list(&mut c, &mut w),
        Command::Show { name, limit } => show(&mut c, &mut w, name, *limit),
        Command::Refresh {
            names,
            all,
            progress,
        } => {
            let terminal = std::io::stderr().is_terminal();
            let watch = (*progress || terminal).then_some((&cfg, &connector, err, terminal));
            refresh(&mut c, &mut w, names, *all, watch)
        }
        Command::Explain { name, analyze } => explain(&mut c, &mut w, name, *analyze),
        Command::Graph { dot } => graph(&mut c, &mut w, *dot),
        Command::Health => health(&mut c, &mut w),
    }
}

struct Writer<'a> {
    out: &'a mut dyn Write,
    json: bool,
}

impl Writer<'_> {
    fn text(&mut self, s: &str) -> Result<(), String> {
        self.out
            .write_all(s.as_bytes())
            .map_err(|e| format!("writing the output: {e}"))
    }
    fn json(&mut self, v: &Value) -> Result<(), String> {
        self.text(&json_text(v))
    }
}

/// The connection, with the schema the stream tables' views live in: statements are
/// written against `pgtrickle`, and run against `pgtrickle_sidecar` where the sidecar
/// keeps the stream tables.
struct Db<'a> {
    client: &'a mut Client,
    sidecar: bool,
}

impl Db<'_> {
    fn sql<'s>(&self, sql: &'s str) -> std::borrow::Cow<'s, str> {
        if self.sidecar {
            sql.replace("pgtrickle.", "pgtrickle_sidecar.").into()
        } else {
            sql.into()
        }
    }
    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let sql = self.sql(sql);
        self.client.query(sql.as_ref(), params)
    }
    fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<postgres::Row, postgres::Error> {
        let sql = self.sql(sql);
        self.client.query_one(sql.as_ref(), params)
    }
    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<postgres::Row>, postgres::Error> {
        let sql = self.sql(sql);
        self.client.query_opt(sql.as_ref(), params)
    }
    fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let sql = self.sql(sql);
        self.client.execute(sql.as_ref(), params)
    }
}

/// A server error as psql shows it: message, detail, hint and SQLSTATE.
fn db_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = format!("{} (SQLSTATE {})", d.message(), d.code().code());
            if let Some(x) = d.detail() {
                s.push_str(&format!("\nDETAIL: {x}"));
            }
            if let Some(x) = d.hint() {
                s.push_str(&format!("\nHINT: {x}"));
            }
            s
        }
        None => {
            // Connection and TLS errors keep their cause in the source chain.
            let mut s = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !s.contains(&text) {
                    s.push_str(": ");
                    s.push_str(&text);
                }
                cause = c.source();
            }
            s
        }
    }
}

/// The rows of `sql`, each as a JSON object with the query's column names and order.
fn rows(c: &mut Db, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, String> {
    let wrapped = format!("SELECT pg_catalog.row_to_json(q)::pg_catalog.text FROM ({sql}) AS q");
    c.query(&wrapped, params)
        .map_err(|e| db_error(&e))?
        .iter()
        .map(|r| {
            let text: String = r.get(0);
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(format!("unexpected row from the server: {text}")),
            }
        })
        .collect()
}

/// A stream table named as the extension's functions name it (the search path finds an
/// unqualified name): its id and its qualified name.
fn resolve(c: &mut Db, name: &str) -> Result<(i64, String), String> {
    let row = c
        .query_opt(
            "SELECT s.pgt_id, pg_catalog.format('%I.%I', s.pgt_schema, s.pgt_name) \
               FROM pgtrickle.pgt_stream_tables s \
              WHERE s.pgt_relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)::pg_catalog.oid",
            &[&name],
        )
        .map_err(|e| db_error(&e))?
        .ok_or_else(|| format!("stream table \"{name}\" does not exist"))?;
    Ok((row.get(0), row.get(1)))
}

const NAME: &str = "pg_catalog.format('%I.%I', i.schemaname, i.name) AS name";

// ------------------------------------------------------------------------------- list

const LIST_SQL: &str = "SELECT pg_catalog.format('%I.%I', i.schemaname, i.name) AS name, \
        i.refresh_mode AS requested_mode, i.effective_refresh_mode AS mode, i.refresh_mode_reason AS mode_reason, \
        i.schedule, i.status, i.status_reason, i.is_populated AS populated, \
        pg_catalog.date_part('epoch', i.staleness) AS staleness_seconds, \
        i.data_timestamp, i.last_refresh_at, i.next_due_at, i.consecutive_errors \
   FROM pgtrickle.stream_tables_info i ORDER BY i.schemaname, i.name";

/// `FULL` when requested and used; `FULL (AUTO)` when AUTO resolved to FULL.
fn mode_shown(r: &mut Row) {
    let used = r.get("mode").and_then(Value::as_str).unwrap_or("");
    let asked = r
        .get("requested_mode")
        .and_then(Value::as_str)
        .unwrap_or("");
    let shown = if used == asked || asked.is_empty() {
        used.to_string()
    } else {
        format!("{used} ({asked})")
    };
    r.insert("mode_shown".into(), Value::String(shown));
}

fn list(c: &mut Db, w: &mut Writer) -> CmdResult {
    let mut rs = rows(c, LIST_SQL, &[])?;
    if w.json {
        w.json(&Value::Array(rs.into_iter().map(Value::Object).collect()))?;
        return Ok(exit::OK);
    }
    rs.iter_mut().for_each(mode_shown);
    const COLS: [Column; 7] = [
        col("name", "name", Format::Plain),
        col("mode", "mode_shown", Format::Plain),
        col("schedule", "schedule", Format::Plain),
        col("status", "status", Format::Plain),
        col("staleness", "staleness_seconds", Format::Seconds),
        col("last refresh", "last_refresh_at", Format::Timestamp),
        col("errors", "consecutive_errors", Format::Plain),
    ];
    w.text(&table(&rs, &COLS))?;
    Ok(exit::OK)
}

// ------------------------------------------------------------------------------- show

fn show(c: &mut Db, w: &mut Writer, name: &str, limit: i32) -> CmdResult {
    let (id, _) = resolve(c, name)?;
    let main_sql = format!(
        "SELECT {NAME}, s.original_query AS query, s.defining_query, \
                i.refresh_mode AS requested_mode, i.effective_refresh_mode AS mode, i.refresh_mode_reason AS mode_reason, \
                i.schedule, i.status, i.status_reason, i.is_populated AS populated, i.data_timestamp, \
                pg_catalog.date_part('epoch', i.staleness) AS staleness_seconds, \
                i.last_refresh_at, i.next_due_at, i.consecutive_errors, i.created_at, \
                c.reltuples::pg_catalog.int8 AS estimated_rows, \
                pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(s.pgt_relid)) AS size, \
                st.refreshes, st.differential_refreshes, st.full_refreshes, st.failures, \
                pg_catalog.date_part('epoch', st.avg_duration) OPERATOR(pg_catalog.*) 1000 AS avg_duration_ms, \
                pg_catalog.date_part('epoch', st.last_duration) OPERATOR(pg_catalog.*) 1000 AS last_duration_ms \
           FROM pgtrickle.stream_tables_info i \
           JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id OPERATOR(pg_catalog.=) i.pgt_id \
           JOIN pgtrickle.pg_stat_stream_tables st ON st.pgt_id OPERATOR(pg_catalog.=) i.pgt_id \
           LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.pgt_relid \
          WHERE i.pgt_id OPERATOR(pg_catalog.=) $1"
    );
    let mut main = rows(c, &main_sql, &[&id])?
        .pop()
        .ok_or_else(|| format!("stream table \"{name}\" was dropped meanwhile"))?;
    let sources = rows(
        c,
        "SELECT coalesce(pg_catalog.format('%I.%I', n.nspname, r.relname), \
                         pg_catalog.format('%I.%I', d.source_schema, d.source_name)) AS source, \
                d.source_type AS type, cap.mode AS capture, cap.reason AS capture_reason, \
                d.columns_used \
           FROM pgtrickle.pgt_dependencies d \
           LEFT JOIN pgtrickle.pgt_capture cap ON cap.source_relid OPERATOR(pg_catalog.=) d.source_relid \
           LEFT JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.source_relid \
           LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace \
          WHERE d.pgt_id OPERATOR(pg_catalog.=) $1 ORDER BY 1",
        &[&id],
    )?;
    let refreshes = rows(
        c,
        "SELECT h.refresh_id, h.started_at, h.action, h.status, \
                pg_catalog.date_part('epoch', h.ended_at OPERATOR(pg_catalog.-) h.started_at) OPERATOR(pg_catalog.*) 1000 AS duration_ms, \
                h.changes, h.rows_inserted, h.rows_deleted, h.initiated_by, h.reason, h.error_message \
           FROM pgtrickle.refresh_history_info h \
          WHERE h.pgt_id OPERATOR(pg_catalog.=) $1 ORDER BY h.refresh_id DESC LIMIT $2",
        &[&id, &(limit.max(0) as i64)],
    )?;
    if w.json {
        w.json(&json!({
            "stream_table": main,
            "sources": sources,
            "refreshes": refreshes,
        }))?;
        return Ok(exit::OK);
    }
    mode_shown(&mut main);
    const MAIN: [Column; 21] = [
        col("name", "name", Format::Plain),
        col("mode", "mode_shown", Format::Plain),
        col("mode reason", "mode_reason", Format::Plain),
        col("schedule", "schedule", Format::Plain),
        col("status", "status", Format::Plain),
        col("status reason", "status_reason", Format::Plain),
        col("populated", "populated", Format::YesNo),
        col("data as of", "data_timestamp", Format::Timestamp),
        col("staleness", "staleness_seconds", Format::Seconds),
        col("last refresh", "last_refresh_at", Format::Timestamp),
        col("next due", "next_due_at", Format::Timestamp),
        col("errors in a row", "consecutive_errors", Format::Plain),
        col("rows (estimate)", "estimated_rows", Format::Plain),
        col("size", "size", Format::Plain),
        col("refreshes", "refreshes", Format::Plain),
        col("  differential", "differential_refreshes", Format::Plain),
        col("  full", "full_refreshes", Format::Plain),
        col("  failed", "failures", Format::Plain),
        col("average refresh", "avg_duration_ms", Format::Millis),
        col("last refresh took", "last_duration_ms", Format::Millis),
        col("created", "created_at", Format::Timestamp),
    ];
    let mut text = record(&main, &MAIN);
    text.push_str("\nquery:\n");
    for l in main
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .lines()
    {
        text.push_str(&format!("  {l}\n"));
    }
    text.push_str("\nsources:\n");
    const SOURCES: [Column; 5] = [
        col("source", "source", Format::Plain),
        col("type", "type", Format::Plain),
        col("capture", "capture", Format::Plain),
        col("columns used", "columns_used", Format::List),
        col("capture reason", "capture_reason", Format::Plain),
    ];
    text.push_str(&table(&sources, &SOURCES));
    text.push_str(&format!("\nlast {} refreshes:\n", refreshes.len()));
    const REFRESHES: [Column; 10] = [
        col("started", "started_at", Format::Timestamp),
        col("action", "action", Format::Plain),
        col("status", "status", Format::Plain),
        col("took", "duration_ms", Format::Millis),
        col("changes", "changes", Format::Plain),
        col("+rows", "rows_inserted", Format::Plain),
        col("-rows", "rows_deleted", Format::Plain),
        col("by", "initiated_by", Format::Plain),
        col("reason", "reason", Format::Plain),
        col("error", "error_message", Format::Plain),
    ];
    text.push_str(&table(&refreshes, &REFRESHES));
    w.text(&text)?;
    Ok(exit::OK)
}

// ---------------------------------------------------------------------------- refresh

type Watch<'a> = (&'a Config, &'a MakeTlsConnector, &'a SharedWriter, bool);

fn refresh(
    c: &mut Db,
    w: &mut Writer,
    names: &[String],
    all: bool,
    watch: Option<Watch>,
) -> CmdResult {
    // Every name is checked before anything is refreshed.
    let mut targets: Vec<(i64, String, Option<&'static str>)> = Vec::new();
    if all {
        let g = load_graph(c)?;
        let order = g.refresh_order().map_err(|cycle| {
            format!(
                "the stream tables depend on each other in a cycle: {}",
                cycle.join(" → ")
            )
        })?;
        for n in order {
            let (id, q) = resolve(c, &n)?;
            let r = c
                .query_one(
                    "SELECT s.status, s.refresh_mode FROM pgtrickle.pgt_stream_tables s \
                      WHERE s.pgt_id OPERATOR(pg_catalog.=) $1",
                    &[&id],
                )
                .map_err(|e| db_error(&e))?;
            let (status, mode): (String, String) = (r.get(0), r.get(1));
            let skip = if status == "SUSPENDED" {
                Some("skipped: SUSPENDED (resume it with pgtrickle.resume_stream_table)")
            } else if mode == "IMMEDIATE" {
                Some("skipped: IMMEDIATE (always current)")
            } else {
                None
            };
            targets.push((id, q, skip));
        }
    } else {
        for n in names {
            let (id, q) = resolve(c, n)?;
            targets.push((id, q, None));
        }
    }
    let pid: i32 = c
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .map_err(|e| db_error(&e))?
        .get(0);
    let mut results: Vec<Row> = Vec::new();
    let mut failed = false;
    for (id, name, skip) in targets {
        let mut r = Row::new();
        r.insert("name".into(), Value::String(name.clone()));
        if let Some(why) = skip {
            r.insert("status".into(), Value::String("SKIPPED".into()));
            r.insert("reason".into(), Value::String(why.into()));
            results.push(r);
            continue;
        }
        let before: i64 = c
            .query_one(
                "SELECT coalesce(pg_catalog.max(h.refresh_id), 0) FROM pgtrickle.pgt_refresh_history h \
                  WHERE h.pgt_id OPERATOR(pg_catalog.=) $1",
                &[&id],
            )
            .map_err(|e| db_error(&e))?
            .get(0);
        let progress = watch.map(|(cfg, tls, err, terminal)| {
            Progress::start(cfg, tls.clone(), pid, &name, err.clone(), terminal)
        });
        let started = Instant::now();
        let outcome = c.execute("SELECT pgtrickle.refresh_stream_table($1)", &[&name]);
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(p) = progress {
            p.finish();
        }
        r.insert("wall_ms".into(), json!(wall_ms));
        if let Err(e) = outcome {
            failed = true;
            r.insert("status".into(), Value::String("FAILED".into()));
            r.insert("error".into(), Value::String(db_error(&e)));
            results.push(r);
            continue;
        }
        let recorded = rows(
            c,
            "SELECT h.action, h.status, \
                    pg_catalog.date_part('epoch', h.ended_at OPERATOR(pg_catalog.-) h.started_at) OPERATOR(pg_catalog.*) 1000 AS duration_ms, \
                    h.changes, h.rows_inserted, h.rows_deleted, h.reason \
               FROM pgtrickle.refresh_history_info h \
              WHERE h.pgt_id OPERATOR(pg_catalog.=) $1 AND h.refresh_id OPERATOR(pg_catalog.>) $2 \
              ORDER BY h.refresh_id DESC LIMIT 1",
            &[&id, &before],
        )?;
        match recorded.into_iter().next() {
            Some(h) => r.extend(h),
            None => {
                // Nothing recorded: nothing was pending (IMMEDIATE tables, or a refresh
                // with no change to apply records no history).
                r.insert("status".into(), Value::String("COMPLETED".into()));
                r.insert("reason".into(), Value::String("nothing to apply".into()));
            }
        }
        results.push(r);
    }
    if w.json {
        w.json(&Value::Array(
            results.into_iter().map(Value::Object).collect(),
        ))?;
    } else {
        for r in results.iter_mut() {
            if let Some(e) = r.get("error").cloned() {
                r.insert("reason".into(), e);
            }
        }
        const COLS: [Column; 8] = [
            col("name", "name", Format::Plain),
            col("action", "action", Format::Plain),
            col("status", "status", Format::Plain),
            col("took", "wall_ms", Format::Millis),
            col("changes", "changes", Format::Plain),
            col("+rows", "rows_inserted", Format::Plain),
            col("-rows", "rows_deleted", Format::Plain),
            col("reason", "reason", Format::Plain),
        ];
        w.text(&table(&results, &COLS))?;
        // A failure's whole message (the table cuts long cells).
        for r in &results {
            if let Some(Value::String(e)) = r.get("error") {
                let n = r.get("name").and_then(Value::as_str).unwrap_or("");
                w.text(&format!("\n{n}: {e}\n"))?;
            }
        }
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

// ---------------------------------------------------------------------------- explain

fn explain(c: &mut Db, w: &mut Writer, name: &str, analyze: bool) -> CmdResult {
    let (_, qualified) = resolve(c, name)?;
    let lines: Vec<String> = c
        .query(
            "SELECT x FROM pgtrickle.explain_stream_table($1, $2) AS x",
            &[&qualified, &analyze],
        )
        .map_err(|e| db_error(&e))?
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect();
    if w.json {
        w.json(&json!({"name": qualified, "analyze": analyze, "lines": lines}))?;
    } else {
        let mut text = lines.join("\n");
        text.push('\n');
        w.text(&text)?;
    }
    Ok(exit::OK)
}

// ------------------------------------------------------------------------------ graph

fn graph_rows(c: &mut Db) -> Result<(Vec<Row>, Vec<Row>), String> {
    let nodes = rows(
        c,
        &format!(
            "SELECT {NAME}, i.effective_refresh_mode AS mode, i.refresh_mode AS requested_mode, i.schedule, i.status \
               FROM pgtrickle.stream_tables_info i ORDER BY 1"
        ),
        &[],
    )?;
    let edges = rows(
        c,
        &format!(
            "SELECT coalesce(pg_catalog.format('%I.%I', n.nspname, r.relname), \
                             pg_catalog.format('%I.%I', d.source_schema, d.source_name)) AS source, \
                    d.source_type, {NAME} \
               FROM pgtrickle.pgt_dependencies d \
               JOIN pgtrickle.stream_tables_info i ON i.pgt_id OPERATOR(pg_catalog.=) d.pgt_id \
               LEFT JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.source_relid \
               LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace \
              ORDER BY 1, 3"
        ),
        &[],
    )?;
    Ok((nodes, edges))
}

fn str_of<'a>(r: &'a Row, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn build_graph(nodes: &[Row], edges: &[Row]) -> Graph {
    let mut g = Graph::default();
    for n in nodes {
        g.add_node(
            str_of(n, "name"),
            Kind::StreamTable {
                mode: str_of(n, "mode").into(),
                schedule: str_of(n, "schedule").into(),
                status: str_of(n, "status").into(),
            },
        );
    }
    for e in edges {
        g.add_node(
            str_of(e, "source"),
            Kind::Source(str_of(e, "source_type").into()),
        );
        g.add_edge(str_of(e, "source"), str_of(e, "name"));
    }
    g
}

fn load_graph(c: &mut Db) -> Result<Graph, String> {
    let (nodes, edges) = graph_rows(c)?;
    Ok(build_graph(&nodes, &edges))
}

fn graph(c: &mut Db, w: &mut Writer, dot: bool) -> CmdResult {
    let (nodes, edges) = graph_rows(c)?;
    let g = build_graph(&nodes, &edges);
    if w.json {
        let order = g.refresh_order().unwrap_or_default();
        let edges: Vec<Value> = edges
            .iter()
            .map(|e| json!({"source": str_of(e, "source"), "source_type": str_of(e, "source_type"), "reader": str_of(e, "name")}))
            .collect();
        w.json(&json!({"stream_tables": nodes, "edges": edges, "refresh_order": order}))?;
    } else if dot {
        w.text(&g.dot())?;
    } else {
        w.text(&g.text())?;
    }
    Ok(exit::OK)
}

// ----------------------------------------------------------------------------- health

fn health(c: &mut Db, w: &mut Writer) -> CmdResult {
    let problems = rows(
        c,
        "SELECT h.severity, h.check_name, h.stream_table, h.detail FROM pgtrickle.health_check() AS h \
          ORDER BY h.severity OPERATOR(pg_catalog.=) 'ERROR' DESC, 2, 3",
        &[],
    )?;
    let code = if problems.iter().any(|p| str_of(p, "severity") == "ERROR") {
        HEALTH_ERROR
    } else if problems.is_empty() {
        HEALTH_OK
    } else {
        HEALTH_WARNING
    };
    if w.json {
        w.json(&json!({"healthy": problems.is_empty(), "problems": problems}))?;
    } else if problems.is_empty() {
        w.text("healthy: no problems found\n")?;
    } else {
        const COLS: [Column; 4] = [
            col("severity", "severity", Format::Plain),
            col("check", "check_name", Format::Plain),
            col("stream table", "stream_table", Format::Plain),
            col("detail", "detail", Format::Plain),
        ];
        w.text(&table(&problems, &COLS))?;
    }
    Ok(code)
}
