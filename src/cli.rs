//! The command line: the one place that prints errors and picks exit codes
//! (0 ok, 1 script failed, 2 usage, 3 aborted by the operator, 4 safety refusal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::engine::{
    self, Host,
    host::{Output, Target, VantiqEndpoint},
};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_ABORTED: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;

#[derive(Parser, Debug)]
#[command(name = "vscript", version, about = "Vantiq maintenance runbooks as safe, rehearsable Rhai scripts", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a procedure (a script path, or a name like `license_renew`).
    Run(RunArgs),
    /// The incident console: an interactive Rhai prompt with every script function.
    Repl(ReplArgs),
    /// Compile and lint scripts without running them (syntax, unknown functions).
    Check {
        /// Scripts or directories of scripts (default: the shipped scripts).
        paths: Vec<PathBuf>,
    },
    /// List the procedures available, with where each comes from.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Copy a shipped procedure or stdlib module into the tools dir to adapt it for a customer.
    Customize {
        /// A procedure (`minor_upgrade`) or stdlib module (`vantiq`).
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show customised files' changes against their origin, and upstream changes not taken yet.
    Diff {
        name: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Past runs from the tools dir's journal; with an id, that run's events.
    Runs {
        id: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The API reference of every script function, generated from the registrations.
    Doc {
        /// Show one function (`k8s::scale`, `scale`, or a module `k8s`).
        name: Option<String>,
        /// Write Rhai definition files (`*.d.rhai`) for editors into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "name")]
        definitions: Option<PathBuf>,
    },
    /// Many installations at once.
    #[command(subcommand)]
    Fleet(crate::fleet::FleetCmd),
    /// Shell completions.
    Completions { shell: clap_complete::Shell },
    /// The simulated Vantiq cluster.
    #[command(subcommand)]
    Sim(SimCmd),
}

#[derive(Subcommand, Debug)]
enum SimCmd {
    /// Start a simulated installation in DIR and serve it until Ctrl-C.
    Start {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Time scale: every delay is divided by this.
        #[arg(long)]
        speed: Option<f64>,
        /// Copy and simulate this existing tools dir instead of generating one.
        #[arg(long)]
        tools: Option<PathBuf>,
    },
    /// Print the simulator's invariant violations; exit 0 only when there are none.
    Check {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The gradlew shim (called by the simulated tools dir's ./gradlew).
    #[command(hide = true)]
    Gradle {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Which cluster and tools dir to act on.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// The k8sdeploy_tools checkout (default: $VSCRIPT_TOOLS, or the current dir if it has targetCluster/).
    #[arg(long, env = "VSCRIPT_TOOLS")]
    pub tools: Option<PathBuf>,
    /// The cluster name passed to gradle as -Pcluster (default: targetCluster's git branch).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The Vantiq namespace (default: vantiq.installation in cluster.properties).
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
    /// The kube context (default: the kubeconfig's current context).
    #[arg(long)]
    pub context: Option<String>,
    /// The kubeconfig (default: targetCluster/kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Run against a built-in simulated cluster (seeded from --tools if given, which is only copied).
    #[arg(long)]
    pub rehearse: bool,
    /// Simulator speed for --rehearse.
    #[arg(long, hide = true)]
    pub speed: Option<f64>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Script path or procedure name.
    pub script: String,
    /// A parameter (repeatable): --set tag=1.31.0
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Read for real; write nothing: Kubernetes writes go with dryRun=All, file edits show a diff.
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to confirmations (unattended runs).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the Markdown summary for the customer's report to FILE.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// The language of `--report`.
    #[arg(long, value_enum, default_value_t = crate::report::Lang::En)]
    pub lang: crate::report::Lang,
    /// Continue a failed or interrupted run: completed steps are skipped, its parameters and remembered values reused.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Remove another run's maintenance lock first (asks for confirmation unless --yes).
    #[arg(long)]
    pub force_unlock: bool,
}

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// A parameter (repeatable), readable with `param()`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Writes go with dryRun=All, file edits show a diff.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    /// History file (default: the user's data dir, vscript/history).
    #[arg(long, hide = true)]
    pub history: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// A usage or setup error with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: m.into(),
        }
    }
    pub fn failed(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILED,
            message: m.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.cmd {
        Cmd::Run(args) => run(args),
        Cmd::Repl(args) => crate::repl::main(args),
        Cmd::Check { paths } => check(&paths),
        Cmd::List { target } => list(&target),
        Cmd::Customize { name, target } => customize(&name, &target),
        Cmd::Diff { name, target } => diff(name.as_deref(), &target),
        Cmd::Runs { id, target } => runs(id.as_deref(), &target),
        Cmd::Doc {
            definitions: Some(dir), ..
        } => write_definitions(&dir),
        Cmd::Doc { name, .. } => doc(name.as_deref()),
        Cmd::Fleet(cmd) => crate::fleet::main(cmd),
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vscript", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Cmd::Sim(cmd) => sim(cmd),
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(f) => {
            eprintln!(
                "{}",
                if f.message.starts_with("error") {
                    f.message
                } else {
                    format!("error: {}", f.message)
                }
            );
            ExitCode::from(f.code)
        }
    }
}

/// The script's runtime: a single-threaded one, driven by the thread that runs the script
/// whenever a call waits (a request, a watch, a process). Each request is then handled on
/// that thread, without a hand-off to a worker thread and back.
fn runtime() -> Arc<tokio::runtime::Runtime> {
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

// ---- scripts ------------------------------------------------------------------------

/// A script to run: its display name, source text and where it came from.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub source_name: String,
    pub text: String,
    pub origin: String,
}

/// Finds a script by path, or by name in `./scripts`, the tools dir's `scripts/`, and the shipped ones.
pub fn resolve_script(spec: &str, tools: Option<&Path>) -> Result<Script, Failure> {
    let p = Path::new(spec);
    let looks_like_path = spec.contains('/') || spec.ends_with(".rhai");
    if looks_like_path || p.is_file() {
        let text = std::fs::read_to_string(p).map_err(|e| Failure::usage(format!("cannot read script `{spec}`: {e}")))?;
        let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(Script {
            name,
            source_name: spec.to_owned(),
            text,
            origin: "file".into(),
        });
    }
    let file = format!("{spec}.rhai");
    let mut dirs = vec![PathBuf::from("scripts")];
    if let Some(t) = tools {
        dirs.insert(0, t.join("scripts"));
    }
    for d in dirs {
        let f = d.join(&file);
        if let Ok(text) = std::fs::read_to_string(&f) {
            return Ok(Script {
                name: spec.to_owned(),
                source_name: f.display().to_string(),
                text,
                origin: d.display().to_string(),
            });
        }
    }
    if let Some(text) = crate::shipped::script(spec) {
        return Ok(Script {
            name: spec.to_owned(),
            source_name: format!("scripts/{file}"),
            text: text.to_owned(),
            origin: "shipped".into(),
        });
    }
    let names: Vec<&str> = crate::shipped::SCRIPTS.iter().map(|(n, _)| *n).collect();
    Err(Failure::usage(format!(
        "no script `{spec}`: not a file, and not a procedure name (known: {})",
        names.join(", ")
    )))
}

/// Parses `--set key=value` arguments.
pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(Failure::usage(format!("bad --set `{s}`: expected KEY=VALUE")));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
            return Err(Failure::usage(format!(
                "bad --set `{s}`: the key must be letters, digits, `_`, `-` or `.`"
            )));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Compiles and lints a script; errors are rendered with positions.
pub fn compile(engine: &rhai::Engine, script: &Script, host: &Host) -> Result<rhai::AST, Failure> {
    let lookup = |name: &str| -> Option<String> {
        if name == script.source_name {
            Some(script.text.clone())
        } else {
            None
        }
    };
    let mut ast = engine
        .compile(&script.text)
        .map_err(|e| Failure::usage(engine::render::render_parse(&e, &script.source_name, &lookup)))?;
    ast.set_source(script.source_name.clone());
    let resolver = engine::resolver::StdlibResolver::new(host);
    let problems = std::cell::RefCell::new(Vec::new());
    let module_fns = |name: &str| -> Option<std::collections::BTreeSet<String>> {
        let (origin, src, ast) = resolver.compile(engine, name)?;
        match ast {
            Ok(m) => Some(m.iter_functions().map(|f| f.name.to_owned()).collect()),
            Err(e) => {
                let lk = |n: &str| if n == origin { Some(src.clone()) } else { None };
                problems.borrow_mut().push(engine::render::render_parse(&e, &origin, &lk));
                None
            }
        }
    };
    let errors = engine::lint::check_calls(engine, &ast, &module_fns);
    if let Some(p) = problems.into_inner().into_iter().next() {
        return Err(Failure::usage(p));
    }
    if let Some(e) = errors.first() {
        let more = if errors.len() > 1 {
            format!("\n({} more unknown function(s))", errors.len() - 1)
        } else {
            String::new()
        };
        return Err(Failure::usage(format!(
            "{}{more}",
            engine::render::snippet(&e.message, &script.source_name, e.position, &lookup)
        )));
    }
    Ok(ast)
}

// ---- target -----------------------------------------------------------------------

/// Reads `key` from a Java .properties text (first occurrence; no continuation handling needed for simple keys).
fn properties_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim_start();
        if l.starts_with('#') || l.starts_with('!') {
            return None;
        }
        let idx = l.find(['=', ':'])?;
        (l[..idx].trim() == key).then(|| l[idx + 1..].trim().to_owned())
    })
}

