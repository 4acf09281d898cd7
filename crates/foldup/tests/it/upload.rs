//! `foldup upload` and the `dbt` drop-ins end to end: the real binary against the
//! Datafold-compatible test server on 127.0.0.1, with real dbt artifacts.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;
use foldup_testserver::{Fault, RunOutcome, RunPlan, ServerConfig, TestServer};

const CI_CONFIG_ID: &str = "4242";

fn server() -> TestServer {
    TestServer::start(ServerConfig::new(CANARY_KEY, 4242))
}

/// foldup in `cwd` pointed at `server`, with the canary key and quick retries.
fn foldup(cwd: &Path, server: &TestServer) -> Foldup {
    Foldup::new(cwd)
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .env("DATAFOLD_HOST", server.url())
        .env("FOLDUP_RETRY_MAX_SECONDS", "20")
}

/// A dbt project folder holding a copy of the bundled example's target.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_target(), &dir.path().join("target"));
    dir
}

fn upload_requests(server: &TestServer) -> Vec<foldup_testserver::RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("submit_artifacts"))
        .collect()
}

#[test]
fn github_pull_request_upload_sends_the_head_sha_and_the_artifacts() {
    let server = server();
    let dir = project();
    let outputs = dir.path().join("github_output");
    let summary = dir.path().join("step_summary");
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(0);
    run.assert_no_leak();
    assert!(
        run.stderr.contains(&format!("::add-mask::{CANARY_KEY}")),
        "the key is masked on GitHub"
    );

    let (head_sha, pr_number, _) = github_pr_facts();
    let requests = upload_requests(&server);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.path,
        format!("/api/v1/dbt/submit_artifacts/{CI_CONFIG_ID}")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Key {CANARY_KEY}").as_str())
    );
    assert!(request
        .header("user-agent")
        .unwrap_or_default()
        .starts_with("foldup/"));
    assert_eq!(request.field("commit_sha"), Some(head_sha.as_str()));
    assert_eq!(request.field("run_type"), Some("pull_request"));
    let archive = request.archive.as_ref().expect("an artifacts part");
    let mut names = archive.entry_names();
    names.sort();
    assert_eq!(
        names,
        [
            "catalog.json",
            "manifest.json",
            "run_results.json",
            "semantic_manifest.json",
            "sources.json"
        ]
    );
    let manifest = std::fs::read_to_string(example_target().join("manifest.json")).unwrap();
    assert_eq!(
        archive.entry("manifest.json").unwrap().text.as_deref(),
        Some(manifest.as_str())
    );

    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        written.contains(&format!("commit_sha={head_sha}")),
        "{written}"
    );
    assert!(
        written.contains("run_type=pull_request")
            && written.contains(&format!("pr_number={pr_number}"))
    );
    run.assert_no_leak_in(&[&outputs, &summary]);
}

#[test]
fn gitlab_merge_request_upload_sends_the_source_branch_sha() {
    let server = server();
    let dir = project();
    let source_sha = "3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190";
    foldup(dir.path(), &server)
        .envs([
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", source_sha),
            ("CI_MERGE_REQUEST_IID", "12"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "orders"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_PROJECT_PATH", "data/dbt"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "data/dbt"),
            ("CI_DEFAULT_BRANCH", "main"),
        ])
        .env("FOLDUP_CI_CONFIG_ID", CI_CONFIG_ID)
        .args(["upload"])
        .run()
        .expect_code(0)
        .assert_no_leak();
    let requests = upload_requests(&server);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].field("commit_sha"), Some(source_sha));
    assert_eq!(requests[0].field("run_type"), Some("pull_request"));
}

#[test]
fn circleci_default_branch_push_uploads_as_production() {
    let server = server();
    let dir = project();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    foldup(dir.path(), &server)
        .envs([
            ("CIRCLECI", "true"),
            ("CIRCLE_SHA1", sha),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "dbt"),
        ])
        .args(["dbt", "upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(0)
        .assert_no_leak();
    let requests = upload_requests(&server);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (
            requests[0].field("commit_sha"),
            requests[0].field("run_type")
        ),
        (Some(sha), Some("production"))
    );
}

/// A pull-request upload with `--wait`, the diff ending as `plan` says.
fn upload_and_wait(plan: RunPlan, extra: &[&str]) -> (Run, TestServer) {
    let server = server();
    server.set_run_plan(plan);
    let dir = project();
    let mut args = vec!["upload", "--ci-config-id", CI_CONFIG_ID, "--wait"];
    args.extend_from_slice(extra);
    let (outputs, summary) = (dir.path().join("out"), dir.path().join("summary"));
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .env("FOLDUP_WAIT_POLL_SECONDS", "1")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(args)
        .run();
    run.assert_no_leak_in(&[&outputs, &summary]);
    (run, server)
}

