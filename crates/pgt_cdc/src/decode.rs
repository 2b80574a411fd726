//! # From decoded messages to change-buffer rows
//!
//! A drain of the slot reads `pgoutput` messages in commit order: each transaction as
//! `Begin`, its changes, `Commit`, with `Relation` messages describing a table before its
//! first change (and again after DDL). [`Collector`] keeps the changes of transactions that
//! committed inside the drained range `[after, upto)` and belong to a source that is
//! WAL-captured *for that transaction* (its commit is past the source's handover point),
//! and turns each into the rows a capture trigger would have written:
//!
//! ```text
//! INSERT new        → I(new)
//! UPDATE old → new  → D(old), I(new)   (a TOASTed value the UPDATE left alone: from old)
//! DELETE old        → D(old)
//! TRUNCATE          → T
//! ```
//!
//! An UPDATE or DELETE needs the whole old row, which the WAL holds only under
//! `REPLICA IDENTITY FULL`; without it the collector reports the source, which then goes
//! back to trigger capture.

use std::collections::HashMap;
use std::rc::Rc;

use crate::pgoutput::{Message, OldRow, RelationColumn, Value};

/// One change-buffer row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `I`, `D` or `T`.
    pub op: char,
    /// The writing transaction's 32-bit id, as decoded.
    pub xid: u32,
    /// The LSN of the change (stored as the row's change id: see `ADR-002`).
    pub lsn: u64,
    /// The source's columns when the change was written.
    pub columns: Rc<Vec<RelationColumn>>,
    /// Values in the order of `columns` (empty for `T`).
    pub values: Vec<Value>,
}

/// Why a drain cannot go on for one source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("an UPDATE or DELETE of relation {0} carries no whole old row (REPLICA IDENTITY is not FULL)")]
    NoOldRow(u32),
    #[error("a change of relation {0} arrived before its Relation message")]
    UnknownRelation(u32),
    #[error("a change arrived outside a transaction")]
    OutsideTransaction,
}

/// The transaction being read: its xid, commit LSN, and its rows so far with their relation.
type OpenTransaction = (u32, u64, Vec<(u32, Row)>);

/// Collects the rows to buffer from a stream of decoded messages.
pub struct Collector<F: Fn(u32, u64) -> bool> {
    after: u64,
    upto: u64,
    /// Whether relation `oid`'s changes committed at `commit_lsn` are to be buffered.
    accept: F,
    relations: HashMap<u32, Rc<Vec<RelationColumn>>>,
    /// The open transaction.
    open: Option<OpenTransaction>,
    /// Rows of committed transactions, per relation, in commit order.
    pub rows: HashMap<u32, Vec<Row>>,
    /// Transactions kept.
    pub transactions: u64,
}

impl<F: Fn(u32, u64) -> bool> Collector<F> {
    pub fn new(after: u64, upto: u64, accept: F) -> Self {
        Collector {
            after,
            upto,
            accept,
            relations: HashMap::new(),
            open: None,
            rows: HashMap::new(),
            transactions: 0,
        }
    }

    /// Takes the next message, whose change is at `lsn`.
    pub fn push(&mut self, lsn: u64, msg: Message) -> Result<(), DecodeError> {
        match msg {
            Message::Begin { final_lsn, xid } => self.open = Some((xid, final_lsn, Vec::new())),
            Message::Commit { commit_lsn } => {
                if let Some((_, final_lsn, rows)) = self.open.take() {
                    let at = if commit_lsn != 0 {
                        commit_lsn
                    } else {
                        final_lsn
                    };
                    if self.in_range(at) && !rows.is_empty() {
                        self.transactions += 1;
                        for (rel, row) in rows {
                            self.rows.entry(rel).or_default().push(row);
                        }
                    }
                }
            }
            Message::Relation { oid, columns, .. } => {
                self.relations.insert(oid, Rc::new(columns));
            }
            Message::Insert { relation, new } => {
                if self.wanted(relation)? {
                    self.add(relation, 'I', lsn, new)?;
                }
            }
            Message::Update { relation, old, new } => {
                if self.wanted(relation)? {
                    let Some((OldRow::Full, old)) = old else {
                        return Err(DecodeError::NoOldRow(relation));
                    };
                    let new = new
                        .into_iter()
                        .zip(old.iter())
                        .map(|(n, o)| match n {
                            Value::Unchanged => o.clone(),
                            v => v,
                        })
                        .collect();
                    self.add(relation, 'D', lsn, old)?;
                    self.add(relation, 'I', lsn, new)?;
                }
            }
            Message::Delete { relation, old } => {
                if self.wanted(relation)? {
                    let (OldRow::Full, old) = old else {
                        return Err(DecodeError::NoOldRow(relation));
                    };
                    self.add(relation, 'D', lsn, old)?;
                }
            }
            Message::Truncate { relations } => {
                for relation in relations {
                    if self.wanted(relation)? {
                        self.add(relation, 'T', lsn, Vec::new())?;
                    }
                }
            }
            Message::Other => {}
        }
        Ok(())
    }

