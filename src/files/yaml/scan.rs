//! Reading a YAML file: the parse via serde-saphyr (values, and syntax errors with their
//! line:col), and a small scanner that finds where each node's value stands in the text.
//!
//! The scanner follows block mappings, block sequences and one-line flow collections line
//! by line and records, for every node, its path, its line, the byte span of its value and
//! how that value is written ([`Style`]). Block scalars and multi-line values are recognised
//! (so that their contents are skipped) but have no editable span.

use serde_json::Value;

use super::YamlError;
use super::syntax::{Style, double_end, is_dash, map_key_end, plain_end, single_end, unquote_double};

/// Parses every document of `text`; a syntax error carries line:col.
pub fn parse(file: &str, text: &str) -> Result<Vec<Value>, YamlError> {
    let docs: Result<Vec<Value>, serde_saphyr::Error> = serde_saphyr::from_multiple(text);
    docs.map_err(|e| {
        let reason = first_line(&e.to_string());
        match e.location() {
            Some(l) => YamlError::Malformed {
                file: file.to_owned(),
                line: l.line(),
                col: l.column(),
                reason,
            },
            None => YamlError::MalformedNoPos {
                file: file.to_owned(),
                reason,
            },
        }
    })
}

fn first_line(s: &str) -> String {
    let mut s = s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    s = s.strip_prefix("error: ").unwrap_or(s);
    if s.starts_with("line ")
        && let Some((_, rest)) = s.split_once(": ")
    {
        s = rest;
    }
    // serde-saphyr appends " at line X, column Y"; the position is reported separately.
    match s.find(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// The value at `path` (keys and list indices) in a parsed document.
pub(super) fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// [`lookup`], for changing the value.
pub(super) fn lookup_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg)?,
            Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

// ---------------------------------------------------------------------------------------
// the span scanner

/// A block collection: a mapping or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Map,
    Seq,
}

/// A mapping key or list item, and where its value stands.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) path: Vec<String>,
    /// 0-based line of the key (or dash).
    pub(super) line: usize,
    /// Byte span of the value (with quotes); for `Empty`, the empty span right after `:`.
    pub(super) span: Option<(usize, usize)>,
    pub(super) style: Style,
    /// Block children: their kind and column.
    pub(super) children: Option<(Kind, usize)>,
    /// Last content line of this node's subtree.
    pub(super) end_line: usize,
    pub(super) in_flow: bool,
}

/// An open block collection while scanning.
#[derive(Debug)]
struct Container {
    col: usize,
    kind: Kind,
    path: Vec<String>,
    owner: Option<usize>,
    next_index: usize,
}

/// The nodes of one document (`---` separates documents).
#[derive(Debug, Default)]
pub(super) struct Doc {
    pub(super) nodes: Vec<Node>,
    /// Column of the top-level keys.
    pub(super) root: Option<(Kind, usize)>,
    /// Last content line of the document.
    pub(super) last_line: Option<usize>,
}

impl Doc {
    pub(super) fn find(&self, path: &[String]) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path)
    }
}

/// A scanned file: its documents, where its lines start and its indentation step.
pub(super) struct Scan {
    pub(super) docs: Vec<Doc>,
    /// Byte offset where each line starts (plus one past the end).
    pub(super) line_starts: Vec<usize>,
    /// Smallest indentation step seen (default 2).
    pub(super) step: usize,
}

/// A key (or dash) with nothing after it, whose children may follow on the next lines.
struct Pending {
    node: usize,
    col: usize,
    map_key: bool,
}

/// A layout the scanner cannot follow: the 0-based line and why.
#[derive(Debug)]
pub(super) struct ScanError(pub(super) usize, pub(super) String);

impl Scan {
    pub(super) fn new(text: &str) -> Result<Scan, ScanError> {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        if *line_starts.last().unwrap() != text.len() {
            line_starts.push(text.len());
        }
        let mut st = State {
            docs: vec![Doc::default()],
            stack: vec![],
            pending: None,
            skip: None,
            step: usize::MAX,
        };
        for ln in 0..line_starts.len() - 1 {
            let start = line_starts[ln];
            let raw = &text[start..line_starts[ln + 1]];
            let line = raw.trim_end_matches(['\n', '\r']);
            st.line(text, ln, start, line)?;
        }
        let step = if st.step == usize::MAX { 2 } else { st.step };
        Ok(Scan {
            docs: st.docs,
            line_starts,
            step,
        })
    }
}

/// The scanner while it goes through the lines.
struct State {
    docs: Vec<Doc>,
    stack: Vec<Container>,
    pending: Option<Pending>,
    /// Lines indented deeper than `.1` belong to node `.0` (block scalar or continuation).
    skip: Option<(usize, usize)>,
    step: usize,
}

impl State {
    fn doc(&mut self) -> &mut Doc {
        self.docs.last_mut().unwrap()
    }

    fn touch(&mut self, ln: usize) {
        let owners: Vec<usize> = self.stack.iter().filter_map(|c| c.owner).collect();
        let doc = self.docs.last_mut().unwrap();
        for o in owners {
            doc.nodes[o].end_line = ln;
        }
        doc.last_line = Some(ln);
    }

