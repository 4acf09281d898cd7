//! The release build the packaging tests install from: the static Linux binaries this machine can
//! build (x86_64, and aarch64 when an aarch64 Rust std is installed), their archives and checksums,
//! and `install.sh` with those checksums pinned, in `target/dist`, rebuilt only when a source is
//! newer.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::base::repo::workspace_version;

/// The Linux platforms `cargo xtask dist` builds here (the release workflow builds every platform of
/// [`crate::pin::RELEASE_TARGETS`] on GitHub's runners). The first is this machine's.
pub const LINUX_TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

/// One platform's release archive, built here.
pub struct Platform {
    /// The release target the archive is named for (`foldup-<version>-<target>.tar.gz`).
    pub target: String,
    /// The Rust target it was compiled for: the musl target when its std is installed, else the
    /// glibc target linked statically (`+crt-static`), which is as static.
    pub built_as: String,
    pub binary: PathBuf,
    pub archive: PathBuf,
    pub checksum: PathBuf,
}

/// What `cargo xtask dist` produces.
pub struct Dist {
    pub version: String,
    /// This machine's platform (x86_64 Linux).
    pub binary: PathBuf,
    pub archive: PathBuf,
    /// Every platform built, this machine's first.
    pub platforms: Vec<Platform>,
    /// `install.sh` with the checksums of these archives pinned, as the release pins it.
    pub install_script: PathBuf,
}

/// How to compile one release target on this machine, or why it cannot be.
struct Toolchain {
    target: &'static str,
    built_as: String,
    rustc: Option<PathBuf>,
    env: Vec<(String, String)>,
    rustflags: Option<String>,
}

fn rustup_has(target: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target)
        })
        .unwrap_or(false)
}

/// Picks the way to build `target` here: rustup's musl std; else rustup's (x86_64) or Debian's
/// `rustc-web` (aarch64: `libstd-rust-web-dev:arm64`) glibc std, linked statically.
fn toolchain(target: &'static str) -> std::result::Result<Toolchain, String> {
    let arch = target.split('-').next().unwrap_or_default();
    let glibc = format!("{arch}-unknown-linux-gnu");
    let gnu_cc = format!("{arch}-linux-gnu-gcc");
    let env_key = |t: &str| t.replace('-', "_");
    if rustup_has(target) {
        let cc = if arch == "x86_64" {
            "musl-gcc".to_owned()
        } else {
            format!("{arch}-linux-musl-gcc")
        };
        if !on_path(&cc) {
            return Err(format!(
                "{cc} is missing (aws-lc, rustls' crypto, compiles C); install musl-tools"
            ));
        }
        let mut env = vec![(format!("CC_{}", env_key(target)), cc.clone())];
        if arch != "x86_64" {
            env.push((
                format!("CARGO_TARGET_{}_LINKER", env_key(target).to_uppercase()),
                cc,
            ));
        }
        return Ok(Toolchain {
            target,
            built_as: target.to_owned(),
            rustc: None,
            env,
            rustflags: None,
        });
    }
    let static_flags = Some("-C target-feature=+crt-static".to_owned());
    if arch == "x86_64" && rustup_has(&glibc) {
        return Ok(Toolchain {
            target,
            built_as: format!("{glibc} +crt-static"),
            rustc: None,
            env: vec![],
            rustflags: static_flags,
        });
    }
    let debian_std = Path::new("/usr/lib/rustlib").join(&glibc);
    if debian_std.is_dir() && Path::new("/usr/bin/rustc").is_file() {
        if !on_path(&gnu_cc) {
            return Err(format!(
                "{gnu_cc} is missing; install gcc-{arch}-linux-gnu and libc6-dev-{}-cross",
                if arch == "aarch64" { "arm64" } else { arch }
            ));
        }
        let env = vec![
            (format!("CC_{}", env_key(&glibc)), gnu_cc.clone()),
            (
                format!("CARGO_TARGET_{}_LINKER", env_key(&glibc).to_uppercase()),
                gnu_cc,
            ),
        ];
        return Ok(Toolchain {
            target,
            built_as: format!("{glibc} +crt-static (Debian rustc-web)"),
            rustc: Some("/usr/bin/rustc".into()),
            env,
            rustflags: static_flags,
        });
    }
    Err(format!(
        "no {arch} Rust std here: neither `rustup target add {target}` nor Debian's rustc-web with libstd-rust-web-dev:{} (dpkg --add-architecture arm64)",
        if arch == "aarch64" { "arm64" } else { "amd64" }
    ))
}

impl Toolchain {
    fn rust_target(&self) -> &str {
        self.built_as.split(' ').next().unwrap_or(self.target)
    }
}

pub fn platform_at(version: &str, target: &str, rust_target: &str, built_as: &str) -> Platform {
    let dir = dist_dir();
    let name = archive_stem(version, target);
    Platform {
        target: target.to_owned(),
        built_as: built_as.to_owned(),
        binary: crate::repo_root().join(format!("target/{rust_target}/release/foldup")),
        archive: dir.join(format!("{name}.tar.gz")),
        checksum: dir.join(format!("{name}.tar.gz.sha256")),
    }
}

impl Dist {
    fn new(version: &str, platforms: Vec<Platform>) -> Result<Self> {
        let host = platforms.first().context("dist built no platform")?;
        Ok(Self {
            version: version.to_owned(),
            binary: host.binary.clone(),
            archive: host.archive.clone(),
            install_script: dist_dir().join("install.sh"),
            platforms,
        })
    }

