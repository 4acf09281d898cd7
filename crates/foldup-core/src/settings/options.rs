//! Every option foldup takes, defined once (a plugin crate defines its own and the binary
//! registers them). The CLI flags, the `FOLDUP_*` variables, the config
//! file keys, `foldup config` and the README's configuration reference all derive from this table.

use std::sync::OnceLock;

/// How an option's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A path; relative paths are taken from the working directory.
    Path,
    /// A non-negative whole number.
    Number,
    /// A duration: a whole number of minutes, or a number with a unit (`90s`, `5m`, `1h`).
    Minutes,
    /// `true`/`false` (also `1`/`0`, `yes`/`no` in variables).
    Switch,
    /// A list; comma-separated in a variable, repeatable as a flag, an array in the file.
    List,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// Never printed and never accepted in the config file or as a flag.
    Secret,
}

/// Which commands take an option as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Shapes the detected CI context: `env`, `config`, `upload`, `check`.
    Context,
    /// Only about sending: `config`, `upload`, `check`.
    Datafold,
    /// Only `upload` (and `config`).
    Upload,
    /// Only `state push` / `state pull` (and `config`).
    State,
    /// No flag: variables and the config file only.
    NoFlag,
}

/// One option: its config key, flag, variables and one-line documentation.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The config-file key; the flag is the same with `-`, the variable `FOLDUP_` + upper case.
    pub key: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    /// Further variables honoured after `FOLDUP_<KEY>`, in order of precedence.
    pub also_env: &'static [&'static str],
    pub doc: &'static str,
}

impl OptionSpec {
    /// The long flag, e.g. `ci-config-id`, or `None` for options without one.
    pub fn flag(&self) -> Option<String> {
        (self.scope != Scope::NoFlag && self.kind != Kind::Secret).then(|| {
            match FLAG_NAMES.iter().find(|(key, _)| *key == self.key) {
                Some((_, flag)) => (*flag).to_owned(),
                None => self.key.replace('_', "-"),
            }
        })
    }

    /// All variables for this option, in order of precedence.
    pub fn env_vars(&self) -> Vec<String> {
        let mut vars = vec![format!("FOLDUP_{}", self.key.to_ascii_uppercase())];
        vars.extend(self.also_env.iter().map(|v| (*v).to_owned()));
        vars
    }

    /// Whether the option may be written in a config file (secrets may not: files get committed).
    pub fn allowed_in_file(&self) -> bool {
        self.kind != Kind::Secret
    }
}

/// Options whose flag is not their key with `-` (the state commands say `--store`).
const FLAG_NAMES: &[(&str, &str)] = &[("state_store", "store")];

const RUN_TYPES: &[&str] = &["auto", "pull_request", "production"];

