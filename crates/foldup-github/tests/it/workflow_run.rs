//! `workflow_run` (GitHub's documented safe way to give a fork's pull request access to secrets)
//! and Dependabot's pull requests (no Actions secrets although they are not forks), from payloads
//! shaped as GitHub documents the `workflow_run` and `pull_request` webhook events.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use foldup_core::{CiContext, CiProvider, DetectOptions, Env, RunType, Secret};
use foldup_github::{GitHubActions, GitHubSettings};
use serde_json::{json, Value};

const HEAD: &str = "4f2c1b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a392";
/// GITHUB_SHA of a workflow_run workflow: the default branch's latest commit, never the answer.
const DEFAULT_TIP: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

fn repository(full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap();
    json!({
        "id": 1296269,
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner, "type": "Organization"},
        "default_branch": "main",
        "fork": false
    })
}

/// A `workflow_run` payload for a completed run of the `dbt build` workflow.
fn workflow_run(event: &str, head_branch: &str, head_repo: &str, pull_requests: Value) -> Value {
    json!({
        "action": "completed",
        "workflow_run": {
            "id": 30433642,
            "name": "dbt build",
            "head_branch": head_branch,
            "head_sha": HEAD,
            "path": ".github/workflows/dbt.yml",
            "run_number": 562,
            "event": event,
            "status": "completed",
            "conclusion": "success",
            "workflow_id": 159038,
            "pull_requests": pull_requests,
            "html_url": "https://github.com/acme/analytics/actions/runs/30433642",
            "head_commit": {"id": HEAD, "message": "Add orders model"},
            "repository": repository("acme/analytics"),
            "head_repository": repository(head_repo)
        },
        "workflow": {"id": 159038, "name": "dbt build"},
        "repository": repository("acme/analytics"),
        "sender": {"login": "octocat", "type": "User"}
    })
}

fn detect(payload: &Value, extra: &[(&str, &str)], settings: GitHubSettings) -> CiContext {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, serde_json::to_vec(payload).unwrap()).unwrap();
    let mut env = Env::from_pairs([
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/analytics"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "30433700"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_EVENT_NAME", "workflow_run"),
        ("GITHUB_SHA", DEFAULT_TIP),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_BASE_REF", ""),
    ])
    .with("GITHUB_EVENT_PATH", path.to_str().unwrap());
    for (name, value) in extra {
        env = env.with(name, value);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(GitHubActions::new(settings).detect(&env, &DetectOptions::default()))
        .unwrap()
}

