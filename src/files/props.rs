//! `props`: Java `.properties` files (`cluster.properties`), read and edited in place.
//!
//! The parser follows `java.util.Properties.load`: `#`/`!` comments, `=`/`:`/whitespace
//! separators, backslash continuation lines and escapes. An edit replaces the byte span of
//! one value; comments, blank lines, separators and order stay as they are. A missing key
//! is appended at the end (new releases add keys to `cluster.properties`).

use std::collections::BTreeMap;

/// Why a properties edit failed.
#[derive(Debug, thiserror::Error)]
pub enum PropsError {
    #[error("`{file}` has no property `{key}`")]
    Missing { file: String, key: String },
    #[error("invalid property key `{0}`: it must not be empty")]
    BadKey(String),
    #[error("malformed \\uxxxx escape at line {line}, column {col}: `{text}` (Java refuses to load this file)")]
    Malformed { line: usize, col: usize, text: String },
}

/// Checks a file the way `java.util.Properties.load` would: a `\u` escape needs four hex
/// digits. (Everything else in a properties file parses.)
pub fn validate(text: &str) -> Result<(), PropsError> {
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') || line.trim_start().starts_with('!') {
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                if b.get(i + 1) == Some(&b'u') {
                    let hex = line.get(i + 2..i + 6).unwrap_or("");
                    if hex.len() != 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        let end = (i + 6).min(line.len());
                        return Err(PropsError::Malformed {
                            line: n + 1,
                            col: i + 1,
                            text: line[i..end].to_owned(),
                        });
                    }
                }
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    Ok(())
}

/// One `key=value` entry (a logical line, possibly spanning continuation lines).
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// Byte span of the raw value text (from after the separator to the end of the logical line).
    pub value_span: (usize, usize),
    /// The separator as written (`=`, ` = `, `: `, ` `).
    pub separator: String,
}

/// The outcome of `set`.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    pub before: Option<String>,
    pub added: bool,
}

/// Parses every entry in file order (later duplicates win, as in Java).
pub fn entries(text: &str) -> Vec<Entry> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // start of a natural line: skip leading whitespace
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\x0c') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if b[i] == b'\n' || b[i] == b'\r' {
            i += 1;
            continue;
        }
        if b[i] == b'#' || b[i] == b'!' {
            while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
            continue;
        }
        // the logical line: [i, end)
        let mut end = i;
        loop {
            while end < b.len() && b[end] != b'\n' && b[end] != b'\r' {
                end += 1;
            }
            // count trailing backslashes
            let mut n = 0;
            while n < end - i && b[end - 1 - n] == b'\\' {
                n += 1;
            }
            if n % 2 == 1 && end < b.len() {
                // continuation: skip the line break
                if b[end] == b'\r' && b.get(end + 1) == Some(&b'\n') {
                    end += 2;
                } else {
                    end += 1;
                }
                continue;
            }
            break;
        }
        let logical = &text[i..end];
        // key ends at the first unescaped `=`, `:` or whitespace
        let lb = logical.as_bytes();
        let mut k = 0;
        while k < lb.len() {
            match lb[k] {
                b'\\' => k += 2,
                b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
                b'\n' | b'\r' => break,
                _ => k += 1,
            }
        }
        let k = k.min(lb.len());
        let raw_key = &logical[..k];
        // separator: whitespace* [=:]? whitespace*
        let mut v = k;
        while v < lb.len() && matches!(lb[v], b' ' | b'\t' | b'\x0c') {
            v += 1;
        }
        if v < lb.len() && (lb[v] == b'=' || lb[v] == b':') {
            v += 1;
            while v < lb.len() && matches!(lb[v], b' ' | b'\t' | b'\x0c') {
                v += 1;
            }
        }
        let raw_value = &logical[v..];
        out.push(Entry {
            key: unescape(&join_continuations(raw_key)),
            value: unescape(&join_continuations(raw_value)),
            value_span: (i + v, end),
            separator: logical[k..v].to_owned(),
        });
        i = end;
    }
    out
}

