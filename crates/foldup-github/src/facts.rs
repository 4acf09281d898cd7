//! What a GitHub Actions run says about itself — the `GITHUB_*` variables and the event payload —
//! as facts for `foldup_core::compose`. Which commit, run type and production branch follow
//! from them is core's rule; GitHub's knowledge (which payload field names the head, that
//! `GITHUB_SHA` of a pull request run is a merge commit nobody wrote, that scheduled runs build the
//! default branch) is here. No I/O: every case is a table test.

use foldup_core::{
    sanitize_line, CommitCandidate, CommitMeaning, CommitSha, Env, EventKind, Facts, Sourced,
};

use crate::event_payload::{EventPayload, PullRequest};
use crate::wording::GitHubWording;
use crate::{GitHubError, PROVIDER_NAME};

/// What to tell a user whose pull request head commit cannot be known.
const PR_COMMIT_HINT: &str = "pass --commit-sha ${{ github.event.pull_request.head.sha }}";

/// The event that started the run, from `GITHUB_EVENT_NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    PullRequest,
    PullRequestTarget,
    Push,
    WorkflowDispatch,
    Schedule,
    MergeGroup,
    WorkflowRun,
    Other(String),
    Unnamed,
}

impl Event {
    pub(crate) fn from_env(env: &Env) -> Self {
        match env.get("GITHUB_EVENT_NAME").map(str::trim) {
            Some("pull_request") => Event::PullRequest,
            Some("pull_request_target") => Event::PullRequestTarget,
            Some("push") => Event::Push,
            Some("workflow_dispatch") => Event::WorkflowDispatch,
            Some("schedule") => Event::Schedule,
            Some("merge_group") => Event::MergeGroup,
            Some("workflow_run") => Event::WorkflowRun,
            Some(other) => Event::Other(sanitize_line(other)),
            None => Event::Unnamed,
        }
    }

    /// The event kind the rules know it as, with its source.
    fn kind(&self) -> Sourced<EventKind> {
        let kind = match self {
            Event::PullRequest | Event::PullRequestTarget => EventKind::PullRequest,
            Event::Push => EventKind::Push,
            Event::WorkflowDispatch => EventKind::Manual,
            Event::Schedule => EventKind::Schedule,
            Event::MergeGroup => EventKind::MergeQueue,
            Event::WorkflowRun => EventKind::Other("workflow_run".to_owned()),
            Event::Other(name) => EventKind::Other(name.clone()),
            // An event GitHub did not name is not one the rules may guess.
            Event::Unnamed => EventKind::Other(String::new()),
        };
        Sourced::new(kind, self.source())
    }

    fn is_pull_request(&self) -> bool {
        matches!(self, Event::PullRequest | Event::PullRequestTarget)
    }

    /// How a `sources` entry names this event.
    fn source(&self) -> String {
        let name = match self {
            Event::PullRequest => "pull_request",
            Event::PullRequestTarget => "pull_request_target",
            Event::Push => "push",
            Event::WorkflowDispatch => "workflow_dispatch",
            Event::Schedule => "schedule",
            Event::MergeGroup => "merge_group",
            Event::WorkflowRun => "workflow_run",
            Event::Other(name) => name,
            Event::Unnamed => return "GITHUB_EVENT_NAME unset".to_owned(),
        };
        format!("GITHUB_EVENT_NAME={name}")
    }
}

/// A `GITHUB_REF` (or payload `ref`) taken apart.
enum GitRef<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Other(&'a str),
}

fn parse_ref(full: &str) -> GitRef<'_> {
    let full = full.trim();
    match (
        full.strip_prefix("refs/heads/"),
        full.strip_prefix("refs/tags/"),
    ) {
        (Some(branch), _) if !branch.is_empty() => GitRef::Branch(branch),
        (_, Some(tag)) if !tag.is_empty() => GitRef::Tag(tag),
        _ => GitRef::Other(full),
    }
}

/// What the variables and the payload say, and the words for what the rules make of it.
pub(crate) struct Gathered {
    pub facts: Facts,
    pub wording: GitHubWording,
}

