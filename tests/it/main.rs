//! The single integration-test binary.

mod harness;

mod architecture;
mod auth;
mod cli;
mod crash;
mod customize;
mod docs;
mod fleet;
mod guards;
mod host;
mod kube_trust;
mod locking;
mod operator;
mod paths;
mod preflight;
mod repl;
mod reports;
mod runbooks;
mod safety;
mod sandbox;
mod secrets;
mod sim_world;
mod toolsdirs;
mod trust;
mod vantiq;
