//! Repository chores as plain Rust (the cargo-xtask pattern): `cargo xtask <task>`.

use std::path::PathBuf;

use anyhow::{bail, Result};

mod contract;
mod docs;
mod fixtures;
mod test;

const TASKS: &str = "test (the whole suite, as CI runs it), contract (datafold-sdk vs foldup), fixtures (regenerate the dbt artifacts), docs (regenerate the README's configuration reference)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "test" => test::run(&rest),
        "fixtures" => fixtures::run(&rest),
        "docs" => docs::run(&rest),
        "contract" => contract::run(&rest),
        "" => bail!("name a task: {TASKS}"),
        other => bail!("unknown task '{other}'; tasks: {TASKS}"),
    }
}

/// The repository root (xtask lives one folder below it).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
