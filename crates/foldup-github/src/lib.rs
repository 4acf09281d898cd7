//! foldup's GitHub Actions plugin: which commit and which kind of build a workflow run is, from
//! the `GITHUB_*` variables and the event payload at `GITHUB_EVENT_PATH` (PRODUCT.md's rules),
//! and a reporter that speaks the runner's workflow commands.

mod comment;
mod error;
mod event_payload;
mod pull_lookup;
mod reporter;
mod resolve;
mod settings;

use std::path::Path;

use foldup_core::{async_trait, CiContext, CiProvider, DetectError, DetectOptions, Env, Reporter};

pub use comment::{upsert_pull_request_comment, CommentOutcome};
pub use error::GitHubError;
pub use event_payload::{
    parse_event_payload, read_event_payload, EventPayload, MergeGroup, PullRequest, PullRequestEnd,
    Repository, User, WorkflowRun, WorkflowRunPullRequest, MAX_EVENT_PAYLOAD_BYTES,
};
pub use reporter::GitHubReporter;
pub use settings::GitHubSettings;

use resolve::{resolve_context, Event};

/// The name of this plugin in `--provider` and `env --json`.
pub const PROVIDER_NAME: &str = "github-actions";

/// GitHub Actions, active when `GITHUB_ACTIONS=true`.
#[derive(Debug, Clone, Default)]
pub struct GitHubActions {
    settings: GitHubSettings,
}

impl GitHubActions {
    pub fn new(settings: GitHubSettings) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl CiProvider for GitHubActions {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn is_active(&self, env: &Env) -> bool {
        env.get("GITHUB_ACTIONS")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// Never fails: an unusable payload or a failed API look-up is a warning in the context,
    /// and each value it could not supply is missing with the reason.
    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError> {
        let payload = match env.get("GITHUB_EVENT_PATH") {
            Some(path) => read_event_payload(Path::new(path.trim())),
            None => Err(GitHubError::EventPathUnset),
        };
        let mut ctx = resolve_context(env, payload, options.production_branch.as_deref());
        // A push to a branch that is not production may be the head of an open pull request,
        // which only the API knows.
        let undecided_push = Event::from_env(env) == Event::Push
            && ctx.run_type.value.is_none()
            && ctx.branch.is_some();
        // A workflow_run of a fork's pull request: GitHub leaves workflow_run.pull_requests
        // empty, so only the API can name the pull request whose head is workflow_run.head_sha.
        let fork_workflow_run = Event::from_env(env) == Event::WorkflowRun
            && ctx.run_type.value == Some(foldup_core::RunType::PullRequest)
            && ctx.pr_number.value.is_none();
        if let (true, Some(token)) = (undecided_push || fork_workflow_run, &self.settings.token) {
            pull_lookup::apply_open_pull_request(env, &mut ctx, token, self.settings.timeout).await;
        }
        Ok(ctx)
    }

    fn reporter(&self, env: &Env) -> Box<dyn Reporter> {
        Box::new(GitHubReporter::new(env))
    }
}
