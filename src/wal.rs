//! Change capture by logical decoding (ADR-002).
//!
//! A source starts on statement triggers (`pgt_cdc`). When `pg_trickle.cdc_mode` allows and
//! the source qualifies (a table with `REPLICA IDENTITY FULL`, `wal_level = logical`), the
//! scheduler (or [`sync_change_capture`]) hands it over to the database's logical
//! replication slot, decoded with the built-in `pgoutput` plugin into the **same** change
//! buffer. The rows keep the writing transaction's xid, so frontiers (snapshots) work
//! unchanged, given one invariant:
//!
//! > every transaction visible in a refresh's snapshot has its decoded rows in the buffer,
//! > visible to that snapshot.
//!
//! A refresh of a stream table with WAL-captured sources therefore takes the decoder's row
//! lock (serializing drains), takes its snapshot `S`, and drains the slot up to the WAL
//! insert position read *after* `S` (flushed first: decoding stops at the flush position),
//! so every transaction `S` sees is decoded; its delta statement then runs at exactly `S`
//! (`SPI_execute_snapshot`), seeing its own inserted rows by command id, and consuming
//! only rows of transactions visible in `S` (the drain also decodes transactions that
//! committed after `S` was taken; their rows wait for a later refresh). Draining inserts
//! into the buffer in the refreshing transaction and records the drained position in the
//! same transaction; the slot itself is advanced only to a position whose drain has
//! committed, so a rolled-back drain is decoded again.
//!
//! Handover: under a lock that waits for the source's writers and readers (`ACCESS
//! EXCLUSIVE`, the lock `DROP TRIGGER` takes anyway), the WAL insert position `H` is read and the capture
//! triggers are dropped in one transaction. A writer that committed before the lock was
//! captured by the triggers and committed before `H`; one that writes after it sees no
//! triggers and commits after the handover transaction, so after `H`. Decoded changes of
//! the source are buffered exactly for commits after `H`. The fallback is the mirror
//! image: under the same lock, drain everything committed so far, then create the
//! triggers. A lost slot (or a decoder that keeps failing) also falls back, and since
//! changes may then be missing, the stream tables reading the source recompute in full.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use pgrx::prelude::*;
use pgrx::{pg_sys, PgTrigger, PgTriggerError};
use pgt_cdc::decode::{Collector, Row};
use pgt_cdc::pgoutput::{self, Value};

use crate::error::{PgtError, PgtResult};

/// The publication `pgoutput` reads (one per database).
pub const PUBLICATION: &str = "pgtrickle_changes";
/// The statement trigger a WAL-captured source keeps (see [`_note_source_write`]).
pub const NOTE_TRIGGER: &str = pgt_cdc::NOTE_TRIGGER;

/// Rows inserted into a buffer per statement.
const INSERT_BATCH: usize = 20_000;

/// The database's slot: `pgtrickle_<database oid>` (slot names are cluster-wide).
pub fn slot_name() -> String {
    // SAFETY: MyDatabaseId is set once when the backend connects to its database.
    format!("pgtrickle_{}", unsafe { pg_sys::MyDatabaseId }.to_u32())
}

// ---------------------------------------------------------------------------------------
// Writes of the current transaction to WAL-captured sources.

thread_local! {
    /// The top-level transaction (full id) and the WAL-captured sources it wrote.
    static WRITTEN: RefCell<(u64, HashSet<u32>)> = RefCell::new((0, HashSet::new()));
}

/// Statement trigger on every WAL-captured source (and on each of its partitions, with
/// the source's OID as argument: a statement on a partition fires only the partition's
/// triggers): notes that the current transaction wrote the source. A transaction's own
/// changes are decoded only after it commits, so a refresh in a transaction that wrote
/// one of its sources recomputes in full (see [`prepare_refresh`]). It records nothing in
/// any table; a backend-local set only.
#[pg_trigger]
fn _note_source_write<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let rel = match trigger.extra_args()?.first() {
        Some(a) => a.parse::<u32>().unwrap_or(0),
        None => trigger.relid()?.to_u32(),
    };
    // SAFETY: reads the current transaction's id (0 when it has none).
    let xid = unsafe { pg_sys::GetTopFullTransactionIdIfAny() }.value;
    WRITTEN.with(|w| {
        let mut w = w.borrow_mut();
        if w.0 != xid {
            *w = (xid, HashSet::new());
        }
        w.1.insert(rel);
    });
    Ok(None)
}

/// Whether the current transaction wrote `source` (noted by [`_note_source_write`]).
pub fn written_by_this_transaction(source: pg_sys::Oid) -> bool {
    // SAFETY: as in `_note_source_write`.
    let xid = unsafe { pg_sys::GetTopFullTransactionIdIfAny() }.value;
    xid != 0
        && WRITTEN.with(|w| {
            let w = w.borrow();
            w.0 == xid && w.1.contains(&source.to_u32())
        })
}

// ---------------------------------------------------------------------------------------
// A snapshot kept for the refresh statement.

/// A registered copy of a transaction snapshot, released on drop. The refresh statement
/// runs at it (with its command id advanced, so rows this transaction inserted since are
/// visible): see [`crate::statement_cache::run_refresh_statement`].
pub struct PinnedSnapshot(pg_sys::Snapshot);

impl PinnedSnapshot {
    fn take() -> Self {
        // SAFETY: GetTransactionSnapshot returns the transaction's (or, in READ COMMITTED,
        // a new) snapshot; RegisterSnapshotOnOwner copies it into long-lived memory and
        // counts the reference on the top transaction's resource owner, which outlives
        // every subtransaction of the refresh and releases it at the transaction's end if
        // an ERROR skips `drop`.
        unsafe {
            let s = pg_sys::GetTransactionSnapshot();
            PinnedSnapshot(pg_sys::RegisterSnapshotOnOwner(
                s,
                pg_sys::TopTransactionResourceOwner,
            ))
        }
    }

    pub fn get(&self) -> pg_sys::Snapshot {
        self.0
    }
}

impl Drop for PinnedSnapshot {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: releases the reference `take` registered on the same owner.
            unsafe {
                pg_sys::UnregisterSnapshotFromOwner(self.0, pg_sys::TopTransactionResourceOwner)
            };
        }
    }
}

