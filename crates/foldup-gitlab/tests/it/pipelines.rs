//! Every GitLab pipeline kind of PRODUCT.md as a table of GitLab's predefined CI/CD variables,
//! checked through what `foldup env --json` shows: each value and where it came from.
//!
//! Variable names and forms follow GitLab's "Predefined CI/CD variables reference"
//! (doc/ci/variables/predefined_variables.md). Two tables are real captures:
//! - `gitlab.com merged-results pipeline` and `gitlab.com push to the default branch`: the `env`
//!   of two jobs of the public project diggerdev/digger-demo on gitlab.com (pipelines 1026565167
//!   and 1026558535), as published in diggerhq/digger's GitLab tests; only the CI variables
//!   foldup could read are kept.
//! - the `gitlab-ci-local` tables: the `env` of a job run by gitlab-ci-local 4.64.1 (see there).

use foldup_core::{CiContext, CiProvider, DetectOptions, Env};
use foldup_gitlab::GitLabCi;
use serde_json::{json, Value};

/// Variables every job of the project acme/analytics/dbt-warehouse on a self-managed GitLab has.
const ACME_PROJECT: &[(&str, &str)] = &[
    ("CI", "true"),
    ("GITLAB_CI", "true"),
    ("CI_SERVER_URL", "https://gitlab.example.com"),
    ("CI_SERVER_HOST", "gitlab.example.com"),
    ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
    ("CI_PROJECT_ID", "1217"),
    ("CI_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
    ("CI_PROJECT_NAMESPACE", "acme/analytics"),
    ("CI_PROJECT_NAME", "dbt-warehouse"),
    (
        "CI_PROJECT_URL",
        "https://gitlab.example.com/acme/analytics/dbt-warehouse",
    ),
    ("CI_DEFAULT_BRANCH", "main"),
    ("CI_PIPELINE_ID", "880412"),
    ("CI_PIPELINE_IID", "312"),
    (
        "CI_PIPELINE_URL",
        "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/pipelines/880412",
    ),
    ("CI_JOB_ID", "5529104"),
    (
        "CI_JOB_URL",
        "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/jobs/5529104",
    ),
    ("CI_JOB_NAME", "dbt-build"),
];

const ACME_PIPELINE_URL: &str =
    "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/pipelines/880412";
const HEAD: &str = "9f2c1e07d4b8a3f5e6c7d8b9a0f1e2d3c4b5a697";
const MERGE_COMMIT: &str = "1b7e4c2a9d8f3e6b5a4c3d2e1f0a9b8c7d6e5f4a";
const MAIN_TIP: &str = "5d0a7b3c1e9f8d2c4b6a8e0f1d3c5b7a9e2f4c6d";

struct Case {
    name: &'static str,
    env: Vec<(&'static str, &'static str)>,
    production_branch: Option<&'static str>,
    /// The `env --json` values (without `sources`).
    values: Value,
    /// Exact `sources` entries of the values that are set.
    sources: Vec<(&'static str, &'static str)>,
    /// Words the reason of a missing value must contain.
    reasons: Vec<(&'static str, &'static str)>,
    fork: bool,
    /// Words each warning must contain, in order; no other warnings.
    warnings: Vec<&'static str>,
}

fn acme(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    ACME_PROJECT.iter().chain(extra).copied().collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "merge request pipeline (detached)",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
                ("CI_MERGE_REQUEST_ID", "241536093"),
                ("CI_MERGE_REQUEST_IID", "57"),
                ("CI_MERGE_REQUEST_REF_PATH", "refs/merge-requests/57/head"),
                ("CI_MERGE_REQUEST_PROJECT_ID", "1217"),
                ("CI_MERGE_REQUEST_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "1217"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                // "The variable is empty in merge request pipelines."
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", ""),
                ("CI_MERGE_REQUEST_DIFF_BASE_SHA", MAIN_TIP),
                ("CI_MERGE_REQUEST_TITLE", "Add orders model"),
                ("CI_OPEN_MERGE_REQUESTS", "acme/analytics/dbt-warehouse!57"),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
                ("CI_COMMIT_BEFORE_SHA", "0000000000000000000000000000000000000000"),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![
                ("commit_sha", "CI_COMMIT_SHA"),
                ("run_type", "CI_PIPELINE_SOURCE=merge_request_event"),
                ("pr_number", "CI_MERGE_REQUEST_IID"),
                ("branch", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"),
                ("base_branch", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
                ("default_branch", "CI_DEFAULT_BRANCH"),
                ("repository", "CI_PROJECT_PATH"),
                ("build_url", "CI_PIPELINE_URL"),
            ],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "gitlab.com merged-results pipeline",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "true"),
                ("CI_SERVER_URL", "https://gitlab.com"),
                ("CI_API_V4_URL", "https://gitlab.com/api/v4"),
                ("CI_PROJECT_ID", "44723537"),
                ("CI_PROJECT_PATH", "diggerdev/digger-demo"),
                ("CI_PROJECT_URL", "https://gitlab.com/diggerdev/digger-demo"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_PIPELINE_ID", "1026565167"),
                ("CI_PIPELINE_IID", "524"),
                ("CI_PIPELINE_URL", "https://gitlab.com/diggerdev/digger-demo/-/pipelines/1026565167"),
                ("CI_JOB_URL", "https://gitlab.com/diggerdev/digger-demo/-/jobs/5229209492"),
                ("CI_COMMIT_SHA", "b8c339f048d4d1296ca5791584158744b166df83"),
                ("CI_COMMIT_BEFORE_SHA", "b8c339f048d4d1296ca5791584158744b166df83"),
                ("CI_COMMIT_REF_NAME", "test-dev"),
                ("CI_COMMIT_TITLE", "Merge branch 'test-dev' into 'main'"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
                ("CI_MERGE_REQUEST_ID", "255037359"),
                ("CI_MERGE_REQUEST_IID", "45"),
                ("CI_MERGE_REQUEST_REF_PATH", "refs/merge-requests/45/head"),
                ("CI_MERGE_REQUEST_PROJECT_ID", "44723537"),
                ("CI_MERGE_REQUEST_PROJECT_PATH", "diggerdev/digger-demo"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "44723537"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "diggerdev/digger-demo"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "test-dev"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "a926daf13cb8f96f2e5d6c9e09bb28daf7763309"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", "ffaf8ce1eb166a318fbb43e25ce708f37675d174"),
                ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "ffaf8ce1eb166a318fbb43e25ce708f37675d174"),
                ("CI_OPEN_MERGE_REQUESTS", "diggerdev/digger-demo!45"),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci",
                // The author's commit, not GitLab's merge commit b8c339f0.
                "commit_sha": "a926daf13cb8f96f2e5d6c9e09bb28daf7763309",
                "run_type": "pull_request", "pr_number": 45, "branch": "test-dev",
                "base_branch": "main", "default_branch": "main",
                "repository": "diggerdev/digger-demo",
                "build_url": "https://gitlab.com/diggerdev/digger-demo/-/pipelines/1026565167",
            }),
            sources: vec![
                ("commit_sha", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
                ("run_type", "CI_PIPELINE_SOURCE=merge_request_event"),
                ("pr_number", "CI_MERGE_REQUEST_IID"),
                ("branch", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"),
                ("base_branch", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
            ],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "gitlab.com push to the default branch",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "true"),
                ("CI_SERVER_URL", "https://gitlab.com"),
                ("CI_API_V4_URL", "https://gitlab.com/api/v4"),
                ("CI_PROJECT_ID", "44723537"),
                ("CI_PROJECT_PATH", "diggerdev/digger-demo"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_PIPELINE_ID", "1026558535"),
                ("CI_PIPELINE_IID", "523"),
                ("CI_PIPELINE_URL", "https://gitlab.com/diggerdev/digger-demo/-/pipelines/1026558535"),
                ("CI_COMMIT_SHA", "ffaf8ce1eb166a318fbb43e25ce708f37675d174"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_PROTECTED", "true"),
                ("CI_COMMIT_TITLE", "Merge branch 'test-staging-changes' into 'main'"),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci",
                "commit_sha": "ffaf8ce1eb166a318fbb43e25ce708f37675d174",
                "run_type": "production", "pr_number": null, "branch": "main",
                "base_branch": null, "default_branch": "main",
                "repository": "diggerdev/digger-demo",
                "build_url": "https://gitlab.com/diggerdev/digger-demo/-/pipelines/1026558535",
            }),
            sources: vec![
                ("commit_sha", "CI_COMMIT_SHA"),
                (
                    "run_type",
                    "branch pipeline of 'main', the production branch: 'main' from default branch (CI_DEFAULT_BRANCH)",
                ),
                ("branch", "CI_COMMIT_BRANCH"),
            ],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "branch pipeline of a branch with an open merge request",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
                // Newest first; the first entry is the same branch's merge request into an
                // upstream project, which is not ours.
                (
                    "CI_OPEN_MERGE_REQUESTS",
                    "upstream-data/dbt-warehouse!12,acme/analytics/dbt-warehouse!57",
                ),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![
                ("commit_sha", "CI_COMMIT_SHA"),
                (
                    "run_type",
                    "CI_OPEN_MERGE_REQUESTS: branch 'feature/orders-model' is the source of merge request !57",
                ),
                ("pr_number", "CI_OPEN_MERGE_REQUESTS"),
                ("branch", "CI_COMMIT_BRANCH"),
            ],
            reasons: vec![("base_branch", "not its target branch")],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "branch pipeline of a branch with two open merge requests",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
                (
                    "CI_OPEN_MERGE_REQUESTS",
                    "acme/analytics/dbt-warehouse!61,acme/analytics/dbt-warehouse!57",
                ),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 61, "branch": "feature/orders-model", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("pr_number", "CI_OPEN_MERGE_REQUESTS")],
            reasons: vec![],
            fork: false,
            warnings: vec!["2 open merge requests (!61, !57); using !61, the newest"],
        },
        Case {
            name: "branch pipeline without an open merge request",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": null,
                "pr_number": null, "branch": "feature/orders-model", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("commit_sha", "CI_COMMIT_SHA"), ("branch", "CI_COMMIT_BRANCH")],
            reasons: vec![
                ("run_type", "not the production branch ('main' from default branch (CI_DEFAULT_BRANCH))"),
                ("run_type", "CI_OPEN_MERGE_REQUESTS names no open merge request"),
                ("run_type", "pass --run-type"),
            ],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "branch pipeline whose open merge requests belong to another project only",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
                ("CI_OPEN_MERGE_REQUESTS", "upstream-data/dbt-warehouse!12"),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": null,
                "pr_number": null, "branch": "feature/orders-model", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![],
            reasons: vec![(
                "run_type",
                "merge requests of other projects only, none of acme/analytics/dbt-warehouse",
            )],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "branch pipeline with a malformed CI_OPEN_MERGE_REQUESTS entry",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
                ("CI_OPEN_MERGE_REQUESTS", "acme/analytics/dbt-warehouse!fifty,acme/analytics/dbt-warehouse!57"),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("pr_number", "CI_OPEN_MERGE_REQUESTS")],
            reasons: vec![],
            fork: false,
            warnings: vec!["ignoring 'acme/analytics/dbt-warehouse!fifty' in CI_OPEN_MERGE_REQUESTS"],
        },
        Case {
            name: "tag pipeline",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_TAG", "v1.4.0"),
                ("CI_COMMIT_TAG_MESSAGE", "Release 1.4.0"),
                ("CI_COMMIT_REF_NAME", "v1.4.0"),
                ("CI_COMMIT_SHA", MAIN_TIP),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MAIN_TIP, "run_type": null,
                "pr_number": null, "branch": null, "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("commit_sha", "CI_COMMIT_SHA")],
            reasons: vec![
                ("run_type", "a tag pipeline (CI_COMMIT_TAG 'v1.4.0')"),
                ("run_type", "pass --run-type"),
                ("branch", "has no branch"),
            ],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "scheduled pipeline on the default branch",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_SHA", MAIN_TIP),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MAIN_TIP, "run_type": "production",
                "pr_number": null, "branch": "main", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![(
                "run_type",
                "scheduled pipeline (CI_PIPELINE_SOURCE=schedule) of 'main', the production branch: 'main' from default branch (CI_DEFAULT_BRANCH)",
            )],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "scheduled pipeline on another branch",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "nightly-backfill"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": null,
                "pr_number": null, "branch": "nightly-backfill", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![],
            reasons: vec![("run_type", "scheduled pipeline (CI_PIPELINE_SOURCE=schedule) of 'nightly-backfill', which is not the production branch")],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "default branch develop: a push to develop is production",
            env: acme(&[
                ("CI_DEFAULT_BRANCH", "develop"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "develop"),
                ("CI_COMMIT_SHA", MAIN_TIP),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MAIN_TIP, "run_type": "production",
                "pr_number": null, "branch": "develop", "base_branch": null,
                "default_branch": "develop", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![
                ("default_branch", "CI_DEFAULT_BRANCH"),
                (
                    "run_type",
                    "branch pipeline of 'develop', the production branch: 'develop' from default branch (CI_DEFAULT_BRANCH)",
                ),
            ],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "default branch develop: a push to main is not production",
            env: acme(&[
                ("CI_DEFAULT_BRANCH", "develop"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_SHA", MAIN_TIP),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MAIN_TIP, "run_type": null,
                "pr_number": null, "branch": "main", "base_branch": null,
                "default_branch": "develop", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![],
            reasons: vec![("run_type", "not the production branch ('develop' from default branch (CI_DEFAULT_BRANCH))")],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "a configured production branch beats CI_DEFAULT_BRANCH",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "release"),
                ("CI_COMMIT_SHA", MAIN_TIP),
            ]),
            production_branch: Some("release"),
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MAIN_TIP, "run_type": "production",
                "pr_number": null, "branch": "release", "base_branch": null,
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![(
                "run_type",
                "branch pipeline of 'release', the production branch: 'release' from configured production_branch",
            )],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "fork merge request, pipeline run in the parent project",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
                ("CI_MERGE_REQUEST_IID", "63"),
                ("CI_MERGE_REQUEST_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "5521"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "alice/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_URL", "https://gitlab.example.com/alice/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "fix-typo"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
                ("CI_COMMIT_REF_NAME", "fix-typo"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 63, "branch": "fix-typo", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("pr_number", "CI_MERGE_REQUEST_IID")],
            reasons: vec![],
            fork: true,
            warnings: vec![],
        },
        Case {
            name: "fork merge request, pipeline run in the fork",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "true"),
                ("CI_SERVER_URL", "https://gitlab.example.com"),
                ("CI_PROJECT_ID", "5521"),
                ("CI_PROJECT_PATH", "alice/dbt-warehouse"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_PIPELINE_URL", "https://gitlab.example.com/alice/dbt-warehouse/-/pipelines/880977"),
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "63"),
                ("CI_MERGE_REQUEST_PROJECT_ID", "1217"),
                ("CI_MERGE_REQUEST_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "5521"),
                ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "alice/dbt-warehouse"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "fix-typo"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_COMMIT_REF_NAME", "fix-typo"),
                ("CI_COMMIT_SHA", HEAD),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 63, "branch": "fix-typo", "base_branch": "main",
                "default_branch": "main", "repository": "alice/dbt-warehouse",
                "build_url": "https://gitlab.example.com/alice/dbt-warehouse/-/pipelines/880977",
            }),
            sources: vec![],
            reasons: vec![],
            fork: true,
            warnings: vec![],
        },
        Case {
            name: "child pipeline of a merge request pipeline",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "parent_pipeline"),
                ("CI_MERGE_REQUEST_IID", "57"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![(
                "run_type",
                "CI_MERGE_REQUEST_IID (a pipeline of a merge request, CI_PIPELINE_SOURCE=parent_pipeline)",
            )],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            name: "non-numeric CI_MERGE_REQUEST_IID falls back to the ref path",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "!57"),
                ("CI_MERGE_REQUEST_REF_PATH", "refs/merge-requests/57/head"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("pr_number", "CI_MERGE_REQUEST_REF_PATH")],
            reasons: vec![],
            fork: false,
            warnings: vec!["ignoring CI_MERGE_REQUEST_IID '!57': it is not a merge request number"],
        },
        Case {
            name: "non-numeric CI_MERGE_REQUEST_IID and no ref path",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "fifty-seven"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": null, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![],
            reasons: vec![("pr_number", "pass --pr-number")],
            fork: false,
            warnings: vec!["ignoring CI_MERGE_REQUEST_IID 'fifty-seven'"],
        },
        Case {
            name: "a short CI_MERGE_REQUEST_SOURCE_BRANCH_SHA falls back to CI_COMMIT_SHA",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
                ("CI_MERGE_REQUEST_IID", "57"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "9f2c1e07"),
                ("CI_COMMIT_SHA", MERGE_COMMIT),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": MERGE_COMMIT, "run_type": "pull_request",
                "pr_number": 57, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![("commit_sha", "CI_COMMIT_SHA")],
            reasons: vec![],
            fork: false,
            warnings: vec!["ignoring CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: commit sha '9f2c1e07' has 8 hex digits"],
        },
        Case {
            name: "external pull request pipeline (GitHub repository mirrored to GitLab)",
            env: acme(&[
                ("CI_PIPELINE_SOURCE", "external_pull_request_event"),
                ("CI_EXTERNAL_PULL_REQUEST_IID", "214"),
                ("CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY", "acme/dbt-warehouse"),
                ("CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY", "acme/dbt-warehouse"),
                ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", "feature/orders-model"),
                ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA", HEAD),
                ("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_SHA", MAIN_TIP),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_SHA", HEAD),
            ]),
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": HEAD, "run_type": "pull_request",
                "pr_number": 214, "branch": "feature/orders-model", "base_branch": "main",
                "default_branch": "main", "repository": "acme/analytics/dbt-warehouse",
                "build_url": ACME_PIPELINE_URL,
            }),
            sources: vec![
                ("commit_sha", "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA"),
                ("run_type", "CI_PIPELINE_SOURCE=external_pull_request_event"),
                ("pr_number", "CI_EXTERNAL_PULL_REQUEST_IID"),
                ("base_branch", "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME"),
            ],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            // gitlab-ci-local 4.64.1, `gitlab-ci-local --shell-executor-no-image show-env` in a
            // checkout of branch feature/orders-model whose origin is
            // https://gitlab.example.com/acme/analytics/dbt-warehouse.git and whose
            // origin/HEAD is develop. Where each variable comes from in its source
            // (node_modules/gitlab-ci-local/src/):
            // - predefined-variables.js init(): GITLAB_CI "false"; CI "true";
            //   CI_COMMIT_SHA and CI_COMMIT_BRANCH/REF_NAME from gitData.commit (git-data.js
            //   initCommitData: `git rev-parse HEAD`, `git rev-parse --abbrev-ref HEAD`);
            //   CI_PROJECT_PATH `${group}/${project}` and CI_SERVER_URL/CI_API_V4_URL from
            //   `git remote get-url origin` (git-data.js initRemoteData); CI_DEFAULT_BRANCH
            //   from `git symbolic-ref --short refs/remotes/origin/HEAD` (initBranchData);
            //   CI_PIPELINE_SOURCE "push"; CI_PROJECT_ID "1217".
            // - job.js: CI_JOB_URL `${CI_SERVER_URL}/${group}/${project}/-/jobs/${jobId}` and
            //   CI_PIPELINE_URL `${CI_SERVER_URL}/${group}/${project}/pipelines/${pipelineIid}`.
            name: "gitlab-ci-local on a feature branch",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "false"),
                ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
                ("CI_BUILDS_DIR", "/tmp/glcl-demo"),
                ("CI_COMMIT_BRANCH", "feature/orders-model"),
                ("CI_COMMIT_DESCRIPTION", "More commit text"),
                ("CI_COMMIT_MESSAGE", "Commit Title\nMore commit text"),
                ("CI_COMMIT_REF_NAME", "feature/orders-model"),
                ("CI_COMMIT_REF_PROTECTED", "false"),
                ("CI_COMMIT_REF_SLUG", "feature-orders-model"),
                ("CI_COMMIT_SHA", "4e2f503ed8152238e481f588cdbe3b3496f1ddd3"),
                ("CI_COMMIT_SHORT_SHA", "4e2f503e"),
                ("CI_COMMIT_TITLE", "Commit Title"),
                ("CI_DEFAULT_BRANCH", "develop"),
                ("CI_ENVIRONMENT_NAME", ""),
                ("CI_ENVIRONMENT_URL", ""),
                ("CI_JOB_ID", "353589"),
                ("CI_JOB_NAME", "show-env"),
                ("CI_JOB_STAGE", "test"),
                ("CI_JOB_STATUS", "running"),
                ("CI_JOB_URL", "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/jobs/353589"),
                ("CI_NODE_TOTAL", "1"),
                ("CI_PIPELINE_ID", "1000"),
                ("CI_PIPELINE_IID", "0"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_PIPELINE_URL", "https://gitlab.example.com/acme/analytics/dbt-warehouse/pipelines/0"),
                ("CI_PROJECT_DIR", "/tmp/glcl-demo"),
                ("CI_PROJECT_ID", "1217"),
                ("CI_PROJECT_NAME", "dbt-warehouse"),
                ("CI_PROJECT_NAMESPACE", "acme/analytics"),
                ("CI_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_PROJECT_PATH_SLUG", "acme-analytics-dbt-warehouse"),
                ("CI_PROJECT_ROOT_NAMESPACE", "acme"),
                ("CI_PROJECT_TITLE", "dbtWarehouse"),
                ("CI_PROJECT_URL", "https://gitlab.example.com/acme/analytics/dbt-warehouse"),
                ("CI_PROJECT_VISIBILITY", "internal"),
                ("CI_SERVER_FQDN", "gitlab.example.com"),
                ("CI_SERVER_HOST", "gitlab.example.com"),
                ("CI_SERVER_PORT", "443"),
                ("CI_SERVER_PROTOCOL", "https"),
                ("CI_SERVER_SHELL_SSH_PORT", "22"),
                ("CI_SERVER_URL", "https://gitlab.example.com"),
                ("CI_TEMPLATE_REGISTRY_HOST", "registry.gitlab.com"),
                ("GITLAB_USER_EMAIL", "dev@example.com"),
                ("GITLAB_USER_ID", "0"),
                ("GITLAB_USER_LOGIN", "dev"),
                ("GITLAB_USER_NAME", "Dev"),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci",
                "commit_sha": "4e2f503ed8152238e481f588cdbe3b3496f1ddd3",
                "run_type": null, "pr_number": null, "branch": "feature/orders-model",
                "base_branch": null, "default_branch": "develop",
                "repository": "acme/analytics/dbt-warehouse",
                "build_url": "https://gitlab.example.com/acme/analytics/dbt-warehouse/pipelines/0",
            }),
            sources: vec![
                ("commit_sha", "CI_COMMIT_SHA"),
                ("branch", "CI_COMMIT_BRANCH"),
                ("default_branch", "CI_DEFAULT_BRANCH"),
                ("repository", "CI_PROJECT_PATH"),
                ("build_url", "CI_PIPELINE_URL"),
            ],
            reasons: vec![("run_type", "not the production branch ('develop'")],
            fork: false,
            warnings: vec![],
        },
        Case {
            // The same checkout and gitlab-ci-local run, on the default branch develop.
            name: "gitlab-ci-local on the default branch",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "false"),
                ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
                ("CI_COMMIT_BRANCH", "develop"),
                ("CI_COMMIT_REF_NAME", "develop"),
                ("CI_COMMIT_SHA", "4e2f503ed8152238e481f588cdbe3b3496f1ddd3"),
                ("CI_COMMIT_SHORT_SHA", "4e2f503e"),
                ("CI_DEFAULT_BRANCH", "develop"),
                ("CI_JOB_ID", "392649"),
                ("CI_JOB_URL", "https://gitlab.example.com/acme/analytics/dbt-warehouse/-/jobs/392649"),
                ("CI_PIPELINE_ID", "1000"),
                ("CI_PIPELINE_IID", "0"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_PIPELINE_URL", "https://gitlab.example.com/acme/analytics/dbt-warehouse/pipelines/0"),
                ("CI_PROJECT_ID", "1217"),
                ("CI_PROJECT_PATH", "acme/analytics/dbt-warehouse"),
                ("CI_SERVER_URL", "https://gitlab.example.com"),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci",
                "commit_sha": "4e2f503ed8152238e481f588cdbe3b3496f1ddd3",
                "run_type": "production", "pr_number": null, "branch": "develop",
                "base_branch": null, "default_branch": "develop",
                "repository": "acme/analytics/dbt-warehouse",
                "build_url": "https://gitlab.example.com/acme/analytics/dbt-warehouse/pipelines/0",
            }),
            sources: vec![(
                "run_type",
                "branch pipeline of 'develop', the production branch: 'develop' from default branch (CI_DEFAULT_BRANCH)",
            )],
            reasons: vec![],
            fork: false,
            warnings: vec![],
        },
        Case {
            // gitlab-ci-local run outside a git checkout: git-data.js keeps its fallbacks
            // (commit.SHA forty zeros, REF_NAME main, remote gitlab.com fallback.group/
            // fallback.project) and prints "Using fallback git commit data".
            name: "gitlab-ci-local outside a git checkout",
            env: vec![
                ("CI", "true"),
                ("GITLAB_CI", "false"),
                ("CI_API_V4_URL", "https://gitlab.com/api/v4"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_SHA", "0000000000000000000000000000000000000000"),
                ("CI_COMMIT_SHORT_SHA", "00000000"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_JOB_URL", "https://gitlab.com/fallback.group/fallback.project/-/jobs/859350"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_PIPELINE_URL", "https://gitlab.com/fallback.group/fallback.project/pipelines/0"),
                ("CI_PROJECT_ID", "1217"),
                ("CI_PROJECT_PATH", "fallback.group/fallback.project"),
                ("CI_SERVER_URL", "https://gitlab.com"),
            ],
            production_branch: None,
            values: json!({
                "provider": "gitlab-ci", "commit_sha": null, "run_type": "production",
                "pr_number": null, "branch": "main", "base_branch": null,
                "default_branch": "main", "repository": "fallback.group/fallback.project",
                "build_url": "https://gitlab.com/fallback.group/fallback.project/pipelines/0",
            }),
            sources: vec![],
            reasons: vec![("commit_sha", "CI_COMMIT_SHA is the all-zero placeholder")],
            fork: false,
            warnings: vec!["forty zeros is a placeholder (gitlab-ci-local sets it when it cannot read git)"],
        },
    ]
}

