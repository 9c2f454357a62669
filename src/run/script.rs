//! Finding, reading and compiling the script of a run, and its parameters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::outcome::Failure;
use crate::engine::{self, Host};

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

/// The first `//!` line of a script.
pub fn describe(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("//!").map(|s| s.trim().to_owned()))
        .unwrap_or_default()
}

/// Whether a run takes the maintenance lock: it acts on the cluster, is not a dry run, and
/// its header does not declare it read-only (`//! read-only`).
pub fn needs_lock(script: &Script, dry_run: bool) -> bool {
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
