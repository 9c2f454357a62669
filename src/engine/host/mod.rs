//! The host: everything a running script can reach, in typed parts —
//! the [`Target`] (immutable), the run's [`Options`], the [`Output`] with its redactor,
//! the [`RunState`] (cancel, journal, steps, lease), and the lazily built [`Clients`].
//! Capabilities read these through accessors; only the run layer assembles a host.

mod clients;
mod output;
pub mod progress;
mod sandbox;
mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::NativeCallContext;
use serde::Serialize;
use serde_json::Value;

use super::error::{RhaiResultOf, fail};
pub use crate::target::Target;
pub use clients::Clients;
pub use output::{Output, Redactor};
pub use sandbox::{Sandbox, resolved as sandbox_resolved};
pub use state::{Cancel, Effect, Lease, Outcome, Record, Resumed, RunHistory, RunState, SafeState};

/// How the Vantiq server is reached over HTTPS (from `vscript.toml`, or the simulator).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VantiqEndpoint {
    pub url: Option<String>,
    /// `host:port` → this socket address (like curl's `--resolve`), for loopback rehearsals.
    pub connect: Option<String>,
    /// Extra CA certificate to trust (PEM file).
    pub ca: Option<PathBuf>,
    /// File holding the access token; the token itself never reaches a script.
    pub token_file: Option<PathBuf>,
    /// The login credentials and checks (`[vantiq]` in vscript.toml, see `crate::http::vantiq`).
    pub token_env: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub check_resource: Option<String>,
    pub allow_insecure_http_credentials: bool,
    pub about: Option<crate::config::AboutConfig>,
}

/// The options of a run, fixed before it starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes.
    pub yes: bool,
    /// Whether confirmations can be asked (a TTY on stdin).
    pub interactive: bool,
    pub params: BTreeMap<String, String>,
    /// Where the operator ran vscript (parameter file paths resolve here).
    pub cwd: PathBuf,
    pub stdlib_dir: Option<PathBuf>,
    /// Settings from `vscript.toml` (flattened dotted keys).
    pub settings: BTreeMap<String, Value>,
    pub vantiq: VantiqEndpoint,
    /// The incident console (`vscript repl`): Ctrl-C on a log follow is a normal stop.
    pub console: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            yes: false,
            interactive: false,
            params: BTreeMap::new(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            stdlib_dir: None,
            settings: BTreeMap::new(),
            vantiq: VantiqEndpoint::default(),
            console: false,
        }
    }
}

/// The runtime calls wait on.
struct Runtime {
    handle: tokio::runtime::Handle,
    /// The runtime [`Host::block`] drives, when the host has one of its own (a session's
    /// single-threaded runtime, which a `Handle` cannot drive); else `handle` is a
    /// multi-threaded runtime's handle.
    driver: Option<Arc<tokio::runtime::Runtime>>,
}

/// Stdlib modules compiled in this run, by origin: the lint before the run and the
/// `import` during it share one parse.
pub type ModuleCache = Arc<Mutex<BTreeMap<String, (String, rhai::AST)>>>;

/// Everything a script run shares. Reached from native functions through the engine's tag.
pub struct Host {
    target: Target,
    opts: Options,
    out: Output,
    state: RunState,
    clients: Clients,
    rt: Runtime,
    modules: ModuleCache,
    sandbox: Sandbox,
}

/// The sandbox of a target with its options (`[files]` of vscript.toml).
fn sandbox_for(target: &Target, opts: &Options) -> Sandbox {
    let list = |k: &str| -> Vec<PathBuf> {
        opts.settings
            .get(k)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(PathBuf::from)).collect())
            .unwrap_or_default()
    };
    Sandbox::new(
        target.tools_dir.as_deref(),
        &opts.cwd,
        &list("files.allow_read"),
        &list("files.allow_write"),
    )
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("target", &self.target)
            .field("dry_run", &self.opts.dry_run)
            .finish_non_exhaustive()
    }
}

/// The host of the engine that is calling a native function.
pub fn host(ctx: &NativeCallContext) -> RhaiResultOf<Arc<Host>> {
    ctx.tag()
        .and_then(|t| t.clone().try_cast::<Arc<Host>>())
        .ok_or_else(|| fail(ctx, "internal error: no host attached to the engine"))
}

/// Errors of bridged async calls.
#[derive(Debug, thiserror::Error)]
pub enum BlockError<E> {
    #[error("cancelled by the operator while {0}")]
    Cancelled(String),
    #[error("timed out after {} while {what}", humantime(*.after))]
    Timeout { what: String, after: Duration },
    #[error(transparent)]
    Inner(E),
}

/// `90s`, `10m`, `1h30m`.
pub fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..=119 => format!("{s}s"),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{}m{}s", s / 60, s % 60),
    }
}

impl Host {
    /// A host with defaults on a multi-threaded runtime's handle, for tests and `check`.
    pub fn new(rt: tokio::runtime::Handle) -> Self {
        Host::assemble(Target::default(), Options::default(), Output::default(), rt, None)
    }

    /// A host from its parts; `driver` is the single-threaded runtime [`Host::block`] drives.
    pub fn assemble(
        target: Target,
        opts: Options,
        out: Output,
        handle: tokio::runtime::Handle,
        driver: Option<Arc<tokio::runtime::Runtime>>,
    ) -> Self {
        let sandbox = sandbox_for(&target, &opts);
        Host {
            target,
            opts,
            out,
            state: RunState::default(),
            clients: Clients::default(),
            rt: Runtime { handle, driver },
            modules: ModuleCache::default(),
            sandbox,
        }
    }

