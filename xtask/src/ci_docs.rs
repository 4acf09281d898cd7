//! `cargo xtask ci-docs`: keeps the CI pages in `docs/ci/` made of the very files CI validates.
//!
//! Between `<!-- BEGIN file: PATH -->` and `<!-- END file: PATH -->` a page holds PATH verbatim in
//! a yaml block; between `<!-- BEGIN inputs: PATH -->` and its END, a table of the inputs (GitLab
//! component, GitHub Action) or parameters (orb command or job) that PATH declares. `cargo xtask
//! ci-docs` rewrites those blocks; `cargo xtask ci-docs --check` (run by `cargo xtask test`) fails
//! when a page differs from what they would be. A `<!-- BEGIN migration: PATH -->` block is a
//! hand-written diff; the check fails unless every added and context line of it is a line of PATH,
//! so the migration cannot drift from the example it ends in.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::harness::validators;

const PAGES: [&str; 14] = [
    "docs/ci/circleci.md",
    "docs/ci/gitlab.md",
    "docs/ci/github.md",
    "docs/ci/bitbucket-pipelines.md",
    "docs/ci/azure-pipelines.md",
    "docs/ci/buildkite.md",
    "docs/ci/aws-codebuild.md",
    "docs/ci/google-cloud-build.md",
    "docs/ci/harness.md",
    "docs/ci/drone.md",
    "docs/ci/woodpecker.md",
    "docs/ci/travis-ci.md",
    "docs/ci/semaphore.md",
    "docs/ci/bitrise.md",
];

/// The long tail's example pipelines and the check-jsonschema vendor schema each validates
/// against, where SchemaStore has one (AWS CodeBuild, Semaphore, Bitrise and Harness have none
/// bundled; their examples are checked as YAML).
const LONG_TAIL_EXAMPLES: [(&str, Option<&str>); 11] = [
    (
        "examples/ci/bitbucket-pipelines/bitbucket-pipelines.yml",
        Some("vendor.bitbucket-pipelines"),
    ),
    (
        "examples/ci/azure-pipelines/azure-pipelines.yml",
        Some("vendor.azure-pipelines"),
    ),
    (
        "examples/ci/buildkite/pipeline.yml",
        Some("vendor.buildkite"),
    ),
    (
        "examples/ci/google-cloud-build/cloudbuild.yaml",
        Some("vendor.cloudbuild"),
    ),
    ("examples/ci/drone/.drone.yml", Some("vendor.drone-ci")),
    ("examples/ci/travis-ci/.travis.yml", Some("vendor.travis")),
    (
        "examples/ci/woodpecker/.woodpecker.yml",
        Some("vendor.woodpecker-ci"),
    ),
    ("examples/ci/aws-codebuild/buildspec.yml", None),
    ("examples/ci/semaphore/semaphore.yml", None),
    ("examples/ci/bitrise/bitrise.yml", None),
    ("examples/ci/harness/pipeline.yml", None),
];

/// Validates the long tail's example pipelines: each against its CI's vendor schema, the rest
/// as YAML.
fn validate_long_tail_examples() -> Result<()> {
    let root = crate::repo_root();
    for (path, schema) in LONG_TAIL_EXAMPLES {
        let file = root.join(path);
        validators::load_yaml(&file)?;
        if let Some(schema) = schema {
            validators::check_schema(schema, &[file.as_path()])?;
        }
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let check = args.iter().any(|a| a == "--check");
    eprintln!(
        "\n==> ci-docs: docs/ci pages against the files CI validates{}",
        if check { " (check)" } else { "" }
    );
    let root = crate::repo_root();
    let mut stale = Vec::new();
    for page in PAGES {
        let path = root.join(page);
        let text = fs::read_to_string(&path).with_context(|| format!("{page} is missing"))?;
        let generated = regenerate(&text, page)?;
        check_migrations(&generated, page)?;
        if generated != text {
            if check {
                stale.push(page);
            } else {
                fs::write(&path, generated)?;
                eprintln!("    wrote {page}");
            }
        } else {
            eprintln!("    ok: {page} holds the current examples and inputs");
        }
    }
    validate_long_tail_examples()?;
    if !stale.is_empty() {
        bail!("{} differ(s) from the files CI validates; run `cargo xtask ci-docs` and commit the result", stale.join(", "));
    }
    Ok(())
}

/// The blocks of `text` as `(kind, path, start of content, end of content)`.
fn blocks(text: &str, page: &str) -> Result<Vec<(String, String, usize, usize)>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("<!-- BEGIN ") {
        let begin = from + at;
        let line_end = text[begin..]
            .find("-->")
            .map(|e| begin + e + 3)
            .with_context(|| format!("{page}: an unclosed BEGIN marker"))?;
        let marker = text[begin + "<!-- BEGIN ".len()..line_end - 3].trim();
        let (kind, path) = marker.split_once(':').with_context(|| {
            format!("{page}: a BEGIN marker must read <!-- BEGIN kind: path -->")
        })?;
        let (kind, path) = (kind.trim().to_owned(), path.trim().to_owned());
        let end_marker = format!("<!-- END {kind}: {path} -->");
        let content_start = line_end + 1;
        let end = text[content_start..]
            .find(&end_marker)
            .map(|e| content_start + e)
            .with_context(|| format!("{page}: no {end_marker}"))?;
        found.push((kind, path, content_start, end));
        from = end + end_marker.len();
    }
    Ok(found)
}

