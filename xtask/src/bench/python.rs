//! The Python side of the benchmark, installed from PyPI into virtualenvs in the bench cache:
//! dbt (to write the workloads) and datafold-sdk (the uploader foldup is measured against).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

/// What `pip install` gets for dbt. dbt-duckdb's minor version follows dbt-core's.
pub const DBT_REQUIREMENTS: [&str; 2] = ["dbt-core==1.10.*", "dbt-duckdb==1.10.*"];
/// What `pip install` gets for datafold-sdk. dbt-core must be pinned: unpinned, pip's resolver
/// wanders into versions that cannot install without the internet.
pub const DATAFOLD_REQUIREMENTS: [&str; 2] = ["datafold-sdk==0.4.1", "dbt-core==1.10.*"];

pub struct Venvs {
    pub dbt_venv: PathBuf,
    pub datafold_venv: PathBuf,
    pub dbt_core_version: String,
    pub dbt_duckdb_version: String,
    pub datafold_sdk_version: String,
    pub python_version: String,
}

impl Venvs {
    /// Creates (or reuses) both virtualenvs under `cache`.
    pub fn ensure(cache: &Path, python: &str) -> Result<Self> {
        let dbt_venv = cache.join("venv-dbt");
        let datafold_venv = cache.join("venv-datafold");
        ensure_venv(python, &dbt_venv, &DBT_REQUIREMENTS, "dbt")?;
        ensure_venv(python, &datafold_venv, &DATAFOLD_REQUIREMENTS, "datafold")?;
        let versions = installed(&dbt_venv, &["dbt-core", "dbt-duckdb"])?;
        let sdk = installed(&datafold_venv, &["datafold-sdk"])?;
        let python_version =
            command_output(Command::new(dbt_venv.join("bin/python")).arg("--version"))?;
        Ok(Self {
            dbt_venv,
            datafold_venv,
            dbt_core_version: versions[0].clone(),
            dbt_duckdb_version: versions[1].clone(),
            datafold_sdk_version: sdk[0].clone(),
            python_version: python_version.trim().to_string(),
        })
    }

    pub fn dbt(&self) -> PathBuf {
        self.dbt_venv.join("bin/dbt")
    }

    pub fn datafold(&self) -> PathBuf {
        self.datafold_venv.join("bin/datafold")
    }
}

fn ensure_venv(python: &str, venv: &Path, requirements: &[&str], executable: &str) -> Result<()> {
    let complete = venv.join(".bench-complete");
    if complete.is_file() && venv.join("bin").join(executable).is_file() {
        return Ok(());
    }
    println!(
        "   installing {} into {}",
        requirements.join(" "),
        venv.display()
    );
    let status = Command::new(python)
        .args(["-m", "venv", "--clear"])
        .arg(venv)
        .status()
        .with_context(|| format!("running {python} -m venv"))?;
    ensure!(
        status.success(),
        "{python} -m venv {} failed",
        venv.display()
    );
    let status = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(requirements)
        .status()
        .context("running pip")?;
    ensure!(
        status.success(),
        "pip install {} failed",
        requirements.join(" ")
    );
    std::fs::write(&complete, requirements.join("\n"))?;
    Ok(())
}

/// The installed versions of `names` in `venv`.
fn installed(venv: &Path, names: &[&str]) -> Result<Vec<String>> {
    let script =
        "import importlib.metadata as m, sys\nprint(' '.join(m.version(n) for n in sys.argv[1:]))";
    let text = command_output(
        Command::new(venv.join("bin/python"))
            .args(["-c", script])
            .args(names),
    )?;
    let versions: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    ensure!(
        versions.len() == names.len(),
        "could not read the versions of {names:?} in {}",
        venv.display()
    );
    Ok(versions)
}

pub fn command_output(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&output.stderr).into_owned();
    }
    Ok(text)
}
