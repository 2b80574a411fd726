//! The operator tree. A parse frontend builds it; the driver differentiates it.
//!
//! Every operator produces positional columns `c0, c1, …`. [`Column`] carries the
//! user-facing name and type, and whether equality on the column coincides with
//! equality of its binary value, which keyed storage (DISTINCT, GROUP BY) relies on.

use std::rc::Rc;

use pgt_sql::QualifiedName;

use crate::expr::Expr;

/// The name of positional column `i` in generated SQL.
pub fn col_name(i: usize) -> String {
    format!("\"c{i}\"")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The full type, as `format_type` prints it.
    pub type_sql: String,
    /// True when `a = b` holds exactly when `a` and `b` have the same binary form
    /// (integers, text with a deterministic collation, …; not float, interval, unconstrained
    /// numeric). Keys of DISTINCT and GROUP BY must have it.
    pub exact_equality: bool,
    /// True when the type (and array element type) has a binary output function, which
    /// row identities (`record_send`) need.
    pub binary_identity: bool,
    /// For a type without exact equality whose equal values can be brought to one binary
    /// form: that canonical form as SQL, with `$` standing for the value
    /// (`pg_catalog.trim_scale($)` for unconstrained numeric, so `1.0` and `1.00` get one
    /// identity). Row identities of keys are hashed over it; the stored value is untouched.
    pub canonical: Option<String>,
}

impl Column {
    /// True when the column can be a DISTINCT or GROUP BY key: equality is binary
    /// equality, or of its canonical form.
    pub fn keyable(&self) -> bool {
        self.exact_equality || self.canonical.is_some()
    }

    /// `value` (SQL) in the form row identities are hashed over.
    pub fn identity_sql(&self, value: &str) -> String {
        match &self.canonical {
            Some(c) if !self.exact_equality => c.replace('$', value),
            _ => value.to_string(),
        }
    }
}

/// Aggregate functions the engine maintains without rescanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    CountStar,
    Count,
    /// SUM over integers or numeric.
    Sum,
    /// AVG over integers or numeric (result numeric).
    Avg,
    Min,
    Max,
    /// Anything else (string_agg, DISTINCT/FILTER/ORDER BY variants, float sums, …):
    /// maintained by recomputing the affected groups.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggCall {
    pub kind: AggKind,
    /// The argument (over the aggregate's input columns); None for COUNT(*) and Other.
    pub arg: Option<Expr>,
    /// The whole call as SQL (over the aggregate's input columns), used to recompute.
    pub call: Expr,
    /// The aggregate's result type.
    pub result_type: String,
    /// For SUM/AVG over unconstrained numeric: PostgreSQL shows a sum at the largest scale
    /// of its inputs, which can shrink when rows are deleted. The state keeps a histogram
    /// of the inputs' scales (see `operators/aggregate.rs`).
    pub tracks_scale: bool,
}

#[derive(Debug, Clone)]
pub enum OpTree {
    Scan(crate::operators::scan::Scan),
    Filter(crate::operators::filter::Filter),
    Project(crate::operators::project::Project),
    Join(crate::operators::join::Join),
    OuterJoin(crate::operators::outer_join::OuterJoin),
    SemiJoin(crate::operators::semi_join::SemiJoin),
    UnionAll(crate::operators::union_all::UnionAll),
    Aggregate(crate::operators::aggregate::Aggregate),
    Distinct(crate::operators::distinct::Distinct),
    Shared(crate::operators::shared::Shared),
    Values(crate::operators::values::Values),
    TopK(crate::operators::top_k::TopK),
    Replicate(crate::operators::replicate::Replicate),
    Window(crate::operators::window::Window),
    LateralFunction(crate::operators::lateral_function::LateralFunction),
    Recursive(crate::operators::recursive::Recursive),
    WorkTable(crate::operators::recursive::WorkTable),
}

impl OpTree {
    /// The operator as its delta rule.
    pub fn rule(&self) -> &dyn crate::operators::Operator {
        match self {
            OpTree::Scan(o) => o,
            OpTree::Filter(o) => o,
            OpTree::Project(o) => o,
            OpTree::Join(o) => o,
            OpTree::OuterJoin(o) => o,
            OpTree::SemiJoin(o) => o,
            OpTree::UnionAll(o) => o,
            OpTree::Aggregate(o) => o,
            OpTree::Distinct(o) => o,
            OpTree::Shared(o) => o,
            OpTree::Values(o) => o,
            OpTree::TopK(o) => o,
            OpTree::Replicate(o) => o,
            OpTree::Window(o) => o,
            OpTree::LateralFunction(o) => o,
            OpTree::Recursive(o) => o,
            OpTree::WorkTable(o) => o,
        }
    }

    pub fn columns(&self) -> Vec<Column> {
        self.rule().columns()
    }

