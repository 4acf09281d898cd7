//! Layered settings with figment: built-in defaults (`config/foldup.toml`) < the user's config
//! file < `FOLDUP_*` and `DATAFOLD_*` variables < flags. Every value remembers its layer, which
//! `foldup config` prints and errors name.

mod file;
pub mod options;

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

pub use options::{Kind, OptionSpec, Scope, OPTIONS};

use crate::{CommitSha, ConfigError, Env, RunType, Secret};

/// The documented defaults, embedded so the binary needs no file beside it.
pub const DEFAULTS: &str = include_str!("../../../../config/foldup.toml");

/// The config file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "foldup.toml";

/// A flag as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagValue {
    pub key: &'static str,
    /// The flag's values; one for most flags, several for a repeated list flag.
    pub values: Vec<String>,
}

/// What settings are made from.
#[derive(Debug, Clone)]
pub struct SettingsInput<'a> {
    pub env: &'a Env,
    pub cwd: &'a Path,
    /// `--config FILE`: must exist. Without it `./foldup.toml` is read when present.
    pub config_file: Option<PathBuf>,
    pub flags: Vec<FlagValue>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ci_config_id: Option<u64>,
    /// `None` means auto: detect it.
    pub run_type: Option<RunType>,
    pub commit_sha: Option<CommitSha>,
    pub pr_number: Option<u64>,
    pub branch: Option<String>,
    pub production_branch: Option<String>,
    /// `None` means auto: detect the CI.
    pub provider: Option<String>,
    pub project_dir: PathBuf,
    pub target_folder: Option<PathBuf>,
    pub run_id: Option<String>,
    pub all_files: bool,
    pub include: Vec<String>,
    pub output: Option<PathBuf>,
    pub dry_run: bool,
    pub wait: bool,
    pub require_base: bool,
    pub timeout: Duration,
    pub wait_poll: Duration,
    pub host: String,
    pub api_key: Option<Secret>,
    pub skip_unknown_run_type: bool,
    pub max_artifact_age: Option<Duration>,
    pub retry_attempts: u32,
    pub retry_max: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub allow_insecure_http: bool,
    /// How long an optional provider API look-up may take before the plugin falls back; the
    /// plugins' own options (tokens, API addresses) are read with [`Settings::text_option`].
    pub lookup_timeout: Duration,
    /// Where the Slim-CI state lives (a URL or a local folder, as written).
    pub state_store: String,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// That file's text, for what is read from it besides the options (`[providers.NAME]`).
    pub config_text: Option<String>,
    figment: Figment,
}

/// A duration option as written: a bare number of minutes or text with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MinutesOrText {
    Minutes(u64),
    Text(String),
}

impl MinutesOrText {
    fn to_duration(&self) -> Result<Duration, String> {
        match self {
            MinutesOrText::Minutes(m) => Ok(Duration::from_secs(m.saturating_mul(60))),
            MinutesOrText::Text(text) => parse_duration(text),
        }
    }
}

/// Reads `90s`, `5m`, `2h` or a bare number of minutes.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let seconds_per = match unit.trim() {
        "" | "m" | "min" => 60,
        "s" | "sec" => 1,
        "h" => 3600,
        _ => {
            return Err(format!(
                "must be minutes or a number with a unit (90s, 5m, 2h), got '{}'",
                foldup_logtext::shown(text)
            ))
        }
    };
    number
        .parse::<u64>()
        .map(|n| Duration::from_secs(n.saturating_mul(seconds_per)))
        .map_err(|_| {
            format!(
                "must be minutes or a number with a unit (90s, 5m, 2h), got '{}'",
                foldup_logtext::shown(text)
            )
        })
}