/// Removes `\` + line break + leading whitespace of the next line.
fn join_continuations(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if i + 1 < b.len() && (b[i + 1] == b'\n' || b[i + 1] == b'\r') {
                out.push_str(&raw[start..i]);
                i += 1;
                if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\x0c') {
                    i += 1;
                }
                start = i;
                continue;
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&raw[start.min(raw.len())..]);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = (0..4).filter_map(|_| it.next()).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// Escapes a value for writing: backslashes, line breaks, a leading space, non-ASCII as `\uXXXX`.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            ' ' if i == 0 => out.push_str("\\ "),
            c if !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn escape_key(k: &str) -> String {
    let mut out = String::new();
    for (i, c) in escape_value(k).chars().enumerate() {
        match c {
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i > 0 => out.push_str("\\ "),
            c => out.push(c),
        }
    }
    out
}

/// A properties file's text as `java.util.Properties.load(InputStream)` reads it: ISO-8859-1,
/// one character per byte. A Shift_JIS or UTF-8 comment becomes Latin-1 characters that
/// [`encode`] turns back into the same bytes, so an edit never changes another line.
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The bytes of a text from [`decode`] (edited); a character beyond ISO-8859-1 (only a
/// value written by a script can hold one) is written as a `\uXXXX` escape.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.extend_from_slice(format!("\\u{u:04X}").as_bytes());
                }
            }
        }
    }
    out
}

/// Reads a properties file as Java does ([`decode`]).
pub fn load(path: &std::path::Path) -> std::io::Result<String> {
    std::fs::read(path).map(|b| decode(&b))
}

/// The value of `key` (the last occurrence wins), or `None`.
pub fn get(text: &str, key: &str) -> Option<String> {
    entries(text).into_iter().rev().find(|e| e.key == key).map(|e| e.value)
}

/// Every property, later duplicates winning.
pub fn all(text: &str) -> BTreeMap<String, String> {
    entries(text).into_iter().map(|e| (e.key, e.value)).collect()
}

