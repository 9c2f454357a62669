//! `vscript list`: the procedures and stdlib modules available, with where each comes from.

use std::collections::BTreeMap;

use super::args::TargetArgs;
use super::{EXIT_OK, Failure, out};
use crate::run::script::describe;

pub fn list(target: &TargetArgs) -> Result<u8, Failure> {
    let t = crate::run::target::resolve(&target.spec(), None)?;
    // name -> (origin, description, note)
    let mut rows: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (n, s) in crate::shipped::SCRIPTS {
        rows.insert((*n).to_owned(), ("shipped".into(), describe(s), String::new()));
    }
    if let Ok(rd) = std::fs::read_dir("scripts") {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai") {
                let n = p.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // In the project checkout ./scripts are the shipped scripts themselves.
                if crate::shipped::script(&n) != Some(text.as_str()) {
                    rows.insert(n, ("./scripts".into(), describe(&text), String::new()));
                }
            }
        }
    }
    let mut stdlib_rows = Vec::new();
    if let Some(tools) = &t.tools_dir {
        for c in crate::customize::customised(tools) {
            let origin = format!("tools dir ({})", c.path.strip_prefix(tools).unwrap_or(&c.path).display());
            let note = if c.stale() {
                format!("upstream changed since customised: vscript diff {}", c.name)
            } else {
                String::new()
            };
            match c.kind {
                crate::customize::Kind::Script => {
                    rows.insert(c.name.clone(), (origin, describe(&c.body), note));
                }
                crate::customize::Kind::Stdlib => stdlib_rows.push((c.name.clone(), origin, note)),
            }
        }
    }
    let w = rows.keys().map(String::len).max().unwrap_or(0);
    let wo = rows.values().map(|(o, ..)| o.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (n, (origin, d, note)) in &rows {
        text.push_str(&format!("{n:w$}  {origin:wo$}  {d}\n"));
        if !note.is_empty() {
            text.push_str(&format!("{:w$}  ! {note}\n", ""));
        }
    }
    text.push_str("\nstdlib modules:\n");
    for (n, _) in crate::shipped::STDLIB {
        match stdlib_rows.iter().find(|(m, ..)| m == n) {
            Some((_, origin, note)) => text.push_str(&format!(
                "  {n}  {origin}{}\n",
                if note.is_empty() { String::new() } else { format!("  ! {note}") }
            )),
            None => text.push_str(&format!("  {n}  shipped\n")),
        }
    }
    for (n, origin, _) in stdlib_rows.iter().filter(|(n, ..)| crate::shipped::stdlib(n).is_none()) {
        text.push_str(&format!("  {n}  {origin}\n"));
    }
    out(&text);
    Ok(EXIT_OK)
}
