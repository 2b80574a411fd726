//! The reference docs say what the extension has: every GUC registered by the code is in
//! `docs/CONFIGURATION.md` and every `pg_trickle.*` name there is a GUC; every function and
//! view of schema `pgtrickle` (internal `_…` functions aside) is in `docs/SQL_REFERENCE.md`,
//! and every `pgtrickle.*` name there exists.

use std::collections::BTreeSet;

use pgt_testkit::cluster;

fn doc(name: &str) -> String {
    std::fs::read_to_string(format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("docs/{name}: {e}"))
}

/// Every `prefix` followed by an identifier in `text` (the identifier only).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `pg_trickle.*` names, not e.g. the `pgtrickle_changes` schema or a file name.
        let before_ok =
            i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        rest = &after[name.len()..];
        if !name.is_empty() && before_ok {
            out.insert(name);
        }
    }
    out
}

#[test]
fn every_guc_is_documented_and_every_documented_guc_exists() {
    let db = cluster().new_database();
    let mut c = db.client();
    let code: BTreeSet<String> = c
        .query(
            "SELECT substr(name, length('pg_trickle.') + 1) FROM pg_settings WHERE name LIKE 'pg\\_trickle.%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(code.len() >= 10, "{code:?}");
    let documented = names_after(&doc("CONFIGURATION.md"), "pg_trickle.");
    let undocumented: Vec<_> = code.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "GUCs missing from docs/CONFIGURATION.md: {undocumented:?}; documented but not registered: {unknown:?}"
    );
}

#[test]
fn every_function_and_view_is_documented_and_every_documented_name_exists() {
    let db = cluster().new_database();
    let mut c = db.client();
    let public: BTreeSet<String> = c
        .query(
            "SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.proname !~ '^_'
             UNION SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'pgtrickle'::regnamespace AND c.relkind = 'v'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let everything: BTreeSet<String> = c
        .query(
            "SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'pgtrickle'::regnamespace
             UNION SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'pgtrickle'::regnamespace
             UNION SELECT o.opcname::text FROM pg_opclass o WHERE o.opcnamespace = 'pgtrickle'::regnamespace",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let reference = doc("SQL_REFERENCE.md");
    let documented = names_after(&reference, "pgtrickle.");
    let undocumented: Vec<_> = public.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&everything).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "functions and views missing from docs/SQL_REFERENCE.md: {undocumented:?}; documented names that do not exist: {unknown:?}"
    );
}
