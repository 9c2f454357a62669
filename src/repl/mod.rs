//! `vscript repl`: the incident console. The same engine, modules and target as `run`,
//! one entry at a time: variables and functions persist between entries, the stdlib
//! modules (`vantiq`, `incident`, …) are ready without an import, results are shown as
//! tables or YAML, Ctrl-C stops the running command and returns to the prompt.
//! With standard input not a terminal, the entries are read from it in order (scriptable).

pub mod helper;
mod lock;
pub mod pretty;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Position, Scope};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Cmd, Config, EditMode, Editor, KeyCode, KeyEvent, Modifiers};

use crate::engine::host::Cancel;
use crate::engine::{self, Host, resolver::StdlibResolver};
use crate::run::{self, EXIT_ABORTED, EXIT_FAILED, EXIT_OK, Failure, Session, TargetSpec};
use helper::{COMMANDS, Catalog, FnInfo, ReplHelper};

/// Runs the console: interactive on a terminal, line by line from a pipe.
pub fn main(target: &TargetSpec, params: BTreeMap<String, String>, dry_run: bool, history: Option<PathBuf>) -> Result<u8, Failure> {
    let session = run::session::open(target, params)?;
    let code = {
        let _guard = session.rt.enter();
        let slot: CancelSlot = Arc::new(Mutex::new(None));
        install_ctrl_c(&session.bg, slot.clone());
        let mut repl = Repl::new(&session, dry_run, slot);
        eprintln!("{}", session.banner("incident console", dry_run));
        let code = if std::io::stdin().is_terminal() {
            let history = history.clone().or_else(default_history);
            repl.interactive(history)
        } else {
            repl.piped(std::io::stdin().lock())
        };
        drop(repl);
        code
    };
    session.invariant_report();
    session.close();
    Ok(code)
}

/// `~/.local/share/vscript/history` (the user's data dir).
fn default_history() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("vscript").join("history"))
}

/// The cancel token of the command being evaluated (`None` at the prompt).
type CancelSlot = Arc<Mutex<Option<Cancel>>>;

/// Ctrl-C while a command runs trips its token (waits, log follows and script loops stop);
/// pressing it three times for one command that does not stop exits with code 3.
fn install_ctrl_c(rt: &tokio::runtime::Runtime, slot: CancelSlot) {
    rt.spawn(async move {
        let mut presses = 0;
        while tokio::signal::ctrl_c().await.is_ok() {
            let current = slot.lock().unwrap().clone();
            let Some(c) = current else { continue };
            if !c.is_tripped() {
                presses = 1;
                eprintln!("\nvscript: Ctrl-C — stopping the running command");
                c.trip();
            } else {
                presses += 1;
                if presses >= 3 {
                    eprintln!("vscript: the command does not stop; leaving");
                    std::process::exit(i32::from(EXIT_ABORTED));
                }
                eprintln!("still stopping (Ctrl-C once more to leave vscript)");
            }
        }
    });
}

/// What one entry produced.
#[derive(Debug, Default)]
pub struct Reply {
    /// The result, formatted (stdout).
    pub out: Option<String>,
    /// The rendered error (stderr).
    pub err: Option<String>,
    /// A note about the session (stderr), e.g. what `:load` brought in.
    pub note: Option<String>,
    pub ok: bool,
    pub quit: bool,
    /// The command was stopped with Ctrl-C.
    pub cancelled: bool,
}

impl Reply {
    fn out(s: impl Into<String>) -> Self {
        Reply {
            out: Some(s.into()),
            ok: true,
            ..Reply::default()
        }
    }
    fn note(s: impl Into<String>) -> Self {
        Reply {
            note: Some(s.into()),
            ok: true,
            ..Reply::default()
        }
    }
    fn err(s: impl Into<String>) -> Self {
        let s = s.into();
        Reply {
            err: Some(if s.starts_with("error") { s } else { format!("error: {s}") }),
            ..Reply::default()
        }
    }
    /// Prints the reply: results on stdout, everything else on stderr.
    pub fn print(&self) {
        if let Some(o) = &self.out {
            let mut so = std::io::stdout().lock();
            let _ = writeln!(so, "{o}");
            let _ = so.flush();
        }
        for e in [&self.note, &self.err].into_iter().flatten() {
            eprintln!("{e}");
        }
    }
}

