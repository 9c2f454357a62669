//! `git`: the runbook's `git pull` in the tools dir (`script.rs`), HEAD and branch read
//! straight from `.git` (`client.rs`); the process through `crate::process`.

pub mod client;
pub mod script;

/// Registers the `git` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("git", rhai::exported_module!(script::git).into());
}
