//! `cargo xtask docs`: rewrites the README's configuration reference from the option table.

use anyhow::{Context, Result};

const BEGIN: &str =
    "<!-- options:begin (generated from crates/foldup-core/src/settings/options.rs) -->\n";
const END: &str = "<!-- options:end -->";

pub fn run(_args: &[String]) -> Result<()> {
    let path = crate::repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).context("reading README.md")?;
    let (head, rest) = readme
        .split_once(BEGIN)
        .context("README.md lacks the options:begin marker")?;
    let (_, tail) = rest
        .split_once(END)
        .context("README.md lacks the options:end marker")?;
    // The same option table as the binary's: core's, then the native plugins' own.
    foldup_core::settings::options::register_plugin_options(&[
        foldup_github::OPTIONS,
        foldup_gitlab::OPTIONS,
        foldup_circleci::OPTIONS,
    ]);
    let table = foldup_core::settings::options::reference_markdown();
    std::fs::write(&path, format!("{head}{BEGIN}{table}{END}{tail}"))
        .context("writing README.md")?;
    eprintln!("README.md: configuration reference rewritten from the option table");
    Ok(())
}
