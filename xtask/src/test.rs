//! `cargo xtask test`: the whole test suite, exactly what `.ci/run` runs after installing tools.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs a command from the repository root, failing loudly with its name.
pub fn run_step(name: &str, program: &str, args: &[&str]) -> Result<()> {
    eprintln!("\n==> {name}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(crate::repo_root())
        .status()
        .with_context(|| {
            format!(
                "cannot start {program}; is it installed? (.ci/run installs what the tests need)"
            )
        })?;
    if !status.success() {
        bail!("{name} failed ({status}); see the output above");
    }
    Ok(())
}

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
    // foldup-impact's oracle test runs dbt itself: dbt-core 1.10 + dbt-duckdb 1.10 from PyPI.
    let dbt = crate::fixtures::ensure_test_dbt()?;
    std::env::set_var("FOLDUP_TEST_DBT", &dbt);
    // The unit, plugin and end-to-end tests run last so that their runner's summary closes the log.
    run_step(
        "tests",
        "cargo",
        &["nextest", "run", "--workspace", "--no-fail-fast"],
    )?;
    Ok(())
}
