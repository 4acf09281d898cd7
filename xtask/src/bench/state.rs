//! `cargo xtask bench --state` (and part of every full bench): `foldup state push` and
//! `foldup state pull` of a dbt workload's state, to a local folder and to moto (an S3 emulator),
//! against boto3 moving the same files to and from the same moto in the same run — what a
//! hand-written `aws s3 cp` step does (the AWS CLI is boto3's transfer manager underneath).
//!
//! Each round uses its own key prefix (and local folder), so no run finds the previous run's
//! objects. moto and boto3 come from `target/tools/venv-emulators` (`.ci/install-emulators`), or
//! from `FOLDUP_TEST_MOTO_SERVER` / `FOLDUP_TEST_EMULATOR_PYTHON`, as the state tests find them.

use std::ffi::OsString;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::measure::{self, Case, Sample, Summary};
use super::workload::Workload;

/// Case names, shared with the report.
pub mod names {
    pub const PUSH_LOCAL: &str = "foldup state push (local folder)";
    pub const PULL_LOCAL: &str = "foldup state pull (local folder)";
    pub const CP_LOCAL: &str = "floor: cp -r the same files (local folder)";
    pub const PUSH_MOTO: &str = "foldup state push (moto S3)";
    pub const PULL_MOTO: &str = "foldup state pull (moto S3)";
    pub const BOTO3_UP: &str = "boto3 upload_file, the same files (moto S3)";
    pub const BOTO3_DOWN: &str = "boto3 download_file, the same files (moto S3)";
    pub const PUSH_BIG: &str = "foldup state push (moto S3), manifest.json padded by 150 MB";
    pub const PULL_BIG: &str = "foldup state pull (moto S3), manifest.json padded by 150 MB";
}

/// What the padded manifest adds: enough that a push or pull holding a file whole would show it.
const PADDING: usize = 150 * 1000 * 1000;

/// The measurements of the state rows of one workload.
#[derive(Serialize, Deserialize, Clone)]
pub struct StateResult {
    /// The bench command that measured these rows.
    pub command: String,
    pub started: String,
    /// The 1-minute load average at the start and the end of these rows.
    pub load: String,
    pub label: String,
    /// What one push stores (the artifacts and foldup's record) and boto3 moves.
    pub files: Vec<(String, u64)>,
    pub reps: usize,
    pub summaries: Vec<Summary>,
    /// The foldup measured: its version and binary size.
    #[serde(default)]
    pub foldup: String,
    /// moto's version, for the report.
    pub moto: String,
    pub boto3: String,
}

impl StateResult {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }
}

/// Where a program of the emulators' virtualenv is: the variable's value, else
/// `target/tools/venv-emulators/bin/<name>` in this checkout or, for a worktree, in the main one.
fn emulator_program(variable: &str, name: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Ok(PathBuf::from(path));
    }
    let relative = Path::new("target/tools/venv-emulators/bin").join(name);
    let mut candidates = vec![crate::repo_root().join(&relative)];
    // A git worktree shares the main checkout's installed tools.
    if let Ok(output) = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .current_dir(crate::repo_root())
        .output()
    {
        let common = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if let Some(main) = common.parent() {
            candidates.push(main.join(&relative));
        }
    }
    candidates
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| {
            format!(
                "{} is not installed; run `bash .ci/install-emulators` (or set {variable})",
                relative.display()
            )
        })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// moto's S3 server on 127.0.0.1, killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(scratch: &Path) -> Result<Self> {
        let program = emulator_program("FOLDUP_TEST_MOTO_SERVER", "moto_server")?;
        let port = free_port()?;
        let log = fs::File::create(scratch.join("moto.log"))?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!(
                    "moto_server exited at start ({status}); see {}",
                    scratch.join("moto.log").display()
                );
            }
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not listen within a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BUCKET: &str = "state";

/// boto3 moving a folder's files to or from `s3://BUCKET/PREFIX/` as `aws s3 cp --recursive`
/// does: one `upload_file` / `download_file` per file, with boto3's default transfer settings
/// (multipart above 8 MiB, 10 threads).
const BOTO3_SCRIPT: &str = r#"
import os, sys, boto3
endpoint, bucket, prefix, folder, direction = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
if direction == "create-bucket":
    s3.create_bucket(Bucket=bucket)
