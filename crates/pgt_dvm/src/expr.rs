//! SQL expression fragments. A parse frontend prints an expression as SQL text in which
//! every reference to an input column is a placeholder ([`ExprPart::Col`]); the engine
//! binds placeholders to whatever relation alias and column name the generated SQL uses.
//! The text parts are produced by the frontend's deparser and are trusted SQL (every
//! identifier and literal in them is already quoted).

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExprPart {
    Sql(String),
    /// The input column at this position.
    Col(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Expr {
    pub parts: Vec<ExprPart>,
}

impl Expr {
    pub fn sql(text: impl Into<String>) -> Expr {
        Expr {
            parts: vec![ExprPart::Sql(text.into())],
        }
    }

    pub fn col(i: usize) -> Expr {
        Expr {
            parts: vec![ExprPart::Col(i)],
        }
    }

    /// Appends SQL text (empty text adds nothing, so a bare column stays `[Col(i)]`).
    pub fn push_sql(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(ExprPart::Sql(last)) = self.parts.last_mut() {
            last.push_str(text);
        } else {
            self.parts.push(ExprPart::Sql(text.to_string()));
        }
    }

    pub fn push_col(&mut self, i: usize) {
        self.parts.push(ExprPart::Col(i));
    }

    pub fn append(&mut self, other: Expr) {
        for p in other.parts {
            match p {
                ExprPart::Sql(s) => self.push_sql(&s),
                ExprPart::Col(i) => self.push_col(i),
            }
        }
    }

    /// The input column this expression is, when it is nothing but a column reference.
    pub fn as_column(&self) -> Option<usize> {
        match self.parts.as_slice() {
            [ExprPart::Col(i)] => Some(*i),
            _ => None,
        }
    }

    /// The input columns this expression reads.
    pub fn columns(&self) -> Vec<usize> {
        self.parts
            .iter()
            .filter_map(|p| {
                if let ExprPart::Col(i) = p {
                    Some(*i)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Renders the expression, binding column `i` with `bind(i)`.
    pub fn render(&self, bind: &dyn Fn(usize) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                ExprPart::Sql(s) => out.push_str(s),
                ExprPart::Col(i) => {
                    let _ = write!(out, "{}", bind(*i));
                }
            }
        }
        out
    }

    /// Renders with columns bound to `alias."c<i>"`.
    pub fn render_on(&self, alias: &str) -> String {
        self.render(&|i| format!("{alias}.{}", crate::optree::col_name(i)))
    }

    /// Renumbers column references with `map`.
    pub fn remap(&self, map: &dyn Fn(usize) -> usize) -> Expr {
        Expr {
            parts: self
                .parts
                .iter()
                .map(|p| match p {
                    ExprPart::Col(i) => ExprPart::Col(map(*i)),
                    other => other.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_remap() {
        let mut e = Expr::sql("(");
        e.push_col(0);
        e.push_sql(" OPERATOR(pg_catalog.+) ");
        e.push_col(2);
        e.push_sql(")");
        assert_eq!(
            e.render_on("d"),
            r#"(d."c0" OPERATOR(pg_catalog.+) d."c2")"#
        );
        assert_eq!(e.columns(), vec![0, 2]);
        assert_eq!(
            e.remap(&|i| i + 3).render_on("x"),
            r#"(x."c3" OPERATOR(pg_catalog.+) x."c5")"#
        );
    }
}
