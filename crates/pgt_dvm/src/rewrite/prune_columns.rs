//! **prune_columns**: every operator carries only the columns something above it reads.
//!
//! With `need(T)` the set of output positions of `T` read by its parent (all of them at
//! the root):
//!
//! ```text
//! need(input of σ_p)      = need ∪ cols(p)
//! need(input of π_e)      = ⋃ cols(e_i), i ∈ need          (unneeded e_i are dropped)
//! need(sides of A ⋈_θ B)  = (need ∪ cols(θ)) split at |A|       (outer joins alike)
//! need(inputs of ⊎)       = need                             (each input, same positions)
//! need(input of γ)        = cols(group keys) ∪ cols(aggregate calls)
//! need(input of δ)        = every column                     (DISTINCT compares whole rows)
//! need(input of τ)        = every column                     (ties are broken by whole rows)
//! need(input of ρ)        = every column                     (its count reads the hidden ones)
//! Scan                    : reads only the needed columns (of the table and of its buffer)
//! ```
//!
//! Dropping a column nobody reads changes no row's multiplicity (projection is linear on
//! Z-sets), so the tree computes the same multiset of the columns that remain. A CTE read
//! in several places keeps its columns (each reader may need others).

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use super::Rule;
use crate::expr::Expr;
use crate::optree::OpTree;

pub struct PruneColumns;

impl Rule for PruneColumns {
    fn name(&self) -> &'static str {
        "prune_columns"
    }

    fn rewrite(&self, tree: &OpTree) -> Option<OpTree> {
        let n = tree.columns().len();
        let all: BTreeSet<usize> = (0..n).collect();
        let mut shared = HashMap::new();
        let (out, _) = prune(tree, &all, &mut shared);
        let before = crate::explain::tree_text(tree);
        (crate::explain::tree_text(&out) != before).then_some(out)
    }
}

/// Position map: old output position → new one (None: dropped).
type Map = Vec<Option<usize>>;

fn remap(e: &Expr, m: &Map) -> Expr {
    e.remap(&|i| m[i].expect("a column read above was kept"))
}

/// At least one column is kept (generated SQL never selects zero columns).
fn at_least_one(need: &BTreeSet<usize>, n: usize) -> BTreeSet<usize> {
    if need.is_empty() && n > 0 {
        BTreeSet::from([0])
    } else {
        need.clone()
    }
}

fn compact(keep: &BTreeSet<usize>, n: usize) -> Map {
    let mut m = vec![None; n];
    for (new, &old) in keep.iter().enumerate() {
        m[old] = Some(new);
    }
    m
}