    /// The OIDs of the sources read below this operator (with repetitions).
    pub fn source_oids(&self) -> Vec<u32> {
        match self {
            OpTree::Scan(s) => vec![s.source_oid],
            OpTree::Filter(f) => f.input.source_oids(),
            OpTree::Project(p) => p.input.source_oids(),
            OpTree::Join(j) => {
                let mut v = j.left.source_oids();
                v.extend(j.right.source_oids());
                v
            }
            OpTree::OuterJoin(j) => {
                let mut v = j.left.source_oids();
                v.extend(j.right.source_oids());
                v
            }
            OpTree::SemiJoin(j) => {
                let mut v = j.left.source_oids();
                v.extend(j.right.source_oids());
                v
            }
            OpTree::UnionAll(u) => u.inputs.iter().flat_map(OpTree::source_oids).collect(),
            OpTree::Aggregate(a) => a.input.source_oids(),
            OpTree::Distinct(d) => d.input.source_oids(),
            OpTree::Shared(s) => s.input.source_oids(),
            OpTree::Values(_) => Vec::new(),
            OpTree::TopK(t) => t.input.source_oids(),
            OpTree::Replicate(r) => r.input.source_oids(),
            OpTree::Window(w) => w.input.source_oids(),
            OpTree::LateralFunction(f) => f.input.source_oids(),
            OpTree::Recursive(r) => {
                let mut v = r.seed.source_oids();
                v.extend(r.recursive_term.source_oids());
                v
            }
            OpTree::WorkTable(_) => Vec::new(),
        }
    }

    /// One table read through filters and projections only (its restriction by keys
    /// reaches the table directly, with nothing joined to it).
    pub fn is_single_table(&self) -> bool {
        match self {
            OpTree::Scan(_) => true,
            OpTree::Filter(f) => f.input.is_single_table(),
            OpTree::Project(p) => p.input.is_single_table(),
            _ => false,
        }
    }

    // Convenience constructors for frontends and tests.
    pub fn scan(source_oid: u32, table: QualifiedName, columns: Vec<Column>) -> OpTree {
        OpTree::Scan(crate::operators::scan::Scan {
            source_oid,
            table,
            columns,
            key: None,
            read_as: Vec::new(),
        })
    }
    /// A scan of a table whose primary key is at positions `key`.
    pub fn scan_keyed(
        source_oid: u32,
        table: QualifiedName,
        columns: Vec<Column>,
        key: Option<Vec<usize>>,
    ) -> OpTree {
        OpTree::Scan(crate::operators::scan::Scan {
            source_oid,
            table,
            columns,
            key,
            read_as: Vec::new(),
        })
    }
    /// For a scan: the casts applied when reading the table itself (`None` for a column
    /// read as it is), so that its values have the same types as the buffered ones.
    pub fn with_read_casts(self, casts: Vec<Option<String>>) -> OpTree {
        match self {
            OpTree::Scan(mut s) => {
                s.read_as = casts;
                OpTree::Scan(s)
            }
            other => other,
        }
    }
    pub fn filter(input: OpTree, predicate: Expr) -> OpTree {
        OpTree::filter_equi(input, predicate, Vec::new())
    }
    /// A filter whose predicate is the conjunct `c_a = c_b` for each pair in `equi` (and
    /// possibly more).
    pub fn filter_equi(input: OpTree, predicate: Expr, equi: Vec<(usize, usize)>) -> OpTree {
        OpTree::Filter(crate::operators::filter::Filter {
            input: Box::new(input),
            predicate,
            equi,
            error_free: false,
        })
    }
    /// Marks a filter's predicate as one that cannot raise an error (see
    /// `Filter::error_free`); other operators are returned as they are.
    pub fn with_error_free(self, error_free: bool) -> OpTree {
        match self {
            OpTree::Filter(mut f) => {
                f.error_free = error_free;
                OpTree::Filter(f)
            }
            other => other,
        }
    }
    pub fn project(input: OpTree, exprs: Vec<Expr>, columns: Vec<Column>) -> OpTree {
        OpTree::Project(crate::operators::project::Project {
            input: Box::new(input),
            exprs,
            columns,
        })
    }
    pub fn join(left: OpTree, right: OpTree, condition: Option<Expr>) -> OpTree {
        OpTree::Join(crate::operators::join::Join {
            left: Box::new(left),
            right: Box::new(right),
            condition_error_free: condition.is_none(),
            condition,
            equi: Vec::new(),
        })
    }
    /// A join whose condition equates the column pairs `equi` (left, right positions).
    pub fn join_equi(
        left: OpTree,
        right: OpTree,
        condition: Option<Expr>,
        equi: Vec<(usize, usize)>,
    ) -> OpTree {
        OpTree::Join(crate::operators::join::Join {
            left: Box::new(left),
            right: Box::new(right),
            condition_error_free: condition.is_none(),
            condition,
            equi,
        })
    }
    /// An outer join (LEFT, RIGHT or FULL) on `condition` (None: `ON true`), which equates
    /// the column pairs `equi`.
    pub fn outer_join(
        kind: crate::operators::outer_join::OuterKind,
        left: OpTree,
        right: OpTree,
        condition: Option<Expr>,
        equi: Vec<(usize, usize)>,
        condition_error_free: bool,
    ) -> OpTree {
        OpTree::OuterJoin(crate::operators::outer_join::OuterJoin {
            kind,
            left: Box::new(left),
            right: Box::new(right),
            condition,
            equi,
            condition_error_free,
            single_match: false,
        })
    }

