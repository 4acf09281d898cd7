use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use foldup_artifacts::{ArtifactError, ArtifactSet};
use foldup_datafold::{DatafoldClient, DatafoldError, SubmitFields, SubmitReceipt, UploadProgress};

use crate::{CiContext, DetectError, Env, PlainReporter, Reporter, Secret, Settings};

/// What a plugin needs besides the environment to build a context.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// The configured production branch, which beats the provider's default branch.
    pub production_branch: Option<String>,
    /// The dbt project directory: where the local plugin asks git.
    pub project_dir: PathBuf,
    pub lookups: ProviderLookups,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            production_branch: None,
            project_dir: PathBuf::from("."),
            lookups: ProviderLookups::default(),
        }
    }
}

/// Optional provider API look-ups. Each runs only when its token is set, gives up after
/// `timeout`, and never fails detection: a failed look-up is a warning and the env-derived answer.
#[derive(Debug, Clone)]
pub struct ProviderLookups {
    pub github_token: Option<Secret>,
    pub gitlab_token: Option<Secret>,
    pub circle_token: Option<Secret>,
    /// CircleCI's API host (`https://circleci.com`); a setting so tests and CircleCI server
    /// installations can point elsewhere.
    pub circleci_api_url: String,
    pub timeout: Duration,
}

impl Default for ProviderLookups {
    fn default() -> Self {
        Self {
            github_token: None,
            gitlab_token: None,
            circle_token: None,
            circleci_api_url: "https://circleci.com".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One CI system. Adding a CI means one crate implementing this and one line in the binary's
/// registry.
///
/// The three duties of a plugin are: detect the environment (here), locate the artifacts and
/// upload them (the defaults, shared by every CI, live in `foldup-artifacts` and
/// `foldup-datafold`; a plugin overrides them only for what is truly about its CI), and report in
/// its CI's own idiom.
#[async_trait]
pub trait CiProvider: Send + Sync {
    /// The stable name used by `--provider` and in `env --json` (`github-actions`, …).
    fn name(&self) -> &'static str;

    /// Whether this CI is the one running, from the variables alone. Cheap and side-effect free.
    fn is_active(&self, env: &Env) -> bool;

    /// Builds the context: every schema field with its source, per PRODUCT.md's rules.
    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError>;

    /// Finds and validates the dbt artifacts. Every CI shares the rules of PRODUCT.md, so the
    /// default is the one to keep unless a CI keeps its artifacts somewhere of its own.
    fn locate_artifacts(
        &self,
        env: &Env,
        settings: &Settings,
    ) -> Result<ArtifactSet, ArtifactError> {
        foldup_artifacts::locate_artifacts(
            &settings.locate_options(env, std::time::SystemTime::now()),
        )
    }

    /// Sends the archive to Datafold, calling `progress` (if any) as bytes go out.
    async fn upload(
        &self,
        client: &DatafoldClient,
        ci_config_id: u64,
        archive: &std::path::Path,
        fields: &SubmitFields,
        progress: Option<UploadProgress>,
    ) -> Result<SubmitReceipt, DatafoldError> {
        match progress {
            Some(progress) => {
                client
                    .submit_artifacts_with_progress(ci_config_id, archive, fields, progress)
                    .await
            }
            None => client.submit_artifacts(ci_config_id, archive, fields).await,
        }
    }

    /// How this CI wants to be talked to in its log.
    fn reporter(&self, env: &Env) -> Box<dyn Reporter> {
        let _ = env;
        Box::new(PlainReporter)
    }
}
