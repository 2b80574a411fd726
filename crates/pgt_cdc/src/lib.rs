//! # pgt_cdc: change capture
//!
//! Every source of an incrementally maintained stream table gets one change buffer,
//! `pgtrickle_changes.changes_<source oid>`, shared by all stream tables that read the
//! source, and four statement-level AFTER triggers (INSERT, UPDATE, DELETE with
//! transition tables; TRUNCATE) that append to it with one set-based INSERT per statement.
//! A buffer row holds the operation (`I`, `D`, or `T` for TRUNCATE; an UPDATE is a `D` of
//! the old row and an `I` of the new), typed copies of the source's columns, the writing
//! transaction's id (`xid8`) and a per-buffer sequence number.
//!
//! ## The frontier
//!
//! Change ids are assigned at insert time, not in commit order, so "consume everything up
//! to id N" would lose a transaction that inserted before a refresh and committed after it.
//! Instead a stream table's frontier is the **snapshot** its last refresh read at, plus
//! the refreshing transaction's own changes it already consumed:
//!
//! ```text
//! consumed_by(F) = { c | visible(c.xid, F.snapshot) ∨ (c.xid = F.own_xid ∧ c.id ≤ F.own_id) }
//! refresh at snapshot S consumes:  visible_to_S(c) ∧ c ∉ consumed_by(F_prev)
//! ```
//!
//! A transaction is visible in exactly the snapshots taken after it committed, so each
//! committed change is consumed by exactly one refresh: the first whose snapshot sees it.
//! Rolled-back changes are never visible. The refresh takes `S` in the same statement that
//! reads the buffers and tables, so `S` is exactly what the result reflects.

pub mod decode;
pub mod mode;
pub mod pgoutput;

use pgt_sql::{quote_ident, quote_literal, QualifiedName};

/// A column of a source, copied into its buffer. `type_sql` is the column's type with
/// domains replaced by their base type: a buffer column has no constraint, default or
/// domain check, so copying a row into it evaluates no code a user controls (ADR-074).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    pub name: String,
    pub type_sql: String,
}

pub const CHANGES_SCHEMA: &str = "pgtrickle_changes";
/// The BRIN operator class for `xid8` (PostgreSQL ships B-tree and hash ones only),
/// created with the extension.
pub const XID8_MINMAX_OPS: &str = "pgtrickle.xid8_minmax_ops";
/// The statement trigger of a WAL-captured source (ADR-002): it only notes, in the
/// writing backend, that the transaction wrote the source.
pub const NOTE_TRIGGER: &str = "__pgt_cdc_wal";
const TRIGGERS: [&str; 4] = [
    "__pgt_cdc_ins",
    "__pgt_cdc_upd",
    "__pgt_cdc_del",
    "__pgt_cdc_trunc",
];

/// `pgtrickle_changes."changes_<oid>"`.
pub fn buffer_table(source_oid: u32) -> QualifiedName {
    QualifiedName::new(CHANGES_SCHEMA, format!("changes_{source_oid}"))
}

/// The capture trigger function (`src/capture.rs`, ADR-001): a C function copying a
/// statement's transition tables into the buffer of the source named by its argument.
pub const CAPTURE_FUNCTION: &str = "pgtrickle._capture_changes";

