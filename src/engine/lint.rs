//! Static checks before anything runs: every called function exists (host modules,
//! the script's own functions, imported stdlib modules) — Rhai itself only finds an
//! unknown function when the call is reached, which may be hours into a maintenance.

use std::collections::BTreeSet;

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt};

/// An unknown function call.
#[derive(Debug, Clone)]
pub struct LintError {
    pub message: String,
    pub position: Position,
}

/// Every callable name the engine knows, as `name` and `module::name`.
pub fn known_functions(engine: &Engine) -> BTreeSet<String> {
    // Names only: formatting every signature (`gen_fn_signatures`) costs milliseconds
    // on each run, and the check only needs the names.
    let names = engine.collect_fn_metadata(
        None,
        |f| {
            let name = f.metadata.name.as_str();
            let name = name.trim_start_matches("get$").trim_start_matches("set$");
            Some(if f.namespace.is_empty() {
                name.to_owned()
            } else {
                format!("{}::{name}", f.namespace)
            })
        },
        true,
    );
    let mut out = BTreeSet::new();
    for head in names {
        if let Some((_, n)) = head.rsplit_once("::") {
            out.insert(format!("*{n}"));
        }
        out.insert(head);
    }
    out
}

/// Checks the calls of a script whose imports resolve through `module_fns`
/// (alias → function names).
pub fn check_calls(engine: &Engine, ast: &AST, module_fns: &dyn Fn(&str) -> Option<BTreeSet<String>>) -> Vec<LintError> {
    let known = known_functions(engine);
    let own: BTreeSet<String> = ast.iter_functions().map(|f| f.name.to_owned()).collect();
    let mut aliases: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut errors = Vec::new();
    // Collect imports first (they are statements at the top level).
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, _))) = path.last() {
            let (expr, alias) = &**x;
            if let Expr::StringConstant(name, _) = expr
                && let Some(fns) = module_fns(name)
            {
                aliases.push((alias.name.to_string(), fns));
            }
        }
        true
    });
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, pos)),
            _ => None,
        };
        if let Some((call, pos)) = call {
            let name = call.name.as_str();
            let ns = call.namespace.to_string();
            if ns.is_empty() {
                if !(own.contains(name) || known.contains(name) || name.starts_with("anon$") || is_builtin(name)) {
                    errors.push(LintError {
                        message: format!("unknown function `{name}`"),
                        position: *pos,
                    });
                }
            } else {
                let ns = ns.trim_end_matches("::").to_owned();
                let ok = known.contains(&format!("{ns}::{name}")) || aliases.iter().any(|(a, fns)| *a == ns && fns.contains(name));
                let known_ns = aliases.iter().any(|(a, _)| *a == ns) || known.iter().any(|k| k.starts_with(&format!("{ns}::")));
                if !ok {
                    let message = if known_ns {
                        format!("unknown function `{ns}::{name}`")
                    } else {
                        format!("unknown module `{ns}` (in `{ns}::{name}`)")
                    };
                    errors.push(LintError { message, position: *pos });
                }
            }
        }
        true
    });
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
/// `param_file("fullchain")` (required).
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
                && (name == "param" || name == "param_file")
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
