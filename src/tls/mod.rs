//! Certificates and license files: script modules `cert` (inspect, key match, fullchain,
//! host coverage, renewal checks, what a server presents) and `license` (the Vantiq
//! license files `public.pem` + `license.key`).

pub mod cert;
pub mod license;
pub mod script;

/// Registers the `cert` and `license` script modules.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("cert", rhai::exported_module!(script::cert).into());
    engine.register_static_module("license", rhai::exported_module!(script::license).into());
}
