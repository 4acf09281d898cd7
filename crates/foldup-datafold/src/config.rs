//! How the client connects, and how long it keeps trying.

use std::fmt;
use std::time::Duration;

use foldup_http::NetworkSettings;

/// Datafold's SaaS address, datafold-sdk's default for `DATAFOLD_HOST`.
pub const DEFAULT_HOST: &str = "https://app.datafold.com";

/// Everything the client needs; built by the caller from flags, variables and the config file.
#[derive(Clone)]
pub struct ClientConfig {
    /// The Datafold address, e.g. `https://app.datafold.com` (a path prefix is kept).
    pub host: String,
    /// Sent as `Authorization: Key <api_key>`; never printed.
    pub api_key: String,
    /// `foldup/<version>`.
    pub user_agent: String,
    /// How long one TCP + TLS connection may take to establish.
    pub connect_timeout: Duration,
    /// How long one attempt may take, from connecting until the whole answer arrived.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Allow `http://` to a host other than this machine, sending the key unencrypted.
    pub allow_insecure_http: bool,
    /// Proxies and extra CA certificates, from the environment snapshot.
    pub network: NetworkSettings,
}

impl ClientConfig {
    /// A configuration with foldup's default timeouts and retries.
    pub fn new(
        host: impl Into<String>,
        api_key: impl Into<String>,
        user_agent: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            api_key: api_key.into(),
            user_agent: user_agent.into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            network: NetworkSettings::default(),
        }
    }
}

// The key must never reach a log, even through `{:?}`.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("api_key", &"<redacted>")
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("network", &self.network)
            .finish()
    }
}

/// Bounds on retrying connection errors, timeouts, 429 and 5xx answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// The most time one operation may take, attempts and waits between them included.
    pub max_total: Duration,
    /// The wait after the first failure; it doubles after each further failure.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_total: Duration::from_secs(600),
            base_delay: Duration::from_secs(1),
        }
    }
}
