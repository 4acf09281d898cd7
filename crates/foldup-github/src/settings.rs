//! GitHub's own settings: the binary builds them from the configuration and hands them to the
//! plugin, so foldup-core knows nothing of GitHub.

use std::time::Duration;

use foldup_core::settings::{Kind, OptionSpec, Scope};
use foldup_core::Secret;

/// What the optional GitHub API look-up needs. It runs only with a token, gives up after
/// `timeout`, and never fails detection.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// `GITHUB_TOKEN`: lets foldup ask GitHub for the open pull request of a pushed commit.
    pub token: Option<Secret>,
    pub timeout: Duration,
}

impl Default for GitHubSettings {
    fn default() -> Self {
        Self {
            token: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// GitHub's own options: registered by the binary into foldup's option table (config key, variables,
/// `foldup config`, the README's reference).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "github_token",
        kind: Kind::Secret,
        scope: Scope::NoFlag,
        also_env: &["GITHUB_TOKEN"],
        doc: "Optional: lets foldup ask GitHub for the open pull request of a pushed commit, and `foldup impact --comment` comment on the pull request.",
    },
];
