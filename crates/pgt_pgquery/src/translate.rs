//! A SELECT statement's raw parse tree → `OpTree`, built operator for operator as the
//! extension's frontend builds it from the analyzed query: the FROM list as a chain of
//! cross joins (an inner join as a cross join under its ON conjuncts), a filter per WHERE
//! conjunct with the column pair it equates, the grouping with its keys and aggregates,
//! HAVING, the SELECT list, DISTINCT. The rewrite rules do the rest, as for the server's
//! tree.

use std::collections::HashMap;
use std::rc::Rc;

use pg_query::protobuf::{self as pb, node::Node as N};
use pgt_dvm::frontend::Translated;
use pgt_dvm::{AggCall, AggKind, Column, Expr, OpTree};
use pgt_sql::QualifiedName;

use crate::analyze::{kind_name, string, Analyzer, Entry, Scope, ScopeColumn};
use crate::catalog::{Catalog, TypeRef, INT2, INT4, INT8, NUMERIC, TEXT, UNKNOWN};
use crate::node::{self, Node};
use crate::print::{FromColumns, Grouped, Printer};
use crate::{unsupported, FrontendError, Result};

pub struct Builder<'c, C: Catalog> {
    cat: &'c mut C,
    printer: Printer,
    sources: Vec<u32>,
    next_rel: usize,
    volatile: bool,
    /// The WITH lists in scope, innermost last: each with its id and its CTEs (while a
    /// CTE is translated, its own list holds only the ones before it).
    ctes: Vec<(usize, Vec<CteDef>)>,
    next_with: usize,
    /// Set while the outermost query level starts (a top-k is maintained only there).
    top: bool,
    /// The subqueries met so far, by id (`Node::Sublink`).
    sublinks: Vec<pb::SubLink>,
    /// Set while a WHERE subquery's level starts: the FROM items of the query it filters.
    correlation: Option<Vec<Entry>>,
    /// What that level's translation found: its correlated conjuncts and the own columns
    /// they read (appended to its outputs after the first `first_var`).
    corr_out: Option<CorrOut>,
    /// Uncorrelated one-row aggregate subqueries, translated once: tree and output
    /// type, by parse location.
    scalars: HashMap<i32, (OpTree, TypeRef, u32)>,
    /// Each CTE's tree, translated once and shared by all its references (as the
    /// extension shares it), with its output columns.
    shared: HashMap<(usize, String), (Rc<OpTree>, Vec<OutCol>)>,
}

/// The correlated part of a WHERE subquery.
#[derive(Debug, Clone, Default)]
struct CorrOut {
    corr: Vec<Node>,
    own: Vec<Node>,
    first_var: usize,
}

/// A CTE of a WITH list.
#[derive(Debug, Clone)]
struct CteDef {
    name: String,
    columns: Vec<String>,
    query: pb::SelectStmt,
}

/// An output column of a query level.
#[derive(Debug, Clone)]
struct OutCol {
    name: String,
    ty: TypeRef,
    coll: u32,
}

/// A SELECT-list entry: its output name and analyzed expression.
struct Target {
    name: String,
    node: Node,
}

impl<'c, C: Catalog> Builder<'c, C> {
    pub fn new(cat: &'c mut C) -> Self {
        Builder {
            cat,
            printer: Printer::default(),
            sources: Vec::new(),
            next_rel: 0,
            volatile: false,
            ctes: Vec::new(),
            next_with: 0,
            top: false,
            sublinks: Vec::new(),
            correlation: None,
            corr_out: None,
            scalars: HashMap::new(),
            shared: HashMap::new(),
        }
    }

    pub fn translate(mut self, s: &pb::SelectStmt) -> Result<Translated> {
        self.top = true;
        let (tree, _) = self.select(s)?;
        if let Some(f) = self.printer.session_dependent.take() {
            return Err(unsupported(
                &format!("the session- or transaction-dependent function {f}"),
                "Its result differs between the transactions that refresh the stream table (transaction ids, snapshots, settings, the backend), without any change to the source tables.",
            ));
        }
        if let Some(f) = self.printer.time_dependent.take() {
            return Err(unsupported(
                &format!("the time-dependent function {f}"),
                "Its result changes as time passes without any change to the source tables.",
            ));
        }
        Ok(Translated {
            tree,
            sources: self.sources,
            volatile: self.volatile,
        })
    }

    fn analyze(&mut self, n: &pb::Node, scope: &Scope, aggs: bool) -> Result<Node> {
        let mut a = Analyzer::new(self.cat);
        a.first_sublink = self.sublinks.len();
        a.scalars = self
            .scalars
            .iter()
            .map(|(l, (_, ty, coll))| (*l, (*ty, *coll)))
            .collect();
        let node = a.expr(n, scope, aggs)?;
        let found = std::mem::take(&mut a.sublinks);
        self.sublinks.extend(found);
        self.volatile |= node.volatile();
        Ok(node)
    }

    fn print(&mut self, node: &Node, r: &mut dyn crate::print::Resolve) -> Result<Expr> {
        self.printer.print(self.cat, node, r)
    }

    fn column(&mut self, name: String, node: &Node) -> Result<Column> {
        let info = self.cat.type_info(node.ty(), node.collation())?;
        Ok(Column {
            name,
            type_sql: info.type_sql,
            exact_equality: info.exact_equality,
            binary_identity: info.binary_identity,
            canonical: info.canonical,
        })
    }

    /// One query level: its WITH list in scope for the rest of it.
    fn select(&mut self, s: &pb::SelectStmt) -> Result<(OpTree, Vec<OutCol>)> {
        let Some(with) = &s.with_clause else {
            return self.select_level(s);
        };
        if with.recursive {
            return Err(unsupported(
                "WITH RECURSIVE",
                "Recursive queries are translated by the extension's frontend only.",
            ));
        }
        let mut defs = Vec::new();
        for c in &with.ctes {
            let Some(N::CommonTableExpr(c)) = &c.node else {
                return Err(FrontendError::Invalid("a WITH list entry".into()));
            };
            let Some(N::SelectStmt(q)) = c.ctequery.as_deref().and_then(|n| n.node.as_ref()) else {
                return Err(unsupported(
                    "a data-modifying statement in WITH",
                    "A defining query only reads.",
                ));
            };
            if c.search_clause.is_some() || c.cycle_clause.is_some() {
                return Err(unsupported(
                    "SEARCH or CYCLE in WITH",
                    "Translated by the extension's frontend only.",
                ));
            }
            defs.push(CteDef {
                name: c.ctename.clone(),
                columns: c
                    .aliascolnames
                    .iter()
                    .filter_map(string)
                    .map(str::to_string)
                    .collect(),
                query: (**q).clone(),
            });
        }
        let id = self.next_with;
        self.next_with += 1;
        self.ctes.push((id, defs));
        let mut level = s.clone();
        level.with_clause = None;
        let r = self.select_level(&level);
        self.ctes.pop();
        r
    }

    /// A reference to CTE `name` if one is in scope: its shared tree and columns.
    fn cte_reference(&mut self, name: &str) -> Result<Option<(OpTree, Vec<OutCol>)>> {
        let Some((depth, index)) = self
            .ctes
            .iter()
            .enumerate()
            .rev()
            .find_map(|(d, (_, defs))| defs.iter().position(|c| c.name == name).map(|i| (d, i)))
        else {
            return Ok(None);
        };
        let (with_id, def) = {
            let (id, defs) = &self.ctes[depth];
            (*id, defs[index].clone())
        };
        let key = (with_id, name.to_string());
        if !self.shared.contains_key(&key) {
            // A CTE is translated where it is defined: the outer WITH lists and the CTEs
            // before it in its own.
            let mut scope: Vec<(usize, Vec<CteDef>)> = self.ctes[..depth].to_vec();
            scope.push((with_id, self.ctes[depth].1[..index].to_vec()));
            let saved = std::mem::replace(&mut self.ctes, scope);
            let r = self.select(&def.query);
            self.ctes = saved;
            let (tree, mut cols) = r?;
            if def.columns.len() > cols.len() {
                return Err(FrontendError::Invalid(format!(
                    "WITH query \"{name}\" has {} columns available but {} columns specified",
                    cols.len(),
                    def.columns.len()
                )));
            }
            for (c, n) in cols.iter_mut().zip(&def.columns) {
                c.name = n.clone();
            }
            self.shared.insert(key.clone(), (Rc::new(tree), cols));
        }
        let (rc, cols) = self.shared.get(&key).cloned().expect("inserted above");
        let id = Rc::as_ptr(&rc) as usize;
        Ok(Some((OpTree::shared(id, rc), cols)))
    }

