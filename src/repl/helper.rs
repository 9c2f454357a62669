//! The line editor's helper: when Enter continues an entry (validator), what Tab offers
//! (commands, modules, functions, variables, and live resource names from the cluster),
//! and the signature hint shown while typing a call.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Engine, LexError, ParseErrorType};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

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

const KEYWORDS: &[&str] = &[
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

/// Where the cursor is, and what to offer there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Command,
    /// Function, module, variable or keyword names.
    Ident,
    /// A function name for `:doc`.
    FnName,
    /// A script file for `:load`.
    Path,
    Namespace,
    Context,
    /// A kind name (`"StatefulSet"`).
    Kind,
    /// Names of objects of these kinds in the target namespace.
    Names(Vec<String>),
    /// Container names of a pod.
    Containers(String),
    /// Keys of the map a variable path leads to (`pod.status` in `pod.status.ph`).
    Property(String),
    Nothing,
}

/// Works out what to complete at `pos`: the start of the word being completed and its kind.
pub fn analyze(line: &str, pos: usize) -> (usize, Want) {
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if trimmed.starts_with(':') {
        let lead = before.len() - trimmed.len();
        return match trimmed.split_once(char::is_whitespace) {
            None => (lead, Want::Command),
            Some((cmd, _)) => {
                let start = before.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(pos);
                let want = match cmd {
                    ":doc" | ":d" => Want::FnName,
                    ":load" | ":l" => Want::Path,
                    ":ns" => Want::Namespace,
                    ":context" => Want::Context,
                    _ => Want::Nothing,
                };
                (start, want)
            }
        };
    }
    match open_string(before) {
        Some(q) => (q + 1, string_want(&before[..q])),
        None => {
            let start = before
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
                .last()
                .map(|(i, _)| i)
                .unwrap_or(pos);
            if start > 0 && before.as_bytes()[start - 1] == b'.' {
                let path_start = before[..start - 1]
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '"'))
                    .last()
                    .map(|(i, _)| i)
                    .unwrap_or(start - 1);
                return (start, Want::Property(before[path_start..start - 1].to_owned()));
            }
            (start, Want::Ident)
        }
    }
}

/// The byte index of the `"` opening a string that is still open at the end of `s`
/// (skipping comments, backtick strings and char literals).
fn open_string(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut open: Option<(u8, usize)> = None;
    while i < b.len() {
        let c = b[i];
        match open {
            Some((q, _)) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    open = None;
                }
            }
            None => {
                if c == b'/' && b.get(i + 1) == Some(&b'/') {
                    match s[i..].find('\n') {
                        Some(n) => i += n,
                        None => return None,
                    }
                } else if c == b'"' || c == b'`' || c == b'\'' {
                    open = Some((c, i));
                }
            }
        }
        i += 1;
    }
    match open {
        Some((b'"', at)) => Some(at),
        _ => None,
    }
}

/// The innermost call still open at the end of `s`: its name, and the argument list so far.
pub fn open_call(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut depth = 0i32;
    let mut i = b.len();
    let mut in_str: Option<u8> = None;
    // Scan backwards, skipping string contents (good enough for one entry).
    while i > 0 {
        i -= 1;
        let c = b[i];
        if let Some(q) = in_str {
            if c == q && (i == 0 || b[i - 1] != b'\\') {
                in_str = None;
            }
            continue;
        }
        match c {
            b'"' | b'`' => in_str = Some(c),
            b')' | b']' | b'}' => depth += 1,
            b'[' | b'{' if depth > 0 => depth -= 1,
            b'[' | b'{' => return None,
            b'(' if depth > 0 => depth -= 1,
            b'(' => {
                let name_end = s[..i].trim_end().len();
                let name_start = s[..name_end]
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .last()
                    .map(|(j, _)| j)
                    .unwrap_or(name_end);
                let name = &s[name_start..name_end];
                if name.is_empty() {
                    return None;
                }
                return Some((name.to_owned(), s[i + 1..].to_owned()));
            }
            b';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The string literals among complete arguments (`"Pod", ` → `["Pod"]`), and the index of
/// the argument being typed.
fn args_so_far(args: &str) -> (Vec<Option<String>>, usize) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut in_str = false;
    let mut esc = false;
    for c in args.chars() {
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            cur.push(c);
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                cur.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(c);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                let t = cur.trim();
                out.push(t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).map(str::to_owned));
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    let n = out.len();
    (out, n)
}

/// What a string argument names, from the call it is in.
fn string_want(before_quote: &str) -> Want {
    let names = |k: &[&str]| Want::Names(k.iter().map(|s| (*s).to_owned()).collect());
    let default = names(&["Pod", "StatefulSet", "Job"]);
    let Some((call, args)) = open_call(before_quote) else {
        return default;
    };
    let (prev, idx) = args_so_far(&args);
    let f = call.rsplit("::").next().unwrap_or(&call);
    let is_k8s = call.starts_with("k8s::") || !call.contains("::");
    match (f, idx) {
        ("get" | "exists" | "list" | "patch" | "delete" | "wait_deleted", 0) if is_k8s => Want::Kind,
        ("get" | "exists" | "patch" | "delete" | "wait_deleted", 1) if is_k8s => match prev.first().cloned().flatten() {
            Some(kind) => Want::Names(vec![kind]),
            None => default,
        },
        ("logs" | "follow_logs", 1) => match prev.first().cloned().flatten() {
            Some(pod) => Want::Containers(pod),
            None => Want::Nothing,
        },
        ("logs" | "follow_logs" | "wait_pod_ready", 0) => names(&["Pod"]),
        ("replicas" | "scale" | "wait_ready" | "wait_rollout" | "rollout_restart", 0) => names(&["StatefulSet"]),
        ("wait_job", 0) => names(&["Job"]),
        ("create_job_from_cronjob", 0) => names(&["CronJob"]),
        ("secret", 0) => names(&["Secret"]),
        ("pvc_resize" | "wait_pvc_capacity", 0) => names(&["PersistentVolumeClaim"]),
        ("ns", 0) => Want::Namespace,
        (_, 0) => default,
        _ => Want::Nothing,
    }
}

/// Whether an entry is unfinished, so Enter continues it: the parser ran out of input
/// (`UnexpectedEOF`, or a `MissingToken` at the very end), or a backtick string is open.
pub fn is_incomplete(engine: &Engine, input: &str) -> bool {
    if input.trim_start().starts_with(':') || input.trim().is_empty() {
        return false;
    }
    match engine.compile(input) {
        Ok(_) => false,
        Err(e) => match e.err_type() {
            ParseErrorType::UnexpectedEOF => true,
            ParseErrorType::MissingToken(..) => at_end(input, e.position()),
            ParseErrorType::BadInput(LexError::UnterminatedString) => {
                // Only backtick strings may span lines.
                let b = input.as_bytes();
                let mut open = false;
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'\\' if open => i += 1,
                        b'`' => open = !open,
                        _ => {}
                    }
                    i += 1;
                }
                open
            }
            _ => false,
        },
    }
}

