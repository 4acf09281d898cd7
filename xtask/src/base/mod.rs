//! The utility layer: where the repository is, running a step, copying a tree. It imports nothing
//! else of xtask; the harness and the tasks build on it.

pub mod repo;
pub mod step;
pub mod tree;
