//! The two CircleCI API v2 calls foldup makes, with their responses modelled on CircleCI's
//! published OpenAPI schemas (`getProjectBySlug`, `getPipelineById`). Only the fields foldup reads
//! are modelled; serde ignores the rest, so new fields on CircleCI's side never break a build.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use foldup_core::http::header::{HeaderName, HeaderValue, ACCEPT};
use foldup_core::http::{ClientOptions, Credential, HttpClient, HttpError, StatusCode, Url};
use foldup_core::{sanitize_line, Env, Secret};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Answers larger than this are not a project or a pipeline; refusing them keeps memory bounded.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// `GET /api/v2/project/{project-slug}`: "NOTE: The definition of Project is subject to change."
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    /// `gh/CircleCI-Public/api-preview-docs`, or `circleci/<org-id>/<project-id>`.
    pub slug: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub organization_name: String,
    #[serde(default)]
    pub organization_slug: String,
    #[serde(default)]
    pub organization_id: String,
    pub vcs_info: VcsInfo,
}

/// "Information about the VCS that hosts the project source code."
#[derive(Debug, Clone, Deserialize)]
pub struct VcsInfo {
    #[serde(default)]
    pub vcs_url: String,
    /// `Bitbucket`, `CircleCI` or `GitHub`.
    #[serde(default)]
    pub provider: String,
    pub default_branch: String,
}

/// `GET /api/v2/pipeline/{pipeline-id}`: "A pipeline response."
#[derive(Debug, Clone, Deserialize)]
pub struct Pipeline {
    pub id: String,
    pub project_slug: String,
    #[serde(default)]
    pub number: Option<u64>,
    /// `created`, `errored`, `setup-pending`, `setup` or `pending`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub errors: Vec<PipelineError>,
    /// Present for GitLab, GitHub App and Bitbucket Data Center pipelines.
    #[serde(default)]
    pub trigger_parameters: Option<TriggerParameters>,
    /// Always present for GitHub OAuth and Bitbucket Cloud pipelines.
    #[serde(default)]
    pub vcs: Option<PipelineVcs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PipelineError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// "VCS information for the pipeline."
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PipelineVcs {
    #[serde(default)]
    pub provider_name: String,
    /// The repository the trigger targets (for a fork PR: the parent repository).
    #[serde(default)]
    pub target_repository_url: String,
    /// The repository the trigger came from (for a fork PR: the fork).
    #[serde(default)]
    pub origin_repository_url: String,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// "The code review id": the pull request number, as a string.
    #[serde(default)]
    pub review_id: Option<String>,
    /// "The code review URL": `https://github.com/org/repo/pull/123`.
    #[serde(default)]
    pub review_url: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
}

/// An open map in CircleCI's schema; these are the documented sub-maps foldup reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TriggerParameters {
    #[serde(default)]
    pub circleci: Option<CircleciTrigger>,
    #[serde(default)]
    pub git: Option<GitTrigger>,
    #[serde(default)]
    pub github_app: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CircleciTrigger {
    /// `github_app`, `gitlab`, …
    #[serde(default)]
    pub trigger_type: String,
    /// `push`, `merge request`, …
    #[serde(default)]
    pub event_type: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GitTrigger {
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub checkout_sha: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// CircleCI's error body: `{"message": "Project not found"}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
}

/// A CircleCI project slug, `vcs-slug/org/repo`: `gh/acme/dbt`, `bb/acme/dbt`, or for GitHub App
/// and GitLab projects `circleci/<organization id>/<project id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSlug {
    segments: [String; 3],
}

impl ProjectSlug {
    pub fn new(vcs: &str, org: &str, project: &str) -> Self {
        Self {
            segments: [vcs.to_owned(), org.to_owned(), project.to_owned()],
        }
    }

