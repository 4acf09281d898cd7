//! The optional look-up of a branch's open merge request through GitLab's REST API (the
//! `gitlab` crate), for branch pipelines whose variables name none.

use std::time::Duration;

use foldup_core::{Env, Secret};
use gitlab::api::projects::merge_requests::{MergeRequestState, MergeRequests};
use gitlab::api::{ApiError, AsyncQuery};
use gitlab::{GitlabBuilder, GitlabError, RestError};
use serde::Deserialize;

use crate::{quoted, GitLabError};

/// A GitLab instance's address, as the `gitlab` crate wants it: host (with port and any
/// relative URL root) and whether to speak plain http.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabServer {
    pub(crate) host: String,
    pub(crate) insecure: bool,
}

impl GitLabServer {
    /// Parses an instance URL such as `https://gitlab.example.com:8443` or
    /// `http://127.0.0.1:8080/gitlab`.
    pub fn parse(url: &str) -> Result<Self, GitLabError> {
        let trimmed = url.trim();
        let (insecure, rest) = if let Some(rest) = strip_prefix_ignore_case(trimmed, "https://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(trimmed, "http://") {
            (true, rest)
        } else {
            return Err(GitLabError::BadServerUrl(quoted(trimmed)));
        };
        let host = rest.trim_end_matches('/');
        let host_part = host.split('/').next().unwrap_or_default();
        let acceptable = !host_part.is_empty()
            && !host.contains(['?', '#', '@'])
            && !host.chars().any(|c| c.is_whitespace() || c.is_control());
        if !acceptable {
            return Err(GitLabError::BadServerUrl(quoted(trimmed)));
        }
        Ok(Self {
            host: host.to_owned(),
            insecure,
        })
    }

    /// The instance named by GitLab's variables: `CI_SERVER_URL`, else `CI_API_V4_URL` without
    /// its `/api/v4`.
    pub fn from_env(env: &Env) -> Result<Self, GitLabError> {
        if let Some(url) = env.get("CI_SERVER_URL") {
            return Self::parse(url);
        }
        if let Some(api) = env.get("CI_API_V4_URL") {
            let api = api.trim().trim_end_matches('/');
            let base = api.strip_suffix("/api/v4").unwrap_or(api);
            return Self::parse(base);
        }
        Err(GitLabError::NoServerUrl)
    }

    /// The instance URL, for messages.
    pub fn url(&self) -> String {
        let scheme = if self.insecure { "http" } else { "https" };
        format!("{scheme}://{}", self.host)
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// An open merge request, as GitLab's "List project merge requests" returns it (the fields
/// foldup needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OpenMergeRequest {
    pub iid: u64,
    pub source_branch: String,
    pub target_branch: String,
    /// The project the merge request lives in (its target project).
    pub project_id: u64,
    /// The project the changes come from; another project for a fork, null when it was deleted.
    pub source_project_id: Option<u64>,
    #[serde(default)]
    pub web_url: Option<String>,
}

/// Lists the open merge requests of `project` (numeric id or full path) whose source is
/// `branch` in that same project, newest first. Gives up after `timeout`.
pub async fn find_open_merge_requests(
    server: &GitLabServer,
    token: &Secret,
    project: &str,
    branch: &str,
    timeout: Duration,
) -> Result<Vec<OpenMergeRequest>, GitLabError> {
    tracing::debug!(server = %server.url(), project, branch, "asking GitLab for open merge requests");
    let call = list_open_merge_requests(server, token, project, branch);
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_elapsed) => Err(GitLabError::Timeout {
            server: server.url(),
            waited: human_duration(timeout),
        }),
    }
}

async fn list_open_merge_requests(
    server: &GitLabServer,
    token: &Secret,
    project: &str,
    branch: &str,
) -> Result<Vec<OpenMergeRequest>, GitLabError> {
    let mut builder = GitlabBuilder::new(server.host.clone(), token.expose());
    if server.insecure {
        builder.insecure();
    }
    builder.user_agent(concat!("foldup/", env!("CARGO_PKG_VERSION")));
    // Building the client checks the token with `GET /api/v4/user`.
    let client = builder
        .build_async()
        .await
        .map_err(|error| client_error(error, server, token))?;

    let project = project.trim();
    let mut endpoint = MergeRequests::builder();
    match project.parse::<u64>() {
        Ok(id) => endpoint.project(id),
        Err(_) => endpoint.project(project),
    };
    let endpoint = endpoint
        .state(MergeRequestState::Opened)
        .source_branch(branch)
        .build()
        .map_err(|error| GitLabError::Other {
            reason: error.to_string(),
        })?;
    let listed: Vec<OpenMergeRequest> = endpoint
        .query_async(&client)
        .await
        .map_err(|error| api_error(error, Stage::List { project }, server, token))?;
    // The list also holds merge requests from forks whose branch has the same name.
    Ok(listed
        .into_iter()
        .filter(|mr| mr.source_project_id == Some(mr.project_id) && mr.source_branch == branch)
        .collect())
}

