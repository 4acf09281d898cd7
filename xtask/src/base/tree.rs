//! Copying folders: a whole tree, or the bundled example project.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Copies the regular files and folders below `from` into `to` (created if missing); other kinds
/// of entries (sockets, symbolic links) are left out.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let destination = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &destination)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &destination)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Copies the bundled example dbt project (`examples/shop`, its `target/` included) to `to`.
pub fn copy_example_project(to: &Path) -> Result<()> {
    copy_tree(&super::repo::repo_root().join("examples/shop"), to)
}