async fn detect(case: &Case) -> CiContext {
    let options = DetectOptions {
        production_branch: case.production_branch.map(str::to_owned),
        ..DetectOptions::default()
    };
    GitLabCi::default()
        .detect(&Env::from_pairs(case.env.iter().copied()), &options)
        .await
        .unwrap_or_else(|e| panic!("{}: detect failed: {e}", case.name))
}

#[tokio::test]
async fn every_pipeline_kind_resolves_as_product_md_says() {
    for case in cases() {
        let name = case.name;
        let context = detect(&case).await;
        let mut json = context.to_json();
        let sources = json
            .as_object_mut()
            .and_then(|object| object.remove("sources"))
            .unwrap_or_default();
        assert_eq!(json, case.values, "{name}: values");

        for (field, source) in &case.sources {
            assert_eq!(sources[*field], *source, "{name}: source of {field}");
        }
        for (field, words) in &case.reasons {
            assert!(
                case.values[*field].is_null(),
                "{name}: {field} should be missing"
            );
            let reason = sources[*field].as_str().unwrap_or_default();
            assert!(
                reason.contains(words),
                "{name}: reason for {field}: {reason:?}"
            );
        }
        // Every value that is set says where it came from.
        for (field, value) in case.values.as_object().into_iter().flatten() {
            if field != "provider" && !value.is_null() {
                assert!(sources[field].is_string(), "{name}: {field} has no source");
            }
        }

        assert_eq!(context.is_fork(), case.fork, "{name}: fork");
        assert_eq!(
            context.warnings.len(),
            case.warnings.len(),
            "{name}: warnings {:#?}",
            context.warnings
        );
        for (warning, words) in context.warnings.iter().zip(&case.warnings) {
            assert!(warning.contains(words), "{name}: warning {warning:?}");
        }
    }
}