/// Gathers the facts from the variables and the payload (or why the payload is unusable).
pub(crate) fn gather(env: &Env, payload: Result<EventPayload, GitHubError>) -> Gathered {
    let mut facts = Facts::new(PROVIDER_NAME);
    let mut wording = GitHubWording::default();
    let event = Event::from_env(env);
    let payload = match payload {
        Ok(payload) => Some(payload),
        Err(error) => {
            facts.warnings.push(format!(
                "Could not use the event payload: {error}; {}.",
                payload_fallback(&event)
            ));
            None
        }
    };
    let payload = payload.as_ref();

    facts.repository = repository(env, payload);
    facts.build_url = build_url(env);
    facts.default_branch = default_branch(payload);

    match &event {
        Event::PullRequest | Event::PullRequestTarget => {
            pull_request(&mut facts, env, payload, &event)
        }
        Event::Push | Event::WorkflowDispatch | Event::Other(_) | Event::Unnamed => {
            commit_from_github_sha(env, &mut facts);
            ref_build(&mut facts, &mut wording, env, payload, &event);
        }
        Event::Schedule => {
            commit_from_github_sha(env, &mut facts);
            schedule(&mut facts, &mut wording, env);
        }
        Event::MergeGroup => merge_group(&mut facts, env, payload, &event),
        Event::WorkflowRun => {
            wording.workflow_run = true;
            workflow_run(&mut facts, &mut wording, env, payload)
        }
    }
    if event != Event::WorkflowRun {
        facts.secrets_withheld = dependabot(env, payload);
    }
    Gathered { facts, wording }
}

/// Dependabot's runs get no Actions secrets although its pull requests are not forks: GitHub
/// gives workflows that Dependabot triggers only Dependabot secrets and a read-only token.
fn dependabot(env: &Env, payload: Option<&EventPayload>) -> Sourced<bool> {
    const BOT: &str = "dependabot[bot]";
    if env.get("GITHUB_ACTOR").map(str::trim) == Some(BOT) {
        return Sourced::new(
            true,
            "GITHUB_ACTOR is dependabot[bot]: GitHub gives workflows Dependabot triggers no Actions secrets",
        );
    }
    let author = payload
        .and_then(|p| p.pull_request.as_ref())
        .and_then(|pr| pr.user.as_ref())
        .and_then(|u| u.login.as_deref());
    if author == Some(BOT) {
        return Sourced::new(
            true,
            "GITHUB_EVENT_PATH pull_request.user.login is dependabot[bot]: GitHub gives Dependabot's pull requests no Actions secrets",
        );
    }
    Sourced::unknown()
}