fn regenerate(text: &str, page: &str) -> Result<String> {
    let mut out = String::new();
    let mut copied = 0;
    for (kind, path, start, end) in blocks(text, page)? {
        let content = match kind.as_str() {
            "file" => {
                let file = read(&path)?;
                format!(
                    "```yaml\n{}```\n",
                    if file.ends_with('\n') {
                        file
                    } else {
                        file + "\n"
                    }
                )
            }
            "inputs" => inputs_table(&path)?,
            "migration" => text[start..end].to_owned(),
            other => bail!("{page}: unknown block kind '{other}' (file, inputs, migration)"),
        };
        out.push_str(&text[copied..start]);
        out.push_str(&content);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

fn read(path: &str) -> Result<String> {
    let full: PathBuf = crate::repo_root().join(path);
    fs::read_to_string(&full)
        .with_context(|| format!("{path}, named in a docs/ci block, is missing"))
}

fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) if s.is_empty() => "`\"\"`".to_owned(),
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    };
    text.replace('|', "\\|")
}

fn sentence(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A markdown table of what `path` declares: GitLab inputs, action inputs, or orb parameters.
fn inputs_table(path: &str) -> Result<String> {
    let text = read(path)?;
    let mut rows = Vec::new();
    if path.starts_with("templates/") {
        let header = text.split("\n---\n").next().unwrap_or("");
        let spec = validators::parse_yaml(header, path)?;
        rows.push("| input | type | default | description |".to_owned());
        rows.push("|---|---|---|---|".to_owned());
        for (name, input) in spec["spec"]["inputs"].as_object().into_iter().flatten() {
            let default = if input.get("default").is_none() {
                "required".to_owned()
            } else {
                cell(&input["default"])
            };
            let mut description = sentence(&input["description"]);
            if let Some(options) = input["options"].as_array() {
                let options: Vec<String> = options.iter().map(cell).collect();
                description.push_str(&format!(" One of {}.", options.join(", ")));
            }
            rows.push(format!(
                "| `{name}` | {} | {default} | {description} |",
                input["type"].as_str().unwrap_or("string")
            ));
        }
    } else if path.ends_with("action.yml") {
        let action = validators::parse_yaml(&text, path)?;
        rows.push("| input | default | description |".to_owned());
        rows.push("|---|---|---|".to_owned());
        for (name, input) in action["inputs"].as_object().into_iter().flatten() {
            let default = if input["required"] == true {
                "required".to_owned()
            } else {
                cell(&input["default"])
            };
            rows.push(format!(
                "| `{name}` | {default} | {} |",
                sentence(&input["description"])
            ));
        }
        rows.push(String::new());
        rows.push("| output | description |".to_owned());
        rows.push("|---|---|".to_owned());
        for (name, output) in action["outputs"].as_object().into_iter().flatten() {
            rows.push(format!(
                "| `{name}` | {} |",
                sentence(&output["description"])
            ));
        }
    } else if path.starts_with("orb/src/") {
        let element = validators::parse_yaml(&text, path)?;
        rows.push("| parameter | type | default | description |".to_owned());
        rows.push("|---|---|---|---|".to_owned());
        for (name, parameter) in element["parameters"].as_object().into_iter().flatten() {
            let default = if parameter.get("default").is_none() {
                "required".to_owned()
            } else {
                cell(&parameter["default"])
            };
            let kind = match parameter["enum"].as_array() {
                Some(options) => format!(
                    "enum: {}",
                    options
                        .iter()
                        .map(|o| o.as_str().unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => parameter["type"].as_str().unwrap_or("").to_owned(),
            };
            rows.push(format!(
                "| `{name}` | {kind} | {default} | {} |",
                sentence(&parameter["description"])
            ));
        }
    } else {
        bail!(
            "an inputs block names {path}, which is neither templates/…, action.yml nor orb/src/…"
        );
    }
    Ok(format!("{}\n", rows.join("\n")))
}

/// Every `+` and context line of each migration diff must be a line of the example it names.
fn check_migrations(text: &str, page: &str) -> Result<()> {
    for (kind, path, start, end) in blocks(text, page)? {
        if kind != "migration" {
            continue;
        }
        let target = read(&path)?;
        let lines: Vec<&str> = target.lines().map(str::trim_end).collect();
        let body = &text[start..end];
        let diff = body
            .split("```diff\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .with_context(|| {
                format!("{page}: the migration block for {path} holds no ```diff block")
            })?;
        let mut added = 0;
        for line in diff.lines() {
            let (mark, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
            if mark == "-" {
                continue;
            }
            if mark != "+" && mark != " " && !line.is_empty() {
                bail!(
                    "{page}: the migration diff line '{line}' starts with neither +, - nor a space"
                );
            }
            added += usize::from(mark == "+");
            if !lines.contains(&rest.trim_end()) {
                bail!("{page}: the migration diff has the line '{}', which {path} does not have; make the diff end in the example", rest.trim_end());
            }
        }
        if added == 0 {
            bail!("{page}: the migration diff for {path} adds nothing");
        }
    }
    Ok(())
}
