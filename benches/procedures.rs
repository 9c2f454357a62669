//! Benchmark driver: the shipped vscript procedures against the same procedures written
//! as bash scripts of the runbook's kubectl/gradlew lines (`bench/kubectl/*.sh`), on the
//! simulated cluster started in-process, side by side in one run.
//!
//! Run it with `bench/run.sh` (release build, then this, then `docs/benchmarks.md`).
//! Arguments: `--reps N` (5), `--speed F` (60), `--slow-speed F` (15, minor_upgrade only;
//! 0 skips), `--lines N` (log throughput, 200000), `--keep`, `--only-procedures`,
//! `--out FILE` (the markdown report; stdout when absent). Not part of `cargo test`.
//!
//! Method (also written into the report):
//! * overhead = CPU time (user+sys) of the tool's whole process tree, minus the CPU of the
//!   external work both tools run identically: the `./gradlew` shim (the simulated Gradle
//!   build) and `git pull`. All are measured by this binary's `measure` mode (`measure.rs`:
//!   rusage of every waited-for descendant — kubectl, sleep, grep, curl, sed); `git pull`
//!   through a `git` wrapper first on the tools' PATH, which passes other git commands on.
//!   Minus, once per wrapped call, what a wrapped call's measurer costs after its own
//!   reading (its process's end), measured at the start of the run ([`measurer_residue`]).
//! * requests = lines of the simulator's API audit log not sent by the gradlew shim.
//! * reaction = audit timestamp of a marker request the tool sends right after its wait,
//!   minus the time the simulator committed the condition (an in-process store observer)
//!   or wrote the log line.
//! * RSS = peak `VmHWM` of the vscript process, sampled every 5 ms by the measurer.

#[path = "procedures/measure.rs"]
mod measure;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vscript_sim::store::{Store, WatchEvent};
use vscript_sim::{Sim, SimOptions};

const VSCRIPT: &str = env!("CARGO_BIN_EXE_vscript");
const PROJECT: &str = env!("CARGO_MANIFEST_DIR");

struct Opts {
    reps: usize,
    speed: f64,
    lines: usize,
    out: Option<PathBuf>,
    /// A second, slower simulator speed for minor_upgrade only (0: skip).
    slow_speed: f64,
    /// Keep the work dir (audit logs, tool output) for inspection.
    keep: bool,
    /// Only the procedures (no reaction, log or startup runs).
    only_procedures: bool,
    /// `--bench`, which `cargo bench` passes; without it (`cargo test --benches`) nothing runs.
    bench: bool,
}

fn parse_opts() -> Result<Opts> {
    let mut o = Opts {
        reps: 5,
        speed: 60.0,
        lines: 200_000,
        out: None,
        keep: false,
        slow_speed: 15.0,
        only_procedures: false,
        bench: false,
    };
    let mut unknown = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--reps" => o.reps = val()?.parse()?,
            "--speed" => o.speed = val()?.parse()?,
            "--lines" => o.lines = val()?.parse()?,
            "--out" => o.out = Some(PathBuf::from(val()?)),
            "--keep" => o.keep = true,
            "--slow-speed" => o.slow_speed = val()?.parse()?,
            "--only-procedures" => o.only_procedures = true,
            "--bench" => o.bench = true, // passed by `cargo bench`
            other => unknown.push(other.to_owned()),
        }
    }
    // `cargo test --benches` may pass test-harness arguments; only a bench run objects.
    if o.bench && !unknown.is_empty() {
        bail!("unknown argument(s): {}", unknown.join(" "));
    }
    Ok(o)
}

// ---- measuring one process tree ----------------------------------------------------------

/// What one tool process (and its waited-for descendants) did.
struct Proc {
    code: i32,
    wall: Duration,
    /// user+sys of the process and all its waited-for descendants.
    cpu: Duration,
    /// Peak resident set of the top process, kB (sampled).
    hwm_kb: u64,
    /// Largest peak resident set of the tree, kB (`ru_maxrss`, exact).
    maxrss_kb: u64,
    start: SystemTime,
    end: SystemTime,
}

/// The measurer: this binary in its `measure` mode (`measure.rs`).
fn measurer() -> Vec<String> {
    let me = std::env::current_exe().expect("the bench binary's path");
    vec![me.display().to_string(), measure::MODE.to_owned()]
}

/// Runs `cmd` to the end under the measurer (rusage of the whole tree, sampled VmHWM of
/// the top process), output to `log`; the measurement goes to `log`.json.
fn run_measured(cmd: &Command, log: &Path) -> Result<Proc> {
    let out = log.with_extension("json");
    let start = SystemTime::now();
    let m = measurer();
    let mut w = Command::new(&m[0]);
    w.args(&m[1..]).arg(&out).arg("--").arg(cmd.get_program()).args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        w.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    let f = std::fs::File::create(log)?;
    w.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
    w.spawn().context("spawn the measurer")?.wait()?;
    let v = read_measurement(&out)?;
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Ok(Proc {
        code: i32::try_from(v["code"].as_i64().unwrap_or(-1)).unwrap_or(-1),
        wall: Duration::from_secs_f64(f("wall")),
        cpu: Duration::from_secs_f64(f("cpu")),
        hwm_kb: f("hwm_kb") as u64,
        maxrss_kb: f("maxrss_kb") as u64,
        start,
        end: SystemTime::UNIX_EPOCH + Duration::from_secs_f64(f("end")),
    })
}