/// DDL creating the buffer and the capture triggers on `source`. An `unlogged` buffer
/// writes no WAL for its rows (ADR-078): a crash empties it, which [`BUFFERS_INTACT`]
/// tells the next refresh.
pub fn create_capture(
    source_oid: u32,
    source: &QualifiedName,
    columns: &[SourceColumn],
    unlogged: bool,
) -> Vec<String> {
    let buf = buffer_table(source_oid);
    let col_defs: String = columns
        .iter()
        .map(|c| format!(", {} {}", quote_ident(&c.name), c.type_sql))
        .collect();
    let mut out = vec![
        format!(
            "CREATE {}TABLE {buf} (__pgt_change_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000), \
             __pgt_xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(), __pgt_op \"char\" NOT NULL{col_defs})",
            if unlogged { "UNLOGGED " } else { "" }
        ),
        format!(
            "COMMENT ON TABLE {buf} IS {}",
            quote_literal(&format!("pg_trickle change buffer for {source}"))
        ),
    ];
    out.extend(buffer_policy_ddl(source_oid));
    out.extend(capture_trigger_ddl(source_oid, source));
    // Rows of transactions older than a reader's frontier are consumed by it: with this
    // index, a reader looking for its pending changes skips the rows only slower readers
    // still need (see `pending_range`). Rows arrive in about xid order, so a BRIN index
    // (min/max xid per 32 pages) prunes as well as a B-tree would, at almost no cost to
    // the writer: a B-tree entry per buffer row was 40% of a row's capture cost (ADR-001).
    // The newest ranges are not summarized yet and always read, which is where pending
    // rows are; `autosummarize` summarizes a range once it fills.
    out.push(format!(
        "CREATE INDEX {} ON {buf} USING brin (__pgt_xid {XID8_MINMAX_OPS}) WITH (pages_per_range = 32, autosummarize = on)",
        quote_ident(&format!("changes_{source_oid}_xid_idx"))
    ));
    out
}

/// The unlogged one-row table that a crash empties along with the unlogged buffers
/// (ADR-078; created with the extension).
pub const BUFFERS_INTACT: &str = "pgtrickle.pgt_buffers_intact";

/// True when a crash (or a promotion, or a restored base backup) has emptied the unlogged
/// tables since the last refresh that looked.
pub fn buffers_lost_check() -> String {
    format!("SELECT NOT EXISTS (SELECT 1 FROM {BUFFERS_INTACT})")
}

/// After [`buffers_lost_check`]: every stream table reading an unlogged buffer forgets its
/// frontier there (its next refresh recomputes in full, consuming what the buffer got
/// since), returning the affected stream tables' ids. Run in the transaction that then
/// puts the row back ([`buffers_intact_again`]): both or neither commit.
pub fn forget_lost_buffers() -> String {
    "UPDATE pgtrickle.pgt_dependencies AS d \
        SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL \
      WHERE d.frontier_snapshot IS NOT NULL \
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c \
                     WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('pgtrickle_changes.changes_' OPERATOR(pg_catalog.||) d.source_relid::pg_catalog.text) \
                       AND c.relpersistence OPERATOR(pg_catalog.=) 'u') \
      RETURNING d.pgt_id"
        .to_string()
}

/// Marks the unlogged buffers as intact again. Concurrent refreshes that both found them
/// emptied both reset frontiers (the second one's resets only cost a recomputation) and
/// insert once.
pub fn buffers_intact_again() -> String {
    format!("INSERT INTO {BUFFERS_INTACT} DEFAULT VALUES ON CONFLICT DO NOTHING")
}

/// Row-level security on a buffer (ADR-014): a role granted `SELECT` on it (the owner of a
/// stream table reading the source) sees its rows only while it may read the whole source.
/// A revoked `SELECT` (or a lost role membership) takes effect at once, with no grant to
/// keep in step. The condition has no column: it is evaluated once per scan, and leaves
/// the xid index usable (`xid8` comparisons are leakproof). pg_trickle itself reads and
/// trims buffers as their (superuser) owner, to which the policy does not apply.
pub fn buffer_policy_ddl(source_oid: u32) -> Vec<String> {
    let buf = buffer_table(source_oid);
    vec![
        format!("ALTER TABLE {buf} ENABLE ROW LEVEL SECURITY"),
        format!(
            "CREATE POLICY source_readers ON {buf} FOR SELECT \
             USING ((SELECT pg_catalog.has_table_privilege(CAST({source_oid} AS pg_catalog.oid), 'SELECT')))"
        ),
    ]
}

