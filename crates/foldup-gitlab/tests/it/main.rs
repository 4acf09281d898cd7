//! The integration tests of `foldup-gitlab`: one test binary, linked once, with one module per area.

mod fuzz_corpus;
mod lookup;
mod pipelines;
