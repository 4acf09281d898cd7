//! PRODUCT.md's resolution rules, applied once for every provider: which commit, which run type,
//! which branch is production, and the reason each missing field is missing.

use super::wording::{BranchBuild, PlainWording, PullRequestField, TagBuild, Wording};
use super::{CommitMeaning, EventKind, Facts, OpenPullRequest};
use crate::{CiContext, CommitSha, ProductionBranch, RunType, Sourced};

/// Composes the context with the default words (a CI defined as data).
pub fn compose(facts: Facts, configured_production_branch: Option<&str>) -> CiContext {
    compose_with_wording(facts, configured_production_branch, &PlainWording)
}

/// Composes the context, saying each reason in `wording`'s words.
pub fn compose_with_wording(
    facts: Facts,
    configured_production_branch: Option<&str>,
    wording: &dyn Wording,
) -> CiContext {
    let event = facts.event_kind();
    let mut ctx = CiContext::new(facts.provider.clone());
    ctx.warnings = facts.warnings.clone();
    ctx.repository = facts.repository.clone();
    ctx.build_url = facts.build_url.clone();
    ctx.secrets_withheld = facts.secrets_withheld.clone();
    ctx.default_branch = if facts.default_branch.is_some() || facts.default_branch.source.is_some()
    {
        facts.default_branch.clone()
    } else {
        explained(wording.default_branch_unknown(&facts.provider))
    };
    let is_pr = event.value == Some(EventKind::PullRequest);
    let event_source = event.source.clone().unwrap_or_default();
    ctx.commit_sha = commit(&facts, is_pr, &mut ctx.warnings);

    if is_pr {
        pull_request_build(&mut ctx, &facts, &event_source, wording);
    } else {
        let production =
            ProductionBranch::resolve(configured_production_branch, &ctx.default_branch);
        other_build(&mut ctx, &facts, &event, &production, wording);
    }
    ctx
}

/// A pull request: its number (else the open pull request's, else why it is unknown), branches
/// and fork as the facts give them.
fn pull_request_build(
    ctx: &mut CiContext,
    facts: &Facts,
    event_source: &str,
    wording: &dyn Wording,
) {
    ctx.run_type = Sourced::new(RunType::PullRequest, event_source);
    ctx.pr_number = facts.pr_number.clone();
    ctx.base_branch = facts.base_branch.clone();
    if ctx.pr_number.value.is_none() {
        if let Some(open) = &facts.open_pull_request {
            take_open_pull_request(ctx, open);
        } else if ctx.pr_number.source.is_none() {
            ctx.pr_number = Sourced::missing(wording.pull_request_without_number(event_source));
        }
    }
    ctx.branch = facts.branch.clone();
    ctx.fork = facts.fork.clone();
}

/// Any other build: production on the production branch, an open pull request's build on a
/// branch that has one, else no run type with the reason.
fn other_build(
    ctx: &mut CiContext,
    facts: &Facts,
    event: &Sourced<EventKind>,
    production: &ProductionBranch,
    wording: &dyn Wording,
) {
    let event_source = event.source.as_deref().unwrap_or_default();
    // Secrets are withheld from a fork's build whatever its run type, so a fork stays known.
    if facts.fork.value == Some(true) {
        ctx.fork = facts.fork.clone();
    }
    ctx.pr_number = explained(wording.not_a_pull_request(PullRequestField::Number));
    ctx.base_branch = explained(wording.not_a_pull_request(PullRequestField::BaseBranch));
    ctx.branch = facts.branch.clone();
    match &event.value {
        Some(EventKind::Tag) => {
            let tag = TagBuild {
                tag: facts.tag.get().map(String::as_str).unwrap_or_default(),
                tag_source: facts.tag.source.as_deref().unwrap_or_default(),
                event_source,
            };
            ctx.branch = Sourced::missing(wording.tag_branch(&tag));
            ctx.run_type = Sourced::missing(wording.tag_run_type(&tag));
        }
        Some(EventKind::MergeQueue) => {
            ctx.run_type = Sourced::missing(wording.merge_queue(event_source));
        }
        Some(EventKind::Other(word)) => {
            ctx.run_type = Sourced::missing(wording.unmapped_event(word, event_source));
        }
        Some(EventKind::Push | EventKind::Schedule | EventKind::Manual) | None => {
            let Some(branch) = facts.branch.get() else {
                ctx.run_type = Sourced::missing(wording.no_branch(&facts.provider, event_source));
                return;
            };
            let build = BranchBuild {
                branch,
                branch_source: facts.branch.source.as_deref().unwrap_or("the branch"),
                event: event.value.as_ref(),
                event_source,
                production,
            };
            // The production branch is production even when it is also the source of an open
            // pull request: Datafold needs production artifacts to diff against.
            if production.matches(branch) {
                ctx.run_type = Sourced::new(RunType::Production, wording.production(&build));
            } else if let Some(open) = &facts.open_pull_request {
                take_open_pull_request(ctx, open);
                ctx.fork = facts.fork.clone();
            } else {
                ctx.run_type = Sourced::missing(wording.not_production(&build));
            }
        }
        Some(EventKind::PullRequest) => unreachable!("a pull request is a pull_request_build"),
    }
}

