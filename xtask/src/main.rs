//! Repository chores as plain Rust (the cargo-xtask pattern): `cargo xtask <task>`.

use std::path::PathBuf;

use anyhow::{bail, Result};

mod action;
mod bench;
mod ci_docs;
mod component;
mod contract;
mod datafold_server;
mod demo;
mod dist;
mod docs;
mod fixtures;
mod orb;
mod release_mirror;
mod test;
mod validators;

const TASKS: &str = "bench (foldup vs datafold-sdk and the hardware floor; writes docs/BENCHMARKS.md), demo (the main job end to end on the bundled example), test (the whole suite, as CI runs it), contract (datafold-sdk vs foldup), fixtures (regenerate the dbt artifacts), test-dbt (install the dbt the impact oracle test runs), docs (regenerate the README's configuration reference), dist (the static release archive), dist-test (check it and install.sh), orb (pack and validate the CircleCI orb), orb-test (also run its steps), component (validate the GitLab component), component-test (also run it in gitlab-ci-local), action (validate the GitHub Action), action-test (also run its steps), ci-docs (regenerate docs/ci from the examples; --check)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "test" => test::run(&rest),
        "bench" => bench::run(&rest),
        "demo" => demo::run(&rest),
        "fixtures" => fixtures::run(&rest),
        "test-dbt" => fixtures::ensure_test_dbt().map(|dbt| println!("{}", dbt.display())),
        "docs" => docs::run(&rest),
        "contract" => contract::run(&rest),
        "dist" => dist::run(&rest),
        "dist-test" => dist::test(&rest),
        "orb" => orb::run(&rest),
        "orb-test" => orb::test(&rest),
        "component" => component::run(&rest),
        "component-test" => component::test(&rest),
        "action" => action::run(&rest),
        "action-test" => action::test(&rest),
        "ci-docs" => ci_docs::run(&rest),
        "" => bail!("name a task: {TASKS}"),
        other => bail!("unknown task '{other}'; tasks: {TASKS}"),
    }
}

/// The repository root (xtask lives one folder below it).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
