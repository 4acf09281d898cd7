//! A missing, unreadable, malformed, huge or deeply nested `GITHUB_EVENT_PATH` is a warning and
//! a fallback to the variables, never a panic; a pull request's head commit is then unknowable,
//! and foldup says how to pass it instead of reporting GitHub's merge commit.

use std::path::Path;
use std::time::Instant;

use foldup_core::{CiContext, CiProvider, DetectOptions, Env};
use foldup_github::{GitHubActions, MAX_EVENT_PAYLOAD_BYTES};
use serde_json::{json, Value};

use crate::fixture;

const MERGE_COMMIT: &str = "8d2c8d2e5a4b3c1f0e9d8c7b6a5f4e3d2c1b0a99";
const HINT: &str = "pass --commit-sha ${{ github.event.pull_request.head.sha }}";

/// The variables of a `pull_request` run of PR #2 of Codertocat/Hello-World.
fn pull_request_env(payload_path: Option<&Path>) -> Env {
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_SHA", MERGE_COMMIT),
        ("GITHUB_REF", "refs/pull/2/merge"),
        ("GITHUB_HEAD_REF", "changes"),
        ("GITHUB_BASE_REF", "master"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "9876543210"),
    ]);
    match payload_path {
        Some(path) => env.with("GITHUB_EVENT_PATH", path.to_str().unwrap()),
        None => env,
    }
}

async fn detect(env: &Env) -> CiContext {
    GitHubActions::default()
        .detect(env, &DetectOptions::default())
        .await
        .expect("GitHub detection never fails")
}

/// What every unusable payload of a pull_request run must give: the variables' answer, no
/// commit (never the merge commit) and a reason that says how to pass it.
fn assert_pull_request_fallback(ctx: &CiContext, warning_part: &str) {
    let json = ctx.to_json();
    assert_eq!(ctx.warnings.len(), 1, "{:?}", ctx.warnings);
    let warning = &ctx.warnings[0];
    assert!(warning.contains(warning_part), "{warning}");
    assert!(warning.contains(HINT), "{warning}");
    assert_eq!(json["commit_sha"], Value::Null);
    assert!(!json.to_string().contains(MERGE_COMMIT));
    let reason = json["sources"]["commit_sha"].as_str().unwrap();
    assert!(reason.contains(HINT), "{reason}");
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["pr_number"], 2);
    assert_eq!(json["sources"]["pr_number"], "GITHUB_REF");
    assert_eq!(json["branch"], "changes");
    assert_eq!(json["sources"]["branch"], "GITHUB_HEAD_REF");
    assert_eq!(json["base_branch"], "master");
    assert_eq!(json["sources"]["base_branch"], "GITHUB_BASE_REF");
    assert_eq!(json["default_branch"], Value::Null);
    assert_eq!(json["repository"], "Codertocat/Hello-World");
    assert_eq!(ctx.fork.value, None);
}

#[tokio::test]
async fn a_missing_payload_file() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = detect(&pull_request_env(Some(&dir.path().join("event.json")))).await;
    assert_pull_request_fallback(&ctx, "does not exist");
}

#[tokio::test]
async fn an_unset_event_path() {
    let ctx = detect(&pull_request_env(None)).await;
    assert_pull_request_fallback(&ctx, "GITHUB_EVENT_PATH is not set");
}

#[tokio::test]
async fn an_unreadable_payload() {
    // A path through a file cannot be read, even by root (the tests may run as root, for whom
    // file permissions do not stop a read).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "{}").unwrap();
    let ctx = detect(&pull_request_env(Some(&file.join("event.json")))).await;
    assert_pull_request_fallback(&ctx, "could not be read (Not a directory");
}

#[tokio::test]
async fn a_payload_path_that_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = detect(&pull_request_env(Some(dir.path()))).await;
    assert_pull_request_fallback(&ctx, "is not a regular file");
}

