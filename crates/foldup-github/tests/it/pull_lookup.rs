//! The optional GitHub API look-up for a push to a non-production branch, against a local
//! server standing in for api.github.com: it finds the open pull request, and every failure
//! (401, timeout, garbage, unreachable) is a warning that never shows the token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use foldup_core::{CiContext, CiProvider, DetectOptions, Env, Secret};
use foldup_github::{GitHubActions, GitHubSettings};
use serde_json::{json, Value};

use crate::fixture;

const TOKEN: &str = "ghs_CANARY0token0never0printed0000000000";
const PUSHED: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

fn read_fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

/// How the stand-in answers.
#[derive(Clone)]
enum Answer {
    Json(Value),
    Status(StatusCode, Value),
    Text(&'static str),
    Slow(Duration),
}

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
}

#[derive(Clone)]
struct StandIn {
    answer: Answer,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

async fn commit_pulls(
    State(stand_in): State<StandIn>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    stand_in.requests.lock().unwrap().push(Recorded {
        path: format!("/repos/{owner}/{repo}/commits/{sha}/pulls"),
        headers,
    });
    match stand_in.answer {
        Answer::Json(body) => axum::Json(body).into_response(),
        Answer::Status(status, body) => (status, axum::Json(body)).into_response(),
        Answer::Text(text) => text.into_response(),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            axum::Json(json!([])).into_response()
        }
    }
}

/// Starts the stand-in on 127.0.0.1 and returns its URL and what it received.
async fn start(answer: Answer) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/pulls",
            get(commit_pulls),
        )
        .with_state(StandIn {
            answer,
            requests: requests.clone(),
        });
    (foldup_testkit::stand_in::serve(app).await, requests)
}

/// A push of `PUSHED` to `changes`, the branch of PR #2 of Codertocat/Hello-World.
fn feature_push_env(api_url: &str) -> Env {
    Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        (
            "GITHUB_EVENT_PATH",
            fixture("push.feature_branch.json").to_str().unwrap(),
        ),
        ("GITHUB_SHA", PUSHED),
        ("GITHUB_REF", "refs/heads/changes"),
        ("GITHUB_REF_NAME", "changes"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_BASE_REF", ""),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", api_url),
        ("GITHUB_RUN_ID", "9876543210"),
    ])
}

/// The plugin as the binary builds it when a GitHub token is configured.
fn plugin_with_token(timeout: Duration) -> GitHubActions {
    GitHubActions::new(GitHubSettings {
        token: Some(Secret::new(TOKEN)),
        timeout,
    })
}

async fn detect(env: &Env, github: &GitHubActions) -> CiContext {
    let ctx = github.detect(env, &DetectOptions::default()).await.unwrap();
    let everything = format!("{:?} {} {}", ctx, ctx.to_json(), ctx.to_human());
    assert!(
        !everything.contains(TOKEN),
        "the token leaked: {everything}"
    );
    ctx
}

/// PR #2 as GitHub describes it, its head moved to the pushed commit (as after that push).
fn pull_request_headed_by_push() -> Value {
    let mut pull_request = read_fixture("pull_request.synchronize.json")["pull_request"].clone();
    pull_request["head"]["sha"] = json!(PUSHED);
    pull_request
}

#[tokio::test]
async fn an_open_pull_request_for_the_pushed_commit_makes_it_a_pull_request_build() {
    let (url, requests) = start(Answer::Json(json!([pull_request_headed_by_push()]))).await;
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    let endpoint = format!("GitHub API /repos/Codertocat/Hello-World/commits/{PUSHED}/pulls");
    assert_eq!(
        ctx.to_json(),
        json!({
            "provider": "github-actions",
            "commit_sha": PUSHED,
            "run_type": "pull_request",
            "pr_number": 2,
            "branch": "changes",
            "base_branch": "master",
            "default_branch": "master",
            "repository": "Codertocat/Hello-World",
            "build_url": "https://github.com/Codertocat/Hello-World/actions/runs/9876543210",
            "sources": {
                "commit_sha": "GITHUB_SHA",
                "run_type": format!("{endpoint}: open pull request #2 has this commit as its head"),
                "pr_number": format!("{endpoint} number"),
                "branch": "GITHUB_REF",
                "base_branch": format!("{endpoint} base.ref"),
                "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                "repository": "GITHUB_REPOSITORY",
                "build_url": "GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID",
            }
        })
    );
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.path,
        format!("/repos/Codertocat/Hello-World/commits/{PUSHED}/pulls")
    );
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(header("accept"), "application/vnd.github+json");
    assert_eq!(header("x-github-api-version"), "2022-11-28");
    assert!(header("user-agent").starts_with("foldup/"));
}

#[tokio::test]
async fn a_pull_request_whose_head_moved_on_does_not_count() {
    // The real PR #2, whose head is another commit than the one pushed.
    let pull_request = read_fixture("pull_request.synchronize.json")["pull_request"].clone();
    let (url, requests) = start(Answer::Json(json!([pull_request]))).await;
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    assert_eq!(requests.lock().unwrap().len(), 1);
    let json = ctx.to_json();
    assert_eq!(json["run_type"], Value::Null);
    assert_eq!(json["pr_number"], Value::Null);
    assert!(json["sources"]["run_type"]
        .as_str()
        .unwrap()
        .ends_with(&format!("; GitHub API /repos/Codertocat/Hello-World/commits/{PUSHED}/pulls lists no open pull request with this commit as its head")));
    assert!(ctx.warnings.is_empty());
}

