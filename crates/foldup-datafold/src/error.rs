//! Every way talking to Datafold can fail, each a sentence that says what to do, and the
//! [`ErrorKind`] the binary maps to PRODUCT.md's exit code.

use std::fmt;
use std::path::PathBuf;

use crate::runs::CiRun;

/// What the client was doing, for sentences like "Could not upload the dbt artifacts".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    SubmitArtifacts,
    CheckArtifacts,
    ListRuns,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::SubmitArtifacts => "upload the dbt artifacts",
            Operation::CheckArtifacts => "check for uploaded artifacts",
            Operation::ListRuns => "list CI runs",
        })
    }
}

/// What an error answer said, cleaned for printing: control characters replaced, truncated,
/// the API key blanked out should the server echo it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    /// An empty body.
    Nothing,
    /// Datafold's `detail` (or other text).
    Text(String),
    /// An HTML page: a proxy, load balancer or firewall answered instead of the API.
    Html { title: Option<String> },
}

impl ServerMessage {
    /// Reads an answer body: FastAPI's `{"detail": …}`, other JSON, an HTML page or text.
    pub(crate) fn from_body(
        body: &[u8],
        content_type: Option<&str>,
        api_key: &str,
    ) -> ServerMessage {
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim_start();
        let looks_html = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
            || trimmed
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("<html"))
            || trimmed
                .get(..9)
                .is_some_and(|s| s.eq_ignore_ascii_case("<!doctype"));
        if looks_html {
            let title = html_title(&text)
                .map(|t| clean(t, api_key))
                .filter(|t| !t.is_empty());
            return ServerMessage::Html { title };
        }
        if trimmed.is_empty() {
            return ServerMessage::Nothing;
        }
        let message = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(json) => json_message(&json).unwrap_or_else(|| json.to_string()),
            Err(_) => text.into_owned(),
        };
        ServerMessage::Text(clean(&message, api_key))
    }

    pub fn is_html(&self) -> bool {
        matches!(self, ServerMessage::Html { .. })
    }
}

/// `: "message"`, or a note that a proxy answered, or nothing: the tail of a sentence's
/// parenthesis, as in `(HTTP 500: "Internal server error")`.
impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMessage::Nothing => Ok(()),
            ServerMessage::Text(text) => write!(f, ": \"{text}\""),
            ServerMessage::Html { title: Some(title) } => write!(
                f,
                ": an HTML page titled \"{title}\", so a proxy or load balancer answered instead of Datafold's API"
            ),
            ServerMessage::Html { title: None } => {
                f.write_str(": an HTML page, so a proxy or load balancer answered instead of Datafold's API")
            }
        }
    }
}

/// FastAPI's `detail` (a string, or a list of validation errors), or a `message`/`error` field.
fn json_message(json: &serde_json::Value) -> Option<String> {
    let field = ["detail", "message", "error"]
        .iter()
        .find_map(|name| json.get(name))?;
    match field {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| {
                    let msg = item.get("msg").and_then(|m| m.as_str());
                    let location = item.get("loc").and_then(|l| l.as_array()).map(|parts| {
                        parts
                            .iter()
                            .map(|p| {
                                p.as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| p.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(".")
                    });
                    match (location, msg) {
                        (Some(location), Some(msg)) => format!("{location}: {msg}"),
                        (None, Some(msg)) => msg.to_owned(),
                        _ => item.to_string(),
                    }
                })
                .collect();
            Some(parts.join("; "))
        }
        other => Some(other.to_string()),
    }
}

fn html_title(page: &str) -> Option<&str> {
    let lower = page.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    page.get(start..end).map(str::trim)
}

/// Server-provided text as it may be printed: one line of a CI log, bounded, without the key
/// (`foldup_logtext`'s policy for prose).
pub(crate) fn clean(text: &str, api_key: &str) -> String {
    foldup_logtext::prose(&foldup_logtext::redact(text, api_key))
}

/// The wait a 429 asked for, as the tail of a parenthesis: `, asking to wait 60 s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AskedWait(pub Option<u64>);

