//! Scratch folders: where a task writes what it throws away.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// `target/tmp/<name>`, emptied: a task's own scratch folder, left in place after the run so
/// that a failure can be looked at.
pub fn fresh_scratch(name: &str) -> Result<PathBuf> {
    let scratch = crate::repo_root().join("target/tmp").join(name);
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    Ok(scratch)
}