/// Runs an SPI statement with the current transaction's resource owner as the current
/// one, restored when dropped (also while unwinding from an ERROR).
///
/// Why: creating a logical slot decodes WAL up to a consistent point, and a transaction it
/// skips that carried cache invalidations is handled by PostgreSQL's
/// `ReorderBufferImmediateInvalidation`, which begins and rolls back an internal
/// subtransaction and leaves `CurrentResourceOwner` at the transaction's owner
/// (PostgreSQL 18.6; the SQL functions that read or advance a slot restore it, slot
/// creation does not). A statement run through SPI then unregisters its snapshot at
/// `ExecutorEnd` from that owner instead of the one it registered it on, and fails with
/// "snapshot reference … is not owned by resource owner TopTransaction" — an intermittent
/// failure of `sync_change_capture()` and of the scheduler's capture step, found with gdb.
/// With the transaction's owner current from the start, both are the same owner.
struct TransactionOwner(pg_sys::ResourceOwner);

impl TransactionOwner {
    fn enter() -> Self {
        // SAFETY: plain reads and a write of the backend's resource-owner globals while a
        // transaction is open (we are inside a SQL function or the scheduler's transaction,
        // so CurTransactionResourceOwner is valid); `drop` puts the saved owner back, and a
        // resource the statement takes on the transaction's owner is released by it, as
        // for PL/pgSQL statements run inside an exception block's subtransaction.
        unsafe {
            let saved = pg_sys::CurrentResourceOwner;
            pg_sys::CurrentResourceOwner = pg_sys::CurTransactionResourceOwner;
            TransactionOwner(saved)
        }
    }
}

impl Drop for TransactionOwner {
    fn drop(&mut self) {
        // SAFETY: restores the owner saved by `enter`, which outlives this statement.
        unsafe { pg_sys::CurrentResourceOwner = self.0 };
    }
}

// ---------------------------------------------------------------------------------------
// Catalog.

/// The WAL-captured sources among `sources`.
pub fn wal_sources(sources: &[pg_sys::Oid]) -> PgtResult<Vec<pg_sys::Oid>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let args = [sources.to_vec().into()];
    crate::spi_cache::select_kept(
        "SELECT c.source_relid FROM pgtrickle.pgt_capture c \
          WHERE c.source_relid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) AND c.mode OPERATOR(pg_catalog.=) 'WAL'",
        &args,
        None,
        |rows| {
            let mut out = Vec::new();
            for r in rows {
                if let Some(o) = r.get::<pg_sys::Oid>(1)? {
                    out.push(o);
                }
            }
            Ok(out)
        },
    )
}

/// The decoder's state, locked (`FOR UPDATE`) until the end of the transaction.
struct Decoder {
    slot: String,
    decoded: u64,
}

fn lock_decoder() -> PgtResult<Option<Decoder>> {
    let row = Spi::connect_mut(|c| -> PgtResult<Option<(String, String)>> {
        let t = c.update(
            "SELECT d.slot_name::pg_catalog.text, d.decoded_lsn::pg_catalog.text FROM pgtrickle.pgt_wal_decoder d FOR UPDATE",
            None,
            &[],
        )?;
        Ok(match t.into_iter().next() {
            Some(r) => Some((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
            )),
            None => None,
        })
    })?;
    Ok(row.map(|(slot, lsn)| Decoder {
        slot,
        decoded: pgoutput::parse_lsn(&lsn).unwrap_or(0),
    }))
}

fn slot_exists(slot: &str) -> PgtResult<bool> {
    Ok(crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots s WHERE s.slot_name OPERATOR(pg_catalog.=) $1 AND s.wal_status IS DISTINCT FROM 'lost')",
        &[slot.into()],
    )?
    .unwrap_or(false))
}

// ---------------------------------------------------------------------------------------
// Draining the slot.

/// What one drain buffered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drained {
    pub transactions: u64,
    pub rows: u64,
}

/// Decodes every transaction committed after the decoder's position and up to the current
/// WAL insert position into the buffers of the WAL-captured sources (each from its handover
/// point on), and records the new position. The caller holds the decoder's row lock.
fn drain(dec: &mut Decoder) -> PgtResult<Drained> {
    // SAFETY: GetXLogInsertEndRecPtr reads the insert position under its spinlock; XLogFlush
    // writes and flushes WAL up to a position that has been inserted (it is below the
    // insert position just read). Logical decoding through SQL stops at the flush
    // position, and with synchronous_commit = off a committed transaction's record may not
    // be flushed yet.
    let upto = unsafe {
        // The end of the last inserted record: at a page boundary the insert position
        // points past a page header no record has written yet, and flushing to it fails.
        let upto = pg_sys::GetXLogInsertEndRecPtr();
        pg_sys::XLogFlush(upto);
        upto
    };
    if !slot_exists(&dec.slot)? {
        return Err(PgtError::WalCapture {
            what: format!(
                "replication slot \"{}\" does not exist (or was invalidated)",
                dec.slot
            ),
        });
    }
    // The slot is advanced only to a committed drain's position (this one's predecessor).
    Spi::run_with_args(
        "SELECT pg_catalog.pg_replication_slot_advance(s.slot_name, $2::pg_catalog.text::pg_catalog.pg_lsn) \
           FROM pg_catalog.pg_replication_slots s \
          WHERE s.slot_name OPERATOR(pg_catalog.=) $1 AND s.confirmed_flush_lsn OPERATOR(pg_catalog.<) $2::pg_catalog.text::pg_catalog.pg_lsn",
        &[dec.slot.as_str().into(), pgoutput::lsn_text(dec.decoded).into()],
    )?;
    let handovers: HashMap<u32, u64> = Spi::connect(|c| -> PgtResult<HashMap<u32, u64>> {
        let mut m = HashMap::new();
        for r in c.select(
            "SELECT c.source_relid, c.handover_lsn::pg_catalog.text FROM pgtrickle.pgt_capture c WHERE c.mode = 'WAL'",
            None,
            &[],
        )? {
            let (Some(o), Some(h)) = (r.get::<pg_sys::Oid>(1)?, r.get::<String>(2)?) else {
                continue;
            };
            m.insert(o.to_u32(), pgoutput::parse_lsn(&h).unwrap_or(u64::MAX));
        }
        Ok(m)
    })?;
    let mut out = Drained::default();
    if !handovers.is_empty() && upto > dec.decoded {
        let mut collector = Collector::new(dec.decoded, upto, |rel, commit| {
            handovers.get(&rel).is_some_and(|&h| commit > h)
        });
        // Output and input functions run under the same fixed settings, so every value
        // reads back as it was written whatever the session's DateStyle or float digits.
        crate::settings::with_settings(IO_SETTINGS, || -> PgtResult<()> {
            Spi::connect(|c| -> PgtResult<()> {
                let mut cursor = c.open_cursor(
                    "SELECT x.lsn::pg_catalog.text, x.data FROM pg_catalog.pg_logical_slot_peek_binary_changes($1, $2::pg_catalog.text::pg_catalog.pg_lsn, NULL, \
                        'proto_version', '1', 'publication_names', $3) AS x",
                    &[dec.slot.as_str().into(), pgoutput::lsn_text(upto).into(), PUBLICATION.into()],
                );
                loop {
                    let batch = cursor.fetch(10_000)?;
                    if batch.is_empty() {
                        break;
                    }
                    for r in batch {
                        let lsn = r
                            .get::<String>(1)?
                            .and_then(|l| pgoutput::parse_lsn(&l))
                            .unwrap_or(0);
                        let data = r.get::<Vec<u8>>(2)?.unwrap_or_default();
                        let msg = pgoutput::parse(&data).map_err(|e| PgtError::WalCapture {
                            what: e.to_string(),
                        })?;
                        collector.push(lsn, msg).map_err(|e| PgtError::WalCapture {
                            what: e.to_string(),
                        })?;
                    }
                }
                Ok(())
            })?;
            out.transactions = collector.transactions;
            if !collector.rows.is_empty() {
                let next = next_full_xid()?;
                for (rel, rows) in &collector.rows {
                    out.rows += rows.len() as u64;
                    insert_rows(*rel, rows, next)?;
                }
            }
            Ok(())
        })?;
    }
    // A drain that found nothing to buffer records its position only now and then: the
    // record is itself a WAL write, which the next drain would read again.
    if out.rows == 0 && upto.saturating_sub(dec.decoded) < 1 << 20 {
        return Ok(out);
    }
    dec.decoded = upto.max(dec.decoded);
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_wal_decoder SET decoded_lsn = $1::pg_catalog.text::pg_catalog.pg_lsn, last_drain_at = pg_catalog.now(), \
                last_error = NULL, failing_since = NULL",
        &[pgoutput::lsn_text(dec.decoded).into()],
    )?;
    Ok(out)
}

