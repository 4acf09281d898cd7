//! The committed corpus of the `event_payload` fuzz target (fuzz/corpus/event_payload, crash
//! reproducers included), replayed with the target's checks on every test run.

use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_github::GitHubActions;

const EVENTS: [&str; 8] = [
    "pull_request",
    "pull_request_target",
    "push",
    "workflow_dispatch",
    "schedule",
    "merge_group",
    "release",
    "",
];

#[tokio::test]
async fn the_event_payload_corpus_parses_or_falls_back_with_one_line_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    for (input, data) in corpus("event_payload") {
        let Some((&selector, payload)) = data.split_first() else {
            continue;
        };
        let _ = foldup_github::parse_event_payload(payload);
        std::fs::write(&path, payload).unwrap();
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            (
                "GITHUB_EVENT_NAME",
                EVENTS[usize::from(selector) % EVENTS.len()],
            ),
            ("GITHUB_EVENT_PATH", path.to_str().unwrap()),
            ("GITHUB_SHA", "9a1c3b6e0f2d4a8b7c5e3f1a9b8c7d6e5f4a3b2c"),
            (
                "GITHUB_REF",
                if selector & 0x80 == 0 {
                    "refs/pull/7/merge"
                } else {
                    "refs/heads/main"
                },
            ),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_REPOSITORY", "acme/dbt"),
        ]);
        let ctx = GitHubActions
            .detect(&env, &DetectOptions::default())
            .await
            .unwrap();
        check_context(&ctx, &input);
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
