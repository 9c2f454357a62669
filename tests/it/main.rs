//! The single integration-test binary.

mod harness;

mod cli;
mod host;
mod repl;
mod runbooks;
