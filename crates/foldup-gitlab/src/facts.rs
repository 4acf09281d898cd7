//! What GitLab's predefined CI/CD variables say about a pipeline, as facts for
//! `foldup_core::compose`: merge request pipelines (including merged-results pipelines, whose
//! `CI_COMMIT_SHA` is a merge commit), branch pipelines with or without open merge requests, tag
//! and scheduled pipelines, forks, and gitlab-ci-local's local runs.

use foldup_core::{
    CommitCandidate, CommitMeaning, CommitSha, Env, EventKind, Facts, OpenPullRequest, Sourced,
};

use crate::open_merge_requests::{parse_iid, parse_open_merge_requests};
use crate::wording::GitLabWording;
use crate::{quoted, PROVIDER_NAME};

/// What the variables say, and the words for what the rules make of it.
pub(crate) struct Gathered {
    pub facts: Facts,
    pub wording: GitLabWording,
}

pub(crate) fn from_env(env: &Env) -> Gathered {
    let mut facts = Facts::new(PROVIDER_NAME);
    let mut wording = GitLabWording::default();
    facts.repository = variable(env, "CI_PROJECT_PATH");
    facts.build_url = variable(env, "CI_PIPELINE_URL").or(variable(env, "CI_JOB_URL"));
    facts.default_branch = variable(env, "CI_DEFAULT_BRANCH");

    if is_merge_request_pipeline(env) {
        merge_request_pipeline(env, &mut facts);
    } else if let Some(tag) = env.get("CI_COMMIT_TAG") {
        tag_pipeline(env, tag, &mut facts);
    } else if env.get("CI_PIPELINE_SOURCE") == Some("external_pull_request_event") {
        external_pull_request_pipeline(env, &mut facts);
    } else {
        branch_pipeline(env, &mut facts, &mut wording);
    }
    Gathered { facts, wording }
}

/// A variable's value with the variable's name as its source.
fn variable(env: &Env, name: &str) -> Sourced<String> {
    match env.get(name) {
        Some(value) => Sourced::new(value.trim().to_owned(), name),
        None => Sourced::unknown(),
    }
}

/// Merge request pipelines say so in `CI_PIPELINE_SOURCE`; their child pipelines
/// (`parent_pipeline`) keep the merge request variables, so the IID counts too.
fn is_merge_request_pipeline(env: &Env) -> bool {
    env.get("CI_PIPELINE_SOURCE") == Some("merge_request_event")
        || env.get("CI_MERGE_REQUEST_IID").is_some()
}

