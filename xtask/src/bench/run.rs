//! One bench run: prepare the workloads and binaries, measure, write the report.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::measure::{self, Case, Summary};
use super::python::{self, Venvs, DATAFOLD_REQUIREMENTS};
use super::report;
use super::workload::{self, Workload};
use super::Options;
use crate::harness::datafold_server::DatafoldServer;
use crate::harness::release_mirror::ReleaseMirror;

/// The key and CI config the bench's test server accepts.
const API_KEY: &str = "bench-api-key-0123456789";
const CI_CONFIG_ID: &str = "1";

/// The commit every upload names (any 40-hex string: the test server does not check it).
pub const COMMIT_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Case names, shared with the report.
pub mod names {
    pub const VERSION: &str = "foldup --version";
    pub const HELP: &str = "foldup --help";
    pub const ENV_GITHUB: &str = "foldup env --json (GitHub Actions)";
    pub const ENV_LOCAL: &str = "foldup env --json (plain shell, git)";
    pub const DATAFOLD_HELP: &str = "datafold --help";
    pub const ALL_FILES: &str = "foldup upload --all-files";
    pub const DROP_IN: &str = "foldup dbt upload (drop-in)";
    pub const DEFAULT: &str = "foldup upload (artifacts only)";
    pub const ARCHIVE_ONLY: &str = "foldup --all-files --dry-run --output (no network)";
    pub const DATAFOLD: &str = "datafold dbt upload";
    pub const READ: &str = "floor: read the bytes (cat)";
    pub const GZIP: &str = "floor: gzip -1, one core";
    pub const CURL: &str = "floor: curl POST of a prebuilt archive";
    pub const PIP: &str = "pip install datafold-sdk (fresh virtualenv)";
    pub const TARBALL: &str = "fetch + unpack the foldup release tarball";
}

/// Everything a report needs; saved as JSON next to the report so `--render-only` can write the
/// report again from the same measurements.
#[derive(Serialize, Deserialize)]
pub struct Results {
    pub command: String,
    /// The bench cache; shown as `$FOLDUP_BENCH_CACHE` in the report.
    pub cache: PathBuf,
    pub started: String,
    pub elapsed_seconds: f64,
    pub machine: Vec<(String, String)>,
    pub versions: Vec<(String, String)>,
    pub startup: Vec<Summary>,
    pub startup_reps: usize,
    pub workloads: Vec<WorkloadResult>,
    pub install: Vec<Summary>,
    pub install_sizes: Vec<(String, u64)>,
    pub install_note: String,
    pub notes: Vec<String>,
    /// `foldup state push` / `pull` against boto3 (bench/state.rs); absent in older runs.
    #[serde(default)]
    pub state: Option<super::state::StateResult>,
    /// `foldup impact` against `dbt ls` (bench/impact.rs); absent in older runs.
    #[serde(default)]
    pub impact: Option<super::impact::ImpactResult>,
}

#[derive(Serialize, Deserialize)]
pub struct WorkloadResult {
    pub workload: Workload,
    pub summaries: Vec<Summary>,
    pub reps: usize,
    /// The archives foldup --all-files and datafold-sdk sent, as the server listed them.
    pub entries: Vec<Listing>,
}

/// What the test server listed of one upload's archive.
#[derive(Serialize, Deserialize)]
pub struct Listing {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
}

/// The install rows, the sizes of what was installed, and how it was done.
struct Install {
    summaries: Vec<Summary>,
    sizes: Vec<(String, u64)>,
    note: String,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let load_before = load_average();
    let root = crate::repo_root();
    fs::create_dir_all(&options.cache)
        .with_context(|| format!("creating the bench cache {}", options.cache.display()))?;
    println!("== bench cache {}", options.cache.display());
    let venvs = Venvs::ensure(&options.cache, &options.python)?;

    println!("== workloads");
    let mut workloads = Vec::new();
    let mut notes = Vec::new();
    for &models in &options.models {
        workloads.push(workload::dbt_workload(&options.cache, &venvs, models)?);
    }
    if options.big_mb > 0 {
        let base = workloads
            .iter()
            .filter(|w| w.models.is_some())
            .max_by_key(|w| w.bytes)
            .context("the synthetic target is built from a dbt workload; name one with --models")?
            .clone();
        workloads.push(workload::big_workload(
            &options.cache,
            &base,
            options.big_mb,
        )?);
    }
    for workload in &workloads {
        println!(
            "   {}: {} files, {:.1} MB — {}",
            workload.label,
            workload.files,
            workload.bytes as f64 / 1e6,
            workload.provenance
        );
    }
    if options.generate_only {
        return Ok(());
    }