#[test]
fn active_whenever_gitlab_ci_is_set_even_to_false() {
    assert!(GitLabCi::default().is_active(&Env::from_pairs([("GITLAB_CI", "true")])));
    assert!(GitLabCi::default().is_active(&Env::from_pairs([("GITLAB_CI", "false")])));
    assert!(GitLabCi::default().is_active(&Env::from_pairs([("GITLAB_CI", "")])));
    assert!(!GitLabCi::default().is_active(&Env::from_pairs([
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true")
    ])));
    assert_eq!(GitLabCi::default().name(), "gitlab-ci");
}

#[tokio::test]
async fn a_branch_name_cannot_break_a_sources_line() {
    let case = Case {
        name: "hostile branch",
        env: acme(&[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "x\n::error::forged\u{1b}[31m"),
            ("CI_COMMIT_SHA", HEAD),
        ]),
        production_branch: None,
        values: Value::Null,
        sources: vec![],
        reasons: vec![],
        fork: false,
        warnings: vec![],
    };
    let context = detect(&case).await;
    let reason = context.run_type.source.unwrap_or_default();
    assert!(
        reason.contains("x\\u{a}::error::forged\\u{1b}[31m"),
        "{reason:?}"
    );
    assert!(!reason.contains('\n') && !reason.contains('\u{1b}'));
}

#[tokio::test]
async fn no_variables_at_all_is_an_answer_not_a_panic() {
    let context = GitLabCi::default()
        .detect(
            &Env::from_pairs([("GITLAB_CI", "true")]),
            &DetectOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(context.commit_sha.value, None);
    assert_eq!(context.run_type.value, None);
    assert!(context
        .run_type
        .source
        .unwrap_or_default()
        .contains("pass --run-type"));
}

/// Every pipeline kind of the table as one committed snapshot (`snapshots/`) of the whole
/// context: each field, its source, the fork flag and the warnings, so that a change to a rule
/// shows in review.
#[tokio::test]
async fn the_detection_table() {
    for case in cases() {
        let context = detect(&case).await;
        insta::assert_json_snapshot!(
            foldup_testkit::detection::snapshot_name(case.name),
            foldup_testkit::detection::detection_record(&context)
        );
    }
}
