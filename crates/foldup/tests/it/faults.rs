//! The fault matrix, end to end: the real foldup binary against real sockets on 127.0.0.1 that
//! refuse, never answer, reset, trickle, speak TLS with an unknown CA, redirect elsewhere, or
//! answer with every error status. Each case must end within its configured bound, with the
//! documented exit code and one sentence that says what to do; success is reported only after
//! a 2xx for the whole body. Every run is traced (`RUST_LOG=trace`) and scanned for the canary
//! key in stdout, stderr, the step outputs, the job summary and the kept archive.
//!
//! docs/RELIABILITY.md lists these cases with their bounds.

use std::time::Duration;

use crate::support::*;
use foldup_testserver::{Fault, RecordedRequest, RunPlan, ServerConfig, TestServer};

const CI_CONFIG_ID: &str = "4242";
/// The retry budget every case runs with (`FOLDUP_RETRY_*`), and the per-attempt timeouts.
const RETRY_ATTEMPTS: usize = 3;
const RETRY_MAX_SECONDS: u64 = 8;
const REQUEST_TIMEOUT_SECONDS: u64 = 2;
const CONNECT_TIMEOUT_SECONDS: u64 = 2;

/// The longest a case may take: the retry budget, plus generous room for starting the process,
/// archiving, and a loaded CI machine. Exceeding it means foldup ignored its own budget.
fn bound() -> Duration {
    Duration::from_secs(RETRY_MAX_SECONDS + 25)
}

fn server() -> TestServer {
    TestServer::start(ServerConfig::new(CANARY_KEY, 4242))
}

impl Job {
    /// `foldup upload` of a GitHub pull request to `host`, traced, with the case's budget.
    fn foldup(&self, host: &str) -> Foldup {
        Foldup::new(self.dir.path())
            .owned_envs(&github_pull_request_env())
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .env("DATAFOLD_HOST", host)
            .env("FOLDUP_RETRY_ATTEMPTS", RETRY_ATTEMPTS.to_string())
            .env("FOLDUP_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS.to_string())
            .env(
                "FOLDUP_REQUEST_TIMEOUT_SECONDS",
                REQUEST_TIMEOUT_SECONDS.to_string(),
            )
            .env(
                "FOLDUP_CONNECT_TIMEOUT_SECONDS",
                CONNECT_TIMEOUT_SECONDS.to_string(),
            )
            .env("RUST_LOG", "trace")
            .env("GITHUB_OUTPUT", &self.outputs)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .deadline(bound() + Duration::from_secs(60))
    }

    fn upload(&self, host: &str) -> Run {
        self.finish(self.foldup(host))
    }

    /// Runs `foldup`, then checks the bound and that no secret leaked anywhere.
    fn finish(&self, foldup: Foldup) -> Run {
        let run = foldup
            .args(["upload", "--ci-config-id", CI_CONFIG_ID, "--output"])
            .args([self.archive.to_str().unwrap()])
            .run();
        run.assert_no_leak_in(&[&self.outputs, &self.summary, &self.archive]);
        assert!(
            run.elapsed < bound(),
            "took {:?}, more than {:?}\n{}",
            run.elapsed,
            bound(),
            run.stderr
        );
        run
    }

    /// A failure: the exit code, one sentence mentioning `hint`, and nothing that claims an
    /// upload (no step outputs, no job summary).
    fn expect_failure(&self, run: Run, code: i32, hint: &str) -> Run {
        let run = run.expect_code(code);
        run.expect_one_sentence(hint);
        assert!(
            !self.outputs.exists() && !self.summary.exists(),
            "a failed upload wrote step outputs or a summary"
        );
        assert!(
            !run.stderr.contains("Uploaded "),
            "a failed upload claimed success:\n{}",
            run.stderr
        );
        run
    }

    /// A success: exit 0, the outputs written, and the server's last upload answered 200 with
    /// exactly the archive foldup kept (the whole body arrived).
    fn expect_success(&self, run: Run, server: &TestServer) -> Run {
        let run = run.expect_code(0);
        assert!(std::fs::read_to_string(&self.outputs)
            .unwrap()
            .contains("run_type=pull_request"));
        let last = uploads(server).pop().expect("an upload reached the server");
        assert_eq!(last.response_status, Some(200));
        let sent = std::fs::read(&self.archive).unwrap();
        let received = last.archive.as_ref().expect("the artifacts part");
        assert_eq!(received.size, sent.len() as u64);
        assert_eq!(received.sha256, foldup_testserver::sha256_hex(&sent));
        run
    }
}

fn uploads(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                .ends_with(&format!("/submit_artifacts/{CI_CONFIG_ID}"))
        })
        .collect()
}

