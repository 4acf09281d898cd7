//! `cargo xtask component`: the GitLab CI/CD component `templates/upload.yml`.
//!
//! Static checks: the `spec: inputs` header (every input typed, described, with a default that fits
//! its type and options; every `$[[ inputs.x ]]` declared and every input used), the job it
//! renders with its defaults validated against check-jsonschema's `vendor.gitlab-ci`, and the
//! example pipeline `examples/ci/gitlab/.gitlab-ci.yml` (valid, and including the component at the
//! workspace version with inputs it declares).
//!
//! End to end, with gitlab-ci-local 4.64.1 (its shell executor: no Docker here): a throwaway git
//! repository with the bundled dbt example, the component in `templates/`, a remote (so that
//! `CI_PROJECT_PATH` is set) and a `.gitlab-ci.yml` that includes the component as GitLab documents
//! for testing a component in its own project: `component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/upload@$CI_COMMIT_SHA`,
//! which gitlab-ci-local resolves locally (its `parseIncludeComponent` treats that project and sha as
//! local). The job installs foldup with install.sh from a local mirror of the release and uploads to
//! the test server, once in a merged-results merge request pipeline, once in a default-branch
//! pipeline and once in a plain branch pipeline (where the rules must keep it from running); the
//! test asserts what the server received each time.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use crate::base::repo::relative;
use crate::harness::datafold_server::{self, DatafoldServer};
use crate::harness::release_mirror::ReleaseMirror;
use crate::harness::validators;

const GITLAB_CI_LOCAL: &str = "gitlab-ci-local@4.64.1";
const PROJECT_ADDRESS: &str = "gitlab.com/foldup/foldup";
/// The components, by name: `templates/<name>.yml`, included as `<project>/<name>@<version>`.
pub const TEMPLATES: [&str; 2] = ["upload", "state-pull"];

fn template_path(name: &str) -> PathBuf {
    crate::repo_root().join(format!("templates/{name}.yml"))
}

/// The script item that installs foldup: the same text in every component (a component cannot
/// include another's script), checked equal by `cargo xtask component`.
fn install_item(body: &str) -> Option<&str> {
    let start = body.find("    - |\n      export PATH=")?;
    let end = start + 1 + body[start + 1..].find("\n    - ")?;
    Some(&body[start..end])
}

/// The component's header (`spec:`) and body, as text.
fn split_template(text: &str) -> Result<(&str, &str)> {
    let marker = "\n---\n";
    let at = text
        .find(marker)
        .context("a component template must be a `spec:` header, a line `---`, then the job")?;
    Ok((&text[..at + 1], &text[at + marker.len()..]))
}

fn inputs_of(header: &str) -> Result<Map<String, Value>> {
    let spec = validators::parse_yaml(header, "the component's spec header")?;
    spec["spec"]["inputs"]
        .as_object()
        .cloned()
        .context("the component's header has no spec: inputs")
}

