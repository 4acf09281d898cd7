//! CircleCI's pull request variables (`CIRCLE_PULL_REQUEST` URLs, `CIRCLE_PULL_REQUESTS`,
//! `CIRCLE_PR_NUMBER`, the branch) through the whole CircleCI plugin; the input is split on 0xFF.
#![no_main]

use foldup_circleci::CircleCi;
use foldup_core::Env;
use foldup_testkit::context_checks::as_variable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF).map(as_variable);
    let url = parts.next().unwrap_or_default();
    let mut vars = vec![
        ("CIRCLECI".to_owned(), "true".to_owned()),
        (
            "CIRCLE_SHA1".to_owned(),
            "0123456789abcdef0123456789abcdef01234567".to_owned(),
        ),
        ("CIRCLE_PROJECT_USERNAME".to_owned(), "acme".to_owned()),
        ("CIRCLE_PROJECT_REPONAME".to_owned(), "dbt".to_owned()),
        ("CIRCLE_PULL_REQUEST".to_owned(), url),
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
    let env = Env::from_pairs(vars);
    let ctx = foldup_testkit::context_checks::detect_and_check(&CircleCi::default(), &env);
    if let Some(number) = ctx.pr_number.value {
        assert!(number > 0, "pull request numbers start at 1");
    }
});
