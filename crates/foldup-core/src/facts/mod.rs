//! Facts, then rules, once. A provider reports what its CI says — commit candidates with their
//! meaning, the event, the PR number, the branches, the default branch, the repository, the build
//! URL, whether the PR is from a fork — each with its source, and [`compose`] turns them into a
//! [`CiContext`] with PRODUCT.md's resolution rules: which commit, which run type, which branch is
//! production, and the reason each missing field is missing. No provider decides any of these
//! itself; a native plugin only chooses the words of the reasons ([`Wording`]), so that they name
//! its own variables.

mod compose;
mod wording;

use std::fmt;

use crate::Sourced;
use foldup_logtext::shown as printable;

pub use compose::{compose, compose_with_wording};
pub use wording::{BranchBuild, PlainWording, PullRequestField, TagBuild, Wording};

/// What a commit candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMeaning {
    /// The head of the pull request: the commit its author pushed.
    PullRequestHead,
    /// The commit the CI built on a push, tag, schedule or manual build.
    Pushed,
    /// A merge commit the CI made for a pull request build: nobody wrote it, and Datafold never
    /// sees it in the repository's history.
    MergeCommit,
}

/// A commit id as the CI gave it, with what it means and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitCandidate {
    /// As given: checked by [`compose`].
    pub sha: String,
    pub meaning: CommitMeaning,
    pub source: String,
}

/// The kind of event that started the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    PullRequest,
    Push,
    Tag,
    Schedule,
    Manual,
    MergeQueue,
    /// An event foldup has no rule for, as the CI named it.
    Other(String),
}

impl EventKind {
    /// The words of a provider definition: `pull_request`, `push`, `tag`, `schedule`, `manual`,
    /// `merge_queue`; anything else is [`EventKind::Other`].
    pub fn from_word(word: &str) -> EventKind {
        match word.trim() {
            "pull_request" => EventKind::PullRequest,
            "push" => EventKind::Push,
            "tag" => EventKind::Tag,
            "schedule" => EventKind::Schedule,
            "manual" => EventKind::Manual,
            "merge_queue" => EventKind::MergeQueue,
            other => EventKind::Other(printable(other)),
        }
    }

    /// The event kinds a definition may name.
    pub const WORDS: [&'static str; 6] = [
        "pull_request",
        "push",
        "tag",
        "schedule",
        "manual",
        "merge_queue",
    ];
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::PullRequest => "pull_request",
            EventKind::Push => "push",
            EventKind::Tag => "tag",
            EventKind::Schedule => "schedule",
            EventKind::Manual => "manual",
            EventKind::MergeQueue => "merge_queue",
            EventKind::Other(word) => word,
        })
    }
}

/// What a provider read from its CI, before any rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The provider's name (`bitbucket-pipelines`, …).
    pub provider: String,
    /// The commits the CI names, in the order the provider trusts them.
    pub commits: Vec<CommitCandidate>,
    /// The event, when the CI says it; else [`Facts::event_kind`] infers it.
    pub event: Sourced<EventKind>,
    pub pr_number: Sourced<u64>,
    /// The branch built, or for a pull request its source branch.
    pub branch: Sourced<String>,
    /// A pull request's target branch.
    pub base_branch: Sourced<String>,
    pub tag: Sourced<String>,
    pub default_branch: Sourced<String>,
    pub repository: Sourced<String>,
    pub build_url: Sourced<String>,
    pub fork: Sourced<bool>,
    /// Whether the CI withholds secrets from this build although it is not a fork.
    pub secrets_withheld: Sourced<bool>,
    /// An open pull request whose source is the branch built, found by the provider (a list the
    /// CI passes, or its API): a push of a branch that is not production is that pull request's
    /// build. A pull request build whose number the CI does not give takes its number from here.
    pub open_pull_request: Option<OpenPullRequest>,
    /// Why no commit candidate is usable, in the provider's words (it checked its candidates
    /// itself); without it [`compose`] says why.
    pub no_commit_reason: Option<String>,
    pub warnings: Vec<String>,
}

/// An open pull request of the branch built, as a provider found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPullRequest {
    pub number: Sourced<u64>,
    pub base_branch: Sourced<String>,
    /// Why this build is that pull request's: the run type's source.
    pub reason: String,
    /// What the user should know when the build becomes this pull request's (several open pull
    /// requests, one taken).
    pub warnings: Vec<String>,
}

impl Facts {
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            ..Self::default()
        }
    }

    /// The event: as the CI named it, except that a push of a tag is a tag build; when the CI
    /// names none, a PR number means a pull request, a tag a tag build, a branch a push.
    pub fn event_kind(&self) -> Sourced<EventKind> {
        let tag = || {
            Sourced::new(
                EventKind::Tag,
                format!(
                    "{} names the tag '{}'",
                    source_of(&self.tag),
                    printable(self.tag.get().map(String::as_str).unwrap_or_default())
                ),
            )
        };
        match &self.event.value {
            Some(EventKind::Push) if self.tag.is_some() => tag(),
            Some(_) => self.event.clone(),
            None if self.pr_number.is_some() => Sourced::new(
                EventKind::PullRequest,
                format!(
                    "{} names pull request #{}",
                    source_of(&self.pr_number),
                    self.pr_number.value.unwrap_or_default()
                ),
            ),
            None if self.tag.is_some() => tag(),
            None if self.branch.is_some() => Sourced::new(
                EventKind::Push,
                format!(
                    "{} names a branch and no variable a pull request",
                    source_of(&self.branch)
                ),
            ),
            None => Sourced::missing(
                self.event
                    .source
                    .clone()
                    .unwrap_or_else(|| "no variable names the event".to_owned()),
            ),
        }
    }
}

fn source_of<T>(s: &Sourced<T>) -> String {
    s.source.clone().unwrap_or_default()
}
