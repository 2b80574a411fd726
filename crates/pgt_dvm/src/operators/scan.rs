//! **Scan** of a base table (or stream table) `R`.
//!
//! `Δ(R) = { (r, +1) | r inserted } ∪ { (r, -1) | r deleted }`: the rows of `R`'s change
//! buffer that this refresh consumes (an UPDATE was captured as a delete of the old row
//! plus an insert of the new one, so no special case is needed).
//!
//! **Preconditions:** `R` has a change buffer (`ServerFunctions::change_buffer`) holding
//! typed copies of its columns; the refresh's frontier selects the unconsumed rows.
//!
//! **SQL:** delta = `SELECT <cols> AS c…, ±1 AS __pgt_w FROM changes_<oid> b WHERE <unconsumed>`,
//! consolidated (see `consolidate.rs`: versions that cancel are dropped before any
//! expression sees them); current = `SELECT <cols> AS c… FROM R`.

use pgt_sql::{quote_ident, QualifiedName};

use super::{ChangeKind, DeltaContext, Operator};
use crate::optree::{col_name, Column};
use crate::DvmError;

#[derive(Debug, Clone)]
pub struct Scan {
    pub source_oid: u32,
    pub table: QualifiedName,
    /// The columns read, in the order the query sees them (names are the table's).
    pub columns: Vec<Column>,
    /// Positions of the table's primary-key columns, when it has one.
    pub key: Option<Vec<usize>>,
    /// Per column, a cast applied when reading the table itself (a domain column is read as
    /// its base type, which is what the change buffer holds); empty or `None`: as it is.
    pub read_as: Vec<Option<String>>,
}

/// The change buffer of a source in the extension.
pub fn buffer_table(source_oid: u32) -> String {
    use pgt_sql::server_functions::ServerFunctions;
    pgt_sql::server_functions::Extension.change_buffer(source_oid)
}

impl Scan {
    /// `consolidate(σ_p(ΔR))` (`p` = `predicate`, over this scan's columns; none: `ΔR`
    /// consolidated), or `σ_p(ΔR)` as buffered when not `consolidate` (for a consumer that
    /// consolidates its own output and evaluates nothing that can fail before). The
    /// predicate is evaluated on every buffered version, so it must be one that cannot raise
    /// an error (a version that cancels out never existed at any refresh's snapshot, and
    /// must not make a refresh fail).
    pub fn delta_where(
        &self,
        cx: &mut DeltaContext<'_>,
        predicate: Option<&crate::expr::Expr>,
        consolidate: bool,
    ) -> Result<String, DvmError> {
        // One kind of change only: its rows are told apart after consolidation (a version
        // inserted and deleted again is neither).
        let only = cx.changes_only;
        let consolidate = consolidate || only.is_some();
        let memo = (
            self.source_oid,
            self.columns
                .iter()
                .map(|c| c.name.clone())
                .chain(predicate.map(|p| p.render_on("u")))
                .chain((!consolidate).then(|| "\u{0}as buffered".to_string()))
                .chain(only.map(|k| format!("\u{0}{k:?}")))
                .collect::<Vec<_>>(),
        );
        if let Some(name) = cx.scan_deltas.get(&memo) {
            return Ok(name.clone());
        }
        let mut sql = format!(
            "SELECT {}, CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM {} AS b \
             WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog.\"char\"[]) AND {}",
            self.select_list("b"),
            cx.server.change_buffer(self.source_oid),
            (cx.unconsumed)(self.source_oid)
        );
        if let Some(p) = predicate {
            sql = format!("SELECT u.* FROM ({sql}) AS u WHERE {}", p.render_on("u"));
        }
        // Versions that cancel (inserted, then deleted) go before anything evaluates them.
        let sql = if consolidate {
            super::consolidate::consolidated(&sql, &self.columns)
        } else {
            sql
        };
        let sql = match only {
            None => sql,
            Some(k) => format!(
                "SELECT o.* FROM ({sql}) AS o WHERE o.__pgt_w OPERATOR(pg_catalog.{}) 0",
                if k == ChangeKind::Deletes { "<" } else { ">" }
            ),
        };
        let name = cx.add_cte(
            match (predicate.is_some(), consolidate) {
                (true, true) => "filtered_scan_delta",
                (false, true) => "scan_delta",
                (true, false) => "filtered_buffered_delta",
                (false, false) => "buffered_delta",
            },
            sql,
        );
        cx.scan_deltas.insert(memo, name.clone());
        Ok(name)
    }

    fn select_list(&self, alias: &str) -> String {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{alias}.{} AS {}", quote_ident(&c.name), col_name(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Operator for Scan {
    fn name(&self) -> &'static str {
        "Scan"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        cx.quiet
            .contains(&self.source_oid)
            .then(|| vec![self.source_oid])
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        self.delta_where(cx, None, true)
    }

    /// `σ_{col ∈ K}(R)` as a condition on the table itself, so an index on the column is used.
    fn current_restricted(
        &self,
        cx: &mut DeltaContext<'_>,
        col: usize,
        keys: &str,
    ) -> Result<String, DvmError> {
        if cx.old_state || cx.changes_only == Some(ChangeKind::Deletes) {
            return Ok(super::restricted_on_top(&self.current(cx)?, col, keys));
        }
        let cur = self.current(cx)?;
        let name = quote_ident(&self.columns[col].name);
        Ok(format!(
            "{cur} WHERE t.{name} OPERATOR(pg_catalog.=) ANY ({})",
            super::key_array(keys)
        ))
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if cx.old_state {
            return self.old_rows(cx);
        }
        if cx.changes_only == Some(ChangeKind::Deletes) {
            return self.kept_rows(cx);
        }
        let cols = self
            .columns
            .iter()
            .enumerate()
            .map(
                |(i, c)| match self.read_as.get(i).and_then(|r| r.as_deref()) {
                    Some(cast) => {
                        format!("(t.{})::{cast} AS {}", quote_ident(&c.name), col_name(i))
                    }
                    None => format!("t.{} AS {}", quote_ident(&c.name), col_name(i)),
                },
            )
            .collect::<Vec<_>>()
            .join(", ");
        Ok(format!("SELECT {cols} FROM {} AS t", self.table))
    }

