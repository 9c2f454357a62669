//! The simulator's integration tests: one test binary (one link, one process start per
//! `cargo test`), a module per surface.

mod api_auth;
mod api_http;
mod api_kubectl;
mod api_python;
mod vantiq_api;
mod world_downtime;
mod world_kubectl;
mod world_nodes;
mod world_procedures;
mod world_renewals;
mod world_support;
mod world_tools;
mod world_upgrade;