fn with_fault(fault: Fault) -> TestServer {
    let server = server();
    server.set_fault(fault);
    server
}

// --- Nothing to talk to -------------------------------------------------------------------

#[test]
fn connection_refused_exits_6_after_the_retries() {
    let job = Job::new();
    let run = job.upload(&refused_url());
    let run = job.expect_failure(run, 6, "HTTPS_PROXY");
    assert!(
        run.error_lines()[0].contains(&format!("after {RETRY_ATTEMPTS} attempt(s)")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_name_that_does_not_resolve_exits_6_naming_the_host() {
    let job = Job::new();
    let run = job.upload("https://datafold.foldup-test.invalid");
    job.expect_failure(run, 6, "datafold.foldup-test.invalid");
}

// --- TLS ------------------------------------------------------------------------------------

fn tls_server() -> (String, TestServer) {
    let (ca_pem, identity) = throwaway_ca("foldup e2e throwaway CA");
    let mut config = ServerConfig::new(CANARY_KEY, 4242);
    config.tls = Some(identity);
    (ca_pem, TestServer::start(config))
}

#[test]
fn tls_with_an_unknown_ca_exits_6_pointing_at_ssl_cert_file() {
    let (_, server) = tls_server();
    let job = Job::new();
    let run = job.upload(&server.url());
    let run = job.expect_failure(run, 6, "SSL_CERT_FILE");
    assert!(
        run.error_lines()[0].contains("certificate"),
        "{}",
        run.stderr
    );
    assert!(
        server.requests().is_empty(),
        "nothing passes a refused handshake"
    );
}

#[test]
fn tls_with_the_ca_given_through_ssl_cert_file_works() {
    let (ca_pem, server) = tls_server();
    let job = Job::new();
    let ca_file = job.dir.path().join("corporate-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let run = job.finish(job.foldup(&server.url()).env("SSL_CERT_FILE", &ca_file));
    job.expect_success(run, &server);
    assert_eq!(
        uploads(&server)[0].header("authorization"),
        Some(format!("Key {CANARY_KEY}").as_str())
    );
}

#[test]
fn a_tls_handshake_that_never_completes_is_bounded_by_the_timeouts() {
    let (ca_pem, server) = tls_server();
    server.set_fault(Fault::Silent { times: None });
    let job = Job::new();
    let ca_file = job.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let run = job.finish(job.foldup(&server.url()).env("SSL_CERT_FILE", &ca_file));
    job.expect_failure(run, 6, "did not answer in time");
}

// --- Transient failures that retries fix --------------------------------------------------

#[test]
fn two_503s_then_success_is_retried_to_exit_0() {
    let server = with_fault(Fault::Unavailable { times: 2 });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_success(run, &server);
    let statuses: Vec<_> = uploads(&server).iter().map(|r| r.response_status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
}

#[test]
fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let server = with_fault(Fault::RateLimited {
        times: 1,
        retry_after: "2".into(),
    });
    let job = Job::new();
    let run = job.upload(&server.url());
    let run = job.expect_success(run, &server);
    assert_eq!(uploads(&server).len(), 2);
    assert!(
        run.elapsed >= Duration::from_secs(2),
        "Retry-After: 2 was not honoured ({:?})",
        run.elapsed
    );
}

#[test]
fn a_reset_mid_upload_is_retried_and_the_whole_archive_arrives() {
    let server = with_fault(Fault::ResetMidBody { times: Some(1) });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_success(run, &server);
    let requests = uploads(&server);
    assert_eq!(requests[0].fault.as_deref(), Some("reset_mid_body"));
    assert_eq!(requests.len(), 2);
}

#[test]
fn a_connection_closed_without_an_answer_is_retried() {
    let server = with_fault(Fault::CloseWithoutAnswer { times: Some(1) });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_success(run, &server);
}

#[test]
fn a_trickled_answer_within_the_timeout_succeeds() {
    let server = with_fault(Fault::Trickle { interval_ms: 20 });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_success(run, &server);
}

// --- Failures that outlast the retry budget -----------------------------------------------

#[test]
fn persistent_500_stops_after_the_configured_attempts_with_exit_6() {
    let server = with_fault(Fault::InternalError);
    let job = Job::new();
    let run = job.upload(&server.url());
    let run = job.expect_failure(run, 6, "try again later");
    assert!(run.error_lines()[0].contains("HTTP 500"), "{}", run.stderr);
    assert_eq!(uploads(&server).len(), RETRY_ATTEMPTS);
}

#[test]
fn persistent_429_exits_6_saying_to_wait() {
    let server = with_fault(Fault::RateLimited {
        times: 1000,
        retry_after: "1".into(),
    });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "wait a few minutes");
    assert_eq!(uploads(&server).len(), RETRY_ATTEMPTS);
}

#[test]
fn a_server_that_reads_the_upload_and_never_answers_is_bounded_by_the_budget() {
    let server = with_fault(Fault::Hang);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "did not answer in time");
    assert!(uploads(&server).iter().all(|r| r.response_status.is_none()));
}

#[test]
fn a_server_that_accepts_and_never_reads_is_bounded_by_the_budget() {
    let server = with_fault(Fault::Silent { times: None });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "did not answer in time");
    assert!(!server.requests().is_empty());
}

#[test]
fn a_response_trickled_slower_than_the_timeout_is_cut_off() {
    // `{"status":"ok"}` at one byte a second takes 15 s: far over the 2 s request timeout.
    let server = with_fault(Fault::Trickle { interval_ms: 1000 });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "did not answer in time");
}

