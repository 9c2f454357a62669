//! `http`: GET/POST with timeouts, headers, bearer/basic auth, JSON bodies and responses,
//! TLS verified unless asked otherwise; `http::vantiq(path)` and the IDE login check for the
//! Vantiq REST API as the public SDKs use it (`vantiq.rs`).

pub mod client;
pub mod connect;
pub mod script;
pub mod vantiq;

/// Registers the `http` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("http", rhai::exported_module!(script::http).into());
}
