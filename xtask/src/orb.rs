//! `cargo xtask orb`: packs the CircleCI orb in `orb/src` (the orb-tools layout) into
//! `target/orb/orb.yml` the way `circleci orb pack` does, resolving `<< include(scripts/…) >>`,
//! then checks it: CircleCI's config schema (check-jsonschema's `vendor.circle-ci`), structural
//! rules of its own (every `<< parameters.x >>` is declared and every parameter used, every include
//! resolves and every script is included, every command, job and executor referenced exists with
//! the parameters it takes), the examples (valid configs, equal to `examples/ci/circleci/`), and
//! shellcheck on the scripts.
//!
//! `cargo xtask orb-test` also runs the orb: it expands the commands and the job as CircleCI does
//! (parameters substituted, `when` evaluated, `run` steps under `bash -eo pipefail` with the
//! step's `environment`) with CircleCI's documented variables, installs foldup from a local mirror
//! of the release and uploads the bundled example to the test server, then asserts what the
//! server received: the commit and the run type of a pull request build and of a production build.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use crate::base::repo::relative;
use crate::harness::datafold_server::{self, DatafoldServer};
use crate::harness::release_mirror::ReleaseMirror;
use crate::harness::validators;

const SECTIONS: [&str; 4] = ["commands", "examples", "executors", "jobs"];
/// Steps CircleCI itself provides; the orb may use them without defining them.
const BUILT_IN_STEPS: [&str; 13] = [
    "run",
    "checkout",
    "attach_workspace",
    "persist_to_workspace",
    "save_cache",
    "restore_cache",
    "store_artifacts",
    "store_test_results",
    "add_ssh_keys",
    "setup_remote_docker",
    "when",
    "unless",
    "deploy",
];
/// Keys a workflow job entry may carry besides the job's own parameters.
const WORKFLOW_JOB_KEYS: [&str; 10] = [
    "name",
    "requires",
    "context",
    "filters",
    "matrix",
    "type",
    "pre-steps",
    "post-steps",
    "serial-group",
    "override-with",
];
const PARAMETER_TYPES: [&str; 7] = [
    "string",
    "boolean",
    "integer",
    "enum",
    "executor",
    "steps",
    "env_var_name",
];

fn src_dir() -> PathBuf {
    crate::repo_root().join("orb/src")
}

fn packed_path() -> PathBuf {
    crate::repo_root().join("target/orb/orb.yml")
}

pub fn run(_args: &[String]) -> Result<()> {
    eprintln!("\n==> orb: pack orb/src into target/orb/orb.yml and validate it");
    let packed = pack_and_check()?;
    eprintln!(
        "    packed: {} ({} bytes)",
        relative(&packed_path()),
        packed.len()
    );
    Ok(())
}

pub fn test(args: &[String]) -> Result<()> {
    run(args)?;
    run_scripts()
}