    /// Parses `vcs/org/project`, as the pipeline API returns it.
    pub fn parse(slug: &str) -> Option<Self> {
        let parts: Vec<&str> = slug.split('/').collect();
        match parts.as_slice() {
            [vcs, org, project] if parts.iter().all(|p| !p.trim().is_empty()) => {
                Some(Self::new(vcs, org, project))
            }
            _ => None,
        }
    }
}

impl fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.segments.join("/"))
    }
}

/// Why a CircleCI look-up failed. Each is a sentence; none contains the token.
#[derive(Debug, thiserror::Error)]
pub enum CircleCiApiError {
    #[error("the CircleCI API address '{0}' is not an http(s) URL; fix circleci_api_url")]
    InvalidApiUrl(String),
    #[error("the CircleCI API address '{0}' is plain http:// to another machine, so foldup does not send CIRCLE_TOKEN there; use its https:// address in circleci_api_url")]
    PlainHttpApiUrl(String),
    #[error("could not set up an HTTP client for CircleCI: {}", foldup_core::log_text::prose(&foldup_core::log_text::error_chain(.0)))]
    Client(#[source] foldup_core::http::SetupError),
    #[error("CircleCI rejected the token while reading {what} (HTTP {status}: {message}); check CIRCLE_TOKEN is a valid personal API token")]
    Unauthorized {
        what: String,
        status: u16,
        message: String,
    },
    #[error("CircleCI has no {what} that this token can see (HTTP 404: {message}); check the token's user can open the project")]
    NotFound { what: String, message: String },
    #[error("CircleCI answered HTTP {status} for {what}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("CircleCI did not answer for {what} within {seconds:.1}s; raise lookup_timeout_seconds if CircleCI is slow")]
    Timeout { what: String, seconds: f64 },
    #[error("could not reach CircleCI for {what}: {reason}")]
    Network {
        what: String,
        reason: String,
        #[source]
        source: HttpError,
    },
    #[error("CircleCI's answer for {what} is not the documented JSON ({reason})")]
    Malformed { what: String, reason: String },
}

/// A small CircleCI API v2 client over `foldup_http`: `Circle-Token` auth, no redirects (the token
/// header must never follow one to another host), and one time budget shared by all its requests.
pub struct CircleCiApi {
    base: Url,
    http: HttpClient,
    deadline: Instant,
    budget: Duration,
}

impl CircleCiApi {
    /// `base_url` is the CircleCI host (`https://circleci.com`); `budget` bounds all requests
    /// made through this client together. Proxies come from `env` (`HTTPS_PROXY`, `NO_PROXY`, …).
    pub fn new(
        base_url: &str,
        token: Secret,
        budget: Duration,
        env: &Env,
    ) -> Result<Self, CircleCiApiError> {
        let base = Url::parse(base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| CircleCiApiError::InvalidApiUrl(sanitize_line(base_url)))?;
        let mut options = ClientOptions::new(env.network());
        options
            .default_headers
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        options.credential = Some(Credential::new(
            HeaderName::from_static("circle-token"),
            token.expose().trim(),
        ));
        options.max_answer_bytes = MAX_RESPONSE_BYTES;
        let http = HttpClient::new(options).map_err(CircleCiApiError::Client)?;
        Ok(Self {
            base,
            http,
            deadline: Instant::now() + budget,
            budget,
        })
    }

    /// `GET /api/v2/project/{project-slug}`.
    pub async fn project(&self, slug: &ProjectSlug) -> Result<Project, CircleCiApiError> {
        let mut segments = vec!["api", "v2", "project"];
        segments.extend(slug.segments.iter().map(String::as_str));
        self.get(&segments, &format!("project {slug}")).await
    }

