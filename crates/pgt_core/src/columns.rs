//! Rules for the output columns of a defining query. The storage table gets one column
//! per output column, with the same name and full type declaration (`numeric(8,2)`,
//! `char(10)`, collations), plus pg_trickle's hidden `__pgt_*` columns, so user column
//! names must be distinct, must not use the reserved prefix, and must have real types.

use std::collections::HashSet;

use crate::CoreError;

/// Prefix of every column pg_trickle adds to a storage table.
pub const RESERVED_COLUMN_PREFIX: &str = "__pgt_";
/// The primary-key column holding each row's identity.
pub const ROW_ID_COLUMN: &str = "__pgt_row_id";

/// One output column of a defining query, as name resolution reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    pub name: String,
    /// The full type declaration as `format_type(oid, typmod)` renders it, e.g. `numeric(8,2)`.
    pub type_sql: String,
    /// A collation name (already quoted and qualified) when it differs from the type's default.
    pub collation_sql: Option<String>,
    /// True for pseudo-types (`record`, `anyelement`, `unknown`, …), which a table cannot hold.
    pub is_pseudo_type: bool,
}

/// Checks the output columns of a defining query: at least one, distinct names (PostgreSQL
/// compares identifiers exactly once they are parsed), no reserved names, no pseudo-types.
pub fn validate_output_columns(columns: &[OutputColumn]) -> Result<(), CoreError> {
    if columns.is_empty() {
        return Err(CoreError::NoColumns);
    }
    let mut seen = HashSet::new();
    for c in columns {
        if c.name.starts_with(RESERVED_COLUMN_PREFIX) {
            return Err(CoreError::ReservedColumn {
                name: c.name.clone(),
            });
        }
        if !seen.insert(c.name.as_str()) {
            return Err(CoreError::DuplicateColumn {
                name: c.name.clone(),
            });
        }
        if c.is_pseudo_type {
            return Err(CoreError::PseudoTypeColumn {
                name: c.name.clone(),
                type_name: c.type_sql.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str) -> OutputColumn {
        OutputColumn {
            name: name.into(),
            type_sql: "integer".into(),
            collation_sql: None,
            is_pseudo_type: false,
        }
    }

    #[test]
    fn accepts_distinct() {
        assert_eq!(
            validate_output_columns(&[col("a"), col("A"), col("b c")]),
            Ok(())
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(validate_output_columns(&[]), Err(CoreError::NoColumns));
        assert_eq!(
            validate_output_columns(&[col("a"), col("a")]),
            Err(CoreError::DuplicateColumn { name: "a".into() })
        );
        assert_eq!(
            validate_output_columns(&[col("__pgt_row_id")]),
            Err(CoreError::ReservedColumn {
                name: "__pgt_row_id".into()
            })
        );
        let mut rec = col("r");
        rec.type_sql = "record".into();
        rec.is_pseudo_type = true;
        assert!(matches!(
            validate_output_columns(&[rec]),
            Err(CoreError::PseudoTypeColumn { .. })
        ));
    }

    #[test]
    fn unnamed_expressions_collide() {
        // PostgreSQL names unnamed expressions "?column?"; two of them must be refused.
        assert!(validate_output_columns(&[col("?column?"), col("?column?")]).is_err());
    }
}
