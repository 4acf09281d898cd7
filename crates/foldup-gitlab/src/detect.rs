//! PRODUCT.md's GitLab rules, applied to a snapshot of GitLab's predefined CI/CD variables.

use foldup_core::{CiContext, CommitSha, Env, ProductionBranch, RunType, Sourced};

use crate::open_merge_requests::{parse_iid, parse_open_merge_requests};
use crate::{quoted, PROVIDER_NAME};

/// What the variables alone say.
pub(crate) struct EnvAnswer {
    pub context: CiContext,
    /// The branch of a branch pipeline whose run type the variables leave open because they
    /// name no merge request: the GitLab API may know one.
    pub branch_without_merge_request: Option<String>,
}

pub(crate) fn detect_from_env(env: &Env, configured_production_branch: Option<&str>) -> EnvAnswer {
    let mut context = CiContext::new(PROVIDER_NAME);
    context.repository = variable(env, "CI_PROJECT_PATH");
    context.build_url = variable(env, "CI_PIPELINE_URL").or(variable(env, "CI_JOB_URL"));
    context.default_branch = variable(env, "CI_DEFAULT_BRANCH");

    let mut branch_without_merge_request = None;
    if is_merge_request_pipeline(env) {
        merge_request_pipeline(env, &mut context);
    } else if let Some(tag) = env.get("CI_COMMIT_TAG") {
        tag_pipeline(env, tag, &mut context);
    } else if env.get("CI_PIPELINE_SOURCE") == Some("external_pull_request_event") {
        external_pull_request_pipeline(env, &mut context);
    } else {
        let production =
            ProductionBranch::resolve(configured_production_branch, &context.default_branch);
        branch_without_merge_request = branch_pipeline(env, &production, &mut context);
    }
    EnvAnswer {
        context,
        branch_without_merge_request,
    }
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

fn merge_request_pipeline(env: &Env, context: &mut CiContext) {
    let run_type_source = match env.get("CI_PIPELINE_SOURCE") {
        Some("merge_request_event") => "CI_PIPELINE_SOURCE=merge_request_event".to_owned(),
        other => format!(
            "CI_MERGE_REQUEST_IID (a pipeline of a merge request, CI_PIPELINE_SOURCE={})",
            quoted(other.unwrap_or("unset"))
        ),
    };
    context.run_type = Sourced::new(RunType::PullRequest, run_type_source);

    // In merged-results and merge-train pipelines CI_COMMIT_SHA is a merge commit GitLab made;
    // the commit the author pushed is the source branch's head.
    context.commit_sha = match env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") {
        Some(raw) => match raw.parse::<CommitSha>() {
            Ok(sha) => Sourced::new(sha, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
            Err(why) => {
                context.warnings.push(format!(
                    "ignoring CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: {why}; using CI_COMMIT_SHA, which in a merged-results pipeline is GitLab's merge commit"
                ));
                commit_from(env, "CI_COMMIT_SHA", &mut context.warnings)
            }
        },
        None => commit_from(env, "CI_COMMIT_SHA", &mut context.warnings),
    };

    context.pr_number = merge_request_iid(env, &mut context.warnings);
    context.branch = variable(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        .or(variable(env, "CI_COMMIT_REF_NAME"));
    context.base_branch = variable(env, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME");
    context.fork = merge_request_fork(env);
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

fn tag_pipeline(env: &Env, tag: &str, context: &mut CiContext) {
    let tag = quoted(tag);
    context.commit_sha = commit_from(env, "CI_COMMIT_SHA", &mut context.warnings);
    context.branch = Sourced::missing(format!(
        "a tag pipeline (CI_COMMIT_TAG '{tag}') has no branch"
    ));
    context.run_type = Sourced::missing(format!(
        "a tag pipeline (CI_COMMIT_TAG '{tag}') is neither a merge request nor a production branch build; pass --run-type to upload it anyway"
    ));
}

/// Pipelines GitLab runs for GitHub pull requests of a mirrored repository.
fn external_pull_request_pipeline(env: &Env, context: &mut CiContext) {
    context.run_type = Sourced::new(
        RunType::PullRequest,
        "CI_PIPELINE_SOURCE=external_pull_request_event",
    );
    context.commit_sha = match env.get("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA") {
        Some(_) => commit_from(
            env,
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA",
            &mut context.warnings,
        ),
        None => commit_from(env, "CI_COMMIT_SHA", &mut context.warnings),
    };
    context.pr_number = match env.get("CI_EXTERNAL_PULL_REQUEST_IID") {
        Some(raw) => match parse_iid(raw) {
            Some(number) => Sourced::new(number, "CI_EXTERNAL_PULL_REQUEST_IID"),
            None => {
                context.warnings.push(format!(
                    "ignoring CI_EXTERNAL_PULL_REQUEST_IID '{}': it is not a pull request number",
                    quoted(raw)
                ));
                Sourced::missing("CI_EXTERNAL_PULL_REQUEST_IID is not a number; pass --pr-number")
            }
        },
        None => Sourced::unknown(),
    };
    context.branch = variable(env, "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME")
        .or(variable(env, "CI_COMMIT_REF_NAME"));
    context.base_branch = variable(env, "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME");
    if let (Some(source), Some(target)) = (
        env.get("CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY"),
        env.get("CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY"),
    ) {
        context.fork = if source.eq_ignore_ascii_case(target) {
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

/// Branch pipelines (pushes, schedules, the web button, the API, triggers). Returns the branch
/// when its run type is left open for want of a merge request.
fn branch_pipeline(
    env: &Env,
    production: &ProductionBranch,
    context: &mut CiContext,
) -> Option<String> {
    context.commit_sha = commit_from(env, "CI_COMMIT_SHA", &mut context.warnings);
    context.branch = variable(env, "CI_COMMIT_BRANCH").or(variable(env, "CI_COMMIT_REF_NAME"));
    let Some(branch) = context.branch.value.clone() else {
        context.run_type = Sourced::missing(
            "none of CI_COMMIT_BRANCH, CI_COMMIT_TAG or the merge request variables is set, so GitLab did not say what this pipeline builds; pass --run-type",
        );
        return None;
    };
    let shown_branch = quoted(&branch);
    let scheduled = env.get("CI_PIPELINE_SOURCE") == Some("schedule");
    let pipeline = if scheduled {
        "scheduled pipeline (CI_PIPELINE_SOURCE=schedule)"
    } else {
        "branch pipeline"
    };

    // A push to the production branch is a production build even when that branch is also
    // the source of some merge request: Datafold needs production artifacts to diff against.
    if production.matches(&branch) {
        context.run_type = Sourced::new(
            RunType::Production,
            format!(
                "{pipeline} of '{shown_branch}', the production branch: {}",
                production.describe()
            ),
        );
        return None;
    }

    let open = env
        .get("CI_OPEN_MERGE_REQUESTS")
        .map(parse_open_merge_requests)
        .unwrap_or_default();
    context.warnings.extend(open.warnings.iter().cloned());
    let project = env.get("CI_PROJECT_PATH").unwrap_or_default();
    let ours: Vec<_> = open.for_project(project).collect();
    if let Some(newest) = ours.first() {
        if ours.len() > 1 {
            let all: Vec<String> = ours.iter().map(|r| format!("!{}", r.iid)).collect();
            context.warnings.push(format!(
                "branch '{shown_branch}' is the source of {} open merge requests ({}); using !{}, the newest; pass --pr-number to choose another",
                ours.len(),
                all.join(", "),
                newest.iid
            ));
        }
        context.run_type = Sourced::new(
            RunType::PullRequest,
            format!(
                "CI_OPEN_MERGE_REQUESTS: branch '{shown_branch}' is the source of merge request !{}",
                newest.iid
            ),
        );
        context.pr_number = Sourced::new(newest.iid, "CI_OPEN_MERGE_REQUESTS");
        context.base_branch = Sourced::missing(
            "CI_OPEN_MERGE_REQUESTS names the merge request but not its target branch",
        );
        return None;
    }

    let merge_requests = if open.references.is_empty() {
        "CI_OPEN_MERGE_REQUESTS names no open merge request from it".to_owned()
    } else {
        format!(
            "CI_OPEN_MERGE_REQUESTS names merge requests of other projects only, none of {}",
            quoted(project)
        )
    };
    context.run_type = Sourced::missing(format!(
        "{pipeline} of '{shown_branch}', which is not the production branch ({}), and {merge_requests}; pass --run-type, or run foldup in a merge request pipeline",
        production.describe()
    ));
    Some(branch)
}

/// A commit from `name`, validated. gitlab-ci-local sets forty zeros when it cannot read git.
fn commit_from(env: &Env, name: &str, warnings: &mut Vec<String>) -> Sourced<CommitSha> {
    let Some(raw) = env.get(name) else {
        return Sourced::missing(format!("{name} is not set"));
    };
    match raw.parse::<CommitSha>() {
        Ok(sha) if sha.as_str().bytes().all(|b| b == b'0') => {
            warnings.push(format!(
                "ignoring {name}: forty zeros is a placeholder (gitlab-ci-local sets it when it cannot read git), not a commit; run inside the git checkout or pass --commit-sha"
            ));
            Sourced::missing(format!("{name} is the all-zero placeholder"))
        }
        Ok(sha) => Sourced::new(sha, name),
        Err(why) => {
            warnings.push(format!("ignoring {name}: {why}"));
            Sourced::missing(format!("{name} is not a commit sha"))
        }
    }
}
