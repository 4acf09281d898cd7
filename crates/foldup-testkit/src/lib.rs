//! What foldup's integration tests and its fuzz targets share, written once:
//!
//! - [`canary`]: the secrets every end-to-end test hands foldup, and the scans that prove none of
//!   them leaked into text, files or archives;
//! - [`context_checks`]: the invariants every CI context must keep whatever the input (one line
//!   per field, one line per warning, JSON that round-trips), which the fuzz targets check too;
//! - [`corpus`]: the committed fuzz corpora, replayed by each owning crate's tests;
//! - [`detection`]: a CI context as one JSON record for snapshot tests;
//! - [`stand_in`] (feature `servers`): local servers that play a provider's API, an address where
//!   nothing listens, and a throwaway certificate authority.

pub mod canary;
pub mod context_checks;
pub mod corpus;
pub mod detection;
#[cfg(feature = "servers")]
pub mod stand_in;
