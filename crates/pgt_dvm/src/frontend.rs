//! The parse-frontend interface. A frontend turns a parsed, name-resolved defining query
//! into an [`OpTree`], or explains which construct it cannot translate. The extension's
//! frontend walks PostgreSQL's analyzed `Query`; a future sidecar can implement the same
//! trait over a query parsed outside the server.

use crate::optree::OpTree;
use crate::DvmError;

/// What a frontend produces besides the tree.
#[derive(Debug, Clone)]
pub struct Translated {
    pub tree: OpTree,
    /// OIDs of the base relations read, each once (their change buffers are the inputs).
    pub sources: Vec<u32>,
    /// Whether the query calls volatile functions.
    pub volatile: bool,
}

pub trait ParseFrontend {
    /// The frontend's own representation of a query (SQL text, a parse tree, …).
    type Query: ?Sized;
    /// The frontend's error; unsupported constructs arrive as [`DvmError`].
    type Error: From<DvmError>;

    /// The literal tree: the query exactly as written (a comma join is a cross join under
    /// a filter per WHERE conjunct).
    fn translate(&self, query: &Self::Query) -> Result<Translated, Self::Error>;

    /// The tree the engine maintains: [`translate`](Self::translate) followed by the
    /// rewrite rules ([`crate::rewrite::optimize`]).
    fn plan(&self, query: &Self::Query) -> Result<Translated, Self::Error> {
        let mut t = self.translate(query)?;
        t.tree = crate::rewrite::optimize(&t.tree);
        Ok(t)
    }
}