/// The one JSON line a measurer wrote to `path`.
fn read_measurement(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("no measurement in {}", path.display()))?;
    Ok(serde_json::from_str(text.trim())?)
}

// ---- the simulator ---------------------------------------------------------------------

struct Bench {
    rt: tokio::runtime::Runtime,
    opts: Opts,
    work: tempfile::TempDir,
    n: usize,
    /// CPU seconds a wrapped call's measurer costs after its own reading (median of
    /// [`measurer_residue`]); subtracted once per wrapped call from both tools' overhead.
    residue: f64,
}

/// What a wrapped call's measurer costs after its own reading — the end of its process,
/// which its reading cannot include — in CPU seconds, `n` times: the measurement of
/// `sh -c 'exec MEASURER --self INNER -- true'` (the shape of the gradlew shim and the
/// `git` wrapper) minus the inner measurer's own reading. Every wrapped call of either
/// tool leaves this in the tool's process tree.
fn measurer_residue(dir: &Path, n: usize) -> Result<Vec<f64>> {
    let inner = dir.join("residue.json");
    let script = format!("exec {} --self {} -- true", measurer().join(" "), inner.display());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        let outer = run_measured(&c, &dir.join("residue-outer.log"))?;
        let cpu = read_measurement(&inner)?["cpu"]
            .as_f64()
            .context("the inner measurement has no cpu")?;
        out.push((outer.cpu.as_secs_f64() - cpu).max(0.0));
    }
    Ok(out)
}

/// A simulator for one measurement, with its audit log and gradle timing file.
struct Run {
    sim: Sim,
    dir: PathBuf,
}

impl Run {
    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    /// API requests in the audit log, not counting the gradlew shim's (`ureq` agent).
    fn tool_requests(&self) -> (u64, u64) {
        let a = self.audit();
        let shim = a
            .iter()
            .filter(|l| l["user_agent"].as_str().unwrap_or("").starts_with("ureq"))
            .count();
        ((a.len() - shim) as u64, a.len() as u64)
    }
    /// CPU seconds, wall seconds and number of the gradlew shim invocations.
    fn gradle(&self) -> (f64, f64, usize) {
        self.measured("gradle.jsonl")
    }
    /// CPU seconds, wall seconds and number of the `git pull`s (the `git` wrapper's log).
    fn git_pull(&self) -> (f64, f64, usize) {
        self.measured("git.jsonl")
    }
    fn measured(&self, log: &str) -> (f64, f64, usize) {
        let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
        let (mut cpu, mut wall, mut n) = (0.0, 0.0, 0);
        for l in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            wall += l["wall"].as_f64().unwrap_or(0.0);
            cpu += l["cpu"].as_f64().unwrap_or(0.0);
            n += 1;
        }
        (cpu, wall, n)
    }
    fn env(&self, cmd: &mut Command) {
        let i = &self.sim.info;
        cmd.env("TOOLS", &i.tools_dir)
            .env("KUBECONFIG", &i.kubeconfig)
            .env("NS", &i.namespace)
            .env("CLUSTER", &i.cluster)
            .env("VANTIQ_URL", &i.vantiq_url)
            .env("VANTIQ_ADDR", &i.vantiq_addr)
            .env("VANTIQ_CA", &i.ca_file)
            .env("VANTIQ_TOKEN_FILE", &i.token_file)
            .env("NO_COLOR", "1")
            .env("PATH", path_with(&self.dir.join("bin")))
            // kubectl's discovery cache is per server address: a simulator port used by an
            // earlier run must not leave a warm cache behind.
            .env("KUBECACHEDIR", self.dir.join("kubecache"))
            .env_remove("VSCRIPT_TOOLS");
    }
}

impl Bench {
    fn start(&mut self) -> Result<Run> {
        self.start_at(self.opts.speed)
    }

    fn start_at(&mut self, speed: f64) -> Result<Run> {
        self.n += 1;
        let dir = self.work.path().join(format!("run{:03}", self.n));
        std::fs::create_dir_all(&dir)?;
        let mut gradle = measurer();
        gradle.extend([
            "--self".to_owned(),
            "--append".to_owned(),
            dir.join("gradle.jsonl").display().to_string(),
            "--".to_owned(),
            VSCRIPT.to_owned(),
            "sim".to_owned(),
            "gradle".to_owned(),
        ]);
        git_wrapper(&dir)?;
        let mut o = SimOptions::new(dir.join("sim"), gradle);
        o.speed = speed;
        o.audit_log = Some(dir.join("audit.jsonl"));
        let sim = self.rt.block_on(Sim::start(o))?;
        Ok(Run { sim, dir })
    }

    fn stop(&self, run: Run) -> Result<()> {
        let v = run.sim.violations();
        self.rt.block_on(run.sim.shutdown());
        if !v.is_empty() {
            bail!("the simulator recorded invariant violations: {v:?}");
        }
        Ok(())
    }

