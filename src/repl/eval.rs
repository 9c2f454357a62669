//! Evaluating one entry: compiled against the session's scope and functions, run with a
//! fresh cancel token (Ctrl-C stops it), the result pretty-printed and every error rendered
//! with a source excerpt pointing at the entry or script that defined the failing function.
//! Secrets are redacted from both.

use rhai::{AST, Dynamic, EvalAltResult};

use super::{Repl, Reply, pretty};
use crate::engine::{self, resolver::StdlibResolver};

impl Repl<'_> {
    /// Evaluates Rhai code against the session's scope and functions.
    pub(super) fn eval(&mut self, input: &str) -> Reply {
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
}

/// `import "path" as alias;` statements at the top level of a script: `(alias, path)`.
pub(super) fn top_level_imports(ast: &AST) -> Vec<(String, String)> {
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
