//! `.properties` files read exactly as `java.util.Properties.load(InputStream)` reads
//! them, which is how k8sdeploy_tools' gradle build reads `cluster.properties`: bytes are
//! ISO-8859-1; `#` and `!` start comment lines; a line ending in an odd number of
//! backslashes continues on the next one (whose leading white space is dropped); the key
//! ends at the first unescaped `=`, `:` or white space, and one `=`/`:` plus the white
//! space around it separates it from the value (trailing white space is kept); `\t`,
//! `\n`, `\r`, `\f` and `\uXXXX` are escapes, any other escaped character stands for
//! itself; a later duplicate key wins.

use std::collections::BTreeMap;
use std::path::Path;

/// One `key=value` of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// The (1-based) line the logical line starts on.
    pub line: usize,
}

/// A `\uXXXX` escape that is not four hex digits: Java throws
/// `IllegalArgumentException: Malformed \uxxxx encoding.` and loads nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: Malformed \\uxxxx encoding.")]
pub struct PropsError {
    pub line: usize,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// The logical lines: (first line number, characters).
fn logical_lines(bytes: &[u8]) -> Vec<(usize, Vec<char>)> {
    // ISO-8859-1: every byte is the code point of the same value.
    let chars: Vec<char> = bytes.iter().map(|b| char::from(*b)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_no = 1;
    let n = chars.len();
    let mut buf: Vec<char> = Vec::new();
    let mut start_line = 1;
    let mut skip_ws = true;
    let mut appended_line_begin = false;
    let mut preceding_backslash = false;
    while i < n {
        let c = chars[i];
        i += 1;
        if skip_ws {
            if is_ws(c) {
                continue;
            }
            if !appended_line_begin && (c == '\r' || c == '\n') {
                if c == '\n' || (c == '\r' && chars.get(i) != Some(&'\n')) {
                    line_no += 1;
                }
                continue;
            }
            skip_ws = false;
            appended_line_begin = false;
        }
        if buf.is_empty() && (c == '#' || c == '!') {
            // A comment: up to the end of this natural line, never continued.
            while i < n && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
            }
            skip_ws = true;
            continue;
        }
        if c != '\n' && c != '\r' {
            if buf.is_empty() {
                start_line = line_no;
            }
            buf.push(c);
            preceding_backslash = c == '\\' && !preceding_backslash;
            continue;
        }
        // End of a natural line.
        let crlf = c == '\r' && chars.get(i) == Some(&'\n');
        if crlf {
            i += 1;
        }
        line_no += 1;
        if buf.is_empty() {
            skip_ws = true;
            continue;
        }
        if preceding_backslash {
            buf.pop();
            skip_ws = true;
            appended_line_begin = true;
            preceding_backslash = false;
        } else {
            out.push((start_line, std::mem::take(&mut buf)));
            skip_ws = true;
        }
    }
    if !buf.is_empty() {
        if preceding_backslash {
            buf.pop();
        }
        out.push((start_line, buf));
    }
    out
}

/// Java's `loadConvert`: the escapes of a key or a value.
fn unescape(s: &[char], line: usize) -> Result<String, PropsError> {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != '\\' {
            push_char(&mut units, c);
            continue;
        }
        let Some(&e) = s.get(i) else { break };
        i += 1;
        match e {
            'u' => {
                let hex: String = s.get(i..i + 4).ok_or(PropsError { line })?.iter().collect();
                let v = u16::from_str_radix(&hex, 16).map_err(|_| PropsError { line })?;
                if !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return Err(PropsError { line });
                }
                units.push(v);
                i += 4;
            }
            't' => units.push(u16::from(b'\t')),
            'r' => units.push(u16::from(b'\r')),
            'n' => units.push(u16::from(b'\n')),
            'f' => units.push(0x0c),
            other => push_char(&mut units, other),
        }
    }
    // Java strings are UTF-16: surrogate pairs written as two escapes form one character.
    Ok(String::from_utf16_lossy(&units))
}

fn push_char(units: &mut Vec<u16>, c: char) {
    let mut b = [0u16; 2];
    units.extend_from_slice(c.encode_utf16(&mut b));
}

