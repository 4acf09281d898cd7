//! The optional merge request look-up, against a GitLab stand-in on 127.0.0.1 that answers like
//! GitLab's REST API: `GET /api/v4/user` (which the `gitlab` crate calls to check the token) and
//! `GET /api/v4/projects/:id/merge_requests`, whose answers are shaped like GitLab's documented
//! "List project merge requests" response (tests/fixtures/).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use foldup_core::{CiContext, CiProvider, DetectOptions, Env, RunType, Secret};
use foldup_gitlab::{GitLabCi, GitLabSettings};
use serde_json::{json, Value};

const TOKEN: &str = "glpat-canary-7f3a9c2e41d0b8";
const PROJECT_ID: &str = "1217";
const PROJECT_PATH: &str = "acme/analytics/dbt-warehouse";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Answer,
    /// Every request is refused as GitLab refuses an expired or revoked token.
    Unauthorized,
    /// Requests are accepted and never answered.
    Hang,
}

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    query: HashMap<String, String>,
    token: Option<String>,
}

#[derive(Clone)]
struct Server {
    behaviour: Behaviour,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    fn record(&self, uri: &Uri, query: HashMap<String, String>, headers: &HeaderMap) {
        self.requests.lock().unwrap().push(Recorded {
            path: uri.path().to_owned(),
            query,
            token: headers
                .get("private-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }

    /// What GitLab answers before looking at the request itself.
    async fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        match self.behaviour {
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Unauthorized => Some(unauthorized()),
            Behaviour::Answer => {
                let token = headers.get("private-token").and_then(|v| v.to_str().ok());
                (token != Some(TOKEN)).then(unauthorized)
            }
        }
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "401 Unauthorized"})),
    )
        .into_response()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn current_user(State(server): State<Server>, uri: Uri, headers: HeaderMap) -> Response {
    server.record(&uri, HashMap::new(), &headers);
    if let Some(refusal) = server.gate(&headers).await {
        return refusal;
    }
    Json(fixture("current_user.json")).into_response()
}

async fn project_merge_requests(
    State(server): State<Server>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    server.record(&uri, query.clone(), &headers);
    if let Some(refusal) = server.gate(&headers).await {
        return refusal;
    }
    if project != PROJECT_ID && project != PROJECT_PATH {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "404 Project Not Found"})),
        )
            .into_response();
    }
    // Filter as GitLab does: by state and by source branch name (across forks).
    let listed: Vec<Value> = fixture("merge_requests_opened.json")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|mr| query.get("state").is_none_or(|s| mr["state"] == s.as_str()))
        .filter(|mr| {
            query
                .get("source_branch")
                .is_none_or(|b| mr["source_branch"] == b.as_str())
        })
        .collect();
    Json(Value::Array(listed)).into_response()
}

/// Starts the stand-in; returns its URL and the requests it will record.
async fn start(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let server = Server {
        behaviour,
        requests: Arc::default(),
    };
    let requests = server.requests.clone();
    let app = Router::new()
        .route("/api/v4/user", get(current_user))
        .route(
            "/api/v4/projects/{project}/merge_requests",
            get(project_merge_requests),
        )
        .with_state(server);
    (foldup_testkit::stand_in::serve(app).await, requests)
}

/// A push to feature/orders-model of acme/analytics/dbt-warehouse, with no merge request
/// variables, on the GitLab at `server_url`.
fn branch_pipeline(server_url: &str, branch: &str) -> Env {
    Env::from_pairs([
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_SERVER_URL", server_url),
        ("CI_API_V4_URL", &format!("{server_url}/api/v4")),
        ("CI_PROJECT_ID", PROJECT_ID),
        ("CI_PROJECT_PATH", PROJECT_PATH),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PIPELINE_SOURCE", "push"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/pipelines/880412",
        ),
        ("CI_COMMIT_BRANCH", branch),
        ("CI_COMMIT_REF_NAME", branch),
        ("CI_COMMIT_SHA", "9f2c1e07d4b8a3f5e6c7d8b9a0f1e2d3c4b5a697"),
    ])
}

/// The plugin as the binary builds it when a GitLab token is configured.
fn with_token(timeout: Duration) -> GitLabCi {
    GitLabCi::new(GitLabSettings {
        token: Some(Secret::new(TOKEN)),
        timeout,
    })
}

