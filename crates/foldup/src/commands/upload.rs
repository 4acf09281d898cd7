//! `foldup upload` and the drop-ins `foldup dbt upload` / `upload-and-wait`, in the order they
//! happen: detect the CI context → settle the plan → locate and archive the artifacts → upload
//! (→ wait for Datafold's diff).
//!
//! The plugin does its three duties (detect, locate the artifacts, upload them); this module
//! only orders them, writes the archive between them, and reports. Each step's log section is a
//! [`LogGroup`], closed on every path out of the step, errors included.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use foldup_artifacts::{ArchiveSummary, ArtifactSet};
use foldup_core::{CiContext, CommitSha, LogGroup, Reporter, RunType, Secret};
use foldup_datafold::{DatafoldClient, SubmitFields, UploadProgress};

use crate::failure::{ExitCode, Failure};
use crate::Session;

/// Whether to wait for Datafold's diff after uploading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `upload`: waits only with `--wait`.
    Upload,
    /// `dbt upload-and-wait`: always waits (on pull requests, as datafold-sdk does).
    UploadAndWait,
}

/// What an upload needs once the context is settled.
struct Plan {
    ci_config_id: u64,
    run_type: RunType,
    commit_sha: CommitSha,
}

pub async fn run(session: &Session, mode: Mode) -> Result<(), Failure> {
    let settings = &session.settings;
    let reporter = session.reporter.as_ref();
    if let Some(key) = &settings.api_key {
        reporter.mask(key.expose());
    }

    let ctx = detect(session).await?;
    let Some(plan) = plan(session, &ctx)? else {
        return Ok(());
    };
    let Some(api_key) = api_key_for(session, &ctx)? else {
        return Ok(());
    };
    let (located, archive, summary) = locate_and_archive(session)?;
    let fields = SubmitFields {
        commit_sha: plan.commit_sha.to_string(),
        run_type: plan.run_type.to_string(),
        run_id: settings.run_id.clone(),
    };
    let Some(api_key) = api_key else {
        print_dry_run(session, &plan, &fields, &located, &summary);
        return Ok(());
    };

    let client = super::datafold_client(session, &api_key)?;
    if settings.require_base {
        super::base::check(session, &ctx, &client, plan.ci_config_id, plan.run_type).await?;
    }
    upload(session, &client, &plan, &archive, &fields, &summary).await?;
    reporter.info(&format!(
        "Uploaded {} dbt artifacts ({} bytes) for commit {} as a {} build to Datafold CI config {}.",
        summary.entries, summary.compressed_bytes, plan.commit_sha, plan.run_type, plan.ci_config_id
    ));
    reporter.outputs(&ctx);
    reporter.summary(&summary_markdown(&ctx, &plan, summary.entries));
    if !settings.require_base {
        // After the upload, so that a warning never delays or disturbs it; before any --wait.
        super::base::check(session, &ctx, &client, plan.ci_config_id, plan.run_type).await?;
    }

    if mode == Mode::UploadAndWait || settings.wait {
        wait_for_diff(session, &client, &plan).await?;
    }
    Ok(())
}

/// The plugin's first duty, in its own log section.
async fn detect(session: &Session) -> Result<CiContext, Failure> {
    let _group = LogGroup::open(session.reporter.as_ref(), "foldup: CI context");
    let ctx = super::detect_context(session).await?;
    session.reporter.info(&ctx.to_human());
    Ok(ctx)
}

/// The key to send: `Some(Some(key))` to upload, `Some(None)` for a dry run without one, `None`
/// when the build is skipped because CI withholds secrets (forks, Dependabot).
fn api_key_for(session: &Session, ctx: &CiContext) -> Result<Option<Option<Secret>>, Failure> {
    let settings = &session.settings;
    match (&settings.api_key, settings.dry_run) {
        (Some(key), false) => Ok(Some(Some(key.clone()))),
        (_, true) => Ok(Some(None)),
        (None, false) if ctx.is_fork() => {
            session.reporter.notice(
                "Skipping the upload: this is a pull request from a fork, and CI withholds secrets such as \
                 DATAFOLD_API_KEY from forks. To get a data diff, push the branch to the main repository.",
            );
            Ok(None)
        }
        (None, false) if ctx.secrets_withheld.value == Some(true) => {
            session.reporter.notice(&format!(
                "Skipping the upload: {}, so DATAFOLD_API_KEY is not there. To get a data diff of \
                 Dependabot's pull requests, add DATAFOLD_API_KEY to the repository's Dependabot secrets.",
                ctx.secrets_withheld.source.as_deref().unwrap_or("CI withholds secrets from this build")
            ));
            Ok(None)
        }
        (None, false) => Err(super::missing_api_key()),
    }
}

