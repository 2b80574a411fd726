//! The capture trigger (ADR-001): one C-language statement trigger function,
//! `pgtrickle._capture_changes(<source oid>)`, that copies a statement's transition tables
//! into the source's change buffer by heap insertion, without SQL.
//!
//! ```text
//! INSERT       → I(new)             for each row of the NEW transition table
//! UPDATE       → D(old)…, I(new)…   all old rows, then all new rows
//! DELETE       → D(old)
//! TRUNCATE     → T
//! ```
//!
//! Each buffer row gets the next value of the buffer's identity sequence as change id
//! (the sequence hands each backend 1,000 values at a time: ids increase within a backend,
//! and a change id only orders one transaction's own changes, ADR-005),
//! the writing transaction's full xid and the operation; every other buffer column takes
//! the value of the source column of the same name (NULL when the source has none: a
//! dropped column). A buffer column's type is the source column's type with domains
//! replaced by their base type, which has the same representation, so values are copied
//! as they are; a value the source stored out of line is fetched back and stored again by
//! the heap's TOAST handling, as an `INSERT … SELECT` would.
//!
//! Why not SQL: the former PL/pgSQL function ran one `INSERT … SELECT` per statement (two
//! for an UPDATE) through SPI and the executor, as `SECURITY DEFINER` with a pinned
//! `search_path` (a GUC nest level per call). A single-row write paid several times its
//! own cost for it. Here a statement costs a catalog lookup of the buffer, and its rows
//! are inserted in batches with `heap_multi_insert` (as `COPY` does: one WAL record per
//! page), then into each index the way PostgreSQL inserts catalog index entries (key
//! columns read from the row, no executor): the buffer's only index is the plain
//! `(__pgt_xid)` BRIN index, and the trigger refuses a buffer with an index that has
//! expressions, a predicate or deferred checks (rather than mis-index it).
//!
//! Rights: the function runs as the writer, who needs no right on the buffer or its
//! sequence (neither is checked: they are pg_trickle's own, reached only through the
//! source's trigger), and runs no code of anyone's: no SQL, no operator, no type I/O.
//! `EXECUTE` on it is revoked from PUBLIC (firing a trigger checks none; creating one
//! does), so only a superuser can attach it elsewhere.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

use pgrx::prelude::*;
use pgrx::{pg_sys, PgTrigger, PgTriggerError, PgTriggerOperation, PgTupleDesc};

// Called through `pg_sys::ffi::pg_guard_ffi_boundary`, as pgrx's own bindings are: an ERROR
// inside becomes a Rust panic that unwinds to the trigger's boundary.
unsafe extern "C-unwind" {
    /// `commands/sequence.h`: the next value of a sequence, here without a privilege check
    /// (the writer has none on the buffer's sequence, by design).
    fn nextval_internal(relid: pg_sys::Oid, check_permissions: bool) -> i64;
    /// `catalog/partition.h`: the ancestors of a partition, nearest first.
    fn get_partition_ancestors(relid: pg_sys::Oid) -> *mut pg_sys::List;
}

thread_local! {
    /// The identity sequence of each buffer's change id, by buffer OID.
    static SEQUENCES: RefCell<HashMap<u32, pg_sys::Oid>> = RefCell::new(HashMap::new());
}

/// What a buffer column is filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    ChangeId,
    Xid,
    Op,
    /// The source column at this index of the source's tuple descriptor.
    Source(usize),
    Null,
}

/// The statement trigger on every trigger-captured source (and its partitions): see the
/// module documentation. Its argument is the source's OID.
#[pg_trigger]
fn _capture_changes<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let source = trigger
        .extra_args()?
        .first()
        .and_then(|a| a.parse::<u32>().ok())
        .unwrap_or_else(|| misuse("it takes the source's OID as its argument"));
    let op = trigger.op()?;
    let td = trigger.trigger_data();
    // SAFETY: `td` is the TriggerData PostgreSQL passed to this trigger call; its relation
    // and transition tables are valid for the call. `capture` documents its own calls.
    unsafe { capture(td, source, op) };
    Ok(None)
}

