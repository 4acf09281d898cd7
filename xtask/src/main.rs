//! Repository chores as plain Rust (the cargo-xtask pattern): `cargo xtask <task>`.

use anyhow::{bail, Result};

mod contract;
mod fixtures;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "fixtures" => fixtures::run(&rest),
        "contract" => contract::run(&rest),
        _ => bail!("unknown task '{task}'; tasks: fixtures, contract"),
    }
}
