//! Shared helpers for the end-to-end tests: run the real foldup binary in a controlled
//! environment and check what it printed.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The API key every test uses. It must never appear in anything foldup prints or writes.
pub const CANARY_KEY: &str = "dfk-canary-7f3a9c1e5b2d4e6f";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// What a run of foldup produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the full output when the exit code is not `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", self.stdout))
    }

    /// Asserts the canary key appears nowhere, except inside GitHub's `::add-mask::` command,
    /// which the runner consumes and never shows.
    pub fn assert_no_leak(&self) -> &Run {
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            for line in text.lines() {
                if line.starts_with("::add-mask::") {
                    continue;
                }
                assert!(
                    !line.contains(CANARY_KEY),
                    "the API key leaked into {name}: {line}"
                );
            }
        }
        self
    }
}

/// A foldup invocation with an empty environment (plus PATH and HOME) and its own working dir.
pub struct Foldup {
    command: Command,
}

impl Foldup {
    pub fn new(cwd: &Path) -> Foldup {
        let mut command = Command::new(env!("CARGO_BIN_EXE_foldup"));
        command
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", cwd)
            .stdin(Stdio::null());
        Foldup { command }
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Foldup {
        self.command.env(name, value);
        self
    }

    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Foldup {
        for (k, v) in vars {
            self.command.env(k, v);
        }
        self
    }

    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Foldup {
        self.command.args(args);
        self
    }

    pub fn run(mut self) -> Run {
        let out = self.command.output().expect("foldup runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Copies a folder tree (a dbt target) into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The real GitHub webhook payload (from @octokit/webhooks-examples) the GitHub tests use.
pub fn github_pr_payload() -> PathBuf {
    repo_root().join("crates/foldup-github/tests/fixtures/pull_request.opened.json")
}

/// The head sha, PR number and repository of [`github_pr_payload`], read from the payload itself.
pub fn github_pr_facts() -> (String, u64, String) {
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(github_pr_payload()).unwrap()).unwrap();
    (
        payload["pull_request"]["head"]["sha"]
            .as_str()
            .unwrap()
            .to_owned(),
        payload["number"].as_u64().unwrap(),
        payload["repository"]["full_name"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The variables GitHub Actions sets for a `pull_request` event, with its real payload. GitHub's
/// `GITHUB_SHA` for a pull request is the merge commit, which foldup must not send.
pub fn github_pull_request_env() -> Vec<(String, String)> {
    let (_, number, repository) = github_pr_facts();
    [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        (
            "GITHUB_EVENT_PATH",
            github_pr_payload().display().to_string(),
        ),
        ("GITHUB_SHA", GITHUB_MERGE_COMMIT.to_owned()),
        ("GITHUB_REF", format!("refs/pull/{number}/merge")),
        ("GITHUB_HEAD_REF", "changes".to_owned()),
        ("GITHUB_BASE_REF", "master".to_owned()),
        ("GITHUB_REPOSITORY", repository),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_RUN_ID", "1658821493".to_owned()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A merge commit sha as GitHub would create for the PR (nobody wrote it).
pub const GITHUB_MERGE_COMMIT: &str = "9a1c3b6e0f2d4a8b7c5e3f1a9b8c7d6e5f4a3b2c";

/// The bundled example's dbt target (dbt 1.10, manifest v12), produced by dbt itself.
pub fn example_target() -> PathBuf {
    repo_root().join("examples/shop/target")
}

impl Foldup {
    pub fn owned_envs(mut self, vars: &[(String, String)]) -> Foldup {
        for (k, v) in vars {
            self.command.env(k, v);
        }
        self
    }
}