/// Settings under which decoded values are printed and read back.
const IO_SETTINGS: &[(&str, &str)] = &[
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
];

fn next_full_xid() -> PgtResult<u64> {
    let t = crate::catalog::first_value::<String>(
        "SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::pg_catalog.text",
        &[],
    )?
    .unwrap_or_default();
    t.parse::<u64>().map_err(|_| PgtError::WalCapture {
        what: format!("unexpected xid8 {t:?}"),
    })
}

/// Appends decoded rows of source `rel` to its buffer: each buffer column takes the value
/// of the decoded column of the same name and type (NULL when the change predates the
/// column, or its type since changed, as trigger capture resets such values); the change
/// id is the change's LSN (ADR-002: it orders a transaction's own changes against its
/// refreshes).
fn insert_rows(rel: u32, rows: &[Row], next_xid: u64) -> PgtResult<()> {
    let buf = pgt_cdc::buffer_table(rel);
    // Buffer columns with their types, and the source column's current type.
    let cols = Spi::connect(
        |c| -> PgtResult<Vec<(String, String, Option<pg_sys::Oid>)>> {
            let mut out = Vec::new();
            for r in c.select(
            "SELECT b.attname::pg_catalog.text, pg_catalog.format_type(b.atttypid, b.atttypmod), s.atttypid \
               FROM pg_catalog.pg_attribute b \
               LEFT JOIN pg_catalog.pg_attribute s ON s.attrelid OPERATOR(pg_catalog.=) $2 AND s.attname OPERATOR(pg_catalog.=) b.attname \
                     AND s.attnum OPERATOR(pg_catalog.>) 0 AND NOT s.attisdropped \
              WHERE b.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.text::pg_catalog.regclass AND b.attnum OPERATOR(pg_catalog.>) 0 AND NOT b.attisdropped \
                AND b.attname OPERATOR(pg_catalog.<>) ALL ('{__pgt_change_id,__pgt_xid,__pgt_op}'::pg_catalog.name[]) \
              ORDER BY b.attnum",
            None,
            &[buf.to_string().into(), pg_sys::Oid::from(rel).into()],
        )? {
            out.push((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<pg_sys::Oid>(3)?,
            ));
        }
            Ok(out)
        },
    )?;
    // One array per column, read by one `unnest` each (a subscript into one long array of
    // variable-length values walks it from the start: quadratic).
    let select_cols: String = cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty, _))| format!(", r.c{i}::{ty}"))
        .collect();
    let unnests: String = (0..cols.len())
        .map(|i| format!(", pg_catalog.unnest(${}::pg_catalog.text[])", i + 4))
        .collect();
    let aliases: String = (0..cols.len()).map(|i| format!(", c{i}")).collect();
    let names: String = cols
        .iter()
        .map(|(n, _, _)| format!(", {}", pgt_sql::quote_ident(n)))
        .collect();
    let sql = format!(
        "INSERT INTO {buf} (__pgt_change_id, __pgt_xid, __pgt_op{names}) OVERRIDING SYSTEM VALUE \
         SELECT r.id, r.x::pg_catalog.xid8, r.op::pg_catalog.\"char\"{select_cols} \
           FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.text[]), \
                           pg_catalog.unnest($3::pg_catalog.text[]){unnests}) AS r(id, x, op{aliases})"
    );
    // Where each buffer column is in a row's decoded columns (rows share their Relation).
    let mut positions: Vec<(*const Vec<pgoutput::RelationColumn>, Vec<Option<usize>>)> = Vec::new();
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut xids = Vec::with_capacity(chunk.len());
        let mut ops = Vec::with_capacity(chunk.len());
        let mut vals: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(chunk.len()); cols.len()];
        for row in chunk {
            ids.push(row.lsn as i64);
            xids.push(pgoutput::full_xid(row.xid, next_xid).to_string());
            ops.push(row.op.to_string());
            let key = std::rc::Rc::as_ptr(&row.columns);
            let pos = match positions.iter().find(|(k, _)| *k == key) {
                Some((_, p)) => p.clone(),
                None => {
                    let p: Vec<Option<usize>> = cols
                        .iter()
                        .map(|(name, _, source_type)| {
                            row.columns.iter().position(|c| {
                                &c.name == name
                                    && Some(c.type_oid) == source_type.map(|t| t.to_u32())
                            })
                        })
                        .collect();
                    positions.push((key, p.clone()));
                    p
                }
            };
            for (j, p) in pos.iter().enumerate() {
                vals[j].push(match p.and_then(|i| row.values.get(i)) {
                    Some(Value::Text(t)) => Some(t.clone()),
                    _ => None,
                });
            }
        }
        let mut args: Vec<pgrx::datum::DatumWithOid> = vec![ids.into(), xids.into(), ops.into()];
        args.extend(vals.into_iter().map(|v| v.into()));
        Spi::run_with_args(&sql, &args)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Refreshes.

