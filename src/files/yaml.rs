//! `yaml`: read values with serde-saphyr, and edit one scalar of a YAML file in place.
//!
//! Rhai maps are `BTreeMap`s, so a load-and-dump would re-sort keys and drop comments.
//! Instead a small scanner locates the byte span of the addressed value (block mappings,
//! block sequences, one-line flow mappings) and only that span is replaced; every other
//! byte of the file stays as it was. Each edit is checked by parsing the result again:
//! the edited document must equal the original with exactly the addressed value changed.

use serde_json::Value;

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

// ---------------------------------------------------------------------------------------
// paths

/// Splits `a.b[0]["c.d"].e` into segments.
pub fn split_path(path: &str) -> Result<Vec<String>, YamlError> {
    let bad = || YamlError::BadPath(path.to_owned());
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    let mut cur = String::new();
    let mut after_bracket = false;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if cur.is_empty() && !after_bracket {
                    return Err(bad());
                }
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                after_bracket = false;
                i += 1;
            }
            b'[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let close = path[i..].find(']').ok_or_else(bad)? + i;
                let inner = path[i + 1..close].trim();
                let seg = if (inner.starts_with('"') && inner.ends_with('"') || inner.starts_with('\'') && inner.ends_with('\''))
                    && inner.len() >= 2
                {
                    inner[1..inner.len() - 1].to_owned()
                } else if !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_digit()) {
                    inner.to_owned()
                } else {
                    return Err(bad());
                };
                out.push(seg);
                after_bracket = true;
                i = close + 1;
            }
            _ => {
                if after_bracket {
                    return Err(bad());
                }
                let ch = path[i..].chars().next().unwrap();
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    } else if !after_bracket {
        return Err(bad());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// parsing (serde-saphyr)

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

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
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

fn lookup_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
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

// ---------------------------------------------------------------------------------------
// the span scanner

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Double,
    Single,
    /// `key:` with nothing after it (null, or a parent of block children).
    Empty,
    Block,
    Flow,
    Alias,
    Multiline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

#[derive(Debug, Clone)]
struct Node {
    path: Vec<String>,
    /// 0-based line of the key (or dash).
    line: usize,
    /// Byte span of the value (with quotes); for `Empty`, the empty span right after `:`.
    span: Option<(usize, usize)>,
    style: Style,
    /// Block children: their kind and column.
    children: Option<(Kind, usize)>,
    /// Last content line of this node's subtree.
    end_line: usize,
    in_flow: bool,
}

#[derive(Debug)]
struct Container {
    col: usize,
    kind: Kind,
    path: Vec<String>,
    owner: Option<usize>,
    next_index: usize,
}

#[derive(Debug, Default)]
struct Doc {
    nodes: Vec<Node>,
    /// Column of the top-level keys.
    root: Option<(Kind, usize)>,
    /// Last content line of the document.
    last_line: Option<usize>,
}

impl Doc {
    fn find(&self, path: &[String]) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path)
    }
}

struct Scan {
    docs: Vec<Doc>,
    /// Byte offset where each line starts (plus one past the end).
    line_starts: Vec<usize>,
    /// Smallest indentation step seen (default 2).
    step: usize,
}

struct Pending {
    node: usize,
    col: usize,
    map_key: bool,
}

#[derive(Debug)]
struct ScanError(usize, String);

