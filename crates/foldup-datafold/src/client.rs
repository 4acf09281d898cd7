//! The HTTP client: requests as datafold-sdk 0.4.1 sends them, with bounded retries.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use foldup_http::header::{HeaderName, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use foldup_http::{
    is_loopback, origin_of, Answer, ClientOptions, Credential, HttpClient, HttpError,
    RequestBuilder, SetupError, Url,
};
use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use tokio_util::io::ReaderStream;

use crate::config::{ClientConfig, RetryPolicy};
use crate::error::{clean, AskedWait, DatafoldError, Operation, ServerMessage};
use crate::retry::{backoff, is_retryable_status, parse_retry_after};
use crate::runs::{CiRun, RunState};

/// The most of an answer the client reads; Datafold's answers are small JSON documents.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// A retry is only worth it if at least this much of the time budget is left for it.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(250);
/// datafold-sdk gives up when no run has appeared a minute after the upload; so does foldup.
pub const RUN_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The text fields of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitFields {
    pub commit_sha: String,
    /// `pull_request` or `production`.
    pub run_type: String,
    /// Links a pull request build with its production counterpart (Datafold's low-drift mode).
    pub run_id: Option<String>,
}

/// What Datafold acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmitReceipt {
    pub status: u16,
    /// Attempts it took, the successful one included.
    pub attempts: u32,
    /// Size of the archive sent.
    pub archive_bytes: u64,
    /// The JSON body of the answer, if it had one.
    pub response: Option<serde_json::Value>,
}

/// The post-upload check's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// Datafold has artifacts for the commit (`{"status": "ok"}`).
    Present,
    /// Any other status Datafold answered.
    Missing { status: String },
}

/// Called as the archive goes out: bytes sent so far in this attempt, and the archive's size.
pub type UploadProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// One poll while waiting for a run.
#[derive(Clone, Copy, Debug)]
pub struct WaitProgress<'a> {
    /// The newest run for the commit; `None` while Datafold has not started one.
    pub run: Option<&'a CiRun>,
    pub elapsed: Duration,
}

