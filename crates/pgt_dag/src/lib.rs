//! # pgt_dag: the dependency graph of stream tables
//!
//! Nodes are stream tables (by id). An edge `a → b` means stream table `b` reads `a`.
//! Base tables are not nodes: they change on their own schedule, not the scheduler's.
//!
//! * [`Dag::topological_order`]: a deterministic refresh order (upstream first), or the
//!   cycle that prevents one.
//! * [`Dag::cycle_if_added`]: the cycle a new stream table would close (refused at creation).
//! * [`Dag::consistency_groups`]: *diamonds* (`A → B → D` and `A → C → D`) must refresh
//!   together, so `D` never combines a new `B` with an old `C`. Each group is the set of
//!   nodes between a fork and the node where its paths meet; overlapping groups merge.
//! * [`Dag::effective_schedules`]: a stream table with a *calculated* schedule is refreshed
//!   as often as the most frequent of its readers needs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use thiserror::Error;

pub type NodeId = i64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DagError {
    /// The listed nodes form a cycle (`path[0] → path[1] → … → path[0]`).
    #[error("stream tables would depend on each other in a cycle")]
    Cycle { path: Vec<NodeId> },
}

/// A directed graph of stream tables: `a → b` when `b` reads `a`.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    nodes: BTreeSet<NodeId>,
    /// node → the nodes that read it (downstream).
    readers: BTreeMap<NodeId, BTreeSet<NodeId>>,
    /// node → the nodes it reads (upstream).
    sources: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Dag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, n: NodeId) {
        self.nodes.insert(n);
    }

    /// `reader` reads `source`.
    pub fn add_edge(&mut self, source: NodeId, reader: NodeId) {
        self.nodes.insert(source);
        self.nodes.insert(reader);
        self.readers.entry(source).or_default().insert(reader);
        self.sources.entry(reader).or_default().insert(source);
    }

    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().copied()
    }

    pub fn readers_of(&self, n: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.readers.get(&n).into_iter().flatten().copied()
    }

    pub fn sources_of(&self, n: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.sources.get(&n).into_iter().flatten().copied()
    }

    /// Upstream-first order (Kahn's algorithm; ties broken by id, so it is deterministic).
    pub fn topological_order(&self) -> Result<Vec<NodeId>, DagError> {
        let mut indegree: BTreeMap<NodeId, usize> = self
            .nodes
            .iter()
            .map(|n| (*n, self.sources_of(*n).count()))
            .collect();
        let mut ready: BTreeSet<NodeId> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for r in self.readers_of(n) {
                let d = indegree.get_mut(&r).expect("reader is a node");
                *d -= 1;
                if *d == 0 {
                    ready.insert(r);
                }
            }
        }
        if order.len() == self.nodes.len() {
            return Ok(order);
        }
        let remaining: BTreeSet<NodeId> = indegree
            .into_iter()
            .filter(|(_, d)| *d > 0)
            .map(|(n, _)| n)
            .collect();
        Err(DagError::Cycle {
            path: self.find_cycle_within(&remaining),
        })
    }

    /// A cycle among `within` (every node there lies on or leads into a cycle).
    fn find_cycle_within(&self, within: &BTreeSet<NodeId>) -> Vec<NodeId> {
        // Walk backwards along sources inside the set until a node repeats.
        let Some(&start) = within.iter().next() else {
            return Vec::new();
        };
        let mut seen: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut walk = Vec::new();
        let mut n = start;
        loop {
            if let Some(&i) = seen.get(&n) {
                let mut cycle: Vec<NodeId> = walk[i..].to_vec();
                cycle.reverse(); // forward direction: source → reader
                return cycle;
            }
            seen.insert(n, walk.len());
            walk.push(n);
            n = self
                .sources_of(n)
                .find(|s| within.contains(s))
                .expect("every remaining node has a remaining source");
        }
    }

    /// The cycle that adding `new_node` reading `sources` and read by `readers` would close,
    /// if any (`new_node` first).
    pub fn cycle_if_added(
        &self,
        new_node: NodeId,
        sources: &[NodeId],
        readers: &[NodeId],
    ) -> Option<Vec<NodeId>> {
        // A cycle exists iff some reader of new_node reaches (downstream) one of its sources,
        // or new_node reads itself.
        if sources.contains(&new_node) {
            return Some(vec![new_node]);
        }
        for &r in readers {
            if let Some(path) = self.path(r, |n| sources.contains(&n)) {
                let mut cycle = vec![new_node];
                cycle.extend(path);
                return Some(cycle);
            }
        }
        None
    }

    /// A downstream path from `from` to the first node satisfying `goal` (BFS).
    fn path(&self, from: NodeId, goal: impl Fn(NodeId) -> bool) -> Option<Vec<NodeId>> {
        let mut prev: BTreeMap<NodeId, NodeId> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(n) = queue.pop_front() {
            if goal(n) {
                let mut path = vec![n];
                let mut cur = n;
                while let Some(&p) = prev.get(&cur) {
                    path.push(p);
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            for r in self.readers_of(n) {
                if seen.insert(r) {
                    prev.insert(r, n);
                    queue.push_back(r);
                }
            }
        }
        None
    }

    /// All nodes downstream of `n` (not including `n`).
    pub fn downstream_of(&self, n: NodeId) -> BTreeSet<NodeId> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeId> = self.readers_of(n).collect();
        while let Some(r) = stack.pop() {
            if out.insert(r) {
                stack.extend(self.readers_of(r));
            }
        }
        out
    }

    /// All nodes upstream of `n` (not including `n`).
    pub fn ancestors(&self, n: NodeId) -> BTreeSet<NodeId> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeId> = self.sources_of(n).collect();
        while let Some(s) = stack.pop() {
            if out.insert(s) {
                stack.extend(self.sources_of(s));
            }
        }
        out
    }

    /// Groups of nodes that must be refreshed together (each sorted, groups sorted by their
    /// smallest member). A group is formed where two paths from a common upstream node meet
    /// again: the meeting node and every node strictly between the fork and it.
    pub fn consistency_groups(&self) -> Vec<BTreeSet<NodeId>> {
        let mut groups: Vec<BTreeSet<NodeId>> = Vec::new();
        for d in self.nodes.iter().copied() {
            let parents: Vec<NodeId> = self.sources_of(d).collect();
            if parents.len() < 2 {
                continue;
            }
            let lineage: Vec<BTreeSet<NodeId>> = parents
                .iter()
                .map(|p| {
                    let mut a = self.ancestors(*p);
                    a.insert(*p);
                    a
                })
                .collect();
            for i in 0..parents.len() {
                for j in i + 1..parents.len() {
                    let forks: BTreeSet<NodeId> =
                        lineage[i].intersection(&lineage[j]).copied().collect();
                    if forks.is_empty() {
                        continue;
                    }
                    // Nodes on the two branches between a fork and d, plus d.
                    let mut g: BTreeSet<NodeId> = lineage[i]
                        .symmetric_difference(&lineage[j])
                        .copied()
                        .collect();
                    g.retain(|n| self.ancestors(*n).iter().any(|a| forks.contains(a)));
                    g.insert(d);
                    groups.push(g);
                }
            }
        }
        merge_overlapping(groups)
    }

    /// Effective refresh periods: a node's own period, or, for a calculated node (None), the
    /// smallest effective period among its readers (None when nothing downstream has one).
    pub fn effective_schedules(
        &self,
        own: &BTreeMap<NodeId, Option<u64>>,
    ) -> Result<BTreeMap<NodeId, Option<u64>>, DagError> {
        let order = self.topological_order()?;
        let mut out: BTreeMap<NodeId, Option<u64>> = BTreeMap::new();
        for n in order.into_iter().rev() {
            let eff = match own.get(&n).copied().flatten() {
                Some(p) => Some(p),
                None => self
                    .readers_of(n)
                    .filter_map(|r| out.get(&r).copied().flatten())
                    .min(),
            };
            out.insert(n, eff);
        }
        Ok(out)
    }
}