/// What a refresh must do about its WAL-captured sources.
pub enum RefreshCapture {
    /// None of its sources is WAL-captured: its delta statement runs at a snapshot taken
    /// when it runs ([`statement_snapshot`]).
    Triggers,
    /// This transaction wrote one of them: its own changes are not decodable before it
    /// commits, so the refresh recomputes in full (the reason). The sources WAL-captured
    /// at the snapshot (their frontiers mark the transaction's changes so far by LSN).
    OwnWrites(String, Vec<pg_sys::Oid>),
    /// The slot was drained for the refresh's snapshot; its statements run at it. The
    /// sources WAL-captured at it.
    Drained(PinnedSnapshot, Vec<pg_sys::Oid>),
}

/// Prepares a refresh reading `sources` (already locked): see the module documentation.
///
/// With a WAL-captured source, the decoder is locked, then the snapshot `S` is taken (a
/// concurrent drain's rows must be committed and visible to it), then the slot drained.
/// How each source is captured is read at `S` itself: every change of capture mode holds
/// the decoder's lock, so none happens between that read and the drain.
pub fn prepare_refresh(sources: &[pg_sys::Oid]) -> PgtResult<RefreshCapture> {
    if wal_sources(sources)?.is_empty() {
        return Ok(RefreshCapture::Triggers);
    }
    let _path = crate::security::PinnedSearchPath::enter();
    let Some(mut dec) = lock_decoder()? else {
        return Err(PgtError::WalCapture {
            what: "sources are WAL-captured but the database has no decoder state".into(),
        });
    };
    let pinned = PinnedSnapshot::take();
    let wal = wal_sources_at(sources, pinned.get())?;
    if let Some(&s) = wal.iter().find(|&&s| written_by_this_transaction(s)) {
        let name = crate::catalog::first_value::<String>(
            "SELECT $1::pg_catalog.regclass::pg_catalog.text",
            &[s.into()],
        )?
        .unwrap_or_default();
        return Ok(RefreshCapture::OwnWrites(
            format!(
                "this transaction wrote {name}, whose changes are captured from the WAL only once it commits: recomputed in full"
            ),
            wal,
        ));
    }
    drain(&mut dec)?;
    Ok(RefreshCapture::Drained(pinned, wal))
}

/// The snapshot the delta statement of a refresh whose sources were all trigger-captured
/// ([`RefreshCapture::Triggers`]) runs at, taken now, with a consistency check: if one of
/// the sources were WAL-captured at this snapshot, the transactions committed under WAL
/// capture since would be visible but not drained, and the statement would consume them
/// without their rows. A handover cannot commit while the refresh holds its `ACCESS
/// SHARE` lock on the source (it takes `ACCESS EXCLUSIVE`), so this does not happen; if a
/// change of locking ever let it, the refresh stops with a serialization failure instead
/// of a wrong result.
pub fn statement_snapshot(sources: &[pg_sys::Oid]) -> PgtResult<PinnedSnapshot> {
    let pinned = PinnedSnapshot::take();
    if let Some(&s) = wal_sources_at(sources, pinned.get())?.first() {
        let name = crate::catalog::first_value::<String>(
            "SELECT $1::pg_catalog.regclass::pg_catalog.text",
            &[s.into()],
        )?
        .unwrap_or_default();
        return Err(PgtError::CaptureModeChanged { table: name });
    }
    Ok(pinned)
}

/// The sources among `sources` that are WAL-captured at `snapshot`.
fn wal_sources_at(
    sources: &[pg_sys::Oid],
    snapshot: pg_sys::Snapshot,
) -> PgtResult<Vec<pg_sys::Oid>> {
    let args = [sources.to_vec().into()];
    let rows = crate::statement_cache::rows_at(
        "SELECT c.source_relid::pg_catalog.text FROM pgtrickle.pgt_capture c \
          WHERE c.source_relid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) AND c.mode OPERATOR(pg_catalog.=) 'WAL'",
        &args,
        snapshot,
        1,
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .filter_map(|t| t.parse::<u32>().ok())
        .map(pg_sys::Oid::from)
        .collect())
}

/// For a WAL-captured source, the change id a frontier records as the refreshing
/// transaction's last own change: the current WAL insert position. Decoded rows carry
/// their change's LSN as change id, so the transaction's changes written after this
/// refresh are not consumed by it.
pub fn own_change_mark() -> i64 {
    // SAFETY: reads the insert position under its spinlock.
    (unsafe { pg_sys::GetXLogInsertRecPtr() }) as i64
}

// ---------------------------------------------------------------------------------------
// Handover and fallback.

/// A captured source and what decides how it can be captured.
struct Source {
    oid: pg_sys::Oid,
    mode: String,
    reason: Option<String>,
    since_secs: f64,
    name: String,
    blocker: Option<String>,
}

