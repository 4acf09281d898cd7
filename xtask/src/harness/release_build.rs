//! The release build the packaging tests install from: the static binary, its archive and
//! checksum, and `install.sh` beside them in `target/dist`, rebuilt only when a source is newer.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::base::repo::workspace_version;

pub const TARGET: &str = "x86_64-unknown-linux-musl";

/// What `cargo xtask dist` produces.
pub struct Dist {
    pub version: String,
    pub binary: PathBuf,
    pub archive: PathBuf,
    pub checksum: PathBuf,
    pub install_script: PathBuf,
}

impl Dist {
    fn at(version: &str) -> Self {
        let dir = dist_dir();
        let name = archive_stem(version);
        Self {
            version: version.to_owned(),
            binary: crate::repo_root().join(format!("target/{TARGET}/release/foldup")),
            archive: dir.join(format!("{name}.tar.gz")),
            checksum: dir.join(format!("{name}.tar.gz.sha256")),
            install_script: dir.join("install.sh"),
        }
    }

    /// Lays out a mirror of the release downloads under `root`: `v<version>/…`.
    pub fn publish_to(&self, root: &Path) -> Result<PathBuf> {
        let folder = root.join(format!("v{}", self.version));
        fs::create_dir_all(&folder)?;
        for file in [&self.archive, &self.checksum, &self.install_script] {
            let name = file.file_name().context("a dist file has no name")?;
            fs::copy(file, folder.join(name))
                .with_context(|| format!("cannot copy {} to the mirror", file.display()))?;
        }
        Ok(folder)
    }
}

fn dist_dir() -> PathBuf {
    crate::repo_root().join("target/dist")
}

fn archive_stem(version: &str) -> String {
    format!("foldup-{version}-{TARGET}")
}

/// The dist output, rebuilt only when a source is newer than the archive.
pub fn fresh() -> Result<Dist> {
    let version = workspace_version()?;
    let dist = Dist::at(&version);
    // Once checked or built, the output serves every later step of this process (`cargo xtask
    // test`), even if a source is edited meanwhile.
    if CHECKED.get().is_some() {
        return Ok(dist);
    }
    let outputs = [
        &dist.binary,
        &dist.archive,
        &dist.checksum,
        &dist.install_script,
    ];
    let oldest_output = outputs
        .iter()
        .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().min());
    if let Some(oldest_output) = oldest_output {
        let newest_source = newest_source()?;
        if newest_source < oldest_output {
            eprintln!("==> dist: reusing target/dist (newer than every source)");
            let _ = CHECKED.set(());
            return Ok(dist);
        }
    }
    let dist = build()?;
    let _ = CHECKED.set(());
    Ok(dist)
}

static CHECKED: OnceLock<()> = OnceLock::new();

fn newest_source() -> Result<SystemTime> {
    let root = crate::repo_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending: Vec<PathBuf> = ["crates", "config", "Cargo.toml", "Cargo.lock", "install.sh"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        } else {
            newest = newest.max(meta.modified()?);
        }
    }
    Ok(newest)
}

/// Builds the static binary, the archive, its checksum, and copies `install.sh` beside them.
pub fn build() -> Result<Dist> {
    ensure_musl_target()?;
    let version = workspace_version()?;
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "-p",
            "foldup",
            "--bin",
            "foldup",
        ])
        .args(["--config", "profile.release.strip=true"])
        .current_dir(crate::repo_root());
    let cc_var = format!("CC_{}", TARGET.replace('-', "_"));
    if std::env::var_os(&cc_var).is_none() {
        // aws-lc-sys (rustls' crypto) compiles C; for musl it needs musl's compiler wrapper.
        if !on_path("musl-gcc") {
            bail!("musl-gcc is missing, and the static build compiles C code (aws-lc) with it; install it with `apt-get install musl-tools` (or set {cc_var}) and run again");
        }
        cargo.env(&cc_var, "musl-gcc");
    }
    eprintln!(
        "\n==> dist: cargo build --release --target {TARGET} -p foldup (LTO: this takes minutes)"
    );
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the release build for {TARGET} failed; see cargo's output above");
    }
    let dist = Dist::at(&version);
    if !dist.binary.is_file() {
        bail!("cargo did not produce {}", dist.binary.display());
    }
    fs::create_dir_all(dist_dir())?;
    write_archive(&dist)?;
    let digest = sha256_file(&dist.archive)?;
    let archive_name = dist
        .archive
        .file_name()
        .and_then(|n| n.to_str())
        .context("archive name")?;
    fs::write(&dist.checksum, format!("{digest}  {archive_name}\n"))?;
    fs::copy(crate::repo_root().join("install.sh"), &dist.install_script)?;
    Ok(dist)
}

fn ensure_musl_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is not installed; the static build needs `rustup target add x86_64-unknown-linux-musl`")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("==> dist: rustup target add {TARGET}");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()?;
    if !status.success() {
        bail!("rustup could not install the {TARGET} target, which the static binary needs; run `rustup target add {TARGET}` by hand and fix what it reports");
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// `foldup-<version>-<target>/foldup` (and the README) in a gzipped tar.
fn write_archive(dist: &Dist) -> Result<()> {
    let stem = archive_stem(&dist.version);
    let file = fs::File::create(&dist.archive)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mtime = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs();
    let mut add = |path: &Path, name: &str, mode: u32| -> Result<()> {
        let bytes = fs::read(path)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, format!("{stem}/{name}"), bytes.as_slice())?;
        Ok(())
    };
    add(&dist.binary, "foldup", 0o755)?;
    let readme = crate::repo_root().join("README.md");
    if readme.is_file() {
        add(&readme, "README.md", 0o644)?;
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
