//! `vscript fleet run`: one procedure over many installations at once.
//!
//! Each installation runs in its own child process — the same vscript binary, `run
//! <script> --tools DIR --yes --output json` — so it has its own kubeconfig, namespace,
//! maintenance lock and journal exactly as a single run would, and one cluster's crash
//! cannot take the others down. A bounded pool (`--parallel`) runs them; every line a
//! child prints on stderr is passed on whole, prefixed `[cluster] `, under one lock, so
//! progress never interleaves mid-line. The JSON report each child prints on stdout
//! feeds the summary table (and `--output json`: an array of per-cluster results).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::run::report::{self, Lang};
use crate::run::{EXIT_ABORTED, EXIT_FAILED, EXIT_OK, Failure};

/// The schema id of `vscript fleet run --output json`.
pub const FLEET_SCHEMA: &str = "vscript.fleet/v1";

/// Every run goes on.
const GO: u8 = 0;
/// Interrupt the running children (`--fail-fast`, or SIGTERM to the fleet) and start no other.
const INTERRUPT: u8 = 1;
/// Start no other; the running children got the terminal's Ctrl-C themselves.
const NO_NEW: u8 = 2;

/// `vscript fleet run`: one procedure on many installations.
#[derive(Debug, Clone, Default)]
pub struct FleetRequest {
    /// Script path or procedure name (resolved in each installation's tools dir).
    pub script: String,
    /// Tools dirs; each cluster is named after its targetCluster branch.
    pub target: Vec<PathBuf>,
    /// A fleet file: `[[target]] name = "acme-prod" tools = "/path" set = { ... }`.
    pub targets: Option<PathBuf>,
    /// How many installations run at the same time.
    pub parallel: usize,
    /// Stop everything at the first failure: running ones are interrupted, the rest skipped.
    pub fail_fast: bool,
    /// Parameters for every installation; a fleet file's `set` wins.
    pub params: BTreeMap<String, String>,
    /// Rehearse each installation on its own simulated cluster.
    pub rehearse: bool,
    pub speed: Option<f64>,
    pub dry_run: bool,
    /// Write each installation's Markdown report to DIR/<cluster>.md.
    pub report_dir: Option<PathBuf>,
    pub lang: Lang,
    /// Print one JSON document instead of the table.
    pub json: bool,
}

/// One installation of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub tools: PathBuf,
    pub set: BTreeMap<String, String>,
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    target: Vec<TargetEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    name: String,
    tools: PathBuf,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    namespace: Option<String>,
    context: Option<String>,
    kubeconfig: Option<PathBuf>,
}

/// Reads a fleet file; relative paths are relative to the file.
pub fn load_fleet_file(path: &Path) -> Result<Vec<Target>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    parse_fleet(&text, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| Failure::usage(format!("invalid fleet file {}: {e}", path.display())))
}

/// Parses a fleet file's text; `base` resolves relative paths.
pub fn parse_fleet(text: &str, base: &Path) -> Result<Vec<Target>, String> {
    let file: FleetFile = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let mut out: Vec<Target> = Vec::new();
    for t in file.target {
        if t.name.is_empty() || t.name.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!("target name `{}`: use letters, digits, `-`, `_` or `.`", t.name));
        }
        if out.iter().any(|o| o.name == t.name) {
            return Err(format!("target `{}` appears twice", t.name));
        }
        let mut set = BTreeMap::new();
        for (k, v) in t.set {
            let v = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "target `{}`: set.{k} must be a string, number or boolean, not {}",
                        t.name,
                        other.type_str()
                    ));
                }
            };
            set.insert(k, v);
        }
        out.push(Target {
            name: t.name,
            tools: base.join(t.tools),
            set,
            namespace: t.namespace,
            context: t.context,
            kubeconfig: t.kubeconfig.map(|k| base.join(k)),
        });
    }
    Ok(out)
}

/// The name of an installation given only its tools dir: targetCluster's branch, or the dir name.
fn name_of(tools: &Path) -> String {
    std::fs::read_to_string(tools.join("targetCluster/.git/HEAD"))
        .ok()
        .and_then(|h| h.trim().strip_prefix("ref: refs/heads/").map(str::to_owned))
        .unwrap_or_else(|| {
            tools
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| tools.display().to_string())
        })
}

