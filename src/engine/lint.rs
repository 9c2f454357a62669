//! Static checks before anything runs: every called function exists (host modules,
//! the script's own functions, imported stdlib modules) — Rhai itself only finds an
//! unknown function when the call is reached, which may be hours into a maintenance.

use std::collections::{BTreeSet, HashMap, HashSet};

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt};

/// An unknown function call.
#[derive(Debug, Clone)]
pub struct LintError {
    pub message: String,
    pub position: Position,
}

/// A function call found in a script.
struct Call {
    /// `k8s` for `k8s::get(…)`, empty for a plain call.
    ns: String,
    name: String,
    position: Position,
}

/// Which of `wanted` (namespace → names) the engine has: one pass over its functions
/// that allocates only for the matches (there are thousands of functions and a script
/// calls a few dozen of them).
fn registered(engine: &Engine, wanted: &HashMap<&str, HashSet<&str>>) -> HashSet<(String, String)> {
    engine
        .collect_fn_metadata(
            None,
            |f| {
                let name = f.metadata.name.as_str();
                let name = name.trim_start_matches("get$").trim_start_matches("set$");
                let ns = f.namespace.as_str();
                wanted
                    .get(ns)
                    .is_some_and(|names| names.contains(name))
                    .then(|| (ns.to_owned(), name.to_owned()))
            },
            true,
        )
        .into_iter()
        .collect()
}

/// Whether the engine has any function in namespace `ns` (for the error message only).
fn is_registered_namespace(engine: &Engine, ns: &str) -> bool {
    !engine
        .collect_fn_metadata(None, |f| (f.namespace.as_str() == ns).then_some(()), true)
        .is_empty()
}

/// Checks the calls of a script whose imports resolve through `module_fns`
/// (alias → function names).
pub fn check_calls(engine: &Engine, ast: &AST, module_fns: &dyn Fn(&str) -> Option<BTreeSet<String>>) -> Vec<LintError> {
    let own: HashSet<&str> = ast.iter_functions().map(|f| f.name).collect();
    let mut aliases: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut calls: Vec<Call> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(x, _))) => {
                let (expr, alias) = &**x;
                if let Expr::StringConstant(name, _) = expr
                    && let Some(fns) = module_fns(name)
                {
                    aliases.insert(alias.name.to_string(), fns);
                }
            }
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) | Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => {
                let ns = if call.namespace.is_empty() {
                    String::new()
                } else {
                    call.namespace.to_string().trim_end_matches("::").to_owned()
                };
                calls.push(Call {
                    ns,
                    name: call.name.to_string(),
                    position: *pos,
                });
            }
            _ => {}
        }
        true
    });
    let mut wanted: HashMap<&str, HashSet<&str>> = HashMap::new();
    for c in &calls {
        wanted.entry(c.ns.as_str()).or_default().insert(c.name.as_str());
    }
    let known = registered(engine, &wanted);
    // Every name by namespace, for suggestions (only when something is unknown).
    let mut all_names: Option<HashMap<String, BTreeSet<String>>> = None;
    let has = |ns: &str, name: &str| known.contains(&(ns.to_owned(), name.to_owned()));
    let mut errors = Vec::new();
    for c in &calls {
        let (ns, name) = (c.ns.as_str(), c.name.as_str());
        let message = if ns.is_empty() {
            if own.contains(name) || has("", name) || name.starts_with("anon$") || is_builtin(name) {
                continue;
            }
            let names = all_names.get_or_insert_with(|| names_by_namespace(engine));
            let candidates = names.get("").into_iter().flatten().map(String::as_str).chain(own.iter().copied());
            format!("unknown function `{name}`{}", did_you_mean(name, candidates, ""))
        } else {
            let imported = aliases.get(ns);
            if has(ns, name) || imported.is_some_and(|fns| fns.contains(name)) {
                continue;
            }
            let names = all_names.get_or_insert_with(|| names_by_namespace(engine));
            if imported.is_some() || is_registered_namespace(engine, ns) {
                let candidates = names
                    .get(ns)
                    .into_iter()
                    .flatten()
                    .chain(imported.into_iter().flatten())
                    .map(String::as_str);
                format!(
                    "unknown function `{ns}::{name}`{}",
                    did_you_mean(name, candidates, &format!("{ns}::"))
                )
            } else {
                let modules = names
                    .keys()
                    .filter(|m| !m.is_empty())
                    .map(String::as_str)
                    .chain(aliases.keys().map(String::as_str));
                format!("unknown module `{ns}` (in `{ns}::{name}`){}", did_you_mean(ns, modules, ""))
            }
        };
        errors.push(LintError {
            message,
            position: c.position,
        });
    }
    errors
}