/// Everything foldup would show about a context, to check that the token shows nowhere.
fn everything_shown(context: &CiContext) -> String {
    format!(
        "{}\n{}\n{}",
        context.to_json(),
        context.to_human(),
        context.warnings.join("\n")
    )
}

#[tokio::test]
async fn finds_the_open_merge_request_of_a_branch_and_skips_a_forks_namesake() {
    let (url, requests) = start(Behaviour::Answer).await;
    let env = branch_pipeline(&url, "feature/orders-model");
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();

    // !63 is newer but comes from a fork's branch of the same name.
    assert_eq!(context.run_type.value, Some(RunType::PullRequest));
    assert_eq!(context.pr_number.value, Some(57));
    assert_eq!(context.base_branch.value.as_deref(), Some("develop"));
    assert_eq!(
        context.run_type.source.as_deref(),
        Some("GitLab API: branch 'feature/orders-model' is the source of open merge request !57")
    );
    assert_eq!(
        context.pr_number.source.as_deref(),
        Some("GitLab API: open merge request from 'feature/orders-model'")
    );
    assert_eq!(
        context.base_branch.source.as_deref(),
        Some("GitLab API: target branch of !57")
    );
    assert!(context.warnings.is_empty(), "{:?}", context.warnings);
    assert!(!everything_shown(&context).contains(TOKEN));

    let requests = requests.lock().unwrap().clone();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["/api/v4/user", "/api/v4/projects/1217/merge_requests"]
    );
    let listing = &requests[1];
    assert_eq!(
        listing.query.get("state").map(String::as_str),
        Some("opened")
    );
    assert_eq!(
        listing.query.get("source_branch").map(String::as_str),
        Some("feature/orders-model")
    );
    assert!(requests.iter().all(|r| r.token.as_deref() == Some(TOKEN)));
}

#[tokio::test]
async fn uses_the_project_path_when_there_is_no_project_id() {
    let (url, requests) = start(Behaviour::Answer).await;
    let env = branch_pipeline(&url, "feature/orders-model").with("CI_PROJECT_ID", "");
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    assert_eq!(context.pr_number.value, Some(57));
    let requests = requests.lock().unwrap().clone();
    assert_eq!(
        requests[1].path,
        "/api/v4/projects/acme%2Fanalytics%2Fdbt-warehouse/merge_requests"
    );
}

#[tokio::test]
async fn a_branch_without_merge_request_keeps_the_variables_answer_and_says_the_api_agreed() {
    let (url, _requests) = start(Behaviour::Answer).await;
    let env = branch_pipeline(&url, "spike/no-review-yet");
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    assert_eq!(context.run_type.value, None);
    assert_eq!(context.pr_number.value, None);
    let reason = context.run_type.source.unwrap_or_default();
    assert!(reason.contains("pass --run-type"), "{reason}");
    assert!(
        reason.contains("the GitLab API lists no open merge request from it either"),
        "{reason}"
    );
    assert!(context.warnings.is_empty(), "{:?}", context.warnings);
}

#[tokio::test]
async fn a_rejected_token_is_a_warning_without_the_token_and_the_variables_answer() {
    let (url, _requests) = start(Behaviour::Unauthorized).await;
    let env = branch_pipeline(&url, "feature/orders-model");
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    assert_eq!(context.run_type.value, None);
    assert_eq!(context.pr_number.value, None);
    assert_eq!(
        context.commit_sha.value.as_ref().map(|s| s.as_str()),
        Some("9f2c1e07d4b8a3f5e6c7d8b9a0f1e2d3c4b5a697")
    );
    assert_eq!(context.warnings.len(), 1, "{:?}", context.warnings);
    let warning = &context.warnings[0];
    assert!(
        warning.contains(&format!("GitLab at {url} rejected the token (HTTP 401)")),
        "{warning}"
    );
    assert!(warning.contains("read_api"), "{warning}");
    assert!(!everything_shown(&context).contains(TOKEN));
}

#[tokio::test]
async fn a_hanging_server_times_out_quickly_with_a_warning() {
    let (url, requests) = start(Behaviour::Hang).await;
    let env = branch_pipeline(&url, "feature/orders-model");
    let started = Instant::now();
    let context = with_token(Duration::from_millis(300))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(requests.lock().unwrap().len(), 1, "the request did arrive");
    assert_eq!(context.run_type.value, None);
    assert_eq!(context.warnings.len(), 1, "{:?}", context.warnings);
    assert!(
        context.warnings[0].contains(&format!("GitLab at {url} gave no answer within 300 ms")),
        "{}",
        context.warnings[0]
    );
    assert!(!everything_shown(&context).contains(TOKEN));
}

