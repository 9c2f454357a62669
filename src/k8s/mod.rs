//! The cluster: a kube-rs client (`client.rs`) and its Rhai surface (`script.rs`).

pub mod client;
pub mod describe;
pub mod kinds;
pub mod script;

pub use client::{K8sClient, K8sError};

/// Registers the `k8s` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("k8s", rhai::exported_module!(script::k8s).into());
}
