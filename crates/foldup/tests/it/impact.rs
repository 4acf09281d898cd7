//! `foldup impact` end to end through the built binary: the base from `--state` or `DBT_STATE`,
//! JSON as PRODUCT.md gives it, Markdown on stdout and in GitHub's job summary, and the plain
//! sentence and exit code for a missing base or a hostile manifest.
//!
//! Which resources count as modified is crate foldup-impact's oracle test (dbt itself decides);
//! here the base is the bundled example's manifest with one model's SQL changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

/// A project whose target holds the example's manifest (the PR), and a base folder holding the
/// same manifest with `model.shop.stg_orders`'s SQL different.
fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_target(), &dir.path().join("target"));
    let base = dir.path().join("prod");
    fs::create_dir_all(&base).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(example_target().join("manifest.json")).unwrap()).unwrap();
    manifest["nodes"]["model.shop.stg_orders"]["raw_code"] = "select 1 as order_id".into();
    fs::write(
        base.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    (dir, base)
}

fn foldup(dir: &Path) -> Foldup {
    Foldup::new(dir).deadline(Duration::from_secs(60))
}

#[test]
fn json_names_the_modified_model_its_reason_and_what_sits_downstream() {
    let (dir, base) = project();
    let run = foldup(dir.path())
        .args(["impact", "--format", "json", "--state"])
        .args([base.to_str().unwrap()])
        .run()
        .expect_code(0);
    let report = run.json();
    assert_eq!(
        report["base"]["source"],
        format!("--state {}", base.display())
    );
    assert!(report["base"]["commit_sha"].is_null());
    assert_eq!(
        report["modified"],
        serde_json::json!([{"unique_id": "model.shop.stg_orders", "resource_type": "model", "reasons": ["body"]}])
    );
    let impacted = report["impacted"].as_array().unwrap();
    // Downstream as the PR's child_map has it: orders reads stg_orders, customers reads orders.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(example_target().join("manifest.json")).unwrap()).unwrap();
    let mut expected = std::collections::BTreeSet::new();
    let mut queue = vec!["model.shop.stg_orders".to_owned()];
    while let Some(id) = queue.pop() {
        for child in manifest["child_map"][&id].as_array().unwrap() {
            let child = child.as_str().unwrap().to_owned();
            if expected.insert(child.clone()) {
                queue.push(child);
            }
        }
    }
    let got: std::collections::BTreeSet<String> = impacted
        .iter()
        .map(|i| i["unique_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected);
    for i in impacted {
        assert_eq!(i["via"], "model.shop.stg_orders");
        assert!(i["resource_type"].is_string());
    }
    assert!(
        got.contains("model.shop.customers")
            && got.contains("exposure.shop.weekly_revenue_dashboard")
    );
    assert_eq!(report["removed"], serde_json::json!([]));
}

#[test]
fn dbt_state_names_the_base_and_markdown_goes_to_the_github_job_summary() {
    let (dir, _) = project();
    let summary = dir.path().join("summary.md");
    let run = foldup(dir.path())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("DBT_STATE", "prod")
        .args(["impact"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout.starts_with("### foldup impact"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("**1 modified · "),
        "counts first:\n{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("| `model.shop.stg_orders` | model | body |"));
    assert!(run.stdout.contains("DBT_STATE=prod"));
    let written = fs::read_to_string(&summary).unwrap();
    assert_eq!(written.trim_end(), run.stdout.trim_end());
}

#[test]
fn the_same_manifest_on_both_sides_reports_nothing_and_warns() {
    let (dir, _) = project();
    let run = foldup(dir.path())
        .args(["impact", "--format", "json", "--state", "target"])
        .run()
        .expect_code(0);
    let report = run.json();
    assert_eq!(report["modified"], serde_json::json!([]));
    assert_eq!(report["impacted"], serde_json::json!([]));
    assert!(
        run.stderr.contains("is the PR's own manifest"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_base_is_a_usage_error_that_says_how_to_give_one() {
    let (dir, _) = project();
    foldup(dir.path())
        .args(["impact"])
        .run()
        .expect_code(2)
        .expect_one_sentence("--state DIR");
    foldup(dir.path())
        .env("DBT_STATE", "nowhere")
        .args(["impact"])
        .run()
        .expect_code(2)
        .expect_one_sentence("no base manifest at");
}

#[test]
fn hostile_base_manifests_are_one_sentence_and_exit_3_in_bounded_time() {
    let (dir, base) = project();
    let good = fs::read(example_target().join("manifest.json")).unwrap();
    let deep = format!(
        "{{\"nodes\": {{\"model.x.y\": {{\"config\": {}{}}}}}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        (
            "wrong types",
            br#"{"nodes": {"model.x.y": {"raw_code": 42}}}"#.to_vec(),
        ),
        ("not a manifest", br#"{"results": []}"#.to_vec()),
        (
            "child_map of numbers",
            br#"{"nodes": {}, "child_map": {"a": [1]}}"#.to_vec(),
        ),
        ("deep nesting", deep.into_bytes()),
        ("not utf-8", b"{\"nodes\": {\"\xff\": {}}}".to_vec()),
    ];
    for (name, bytes) in cases {
        fs::write(base.join("manifest.json"), bytes).unwrap();
        let run = foldup(dir.path())
            .args(["impact", "--state", base.to_str().unwrap()])
            .run();
        assert_eq!(run.code, 3, "{name}: {}", run.stderr);
        run.expect_one_sentence("is not a usable dbt manifest");
    }
}

#[test]
fn a_gigabyte_of_whitespace_is_streamed_in_bounded_memory() {
    let (dir, base) = project();
    let file = fs::File::create(base.join("manifest.json")).unwrap();
    // 1 GiB of spaces, then a manifest that never closes: read as a stream, not held.
    let mut writer = std::io::BufWriter::new(file);
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut writer, &chunk).unwrap();
    }
    std::io::Write::write_all(&mut writer, b"{\"nodes\": {}").unwrap();
    drop(writer);
    let run = foldup(dir.path())
        .deadline(Duration::from_secs(120))
        .args(["impact", "--state", base.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.expect_one_sentence("is not a usable dbt manifest");
    if let Some(peak) = run.peak_rss_kib {
        assert!(
            peak < 64 * 1024,
            "peak RSS {peak} KiB reading 1 GiB of whitespace"
        );
    }
    fs::remove_file(base.join("manifest.json")).unwrap();
}

/// A stand-in for GitHub's issues comments API (list, create, update), as GitHub documents it:
/// `write-token` may write, `read-token` may only read.
mod github {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, patch};
    use axum::{Json, Router};
    use serde_json::{json, Value};

    #[derive(Default)]
    pub struct Comments {
        pub list: Vec<(u64, u64, String)>, // (pr, id, body)
        pub requests: Vec<String>,
    }

    type Shared = Arc<Mutex<Comments>>;

    fn may_write(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer write-token") => Ok(()),
            Some("Bearer read-token") => Err((
                StatusCode::FORBIDDEN,
                Json(json!({"message": "Resource not accessible by integration"})),
            )),
            _ => Err((
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            )),
        }
    }

    async fn list(
        State(state): State<Shared>,
        Path((_, _, pr)): Path<(String, String, u64)>,
        axum::extract::RawQuery(query): axum::extract::RawQuery,
    ) -> Json<Value> {
        let mut s = state.lock().unwrap();
        s.requests
            .push(format!("GET {pr} {}", query.unwrap_or_default()));
        Json(Value::Array(
            s.list
                .iter()
                .filter(|(p, _, _)| *p == pr)
                .map(|(_, id, body)| json!({"id": id, "body": body, "user": {"login": "someone"}}))
                .collect(),
        ))
    }

    async fn create(
        State(state): State<Shared>,
        headers: HeaderMap,
        Path((_, _, pr)): Path<(String, String, u64)>,
        Json(body): Json<Value>,
    ) -> Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)> {
        may_write(&headers)?;
        let mut s = state.lock().unwrap();
        let id = 1000 + s.list.len() as u64;
        let text = body["body"].as_str().unwrap().to_owned();
        s.list.push((pr, id, text.clone()));
        s.requests.push(format!("POST {pr}"));
        Ok((StatusCode::CREATED, Json(json!({"id": id, "body": text}))))
    }

    async fn update(
        State(state): State<Shared>,
        headers: HeaderMap,
        Path((_, _, id)): Path<(String, String, u64)>,
        Json(body): Json<Value>,
    ) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
        may_write(&headers)?;
        let mut s = state.lock().unwrap();
        s.requests.push(format!("PATCH {id}"));
        let text = body["body"].as_str().unwrap().to_owned();
        let entry = s.list.iter_mut().find(|(_, i, _)| *i == id).unwrap();
        entry.2 = text.clone();
        Ok(Json(json!({"id": id, "body": text})))
    }

    /// Starts the stand-in on 127.0.0.1; returns its URL and state.
    pub fn start(initial: Vec<(u64, u64, String)>) -> (String, Shared) {
        let state: Shared = Arc::new(Mutex::new(Comments {
            list: initial,
            requests: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route(
                "/repos/{owner}/{repo}/issues/{pr}/comments",
                get(list).post(create),
            )
            .route("/repos/{owner}/{repo}/issues/comments/{id}", patch(update))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        (url, state)
    }
}

fn comment_run(dir: &Path, base: &Path, api: &str, token: &str) -> Run {
    foldup(dir)
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("GITHUB_API_URL", api)
        .env("GITHUB_TOKEN", token)
        .args(["impact", "--comment", "--state", base.to_str().unwrap()])
        .run()
}

#[test]
fn comment_creates_one_sticky_comment_and_updates_it_on_the_next_run() {
    let (dir, base) = project();
    let (_, pr, _) = github_pr_facts();
    // Someone else's comment is left alone.
    let (api, state) = github::start(vec![(pr, 7, "LGTM".to_owned())]);
    let first = comment_run(dir.path(), &base, &api, "write-token").expect_code(0);
    assert!(
        first.stderr.contains("Commented on pull request"),
        "{}",
        first.stderr
    );
    // The second run, after another push: the same comment, updated.
    manifest_with_sql(&base, "model.shop.orders", "select 2");
    let second = comment_run(dir.path(), &base, &api, "write-token").expect_code(0);
    assert!(
        second.stderr.contains("Updated foldup's comment 1001"),
        "{}",
        second.stderr
    );
    let s = state.lock().unwrap();
    let ours: Vec<_> = s.list.iter().filter(|(_, id, _)| *id != 7).collect();
    assert_eq!(ours.len(), 1, "one comment, not a pile: {:?}", s.requests);
    assert_eq!(s.list[0].2, "LGTM");
    let body = &ours[0].2;
    assert!(body.starts_with("<!-- foldup impact"), "{body}");
    assert!(
        body.contains("`model.shop.orders`"),
        "the comment shows the second run: {body}"
    );
    assert!(body.chars().count() <= 65_536);
    assert_eq!(
        s.requests.iter().filter(|r| r.starts_with("POST")).count(),
        1,
        "{:?}",
        s.requests
    );
}

#[test]
fn a_read_only_or_missing_token_is_a_warning_and_the_job_summary_still_has_the_report() {
    let (dir, base) = project();
    let (_, pr, _) = github_pr_facts();
    let (api, state) = github::start(vec![]);
    let run = comment_run(dir.path(), &base, &api, "read-token").expect_code(0);
    assert!(
        run.stderr
            .contains("::warning::No comment on the pull request or merge request"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("403") && run.stderr.contains("pull-requests: write"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("::add-mask::read-token"),
        "the token is masked"
    );
    assert!(
        run.stderr
            .lines()
            .all(|l| l.starts_with("::add-mask::") || !l.contains("read-token")),
        "the token stays out of the log"
    );
    let summary = fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("`model.shop.stg_orders`"));
    assert!(state.lock().unwrap().list.iter().all(|(p, _, _)| *p != pr));

    let run = foldup(dir.path())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_API_URL", &api)
        .args(["impact", "--comment", "--state", base.to_str().unwrap()])
        .run()
        .expect_code(0);
    assert!(
        run.stderr.contains("needs a GitHub token"),
        "{}",
        run.stderr
    );
}

/// Rewrites the base manifest with `id`'s SQL replaced.
fn manifest_with_sql(base: &Path, id: &str, sql: &str) {
    let path = base.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["nodes"][id]["raw_code"] = sql.into();
    fs::write(path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

/// A stand-in for GitLab's REST API as the `gitlab` crate calls it: `GET /api/v4/user` (the
/// token check), and a merge request's notes (list, create, edit). `api-token` may write,
/// `read-api-token` may only read.
mod gitlab {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};
    use axum::{Json, Router};
    use serde_json::{json, Value};

    #[derive(Default)]
    pub struct Notes {
        pub list: Vec<(u64, String)>, // (id, body) on merge request 57 of project 4242
        pub requests: Vec<String>,
    }

    type Shared = Arc<Mutex<Notes>>;

    fn token(headers: &HeaderMap) -> Option<&str> {
        headers.get("private-token").and_then(|v| v.to_str().ok())
    }

    fn may_write(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
        match token(headers) {
            Some("api-token") => Ok(()),
            _ => Err((
                StatusCode::FORBIDDEN,
                Json(json!({"message": "403 Forbidden"})),
            )),
        }
    }

    async fn user(headers: HeaderMap) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
        match token(&headers) {
            Some("api-token" | "read-api-token") => {
                Ok(Json(json!({"id": 1, "username": "project_4242_bot"})))
            }
            _ => Err((
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "401 Unauthorized"})),
            )),
        }
    }

    fn check(project: &str, mr: u64) {
        assert_eq!(
            (project, mr),
            ("4242", 57),
            "the project id and the MR's iid"
        );
    }

    async fn list(
        State(state): State<Shared>,
        Path((project, mr)): Path<(String, u64)>,
    ) -> Json<Value> {
        check(&project, mr);
        let mut s = state.lock().unwrap();
        s.requests.push("GET".to_owned());
        Json(Value::Array(
            s.list
                .iter()
                .map(|(id, body)| json!({"id": id, "body": body, "system": false}))
                .collect(),
        ))
    }

    async fn create(
        State(state): State<Shared>,
        headers: HeaderMap,
        Path((project, mr)): Path<(String, u64)>,
        body: String,
    ) -> Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)> {
        check(&project, mr);
        may_write(&headers)?;
        let text = form_body(&body);
        let mut s = state.lock().unwrap();
        let id = 500 + s.list.len() as u64;
        s.list.push((id, text.clone()));
        s.requests.push("POST".to_owned());
        Ok((StatusCode::CREATED, Json(json!({"id": id, "body": text}))))
    }

    async fn edit(
        State(state): State<Shared>,
        headers: HeaderMap,
        Path((project, mr, id)): Path<(String, u64, u64)>,
        body: String,
    ) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
        check(&project, mr);
        may_write(&headers)?;
        let text = form_body(&body);
        let mut s = state.lock().unwrap();
        s.requests.push(format!("PUT {id}"));
        let entry = s.list.iter_mut().find(|(i, _)| *i == id).unwrap();
        entry.1 = text.clone();
        Ok(Json(json!({"id": id, "body": text})))
    }

    /// The `body` field of the form the `gitlab` crate sends.
    fn form_body(form: &str) -> String {
        form.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "body")
            .map(|(_, v)| {
                let v = v.replace('+', " ");
                let bytes = v.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            })
            .expect("a body field")
    }

    pub fn start(initial: Vec<(u64, String)>) -> (String, Shared) {
        let state: Shared = Arc::new(Mutex::new(Notes {
            list: initial,
            requests: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v4/user", get(user))
            .route(
                "/api/v4/projects/{project}/merge_requests/{mr}/notes",
                get(list).post(create),
            )
            .route(
                "/api/v4/projects/{project}/merge_requests/{mr}/notes/{id}",
                put(edit),
            )
            .with_state(state.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        (url, state)
    }
}

fn gitlab_run(dir: &Path, base: &Path, server: &str, token: &str) -> Run {
    foldup(dir)
        .envs([
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "1f2e3d4c5b6a79881726354453627180a9b8c7d6"),
            ("CI_MERGE_REQUEST_IID", "57"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_PROJECT_PATH", "data/analytics"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "data/analytics"),
            ("CI_PROJECT_PATH", "data/analytics"),
            ("CI_PROJECT_ID", "4242"),
            ("CI_SERVER_URL", server),
            ("GITLAB_TOKEN", token),
        ])
        .args(["impact", "--comment", "--state", base.to_str().unwrap()])
        .run()
}

#[test]
fn gitlab_gets_one_note_on_the_merge_request_updated_on_the_next_run() {
    let (dir, base) = project();
    let (server, state) = gitlab::start(vec![(9, "Please add a test.".to_owned())]);
    let first = gitlab_run(dir.path(), &base, &server, "api-token").expect_code(0);
    assert!(
        first.stderr.contains("Commented on merge request !57"),
        "{}",
        first.stderr
    );
    manifest_with_sql(&base, "model.shop.orders", "select 2");
    let second = gitlab_run(dir.path(), &base, &server, "api-token").expect_code(0);
    assert!(
        second.stderr.contains("Updated foldup's note 501"),
        "{}",
        second.stderr
    );
    let s = state.lock().unwrap();
    assert_eq!(
        s.list.len(),
        2,
        "one note of foldup's, not a pile: {:?}",
        s.requests
    );
    assert_eq!(s.list[0].1, "Please add a test.");
    assert!(s.list[1].1.starts_with("<!-- foldup impact"));
    assert!(s.list[1].1.contains("`model.shop.orders`"));

    drop(s);
    // A token that may read but not write: a warning, exit 0, the report on stdout.
    let run = gitlab_run(dir.path(), &base, &server, "read-api-token").expect_code(0);
    assert!(
        run.stderr.contains("refused the note (HTTP 403)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("### foldup impact"));
    assert!(!run.stderr.contains("read-api-token"));
}
