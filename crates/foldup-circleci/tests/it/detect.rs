//! CircleCI detection from variables as CircleCI documents and sets them
//! (<https://circleci.com/docs/reference/variables/>), and the optional API v2 look-ups against a
//! local server answering with bodies shaped like CircleCI's documented schemas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use foldup_circleci::{CircleCi, CircleCiSettings};
use foldup_core::{CiContext, CiProvider, DetectOptions, Env, Secret};
use serde_json::{json, Value};

const SHA: &str = "4c884f7adccb828d0881882854ec69eda602a6e7";
const TOKEN: &str = "CCIPAT_canary7Yc2kLq9_0123456789abcdef0123456789abcdef01234567";
const PIPELINE_ID: &str = "5034460f-c7c4-4c43-9457-de07e2029e7b";

/// A job of a GitHub OAuth project, as CircleCI sets it on every build (values from a real job's
/// `env` dump, renamed).
fn github_oauth_job(branch: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CI", "true".into()),
        ("CIRCLECI", "true".into()),
        ("CIRCLE_BRANCH", branch.into()),
        ("CIRCLE_BUILD_NUM", "62".into()),
        (
            "CIRCLE_BUILD_URL",
            "https://circleci.com/gh/acme/warehouse/62".into(),
        ),
        ("CIRCLE_JOB", "dbt-build".into()),
        ("CIRCLE_NODE_INDEX", "0".into()),
        ("CIRCLE_NODE_TOTAL", "1".into()),
        (
            "CIRCLE_ORGANIZATION_ID",
            "ec6887ec-7d44-4b31-b468-7e552408ee32".into(),
        ),
        ("CIRCLE_PIPELINE_ID", PIPELINE_ID.into()),
        (
            "CIRCLE_PROJECT_ID",
            "84996744-a854-4f5e-aea3-04e2851dc1d2".into(),
        ),
        ("CIRCLE_PROJECT_REPONAME", "warehouse".into()),
        ("CIRCLE_PROJECT_USERNAME", "acme".into()),
        (
            "CIRCLE_REPOSITORY_URL",
            "git@github.com:acme/warehouse.git".into(),
        ),
        ("CIRCLE_SHA1", SHA.into()),
        ("CIRCLE_USERNAME", "octocat".into()),
        (
            "CIRCLE_WORKFLOW_ID",
            "467058ba-1816-43a8-8bd5-3138d91ffe58".into(),
        ),
        ("CIRCLE_WORKING_DIRECTORY", "~/project".into()),
    ]
}

/// A job of a GitHub App project: no `CIRCLE_REPOSITORY_URL`, no `CIRCLE_PULL_REQUESTS`, no
/// `CIRCLE_PR_*` (CircleCI documents those for GitHub OAuth and Bitbucket Cloud only).
fn github_app_job(branch: &str) -> Vec<(&'static str, String)> {
    let mut vars = github_oauth_job(branch);
    vars.retain(|(k, _)| *k != "CIRCLE_REPOSITORY_URL");
    for (k, v) in &mut vars {
        if *k == "CIRCLE_BUILD_URL" {
            *v = "https://app.circleci.com/pipelines/circleci/9z8PamRuKaKWrW91o7Kqvn/AHWysFUuUfBgs6VeUqm6tg/5/workflows/c5aa9edf-4de9-43fd-b50e-2bfd75e32cb1/jobs/12".into();
        }
    }
    vars
}

fn with(mut vars: Vec<(&'static str, String)>, extra: &[(&'static str, &str)]) -> Env {
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, (*v).to_owned()));
    }
    Env::from_pairs(vars)
}

