//! `vscript doc`: the API reference of every script function, generated from the
//! registrations, and the Rhai definition files for editors.

use std::path::Path;

use super::{EXIT_OK, Failure, out};
use crate::script_api::{definitions, functions};

/// `vscript doc --definitions DIR`: one `.d.rhai` file per module, for editors.
pub fn write_definitions(dir: &Path) -> Result<u8, Failure> {
    let files = definitions();
    std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).map_err(|e| Failure::failed(format!("cannot write {}: {e}", dir.join(name).display())))?;
    }
    eprintln!("vscript: wrote {} definition file(s) to {}", files.len(), dir.display());
    Ok(EXIT_OK)
}

pub fn doc(name: Option<&str>) -> Result<u8, Failure> {
    let fs = functions();
    match name {
        None => {
            let mut module = None;
            let mut text = String::new();
            for (m, _, sig, desc, _) in &fs {
                if module.as_ref() != Some(m) {
                    text.push_str(&format!("\n## {}\n", if m.is_empty() { "global" } else { m }));
                    module = Some(m.clone());
                }
                text.push_str(&format!("{sig}\n    {desc}\n"));
            }
            out(&text);
            Ok(EXIT_OK)
        }
        Some(q) => {
            let (qm, qn) = q.rsplit_once("::").map(|(m, n)| (Some(m), n)).unwrap_or((None, q));
            let hits: Vec<_> = fs
                .iter()
                .filter(|(m, n, ..)| (n == qn && qm.is_none_or(|qm| qm == m)) || (qm.is_none() && m == q))
                .collect();
            if hits.is_empty() {
                return Err(Failure::usage(format!("no function or module `{q}` (see `vscript doc`)")));
            }
            for (_, _, sig, _, text) in hits {
                out(&format!(
                    "{sig}\n{}\n\n",
                    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                ));
            }
            Ok(EXIT_OK)
        }
    }
}