    println!("== binaries");
    let (foldup, testserver) = binaries(&root, options)?;
    let scratch = options.cache.join("scratch");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    let server = DatafoldServer::start_binary(&testserver, API_KEY, CI_CONFIG_ID)?;
    println!("   test server at {}", server.url());
    let clear = || server.clear_requests();

    let startup_reps = if options.quick { 10 } else { 30 };
    println!("== start-up ({startup_reps} runs each)");
    let startup_cases = startup_cases(&foldup, &venvs, &scratch)?;
    let startup = measure::interleaved(&startup_cases, startup_reps, &scratch, true, &|| Ok(()));

    let mut workload_results = Vec::new();
    for workload in workloads {
        let reps = if workload.models.is_some() && !workload.label.contains("synthetic") {
            options.reps
        } else {
            options.reps.min(3)
        };
        println!(
            "== {} ({} files, {:.1} MB), {reps} rounds",
            workload.label,
            workload.files,
            workload.bytes as f64 / 1e6
        );
        let archive = prebuilt_archive(&venvs, &workload)?;
        let cases = upload_cases(&foldup, &venvs, &server, &workload, &archive, &scratch);
        let (entries, problems) = check_uploads(&server, &cases, &scratch)?;
        for problem in problems {
            notes.push(format!("{}: {problem}", workload.label));
        }
        let summaries = measure::interleaved(&cases, reps, &scratch, false, &clear);
        for summary in &summaries {
            println!("     {:<52} {}", summary.name, report::short(summary));
        }
        workload_results.push(WorkloadResult {
            workload,
            summaries,
            reps,
            entries,
        });
    }

    let command = command_line(options);
    // The largest dbt project: the synthetic workload counts its base's models but has no
    // project for a push to name.
    let largest = workload_results
        .iter()
        .filter(|w| w.workload.project().is_some())
        .max_by_key(|w| w.workload.models)
        .map(|w| w.workload.clone());
    let state = match &largest {
        _ if options.skip_state => {
            notes.push("The state rows were skipped (`--no-state`).".into());
            None
        }
        Some(workload) => {
            println!("== state push / pull: {}", workload.label);
            match super::state::measure(&foldup, workload, &scratch, options.reps.min(3)) {
                Ok(mut result) => {
                    result.command = command.clone();
                    Some(result)
                }
                Err(error) => {
                    println!("     state rows failed: {error:#}");
                    notes.push(format!("The state rows were not measured: {error:#}"));
                    None
                }
            }
        }
        None => None,
    };
    let impact_workloads: Vec<Workload> = workload_results
        .iter()
        .filter(|w| w.workload.project().is_some() && w.workload.models.is_some_and(|m| m >= 100))
        .map(|w| w.workload.clone())
        .collect();
    let impact = if options.skip_impact {
        notes.push("The impact rows were skipped (`--no-impact`).".into());
        None
    } else if impact_workloads.is_empty() {
        None
    } else {
        match super::impact::measure_all(
            &foldup,
            &venvs,
            &impact_workloads,
            &scratch,
            options.reps.min(3),
            &command,
        ) {
            Ok(result) => Some(result),
            Err(error) => {
                println!("     impact rows failed: {error:#}");
                notes.push(format!("The impact rows were not measured: {error:#}"));
                None
            }
        }
    };

    let installed = if options.install_reps > 0 {
        println!("== install ({} runs each)", options.install_reps);
        install(&root, &foldup, options, &scratch)?
    } else {
        notes.push("The install rows were skipped (`--no-install`).".into());
        Install {
            summaries: Vec::new(),
            sizes: Vec::new(),
            note: String::new(),
        }
    };