impl Scan {
    fn new(text: &str) -> Result<Scan, ScanError> {
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

struct State {
    docs: Vec<Doc>,
    stack: Vec<Container>,
    pending: Option<Pending>,
    /// Lines indented deeper than `.1` belong to node `.0` (block scalar or continuation).
    skip: Option<(usize, usize)>,
    step: usize,
}

fn is_dash(s: &str) -> bool {
    s == "-" || s.starts_with("- ") || s.starts_with("-\t")
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

/// The key and the index of its `:` when `s` starts with `key:` (plain or quoted key).
fn map_key_end(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let (key, after) = match b.first()? {
        b'"' => {
            let e = double_end(s)?;
            (unquote_double(&s[1..e - 1]), e)
        }
        b'\'' => {
            let e = single_end(s)?;
            (s[1..e - 1].replace("''", "'"), e)
        }
        b'-' if is_dash(s) => return None,
        b'#' | b'[' | b'{' | b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' => return None,
        _ => {
            let mut i = 0;
            loop {
                let j = s[i..].find(':')? + i;
                let next = b.get(j + 1).copied();
                if next.is_none() || next == Some(b' ') || next == Some(b'\t') {
                    if s[..j].contains(" #") {
                        return None;
                    }
                    return Some((s[..j].trim_end().to_owned(), j));
                }
                i = j + 1;
            }
        }
    };
    let rest = &s[after..];
    let sp = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let c = after + sp;
    if b.get(c) == Some(&b':') && matches!(b.get(c + 1), None | Some(b' ') | Some(b'\t')) {
        Some((key, c))
    } else {
        None
    }
}

/// Length of a double-quoted scalar at the start of `s` (including both quotes).
fn double_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn single_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Length of a plain scalar: up to ` #` or the end of the line, trailing blanks trimmed.
fn plain_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut end = s.len();
    for i in 1..b.len() {
        if b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            end = i;
            break;
        }
    }
    s[..end].trim_end().len()
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

fn unquote_double(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

fn unquote(raw: &str, style: Style) -> String {
    match style {
        Style::Double if raw.len() >= 2 => unquote_double(&raw[1..raw.len() - 1]),
        Style::Single if raw.len() >= 2 => raw[1..raw.len() - 1].replace("''", "'"),
        _ => raw.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// rendering

/// Whether a plain scalar with this text would be read as something other than a string.
fn resolves_non_string(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    if matches!(
        l.as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | "-.inf" | "+.inf" | ".nan"
    ) {
        return true;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if t.starts_with("0x") || t.starts_with("0o") {
        return t.len() > 2 && t[2..].bytes().all(|c| c.is_ascii_hexdigit() || c == b'_');
    }
    // int or float (digits, one dot, exponent, underscores)
    let mut digits = false;
    let mut ok = true;
    let mut seen_e = false;
    let mut seen_dot = false;
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || c == b'_' {
            digits |= c.is_ascii_digit();
        } else if c == b'.' && !seen_dot && !seen_e {
            seen_dot = true;
        } else if (c == b'e' || c == b'E') && digits && !seen_e {
            seen_e = true;
            if matches!(b.get(i + 1), Some(b'+') | Some(b'-')) {
                i += 1;
            }
        } else {
            ok = false;
            break;
        }
        i += 1;
    }
    ok && digits
}

/// Whether `s` can be written as a plain scalar without changing its meaning syntactically.
fn plain_safe(s: &str, in_flow: bool) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
        // `-x` and `:x` are fine in YAML 1.2, but keep it simple and unambiguous
        if !(first == b'-' && s.len() > 1 && s.as_bytes()[1] != b' ') {
            return false;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if in_flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    true
}

fn double_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders `v` for a slot of the given style; `orig` is the slot's current plain text.
fn render(v: &Scalar, style: Style, orig: Option<&str>, in_flow: bool) -> String {
    let text = v.text();
    match style {
        Style::Double => double_quote(&text),
        Style::Single if !text.chars().any(|c| c.is_control()) => format!("'{}'", text.replace('\'', "''")),
        Style::Single => double_quote(&text),
        _ => match v {
            Scalar::Str(s) => {
                let orig_non_string = orig.is_some_and(|o| !o.is_empty() && resolves_non_string(o));
                if plain_safe(s, in_flow) && (!resolves_non_string(s) || orig_non_string) {
                    s.clone()
                } else {
                    double_quote(s)
                }
            }
            _ => text,
        },
    }
}

fn render_key(k: &str) -> String {
    if plain_safe(k, false) && !k.contains(':') && !k.contains('#') {
        k.to_owned()
    } else {
        double_quote(k)
    }
}

// ---------------------------------------------------------------------------------------
// editing

/// Whether `path` exists in some document.
pub fn has(file: &str, text: &str, path: &str) -> Result<bool, YamlError> {
    Ok(get(file, text, path)?.is_some())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scalar {
        Scalar::Str(v.into())
    }

    #[test]
    fn split_path_handles_dots_brackets_and_indices() {
        assert_eq!(split_path("a.b.c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_path("a[0].b").unwrap(), ["a", "0", "b"]);
        assert_eq!(split_path("a[\"x.y\"].z").unwrap(), ["a", "x.y", "z"]);
        assert!(split_path("a..b").is_err());
        assert!(split_path("").is_err());
    }

    #[test]
    fn set_replaces_plain_value_and_keeps_comment() {
        let t = "a:\n  b: 1.2.3   # the tag\n  c: x\n";
        let e = set("f", t, "a.b", &s("1.2.4"), false).unwrap();
        assert_eq!(e.text, "a:\n  b: 1.2.4   # the tag\n  c: x\n");
        assert_eq!(e.before.as_deref(), Some("1.2.3"));
    }

    #[test]
    fn set_keeps_quote_styles() {
        let t = "a: \"1\"\nb: '2'\nc: 3\n";
        let e = set("f", t, "a", &s("x\"y"), false).unwrap();
        assert_eq!(e.text, "a: \"x\\\"y\"\nb: '2'\nc: 3\n");
        let e = set("f", t, "b", &s("it's"), false).unwrap();
        assert_eq!(e.text, "a: \"1\"\nb: 'it''s'\nc: 3\n");
        let e = set("f", t, "c", &Scalar::Int(4), false).unwrap();
        assert_eq!(e.text, "a: \"1\"\nb: '2'\nc: 4\n");
    }

    #[test]
    fn set_quotes_strings_that_would_change_type() {
        let t = "a: hello\n";
        assert_eq!(set("f", t, "a", &s("true"), false).unwrap().text, "a: \"true\"\n");
        assert_eq!(set("f", t, "a", &s("a: b"), false).unwrap().text, "a: \"a: b\"\n");
        // a version-looking float stays plain when it was plain
        let t = "tag: 1.30\n";
        assert_eq!(set("f", t, "tag", &s("1.31"), false).unwrap().text, "tag: 1.31\n");
        assert_eq!(get("f", t, "tag").unwrap(), Some(Value::String("1.30".into())));
    }

    #[test]
    fn set_fills_empty_value_and_keeps_its_comment() {
        let t = "a:\n  b: # empty\n  c: 1\n";
        assert_eq!(set("f", t, "a.b", &s("x"), false).unwrap().text, "a:\n  b: x # empty\n  c: 1\n");
    }

    #[test]
    fn set_inside_lists_and_flow_mappings() {
        let t = "items:\n- name: a\n  image: {repo: r, tag: \"1\"}\n- name: b\n  image: { repo: r, tag: 2 }\n";
        let e = set("f", t, "items[1].image.tag", &Scalar::Int(3), false).unwrap();
        assert_eq!(
            e.text,
            "items:\n- name: a\n  image: {repo: r, tag: \"1\"}\n- name: b\n  image: { repo: r, tag: 3 }\n"
        );
        let e = set("f", t, "items.0.image.tag", &s("9"), false).unwrap();
        assert_eq!(
            e.text,
            "items:\n- name: a\n  image: {repo: r, tag: \"9\"}\n- name: b\n  image: { repo: r, tag: 2 }\n"
        );
    }

    #[test]
    fn set_skips_block_scalars_and_refuses_to_edit_them() {
        let t = "a: |\n  b: 1\n  {{- if .Values.x }}\nb: 1\n";
        let e = set("f", t, "b", &Scalar::Int(2), false).unwrap();
        assert_eq!(e.text, "a: |\n  b: 1\n  {{- if .Values.x }}\nb: 2\n");
        assert!(set("f", t, "a", &s("x"), false).unwrap_err().to_string().contains("block scalar"));
    }

    #[test]
    fn set_missing_path_fails_and_create_appends_under_parent() {
        let t = "a:\n    b: 1\n    c:\n        d: 2\n# trailing\nz: 0\n";
        let err = set("deploy.yaml", t, "a.x", &s("v"), false).unwrap_err().to_string();
        assert!(err.contains("`deploy.yaml` has no `a.x`"), "{err}");
        let e = set("f", t, "a.x", &s("v"), true).unwrap();
        assert_eq!(e.text, "a:\n    b: 1\n    c:\n        d: 2\n    x: v\n# trailing\nz: 0\n");
        assert!(e.added);
        let e = set("f", t, "a.c.e", &Scalar::Bool(true), true).unwrap();
        assert_eq!(e.text, "a:\n    b: 1\n    c:\n        d: 2\n        e: true\n# trailing\nz: 0\n");
        assert!(set("f", t, "q.r", &s("v"), true).is_err());
    }

    #[test]
    fn set_refuses_mappings_and_malformed_yaml() {
        let t = "a:\n  b: 1\n";
        assert!(set("f", t, "a", &s("x"), false).unwrap_err().to_string().contains("mapping"));
        let bad = "a:\n  b: 1\n c: [\n";
        let err = set("f", bad, "a.b", &s("x"), false).unwrap_err().to_string();
        assert!(err.contains("malformed YAML at"), "{err}");
    }

    #[test]
    fn multi_document_files_are_addressed_in_order() {
        let t = "a: 1\n---\nb: 2\n";
        assert_eq!(set("f", t, "b", &Scalar::Int(3), false).unwrap().text, "a: 1\n---\nb: 3\n");
        assert_eq!(get("f", t, "b").unwrap(), Some(serde_json::json!(2)));
    }

    #[test]
    fn quoted_keys_and_crlf() {
        let t = "\"a.b\": 1\r\n'c': x\r\n";
        assert_eq!(
            set("f", t, "[\"a.b\"]", &Scalar::Int(2), false).unwrap().text,
            "\"a.b\": 2\r\n'c': x\r\n"
        );
        assert_eq!(set("f", t, "c", &s("yz"), false).unwrap().text, "\"a.b\": 1\r\n'c': yz\r\n");
    }

    /// The commented fixture with exactly one value edited, compared as whole files.
    mod fixture {
        use super::*;

        const DEPLOY: &str = include_str!("../../tests/fixtures/files/deploy.yaml");

        /// `DEPLOY` with `old` (which must occur exactly once) replaced by `new`.
        fn expect(old: &str, new: &str) -> String {
            assert_eq!(DEPLOY.matches(old).count(), 1, "fixture snippet `{old}` must be unique");
            DEPLOY.replacen(old, new, 1)
        }

        fn edit(path: &str, v: Scalar) -> String {
            set("deploy.yaml", DEPLOY, path, &v, false)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .text
        }

        #[test]
        fn each_image_tag_is_edited_alone() {
            assert_eq!(
                edit("vantiq.image.tag", s("1.40.0")),
                expect("    tag: 1.39.7               # bump", "    tag: 1.40.0               # bump")
            );
            assert_eq!(
                edit("vantiq.metricsCollector.image.tag", s("1.40.0")),
                expect("      tag: \"1.39.7\"   # keep", "      tag: \"1.40.0\"   # keep")
            );
            assert_eq!(
                edit("vantiq.visionAnalytics.image.tag", s("1.40.0")),
                expect("tag: '1.39.3' }", "tag: '1.40.0' }")
            );
            assert_eq!(
                edit("mongodb.image.tag", s("5.0.1")),
                expect("tag: 4.4.29        #", "tag: 5.0.1        #")
            );
            assert_eq!(
                edit("grafana.image.tag", s("10.0.0")),
                expect("        tag: '9.5.21'", "        tag: '10.0.0'")
            );
            assert_eq!(
                edit("influxdb.image.tag", s("1.8.11")),
                expect("    tag: 1.8.10\n", "    tag: 1.8.11\n")
            );
            assert_eq!(
                edit("overrides.keycloak.image.tag", s("23.0.0")),
                expect("tag: 22.0.5", "tag: 23.0.0")
            );
        }

        #[test]
        fn other_values_keep_their_style() {
            assert_eq!(
                edit("vantiq.resources.limits.cpu", Scalar::Int(6)),
                expect("cpu:        \"4\"", "cpu:        \"6\"")
            );
            assert_eq!(
                edit("vantiq.replicas", Scalar::Int(1)),
                expect("replicas: 3                 #", "replicas: 1                 #")
            );
            assert_eq!(
                edit("vantiq.env[1].value", s("debug")),
                expect("value: info   # debug only", "value: debug   # debug only")
            );
            assert_eq!(edit("vantiq.env.2.value", s("x")), expect("        value:\n", "        value: x\n"));
            assert_eq!(
                edit(
                    "vantiq.ingress.annotations[\"nginx.ingress.kubernetes.io/proxy-body-size\"]",
                    s("100m")
                ),
                expect("proxy-body-size\": 50m", "proxy-body-size\": 100m")
            );
            assert_eq!(edit("nginx.enabled", Scalar::Bool(false)), expect("enabled: yes", "enabled: false"));
            assert_eq!(
                edit("mongodb.backup.schedule", s("0 4 * * *")),
                expect("schedule: \"0 3 * * *\"", "schedule: \"0 4 * * *\"")
            );
            assert_eq!(
                edit("vantiq.ingress.host", s("vantiq.acme.example.org")),
                expect("host: 'vantiq.acme.example.com'", "host: 'vantiq.acme.example.org'")
            );
        }

        #[test]
        fn create_appends_under_the_parent_with_its_indentation() {
            let e = set("deploy.yaml", DEPLOY, "vantiq.image.digest", &s("sha256:abc"), true).unwrap();
            assert!(e.added);
            assert_eq!(
                e.text,
                expect(
                    "    pullPolicy: IfNotPresent\n",
                    "    pullPolicy: IfNotPresent\n    digest: sha256:abc\n"
                )
            );
            let e = set("deploy.yaml", DEPLOY, "grafana.image.pullPolicy", &s("Always"), true).unwrap();
            assert_eq!(
                e.text,
                expect("        tag: '9.5.21'\n", "        tag: '9.5.21'\n        pullPolicy: Always\n")
            );
            // an existing key is edited, not added, even with create
            let e = set("deploy.yaml", DEPLOY, "mongodb.image.tag", &s("5.0.1"), true).unwrap();
            assert!(!e.added);
        }

        #[test]
        fn get_reads_values_and_templates() {
            assert_eq!(
                get("deploy.yaml", DEPLOY, "vantiq.image.tag").unwrap(),
                Some(Value::String("1.39.7".into()))
            );
            assert_eq!(get("deploy.yaml", DEPLOY, "vantiq.replicas").unwrap(), Some(serde_json::json!(3)));
            assert_eq!(
                get("deploy.yaml", DEPLOY, "vantiq.visionAnalytics.image.tag").unwrap(),
                Some(Value::String("1.39.3".into()))
            );
            let tpl = get("deploy.yaml", DEPLOY, "vantiq.configTemplate").unwrap().unwrap();
            assert!(
                tpl.as_str()
                    .unwrap()
                    .starts_with("{{- if .Values.vantiq.metricsCollector.enabled }}\n")
            );
            assert_eq!(
                get("deploy.yaml", DEPLOY, "overrides[\"vantiq.image.tag\"]").unwrap(),
                Some(Value::String("ignored-here".into()))
            );
            assert_eq!(get("deploy.yaml", DEPLOY, "vantiq.image.nope").unwrap(), None);
            assert!(get("deploy.yaml", DEPLOY, "vantiq.image").unwrap().unwrap().is_object());
            assert!(has("deploy.yaml", DEPLOY, "overrides.keycloak").unwrap());
        }

        /// Every leaf of the fixture can be set alone: exactly one line changes (block
        /// scalars are refused), and the edit reads back.
        #[test]
        fn every_leaf_is_editable_alone() {
            fn leaves(v: &Value, path: String, out: &mut Vec<String>) {
                match v {
                    Value::Object(m) => {
                        for (k, x) in m {
                            let seg = if k.contains('.') { format!("[\"{k}\"]") } else { format!(".{k}") };
                            leaves(x, format!("{path}{seg}"), out);
                        }
                    }
                    Value::Array(a) => {
                        for (i, x) in a.iter().enumerate() {
                            leaves(x, format!("{path}[{i}]"), out);
                        }
                    }
                    _ => out.push(path.trim_start_matches('.').to_owned()),
                }
            }
            let mut paths = vec![];
            for d in parse("deploy.yaml", DEPLOY).unwrap() {
                leaves(&d, String::new(), &mut paths);
            }
            assert!(paths.len() > 30, "{paths:?}");
            let mut edited = 0;
            for p in &paths {
                match set("deploy.yaml", DEPLOY, p, &s("zz-new"), false) {
                    Ok(e) => {
                        let changed: Vec<_> = DEPLOY.lines().zip(e.text.lines()).filter(|(a, b)| a != b).collect();
                        assert_eq!(changed.len(), 1, "{p}: {changed:?}");
                        assert_eq!(DEPLOY.lines().count(), e.text.lines().count(), "{p}");
                        assert_eq!(get("deploy.yaml", &e.text, p).unwrap(), Some(Value::String("zz-new".into())), "{p}");
                        edited += 1;
                    }
                    Err(e) => assert!(e.to_string().contains("block scalar"), "{p}: {e}"),
                }
            }
            assert_eq!(edited, paths.len() - 2);
        }

        #[test]
        fn errors_name_the_file_and_path() {
            let e = set("deploy.yaml", DEPLOY, "vantiq.image.tga", &s("1"), false)
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                "`deploy.yaml` has no `vantiq.image.tga` (`vantiq.image` exists but has no `tga`; pass #{ create: true } to add it)"
            );
            let e = set("deploy.yaml", DEPLOY, "vantiq.configTemplate", &s("x"), false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("block scalar"), "{e}");
            let e = set("deploy.yaml", DEPLOY, "vantiq.notes", &s("x"), false).unwrap_err().to_string();
            assert!(e.contains("block scalar"), "{e}");
            let e = set("deploy.yaml", DEPLOY, "vantiq.image", &s("x"), false).unwrap_err().to_string();
            assert!(e.contains("is a mapping"), "{e}");
            let broken = DEPLOY.replacen("    pullPolicy: IfNotPresent", "    pullPolicy: [IfNotPresent", 1);
            let e = set("deploy.yaml", &broken, "vantiq.image.tag", &s("1"), false)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("`deploy.yaml`: malformed YAML at "), "{e}");
            let bad_indent = DEPLOY.replacen("    pullPolicy: IfNotPresent", "   pullPolicy: IfNotPresent", 1);
            let e = get("deploy.yaml", &bad_indent, "vantiq.image.tag").unwrap_err().to_string();
            assert!(e.contains("malformed YAML at 14:"), "{e}");
        }
    }
}