#[test]
fn persistent_resets_exit_6() {
    let server = with_fault(Fault::ResetMidBody { times: None });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "HTTPS_PROXY");
    assert_eq!(uploads(&server).len(), RETRY_ATTEMPTS);
}

#[test]
fn a_port_that_does_not_speak_http_exits_6() {
    let server = with_fault(Fault::NotHttp);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "DATAFOLD_HOST");
}

// --- Answers that retrying cannot change --------------------------------------------------

#[test]
fn payload_too_large_exits_5_without_retrying() {
    let server = with_fault(Fault::PayloadTooLarge);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 5, "--all-files");
    assert_eq!(uploads(&server).len(), 1);
}

#[test]
fn unauthorized_exits_4_naming_the_variable() {
    let server = with_fault(Fault::Unauthorized);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 4, "DATAFOLD_API_KEY");
    assert_eq!(uploads(&server).len(), 1);
}

#[test]
fn forbidden_exits_4() {
    let server = with_fault(Fault::Forbidden);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 4, "CI config 4242");
    assert_eq!(uploads(&server).len(), 1);
}

#[test]
fn not_found_exits_5_naming_the_ci_config() {
    let server = with_fault(Fault::NotFound);
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 5, "--ci-config-id");
    assert_eq!(uploads(&server).len(), 1);
}

#[test]
fn an_error_that_echoes_the_key_is_printed_redacted() {
    let server = with_fault(Fault::EchoHeaders { status: 401 });
    let job = Job::new();
    let run = job.upload(&server.url());
    let run = job.expect_failure(run, 4, "DATAFOLD_API_KEY");
    assert!(run.error_lines()[0].contains("***"), "{}", run.stderr);
}

