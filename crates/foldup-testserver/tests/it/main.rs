//! The integration tests of `foldup-testserver`: one test binary, linked once, with one module per area.

mod below_http;
mod http;
mod inspection;