fn sources() -> PgtResult<Vec<Source>> {
    let cdc = crate::config::cdc_mode();
    let wal_level = crate::catalog::first_value::<String>(
        "SELECT pg_catalog.current_setting('wal_level')",
        &[],
    )?
    .unwrap_or_default();
    Spi::connect(|c| -> PgtResult<Vec<Source>> {
        let mut out = Vec::new();
        for r in c.select(
            &format!("SELECT c.source_relid, c.mode, c.reason, extract(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) c.since)::pg_catalog.float8, \
                    coalesce(c.source_relid::pg_catalog.regclass::pg_catalog.text, ''), \
                    coalesce(k.relkind::pg_catalog.text, ''), coalesce(k.relispartition, false), coalesce(({EFFECTIVE_IDENTITY})::pg_catalog.text, ''), \
                    EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_relid OPERATOR(pg_catalog.=) c.source_relid), \
                    EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id OPERATOR(pg_catalog.=) d.pgt_id \
                             WHERE d.source_relid OPERATOR(pg_catalog.=) c.source_relid AND s.refresh_mode OPERATOR(pg_catalog.=) 'IMMEDIATE') \
               FROM pgtrickle.pgt_capture c LEFT JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.source_relid \
              ORDER BY c.source_relid"),
            None,
            &[],
        )? {
            let facts = pgt_cdc::mode::SourceFacts {
                relkind: r.get::<String>(6)?.unwrap_or_default().chars().next().unwrap_or(' '),
                is_partition: r.get::<bool>(7)?.unwrap_or(false),
                replica_identity: r.get::<String>(8)?.unwrap_or_default().chars().next().unwrap_or(' '),
                is_stream_table: r.get::<bool>(9)?.unwrap_or(false),
                read_by_immediate: r.get::<bool>(10)?.unwrap_or(false),
            };
            out.push(Source {
                oid: r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
                mode: r.get::<String>(2)?.unwrap_or_default(),
                reason: r.get::<String>(3)?,
                since_secs: r.get::<f64>(4)?.unwrap_or(0.0),
                name: r.get::<String>(5)?.unwrap_or_default(),
                blocker: pgt_cdc::mode::wal_blocker(
                    match cdc {
                        crate::config::CdcMode::Trigger => pgt_cdc::mode::Requested::Trigger,
                        crate::config::CdcMode::Wal => pgt_cdc::mode::Requested::Wal,
                        crate::config::CdcMode::Auto => pgt_cdc::mode::Requested::Auto,
                    },
                    wal_level == "logical",
                    &facts,
                ),
            });
        }
        Ok(out)
    })
}

fn set_state(
    source: pg_sys::Oid,
    mode: &str,
    reason: Option<&str>,
    handover: Option<u64>,
) -> PgtResult<()> {
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_capture SET mode = $2, reason = $3, handover_lsn = $4::pg_catalog.text::pg_catalog.pg_lsn, since = pg_catalog.now() \
          WHERE source_relid = $1",
        &[source.into(), mode.into(), reason.into(), handover.map(pgoutput::lsn_text).into()],
    )?;
    Ok(())
}

fn set_reason(source: pg_sys::Oid, reason: Option<&str>) -> PgtResult<()> {
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_capture SET reason = $2 WHERE source_relid = $1 AND reason IS DISTINCT FROM $2",
        &[source.into(), reason.into()],
    )?;
    Ok(())
}

fn qualified(source: pg_sys::Oid) -> PgtResult<String> {
    Ok(crate::catalog::first_value::<String>(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[source.into()],
    )?
    .unwrap_or_default())
}

fn in_publication(source: pg_sys::Oid) -> PgtResult<bool> {
    Ok(crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) r.prpubid \
                         WHERE p.pubname OPERATOR(pg_catalog.=) $2 AND r.prrelid OPERATOR(pg_catalog.=) $1)",
        &[source.into(), PUBLICATION.into()],
    )?
    .unwrap_or(false))
}

fn publication_exists() -> PgtResult<bool> {
    Ok(crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication p WHERE p.pubname OPERATOR(pg_catalog.=) $1)",
        &[PUBLICATION.into()],
    )?
    .unwrap_or(false))
}

/// Creates the publication WAL-captured sources are decoded through, if it does not exist.
/// It must be committed before the slot is created: a slot decodes WAL written after its
/// creation, and pgoutput skips (with a warning) a publication missing at a point of that
/// WAL. Not in the extension script, because pg_dump dumps publications (ADR-064).
/// `only_if_logical`: do nothing unless `wal_level = logical` (creating a publication under
/// a lower level warns, and nothing would use it yet).
pub fn ensure_publication(only_if_logical: bool) -> PgtResult<()> {
    if publication_exists()? {
        return Ok(());
    }
    if only_if_logical
        && !crate::catalog::first_value::<bool>(
            "SELECT pg_catalog.current_setting('wal_level') OPERATOR(pg_catalog.=) 'logical'",
            &[],
        )?
        .unwrap_or(false)
    {
        return Ok(());
    }
    let _ddl = crate::guard::InternalDdl::enter();
    Spi::run(&format!(
        "CREATE PUBLICATION {} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)",
        pgt_sql::quote_ident(PUBLICATION)
    ))?;
    Ok(())
}

fn publish(source: pg_sys::Oid, on: bool) -> PgtResult<()> {
    let pub_ident = pgt_sql::quote_ident(PUBLICATION);
    let exists = publication_exists()?;
    if on && !exists {
        ensure_publication(false)?;
    }
    if !exists && !on {
        return Ok(());
    }
    let member = in_publication(source)?;
    let table = qualified(source)?;
    if table.is_empty() {
        return Ok(());
    }
    let only = if crate::catalog::first_value::<bool>(
        "SELECT c.relkind OPERATOR(pg_catalog.=) 'r' FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[source.into()],
    )?
    .unwrap_or(true)
    {
        "ONLY "
    } else {
        ""
    };
    if on && !member {
        Spi::run(&format!(
            "ALTER PUBLICATION {pub_ident} ADD TABLE {only}{table}"
        ))?;
    } else if !on && member {
        Spi::run(&format!(
            "ALTER PUBLICATION {pub_ident} DROP TABLE {only}{table}"
        ))?;
    }
    Ok(())
}