/// The targetCluster checkout's branch (= the cluster name).
fn git_branch(dir: &Path) -> Option<String> {
    let head = std::fs::read_to_string(dir.join(".git/HEAD")).ok()?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned)
}

/// Works out the target from flags and the tools dir.
pub fn resolve_target(args: &TargetArgs, tools: Option<PathBuf>) -> Result<Target, Failure> {
    let tools = match tools.or_else(|| args.tools.clone()) {
        Some(t) => {
            if !t.is_dir() {
                return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display())));
            }
            Some(std::fs::canonicalize(&t).unwrap_or(t))
        }
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            cwd.join("targetCluster").is_dir().then_some(cwd)
        }
    };
    let tc = tools.as_ref().map(|t| t.join("targetCluster"));
    let namespace = match &args.namespace {
        Some(n) => n.clone(),
        None => {
            let from_props = tc
                .as_ref()
                .and_then(|d| std::fs::read_to_string(d.join("cluster.properties")).ok())
                .and_then(|t| properties_value(&t, "vantiq.installation"));
            match from_props {
                Some(n) if !n.is_empty() => n,
                _ => std::env::var("VSCRIPT_NAMESPACE").unwrap_or_else(|_| "default".into()),
            }
        }
    };
    let kubeconfig = args
        .kubeconfig
        .clone()
        .or_else(|| tc.as_ref().map(|d| d.join("kubeconfig")).filter(|p| p.is_file()));
    let cluster = args.cluster.clone().or_else(|| tc.as_ref().and_then(|d| git_branch(d)));
    Ok(Target {
        tools_dir: tools,
        kubeconfig,
        context: args.context.clone(),
        namespace,
        cluster,
    })
}

