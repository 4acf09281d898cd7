//! The integration tests of `foldup-artifacts`: one test binary, linked once, with one module per area.

mod archive;
mod fixture;
mod fuzz_corpus;
mod hostile;
mod locate;
mod parallel;