    fn select_level(&mut self, s: &pb::SelectStmt) -> Result<(OpTree, Vec<OutCol>)> {
        if s.into_clause.is_some() || !s.locking_clause.is_empty() {
            return Err(FrontendError::Invalid(
                "a defining query has no INTO or FOR UPDATE/SHARE".into(),
            ));
        }
        if !s.values_lists.is_empty() {
            return Err(unsupported(
                "VALUES",
                "Translated by the extension's frontend only.",
            ));
        }
        let top = std::mem::replace(&mut self.top, false);
        let outer = self.correlation.take();
        if outer.is_some() && s.op != pb::SetOperation::SetopNone as i32 {
            return Err(unsupported(
                "a set operation in a WHERE subquery",
                "Translated by the extension's frontend only.",
            ));
        }
        let top_k = top_k_limit(s, top)?;
        if !s.window_clause.is_empty() || s.group_distinct {
            return Err(unsupported(
                "WINDOW or GROUP BY DISTINCT",
                "Translated by the extension's frontend only.",
            ));
        }
        let distinct_on = s.distinct_clause.iter().any(|d| d.node.is_some());
        if distinct_on && top_k.is_some() {
            return Err(unsupported(
                "DISTINCT ON with LIMIT",
                "Translated by the extension's frontend only.",
            ));
        }
        if s.op != pb::SetOperation::SetopNone as i32 {
            return self.set_operation(s);
        }
        if s.from_clause.is_empty() {
            return Err(unsupported(
                "a query without a FROM clause",
                "There is nothing to maintain incrementally; use FULL.",
            ));
        }
        let mut tree: Option<OpTree> = None;
        let mut scope = Scope::default();
        for item in &s.from_clause {
            let (t, sc) = self.translate_from_item(item)?;
            tree = Some(match tree {
                None => {
                    scope = sc;
                    t
                }
                Some(left) => {
                    let nl = left.columns().len();
                    self.add_scope(&mut scope, sc.shifted(nl))?;
                    OpTree::join(left, t, None)
                }
            });
        }
        let mut tree = tree.expect("non-empty FROM");
        let correlated = outer.is_some();
        scope.outer = outer.unwrap_or_default();
        self.prepare_scalars(s)?;
        let mut corr_out = None;
        let mut where_node = None;
        if let Some(w) = s.where_clause.as_deref() {
            let node = self.analyze(w, &scope, false)?;
            let mut node = Some(Analyzer::new(self.cat).to_bool(node)?);
            if correlated {
                // A WHERE subquery's conjuncts that read the outer query leave it: they
                // become the semi-join's condition, with the own columns they read added
                // to its outputs (the extension's `sublink_join`).
                let mut cs = Vec::new();
                node::conjuncts(node.as_ref().expect("set above"), &mut cs);
                let (corr, local): (Vec<Node>, Vec<Node>) =
                    cs.into_iter().partition(node::is_correlated);
                if !corr.is_empty() {
                    if !s.group_clause.is_empty()
                        || s.having_clause.is_some()
                        || !s.distinct_clause.is_empty()
                        || s.limit_count.is_some()
                        || s.limit_offset.is_some()
                        || !s.window_clause.is_empty()
                    {
                        return Err(unsupported(
                            "a correlated subquery with aggregates, DISTINCT, LIMIT or set operations",
                            "Its correlated conditions cannot be moved out of it; join a grouped subquery instead, or use FULL.",
                        ));
                    }
                    let mut own = Vec::new();
                    for c in &corr {
                        c.own_vars(&mut own);
                    }
                    node = match local.len() {
                        0 => None,
                        1 => local.into_iter().next(),
                        _ => Some(Node::Bool {
                            kind: node::BoolKind::And,
                            args: local,
                        }),
                    };
                    corr_out = Some(CorrOut {
                        corr,
                        own,
                        first_var: 0,
                    });
                }
            }
            where_node = node;
        }

        let mut targets = Vec::new();
        for t in &s.target_list {
            self.target(t, &scope, true, &mut targets)?;
        }
        if let Some(mut c) = corr_out {
            if targets.iter().any(|t| {
                let mut a = Vec::new();
                t.node.collect_aggs(&mut a);
                !a.is_empty()
            }) {
                return Err(unsupported(
                    "a correlated subquery with aggregates, DISTINCT, LIMIT or set operations",
                    "Its correlated conditions cannot be moved out of it; join a grouped subquery instead, or use FULL.",
                ));
            }
            c.first_var = targets.len();
            for (i, v) in c.own.iter().enumerate() {
                targets.push(Target {
                    name: format!("__pgt_corr{i}"),
                    node: v.clone(),
                });
            }
            self.corr_out = Some(c);
        }
        let mut having = None;
        if let Some(h) = s.having_clause.as_deref() {
            let node = self.analyze(h, &scope, true)?;
            having = Some(Analyzer::new(self.cat).to_bool(node)?);
        }
        let mut aggs = Vec::new();
        for t in &targets {
            t.node.collect_aggs(&mut aggs);
        }
        // ORDER BY matters to a top-k, and to a grouping whose ORDER BY computes
        // aggregates the SELECT list does not; otherwise a table has no row order.
        let mut hidden = Vec::new();
        let mut sort = Vec::new();
        if top_k.is_some()
            || distinct_on
            || !s.group_clause.is_empty()
            || having.is_some()
            || !aggs.is_empty()
        {
            for item in &s.sort_clause {
                sort.push(self.sort_item(item, &scope, &targets, &mut hidden)?);
            }
        }
        for t in &hidden {
            t.node.collect_aggs(&mut aggs);
        }
        if let Some(h) = &having {
            h.collect_aggs(&mut aggs);
        }
        let grouped = !s.group_clause.is_empty() || having.is_some() || !aggs.is_empty();
        if aggs.iter().any(node::has_scalar) {
            return Err(unsupported(
                "a scalar subquery inside an aggregate",
                "Translated by the extension's frontend only.",
            ));
        }
        // Uncorrelated one-row subqueries of WHERE (and of the SELECT list, unless the
        // SELECT list comes after a grouping) are joined to the FROM items as one-row
        // inputs (`A × S`), then WHERE filters.
        let mut locations = Vec::new();
        if let Some(w) = &where_node {
            w.scalar_locations(&mut locations);
        }
        if !grouped {
            for t in targets.iter().chain(hidden.iter()) {
                t.node.scalar_locations(&mut locations);
            }
        }
        let (joined, at) = self.join_scalars(tree, &locations);
        tree = joined;
        if let Some(w) = where_node {
            let w = w.with_scalar_positions(&at);
            tree = self.filters(tree, &w, &scope)?;
        }
        if !grouped {
            for t in targets.iter_mut().chain(hidden.iter_mut()) {
                t.node = t.node.with_scalar_positions(&at);
            }
        }
        // A top-k's ORDER BY expressions the query does not select are output after its
        // columns, stored hidden (`TopK::sort_only`).
        let mut outputs: Vec<&Target> = targets.iter().collect();
        if top_k.is_some() {
            outputs.extend(hidden.iter());
        }
        if distinct_on {
            if grouped {
                return Err(unsupported(
                    "DISTINCT ON over GROUP BY or aggregates",
                    "Group in a subquery and apply DISTINCT ON above it, or use FULL.",
                ));
            }
            let out = self.distinct_on(s, tree, &scope, &targets, &mut hidden, &sort)?;
            return Ok((out, out_columns(&targets)));
        }
        if !grouped {
            let (exprs, columns) = self.select_list(&outputs, &mut FromColumns)?;
            let out = OpTree::project(tree, exprs, columns);
            let out = self.distinct(s, out);
            let out = self.top_k(out, top_k, &sort, &outputs, hidden.len())?;
            return Ok((out, out_columns(&targets)));
        }

        // GROUP BY keys, in order, each once.
        let mut keys: Vec<(Option<String>, Node)> = Vec::new();
        for g in &s.group_clause {
            let (name, node) = self.group_key(g, &scope, &targets)?;
            if !keys.iter().any(|(_, k)| *k == node) {
                keys.push((name, node));
            }
        }
        let mut group_by = Vec::new();
        let mut group_columns = Vec::new();
        for (name, node) in &keys {
            group_by.push(self.print(node, &mut FromColumns)?);
            let name = name
                .clone()
                .unwrap_or_else(|| format!("g{}", group_by.len()));
            group_columns.push(self.column(name, node)?);
        }
        let mut calls = Vec::new();
        for a in &aggs {
            calls.push(self.agg_call(a)?);
        }
        let error_free = keys.iter().all(|(_, k)| node::error_free(k))
            && aggs
                .iter()
                .all(|a| a.children().into_iter().all(node::error_free));
        tree = OpTree::aggregate(tree, group_by, group_columns, calls)
            .with_error_free_aggregate_input(error_free);
        let key_nodes: Vec<Node> = keys.into_iter().map(|(_, k)| k).collect();
        // Those of HAVING and the SELECT list are joined to the grouping's output.
        let mut locations = Vec::new();
        if let Some(h) = &having {
            h.scalar_locations(&mut locations);
        }
        for t in &outputs {
            t.node.scalar_locations(&mut locations);
        }
        let (joined, at) = self.join_scalars(tree, &locations);
        tree = joined;
        let having = having.map(|h| h.with_scalar_positions(&at));
        let filled: Vec<Target> = outputs
            .iter()
            .map(|t| Target {
                name: t.name.clone(),
                node: t.node.with_scalar_positions(&at),
            })
            .collect();
        let outputs: Vec<&Target> = filled.iter().collect();
        if let Some(h) = &having {
            let p = self.print(
                h,
                &mut Grouped {
                    keys: &key_nodes,
                    aggs: &aggs,
                },
            )?;
            tree = OpTree::filter(tree, p);
        }
        let (exprs, columns) = self.select_list(
            &outputs,
            &mut Grouped {
                keys: &key_nodes,
                aggs: &aggs,
            },
        )?;
        let out = OpTree::project(tree, exprs, columns);
        let out = self.distinct(s, out);
        let out = self.top_k(out, top_k, &sort, &outputs, hidden.len())?;
        Ok((out, out_columns(&targets)))
    }

