//! GitLab's own settings: the binary builds them from the configuration and hands them to the
//! plugin, so foldup-core knows nothing of GitLab.

use std::time::Duration;

use foldup_core::settings::{Kind, OptionSpec, Scope};
use foldup_core::Secret;

/// What the optional GitLab API look-up needs. It runs only with a token, gives up after
/// `timeout`, and never fails detection.
#[derive(Debug, Clone)]
pub struct GitLabSettings {
    /// `GITLAB_TOKEN`: lets foldup ask GitLab for the open merge request of a branch pipeline.
    pub token: Option<Secret>,
    pub timeout: Duration,
}

impl Default for GitLabSettings {
    fn default() -> Self {
        Self {
            token: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// GitLab's own options: registered by the binary into foldup's option table (config key, variables,
/// `foldup config`, the README's reference).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "gitlab_token",
        kind: Kind::Secret,
        scope: Scope::NoFlag,
        also_env: &["GITLAB_TOKEN"],
        doc: "Optional: lets foldup ask GitLab for the open merge request of a branch pipeline, and `foldup impact --comment` comment on the merge request (api scope).",
    },
];