/// `workflow_run`: the commit is the triggering run's `head_sha` (GITHUB_SHA is the default
/// branch's tip), the event is the triggering run's, and the pull request comes from
/// `workflow_run.pull_requests`, which GitHub leaves empty for forks (then the API look-up by head
/// sha, with a token).
fn workflow_run(
    facts: &mut Facts,
    wording: &mut GitHubWording,
    env: &Env,
    payload: Option<&EventPayload>,
) {
    const HINT: &str = "pass --commit-sha ${{ github.event.workflow_run.head_sha }}";
    let Some(run) = payload.and_then(|p| p.workflow_run.as_ref()) else {
        facts.no_commit_reason = Some(format!(
            "the triggering run's commit is only in the event payload's workflow_run.head_sha, which could not be used (GITHUB_SHA is the default branch's tip); {HINT}"
        ));
        wording.no_branch_reason = Some(
            "the event payload's workflow_run could not be used, so the triggering run's event is unknown; pass --run-type".to_owned(),
        );
        return;
    };
    let event = run.event.as_deref().map(str::trim).unwrap_or("");
    let event_source = format!(
        "GITHUB_EVENT_PATH workflow_run.event={}",
        sanitize_line(event)
    );
    let is_pull_request = matches!(event, "pull_request" | "pull_request_target");
    match run.head_sha.as_deref() {
        Some(sha) => match sha.parse::<CommitSha>() {
            Ok(_) => facts.commits.push(CommitCandidate {
                sha: sha.to_owned(),
                meaning: if is_pull_request {
                    CommitMeaning::PullRequestHead
                } else {
                    CommitMeaning::Pushed
                },
                source: "GITHUB_EVENT_PATH workflow_run.head_sha".to_owned(),
            }),
            Err(reason) => {
                facts.no_commit_reason = Some(format!(
                    "GITHUB_EVENT_PATH workflow_run.head_sha: {reason}; {HINT}"
                ))
            }
        },
        None => {
            facts.no_commit_reason = Some(format!(
                "the event payload has no workflow_run.head_sha; {HINT}"
            ))
        }
    }
    facts.branch = match run.head_branch.as_deref().filter(|b| !b.trim().is_empty()) {
        Some(branch) => Sourced::new(
            branch.to_owned(),
            "GITHUB_EVENT_PATH workflow_run.head_branch",
        ),
        None => Sourced::missing("the event payload has no workflow_run.head_branch"),
    };
    let this_repository = env
        .get("GITHUB_REPOSITORY")
        .map(|r| (r.trim(), "GITHUB_REPOSITORY"))
        .or_else(|| {
            run.repository
                .as_ref()
                .and_then(|r| r.full_name.as_deref())
                .map(|r| (r, "GITHUB_EVENT_PATH workflow_run.repository.full_name"))
        });
    let head_repository = run
        .head_repository
        .as_ref()
        .and_then(|r| r.full_name.as_deref());
    if let (Some(head), Some((this, this_source))) = (head_repository, this_repository) {
        let is_fork = !head.eq_ignore_ascii_case(this);
        facts.fork = Sourced::new(
            is_fork,
            format!(
                "GITHUB_EVENT_PATH workflow_run.head_repository.full_name '{}' {} {this_source} '{}'",
                sanitize_line(head),
                if is_fork { "differs from" } else { "is" },
                sanitize_line(this)
            ),
        );
    }
    let kind = match event {
        "pull_request" | "pull_request_target" => EventKind::PullRequest,
        "push" => EventKind::Push,
        "workflow_dispatch" => EventKind::Manual,
        "schedule" => EventKind::Schedule,
        other => EventKind::Other(sanitize_line(other)),
    };
    facts.event = Sourced::new(kind, event_source);
    if !is_pull_request {
        return;
    }
    match run.pull_requests.first() {
        Some(pr) => {
            facts.pr_number = match pr.number {
                Some(number) => Sourced::new(
                    number,
                    "GITHUB_EVENT_PATH workflow_run.pull_requests[0].number",
                ),
                None => Sourced::missing(
                    "GITHUB_EVENT_PATH workflow_run.pull_requests[0] has no number; pass --pr-number",
                ),
            };
            facts.base_branch = match pr.base.as_ref().and_then(|b| b.branch.as_deref()) {
                Some(base) => Sourced::new(
                    base.to_owned(),
                    "GITHUB_EVENT_PATH workflow_run.pull_requests[0].base.ref",
                ),
                None => Sourced::missing(
                    "GITHUB_EVENT_PATH workflow_run.pull_requests[0] has no base.ref",
                ),
            };
        }
        None => {
            facts.pr_number = Sourced::missing(
                "GITHUB_EVENT_PATH workflow_run.pull_requests is empty (GitHub leaves it empty for pull requests from forks); set GITHUB_TOKEN so foldup can look the pull request up by workflow_run.head_sha, or pass --pr-number",
            );
            facts.base_branch = Sourced::missing(
                "GITHUB_EVENT_PATH workflow_run.pull_requests is empty (a pull request from a fork)",
            );
        }
    }
}

/// What foldup does instead when the payload cannot be used, for the warning.
fn payload_fallback(event: &Event) -> String {
    if event.is_pull_request() {
        format!(
            "foldup took the branches and PR number from GITHUB_HEAD_REF, GITHUB_BASE_REF and \
             GITHUB_REF, but the pull request's head commit is only in the payload, so {PR_COMMIT_HINT}"
        )
    } else {
        "foldup used the GITHUB_* variables and does not know the repository's default branch"
            .to_owned()
    }
}

fn repository(env: &Env, payload: Option<&EventPayload>) -> Sourced<String> {
    if let Some(repository) = env.get("GITHUB_REPOSITORY") {
        return Sourced::new(repository.trim().to_owned(), "GITHUB_REPOSITORY");
    }
    match payload
        .and_then(|p| p.repository.as_ref())
        .and_then(|r| r.full_name.as_deref())
    {
        Some(name) => Sourced::new(name.to_owned(), "GITHUB_EVENT_PATH repository.full_name"),
        None => Sourced::missing("GITHUB_REPOSITORY is not set"),
    }
}

