//! The client against foldup-testserver over real HTTP on 127.0.0.1: what it sends, and how
//! each fault ends — exit code, attempts the server saw, time taken, and a sentence without the
//! key.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldup_datafold::{
    CheckStatus, ClientConfig, DatafoldClient, DatafoldError, ErrorKind, RetryPolicy, RunState,
    ServerMessage, SubmitFields,
};
use foldup_testserver::{sha256_hex, Fault, RunOutcome, RunPlan, ServerConfig, TestServer};

const KEY: &str = "canary-api-key-7f3a9c2e51";
const CI: u64 = 1;
const SHA: &str = "c0ffee0000000000000000000000000000000001";
const MANIFEST: &str = r#"{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json","invocation_id":"i"}}"#;
/// The retry budget of most tests; bounds are asserted against it with generous slack.
const MAX_TOTAL: Duration = Duration::from_secs(3);
const SLACK: Duration = Duration::from_secs(2);

fn server() -> TestServer {
    TestServer::start(ServerConfig::new(KEY, CI))
}

fn config_for(host: &str) -> ClientConfig {
    let mut config = ClientConfig::new(host, KEY, "foldup/test");
    config.connect_timeout = Duration::from_secs(1);
    config.request_timeout = Duration::from_secs(1);
    config.retry = RetryPolicy {
        max_attempts: 4,
        max_total: MAX_TOTAL,
        base_delay: Duration::from_millis(50),
    };
    config
}

fn client(server: &TestServer) -> DatafoldClient {
    DatafoldClient::new(config_for(&server.url())).unwrap()
}

fn fields() -> SubmitFields {
    SubmitFields {
        commit_sha: SHA.into(),
        run_type: "pull_request".into(),
        run_id: None,
    }
}

/// A zip like foldup's, in `dir`; `noise_bytes` of incompressible data make it large.
fn archive(dir: &Path, noise_bytes: usize) -> PathBuf {
    let path = dir.join("tmpq8w2e4.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("manifest.json", options).unwrap();
    writer.write_all(MANIFEST.as_bytes()).unwrap();
    writer.start_file("run_results.json", options).unwrap();
    writer.write_all(br#"{"results":[]}"#).unwrap();
    if noise_bytes > 0 {
        let noise: Vec<u8> = (0..noise_bytes as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        writer.start_file("noise.bin", options).unwrap();
        writer.write_all(&noise).unwrap();
    }
    writer.finish().unwrap();
    path
}

/// Checks what every failure must be: the kind the binary maps to the documented exit code, one line, no key anywhere.
fn assert_failure(error: &DatafoldError, kind: ErrorKind) {
    let text = error.to_string();
    let debug = format!("{error:?}");
    assert_eq!(error.kind(), kind, "{text}");
    assert!(
        !text.contains(KEY) && !debug.contains(KEY),
        "the key leaked: {text} / {debug}"
    );
    assert!(!text.contains('\n'), "not one line: {text}");
    assert!(text.ends_with('.'), "not a sentence: {text}");
}

fn assert_within_budget(started: Instant) {
    let elapsed = started.elapsed();
    assert!(
        elapsed < MAX_TOTAL + SLACK,
        "took {elapsed:?}, budget {MAX_TOTAL:?}"
    );
}

#[tokio::test]
async fn an_upload_sends_what_datafold_sdk_sends() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    let fields = SubmitFields {
        run_id: Some("run-42".into()),
        ..fields()
    };
    let receipt = client(&server)
        .submit_artifacts(CI, &archive, &fields)
        .await
        .unwrap();
    assert_eq!((receipt.status, receipt.attempts), (200, 1));
    assert_eq!(
        receipt.archive_bytes,
        std::fs::metadata(&archive).unwrap().len()
    );
    assert_eq!(receipt.response, Some(serde_json::json!({"status": "ok"})));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/v1/dbt/submit_artifacts/1")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Key {KEY}").as_str())
    );
    assert_eq!(request.header("user-agent"), Some("foldup/test"));
    assert!(
        request.header("content-length").is_some(),
        "the upload was sent chunked"
    );
    let names: Vec<&str> = request
        .fields
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["commit_sha", "run_type", "run_id"]);
    assert_eq!(request.field("commit_sha"), Some(SHA));
    assert_eq!(request.field("run_type"), Some("pull_request"));
    assert_eq!(request.field("run_id"), Some("run-42"));
    let sent = request.archive.as_ref().unwrap();
    assert_eq!(sent.part_name, "artifacts");
    assert_eq!(sent.file_name.as_deref(), Some("tmpq8w2e4.zip"));
    assert_eq!(sent.content_type, None);
    assert_eq!(sent.sha256, sha256_hex(&std::fs::read(&archive).unwrap()));
    assert_eq!(
        sent.entry("manifest.json").unwrap().text.as_deref(),
        Some(MANIFEST)
    );
}

