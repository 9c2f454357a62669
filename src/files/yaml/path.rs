//! Dotted paths into a YAML document: `vantiq.image.tag`, `a[0]` or `a.0` for list items,
//! `a["x.y"]` for keys that contain dots. A path is split into segments here; a segment
//! names a mapping key or, when it is all digits, a list index.

use super::YamlError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_path_handles_dots_brackets_and_indices() {
        assert_eq!(split_path("a.b.c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_path("a[0].b").unwrap(), ["a", "0", "b"]);
        assert_eq!(split_path("a[\"x.y\"].z").unwrap(), ["a", "x.y", "z"]);
        assert!(split_path("a..b").is_err());
        assert!(split_path("").is_err());
    }
}
