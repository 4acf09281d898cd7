//! The local plugin against real git repositories made in temporary directories.

use std::path::Path;
use std::process::Command;

use foldup_core::{CiContext, CiProvider, DetectOptions, Env};
use foldup_local::Local;
use serde_json::Value;
use tempfile::TempDir;

/// The snapshot a user's shell would give: the real PATH, a throw-away HOME so no personal git
/// config leaks in, and a ceiling so git never walks up out of the temporary directory.
fn shell_env(home: &Path) -> Env {
    let path = std::env::var("PATH").expect("tests need PATH to find git");
    let ceiling = home.parent().unwrap_or(home);
    Env::from_pairs([
        ("PATH", path),
        ("HOME", home.display().to_string()),
        ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
        ("GIT_CEILING_DIRECTORIES", ceiling.display().to_string()),
    ])
}

fn git(dir: &Path, env: &Env, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A cloned-looking repository: one commit on main, origin on GitHub, origin/HEAD set.
fn repository(origin: &str) -> (TempDir, Env) {
    let dir = TempDir::new().unwrap();
    let env = shell_env(dir.path());
    git(dir.path(), &env, &["init", "--quiet"]);
    std::fs::write(dir.path().join("dbt_project.yml"), "name: warehouse\n").unwrap();
    git(dir.path(), &env, &["add", "dbt_project.yml"]);
    git(
        dir.path(),
        &env,
        &["commit", "--quiet", "-m", "Add dbt project"],
    );
    git(dir.path(), &env, &["remote", "add", "origin", origin]);
    git(
        dir.path(),
        &env,
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    git(
        dir.path(),
        &env,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ],
    );
    (dir, env)
}

async fn detect(env: &Env, dir: &Path) -> CiContext {
    assert!(Local.is_active(env));
    let options = DetectOptions {
        project_dir: dir.to_path_buf(),
        ..DetectOptions::default()
    };
    Local.detect(env, &options).await.expect("detect")
}

fn field(ctx: &CiContext, name: &str) -> (Value, Value) {
    let json = ctx.to_json();
    (json[name].clone(), json["sources"][name].clone())
}

#[test]
fn always_active_and_named_local() {
    assert_eq!(Local.name(), "local");
    assert!(Local.is_active(&Env::default()));
}

#[tokio::test]
async fn a_cloned_repository_on_a_branch() {
    let (dir, env) = repository("git@github.com:acme/warehouse.git");
    git(
        dir.path(),
        &env,
        &["checkout", "--quiet", "-b", "feature/orders"],
    );
    let head = git(dir.path(), &env, &["rev-parse", "HEAD"]);
    let ctx = detect(&env, dir.path()).await;
    assert_eq!(
        field(&ctx, "commit_sha"),
        (Value::from(head), Value::from("git rev-parse HEAD"))
    );
    assert_eq!(
        field(&ctx, "branch"),
        ("feature/orders".into(), "git symbolic-ref HEAD".into())
    );
    assert_eq!(
        field(&ctx, "default_branch"),
        ("main".into(), "git refs/remotes/origin/HEAD".into())
    );
    assert_eq!(
        field(&ctx, "repository"),
        ("acme/warehouse".into(), "git remote origin".into())
    );
    assert_eq!(
        field(&ctx, "run_type"),
        (
            Value::Null,
            "not running in a known CI; pass --run-type".into()
        )
    );
    assert_eq!(ctx.to_json()["provider"], "local");
    assert_eq!(ctx.to_json()["pr_number"], Value::Null);
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

#[tokio::test]
async fn credentials_in_the_origin_url_never_show() {
    let (dir, env) =
        repository("https://x-access-token:ghs_canary123@github.com/acme/warehouse.git");
    let ctx = detect(&env, dir.path()).await;
    assert_eq!(ctx.to_json()["repository"], "acme/warehouse");
    let everything = format!("{} {:?}", ctx.to_json(), ctx.warnings);
    assert!(!everything.contains("canary"), "{everything}");
}

#[tokio::test]
async fn detached_head_has_no_branch() {
    let (dir, env) = repository("https://gitlab.com/data/analytics/warehouse.git");
    git(dir.path(), &env, &["checkout", "--quiet", "--detach"]);
    let ctx = detect(&env, dir.path()).await;
    let (branch, why) = field(&ctx, "branch");
    assert_eq!(branch, Value::Null);
    assert!(
        why.as_str().unwrap().starts_with("HEAD is detached"),
        "{why}"
    );
    assert!(ctx.commit_sha.is_some());
    assert_eq!(ctx.to_json()["repository"], "data/analytics/warehouse");
}

#[tokio::test]
async fn a_fresh_repository_without_commits_or_remote() {
    let dir = TempDir::new().unwrap();
    let env = shell_env(dir.path());
    git(dir.path(), &env, &["init", "--quiet"]);
    let ctx = detect(&env, dir.path()).await;
    assert_eq!(
        field(&ctx, "commit_sha"),
        (
            Value::Null,
            "the git repository has no commits yet; pass --commit-sha".into()
        )
    );
    assert_eq!(ctx.to_json()["branch"], "main");
    assert_eq!(
        field(&ctx, "repository"),
        (
            Value::Null,
            "the git repository has no origin remote".into()
        )
    );
    let (default_branch, why) = field(&ctx, "default_branch");
    assert_eq!(default_branch, Value::Null);
    assert!(
        why.as_str().unwrap().contains("origin/HEAD is not set"),
        "{why}"
    );
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

#[tokio::test]
async fn not_a_git_repository() {
    let dir = TempDir::new().unwrap();
    let env = shell_env(dir.path());
    let ctx = detect(&env, dir.path()).await;
    assert_eq!(
        field(&ctx, "commit_sha"),
        (
            Value::Null,
            "not a git repository; pass --commit-sha".into()
        )
    );
    assert_eq!(ctx.to_json()["branch"], Value::Null);
    assert_eq!(ctx.to_json()["repository"], Value::Null);
}

#[tokio::test]
async fn no_git_on_path() {
    let (dir, env) = repository("git@github.com:acme/warehouse.git");
    let empty_bin = TempDir::new().unwrap();
    let env = env.with("PATH", &empty_bin.path().display().to_string());
    let ctx = detect(&env, dir.path()).await;
    assert_eq!(
        field(&ctx, "commit_sha"),
        (
            Value::Null,
            "git was not found on PATH; pass --commit-sha".into()
        )
    );
    assert_eq!(ctx.to_json()["repository"], Value::Null);
    // And with no PATH at all.
    let ctx = detect(&Env::default(), dir.path()).await;
    assert_eq!(ctx.to_json()["commit_sha"], Value::Null);
}

#[tokio::test]
async fn project_directory_that_does_not_exist() {
    let dir = TempDir::new().unwrap();
    let env = shell_env(dir.path());
    let missing = dir.path().join("no-such-project");
    let ctx = detect(&env, &missing).await;
    let (sha, why) = field(&ctx, "commit_sha");
    assert_eq!(sha, Value::Null);
    let why = why.as_str().unwrap();
    assert!(
        why.contains("no-such-project") && why.contains("does not exist"),
        "{why}"
    );
}

/// The repository states foldup reads, each as one committed snapshot (`snapshots/`) of the whole
/// context: each field, its source, the fork flag and the warnings, so that a change to a rule
/// shows in review. The commit, which git derives from the clock, is checked against
/// `git rev-parse HEAD` and shown as `<HEAD>`.
#[tokio::test]
async fn the_detection_table() {
    let (on_branch, on_branch_env) = repository("git@github.com:acme/warehouse.git");
    git(
        on_branch.path(),
        &on_branch_env,
        &["checkout", "--quiet", "-b", "feature/orders"],
    );
    let (detached, detached_env) = repository("https://gitlab.com/data/analytics/warehouse.git");
    git(
        detached.path(),
        &detached_env,
        &["checkout", "--quiet", "--detach"],
    );
    let fresh = TempDir::new().unwrap();
    let fresh_env = shell_env(fresh.path());
    git(fresh.path(), &fresh_env, &["init", "--quiet"]);
    let not_git = TempDir::new().unwrap();
    let not_git_env = shell_env(not_git.path());
    let empty_bin = TempDir::new().unwrap();
    let no_git_env = on_branch_env
        .clone()
        .with("PATH", &empty_bin.path().display().to_string());
    let cases = [
        (
            "a_cloned_repository_on_a_branch",
            &on_branch,
            &on_branch_env,
        ),
        ("a_detached_head", &detached, &detached_env),
        ("a_repository_without_commits_or_remote", &fresh, &fresh_env),
        ("not_a_git_repository", &not_git, &not_git_env),
        ("no_git_on_path", &on_branch, &no_git_env),
    ];
    for (name, dir, env) in cases {
        let ctx = detect(env, dir.path()).await;
        let mut record = foldup_testkit::detection::detection_record(&ctx);
        if let Some(sha) = record["commit_sha"].as_str() {
            assert_eq!(sha, git(dir.path(), env, &["rev-parse", "HEAD"]), "{name}");
            record["commit_sha"] = Value::from("<HEAD>");
        }
        insta::assert_json_snapshot!(name, record);
    }
}
