//! `vscript customize` and `vscript diff`: per-customer copies of procedures and stdlib
//! modules, and their changes against the shipped versions.

use std::path::PathBuf;

use super::args::TargetArgs;
use super::{EXIT_OK, Failure, out};

pub fn require_tools(target: &TargetArgs) -> Result<PathBuf, Failure> {
    crate::run::target::resolve(&target.spec(), None)?
        .tools_dir
        .ok_or_else(|| Failure::usage("no tools dir: pass --tools DIR (the customer's k8sdeploy_tools checkout) or run it from there"))
}

pub fn customize(name: &str, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    let path = crate::customize::customize(&tools, name).map_err(|e| Failure::usage(e.to_string()))?;
    match crate::customize::kind_of(name) {
        Some(crate::customize::Kind::Stdlib) => crate::errln!(
            "copied to {}: edit it there; every procedure run with this tools dir now imports it instead of the shipped `{name}`",
            path.display()
        ),
        _ => crate::errln!(
            "copied to {}: edit it there; `vscript run {name}` now uses it for this tools dir",
            path.display()
        ),
    }
    crate::errln!("`vscript diff {name}` shows your changes and any upstream change to take over later");
    Ok(EXIT_OK)
}

pub fn diff(name: Option<&str>, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    let all = crate::customize::customised(&tools);
    let chosen: Vec<_> = all.iter().filter(|c| name.is_none_or(|n| c.name == n)).collect();
    if chosen.is_empty() {
        return match name {
            Some(n) => Err(Failure::usage(format!(
                "`{n}` is not customised in {} (see `vscript customize {n}`)",
                tools.display()
            ))),
            None => {
                out("no customised procedures or stdlib modules in this tools dir\n");
                Ok(EXIT_OK)
            }
        };
    }
    let mut text = String::new();
    for c in chosen {
        text.push_str(&crate::customize::describe(&tools, c));
    }
    out(&text);
    Ok(EXIT_OK)
}
