//! One sticky note on a merge request through the `gitlab` crate's typed endpoints: found by a
//! hidden marker in its body, edited on every run, created only when no note carries the marker.

use std::time::Duration;

use foldup_core::Secret;
use gitlab::api::projects::merge_requests::notes::{
    CreateMergeRequestNote, EditMergeRequestNote, MergeRequestNotes,
};
use gitlab::api::{ignore, paged, AsyncQuery, Pagination};
use serde::Deserialize;

use crate::lookup::{api_error, human_duration, GitLabRest, Stage};
use crate::{GitLabError, GitLabServer};

/// Notes read while looking for the marker.
const MAX_NOTES: usize = 3_000;

/// What happened to the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteOutcome {
    Created { id: u64 },
    Updated { id: u64 },
}

#[derive(Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

/// Creates or updates the merge request's note that carries `marker` (which `body` must hold).
/// Gives up after `timeout`.
pub async fn upsert_merge_request_note(
    server: &GitLabServer,
    token: &Secret,
    project: &str,
    merge_request: u64,
    marker: &str,
    body: &str,
    timeout: Duration,
) -> Result<NoteOutcome, String> {
    let call = upsert(server, token, project, merge_request, marker, body, timeout);
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_elapsed) => Err(GitLabError::Timeout {
            server: server.url(),
            waited: human_duration(timeout),
        }),
    };
    answer.map_err(|error| match error {
        // Writing a note takes more than the look-ups' read_api.
        GitLabError::TokenRejected { server, status } => format!(
            "GitLab at {server} refused the note (HTTP {status}); give foldup a token with the api scope and at least the Reporter role on this project"
        ),
        other => other.to_string(),
    })
}

async fn upsert(
    server: &GitLabServer,
    token: &Secret,
    project: &str,
    merge_request: u64,
    marker: &str,
    body: &str,
    timeout: Duration,
) -> Result<NoteOutcome, GitLabError> {
    let client = GitLabRest::new(server, token, timeout)?;
    let project = project.trim();
    let stage = || Stage::List { project };
    let other = |error: &dyn std::fmt::Display| GitLabError::Other {
        reason: error.to_string(),
    };
    let project_id = |endpoint_project: &str| -> gitlab::api::common::NameOrId<'static> {
        match endpoint_project.parse::<u64>() {
            Ok(id) => id.into(),
            Err(_) => endpoint_project.to_owned().into(),
        }
    };

    let list = MergeRequestNotes::builder()
        .project(project_id(project))
        .merge_request(merge_request)
        .build()
        .map_err(|e| other(&e))?;
    let notes: Vec<Note> = paged(list, Pagination::Limit(MAX_NOTES))
        .query_async(&client)
        .await
        .map_err(|error| api_error(error, stage(), server))?;
    let existing = notes
        .iter()
        .find(|note| note.body.as_deref().is_some_and(|b| b.contains(marker)))
        .map(|note| note.id);
    match existing {
        Some(id) => {
            let edit = EditMergeRequestNote::builder()
                .project(project_id(project))
                .merge_request(merge_request)
                .note(id)
                .body(body)
                .build()
                .map_err(|e| other(&e))?;
            ignore(edit)
                .query_async(&client)
                .await
                .map_err(|error| api_error(error, stage(), server))?;
            Ok(NoteOutcome::Updated { id })
        }
        None => {
            let create = CreateMergeRequestNote::builder()
                .project(project_id(project))
                .merge_request(merge_request)
                .body(body)
                .build()
                .map_err(|e| other(&e))?;
            let note: Note = create
                .query_async(&client)
                .await
                .map_err(|error| api_error(error, stage(), server))?;
            Ok(NoteOutcome::Created { id: note.id })
        }
    }
}
