//! Golden tests: for each operator, a hand-built operator tree, the DIFFERENTIAL refresh
//! statement and the FULL statement the driver emits, kept in `tests/golden/<name>.sql`
//! for review. Regenerate with `PGT_UPDATE_GOLDEN=1 cargo test -p pgt_dvm --test golden`.

use std::path::PathBuf;

use pgt_dvm::driver::{differential_statement, full_statement, storage_spec};
use pgt_dvm::{AggCall, AggKind, Column, Expr, OpTree};
use pgt_sql::QualifiedName;

fn col(name: &str, ty: &str) -> Column {
    Column {
        name: name.into(),
        type_sql: ty.into(),
        exact_equality: ty != "double precision",
        binary_identity: true,
        canonical: None,
    }
}

fn orders() -> OpTree {
    OpTree::scan(
        16384,
        QualifiedName::new("public", "orders"),
        vec![
            col("id", "integer"),
            col("customer_id", "integer"),
            col("amount", "numeric(10,2)"),
        ],
    )
}

fn customers() -> OpTree {
    OpTree::scan(
        16390,
        QualifiedName::new("public", "customers"),
        vec![col("id", "integer"), col("region", "text")],
    )
}

/// `e` with column placeholders written as `$0`, `$1`, … .
fn ex(text: &str) -> Expr {
    let mut e = Expr::default();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        e.push_sql(&rest[..i]);
        let digits: String = rest[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        e.push_col(digits.parse().unwrap());
        rest = &rest[i + 1 + digits.len()..];
    }
    e.push_sql(rest);
    e
}

fn project(input: OpTree, cols: &[(&str, &str, &str)]) -> OpTree {
    OpTree::project(
        input,
        cols.iter().map(|(_, _, e)| ex(e)).collect(),
        cols.iter().map(|(n, t, _)| col(n, t)).collect(),
    )
}

fn render(tree: &OpTree) -> String {
    let target = QualifiedName::new("public", "st");
    let mut visible: Vec<String> = tree.columns().iter().map(|c| c.name.clone()).collect();
    if let OpTree::TopK(k) = tree {
        visible.truncate(visible.len() - k.sort_only);
    }
    let frontier = |oid: u32| {
        format!("NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of {oid}>'::pg_catalog.pg_snapshot)")
    };
    let spec = storage_spec(tree, &target).expect("maintainable");
    // Groupings below the top keep stored states, as in a real refresh.
    let states = pgt_dvm::state::StateTables::for_storage(1);
    let delta_for = |server: &dyn pgt_sql::server_functions::ServerFunctions| {
        pgt_dvm::driver::differential_statement_for(
            tree,
            &target,
            &visible,
            &frontier,
            &Default::default(),
            Some(&states),
            server,
        )
        .unwrap()
    };
    let delta = || delta_for(&pgt_sql::server_functions::Extension);
    let state_tables: Vec<String> =
        pgt_dvm::state::state_tables(tree, &states, &pgt_sql::server_functions::Extension)
            .unwrap()
            .into_iter()
            .flat_map(|t| t.ddl)
            .collect();
    // No function or operator in the generated statements resolves through search_path.
    for sql in [
        delta(),
        full_statement(
            tree,
            &target,
            &visible,
            Some(&states),
            &pgt_sql::server_functions::Extension,
        )
        .unwrap(),
    ]
    .into_iter()
    .chain(
        state_tables
            .iter()
            .filter(|d| d.starts_with("CREATE"))
            .cloned(),
    ) {
        let found = pgt_sql::lint::unqualified(&sql);
        assert!(
            found.is_empty(),
            "unqualified names in generated SQL: {found:#?}\n{sql}"
        );
    }
    // On a server without the extension (ADR-077), the same statements call only the
    // functions of the engine's own schema; they are the same statements otherwise.
    let plain = pgt_sql::server_functions::PlainSql {
        schema: "pgt_engine".into(),
        quiet_message: "quiet source changed".into(),
    };
    let plain_delta = delta_for(&plain);
    let plain_full = full_statement(tree, &target, &visible, Some(&states), &plain).unwrap();
    let plain_states: Vec<String> = pgt_dvm::state::state_tables(tree, &states, &plain)
        .unwrap()
        .into_iter()
        .flat_map(|t| t.ddl)
        .collect();
    for sql in [plain_delta.clone(), plain_full]
        .into_iter()
        .chain(plain_states.into_iter().filter(|d| d.starts_with("CREATE")))
    {
        assert!(
            !sql.replace("pgtrickle_changes.", "").contains("pgtrickle."),
            "an extension function in SQL generated for a server without it:\n{sql}"
        );
        let found = pgt_sql::lint::unqualified(&sql);
        assert!(found.is_empty(), "unqualified names: {found:#?}\n{sql}");
    }
    let normalized = plain_delta
        .replace("\"pgt_engine\".\"changes_", "pgtrickle_changes.\"changes_")
        .replace("\"pgt_engine\".\"row_hash\"(", "pgtrickle.pg_trickle_hash(")
        .replace(
            "\"pgt_engine\".\"text_hash\"(",
            "pgtrickle.pg_trickle_hash(",
        )
        .replace(
            "\"pgt_engine\".\"hash_combine\"(",
            "pgtrickle.pg_trickle_hash_combine(",
        )
        .replace("\"pgt_engine\".\"check\"(", "pgtrickle._pgt_check(")
        .replace(
            "\"pgt_engine\".\"single_row_check\"(",
            "pgtrickle._pgt_single_row_check(",
        )
        .replace(
            "\"pgt_engine\".\"quiet_check\"(",
            "pgtrickle._pgt_quiet_check(",
        );
    assert_eq!(
        normalized,
        delta(),
        "the statements differ in more than the functions"
    );
    let pretty = |sql: String| {
        sql.replace(", __pgt_", ",\n  __pgt_")
            .replace(" UNION ALL ", "\n    UNION ALL ")
    };
    let states_note = if state_tables.is_empty() {
        String::new()
    } else {
        format!("-- state tables: {state_tables:#?}\n")
    };
    format!(
        "-- hidden columns: {:?}\n-- extra DDL: {:?}\n{states_note}\n-- differential\n{}\n\n-- full\n{}\n",
        spec.hidden_columns,
        spec.extra_ddl,
        pretty(delta()),
        pretty(full_statement(tree, &target, &visible, Some(&states), &pgt_sql::server_functions::Extension).unwrap())
    )
}

