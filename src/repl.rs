//! `vscript repl`: the incident console (to be written).

use crate::cli::{Failure, ReplArgs};

pub fn main(_args: ReplArgs) -> Result<u8, Failure> {
    Err(Failure::failed("the REPL is not available yet"))
}