impl fmt::Display for AskedWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(seconds) => write!(f, ", asking to wait {seconds} s"),
            None => Ok(()),
        }
    }
}

/// Failures of the Datafold client. Each message is one sentence a user can act on; none
/// contains the API key.
#[derive(Debug, thiserror::Error)]
pub enum DatafoldError {
    #[error("DATAFOLD_HOST '{host}' is not a usable address ({reason}); set it to your Datafold address, like https://app.datafold.com.")]
    InvalidHost { host: String, reason: String },

    #[error("DATAFOLD_HOST '{host}' uses plain http:// to another machine, so the API key would cross the network unencrypted; use https://, or, only if this network is trusted, set FOLDUP_ALLOW_INSECURE_HTTP=true (allow_insecure_http = true in foldup.toml).")]
    InsecureHost { host: String },

    #[error("The Datafold API key is empty; set DATAFOLD_API_KEY to a key from your Datafold account settings.")]
    MissingApiKey,

    #[error("The Datafold API key contains characters that cannot be sent in an HTTP header (such as a line break); check DATAFOLD_API_KEY for stray quotes or newlines.")]
    MalformedApiKey,

    #[error("foldup could not set up its HTTPS client ({reason}); check the system's CA certificates, SSL_CERT_FILE and HTTPS_PROXY.")]
    ClientSetup {
        /// The cause and its own causes, cleaned.
        reason: String,
        #[source]
        source: foldup_http::SetupError,
    },

    #[error("Could not read the artifacts archive {} ({source}); check that the file exists and is readable.", path.display())]
    ArchiveUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("Datafold rejected the API key (HTTP 401{message}); set DATAFOLD_API_KEY to a current key from your Datafold account settings.")]
    Unauthorized { message: ServerMessage },

    #[error("Datafold refused this API key access to CI config {ci_config_id} (HTTP 403{message}); use a key of a user who may access that CI config.")]
    Forbidden {
        ci_config_id: u64,
        message: ServerMessage,
    },

    #[error("Datafold found no CI config {ci_config_id} (HTTP 404{message}); check --ci-config-id against Datafold's CI settings, and that DATAFOLD_HOST is your Datafold address.")]
    NotFound {
        ci_config_id: u64,
        message: ServerMessage,
    },

    #[error("Datafold refused the upload as too large (HTTP 413{message}); upload only the default artifacts, without --all-files or broad --include patterns.")]
    TooLarge { message: ServerMessage },

    #[error("Datafold rejected the request to {operation} (HTTP {status}{message}); check --ci-config-id, --run-type and --commit-sha.")]
    Rejected {
        operation: Operation,
        status: u16,
        message: ServerMessage,
    },

    #[error("Datafold kept failing to {operation} (HTTP {status}{message}) after {attempts} attempt(s) over {elapsed_secs:.1} s; try again later, and check https://status.datafold.com if it persists.")]
    ServerFailed {
        operation: Operation,
        status: u16,
        message: ServerMessage,
        attempts: u32,
        elapsed_secs: f64,
    },

    #[error("Datafold kept asking foldup to slow down (HTTP 429{message}{asked}) after {attempts} attempt(s) over {elapsed_secs:.1} s; wait a few minutes and run the job again.")]
    RateLimited {
        message: ServerMessage,
        asked: AskedWait,
        attempts: u32,
        elapsed_secs: f64,
    },

    #[error("Could not {operation} at {host} ({reason}) after {attempts} attempt(s) over {elapsed_secs:.1} s; check the runner's network, HTTPS_PROXY/NO_PROXY and DATAFOLD_HOST.")]
    Unreachable {
        operation: Operation,
        host: String,
        reason: String,
        attempts: u32,
        elapsed_secs: f64,
        #[source]
        source: foldup_http::HttpError,
    },

    #[error("{host} did not answer in time to {operation} (each attempt may take {timeout_secs:.1} s) after {attempts} attempt(s) over {elapsed_secs:.1} s; check the network, or raise the request timeout for very large uploads.")]
    TimedOut {
        operation: Operation,
        host: String,
        timeout_secs: f64,
        attempts: u32,
        elapsed_secs: f64,
    },

    #[error("Could not verify the TLS certificate of {host} ({reason}); if a proxy re-signs HTTPS traffic, point SSL_CERT_FILE at its CA bundle.")]
    Certificate { host: String, reason: String },

    #[error("{from} redirected to another host, {to}, and foldup does not send the Datafold API key there; set DATAFOLD_HOST to the right address if you trust {to}.")]
    RedirectToOtherHost { from: String, to: String },

    #[error("Datafold answered the request to {operation} with a redirect (HTTP {status}) to {location}, which foldup does not follow; set DATAFOLD_HOST to the address it redirects to.")]
    Redirected {
        operation: Operation,
        status: u16,
        location: String,
    },

    #[error("The answer to the request to {operation} was an HTML page{page} (HTTP {status}), not Datafold's API, so a proxy or captive portal answered; check HTTPS_PROXY and DATAFOLD_HOST.")]
    NotDatafold {
        operation: Operation,
        status: u16,
        /// ` titled "…"`, or empty.
        page: String,
    },

    #[error("Datafold's answer to the request to {operation} could not be understood ({reason}); check that DATAFOLD_HOST is your Datafold address, or update foldup.")]
    UnexpectedAnswer {
        operation: Operation,
        reason: String,
    },

    #[error("Datafold's CI run {} for pull request {} failed; open the run in Datafold to see why.", .run.id, .run.pr_num.as_deref().unwrap_or("?"))]
    RunFailed { run: Box<CiRun> },

    #[error("Datafold's CI run {} was cancelled, usually because a newer commit of the pull request superseded this one.", .run.id)]
    RunCancelled { run: Box<CiRun> },

    #[error("Datafold's CI run {} for commit {commit_sha} was still '{}' after {waited_secs:.0} s; raise --timeout or follow the run in Datafold.", .run.id, .run.status)]
    WaitTimedOut {
        commit_sha: String,
        run: Box<CiRun>,
        waited_secs: f64,
    },

    #[error("No Datafold CI run for commit {commit_sha} started within {waited_secs:.0} s; check that Datafold's CI integration saw the pull request and that its head commit is {commit_sha}.")]
    RunNotStarted {
        commit_sha: String,
        waited_secs: f64,
    },
}

