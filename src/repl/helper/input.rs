//! Reading the line being typed: what the word at the cursor is ([`Want`]: a command, a
//! name, a resource name inside a string argument, a property of a variable), which call
//! is still open (for the signature hint), and whether the entry is unfinished so that
//! Enter continues it.

use rhai::{Engine, LexError, ParseErrorType};

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
pub(super) fn args_so_far(args: &str) -> (Vec<Option<String>>, usize) {
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

/// An engine that only parses (no strict variables: names come from the session).
pub fn parser() -> Engine {
    let mut e = Engine::new_raw();
    e.set_max_expr_depths(128, 64);
    e
}

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
}
