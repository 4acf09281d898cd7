//! The event payload GitHub Actions writes to `GITHUB_EVENT_PATH`: the webhook payload of the event
//! that started the run. Only the fields foldup reads are modelled; serde skips the rest (without
//! recursion, so a deeply nested field foldup does not read cannot exhaust the stack).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use serde::Deserialize;

use crate::GitHubError;

/// GitHub caps webhook payloads at 25 MiB; a bigger file is not an event payload, and reading it
/// whole would only waste memory.
pub const MAX_EVENT_PAYLOAD_BYTES: u64 = 25 * 1024 * 1024;

/// The parts of a webhook payload that decide the CI context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EventPayload {
    #[serde(default)]
    pub action: Option<String>,
    /// The PR number on `pull_request` events (also in `pull_request.number`).
    #[serde(default)]
    pub number: Option<u64>,
    /// `push` and `workflow_dispatch`: the full ref (`refs/heads/main`, `refs/tags/v1`).
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// `push`: the commit the ref points to after the push.
    #[serde(default)]
    pub after: Option<String>,
    /// `schedule`: the cron expression that fired; the payload has nothing else.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub repository: Option<Repository>,
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
    #[serde(default)]
    pub merge_group: Option<MergeGroup>,
    /// `workflow_run`: the run that triggered this workflow.
    #[serde(default)]
    pub workflow_run: Option<WorkflowRun>,
}

/// A GitHub user or app (`pull_request.user`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    #[serde(default)]
    pub login: Option<String>,
}

/// The `workflow_run` object of a `workflow_run` event: the run whose completion (or request)
/// started this workflow, GitHub's documented way to give a fork's pull request access to
/// secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    /// The commit the triggering run built: a pull request's head, not a merge commit.
    #[serde(default)]
    pub head_sha: Option<String>,
    #[serde(default)]
    pub head_branch: Option<String>,
    /// The event that started the triggering run (`pull_request`, `push`, …).
    #[serde(default)]
    pub event: Option<String>,
    /// The pull requests of the run; GitHub leaves it empty for pull requests from forks.
    #[serde(default)]
    pub pull_requests: Vec<WorkflowRunPullRequest>,
    #[serde(default)]
    pub head_repository: Option<Repository>,
    #[serde(default)]
    pub repository: Option<Repository>,
}

/// An entry of `workflow_run.pull_requests`: GitHub sends a minimal pull request object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WorkflowRunPullRequest {
    #[serde(default)]
    pub number: Option<u64>,
    #[serde(default)]
    pub head: Option<PullRequestEnd>,
    #[serde(default)]
    pub base: Option<PullRequestEnd>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Repository {
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    #[serde(default)]
    pub number: Option<u64>,
    #[serde(default)]
    pub state: Option<String>,
    /// Who opened it: `dependabot[bot]` for Dependabot's pull requests.
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub head: Option<PullRequestEnd>,
    #[serde(default)]
    pub base: Option<PullRequestEnd>,
}

/// `pull_request.head` or `pull_request.base`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PullRequestEnd {
    #[serde(default)]
    pub sha: Option<String>,
    /// The branch name, without `refs/heads/`.
    #[serde(default, rename = "ref")]
    pub branch: Option<String>,
    /// `null` when the fork the pull request came from has been deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MergeGroup {
    #[serde(default)]
    pub head_sha: Option<String>,
    #[serde(default)]
    pub head_ref: Option<String>,
    #[serde(default)]
    pub base_ref: Option<String>,
}

/// Parses payload bytes. Separate from reading so fuzzing can drive it directly.
pub fn parse_event_payload(bytes: &[u8]) -> Result<EventPayload, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Reads and parses the payload at `path`, reading at most [`MAX_EVENT_PAYLOAD_BYTES`].
pub fn read_event_payload(path: &Path) -> Result<EventPayload, GitHubError> {
    let unreadable = |source: std::io::Error| {
        if source.kind() == ErrorKind::NotFound {
            GitHubError::EventPayloadMissing {
                path: path.to_owned(),
            }
        } else {
            GitHubError::EventPayloadUnreadable {
                path: path.to_owned(),
                source,
            }
        }
    };
    let too_large = || GitHubError::EventPayloadTooLarge {
        path: path.to_owned(),
        limit: MAX_EVENT_PAYLOAD_BYTES,
    };
    // Checked before opening: opening a named pipe would wait for a writer, maybe forever.
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(GitHubError::EventPayloadNotAFile {
            path: path.to_owned(),
        });
    }
    // The size on disk refuses a huge file without touching its contents; the capped read below
    // also covers a file that grows while being read.
    if metadata.len() > MAX_EVENT_PAYLOAD_BYTES {
        return Err(too_large());
    }
    let file = File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_EVENT_PAYLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_EVENT_PAYLOAD_BYTES {
        return Err(too_large());
    }
    parse_event_payload(&bytes).map_err(|e| GitHubError::EventPayloadMalformed {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deeply_nested_field_foldup_ignores_does_not_matter() {
        let depth = 200_000;
        let payload = format!(
            r#"{{"junk": {}{}, "repository": {{"default_branch": "main"}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let parsed = parse_event_payload(payload.as_bytes()).expect("ignored nesting is skipped");
        assert_eq!(
            parsed.repository.and_then(|r| r.default_branch).as_deref(),
            Some("main")
        );
    }

    #[test]
    fn wrong_types_are_an_error_not_a_panic() {
        let err = parse_event_payload(br#"{"pull_request": {"number": "forty-two"}}"#)
            .expect_err("a string PR number is not a payload");
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(parse_event_payload(b"null").is_err());
        assert!(parse_event_payload(b"").is_err());
    }
}