/// Every `$[[ inputs.NAME ]]` in `text`.
fn input_references(text: &str) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("$[[") {
        let after = &rest[start + 3..];
        let end = after
            .find("]]")
            .context("an unterminated $[[ in the component")?;
        let inner = after[..end].trim();
        let name = inner
            .strip_prefix("inputs.")
            .with_context(|| format!("$[[ {inner} ]] is not an input"))?;
        if name.contains('|') {
            bail!("$[[ {inner} ]] uses an interpolation function, which gitlab-ci-local does not run; avoid it");
        }
        names.insert(name.trim().to_owned());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// The body with every input replaced by its value (GitLab's interpolation of plain values).
fn interpolate(body: &str, values: &Map<String, Value>) -> Result<String> {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("$[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after.find("]]").context("an unterminated $[[")?;
        let name = after[..end].trim().trim_start_matches("inputs.").trim();
        let value = values
            .get(name)
            .with_context(|| format!("no value for input {name}"))?;
        out.push_str(&match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_inputs(inputs: &Map<String, Value>, body: &str, problems: &mut Vec<String>) -> Result<()> {
    let version = crate::base::repo::workspace_version()?;
    for (name, spec) in inputs {
        let kind = spec["type"].as_str().unwrap_or("string");
        if spec["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.push(format!("input {name} needs a description"));
        }
        let default = &spec["default"];
        let fits = matches!(
            (kind, default),
            (_, Value::Null)
                | ("string", Value::String(_))
                | ("boolean", Value::Bool(_))
                | ("number", Value::Number(_))
                | ("array", Value::Array(_))
        );
        if !fits {
            problems.push(format!("input {name}'s default {default} is not a {kind}"));
        }
        if let Some(options) = spec["options"].as_array() {
            if !default.is_null() && !options.contains(default) {
                problems.push(format!(
                    "input {name}'s default {default} is not one of its options"
                ));
            }
        }
    }
    if inputs["version"]["default"].as_str() != Some(version.as_str()) {
        problems.push(format!(
            "input version defaults to {}, but the workspace is at {version}; update it",
            inputs["version"]["default"]
        ));
    }
    let used = input_references(body)?;
    let declared: BTreeSet<String> = inputs.keys().cloned().collect();
    for missing in used.difference(&declared) {
        problems.push(format!(
            "the job uses $[[ inputs.{missing} ]], which spec: inputs does not declare"
        ));
    }
    for unused in declared.difference(&used) {
        problems.push(format!(
            "the input {unused} is declared but the job never uses it"
        ));
    }
    Ok(())
}

/// The values GitLab would use: defaults, overridden by `given`; fails on unknown, missing or
/// out-of-options inputs.
fn input_values(
    inputs: &Map<String, Value>,
    given: &Map<String, Value>,
    what: &str,
) -> Result<Map<String, Value>> {
    let mut values = Map::new();
    for name in given.keys() {
        if !inputs.contains_key(name) {
            bail!("{what} passes the input '{name}', which the component does not declare");
        }
    }
    for (name, spec) in inputs {
        let value = given
            .get(name)
            .or_else(|| spec.get("default"))
            .with_context(|| format!("{what} does not pass the required input '{name}'"))?;
        if let Some(options) = spec["options"].as_array() {
            if !options.contains(value) {
                bail!(
                    "{what} passes {value} to '{name}', which is not one of {}",
                    Value::Array(options.clone())
                );
            }
        }
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

pub fn run(_args: &[String]) -> Result<()> {
    eprintln!("\n==> component: the GitLab CI/CD components in templates/");
    let version = crate::base::repo::workspace_version()?;
    let example_path = crate::repo_root().join("examples/ci/gitlab/.gitlab-ci.yml");
    let example = validators::load_yaml(&example_path)?;
    let includes: Vec<&Value> = example["include"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut install_items = BTreeSet::new();
    let out = crate::repo_root().join("target/component");
    fs::create_dir_all(&out)?;
    let mut schema_files = vec![example_path.clone()];
    let mut script_files = Vec::new();
    for name in TEMPLATES {
        let file = format!("templates/{name}.yml");
        let text = fs::read_to_string(template_path(name))
            .with_context(|| format!("{file} is missing"))?;
        let (header, body) = split_template(&text)?;
        let inputs = inputs_of(header)?;
        let mut own = Vec::new();
        check_inputs(&inputs, body, &mut own)?;
        problems.extend(own.into_iter().map(|p| format!("{file}: {p}")));
        match install_item(body) {
            Some(item) => {
                install_items.insert(item.to_owned());
            }
            None => problems.push(format!(
                "{file} has no install script item (`export PATH=…`)"
            )),
        }

        // The example includes the upload component once; the others at most once.
        let address = format!("{PROJECT_ADDRESS}/{name}");
        let wanted = format!("{address}@{version}");
        let ours: Vec<&&Value> = includes
            .iter()
            .filter(|i| {
                i["component"]
                    .as_str()
                    .is_some_and(|c| c.split('@').next() == Some(address.as_str()))
            })
            .collect();
        match ours.as_slice() {
            [include] => {
                if include["component"] != wanted.as_str() {
                    problems.push(format!(
                        "{} includes {} but the workspace is at {wanted}",
                        relative(&example_path),
                        include["component"]
                    ));
                }
                let given = include["inputs"].as_object().cloned().unwrap_or_default();
                if let Err(e) = input_values(&inputs, &given, &relative(&example_path)) {
                    problems.push(format!("{e:#}"));
                }
            }
            [] if name != "upload" => {}
            _ => problems.push(format!(
                "{} must include the component once: component: {wanted}",
                relative(&example_path)
            )),
        }

        // What GitLab would run, with the defaults (and a CI config id), against GitLab's schema.
        let header_file = out.join(format!("{name}.spec.yml"));
        fs::write(&header_file, header)?;
        let mut given = Map::new();
        if inputs.contains_key("ci-config-id") {
            given.insert("ci-config-id".to_owned(), Value::String("123".to_owned()));
        }
        let rendered = interpolate(body, &input_values(&inputs, &given, "the schema check")?)?;
        let rendered_file = out.join(format!("{name}.rendered.yml"));
        fs::write(&rendered_file, &rendered)?;
        // The job's script, as the job's shell (sh in the default Alpine-based image) runs it.
        let job = validators::parse_yaml(&rendered, &format!("{file}'s job with default inputs"))?;
        let script: Vec<String> = job
            .as_object()
            .and_then(|jobs| jobs.values().next())
            .and_then(|j| j["script"].as_array())
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .with_context(|| format!("{file}'s job has no script"))?;
        let script_file = out.join(format!("{name}.script.sh"));
        fs::write(&script_file, format!("#!/bin/sh\n{}\n", script.join("\n")))?;
        schema_files.extend([header_file, rendered_file]);
        script_files.push(script_file);
    }
    if install_items.len() > 1 {
        problems.push(
            "the components install foldup with different scripts; keep the install item the same in every template"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        bail!(
            "the GitLab components have {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    eprintln!("    ok: spec: inputs typed, described and all used; one install script; the example includes the components at {version} with valid inputs");
    validators::check_schema(
        "vendor.gitlab-ci",
        &schema_files
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    )?;
    validators::shellcheck(
        "sh",
        &script_files
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}

pub fn test(args: &[String]) -> Result<()> {
    run(args)?;
    run_pipelines()
}

/// Installs gitlab-ci-local into target/tools/node unless that version is there.
fn ensure_gitlab_ci_local() -> Result<PathBuf> {
    let prefix = crate::repo_root().join("target/tools/node");
    let package = prefix.join("node_modules/gitlab-ci-local/package.json");
    let wanted = GITLAB_CI_LOCAL.rsplit('@').next().unwrap_or("");
    let installed = fs::read_to_string(&package)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    if installed.as_deref() != Some(wanted) {
        eprintln!(
            "==> installing {GITLAB_CI_LOCAL} into {}",
            relative(&prefix)
        );
        fs::create_dir_all(&prefix)?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(GITLAB_CI_LOCAL)
            .status()
            .context("cannot run npm; install Node.js and npm")?;
        if !status.success() {
            bail!("npm could not install {GITLAB_CI_LOCAL}; check that the npm registry is reachable and try again");
        }
    }
    let entry = prefix.join("node_modules/gitlab-ci-local/src/index.js");
    if !entry.is_file() {
        bail!(
            "{} is missing after npm install; remove target/tools/node and try again",
            relative(&entry)
        );
    }
    let rsync = Command::new("rsync").arg("--version").output();
    if !rsync.is_ok_and(|o| o.status.success()) {
        bail!("rsync is missing and gitlab-ci-local needs it; install it with `apt-get install rsync`");
    }
    Ok(entry)
}

fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "Dana Analyst")
        .env("GIT_AUTHOR_EMAIL", "dana@example.com")
        .env("GIT_COMMITTER_NAME", "Dana Analyst")
        .env("GIT_COMMITTER_EMAIL", "dana@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

struct Pipeline<'a> {
    what: &'a str,
    variables: Vec<(String, String)>,
    unset: Vec<&'a str>,
}

fn run_pipelines() -> Result<()> {
    eprintln!(
        "\n==> component-test: the component in gitlab-ci-local pipelines, against the test server"
    );
    let gitlab_ci_local = ensure_gitlab_ci_local()?;
    let dist = crate::harness::release_build::fresh()?;
    let scratch = crate::harness::scratch::fresh_scratch("component-test")?;
    let mirror_root = scratch.join("mirror");
    dist.publish_to(&mirror_root)?;
    let mirror = ReleaseMirror::serve(&mirror_root)?;
    let server = DatafoldServer::start()?;
    let install_dir = scratch.join("bin");

    // The project: the bundled dbt example with the component, on a GitLab remote.
    let repo = scratch.join("shop");
    crate::base::tree::copy_example_project(&repo)?;
    let _ = fs::remove_file(repo.join(".gitignore"));
    fs::create_dir_all(repo.join("templates"))?;
    // The components as their release carries them: the sha256 of the release's install.sh pinned.
    let installer_sum = crate::pin::sha256_hex(&fs::read(&dist.install_script)?);
    for name in TEMPLATES {
        fs::write(
            repo.join(format!("templates/{name}.yml")),
            crate::pin::pin_component(&fs::read_to_string(template_path(name))?, &installer_sum)?,
        )?;
    }
    // Slim CI with a store in a folder: production pushes its state after the upload, merge
    // requests pull it before a stand-in for dbt build, which shows what it was given.
    let store = scratch.join("state-store");
    let pipeline = format!(
        "# Tests the components in their own project, as GitLab documents it.\n\
         include:\n\
         \x20 - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/upload@$CI_COMMIT_SHA\n\
         \x20   inputs:\n\
         \x20     ci-config-id: \"{id}\"\n\
         \x20     version: \"{version}\"\n\
         \x20     install-base-url: \"{mirror}\"\n\
         \x20     install-dir: \"{dir}\"\n\
         \x20     host: \"{host}\"\n\
         \x20     state-push: true\n\
         \x20     state-store: \"{store}\"\n\
         \x20 - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/state-pull@$CI_COMMIT_SHA\n\
         \x20   inputs:\n\
         \x20     version: \"{version}\"\n\
         \x20     install-base-url: \"{mirror}\"\n\
         \x20     install-dir: \"{dir}\"\n\
         \x20     state-store: \"{store}\"\n\
         \n\
         dbt-build:\n\
         \x20 stage: build\n\
         \x20 script:\n\
         \x20   - echo \"dbt sees DBT_STATE=[${{DBT_STATE:-}}] FOLDUP_STATE_PULLED=[${{FOLDUP_STATE_PULLED:-}}]\"\n\
         \x20   - if [ -n \"${{DBT_STATE:-}}\" ]; then test -f \"$DBT_STATE/manifest.json\"; fi\n\
         \x20 rules:\n\
         \x20   - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n",
        id = datafold_server::CI_CONFIG_ID,
        version = dist.version,
        mirror = mirror.url(),
        dir = install_dir.display(),
        host = server.url(),
        store = store.display(),
    );
    fs::write(repo.join(".gitlab-ci.yml"), pipeline)?;
    git(&repo, &["init", "--quiet", "--initial-branch", "main"])?;
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://gitlab.example.com/acme/shop.git",
        ],
    )?;
    git(&repo, &["add", "--all"])?;
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "-m",
            "dbt project with the foldup component",
        ],
    )?;
    let main_before = git(&repo, &["rev-parse", "HEAD"])?;
    git(
        &repo,
        &["update-ref", "refs/remotes/origin/main", &main_before],
    )?;
    git(
        &repo,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ],
    )?;
    git(&repo, &["checkout", "--quiet", "-b", "feature/orders"])?;
    fs::write(
        repo.join("models/orders_note.md"),
        "Orders now count refunds.\n",
    )?;
    git(&repo, &["add", "--all"])?;
    git(
        &repo,
        &["commit", "--quiet", "-m", "Count refunds in orders"],
    )?;
    let feature = git(&repo, &["rev-parse", "HEAD"])?;
    // The merged-results commit GitLab builds for the merge request: main + the feature branch.
    git(&repo, &["checkout", "--quiet", "--detach", "main"])?;
    git(
        &repo,
        &[
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            "Merge branch 'feature/orders' into 'main'",
            "feature/orders",
        ],
    )?;
    let merge = git(&repo, &["rev-parse", "HEAD"])?;

    let run = |pipeline: &Pipeline| -> Result<String> {
        let _ = fs::remove_dir_all(&install_dir);
        let mut command = Command::new("node");
        command
            .arg(&gitlab_ci_local)
            .arg("--cwd")
            .arg(".") // gitlab-ci-local wants it relative; the process runs in the repository
            .arg("--home")
            .arg(scratch.join("gitlab-ci-local-home"))
            .args(["--force-shell-executor", "--no-color", "--variable"])
            .arg(format!("DATAFOLD_API_KEY={}", datafold_server::API_KEY))
            .env_remove("CI")
            .env_remove("GITLAB_CI")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(&repo);
        for (key, value) in &pipeline.variables {
            command.arg("--variable").arg(format!("{key}={value}"));
        }
        for name in &pipeline.unset {
            command.arg("--unset-variable").arg(name);
        }
        if !pipeline.variables.is_empty() {
            // Setting GitLab's own variables is the point here; gitlab-ci-local warns otherwise.
            let names: Vec<&str> = pipeline.variables.iter().map(|(k, _)| k.as_str()).collect();
            command.arg("--ignore-predefined-vars").arg(names.join(","));
        }
        let output = command
            .output()
            .context("cannot run node (gitlab-ci-local)")?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            bail!(
                "{}: gitlab-ci-local failed ({}):\n{log}",
                pipeline.what,
                output.status
            );
        }
        if log.contains(datafold_server::API_KEY) {
            bail!(
                "{}: the Datafold API key appears in the job log:\n{log}",
                pipeline.what
            );
        }
        Ok(log)
    };
    let vars = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };

    // 1. A merged-results merge request pipeline: CI_COMMIT_SHA is the merge commit, the upload
    //    must carry the source branch's commit, as pull_request.
    let mr = Pipeline {
        what: "merge request pipeline (merged results)",
        variables: vars(&[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_REF_NAME", "feature/orders"),
            ("CI_MERGE_REQUEST_IID", "17"),
            ("CI_MERGE_REQUEST_ID", "987654"),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
            ("CI_MERGE_REQUEST_REF_PATH", "refs/merge-requests/17/merge"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", &feature),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", &main_before),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", &main_before),
            ("CI_MERGE_REQUEST_PROJECT_PATH", "acme/shop"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "acme/shop"),
            (
                "CI_MERGE_REQUEST_PROJECT_URL",
                "https://gitlab.example.com/acme/shop",
            ),
            ("CI_MERGE_REQUEST_TITLE", "Count refunds in orders"),
        ]),
        unset: vec!["CI_COMMIT_BRANCH"],
    };
    let before = server.uploads()?.len();
    let log = run(&mr)?;
    datafold_server::single_new_upload(&server, before, mr.what)?.expect(
        &format!("GitLab {} via include: component", mr.what),
        &feature,
        "pull_request",
    )?;
    if !log.contains("dbt sees DBT_STATE=[] FOLDUP_STATE_PULLED=[false]") {
        bail!("{}: with no state stored, the state-pull job should pass FOLDUP_STATE_PULLED=false and no DBT_STATE:\n{log}", mr.what);
    }
    eprintln!(
        "    ok: GitLab {}: no state stored yet, dbt build is told so (FOLDUP_STATE_PULLED=false)",
        mr.what
    );

    // 2. The default branch after the merge: production, for the pipeline's own commit.
    git(&repo, &["checkout", "--quiet", "main"])?;
    git(&repo, &["merge", "--quiet", "--ff-only", &merge])?;
    let default_branch = Pipeline {
        what: "default-branch pipeline",
        variables: Vec::new(),
        unset: Vec::new(),
    };
    let before = server.uploads()?.len();
    let log = run(&default_branch)?;
    datafold_server::single_new_upload(&server, before, default_branch.what)?.expect(
        &format!(
            "GitLab {} (CI_COMMIT_BRANCH = CI_DEFAULT_BRANCH) via include: component",
            default_branch.what
        ),
        &merge,
        "production",
    )?;
    if !log.contains(&format!("Stored the dbt state of commit {merge}")) {
        bail!(
            "{}: with state-push, the upload job should store {merge}'s state:\n{log}",
            default_branch.what
        );
    }
    eprintln!(
        "    ok: GitLab {}: state-push stored production's state ({merge})",
        default_branch.what
    );

    // 3. A branch pipeline without a merge request: the rules keep the job out.
    git(&repo, &["checkout", "--quiet", "feature/orders"])?;
    let branch = Pipeline {
        what: "branch pipeline without a merge request",
        variables: Vec::new(),
        unset: Vec::new(),
    };
    let before = server.uploads()?.len();
    let log = run(&branch)?;
    if server.uploads()?.len() != before || log.contains("foldup upload") {
        bail!(
            "{}: the component's job ran although its rules exclude such pipelines:\n{log}",
            branch.what
        );
    }
    eprintln!(
        "    ok: GitLab {}: the component's job does not run",
        branch.what
    );

    // 4. A branch pipeline of a branch with an open merge request: the dbt job of a project with
    //    merge request pipelines does not run there, so neither does the upload (branch-pipelines
    //    is false by default).
    let branch_with_mr = Pipeline {
        what: "branch pipeline of a branch with an open merge request",
        variables: vars(&[("CI_OPEN_MERGE_REQUESTS", "acme/shop!17")]),
        unset: Vec::new(),
    };
    let before = server.uploads()?.len();
    let log = run(&branch_with_mr)?;
    if server.uploads()?.len() != before || log.contains("foldup upload") {
        bail!(
            "{}: the component's job ran although branch-pipelines is false:\n{log}",
            branch_with_mr.what
        );
    }
    eprintln!(
        "    ok: GitLab {}: the component's job does not run (branch-pipelines: false)",
        branch_with_mr.what
    );

    // 5. The merge request's next pipeline: the state-pull job fetches main's state and dbt build
    //    gets it through the dotenv report and the artifact.
    git(&repo, &["checkout", "--quiet", "--detach", &merge])?;
    let log = run(&mr)?;
    if !log.contains("dbt sees DBT_STATE=[.foldup/state] FOLDUP_STATE_PULLED=[true]")
        || !log.contains(&merge)
    {
        bail!("{}: the state-pull job should pull {merge}'s state and dbt build get DBT_STATE=.foldup/state with its manifest.json:\n{log}", mr.what);
    }
    eprintln!(
        "    ok: GitLab {}: state-pull fetched main's state ({merge}); dbt build got DBT_STATE and the files",
        mr.what
    );
    drop(mirror);
    Ok(())
}