fn golden(name: &str, tree: OpTree) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.sql"));
    let actual = format!("-- tree\n{tree:#?}\n\n{}", render(&tree));
    if std::env::var("PGT_UPDATE_GOLDEN").as_deref() == Ok("1") || !path.exists() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "golden file {} differs; rerun with PGT_UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

#[test]
fn scan() {
    golden(
        "scan",
        project(
            orders(),
            &[("id", "integer", "$0"), ("amount", "numeric(10,2)", "$2")],
        ),
    );
}

#[test]
fn filter() {
    golden(
        "filter",
        project(
            OpTree::filter(orders(), ex("($2 OPERATOR(pg_catalog.>) '10'::numeric)")),
            &[("id", "integer", "$0")],
        ),
    );
}

/// A predicate that cannot fail is evaluated on the buffered versions before they are
/// consolidated (inside the filtered scan delta); `filter` above keeps it after.
#[test]
fn filter_error_free() {
    golden(
        "filter_error_free",
        project(
            OpTree::filter(orders(), ex("($2 OPERATOR(pg_catalog.>) '10'::numeric)"))
                .with_error_free(true),
            &[("id", "integer", "$0")],
        ),
    );
}

#[test]
fn project_expressions() {
    golden(
        "project",
        project(orders(), &[("size", "text", "(CASE WHEN ($2 OPERATOR(pg_catalog.>) '10'::numeric) THEN 'big'::text ELSE 'small'::text END)")]),
    );
}

#[test]
fn inner_join() {
    let j = OpTree::join(
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
    );
    golden(
        "join",
        project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]),
    );
}

/// An error-free condition: both scans are read as buffered (`__pgt_buffered_delta_*`),
/// and only the join's output is consolidated.
#[test]
fn join_with_error_free_condition() {
    let j = OpTree::join(
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
    )
    .with_error_free_condition(true);
    golden(
        "join_error_free",
        project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]),
    );
}

#[test]
fn union_all() {
    let a = project(orders(), &[("x", "integer", "$0")]);
    let b = project(customers(), &[("x", "integer", "$0")]);
    golden(
        "union_all",
        project(OpTree::union_all(vec![a, b]), &[("x", "integer", "$0")]),
    );
}

