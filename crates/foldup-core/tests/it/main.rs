//! The integration tests of `foldup-core`: one test binary, linked once, with one module per area.

mod fuzz_corpus;
