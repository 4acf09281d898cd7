//! `cargo xtask demo`: the main job end to end on the bundled example. Builds foldup, starts the
//! Datafold-compatible test server, uploads `examples/shop/target` as a GitHub Actions pull
//! request (built from a real webhook payload), and prints what the server received.

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
    Ok(())
}
