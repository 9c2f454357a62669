//! Per-customer copies of shipped procedures and stdlib modules, and keeping them current.
//!
//! `vscript customize NAME` copies a shipped file into the tools dir (`scripts/` or
//! `stdlib/`) with an origin header naming the vscript version and the content hash it
//! came from, and keeps that original under `.vscript/origins/`. `vscript diff` then
//! shows the customer's edits against the origin, and whether the shipped file changed
//! since (upstream fixes not yet taken).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where a customisable file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Script,
    Stdlib,
}

impl Kind {
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Script => "scripts",
            Kind::Stdlib => "stdlib",
        }
    }
    fn shipped(self, name: &str) -> Option<&'static str> {
        match self {
            Kind::Script => crate::shipped::script(name),
            Kind::Stdlib => crate::shipped::stdlib(name),
        }
    }
}

const HEADER: &str = "// vscript-origin:";

/// The short content hash used in origin headers.
pub fn hash(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Why a customisation could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CustomizeError {
    #[error("`{0}` is neither a shipped procedure nor a stdlib module (see `vscript list`)")]
    Unknown(String),
    #[error("`{0}` already exists: it is already customised (see `vscript diff {1}`)")]
    Exists(String, String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Finds what `name` refers to: a shipped script first, then a stdlib module.
pub fn kind_of(name: &str) -> Option<Kind> {
    if crate::shipped::script(name).is_some() {
        Some(Kind::Script)
    } else if crate::shipped::stdlib(name).is_some() {
        Some(Kind::Stdlib)
    } else {
        None
    }
}

fn origin_path(tools: &Path, kind: Kind, name: &str, h: &str) -> PathBuf {
    tools.join(".vscript/origins").join(kind.dir()).join(format!("{name}.{h}.rhai"))
}

/// Copies a shipped file into the tools dir with its origin header; returns the new path.
pub fn customize(tools: &Path, name: &str) -> Result<PathBuf, CustomizeError> {
    let kind = kind_of(name).ok_or_else(|| CustomizeError::Unknown(name.to_owned()))?;
    let text = kind.shipped(name).expect("kind_of checked it");
    let h = hash(text);
    let dest = tools.join(kind.dir()).join(format!("{name}.rhai"));
    if dest.exists() {
        return Err(CustomizeError::Exists(dest.display().to_string(), name.to_owned()));
    }
    let io = |p: &Path, e| CustomizeError::Io(p.display().to_string(), e);
    let origin = origin_path(tools, kind, name, &h);
    for p in [&dest, &origin] {
        std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| io(p, e))?;
    }
    std::fs::write(&origin, text).map_err(|e| io(&origin, e))?;
    let header = format!(
        "{HEADER} {}/{name}.rhai vscript {} sha256:{h}\n",
        kind.dir(),
        env!("CARGO_PKG_VERSION")
    );
    std::fs::write(&dest, format!("{header}{text}")).map_err(|e| io(&dest, e))?;
    Ok(dest)
}

/// A customised file found in a tools dir.
#[derive(Debug, Clone)]
pub struct Custom {
    pub kind: Kind,
    pub name: String,
    pub path: PathBuf,
    /// The origin hash from the header (`None`: a local file not made by `customize`).
    pub origin_hash: Option<String>,
    /// The file without its header.
    pub body: String,
}

impl Custom {
    /// The shipped file has changed since the copy was made.
    pub fn stale(&self) -> bool {
        match (&self.origin_hash, self.kind.shipped(&self.name)) {
            (Some(h), Some(now)) => hash(now) != *h,
            _ => false,
        }
    }
    /// The original the copy was made from (kept under `.vscript/origins/`).
    pub fn origin_text(&self, tools: &Path) -> Option<String> {
        let h = self.origin_hash.as_ref()?;
        std::fs::read_to_string(origin_path(tools, self.kind, &self.name, h))
            .ok()
            .or_else(|| {
                // The origin is still the shipped version.
                self.kind.shipped(&self.name).filter(|t| hash(t) == *h).map(str::to_owned)
            })
    }
}

/// Every `.rhai` file in the tools dir's `scripts/` and `stdlib/`.
pub fn customised(tools: &Path) -> Vec<Custom> {
    let mut out = Vec::new();
    for kind in [Kind::Script, Kind::Stdlib] {
        let Ok(rd) = std::fs::read_dir(tools.join(kind.dir())) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .collect();
        files.sort();
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let (origin_hash, body) = match text.split_once('\n') {
                Some((first, rest)) if first.starts_with(HEADER) => {
                    (first.rsplit_once("sha256:").map(|(_, h)| h.trim().to_owned()), rest.to_owned())
                }
                _ => (None, text.clone()),
            };
            out.push(Custom {
                kind,
                name,
                path,
                origin_hash,
                body,
            });
        }
    }
    out
}

/// A unified diff, or `None` when equal.
pub fn unified(a: &str, b: &str, a_name: &str, b_name: &str) -> Option<String> {
    if a == b {
        return None;
    }
    Some(
        similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(3)
            .header(a_name, b_name)
            .to_string(),
    )
}

/// The text `vscript diff` prints for one customised file.
pub fn describe(tools: &Path, c: &Custom) -> String {
    let rel = c.path.strip_prefix(tools).unwrap_or(&c.path).display().to_string();
    let mut out = String::new();
    let Some(origin) = c.origin_text(tools) else {
        let note = if c.kind.shipped(&c.name).is_some() {
            "a local file that overrides a shipped one, without an origin header (not made by `vscript customize`)"
        } else {
            "a local file (no shipped counterpart)"
        };
        out.push_str(&format!("{rel}: {note}\n"));
        return out;
    };
    match unified(
        &origin,
        &c.body,
        &format!("shipped/{}/{}.rhai (origin)", c.kind.dir(), c.name),
        &rel,
    ) {
        Some(d) => out.push_str(&format!("{rel}: customer changes against its origin:\n{d}")),
        None => out.push_str(&format!("{rel}: no changes against its origin\n")),
    }
    if c.stale() {
        let now = c.kind.shipped(&c.name).unwrap_or_default();
        out.push_str(&format!(
            "{rel}: UPSTREAM CHANGED since this copy was made — changes not taken yet:\n"
        ));
        out.push_str(&unified(&origin, now, "origin", &format!("shipped/{}/{}.rhai (now)", c.kind.dir(), c.name)).unwrap_or_default());
    } else if c.kind.shipped(&c.name).is_some() {
        out.push_str(&format!("{rel}: up to date with the shipped version\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customize_records_origin_and_diff_shows_edits() {
        let dir = tempfile::tempdir().unwrap();
        let (name, _) = crate::shipped::SCRIPTS[0];
        let p = customize(dir.path(), name).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(HEADER), "{text}");
        assert!(matches!(customize(dir.path(), name), Err(CustomizeError::Exists(..))));
        let c = &customised(dir.path())[0];
        assert!(!c.stale());
        assert!(describe(dir.path(), c).contains("no changes"));
        std::fs::write(&p, format!("{text}// customer: also stop acme-extra\n")).unwrap();
        let c = &customised(dir.path())[0];
        let d = describe(dir.path(), c);
        assert!(d.contains("+// customer: also stop acme-extra"), "{d}");
    }

    #[test]
    fn unknown_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(customize(dir.path(), "nope"), Err(CustomizeError::Unknown(_))));
    }
}