/// The OID of `pgtrickle_changes.changes_<source>` (InvalidOid when there is none).
fn buffer_oid(source: u32) -> pg_sys::Oid {
    let name = CString::new(format!("changes_{source}")).expect("no NUL in a buffer name");
    // SAFETY: syscache lookups by name; missing_ok, so no ERROR for a missing schema.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"pgtrickle_changes".as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            return pg_sys::InvalidOid;
        }
        pg_sys::get_relname_relid(name.as_ptr(), nsp)
    }
}

/// Whether `relid` is `source` or one of its partitions (at any depth).
///
/// # Safety
/// Called inside a transaction (catalog lookups).
unsafe fn belongs_to(relid: pg_sys::Oid, source: u32) -> bool {
    if relid.to_u32() == source {
        return true;
    }
    // SAFETY: get_rel_relispartition and get_partition_ancestors read the catalogs of an
    // existing relation (the trigger's, locked by its statement); the list is read with
    // PgList only for its length and OIDs.
    unsafe {
        if !pg_sys::get_rel_relispartition(relid) {
            return false;
        }
        let ancestors =
            pgrx::PgList::<pg_sys::Oid>::from_pg(pg_sys::ffi::pg_guard_ffi_boundary(|| {
                get_partition_ancestors(relid)
            }));
        let found = ancestors.iter_oid().any(|a| a.to_u32() == source);
        found
    }
}