/// A Datafold API client. Cheap to share by reference; one per process is enough.
pub struct DatafoldClient {
    http: HttpClient,
    /// The host without a trailing slash; endpoint paths are appended as datafold-sdk does.
    base: String,
    /// `scheme://host[:port]`, for sentences.
    origin: String,
    /// Kept only to blank it out of anything the server echoes.
    api_key: String,
    request_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for DatafoldClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatafoldClient")
            .field("base", &self.base)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A complete answer: status, the headers the client uses, and the body.
struct Exchange {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<Duration>,
    location: Option<String>,
    body: Bytes,
}

/// Why an attempt that may be retried failed.
enum AttemptFailure {
    Status(Exchange),
    Transport(HttpError),
    /// The attempt's time ran out.
    Elapsed,
}

/// Bytes read from the archive file per chunk of the request body.
const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;

/// The multipart filename: the archive's own name when it is a plain `.zip` name (datafold-sdk
/// sends its temporary file's, like `tmpk3j2h1.zip`), else `artifacts.zip`.
fn upload_file_name(archive: &Path) -> String {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain && name.ends_with(".zip") {
        name.to_owned()
    } else {
        "artifacts.zip".to_owned()
    }
}

impl DatafoldClient {
    /// Checks the configuration and builds the HTTP client; no request is made.
    pub fn new(config: ClientConfig) -> Result<Self, DatafoldError> {
        let base = config.host.trim().trim_end_matches('/').to_owned();
        let invalid = |host: &str, reason: &str| DatafoldError::InvalidHost {
            host: host.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(&base).map_err(|e| {
            let reason = format!("{e}; write it with its scheme, like https://app.datafold.com");
            invalid(&clean(&base, &config.api_key), &reason)
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            // Printing the address would print the credentials in it.
            return Err(invalid(
                &origin_of(&url),
                "it contains a user name or password, which foldup does not send",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(&base, "it names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                &base,
                "it has a query or fragment, which an API address cannot have",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) || config.allow_insecure_http => {}
            "http" => return Err(DatafoldError::InsecureHost { host: base }),
            other => {
                return Err(invalid(
                    &base,
                    &format!("the scheme must be https://, not {other}://"),
                ))
            }
        }
        if config.api_key.trim().is_empty() {
            return Err(DatafoldError::MissingApiKey);
        }
        let mut options = ClientOptions::new(config.network);
        options.user_agent = config.user_agent;
        options.connect_timeout = config.connect_timeout;
        options.credential = Some(Credential::new(
            AUTHORIZATION,
            format!("Key {}", config.api_key),
        ));
        options.allow_insecure_http = config.allow_insecure_http;
        options.max_answer_bytes = MAX_ANSWER_BYTES;
        let http = HttpClient::new(options).map_err(|error| match error {
            SetupError::UnsendableCredential { .. } => DatafoldError::MalformedApiKey,
            source => DatafoldError::ClientSetup {
                reason: clean(&foldup_logtext::error_chain(&source), &config.api_key),
                source,
            },
        })?;
        Ok(Self {
            http,
            origin: origin_of(&url),
            base,
            api_key: config.api_key,
            request_timeout: config.request_timeout,
            retry: config.retry,
        })
    }

    /// The address requests go to, without a trailing slash.
    pub fn host(&self) -> &str {
        &self.base
    }

    fn url(&self, segment: &str) -> String {
        format!("{}/{segment}", self.base)
    }

    /// `POST /api/v1/dbt/submit_artifacts/{ci_config_id}`: the zip at `archive` as the multipart
    /// file part `artifacts`, streamed from disk (re-opened for each attempt), with the text
    /// parts `commit_sha`, `run_type` and `run_id` when given, in datafold-sdk's order.
    pub async fn submit_artifacts(
        &self,
        ci_config_id: u64,
        archive: &Path,
        fields: &SubmitFields,
    ) -> Result<SubmitReceipt, DatafoldError> {
        self.submit(ci_config_id, archive, fields, None).await
    }

    /// [`Self::submit_artifacts`], calling `progress` as the archive goes out.
    pub async fn submit_artifacts_with_progress(
        &self,
        ci_config_id: u64,
        archive: &Path,
        fields: &SubmitFields,
        progress: UploadProgress,
    ) -> Result<SubmitReceipt, DatafoldError> {
        self.submit(ci_config_id, archive, fields, Some(progress))
            .await
    }

    async fn submit(
        &self,
        ci_config_id: u64,
        archive: &Path,
        fields: &SubmitFields,
        progress: Option<UploadProgress>,
    ) -> Result<SubmitReceipt, DatafoldError> {
        let url = self.url(&format!("api/v1/dbt/submit_artifacts/{ci_config_id}"));
        let file_name = upload_file_name(archive);
        let unreadable = |source: std::io::Error| DatafoldError::ArchiveUnreadable {
            path: archive.to_path_buf(),
            source,
        };
        let mut archive_bytes = 0;
        let build = || {
            let file = std::fs::File::open(archive).map_err(unreadable)?;
            let length = file.metadata().map_err(unreadable)?.len();
            archive_bytes = length;
            let progress = progress.clone();
            let mut sent = 0u64;
            // Large reads: each read of a tokio file is a trip to a blocking thread, and the
            // default 4 KiB made a 10 MB archive take twice as long as curl to send.
            let file = tokio::fs::File::from_std(file);
            let stream =
                ReaderStream::with_capacity(file, UPLOAD_CHUNK_BYTES).inspect(move |chunk| {
                    if let (Ok(chunk), Some(progress)) = (chunk, &progress) {
                        sent += chunk.len() as u64;
                        progress(sent, length);
                    }
                });
            // A known length gives the request a Content-Length, as datafold-sdk's has, instead
            // of chunked encoding that some proxies refuse.
            let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), length)
                .file_name(file_name.clone());
            let mut form = Form::new()
                .text("commit_sha", fields.commit_sha.clone())
                .text("run_type", fields.run_type.clone());
            if let Some(run_id) = &fields.run_id {
                form = form.text("run_id", run_id.clone());
            }
            Ok(self.http.post(&url).multipart(form.part("artifacts", part)))
        };
        let (exchange, attempts) = self
            .exchange(Operation::SubmitArtifacts, ci_config_id, build)
            .await?;
        Ok(SubmitReceipt {
            status: exchange.status,
            attempts,
            archive_bytes,
            response: serde_json::from_slice(&exchange.body).ok(),
        })
    }

    /// `POST /api/v1/dbt/post_upload_check_artifacts/{ci_config_id}`: whether Datafold has
    /// artifacts for the commit.
    pub async fn check_artifacts(
        &self,
        ci_config_id: u64,
        commit_sha: &str,
        run_type: &str,
        branch: Option<&str>,
    ) -> Result<CheckStatus, DatafoldError> {
        let url = self.url(&format!(
            "api/v1/dbt/post_upload_check_artifacts/{ci_config_id}"
        ));
        let mut form = vec![("commit_sha", commit_sha), ("run_type", run_type)];
        if let Some(branch) = branch {
            form.push(("branch", branch));
        }
        let build = || Ok(self.http.post(&url).form(&form));
        let (exchange, _) = self
            .exchange(Operation::CheckArtifacts, ci_config_id, build)
            .await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            status: String,
        }
        let answer: Answer = self.parse(Operation::CheckArtifacts, &exchange)?;
        Ok(match answer.status.as_str() {
            "ok" => CheckStatus::Present,
            _ => CheckStatus::Missing {
                status: clean(&answer.status, &self.api_key),
            },
        })
    }

    /// `GET /api/v1/ci/{ci_config_id}/runs?pr_sha=…&limit=1`: the newest run for the commit, if
    /// Datafold started one.
    pub async fn list_runs(
        &self,
        ci_config_id: u64,
        pr_sha: &str,
    ) -> Result<Vec<CiRun>, DatafoldError> {
        let url = self.url(&format!("api/v1/ci/{ci_config_id}/runs"));
        let build = || {
            Ok(self
                .http
                .get(&url)
                .query(&[("pr_sha", pr_sha), ("limit", "1")]))
        };
        let (exchange, _) = self
            .exchange(Operation::ListRuns, ci_config_id, build)
            .await?;
        let runs: Vec<CiRun> = self.parse(Operation::ListRuns, &exchange)?;
        // Their text ends up in sentences and CI logs.
        let clean = |text: String| clean(&text, &self.api_key);
        Ok(runs
            .into_iter()
            .map(|run| CiRun {
                id: run.id,
                pr_num: run.pr_num.map(clean),
                status: clean(run.status),
                pr_sha: run.pr_sha.map(clean),
                pr_branch: run.pr_branch.map(clean),
                base_branch: run.base_branch.map(clean),
                base_sha: run.base_sha.map(clean),
                source: run.source.map(clean),
            })
            .collect())
    }

    /// Polls the commit's CI run every `poll_interval` until it is done (`Ok`), failed,
    /// cancelled, not started within [`RUN_START_TIMEOUT`], or still going after `timeout`.
    pub async fn wait_for_run(
        &self,
        ci_config_id: u64,
        pr_sha: &str,
        timeout: Duration,
        poll_interval: Duration,
    ) -> Result<CiRun, DatafoldError> {
        self.wait_for_run_reporting(ci_config_id, pr_sha, timeout, poll_interval, &mut |_| {})
            .await
    }

    /// [`Self::wait_for_run`], calling `on_poll` after each poll.
    pub async fn wait_for_run_reporting(
        &self,
        ci_config_id: u64,
        pr_sha: &str,
        timeout: Duration,
        poll_interval: Duration,
        on_poll: &mut (dyn FnMut(WaitProgress<'_>) + Send),
    ) -> Result<CiRun, DatafoldError> {
        let started = Instant::now();
        let start_timeout = RUN_START_TIMEOUT.min(timeout);
        loop {
            let newest = self
                .list_runs(ci_config_id, pr_sha)
                .await?
                .into_iter()
                .next();
            let elapsed = started.elapsed();
            on_poll(WaitProgress {
                run: newest.as_ref(),
                elapsed,
            });
            match newest {
                Some(run) => match run.state() {
                    RunState::Done => return Ok(run),
                    RunState::Failed => {
                        return Err(DatafoldError::RunFailed { run: Box::new(run) })
                    }
                    RunState::Cancelled => {
                        return Err(DatafoldError::RunCancelled { run: Box::new(run) })
                    }
                    RunState::InProgress if elapsed >= timeout => {
                        return Err(DatafoldError::WaitTimedOut {
                            commit_sha: pr_sha.to_owned(),
                            run: Box::new(run),
                            waited_secs: elapsed.as_secs_f64(),
                        })
                    }
                    RunState::InProgress => {}
                },
                None if elapsed >= start_timeout => {
                    return Err(DatafoldError::RunNotStarted {
                        commit_sha: pr_sha.to_owned(),
                        waited_secs: elapsed.as_secs_f64(),
                    })
                }
                None => {}
            }
            // Sleep no later than the deadline, so the last poll happens right at it.
            let deadline = if started.elapsed() < start_timeout {
                start_timeout
            } else {
                timeout
            };
            let left = deadline.saturating_sub(started.elapsed());
            tokio::time::sleep(poll_interval.min(left)).await;
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        operation: Operation,
        exchange: &Exchange,
    ) -> Result<T, DatafoldError> {
        serde_json::from_slice(&exchange.body).map_err(|e| {
            let excerpt: String = String::from_utf8_lossy(&exchange.body)
                .chars()
                .take(120)
                .collect();
            DatafoldError::UnexpectedAnswer {
                operation,
                reason: clean(
                    &format!("{e}; the answer began with: {excerpt}"),
                    &self.api_key,
                ),
            }
        })
    }

    /// One operation with retries: builds and sends a request until a final answer, within
    /// `max_attempts` and `max_total`. Returns a 2xx answer with the attempts it took.
    async fn exchange(
        &self,
        operation: Operation,
        ci_config_id: u64,
        mut build: impl FnMut() -> Result<RequestBuilder, DatafoldError>,
    ) -> Result<(Exchange, u32), DatafoldError> {
        let started = Instant::now();
        let deadline = started + self.retry.max_total;
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let timeout = self
                .request_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            let request = build()?;
            let failure = match self.send(request, timeout).await {
                Err(HttpError::TimedOut { .. }) => AttemptFailure::Elapsed,
                Err(error) => {
                    self.refuse_transport_error(operation, &error)?;
                    AttemptFailure::Transport(error)
                }
                Ok(exchange) if (200..300).contains(&exchange.status) => {
                    let message = ServerMessage::from_body(
                        &exchange.body,
                        exchange.content_type.as_deref(),
                        &self.api_key,
                    );
                    if let ServerMessage::Html { title } = message {
                        // A 2xx HTML page is a captive portal or proxy login page: reporting it as
                        // a successful upload would be a lie.
                        let page = title
                            .map(|t| format!(" titled \"{t}\""))
                            .unwrap_or_default();
                        return Err(DatafoldError::NotDatafold {
                            operation,
                            status: exchange.status,
                            page,
                        });
                    }
                    return Ok((exchange, attempt));
                }
                Ok(exchange) if is_retryable_status(exchange.status) => {
                    AttemptFailure::Status(exchange)
                }
                Ok(exchange) => return Err(self.refusal(operation, ci_config_id, exchange)),
            };
            let wait = match &failure {
                AttemptFailure::Status(Exchange {
                    retry_after: Some(asked),
                    ..
                }) => *asked,
                _ => backoff(self.retry.base_delay, attempt),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if attempt >= max_attempts || wait + MIN_ATTEMPT_TIME > left {
                return Err(self.exhausted(operation, failure, attempt, started.elapsed()));
            }
            tracing::info!(
                "Datafold: {} failed ({}); retrying in {:.1} s (attempt {} of {max_attempts}).",
                operation,
                self.describe(&failure),
                wait.as_secs_f64(),
                attempt + 1,
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a request and reads its whole answer (up to [`MAX_ANSWER_BYTES`]) within `timeout`.
    async fn send(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<Exchange, HttpError> {
        let answer: Answer = self.http.send(request, timeout).await?;
        let header = |name: HeaderName| answer.header(name).map(str::to_owned);
        Ok(Exchange {
            status: answer.status.as_u16(),
            content_type: header(CONTENT_TYPE),
            retry_after: header(RETRY_AFTER).and_then(|v| parse_retry_after(&v, SystemTime::now())),
            location: header(LOCATION),
            body: answer.body,
        })
    }

    /// Transport errors that retrying cannot fix.
    fn refuse_transport_error(
        &self,
        operation: Operation,
        error: &HttpError,
    ) -> Result<(), DatafoldError> {
        match error {
            HttpError::Certificate { reason, .. } => Err(DatafoldError::Certificate {
                host: self.origin.clone(),
                reason: reason.clone(),
            }),
            HttpError::PlainHttpToOtherHost { .. } => Err(DatafoldError::InsecureHost {
                host: self.base.clone(),
            }),
            HttpError::TooLarge { limit, .. } => Err(DatafoldError::UnexpectedAnswer {
                operation,
                reason: format!("the answer is larger than {} MiB", limit / (1024 * 1024)),
            }),
            _ => Ok(()),
        }
    }

    fn describe(&self, failure: &AttemptFailure) -> String {
        match failure {
            AttemptFailure::Status(exchange) => format!("HTTP {}", exchange.status),
            AttemptFailure::Transport(HttpError::Unreachable { reason, .. }) => reason.clone(),
            AttemptFailure::Transport(error) => clean(&error.to_string(), &self.api_key),
            AttemptFailure::Elapsed => "timed out".to_owned(),
        }
    }

    /// The error for a final answer that is neither success nor worth retrying.
    fn refusal(
        &self,
        operation: Operation,
        ci_config_id: u64,
        exchange: Exchange,
    ) -> DatafoldError {
        let message = ServerMessage::from_body(
            &exchange.body,
            exchange.content_type.as_deref(),
            &self.api_key,
        );
        match exchange.status {
            300..=399 => {
                let target = exchange
                    .location
                    .as_deref()
                    .and_then(|l| Url::parse(&self.base).ok()?.join(l).ok());
                match target {
                    // Redirects the client would not replay itself (a 307 of a streamed upload)
                    // still get the other-host sentence when that is where they point.
                    Some(url) if origin_of(&url) != self.origin => {
                        DatafoldError::RedirectToOtherHost {
                            from: self.origin.clone(),
                            to: origin_of(&url),
                        }
                    }
                    target => {
                        // Only where it points: the path is enough to act on, a query might hold
                        // tokens.
                        let location = target
                            .map(|url| format!("{}{}", origin_of(&url), url.path()))
                            .unwrap_or_else(|| "an address it did not give".to_owned());
                        DatafoldError::Redirected {
                            operation,
                            status: exchange.status,
                            location: clean(&location, &self.api_key),
                        }
                    }
                }
            }
            401 => DatafoldError::Unauthorized { message },
            403 => DatafoldError::Forbidden {
                ci_config_id,
                message,
            },
            404 => DatafoldError::NotFound {
                ci_config_id,
                message,
            },
            413 => DatafoldError::TooLarge { message },
            status => DatafoldError::Rejected {
                operation,
                status,
                message,
            },
        }
    }

    /// The error after the last attempt failed in a way that could have been retried.
    fn exhausted(
        &self,
        operation: Operation,
        failure: AttemptFailure,
        attempts: u32,
        elapsed: Duration,
    ) -> DatafoldError {
        let elapsed_secs = elapsed.as_secs_f64();
        let timed_out = || DatafoldError::TimedOut {
            operation,
            host: self.origin.clone(),
            timeout_secs: self.request_timeout.as_secs_f64(),
            attempts,
            elapsed_secs,
        };
        match failure {
            AttemptFailure::Status(exchange) => {
                let message = ServerMessage::from_body(
                    &exchange.body,
                    exchange.content_type.as_deref(),
                    &self.api_key,
                );
                if exchange.status == 429 {
                    DatafoldError::RateLimited {
                        message,
                        asked: AskedWait(exchange.retry_after.map(|wait| wait.as_secs())),
                        attempts,
                        elapsed_secs,
                    }
                } else {
                    DatafoldError::ServerFailed {
                        operation,
                        status: exchange.status,
                        message,
                        attempts,
                        elapsed_secs,
                    }
                }
            }
            AttemptFailure::Elapsed => timed_out(),
            AttemptFailure::Transport(source) => DatafoldError::Unreachable {
                operation,
                host: self.origin.clone(),
                reason: match &source {
                    HttpError::Unreachable { reason, .. } => reason.clone(),
                    other => clean(&other.to_string(), &self.api_key),
                },
                attempts,
                elapsed_secs,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn config(host: &str) -> ClientConfig {
        ClientConfig::new(host, "canary-key-0123456789", "foldup/test")
    }

    #[test]
    fn hosts_are_checked_before_any_request() {
        assert!(DatafoldClient::new(config("https://app.datafold.com/")).is_ok());
        assert!(DatafoldClient::new(config("http://127.0.0.1:9")).is_ok());
        assert!(DatafoldClient::new(config("http://localhost:9")).is_ok());
        assert!(DatafoldClient::new(config("http://[::1]:9")).is_ok());
        let cases = [
            "app.datafold.com",
            "ftp://app.datafold.com",
            "https://app.datafold.com/?x=1",
            "http://datafold.example.com",
        ];
        for host in cases {
            let error = DatafoldClient::new(config(host)).expect_err(host);
            assert_eq!(error.kind(), ErrorKind::Configuration, "{host}: {error}");
        }
        let mut insecure = config("http://datafold.example.com");
        insecure.allow_insecure_http = true;
        assert!(DatafoldClient::new(insecure).is_ok());
    }

    #[test]
    fn credentials_in_the_host_are_never_repeated() {
        let error =
            DatafoldClient::new(config("https://user:hunter2@app.datafold.com")).unwrap_err();
        let text = error.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("user:"),
            "{text}"
        );
    }

    #[test]
    fn keys_must_be_present_and_sendable() {
        let mut empty = config("https://app.datafold.com");
        empty.api_key = "  ".into();
        assert!(matches!(
            DatafoldClient::new(empty),
            Err(DatafoldError::MissingApiKey)
        ));
        let mut broken = config("https://app.datafold.com");
        broken.api_key = "canary-key\n".into();
        let error = DatafoldClient::new(broken).unwrap_err();
        assert!(matches!(error, DatafoldError::MalformedApiKey));
        assert_eq!(error.kind(), ErrorKind::Authentication);
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let config = config("https://app.datafold.com");
        let client = DatafoldClient::new(config.clone()).unwrap();
        let shown = format!("{config:?} {client:?}");
        assert!(!shown.contains("canary-key"), "{shown}");
    }

    #[test]
    fn upload_file_names_mirror_datafold_sdks() {
        assert_eq!(
            upload_file_name(Path::new("/tmp/tmpk3j2h1.zip")),
            "tmpk3j2h1.zip"
        );
        assert_eq!(upload_file_name(Path::new("/tmp/archive")), "artifacts.zip");
        assert_eq!(
            upload_file_name(Path::new("/tmp/we\"ird.zip")),
            "artifacts.zip"
        );
    }
}