/// What happened on one installation.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub tools: PathBuf,
    /// `ok`, `failed`, `aborted`, `refused`, `cancelled` (stopped by --fail-fast) or `skipped`.
    pub result: String,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// The child's `vscript.run/v1` report, when it printed one.
    pub report: Option<Value>,
    /// The child's error line, when it failed.
    pub error: Option<String>,
}

impl Outcome {
    fn skipped(t: &Target) -> Outcome {
        Outcome {
            name: t.name.clone(),
            tools: t.tools.clone(),
            result: "skipped".into(),
            exit_code: None,
            duration: Duration::ZERO,
            report: None,
            error: None,
        }
    }

    /// The summary's last column: key findings, or why it failed.
    pub fn summary(&self) -> String {
        let findings = self.report.as_ref().map(report::key_findings).unwrap_or_default();
        match (&self.error, self.result.as_str()) {
            (_, "ok") | (None, _) => findings,
            (Some(e), _) if findings.is_empty() => e.clone(),
            (Some(e), _) => format!("{e}; {findings}"),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "cluster": self.name,
            "tools": self.tools,
            "result": self.result,
            "exit_code": self.exit_code,
            "duration_ms": u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            "summary": self.summary(),
            "error": self.error,
            "report": self.report,
        })
    }
}

