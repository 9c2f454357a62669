//! Shell completion, done by vscript itself (clap_complete's dynamic completion): the
//! shell asks `COMPLETE=<shell> vscript -- <the words typed>` and gets the candidates —
//! procedure names (shipped, `./scripts`, the tools dir's), the `--set` parameters of the
//! procedure on the line, kube contexts and namespaces from the kubeconfig and the tools
//! dir. Nothing reaches the cluster: completing must be instant.
//!
//! `vscript completions bash` prints the registration (`source <(vscript completions bash)`).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;

/// The words being completed (after `--`), as the shell sent them.
fn words() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The value of a flag on the line (`--tools DIR` or `--tools=DIR`).
fn flag(words: &[String], names: &[&str]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        for n in names {
            if w == n {
                return it.next().cloned();
            }
            if let Some(v) = w.strip_prefix(&format!("{n}=")) {
                return Some(v.to_owned());
            }
        }
    }
    None
}

/// The tools dir the line names (`--tools`), else `$VSCRIPT_TOOLS`, else the current dir
/// when it has targetCluster/.
fn tools(words: &[String]) -> Option<PathBuf> {
    flag(words, &["--tools"])
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("VSCRIPT_TOOLS").map(PathBuf::from))
        .or_else(|| {
            let cwd = std::env::current_dir().ok()?;
            cwd.join("targetCluster").is_dir().then_some(cwd)
        })
}

fn matching(current: &OsStr, names: impl IntoIterator<Item = (String, Option<String>)>) -> Vec<CompletionCandidate> {
    let cur = current.to_string_lossy();
    names
        .into_iter()
        .filter(|(n, _)| n.starts_with(cur.as_ref()))
        .map(|(n, help)| {
            let c = CompletionCandidate::new(n);
            match help {
                Some(h) => c.help(Some(h.into())),
                None => c,
            }
        })
        .collect()
}

/// Procedure names, with their description.
pub fn procedures(current: &OsStr) -> Vec<CompletionCandidate> {
    let words = words();
    let tools = tools(&words);
    let names = crate::run::script::procedure_names(tools.as_deref());
    matching(
        current,
        names.into_iter().map(|n| {
            let about = crate::run::script::resolve_script(&n, tools.as_deref())
                .ok()
                .map(|s| crate::run::script::describe(&s.text))
                .filter(|d| !d.is_empty());
            (n, about)
        }),
    )
}

/// Procedure names and stdlib modules (`vscript doc`, `customize`, `diff`).
pub fn procedures_and_modules(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut out = procedures(current);
    out.extend(matching(
        current,
        crate::shipped::STDLIB
            .iter()
            .map(|(n, _)| ((*n).to_owned(), Some("stdlib module".to_owned()))),
    ));
    out
}

