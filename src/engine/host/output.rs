//! Where a run's progress goes (stderr) and what it may not show: the redactor.

use std::io::IsTerminal;
use std::sync::Mutex;

use serde_json::Value;

/// Replaces secret values (keys, tokens, license contents) with `***` in anything printed.
#[derive(Debug, Default)]
pub struct Redactor(Mutex<Vec<String>>);

impl Redactor {
    /// Registers a secret; short values (< 8 chars) are not registered, to avoid mangling output.
    pub fn add(&self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 8 {
            let mut v = self.0.lock().unwrap();
            if !v.iter().any(|x| x == s) {
                v.push(s.to_owned());
                v.sort_by_key(|x| std::cmp::Reverse(x.len()));
            }
        }
        // Multi-line secrets (PEM) are also registered line by line.
        if s.contains('\n') {
            for line in s.lines().filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
                self.add(line);
            }
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let v = self.0.lock().unwrap();
        let mut out = text.to_owned();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Redacts secrets inside a JSON value's strings.
    pub fn redact_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.redact_value(x)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, self.redact_value(x))).collect()),
            other => other,
        }
    }
}

/// Where progress goes (stderr) and how it looks.
#[derive(Debug)]
pub struct Output {
    pub color: bool,
    /// `--output json`: progress still goes to stderr, the report to stdout at the end.
    pub json: bool,
    pub quiet: bool,
    /// Secrets seen so far, never printed.
    pub secrets: Redactor,
    /// What is shown while a wait goes on.
    pub progress: super::progress::Progress,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            json: false,
            quiet: false,
            secrets: Redactor::default(),
            progress: super::progress::Progress::default(),
        }
    }
}

impl Output {
    /// Prints a progress line on stderr (secrets redacted). A closed stderr is ignored.
    pub fn say(&self, prefix: &str, color: &str, msg: &str) {
        if self.quiet {
            return;
        }
        let msg = self.secrets.redact(msg);
        // One write per line (stderr is unbuffered), around a live progress line.
        let line = if self.color && !color.is_empty() {
            format!("\x1b[{color}m{prefix}\x1b[0m {msg}")
        } else {
            format!("{prefix} {msg}")
        };
        super::progress::err_line(&line);
    }
}