    /// The dist output already on disk: every Linux platform with an archive; none before the
    /// first `cargo xtask dist`.
    fn existing(version: &str) -> Result<Option<Self>> {
        let mut platforms = Vec::new();
        for target in LINUX_TARGETS {
            let built_as = fs::read_to_string(
                dist_dir().join(format!("{}.built-as", archive_stem(version, target))),
            )
            .unwrap_or_default();
            let built_as = built_as.trim();
            if built_as.is_empty() {
                continue;
            }
            let rust_target = built_as.split(' ').next().unwrap_or(target);
            platforms.push(platform_at(version, target, rust_target, built_as));
        }
        if platforms.is_empty() {
            return Ok(None);
        }
        Self::new(version, platforms).map(Some)
    }

    /// Lays out a mirror of the release downloads under `root`: `v<version>/…`.
    pub fn publish_to(&self, root: &Path) -> Result<PathBuf> {
        let folder = root.join(format!("v{}", self.version));
        fs::create_dir_all(&folder)?;
        let mut files = vec![&self.install_script];
        for platform in &self.platforms {
            files.push(&platform.archive);
            files.push(&platform.checksum);
        }
        for file in files {
            let name = file.file_name().context("a dist file has no name")?;
            fs::copy(file, folder.join(name))
                .with_context(|| format!("cannot copy {} to the mirror", file.display()))?;
        }
        Ok(folder)
    }
}

pub fn dist_dir() -> PathBuf {
    crate::repo_root().join("target/dist")
}

pub fn archive_stem(version: &str, target: &str) -> String {
    format!("foldup-{version}-{target}")
}

/// The dist output, rebuilt only when a source is newer than the archive.
pub fn fresh() -> Result<Dist> {
    let version = workspace_version()?;
    let Some(dist) = Dist::existing(&version)? else {
        let dist = build()?;
        let _ = CHECKED.set(());
        return Ok(dist);
    };
    // Once checked or built, the output serves every later step of this process (`cargo xtask
    // test`), even if a source is edited meanwhile.
    if CHECKED.get().is_some() {
        return Ok(dist);
    }
    let mut outputs = vec![&dist.install_script];
    for platform in &dist.platforms {
        outputs.extend([&platform.binary, &platform.archive, &platform.checksum]);
    }
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

/// The workspace version, from `cargo metadata`.
/// an aarch64 std), its archive and checksum, and `install.sh` with their checksums pinned.
pub fn build() -> Result<Dist> {
    let version = workspace_version()?;
    let mut platforms = Vec::new();
    for (index, target) in LINUX_TARGETS.into_iter().enumerate() {
        let toolchain = match toolchain(target) {
            Ok(toolchain) => toolchain,
            Err(why) if index > 0 => {
                eprintln!("\n==> dist: skipping {target}: {why}");
                let _ = fs::remove_file(
                    dist_dir().join(format!("{}.built-as", archive_stem(&version, target))),
                );
                continue;
            }
            Err(why) => bail!("cannot build {target}: {why}"),
        };
        platforms.push(build_platform(&version, &toolchain)?);
    }
    let dist = Dist::new(&version, platforms)?;
    let sums = crate::pin::archive_sums(&dist_dir(), &version)?;
    let sums = sums
        .into_iter()
        .filter(|(target, _)| dist.platforms.iter().any(|p| &p.target == target))
        .collect();
    let script = fs::read_to_string(crate::repo_root().join("install.sh"))?;
    fs::write(
        &dist.install_script,
        crate::pin::pin_install_script(&script, &version, &sums)?,
    )?;
    Ok(dist)
}

fn build_platform(version: &str, toolchain: &Toolchain) -> Result<Platform> {
    let rust_target = toolchain.rust_target();
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--target",
            rust_target,
            "-p",
            "foldup",
            "--bin",
            "foldup",
        ])
        .args(["--config", "profile.release.strip=true"])
        .envs(toolchain.env.iter().map(|(k, v)| (k, v)))
        .current_dir(crate::repo_root());
    if let Some(rustc) = &toolchain.rustc {
        cargo.env("RUSTC", rustc);
    }
    if let Some(flags) = &toolchain.rustflags {
        cargo.env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                rust_target.replace('-', "_").to_uppercase()
            ),
            flags,
        );
    }
    eprintln!(
        "\n==> dist: {}: cargo build --release --target {rust_target} -p foldup ({}; LTO: this takes minutes)",
        toolchain.target, toolchain.built_as
    );
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "the release build for {} failed; see cargo's output above",
            toolchain.target
        );
    }
    let platform = platform_at(version, toolchain.target, rust_target, &toolchain.built_as);
    if !platform.binary.is_file() {
        bail!("cargo did not produce {}", platform.binary.display());
    }
    fs::create_dir_all(dist_dir())?;
    write_archive(version, &platform)?;
    let digest = sha256_file(&platform.archive)?;
    let archive_name = platform
        .archive
        .file_name()
        .and_then(|n| n.to_str())
        .context("archive name")?;
    fs::write(&platform.checksum, format!("{digest}  {archive_name}\n"))?;
    fs::write(
        dist_dir().join(format!(
            "{}.built-as",
            archive_stem(version, &platform.target)
        )),
        &platform.built_as,
    )?;
    Ok(platform)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// `foldup-<version>-<target>/foldup` (and the README) in a gzipped tar.
fn write_archive(version: &str, platform: &Platform) -> Result<()> {
    write_archive_named(version, platform, "foldup")
}

/// The archive with the binary stored as `name` (`foldup.exe` on Windows).
pub fn write_archive_named(version: &str, platform: &Platform, name: &str) -> Result<()> {
    let stem = archive_stem(version, &platform.target);
    let file = fs::File::create(&platform.archive)?;
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
    add(&platform.binary, name, 0o755)?;
    let readme = crate::repo_root().join("README.md");
    if readme.is_file() {
        add(&readme, "README.md", 0o644)?;
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
