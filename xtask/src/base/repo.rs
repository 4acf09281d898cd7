//! The repository and the workspace's builds: where things are, and which version is built.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The repository root (xtask lives one folder below it).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `path` relative to the repository root, for messages.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The foldup package's version, as `cargo metadata` reads it.
pub fn workspace_version() -> Result<String> {
    let output = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed; fix Cargo.toml first");
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == "foldup"))
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("cargo metadata lists no foldup package")
}

/// A binary of the workspace's debug build (built by `cargo build --workspace --bins`), building
/// it when it is missing.
pub fn debug_binary(name: &str) -> Result<PathBuf> {
    let path = repo_root().join("target/debug").join(name);
    if !path.is_file() {
        super::step::run_step("build", "cargo", &["build", "--workspace", "--bins"])?;
    }
    if !path.is_file() {
        bail!(
            "{} is missing after cargo build; does the workspace still build a {name} binary?",
            path.display()
        );
    }
    Ok(path)
}
