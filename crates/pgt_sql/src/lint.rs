//! A check that generated SQL resolves no function or operator through `search_path`
//! (ADR-074). Refreshes also pin `search_path = pg_catalog, pg_temp`; this is the second,
//! independent line: every operator is spelled `OPERATOR(schema.op)`, every function is
//! schema-qualified, and the constructs that look up `=` or `<` by name (`IN (…)`,
//! `IS [NOT] DISTINCT FROM`, `BETWEEN`, `LIKE`) do not appear.
//!
//! [`unqualified`] is used by the golden tests of the DVM engine and the unit tests of
//! every statement builder. It tokenizes (string literals, quoted identifiers and dollar
//! quotes are skipped) and reports each offending token with a little context.

/// Words that may stand before `(` without being a function call.
const KEYWORDS_BEFORE_PAREN: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "by",
    "coalesce",
    "distinct",
    "else",
    "exists",
    "filter",
    "from",
    "greatest",
    "insert",
    "into",
    "join",
    "lateral",
    "least",
    "limit",
    "materialized",
    "merge_action",
    "not",
    "nullif",
    "on",
    "or",
    "offset",
    "over",
    "row",
    "select",
    "then",
    "using",
    "values",
    "when",
    "where",
    "with",
    "having",
    "case",
];

/// Words after which a `-` is a sign, not a subtraction.
const KEYWORDS_BEFORE_VALUE: &[&str] = &[
    "and", "else", "or", "not", "select", "then", "when", "where", "return", "by", "values",
];

