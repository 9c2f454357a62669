//! Finds `import "vantiq"` modules: the tools dir's `stdlib/` (customer overrides) first,
//! then the stdlib shipped inside the binary.

use std::path::PathBuf;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use super::Host;

/// Module resolver over local dirs and the embedded stdlib.
pub struct StdlibResolver {
    dirs: Vec<PathBuf>,
}

impl StdlibResolver {
    pub fn new(host: &Host) -> Self {
        let mut dirs = Vec::new();
        if let Some(d) = &host.stdlib_dir {
            dirs.push(d.clone());
        }
        if let Some(t) = &host.target.tools_dir {
            dirs.push(t.join("stdlib"));
        }
        StdlibResolver { dirs }
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
        let (origin, src) = self
            .locate(name)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_owned(), pos)))?;
        let mut ast = engine
            .compile(&src)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(origin.clone(), Box::new(e.into()), pos)))?;
        ast.set_source(origin.clone());
        let m = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|e| Box::new(EvalAltResult::ErrorInModule(origin, e, pos)))?;
        Ok(m.into())
    }
}