#[tokio::test]
async fn an_unreachable_server_is_a_warning() {
    let url = foldup_testkit::stand_in::refused_url();
    let context = with_token(Duration::from_secs(5))
        .detect(
            &branch_pipeline(&url, "feature/orders-model"),
            &DetectOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(context.warnings.len(), 1, "{:?}", context.warnings);
    assert!(
        context.warnings[0].contains(&format!("GitLab at {url} could not be reached")),
        "{}",
        context.warnings[0]
    );
    assert!(!everything_shown(&context).contains(TOKEN));
}

#[tokio::test]
async fn without_a_server_url_the_lookup_says_what_is_missing() {
    let env = branch_pipeline("http://127.0.0.1:9", "feature/orders-model")
        .with("CI_SERVER_URL", "")
        .with("CI_API_V4_URL", "");
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    assert_eq!(context.warnings.len(), 1);
    assert!(context.warnings[0].contains("neither CI_SERVER_URL nor CI_API_V4_URL is set"));
}

#[tokio::test]
async fn no_request_without_a_token_or_when_the_variables_already_know() {
    let (url, requests) = start(Behaviour::Answer).await;

    // No token: the variables' answer, no request.
    let context = GitLabCi::default()
        .detect(
            &branch_pipeline(&url, "feature/orders-model"),
            &DetectOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(context.run_type.value, None);

    // The production branch, an open merge request in the variables, a merge request pipeline:
    // nothing to ask.
    let gitlab = with_token(Duration::from_secs(5));
    let production = branch_pipeline(&url, "main");
    let open_mr = branch_pipeline(&url, "feature/orders-model")
        .with("CI_OPEN_MERGE_REQUESTS", "acme/analytics/dbt-warehouse!57");
    let merge_request_pipeline = branch_pipeline(&url, "feature/orders-model")
        .with("CI_COMMIT_BRANCH", "")
        .with("CI_PIPELINE_SOURCE", "merge_request_event")
        .with("CI_MERGE_REQUEST_IID", "57")
        .with("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "develop");
    for env in [production, open_mr, merge_request_pipeline] {
        let context = gitlab
            .detect(&env, &DetectOptions::default())
            .await
            .unwrap();
        assert!(context.run_type.value.is_some());
        assert!(context.warnings.is_empty(), "{:?}", context.warnings);
    }
    assert!(requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_lookup_function_is_usable_on_its_own() {
    let (url, _requests) = start(Behaviour::Answer).await;
    let server = foldup_gitlab::GitLabServer::parse(&url).unwrap();
    let found = foldup_gitlab::find_open_merge_requests(
        &server,
        &Secret::new(TOKEN),
        PROJECT_PATH,
        "feature/customers-snapshot",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].iid, 52);
    assert_eq!(found[0].target_branch, "main");

    let error = foldup_gitlab::find_open_merge_requests(
        &server,
        &Secret::new(TOKEN),
        "acme/other-project",
        "feature/orders-model",
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not show project 'acme/other-project'"),
        "{error}"
    );
}

#[tokio::test]
async fn the_token_never_goes_over_plain_http_to_another_machine() {
    // The stand-in serves as the snapshot's proxy: had foldup asked, the request (and the token)
    // would have arrived there.
    let (proxy, requests) = start(Behaviour::Answer).await;
    let env = branch_pipeline("http://gitlab.example.com", "feature/orders-model")
        .with("HTTP_PROXY", &proxy);
    let context = with_token(Duration::from_secs(5))
        .detect(&env, &DetectOptions::default())
        .await
        .unwrap();
    assert!(requests.lock().unwrap().is_empty(), "the token went out");
    assert_eq!(context.run_type.value, None, "the variables' answer stands");
    assert_eq!(context.warnings.len(), 1, "{:?}", context.warnings);
    assert!(
        context.warnings[0].contains("GitLab at http://gitlab.example.com is plain http://")
            && context.warnings[0].contains("https://"),
        "{}",
        context.warnings[0]
    );
}