/// The shape figment extracts; turned into [`Settings`] with checks that can name the source.
#[derive(Debug, Deserialize)]
struct Raw {
    ci_config_id: Option<u64>,
    run_type: String,
    commit_sha: Option<String>,
    pr_number: Option<u64>,
    branch: Option<String>,
    production_branch: Option<String>,
    provider: String,
    project_dir: Option<PathBuf>,
    target_folder: Option<PathBuf>,
    run_id: Option<String>,
    all_files: bool,
    include: Vec<String>,
    output: Option<PathBuf>,
    dry_run: bool,
    wait: bool,
    require_base: bool,
    timeout: MinutesOrText,
    wait_poll_seconds: u64,
    host: String,
    api_key: Option<String>,
    skip_unknown_run_type: bool,
    max_artifact_age_hours: u64,
    retry_attempts: u32,
    retry_max_seconds: u64,
    connect_timeout_seconds: u64,
    request_timeout_seconds: u64,
    allow_insecure_http: bool,
    lookup_timeout_seconds: u64,
    state_store: String,
}

impl Settings {
    /// Builds the settings from every layer.
    pub fn load(input: SettingsInput<'_>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new().merge(Layer::toml("built-in default", DEFAULTS)?);

        let config_file = match &input.config_file {
            Some(path) => {
                let path = input.cwd.join(path);
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist or is not a regular file; check the path given to --config",
                        crate::sanitize_line(&path.display().to_string())
                    )));
                }
                Some(path)
            }
            None => Some(input.cwd.join(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let mut config_text = None;
        if let Some(path) = &config_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "cannot read config file {}: {e}; make it a readable UTF-8 text file",
                    crate::sanitize_line(&path.display().to_string())
                ))
            })?;
            file::validate(path, &text)?;
            figment = figment.merge(Layer::toml(
                &format!(
                    "config file {}",
                    crate::sanitize_line(&path.display().to_string())
                ),
                &text,
            )?);
            config_text = Some(text);
        }

        // Variables: for each option the first variable set wins, so merge lowest first.
        for spec in options::all() {
            for var in spec.env_vars().iter().rev() {
                if let Some(raw) = input.env.get(var) {
                    let value = parse_value(spec, &[raw.to_owned()], var)?;
                    figment = figment.merge(Layer::single(spec.key, value, var.clone()));
                }
            }
        }

        for flag in &input.flags {
            let spec = options::find(flag.key)
                .ok_or_else(|| ConfigError(format!("internal: no option named {}", flag.key)))?;
            let origin = format!(
                "flag --{}",
                spec.flag().unwrap_or_else(|| flag.key.replace('_', "-"))
            );
            let value = parse_value(spec, &flag.values, &origin)?;
            figment = figment.merge(Layer::single(spec.key, value, origin));
        }

        let raw: Raw = figment.extract().map_err(|e| {
            ConfigError(format!(
                "invalid configuration: {}",
                crate::sanitize_line(&e.to_string())
            ))
        })?;
        let mut settings = Self::from_raw(raw, figment, config_file, input.cwd)?;
        settings.config_text = config_text;
        Ok(settings)
    }

    fn from_raw(
        raw: Raw,
        figment: Figment,
        config_file: Option<PathBuf>,
        cwd: &Path,
    ) -> Result<Settings, ConfigError> {
        let origin = |key: &str| source_of(&figment, key).unwrap_or_else(|| key.to_owned());
        let commit_sha = raw
            .commit_sha
            .map(|s| {
                s.parse::<CommitSha>()
                    .map_err(|e| ConfigError(format!("{} (from {})", e, origin("commit_sha"))))
            })
            .transpose()?;
        let run_type = match raw.run_type.as_str() {
            "auto" => None,
            other => Some(other.parse::<RunType>().map_err(ConfigError)?),
        };
        let secret = |s: Option<String>| {
            s.filter(|s| !s.trim().is_empty())
                .map(|s| Secret::new(s.trim()))
        };
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
        let hours = raw.max_artifact_age_hours;
        Ok(Settings {
            ci_config_id: raw.ci_config_id,
            run_type,
            commit_sha,
            pr_number: raw.pr_number,
            branch: raw.branch,
            production_branch: raw.production_branch,
            provider: Some(raw.provider).filter(|p| p != "auto"),
            project_dir: raw
                .project_dir
                .map(resolve)
                .unwrap_or_else(|| cwd.to_path_buf()),
            target_folder: raw.target_folder.map(resolve),
            run_id: raw.run_id,
            all_files: raw.all_files,
            include: raw.include,
            output: raw.output.map(resolve),
            dry_run: raw.dry_run,
            wait: raw.wait,
            require_base: raw.require_base,
            timeout: raw
                .timeout
                .to_duration()
                .map_err(|e| ConfigError(format!("{} {e}", origin("timeout"))))?,
            wait_poll: Duration::from_secs(raw.wait_poll_seconds.max(1)),
            host: raw.host.trim_end_matches('/').to_owned(),
            api_key: secret(raw.api_key),
            skip_unknown_run_type: raw.skip_unknown_run_type,
            max_artifact_age: (hours > 0).then(|| Duration::from_secs(hours.saturating_mul(3600))),
            retry_attempts: raw.retry_attempts.max(1),
            retry_max: Duration::from_secs(raw.retry_max_seconds),
            connect_timeout: Duration::from_secs(raw.connect_timeout_seconds.max(1)),
            request_timeout: Duration::from_secs(raw.request_timeout_seconds.max(1)),
            allow_insecure_http: raw.allow_insecure_http,
            lookup_timeout: Duration::from_secs(raw.lookup_timeout_seconds.max(1)),
            state_store: raw.state_store,
            config_file,
            config_text: None,
            figment,
        })
    }

    /// Where the effective value of `key` came from: `"flag --run-type"`, `"FOLDUP_HOST"`,
    /// `"config file ./foldup.toml"`, `"built-in default"`; `None` when unset.
    pub fn source(&self, key: &str) -> Option<String> {
        source_of(&self.figment, key)
    }

    /// The effective text of option `key`, trimmed, when it is set and not empty. For the options
    /// only one plugin reads (its token, its API address): the binary reads them here and hands
    /// them to the plugin, so the settings need no field per CI.
    pub fn text_option(&self, key: &str) -> Option<String> {
        self.figment
            .extract_inner::<Option<String>>(key)
            .ok()
            .flatten()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// Option `key` as a secret (a token), when it is set and not empty.
    pub fn secret_option(&self, key: &str) -> Option<Secret> {
        self.text_option(key).map(Secret::new)
    }

    /// Every option with its effective value (secrets redacted) and source, for `foldup config`.
    pub fn describe(&self) -> Vec<(&'static str, String, Option<String>)> {
        options::all()
            .map(|spec| {
                let value = match self.figment.find_value(spec.key) {
                    Err(_) => "(unset)".to_owned(),
                    Ok(_) if spec.kind == Kind::Secret => "*** (set)".to_owned(),
                    Ok(v) => show_value(&v),
                };
                (spec.key, value, self.source(spec.key))
            })
            .collect()
    }
}

