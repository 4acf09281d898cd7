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
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

use crate::base::repo::relative;
use crate::base::repo::workspace_version;
use crate::harness::datafold_server::{self, DatafoldServer};
use crate::harness::release_build::{
    archive_stem, build, dist_dir, fresh, platform_at, sha256_file, write_archive_named, Dist,
    Platform,
};
use crate::harness::release_mirror::ReleaseMirror;

/// The size budget of the static binary: issue 13 asks for under 12 MB with every state backend
/// (S3, GCS, Azure) in it. object_store had taken it to 12.9 MB; the release profile's
/// `opt-level = "s"` outside the hot path brought it back under (docs/DECISIONS.md, "Binary size",
/// has each backend's cost and the command that measures it).
const MAX_BINARY_BYTES: u64 = 12 * 1000 * 1000;

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
            relative(&platform.archive),
            binary as f64 / 1e6,
            platform.built_as,
            archive as f64 / 1e6,
            relative(&platform.checksum),
        );
    }
    eprintln!(
        "==> dist: {} (checksums pinned)",
        relative(&dist.install_script)
    );
    Ok(())
}

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
            "the static binary is {:.2} MB, over the {} MB budget; find what grew (cargo tree -p foldup -e normal) before releasing",
            size as f64 / 1e6,
            MAX_BINARY_BYTES / 1_000_000
        );
    }
    eprintln!(
        "    ok: binary size {:.2} MB (< {} MB)",
        size as f64 / 1e6,
        MAX_BINARY_BYTES / 1_000_000
    );

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
    let server = DatafoldServer::start()?;
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
    eprintln!("==> package: {} ({digest})", relative(&platform.archive));
    Ok(())
}
