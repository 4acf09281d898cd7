//! The test server over real HTTP on 127.0.0.1: each endpoint, each fault, the admin API, the
//! record file and the binary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foldup_testserver::{
    sha256_hex, Fault, RecordedRequest, RunOutcome, RunPlan, ServerConfig, TestServer,
};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "test-key-0123456789";
const CI: u64 = 7;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const MANIFEST: &str =
    r#"{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json"}}"#;
const RUN_RESULTS: &str = r#"{"metadata":{"invocation_id":"x"},"results":[]}"#;

fn server() -> TestServer {
    TestServer::start(ServerConfig::new(KEY, CI))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn artifacts() -> Vec<u8> {
    zip_of(&[
        ("manifest.json", MANIFEST.as_bytes()),
        ("run_results.json", RUN_RESULTS.as_bytes()),
        ("compiled/shop/models/orders.sql", b"select 1"),
    ])
}

fn upload_form(archive: Vec<u8>, run_type: &str) -> Form {
    Form::new()
        .text("commit_sha", SHA)
        .text("run_type", run_type.to_owned())
        .part("artifacts", Part::bytes(archive).file_name("tmpabc.zip"))
}

fn submit_url(server: &TestServer, ci: u64) -> String {
    format!("{}/api/v1/dbt/submit_artifacts/{ci}", server.url())
}

async fn submit(server: &TestServer, key: &str) -> reqwest::Response {
    client()
        .post(submit_url(server, CI))
        .header("Authorization", format!("Key {key}"))
        .multipart(upload_form(artifacts(), "pull_request"))
        .send()
        .await
        .unwrap()
}

async fn list_runs(server: &TestServer) -> Vec<Value> {
    let response = client()
        .get(format!("{}/api/v1/ci/{CI}/runs", server.url()))
        .query(&[("pr_sha", SHA), ("limit", "1")])
        .header("Authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn last(server: &TestServer) -> RecordedRequest {
    server
        .requests()
        .pop()
        .expect("the server recorded no request")
}

#[tokio::test]
async fn an_upload_is_accepted_and_recorded_entry_by_entry() {
    let server = server();
    let response = client()
        .post(submit_url(&server, CI))
        .header("Authorization", format!("Key {KEY}"))
        .multipart(upload_form(artifacts(), "pull_request").text("run_id", "run-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let request = last(&server);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/v1/dbt/submit_artifacts/7");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Key {KEY}").as_str())
    );
    assert_eq!(request.field("commit_sha"), Some(SHA));
    assert_eq!(request.field("run_type"), Some("pull_request"));
    assert_eq!(request.field("run_id"), Some("run-1"));
    assert_eq!(request.response_status, Some(200));
    let archive = request.archive.expect("no archive recorded");
    assert_eq!(archive.part_name, "artifacts");
    assert_eq!(archive.file_name.as_deref(), Some("tmpabc.zip"));
    assert_eq!(archive.content_type, None);
    assert_eq!(archive.sha256, sha256_hex(&artifacts()));
    assert_eq!(archive.zip_error, None);
    assert_eq!(
        archive.entry_names(),
        [
            "manifest.json",
            "run_results.json",
            "compiled/shop/models/orders.sql"
        ]
    );
    let manifest = archive.entry("manifest.json").unwrap();
    assert_eq!(manifest.size, MANIFEST.len() as u64);
    assert_eq!(manifest.sha256, sha256_hex(MANIFEST.as_bytes()));
    assert_eq!(manifest.text.as_deref(), Some(MANIFEST));
    assert_eq!(manifest.compression, "Deflated");
    assert_eq!(
        archive.entry("run_results.json").unwrap().text.as_deref(),
        Some(RUN_RESULTS)
    );
    let sql = archive.entry("compiled/shop/models/orders.sql").unwrap();
    assert_eq!((sql.size, sql.text.as_deref()), (8, None));
    assert_eq!(sql.sha256, sha256_hex(b"select 1"));
}

#[tokio::test]
async fn keys_are_checked_before_anything_else() {
    let server = server();
    let wrong = submit(&server, "not-the-key").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid API key"})
    );

    let missing = client()
        .post(submit_url(&server, CI))
        .multipart(upload_form(artifacts(), "production"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"detail": "Not authenticated"})
    );
    // The wrong key is recorded verbatim: tests compare it.
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Key not-the-key")
    );
}

