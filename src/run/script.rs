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
    let names = procedure_names(tools);
    Err(Failure::usage(format!(
        "no script `{spec}`: not a file, and not a procedure name{} (known: {})",
        engine::lint::did_you_mean(spec, names.iter().map(String::as_str), ""),
        names.join(", ")
    )))
}

/// Every procedure name: the tools dir's `scripts/`, `./scripts` and the shipped ones, sorted.
pub fn procedure_names(tools: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = crate::shipped::SCRIPTS.iter().map(|(n, _)| (*n).to_owned()).collect();
    let dirs = tools.map(|t| t.join("scripts")).into_iter().chain([PathBuf::from("scripts")]);
    for d in dirs {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai")
                && let Some(stem) = p.file_stem()
            {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Parameters every procedure accepts, whatever it reads itself: `(name, what it is)`.
pub const GLOBAL_PARAMS: &[(&str, &str)] = &[(
    "confirm",
    "the word a typed confirmation asks for (`confirm_typed`), for runs without a terminal",
)];

/// The parameters a script can be given: what it reads with a literal name, what the
/// stdlib modules it imports read (`verify_login`, …), and the global ones. `computed`
/// when it reads a parameter whose name is computed: then not all are known.
#[derive(Debug, Clone, Default)]
pub struct KnownParams {
    pub params: Vec<engine::lint::ParamUse>,
    /// Parameters read by stdlib modules: `(name, module)`.
    pub from_modules: Vec<(String, String)>,
    pub computed: bool,
}

impl KnownParams {
    /// Whether `name` is one of them.
    pub fn knows(&self, name: &str) -> bool {
        self.params.iter().any(|p| p.name == name)
            || self.from_modules.iter().any(|(n, _)| n == name)
            || GLOBAL_PARAMS.iter().any(|(n, _)| *n == name)
    }
    /// Every name, the script's first.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        for (n, _) in &self.from_modules {
            if !v.contains(&n.as_str()) {
                v.push(n);
            }
        }
        v.extend(GLOBAL_PARAMS.iter().map(|(n, _)| *n));
        v
    }
}

/// The parameters `ast` (compiled by [`compile`]) can be given.
pub fn known_params(engine: &rhai::Engine, ast: &rhai::AST, host: &Host) -> KnownParams {
    let resolver = engine::resolver::StdlibResolver::new(host);
    let mut known = KnownParams {
        params: engine::lint::params(ast),
        computed: engine::lint::reads_computed_params(ast),
        ..KnownParams::default()
    };
    let mut todo = engine::lint::imports(ast);
    let mut seen = Vec::new();
    while let Some(m) = todo.pop() {
        if seen.contains(&m) {
            continue;
        }
        seen.push(m.clone());
        if let Some((_, _, Ok(module))) = resolver.compile(engine, &m) {
            for p in engine::lint::params(&module) {
                if !known.from_modules.iter().any(|(n, _)| *n == p.name) {
                    known.from_modules.push((p.name, m.clone()));
                }
            }
            known.computed |= engine::lint::reads_computed_params(&module);
            todo.extend(engine::lint::imports(&module));
        }
    }
    known
}

/// Refuses `--set` keys the script does not read, naming the closest one it does.
pub fn check_param_names(script: &Script, known: &KnownParams, given: &BTreeMap<String, String>) -> Result<(), Failure> {
    if known.computed {
        return Ok(());
    }
    let unknown: Vec<String> = given
        .keys()
        .filter(|k| !known.knows(k))
        .map(|k| {
            format!(
                "--set {k}=…: `{}` takes no parameter `{k}`{}",
                script.name,
                engine::lint::did_you_mean(k, known.names(), "")
            )
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names = known.names();
    Err(Failure::usage(format!(
        "{}\n(its parameters: {})",
        unknown.join("\n"),
        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
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
    // Every problem at once: a broken stdlib module, then each unknown function.
    let mut all: Vec<String> = problems.into_inner();
    all.dedup();
    all.extend(
        errors
            .iter()
            .map(|e| engine::render::snippet(&e.message, &script.source_name, e.position, &lookup)),
    );
    match all.len() {
        0 => Ok(ast),
        1 => Err(Failure::usage(all.remove(0))),
        n => Err(Failure::usage(format!(
            "{}\n\n{n} errors in {}",
            all.join("\n\n"),
            script.source_name
        ))),
    }
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

/// What `vscript doc <procedure>` shows: its `//!` header, its parameters (with their
/// defaults, and those the stdlib modules it imports read), and its runbook steps.
#[derive(Debug, Clone)]
pub struct ProcedureDoc {
    pub name: String,
    pub origin: String,
    pub header: Vec<String>,
    pub params: KnownParams,
    pub steps: Vec<String>,
}

/// The `//!` lines at the top of a script or module, without the marker.
pub fn header(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| l.starts_with("//") || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned())
        .collect()
}

/// The documentation of a procedure, from its source.
pub fn procedure_doc(engine: &rhai::Engine, script: &Script, host: &Host) -> Result<ProcedureDoc, Failure> {
    let ast = compile(engine, script, host)?;
    Ok(ProcedureDoc {
        name: script.name.clone(),
        origin: script.origin.clone(),
        header: header(&script.text),
        params: known_params(engine, &ast, host),
        steps: engine::lint::steps(&ast),
    })
}

impl ProcedureDoc {
    /// The text `vscript doc` prints.
    pub fn render(&self) -> String {
        let mut out = format!("{} ({})\n", self.name, self.origin);
        for l in &self.header {
            out.push_str(format!("    {l}").trim_end());
            out.push('\n');
        }
        out.push_str("\nParameters (--set NAME=VALUE):\n");
        let mut rows: Vec<(String, String)> = self
            .params
            .params
            .iter()
            .map(|p| {
                let what = match (p.required, &p.default) {
                    (true, _) => format!("required {}", p.kind),
                    (false, Some(d)) => format!("{}, default {d}", p.kind),
                    (false, None) => format!("optional {}", p.kind),
                };
                (p.name.clone(), what)
            })
            .collect();
        for (n, m) in &self.params.from_modules {
            if !rows.iter().any(|(r, _)| r == n) {
                rows.push((n.clone(), format!("read by the `{m}` module")));
            }
        }
        for (n, what) in GLOBAL_PARAMS {
            rows.push(((*n).to_owned(), (*what).to_owned()));
        }
        let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (n, what) in &rows {
            out.push_str(&format!("  {n:w$}  {what}\n"));
        }
        if self.params.computed {
            out.push_str("  (it also reads parameters whose names are computed while it runs)\n");
        }
        out.push_str("\nSteps:\n");
        if self.steps.is_empty() {
            out.push_str("  (no steps)\n");
        }
        for s in &self.steps {
            out.push_str(&format!("  {s}\n"));
        }
        out
    }

    /// `tag, release=""?, timeout=1800?`: the parameters on one line (`vscript list`).
    pub fn params_line(&self) -> String {
        self.params
            .params
            .iter()
            .map(|p| match (&p.default, p.required) {
                (_, true) => p.name.clone(),
                (Some(d), false) => format!("[{}={d}]", p.name),
                (None, false) => format!("[{}]", p.name),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}