fn build_url(env: &Env) -> Sourced<String> {
    let names = ["GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"];
    let unset: Vec<&str> = names.into_iter().filter(|n| env.get(n).is_none()).collect();
    let (Some(server), Some(repository), Some(run_id)) = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    ) else {
        return Sourced::missing(format!("{} not set", unset.join(", ")));
    };
    let run_id = run_id.trim();
    if !run_id.bytes().all(|b| b.is_ascii_digit()) {
        return Sourced::missing(format!(
            "GITHUB_RUN_ID '{}' is not a run number",
            sanitize_line(run_id)
        ));
    }
    let mut url = format!(
        "{}/{}/actions/runs/{run_id}",
        server.trim().trim_end_matches('/'),
        repository.trim()
    );
    let mut source = "GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID".to_owned();
    let attempt = env
        .get("GITHUB_RUN_ATTEMPT")
        .and_then(|a| a.trim().parse::<u32>().ok());
    if let Some(attempt) = attempt.filter(|&a| a > 1) {
        url.push_str(&format!("/attempts/{attempt}"));
        source.push_str("/attempts/GITHUB_RUN_ATTEMPT");
    }
    Sourced::new(url, source)
}

fn default_branch(payload: Option<&EventPayload>) -> Sourced<String> {
    let Some(payload) = payload else {
        return Sourced::missing("the event payload could not be used");
    };
    match payload
        .repository
        .as_ref()
        .and_then(|r| r.default_branch.as_deref())
        .filter(|b| !b.trim().is_empty())
    {
        Some(branch) => Sourced::new(
            branch.trim().to_owned(),
            "GITHUB_EVENT_PATH repository.default_branch",
        ),
        None => Sourced::missing("the event payload has no repository.default_branch"),
    }
}

/// `GITHUB_SHA`, the commit of every run but a pull request's (where it is a merge commit or the
/// base branch's tip) and a workflow_run's (the default branch's tip).
fn commit_from_github_sha(env: &Env, facts: &mut Facts) {
    match env.get("GITHUB_SHA") {
        Some(sha) => match sha.parse::<CommitSha>() {
            Ok(_) => facts.commits.push(CommitCandidate {
                sha: sha.to_owned(),
                meaning: CommitMeaning::Pushed,
                source: "GITHUB_SHA".to_owned(),
            }),
            Err(reason) => facts.no_commit_reason = Some(format!("GITHUB_SHA: {reason}")),
        },
        None => facts.no_commit_reason = Some("GITHUB_SHA is not set".to_owned()),
    }
}

fn pull_request(facts: &mut Facts, env: &Env, payload: Option<&EventPayload>, event: &Event) {
    facts.event = event.kind();
    let pull_request = payload.and_then(|p| p.pull_request.as_ref());
    if payload.is_some() && pull_request.is_none() {
        facts.warnings.push(format!(
            "The event payload has no pull_request object although {}; {}.",
            event.source(),
            payload_fallback(event)
        ));
    }
    let head = pull_request.and_then(|pr| pr.head.as_ref());
    let base = pull_request.and_then(|pr| pr.base.as_ref());

    // GITHUB_SHA is a merge commit (pull_request) or the base branch tip (pull_request_target):
    // neither is the code the author wrote, so only the payload can name the commit.
    match head.and_then(|h| h.sha.as_deref()) {
        Some(sha) => match sha.parse::<CommitSha>() {
            Ok(_) => facts.commits.push(CommitCandidate {
                sha: sha.to_owned(),
                meaning: CommitMeaning::PullRequestHead,
                source: "GITHUB_EVENT_PATH pull_request.head.sha".to_owned(),
            }),
            Err(reason) => {
                facts.no_commit_reason = Some(format!(
                    "GITHUB_EVENT_PATH pull_request.head.sha: {reason}; {PR_COMMIT_HINT}"
                ))
            }
        },
        None => {
            facts.no_commit_reason = Some(format!(
                "the pull request's head commit is only in the event payload, which could not be \
                 used (GITHUB_SHA is not the pull request's head); {PR_COMMIT_HINT}"
            ))
        }
    }

    facts.pr_number = pr_number_from_payload(pull_request, payload)
        .unwrap_or_else(|| pr_number_from_ref(env, event));

    facts.branch = match head.and_then(|h| h.branch.as_deref()) {
        Some(branch) => Sourced::new(branch.to_owned(), "GITHUB_EVENT_PATH pull_request.head.ref"),
        None => from_variable(env, "GITHUB_HEAD_REF"),
    };
    facts.base_branch = match base.and_then(|b| b.branch.as_deref()) {
        Some(branch) => Sourced::new(branch.to_owned(), "GITHUB_EVENT_PATH pull_request.base.ref"),
        None => from_variable(env, "GITHUB_BASE_REF"),
    };
    facts.fork = fork(env, payload, pull_request);
}