/// Every registered function name, by namespace (`""` for the global ones).
fn names_by_namespace(engine: &Engine) -> HashMap<String, BTreeSet<String>> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (ns, name) in engine.collect_fn_metadata(
        None,
        |f| {
            let name = f.metadata.name.as_str();
            (!name.starts_with("get$") && !name.starts_with("set$") && !name.starts_with("anon$"))
                .then(|| (f.namespace.to_string(), name.to_owned()))
        },
        true,
    ) {
        out.entry(ns).or_default().insert(name);
    }
    out
}

/// The edit distance between two words (Levenshtein, by characters).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidates closest to `word` (at most three, nearest first): those within a third
/// of its length (at least 2 edits), or that it starts or ends with.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let w = word.to_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| !c.is_empty() && *c != word)
        .filter_map(|c| {
            let lc = c.to_lowercase();
            let d = distance(&w, &lc);
            let contains = w.len() >= 4 && (lc.contains(&w) || w.contains(&lc) && lc.len() >= 4);
            (d <= limit || contains).then_some((if contains { d.min(limit) } else { d }, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `: did you mean `x`?` (or `x` or `y`), or nothing when no candidate is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>, prefix: &str) -> String {
    let s = suggest(word, candidates);
    if s.is_empty() {
        return String::new();
    }
    let names: Vec<String> = s.iter().map(|c| format!("`{prefix}{c}`")).collect();
    format!(": did you mean {}?", names.join(" or "))
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "print"
            | "debug"
            | "type_of"
            | "is_def_var"
            | "is_def_fn"
            | "Fn"
            | "call"
            | "curry"
            | "eval"
            | "is_shared"
            | "throw"
            | "+"
            | "-"
            | "*"
            | "/"
            | "%"
            | "**"
            | "=="
            | "!="
            | "<"
            | ">"
            | "<="
            | ">="
            | "&"
            | "|"
            | "^"
            | "!"
            | "<<"
            | ">>"
            | "??"
            | "in"
            | ".."
            | "..="
            | "&&"
            | "||"
    ) || !name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// A parameter a script reads: `param("tag")` (required), `param("tag", "…")` (optional),
/// `param_file("fullchain")` (required), `param_seconds("timeout", 1800)` (optional),
/// `has_param("x")` (optional).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParamUse {
    pub name: String,
    pub required: bool,
    /// The default the script gives, when it is a literal (`"900"`, `1800`).
    pub default: Option<String>,
    /// `text`, `file`, `seconds` or `flag` (read with `has_param`).
    pub kind: &'static str,
}

impl ParamUse {
    /// A parameter without a default.
    pub fn new(name: &str, required: bool, kind: &'static str) -> Self {
        ParamUse {
            name: name.to_owned(),
            required,
            default: None,
            kind,
        }
    }
}

/// A literal as a script author wrote it.
fn literal(e: &Expr) -> Option<String> {
    match e {
        Expr::StringConstant(s, _) => Some(format!("\"{s}\"")),
        Expr::IntegerConstant(i, _) => Some(i.to_string()),
        Expr::BoolConstant(b, _) => Some(b.to_string()),
        Expr::FloatConstant(f, _) => Some(f.to_string()),
        _ => None,
    }
}

/// Every parameter a script reads with a literal name, sorted, required ones first
/// (a parameter read in several places is required if any read requires it, and keeps
/// the first literal default).
pub fn params(ast: &AST) -> Vec<ParamUse> {
    let mut found: std::collections::BTreeMap<String, ParamUse> = std::collections::BTreeMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _))) | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => Some(call),
            _ => None,
        };
        if let Some(call) = call {
            let name = call.name.as_str();
            if call.namespace.is_empty()
                && PARAM_READERS.contains(&name)
                && let Some(Expr::StringConstant(p, _)) = call.args.first()
            {
                let required = name == "param_file" || (name == "param" && call.args.len() == 1);
                let kind = match name {
                    "param_file" => "file",
                    "param_seconds" => "seconds",
                    "has_param" => "flag",
                    _ => "text",
                };
                let default = call.args.get(1).and_then(literal);
                let e = found.entry(p.to_string()).or_insert_with(|| ParamUse::new(p, false, kind));
                e.required |= required;
                if e.default.is_none() {
                    e.default = default;
                }
                if e.kind == "flag" {
                    e.kind = kind;
                }
            }
        }
        true
    });
    let mut v: Vec<ParamUse> = found.into_values().collect();
    v.sort_by(|a, b| b.required.cmp(&a.required).then(a.name.cmp(&b.name)));
    v
}

