//! The rewrite layer: between the frontend's literal tree and differentiation, rules
//! turn the tree into one whose deltas cost what the change costs. The frontend keeps
//! building the tree exactly as the query is written (a comma join is a cross join under
//! a filter per WHERE conjunct); the rules make it efficient, so any frontend gets the same
//! plans.
//!
//! Every rule is one file implementing [`Rule`] and states its equivalence next to the code.
//! [`optimize`] runs the rules in phases, each until nothing changes:
//!
//! 1. **placement**: `filter_into_join`, `filter_below_project` push every conjunct as
//!    deep as it can go: into the join whose inputs it reads (a cross join plus a filter
//!    becomes an inner join with known equi-keys), or to a single side and so down to the
//!    scans;
//! 2. **merging**: `merge_filters`, `merge_projects` fuse adjacent operators;
//! 3. **pruning**: `prune_columns` drops every column nothing above reads.
//!
//! Rules never change what the tree computes: the same multiset of rows, with the same
//! column types, at every input state (each rule's test checks a tree in and out).

mod filter_below_project;
mod filter_into_join;
mod merge_filters;
mod merge_projects;
mod prune_columns;

use std::collections::HashMap;
use std::rc::Rc;

use crate::optree::OpTree;

pub use filter_below_project::FilterBelowProject;
pub use filter_into_join::FilterIntoJoin;
pub use merge_filters::MergeFilters;
pub use merge_projects::MergeProjects;
pub use prune_columns::PruneColumns;

/// A rewrite rule.
pub trait Rule {
    fn name(&self) -> &'static str;
    /// The rewritten tree, or `None` when the rule changes nothing.
    fn rewrite(&self, tree: &OpTree) -> Option<OpTree>;
}

/// A rule that rewrites one node at a time (its children already rewritten).
pub trait LocalRule {
    fn name(&self) -> &'static str;
    fn apply(&self, node: &OpTree) -> Option<OpTree>;
}

impl<T: LocalRule> Rule for T {
    fn name(&self) -> &'static str {
        LocalRule::name(self)
    }

    fn rewrite(&self, tree: &OpTree) -> Option<OpTree> {
        let mut shared = HashMap::new();
        let mut changed = false;
        let out = transform_up(tree, &|n| self.apply(n), &mut shared, &mut changed);
        changed.then_some(out)
    }
}

/// Applies `f` bottom-up to every node; a shared subtree (CTE) is rewritten once and every
/// reference keeps pointing to the same rewritten subtree.
fn transform_up(
    tree: &OpTree,
    f: &dyn Fn(&OpTree) -> Option<OpTree>,
    shared: &mut HashMap<usize, Rc<OpTree>>,
    changed: &mut bool,
) -> OpTree {
    let mut node = map_children(tree, f, shared, changed);
    // A rule may enable itself again one level down (a pushed filter meets a join), so
    // the children of a rewritten node are visited again.
    for _ in 0..64 {
        let Some(n) = f(&node) else { break };
        *changed = true;
        node = map_children(&n, f, shared, changed);
    }
    node
}

fn map_children(
    tree: &OpTree,
    f: &dyn Fn(&OpTree) -> Option<OpTree>,
    shared: &mut HashMap<usize, Rc<OpTree>>,
    changed: &mut bool,
) -> OpTree {
    let mut g =
        |c: &OpTree, shared: &mut HashMap<usize, Rc<OpTree>>| transform_up(c, f, shared, changed);
    match tree {
        OpTree::Scan(_) | OpTree::Values(_) | OpTree::WorkTable(_) => tree.clone(),
        OpTree::Filter(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Filter(x)
        }
        OpTree::Project(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Project(x)
        }
        OpTree::Join(x) => {
            let mut x = x.clone();
            x.left = Box::new(g(&x.left, shared));
            x.right = Box::new(g(&x.right, shared));
            OpTree::Join(x)
        }
        OpTree::OuterJoin(x) => {
            let mut x = x.clone();
            x.left = Box::new(g(&x.left, shared));
            x.right = Box::new(g(&x.right, shared));
            OpTree::OuterJoin(x)
        }
        OpTree::SemiJoin(x) => {
            let mut x = x.clone();
            x.left = Box::new(g(&x.left, shared));
            x.right = Box::new(g(&x.right, shared));
            OpTree::SemiJoin(x)
        }
        OpTree::UnionAll(x) => {
            let mut x = x.clone();
            x.inputs = x.inputs.iter().map(|i| g(i, shared)).collect();
            OpTree::UnionAll(x)
        }
        OpTree::Aggregate(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Aggregate(x)
        }
        OpTree::Distinct(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Distinct(x)
        }
        OpTree::TopK(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::TopK(x)
        }
        OpTree::Replicate(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Replicate(x)
        }
        OpTree::Window(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::Window(x)
        }
        OpTree::LateralFunction(x) => {
            let mut x = x.clone();
            x.input = Box::new(g(&x.input, shared));
            OpTree::LateralFunction(x)
        }
        OpTree::Recursive(x) => {
            let mut x = x.clone();
            x.seed = Box::new(g(&x.seed, shared));
            x.recursive_term = Box::new(g(&x.recursive_term, shared));
            OpTree::Recursive(x)
        }
        OpTree::Shared(s) => {
            let input = match shared.get(&s.id) {
                Some(r) => r.clone(),
                None => {
                    let r = Rc::new(g(&s.input, shared));
                    shared.insert(s.id, r.clone());
                    r
                }
            };
            OpTree::shared(s.id, input)
        }
    }
}

/// Applies `rules` until none changes the tree (bounded).
fn fixpoint(mut tree: OpTree, rules: &[&dyn Rule]) -> OpTree {
    for _ in 0..32 {
        let mut changed = false;
        for r in rules {
            if let Some(t) = r.rewrite(&tree) {
                tree = t;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    tree
}

/// The tree the engine differentiates: the frontend's tree after every phase of rules.
pub fn optimize(tree: &OpTree) -> OpTree {
    let t = fixpoint(tree.clone(), &[&FilterIntoJoin, &FilterBelowProject]);
    let t = fixpoint(t, &[&MergeFilters, &MergeProjects]);
    fixpoint(t, &[&PruneColumns])
}

/// `(a) AND (b)`.
pub(crate) fn and(a: &crate::Expr, b: &crate::Expr) -> crate::Expr {
    let mut e = crate::Expr::sql("(");
    e.append(a.clone());
    e.push_sql(") AND (");
    e.append(b.clone());
    e.push_sql(")");
    e
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::optree::{Column, OpTree};
    use pgt_sql::QualifiedName;

    pub fn col(name: &str) -> Column {
        Column {
            name: name.into(),
            type_sql: "integer".into(),
            exact_equality: true,
            binary_identity: true,
            canonical: None,
        }
    }

    pub fn scan(oid: u32, table: &str, cols: &[&str]) -> OpTree {
        OpTree::scan(
            oid,
            QualifiedName::new("public", table),
            cols.iter().map(|c| col(c)).collect(),
        )
    }

    /// `$a = $b` as the frontend prints it.
    pub fn eq(a: usize, b: usize) -> crate::Expr {
        let mut e = crate::Expr::col(a);
        e.push_sql(" OPERATOR(pg_catalog.=) ");
        e.push_col(b);
        e
    }

    pub fn gt(a: usize, v: i32) -> crate::Expr {
        let mut e = crate::Expr::col(a);
        e.push_sql(&format!(" OPERATOR(pg_catalog.>) {v}"));
        e
    }
}
