//! The documented exit codes and the one sentence that goes with a failure.

use std::fmt;

/// PRODUCT.md's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Usage or configuration.
    Usage = 2,
    /// Artifacts missing or invalid.
    Artifacts = 3,
    /// Missing or rejected API key.
    Auth = 4,
    /// Datafold rejected the request (e.g. unknown CI config).
    Rejected = 5,
    /// Network or server failure after retries.
    Network = 6,
    /// `--wait`: the diff failed, was cancelled or timed out.
    Wait = 7,
}

impl ExitCode {
    pub fn from_code(code: i32) -> ExitCode {
        match code {
            3 => ExitCode::Artifacts,
            4 => ExitCode::Auth,
            5 => ExitCode::Rejected,
            6 => ExitCode::Network,
            7 => ExitCode::Wait,
            _ => ExitCode::Usage,
        }
    }
}

/// A failed command: its exit code and the sentence that tells the user what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<foldup_core::ConfigError> for Failure {
    fn from(e: foldup_core::ConfigError) -> Self {
        Failure::usage(e.0)
    }
}

impl From<foldup_core::DetectError> for Failure {
    fn from(e: foldup_core::DetectError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<foldup_artifacts::ArtifactError> for Failure {
    fn from(e: foldup_artifacts::ArtifactError) -> Self {
        Failure::new(ExitCode::Artifacts, e.to_string())
    }
}

impl From<foldup_datafold::DatafoldError> for Failure {
    fn from(e: foldup_datafold::DatafoldError) -> Self {
        Failure::new(ExitCode::from_code(e.exit_code()), e.to_string())
    }
}

impl From<foldup_state::StateError> for Failure {
    fn from(e: foldup_state::StateError) -> Self {
        Failure::new(ExitCode::from_code(e.exit_code()), e.message)
    }
}
