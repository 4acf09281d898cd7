//! The optional GitHub API look-up: is a pushed commit the head of an open pull request? Then
//! the push build is really that pull request's build. Runs only with a token, is bounded by a
//! timeout, and never fails detection.

use std::time::Duration;

use foldup_core::http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use foldup_core::http::{ClientOptions, Credential, HttpClient, HttpError, Url};
use foldup_core::{log_text, sanitize_line, CiContext, CommitSha, Env, Secret, Sourced};

use crate::event_payload::PullRequest;
use crate::GitHubError;

const DEFAULT_API_URL: &str = "https://api.github.com";

/// One page of pull requests is tens of KiB; anything near this is not GitHub answering.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The open pull request whose head is the pushed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenPullRequest {
    pub number: u64,
    pub base_branch: Option<String>,
}

/// What asking GitHub for the open pull request of the built commit added to the facts.
pub(crate) enum LookupAnswer {
    /// The commit heads this open pull request.
    Found(foldup_core::OpenPullRequest),
    /// GitHub lists none; the words for the run type's reason.
    NoneOpen(String),
    /// The look-up failed: a warning, and the variables' answer stands.
    Failed(String),
    /// The context lacks the commit, branch or repository to ask about.
    NotAsked,
}

/// Asks GitHub whether the context's commit heads an open pull request.
pub(crate) async fn look_up_open_pull_request(
    env: &Env,
    ctx: &CiContext,
    token: &Secret,
    timeout: Duration,
) -> LookupAnswer {
    let (Some(sha), Some(branch), Some(repository)) = (
        ctx.commit_sha.get().cloned(),
        ctx.branch.get().cloned(),
        ctx.repository.get().cloned(),
    ) else {
        return LookupAnswer::NotAsked;
    };
    let api_url = env.get("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
    let endpoint = format!(
        "GitHub API /repos/{}/commits/{sha}/pulls",
        sanitize_line(&repository)
    );
    match find_open_pull_request(env, api_url, &repository, &sha, &branch, token, timeout).await {
        Ok(Some(pull_request)) => LookupAnswer::Found(foldup_core::OpenPullRequest {
            reason: format!(
                "{endpoint}: open pull request #{} has this commit as its head",
                pull_request.number
            ),
            number: Sourced::new(pull_request.number, format!("{endpoint} number")),
            base_branch: match pull_request.base_branch {
                Some(base) => Sourced::new(base, format!("{endpoint} base.ref")),
                None => Sourced::missing(format!("{endpoint} gave no base.ref")),
            },
            warnings: Vec::new(),
        }),
        Ok(None) => LookupAnswer::NoneOpen(format!(
            "{endpoint} lists no open pull request with this commit as its head"
        )),
        Err(error) => LookupAnswer::Failed(format!(
            "Could not ask GitHub for an open pull request of this commit: {}; foldup kept the answer from the environment.",
            log_text::redact(&error.to_string(), token.expose())
        )),
    }
}

/// `GET {api}/repos/{owner}/{repo}/commits/{sha}/pulls`, keeping the open pull request whose
/// head is `sha` (preferring one whose head branch is `branch`).
pub(crate) async fn find_open_pull_request(
    env: &Env,
    api_url: &str,
    repository: &str,
    sha: &CommitSha,
    branch: &str,
    token: &Secret,
    timeout: Duration,
) -> Result<Option<OpenPullRequest>, GitHubError> {
    let url = pulls_url(api_url, repository, sha)?;
    let http = client(env, token, MAX_RESPONSE_BYTES)?;
    let shown_url = url.to_string();
    let answer = http
        .send(http.get(url), timeout)
        .await
        .map_err(|error| match error {
            HttpError::TimedOut { .. } => GitHubError::ApiTimeout {
                url: shown_url.clone(),
                timeout,
            },
            HttpError::TooLarge { limit, .. } => GitHubError::ApiMalformed {
                url: shown_url.clone(),
                reason: format!("more than {} MiB", limit / (1024 * 1024)),
            },
            HttpError::PlainHttpToOtherHost { .. } => {
                GitHubError::PlainHttpApiUrl(sanitize_line(api_url.trim()))
            }
            HttpError::Unreachable { ref reason, .. }
            | HttpError::Certificate { ref reason, .. } => GitHubError::ApiUnreachable {
                url: shown_url.clone(),
                reason: reason.clone(),
                source: error,
            },
            other => GitHubError::ApiUnreachable {
                url: shown_url.clone(),
                reason: http.clean(&other.to_string()),
                source: other,
            },
        })?;
    if !answer.status.is_success() {
        return Err(GitHubError::ApiStatus {
            url: shown_url,
            status: answer.status.as_u16(),
            message: http.clean(&status_message(answer.status.as_u16(), &answer.body)),
        });
    }
    let body = answer.body;
    let pulls: Vec<PullRequest> =
        serde_json::from_slice(&body).map_err(|e| GitHubError::ApiMalformed {
            url: shown_url,
            reason: e.to_string(),
        })?;
    Ok(pick_open_pull_request(&pulls, sha, branch))
}

fn pick_open_pull_request(
    pulls: &[PullRequest],
    sha: &CommitSha,
    branch: &str,
) -> Option<OpenPullRequest> {
    let heads_this_commit = |pr: &&PullRequest| {
        pr.state.as_deref() == Some("open")
            && pr.number.is_some()
            && pr
                .head
                .as_ref()
                .and_then(|h| h.sha.as_deref())
                .is_some_and(|head| head.eq_ignore_ascii_case(sha.as_str()))
    };
    let same_branch =
        |pr: &&PullRequest| pr.head.as_ref().and_then(|h| h.branch.as_deref()) == Some(branch);
    let chosen = pulls
        .iter()
        .filter(heads_this_commit)
        .find(same_branch)
        .or_else(|| pulls.iter().find(heads_this_commit))?;
    Some(OpenPullRequest {
        number: chosen.number?,
        base_branch: chosen.base.as_ref().and_then(|b| b.branch.clone()),
    })
}

fn pulls_url(api_url: &str, repository: &str, sha: &CommitSha) -> Result<Url, GitHubError> {
    let mut url = Url::parse(api_url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| GitHubError::InvalidApiUrl(sanitize_line(api_url)))?;
    let (owner, name) = repository
        .trim()
        .split_once('/')
        .filter(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| GitHubError::InvalidRepository(sanitize_line(repository)))?;
    url.path_segments_mut()
        .map_err(|()| GitHubError::InvalidApiUrl(sanitize_line(api_url)))?
        .pop_if_empty()
        .extend(["repos", owner, name, "commits", sha.as_str(), "pulls"]);
    Ok(url)
}

/// The client for GitHub's REST API: the token as a bearer credential, proxies and CA from the
/// snapshot. A redirect could carry the token elsewhere; GitHub does not redirect this call, and
/// `foldup_http` never follows one.
pub(crate) fn client(
    env: &Env,
    token: &Secret,
    max_answer_bytes: usize,
) -> Result<HttpClient, GitHubError> {
    let mut options = ClientOptions::new(env.network());
    options.default_headers = HeaderMap::from_iter([
        (
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        ),
        (
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        ),
    ]);
    options.credential = Some(Credential::new(
        AUTHORIZATION,
        format!("Bearer {}", token.expose()),
    ));
    options.max_answer_bytes = max_answer_bytes;
    HttpClient::new(options).map_err(GitHubError::Client)
}

/// GitHub's error bodies are `{"message": "...", "documentation_url": "..."}`.
fn status_message(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect());
    let message = sanitize_line(message.trim());
    match status {
        401 => format!("{message} (GitHub rejected the token)"),
        403 | 404 => format!("{message} (the token may lack read access to pull requests)"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha() -> CommitSha {
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821".parse().unwrap()
    }

    #[test]
    fn url_keeps_an_enterprise_api_prefix() {
        let url = pulls_url(
            "https://ghe.example.com/api/v3/",
            "octo-org/octo-repo",
            &sha(),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://ghe.example.com/api/v3/repos/octo-org/octo-repo/commits/ec26c3e57ca3a959ca5aad62de7213c562f8c821/pulls"
        );
    }

    #[test]
    fn bad_api_urls_and_repositories_are_sentences() {
        let err = pulls_url("ftp://x", "a/b", &sha()).unwrap_err();
        assert!(
            err.to_string().contains("GITHUB_API_URL 'ftp://x'"),
            "{err}"
        );
        let err = pulls_url(DEFAULT_API_URL, "just-a-name", &sha()).unwrap_err();
        assert!(err.to_string().contains("owner/name"), "{err}");
    }

    #[test]
    fn only_an_open_pull_request_headed_by_the_commit_counts() {
        let pulls: Vec<PullRequest> = serde_json::from_str(
            r#"[
              {"number": 1, "state": "closed", "head": {"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "ref": "changes"}, "base": {"ref": "master"}},
              {"number": 2, "state": "open", "head": {"sha": "0000000000000000000000000000000000000000", "ref": "changes"}, "base": {"ref": "master"}},
              {"number": 3, "state": "open", "head": {"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "ref": "other"}, "base": {"ref": "release"}},
              {"number": 4, "state": "open", "head": {"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "ref": "changes"}, "base": {"ref": "master"}}
            ]"#,
        )
        .unwrap();
        let chosen = pick_open_pull_request(&pulls, &sha(), "changes").unwrap();
        assert_eq!(chosen.number, 4);
        assert_eq!(chosen.base_branch.as_deref(), Some("master"));
        let chosen = pick_open_pull_request(&pulls[..3], &sha(), "changes").unwrap();
        assert_eq!(
            chosen.number, 3,
            "another branch at the same commit still counts"
        );
        assert_eq!(pick_open_pull_request(&pulls[..2], &sha(), "changes"), None);
    }
}
