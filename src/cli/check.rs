//! `vscript check`: compile and lint scripts without running them.

use std::path::PathBuf;
use std::sync::Arc;

use super::{EXIT_FAILED, EXIT_OK, Failure};
use crate::engine::{self, Host};
use crate::run::script::{Script, compile, resolve_script};
use crate::run::session::runtime;

pub fn check(paths: &[PathBuf]) -> Result<u8, Failure> {
    let rt = runtime();
    let host = Arc::new(Host::new(rt.handle().clone()));
    let engine = crate::script_api::engine(host.clone());
    let mut scripts = Vec::new();
    if paths.is_empty() {
        for (n, s) in crate::shipped::SCRIPTS {
            scripts.push(Script {
                name: (*n).to_owned(),
                source_name: format!("scripts/{n}.rhai"),
                text: (*s).to_owned(),
                origin: "shipped".into(),
            });
        }
    }
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                .collect();
            files.sort();
            for f in files {
                scripts.push(resolve_script(&f.display().to_string(), None)?);
            }
        } else {
            scripts.push(resolve_script(&p.display().to_string(), None)?);
        }
    }
    let mut bad = 0;
    for s in &scripts {
        match compile(&engine, s, &host) {
            Ok(ast) => {
                let ps: Vec<String> = engine::lint::params(&ast)
                    .iter()
                    .map(|p| if p.required { p.name.clone() } else { format!("{}?", p.name) })
                    .collect();
                let ps = if ps.is_empty() {
                    String::new()
                } else {
                    format!("  (params: {})", ps.join(", "))
                };
                crate::outln!("ok    {}{ps}", s.source_name)
            }
            Err(f) => {
                bad += 1;
                crate::outln!("FAIL  {}", s.source_name);
                crate::errln!("{}", f.message);
            }
        }
    }
    if bad > 0 {
        crate::errln!("{bad} of {} script(s) have errors", scripts.len());
        Ok(EXIT_FAILED)
    } else {
        Ok(EXIT_OK)
    }
}