/// Packs, writes `target/orb/orb.yml`, and runs every static check; returns the packed text.
fn pack_and_check() -> Result<String> {
    let src = src_dir();
    let mut used_scripts = BTreeSet::new();
    let (packed, element_texts) = pack(&src, &mut used_scripts)?;
    let out = packed_path();
    fs::create_dir_all(out.parent().context("orb output folder")?)?;
    fs::write(&out, &packed)?;
    let orb = validators::parse_yaml(&packed, "the packed orb")?;

    let mut problems = Vec::new();
    check_scripts(&src, &used_scripts, &mut problems)?;
    for (key, text) in &element_texts {
        check_parameter_references(key, text, &orb, &mut problems);
    }
    check_structure(&orb, &mut problems)?;
    check_examples(&orb, &mut problems)?;
    if !problems.is_empty() {
        bail!(
            "the orb has {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    eprintln!(
        "    ok: structure: parameters, includes, commands, jobs, executors and examples agree"
    );

    validators::check_schema("vendor.circle-ci", &[&out])?;
    let examples_dir = crate::repo_root().join("examples/ci/circleci");
    let examples: Vec<PathBuf> = yaml_files(&examples_dir)?;
    validators::check_schema(
        "vendor.circle-ci",
        &examples.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    validators::shellcheck("sh", &[&src.join("scripts/install.sh")])?;
    validators::shellcheck("bash", &[&src.join("scripts/upload.sh")])?;
    for script in ["impact.sh", "state_push.sh", "state_pull.sh"] {
        validators::shellcheck("bash", &[&src.join("scripts").join(script)])?;
    }
    Ok(packed)
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// `circleci orb pack`: `@orb.yml`, then each section's files as `section: name: <file>`.
/// Returns the text and, per element (`commands.upload`), its text after includes.
fn pack(
    src: &Path,
    used_scripts: &mut BTreeSet<String>,
) -> Result<(String, BTreeMap<String, String>)> {
    let head = fs::read_to_string(src.join("@orb.yml")).context("orb/src/@orb.yml is missing")?;
    let mut out = format!("{}\n", head.trim_end());
    let mut texts = BTreeMap::new();
    for section in SECTIONS {
        let dir = src.join(section);
        if !dir.is_dir() {
            continue;
        }
        let files = yaml_files(&dir)?;
        if files.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{section}:\n"));
        for file in files {
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .context("a file name is not UTF-8")?;
            let text = fs::read_to_string(&file)?;
            let resolved = resolve_includes(&text, src, &relative(&file), used_scripts)?;
            out.push_str(&format!("  {name}:\n"));
            for line in resolved.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            texts.insert(format!("{section}.{name}"), resolved);
        }
    }
    Ok((out, texts))
}

/// Replaces `key: << include(path) >>` by `key: |` and the file's lines, as CircleCI does.
fn resolve_includes(
    text: &str,
    src: &Path,
    file: &str,
    used: &mut BTreeSet<String>,
) -> Result<String> {
    let mut out = String::new();
    for (number, line) in text.lines().enumerate() {
        let Some(start) = line.find("<< include(") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let rest = &line[start + "<< include(".len()..];
        let end = rest.find(") >>").with_context(|| {
            format!(
                "{file}:{}: an include must read << include(path) >>",
                number + 1
            )
        })?;
        let path = rest[..end].trim();
        let before = &line[..start];
        let after = rest[end + ") >>".len()..].trim();
        if !before.trim_end().ends_with(':') || !after.is_empty() {
            bail!("{file}:{}: an include must be the whole value of a key (`command: << include({path}) >>`)", number + 1);
        }
        let included = src.join(path);
        let content = fs::read_to_string(&included).with_context(|| {
            format!(
                "{file}:{}: the include {path} does not resolve (no orb/src/{path})",
                number + 1
            )
        })?;
        used.insert(path.to_owned());
        let indent = line.len() - line.trim_start().len() + 2;
        out.push_str(before.trim_end());
        out.push_str(" |\n");
        for script_line in content.lines() {
            if script_line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&" ".repeat(indent));
                out.push_str(script_line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

fn check_scripts(src: &Path, used: &BTreeSet<String>, problems: &mut Vec<String>) -> Result<()> {
    let scripts = src.join("scripts");
    for entry in fs::read_dir(&scripts)? {
        let path = entry?.path();
        let name = format!(
            "scripts/{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        );
        if !used.contains(&name) {
            problems.push(format!(
                "orb/src/{name} is included by no command or job; include it or delete it"
            ));
        }
        if fs::read_to_string(&path)?.contains("<<") {
            problems.push(format!("orb/src/{name} contains `<<`, which CircleCI would read as config syntax; pass values as environment variables instead"));
        }
    }
    let root_installer = fs::read(crate::repo_root().join("install.sh"))?;
    if fs::read(scripts.join("install.sh")).ok() != Some(root_installer) {
        problems.push("orb/src/scripts/install.sh differs from install.sh; copy it: cp install.sh orb/src/scripts/install.sh".to_owned());
    }
    Ok(())
}

/// The names inside `<< parameters.NAME >>` in `text`, and any other `<< … >>` found.
fn parameter_references(text: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut other = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(">>") else {
            other.push(after.lines().next().unwrap_or("").to_owned());
            break;
        };
        let inner = after[..end].trim();
        if let Some(name) = inner.strip_prefix("parameters.") {
            names.insert(name.to_owned());
        } else if !inner.starts_with("pipeline.") {
            other.push(format!("<< {inner} >>"));
        }
        rest = &after[end + 2..];
    }
    (names, other)
}

fn check_parameter_references(key: &str, text: &str, orb: &Value, problems: &mut Vec<String>) {
    let (section, name) = key.split_once('.').unwrap_or((key, ""));
    if section == "examples" {
        return;
    }
    let declared: BTreeSet<String> = orb[section][name]["parameters"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let (used, other) = parameter_references(text);
    for missing in used.difference(&declared) {
        problems.push(format!(
            "{key} uses << parameters.{missing} >> but declares no parameter {missing}"
        ));
    }
    for unused in declared.difference(&used) {
        problems.push(format!(
            "{key} declares the parameter {unused} but never uses it"
        ));
    }
    for syntax in other {
        problems.push(format!(
            "{key} has {syntax}, which is neither a parameter nor a pipeline value"
        ));
    }
}

fn check_structure(orb: &Value, problems: &mut Vec<String>) -> Result<()> {
    if orb["version"].as_f64() != Some(2.1) {
        problems.push("@orb.yml must say version: 2.1".to_owned());
    }
    if orb["description"]
        .as_str()
        .is_none_or(|d| d.trim().is_empty())
    {
        problems.push("@orb.yml needs a description".to_owned());
    }
    let version = crate::base::repo::workspace_version()?;
    for section in ["commands", "jobs", "executors"] {
        let Some(elements) = orb[section].as_object() else {
            problems.push(format!("the orb has no {section}"));
            continue;
        };
        for (name, element) in elements {
            let key = format!("{section}.{name}");
            if element["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
            {
                problems.push(format!("{key} needs a description"));
            }
            check_parameter_declarations(&key, &element["parameters"], problems);
            if let Some(default) = element["parameters"]["version"]["default"].as_str() {
                if default != version {
                    problems.push(format!("{key}'s version parameter defaults to {default}, but the workspace is at {version}; update it"));
                }
            }
            if section != "executors" {
                check_steps(&key, &element["steps"], orb, problems);
            }
        }
    }
    for (name, job) in orb["jobs"].as_object().into_iter().flatten() {
        let key = format!("jobs.{name}");
        match &job["executor"] {
            Value::Null => {
                if job["docker"].is_null() && job["machine"].is_null() && job["macos"].is_null() {
                    problems.push(format!("{key} names no executor"));
                }
            }
            executor => {
                let (executor_name, args) = match executor {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Object(map) => {
                        let mut args = map.clone();
                        let name = args
                            .remove("name")
                            .and_then(|n| n.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        (name, args)
                    }
                    _ => (String::new(), Map::new()),
                };
                let Some(declared) = orb["executors"].get(&executor_name) else {
                    problems.push(format!(
                        "{key} uses the executor '{executor_name}', which the orb does not define"
                    ));
                    continue;
                };
                check_arguments(
                    &key,
                    &format!("executors.{executor_name}"),
                    &declared["parameters"],
                    &args,
                    problems,
                );
            }
        }
    }
    Ok(())
}

fn check_parameter_declarations(key: &str, parameters: &Value, problems: &mut Vec<String>) {
    for (name, spec) in parameters.as_object().into_iter().flatten() {
        // orb-tools review RC010: parameter names are snake_case.
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.push(format!(
                "{key}: parameter {name} must be snake_case (orb-tools review RC010)"
            ));
        }
        let kind = spec["type"].as_str().unwrap_or("");
        if !PARAMETER_TYPES.contains(&kind) {
            problems.push(format!(
                "{key}: parameter {name} has no valid type ({kind:?})"
            ));
        }
        if spec["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.push(format!("{key}: parameter {name} needs a description"));
        }
        let default = &spec["default"];
        let fits = match (kind, default) {
            (_, Value::Null) => true,
            ("string" | "env_var_name", Value::String(_)) => true,
            ("boolean", Value::Bool(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("enum", Value::String(s)) => spec["enum"]
                .as_array()
                .is_some_and(|e| e.iter().any(|v| v == s)),
            _ => false,
        };
        if !fits {
            problems.push(format!(
                "{key}: parameter {name}'s default {default} is not a {kind}"
            ));
        }
    }
}

/// Every step is a CircleCI step or a command of the orb, given parameters it declares.
fn check_steps(key: &str, steps: &Value, orb: &Value, problems: &mut Vec<String>) {
    let Some(steps) = steps.as_array() else {
        problems.push(format!("{key} has no steps"));
        return;
    };
    for step in steps {
        let (name, args) = step_name_and_args(step);
        if name == "when" || name == "unless" {
            check_steps(
                key,
                &args.get("steps").cloned().unwrap_or(Value::Null),
                orb,
                problems,
            );
            continue;
        }
        if BUILT_IN_STEPS.contains(&name.as_str()) {
            continue;
        }
        match orb["commands"].get(&name) {
            Some(command) => check_arguments(key, &format!("commands.{name}"), &command["parameters"], &args, problems),
            None => problems.push(format!("{key} runs the step '{name}', which is neither CircleCI's nor a command of the orb")),
        }
    }
}

fn step_name_and_args(step: &Value) -> (String, Map<String, Value>) {
    match step {
        Value::String(name) => (name.clone(), Map::new()),
        Value::Object(map) if map.len() == 1 => {
            let (name, args) = map.iter().next().expect("one key");
            (name.clone(), args.as_object().cloned().unwrap_or_default())
        }
        _ => (String::new(), Map::new()),
    }
}

fn check_arguments(
    key: &str,
    target: &str,
    declared: &Value,
    args: &Map<String, Value>,
    problems: &mut Vec<String>,
) {
    let declared = declared.as_object().cloned().unwrap_or_default();
    for arg in args.keys() {
        if !declared.contains_key(arg) {
            problems.push(format!(
                "{key} passes '{arg}' to {target}, which has no such parameter"
            ));
        }
    }
    for (name, spec) in &declared {
        if spec.get("default").is_none() && !args.contains_key(name) {
            problems.push(format!(
                "{key} does not pass the required parameter '{name}' to {target}"
            ));
        }
    }
}

/// Examples: a description and a usage that is a config using this orb at the workspace version,
/// with valid commands, jobs and parameters, equal to the file of the same name in
/// `examples/ci/circleci/`.
fn check_examples(orb: &Value, problems: &mut Vec<String>) -> Result<()> {
    let version = crate::base::repo::workspace_version()?;
    let examples = orb["examples"].as_object().cloned().unwrap_or_default();
    if examples.is_empty() {
        problems.push("the orb has no examples".to_owned());
    }
    for (name, example) in &examples {
        let key = format!("examples.{name}");
        if example["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.push(format!("{key} needs a description"));
        }
        let usage = &example["usage"];
        check_config_uses_orb(&key, usage, orb, &version, problems);
        let twin = crate::repo_root().join(format!("examples/ci/circleci/{name}.yml"));
        match validators::load_yaml(&twin) {
            Ok(config) if &config == usage => {}
            Ok(_) => problems.push(format!(
                "{key}'s usage differs from {}; make them the same config",
                relative(&twin)
            )),
            Err(e) => problems.push(format!(
                "{key} has no readable twin {}: {e:#}",
                relative(&twin)
            )),
        }
    }
    for file in yaml_files(&crate::repo_root().join("examples/ci/circleci"))? {
        let config = validators::load_yaml(&file)?;
        check_config_uses_orb(&relative(&file), &config, orb, &version, problems);
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !examples.contains_key(stem) {
            problems.push(format!(
                "{} has no orb example orb/src/examples/{stem}.yml",
                relative(&file)
            ));
        }
    }
    Ok(())
}

fn check_config_uses_orb(
    key: &str,
    config: &Value,
    orb: &Value,
    version: &str,
    problems: &mut Vec<String>,
) {
    let wanted = format!("foldup/foldup@{version}");
    let Some(alias) = config["orbs"].as_object().and_then(|orbs| {
        orbs.iter()
            .find(|(_, v)| v.as_str().is_some_and(|s| s.starts_with("foldup/foldup@")))
            .map(|(k, v)| (k.clone(), v.clone()))
    }) else {
        problems.push(format!(
            "{key} does not import the orb (orbs: foldup: {wanted})"
        ));
        return;
    };
    if alias.1 != wanted {
        problems.push(format!(
            "{key} imports {} but the workspace is at {wanted}",
            alias.1
        ));
    }
    let prefix = format!("{}/", alias.0);
    let mut uses = 0;
    for (job_name, job) in config["jobs"].as_object().into_iter().flatten() {
        for step in job["steps"].as_array().into_iter().flatten() {
            let (name, args) = step_name_and_args(step);
            if let Some(command) = name.strip_prefix(&prefix) {
                uses += 1;
                match orb["commands"].get(command) {
                    Some(c) => check_arguments(
                        &format!("{key} jobs.{job_name}"),
                        &format!("commands.{command}"),
                        &c["parameters"],
                        &args,
                        problems,
                    ),
                    None => problems.push(format!(
                        "{key} jobs.{job_name} runs {name}, which the orb does not define"
                    )),
                }
            }
        }
    }
    for (workflow_name, workflow) in config["workflows"].as_object().into_iter().flatten() {
        for entry in workflow["jobs"].as_array().into_iter().flatten() {
            let (name, mut args) = step_name_and_args(entry);
            if let Some(job) = name.strip_prefix(&prefix) {
                uses += 1;
                args.retain(|k, _| !WORKFLOW_JOB_KEYS.contains(&k.as_str()));
                match orb["jobs"].get(job) {
                    Some(j) => check_arguments(&format!("{key} workflows.{workflow_name}"), &format!("jobs.{job}"), &j["parameters"], &args, problems),
                    None => problems.push(format!("{key} workflows.{workflow_name} runs {name}, which the orb does not define")),
                }
            }
        }
    }
    if uses == 0 {
        problems.push(format!(
            "{key} imports the orb but uses none of its commands or jobs"
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Running the orb's steps as CircleCI would.

/// A `run` step after parameter substitution.
struct RunStep {
    name: String,
    environment: Vec<(String, String)>,
    command: String,
}

/// The parameters' values: the declared defaults, overridden by the arguments.
fn parameter_values(
    key: &str,
    declared: &Value,
    args: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut values = Map::new();
    for (name, spec) in declared.as_object().into_iter().flatten() {
        match args.get(name).or_else(|| spec.get("default")) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None => bail!("{key}: the required parameter {name} has no value"),
        }
    }
    for name in args.keys() {
        if !values.contains_key(name) {
            bail!("{key}: no parameter {name}");
        }
    }
    Ok(values)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Substitutes `<< parameters.x >>`: a whole-value reference keeps the parameter's type.
fn render(value: &Value, params: &Map<String, Value>) -> Result<Value> {
    Ok(match value {
        Value::String(text) => {
            let trimmed = text.trim();
            if let Some(name) = trimmed
                .strip_prefix("<< parameters.")
                .and_then(|r| r.strip_suffix(">>"))
            {
                if trimmed.matches("<<").count() == 1 {
                    return params
                        .get(name.trim())
                        .cloned()
                        .with_context(|| format!("no parameter {}", name.trim()));
                }
            }
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("<< parameters.") {
                out.push_str(&rest[..start]);
                let after = &rest[start + "<< parameters.".len()..];
                let end = after
                    .find(">>")
                    .context("an unterminated << parameters. >>")?;
                let name = after[..end].trim();
                out.push_str(&scalar_text(
                    params
                        .get(name)
                        .with_context(|| format!("no parameter {name}"))?,
                ));
                rest = &after[end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render(i, params))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), render(v, params)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Null => false,
        _ => true,
    }
}

/// Expands steps (already rendered for their element) into `run` steps.
fn expand_steps(
    orb: &Value,
    steps: &Value,
    out: &mut Vec<RunStep>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    for step in steps.as_array().context("steps must be a list")? {
        let (name, args) = step_name_and_args(step);
        match name.as_str() {
            "run" => {
                let command = args
                    .get("command")
                    .map(scalar_text)
                    .context("a run step without a command")?;
                let environment = args
                    .get("environment")
                    .and_then(Value::as_object)
                    .map(|env| {
                        env.iter()
                            .map(|(k, v)| (k.clone(), scalar_text(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(RunStep {
                    name: args.get("name").map(scalar_text).unwrap_or_default(),
                    environment,
                    command,
                });
            }
            "when" | "unless" => {
                let condition = truthy(args.get("condition").unwrap_or(&Value::Null));
                if condition == (name == "when") {
                    expand_steps(orb, args.get("steps").unwrap_or(&Value::Null), out, skipped)?;
                }
            }
            builtin if BUILT_IN_STEPS.contains(&builtin) => skipped.push(builtin.to_owned()),
            command => {
                let declared = &orb["commands"][command];
                if declared.is_null() {
                    bail!("no command {command}");
                }
                let params = parameter_values(
                    &format!("commands.{command}"),
                    &declared["parameters"],
                    &args,
                )?;
                expand_steps(orb, &render(&declared["steps"], &params)?, out, skipped)?;
            }
        }
    }
    Ok(())
}

/// The run steps of a job invoked with `args`.
fn expand_job(
    orb: &Value,
    job: &str,
    args: Map<String, Value>,
) -> Result<(Vec<RunStep>, Vec<String>)> {
    let declared = &orb["jobs"][job];
    let params = parameter_values(&format!("jobs.{job}"), &declared["parameters"], &args)?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    expand_steps(
        orb,
        &render(&declared["steps"], &params)?,
        &mut out,
        &mut skipped,
    )?;
    Ok((out, skipped))
}

/// Runs the steps as CircleCI does: `/bin/bash -eo pipefail` on the command, the job's
/// environment plus the step's, in the working directory; `$BASH_ENV` is read by bash itself.
fn run_steps(
    steps: &[RunStep],
    job_env: &[(String, String)],
    cwd: &Path,
    scratch: &Path,
) -> Result<String> {
    let mut log = String::new();
    for (index, step) in steps.iter().enumerate() {
        let script = scratch.join(format!("step-{index}.sh"));
        fs::write(&script, &step.command)?;
        let output = Command::new("/bin/bash")
            .arg("-eo")
            .arg("pipefail")
            .arg(&script)
            .env_clear()
            .envs(job_env.iter().map(|(k, v)| (k, v)))
            .envs(step.environment.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .output()?;
        let text = format!(
            "--- step '{}'\n{}{}",
            step.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        log.push_str(&text);
        if !output.status.success() {
            bail!(
                "the orb step '{}' failed ({}):\n{log}",
                step.name,
                output.status
            );
        }
    }
    if log.contains(datafold_server::API_KEY) {
        bail!("the orb steps printed the Datafold API key:\n{log}");
    }
    Ok(log)
}

fn args(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn run_scripts() -> Result<()> {
    eprintln!("\n==> orb-test: the orb's steps under bash with CircleCI's variables, against the test server");
    let dist = crate::harness::release_build::fresh()?;
    // The orb as its release packs it: install.sh with the checksums of the archives pinned.
    let unpinned = fs::read_to_string(src_dir().join("scripts/install.sh"))?;
    let pinned = fs::read_to_string(&dist.install_script)?;
    let mut orb = validators::load_yaml(&packed_path())?;
    if replace_in_strings(&mut orb, unpinned.trim_end(), pinned.trim_end()) == 0 {
        bail!("the packed orb does not contain orb/src/scripts/install.sh; is it still included?");
    }
    let scratch = crate::harness::scratch::fresh_scratch("orb-test")?;
    let mirror_root = scratch.join("mirror");
    dist.publish_to(&mirror_root)?;
    let mirror = ReleaseMirror::serve(&mirror_root)?;
    let server = DatafoldServer::start()?;
    let project = scratch.join("project");
    crate::base::tree::copy_example_project(&project)?;
    let home = scratch.join("home");
    fs::create_dir_all(&home)?;

    let base_env = |case: &str, extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", home.to_str().unwrap_or("/tmp")),
            ("CI", "true"),
            ("CIRCLECI", "true"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "shop"),
            ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
            ("CIRCLE_BUILD_NUM", "101"),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/101"),
            ("CIRCLE_JOB", case),
            ("CIRCLE_NODE_INDEX", "0"),
            ("CIRCLE_NODE_TOTAL", "1"),
            ("CIRCLE_USERNAME", "octocat"),
            ("CIRCLE_WORKFLOW_ID", "6a3f7c1e-9d2b-4e8a-b1c0-5f4d3e2a1b0c"),
            ("CIRCLE_WORKING_DIRECTORY", project.to_str().unwrap_or(".")),
        ]
        .iter()
        .chain(extra.iter())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.push((
            "BASH_ENV".to_owned(),
            scratch
                .join(format!("bash-env-{}", case.replace('/', "-")))
                .display()
                .to_string(),
        ));
        env
    };
    let config_id = datafold_server::CI_CONFIG_ID.to_string();

    // A pull request build, through the install and upload commands as the pull-request example
    // uses them, with the key in a variable of another name (api_key_variable).
    // Production has pushed no state yet: state_pull with if_present leaves DBT_STATE unset.
    let pr_sha = "5f1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5";
    let install_dir = scratch.join("bin-pull-request");
    let store = scratch.join("state-store").display().to_string();
    let dbt_sees_state = serde_json::json!({"run": {"name": "dbt", "command": "echo \"dbt sees DBT_STATE='${DBT_STATE:-}'\"; if [ -n \"${DBT_STATE:-}\" ]; then test -f \"$DBT_STATE/manifest.json\"; fi"}});
    let steps = Value::Array(vec![
        serde_json::json!({"install": {"version": dist.version, "install_dir": install_dir.display().to_string(), "base_url": mirror.url()}}),
        serde_json::json!({"state_pull": {"store": store, "if_present": true}}),
        dbt_sees_state.clone(),
        serde_json::json!({"upload": {"ci_config_id": config_id, "host": server.url(), "api_key_variable": "SHOP_DATAFOLD_KEY"}}),
    ]);
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    expand_steps(&orb, &steps, &mut run, &mut skipped)?;
    let env = base_env(
        "dbt-pull-request",
        &[
            ("CIRCLE_SHA1", pr_sha),
            ("CIRCLE_BRANCH", "feature/orders"),
            (
                "CIRCLE_PULL_REQUEST",
                "https://github.com/acme/shop/pull/42",
            ),
            (
                "CIRCLE_PULL_REQUESTS",
                "https://github.com/acme/shop/pull/42",
            ),
            ("SHOP_DATAFOLD_KEY", datafold_server::API_KEY),
        ],
    );
    let before = server.uploads()?.len();
    let log = run_steps(&run, &env, &project, &scratch)?;
    if !log.contains("through $BASH_ENV") {
        bail!("the install step did not put its folder on PATH through $BASH_ENV:\n{log}");
    }
    if !log.contains("dbt sees DBT_STATE=''") {
        bail!("with no state stored, state_pull (if_present) should leave DBT_STATE unset:\n{log}");
    }
    datafold_server::single_new_upload(&server, before, "orb commands, pull request")?.expect(
        "orb commands install + upload, pull request (CIRCLE_PULL_REQUEST)",
        pr_sha,
        "pull_request",
    )?;

    // A production build, through the orb's upload job as the production example runs it.
    let main_sha = "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233";
    let (run, skipped_job) = expand_job(
        &orb,
        "upload",
        args(&[
            ("ci_config_id", Value::String(config_id.clone())),
            ("version", Value::String(dist.version.clone())),
            (
                "install_dir",
                Value::String(scratch.join("bin-production").display().to_string()),
            ),
            ("base_url", Value::String(mirror.url().to_owned())),
            ("host", Value::String(server.url().to_owned())),
            ("state_push", Value::Bool(true)),
            ("state_store", Value::String(store.clone())),
        ]),
    )?;
    if skipped_job != ["checkout", "attach_workspace"] {
        bail!("the upload job should check out and attach the workspace before installing; it runs {skipped_job:?} of CircleCI's own steps");
    }
    let env = base_env(
        "foldup/upload",
        &[
            ("CIRCLE_SHA1", main_sha),
            ("CIRCLE_BRANCH", "main"),
            ("DATAFOLD_API_KEY", datafold_server::API_KEY),
        ],
    );
    let before = server.uploads()?.len();
    let log = run_steps(&run, &env, &project, &scratch)?;
    datafold_server::single_new_upload(&server, before, "orb job, production")?.expect(
        "orb job upload, production (CIRCLE_BRANCH=main)",
        main_sha,
        "production",
    )?;
    if !log.contains(&format!("Stored the dbt state of commit {main_sha}")) {
        bail!("the upload job with state_push should store {main_sha}'s state:\n{log}");
    }
    eprintln!("    ok: the upload job with state_push stored production's state ({main_sha})");

    // The next pull request build pulls it: DBT_STATE reaches the later steps through $BASH_ENV.
    let mut run = Vec::new();
    expand_steps(
        &orb,
        &Value::Array(vec![
            serde_json::json!({"install": {"version": dist.version, "install_dir": install_dir.display().to_string(), "base_url": mirror.url()}}),
            serde_json::json!({"state_pull": {"store": store, "if_present": true}}),
            dbt_sees_state,
        ]),
        &mut run,
        &mut skipped,
    )?;
    let env = base_env(
        "dbt-pull-request-slim-ci",
        &[
            ("CIRCLE_SHA1", pr_sha),
            ("CIRCLE_BRANCH", "feature/orders"),
            (
                "CIRCLE_PULL_REQUEST",
                "https://github.com/acme/shop/pull/42",
            ),
        ],
    );
    let log = run_steps(&run, &env, &project, &scratch)?;
    let pulled = project.join(".foldup/state");
    if !log.contains(&format!("dbt sees DBT_STATE='{}'", pulled.display()))
        || !log.contains(main_sha)
    {
        bail!("state_pull should fill {} with {main_sha}'s state and set DBT_STATE for the next steps:\n{log}", pulled.display());
    }
    eprintln!("    ok: state_pull in a pull request build: {main_sha}'s state, DBT_STATE set for the next steps");

    // Without foldup installed, the upload command says what to do.
    let mut run = Vec::new();
    expand_steps(
        &orb,
        &Value::Array(vec![
            serde_json::json!({"upload": {"ci_config_id": config_id}}),
        ]),
        &mut run,
        &mut skipped,
    )?;
    let env = base_env(
        "no-install",
        &[("CIRCLE_SHA1", main_sha), ("CIRCLE_BRANCH", "main")],
    );
    match run_steps(&run, &env, &project, &scratch) {
        Err(e) if format!("{e:#}").contains("add the foldup/install step") => {
            eprintln!("    ok: upload without install says: add the foldup/install step before foldup/upload");
        }
        Err(e) => bail!("upload without install failed without saying what to do: {e:#}"),
        Ok(_) => bail!("upload without foldup installed succeeded"),
    }
    drop(mirror);
    Ok(())
}

/// Replaces `from` by `to` in every string of `value`; returns how many strings changed.
fn replace_in_strings(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::String(s) if s.contains(from) => {
            *s = s.replace(from, to);
            1
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|v| replace_in_strings(v, from, to))
            .sum(),
        Value::Object(map) => map
            .values_mut()
            .map(|v| replace_in_strings(v, from, to))
            .sum(),
        _ => 0,
    }
}