/// The build is the open pull request's: its run type, number and target branch.
fn take_open_pull_request(ctx: &mut CiContext, open: &OpenPullRequest) {
    ctx.run_type = Sourced::new(RunType::PullRequest, open.reason.clone());
    ctx.pr_number = open.number.clone();
    ctx.base_branch = open.base_branch.clone();
    ctx.warnings.extend(open.warnings.iter().cloned());
}

/// A missing value with its reason, or unexplained.
fn explained<T>(reason: Option<String>) -> Sourced<T> {
    reason.map(Sourced::missing).unwrap_or_default()
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
    if let Some(reason) = &facts.no_commit_reason {
        return Sourced::missing(reason.clone());
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
    use crate::facts::CommitCandidate;

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

    fn open_pull_request(number: u64) -> OpenPullRequest {
        OpenPullRequest {
            number: Sourced::new(number, "OPEN"),
            base_branch: Sourced::missing("OPEN names no target"),
            reason: format!("OPEN: the branch is the source of #{number}"),
            warnings: vec!["two open pull requests".to_owned()],
        }
    }

    #[test]
    fn an_open_pull_request_makes_a_push_its_build_except_on_the_production_branch() {
        let mut facts = Facts::new("ci");
        facts.commits = vec![candidate(HEAD, CommitMeaning::Pushed, "SHA")];
        facts.branch = Sourced::new("feature".to_owned(), "BRANCH");
        facts.open_pull_request = Some(open_pull_request(57));
        let ctx = compose(facts.clone(), None);
        assert_eq!(ctx.run_type.value, Some(RunType::PullRequest));
        assert_eq!(ctx.pr_number.value, Some(57));
        assert_eq!(ctx.commit_sha.source.as_deref(), Some("SHA"));
        assert_eq!(ctx.warnings, ["two open pull requests"]);
        facts.branch = Sourced::new("main".to_owned(), "BRANCH");
        let ctx = compose(facts, None);
        assert_eq!(ctx.run_type.value, Some(RunType::Production));
        assert!(ctx.warnings.is_empty());
    }

    #[test]
    fn a_pull_request_without_a_number_takes_the_open_one_else_keeps_the_facts_reason() {
        let mut facts = Facts::new("ci");
        facts.event = Sourced::new(EventKind::PullRequest, "EVENT=pr");
        facts.pr_number = Sourced::missing("the list of pull requests is empty");
        let ctx = compose(facts.clone(), None);
        assert_eq!(
            ctx.pr_number.source.as_deref(),
            Some("the list of pull requests is empty")
        );
        facts.open_pull_request = Some(open_pull_request(8));
        let ctx = compose(facts, None);
        assert_eq!(ctx.pr_number.value, Some(8));
        assert_eq!(
            ctx.run_type.source.as_deref(),
            Some("OPEN: the branch is the source of #8")
        );
    }

    #[test]
    fn a_provider_words_the_reasons_and_its_own_commit_reason_wins() {
        struct Terse;
        impl Wording for Terse {
            fn not_production(&self, build: &BranchBuild<'_>) -> String {
                format!("{} is not production", build.branch)
            }
            fn not_a_pull_request(&self, _field: PullRequestField) -> Option<String> {
                None
            }
        }
        let mut facts = Facts::new("ci");
        facts.branch = Sourced::new("dev".to_owned(), "BRANCH");
        facts.no_commit_reason = Some("SHA is not set".to_owned());
        let ctx = compose_with_wording(facts, None, &Terse);
        assert_eq!(
            ctx.run_type.source.as_deref(),
            Some("dev is not production")
        );
        assert_eq!(ctx.pr_number, Sourced::unknown());
        assert_eq!(ctx.commit_sha.source.as_deref(), Some("SHA is not set"));
    }
}