/// The plugin's second duty, then the archive, in one log section.
fn locate_and_archive(
    session: &Session,
) -> Result<(ArtifactSet, Archive, ArchiveSummary), Failure> {
    let reporter = session.reporter.as_ref();
    let _group = LogGroup::open(reporter, "foldup: dbt artifacts");
    let located = session
        .provider
        .locate_artifacts(&session.env, &session.settings)?;
    report_artifacts(reporter, &located);
    let archive = Archive::create(session.settings.output.clone())?;
    let summary = archive.write(&located)?;
    Ok((located, archive, summary))
}

fn report_artifacts(reporter: &dyn Reporter, located: &ArtifactSet) {
    for warning in &located.warnings {
        reporter.warning(warning);
    }
    reporter.info(&format!(
        "Target folder {} ({}), manifest schema v{}{}:",
        located.target.display(),
        located.target_source,
        located.manifest.schema_version,
        located
            .manifest
            .dbt_version
            .as_deref()
            .map(|v| format!(", dbt {v}"))
            .unwrap_or_default(),
    ));
    // A whole target (`--all-files`) can hold tens of thousands of files: name the first ones only.
    for file in located.files.iter().take(LISTED_FILES) {
        reporter.info(&format!("  {} ({} bytes)", file.name, file.size));
    }
    if located.files.len() > LISTED_FILES {
        let rest = &located.files[LISTED_FILES..];
        let bytes: u64 = rest.iter().map(|f| f.size).sum();
        reporter.info(&format!(
            "  … and {} more files ({bytes} bytes)",
            rest.len()
        ));
    }
}

/// `--dry-run`: what would be sent, on stdout.
fn print_dry_run(
    session: &Session,
    plan: &Plan,
    fields: &SubmitFields,
    located: &ArtifactSet,
    summary: &ArchiveSummary,
) {
    let settings = &session.settings;
    println!("Dry run: nothing was sent. foldup would send:");
    println!(
        "POST {}/api/v1/dbt/submit_artifacts/{}",
        settings.host, plan.ci_config_id
    );
    println!("  commit_sha = {}", fields.commit_sha);
    println!("  run_type   = {}", fields.run_type);
    if let Some(run_id) = &fields.run_id {
        println!("  run_id     = {}", foldup_core::sanitize_line(run_id));
    }
    println!(
        "  artifacts  = zip of {} files, {} bytes ({} bytes uncompressed)",
        summary.entries, summary.compressed_bytes, summary.uncompressed_bytes
    );
    for file in &located.files {
        println!("    {}", foldup_core::sanitize_line(&file.name));
    }
    if let Some(path) = &settings.output {
        println!("  archive kept at {}", path.display());
    }
}

/// The plugin's third duty, in its own log section, with a progress bar on a terminal.
async fn upload(
    session: &Session,
    client: &DatafoldClient,
    plan: &Plan,
    archive: &Archive,
    fields: &SubmitFields,
    summary: &ArchiveSummary,
) -> Result<(), Failure> {
    let _group = LogGroup::open(session.reporter.as_ref(), "foldup: upload to Datafold");
    let bar = progress_bar(summary.compressed_bytes);
    let progress = bar.clone().map(|bar| -> UploadProgress {
        Arc::new(move |sent, total| {
            bar.set_length(total);
            bar.set_position(sent);
        })
    });
    let sent = session
        .provider
        .upload(client, plan.ci_config_id, archive.path(), fields, progress)
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    sent?;
    Ok(())
}

/// `--wait` / `upload-and-wait`: follows Datafold's diff of a pull request to its end.
async fn wait_for_diff(
    session: &Session,
    client: &DatafoldClient,
    plan: &Plan,
) -> Result<(), Failure> {
    let settings = &session.settings;
    let reporter = session.reporter.as_ref();
    if plan.run_type != RunType::PullRequest {
        reporter.info(
            "Not waiting: Datafold runs a diff for pull requests only, and this is a production build.",
        );
        return Ok(());
    }
    reporter.info(&format!(
        "Waiting up to {} minutes for Datafold's diff of {}…",
        settings.timeout.as_secs() / 60,
        plan.commit_sha
    ));
    let run = client
        .wait_for_run(
            plan.ci_config_id,
            plan.commit_sha.as_str(),
            settings.timeout,
            settings.wait_poll,
        )
        .await?;
    reporter.info(&format!(
        "Datafold's diff finished: run {} is {}.",
        run.id, run.status
    ));
    Ok(())
}

