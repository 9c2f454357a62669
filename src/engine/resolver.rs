//! Finds `import "vantiq"` modules: the tools dir's `stdlib/` (customer overrides) first,
//! then the stdlib shipped inside the binary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{AST, Engine, EvalAltResult, Module, ModuleResolver, ParseError, Position, Scope, Shared};

use super::Host;

/// Module resolver over local dirs and the embedded stdlib.
pub struct StdlibResolver {
    dirs: Vec<PathBuf>,
    /// The run's compiled modules (origin → source, AST), shared with the host.
    cache: Arc<Mutex<BTreeMap<String, (String, AST)>>>,
}

impl StdlibResolver {
    pub fn new(host: &Host) -> Self {
        let mut dirs = Vec::new();
        if let Some(d) = &host.opts().stdlib_dir {
            dirs.push(d.clone());
        }
        if let Some(t) = &host.target().tools_dir {
            dirs.push(t.join("stdlib"));
        }
        StdlibResolver {
            dirs,
            cache: host.modules().clone(),
        }
    }

    /// Finds and compiles a module: `None` when there is none, else its origin and the
    /// AST or the parse error. A module is parsed once per run (the lint and the import
    /// share it); a changed file is parsed again.
    pub fn compile(&self, engine: &Engine, name: &str) -> Option<(String, String, Result<AST, ParseError>)> {
        let (origin, src) = self.locate(name)?;
        if let Some((text, ast)) = self.cache.lock().unwrap().get(&origin)
            && *text == src
        {
            return Some((origin, src, Ok(ast.clone())));
        }
        let r = engine.compile(&src).map(|mut ast| {
            ast.set_source(origin.clone());
            ast
        });
        if let Ok(ast) = &r {
            self.cache.lock().unwrap().insert(origin.clone(), (src.clone(), ast.clone()));
        }
        Some((origin, src, r))
    }

    /// Where a module comes from: a local file, or the shipped copy.
    pub fn locate(&self, name: &str) -> Option<(String, String)> {
        for d in &self.dirs {
            let p = d.join(format!("{name}.rhai"));
            if let Ok(src) = std::fs::read_to_string(&p) {
                return Some((p.display().to_string(), src));
            }
        }
        crate::shipped::stdlib(name).map(|s| (format!("<shipped>/stdlib/{name}.rhai"), s.to_owned()))
    }
}

impl ModuleResolver for StdlibResolver {
    fn resolve(&self, engine: &Engine, _source: Option<&str>, path: &str, pos: Position) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let name = path.trim_end_matches(".rhai");
        let (origin, _, ast) = self
            .compile(engine, name)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_owned(), pos)))?;
        let ast = ast.map_err(|e| Box::new(EvalAltResult::ErrorInModule(origin.clone(), Box::new(e.into()), pos)))?;
        let m = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|e| Box::new(EvalAltResult::ErrorInModule(origin, e, pos)))?;
        Ok(m.into())
    }
}