#[tokio::test]
async fn run_id_is_left_out_when_not_given_and_progress_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 300_000);
    let server = server();
    let last = Arc::new(AtomicU64::new(0));
    let seen = last.clone();
    let progress = Arc::new(move |sent: u64, _total: u64| seen.store(sent, Ordering::SeqCst));
    let receipt = client(&server)
        .submit_artifacts_with_progress(CI, &archive, &fields(), progress)
        .await
        .unwrap();
    assert_eq!(last.load(Ordering::SeqCst), receipt.archive_bytes);
    assert_eq!(server.requests()[0].field("run_id"), None);
}

#[tokio::test]
async fn transient_503s_are_retried_with_the_archive_sent_again_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 100_000);
    let server = server();
    server.set_fault(Fault::Unavailable { times: 2 });
    let receipt = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 3);
    let requests = server.requests();
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.response_status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    let whole = sha256_hex(&std::fs::read(&archive).unwrap());
    assert!(requests
        .iter()
        .all(|r| r.archive.as_ref().unwrap().sha256 == whole));
}

#[tokio::test]
async fn a_persistent_503_stops_after_the_configured_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::Status {
        status: 503,
        times: None,
    });
    let started = Instant::now();
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        matches!(
            error,
            DatafoldError::ServerFailed {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn the_total_budget_ends_retries_before_the_attempts_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::InternalError);
    let mut config = config_for(&server.url());
    config.retry = RetryPolicy {
        max_attempts: 100,
        max_total: Duration::from_secs(2),
        base_delay: Duration::from_millis(200),
    };
    let started = Instant::now();
    let error = DatafoldClient::new(config)
        .unwrap()
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2) + SLACK,
        "{:?}",
        started.elapsed()
    );
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        error.to_string().contains("Internal server error"),
        "{error}"
    );
    let attempts = server.requests().len();
    assert!((2..100).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn a_429_is_retried_after_the_seconds_it_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::RateLimited {
        times: 1,
        retry_after: "1".into(),
    });
    let started = Instant::now();
    let receipt = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "did not wait: {:?}",
        started.elapsed()
    );
    assert_within_budget(started);
    assert_eq!(receipt.attempts, 2);
}

