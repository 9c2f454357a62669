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
    let has = |ns: &str, name: &str| known.contains(&(ns.to_owned(), name.to_owned()));
    let mut errors = Vec::new();
    for c in &calls {
        let (ns, name) = (c.ns.as_str(), c.name.as_str());
        let message = if ns.is_empty() {
            if own.contains(name) || has("", name) || name.starts_with("anon$") || is_builtin(name) {
                continue;
            }
            format!("unknown function `{name}`")
        } else {
            let imported = aliases.get(ns);
            if has(ns, name) || imported.is_some_and(|fns| fns.contains(name)) {
                continue;
            }
            if imported.is_some() || is_registered_namespace(engine, ns) {
                format!("unknown function `{ns}::{name}`")
            } else {
                format!("unknown module `{ns}` (in `{ns}::{name}`)")
            }
        };
        errors.push(LintError {
            message,
            position: c.position,
        });
    }
    errors
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
/// `param_file("fullchain")` (required), `param_seconds("timeout", 1800)` (optional).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParamUse {
    pub name: String,
    pub required: bool,
}

/// Every parameter a script reads with a literal name, sorted, required ones first.
pub fn params(ast: &AST) -> Vec<ParamUse> {
    let mut found: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _))) | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => Some(call),
            _ => None,
        };
        if let Some(call) = call {
            let name = call.name.as_str();
            if call.namespace.is_empty()
                && (name == "param" || name == "param_file" || name == "param_seconds")
                && let Some(Expr::StringConstant(p, _)) = call.args.first()
            {
                let required = name == "param_file" || call.args.len() == 1;
                let e = found.entry(p.to_string()).or_insert(false);
                *e |= required;
            }
        }
        true
    });
    let mut v: Vec<ParamUse> = found.into_iter().map(|(name, required)| ParamUse { name, required }).collect();
    v.sort_by(|a, b| b.required.cmp(&a.required).then(a.name.cmp(&b.name)));
    v
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
    fn a_module_function_is_not_a_global_one() {
        // `replicas` exists only as `k8s::replicas`.
        assert_eq!(messages("replicas(\"vantiq\");"), ["unknown function `replicas`"]);
    }
}
