//! `foldup check` and `foldup dbt check-post-upload-dbt-artifacts`: does Datafold have the
//! artifacts for this commit?

use crate::failure::{ExitCode, Failure};
use crate::Session;

pub async fn run(session: &Session) -> Result<(), Failure> {
    let settings = &session.settings;
    if let Some(key) = &settings.api_key {
        session.reporter.mask(key.expose());
    }
    let ctx = super::detect_context(session).await?;
    let ci_config_id = super::require_ci_config_id(settings)?;
    let commit_sha =
        ctx.commit_sha.value.clone().ok_or_else(|| {
            Failure::usage(format!(
            "cannot tell which commit to check ({}); pass --commit-sha with the full 40-digit sha",
            ctx.commit_sha.source.as_deref().unwrap_or("the CI does not say")
        ))
        })?;
    let run_type = ctx.run_type.value.ok_or_else(|| {
        Failure::usage(format!(
            "cannot tell whether this build is a pull request or production ({}); pass --run-type pull_request or --run-type production",
            ctx.run_type.source.as_deref().unwrap_or("the CI gives no sign of either")
        ))
    })?;
    let api_key = settings
        .api_key
        .clone()
        .ok_or_else(super::missing_api_key)?;
    let client = super::datafold_client(session, &api_key)?;
    let status = client
        .check_artifacts(
            ci_config_id,
            commit_sha.as_str(),
            run_type.as_str(),
            ctx.branch.value.as_deref(),
        )
        .await?;
    if status == foldup_datafold::CheckStatus::Present {
        session.reporter.info(&format!(
            "Datafold has the dbt artifacts of commit {commit_sha} ({run_type})."
        ));
        Ok(())
    } else {
        Err(Failure::new(
            ExitCode::Artifacts,
            format!("Datafold has no dbt artifacts for commit {commit_sha} ({run_type}); run `foldup upload` for this commit first"),
        ))
    }
}