/// `300 ms`, `5 s`, `2.5 s`.
pub(crate) fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis % 1000 == 0 {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

pub(crate) enum Stage<'a> {
    Connect,
    List { project: &'a str },
}

pub(crate) fn client_error(
    error: GitlabError,
    server: &GitLabServer,
    token: &Secret,
) -> GitLabError {
    match error {
        GitlabError::Api { source } => api_error(source, Stage::Connect, server, token),
        GitlabError::Communication { source } => GitLabError::Unreachable {
            server: server.url(),
            reason: error_chain(&source, token),
        },
        GitlabError::UrlParse { .. } => GitLabError::BadServerUrl(server.url()),
        GitlabError::AuthError { .. } => GitLabError::UnusableToken,
        other => GitLabError::Other {
            reason: error_chain(&other, token),
        },
    }
}

pub(crate) fn api_error(
    error: ApiError<RestError>,
    stage: Stage<'_>,
    server: &GitLabServer,
    token: &Secret,
) -> GitLabError {
    let status = match &error {
        ApiError::GitlabWithStatus { status, .. }
        | ApiError::GitlabObjectWithStatus { status, .. }
        | ApiError::GitlabUnrecognizedWithStatus { status, .. }
        | ApiError::GitlabService { status, .. } => Some(status.as_u16()),
        _ => None,
    };
    let server_url = server.url();
    match (status, stage) {
        (Some(401 | 403), _) => GitLabError::TokenRejected {
            server: server_url,
            status: status.unwrap_or_default(),
        },
        (Some(404), Stage::Connect) => GitLabError::NoApi { server: server_url },
        (Some(404), Stage::List { project }) => GitLabError::ProjectNotFound {
            server: server_url,
            project: quoted(project),
        },
        (Some(status), _) => GitLabError::Status {
            server: server_url,
            status,
        },
        (None, _) => match error {
            ApiError::GitlabRateLimited { .. } => GitLabError::RateLimited { server: server_url },
            ApiError::Client {
                source: RestError::Communication { source },
            } => GitLabError::Unreachable {
                server: server_url,
                reason: error_chain(&source, token),
            },
            ApiError::Client {
                source: RestError::AuthError { .. },
            }
            | ApiError::Auth { .. } => GitLabError::UnusableToken,
            ApiError::DataType { .. } | ApiError::Json { .. } => GitLabError::BadResponse {
                server: server_url,
                reason: error_chain(&error, token),
            },
            other => GitLabError::Other {
                reason: error_chain(&other, token),
            },
        },
    }
}

/// An error and its causes on one line, with the token blanked out should any layer echo it.
fn error_chain(error: &dyn std::error::Error, token: &Secret) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    let secret = token.expose();
    if !secret.is_empty() {
        text = text.replace(secret, "***");
    }
    quoted(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_keep_port_and_relative_root_and_pick_the_scheme() {
        let server = GitLabServer::parse("https://gitlab.example.com:8443/").unwrap();
        assert_eq!(server.host, "gitlab.example.com:8443");
        assert!(!server.insecure);
        let server = GitLabServer::parse("http://127.0.0.1:8080/gitlab").unwrap();
        assert_eq!(server.host, "127.0.0.1:8080/gitlab");
        assert!(server.insecure);
        assert_eq!(server.url(), "http://127.0.0.1:8080/gitlab");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(300)), "300 ms");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(human_duration(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn bad_server_urls_are_one_sentence_errors() {
        for bad in [
            "gitlab.example.com",
            "ftp://x",
            "https://",
            "https:// x",
            "https://u:p@h",
        ] {
            let error = GitLabServer::parse(bad).unwrap_err();
            assert!(
                matches!(error, GitLabError::BadServerUrl(_)),
                "{bad}: {error}"
            );
            assert!(error.to_string().contains("CI_SERVER_URL"), "{error}");
        }
    }

    #[test]
    fn the_server_comes_from_ci_server_url_else_the_api_url() {
        let env = Env::from_pairs([
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_API_V4_URL", "https://other.example.com/api/v4"),
        ]);
        assert_eq!(
            GitLabServer::from_env(&env).unwrap().url(),
            "https://gitlab.example.com"
        );
        let env = Env::from_pairs([("CI_API_V4_URL", "https://gitlab.example.com/api/v4")]);
        assert_eq!(
            GitLabServer::from_env(&env).unwrap().url(),
            "https://gitlab.example.com"
        );
        assert!(matches!(
            GitLabServer::from_env(&Env::default()),
            Err(GitLabError::NoServerUrl)
        ));
    }
}
