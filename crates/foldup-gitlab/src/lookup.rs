//! The optional look-up of a branch's open merge request through GitLab's REST API, for branch
//! pipelines whose variables name none. The `gitlab` crate's typed endpoints build the requests;
//! `foldup_http` sends them (its client traits are implemented here over foldup's one HTTP
//! client, so proxies and CA come from the environment snapshot like every other request).

use std::time::Duration;

use foldup_core::http::header::HeaderName;
use foldup_core::http::{
    Bytes, ClientOptions, Credential, HttpClient, HttpError, NetworkSettings, SetupError, Url,
};
use foldup_core::{Env, Secret};
use gitlab::api::projects::merge_requests::{MergeRequestState, MergeRequests};
use gitlab::api::users::CurrentUser;
use gitlab::api::{ApiError, AsyncClient, AsyncQuery, RestClient};
use serde::Deserialize;

use crate::{quoted, GitLabError};

/// A GitLab instance's address: host (with port and any relative URL root), whether to speak
/// plain http, and the network settings to reach it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabServer {
    host: String,
    insecure: bool,
    network: NetworkSettings,
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
            network: NetworkSettings::default(),
        })
    }

    /// The same server, reached through `network`'s proxies and CA certificates.
    pub fn with_network(mut self, network: NetworkSettings) -> Self {
        self.network = network;
        self
    }

    /// The instance named by GitLab's variables: `CI_SERVER_URL`, else `CI_API_V4_URL` without
    /// its `/api/v4`; reached with the snapshot's proxies and CA certificates.
    pub fn from_env(env: &Env) -> Result<Self, GitLabError> {
        let server = if let Some(url) = env.get("CI_SERVER_URL") {
            Self::parse(url)?
        } else if let Some(api) = env.get("CI_API_V4_URL") {
            let api = api.trim().trim_end_matches('/');
            Self::parse(api.strip_suffix("/api/v4").unwrap_or(api))?
        } else {
            return Err(GitLabError::NoServerUrl);
        };
        Ok(server.with_network(env.network()))
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
    let call = list_open_merge_requests(server, token, project, branch, timeout);
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
    timeout: Duration,
) -> Result<Vec<OpenMergeRequest>, GitLabError> {
    let client = GitLabRest::new(server, token, timeout)?;
    // The token first, as the `gitlab` crate's own client does: a 404 there means the address
    // is not a GitLab API, which is a clearer sentence than "project not found".
    gitlab::api::ignore(
        CurrentUser::builder()
            .build()
            .map_err(|error| GitLabError::Other {
                reason: quoted(&error.to_string()),
            })?,
    )
    .query_async(&client)
    .await
    .map_err(|error| api_error(error, Stage::Connect, server))?;

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
            reason: quoted(&error.to_string()),
        })?;
    let listed: Vec<OpenMergeRequest> = endpoint
        .query_async(&client)
        .await
        .map_err(|error| api_error(error, Stage::List { project }, server))?;
    // The list also holds merge requests from forks whose branch has the same name.
    Ok(listed
        .into_iter()
        .filter(|mr| mr.source_project_id == Some(mr.project_id) && mr.source_branch == branch)
        .collect())
}

/// The `gitlab` crate's client traits over foldup's own HTTP client: `PRIVATE-TOKEN` auth,
/// proxies and CA from the snapshot, no redirects, bounded answers.
pub(crate) struct GitLabRest {
    http: HttpClient,
    /// `https://host[:port][/root]/api/v4/`.
    api: Url,
    timeout: Duration,
}

impl GitLabRest {
    pub(crate) fn new(
        server: &GitLabServer,
        token: &Secret,
        timeout: Duration,
    ) -> Result<Self, GitLabError> {
        let api = Url::parse(&format!("{}/api/v4/", server.url()))
            .map_err(|_| GitLabError::BadServerUrl(server.url()))?;
        let mut options = ClientOptions::new(server.network.clone());
        options.credential = Some(Credential::new(
            HeaderName::from_static("private-token"),
            token.expose(),
        ));
        // A page of merge requests is tens of KiB.
        options.max_answer_bytes = 8 * 1024 * 1024;
        let http = HttpClient::new(options).map_err(|error| match error {
            SetupError::UnsendableCredential { .. } => GitLabError::UnusableToken,
            other => GitLabError::Other {
                reason: quoted(&foldup_core::log_text::error_chain(&other)),
            },
        })?;
        Ok(Self { http, api, timeout })
    }
}

impl RestClient for GitLabRest {
    type Error = HttpError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<HttpError>> {
        Ok(self.api.join(endpoint)?)
    }
}

#[foldup_core::async_trait]
impl AsyncClient for GitLabRest {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<HttpError>> {
        self.http
            .send_http(request, body, self.timeout)
            .await
            .map_err(ApiError::client)
    }
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

pub(crate) fn api_error(
    error: ApiError<HttpError>,
    stage: Stage<'_>,
    server: &GitLabServer,
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
            ApiError::Client { source } => http_error(source, server_url),
            ApiError::Auth { .. } => GitLabError::UnusableToken,
            ApiError::DataType { .. } | ApiError::Json { .. } => GitLabError::BadResponse {
                server: server_url,
                reason: quoted(&foldup_core::log_text::error_chain(&error)),
            },
            other => GitLabError::Other {
                reason: quoted(&foldup_core::log_text::error_chain(&other)),
            },
        },
    }
}

fn http_error(error: HttpError, server: String) -> GitLabError {
    match error {
        HttpError::TimedOut { timeout, .. } => GitLabError::Timeout {
            server,
            waited: human_duration(timeout),
        },
        HttpError::PlainHttpToOtherHost { .. } => GitLabError::PlainHttp { server },
        HttpError::Unreachable { ref reason, .. } | HttpError::Certificate { ref reason, .. } => {
            GitLabError::Unreachable {
                server,
                reason: reason.clone(),
                source: error,
            }
        }
        other => GitLabError::Unreachable {
            server,
            reason: quoted(&other.to_string()),
            source: other,
        },
    }
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
