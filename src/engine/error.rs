//! Errors at the Rhai boundary: every failure carries the script position.

use rhai::{EvalAltResult, NativeCallContext, Position};

/// Keep this exact name: `Engine::definitions()` only unwraps `RhaiResultOf<T>`.
pub type RhaiResultOf<T> = Result<T, Box<EvalAltResult>>;

/// A runtime error at the position of the native call being made.
pub fn fail(ctx: &NativeCallContext, msg: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.to_string().into(), ctx.call_position()).into()
}

/// A runtime error without a known position (filled in by Rhai for global functions).
pub fn fail_here(msg: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.to_string().into(), Position::NONE).into()
}

/// `result.or_fail(&ctx)?` turns any displayable error into a positioned Rhai error.
pub trait OrFail<T> {
    fn or_fail(self, ctx: &NativeCallContext) -> RhaiResultOf<T>;
}

impl<T, E: std::fmt::Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, ctx: &NativeCallContext) -> RhaiResultOf<T> {
        self.map_err(|e| fail(ctx, e))
    }
}
