//! A session: what a run or a REPL needs before a script is chosen — the runtimes, the
//! target, the tools dir's settings, and (with `--rehearse`) the simulated cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::outcome::{EXIT_ABORTED, Failure};
use super::target::{self, TargetSpec};
use crate::config::Config;
use crate::engine::Host;
use crate::engine::host::{Options, Output, Target, VantiqEndpoint};

/// The script's runtime: a single-threaded one, driven by the thread that runs the script
/// whenever a call waits (a request, a watch, a process). Each request is then handled on
/// that thread, without a hand-off to a worker thread and back.
pub fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
    )
}

/// The background runtime: what must go on while the script thread is busy with something
/// else (a confirmation prompt, a long computation) — signal handling, the maintenance
/// lock's renewal, the rehearsal's simulated cluster.
fn background_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vscript-bg")
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Everything a run or a REPL session needs before a script is chosen.
pub struct Session {
    /// Drives the script's calls (see [`runtime`]).
    pub rt: Arc<tokio::runtime::Runtime>,
    /// Signals, lock renewal, the rehearsal's simulator (see [`background_runtime`]).
    pub bg: tokio::runtime::Runtime,
    pub rehearsal: Option<vscript_sim::Sim>,
    pub target: Target,
    pub config: Config,
    pub context: Option<String>,
    pub params: BTreeMap<String, String>,
}

/// Opens a session: starts the simulator for `--rehearse` (a copy of `--tools`, never the
/// original), resolves the target and loads `vscript.toml`. Nothing is changed yet.
pub fn open(spec: &TargetSpec, mut params: BTreeMap<String, String>) -> Result<Session, Failure> {
    let rt = runtime();
    let bg = background_runtime();
    let mut rehearsal = None;
    let mut tools_override = None;
    if spec.rehearse {
        if let Some(t) = &spec.tools
            && !t.is_dir()
        {
            return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display())));
        }
        let dir = tempfile::Builder::new()
            .prefix("vscript-rehearsal-")
            .tempdir()
            .map_err(|e| Failure::failed(format!("cannot create a temporary directory: {e}")))?
            .keep();
        let exe = std::env::current_exe().map_err(|e| Failure::failed(e.to_string()))?;
        let mut opts = vscript_sim::SimOptions::new(dir.clone(), vec![exe.display().to_string(), "sim".into(), "gradle".into()]);
        opts.tools = spec.tools.clone();
        if let Some(s) = spec.speed {
            opts.speed = s;
        }
        crate::errln!("vscript: rehearsal: starting a simulated cluster in {}", dir.display());
        let sim = bg
            .block_on(vscript_sim::Sim::start(opts))
            .map_err(|e| Failure::failed(format!("cannot start the simulated cluster: {e:#}")))?;
        tools_override = Some(PathBuf::from(&sim.info.tools_dir));
        // Renewal files come from the simulator's incoming/ unless given.
        let incoming = PathBuf::from(&sim.info.incoming_dir);
        for (param, file) in [
            ("fullchain", "fullchain.crt"),
            ("private_key", "private.key"),
            ("public_pem", "public.pem"),
            ("license_key", "license.key"),
        ] {
            if !params.contains_key(param) {
                params.insert(param.to_owned(), incoming.join(file).display().to_string());
            }
        }
        rehearsal = Some(sim);
    }
    let mut spec = spec.clone();
    if rehearsal.is_some() {
        spec.kubeconfig = None;
        spec.context = None;
    }
    let mut target = target::resolve(&spec, tools_override)?;
    let config = match &target.tools_dir {
        Some(t) => Config::load(t).map_err(|e| Failure::usage(format!("invalid {e}")))?,
        None => Config::default(),
    };
    target.http_credentials_allowed = config.kubernetes.allow_insecure_http_credentials.clone();
    let context = target::effective_context(&target);
    if !config.allowed_contexts.is_empty() && rehearsal.is_none() {
        let ok = context.as_ref().is_some_and(|c| config.allowed_contexts.contains(c));
        if !ok {
            return Err(Failure::refused(format!(
                "refusing to run: kube context `{}` is not in allowed_contexts of vscript.toml ({})",
                context.as_deref().unwrap_or("(none)"),
                config.allowed_contexts.join(", ")
            )));
        }
    }
    Ok(Session {
        rt,
        bg,
        rehearsal,
        target,
        config,
        context,
        params,
    })
}

impl Session {
    /// A host for one script (or the REPL: `script = None`), with the tools dir's default parameters.
    pub fn host(&self, script: Option<&str>, dry_run: bool, yes: bool, json: bool) -> Host {
        let mut params = self.params.clone();
        if let Some(name) = script {
            for (k, v) in self.config.params_for(name) {
                params.entry(k).or_insert(v);
            }
        }
        let vantiq = vantiq_endpoint(&self.config, self.target.tools_dir.as_deref());
        let mut settings = self.config.flatten();
        if let Some(url) = &vantiq.url {
            settings.insert("vantiq.url".into(), serde_json::Value::String(url.clone()));
        }
        if let Some(c) = &vantiq.connect {
            settings.insert("vantiq.connect".into(), serde_json::Value::String(c.clone()));
        }
        let opts = Options {
            dry_run,
            yes,
            interactive: Host::stdin_is_tty(),
            params,
            settings,
            vantiq,
            console: script.is_none(),
            ..Options::default()
        };
        let every = self
            .config
            .output
            .progress_seconds
            .map(std::time::Duration::from_secs_f64)
            .unwrap_or(crate::engine::host::progress::DEFAULT_EVERY);
        let out = Output {
            json,
            progress: crate::engine::host::progress::Progress::new(crate::engine::host::progress::Style::detect(), every),
            ..Output::default()
        };
        Host::assemble(self.target.clone(), opts, out, self.rt.handle().clone(), Some(self.rt.clone()))
    }