    /// One ORDER BY item: the output it sorts by (an output name or position, an equal
    /// SELECT-list entry, else a new hidden entry: `findTargetlistEntrySQL92/99`), whether
    /// descending, whether NULLs come first.
    fn sort_item(
        &mut self,
        item: &pb::Node,
        scope: &Scope,
        targets: &[Target],
        hidden: &mut Vec<Target>,
    ) -> Result<(usize, bool, bool)> {
        let Some(N::SortBy(sb)) = &item.node else {
            return Err(FrontendError::Invalid("an ORDER BY item".into()));
        };
        let (expr, desc, nulls_first) = crate::analyze::sort_by(sb)?;
        let at = self.output_of(expr, scope, targets, hidden)?;
        Ok((at, desc, nulls_first))
    }

    /// The SELECT-list entry an ORDER BY or DISTINCT ON expression names: an output name
    /// or position, an equal entry, else a new hidden one (`findTargetlistEntrySQL92/99`).
    fn output_of(
        &mut self,
        expr: &pb::Node,
        scope: &Scope,
        targets: &[Target],
        hidden: &mut Vec<Target>,
    ) -> Result<usize> {
        match &expr.node {
            Some(N::AConst(pb::AConst {
                val: Some(pb::a_const::Val::Ival(i)),
                ..
            })) => {
                let at = usize::try_from(i.ival)
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .filter(|n| *n < targets.len())
                    .ok_or_else(|| {
                        FrontendError::Invalid(format!(
                            "ORDER BY position {} is not in select list",
                            i.ival
                        ))
                    })?;
                return Ok(at);
            }
            Some(N::ColumnRef(c)) if c.fields.len() == 1 => {
                if let Some(name) = string(&c.fields[0]) {
                    let named: Vec<usize> = (0..targets.len())
                        .filter(|&i| targets[i].name == name)
                        .collect();
                    if let Some(&first) = named.first() {
                        if named
                            .iter()
                            .any(|&i| targets[i].node != targets[first].node)
                        {
                            return Err(FrontendError::Invalid(format!(
                                "ORDER BY \"{name}\" is ambiguous"
                            )));
                        }
                        return Ok(first);
                    }
                }
            }
            _ => {}
        }
        let node = self.analyze(expr, scope, true)?;
        if let Some(at) = targets
            .iter()
            .chain(hidden.iter())
            .position(|t| t.node == node)
        {
            return Ok(at);
        }
        hidden.push(Target {
            name: "?column?".into(),
            node,
        });
        Ok(targets.len() + hidden.len() - 1)
    }

    /// `SELECT DISTINCT ON (k…) e… FROM … ORDER BY k…, o…` as the extension builds it: a
    /// grouping by `k` whose every output is `(array_agg(e ORDER BY k…, o…, image))[1]`,
    /// ties broken by the binary image of the selected values.
    fn distinct_on(
        &mut self,
        s: &pb::SelectStmt,
        tree: OpTree,
        scope: &Scope,
        targets: &[Target],
        hidden: &mut Vec<Target>,
        sort: &[(usize, bool, bool)],
    ) -> Result<OpTree> {
        let mut on = Vec::new();
        for d in s.distinct_clause.iter().filter(|d| d.node.is_some()) {
            let at = self.output_of(d, scope, targets, hidden)?;
            if !on.contains(&at) {
                on.push(at);
            }
        }
        // The keys in ORDER BY order (they must be its leading items), then any others.
        let mut keys: Vec<usize> = Vec::new();
        for &(at, _, _) in sort {
            if on.contains(&at) && !keys.contains(&at) {
                keys.push(at);
            }
        }
        for &at in &on {
            if !keys.contains(&at) {
                keys.push(at);
            }
        }
        let node_at = |at: usize| -> Node {
            targets
                .get(at)
                .map(|t| t.node.clone())
                .unwrap_or_else(|| hidden[at - targets.len()].node.clone())
        };
        let mut group_by = Vec::new();
        let mut group_columns = Vec::new();
        for &at in &keys {
            let node = node_at(at);
            group_by.push(self.print(&node, &mut FromColumns)?);
            group_columns.push(self.column(format!("g{}", group_by.len()), &node)?);
        }
        let visible: Vec<&Target> = targets.iter().collect();
        let (values, columns) = self.select_list(&visible, &mut FromColumns)?;
        let mut sort_keys = Vec::new();
        for &(at, desc, nulls_first) in sort {
            let node = node_at(at);
            let key = self.print(&node, &mut FromColumns)?;
            let op = self
                .cat
                .sort_operator(node.ty().oid, desc)?
                .ok_or_else(|| {
                    unsupported(
                        "ORDER BY a type without a default B-tree operator class of its own",
                        "Translated by the extension's frontend only.",
                    )
                })?;
            sort_keys.push(pgt_dvm::frontend::sort_key(key, &op, nulls_first));
        }
        Ok(pgt_dvm::frontend::distinct_on(
            tree,
            group_by,
            group_columns,
            &values,
            columns,
            sort_keys,
        )?)
    }