/// One console session: the engine, the persistent scope and functions, the target.
pub struct Repl<'s> {
    session: &'s Session,
    dry_run: bool,
    /// The maintenance lock a changing command takes for its duration.
    lock: lock::CommandLock,
    host: Arc<Host>,
    engine: Engine,
    parser: Engine,
    /// The session's variables (shared with the helper, which completes their properties).
    scope: Rc<RefCell<Scope<'static>>>,
    /// Functions defined so far (statements are cleared after each entry).
    ast: AST,
    /// Source texts by name, for error excerpts (entries and loaded scripts).
    sources: BTreeMap<String, String>,
    /// Where each session function was defined (an entry or a loaded script).
    fn_sources: BTreeMap<String, String>,
    entries: usize,
    /// Modules reachable as `name::` without an import: `(alias, module name)`.
    imports: Vec<(String, String)>,
    catalog: Rc<RefCell<Catalog>>,
    slot: CancelSlot,
    /// Host functions (from the registrations; the same list `vscript doc` shows).
    host_fns: Vec<FnInfo>,
}

impl<'s> Repl<'s> {
    /// A session on `session`'s target. Stdlib modules that fail to compile are skipped
    /// with a warning.
    pub fn new(session: &'s Session, dry_run: bool, slot: CancelSlot) -> Self {
        let host = Arc::new(session.host(None, dry_run, false, false));
        let host_fns = crate::script_api::functions()
            .into_iter()
            .map(|(module, name, signature, summary, doc)| FnInfo {
                module,
                name,
                signature,
                summary,
                doc,
            })
            .collect();
        let mut repl = Repl {
            session,
            dry_run,
            lock: lock::CommandLock::default(),
            engine: Engine::new_raw(),
            parser: helper::parser(),
            host,
            scope: Rc::new(RefCell::new(Scope::new())),
            ast: AST::empty(),
            sources: BTreeMap::new(),
            fn_sources: BTreeMap::new(),
            entries: 0,
            imports: Vec::new(),
            catalog: Rc::new(RefCell::new(Catalog::default())),
            slot,
            host_fns,
        };
        let stdlib: Vec<String> = stdlib_modules(&repl.host);
        repl.imports = stdlib.iter().map(|m| (m.clone(), m.clone())).collect();
        repl.rebuild_engine();
        repl
    }

    /// Builds the engine for the current host and registers the modules every entry sees.
    fn rebuild_engine(&mut self) {
        self.lock.install(&self.host, self.session.bg.handle().clone());
        let mut engine = crate::script_api::engine(self.host.clone());
        let resolver = StdlibResolver::new(&self.host);
        let mut ok = Vec::new();
        let mut shown: Vec<String> = Vec::new();
        for (alias, name) in &self.imports {
            use rhai::ModuleResolver;
            match resolver.resolve(&engine, None, name, Position::NONE) {
                Ok(m) => {
                    engine.register_static_module(alias.as_str(), m);
                    ok.push((alias.clone(), name.clone()));
                }
                Err(e) => {
                    let lookup = |n: &str| {
                        resolver
                            .locate(n.rsplit('/').next().unwrap_or(n).trim_end_matches(".rhai"))
                            .map(|(_, s)| s)
                    };
                    let msg = engine::render::render_eval(&e, name, &lookup);
                    if shown.contains(&msg) {
                        // A module importing a broken one fails with the same error.
                        eprintln!("vscript: module `{name}` is not available in this session either (same error)");
                    } else {
                        eprintln!("vscript: module `{name}` is not available in this session:\n{msg}");
                        shown.push(msg);
                    }
                }
            }
        }
        self.imports = ok;
        self.engine = engine;
        self.refresh_catalog();
    }

    /// Tells the helper what exists now (functions, modules, variables, the host).
    fn refresh_catalog(&mut self) {
        let mut functions = self.host_fns.clone();
        let resolver = StdlibResolver::new(&self.host);
        let mut modules: Vec<String> = functions.iter().map(|f| f.module.clone()).filter(|m| !m.is_empty()).collect();
        for (alias, name) in &self.imports {
            modules.push(alias.clone());
            if let Some((_, src)) = resolver.locate(name)
                && let Ok(ast) = self.parser.compile(&src)
            {
                functions.extend(script_functions(&ast, alias));
            }
        }
        functions.extend(script_functions(&self.ast, ""));
        modules.sort();
        modules.dedup();
        let mut vars: Vec<String> = self.scope.borrow().iter_raw().map(|(n, ..)| n.to_owned()).collect();
        vars.sort();
        vars.dedup();
        let contexts = self
            .host
            .target()
            .kubeconfig
            .as_ref()
            .and_then(|p| kube::config::Kubeconfig::read_from(p).ok())
            .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        let mut c = self.catalog.borrow_mut();
        c.functions = functions;
        c.modules = modules;
        c.vars = vars;
        c.host = Some(self.host.clone());
        c.contexts = contexts;
        c.scope = Some(self.scope.clone());
    }

