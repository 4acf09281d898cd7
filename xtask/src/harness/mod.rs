//! The harness layer: what tasks run things against. It imports only the utility layer
//! ([`crate::base`]).

pub mod datafold_server;
pub mod dbt;
pub mod release_build;
pub mod release_mirror;
pub mod scratch;
pub mod validators;