    fn vscript(&self, run: &Run, script: &str, sets: &[(&str, String)]) -> Command {
        let mut c = Command::new(VSCRIPT);
        c.args(["run", script, "--tools", &run.sim.info.tools_dir, "--yes"]);
        for (k, v) in sets {
            c.arg("--set").arg(format!("{k}={v}"));
        }
        self.io(run, &mut c);
        c
    }

    fn bash(&self, run: &Run, script: &str, env: &[(&str, String)]) -> Command {
        let mut c = Command::new("bash");
        c.arg(Path::new(PROJECT).join("bench/kubectl").join(script));
        for (k, v) in env {
            c.env(k, v);
        }
        self.io(run, &mut c);
        c
    }

    fn io(&self, run: &Run, c: &mut Command) {
        run.env(c);
        c.current_dir(PROJECT);
    }

    fn check(&self, p: &Proc, run: &Run, log: &str) -> Result<()> {
        if p.code != 0 {
            let out = std::fs::read_to_string(run.dir.join(log)).unwrap_or_default();
            let tail: Vec<&str> = out.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
            bail!("{log} exited {}:\n{}", p.code, tail.join("\n"));
        }
        Ok(())
    }
}

/// `DIR/bin/git`: runs `git pull` under the measurer (its CPU goes to `DIR/git.jsonl`,
/// the wrapper's own included, so that all of it is subtracted), any other git command
/// directly. Both tools find it first on their PATH.
fn git_wrapper(dir: &Path) -> Result<()> {
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output()?.stdout)?;
    let real = real.trim();
    if real.is_empty() {
        bail!("git is not on PATH");
    }
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = pull ]; then exec {} --self --append {} -- {real} \"$@\"; fi\n\
         exec {real} \"$@\"\n",
        measurer().join(" "),
        dir.join("git.jsonl").display()
    );
    let path = bin.join("git");
    std::fs::write(&path, script)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// `PATH` with `bin` first.
fn path_with(bin: &Path) -> String {
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", bin.display()),
        _ => bin.display().to_string(),
    }
}

// ---- procedures ---------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Sample {
    wall: f64,
    overhead: f64,
    /// CPU of the external work subtracted from the overhead (gradlew shim, git pull).
    external: f64,
    /// How many external calls the measurer wrapped (each leaves its residue, subtracted).
    wrapped: f64,
    requests: f64,
    rss_mb: f64,
}

const PROCEDURES: [&str; 3] = ["minor_upgrade", "license_renew", "patch_upgrade"];
const TOOLS: [&str; 2] = ["vscript", "kubectl+bash"];

fn procedure(b: &mut Bench, name: &str, tool: &str, speed: f64) -> Result<Sample> {
    let run = b.start_at(speed)?;
    let incoming = PathBuf::from(&run.sim.info.incoming_dir);
    let params: Vec<(&str, String)> = match name {
        "minor_upgrade" => vec![("tag", "1.31.0".into()), ("release", "3.11.0".into())],
        "patch_upgrade" => vec![("tag", "1.30.11".into())],
        _ => vec![
            ("public_pem", incoming.join("public.pem").display().to_string()),
            ("license_key", incoming.join("license.key").display().to_string()),
        ],
    };
    let log = format!("{name}.{}.log", if tool == "vscript" { "vscript" } else { "bash" });
    let cmd = if tool == "vscript" {
        b.vscript(&run, name, &params)
    } else {
        let env: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| {
                let k: &str = match *k {
                    "tag" => "TAG",
                    "release" => "RELEASE",
                    "public_pem" => "PUBLIC_PEM",
                    _ => "LICENSE_KEY",
                };
                (k, v.clone())
            })
            .collect();
        b.bash(&run, &format!("{name}.sh"), &env)
    };
    let p = run_measured(&cmd, &run.dir.join(&log))?;
    b.check(&p, &run, &log)?;
    let (gradle_cpu, _, gradle_calls) = run.gradle();
    let (git_cpu, _, git_calls) = run.git_pull();
    let (requests, _) = run.tool_requests();
    b.stop(run)?;
    let wrapped = (gradle_calls + git_calls) as f64;
    Ok(Sample {
        wall: p.wall.as_secs_f64(),
        overhead: (p.cpu.as_secs_f64() - gradle_cpu - git_cpu - wrapped * b.residue).max(0.0),
        external: gradle_cpu + git_cpu,
        wrapped,
        requests: requests as f64,
        rss_mb: p.hwm_kb as f64 / 1024.0,
    })
}

// ---- reaction ---------------------------------------------------------------------------

/// Times (wall clock) at which observed conditions became true, by name.
type Marks = Arc<Mutex<Vec<(String, SystemTime)>>>;

