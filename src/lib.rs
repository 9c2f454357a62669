//! vscript: the Vantiq maintenance runbook as editable, rehearsable Rhai scripts.

pub mod cli;
pub mod config;
pub mod customize;
pub mod engine;
pub mod files;
pub mod fleet;
pub mod git;
pub mod gradle;
pub mod http;
pub mod journal;
pub mod k8s;
pub mod lock;
pub mod repl;
pub mod report;
pub mod shipped;
pub mod tls;
