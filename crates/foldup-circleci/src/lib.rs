//! foldup's CircleCI plugin: facts from CircleCI's built-in variables, optionally completed by
//! CircleCI's API v2 (the project's default branch, and the pull request of GitHub App pipelines,
//! which lack most pull request variables); `foldup_core::compose_with_wording` applies
//! PRODUCT.md's rules to them, in CircleCI's words (`wording`).
//!
//! Variables as CircleCI documents them: <https://circleci.com/docs/reference/variables/>.

mod api;
mod lookup;
mod pull_request;
mod repository_url;
mod settings;
mod wording;

use foldup_core::{
    async_trait, compose_with_wording, CiContext, CiProvider, CommitCandidate, CommitMeaning,
    CommitSha, DetectError, DetectOptions, Env, EventKind, Facts, PlainReporter, Reporter, Sourced,
};

pub use api::{
    CircleCiApi, CircleCiApiError, CircleciTrigger, GitTrigger, Pipeline, PipelineError,
    PipelineVcs, Project, ProjectSlug, TriggerParameters, VcsInfo,
};
pub use settings::CircleCiSettings;
pub use settings::DEFAULT_API_URL;
pub use settings::OPTIONS;

use pull_request::{number_from_branch, number_from_url, parse_number, shorten};
use wording::CircleCiWording;

/// The name of this plugin in `--provider` and `env --json`.
pub const PROVIDER_NAME: &str = "circleci";

/// The CircleCI plugin, active when `CIRCLECI=true`.
#[derive(Debug, Default, Clone)]
pub struct CircleCi {
    settings: CircleCiSettings,
}

impl CircleCi {
    pub fn new(settings: CircleCiSettings) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl CiProvider for CircleCi {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn is_active(&self, env: &Env) -> bool {
        env.is_true("CIRCLECI")
    }

    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError> {
        let facts = facts(env, &self.settings).await;
        Ok(compose_with_wording(
            facts,
            options.production_branch.as_deref(),
            &CircleCiWording,
        ))
    }

    /// CircleCI has no log commands or collapsible sections: plain `==> title` headers read best.
    fn reporter(&self, _env: &Env) -> Box<dyn Reporter> {
        Box::new(PlainReporter)
    }
}

/// A CircleCI variable, trimmed. `<nil>` counts as unset: it is what CircleCI writes into an
/// `environment:` key filled from an empty pipeline value (the documented way to recreate these
/// variables on GitHub App and GitLab projects).
pub(crate) fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).map(str::trim).filter(|v| *v != "<nil>")
}

/// A pull request number and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullRequest {
    pub number: u64,
    pub source: String,
}

const NO_DEFAULT_BRANCH_VARIABLE: &str =
    "CircleCI has no default-branch variable; set CIRCLE_TOKEN to let foldup ask CircleCI's API, or set production_branch";

/// What the variables (and, with a token, CircleCI's API) say, before any rule.
async fn facts(env: &Env, settings: &CircleCiSettings) -> Facts {
    let mut facts = Facts::new(PROVIDER_NAME);
    let commit = commit_sha(env, &mut facts);
    facts.build_url = match var(env, "CIRCLE_BUILD_URL") {
        Some(url) => Sourced::new(url.to_owned(), "CIRCLE_BUILD_URL"),
        None => Sourced::missing("CIRCLE_BUILD_URL is not set"),
    };
    facts.repository = repository(env);
    let tag = var(env, "CIRCLE_TAG");
    facts.tag = tag.map_or_else(Sourced::unknown, |tag| {
        Sourced::new(tag.to_owned(), "CIRCLE_TAG")
    });
    facts.branch = branch(env, tag);

    let mut pr = pull_request_from_env(env, &mut facts.warnings);
    let mut fork = fork_from_env(env);
    facts.default_branch = Sourced::missing(NO_DEFAULT_BRANCH_VARIABLE);

    if let Some(token) = &settings.token {
        let found = lookup::run(env, settings, token, pr.is_some()).await;
        facts.warnings.extend(found.warnings);
        pr = pr.or(found.pull_request);
        if fork.value != Some(true) {
            fork = found.fork.unwrap_or(fork);
        }
        facts.default_branch = found.default_branch.unwrap_or_else(|| {
            Sourced::missing(
                "CircleCI's API did not give the default branch (see the warnings); main or master counts as production",
            )
        });
    }

    // CircleCI builds a pull request's head, never a merge commit.
    if let Some(sha) = commit {
        facts.commits.push(CommitCandidate {
            sha,
            meaning: if pr.is_some() {
                CommitMeaning::PullRequestHead
            } else {
                CommitMeaning::Pushed
            },
            source: "CIRCLE_SHA1".to_owned(),
        });
    }
    facts.base_branch =
        Sourced::missing("CircleCI does not expose the pull request's target branch");
    facts.fork = match (&pr, fork.value) {
        (Some(_), None) => Sourced::new(
            false,
            "CIRCLE_PR_USERNAME is not set (CircleCI sets it only for fork pull requests)",
        ),
        _ => fork,
    };
    // CircleCI names no event: a pull request is one it (or its API) names, a tag build one with
    // CIRCLE_TAG, anything else a push of CIRCLE_BRANCH.
    match pr {
        Some(pr) => {
            facts.event = Sourced::new(
                EventKind::PullRequest,
                format!("pull request #{} ({})", pr.number, pr.source),
            );
            facts.pr_number = Sourced::new(pr.number, pr.source);
        }
        None if tag.is_some() => facts.event = Sourced::new(EventKind::Tag, "CIRCLE_TAG"),
        None => {}
    }
    facts
}

