/// Why a plugin could not build a context. No plugin fails detection today: what it cannot
/// tell becomes a missing value with its reason, and a failed look-up a warning. The type stays
/// so that a CI whose detection can truly fail has a place to say so.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {}

/// A configuration mistake: a bad flag, variable or config file value. Maps to exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
