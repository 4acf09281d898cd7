//! `cargo xtask action`: the GitHub Actions `action.yml` (upload, impact) and `state/action.yml`
//! (Slim-CI state push and pull), both composite, and the example workflows in `examples/ci/github/`.
//!
//! Static checks: both actions against check-jsonschema's `vendor.github-actions` and the workflows
//! against `vendor.github-workflows`; every `${{ inputs.x }}` declared and every input used; no
//! expression inside a `run:` script (values reach scripts through `env:` only, so the API key is
//! never an argument and no input can inject shell); every output read from a step that exists;
//! the workflows use the actions at the workspace version with inputs they declare.
//!
//! `cargo xtask action-test` also runs the actions' steps as the runner does (each step's `env:`
//! evaluated, `GITHUB_OUTPUT`/`GITHUB_PATH`/`GITHUB_ENV` files read back between steps) with
//! GitHub's variables and real event payloads, installing foldup from a local mirror: uploads to
//! the test server on a pull_request event (the upload must carry the PR's head sha, not
//! GITHUB_SHA) and a push to the default branch (production); then the state action against a
//! store in a folder: a pull before any push (if-present), the production push, the pull request's
//! pull (state-dir and DBT_STATE), and a pull request's push refused.

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

/// The repository's actions: how a workflow names each (`uses: <reference>@<version>`) and its
/// file. The state action sits in a subfolder and runs the release's `install.sh` from the root.
const ACTIONS: [(&str, &str); 2] = [
    ("foldup/foldup", "action.yml"),
    ("foldup/foldup/state", "state/action.yml"),
];
const UPLOAD_ACTION: &str = "action.yml";
const STATE_ACTION: &str = "state/action.yml";
/// What `${{ github.token }}` evaluates to in the test runner.
const JOB_TOKEN: &str = "ghs_test-job-token";

fn action_path(file: &str) -> PathBuf {
    crate::repo_root().join(file)
}