elif direction == "up":
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            s3.upload_file(path, bucket, prefix + "/" + os.path.relpath(path, folder))
else:
    os.makedirs(folder)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            path = os.path.join(folder, item["Key"][len(prefix) + 1:])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, item["Key"], path)
"#;

/// The environment every S3 client here gets: moto's endpoint and test credentials.
fn s3_env(moto: &Moto) -> Vec<(String, OsString)> {
    [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), OsString::from(v)))
    .collect()
}

/// A git clone of `bench/warehouse` on `main` holding the workload's `dbt_project.yml`: what
/// `foldup state push` keys the state by (repository, dbt project, commit, branch).
fn project(workload: &Workload, dir: &Path) -> Result<()> {
    let source = workload.project().with_context(|| {
        format!(
            "the state rows need a dbt project; {} is only a target folder",
            workload.label
        )
    })?;
    fs::create_dir_all(dir)?;
    fs::copy(source.join("dbt_project.yml"), dir.join("dbt_project.yml"))?;
    let git = |args: &[&str]| -> Result<()> {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .stdout(Stdio::null())
            .status()?;
        ensure!(status.success(), "git {args:?} failed in {}", dir.display());
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&[
        "remote",
        "add",
        "origin",
        "https://github.com/bench/warehouse.git",
    ])?;
    git(&["add", "dbt_project.yml"])?;
    git(&["commit", "-q", "-m", "bench"])?;
    Ok(())
}

