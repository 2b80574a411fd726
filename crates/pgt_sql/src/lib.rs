//! # pgt_sql
//!
//! Builders for the SQL pg_trickle generates. Every identifier and literal goes through
//! [`quote`]; user text is never spliced in raw. The only SQL text embedded verbatim is a
//! defining query *as PostgreSQL's own deparser printed it* (see `docs/ARCHITECTURE.md`).
//!
//! | module | what it builds |
//! |---|---|
//! | [`quote`] | identifiers, literals, qualified names |
//! | [`storage`] | the storage table and its guard triggers |
//! | [`full_refresh`] | the FULL refresh statement (a diff against the current contents) |
//! | [`lint`] | the check that generated SQL names every function and operator with its schema |

pub mod full_refresh;
pub mod lint;
pub mod quote;
pub mod server_functions;
pub mod storage;

pub use quote::{quote_ident, quote_literal, QualifiedName};
