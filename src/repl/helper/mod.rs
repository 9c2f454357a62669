//! The line editor's helper: when Enter continues an entry (validator), what Tab offers
//! (commands, modules, functions, variables, and live resource names from the cluster),
//! and the signature hint shown while typing a call.
//!
//! The parts: `catalog` (what the helper knows about the session), `input` (what the word
//! at the cursor is, the open call, unfinished entries); this module is the rustyline
//! helper itself.

mod catalog;
mod input;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::Engine;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::engine::Host;
use catalog::KEYWORDS;
pub(in crate::repl) use catalog::script_functions;
pub use catalog::{COMMANDS, Catalog, FnInfo};
use input::args_so_far;
pub use input::{Want, analyze, is_incomplete, open_call, parser};

/// A hint: a signature shown after the cursor, or the rest of a name (→ accepts it).
pub struct ReplHint {
    display: String,
    completion: Option<String>,
}

impl Hint for ReplHint {
    fn display(&self) -> &str {
        &self.display
    }
    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

/// Live names by `(kind, namespace)`, with when they were fetched.
type NameCache = HashMap<(String, String), (Instant, Vec<String>)>;

/// The rustyline helper of the console.
pub struct ReplHelper {
    pub catalog: Rc<RefCell<Catalog>>,
    parser: Engine,
    files: FilenameCompleter,
    color: bool,
    cache: RefCell<NameCache>,
}

impl ReplHelper {
    pub fn new(catalog: Rc<RefCell<Catalog>>, color: bool) -> Self {
        ReplHelper {
            catalog,
            parser: parser(),
            files: FilenameCompleter::new(),
            color,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Names of objects of a kind in the target namespace (cached a few seconds; nothing
    /// when the cluster does not answer within 3 s).
    fn live_names(&self, kind: &str, ns: Option<&str>) -> Vec<String> {
        let Some(host) = self.catalog.borrow().host.clone() else {
            return Vec::new();
        };
        let ns = ns.map(str::to_owned).unwrap_or_else(|| host.target().namespace.clone());
        let key = (kind.to_owned(), ns.clone());
        if let Some((at, v)) = self.cache.borrow().get(&key)
            && at.elapsed() < Duration::from_secs(5)
        {
            return v.clone();
        }
        let v: Vec<String> = fetch_objects(&host, kind, &ns)
            .map(|objs| {
                objs.iter()
                    .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.cache.borrow_mut().insert(key, (Instant::now(), v.clone()));
        v
    }

    fn containers(&self, pod: &str) -> Vec<String> {
        let Some(host) = self.catalog.borrow().host.clone() else {
            return Vec::new();
        };
        let ns = host.target().namespace.clone();
        let Some(objs) = fetch_objects(&host, "Pod", &ns) else {
            return Vec::new();
        };
        let Some(p) = objs.iter().find(|o| o["metadata"]["name"].as_str() == Some(pod)) else {
            return Vec::new();
        };
        ["initContainers", "containers"]
            .iter()
            .flat_map(|k| p["spec"][k].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Candidates for `word` (already split off by [`analyze`]).
    pub fn candidates(&self, want: &Want, word: &str) -> Vec<Pair> {
        let pair = |d: &str, r: &str| Pair {
            display: d.to_owned(),
            replacement: r.to_owned(),
        };
        let mut out: Vec<Pair> = Vec::new();
        let cat = self.catalog.borrow();
        match want {
            Want::Command => {
                for (c, arg, _) in COMMANDS {
                    if c.starts_with(word) {
                        out.push(pair(c, &if arg.is_empty() { (*c).to_owned() } else { format!("{c} ") }));
                    }
                }
            }
            Want::FnName => {
                let mut seen = std::collections::BTreeSet::new();
                for f in &cat.functions {
                    let n = f.full_name();
                    if n.starts_with(word) && seen.insert(n.clone()) {
                        out.push(pair(&n, &n));
                    }
                }
                for m in &cat.modules {
                    if m.starts_with(word) && seen.insert(m.clone()) {
                        out.push(pair(m, m));
                    }
                }
            }
            Want::Ident => {
                let mut seen = std::collections::BTreeSet::new();
                if let Some((module, rest)) = word.rsplit_once("::") {
                    for f in cat.functions.iter().filter(|f| f.module == module && f.name.starts_with(rest)) {
                        if seen.insert(f.name.clone()) {
                            out.push(pair(&f.name, &format!("{module}::{}(", f.name)));
                        }
                    }
                } else {
                    for v in &cat.vars {
                        if v.starts_with(word) && seen.insert(v.clone()) {
                            out.push(pair(v, v));
                        }
                    }
                    for m in &cat.modules {
                        if m.starts_with(word) && seen.insert(format!("{m}::")) {
                            out.push(pair(&format!("{m}::"), &format!("{m}::")));
                        }
                    }
                    for f in cat.functions.iter().filter(|f| f.module.is_empty() && f.name.starts_with(word)) {
                        if seen.insert(f.name.clone()) {
                            out.push(pair(&f.name, &format!("{}(", f.name)));
                        }
                    }
                    for k in KEYWORDS {
                        if k.starts_with(word) && !word.is_empty() && seen.insert((*k).to_owned()) {
                            out.push(pair(k, k));
                        }
                    }
                }
            }
            Want::Context => {
                for c in &cat.contexts {
                    if c.starts_with(word) {
                        out.push(pair(c, c));
                    }
                }
            }
            Want::Kind => {
                for k in crate::k8s::kinds::names() {
                    if k.to_ascii_lowercase().starts_with(&word.to_ascii_lowercase()) {
                        out.push(pair(k, k));
                    }
                }
            }
            Want::Property(path) => {
                if let Some(scope) = &cat.scope
                    && let Some(keys) = property_keys(&scope.borrow(), path)
                {
                    for k in keys.into_iter().filter(|k| k.starts_with(word) && is_ident(k)) {
                        out.push(pair(&k, &k));
                    }
                }
            }
            Want::Namespace | Want::Names(_) | Want::Containers(_) | Want::Path | Want::Nothing => {}
        }
        drop(cat);
        let live = match want {
            Want::Namespace => self.live_names("Namespace", None),
            Want::Names(kinds) => {
                let mut v = Vec::new();
                for k in kinds {
                    for n in self.live_names(k, None) {
                        if !v.contains(&n) {
                            v.push(n);
                        }
                    }
                }
                v
            }
            Want::Containers(pod) => self.containers(pod),
            _ => Vec::new(),
        };
        for n in live {
            if n.starts_with(word) {
                out.push(pair(&n, &n));
            }
        }
        out
    }
}

/// Whether a map key can follow a `.` (`status`, not `tls.crt`).
fn is_ident(k: &str) -> bool {
    k.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') && k.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The keys of the map at `var.a.b[0]` in the scope (nothing is evaluated).
pub fn property_keys(scope: &rhai::Scope, path: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => parts.push(std::mem::take(&mut cur)),
            '[' => {
                parts.push(std::mem::take(&mut cur));
                let mut idx = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    idx.push(d);
                }
                cur = format!("[{}", idx.trim_matches('"'));
            }
            c => cur.push(c),
        }
    }
    parts.push(cur);
    let mut parts = parts.into_iter().filter(|p| !p.is_empty());
    let mut v: rhai::Dynamic = scope.get(&parts.next()?)?.clone();
    for p in parts {
        v = match p.strip_prefix('[') {
            Some(i) => match i.parse::<usize>() {
                Ok(n) => v.into_array().ok()?.get(n)?.clone(),
                Err(_) => v.try_cast::<rhai::Map>()?.get(i)?.clone(),
            },
            None => v.try_cast::<rhai::Map>()?.get(p.as_str())?.clone(),
        };
    }
    let m = v.try_cast::<rhai::Map>()?;
    Some(m.keys().map(|k| k.to_string()).collect())
}

/// Lists objects through the session's client, bounded to 3 seconds; `None` on any failure.
fn fetch_objects(host: &Host, kind: &str, ns: &str) -> Option<Vec<serde_json::Value>> {
    let kind = crate::k8s::K8sClient::kind(kind).ok()?;
    let client = host.k8s_client().ok()?;
    let ns = ns.to_owned();
    host.block("listing names for completion", Duration::from_secs(3), async move {
        client.list(&kind, &ns, "").await
    })
    .ok()
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, want) = analyze(line, pos);
        if want == Want::Path {
            return self.files.complete(line, pos, ctx);
        }
        let word = &line[start..pos];
        let mut c = self.candidates(&want, word);
        c.sort_by(|a, b| a.display.cmp(&b.display));
        c.dedup_by(|a, b| a.display == b.display);
        Ok((start, c))
    }
}

impl Hinter for ReplHelper {
    type Hint = ReplHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ReplHint> {
        if pos < line.len() || line.trim_start().starts_with(':') {
            return None;
        }
        let cat = self.catalog.borrow();
        // The rest of a function name that only one function starts with.
        let (start, want) = analyze(line, pos);
        let word = &line[start..pos];
        if matches!(want, Want::Property(_)) {
            return None;
        }
        if want == Want::Ident && word.len() >= 2 {
            let hits: Vec<&FnInfo> = cat.functions.iter().filter(|f| f.full_name().starts_with(word)).collect();
            let mut names: Vec<String> = hits.iter().map(|f| f.full_name()).collect();
            names.dedup();
            if names.len() == 1 {
                let rest = &names[0][word.len()..];
                let sig = &hits[0].signature;
                let tail = sig.find('(').map(|i| &sig[i..]).unwrap_or("");
                return Some(ReplHint {
                    display: format!("{rest}{tail}"),
                    completion: Some(format!("{rest}(")),
                });
            }
        }
        // Inside a call: its signature(s).
        let (call, args) = open_call(line)?;
        let (_, typed) = args_so_far(&args);
        let mut sigs: Vec<&FnInfo> = cat.functions.iter().filter(|f| f.full_name() == call).collect();
        if sigs.is_empty() {
            return None;
        }
        // The shortest overload that still takes the arguments typed so far.
        sigs.sort_by_key(|f| f.signature.len());
        let arity = |f: &FnInfo| f.signature.split_once('(').map(|(_, a)| a.split(',').count()).unwrap_or(0);
        let best = sigs.iter().find(|f| arity(f) > typed).unwrap_or(&sigs[0]);
        let more = if sigs.len() > 1 {
            format!("  (+{} more)", sigs.len() - 1)
        } else {
            String::new()
        };
        Some(ReplHint {
            display: format!("    {}{more}", best.signature),
            completion: None,
        })
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        if is_incomplete(&self.parser, ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ReplHelper {
        let cat = Catalog {
            functions: vec![
                FnInfo {
                    module: "k8s".into(),
                    name: "scale".into(),
                    signature: "k8s::scale(sts: &str, replicas: i64)".into(),
                    summary: String::new(),
                    doc: String::new(),
                },
                FnInfo {
                    module: "".into(),
                    name: "param".into(),
                    signature: "param(name: &str) -> String".into(),
                    summary: String::new(),
                    doc: String::new(),
                },
            ],
            modules: vec!["k8s".into(), "vantiq".into()],
            vars: vec!["pods".into()],
            host: None,
            contexts: vec!["acme-prod".into()],
            scope: None,
        };
        ReplHelper::new(Rc::new(RefCell::new(cat)), false)
    }

    #[test]
    fn completion_offers_functions_modules_variables_and_commands() {
        let h = helper();
        let d = |w: Want, word: &str| -> Vec<String> { h.candidates(&w, word).into_iter().map(|p| p.replacement).collect() };
        assert_eq!(d(Want::Ident, "k8s::s"), vec!["k8s::scale("]);
        assert_eq!(d(Want::Ident, "p"), vec!["pods", "param(", "print"]);
        assert_eq!(d(Want::Ident, "va"), vec!["vantiq::"]);
        assert_eq!(d(Want::Command, ":d"), vec![":doc "]);
        assert_eq!(d(Want::Context, "acme"), vec!["acme-prod"]);
        assert_eq!(d(Want::Kind, "stat"), vec!["StatefulSet"]);
    }

    #[test]
    fn properties_of_variables_complete_from_their_values() {
        let h = helper();
        let mut scope = rhai::Scope::new();
        let pod: rhai::Dynamic = rhai::serde::to_dynamic(serde_json::json!({
            "status": { "phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [{ "ready": true, "restartCount": 0 }] },
            "spec": {}
        }))
        .unwrap();
        scope.push("pod", pod);
        h.catalog.borrow_mut().scope = Some(Rc::new(RefCell::new(scope)));
        let l = "pod.status.p";
        let (start, want) = analyze(l, l.len());
        assert_eq!((start, want.clone()), (11, Want::Property("pod.status".into())));
        let c: Vec<String> = h.candidates(&want, "p").into_iter().map(|p| p.replacement).collect();
        assert_eq!(c, vec!["phase", "podIP"]);
        let l = "pod.status.containerStatuses[0].r";
        let (start, want) = analyze(l, l.len());
        let c: Vec<String> = h.candidates(&want, &l[start..]).into_iter().map(|p| p.replacement).collect();
        assert_eq!(c, vec!["ready", "restartCount"]);
    }

    #[test]
    fn hints_show_signatures() {
        let h = helper();
        let hist = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&hist);
        let l = "k8s::scale(\"vantiq\", ";
        assert_eq!(
            h.hint(l, l.len(), &ctx).map(|x| x.display).as_deref(),
            Some("    k8s::scale(sts: &str, replicas: i64)")
        );
        let l = "k8s::sc";
        let hint = h.hint(l, l.len(), &ctx).unwrap();
        assert_eq!(hint.display, "ale(sts: &str, replicas: i64)");
        assert_eq!(hint.completion.as_deref(), Some("ale("));
    }
}
