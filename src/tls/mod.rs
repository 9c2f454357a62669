//! Certificates and license files: script modules `cert` (inspect, key match, fullchain,
//! host coverage, renewal checks, what a server presents) and `license` (the Vantiq
//! license files `public.pem` + `license.key`).
//!
//! - `pem.rs`      reading certificates and private keys from PEM files
//! - `checks.rs`   a certificate's fields and the checks: inspect, key pair, fullchain,
//!   host coverage, renewal, trust
//! - `remote.rs`   what a TLS server presents (its connection set up by `http::connect`)
//! - `license.rs`  the Vantiq license files
//! - `script.rs`   the Rhai surface of both modules

pub mod checks;
pub mod license;
pub mod pem;
pub mod remote;
pub mod script;
#[cfg(test)]
pub(crate) mod testing;

/// Why a certificate check failed. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("`{path}` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: String },
    #[error("`{path}`: certificate #{index} is malformed: {reason}")]
    Malformed { path: String, index: usize, reason: String },
    #[error("`{path}` is not a readable private key: {reason}")]
    BadKey { path: String, reason: String },
    #[error("private key `{key}` does not match certificate `{cert}`")]
    KeyMismatch { key: String, cert: String },
    #[error("`{path}`: {}", problems.join("; "))]
    Chain { path: String, problems: Vec<String> },
    #[error("the new certificate `{path}` is not ready to install:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Renewal { path: String, problems: Vec<String> },
    #[error("cannot get the certificate of `{target}`: {reason}")]
    Remote { target: String, reason: String },
}

/// Registers the `cert` and `license` script modules.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("cert", rhai::exported_module!(script::cert).into());
    engine.register_static_module("license", rhai::exported_module!(script::license).into());
}