    /// The helper for the line editor (shares the catalog).
    pub fn helper(&self) -> ReplHelper {
        ReplHelper::new(self.catalog.clone(), self.host.out().color)
    }

    /// The prompt: the target namespace (and a dry-run mark).
    pub fn prompt(&self) -> String {
        format!("{}{}> ", self.host.target().namespace, if self.dry_run { " (dry run)" } else { "" })
    }

    /// Handles one entry: a `:command` or Rhai code.
    pub fn handle(&mut self, input: &str) -> Reply {
        let t = input.trim();
        if t.is_empty() {
            return Reply {
                ok: true,
                ..Reply::default()
            };
        }
        if t.starts_with(':') {
            return self.command(t);
        }
        let r = self.eval(input);
        self.refresh_catalog();
        r
    }

    fn command(&mut self, t: &str) -> Reply {
        let (cmd, arg) = t.split_once(char::is_whitespace).map(|(c, a)| (c, a.trim())).unwrap_or((t, ""));
        match cmd {
            ":help" | ":h" | ":?" => Reply::out(self.help()),
            ":quit" | ":q" | ":exit" => Reply {
                ok: true,
                quit: true,
                ..Reply::default()
            },
            ":doc" | ":d" => self.doc(arg),
            ":load" | ":l" if !arg.is_empty() => match self.load(arg) {
                Ok(msg) => Reply::note(msg),
                Err(e) => Reply::err(e),
            },
            ":load" | ":l" => Reply::err("usage: :load SCRIPT (a path, or a procedure name like `license_renew`)"),
            ":ns" if arg.is_empty() => Reply::out(self.host.target().namespace.clone()),
            ":ns" => {
                let ns = arg.to_owned();
                self.retarget(|t| t.namespace = ns);
                Reply::note(format!("namespace: {}", self.host.target().namespace))
            }
            ":context" if arg.is_empty() => Reply::out(self.context_info()),
            ":context" => self.switch_context(arg),
            ":vars" => Reply::out(self.vars()),
            other => Reply::err(format!("unknown command `{other}` (:help lists them)")),
        }
    }

