//! `cargo xtask pin-checksums --version V DIR`: writes the sha256 of each platform's release archive
//! of version V (the `foldup-V-<target>.tar.gz` files in DIR) into every place that installs foldup,
//! so that version V's installers accept only version V's archives:
//!
//! - `install.sh` (and its copy in the orb, `orb/src/scripts/install.sh`; the action runs the copy at
//!   its own root): the block between `# BEGIN PINNED CHECKSUMS` and `# END PINNED CHECKSUMS`;
//! - `templates/upload.yml` (the GitLab component, which downloads install.sh at run time): the
//!   sha256 of the pinned install.sh, which it checks before running it.
//!
//! The release workflow runs it on the archives it built, commits the result and tags that commit.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// Every platform the release builds, as Rust target triples (the archives' names carry them).
pub const RELEASE_TARGETS: [&str; 5] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
];

const BEGIN: &str = "# BEGIN PINNED CHECKSUMS";
const END: &str = "# END PINNED CHECKSUMS";
const COMPONENT_MARKER: &str = "FOLDUP_INSTALL_SH_SHA256:";

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `install.sh`'s text with its pinned block holding `version` and `sums` (target → sha256);
/// a target without a sum is pinned to nothing, which the script refuses.
pub fn pin_install_script(
    text: &str,
    version: &str,
    sums: &BTreeMap<String, String>,
) -> Result<String> {
    let start = text
        .find(BEGIN)
        .context("install.sh has no '# BEGIN PINNED CHECKSUMS' block")?;
    let end_marker = text[start..]
        .find(END)
        .context("install.sh has no '# END PINNED CHECKSUMS' line")?
        + start;
    let begin_line_end = text[start..].find('\n').context("install.sh ends early")? + start + 1;
    for target in sums.keys() {
        if !RELEASE_TARGETS.contains(&target.as_str()) {
            bail!(
                "{target} is not a release target ({})",
                RELEASE_TARGETS.join(", ")
            );
        }
    }
    let mut block = format!("pinned_version=\"{version}\"\npinned_sha256() {{\n  case \"$1\" in\n");
    for target in RELEASE_TARGETS {
        let sum = sums.get(target).map(String::as_str).unwrap_or("");
        block.push_str(&format!("    {target}) echo \"{sum}\" ;;\n"));
    }
    block.push_str("    *) echo \"\" ;;\n  esac\n}\n");
    Ok(format!(
        "{}{}{}",
        &text[..begin_line_end],
        block,
        &text[end_marker..]
    ))
}

/// The component template's text with `FOLDUP_INSTALL_SH_SHA256` set to `sum`.
pub fn pin_component(text: &str, sum: &str) -> Result<String> {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.find(COMPONENT_MARKER) {
            Some(at) => {
                found = true;
                format!("{}{COMPONENT_MARKER} \"{sum}\"", &line[..at])
            }
            None => line.to_owned(),
        })
        .collect();
    if !found {
        bail!("the component template sets no {COMPONENT_MARKER} variable");
    }
    Ok(lines.join("\n") + "\n")
}

/// The sha256 of each `foldup-<version>-<target>.tar.gz` in `dir`.
pub fn archive_sums(dir: &Path, version: &str) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for target in RELEASE_TARGETS {
        let archive = dir.join(format!("foldup-{version}-{target}.tar.gz"));
        if let Ok(bytes) = fs::read(&archive) {
            sums.insert(target.to_owned(), sha256_hex(&bytes));
        }
    }
    Ok(sums)
}

pub fn run(args: &[String]) -> Result<()> {
    let usage = "usage: cargo xtask pin-checksums --version V DIR (DIR holds foldup-V-<target>.tar.gz for every release target)";
    let (version, dir) = match args {
        [flag, version, dir] if flag == "--version" => {
            (version.trim_start_matches('v'), Path::new(dir))
        }
        _ => bail!("{usage}"),
    };
    let sums = archive_sums(dir, version)?;
    let missing: Vec<&str> = RELEASE_TARGETS
        .iter()
        .copied()
        .filter(|t| !sums.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} holds no archive of foldup {version} for {}; a release pins every platform",
            dir.display(),
            missing.join(", ")
        );
    }
    let root = crate::repo_root();
    let script = pin_install_script(
        &fs::read_to_string(root.join("install.sh"))?,
        version,
        &sums,
    )?;
    fs::write(root.join("install.sh"), &script)?;
    fs::write(root.join("orb/src/scripts/install.sh"), &script)?;
    for template in crate::component::TEMPLATES {
        let component = root.join("templates").join(format!("{template}.yml"));
        let pinned = pin_component(
            &fs::read_to_string(&component)?,
            &sha256_hex(script.as_bytes()),
        )?;
        fs::write(&component, pinned)?;
    }
    for (target, sum) in &sums {
        eprintln!("    pinned {target}: {sum}");
    }
    eprintln!(
        "==> pin-checksums: install.sh, orb/src/scripts/install.sh and the components in templates/ pin foldup {version}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_every_target_and_keeps_the_rest_of_install_sh() {
        let original = fs::read_to_string(crate::repo_root().join("install.sh")).unwrap();
        let mut sums = BTreeMap::new();
        sums.insert("aarch64-apple-darwin".to_owned(), "ab".repeat(32));
        let pinned = pin_install_script(&original, "9.8.7", &sums).unwrap();
        assert!(pinned.contains("pinned_version=\"9.8.7\""));
        assert!(pinned.contains(&format!(
            "    aarch64-apple-darwin) echo \"{}\" ;;",
            "ab".repeat(32)
        )));
        assert!(pinned.contains("    x86_64-unknown-linux-musl) echo \"\" ;;"));
        // Pinning again with nothing gives back a script equal outside the block.
        let unpinned = pin_install_script(&pinned, "0.1.0", &BTreeMap::new()).unwrap();
        let outside = |text: &str| {
            let start = text.find(BEGIN).unwrap();
            let end = text.find(END).unwrap();
            format!("{}{}", &text[..start], &text[end..])
        };
        assert_eq!(outside(&unpinned), outside(&original));
    }

    #[test]
    fn refuses_an_unknown_target() {
        let original = fs::read_to_string(crate::repo_root().join("install.sh")).unwrap();
        let mut sums = BTreeMap::new();
        sums.insert("riscv64gc-unknown-linux-gnu".to_owned(), "00".repeat(32));
        assert!(pin_install_script(&original, "1.0.0", &sums).is_err());
    }

    #[test]
    fn pins_the_component_installer_sum() {
        let text = fs::read_to_string(crate::repo_root().join("templates/upload.yml")).unwrap();
        let pinned = pin_component(&text, &"cd".repeat(32)).unwrap();
        assert!(pinned.contains(&format!(
            "FOLDUP_INSTALL_SH_SHA256: \"{}\"",
            "cd".repeat(32)
        )));
        assert_eq!(pinned.lines().count(), text.lines().count());
    }
}
