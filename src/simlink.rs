//! TEMPORARY: stand-ins for the simulator's public API until `vscript-sim` exports it.
#![allow(dead_code, unused_variables)]
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SimInfo {
    pub api: String,
    pub kubeconfig: String,
    pub tools_dir: String,
    pub incoming_dir: String,
    pub namespace: String,
    pub cluster: String,
    pub context: String,
    pub vantiq_url: String,
    pub vantiq_host: String,
    pub vantiq_addr: String,
    pub ca_file: String,
    pub token_file: String,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    pub at: String,
    pub rule: String,
    pub message: String,
}
pub struct SimOptions {
    pub dir: PathBuf,
    pub port: u16,
    pub speed: f64,
    pub tools: Option<PathBuf>,
    pub gradle_cmd: Vec<String>,
}
impl SimOptions {
    pub fn new(dir: PathBuf, gradle_cmd: Vec<String>) -> Self {
        SimOptions {
            dir,
            port: 0,
            speed: 60.0,
            tools: None,
            gradle_cmd,
        }
    }
}
pub struct Sim {
    pub dir: PathBuf,
    pub info: SimInfo,
}
impl Sim {
    pub async fn start(opts: SimOptions) -> anyhow::Result<Sim> {
        anyhow::bail!("the simulator is not built yet")
    }
    pub fn violations(&self) -> Vec<Violation> {
        vec![]
    }
    pub async fn shutdown(self) {}
}
pub fn check(dir: &Path) -> anyhow::Result<Vec<Violation>> {
    anyhow::bail!("the simulator is not built yet")
}
pub fn run_foreground(opts: SimOptions) -> i32 {
    1
}
pub fn gradle_main(args: Vec<String>) -> i32 {
    1
}
