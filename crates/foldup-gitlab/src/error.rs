/// Why a GitLab API look-up gave no answer. Each message is one sentence a user can act on; none
/// ever contains the token.
#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    #[error("neither CI_SERVER_URL nor CI_API_V4_URL is set, so foldup does not know which GitLab server to ask")]
    NoServerUrl,

    #[error("the GitLab address '{0}' is not an http(s) URL; set CI_SERVER_URL to the instance's address, such as https://gitlab.example.com")]
    BadServerUrl(String),

    #[error("neither CI_PROJECT_ID nor CI_PROJECT_PATH is set, so foldup does not know which project's merge requests to list")]
    NoProject,

    #[error("GitLab at {server} rejected the token (HTTP {status}); give foldup a token with the read_api scope on this project")]
    TokenRejected { server: String, status: u16 },

    #[error("GitLab at {server} has no API at /api/v4 (HTTP 404); check that CI_SERVER_URL is the instance's address")]
    NoApi { server: String },

    #[error("GitLab at {server} does not show project '{project}' to this token (HTTP 404); check CI_PROJECT_ID and the token's access to the project")]
    ProjectNotFound { server: String, project: String },

    #[error(
        "GitLab at {server} is rate limiting this token; retry later or leave the token unset"
    )]
    RateLimited { server: String },

    #[error("GitLab at {server} answered HTTP {status}; retry later or leave the token unset")]
    Status { server: String, status: u16 },

    #[error(
        "GitLab at {server} could not be reached ({reason}); check the network or CI_SERVER_URL"
    )]
    Unreachable {
        server: String,
        reason: String,
        #[source]
        source: foldup_core::http::HttpError,
    },

    #[error("GitLab at {server} is plain http:// to another machine, so foldup does not send the token there; set CI_SERVER_URL to its https:// address")]
    PlainHttp { server: String },

    #[error("GitLab at {server} gave no answer within {waited}; retry later or raise the look-up timeout")]
    Timeout { server: String, waited: String },

    #[error("GitLab at {server} answered with a merge request list foldup cannot read ({reason}); check that CI_SERVER_URL points to GitLab")]
    BadResponse { server: String, reason: String },

    #[error("the GitLab token cannot be sent in an HTTP header; check it for stray spaces or line breaks")]
    UnusableToken,

    #[error("the GitLab look-up failed ({reason}); leave the token unset to skip it")]
    Other { reason: String },
}