fn workflows() -> Result<Vec<PathBuf>> {
    let dir = crate::repo_root().join("examples/ci/github");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The expressions (`${{ … }}`) in `text`, trimmed.
fn expressions(text: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let end = after.find("}}").context("an unterminated ${{")?;
        found.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// The operands of an expression of the form `a || b || …`.
fn operands(expression: &str) -> Vec<&str> {
    expression.split("||").map(str::trim).collect()
}

/// The static checks of one action file; returns its inputs and steps.
fn check_action(
    file: &str,
    version: &str,
    problems: &mut Vec<String>,
) -> Result<(Map<String, Value>, Vec<Value>)> {
    let path = action_path(file);
    let action = validators::load_yaml(&path)?;
    let action_text = fs::read_to_string(&path)?;
    let inputs = action["inputs"].as_object().cloned().unwrap_or_default();

    for (name, spec) in &inputs {
        if spec["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.push(format!("{file}: input {name} needs a description"));
        }
        if spec["required"] == true && !spec["default"].is_null() {
            problems.push(format!(
                "{file}: input {name} is required and has a default; choose one"
            ));
        }
    }
    if inputs.get("version").and_then(|v| v["default"].as_str()) != Some(version) {
        problems.push(format!(
            "{file}: input version must default to the workspace version {version}"
        ));
    }
    let mut used_inputs = BTreeSet::new();
    for expression in expressions(&action_text)? {
        for operand in operands(&expression) {
            if let Some(name) = operand.strip_prefix("inputs.") {
                used_inputs.insert(name.to_owned());
            }
        }
    }
    let declared: BTreeSet<String> = inputs.keys().cloned().collect();
    for missing in used_inputs.difference(&declared) {
        problems.push(format!(
            "{file} uses inputs.{missing}, which it does not declare"
        ));
    }
    for unused in declared.difference(&used_inputs) {
        problems.push(format!(
            "{file}: the input {unused} is declared but never used"
        ));
    }
    let steps = action["runs"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if action["runs"]["using"] != "composite" {
        problems.push(format!(
            "{file} must be a composite action (runs.using: composite)"
        ));
    }
    let step_ids: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    for (index, step) in steps.iter().enumerate() {
        let name = step["name"].as_str().unwrap_or("");
        // POSIX sh everywhere: `sh` off Windows (containers may lack bash), Git Bash on Windows.
        let wanted_shell = match step["if"].as_str() {
            Some("runner.os != 'Windows'") => "sh",
            Some("runner.os == 'Windows'") => "bash",
            _ => {
                problems.push(format!("{file}: step {index} ({name}) must say `if: runner.os != 'Windows'` (shell: sh) or `if: runner.os == 'Windows'` (shell: bash)"));
                ""
            }
        };
        if !wanted_shell.is_empty() && step["shell"] != wanted_shell {
            problems.push(format!(
                "{file}: step {index} ({name}) must run with shell: {wanted_shell}"
            ));
        }
        let script = step["run"].as_str().unwrap_or("");
        if script.contains("${{") {
            problems.push(format!("{file}: step {index} ({name}) has an expression inside run:; pass the value through env: instead"));
        }
        if script.contains("api-key") || script.contains("DATAFOLD_API_KEY") {
            problems.push(format!("{file}: step {index} ({name}) handles the API key in its script; foldup reads DATAFOLD_API_KEY from the environment"));
        }
    }
    for (name, output) in action["outputs"].as_object().into_iter().flatten() {
        let value = output["value"].as_str().unwrap_or("");
        let refers = expressions(value)?.iter().all(|e| {
            operands(e).iter().all(|operand| {
                let parts: Vec<&str> = operand.split('.').collect();
                parts.len() == 4
                    && parts[0] == "steps"
                    && step_ids.contains(parts[1])
                    && parts[2] == "outputs"
            })
        });
        if !refers {
            problems.push(format!("{file}: output {name} must be ${{{{ steps.<id>.outputs.<name> }}}} of a step of the action"));
        }
    }
    Ok((inputs, steps))
}

pub fn run(_args: &[String]) -> Result<()> {
    eprintln!("\n==> action: the GitHub Actions action.yml and state/action.yml, and the example workflows");
    let mut problems = Vec::new();
    let version = crate::base::repo::workspace_version()?;
    let mut declared_inputs = BTreeMap::new();
    let mut scripts = Vec::new();
    for (reference, file) in ACTIONS {
        let (inputs, steps) = check_action(file, &version, &mut problems)?;
        declared_inputs.insert(reference, inputs);
        scripts.push((file, steps));
    }

    for file in workflows()? {
        let workflow = validators::load_yaml(&file)?;
        let text = fs::read_to_string(&file)?;
        let mut uses = 0;
        for (job_name, job) in workflow["jobs"].as_object().into_iter().flatten() {
            for step in job["steps"].as_array().into_iter().flatten() {
                let Some(reference) = step["uses"].as_str() else {
                    continue;
                };
                let (action_ref, _) = reference.split_once('@').unwrap_or((reference, ""));
                let Some(inputs) = declared_inputs.get(action_ref) else {
                    continue;
                };
                uses += 1;
                let key = format!("{} jobs.{job_name}", relative(&file));
                let wanted = format!("{action_ref}@v{version}");
                // Either the tag, or a commit sha with the tag in a comment (what Dependabot and
                // Renovate keep up to date): `uses: foldup/foldup@<40 hex> # v<version>`.
                let pinned_by_sha = reference
                    .strip_prefix(&format!("{action_ref}@"))
                    .is_some_and(|r| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
                    && text.lines().any(|l| {
                        l.contains(reference) && l.trim_end().ends_with(&format!("# v{version}"))
                    });
                if reference != wanted && !pinned_by_sha {
                    problems.push(format!(
                        "{key} uses {reference}, but the workspace is at {wanted} (or pin a commit sha followed by `# v{version}`)"
                    ));
                }
                let with = step["with"].as_object().cloned().unwrap_or_default();
                for given in with.keys() {
                    if !inputs.contains_key(given) {
                        problems.push(format!(
                            "{key} passes '{given}', which {action_ref} does not declare"
                        ));
                    }
                }
                for (name, spec) in inputs {
                    if spec["required"] == true && !with.contains_key(name) {
                        problems.push(format!(
                            "{key} does not pass {action_ref}'s required input '{name}'"
                        ));
                    }
                }
                if with.contains_key("api-key")
                    && !with["api-key"]
                        .as_str()
                        .is_some_and(|v| v.contains("secrets."))
                {
                    problems.push(format!("{key} passes api-key without a secret; use ${{{{ secrets.DATAFOLD_API_KEY }}}}"));
                }
            }
        }
        if uses == 0 {
            problems.push(format!("{} does not use the action", relative(&file)));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the GitHub Actions have {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    eprintln!("    ok: inputs declared and used, no expression in run:, outputs wired, workflows use the actions at v{version}");
    let action_files: Vec<PathBuf> = ACTIONS.iter().map(|(_, file)| action_path(file)).collect();
    validators::check_schema(
        "vendor.github-actions",
        &action_files
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    )?;
    let files = workflows()?;
    validators::check_schema(
        "vendor.github-workflows",
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    // Each step's script, as its shell runs it; both are POSIX sh scripts, so check them as sh.
    let out = crate::repo_root().join("target/action");
    fs::create_dir_all(&out)?;
    let mut script_files = Vec::new();
    for (file, steps) in scripts {
        let stem = file.trim_end_matches(".yml").replace('/', "-");
        for (index, step) in steps.iter().enumerate() {
            let script = out.join(format!("{stem}-step-{index}.sh"));
            fs::write(
                &script,
                format!("#!/bin/sh\n{}", step["run"].as_str().unwrap_or("")),
            )?;
            script_files.push(script);
        }
    }
    validators::shellcheck(
        "sh",
        &script_files
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    )?;
    crate::harness::validators::actionlint(
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    Ok(())
}

pub fn test(args: &[String]) -> Result<()> {
    run(args)?;
    run_steps_end_to_end()
}

/// What an expression can see.
struct Contexts<'a> {
    inputs: &'a Map<String, Value>,
    env: &'a BTreeMap<String, String>,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
    action_path: &'a str,
    runner_temp: &'a str,
}

fn evaluate_operand(operand: &str, c: &Contexts) -> Result<String> {
    if let Some(literal) = operand
        .strip_prefix('\'')
        .and_then(|o| o.strip_suffix('\''))
    {
        return Ok(literal.replace("''", "'"));
    }
    let parts: Vec<&str> = operand.split('.').collect();
    Ok(match parts.as_slice() {
        ["inputs", name] => match c.inputs.get(*name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        },
        ["env", name] => c.env.get(*name).cloned().unwrap_or_default(),
        ["steps", id, "outputs", name] => c.steps.get(*id).and_then(|o| o.get(*name)).cloned().unwrap_or_default(),
        ["github", "action_path"] => c.action_path.to_owned(),
        ["github", "token"] => JOB_TOKEN.to_owned(),
        ["runner", "temp"] => c.runner_temp.to_owned(),
        _ => bail!("the action's test runner cannot evaluate `{operand}`; keep action.yml's expressions to inputs, env, steps.*.outputs, github.action_path and runner.temp joined by ||"),
    })
}

/// Expands every `${{ … }}` in `text`.
fn evaluate(text: &str, c: &Contexts) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after.find("}}").context("an unterminated ${{")?;
        let mut value = String::new();
        for operand in operands(after[..end].trim()) {
            value = evaluate_operand(operand, c)?;
            if !value.is_empty() {
                break;
            }
        }
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads a `GITHUB_OUTPUT`/`GITHUB_ENV` file: `name=value` lines and `name<<DELIMITER` blocks.
fn read_key_values(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            values.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            values.insert(name.to_owned(), value.to_owned());
        }
    }
    Ok(values)
}

struct ActionRun {
    outputs: BTreeMap<String, String>,
    log: String,
    added_paths: Vec<String>,
    /// The job's environment after the action: what `GITHUB_ENV` gave later steps.
    env: BTreeMap<String, String>,
}

/// Runs the composite action `file`'s steps as the runner does, with `with` as its inputs.
fn run_action(
    file: &str,
    with: &Map<String, Value>,
    job_env: &BTreeMap<String, String>,
    workspace: &Path,
    scratch: &Path,
) -> Result<ActionRun> {
    let action = validators::load_yaml(&action_path(file))?;
    let mut inputs = Map::new();
    for (name, spec) in action["inputs"].as_object().into_iter().flatten() {
        let value = with
            .get(name)
            .cloned()
            .or_else(|| spec.get("default").cloned())
            .unwrap_or(Value::String(String::new()));
        inputs.insert(name.clone(), value);
    }
    // The repository as a release tag holds it: the actions, and install.sh with the checksums
    // pinned at the root.
    let checkout = scratch.join("action");
    for (_, each) in ACTIONS {
        let copy = checkout.join(each);
        fs::create_dir_all(copy.parent().context("an action file has a folder")?)?;
        fs::copy(action_path(each), copy)?;
    }
    fs::copy(
        crate::repo_root().join("target/dist/install.sh"),
        checkout.join("install.sh"),
    )?;
    let action_dir = checkout
        .join(file)
        .parent()
        .context("an action file has a folder")?
        .to_path_buf();
    let action_path = action_dir.display().to_string();
    let runner_temp = scratch.join("runner-temp");
    fs::create_dir_all(&runner_temp)?;
    let runner_temp = runner_temp.display().to_string();
    let mut env = job_env.clone();
    let mut steps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut log = String::new();
    let mut added_paths = Vec::new();
    let path_file = scratch.join("github-path");
    let env_file = scratch.join("github-env");
    let summary = scratch.join("step-summary.md");
    for (index, step) in action["runs"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        // The test runner is Linux: Windows-only steps are skipped, as the runner would.
        match step["if"].as_str() {
            None | Some("runner.os != 'Windows'") => {}
            Some("runner.os == 'Windows'") => continue,
            Some(other) => bail!("the action's test runner cannot evaluate `if: {other}`"),
        }
        let output_file = scratch.join(format!("github-output-{index}"));
        fs::write(&output_file, "")?;
        fs::write(&path_file, "")?;
        fs::write(&env_file, "")?;
        let contexts = Contexts {
            inputs: &inputs,
            env: &env,
            steps: &steps,
            action_path: &action_path,
            runner_temp: &runner_temp,
        };
        let mut step_env = env.clone();
        for (name, value) in step["env"].as_object().into_iter().flatten() {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            step_env.insert(name.clone(), evaluate(&text, &contexts)?);
        }
        for (name, value) in [
            ("GITHUB_ACTION_PATH", action_path.clone()),
            ("GITHUB_OUTPUT", output_file.display().to_string()),
            ("GITHUB_PATH", path_file.display().to_string()),
            ("GITHUB_ENV", env_file.display().to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("RUNNER_TEMP", runner_temp.clone()),
        ] {
            step_env.insert(name.to_owned(), value);
        }
        let script = scratch.join(format!("step-{index}.sh"));
        fs::write(&script, step["run"].as_str().unwrap_or(""))?;
        // The runner's `shell: sh` is `sh -e {0}`, `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`.
        let mut command = match step["shell"].as_str() {
            Some("sh") => {
                let mut c = Command::new("sh");
                c.arg("-e");
                c
            }
            _ => {
                let mut c = Command::new("bash");
                c.args(["--noprofile", "--norc", "-eo", "pipefail"]);
                c
            }
        };
        let output = command
            .arg(&script)
            .env_clear()
            .envs(&step_env)
            .current_dir(workspace)
            .output()
            .context("cannot run bash")?;
        let name = step["name"].as_str().unwrap_or("");
        log.push_str(&format!(
            "--- step '{name}'\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        if !output.status.success() {
            bail!(
                "the action's step '{name}' failed ({}):\n{log}",
                output.status
            );
        }
        if let Some(id) = step["id"].as_str() {
            steps.insert(id.to_owned(), read_key_values(&output_file)?);
        }
        // The runner applies GITHUB_PATH and GITHUB_ENV to the following steps.
        for dir in fs::read_to_string(&path_file)?
            .lines()
            .filter(|l| !l.is_empty())
        {
            added_paths.push(dir.to_owned());
            let path = env.get("PATH").cloned().unwrap_or_default();
            env.insert("PATH".to_owned(), format!("{dir}:{path}"));
        }
        env.extend(read_key_values(&env_file)?);
    }
    let contexts = Contexts {
        inputs: &inputs,
        env: &env,
        steps: &steps,
        action_path: &action_path,
        runner_temp: &runner_temp,
    };
    let mut outputs = BTreeMap::new();
    for (name, output) in action["outputs"].as_object().into_iter().flatten() {
        outputs.insert(
            name.clone(),
            evaluate(output["value"].as_str().unwrap_or(""), &contexts)?,
        );
    }
    // The runner never shows `::add-mask::` lines; every other line must not hold the key.
    let leaked = log
        .lines()
        .any(|l| l.contains(datafold_server::API_KEY) && !l.starts_with("::add-mask::"));
    if leaked {
        bail!("the action printed the Datafold API key:\n{log}");
    }
    Ok(ActionRun {
        outputs,
        log,
        added_paths,
        env,
    })
}

fn run_steps_end_to_end() -> Result<()> {
    eprintln!("\n==> action-test: the action's steps under sh (as on Linux runners) with GitHub's variables, against the test server");
    let fixtures = crate::repo_root().join("crates/foldup-github/tests/fixtures");
    let pr_payload = fixtures.join("pull_request.synchronize.json");
    let push_payload = fixtures.join("push.default_branch.json");
    let pr_event = validators::load_yaml(&pr_payload)
        .context("the pull_request payload from @octokit/webhooks-examples is missing")?;
    let push_event = validators::load_yaml(&push_payload)
        .context("the push payload from @octokit/webhooks-examples is missing")?;

    let dist = crate::harness::release_build::fresh()?;
    let scratch = crate::harness::scratch::fresh_scratch("action-test")?;
    let mirror_root = scratch.join("mirror");
    dist.publish_to(&mirror_root)?;
    let mirror = ReleaseMirror::serve(&mirror_root)?;
    let server = DatafoldServer::start()?;
    let workspace = scratch.join("workspace");
    crate::base::tree::copy_example_project(&workspace)?;
    let home = scratch.join("home");
    fs::create_dir_all(&home)?;
    let repository = pr_event["repository"]["full_name"]
        .as_str()
        .context("payload without repository")?
        .to_owned();

    let job_env = |event: &str,
                   payload: &Path,
                   sha: &str,
                   extra: &[(&str, &str)]|
     -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", home.to_str().unwrap_or("/tmp")),
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_EVENT_PATH", payload.to_str().unwrap_or("")),
            ("GITHUB_SHA", sha),
            ("GITHUB_REPOSITORY", repository.as_str()),
            (
                "GITHUB_REPOSITORY_OWNER",
                repository.split('/').next().unwrap_or(""),
            ),
            ("GITHUB_RUN_ID", "9876543210"),
            ("GITHUB_RUN_NUMBER", "57"),
            ("GITHUB_RUN_ATTEMPT", "1"),
            ("GITHUB_WORKFLOW", "dbt"),
            ("GITHUB_JOB", "dbt"),
            ("GITHUB_ACTOR", "Codertocat"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_API_URL", "https://api.github.com"),
            ("GITHUB_WORKSPACE", workspace.to_str().unwrap_or("")),
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
        ]
        .iter()
        .chain(extra.iter())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.retain(|_, v| !v.is_empty());
        env
    };
    let config_id = Value::from(datafold_server::CI_CONFIG_ID);

    // 1. pull_request: GITHUB_SHA is GitHub's merge commit; the upload must carry the head sha.
    //    The key comes from the workflow's env (secrets.DATAFOLD_API_KEY), the host by input.
    let head_sha = pr_event["pull_request"]["head"]["sha"]
        .as_str()
        .context("payload without head sha")?;
    let number = pr_event["number"]
        .as_u64()
        .context("payload without number")?
        .to_string();
    let head_ref = pr_event["pull_request"]["head"]["ref"]
        .as_str()
        .unwrap_or("");
    let base_ref = pr_event["pull_request"]["base"]["ref"]
        .as_str()
        .unwrap_or("");
    let merge_sha = "d3adb33fd3adb33fd3adb33fd3adb33fd3adb33f";
    let pr_ref = format!("refs/pull/{number}/merge");
    let env = job_env(
        "pull_request",
        &pr_payload,
        merge_sha,
        &[
            ("GITHUB_REF", &pr_ref),
            ("GITHUB_REF_NAME", &format!("{number}/merge")),
            ("GITHUB_HEAD_REF", head_ref),
            ("GITHUB_BASE_REF", base_ref),
            ("DATAFOLD_API_KEY", datafold_server::API_KEY),
        ],
    );
    let mut with = Map::new();
    with.insert("ci-config-id".to_owned(), config_id.clone());
    with.insert("version".to_owned(), Value::String(dist.version.clone()));
    with.insert(
        "install-base-url".to_owned(),
        Value::String(mirror.url().to_owned()),
    );
    with.insert("host".to_owned(), Value::String(server.url().to_owned()));
    let before = server.uploads()?.len();
    let run = run_action(
        UPLOAD_ACTION,
        &with,
        &env,
        &workspace,
        &created(scratch.join("pull-request"))?,
    )?;
    datafold_server::single_new_upload(&server, before, "action, pull_request")?.expect(
        "GitHub Action on pull_request (head sha, not GITHUB_SHA)",
        head_sha,
        "pull_request",
    )?;
    expect_outputs(&run, head_sha, "pull_request", &number)?;
    if run.added_paths.len() != 1 || !run.log.contains("through $GITHUB_PATH") {
        bail!(
            "the install step should add its folder to GITHUB_PATH once:\n{}",
            run.log
        );
    }

    // 2. push to the default branch: production. The key by the api-key input, the host from
    //    DATAFOLD_HOST (the input left empty).
    let push_sha = push_event["after"]
        .as_str()
        .context("payload without after")?;
    let push_ref = push_event["ref"].as_str().context("payload without ref")?;
    let branch = push_ref.trim_start_matches("refs/heads/");
    let env = job_env(
        "push",
        &push_payload,
        push_sha,
        &[
            ("GITHUB_REF", push_ref),
            ("GITHUB_REF_NAME", branch),
            ("DATAFOLD_HOST", server.url()),
        ],
    );
    let mut with = Map::new();
    with.insert("ci-config-id".to_owned(), config_id);
    with.insert("version".to_owned(), Value::String(dist.version.clone()));
    with.insert(
        "install-base-url".to_owned(),
        Value::String(mirror.url().to_owned()),
    );
    with.insert(
        "install-dir".to_owned(),
        Value::String(scratch.join("bin").display().to_string()),
    );
    with.insert(
        "api-key".to_owned(),
        Value::String(datafold_server::API_KEY.to_owned()),
    );
    let before = server.uploads()?.len();
    let run = run_action(
        UPLOAD_ACTION,
        &with,
        &env,
        &workspace,
        &created(scratch.join("push"))?,
    )?;
    datafold_server::single_new_upload(&server, before, "action, push")?.expect(
        "GitHub Action on a push to the default branch",
        push_sha,
        "production",
    )?;
    expect_outputs(&run, push_sha, "production", "")?;

    // 3. Slim CI, with the state action and a store in a folder. First a pull request before
    //    production ever pushed: with if-present the step succeeds and state-dir is empty.
    let store = scratch.join("state-store");
    let pr_env = job_env(
        "pull_request",
        &pr_payload,
        merge_sha,
        &[
            ("GITHUB_REF", &pr_ref),
            ("GITHUB_HEAD_REF", head_ref),
            ("GITHUB_BASE_REF", base_ref),
            ("FOLDUP_STATE_STORE", store.to_str().unwrap_or("")),
        ],
    );
    let state_with = |command: &str, extra: &[(&str, &str)]| {
        let mut with = Map::new();
        with.insert("command".to_owned(), Value::from(command));
        with.insert("version".to_owned(), Value::String(dist.version.clone()));
        with.insert(
            "install-base-url".to_owned(),
            Value::String(mirror.url().to_owned()),
        );
        for (name, value) in extra {
            with.insert((*name).to_owned(), Value::from(*value));
        }
        with
    };
    let run = run_action(
        STATE_ACTION,
        &state_with("pull", &[("if-present", "true")]),
        &pr_env,
        &workspace,
        &created(scratch.join("state-pull-empty"))?,
    )?;
    if !run.outputs["state-dir"].is_empty() || run.env.contains_key("DBT_STATE") {
        bail!(
            "with nothing stored, the state action's pull should leave state-dir and DBT_STATE empty, got {:?}:\n{}",
            run.outputs,
            run.log
        );
    }
    eprintln!("    ok: state pull before any push, with if-present: success, state-dir empty");

    // 4. The production push stores the commit's state (from the store input, not the env).
    let push_env = job_env(
        "push",
        &push_payload,
        push_sha,
        &[("GITHUB_REF", push_ref), ("GITHUB_REF_NAME", branch)],
    );
    let run = run_action(
        STATE_ACTION,
        &state_with("push", &[("store", store.to_str().unwrap_or(""))]),
        &push_env,
        &workspace,
        &created(scratch.join("state-push"))?,
    )?;
    if !run
        .log
        .contains(&format!("Stored the dbt state of commit {push_sha}"))
    {
        bail!(
            "the state action's push should store {push_sha}:\n{}",
            run.log
        );
    }
    eprintln!("    ok: state push on a push to the default branch stored {push_sha}");

    // 5. The pull request pulls the base branch's state: its folder is the output, dbt's files are
    //    in it, and DBT_STATE reaches the later steps.
    let run = run_action(
        STATE_ACTION,
        &state_with("pull", &[("if-present", "true")]),
        &pr_env,
        &workspace,
        &created(scratch.join("state-pull"))?,
    )?;
    let state_dir = run.outputs["state-dir"].clone();
    let pulled = workspace.join(".foldup/state");
    if Path::new(&state_dir) != pulled
        || !pulled.join("manifest.json").is_file()
        || run.env.get("DBT_STATE") != Some(&state_dir)
        || !run.log.contains(push_sha)
    {
        bail!(
            "the state action's pull should fill {} with {push_sha}'s state and set DBT_STATE, got state-dir {state_dir:?}, DBT_STATE {:?}:\n{}",
            pulled.display(),
            run.env.get("DBT_STATE"),
            run.log
        );
    }
    eprintln!(
        "    ok: state pull in the pull request: {push_sha}'s state in state-dir and DBT_STATE"
    );

    // 6. Push refuses a pull request build.
    let refused = run_action(
        STATE_ACTION,
        &state_with("push", &[]),
        &pr_env,
        &workspace,
        &created(scratch.join("state-push-refused"))?,
    );
    match refused {
        Err(e) if format!("{e:#}").contains("--force") => {
            eprintln!("    ok: state push in a pull request build fails and names --force")
        }
        Err(e) => bail!("the refused push should name --force: {e:#}"),
        Ok(run) => bail!("state push in a pull request build must fail:\n{}", run.log),
    }
    drop(mirror);
    Ok(())
}

fn expect_outputs(run: &ActionRun, sha: &str, run_type: &str, pr_number: &str) -> Result<()> {
    let get = |name: &str| run.outputs.get(name).map(String::as_str).unwrap_or("");
    if get("commit_sha") != sha || get("run_type") != run_type || get("pr_number") != pr_number {
        bail!(
            "the action's outputs should be commit_sha={sha} run_type={run_type} pr_number={pr_number:?}, got {:?}\n{}",
            run.outputs,
            run.log
        );
    }
    eprintln!("    ok: outputs commit_sha={sha} run_type={run_type} pr_number={pr_number:?}");
    Ok(())
}

/// Creates a folder and returns it.
fn created(dir: PathBuf) -> Result<PathBuf> {
    fs::create_dir_all(&dir)?;
    Ok(dir)
}