#[test]
fn aggregate() {
    let j = OpTree::join(
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
    );
    let aggs = vec![
        AggCall {
            kind: AggKind::CountStar,
            arg: None,
            call: ex("pg_catalog.count(*)"),
            result_type: "bigint".into(),
            tracks_scale: false,
        },
        AggCall {
            kind: AggKind::Sum,
            arg: Some(ex("$2")),
            call: ex("pg_catalog.sum($2)"),
            result_type: "numeric".into(),
            tracks_scale: false,
        },
        AggCall {
            kind: AggKind::Max,
            arg: Some(ex("$2")),
            call: ex("pg_catalog.max($2)"),
            result_type: "numeric".into(),
            tracks_scale: false,
        },
    ];
    let agg = OpTree::aggregate(j, vec![ex("$4")], vec![col("region", "text")], aggs);
    golden(
        "aggregate",
        project(
            agg,
            &[
                ("region", "text", "$0"),
                ("orders", "bigint", "$1"),
                ("revenue", "numeric", "$2"),
                ("biggest", "numeric", "$3"),
            ],
        ),
    );
}

/// Grouped and all algebraic: the delta is added to the stored states inside the MERGE
/// (no join to the storage before it); plain numeric keeps a scale histogram, and only a
/// group losing a NaN, ±Infinity or over-cap input is recomputed.
#[test]
fn aggregate_in_place() {
    let aggs = vec![
        AggCall {
            kind: AggKind::CountStar,
            arg: None,
            call: ex("pg_catalog.count(*)"),
            result_type: "bigint".into(),
            tracks_scale: false,
        },
        AggCall {
            kind: AggKind::Sum,
            arg: Some(ex("$2")),
            call: ex("pg_catalog.sum($2)"),
            result_type: "numeric".into(),
            tracks_scale: true,
        },
        AggCall {
            kind: AggKind::Avg,
            arg: Some(ex("$2")),
            call: ex("pg_catalog.avg($2)"),
            result_type: "numeric".into(),
            tracks_scale: true,
        },
    ];
    let agg = OpTree::aggregate(
        orders(),
        vec![ex("$1")],
        vec![col("customer_id", "integer")],
        aggs,
    );
    golden(
        "aggregate_in_place",
        project(
            agg,
            &[
                ("customer_id", "integer", "$0"),
                ("n", "bigint", "$1"),
                ("total", "numeric", "$2"),
                ("mean", "numeric", "$3"),
            ],
        ),
    );
}

#[test]
fn aggregate_having() {
    let aggs = vec![AggCall {
        kind: AggKind::CountStar,
        arg: None,
        call: ex("pg_catalog.count(*)"),
        result_type: "bigint".into(),
        tracks_scale: false,
    }];
    let agg = OpTree::aggregate(
        orders(),
        vec![ex("$1")],
        vec![col("customer_id", "integer")],
        aggs,
    );
    let having = OpTree::filter(agg, ex("($1 OPERATOR(pg_catalog.>) '1'::bigint)"));
    golden(
        "aggregate_having",
        project(
            having,
            &[("customer_id", "integer", "$0"), ("n", "bigint", "$1")],
        ),
    );
}

#[test]
fn distinct() {
    golden(
        "distinct",
        OpTree::distinct(project(orders(), &[("customer_id", "integer", "$1")])),
    );
}

/// `ORDER BY amount DESC NULLS FIRST, id LIMIT 10`: the kept rows and the delta ranked
/// together, and the window read again (gated) only when members left.
#[test]
fn top_k() {
    use pgt_dvm::operators::top_k::SortKey;
    let key = |column: usize, op: &str, nulls_first: bool| SortKey {
        column,
        operator: format!("OPERATOR(pg_catalog.{op})"),
        collation: None,
        nulls_first,
    };
    golden(
        "top_k",
        OpTree::top_k(
            project(
                orders(),
                &[("id", "integer", "$0"), ("amount", "numeric(10,2)", "$2")],
            ),
            vec![key(1, ">", true), key(0, "<", false)],
            10,
            0,
        ),
    );
}

