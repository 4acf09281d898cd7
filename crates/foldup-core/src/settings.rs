//! Layered settings (placeholder replaced below).
/// Settings.
#[derive(Debug, Clone, Default)]
pub struct Settings;