    let results = Results {
        command,
        cache: options.cache.clone(),
        started: utc_now(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        machine: {
            let mut machine = machine()?;
            machine.push((
                "load average (1 min) at start / end".into(),
                format!("{load_before} / {}", load_average()),
            ));
            machine
        },
        versions: versions(&foldup, &venvs)?,
        startup,
        startup_reps,
        workloads: workload_results,
        install: installed.summaries,
        install_sizes: installed.sizes,
        install_note: installed.note,
        notes,
        state,
        impact,
    };
    let saved = results_file(&root, options.quick);
    if let Some(parent) = saved.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&saved, serde_json::to_string_pretty(&results)?)?;
    println!("== measurements saved in {}", saved.display());
    write_report(&results, &options.out)
}

/// Where a run keeps its measurements (outside version control); a `--quick` run keeps its own.
pub fn results_file(root: &Path, quick: bool) -> PathBuf {
    root.join(if quick {
        "target/bench/results-quick.json"
    } else {
        "target/bench/results.json"
    })
}

/// `--render-only`: the report again, from the measurements the last run saved.
pub fn render_only(options: &Options) -> Result<()> {
    let saved = results_file(&crate::repo_root(), options.quick);
    let text = fs::read_to_string(&saved).with_context(|| {
        format!(
            "no saved measurements at {}; run cargo xtask bench first",
            saved.display()
        )
    })?;
    let results: Results =
        serde_json::from_str(&text).context("the saved measurements do not parse")?;
    write_report(&results, &options.out)
}

fn write_report(results: &Results, out: &Path) -> Result<()> {
    let markdown = report::render(results);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(out, markdown).with_context(|| format!("writing {}", out.display()))?;
    println!("== wrote {}", out.display());
    Ok(())
}

/// The command line, with `FOLDUP_BENCH_BIN=…` in front when it named the binary measured.
pub(super) fn shown_command(options: &Options) -> String {
    match &options.foldup {
        Some(binary) => format!(
            "FOLDUP_BENCH_BIN={} {}",
            crate::base::repo::relative(binary),
            command_line(options)
        ),
        None => command_line(options),
    }
}

pub(super) fn command_line(options: &Options) -> String {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let mut line = String::from("cargo xtask bench");
    for arg in &args {
        line.push(' ');
        line.push_str(arg);
    }
    if options.quick && !args.iter().any(|a| a == "--quick") {
        line.push_str(" --quick");
    }
    line
}

/// The release foldup and test server: built here (`cargo build --release`) unless
/// FOLDUP_BENCH_BIN / FOLDUP_BENCH_TESTSERVER name binaries to use instead.
fn binaries(root: &Path, options: &Options) -> Result<(PathBuf, PathBuf)> {
    let release = root.join("target/release");
    let testserver = std::env::var_os("FOLDUP_BENCH_TESTSERVER").map(PathBuf::from);
    let mut packages = Vec::new();
    if testserver.is_none() {
        packages.push("foldup-testserver");
    }
    if options.foldup.is_none() {
        packages.push("foldup");
    }
    if !packages.is_empty() {
        println!("   cargo build --release -p {}", packages.join(" -p "));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(root)
            .args(["build", "--release", "--quiet"]);
        for package in &packages {
            command.args(["-p", package]);
        }
        let status = command.status().context("running cargo build")?;
        ensure!(status.success(), "cargo build --release failed");
    }
    let foldup = options
        .foldup
        .clone()
        .unwrap_or_else(|| release.join("foldup"));
    let testserver = testserver.unwrap_or_else(|| release.join("foldup-testserver"));
    for binary in [&foldup, &testserver] {
        ensure!(binary.is_file(), "no binary at {}", binary.display());
    }
    Ok((foldup, testserver))
}

