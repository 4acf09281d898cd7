//! Upload knows about the base: in a pull request upload, ask Datafold whether the production
//! artifacts of the base commit are there, and warn when they are not, right after the upload and
//! before any `--wait` (missing base artifacts are the most common reason a Datafold CI run
//! fails). With `--require-base` the question comes before the upload, and a missing base is an
//! error (exit 3) and nothing is uploaded.

use foldup_core::datafold::{CheckStatus, DatafoldClient};
use foldup_core::{CiContext, RunType};

use crate::failure::{ExitCode, Failure};
use crate::Session;

/// The base commit and where it came from: the state `foldup state pull` fetched for this build,
/// else GitLab's merge request diff base, else the GitHub event's `pull_request.base.sha`.
pub fn base_commit(session: &Session) -> Option<(String, String)> {
    let pulled = session
        .settings
        .project_dir
        .join(".foldup/state")
        .join(foldup_state::RECORD_FILE);
    if let Some(record) = std::fs::read(&pulled)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<foldup_state::Record>(&bytes).ok())
    {
        return Some((
            record.commit,
            "the state foldup state pull fetched".to_owned(),
        ));
    }
    if let Some(sha) = session.env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA") {
        return Some((
            sha.trim().to_owned(),
            "CI_MERGE_REQUEST_DIFF_BASE_SHA".to_owned(),
        ));
    }
    let payload = session.env.get("GITHUB_EVENT_PATH")?;
    let file = std::fs::File::open(payload).ok()?;
    // Event payloads are small (tens of KB); read at most 16 MB.
    let value: serde_json::Value =
        serde_json::from_reader(std::io::Read::take(file, 16 * 1024 * 1024)).ok()?;
    let sha = value["pull_request"]["base"]["sha"].as_str()?;
    Some((
        sha.to_owned(),
        "GITHUB_EVENT_PATH pull_request.base.sha".to_owned(),
    ))
}

/// In a pull request upload with a known base commit, checks Datafold has its production artifacts.
pub async fn check(
    session: &Session,
    ctx: &CiContext,
    client: &DatafoldClient,
    ci_config_id: u64,
    run_type: RunType,
) -> Result<(), Failure> {
    let require = session.settings.require_base;
    if run_type != RunType::PullRequest {
        return Ok(());
    }
    let Some((sha, source)) = base_commit(session)
        .filter(|(sha, _)| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        if require {
            return Err(Failure::usage(
                "--require-base: cannot tell this pull request's base commit; run `foldup state pull` first, or turn require_base off",
            ));
        }
        return Ok(());
    };
    let branch = ctx.base_branch.value.as_deref();
    match client
        .check_artifacts(ci_config_id, &sha, "production", branch.or(Some("")))
        .await
    {
        Ok(CheckStatus::Present) => {
            session.reporter.info(&format!(
                "Datafold has the production artifacts of the base commit {sha} ({source})."
            ));
            Ok(())
        }
        Ok(_) => {
            let message = format!(
                "Datafold has no production artifacts for the base commit {sha} ({source}), so it cannot diff this pull request; run `foldup upload` in the production build of {} for that commit (or re-run it)",
                branch.map(|b| format!("'{b}'")).unwrap_or_else(|| "the base branch".to_owned())
            );
            if require {
                Err(Failure::new(
                    ExitCode::Artifacts,
                    format!("{message}; --require-base makes this an error"),
                ))
            } else {
                session.reporter.warning(&message);
                Ok(())
            }
        }
        Err(e) if !require => {
            session.reporter.warning(&format!(
                "could not ask Datafold about the base commit {sha}: {e}; uploading anyway"
            ));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