fn observe(store: &Store, sts: &'static str) -> Marks {
    let marks: Marks = Arc::default();
    let m = marks.clone();
    let was_ready = Arc::new(AtomicBool::new(true));
    store.observe(Arc::new(move |_s: &Store, ev: &WatchEvent| {
        let o = &ev.object;
        if ev.resource.plural == "statefulsets" && ev.name == sts {
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let st = &o["status"];
            let ready = want > 0
                && st["observedGeneration"].as_i64().unwrap_or(0) >= o["metadata"]["generation"].as_i64().unwrap_or(0)
                && st["readyReplicas"].as_i64().unwrap_or(0) == want
                && st["replicas"].as_i64().unwrap_or(0) == want;
            if ready && !was_ready.swap(true, Ordering::SeqCst) {
                m.lock().unwrap().push(("ready".into(), SystemTime::now()));
            } else if !ready {
                was_ready.store(false, Ordering::SeqCst);
            }
        }
        if ev.resource.plural == "jobs" {
            let done = o["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete" && c["status"] == "True"));
            let key = format!("job:{}", ev.name);
            if done {
                let mut g = m.lock().unwrap();
                if !g.iter().any(|(k, _)| *k == key) {
                    g.push((key, SystemTime::now()));
                }
            }
        }
    }));
    marks
}

fn audit_time(l: &Value) -> Option<SystemTime> {
    let ts = chrono::DateTime::parse_from_rfc3339(l["ts"].as_str()?).ok()?;
    let ms = u64::try_from(ts.timestamp_millis()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// When the tool's marker request reached the API server.
fn marker_time(run: &Run, marker: &str) -> Option<SystemTime> {
    run.audit().iter().find(|l| l["name"] == marker).and_then(audit_time)
}

fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// `variant`: "vscript", "watch" (kubectl's own watch-based waits) or "poll" (1 s get loop).
fn reaction(b: &mut Bench, scenario: &str, variant: &str) -> Result<Vec<f64>> {
    let run = b.start()?;
    let sts = "metrics-collector";
    let marks = observe(&run.sim.store, sts);
    let mut out = Vec::new();
    for rep in 0..b.opts.reps {
        let marker = format!("bench-marker-{scenario}-{variant}-{rep}");
        let job = format!("bench-{variant}-{rep}");
        let log = format!("react-{scenario}-{variant}-{rep}.log");
        let cmd = match (scenario, variant) {
            ("ready", "vscript") => b.vscript(
                &run,
                "bench/scenarios/ready.rhai",
                &[("sts", sts.into()), ("marker", marker.clone())],
            ),
            ("ready", w) => b.bash(
                &run,
                "react_ready.sh",
                &[("STS", sts.into()), ("MARKER", marker.clone()), ("WAIT", w.into())],
            ),
            ("job", "vscript") => b.vscript(
                &run,
                "bench/scenarios/job.rhai",
                &[("job", job.clone()), ("marker", marker.clone())],
            ),
            ("job", w) => b.bash(
                &run,
                "react_job.sh",
                &[("JOB", job.clone()), ("MARKER", marker.clone()), ("WAIT", w.into())],
            ),
            _ => unreachable!(),
        };
        let p = run_measured(&cmd, &run.dir.join(&log))?;
        b.check(&p, &run, &log)?;
        let key = if scenario == "ready" {
            "ready".to_owned()
        } else {
            format!("job:{job}")
        };
        let m = marker_time(&run, &marker).context("no marker request in the audit log")?;
        let cond = marks
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, t)| *k == key && *t <= m + Duration::from_millis(1))
            .map(|(_, t)| *t)
            .next_back()
            .context("the condition was not observed")?;
        out.push(ms_between(cond, m).max(0.0));
    }
    b.stop(run)?;
    Ok(out)
}

/// Follows a log; `lines` lines are written in one burst once the follow is established,
/// then the matching line, then one line per 10 ms until the tool exits (a live log).
/// Returns (reaction ms from the matching line to the marker, lines/s to the tool's exit,
/// peak RSS MB of the top process).
fn follow(b: &mut Bench, tool: &str, lines: usize, rep: usize) -> Result<(f64, f64, f64)> {
    let run = b.start()?;
    let ns = run.sim.info.namespace.clone();
    let (pod, container) = ("vantiq-1", "vantiq");
    let until = format!("LAST-LINE-{rep}");
    let marker = format!("bench-marker-follow-{rep}");
    let log = format!("follow-{tool}-{rep}.log");
    let cmd = if tool == "vscript" {
        b.vscript(
            &run,
            "bench/scenarios/follow.rhai",
            &[
                ("pod", pod.into()),
                ("container", container.into()),
                ("until", until.clone()),
                ("marker", marker.clone()),
            ],
        )
    } else {
        b.bash(
            &run,
            "follow.sh",
            &[
                ("POD", pod.into()),
                ("CONTAINER", container.into()),
                ("UNTIL", until.clone()),
                ("MARKER", marker.clone()),
            ],
        )
    };
    let store = run.sim.store.clone();
    let audit_path = run.dir.join("audit.jsonl");
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let writer = std::thread::spawn(move || -> Option<(SystemTime, SystemTime)> {
        // Wait for the follow request, then give the stream a moment to start.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.contains("\"subresource\":\"log\"") && l.contains("follow=true"))
            {
                break;
            }
            if Instant::now() > deadline || d.load(Ordering::SeqCst) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        let t0 = SystemTime::now();
        for i in 0..lines {
            store.append_log(
                &ns,
                pod,
                container,
                format!("2026-01-01T00:00:00.000Z INFO  [vert.x-eventloop-thread-1] io.vantiq.bench - line {i} of a busy log"),
            );
        }
        let t_match = SystemTime::now();
        store.append_log(&ns, pod, container, until.clone());
        let mut n = 0;
        while !d.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            n += 1;
            store.append_log(&ns, pod, container, format!("tick {n}"));
        }
        Some((t0, t_match))
    });
    let p = run_measured(&cmd, &run.dir.join(&log))?;
    done.store(true, Ordering::SeqCst);
    let times = writer.join().ok().flatten();
    b.check(&p, &run, &log)?;
    let (t0, t_match) = times.context("the follow request never reached the simulator")?;
    let m = marker_time(&run, &marker).context("no marker request")?;
    b.stop(run)?;
    let react = ms_between(t_match, m).max(0.0);
    let secs = ms_between(t0, p.end) / 1000.0;
    let _ = p.start;
    Ok((react, lines as f64 / secs, p.hwm_kb as f64 / 1024.0))
}