/// `SELECT id, amount … ORDER BY customer_id DESC, id LIMIT 5`: the ORDER BY column the
/// query does not select is the input's last column, stored in `__pgt_sort0`.
#[test]
fn top_k_sort_only() {
    use pgt_dvm::operators::top_k::SortKey;
    let key = |column: usize, op: &str| SortKey {
        column,
        operator: format!("OPERATOR(pg_catalog.{op})"),
        collation: None,
        nulls_first: false,
    };
    golden(
        "top_k_sort_only",
        OpTree::top_k(
            project(
                orders(),
                &[
                    ("id", "integer", "$0"),
                    ("amount", "numeric(10,2)", "$2"),
                    ("customer_id", "integer", "$1"),
                ],
            ),
            vec![key(2, ">"), key(0, "<")],
            5,
            0,
        )
        .with_sort_only(1),
    );
}

#[test]
fn shared_cte() {
    let t = std::rc::Rc::new(project(
        orders(),
        &[("id", "integer", "$0"), ("customer_id", "integer", "$1")],
    ));
    let j = OpTree::join(
        OpTree::shared(1, t.clone()),
        OpTree::shared(1, t),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
    );
    golden(
        "shared_cte",
        project(j, &[("a", "integer", "$0"), ("b", "integer", "$2")]),
    );
}

#[test]
fn refusals_name_the_construct() {
    let float_key = OpTree::distinct(project(
        orders(),
        &[("f", "double precision", "($2)::double precision")],
    ));
    let err = storage_spec(&float_key, &QualifiedName::new("public", "st"))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("DISTINCT on column \"f\" of type double precision"),
        "{err}"
    );
    // Below the top, DISTINCT finds its affected rows by identity too.
    let nested = OpTree::filter(
        OpTree::distinct(project(
            orders(),
            &[("f", "double precision", "($2)::double precision")],
        )),
        ex("$0 IS NOT NULL"),
    );
    let target = QualifiedName::new("public", "st");
    let visible = vec!["f".to_string()];
    let frontier = |_: u32| "true".to_string();
    let err = differential_statement(
        &nested,
        &target,
        &visible,
        &frontier,
        &pgt_sql::server_functions::Extension,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains(
            "DISTINCT below the top of the query on column \"f\" of type double precision"
        ),
        "{err}"
    );
}

#[test]
fn keyed_join() {
    // orders.id is orders' primary key; customers.id, customers' primary key, is equated
    // with orders.customer_id, so every order meets at most one customer: rows stay unique
    // by orders.id and are stored keyed (in-place updates, no occurrence counting).
    let o = OpTree::scan_keyed(
        16384,
        QualifiedName::new("public", "orders"),
        vec![
            col("id", "integer"),
            col("customer_id", "integer"),
            col("amount", "numeric(10,2)"),
        ],
        Some(vec![0]),
    );
    let c = OpTree::scan_keyed(
        16390,
        QualifiedName::new("public", "customers"),
        vec![col("id", "integer"), col("region", "text")],
        Some(vec![0]),
    );
    let j = OpTree::join_equi(
        o,
        c,
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
        vec![(1, 0)],
    );
    let top = project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]);
    assert_eq!(
        pgt_dvm::storage::TopShape::of(&top)
            .ok()
            .map(|s| s.hidden_columns()),
        Some(vec![])
    );
    golden("keyed_join", top);
}

/// Delta statements of an n-way join grow linearly with n: each input's delta and each
/// join's current value are written once and referenced by name, never expanded into
/// every combination of delta terms.
#[test]
fn join_chains_grow_linearly() {
    let chain = |n: usize| {
        let mut t = orders();
        for i in 1..n {
            let width = t.columns().len();
            t = OpTree::join(
                t,
                OpTree::scan(
                    20000 + i as u32,
                    QualifiedName::new("public", format!("t{i}")),
                    vec![col("id", "integer"), col("v", "integer")],
                ),
                Some(ex(&format!("($0 OPERATOR(pg_catalog.=) ${width})"))),
            );
        }
        let width = t.columns().len();
        let t = project(
            t,
            &[
                ("id", "integer", "$0"),
                ("v", "integer", &format!("${}", width - 1)),
            ],
        );
        let target = QualifiedName::new("public", "st");
        let frontier = |_oid: u32| "true".to_string();
        differential_statement(
            &t,
            &target,
            &["id".into(), "v".into()],
            &frontier,
            &pgt_sql::server_functions::Extension,
        )
        .unwrap()
        .len()
    };
    let sizes: Vec<usize> = [2, 4, 8, 16].iter().map(|&n| chain(n)).collect();
    eprintln!("delta statement sizes for 2/4/8/16-way joins: {sizes:?}");
}