/// `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` within `pg_trickle.lock_timeout`: waits for the
/// source's writing transactions, and for the refreshes reading it, to end, and keeps new
/// ones out until commit. `DROP TRIGGER` takes this lock anyway; taken here first, it is
/// given up after the timeout instead of queueing every later reader and writer behind a
/// long-running one.
fn lock_writers_out(table: &str) -> PgtResult<()> {
    crate::settings::with_setting(
        "lock_timeout",
        &format!("{}ms", crate::config::lock_timeout_ms()),
        || Spi::run(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")),
    )?;
    Ok(())
}

/// TRANSITIONING → WAL (see the module documentation). The decoder is locked.
fn handover(source: pg_sys::Oid) -> PgtResult<()> {
    let table = qualified(source)?;
    lock_writers_out(&table)?;
    // SAFETY: reads the insert position under its spinlock.
    let h = unsafe { pg_sys::GetXLogInsertRecPtr() };
    {
        let _ddl = crate::guard::InternalDdl::enter();
        for t in pgt_cdc::capture_trigger_names() {
            Spi::run(&format!(
                "DROP TRIGGER IF EXISTS {} ON {table}",
                pgt_sql::quote_ident(t)
            ))?;
        }
        create_note_trigger(&table)?;
    }
    crate::cdc_partitions::drop_all(source, true)?;
    publish(source, true)?;
    set_state(source, "WAL", None, Some(h))
}

fn create_note_trigger(table: &str) -> PgtResult<()> {
    create_note_trigger_for(table, None)
}

/// The note trigger on `table`; `source`: the partitioned source `table` is a partition of.
pub fn create_note_trigger_for(table: &str, source: Option<u32>) -> PgtResult<()> {
    let t = pgt_sql::quote_ident(NOTE_TRIGGER);
    crate::settings::with_setting("client_min_messages", "warning", || {
        Spi::run(&format!("DROP TRIGGER IF EXISTS {t} ON {table}"))
    })?;
    let arg = source
        .map(|s| pgt_sql::quote_literal(&s.to_string()))
        .unwrap_or_default();
    Spi::run(&format!(
        "CREATE TRIGGER {t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._note_source_write({arg})"
    ))?;
    Spi::run(&format!("ALTER TABLE {table} ENABLE ALWAYS TRIGGER {t}"))?;
    Ok(())
}

/// WAL (or TRANSITIONING) → TRIGGER. With `lost`, changes may be missing from the buffer
/// (the slot is gone, decoding failed, or this transaction wrote the source before the
/// switch): the stream tables reading the source forget their frontiers and recompute in
/// full. The decoder, when there is one, is locked by the caller.
fn fallback(
    source: pg_sys::Oid,
    reason: &str,
    mut lost: bool,
    dec: Option<&mut Decoder>,
) -> PgtResult<()> {
    let table = qualified(source)?;
    let was_wal = crate::catalog::first_value::<bool>(
        "SELECT c.mode OPERATOR(pg_catalog.=) 'WAL' FROM pgtrickle.pgt_capture c WHERE c.source_relid OPERATOR(pg_catalog.=) $1",
        &[source.into()],
    )?
    .unwrap_or(false);
    if !table.is_empty() {
        lock_writers_out(&table)?;
    }
    if was_wal {
        lost |= written_by_this_transaction(source);
        match dec {
            Some(d) if !lost => {
                if let Err(e) = drain(d) {
                    pgrx::warning!("pg_trickle: draining the WAL before {table} returns to triggers failed: {e}");
                    lost = true;
                }
            }
            _ => lost = true,
        }
    }
    if !table.is_empty() {
        let _ddl = crate::guard::InternalDdl::enter();
        let name = pgt_sql::QualifiedName::new(
            crate::catalog::first_value::<String>(
                "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) $1",
                &[source.into()],
            )?
            .unwrap_or_default(),
            crate::catalog::first_value::<String>(
                "SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
                &[source.into()],
            )?
            .unwrap_or_default(),
        );
        if was_wal {
            // (`DROP TRIGGER IF EXISTS` of the capture triggers, absent under WAL capture.)
            crate::settings::with_setting("client_min_messages", "warning", || {
                for stmt in pgt_cdc::repair_triggers(source.to_u32(), &name) {
                    Spi::run(&stmt)?;
                }
                Ok::<(), pgrx::spi::Error>(())
            })?;
            Spi::run(&format!(
                "DROP TRIGGER IF EXISTS {} ON {table}",
                pgt_sql::quote_ident(NOTE_TRIGGER)
            ))?;
            crate::cdc_partitions::add_missing(source)?;
            // Trigger rows get change ids above every LSN a frontier recorded so far.
            Spi::run(&format!(
                "ALTER TABLE {} ALTER COLUMN __pgt_change_id RESTART WITH {}",
                pgt_cdc::buffer_table(source.to_u32()),
                own_change_mark() + 1
            ))?;
        }
        publish(source, false)?;
    }
    set_state(source, "TRIGGER", Some(reason), None)?;
    if was_wal && lost {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL \
              WHERE pgt_id IN (SELECT d.pgt_id FROM pgtrickle.pgt_dependencies d WHERE d.source_relid = $1)",
            &[source.into()],
        )?;
        pgrx::warning!("pg_trickle: {table} returned to trigger capture ({reason}); the stream tables reading it recompute in full");
    }
    Ok(())
}

