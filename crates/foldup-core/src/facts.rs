//! Facts, then rules, once. A provider reports what its CI says — commit candidates with their
//! meaning, the event, the PR number, the branches, the default branch, the repository, the build
//! URL, whether the PR is from a fork — each with its source, and [`compose`] turns them into a
//! [`CiContext`] with PRODUCT.md's resolution rules: which commit, which run type, which branch is
//! production, and the reason each missing field is missing. A CI defined as data never decides
//! any of these itself.

use std::fmt;

use crate::{CiContext, CommitSha, ProductionBranch, RunType, Sourced};
use foldup_logtext::shown as printable;

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

/// PRODUCT.md's resolution rules, applied once for every provider.
pub fn compose(facts: Facts, configured_production_branch: Option<&str>) -> CiContext {
    let event = facts.event_kind();
    let mut ctx = CiContext::new(facts.provider.clone());
    ctx.warnings = facts.warnings.clone();
    ctx.repository = facts.repository.clone();
    ctx.build_url = facts.build_url.clone();
    ctx.default_branch = match &facts.default_branch.value {
        Some(_) => facts.default_branch.clone(),
        None => Sourced::missing(format!(
            "{} does not name the repository's default branch; set production_branch (else main or master count as production)",
            facts.provider
        )),
    };
    let is_pr = event.value == Some(EventKind::PullRequest);
    let event_source = event.source.clone().unwrap_or_default();
    ctx.commit_sha = commit(&facts, is_pr, &mut ctx.warnings);

    if is_pr {
        ctx.run_type = Sourced::new(RunType::PullRequest, event_source.clone());
        ctx.pr_number = match &facts.pr_number.value {
            Some(_) => facts.pr_number.clone(),
            None => Sourced::missing(format!(
                "{event_source} says pull request, but no variable holds its number; pass --pr-number"
            )),
        };
        ctx.branch = facts.branch.clone();
        ctx.base_branch = facts.base_branch.clone();
        ctx.fork = facts.fork.clone();
        return ctx;
    }

    ctx.pr_number = Sourced::missing("not a pull request build");
    ctx.base_branch = Sourced::missing("not a pull request build");
    let production = ProductionBranch::resolve(configured_production_branch, &ctx.default_branch);
    match event.value {
        Some(EventKind::Tag) => {
            let tag = facts.tag.get().map(|t| printable(t)).unwrap_or_default();
            ctx.branch = Sourced::missing(format!("a tag build ('{tag}') has no branch"));
            ctx.run_type = Sourced::missing(format!(
                "{event_source}: a tag build is neither a pull request nor a production branch build; pass --run-type to upload it anyway"
            ));
        }
        Some(EventKind::MergeQueue) => {
            ctx.branch = facts.branch.clone();
            ctx.run_type = Sourced::missing(format!(
                "{event_source}: a merge queue build is neither a pull request nor production"
            ));
        }
        Some(EventKind::Other(word)) => {
            ctx.branch = facts.branch.clone();
            ctx.run_type = Sourced::missing(format!(
                "{event_source}: '{word}' is not an event foldup maps to a run type (pull_request, push, schedule, manual); pass --run-type"
            ));
        }
        Some(EventKind::Push | EventKind::Schedule | EventKind::Manual) | None => {
            ctx.branch = facts.branch.clone();
            ctx.run_type = match facts.branch.get() {
                Some(branch) if production.matches(branch) => Sourced::new(
                    RunType::Production,
                    format!(
                        "{} names the production branch {}",
                        facts.branch.source.as_deref().unwrap_or("the branch"),
                        production.describe()
                    ),
                ),
                Some(branch) => Sourced::missing(format!(
                    "branch '{}' is not the production branch {}, and a build of it is neither a pull request nor production; pass --run-type",
                    printable(branch),
                    production.describe()
                )),
                None => Sourced::missing(format!(
                    "{} names neither a pull request nor a branch for this build; pass --run-type",
                    facts.provider
                )),
            };
        }
        Some(EventKind::PullRequest) => unreachable!("handled above"),
    }
    ctx
}

