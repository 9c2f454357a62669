//! `yaml`: read values with serde-saphyr, and edit one scalar of a YAML file in place.
//!
//! Rhai maps are `BTreeMap`s, so a load-and-dump would re-sort keys and drop comments.
//! Instead a small scanner locates the byte span of the addressed value (block mappings,
//! block sequences, one-line flow mappings) and only that span is replaced; every other
//! byte of the file stays as it was. Each edit is checked by parsing the result again:
//! the edited document must equal the original with exactly the addressed value changed.
//!
//! The parts: `path` splits `a.b[0]` into segments, `scan` parses (serde-saphyr) and
//! locates each node's byte span, `syntax` reads and writes scalars on one line, and
//! `edit` carries out and checks one change; this module is the API the crate uses.

mod edit;
mod path;
mod scan;
mod syntax;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use edit::set;
pub use path::split_path;
pub use scan::parse;

use scan::{Scan, lookup};
use syntax::unquote;

/// Why a YAML read or edit failed.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("`{file}`: malformed YAML at {line}:{col}: {reason}")]
    Malformed { file: String, line: u64, col: u64, reason: String },
    #[error("`{file}`: malformed YAML: {reason}")]
    MalformedNoPos { file: String, reason: String },
    #[error("`{file}` has no `{path}`{hint}")]
    Missing { file: String, path: String, hint: String },
    #[error("`{file}`: cannot set `{path}`: {reason}")]
    Unsupported { file: String, path: String, reason: String },
    #[error(
        "invalid YAML path `{0}`: use dotted keys like `vantiq.image.tag` (`a[0]` or `a.0` for list items, `a[\"x.y\"]` for keys with dots)"
    )]
    BadPath(String),
}

/// A value to write into a YAML scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Scalar {
    /// The text the value has in YAML, before any quoting.
    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format_float(*f),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".into(),
        }
    }
}

fn format_float(f: f64) -> String {
    let s = f.to_string();
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// The outcome of `set`: the new text and what changed.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    /// The value's source text before (without quotes), `None` when the key was added.
    pub before: Option<String>,
    /// The value's source text after (without quotes).
    pub after: String,
    pub added: bool,
}

/// The value at `path` in the first document that has it; `None` when absent.
/// Plain scalars that YAML reads as floats (`tag: 1.30`) come back as their source text.
pub fn get(file: &str, text: &str, path: &str) -> Result<Option<Value>, YamlError> {
    let segs = split_path(path)?;
    let docs = parse(file, text)?;
    for (i, d) in docs.iter().enumerate() {
        if let Some(v) = lookup(d, &segs) {
            // Keep `1.30` as written rather than 1.3.
            if v.is_f64()
                && let Ok(scan) = Scan::new(text)
                && let Some(n) = scan.docs.get(i).and_then(|d| d.find(&segs))
                && let Some((s, e)) = n.span
            {
                return Ok(Some(Value::String(unquote(&text[s..e], n.style))));
            }
            return Ok(Some(v.clone()));
        }
    }
    Ok(None)
}

/// Whether `path` exists in some document.
pub fn has(file: &str, text: &str, path: &str) -> Result<bool, YamlError> {
    Ok(get(file, text, path)?.is_some())
}
