//! dbt is the oracle: the bundled example project, changed one way per case, parsed by dbt on
//! both sides; foldup-impact's sets must equal what `dbt ls --select state:modified` and
//! `state:modified+` list for the same pair.
//!
//! dbt comes from `FOLDUP_TEST_DBT` (a `dbt` of dbt-core 1.10 with dbt-duckdb 1.10), else from
//! `target/tools/venv-dbt110/bin/dbt`, which `cargo xtask test` (and `cargo xtask fixtures`)
//! create. All of dbt runs in one Python process (tests/oracle/driver.py) to keep the test short.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use foldup_impact::{compare, read_manifest, Reason};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dbt() -> PathBuf {
    let dbt = std::env::var_os("FOLDUP_TEST_DBT")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/tools/venv-dbt110/bin/dbt"));
    assert!(
        dbt.is_file(),
        "the oracle test needs dbt-core 1.10 with dbt-duckdb 1.10: {} is missing; run `cargo xtask test` \
         (it installs them into target/tools/venv-dbt110) or set FOLDUP_TEST_DBT to a dbt executable",
        dbt.display()
    );
    dbt
}

/// The Python that runs `dbt`: the interpreter its script's `#!` line names.
fn python_of(dbt: &Path) -> PathBuf {
    let script = fs::read(dbt).expect("reading the dbt script");
    let first = script.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first);
    let interpreter = line
        .strip_prefix("#!")
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| panic!("{} is not a Python entry-point script", dbt.display()));
    PathBuf::from(interpreter)
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "logs" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// Replaces `old` with `new` in the file, insisting `old` is there (the example may not drift
/// silently from the cases).
fn edit(dir: &Path, file: &str, old: &str, new: &str) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(old),
        "{file} no longer holds {old:?}; update the oracle case"
    );
    fs::write(&path, text.replacen(old, new, 1)).unwrap();
}