    /// `GET /api/v2/pipeline/{pipeline-id}`.
    pub async fn pipeline(&self, pipeline_id: &str) -> Result<Pipeline, CircleCiApiError> {
        self.get(
            &["api", "v2", "pipeline", pipeline_id],
            &format!("pipeline {}", sanitize_line(pipeline_id)),
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        what: &str,
    ) -> Result<T, CircleCiApiError> {
        let timeout = || CircleCiApiError::Timeout {
            what: what.to_owned(),
            seconds: self.budget.as_secs_f64(),
        };
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timeout());
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CircleCiApiError::InvalidApiUrl(self.base.to_string()))?
            .pop_if_empty()
            .extend(segments);
        let answer = match self.http.send(self.http.get(url), remaining).await {
            Ok(answer) => answer,
            Err(HttpError::TimedOut { .. }) => return Err(timeout()),
            Err(HttpError::TooLarge { .. }) => {
                return Err(CircleCiApiError::Malformed {
                    what: what.to_owned(),
                    reason: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
                })
            }
            Err(HttpError::PlainHttpToOtherHost { origin }) => {
                return Err(CircleCiApiError::PlainHttpApiUrl(origin))
            }
            Err(error) => {
                let reason = match &error {
                    HttpError::Unreachable { reason, .. }
                    | HttpError::Certificate { reason, .. } => reason.clone(),
                    other => self.http.clean(&other.to_string()),
                };
                return Err(CircleCiApiError::Network {
                    what: what.to_owned(),
                    reason,
                    source: error,
                });
            }
        };
        if !answer.status.is_success() {
            return Err(self.status_error(answer.status, &answer.body, what));
        }
        serde_json::from_slice(&answer.body).map_err(|e| CircleCiApiError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    fn status_error(&self, status: StatusCode, body: &[u8], what: &str) -> CircleCiApiError {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("no message").to_owned());
        let message = self.http.clean(&message);
        let what = what.to_owned();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CircleCiApiError::Unauthorized {
                what,
                status: status.as_u16(),
                message,
            },
            StatusCode::NOT_FOUND => CircleCiApiError::NotFound { what, message },
            _ => CircleCiApiError::Status {
                what,
                status: status.as_u16(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_project_example_deserializes() {
        // The example of CircleCI's getProjectBySlug schema.
        let body = r#"{
            "slug": "gh/CircleCI-Public/api-preview-docs",
            "name": "api-preview-docs",
            "id": "9ed8f0f3-d1f0-4b8d-8b1a-7b0b3e0f3b7e",
            "organization_name": "CircleCI-Public",
            "organization_slug": "gh/CircleCI-Public",
            "organization_id": "ec6887ec-7d44-4b31-b468-7e552408ee32",
            "vcs_info": {
                "vcs_url": "https://github.com/CircleCI-Public/api-preview-docs",
                "provider": "GitHub",
                "default_branch": "main"
            }
        }"#;
        let project: Project = serde_json::from_str(body).unwrap();
        assert_eq!(project.vcs_info.default_branch, "main");
        assert_eq!(project.vcs_info.provider, "GitHub");
    }

    #[test]
    fn a_project_without_vcs_info_is_rejected_not_defaulted() {
        let err = serde_json::from_str::<Project>(r#"{"slug": "gh/a/b"}"#).unwrap_err();
        assert!(err.to_string().contains("vcs_info"), "{err}");
    }

    #[test]
    fn slug_parses_three_segments_only() {
        let slug = ProjectSlug::parse("circleci/9z8PamRuKaKWrW91o7Kqvn/AHWysFUuUfBgs6VeUqm6tg");
        assert_eq!(
            slug.unwrap().to_string(),
            "circleci/9z8PamRuKaKWrW91o7Kqvn/AHWysFUuUfBgs6VeUqm6tg"
        );
        assert!(ProjectSlug::parse("gh/only-two").is_none());
        assert!(ProjectSlug::parse("gh//repo").is_none());
    }

    #[test]
    fn api_url_must_be_http() {
        let err = CircleCiApi::new(
            "circleci.com",
            Secret::new("t"),
            Duration::from_secs(1),
            &Env::default(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("circleci_api_url"), "{err}");
    }
}
