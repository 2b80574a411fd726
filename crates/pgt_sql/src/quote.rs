//! Quoting. Identifiers are always double-quoted (so keywords, mixed case, spaces and
//! quotes are all safe); literals are single-quoted, switching to `E''` syntax when a
//! backslash is present so the result is correct whatever `standard_conforming_strings` is.

use std::fmt;

/// Quotes an identifier: `my "table"` → `"my ""table"""`.
pub fn quote_ident(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for ch in ident.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Quotes a string literal: `it's` → `'it''s'`, `a\b` → `E'a\\b'`.
pub fn quote_literal(text: &str) -> String {
    let escape_backslash = text.contains('\\');
    let mut out = String::with_capacity(text.len() + 3);
    if escape_backslash {
        out.push('E');
    }
    out.push('\'');
    for ch in text.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' if escape_backslash => out.push_str("\\\\"),
            _ => out.push(ch),
        }
    }
    out.push('\'');
    out
}

/// A relation name, optionally schema-qualified; displays quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: Some(schema.into()),
            name: name.into(),
        }
    }

    pub fn unqualified(name: impl Into<String>) -> Self {
        QualifiedName {
            schema: None,
            name: name.into(),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{}.", quote_ident(schema))?;
        }
        f.write_str(&quote_ident(&self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn idents() {
        assert_eq!(quote_ident("t"), r#""t""#);
        assert_eq!(quote_ident("Order"), r#""Order""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(
            quote_ident(r#"x"; DROP TABLE y; --"#),
            r#""x""; DROP TABLE y; --""#
        );
        assert_eq!(
            QualifiedName::new("my schema", "t").to_string(),
            r#""my schema"."t""#
        );
    }

    #[test]
    fn literals() {
        assert_eq!(quote_literal("abc"), "'abc'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
        assert_eq!(quote_literal(r"'\'"), r"E'''\\'''");
    }

    /// Undo quote_ident the way PostgreSQL's scanner reads a quoted identifier.
    fn unquote_ident(q: &str) -> Option<String> {
        let inner = q.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            // A lone quote would end the identifier early.
            if c == '"' && chars.next() != Some('"') {
                return None;
            }
            out.push(c);
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn ident_round_trips(s in "\\PC{0,30}") {
            prop_assert_eq!(unquote_ident(&quote_ident(&s)), Some(s));
        }

        #[test]
        fn literal_has_no_unescaped_quote(s in "\\PC{0,30}") {
            let q = quote_literal(&s);
            let body = q.trim_start_matches('E');
            let inner = &body[1..body.len() - 1];
            // Every quote inside the literal is doubled.
            prop_assert!(!inner.replace("''", "").contains('\''));
        }
    }
}
