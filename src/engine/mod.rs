//! The Rhai engine: the host a script reaches, the gate its changes and readings go
//! through, the global functions (steps, parameters, confirmations), the limits, the
//! lint and the error rendering. The capabilities (k8s, files, …) build on it;
//! `script_api` registers them.

pub mod error;
pub mod gate;
pub mod globals;
pub mod host;
pub mod lint;
pub mod render;
pub mod replay;
pub mod resolver;
pub mod secret;

use std::sync::Arc;

use rhai::{Dynamic, Engine};

pub use error::{OrFail, RhaiResultOf, fail, fail_here};
pub use gate::{Change, GateError, Mode};
pub use host::{Host, host};
pub use secret::Secret;

/// A secret value from `bytes`, registered with the host's redactor (its text and base64),
/// which catches any copy that escapes the type.
pub fn register_secret(h: &Host, bytes: Vec<u8>) -> Secret {
    let s = Secret::new(bytes);
    for f in s.forms() {
        h.secrets().add(&f);
    }
    s
}

/// How long a script may compute (waits excluded) before it is stopped as a runaway loop.
pub const CPU_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds the engine with the global functions; `script_api::engine` adds the
/// capabilities. `host` reaches native functions through the engine's tag.
pub fn build(host: Arc<Host>) -> Engine {
    let mut engine = Engine::new();
    engine.set_strict_variables(true);
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    engine.set_fail_on_invalid_map_property(false);
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_operations(10_000_000);
    engine.set_max_string_size(64 * 1024 * 1024);
    engine.set_max_array_size(1_000_000);
    engine.set_max_map_size(100_000);
    engine.set_default_tag(Dynamic::from(host.clone()));
    globals::register(&mut engine);
    secret::register(&mut engine);
    engine.set_module_resolver(resolver::StdlibResolver::new(&host));
    let h = host.clone();
    let limit = host
        .setting("limits.cpu_seconds")
        .and_then(|v| v.as_f64())
        .filter(|s| *s > 0.0)
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(CPU_LIMIT);
    engine.on_progress(move |ops| {
        if ops % 64 != 0 {
            return None;
        }
        if h.cancel().is_tripped() {
            return Some("cancelled by the operator".into());
        }
        let computed = h.state().budget.computed();
        (computed > limit).then(|| {
            Dynamic::from(format!(
                "stopped: the script computed for {}s without waiting on anything (a runaway loop?); \
                 the limit is {}s of computation, waits excluded (limits.cpu_seconds in vscript.toml)",
                computed.as_secs(),
                limit.as_secs_f64()
            ))
        })
    });
    let h = host.clone();
    engine.on_print(move |s| {
        use std::io::Write;
        // A closed stdout (`vscript run … | head`) is not an error of the script.
        let _ = writeln!(std::io::stdout().lock(), "{}", h.secrets().redact(s));
    });
    let h = host;
    engine.on_debug(move |s, src, pos| {
        let at = match src {
            Some(src) => format!("{src}:{pos}"),
            None => format!("{pos}"),
        };
        h.say("  ?", "35", &format!("{at} {s}"));
    });
    engine
}

/// The message of a script error, without Rhai's position suffix.
pub fn error_text(e: &rhai::EvalAltResult) -> String {
    match e {
        rhai::EvalAltResult::ErrorRuntime(v, _) => match v.clone().try_cast::<globals::Abort>() {
            Some(a) => a.message,
            None => v.to_string(),
        },
        rhai::EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | rhai::EvalAltResult::ErrorInModule(_, inner, _) => error_text(inner),
        // Stopped from outside the script: the reason is the token (an interrupt, the limit).
        rhai::EvalAltResult::ErrorTerminated(token, _) if token.is_string() => token.to_string(),
        other => {
            let s = other.to_string();
            match s.rfind(" (line ") {
                Some(i) if s.ends_with(')') => s[..i].to_owned(),
                _ => s,
            }
        }
    }
}
