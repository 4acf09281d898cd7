//! foldup's Datafold API client: upload dbt artifacts, ask whether they arrived, follow the CI
//! run — speaking the API as the public datafold-sdk 0.4.1 client does.
//!
//! Every call is bounded: each attempt by `request_timeout`, each operation by the
//! [`RetryPolicy`] (attempts and total time). Connection errors, timeouts, 429 and 5xx answers
//! are retried with exponential backoff and jitter, honouring `Retry-After`; other answers are
//! final. Every failure is a [`DatafoldError`] whose message is one sentence saying what to do,
//! quoting the server's own message (cleaned, never the API key), with an [`ErrorKind`] the
//! binary maps to an exit code.
//!
//! HTTP is `foldup_http`'s: TLS is rustls with the platform verifier plus the `SSL_CERT_FILE`
//! bundle, proxies are `HTTPS_PROXY`/`NO_PROXY` as [`ClientConfig::network`] gives them (the
//! environment snapshot's), and redirects are never followed: a redirect is reported, and the key
//! never goes to another host, nor over plain HTTP to another machine unless explicitly allowed.

mod client;
mod config;
mod error;
mod retry;
mod runs;

pub use client::{
    CheckStatus, DatafoldClient, SubmitFields, SubmitReceipt, UploadProgress, WaitProgress,
    RUN_START_TIMEOUT,
};
pub use config::{ClientConfig, RetryPolicy, DEFAULT_HOST};
pub use error::{AskedWait, DatafoldError, ErrorKind, Operation, ServerMessage};
pub use runs::{CiRun, RunState};