#[test]
fn wait_ends_with_0_when_the_diff_is_done() {
    let plan = RunPlan {
        outcome: RunOutcome::Done,
        after_polls: 2,
        pr_num: "2".into(),
    };
    let (run, server) = upload_and_wait(plan, &[]);
    run.expect_code(0);
    let polls = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/runs"))
        .count();
    assert!(polls >= 2, "polled {polls} times");
}

#[test]
fn wait_ends_with_7_when_the_diff_fails_or_is_cancelled() {
    for outcome in [RunOutcome::Failed, RunOutcome::Cancelled] {
        let (run, _) = upload_and_wait(
            RunPlan {
                outcome,
                after_polls: 1,
                pr_num: "2".into(),
            },
            &[],
        );
        let run = run.expect_code(7);
        assert!(run.stderr.contains(outcome.status()), "{}", run.stderr);
    }
}

#[test]
fn wait_ends_with_7_when_the_diff_does_not_finish_in_time() {
    let started = Instant::now();
    let plan = RunPlan {
        outcome: RunOutcome::Done,
        after_polls: 1000,
        pr_num: "2".into(),
    };
    let (run, _) = upload_and_wait(plan, &["--timeout", "3s"]);
    run.expect_code(7);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn transient_503s_and_a_429_with_retry_after_are_retried_to_success() {
    for fault in [
        Fault::Unavailable { times: 2 },
        Fault::RateLimited {
            times: 1,
            retry_after: "1".into(),
        },
    ] {
        let server = server();
        server.set_fault(fault.clone());
        let dir = project();
        foldup(dir.path(), &server)
            .owned_envs(&github_pull_request_env())
            .args(["upload", "--ci-config-id", CI_CONFIG_ID])
            .run()
            .expect_code(0)
            .assert_no_leak();
        let statuses: Vec<_> = upload_requests(&server)
            .iter()
            .map(|r| r.response_status)
            .collect();
        assert_eq!(statuses.last(), Some(&Some(200)), "{fault:?}: {statuses:?}");
        assert!(statuses.len() >= 2, "{fault:?} was retried: {statuses:?}");
    }
}

#[test]
fn persistent_503_stops_after_the_configured_attempts_with_exit_6() {
    let server = server();
    server.set_fault(Fault::Unavailable { times: 1000 });
    let dir = project();
    let started = Instant::now();
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .env("FOLDUP_RETRY_ATTEMPTS", "3")
        .env("FOLDUP_RETRY_MAX_SECONDS", "8")
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(6);
    run.assert_no_leak();
    assert_eq!(upload_requests(&server).len(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(8 + 5),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("503"), "{}", run.stderr);
}

#[test]
fn a_rejected_key_exits_4_and_an_unknown_ci_config_exits_5() {
    let server = server();
    let dir = project();
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .env("DATAFOLD_API_KEY", "dfk-canary-wrong-key")
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(4);
    assert!(
        !run.stderr.contains("dfk-canary-wrong-key")
            || run
                .stderr
                .lines()
                .all(|l| l.starts_with("::add-mask::") || !l.contains("dfk-canary-wrong-key"))
    );

    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", "999"])
        .run()
        .expect_code(5);
    run.assert_no_leak();
}

#[test]
fn a_missing_api_key_exits_4_naming_the_variable_but_a_fork_is_skipped() {
    let server = server();
    let dir = project();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_HOST", server.url())
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(4);
    assert!(run.stderr.contains("DATAFOLD_API_KEY"), "{}", run.stderr);

    let fork =
        repo_root().join("crates/foldup-github/tests/fixtures/pull_request.opened.fork.json");
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_HOST", server.url())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_EVENT_PATH", &fork)
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(0);
    assert!(run.stderr.contains("fork"), "{}", run.stderr);
    assert!(
        server.requests().is_empty(),
        "nothing is sent without a key"
    );
}

#[test]
fn missing_or_corrupt_manifest_exits_3_before_any_request() {
    let server = server();
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("target")).unwrap();
    let corrupt = project();
    std::fs::write(
        corrupt.path().join("target/manifest.json"),
        "{\"metadata\": {\"dbt_schema_version\": ",
    )
    .unwrap();
    for dir in [&empty, &corrupt] {
        let run = foldup(dir.path(), &server)
            .owned_envs(&github_pull_request_env())
            .args(["upload", "--ci-config-id", CI_CONFIG_ID])
            .run()
            .expect_code(3);
        assert!(run.stderr.contains("manifest.json"), "{}", run.stderr);
    }
    assert!(server.requests().is_empty());
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_target_is_refused() {
    let server = server();
    let dir = project();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
    std::fs::remove_file(dir.path().join("target/catalog.json")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.json"),
        dir.path().join("target/catalog.json"),
    )
    .unwrap();
    for extra in [&[][..], &["--all-files"][..]] {
        let run = foldup(dir.path(), &server)
            .owned_envs(&github_pull_request_env())
            .args(["upload", "--ci-config-id", CI_CONFIG_ID])
            .args(extra.iter().copied())
            .run()
            .expect_code(3);
        assert!(
            run.stderr.contains("catalog.json") && run.stderr.contains("outside"),
            "{}",
            run.stderr
        );
    }
    assert!(server.requests().is_empty());
}

#[test]
fn dry_run_sends_nothing_and_prints_what_would_be_sent() {
    let server = server();
    let dir = project();
    let archive = dir.path().join("kept.zip");
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .args([
            "upload",
            "--ci-config-id",
            CI_CONFIG_ID,
            "--dry-run",
            "--output",
        ])
        .args([archive.to_str().unwrap()])
        .run()
        .expect_code(0);
    run.assert_no_leak();
    let (head_sha, _, _) = github_pr_facts();
    assert!(
        run.stdout
            .contains(&format!("/api/v1/dbt/submit_artifacts/{CI_CONFIG_ID}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&head_sha) && run.stdout.contains("pull_request"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("manifest.json"));
    assert!(server.requests().is_empty());
    let bytes = std::fs::read(&archive).expect("--output keeps the archive");
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    run.assert_no_leak_in(&[&archive]);
}

#[test]
fn an_unknown_run_type_says_how_to_set_it_or_is_skipped_by_policy() {
    let server = server();
    let dir = project();
    let tag = [
        ("CIRCLECI", "true"),
        ("CIRCLE_SHA1", "0123456789abcdef0123456789abcdef01234567"),
        ("CIRCLE_TAG", "v1.2.0"),
        ("CIRCLE_PROJECT_USERNAME", "acme"),
        ("CIRCLE_PROJECT_REPONAME", "dbt"),
    ];
    let run = foldup(dir.path(), &server)
        .envs(tag)
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains("--run-type"), "{}", run.stderr);
    let run = foldup(dir.path(), &server)
        .envs(tag)
        .env("FOLDUP_SKIP_UNKNOWN_RUN_TYPE", "true")
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .run()
        .expect_code(0);
    assert!(run.stderr.contains("Skipping"), "{}", run.stderr);
    assert!(server.requests().is_empty());
}

#[test]
fn check_reports_whether_datafold_has_the_artifacts() {
    let server = server();
    let dir = project();
    let sha = "89abcdef0123456789abcdef0123456789abcdef";
    let base = [
        "dbt",
        "check-post-upload-dbt-artifacts",
        "--ci-config-id",
        CI_CONFIG_ID,
        "--run-type",
        "production",
    ];
    let run = foldup(dir.path(), &server)
        .args(base)
        .args(["--branch", "main", "--commit-sha", sha])
        .run()
        .expect_code(3);
    run.assert_no_leak();
    foldup(dir.path(), &server)
        .args([
            "dbt",
            "upload",
            "--ci-config-id",
            CI_CONFIG_ID,
            "--run-type",
            "production",
            "--commit-sha",
            sha,
        ])
        .run()
        .expect_code(0);
    foldup(dir.path(), &server)
        .args(base)
        .args(["--branch", "main", "--commit-sha", sha])
        .run()
        .expect_code(0)
        .assert_no_leak();
    let check = server
        .requests()
        .into_iter()
        .find(|r| r.path.contains("post_upload_check_artifacts"))
        .unwrap();
    assert_eq!(
        (check.field("commit_sha"), check.field("branch")),
        (Some(sha), Some("main"))
    );
}

#[test]
fn a_failed_archive_closes_its_log_group_before_the_error() {
    let server = server();
    let dir = project();
    let output = dir.path().join("no-such-folder/artifacts.zip");
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", CI_CONFIG_ID, "--output"])
        .args([output.to_str().unwrap()])
        .run()
        .expect_code(3);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let opened = lines.iter().filter(|l| l.starts_with("::group::")).count();
    let closed = lines
        .iter()
        .filter(|l| l.starts_with("::endgroup::"))
        .count();
    assert_eq!(
        opened, 2,
        "the context and artifacts groups: {}",
        run.stderr
    );
    assert_eq!(closed, opened, "a group was left open: {}", run.stderr);
    let last_closed = lines.iter().rposition(|l| l.starts_with("::endgroup::"));
    let error = lines.iter().position(|l| l.starts_with("::error"));
    assert!(
        error.is_some() && error > last_closed,
        "the error is shown outside the groups: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot write the archive"),
        "{}",
        run.stderr
    );
    assert!(server.requests().is_empty());
}
