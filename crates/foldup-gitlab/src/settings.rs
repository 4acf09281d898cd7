//! GitLab's own settings: the binary builds them from the configuration and hands them to the
//! plugin, so foldup-core knows nothing of GitLab.

use std::time::Duration;

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