#[cfg(unix)]
#[test]
fn a_payload_path_that_is_a_named_pipe_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("event.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Nobody ever writes to the pipe, so opening it would block the thread for good: detect on
    // a thread of its own, so that a hang fails this test instead of stalling the suite.
    let env = pull_request_env(Some(&fifo));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = sender.send(runtime.block_on(detect(&env)));
    });
    let ctx = receiver
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("detection does not wait on a pipe");
    assert_pull_request_fallback(&ctx, "is not a regular file");
}

#[tokio::test]
async fn a_truncated_payload() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(fixture("pull_request.opened.json")).unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, &real[..real.len() / 2]).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert_pull_request_fallback(&ctx, "is not a GitHub event as JSON (EOF while parsing");
}

#[tokio::test]
async fn a_payload_that_is_not_json_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, b"\xff\xfe<html>not json").unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert_pull_request_fallback(&ctx, "is not a GitHub event as JSON");
}

#[tokio::test]
async fn a_huge_payload_is_refused_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    // A sparse file: its size is real, but nothing is written or needs reading.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_EVENT_PAYLOAD_BYTES + 1).unwrap();
    let started = Instant::now();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert!(
        started.elapsed().as_secs() < 2,
        "took {:?}",
        started.elapsed()
    );
    assert_pull_request_fallback(&ctx, "is larger than 25 MiB");
}

#[tokio::test]
async fn a_payload_at_the_limit_is_still_read() {
    // Real payload, padded with whitespace to exactly the limit: JSON allows it, GitHub's cap
    // allows it, so foldup must read it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    let mut bytes = std::fs::read(fixture("pull_request.opened.json")).unwrap();
    bytes.resize(MAX_EVENT_PAYLOAD_BYTES as usize, b' ');
    std::fs::write(&path, &bytes).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    assert_eq!(
        ctx.commit_sha.get().unwrap().as_str(),
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    );
}

#[tokio::test]
async fn deeply_nested_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 1_000_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));

    // Nothing but nesting: not an event.
    let path = dir.path().join("nested.json");
    std::fs::write(&path, &nested).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert_pull_request_fallback(&ctx, "is not a GitHub event as JSON");

    // Nesting where foldup expects the pull request: not an event either.
    let path = dir.path().join("nested_pull_request.json");
    std::fs::write(
        &path,
        format!(r#"{{"pull_request": {{"head": {nested}}}}}"#),
    )
    .unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert_pull_request_fallback(&ctx, "is not a GitHub event as JSON");

    // A real payload with a deeply nested field foldup does not read: still the right answer.
    let mut real: Value =
        serde_json::from_slice(&std::fs::read(fixture("pull_request.opened.json")).unwrap())
            .unwrap();
    real["pull_request"]["labels"] = json!("PLACEHOLDER");
    let text = real.to_string().replace("\"PLACEHOLDER\"", &nested);
    let path = dir.path().join("real_with_nesting.json");
    std::fs::write(&path, text).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    assert_eq!(
        ctx.to_json()["commit_sha"],
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    );
    assert_eq!(ctx.to_json()["pr_number"], 2);
}

#[tokio::test]
async fn a_non_numeric_pr_number_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    // In the payload: the payload is not GitHub's, so the variables answer.
    let mut real: Value =
        serde_json::from_slice(&std::fs::read(fixture("pull_request.opened.json")).unwrap())
            .unwrap();
    real["pull_request"]["number"] = json!("two");
    let path = dir.path().join("event.json");
    std::fs::write(&path, real.to_string()).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert_pull_request_fallback(&ctx, "invalid type: string \"two\"");

    // In GITHUB_REF, with no payload: no number, and why.
    for git_ref in [
        "refs/pull/two/merge",
        "refs/pull//merge",
        "refs/pull/99999999999999999999999/merge",
    ] {
        let env =
            pull_request_env(Some(&dir.path().join("missing.json"))).with("GITHUB_REF", git_ref);
        let json = detect(&env).await.to_json();
        assert_eq!(json["pr_number"], Value::Null);
        assert_eq!(
            json["sources"]["pr_number"],
            format!("GITHUB_REF '{git_ref}' does not hold a pull request number")
        );
    }
}

