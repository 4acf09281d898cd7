//! The integration tests of `foldup-github`: one test binary, linked once, with one module per area.

mod bad_payloads;
mod detect;
mod fuzz_corpus;
mod pull_lookup;
