//! The integration tests of `foldup-circleci`: one test binary, linked once, with one module per area.

mod detect;
mod fuzz_corpus;
