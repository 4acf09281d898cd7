//! The words of a composed context's reasons. [`compose`](super::compose) decides; a [`Wording`]
//! only says it. A good reason names the variables the user can look at, and those are the
//! provider's own, so a native plugin may word a decision in its CI's terms. The defaults
//! ([`PlainWording`]) serve every CI defined as data.

use foldup_logtext::shown as printable;

use super::EventKind;
use crate::ProductionBranch;

/// A build of a branch that is not a pull request, as the rules judged it.
#[derive(Debug, Clone, Copy)]
pub struct BranchBuild<'a> {
    /// The branch as the CI named it; show it with care, it is text people choose.
    pub branch: &'a str,
    pub branch_source: &'a str,
    /// The event, when the CI named it or the facts imply one.
    pub event: Option<&'a EventKind>,
    pub event_source: &'a str,
    pub production: &'a ProductionBranch,
}

/// A build of a tag.
#[derive(Debug, Clone, Copy)]
pub struct TagBuild<'a> {
    /// The tag as the CI named it; show it with care.
    pub tag: &'a str,
    pub tag_source: &'a str,
    pub event_source: &'a str,
}

/// The fields a build that is not a pull request's has no value for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestField {
    Number,
    BaseBranch,
}

/// How a provider words the reasons of what the rules decided. Every method has the words a CI
/// defined as data gets; a native plugin overrides those it says in its CI's terms.
pub trait Wording: Send + Sync {
    /// The run type's source when the branch built is the production branch.
    fn production(&self, build: &BranchBuild<'_>) -> String {
        format!(
            "{} names the production branch {}",
            build.branch_source,
            build.production.describe()
        )
    }

    /// Why a build of a branch that is not production has no run type.
    fn not_production(&self, build: &BranchBuild<'_>) -> String {
        format!(
            "branch '{}' is not the production branch {}, and a build of it is neither a pull request nor production; pass --run-type",
            printable(build.branch),
            build.production.describe()
        )
    }

    /// Why a build that names neither a pull request nor a branch has no run type.
    fn no_branch(&self, provider: &str, event_source: &str) -> String {
        let _ = event_source;
        format!(
            "{provider} names neither a pull request nor a branch for this build; pass --run-type"
        )
    }

    /// Why a tag build has no branch.
    fn tag_branch(&self, tag: &TagBuild<'_>) -> String {
        format!("a tag build ('{}') has no branch", printable(tag.tag))
    }

    /// Why a tag build has no run type.
    fn tag_run_type(&self, tag: &TagBuild<'_>) -> String {
        format!(
            "{}: a tag build is neither a pull request nor a production branch build; pass --run-type to upload it anyway",
            tag.event_source
        )
    }

    /// Why a merge queue build has no run type.
    fn merge_queue(&self, event_source: &str) -> String {
        format!("{event_source}: a merge queue build is neither a pull request nor production")
    }

    /// Why a build of an event foldup has no rule for has no run type.
    fn unmapped_event(&self, word: &str, event_source: &str) -> String {
        format!(
            "{event_source}: '{word}' is not an event foldup maps to a run type (pull_request, push, schedule, manual); pass --run-type"
        )
    }

    /// Why a pull request build has no number, when the facts do not say.
    fn pull_request_without_number(&self, event_source: &str) -> String {
        format!(
            "{event_source} says pull request, but no variable holds its number; pass --pr-number"
        )
    }

    /// Why a build that is not a pull request's has no `field`; `None` leaves it unexplained.
    fn not_a_pull_request(&self, field: PullRequestField) -> Option<String> {
        let _ = field;
        Some("not a pull request build".to_owned())
    }

    /// Why the default branch is unknown, when the facts do not say; `None` leaves it
    /// unexplained.
    fn default_branch_unknown(&self, provider: &str) -> Option<String> {
        Some(format!(
            "{provider} does not name the repository's default branch; set production_branch (else main or master count as production)"
        ))
    }
}

/// The default words, for CIs defined as data.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainWording;

impl Wording for PlainWording {}