fn pr_number_from_payload(
    pull_request: Option<&PullRequest>,
    payload: Option<&EventPayload>,
) -> Option<Sourced<u64>> {
    if let Some(number) = pull_request.and_then(|pr| pr.number) {
        return Some(Sourced::new(
            number,
            "GITHUB_EVENT_PATH pull_request.number",
        ));
    }
    pull_request?;
    payload
        .and_then(|p| p.number)
        .map(|number| Sourced::new(number, "GITHUB_EVENT_PATH number"))
}

/// `pull_request` runs on `refs/pull/<number>/merge`; `pull_request_target` runs on the base
/// branch, whose ref holds no number.
fn pr_number_from_ref(env: &Env, event: &Event) -> Sourced<u64> {
    let Some(git_ref) = env.get("GITHUB_REF").map(str::trim) else {
        return Sourced::missing("neither the event payload nor GITHUB_REF holds the PR number");
    };
    let number = git_ref
        .strip_prefix("refs/pull/")
        .and_then(|rest| rest.split('/').next());
    match number {
        Some(digits) => match digits.parse::<u64>() {
            Ok(number) => Sourced::new(number, "GITHUB_REF"),
            Err(_) => Sourced::missing(format!(
                "GITHUB_REF '{}' does not hold a pull request number",
                sanitize_line(git_ref)
            )),
        },
        None if *event == Event::PullRequestTarget => Sourced::missing(
            "on pull_request_target GITHUB_REF names the base branch; the PR number is only in the event payload",
        ),
        None => Sourced::missing(format!(
            "GITHUB_REF '{}' is not a pull request ref (refs/pull/<number>/merge)",
            sanitize_line(git_ref)
        )),
    }
}

fn from_variable(env: &Env, name: &str) -> Sourced<String> {
    match env.get(name) {
        Some(value) => Sourced::new(value.trim().to_owned(), name),
        None => Sourced::missing(format!(
            "neither the event payload nor {name} names the branch"
        )),
    }
}

/// A pull request is from a fork when its head repository is not the repository the workflow runs in.
fn fork(
    env: &Env,
    payload: Option<&EventPayload>,
    pull_request: Option<&PullRequest>,
) -> Sourced<bool> {
    let Some(head) = pull_request.and_then(|pr| pr.head.as_ref()) else {
        return Sourced::missing(
            "the event payload could not be used, so whether the pull request comes from a fork is unknown",
        );
    };
    let Some(head_repository) = head.repo.as_ref().and_then(|r| r.full_name.as_deref()) else {
        // GitHub sends `head.repo: null` once the fork a pull request came from is deleted.
        return Sourced::new(
            true,
            "GITHUB_EVENT_PATH pull_request.head.repo is null (the pull request's source repository was deleted)",
        );
    };
    let (this_repository, this_source) = match env.get("GITHUB_REPOSITORY") {
        Some(name) => (name.trim(), "GITHUB_REPOSITORY"),
        None => match payload
            .and_then(|p| p.repository.as_ref())
            .and_then(|r| r.full_name.as_deref())
        {
            Some(name) => (name, "GITHUB_EVENT_PATH repository.full_name"),
            None => {
                return Sourced::missing(
                    "GITHUB_REPOSITORY is not set, so whether the pull request comes from a fork is unknown",
                )
            }
        },
    };
    // GitHub owner and repository names are case-insensitive.
    let is_fork = !head_repository.eq_ignore_ascii_case(this_repository);
    Sourced::new(
        is_fork,
        format!(
            "GITHUB_EVENT_PATH pull_request.head.repo.full_name '{}' {} {this_source} '{}'",
            sanitize_line(head_repository),
            if is_fork { "differs from" } else { "is" },
            sanitize_line(this_repository)
        ),
    )
}

