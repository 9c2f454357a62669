//! Every ```rhai block in README.md and docs/ compiles (strict variables, known functions),
//! and every shipped script and stdlib module does too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::harness::project_dir;

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

/// `(file, first line, block)` of every ```rhai block.
fn rhai_blocks() -> Vec<(String, usize, String)> {
    let root = project_dir();
    let mut files = vec![root.join("README.md")];
    markdown_files(&root.join("docs"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start().starts_with("```rhai") => block = Some((i + 2, String::new())),
                Some((start, b)) if line.trim_start().starts_with("```") => {
                    out.push((f.strip_prefix(&root).unwrap().display().to_string(), *start, std::mem::take(b)));
                    block = None;
                }
                Some((_, b)) => {
                    b.push_str(line);
                    b.push('\n');
                }
                None => {}
            }
        }
    }
    out
}

#[test]
fn every_rhai_block_in_the_docs_compiles() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = Arc::new(vscript::engine::Host::new(rt.handle().clone()));
    let engine = vscript::script_api::engine(host.clone());
    let blocks = rhai_blocks();
    assert!(blocks.len() >= 20, "only {} rhai blocks found", blocks.len());
    let mut bad = Vec::new();
    for (file, line, text) in blocks {
        // Blocks may use the vantiq stdlib without repeating the import.
        let text = if text.contains("vantiq::") && !text.contains("import \"vantiq\"") {
            format!("import \"vantiq\" as vantiq;\n{text}")
        } else {
            text
        };
        let script = vscript::run::script::Script {
            name: "doc".into(),
            source_name: format!("{file}:{line}"),
            text,
            origin: "docs".into(),
        };
        if let Err(f) = vscript::run::script::compile(&engine, &script, &host) {
            bad.push(format!("{file} (block at line {line}):\n{}", f.message));
        }
    }
    assert!(bad.is_empty(), "{} rhai block(s) do not compile:\n{}", bad.len(), bad.join("\n\n"));
}

#[test]
fn every_shipped_script_and_stdlib_module_compiles_in_strict_mode() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = Arc::new(vscript::engine::Host::new(rt.handle().clone()));
    let engine = vscript::script_api::engine(host.clone());
    assert!(vscript::shipped::SCRIPTS.len() >= 13);
    for (name, text) in vscript::shipped::SCRIPTS {
        let script = vscript::run::script::Script {
            name: (*name).into(),
            source_name: format!("scripts/{name}.rhai"),
            text: (*text).into(),
            origin: "shipped".into(),
        };
        if let Err(f) = vscript::run::script::compile(&engine, &script, &host) {
            panic!("{}", f.message);
        }
        assert!(
            !vscript::run::script::describe(text).is_empty(),
            "scripts/{name}.rhai has no //! description"
        );
    }
    for (name, text) in vscript::shipped::STDLIB {
        if let Err(e) = engine.compile(text) {
            panic!("stdlib/{name}.rhai: {e}");
        }
    }
}

/// docs/safety.md's guard table: every guard names at least one test, and every test it
/// links exists (`#[test] fn name` in the linked file).
#[test]
fn every_guard_in_safety_md_links_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/safety.md")).unwrap();
    let start = text.find("## Guards and the tests that prove them").expect("the guard section");
    let section = &text[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| guard")).collect();
    assert!(rows.len() >= 15, "the guard table has {} rows", rows.len());
    for row in rows {
        let mut links = 0;
        for part in row.split("[`").skip(1) {
            let name = &part[..part.find("`]").unwrap()];
            let file = &part[part.find("](").unwrap() + 2..part.find(')').unwrap()];
            let (module, test) = name.split_once("::").unwrap();
            assert_eq!(file, format!("../tests/it/{module}.rs"), "{row}");
            let src = std::fs::read_to_string(root.join(&file[3..])).unwrap_or_else(|e| panic!("{file}: {e}"));
            let at = src
                .find(&format!("fn {test}()"))
                .unwrap_or_else(|| panic!("docs/safety.md links {name}, which {file} does not define"));
            assert!(src[..at].trim_end().ends_with("#[test]"), "{name} is not a test");
            links += 1;
        }
        assert!(links > 0, "a guard without a test: {row}");
    }
}