#[test]
fn a_same_repository_pull_request_run_gives_head_sha_and_its_pull_request() {
    let pulls = json!([{
        "url": "https://api.github.com/repos/acme/analytics/pulls/42",
        "id": 934521,
        "number": 42,
        "head": {"ref": "feature/orders", "sha": HEAD, "repo": {"id": 1296269, "url": "https://api.github.com/repos/acme/analytics", "name": "analytics"}},
        "base": {"ref": "main", "sha": DEFAULT_TIP, "repo": {"id": 1296269, "url": "https://api.github.com/repos/acme/analytics", "name": "analytics"}}
    }]);
    let ctx = detect(
        &workflow_run("pull_request", "feature/orders", "acme/analytics", pulls),
        &[],
        GitHubSettings::default(),
    );
    assert_eq!(ctx.commit_sha.get().unwrap().as_str(), HEAD);
    assert_eq!(
        ctx.commit_sha.source.as_deref(),
        Some("GITHUB_EVENT_PATH workflow_run.head_sha")
    );
    assert_eq!(ctx.run_type.value, Some(RunType::PullRequest));
    assert_eq!(ctx.pr_number.value, Some(42));
    assert_eq!(ctx.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(ctx.base_branch.value.as_deref(), Some("main"));
    assert_eq!(ctx.fork.value, Some(false));
}

#[test]
fn a_fork_pull_request_run_without_a_token_says_how_to_get_the_number() {
    let ctx = detect(
        &workflow_run(
            "pull_request",
            "patch-1",
            "contributor/analytics",
            json!([]),
        ),
        &[],
        GitHubSettings::default(),
    );
    assert_eq!(ctx.commit_sha.get().unwrap().as_str(), HEAD);
    assert_eq!(ctx.run_type.value, Some(RunType::PullRequest));
    assert_eq!(ctx.pr_number.value, None);
    let why = ctx.pr_number.source.clone().unwrap();
    assert!(
        why.contains("empty for pull requests from forks") && why.contains("GITHUB_TOKEN"),
        "{why}"
    );
    assert!(ctx.is_fork());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_fork_pull_request_run_with_a_token_looks_the_pull_request_up_by_head_sha() {
    let app = Router::new().route(
        "/repos/{owner}/{repo}/commits/{sha}/pulls",
        get(|Path((owner, repo, sha)): Path<(String, String, String)>| async move {
            assert_eq!((owner.as_str(), repo.as_str(), sha.as_str()), ("acme", "analytics", HEAD));
            axum::Json(json!([{
                "number": 57,
                "state": "open",
                "head": {"ref": "patch-1", "sha": HEAD, "repo": {"full_name": "contributor/analytics"}},
                "base": {"ref": "main", "sha": DEFAULT_TIP, "repo": {"full_name": "acme/analytics"}}
            }]))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let payload = workflow_run(
        "pull_request",
        "patch-1",
        "contributor/analytics",
        json!([]),
    );
    let settings = GitHubSettings {
        token: Some(Secret::new("ghs_test0token")),
        ..GitHubSettings::default()
    };
    let ctx = tokio::task::spawn_blocking(move || {
        detect(&payload, &[("GITHUB_API_URL", api.as_str())], settings)
    })
    .await
    .unwrap();
    assert_eq!(ctx.pr_number.value, Some(57), "{:?}", ctx.warnings);
    assert_eq!(ctx.commit_sha.get().unwrap().as_str(), HEAD);
    assert_eq!(ctx.run_type.value, Some(RunType::PullRequest));
    assert!(ctx.is_fork());
}

#[test]
fn a_push_run_on_the_default_branch_is_production_and_elsewhere_is_not() {
    let main = detect(
        &workflow_run("push", "main", "acme/analytics", json!([])),
        &[],
        GitHubSettings::default(),
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(main.commit_sha.get().unwrap().as_str(), HEAD);
    let develop = detect(
        &workflow_run("push", "develop", "acme/analytics", json!([])),
        &[],
        GitHubSettings::default(),
    );
    assert_eq!(develop.run_type.value, None);
    let release = detect(
        &workflow_run("release", "main", "acme/analytics", json!([])),
        &[],
        GitHubSettings::default(),
    );
    assert!(release
        .run_type
        .source
        .unwrap()
        .contains("workflow_run.event=release is not an event foldup maps"));
}

#[test]
fn dependabot_pull_requests_are_marked_as_getting_no_secrets() {
    let payload = json!({
        "action": "opened",
        "number": 12,
        "pull_request": {
            "number": 12,
            "state": "open",
            "user": {"login": "dependabot[bot]", "type": "Bot"},
            "head": {"ref": "dependabot/pip/dbt-core-1.9.1", "sha": HEAD, "repo": repository("acme/analytics")},
            "base": {"ref": "main", "sha": DEFAULT_TIP, "repo": repository("acme/analytics")}
        },
        "repository": repository("acme/analytics"),
        "sender": {"login": "dependabot[bot]", "type": "Bot"}
    });
    let pr_event = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/12/merge"),
        ("GITHUB_ACTOR", "dependabot[bot]"),
    ];
    let ctx = detect(&payload, &pr_event, GitHubSettings::default());
    assert_eq!(ctx.secrets_withheld.value, Some(true));
    assert!(!ctx.is_fork());
    assert_eq!(ctx.commit_sha.get().unwrap().as_str(), HEAD);
    // A maintainer re-running it: the author still is Dependabot.
    let rerun = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/12/merge"),
        ("GITHUB_ACTOR", "octocat"),
    ];
    let ctx = detect(&payload, &rerun, GitHubSettings::default());
    assert_eq!(ctx.secrets_withheld.value, Some(true));
    assert!(ctx
        .secrets_withheld
        .source
        .unwrap()
        .contains("pull_request.user.login"));
}