// ---- startup ---------------------------------------------------------------------------

fn startup(cmd: &[&str], n: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let s = Command::new(cmd[0])
            .args(&cmd[1..])
            .current_dir(PROJECT)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !s.success() {
            bail!("{} failed", cmd.join(" "));
        }
        out.push(ms);
    }
    Ok(out)
}

/// Peak RSS (MB) of one command: the measurer's `ru_maxrss` of its tree.
fn peak_rss(cmd: &[&str], env: &[(&str, &str)]) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut c = Command::new(cmd[0]);
    c.args(&cmd[1..]).envs(env.iter().copied()).current_dir(PROJECT);
    let p = run_measured(&c, &dir.path().join("rss.log"))?;
    if p.code != 0 {
        bail!("{} failed", cmd.join(" "));
    }
    Ok(p.maxrss_kb as f64 / 1024.0)
}

// ---- statistics and report ---------------------------------------------------------------

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}
fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}
fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
/// `median (min–max)` with `prec` decimals.
fn stat(v: &[f64], prec: usize) -> String {
    format!("{:.prec$} ({:.prec$}–{:.prec$})", median(v), min(v), max(v))
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let model = sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1");
    let mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo");
    format!(
        "- CPU: {} × {model}\n- memory: {mem}\n- kernel: {}\n- vscript: {} (release build), rustc: {}\n- kubectl: {} (client), bash {}\n",
        sh("nproc"),
        sh("uname -sr"),
        sh(&format!("{VSCRIPT} --version")),
        sh("rustc --version"),
        sh("kubectl version --client 2>/dev/null | head -1 | sed 's/Client Version: //'"),
        sh("bash -c 'echo $BASH_VERSION'"),
    )
}

