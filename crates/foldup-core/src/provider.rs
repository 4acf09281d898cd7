use std::path::PathBuf;

use async_trait::async_trait;

use foldup_artifacts::{ArtifactError, ArtifactSet};
use foldup_datafold::{DatafoldClient, DatafoldError, SubmitFields, SubmitReceipt, UploadProgress};

use crate::{CiContext, DetectError, Env, PlainReporter, Reporter, Settings};

/// What every plugin needs besides the environment to build a context. A plugin's own settings
/// (its API token, its API address) are the plugin's: the binary hands them to it when it builds
/// the registry, so adding a CI never adds a field here.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// The configured production branch, which beats the provider's default branch.
    pub production_branch: Option<String>,
    /// The dbt project directory: where the local plugin asks git.
    pub project_dir: PathBuf,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            production_branch: None,
            project_dir: PathBuf::from("."),
        }
    }
}

/// One CI system. A native plugin is a crate implementing this (it gathers [`crate::Facts`] and
/// lets [`crate::compose_with_wording`] decide) plus one line in the binary's registry; a CI
/// defined as data needs neither (see `foldup-providers`).
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
