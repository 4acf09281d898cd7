//! `foldup state push` and `foldup state pull`: the production build's dbt state in object
//! storage, and back into a pull request's build for `dbt build --state`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};
use foldup_core::settings::OptionSpec;
use foldup_core::{CiContext, ProductionBranch, RunType};
use foldup_state::{
    Choice, Fetched, Key, Network, PushInput, PushOutcome, StateError, StateErrorKind, Store,
};

use crate::failure::{ExitCode, Failure};
use crate::Session;

/// The `state` command and its two subcommands.
pub fn command(state_args: Vec<Arg>, flag_arg: fn(&'static OptionSpec) -> Arg) -> Command {
    let target = foldup_core::settings::options::find("target_folder")
        .map(flag_arg)
        .expect("target_folder is an option");
    Command::new("state")
        .about("Keep the production build's dbt state in object storage, and fetch it for a pull request's Slim-CI build.")
        .subcommand_required(true)
        .subcommand(
            Command::new("push")
                .about("Store this production build's dbt artifacts for its commit, then move the branch's latest pointer.")
                .args(state_args.clone())
                .arg(target)
                .arg(
                    Arg::new("force")
                        .long("force")
                        .action(ArgAction::SetTrue)
                        .help("Push even when this build is not a production build."),
                ),
        )
        .subcommand(
            Command::new("pull")
                .about("Fetch the base state into a folder and print its absolute path alone on stdout.")
                .args(state_args)
                .arg(
                    Arg::new("into")
                        .long("into")
                        .value_name("DIR")
                        .help("The folder to fill (default .foldup/state in the project dir); replaced atomically."),
                )
                .arg(
                    Arg::new("ref")
                        .long("ref")
                        .value_name("SHA|BRANCH")
                        .help("Take the state of this full commit sha or the latest of this branch."),
                )
                .arg(
                    Arg::new("if_present")
                        .long("if-present")
                        .action(ArgAction::SetTrue)
                        .help("When no state is stored, exit 0 with a notice and print nothing (for a full-build fallback)."),
                ),
        )
}

fn network(session: &Session) -> Network {
    let s = &session.settings;
    Network {
        attempts: s.retry_attempts,
        total: s.retry_max,
        connect_timeout: s.connect_timeout,
        request_timeout: s.request_timeout,
    }
}

/// The key of this project's state: the repository and the dbt project's name.
fn key(session: &Session, ctx: &CiContext) -> Result<Key, Failure> {
    let repository = ctx.repository.value.clone().ok_or_else(|| {
        Failure::usage(
            "cannot tell the repository to key the state by; run in the CI, or in a git clone whose origin remote names it",
        )
    })?;
    let project_dir = &session.settings.project_dir;
    let project = foldup_core::artifacts::read_project_name(project_dir).ok_or_else(|| {
        Failure::usage(format!(
            "cannot read the dbt project's name from {}; run foldup in the dbt project (or pass --project-dir) and give dbt_project.yml a plain `name:`",
            project_dir.join("dbt_project.yml").display()
        ))
    })?;
    Ok(Key::new(&repository, &project)?)
}

pub async fn push(session: &Session, matches: &ArgMatches) -> Result<(), Failure> {
    let reporter = &session.reporter;
    let settings = &session.settings;
    let ctx = super::detect_context(session).await?;
    let force = matches.get_flag("force");
    if ctx.run_type.value != Some(RunType::Production) && !force {
        let what = match ctx.run_type.value {
            Some(run_type) => format!("a {run_type} build"),
            None => "a build that is neither a pull request nor production".to_owned(),
        };
        return Err(Failure::usage(format!(
            "refusing to push dbt state from {what}: only production builds write state, so that a pull request can never overwrite production's; run it in the production branch's build, or pass --force"
        )));
    }
    let commit = ctx.commit_sha.value.clone().ok_or_else(|| {
        Failure::usage("cannot tell which commit this build built; pass --commit-sha with the full 40-digit sha")
    })?;
    let branch = ctx.branch.value.clone().ok_or_else(|| {
        Failure::usage("cannot tell which branch this build is on (a tag?); pass --branch NAME")
    })?;
    let key = key(session, &ctx)?;

    let located = session.provider.locate_artifacts(&session.env, settings)?;
    for warning in &located.warnings {
        reporter.warning(warning);
    }
    let commit = commit.to_string();
    let commit_time = foldup_local::Git::new(&session.env, &settings.project_dir)
        .ok()
        .and_then(|git| git.query(&["show", "-s", "--format=%ct", &commit]).ok())
        .flatten()
        .and_then(|t| t.trim().parse::<i64>().ok());
    let input = PushInput {
        key: key.clone(),
        commit: commit.clone(),
        branch: branch.clone(),
        commit_time,
        dbt_version: located.manifest.dbt_version.clone(),
        build_url: ctx.build_url.value.clone(),
        files: located
            .files
            .iter()
            .map(|f| (f.name.clone(), f.path.clone()))
            .collect(),
    };
    let store = Store::open(
        &settings.state_store,
        &session.env,
        &std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        network(session),
        true,
    )?;
    let (record, outcome) = foldup_state::push(&store, &input).await?;
    let bytes: u64 = record.files.iter().map(|f| f.size).sum();
    reporter.info(&format!(
        "Stored the dbt state of commit {commit} ({} files, {bytes} bytes; {}/{}) in {}.",
        record.files.len(),
        key.repository,
        key.project,
        store.shown()
    ));
    match outcome {
        PushOutcome::Moved { previous } => reporter.info(&format!(
            "Branch '{branch}' now points to {commit}{}.",
            previous
                .filter(|p| *p != commit)
                .map(|p| format!(" (was {p})"))
                .unwrap_or_default()
        )),
        PushOutcome::Kept { newer } => reporter.notice(&format!(
            "Branch '{branch}' keeps pointing to {}: that commit is newer ({}) than {commit}, whose build finished later.",
            newer.commit, newer.order_source
        )),
    }
    Ok(())
}

pub async fn pull(session: &Session, matches: &ArgMatches) -> Result<(), Failure> {
    let reporter = &session.reporter;
    let into = matches
        .get_one::<String>("into")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            }
        })
        .unwrap_or_else(|| default_into(session));
    let reference = matches.get_one::<String>("ref").cloned();
    let (store, fetched) = match fetch(session, reference, &into).await? {
        Ok(found) => found,
        Err(e) if e.kind == StateErrorKind::NotFound && matches.get_flag("if_present") => {
            reporter.notice(&format!(
                "No dbt state to pull ({}); continuing without it (--if-present): build everything instead of state:modified.",
                e.message
            ));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let record = &fetched.record;
    reporter.info(&format!(
        "Pulled the dbt state of commit {} (branch '{}', pushed {}{}) from {}: {}.",
        record.commit,
        record.branch,
        record.pushed_at,
        record
            .build_url
            .as_deref()
            .map(|u| format!(" by {}", foldup_core::sanitize_line(u)))
            .unwrap_or_default(),
        store.shown(),
        fetched.reason
    ));
    export_state(session, &fetched.dir)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", fetched.dir.display())
        .and_then(|_| stdout.flush())
        .map_err(|e| Failure::usage(format!("cannot write to stdout: {e}")))?;
    Ok(())
}

/// Where `state pull` puts the state by default: `.foldup/state` in the dbt project folder.
pub(crate) fn default_into(session: &Session) -> PathBuf {
    session.settings.project_dir.join(".foldup/state")
}

/// The state `foldup state pull` takes — `reference` when given, else the PR's base branch, else
/// the production branch — fetched and verified into `into`. `foldup impact` uses it for its base.
/// The outer error is the CI context's; the inner one the store's, whose kind callers look at.
pub(crate) async fn fetch(
    session: &Session,
    reference: Option<String>,
    into: &Path,
) -> Result<Result<(Store, Fetched), StateError>, Failure> {
    let settings = &session.settings;
    let ctx = super::detect_context(session).await?;
    let key = key(session, &ctx)?;
    let production =
        match ProductionBranch::resolve(settings.production_branch.as_deref(), &ctx.default_branch)
        {
            ProductionBranch::Named { name, .. } => name,
            ProductionBranch::Fallback => "main".to_owned(),
        };
    let base_branch = if ctx.run_type.value == Some(RunType::PullRequest) {
        ctx.base_branch.value.clone()
    } else {
        None
    };
    let choice = Choice {
        reference,
        base_branch,
        production_branch: Some(production),
    };
    let store = match Store::open(
        &settings.state_store,
        &session.env,
        &std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        network(session),
        false,
    ) {
        Ok(store) => store,
        Err(e) => return Ok(Err(e)),
    };
    Ok(foldup_state::resolve_and_fetch(&store, &key, &choice, into)
        .await
        .map(|fetched| (store, fetched)))
}

/// Hands `DBT_STATE` and `DBT_ENGINE_STATE` to later steps where the CI has a way to.
fn export_state(session: &Session, dir: &Path) -> Result<(), Failure> {
    let shown = dir.display().to_string();
    if shown.contains(['\n', '\r']) {
        return Ok(());
    }
    let append = |file: &str, text: String| -> Result<(), Failure> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| {
                Failure::new(
                    ExitCode::Usage,
                    format!("cannot append to {file}: {e}; check that the CI's environment file is writable"),
                )
            })
    };
    if let Some(file) = session.env.get("GITHUB_ENV") {
        append(
            file,
            format!("DBT_STATE={shown}\nDBT_ENGINE_STATE={shown}\n"),
        )?;
        session
            .reporter
            .info("Set DBT_STATE and DBT_ENGINE_STATE for the next steps ($GITHUB_ENV).");
    } else if session.env.is_true("CIRCLECI") {
        if let Some(file) = session.env.get("BASH_ENV") {
            let quoted = format!("'{}'", shown.replace('\'', r"'\''"));
            append(
                file,
                format!("export DBT_STATE={quoted}\nexport DBT_ENGINE_STATE={quoted}\n"),
            )?;
            session
                .reporter
                .info("Set DBT_STATE and DBT_ENGINE_STATE for the next steps ($BASH_ENV).");
        }
    }
    Ok(())
}