fn prune(
    t: &OpTree,
    need: &BTreeSet<usize>,
    shared: &mut HashMap<usize, Rc<OpTree>>,
) -> (OpTree, Map) {
    let n = t.columns().len();
    match t {
        OpTree::Scan(s) => {
            let keep = at_least_one(need, n);
            let m = compact(&keep, n);
            let mut s = s.clone();
            s.columns = keep.iter().map(|&i| s.columns[i].clone()).collect();
            if !s.read_as.is_empty() {
                s.read_as = keep.iter().map(|&i| s.read_as[i].clone()).collect();
            }
            s.key = s
                .key
                .as_ref()
                .and_then(|k| k.iter().map(|&i| m[i]).collect::<Option<Vec<_>>>());
            (OpTree::Scan(s), m)
        }
        OpTree::Values(v) => {
            let keep = at_least_one(need, n);
            let m = compact(&keep, n);
            let mut v = v.clone();
            v.columns = keep.iter().map(|&i| v.columns[i].clone()).collect();
            v.rows = v
                .rows
                .iter()
                .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
                .collect();
            (OpTree::Values(v), m)
        }
        OpTree::Filter(f) => {
            let mut inner = need.clone();
            inner.extend(f.predicate.columns());
            inner.extend(f.equi.iter().flat_map(|&(a, b)| [a, b]));
            let (input, m) = prune(&f.input, &inner, shared);
            let equi = f
                .equi
                .iter()
                .map(|&(a, b)| (m[a].unwrap(), m[b].unwrap()))
                .collect();
            (
                OpTree::filter_equi(input, remap(&f.predicate, &m), equi)
                    .with_error_free(f.error_free),
                m,
            )
        }
        OpTree::Project(p) => {
            let keep = at_least_one(need, n);
            let inner: BTreeSet<usize> = keep.iter().flat_map(|&i| p.exprs[i].columns()).collect();
            let (input, m) = prune(&p.input, &inner, shared);
            let exprs = keep.iter().map(|&i| remap(&p.exprs[i], &m)).collect();
            let columns = keep.iter().map(|&i| p.columns[i].clone()).collect();
            (OpTree::project(input, exprs, columns), compact(&keep, n))
        }
        OpTree::Join(_) | OpTree::OuterJoin(_) => {
            let (jl, jr, jc, je) = match t {
                OpTree::Join(j) => (&j.left, &j.right, &j.condition, &j.equi),
                OpTree::OuterJoin(j) => (&j.left, &j.right, &j.condition, &j.equi),
                _ => unreachable!(),
            };
            let nl = jl.columns().len();
            let mut all = need.clone();
            if let Some(c) = jc {
                all.extend(c.columns());
            }
            all.extend(je.iter().flat_map(|&(a, b)| [a, b + nl]));
            let ln: BTreeSet<usize> = all.iter().copied().filter(|&i| i < nl).collect();
            let rn: BTreeSet<usize> = all.iter().filter(|&&i| i >= nl).map(|&i| i - nl).collect();
            let (left, ml) = prune(jl, &ln, shared);
            let (right, mr) = prune(jr, &rn, shared);
            let nl2 = left.columns().len();
            let m: Map = (0..n)
                .map(|i| {
                    if i < nl {
                        ml[i]
                    } else {
                        mr[i - nl].map(|r| r + nl2)
                    }
                })
                .collect();
            let condition = jc.as_ref().map(|c| remap(c, &m));
            let equi = je
                .iter()
                .map(|&(a, b)| (ml[a].unwrap(), mr[b].unwrap()))
                .collect();
            let out = match t {
                OpTree::Join(j) => OpTree::join_equi(left, right, condition, equi)
                    .with_error_free_condition(j.condition_error_free),
                OpTree::OuterJoin(j) => {
                    let o = OpTree::outer_join(
                        j.kind,
                        left,
                        right,
                        condition,
                        equi,
                        j.condition_error_free,
                    );
                    if j.single_match {
                        o.with_single_match()
                    } else {
                        o
                    }
                }
                _ => unreachable!(),
            };
            (out, m)
        }
        OpTree::SemiJoin(j) => {
            let nl = j.left.columns().len();
            let mut ln = need.clone();
            let mut rn = BTreeSet::new();
            let cond = j.condition.columns();
            for i in cond
                .iter()
                .copied()
                .chain(j.equi.iter().flat_map(|&(a, b)| [a, b + nl]))
            {
                if i < nl {
                    ln.insert(i);
                } else {
                    rn.insert(i - nl);
                }
            }
            let (left, ml) = prune(&j.left, &ln, shared);
            let (right, mr) = prune(&j.right, &rn, shared);
            let nl2 = left.columns().len();
            let m: Map = (0..nl + j.right.columns().len())
                .map(|i| {
                    if i < nl {
                        ml[i]
                    } else {
                        mr[i - nl].map(|r| r + nl2)
                    }
                })
                .collect();
            let condition = remap(&j.condition, &m);
            let equi = j
                .equi
                .iter()
                .map(|&(a, b)| (ml[a].unwrap(), mr[b].unwrap()))
                .collect();
            (
                OpTree::semi_join(j.anti, left, right, condition, equi, j.condition_error_free),
                ml,
            )
        }
        OpTree::UnionAll(u) => {
            let keep = at_least_one(need, n);
            let inputs = u
                .inputs
                .iter()
                .map(|i| {
                    let (inp, m) = prune(i, &keep, shared);
                    let sel: Vec<usize> = keep.iter().map(|&k| m[k].unwrap()).collect();
                    if sel.len() == inp.columns().len()
                        && sel.iter().enumerate().all(|(a, &b)| a == b)
                    {
                        inp
                    } else {
                        let cols = inp.columns();
                        let columns = sel.iter().map(|&k| cols[k].clone()).collect();
                        OpTree::project(inp, sel.iter().map(|&k| Expr::col(k)).collect(), columns)
                    }
                })
                .collect();
            (OpTree::union_all(inputs), compact(&keep, n))
        }
        OpTree::Aggregate(a) => {
            let mut inner: BTreeSet<usize> = a.group_by.iter().flat_map(|g| g.columns()).collect();
            for g in &a.aggs {
                inner.extend(g.call.columns());
                if let Some(x) = &g.arg {
                    inner.extend(x.columns());
                }
            }
            let (input, m) = prune(&a.input, &inner, shared);
            let mut a = a.clone();
            a.input = Box::new(input);
            a.group_by = a.group_by.iter().map(|g| remap(g, &m)).collect();
            for g in &mut a.aggs {
                g.call = remap(&g.call, &m);
                g.arg = g.arg.as_ref().map(|x| remap(x, &m));
            }
            (OpTree::Aggregate(a), (0..n).map(Some).collect())
        }
        OpTree::Distinct(d) => {
            let all: BTreeSet<usize> = (0..n).collect();
            let (input, _) = prune(&d.input, &all, shared);
            (OpTree::distinct(input), (0..n).map(Some).collect())
        }
        OpTree::TopK(k) => {
            let all: BTreeSet<usize> = (0..n).collect();
            let (input, _) = prune(&k.input, &all, shared);
            let mut k = k.clone();
            k.input = Box::new(input);
            (OpTree::TopK(k), (0..n).map(Some).collect())
        }
        OpTree::Replicate(r) => {
            // Its count may read any column: the input keeps them all.
            let all: BTreeSet<usize> = (0..r.input.columns().len()).collect();
            let (input, _) = prune(&r.input, &all, shared);
            let mut r = r.clone();
            r.input = Box::new(input);
            (OpTree::Replicate(r), (0..n).map(Some).collect())
        }
        OpTree::Window(w) => {
            // The tiebreak reads every input column: the input keeps them all.
            let all: BTreeSet<usize> = (0..w.input.columns().len()).collect();
            let (input, _) = prune(&w.input, &all, shared);
            let mut w = w.clone();
            w.input = Box::new(input);
            (OpTree::Window(w), (0..n).map(Some).collect())
        }
        OpTree::LateralFunction(f) => {
            // The call may read any input column: the input keeps them all.
            let all: BTreeSet<usize> = (0..f.input.columns().len()).collect();
            let (input, _) = prune(&f.input, &all, shared);
            let mut f = f.clone();
            f.input = Box::new(input);
            (OpTree::LateralFunction(f), (0..n).map(Some).collect())
        }
        OpTree::Recursive(r) => {
            // Both terms produce every column of the recursion (the work table is read
            // whole by the next iteration).
            let all: BTreeSet<usize> = (0..n).collect();
            let (seed, _) = prune(&r.seed, &all, shared);
            let (rec, _) = prune(&r.recursive_term, &all, shared);
            let mut r = r.clone();
            r.seed = Box::new(seed);
            r.recursive_term = Box::new(rec);
            (OpTree::Recursive(r), (0..n).map(Some).collect())
        }
        OpTree::WorkTable(_) => (t.clone(), (0..n).map(Some).collect()),
        OpTree::Shared(s) => {
            let input = match shared.get(&s.id) {
                Some(r) => r.clone(),
                None => {
                    let all: BTreeSet<usize> = (0..n).collect();
                    let r = Rc::new(prune(&s.input, &all, shared).0);
                    shared.insert(s.id, r.clone());
                    r
                }
            };
            (OpTree::shared(s.id, input), (0..n).map(Some).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::explain::tree_text;

    /// `SELECT a.id FROM a JOIN b ON a.k = b.k WHERE b.x > 3`: `a.v`, `b.y`, `b.z` are
    /// never read.
    #[test]
    fn unread_columns_are_dropped_down_to_the_scans() {
        let a = scan(1, "a", &["id", "k", "v"]);
        let b = scan(2, "b", &["k", "x", "y", "z"]);
        let j = OpTree::join_equi(a, b, Some(eq(1, 3)), vec![(1, 0)]);
        let f = OpTree::filter(j, gt(4, 3));
        let t = OpTree::project(f, vec![Expr::col(0)], vec![col("id")]);
        let out = PruneColumns.rewrite(&t).expect("applies");
        crate::golden::check(
            "rules/prune_columns.txt",
            &format!("in:\n{}\nout:\n{}", tree_text(&t), tree_text(&out)),
        );
        assert!(PruneColumns.rewrite(&out).is_none());
    }
}
