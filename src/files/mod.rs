//! Files of the tools dir: `file` (atomic writes, dated backups, install and rollback),
//! `yaml` (`deploy.yaml`) and `props` (`cluster.properties`), both edited in place so
//! that only the addressed value's bytes change.

pub mod file;
pub mod props;
pub mod script;
pub mod yaml;

use std::path::Path;

use crate::engine::{Change, GateError, Host, Mode};

/// Registers the `file`, `yaml` and `props` script modules.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("file", rhai::exported_module!(script::file).into());
    engine.register_static_module("yaml", rhai::exported_module!(script::yaml).into());
    engine.register_static_module("props", rhai::exported_module!(script::props).into());
}

/// Prints what a write would change: a unified diff for text, never the content of
/// keys, certificates' private parts or license files.
pub(crate) fn show_change(h: &Host, path: &Path, old: Option<&[u8]>, new: &[u8]) {
    let label = h.show_path(path);
    if file::is_secret(path, new) || old.is_some_and(|o| file::is_secret(path, o)) {
        h.say("   ", "", &format!("{label}: (contents not shown)"));
        return;
    }
    let old_text = old.map(String::from_utf8_lossy).unwrap_or_default();
    let new_text = String::from_utf8_lossy(new);
    let diff = file::unified_diff(&label, &old_text, &new_text);
    for line in diff.lines() {
        let color = match line.as_bytes().first() {
            Some(b'+') => "32",
            Some(b'-') => "31",
            Some(b'@') => "36",
            _ => "",
        };
        h.say("   ", color, line);
    }
}

/// Writes `new` to `path` atomically through the gate (under `--dry-run`: shows the diff
/// and writes nothing). A full atomic write is the same when carried out again.
pub(crate) fn commit_write(
    h: &Host,
    change: Change,
    path: &Path,
    old: Option<&[u8]>,
    new: &[u8],
) -> Result<(), GateError<file::FileError>> {
    h.change(change, |mode, _| match mode {
        Mode::DryRun => {
            show_change(h, path, old, new);
            Ok(())
        }
        Mode::Real => {
            file::write_atomic(path, new)?;
            h.state().wrote(crate::engine::host::sandbox_resolved(path));
            Ok(())
        }
    })
}

/// Today's date for backup names (`yyyyMMdd`, local time).
pub(crate) fn today() -> String {
    chrono::Local::now().format("%Y%m%d").to_string()
}

/// A timestamp for rollback names (`yyyyMMddHHmmss`, local time).
pub(crate) fn stamp() -> String {
    chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
}

/// Error messages show paths as the operator thinks of them (relative to the tools dir).
pub(crate) fn shown(h: &Host, e: impl std::fmt::Display) -> String {
    let msg = e.to_string();
    match &h.target().tools_dir {
        Some(t) => msg.replace(&format!("{}/", t.display()), ""),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    /// Every ```rhai block of the pages of the file, yaml, props, cert and http modules
    /// compiles in strict mode.
    #[test]
    fn docs_examples_compile() {
        let mut engine = rhai::Engine::new();
        engine.set_strict_variables(true);
        crate::script_api::register_modules(&mut engine);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let mut n = 0;
        for page in ["file.md", "yaml.md", "props.md", "cert.md", "http.md"] {
            let text = std::fs::read_to_string(root.join(page)).unwrap();
            for (i, block) in text.split("```rhai\n").skip(1).enumerate() {
                let code = block.split("\n```").next().unwrap();
                engine
                    .compile(code)
                    .unwrap_or_else(|e| panic!("docs/{page} block {}: {e}\n{code}", i + 1));
                n += 1;
            }
        }
        assert!(n >= 30, "{n} examples");
    }

    /// Every function of these script modules has a doc comment with a ```rhai example
    /// (`vscript doc` shows them), and the examples compile in strict mode.
    #[test]
    fn every_function_has_a_compiling_example() {
        let mut engine = rhai::Engine::new();
        engine.set_strict_variables(true);
        crate::script_api::register_modules(&mut engine);
        let sources = [
            ("files/script.rs", include_str!("script.rs")),
            ("tls/script.rs", include_str!("../tls/script.rs")),
            ("http/script.rs", include_str!("../http/script.rs")),
        ];
        let mut n = 0;
        for (file, text) in sources {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            let mut doc: Vec<&str> = vec![];
            for l in &lines {
                if let Some(d) = l.strip_prefix("///") {
                    doc.push(d.strip_prefix(' ').unwrap_or(d));
                    continue;
                }
                if l.starts_with("pub fn ") {
                    let name = &l[7..l.find('(').unwrap()];
                    let start = doc
                        .iter()
                        .position(|d| *d == "```rhai")
                        .unwrap_or_else(|| panic!("{file}: `{name}` has no rhai example"));
                    let end = doc[start + 1..].iter().position(|d| *d == "```").unwrap() + start + 1;
                    let code = doc[start + 1..end].join("\n");
                    engine
                        .compile(&code)
                        .unwrap_or_else(|e| panic!("{file}: example of `{name}`: {e}\n{code}"));
                    n += 1;
                }
                if !l.starts_with("#[") {
                    doc.clear();
                }
            }
        }
        assert!(n >= 30, "{n} functions");
    }
}