/// `--set NAME=`: the parameters of the procedure on the line.
pub fn set_params(current: &OsStr) -> Vec<CompletionCandidate> {
    let cur = current.to_string_lossy();
    if cur.contains('=') {
        return Vec::new();
    }
    let words = words();
    let tools = tools(&words);
    // The procedure: the first word after `run` that is not a flag or a flag's value.
    let Some(run) = words.iter().position(|w| w == "run") else {
        return Vec::new();
    };
    let mut script = None;
    let mut i = run + 1;
    while i < words.len() {
        let w = &words[i];
        if w.starts_with('-') {
            let takes_value = [
                "--set",
                "--tools",
                "--cluster",
                "-n",
                "--namespace",
                "--context",
                "--kubeconfig",
                "--output",
                "--report",
                "--lang",
                "--resume",
                "--tz",
                "--speed",
            ]
            .contains(&w.as_str());
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        script = Some(w.clone());
        break;
    }
    let Some(script) = script else { return Vec::new() };
    let Ok(script) = crate::run::script::resolve_script(&script, tools.as_deref()) else {
        return Vec::new();
    };
    let rt = crate::run::session::runtime();
    let host = std::sync::Arc::new(crate::engine::Host::assemble(
        crate::engine::host::Target {
            tools_dir: tools,
            ..Default::default()
        },
        crate::engine::host::Options::default(),
        crate::engine::host::Output::default(),
        rt.handle().clone(),
        Some(rt.clone()),
    ));
    let engine = crate::script_api::engine(host.clone());
    let Ok(doc) = crate::run::script::procedure_doc(&engine, &script, &host) else {
        return Vec::new();
    };
    let mut names: Vec<(String, Option<String>)> = doc
        .params
        .params
        .iter()
        .map(|p| {
            let help = match (&p.default, p.required) {
                (_, true) => format!("required {}", p.kind),
                (Some(d), false) => format!("{}, default {d}", p.kind),
                (None, false) => format!("optional {}", p.kind),
            };
            (format!("{}=", p.name), Some(help))
        })
        .collect();
    for (n, m) in &doc.params.from_modules {
        names.push((format!("{n}="), Some(format!("read by the `{m}` module"))));
    }
    for (n, what) in crate::run::script::GLOBAL_PARAMS {
        names.push((format!("{n}="), Some((*what).to_owned())));
    }
    matching(current, names)
}

/// The kubeconfig the line points at: `--kubeconfig`, the tools dir's
/// targetCluster/kubeconfig, `$KUBECONFIG`, `~/.kube/config`.
fn kubeconfig(words: &[String]) -> Option<kube::config::Kubeconfig> {
    let path = flag(words, &["--kubeconfig"])
        .map(PathBuf::from)
        .or_else(|| tools(words).map(|t| t.join("targetCluster/kubeconfig")).filter(|p| p.is_file()))
        .or_else(|| {
            std::env::var_os("KUBECONFIG")
                .and_then(|k| std::env::split_paths(&k).next())
                .filter(|p| p.is_file())
        })
        .or_else(|| dirs::home_dir().map(|h| h.join(".kube/config")))?;
    kube::config::Kubeconfig::read_from(path).ok()
}

/// Kube contexts of the kubeconfig.
pub fn contexts(current: &OsStr) -> Vec<CompletionCandidate> {
    let words = words();
    let Some(k) = kubeconfig(&words) else { return Vec::new() };
    matching(
        current,
        k.contexts.into_iter().map(|c| {
            let ns = c.context.and_then(|x| x.namespace).map(|n| format!("namespace {n}"));
            (c.name, ns)
        }),
    )
}

/// Namespaces: the installation's (`vantiq.installation` in the tools dir's
/// cluster.properties) and those the kubeconfig's contexts name.
pub fn namespaces(current: &OsStr) -> Vec<CompletionCandidate> {
    let words = words();
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    if let Some(t) = tools(&words)
        && let Ok(Some(ns)) = crate::run::target::installation_namespace(&t.join("targetCluster/cluster.properties"))
    {
        names.push((ns, Some("the installation (cluster.properties)".into())));
    }
    if let Some(k) = kubeconfig(&words) {
        for c in k.contexts {
            if let Some(ns) = c.context.and_then(|x| x.namespace)
                && !names.iter().any(|(n, _)| *n == ns)
            {
                names.push((ns, Some(format!("context {}", c.name))));
            }
        }
    }
    names.push(("shared".into(), Some("InfluxDB, nginx".into())));
    matching(current, names)
}

/// The registration script of a shell: its completion calls back into this binary.
pub fn registration(shell: clap_complete::Shell) -> Result<String, String> {
    let name = match shell {
        clap_complete::Shell::Bash => "bash",
        clap_complete::Shell::Zsh => "zsh",
        clap_complete::Shell::Fish => "fish",
        clap_complete::Shell::Elvish => "elvish",
        clap_complete::Shell::PowerShell => "powershell",
        other => return Err(format!("no completion for {other}")),
    };
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells.completer(name).ok_or_else(|| format!("no completion for {name}"))?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "vscript".into());
    let mut buf = Vec::new();
    completer
        .write_registration("COMPLETE", "vscript", "vscript", &exe, &mut buf)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
