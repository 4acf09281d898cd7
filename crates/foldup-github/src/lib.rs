//! foldup's GitHub Actions plugin: what a workflow run says about itself, from the `GITHUB_*`
//! variables and the event payload at `GITHUB_EVENT_PATH` (and, with a token, GitHub's API), as
//! facts that `foldup_core::compose_with_wording` turns into the context with PRODUCT.md's rules;
//! and a reporter that speaks the runner's workflow commands.

mod comment;
mod error;
mod event_payload;
mod facts;
mod pull_lookup;
mod reporter;
mod settings;
mod wording;

use std::path::Path;

use foldup_core::{
    async_trait, compose_with_wording, CiContext, CiProvider, DetectError, DetectOptions, Env,
    Reporter, RunType,
};

pub use comment::{upsert_pull_request_comment, CommentOutcome};
pub use error::GitHubError;
pub use event_payload::{
    parse_event_payload, read_event_payload, EventPayload, MergeGroup, PullRequest, PullRequestEnd,
    Repository, User, WorkflowRun, WorkflowRunPullRequest, MAX_EVENT_PAYLOAD_BYTES,
};
pub use reporter::GitHubReporter;
pub use settings::GitHubSettings;
pub use settings::OPTIONS;

use facts::{gather, Event, Gathered};
use pull_lookup::LookupAnswer;

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
        let production_branch = options.production_branch.as_deref();
        let Gathered {
            mut facts,
            mut wording,
        } = gather(env, payload);
        let ctx = compose_with_wording(facts.clone(), production_branch, &wording);
        // A push to a branch that is not production may be the head of an open pull request,
        // which only the API knows.
        let undecided_push = Event::from_env(env) == Event::Push
            && ctx.run_type.value.is_none()
            && ctx.branch.is_some();
        // A workflow_run of a fork's pull request: GitHub leaves workflow_run.pull_requests
        // empty, so only the API can name the pull request whose head is workflow_run.head_sha.
        let fork_workflow_run = Event::from_env(env) == Event::WorkflowRun
            && ctx.run_type.value == Some(RunType::PullRequest)
            && ctx.pr_number.value.is_none();
        let (true, Some(token)) = (undecided_push || fork_workflow_run, &self.settings.token)
        else {
            return Ok(ctx);
        };
        // The API's answer is one more fact, and the rules decide again.
        match pull_lookup::look_up_open_pull_request(env, &ctx, token, self.settings.timeout).await
        {
            LookupAnswer::Found(open) => facts.open_pull_request = Some(open),
            LookupAnswer::NoneOpen(words) => wording.api_lists_none = Some(words),
            LookupAnswer::Failed(warning) => facts.warnings.push(warning),
            LookupAnswer::NotAsked => return Ok(ctx),
        }
        Ok(compose_with_wording(facts, production_branch, &wording))
    }

    fn reporter(&self, env: &Env) -> Box<dyn Reporter> {
        Box::new(GitHubReporter::new(env))
    }
}
