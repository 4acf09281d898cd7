//! Asking git, bounded in time: git is found on the `PATH` of the [`Env`] snapshot (never the
//! process's own), runs with a small, explicit environment, and is killed if it hangs (a network
//! filesystem, a credential prompt).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use foldup_core::{sanitize_line, Env};

/// Generous for a local `rev-parse`, short enough that a stuck git cannot stall a CI job.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Variables git may need from the snapshot; everything else is left out so that nothing in the
/// caller's environment can turn a read-only query into something else.
const PASSED_THROUGH: &[&str] = &[
    "HOME",
    "USERPROFILE",
    "XDG_CONFIG_HOME",
    "SYSTEMROOT",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
];

/// Why git could not answer. Each is a sentence; the caller adds what the user can pass instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GitError {
    #[error("git was not found on PATH")]
    NotInstalled,
    #[error("the project directory {0} does not exist")]
    ProjectDirMissing(String),
    #[error("not a git repository")]
    NotARepository,
    #[error("git refuses to read {0} because another user owns it (add it with `git config --global --add safe.directory {0}`)")]
    DubiousOwnership(String),
    #[error("the git repository has no commits yet")]
    NoCommits,
    #[error("git did not answer within {0:.1} seconds")]
    Timeout(f64),
    #[error("git {command} failed: {message}")]
    Failed { command: String, message: String },
}

impl GitError {
    /// Errors that every later git command would repeat: ask once, answer every field with it.
    pub fn is_about_the_repository(&self) -> bool {
        matches!(
            self,
            GitError::NotInstalled
                | GitError::ProjectDirMissing(_)
                | GitError::NotARepository
                | GitError::DubiousOwnership(_)
                | GitError::Timeout(_)
        )
    }
}

/// How a git command ended: its trimmed stdout, or `None` when it exited 1 with nothing to say
/// (git's way of answering "no such ref" to `--quiet` queries).
pub type GitAnswer = Option<String>;

/// git, run in one directory with an environment taken from the snapshot.
pub struct Git {
    program: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Git {
    pub fn new(env: &Env, dir: &Path) -> Result<Self, GitError> {
        let program = find_on_path(env, "git").ok_or(GitError::NotInstalled)?;
        if !dir.is_dir() {
            return Err(GitError::ProjectDirMissing(sanitize_line(
                &dir.display().to_string(),
            )));
        }
        let mut vars: Vec<(String, String)> = PASSED_THROUGH
            .iter()
            .filter_map(|name| Some((name.to_string(), env.get_raw(name)?.to_owned())))
            .collect();
        vars.push((
            "PATH".into(),
            env.get_raw("PATH").unwrap_or_default().into(),
        ));
        // Stable, English messages to recognise; no prompts, no lock files.
        vars.push(("LC_ALL".into(), "C".into()));
        vars.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
        vars.push(("GIT_OPTIONAL_LOCKS".into(), "0".into()));
        Ok(Self {
            program,
            dir: dir.to_path_buf(),
            env: vars,
            timeout: GIT_TIMEOUT,
        })
    }

    /// Runs `git <args>` and returns its stdout; an exit code of 1 with empty output is `None`.
    pub fn query(&self, args: &[&str]) -> Result<GitAnswer, GitError> {
        let child = Command::new(&self.program)
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| GitError::Failed {
                command: args.join(" "),
                message: format!("could not start {}: {e}", self.program.display()),
            })?;
        let (status, stdout, stderr) = wait_bounded(child, self.timeout)?;
        let stdout = stdout.trim().to_owned();
        if status == Some(0) {
            return Ok(Some(stdout));
        }
        let stderr = stderr.trim();
        if stderr.contains("not a git repository") {
            return Err(GitError::NotARepository);
        }
        if stderr.contains("dubious ownership") {
            return Err(GitError::DubiousOwnership(sanitize_line(
                &self.dir.display().to_string(),
            )));
        }
        if status == Some(1) && stdout.is_empty() && stderr.is_empty() {
            return Ok(None);
        }
        Err(GitError::Failed {
            command: args.join(" "),
            message: sanitize_line(stderr.lines().next().unwrap_or("no message")),
        })
    }
}

/// Waits for `child` at most `limit`, killing it after. git's answers here are a line or two,
/// far below a pipe's buffer, so reading after the exit cannot deadlock.
fn wait_bounded(
    mut child: Child,
    limit: Duration,
) -> Result<(Option<i32>, String, String), GitError> {
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(GitError::Timeout(limit.as_secs_f64()));
            }
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Ok((status.code(), stdout, stderr))
}

/// The first executable named `program` in the snapshot's `PATH`.
fn find_on_path(env: &Env, program: &str) -> Option<PathBuf> {
    let path = env.get("PATH")?;
    let names: Vec<String> = if cfg!(windows) {
        vec![format!("{program}.exe"), format!("{program}.cmd")]
    } else {
        vec![program.to_owned()]
    };
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory holding a `git` that runs `script`, and an Env whose PATH is only that.
    fn fake_git(script: &str) -> (tempfile::TempDir, Env) {
        let bin = tempfile::TempDir::new().unwrap();
        let program = bin.path().join("git");
        std::fs::write(&program, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = Env::from_pairs([("PATH", format!("{}:/bin:/usr/bin", bin.path().display()))]);
        (bin, env)
    }

    #[test]
    fn a_hanging_git_is_killed_at_the_timeout() {
        let (bin, env) = fake_git("exec sleep 30");
        let git = Git::new(&env, bin.path()).unwrap();
        let git = Git {
            timeout: Duration::from_millis(200),
            ..git
        };
        let started = Instant::now();
        let err = git.query(&["rev-parse", "HEAD"]).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.to_string(), "git did not answer within 0.2 seconds");
    }

    #[test]
    fn dubious_ownership_says_how_to_trust_the_directory() {
        // git's message when a CI container's user does not own the checkout.
        let (bin, env) = fake_git(
            "echo \"fatal: detected dubious ownership in repository at '$PWD'\" >&2; exit 128",
        );
        let git = Git::new(&env, bin.path()).unwrap();
        let err = git.query(&["rev-parse", "HEAD"]).unwrap_err();
        assert!(matches!(err, GitError::DubiousOwnership(_)), "{err:?}");
        assert!(err.to_string().contains("safe.directory"), "{err}");
    }

    #[test]
    fn git_runs_without_the_callers_other_variables() {
        let (bin, env) = fake_git("echo \"${SECRET_TOKEN:-unset} $LC_ALL\"");
        let env = env.with("SECRET_TOKEN", "canary");
        let git = Git::new(&env, bin.path()).unwrap();
        assert_eq!(git.query(&["version"]).unwrap().as_deref(), Some("unset C"));
    }

    #[test]
    fn relative_path_entries_are_not_searched() {
        let (bin, _) = fake_git("echo hi");
        let env = Env::from_pairs([("PATH", ".")]);
        assert_eq!(
            Git::new(&env, bin.path()).err(),
            Some(GitError::NotInstalled)
        );
    }
}
