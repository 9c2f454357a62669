//! `vscript repl`: the incident console. The same engine, modules and target as `run`,
//! one entry at a time: variables and functions persist between entries, the stdlib
//! modules (`vantiq`, `incident`, …) are ready without an import, results are shown as
//! tables or YAML, Ctrl-C stops the running command and returns to the prompt.
//! With standard input not a terminal, the entries are read from it in order (scriptable).
//!
//! The parts: `console` (the terminal and piped loops, Ctrl-C), `commands` (the
//! `:commands`), `eval` (running an entry, rendering its result or error), `helper` (the
//! line editor: completion, hints, the catalog of names) and `pretty` (tables and YAML).

mod commands;
mod console;
mod eval;
pub mod helper;
mod lock;
pub mod pretty;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rhai::{AST, Engine, Position, Scope};

use crate::engine::{self, Host, resolver::StdlibResolver};
use crate::run::{self, Failure, Session, TargetSpec};
use console::{CancelSlot, default_history, install_ctrl_c};
use helper::{Catalog, FnInfo, ReplHelper, script_functions};

/// Runs the console: interactive on a terminal, line by line from a pipe.
pub fn main(target: &TargetSpec, params: BTreeMap<String, String>, dry_run: bool, history: Option<PathBuf>) -> Result<u8, Failure> {
    let session = run::session::open(target, params)?;
    let code = {
        let _guard = session.rt.enter();
        let slot: CancelSlot = Arc::new(Mutex::new(None));
        install_ctrl_c(&session.bg, slot.clone());
        let mut repl = Repl::new(&session, dry_run, slot);
        crate::errln!("{}", session.banner("incident console", dry_run));
        let code = if std::io::stdin().is_terminal() {
            let history = history.clone().or_else(default_history);
            repl.interactive(history)
        } else {
            repl.piped(std::io::stdin().lock())
        };
        drop(repl);
        code
    };
    let violations = session.invariant_report();
    // A rehearsal console that ended well leaves nothing behind.
    let clean = code == crate::run::EXIT_OK && violations.is_none_or(|v| v.is_empty());
    if let Some(dir) = session.close(clean) {
        crate::errln!("vscript: rehearsal files kept in {}", dir.display());
    }
    Ok(code)
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
            crate::errln!("{e}");
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
                        crate::errln!("vscript: module `{name}` is not available in this session either (same error)");
                    } else {
                        crate::errln!("vscript: module `{name}` is not available in this session:\n{msg}");
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