#[tokio::test]
async fn a_payload_of_another_event_for_a_pull_request_run() {
    // A push payload where a pull_request one belongs (a misconfigured local runner).
    let ctx = detect(&pull_request_env(Some(&fixture(
        "push.default_branch.json",
    ))))
    .await;
    assert_eq!(ctx.warnings.len(), 1, "{:?}", ctx.warnings);
    assert!(ctx.warnings[0].starts_with(
        "The event payload has no pull_request object although GITHUB_EVENT_NAME=pull_request"
    ));
    let json = ctx.to_json();
    assert_eq!(json["commit_sha"], Value::Null);
    assert!(json["sources"]["commit_sha"]
        .as_str()
        .unwrap()
        .contains(HINT));
    assert_eq!(json["pr_number"], 2);
    assert_eq!(
        json["default_branch"], "master",
        "the payload's repository still counts"
    );
}

#[tokio::test]
async fn a_short_head_sha_in_the_payload_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut real: Value =
        serde_json::from_slice(&std::fs::read(fixture("pull_request.opened.json")).unwrap())
            .unwrap();
    real["pull_request"]["head"]["sha"] = json!("ec26c3e");
    let path = dir.path().join("event.json");
    std::fs::write(&path, real.to_string()).unwrap();
    let json = detect(&pull_request_env(Some(&path))).await.to_json();
    assert_eq!(json["commit_sha"], Value::Null);
    let reason = json["sources"]["commit_sha"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "GITHUB_EVENT_PATH pull_request.head.sha: commit sha 'ec26c3e' has 7 hex digits"
        ),
        "{reason}"
    );
    assert!(reason.ends_with(HINT), "{reason}");
}

#[tokio::test]
async fn a_deleted_fork_counts_as_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let mut real: Value =
        serde_json::from_slice(&std::fs::read(fixture("pull_request.opened.json")).unwrap())
            .unwrap();
    real["pull_request"]["head"]["repo"] = Value::Null;
    let path = dir.path().join("event.json");
    std::fs::write(&path, real.to_string()).unwrap();
    let ctx = detect(&pull_request_env(Some(&path))).await;
    assert!(ctx.is_fork());
    assert!(ctx.warnings.is_empty());
}

#[tokio::test]
async fn a_push_without_payload_uses_the_variables_and_main_or_master() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        (
            "GITHUB_EVENT_PATH",
            dir.path().join("gone.json").to_str().unwrap(),
        ),
        ("GITHUB_SHA", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
        ("GITHUB_REF", "refs/heads/master"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ]);
    let ctx = detect(&env).await;
    assert_eq!(ctx.warnings.len(), 1);
    assert!(ctx.warnings[0].contains("does not exist"));
    assert!(ctx.warnings[0].contains("does not know the repository's default branch"));
    let json = ctx.to_json();
    assert_eq!(
        json["commit_sha"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(json["run_type"], "production");
    assert_eq!(
        json["sources"]["run_type"],
        "GITHUB_REF names the production branch 'main' or 'master' (no default branch known)"
    );
    assert_eq!(json["build_url"], Value::Null);
    assert_eq!(
        json["sources"]["build_url"],
        "GITHUB_SERVER_URL, GITHUB_RUN_ID not set"
    );
}

#[tokio::test]
async fn a_bad_github_sha_is_missing_with_the_reason() {
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        (
            "GITHUB_EVENT_PATH",
            fixture("push.default_branch.json").to_str().unwrap(),
        ),
        ("GITHUB_SHA", "not-a-sha\u{1b}[31m"),
        ("GITHUB_REF", "refs/heads/master"),
    ]);
    let json = detect(&env).await.to_json();
    assert_eq!(json["commit_sha"], Value::Null);
    let reason = json["sources"]["commit_sha"].as_str().unwrap();
    assert!(
        reason.starts_with("GITHUB_SHA: commit sha 'not-a-sha\\u{1b}[31m' is not a 40-digit hex"),
        "{reason}"
    );
    assert_eq!(json["repository"], "Codertocat/Hello-World");
    assert_eq!(
        json["sources"]["repository"],
        "GITHUB_EVENT_PATH repository.full_name"
    );
}
