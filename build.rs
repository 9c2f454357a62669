//! Embeds the shipped `scripts/` and `stdlib/` into the binary, so an installed vscript
//! runs procedures from any directory.

use std::fmt::Write as _;
use std::path::Path;

fn list(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&root) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai") {
                println!("cargo:rerun-if-changed={}", p.display());
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                out.push((name, p.display().to_string()));
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let mut s = String::new();
    for (var, dir) in [("SCRIPTS", "scripts"), ("STDLIB", "stdlib")] {
        writeln!(s, "/// Shipped `{dir}/*.rhai`: `(name, source)`.").unwrap();
        writeln!(s, "pub static {var}: &[(&str, &str)] = &[").unwrap();
        for (name, path) in list(dir) {
            writeln!(s, "    ({name:?}, include_str!({path:?})),").unwrap();
        }
        writeln!(s, "];").unwrap();
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("shipped.rs");
    std::fs::write(out, s).unwrap();
}