#[tokio::test]
async fn an_unknown_ci_config_is_a_404_with_datafolds_message() {
    let server = server();
    let response = client()
        .post(submit_url(&server, 99))
        .header("Authorization", format!("Key {KEY}"))
        .multipart(upload_form(artifacts(), "pull_request"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "CI config with id 99 not found"})
    );
}

#[tokio::test]
async fn malformed_uploads_are_refused_like_fastapi_does() {
    let server = server();
    let post = |form: Form| {
        client()
            .post(submit_url(&server, CI))
            .header("Authorization", format!("Key {KEY}"))
            .multipart(form)
            .send()
    };
    let no_sha = post(
        Form::new()
            .text("run_type", "production")
            .part("artifacts", Part::bytes(artifacts()).file_name("a.zip")),
    )
    .await
    .unwrap();
    assert_eq!(no_sha.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = no_sha.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "commit_sha"]));

    let bad_type = post(upload_form(artifacts(), "nightly")).await.unwrap();
    assert_eq!(bad_type.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let not_zip = post(upload_form(b"not a zip".to_vec(), "production"))
        .await
        .unwrap();
    assert_eq!(not_zip.status(), StatusCode::BAD_REQUEST);
    assert!(not_zip.text().await.unwrap().contains("not a valid zip"));
    assert!(last(&server).archive.unwrap().zip_error.is_some());

    let no_manifest = post(upload_form(
        zip_of(&[("run_results.json", b"{}")]),
        "production",
    ))
    .await
    .unwrap();
    assert_eq!(no_manifest.status(), StatusCode::BAD_REQUEST);
    assert!(no_manifest.text().await.unwrap().contains("manifest.json"));

    let wrong_method = client().get(submit_url(&server, CI)).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let unknown = client()
        .get(format!("{}/api/v1/nothing", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_post_upload_check_answers_ok_only_after_an_upload() {
    let server = server();
    let check = || {
        client()
            .post(format!(
                "{}/api/v1/dbt/post_upload_check_artifacts/{CI}",
                server.url()
            ))
            .header("Authorization", format!("Key {KEY}"))
            .form(&[
                ("commit_sha", SHA),
                ("run_type", "pull_request"),
                ("branch", "feature/x"),
            ])
            .send()
    };
    let before = check().await.unwrap();
    assert_eq!(before.status(), StatusCode::OK);
    assert_eq!(
        before.json::<Value>().await.unwrap(),
        json!({"status": "missing"})
    );
    let request = last(&server);
    assert_eq!(request.field("branch"), Some("feature/x"));
    assert_eq!(request.field("commit_sha"), Some(SHA));

    assert_eq!(submit(&server, KEY).await.status(), StatusCode::OK);
    let after = check().await.unwrap();
    assert_eq!(
        after.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let no_branch = client()
        .post(format!(
            "{}/api/v1/dbt/post_upload_check_artifacts/{CI}",
            server.url()
        ))
        .header("Authorization", format!("Key {KEY}"))
        .form(&[("commit_sha", SHA), ("run_type", "pull_request")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_branch.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn runs_appear_after_an_upload_and_end_as_planned() {
    let server = server();
    assert_eq!(list_runs(&server).await, Vec::<Value>::new());
    let request = last(&server);
    assert_eq!(request.query_param("pr_sha").as_deref(), Some(SHA));
    assert_eq!(request.query_param("limit").as_deref(), Some("1"));

    server.set_run_plan(RunPlan {
        outcome: RunOutcome::Failed,
        after_polls: 3,
        pr_num: "42".into(),
    });
    submit(&server, KEY).await;
    let statuses: Vec<Value> = [
        list_runs(&server).await,
        list_runs(&server).await,
        list_runs(&server).await,
        list_runs(&server).await,
    ]
    .iter()
    .map(|runs| runs[0]["status"].clone())
    .collect();
    assert_eq!(statuses, ["running", "running", "failed", "failed"]);
    let run = &list_runs(&server).await[0];
    assert_eq!(run["pr_num"], "42");
    assert_eq!(run["pr_sha"], SHA);
    assert!(run["id"].is_u64());

    for (outcome, status) in [
        (RunOutcome::Done, "done"),
        (RunOutcome::Cancelled, "cancelled"),
    ] {
        server.set_run_plan(RunPlan {
            outcome,
            after_polls: 1,
            ..RunPlan::default()
        });
        assert_eq!(list_runs(&server).await[0]["status"], status);
    }
}

#[tokio::test]
async fn unavailable_fails_n_times_then_serves() {
    let server = server();
    server.set_fault(Fault::Unavailable { times: 2 });
    let statuses = [
        submit(&server, KEY).await.status(),
        submit(&server, KEY).await.status(),
        submit(&server, KEY).await.status(),
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        ]
    );
    let faults: Vec<Option<String>> = server.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some("unavailable".to_owned()),
            Some("unavailable".to_owned()),
            None
        ]
    );
}

#[tokio::test]
async fn rate_limiting_sends_retry_after() {
    let server = server();
    server.set_fault(Fault::RateLimited {
        times: 1,
        retry_after: "3".into(),
    });
    let limited = submit(&server, KEY).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "3");
    assert_eq!(submit(&server, KEY).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn status_faults_answer_with_their_status_and_a_json_detail() {
    let server = server();
    let cases = [
        (Fault::InternalError, StatusCode::INTERNAL_SERVER_ERROR),
        (Fault::Unauthorized, StatusCode::UNAUTHORIZED),
        (Fault::Forbidden, StatusCode::FORBIDDEN),
        (Fault::NotFound, StatusCode::NOT_FOUND),
        (Fault::PayloadTooLarge, StatusCode::PAYLOAD_TOO_LARGE),
        (
            Fault::Status {
                status: 502,
                times: None,
            },
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (fault, status) in cases {
        server.set_fault(fault.clone());
        for _ in 0..2 {
            let response = submit(&server, KEY).await;
            assert_eq!(response.status(), status, "{fault:?}");
            let body: Value = response.json().await.unwrap();
            assert!(body["detail"].is_string(), "{fault:?}: {body}");
        }
        // The whole body was read before answering, even for 413.
        assert!(last(&server).archive.is_some(), "{fault:?}");
    }
    server.set_fault(Fault::Status {
        status: 504,
        times: Some(1),
    });
    assert_eq!(
        submit(&server, KEY).await.status(),
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(submit(&server, KEY).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_html_error_page_looks_like_a_proxys() {
    let server = server();
    server.set_fault(Fault::HtmlErrorPage { status: 502 });
    let response = submit(&server, KEY).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("<title>502 Bad Gateway</title>"));
}

#[tokio::test]
async fn a_redirect_points_at_another_base_with_the_same_path() {
    let server = server();
    server.set_fault(Fault::RedirectTo {
        base_url: "http://other.example:8080/".into(),
        status: 307,
    });
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/api/v1/ci/{CI}/runs?pr_sha={SHA}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        format!("http://other.example:8080/api/v1/ci/{CI}/runs?pr_sha={SHA}").as_str()
    );
}

#[tokio::test]
async fn slow_answers_arrive_after_the_delay() {
    let server = server();
    server.set_fault(Fault::Slow { delay_ms: 400 });
    let started = Instant::now();
    assert_eq!(submit(&server, KEY).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn trickled_answers_arrive_byte_by_byte() {
    let server = server();
    server.set_fault(Fault::Trickle { interval_ms: 30 });
    let started = Instant::now();
    let response = submit(&server, KEY).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert_eq!(body, r#"{"status":"ok"}"#);
    assert!(started.elapsed() >= Duration::from_millis(30 * body.len() as u64));
}

#[tokio::test]
async fn a_hanging_server_reads_the_request_and_never_answers() {
    let server = server();
    server.set_fault(Fault::Hang);
    let started = Instant::now();
    let outcome = client()
        .post(submit_url(&server, CI))
        .header("Authorization", format!("Key {KEY}"))
        .multipart(upload_form(artifacts(), "pull_request"))
        .timeout(Duration::from_millis(700))
        .send()
        .await;
    let error = outcome.expect_err("a hanging server answered");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let request = last(&server);
    assert_eq!(request.response_status, None);
    assert_eq!(request.fault.as_deref(), Some("hang"));
    assert!(request.archive.is_some());
}

#[tokio::test]
async fn a_reset_cuts_the_upload_then_the_next_connection_is_served() {
    let server = server();
    server.set_fault(Fault::ResetMidBody { times: Some(1) });
    // Incompressible and large, so the client is still sending when the reset comes.
    let noise: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big = zip_of(&[
        ("manifest.json", MANIFEST.as_bytes()),
        ("noise.bin", &noise),
    ]);
    let total = big.len() as u64;
    let outcome = client()
        .post(submit_url(&server, CI))
        .header("Authorization", format!("Key {KEY}"))
        .multipart(upload_form(big, "pull_request"))
        .send()
        .await;
    let error = outcome.expect_err("the upload survived a reset");
    assert!(!error.is_timeout(), "{error}");
    let reset = last(&server);
    assert_eq!(reset.fault.as_deref(), Some("reset_mid_body"));
    assert_eq!(reset.response_status, None);
    assert_eq!(reset.path, "/api/v1/dbt/submit_artifacts/7");
    assert_eq!(
        reset.header("authorization"),
        Some(format!("Key {KEY}").as_str())
    );
    assert!(
        reset.body_bytes > 0 && reset.body_bytes < total,
        "{} of {total}",
        reset.body_bytes
    );

    assert_eq!(submit(&server, KEY).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn admin_requests_are_neither_reset_nor_recorded() {
    let server = server();
    server.set_fault(Fault::ResetMidBody { times: None });
    let listed: Vec<RecordedRequest> = client()
        .get(format!("{}/__admin/requests", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
    let set = client()
        .post(format!("{}/__admin/fault", server.url()))
        .json(&json!({"kind": "unavailable", "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        submit(&server, KEY).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let plan = client()
        .post(format!("{}/__admin/runs", server.url()))
        .json(&json!({"outcome": "cancelled", "after_polls": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), StatusCode::OK);
    submit(&server, KEY).await;
    assert_eq!(list_runs(&server).await[0]["status"], "cancelled");

    let bad = client()
        .post(format!("{}/__admin/fault", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"kind":"explode"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let listed: Vec<RecordedRequest> = client()
        .get(format!("{}/__admin/requests", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, server.requests());
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| !r.path.starts_with("/__admin")));
    let seqs: Vec<u64> = listed.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);

    let cleared = client()
        .delete(format!("{}/__admin/requests", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let mut config = ServerConfig::new(KEY, CI);
    config.max_upload_bytes = 200;
    let server = TestServer::start(config);
    let response = submit(&server, KEY).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_record_file_holds_every_request_after_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("record.json");
    let mut config = ServerConfig::new(KEY, CI);
    config.record_file = Some(path.clone());
    let server = TestServer::start(config);
    let read =
        || serde_json::from_slice::<Vec<RecordedRequest>>(&std::fs::read(&path).unwrap()).unwrap();
    assert!(read().is_empty());
    submit(&server, KEY).await;
    // The file is rewritten when the upload's inspection ends, which `requests()` waits for.
    let requests = server.requests();
    assert_eq!(read(), requests);
    list_runs(&server).await;
    assert_eq!(read().len(), 2);
}

#[test]
fn a_dropped_server_stops_listening() {
    let server = server();
    let address = server.address();
    drop(server);
    assert!(std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err());
}

#[test]
fn the_binary_prints_its_url_and_records_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let ready = dir.path().join("ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_foldup-testserver"))
        .args(["--port", "0", "--api-key", KEY, "--ci-config-id", "7"])
        .arg("--record")
        .arg(&record)
        .arg("--ready-file")
        .arg(&ready)
        .args(["--fault", r#"{"kind":"unavailable","times":1}"#])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(std::fs::read_to_string(&ready).unwrap().trim(), url);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<StatusCode> = runtime.block_on(async {
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let response = client()
                .get(format!("{url}/api/v1/ci/7/runs?pr_sha={SHA}&limit=1"))
                .header("Authorization", format!("Key {KEY}"))
                .send()
                .await
                .unwrap();
            statuses.push(response.status());
        }
        statuses
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(statuses, [StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK]);
    let recorded: Vec<RecordedRequest> =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1].query_param("pr_sha").as_deref(), Some(SHA));
}

#[test]
fn the_binary_refuses_a_bad_fault_with_a_sentence() {
    let output = Command::new(env!("CARGO_BIN_EXE_foldup-testserver"))
        .args([
            "--api-key",
            KEY,
            "--ci-config-id",
            "7",
            "--fault",
            "{\"kind\":\"explode\"}",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a fault"), "{stderr}");
}
