//! `foldup impact`: what the PR changes in the dbt project and what sits downstream, by the rules
//! of dbt's own `state:modified` (crate foldup-impact), as Markdown or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use foldup_impact::{compare, markdown, read_manifest, Impact, ImpactError};

use crate::failure::{ExitCode, Failure};
use crate::Session;

/// The output formats of `--format`.
pub const FORMATS: [&str; 2] = ["markdown", "json"];

/// The command's own flags.
pub struct Args {
    pub state: Option<PathBuf>,
    pub format: String,
    /// Create or update the one foldup comment on the PR / merge request.
    pub comment: bool,
}

/// The hidden line that marks foldup's comment, so that later runs update it.
pub const COMMENT_MARKER: &str = "<!-- foldup impact: this comment is updated on every run -->";

/// Where the base manifest is and how the user named it.
struct Base {
    manifest: PathBuf,
    source: String,
    /// The commit whose state was pulled from the store; a folder does not say.
    commit_sha: Option<String>,
}

/// `--state DIR`, else `DBT_STATE`, else `DBT_ENGINE_STATE` (dbt's own variables for `--state`),
/// resolved against the dbt project folder as dbt does; else the state `foldup state pull` would
/// take from the store.
async fn base(session: &Session, args: &Args) -> Result<Base, Failure> {
    let (dir, source) = if let Some(dir) = &args.state {
        (dir.clone(), format!("--state {}", dir.display()))
    } else if let Some(dir) = nonempty(session, "DBT_STATE") {
        (PathBuf::from(&dir), format!("DBT_STATE={dir}"))
    } else if let Some(dir) = nonempty(session, "DBT_ENGINE_STATE") {
        (PathBuf::from(&dir), format!("DBT_ENGINE_STATE={dir}"))
    } else {
        return pulled_base(session).await;
    };
    let dir = if dir.is_absolute() {
        dir
    } else {
        session.settings.project_dir.join(dir)
    };
    let manifest = if dir.is_file() {
        dir
    } else {
        dir.join("manifest.json")
    };
    if !manifest.is_file() {
        return Err(Failure::usage(format!(
            "no base manifest at {} (from {source}); point --state at the folder holding the production run's manifest.json",
            manifest.display()
        )));
    }
    Ok(Base {
        manifest,
        source,
        commit_sha: None,
    })
}

/// The base from the state store, as `foldup state pull` fetches it (into the same folder).
async fn pulled_base(session: &Session) -> Result<Base, Failure> {
    let into = super::state::default_into(session);
    let no_base = |why: &str| {
        Failure::usage(format!(
            "no base manifest: pass --state DIR, set DBT_STATE, or push production's state with `foldup state push` ({})",
            why.trim_end_matches('.')
        ))
    };
    let found = super::state::fetch(session, None, &into)
        .await
        .map_err(|failure| {
            no_base(&format!(
                "the state store was not asked: {}",
                failure.message
            ))
        })?;
    match found {
        Ok((store, fetched)) => {
            let source = format!(
                "commit {} pulled from {}: {}",
                fetched.record.commit,
                store.shown(),
                fetched.reason
            );
            session.reporter.info(&format!("Base: {source}."));
            Ok(Base {
                manifest: fetched.dir.join("manifest.json"),
                source,
                commit_sha: Some(fetched.record.commit.clone()),
            })
        }
        Err(e) if e.kind == foldup_state::StateErrorKind::NotFound => Err(no_base(&e.message)),
        Err(e) => Err(e.into()),
    }
}

fn nonempty(session: &Session, name: &str) -> Option<String> {
    session
        .env
        .get(name)
        .map(str::to_owned)
        .filter(|v| !v.trim().is_empty())
}

fn unusable(e: ImpactError) -> Failure {
    Failure::new(ExitCode::Artifacts, e.to_string())
}

/// The JSON PRODUCT.md gives: `{"base": {"commit_sha", "source"}, "modified", "impacted", "removed"}`.
fn json(impact: &Impact, base: &Base) -> String {
    let value = serde_json::json!({
        "base": {
            // A folder of dbt artifacts does not say which commit built it; pulled state does.
            "commit_sha": base.commit_sha,
            "source": base.source,
        },
        "modified": impact.modified,
        "impacted": impact.impacted,
        "removed": impact.removed,
    });
    value.to_string()
}