    /// This LEFT join with at most one match per left row, as a correlated scalar subquery
    /// is: a left row with several raises SQLSTATE 21000, as PostgreSQL does for the query
    /// (see `operators::outer_join`). Other trees are returned unchanged.
    pub fn with_single_match(self) -> OpTree {
        match self {
            OpTree::OuterJoin(mut j) if j.kind == crate::operators::outer_join::OuterKind::Left => {
                j.single_match = true;
                OpTree::OuterJoin(j)
            }
            other => other,
        }
    }
    /// The rows of `left` with (`anti`: without) a row of `right` satisfying `condition`
    /// (over the left columns followed by the right ones).
    pub fn semi_join(
        anti: bool,
        left: OpTree,
        right: OpTree,
        condition: Expr,
        equi: Vec<(usize, usize)>,
        condition_error_free: bool,
    ) -> OpTree {
        OpTree::SemiJoin(crate::operators::semi_join::SemiJoin {
            anti,
            left: Box::new(left),
            right: Box::new(right),
            condition,
            equi,
            condition_error_free,
        })
    }
    /// Marks a join's condition as one that cannot raise an error (see
    /// `Join::condition_error_free`); other operators are returned as they are.
    pub fn with_error_free_condition(self, error_free: bool) -> OpTree {
        match self {
            OpTree::Join(mut j) => {
                j.condition_error_free = error_free;
                OpTree::Join(j)
            }
            other => other,
        }
    }
    pub fn union_all(inputs: Vec<OpTree>) -> OpTree {
        OpTree::UnionAll(crate::operators::union_all::UnionAll { inputs })
    }
    pub fn aggregate(
        input: OpTree,
        group_by: Vec<Expr>,
        group_columns: Vec<Column>,
        aggs: Vec<AggCall>,
    ) -> OpTree {
        OpTree::Aggregate(crate::operators::aggregate::Aggregate {
            input: Box::new(input),
            group_by,
            group_columns,
            aggs,
            input_error_free: false,
        })
    }
    /// Marks an aggregate's keys, arguments and filters as unable to raise an error (see
    /// `Aggregate::input_error_free`); other operators are returned as they are.
    pub fn with_error_free_aggregate_input(self, error_free: bool) -> OpTree {
        match self {
            OpTree::Aggregate(mut a) => {
                a.input_error_free = error_free;
                OpTree::Aggregate(a)
            }
            other => other,
        }
    }
    pub fn distinct(input: OpTree) -> OpTree {
        OpTree::Distinct(crate::operators::distinct::Distinct {
            input: Box::new(input),
        })
    }
    pub fn values(columns: Vec<Column>, rows: Vec<Vec<Expr>>) -> OpTree {
        OpTree::Values(crate::operators::values::Values { columns, rows })
    }
    /// The first `limit` rows after `offset` of `input` in the order `order` (the top of a
    /// query only).
    pub fn top_k(
        input: OpTree,
        order: Vec<crate::operators::top_k::SortKey>,
        limit: i64,
        offset: i64,
    ) -> OpTree {
        OpTree::TopK(crate::operators::top_k::TopK {
            input: Box::new(input),
            order,
            limit,
            offset,
            sort_only: 0,
        })
    }
    /// For a top-k: its input's last `n` columns are ORDER BY expressions the query does
    /// not select (stored hidden); other operators are returned as they are.
    pub fn with_sort_only(self, n: usize) -> OpTree {
        match self {
            OpTree::TopK(mut k) => {
                k.sort_only = n;
                OpTree::TopK(k)
            }
            other => other,
        }
    }
    /// Each row of `input` repeated `count` times (an integer expression over its columns;
    /// none when it is not positive), keeping its first `keep` columns.
    pub fn replicate(input: OpTree, count: Expr, keep: usize) -> OpTree {
        OpTree::Replicate(crate::operators::replicate::Replicate {
            input: Box::new(input),
            count,
            keep,
        })
    }
    pub fn shared(id: usize, input: Rc<OpTree>) -> OpTree {
        OpTree::Shared(crate::operators::shared::Shared { id, input })
    }
}
