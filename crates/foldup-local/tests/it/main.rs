//! The integration tests of `foldup-local`: one test binary, linked once, with one module per area.

mod detect;
