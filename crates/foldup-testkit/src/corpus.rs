//! The committed corpora of the fuzz targets (`fuzz/corpus/<target>`, crash reproducers
//! included), which each owning crate's tests replay with the target's checks on every run.

use std::path::{Path, PathBuf};

use foldup_core::CiContext;

use crate::context_checks::check_context;

/// Every input of the committed corpus of fuzz target `target`, sorted by file name; panics when
/// the corpus is missing or empty, so that a replay is never vacuous.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

/// [`check_context`] on the context detected from corpus input `input`, naming the input when a
/// check fails.
pub fn check_replayed_context(ctx: &CiContext, input: &Path) {
    if let Err(panic) = std::panic::catch_unwind(|| check_context(ctx)) {
        eprintln!("the check failed on corpus input {}", input.display());
        std::panic::resume_unwind(panic);
    }
}