    fn help(&self) -> String {
        let mut s = String::from(
            "Type Rhai code: every script function is here (`k8s::replicas(\"vantiq\")`), results are shown\nas tables or YAML, variables and functions stay defined. Enter on an unfinished block continues it.\n\nCommands:\n",
        );
        let rows: Vec<Vec<String>> = COMMANDS
            .iter()
            .map(|(c, a, d)| vec![format!("  {c} {a}").trim_end().to_owned(), (*d).to_owned()])
            .collect();
        s.push_str(
            &pretty::table(&["".into(), "".into()], &rows)
                .lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let mut mods: Vec<String> = self.catalog.borrow().modules.clone();
        mods.insert(0, "global".into());
        s.push_str(&format!(
            "\n\nModules: {}  (`:doc MODULE` lists the functions)\nKeys: Tab completes (functions, variables, pod/StatefulSet/job names); Ctrl-C stops the running\ncommand or clears the line; Ctrl-D leaves; Alt-Enter inserts a newline.",
            mods.join(", ")
        ));
        if self.imports.iter().any(|(a, _)| a == "incident") {
            s.push_str("\n\nIncident questions: incident::overview(), incident::pods(), incident::login(), incident::load_model_log(20),\nincident::served_cert(), incident::license() — `:doc incident` for all.");
        }
        s
    }

    fn doc(&self, q: &str) -> Reply {
        let cat = self.catalog.borrow();
        if q.is_empty() {
            return Reply::err("usage: :doc FUNCTION or :doc MODULE (e.g. `:doc k8s::follow_logs`, `:doc incident`)");
        }
        let module = if q == "global" { "" } else { q };
        let in_module: Vec<&FnInfo> = cat.functions.iter().filter(|f| f.module == module).collect();
        if !in_module.is_empty() && !cat.functions.iter().any(|f| f.module.is_empty() && f.name == q) {
            let rows: Vec<Vec<String>> = in_module.iter().map(|f| vec![f.signature.clone(), f.summary.clone()]).collect();
            let t = pretty::table(&["".into(), "".into()], &rows);
            return Reply::out(t.lines().skip(1).collect::<Vec<_>>().join("\n"));
        }
        let (qm, qn) = q.rsplit_once("::").map(|(m, n)| (Some(m), n)).unwrap_or((None, q));
        let hits: Vec<&FnInfo> = cat
            .functions
            .iter()
            .filter(|f| f.name == qn && qm.is_none_or(|m| m == f.module))
            .collect();
        if hits.is_empty() {
            return Reply::err(format!(
                "no function or module `{q}` (Tab completes names; `:help` lists the modules)"
            ));
        }
        let mut out = Vec::new();
        for f in hits {
            let body: Vec<String> = f.doc.lines().map(|l| format!("    {l}").trim_end().to_owned()).collect();
            out.push(format!("{}\n{}", f.signature, body.join("\n")).trim_end().to_owned());
        }
        Reply::out(out.join("\n\n"))
    }

    fn vars(&self) -> String {
        let scope = self.scope.borrow();
        let rows: Vec<Vec<String>> = scope
            .iter_raw()
            .map(|(n, constant, v)| {
                let shown = pretty::render(v).unwrap_or_else(|| "()".into());
                let first = shown.lines().next().unwrap_or("").to_owned();
                let more = if shown.lines().count() > 1 { " …" } else { "" };
                vec![
                    format!("{}{n}", if constant { "const " } else { "" }),
                    v.type_name().rsplit("::").next().unwrap_or("").to_owned(),
                    self.host.secrets().redact(&format!("{first}{more}")),
                ]
            })
            .collect();
        if rows.is_empty() {
            return "(no variables yet)".into();
        }
        pretty::table(&["name".into(), "type".into(), "value".into()], &rows)
    }

    fn context_info(&self) -> String {
        let t = self.host.target();
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<String>| {
            m.insert(k.into(), serde_json::Value::String(v.unwrap_or_else(|| "-".into())));
        };
        put("cluster", t.cluster.clone());
        put(
            "context",
            t.context
                .clone()
                .or_else(|| self.session.context.clone())
                .or(Some("(kubeconfig default)".into())),
        );
        put("namespace", Some(t.namespace.clone()));
        put("kubeconfig", t.kubeconfig.as_ref().map(|p| p.display().to_string()));
        put("tools dir", t.tools_dir.as_ref().map(|p| p.display().to_string()));
        put(
            "server",
            self.host
                .clients()
                .get::<crate::k8s::client::K8sClient>()
                .map(|c| c.server.clone())
                .or(Some("(not connected yet)".into())),
        );
        put("vantiq url", self.host.vantiq().url.clone());
        put(
            "mode",
            Some(
                match (self.session.rehearsal.is_some(), self.dry_run) {
                    (true, true) => "rehearsal (simulated cluster), dry run",
                    (true, false) => "rehearsal (simulated cluster)",
                    (false, true) => "dry run: writes are not made",
                    (false, false) => "live",
                }
                .into(),
            ),
        );
        pretty::render_json(&serde_json::Value::Object(m)).unwrap_or_default()
    }

    fn switch_context(&mut self, name: &str) -> Reply {
        let cfg = &self.session.config;
        if !cfg.allowed_contexts.is_empty() && self.session.rehearsal.is_none() && !cfg.allowed_contexts.iter().any(|c| c == name) {
            return Reply::err(format!(
                "refusing to switch: kube context `{name}` is not in allowed_contexts of vscript.toml ({})",
                cfg.allowed_contexts.join(", ")
            ));
        }
        let known = self.catalog.borrow().contexts.clone();
        if !known.is_empty() && !known.iter().any(|c| c == name) {
            return Reply::err(format!("no context `{name}` in the kubeconfig (known: {})", known.join(", ")));
        }
        let name = name.to_owned();
        self.retarget(|t| t.context = Some(name));
        Reply::note(format!("context: {}", self.host.target().context.as_deref().unwrap_or("")))
    }

    /// Points the session at another namespace or context: a new host (and engine) with
    /// the same secrets to redact and the same remembered values; the scope and
    /// functions stay.
    fn retarget(&mut self, change: impl FnOnce(&mut crate::engine::host::Target)) {
        let mut target = self.host.target().clone();
        change(&mut target);
        // Release every handle on the old host so its state can move over.
        self.engine = Engine::new_raw();
        self.catalog.borrow_mut().host = None;
        let old = std::mem::replace(&mut self.host, Arc::new(Host::new(self.session.rt.handle().clone())));
        match Arc::try_unwrap(old) {
            Ok(old) => self.host = Arc::new(old.retarget(target)),
            Err(_) => {
                eprintln!("vscript: warning: secrets read before this switch may not be redacted any more");
                let mut fresh = self.session.host(None, self.dry_run, false, false);
                *fresh.target_mut() = target;
                fresh.reset_sandbox();
                self.host = Arc::new(fresh);
            }
        }
        self.rebuild_engine();
    }

    /// `:load`: compiles a script and keeps its functions (its statements are not run);
    /// its imports become available as modules.
    fn load(&mut self, spec: &str) -> Result<String, String> {
        let script = run::script::resolve_script(spec, self.host.target().tools_dir.as_deref()).map_err(|f| f.message)?;
        let lookup = |n: &str| (n == script.source_name).then(|| script.text.clone());
        let mut ast = self
            .engine
            .compile(&script.text)
            .map_err(|e| engine::render::render_parse(&e, &script.source_name, &lookup))?;
        ast.set_source(script.source_name.clone());
        self.sources.insert(script.source_name.clone(), script.text.clone());
        let new_imports = top_level_imports(&ast);
        if new_imports.iter().any(|i| !self.imports.contains(i)) {
            for i in new_imports {
                if !self.imports.contains(&i) {
                    self.imports.push(i);
                }
            }
            self.rebuild_engine();
        }
        let fns = ast.clone_functions_only();
        for f in fns.iter_functions() {
            self.fn_sources.insert(f.name.to_owned(), script.source_name.clone());
        }
        let names: Vec<String> = fns
            .iter_functions()
            .filter(|f| !f.name.starts_with("anon$"))
            .map(|f| format!("{}({})", f.name, f.params.join(", ")))
            .collect();
        self.ast.combine(fns);
        self.refresh_catalog();
        Ok(if names.is_empty() {
            format!("{}: no functions to load", script.source_name)
        } else {
            format!("loaded from {}: {}", script.source_name, names.join(", "))
        })
    }

    /// Evaluates Rhai code against the session's scope and functions.
    fn eval(&mut self, input: &str) -> Reply {
        // From here on Ctrl-C stops this entry (even before it starts running).
        *self.slot.lock().unwrap() = Some(self.host.state().reset_cancel());
        let reply = self.eval_entry(input);
        self.lock.release(&self.host);
        *self.slot.lock().unwrap() = None;
        // Completion and later entries get a fresh token.
        self.host.state().reset_cancel();
        reply
    }

    fn eval_entry(&mut self, input: &str) -> Reply {
        self.entries += 1;
        let name = format!("<input {}>", self.entries);
        self.sources.insert(name.clone(), input.to_owned());
        let compiled = self.engine.compile_with_scope(&self.scope.borrow(), input);
        let mut entry = match compiled {
            Ok(a) => a,
            Err(e) => {
                let lookup = |n: &str| self.sources.get(n).cloned();
                return Reply::err(self.host.secrets().redact(&engine::render::render_parse(&e, &name, &lookup)));
            }
        };
        entry.set_source(name.clone());
        for f in entry.iter_functions() {
            self.fn_sources.insert(f.name.to_owned(), name.clone());
        }
        // `import "x" as y;` stays in effect for later entries.
        let new_imports: Vec<_> = top_level_imports(&entry)
            .into_iter()
            .filter(|i| !self.imports.contains(i))
            .collect();
        self.ast.combine(entry);
        self.ast.set_source(name.clone());

        let result = self.engine.eval_ast_with_scope::<Dynamic>(&mut self.scope.borrow_mut(), &self.ast);
        let cancelled = self.host.cancel().is_tripped();
        self.ast.clear_statements();

        if result.is_ok() && !new_imports.is_empty() {
            self.imports.extend(new_imports);
            self.rebuild_engine();
        }
        match result {
            Ok(v) => Reply {
                out: pretty::render(&v).map(|s| self.host.secrets().redact(&s)),
                ok: true,
                ..Reply::default()
            },
            Err(e) => {
                // A stopped command needs no excerpt: the operator knows what they stopped.
                let msg = self.render_error(*e, &name);
                let msg = if cancelled {
                    msg.lines().next().unwrap_or("").to_owned()
                } else {
                    msg
                };
                let mut r = Reply::err(msg);
                r.cancelled = cancelled;
                r
            }
        }
    }

    /// Rhai names the running entry as the source of every session function; point each
    /// function's frame at the entry (or script) that defined it, for the excerpt.
    fn fix_sources(&self, e: EvalAltResult, current: &str) -> EvalAltResult {
        match e {
            EvalAltResult::ErrorInFunctionCall(f, src, inner, pos) => {
                let src = match self.fn_sources.get(&f) {
                    Some(defined) if src.is_empty() || src == current => defined.clone(),
                    _ => src,
                };
                EvalAltResult::ErrorInFunctionCall(f, src, Box::new(self.fix_sources(*inner, current)), pos)
            }
            other => other,
        }
    }

    fn render_error(&self, e: EvalAltResult, name: &str) -> String {
        let e = &self.fix_sources(e, name);
        let resolver = StdlibResolver::new(&self.host);
        let lookup = |n: &str| -> Option<String> {
            if let Some(s) = self.sources.get(n) {
                return Some(s.clone());
            }
            let m = n.rsplit('/').next().unwrap_or(n).trim_end_matches(".rhai");
            resolver.locate(m).map(|(_, s)| s)
        };
        self.host.secrets().redact(&engine::render::render_eval(e, name, &lookup))
    }

    /// The interactive loop (a terminal): line editing, history, completion, hints.
    pub fn interactive(&mut self, history: Option<PathBuf>) -> u8 {
        let config = Config::builder()
            .edit_mode(EditMode::Emacs)
            .completion_type(rustyline::CompletionType::List)
            .history_ignore_space(true)
            .auto_add_history(false)
            .max_history_size(5000)
            .map(|b| b.build())
            .unwrap_or_default();
        let mut rl: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the line editor: {e}");
                return EXIT_FAILED;
            }
        };
        rl.set_helper(Some(self.helper()));
        rl.bind_sequence(KeyEvent(KeyCode::Enter, Modifiers::CTRL), Cmd::Newline);
        rl.bind_sequence(KeyEvent(KeyCode::Enter, Modifiers::ALT), Cmd::Newline);
        if let Some(h) = &history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if h.exists()
                && let Err(e) = rl.load_history(h)
            {
                eprintln!("vscript: warning: cannot read history {}: {e}", h.display());
            }
        }
        eprintln!("Type :help for help, Tab to complete, Ctrl-D to leave.");
        loop {
            let prompt = self.prompt();
            let styled = if self.host.out().color {
                format!("\x1b[1;34m{prompt}\x1b[0m")
            } else {
                prompt.clone()
            };
            match rl.readline(&(prompt.as_str(), styled.as_str())) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    if rl.add_history_entry(line.as_str()).unwrap_or(false)
                        && let Some(h) = &history
                        && let Err(e) = rl.append_history(h)
                    {
                        eprintln!("vscript: warning: cannot write history {}: {e}", h.display());
                    }
                    let reply = self.handle(&line);
                    reply.print();
                    if reply.quit {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("error: reading the terminal: {e}");
                    return EXIT_FAILED;
                }
            }
        }
        EXIT_OK
    }

    /// Piped input: each entry (lines joined while a block is unfinished) in order; results
    /// on stdout, errors on stderr; 0 when every entry succeeded, 1 otherwise, 3 when one was
    /// stopped with Ctrl-C.
    pub fn piped(&mut self, input: impl BufRead) -> u8 {
        let mut all_ok = true;
        let mut buf = String::new();
        for line in input.lines() {
            let Ok(line) = line else { break };
            if buf.is_empty() && line.trim().is_empty() {
                continue;
            }
            buf.push_str(&line);
            buf.push('\n');
            if helper::is_incomplete(&self.parser, &buf) {
                continue;
            }
            let reply = self.handle(&buf);
            buf.clear();
            reply.print();
            all_ok &= reply.ok;
            if reply.cancelled {
                return EXIT_ABORTED;
            }
            if reply.quit {
                break;
            }
        }
        if !buf.trim().is_empty() {
            let reply = self.handle(&buf);
            reply.print();
            all_ok &= reply.ok;
        }
        if all_ok { EXIT_OK } else { EXIT_FAILED }
    }
}

