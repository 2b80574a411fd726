//! `WITH RECURSIVE` (ADR-007): a recursive CTE `r AS (B UNION [ALL] R)` becomes a
//! `pgt_dvm::operators::recursive::Recursive` node whose recursive term reads the work
//! table (`WorkTable`) where the query reads `r` itself. References to `r` from the rest of
//! the query share the node like any CTE.
//!
//! Refused by name: `SEARCH`/`CYCLE` clauses, a recursive CTE that is not `B UNION [ALL]
//! R`, and a recursive term with anything but scans, filters, projections, inner joins and
//! VALUES around the work table (its rendering must keep the recursive reference where
//! PostgreSQL allows it).

use pgrx::pg_sys;
use pgt_dvm::operators::recursive::Recursive;
use pgt_dvm::{Column, OpTree};

use super::{rt_fetch, unsupported, Builder};
use crate::error::PgtResult;

/// Whether the recursive term's operators keep the work table renderable inside the
/// recursion.
fn renderable(t: &OpTree) -> bool {
    match t {
        OpTree::Scan(_) | OpTree::WorkTable(_) | OpTree::Values(_) => true,
        OpTree::Filter(f) => renderable(&f.input),
        OpTree::Project(p) => renderable(&p.input),
        OpTree::Join(j) => renderable(&j.left) && renderable(&j.right),
        _ => false,
    }
}

impl Builder {
    /// The recursion of `cte` (defined by the query at depth `level`, known as `key`).
    pub(super) unsafe fn recursive_cte(
        &mut self,
        cte: *mut pg_sys::CommonTableExpr,
        level: usize,
        key: (usize, String),
    ) -> PgtResult<OpTree> {
        if !(*cte).search_clause.is_null() || !(*cte).cycle_clause.is_null() {
            return Err(unsupported(
                "WITH RECURSIVE … SEARCH or CYCLE",
                "Write the path or cycle column out in the recursive term, or use FULL.",
            ));
        }
        let cq = (*cte).ctequery as *mut pg_sys::Query;
        let so = (*cq).setOperations as *mut pg_sys::SetOperationStmt;
        if so.is_null()
            || (*so).op != pg_sys::SetOperation::SETOP_UNION
            || (*(*so).larg).type_ != pg_sys::NodeTag::T_RangeTblRef
            || (*(*so).rarg).type_ != pg_sys::NodeTag::T_RangeTblRef
        {
            return Err(unsupported(
                "a recursive CTE that is not one non-recursive term UNION [ALL] one recursive term",
                "Write it as (non-recursive SELECT) UNION [ALL] (recursive SELECT), or use FULL.",
            ));
        }
        let arm = |n: *mut pg_sys::Node| {
            (*rt_fetch(cq, (*(n as *mut pg_sys::RangeTblRef)).rtindex)).subquery
        };
        let (seed_q, rec_q) = (arm((*so).larg), arm((*so).rarg));
        // Translated in the context of the query that defines the CTE, below the CTE's own
        // query (as PostgreSQL counts levels for the references inside).
        let outer = self.levels[..=level].to_vec();
        let saved = std::mem::replace(&mut self.levels, outer);
        self.levels.push(cq);
        let built = (|| -> PgtResult<OpTree> {
            let (seed, _) = self.query(seed_q)?;
            let names = super::string_list((*cte).ctecolnames);
            let columns: Vec<Column> = seed
                .columns()
                .into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    if let Some(n) = names.get(i) {
                        c.name = n.clone();
                    }
                    c
                })
                .collect();
            self.next_shared += 1;
            let id = self.next_shared;
            self.recursions.insert(key.clone(), (id, columns.clone()));
            let (rec, _) = self.query(rec_q)?;
            if !renderable(&rec) {
                return Err(unsupported(
                    "a recursive term with aggregates, DISTINCT, outer joins, subqueries or set operations",
                    "The recursive term is maintained as PostgreSQL evaluates it, from scans, filters, projections and inner joins around the recursive reference; use FULL.",
                ));
            }
            Ok(OpTree::Recursive(Recursive {
                id,
                seed: Box::new(seed),
                recursive_term: Box::new(rec),
                all: (*so).all,
                columns,
            }))
        })();
        self.recursions.remove(&key);
        self.levels = saved;
        built
    }
}
