//! The documented exit codes and the one sentence that goes with a failure: every library
//! crate's error kinds are mapped to PRODUCT.md's exit codes here, and only here.

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
        // No plugin fails detection; should one, its sentence is a usage failure.
        match e {}
    }
}

impl From<foldup_artifacts::ArtifactError> for Failure {
    fn from(e: foldup_artifacts::ArtifactError) -> Self {
        Failure::new(ExitCode::Artifacts, e.to_string())
    }
}

impl From<foldup_datafold::DatafoldError> for Failure {
    fn from(e: foldup_datafold::DatafoldError) -> Self {
        use foldup_datafold::ErrorKind;
        let code = match e.kind() {
            ErrorKind::Configuration => ExitCode::Usage,
            ErrorKind::Artifacts => ExitCode::Artifacts,
            ErrorKind::Authentication => ExitCode::Auth,
            ErrorKind::Rejected => ExitCode::Rejected,
            ErrorKind::Unavailable => ExitCode::Network,
            ErrorKind::RunDidNotPass => ExitCode::Wait,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<foldup_state::StateError> for Failure {
    fn from(e: foldup_state::StateError) -> Self {
        use foldup_state::StateErrorKind;
        let code = match e.kind {
            StateErrorKind::Usage => ExitCode::Usage,
            StateErrorKind::NotFound | StateErrorKind::Integrity => ExitCode::Artifacts,
            StateErrorKind::Auth => ExitCode::Auth,
            StateErrorKind::Unreachable => ExitCode::Network,
        };
        Failure::new(code, e.message)
    }
}