fn merge_request_pipeline(env: &Env, facts: &mut Facts) {
    let event_source = match env.get("CI_PIPELINE_SOURCE") {
        Some("merge_request_event") => "CI_PIPELINE_SOURCE=merge_request_event".to_owned(),
        other => format!(
            "CI_MERGE_REQUEST_IID (a pipeline of a merge request, CI_PIPELINE_SOURCE={})",
            quoted(other.unwrap_or("unset"))
        ),
    };
    facts.event = Sourced::new(EventKind::PullRequest, event_source);

    // In merged-results and merge-train pipelines CI_COMMIT_SHA is a merge commit GitLab made;
    // the commit the author pushed is the source branch's head. A head that is not a sha falls
    // back to CI_COMMIT_SHA with a warning.
    match env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") {
        Some(raw) => match raw.parse::<CommitSha>() {
            Ok(_) => facts.commits.push(CommitCandidate {
                sha: raw.to_owned(),
                meaning: CommitMeaning::PullRequestHead,
                source: "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA".to_owned(),
            }),
            Err(why) => {
                facts.warnings.push(format!(
                    "ignoring CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: {why}; using CI_COMMIT_SHA, which in a merged-results pipeline is GitLab's merge commit"
                ));
                commit_from(env, "CI_COMMIT_SHA", facts);
            }
        },
        None => commit_from(env, "CI_COMMIT_SHA", facts),
    }

    facts.pr_number = merge_request_iid(env, &mut facts.warnings);
    facts.branch = variable(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        .or(variable(env, "CI_COMMIT_REF_NAME"));
    facts.base_branch = variable(env, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME");
    facts.fork = merge_request_fork(env);
}

/// The merge request's number: `CI_MERGE_REQUEST_IID` (the number people see, not the
/// instance-wide `CI_MERGE_REQUEST_ID`), else the number inside `CI_MERGE_REQUEST_REF_PATH`.
fn merge_request_iid(env: &Env, warnings: &mut Vec<String>) -> Sourced<u64> {
    if let Some(raw) = env.get("CI_MERGE_REQUEST_IID") {
        if let Some(iid) = parse_iid(raw) {
            return Sourced::new(iid, "CI_MERGE_REQUEST_IID");
        }
        warnings.push(format!(
            "ignoring CI_MERGE_REQUEST_IID '{}': it is not a merge request number",
            quoted(raw)
        ));
    }
    // `refs/merge-requests/57/head` (or `/merge` in merged-results pipelines).
    let from_ref_path = env.get("CI_MERGE_REQUEST_REF_PATH").and_then(|path| {
        let rest = path.trim().strip_prefix("refs/merge-requests/")?;
        parse_iid(rest.split('/').next()?)
    });
    match from_ref_path {
        Some(iid) => Sourced::new(iid, "CI_MERGE_REQUEST_REF_PATH"),
        None => Sourced::missing(
            "neither CI_MERGE_REQUEST_IID nor CI_MERGE_REQUEST_REF_PATH holds a merge request number; pass --pr-number",
        ),
    }
}

/// A merge request from a fork: its source project is not the project the pipeline runs in,
/// or (when the pipeline runs in the fork itself) not the merge request's target project.
fn merge_request_fork(env: &Env) -> Sourced<bool> {
    let Some(source_project) = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH") else {
        return Sourced::unknown();
    };
    for other in ["CI_PROJECT_PATH", "CI_MERGE_REQUEST_PROJECT_PATH"] {
        if let Some(other_project) = env.get(other) {
            if !other_project.eq_ignore_ascii_case(source_project) {
                return Sourced::new(
                    true,
                    format!(
                        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH '{}' differs from {other} '{}'",
                        quoted(source_project),
                        quoted(other_project)
                    ),
                );
            }
        }
    }
    Sourced::new(
        false,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH equals CI_PROJECT_PATH",
    )
}

fn tag_pipeline(env: &Env, tag: &str, facts: &mut Facts) {
    commit_from(env, "CI_COMMIT_SHA", facts);
    facts.tag = Sourced::new(tag.trim().to_owned(), "CI_COMMIT_TAG");
    facts.event = Sourced::new(EventKind::Tag, "CI_COMMIT_TAG");
}

/// Pipelines GitLab runs for GitHub pull requests of a mirrored repository.
fn external_pull_request_pipeline(env: &Env, facts: &mut Facts) {
    facts.event = Sourced::new(
        EventKind::PullRequest,
        "CI_PIPELINE_SOURCE=external_pull_request_event",
    );
    match env.get("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA") {
        Some(_) => commit_from(env, "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA", facts),
        None => commit_from(env, "CI_COMMIT_SHA", facts),
    }
    facts.pr_number = match env.get("CI_EXTERNAL_PULL_REQUEST_IID") {
        Some(raw) => match parse_iid(raw) {
            Some(number) => Sourced::new(number, "CI_EXTERNAL_PULL_REQUEST_IID"),
            None => {
                facts.warnings.push(format!(
                    "ignoring CI_EXTERNAL_PULL_REQUEST_IID '{}': it is not a pull request number",
                    quoted(raw)
                ));
                Sourced::missing("CI_EXTERNAL_PULL_REQUEST_IID is not a number; pass --pr-number")
            }
        },
        None => Sourced::unknown(),
    };
    facts.branch = variable(env, "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME")
        .or(variable(env, "CI_COMMIT_REF_NAME"));
    facts.base_branch = variable(env, "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME");
    if let (Some(source), Some(target)) = (
        env.get("CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY"),
        env.get("CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY"),
    ) {
        facts.fork = if source.eq_ignore_ascii_case(target) {
            Sourced::new(
                false,
                "CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY equals the target repository",
            )
        } else {
            Sourced::new(
                true,
                format!(
                    "CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY '{}' differs from CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY '{}'",
                    quoted(source),
                    quoted(target)
                ),
            )
        };
    }
}

