//! `cargo xtask fixtures [--only v11|v12] [--python PYTHON]`
//!
//! Regenerates the dbt artifacts the repository ships, with dbt itself: installs dbt-core and
//! dbt-duckdb from PyPI into virtualenvs under `target/tools/` (reused when they already hold the
//! pinned versions), runs the bundled example project `examples/shop` through dbt in a scratch copy,
//! and copies dbt's JSON artifacts plus the `compiled/` and `run/` trees into the repository:
//!
//! - dbt-core 1.10 (manifest v12) → `examples/shop/target/`, the example `cargo xtask demo` uploads;
//! - dbt-core 1.7 (manifest v11) → `crates/foldup/tests/fixtures/dbt/v11/target/`.
//!
//! dbt's binary leftovers (partial_parse.msgpack, graph.gpickle), the docs site, logs and the
//! DuckDB database stay in the scratch folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// One dbt version to run and where its artifacts go.
struct Flavor {
    label: &'static str,
    venv: &'static str,
    /// `pip install` requirements; dbt-duckdb's minor version follows dbt-core's.
    requirements: [&'static str; 2],
    /// Version prefixes an existing virtualenv must hold to be reused.
    versions: [(&'static str, &'static str); 2],
    destination: &'static str,
    manifest_schema: u32,
}

const FLAVORS: [Flavor; 2] = [
    Flavor {
        label: "v12",
        venv: "venv-dbt110",
        requirements: ["dbt-core==1.10.*", "dbt-duckdb==1.10.*"],
        versions: [("dbt-core", "1.10."), ("dbt-duckdb", "1.10.")],
        destination: "examples/shop/target",
        manifest_schema: 12,
    },
    Flavor {
        label: "v11",
        venv: "venv-dbt17",
        requirements: ["dbt-core==1.7.*", "dbt-duckdb==1.7.*"],
        versions: [("dbt-core", "1.7."), ("dbt-duckdb", "1.7.")],
        destination: "crates/foldup/tests/fixtures/dbt/v11/target",
        manifest_schema: 11,
    },
];

/// The dbt commands, in order. `docs generate` writes catalog.json and `source freshness`
/// sources.json; each also rewrites manifest.json, so a last `build` leaves manifest.json and
/// run_results.json from one invocation, as a CI job that runs `dbt build` before foldup has them.
const DBT_COMMANDS: [&[&str]; 5] = [
    &["seed"],
    &["build"],
    &["docs", "generate"],
    &["source", "freshness"],
    &["build"],
];

/// What is copied from dbt's target folder: its JSON artifacts and these two small trees.
const COPIED_TREES: [&str; 2] = ["compiled", "run"];

const EXAMPLE: &str = "examples/shop";

pub fn run(args: &[String]) -> Result<()> {
    let mut only = None;
    let mut python = "python3".to_string();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => only = Some(args.next().context("--only needs v11 or v12")?.clone()),
            "--python" => python = args.next().context("--python needs a path")?.clone(),
            other => bail!("unknown argument {other:?}; usage: cargo xtask fixtures [--only v11|v12] [--python PYTHON]"),
        }
    }
    if let Some(only) = &only {
        ensure!(
            FLAVORS.iter().any(|flavor| flavor.label == only),
            "--only takes v11 or v12, not {only:?}"
        );
    }

    let root = crate::repo_root();
    let tools = root.join("target/tools");
    fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    for flavor in FLAVORS
        .iter()
        .filter(|flavor| only.as_deref().is_none_or(|only| only == flavor.label))
    {
        println!(
            "== manifest {} with {}",
            flavor.label,
            flavor.requirements.join(" + ")
        );
        let venv = tools.join(flavor.venv);
        ensure_virtualenv(&python, &venv, flavor)?;
        let scratch = tools.join(format!("fixtures-{}", flavor.venv));
        let produced = run_dbt(&root, &venv, &scratch)?;
        check_manifest_schema(&produced.join("manifest.json"), flavor.manifest_schema)?;
        let destination = root.join(flavor.destination);
        copy_artifacts(&produced, &destination)?;
        println!("   wrote {}", flavor.destination);
    }
    Ok(())
}

/// The `dbt` the impact oracle test runs (dbt-core 1.10 with dbt-duckdb 1.10): `FOLDUP_TEST_DBT`
/// when it names a file, else `target/tools/venv-dbt110/bin/dbt`, installed from PyPI when missing.
pub fn ensure_test_dbt() -> Result<PathBuf> {
    if let Some(dbt) = std::env::var_os("FOLDUP_TEST_DBT").map(PathBuf::from) {
        ensure!(
            dbt.is_file(),
            "FOLDUP_TEST_DBT names {}, which is not a file",
            dbt.display()
        );
        return Ok(dbt);
    }
    let flavor = FLAVORS
        .iter()
        .find(|flavor| flavor.label == "v12")
        .context("the dbt 1.10 flavor")?;
    let tools = crate::repo_root().join("target/tools");
    fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    let venv = tools.join(flavor.venv);
    println!(
        "== dbt for the tests and the demo: {}",
        flavor.requirements.join(" + ")
    );
    ensure_virtualenv("python3", &venv, flavor)?;
    Ok(venv.join("bin/dbt"))
}