/// Checks a config file's text as [`Settings::load`] checks `foldup.toml` (TOML syntax, known
/// keys, no secrets, each value's type, then the values themselves), without reading any file or
/// variable. The error names `path`, the line and the key. For fuzzing and editors.
pub fn check_config_text(path: &Path, text: &str) -> Result<(), ConfigError> {
    file::validate(path, text)?;
    let shown = crate::sanitize_line(&path.display().to_string());
    let figment = Figment::new()
        .merge(Layer::toml("built-in default", DEFAULTS)?)
        .merge(Layer::toml(&format!("config file {shown}"), text)?);
    let raw: Raw = figment.extract().map_err(|e| {
        ConfigError(format!(
            "invalid configuration: {}",
            crate::sanitize_line(&e.to_string())
        ))
    })?;
    Settings::from_raw(raw, figment, Some(path.to_path_buf()), Path::new(".")).map(|_| ())
}

fn source_of(figment: &Figment, key: &str) -> Option<String> {
    figment.find_metadata(key).map(|m| m.name.to_string())
}

fn show_value(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Array(_, items) => format!(
            "[{}]",
            items.iter().map(show_value).collect::<Vec<_>>().join(", ")
        ),
        other => other
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| other.to_bool().map(|b| b.to_string()))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

/// Words for what an option of `kind` takes, for error sentences.
pub(crate) fn describe_kind(kind: Kind) -> String {
    match kind {
        Kind::Text => "text".to_owned(),
        Kind::Path => "a path".to_owned(),
        Kind::Number => "a whole number (for example 1234)".to_owned(),
        Kind::Minutes => "minutes, or a number with a unit (90s, 5m, 2h)".to_owned(),
        Kind::Switch => "true or false".to_owned(),
        Kind::List => "a list of text, like [\"a\", \"b\"]".to_owned(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::Secret => "set in a variable, not here".to_owned(),
    }
}

/// Turns a variable's or flag's text into a typed value, naming `origin` when it does not fit.
fn parse_value(spec: &OptionSpec, raw: &[String], origin: &str) -> Result<Value, ConfigError> {
    let first = raw.first().map(|s| s.trim()).unwrap_or_default();
    let bad = |got: &str| {
        ConfigError(format!(
            "{origin} must be {}, got '{}'",
            describe_kind(spec.kind),
            foldup_logtext::shown(got)
        ))
    };
    Ok(match spec.kind {
        Kind::Text | Kind::Path | Kind::Secret => Value::from(first.to_owned()),
        Kind::Number => Value::from(first.parse::<u64>().map_err(|_| bad(first))?),
        Kind::Minutes => {
            parse_duration(first).map_err(|_| bad(first))?;
            Value::from(first.to_owned())
        }
        Kind::Switch => Value::from(match first.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad(first)),
        }),
        Kind::List => Value::from(
            raw.iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
        Kind::Choice(words) => {
            if !words.contains(&first) {
                return Err(bad(first));
            }
            Value::from(first.to_owned())
        }
    })
}

