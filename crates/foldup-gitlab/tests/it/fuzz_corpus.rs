//! The committed corpus of the `open_merge_requests` fuzz target
//! (fuzz/corpus/open_merge_requests, crash reproducers included), replayed with the target's
//! checks on every test run.

use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_gitlab::GitLabCi;

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
        let ctx = GitLabCi
            .detect(&env, &DetectOptions::default())
            .await
            .unwrap();
        check_context(&ctx, &input);
        for warning in &parsed.warnings {
            assert!(
                !warning.contains(['\n', '\r', '\x1b']),
                "{}",
                input.display()
            );
        }
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
