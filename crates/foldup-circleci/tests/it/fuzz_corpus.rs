//! The committed corpus of the `circleci_pull_request` fuzz target
//! (fuzz/corpus/circleci_pull_request, crash reproducers included), replayed with the target's
//! checks on every test run.

use foldup_circleci::CircleCi;
use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_testkit::context_checks::as_variable;
use foldup_testkit::corpus::{check_replayed_context, corpus};

#[tokio::test]
async fn the_pull_request_corpus_gives_one_line_warnings_and_positive_numbers() {
    for (input, data) in corpus("circleci_pull_request") {
        let mut parts = data.split(|&b| b == 0xFF).map(as_variable);
        let mut vars = vec![
            ("CIRCLECI".to_owned(), "true".to_owned()),
            (
                "CIRCLE_SHA1".to_owned(),
                "0123456789abcdef0123456789abcdef01234567".to_owned(),
            ),
            ("CIRCLE_PROJECT_USERNAME".to_owned(), "acme".to_owned()),
            ("CIRCLE_PROJECT_REPONAME".to_owned(), "dbt".to_owned()),
            (
                "CIRCLE_PULL_REQUEST".to_owned(),
                parts.next().unwrap_or_default(),
            ),
        ];
        for name in [
            "CIRCLE_PULL_REQUESTS",
            "CIRCLE_PR_NUMBER",
            "CIRCLE_BRANCH",
            "CIRCLE_TAG",
        ] {
            if let Some(value) = parts.next() {
                vars.push((name.to_owned(), value));
            }
        }
        let ctx = CircleCi::default()
            .detect(&Env::from_pairs(vars), &DetectOptions::default())
            .await
            .unwrap();
        check_replayed_context(&ctx, &input);
        assert!(
            ctx.pr_number.value.is_none_or(|n| n > 0),
            "{}",
            input.display()
        );
    }
}
