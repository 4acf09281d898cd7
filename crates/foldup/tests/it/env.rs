//! `foldup env`, `foldup config` and bad input, through the real binary.

use crate::support::*;

const SCHEMA_KEYS: [&str; 10] = [
    "base_branch",
    "branch",
    "build_url",
    "commit_sha",
    "default_branch",
    "pr_number",
    "provider",
    "repository",
    "run_type",
    "sources",
];

fn keys(json: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = json
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn github_pull_request_reports_the_head_commit_not_the_merge_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (head_sha, number, repository) = github_pr_facts();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .owned_envs(&github_pull_request_env())
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(keys(&json), SCHEMA_KEYS);
    assert_eq!(json["provider"], "github-actions");
    assert_eq!(json["commit_sha"], head_sha.as_str());
    assert_ne!(json["commit_sha"], GITHUB_MERGE_COMMIT);
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["pr_number"], number);
    assert_eq!(json["repository"], repository.as_str());
    assert_eq!(
        json["sources"]["commit_sha"],
        "GITHUB_EVENT_PATH pull_request.head.sha"
    );
}

#[test]
fn gitlab_merged_results_pipeline_reports_the_source_branch_commit() {
    let dir = tempfile::tempdir().unwrap();
    let source_sha = "1f2e3d4c5b6a79881726354453627180a9b8c7d6";
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .envs([
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", source_sha),
            ("CI_MERGE_REQUEST_IID", "57"),
            ("CI_MERGE_REQUEST_ID", "123456789"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "develop"),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
            ("CI_MERGE_REQUEST_PROJECT_PATH", "data/analytics"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "data/analytics"),
            ("CI_PROJECT_PATH", "data/analytics"),
            ("CI_DEFAULT_BRANCH", "develop"),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.com/data/analytics/-/pipelines/1",
            ),
        ])
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(keys(&json), SCHEMA_KEYS);
    assert_eq!(json["provider"], "gitlab-ci");
    assert_eq!(json["commit_sha"], source_sha);
    assert_eq!(json["pr_number"], 57, "the IID, not the global MR id");
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["base_branch"], "develop");
}

#[test]
fn circleci_bitbucket_pull_request_number_comes_from_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .envs([
            ("CIRCLECI", "true"),
            ("CIRCLE_SHA1", "0123456789abcdef0123456789abcdef01234567"),
            ("CIRCLE_BRANCH", "feature/x"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "dbt"),
            (
                "CIRCLE_PULL_REQUEST",
                "https://bitbucket.org/acme/dbt/pull-requests/31",
            ),
        ])
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(
        (json["provider"].as_str(), json["pr_number"].as_u64()),
        (Some("circleci"), Some(31))
    );
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["repository"], "acme/dbt");
}

#[test]
fn human_form_shows_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .owned_envs(&github_pull_request_env())
        .args(["env"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout
            .contains("GITHUB_EVENT_PATH pull_request.head.sha"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("run_type") && l.contains("pull_request")),
        "{}",
        run.stdout
    );
}

#[test]
fn flags_beat_variables_beat_the_config_file_beat_detection() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("foldup.toml"),
        "run_type = \"production\"\nbranch = \"from-file\"\n",
    )
    .unwrap();
    let sha = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .owned_envs(&github_pull_request_env())
        .env("FOLDUP_BRANCH", "from-variable")
        .args(["env", "--json", "--commit-sha", sha])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(json["commit_sha"], sha);
    assert_eq!(json["sources"]["commit_sha"], "flag --commit-sha");
    assert_eq!(json["branch"], "from-variable");
    assert_eq!(json["sources"]["branch"], "FOLDUP_BRANCH");
    assert_eq!(json["run_type"], "production");
    assert!(json["sources"]["run_type"]
        .as_str()
        .unwrap()
        .starts_with("config file "));
}

#[test]
fn outside_any_ci_and_without_git_commit_is_null_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .env("PATH", "")
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(json["provider"], "local");
    assert_eq!(json["commit_sha"], serde_json::Value::Null);
    assert!(json["sources"]["commit_sha"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(json["run_type"], serde_json::Value::Null);
}

#[test]
fn bad_input_gets_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["env", "--provider", "teamcity"],
            &[],
            "there is no provider named 'teamcity'",
        ),
        (&["env", "--commit-sha", "abc1234"], &[], "7 hex digits"),
        (
            &[
                "env",
                "--commit-sha",
                "not-a-sha-at-all-not-a-sha-at-all-xxxxxx",
            ],
            &[],
            "not a 40-digit hex",
        ),
        (
            &["env"],
            &[("FOLDUP_PR_NUMBER", "forty-two")],
            "FOLDUP_PR_NUMBER must be a whole number",
        ),
        (
            &["env", "--config", "missing.toml"],
            &[],
            "missing.toml does not exist",
        ),
    ];
    for (args, vars, expected) in cases {
        let run = Foldup::new(dir.path())
            .envs(vars.iter().copied())
            .args(args.iter().copied())
            .run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "one sentence: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn an_invalid_config_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("foldup.toml"),
        "# ours\nhost = \"https://x\"\nretry_attempts = \"many\"\n",
    )
    .unwrap();
    let run = Foldup::new(dir.path())
        .args(["config"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr
            .contains("foldup.toml line 3: key 'retry_attempts' must be a whole number"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_shows_sources_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .env("GITHUB_TOKEN", CANARY_GITHUB_TOKEN)
        .env("GITLAB_TOKEN", CANARY_GITLAB_TOKEN)
        .env("CIRCLE_TOKEN", CANARY_CIRCLE_TOKEN)
        .env("DATAFOLD_HOST", "https://datafold.internal")
        .args(["config", "--ci-config-id", "7"])
        .run()
        .expect_code(0);
    run.assert_no_leak();
    assert!(
        run.stdout
            .contains("api_key = *** (set)  # DATAFOLD_API_KEY"),
        "{}",
        run.stdout
    );
    for (key, var) in [
        ("github_token", "GITHUB_TOKEN"),
        ("gitlab_token", "GITLAB_TOKEN"),
        ("circle_token", "CIRCLE_TOKEN"),
    ] {
        assert!(
            run.stdout.contains(&format!("{key} = *** (set)  # {var}")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("host = https://datafold.internal  # DATAFOLD_HOST"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("ci_config_id = 7  # flag --ci-config-id"),
        "{}",
        run.stdout
    );
}