/// `orders ⋈ customers` on the customer key (an equi-join the frontend would mark), projected
/// to `id, region`.
fn orders_join_customers() -> OpTree {
    let j = OpTree::join_equi(
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
        vec![(1, 0)],
    );
    project(j, &[("id", "integer", "$0"), ("region", "text", "$4")])
}

/// With many pending changes on a delta side, a single table joined to it on its key is not
/// restricted by an `= ANY (ARRAY(…))` of the delta's keys (PostgreSQL would re-sort that
/// array at every index probe); with few, it is (so a stale estimate never turns the table's
/// read into a sequential scan). Join chains keep the restriction either way.
#[test]
fn large_deltas_join_single_tables_without_key_arrays() {
    use pgt_dvm::driver::{differential_statement_for, PendingShape};
    let t = orders_join_customers();
    let target = QualifiedName::new("public", "st");
    let frontier = |_oid: u32| "true".to_string();
    let visible = ["id".to_string(), "region".to_string()];
    let arrays = |shape: &PendingShape| {
        differential_statement_for(
            &t,
            &target,
            &visible,
            &frontier,
            shape,
            None,
            &pgt_sql::server_functions::Extension,
        )
        .unwrap()
        .matches("ANY (ARRAY(SELECT")
        .count()
    };
    assert_eq!(arrays(&PendingShape::default()), 2);
    let large = PendingShape {
        large: vec![16384],
        ..PendingShape::default()
    };
    assert_eq!(
        arrays(&large),
        1,
        "customers unrestricted; orders still restricted by the customer delta"
    );
    let both = PendingShape {
        large: vec![16384, 16390],
        ..PendingShape::default()
    };
    assert_eq!(arrays(&both), 0);
}

/// With `omit_quiet`, the terms of a quiet source are left out (its buffer is not read for
/// a delta at all) and the statement checks at its snapshot that the source is still quiet.
#[test]
fn quiet_sources_can_be_left_out_and_checked() {
    use pgt_dvm::driver::{differential_statement_for, PendingShape};
    let t = orders_join_customers();
    let target = QualifiedName::new("public", "st");
    let frontier = |oid: u32| format!("<frontier of {oid}>");
    let visible = ["id".to_string(), "region".to_string()];
    let gated = PendingShape {
        quiet: vec![16390],
        ..PendingShape::default()
    };
    let sql = differential_statement_for(
        &t,
        &target,
        &visible,
        &frontier,
        &gated,
        None,
        &pgt_sql::server_functions::Extension,
    )
    .unwrap();
    assert!(
        sql.contains("changes_16390\" AS b WHERE <frontier of 16390>"),
        "{sql}"
    );
    assert!(!sql.contains("_pgt_quiet_check"), "{sql}");
    let omitted = PendingShape {
        omit_quiet: true,
        ..gated
    };
    let sql = differential_statement_for(
        &t,
        &target,
        &visible,
        &frontier,
        &omitted,
        None,
        &pgt_sql::server_functions::Extension,
    )
    .unwrap();
    assert!(
        sql.contains("pgtrickle._pgt_quiet_check(NOT (SELECT EXISTS (SELECT 1 FROM pgtrickle_changes.\"changes_16390\" AS b WHERE <frontier of 16390>)))"),
        "{sql}"
    );
    // The customers buffer is read only by that check.
    assert_eq!(sql.matches("changes_16390").count(), 1, "{sql}");
}

