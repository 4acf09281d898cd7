//! The Markdown for a 16,000-model project where a change touches 500 models fits one GitHub
//! comment, and docs/impact-example.md is that Markdown (rewrite it with FOLDUP_BLESS=1).

use std::fmt::Write;
use std::path::Path;

use foldup_impact::{compare, markdown, Manifest, MARKDOWN_LIMIT};

const MODELS: usize = 16_000;
const STAGING: usize = 1_000;

/// A synthetic manifest in dbt's shape: staging models read sources, every other model reads two
/// earlier ones, each model has a `not_null` test, and ten exposures read marts. `changed` gives
/// the model indexes whose SQL differs, `reconfigured` those whose config differs, and
/// `macro_sql` the body of the macro every hundredth model calls.
fn manifest(changed: &[usize], reconfigured: &[usize], macro_sql: &str) -> String {
    let mut nodes = String::new();
    let mut children: Vec<Vec<String>> = vec![Vec::new(); MODELS];
    let name = |i: usize| {
        if i < STAGING {
            format!("model.warehouse.stg_{i:05}")
        } else {
            format!("model.warehouse.fct_{i:05}")
        }
    };
    for i in 0..MODELS {
        let parents: Vec<usize> = if i < STAGING {
            Vec::new()
        } else {
            vec![(i * 7919 + 13) % i, i - 1 - (i % 13).min(i - 1)]
        };
        for p in &parents {
            children[*p].push(name(i));
        }
        let sql = if changed.contains(&i) {
            format!("select * from upstream_{i} where changed")
        } else {
            format!("select * from upstream_{i}")
        };
        let materialized = if reconfigured.contains(&i) {
            "incremental"
        } else {
            "table"
        };
        let macros = if i % 100 == 0 {
            r#"["macro.warehouse.cents"]"#
        } else {
            "[]"
        };
        let _ = write!(
            nodes,
            r#""{id}": {{"resource_type": "model", "raw_code": "{sql}", "fqn": ["warehouse", "{i}"],
               "unrendered_config": {{"materialized": "{materialized}"}}, "config": {{"materialized": "{materialized}"}},
               "depends_on": {{"macros": {macros}, "nodes": []}}}},
               "test.warehouse.not_null_{i:05}": {{"resource_type": "test", "test_metadata": {{"name": "not_null"}},
               "fqn": ["warehouse", "t{i}"], "unrendered_config": {{}}}},"#,
            id = name(i)
        );
        children[i].push(format!("test.warehouse.not_null_{i:05}"));
    }
    nodes.pop();
    let mut exposures = String::new();
    for e in 0..10 {
        let model = MODELS - 1 - e * 37;
        children[model].push(format!("exposure.warehouse.dashboard_{e}"));
        let _ = write!(
            exposures,
            r#""exposure.warehouse.dashboard_{e}": {{"resource_type": "exposure", "fqn": ["warehouse", "d{e}"]}},"#
        );
    }
    exposures.pop();
    let child_map: Vec<String> = children
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\"{}\": {}", name(i), serde_json::to_string(c).unwrap()))
        .collect();
    format!(
        r#"{{"metadata": {{"dbt_version": "1.10.0", "adapter_type": "snowflake"}},
            "nodes": {{{nodes}}}, "exposures": {{{exposures}}},
            "macros": {{"macro.warehouse.cents": {{"macro_sql": "{macro_sql}", "depends_on": {{"macros": []}}}}}},
            "child_map": {{{}}}}}"#,
        child_map.join(",")
    )
}

#[test]
fn a_500_model_change_in_16000_models_fits_one_comment_and_matches_the_committed_example() {
    // 340 models with new SQL, 100 reconfigured, 160 through a macro every hundredth model calls
    // (some overlap): 500 and a few modified models in all.
    let changed: Vec<usize> = (0..340).map(|k| 200 + k * 45).collect();
    let reconfigured: Vec<usize> = (0..100).map(|k| 1_003 + k * 149).collect();
    let base = Manifest::from_slice(manifest(&[], &[], "{{ x }} / 100").as_bytes()).unwrap();
    let pr = Manifest::from_slice(manifest(&changed, &reconfigured, "{{ x }} / 100.0").as_bytes())
        .unwrap();
    let impact = compare(&base, &pr);
    assert!(
        (500..=600).contains(&impact.modified.len()),
        "{} modified",
        impact.modified.len()
    );
    assert!(
        impact.impacted.len() > 5_000,
        "{} downstream",
        impact.impacted.len()
    );

    let text = markdown(&impact, "`prod-run/manifest.json` (--state prod-run)");
    let chars = text.chars().count();
    assert!(chars <= MARKDOWN_LIMIT, "{chars} characters");
    assert!(text.starts_with("### foldup impact\n\n**"), "counts first");
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/impact-example.md");
    let intro =
        "<!-- Rendered by crates/foldup-impact/tests/render.rs (FOLDUP_BLESS=1 rewrites it): \
                 a synthetic 16,000-model project, a change touching 500+ models. -->\n\n";
    let expected = format!("{intro}{text}");
    if std::env::var_os("FOLDUP_BLESS").is_some() {
        std::fs::write(&example, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&example).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/impact-example.md is not what the renderer writes; run FOLDUP_BLESS=1 cargo test -p foldup-impact --test render"
    );
}
