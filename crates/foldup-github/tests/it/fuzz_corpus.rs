//! The committed corpus of the `event_payload` fuzz target (fuzz/corpus/event_payload, crash
//! reproducers included), replayed with the target's checks on every test run.

use foldup_core::{CiProvider, DetectOptions, Env};
use foldup_github::GitHubActions;
use foldup_testkit::corpus::{check_replayed_context, corpus};

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
        let ctx = GitHubActions::default()
            .detect(&env, &DetectOptions::default())
            .await
            .unwrap();
        check_replayed_context(&ctx, &input);
    }
}
