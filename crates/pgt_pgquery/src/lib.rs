//! pg_trickle's second parse frontend, for the engine outside the server (the sidecar):
//! a defining query parsed by libpg_query (the `pg_query` crate, no server code), its
//! names, types and operators resolved through [`Catalog`] look-ups over an ordinary
//! client connection, translated into the same `pgt_dvm::OpTree` the extension's
//! frontend builds from PostgreSQL's analyzed `Query`.
//!
//! It covers the core of the SQL the engine maintains — scans, comma and inner joins,
//! WHERE conjuncts (with the conditions ORs imply), projections of columns, constants,
//! operators, casts and functions, GROUP BY with plain aggregates and HAVING, DISTINCT.
//! Everything else (outer joins, subqueries, set operations, windows, …) is refused as
//! `DvmError::Unsupported` naming the construct: the caller refreshes such a stream
//! table in full. Where PostgreSQL's resolution would need rules not implemented here
//! (implicit casts between columns, domains, polymorphic functions) the construct is
//! refused too, never guessed: a guess could pick another operator than the server's.
//!
//! `tests/pgquery_frontend.rs` runs both frontends over the oracle corpus and requires
//! identical trees wherever this one accepts a query.

pub mod analyze;
pub mod catalog;
pub mod client;
pub mod node;
pub mod print;
mod translate;

use std::cell::RefCell;

use pgt_dvm::frontend::{ParseFrontend, Translated};
use pgt_dvm::DvmError;

pub use catalog::{Catalog, CatalogError};
pub use client::ClientCatalog;

#[derive(Debug, Clone, PartialEq)]
pub enum FrontendError {
    /// The query is not SQL (libpg_query's message).
    Parse(String),
    /// SQL the server would reject (an unknown column, an aggregate in WHERE, …).
    Invalid(String),
    /// A catalog look-up failed.
    Catalog(CatalogError),
    /// A construct that is not translated (by this frontend, or at all).
    Dvm(DvmError),
}

impl std::fmt::Display for FrontendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrontendError::Parse(m) => write!(f, "syntax error: {m}"),
            FrontendError::Invalid(m) => f.write_str(m),
            FrontendError::Catalog(e) => write!(f, "{e}"),
            FrontendError::Dvm(e) => write!(f, "{}", e.reason_line()),
        }
    }
}

impl std::error::Error for FrontendError {}

impl From<DvmError> for FrontendError {
    fn from(e: DvmError) -> Self {
        FrontendError::Dvm(e)
    }
}

impl From<CatalogError> for FrontendError {
    fn from(e: CatalogError) -> Self {
        FrontendError::Catalog(e)
    }
}

pub type Result<T> = std::result::Result<T, FrontendError>;

pub(crate) fn unsupported(construct: &str, reason: &str) -> FrontendError {
    FrontendError::Dvm(DvmError::unsupported(construct, reason))
}

/// The frontend over a catalog (one translation at a time).
pub struct PgQueryFrontend<C: Catalog> {
    catalog: RefCell<C>,
}

impl<C: Catalog> PgQueryFrontend<C> {
    pub fn new(catalog: C) -> Self {
        PgQueryFrontend {
            catalog: RefCell::new(catalog),
        }
    }
}

impl<C: Catalog> ParseFrontend for PgQueryFrontend<C> {
    type Query = str;
    type Error = FrontendError;

    fn translate(&self, sql: &str) -> Result<Translated> {
        let parsed = pg_query::parse(sql).map_err(|e| FrontendError::Parse(e.to_string()))?;
        let stmts = &parsed.protobuf.stmts;
        if stmts.len() != 1 {
            return Err(FrontendError::Invalid(
                "a defining query is exactly one statement".into(),
            ));
        }
        let stmt = stmts[0]
            .stmt
            .as_deref()
            .and_then(|s| s.node.as_ref())
            .ok_or_else(|| FrontendError::Invalid("an empty statement".into()))?;
        let pg_query::protobuf::node::Node::SelectStmt(select) = stmt else {
            return Err(FrontendError::Invalid(
                "a defining query is a SELECT statement".into(),
            ));
        };
        let mut cat = self.catalog.borrow_mut();
        translate::Builder::new(&mut *cat).translate(select)
    }
}
