//! The single integration-test binary.

mod harness;

mod auth;
mod cli;
mod customize;
mod docs;
mod fleet;
mod host;
mod repl;
mod reports;
mod runbooks;
mod safety;
