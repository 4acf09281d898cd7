//! CircleCI's own settings: the binary builds them from the configuration and hands them to the
//! plugin, so foldup-core knows nothing of CircleCI.

use std::time::Duration;

use foldup_core::settings::{Kind, OptionSpec, Scope};
use foldup_core::Secret;

/// CircleCI's API address for circleci.com projects.
pub const DEFAULT_API_URL: &str = "https://circleci.com";

/// What the optional CircleCI API look-ups need. They run only with a token, give up after
/// `timeout`, and never fail detection.
#[derive(Debug, Clone)]
pub struct CircleCiSettings {
    /// `CIRCLE_TOKEN`: lets foldup ask for the project's default branch and the pipeline.
    pub token: Option<Secret>,
    /// CircleCI's API host, without a trailing `/`; a setting so tests and CircleCI server
    /// installations can point elsewhere.
    pub api_url: String,
    pub timeout: Duration,
}

impl CircleCiSettings {
    /// The settings with `api_url` as written (a trailing `/` is dropped).
    pub fn new(token: Option<Secret>, api_url: &str, timeout: Duration) -> Self {
        Self {
            token,
            api_url: api_url.trim().trim_end_matches('/').to_owned(),
            timeout,
        }
    }
}

impl Default for CircleCiSettings {
    fn default() -> Self {
        Self::new(None, DEFAULT_API_URL, Duration::from_secs(5))
    }
}

/// CircleCI's own options: registered by the binary into foldup's option table (config key, variables,
/// `foldup config`, the README's reference).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "circle_token",
        kind: Kind::Secret,
        scope: Scope::NoFlag,
        also_env: &["CIRCLE_TOKEN"],
        doc: "Optional: lets foldup ask CircleCI for the project's default branch and pipeline.",
    },
    OptionSpec {
        key: "circleci_api_url",
        kind: Kind::Text,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "CircleCI's API address (for CircleCI server installations); https://circleci.com when unset.",
    },
];
