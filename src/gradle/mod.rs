//! `gradle`: runs the tools dir's `./gradlew -Pcluster=<cluster> <task>` with live output
//! (the child process through `crate::process`; the Rhai surface in `script.rs`).

pub mod script;

/// Registers the `gradle` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("gradle", rhai::exported_module!(script::gradle).into());
}