/// How many files the log names before it sums up the rest.
const LISTED_FILES: usize = 50;

/// Archives below this size go out in a blink; a bar would only flicker.
const PROGRESS_BAR_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// A progress bar for long uploads, on a terminal only: CI logs get no bar noise.
fn progress_bar(archive_bytes: u64) -> Option<indicatif::ProgressBar> {
    if archive_bytes < PROGRESS_BAR_MIN_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(archive_bytes);
    let style = indicatif::ProgressStyle::with_template(
        "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Settles the config id, run type and commit, or explains what is missing. `None` means the
/// build is skipped by policy.
fn plan(session: &Session, ctx: &CiContext) -> Result<Option<Plan>, Failure> {
    let settings = &session.settings;
    let ci_config_id = super::require_ci_config_id(settings)?;
    let run_type = match ctx.run_type.value {
        Some(run_type) => run_type,
        None => {
            let why = ctx
                .run_type
                .source
                .as_deref()
                .unwrap_or("the CI gives no sign of either");
            if settings.skip_unknown_run_type {
                session.reporter.notice(&format!(
                    "Skipping the upload: this build is neither a pull request nor production ({why}), and skip_unknown_run_type is set."
                ));
                return Ok(None);
            }
            return Err(Failure::usage(format!(
                "cannot tell whether this build is a pull request or production ({why}); pass --run-type pull_request or --run-type production (or set FOLDUP_RUN_TYPE), or set skip_unknown_run_type = true in foldup.toml to skip such builds"
            )));
        }
    };
    let commit_sha = ctx.commit_sha.value.clone().ok_or_else(|| {
        let why = ctx.commit_sha.source.as_deref().unwrap_or("the CI does not say");
        Failure::usage(format!(
            "cannot tell which commit this build built ({why}); pass --commit-sha with the full 40-digit sha"
        ))
    })?;
    Ok(Some(Plan {
        ci_config_id,
        run_type,
        commit_sha,
    }))
}

fn summary_markdown(ctx: &CiContext, plan: &Plan, files: usize) -> String {
    let pr = ctx
        .pr_number
        .value
        .map(|n| format!(" · PR #{n}"))
        .unwrap_or_default();
    format!(
        "### Datafold: dbt artifacts uploaded\n\n{} files for commit `{}` as a **{}** build (CI config {}){pr}.\n",
        files, plan.commit_sha, plan.run_type, plan.ci_config_id
    )
}

/// The archive file: kept at `--output`, or a temporary file removed when foldup ends.
struct Archive {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Archive {
    fn create(output: Option<PathBuf>) -> Result<Archive, Failure> {
        match output {
            Some(path) => Ok(Archive { path, _temp: None }),
            None => {
                let dir = tempfile::Builder::new().prefix("foldup-").tempdir().map_err(|e| {
                    Failure::new(
                        ExitCode::Artifacts,
                        format!("cannot create a temporary folder for the archive ({e}); set TMPDIR to a writable folder or pass --output FILE"),
                    )
                })?;
                Ok(Archive {
                    path: dir.path().join("artifacts.zip"),
                    _temp: Some(dir),
                })
            }
        }
    }

    /// Writes the archive beside its final path and renames it there once it is complete, so a
    /// failure (an unreadable file, a manifest found cut short) never leaves a broken zip at
    /// `--output`, nor truncates an archive that was there.
    fn write(&self, located: &ArtifactSet) -> Result<ArchiveSummary, Failure> {
        let cannot_write = |e: &std::io::Error| {
            Failure::new(
                ExitCode::Artifacts,
                format!(
                    "cannot write the archive {} ({e}); pass --output with a writable path",
                    self.path.display()
                ),
            )
        };
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        let partial = tempfile::Builder::new()
            .prefix(".foldup-")
            .suffix(".zip.partial")
            .tempfile_in(folder)
            .map_err(|e| cannot_write(&e))?;
        let writer = std::io::BufWriter::with_capacity(256 * 1024, partial.as_file());
        let summary = foldup_artifacts::write_archive(located, writer)?;
        partial
            .persist(&self.path)
            .map_err(|e| cannot_write(&e.error))?;
        Ok(summary)
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }
}
