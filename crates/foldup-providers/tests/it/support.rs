//! Shared by the provider table tests: runs a provider on a variable set and renders the composed
//! context for a snapshot.

use foldup_core::{CiContext, CiProvider, DetectOptions, Env};
use foldup_providers::{builtin, DataProvider};

/// The pull request's head: the commit the author pushed.
pub const HEAD: &str = "4f2c1b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a392";
/// A merge commit the CI made for the pull request: never the answer.
pub const MERGE: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
/// A commit pushed to a branch.
pub const PUSHED: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

pub fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

/// The first built-in provider active on `env`, as the registry asks them.
pub fn detected(env: &Env) -> DataProvider {
    for native in ["GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI"] {
        assert!(
            !env.is_set(native),
            "a native CI's variable {native} is set"
        );
    }
    builtin()
        .into_iter()
        .find(|p| p.is_active(env))
        .expect("some built-in provider detects this variable set")
}

/// Runs detection as `foldup env` would, checking the right provider answers.
pub fn context(expected_provider: &str, env: &Env, production_branch: Option<&str>) -> CiContext {
    let provider = detected(env);
    assert_eq!(
        provider.name(),
        expected_provider,
        "detection picked the wrong CI"
    );
    let options = DetectOptions {
        production_branch: production_branch.map(str::to_owned),
        ..DetectOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(provider.detect(env, &options)).unwrap()
}

/// Every field, its source, the fork flag and the warnings: what a reviewer reads.
pub fn render(ctx: &CiContext) -> String {
    let mut out = serde_json::to_string_pretty(&ctx.to_json()).unwrap();
    out.push_str(&format!(
        "\nfork: {:?} ← {}\n",
        ctx.fork.value,
        ctx.fork.source.as_deref().unwrap_or("-")
    ));
    for warning in &ctx.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}
