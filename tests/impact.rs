//! `foldup impact` end to end through the built binary: the base from `--state` or `DBT_STATE`,
//! JSON as PRODUCT.md gives it, Markdown on stdout and in GitHub's job summary, and the plain
//! sentence and exit code for a missing base or a hostile manifest.
//!
//! Which resources count as modified is crate foldup-impact's oracle test (dbt itself decides);
//! here the base is the bundled example's manifest with one model's SQL changed.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;

/// A project whose target holds the example's manifest (the PR), and a base folder holding the
/// same manifest with `model.shop.stg_orders`'s SQL different.
fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_target(), &dir.path().join("target"));
    let base = dir.path().join("prod");
    fs::create_dir_all(&base).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(example_target().join("manifest.json")).unwrap()).unwrap();
    manifest["nodes"]["model.shop.stg_orders"]["raw_code"] = "select 1 as order_id".into();
    fs::write(
        base.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    (dir, base)
}

fn foldup(dir: &Path) -> Foldup {
    Foldup::new(dir).deadline(Duration::from_secs(60))
}

#[test]
fn json_names_the_modified_model_its_reason_and_what_sits_downstream() {
    let (dir, base) = project();
    let run = foldup(dir.path())
        .args(["impact", "--format", "json", "--state"])
        .args([base.to_str().unwrap()])
        .run()
        .expect_code(0);
    let report = run.json();
    assert_eq!(
        report["base"]["source"],
        format!("--state {}", base.display())
    );
    assert!(report["base"]["commit_sha"].is_null());
    assert_eq!(
        report["modified"],
        serde_json::json!([{"unique_id": "model.shop.stg_orders", "resource_type": "model", "reasons": ["body"]}])
    );
    let impacted = report["impacted"].as_array().unwrap();
    // Downstream as the PR's child_map has it: orders reads stg_orders, customers reads orders.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(example_target().join("manifest.json")).unwrap()).unwrap();
    let mut expected = std::collections::BTreeSet::new();
    let mut queue = vec!["model.shop.stg_orders".to_owned()];
    while let Some(id) = queue.pop() {
        for child in manifest["child_map"][&id].as_array().unwrap() {
            let child = child.as_str().unwrap().to_owned();
            if expected.insert(child.clone()) {
                queue.push(child);
            }
        }
    }
    let got: std::collections::BTreeSet<String> = impacted
        .iter()
        .map(|i| i["unique_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected);
    for i in impacted {
        assert_eq!(i["via"], "model.shop.stg_orders");
        assert!(i["resource_type"].is_string());
    }
    assert!(
        got.contains("model.shop.customers")
            && got.contains("exposure.shop.weekly_revenue_dashboard")
    );
    assert_eq!(report["removed"], serde_json::json!([]));
}

#[test]
fn dbt_state_names_the_base_and_markdown_goes_to_the_github_job_summary() {
    let (dir, _) = project();
    let summary = dir.path().join("summary.md");
    let run = foldup(dir.path())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("DBT_STATE", "prod")
        .args(["impact"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout.starts_with("### foldup impact"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("**1 modified · "),
        "counts first:\n{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("| `model.shop.stg_orders` | model | body |"));
    assert!(run.stdout.contains("DBT_STATE=prod"));
    let written = fs::read_to_string(&summary).unwrap();
    assert_eq!(written.trim_end(), run.stdout.trim_end());
}

#[test]
fn the_same_manifest_on_both_sides_reports_nothing_and_warns() {
    let (dir, _) = project();
    let run = foldup(dir.path())
        .args(["impact", "--format", "json", "--state", "target"])
        .run()
        .expect_code(0);
    let report = run.json();
    assert_eq!(report["modified"], serde_json::json!([]));
    assert_eq!(report["impacted"], serde_json::json!([]));
    assert!(
        run.stderr.contains("is the PR's own manifest"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_base_is_a_usage_error_that_says_how_to_give_one() {
    let (dir, _) = project();
    foldup(dir.path())
        .args(["impact"])
        .run()
        .expect_code(2)
        .expect_one_sentence("--state DIR");
    foldup(dir.path())
        .env("DBT_STATE", "nowhere")
        .args(["impact"])
        .run()
        .expect_code(2)
        .expect_one_sentence("no base manifest at");
}

#[test]
fn hostile_base_manifests_are_one_sentence_and_exit_3_in_bounded_time() {
    let (dir, base) = project();
    let good = fs::read(example_target().join("manifest.json")).unwrap();
    let deep = format!(
        "{{\"nodes\": {{\"model.x.y\": {{\"config\": {}{}}}}}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        (
            "wrong types",
            br#"{"nodes": {"model.x.y": {"raw_code": 42}}}"#.to_vec(),
        ),
        ("not a manifest", br#"{"results": []}"#.to_vec()),
        (
            "child_map of numbers",
            br#"{"nodes": {}, "child_map": {"a": [1]}}"#.to_vec(),
        ),
        ("deep nesting", deep.into_bytes()),
        ("not utf-8", b"{\"nodes\": {\"\xff\": {}}}".to_vec()),
    ];
    for (name, bytes) in cases {
        fs::write(base.join("manifest.json"), bytes).unwrap();
        let run = foldup(dir.path())
            .args(["impact", "--state", base.to_str().unwrap()])
            .run();
        assert_eq!(run.code, 3, "{name}: {}", run.stderr);
        run.expect_one_sentence("is not a usable dbt manifest");
    }
}

#[test]
fn a_gigabyte_of_whitespace_is_streamed_in_bounded_memory() {
    let (dir, base) = project();
    let file = fs::File::create(base.join("manifest.json")).unwrap();
    // 1 GiB of spaces, then a manifest that never closes: read as a stream, not held.
    let mut writer = std::io::BufWriter::new(file);
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut writer, &chunk).unwrap();
    }
    std::io::Write::write_all(&mut writer, b"{\"nodes\": {}").unwrap();
    drop(writer);
    let run = foldup(dir.path())
        .deadline(Duration::from_secs(120))
        .args(["impact", "--state", base.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.expect_one_sentence("is not a usable dbt manifest");
    if let Some(peak) = run.peak_rss_kib {
        assert!(
            peak < 64 * 1024,
            "peak RSS {peak} KiB reading 1 GiB of whitespace"
        );
    }
    fs::remove_file(base.join("manifest.json")).unwrap();
}