#[test]
fn an_html_error_page_from_a_proxy_is_named_as_such() {
    let server = with_fault(Fault::HtmlErrorPage { status: 502 });
    let job = Job::new();
    let run = job.upload(&server.url());
    let run = job.expect_failure(run, 6, "proxy");
    assert!(
        run.error_lines()[0].contains("502 Bad Gateway"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_html_page_with_200_is_never_taken_for_a_successful_upload() {
    let server = with_fault(Fault::HtmlErrorPage { status: 200 });
    let job = Job::new();
    let run = job.upload(&server.url());
    job.expect_failure(run, 6, "HTTPS_PROXY");
}

// --- Where the key may go -----------------------------------------------------------------

#[test]
fn a_redirect_to_another_host_is_refused_and_the_key_stays_home() {
    let elsewhere = TestServer::start(ServerConfig::new("not-the-key", 4242));
    let other_host = format!("http://localhost:{}", elsewhere.address().port());
    for status in [307, 302, 301, 308] {
        let server = with_fault(Fault::RedirectTo {
            base_url: other_host.clone(),
            status,
        });
        let job = Job::new();
        let run = job.upload(&server.url());
        let run = job.expect_failure(run, 2, "DATAFOLD_HOST");
        assert!(
            run.error_lines()[0].contains(&other_host),
            "{status}: {}",
            run.stderr
        );
        assert_eq!(uploads(&server).len(), 1, "{status}: not retried");
    }
    assert!(
        elsewhere
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "the key followed a redirect"
    );
    assert!(elsewhere.requests().is_empty());
}

/// Plain http to a host other than this machine, through an HTTP proxy on 127.0.0.1 (the test
/// server, which records what the proxy would forward): refused before any request unless
/// `allow_insecure_http` is set.
#[test]
fn plain_http_to_another_host_is_refused_unless_explicitly_allowed() {
    let proxy = server();
    let remote = "http://datafold.foldup-test.invalid";
    let job = Job::new();
    let run = job.finish(job.foldup(remote).env("HTTP_PROXY", proxy.url()));
    job.expect_failure(run, 2, "FOLDUP_ALLOW_INSECURE_HTTP=true");
    assert!(proxy.requests().is_empty(), "the key crossed plain http");

    let job = Job::new();
    let run = job.finish(
        job.foldup(remote)
            .env("HTTP_PROXY", proxy.url())
            .env("FOLDUP_ALLOW_INSECURE_HTTP", "true"),
    );
    job.expect_success(run, &proxy);
    assert_eq!(
        uploads(&proxy)[0].header("host"),
        Some("datafold.foldup-test.invalid"),
        "the request went to the remote host, through the proxy"
    );
}

// --- The other commands under a fault -----------------------------------------------------

#[test]
fn check_and_wait_are_bounded_too() {
    let hanging = with_fault(Fault::Hang);
    let job = Job::new();
    let run = job
        .foldup(&hanging.url())
        .args([
            "check",
            "--ci-config-id",
            CI_CONFIG_ID,
            "--branch",
            "changes",
        ])
        .run();
    run.assert_no_leak();
    assert!(run.elapsed < bound(), "took {:?}", run.elapsed);
    run.expect_code(6)
        .expect_one_sentence("did not answer in time");

    // The upload succeeds, then listing the runs meets the fault.
    let server = server();
    server.set_run_plan(RunPlan {
        after_polls: 1000,
        ..RunPlan::default()
    });
    let job = Job::new();
    let host = server.url();
    let waiting = std::thread::spawn(move || {
        let run = job
            .foldup(&host)
            .env("FOLDUP_WAIT_POLL_SECONDS", "1")
            .args(["dbt", "upload-and-wait", "--ci-config-id", CI_CONFIG_ID])
            .run();
        (run, job)
    });
    // Once the upload has arrived, every later request hangs.
    let deadline = std::time::Instant::now() + bound();
    while uploads(&server).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.set_fault(Fault::Hang);
    let (run, job) = waiting.join().unwrap();
    run.assert_no_leak_in(&[&job.outputs, &job.summary]);
    let run = run.expect_code(6);
    run.expect_one_sentence("did not answer in time");
    assert!(run.elapsed < bound() + bound(), "took {:?}", run.elapsed);
}
