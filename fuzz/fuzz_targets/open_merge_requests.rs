//! GitLab's `CI_OPEN_MERGE_REQUESTS`: the parser, then a branch pipeline of the GitLab plugin
//! with it; the input is the value, then (after 0xFF) the project path.
#![no_main]

use foldup_core::Env;
use foldup_testkit::context_checks::as_variable;
use foldup_gitlab::GitLabCi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0xFF).map(as_variable);
    let value = parts.next().unwrap_or_default();
    let project = parts.next().unwrap_or_else(|| "data/dbt".to_owned());

    let parsed = foldup_gitlab::parse_open_merge_requests(&value);
    for warning in &parsed.warnings {
        foldup_testkit::context_checks::assert_one_line("a CI_OPEN_MERGE_REQUESTS warning", warning);
    }
    for reference in &parsed.references {
        assert!(reference.iid > 0);
    }

    let env = Env::from_pairs([
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("CI_COMMIT_BRANCH", "feature"),
        ("CI_COMMIT_REF_NAME", "feature"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PROJECT_PATH", project.as_str()),
        ("CI_OPEN_MERGE_REQUESTS", value.as_str()),
    ]);
    foldup_testkit::context_checks::detect_and_check(&GitLabCi::default(), &env);
});
