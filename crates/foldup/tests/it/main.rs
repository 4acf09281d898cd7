//! The integration tests of `foldup`: one test binary, linked once, with one module per area.

mod env;
mod faults;
mod hostile;
mod impact;
mod providers;
mod secrets;
mod state;
mod support;
mod upload;
