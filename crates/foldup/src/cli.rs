//! The command line, built from foldup-core's option table so that every flag is defined once.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use foldup_core::settings::{options, FlagValue, Kind, OptionSpec, Scope};

/// The dbt drop-in commands and the datafold-sdk 0.4.1 flags each takes.
pub const DBT_COMMANDS: &[(&str, &str, &[&str])] = &[
    (
        "upload",
        "Uploads the artifacts of a dbt run (as `datafold dbt upload`).",
        &["ci_config_id", "run_type", "target_folder", "commit_sha", "run_id"],
    ),
    (
        "upload-and-wait",
        "Uploads the artifacts of dbt and waits for the data diff to complete (as `datafold dbt upload-and-wait`).",
        &["ci_config_id", "run_type", "target_folder", "timeout", "commit_sha"],
    ),
    (
        "check-post-upload-dbt-artifacts",
        "Checks that Datafold has the artifacts of a commit (as `datafold dbt check-post-upload-dbt-artifacts`).",
        &["ci_config_id", "run_type", "branch", "commit_sha"],
    ),
];

/// `foldup X.Y.Z`, as clap prints it, when the only argument is `--version` or `-V`.
pub fn version_only(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<String> {
    let first = args.next()?;
    let asks = first == "--version" || first == "-V";
    (asks && args.next().is_none()).then(|| format!("foldup {}", env!("CARGO_PKG_VERSION")))
}

/// The whole `foldup` command.
pub fn command() -> Command {
    // `--host` is global (datafold-sdk takes it before `dbt`), so no command declares it again.
    fn scoped(scopes: &'static [Scope]) -> impl Iterator<Item = &'static OptionSpec> {
        options::all().filter(move |o| scopes.contains(&o.scope) && o.key != "host")
    }
    const CONTEXT: &[Scope] = &[Scope::Context];
    const CHECK: &[Scope] = &[Scope::Context, Scope::Datafold];
    const UPLOAD: &[Scope] = &[Scope::Context, Scope::Datafold, Scope::Upload];
    const STATE: &[Scope] = &[Scope::Context, Scope::State];
    const CONFIG: &[Scope] = &[Scope::Context, Scope::Datafold, Scope::Upload, Scope::State];

    let dbt = Command::new("dbt")
        .about("Drop-in for datafold-sdk's `datafold dbt …` commands: same flags, same variables.")
        .subcommand_required(true)
        .subcommands(DBT_COMMANDS.iter().map(|(name, about, keys)| {
            Command::new(*name)
                .about(*about)
                .args(keys.iter().filter_map(|k| options::find(k)).map(flag_arg))
                .arg(provider_arg())
        }));

    Command::new("foldup")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Uploads dbt artifacts to Datafold from any CI, with the right commit and run type.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .global(true)
                .help("Read settings from FILE instead of ./foldup.toml."),
        )
        .arg(options::find("host").map(flag_arg).expect("host is an option").global(true))
        .subcommand(
            Command::new("upload")
                .about("Detect the CI, locate and validate the dbt artifacts, archive and upload them.")
                .args(scoped(UPLOAD).map(flag_arg)),
        )
        .subcommand(
            Command::new("env")
                .about("Print the detected CI context and where each value came from.")
                .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print one JSON object (PRODUCT.md's schema)."))
                .args(scoped(CONTEXT).map(flag_arg)),
        )
        .subcommand(
            Command::new("check")
                .about("Ask Datafold whether the artifacts for this commit arrived.")
                .args(scoped(CHECK).map(flag_arg)),
        )
        .subcommand(
            Command::new("impact")
                .about("What the PR changes in the dbt project and what sits downstream, as dbt's state:modified selects it.")
                .arg(Arg::new("state").long("state").value_name("DIR").help("The base run's target folder (or its manifest.json); default DBT_STATE, then DBT_ENGINE_STATE."))
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_name("FORMAT")
                        .value_parser(crate::commands::impact::FORMATS)
                        .default_value("markdown")
                        .help("markdown for people (and the job summary), json for machines."),
                )
                .arg(
                    Arg::new("comment")
                        .long("comment")
                        .action(ArgAction::SetTrue)
                        .help("Also create or update one comment on the GitHub pull request (GITHUB_TOKEN with pull-requests: write) or GitLab merge request (GITLAB_TOKEN with the api scope); a failure is a warning."),
                )
                .args(scoped(CONTEXT).map(flag_arg))
                .arg(options::find("target_folder").map(flag_arg).expect("target_folder is an option")),
        )
        .subcommand(
            Command::new("config")
                .about("Print the effective configuration and the source of each value (secrets redacted).")
                .args(scoped(CONFIG).map(flag_arg)),
        )
        .subcommand(crate::commands::state::command(scoped(STATE).map(flag_arg).collect(), flag_arg))
        .subcommand(dbt)
}

fn provider_arg() -> Arg {
    options::find("provider")
        .map(flag_arg)
        .expect("provider is an option")
}

/// The clap argument for one option.
fn flag_arg(spec: &'static OptionSpec) -> Arg {
    let flag = spec.flag().unwrap_or_else(|| spec.key.to_owned());
    let arg = Arg::new(spec.key).long(flag).help(spec.doc);
    match spec.kind {
        Kind::Switch => arg.action(ArgAction::SetTrue),
        Kind::List => arg.action(ArgAction::Append).value_name("GLOB"),
        Kind::Number => arg.value_name("N"),
        Kind::Minutes => arg.value_name("MINUTES"),
        Kind::Path => arg.value_name("PATH"),
        Kind::Choice(_) => arg.value_name("WORD"),
        Kind::Text | Kind::Secret => arg.value_name("TEXT"),
    }
}

/// The options given on the command line, for the settings' flag layer.
pub fn flag_values(matches: &ArgMatches) -> Vec<FlagValue> {
    options::all()
        .filter(|spec| matches.try_contains_id(spec.key).unwrap_or(false))
        .filter(|spec| matches.value_source(spec.key) == Some(ValueSource::CommandLine))
        .filter_map(|spec| {
            let values: Vec<String> = if spec.kind == Kind::Switch {
                vec![matches.get_flag(spec.key).to_string()]
            } else {
                matches.get_many::<String>(spec.key)?.cloned().collect()
            };
            Some(FlagValue {
                key: spec.key,
                values,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn the_version_shortcut_prints_what_clap_prints_and_only_when_alone() {
        let args = |list: &[&str]| {
            list.iter()
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        let clap = command().render_version();
        for alone in [&["--version"][..], &["-V"]] {
            let shortcut = version_only(args(alone).into_iter()).unwrap();
            assert_eq!(format!("{shortcut}\n"), clap);
        }
        for not_alone in [
            &[][..],
            &["env"],
            &["--version", "env"],
            &["env", "--version"],
        ] {
            assert_eq!(version_only(args(not_alone).into_iter()), None);
        }
    }

    #[test]
    fn dbt_upload_takes_datafold_sdk_flags_and_global_host() {
        let m = command()
            .try_get_matches_from([
                "foldup",
                "--host",
                "http://x",
                "dbt",
                "upload",
                "--ci-config-id",
                "7",
                "--run-type",
                "pull_request",
                "--target-folder",
                "t",
                "--commit-sha",
                "abc",
                "--run-id",
                "r1",
            ])
            .unwrap();
        let (_, dbt) = m.subcommand().unwrap();
        let (_, up) = dbt.subcommand().unwrap();
        // Global flags reach the innermost command's matches.
        let mut keys: Vec<_> = flag_values(up).into_iter().map(|f| f.key).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "ci_config_id",
                "commit_sha",
                "host",
                "run_id",
                "run_type",
                "target_folder"
            ]
        );
    }

    #[test]
    fn upload_flags_cover_every_flagged_option() {
        let m = command()
            .try_get_matches_from([
                "foldup",
                "upload",
                "--include",
                "a/*",
                "--include",
                "b",
                "--wait",
            ])
            .unwrap();
        let (_, up) = m.subcommand().unwrap();
        let flags = flag_values(up);
        assert!(flags.contains(&FlagValue {
            key: "include",
            values: vec!["a/*".into(), "b".into()]
        }));
        assert!(flags.contains(&FlagValue {
            key: "wait",
            values: vec!["true".into()]
        }));
        assert!(
            !flags.iter().any(|f| f.key == "dry_run"),
            "unset switches stay out of the flag layer"
        );
    }
}
