//! The console's `:commands`: `:help`, `:doc`, `:load`, `:ns`, `:context`, `:vars` and
//! `:quit` (the list with their descriptions is `helper::COMMANDS`). `:ns` and `:context`
//! point the session at another namespace or kube context; the variables and functions
//! defined so far stay.

use std::sync::Arc;

use rhai::Engine;

use super::eval::top_level_imports;
use super::helper::{COMMANDS, FnInfo};
use super::{Repl, Reply, pretty};
use crate::engine::{self, Host};
use crate::run;

impl Repl<'_> {
    pub(super) fn command(&mut self, t: &str) -> Reply {
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
                crate::errln!("vscript: warning: secrets read before this switch may not be redacted any more");
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
}