    fn unique_key(&self) -> Option<Vec<usize>> {
        self.key.clone()
    }
}

impl Scan {
    /// `R = consolidate(R′ − ΔR)`, each row as many times as its weight: the table as it
    /// was before the changes this refresh consumes.
    fn old_rows(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some(key) = self.key.as_ref().filter(|k| !k.is_empty()) {
            return self.old_rows_by_key(cx, key);
        }
        let (cur, d) = self.current_and_delta(cx, false)?;
        let n = self.columns.len();
        let cols = super::col_list(n, Some("s"));
        let net = super::consolidate::consolidated(
            &format!(
                "SELECT {cols}, 1::bigint AS __pgt_w FROM ({cur}) AS s \
                 UNION ALL SELECT {cols}, OPERATOR(pg_catalog.-) s.__pgt_w AS __pgt_w FROM {d} AS s"
            ),
            &self.columns,
        );
        Ok(format!(
            "SELECT {} FROM ({net}) AS o CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, o.__pgt_w) AS __pgt_copy \
              WHERE o.__pgt_w OPERATOR(pg_catalog.>) 0",
            super::col_list(n, Some("o"))
        ))
    }

    /// The table's current rows and its delta (consolidated or as buffered), rendered
    /// outside the old-state mode that asked for them.
    fn current_and_delta(
        &self,
        cx: &mut DeltaContext<'_>,
        consolidate: bool,
    ) -> Result<(String, String), DvmError> {
        cx.old_state = false;
        let cur = self.current(cx);
        let d = self.delta_where(cx, None, consolidate);
        cx.old_state = true;
        Ok((cur?, d?))
    }

    /// `S∘ = S′ − Ins`, the rows neither deleted nor inserted by this refresh's changes
    /// (see [`ChangeKind`]): with a primary key, the rows whose key the consolidated delta
    /// does not touch; otherwise `consolidate(S′ − Ins)`, each row as many times as its
    /// weight.
    fn kept_rows(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        let only = cx.changes_only.take();
        let (cur, d) = (self.current(cx), self.delta_where(cx, None, true));
        cx.changes_only = only;
        let (cur, d) = (cur?, d?);
        let n = self.columns.len();
        if let Some(key) = self.key.as_ref().filter(|k| !k.is_empty()) {
            let (table_keys, delta_keys) = self.key_lists(key);
            return Ok(format!(
                "{cur} WHERE NOT ({table_keys} OPERATOR(pg_catalog.=) ANY (SELECT {delta_keys} FROM {d} AS d))"
            ));
        }
        let cols = super::col_list(n, Some("s"));
        let net = super::consolidate::consolidated(
            &format!(
                "SELECT {cols}, 1::bigint AS __pgt_w FROM ({cur}) AS s \
                 UNION ALL SELECT {cols}, OPERATOR(pg_catalog.-) s.__pgt_w AS __pgt_w FROM {d} AS s \
                  WHERE s.__pgt_w OPERATOR(pg_catalog.>) 0"
            ),
            &self.columns,
        );
        Ok(format!(
            "SELECT {} FROM ({net}) AS o CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, o.__pgt_w) AS __pgt_copy \
              WHERE o.__pgt_w OPERATOR(pg_catalog.>) 0",
            super::col_list(n, Some("o"))
        ))
    }

    /// The key columns `key` of the table (alias `t`, one comparable value: a row value
    /// for a composite key) and of a delta (alias `d`, the select list of a subquery that
    /// the value is compared with by `= ANY`).
    fn key_lists(&self, key: &[usize]) -> (String, String) {
        let table_keys = key
            .iter()
            .map(|&k| format!("t.{}", quote_ident(&self.columns[k].name)))
            .collect::<Vec<_>>()
            .join(", ");
        let delta_keys = key
            .iter()
            .map(|&k| format!("d.{}", col_name(k)))
            .collect::<Vec<_>>()
            .join(", ");
        if key.len() == 1 {
            (table_keys, delta_keys)
        } else {
            (format!("ROW({table_keys})"), delta_keys)
        }
    }

    /// With a primary key (each key has at most one row at either snapshot): the rows
    /// whose key the consolidated delta does not touch, as they are, plus the old versions
    /// (weight −1) of the touched keys. The first part is a plain scan with a hashed
    /// anti-probe, so a consumer joining on the table's columns still reaches its indexes
    /// (a recursion probing by key reads a few rows, not the whole table).
    fn old_rows_by_key(
        &self,
        cx: &mut DeltaContext<'_>,
        key: &[usize],
    ) -> Result<String, DvmError> {
        let (cur, d) = self.current_and_delta(cx, true)?;
        let (table_keys, delta_keys) = self.key_lists(key);
        let n = self.columns.len();
        Ok(format!(
            "{cur} WHERE NOT ({table_keys} OPERATOR(pg_catalog.=) ANY (SELECT {delta_keys} FROM {d} AS d)) \
             UNION ALL SELECT {} FROM {d} AS d WHERE d.__pgt_w OPERATOR(pg_catalog.<) 0",
            super::col_list(n, Some("d"))
        ))
    }
}
