//! The committed corpus of the `circleci_pull_request` fuzz target
//! (fuzz/corpus/circleci_pull_request, crash reproducers included), replayed with the target's
//! checks on every test run.

use foldup_circleci::CircleCi;
use foldup_core::{CiProvider, DetectOptions, Env};

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
        let ctx = CircleCi
            .detect(&Env::from_pairs(vars), &DetectOptions::default())
            .await
            .unwrap();
        check_context(&ctx, &input);
        assert!(
            ctx.pr_number.value.is_none_or(|n| n > 0),
            "{}",
            input.display()
        );
    }
}

/// The fuzz target's checks: `foldup env` prints one line per field, warnings are one line each,
/// and `env --json` round-trips.
fn check_context(ctx: &foldup_core::CiContext, input: &std::path::Path) {
    let one_line = |text: &str| {
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
    };
    let human = ctx.to_human();
    let fields = if ctx.is_fork() { 10 } else { 9 };
    assert_eq!(
        human.lines().count(),
        fields,
        "{}: {human:?}",
        input.display()
    );
    assert!(
        human.lines().all(one_line),
        "{}: {human:?}",
        input.display()
    );
    for warning in &ctx.warnings {
        assert!(one_line(warning), "{}: {warning:?}", input.display());
    }
    let json = ctx.to_json();
    let back: serde_json::Value = serde_json::from_str(&json.to_string()).unwrap();
    assert_eq!(back, json, "{}", input.display());
}

/// Every input of the committed corpus of fuzz target `target` (crash reproducers included).
fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

/// Environment variables cannot hold NUL; foldup reads them as (lossy) UTF-8.
#[allow(dead_code)]
fn as_variable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "")
}
