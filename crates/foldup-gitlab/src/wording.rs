//! The reasons of a GitLab context, in GitLab's terms (pipelines, merge requests, its
//! variables). The decisions are foldup-core's.

use foldup_core::{BranchBuild, EventKind, PullRequestField, TagBuild, Wording};

use crate::quoted;

#[derive(Debug, Clone, Default)]
pub(crate) struct GitLabWording {
    /// What `CI_OPEN_MERGE_REQUESTS` says about a branch pipeline's branch when it names no merge
    /// request of this project.
    pub merge_requests: String,
    /// GitLab's API was asked for the branch's open merge request and listed none.
    pub api_lists_none: bool,
}

fn pipeline(build: &BranchBuild<'_>) -> &'static str {
    if build.event == Some(&EventKind::Schedule) {
        "scheduled pipeline (CI_PIPELINE_SOURCE=schedule)"
    } else {
        "branch pipeline"
    }
}

impl Wording for GitLabWording {
    fn production(&self, build: &BranchBuild<'_>) -> String {
        format!(
            "{} of '{}', the production branch: {}",
            pipeline(build),
            quoted(build.branch),
            build.production.describe()
        )
    }

    fn not_production(&self, build: &BranchBuild<'_>) -> String {
        let mut reason = format!(
            "{} of '{}', which is not the production branch ({}), and {}; pass --run-type, or run foldup in a merge request pipeline",
            pipeline(build),
            quoted(build.branch),
            build.production.describe(),
            self.merge_requests
        );
        if self.api_lists_none {
            reason.push_str(" (the GitLab API lists no open merge request from it either)");
        }
        reason
    }

    fn no_branch(&self, _provider: &str, _event_source: &str) -> String {
        "none of CI_COMMIT_BRANCH, CI_COMMIT_TAG or the merge request variables is set, so GitLab did not say what this pipeline builds; pass --run-type".to_owned()
    }

    fn tag_branch(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "a tag pipeline ({} '{}') has no branch",
            tag.tag_source,
            quoted(tag.tag)
        )
    }

    fn tag_run_type(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "a tag pipeline ({} '{}') is neither a merge request nor a production branch build; pass --run-type to upload it anyway",
            tag.tag_source,
            quoted(tag.tag)
        )
    }

    /// GitLab's variables simply leave these unset outside merge request pipelines.
    fn not_a_pull_request(&self, _field: PullRequestField) -> Option<String> {
        None
    }

    /// `CI_DEFAULT_BRANCH` is always set on GitLab; only gitlab-ci-local may lack it.
    fn default_branch_unknown(&self, _provider: &str) -> Option<String> {
        None
    }
}