/// Every option, in the order `foldup config` and the docs show them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "ci_config_id",
        kind: Kind::Number,
        scope: Scope::Datafold,
        also_env: &["DATAFOLD_CI_CONFIG_ID"],
        doc: "The ID of the CI config in Datafold (its CI settings screen shows it). Required to upload.",
    },
    OptionSpec {
        key: "run_type",
        kind: Kind::Choice(RUN_TYPES),
        scope: Scope::Context,
        also_env: &["DATAFOLD_RUN_TYPE"],
        doc: "pull_request, production, or auto to detect it from the CI.",
    },
    OptionSpec {
        key: "commit_sha",
        kind: Kind::Text,
        scope: Scope::Context,
        also_env: &[],
        doc: "The full 40-digit sha of the commit the dbt run built; detected when unset.",
    },
    OptionSpec {
        key: "pr_number",
        kind: Kind::Number,
        scope: Scope::Context,
        also_env: &[],
        doc: "The pull/merge request number; detected when unset.",
    },
    OptionSpec {
        key: "branch",
        kind: Kind::Text,
        scope: Scope::Context,
        also_env: &[],
        doc: "The source branch; detected when unset.",
    },
    OptionSpec {
        key: "production_branch",
        kind: Kind::Text,
        scope: Scope::Context,
        also_env: &[],
        doc: "The branch whose builds are production; else the provider's default branch, else main or master.",
    },
    OptionSpec {
        key: "provider",
        // Text, not a choice: the binary's plugin registry is the one list of providers.
        kind: Kind::Text,
        scope: Scope::Context,
        also_env: &[],
        doc: "Skip CI detection and use this provider's rules: github-actions, gitlab-ci, circleci, bitbucket-pipelines, azure-pipelines, jenkins, buildkite, aws-codebuild, google-cloud-build, drone, harness, woodpecker, travis-ci, semaphore, bitrise, local, or one of your [providers.NAME] (auto detects).",
    },
    OptionSpec {
        key: "project_dir",
        kind: Kind::Path,
        scope: Scope::Context,
        also_env: &["DBT_PROJECT_DIR"],
        doc: "The dbt project directory (holds dbt_project.yml); the working directory when unset.",
    },
    OptionSpec {
        key: "target_folder",
        kind: Kind::Path,
        scope: Scope::Upload,
        also_env: &[],
        doc: "dbt's target folder; else DBT_TARGET_PATH, else target-path in dbt_project.yml, else ./target.",
    },
    OptionSpec {
        key: "run_id",
        kind: Kind::Text,
        scope: Scope::Upload,
        also_env: &[],
        doc: "A unique run id that links base and PR builds in Datafold.",
    },
    OptionSpec {
        key: "all_files",
        kind: Kind::Switch,
        scope: Scope::Upload,
        also_env: &[],
        doc: "Archive the whole target folder, as datafold-sdk does, instead of the dbt artifacts only.",
    },
    OptionSpec {
        key: "include",
        kind: Kind::List,
        scope: Scope::Upload,
        also_env: &[],
        doc: "Extra files to archive: globs relative to the target folder.",
    },
    OptionSpec {
        key: "output",
        kind: Kind::Path,
        scope: Scope::Upload,
        also_env: &[],
        doc: "Keep the archive at this path.",
    },
    OptionSpec {
        key: "dry_run",
        kind: Kind::Switch,
        scope: Scope::Upload,
        also_env: &[],
        doc: "Do everything but the network and print what would be sent.",
    },
    OptionSpec {
        key: "require_base",
        kind: Kind::Switch,
        scope: Scope::Upload,
        also_env: &[],
        doc: "In a pull request upload, fail (exit 3) when Datafold has no production artifacts for the base commit, instead of warning.",
    },
    OptionSpec {
        key: "wait",
        kind: Kind::Switch,
        scope: Scope::Upload,
        also_env: &[],
        doc: "After a pull_request upload, wait for Datafold's diff to finish; fail if it fails.",
    },
    OptionSpec {
        key: "timeout",
        kind: Kind::Minutes,
        scope: Scope::Upload,
        also_env: &[],
        doc: "With --wait: how long to wait for the diff before giving up, in minutes (or with a unit: 90s, 2h).",
    },
    OptionSpec {
        key: "wait_poll_seconds",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "With --wait: seconds between two questions to Datafold about the diff.",
    },
    OptionSpec {
        key: "host",
        kind: Kind::Text,
        scope: Scope::Datafold,
        also_env: &["DATAFOLD_HOST"],
        doc: "Datafold's address.",
    },
    OptionSpec {
        key: "api_key",
        kind: Kind::Secret,
        scope: Scope::NoFlag,
        also_env: &["DATAFOLD_API_KEY", "DATAFOLD_APIKEY"],
        doc: "Datafold API key. A variable only (DATAFOLD_API_KEY): never a flag or a file.",
    },
    OptionSpec {
        key: "skip_unknown_run_type",
        kind: Kind::Switch,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "When the build is neither a pull request nor production (a tag, another branch), exit 0 with a notice instead of failing.",
    },
    OptionSpec {
        key: "max_artifact_age_hours",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Warn when the artifacts are older than this many hours (0 turns the warning off).",
    },
    OptionSpec {
        key: "retry_attempts",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Attempts per request on connection errors, timeouts, 429 and 5xx answers.",
    },
    OptionSpec {
        key: "retry_max_seconds",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Total seconds a request may take, retries included.",
    },
    OptionSpec {
        key: "connect_timeout_seconds",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Seconds to wait for a connection to Datafold.",
    },
    OptionSpec {
        key: "request_timeout_seconds",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Seconds one request (one attempt of an upload) may take.",
    },
    OptionSpec {
        key: "allow_insecure_http",
        kind: Kind::Switch,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Allow sending the API key over plain http to a host that is not this machine.",
    },
    OptionSpec {
        key: "lookup_timeout_seconds",
        kind: Kind::Number,
        scope: Scope::NoFlag,
        also_env: &[],
        doc: "Seconds an optional provider API look-up may take before foldup falls back.",
    },
    OptionSpec {
        key: "state_store",
        kind: Kind::Text,
        scope: Scope::State,
        also_env: &[],
        doc: "Where `foldup state push`/`pull` keep dbt state: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, or a local folder (credentials come from the cloud's own variables, never from here).",
    },
];

/// The options of the plugin crates (a CI's token, its API address), registered once by the
/// binary at start-up, so that core names no CI.
static PLUGIN_OPTIONS: OnceLock<&'static [&'static [OptionSpec]]> = OnceLock::new();

/// Registers the plugins' own option tables; the first registration wins, later ones are
/// ignored (the binary registers once, before reading any setting).
pub fn register_plugin_options(tables: &'static [&'static [OptionSpec]]) {
    let _ = PLUGIN_OPTIONS.set(tables);
}

/// Every option: core's [`OPTIONS`], then the registered plugins'.
pub fn all() -> impl Iterator<Item = &'static OptionSpec> {
    let plugins: &'static [&'static [OptionSpec]] = PLUGIN_OPTIONS.get().copied().unwrap_or(&[]);
    OPTIONS
        .iter()
        .chain(plugins.iter().flat_map(|table| table.iter()))
}

/// Finds an option by its config key.
pub fn find(key: &str) -> Option<&'static OptionSpec> {
    all().find(|o| o.key == key)
}

/// The README's configuration reference, rendered from every option (register the plugins'
/// first); a test keeps the README equal to it so the docs cannot drift from the code.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "| key (`foldup.toml`) | flag | variables | what it does |\n|---|---|---|---|\n",
    );
    for spec in all() {
        let flag = spec
            .flag()
            .map(|f| format!("`--{f}`"))
            .unwrap_or_else(|| "—".to_owned());
        let vars = spec
            .env_vars()
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let key = if spec.allowed_in_file() {
            format!("`{}`", spec.key)
        } else {
            format!("`{}` (not in files)", spec.key)
        };
        out.push_str(&format!("| {key} | {flag} | {vars} | {} |\n", spec.doc));
    }
    out
}
