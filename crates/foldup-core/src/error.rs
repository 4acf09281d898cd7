/// Why a plugin could not build a context. Each message is a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The environment contradicts itself or lacks something only the user can supply.
    #[error("{0}")]
    Usage(String),
}
