//! foldup's GitLab CI plugin: which commit and which kind of build a GitLab pipeline is, from
//! GitLab's predefined CI/CD variables (and, with a token, GitLab's API), and a reporter that
//! speaks GitLab's job log idiom.
//!
//! The rules are PRODUCT.md's: merge request pipelines (including merged-results pipelines,
//! whose `CI_COMMIT_SHA` is a merge commit), branch pipelines with or without open merge
//! requests, tag and scheduled pipelines, forks, and gitlab-ci-local's local runs.

mod detect;
mod error;
mod lookup;
mod note;
mod open_merge_requests;
mod reporter;

use foldup_core::{
    async_trait, CiContext, CiProvider, DetectError, DetectOptions, Env, Reporter, RunType, Secret,
    Sourced,
};

pub use error::GitLabError;
pub use lookup::{find_open_merge_requests, GitLabServer, OpenMergeRequest};
pub use note::{upsert_merge_request_note, NoteOutcome};
pub use open_merge_requests::{
    parse_open_merge_requests, MergeRequestReference, OpenMergeRequests,
};
pub use reporter::GitLabReporter;

/// The name of this plugin in `--provider` and `env --json`.
pub const PROVIDER_NAME: &str = "gitlab-ci";

/// GitLab CI: GitLab's own runners, and gitlab-ci-local (which sets `GITLAB_CI=false`).
#[derive(Debug, Default, Clone, Copy)]
pub struct GitLabCi;

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
        let answer = detect::detect_from_env(env, options.production_branch.as_deref());
        let mut context = answer.context;
        if let (Some(branch), Some(token)) = (
            answer.branch_without_merge_request,
            options.lookups.gitlab_token.as_ref(),
        ) {
            ask_gitlab_for_merge_request(env, &branch, token, options, &mut context).await;
        }
        Ok(context)
    }

    fn reporter(&self, _env: &Env) -> Box<dyn Reporter> {
        Box::new(GitLabReporter::stderr())
    }
}

/// Settles a branch pipeline's run type through the API; any failure is a warning and the
/// variables' answer stands.
async fn ask_gitlab_for_merge_request(
    env: &Env,
    branch: &str,
    token: &Secret,
    options: &DetectOptions,
    context: &mut CiContext,
) {
    let shown_branch = quoted(branch);
    let found = async {
        let server = GitLabServer::from_env(env)?;
        let project = env
            .get("CI_PROJECT_ID")
            .or_else(|| env.get("CI_PROJECT_PATH"))
            .ok_or(GitLabError::NoProject)?;
        find_open_merge_requests(&server, token, project, branch, options.lookups.timeout).await
    }
    .await;
    match found {
        Ok(merge_requests) => match merge_requests.first() {
            Some(newest) => {
                if merge_requests.len() > 1 {
                    let all: Vec<String> =
                        merge_requests.iter().map(|mr| format!("!{}", mr.iid)).collect();
                    context.warnings.push(format!(
                        "branch '{shown_branch}' is the source of {} open merge requests ({}); using !{}, the newest; pass --pr-number to choose another",
                        merge_requests.len(),
                        all.join(", "),
                        newest.iid
                    ));
                }
                context.run_type = Sourced::new(
                    RunType::PullRequest,
                    format!(
                        "GitLab API: branch '{shown_branch}' is the source of open merge request !{}",
                        newest.iid
                    ),
                );
                context.pr_number = Sourced::new(
                    newest.iid,
                    format!("GitLab API: open merge request from '{shown_branch}'"),
                );
                context.base_branch = Sourced::new(
                    newest.target_branch.clone(),
                    format!("GitLab API: target branch of !{}", newest.iid),
                );
            }
            None => {
                if let Some(reason) = context.run_type.source.as_mut() {
                    reason.push_str(" (the GitLab API lists no open merge request from it either)");
                }
            }
        },
        Err(why) => context.warnings.push(format!(
            "{why} (while looking up the open merge request of branch '{shown_branch}'; the CI variables' answer stands)"
        )),
    }
}

/// A user-supplied value made safe and short for a message or a `sources` entry.
pub(crate) fn quoted(value: &str) -> String {
    foldup_core::log_text::shown(value.trim())
}