    fn line(&mut self, text: &str, ln: usize, start: usize, line: &str) -> Result<(), ScanError> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let blank = rest.trim().is_empty();
        if let Some((node, col)) = self.skip {
            if blank {
                return Ok(());
            }
            if indent > col {
                let doc = self.docs.last_mut().unwrap();
                let n = &mut doc.nodes[node];
                n.end_line = ln;
                if n.style != Style::Block {
                    n.style = Style::Multiline;
                }
                self.touch(ln);
                return Ok(());
            }
            self.skip = None;
        }
        if blank || rest.starts_with('#') {
            return Ok(());
        }
        if indent == 0
            && (line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "..." || line.starts_with("... "))
        {
            let started = !self.doc().nodes.is_empty() || self.doc().root.is_some();
            // `---` starts a document (unless it opens the first); `...` ends one
            if started || line.starts_with("...") {
                self.docs.push(Doc::default());
            }
            self.stack.clear();
            self.pending = None;
            return Ok(());
        }
        if indent == 0 && rest.starts_with('%') {
            return Ok(());
        }
        if rest.starts_with('\t') {
            return Err(ScanError(ln, "tab used for indentation".into()));
        }
        self.content(text, ln, indent, start + indent, rest)
    }

    fn content(&mut self, text: &str, ln: usize, col: usize, abs: usize, s: &str) -> Result<(), ScanError> {
        let dash = is_dash(s);
        if let Some(p) = self.pending.take()
            && (col > p.col || (col == p.col && dash && p.map_key))
        {
            let kind = if dash { Kind::Seq } else { Kind::Map };
            let path = self.doc().nodes[p.node].path.clone();
            self.doc().nodes[p.node].children = Some((kind, col));
            if col > p.col {
                self.step = self.step.min(col - p.col);
            }
            self.stack.push(Container {
                col,
                kind,
                path,
                owner: Some(p.node),
                next_index: 0,
            });
        }
        while let Some(top) = self.stack.last() {
            if top.col > col || (top.col == col && top.kind == Kind::Seq && !dash) {
                self.stack.pop();
            } else {
                break;
            }
        }
        if self.stack.is_empty() {
            let kind = if dash { Kind::Seq } else { Kind::Map };
            if self.doc().root.is_some() && self.doc().root != Some((kind, col)) {
                return Err(ScanError(ln, "unexpected indentation".into()));
            }
            self.doc().root = Some((kind, col));
            self.stack.push(Container {
                col,
                kind,
                path: vec![],
                owner: None,
                next_index: 0,
            });
        }
        let top = self.stack.len() - 1;
        if self.stack[top].col != col {
            return Err(ScanError(ln, "unexpected indentation".into()));
        }
        self.touch(ln);
        self.entry(text, ln, top, col, abs, s)
    }

    fn entry(&mut self, text: &str, ln: usize, ci: usize, col: usize, abs: usize, s: &str) -> Result<(), ScanError> {
        match self.stack[ci].kind {
            Kind::Seq => {
                if !is_dash(s) {
                    return Err(ScanError(ln, "expected a list item".into()));
                }
                let idx = self.stack[ci].next_index;
                self.stack[ci].next_index += 1;
                let mut path = self.stack[ci].path.clone();
                path.push(idx.to_string());
                let node = self.new_node(path.clone(), ln);
                let after = &s[1..];
                let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
                let rest = &after[spaces..];
                let c2 = col + 1 + spaces;
                let a2 = abs + 1 + spaces;
                if rest.is_empty() || rest.starts_with('#') {
                    self.pending = Some(Pending { node, col, map_key: false });
                    return Ok(());
                }
                if is_dash(rest) || map_key_end(rest).is_some() {
                    let kind = if is_dash(rest) { Kind::Seq } else { Kind::Map };
                    self.doc().nodes[node].children = Some((kind, c2));
                    self.stack.push(Container {
                        col: c2,
                        kind,
                        path,
                        owner: Some(node),
                        next_index: 0,
                    });
                    let ci2 = self.stack.len() - 1;
                    return self.entry(text, ln, ci2, c2, a2, rest);
                }
                self.value(text, node, col, a2, rest);
                Ok(())
            }
            Kind::Map => {
                if s.starts_with('?') {
                    return Err(ScanError(ln, "complex keys (`? `) are not supported".into()));
                }
                let (key, colon) = map_key_end(s).ok_or_else(|| ScanError(ln, "expected `key: value`".into()))?;
                let mut path = self.stack[ci].path.clone();
                path.push(key);
                let node = self.new_node(path, ln);
                let after = &s[colon + 1..];
                let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
                let rest = &after[spaces..];
                let vabs = abs + colon + 1 + spaces;
                if rest.is_empty() || rest.starts_with('#') {
                    let at = abs + colon + 1;
                    let n = &mut self.doc().nodes[node];
                    n.style = Style::Empty;
                    n.span = Some((at, at));
                    self.pending = Some(Pending { node, col, map_key: true });
                    return Ok(());
                }
                self.value(text, node, col, vabs, rest);
                Ok(())
            }
        }
    }

    fn new_node(&mut self, path: Vec<String>, ln: usize) -> usize {
        let doc = self.doc();
        doc.nodes.push(Node {
            path,
            line: ln,
            span: None,
            style: Style::Empty,
            children: None,
            end_line: ln,
            in_flow: false,
        });
        doc.nodes.len() - 1
    }

    /// A value that starts on the key's line at `abs` (`s` runs to the end of the line).
    fn value(&mut self, text: &str, node: usize, col: usize, abs: usize, s: &str) {
        let _ = text;
        // Anchors and tags before the value.
        let mut s = s;
        let mut abs = abs;
        while s.starts_with('&') || s.starts_with('!') {
            let end = s.find([' ', '\t']).unwrap_or(s.len());
            let after = &s[end..];
            let sp = after.len() - after.trim_start().len();
            abs += end + sp;
            s = &s[end + sp..];
        }
        if s.is_empty() || s.starts_with('#') {
            let n = &mut self.doc().nodes[node];
            n.style = Style::Empty;
            // Not editable in place (anchor/tag before an empty value).
            n.span = None;
            self.pending = Some(Pending { node, col, map_key: true });
            return;
        }
        let path = self.doc().nodes[node].path.clone();
        let (style, len) = match s.as_bytes()[0] {
            b'|' | b'>' => (Style::Block, s.len()),
            b'"' => match double_end(s) {
                Some(e) => (Style::Double, e),
                None => (Style::Multiline, s.len()),
            },
            b'\'' => match single_end(s) {
                Some(e) => (Style::Single, e),
                None => (Style::Multiline, s.len()),
            },
            b'{' | b'[' => {
                let mut flow_nodes = Vec::new();
                match flow_value(s, 0, abs, &path, &mut flow_nodes) {
                    Some(e) => {
                        let ln = self.doc().nodes[node].line;
                        for mut f in flow_nodes {
                            f.line = ln;
                            f.end_line = ln;
                            self.doc().nodes.push(f);
                        }
                        (Style::Flow, e)
                    }
                    None => (Style::Multiline, s.len()),
                }
            }
            b'*' => (Style::Alias, plain_end(s)),
            _ => (Style::Plain, plain_end(s)),
        };
        let n = &mut self.doc().nodes[node];
        n.style = style;
        n.span = Some((abs, abs + len));
        self.skip = Some((node, col));
    }
}