/// Sets `key` to `value`: replaces the value span of its (last) entry, or appends
/// `key<sep>value` at the end when missing (`sep` copied from the file's last entry).
pub fn set(text: &str, key: &str, value: &str) -> Result<Edit, PropsError> {
    if key.is_empty() {
        return Err(PropsError::BadKey(key.into()));
    }
    let es = entries(text);
    let escaped = escape_value(value);
    if let Some(e) = es.iter().rev().find(|e| e.key == key) {
        let (s, end) = e.value_span;
        let mut out = String::with_capacity(text.len() + escaped.len());
        out.push_str(&text[..s]);
        out.push_str(&escaped);
        out.push_str(&text[end..]);
        return Ok(Edit {
            text: out,
            before: Some(e.value.clone()),
            added: false,
        });
    }
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let sep = es
        .last()
        .map(|e| e.separator.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "=".into());
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(&escape_key(key));
    out.push_str(&sep);
    out.push_str(&escaped);
    out.push_str(nl);
    Ok(Edit {
        text: out,
        before: None,
        added: true,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_utf8_bytes_are_read_as_java_reads_them_and_written_back_unchanged() {
        // A Shift_JIS comment (保守) and a Latin-1 é before the key Java reads.
        let bytes = b"# \x95\xdb\x8e\xe7 caf\xe9\nvantiq.installation=acme\n".to_vec();
        let text = super::decode(&bytes);
        assert_eq!(super::get(&text, "vantiq.installation").as_deref(), Some("acme"));
        let edit = super::set(&text, "vantiq.installation", "acme2").unwrap();
        let out = super::encode(&edit.text);
        assert_eq!(&out[..12], &bytes[..12], "the comment's bytes are kept");
        assert!(out.ends_with(b"vantiq.installation=acme2\n"));
        assert_eq!(super::encode("x=\u{4fdd}"), b"x=\\u4FDD".to_vec());
    }

    use super::*;

    #[test]
    fn malformed_unicode_escapes_are_refused_with_their_position() {
        assert!(validate("a=\\u0041\n# \\uzz in a comment\n").is_ok());
        let e = validate("a=1\nb=x\\u12zz\n").unwrap_err().to_string();
        assert!(e.contains("line 2, column 4"), "{e}");
    }

    #[test]
    fn parses_separators_comments_and_continuations() {
        let t = "# c\n! c2\na=1\nb : 2\nc 3\nd:4\nlong = one, \\\n    two, \\\n    three\ne\\ f=g\\=h\nempty=\n";
        let m = all(t);
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
        assert_eq!(m["c"], "3");
        assert_eq!(m["d"], "4");
        assert_eq!(m["long"], "one, two, three");
        assert_eq!(m["e f"], "g=h");
        assert_eq!(m["empty"], "");
        assert_eq!(m.len(), 7);
    }

    #[test]
    fn set_changes_only_the_value_span() {
        let t = "# header\na = 1   \nb:2\r\nc=x\n";
        assert_eq!(set(t, "a", "9").unwrap().text, "# header\na = 9\nb:2\r\nc=x\n");
        assert_eq!(set(t, "b", "3").unwrap().text, "# header\na = 1   \nb:3\r\nc=x\n");
    }

    #[test]
    fn set_replaces_a_continued_value_and_keeps_the_rest() {
        let t = "a=1\nlong = one, \\\n   two\nz=2\n";
        let e = set(t, "long", "three").unwrap();
        assert_eq!(e.text, "a=1\nlong = three\nz=2\n");
        assert_eq!(e.before.as_deref(), Some("one, two"));
    }

    #[test]
    fn set_appends_missing_keys_with_the_files_separator() {
        let t = "a = 1\nb = 2";
        let e = set(t, "c", "3").unwrap();
        assert_eq!(e.text, "a = 1\nb = 2\nc = 3\n");
        assert!(e.added);
    }

    #[test]
    fn values_are_escaped_and_read_back() {
        let t = "a=1\n";
        let e = set(t, "a", " lead\\ing\nnon-ascii é").unwrap();
        assert_eq!(get(&e.text, "a").unwrap(), " lead\\ing\nnon-ascii é");
    }

    #[test]
    fn last_duplicate_wins_and_is_the_one_edited() {
        let t = "a=1\na=2\n";
        assert_eq!(get(t, "a").unwrap(), "2");
        assert_eq!(set(t, "a", "3").unwrap().text, "a=1\na=3\n");
    }

    mod fixture {
        use super::super::*;

        const PROPS: &str = include_str!("../../tests/fixtures/files/cluster.properties");

        fn expect(old: &str, new: &str) -> String {
            assert_eq!(PROPS.matches(old).count(), 1, "fixture snippet `{old}` must be unique");
            PROPS.replacen(old, new, 1)
        }

        #[test]
        fn each_edit_changes_one_value_only() {
            let e = set(PROPS, "vantiq_system_release", "vantiq-system-1.40").unwrap();
            assert_eq!(e.text, expect("= vantiq-system-1.39\n", "= vantiq-system-1.40\n"));
            assert_eq!(e.before.as_deref(), Some("vantiq-system-1.39"));
            assert_eq!(
                set(PROPS, "clusterName", "acme-test").unwrap().text,
                expect("clusterName:acme-prod", "clusterName:acme-test")
            );
            assert_eq!(
                set(PROPS, "region", "japaneast").unwrap().text,
                expect("region   westeurope", "region   japaneast")
            );
            assert_eq!(
                set(PROPS, "emptyValue", "x").unwrap().text,
                expect("emptyValue=\n", "emptyValue=x\n")
            );
            assert_eq!(
                set(PROPS, "deployNginx", "false").unwrap().text,
                expect("deployNginx = true", "deployNginx = false")
            );
            let e = set(PROPS, "jvmOptions", "-Xms8g").unwrap();
            assert_eq!(
                e.text,
                expect("-Xms4g \\\n             -Xmx6g \\\n             -XX:+UseG1GC\n", "-Xms8g\n")
            );
            assert_eq!(e.before.as_deref(), Some("-Xms4g -Xmx6g -XX:+UseG1GC"));
        }

        #[test]
        fn a_missing_key_is_appended() {
            let e = set(PROPS, "vantiq_new_setting", "on").unwrap();
            assert!(e.added);
            assert_eq!(e.text, format!("{PROPS}vantiq_new_setting = on\n"));
        }

        #[test]
        fn reads_escapes_and_continuations() {
            assert_eq!(get(PROPS, "path with spaces").unwrap(), "C:\\vantiq\\data");
            assert_eq!(get(PROPS, "url").unwrap(), "https://vantiq.acme.example.com/");
            assert_eq!(get(PROPS, "provider").unwrap(), "azure");
            assert_eq!(get(PROPS, "missing"), None);
            assert_eq!(all(PROPS).len(), 9);
        }
    }
}