/// Whether a parse position is at (or past) the last non-blank character of the input.
fn at_end(input: &str, pos: rhai::Position) -> bool {
    let (Some(line), col) = (pos.line(), pos.position().unwrap_or(usize::MAX)) else {
        return true;
    };
    let t = input.trim_end();
    let last_line = t.lines().count().max(1);
    let last_col = t.lines().last().map(|l| l.chars().count()).unwrap_or(0);
    line > last_line || (line == last_line && col >= last_col)
}

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

/// An engine that only parses (no strict variables: names come from the session).
pub fn parser() -> Engine {
    let mut e = Engine::new_raw();
    e.set_max_expr_depths(128, 64);
    e
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

    fn incomplete(s: &str) -> bool {
        is_incomplete(&parser(), s)
    }

    #[test]
    fn unfinished_blocks_continue_and_finished_ones_do_not() {
        assert!(incomplete("fn ready(pod) {"));
        assert!(incomplete("if x > 1 {\n  print(x);"));
        assert!(incomplete("k8s::scale(\"vantiq\","));
        assert!(incomplete("let a = [1, 2,"));
        assert!(incomplete("let s = `line one"));
        assert!(!incomplete("fn ready(pod) { pod }"));
        assert!(!incomplete("k8s::replicas(\"vantiq\")"));
        assert!(!incomplete("let x = ;"));
        assert!(!incomplete(":doc k8s::scale"));
        assert!(!incomplete("let s = \"unterminated"));
        assert!(!incomplete("1 +* 2"));
        assert!(!incomplete(""));
    }

    #[test]
    fn analyze_finds_what_to_complete() {
        assert_eq!(analyze(":he", 3), (0, Want::Command));
        assert_eq!(analyze(":doc k8s::sc", 12), (5, Want::FnName));
        assert_eq!(analyze(":load scr", 9), (6, Want::Path));
        assert_eq!(analyze("k8s::sc", 7), (0, Want::Ident));
        assert_eq!(analyze("let n = k8s::rep", 16), (8, Want::Ident));
        let l = "k8s::follow_logs(\"van";
        assert_eq!(analyze(l, l.len()), (18, Want::Names(vec!["Pod".into()])));
        let l = "k8s::follow_logs(\"vantiq-0\", \"lo";
        assert_eq!(analyze(l, l.len()).1, Want::Containers("vantiq-0".into()));
        let l = "k8s::scale(\"v";
        assert_eq!(analyze(l, l.len()).1, Want::Names(vec!["StatefulSet".into()]));
        let l = "k8s::get(\"Sta";
        assert_eq!(analyze(l, l.len()).1, Want::Kind);
        let l = "k8s::get(\"Job\", \"mongo";
        assert_eq!(analyze(l, l.len()).1, Want::Names(vec!["Job".into()]));
        let l = "incident::pod(\"";
        assert_eq!(
            analyze(l, l.len()).1,
            Want::Names(vec!["Pod".into(), "StatefulSet".into(), "Job".into()])
        );
        let l = "let s = \"done\"; k8s::logs(\"";
        assert_eq!(analyze(l, l.len()).1, Want::Names(vec!["Pod".into()]));
    }

    #[test]
    fn open_call_finds_the_innermost_unclosed_call() {
        assert_eq!(
            open_call("k8s::scale(\"vantiq\", "),
            Some(("k8s::scale".into(), "\"vantiq\", ".into()))
        );
        assert_eq!(
            open_call("print(k8s::replicas(\"a(\")"),
            Some(("print".into(), "k8s::replicas(\"a(\")".into()))
        );
        assert_eq!(open_call("k8s::scale(\"vantiq\", 1)"), None);
        assert_eq!(open_call("let x = 1; "), None);
    }

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