/// The answer from the environment, as without a token.
async fn env_answer(url: &str) -> Value {
    detect(&feature_push_env(url), &GitHubActions::default())
        .await
        .to_json()
}

#[tokio::test]
async fn a_rejected_token_is_a_warning_and_the_env_answer() {
    let (url, _) = start(Answer::Status(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
    ))
    .await;
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    assert_eq!(ctx.to_json(), env_answer(&url).await);
    assert_eq!(ctx.warnings.len(), 1);
    let warning = &ctx.warnings[0];
    assert!(
        warning.starts_with(
            "Could not ask GitHub for an open pull request of this commit: the GitHub API at "
        ),
        "{warning}"
    );
    assert!(
        warning.contains("answered 401: Bad credentials (GitHub rejected the token)"),
        "{warning}"
    );
    assert!(warning.ends_with("foldup kept the answer from the environment."));
}

#[tokio::test]
async fn a_token_echoed_by_the_server_is_redacted() {
    let (url, _) = start(Answer::Status(
        StatusCode::FORBIDDEN,
        json!({"message": format!("token {TOKEN} lacks the pull_requests scope")}),
    ))
    .await;
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    assert!(
        ctx.warnings[0].contains("answered 403: token *** lacks the pull_requests scope"),
        "{:?}",
        ctx.warnings
    );
}

#[tokio::test]
async fn a_slow_api_times_out_quickly() {
    let (url, _) = start(Answer::Slow(Duration::from_secs(30))).await;
    let started = Instant::now();
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_millis(300)),
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        ctx.warnings[0].contains("did not answer within 300 ms"),
        "{:?}",
        ctx.warnings
    );
    assert_eq!(ctx.to_json(), env_answer(&url).await);
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_a_warning() {
    let (url, _) = start(Answer::Text("<html>502 Bad Gateway</html>")).await;
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    assert!(
        ctx.warnings[0].contains("answered with something that is not a list of pull requests"),
        "{:?}",
        ctx.warnings
    );
    assert_eq!(ctx.to_json(), env_answer(&url).await);
}

#[tokio::test]
async fn an_unreachable_api_is_a_warning() {
    let url = foldup_testkit::stand_in::refused_url();
    let ctx = detect(
        &feature_push_env(&url),
        &plugin_with_token(Duration::from_secs(5)),
    )
    .await;
    assert!(
        ctx.warnings[0].contains("could not be reached"),
        "{:?}",
        ctx.warnings
    );
    assert_eq!(ctx.to_json(), env_answer(&url).await);
}

#[tokio::test]
async fn no_look_up_without_a_token_or_when_the_answer_is_already_known() {
    let (url, requests) = start(Answer::Json(json!([pull_request_headed_by_push()]))).await;
    let with_token = plugin_with_token(Duration::from_secs(5));

    // No token: the environment's answer, no request.
    let json = env_answer(&url).await;
    assert_eq!(json["run_type"], Value::Null);

    // A push to the production branch is production.
    let production = feature_push_env(&url).with("GITHUB_REF", "refs/heads/master");
    assert_eq!(
        detect(&production, &with_token).await.to_json()["run_type"],
        "production"
    );

    // A tag build has no branch to have a pull request.
    let tag = feature_push_env(&url).with("GITHUB_REF", "refs/tags/simple-tag");
    assert_eq!(
        detect(&tag, &with_token).await.to_json()["run_type"],
        Value::Null
    );

    // A pull_request run knows its pull request already.
    let pull_request = feature_push_env(&url)
        .with("GITHUB_EVENT_NAME", "pull_request")
        .with(
            "GITHUB_EVENT_PATH",
            fixture("pull_request.opened.json").to_str().unwrap(),
        )
        .with("GITHUB_REF", "refs/pull/2/merge");
    assert_eq!(
        detect(&pull_request, &with_token).await.to_json()["run_type"],
        "pull_request"
    );

    assert!(requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_token_never_goes_over_plain_http_to_another_machine() {
    // The stand-in serves as the snapshot's proxy: had foldup sent the request, it would have
    // arrived there (and answered with the pull request).
    let (proxy, requests) = start(Answer::Json(json!([pull_request_headed_by_push()]))).await;
    let api_url = "http://github.example.com/api/v3";
    let env = feature_push_env(api_url).with("HTTP_PROXY", &proxy);
    let ctx = detect(&env, &plugin_with_token(Duration::from_secs(5))).await;
    assert!(requests.lock().unwrap().is_empty(), "the token went out");
    assert_eq!(ctx.warnings.len(), 1, "{:?}", ctx.warnings);
    assert!(
        ctx.warnings[0]
            .contains("GITHUB_API_URL 'http://github.example.com/api/v3' is plain http://")
            && ctx.warnings[0].contains("https://"),
        "{:?}",
        ctx.warnings
    );
    assert_eq!(ctx.run_type.value, None, "the environment's answer stands");
}
