//! The reasons of a CircleCI context, in CircleCI's terms: they name the variables a CircleCI
//! user can look at. The decisions are foldup-core's.

use foldup_core::{BranchBuild, PullRequestField, TagBuild, Wording};

use crate::pull_request::shorten;

pub(crate) struct CircleCiWording;

impl Wording for CircleCiWording {
    fn production(&self, build: &BranchBuild<'_>) -> String {
        format!(
            "{} '{}' is the production branch: {}",
            build.branch_source,
            shorten(build.branch),
            build.production.describe()
        )
    }

    fn not_production(&self, build: &BranchBuild<'_>) -> String {
        format!(
            "branch '{}' has no pull request (CIRCLE_PULL_REQUEST is not set) and is not the production branch ({}); pass --run-type",
            shorten(build.branch),
            build.production.describe()
        )
    }

    fn no_branch(&self, _provider: &str, _event_source: &str) -> String {
        "CIRCLE_BRANCH is not set and no pull request was found; pass --run-type".to_owned()
    }

    fn tag_branch(&self, tag: &TagBuild<'_>) -> String {
        format!("tag build ({}={})", tag.tag_source, shorten(tag.tag))
    }

    fn tag_run_type(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "tag build ({}={}) is neither a pull request nor a production branch build; pass --run-type to upload it",
            tag.tag_source,
            shorten(tag.tag)
        )
    }

    fn not_a_pull_request(&self, field: PullRequestField) -> Option<String> {
        Some(match field {
            PullRequestField::Number => "not a pull request: CIRCLE_PR_NUMBER, CIRCLE_PULL_REQUEST and CIRCLE_PULL_REQUESTS are not set".to_owned(),
            PullRequestField::BaseBranch => "not a pull request".to_owned(),
        })
    }
}
