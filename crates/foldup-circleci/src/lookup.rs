//! The optional CircleCI API look-ups: run only with a token, bounded by the look-up timeout, and
//! never fatal. Each failure becomes one warning and the variables' answer stands.

use foldup_core::{Env, Secret, Sourced};

use crate::api::{CircleCiApi, CircleCiApiError, Pipeline, Project, ProjectSlug};
use crate::pull_request::{number_from_url, parse_number, shorten};
use crate::{repository_url, var, CircleCiSettings, PullRequest};

/// What the API added to the variables' answer.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub pull_request: Option<PullRequest>,
    pub fork: Option<Sourced<bool>>,
    pub default_branch: Option<Sourced<String>>,
    pub warnings: Vec<String>,
}

impl Findings {
    fn warn(&mut self, error: CircleCiApiError) {
        tracing::debug!(%error, "CircleCI look-up failed");
        self.warnings.push(format!(
            "{error} (continuing with what the CircleCI variables say)"
        ));
    }
}

/// Asks CircleCI for the project's default branch and, when the variables name no pull request
/// or no project slug, for this pipeline.
pub(crate) async fn run(
    env: &Env,
    settings: &CircleCiSettings,
    token: &Secret,
    have_pull_request: bool,
) -> Findings {
    let mut found = Findings::default();
    let api = match CircleCiApi::new(&settings.api_url, token.clone(), settings.timeout, env) {
        Ok(api) => api,
        Err(error) => {
            found.warn(error);
            return found;
        }
    };
    // GitHub OAuth and Bitbucket Cloud projects have a `gh/…` or `bb/…` slug the variables spell
    // out; GitHub App and GitLab projects have `circleci/<org id>/<project id>`, which the pipeline
    // states exactly.
    let oauth_slug = oauth_slug(env);
    let pipeline_id =
        var(env, "CIRCLE_PIPELINE_ID").filter(|_| !have_pull_request || oauth_slug.is_none());

    let pipeline_request = async {
        match pipeline_id {
            Some(id) => Some(api.pipeline(id).await),
            None => None,
        }
    };
    let project_request = async {
        match &oauth_slug {
            Some(slug) => Some(api.project(slug).await),
            None => None,
        }
    };
    let (pipeline, mut project) = tokio::join!(pipeline_request, project_request);

    let pipeline = match pipeline {
        Some(Ok(pipeline)) => Some(pipeline),
        Some(Err(error)) => {
            found.warn(error);
            None
        }
        None => None,
    };
    if let Some(pipeline) = &pipeline {
        read_pipeline(pipeline, have_pull_request, &mut found);
    }

    if project.is_none() && found.default_branch.is_none() {
        let slug = pipeline
            .as_ref()
            .and_then(|p| ProjectSlug::parse(&p.project_slug))
            .or_else(|| slug_from_ids(env))
            .or_else(|| slug_from_pull_request_url(env));
        match slug {
            Some(slug) => project = Some(api.project(&slug).await),
            None => found.warnings.push(
                "cannot tell this build's CircleCI project slug (CIRCLE_REPOSITORY_URL, CIRCLE_PIPELINE_ID and CIRCLE_ORGANIZATION_ID/CIRCLE_PROJECT_ID are not set), so its default branch stays unknown; set production_branch".to_owned(),
            ),
        }
    }
    match project {
        Some(Ok(project)) => read_project(&project, &mut found),
        Some(Err(error)) => found.warn(error),
        None => {}
    }
    found
}

/// `gh/<user>/<repo>` or `bb/<user>/<repo>`, when `CIRCLE_REPOSITORY_URL` (set for GitHub OAuth
/// and Bitbucket Cloud projects only) names github.com or bitbucket.org.
fn oauth_slug(env: &Env) -> Option<ProjectSlug> {
    let vcs = repository_url::vcs_slug(var(env, "CIRCLE_REPOSITORY_URL")?)?;
    project_slug_with(env, vcs)
}

/// `circleci/<organization id>/<project id>`, the documented slug of GitHub App and GitLab
/// projects, when the pipeline could not be read.
fn slug_from_ids(env: &Env) -> Option<ProjectSlug> {
    Some(ProjectSlug::new(
        "circleci",
        var(env, "CIRCLE_ORGANIZATION_ID")?,
        var(env, "CIRCLE_PROJECT_ID")?,
    ))
}

/// Last resort for installations that set neither: the host of the pull request URL.
fn slug_from_pull_request_url(env: &Env) -> Option<ProjectSlug> {
    let url = var(env, "CIRCLE_PULL_REQUEST")
        .or_else(|| var(env, "CIRCLE_PULL_REQUESTS").and_then(|list| list.split(',').next()))?;
    project_slug_with(env, repository_url::vcs_slug(url)?)
}

fn project_slug_with(env: &Env, vcs: &str) -> Option<ProjectSlug> {
    Some(ProjectSlug::new(
        vcs,
        var(env, "CIRCLE_PROJECT_USERNAME")?,
        var(env, "CIRCLE_PROJECT_REPONAME")?,
    ))
}

fn read_pipeline(pipeline: &Pipeline, have_pull_request: bool, found: &mut Findings) {
    if let Some(vcs) = &pipeline.vcs {
        if !have_pull_request {
            let review_id = vcs
                .review_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let review_url = vcs
                .review_url
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            if let Some(number) = review_id.and_then(parse_number) {
                found.pull_request = Some(PullRequest {
                    number,
                    source: "CircleCI API pipeline vcs.review_id".to_owned(),
                });
            } else if let Some(url) = review_url {
                let variable = "CircleCI API pipeline vcs.review_url";
                match number_from_url(url, variable) {
                    Ok((number, position)) => {
                        found.pull_request = Some(PullRequest {
                            number,
                            source: position.describe(variable),
                        })
                    }
                    Err(warning) => found.warnings.push(warning),
                }
            } else if let Some(id) = review_id {
                found.warnings.push(format!(
                    "CircleCI API pipeline vcs.review_id '{}' is not a pull request number; ignoring it",
                    shorten(id)
                ));
            }
        }
        let origin = repository_url::comparable(&vcs.origin_repository_url);
        let target = repository_url::comparable(&vcs.target_repository_url);
        if let (Some(origin), Some(target)) = (origin, target) {
            found.fork = Some(Sourced::new(
                origin != target,
                if origin != target {
                    "CircleCI API pipeline vcs.origin_repository_url differs from target_repository_url"
                } else {
                    "CircleCI API pipeline vcs.origin_repository_url equals target_repository_url"
                },
            ));
        }
    }
    let default_branch = pipeline
        .trigger_parameters
        .as_ref()
        .and_then(|t| t.git.as_ref())
        .and_then(|git| git.default_branch.as_deref())
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if let Some(branch) = default_branch {
        found.default_branch = Some(Sourced::new(
            branch.to_owned(),
            "CircleCI API pipeline trigger_parameters.git.default_branch",
        ));
    }
}

fn read_project(project: &Project, found: &mut Findings) {
    let branch = project.vcs_info.default_branch.trim();
    if branch.is_empty() {
        found.warnings.push(format!(
            "CircleCI's project {} has an empty vcs_info.default_branch; main or master counts as production",
            shorten(&project.slug)
        ));
        return;
    }
    // The project's own setting beats what one pipeline's trigger carried.
    found.default_branch = Some(Sourced::new(
        branch.to_owned(),
        format!(
            "CircleCI API project {} vcs_info.default_branch",
            shorten(&project.slug)
        ),
    ));
}