fn versions(python: &Path) -> (String, String) {
    let version = |module: &str| {
        Command::new(python)
            .args([
                "-c",
                &format!("import {module}; print({module}.__version__)"),
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    (version("moto"), version("boto3"))
}

/// Measures push and pull of `workload`'s state: `reps` rounds, each running every command once
/// (after one untimed round that also checks foldup and boto3 moved the same bytes).
pub fn measure(
    foldup: &Path,
    workload: &Workload,
    scratch: &Path,
    reps: usize,
) -> Result<StateResult> {
    let started = super::run::utc_now();
    let load_before = super::run::load_average();
    let scratch = scratch.join("state");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    let python = emulator_program("FOLDUP_TEST_EMULATOR_PYTHON", "python")?;
    let project_dir = scratch.join("project");
    project(workload, &project_dir)?;
    let moto = Moto::start(&scratch)?;
    let env = s3_env(&moto);
    let boto3 = |direction: &str, prefix: &str, folder: &Path| {
        Case::new(
            if direction == "up" {
                names::BOTO3_UP
            } else {
                names::BOTO3_DOWN
            },
            format!(
                "python -c BOTO3_SCRIPT $MOTO {BUCKET} PREFIX FOLDER {direction}  # xtask/src/bench/state.rs"
            ),
            &python,
        )
        .args(["-c", BOTO3_SCRIPT, &moto.url, BUCKET, prefix])
        .args([folder.as_os_str()])
        .args([direction])
        .envs(&env)
    };
    measure::timed(&boto3("create-bucket", "-", &scratch), &scratch)
        .context("creating the bucket in moto")?;

    let target = workload.target.as_os_str().to_owned();
    let foldup_case = |name: &str, shown: &str, args: &[&str], store: String| {
        Case::new(name, shown, foldup)
            .args(args.iter().copied())
            .args(["--provider", "local"])
            .envs(&env)
            .envs(&[
                ("FOLDUP_STATE_STORE".to_owned(), OsString::from(store)),
                ("GIT_CONFIG_GLOBAL".to_owned(), OsString::from("/dev/null")),
            ])
            .cwd(&project_dir)
    };
    // One round: every command once, with its own prefix and folders. Returns the samples and
    // what foldup's pull from moto wrote (what one push stores).
    let round = |tag: &str| -> Result<(Vec<(Case, Sample)>, Listing)> {
        let local_store = scratch.join(format!("local-store-{tag}"));
        let s3_store = format!("s3://{BUCKET}/foldup-{tag}");
        let pulled_local = scratch.join(format!("pulled-local-{tag}"));
        let pulled_s3 = scratch.join(format!("pulled-s3-{tag}"));
        let boto3_down = scratch.join(format!("boto3-down-{tag}"));
        let copied = scratch.join(format!("cp-{tag}"));
        let push = |name, store: String| {
            foldup_case(
                name,
                "foldup state push --provider local --run-type production --target-folder $TARGET",
                &["state", "push", "--run-type", "production"],
                store,
            )
            .args([OsString::from("--target-folder"), target.clone()])
        };
        let pull = |name, store: String, into: &Path| {
            foldup_case(
                name,
                "foldup state pull --provider local --run-type pull_request --into DIR",
                &["state", "pull", "--run-type", "pull_request"],
                store,
            )
            .args([OsString::from("--into"), into.as_os_str().to_owned()])
        };
        let mut samples = Vec::new();
        let mut run = |case: Case| -> Result<()> {
            let sample = measure::timed(&case, &scratch)?;
            samples.push((case, sample));
            Ok(())
        };
        let local = local_store.to_string_lossy().into_owned();
        run(push(names::PUSH_LOCAL, local.clone()))?;
        run(pull(names::PULL_LOCAL, local, &pulled_local))?;
        run(Case::new(names::CP_LOCAL, "cp -r PULLED COPY", "cp")
            .args([OsString::from("-r"), pulled_local.clone().into_os_string()])
            .args([copied.as_os_str()]))?;
        run(push(names::PUSH_MOTO, s3_store.clone()))?;
        run(pull(names::PULL_MOTO, s3_store, &pulled_s3))?;
        // boto3 moves exactly what foldup pulled: the artifacts and foldup's record.
        run(boto3("up", &format!("boto3-{tag}"), &pulled_s3))?;
        run(boto3("down", &format!("boto3-{tag}"), &boto3_down))?;
        let files = listing(&pulled_s3)?;
        ensure!(
            listing(&boto3_down)? == files && listing(&pulled_local)? == files,
            "foldup (local folder), foldup (moto) and boto3 did not all end with the same files"
        );
        for dir in [
            &local_store,
            &pulled_local,
            &pulled_s3,
            &boto3_down,
            &copied,
        ] {
            let _ = fs::remove_dir_all(dir);
        }
        Ok((samples, files))
    };

    println!("   moto at {}; one untimed round first", moto.url);
    let (first, files) = round("warmup")?;
    ensure!(
        files.iter().any(|(name, _)| name == "manifest.json"),
        "the pulled state holds no manifest.json"
    );
    let mut samples: Vec<(Case, Vec<Sample>)> = first
        .into_iter()
        .map(|(case, _)| (case, Vec::new()))
        .collect();
    for rep in 0..reps {
        let (round_samples, _) = round(&format!("r{rep}"))?;
        for (index, (_, sample)) in round_samples.into_iter().enumerate() {
            samples[index].1.push(sample);
        }
        println!("     state round {}/{reps} done", rep + 1);
    }
    // Memory against file size: the same push and pull with the manifest 150 MB larger (a
    // top-level string field added, which dbt and foldup ignore).
    let padded = padded_target(workload, &scratch)?;
    let padded_target = padded.as_os_str().to_owned();
    let mut big: Vec<(Case, Vec<Sample>)> = Vec::new();
    for rep in 0..reps.min(3) {
        let store = format!("s3://{BUCKET}/padded-r{rep}");
        let into = scratch.join(format!("pulled-padded-r{rep}"));
        let cases = [
            foldup_case(
                names::PUSH_BIG,
                "foldup state push --provider local --run-type production --target-folder $PADDED",
                &["state", "push", "--run-type", "production"],
                store.clone(),
            )
            .args([OsString::from("--target-folder"), padded_target.clone()]),
            foldup_case(
                names::PULL_BIG,
                "foldup state pull --provider local --run-type pull_request --into DIR",
                &["state", "pull", "--run-type", "pull_request"],
                store,
            )
            .args([OsString::from("--into"), into.as_os_str().to_owned()]),
        ];
        for (index, case) in cases.into_iter().enumerate() {
            let sample = measure::timed(&case, &scratch)?;
            if big.len() <= index {
                big.push((case, Vec::new()));
            }
            big[index].1.push(sample);
        }
        ensure!(
            fs::metadata(into.join("manifest.json"))?.len()
                == fs::metadata(padded.join("manifest.json"))?.len(),
            "the padded manifest did not come back whole"
        );
        let _ = fs::remove_dir_all(&into);
    }
    let _ = fs::remove_dir_all(&padded);
    samples.extend(big);
    let summaries: Vec<Summary> = samples
        .iter()
        .map(|(case, samples)| Summary::from_samples(case, samples, true))
        .collect();
    for summary in &summaries {
        println!(
            "     {:<52} {}",
            summary.name,
            super::report::short(summary)
        );
    }
    let (moto_version, boto3_version) = versions(&python);
    let version = Command::new(foldup)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let binary_size = fs::metadata(foldup).map(|m| m.len()).unwrap_or(0);
    Ok(StateResult {
        command: String::new(),
        foldup: format!("{version}, binary {:.2} MB", binary_size as f64 / 1e6),
        started,
        load: format!("{load_before} / {}", super::run::load_average()),
        label: workload.label.clone(),
        files,
        reps,
        summaries,
        moto: moto_version,
        boto3: boto3_version,
    })
}

/// A copy of the workload's state files whose manifest.json has [`PADDING`] more bytes: a
/// string field at the start of its top-level object.
fn padded_target(workload: &Workload, scratch: &Path) -> Result<PathBuf> {
    use std::io::Write as _;
    let padded = scratch.join("padded-target");
    fs::create_dir_all(&padded)?;
    for entry in fs::read_dir(&workload.target)? {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_file() && name.to_string_lossy().ends_with(".json") {
            fs::copy(entry.path(), padded.join(&name))?;
        }
    }
    let manifest = fs::read(workload.target.join("manifest.json"))?;
    let open = manifest
        .iter()
        .position(|b| *b == b'{')
        .context("manifest.json is not a JSON object")?;
    let mut out = std::io::BufWriter::new(fs::File::create(padded.join("manifest.json"))?);
    out.write_all(&manifest[..=open])?;
    out.write_all(b"\"foldup_bench_padding\": \"")?;
    let chunk = vec![b'x'; 1 << 20];
    let mut left = PADDING;
    while left > 0 {
        let n = left.min(chunk.len());
        out.write_all(&chunk[..n])?;
        left -= n;
    }
    out.write_all(b"\",")?;
    out.write_all(&manifest[open + 1..])?;
    out.flush()?;
    Ok(padded)
}

/// Files (relative names) and their sizes, sorted.
type Listing = Vec<(String, u64)>;

/// The files under `dir`.
fn listing(dir: &Path) -> Result<Listing> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else {
                let name = entry
                    .path()
                    .strip_prefix(dir)?
                    .to_string_lossy()
                    .into_owned();
                files.push((name, entry.metadata()?.len()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The report's section for these rows (between the markers `--state` rewrites).
pub fn section(result: &StateResult) -> String {
    use super::report::{find, mib, row};
    use std::fmt::Write as _;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Slim-CI state: `foldup state push` / `pull`, {} ({} files, {:.1} MB)\n",
        result.label,
        result.files.len(),
        result.bytes() as f64 / 1e6
    );
    let _ = writeln!(
        md,
        "`{}` (xtask/src/bench/state.rs), {}, {}, load average (1 min) at start / end {}. Medians of \
         {} rounds after one untimed round; each round runs every command once, in the order below, with a \
         key prefix (and folders) of its own. moto {} (`moto_server`, S3 in memory, on 127.0.0.1) \
         is the store; boto3 {} moves the same files to and from the same moto in the same round, \
         as a hand-written `aws s3 cp --recursive` step would (the AWS CLI is boto3's transfer \
         manager: multipart above 8 MiB, 10 threads; its rows include Python's start and `import \
         boto3`, as the CLI's would). Wall time is measured around the command; \
         CPU (user + system) and peak RSS of the command (foldup, python) come from GNU time; \
         moto's own work is in the wall time only.\n",
        result.command,
        result.foldup,
        result.started,
        result.load,
        result.reps,
        result.moto,
        result.boto3,
    );
    let _ = writeln!(
        md,
        "| command | wall (median) | min – max | CPU | peak RSS | vs boto3 / cp |\n|---|---|---|---|---|---|"
    );
    let base = |name: &str| find(&result.summaries, name).map_or(f64::NAN, |s| s.wall);
    for summary in &result.summaries {
        let against = match summary.name.as_str() {
            names::PUSH_MOTO | names::BOTO3_UP => base(names::BOTO3_UP),
            names::PULL_MOTO | names::BOTO3_DOWN => base(names::BOTO3_DOWN),
            names::PUSH_BIG | names::PULL_BIG => f64::NAN,
            _ => base(names::CP_LOCAL),
        };
        row(&mut md, summary, &[against]);
    }
    let listed: Vec<String> = result
        .files
        .iter()
        .map(|(name, size)| format!("{name} {:.1} MB", *size as f64 / 1e6))
        .collect();
    let _ = writeln!(
        md,
        "\nWhat one push stores (and every other row moves): {}.",
        listed.join(", ")
    );
    let largest = result
        .files
        .iter()
        .map(|(_, size)| *size)
        .max()
        .unwrap_or(0);
    let rss = |name: &str| find(&result.summaries, name).and_then(|s| s.rss_kib);
    // Growth of more than a tenth of the padding counts as holding the file.
    let grows = |small: u64, big: u64| (big as f64 - small as f64) * 1024.0 > PADDING as f64 / 10.0;
    if let (Some(push), Some(pull), Some(push_big), Some(pull_big)) = (
        rss(names::PUSH_MOTO),
        rss(names::PULL_MOTO),
        rss(names::PUSH_BIG),
        rss(names::PULL_BIG),
    ) {
        let _ = writeln!(
            md,
            "\nMemory against file size: with the largest file at {:.1} MB, foldup's push to moto \
             peaks at {} and its pull at {}; with manifest.json {:.0} MB larger (the last two rows, \
             medians of up to 3 runs), at {} and {}: {}. The pull streams each file to disk while \
             hashing it; the push reads and sends 8 MiB parts (one being read, one being filled, \
             up to two in flight), so its peak follows the part size; it is {} the upload's \
             32 MB goal.",
            largest as f64 / 1e6,
            mib(push),
            mib(pull),
            PADDING as f64 / 1e6,
            mib(push_big),
            mib(pull_big),
            if grows(push, push_big) || grows(pull, pull_big) {
                "peak memory grows with the file size"
            } else {
                "peak memory does not grow with the file size"
            },
            if push.max(push_big) as f64 * 1024.0 > 32e6 {
                "above"
            } else {
                "within"
            },
        );
    }
    let _ = writeln!(
        md,
        "\nCommands (run in a git clone of `bench/warehouse` on `main` holding the workload's \
         `dbt_project.yml`; `$TARGET` is the workload's target folder; the S3 rows have \
         `AWS_ENDPOINT_URL` = moto, test credentials, `FOLDUP_STATE_STORE=s3://{BUCKET}/PREFIX`; the \
         local rows `FOLDUP_STATE_STORE=DIR`):\n"
    );
    for summary in &result.summaries {
        let _ = writeln!(md, "- {}: `{}`", summary.name, summary.shown);
    }
    super::report::marked("state", &md)
}

/// `cargo xtask bench --state`: the state rows alone, on the largest workload of `--models`,
/// printed, written to `target/bench/state.md` and put in their section of the report (`--out`).
pub fn run(options: &super::Options, foldup: &Path) -> Result<()> {
    let venvs = super::python::Venvs::ensure(&options.cache, &options.python)?;
    let models = *options
        .models
        .iter()
        .max()
        .context("--state needs a workload; name one with --models")?;
    let workload = super::workload::dbt_workload(&options.cache, &venvs, models)?;
    let scratch = options.cache.join("scratch-state");
    fs::create_dir_all(&scratch)?;
    println!("== state push / pull: {}", workload.label);
    let mut result = measure(foldup, &workload, &scratch, options.reps)?;
    result.command = super::run::shown_command(options);
    let text = section(&result);
    println!("{text}");
    let out = crate::repo_root().join("target/bench/state.md");
    fs::create_dir_all(out.parent().context("a parent")?)?;
    fs::write(&out, &text)?;
    println!("wrote {}", out.display());
    super::report::splice(&options.out, "state", &text)
}
