//! vscript: the Vantiq maintenance runbook as editable, rehearsable Rhai scripts.
//!
//! Layers, each using only the ones below it (`tests/it/architecture.rs` checks this):
//! 1. `target`, `config`, `shipped`, `process`, `files::props`: plain data and formats;
//! 2. the capabilities' IO (`k8s::client`, `http::client`, `tls`, `files`, `gradle`, `git`);
//! 3. `engine`: the host, the gate every change goes through, steps and replay;
//! 4. the capabilities' script surfaces (`*/script.rs`) and `script_api`, which registers them;
//! 5. `run`: a run's lifecycle — session, journal, lock, resume, reports;
//! 6. `repl`, `fleet`, `customize`: built on runs;
//! 7. `cli`: the command line, the top floor.

pub mod cli;
pub mod config;
pub mod customize;
pub mod engine;
pub mod files;
pub mod fleet;
pub mod git;
pub mod gradle;
pub mod http;
pub mod k8s;
pub mod process;
pub mod repl;
pub mod run;
pub mod script_api;
pub mod shipped;
pub mod target;
pub mod tls;

/// `crate::outln!` that never panics: a closed stdout (`vscript … | head`) drops the text.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `crate::errln!` that never panics: a closed stderr drops the text (secrets are the caller's
/// business, as with `crate::errln!`). Lines go through the progress display, so a live
/// progress line is not torn.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {{
        $crate::engine::host::progress::err_line(&format!($($t)*));
    }};
}

/// `eprint!` that never panics (a prompt without a newline).
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, $($t)*);
        let _ = e.flush();
    }};
}
