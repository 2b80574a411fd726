//! Runs the peer corpus `../shared/cases/pg_ivm_regression.sql` (format in its header):
//! for every case, the query is first created as a DIFFERENTIAL stream table. If that is
//! accepted, the stream table must equal the query after every DML step. If it is refused,
//! the refusal must be a clear `0A000` naming the construct, and the case is then run in
//! AUTO mode (FULL fallback), which must also match after every step. Counts are printed.
//!
//! The corpus is found through `PGT_CORPUS`, `<repo>/../shared/cases/…` or
//! `/work/shared/cases/…`.

use std::path::PathBuf;

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster, stream_table_diff};

#[derive(Default, Debug)]
struct Case {
    name: String,
    expect_reject: bool,
    known_bug: bool,
    setup: Vec<String>,
    query: String,
    dml: Vec<String>,
}

fn corpus_path() -> PathBuf {
    let candidates = [
        std::env::var_os("PGT_CORPUS").map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/pg_ivm_regression.sql"),
        ),
        Some(PathBuf::from("/work/shared/cases/pg_ivm_regression.sql")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("the pg_ivm corpus was not found; set PGT_CORPUS to its path")
}

fn parse(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    let mut section = "";
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- CASE ") {
            cur = Some(Case {
                name: name.trim().to_string(),
                ..Default::default()
            });
            section = "";
            continue;
        }
        let Some(case) = cur.as_mut() else { continue };
        match line.trim_end() {
            "-- SETUP" => section = "setup",
            "-- QUERY" => section = "query",
            "-- DML" => section = "dml",
            "-- END" => {
                case.query = case.query.trim().to_string();
                cases.push(cur.take().unwrap());
                section = "";
            }
            "-- EXPECT_REJECT" => case.expect_reject = true,
            l if l.starts_with("-- PG_IVM_KNOWN_BUG") => case.known_bug = true,
            l if l.starts_with("-- ") && section != "setup" => {}
            l => match section {
                "setup" => {
                    pending.push_str(l);
                    pending.push('\n');
                    if l.ends_with(';') {
                        case.setup.push(std::mem::take(&mut pending));
                    }
                }
                "query" => {
                    case.query.push_str(l);
                    case.query.push('\n');
                }
                "dml" if !l.trim().is_empty() => case.dml.push(l.to_string()),
                _ => {}
            },
        }
    }
    cases
}

enum Outcome {
    Differential,
    Refused(String),
}

/// Runs one case; returns how it was maintained, or a failure description.
fn run_case(c: &mut Client, case: &Case) -> Result<Outcome, String> {
    for stmt in &case.setup {
        c.batch_execute(stmt)
            .map_err(|e| format!("setup failed: {e:?}\n{stmt}"))?;
    }
    let st = format!("{}__st", case.name);
    let create = |mode: &str| {
        format!("SELECT pgtrickle.create_stream_table('{st}', $pgtq${}$pgtq$, schedule => '1h', refresh_mode => '{mode}')", case.query)
    };
    let outcome = match c.batch_execute(&create("DIFFERENTIAL")) {
        Ok(()) => Outcome::Differential,
        Err(e) => {
            let db = e.as_db_error().ok_or_else(|| format!("{e:?}"))?;
            if db.code() != &SqlState::FEATURE_NOT_SUPPORTED
                || !db.message().contains("incrementally")
                || db.detail().is_none()
            {
                return Err(format!(
                    "unclear refusal: {} {} ({:?})",
                    db.code().code(),
                    db.message(),
                    db.detail()
                ));
            }
            let reason = db.detail().unwrap_or_default().to_string();
            c.batch_execute(&create("AUTO"))
                .map_err(|e| format!("AUTO create failed: {e:?}"))?;
            Outcome::Refused(reason)
        }
    };
    check(c, &st, "after create")?;
    for (i, dml) in case.dml.iter().enumerate() {
        c.batch_execute(dml)
            .map_err(|e| format!("DML step {} failed: {e:?}\n{dml}", i + 1))?;
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .map_err(|e| format!("refresh after DML step {} failed: {e:?}", i + 1))?;
        check(c, &st, &format!("after DML step {} ({dml})", i + 1))?;
    }
    Ok(outcome)
}

fn check(c: &mut Client, st: &str, when: &str) -> Result<(), String> {
    let d = stream_table_diff(c, st);
    if d.extra_count == 0 && d.missing_count == 0 {
        Ok(())
    } else {
        Err(format!(
            "{when}: {} extra {:?}, {} missing {:?}",
            d.extra_count, d.extra, d.missing_count, d.missing
        ))
    }
}

#[test]
fn pg_ivm_corpus() {
    let text = std::fs::read_to_string(corpus_path()).unwrap();
    let cases = parse(&text);
    assert!(cases.len() >= 100, "parsed only {} cases", cases.len());
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("SET pg_trickle.differential_max_change_ratio = 0")
        .unwrap();
    let (mut differential, mut refused, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for case in &cases {
        match run_case(&mut c, case) {
            Ok(Outcome::Differential) => differential.push(case.name.clone()),
            Ok(Outcome::Refused(reason)) => refused.push(format!("{}: {reason}", case.name)),
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    let known_bugs = cases.iter().filter(|c| c.known_bug).count();
    let rejected_by_peer = cases.iter().filter(|c| c.expect_reject).count();
    let peer_rejects_we_maintain = cases
        .iter()
        .filter(|c| c.expect_reject && differential.contains(&c.name))
        .count();
    println!(
        "pg_ivm corpus: {} cases; {} maintained incrementally (DIFFERENTIAL), {} refused for DIFFERENTIAL with a clear reason \
         and maintained correctly in AUTO (FULL); {} failures.\n\
         Of {} cases the peer rejects, {} are maintained incrementally here; all {} cases marked PG_IVM_KNOWN_BUG were checked.",
        cases.len(),
        differential.len(),
        refused.len(),
        failures.len(),
        rejected_by_peer,
        peer_rejects_we_maintain,
        known_bugs
    );
    println!("refused for DIFFERENTIAL:\n  {}", refused.join("\n  "));
    assert!(
        failures.is_empty(),
        "{} corpus case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