/// The kube context a run will use (for the allow-list and the banner).
fn effective_context(t: &Target) -> Option<String> {
    if t.context.is_some() {
        return t.context.clone();
    }
    let kc = t.kubeconfig.as_ref()?;
    let text = std::fs::read_to_string(kc).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("current-context:").map(|v| v.trim().trim_matches('"').to_owned()))
}

// ---- run ------------------------------------------------------------------------------

/// Everything a run or a REPL session needs before a script is chosen: the runtime, the
/// target, the tools dir's settings, and (with `--rehearse`) the simulated cluster.
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
pub fn open_session(target: &TargetArgs, mut params: BTreeMap<String, String>) -> Result<Session, Failure> {
    let rt = runtime();
    let bg = background_runtime();
    let mut rehearsal = None;
    let mut tools_override = None;
    if target.rehearse {
        if let Some(t) = &target.tools
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
        opts.tools = target.tools.clone();
        if let Some(s) = target.speed {
            opts.speed = s;
        }
        eprintln!("vscript: rehearsal: starting a simulated cluster in {}", dir.display());
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
    let mut target_args = target.clone();
    if rehearsal.is_some() {
        target_args.kubeconfig = None;
        target_args.context = None;
    }
    let target = resolve_target(&target_args, tools_override)?;
    let config = match &target.tools_dir {
        Some(t) => Config::load(t).map_err(|e| Failure::usage(format!("invalid {e}")))?,
        None => Config::default(),
    };
    let context = effective_context(&target);
    if !config.allowed_contexts.is_empty() && rehearsal.is_none() {
        let ok = context.as_ref().is_some_and(|c| config.allowed_contexts.contains(c));
        if !ok {
            return Err(Failure {
                code: EXIT_REFUSED,
                message: format!(
                    "refusing to run: kube context `{}` is not in allowed_contexts of vscript.toml ({})",
                    context.as_deref().unwrap_or("(none)"),
                    config.allowed_contexts.join(", ")
                ),
            });
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
        let mut host = Host::new(self.rt.handle().clone());
        host.driver = Some(self.rt.clone());
        host.vantiq = vantiq_endpoint(&self.config, self.target.tools_dir.as_deref());
        host.settings = self.config.flatten();
        if let Some(url) = &host.vantiq.url {
            host.settings.insert("vantiq.url".into(), serde_json::Value::String(url.clone()));
        }
        if let Some(c) = &host.vantiq.connect {
            host.settings.insert("vantiq.connect".into(), serde_json::Value::String(c.clone()));
        }
        host.params = params;
        host.dry_run = dry_run;
        host.yes = yes;
        host.interactive = Host::stdin_is_tty();
        host.out = Output { json, ..Output::default() };
        host.target = self.target.clone();
        host
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
            eprintln!("vscript: rehearsal: the simulator recorded no invariant violation");
        } else {
            eprintln!("vscript: rehearsal: the simulator recorded {} invariant violation(s):", v.len());
            for x in &v {
                eprintln!("  {} [{}] {}", x.at, x.rule, x.message);
            }
        }
        Some(v)
    }

    /// Stops the simulator, keeping its files for inspection.
    pub fn close(self) {
        if let Some(sim) = self.rehearsal {
            let dir = sim.dir.clone();
            self.bg.block_on(sim.shutdown());
            eprintln!("vscript: rehearsal files kept in {}", dir.display());
        }
        // What is left there (the signal handler, an aborted lock renewal) has nothing to
        // finish: do not wait for the worker thread.
        self.bg.shutdown_background();
    }
}

/// Trips the host's cancel token on Ctrl-C or SIGTERM (the running step stops, the journal
/// says where, the lock is released); a second signal exits at once.
pub fn install_ctrl_c(rt: &tokio::runtime::Runtime, host: Arc<Host>) {
    rt.spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        for round in 0..2 {
            match term.as_mut() {
                Some(t) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = t.recv() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            if round == 0 {
                eprintln!("\nvscript: interrupted — stopping the running step (interrupt again to exit now)");
                host.interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                host.cancel().trip();
            }
        }
        std::process::exit(EXIT_ABORTED as i32);
    });
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    let mut params = parse_sets(&args.set)?;
    // --resume: the first attempt's parameters (explicit --set wins), remembered values, completed steps.
    let resumed = match &args.resume {
        Some(id) => {
            let tools = resolve_target(&args.target, None)?
                .tools_dir
                .ok_or_else(|| Failure::usage("--resume needs the tools dir the run was made in (--tools DIR)"))?;
            let r = crate::journal::read_run(&tools, id)
                .ok_or_else(|| Failure::usage(format!("no run `{id}` in {} (see `vscript runs`)", tools.display())))?;
            for (k, v) in &r.params {
                params.entry(k.clone()).or_insert_with(|| v.as_str().unwrap_or("").to_owned());
            }
            Some(r)
        }
        None => None,
    };
    let session = open_session(&args.target, params)?;
    let rt = &session.rt;
    let _guard = rt.enter();
    let script = resolve_script(&args.script, session.target.tools_dir.as_deref())?;
    if let Some(r) = &resumed {
        if r.script != script.name {
            return Err(Failure::usage(format!("run `{}` was `{}`, not `{}`", r.id, r.script, script.name)));
        }
        if r.exit_code == Some(0) {
            return Err(Failure::usage(format!("run `{}` finished successfully: nothing to resume", r.id)));
        }
    }
    let host = session.host(Some(&script.name), args.dry_run, args.yes, args.output == OutputFormat::Json);
    if let Some(r) = &resumed {
        *host.remembered.lock().unwrap() = r.remembered.clone().into_iter().collect();
        *host.completed_steps.lock().unwrap() = r.steps_done.iter().cloned().collect();
        host.prior_changes.store(r.changes(), std::sync::atomic::Ordering::SeqCst);
    }
    let host = Arc::new(host);
    let mut engine = engine::build(host.clone());
    if host.out.json {
        // stdout carries only the JSON report.
        let h = host.clone();
        engine.on_print(move |s| eprintln!("{}", h.secrets.redact(s)));
    }
    let ast = compile(&engine, &script, &host)?;
    // Every required parameter must be there before anything runs.
    let missing: Vec<String> = engine::lint::params(&ast)
        .into_iter()
        .filter(|p| p.required && !host.params.contains_key(&p.name))
        .map(|p| format!("--set {}=…", p.name))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::usage(format!("{} needs parameter(s): {}", script.name, missing.join(" "))));
    }

    // Say what we act on before anything changes.
    eprintln!("{}", session.banner(&format!("{} ({})", script.name, script.origin), host.dry_run));
    install_ctrl_c(&session.bg, host.clone());
    let journal = match (&host.target.tools_dir, host.dry_run) {
        (Some(t), false) => match crate::journal::Journal::create(t, &script.name) {
            Ok(j) => Some(Arc::new(j)),
            Err(e) => return Err(Failure::failed(format!("cannot write the run journal in {}: {e}", t.display()))),
        },
        _ => None,
    };
    // The maintenance lock, for runs that act on the cluster.
    let lock = if needs_lock(&script, host.dry_run) {
        let id = journal.as_ref().map(|j| j.id.clone()).unwrap_or_else(|| "-".into());
        Some(take_lock(
            &host,
            &session,
            &crate::lock::identity(&id),
            args.force_unlock,
            resumed.as_ref().map(|r| r.id.as_str()),
        )?)
    } else {
        None
    };
    if let Some(r) = &resumed {
        eprintln!(
            "vscript: resuming run {}: {} completed step(s) will be skipped",
            r.id,
            r.steps_done.len()
        );
    }
    if let Some(j) = &journal {
        let _ = host.run_id.set(j.id.clone());
        eprintln!("vscript: run {} (journal {})", j.id, host.show_path(&j.path));
        let params: serde_json::Map<String, serde_json::Value> = host
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(host.secrets.redact(v))))
            .collect();
        j.event(
            "start",
            serde_json::json!({ "script": script.name, "origin": script.origin, "params": params, "target": host.target,
                                "context": session.context, "resumed_from": resumed.as_ref().map(|r| r.id.clone()),
                                "prior_changes": resumed.as_ref().map(|r| r.changes()).unwrap_or(0) }),
        );
        // A resumed run's journal carries what the first attempt remembered, so that a
        // later rollback (`last_run`) finds it in the newest run.
        if let Some(r) = &resumed {
            for (k, v) in &r.remembered {
                j.event("remember", serde_json::json!({ "key": k, "value": v, "from": r.id }));
            }
            // And its completed steps, so that this run can be resumed in turn.
            for t in &r.steps_done {
                j.event("step-end", serde_json::json!({ "title": t, "ok": true, "ms": 0, "from": r.id }));
            }
        }
    }
    let steps = crate::report::StepLog::default();
    let (jj, log) = (journal.clone(), steps.clone());
    let _ = host.journal.set(Box::new(move |kind, data| {
        log.event(kind, &data);
        if let Some(j) = &jj {
            j.event(kind, data);
        }
    }));

    let started = chrono::Utc::now();
    let mut scope = rhai::Scope::new();
    let result = engine.run_ast_with_scope(&mut scope, &ast);
    let finished = chrono::Utc::now();
    let (mut code, error) = match &result {
        Ok(()) => (EXIT_OK, None),
        Err(e) => {
            let lookup = |name: &str| -> Option<String> {
                if name == script.source_name {
                    return Some(script.text.clone());
                }
                let n = name.rsplit('/').next().unwrap_or(name).trim_end_matches(".rhai");
                engine::resolver::StdlibResolver::new(&host).locate(n).map(|(_, s)| s)
            };
            let rendered = host.secrets.redact(&engine::render::render_eval(e, &script.source_name, &lookup));
            (exit_code_of(e, &host), Some(rendered))
        }
    };
    if let Some(msg) = &error {
        eprintln!("{msg}");
        // A failure outside any step: run the handler here (imports are not in scope then).
        let handler = host.on_failure.lock().unwrap().take();
        if let Some(fp) = handler {
            host.cancel.lock().unwrap().reset();
            if let Err(e) = fp.call::<rhai::Dynamic>(&engine, &ast, ()) {
                eprintln!(
                    "vscript: the failure handler itself failed: {}",
                    host.secrets.redact(&engine::error_text(&e))
                );
            }
        }
    }

    let violations = session.invariant_report();
    if violations.as_ref().is_some_and(|v| !v.is_empty()) && code == EXIT_OK {
        code = EXIT_FAILED;
    }

    if let Some((lease_uid, renewer)) = lock {
        renewer.abort();
        let ns = host.target.namespace.clone();
        if let Ok(c) = host.k8s_client() {
            let _ = rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(10), crate::lock::release(&c, &ns, &lease_uid)).await
            });
        }
    }
    if let Some(j) = &journal {
        j.event("end", serde_json::json!({ "exit_code": code, "error": error }));
    }
    if host.out.json || args.report.is_some() {
        let remembered = host.remembered.lock().unwrap().clone();
        let report = serde_json::json!({
            "schema": crate::report::RUN_SCHEMA,
            "context": session.context,
            "rehearsal": session.rehearsal.is_some(),
            "duration_ms": u64::try_from((finished - started).num_milliseconds()).unwrap_or(0),
            "result": crate::report::result_of(code),
            "steps": steps.list(),
            "findings": remembered.get("findings"),
            "script": script.name,
            "origin": script.origin,
            "target": host.target,
            "dry_run": host.dry_run,
            "started": started.to_rfc3339(),
            "finished": finished.to_rfc3339(),
            "exit_code": code,
            "error": error,
            "run_id": journal.as_ref().map(|j| j.id.clone()),
            "effects": *host.effects.lock().unwrap(),
            "remembered": remembered,
            "violations": violations.as_ref().map(|v| serde_json::to_value(v).unwrap_or_default()),
        });
        let report = host.redact_value(report);
        if let Some(path) = &args.report
            && let Err(e) = std::fs::write(path, crate::report::markdown(&report, args.lang))
        {
            eprintln!("vscript: cannot write the report {}: {e}", path.display());
            code = code.max(EXIT_FAILED);
        }
        if host.out.json {
            println!(
                "{}",
                host.secrets.redact(&serde_json::to_string_pretty(&report).unwrap_or_default())
            );
        }
    }
    drop(_guard);
    session.close();
    // The process ends here: freeing the engine's function tables and the AST one by one
    // would only cost time (about a millisecond).
    std::mem::forget(engine);
    std::mem::forget(ast);
    Ok(code)
}

