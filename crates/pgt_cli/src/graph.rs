//! The dependency graph as a tree of text and as Graphviz DOT.
//!
//! Nodes are relations by their (quoted, qualified) name: sources that are ordinary
//! tables, views and so on, and stream tables. An edge `a → b` means `b` reads `a`. The
//! refresh order (upstream first) comes from `pgt_dag`, as in the scheduler.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use pgt_dag::Dag;

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A relation that is not a stream table (`TABLE`, `VIEW`, …, as the catalog says).
    Source(String),
    /// A stream table: its effective mode, schedule and status.
    StreamTable {
        mode: String,
        schedule: String,
        status: String,
    },
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Kind>,
    /// source → readers.
    readers: BTreeMap<String, BTreeSet<String>>,
    /// reader → sources.
    sources: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn add_node(&mut self, name: &str, kind: Kind) {
        // A stream table read by another is listed as a source too: the stream table wins.
        match (self.nodes.get(name), &kind) {
            (Some(Kind::StreamTable { .. }), Kind::Source(_)) => {}
            _ => {
                self.nodes.insert(name.to_string(), kind);
            }
        }
    }

    /// `reader` reads `source` (both added as nodes first).
    pub fn add_edge(&mut self, source: &str, reader: &str) {
        self.readers
            .entry(source.to_string())
            .or_default()
            .insert(reader.to_string());
        self.sources
            .entry(reader.to_string())
            .or_default()
            .insert(source.to_string());
    }

    fn is_stream_table(&self, name: &str) -> bool {
        matches!(self.nodes.get(name), Some(Kind::StreamTable { .. }))
    }

    /// The stream tables, upstream first (ties by name), or the names on a cycle.
    pub fn refresh_order(&self) -> Result<Vec<String>, Vec<String>> {
        let names: Vec<&String> = self
            .nodes
            .keys()
            .filter(|n| self.is_stream_table(n))
            .collect();
        let id = |n: &str| names.iter().position(|m| *m == n).map(|i| i as i64);
        let mut dag = Dag::new();
        for (i, n) in names.iter().enumerate() {
            dag.add_node(i as i64);
            for s in self.sources.get(*n).into_iter().flatten() {
                if let Some(j) = id(s) {
                    dag.add_edge(j, i as i64);
                }
            }
        }
        match dag.topological_order() {
            Ok(order) => Ok(order
                .into_iter()
                .map(|i| names[i as usize].clone())
                .collect()),
            Err(pgt_dag::DagError::Cycle { path }) => Err(path
                .into_iter()
                .map(|i| names[i as usize].clone())
                .collect()),
        }
    }

    fn label(&self, name: &str) -> String {
        match self.nodes.get(name) {
            Some(Kind::StreamTable {
                mode,
                schedule,
                status,
            }) => {
                let status = if status == "ACTIVE" {
                    String::new()
                } else {
                    format!(", {status}")
                };
                format!("{name} [stream table: {mode}, {schedule}{status}]")
            }
            Some(Kind::Source(t)) => format!("{name} [{}]", t.to_lowercase().replace('_', " ")),
            None => name.to_string(),
        }
    }

    /// A tree per source that no stream table maintains: each node lists its readers
    /// below it. A stream table read from several places is expanded once; later
    /// mentions end in `(see above)`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let roots: Vec<&String> = self
            .nodes
            .keys()
            .filter(|n| self.sources.get(*n).is_none_or(|s| s.is_empty()))
            .collect();
        let mut shown = BTreeSet::new();
        for r in roots {
            out.push_str(&self.label(r));
            out.push('\n');
            shown.insert(r.clone());
            self.subtree(r, "", &mut shown, &mut out);
        }
        if out.is_empty() {
            out.push_str("(no stream tables)\n");
        }
        out
    }

    fn subtree(&self, n: &str, indent: &str, shown: &mut BTreeSet<String>, out: &mut String) {
        let readers: Vec<&String> = self.readers.get(n).into_iter().flatten().collect();
        for (i, r) in readers.iter().enumerate() {
            let last = i + 1 == readers.len();
            let (branch, next) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            if !shown.insert((*r).clone()) {
                let _ = writeln!(out, "{indent}{branch}{r} (see above)");
                continue;
            }
            let _ = writeln!(out, "{indent}{branch}{}", self.label(r));
            self.subtree(r, &format!("{indent}{next}"), shown, out);
        }
    }

    /// Graphviz DOT: sources as boxes, stream tables as rounded boxes (failed or suspended
    /// ones dashed), edges in the direction data flows.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph pg_trickle {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n",
        );
        for (name, kind) in &self.nodes {
            let attrs = match kind {
                Kind::Source(t) => format!(
                    "label={}",
                    dot_string(&format!("{name}\n{}", t.to_lowercase().replace('_', " ")))
                ),
                Kind::StreamTable {
                    mode,
                    schedule,
                    status,
                } => {
                    let style = if status == "ACTIVE" {
                        "\"rounded,filled\""
                    } else {
                        "\"rounded,filled,dashed\""
                    };
                    let status = if status == "ACTIVE" {
                        String::new()
                    } else {
                        format!(", {status}")
                    };
                    format!(
                        "label={}, style={style}, fillcolor=\"#e8f0fe\"",
                        dot_string(&format!("{name}\n{mode}, {schedule}{status}"))
                    )
                }
            };
            let _ = writeln!(out, "  {} [{attrs}];", dot_string(name));
        }
        for (s, readers) in &self.readers {
            for r in readers {
                let _ = writeln!(out, "  {} -> {};", dot_string(s), dot_string(r));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// A DOT double-quoted string: quotes and backslashes escaped, newlines as `\n`.
fn dot_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: &str, schedule: &str, status: &str) -> Kind {
        Kind::StreamTable {
            mode: mode.into(),
            schedule: schedule.into(),
            status: status.into(),
        }
    }

    /// orders → daily → weekly, customers → daily; daily → "odd ""name"""; lonely reads
    /// nothing.
    fn sample() -> Graph {
        let mut g = Graph::default();
        g.add_node("public.orders", Kind::Source("TABLE".into()));
        g.add_node("public.customers", Kind::Source("PARTITIONED_TABLE".into()));
        g.add_node("public.daily", st("DIFFERENTIAL", "1m", "ACTIVE"));
        g.add_node("public.weekly", st("FULL", "calculated", "SUSPENDED"));
        g.add_node(
            "public.\"odd \"\"name\"\"\"",
            st("DIFFERENTIAL", "5s", "ACTIVE"),
        );
        g.add_node("public.lonely", st("FULL", "1h", "ACTIVE"));
        // Listed as a source of weekly: it stays a stream table.
        g.add_node("public.daily", Kind::Source("STREAM_TABLE".into()));
        g.add_edge("public.orders", "public.daily");
        g.add_edge("public.customers", "public.daily");
        g.add_edge("public.daily", "public.weekly");
        g.add_edge("public.daily", "public.\"odd \"\"name\"\"\"");
        g
    }

    #[test]
    fn text_tree_expands_each_stream_table_once() {
        assert_eq!(
            sample().text(),
            "public.customers [partitioned table]\n\
             └─ public.daily [stream table: DIFFERENTIAL, 1m]\n\
             \u{20}  ├─ public.\"odd \"\"name\"\"\" [stream table: DIFFERENTIAL, 5s]\n\
             \u{20}  └─ public.weekly [stream table: FULL, calculated, SUSPENDED]\n\
             public.lonely [stream table: FULL, 1h]\n\
             public.orders [table]\n\
             └─ public.daily (see above)\n"
        );
        assert_eq!(Graph::default().text(), "(no stream tables)\n");
    }

    #[test]
    fn dot_quotes_names_and_marks_stream_tables() {
        let dot = sample().dot();
        assert!(dot.starts_with("digraph pg_trickle {\n  rankdir=LR;\n"));
        assert!(dot.contains(
            "  \"public.\\\"odd \\\"\\\"name\\\"\\\"\\\"\" [label=\"public.\\\"odd \\\"\\\"name\\\"\\\"\\\"\\nDIFFERENTIAL, 5s\", style=\"rounded,filled\", fillcolor=\"#e8f0fe\"];\n"
        ), "{dot}");
        assert!(dot.contains("  \"public.weekly\" [label=\"public.weekly\\nFULL, calculated, SUSPENDED\", style=\"rounded,filled,dashed\""));
        assert!(dot.contains("  \"public.orders\" [label=\"public.orders\\ntable\"];\n"));
        assert!(dot.contains("  \"public.daily\" -> \"public.weekly\";\n"));
        assert!(dot.ends_with("}\n"));
        assert_eq!(dot.matches(" -> ").count(), 4);
    }

    #[test]
    fn refresh_order_is_upstream_first() {
        assert_eq!(
            sample().refresh_order().unwrap(),
            vec![
                "public.daily",
                "public.\"odd \"\"name\"\"\"",
                "public.lonely",
                "public.weekly"
            ]
        );
        let mut g = Graph::default();
        g.add_node("a", st("FULL", "1m", "ACTIVE"));
        g.add_node("b", st("FULL", "1m", "ACTIVE"));
        g.add_edge("a", "b");
        g.add_edge("b", "a");
        assert_eq!(g.refresh_order().unwrap_err().len(), 2);
    }
}
