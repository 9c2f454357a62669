//! Test harness: a simulated cluster started in-process, and the real `vscript` binary
//! run against it (or with `--rehearse`). Tests assert the cluster's state, files and the
//! simulator's invariant report, not only exit codes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;
use vscript_sim::store::{Store, res};
use vscript_sim::{SeedOptions, Sim, SimOptions, Violation};

/// The simulator speed the tests use: fast, and still slower than vscript reacts.
pub const SPEED: f64 = 150.0;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vscript")
}

/// What a vscript process did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything the process printed, for assertion messages and leak scans.
    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "vscript failed:\n{}", self.all());
        self
    }
}

/// Runs the vscript binary with arguments, no stdin, from `cwd`.
pub fn vscript(args: &[&str], cwd: &Path) -> Output {
    vscript_env(args, cwd, &[])
}

pub fn vscript_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .env("NO_COLOR", "1")
        .env_remove("VSCRIPT_TOOLS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run vscript");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running simulated installation for one test.
pub struct Cluster {
    pub rt: tokio::runtime::Runtime,
    pub sim: Option<Sim>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// The generated installation (all optional components, userdb).
    pub fn start() -> Cluster {
        Self::with(SeedOptions::default(), None)
    }

    /// An installation with chosen seed options, or seeded from a tools dir copy.
    pub fn with(seed: SeedOptions, tools: Option<&Path>) -> Cluster {
        Self::with_options(seed, tools, |_| {})
    }

    /// As [`Cluster::with`], with a last word on the simulator's options.
    pub fn with_options(seed: SeedOptions, tools: Option<&Path>, adjust: impl FnOnce(&mut SimOptions)) -> Cluster {
        let dir = tempfile::Builder::new().prefix("vscript-it-").tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut opts = SimOptions::new(dir.path().join("sim"), vec![bin().into(), "sim".into(), "gradle".into()]);
        opts.speed = SPEED;
        opts.seed = seed;
        opts.tools = tools.map(Path::to_owned);
        adjust(&mut opts);
        let sim = rt.block_on(Sim::start(opts)).expect("start the simulator");
        Cluster { rt, sim: Some(sim), dir }
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().unwrap()
    }
    pub fn store(&self) -> &Store {
        &self.sim().store
    }
    pub fn tools(&self) -> PathBuf {
        PathBuf::from(&self.sim().info.tools_dir)
    }
    pub fn incoming(&self, file: &str) -> String {
        Path::new(&self.sim().info.incoming_dir).join(file).display().to_string()
    }
    pub fn ns(&self) -> String {
        self.sim().info.namespace.clone()
    }

    /// `vscript run SCRIPT --tools TOOLS --yes --set k=v...` from the tools dir's parent.
    pub fn run(&self, script: &str, sets: &[(&str, &str)]) -> Output {
        self.run_with(script, sets, &["--yes"])
    }

    pub fn run_with(&self, script: &str, sets: &[(&str, &str)], extra: &[&str]) -> Output {
        let tools = self.tools().display().to_string();
        let mut args: Vec<String> = vec!["run".into(), script.into(), "--tools".into(), tools];
        for (k, v) in sets {
            args.push("--set".into());
            args.push(format!("{k}={v}"));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        // From a neutral directory: names resolve to the tools dir's copies, then the shipped scripts.
        vscript(&a, self.dir.path())
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.store().get(res(kind), ns, name)
    }
    /// `spec.replicas` of a StatefulSet in the Vantiq namespace.
    pub fn replicas(&self, sts: &str) -> Option<i64> {
        self.get("StatefulSet", &self.ns(), sts)
            .map(|s| s["spec"]["replicas"].as_i64().unwrap_or(1))
    }
    /// `spec.replicas` of vantiq, metrics-collector and vision-analytics.
    pub fn component_replicas(&self) -> (Option<i64>, Option<i64>, Option<i64>) {
        (
            self.replicas("vantiq"),
            self.replicas("metrics-collector"),
            self.replicas("vision-analytics"),
        )
    }
    pub fn image(&self, sts: &str) -> String {
        let s = self.get("StatefulSet", &self.ns(), sts).expect("sts");
        s["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
    /// The simulated MongoDB's schema version.
    pub fn schema(&self) -> String {
        self.sim().world.db.lock().unwrap().mongo.schema.clone()
    }
    pub fn violations(&self) -> Vec<Violation> {
        self.sim().violations()
    }
    /// Asserts that the simulator recorded no invariant violation, and that `vscript sim check` agrees.
    pub fn assert_no_violation(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "invariant violations: {v:#?}");
        let out = vscript(&["sim", "check", "--dir", &self.sim().dir.display().to_string()], &project_dir());
        assert_eq!(out.code, 0, "sim check disagrees:\n{}", out.all());
    }
    /// Waits until every pod of the installation has settled.
    pub fn settle(&self) {
        let _ = self.rt.block_on(self.sim().wait_settled(Duration::from_secs(30)));
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.tools().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }
}

/// The project checkout (scripts/, stdlib/).
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under a dir with its bytes (for "nothing changed" comparisons); skips `.git` internals.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if rel == ".git" || rel.ends_with("/.git") {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(rel, b);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Every file under a dir with its bytes, `.git` included.
pub fn tree_with_git(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), b);
            }
        }
    }
    out
}

/// The store's objects without volatile status fields, for "the cluster did not change".
pub fn cluster_objects(store: &Store) -> Vec<Value> {
    store
        .snapshot()
        .into_iter()
        .filter(|o| o["kind"] != "Event" && o["kind"] != "Lease")
        .map(|mut o| {
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove("resourceVersion");
                m.remove("managedFields");
            }
            o.as_object_mut().map(|m| m.remove("status"));
            o
        })
        .collect()
}

/// A script in a fresh temporary directory: `(dir, path)`; the dir lives as long as the guard.
pub fn tmp_script(text: &str) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("t.rhai");
    std::fs::write(&p, text).unwrap();
    let s = p.display().to_string();
    (d, s)
}

/// Sends a signal to a child and waits (bounded) for it to exit; returns its exit code.
pub fn signal_and_wait(child: &mut std::process::Child, signal: &str, limit: Duration) -> Option<i32> {
    let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
    let started = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(started.elapsed() < limit, "vscript did not stop on {signal} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn post_faults(c: &Cluster, body: &str) {
    let url = format!("{}/__sim/faults", c.sim().info.admin);
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status =
        c.rt.block_on(async { reqwest::Client::new().post(&url).json(&body).send().await.map(|r| r.status()) })
            .unwrap();
    assert!(status.is_success(), "POST {url}: {status}");
}

/// Starts `vscript run` in the background and waits until its stderr shows `marker`.
pub fn spawn_until(c: &Cluster, args: &[&str], marker: &str) -> (std::process::Child, String) {
    spawn_until_env(c, args, &[], marker)
}

/// `spawn_until` with extra environment variables.
pub fn spawn_until_env(c: &Cluster, args: &[&str], env: &[(&str, &str)], marker: &str) -> (std::process::Child, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .args(args)
        .args(["--tools", &c.tools().display().to_string(), "--yes"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .current_dir(project_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let started = Instant::now();
    let mut line = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains(marker) {
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while err.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (child, seen);
        }
    }
    panic!("never saw `{marker}` in:\n{seen}");
}

/// The run id a `vscript run` printed.
pub fn run_id(stderr: &str) -> String {
    let l = stderr.lines().find(|l| l.starts_with("vscript: run ")).expect("a run line");
    l.trim_start_matches("vscript: run ").split(' ').next().unwrap().to_owned()
}
