//! The integration tests of `foldup-github`: one test binary, linked once, with one module per area.

mod bad_payloads;
mod detect;
mod fuzz_corpus;
mod pull_lookup;
mod workflow_run;

/// A recorded webhook payload of `tests/fixtures/` (see its README).
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