    /// The outermost query's ORDER BY … LIMIT as a top-k over `tree` (whose columns are
    /// `outputs`, the last `sort_only` of them hidden).
    fn top_k(
        &mut self,
        tree: OpTree,
        limit: Option<(i64, i64)>,
        sort: &[(usize, bool, bool)],
        outputs: &[&Target],
        sort_only: usize,
    ) -> Result<OpTree> {
        let Some((limit, offset)) = limit else {
            return Ok(tree);
        };
        let mut order = Vec::new();
        for &(column, desc, nulls_first) in sort {
            let node = &outputs[column].node;
            let operator = self
                .cat
                .sort_operator(node.ty().oid, desc)?
                .ok_or_else(|| {
                    unsupported(
                        "ORDER BY a type without a default B-tree operator class of its own",
                        "Translated by the extension's frontend only.",
                    )
                })?;
            let collation = match node.collation() {
                0 => None,
                c => Some(self.cat.collation_name(c)?),
            };
            order.push(pgt_dvm::operators::top_k::SortKey {
                column,
                operator,
                collation,
                nulls_first,
            });
        }
        Ok(OpTree::top_k(tree, order, limit, offset).with_sort_only(sort_only))
    }

    /// `A UNION [ALL] B`, `A INTERSECT [ALL] B`, `A EXCEPT [ALL] B` (nested as written),
    /// as the extension builds them, under a projection of the result's columns. The
    /// inputs' column types must be the same (PostgreSQL's common-type coercions of the
    /// inputs are the extension's).
    fn set_operation(&mut self, s: &pb::SelectStmt) -> Result<(OpTree, Vec<OutCol>)> {
        let (tree, cols) = self.set_operand(s)?;
        let n = cols.len();
        let mut columns = Vec::new();
        for c in &cols {
            let info = self.cat.type_info(c.ty, c.coll)?;
            columns.push(Column {
                name: c.name.clone(),
                type_sql: info.type_sql,
                exact_equality: info.exact_equality,
                binary_identity: info.binary_identity,
                canonical: info.canonical,
            });
        }
        let exprs = (0..n).map(Expr::col).collect();
        Ok((OpTree::project(tree, exprs, columns), cols))
    }

    fn set_operand(&mut self, s: &pb::SelectStmt) -> Result<(OpTree, Vec<OutCol>)> {
        let op = pb::SetOperation::try_from(s.op).unwrap_or(pb::SetOperation::Undefined);
        if op == pb::SetOperation::SetopNone {
            return self.select(s);
        }
        if s.with_clause.is_some() || s.limit_count.is_some() || s.limit_offset.is_some() {
            return Err(unsupported(
                "WITH or LIMIT/OFFSET around a set operation",
                "Translated by the extension's frontend only.",
            ));
        }
        let (Some(l), Some(r)) = (s.larg.as_deref(), s.rarg.as_deref()) else {
            return Err(FrontendError::Invalid(
                "a set operation without two inputs".into(),
            ));
        };
        let (left, lcols) = self.set_operand(l)?;
        let (right, rcols) = self.set_operand(r)?;
        if lcols.len() != rcols.len() {
            return Err(FrontendError::Invalid(
                "each side of a set operation must have the same number of columns".into(),
            ));
        }
        let mut cols = Vec::new();
        for (a, b) in lcols.iter().zip(&rcols) {
            if a.ty.oid != b.ty.oid || a.coll != b.coll {
                return Err(unsupported(
                    "a set operation over columns of different types or collations",
                    "Their common type is resolved by the extension's frontend only.",
                ));
            }
            cols.push(OutCol {
                name: a.name.clone(),
                ty: TypeRef {
                    oid: a.ty.oid,
                    typmod: if a.ty.typmod == b.ty.typmod {
                        a.ty.typmod
                    } else {
                        -1
                    },
                },
                coll: a.coll,
            });
        }
        let tree = match op {
            pb::SetOperation::SetopUnion => {
                // UNION ALL concatenates; UNION is DISTINCT over the concatenation.
                let mut inputs = Vec::new();
                for side in [left, right] {
                    match side {
                        OpTree::UnionAll(u) => inputs.extend(u.inputs),
                        other => inputs.push(other),
                    }
                }
                let union = OpTree::union_all(inputs);
                if s.all {
                    union
                } else {
                    OpTree::distinct(union)
                }
            }
            pb::SetOperation::SetopIntersect | pb::SetOperation::SetopExcept => {
                pgt_dvm::frontend::intersect_or_except(
                    left,
                    right,
                    op == pb::SetOperation::SetopIntersect,
                    s.all,
                )
            }
            _ => return Err(FrontendError::Invalid("an unknown set operation".into())),
        };
        Ok((tree, cols))
    }

    fn distinct(&self, s: &pb::SelectStmt, tree: OpTree) -> OpTree {
        if s.distinct_clause.is_empty() {
            tree
        } else {
            OpTree::distinct(tree)
        }
    }

    fn add_scope(&mut self, scope: &mut Scope, more: Scope) -> Result<()> {
        for e in more.entries {
            if scope.entries.iter().any(|x| x.refname == e.refname) {
                return Err(FrontendError::Invalid(format!(
                    "table name \"{}\" specified more than once",
                    e.refname
                )));
            }
            scope.entries.push(e);
        }
        Ok(())
    }

    /// `σ_{p₁}(σ_{p₂}(… tree))`, one filter per conjunct, each with the pair it equates.
    fn filters(&mut self, mut tree: OpTree, quals: &Node, scope: &Scope) -> Result<OpTree> {
        let mut cs = Vec::new();
        node::conjuncts(quals, &mut cs);
        // Subquery tests go on top of the ordinary filters (`σ_p(A) ⋉ S = σ_p(A ⋉ S)`).
        let (subs, cs): (Vec<Node>, Vec<Node>) =
            cs.into_iter().partition(|c| as_sublink(c).is_some());
        for c in cs {
            let p = self.print(&c, &mut FromColumns)?;
            let equi = node::equi_pair(&c).into_iter().collect();
            tree = OpTree::filter_equi(tree, p, equi).with_error_free(node::error_free(&c));
        }
        for c in subs {
            let (id, negated) = as_sublink(&c).expect("partitioned above");
            tree = self.sublink_join(tree, scope, id, negated)?;
        }
        Ok(tree)
    }

    /// Each scalar subquery of `locations` (once each, in order) cross-joined to `tree` as
    /// a one-row input; returns the tree and the column of each.
    fn join_scalars(
        &mut self,
        mut tree: OpTree,
        locations: &[i32],
    ) -> (OpTree, HashMap<i32, usize>) {
        let mut at = HashMap::new();
        for l in locations {
            if at.contains_key(l) {
                continue;
            }
            let Some((sub, _, _)) = self.scalars.get(l).cloned() else {
                continue;
            };
            at.insert(*l, tree.columns().len());
            tree = OpTree::join(tree, sub, None);
        }
        (tree, at)
    }

    /// Translates the scalar subqueries of this level (in WHERE, the SELECT list, HAVING,
    /// ORDER BY) that are uncorrelated aggregates without GROUP BY, HAVING, LIMIT or set
    /// operations: exactly one row. Others stay untranslated, and the analyzer refuses
    /// them by name.
    fn prepare_scalars(&mut self, s: &pb::SelectStmt) -> Result<()> {
        let mut found = Vec::new();
        for n in s
            .where_clause
            .iter()
            .chain(s.having_clause.iter())
            .map(|b| &**b)
            .chain(s.target_list.iter())
            .chain(s.sort_clause.iter())
        {
            scalar_sublinks(n, &mut found);
        }
        for sl in found {
            if self.scalars.contains_key(&sl.location) {
                continue;
            }
            let Some(N::SelectStmt(sub)) = sl.subselect.as_deref().and_then(|n| n.node.as_ref())
            else {
                continue;
            };
            let saved = self.correlation.take();
            let translated = self.select(sub);
            self.correlation = saved;
            let Ok((tree, cols)) = translated else {
                continue; // correlated, or not translated: refused where it is used
            };
            let one_row = matches!(&tree, OpTree::Project(p)
                if matches!(&*p.input, OpTree::Aggregate(a) if a.group_by.is_empty()));
            if !one_row {
                continue;
            }
            if cols.len() != 1 {
                return Err(unsupported(
                    "a scalar subquery with several columns",
                    "A scalar subquery yields one column.",
                ));
            }
            self.scalars
                .insert(sl.location, (tree, cols[0].ty, cols[0].coll));
        }
        Ok(())
    }

