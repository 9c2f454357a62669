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
    crate::errln!("vscript: wrote {} definition file(s) to {}", files.len(), dir.display());
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
        Some(q) if !q.contains("::") && procedure(q).is_some() => {
            let text = procedure(q).unwrap_or_else(|| Ok(String::new()))?;
            out(&text);
            Ok(EXIT_OK)
        }
        Some(q) if !q.contains("::") && stdlib_source(q).is_some() => {
            let (origin, src) = stdlib_source(q).unwrap_or_default();
            let doc = crate::script_api::module_doc(&src)
                .ok_or_else(|| Failure::failed(format!("the stdlib module `{q}` ({origin}) does not compile: see `vscript check`")))?;
            out(&format!("{}    (from {origin}; import \"{q}\" as {q};)\n", doc.render(q)));
            Ok(EXIT_OK)
        }
        Some(q) => {
            let (qm, qn) = q.rsplit_once("::").map(|(m, n)| (Some(m), n)).unwrap_or((None, q));
            let hits: Vec<_> = fs
                .iter()
                .filter(|(m, n, ..)| (n == qn && qm.is_none_or(|qm| qm == m)) || (qm.is_none() && m == q))
                .collect();
            if hits.is_empty() {
                let mut names: Vec<String> = fs
                    .iter()
                    .map(|(m, n, ..)| if m.is_empty() { n.clone() } else { format!("{m}::{n}") })
                    .collect();
                names.extend(fs.iter().map(|(m, ..)| m.clone()));
                names.extend(crate::run::script::procedure_names(tools().as_deref()));
                names.extend(crate::shipped::STDLIB.iter().map(|(n, _)| (*n).to_owned()));
                names.sort();
                names.dedup();
                return Err(Failure::usage(format!(
                    "no procedure, module or function `{q}`{} (see `vscript doc`, `vscript list`)",
                    crate::engine::lint::did_you_mean(q, names.iter().map(String::as_str), "")
                )));
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

/// The tools dir for customer copies: `$VSCRIPT_TOOLS`, or the current dir when it has targetCluster/.
fn tools() -> Option<std::path::PathBuf> {
    std::env::var_os("VSCRIPT_TOOLS").map(std::path::PathBuf::from).or_else(|| {
        let cwd = std::env::current_dir().ok()?;
        cwd.join("targetCluster").is_dir().then_some(cwd)
    })
}

/// `vscript doc <procedure>`: its header, parameters with defaults, and steps; `None`
/// when `name` is not a procedure.
fn procedure(name: &str) -> Option<Result<String, Failure>> {
    let tools = tools();
    if !crate::run::script::procedure_names(tools.as_deref()).iter().any(|n| n == name) {
        return None;
    }
    let script = match crate::run::script::resolve_script(name, tools.as_deref()) {
        Ok(s) => s,
        Err(f) => return Some(Err(f)),
    };
    let rt = crate::run::session::runtime();
    let target = crate::engine::host::Target {
        tools_dir: tools,
        ..Default::default()
    };
    let host = std::sync::Arc::new(crate::engine::Host::assemble(
        target,
        crate::engine::host::Options::default(),
        crate::engine::host::Output::default(),
        rt.handle().clone(),
        Some(rt.clone()),
    ));
    let engine = crate::script_api::engine(host.clone());
    Some(crate::run::script::procedure_doc(&engine, &script, &host).map(|d| d.render()))
}

/// A stdlib module's source: the tools dir's `stdlib/NAME.rhai`, else the shipped one.
fn stdlib_source(name: &str) -> Option<(String, String)> {
    if let Some(t) = tools() {
        let p = t.join("stdlib").join(format!("{name}.rhai"));
        if let Ok(src) = std::fs::read_to_string(&p) {
            return Some((p.display().to_string(), src));
        }
    }
    crate::shipped::stdlib(name).map(|s| (format!("stdlib/{name}.rhai (shipped)"), s.to_owned()))
}