/// `push`, `workflow_dispatch` and events foldup has no rule for: the ref names the branch, or a
/// tag, or something else.
fn ref_build(
    facts: &mut Facts,
    wording: &mut GitHubWording,
    env: &Env,
    payload: Option<&EventPayload>,
    event: &Event,
) {
    facts.event = event.kind();
    let git_ref = match env.get("GITHUB_REF") {
        Some(git_ref) => Some((git_ref, "GITHUB_REF")),
        None => payload
            .and_then(|p| p.git_ref.as_deref())
            .map(|git_ref| (git_ref, "GITHUB_EVENT_PATH ref")),
    };
    read_ref(facts, wording, git_ref);
}

/// The branch (or tag) a ref names; anything else leaves the branch missing with the reason.
fn read_ref(facts: &mut Facts, wording: &mut GitHubWording, git_ref: Option<(&str, &str)>) {
    let Some((git_ref, ref_source)) = git_ref else {
        facts.branch = Sourced::missing("GITHUB_REF is not set");
        wording.no_branch_reason =
            Some("GITHUB_REF is not set, so the branch this run built is unknown".to_owned());
        return;
    };
    match parse_ref(git_ref) {
        GitRef::Branch(branch) => facts.branch = Sourced::new(branch.to_owned(), ref_source),
        GitRef::Tag(tag) => {
            facts.tag = Sourced::new(tag.to_owned(), ref_source);
            let source = facts.event.source.clone().unwrap_or_default();
            facts.event = Sourced::new(EventKind::Tag, source);
        }
        GitRef::Other(other) => {
            let name = sanitize_line(other);
            facts.branch =
                Sourced::missing(format!("{ref_source} names the ref '{name}', not a branch"));
            wording.no_branch_reason = Some(format!(
                "{ref_source} names the ref '{name}'; a build of it is neither a pull request nor production"
            ));
        }
    }
}

/// GitHub runs scheduled workflows on the latest commit of the default branch, so `GITHUB_REF`
/// names the default branch even though the payload (`{"schedule": "<cron>"}`) does not.
fn schedule(facts: &mut Facts, wording: &mut GitHubWording, env: &Env) {
    facts.event = Event::Schedule.kind();
    read_ref(
        facts,
        wording,
        env.get("GITHUB_REF").map(|r| (r, "GITHUB_REF")),
    );
    if let (Some(branch), false) = (facts.branch.get(), facts.default_branch.is_some()) {
        facts.default_branch = Sourced::new(
            branch.clone(),
            "GITHUB_REF (GitHub runs scheduled workflows on the default branch)",
        );
    }
}

fn merge_group(facts: &mut Facts, env: &Env, payload: Option<&EventPayload>, event: &Event) {
    facts.event = event.kind();
    let merge_group = payload.and_then(|p| p.merge_group.as_ref());
    match merge_group.and_then(|m| m.head_sha.as_deref()) {
        Some(sha) => match sha.parse::<CommitSha>() {
            Ok(_) => facts.commits.push(CommitCandidate {
                sha: sha.to_owned(),
                meaning: CommitMeaning::Pushed,
                source: "GITHUB_EVENT_PATH merge_group.head_sha".to_owned(),
            }),
            Err(reason) => {
                facts.no_commit_reason =
                    Some(format!("GITHUB_EVENT_PATH merge_group.head_sha: {reason}"))
            }
        },
        // GitHub sets GITHUB_SHA to the merge group's head commit too.
        None => commit_from_github_sha(env, facts),
    }
    let head_ref = match env.get("GITHUB_REF") {
        Some(git_ref) => Some((git_ref, "GITHUB_REF")),
        None => merge_group
            .and_then(|m| m.head_ref.as_deref())
            .map(|git_ref| (git_ref, "GITHUB_EVENT_PATH merge_group.head_ref")),
    };
    facts.branch = match head_ref.map(|(git_ref, source)| (parse_ref(git_ref), source)) {
        Some((GitRef::Branch(branch), source)) => Sourced::new(branch.to_owned(), source),
        _ => Sourced::missing(
            "neither GITHUB_REF nor the event payload names the merge queue branch",
        ),
    };
}
