//! The host: everything a running script can reach — the target cluster, the tools dir,
//! parameters, the run's options (dry run, yes), the cancel token, the tokio runtime
//! that async clients run on, the output, and the record of side effects.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rhai::NativeCallContext;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::error::{RhaiResultOf, fail};

/// Which cluster, namespace and tools dir a run acts on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Target {
    /// The `k8sdeploy_tools` checkout (`./gradlew` lives here); relative script paths resolve here.
    pub tools_dir: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// The Vantiq namespace (`vantiq.installation`).
    pub namespace: String,
    /// The `-Pcluster` value (targetCluster's branch).
    pub cluster: Option<String>,
}

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

/// One side effect, as the journal, the report and `--output json` record it.
#[derive(Debug, Clone, Serialize)]
pub struct Effect {
    /// `k8s.scale`, `file.write`, `gradle.run`, ...
    pub action: String,
    /// What it acted on: `StatefulSet acme/vantiq`, `targetCluster/deploy.yaml`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// `done`, `dry-run`, or `failed: …`.
    pub result: String,
}

/// A cancel signal shared by the script loop, waits and child processes.
#[derive(Debug, Clone, Default)]
pub struct Cancel(CancellationToken);

impl Cancel {
    pub fn trip(&self) {
        self.0.cancel();
    }
    pub fn is_tripped(&self) -> bool {
        self.0.is_cancelled()
    }
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
    /// A fresh token for the next evaluation (the REPL cancels one command at a time).
    pub fn reset(&mut self) {
        self.0 = CancellationToken::new();
    }
}

/// Replaces secret values (keys, tokens, license contents) with `***` in anything printed.
#[derive(Debug, Default)]
pub struct Redactor(Mutex<Vec<String>>);

impl Redactor {
    /// Registers a secret; short values (< 8 chars) are not registered, to avoid mangling output.
    pub fn add(&self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 8 {
            let mut v = self.0.lock().unwrap();
            if !v.iter().any(|x| x == s) {
                v.push(s.to_owned());
                v.sort_by_key(|x| std::cmp::Reverse(x.len()));
            }
        }
        // Multi-line secrets (PEM) are also registered line by line.
        if s.contains('\n') {
            for line in s.lines().filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
                self.add(line);
            }
        }
    }
    pub fn redact(&self, text: &str) -> String {
        let v = self.0.lock().unwrap();
        let mut out = text.to_owned();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// Where progress goes (stderr) and how it looks.
#[derive(Debug)]
pub struct Output {
    pub color: bool,
    /// `--output json`: progress still goes to stderr, the report to stdout at the end.
    pub json: bool,
    pub quiet: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            json: false,
            quiet: false,
        }
    }
}