    /// `tree ⋉_θ S` or `tree ▷_θ S` for the WHERE subquery `id` (negated: under NOT),
    /// as the extension builds it (`sublink.rs`): `S` without its correlated conjuncts,
    /// `θ` those and the comparison, keeping SQL's three-valued logic.
    fn sublink_join(
        &mut self,
        tree: OpTree,
        scope: &Scope,
        id: usize,
        negated: bool,
    ) -> Result<OpTree> {
        let raw = self.sublinks[id].clone();
        let kind =
            pb::SubLinkType::try_from(raw.sub_link_type).unwrap_or(pb::SubLinkType::Undefined);
        if !matches!(
            kind,
            pb::SubLinkType::ExistsSublink
                | pb::SubLinkType::AnySublink
                | pb::SubLinkType::AllSublink
        ) {
            return Err(unsupported(
                "a subquery in this position",
                "Subqueries are translated as WHERE conjuncts ([NOT] EXISTS, [NOT] IN, op ANY/ALL) only here; rewrite it as a join, or the stream table is refreshed in full.",
            ));
        }
        let Some(N::SelectStmt(sub)) = raw.subselect.as_deref().and_then(|n| n.node.as_ref())
        else {
            return Err(FrontendError::Invalid(
                "a subquery that is not a SELECT".into(),
            ));
        };
        self.correlation = Some(scope.entries.clone());
        let translated = self.select(sub);
        self.correlation = None;
        let corr = self.corr_out.take().unwrap_or_default();
        let (inner, cols) = translated?;
        let nl = tree.columns().len();
        let mut parts = Vec::new();
        let mut equi: Vec<(usize, usize)> = Vec::new();
        let mut r = SublinkColumns {
            nl,
            own: &corr.own,
            first_var: corr.first_var,
            outer_level: false,
        };
        for c in &corr.corr {
            parts.push(self.printer.print(self.cat, c, &mut r)?);
            self.pair_of(c, &mut r, nl, &mut equi)?;
        }
        r.outer_level = true;
        let wrapped = |e: Expr, suffix: &str| {
            let mut out = Expr::sql("((");
            out.append(e);
            out.push_sql(&format!(") {suffix})"));
            out
        };
        let anti = match (kind, negated) {
            (pb::SubLinkType::ExistsSublink, neg) => neg,
            _ => {
                let Some(lhs) = raw.testexpr.as_deref() else {
                    return Err(FrontendError::Invalid("ANY/ALL without a left side".into()));
                };
                let visible = if corr.corr.is_empty() {
                    cols.len()
                } else {
                    corr.first_var
                };
                if visible != 1 {
                    return Err(unsupported(
                        "a subquery comparison of several columns",
                        "Translated by the extension's frontend only.",
                    ));
                }
                let op = match raw.oper_name.as_slice() {
                    [] => "=".to_string(),
                    [one] => string(one).unwrap_or_default().to_string(),
                    _ => {
                        return Err(unsupported(
                            "OPERATOR(schema.op) ANY/ALL",
                            "Translated by the extension's frontend only.",
                        ))
                    }
                };
                let outer_scope = Scope {
                    entries: scope.entries.clone(),
                    outer: Vec::new(),
                };
                let lhs = self.analyze(lhs, &outer_scope, false)?;
                let param = Node::Param {
                    ty: cols[0].ty,
                    coll: cols[0].coll,
                };
                let test = Analyzer::new(self.cat).operator(&op, lhs, param)?;
                if test.ty().oid != crate::catalog::BOOL {
                    return Err(FrontendError::Invalid(
                        "a subquery comparison that is not boolean".into(),
                    ));
                }
                let printed = self.printer.print(self.cat, &test, &mut r)?;
                match (kind, negated) {
                    (pb::SubLinkType::AnySublink, false) => {
                        let mut tc = Vec::new();
                        node::conjuncts(&test, &mut tc);
                        for n in &tc {
                            self.pair_of(n, &mut r, nl, &mut equi)?;
                        }
                        parts.push(printed);
                        false
                    }
                    (pb::SubLinkType::AnySublink, true) => {
                        parts.push(wrapped(printed, "IS NOT FALSE"));
                        true
                    }
                    (_, false) => {
                        parts.push(wrapped(printed, "IS NOT TRUE"));
                        true
                    }
                    (_, true) => {
                        parts.push(wrapped(printed, "IS FALSE"));
                        false
                    }
                }
            }
        };
        let condition = if parts.is_empty() {
            Expr::sql("true")
        } else {
            let mut e = Expr::sql("(");
            for (i, p) in parts.into_iter().enumerate() {
                if i > 0 {
                    e.push_sql(") AND (");
                }
                e.append(p);
            }
            e.push_sql(")");
            e
        };
        Ok(OpTree::semi_join(anti, tree, inner, condition, equi, false))
    }

    /// The pair of columns, one of each side, that a mergejoinable equality of θ compares.
    fn pair_of(
        &mut self,
        n: &Node,
        r: &mut SublinkColumns<'_>,
        nl: usize,
        equi: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        let Node::Op { op, args, .. } = n else {
            return Ok(());
        };
        if args.len() != 2 || !op.mergejoinable {
            return Ok(());
        }
        let a = self.printer.print(self.cat, &args[0], r)?.as_column();
        let b = self.printer.print(self.cat, &args[1], r)?.as_column();
        if let (Some(a), Some(b)) = (a, b) {
            let p = match (a < nl, b < nl) {
                (true, false) => Some((a, b - nl)),
                (false, true) => Some((b, a - nl)),
                _ => None,
            };
            if let Some(p) = p.filter(|p| !equi.contains(p)) {
                equi.push(p);
            }
        }
        Ok(())
    }

