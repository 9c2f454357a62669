//! `vscript runs`: past runs from the tools dir's journal.

use super::args::TargetArgs;
use super::customize::require_tools;
use super::{EXIT_OK, Failure, out};

pub fn runs(id: Option<&str>, target: &TargetArgs) -> Result<u8, Failure> {
    let tools = require_tools(target)?;
    match id {
        None => {
            let mut text = String::new();
            for r in crate::run::journal::list_runs(&tools) {
                let result = match r.exit_code {
                    Some(0) => "ok".to_owned(),
                    Some(c) => format!(
                        "failed ({c}){}",
                        r.failed_step.as_ref().map(|s| format!(" at \"{s}\"")).unwrap_or_default()
                    ),
                    None => "interrupted".to_owned(),
                };
                text.push_str(&format!(
                    "{}  {}  {}  {} step(s) done\n",
                    r.id,
                    r.started,
                    result,
                    r.steps_done.len()
                ));
            }
            if text.is_empty() {
                text = "no runs recorded in this tools dir\n".into();
            }
            out(&text);
        }
        Some(id) => {
            let r =
                crate::run::journal::read_run(&tools, id).ok_or_else(|| Failure::usage(format!("no run `{id}` in {}", tools.display())))?;
            let mut text = String::new();
            for ev in &r.events {
                text.push_str(&format!(
                    "{}  {:10}  {}\n",
                    ev["ts"].as_str().unwrap_or(""),
                    ev["event"].as_str().unwrap_or(""),
                    ev["data"]
                ));
            }
            out(&text);
        }
    }
    Ok(EXIT_OK)
}