/// `CIRCLE_SHA1` when it is a full commit sha; otherwise the reason is in `facts`.
fn commit_sha(env: &Env, facts: &mut Facts) -> Option<String> {
    let Some(raw) = var(env, "CIRCLE_SHA1") else {
        facts.no_commit_reason = Some("CIRCLE_SHA1 is not set; pass --commit-sha".to_owned());
        return None;
    };
    match raw.parse::<CommitSha>() {
        Ok(_) => Some(raw.to_owned()),
        Err(why) => {
            facts.warnings.push(format!("CIRCLE_SHA1: {why}"));
            facts.no_commit_reason =
                Some("CIRCLE_SHA1 is not a full commit sha; pass --commit-sha".to_owned());
            None
        }
    }
}

fn repository(env: &Env) -> Sourced<String> {
    match (
        var(env, "CIRCLE_PROJECT_USERNAME"),
        var(env, "CIRCLE_PROJECT_REPONAME"),
    ) {
        (Some(user), Some(repo)) => Sourced::new(
            format!("{user}/{repo}"),
            "CIRCLE_PROJECT_USERNAME/CIRCLE_PROJECT_REPONAME",
        ),
        _ => match var(env, "CIRCLE_REPOSITORY_URL").and_then(repository_url::owner_and_name) {
            Some(name) => Sourced::new(name, "path of CIRCLE_REPOSITORY_URL"),
            None => {
                Sourced::missing("CIRCLE_PROJECT_USERNAME and CIRCLE_PROJECT_REPONAME are not set")
            }
        },
    }
}

fn branch(env: &Env, tag: Option<&str>) -> Sourced<String> {
    if let Some(tag) = tag {
        return Sourced::missing(format!("tag build (CIRCLE_TAG={})", shorten(tag)));
    }
    match var(env, "CIRCLE_BRANCH") {
        Some(branch) if number_from_branch(branch).is_some() => Sourced::missing(format!(
            "CIRCLE_BRANCH is '{}', CircleCI's name for a fork or by-number pull request; the source branch's own name is not exposed",
            shorten(branch)
        )),
        Some(branch) => Sourced::new(branch.to_owned(), "CIRCLE_BRANCH"),
        None => Sourced::missing("CIRCLE_BRANCH is not set"),
    }
}

/// The pull request from the variables, in order of trust: the fork PR number, the PR URL, the
/// first of the PR URLs, then the `pull/N` branch name. Bad values become warnings.
fn pull_request_from_env(env: &Env, warnings: &mut Vec<String>) -> Option<PullRequest> {
    if let Some(raw) = var(env, "CIRCLE_PR_NUMBER") {
        match parse_number(raw) {
            Some(number) => {
                return Some(PullRequest {
                    number,
                    source: "CIRCLE_PR_NUMBER".to_owned(),
                })
            }
            None => warnings.push(format!(
                "CIRCLE_PR_NUMBER '{}' is not a pull request number; ignoring it",
                shorten(raw)
            )),
        }
    }
    let single = var(env, "CIRCLE_PULL_REQUEST");
    if let Some(url) = single {
        match number_from_url(url, "CIRCLE_PULL_REQUEST") {
            Ok((number, position)) => {
                return Some(PullRequest {
                    number,
                    source: position.describe("CIRCLE_PULL_REQUEST"),
                })
            }
            Err(warning) => warnings.push(warning),
        }
    }
    let first_of_list = var(env, "CIRCLE_PULL_REQUESTS")
        .and_then(|list| list.split(',').map(str::trim).find(|u| !u.is_empty()));
    if let Some(url) = first_of_list.filter(|url| Some(*url) != single) {
        let variable = "the first URL in CIRCLE_PULL_REQUESTS";
        match number_from_url(url, variable) {
            Ok((number, position)) => {
                return Some(PullRequest {
                    number,
                    source: position.describe(variable),
                })
            }
            Err(warning) => warnings.push(warning),
        }
    }
    let branch = var(env, "CIRCLE_BRANCH")?;
    number_from_branch(branch).map(|number| PullRequest {
        number,
        source: format!("CIRCLE_BRANCH ({})", shorten(branch)),
    })
}

fn fork_from_env(env: &Env) -> Sourced<bool> {
    match (
        var(env, "CIRCLE_PR_USERNAME"),
        var(env, "CIRCLE_PR_REPONAME"),
    ) {
        (Some(user), Some(repo)) => Sourced::new(
            true,
            format!(
                "CIRCLE_PR_USERNAME/CIRCLE_PR_REPONAME ({}/{})",
                shorten(user),
                shorten(repo)
            ),
        ),
        (Some(user), None) => Sourced::new(true, format!("CIRCLE_PR_USERNAME ({})", shorten(user))),
        _ => Sourced::unknown(),
    }
}
