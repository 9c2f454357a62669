//! Editing one value in place: `set` replaces the bytes of one scalar (rendered in the
//! slot's style), or with `create` adds a missing key at the end of its parent mapping with
//! the parent's indentation. Each edit is checked by parsing the result again: the edited
//! document must equal the original with exactly the addressed value changed.

use serde_json::Value;

use super::scan::{Kind, Scan, ScanError, lookup, lookup_mut, parse};
use super::split_path;
use super::syntax::{Style, is_dash, render, render_key, unquote};
use super::{Edit, Scalar, YamlError};

/// Sets the scalar at `path` to `value`, changing only that value's bytes. With `create`,
/// a missing leaf key is added under its existing parent mapping.
pub fn set(file: &str, text: &str, path: &str, value: &Scalar, create: bool) -> Result<Edit, YamlError> {
    let segs = split_path(path)?;
    let docs = parse(file, text)?;
    let unsupported = |reason: String| YamlError::Unsupported {
        file: file.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let scan = Scan::new(text).map_err(|ScanError(ln, why)| unsupported(format!("cannot follow the layout at line {}: {why}", ln + 1)))?;
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };

    let found = scan.docs.iter().enumerate().find_map(|(i, d)| d.find(&segs).map(|n| (i, n)));
    let (doc_index, new_text, before, after, added) = if let Some((di, n)) = found {
        if let Some((kind, _)) = n.children {
            let what = if kind == Kind::Map { "a mapping" } else { "a list" };
            return Err(unsupported(format!("it is {what}; address one of its values")));
        }
        match n.style {
            Style::Block => {
                return Err(unsupported(
                    "it is a block scalar (`|` or `>`); edit the file with file::write".into(),
                ));
            }
            Style::Flow => return Err(unsupported("it is a flow collection; address one of its values".into())),
            Style::Multiline => return Err(unsupported("its value spans several lines".into())),
            Style::Alias => return Err(unsupported("its value is an alias (`*name`)".into())),
            _ => {}
        }
        let Some((s, e)) = n.span else {
            return Err(unsupported("its value has an anchor or tag and no text".into()));
        };
        let raw = &text[s..e];
        let before = if n.style == Style::Empty {
            String::new()
        } else {
            unquote(raw, n.style)
        };
        let orig_plain = (n.style == Style::Plain).then_some(raw);
        let mut rendered = render(value, n.style, orig_plain, n.in_flow);
        if n.style == Style::Empty && !n.in_flow {
            rendered = format!(" {rendered}");
        }
        let mut out = String::with_capacity(text.len() + rendered.len());
        out.push_str(&text[..s]);
        out.push_str(&rendered);
        out.push_str(&text[e..]);
        (di, out, Some(before), value.text(), false)
    } else {
        if !create {
            let mut hint = String::new();
            for k in (1..segs.len()).rev() {
                if scan.docs.iter().any(|d| d.find(&segs[..k]).is_some()) {
                    hint = format!(
                        " (`{}` exists but has no `{}`; pass #{{ create: true }} to add it)",
                        segs[..k].join("."),
                        segs[k]
                    );
                    break;
                }
            }
            if hint.is_empty() && segs.len() == 1 {
                hint = " (pass #{ create: true } to add it)".into();
            }
            return Err(YamlError::Missing {
                file: file.to_owned(),
                path: path.to_owned(),
                hint,
            });
        }
        let parent = &segs[..segs.len() - 1];
        let key = segs.last().unwrap();
        let (di, col, after_line) = if parent.is_empty() {
            let di = scan.docs.iter().position(|d| d.root.is_some()).unwrap_or(0);
            let d = &scan.docs[di];
            match d.root {
                Some((Kind::Map, c)) => (di, c, d.last_line.unwrap_or(0)),
                Some((Kind::Seq, _)) => return Err(unsupported("the document is a list".into())),
                None => return Err(unsupported("the document is empty".into())),
            }
        } else {
            let found = scan.docs.iter().enumerate().find_map(|(i, d)| d.find(parent).map(|n| (i, n)));
            let Some((di, p)) = found else {
                let shown = parent.join(".");
                return Err(YamlError::Missing {
                    file: file.to_owned(),
                    path: path.to_owned(),
                    hint: format!(" (nor its parent `{shown}`; only the last key is created)"),
                });
            };
            if p.in_flow {
                return Err(unsupported(format!("its parent `{}` is a flow mapping", parent.join("."))));
            }
            match (p.children, p.style) {
                (Some((Kind::Map, c)), _) => (di, c, p.end_line),
                (Some((Kind::Seq, _)), _) => return Err(unsupported(format!("its parent `{}` is a list", parent.join(".")))),
                (None, Style::Empty) if p.span.is_some() => {
                    let pcol = {
                        let ls = scan.line_starts[p.line];
                        let line = &text[ls..scan.line_starts[p.line + 1]];
                        // the key's column: where the path's last segment starts on its line
                        let indent = line.len() - line.trim_start_matches(' ').len();
                        let _ = p.span;
                        key_col(line, indent)
                    };
                    (di, pcol + scan.step, p.end_line)
                }
                _ => return Err(unsupported(format!("its parent `{}` is not a mapping", parent.join(".")))),
            }
        };
        let rendered = render(value, Style::Plain, None, false);
        let at = scan.line_starts.get(after_line + 1).copied().unwrap_or(text.len());
        let mut out = String::with_capacity(text.len() + 64);
        out.push_str(&text[..at]);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&" ".repeat(col));
        out.push_str(&render_key(key));
        out.push_str(": ");
        out.push_str(&rendered);
        out.push_str(nl);
        out.push_str(&text[at..]);
        (di, out, None, value.text(), true)
    };

    // The document the value is in, as the parser counts documents.
    let lookup_path = if added { &segs[..segs.len() - 1] } else { &segs[..] };
    let doc_index = docs.iter().position(|d| lookup(d, lookup_path).is_some()).unwrap_or(doc_index);
    // Check the edit: the result parses, holds the new value, and nothing else changed.
    let new_docs =
        parse(file, &new_text).map_err(|e| unsupported(format!("internal error: the edit would not parse ({e}); nothing written")))?;
    let check = || -> Option<()> {
        if new_docs.len() != docs.len() {
            return None;
        }
        let got = lookup(&new_docs[doc_index], &segs)?;
        let got_text = match got {
            Value::String(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Number(n) if n.is_f64() => {
                let raw = value.text();
                if raw.parse::<f64>().ok()? == n.as_f64()? {
                    raw
                } else {
                    n.to_string()
                }
            }
            other => other.to_string(),
        };
        if got_text != value.text() {
            return None;
        }
        let mut expected = docs.clone();
        if added {
            match lookup_mut(&mut expected[doc_index], &segs[..segs.len() - 1])? {
                Value::Object(m) => {
                    m.insert(segs.last()?.clone(), got.clone());
                }
                v @ Value::Null => {
                    let mut m = serde_json::Map::new();
                    m.insert(segs.last()?.clone(), got.clone());
                    *v = Value::Object(m);
                }
                _ => return None,
            }
        } else {
            *lookup_mut(&mut expected[doc_index], &segs)? = got.clone();
        }
        (expected == new_docs).then_some(())
    };
    if check().is_none() {
        return Err(unsupported(
            "internal error: the edit did not change exactly this value; nothing written".into(),
        ));
    }
    Ok(Edit {
        text: new_text,
        before,
        after,
        added,
    })
}

/// Column of the key on a line (after any `- ` sequence dashes).
fn key_col(line: &str, indent: usize) -> usize {
    let mut col = indent;
    let mut s = &line[indent..];
    while is_dash(s) {
        let after = &s[1..];
        let sp = after.len() - after.trim_start_matches([' ', '\t']).len();
        col += 1 + sp;
        s = &after[sp..];
    }
    col
}
