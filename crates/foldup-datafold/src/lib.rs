//! foldup's Datafold API client: upload dbt artifacts, ask whether they arrived, follow the CI
//! run — speaking the API as the public datafold-sdk 0.4.1 client does.
//!
//! Every call is bounded: each attempt by `request_timeout`, each operation by the
//! [`RetryPolicy`] (attempts and total time). Connection errors, timeouts, 429 and 5xx answers
//! are retried with exponential backoff and jitter, honouring `Retry-After`; other answers are
//! final. Every failure is a [`DatafoldError`] whose message is one sentence saying what to do,
//! quoting the server's own message (cleaned, never the API key), with an exit code.
//!
//! TLS is rustls with the platform verifier, so the system's roots and `SSL_CERT_FILE` apply;
//! `HTTPS_PROXY`/`NO_PROXY` are honoured. The key never follows a redirect to another host and
//! never travels over plain HTTP to another machine unless explicitly allowed.

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
pub use error::{AskedWait, DatafoldError, Operation, ServerMessage};
pub use runs::{CiRun, RunState};