/// What kind of failure a [`DatafoldError`] is; the binary maps each kind to PRODUCT.md's exit
/// code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The address or the client's own set-up is wrong, or Datafold redirected elsewhere.
    Configuration,
    /// The archive to send could not be read.
    Artifacts,
    /// The API key is missing, malformed or refused.
    Authentication,
    /// Datafold refused the request itself.
    Rejected,
    /// The network or the server failed, retries included.
    Unavailable,
    /// The awaited CI run failed, was cancelled, or did not finish in time.
    RunDidNotPass,
}

impl DatafoldError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DatafoldError::InvalidHost { .. }
            | DatafoldError::InsecureHost { .. }
            | DatafoldError::ClientSetup { .. }
            | DatafoldError::RedirectToOtherHost { .. }
            | DatafoldError::Redirected { .. } => ErrorKind::Configuration,
            DatafoldError::ArchiveUnreadable { .. } => ErrorKind::Artifacts,
            DatafoldError::MissingApiKey
            | DatafoldError::MalformedApiKey
            | DatafoldError::Unauthorized { .. }
            | DatafoldError::Forbidden { .. } => ErrorKind::Authentication,
            DatafoldError::NotFound { .. }
            | DatafoldError::TooLarge { .. }
            | DatafoldError::Rejected { .. } => ErrorKind::Rejected,
            DatafoldError::ServerFailed { .. }
            | DatafoldError::RateLimited { .. }
            | DatafoldError::Unreachable { .. }
            | DatafoldError::TimedOut { .. }
            | DatafoldError::Certificate { .. }
            | DatafoldError::NotDatafold { .. }
            | DatafoldError::UnexpectedAnswer { .. } => ErrorKind::Unavailable,
            DatafoldError::RunFailed { .. }
            | DatafoldError::RunCancelled { .. }
            | DatafoldError::WaitTimedOut { .. }
            | DatafoldError::RunNotStarted { .. } => ErrorKind::RunDidNotPass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "canary-key-123456";

    #[test]
    fn fastapi_details_are_quoted() {
        let message =
            ServerMessage::from_body(br#"{"detail":"CI config with id 9 not found"}"#, None, KEY);
        assert_eq!(message.to_string(), r#": "CI config with id 9 not found""#);
    }

    #[test]
    fn validation_errors_name_their_field() {
        let body = br#"{"detail":[{"loc":["body","commit_sha"],"msg":"Field required","type":"missing"}]}"#;
        let message = ServerMessage::from_body(body, Some("application/json"), KEY);
        assert_eq!(
            message,
            ServerMessage::Text("body.commit_sha: Field required".into())
        );
    }

    #[test]
    fn html_pages_are_named_as_a_proxys() {
        let page =
            b"<html>\r\n<head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
        let message = ServerMessage::from_body(page, Some("text/html; charset=utf-8"), KEY);
        assert_eq!(
            message,
            ServerMessage::Html {
                title: Some("502 Bad Gateway".into())
            }
        );
        assert!(message.to_string().contains("proxy"));
        let untyped = ServerMessage::from_body(b"  <!DOCTYPE html><p>blocked</p>", None, KEY);
        assert_eq!(untyped, ServerMessage::Html { title: None });
    }

    #[test]
    fn messages_lose_control_characters_the_key_and_excess_length() {
        let hostile = format!(
            "bad\r\n::error::forged\x1b[31m key={KEY} {}",
            "x".repeat(1000)
        );
        let clean = clean(&hostile, KEY);
        assert!(!clean.contains('\n') && !clean.contains('\r') && !clean.contains('\x1b'));
        assert!(!clean.contains(KEY));
        assert!(clean.contains(foldup_logtext::REDACTED));
        assert!(clean.chars().count() <= foldup_logtext::MAX_SHOWN_CHARS + 1);
        assert!(clean.ends_with('…'));
    }

    #[test]
    fn empty_and_plain_bodies() {
        assert_eq!(
            ServerMessage::from_body(b"", None, KEY),
            ServerMessage::Nothing
        );
        assert_eq!(ServerMessage::Nothing.to_string(), "");
        assert_eq!(
            ServerMessage::from_body(b"upstream down", None, KEY),
            ServerMessage::Text("upstream down".into())
        );
    }

    #[test]
    fn kinds_follow_the_product_contract() {
        let text = || ServerMessage::Text("x".into());
        assert_eq!(
            DatafoldError::Unauthorized { message: text() }.kind(),
            ErrorKind::Authentication
        );
        assert_eq!(
            DatafoldError::MissingApiKey.kind(),
            ErrorKind::Authentication
        );
        assert_eq!(
            DatafoldError::NotFound {
                ci_config_id: 1,
                message: text()
            }
            .kind(),
            ErrorKind::Rejected
        );
        assert_eq!(
            DatafoldError::TooLarge { message: text() }.kind(),
            ErrorKind::Rejected
        );
        let failed = DatafoldError::ServerFailed {
            operation: Operation::SubmitArtifacts,
            status: 503,
            message: text(),
            attempts: 3,
            elapsed_secs: 1.5,
        };
        assert_eq!(failed.kind(), ErrorKind::Unavailable);
        assert_eq!(
            failed.to_string(),
            "Datafold kept failing to upload the dbt artifacts (HTTP 503: \"x\") after 3 attempt(s) over 1.5 s; \
             try again later, and check https://status.datafold.com if it persists."
        );
        assert_eq!(
            DatafoldError::RunNotStarted {
                commit_sha: "a".into(),
                waited_secs: 1.0
            }
            .kind(),
            ErrorKind::RunDidNotPass
        );
    }
}