/// Stdlib modules available to the session: shipped ones and the tools dir's `stdlib/`.
fn stdlib_modules(host: &Host) -> Vec<String> {
    let mut names: Vec<String> = crate::shipped::STDLIB.iter().map(|(n, _)| (*n).to_owned()).collect();
    let dirs = host
        .opts()
        .stdlib_dir
        .iter()
        .cloned()
        .chain(host.target().tools_dir.iter().map(|t| t.join("stdlib")));
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "rhai")
                    && let Some(stem) = p.file_stem()
                {
                    names.push(stem.to_string_lossy().into_owned());
                }
            }
        }
    }
    // `vantiq` first: the other helpers import it.
    names.sort_by_key(|n| (n != "vantiq", n.clone()));
    names.dedup();
    names
}

/// `import "path" as alias;` statements at the top level of a script: `(alias, path)`.
fn top_level_imports(ast: &AST) -> Vec<(String, String)> {
    use rhai::{Expr, Stmt};
    ast.statements()
        .iter()
        .filter_map(|s| match s {
            Stmt::Import(x, _) => match &x.0 {
                Expr::StringConstant(path, _) if !x.1.name.is_empty() => {
                    Some((x.1.name.to_string(), path.trim_end_matches(".rhai").to_owned()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The public functions of a compiled script or module, for completion and `:doc`.
fn script_functions(ast: &AST, module: &str) -> Vec<FnInfo> {
    let mut fns: Vec<FnInfo> = ast
        .iter_functions()
        .filter(|f| f.access != rhai::FnAccess::Private && !f.name.starts_with("anon$"))
        .map(|f| {
            let doc: Vec<String> = f
                .comments
                .iter()
                .flat_map(|c| {
                    c.lines().map(|l| {
                        l.trim_start_matches("///")
                            .trim_start_matches("/**")
                            .trim_end_matches("*/")
                            .trim()
                            .to_owned()
                    })
                })
                .collect();
            let prefix = if module.is_empty() { String::new() } else { format!("{module}::") };
            FnInfo {
                module: module.to_owned(),
                name: f.name.to_owned(),
                signature: format!("{prefix}{}({})", f.name, f.params.join(", ")),
                summary: summary(&doc),
                doc: doc.join("\n"),
            }
        })
        .collect();
    fns.sort_by(|a, b| a.name.cmp(&b.name).then(a.signature.len().cmp(&b.signature.len())));
    fns
}

/// The first sentence of a doc comment's first paragraph.
fn summary(doc: &[String]) -> String {
    let para: Vec<&str> = doc
        .iter()
        .map(|l| l.as_str())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("```"))
        .collect();
    let text = para.join(" ");
    match text.find(". ").or_else(|| text.find(": ")) {
        Some(i) if i > 20 => text[..=i].trim_end().to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        run::session::open(&TargetSpec::default(), BTreeMap::new()).expect("session")
    }

    fn repl(s: &Session) -> Repl<'_> {
        Repl::new(s, false, Arc::new(Mutex::new(None)))
    }

    #[test]
    fn variables_and_functions_persist_between_entries() {
        let s = session();
        let _g = s.rt.enter();
        let mut r = repl(&s);
        assert!(r.handle("let n = 40;").ok);
        assert!(r.handle("fn twice(x) { x * 2 }").ok);
        let reply = r.handle("twice(n) + 2");
        assert_eq!(reply.out.as_deref(), Some("82"), "{reply:?}");
        // A later entry redefines a function; the others stay.
        assert!(r.handle("fn half(x) { x / 2 }").ok);
        assert_eq!(r.handle("half(twice(n))").out.as_deref(), Some("40"));
    }

    #[test]
    fn an_error_is_rendered_and_the_session_goes_on() {
        let s = session();
        let _g = s.rt.enter();
        let mut r = repl(&s);
        r.handle("let ok = 1;");
        let reply = r.handle("let x = 1;\nthrow \"bad thing\";");
        assert!(!reply.ok);
        let err = reply.err.unwrap();
        assert!(err.starts_with("error: bad thing"), "{err}");
        assert!(err.contains("<input 2>:2:1"), "{err}");
        assert!(err.contains("2 | throw \"bad thing\";"), "{err}");
        r.handle("fn inner() {\n    throw \"deep\";\n}");
        r.handle("fn outer() { inner() }");
        let err = r.handle("outer()").err.unwrap();
        assert!(
            err.contains("--> <input 3>:2:5") && err.contains("2 |     throw \"deep\";"),
            "{err}"
        );
        let reply = r.handle("undefined_var + 1");
        assert!(reply.err.unwrap().contains("undefined_var"));
        assert_eq!(r.handle("ok").out.as_deref(), Some("1"));
    }

    #[test]
    fn commands_help_doc_ns_and_quit() {
        let s = session();
        let _g = s.rt.enter();
        let mut r = repl(&s);
        assert!(r.handle(":help").out.unwrap().contains(":doc"));
        let d = r.handle(":doc k8s::scale").out.unwrap();
        assert!(d.starts_with("k8s::scale(sts: &str, replicas: i64)"), "{d}");
        let m = r.handle(":doc k8s").out.unwrap();
        assert!(m.contains("k8s::follow_logs("), "{m}");
        assert!(r.handle(":doc nope").err.is_some());
        r.handle("let kept = 7;");
        assert!(r.handle(":ns shared").ok);
        assert_eq!(r.handle(":ns").out.as_deref(), Some("shared"));
        assert_eq!(r.handle("k8s::namespace()").out.as_deref(), Some("shared"));
        assert_eq!(r.handle("kept").out.as_deref(), Some("7"), "the scope survives :ns");
        assert!(r.handle(":context").out.unwrap().contains("namespace   shared"));
        assert!(r.handle(":quit").quit);
        assert!(r.handle(":bogus").err.is_some());
    }

    #[test]
    fn load_brings_in_functions_only() {
        let s = session();
        let _g = s.rt.enter();
        let mut r = repl(&s);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("helpers.rhai");
        std::fs::write(
            &f,
            "//! test\nfn greet(who) { `hello ${who}` }\nthrow \"top level must not run\";\n",
        )
        .unwrap();
        let reply = r.handle(&format!(":load {}", f.display()));
        assert!(reply.ok, "{reply:?}");
        assert!(reply.note.unwrap().contains("greet(who)"));
        assert_eq!(r.handle("greet(\"ops\")").out.as_deref(), Some("hello ops"));
        // Edits are picked up by loading again.
        std::fs::write(&f, "fn greet(who) { `hi ${who}` }\n").unwrap();
        r.handle(&format!(":load {}", f.display()));
        assert_eq!(r.handle("greet(\"ops\")").out.as_deref(), Some("hi ops"));
    }

    #[test]
    fn piped_input_joins_blocks_and_reports_failure() {
        let s = session();
        let _g = s.rt.enter();
        let mut r = repl(&s);
        let code = r.piped("let total = 0;\nfor i in 1..=3 {\n  total += i;\n}\ntotal\n".as_bytes());
        assert_eq!(code, EXIT_OK);
        assert_eq!(r.handle("total").out.as_deref(), Some("6"));
        let code = r.piped("1 + \"\" + nope\n2\n".as_bytes());
        assert_eq!(code, EXIT_FAILED);
    }

    #[test]
    fn docs_and_incident_examples_compile() {
        let s = session();
        let _g = s.rt.enter();
        let r = repl(&s);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for page in ["docs/repl.md", "docs/ja/repl.md", "stdlib/incident.rhai"] {
            let text = std::fs::read_to_string(root.join(page)).unwrap();
            let text = text.replace("/// ", "");
            for block in text.split("```rhai\n").skip(1) {
                let code = block.split("```").next().unwrap();
                // In the console the stdlib modules need no import.
                r.engine.compile(code).unwrap_or_else(|e| panic!("{page}: {e}\n{code}"));
                n += 1;
            }
        }
        assert!(n >= 10, "{n} examples");
    }

    #[test]
    fn a_cancelled_command_returns_with_a_fresh_token() {
        let s = session();
        let _g = s.rt.enter();
        let slot: CancelSlot = Arc::new(Mutex::new(None));
        let mut r = Repl::new(&s, false, slot.clone());
        let tripper = std::thread::spawn(move || {
            for _ in 0..200 {
                std::thread::sleep(std::time::Duration::from_millis(10));
                if let Some(c) = slot.lock().unwrap().clone() {
                    c.trip();
                    return true;
                }
            }
            false
        });
        let started = std::time::Instant::now();
        let reply = r.handle("sleep(600)");
        assert!(tripper.join().unwrap());
        assert!(reply.cancelled && !reply.ok, "{reply:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(!r.host.cancel().is_tripped());
        assert_eq!(r.handle("1 + 1").out.as_deref(), Some("2"));
    }
}