/// Runs one procedure on every installation of the fleet; prints one summary.
pub fn run(args: FleetRequest) -> Result<u8, Failure> {
    let common = args.params.clone();
    let mut targets = match &args.targets {
        Some(f) => load_fleet_file(f)?,
        None => Vec::new(),
    };
    for dir in &args.target {
        let mut name = name_of(dir);
        let mut n = 2;
        while targets.iter().any(|t| t.name == name) {
            name = format!("{}-{n}", name_of(dir));
            n += 1;
        }
        targets.push(Target {
            name,
            tools: dir.clone(),
            set: BTreeMap::new(),
            namespace: None,
            context: None,
            kubeconfig: None,
        });
    }
    if targets.is_empty() {
        return Err(Failure::usage(
            "no installation to run on: pass --target TOOLS_DIR (repeatable) or --targets fleet.toml",
        ));
    }
    for t in &mut targets {
        if !t.tools.is_dir() {
            return Err(Failure::usage(format!(
                "{}: tools dir `{}` does not exist",
                t.name,
                t.tools.display()
            )));
        }
        t.tools = std::fs::canonicalize(&t.tools).unwrap_or_else(|_| t.tools.clone());
        for (k, v) in &common {
            t.set.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if args.parallel == 0 {
        return Err(Failure::usage("--parallel must be at least 1"));
    }
    if let Some(d) = &args.report_dir {
        std::fs::create_dir_all(d).map_err(|e| Failure::failed(format!("cannot create {}: {e}", d.display())))?;
    }
    let exe = std::env::current_exe().map_err(|e| Failure::failed(e.to_string()))?;
    let width = targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
    say(&format!(
        "vscript: fleet: {} on {} installation(s), {} at a time{}",
        args.script,
        targets.len(),
        args.parallel.min(targets.len()),
        if args.fail_fast { ", stopping at the first failure" } else { "" }
    ));

    let next = AtomicUsize::new(0);
    let stop = Arc::new(AtomicU8::new(GO));
    watch_signals(stop.clone());
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; targets.len()]);
    std::thread::scope(|s| {
        for _ in 0..args.parallel.min(targets.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(t) = targets.get(i) else { break };
                    let outcome = if stop.load(Ordering::SeqCst) != GO {
                        Outcome::skipped(t)
                    } else {
                        run_one(&exe, &args, t, &stop)
                    };
                    if outcome.result != "ok" && outcome.result != "skipped" && args.fail_fast {
                        let _ = stop.compare_exchange(GO, INTERRUPT, Ordering::SeqCst, Ordering::SeqCst);
                    }
                    if outcome.result != "skipped" {
                        say(&format!(
                            "[{:width$}] {} in {}",
                            t.name,
                            outcome.result,
                            report::duration(u64::try_from(outcome.duration.as_millis()).unwrap_or(0))
                        ));
                    }
                    results.lock().unwrap()[i] = Some(outcome);
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = results.into_inner().unwrap().into_iter().flatten().collect();

    let table = summary_table(&outcomes);
    if args.json {
        say(&table);
        let all: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
        let doc = json!({ "schema": FLEET_SCHEMA, "script": args.script, "clusters": all });
        out(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()));
    } else {
        out(&table);
    }
    let signalled = stop.load(Ordering::SeqCst) == NO_NEW || SIGTERM_SEEN.load(Ordering::SeqCst) != 0;
    Ok(if signalled {
        EXIT_ABORTED
    } else if outcomes.iter().all(|o| o.result == "ok") {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// One child run, streamed and waited for; interrupted when `stop` is raised.
fn run_one(exe: &Path, args: &FleetRequest, t: &Target, stop: &AtomicU8) -> Outcome {
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(&args.script)
        .arg("--tools")
        .arg(&t.tools)
        .args(["--yes", "--output", "json"]);
    for (k, v) in &t.set {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    if args.rehearse {
        cmd.arg("--rehearse");
    }
    if let Some(s) = args.speed {
        cmd.arg("--speed").arg(s.to_string());
    }
    if args.dry_run {
        cmd.arg("--dry-run");
    }
    if let Some(n) = &t.namespace {
        cmd.arg("--namespace").arg(n);
    }
    if let Some(c) = &t.context {
        cmd.arg("--context").arg(c);
    }
    if let Some(k) = &t.kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
    }
    if let Some(d) = &args.report_dir {
        cmd.arg("--report").arg(d.join(format!("{}.md", t.name)));
        cmd.arg("--lang").arg(if args.lang == Lang::Ja { "ja" } else { "en" });
    }
    cmd.env_remove("VSCRIPT_TOOLS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                result: "failed".into(),
                error: Some(format!("cannot start {}: {e}", exe.display())),
                duration: started.elapsed(),
                ..Outcome::skipped(t)
            };
        }
    };
    let stderr = child.stderr.take();
    let mut stdout = child.stdout.take();
    let prefix = format!("[{}] ", t.name);
    let (code, text, last_error, cancelled) = std::thread::scope(|s| {
        let err = s.spawn(|| {
            let mut last_error = None;
            let mut tail = String::new();
            if let Some(e) = stderr {
                for line in BufReader::new(e).lines().map_while(Result::ok) {
                    if line.starts_with("error") {
                        last_error = Some(line.clone());
                    }
                    if !line.trim().is_empty() {
                        tail = line.clone();
                    }
                    say(&format!("{prefix}{line}"));
                }
            }
            last_error.or((!tail.is_empty()).then_some(tail))
        });
        let outp = s.spawn(move || {
            let mut text = String::new();
            if let Some(o) = stdout.as_mut() {
                let _ = o.read_to_string(&mut text);
            }
            text
        });
        let mut interrupted: Option<Instant> = None;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st.code(),
                Ok(None) => {}
                Err(_) => break None,
            }
            if stop.load(Ordering::SeqCst) == INTERRUPT {
                match interrupted {
                    None => {
                        // Like Ctrl-C: the child stops its step, journals the end, releases its lock.
                        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
                        interrupted = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() > Duration::from_secs(10) => {
                        let _ = child.kill();
                    }
                    Some(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let last_error = err.join().unwrap_or(None);
        let text = outp.join().unwrap_or_default();
        (status, text, last_error, interrupted.is_some())
    });
    let report = parse_report(&text);
    let result = match code {
        Some(0) => "ok",
        _ if cancelled => "cancelled",
        Some(c) => report::result_of(u8::try_from(c).unwrap_or(EXIT_FAILED)),
        None => "failed",
    };
    let error = if result == "ok" {
        None
    } else {
        report
            .as_ref()
            .and_then(|r| r["error"].as_str())
            .and_then(|e| e.lines().next())
            .map(str::to_owned)
            .or(last_error)
    };
    Outcome {
        name: t.name.clone(),
        tools: t.tools.clone(),
        result: result.to_owned(),
        exit_code: code,
        duration: started.elapsed(),
        report,
        error,
    }
}

static SIGTERM_SEEN: AtomicU8 = AtomicU8::new(0);

/// Ctrl-C (SIGINT, which the terminal also sends the children) starts no new run and lets
/// the running ones stop their step; SIGTERM (sent to the fleet alone, e.g. by a
/// container runtime) is passed on as an interrupt. A second signal exits at once.
fn watch_signals(stop: Arc<AtomicU8>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            for round in 0..2 {
                let how = tokio::select! {
                    _ = tokio::signal::ctrl_c() => NO_NEW,
                    _ = term.recv() => INTERRUPT,
                };
                if round == 1 {
                    std::process::exit(i32::from(EXIT_ABORTED));
                }
                if how == INTERRUPT {
                    SIGTERM_SEEN.store(1, Ordering::SeqCst);
                }
                let _ = stop.compare_exchange(GO, how, Ordering::SeqCst, Ordering::SeqCst);
                say("vscript: fleet: interrupted: no other installation starts, the running ones stop their step (interrupt again to exit now)");
            }
        });
    });
}

/// The JSON report a child printed on stdout (the last top-level object, should anything precede it).
fn parse_report(stdout: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) {
        return Some(v);
    }
    let at = stdout.rfind("\n{\n")?;
    serde_json::from_str(stdout[at..].trim()).ok()
}

/// The table at the end of a fleet run.
pub fn summary_table(outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.name.clone(),
                o.result.clone(),
                if o.result == "skipped" {
                    "-".into()
                } else {
                    report::duration(u64::try_from(o.duration.as_millis()).unwrap_or(0))
                },
                o.summary(),
            ]
        })
        .collect();
    let head = ["CLUSTER", "RESULT", "DURATION", "FINDINGS"];
    let w: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    let mut line = |r: [&str; 4]| {
        text.push_str(
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            )
            .trim_end(),
        );
        text.push('\n');
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]]);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes {
        *counts.entry(o.result.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    text.push_str(&format!("{} installation(s): {}\n", outcomes.len(), counts.join(", ")));
    text
}

/// One whole line on stderr; the lock keeps lines from different clusters apart.
fn say(line: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    if !line.ends_with('\n') {
        let _ = err.write_all(b"\n");
    }
    let _ = err.flush();
}

fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_file_targets_resolve_relative_paths_and_stringify_sets() {
        let t = parse_fleet(
            "[[target]]\nname = \"acme-prod\"\ntools = \"acme\"\nset = { license_lead_days = 10, fail_when_due = true }\n",
            Path::new("/etc/fleet"),
        )
        .unwrap();
        assert_eq!(t[0].tools, PathBuf::from("/etc/fleet/acme"));
        assert_eq!(t[0].set["license_lead_days"], "10");
        assert_eq!(t[0].set["fail_when_due"], "true");
    }

    #[test]
    fn fleet_file_unknown_keys_fail_with_their_line() {
        let e = parse_fleet("[[target]]\nname = \"a\"\ntools = \"x\"\ntool = \"y\"\n", Path::new("/")).unwrap_err();
        assert!(e.contains("line 4") && e.contains("tool"), "{e}");
        let e = parse_fleet("[[targets]]\nname = \"a\"\n", Path::new("/")).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = parse_fleet(
            "[[target]]\nname = \"a\"\ntools = \"x\"\n[[target]]\nname = \"a\"\ntools = \"y\"\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn summary_table_aligns_and_counts() {
        let o = |n: &str, r: &str| Outcome {
            name: n.into(),
            tools: PathBuf::from("/t"),
            result: r.into(),
            exit_code: Some(0),
            duration: Duration::from_millis(1500),
            report: None,
            error: (r == "failed").then(|| "error: boom".to_owned()),
        };
        let t = summary_table(&[o("acme-prod", "ok"), o("b", "failed")]);
        assert_eq!(
            t,
            "CLUSTER    RESULT  DURATION  FINDINGS\nacme-prod  ok      1.5s\nb          failed  1.5s      error: boom\n2 installation(s): 1 failed, 1 ok\n"
        );
    }
}