/// `orders LEFT JOIN customers ON orders.customer_id = customers.id`: the inner join's terms
/// plus the NULL-extended rows of orders that lose their last or gain their first match
/// (T2 from the orders delta, T3 from the customers delta). Every order yields one row, so
/// the result stays keyed by orders.id.
#[test]
fn left_join() {
    let o = OpTree::scan_keyed(
        16384,
        QualifiedName::new("public", "orders"),
        vec![
            col("id", "integer"),
            col("customer_id", "integer"),
            col("amount", "numeric(10,2)"),
        ],
        Some(vec![0]),
    );
    let c = OpTree::scan_keyed(
        16390,
        QualifiedName::new("public", "customers"),
        vec![col("id", "integer"), col("region", "text")],
        Some(vec![0]),
    );
    let j = OpTree::outer_join(
        pgt_dvm::operators::outer_join::OuterKind::Left,
        o,
        c,
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
        vec![(1, 0)],
        true,
    );
    let top = project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]);
    assert_eq!(
        pgt_dvm::storage::TopShape::of(&top)
            .ok()
            .map(|s| s.hidden_columns()),
        Some(vec![])
    );
    golden("left_join", top);
}

/// A correlated scalar subquery without a unique key under its correlation is a LEFT
/// join with at most one match per left row: its current state counts each left row's
/// joined rows, and its delta checks the rows whose match count may have grown (SQLSTATE
/// 21000 otherwise, as the query raises).
#[test]
fn left_join_single_match() {
    let j = OpTree::outer_join(
        pgt_dvm::operators::outer_join::OuterKind::Left,
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
        vec![(1, 0)],
        true,
    )
    .with_single_match();
    golden(
        "left_join_single_match",
        project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]),
    );
}

/// A FULL join keeps the unmatched rows of both sides: anti-join terms for each, and no
/// key (NULL-extended rows have NULL keys), so it is stored as a bag.
#[test]
fn full_join() {
    let j = OpTree::outer_join(
        pgt_dvm::operators::outer_join::OuterKind::Full,
        orders(),
        customers(),
        Some(ex("($1 OPERATOR(pg_catalog.=) $3)")),
        vec![(1, 0)],
        false,
    );
    golden(
        "full_join",
        project(j, &[("id", "integer", "$0"), ("region", "text", "$4")]),
    );
}

/// `orders WHERE customer_id NOT IN (SELECT id FROM customers)`: an anti-join on
/// `(customer_id = id) IS NOT FALSE`, so a NULL on either side removes the row as NOT IN
/// does; no equated pair, so the candidates of T3 come from an EXISTS over the delta.
#[test]
fn anti_join() {
    let j = OpTree::semi_join(
        true,
        orders(),
        customers(),
        ex("((($1 OPERATOR(pg_catalog.=) $3)) IS NOT FALSE)"),
        vec![],
        false,
    );
    golden("anti_join", project(j, &[("id", "integer", "$0")]));
}

/// `SELECT region, count(*) FROM (SELECT customer_id, sum(amount) AS s FROM orders GROUP
/// BY customer_id) …`: the inner aggregate has no storage; its delta recomputes the
/// affected customers' groups before (old rows = current − delta) and after.
#[test]
fn aggregate_below_the_top() {
    let sum = AggCall {
        kind: AggKind::Sum,
        arg: Some(ex("$2")),
        call: ex("pg_catalog.sum($2)"),
        result_type: "numeric".into(),
        tracks_scale: false,
    };
    let inner = OpTree::aggregate(
        orders(),
        vec![ex("$1")],
        vec![col("customer_id", "integer")],
        vec![sum],
    );
    let count = AggCall {
        kind: AggKind::CountStar,
        arg: None,
        call: ex("pg_catalog.count(*)"),
        result_type: "bigint".into(),
        tracks_scale: false,
    };
    let outer = OpTree::aggregate(
        inner,
        vec![ex("($1 OPERATOR(pg_catalog.>) 100)")],
        vec![col("big", "boolean")],
        vec![count],
    );
    golden(
        "aggregate_below_top",
        project(outer, &[("big", "boolean", "$0"), ("n", "bigint", "$1")]),
    );
}