    /// The line every run prints before it changes anything.
    pub fn banner(&self, what: &str, dry_run: bool) -> String {
        let t = &self.target;
        format!(
            "vscript: {what} on cluster `{}`, context `{}`, namespace `{}`{}{}",
            t.cluster.as_deref().unwrap_or("?"),
            self.context.as_deref().unwrap_or("(default)"),
            t.namespace,
            t.tools_dir.as_ref().map(|d| format!(", tools {}", d.display())).unwrap_or_default(),
            if dry_run { " — DRY RUN: nothing will be changed" } else { "" },
        )
    }

    /// Prints the simulator's invariant report (rehearsals only) and returns the violations.
    pub fn invariant_report(&self) -> Option<Vec<vscript_sim::Violation>> {
        let sim = self.rehearsal.as_ref()?;
        let v = sim.violations();
        if v.is_empty() {
            crate::errln!("vscript: rehearsal: the simulator recorded no invariant violation");
        } else {
            crate::errln!("vscript: rehearsal: the simulator recorded {} invariant violation(s):", v.len());
            for x in &v {
                crate::errln!("  {} [{}] {}", x.at, x.rule, x.message);
            }
        }
        Some(v)
    }

    /// Stops the simulator; its files are removed (`remove`: a successful rehearsal) or
    /// kept for inspection, and then their directory is returned.
    pub fn close(self, remove: bool) -> Option<PathBuf> {
        let mut kept = None;
        if let Some(sim) = self.rehearsal {
            let dir = sim.dir.clone();
            self.bg.block_on(sim.shutdown());
            if remove && std::fs::remove_dir_all(&dir).is_ok() {
                // Gone.
            } else {
                kept = Some(dir);
            }
        }
        // What is left there (the signal handler, an aborted lock renewal) has nothing to
        // finish: do not wait for the worker thread.
        self.bg.shutdown_background();
        kept
    }
}

/// Trips the host's cancel token on Ctrl-C, SIGTERM or SIGHUP (an SSH or VPN drop): the
/// running step stops, the journal says where, the lock is released. A second signal
/// exits at once.
pub fn install_signals(rt: &tokio::runtime::Runtime, host: Arc<Host>) {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered now, not when the task first runs: a signal that comes before (a busy
    // machine, a script that starts computing at once) must not kill the process.
    let _guard = rt.enter();
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    rt.spawn(async move {
        for round in 0..2 {
            let which = tokio::select! {
                Some(_) = async { match int.as_mut() { Some(i) => i.recv().await, None => std::future::pending().await } } => "interrupted",
                Some(_) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => "terminated (SIGTERM)",
                Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "hung up (SIGHUP: the terminal or connection went away)",
            };
            if round == 0 {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "\nvscript: {which} — stopping the running step (interrupt again to exit now)");
                host.state().interrupt();
            }
        }
        std::process::exit(i32::from(EXIT_ABORTED));
    });
}

/// The Vantiq endpoint: `vscript.toml`, overridden by the simulator's `.vscript/sim.json`.
pub fn vantiq_endpoint(config: &Config, tools: Option<&Path>) -> VantiqEndpoint {
    let c = &config.vantiq;
    let mut v = VantiqEndpoint {
        url: c.url.clone(),
        connect: c.connect.clone(),
        ca: c.ca.clone(),
        token_file: c.token_file.clone(),
        token_env: c.token_env.clone(),
        user: c.user.clone(),
        password_file: c.password_file.clone(),
        password_env: c.password_env.clone(),
        check_resource: c.check_resource.clone(),
        allow_insecure_http_credentials: c.allow_insecure_http_credentials,
        about: c.about.clone(),
    };
    // A rehearsal logs in to the simulator as its `system` user, the way the SDKs do.
    if let Some(info) = tools
        .and_then(|t| std::fs::read_to_string(t.join(".vscript/sim.json")).ok())
        .and_then(|s| serde_json::from_str::<vscript_sim::SimInfo>(&s).ok())
    {
        v.url = Some(info.vantiq_url.clone());
        v.connect = Some(format!("{}={}", info.vantiq_host, info.vantiq_addr));
        v.ca = Some(PathBuf::from(&info.ca_file));
        v.user = Some(info.vantiq_user.clone());
        v.password_file = Some(PathBuf::from(&info.password_file));
        (v.password_env, v.token_file, v.token_env) = (None, None, None);
    }
    v
}
