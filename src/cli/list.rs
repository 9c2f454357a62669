//! `vscript list`: the procedures and stdlib modules available, with where each comes from.

use std::collections::BTreeMap;

use super::args::TargetArgs;
use super::{EXIT_OK, Failure, out};
use crate::run::script::describe;

pub fn list(target: &TargetArgs) -> Result<u8, Failure> {
    let t = crate::run::target::resolve(&target.spec(), None)?;
    // name -> (origin, description, note, source)
    let mut rows: BTreeMap<String, (String, String, String, String)> = BTreeMap::new();
    for (n, s) in crate::shipped::SCRIPTS {
        rows.insert((*n).to_owned(), ("shipped".into(), describe(s), String::new(), (*s).to_owned()));
    }
    if let Ok(rd) = std::fs::read_dir("scripts") {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai") {
                let n = p.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // In the project checkout ./scripts are the shipped scripts themselves.
                if crate::shipped::script(&n) != Some(text.as_str()) {
                    rows.insert(n, ("./scripts".into(), describe(&text), String::new(), text));
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
                    rows.insert(c.name.clone(), (origin, describe(&c.body), note, c.body.clone()));
                }
                crate::customize::Kind::Stdlib => stdlib_rows.push((c.name.clone(), origin, note)),
            }
        }
    }
    let w = rows.keys().map(String::len).max().unwrap_or(0);
    let wo = rows.values().map(|(o, ..)| o.len()).max().unwrap_or(0);
    // Each procedure's parameters, read from its source (as `vscript doc NAME` shows them).
    let rt = crate::run::session::runtime();
    let host = std::sync::Arc::new(crate::engine::Host::assemble(
        crate::engine::host::Target {
            tools_dir: t.tools_dir.clone(),
            ..Default::default()
        },
        crate::engine::host::Options::default(),
        crate::engine::host::Output::default(),
        rt.handle().clone(),
        Some(rt.clone()),
    ));
    let engine = crate::script_api::engine(host.clone());
    let mut text = String::new();
    for (n, (origin, d, note, src)) in &rows {
        text.push_str(&format!("{n:w$}  {origin:wo$}  {d}\n"));
        let script = crate::run::script::Script {
            name: n.clone(),
            source_name: format!("scripts/{n}.rhai"),
            text: src.clone(),
            origin: origin.clone(),
        };
        let params = match crate::run::script::procedure_doc(&engine, &script, &host) {
            Ok(doc) if doc.params.params.is_empty() => "params: none".to_owned(),
            Ok(doc) => format!("params: {}", doc.params_line()),
            Err(_) => "does not compile: see `vscript check`".to_owned(),
        };
        text.push_str(&format!("{:w$}  {:wo$}  {params}\n", "", ""));
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