/// The global functions that read a parameter by name.
const PARAM_READERS: &[&str] = &["param", "param_file", "param_seconds", "has_param"];

/// Whether a script reads a parameter whose name is computed (`param(which)`): its
/// parameters are then not all known before it runs.
pub fn reads_computed_params(ast: &AST) -> bool {
    let mut computed = false;
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, _))) | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) = path.last()
            && call.namespace.is_empty()
            && PARAM_READERS.contains(&call.name.as_str())
            && !matches!(call.args.first(), Some(Expr::StringConstant(..)))
        {
            computed = true;
        }
        true
    });
    computed
}

/// The modules a script imports by a literal name (at the top or inside functions).
pub fn imports(ast: &AST) -> Vec<String> {
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, _))) = path.last()
            && let Expr::StringConstant(name, _) = &x.0
            && !out.contains(&name.to_string())
        {
            out.push(name.to_string());
        }
        true
    });
    out
}

/// The titles of a script's steps (`step("…", …)` with a literal title), in the order written.
pub fn steps(ast: &AST) -> Vec<String> {
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, _))) | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) = path.last()
            && call.namespace.is_empty()
            && call.name.as_str() == "step"
            && let Some(Expr::StringConstant(t, _)) = call.args.first()
        {
            out.push(t.to_string());
        }
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut e = Engine::new();
        let mut m = rhai::Module::new();
        m.set_native_fn("replicas", |_: &str| Ok(3_i64));
        e.register_static_module("k8s", m.into());
        e
    }

    /// The check of `src`, with a stdlib module `vantiq` that has `deploy_yaml`.
    fn check(src: &str) -> Vec<LintError> {
        let e = engine();
        let ast = e.compile(src).unwrap();
        let module_fns = |name: &str| (name == "vantiq").then(|| BTreeSet::from(["deploy_yaml".to_owned()]));
        check_calls(&e, &ast, &module_fns)
    }

    fn messages(src: &str) -> Vec<String> {
        check(src).into_iter().map(|l| l.message).collect()
    }

    #[test]
    fn known_calls_pass() {
        let src = "import \"vantiq\" as v;\nfn own(x) { x }\nlet n = k8s::replicas(\"vantiq\");\nv::deploy_yaml();\nprint(to_string(own(n)));\nlet f = |x| x + 1;\nf.call(1);";
        assert_eq!(messages(src), Vec::<String>::new());
    }

    #[test]
    fn unknown_calls_are_reported_with_their_kind_and_position() {
        let errors = check("import \"vantiq\" as v;\nk8s::scael(\"vantiq\", 1);\nv::nope();\nnot_a_function(1);");
        let found: Vec<(String, usize)> = errors.iter().map(|l| (l.message.clone(), l.position.line().unwrap())).collect();
        assert_eq!(
            found,
            [
                ("unknown function `k8s::scael`".to_owned(), 2),
                ("unknown function `v::nope`".to_owned(), 3),
                ("unknown function `not_a_function`".to_owned(), 4),
            ]
        );
    }

    #[test]
    fn unknown_names_come_with_the_closest_known_ones() {
        assert_eq!(
            messages("k8s::replica(\"vantiq\");\nv::deploy_yml();\nimport \"vantiq\" as v;"),
            [
                "unknown function `k8s::replica`: did you mean `k8s::replicas`?",
                "unknown function `v::deploy_yml`: did you mean `v::deploy_yaml`?",
            ]
        );
        assert_eq!(suggest("relase", ["release", "tag", "timeout"]), ["release"]);
        assert_eq!(
            suggest("minor_upgrad", ["minor_upgrade", "minor_upgrade_rollback", "patch_upgrade"])[0],
            "minor_upgrade"
        );
        assert!(suggest("xyz", ["release", "tag"]).is_empty());
    }

    #[test]
    fn parameters_computed_and_imports_are_found() {
        let e = engine();
        let ast = e
            .compile("import \"vantiq\" as v;\nfn f() { import \"incident\" as i; }\nlet w = \"x\";\nif has_param(\"dry\") { param(w); }")
            .unwrap();
        assert!(reads_computed_params(&ast));
        assert_eq!(imports(&ast), ["vantiq", "incident"]);
        assert_eq!(params(&ast), [ParamUse::new("dry", false, "flag")]);
        assert!(!reads_computed_params(&e.compile("param(\"tag\");").unwrap()));
    }

    #[test]
    fn a_module_function_is_not_a_global_one() {
        // `replicas` exists only as `k8s::replicas`.
        assert_eq!(messages("replicas(\"vantiq\");"), ["unknown function `replicas`"]);
    }
}