/// Branch pipelines (pushes, schedules, the web button, the API, triggers): the branch, and the
/// open merge request `CI_OPEN_MERGE_REQUESTS` names for it, if any.
fn branch_pipeline(env: &Env, facts: &mut Facts, wording: &mut GitLabWording) {
    commit_from(env, "CI_COMMIT_SHA", facts);
    facts.branch = variable(env, "CI_COMMIT_BRANCH").or(variable(env, "CI_COMMIT_REF_NAME"));
    if env.get("CI_PIPELINE_SOURCE") == Some("schedule") {
        facts.event = Sourced::new(EventKind::Schedule, "CI_PIPELINE_SOURCE=schedule");
    }
    let Some(branch) = facts.branch.value.clone() else {
        return;
    };
    let shown_branch = quoted(&branch);

    let open = env
        .get("CI_OPEN_MERGE_REQUESTS")
        .map(parse_open_merge_requests)
        .unwrap_or_default();
    facts.warnings.extend(open.warnings.iter().cloned());
    let project = env.get("CI_PROJECT_PATH").unwrap_or_default();
    let ours: Vec<_> = open.for_project(project).collect();
    if let Some(newest) = ours.first() {
        let mut warnings = Vec::new();
        if ours.len() > 1 {
            let all: Vec<String> = ours.iter().map(|r| format!("!{}", r.iid)).collect();
            warnings.push(format!(
                "branch '{shown_branch}' is the source of {} open merge requests ({}); using !{}, the newest; pass --pr-number to choose another",
                ours.len(),
                all.join(", "),
                newest.iid
            ));
        }
        facts.open_pull_request = Some(OpenPullRequest {
            number: Sourced::new(newest.iid, "CI_OPEN_MERGE_REQUESTS"),
            base_branch: Sourced::missing(
                "CI_OPEN_MERGE_REQUESTS names the merge request but not its target branch",
            ),
            reason: format!(
                "CI_OPEN_MERGE_REQUESTS: branch '{shown_branch}' is the source of merge request !{}",
                newest.iid
            ),
            warnings,
        });
        return;
    }
    wording.merge_requests = if open.references.is_empty() {
        "CI_OPEN_MERGE_REQUESTS names no open merge request from it".to_owned()
    } else {
        format!(
            "CI_OPEN_MERGE_REQUESTS names merge requests of other projects only, none of {}",
            quoted(project)
        )
    };
}

/// A commit candidate from `name`, validated here so the warning can say why; when it is not
/// usable the reason is in `facts`. gitlab-ci-local sets forty zeros when it cannot read git.
fn commit_from(env: &Env, name: &str, facts: &mut Facts) {
    let Some(raw) = env.get(name) else {
        facts.no_commit_reason = Some(format!("{name} is not set"));
        return;
    };
    match raw.parse::<CommitSha>() {
        Ok(sha) if sha.as_str().bytes().all(|b| b == b'0') => {
            facts.warnings.push(format!(
                "ignoring {name}: forty zeros is a placeholder (gitlab-ci-local sets it when it cannot read git), not a commit; run inside the git checkout or pass --commit-sha"
            ));
            facts.no_commit_reason = Some(format!("{name} is the all-zero placeholder"));
        }
        Ok(_) => facts.commits.push(CommitCandidate {
            sha: raw.to_owned(),
            meaning: CommitMeaning::Pushed,
            source: name.to_owned(),
        }),
        Err(why) => {
            facts.warnings.push(format!("ignoring {name}: {why}"));
            facts.no_commit_reason = Some(format!("{name} is not a commit sha"));
        }
    }
}