fn merge_overlapping(mut groups: Vec<BTreeSet<NodeId>>) -> Vec<BTreeSet<NodeId>> {
    let mut merged: Vec<BTreeSet<NodeId>> = Vec::new();
    while let Some(mut g) = groups.pop() {
        loop {
            let before = g.len();
            let mut rest = Vec::new();
            for m in merged.drain(..) {
                if m.is_disjoint(&g) {
                    rest.push(m);
                } else {
                    g.extend(m);
                }
            }
            merged = rest;
            if g.len() == before {
                break;
            }
        }
        merged.push(g);
    }
    merged.sort_by_key(|g| g.iter().next().copied());
    merged
}

/// The refresh batches of one scheduler tick, in `order` (upstream first): each due stream
/// table alone, or, when it belongs to a consistency group with any due member, the whole
/// group (its members in `order`), once. A batch runs in one transaction; a group's in one
/// REPEATABLE READ transaction, so the bottom of a diamond never combines branches refreshed
/// at different snapshots.
pub fn tick_batches(
    order: &[NodeId],
    due: &BTreeSet<NodeId>,
    groups: &[BTreeSet<NodeId>],
) -> Vec<Vec<NodeId>> {
    let mut done: BTreeSet<NodeId> = BTreeSet::new();
    let mut out = Vec::new();
    for &id in order {
        if done.contains(&id) {
            continue;
        }
        let batch: Vec<NodeId> = match groups.iter().find(|g| g.contains(&id)) {
            Some(g) if g.iter().any(|m| due.contains(m)) => {
                order.iter().copied().filter(|m| g.contains(m)).collect()
            }
            _ if due.contains(&id) => vec![id],
            _ => continue,
        };
        done.extend(batch.iter().copied());
        out.push(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dag(edges: &[(NodeId, NodeId)]) -> Dag {
        let mut d = Dag::new();
        for (a, b) in edges {
            d.add_edge(*a, *b);
        }
        d
    }

    #[test]
    fn chain_order() {
        assert_eq!(
            dag(&[(1, 2), (2, 3)]).topological_order(),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            dag(&[(3, 2), (2, 1)]).topological_order(),
            Ok(vec![3, 2, 1])
        );
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let Err(DagError::Cycle { path }) =
            dag(&[(1, 2), (2, 3), (3, 1), (3, 4)]).topological_order()
        else {
            panic!()
        };
        assert_eq!(path.len(), 3);
        assert!(path.contains(&1) && path.contains(&2) && path.contains(&3));
    }

    #[test]
    fn adding_a_node_that_closes_a_cycle() {
        let d = dag(&[(1, 2), (2, 3)]);
        // New node 4 reads 3 and is read by 1: 4 → 1 → 2 → 3 → 4.
        assert_eq!(d.cycle_if_added(4, &[3], &[1]), Some(vec![4, 1, 2, 3]));
        assert_eq!(d.cycle_if_added(4, &[3], &[]), None);
        assert_eq!(d.cycle_if_added(4, &[4], &[]), Some(vec![4]));
    }

    #[test]
    fn diamond_is_one_group() {
        // A=1 → B=2 → D=4, A → C=3 → D; E=5 reads D only.
        let d = dag(&[(1, 2), (1, 3), (2, 4), (3, 4), (4, 5)]);
        assert_eq!(d.consistency_groups(), vec![BTreeSet::from([2, 3, 4])]);
        // Two joined parents without a common ancestor are no diamond.
        assert!(dag(&[(1, 3), (2, 3)]).consistency_groups().is_empty());
    }

    #[test]
    fn calculated_schedules_follow_readers() {
        let d = dag(&[(1, 2), (1, 3), (2, 4)]);
        let own = BTreeMap::from([(1, None), (2, None), (3, Some(300)), (4, Some(60))]);
        let eff = d.effective_schedules(&own).unwrap();
        assert_eq!(eff[&2], Some(60));
        assert_eq!(eff[&1], Some(60));
        assert_eq!(eff[&3], Some(300));
        let lonely = dag(&[(1, 2)]);
        assert_eq!(
            lonely
                .effective_schedules(&BTreeMap::from([(1, None), (2, None)]))
                .unwrap()[&1],
            None
        );
    }

    /// Random DAGs: edges only from lower to higher ids.
    fn acyclic() -> impl Strategy<Value = Vec<(NodeId, NodeId)>> {
        proptest::collection::vec((0i64..30, 0i64..30), 0..80)
            .prop_map(|v| v.into_iter().filter(|(a, b)| a < b).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn order_respects_every_edge(edges in acyclic()) {
            let d = dag(&edges);
            let order = d.topological_order().unwrap();
            let pos: BTreeMap<NodeId, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
            prop_assert_eq!(order.len(), d.nodes().count());
            for (a, b) in &edges {
                prop_assert!(pos[a] < pos[b]);
            }
        }

        #[test]
        fn a_back_edge_is_a_reported_cycle(edges in acyclic(), pick in any::<prop::sample::Index>()) {
            prop_assume!(!edges.is_empty());
            let (a, b) = edges[pick.index(edges.len())];
            let mut all = edges.clone();
            all.push((b, a));
            let d = dag(&all);
            let Err(DagError::Cycle { path }) = d.topological_order() else { return Err(TestCaseError::fail("cycle not found")); };
            // Consecutive nodes of the reported cycle are real edges, and it closes.
            for w in 0..path.len() {
                let (x, y) = (path[w], path[(w + 1) % path.len()]);
                prop_assert!(d.readers_of(x).any(|r| r == y), "{} -> {} is not an edge of {:?}", x, y, path);
            }
            // And the creation-time check agrees: adding `a` reading b closes a cycle.
            let d0 = dag(&edges);
            prop_assert!(d0.cycle_if_added(a, &[b], &d0.readers_of(a).collect::<Vec<_>>()).is_some());
        }

        #[test]
        fn groups_are_disjoint_and_contain_real_diamonds(edges in acyclic()) {
            let d = dag(&edges);
            let groups = d.consistency_groups();
            for i in 0..groups.len() {
                for j in i + 1..groups.len() {
                    prop_assert!(groups[i].is_disjoint(&groups[j]));
                }
            }
            // Every node with two parents sharing an ancestor is in some group.
            for n in d.nodes() {
                let ps: Vec<NodeId> = d.sources_of(n).collect();
                for x in 0..ps.len() {
                    for y in x + 1..ps.len() {
                        let mut ax = d.ancestors(ps[x]); ax.insert(ps[x]);
                        let mut ay = d.ancestors(ps[y]); ay.insert(ps[y]);
                        if !ax.is_disjoint(&ay) {
                            prop_assert!(groups.iter().any(|g| g.contains(&n)), "diamond at {} missed", n);
                        }
                    }
                }
            }
        }

        #[test]
        fn effective_schedule_is_never_longer_than_a_readers(edges in acyclic(), periods in proptest::collection::vec(proptest::option::of(1u64..1000), 30)) {
            let d = dag(&edges);
            let own: BTreeMap<NodeId, Option<u64>> = d.nodes().map(|n| (n, periods[n as usize])).collect();
            let eff = d.effective_schedules(&own).unwrap();
            for n in d.nodes() {
                if own[&n].is_none() {
                    for r in d.readers_of(n) {
                        if let (Some(e), Some(er)) = (eff[&n], eff[&r]) {
                            prop_assert!(e <= er);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_tick_refreshes_due_tables_alone_and_diamonds_together() {
        // 1 → 2 → 4, 1 → 3 → 4 (a diamond: {2, 3, 4}); 5 alone.
        let mut d = Dag::new();
        d.add_edge(1, 2);
        d.add_edge(1, 3);
        d.add_edge(2, 4);
        d.add_edge(3, 4);
        d.add_node(5);
        let order = d.topological_order().unwrap();
        let groups = d.consistency_groups();
        let due = |ids: &[NodeId]| ids.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(
            tick_batches(&order, &due(&[]), &groups),
            Vec::<Vec<NodeId>>::new()
        );
        assert_eq!(
            tick_batches(&order, &due(&[5, 1]), &groups),
            vec![vec![1], vec![5]]
        );
        // One member of the diamond due: the whole diamond, once, upstream first.
        assert_eq!(
            tick_batches(&order, &due(&[3]), &groups),
            vec![vec![2, 3, 4]]
        );
        assert_eq!(
            tick_batches(&order, &due(&[4, 1, 2]), &groups),
            vec![vec![1], vec![2, 3, 4]]
        );
    }
}