/// A condition on buffer rows `alias` that every unconsumed row of a frontier (snapshot
/// in parameter `$snapshot_param`) and every row of the current transaction satisfies:
/// its xid is at or above the frontier's `xmin` (a transaction below it had ended when the
/// frontier was taken, so its rows are consumed) and at most the larger of the current
/// snapshot's `xmax` (no other transaction's row visible now is younger) and the current
/// transaction's own xid (which can be at or above that `xmax`: it is still running). As
/// two bounds PostgreSQL cannot know when it plans, it
/// is estimated as a narrow range, so the xid index is used: a reader whose buffer holds
/// many rows consumed by it but not yet by a slower reader reads only its own pending
/// ones.
pub fn pending_range(alias: &str, snapshot_param: usize) -> String {
    format!(
        "{alias}.__pgt_xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin((SELECT ${snapshot_param}::pg_catalog.text::pg_catalog.pg_snapshot)) \
         AND {alias}.__pgt_xid OPERATOR(pg_catalog.<=) GREATEST(pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()), pg_catalog.pg_current_xact_id_if_assigned())"
    )
}

/// The four capture triggers on `source`, writing into the buffer of `source_oid`: the
/// source itself, or one of its partitions (a statement on a partition fires only the
/// partition's statement triggers, so each partition carries them too). Created `ENABLE
/// ALWAYS`: they fire under `session_replication_role = replica` too, so writes by
/// logical-replication apply workers (and by sessions in replica role) are captured like
/// any other.
pub fn capture_trigger_ddl(source_oid: u32, source: &QualifiedName) -> Vec<String> {
    let func = format!(
        "{CAPTURE_FUNCTION}({})",
        quote_literal(&source_oid.to_string())
    );
    let mut out = vec![
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {source} REFERENCING NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {func}",
            quote_ident(TRIGGERS[0])
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {source} REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {func}",
            quote_ident(TRIGGERS[1])
        ),
        format!(
            "CREATE TRIGGER {} AFTER DELETE ON {source} REFERENCING OLD TABLE AS __pgt_old FOR EACH STATEMENT EXECUTE FUNCTION {func}",
            quote_ident(TRIGGERS[2])
        ),
        format!("CREATE TRIGGER {} AFTER TRUNCATE ON {source} FOR EACH STATEMENT EXECUTE FUNCTION {func}", quote_ident(TRIGGERS[3])),
    ];
    for t in TRIGGERS {
        out.push(format!(
            "ALTER TABLE {source} ENABLE ALWAYS TRIGGER {}",
            quote_ident(t)
        ));
    }
    out
}

/// The names of the capture triggers every captured source has.
pub fn capture_trigger_names() -> &'static [&'static str] {
    &TRIGGERS
}

/// DDL dropping the four capture triggers of `table` (if present).
pub fn drop_capture_trigger_ddl(table: &QualifiedName) -> Vec<String> {
    TRIGGERS
        .iter()
        .map(|t| format!("DROP TRIGGER IF EXISTS {} ON {table}", quote_ident(t)))
        .collect()
}

/// The trigger arguments (`pg_trigger.tgargs`) of the capture triggers of `source_oid`'s
/// buffer: the OID as text, NUL-terminated.
pub fn capture_trigger_args(source_oid: u32) -> Vec<u8> {
    let mut a = source_oid.to_string().into_bytes();
    a.push(0);
    a
}

/// DDL re-creating the capture triggers of `source` (some were dropped or disabled behind
/// pg_trickle's back): the four are dropped if present and created again, enabled always.
/// Changes written while they were missing are lost, so every stream table reading the
/// source must recompute in full afterwards (the caller resets their frontiers).
pub fn repair_triggers(source_oid: u32, source: &QualifiedName) -> Vec<String> {
    let mut out = drop_capture_trigger_ddl(source);
    out.extend(capture_trigger_ddl(source_oid, source));
    out
}