    fn wanted(&self, relation: u32) -> Result<bool, DecodeError> {
        let (_, final_lsn, _) = self.open.as_ref().ok_or(DecodeError::OutsideTransaction)?;
        Ok(self.in_range(*final_lsn) && (self.accept)(relation, *final_lsn))
    }

    /// Whether a commit record starting at `at` belongs to this drain. Both bounds are
    /// the end of the last WAL record inserted when a drain read them, so the next record
    /// starts exactly there: a commit record at `upto` is not decoded by this drain (it
    /// did not exist yet; decoding stops at the record ending at `upto`) and is the first
    /// of the next one, whose `after` is this `upto`. (A closed bound at either end loses
    /// or doubles such a transaction.)
    fn in_range(&self, at: u64) -> bool {
        at >= self.after && at < self.upto
    }

    fn add(
        &mut self,
        relation: u32,
        op: char,
        lsn: u64,
        values: Vec<Value>,
    ) -> Result<(), DecodeError> {
        let columns = match op {
            'T' => Rc::new(Vec::new()),
            _ => self
                .relations
                .get(&relation)
                .cloned()
                .ok_or(DecodeError::UnknownRelation(relation))?,
        };
        let (xid, _, rows) = self.open.as_mut().ok_or(DecodeError::OutsideTransaction)?;
        rows.push((
            relation,
            Row {
                op,
                xid: *xid,
                lsn,
                columns,
                values,
            },
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(oid: u32, cols: &[&str]) -> Message {
        Message::Relation {
            oid,
            namespace: "public".into(),
            name: format!("t{oid}"),
            columns: cols
                .iter()
                .map(|c| RelationColumn {
                    name: c.to_string(),
                    type_oid: 23,
                })
                .collect(),
        }
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn keeps_committed_transactions_in_range_and_accepted_sources() {
        // Source 1 is WAL-captured from commit LSN 100 on; source 2 never.
        let mut c = Collector::new(50, 500, |rel, commit| rel == 1 && commit > 100);
        let msgs = vec![
            // committed at 90: before the handover of source 1 (the triggers caught it)
            (
                80,
                Message::Begin {
                    final_lsn: 90,
                    xid: 7,
                },
            ),
            (80, rel(1, &["id", "v"])),
            (
                81,
                Message::Insert {
                    relation: 1,
                    new: vec![t("1"), t("a")],
                },
            ),
            (90, Message::Commit { commit_lsn: 90 }),
            // committed at 200: kept; its change of source 2 is not
            (
                150,
                Message::Begin {
                    final_lsn: 200,
                    xid: 8,
                },
            ),
            (
                151,
                Message::Update {
                    relation: 1,
                    old: Some((OldRow::Full, vec![t("1"), t("long")])),
                    new: vec![t("2"), Value::Unchanged],
                },
            ),
            (152, rel(2, &["k"])),
            (
                153,
                Message::Insert {
                    relation: 2,
                    new: vec![t("9")],
                },
            ),
            (
                154,
                Message::Delete {
                    relation: 1,
                    old: (OldRow::Full, vec![t("3"), Value::Null]),
                },
            ),
            (
                155,
                Message::Truncate {
                    relations: vec![1, 2],
                },
            ),
            (200, Message::Commit { commit_lsn: 200 }),
            // committed past the drained range: left for the next drain
            (
                300,
                Message::Begin {
                    final_lsn: 600,
                    xid: 9,
                },
            ),
            (
                301,
                Message::Insert {
                    relation: 1,
                    new: vec![t("5"), t("x")],
                },
            ),
            (600, Message::Commit { commit_lsn: 600 }),
        ];
        for (lsn, m) in msgs {
            c.push(lsn, m).unwrap();
        }
        assert_eq!(c.transactions, 1);
        assert!(!c.rows.contains_key(&2));
        let rows = &c.rows[&1];
        let ops: Vec<(char, u32, u64)> = rows.iter().map(|r| (r.op, r.xid, r.lsn)).collect();
        assert_eq!(
            ops,
            vec![('D', 8, 151), ('I', 8, 151), ('D', 8, 154), ('T', 8, 155)]
        );
        assert_eq!(rows[0].values, vec![t("1"), t("long")]);
        // The unchanged TOASTed value comes from the old row.
        assert_eq!(rows[1].values, vec![t("2"), t("long")]);
        assert_eq!(rows[2].values, vec![t("3"), Value::Null]);
        assert_eq!(rows[1].columns[1].name, "v");
    }

    /// Two consecutive drains `[50, 200)` and `[200, 400)`: a transaction whose commit
    /// record starts exactly at the boundary (the first record written after the first
    /// drain read its bound) is kept by the second drain, once.
    #[test]
    fn a_commit_at_the_boundary_belongs_to_the_next_drain() {
        let txn = |final_lsn: u64, xid: u32| {
            vec![
                (final_lsn - 20, Message::Begin { final_lsn, xid }),
                (final_lsn - 20, rel(1, &["id"])),
                (
                    final_lsn - 10,
                    Message::Insert {
                        relation: 1,
                        new: vec![t("1")],
                    },
                ),
                (
                    final_lsn,
                    Message::Commit {
                        commit_lsn: final_lsn,
                    },
                ),
            ]
        };
        let run = |after: u64, upto: u64| {
            let mut c = Collector::new(after, upto, |_, _| true);
            for (lsn, m) in txn(50, 1).into_iter().chain(txn(200, 2)) {
                c.push(lsn, m).unwrap();
            }
            c.rows
                .get(&1)
                .map(|r| r.iter().map(|r| r.xid).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(run(50, 200), vec![1]);
        assert_eq!(run(200, 400), vec![2]);
    }

    #[test]
    fn a_missing_old_row_names_its_relation() {
        let mut c = Collector::new(0, 1000, |_, _| true);
        c.push(
            1,
            Message::Begin {
                final_lsn: 10,
                xid: 1,
            },
        )
        .unwrap();
        c.push(1, rel(4, &["id"])).unwrap();
        let err = c
            .push(
                2,
                Message::Delete {
                    relation: 4,
                    old: (OldRow::Key, vec![t("1")]),
                },
            )
            .unwrap_err();
        assert_eq!(err, DecodeError::NoOldRow(4));
        let err = c
            .push(
                3,
                Message::Update {
                    relation: 4,
                    old: None,
                    new: vec![t("1")],
                },
            )
            .unwrap_err();
        assert_eq!(err, DecodeError::NoOldRow(4));
        // A change of a relation that is not collected needs nothing.
        let mut c = Collector::new(0, 1000, |_, _| false);
        c.push(
            1,
            Message::Begin {
                final_lsn: 10,
                xid: 1,
            },
        )
        .unwrap();
        c.push(
            2,
            Message::Delete {
                relation: 4,
                old: (OldRow::Key, vec![t("1")]),
            },
        )
        .unwrap();
        assert_eq!(
            Collector::new(0, 1, |_, _| true).push(
                1,
                Message::Insert {
                    relation: 1,
                    new: vec![]
                }
            ),
            Err(DecodeError::OutsideTransaction)
        );
    }
}
