/// Why a plugin could not build a context. Each message is a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The environment contradicts itself or lacks something only the user can supply.
    #[error("{0}")]
    Usage(String),
}

/// A configuration mistake: a bad flag, variable or config file value. Maps to exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
