//! How a run ends: exit codes (0 ok, 1 failed, 2 usage, 3 aborted by the operator,
//! 4 safety refusal) and the setup failures that stop it before a script runs.

use crate::engine::{self, Host};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_ABORTED: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;

/// A usage or setup error with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: m.into(),
        }
    }
    pub fn failed(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILED,
            message: m.into(),
        }
    }
    pub fn refused(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_REFUSED,
            message: m.into(),
        }
    }
}

/// The exit code a script error stands for.
pub fn exit_code_of(e: &rhai::EvalAltResult, host: &Host) -> u8 {
    use rhai::EvalAltResult as E;
    let interrupted = host.cancel().is_tripped() || host.state().was_interrupted();
    match e {
        E::ErrorRuntime(v, _) => match v.clone().try_cast::<engine::globals::Abort>() {
            Some(a) => a.code,
            None if interrupted => EXIT_ABORTED,
            None => EXIT_FAILED,
        },
        // The runaway-loop limit is a failure of the script; anything else stopping it, an interrupt.
        E::ErrorTerminated(token, _) if token.to_string().starts_with("stopped: ") => EXIT_FAILED,
        E::ErrorTerminated(..) => EXIT_ABORTED,
        E::ErrorInFunctionCall(_, _, inner, _) | E::ErrorInModule(_, inner, _) => exit_code_of(inner, host),
        _ if interrupted => EXIT_ABORTED,
        _ => EXIT_FAILED,
    }
}