fn without(mut vars: Vec<(&'static str, String)>, names: &[&str]) -> Vec<(&'static str, String)> {
    vars.retain(|(k, _)| !names.contains(k));
    vars
}

async fn detect(env: &Env, options: &DetectOptions) -> CiContext {
    let circleci = CircleCi::default();
    assert!(circleci.is_active(env));
    circleci.detect(env, options).await.expect("detect")
}

/// Detection by the plugin built with `settings` (a token, the API address), as the binary builds it.
async fn detect_with(env: &Env, settings: &CircleCiSettings) -> CiContext {
    let circleci = CircleCi::new(settings.clone());
    assert!(circleci.is_active(env));
    circleci
        .detect(env, &DetectOptions::default())
        .await
        .expect("detect")
}

fn field(ctx: &CiContext, name: &str) -> (Value, Value) {
    let json = ctx.to_json();
    (json[name].clone(), json["sources"][name].clone())
}

#[test]
fn active_only_when_circleci_says_so() {
    assert_eq!(CircleCi::default().name(), "circleci");
    assert!(CircleCi::default().is_active(&Env::from_pairs([("CIRCLECI", "true")])));
    assert!(!CircleCi::default().is_active(&Env::from_pairs([("CIRCLECI", "")])));
    assert!(!CircleCi::default().is_active(&Env::from_pairs([("GITHUB_ACTIONS", "true")])));
}

#[tokio::test]
async fn pull_request_from_a_github_url() {
    let url = "https://github.com/acme/warehouse/pull/7";
    let env = with(
        github_oauth_job("feature/orders"),
        &[("CIRCLE_PULL_REQUEST", url), ("CIRCLE_PULL_REQUESTS", url)],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    let json = ctx.to_json();
    assert_eq!(
        json,
        json!({
            "provider": "circleci",
            "commit_sha": SHA,
            "run_type": "pull_request",
            "pr_number": 7,
            "branch": "feature/orders",
            "base_branch": null,
            "default_branch": null,
            "repository": "acme/warehouse",
            "build_url": "https://circleci.com/gh/acme/warehouse/62",
            "sources": {
                "commit_sha": "CIRCLE_SHA1",
                "run_type": "pull request #7 (last path segment of CIRCLE_PULL_REQUEST)",
                "pr_number": "last path segment of CIRCLE_PULL_REQUEST",
                "branch": "CIRCLE_BRANCH",
                "base_branch": "CircleCI does not expose the pull request's target branch",
                "default_branch": "CircleCI has no default-branch variable; set CIRCLE_TOKEN to let foldup ask CircleCI's API, or set production_branch",
                "repository": "CIRCLE_PROJECT_USERNAME/CIRCLE_PROJECT_REPONAME",
                "build_url": "CIRCLE_BUILD_URL",
            }
        })
    );
    assert!(!ctx.is_fork());
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

#[tokio::test]
async fn pull_request_from_a_bitbucket_url_with_a_trailing_slash() {
    let mut vars = github_oauth_job("feature/orders");
    vars.retain(|(k, _)| *k != "CIRCLE_REPOSITORY_URL");
    let env = with(
        vars,
        &[
            (
                "CIRCLE_REPOSITORY_URL",
                "git@bitbucket.org:acme/warehouse.git",
            ),
            (
                "CIRCLE_PULL_REQUEST",
                "https://bitbucket.org/acme/warehouse/pull-requests/118/",
            ),
        ],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(
        field(&ctx, "pr_number"),
        (
            json!(118),
            json!("last path segment of CIRCLE_PULL_REQUEST")
        )
    );
    assert_eq!(ctx.to_json()["run_type"], "pull_request");
}

#[tokio::test]
async fn first_of_several_pull_requests_when_the_single_one_is_missing() {
    let env = with(
        github_oauth_job("feature/orders"),
        &[(
            "CIRCLE_PULL_REQUESTS",
            "https://github.com/acme/warehouse/pull/31,https://github.com/acme/warehouse/pull/29",
        )],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(
        field(&ctx, "pr_number"),
        (
            json!(31),
            json!("last path segment of the first URL in CIRCLE_PULL_REQUESTS")
        )
    );
}

#[tokio::test]
async fn fork_pull_request() {
    // CircleCI builds a fork PR on a branch named pull/N and sets the CIRCLE_PR_* variables.
    let env = with(
        github_oauth_job("pull/12"),
        &[
            ("CIRCLE_PR_NUMBER", "12"),
            ("CIRCLE_PR_USERNAME", "alice"),
            ("CIRCLE_PR_REPONAME", "warehouse"),
            (
                "CIRCLE_PULL_REQUEST",
                "https://github.com/acme/warehouse/pull/12",
            ),
            (
                "CIRCLE_PULL_REQUESTS",
                "https://github.com/acme/warehouse/pull/12",
            ),
        ],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(
        field(&ctx, "pr_number"),
        (json!(12), json!("CIRCLE_PR_NUMBER"))
    );
    assert_eq!(ctx.to_json()["run_type"], "pull_request");
    assert!(ctx.is_fork());
    assert_eq!(
        ctx.fork.source.as_deref(),
        Some("CIRCLE_PR_USERNAME/CIRCLE_PR_REPONAME (alice/warehouse)")
    );
    let (branch, why) = field(&ctx, "branch");
    assert_eq!(branch, Value::Null);
    assert!(why.as_str().unwrap().contains("'pull/12'"), "{why}");
    assert_eq!(ctx.to_json()["repository"], "acme/warehouse");
}

#[tokio::test]
async fn default_branch_push_without_a_token_falls_back_to_main_or_master() {
    for branch in ["main", "master"] {
        let ctx = detect(
            &with(github_oauth_job(branch), &[]),
            &DetectOptions::default(),
        )
        .await;
        assert_eq!(
            field(&ctx, "run_type"),
            (
                json!("production"),
                json!(format!(
                    "CIRCLE_BRANCH '{branch}' is the production branch: 'main' or 'master' (no default branch known)"
                ))
            )
        );
        assert_eq!(ctx.to_json()["pr_number"], Value::Null);
        assert_eq!(ctx.to_json()["default_branch"], Value::Null);
    }
}

#[tokio::test]
async fn configured_production_branch_beats_the_fallback() {
    let options = DetectOptions {
        production_branch: Some("release".into()),
        ..DetectOptions::default()
    };
    let ctx = detect(&with(github_oauth_job("release"), &[]), &options).await;
    assert_eq!(ctx.to_json()["run_type"], "production");
    let ctx = detect(&with(github_oauth_job("main"), &[]), &options).await;
    assert_eq!(ctx.to_json()["run_type"], Value::Null);
}

#[tokio::test]
async fn branch_without_pull_request_has_no_run_type_and_says_why() {
    let ctx = detect(
        &with(github_oauth_job("feature/orders"), &[]),
        &DetectOptions::default(),
    )
    .await;
    let (run_type, why) = field(&ctx, "run_type");
    assert_eq!(run_type, Value::Null);
    assert_eq!(
        why,
        "branch 'feature/orders' has no pull request (CIRCLE_PULL_REQUEST is not set) and is not the production branch ('main' or 'master' (no default branch known)); pass --run-type"
    );
    assert_eq!(field(&ctx, "branch").0, "feature/orders");
}

#[tokio::test]
async fn tag_build() {
    let env = with(
        without(github_oauth_job("unused"), &["CIRCLE_BRANCH"]),
        &[("CIRCLE_TAG", "v1.4.0")],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(
        field(&ctx, "branch"),
        (Value::Null, json!("tag build (CIRCLE_TAG=v1.4.0)"))
    );
    let (run_type, why) = field(&ctx, "run_type");
    assert_eq!(run_type, Value::Null);
    assert!(why.as_str().unwrap().contains("pass --run-type"), "{why}");
    assert_eq!(field(&ctx, "commit_sha").0, SHA);
}

#[tokio::test]
async fn bad_pull_request_values_are_warnings_not_panics() {
    let env = with(
        github_oauth_job("feature/orders"),
        &[
            ("CIRCLE_PR_NUMBER", "twelve"),
            (
                "CIRCLE_PULL_REQUEST",
                "https://github.com/acme/warehouse/pulls",
            ),
            ("CIRCLE_SHA1", "4c884f7"),
        ],
    );
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(ctx.to_json()["pr_number"], Value::Null);
    assert_eq!(ctx.to_json()["commit_sha"], Value::Null);
    let warnings = ctx.warnings.join("\n");
    assert!(
        warnings.contains("CIRCLE_PR_NUMBER 'twelve' is not a pull request number"),
        "{warnings}"
    );
    assert!(warnings.contains("CIRCLE_PULL_REQUEST 'https://github.com/acme/warehouse/pulls' does not end in a pull request number"), "{warnings}");
    assert!(warnings.contains("7 hex digits"), "{warnings}");
}

#[tokio::test]
async fn nil_from_an_empty_pipeline_value_reads_as_unset() {
    // GitHub App users recreate CIRCLE_PULL_REQUEST from << pipeline.event.context.github.pr_url >>,
    // which CircleCI renders as <nil> on a push.
    let env = with(github_app_job("main"), &[("CIRCLE_PULL_REQUEST", "<nil>")]);
    let ctx = detect(&env, &DetectOptions::default()).await;
    assert_eq!(ctx.to_json()["run_type"], "production");
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

// ---- CircleCI API v2 against a local server ------------------------------------------------

#[derive(Clone)]
struct Canned {
    status: StatusCode,
    body: String,
    delay: Duration,
}

fn ok(body: Value) -> Canned {
    Canned {
        status: StatusCode::OK,
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

/// A request the server saw: its path and its `Circle-Token` header.
type Seen = (String, Option<String>);

#[derive(Clone, Default)]
struct FakeCircleCi {
    routes: Arc<HashMap<String, Canned>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(
    State(fake): State<FakeCircleCi>,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    let token = headers
        .get("circle-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.seen
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), token));
    let canned = fake.routes.get(uri.path()).cloned().unwrap_or(Canned {
        status: StatusCode::NOT_FOUND,
        body: r#"{"message":"Not found."}"#.into(),
        delay: Duration::ZERO,
    });
    tokio::time::sleep(canned.delay).await;
    (
        canned.status,
        [("content-type", "application/json;charset=utf-8")],
        canned.body,
    )
}

/// Starts the server; returns its base URL and the log of (path, Circle-Token) it saw.
async fn serve(routes: Vec<(String, Canned)>) -> (String, FakeCircleCi) {
    let fake = FakeCircleCi {
        routes: Arc::new(routes.into_iter().collect()),
        seen: Arc::default(),
    };
    let app = Router::new().fallback(answer).with_state(fake.clone());
    (foldup_testkit::stand_in::serve(app).await, fake)
}

fn options(api_url: &str, timeout: Duration) -> CircleCiSettings {
    CircleCiSettings::new(Some(Secret::new(TOKEN)), api_url, timeout)
}

/// getProjectBySlug's documented shape.
fn project_body(slug: &str, default_branch: &str, provider: &str, vcs_url: &str) -> Value {
    json!({
        "slug": slug,
        "name": "warehouse",
        "id": "84996744-a854-4f5e-aea3-04e2851dc1d2",
        "organization_name": "acme",
        "organization_slug": slug.rsplit_once('/').map(|(org, _)| org).unwrap_or(slug),
        "organization_id": "ec6887ec-7d44-4b31-b468-7e552408ee32",
        "vcs_info": {
            "vcs_url": vcs_url,
            "provider": provider,
            "default_branch": default_branch
        }
    })
}

/// getPipelineById's documented shape for a GitHub OAuth push pipeline.
fn oauth_push_pipeline(branch: &str) -> Value {
    json!({
        "id": PIPELINE_ID,
        "errors": [],
        "project_slug": "gh/acme/warehouse",
        "updated_at": "2024-05-01T10:12:03.471Z",
        "number": 130,
        "state": "created",
        "created_at": "2024-05-01T10:12:01.544Z",
        "trigger": {
            "type": "webhook",
            "received_at": "2024-05-01T10:12:01.309Z",
            "actor": {"login": "octocat", "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4"}
        },
        "vcs": {
            "provider_name": "GitHub",
            "origin_repository_url": "https://github.com/acme/warehouse",
            "target_repository_url": "https://github.com/acme/warehouse",
            "revision": SHA,
            "branch": branch,
            "commit": {"subject": "Add orders model", "body": ""}
        }
    })
}

const APP_SLUG: &str = "circleci/9z8PamRuKaKWrW91o7Kqvn/AHWysFUuUfBgs6VeUqm6tg";

/// getPipelineById for a GitHub App pipeline: trigger_parameters as CircleCI fills them for
/// GitHub App triggers (circleci, git, github_app maps), plus the documented review fields.
fn github_app_pipeline(review: Option<(&str, &str)>, default_branch: Option<&str>) -> Value {
    let mut git = json!({
        "tag": "",
        "checkout_sha": SHA,
        "ref": "refs/heads/feature/orders",
        "branch": "feature/orders",
        "checkout_url": "https://github.com/acme/warehouse.git",
        "repo_owner": "acme",
        "repo_name": "warehouse"
    });
    if let Some(branch) = default_branch {
        git["default_branch"] = json!(branch);
    }
    let mut vcs = json!({
        "provider_name": "github_app",
        "origin_repository_url": "https://github.com/acme/warehouse",
        "target_repository_url": "https://github.com/acme/warehouse",
        "revision": SHA,
        "branch": "feature/orders",
        "commit": {"subject": "Add orders model", "body": null}
    });
    if let Some((id, url)) = review {
        vcs["review_id"] = json!(id);
        vcs["review_url"] = json!(url);
    }
    json!({
        "id": PIPELINE_ID,
        "errors": [],
        "project_slug": APP_SLUG,
        "updated_at": "2024-12-18T17:23:31.101Z",
        "number": 5,
        "state": "created",
        "created_at": "2024-12-18T17:23:29.629Z",
        "trigger": {
            "type": "webhook",
            "received_at": "2024-12-18T17:23:29.361Z",
            "actor": {"login": "octocat", "avatar_url": null}
        },
        "trigger_parameters": {
            "circleci": {
                "event_time": "2024-12-18 17:23:29.361740256 +0000 UTC",
                "actor_id": "864c50f3-d0b6-4929-a524-036d3cd4e23f",
                "event_type": "pull_request",
                "trigger_type": "github_app"
            },
            "git": git,
            "github_app": {
                "branch": "feature/orders",
                "commit_sha": SHA,
                "ref": "feature/orders",
                "full_ref": "refs/heads/feature/orders",
                "repo_name": "warehouse",
                "repo_url": "https://github.com/acme/warehouse",
                "forced": "false"
            }
        },
        "vcs": vcs
    })
}

fn assert_no_token(ctx: &CiContext) {
    let everything = format!("{:?} {}", ctx.warnings, ctx.to_json());
    assert!(!everything.contains(TOKEN), "token leaked: {everything}");
    assert!(
        !everything.contains("canary7Yc2kLq9"),
        "token leaked: {everything}"
    );
}

#[tokio::test]
async fn default_branch_push_with_the_project_api_saying_main() {
    let (url, fake) = serve(vec![
        (
            "/api/v2/project/gh/acme/warehouse".into(),
            ok(project_body(
                "gh/acme/warehouse",
                "main",
                "GitHub",
                "https://github.com/acme/warehouse",
            )),
        ),
        (
            format!("/api/v2/pipeline/{PIPELINE_ID}"),
            ok(oauth_push_pipeline("main")),
        ),
    ])
    .await;
    let ctx = detect_with(
        &with(github_oauth_job("main"), &[]),
        &options(&url, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(
        field(&ctx, "default_branch"),
        (
            json!("main"),
            json!("CircleCI API project gh/acme/warehouse vcs_info.default_branch")
        )
    );
    assert_eq!(
        field(&ctx, "run_type"),
        (
            json!("production"),
            json!("CIRCLE_BRANCH 'main' is the production branch: 'main' from default branch (CircleCI API project gh/acme/warehouse vcs_info.default_branch)")
        )
    );
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    assert!(!ctx.is_fork());
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&(
            "/api/v2/project/gh/acme/warehouse".into(),
            Some(TOKEN.into())
        )),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(
            format!("/api/v2/pipeline/{PIPELINE_ID}"),
            Some(TOKEN.into())
        )),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_default_branch_named_develop_makes_main_not_production() {
    let (url, _fake) = serve(vec![(
        "/api/v2/project/bb/acme/warehouse".into(),
        ok(project_body(
            "bb/acme/warehouse",
            "develop",
            "Bitbucket",
            "https://bitbucket.org/acme/warehouse",
        )),
    )])
    .await;
    let bitbucket = |branch: &str| {
        let mut vars = github_oauth_job(branch);
        vars.retain(|(k, _)| *k != "CIRCLE_REPOSITORY_URL" && *k != "CIRCLE_PIPELINE_ID");
        with(
            vars,
            &[(
                "CIRCLE_REPOSITORY_URL",
                "git@bitbucket.org:acme/warehouse.git",
            )],
        )
    };
    let opts = options(&url, Duration::from_secs(5));
    let ctx = detect_with(&bitbucket("develop"), &opts).await;
    assert_eq!(ctx.to_json()["run_type"], "production");
    assert_eq!(ctx.to_json()["default_branch"], "develop");
    let ctx = detect_with(&bitbucket("main"), &opts).await;
    assert_eq!(ctx.to_json()["run_type"], Value::Null);
    let why = field(&ctx, "run_type").1;
    assert!(
        why.as_str()
            .unwrap()
            .contains("'develop' from default branch"),
        "{why}"
    );
}

#[tokio::test]
async fn github_app_pull_request_found_through_the_pipeline() {
    let (url, fake) = serve(vec![(
        format!("/api/v2/pipeline/{PIPELINE_ID}"),
        ok(github_app_pipeline(
            Some(("57", "https://github.com/acme/warehouse/pull/57")),
            Some("main"),
        )),
    )])
    .await;
    let ctx = detect_with(
        &with(github_app_job("feature/orders"), &[]),
        &options(&url, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(
        field(&ctx, "pr_number"),
        (json!(57), json!("CircleCI API pipeline vcs.review_id"))
    );
    assert_eq!(
        field(&ctx, "run_type"),
        (
            json!("pull_request"),
            json!("pull request #57 (CircleCI API pipeline vcs.review_id)")
        )
    );
    assert_eq!(
        field(&ctx, "default_branch"),
        (
            json!("main"),
            json!("CircleCI API pipeline trigger_parameters.git.default_branch")
        )
    );
    assert_eq!(ctx.to_json()["branch"], "feature/orders");
    assert!(!ctx.is_fork());
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    // The pipeline named the default branch, so the project was not asked.
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            format!("/api/v2/pipeline/{PIPELINE_ID}"),
            Some(TOKEN.into())
        )]
    );
}

#[tokio::test]
async fn github_app_push_reads_the_default_branch_from_the_project_the_pipeline_names() {
    let (url, fake) = serve(vec![
        (
            format!("/api/v2/pipeline/{PIPELINE_ID}"),
            ok(github_app_pipeline(None, None)),
        ),
        (
            format!("/api/v2/project/{APP_SLUG}"),
            ok(project_body(
                APP_SLUG,
                "trunk",
                "CircleCI",
                "https://github.com/acme/warehouse",
            )),
        ),
    ])
    .await;
    let ctx = detect_with(
        &with(github_app_job("trunk"), &[]),
        &options(&url, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(ctx.to_json()["pr_number"], Value::Null);
    assert_eq!(
        field(&ctx, "default_branch"),
        (
            json!("trunk"),
            json!(format!(
                "CircleCI API project {APP_SLUG} vcs_info.default_branch"
            ))
        )
    );
    assert_eq!(ctx.to_json()["run_type"], "production");
    let paths: Vec<String> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        paths,
        vec![
            format!("/api/v2/pipeline/{PIPELINE_ID}"),
            format!("/api/v2/project/{APP_SLUG}")
        ]
    );
}

#[tokio::test]
async fn fork_seen_by_the_pipeline_api() {
    let mut pipeline = github_app_pipeline(
        Some(("58", "https://github.com/acme/warehouse/pull/58")),
        Some("main"),
    );
    pipeline["vcs"]["origin_repository_url"] = json!("https://github.com/alice/warehouse");
    let (url, _fake) = serve(vec![(
        format!("/api/v2/pipeline/{PIPELINE_ID}"),
        ok(pipeline),
    )])
    .await;
    let ctx = detect_with(
        &with(github_app_job("feature/orders"), &[]),
        &options(&url, Duration::from_secs(5)),
    )
    .await;
    assert!(ctx.is_fork());
    assert_eq!(ctx.to_json()["pr_number"], 58);
}

/// Every failure is one warning, no token, and the variables' answer (main falls back to
/// production).
async fn failing_lookup(canned: Canned, timeout: Duration) -> CiContext {
    let (url, _fake) = serve(vec![
        ("/api/v2/project/gh/acme/warehouse".into(), canned.clone()),
        (format!("/api/v2/pipeline/{PIPELINE_ID}"), canned),
    ])
    .await;
    let ctx = detect_with(
        &with(github_oauth_job("main"), &[]),
        &options(&url, timeout),
    )
    .await;
    assert_eq!(ctx.to_json()["default_branch"], Value::Null);
    assert_eq!(ctx.to_json()["run_type"], "production");
    assert_eq!(ctx.to_json()["commit_sha"], SHA);
    assert!(!ctx.warnings.is_empty());
    assert_no_token(&ctx);
    ctx
}

#[tokio::test]
async fn rejected_token() {
    // CircleCI's answer to a bad token; this one even echoes the token, which must not reach a log.
    let ctx = failing_lookup(
        Canned {
            status: StatusCode::UNAUTHORIZED,
            body: format!(r#"{{"message" : "You must log in first. ({TOKEN})"}}"#),
            delay: Duration::ZERO,
        },
        Duration::from_secs(5),
    )
    .await;
    let warnings = ctx.warnings.join("\n");
    assert!(warnings.contains("CircleCI rejected the token while reading project gh/acme/warehouse (HTTP 401: You must log in first. (***))"), "{warnings}");
    assert!(warnings.contains("check CIRCLE_TOKEN"), "{warnings}");
}

#[tokio::test]
async fn unknown_project() {
    let ctx = failing_lookup(
        Canned {
            status: StatusCode::NOT_FOUND,
            body: r#"{"message":"Project not found"}"#.into(),
            delay: Duration::ZERO,
        },
        Duration::from_secs(5),
    )
    .await;
    let warnings = ctx.warnings.join("\n");
    assert!(warnings.contains("CircleCI has no project gh/acme/warehouse that this token can see (HTTP 404: Project not found)"), "{warnings}");
}

#[tokio::test]
async fn malformed_json() {
    let ctx = failing_lookup(
        Canned {
            status: StatusCode::OK,
            body: r#"{"slug": "gh/acme/warehouse", "vcs_info": {"default_branch": "#.into(),
            delay: Duration::ZERO,
        },
        Duration::from_secs(5),
    )
    .await;
    let warnings = ctx.warnings.join("\n");
    assert!(
        warnings
            .contains("CircleCI's answer for project gh/acme/warehouse is not the documented JSON"),
        "{warnings}"
    );
}

#[tokio::test]
async fn slow_server_times_out_within_the_budget() {
    let started = Instant::now();
    let ctx = failing_lookup(
        Canned {
            status: StatusCode::OK,
            body: project_body(
                "gh/acme/warehouse",
                "main",
                "GitHub",
                "https://github.com/acme/warehouse",
            )
            .to_string(),
            delay: Duration::from_secs(10),
        },
        Duration::from_millis(300),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let warnings = ctx.warnings.join("\n");
    assert!(
        warnings.contains("CircleCI did not answer for project gh/acme/warehouse within 0.3s"),
        "{warnings}"
    );
}

#[tokio::test]
async fn unreachable_server() {
    let ctx = detect_with(
        &with(github_oauth_job("main"), &[]),
        &options(
            &foldup_testkit::stand_in::refused_url(),
            Duration::from_secs(5),
        ),
    )
    .await;
    let warnings = ctx.warnings.join("\n");
    assert!(
        warnings.contains("could not reach CircleCI for project gh/acme/warehouse"),
        "{warnings}"
    );
    assert_eq!(ctx.to_json()["run_type"], "production");
    assert_no_token(&ctx);
}

#[tokio::test]
async fn no_lookup_without_a_token() {
    let (url, fake) = serve(vec![]).await;
    let mut opts = options(&url, Duration::from_secs(5));
    opts.token = None;
    detect_with(&with(github_oauth_job("main"), &[]), &opts).await;
    assert!(fake.seen.lock().unwrap().is_empty());
}

/// The job kinds foldup reads without a token, each as one committed snapshot (`snapshots/`) of
/// the whole context: each field, its source, the fork flag and the warnings, so that a change to
/// a rule shows in review.
#[tokio::test]
async fn the_detection_table() {
    let github_pr = "https://github.com/acme/warehouse/pull/7";
    let fork_pr = "https://github.com/acme/warehouse/pull/12";
    let cases = [
        (
            "pull_request_from_a_github_url",
            with(
                github_oauth_job("feature/orders"),
                &[
                    ("CIRCLE_PULL_REQUEST", github_pr),
                    ("CIRCLE_PULL_REQUESTS", github_pr),
                ],
            ),
        ),
        (
            "pull_request_from_a_bitbucket_url",
            with(
                github_oauth_job("feature/orders"),
                &[
                    (
                        "CIRCLE_REPOSITORY_URL",
                        "git@bitbucket.org:acme/warehouse.git",
                    ),
                    (
                        "CIRCLE_PULL_REQUEST",
                        "https://bitbucket.org/acme/warehouse/pull-requests/118/",
                    ),
                ],
            ),
        ),
        (
            "fork_pull_request",
            with(
                github_oauth_job("pull/12"),
                &[
                    ("CIRCLE_PR_NUMBER", "12"),
                    ("CIRCLE_PR_USERNAME", "alice"),
                    ("CIRCLE_PR_REPONAME", "warehouse"),
                    ("CIRCLE_PULL_REQUEST", fork_pr),
                    ("CIRCLE_PULL_REQUESTS", fork_pr),
                ],
            ),
        ),
        (
            "push_to_main_without_a_token",
            with(github_oauth_job("main"), &[]),
        ),
        (
            "push_to_a_feature_branch",
            with(github_oauth_job("feature/orders"), &[]),
        ),
        (
            "tag_build",
            with(
                without(github_oauth_job("unused"), &["CIRCLE_BRANCH"]),
                &[("CIRCLE_TAG", "v1.4.0")],
            ),
        ),
        (
            "github_app_push_without_a_token",
            with(github_app_job("main"), &[]),
        ),
    ];
    for (name, env) in cases {
        let ctx = detect(&env, &DetectOptions::default()).await;
        insta::assert_json_snapshot!(name, foldup_testkit::detection::detection_record(&ctx));
    }
}
