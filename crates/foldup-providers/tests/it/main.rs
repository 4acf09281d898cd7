//! The integration tests of `foldup-providers`: one test binary, with one module per area.

mod long_tail;
mod support;
