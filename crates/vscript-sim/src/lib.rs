//! A simulated Vantiq installation: a loopback Kubernetes API server that real kubectl
//! accepts (`api`), the objects and controllers that make it behave like a Vantiq
//! cluster (`world`), a generated `k8sdeploy_tools` checkout with a `gradlew` shim, and
//! an invariant checker that records what the runbook forbids.
//!
//! `store` is the shared contract: `api` serves it, `world` brings it to life.

pub mod api;
pub mod kubeconfig;
pub mod store;
pub mod world;

pub use world::{SeedOptions, Sim, SimInfo, SimOptions, Violation, check, gradle_main, license, pki, run_foreground};