fn ensure_virtualenv(python: &str, venv: &Path, flavor: &Flavor) -> Result<()> {
    if holds_versions(venv, flavor) {
        println!("   reusing {}", venv.display());
        return Ok(());
    }
    println!("   creating {}", venv.display());
    run_checked(
        Command::new(python)
            .args(["-m", "venv", "--clear"])
            .arg(venv),
        "create a virtualenv (is python3 with the venv module installed?)",
    )?;
    run_checked(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(flavor.requirements),
        "install dbt from PyPI",
    )?;
    ensure!(
        holds_versions(venv, flavor),
        "{} does not hold {} after installing them",
        venv.display(),
        flavor.requirements.join(" and ")
    );
    Ok(())
}

/// Whether the virtualenv has dbt and the versions this flavor pins.
fn holds_versions(venv: &Path, flavor: &Flavor) -> bool {
    if !venv.join("bin/dbt").is_file() {
        return false;
    }
    let script = "import importlib.metadata as m, sys\n\
                  print(' '.join(m.version(name) for name in sys.argv[1:]))";
    let output = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .args(flavor.versions.iter().map(|(name, _)| name))
        .output();
    let Ok(output) = output else {
        return false;
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    output.status.success()
        && installed
            .split_whitespace()
            .zip(flavor.versions)
            .filter(|(version, (_, prefix))| version.starts_with(prefix))
            .count()
            == flavor.versions.len()
}

/// Runs dbt on a scratch copy of the example project and returns dbt's target folder.
fn run_dbt(root: &Path, venv: &Path, scratch: &Path) -> Result<PathBuf> {
    if scratch.exists() {
        fs::remove_dir_all(scratch).with_context(|| format!("clearing {}", scratch.display()))?;
    }
    let project = scratch.join("shop");
    copy_project(&root.join(EXAMPLE), &project)?;
    let target = project.join("target");
    for command in DBT_COMMANDS {
        println!("   dbt {}", command.join(" "));
        let mut dbt = Command::new(venv.join("bin/dbt"));
        dbt.args(command)
            .arg("--profiles-dir")
            .arg(&project)
            .arg("--target-path")
            .arg(&target)
            .arg("--log-path")
            .arg(scratch.join("logs"))
            .current_dir(&project)
            .env("SHOP_DUCKDB_PATH", scratch.join("shop.duckdb"));
        let output = crate::harness::dbt::quiet(&mut dbt)
            .output()
            .with_context(|| format!("running {}", venv.join("bin/dbt").display()))?;
        if !output.status.success() {
            bail!(
                "`dbt {}` failed ({}):\n{}{}",
                command.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(target)
}

/// Copies the example's sources, leaving out what an earlier hand-run of dbt may have left there.
fn copy_project(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if matches!(name.as_ref(), "target" | "logs" | "dbt_packages") || name.contains(".duckdb") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            crate::base::tree::copy_tree(&entry.path(), &to.join(&*name))?;
        } else {
            fs::copy(entry.path(), to.join(&*name))?;
        }
    }
    Ok(())
}

/// Replaces `destination` with dbt's JSON artifacts and the compiled/ and run/ trees.
fn copy_artifacts(produced: &Path, destination: &Path) -> Result<()> {
    if destination.exists() {
        fs::remove_dir_all(destination)
            .with_context(|| format!("clearing {}", destination.display()))?;
    }
    fs::create_dir_all(destination)?;
    let mut names = Vec::new();
    for entry in fs::read_dir(produced)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_json = name.ends_with(".json") && entry.file_type()?.is_file();
        if is_json {
            fs::copy(entry.path(), destination.join(&name))?;
            names.push(name);
        } else if COPIED_TREES.contains(&name.as_str()) {
            crate::base::tree::copy_tree(&entry.path(), &destination.join(&name))?;
            names.push(format!("{name}/"));
        }
    }
    names.sort();
    println!("   copied {}", names.join(", "));
    Ok(())
}

fn check_manifest_schema(manifest: &Path, expected: u32) -> Result<()> {
    let text = fs::read_to_string(manifest)
        .with_context(|| format!("dbt wrote no {}", manifest.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let url = value["metadata"]["dbt_schema_version"]
        .as_str()
        .context("the manifest has no metadata.dbt_schema_version")?;
    let wanted = format!("https://schemas.getdbt.com/dbt/manifest/v{expected}.json");
    ensure!(
        url == wanted,
        "dbt wrote a manifest with schema {url}, expected {wanted}"
    );
    Ok(())
}

fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start the command to {what}"))?;
    ensure!(status.success(), "could not {what} ({status})");
    Ok(())
}
