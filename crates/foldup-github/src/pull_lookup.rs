//! The optional GitHub API look-up: is a pushed commit the head of an open pull request? Then
//! the push build is really that pull request's build. Runs only with a token, is bounded by a
//! timeout, and never fails detection.

use std::error::Error as _;
use std::time::Duration;

use foldup_core::{sanitize_line, CiContext, CommitSha, Env, RunType, Secret, Sourced};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{redirect, NoProxy, Proxy, Url};

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

/// Asks GitHub whether the pushed commit heads an open pull request and, if so, turns the
/// context into that pull request's build. A failure is a warning; the context stays as the
/// variables made it.
pub(crate) async fn apply_open_pull_request(
    env: &Env,
    ctx: &mut CiContext,
    token: &Secret,
    timeout: Duration,
) {
    let (Some(sha), Some(branch), Some(repository)) = (
        ctx.commit_sha.get().cloned(),
        ctx.branch.get().cloned(),
        ctx.repository.get().cloned(),
    ) else {
        return;
    };
    let api_url = env.get("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
    let endpoint = format!(
        "GitHub API /repos/{}/commits/{sha}/pulls",
        sanitize_line(&repository)
    );
    match find_open_pull_request(env, api_url, &repository, &sha, &branch, token, timeout).await {
        Ok(Some(pull_request)) => {
            ctx.run_type = Sourced::new(
                RunType::PullRequest,
                format!(
                    "{endpoint}: open pull request #{} has this commit as its head",
                    pull_request.number
                ),
            );
            ctx.pr_number = Sourced::new(pull_request.number, format!("{endpoint} number"));
            ctx.base_branch = match pull_request.base_branch {
                Some(base) => Sourced::new(base, format!("{endpoint} base.ref")),
                None => Sourced::missing(format!("{endpoint} gave no base.ref")),
            };
        }
        Ok(None) => {
            if ctx.run_type.value.is_none() {
                if let Some(reason) = ctx.run_type.source.as_mut() {
                    reason.push_str(&format!(
                        "; {endpoint} lists no open pull request with this commit as its head"
                    ));
                }
            }
        }
        Err(error) => ctx.warnings.push(format!(
            "Could not ask GitHub for an open pull request of this commit: {}; foldup kept the answer from the environment.",
            redact(&error.to_string(), token)
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
    let client = client(env, &url, token, timeout)?;
    let shown_url = url.to_string();
    let answer = tokio::time::timeout(timeout, fetch(&client, url, token)).await;
    let body = match answer {
        Err(_elapsed) => {
            return Err(GitHubError::ApiTimeout {
                url: shown_url,
                timeout,
            })
        }
        Ok(Err(FetchError::Timeout)) => {
            return Err(GitHubError::ApiTimeout {
                url: shown_url,
                timeout,
            })
        }
        Ok(Err(FetchError::Unreachable(reason))) => {
            return Err(GitHubError::ApiUnreachable {
                url: shown_url,
                reason,
            })
        }
        Ok(Err(FetchError::Status(status, message))) => {
            return Err(GitHubError::ApiStatus {
                url: shown_url,
                status,
                message,
            })
        }
        Ok(Err(FetchError::TooLarge)) => {
            return Err(GitHubError::ApiMalformed {
                url: shown_url,
                reason: format!("more than {} MiB", MAX_RESPONSE_BYTES / (1024 * 1024)),
            })
        }
        Ok(Ok(body)) => body,
    };
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

pub(crate) fn client(
    env: &Env,
    url: &Url,
    token: &Secret,
    timeout: Duration,
) -> Result<reqwest::Client, GitHubError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    headers.insert(
        "X-GitHub-Api-Version",
        HeaderValue::from_static("2022-11-28"),
    );
    let mut authorization =
        HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
            GitHubError::Client(
                "the GitHub token holds characters that cannot be sent in an HTTP header"
                    .to_owned(),
            )
        })?;
    authorization.set_sensitive(true);
    headers.insert(AUTHORIZATION, authorization);
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("foldup/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        // A redirect could carry the token to another host; GitHub does not redirect this call.
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy();
    if let Some(proxy) = proxy_from_env(env, url.scheme()) {
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| GitHubError::Client(redact(&error_chain(&e), token)))
}

enum FetchError {
    Timeout,
    Unreachable(String),
    Status(u16, String),
    TooLarge,
}

async fn fetch(client: &reqwest::Client, url: Url, token: &Secret) -> Result<Vec<u8>, FetchError> {
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Unreachable(redact(&error_chain(&e), token))
        }
    };
    let mut response = client.get(url).send().await.map_err(transport)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(FetchError::Status(
            status.as_u16(),
            redact(&status_message(status.as_u16(), &body), token),
        ));
    }
    Ok(body)
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

/// The error and its causes on one line; reqwest's top-level message alone hides the cause.
pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    sanitize_line(&text)
}

/// Whatever a server or library echoes, the token never reaches a log.
pub(crate) fn redact(text: &str, token: &Secret) -> String {
    if token.expose().is_empty() {
        text.to_owned()
    } else {
        text.replace(token.expose(), "***")
    }
}

/// The proxy the usual variables ask for, read from the snapshot rather than the process.
fn proxy_from_env(env: &Env, scheme: &str) -> Option<Proxy> {
    let names: &[&str] = if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"]
    };
    let url = names.iter().find_map(|name| env.get(name))?;
    let no_proxy = env
        .get("NO_PROXY")
        .or_else(|| env.get("no_proxy"))
        .and_then(NoProxy::from_string);
    Proxy::all(url.trim()).ok().map(|p| p.no_proxy(no_proxy))
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
