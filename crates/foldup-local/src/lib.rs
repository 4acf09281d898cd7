//! foldup's fallback plugin for a plain shell or an unknown CI: everything it knows comes from
//! git in the dbt project directory. It is always active; the registry asks it last.

mod git;
mod remote;

use foldup_core::{
    async_trait, CiContext, CiProvider, CommitSha, DetectError, DetectOptions, Env, Sourced,
};

pub use git::{Git, GitError};

/// The name of this plugin in `--provider` and `env --json`.
pub const PROVIDER_NAME: &str = "local";

/// The local / unknown-CI plugin.
#[derive(Debug, Default, Clone, Copy)]
pub struct Local;

const NOT_IN_CI: &str = "not running in a known CI";

#[async_trait]
impl CiProvider for Local {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn is_active(&self, _env: &Env) -> bool {
        true
    }

    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError> {
        Ok(detect_context(env, options))
    }
}

fn detect_context(env: &Env, options: &DetectOptions) -> CiContext {
    let mut ctx = CiContext::new(PROVIDER_NAME);
    ctx.run_type = Sourced::missing(format!("{NOT_IN_CI}; pass --run-type"));
    ctx.pr_number = Sourced::missing(format!(
        "{NOT_IN_CI}; pass --pr-number for a pull request build"
    ));
    ctx.base_branch = Sourced::missing(NOT_IN_CI);
    ctx.build_url = Sourced::missing(NOT_IN_CI);

    let git = Git::new(env, &options.project_dir);
    let git = match git {
        Ok(git) => git,
        Err(error) => {
            fill_with_error(&mut ctx, &error);
            return ctx;
        }
    };

    ctx.commit_sha = match git.query(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) {
        Ok(Some(out)) => match out.parse::<CommitSha>() {
            Ok(sha) => Sourced::new(sha, "git rev-parse HEAD"),
            Err(why) => Sourced::missing(format!("git rev-parse HEAD: {why}")),
        },
        Ok(None) => Sourced::missing(format!("{}; pass --commit-sha", GitError::NoCommits)),
        Err(error) if error.is_about_the_repository() => {
            fill_with_error(&mut ctx, &error);
            return ctx;
        }
        Err(error) => {
            ctx.warnings.push(error.to_string());
            Sourced::missing(format!("{error}; pass --commit-sha"))
        }
    };

    // symbolic-ref also names the branch of a repository without commits, and says "none"
    // (exit 1) for a detached HEAD, where rev-parse --abbrev-ref would print "HEAD".
    ctx.branch = match git.query(&["symbolic-ref", "--quiet", "--short", "HEAD"]) {
        Ok(Some(branch)) if !branch.is_empty() => Sourced::new(branch, "git symbolic-ref HEAD"),
        Ok(_) => Sourced::missing(
            "HEAD is detached (a commit is checked out, not a branch); pass --branch",
        ),
        Err(error) => {
            ctx.warnings.push(error.to_string());
            Sourced::missing(format!("{error}; pass --branch"))
        }
    };

    ctx.default_branch = match git.query(&[
        "symbolic-ref",
        "--quiet",
        "--short",
        "refs/remotes/origin/HEAD",
    ]) {
        Ok(Some(target)) if !target.is_empty() => {
            let name = target.strip_prefix("origin/").unwrap_or(&target).to_owned();
            Sourced::new(name, "git refs/remotes/origin/HEAD")
        }
        Ok(_) => Sourced::missing(
            "refs/remotes/origin/HEAD is not set (git remote set-head origin --auto sets it)",
        ),
        Err(error) => {
            ctx.warnings.push(error.to_string());
            Sourced::missing(error.to_string())
        }
    };

    ctx.repository = match git.query(&["remote", "get-url", "origin"]) {
        // The URL may carry credentials: only its path is ever kept or shown.
        Ok(Some(url)) => match remote::repository_path(&url) {
            Some(path) => Sourced::new(path, "git remote origin"),
            None => {
                Sourced::missing("the origin remote is a local path or names no owner/repository")
            }
        },
        Ok(None) => Sourced::missing("the git repository has no origin remote"),
        // `git remote get-url` exits 2 for a missing remote.
        Err(GitError::Failed { message, .. }) if message.contains("No such remote") => {
            Sourced::missing("the git repository has no origin remote")
        }
        Err(error) => {
            ctx.warnings.push(error.to_string());
            Sourced::missing(error.to_string())
        }
    };
    ctx
}

/// git cannot say anything here: every git-derived field gets the same reason.
fn fill_with_error(ctx: &mut CiContext, error: &GitError) {
    if matches!(error, GitError::DubiousOwnership(_) | GitError::Timeout(_)) {
        ctx.warnings.push(error.to_string());
    }
    ctx.commit_sha = Sourced::missing(format!("{error}; pass --commit-sha"));
    ctx.branch = Sourced::missing(format!("{error}; pass --branch"));
    ctx.default_branch = Sourced::missing(error.to_string());
    ctx.repository = Sourced::missing(error.to_string());
}