    fn translate_from_item(&mut self, item: &pb::Node) -> Result<(OpTree, Scope)> {
        match &item.node {
            Some(N::RangeVar(rv)) => {
                if rv.schemaname.is_empty() && rv.catalogname.is_empty() {
                    if let Some((tree, cols)) = self.cte_reference(&rv.relname)? {
                        let (refname, names) = match &rv.alias {
                            Some(a) => (
                                a.aliasname.clone(),
                                a.colnames.iter().filter_map(string).map(str::to_string).collect(),
                            ),
                            None => (rv.relname.clone(), Vec::new()),
                        };
                        return Ok((tree, self.derived_scope(refname, &names, &cols)));
                    }
                }
                self.scan(rv)
            }
            Some(N::JoinExpr(j)) => {
                use pgt_dvm::operators::outer_join::OuterKind;
                let outer = match pb::JoinType::try_from(j.jointype) {
                    Ok(pb::JoinType::JoinInner) => None,
                    Ok(pb::JoinType::JoinLeft) => Some(OuterKind::Left),
                    Ok(pb::JoinType::JoinRight) => Some(OuterKind::Right),
                    Ok(pb::JoinType::JoinFull) => Some(OuterKind::Full),
                    _ => {
                        return Err(unsupported(
                            "this join type",
                            "It is not maintained incrementally.",
                        ))
                    }
                };
                if j.is_natural
                    || j.alias.is_some()
                    || j.join_using_alias.is_some()
                    || (!j.using_clause.is_empty() && outer == Some(OuterKind::Full))
                {
                    return Err(unsupported(
                        "NATURAL, FULL JOIN … USING or an aliased join",
                        "Translated by the extension's frontend only; write the join with ON.",
                    ));
                }
                let (Some(l), Some(r)) = (j.larg.as_deref(), j.rarg.as_deref()) else {
                    return Err(FrontendError::Invalid("a join without two inputs".into()));
                };
                let (left, mut scope) = self.translate_from_item(l)?;
                let (right, rscope) = self.translate_from_item(r)?;
                let nl = left.columns().len();
                let lscope = scope.clone();
                self.add_scope(&mut scope, rscope.clone().shifted(nl))?;
                let using = if j.using_clause.is_empty() {
                    None
                } else {
                    Some(self.using(
                        &j.using_clause,
                        &lscope,
                        &rscope.shifted(nl),
                        &mut scope,
                        outer == Some(OuterKind::Right),
                    )?)
                };
                if let Some(kind) = outer {
                    // The ON condition belongs to the outer join itself; its conjuncts that
                    // equate a left and a right column become join keys.
                    let quals = match (j.quals.as_deref(), &using) {
                        (_, Some(u)) => Some(u.clone()),
                        (Some(q), None) => {
                            let node = self.analyze(q, &scope, false)?;
                            Some(Analyzer::new(self.cat).to_bool(node)?)
                        }
                        (None, None) => None,
                    };
                    let mut equi = Vec::new();
                    if let Some(q) = &quals {
                        let mut cs = Vec::new();
                        node::conjuncts(q, &mut cs);
                        for c in &cs {
                            let pair = match node::equi_pair(c) {
                                Some((a, b)) if a < nl && b >= nl => Some((a, b - nl)),
                                Some((a, b)) if b < nl && a >= nl => Some((b, a - nl)),
                                _ => None,
                            };
                            if let Some(p) = pair.filter(|p| !equi.contains(p)) {
                                equi.push(p);
                            }
                        }
                    }
                    let condition = match &quals {
                        Some(q) => Some(self.print(q, &mut FromColumns)?),
                        None => None,
                    };
                    let error_free = quals.as_ref().is_none_or(node::error_free);
                    let tree = OpTree::outer_join(kind, left, right, condition, equi, error_free);
                    return Ok((tree, scope));
                }
                let mut tree = OpTree::join(left, right, None);
                if let Some(u) = &using {
                    tree = self.filters(tree, u, &scope)?;
                } else if let Some(q) = j.quals.as_deref() {
                    let node = self.analyze(q, &scope, false)?;
                    let node = Analyzer::new(self.cat).to_bool(node)?;
                    tree = self.filters(tree, &node, &scope)?;
                }
                Ok((tree, scope))
            }
            Some(N::RangeSubselect(r)) => {
                if r.lateral {
                    return Err(unsupported(
                        "a LATERAL subquery",
                        "Translated by the extension's frontend only.",
                    ));
                }
                let Some(N::SelectStmt(sub)) = r.subquery.as_deref().and_then(|n| n.node.as_ref()) else {
                    return Err(FrontendError::Invalid("a subquery that is not a SELECT".into()));
                };
                let (tree, cols) = self.select(sub)?;
                let (refname, names) = match &r.alias {
                    Some(a) => (
                        a.aliasname.clone(),
                        a.colnames.iter().filter_map(string).map(str::to_string).collect(),
                    ),
                    None => (String::new(), Vec::new()),
                };
                if names.len() > cols.len() {
                    return Err(FrontendError::Invalid(
                        "more column aliases than the subquery has columns".into(),
                    ));
                }
                Ok((tree, self.derived_scope(refname, &names, &cols)))
            }
            _ => Err(unsupported(
                &format!("the FROM item {}", kind_name(item)),
                "Subqueries, functions and VALUES in FROM are translated by the extension's frontend only.",
            )),
        }
    }

    /// `JOIN … USING (c₁, …)`: the condition `l.c₁ = r.c₁ AND …` (one conjunct: the
    /// comparison itself) and, in `scope`, the merged columns (the left side's, or the
    /// right side's for a RIGHT join) as one more FROM item that unqualified names find
    /// instead of either side's (PostgreSQL's join alias columns). The sides' types must
    /// be the same (their common type is the extension's to resolve).
    fn using(
        &mut self,
        names: &[pb::Node],
        left: &Scope,
        right: &Scope,
        scope: &mut Scope,
        right_join: bool,
    ) -> Result<Node> {
        let rel = self.next_rel;
        self.next_rel += 1;
        let mut conds = Vec::new();
        let mut merged = Vec::new();
        for n in names {
            let name = string(n).unwrap_or_default().to_string();
            let l = left.unqualified(&name)?;
            let r = right.unqualified(&name)?;
            let (Node::Var { ty: lt, .. }, Node::Var { ty: rt, .. }) = (&l, &r) else {
                return Err(FrontendError::Invalid("a USING column".into()));
            };
            if lt != rt {
                return Err(unsupported(
                    "USING columns of different types",
                    "Their common type is resolved by the extension's frontend only.",
                ));
            }
            let kept = if right_join { &r } else { &l };
            if let Node::Var {
                pos, ty, coll, sub, ..
            } = kept
            {
                merged.push(ScopeColumn {
                    name: name.clone(),
                    pos: *pos,
                    ty: *ty,
                    coll: *coll,
                    sub: *sub,
                    merged_away: false,
                });
            }
            conds.push(Analyzer::new(self.cat).equality(l, r)?);
            for e in &mut scope.entries {
                for c in &mut e.columns {
                    if c.name == name {
                        c.merged_away = true;
                    }
                }
            }
        }
        // The merged columns' item: not qualifiable (the join has no alias).
        scope.entries.push(Entry {
            refname: String::new(),
            rel,
            columns: merged,
        });
        Ok(if conds.len() == 1 {
            conds.pop().expect("one")
        } else {
            Node::Bool {
                kind: crate::node::BoolKind::And,
                args: conds,
            }
        })
    }

    /// The scope of a subquery or CTE reference: one FROM item whose columns are the
    /// query's outputs (renamed by `names`).
    fn derived_scope(&mut self, refname: String, names: &[String], cols: &[OutCol]) -> Scope {
        let rel = self.next_rel;
        self.next_rel += 1;
        let columns = cols
            .iter()
            .enumerate()
            .map(|(pos, c)| ScopeColumn {
                name: names.get(pos).cloned().unwrap_or_else(|| c.name.clone()),
                pos,
                ty: c.ty,
                coll: c.coll,
                sub: true,
                merged_away: false,
            })
            .collect();
        Scope {
            entries: vec![Entry {
                refname,
                rel,
                columns,
            }],
            outer: Vec::new(),
        }
    }

    fn scan(&mut self, rv: &pb::RangeVar) -> Result<(OpTree, Scope)> {
        if !rv.catalogname.is_empty() {
            return Err(unsupported(
                "a database-qualified table name",
                "Name tables by schema and name.",
            ));
        }
        let schema = (!rv.schemaname.is_empty()).then_some(rv.schemaname.as_str());
        let rel = self.cat.relation(schema, &rv.relname)?.ok_or_else(|| {
            FrontendError::Invalid(format!("relation \"{}\" does not exist", rv.relname))
        })?;
        let qualified = format!("{}.{}", rel.schema, rel.name);
        pgt_dvm::frontend::check_source(
            &qualified,
            rel.kind,
            rv.inh,
            rel.has_children,
            rel.is_partition,
            rel.reserved_column.as_deref(),
        )?;
        if rel.has_virtual_columns {
            return Err(unsupported(
                &format!("the source \"{qualified}\" with virtual generated columns"),
                "Translated by the extension's frontend only.",
            ));
        }
        if let Some(alias) = &rv.alias {
            if !alias.colnames.is_empty() {
                return Err(unsupported(
                    "column aliases on a table",
                    "Translated by the extension's frontend only.",
                ));
            }
        }
        if !self.sources.contains(&rel.oid) {
            self.sources.push(rel.oid);
        }
        let rel_index = self.next_rel;
        self.next_rel += 1;
        let mut columns = Vec::new();
        let mut read_as = Vec::new();
        let mut entry_columns = Vec::new();
        for (pos, c) in rel.columns.iter().enumerate() {
            let info = self.cat.type_info(c.base, c.collation)?;
            let cast = (c.base.oid != c.declared.oid).then(|| match &c.collation_sql {
                Some(coll) => format!("{} COLLATE {coll}", info.type_sql),
                None => info.type_sql.clone(),
            });
            columns.push(Column {
                name: c.name.clone(),
                type_sql: info.type_sql,
                exact_equality: info.exact_equality,
                binary_identity: info.binary_identity,
                canonical: info.canonical,
            });
            read_as.push(cast);
            entry_columns.push(ScopeColumn {
                name: c.name.clone(),
                pos,
                ty: c.declared,
                coll: c.collation,
                sub: false,
                merged_away: false,
            });
        }
        let key = rel.primary_key.as_ref().and_then(|k| {
            k.iter()
                .map(|a| rel.columns.iter().position(|c| c.attnum == *a))
                .collect::<Option<Vec<usize>>>()
        });
        let tree = OpTree::scan_keyed(
            rel.oid,
            QualifiedName::new(rel.schema.clone(), rel.name.clone()),
            columns,
            key,
        )
        .with_read_casts(read_as);
        let refname = match &rv.alias {
            Some(a) => a.aliasname.clone(),
            None => rv.relname.clone(),
        };
        Ok((
            tree,
            Scope {
                entries: vec![Entry {
                    refname,
                    rel: rel_index,
                    columns: entry_columns,
                }],
                outer: Vec::new(),
            },
        ))
    }

