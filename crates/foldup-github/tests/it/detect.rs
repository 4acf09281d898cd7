//! PRODUCT.md's GitHub Actions rules, case by case, from real webhook payloads (see
//! `fixtures/README.md`) and the variables GitHub Actions sets for each event.

use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_github::GitHubActions;
use serde_json::{json, Value};

const PR_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const PR_BASE_TIP: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
/// The merge commit GitHub makes for a pull_request run; the payload does not name it, and
/// foldup must never report it.
const PR_MERGE_COMMIT: &str = "8d2c8d2e5a4b3c1f0e9d8c7b6a5f4e3d2c1b0a99";
const PUSHED: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const MERGE_GROUP_HEAD: &str = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d";
const RUN_URL: &str = "https://github.com/Codertocat/Hello-World/actions/runs/9876543210";
const OCTO_RUN_URL: &str = "https://github.com/octo-org/octo-repo/actions/runs/9876543210";
const BUILD_URL_SOURCE: &str = "GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID";

/// The path of a recorded payload, as a variable's value.
fn fixture_path(name: &str) -> String {
    crate::fixture(name)
        .to_str()
        .expect("fixture paths are UTF-8")
        .to_owned()
}

/// The variables every GitHub Actions job has, plus the event's own. GitHub sets
/// GITHUB_HEAD_REF and GITHUB_BASE_REF to empty strings outside pull request events.
fn runner_env(repository: &str, event: &[(&str, &str)]) -> Env {
    let owner = repository.split('/').next().unwrap();
    let mut env = Env::from_pairs([
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_GRAPHQL_URL", "https://api.github.com/graphql"),
        ("GITHUB_REPOSITORY", repository),
        ("GITHUB_REPOSITORY_OWNER", owner),
        ("GITHUB_RUN_ID", "9876543210"),
        ("GITHUB_RUN_NUMBER", "17"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_WORKFLOW", "dbt"),
        ("GITHUB_JOB", "build"),
        ("GITHUB_ACTOR", "Codertocat"),
        (
            "GITHUB_WORKSPACE",
            "/home/runner/work/Hello-World/Hello-World",
        ),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_BASE_REF", ""),
        ("RUNNER_OS", "Linux"),
    ]);
    for (name, value) in event {
        env = env.with(name, value);
    }
    env
}

fn pull_request_env(event_name: &str, payload: &str) -> Env {
    let path = fixture_path(payload);
    let target = event_name == "pull_request_target";
    runner_env(
        "Codertocat/Hello-World",
        &[
            ("GITHUB_EVENT_NAME", event_name),
            ("GITHUB_EVENT_PATH", &path),
            // pull_request runs on the merge ref; pull_request_target on the base branch tip.
            (
                "GITHUB_SHA",
                if target { PR_BASE_TIP } else { PR_MERGE_COMMIT },
            ),
            (
                "GITHUB_REF",
                if target {
                    "refs/heads/master"
                } else {
                    "refs/pull/2/merge"
                },
            ),
            ("GITHUB_REF_NAME", if target { "master" } else { "2/merge" }),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_HEAD_REF", "changes"),
            ("GITHUB_BASE_REF", "master"),
        ],
    )
}

fn push_env(payload: &str, git_ref: &str, ref_type: &str) -> Env {
    let path = fixture_path(payload);
    let name = git_ref.rsplit('/').next().unwrap();
    runner_env(
        "Codertocat/Hello-World",
        &[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", &path),
            ("GITHUB_SHA", PUSHED),
            ("GITHUB_REF", git_ref),
            ("GITHUB_REF_NAME", name),
            ("GITHUB_REF_TYPE", ref_type),
        ],
    )
}

async fn detect_with(env: &Env, options: &DetectOptions) -> (Value, foldup_core::CiContext) {
    assert!(GitHubActions::default().is_active(env));
    let ctx = GitHubActions::default()
        .detect(env, options)
        .await
        .expect("GitHub detection never fails");
    (ctx.to_json(), ctx)
}

async fn detect(env: &Env) -> (Value, foldup_core::CiContext) {
    detect_with(env, &DetectOptions::default()).await
}

fn pull_request_json(event_name: &str) -> Value {
    json!({
        "provider": "github-actions",
        "commit_sha": PR_HEAD,
        "run_type": "pull_request",
        "pr_number": 2,
        "branch": "changes",
        "base_branch": "master",
        "default_branch": "master",
        "repository": "Codertocat/Hello-World",
        "build_url": RUN_URL,
        "sources": {
            "commit_sha": "GITHUB_EVENT_PATH pull_request.head.sha",
            "run_type": format!("GITHUB_EVENT_NAME={event_name}"),
            "pr_number": "GITHUB_EVENT_PATH pull_request.number",
            "branch": "GITHUB_EVENT_PATH pull_request.head.ref",
            "base_branch": "GITHUB_EVENT_PATH pull_request.base.ref",
            "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
            "repository": "GITHUB_REPOSITORY",
            "build_url": BUILD_URL_SOURCE,
        }
    })
}

const PULL_REQUEST_ACTIONS: &[&str] = &[
    // The three that run workflows by default.
    "opened",
    "synchronize",
    "reopened",
    // The rest of the package's examples, for workflows that list them under `types:`.
    "assigned",
    "closed",
    "converted_to_draft",
    "labeled",
    "locked",
    "ready_for_review",
    "review_request_removed",
    "review_requested",
    "unassigned",
    "unlabeled",
    "unlocked",
];

#[tokio::test]
async fn every_pull_request_action_builds_the_head_commit_not_the_merge_commit() {
    for action in PULL_REQUEST_ACTIONS {
        let env = pull_request_env("pull_request", &format!("pull_request.{action}.json"));
        let (json, ctx) = detect(&env).await;
        assert_eq!(json, pull_request_json("pull_request"), "action {action}");
        assert!(!json.to_string().contains(PR_MERGE_COMMIT));
        assert_eq!(ctx.fork.value, Some(false), "action {action}");
        assert_eq!(
            ctx.fork.source.as_deref(),
            Some("GITHUB_EVENT_PATH pull_request.head.repo.full_name 'Codertocat/Hello-World' is GITHUB_REPOSITORY 'Codertocat/Hello-World'")
        );
        assert!(ctx.warnings.is_empty(), "{action}: {:?}", ctx.warnings);
    }
}

#[tokio::test]
async fn pull_request_target_builds_the_head_commit_not_the_base_tip() {
    for action in ["opened", "synchronize", "reopened"] {
        let env = pull_request_env(
            "pull_request_target",
            &format!("pull_request.{action}.json"),
        );
        let (json, ctx) = detect(&env).await;
        assert_eq!(
            json,
            pull_request_json("pull_request_target"),
            "action {action}"
        );
        assert!(!json.to_string().contains(PR_BASE_TIP));
        assert!(!ctx.is_fork());
    }
}

#[tokio::test]
async fn a_pull_request_from_a_fork_is_marked_as_one() {
    for event_name in ["pull_request", "pull_request_target"] {
        let env = pull_request_env(event_name, "pull_request.opened.fork.json");
        let (json, ctx) = detect(&env).await;
        assert_eq!(json, pull_request_json(event_name));
        assert!(ctx.is_fork());
        assert_eq!(
            ctx.fork.source.as_deref(),
            Some("GITHUB_EVENT_PATH pull_request.head.repo.full_name 'octocat-fork/Hello-World' differs from GITHUB_REPOSITORY 'Codertocat/Hello-World'")
        );
        assert!(ctx.to_human().contains("fork"), "{}", ctx.to_human());
    }
}

#[tokio::test]
async fn a_push_to_a_default_branch_called_master_is_production() {
    let env = push_env("push.default_branch.json", "refs/heads/master", "branch");
    let (json, ctx) = detect(&env).await;
    assert_eq!(
        json,
        json!({
            "provider": "github-actions",
            "commit_sha": PUSHED,
            "run_type": "production",
            "pr_number": null,
            "branch": "master",
            "base_branch": null,
            "default_branch": "master",
            "repository": "Codertocat/Hello-World",
            "build_url": RUN_URL,
            "sources": {
                "commit_sha": "GITHUB_SHA",
                "run_type": "GITHUB_REF names the production branch 'master' from default branch (GITHUB_EVENT_PATH repository.default_branch)",
                "branch": "GITHUB_REF",
                "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                "repository": "GITHUB_REPOSITORY",
                "build_url": BUILD_URL_SOURCE,
            }
        })
    );
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

#[tokio::test]
async fn a_configured_production_branch_beats_the_default_branch() {
    let env = push_env("push.default_branch.json", "refs/heads/master", "branch");
    let options = DetectOptions {
        production_branch: Some("release".to_owned()),
        ..DetectOptions::default()
    };
    let (json, _) = detect_with(&env, &options).await;
    assert_eq!(json["run_type"], Value::Null);
    assert_eq!(
        json["sources"]["run_type"],
        "GITHUB_EVENT_NAME=push: branch 'master' is not the production branch 'release' from configured production_branch, and a build of it is neither a pull request nor production"
    );
    let env = push_env("push.feature_branch.json", "refs/heads/changes", "branch");
    let options = DetectOptions {
        production_branch: Some("changes".to_owned()),
        ..DetectOptions::default()
    };
    let (json, _) = detect_with(&env, &options).await;
    assert_eq!(json["run_type"], "production");
}

#[tokio::test]
async fn a_push_to_another_branch_has_no_run_type_and_says_why() {
    let env = push_env("push.feature_branch.json", "refs/heads/changes", "branch");
    let (json, ctx) = detect(&env).await;
    assert_eq!(
        json,
        json!({
            "provider": "github-actions",
            "commit_sha": PUSHED,
            "run_type": null,
            "pr_number": null,
            "branch": "changes",
            "base_branch": null,
            "default_branch": "master",
            "repository": "Codertocat/Hello-World",
            "build_url": RUN_URL,
            "sources": {
                "commit_sha": "GITHUB_SHA",
                "run_type": "GITHUB_EVENT_NAME=push: branch 'changes' is not the production branch 'master' from default branch (GITHUB_EVENT_PATH repository.default_branch), and a build of it is neither a pull request nor production",
                "branch": "GITHUB_REF",
                "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                "repository": "GITHUB_REPOSITORY",
                "build_url": BUILD_URL_SOURCE,
            }
        })
    );
    assert!(ctx.warnings.is_empty());
}

#[tokio::test]
async fn a_tag_push_has_no_branch_and_no_run_type() {
    let env = push_env("push.tag.json", "refs/tags/simple-tag", "tag");
    let (json, _) = detect(&env).await;
    assert_eq!(
        json,
        json!({
            "provider": "github-actions",
            "commit_sha": PUSHED,
            "run_type": null,
            "pr_number": null,
            "branch": null,
            "base_branch": null,
            "default_branch": "master",
            "repository": "Codertocat/Hello-World",
            "build_url": RUN_URL,
            "sources": {
                "commit_sha": "GITHUB_SHA",
                "run_type": "GITHUB_REF names the tag 'simple-tag'; a build of it is neither a pull request nor production",
                "branch": "GITHUB_REF names the tag 'simple-tag', not a branch",
                "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                "repository": "GITHUB_REPOSITORY",
                "build_url": BUILD_URL_SOURCE,
            }
        })
    );
}

fn octo_env(event_name: &str, payload: &str, sha: &str, git_ref: &str) -> Env {
    let path = fixture_path(payload);
    runner_env(
        "octo-org/octo-repo",
        &[
            ("GITHUB_EVENT_NAME", event_name),
            ("GITHUB_EVENT_PATH", &path),
            ("GITHUB_SHA", sha),
            ("GITHUB_REF", git_ref),
            ("GITHUB_REF_TYPE", "branch"),
        ],
    )
}

#[tokio::test]
async fn workflow_dispatch_on_the_default_branch_is_production() {
    for (payload, branch) in [
        ("workflow_dispatch.main.json", "main"),
        ("workflow_dispatch.master.json", "master"),
    ] {
        let env = octo_env(
            "workflow_dispatch",
            payload,
            PUSHED,
            &format!("refs/heads/{branch}"),
        );
        let (json, _) = detect(&env).await;
        assert_eq!(
            json,
            json!({
                "provider": "github-actions",
                "commit_sha": PUSHED,
                "run_type": "production",
                "pr_number": null,
                "branch": branch,
                "base_branch": null,
                "default_branch": branch,
                "repository": "octo-org/octo-repo",
                "build_url": OCTO_RUN_URL,
                "sources": {
                    "commit_sha": "GITHUB_SHA",
                    "run_type": format!("GITHUB_REF names the production branch '{branch}' from default branch (GITHUB_EVENT_PATH repository.default_branch)"),
                    "branch": "GITHUB_REF",
                    "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                    "repository": "GITHUB_REPOSITORY",
                    "build_url": BUILD_URL_SOURCE,
                }
            }),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn workflow_dispatch_on_another_branch_has_no_run_type() {
    // The `main` example dispatched on a feature branch instead: GITHUB_REF decides.
    let env = octo_env(
        "workflow_dispatch",
        "workflow_dispatch.main.json",
        PUSHED,
        "refs/heads/add-orders-model",
    );
    let (json, _) = detect(&env).await;
    assert_eq!(json["branch"], "add-orders-model");
    assert_eq!(json["run_type"], Value::Null);
    assert!(json["sources"]["run_type"]
        .as_str()
        .unwrap()
        .starts_with("GITHUB_EVENT_NAME=workflow_dispatch: branch 'add-orders-model' is not the production branch 'main'"));
}

#[tokio::test]
async fn schedule_is_production_on_the_default_branch_named_by_github_ref() {
    for branch in ["main", "trunk"] {
        let env = octo_env(
            "schedule",
            "schedule.json",
            PUSHED,
            &format!("refs/heads/{branch}"),
        );
        let (json, ctx) = detect(&env).await;
        assert_eq!(
            json,
            json!({
                "provider": "github-actions",
                "commit_sha": PUSHED,
                "run_type": "production",
                "pr_number": null,
                "branch": branch,
                "base_branch": null,
                "default_branch": branch,
                "repository": "octo-org/octo-repo",
                "build_url": OCTO_RUN_URL,
                "sources": {
                    "commit_sha": "GITHUB_SHA",
                    "run_type": format!("GITHUB_EVENT_NAME=schedule on the production branch '{branch}' from default branch (GITHUB_REF (GitHub runs scheduled workflows on the default branch))"),
                    "branch": "GITHUB_REF",
                    "default_branch": "GITHUB_REF (GitHub runs scheduled workflows on the default branch)",
                    "repository": "GITHUB_REPOSITORY",
                    "build_url": BUILD_URL_SOURCE,
                }
            })
        );
        assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    }
}

#[tokio::test]
async fn schedule_is_not_production_when_the_configured_branch_is_another() {
    let env = octo_env("schedule", "schedule.json", PUSHED, "refs/heads/main");
    let options = DetectOptions {
        production_branch: Some("release".to_owned()),
        ..DetectOptions::default()
    };
    let (json, _) = detect_with(&env, &options).await;
    assert_eq!(json["run_type"], Value::Null);
    assert_eq!(
        json["sources"]["run_type"],
        "GITHUB_EVENT_NAME=schedule ran on 'main', which is not the production branch 'release' from configured production_branch"
    );
}

#[tokio::test]
async fn merge_group_builds_the_group_head_with_no_run_type() {
    let queue_branch = "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64";
    let env = octo_env(
        "merge_group",
        "merge_group.checks_requested.json",
        MERGE_GROUP_HEAD,
        &format!("refs/heads/{queue_branch}"),
    );
    let (json, _) = detect(&env).await;
    assert_eq!(
        json,
        json!({
            "provider": "github-actions",
            "commit_sha": MERGE_GROUP_HEAD,
            "run_type": null,
            "pr_number": null,
            "branch": queue_branch,
            "base_branch": null,
            "default_branch": "main",
            "repository": "octo-org/octo-repo",
            "build_url": OCTO_RUN_URL,
            "sources": {
                "commit_sha": "GITHUB_EVENT_PATH merge_group.head_sha",
                "run_type": "GITHUB_EVENT_NAME=merge_group: a merge queue build is neither a pull request nor production",
                "branch": "GITHUB_REF",
                "default_branch": "GITHUB_EVENT_PATH repository.default_branch",
                "repository": "GITHUB_REPOSITORY",
                "build_url": BUILD_URL_SOURCE,
            }
        })
    );
}

#[tokio::test]
async fn an_event_without_a_rule_has_no_run_type() {
    // A `release` workflow on the default branch: GITHUB_SHA and the branch, but no run type.
    let env = push_env("push.default_branch.json", "refs/heads/master", "branch")
        .with("GITHUB_EVENT_NAME", "release");
    let (json, _) = detect(&env).await;
    assert_eq!(json["commit_sha"], PUSHED);
    assert_eq!(json["branch"], "master");
    assert_eq!(json["run_type"], Value::Null);
    assert_eq!(
        json["sources"]["run_type"],
        "GITHUB_EVENT_NAME=release is not an event foldup maps to a run type (pull_request, pull_request_target, push, workflow_dispatch, schedule)"
    );
}

#[tokio::test]
async fn a_re_run_links_to_its_attempt() {
    let env = push_env("push.default_branch.json", "refs/heads/master", "branch")
        .with("GITHUB_RUN_ATTEMPT", "3");
    let (json, _) = detect(&env).await;
    assert_eq!(json["build_url"], format!("{RUN_URL}/attempts/3"));
    assert_eq!(
        json["sources"]["build_url"],
        format!("{BUILD_URL_SOURCE}/attempts/GITHUB_RUN_ATTEMPT")
    );
}

#[test]
fn active_only_when_github_actions_is_true() {
    assert!(GitHubActions::default().is_active(&Env::from_pairs([("GITHUB_ACTIONS", "true")])));
    assert!(!GitHubActions::default().is_active(&Env::from_pairs([("GITHUB_ACTIONS", "false")])));
    assert!(!GitHubActions::default().is_active(&Env::from_pairs([("GITHUB_ACTIONS", "")])));
    assert!(!GitHubActions::default().is_active(&Env::from_pairs([("CI", "true")])));
    assert_eq!(GitHubActions::default().name(), "github-actions");
}

/// Every event kind as one committed snapshot (`snapshots/`) of the whole context: each field,
/// its source, the fork flag and the warnings, so that a change to a rule shows in review.
#[tokio::test]
async fn the_detection_table() {
    let queue_branch =
        "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64";
    let cases = [
        (
            "pull_request_opened",
            pull_request_env("pull_request", "pull_request.opened.json"),
        ),
        (
            "pull_request_target_synchronize",
            pull_request_env("pull_request_target", "pull_request.synchronize.json"),
        ),
        (
            "pull_request_from_a_fork",
            pull_request_env("pull_request", "pull_request.opened.fork.json"),
        ),
        (
            "push_to_the_default_branch",
            push_env("push.default_branch.json", "refs/heads/master", "branch"),
        ),
        (
            "push_to_a_feature_branch",
            push_env("push.feature_branch.json", "refs/heads/changes", "branch"),
        ),
        (
            "push_of_a_tag",
            push_env("push.tag.json", "refs/tags/simple-tag", "tag"),
        ),
        (
            "workflow_dispatch_on_main",
            octo_env(
                "workflow_dispatch",
                "workflow_dispatch.main.json",
                PUSHED,
                "refs/heads/main",
            ),
        ),
        (
            "schedule_on_main",
            octo_env("schedule", "schedule.json", PUSHED, "refs/heads/main"),
        ),
        (
            "merge_group",
            octo_env(
                "merge_group",
                "merge_group.checks_requested.json",
                MERGE_GROUP_HEAD,
                queue_branch,
            ),
        ),
        (
            "release",
            push_env("push.default_branch.json", "refs/heads/master", "branch")
                .with("GITHUB_EVENT_NAME", "release"),
        ),
    ];
    for (name, env) in cases {
        let (_, ctx) = detect(&env).await;
        insta::assert_json_snapshot!(name, foldup_testkit::detection::detection_record(&ctx));
    }
}