/// The commit: a pull request's head, never a merge commit the CI made; for any other build the
/// commit pushed. Candidates that are not full shas are skipped with a warning.
fn commit(facts: &Facts, is_pr: bool, warnings: &mut Vec<String>) -> Sourced<CommitSha> {
    let order: &[CommitMeaning] = if is_pr {
        &[CommitMeaning::PullRequestHead, CommitMeaning::Pushed]
    } else {
        &[CommitMeaning::Pushed, CommitMeaning::PullRequestHead]
    };
    let mut rejected = Vec::new();
    for meaning in order {
        for candidate in facts.commits.iter().filter(|c| c.meaning == *meaning) {
            match candidate.sha.parse::<CommitSha>() {
                Ok(sha) if sha.as_str().bytes().all(|b| b == b'0') => {
                    warnings.push(format!(
                        "ignoring {}: it is the all-zero placeholder, not a commit",
                        candidate.source
                    ));
                    rejected.push(candidate.source.as_str());
                }
                Ok(sha) => return Sourced::new(sha, candidate.source.clone()),
                Err(why) => {
                    warnings.push(format!("ignoring {}: {why}", candidate.source));
                    rejected.push(candidate.source.as_str());
                }
            }
        }
    }
    if let Some(merge) = facts
        .commits
        .iter()
        .find(|c| c.meaning == CommitMeaning::MergeCommit)
    {
        return Sourced::missing(format!(
            "{} is the merge commit {} built for the pull request, not the pull request's head, and no variable names the head; pass --commit-sha with the head commit",
            merge.source, facts.provider
        ));
    }
    if !rejected.is_empty() {
        return Sourced::missing(format!(
            "{} holds no full commit sha (see the warning); pass --commit-sha",
            rejected.join(", ")
        ));
    }
    Sourced::missing(format!(
        "{} names no commit for this build; pass --commit-sha",
        facts.provider
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "1111111111111111111111111111111111111111";
    const MERGE: &str = "2222222222222222222222222222222222222222";

    fn candidate(sha: &str, meaning: CommitMeaning, source: &str) -> CommitCandidate {
        CommitCandidate {
            sha: sha.to_owned(),
            meaning,
            source: source.to_owned(),
        }
    }

    #[test]
    fn a_pull_request_takes_its_head_and_never_the_merge_commit() {
        let mut facts = Facts::new("ci");
        facts.pr_number = Sourced::new(7, "PR");
        facts.commits = vec![
            candidate(MERGE, CommitMeaning::MergeCommit, "SHA"),
            candidate(HEAD, CommitMeaning::PullRequestHead, "HEAD_SHA"),
        ];
        let ctx = compose(facts.clone(), None);
        assert_eq!(ctx.commit_sha.get().unwrap().as_str(), HEAD);
        assert_eq!(ctx.run_type.value, Some(RunType::PullRequest));
        facts.commits.truncate(1);
        let ctx = compose(facts, None);
        assert!(ctx.commit_sha.value.is_none());
        assert!(ctx
            .commit_sha
            .source
            .unwrap()
            .contains("SHA is the merge commit ci built"));
    }

    #[test]
    fn pushes_are_production_only_on_the_production_branch_and_tags_never() {
        let mut facts = Facts::new("ci");
        facts.commits = vec![candidate(HEAD, CommitMeaning::Pushed, "SHA")];
        facts.branch = Sourced::new("main".to_owned(), "BRANCH");
        assert_eq!(
            compose(facts.clone(), None).run_type.value,
            Some(RunType::Production)
        );
        assert_eq!(compose(facts.clone(), Some("release")).run_type.value, None);
        facts.event = Sourced::new(EventKind::Push, "EVENT");
        facts.tag = Sourced::new("v1".to_owned(), "TAG");
        let ctx = compose(facts, None);
        assert_eq!(ctx.run_type.value, None);
        assert!(ctx.branch.source.unwrap().contains("tag build ('v1')"));
    }
}
