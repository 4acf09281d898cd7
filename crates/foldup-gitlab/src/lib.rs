//! foldup's GitLab CI plugin: which commit and which kind of build a GitLab pipeline is, from
//! GitLab's predefined CI/CD variables (and, with a token, GitLab's API), and a reporter that
//! speaks GitLab's job log idiom.
//!
//! The plugin gathers facts (the variables in `facts`, the API look-up here) and
//! `foldup_core::compose_with_wording` applies PRODUCT.md's rules to them, in GitLab's words.

mod error;
mod facts;
mod lookup;
mod note;
mod open_merge_requests;
mod reporter;
mod settings;
mod wording;

use foldup_core::{
    async_trait, compose_with_wording, CiContext, CiProvider, DetectError, DetectOptions, Env,
    EventKind, Facts, OpenPullRequest, Reporter, Secret, Sourced,
};

pub use error::GitLabError;
pub use lookup::{find_open_merge_requests, GitLabServer, OpenMergeRequest};
pub use note::{upsert_merge_request_note, NoteOutcome};
pub use open_merge_requests::{
    parse_open_merge_requests, MergeRequestReference, OpenMergeRequests,
};
pub use reporter::GitLabReporter;
pub use settings::GitLabSettings;
pub use settings::OPTIONS;

use facts::Gathered;
use wording::GitLabWording;

/// The name of this plugin in `--provider` and `env --json`.
pub const PROVIDER_NAME: &str = "gitlab-ci";

/// GitLab CI: GitLab's own runners, and gitlab-ci-local (which sets `GITLAB_CI=false`).
#[derive(Debug, Default, Clone)]
pub struct GitLabCi {
    settings: GitLabSettings,
}

impl GitLabCi {
    pub fn new(settings: GitLabSettings) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl CiProvider for GitLabCi {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// `GITLAB_CI` set to anything: GitLab sets `true`, gitlab-ci-local sets `false`.
    fn is_active(&self, env: &Env) -> bool {
        env.is_set("GITLAB_CI")
    }

    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError> {
        let production_branch = options.production_branch.as_deref();
        let Gathered {
            mut facts,
            mut wording,
        } = facts::from_env(env);
        let context = compose_with_wording(facts.clone(), production_branch, &wording);
        // A branch pipeline the variables leave open for want of a merge request: GitLab's API
        // may know one. Its answer is one more fact, and the rules decide again.
        let (Some(branch), Some(token)) = (
            undecided_branch(&facts, &context),
            self.settings.token.as_ref(),
        ) else {
            return Ok(context);
        };
        ask_gitlab_for_merge_request(
            env,
            &branch,
            token,
            &self.settings,
            &mut facts,
            &mut wording,
        )
        .await;
        Ok(compose_with_wording(facts, production_branch, &wording))
    }

    fn reporter(&self, _env: &Env) -> Box<dyn Reporter> {
        Box::new(GitLabReporter::stderr())
    }
}

/// The branch of a branch pipeline whose run type the rules left open, and which no merge
/// request names yet.
fn undecided_branch(facts: &Facts, context: &CiContext) -> Option<String> {
    let branch_build = matches!(
        facts.event_kind().value,
        Some(EventKind::Push | EventKind::Schedule)
    );
    (branch_build && context.run_type.value.is_none() && facts.open_pull_request.is_none())
        .then(|| context.branch.value.clone())
        .flatten()
}

/// Asks GitLab for the branch's open merge request. What it finds becomes a fact; a failure is a
/// warning, and the variables' answer stands.
async fn ask_gitlab_for_merge_request(
    env: &Env,
    branch: &str,
    token: &Secret,
    settings: &GitLabSettings,
    facts: &mut Facts,
    wording: &mut GitLabWording,
) {
    let shown_branch = quoted(branch);
    let found = async {
        let server = GitLabServer::from_env(env)?;
        let project = env
            .get("CI_PROJECT_ID")
            .or_else(|| env.get("CI_PROJECT_PATH"))
            .ok_or(GitLabError::NoProject)?;
        find_open_merge_requests(&server, token, project, branch, settings.timeout).await
    }
    .await;
    match found {
        Ok(merge_requests) => match merge_requests.first() {
            Some(newest) => {
                let mut warnings = Vec::new();
                if merge_requests.len() > 1 {
                    let all: Vec<String> =
                        merge_requests.iter().map(|mr| format!("!{}", mr.iid)).collect();
                    warnings.push(format!(
                        "branch '{shown_branch}' is the source of {} open merge requests ({}); using !{}, the newest; pass --pr-number to choose another",
                        merge_requests.len(),
                        all.join(", "),
                        newest.iid
                    ));
                }
                facts.open_pull_request = Some(OpenPullRequest {
                    number: Sourced::new(
                        newest.iid,
                        format!("GitLab API: open merge request from '{shown_branch}'"),
                    ),
                    base_branch: Sourced::new(
                        newest.target_branch.clone(),
                        format!("GitLab API: target branch of !{}", newest.iid),
                    ),
                    reason: format!(
                        "GitLab API: branch '{shown_branch}' is the source of open merge request !{}",
                        newest.iid
                    ),
                    warnings,
                });
            }
            None => wording.api_lists_none = true,
        },
        Err(why) => facts.warnings.push(format!(
            "{why} (while looking up the open merge request of branch '{shown_branch}'; the CI variables' answer stands)"
        )),
    }
}

/// A user-supplied value made safe and short for a message or a `sources` entry.
pub(crate) fn quoted(value: &str) -> String {
    foldup_core::log_text::shown(value.trim())
}