/// A figment provider with a name of our choosing, so each value's source reads well.
struct Layer {
    name: String,
    data: Dict,
}

impl Layer {
    fn toml(name: &str, text: &str) -> Result<Layer, ConfigError> {
        let data: Dict = toml_edit::de::from_str(text).map_err(|e| {
            ConfigError(format!("{name}: {}", crate::sanitize_line(&e.to_string())))
        })?;
        Ok(Layer {
            name: name.to_owned(),
            data,
        })
    }

    fn single(key: &str, value: Value, name: String) -> Layer {
        let mut data = Dict::new();
        data.insert(key.to_owned(), value);
        Layer { name, data }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

#[cfg(test)]
mod tests;

impl Settings {
    /// Applies the user's overrides (flag > variable > file) on top of the detected context;
    /// each overridden value's source names the layer it came from.
    pub fn apply_to(&self, ctx: &mut crate::CiContext) {
        use crate::Sourced;
        let origin = |key: &str| self.source(key).unwrap_or_else(|| key.to_owned());
        if let Some(sha) = &self.commit_sha {
            ctx.commit_sha = Sourced::new(sha.clone(), origin("commit_sha"));
        }
        if let Some(run_type) = self.run_type {
            ctx.run_type = Sourced::new(run_type, origin("run_type"));
        }
        if let Some(pr) = self.pr_number {
            ctx.pr_number = Sourced::new(pr, origin("pr_number"));
        }
        if let Some(branch) = &self.branch {
            ctx.branch = Sourced::new(branch.clone(), origin("branch"));
        }
    }

    /// Where and how to look for the dbt artifacts. `DBT_TARGET_PATH` ranks below every foldup
    /// layer, as PRODUCT.md orders it.
    pub fn locate_options(
        &self,
        env: &Env,
        now: std::time::SystemTime,
    ) -> foldup_artifacts::LocateOptions {
        foldup_artifacts::LocateOptions {
            target_folder: self.target_folder.clone().map(|p| {
                (
                    p,
                    self.source("target_folder")
                        .unwrap_or_else(|| "target_folder".to_owned()),
                )
            }),
            dbt_target_path: env.get("DBT_TARGET_PATH").map(PathBuf::from),
            project_dir: self.project_dir.clone(),
            all_files: self.all_files,
            include: self.include.clone(),
            max_age: self.max_artifact_age,
            now,
        }
    }

    /// What a plugin needs to detect the context.
    pub fn detect_options(&self) -> crate::DetectOptions {
        crate::DetectOptions {
            production_branch: self.production_branch.clone(),
            project_dir: self.project_dir.clone(),
        }
    }
}
