use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong while reading GitHub's event payload or asking GitHub's API. None of these
/// stops detection: each becomes a warning and foldup falls back to the `GITHUB_*` variables.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GITHUB_EVENT_PATH is not set, so the event payload GitHub Actions writes for every run cannot be read")]
    EventPathUnset,

    #[error("the GitHub event payload {} does not exist", path.display())]
    EventPayloadMissing { path: PathBuf },

    #[error("the GitHub event payload {} could not be read ({source})", path.display())]
    EventPayloadUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the GitHub event payload {} is not a regular file", path.display())]
    EventPayloadNotAFile { path: PathBuf },

    #[error("the GitHub event payload {} is larger than {} MiB, which is more than GitHub ever sends", path.display(), limit / (1024 * 1024))]
    EventPayloadTooLarge { path: PathBuf, limit: u64 },

    #[error("the GitHub event payload {} is not a GitHub event as JSON ({reason})", path.display())]
    EventPayloadMalformed { path: PathBuf, reason: String },

    #[error("GITHUB_API_URL '{0}' is not an http(s) URL")]
    InvalidApiUrl(String),

    #[error("GITHUB_REPOSITORY '{0}' is not of the form owner/name")]
    InvalidRepository(String),

    #[error("GITHUB_API_URL '{0}' is plain http:// to another machine, so foldup does not send the GitHub token there; use its https:// address")]
    PlainHttpApiUrl(String),

    #[error("the GitHub API client could not be set up ({})", foldup_core::log_text::prose(&foldup_core::log_text::error_chain(.0)))]
    Client(#[source] foldup_core::http::SetupError),

    #[error("the GitHub API at {url} did not answer within {} ms", timeout.as_millis())]
    ApiTimeout { url: String, timeout: Duration },

    #[error("the GitHub API at {url} could not be reached ({reason})")]
    ApiUnreachable {
        url: String,
        reason: String,
        #[source]
        source: foldup_core::http::HttpError,
    },

    #[error("the GitHub API at {url} answered {status}: {message}")]
    ApiStatus {
        url: String,
        status: u16,
        message: String,
    },

    #[error("the GitHub API at {url} answered with something that is not a list of pull requests ({reason})")]
    ApiMalformed { url: String, reason: String },
}
