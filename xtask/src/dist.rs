//! `cargo xtask dist`: the static Linux release binaries this machine can build (x86_64, and
//! aarch64 when an aarch64 Rust std is installed), their archives and checksums, and `install.sh`
//! with those checksums pinned, as the release pins them.
//! `cargo xtask dist-test`: proves them: each binary runs in an empty environment (aarch64 under
//! `qemu-aarch64`), `file` says it is static, it uploads to the test server; `install.sh` installs
//! from a local mirror, picks each platform's archive (a fake `uname`), refuses an archive whose
//! sha256 differs from the pinned one (even with a matching `.sha256`), another version, plain
//! http, an unpinned installer, skips an installed version, and prints `--help` through a pipe.
//! `cargo xtask package TARGET`: the release workflow's archive step.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::datafold_server::{self, DatafoldServer};
use crate::release_mirror::ReleaseMirror;

/// The Linux platforms `cargo xtask dist` builds here (the release workflow builds every platform of
/// [`crate::pin::RELEASE_TARGETS`] on GitHub's runners). The first is this machine's.
pub const LINUX_TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
/// The size budget of the static binary.
const MAX_BINARY_BYTES: u64 = 10 * 1000 * 1000;

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

fn platform_at(version: &str, target: &str, rust_target: &str, built_as: &str) -> Platform {
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

fn dist_dir() -> PathBuf {
    crate::repo_root().join("target/dist")
}

fn archive_stem(version: &str, target: &str) -> String {
    format!("foldup-{version}-{target}")
}

pub fn run(_args: &[String]) -> Result<()> {
    let dist = build()?;
    report(&dist)
}

/// `cargo xtask dist-test`: reuses a dist output newer than the sources, else builds one, then
/// checks it.
pub fn test(_args: &[String]) -> Result<()> {
    let dist = fresh()?;
    report(&dist)?;
    verify(&dist)
}

fn report(dist: &Dist) -> Result<()> {
    for platform in &dist.platforms {
        let binary = fs::metadata(&platform.binary)?.len();
        let archive = fs::metadata(&platform.archive)?.len();
        eprintln!(
            "==> dist: {} ({:.2} MB binary built as {}, {:.2} MB archive), {}",
            crate::validators::relative(&platform.archive),
            binary as f64 / 1e6,
            platform.built_as,
            archive as f64 / 1e6,
            crate::validators::relative(&platform.checksum),
        );
    }
    eprintln!(
        "==> dist: {} (checksums pinned)",
        crate::validators::relative(&dist.install_script)
    );
    Ok(())
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
pub fn workspace_version() -> Result<String> {
    let output = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(crate::repo_root())
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
/// its package when it is missing.
pub fn debug_binary(name: &str) -> Result<PathBuf> {
    let path = crate::repo_root().join("target/debug").join(name);
    if !path.is_file() {
        crate::test::run_step("build", "cargo", &["build", "--workspace", "--bins"])?;
    }
    if !path.is_file() {
        bail!(
            "{} is missing after cargo build; does the workspace still build a {name} binary?",
            path.display()
        );
    }
    Ok(path)
}

/// Builds the static binary of each Linux platform this machine can (x86_64 always; aarch64 with
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
fn write_archive_named(version: &str, platform: &Platform, name: &str) -> Result<()> {
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

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Runs `program` with exactly `env` (nothing inherited) and returns its output.
fn run_clean(program: &Path, args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Result<Output> {
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .with_context(|| format!("cannot run {}", program.display()))
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The dist acceptance checks.
pub fn verify(dist: &Dist) -> Result<()> {
    eprintln!("\n==> dist-test: the static binary and install.sh");
    let scratch = crate::repo_root().join("target/tmp/dist-test");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;

    for platform in &dist.platforms {
        verify_binary(platform, &dist.version, &scratch)?;
    }
    if !dist
        .platforms
        .iter()
        .any(|p| p.target.starts_with("aarch64"))
    {
        eprintln!("    note: no aarch64 archive was built here (see `cargo xtask dist`), so none was run under qemu-aarch64");
    }
    verify_install_script(dist, &scratch)
}

/// Runs a platform's binary with exactly `env`: natively, or under `qemu-aarch64` (Debian's
/// qemu-user) for aarch64 on another machine.
fn run_on(platform: &Platform, args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Result<Output> {
    let native = std::env::consts::ARCH == platform.target.split('-').next().unwrap_or_default();
    if native {
        return run_clean(&platform.binary, args, env, cwd);
    }
    let qemu = format!(
        "qemu-{}",
        platform.target.split('-').next().unwrap_or_default()
    );
    let qemu_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(&qemu)).find(|p| p.is_file()))
        .with_context(|| format!("{qemu} is missing, and it runs the {} binary here; install qemu-user (apt-get install qemu-user)", platform.target))?;
    let binary = platform
        .binary
        .to_str()
        .context("binary path is not UTF-8")?;
    let mut all = vec![binary];
    all.extend_from_slice(args);
    run_clean(&qemu_path, &all, env, cwd)
}

/// One platform's binary: size, static and stripped, runs from an empty environment (under qemu
/// when foreign), and uploads to the test server.
fn verify_binary(platform: &Platform, version: &str, scratch: &Path) -> Result<()> {
    eprintln!("  {} (built as {})", platform.target, platform.built_as);
    let scratch = scratch.join(&platform.target);
    fs::create_dir_all(&scratch)?;
    let scratch = scratch.as_path();
    // Size.
    let size = fs::metadata(&platform.binary)?.len();
    if size >= MAX_BINARY_BYTES {
        bail!(
            "the static binary is {:.2} MB, over the 10 MB budget; find what grew (cargo tree -p foldup -e normal) before releasing",
            size as f64 / 1e6
        );
    }
    eprintln!("    ok: binary size {:.2} MB (< 10 MB)", size as f64 / 1e6);

    // `file` says static and stripped.
    let file = Command::new("file")
        .arg("-b")
        .arg(&platform.binary)
        .output()
        .context("cannot run `file`; install it (apt-get install file)")?;
    let kind = String::from_utf8_lossy(&file.stdout).to_string();
    let is_static = kind.contains("statically linked") || kind.contains("static-pie linked");
    if !is_static || kind.contains("dynamically linked") || kind.contains("interpreter") {
        bail!("`file` does not report the dist binary as static: {kind}");
    }
    if !kind.contains("stripped") || kind.contains("not stripped") {
        bail!("`file` does not report the dist binary as stripped: {kind}");
    }
    eprintln!("    ok: file: {}", kind.trim());

    // Runs with an empty environment.
    let empty = scratch.join("empty");
    fs::create_dir_all(&empty)?;
    let version_run = run_on(platform, &["--version"], &[], &empty)?;
    let version_text = String::from_utf8_lossy(&version_run.stdout)
        .trim()
        .to_owned();
    if !version_run.status.success() || version_text != format!("foldup {}", version) {
        bail!(
            "`env -i foldup --version` should print 'foldup {}': {}",
            version,
            describe(&version_run)
        );
    }
    eprintln!("    ok: env -i foldup --version: {version_text}");
    let env_json = run_on(platform, &["env", "--json"], &[], &empty)?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&env_json.stdout).with_context(|| {
            format!(
                "`env -i foldup env --json` printed no JSON: {}",
                describe(&env_json)
            )
        })?;
    if !env_json.status.success() || parsed["provider"] != "local" {
        bail!(
            "`env -i foldup env --json` should succeed and name the local provider: {}",
            describe(&env_json)
        );
    }
    eprintln!("    ok: env -i foldup env --json: provider local");

    // A real upload from an empty environment (no CA bundle, no HOME, no PATH) to the test server.
    let server = DatafoldServer::start(scratch)?;
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let target_folder = crate::repo_root().join("examples/shop/target");
    let target_folder = target_folder
        .to_str()
        .context("repository path is not UTF-8")?;
    let config_id = datafold_server::CI_CONFIG_ID.to_string();
    let upload = run_on(
        platform,
        &[
            "upload",
            "--ci-config-id",
            &config_id,
            "--run-type",
            "production",
            "--commit-sha",
            sha,
            "--target-folder",
            target_folder,
        ],
        &[
            ("DATAFOLD_API_KEY", datafold_server::API_KEY),
            ("DATAFOLD_HOST", server.url()),
        ],
        &empty,
    )?;
    if !upload.status.success() {
        bail!(
            "`env -i foldup upload` to the test server failed: {}",
            describe(&upload)
        );
    }
    datafold_server::single_new_upload(&server, 0, "env -i foldup upload")?.expect(
        "env -i foldup upload",
        sha,
        "production",
    )?;
    drop(server);
    Ok(())
}

fn verify_install_script(dist: &Dist, scratch: &Path) -> Result<()> {
    let shell = Path::new("/bin/sh");
    // The installer as the release publishes it: the checksums of these archives pinned.
    let script = dist
        .install_script
        .to_str()
        .context("repository path is not UTF-8")?;
    let path = std::env::var("PATH").unwrap_or_default();
    let home = scratch.join("home");
    fs::create_dir_all(&home)?;
    let home = home
        .to_str()
        .context("scratch path is not UTF-8")?
        .to_owned();
    let binary = fs::read(&dist.binary)?;

    // A good mirror: installs the very binary, by variable and by flag.
    let good = scratch.join("mirror-good");
    dist.publish_to(&good)?;
    let mirror = ReleaseMirror::serve(&good)?;
    let dir_by_var = scratch.join("bin-by-variable");
    let out = run_clean(
        shell,
        &[script],
        &[
            ("PATH", &path),
            ("HOME", &home),
            ("FOLDUP_INSTALL_BASE_URL", mirror.url()),
            ("FOLDUP_VERSION", &dist.version),
            ("FOLDUP_INSTALL_DIR", dir_by_var.to_str().context("path")?),
        ],
        scratch,
    )?;
    if !out.status.success()
        || fs::read(dir_by_var.join("foldup")).ok().as_deref() != Some(binary.as_slice())
    {
        bail!(
            "install.sh (settings by variable) did not install the dist binary: {}",
            describe(&out)
        );
    }
    eprintln!("    ok: install.sh installed foldup from a local mirror (FOLDUP_* variables)");
    let dir_by_flag = scratch.join("bin-by-flag");
    let version_flag = format!("v{}", dist.version);
    let out = run_clean(
        shell,
        &[
            script,
            "--version",
            &version_flag,
            "--dir",
            dir_by_flag.to_str().context("path")?,
            "--base-url",
            mirror.url(),
        ],
        &[("PATH", &path), ("HOME", &home)],
        scratch,
    )?;
    if !out.status.success()
        || fs::read(dir_by_flag.join("foldup")).ok().as_deref() != Some(binary.as_slice())
    {
        bail!(
            "install.sh (settings by flag) did not install the dist binary: {}",
            describe(&out)
        );
    }
    let installed = Command::new(dir_by_flag.join("foldup"))
        .arg("--version")
        .output()?;
    if !String::from_utf8_lossy(&installed.stdout).contains(&dist.version) {
        bail!(
            "the installed foldup does not report version {}",
            dist.version
        );
    }
    eprintln!(
        "    ok: install.sh installed foldup from a local mirror (--version v…, --dir, --base-url)"
    );

    // An unknown version: a clear refusal.
    let dir_missing = scratch.join("bin-missing-version");
    let out = run_clean(
        shell,
        &[
            script,
            "--version",
            "99.0.0",
            "--dir",
            dir_missing.to_str().context("path")?,
        ],
        &[
            ("PATH", &path),
            ("HOME", &home),
            ("FOLDUP_INSTALL_BASE_URL", mirror.url()),
        ],
        scratch,
    )?;
    expect_refusal(
        &out,
        &dir_missing,
        "this installer pins the checksums of foldup",
        "another version than the one it pins",
    )?;
    drop(mirror);

    // A tampered archive next to the original checksum: refused, nothing installed.
    let tampered = scratch.join("mirror-tampered");
    let folder = dist.publish_to(&tampered)?;
    let archive = folder.join(dist.archive.file_name().context("archive name")?);
    let mut bytes = fs::read(&archive)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    // The mirror's .sha256 agrees with the tampered archive: only the pinned checksum catches it.
    let archive_name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .context("archive name")?;
    fs::write(
        folder.join(format!("{archive_name}.sha256")),
        format!("{}  {archive_name}\n", crate::pin::sha256_hex(&bytes)),
    )?;
    fs::write(&archive, bytes)?;
    let mirror = ReleaseMirror::serve(&tampered)?;
    let dir_tampered = scratch.join("bin-tampered");
    let out = run_clean(
        shell,
        &[script, "--dir", dir_tampered.to_str().context("path")?],
        &[
            ("PATH", &path),
            ("HOME", &home),
            ("FOLDUP_INSTALL_BASE_URL", mirror.url()),
            ("FOLDUP_VERSION", &dist.version),
        ],
        scratch,
    )?;
    expect_refusal(
        &out,
        &dir_tampered,
        "checksum mismatch",
        "an archive (with a matching .sha256) whose sha256 differs from the pinned one",
    )?;
    drop(mirror);

    // A platform without a prebuilt binary: a clear refusal before any download.
    let fake_bin = scratch.join("fake-uname");
    fs::create_dir_all(&fake_bin)?;
    let uname = fake_bin.join("uname");
    fs::write(
        &uname,
        "#!/bin/sh\ncase \"$1\" in -s) echo SunOS ;; -m) echo sparc64 ;; esac\n",
    )?;
    make_executable(&uname)?;
    let fake_path = format!("{}:{path}", fake_bin.display());
    let dir_platform = scratch.join("bin-platform");
    let out = run_clean(
        shell,
        &[script, "--dir", dir_platform.to_str().context("path")?],
        &[
            ("PATH", &fake_path),
            ("HOME", &home),
            ("FOLDUP_INSTALL_BASE_URL", "http://127.0.0.1:9"),
        ],
        scratch,
    )?;
    expect_refusal(
        &out,
        &dir_platform,
        "no prebuilt foldup for SunOS/sparc64",
        "an unsupported platform",
    )?;
    verify_install_script_more(dist, scratch, &path, &home)
}

fn expect_refusal(out: &Output, dir: &Path, message: &str, case: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains(message) {
        bail!(
            "install.sh should refuse {case} saying '{message}': {}",
            describe(out)
        );
    }
    if dir.join("foldup").exists() {
        bail!(
            "install.sh refused {case} but still installed {}",
            dir.join("foldup").display()
        );
    }
    let sentence = stderr.lines().last().unwrap_or("").trim();
    eprintln!("    ok: install.sh refuses {case}: {sentence}");
    Ok(())
}

/// Marks a file executable (a no-op on Windows, where `cargo xtask package` also runs).
pub fn make_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut permissions = fs::metadata(path)?.permissions();
        permissions.set_mode(0o755);
        fs::set_permissions(path, permissions)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The platform mapping (a fake `uname` per platform), https only, the skip when installed, `--help`
/// through a pipe, and the refusal of an unreleased (unpinned) installer.
fn verify_install_script_more(dist: &Dist, scratch: &Path, path: &str, home: &str) -> Result<()> {
    let shell = Path::new("/bin/sh");
    let script = dist.install_script.to_str().context("path is not UTF-8")?;

    // Each platform gets its own archive: a mirror with one per release target (a stand-in
    // `foldup` that names its target) and an installer pinning exactly those.
    let platforms = [
        ("Linux", "x86_64", "x86_64-unknown-linux-musl"),
        ("Linux", "aarch64", "aarch64-unknown-linux-musl"),
        ("Linux", "arm64", "aarch64-unknown-linux-musl"),
        ("Darwin", "x86_64", "x86_64-apple-darwin"),
        ("Darwin", "arm64", "aarch64-apple-darwin"),
        ("MINGW64_NT-10.0-20348", "x86_64", "x86_64-pc-windows-msvc"),
        ("MSYS_NT-10.0", "x86_64", "x86_64-pc-windows-msvc"),
    ];
    let mirror_root = scratch.join("mirror-platforms");
    let folder = mirror_root.join(format!("v{}", dist.version));
    fs::create_dir_all(&folder)?;
    let stand_in =
        |target: &str| format!("#!/bin/sh\n# {target}\necho 'foldup {}'\n", dist.version);
    for target in crate::pin::RELEASE_TARGETS {
        let exe = if target.contains("windows") {
            ".exe"
        } else {
            ""
        };
        let stem = archive_stem(&dist.version, target);
        let file = fs::File::create(folder.join(format!("{stem}.tar.gz")))?;
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        let bytes = stand_in(target).into_bytes();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, format!("{stem}/foldup{exe}"), bytes.as_slice())?;
        tar.into_inner()?.finish()?.flush()?;
    }
    let sums = crate::pin::archive_sums(&folder, &dist.version)?;
    let pinned = crate::pin::pin_install_script(
        &fs::read_to_string(crate::repo_root().join("install.sh"))?,
        &dist.version,
        &sums,
    )?;
    let all_pinned = scratch.join("install-all-platforms.sh");
    fs::write(&all_pinned, pinned)?;
    let mirror = ReleaseMirror::serve(&mirror_root)?;
    for (index, (os, arch, target)) in platforms.iter().enumerate() {
        let fake_bin = scratch.join(format!("uname-{index}"));
        fs::create_dir_all(&fake_bin)?;
        let uname = fake_bin.join("uname");
        fs::write(
            &uname,
            format!("#!/bin/sh\ncase \"$1\" in -s) echo '{os}' ;; -m) echo '{arch}' ;; esac\n"),
        )?;
        make_executable(&uname)?;
        let dir = scratch.join(format!("bin-platform-{index}"));
        let out = run_clean(
            shell,
            &[
                all_pinned.to_str().context("path")?,
                "--dir",
                dir.to_str().context("path")?,
            ],
            &[
                ("PATH", &format!("{}:{path}", fake_bin.display())),
                ("HOME", home),
                ("FOLDUP_INSTALL_BASE_URL", mirror.url()),
            ],
            scratch,
        )?;
        let exe = if target.contains("windows") {
            ".exe"
        } else {
            ""
        };
        let installed = fs::read_to_string(dir.join(format!("foldup{exe}"))).unwrap_or_default();
        if !out.status.success() || installed != stand_in(target) {
            bail!(
                "install.sh on {os}/{arch} should install the {target} archive's foldup{exe}: {}",
                describe(&out)
            );
        }
        eprintln!("    ok: install.sh on {os}/{arch} (fake uname) installs {target}");
    }
    drop(mirror);

    // https only: a plain-http mirror that is not on a loopback address is refused.
    let dir = scratch.join("bin-http");
    let out = run_clean(
        shell,
        &[
            script,
            "--dir",
            dir.to_str().context("path")?,
            "--base-url",
            "http://mirror.example.com/foldup",
        ],
        &[("PATH", path), ("HOME", home)],
        scratch,
    )?;
    expect_refusal(
        &out,
        &dir,
        "must be an https:// address",
        "a plain-http mirror",
    )?;

    // The same version installed: nothing downloaded (the mirror address answers nothing).
    let dir = scratch.join("bin-by-flag");
    let out = run_clean(
        shell,
        &[
            script,
            "--dir",
            dir.to_str().context("path")?,
            "--base-url",
            "http://127.0.0.1:9",
        ],
        &[("PATH", path), ("HOME", home)],
        scratch,
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.contains("is already installed") {
        bail!(
            "install.sh should skip the download when {} already holds foldup {}: {}",
            dir.display(),
            dist.version,
            describe(&out)
        );
    }
    eprintln!("    ok: install.sh skips the download when the same version is installed");

    // `curl … | sh -s -- --help`: the help comes from the script's text, not from "$0".
    let help = Command::new(shell)
        .args(["-s", "--", "--help"])
        .env_clear()
        .env("PATH", path)
        .stdin(fs::File::open(&dist.install_script)?)
        .output()?;
    let text = String::from_utf8_lossy(&help.stdout);
    if !help.status.success() || !text.contains("--base-url URL") || !text.contains("--dir DIR") {
        bail!(
            "`sh -s -- --help < install.sh` should print the usage: {}",
            describe(&help)
        );
    }
    eprintln!("    ok: sh -s -- --help < install.sh prints the usage");

    // The repository's install.sh pins nothing until a release does: it refuses to install.
    let dir = scratch.join("bin-unpinned");
    let repo_script = crate::repo_root().join("install.sh");
    let repo_text = fs::read_to_string(&repo_script)?;
    let unpinned = scratch.join("install-unpinned.sh");
    fs::write(
        &unpinned,
        crate::pin::pin_install_script(&repo_text, &dist.version, &BTreeMap::new())?,
    )?;
    let out = run_clean(
        shell,
        &[
            unpinned.to_str().context("path")?,
            "--dir",
            dir.to_str().context("path")?,
            "--base-url",
            "http://127.0.0.1:9",
        ],
        &[("PATH", path), ("HOME", home)],
        scratch,
    )?;
    expect_refusal(
        &out,
        &dir,
        "carries no pinned checksum",
        "an installer without pinned checksums",
    )?;
    Ok(())
}

/// `cargo xtask package TARGET`: archives the release binary cargo built for `TARGET`
/// (`target/TARGET/release/foldup[.exe]`) into `target/dist/foldup-<version>-TARGET.tar.gz` and its
/// `.sha256`, as the release workflow does on each platform's runner.
pub fn package(args: &[String]) -> Result<()> {
    let [target] = args else {
        bail!(
            "usage: cargo xtask package TARGET (one of {})",
            crate::pin::RELEASE_TARGETS.join(", ")
        );
    };
    if !crate::pin::RELEASE_TARGETS.contains(&target.as_str()) {
        bail!(
            "{target} is not a release target ({})",
            crate::pin::RELEASE_TARGETS.join(", ")
        );
    }
    let version = workspace_version()?;
    let exe = if target.contains("windows") {
        ".exe"
    } else {
        ""
    };
    let mut platform = platform_at(&version, target, target, target);
    platform.binary = crate::repo_root().join(format!("target/{target}/release/foldup{exe}"));
    if !platform.binary.is_file() {
        bail!(
            "{} is missing; build it first: cargo build --release --locked --target {target} -p foldup --bin foldup",
            platform.binary.display()
        );
    }
    fs::create_dir_all(dist_dir())?;
    write_archive_named(&version, &platform, &format!("foldup{exe}"))?;
    let digest = sha256_file(&platform.archive)?;
    let archive_name = platform
        .archive
        .file_name()
        .and_then(|n| n.to_str())
        .context("archive name")?;
    fs::write(&platform.checksum, format!("{digest}  {archive_name}\n"))?;
    eprintln!(
        "==> package: {} ({digest})",
        crate::validators::relative(&platform.archive)
    );
    Ok(())
}
