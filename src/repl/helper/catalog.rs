//! The catalog: what the line editor knows about the session (functions with their
//! signatures and docs, modules, variables, kube contexts), the console's commands and the
//! Rhai keywords, and how a script's public functions are read into it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use rhai::AST;

use crate::engine::Host;

/// The console's commands: `(name, argument, what it does)`.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (":help", "", "this help"),
    (
        ":doc",
        "FN|MODULE",
        "the reference of a function (`:doc k8s::scale`) or a module (`:doc k8s`)",
    ),
    (
        ":load",
        "SCRIPT",
        "bring the functions of a script (a path or a procedure name) into the session",
    ),
    (":ns", "[NAME]", "show or change the target namespace"),
    (
        ":context",
        "[NAME]",
        "show the target, or switch to another kube context of the kubeconfig",
    ),
    (":vars", "", "the variables of the session"),
    (":quit", "", "leave (Ctrl-D also does)"),
];

/// Rhai keywords, offered by completion.
pub(super) const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "do", "until", "break", "continue", "return", "throw", "try",
    "catch", "import", "as", "true", "false", "switch", "print", "debug", "type_of",
];

/// One function scripts can call.
#[derive(Debug, Clone)]
pub struct FnInfo {
    /// `""` for global functions, `k8s`, `vantiq`, …
    pub module: String,
    pub name: String,
    /// `k8s::scale(sts: &str, replicas: i64)`
    pub signature: String,
    /// The first line of its doc.
    pub summary: String,
    /// The whole doc.
    pub doc: String,
}

impl FnInfo {
    pub fn full_name(&self) -> String {
        if self.module.is_empty() {
            self.name.clone()
        } else {
            format!("{}::{}", self.module, self.name)
        }
    }
}

/// What the helper knows about the session; the REPL updates it after every entry.
#[derive(Default)]
pub struct Catalog {
    /// Host functions, stdlib module functions and functions defined in the session.
    pub functions: Vec<FnInfo>,
    pub modules: Vec<String>,
    pub vars: Vec<String>,
    /// The session's host (for live names); `None` while the target changes.
    pub host: Option<Arc<Host>>,
    /// Contexts of the kubeconfig.
    pub contexts: Vec<String>,
    /// The session's variables, for their properties (`pod.status.` → `phase`, …).
    pub scope: Option<Rc<RefCell<rhai::Scope<'static>>>>,
}

/// The public functions of a compiled script or module, for completion and `:doc`.
pub(in crate::repl) fn script_functions(ast: &AST, module: &str) -> Vec<FnInfo> {
    let mut fns: Vec<FnInfo> = ast
        .iter_functions()
        .filter(|f| f.access != rhai::FnAccess::Private && !f.name.starts_with("anon$"))
        .map(|f| {
            let doc: Vec<String> = f
                .comments
                .iter()
                .flat_map(|c| {
                    c.lines().map(|l| {
                        l.trim_start_matches("///")
                            .trim_start_matches("/**")
                            .trim_end_matches("*/")
                            .trim()
                            .to_owned()
                    })
                })
                .collect();
            let prefix = if module.is_empty() { String::new() } else { format!("{module}::") };
            FnInfo {
                module: module.to_owned(),
                name: f.name.to_owned(),
                signature: format!("{prefix}{}({})", f.name, f.params.join(", ")),
                summary: summary(&doc),
                doc: doc.join("\n"),
            }
        })
        .collect();
    fns.sort_by(|a, b| a.name.cmp(&b.name).then(a.signature.len().cmp(&b.signature.len())));
    fns
}

/// The first sentence of a doc comment's first paragraph.
fn summary(doc: &[String]) -> String {
    let para: Vec<&str> = doc
        .iter()
        .map(|l| l.as_str())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("```"))
        .collect();
    let text = para.join(" ");
    match text.find(". ").or_else(|| text.find(": ")) {
        Some(i) if i > 20 => text[..=i].trim_end().to_owned(),
        _ => text,
    }
}
