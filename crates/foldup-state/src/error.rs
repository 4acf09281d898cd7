//! What can go wrong with a state store, by kind; the binary maps each kind to an exit code.

/// The kind of a state failure; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateErrorKind {
    /// A bad store URL, a PR build pushing without `--force`, a missing input (exit 2).
    Usage,
    /// No state stored for what was asked (exit 3).
    NotFound,
    /// A stored file differs from its record (exit 3).
    Integrity,
    /// The store rejected the credentials, or there were none (exit 4).
    Auth,
    /// The store could not be reached after retries, or answered with a server error (exit 6).
    Unreachable,
}

/// A state failure: its kind and one sentence that says what to do. Never holds a secret: the
/// store's own error text is scrubbed of every credential value before it gets here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StateError {
    pub kind: StateErrorKind,
    pub message: String,
}

impl StateError {
    pub fn new(kind: StateErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(StateErrorKind::Usage, message)
    }
}