/// Copies the statement's changes of `td`'s relation into `source`'s buffer.
///
/// # Safety
/// `td` must be the TriggerData of an AFTER statement trigger call in progress.
unsafe fn capture(td: &pg_sys::TriggerData, source: u32, op: PgTriggerOperation) {
    let rel = td.tg_relation;
    // SAFETY: the trigger's relation is open for the call.
    let relid = unsafe { (*rel).rd_id };
    // A table detached from the source's partition tree keeps no claim on its buffer
    // (the DDL hook removes the trigger; until then its writes are not the source's).
    if !unsafe { belongs_to(relid, source) } {
        return;
    }
    let buf_oid = buffer_oid(source);
    if buf_oid == pg_sys::InvalidOid && relid.to_u32() != source {
        // A partition's trigger outliving its source's capture (event triggers off when
        // the last stream table went): nothing reads these changes.
        return;
    }
    if buf_oid == pg_sys::InvalidOid {
        broken(source, "is missing".into());
    }
    // SAFETY: each call below is documented where it is made; the buffer is opened and
    // closed here, its indexes likewise, and nothing outlives the call but the inserted
    // rows.
    unsafe {
        let buf = pg_sys::table_open(buf_oid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let sdesc = PgTupleDesc::from_pg_unchecked((*rel).rd_att);
        let bdesc = PgTupleDesc::from_pg_unchecked((*buf).rd_att);
        let fills = fills(&sdesc, &bdesc, source);
        let seq = sequence(buf, &fills, source);
        let indexes = pg_sys::CatalogOpenIndexes(buf);
        check_indexes(indexes, source);
        let mut w = Writer {
            buf,
            indexes,
            fills,
            seq,
            xid: pg_sys::GetTopFullTransactionId().value,
            values: vec![pg_sys::Datum::from(0usize); bdesc.len()],
            nulls: vec![true; bdesc.len()],
            slots: Vec::new(),
            pending: 0,
            pending_bytes: 0,
        };
        match op {
            PgTriggerOperation::Insert => w.copy(td.tg_newtable, (*rel).rd_att, b'I'),
            PgTriggerOperation::Update => {
                w.copy(td.tg_oldtable, (*rel).rd_att, b'D');
                w.copy(td.tg_newtable, (*rel).rd_att, b'I');
            }
            PgTriggerOperation::Delete => w.copy(td.tg_oldtable, (*rel).rd_att, b'D'),
            PgTriggerOperation::Truncate => w.row(None, b'T'),
        }
        w.finish();
        pg_sys::CatalogCloseIndexes(indexes);
        pg_sys::table_close(buf, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
}

/// Each buffer column's fill, matching source columns by name.
fn fills(sdesc: &PgTupleDesc, bdesc: &PgTupleDesc, source: u32) -> Vec<Fill> {
    (0..bdesc.len())
        .map(|i| {
            let b = bdesc.get(i).expect("attribute within the descriptor");
            if b.is_dropped() {
                return Fill::Null;
            }
            match b.name() {
                "__pgt_change_id" => return Fill::ChangeId,
                "__pgt_xid" => return Fill::Xid,
                "__pgt_op" => return Fill::Op,
                _ => {}
            }
            let Some(j) = (0..sdesc.len()).find(|&j| {
                let s = sdesc.get(j).expect("attribute within the descriptor");
                !s.is_dropped() && s.name() == b.name()
            }) else {
                return Fill::Null;
            };
            let s = sdesc.get(j).expect("attribute within the descriptor");
            // SAFETY: getBaseType follows pg_type entries of an existing type.
            let base = if s.type_oid().value() == b.type_oid().value() {
                s.type_oid().value()
            } else {
                unsafe { pg_sys::getBaseType(s.type_oid().value()) }
            };
            if base != b.type_oid().value() {
                broken(
                    source,
                    format!(
                        "has column \"{}\" of another type than the source's",
                        b.name()
                    ),
                );
            }
            Fill::Source(j)
        })
        .collect()
}

/// The identity sequence of the buffer's change id (cached per buffer).
///
/// # Safety
/// `buf` must be open.
unsafe fn sequence(buf: pg_sys::Relation, fills: &[Fill], source: u32) -> pg_sys::Oid {
    // SAFETY: the buffer is open; RelationGetRelid reads its OID.
    let key = unsafe { (*buf).rd_id }.to_u32();
    if let Some(s) = SEQUENCES.with(|m| m.borrow().get(&key).copied()) {
        // A buffer OID names one relation for as long as it exists; the relkind check
        // guards against an OID reused after the buffer was dropped.
        // SAFETY: a syscache lookup by OID.
        if unsafe { pg_sys::get_rel_relkind(s) } == pg_sys::RELKIND_SEQUENCE as std::ffi::c_char {
            return s;
        }
    }
    let attnum = fills
        .iter()
        .position(|f| *f == Fill::ChangeId)
        .unwrap_or_else(|| broken(source, "has no __pgt_change_id column".into()))
        as pg_sys::AttrNumber
        + 1;
    // SAFETY: looks up pg_depend for the identity column's sequence; ERROR if none.
    let s = unsafe { pg_sys::getIdentitySequence(buf, attnum, false) };
    SEQUENCES.with(|m| m.borrow_mut().insert(key, s));
    s
}

/// Refuses a buffer with an index `CatalogTupleInsertWithInfo` cannot maintain.
///
/// # Safety
/// `indexes` must come from `CatalogOpenIndexes`.
unsafe fn check_indexes(indexes: *mut pg_sys::ResultRelInfo, source: u32) {
    // SAFETY: ExecOpenIndices filled ri_NumIndices entries of both arrays.
    unsafe {
        for i in 0..(*indexes).ri_NumIndices as usize {
            let info = *(*indexes).ri_IndexRelationInfo.add(i);
            let index = *(*indexes).ri_IndexRelationDescs.add(i);
            let plain = (*info).ii_Expressions.is_null()
                && (*info).ii_Predicate.is_null()
                && (*info).ii_ExclusionOps.is_null()
                && (*info).ii_NumIndexKeyAttrs > 0
                && (*(*index).rd_index).indimmediate;
            if !plain {
                broken(
                    source,
                    "has an index with expressions, a predicate or deferred checks, which pg_trickle does not create".into(),
                );
            }
        }
    }
}

/// Rows formed before they are inserted together (`heap_multi_insert`: one WAL record and
/// one buffer lock per page instead of per row), at most this many...
const BATCH_ROWS: usize = 1000;
/// ... or this many bytes of formed tuples.
const BATCH_BYTES: usize = 1 << 20;

/// Appends rows to one buffer.
struct Writer {
    buf: pg_sys::Relation,
    indexes: *mut pg_sys::ResultRelInfo,
    fills: Vec<Fill>,
    seq: pg_sys::Oid,
    xid: u64,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    /// Heap-tuple slots of the buffer's row type, reused batch after batch; the first
    /// `pending` hold formed rows not inserted yet.
    slots: Vec<*mut pg_sys::TupleTableSlot>,
    pending: usize,
    pending_bytes: usize,
}

impl Writer {
    /// One buffer row per tuple of the transition table `table` (rows of `desc`).
    ///
    /// # Safety
    /// `table` is a transition table of the trigger call in progress (or null), `desc`
    /// its row type.
    unsafe fn copy(
        &mut self,
        table: *mut pg_sys::Tuplestorestate,
        desc: pg_sys::TupleDesc,
        op: u8,
    ) {
        if table.is_null() {
            misuse("it must fire AFTER … FOR EACH STATEMENT with transition tables");
        }
        // SAFETY: a read pointer of its own, rewound, leaves other readers of the shared
        // transition table (user triggers, other capture) where they were (as a
        // NamedTuplestoreScan does); the slot has the table's row type and stores the
        // tuplestore's minimal tuples without copying them: each is copied into a heap
        // tuple by `row` before the next fetch; the slot is dropped at the end.
        unsafe {
            let ptr = pg_sys::tuplestore_alloc_read_pointer(table, pg_sys::EXEC_FLAG_REWIND as i32);
            pg_sys::tuplestore_select_read_pointer(table, ptr);
            pg_sys::tuplestore_rescan(table);
            let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsMinimalTuple);
            while pg_sys::tuplestore_gettupleslot(table, true, false, slot) {
                pg_sys::slot_getallattrs(slot);
                self.row(Some(slot), op);
            }
            pg_sys::ExecDropSingleTupleTableSlot(slot);
            pg_sys::tuplestore_select_read_pointer(table, 0);
        }
    }

    /// Forms one buffer row (`slot`'s values, all attributes fetched; None for `T`) and
    /// queues it; a full batch is inserted.
    ///
    /// # Safety
    /// The buffer and its indexes are open; `slot` has all its attributes deformed.
    unsafe fn row(&mut self, slot: Option<*mut pg_sys::TupleTableSlot>, op: u8) {
        for (i, fill) in self.fills.iter().enumerate() {
            let (v, null) = match *fill {
                // SAFETY: the sequence is the buffer's own identity sequence.
                Fill::ChangeId => (
                    pg_sys::Datum::from(unsafe {
                        pg_sys::ffi::pg_guard_ffi_boundary(|| nextval_internal(self.seq, false))
                    }),
                    false,
                ),
                Fill::Xid => (pg_sys::Datum::from(self.xid as i64), false),
                Fill::Op => (pg_sys::Datum::from(op as std::ffi::c_char), false),
                Fill::Source(j) => match slot {
                    // SAFETY: slot_getallattrs filled tts_values/tts_isnull for every
                    // attribute of the slot's descriptor, and `j` indexes it.
                    Some(s) => unsafe { (*(*s).tts_values.add(j), *(*s).tts_isnull.add(j)) },
                    None => (pg_sys::Datum::from(0usize), true),
                },
                Fill::Null => (pg_sys::Datum::from(0usize), true),
            };
            self.values[i] = v;
            self.nulls[i] = null;
        }
        // SAFETY: the arrays have one entry per attribute of the buffer's descriptor;
        // heap_form_tuple copies the values (by-reference ones included) into a new tuple
        // in the current memory context, and the slot (of the buffer's row type) takes it
        // over: it is freed when the slot is cleared after the batch's insertion.
        unsafe {
            if self.pending == self.slots.len() {
                self.slots.push(pg_sys::MakeSingleTupleTableSlot(
                    (*self.buf).rd_att,
                    &pg_sys::TTSOpsHeapTuple,
                ));
            }
            let tup = pg_sys::heap_form_tuple(
                (*self.buf).rd_att,
                self.values.as_mut_ptr(),
                self.nulls.as_mut_ptr(),
            );
            self.pending_bytes += (*tup).t_len as usize;
            pg_sys::ExecStoreHeapTuple(tup, self.slots[self.pending], true);
            self.pending += 1;
            if self.pending == BATCH_ROWS || self.pending_bytes >= BATCH_BYTES {
                self.flush();
            }
        }
    }

    /// Inserts the queued rows into the heap, then each into every index.
    ///
    /// # Safety
    /// The buffer and its indexes are open.
    unsafe fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        // SAFETY: the first `pending` slots hold formed tuples of the buffer's row type;
        // heap_multi_insert inserts them (TOASTing as needed) and sets each slot's
        // tts_tid. For each index (checked plain: key columns only, no expression, no
        // predicate), FormIndexDatum reads the key columns from the slot without an
        // executor state, as PostgreSQL's catalog index insertion does, and index_insert
        // adds the entry for the row's TID; the arrays hold INDEX_MAX_KEYS entries. The
        // slots are cleared (freeing their tuples) for the next batch.
        unsafe {
            pg_sys::heap_multi_insert(
                self.buf,
                self.slots.as_mut_ptr(),
                self.pending as i32,
                pg_sys::GetCurrentCommandId(true),
                0,
                std::ptr::null_mut(),
            );
            let n = (*self.indexes).ri_NumIndices as usize;
            let mut values = [pg_sys::Datum::from(0usize); pg_sys::INDEX_MAX_KEYS as usize];
            let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
            for &slot in &self.slots[..self.pending] {
                for j in 0..n {
                    let info = *(*self.indexes).ri_IndexRelationInfo.add(j);
                    let index = *(*self.indexes).ri_IndexRelationDescs.add(j);
                    if !(*info).ii_ReadyForInserts {
                        continue;
                    }
                    pg_sys::FormIndexDatum(
                        info,
                        slot,
                        std::ptr::null_mut(),
                        values.as_mut_ptr(),
                        isnull.as_mut_ptr(),
                    );
                    let unique = if (*(*index).rd_index).indisunique {
                        pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES
                    } else {
                        pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO
                    };
                    pg_sys::index_insert(
                        index,
                        values.as_mut_ptr(),
                        isnull.as_mut_ptr(),
                        &mut (*slot).tts_tid,
                        self.buf,
                        unique,
                        false,
                        info,
                    );
                }
                pg_sys::ExecClearTuple(slot);
            }
        }
        self.pending = 0;
        self.pending_bytes = 0;
    }

    /// Inserts what is queued and drops the slots.
    ///
    /// # Safety
    /// The buffer and its indexes are open.
    unsafe fn finish(mut self) {
        // SAFETY: as in `flush`; each slot was made by MakeSingleTupleTableSlot.
        unsafe {
            self.flush();
            for &slot in &self.slots {
                pg_sys::ExecDropSingleTupleTableSlot(slot);
            }
        }
    }
}

/// A change buffer that capture cannot write to.
fn broken(source: u32, what: String) -> ! {
    crate::error::PgtError::ChangeBuffer {
        relid: source,
        what,
    }
    .report()
}

/// The trigger function attached the wrong way.
fn misuse(what: &str) -> ! {
    crate::error::PgtError::CaptureTriggerMisuse { what: what.into() }.report()
}
