//! # pgt_dvm: the differential view maintenance engine
//!
//! A defining query, after a parse frontend has resolved names and types, becomes an
//! operator tree ([`OpTree`]). Each operator lives in its own file under [`operators`]
//! and states its delta rule. The [`driver`] walks the tree and emits **one SQL
//! statement** (a CTE chain) that reads the change buffers and the current tables at a
//! single snapshot, and applies the result to the storage table with `MERGE`.
//!
//! Relations inside the engine are Z-sets: every delta row carries an integer weight
//! `__pgt_w` (+1 inserted, -1 deleted). Columns are named positionally `c0, c1, …`;
//! expressions refer to input columns by index ([`Expr`]), so rules never need names.
//!
//! | module | role |
//! |---|---|
//! | [`expr`] | SQL expression fragments with column placeholders |
//! | [`optree`] | the operator tree and its columns |
//! | [`operators`] | one file per operator: its delta rule and current-state SQL |
//! | [`rewrite`] | rules that make the tree efficient before it is differentiated |
//! | [`explain`] | a readable print of a tree |
//! | [`state`] | which groupings below the top keep stored states, in which tables |
//! | [`storage`] | how the top of the tree is stored (bag, distinct, aggregate) and applied |
//! | [`driver`] | builds the refresh statements |
//! | [`frontend`] | the trait a parse frontend implements |

pub mod driver;
pub mod error;
pub mod explain;
pub mod expr;
pub mod frontend;
pub mod operators;
pub mod optree;
pub mod rewrite;
pub mod state;
pub mod storage;

pub use error::DvmError;
pub use expr::{Expr, ExprPart};
pub use optree::{AggCall, AggKind, Column, OpTree};

#[cfg(test)]
pub(crate) mod golden {
    /// Compares `actual` with `tests/golden/<name>`; `PGT_UPDATE_GOLDEN=1` rewrites it.
    pub fn check(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("PGT_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with PGT_UPDATE_GOLDEN=1", path.display()));
        assert_eq!(actual, want, "golden file {} differs", path.display());
    }
}