/// Parses a one-line flow collection starting at `s[i]`; pushes nodes for its entries.
/// Returns the index just past the closing bracket.
fn flow_value(s: &str, i: usize, abs: usize, path: &[String], out: &mut Vec<Node>) -> Option<usize> {
    let b = s.as_bytes();
    let close = if b[i] == b'{' { b'}' } else { b']' };
    let is_map = b[i] == b'{';
    let mut p = i + 1;
    let mut index = 0usize;
    let ws = |p: &mut usize| {
        while *p < b.len() && (b[*p] == b' ' || b[*p] == b'\t') {
            *p += 1;
        }
    };
    loop {
        ws(&mut p);
        if p >= b.len() {
            return None;
        }
        if b[p] == close {
            return Some(p + 1);
        }
        let key = if is_map {
            let (k, kend) = match b[p] {
                b'"' => {
                    let e = double_end(&s[p..])? + p;
                    (unquote_double(&s[p + 1..e - 1]), e)
                }
                b'\'' => {
                    let e = single_end(&s[p..])? + p;
                    (s[p + 1..e - 1].replace("''", "'"), e)
                }
                _ => {
                    let mut e = p;
                    while e < b.len() && b[e] != b':' && b[e] != b',' && b[e] != close {
                        e += 1;
                    }
                    (s[p..e].trim_end().to_owned(), e)
                }
            };
            p = kend;
            ws(&mut p);
            if p >= b.len() || b[p] != b':' {
                return None;
            }
            p += 1;
            ws(&mut p);
            k
        } else {
            index += 1;
            (index - 1).to_string()
        };
        let mut npath = path.to_vec();
        npath.push(key);
        if p >= b.len() {
            return None;
        }
        let (style, end) = match b[p] {
            b'{' | b'[' => (Style::Flow, flow_value(s, p, abs, &npath, out)?),
            b'"' => (Style::Double, double_end(&s[p..])? + p),
            b'\'' => (Style::Single, single_end(&s[p..])? + p),
            c if c == b',' || c == close => (Style::Empty, p),
            _ => {
                let mut e = p;
                while e < b.len() && b[e] != b',' && b[e] != close {
                    e += 1;
                }
                (Style::Plain, p + s[p..e].trim_end().len())
            }
        };
        out.push(Node {
            path: npath,
            line: 0,
            span: Some((abs + p, abs + end)),
            style,
            children: None,
            end_line: 0,
            in_flow: true,
        });
        p = end;
        ws(&mut p);
        if p >= b.len() {
            return None;
        }
        if b[p] == b',' {
            p += 1;
        } else if b[p] == close {
            return Some(p + 1);
        } else {
            return None;
        }
    }
}
