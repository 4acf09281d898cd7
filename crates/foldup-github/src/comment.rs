//! One sticky comment on a pull request (GitHub's issues comments API): found by a hidden marker
//! in its body, updated on every run, created only when no comment carries the marker.

use std::time::Duration;

use foldup_core::http::header::CONTENT_TYPE;
use foldup_core::http::{HttpClient, HttpError, Method, Url};
use foldup_core::{sanitize_line, Env, Secret};
use serde::Deserialize;

use crate::pull_lookup::client;

const DEFAULT_API_URL: &str = "https://api.github.com";
/// Pages of 100 comments read while looking for the marker.
const MAX_PAGES: u32 = 30;
/// A page of 100 comments is at most a few MiB.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What happened to the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    Created { id: u64 },
    Updated { id: u64 },
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

fn repo_url(api_url: &str, repository: &str, tail: &[&str]) -> Result<Url, String> {
    let mut url = Url::parse(api_url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            format!(
                "GITHUB_API_URL '{}' is not an http(s) URL",
                sanitize_line(api_url)
            )
        })?;
    let (owner, name) = repository
        .trim()
        .split_once('/')
        .filter(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            format!(
                "the repository '{}' is not of the form owner/name",
                sanitize_line(repository)
            )
        })?;
    url.path_segments_mut()
        .map_err(|()| {
            format!(
                "GITHUB_API_URL '{}' cannot take a path",
                sanitize_line(api_url)
            )
        })?
        .pop_if_empty()
        .extend(["repos", owner, name, "issues"])
        .extend(tail);
    Ok(url)
}

/// Creates or updates the pull request's comment that carries `marker` (which `body` must hold).
pub async fn upsert_pull_request_comment(
    env: &Env,
    repository: &str,
    pr_number: u64,
    marker: &str,
    body: &str,
    token: &Secret,
    timeout: Duration,
) -> Result<CommentOutcome, String> {
    let api_url = env.get("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
    let number = pr_number.to_string();
    let list_url = repo_url(api_url, repository, &[&number, "comments"])?;
    let client = client(env, token, MAX_RESPONSE_BYTES).map_err(|e| e.to_string())?;
    let payload = serde_json::json!({ "body": body }).to_string();

    let mut existing = None;
    'pages: for page in 1..=MAX_PAGES {
        let mut url = list_url.clone();
        url.query_pairs_mut()
            .append_pair("per_page", "100")
            .append_pair("page", &page.to_string());
        let answer = send(&client, Method::GET, url, None, timeout).await?;
        let comments: Vec<Comment> = serde_json::from_slice(&answer).map_err(|e| {
            format!(
                "GitHub's list of the pull request's comments is not what its API documents ({})",
                sanitize_line(&e.to_string())
            )
        })?;
        for comment in &comments {
            if comment.body.as_deref().is_some_and(|b| b.contains(marker)) {
                existing = Some(comment.id);
                break 'pages;
            }
        }
        if comments.len() < 100 {
            break;
        }
    }
    match existing {
        Some(id) => {
            let url = repo_url(api_url, repository, &["comments", &id.to_string()])?;
            send(&client, Method::PATCH, url, Some(payload), timeout).await?;
            Ok(CommentOutcome::Updated { id })
        }
        None => {
            let answer = send(&client, Method::POST, list_url, Some(payload), timeout).await?;
            let created: Comment = serde_json::from_slice(&answer).map_err(|e| {
                format!(
                    "GitHub's answer to the new comment is not what its API documents ({})",
                    sanitize_line(&e.to_string())
                )
            })?;
            Ok(CommentOutcome::Created { id: created.id })
        }
    }
}

async fn send(
    http: &HttpClient,
    method: Method,
    url: Url,
    body: Option<String>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let shown = format!("{method} {}", url.path());
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.header(CONTENT_TYPE, "application/json").body(body);
    }
    let answer = http
        .send(request, timeout)
        .await
        .map_err(|error| match error {
            HttpError::TimedOut { .. } => format!("the GitHub API did not answer {shown} in time"),
            HttpError::TooLarge { .. } => format!("the GitHub API's answer to {shown} is too large"),
            HttpError::PlainHttpToOtherHost { origin } => format!(
                "GITHUB_API_URL {origin} is plain http to another machine, and foldup sends the token only over https"
            ),
            other => format!(
                "the GitHub API could not be reached for {shown} ({})",
                http.clean(&other.to_string())
            ),
        })?;
    let status = answer.status;
    if status.is_success() {
        return Ok(answer.body.to_vec());
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let message = serde_json::from_slice::<ErrorBody>(&answer.body)
        .map(|b| b.message)
        .unwrap_or_else(|_| {
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect()
        });
    let message = http.clean(message.trim());
    let hint = match status.as_u16() {
        401 => " (GitHub rejected the token)",
        403 | 404 => {
            " (the token may lack write access to pull requests: give the job `permissions: pull-requests: write`)"
        }
        _ => "",
    };
    Err(format!(
        "the GitHub API answered {} to {shown}: {message}{hint}",
        status.as_u16()
    ))
}
