//! How the top of an operator tree is stored, and how a delta is applied to it.
//!
//! | model | top of the tree | hidden columns | row identity |
//! |---|---|---|---|
//! | **Keyed** | no DISTINCT/aggregates, output contains a unique key (a primary key carried through) | none | `hash(key)`; an UPDATE is an in-place update |
//! | **Bag** | anything else without DISTINCT/aggregates | `__pgt_key` (indexed) | `combine(key, occurrence)` |
//! | **Distinct** | `DISTINCT` | `__pgt_count` | `hash(row)` |
//! | **Aggregate** | `SELECT … GROUP BY … [HAVING …]` | `__pgt_count`, per-aggregate state | `hash(group key)` |
//! | **TopK** | `ORDER BY … LIMIT k` | `__pgt_key` | `combine(key, occurrence)`, as a bag |
//!
//! `hash(row)` is `pg_trickle_hash(record_send(ROW(…)))`: the binary form, so identities do
//! not depend on `DateStyle`, `TimeZone` or `extra_float_digits`. In a bag, the `n` copies
//! of a row have occurrences `1..n`; a delta of `+w` inserts occurrences `n+1..n+w`, and `−w`
//! deletes `n−w+1..n`, so occurrences stay dense and the copies a user sees are exactly
//! the multiplicity.

use pgt_sql::quote_ident;
use pgt_sql::server_functions::ServerFunctions;

use crate::expr::Expr;
use crate::operators::aggregate::Aggregate;
use crate::operators::project::Project;
use crate::optree::{Column, OpTree};
use crate::DvmError;

pub const KEY_COLUMN: &str = "__pgt_key";

/// The recognized shape of the top of a tree.
pub enum TopShape<'a> {
    /// Rows unique by the columns at these positions.
    Keyed(&'a OpTree, Vec<usize>),
    Bag(&'a OpTree),
    Distinct(&'a OpTree),
    Aggregate {
        agg: &'a Aggregate,
        having: Option<&'a Expr>,
        project: &'a Project,
    },
    /// The first rows in an order, stored as a bag (`operators/top_k.rs`).
    TopK(&'a crate::operators::top_k::TopK),
}

impl<'a> TopShape<'a> {
    /// Recognizes the storage model and checks its preconditions.
    pub fn of(tree: &'a OpTree) -> Result<TopShape<'a>, DvmError> {
        if let OpTree::TopK(k) = tree {
            require_binary(&k.input.columns())?;
            return Ok(TopShape::TopK(k));
        }
        // DISTINCT at the top, also under the identity projection a set operation's
        // output names leave (`SELECT … UNION SELECT …` is `π_{c0…}(δ(A ⊎ B))`).
        let distinct = match tree {
            OpTree::Distinct(d) => Some(d),
            OpTree::Project(p) => match p.input.as_ref() {
                OpTree::Distinct(d)
                    if p.exprs.len() == d.input.columns().len()
                        && p.exprs
                            .iter()
                            .enumerate()
                            .all(|(i, e)| e.as_column() == Some(i)) =>
                {
                    Some(d)
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(d) = distinct {
            require_exact(&d.input.columns(), "DISTINCT")?;
            require_binary(&d.input.columns())?;
            return Ok(TopShape::Distinct(&d.input));
        }
        if let OpTree::Project(p) = tree {
            let (inner, having) = match p.input.as_ref() {
                OpTree::Filter(f) => (f.input.as_ref(), Some(&f.predicate)),
                other => (other, None),
            };
            if let OpTree::Aggregate(agg) = inner {
                require_exact(&agg.group_columns, "GROUP BY")?;
                require_binary(&agg.group_columns)?;
                return Ok(TopShape::Aggregate {
                    agg,
                    having,
                    project: p,
                });
            }
        }
        require_binary(&tree.columns())?;
        match tree.rule().unique_key() {
            Some(key) if !key.is_empty() => Ok(TopShape::Keyed(tree, key)),
            _ => Ok(TopShape::Bag(tree)),
        }
    }

    /// Hidden columns `(name, type)` the storage table needs besides `__pgt_row_id`.
    pub fn hidden_columns(&self) -> Vec<(String, String)> {
        match self {
            TopShape::Keyed(..) => Vec::new(),
            TopShape::Bag(_) => vec![(KEY_COLUMN.into(), "bigint".into())],
            TopShape::TopK(k) => std::iter::once((KEY_COLUMN.into(), "bigint".into()))
                .chain(k.sort_columns())
                .collect(),
            TopShape::Distinct(_) => vec![("__pgt_count".into(), "bigint".into())],
            TopShape::Aggregate { agg, .. } => agg
                .state_columns()
                .into_iter()
                .map(|c| (c.name, c.type_sql))
                .collect(),
        }
    }
}

fn require_exact(columns: &[Column], clause: &str) -> Result<(), DvmError> {
    match columns.iter().find(|c| !c.keyable()) {
        None => Ok(()),
        Some(c) => Err(DvmError::unsupported(
            format!("{clause} on column \"{}\" of type {}", c.name, c.type_sql),
            "Equal values of this type can differ in their stored form (for example 1.0 and 1.00, or case-insensitive collations), so rows cannot be matched by identity.",
        )),
    }
}

fn require_binary(columns: &[Column]) -> Result<(), DvmError> {
    match columns.iter().find(|c| !c.binary_identity) {
        None => Ok(()),
        Some(c) => Err(DvmError::unsupported(
            format!("the output column \"{}\" of type {}", c.name, c.type_sql),
            "The type has no binary output function, which row identities are computed from.",
        )),
    }
}

/// The identity of a row of the SQL values `values`: `record_send(ROW(…))` hashed.
pub(crate) fn identity_hash(server: &dyn ServerFunctions, values: &[String]) -> String {
    server.hash_bytes(&format!(
        "pg_catalog.record_send(ROW({}))",
        values.join(", ")
    ))
}

/// `record_send(ROW(alias.c0, …))` hashed: the identity of a row of `n` positional columns.
pub fn row_hash(server: &dyn ServerFunctions, n: usize, alias: &str) -> String {
    key_hash(server, &(0..n).collect::<Vec<_>>(), alias)
}

/// Like [`row_hash`], over each column's canonical form (DISTINCT rows: equal rows get one
/// identity even when their binary forms differ).
pub fn canonical_row_hash(server: &dyn ServerFunctions, columns: &[Column], alias: &str) -> String {
    let cols: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| c.identity_sql(&format!("{alias}.\"c{i}\"")))
        .collect();
    identity_hash(server, &cols)
}

/// The identity of a row from the key columns `positions` under `alias`.
pub fn key_hash(server: &dyn ServerFunctions, positions: &[usize], alias: &str) -> String {
    let cols: Vec<String> = positions
        .iter()
        .map(|i| format!("{alias}.\"c{i}\""))
        .collect();
    identity_hash(server, &cols)
}

/// The quoted visible column names, in order.
pub fn quoted(names: &[String]) -> Vec<String> {
    names.iter().map(|n| quote_ident(n)).collect()
}
