//! Relation names given as text (`'st'`, `'app.st'`, `'"My Table"'`), split and normalised
//! exactly as PostgreSQL reads an identifier:
//!
//! * unquoted parts are folded to lower case (ASCII letters, as PostgreSQL does in UTF-8
//!   databases) and may contain letters, digits, `_` and `$`, not starting with a digit or `$`;
//! * quoted parts keep their case, `""` stands for one `"`;
//! * blanks around parts and around the dot are ignored;
//! * a part longer than [`MAX_IDENTIFIER_BYTES`] is cut at a character boundary, and the
//!   caller reports PostgreSQL's NOTICE (`identifier "…" will be truncated to "…"`).
//!
//! One, two or three parts (`name`, `schema.name`, `database.schema.name`, as PostgreSQL
//! accepts them; the caller checks that the database is the current one) are a name;
//! anything else (empty, four parts, unbalanced quotes) is an [`CoreError::InvalidName`]
//! with the reason in its DETAIL.

use crate::CoreError;

/// NAMEDATALEN - 1: the longest identifier PostgreSQL stores.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A parsed relation name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationName {
    /// The database part of a three-part name.
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
    /// `(as given, as stored)` for every part that was truncated.
    pub truncated: Vec<(String, String)>,
}

/// Cuts `ident` to at most [`MAX_IDENTIFIER_BYTES`] bytes without splitting a character.
pub fn truncate_identifier(ident: &str) -> &str {
    if ident.len() <= MAX_IDENTIFIER_BYTES {
        return ident;
    }
    let mut end = MAX_IDENTIFIER_BYTES;
    while !ident.is_char_boundary(end) {
        end -= 1;
    }
    &ident[..end]
}

/// Parses `text` as `name`, `schema.name` or `database.schema.name`.
pub fn parse_relation_name(text: &str) -> Result<RelationName, CoreError> {
    let invalid = |reason: &str| CoreError::InvalidName {
        given: text.to_string(),
        reason: reason.to_string(),
    };
    let mut parts: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut part = String::new();
        match chars.peek() {
            None => {
                return Err(invalid(if parts.is_empty() {
                    "The name is empty."
                } else {
                    "A name part is missing after the dot."
                }))
            }
            Some('"') => {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(invalid("A quoted name part is not closed.")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        Some('"') => break,
                        Some(c) => part.push(c),
                    }
                }
                if part.is_empty() {
                    return Err(invalid("A quoted name part is empty."));
                }
            }
            Some(&c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() {
                        part.push(c.to_ascii_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            Some(&c) => {
                return Err(invalid(&format!(
                    "\"{c}\" cannot start a name part; quote the part if it is meant literally."
                )))
            }
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(c) => {
                return Err(invalid(&format!(
                    "Unexpected \"{c}\" after a name part; quote the part if it is meant literally."
                )))
            }
        }
    }
    let mut truncated = Vec::new();
    for p in parts.iter_mut() {
        let t = truncate_identifier(p);
        if t.len() < p.len() {
            let t = t.to_string();
            truncated.push((p.clone(), t.clone()));
            *p = t;
        }
    }
    match parts.len() {
        1 => Ok(RelationName {
            database: None,
            schema: None,
            name: parts.pop().expect("one part"),
            truncated,
        }),
        2 | 3 => {
            let name = parts.pop().expect("two parts");
            let schema = parts.pop();
            Ok(RelationName {
                database: parts.pop(),
                schema,
                name,
                truncated,
            })
        }
        n => Err(invalid(&format!(
            "It has {n} parts; a stream table is named name, schema.name or database.schema.name (in the current database)."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> (Option<String>, String) {
        let r = parse_relation_name(s).unwrap();
        (r.schema, r.name)
    }

    #[test]
    fn like_postgresql() {
        assert_eq!(ok("st"), (None, "st".into()));
        assert_eq!(ok("App.ST"), (Some("app".into()), "st".into()));
        assert_eq!(ok(" app . st "), (Some("app".into()), "st".into()));
        assert_eq!(ok(r#""My ""T"".x""#), (None, r#"My "T".x"#.into()));
        assert_eq!(ok(r#"public."St""#), (Some("public".into()), "St".into()));
        assert_eq!(ok("a$1_b"), (None, "a$1_b".into()));
        assert_eq!(ok("Über"), (None, "Über".into()));
        let three = parse_relation_name(r#"Shop."App".st"#).unwrap();
        assert_eq!(
            (
                three.database.as_deref(),
                three.schema.as_deref(),
                three.name.as_str()
            ),
            (Some("shop"), Some("App"), "st")
        );
        assert_eq!(parse_relation_name("app.st").unwrap().database, None);
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "  ",
            ".",
            "a.",
            ".a",
            "a..b",
            "a.b.c.d",
            "db.s.st.x",
            "a..b.c",
            "\"",
            "\"a",
            "\"\"",
            "1a",
            "$a",
            "a b",
            "a;b",
            "a-b",
            "a.\"\"",
            "a.b c",
        ] {
            assert!(
                matches!(parse_relation_name(bad), Err(CoreError::InvalidName { .. })),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn long_names_are_truncated_on_a_character_boundary() {
        let long = "x".repeat(70);
        let r = parse_relation_name(&long).unwrap();
        assert_eq!(r.name.len(), 63);
        assert_eq!(r.truncated, vec![(long.clone(), "x".repeat(63))]);
        // 'é' is two bytes: 31 of them are 62 bytes, a 32nd would make 64.
        let accents = "é".repeat(40);
        assert_eq!(truncate_identifier(&accents), "é".repeat(31));
    }

    proptest! {
        #[test]
        fn quoted_names_round_trip(s in "[^\u{0}]{1,40}") {
            let quoted = format!("\"{}\"", s.replace('"', "\"\""));
            let r = parse_relation_name(&format!("sch.{quoted}")).unwrap();
            prop_assert_eq!(r.schema.as_deref(), Some("sch"));
            prop_assert_eq!(r.name, truncate_identifier(&s).to_string());
        }
    }
}
