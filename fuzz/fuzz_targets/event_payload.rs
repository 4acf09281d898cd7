//! GitHub's event payload (`GITHUB_EVENT_PATH`): parsing, then the whole GitHub plugin on it, for
//! every event kind. The first byte picks the event.
#![no_main]

use foldup_core::Env;
use foldup_github::GitHubActions;
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let _ = foldup_github::parse_event_payload(payload);

    let path = std::env::temp_dir().join(format!("foldup-fuzz-event-{}.json", std::process::id()));
    std::fs::write(&path, payload).expect("a temporary payload file");
    let event = EVENTS[usize::from(selector) % EVENTS.len()];
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", event),
        (
            "GITHUB_EVENT_PATH",
            path.to_str().expect("a UTF-8 temp dir"),
        ),
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
    foldup_testkit::context_checks::detect_and_check(&GitHubActions::default(), &env);
});