pub async fn run(session: &Session, args: &Args) -> Result<(), Failure> {
    let base = base(session, args).await?;
    let located = session
        .provider
        .locate_artifacts(&session.env, &session.settings)?;
    let pr_manifest = located.target.join("manifest.json");
    let pr = read_manifest(&pr_manifest).map_err(unusable)?;
    let base_manifest = read_manifest(&base.manifest).map_err(unusable)?;
    if same_file(&pr_manifest, &base.manifest) {
        session.reporter.warning(&format!(
            "the base manifest ({}) is the PR's own manifest, so nothing can differ; point --state at the production run's artifacts",
            base.manifest.display()
        ));
    }
    let impact = compare(&base_manifest, &pr);
    let shown_base = format!("`{}` ({})", base.manifest.display(), base.source);
    let report = markdown(&impact, &shown_base);
    let text = if args.format == "json" {
        json(&impact, &base)
    } else {
        report.clone()
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", text.trim_end())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::usage(format!("cannot write the report to stdout: {e}")))?;
    session.reporter.summary(&report);
    if args.comment {
        // A comment is a courtesy: whatever goes wrong is a warning, the report stands.
        if let Err(reason) = comment(session, &report).await {
            session.reporter.warning(&format!(
                "No comment on the pull request or merge request: {reason}. The report is on stdout{}.",
                if session.env.get("GITHUB_STEP_SUMMARY").is_some() {
                    " and in the job summary"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(())
}

/// Creates or updates foldup's one comment on the pull request or merge request of this build.
async fn comment(session: &Session, report: &str) -> Result<(), String> {
    let ctx = super::detect_context(session)
        .await
        .map_err(|f| f.message)?;
    let body = format!("{COMMENT_MARKER}\n{report}");
    let pr_number = ctx.pr_number.value.ok_or_else(|| {
        "this build is not for a pull request or merge request (foldup found no PR number)"
            .to_owned()
    })?;
    let repository = ctx
        .repository
        .value
        .clone()
        .ok_or_else(|| "foldup cannot tell the repository of this build".to_owned())?;
    match session.provider.name() {
        foldup_github::PROVIDER_NAME => {
            let github = crate::registry::github_settings(&session.settings);
            let token = github.token.as_ref().ok_or_else(|| {
                "--comment needs a GitHub token: expose `secrets.GITHUB_TOKEN` as GITHUB_TOKEN with `permissions: pull-requests: write`".to_owned()
            })?;
            session.reporter.mask(token.expose());
            let outcome = foldup_github::upsert_pull_request_comment(
                &session.env,
                &repository,
                pr_number,
                COMMENT_MARKER,
                &body,
                token,
                github.timeout,
            )
            .await?;
            session.reporter.info(&match outcome {
                foldup_github::CommentOutcome::Created { id } => {
                    format!("Commented on pull request #{pr_number} (comment {id}).")
                }
                foldup_github::CommentOutcome::Updated { id } => {
                    format!("Updated foldup's comment {id} on pull request #{pr_number}.")
                }
            });
            Ok(())
        }
        foldup_gitlab::PROVIDER_NAME => {
            let gitlab = crate::registry::gitlab_settings(&session.settings);
            let token = gitlab.token.as_ref().ok_or_else(|| {
                "--comment needs a GitLab token: set GITLAB_TOKEN to a project access token with the api scope (a masked CI/CD variable)".to_owned()
            })?;
            session.reporter.mask(token.expose());
            let server =
                foldup_gitlab::GitLabServer::from_env(&session.env).map_err(|e| e.to_string())?;
            let project = nonempty(session, "CI_PROJECT_ID").unwrap_or(repository);
            let outcome = foldup_gitlab::upsert_merge_request_note(
                &server,
                token,
                &project,
                pr_number,
                COMMENT_MARKER,
                &body,
                gitlab.timeout,
            )
            .await?;
            session.reporter.info(&match outcome {
                foldup_gitlab::NoteOutcome::Created { id } => {
                    format!("Commented on merge request !{pr_number} (note {id}).")
                }
                foldup_gitlab::NoteOutcome::Updated { id } => {
                    format!("Updated foldup's note {id} on merge request !{pr_number}.")
                }
            });
            Ok(())
        }
        other => Err(format!(
            "--comment posts on GitHub pull requests and GitLab merge requests; this build runs on {other}"
        )),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