/// Whether a run takes the maintenance lock: it acts on the cluster, is not a dry run, and
/// its header does not declare it read-only (`//! read-only`).
fn needs_lock(script: &Script, dry_run: bool) -> bool {
    let read_only = script
        .text
        .lines()
        // The header: the comment lines at the top, a customised copy's origin line included.
        .take_while(|l| l.starts_with("//") || l.trim().is_empty())
        .any(|l| l.trim() == "//! read-only");
    !dry_run
        && !read_only
        && (script.text.contains("k8s::") || script.text.contains("gradle::") || script.text.contains("import \"vantiq\""))
}

/// Takes the Lease and starts renewing it; returns the lease's uid (for the release) and the renewer task.
fn take_lock(
    host: &Arc<Host>,
    session: &Session,
    holder: &str,
    force: bool,
    resumed: Option<&str>,
) -> Result<(String, tokio::task::JoinHandle<()>), Failure> {
    let c = host
        .k8s_client()
        .map_err(|e| Failure::failed(format!("cannot take the maintenance lock: {e}")))?;
    let ns = host.target.namespace.clone();
    if force {
        let ok = host.yes
            || (host.interactive && {
                use std::io::Write;
                eprint!("  ? Remove the maintenance lock of namespace `{ns}` held by another run? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                matches!(line.trim(), "y" | "yes" | "Y")
            });
        if !ok {
            return Err(Failure {
                code: EXIT_REFUSED,
                message: "--force-unlock needs confirmation: answer yes, or add --yes".into(),
            });
        }
    }
    let lease_uid = match session.rt.block_on(crate::lock::acquire(&c, &ns, holder, force, resumed)) {
        Ok(uid) => uid,
        Err(e @ crate::lock::LockError::Held { .. }) => {
            return Err(Failure {
                code: EXIT_REFUSED,
                message: format!("refusing to run: {e}"),
            });
        }
        Err(e) => {
            return Err(Failure::failed(format!(
                "cannot take the maintenance lock on {} (context `{}`): {e}",
                c.server, c.context
            )));
        }
    };
    eprintln!("vscript: holding the maintenance lock (Lease {}/{})", ns, crate::lock::LEASE);
    // VSCRIPT_LOCK_RENEW_SECS shortens the renewal interval (tests).
    let renew_every = std::env::var("VSCRIPT_LOCK_RENEW_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(crate::lock::RENEW_EVERY);
    // The renewal runs in the background runtime, so it goes on while the script thread
    // waits for an answer or computes; it has its own client (one bound to the script's
    // runtime only makes progress while the script waits), made at the first renewal.
    let (target, ns2, h2) = (host.target.clone(), ns.clone(), holder.to_owned());
    let renewer = session.bg.spawn(async move {
        let mut client = None;
        loop {
            tokio::time::sleep(renew_every).await;
            if client.is_none() {
                client = crate::k8s::client::K8sClient::connect(&target).await.ok();
            }
            if let Some(c) = &client {
                let _ = crate::lock::renew(c, &ns2, &h2).await;
            }
        }
    });
    Ok((lease_uid, renewer))
}

/// The exit code a script error stands for.
fn exit_code_of(e: &rhai::EvalAltResult, host: &Host) -> u8 {
    use rhai::EvalAltResult as E;
    match e {
        E::ErrorRuntime(v, _) => match v.clone().try_cast::<engine::globals::Abort>() {
            Some(a) => a.code,
            None if host.cancel().is_tripped() || host.interrupted.load(std::sync::atomic::Ordering::SeqCst) => EXIT_ABORTED,
            None => EXIT_FAILED,
        },
        E::ErrorTerminated(..) => EXIT_ABORTED,
        E::ErrorInFunctionCall(_, _, inner, _) | E::ErrorInModule(_, inner, _) => exit_code_of(inner, host),
        _ if host.cancel().is_tripped() || host.interrupted.load(std::sync::atomic::Ordering::SeqCst) => EXIT_ABORTED,
        _ => EXIT_FAILED,
    }
}

/// The Vantiq endpoint: `vscript.toml`, overridden by the simulator's `.vscript/sim.json`.
fn vantiq_endpoint(config: &Config, tools: Option<&Path>) -> VantiqEndpoint {
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

// ---- check / list / doc -------------------------------------------------------------

fn check(paths: &[PathBuf]) -> Result<u8, Failure> {
    let rt = runtime();
    let host = Arc::new(Host::new(rt.handle().clone()));
    let engine = engine::build(host.clone());
    let mut scripts = Vec::new();
    if paths.is_empty() {
        for (n, s) in crate::shipped::SCRIPTS {
            scripts.push(Script {
                name: (*n).to_owned(),
                source_name: format!("scripts/{n}.rhai"),
                text: (*s).to_owned(),
                origin: "shipped".into(),
            });
        }
    }
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                .collect();
            files.sort();
            for f in files {
                scripts.push(resolve_script(&f.display().to_string(), None)?);
            }
        } else {
            scripts.push(resolve_script(&p.display().to_string(), None)?);
        }
    }
    let mut bad = 0;
    for s in &scripts {
        match compile(&engine, s, &host) {
            Ok(ast) => {
                let ps: Vec<String> = engine::lint::params(&ast)
                    .iter()
                    .map(|p| if p.required { p.name.clone() } else { format!("{}?", p.name) })
                    .collect();
                let ps = if ps.is_empty() {
                    String::new()
                } else {
                    format!("  (params: {})", ps.join(", "))
                };
                println!("ok    {}{ps}", s.source_name)
            }
            Err(f) => {
                bad += 1;
                println!("FAIL  {}", s.source_name);
                eprintln!("{}", f.message);
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {} script(s) have errors", scripts.len());
        Ok(EXIT_FAILED)
    } else {
        Ok(EXIT_OK)
    }
}

/// The first `//!` line of a script.
pub fn describe(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("//!").map(|s| s.trim().to_owned()))
        .unwrap_or_default()
}

fn list(target: &TargetArgs) -> Result<u8, Failure> {
    let t = resolve_target(target, None)?;
    // name -> (origin, description, note)
    let mut rows: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (n, s) in crate::shipped::SCRIPTS {
        rows.insert((*n).to_owned(), ("shipped".into(), describe(s), String::new()));
    }
    if let Ok(rd) = std::fs::read_dir("scripts") {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai") {
                let n = p.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // In the project checkout ./scripts are the shipped scripts themselves.
                if crate::shipped::script(&n) != Some(text.as_str()) {
                    rows.insert(n, ("./scripts".into(), describe(&text), String::new()));
                }
            }
        }
    }
    let mut stdlib_rows = Vec::new();
    if let Some(tools) = &t.tools_dir {
        for c in crate::customize::customised(tools) {
            let origin = format!("tools dir ({})", c.path.strip_prefix(tools).unwrap_or(&c.path).display());
            let note = if c.stale() {
                format!("upstream changed since customised: vscript diff {}", c.name)
            } else {
                String::new()
            };
            match c.kind {
                crate::customize::Kind::Script => {
                    rows.insert(c.name.clone(), (origin, describe(&c.body), note));
                }
                crate::customize::Kind::Stdlib => stdlib_rows.push((c.name.clone(), origin, note)),
            }
        }
    }
    let w = rows.keys().map(String::len).max().unwrap_or(0);
    let wo = rows.values().map(|(o, ..)| o.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (n, (origin, d, note)) in &rows {
        text.push_str(&format!("{n:w$}  {origin:wo$}  {d}\n"));
        if !note.is_empty() {
            text.push_str(&format!("{:w$}  ! {note}\n", ""));
        }
    }
    text.push_str("\nstdlib modules:\n");
    for (n, _) in crate::shipped::STDLIB {
        match stdlib_rows.iter().find(|(m, ..)| m == n) {
            Some((_, origin, note)) => text.push_str(&format!(
                "  {n}  {origin}{}\n",
                if note.is_empty() { String::new() } else { format!("  ! {note}") }
            )),
            None => text.push_str(&format!("  {n}  shipped\n")),
        }
    }
    for (n, origin, _) in stdlib_rows.iter().filter(|(n, ..)| crate::shipped::stdlib(n).is_none()) {
        text.push_str(&format!("  {n}  {origin}\n"));
    }
    out(&text);
    Ok(EXIT_OK)
}

fn require_tools(target: &TargetArgs) -> Result<PathBuf, Failure> {
    resolve_target(target, None)?
        .tools_dir
        .ok_or_else(|| Failure::usage("no tools dir: pass --tools DIR (the customer's k8sdeploy_tools checkout) or run it from there"))
}

fn customize(name: &str, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    let path = crate::customize::customize(&tools, name).map_err(|e| Failure::usage(e.to_string()))?;
    match crate::customize::kind_of(name) {
        Some(crate::customize::Kind::Stdlib) => eprintln!(
            "copied to {}: edit it there; every procedure run with this tools dir now imports it instead of the shipped `{name}`",
            path.display()
        ),
        _ => eprintln!(
            "copied to {}: edit it there; `vscript run {name}` now uses it for this tools dir",
            path.display()
        ),
    }
    eprintln!("`vscript diff {name}` shows your changes and any upstream change to take over later");
    Ok(EXIT_OK)
}

fn diff(name: Option<&str>, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    let all = crate::customize::customised(&tools);
    let chosen: Vec<_> = all.iter().filter(|c| name.is_none_or(|n| c.name == n)).collect();
    if chosen.is_empty() {
        return match name {
            Some(n) => Err(Failure::usage(format!(
                "`{n}` is not customised in {} (see `vscript customize {n}`)",
                tools.display()
            ))),
            None => {
                out("no customised procedures or stdlib modules in this tools dir\n");
                Ok(EXIT_OK)
            }
        };
    }
    let mut text = String::new();
    for c in chosen {
        text.push_str(&crate::customize::describe(&tools, c));
    }
    out(&text);
    Ok(EXIT_OK)
}

fn runs(id: Option<&str>, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    match id {
        None => {
            let mut text = String::new();
            for r in crate::journal::list_runs(&tools) {
                let result = match r.exit_code {
                    Some(0) => "ok".to_owned(),
                    Some(c) => format!(
                        "failed ({c}){}",
                        r.failed_step.as_ref().map(|s| format!(" at \"{s}\"")).unwrap_or_default()
                    ),
                    None => "interrupted".to_owned(),
                };
                text.push_str(&format!(
                    "{}  {}  {}  {} step(s) done\n",
                    r.id,
                    r.started,
                    result,
                    r.steps_done.len()
                ));
            }
            if text.is_empty() {
                text = "no runs recorded in this tools dir\n".into();
            }
            out(&text);
        }
        Some(id) => {
            let r = crate::journal::read_run(&tools, id).ok_or_else(|| Failure::usage(format!("no run `{id}` in {}", tools.display())))?;
            let mut text = String::new();
            for ev in &r.events {
                text.push_str(&format!(
                    "{}  {:10}  {}\n",
                    ev["ts"].as_str().unwrap_or(""),
                    ev["event"].as_str().unwrap_or(""),
                    ev["data"]
                ));
            }
            out(&text);
        }
    }
    Ok(EXIT_OK)
}

/// Every registered function: `(module, name, signature, description, doc)`.
pub fn functions() -> Vec<(String, String, String, String, String)> {
    let mut engine = rhai::Engine::new_raw();
    engine::register_modules(&mut engine);
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out = Vec::new();
    let mut add = |module: &str, f: &serde_json::Value| {
        let name = f["name"].as_str().unwrap_or("").to_owned();
        let sig = clean_signature(f["signature"].as_str().unwrap_or(""));
        let sig = if module.is_empty() { sig } else { format!("{module}::{sig}") };
        let doc: Vec<String> = f["docComments"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let text: Vec<String> = doc
            .iter()
            .flat_map(|d| {
                d.lines()
                    .map(|l| {
                        l.trim_start_matches("///")
                            .trim_start_matches("/**")
                            .trim_end_matches("*/")
                            .trim()
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let desc = text.iter().find(|l| !l.is_empty()).cloned().unwrap_or_default();
        out.push((module.to_owned(), name, sig, desc, text.join("\n")));
    };
    if let Some(fs) = v["functions"].as_array() {
        for f in fs {
            add("", f);
        }
    }
    if let Some(ms) = v["modules"].as_object() {
        for (m, mv) in ms {
            if let Some(fs) = mv["functions"].as_array() {
                for f in fs {
                    add(m, f);
                }
            }
        }
    }
    out.retain(|(_, n, ..)| !n.starts_with("get$") && !n.starts_with("set$") && !n.starts_with("anon"));
    out.sort();
    out
}

/// `Result<T, Box<EvalAltResult>>` → `T`; `-> ()` dropped: what a script author sees.
fn clean_signature(sig: &str) -> String {
    let re = regex::Regex::new(r"Result<(.*), Box<EvalAltResult>>").expect("regex");
    let s = re.replace(sig, "$1").into_owned();
    s.strip_suffix(" -> ()").map(str::to_owned).unwrap_or(s)
}

/// Prints to stdout, ignoring a closed pipe (`vscript doc | head`).
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The Rhai definition files of every registered module and the standard library:
/// `(file name, text)`, deterministic (`.rhai/definitions/` is compared with them in a test).
pub fn definitions() -> Vec<(String, String)> {
    let mut engine = rhai::Engine::new();
    engine.set_max_expr_depths(128, 64);
    engine::register_modules(&mut engine);
    // The shipped stdlib (`import "vantiq" as vantiq`): function definitions only, safe to evaluate.
    for (name, src) in crate::shipped::STDLIB {
        let module = engine
            .compile(src)
            .ok()
            .and_then(|ast| rhai::Module::eval_ast_as_new(rhai::Scope::new(), &ast, &engine).ok());
        if let Some(m) = module {
            engine.register_static_module(*name, m.into());
        }
    }
    // Script functions have no declared return type; Rhai writes `-> ;`, which editors reject.
    engine
        .definitions()
        .iter_files()
        .map(|(name, text)| (name, tidy_definitions(&text.replace(") -> ;", ") -> ?;"))))
        .collect()
}

/// Drops the closures of script modules (`fn anon$<hash>`): not callable, and their names change between builds.
fn tidy_definitions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skip_blank = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("fn anon$") {
            skip_blank = true;
            continue;
        }
        if skip_blank && line.trim().is_empty() {
            skip_blank = false;
            continue;
        }
        skip_blank = false;
        out.push_str(line);
    }
    out
}

/// `vscript doc --definitions DIR`: one `.d.rhai` file per module, for editors.
fn write_definitions(dir: &Path) -> Result<u8, Failure> {
    let files = definitions();
    std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).map_err(|e| Failure::failed(format!("cannot write {}: {e}", dir.join(name).display())))?;
    }
    eprintln!("vscript: wrote {} definition file(s) to {}", files.len(), dir.display());
    Ok(EXIT_OK)
}

fn doc(name: Option<&str>) -> Result<u8, Failure> {
    let fs = functions();
    match name {
        None => {
            let mut module = None;
            let mut text = String::new();
            for (m, _, sig, desc, _) in &fs {
                if module.as_ref() != Some(m) {
                    text.push_str(&format!("\n## {}\n", if m.is_empty() { "global" } else { m }));
                    module = Some(m.clone());
                }
                text.push_str(&format!("{sig}\n    {desc}\n"));
            }
            out(&text);
            Ok(EXIT_OK)
        }
        Some(q) => {
            let (qm, qn) = q.rsplit_once("::").map(|(m, n)| (Some(m), n)).unwrap_or((None, q));
            let hits: Vec<_> = fs
                .iter()
                .filter(|(m, n, ..)| (n == qn && qm.is_none_or(|qm| qm == m)) || (qm.is_none() && m == q))
                .collect();
            if hits.is_empty() {
                return Err(Failure::usage(format!("no function or module `{q}` (see `vscript doc`)")));
            }
            for (_, _, sig, _, text) in hits {
                out(&format!(
                    "{sig}\n{}\n\n",
                    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                ));
            }
            Ok(EXIT_OK)
        }
    }
}

// ---- sim ------------------------------------------------------------------------------

fn sim(cmd: SimCmd) -> Result<u8, Failure> {
    match cmd {
        SimCmd::Start { dir, port, speed, tools } => {
            let exe = std::env::current_exe().map_err(|e| Failure::failed(e.to_string()))?;
            if let Some(t) = &tools
                && !t.is_dir()
            {
                return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display())));
            }
            let mut opts = vscript_sim::SimOptions::new(dir, vec![exe.display().to_string(), "sim".into(), "gradle".into()]);
            opts.port = port;
            opts.tools = tools;
            if let Some(s) = speed {
                if !(s > 0.0) {
                    return Err(Failure::usage("--speed must be greater than 0"));
                }
                opts.speed = s;
            }
            Ok(u8::try_from(vscript_sim::run_foreground(opts)).unwrap_or(EXIT_FAILED))
        }
        SimCmd::Check { dir } => {
            let v = vscript_sim::check(&dir).map_err(|e| Failure::failed(format!("{e:#}")))?;
            if v.is_empty() {
                println!("no invariant violations");
                Ok(EXIT_OK)
            } else {
                for x in &v {
                    println!("{} [{}] {}", x.at, x.rule, x.message);
                }
                println!("{} violation(s)", v.len());
                Ok(EXIT_FAILED)
            }
        }
        SimCmd::Gradle { args } => Ok(u8::try_from(vscript_sim::gradle_main(args)).unwrap_or(EXIT_FAILED)),
    }
}
