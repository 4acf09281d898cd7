//! Table tests for every built-in provider, from each CI's documented variables: full, realistic
//! variable sets with decoys (variables another CI or tool also sets), for a pull request, a push
//! to the default branch, a push to another branch, a tag, a fork pull request where the CI builds
//! forks, and the merge-commit trap where the CI has one. Each composed context is snapshotted
//! (`tests/it/snapshots/`), and the fields that matter most are also asserted here.

use crate::support::*;
use foldup_core::{CiContext, RunType};

fn case(provider: &str, name: &str, vars: &[(&str, &str)], production: Option<&str>) -> CiContext {
    let ctx = context(provider, &env(vars), production);
    insta::assert_snapshot!(format!("{provider}__{name}"), render(&ctx));
    ctx
}

fn commit(ctx: &CiContext) -> Option<&str> {
    ctx.commit_sha.get().map(|s| s.as_str())
}

/// Variables most CI images carry anyway.
const DECOYS: [(&str, &str); 4] = [
    ("CI", "true"),
    ("HOME", "/home/runner"),
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOSTNAME", "runner-7f9c"),
];

fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<_> = DECOYS.to_vec();
    all.extend_from_slice(base);
    all.extend_from_slice(extra);
    all
}

#[test]
fn bitbucket_pipelines() {
    let base = [
        ("BITBUCKET_BUILD_NUMBER", "118"),
        (
            "BITBUCKET_PIPELINE_UUID",
            "{0f3e2a4c-7d1b-4c8e-9a6f-2b5d8e1c3a7f}",
        ),
        (
            "BITBUCKET_STEP_UUID",
            "{8a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d}",
        ),
        ("BITBUCKET_REPO_FULL_NAME", "acme/analytics"),
        ("BITBUCKET_REPO_SLUG", "analytics"),
        ("BITBUCKET_WORKSPACE", "acme"),
        (
            "BITBUCKET_GIT_HTTP_ORIGIN",
            "http://bitbucket.org/acme/analytics",
        ),
        (
            "BITBUCKET_CLONE_DIR",
            "/opt/atlassian/pipelines/agent/build",
        ),
    ];
    let pr = case(
        "bitbucket-pipelines",
        "pull_request",
        &with(
            &base,
            &[
                ("BITBUCKET_COMMIT", HEAD),
                ("BITBUCKET_BRANCH", "feature/orders"),
                ("BITBUCKET_PR_ID", "42"),
                ("BITBUCKET_PR_DESTINATION_BRANCH", "main"),
                (
                    "BITBUCKET_PR_DESTINATION_COMMIT",
                    "5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80",
                ),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.run_type.value, Some(RunType::PullRequest));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));

    let main = case(
        "bitbucket-pipelines",
        "push_default_branch",
        &with(
            &base,
            &[("BITBUCKET_COMMIT", PUSHED), ("BITBUCKET_BRANCH", "main")],
        ),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(
        main.build_url.value.as_deref(),
        Some("http://bitbucket.org/acme/analytics/pipelines/results/118")
    );

    let other = case(
        "bitbucket-pipelines",
        "push_other_branch",
        &with(
            &base,
            &[
                ("BITBUCKET_COMMIT", PUSHED),
                ("BITBUCKET_BRANCH", "develop"),
            ],
        ),
        None,
    );
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "bitbucket-pipelines",
        "tag",
        &with(
            &base,
            &[("BITBUCKET_COMMIT", PUSHED), ("BITBUCKET_TAG", "v1.4.0")],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
    assert_eq!(tag.branch.value, None);
}

#[test]
fn azure_pipelines() {
    let base = [
        ("TF_BUILD", "True"),
        ("AGENT_NAME", "Hosted Agent"),
        ("BUILD_BUILDID", "2718"),
        ("BUILD_BUILDNUMBER", "20261206.3"),
        ("BUILD_REPOSITORY_NAME", "acme/analytics"),
        ("BUILD_REPOSITORY_PROVIDER", "GitHub"),
        ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"),
        ("SYSTEM_TEAMPROJECT", "Data Platform"),
    ];
    let pr = case(
        "azure-pipelines",
        "pull_request_merge_commit_trap",
        &with(
            &base,
            &[
                ("BUILD_REASON", "PullRequest"),
                ("BUILD_SOURCEVERSION", MERGE),
                ("BUILD_SOURCEBRANCH", "refs/pull/42/merge"),
                ("BUILD_SOURCEBRANCHNAME", "merge"),
                ("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "42"),
                ("SYSTEM_PULLREQUEST_PULLREQUESTID", "1187654321"),
                (
                    "SYSTEM_PULLREQUEST_SOURCEBRANCH",
                    "refs/heads/feature/orders",
                ),
                ("SYSTEM_PULLREQUEST_TARGETBRANCH", "refs/heads/main"),
                ("SYSTEM_PULLREQUEST_SOURCECOMMITID", HEAD),
                ("SYSTEM_PULLREQUEST_ISFORK", "False"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));
    assert_eq!(pr.fork.value, Some(false));

    let fork = case(
        "azure-pipelines",
        "fork_pull_request",
        &with(
            &base,
            &[
                ("BUILD_REASON", "PullRequest"),
                ("BUILD_SOURCEVERSION", MERGE),
                ("BUILD_SOURCEBRANCH", "refs/pull/43/merge"),
                ("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "43"),
                ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/patch-1"),
                ("SYSTEM_PULLREQUEST_TARGETBRANCH", "refs/heads/main"),
                ("SYSTEM_PULLREQUEST_SOURCECOMMITID", HEAD),
                ("SYSTEM_PULLREQUEST_ISFORK", "True"),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    // Azure Repos pull requests name no head commit: the merge commit is refused, not reported.
    let repos = case(
        "azure-pipelines",
        "azure_repos_pull_request_without_head",
        &with(
            &base,
            &[
                ("BUILD_REASON", "PullRequest"),
                ("BUILD_SOURCEVERSION", MERGE),
                ("BUILD_SOURCEBRANCH", "refs/pull/57/merge"),
                ("SYSTEM_PULLREQUEST_PULLREQUESTID", "57"),
                (
                    "SYSTEM_PULLREQUEST_SOURCEBRANCH",
                    "refs/heads/feature/orders",
                ),
                ("SYSTEM_PULLREQUEST_TARGETBRANCH", "refs/heads/main"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&repos), None);
    assert_eq!(repos.pr_number.value, Some(57));

    let main = case(
        "azure-pipelines",
        "push_default_branch",
        &with(
            &base,
            &[
                ("BUILD_REASON", "IndividualCI"),
                ("BUILD_SOURCEVERSION", PUSHED),
                ("BUILD_SOURCEBRANCH", "refs/heads/main"),
                ("BUILD_SOURCEBRANCHNAME", "main"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&main), Some(PUSHED));
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(
        main.build_url.value.as_deref(),
        Some("https://dev.azure.com/acme/Data Platform/_build/results?buildId=2718")
    );

    let other = case(
        "azure-pipelines",
        "push_other_branch",
        &with(
            &base,
            &[
                ("BUILD_REASON", "BatchedCI"),
                ("BUILD_SOURCEVERSION", PUSHED),
                ("BUILD_SOURCEBRANCH", "refs/heads/release/2026-12"),
                ("BUILD_SOURCEBRANCHNAME", "2026-12"),
            ],
        ),
        None,
    );
    assert_eq!(other.branch.value.as_deref(), Some("release/2026-12"));
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "azure-pipelines",
        "tag",
        &with(
            &base,
            &[
                ("BUILD_REASON", "IndividualCI"),
                ("BUILD_SOURCEVERSION", PUSHED),
                ("BUILD_SOURCEBRANCH", "refs/tags/v1.4.0"),
                ("BUILD_SOURCEBRANCHNAME", "v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);

    let scheduled = case(
        "azure-pipelines",
        "schedule_default_branch",
        &with(
            &base,
            &[
                ("BUILD_REASON", "Schedule"),
                ("BUILD_SOURCEVERSION", PUSHED),
                ("BUILD_SOURCEBRANCH", "refs/heads/main"),
            ],
        ),
        None,
    );
    assert_eq!(scheduled.run_type.value, Some(RunType::Production));
}

#[test]
fn jenkins() {
    let base = [
        ("JENKINS_URL", "https://jenkins.acme.dev/"),
        ("JENKINS_HOME", "/var/jenkins_home"),
        ("BUILD_ID", "311"),
        ("BUILD_NUMBER", "311"),
        ("JOB_NAME", "analytics/main"),
        ("GIT_URL", "https://github.com/acme/analytics.git"),
        ("EXECUTOR_NUMBER", "0"),
    ];
    let pr = case(
        "jenkins",
        "pull_request_merge_commit_trap",
        &with(
            &base,
            &[
                (
                    "BUILD_URL",
                    "https://jenkins.acme.dev/job/analytics/job/PR-42/3/",
                ),
                ("BRANCH_NAME", "PR-42"),
                ("CHANGE_ID", "42"),
                ("CHANGE_BRANCH", "feature/orders"),
                ("CHANGE_TARGET", "main"),
                ("CHANGE_URL", "https://github.com/acme/analytics/pull/42"),
                ("GIT_COMMIT", MERGE),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), None, "GIT_COMMIT is Jenkins' merge commit");
    assert_eq!(pr.run_type.value, Some(RunType::PullRequest));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.repository.value.as_deref(), Some("acme/analytics"));

    let fork = case(
        "jenkins",
        "fork_pull_request",
        &with(
            &base,
            &[
                (
                    "BUILD_URL",
                    "https://jenkins.acme.dev/job/analytics/job/PR-43/1/",
                ),
                ("BRANCH_NAME", "PR-43"),
                ("CHANGE_ID", "43"),
                ("CHANGE_BRANCH", "patch-1"),
                ("CHANGE_TARGET", "main"),
                ("CHANGE_FORK", "contributor"),
                ("GIT_COMMIT", MERGE),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    let main = case(
        "jenkins",
        "push_default_branch",
        &with(
            &base,
            &[
                (
                    "BUILD_URL",
                    "https://jenkins.acme.dev/job/analytics/job/main/311/",
                ),
                ("BRANCH_NAME", "main"),
                ("BRANCH_IS_PRIMARY", "true"),
                ("GIT_BRANCH", "main"),
                ("GIT_COMMIT", PUSHED),
            ],
        ),
        None,
    );
    assert_eq!(commit(&main), Some(PUSHED));
    assert_eq!(main.run_type.value, Some(RunType::Production));

    // A freestyle job: no BRANCH_NAME, and the Git plugin's GIT_BRANCH carries the remote.
    let freestyle = case(
        "jenkins",
        "freestyle_other_branch",
        &with(
            &base,
            &[
                (
                    "BUILD_URL",
                    "https://jenkins.acme.dev/job/analytics-nightly/311/",
                ),
                ("GIT_BRANCH", "origin/develop"),
                ("GIT_COMMIT", PUSHED),
            ],
        ),
        None,
    );
    assert_eq!(freestyle.branch.value.as_deref(), Some("develop"));
    assert_eq!(freestyle.run_type.value, None);

    let tag = case(
        "jenkins",
        "tag",
        &with(
            &base,
            &[
                (
                    "BUILD_URL",
                    "https://jenkins.acme.dev/job/analytics/job/v1.4.0/1/",
                ),
                ("BRANCH_NAME", "v1.4.0"),
                ("TAG_NAME", "v1.4.0"),
                ("GIT_COMMIT", PUSHED),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
}

#[test]
fn buildkite() {
    let base = [
        ("BUILDKITE", "true"),
        ("BUILDKITE_AGENT_NAME", "agent-1"),
        ("BUILDKITE_BUILD_ID", "0190a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b"),
        ("BUILDKITE_BUILD_NUMBER", "1514"),
        (
            "BUILDKITE_BUILD_URL",
            "https://buildkite.com/acme/analytics/builds/1514",
        ),
        ("BUILDKITE_PIPELINE_DEFAULT_BRANCH", "main"),
        ("BUILDKITE_PIPELINE_SLUG", "analytics"),
        ("BUILDKITE_REPO", "git@github.com:acme/analytics.git"),
        ("BUILDKITE_SOURCE", "webhook"),
    ];
    let pr = case(
        "buildkite",
        "pull_request",
        &with(
            &base,
            &[
                ("BUILDKITE_COMMIT", HEAD),
                ("BUILDKITE_BRANCH", "feature/orders"),
                ("BUILDKITE_TAG", ""),
                ("BUILDKITE_PULL_REQUEST", "42"),
                ("BUILDKITE_PULL_REQUEST_BASE_BRANCH", "main"),
                (
                    "BUILDKITE_PULL_REQUEST_REPO",
                    "git://github.com/acme/analytics.git",
                ),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(pr.fork.value, Some(false));
    assert_eq!(pr.repository.value.as_deref(), Some("acme/analytics"));

    let fork = case(
        "buildkite",
        "fork_pull_request",
        &with(
            &base,
            &[
                ("BUILDKITE_COMMIT", HEAD),
                ("BUILDKITE_BRANCH", "contributor:patch-1"),
                ("BUILDKITE_PULL_REQUEST", "43"),
                ("BUILDKITE_PULL_REQUEST_BASE_BRANCH", "main"),
                (
                    "BUILDKITE_PULL_REQUEST_REPO",
                    "git://github.com/contributor/analytics.git",
                ),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    let main = case(
        "buildkite",
        "push_default_branch",
        &with(
            &base,
            &[
                ("BUILDKITE_COMMIT", PUSHED),
                ("BUILDKITE_BRANCH", "main"),
                ("BUILDKITE_PULL_REQUEST", "false"),
                ("BUILDKITE_PULL_REQUEST_BASE_BRANCH", ""),
                ("BUILDKITE_PULL_REQUEST_REPO", ""),
            ],
        ),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(main.pr_number.value, None);

    // The pipeline's default branch is trunk: main is not production here.
    let trunk = [
        ("BUILDKITE_COMMIT", PUSHED),
        ("BUILDKITE_BRANCH", "main"),
        ("BUILDKITE_PULL_REQUEST", "false"),
        ("BUILDKITE_PIPELINE_DEFAULT_BRANCH", "trunk"),
    ];
    let other = case("buildkite", "push_other_branch", &with(&base, &trunk), None);
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "buildkite",
        "tag",
        &with(
            &base,
            &[
                ("BUILDKITE_COMMIT", PUSHED),
                ("BUILDKITE_BRANCH", "v1.4.0"),
                ("BUILDKITE_TAG", "v1.4.0"),
                ("BUILDKITE_PULL_REQUEST", "false"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);

    // A build started from the UI without a commit: BUILDKITE_COMMIT is "HEAD", not a sha.
    let ui = case(
        "buildkite",
        "ui_build_head_is_not_a_sha",
        &with(
            &base,
            &[
                ("BUILDKITE_COMMIT", "HEAD"),
                ("BUILDKITE_BRANCH", "main"),
                ("BUILDKITE_PULL_REQUEST", "false"),
                ("BUILDKITE_SOURCE", "ui"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&ui), None);
    assert!(!ui.warnings.is_empty());
}

#[test]
fn aws_codebuild() {
    let base = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("CODEBUILD_BUILD_ARN", "arn:aws:codebuild:eu-west-1:123456789012:build/analytics:7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"),
        ("CODEBUILD_BUILD_ID", "analytics:7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"),
        ("CODEBUILD_BUILD_NUMBER", "88"),
        ("CODEBUILD_BUILD_URL", "https://eu-west-1.console.aws.amazon.com/codebuild/home?region=eu-west-1#/builds/analytics:7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/view/new"),
        ("CODEBUILD_INITIATOR", "GitHub-Hookshot/5d1e2f3"),
        ("CODEBUILD_SOURCE_REPO_URL", "https://github.com/acme/analytics.git"),
        ("CODEBUILD_SRC_DIR", "/codebuild/output/src123/src/github.com/acme/analytics"),
    ];
    let pr = case(
        "aws-codebuild",
        "pull_request",
        &with(
            &base,
            &[
                ("CODEBUILD_RESOLVED_SOURCE_VERSION", HEAD),
                ("CODEBUILD_SOURCE_VERSION", "pr/42"),
                ("CODEBUILD_WEBHOOK_TRIGGER", "pr/42"),
                ("CODEBUILD_WEBHOOK_EVENT", "PULL_REQUEST_UPDATED"),
                ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/feature/orders"),
                ("CODEBUILD_WEBHOOK_BASE_REF", "refs/heads/main"),
                ("CODEBUILD_WEBHOOK_PREV_COMMIT", PUSHED),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));
    assert_eq!(pr.repository.value.as_deref(), Some("acme/analytics"));

    let main = case(
        "aws-codebuild",
        "push_default_branch",
        &with(
            &base,
            &[
                ("CODEBUILD_RESOLVED_SOURCE_VERSION", PUSHED),
                ("CODEBUILD_SOURCE_VERSION", PUSHED),
                ("CODEBUILD_WEBHOOK_TRIGGER", "branch/main"),
                ("CODEBUILD_WEBHOOK_EVENT", "PUSH"),
                ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/main"),
            ],
        ),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(main.base_branch.value, None);

    let other = case(
        "aws-codebuild",
        "push_other_branch",
        &with(
            &base,
            &[
                ("CODEBUILD_RESOLVED_SOURCE_VERSION", PUSHED),
                ("CODEBUILD_WEBHOOK_TRIGGER", "branch/develop"),
                ("CODEBUILD_WEBHOOK_EVENT", "PUSH"),
                ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/develop"),
            ],
        ),
        None,
    );
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "aws-codebuild",
        "tag",
        &with(
            &base,
            &[
                ("CODEBUILD_RESOLVED_SOURCE_VERSION", PUSHED),
                ("CODEBUILD_WEBHOOK_TRIGGER", "tag/v1.4.0"),
                ("CODEBUILD_WEBHOOK_EVENT", "PUSH"),
                ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/tags/v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
    assert_eq!(tag.branch.value, None);
}

#[test]
fn google_cloud_build() {
    // Substitutions as the documented build step passes them with env:.
    let base = [
        ("BUILD_ID", "b1e6661e-e4f2-4156-9ab9-82a19e0f5c3d"),
        ("PROJECT_ID", "acme-data"),
        ("PROJECT_NUMBER", "123456789012"),
        ("LOCATION", "europe-west1"),
        ("TRIGGER_NAME", "dbt-ci"),
        ("REPO_NAME", "analytics"),
        ("REPO_FULL_NAME", "acme/analytics"),
    ];
    let pr = case(
        "google-cloud-build",
        "pull_request",
        &with(
            &base,
            &[
                ("COMMIT_SHA", HEAD),
                ("SHORT_SHA", "4f2c1b9"),
                ("BRANCH_NAME", "feature/orders"),
                ("_PR_NUMBER", "42"),
                ("_HEAD_BRANCH", "feature/orders"),
                ("_BASE_BRANCH", "main"),
                ("_HEAD_REPO_URL", "https://github.com/acme/analytics"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.pr_number.value, Some(42));
    assert_eq!(
        pr.build_url.value.as_deref(),
        Some("https://console.cloud.google.com/cloud-build/builds;region=europe-west1/b1e6661e-e4f2-4156-9ab9-82a19e0f5c3d?project=acme-data")
    );

    let main = case(
        "google-cloud-build",
        "push_default_branch",
        &with(
            &base,
            &[
                ("COMMIT_SHA", PUSHED),
                ("BRANCH_NAME", "main"),
                ("REF_NAME", "main"),
            ],
        ),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));

    let other = case(
        "google-cloud-build",
        "push_other_branch",
        &with(
            &base,
            &[
                ("COMMIT_SHA", PUSHED),
                ("BRANCH_NAME", "develop"),
                ("_PR_NUMBER", ""),
            ],
        ),
        None,
    );
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "google-cloud-build",
        "tag",
        &with(
            &base,
            &[
                ("COMMIT_SHA", PUSHED),
                ("TAG_NAME", "v1.4.0"),
                ("REF_NAME", "v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
}

/// Drone's and Harness' shared variables; Harness adds its own.
fn drone_like(
    event: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut vars = vec![
        ("DRONE", "true"),
        ("DRONE_BUILD_NUMBER", "77"),
        ("DRONE_BUILD_EVENT", event),
        (
            "DRONE_BUILD_LINK",
            "https://drone.acme.dev/acme/analytics/77",
        ),
        ("DRONE_REPO", "acme/analytics"),
        ("DRONE_REPO_BRANCH", "main"),
        ("DRONE_REPO_LINK", "https://github.com/acme/analytics"),
        ("DRONE_SYSTEM_HOST", "drone.acme.dev"),
    ];
    vars.extend_from_slice(extra);
    with(&vars, &[])
}

const DRONE_PR: [(&str, &str); 7] = [
    ("DRONE_COMMIT_SHA", HEAD),
    ("DRONE_COMMIT_REF", "refs/pull/42/head"),
    ("DRONE_PULL_REQUEST", "42"),
    ("DRONE_SOURCE_BRANCH", "feature/orders"),
    ("DRONE_TARGET_BRANCH", "main"),
    ("DRONE_BRANCH", "main"),
    ("DRONE_COMMIT_BRANCH", "main"),
];

#[test]
fn drone() {
    let pr = case(
        "drone",
        "pull_request",
        &drone_like("pull_request", &DRONE_PR),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));

    let push = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_COMMIT_REF", "refs/heads/main"),
        ("DRONE_BRANCH", "main"),
        ("DRONE_COMMIT_BRANCH", "main"),
        ("DRONE_SOURCE_BRANCH", "main"),
        ("DRONE_TARGET_BRANCH", "main"),
    ];
    let main = case(
        "drone",
        "push_default_branch",
        &drone_like("push", &push),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    assert_eq!(main.default_branch.value.as_deref(), Some("main"));

    let develop = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_BRANCH", "develop"),
        ("DRONE_COMMIT_BRANCH", "develop"),
    ];
    let other = case(
        "drone",
        "push_other_branch",
        &drone_like("push", &develop),
        None,
    );
    assert_eq!(other.run_type.value, None);

    let tag = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_TAG", "v1.4.0"),
        ("DRONE_COMMIT_REF", "refs/tags/v1.4.0"),
    ];
    let tag = case("drone", "tag", &drone_like("tag", &tag), None);
    assert_eq!(tag.run_type.value, None);

    let cron = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_BRANCH", "main"),
        ("DRONE_CRON", "nightly"),
    ];
    let cron = case(
        "drone",
        "cron_default_branch",
        &drone_like("cron", &cron),
        None,
    );
    assert_eq!(cron.run_type.value, Some(RunType::Production));

    let promote = [("DRONE_COMMIT_SHA", PUSHED), ("DRONE_BRANCH", "main")];
    let promote = case("drone", "promote", &drone_like("promote", &promote), None);
    assert_eq!(promote.run_type.value, None);
}

#[test]
fn harness() {
    let harness = |event: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut vars = drone_like(event, extra);
        vars.extend_from_slice(&[
            ("HARNESS_ACCOUNT_ID", "px7xd_BFRCi-pfWPYXVjvw"),
            ("HARNESS_ORG_ID", "default"),
            ("HARNESS_PROJECT_ID", "analytics"),
            ("HARNESS_PIPELINE_ID", "dbt_ci"),
            ("HARNESS_BUILD_ID", "77"),
            ("CI_BUILD_LINK", "https://app.harness.io/ng/account/px7xd_BFRCi-pfWPYXVjvw/ci/orgs/default/projects/analytics/pipelines/dbt_ci/executions/77/pipeline"),
        ]);
        vars
    };
    let pr = case(
        "harness",
        "pull_request",
        &harness("pull_request", &DRONE_PR),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.pr_number.value, Some(42));
    let push = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_BRANCH", "main"),
        ("DRONE_COMMIT_BRANCH", "main"),
    ];
    let main = case(
        "harness",
        "push_default_branch",
        &harness("push", &push),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    let develop = [
        ("DRONE_COMMIT_SHA", PUSHED),
        ("DRONE_COMMIT_BRANCH", "develop"),
    ];
    let other = case(
        "harness",
        "push_other_branch",
        &harness("push", &develop),
        None,
    );
    assert_eq!(other.run_type.value, None);
    let tag = [("DRONE_COMMIT_SHA", PUSHED), ("DRONE_TAG", "v1.4.0")];
    let tag = case("harness", "tag", &harness("tag", &tag), None);
    assert_eq!(tag.run_type.value, None);
}

#[test]
fn woodpecker() {
    // CI_COMMIT_SHA and CI_PIPELINE_URL are GitLab's names too: GITLAB_CI is what says GitLab.
    let base = [
        ("CI", "woodpecker"),
        ("CI_REPO", "acme/analytics"),
        ("CI_REPO_OWNER", "acme"),
        ("CI_REPO_NAME", "analytics"),
        ("CI_REPO_DEFAULT_BRANCH", "main"),
        ("CI_REPO_URL", "https://codeberg.org/acme/analytics"),
        ("CI_PIPELINE_NUMBER", "64"),
        (
            "CI_PIPELINE_URL",
            "https://ci.codeberg.org/repos/1234/pipeline/64",
        ),
        ("CI_FORGE_TYPE", "forgejo"),
    ];
    let vars = |extra: &[(&'static str, &'static str)]| {
        let mut all = vec![("HOME", "/root")];
        all.extend_from_slice(&base);
        all.extend_from_slice(extra);
        all
    };
    let pr = case(
        "woodpecker",
        "pull_request",
        &vars(&[
            ("CI_PIPELINE_EVENT", "pull_request"),
            ("CI_COMMIT_SHA", HEAD),
            ("CI_COMMIT_REF", "refs/pull/42/head"),
            ("CI_COMMIT_PULL_REQUEST", "42"),
            ("CI_COMMIT_SOURCE_BRANCH", "feature/orders"),
            ("CI_COMMIT_TARGET_BRANCH", "main"),
            ("CI_COMMIT_BRANCH", "main"),
        ]),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    let main = case(
        "woodpecker",
        "push_default_branch",
        &vars(&[
            ("CI_PIPELINE_EVENT", "push"),
            ("CI_COMMIT_SHA", PUSHED),
            ("CI_COMMIT_REF", "refs/heads/main"),
            ("CI_COMMIT_BRANCH", "main"),
        ]),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));
    let other = case(
        "woodpecker",
        "push_other_branch",
        &vars(&[
            ("CI_PIPELINE_EVENT", "push"),
            ("CI_COMMIT_SHA", PUSHED),
            ("CI_COMMIT_BRANCH", "develop"),
        ]),
        None,
    );
    assert_eq!(other.run_type.value, None);
    let tag = case(
        "woodpecker",
        "tag",
        &vars(&[
            ("CI_PIPELINE_EVENT", "tag"),
            ("CI_COMMIT_SHA", PUSHED),
            ("CI_COMMIT_TAG", "v1.4.0"),
            ("CI_COMMIT_REF", "refs/tags/v1.4.0"),
        ]),
        None,
    );
    assert_eq!(tag.run_type.value, None);
}

#[test]
fn travis_ci() {
    let base = [
        ("TRAVIS", "true"),
        ("CONTINUOUS_INTEGRATION", "true"),
        ("TRAVIS_BUILD_ID", "612345678"),
        ("TRAVIS_BUILD_NUMBER", "901"),
        (
            "TRAVIS_BUILD_WEB_URL",
            "https://app.travis-ci.com/acme/analytics/builds/612345678",
        ),
        ("TRAVIS_REPO_SLUG", "acme/analytics"),
    ];
    let pr = case(
        "travis-ci",
        "pull_request_merge_commit_trap",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "pull_request"),
                ("TRAVIS_COMMIT", MERGE),
                ("TRAVIS_PULL_REQUEST", "42"),
                ("TRAVIS_PULL_REQUEST_SHA", HEAD),
                ("TRAVIS_PULL_REQUEST_BRANCH", "feature/orders"),
                ("TRAVIS_PULL_REQUEST_SLUG", "acme/analytics"),
                ("TRAVIS_BRANCH", "main"),
                ("TRAVIS_TAG", ""),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));
    assert_eq!(pr.fork.value, Some(false));

    let fork = case(
        "travis-ci",
        "fork_pull_request",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "pull_request"),
                ("TRAVIS_COMMIT", MERGE),
                ("TRAVIS_PULL_REQUEST", "43"),
                ("TRAVIS_PULL_REQUEST_SHA", HEAD),
                ("TRAVIS_PULL_REQUEST_BRANCH", "patch-1"),
                ("TRAVIS_PULL_REQUEST_SLUG", "contributor/analytics"),
                ("TRAVIS_BRANCH", "main"),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    let main = case(
        "travis-ci",
        "push_default_branch",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "push"),
                ("TRAVIS_COMMIT", PUSHED),
                ("TRAVIS_PULL_REQUEST", "false"),
                ("TRAVIS_PULL_REQUEST_SHA", ""),
                ("TRAVIS_PULL_REQUEST_BRANCH", ""),
                ("TRAVIS_BRANCH", "main"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&main), Some(PUSHED));
    assert_eq!(main.run_type.value, Some(RunType::Production));

    let other = case(
        "travis-ci",
        "push_other_branch",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "push"),
                ("TRAVIS_COMMIT", PUSHED),
                ("TRAVIS_PULL_REQUEST", "false"),
                ("TRAVIS_BRANCH", "develop"),
            ],
        ),
        None,
    );
    assert_eq!(other.run_type.value, None);

    // On a tag build TRAVIS_BRANCH holds the tag's name, not a branch.
    let tag = case(
        "travis-ci",
        "tag",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "push"),
                ("TRAVIS_COMMIT", PUSHED),
                ("TRAVIS_PULL_REQUEST", "false"),
                ("TRAVIS_BRANCH", "v1.4.0"),
                ("TRAVIS_TAG", "v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
    assert_eq!(tag.branch.value, None);

    let cron = case(
        "travis-ci",
        "cron_default_branch",
        &with(
            &base,
            &[
                ("TRAVIS_EVENT_TYPE", "cron"),
                ("TRAVIS_COMMIT", PUSHED),
                ("TRAVIS_PULL_REQUEST", "false"),
                ("TRAVIS_BRANCH", "main"),
            ],
        ),
        None,
    );
    assert_eq!(cron.run_type.value, Some(RunType::Production));
}

#[test]
fn semaphore() {
    let base = [
        ("SEMAPHORE", "true"),
        ("SEMAPHORE_ORGANIZATION_URL", "https://acme.semaphoreci.com"),
        ("SEMAPHORE_PROJECT_NAME", "analytics"),
        (
            "SEMAPHORE_WORKFLOW_ID",
            "65f8a7b6-c5d4-4e3f-9a2b-1c0d9e8f7a6b",
        ),
        (
            "SEMAPHORE_PIPELINE_ID",
            "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a",
        ),
        ("SEMAPHORE_GIT_PROVIDER", "github"),
        ("SEMAPHORE_GIT_REPO_SLUG", "acme/analytics"),
        ("SEMAPHORE_GIT_URL", "git@github.com:acme/analytics.git"),
        ("SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE", "false"),
        ("SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK", "true"),
    ];
    let pr = case(
        "semaphore",
        "pull_request_merge_commit_trap",
        &with(
            &base,
            &[
                ("SEMAPHORE_GIT_REF_TYPE", "pull-request"),
                ("SEMAPHORE_GIT_REF", "refs/pull/42/merge"),
                ("SEMAPHORE_GIT_SHA", MERGE),
                ("SEMAPHORE_GIT_BRANCH", "main"),
                ("SEMAPHORE_GIT_PR_NUMBER", "42"),
                ("SEMAPHORE_GIT_PR_SHA", HEAD),
                ("SEMAPHORE_GIT_PR_BRANCH", "feature/orders"),
                ("SEMAPHORE_GIT_PR_SLUG", "acme/analytics"),
                ("SEMAPHORE_GIT_PR_NAME", "Add orders model"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.branch.value.as_deref(), Some("feature/orders"));
    assert_eq!(pr.base_branch.value.as_deref(), Some("main"));

    let fork = case(
        "semaphore",
        "fork_pull_request",
        &with(
            &base,
            &[
                ("SEMAPHORE_GIT_REF_TYPE", "pull-request"),
                ("SEMAPHORE_GIT_SHA", MERGE),
                ("SEMAPHORE_GIT_BRANCH", "main"),
                ("SEMAPHORE_GIT_PR_NUMBER", "43"),
                ("SEMAPHORE_GIT_PR_SHA", HEAD),
                ("SEMAPHORE_GIT_PR_BRANCH", "patch-1"),
                ("SEMAPHORE_GIT_PR_SLUG", "contributor/analytics"),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    let main = case(
        "semaphore",
        "push_default_branch",
        &with(
            &base,
            &[
                ("SEMAPHORE_GIT_REF_TYPE", "branch"),
                ("SEMAPHORE_GIT_REF", "refs/heads/main"),
                ("SEMAPHORE_GIT_SHA", PUSHED),
                ("SEMAPHORE_GIT_BRANCH", "main"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&main), Some(PUSHED));
    assert_eq!(main.run_type.value, Some(RunType::Production));

    let other = case(
        "semaphore",
        "push_other_branch",
        &with(
            &base,
            &[
                ("SEMAPHORE_GIT_REF_TYPE", "branch"),
                ("SEMAPHORE_GIT_SHA", PUSHED),
                ("SEMAPHORE_GIT_BRANCH", "develop"),
            ],
        ),
        None,
    );
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "semaphore",
        "tag",
        &with(
            &base,
            &[
                ("SEMAPHORE_GIT_REF_TYPE", "tag"),
                ("SEMAPHORE_GIT_REF", "refs/tags/v1.4.0"),
                ("SEMAPHORE_GIT_SHA", PUSHED),
                ("SEMAPHORE_GIT_TAG_NAME", "v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
}

#[test]
fn bitrise() {
    let base = [
        ("BITRISE_IO", "true"),
        ("BITRISE_BUILD_SLUG", "5e2b1a9c-8d7f-4a6e-b5c4-3d2e1f0a9b8c"),
        ("BITRISE_BUILD_NUMBER", "205"),
        (
            "BITRISE_BUILD_URL",
            "https://app.bitrise.io/build/5e2b1a9c-8d7f-4a6e-b5c4-3d2e1f0a9b8c",
        ),
        ("BITRISE_APP_SLUG", "a1b2c3d4e5f6a7b8"),
        ("GIT_REPOSITORY_URL", "git@github.com:acme/analytics.git"),
        ("BITRISE_SOURCE_DIR", "/bitrise/src"),
    ];
    let pr = case(
        "bitrise",
        "pull_request_merge_commit_trap",
        &with(
            &base,
            &[
                ("BITRISE_PULL_REQUEST", "42"),
                ("BITRISE_GIT_COMMIT", HEAD),
                ("GIT_CLONE_COMMIT_HASH", MERGE),
                ("BITRISE_GIT_BRANCH", "feature/orders"),
                ("BITRISEIO_GIT_BRANCH_DEST", "main"),
                (
                    "BITRISEIO_PULL_REQUEST_REPOSITORY_URL",
                    "https://github.com/acme/analytics.git",
                ),
                ("BITRISEIO_PULL_REQUEST_MERGE_BRANCH", "pull/42/merge"),
            ],
        ),
        None,
    );
    assert_eq!(commit(&pr), Some(HEAD));
    assert_eq!(pr.fork.value, Some(false));

    let fork = case(
        "bitrise",
        "fork_pull_request",
        &with(
            &base,
            &[
                ("BITRISE_PULL_REQUEST", "43"),
                ("BITRISE_GIT_COMMIT", HEAD),
                ("GIT_CLONE_COMMIT_HASH", MERGE),
                ("BITRISE_GIT_BRANCH", "patch-1"),
                ("BITRISEIO_GIT_BRANCH_DEST", "main"),
                (
                    "BITRISEIO_PULL_REQUEST_REPOSITORY_URL",
                    "https://github.com/contributor/analytics.git",
                ),
            ],
        ),
        None,
    );
    assert!(fork.is_fork());

    let main = case(
        "bitrise",
        "push_default_branch",
        &with(
            &base,
            &[
                ("BITRISE_GIT_COMMIT", PUSHED),
                ("GIT_CLONE_COMMIT_HASH", PUSHED),
                ("BITRISE_GIT_BRANCH", "main"),
            ],
        ),
        None,
    );
    assert_eq!(main.run_type.value, Some(RunType::Production));

    let other = case(
        "bitrise",
        "push_other_branch",
        &with(
            &base,
            &[
                ("BITRISE_GIT_COMMIT", PUSHED),
                ("BITRISE_GIT_BRANCH", "develop"),
            ],
        ),
        Some("develop-not"),
    );
    assert_eq!(other.run_type.value, None);

    let tag = case(
        "bitrise",
        "tag",
        &with(
            &base,
            &[
                ("BITRISE_GIT_COMMIT", PUSHED),
                ("BITRISE_GIT_TAG", "v1.4.0"),
            ],
        ),
        None,
    );
    assert_eq!(tag.run_type.value, None);
}

#[test]
fn a_configured_production_branch_beats_the_provider_default() {
    let vars = drone_like(
        "push",
        &[
            ("DRONE_COMMIT_SHA", PUSHED),
            ("DRONE_BRANCH", "release"),
            ("DRONE_COMMIT_BRANCH", "release"),
        ],
    );
    let ctx = context("drone", &env(&vars), Some("release"));
    assert_eq!(ctx.run_type.value, Some(RunType::Production));
    assert!(ctx
        .run_type
        .source
        .unwrap()
        .contains("configured production_branch"));
}