/// Name-resolved constructs that must not appear at all.
const FORBIDDEN_WORD_SEQUENCES: &[&[&str]] = &[
    &["in", "("],
    &["is", "distinct"],
    &["is", "not", "distinct"],
    &["between"],
    &["like"],
    &["ilike"],
    &["similar"],
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted,
    Number,
    Op(String),
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let c: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '\'' {
            i += 1;
            while i < c.len() {
                if c[i] == '\'' && c.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if c[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push(Tok::Quoted);
        } else if ch == '"' {
            i += 1;
            while i < c.len() {
                if c[i] == '"' && c.get(i + 1) == Some(&'"') {
                    i += 2;
                } else if c[i] == '"' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push(Tok::Word("\"".into()));
        } else if ch == '$' && !matches!(out.last(), Some(Tok::Word(_))) {
            // $tag$ … $tag$
            let start = i;
            let mut j = i + 1;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            if j < c.len() && c[j] == '$' {
                let tag: String = c[start..=j].iter().collect();
                let rest: String = c[j + 1..].iter().collect();
                match rest.find(&tag) {
                    Some(end) => i = j + 1 + rest[..end].chars().count() + tag.chars().count(),
                    None => i = c.len(),
                }
                out.push(Tok::Quoted);
            } else {
                i = j;
                out.push(Tok::Number);
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Number);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(
                c[start..i].iter().collect::<String>().to_ascii_lowercase(),
            ));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Punct(':'));
            i += 2;
        } else if "+-*/<>=~!@#%^&|`?".contains(ch) {
            let start = i;
            while i < c.len() && "+-*/<>=~!@#%^&|`?".contains(c[i]) {
                i += 1;
            }
            out.push(Tok::Op(c[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The places where `sql` relies on `search_path` for a function or operator.
pub fn unqualified(sql: &str) -> Vec<String> {
    let t = tokenize(sql);
    let mut found = Vec::new();
    let ctx = |i: usize| -> String {
        t[i.saturating_sub(3)..(i + 3).min(t.len())]
            .iter()
            .map(|x| match x {
                Tok::Word(w) => w.clone(),
                Tok::Quoted => "'…'".into(),
                Tok::Number => "N".into(),
                Tok::Op(o) => o.clone(),
                Tok::Punct(p) => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let word = |i: usize| match t.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut in_set_list = false;
    // (parentheses, CASE) nesting now, and where the current SET list started: only an
    // `=` at that level is an assignment.
    let mut depth: (i64, i64) = (0, 0);
    let mut set_depth: (i64, i64) = (0, 0);
    // Index of the `)` that closed the last OPERATOR(...), which is an operator position.
    let mut operator_end = usize::MAX;
    let mut i = 0;
    while i < t.len() {
        // OPERATOR(schema.op) is the qualified spelling.
        if word(i) == Some("operator") && t.get(i + 1) == Some(&Tok::Punct('(')) {
            if !(matches!(t.get(i + 2), Some(Tok::Word(_)))
                && t.get(i + 3) == Some(&Tok::Punct('.')))
            {
                found.push(format!("OPERATOR without a schema: {}", ctx(i)));
            }
            while i < t.len() && t[i] != Tok::Punct(')') {
                i += 1;
            }
            operator_end = i;
            i += 1;
            continue;
        }
        match &t[i] {
            Tok::Punct('(') => depth.0 += 1,
            Tok::Punct(')') => depth.0 -= 1,
            _ => {}
        }
        match word(i) {
            Some("case") => depth.1 += 1,
            Some("end") => depth.1 -= 1,
            Some("set") => {
                in_set_list = true;
                set_depth = depth;
            }
            // Inside a CASE or parentheses of an assigned value, WHEN and FROM belong to it.
            Some("when" | "where" | "returning" | "from") if depth == set_depth => {
                in_set_list = false
            }
            _ => {}
        }
        for seq in FORBIDDEN_WORD_SEQUENCES {
            let hit = seq.iter().enumerate().all(|(k, s)| match t.get(i + k) {
                Some(Tok::Word(w)) => w == s,
                Some(Tok::Punct(p)) => s.len() == 1 && s.starts_with(*p),
                _ => false,
            });
            if hit {
                found.push(format!(
                    "name-resolved comparison `{}`: {}",
                    seq.join(" "),
                    ctx(i)
                ));
            }
        }
        match &t[i] {
            Tok::Word(w) if t.get(i + 1) == Some(&Tok::Punct('(')) => {
                let qualified = i > 0 && t[i - 1] == Tok::Punct('.');
                let after_cast = i > 0 && t[i - 1] == Tok::Punct(':');
                if !qualified
                    && !after_cast
                    && w != "\""
                    && !KEYWORDS_BEFORE_PAREN.contains(&w.as_str())
                {
                    found.push(format!("unqualified function {w}(): {}", ctx(i)));
                }
            }
            Tok::Op(op) => {
                let prev = i.checked_sub(1).map(|p| &t[p]);
                let next = t.get(i + 1);
                let star = op == "*"
                    && (matches!(prev, Some(Tok::Punct('(' | '.' | ',')))
                        || matches!(prev, Some(Tok::Word(w)) if w == "select")
                        || matches!(next, Some(Tok::Word(w)) if w == "from"));
                let assignment = op == "=" && in_set_list && depth == set_depth;
                // "-1": the grammar folds a minus sign into a numeric constant.
                let operand_before = match prev {
                    Some(Tok::Word(w)) => !KEYWORDS_BEFORE_VALUE.contains(&w.as_str()),
                    Some(Tok::Punct(')')) => i - 1 != operator_end,
                    Some(Tok::Number | Tok::Quoted) => true,
                    _ => false,
                };
                let negative_constant =
                    op == "-" && matches!(next, Some(Tok::Number)) && !operand_before;
                if !star && !assignment && !negative_constant {
                    found.push(format!("bare operator {op}: {}", ctx(i)));
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_qualified_sql() {
        let ok = "SELECT pg_catalog.count(*), x.*, coalesce(pg_catalog.sum(a.b), 0) FROM t AS x \
                  WHERE x.a OPERATOR(pg_catalog.=) 'a=b' AND x.b OPERATOR(pg_catalog.=) ANY (ARRAY[1, -1]) \
                  AND \"we=ird\"(1) IS NULL AND CASE WHEN x THEN 1 ELSE -1 END OPERATOR(pg_catalog.>=) -1";
        assert_eq!(unqualified(ok), Vec::<String>::new());
        let merge = "MERGE INTO t USING s ON t.id OPERATOR(pg_catalog.=) s.id WHEN MATCHED THEN UPDATE SET a = s.a, b = s.b \
                     WHEN NOT MATCHED THEN INSERT (a) VALUES (s.a) RETURNING merge_action() AS a";
        assert_eq!(unqualified(merge), Vec::<String>::new());
        // A CASE (with its WHEN) or a subquery inside an assigned value does not end the list.
        let set_case = "MERGE INTO t USING s ON t.id OPERATOR(pg_catalog.=) s.id WHEN MATCHED THEN UPDATE SET \
                        a = CASE WHEN s.n OPERATOR(pg_catalog.=) 0 THEN NULL ELSE s.a END, b = (SELECT 1 FROM u WHERE u.x OPERATOR(pg_catalog.=) 1), c = s.c";
        assert_eq!(unqualified(set_case), Vec::<String>::new());
    }

    #[test]
    fn finds_what_resolves_by_name() {
        for bad in [
            "SELECT count(*) FROM t",
            "SELECT 1 FROM t WHERE a = b",
            "UPDATE t SET a = CASE WHEN b = 1 THEN 1 END",
            "UPDATE t SET a = (SELECT 1 FROM u WHERE u.x = 1)",
            "SELECT a + 1 FROM t",
            "SELECT -(a) FROM t",
            "SELECT 1 FROM t WHERE a IN (SELECT 1)",
            "SELECT a IS DISTINCT FROM b",
            "SELECT a IS NOT DISTINCT FROM b",
            "SELECT 1 WHERE a BETWEEN 1 AND 2",
            "SELECT 1 WHERE a LIKE 'x'",
            "SELECT OPERATOR(=) 1",
            "SELECT a <> b",
            "SELECT a * b",
            "SELECT a -1",
            "SELECT (a) - 1",
        ] {
            assert!(!unqualified(bad).is_empty(), "{bad}");
        }
    }
}