/// DDL bringing an existing buffer in line with its source's current columns: columns
/// the source gained are added; columns whose type changed get the new type (their buffered
/// values are reset: every stream table reading such a column is put in ERROR); dropped
/// columns stay in the buffer, unused (the capture trigger matches columns by name on
/// every statement, so nothing else changes).
pub fn sync_capture(
    source_oid: u32,
    source_columns: &[SourceColumn],
    buffer_columns: &[SourceColumn],
) -> Vec<String> {
    let buf = buffer_table(source_oid);
    let mut out = Vec::new();
    for c in source_columns {
        match buffer_columns.iter().find(|b| b.name == c.name) {
            None => out.push(format!(
                "ALTER TABLE {buf} ADD COLUMN {} {}",
                quote_ident(&c.name),
                c.type_sql
            )),
            Some(b) if b.type_sql != c.type_sql => out.push(format!(
                "ALTER TABLE {buf} ALTER COLUMN {0} TYPE {1} USING NULL::{1}",
                quote_ident(&c.name),
                c.type_sql
            )),
            Some(_) => {}
        }
    }
    out
}

/// DDL removing the triggers (when the source still exists). The buffer, a member of the
/// extension (ADR-064), is detached and dropped by the caller.
pub fn drop_capture(source: Option<&QualifiedName>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(src) = source {
        for t in TRIGGERS.iter().chain(&[NOTE_TRIGGER]) {
            out.push(format!(
                "DROP TRIGGER IF EXISTS {} ON {src}",
                quote_ident(t)
            ));
        }
    }
    out
}

/// First key of the advisory lock that serializes trimming of one buffer (the second is
/// the source OID). "PGTR" in ASCII.
pub const TRIM_LOCK_CLASS: i32 = 0x5047_5452;

/// What a stream table has consumed from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    /// `pg_snapshot` text of the last refresh.
    pub snapshot: String,
    /// The refreshing transaction's own xid, if it had one, and the last of its own
    /// changes (buffer sequence number) that refresh consumed (0 for none).
    pub own: Option<(String, i64)>,
}

impl Frontier {
    /// SQL predicate over buffer alias `alias`: true for changes this frontier has consumed.
    ///
    /// A snapshot never lists its own transaction as in progress, so
    /// `pg_visible_in_snapshot(own_xid, snapshot)` is true as soon as any later transaction
    /// has completed. The refreshing transaction's own changes are therefore consumed only
    /// up to the recorded change id, never "by the snapshot".
    pub fn consumed_predicate(&self, alias: &str) -> String {
        let visible = format!(
            "pg_catalog.pg_visible_in_snapshot({alias}.__pgt_xid, {}::pg_catalog.pg_snapshot)",
            quote_literal(&self.snapshot)
        );
        match &self.own {
            None => visible,
            Some((xid, id)) => {
                let xid = quote_literal(xid);
                format!(
                    "(({visible} AND {alias}.__pgt_xid OPERATOR(pg_catalog.<>) {xid}::pg_catalog.xid8) OR ({alias}.__pgt_xid OPERATOR(pg_catalog.=) {xid}::pg_catalog.xid8 AND {alias}.__pgt_change_id OPERATOR(pg_catalog.<=) {id}))"
                )
            }
        }
    }

    /// Changes visible to the current statement that this frontier has not consumed.
    pub fn unconsumed_predicate(&self, alias: &str) -> String {
        format!("NOT {}", self.consumed_predicate(alias))
    }