fn pass(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(measure::MODE) {
        measure::main(&args[2..]);
    }
    let opts = parse_opts()?;
    if !opts.bench {
        eprintln!("procedures: a benchmark; run it with bench/run.sh or `cargo bench --bench procedures`");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let work = tempfile::Builder::new().prefix("vscript-bench-").tempdir()?;
    let mut b = Bench {
        rt,
        work,
        n: 0,
        opts,
        residue: 0.0,
    };
    let reps = b.opts.reps;
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());

    // Startup.
    progress("startup");
    let check_cmd = [VSCRIPT, "check", "scripts/"];
    let start_v = startup(&[VSCRIPT, "--version"], 20)?;
    let start_c = startup(&check_cmd, 20)?;
    let start_k = startup(&["kubectl", "version", "--client"], 20)?;
    let rss_version = peak_rss(&[VSCRIPT, "--version"], &[])?;
    let rss_check = peak_rss(&check_cmd, &[])?;

    // What each wrapped call's measurer leaves in the tool's tree, to subtract.
    progress("measurer residue");
    let residue = measurer_residue(b.work.path(), 31)?;
    b.residue = median(&residue);
    let residue_ms: Vec<f64> = residue.iter().map(|r| r * 1000.0).collect();

    // Procedures, interleaved so that drift hits both tools alike.
    let mut samples: BTreeMap<(&str, &str), Vec<Sample>> = BTreeMap::new();
    let speed = b.opts.speed;
    for rep in 0..reps {
        for name in PROCEDURES {
            for tool in TOOLS {
                progress(&format!("{name} {tool} #{}", rep + 1));
                let s = procedure(&mut b, name, tool, speed).with_context(|| format!("{name} with {tool}"))?;
                samples.entry((name, tool)).or_default().push(s);
            }
        }
    }

    if b.opts.only_procedures {
        eprintln!("measurer residue per wrapped call (ms, subtracted): {}", stat(&residue_ms, 2));
        for ((name, tool), v) in &samples {
            let c = |f: fn(&Sample) -> f64| stat(&v.iter().map(f).collect::<Vec<_>>(), 3);
            eprintln!(
                "{name:14} {tool:13} wall {}  overhead {}  requests {}  rss {}  wrapped calls {}",
                c(|s| s.wall),
                c(|s| s.overhead),
                c(|s| s.requests),
                c(|s| s.rss_mb),
                c(|s| s.wrapped)
            );
        }
        if b.opts.keep {
            eprintln!("work dir kept: {}", b.work.keep().display());
        }
        return Ok(());
    }

    // The same minor upgrade on a slower cluster: polling costs grow with its real pace.
    let mut slow: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    let slow_speed = b.opts.slow_speed;
    if slow_speed > 0.0 {
        for rep in 0..reps.min(3) {
            for tool in TOOLS {
                progress(&format!("minor_upgrade at speed {slow_speed} {tool} #{}", rep + 1));
                let s = procedure(&mut b, "minor_upgrade", tool, slow_speed)
                    .with_context(|| format!("minor_upgrade with {tool} at speed {slow_speed}"))?;
                slow.entry(tool).or_default().push(s);
            }
        }
    }

    // kubectl's own peak RSS, for one of each kind of call the scripts make.
    progress("kubectl rss");
    let run = b.start()?;
    let kc = run.sim.info.kubeconfig.clone();
    let ns = run.sim.info.namespace.clone();
    let env = [("KUBECONFIG", kc.as_str())];
    let mut rss_kubectl = Vec::new();
    for cmd in [
        vec![
            "kubectl",
            "get",
            "sts",
            "-n",
            &ns,
            "vantiq",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        vec!["kubectl", "rollout", "status", "sts/vantiq", "-n", &ns],
        vec!["kubectl", "scale", "sts", "-n", &ns, "vantiq", "--replicas=3"],
        vec!["kubectl", "logs", "-n", &ns, "vantiq-0", "-c", "load-model"],
    ] {
        rss_kubectl.push(peak_rss(&cmd, &env)?);
    }
    b.stop(run)?;

    // Reaction.
    let mut react: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for scenario in ["ready", "job"] {
        for variant in ["vscript", "watch", "poll"] {
            progress(&format!("reaction {scenario} {variant}"));
            let v = reaction(&mut b, scenario, variant).with_context(|| format!("reaction {scenario} {variant}"))?;
            react.insert((scenario, variant), v);
        }
    }

    // Log following: reaction to one line, and throughput of a burst.
    let mut follow_react: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut follow_tput: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut follow_rss: Vec<f64> = Vec::new();
    for rep in 0..reps {
        for tool in ["vscript", "kubectl"] {
            progress(&format!("follow {tool} #{}", rep + 1));
            let (r, _, _) = follow(&mut b, tool, 0, rep).with_context(|| format!("follow {tool}"))?;
            follow_react.entry(tool).or_default().push(r);
            let lines = b.opts.lines;
            let (_, t, rss) = follow(&mut b, tool, lines, rep).with_context(|| format!("follow {tool}"))?;
            follow_tput.entry(tool).or_default().push(t);
            if tool == "vscript" {
                follow_rss.push(rss);
            }
        }
    }
    progress("done");

    // ---- report ----
    let col = |name: &str, tool: &str, f: fn(&Sample) -> f64| -> Vec<f64> { samples[&(name, tool)].iter().map(f).collect() };
    let mut md = String::new();
    let w = &mut md;
    writeln!(w, "# Benchmarks: vscript against the same procedures as kubectl + bash\n")?;
    writeln!(
        w,
        "Generated by `bench/run.sh` (`cargo build --release`, then `cargo bench --bench procedures`). \
         Each procedure runs against a fresh simulated cluster (`vscript-sim`, speed {}: every realistic \
         delay divided by {}), {} repetitions per tool, interleaved. Figures are **median (min–max)**. \
         The bash procedures are `bench/kubectl/*.sh`: the runbook's kubectl/gradlew lines with the \
         waits an operator's script uses (1 s `kubectl get` loops, `kubectl rollout status`, \
         `kubectl wait --for=condition=complete`, `kubectl logs -f | grep -m1`). The vscript procedures \
         are the shipped `scripts/*.rhai`, run with `vscript run NAME --tools DIR --yes --set …`. \
         Both call the same `./gradlew` shim and check the IDE login against the simulated HTTPS endpoint.\n",
        b.opts.speed, b.opts.speed, reps
    )?;
    writeln!(w, "## Machine\n\n{}", machine())?;
    writeln!(w, "Total bench time: {:.0} s.\n", started.elapsed().as_secs_f64())?;

    // Targets.
    let mut rows = Vec::new();
    let mut ratio_min = f64::INFINITY;
    let mut fewer = true;
    for name in PROCEDURES {
        let ov_v = median(&col(name, "vscript", |s| s.overhead));
        let ov_k = median(&col(name, "kubectl+bash", |s| s.overhead));
        ratio_min = ratio_min.min(ov_k / ov_v);
        let rq_v = median(&col(name, "vscript", |s| s.requests));
        let rq_k = median(&col(name, "kubectl+bash", |s| s.requests));
        fewer &= rq_v < rq_k;
        rows.push((name, ov_v, ov_k, rq_v, rq_k));
    }
    let react_v: Vec<f64> = ["ready", "job"]
        .iter()
        .flat_map(|s| react[&(*s, "vscript")].clone())
        .chain(follow_react["vscript"].clone())
        .collect();
    let rss_v: Vec<f64> = samples
        .iter()
        .filter(|((_, t), _)| *t == "vscript")
        .flat_map(|(_, v)| v.iter().map(|s| s.rss_mb))
        .chain(follow_rss.iter().copied())
        .collect();
    let (sv, sc, sk) = (median(&start_v), median(&start_c), median(&start_k));
    writeln!(w, "## Targets\n")?;
    writeln!(w, "| target | result | |")?;
    writeln!(w, "|---|---|---|")?;
    writeln!(
        w,
        "| procedure overhead ≥ 10× lower than the kubectl script | lowest ratio {ratio_min:.1}× ({}) | {} |",
        rows.iter()
            .map(|(n, v, k, _, _)| format!("{n} {:.1}×", k / v))
            .collect::<Vec<_>>()
            .join(", "),
        pass(ratio_min >= 10.0)
    )?;
    writeln!(
        w,
        "| reaction < 50 ms via watches | vscript median {:.1} ms, worst {:.1} ms over all {} waits | {} |",
        median(&react_v),
        max(&react_v),
        react_v.len(),
        pass(max(&react_v) < 50.0)
    )?;
    writeln!(
        w,
        "| fewer API requests than the kubectl script | {} | {} |",
        rows.iter()
            .map(|(n, _, _, v, k)| format!("{n} {v:.0} vs {k:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        pass(fewer)
    )?;
    writeln!(
        w,
        "| peak RSS < 30 MB | vscript max {:.1} MB over every procedure and log-follow run | {} |",
        max(&rss_v),
        pass(max(&rss_v) < 30.0)
    )?;
    writeln!(
        w,
        "| startup below kubectl's | `--version` {sv:.1} ms, `check scripts/` {sc:.1} ms vs `kubectl version --client` {sk:.1} ms | {} |\n",
        pass(sv < sk && sc < sk)
    )?;

    writeln!(w, "## Procedures\n")?;
    writeln!(
        w,
        "| procedure | tool | wall time (s) | overhead: CPU s | API requests | peak RSS (MB) | not counted: gradlew + git pull CPU s |"
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|")?;
    for name in PROCEDURES {
        for tool in TOOLS {
            let rss = if tool == "vscript" {
                stat(&col(name, tool, |s| s.rss_mb), 1)
            } else {
                format!("{:.1} per kubectl call", max(&rss_kubectl))
            };
            writeln!(
                w,
                "| {name} | {tool} | {} | {} | {} | {rss} | {} |",
                stat(&col(name, tool, |s| s.wall), 2),
                stat(&col(name, tool, |s| s.overhead), 3),
                stat(&col(name, tool, |s| s.requests), 0),
                stat(&col(name, tool, |s| s.external), 3),
            )?;
        }
    }
    writeln!(w)?;
    writeln!(w, "| procedure | overhead ratio (kubectl / vscript) | wall ratio | request ratio |")?;
    writeln!(w, "|---|---|---|---|")?;
    for (name, ov_v, ov_k, rq_v, rq_k) in &rows {
        let wv = median(&col(name, "vscript", |s| s.wall));
        let wk = median(&col(name, "kubectl+bash", |s| s.wall));
        writeln!(w, "| {name} | {:.1}× | {:.2}× | {:.1}× |", ov_k / ov_v, wk / wv, rq_k / rq_v)?;
    }
    writeln!(w)?;

    if !slow.is_empty() {
        let sc = |tool: &str, f: fn(&Sample) -> f64| -> Vec<f64> { slow[tool].iter().map(f).collect() };
        writeln!(
            w,
            "### minor_upgrade on a slower cluster (speed {slow_speed}, {} repetitions)\n",
            slow["vscript"].len()
        )?;
        writeln!(
            w,
            "The kubectl script's 1 s polls scale with how long the cluster really takes; vscript's \
             watches do not. At speed {} a realistic step lasts {:.1}× longer than above.\n",
            slow_speed,
            b.opts.speed / slow_speed
        )?;
        writeln!(w, "| tool | wall time (s) | overhead: CPU s | API requests |")?;
        writeln!(w, "|---|---|---|---|")?;
        for tool in TOOLS {
            writeln!(
                w,
                "| {tool} | {} | {} | {} |",
                stat(&sc(tool, |s| s.wall), 2),
                stat(&sc(tool, |s| s.overhead), 3),
                stat(&sc(tool, |s| s.requests), 0)
            )?;
        }
        writeln!(
            w,
            "\nRatios (kubectl / vscript): overhead {:.1}×, requests {:.2}×.\n",
            median(&sc("kubectl+bash", |s| s.overhead)) / median(&sc("vscript", |s| s.overhead)),
            median(&sc("kubectl+bash", |s| s.requests)) / median(&sc("vscript", |s| s.requests)),
        )?;
    }

    writeln!(w, "## Reaction time (ms, condition true → the tool's next request)\n")?;
    writeln!(w, "| condition | vscript (watch) | kubectl, watch-based | kubectl, 1 s get loop |")?;
    writeln!(w, "|---|---|---|---|")?;
    for (scenario, label, watch) in [
        ("ready", "StatefulSet ready (scale 0 → 1)", "`rollout status`"),
        ("job", "Job complete (backup)", "`wait --for=condition=complete`"),
    ] {
        writeln!(
            w,
            "| {label} | {} | {} ({watch}) | {} |",
            stat(&react[&(scenario, "vscript")], 1),
            stat(&react[&(scenario, "watch")], 1),
            stat(&react[&(scenario, "poll")], 1),
        )?;
    }
    writeln!(
        w,
        "| log line written | {} | {} (`logs -f \\| grep -m1`) | – |\n",
        stat(&follow_react["vscript"], 1),
        stat(&follow_react["kubectl"], 1)
    )?;

    writeln!(w, "## Startup (ms, {} runs each)\n", start_v.len())?;
    writeln!(w, "| command | wall (ms) | peak RSS (MB) |")?;
    writeln!(w, "|---|---|---|")?;
    writeln!(w, "| `vscript --version` | {} | {rss_version:.1} |", stat(&start_v, 1))?;
    writeln!(w, "| `vscript check scripts/` | {} | {rss_check:.1} |", stat(&start_c, 1))?;
    writeln!(w, "| `kubectl version --client` | {} | – |\n", stat(&start_k, 1))?;

    writeln!(w, "## Following a fast log\n")?;
    writeln!(
        w,
        "{} lines (~90 bytes each) written in one burst into a running container's log, then the \
         line to find, then one line per 10 ms; lines/s from the burst to the follower's exit.\n",
        b.opts.lines
    )?;
    writeln!(w, "| follower | lines/s | peak RSS (MB) |")?;
    writeln!(w, "|---|---|---|")?;
    writeln!(
        w,
        "| `vscript` (`k8s::follow_logs(…, #{{quiet: true}})`) | {} | {} |",
        stat(&follow_tput["vscript"], 0),
        stat(&follow_rss, 1)
    )?;
    writeln!(w, "| `kubectl logs -f \\| grep -m1` | {} | – |\n", stat(&follow_tput["kubectl"], 0))?;
    writeln!(
        w,
        "kubectl peak RSS per call (get, rollout status, scale, logs): {}.\n",
        rss_kubectl.iter().map(|r| format!("{r:.1} MB")).collect::<Vec<_>>().join(", ")
    )?;

    writeln!(w, "## Method\n")?;
    // The wrapped calls per run, by procedure (the same for both tools when the scripts
    // do the same work; both counts are shown when they differ).
    let wrapped = PROCEDURES
        .iter()
        .map(|n| {
            let counts: std::collections::BTreeSet<u64> = TOOLS.iter().flat_map(|t| col(n, t, |s| s.wrapped)).map(|w| w as u64).collect();
            format!("{n} {}", counts.iter().map(u64::to_string).collect::<Vec<_>>().join(" or "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        w,
        "- **Wall time**: from spawning the tool to its exit, including the simulated cluster's own \
         delays and the `./gradlew` shim (identical for both tools).\n\
         - **Overhead** (time not spent waiting for the cluster): CPU time (user+sys) of the tool's \
         whole process tree — vscript and its children, or bash with every kubectl, sleep, grep, sed, \
         cp, cat and curl it ran — from the rusage of its reaped process tree (the bench's \
         measurer, `benches/procedures/measure.rs`, microsecond resolution), minus the CPU of the external work both tools run identically, measured the \
         same way and shown in the last column: the `./gradlew` shim (the bench wraps it in the \
         measurer) and `git pull` (a `git` wrapper first on both tools' PATH runs `pull` under the \
         measurer and any other git command directly). Any other git command a tool runs stays in \
         its overhead. What a wrapped call's measurer costs after its own reading (the end of its \
         process, which no reading of its own can include) is measured at the start of the run — \
         `sh -c 'exec measurer --self … -- true'` under a second measurer, outer minus inner, 31 \
         times: {residue} ms per call — and subtracted once per wrapped call from both tools' \
         overhead (wrapped calls per run: {wrapped}).\n\
         - **API requests**: lines of the simulator's API audit log (`SimOptions::audit_log`) during the \
         run, without those of the gradlew shim (its `ureq` user agent). kubectl's discovery requests \
         count: every run gets an empty discovery cache (`KUBECACHEDIR`), as on an operator's first \
         call of the night.\n\
         - **Reaction**: the tool runs one marker request (`GET configmaps/bench-marker-…`) right \
         after its wait returns. Reaction = the marker's audit timestamp (ms) minus the moment the \
         condition was committed to the simulator's store (an in-process store observer: StatefulSet \
         ready with all replicas, Job condition Complete) or the bench wrote the log line. For the \
         kubectl scripts this includes starting the next kubectl process, as it does in a real script.\n\
         - **Peak RSS**: `VmHWM` of the vscript process sampled every 5 ms by the measurer (the \
         gradlew shim is a separate process and not counted); kubectl's per call by the measurer's \
         `ru_maxrss`.\n\
         - **Startup**: wall time of spawning the command until it exits, from the bench process.\n\
         - Reproduce: `bench/run.sh` (driver options: `--reps N --speed F --slow-speed F --lines N`).",
        residue = stat(&residue_ms, 2),
    )?;

    // The hand-written findings (profile, causes, changes) follow the generated figures.
    md.push('\n');
    md.push_str(include_str!("../bench/analysis.md"));

    match &b.opts.out {
        Some(p) => std::fs::write(p, md)?,
        None => print!("{md}"),
    }
    if b.opts.keep {
        eprintln!("work dir kept: {}", b.work.keep().display());
    }
    Ok(())
}