/// One step of change-capture maintenance, run by the scheduler on every tick and by
/// [`sync_change_capture`]: sources that may use WAL capture are handed over, sources
/// that no longer may go back to triggers, the slot is drained (or dropped when no source
/// needs it). `fresh`: the transaction has written nothing yet (a slot can be created only
/// then).
pub fn tick(fresh: bool, creation: SlotCreation) -> PgtResult<()> {
    let _path = crate::security::PinnedSearchPath::enter();
    let slot = slot_name();
    let list = sources()?;
    let has_decoder_row = crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_wal_decoder)",
        &[],
    )?
    .unwrap_or(false);
    if list.is_empty() && !has_decoder_row {
        return Ok(());
    }
    let wants_wal = list.iter().any(|s| s.blocker.is_none());
    let has_decoder = crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_wal_decoder)",
        &[],
    )?
    .unwrap_or(false);
    // One step at a time per database: a concurrent step could otherwise see the slot
    // another has just created but not yet its (uncommitted) decoder row, and drop it. The
    // scheduler skips its step when another runs; an explicit call waits for it.
    let sql = if matches!(creation, SlotCreation::Wait) {
        "SELECT true FROM (SELECT pg_catalog.pg_advisory_xact_lock($1, 0)) AS x"
    } else {
        "SELECT pg_catalog.pg_try_advisory_xact_lock($1, 0)"
    };
    if !crate::catalog::first_value::<bool>(sql, &[TICK_LOCK_CLASS.into()])?.unwrap_or(false) {
        return Ok(());
    }
    if wants_wal && !has_decoder && !publication_exists()? {
        // Created with the first stream table under wal_level = logical; otherwise (the
        // level was raised since, or a restore without publications) now, and the slot in
        // a later step, once the publication is committed.
        return ensure_publication(false);
    }
    let mut have_slot = slot_exists(&slot)?;
    if have_slot && !has_decoder {
        // Left behind (by a dropped extension, say): no drain ever recorded a position.
        // Read-only SPI: pgrx's writing calls assign a transaction id, and a slot can be
        // created only by a transaction without one.
        crate::catalog::first_value::<bool>(
            "SELECT true FROM (SELECT pg_catalog.pg_drop_replication_slot($1)) AS x",
            &[slot.as_str().into()],
        )?;
        have_slot = false;
    }
    if wants_wal && !have_slot && !has_decoder && !fresh {
        return Err(PgtError::NeedsFreshTransaction {
            action: "creating the replication slot for WAL change capture",
        });
    }
    if wants_wal && !have_slot && !has_decoder && !matches!(creation, SlotCreation::Later) {
        // Creating a slot waits for every transaction running in the cluster to end; the
        // scheduler gives up after a moment (and tries again later) rather than stall.
        let create = || {
            let _owner = TransactionOwner::enter();
            crate::catalog::first_value::<String>(
                "SELECT s.lsn::pg_catalog.text FROM pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput') AS s",
                &[slot.as_str().into()],
            )
        };
        let at = match creation {
            SlotCreation::Within(t) => {
                LAST_SLOT_ATTEMPT.with(|a| a.set(Some(std::time::Instant::now())));
                crate::settings::with_setting("statement_timeout", t, create)
            }
            _ => create(),
        }?
        .unwrap_or_default();
        Spi::run_with_args(
            "INSERT INTO pgtrickle.pgt_wal_decoder (slot_name, decoded_lsn) VALUES ($1, $2::pg_catalog.text::pg_catalog.pg_lsn)",
            &[slot.as_str().into(), at.into()],
        )?;
        have_slot = true;
    }
    // (Locking the decoder row writes; without decoder state there is nothing to lock.)
    let mut dec = if has_decoder || have_slot {
        lock_decoder()?
    } else {
        None
    };
    if dec.is_some() && !have_slot {
        // The slot is gone: every source it served returns to triggers, changes lost.
        for s in list.iter().filter(|s| s.mode != "TRIGGER") {
            fallback(
                s.oid,
                &format!("replication slot \"{slot}\" no longer exists"),
                true,
                None,
            )?;
        }
        Spi::run("DELETE FROM pgtrickle.pgt_wal_decoder")?;
        dec = None;
    }
    let timeout = f64::from(crate::config::wal_transition_timeout_secs());
    for s in &list {
        match (&s.blocker, s.mode.as_str()) {
            (Some(why), "WAL" | "TRANSITIONING") => {
                let why = why.clone();
                let oid = s.oid;
                let d = dec.as_mut();
                if let Err(e) = crate::subtransaction::attempt(|| fallback(oid, &why, false, d)) {
                    set_reason(
                        s.oid,
                        Some(&format!("returning to triggers ({why}) waits: {e}")),
                    )?;
                }
            }
            (Some(why), _) if s.reason.as_deref() != Some(why.as_str()) => {
                set_reason(s.oid, Some(why))?
            }
            (Some(_), _) => {}
            (None, "TRIGGER") if dec.is_some() => {
                // A handover that timed out waits as long again before the next attempt.
                let backing_off = s
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(TIMED_OUT))
                    && s.since_secs < timeout;
                if !backing_off {
                    let oid = s.oid;
                    match crate::subtransaction::attempt(|| publish(oid, true)) {
                        Ok(()) => set_state(s.oid, "TRANSITIONING", None, None)?,
                        Err(e) => set_reason(
                            s.oid,
                            Some(&format!("cannot add it to publication {PUBLICATION}: {e}")),
                        )?,
                    }
                }
            }
            (None, "TRIGGER") if s.reason.as_deref() != Some(WAITING_FOR_SLOT) => {
                set_reason(s.oid, Some(WAITING_FOR_SLOT))?
            }
            _ => {}
        }
    }
    // Handovers: every TRANSITIONING source, each in a subtransaction of its own.
    if dec.is_some() {
        for s in sources()?
            .iter()
            .filter(|s| s.mode == "TRANSITIONING" && s.blocker.is_none())
        {
            let oid = s.oid;
            if let Err(e) = crate::subtransaction::attempt(|| handover(oid)) {
                if s.since_secs >= timeout {
                    let why = format!("{TIMED_OUT} pg_trickle.wal_transition_timeout ({e})");
                    let _ = crate::subtransaction::attempt(|| fallback(oid, &why, false, None));
                } else {
                    set_reason(
                        s.oid,
                        Some(&format!(
                            "handover waits for the writers of {}: {e}",
                            s.name
                        )),
                    )?;
                }
            }
        }
    }
    let after = sources()?;
    let any_wal = after.iter().any(|s| s.mode == "WAL");
    if let Some(d) = dec.as_mut() {
        if any_wal {
            if let Err(e) = crate::subtransaction::attempt(|| drain(d)) {
                let failing = Spi::get_one_with_args::<f64>(
                    "UPDATE pgtrickle.pgt_wal_decoder SET last_error = $1, failing_since = coalesce(failing_since, pg_catalog.now()) \
                     RETURNING extract(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) failing_since)::pg_catalog.float8",
                    &[e.as_str().into()],
                )?
                .unwrap_or(0.0);
                if failing >= timeout {
                    for s in after.iter().filter(|s| s.mode == "WAL") {
                        let oid = s.oid;
                        let why = format!("decoding failed for {failing:.0} s: {e}");
                        let _ = crate::subtransaction::attempt(|| fallback(oid, &why, true, None));
                    }
                }
            }
        } else if !after.iter().any(|s| s.mode == "TRANSITIONING") && !wants_wal {
            drop_slot(&d.slot)?;
        }
    }
    Ok(())
}

const TIMED_OUT: &str = "handover did not complete within";
/// First key of the advisory lock serializing change-capture steps ("PGTS").
const TICK_LOCK_CLASS: i32 = 0x5047_5453;
const WAITING_FOR_SLOT: &str = "waiting for the replication slot";

/// Drops the slot and the decoder state (no source needs them).
fn drop_slot(slot: &str) -> PgtResult<()> {
    if slot_exists(slot)? {
        Spi::run_with_args(
            "SELECT pg_catalog.pg_drop_replication_slot($1)",
            &[slot.into()],
        )?;
    }
    Spi::run("DELETE FROM pgtrickle.pgt_wal_decoder")?;
    Ok(())
}

