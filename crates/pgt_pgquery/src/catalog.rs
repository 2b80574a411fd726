//! What the frontend asks the server's catalog: relations and their columns, types,
//! operators, functions, aggregates and casts. [`Catalog`] is the narrow interface;
//! [`crate::client::ClientCatalog`] answers it over an ordinary client connection, with
//! the same catalog queries the extension's frontend runs through SPI.

/// A type with its modifier (`-1`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeRef {
    pub oid: u32,
    pub typmod: i32,
}

impl TypeRef {
    pub const fn of(oid: u32) -> TypeRef {
        TypeRef { oid, typmod: -1 }
    }
}

pub const BOOL: u32 = 16;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const NUMERIC: u32 = 1700;
pub const UNKNOWN: u32 = 705;
pub const DEFAULT_COLLATION: u32 = 100;

/// What keyed storage and row identities need to know about a value's type
/// (`pgt_dvm::Column`), plus what expression analysis needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// `format_type` with every name qualified (`pg_catalog.text`, `integer`,
    /// `numeric(10,2)`, `"s"."t"[]`).
    pub type_sql: String,
    pub exact_equality: bool,
    pub binary_identity: bool,
    pub canonical: Option<String>,
    /// The type's own collation (0: not collatable).
    pub collation: u32,
    /// A domain (analysis of domain values is left to the server's frontend).
    pub is_domain: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub oid: u32,
    /// `"schema"."name"`.
    pub name_sql: String,
    pub builtin: bool,
    pub leakproof: bool,
    /// `i`, `s` or `v`.
    pub volatility: char,
    pub result: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub oid: u32,
    /// `OPERATOR("schema".op)`.
    pub name_sql: String,
    /// 0 for a prefix operator.
    pub left: u32,
    pub right: u32,
    pub result: u32,
    /// `oprcanmerge`: a btree equality usable as a join key.
    pub mergejoinable: bool,
    /// A member of a btree operator family (or the negator of its equality): an ordering
    /// comparison, which cannot fail for valid values.
    pub btree: bool,
    pub func: Function,
}

/// How a cast is carried out (`pg_cast.castmethod`; `i` also for the automatic I/O
/// conversion to and from string types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CastMethod {
    Function(Function),
    Binary,
    InOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    pub method: CastMethod,
    /// `pg_cast.castcontext`: `i` (implicit), `a` (assignment), `e` (explicit).
    pub context: char,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    pub attnum: i16,
    pub name: String,
    /// The declared type (a domain stays a domain).
    pub declared: TypeRef,
    /// The domain's base type, or the declared type.
    pub base: TypeRef,
    pub collation: u32,
    /// `"schema"."collation"` of the column's collation, if it has one.
    pub collation_sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`.
    pub kind: char,
    pub has_children: bool,
    pub is_partition: bool,
    /// A column named like one of the change buffer's own, if any.
    pub reserved_column: Option<String>,
    /// Whether it has virtual generated columns (computed when read).
    pub has_virtual_columns: bool,
    /// Live, stored columns in attribute order.
    pub columns: Vec<RelColumn>,
    /// Attribute numbers of an immediate primary key.
    pub primary_key: Option<Vec<i16>>,
}

/// A failed catalog look-up (the connection or the query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError(pub String);

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type CatalogResult<T> = Result<T, CatalogError>;

/// The catalog look-ups of one translation. Names are resolved the way the server
/// resolves them for the connection's `search_path`.
pub trait Catalog {
    /// A relation by (optionally schema-qualified) name; `None` when there is none.
    fn relation(&mut self, schema: Option<&str>, name: &str) -> CatalogResult<Option<Relation>>;
    /// A type's name and key properties under `collation`.
    fn type_info(&mut self, ty: TypeRef, collation: u32) -> CatalogResult<TypeInfo>;
    /// A type's name as generated SQL spells it (`format_type` with every name
    /// qualified), without its key properties.
    fn type_name(&mut self, ty: TypeRef) -> CatalogResult<String>;
    /// A type by its (possibly qualified) name as `to_regtype` reads it.
    fn type_named(&mut self, name: &str) -> CatalogResult<Option<u32>>;
    /// The visible operators named `name` (binary and prefix).
    fn operators(&mut self, name: &str) -> CatalogResult<Vec<Operator>>;
    /// The visible ordinary function `name(args)` with exactly these argument types.
    fn function(&mut self, name: &str, args: &[u32]) -> CatalogResult<Option<Function>>;
    /// The visible plain aggregate `name(args)` (`None`: `name(*)`) with exactly these
    /// argument types, or (one argument) one declared over `"any"`.
    fn aggregate(&mut self, name: &str, args: Option<&[u32]>) -> CatalogResult<Option<Function>>;
    /// The sort operator of type `ty`'s default B-tree operator class: `<` (or `>` for
    /// `descending`), as PostgreSQL's ORDER BY chooses it; `None` without such a class.
    fn sort_operator(&mut self, ty: u32, descending: bool) -> CatalogResult<Option<String>>;
    /// A collation by its (possibly qualified, quoted) name, as `to_regcollation` reads
    /// it: its oid and `"schema"."name"`.
    fn collation_named(&mut self, name: &str) -> CatalogResult<Option<(u32, String)>>;
    /// `"schema"."name"` of a collation.
    fn collation_name(&mut self, oid: u32) -> CatalogResult<String>;
    /// The array type whose elements are of type `elem`.
    fn array_type(&mut self, elem: u32) -> CatalogResult<Option<u32>>;
    /// The visible ordinary functions (`aggregate`: plain aggregates) named `name` with
    /// `nargs` arguments, each with its declared argument types.
    fn candidates(
        &mut self,
        name: &str,
        nargs: usize,
        aggregate: bool,
    ) -> CatalogResult<Vec<(Function, Vec<u32>)>>;
    /// The cast from one type to another, if `pg_cast` has one or I/O conversion applies.
    fn cast(&mut self, from: u32, to: u32) -> CatalogResult<Option<Cast>>;
    /// `text` read by the input function of `ty` and printed by its output function, as a
    /// constant of that type is printed (`extra_float_digits = 3`); an error for text the
    /// type does not accept.
    fn constant(&mut self, text: &str, ty: TypeRef) -> CatalogResult<String>;
}
