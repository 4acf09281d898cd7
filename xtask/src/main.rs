//! Repository chores as plain Rust (the cargo-xtask pattern): `cargo xtask <task>`.
//!
//! Three layers, each importing only the ones above it:
//! - [`base`], the utility layer: the repository root and the workspace's builds, running a step,
//!   copying a tree;
//! - [`harness`]: what tasks run things against: the Datafold test server launcher, the release
//!   mirror and the release build it serves, the third-party validators, scratch folders;
//! - the tasks (every other module), one per `cargo xtask` task family. A task never calls
//!   another; `test` is the one orchestrator, running the others in CI's order.

use anyhow::{bail, Result};

mod base;
mod harness;

// Every layer names the repository root; `crate::repo_root()` is `base::repo::repo_root()`.
use base::repo::repo_root;

mod action;
mod bench;
mod ci_docs;
mod component;
mod contract;
mod demo;
mod dist;
mod docs;
mod fixtures;
mod orb;
mod pin;
mod release;
mod test;

const TASKS: &str = "bench (foldup vs datafold-sdk and the hardware floor; writes docs/BENCHMARKS.md), demo (the main job end to end on the bundled example), test (the whole suite, as CI runs it), contract (datafold-sdk vs foldup), fixtures (regenerate the dbt artifacts), test-dbt (install the dbt the impact oracle test runs), docs (regenerate the README's configuration reference), dist (the static Linux release archives this machine can build, x86_64 and aarch64, and install.sh pinning them), dist-test (check them, aarch64 under qemu, and install.sh), package (TARGET: archive a release build, as the release workflow does), release (validate the release workflow, the Dockerfile, the GitLab and CircleCI pipelines), pin-checksums (--version V DIR: pin the release archives' sha256 in install.sh, the orb and the component), orb (pack and validate the CircleCI orb), orb-test (also run its steps), component (validate the GitLab component), component-test (also run it in gitlab-ci-local), action (validate the GitHub Action), action-test (also run its steps), ci-docs (regenerate docs/ci from the examples; --check)";

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
        "package" => dist::package(&rest),
        "release" => release::run(&rest),
        "orb" => orb::run(&rest),
        "orb-test" => orb::test(&rest),
        "component" => component::run(&rest),
        "component-test" => component::test(&rest),
        "action" => action::run(&rest),
        "action-test" => action::test(&rest),
        "ci-docs" => ci_docs::run(&rest),
        "pin-checksums" => pin::run(&rest),
        "" => bail!("name a task: {TASKS}"),
        other => bail!("unknown task '{other}'; tasks: {TASKS}"),
    }
}