    /// Where this run's scripts may read and write.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Recomputes the sandbox after the target or the options changed (tests, set-up).
    pub fn reset_sandbox(&mut self) {
        self.sandbox = sandbox_for(&self.target, &self.opts);
    }

    /// The same run on another target (the REPL's `:ns`/`:context`): the output and its
    /// redactor, the run state, and — on the same cluster — the clients move over.
    pub fn retarget(self, target: Target) -> Host {
        let same_cluster = target.context == self.target.context && target.kubeconfig == self.target.kubeconfig;
        let clients = if same_cluster { self.clients.take() } else { Clients::default() };
        let sandbox = sandbox_for(&target, &self.opts);
        Host {
            target,
            clients,
            sandbox,
            ..self
        }
    }

    /// Options can change only before the host is shared (tests, session set-up).
    pub fn opts_mut(&mut self) -> &mut Options {
        &mut self.opts
    }
    pub fn target_mut(&mut self) -> &mut Target {
        &mut self.target
    }
    pub fn out_mut(&mut self) -> &mut Output {
        &mut self.out
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
    pub fn opts(&self) -> &Options {
        &self.opts
    }
    pub fn dry_run(&self) -> bool {
        self.opts.dry_run
    }
    pub fn vantiq(&self) -> &VantiqEndpoint {
        &self.opts.vantiq
    }
    pub fn setting(&self, key: &str) -> Option<&Value> {
        self.opts.settings.get(key)
    }
    pub fn out(&self) -> &Output {
        &self.out
    }
    pub fn secrets(&self) -> &Redactor {
        &self.out.secrets
    }
    pub fn state(&self) -> &RunState {
        &self.state
    }
    pub fn clients(&self) -> &Clients {
        &self.clients
    }
    pub fn modules(&self) -> &ModuleCache {
        &self.modules
    }
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.rt.handle
    }

    pub fn cancel(&self) -> Cancel {
        self.state.cancel()
    }

    /// Resolves a path used in a script: absolute as is, relative to the tools dir
    /// (or the working directory when there is none).
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_owned();
        }
        match &self.target.tools_dir {
            Some(t) => t.join(p),
            None => self.opts.cwd.join(p),
        }
    }

    /// Shows a path the way the operator thinks of it: relative to the tools dir when inside.
    pub fn show_path(&self, p: &Path) -> String {
        if let Some(t) = &self.target.tools_dir
            && let Ok(rel) = p.strip_prefix(t)
        {
            return rel.display().to_string();
        }
        p.display().to_string()
    }

    /// Runs a future on the host's runtime from the (synchronous) script thread, bounded
    /// by a timeout and the run's cancel token.
    pub fn block<T, E>(&self, what: &str, limit: Duration, fut: impl Future<Output = Result<T, E>>) -> Result<T, BlockError<E>> {
        let cancel = self.cancel().token();
        let started = std::time::Instant::now();
        let fut = async {
            tokio::select! {
                biased;
                () = cancel.cancelled() => Err(BlockError::Cancelled(what.to_owned())),
                res = tokio::time::timeout(limit, fut) => match res {
                    Ok(r) => r.map_err(BlockError::Inner),
                    Err(_) => Err(BlockError::Timeout { what: what.to_owned(), after: limit }),
                },
            }
        };
        // The wait is shown (after a grace) while it goes on: see `progress`.
        let progress = &self.out.progress;
        let id = progress.begin(what, limit);
        let fut = async {
            if id == 0 {
                return fut.await;
            }
            let ticking = async {
                tokio::time::sleep(progress::GRACE).await;
                loop {
                    progress.tick(&|s| self.out.secrets.redact(s));
                    tokio::time::sleep(progress.tick_interval()).await;
                }
            };
            tokio::select! {
                biased;
                r = fut => r,
                () = ticking => unreachable!("the progress ticker never ends"),
            }
        };
        let r = match &self.rt.driver {
            Some(rt) => rt.block_on(fut),
            None => self.rt.handle.block_on(fut),
        };
        progress.end(id);
        self.state.budget.waited(started.elapsed());
        r
    }

    /// Prints a progress line on stderr (secrets redacted).
    pub fn say(&self, prefix: &str, color: &str, msg: &str) {
        self.out.say(prefix, color, msg);
    }

    pub fn info(&self, msg: &str) {
        self.say("  ·", "2", msg);
    }

    pub fn warn(&self, msg: &str) {
        self.say("  !", "33", msg);
    }

    /// Warns that a trust boundary is open (TLS verification off, credentials over plain
    /// http): once per run on the terminal, in the journal and in the report.
    pub fn warn_trust(&self, msg: &str) {
        if self.state().trust_warning(msg) {
            self.warn(msg);
            self.journal_event("trust-warning", serde_json::json!({ "message": msg }));
        }
    }

    /// The latest relevant event of the running wait (a pod phase, a job's log line),
    /// shown on its progress line.
    pub fn progress_event(&self, text: &str) {
        self.out.progress.event(text);
    }

    /// Redacts secrets inside a JSON value's strings.
    pub fn redact_value(&self, v: Value) -> Value {
        self.out.secrets.redact_value(v)
    }

    /// Sends one event to the journal, if one is attached.
    pub fn journal_event(&self, kind: &str, data: Value) {
        self.state.journal(kind, data);
    }

    /// Whether the process may ask the operator (a TTY on stdin).
    pub fn stdin_is_tty() -> bool {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    }
}