fn append(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    let mut body = fs::read_to_string(&path).unwrap_or_default();
    body.push_str(text);
    fs::write(path, body).unwrap();
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The base: the example with persisted docs on the marts, two macros (one calling the other)
/// and a project variable, so that every kind of change has something to change.
fn prepare_base(dir: &Path) {
    copy_tree(&workspace().join("examples/shop"), dir);
    edit(
        dir,
        "dbt_project.yml",
        "    marts:\n      +materialized: table",
        "    marts:\n      +materialized: table\n      +persist_docs:\n        relation: true\n        columns: true",
    );
    append(dir, "dbt_project.yml", "\nvars:\n  min_amount_cents: 0\n");
    write(
        dir,
        "macros/money.sql",
        "{% macro cents_to_units(column) %}{{ divide_by(column, 100.0) }}{% endmacro %}\n\n\
         {% macro divide_by(value, by) %}({{ value }} / {{ by }}){% endmacro %}\n",
    );
    edit(
        dir,
        "models/staging/stg_payments.sql",
        "    amount_cents / 100.0 as amount\nfrom {{ ref('raw_payments') }}",
        "    {{ cents_to_units('amount_cents') }} as amount\nfrom {{ ref('raw_payments') }}\n\
         where amount_cents >= {{ var('min_amount_cents') }}",
    );
}

type Change = fn(&Path);

/// One case per kind of change the issue lists, and a few more.
const CASES: &[(&str, Change)] = &[
    ("unchanged", |_| {}),
    ("sql_body", |d| {
        edit(
            d,
            "models/staging/stg_orders.sql",
            "    status\n",
            "    lower(status) as status\n",
        )
    }),
    ("whitespace_only", |d| {
        append(d, "models/staging/stg_customers.sql", "\n\n")
    }),
    ("config_in_model_file", |d| {
        let file = "models/staging/stg_customers.sql";
        let body = fs::read_to_string(d.join(file)).unwrap();
        write(
            d,
            file,
            &format!("{{{{ config(materialized='table') }}}}\n{body}"),
        );
    }),
    ("config_in_dbt_project", |d| {
        edit(
            d,
            "dbt_project.yml",
            "+materialized: table",
            "+materialized: view",
        )
    }),
    ("schema_in_dbt_project", |d| {
        edit(
            d,
            "dbt_project.yml",
            "    staging:\n",
            "    staging:\n      +schema: staging\n",
        )
    }),
    ("description_not_persisted", |d| {
        edit(
            d,
            "models/staging/_staging.yml",
            "Orders, one row each, renamed from the raw source.",
            "Orders, one row each, renamed from the shop's raw source.",
        )
    }),
    ("description_persisted", |d| {
        edit(
            d,
            "models/marts/_marts.yml",
            "Orders with their payments summed, one row per order.",
            "Orders with their payments added up, one row per order.",
        )
    }),
    ("column_description_persisted", |d| {
        edit(
            d,
            "models/marts/_marts.yml",
            "Orders placed, returned ones included.",
            "Every order placed, returned ones included.",
        )
    }),
    ("new_model", |d| {
        write(
            d,
            "models/marts/order_count.sql",
            "select count(*) as orders from {{ ref('orders') }}\n",
        )
    }),
    ("deleted_model", |d| {
        fs::remove_file(d.join("models/marts/customers.sql")).unwrap();
        let yml = fs::read_to_string(d.join("models/marts/_marts.yml")).unwrap();
        let start = yml.find("  - name: customers").unwrap();
        let end = yml.find("exposures:").unwrap();
        let yml =
            format!("{}{}", &yml[..start], &yml[end..]).replace("      - ref('customers')\n", "");
        write(d, "models/marts/_marts.yml", &yml);
    }),
    ("macro_called_directly", |d| {
        edit(
            d,
            "macros/money.sql",
            "{{ divide_by(column, 100.0) }}",
            "{{ divide_by(column, 100) }}",
        )
    }),
    ("macro_called_through_a_macro", |d| {
        edit(
            d,
            "macros/money.sql",
            "({{ value }} / {{ by }})",
            "({{ value }} / nullif({{ by }}, 0))",
        )
    }),
    ("new_unused_macro", |d| {
        append(
            d,
            "macros/money.sql",
            "\n{% macro unused() %}1{% endmacro %}\n",
        )
    }),
    ("seed_rows", |d| {
        append(
            d,
            "seeds/raw_customers.csv",
            "999,Test,Person,test.person@example.com,2024-06-01\n",
        )
    }),
    ("project_vars", |d| {
        edit(
            d,
            "dbt_project.yml",
            "min_amount_cents: 0",
            "min_amount_cents: 1",
        )
    }),
    ("new_test", |d| {
        edit(
            d,
            "models/staging/_staging.yml",
            "        description: First and last name.\n",
            "        description: First and last name.\n        tests:\n          - not_null\n",
        )
    }),
    ("test_severity", |d| {
        edit(
            d,
            "models/marts/_marts.yml",
            "        tests:\n          - not_null\n\n",
            "        tests:\n          - not_null:\n              config:\n                severity: warn\n\n",
        )
    }),
    ("singular_test", |d| {
        edit(
            d,
            "tests/assert_payments_cover_orders.sql",
            "amount <= 0",
            "amount < 0.01",
        )
    }),
    ("exposure_changed", |d| {
        edit(
            d,
            "models/marts/_marts.yml",
            "maturity: medium",
            "maturity: high",
        )
    }),
    ("new_exposure", |d| {
        append(
            d,
            "models/marts/_marts.yml",
            "  - name: order_report\n    type: analysis\n    depends_on:\n      - ref('orders')\n    owner:\n      name: Finance\n",
        )
    }),
    ("source_freshness", |d| {
        edit(
            d,
            "models/staging/_sources.yml",
            "count: 3650",
            "count: 3651",
        )
    }),
    ("source_identifier", |d| {
        edit(
            d,
            "models/staging/_sources.yml",
            "      - name: raw_orders\n",
            "      - name: raw_orders\n        identifier: raw_orders_v2\n",
        )
    }),
    ("source_description", |d| {
        edit(
            d,
            "models/staging/_sources.yml",
            "One row per order placed",
            "One row for each order placed",
        )
    }),
    ("new_source_table", |d| {
        append(
            d,
            "models/staging/_sources.yml",
            "      - name: raw_refunds\n",
        )
    }),
    ("contract_enforced", |d| {
        let yml = "models/marts/_marts.yml";
        edit(
            d,
            yml,
            "  - name: orders\n",
            "  - name: orders\n    config:\n      contract:\n        enforced: true\n",
        );
        for (column, data_type) in [
            ("order_id", "integer"),
            ("customer_id", "integer"),
            ("status", "varchar"),
            ("amount", "double"),
        ] {
            edit(
                d,
                yml,
                &format!("      - name: {column}\n"),
                &format!("      - name: {column}\n        data_type: {data_type}\n"),
            );
        }
    }),
];

#[test]
fn impact_agrees_with_dbt_state_modified_for_every_kind_of_change() {
    let dbt = dbt();
    let python = python_of(&dbt);
    let scratch = tempfile::tempdir().unwrap();
    let base = scratch.path().join("base");
    prepare_base(&base);
    let mut case_dirs = Vec::new();
    for (name, change) in CASES {
        let dir = scratch.path().join(name);
        copy_tree(&base, &dir);
        change(&dir);
        case_dirs.push(dir);
    }
    let answers_path = scratch.path().join("answers.json");
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/driver.py"))
        .arg(&base)
        .arg(&answers_path)
        .args(&case_dirs)
        .env("SHOP_DUCKDB_PATH", scratch.path().join("shop.duckdb"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_PARTIAL_PARSE", "true")
        .env_remove("DBT_STATE")
        .env_remove("DBT_TARGET_PATH")
        .output()
        .expect("running dbt");
    assert!(
        output.status.success(),
        "dbt failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: serde_json::Value =
        serde_json::from_slice(&fs::read(&answers_path).unwrap()).unwrap();

    let base_manifest = read_manifest(&base.join("target/manifest.json")).unwrap();
    let mut reasons_seen = BTreeSet::new();
    let mut failures = Vec::new();
    for (name, _) in CASES {
        let pr_path = scratch.path().join(name).join("target/manifest.json");
        let pr = read_manifest(&pr_path).unwrap();
        let impact = compare(&base_manifest, &pr);
        let set = |key: &str| -> BTreeSet<String> {
            answers[name][key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let dbt_modified = set("modified");
        let dbt_plus = set("modified_plus");
        let ours: BTreeSet<String> = impact
            .modified
            .iter()
            .map(|m| m.unique_id.clone())
            .collect();
        let ours_plus: BTreeSet<String> = ours
            .iter()
            .cloned()
            .chain(impact.impacted.iter().map(|i| i.unique_id.clone()))
            .collect();
        if ours != dbt_modified {
            failures.push(format!(
                "{name}: state:modified: dbt {dbt_modified:?}, foldup {ours:?} ({:?})",
                impact.modified
            ));
        }
        if ours_plus != dbt_plus {
            failures.push(format!(
                "{name}: state:modified+: dbt {dbt_plus:?}, foldup {ours_plus:?}"
            ));
        }
        // Removed: what the base's manifest holds and the PR's does not, read plainly.
        let ids = |path: &Path| -> HashSet<String> {
            let m: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
            [
                "nodes",
                "sources",
                "exposures",
                "metrics",
                "semantic_models",
                "saved_queries",
                "unit_tests",
            ]
            .iter()
            .filter_map(|k| m[*k].as_object())
            .flat_map(|o| o.keys().cloned())
            .collect()
        };
        let expected_removed: BTreeSet<String> = ids(&base.join("target/manifest.json"))
            .difference(&ids(&pr_path))
            .cloned()
            .collect();
        let removed: BTreeSet<String> =
            impact.removed.iter().map(|r| r.unique_id.clone()).collect();
        if removed != expected_removed {
            failures.push(format!(
                "{name}: removed: expected {expected_removed:?}, foldup {removed:?}"
            ));
        }
        eprintln!(
            "{name}: dbt lists {} modified, {} with descendants; foldup {} modified ({}), {} downstream, {} removed",
            dbt_modified.len(),
            dbt_plus.len(),
            impact.modified.len(),
            impact
                .modified
                .iter()
                .map(|m| format!("{} {:?}", m.unique_id, m.reasons))
                .collect::<Vec<_>>()
                .join("; "),
            impact.impacted.len(),
            impact.removed.len()
        );
        for m in &impact.modified {
            reasons_seen.extend(m.reasons.iter().copied());
        }
    }
    assert!(
        failures.is_empty(),
        "foldup disagrees with dbt:\n{}",
        failures.join("\n")
    );
    // The cases exercise every reason PRODUCT.md names (dbt decides which nodes carry them).
    for reason in [
        Reason::New,
        Reason::Body,
        Reason::Configs,
        Reason::Relation,
        Reason::PersistedDescriptions,
        Reason::Macros,
        Reason::Contract,
    ] {
        assert!(
            reasons_seen.contains(&reason),
            "no case showed the reason {reason:?}"
        );
    }
}