    /// One SELECT-list entry (`*` and `t.*` expanded).
    fn target(
        &mut self,
        t: &pb::Node,
        scope: &Scope,
        aggs: bool,
        out: &mut Vec<Target>,
    ) -> Result<()> {
        let Some(N::ResTarget(rt)) = &t.node else {
            return Err(FrontendError::Invalid("a SELECT-list entry".into()));
        };
        if !rt.indirection.is_empty() {
            return Err(unsupported(
                "subscripts or field selection in the SELECT list",
                "Translated by the extension's frontend only.",
            ));
        }
        let val = rt
            .val
            .as_deref()
            .ok_or_else(|| FrontendError::Invalid("an empty SELECT-list entry".into()))?;
        if let Some(N::ColumnRef(c)) = &val.node {
            if matches!(
                c.fields.last().and_then(|f| f.node.as_ref()),
                Some(N::AStar(_))
            ) {
                let qualifier = match c.fields.len() {
                    1 => None,
                    2 => string(&c.fields[0]),
                    _ => {
                        return Err(unsupported(
                            "a schema-qualified *",
                            "Name the table by its name or alias.",
                        ))
                    }
                };
                if qualifier.is_none() && scope.has_merged_columns() {
                    return Err(unsupported(
                        "* over a JOIN … USING",
                        "Translated by the extension's frontend only; name the columns.",
                    ));
                }
                for e in &scope.entries {
                    if qualifier.is_some_and(|q| q != e.refname) {
                        continue;
                    }
                    for col in &e.columns {
                        out.push(Target {
                            name: col.name.clone(),
                            node: Node::Var {
                                rel: e.rel,
                                pos: col.pos,
                                ty: col.ty,
                                coll: col.coll,
                                sub: col.sub,
                            },
                        });
                    }
                }
                return Ok(());
            }
        }
        let node = self.analyze(val, scope, aggs)?;
        // An untyped literal in the SELECT list is text (resolveTargetListUnknowns).
        let node = if node.ty().oid == UNKNOWN {
            Analyzer::new(self.cat).typed_literal(node, TypeRef::of(TEXT))?
        } else {
            node
        };
        let name = if rt.name.is_empty() {
            figure_colname(val).0
        } else {
            rt.name.clone()
        };
        out.push(Target { name, node });
        Ok(())
    }

    fn select_list(
        &mut self,
        targets: &[&Target],
        r: &mut dyn crate::print::Resolve,
    ) -> Result<(Vec<Expr>, Vec<Column>)> {
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for t in targets {
            exprs.push(self.printer.print(self.cat, &t.node, r)?);
            columns.push(self.column(t.name.clone(), &t.node)?);
        }
        Ok((exprs, columns))
    }

    /// A GROUP BY item: an output position, an output name that is no input column, or
    /// an expression over the inputs; named after the SELECT-list entry it equals.
    fn group_key(
        &mut self,
        g: &pb::Node,
        scope: &Scope,
        targets: &[Target],
    ) -> Result<(Option<String>, Node)> {
        match &g.node {
            Some(N::AConst(pb::AConst {
                val: Some(pb::a_const::Val::Ival(i)),
                ..
            })) => {
                let t = usize::try_from(i.ival)
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| targets.get(n))
                    .ok_or_else(|| {
                        FrontendError::Invalid(format!(
                            "GROUP BY position {} is not in select list",
                            i.ival
                        ))
                    })?;
                return Ok((Some(t.name.clone()), t.node.clone()));
            }
            Some(N::ColumnRef(c)) if c.fields.len() == 1 => {
                if let Some(name) = string(&c.fields[0]) {
                    if !scope.has_column(name) {
                        if let Some(t) = targets.iter().find(|t| t.name == name) {
                            return Ok((Some(t.name.clone()), t.node.clone()));
                        }
                    }
                }
            }
            Some(N::GroupingSet(_)) => {
                return Err(unsupported(
                    "GROUPING SETS, ROLLUP or CUBE",
                    "Translated by the extension's frontend only.",
                ))
            }
            _ => {}
        }
        let node = self.analyze(g, scope, false)?;
        let name = targets
            .iter()
            .find(|t| t.node == node)
            .map(|t| t.name.clone());
        Ok((name, node))
    }

    fn agg_call(&mut self, a: &Node) -> Result<AggCall> {
        let Node::Agg {
            agg,
            star,
            args,
            distinct,
            order,
            filter,
            ..
        } = a
        else {
            return Err(FrontendError::Invalid("not an aggregate".into()));
        };
        let (call, printed) = self.printer.aggregate_call(self.cat, a)?;
        let exact_num = |t: u32| [INT8, INT2, INT4, NUMERIC].contains(&t);
        let arg_ty = args.first().map(|n| n.ty().oid);
        let plain = !*distinct && order.is_empty() && filter.is_none();
        let name = if plain { agg.name_sql.as_str() } else { "" };
        let (kind, tracks_scale) = match (name, args.len(), *star) {
            ("pg_catalog.count", 0, true) => (AggKind::CountStar, false),
            ("pg_catalog.count", 1, false) => (AggKind::Count, false),
            ("pg_catalog.sum" | "pg_catalog.avg", 1, _) if arg_ty.is_some_and(exact_num) => {
                let arg = &args[0];
                if arg.ty().oid == NUMERIC && node::reads_unconstrained_derived_numeric(arg) {
                    return Err(unsupported(
                        "SUM/AVG over a numeric column of a subquery or CTE",
                        "Whether its display scale is fixed is decided by the extension's frontend only.",
                    ));
                }
                let kind = if agg.name_sql == "pg_catalog.sum" {
                    AggKind::Sum
                } else {
                    AggKind::Avg
                };
                (
                    kind,
                    arg.ty().oid == NUMERIC && node::fixed_scale(arg).is_none(),
                )
            }
            ("pg_catalog.min", 1, _) => (AggKind::Min, false),
            ("pg_catalog.max", 1, _) => (AggKind::Max, false),
            _ => (AggKind::Other, false),
        };
        let arg = if matches!(kind, AggKind::CountStar | AggKind::Other) {
            None
        } else {
            printed.into_iter().next()
        };
        Ok(AggCall {
            kind,
            arg,
            call,
            result_type: self.cat.type_info(TypeRef::of(agg.result), 0)?.type_sql,
            tracks_scale,
        })
    }
}

