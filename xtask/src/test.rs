//! `cargo xtask test`: the whole test suite, exactly what `.ci/run` runs after installing tools.

use anyhow::Result;

use crate::base::step::{run_step, run_step_with_env};

pub fn run(_args: &[String]) -> Result<()> {
    run_step("format", "cargo", &["fmt", "--all", "--", "--check"])?;
    run_step(
        "lints",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run_step("build", "cargo", &["build", "--workspace", "--bins"])?;
    crate::contract::run(&[])?;
    // Shipping: docs/ci made of the validated examples, the static release binary and install.sh,
    // then the orb, the GitLab component and the GitHub Action, each validated and run end to end.
    crate::ci_docs::run(&["--check".to_owned()])?;
    crate::dist::test(&[])?;
    crate::orb::test(&[])?;
    crate::component::test(&[])?;
    crate::action::test(&[])?;
    crate::release::run(&[])?;
    // foldup-impact's oracle test runs dbt itself: dbt-core 1.10 + dbt-duckdb 1.10 from PyPI.
    let dbt = crate::fixtures::ensure_test_dbt()?;
    std::env::set_var("FOLDUP_TEST_DBT", &dbt);
    // The unit, plugin and end-to-end tests run last so that their runner's summary closes the log.
    // A snapshot test fails on a new or changed snapshot instead of writing it.
    run_step_with_env(
        "tests",
        "cargo",
        &["nextest", "run", "--workspace", "--no-fail-fast"],
        &[("INSTA_UPDATE", "no")],
    )?;
    Ok(())
}
