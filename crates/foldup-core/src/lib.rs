//! The shared heart of foldup: the [`CiProvider`] plugin trait, the [`CiContext`] it produces,
//! the [`Env`] snapshot every plugin reads instead of the process environment, and the layered
//! [`Settings`].
//!
//! Data flows one way: `Env` → a plugin's `detect` → `CiContext` → overrides from settings →
//! artifacts located → upload. Only the binary reads the real process environment.

mod context;
mod env;
mod error;
mod facts;
mod production;
mod provider;
mod report;
mod secret;
pub mod settings;

pub use context::{CiContext, CommitSha, RunType, Sourced};
pub use env::Env;
pub use error::{ConfigError, DetectError};
pub use facts::{
    compose, compose_with_wording, BranchBuild, CommitCandidate, CommitMeaning, EventKind, Facts,
    OpenPullRequest, PlainWording, PullRequestField, TagBuild, Wording,
};
pub use production::ProductionBranch;
pub use provider::{CiProvider, DetectOptions};
pub use report::{LogGroup, PlainReporter, Reporter};
pub use secret::Secret;
pub use settings::Settings;

/// Re-exported so plugins and the binary name one version of each.
pub use async_trait::async_trait;
pub use foldup_artifacts as artifacts;
pub use foldup_datafold as datafold;
pub use foldup_http as http;
/// The one escaping policy for text from outside (see `foldup_logtext`).
pub use foldup_logtext as log_text;
/// Makes a value safe to print on one log line; [`log_text::one_line`] under its older name.
pub use foldup_logtext::one_line as sanitize_line;
