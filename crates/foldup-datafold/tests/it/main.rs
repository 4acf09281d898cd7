//! The integration tests of `foldup-datafold`: one test binary, linked once, with one module per area.

mod against_testserver;
