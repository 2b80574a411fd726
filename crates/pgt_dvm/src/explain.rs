//! A readable print of an operator tree, one operator per line, children indented:
//! what `pgtrickle.explain_stream_table` shows and what the rewrite rules' golden tests
//! compare. Column references print as `$i` (input position `i`).

use std::fmt::Write;

use crate::optree::{AggKind, OpTree};

/// The tree, one operator per line.
pub fn tree_text(tree: &OpTree) -> String {
    let mut out = String::new();
    write_node(tree, 0, &mut out);
    out
}

/// Every field of the tree (`Debug`), with shared subtrees' and recursions' ids (their
/// addresses) numbered in order of appearance: equal for equal trees built by any
/// frontend in any process.
pub fn tree_debug(tree: &OpTree) -> String {
    let raw = format!("{tree:#?}");
    let mut ids: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in raw.lines() {
        match line.trim_start().strip_prefix("id: ") {
            Some(rest) => {
                let v = rest.trim_end_matches(',').to_string();
                let n = match ids.iter().position(|x| *x == v) {
                    Some(n) => n,
                    None => {
                        ids.push(v.clone());
                        ids.len() - 1
                    }
                };
                let indent = &line[..line.len() - line.trim_start().len()];
                let _ = write!(out, "{indent}id: #{n},");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn dollar(e: &crate::expr::Expr) -> String {
    e.render(&|i| format!("${i}"))
}

fn write_node(tree: &OpTree, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let names = |t: &OpTree| {
        t.columns()
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match tree {
        OpTree::Scan(s) => {
            let key = match &s.key {
                Some(k) => format!(" key {k:?}"),
                None => String::new(),
            };
            let _ = writeln!(out, "{pad}Scan {} [{}]{key}", s.table, names(tree));
        }
        OpTree::Values(v) => {
            let _ = writeln!(out, "{pad}Values {} rows [{}]", v.rows.len(), names(tree));
        }
        OpTree::Replicate(r) => {
            let _ = writeln!(
                out,
                "{pad}Replicate ×{} keep {} columns",
                dollar(&r.count),
                r.keep
            );
            write_node(&r.input, depth + 1, out);
        }
        OpTree::Filter(f) => {
            let equi = if f.equi.is_empty() {
                String::new()
            } else {
                format!(" equi {:?}", f.equi)
            };
            let _ = writeln!(out, "{pad}Filter {}{equi}", dollar(&f.predicate));
            write_node(&f.input, depth + 1, out);
        }
        OpTree::Project(p) => {
            let exprs = p.exprs.iter().map(dollar).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "{pad}Project [{exprs}]");
            write_node(&p.input, depth + 1, out);
        }
        OpTree::Join(j) => {
            let cond = match &j.condition {
                Some(c) => format!(" on {}", dollar(c)),
                None => " (cross)".to_string(),
            };
            let equi = if j.equi.is_empty() {
                String::new()
            } else {
                format!(" equi {:?}", j.equi)
            };
            let _ = writeln!(out, "{pad}Join{cond}{equi}");
            write_node(&j.left, depth + 1, out);
            write_node(&j.right, depth + 1, out);
        }
        OpTree::OuterJoin(j) => {
            let cond = match &j.condition {
                Some(c) => dollar(c),
                None => "true".to_string(),
            };
            let equi = if j.equi.is_empty() {
                String::new()
            } else {
                format!(" equi {:?}", j.equi)
            };
            let single = if j.single_match {
                " (at most one match per left row, else error 21000)"
            } else {
                ""
            };
            let _ = writeln!(out, "{pad}{} on {cond}{equi}{single}", tree.rule().name());
            write_node(&j.left, depth + 1, out);
            write_node(&j.right, depth + 1, out);
        }
        OpTree::SemiJoin(j) => {
            let equi = if j.equi.is_empty() {
                String::new()
            } else {
                format!(" equi {:?}", j.equi)
            };
            let _ = writeln!(
                out,
                "{pad}{} on {}{equi}",
                tree.rule().name(),
                dollar(&j.condition)
            );
            write_node(&j.left, depth + 1, out);
            write_node(&j.right, depth + 1, out);
        }
        OpTree::UnionAll(u) => {
            let _ = writeln!(out, "{pad}UnionAll");
            for i in &u.inputs {
                write_node(i, depth + 1, out);
            }
        }
        OpTree::Aggregate(a) => {
            let keys = a.group_by.iter().map(dollar).collect::<Vec<_>>().join(", ");
            let aggs = a
                .aggs
                .iter()
                .map(|g| {
                    let how = match g.kind {
                        AggKind::Other => "recomputed per group",
                        AggKind::Min | AggKind::Max => "algebraic, rescan on retraction",
                        _ if g.tracks_scale => "algebraic, display scale tracked",
                        _ => "algebraic",
                    };
                    format!("{} ({how})", dollar(&g.call))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(out, "{pad}Aggregate by [{keys}]: {aggs}");
            write_node(&a.input, depth + 1, out);
        }
        OpTree::Recursive(r) => {
            let _ = writeln!(
                out,
                "{pad}Recursive #{} UNION{} ({})",
                r.id % 10007,
                if r.all { " ALL" } else { "" },
                if r.stores_fixpoint() {
                    "delete and rederive over its stored fixpoint"
                } else {
                    "recomputed at both snapshots when a source below changed"
                }
            );
            write_node(&r.seed, depth + 1, out);
            write_node(&r.recursive_term, depth + 1, out);
        }
        OpTree::WorkTable(w) => {
            let _ = writeln!(out, "{pad}WorkTable #{} [{}]", w.id % 10007, names(tree));
        }
        OpTree::LateralFunction(f) => {
            let _ = writeln!(
                out,
                "{pad}{} {} (per changed row)",
                if f.outer {
                    "LeftJoinLateral"
                } else {
                    "CrossJoinLateral"
                },
                dollar(&f.call)
            );
            write_node(&f.input, depth + 1, out);
        }
        OpTree::Window(w) => {
            let funcs = w
                .calls
                .iter()
                .map(|c| dollar(&w.function_sql(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "{pad}Window: {funcs} (the partitions a change touches recomputed)"
            );
            write_node(&w.input, depth + 1, out);
        }
        OpTree::Distinct(d) => {
            let _ = writeln!(out, "{pad}Distinct");
            write_node(&d.input, depth + 1, out);
        }
        OpTree::TopK(k) => {
            let keys = k
                .order
                .iter()
                .map(|s| {
                    format!(
                        "${}{} USING {} NULLS {}",
                        s.column,
                        s.collation
                            .as_ref()
                            .map(|c| format!(" COLLATE {c}"))
                            .unwrap_or_default(),
                        s.operator,
                        if s.nulls_first { "FIRST" } else { "LAST" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let offset = if k.offset > 0 {
                format!(" OFFSET {}", k.offset)
            } else {
                String::new()
            };
            let hidden = if k.sort_only > 0 {
                format!(
                    " (its last {} columns are ORDER BY only, stored hidden)",
                    k.sort_only
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{pad}TopK [{keys}] LIMIT {}{offset}{hidden} (kept rows and the delta; the window re-read when members leave)",
                k.limit
            );
            write_node(&k.input, depth + 1, out);
        }
        OpTree::Shared(s) => {
            let _ = writeln!(out, "{pad}Shared #{}", s.id % 10007);
            write_node(&s.input, depth + 1, out);
        }
    }
}
