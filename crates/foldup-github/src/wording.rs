//! The reasons of a GitHub Actions context, in GitHub's terms (its events, `GITHUB_REF`, the
//! payload's fields). The decisions are foldup-core's.

use foldup_core::{sanitize_line, BranchBuild, EventKind, PullRequestField, TagBuild, Wording};

/// The events a run type follows from, for the reason of one that does not.
const MAPPED_EVENTS: &str = "pull_request, pull_request_target, push, workflow_dispatch, schedule";

#[derive(Debug, Clone, Default)]
pub(crate) struct GitHubWording {
    /// The run follows a `workflow_run`: its event is the triggering run's.
    pub workflow_run: bool,
    /// Why the run names no branch (no `GITHUB_REF`, a ref that is not a branch, an unusable
    /// workflow_run payload), when the facts leave the run type nothing to go on.
    pub no_branch_reason: Option<String>,
    /// What the GitHub API said when asked for an open pull request of the pushed commit and it
    /// listed none.
    pub api_lists_none: Option<String>,
}

impl Wording for GitHubWording {
    fn production(&self, build: &BranchBuild<'_>) -> String {
        if self.workflow_run || build.event == Some(&EventKind::Schedule) {
            format!(
                "{} on the production branch {}",
                build.event_source,
                build.production.describe()
            )
        } else {
            format!(
                "{} names the production branch {}",
                build.branch_source,
                build.production.describe()
            )
        }
    }

    fn not_production(&self, build: &BranchBuild<'_>) -> String {
        if !self.workflow_run && build.event == Some(&EventKind::Schedule) {
            return format!(
                "{} ran on '{}', which is not the production branch {}",
                build.event_source,
                sanitize_line(build.branch),
                build.production.describe()
            );
        }
        let mut reason = format!(
            "{}: branch '{}' is not the production branch {}, and a build of it is neither a pull request nor production",
            build.event_source,
            sanitize_line(build.branch),
            build.production.describe()
        );
        if let Some(api) = &self.api_lists_none {
            reason.push_str("; ");
            reason.push_str(api);
        }
        reason
    }

    fn no_branch(&self, _provider: &str, event_source: &str) -> String {
        match &self.no_branch_reason {
            Some(reason) => reason.clone(),
            None if self.workflow_run => {
                format!("{event_source}: the triggering run names no branch; pass --run-type")
            }
            None => format!("{event_source}: the run names no branch; pass --run-type"),
        }
    }

    fn tag_branch(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "{} names the tag '{}', not a branch",
            tag.tag_source,
            sanitize_line(tag.tag)
        )
    }

    fn tag_run_type(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "{} names the tag '{}'; a build of it is neither a pull request nor production",
            tag.tag_source,
            sanitize_line(tag.tag)
        )
    }

    fn unmapped_event(&self, _word: &str, event_source: &str) -> String {
        if self.workflow_run {
            return format!(
                "{event_source} is not an event foldup maps to a run type ({MAPPED_EVENTS}); pass --run-type"
            );
        }
        match &self.no_branch_reason {
            Some(reason) => reason.clone(),
            None => format!(
                "{event_source} is not an event foldup maps to a run type ({MAPPED_EVENTS})"
            ),
        }
    }

    /// GitHub's variables simply leave these unset outside pull request runs.
    fn not_a_pull_request(&self, _field: PullRequestField) -> Option<String> {
        None
    }
}
