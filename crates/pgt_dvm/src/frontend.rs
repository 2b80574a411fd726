//! The parse-frontend interface. A frontend turns a parsed, name-resolved defining query
//! into an [`OpTree`], or explains which construct it cannot translate. The extension's
//! frontend walks PostgreSQL's analyzed `Query`; a future sidecar can implement the same
//! trait over a query parsed outside the server.

use crate::optree::OpTree;
use crate::DvmError;

pub trait ParseFrontend {
    /// The frontend's own representation of an analyzed query.
    type Query;

    fn to_optree(&self, query: &Self::Query) -> Result<OpTree, DvmError>;
}