    /// [`Frontier::unconsumed_predicate`] with the frontier as statement parameters, so one
    /// prepared statement serves every refresh: `$first` is the snapshot (text),
    /// `$first + 1` the refreshing transaction's own xid (text; `0`, which no transaction
    /// has, when there is none) and `$first + 2` its last consumed change id (bigint). See
    /// [`Frontier::params`]. Each parameter is cast once, in an uncorrelated subquery that
    /// PostgreSQL evaluates before the buffer is read.
    pub fn unconsumed_predicate_params(alias: &str, first: usize) -> String {
        let (s, x, c) = (first, first + 1, first + 2);
        let snap = format!("(SELECT ${s}::pg_catalog.text::pg_catalog.pg_snapshot)");
        let xid = format!("(SELECT ${x}::pg_catalog.text::pg_catalog.xid8)");
        format!(
            "NOT ((pg_catalog.pg_visible_in_snapshot({alias}.__pgt_xid, {snap}) AND {alias}.__pgt_xid OPERATOR(pg_catalog.<>) {xid}) \
             OR ({alias}.__pgt_xid OPERATOR(pg_catalog.=) {xid} AND {alias}.__pgt_change_id OPERATOR(pg_catalog.<=) ${c}::pg_catalog.int8))"
        )
    }

    /// The extra condition on rows of a WAL-captured source's buffer (ADR-002): the row's
    /// transaction is visible in the statement's snapshot. A trigger-captured row is
    /// written by its own transaction, so it is visible exactly when that transaction is;
    /// a decoded row is written by the refresh that drained it, which also drains
    /// transactions that committed after its snapshot was taken. Those rows stay for the
    /// refresh whose snapshot sees their transaction (consuming them now would consume
    /// them twice: the frontier recorded now does not cover them).
    pub fn decoded_visible_predicate(alias: &str) -> String {
        format!(
            "pg_catalog.pg_visible_in_snapshot({alias}.__pgt_xid, (SELECT pg_catalog.pg_current_snapshot()))"
        )
    }

    /// The values of the parameters of [`Frontier::unconsumed_predicate_params`].
    pub fn params(&self) -> (String, String, i64) {
        match &self.own {
            None => (self.snapshot.clone(), "0".into(), 0),
            Some((xid, id)) => (self.snapshot.clone(), xid.clone(), *id),
        }
    }
}

