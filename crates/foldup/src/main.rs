//! `foldup`: the dispatcher binary. The only place that reads the process environment.

mod cli;
mod commands;
mod failure;
mod registry;

use std::io::Write;
use std::path::PathBuf;

use foldup_core::settings::{Settings, SettingsInput};
use foldup_core::{CiProvider, Env, PlainReporter, Reporter};

use crate::failure::Failure;

/// Everything a command needs: the variables, the settings, the chosen plugin and its reporter.
pub struct Session {
    pub env: Env,
    pub settings: Settings,
    pub provider: Box<dyn CiProvider>,
    pub reporter: Box<dyn Reporter>,
}

fn main() {
    // `foldup --version` is what scripts and CI images call to check an install: answered before
    // clap builds every command and flag, which was most of its start-up time.
    if let Some(version) = cli::version_only(std::env::args_os().skip(1)) {
        println!("{version}");
        return;
    }
    registry::register_plugin_options();
    let matches = cli::command().get_matches();
    let env = Env::from_os(std::env::vars_os());
    init_tracing(&env);
    let code = match run(&matches, env) {
        Ok(()) => 0,
        Err((failure, reporter)) => {
            reporter.error(&failure.message);
            failure.code as i32
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// Debug logs only when asked for with `RUST_LOG`, so the common path stays fast.
fn init_tracing(env: &Env) {
    if let Some(filter) = env.get("RUST_LOG") {
        let filter =
            tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn run(matches: &clap::ArgMatches, env: Env) -> Result<(), (Failure, Box<dyn Reporter>)> {
    let plain = || -> Box<dyn Reporter> { Box::new(PlainReporter) };
    let (name, sub) = matches.subcommand().expect("clap requires a subcommand");
    let (leaf_name, leaf) = match (name, sub.subcommand()) {
        ("dbt", Some((dbt_name, dbt_matches))) => (dbt_name, dbt_matches),
        ("state", Some((state_name, state_matches))) => (state_name, state_matches),
        _ => (name, sub),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let settings = Settings::load(SettingsInput {
        env: &env,
        cwd: &cwd,
        config_file: leaf.get_one::<String>("config").map(PathBuf::from),
        flags: cli::flag_values(leaf),
    })
    .map_err(|e| (e.into(), plain()))?;
    let provider = registry::select(&env, settings.provider.as_deref(), Some(&settings))
        .map_err(|e| (Failure::usage(e), plain()))?;
    let reporter = provider.reporter(&env);
    let session = Session {
        env,
        settings,
        provider,
        reporter,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                Failure::usage(format!("cannot start foldup's async runtime: {e}")),
                plain(),
            )
        })?;
    let result = runtime.block_on(async {
        match (name, leaf_name) {
            ("env", _) => commands::env::run(&session, leaf.get_flag("json")).await,
            ("config", _) => commands::config::run(&session),
            ("upload", _) => commands::upload::run(&session, commands::upload::Mode::Upload).await,
            ("impact", _) => {
                commands::impact::run(
                    &session,
                    &commands::impact::Args {
                        state: leaf.get_one::<String>("state").map(PathBuf::from),
                        format: leaf
                            .get_one::<String>("format")
                            .cloned()
                            .unwrap_or_else(|| "markdown".to_owned()),
                        comment: leaf.get_flag("comment"),
                    },
                )
                .await
            }
            ("check", _) | ("dbt", "check-post-upload-dbt-artifacts") => {
                commands::check::run(&session).await
            }
            ("dbt", "upload") => {
                commands::upload::run(&session, commands::upload::Mode::Upload).await
            }
            ("dbt", "upload-and-wait") => {
                commands::upload::run(&session, commands::upload::Mode::UploadAndWait).await
            }
            ("state", "push") => commands::state::push(&session, leaf).await,
            ("state", "pull") => commands::state::pull(&session, leaf).await,
            (other, leaf) => Err(Failure::usage(format!(
                "unknown command '{other} {leaf}'; see foldup --help"
            ))),
        }
    });
    result.map_err(|f| (f, session.reporter))
}
