//! `cargo xtask dist`: the static release binary, its archive and checksum, and `install.sh`.
//! `cargo xtask dist-test`: proves them: the binary runs in an empty environment, `file` says it is
//! static, and `install.sh` installs it from a local mirror and refuses a tampered archive.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

use crate::base::repo::relative;
use crate::harness::datafold_server::{self, DatafoldServer};
use crate::harness::release_build::{build, fresh, Dist};
use crate::harness::release_mirror::ReleaseMirror;

/// The size budget of the static binary.
const MAX_BINARY_BYTES: u64 = 10 * 1000 * 1000;

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
        relative(&dist.archive),
        binary as f64 / 1e6,
        archive as f64 / 1e6,
        relative(&dist.checksum),
        relative(&dist.install_script),
    );
    Ok(())
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
    let scratch = crate::harness::scratch::fresh_scratch("dist-test")?;

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
    let server = DatafoldServer::start()?;
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