fn split(line: &[char], no: usize) -> Result<Entry, PropsError> {
    let limit = line.len();
    let mut key_len = 0;
    let mut value_start = limit;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < limit {
        let c = line[key_len];
        if (c == '=' || c == ':') && !preceding_backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        } else if is_ws(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < limit {
        let c = line[value_start];
        if !is_ws(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    Ok(Entry {
        key: unescape(&line[..key_len], no)?,
        value: unescape(&line[value_start.min(limit)..], no)?,
        line: no,
    })
}

/// Every entry in file order (duplicates kept); fails like Java on a malformed `\u`.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, PropsError> {
    logical_lines(bytes).iter().map(|(no, l)| split(l, *no)).collect()
}

/// Every entry that parses, and the lines that do not (for a tolerant reader).
pub fn parse_lenient(bytes: &[u8]) -> (Vec<Entry>, Vec<PropsError>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for (no, l) in logical_lines(bytes) {
        match split(&l, no) {
            Ok(e) => ok.push(e),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

/// Key → value, a later duplicate winning (what `Properties.getProperty` returns).
pub fn to_map(entries: &[Entry]) -> BTreeMap<String, String> {
    entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect()
}

/// Reads a properties file like Java does; an error names the file (and line).
pub fn read(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let entries = parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(to_map(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &[u8]) -> BTreeMap<String, String> {
        to_map(&parse(text).unwrap())
    }

    #[test]
    fn separators_are_equals_colon_or_white_space() {
        let m = map(b"a=1\nb:2\nc 3\nd  =  4\ne\t:\t5\nf==6\ng\nh =\n");
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
        assert_eq!(m["c"], "3");
        assert_eq!(m["d"], "4");
        assert_eq!(m["e"], "5");
        assert_eq!(m["f"], "=6", "one separator only");
        assert_eq!(m["g"], "");
        assert_eq!(m["h"], "");
    }

    #[test]
    fn the_last_duplicate_wins_and_trailing_space_is_kept() {
        let m = map(b"ns=first\n  # ns=comment\n! ns=bang\nns = second  \n");
        assert_eq!(m["ns"], "second  ");
        let all = parse(b"ns=first\nns=second\n").unwrap();
        assert_eq!((all[0].line, all[1].line), (1, 2));
    }

    #[test]
    fn continuation_lines_join_and_drop_leading_white_space() {
        let m = map(b"list = a,\\\n      b,\\\r\n   c\nnext=\\\\\nafter=x\\\n\nlone=1\n");
        assert_eq!(m["list"], "a,b,c");
        assert_eq!(m["next"], "\\", "an even number of backslashes does not continue");
        assert_eq!(m["after"], "x", "an empty continuation line ends the value");
        assert_eq!(m["lone"], "1");
        let e = parse(b"a=1\nlong=x\\\n  y\nb=2\n").unwrap();
        assert_eq!(e[1].line, 2);
        assert_eq!(e[2].line, 4);
    }

    #[test]
    fn escapes_and_iso_8859_1() {
        let m = map(b"k\\ ey\\:x = v\\tw\\u00e9\\uD83D\\uDE00\\q\nlatin=caf\xe9\n");
        assert_eq!(m["k ey:x"], "v\tw\u{e9}\u{1F600}q");
        assert_eq!(m["latin"], "caf\u{e9}", "a byte is an ISO-8859-1 character");
        assert_eq!(
            map("utf8=café\n".as_bytes())["utf8"],
            "caf\u{c3}\u{a9}",
            "UTF-8 bytes are read as Latin-1, as Java does"
        );
    }

    #[test]
    fn a_malformed_unicode_escape_fails_like_java() {
        let e = parse(b"a=1\nb=\\u12g4\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), "line 2: Malformed \\uxxxx encoding.");
        assert!(parse(b"c=\\u12").is_err());
        let (ok, bad) = parse_lenient(b"a=1\nb=\\u12g4\nc=3\n");
        assert_eq!(ok.len(), 2);
        assert_eq!(bad, [PropsError { line: 2 }]);
    }

    #[test]
    fn comments_and_blank_lines_and_crlf() {
        let m = map(b"\r\n# c\r\n   \r\n!x=y\r\na=b\r\n  c = d\\\r\n    e\r\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"], "b");
        assert_eq!(m["c"], "de");
    }
}