/// A join with an error-free condition whose delta comes from one side only (the other
/// side's source is quiet and left out) hands its consumer that side's versions joined to
/// the other side, unconsolidated: the consumer (here the bag storage's apply step, which
/// sums the weights per row id) nets them. With deltas on both sides, the join's output is
/// consolidated (a window over the record images), because the combinations of old and new
/// versions grow as 3^k under chains of self-joins.
#[test]
fn a_one_sided_join_delta_is_netted_by_its_consumer() {
    use pgt_dvm::driver::{differential_statement_for, PendingShape};
    let t = match orders_join_customers() {
        OpTree::Project(mut p) => {
            let OpTree::Join(j) = *p.input else {
                unreachable!()
            };
            p.input = Box::new(OpTree::Join(j).with_error_free_condition(true));
            OpTree::Project(p)
        }
        _ => unreachable!(),
    };
    let target = QualifiedName::new("public", "st");
    let frontier = |oid: u32| format!("<frontier of {oid}>");
    let visible = ["id".to_string(), "region".to_string()];
    let both = differential_statement_for(
        &t,
        &target,
        &visible,
        &frontier,
        &PendingShape::default(),
        None,
        &pgt_sql::server_functions::Extension,
    )
    .unwrap();
    assert!(both.contains("OVER __pgt_win"), "{both}");
    let one_sided = PendingShape {
        quiet: vec![16390],
        omit_quiet: true,
        ..PendingShape::default()
    };
    let sql = differential_statement_for(
        &t,
        &target,
        &visible,
        &frontier,
        &one_sided,
        None,
        &pgt_sql::server_functions::Extension,
    )
    .unwrap();
    assert!(!sql.contains("OVER __pgt_win"), "{sql}");
    assert!(sql.contains("__pgt_join_delta"), "{sql}");
}

/// `SELECT customer_id, sum(amount) … GROUP BY customer_id ORDER BY 2 DESC, 1 LIMIT 3`:
/// the grouping below the top-k keeps its states in a state table; its delta comes from
/// the `MERGE` into that table, and the window read again (when members left) reads the
/// table (the rows the `MERGE` did not return, plus the new rows it did), not the orders.
#[test]
fn top_k_over_a_stored_grouping() {
    use pgt_dvm::operators::top_k::SortKey;
    let key = |column: usize, op: &str| SortKey {
        column,
        operator: format!("OPERATOR(pg_catalog.{op})"),
        collation: None,
        nulls_first: false,
    };
    let sum = AggCall {
        kind: AggKind::Sum,
        arg: Some(ex("$2")),
        call: ex("pg_catalog.sum($2)"),
        result_type: "numeric".into(),
        tracks_scale: false,
    };
    let grouped = OpTree::aggregate(
        orders(),
        vec![ex("$1")],
        vec![col("customer_id", "integer")],
        vec![sum],
    );
    golden(
        "top_k_over_stored_grouping",
        OpTree::top_k(
            project(
                grouped,
                &[("customer_id", "integer", "$0"), ("total", "numeric", "$1")],
            ),
            vec![key(1, ">"), key(0, "<")],
            3,
            0,
        ),
    );
}

/// `SELECT customer_id FROM orders INTERSECT ALL SELECT id FROM customers`, as the frontend
/// builds it: both sides tagged with per-side counts, grouped by the row, each group's row
/// repeated `least(a, b)` times. Bag storage at the top; the grouping below keeps stored
/// states.
#[test]
fn intersect_all_as_replicated_grouping() {
    let tag = |tree: OpTree, col0: &str, a: &str, b: &str| {
        project(
            tree,
            &[
                ("k", "integer", col0),
                ("__pgt_a", "integer", a),
                ("__pgt_b", "integer", b),
            ],
        )
    };
    let sum = |i: usize| AggCall {
        kind: AggKind::Sum,
        arg: Some(ex(&format!("${i}"))),
        call: ex(&format!("pg_catalog.sum(${i})")),
        result_type: "bigint".into(),
        tracks_scale: false,
    };
    let grouped = OpTree::aggregate(
        OpTree::union_all(vec![
            tag(orders(), "$1", "1", "0"),
            tag(customers(), "$0", "0", "1"),
        ]),
        vec![ex("$0")],
        vec![col("k", "integer")],
        vec![sum(1), sum(2)],
    );
    golden(
        "intersect_all",
        OpTree::replicate(grouped, ex("LEAST($1, $2)"), 1),
    );
}