#[tokio::test]
async fn a_429_with_an_http_date_is_honoured() {
    let server = server();
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    server.set_fault(Fault::RateLimited {
        times: 1,
        retry_after: when,
    });
    let started = Instant::now();
    let runs = client(&server).list_runs(CI, SHA).await.unwrap();
    assert!(runs.is_empty());
    // Whole-second dates: the wait is between 1 and 2 seconds.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "did not wait: {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::RateLimited {
        times: 10,
        retry_after: "60".into(),
    });
    let started = Instant::now();
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        matches!(error, DatafoldError::RateLimited { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_rejected_key_is_exit_4_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let other_key_server = TestServer::start(ServerConfig::new("the-real-key-000", CI));
    let error = client(&other_key_server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Authentication);
    assert!(error.to_string().contains("Invalid API key"), "{error}");
    assert!(error.to_string().contains("DATAFOLD_API_KEY"), "{error}");
    assert_eq!(other_key_server.requests().len(), 1);

    let server = server();
    server.set_fault(Fault::Forbidden);
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_failure(&error, ErrorKind::Authentication);
    assert!(
        matches!(
            error,
            DatafoldError::Forbidden {
                ci_config_id: CI,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unknown_ci_config_is_exit_5_with_datafolds_message() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    let error = client(&server)
        .submit_artifacts(99, &archive, &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Rejected);
    assert!(
        error.to_string().contains("CI config with id 99 not found"),
        "{error}"
    );
    assert!(error.to_string().contains("--ci-config-id"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn other_client_errors_are_exit_5_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();

    server.set_fault(Fault::PayloadTooLarge);
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Rejected);
    assert!(matches!(error, DatafoldError::TooLarge { .. }), "{error:?}");

    server.set_fault(Fault::Status {
        status: 400,
        times: None,
    });
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Rejected);
    assert!(
        matches!(error, DatafoldError::Rejected { status: 400, .. }),
        "{error:?}"
    );

    server.set_fault(Fault::None);
    let nightly = SubmitFields {
        run_type: "nightly".into(),
        ..fields()
    };
    let error = client(&server)
        .submit_artifacts(CI, &archive, &nightly)
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Rejected);
    assert!(error.to_string().contains("body.run_type"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_succeeds() {
    let server = server();
    server.set_fault(Fault::Slow { delay_ms: 300 });
    assert!(client(&server).list_runs(CI, SHA).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_retried_then_exit_6() {
    let server = server();
    server.set_fault(Fault::Slow { delay_ms: 5_000 });
    let started = Instant::now();
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(matches!(error, DatafoldError::TimedOut { .. }), "{error:?}");
    assert!(server.requests().len() >= 2);
}

#[tokio::test]
async fn a_server_that_never_answers_ends_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::Hang);
    let started = Instant::now();
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(matches!(error, DatafoldError::TimedOut { .. }), "{error:?}");
    let hung = server.requests();
    assert!(!hung.is_empty() && hung.iter().all(|r| r.response_status.is_none()));
}

#[tokio::test]
async fn a_trickled_answer_is_cut_off_by_the_timeout() {
    let server = server();
    server.set_fault(Fault::Trickle { interval_ms: 800 });
    let started = Instant::now();
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(matches!(error, DatafoldError::TimedOut { .. }), "{error:?}");
}

#[tokio::test]
async fn a_reset_mid_upload_is_retried_and_the_next_attempt_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 6 * 1024 * 1024);
    let server = server();
    server.set_fault(Fault::ResetMidBody { times: Some(1) });
    let receipt = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    let requests = server.requests();
    assert_eq!(requests[0].fault.as_deref(), Some("reset_mid_body"));
    assert!(requests[0].body_bytes < receipt.archive_bytes);
    assert_eq!(requests[1].response_status, Some(200));
}

#[tokio::test]
async fn persistent_resets_are_exit_6_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 6 * 1024 * 1024);
    let server = server();
    server.set_fault(Fault::ResetMidBody { times: None });
    let started = Instant::now();
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        matches!(error, DatafoldError::Unreachable { attempts: 4, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn an_html_error_page_is_named_as_a_proxys() {
    let server = server();
    server.set_fault(Fault::HtmlErrorPage { status: 502 });
    let started = Instant::now();
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    let text = error.to_string();
    assert!(
        text.contains("HTML page") && text.contains("proxy") && text.contains("502 Bad Gateway"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("json"), "{text}");

    server.set_fault(Fault::HtmlErrorPage { status: 403 });
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_failure(&error, ErrorKind::Authentication);
    assert!(
        matches!(
            &error,
            DatafoldError::Forbidden {
                message: ServerMessage::Html { .. },
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_2xx_html_page_is_never_taken_for_a_successful_upload() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_fault(Fault::HtmlErrorPage { status: 200 });
    let error = client(&server)
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        matches!(error, DatafoldError::NotDatafold { status: 200, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_key_never_follows_a_redirect_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let elsewhere = TestServer::start(ServerConfig::new("other", CI));
    let other_host = format!("http://localhost:{}", elsewhere.address().port());
    let server = server();
    for status in [307, 302] {
        server.set_fault(Fault::RedirectTo {
            base_url: other_host.clone(),
            status,
        });
        let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
        assert_failure(&error, ErrorKind::Configuration);
        assert!(
            matches!(error, DatafoldError::RedirectToOtherHost { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&other_host), "{error}");
        let error = client(&server)
            .submit_artifacts(CI, &archive, &fields())
            .await
            .unwrap_err();
        assert_failure(&error, ErrorKind::Configuration);
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted"
    );
}

#[tokio::test]
async fn a_redirect_loop_on_the_same_host_ends_as_exit_2() {
    let server = server();
    server.set_fault(Fault::RedirectTo {
        base_url: server.url(),
        status: 302,
    });
    let error = client(&server).list_runs(CI, SHA).await.unwrap_err();
    assert_failure(&error, ErrorKind::Configuration);
    assert!(
        matches!(error, DatafoldError::Redirected { status: 302, .. }),
        "{error:?}"
    );
    assert!(server.requests().len() <= 7);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_exit_6() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let error = DatafoldClient::new(config_for(&format!("http://127.0.0.1:{port}")))
        .unwrap()
        .list_runs(CI, SHA)
        .await
        .unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
    assert!(
        matches!(error, DatafoldError::Unreachable { attempts: 4, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_exit_6_within_the_budget() {
    let mut config = config_for("http://foldup-test.invalid");
    config.allow_insecure_http = true;
    let started = Instant::now();
    let error = DatafoldClient::new(config)
        .unwrap()
        .list_runs(CI, SHA)
        .await
        .unwrap_err();
    assert_within_budget(started);
    assert_failure(&error, ErrorKind::Unavailable);
}

#[tokio::test]
async fn the_post_upload_check_tells_present_from_missing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    let client = client(&server);
    let missing = client
        .check_artifacts(CI, SHA, "pull_request", Some("feature/x"))
        .await
        .unwrap();
    assert_eq!(
        missing,
        CheckStatus::Missing {
            status: "missing".into()
        }
    );
    client
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    let present = client
        .check_artifacts(CI, SHA, "pull_request", Some("feature/x"))
        .await
        .unwrap();
    assert_eq!(present, CheckStatus::Present);
    let request = &server.requests()[0];
    assert_eq!(request.path, "/api/v1/dbt/post_upload_check_artifacts/1");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.fields,
        [
            ("commit_sha".to_owned(), SHA.to_owned()),
            ("run_type".into(), "pull_request".into()),
            ("branch".into(), "feature/x".into())
        ]
    );
}

#[tokio::test]
async fn runs_are_listed_by_commit() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_run_plan(RunPlan {
        outcome: RunOutcome::Done,
        after_polls: 2,
        pr_num: "17".into(),
    });
    let client = client(&server);
    assert!(client.list_runs(CI, SHA).await.unwrap().is_empty());
    client
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    let runs = client.list_runs(CI, SHA).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].pr_num.as_deref(), runs[0].state()),
        (Some("17"), RunState::InProgress)
    );
    let request = &server.requests()[0];
    assert_eq!(request.path, "/api/v1/ci/1/runs");
    assert_eq!(request.query_param("pr_sha").as_deref(), Some(SHA));
    assert_eq!(request.query_param("limit").as_deref(), Some("1"));
}

async fn wait_with(
    outcome: RunOutcome,
    after_polls: u32,
    timeout: Duration,
) -> (Result<foldup_datafold::CiRun, DatafoldError>, u32) {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 0);
    let server = server();
    server.set_run_plan(RunPlan {
        outcome,
        after_polls,
        pr_num: "3".into(),
    });
    let client = client(&server);
    client
        .submit_artifacts(CI, &archive, &fields())
        .await
        .unwrap();
    let mut polls = 0;
    let result = client
        .wait_for_run_reporting(CI, SHA, timeout, Duration::from_millis(100), &mut |_| {
            polls += 1
        })
        .await;
    (result, polls)
}

#[tokio::test]
async fn waiting_ends_ok_when_the_run_is_done() {
    let (result, polls) = wait_with(RunOutcome::Done, 3, Duration::from_secs(10)).await;
    assert_eq!(result.unwrap().status, "done");
    assert_eq!(polls, 3);
}

#[tokio::test]
async fn waiting_ends_with_exit_7_when_the_run_fails_or_is_cancelled() {
    let (failed, _) = wait_with(RunOutcome::Failed, 2, Duration::from_secs(10)).await;
    let failed = failed.unwrap_err();
    assert_failure(&failed, ErrorKind::RunDidNotPass);
    assert!(
        matches!(failed, DatafoldError::RunFailed { .. }),
        "{failed:?}"
    );
    let (cancelled, _) = wait_with(RunOutcome::Cancelled, 1, Duration::from_secs(10)).await;
    let cancelled = cancelled.unwrap_err();
    assert_failure(&cancelled, ErrorKind::RunDidNotPass);
    assert!(
        matches!(cancelled, DatafoldError::RunCancelled { .. }),
        "{cancelled:?}"
    );
}

#[tokio::test]
async fn waiting_times_out_with_exit_7() {
    let started = Instant::now();
    let (result, polls) = wait_with(RunOutcome::Done, 1_000, Duration::from_secs(1)).await;
    let error = result.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1) + SLACK,
        "{:?}",
        started.elapsed()
    );
    assert_failure(&error, ErrorKind::RunDidNotPass);
    assert!(
        matches!(error, DatafoldError::WaitTimedOut { .. }),
        "{error:?}"
    );
    assert!(polls >= 3, "{polls} polls");
}

#[tokio::test]
async fn waiting_for_a_run_that_never_starts_is_exit_7() {
    let server = server();
    let started = Instant::now();
    let error = client(&server)
        .wait_for_run(CI, SHA, Duration::from_secs(1), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1) + SLACK);
    assert_failure(&error, ErrorKind::RunDidNotPass);
    assert!(
        matches!(error, DatafoldError::RunNotStarted { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreadable_archive_is_exit_3_before_any_request() {
    let server = server();
    let error = client(&server)
        .submit_artifacts(CI, Path::new("/nonexistent/artifacts.zip"), &fields())
        .await
        .unwrap_err();
    assert_failure(&error, ErrorKind::Artifacts);
    assert!(server.requests().is_empty());
}
