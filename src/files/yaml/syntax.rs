//! YAML's scalar syntax on one line, both ways: how a value is written ([`Style`]), where a
//! key, a quoted or a plain scalar ends, what a quoted scalar means, and how a new value is
//! written into an existing slot so that it keeps the slot's quoting and its type.

use super::Scalar;

/// How a value is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
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

/// Whether `s` (a line after its indentation) starts a list item.
pub(super) fn is_dash(s: &str) -> bool {
    s == "-" || s.starts_with("- ") || s.starts_with("-\t")
}

// ---------------------------------------------------------------------------------------
// reading

/// The key and the index of its `:` when `s` starts with `key:` (plain or quoted key).
pub(super) fn map_key_end(s: &str) -> Option<(String, usize)> {
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
pub(super) fn double_end(s: &str) -> Option<usize> {
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

/// Length of a single-quoted scalar at the start of `s` (including both quotes).
pub(super) fn single_end(s: &str) -> Option<usize> {
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
pub(super) fn plain_end(s: &str) -> usize {
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

/// The value of a double-quoted scalar's contents (between the quotes).
pub(super) fn unquote_double(s: &str) -> String {
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

/// The value of a scalar from its source text: quotes removed and escapes resolved.
pub(super) fn unquote(raw: &str, style: Style) -> String {
    match style {
        Style::Double if raw.len() >= 2 => unquote_double(&raw[1..raw.len() - 1]),
        Style::Single if raw.len() >= 2 => raw[1..raw.len() - 1].replace("''", "'"),
        _ => raw.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// writing

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

/// `s` as a double-quoted scalar.
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
pub(super) fn render(v: &Scalar, style: Style, orig: Option<&str>, in_flow: bool) -> String {
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

/// A key for a new `key: value` line, quoted when it must be.
pub(super) fn render_key(k: &str) -> String {
    if plain_safe(k, false) && !k.contains(':') && !k.contains('#') {
        k.to_owned()
    } else {
        double_quote(k)
    }
}