/// `SELECT id, customer_id, rank() OVER (PARTITION BY customer_id ORDER BY amount),
/// sum(amount) OVER (PARTITION BY customer_id ORDER BY id ROWS 2 PRECEDING) FROM orders`:
/// the customers a change touches are recomputed before and after it; the row-counting
/// frame gets the row's image as a last sort key.
#[test]
fn window_partitions() {
    use pgt_dvm::operators::window::{Window, WindowCall};
    let w = OpTree::Window(Window {
        input: Box::new(orders()),
        partition_by: vec![ex("$1")],
        partition_columns: vec![col("customer_id", "integer")],
        order_by: vec![ex("$2 USING OPERATOR(pg_catalog.<) NULLS LAST")],
        calls: vec![
            WindowCall {
                call: ex("pg_catalog.rank()"),
                tiebreak: false,
                frame: String::new(),
            },
            WindowCall {
                call: ex("pg_catalog.sum($2)"),
                tiebreak: true,
                frame: "ROWS 2 PRECEDING".into(),
            },
        ],
        call_columns: vec![col("r", "bigint"), col("s", "numeric")],
    });
    golden(
        "window",
        project(
            w,
            &[
                ("id", "integer", "$0"),
                ("customer_id", "integer", "$1"),
                ("r", "bigint", "$3"),
                ("s", "numeric", "$4"),
            ],
        ),
    );
}

/// `SELECT customer_id, count(*), GROUPING(customer_id) FROM orders GROUP BY ROLLUP
/// (customer_id)`, as the frontend builds it: one grouping per set over the shared input,
/// the missing key NULL and GROUPING() a constant per branch, under UNION ALL.
#[test]
fn rollup_as_union_of_groupings() {
    let input = std::rc::Rc::new(orders());
    let shared = OpTree::shared(1, input);
    let count = AggCall {
        kind: AggKind::CountStar,
        arg: None,
        call: ex("pg_catalog.count(*)"),
        result_type: "bigint".into(),
        tracks_scale: false,
    };
    let by_customer = project(
        OpTree::aggregate(
            shared.clone(),
            vec![ex("$1")],
            vec![col("customer_id", "integer")],
            vec![count.clone()],
        ),
        &[
            ("customer_id", "integer", "$0"),
            ("n", "bigint", "$1"),
            ("grouping", "integer", "0::pg_catalog.int4"),
        ],
    );
    let total = project(
        OpTree::aggregate(shared, vec![], vec![], vec![count]),
        &[
            ("customer_id", "integer", "NULL::integer"),
            ("n", "bigint", "$0"),
            ("grouping", "integer", "1::pg_catalog.int4"),
        ],
    );
    golden("rollup", OpTree::union_all(vec![by_customer, total]));
}

/// `SELECT c.id, o.id, o.amount FROM customers c, LATERAL (SELECT id, amount FROM orders
/// WHERE customer_id = c.id ORDER BY amount DESC LIMIT 1) o`, as the frontend decorrelates
/// it (ADR-041): the orders numbered per key (`customer_id`, the correlated column) by the
/// subquery's ORDER BY and their image, the first kept, joined to the customers on the key.
#[test]
fn lateral_top_1_per_key() {
    use pgt_dvm::operators::window::{Window, WindowCall};
    let keyed = project(
        orders(),
        &[
            ("id", "integer", "$0"),
            ("amount", "numeric(10,2)", "$2"),
            ("__pgt_key0", "integer", "$1"),
            ("__pgt_sort0", "numeric(10,2)", "$2"),
        ],
    );
    let numbered = OpTree::Window(Window {
        input: Box::new(keyed),
        partition_by: vec![ex("$2")],
        partition_columns: vec![col("__pgt_key0", "integer")],
        order_by: vec![ex("$3 USING OPERATOR(pg_catalog.>) NULLS FIRST")],
        calls: vec![WindowCall {
            call: ex("pg_catalog.row_number()"),
            tiebreak: true,
            frame: String::new(),
        }],
        call_columns: vec![col("__pgt_rn", "bigint")],
    });
    let first = project(
        OpTree::filter(
            numbered,
            ex("$4 OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND $4 OPERATOR(pg_catalog.<=) 1::pg_catalog.int8"),
        ),
        &[
            ("id", "integer", "$0"),
            ("amount", "numeric(10,2)", "$1"),
            ("__pgt_key0", "integer", "$2"),
        ],
    );
    let joined = OpTree::join_equi(
        customers(),
        first,
        Some(ex("($0 OPERATOR(pg_catalog.=) $4)")),
        vec![(0, 2)],
    );
    golden(
        "lateral_top_1",
        project(
            joined,
            &[
                ("id", "integer", "$0"),
                ("order_id", "integer", "$2"),
                ("amount", "numeric(10,2)", "$3"),
            ],
        ),
    );
}
