//! The committed corpus of the `open_merge_requests` fuzz target
//! (fuzz/corpus/open_merge_requests, crash reproducers included), replayed with the target's
//! checks on every test run.

use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_gitlab::GitLabCi;
use foldup_testkit::context_checks::as_variable;
use foldup_testkit::corpus::{check_replayed_context, corpus};

#[tokio::test]
async fn the_open_merge_requests_corpus_gives_one_line_warnings() {
    for (input, data) in corpus("open_merge_requests") {
        let mut parts = data.splitn(2, |&b| b == 0xFF).map(as_variable);
        let value = parts.next().unwrap_or_default();
        let project = parts.next().unwrap_or_else(|| "data/dbt".to_owned());
        let parsed = foldup_gitlab::parse_open_merge_requests(&value);
        assert!(parsed.references.iter().all(|r| r.iid > 0));
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
        let ctx = GitLabCi::default()
            .detect(&env, &DetectOptions::default())
            .await
            .unwrap();
        check_replayed_context(&ctx, &input);
        for warning in &parsed.warnings {
            assert!(
                !warning.contains(['\n', '\r', '\x1b']),
                "{}",
                input.display()
            );
        }
    }
}
