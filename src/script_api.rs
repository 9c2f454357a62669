//! Every script module in one place: the run, `check`, the REPL and `vscript doc` build
//! their engines from here, so they all see the same functions.

use std::sync::Arc;

use crate::engine::{self, Host};

/// Registers the global functions and every capability's module (`vscript doc`).
pub fn register_modules(engine: &mut rhai::Engine) {
    engine::globals::register(engine);
    engine::secret::register(engine);
    register_capabilities(engine);
}

/// Registers every capability's module: k8s, gradle, git, file/yaml/props, cert/license, http.
pub fn register_capabilities(engine: &mut rhai::Engine) {
    crate::k8s::register(engine);
    crate::gradle::register(engine);
    crate::git::register(engine);
    crate::files::register(engine);
    crate::tls::register(engine);
    crate::http::register(engine);
}

/// The engine of a run, a check or the REPL, on `host`.
pub fn engine(host: Arc<Host>) -> rhai::Engine {
    let mut e = engine::build(host);
    register_capabilities(&mut e);
    e
}

/// Every registered function: `(module, name, signature, description, doc)`.
pub fn functions() -> Vec<(String, String, String, String, String)> {
    let mut engine = rhai::Engine::new_raw();
    crate::script_api::register_modules(&mut engine);
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

/// The Rhai definition files of every registered module and the standard library:
/// `(file name, text)`, deterministic (`.rhai/definitions/` is compared with them in a test).
pub fn definitions() -> Vec<(String, String)> {
    let mut engine = rhai::Engine::new();
    engine.set_max_expr_depths(128, 64);
    crate::script_api::register_modules(&mut engine);
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
    let mut files: Vec<(String, String)> = engine
        .definitions()
        .iter_files()
        .map(|(name, text)| (name, tidy_definitions(&text.replace(") -> ;", ") -> ?;"))))
        .collect();
    // The stdlib modules with their documentation (Rhai writes only the signatures).
    for (name, src) in crate::shipped::STDLIB {
        if let Some(doc) = module_doc(src) {
            let file = format!("{name}.d.rhai");
            let text = doc.definitions(name);
            match files.iter_mut().find(|(f, _)| *f == file) {
                Some(entry) => entry.1 = text,
                None => files.push((file, text)),
            }
        }
    }
    files
}

/// A stdlib module's documentation: its `//!` header and its public functions, each with
/// its parameters and `///` doc comment, in the order written.
#[derive(Debug, Clone)]
pub struct ModuleDoc {
    pub header: Vec<String>,
    /// `(name, parameters, doc lines)`.
    pub functions: Vec<(String, Vec<String>, Vec<String>)>,
}

/// The documentation of a stdlib module's source (`None` when it does not compile).
pub fn module_doc(src: &str) -> Option<ModuleDoc> {
    let mut engine = rhai::Engine::new_raw();
    engine.set_max_expr_depths(128, 64);
    let ast = engine.compile(src).ok()?;
    let header = src
        .lines()
        .take_while(|l| l.starts_with("//") || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned())
        .collect();
    let mut functions: Vec<(usize, String, Vec<String>, Vec<String>)> = ast
        .iter_fn_def()
        .filter(|f| f.access != rhai::FnAccess::Private && !f.name.starts_with("anon$"))
        .map(|f| {
            let doc: Vec<String> = f
                .comments
                .iter()
                .flat_map(|c| {
                    c.lines()
                        .map(|l| {
                            let l = l.trim_start();
                            let l = l.strip_prefix("///").unwrap_or(l);
                            l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let params = f.params.iter().map(|p| p.to_string()).collect();
            // In the order written (overloads: the shorter first).
            let at = src.find(&format!("fn {}(", f.name)).unwrap_or(usize::MAX);
            (at.saturating_add(f.params.len()), f.name.to_string(), params, doc)
        })
        .collect();
    functions.sort_by_key(|(line, ..)| *line);
    Some(ModuleDoc {
        header,
        functions: functions.into_iter().map(|(_, n, p, d)| (n, p, d)).collect(),
    })
}

impl ModuleDoc {
    /// The text `vscript doc MODULE` prints.
    pub fn render(&self, module: &str) -> String {
        let mut out = format!(
            "module {module}
"
        );
        for l in &self.header {
            out.push_str(format!("    {l}").trim_end());
            out.push('\n');
        }
        for (name, params, doc) in &self.functions {
            out.push_str(&format!("\n{module}::{name}({})\n", params.join(", ")));
            for l in doc {
                out.push_str(format!("    {l}").trim_end());
                out.push('\n');
            }
        }
        out
    }

    /// The module as a Rhai definition file: the header and each function's doc comment
    /// and signature (parameters and results are untyped, `?`, as in any script function).
    pub fn definitions(&self, module: &str) -> String {
        let mut out = format!("module {module};\n");
        if !self.header.is_empty() {
            out.push('\n');
            for l in &self.header {
                out.push_str(format!("//! {l}").trim_end());
                out.push('\n');
            }
        }
        for (name, params, doc) in &self.functions {
            out.push('\n');
            for l in doc {
                out.push_str(format!("/// {l}").trim_end());
                out.push('\n');
            }
            let ps: Vec<String> = params.iter().map(|p| format!("{p}: ?")).collect();
            out.push_str(&format!("fn {name}({}) -> ?;\n", ps.join(", ")));
        }
        out
    }
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