fn startup_cases(foldup: &Path, venvs: &Venvs, scratch: &Path) -> Result<Vec<Case>> {
    // A GitHub Actions pull_request job: the variables the runner sets and its event payload.
    let payload = scratch.join("github-event.json");
    let fixture =
        crate::repo_root().join("crates/foldup-github/tests/fixtures/pull_request.opened.json");
    match fs::read(&fixture) {
        Ok(bytes) => fs::write(&payload, bytes)?,
        Err(_) => fs::write(&payload, MINIMAL_PULL_REQUEST_EVENT)?,
    }
    let github: Vec<(String, OsString)> = [
        ("GITHUB_ACTIONS", "true"),
        ("CI", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_SHA", "ffac537e6cbbf934b08745a378932722df287a53"),
        ("GITHUB_REF", "refs/pull/2/merge"),
        ("GITHUB_HEAD_REF", "changes"),
        ("GITHUB_BASE_REF", "master"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "1658821493"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_WORKFLOW", "dbt"),
        ("RUNNER_OS", "Linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .chain([(
        "GITHUB_EVENT_PATH".to_string(),
        payload.clone().into_os_string(),
    )])
    .collect();
    // A plain shell in a git checkout: foldup asks git.
    let checkout = scratch.join("checkout");
    fs::create_dir_all(&checkout)?;
    let git = |args: &[&str]| -> Result<()> {
        let status = Command::new("git")
            .args(args)
            .current_dir(&checkout)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .stdout(std::process::Stdio::null())
            .status()?;
        ensure!(status.success(), "git {args:?} failed");
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["commit", "-q", "--allow-empty", "-m", "bench"])?;
    Ok(vec![
        Case::new(names::VERSION, "foldup --version", foldup).args(["--version"]),
        Case::new(names::HELP, "foldup --help", foldup).args(["--help"]),
        Case::new(
            names::ENV_GITHUB,
            "GITHUB_ACTIONS=true GITHUB_EVENT_NAME=pull_request GITHUB_EVENT_PATH=… foldup env --json",
            foldup,
        )
        .args(["env", "--json"])
        .envs(&github),
        Case::new(names::ENV_LOCAL, "foldup env --json  # in a git checkout, no CI variables", foldup)
            .args(["env", "--json"])
            .cwd(&checkout),
        Case::new(names::DATAFOLD_HELP, "datafold --help", venvs.datafold()).args(["--help"]),
    ])
}

/// Used when the GitHub fixtures are not in the tree: the fields a pull_request payload has.
const MINIMAL_PULL_REQUEST_EVENT: &str = r#"{"action":"opened","number":2,"pull_request":{"number":2,"head":{"ref":"changes","sha":"ec26c3e57ca3a959ca5aad62de7213c562f8c821","repo":{"full_name":"Codertocat/Hello-World"}},"base":{"ref":"master","sha":"f95f852bd8fca8fcc58a9a2d6c842781e32a215e","repo":{"full_name":"Codertocat/Hello-World"}}},"repository":{"full_name":"Codertocat/Hello-World","default_branch":"master"}}"#;

/// A zip of the whole target at deflate level 1 (Python's zipfile, as datafold-sdk writes them),
/// for the curl floor. Kept next to the target folder, outside it.
fn prebuilt_archive(venvs: &Venvs, workload: &Workload) -> Result<PathBuf> {
    let parent = workload
        .target
        .parent()
        .context("a target folder has a parent")?;
    let archive = parent.join("bench-archive-level1.zip");
    if archive.is_file() {
        return Ok(archive);
    }
    println!("   building the prebuilt archive for the curl floor");
    let script = "import os, sys, zipfile\n\
                  root, out = sys.argv[1], sys.argv[2]\n\
                  with zipfile.ZipFile(out + '.partial', 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as z:\n\
                  \x20   for folder, _, files in os.walk(root):\n\
                  \x20       for name in files:\n\
                  \x20           path = os.path.join(folder, name)\n\
                  \x20           z.write(path, os.path.relpath(path, root))\n\
                  os.rename(out + '.partial', out)\n";
    let status = Command::new(venvs.dbt_venv.join("bin/python"))
        .args(["-c", script])
        .arg(&workload.target)
        .arg(&archive)
        .status()?;
    ensure!(status.success(), "building the prebuilt archive failed");
    Ok(archive)
}

fn upload_cases(
    foldup: &Path,
    venvs: &Venvs,
    server: &DatafoldServer,
    workload: &Workload,
    archive: &Path,
    scratch: &Path,
) -> Vec<Case> {
    let target = workload.target.as_os_str();
    let key = [("DATAFOLD_API_KEY".to_string(), OsString::from(API_KEY))];
    let host = ("DATAFOLD_HOST".to_string(), OsString::from(server.url()));
    let common = [
        "--ci-config-id",
        CI_CONFIG_ID,
        "--run-type",
        "pull_request",
        "--commit-sha",
        COMMIT_SHA,
    ];
    let shown_common =
        "--ci-config-id 1 --run-type pull_request --commit-sha $SHA --target-folder $TARGET";
    let target_display = workload.target.display();
    let output = scratch.join("archive.zip");
    vec![
        Case::new(
            names::ALL_FILES,
            format!("DATAFOLD_API_KEY=$KEY foldup upload --all-files {shown_common} --host $SERVER"),
            foldup,
        )
        .args(["upload", "--all-files"])
        .args(common)
        .args([OsString::from("--target-folder"), target.into()])
        .args(["--host", server.url()])
        .envs(&key),
        Case::new(
            names::DROP_IN,
            format!("DATAFOLD_API_KEY=$KEY DATAFOLD_HOST=$SERVER foldup dbt upload {shown_common}"),
            foldup,
        )
        .args(["dbt", "upload"])
        .args(common)
        .args([OsString::from("--target-folder"), target.into()])
        .envs(&key)
        .envs(std::slice::from_ref(&host)),
        Case::new(
            names::DEFAULT,
            format!("DATAFOLD_API_KEY=$KEY foldup upload {shown_common} --host $SERVER"),
            foldup,
        )
        .args(["upload"])
        .args(common)
        .args([OsString::from("--target-folder"), target.into()])
        .args(["--host", server.url()])
        .envs(&key),
        Case::new(
            names::ARCHIVE_ONLY,
            format!("DATAFOLD_API_KEY=$KEY foldup upload --all-files --dry-run --output $SCRATCH/archive.zip {shown_common}"),
            foldup,
        )
        .args(["upload", "--all-files", "--dry-run", "--output"])
        .args([output.as_os_str()])
        .args(common)
        .args([OsString::from("--target-folder"), target.into()])
        .args(["--host", server.url()])
        .envs(&key),
        Case::new(
            names::DATAFOLD,
            format!("DATAFOLD_API_KEY=$KEY DATAFOLD_HOST=$SERVER datafold dbt upload {shown_common}"),
            venvs.datafold(),
        )
        .args(["dbt", "upload"])
        .args(common)
        .args([OsString::from("--target-folder"), target.into()])
        .envs(&key)
        .envs(std::slice::from_ref(&host)),
        Case::shell(
            names::READ,
            format!("find {target_display} -type f -print0 | xargs -0 cat > /dev/null"),
        ),
        Case::shell(
            names::GZIP,
            format!("tar -cf - -C {target_display} . | gzip -1 > /dev/null"),
        ),
        Case::new(
            names::CURL,
            "curl -sSf -o /dev/null -H 'Authorization: Key $KEY' -F artifacts=@$ARCHIVE -F commit_sha=$SHA -F run_type=pull_request $SERVER/api/v1/dbt/submit_artifacts/1",
            "curl",
        )
        .args(["-sSf", "-o", "/dev/null", "-H"])
        .args([format!("Authorization: Key {API_KEY}")])
        .args(["-F".into(), format!("artifacts=@{};type=application/zip", archive.display())])
        .args(["-F".into(), format!("commit_sha={COMMIT_SHA}")])
        .args(["-F", "run_type=pull_request"])
        .args([format!("{}/api/v1/dbt/submit_artifacts/{CI_CONFIG_ID}", server.url())]),
    ]
}

/// Uploads once with each uploader and checks that the server accepted each; returns what it
/// listed (entries, archive size) and what went wrong, if anything.
fn check_uploads(
    server: &DatafoldServer,
    cases: &[Case],
    scratch: &Path,
) -> Result<(Vec<Listing>, Vec<String>)> {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for name in [
        names::ALL_FILES,
        names::DROP_IN,
        names::DEFAULT,
        names::DATAFOLD,
    ] {
        let Some(case) = cases.iter().find(|case| case.name == name) else {
            continue;
        };
        server.clear_requests()?;
        match check_one(server, case, scratch) {
            Ok((listed, size, others)) => {
                entries.push(Listing {
                    name: name.to_string(),
                    entries: listed,
                    bytes: size,
                });
                if !others.is_empty() {
                    problems.push(format!("{name} also sent {}", others.join(", ")));
                }
            }
            Err(error) => {
                println!("     check: {error:#}");
                problems.push(format!("{error:#}"));
            }
        }
    }
    server.clear_requests()?;
    Ok((entries, problems))
}

/// One upload: the entries and size of the archive the server listed, and any other requests.
fn check_one(
    server: &DatafoldServer,
    case: &Case,
    scratch: &Path,
) -> Result<(u64, u64, Vec<String>)> {
    let name = &case.name;
    measure::timed(case, scratch)?;
    let requests = server.requests()?;
    let (submits, others): (Vec<_>, Vec<_>) = requests.iter().partition(|request| {
        request["path"]
            .as_str()
            .is_some_and(|path| path.contains("/submit_artifacts/"))
    });
    ensure!(
        submits.len() == 1,
        "{name} made {} submit_artifacts requests to the test server, expected 1",
        submits.len()
    );
    let request = submits[0];
    let status = request["response_status"].as_u64().unwrap_or(0);
    ensure!(
        status == 200,
        "the test server answered {name} with {status}"
    );
    let archive = &request["archive"];
    if let Some(error) = archive["zip_error"].as_str() {
        bail!("{name} sent an archive the test server could not read: {error}");
    }
    let listed = archive["entries"].as_array().map_or(0, Vec::len) as u64;
    let others = others
        .iter()
        .map(|request| {
            format!(
                "{} {} (answered {})",
                request["method"].as_str().unwrap_or("?"),
                request["path"].as_str().unwrap_or("?"),
                request["response_status"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    Ok((listed, archive["size"].as_u64().unwrap_or(0), others))
}

/// Installs datafold-sdk with pip and foldup from its release tarball, interleaved.
fn install(root: &Path, foldup: &Path, options: &Options, scratch: &Path) -> Result<Install> {
    let (tarball, tarball_note) = release_tarball(root, foldup, scratch)?;
    let mirror = ReleaseMirror::serve(tarball.parent().context("the tarball has a folder")?)?;
    let tarball_url = format!(
        "{}/{}",
        mirror.url(),
        tarball
            .file_name()
            .context("the tarball has a name")?
            .to_string_lossy()
    );
    let installs = scratch.join("install");
    fs::create_dir_all(&installs)?;
    // pyenv's shim is a shell script; a CI image has the interpreter itself on PATH.
    let python = python::command_output(
        Command::new(&options.python).args(["-c", "import sys; print(sys.executable)"]),
    )?
    .trim()
    .to_string();
    let requirements = DATAFOLD_REQUIREMENTS
        .iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let installs_display = installs.display();
    let cases = vec![
        Case::shell(
            names::PIP,
            format!(
                "D=$(mktemp -d -p {installs_display}) && {python} -m venv $D/venv && $D/venv/bin/pip install --quiet --disable-pip-version-check {requirements}"
            ),
        ),
        Case::shell(
            names::TARBALL,
            format!(
                "D=$(mktemp -d -p {installs_display}) && curl -fsS {tarball_url} | tar -xzf - -C $D"
            ),
        ),
    ];
    // Every run installs into a folder of its own; they are measured for size, then removed.
    let summaries = measure::interleaved(&cases, options.install_reps, scratch, false, &|| Ok(()));
    for summary in &summaries {
        println!("     {:<52} {}", summary.name, report::short(summary));
    }
    // One virtualenv and one unpacked tarball of those the runs left: their size, and proof that
    // the unpacked binary runs.
    let mut sizes: Vec<(String, u64)> = Vec::new();
    for entry in fs::read_dir(&installs)? {
        let dir = entry?.path();
        let name = if dir.join("venv").is_dir() {
            names::PIP
        } else {
            let binary = find_file(&dir, "foldup").context("the tarball holds no foldup binary")?;
            let output = Command::new(&binary).arg("--version").output()?;
            ensure!(output.status.success(), "the unpacked foldup does not run");
            names::TARBALL
        };
        if sizes.iter().any(|(known, _)| known == name) {
            continue;
        }
        let (_, bytes) = workload::tree_size(&dir)?;
        sizes.push((name.to_string(), bytes));
    }
    sizes.sort();
    fs::remove_dir_all(&installs)?;
    sizes.push((
        "release tarball (compressed)".to_string(),
        fs::metadata(&tarball)?.len(),
    ));
    let note = format!(
        "pip resolves against PyPI and takes the wheels from pip's cache (`{}`), which earlier runs filled: \
         this is the best case for pip, a warm cache, as on a CI runner that caches pip. \
         The foldup row fetches {} from a local HTTP server (127.0.0.1) with curl and unpacks it with tar. {tarball_note}",
        python::command_output(Command::new(&python).args(["-m", "pip", "cache", "dir"]))
            .map(|dir| dir.trim().to_string())
            .unwrap_or_else(|_| "pip cache dir".into()),
        tarball.file_name().unwrap_or_default().to_string_lossy(),
    );
    Ok(Install {
        summaries,
        sizes,
        note,
    })
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// The release tarball `cargo xtask dist` writes (under target/dist/), or, when there is none,
/// one made here from the release binary with tar and gzip.
fn release_tarball(root: &Path, foldup: &Path, scratch: &Path) -> Result<(PathBuf, String)> {
    let dist = root.join("target/dist");
    if let Ok(entries) = fs::read_dir(&dist) {
        let mut tarballs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .filter(|p| p.to_string_lossy().contains("linux"))
            .collect();
        tarballs.sort();
        if let Some(tarball) = tarballs.pop() {
            let shown = tarball
                .strip_prefix(root)
                .unwrap_or(&tarball)
                .display()
                .to_string();
            let note = format!(
                "The tarball is the one `cargo xtask dist` wrote (`{shown}`); the other rows run the \
                 release build of `cargo build --release -p foldup`."
            );
            return Ok((tarball, note));
        }
    }
    let staging = scratch.join("tarball");
    fs::create_dir_all(staging.join("foldup"))?;
    fs::copy(foldup, staging.join("foldup/foldup"))?;
    let tarball = scratch.join("foldup-x86_64-unknown-linux.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&staging)
        .arg("foldup")
        .status()?;
    ensure!(status.success(), "tar failed");
    Ok((
        tarball,
        "`cargo xtask dist` had written no tarball, so the bench made one from the release binary (`tar -czf`)."
            .to_string(),
    ))
}

fn machine() -> Result<Vec<(String, String)>> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let os = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("")
        .trim_matches('"')
        .to_string();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    Ok(vec![
        ("cores (nproc)".into(), cores.to_string()),
        ("CPU".into(), model),
        ("memory".into(), memory),
        ("OS".into(), format!("{os}, Linux {}", kernel.trim())),
    ])
}

/// The 1-minute load average: other work on the machine during the run shows here.
pub(super) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn first_line(command: &mut Command) -> String {
    python::command_output(command)
        .map(|text| text.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|_| "unavailable".into())
}

fn versions(foldup: &Path, venvs: &Venvs) -> Result<Vec<(String, String)>> {
    let root = crate::repo_root();
    let commit = first_line(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&root),
    );
    let dirty = !python::command_output(
        Command::new("git")
            .args([
                "status",
                "--porcelain",
                "--",
                "crates",
                "Cargo.toml",
                "Cargo.lock",
            ])
            .current_dir(&root),
    )
    .unwrap_or_default()
    .trim()
    .is_empty();
    let size = fs::metadata(foldup).map(|m| m.len()).unwrap_or(0);
    Ok(vec![
        (
            "foldup".into(),
            format!(
                "{} (commit {commit}{}), release build, binary {:.1} MB",
                first_line(Command::new(foldup).arg("--version")),
                if dirty {
                    " with uncommitted changes in crates/"
                } else {
                    ""
                },
                size as f64 / 1e6
            ),
        ),
        (
            "rustc".into(),
            first_line(Command::new("rustc").arg("--version")),
        ),
        ("datafold-sdk".into(), venvs.datafold_sdk_version.clone()),
        (
            "dbt (workloads)".into(),
            format!(
                "dbt-core {}, dbt-duckdb {}",
                venvs.dbt_core_version, venvs.dbt_duckdb_version
            ),
        ),
        ("Python".into(), venvs.python_version.clone()),
        (
            "gzip".into(),
            first_line(Command::new("gzip").arg("--version")),
        ),
        (
            "tar".into(),
            first_line(Command::new("tar").arg("--version")),
        ),
        (
            "curl".into(),
            first_line(Command::new("curl").arg("--version")),
        ),
        (
            "GNU time".into(),
            first_line(Command::new("/usr/bin/time").arg("--version")),
        ),
    ])
}

/// The current UTC date and time, from `date` (no date crate needed for one line).
pub(super) fn utc_now() -> String {
    first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
}
