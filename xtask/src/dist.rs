//! `cargo xtask dist`: the static release binary, its archive and checksum, and `install.sh`.
//! `cargo xtask dist-test`: proves them: the binary runs in an empty environment, `file` says it is
//! static, and `install.sh` installs it from a local mirror and refuses a tampered archive.

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

pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The size budget of the static binary.
const MAX_BINARY_BYTES: u64 = 10 * 1000 * 1000;

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
    let binary = fs::metadata(&dist.binary)?.len();
    let archive = fs::metadata(&dist.archive)?.len();
    eprintln!(
        "==> dist: {} ({:.2} MB binary, {:.2} MB archive), {}, {}",
        crate::validators::relative(&dist.archive),
        binary as f64 / 1e6,
        archive as f64 / 1e6,
        crate::validators::relative(&dist.checksum),
        crate::validators::relative(&dist.install_script),
    );
    Ok(())
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

    // Size.
    let size = fs::metadata(&dist.binary)?.len();
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
        .arg(&dist.binary)
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
    let version = run_clean(&dist.binary, &["--version"], &[], &empty)?;
    let version_text = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if !version.status.success() || version_text != format!("foldup {}", dist.version) {
        bail!(
            "`env -i foldup --version` should print 'foldup {}': {}",
            dist.version,
            describe(&version)
        );
    }
    eprintln!("    ok: env -i foldup --version: {version_text}");
    let env_json = run_clean(&dist.binary, &["env", "--json"], &[], &empty)?;
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
    let server = DatafoldServer::start(&scratch)?;
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let target_folder = crate::repo_root().join("examples/shop/target");
    let target_folder = target_folder
        .to_str()
        .context("repository path is not UTF-8")?;
    let config_id = datafold_server::CI_CONFIG_ID.to_string();
    let upload = run_clean(
        &dist.binary,
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

    verify_install_script(dist, &scratch)
}

fn verify_install_script(dist: &Dist, scratch: &Path) -> Result<()> {
    let shell = Path::new("/bin/sh");
    let script = crate::repo_root().join("install.sh");
    let script = script.to_str().context("repository path is not UTF-8")?;
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
        "could not download",
        "an unknown version",
    )?;
    drop(mirror);

    // A tampered archive next to the original checksum: refused, nothing installed.
    let tampered = scratch.join("mirror-tampered");
    let folder = dist.publish_to(&tampered)?;
    let archive = folder.join(dist.archive.file_name().context("archive name")?);
    let mut bytes = fs::read(&archive)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
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
        "a tampered archive",
    )?;
    drop(mirror);

    // A platform without a prebuilt binary: a clear refusal before any download.
    let fake_bin = scratch.join("fake-uname");
    fs::create_dir_all(&fake_bin)?;
    let uname = fake_bin.join("uname");
    fs::write(
        &uname,
        "#!/bin/sh\ncase \"$1\" in -s) echo Darwin ;; -m) echo arm64 ;; esac\n",
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
        "no prebuilt foldup for Darwin/arm64",
        "an unsupported platform",
    )?;
    Ok(())
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

pub fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = fs::metadata(path)?.permissions();
    permissions.set_mode(0o755);
    fs::set_permissions(path, permissions)?;
    Ok(())
}
