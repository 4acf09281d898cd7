//! Running one step of a task: a command from the repository root, named in the log.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs a command from the repository root, failing loudly with its name.
pub fn run_step(name: &str, program: &str, args: &[&str]) -> Result<()> {
    run_step_with_env(name, program, args, &[])
}

/// [`run_step`] with `env` added to the command's environment.
pub fn run_step_with_env(
    name: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    let shown_env: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("\n==> {name}: {shown_env}{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(super::repo::repo_root())
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
