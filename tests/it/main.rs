//! The single integration-test binary.

mod harness;

mod cli;
mod customize;
mod docs;
mod fleet;
mod host;
mod repl;
mod reports;
mod runbooks;
mod safety;
mod vantiq;
