//! `cargo xtask demo`: the main job end to end on the bundled example. Builds foldup, starts the
//! Datafold-compatible test server, uploads `examples/shop/target` as a GitHub Actions pull
//! request (built from a real webhook payload), and prints what the server received.
//!
//! Second act, Slim CI: production's `foldup state push` into a local store, a pull request that
//! changes one model, its `foldup state pull`, and real dbt (`dbt ls --select state:modified`)
//! reading the pulled state.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::base::step::run_step;
use crate::harness::datafold_server::DatafoldServer;
use crate::harness::scratch::fresh_scratch;

const DEMO_KEY: &str = "demo-api-key";
const DEMO_CI_CONFIG_ID: &str = "1";

pub fn run(_args: &[String]) -> Result<()> {
    let root = crate::repo_root();
    run_step(
        "build",
        "cargo",
        &[
            "build",
            "--quiet",
            "-p",
            "foldup",
            "-p",
            "foldup-testserver",
        ],
    )?;
    let bin = root.join("target/debug");
    let work = fresh_scratch("demo")?;
    let server =
        DatafoldServer::start_binary(&bin.join("foldup-testserver"), DEMO_KEY, DEMO_CI_CONFIG_ID)?;
    let url = server.url().to_owned();
    eprintln!("\n==> Datafold stand-in listening on {url}");

    let payload = root.join("crates/foldup-github/tests/fixtures/pull_request.opened.json");
    let facts: Value = serde_json::from_slice(&std::fs::read(&payload)?)?;
    let number = facts["number"].as_u64().unwrap_or(1);
    let repository = facts["repository"]["full_name"]
        .as_str()
        .unwrap_or("octo/demo");
    let github_env = [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        ("GITHUB_EVENT_PATH", payload.display().to_string()),
        // GitHub's merge commit for the PR: foldup must send the PR head instead.
        (
            "GITHUB_SHA",
            "9a1c3b6e0f2d4a8b7c5e3f1a9b8c7d6e5f4a3b2c".to_owned(),
        ),
        ("GITHUB_REF", format!("refs/pull/{number}/merge")),
        ("GITHUB_REPOSITORY", repository.to_owned()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_RUN_ID", "1".to_owned()),
        (
            "GITHUB_OUTPUT",
            work.join("github_output").display().to_string(),
        ),
        (
            "GITHUB_STEP_SUMMARY",
            work.join("step_summary").display().to_string(),
        ),
    ];
    eprintln!("==> foldup upload, as a GitHub Actions pull_request job on examples/shop (real payload: {})", payload.display());
    let status = Command::new(bin.join("foldup"))
        .args(["upload", "--ci-config-id", DEMO_CI_CONFIG_ID])
        .current_dir(root.join("examples/shop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(github_env)
        .env("DATAFOLD_API_KEY", DEMO_KEY)
        .env("DATAFOLD_HOST", &url)
        .status()
        .context("running foldup")?;
    if !status.success() {
        bail!("foldup upload failed ({status}); its message is above");
    }

    let requests = server.requests()?;
    drop(server);
    println!("\nWhat the Datafold stand-in received:");
    for request in &requests {
        println!(
            "  {} {}",
            request["method"].as_str().unwrap_or("?"),
            request["path"].as_str().unwrap_or("?")
        );
        for header in request["headers"].as_array().into_iter().flatten() {
            let name = header[0].as_str().unwrap_or_default();
            if name == "authorization" {
                println!("    authorization: Key *** (the demo key)");
            } else if name == "user-agent" {
                println!("    user-agent: {}", header[1].as_str().unwrap_or_default());
            }
        }
        for field in request["fields"].as_array().into_iter().flatten() {
            println!(
                "    field {} = {}",
                field[0].as_str().unwrap_or_default(),
                field[1].as_str().unwrap_or_default()
            );
        }
        if let Some(archive) = request["archive"].as_object() {
            println!(
                "    file part '{}': {} bytes, zip entries:",
                archive["part_name"].as_str().unwrap_or(""),
                archive["size"]
            );
            for entry in archive["entries"].as_array().into_iter().flatten() {
                println!(
                    "      {:<24} {:>9} bytes",
                    entry["name"].as_str().unwrap_or(""),
                    entry["size"]
                );
            }
        }
        println!("    answered {}", request["response_status"]);
    }
    let head = facts["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap_or_default();
    println!("\nThe PR head commit in the payload is {head}; GitHub's merge commit was not sent.");

    slim_ci(&bin.join("foldup"), &work)
}

/// The model the demo's pull request changes, and what dbt should select for it.
const CHANGED_MODEL: &str = "models/marts/customers.sql";
const CHANGED_NODE: &str = "shop.marts.customers";

/// Act two: production pushes its state, a pull request pulls it and real dbt selects what the
/// pull request changed.
fn slim_ci(foldup: &Path, work: &Path) -> Result<()> {
    let root = crate::repo_root();
    let fixtures = root.join("crates/foldup-github/tests/fixtures");
    let store = work.join("store");
    let project = work.join("shop");
    crate::base::tree::copy_example_project(&project)?;
    let github_output = work.join("github_output").display().to_string();
    let github_env_file = work.join("github_env");
    std::fs::write(&github_env_file, "")?;
    let run_foldup = |args: &[&str], event: &str, payload: &Path, extra: &[(&str, &str)]| {
        Command::new(foldup)
            .args(args)
            .current_dir(&project)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", payload)
            .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "2")
            .env("GITHUB_OUTPUT", &github_output)
            .env("GITHUB_ENV", &github_env_file)
            .env("FOLDUP_STATE_STORE", &store)
            .envs(extra.iter().copied())
            .output()
            .context("running foldup")
    };

    eprintln!(
        "\n==> Slim CI, production: foldup state push into a local store ({}), as a GitHub Actions push to master",
        store.display()
    );
    let push_payload = fixtures.join("push.default_branch.json");
    let push: Value = serde_json::from_slice(&std::fs::read(&push_payload)?)?;
    let pushed = run_foldup(
        &["state", "push"],
        "push",
        &push_payload,
        &[
            ("GITHUB_SHA", push["after"].as_str().unwrap_or_default()),
            ("GITHUB_REF", push["ref"].as_str().unwrap_or_default()),
        ],
    )?;
    eprint!("{}", String::from_utf8_lossy(&pushed.stderr));
    if !pushed.status.success() {
        bail!(
            "foldup state push failed ({}); its message is above",
            pushed.status
        );
    }
    println!("\nWhat the store holds:");
    for file in files_below(&store)? {
        println!("  {}", file.strip_prefix(&store).unwrap_or(&file).display());
    }

    eprintln!("\n==> Slim CI, pull request: {CHANGED_MODEL} changes, foldup state pull fetches master's state");
    let model = project.join(CHANGED_MODEL);
    let sql = std::fs::read_to_string(&model)?;
    std::fs::write(&model, format!("{sql}\n-- changed in the pull request\n"))?;
    let pr_payload = root.join("crates/foldup-github/tests/fixtures/pull_request.opened.json");
    let pulled = run_foldup(
        &["state", "pull"],
        "pull_request",
        &pr_payload,
        &[
            ("GITHUB_SHA", "9a1c3b6e0f2d4a8b7c5e3f1a9b8c7d6e5f4a3b2c"),
            ("GITHUB_REF", "refs/pull/2/merge"),
        ],
    )?;
    eprint!("{}", String::from_utf8_lossy(&pulled.stderr));
    if !pulled.status.success() {
        bail!(
            "foldup state pull failed ({}); its message is above",
            pulled.status
        );
    }
    let state = String::from_utf8(pulled.stdout).context("the pulled folder is not UTF-8")?;
    let state = state.trim_end();
    println!("\nfoldup state pull printed: {state}");
    println!("and exported to the job's later steps ($GITHUB_ENV):");
    for line in std::fs::read_to_string(&github_env_file)?.lines() {
        println!("  {line}");
    }

    let dbt = crate::fixtures::ensure_test_dbt()?;
    eprintln!("\n==> dbt ls --select state:modified --state {state}");
    let mut command = Command::new(&dbt);
    crate::harness::dbt::quiet(&mut command)
        .args([
            "ls",
            "--resource-type",
            "model",
            "--select",
            "state:modified",
        ])
        .args(["--state", state, "--profiles-dir", "."])
        .current_dir(&project)
        .env("SHOP_DUCKDB_PATH", work.join("shop.duckdb"));
    let listed = command.output().context("running dbt")?;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    if !listed.status.success() {
        bail!(
            "dbt ls failed ({}):\n{stdout}{}",
            listed.status,
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    let selected: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("shop."))
        .collect();
    println!("\ndbt selected, against the pulled production state: {selected:?}");
    if selected != [CHANGED_NODE] {
        bail!(
            "dbt should select only {CHANGED_NODE}, the model the pull request changed:\n{stdout}"
        );
    }
    Ok(())
}

/// Every file below `dir`, sorted.
fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