/// Called when a source's capture is removed (no incrementally maintained stream table
/// reads it any more): its state row goes, and with the last WAL-captured source the slot.
pub fn forget_source(source: u32) -> PgtResult<()> {
    let oid = pg_sys::Oid::from(source);
    if crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = $1)",
        &[oid.into()],
    )?
    .unwrap_or(false)
    {
        publish(oid, false)?;
    }
    Spi::run_with_args(
        "DELETE FROM pgtrickle.pgt_capture WHERE source_relid = $1",
        &[oid.into()],
    )?;
    let others = crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_capture c WHERE c.mode <> 'TRIGGER')",
        &[],
    )?
    .unwrap_or(false);
    if !others {
        if let Some(d) = lock_decoder()? {
            drop_slot(&d.slot)?;
        }
    }
    Ok(())
}

/// Returns `source` to trigger capture now if it is WAL-captured or being handed over (a
/// stream table that needs trigger capture starts reading it).
pub fn return_to_triggers(source: pg_sys::Oid, reason: &str) -> PgtResult<()> {
    let mode = crate::catalog::first_value::<String>(
        "SELECT c.mode FROM pgtrickle.pgt_capture c WHERE c.source_relid OPERATOR(pg_catalog.=) $1",
        &[source.into()],
    )?;
    if matches!(mode.as_deref(), Some("WAL" | "TRANSITIONING")) {
        let _path = crate::security::PinnedSearchPath::enter();
        let mut dec = lock_decoder()?;
        fallback(source, reason, false, dec.as_mut())?;
    }
    Ok(())
}

/// The replica identity that decides WAL capture of source `k` (a `pg_class` row): its
/// own, or for a partitioned table the first partition's that is not FULL (each partition
/// logs its own old rows).
const EFFECTIVE_IDENTITY: &str = "CASE WHEN k.relkind OPERATOR(pg_catalog.=) 'p' THEN coalesce(\
      (SELECT p.relreplident FROM pg_catalog.pg_partition_tree(k.oid) AS t \
         JOIN pg_catalog.pg_class p ON p.oid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid \
        WHERE p.relkind OPERATOR(pg_catalog.=) 'r' AND p.relreplident OPERATOR(pg_catalog.<>) 'f' LIMIT 1), k.relreplident) \
    ELSE k.relreplident END";

/// The DDL hook for a WAL-captured source: `REPLICA IDENTITY` other than FULL leaves the
/// WAL without the old rows, so the source returns to triggers in the same transaction
/// (which holds the table's lock: no writer is in flight).
pub fn after_source_ddl(source: pg_sys::Oid) -> PgtResult<()> {
    let _path = crate::security::PinnedSearchPath::enter();
    let row = crate::catalog::first_value::<bool>(
        &format!("SELECT ({EFFECTIVE_IDENTITY}) OPERATOR(pg_catalog.<>) 'f' FROM pgtrickle.pgt_capture c JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.source_relid \
          WHERE c.source_relid OPERATOR(pg_catalog.=) $1 AND c.mode OPERATOR(pg_catalog.<>) 'TRIGGER'"),
        &[source.into()],
    )?;
    if row == Some(true) {
        let mut dec = lock_decoder()?;
        fallback(
            source,
            "REPLICA IDENTITY is no longer FULL: the WAL lacks the old row of an UPDATE or DELETE",
            false,
            dec.as_mut(),
        )?;
    }
    Ok(())
}

/// The scheduler's per-tick entry (its own transaction, nothing written yet).
pub fn scheduler_tick() -> PgtResult<()> {
    // Creating a slot waits for the transactions running in the cluster (under steady
    // writes, up to the next running-transactions record, logged every 15 s): the
    // scheduler allows 20 s, and tries again 5 minutes after an attempt.
    let may_create =
        LAST_SLOT_ATTEMPT.with(|t| t.get().is_none_or(|at| at.elapsed().as_secs() >= 300));
    tick(
        true,
        if may_create {
            SlotCreation::Within("20s")
        } else {
            SlotCreation::Later
        },
    )
}

thread_local! {
    /// When the scheduler last tried to create the slot.
    static LAST_SLOT_ATTEMPT: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Whether [`tick`] may create the slot now.
#[derive(Clone, Copy)]
pub enum SlotCreation {
    /// Yes, waiting as long as it takes (an explicit call).
    Wait,
    /// Yes, within this `statement_timeout` (the scheduler).
    Within(&'static str),
    /// Not on this tick.
    Later,
}

/// Hands sources over to WAL capture (or back to triggers) now, as the scheduler does on
/// each tick, and drains the slot; returns every captured source with its mode and
/// reason. Creating the slot needs a transaction that has not written anything, so call
/// it on its own.
#[pg_extern]
fn sync_change_capture() -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(mode, String),
        name!(reason, Option<String>),
    ),
> {
    let rows = crate::error::or_report(
        crate::error::require_superuser("manage change capture").and_then(|_| {
            // SAFETY: reads the current transaction's id (0 when it has none).
            let fresh =
                unsafe { pg_sys::GetTopTransactionIdIfAny() } == pg_sys::InvalidTransactionId;
            tick(fresh, SlotCreation::Wait)?;
            Ok(sources()?
                .into_iter()
                .map(|s| (s.name, s.mode, s.reason))
                .collect::<Vec<_>>())
        }),
    );
    TableIterator::new(rows)
}

/// Creates the capture state row of a source that just got its change buffer.
pub fn register_source(source: pg_sys::Oid) -> PgtResult<()> {
    Spi::run_with_args(
        "INSERT INTO pgtrickle.pgt_capture (source_relid) VALUES ($1) ON CONFLICT (source_relid) DO NOTHING",
        &[source.into()],
    )?;
    Ok(())
}

/// Drops this database's slot after the extension was dropped (called by its scheduler).
pub fn drop_orphaned_slot() {
    let slot = slot_name();
    let _ = Spi::run_with_args(
        "SELECT pg_catalog.pg_drop_replication_slot(s.slot_name) FROM pg_catalog.pg_replication_slots s \
          WHERE s.slot_name OPERATOR(pg_catalog.=) $1 AND NOT s.active",
        &[slot.as_str().into()],
    );
}
