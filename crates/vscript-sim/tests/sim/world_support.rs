//! Shared harness of the `world_*` tests: a simulator in a temp dir, driven by the real
//! kubectl (fresh discovery cache per simulator) and the generated `./gradlew`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use vscript_sim::store::{Store, res};
use vscript_sim::{SeedOptions, Sim, SimOptions, Violation};

pub struct T {
    pub rt: tokio::runtime::Runtime,
    pub sim: Option<Sim>,
    pub dir: Option<tempfile::TempDir>,
    cache: tempfile::TempDir,
}

pub fn opts(dir: &Path, speed: f64) -> SimOptions {
    let mut o = SimOptions::new(
        dir.to_owned(),
        vec![env!("CARGO_BIN_EXE_vscript-sim").to_owned(), "gradle".to_owned()],
    );
    o.speed = speed;
    o
}

impl T {
    pub fn start(seed: SeedOptions, speed: f64) -> T {
        Self::start_with(|o| {
            o.seed = seed;
            o.speed = speed;
        })
    }

    pub fn start_with(f: impl FnOnce(&mut SimOptions)) -> T {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path(), 200.0);
        f(&mut o);
        let sim = rt.block_on(Sim::start(o)).expect("simulator starts");
        T {
            rt,
            sim: Some(sim),
            dir: Some(dir),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().unwrap()
    }
    pub fn store(&self) -> &Store {
        &self.sim().store
    }
    pub fn ns(&self) -> String {
        self.sim().info.namespace.clone()
    }
    pub fn tools(&self) -> PathBuf {
        PathBuf::from(&self.sim().info.tools_dir)
    }
    pub fn target(&self) -> PathBuf {
        self.tools().join("targetCluster")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.sim().info.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// Runs kubectl, asserts success, returns stdout.
    pub fn k(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn gradlew(&self, args: &[&str]) -> Output {
        Command::new("./gradlew")
            .args(args)
            .current_dir(self.tools())
            .output()
            .expect("gradlew runs")
    }

    /// Runs `./gradlew -Pcluster=<cluster> <task>`, asserts success, returns stdout.
    pub fn gradle(&self, task: &str) -> String {
        let cluster = format!("-Pcluster={}", self.sim().info.cluster);
        let out = self.gradlew(&[&cluster, task]);
        assert!(
            out.status.success(),
            "gradlew {task} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.store().get(res(kind), ns, name)
    }

    pub fn wait_for(&self, what: &str, secs: u64, f: impl Fn(&T) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn ready(&self, ns: &str, sts: &str) -> u64 {
        self.get("StatefulSet", ns, sts)
            .map_or(0, |s| s["status"]["readyReplicas"].as_u64().unwrap_or(0))
    }

    pub fn pods(&self, ns: &str, app: &str) -> Vec<Value> {
        self.store().list(res("Pod"), Some(ns), Some(&format!("app={app}")), None).0
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.sim().violations()
    }

    pub fn rules(&self) -> Vec<String> {
        self.violations().into_iter().map(|v| v.rule).collect()
    }

    pub fn state(&self) -> Value {
        vscript_sim::world::admin::state_of(&self.sim().world)
    }

    /// Edits a text file in place.
    pub fn edit(&self, path: &Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(from), "{} does not contain {from:?}", path.display());
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    /// `kubectl logs -f` on a container, retried while the container has not started.
    pub fn follow_logs(&self, ns: &str, pod: &str, container: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let out = self.kubectl(&["logs", "-n", ns, pod, "-c", container, "-f"]);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "logs -f {pod} -c {container}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the simulator; the returned dir keeps its files until dropped.
    pub fn shutdown(mut self) -> tempfile::TempDir {
        let sim = self.sim.take().unwrap();
        self.rt.block_on(sim.shutdown());
        self.dir.take().unwrap()
    }
}

impl Drop for T {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }
}