/// The scalar (`EXPR`) subqueries in a raw expression, in the order the analyzed
/// expression is walked, not looking inside subqueries.
fn scalar_sublinks<'n>(n: &'n pb::Node, out: &mut Vec<&'n pb::SubLink>) {
    let mut walk = |c: Option<&'n pb::Node>| {
        if let Some(c) = c {
            scalar_sublinks(c, out);
        }
    };
    match &n.node {
        Some(N::SubLink(sl)) if sl.sub_link_type == pb::SubLinkType::ExprSublink as i32 => {
            out.push(sl);
        }
        Some(N::AExpr(e)) => {
            walk(e.lexpr.as_deref());
            walk(e.rexpr.as_deref());
        }
        Some(N::BoolExpr(b)) => b.args.iter().for_each(|a| walk(Some(a))),
        Some(N::FuncCall(f)) => {
            f.args.iter().for_each(|a| walk(Some(a)));
            f.agg_order.iter().for_each(|a| walk(Some(a)));
            walk(f.agg_filter.as_deref());
        }
        Some(N::TypeCast(t)) => walk(t.arg.as_deref()),
        Some(N::NullTest(t)) => walk(t.arg.as_deref()),
        Some(N::CollateClause(c)) => walk(c.arg.as_deref()),
        Some(N::CoalesceExpr(c)) => c.args.iter().for_each(|a| walk(Some(a))),
        Some(N::MinMaxExpr(m)) => m.args.iter().for_each(|a| walk(Some(a))),
        Some(N::CaseExpr(c)) => {
            walk(c.arg.as_deref());
            c.args.iter().for_each(|a| walk(Some(a)));
            walk(c.defresult.as_deref());
        }
        Some(N::CaseWhen(w)) => {
            walk(w.expr.as_deref());
            walk(w.result.as_deref());
        }
        Some(N::ResTarget(r)) => walk(r.val.as_deref()),
        Some(N::SortBy(b)) => walk(b.node.as_deref()),
        Some(N::List(l)) => l.items.iter().for_each(|a| walk(Some(a))),
        _ => {}
    }
}

/// A WHERE conjunct that is a subquery test, or NOT of one: its id and whether negated.
fn as_sublink(c: &Node) -> Option<(usize, bool)> {
    match c {
        Node::Sublink { id } => Some((*id, false)),
        Node::Bool {
            kind: node::BoolKind::Not,
            args,
        } => match args.as_slice() {
            [Node::Sublink { id }] => Some((*id, true)),
            _ => None,
        },
        _ => None,
    }
}

/// The columns of a subquery test's θ: over the outer query's columns, then the
/// subquery's outputs (its compared column, then the own columns correlated conjuncts
/// read).
struct SublinkColumns<'a> {
    nl: usize,
    own: &'a [Node],
    first_var: usize,
    /// Printing the comparison, which belongs to the outer query: its columns are the
    /// outer query's.
    outer_level: bool,
}

impl crate::print::Resolve for SublinkColumns<'_> {
    fn substitute(&mut self, node: &Node) -> Result<Option<Expr>> {
        Ok(match node {
            Node::Param { .. } => Some(Expr::col(self.nl)),
            Node::Var { pos, .. } if self.outer_level => Some(Expr::col(*pos)),
            Node::Var { .. } => {
                let i =
                    self.own.iter().position(|v| v == node).ok_or_else(|| {
                        unsupported("a subquery column", "It could not be resolved.")
                    })?;
                Some(Expr::col(self.nl + self.first_var + i))
            }
            Node::OuterVar { pos, .. } if !self.outer_level => Some(Expr::col(*pos)),
            _ => None,
        })
    }
}

/// A constant LIMIT or OFFSET value (`None`: absent, `ALL` or NULL).
fn limit_value(n: Option<&pb::Node>) -> Result<Option<i64>> {
    let not_constant = || {
        unsupported(
            "LIMIT/OFFSET with a value that is not a constant",
            "Only constant LIMIT and OFFSET values are maintained; use FULL.",
        )
    };
    match n.and_then(|n| n.node.as_ref()) {
        None => Ok(None),
        Some(N::AConst(c)) if c.isnull => Ok(None),
        Some(N::AConst(pb::AConst {
            val: Some(pb::a_const::Val::Ival(i)),
            ..
        })) => Ok(Some(i64::from(i.ival))),
        Some(N::AConst(pb::AConst {
            val: Some(pb::a_const::Val::Fval(f)),
            ..
        })) => f.fval.parse::<i64>().map(Some).map_err(|_| not_constant()),
        Some(_) => Err(not_constant()),
    }
}

/// The outermost query's constant `(LIMIT, OFFSET)` when it is a top-k (the extension's
/// rules: ORDER BY required, no WITH TIES, nothing negative); elsewhere a LIMIT must
/// change nothing (`LIMIT ALL`, `OFFSET 0`).
fn top_k_limit(s: &pb::SelectStmt, top: bool) -> Result<Option<(i64, i64)>> {
    let count = limit_value(s.limit_count.as_deref())?;
    let offset = limit_value(s.limit_offset.as_deref())?;
    let set_operation = s.op != pb::SetOperation::SetopNone as i32;
    if !(top && count.is_some() && !set_operation) {
        if count.is_some() || offset.is_some_and(|o| o != 0) {
            return Err(unsupported(
                "LIMIT/OFFSET in a subquery, or OFFSET without LIMIT",
                "Only the outermost query's ORDER BY … LIMIT is maintained; move it to the top, or use FULL.",
            ));
        }
        return Ok(None);
    }
    if s.limit_option == pb::LimitOption::WithTies as i32 {
        return Err(unsupported(
            "FETCH FIRST … WITH TIES",
            "Only a fixed number of rows is maintained; use LIMIT, or FULL.",
        ));
    }
    if s.sort_clause.is_empty() {
        return Err(unsupported(
            "LIMIT without ORDER BY",
            "Which rows such a query returns is not defined, so no refresh could keep them; add an ORDER BY, or use FULL.",
        ));
    }
    let count = count.expect("checked above");
    if count < 0 || offset.is_some_and(|o| o < 0) {
        return Err(unsupported(
            "a negative LIMIT or OFFSET",
            "The query itself fails with it.",
        ));
    }
    Ok(Some((count, offset.unwrap_or(0))))
}

fn out_columns(targets: &[Target]) -> Vec<OutCol> {
    targets
        .iter()
        .map(|t| OutCol {
            name: t.name.clone(),
            ty: t.node.ty(),
            coll: t.node.collation(),
        })
        .collect()
}

/// The output name PostgreSQL gives an unnamed SELECT-list entry (`FigureColname`),
/// with its strength (2: a column or function name, 1: a type or keyword name).
fn figure_colname(n: &pb::Node) -> (String, u8) {
    let unnamed = ("?column?".to_string(), 0);
    match &n.node {
        Some(N::ColumnRef(c)) => match c.fields.last().and_then(string) {
            Some(s) => (s.to_string(), 2),
            None => unnamed,
        },
        Some(N::FuncCall(f)) => match f.funcname.last().and_then(string) {
            Some(s) => (s.to_string(), 2),
            None => unnamed,
        },
        Some(N::CoalesceExpr(_)) => ("coalesce".into(), 2),
        Some(N::AExpr(e)) if e.kind == pb::AExprKind::AexprNullif as i32 => ("nullif".into(), 2),
        Some(N::CaseExpr(c)) => {
            let inner = c
                .defresult
                .as_deref()
                .map(figure_colname)
                .unwrap_or(unnamed.clone());
            if inner.1 <= 1 {
                ("case".into(), 1)
            } else {
                inner
            }
        }
        Some(N::MinMaxExpr(m)) if m.op == pb::MinMaxOp::IsGreatest as i32 => ("greatest".into(), 2),
        Some(N::MinMaxExpr(_)) => ("least".into(), 2),
        Some(N::TypeCast(t)) => {
            let inner = t
                .arg
                .as_deref()
                .map(figure_colname)
                .unwrap_or(unnamed.clone());
            if inner.1 <= 1 {
                if let Some(name) = t
                    .type_name
                    .as_ref()
                    .and_then(|tn| tn.names.last())
                    .and_then(string)
                {
                    return (name.to_string(), 1);
                }
            }
            inner
        }
        _ => unnamed,
    }
}