/// Everything a script run shares. Reached from native functions through the engine's tag.
pub struct Host {
    pub target: Target,
    pub vantiq: VantiqEndpoint,
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes.
    pub yes: bool,
    /// Whether confirmations can be asked (a TTY on stdin).
    pub interactive: bool,
    pub params: BTreeMap<String, String>,
    /// Where the operator ran vscript (parameter file paths resolve here).
    pub cwd: PathBuf,
    pub stdlib_dir: Option<PathBuf>,
    pub cancel: Mutex<Cancel>,
    pub rt: tokio::runtime::Handle,
    /// The runtime [`Host::block`] drives, when the host has one of its own (a session's
    /// single-threaded runtime, which a `Handle` cannot drive); else `rt` is a
    /// multi-threaded runtime's handle.
    pub driver: Option<Arc<tokio::runtime::Runtime>>,
    pub out: Output,
    pub secrets: Redactor,
    /// Values a script remembers for the report and for `--resume` (replica counts, backup job).
    pub remembered: Mutex<BTreeMap<String, Value>>,
    pub effects: Mutex<Vec<Effect>>,
    /// Settings from `vscript.toml` (flattened dotted keys).
    pub settings: BTreeMap<String, Value>,
    /// Called on every effect and step event (the journal).
    pub journal: OnceLock<Box<dyn Fn(&str, Value) + Send + Sync>>,
    pub(crate) k8s: OnceLock<crate::k8s::client::K8sClient>,
    /// Called when the run fails (`on_failure(|| ...)`): describes the state, names the rollback.
    pub on_failure: Mutex<Option<rhai::FnPtr>>,
    /// Set when the operator interrupted the run (Ctrl-C, SIGTERM): the exit code is 3
    /// even after the cancel token was reset for the failure handler.
    pub interrupted: std::sync::atomic::AtomicBool,
    /// Changes made by the attempt(s) this run resumes (for `changes_made()`).
    pub prior_changes: std::sync::atomic::AtomicU64,
    /// This run's journal id, once the journal is open.
    pub run_id: OnceLock<String>,
    /// Step titles completed in the run being resumed (`--resume`).
    pub completed_steps: Mutex<std::collections::BTreeSet<String>>,
    /// Stdlib modules compiled in this run, by origin: the lint before the run and the
    /// `import` during it share one parse.
    pub modules: Arc<Mutex<BTreeMap<String, (String, rhai::AST)>>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("target", &self.target)
            .field("dry_run", &self.dry_run)
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
    /// A host with defaults, for tests and `check`.
    pub fn new(rt: tokio::runtime::Handle) -> Self {
        Host {
            target: Target::default(),
            vantiq: VantiqEndpoint::default(),
            dry_run: false,
            yes: false,
            interactive: false,
            params: BTreeMap::new(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            stdlib_dir: None,
            cancel: Mutex::new(Cancel::default()),
            rt,
            driver: None,
            out: Output::default(),
            secrets: Redactor::default(),
            remembered: Mutex::new(BTreeMap::new()),
            effects: Mutex::new(Vec::new()),
            settings: BTreeMap::new(),
            journal: OnceLock::new(),
            k8s: OnceLock::new(),
            completed_steps: Mutex::new(Default::default()),
            modules: Default::default(),
            on_failure: Mutex::new(None),
            run_id: OnceLock::new(),
            prior_changes: std::sync::atomic::AtomicU64::new(0),
            interrupted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn cancel(&self) -> Cancel {
        self.cancel.lock().unwrap().clone()
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
            None => self.cwd.join(p),
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
        match &self.driver {
            Some(rt) => rt.block_on(fut),
            None => self.rt.block_on(fut),
        }
    }

    /// Prints a progress line on stderr (secrets redacted).
    pub fn say(&self, prefix: &str, color: &str, msg: &str) {
        if self.out.quiet {
            return;
        }
        let msg = self.secrets.redact(msg);
        // One write per line: stderr is unbuffered, and `writeln!` would make one
        // system call per piece.
        let line = if self.out.color && !color.is_empty() {
            format!("\x1b[{color}m{prefix}\x1b[0m {msg}\n")
        } else {
            format!("{prefix} {msg}\n")
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    pub fn info(&self, msg: &str) {
        self.say("  ·", "2", msg);
    }

    pub fn warn(&self, msg: &str) {
        self.say("  !", "33", msg);
    }

    /// Records a side effect (done, or what would be done under `--dry-run`) and prints it.
    pub fn effect(&self, action: &str, target: &str, before: Option<Value>, after: Option<Value>, result: &str) {
        let e = Effect {
            action: action.to_owned(),
            target: self.secrets.redact(target),
            before: before.map(|v| self.redact_value(v)),
            after: after.map(|v| self.redact_value(v)),
            result: result.to_owned(),
        };
        let show = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let change = match (&e.before, &e.after) {
            (Some(_), Some(_)) => format!(": {} → {}", show(&e.before), show(&e.after)),
            (None, Some(_)) => format!(": {}", show(&e.after)),
            _ => String::new(),
        };
        if self.dry_run && result == "dry-run" {
            self.say("  ~", "36", &format!("would {action} {}{change}", e.target));
        } else if result.starts_with("failed") {
            self.say("  ✗", "31", &format!("{action} {}{change}: {result}", e.target));
        } else {
            self.say("  ✓", "32", &format!("{action} {}{change}", e.target));
        }
        self.journal_event("effect", serde_json::to_value(&e).unwrap_or(Value::Null));
        self.effects.lock().unwrap().push(e);
    }

    /// Sends one event to the journal, if one is attached.
    pub fn journal_event(&self, kind: &str, data: Value) {
        if let Some(j) = self.journal.get() {
            j(kind, data);
        }
    }

    /// Redacts secrets inside a JSON value's strings.
    pub fn redact_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.secrets.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.redact_value(x)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, self.redact_value(x))).collect()),
            other => other,
        }
    }

    /// Whether the process is allowed to ask the operator (TTY and no `--yes`).
    pub fn stdin_is_tty() -> bool {
        std::io::stdin().is_terminal()
    }
}