/// Deletes buffer rows every incrementally maintained stream table reading the source has
/// consumed (frontiers are read from `pgtrickle.pgt_dependencies`). A stream table without a
/// frontier yet needs no buffered rows: its next refresh recomputes in full.
///
/// Most rows are decided by one comparison with a bound computed once per statement: a
/// transaction whose xid is below a snapshot's `xmin` had ended when the snapshot was taken
/// (`xmin` counts the snapshot's own transaction too), so `pg_visible_in_snapshot` is true
/// for it, and every row it wrote is consumed by that frontier. A row whose xid is below
/// the smallest `xmin` of the readers' frontiers is therefore consumed by all of them (the
/// readers' own xids are excluded as well, though they are never below it). Likewise a row
/// whose xid is at or above the smallest `xmax` is not visible to that reader's snapshot,
/// so it stays (unless it is a reader's own row, consumed by change id). Only the rows in
/// between, from transactions that were running at some reader's refresh (anywhere in the
/// cluster), are checked against each reader's frontier. So a refresh that advances while a
/// reader lags far behind scans the buffer once, with two comparisons per row.
///
/// Trimming is an optimization, so two sessions never trim one buffer at once (that could
/// deadlock on row locks): the statement runs only under a transaction-level advisory
/// lock on the buffer, taken with try-lock semantics; if another session holds it, nothing
/// is deleted now and a later refresh trims.
pub fn cleanup_buffer(source_oid: u32) -> String {
    let readers = format!(
        "FROM pgtrickle.pgt_dependencies AS d JOIN pgtrickle.pgt_stream_tables AS s ON s.pgt_id OPERATOR(pg_catalog.=) d.pgt_id \
          WHERE d.source_relid OPERATOR(pg_catalog.=) {source_oid}::pg_catalog.oid \
            AND s.effective_refresh_mode OPERATOR(pg_catalog.=) 'DIFFERENTIAL'::pg_catalog.text \
            AND d.frontier_snapshot IS NOT NULL"
    );
    format!(
        "WITH bound AS MATERIALIZED (\
           SELECT pg_catalog.min(pg_catalog.pg_snapshot_xmin(d.frontier_snapshot)) AS xmin, \
                  pg_catalog.min(pg_catalog.pg_snapshot_xmax(d.frontier_snapshot)) AS xmax, \
                  ARRAY(SELECT d.frontier_xid {readers} AND d.frontier_xid IS NOT NULL) AS own \
           {readers}) \
         DELETE FROM {buf} AS b \
          WHERE (SELECT pg_catalog.pg_try_advisory_xact_lock({TRIM_LOCK_CLASS}, {source_oid})) \
            AND CASE WHEN b.__pgt_xid OPERATOR(pg_catalog.<) (SELECT bound.xmin FROM bound) \
                      AND b.__pgt_xid OPERATOR(pg_catalog.<>) ALL ((SELECT bound.own FROM bound)::pg_catalog.xid8[]) THEN true \
                WHEN b.__pgt_xid OPERATOR(pg_catalog.>=) (SELECT bound.xmax FROM bound) \
                      AND b.__pgt_xid OPERATOR(pg_catalog.<>) ALL ((SELECT bound.own FROM bound)::pg_catalog.xid8[]) THEN false \
                ELSE NOT EXISTS (SELECT 1 {readers} \
                  AND NOT ((pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, d.frontier_snapshot) \
                            AND (d.frontier_xid IS NULL OR b.__pgt_xid OPERATOR(pg_catalog.<>) d.frontier_xid)) \
                           OR (b.__pgt_xid OPERATOR(pg_catalog.=) d.frontier_xid \
                               AND b.__pgt_change_id OPERATOR(pg_catalog.<=) coalesce(d.frontier_change_id, 0)))) END",
        buf = buffer_table(source_oid)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_ddl_quotes_everything() {
        let cols = vec![SourceColumn {
            name: "we\"ird".into(),
            type_sql: "text".into(),
        }];
        let ddl = create_capture(42, &QualifiedName::new("s", "t\"x"), &cols, false);
        assert!(
            ddl[0].starts_with(r#"CREATE TABLE "pgtrickle_changes"."changes_42" (__pgt_change_id"#)
        );
        assert!(ddl[0].contains(r#", "we""ird" text)"#));
        assert_eq!(
            ddl[2],
            r#"ALTER TABLE "pgtrickle_changes"."changes_42" ENABLE ROW LEVEL SECURITY"#
        );
        assert!(ddl[3].ends_with(
            "USING ((SELECT pg_catalog.has_table_privilege(CAST(42 AS pg_catalog.oid), 'SELECT')))"
        ));
        assert!(ddl[4].contains(
            r#"AFTER INSERT ON "s"."t""x" REFERENCING NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes('42')"#
        ));
        assert!(drop_capture(None).is_empty());
        let sync = sync_capture(
            42,
            &[
                SourceColumn {
                    name: "a".into(),
                    type_sql: "bigint".into(),
                },
                SourceColumn {
                    name: "n".into(),
                    type_sql: "text".into(),
                },
            ],
            &[
                SourceColumn {
                    name: "a".into(),
                    type_sql: "integer".into(),
                },
                SourceColumn {
                    name: "gone".into(),
                    type_sql: "text".into(),
                },
            ],
        );
        assert_eq!(
            sync[0],
            r#"ALTER TABLE "pgtrickle_changes"."changes_42" ALTER COLUMN "a" TYPE bigint USING NULL::bigint"#
        );
        assert_eq!(
            sync[1],
            r#"ALTER TABLE "pgtrickle_changes"."changes_42" ADD COLUMN "n" text"#
        );
        assert_eq!(sync.len(), 2);
    }

    #[test]
    fn partition_capture_triggers_write_into_the_sources_buffer() {
        let part = QualifiedName::new("s", "p\"1");
        let ddl = capture_trigger_ddl(42, &part);
        assert_eq!(ddl.len(), 8);
        assert!(ddl[..4]
            .iter()
            .all(|d| d.contains(r#"ON "s"."p""1""#)
                && d.ends_with("pgtrickle._capture_changes('42')")));
        assert_eq!(capture_trigger_args(42), b"42\0".to_vec());
        let drop = drop_capture_trigger_ddl(&part);
        assert_eq!(drop.len(), 4);
        assert!(drop[0].starts_with(r#"DROP TRIGGER IF EXISTS "__pgt_cdc_ins" ON "s"."p""1""#));
    }

    #[test]
    fn generated_sql_names_every_function_and_operator_with_its_schema() {
        let f = Frontier {
            snapshot: "10:12:10".into(),
            own: Some(("11".into(), 7)),
        };
        for sql in [
            cleanup_buffer(42),
            format!("SELECT 1 FROM t AS b WHERE {}", f.unconsumed_predicate("b")),
            buffers_lost_check(),
            forget_lost_buffers(),
            buffers_intact_again(),
        ] {
            assert_eq!(
                pgt_sql::lint::unqualified(&sql),
                Vec::<String>::new(),
                "{sql}"
            );
        }
    }

    #[test]
    fn buffers_are_unlogged_on_request() {
        let cols = vec![SourceColumn {
            name: "v".into(),
            type_sql: "integer".into(),
        }];
        let name = QualifiedName::new("public", "t");
        assert!(create_capture(7, &name, &cols, true)[0]
            .starts_with(r#"CREATE UNLOGGED TABLE "pgtrickle_changes"."changes_7" "#));
        assert!(create_capture(7, &name, &cols, false)[0]
            .starts_with(r#"CREATE TABLE "pgtrickle_changes"."changes_7" "#));
    }

    #[test]
    fn frontier_predicates() {
        let f = Frontier {
            snapshot: "10:12:10".into(),
            own: None,
        };
        assert_eq!(
            f.unconsumed_predicate("b"),
            "NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '10:12:10'::pg_catalog.pg_snapshot)"
        );
        let f = Frontier {
            snapshot: "10:12:10".into(),
            own: Some(("11".into(), 7)),
        };
        let p = f.consumed_predicate("b");
        assert!(
            p.contains("b.__pgt_xid OPERATOR(pg_catalog.=) '11'::pg_catalog.xid8 AND b.__pgt_change_id OPERATOR(pg_catalog.<=) 7"),
            "{p}"
        );
        // The own transaction is never consumed through snapshot visibility.
        assert!(
            p.contains("AND b.__pgt_xid OPERATOR(pg_catalog.<>) '11'::pg_catalog.xid8"),
            "{p}"
        );
    }

    #[test]
    fn parameterized_frontier_predicates() {
        let p = Frontier::unconsumed_predicate_params("b", 4);
        assert!(p.contains("pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, (SELECT $4::pg_catalog.text::pg_catalog.pg_snapshot))"), "{p}");
        assert!(
            p.contains(
                "b.__pgt_xid OPERATOR(pg_catalog.<>) (SELECT $5::pg_catalog.text::pg_catalog.xid8)"
            ),
            "{p}"
        );
        assert!(
            p.contains("b.__pgt_change_id OPERATOR(pg_catalog.<=) $6::pg_catalog.int8"),
            "{p}"
        );
        assert!(!p.contains("$7") && !p.contains("$3"), "{p}");
        // Without an own transaction, xid 0 (which no transaction has) stands for none.
        let none = Frontier {
            snapshot: "10:12:10".into(),
            own: None,
        };
        assert_eq!(none.params(), ("10:12:10".into(), "0".into(), 0));
        let own = Frontier {
            snapshot: "10:12:10".into(),
            own: Some(("11".into(), 7)),
        };
        assert_eq!(own.params(), ("10:12:10".into(), "11".into(), 7));
    }
}
