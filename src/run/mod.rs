//! A run of a procedure, owned here from start to end: **prepare** (the script, its
//! parameters, the resumed attempt, the session and the engine — nothing changes yet),
//! **execute** (the journal, the maintenance lock, the script, the failure handler) and
//! **outcome** (the invariant report, the lock's release, the journal's end, the JSON and
//! Markdown reports). The command line, the REPL and the fleet use this module; it uses
//! none of them.

pub mod history;
pub mod journal;
pub mod lock;
pub mod outcome;
pub mod preflight;
pub mod report;
pub mod script;
pub mod session;
pub mod target;
pub mod translate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine;
pub use outcome::{EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure};
pub use session::Session;
pub use target::TargetSpec;

/// What the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// A script path or a procedure name.
    pub script: String,
    /// `--set` parameters.
    pub params: BTreeMap<String, String>,
    pub target: TargetSpec,
    pub dry_run: bool,
    pub yes: bool,
    /// `--output json`: the report on stdout at the end.
    pub json: bool,
    /// `--report FILE.md`, in `lang`.
    pub report: Option<PathBuf>,
    pub lang: report::Lang,
    /// `--resume RUN_ID`.
    pub resume: Option<String>,
    pub force_unlock: bool,
    /// `--tz`: the time zone of the report's times (default: JST for `ja`, the local zone for `en`).
    pub tz: Option<report::Zone>,
    /// `--keep`: keep a successful rehearsal's files (the simulator's dir, the run's temp dir).
    pub keep: bool,
}

/// What `execute` leaves for the end of the run.
struct Ran {
    code: u8,
    /// The summary block's rows: `(label, value)`.
    summary: Vec<(String, String)>,
    /// The run's temp dir (`temp_dir()`), if the script made one.
    temp: Option<PathBuf>,
}

/// Runs a procedure; the exit code, or a setup failure before anything ran.
pub fn run(req: RunRequest) -> Result<u8, Failure> {
    // A wrong procedure name, an unknown function or a mistyped `--set` is refused before
    // anything starts (no simulator, no cluster connection).
    precheck(&req)?;
    let resumed = match &req.resume {
        Some(id) => Some(resumed_run(&req, id)?),
        None => None,
    };
    let mut params = req.params.clone();
    if let Some(r) = &resumed {
        params = resume_params(r, &req.params)?;
    }
    let session = session::open(&req.target, params)?;
    let rehearsal = session.rehearsal.is_some();
    let ran = {
        let _guard = session.rt.enter();
        execute(&req, &session, resumed.as_ref())
    };
    // A successful rehearsal leaves nothing behind; a failed one (or `--keep`) keeps its
    // files for inspection, and says where.
    let ok = matches!(&ran, Ok(r) if r.code == EXIT_OK);
    let remove = rehearsal && ok && !req.keep;
    let kept = session.close(remove);
    let ran = ran?;
    let mut summary = ran.summary;
    if let Some(t) = &ran.temp {
        if remove {
            let _ = std::fs::remove_dir_all(t);
        } else {
            summary.push(("temp files".into(), t.display().to_string()));
        }
    }
    if remove {
        for (k, v) in summary.iter_mut() {
            if k == "journal" {
                v.push_str(" (removed with the rehearsal files)");
            }
        }
    }
    if let Some(dir) = kept {
        summary.push(("rehearsal files".into(), format!("{} (kept)", dir.display())));
    } else if remove {
        summary.push(("rehearsal files".into(), "removed (--keep keeps them)".into()));
    }
    crate::errln!("{}", summary_block(&summary));
    Ok(ran.code)
}

/// The block every run ends with: result, time, downtime, run id, journal, report.
fn summary_block(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = String::from("vscript: summary");
    for (k, v) in rows {
        out.push_str(&format!("\n  {k:w$}  {v}"));
    }
    out
}

/// The checks made before a session starts: the script exists (with the closest names
/// when it does not), compiles and lints, and every `--set` key is a parameter it reads.
fn precheck(req: &RunRequest) -> Result<(), Failure> {
    let tools = match &req.target.tools {
        Some(t) if !t.is_dir() => return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display()))),
        Some(t) => Some(t.clone()),
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            cwd.join("targetCluster").is_dir().then_some(cwd)
        }
    };
    let script = script::resolve_script(&req.script, tools.as_deref())?;
    let rt = session::runtime();
    let target = engine::host::Target {
        tools_dir: tools,
        ..engine::host::Target::default()
    };
    let host = Arc::new(engine::Host::assemble(
        target,
        engine::host::Options::default(),
        engine::host::Output::default(),
        rt.handle().clone(),
        Some(rt.clone()),
    ));
    let engine = crate::script_api::engine(host.clone());
    let ast = script::compile(&engine, &script, &host)?;
    let known = script::known_params(&engine, &ast, &host);
    script::check_param_names(&script, &known, &req.params)
}

/// The run `--resume` names, checked.
fn resumed_run(req: &RunRequest, id: &str) -> Result<journal::RunRecord, Failure> {
    let tools = target::resolve(&req.target, None)?
        .tools_dir
        .ok_or_else(|| Failure::usage("--resume needs the tools dir the run was made in (--tools DIR)"))?;
    let r = journal::read_run(&tools, id)
        .ok_or_else(|| Failure::usage(format!("no run `{id}` in {} (see `vscript runs`)", tools.display())))?;
    if r.exit_code == Some(0) {
        return Err(Failure::usage(format!("run `{}` finished successfully: nothing to resume", r.id)));
    }
    Ok(r)
}

/// A resumed run uses the first attempt's parameters; a `--set` that differs is refused,
/// naming every difference.
fn resume_params(r: &journal::RunRecord, given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Failure> {
    let recorded: BTreeMap<String, String> = r
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
        .collect();
    let diffs: Vec<String> = given
        .iter()
        .filter_map(|(k, v)| match recorded.get(k) {
            Some(old) if old == v => None,
            Some(old) => Some(format!("{k}: {old} in run {}, {v} now", r.id)),
            None => Some(format!("{k}: not set in run {}, {v} now", r.id)),
        })
        .collect();
    if !diffs.is_empty() {
        return Err(Failure::usage(format!(
            "--resume continues run {} with its own parameters; these --set values differ:\n  {}\n\
             Drop them to resume, or start a new run (after a rollback, if the first attempt changed something)",
            r.id,
            diffs.join("\n  ")
        )));
    }
    Ok(recorded)
}

fn execute(req: &RunRequest, session: &Session, resumed: Option<&journal::RunRecord>) -> Result<Ran, Failure> {
    let script = script::resolve_script(&req.script, session.target.tools_dir.as_deref())?;
    if let Some(r) = resumed
        && r.script != script.name
    {
        return Err(Failure::usage(format!("run `{}` was `{}`, not `{}`", r.id, r.script, script.name)));
    }
    let host = session.host(Some(&script.name), req.dry_run, req.yes, req.json);
    if let Some(r) = resumed {
        host.state().resume_from(r.resumed());
    }
    let host = Arc::new(host);
    if let Some(tools) = &host.target().tools_dir {
        let chain = resumed.map(|r| r.chain()).unwrap_or_default();
        host.state().set_history(Arc::new(history::JournalHistory::new(tools, chain)));
    }
    let mut engine = crate::script_api::engine(host.clone());
    if req.json {
        // stdout carries only the JSON report.
        let h = host.clone();
        engine.on_print(move |s| crate::errln!("{}", h.secrets().redact(s)));
    }
    let ast = script::compile(&engine, &script, &host)?;
    // Every required parameter must be there before anything runs.
    let missing: Vec<String> = engine::lint::params(&ast)
        .into_iter()
        .filter(|p| p.required && !host.opts().params.contains_key(&p.name))
        .map(|p| format!("--set {}=…", p.name))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::usage(format!("{} needs parameter(s): {}", script.name, missing.join(" "))));
    }

    // Say what we act on before anything changes.
    crate::errln!(
        "{}",
        session.banner(&format!("{} ({})", script.name, script.origin), host.dry_run())
    );
    session::install_signals(&session.bg, host.clone());
    let journal = match (&host.target().tools_dir, host.dry_run()) {
        (Some(t), false) => match journal::Journal::create(t, &script.name) {
            Ok(j) => Some(Arc::new(j)),
            Err(e) => return Err(Failure::failed(format!("cannot write the run journal in {}: {e}", t.display()))),
        },
        _ => None,
    };
    // The maintenance lock, for runs that act on the cluster.
    let lock = if script::needs_lock(&script, host.dry_run()) {
        let id = journal.as_ref().map(|j| j.id.clone()).unwrap_or_else(|| "-".into());
        Some(lock::take(
            &host,
            session,
            &lock::identity(&id),
            req.force_unlock,
            resumed.map(|r| r.id.as_str()),
        )?)
    } else {
        None
    };
    if let Some(r) = resumed {
        crate::errln!(
            "vscript: resuming run {}: {} completed step(s) will be skipped",
            r.id,
            r.steps_done.len()
        );
    }
    if let Some(j) = &journal {
        host.state().set_run_id(&j.id);
        crate::errln!("vscript: run {} (journal {})", j.id, host.show_path(&j.path));
        let params: serde_json::Map<String, Value> = host
            .opts()
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(host.secrets().redact(v))))
            .collect();
        j.event(
            "start",
            json!({ "script": script.name, "origin": script.origin, "params": params, "target": host.target(),
                    "context": session.context, "resumed_from": resumed.map(|r| r.id.clone()), "chain": resumed.map(|r| r.chain()).unwrap_or_default(),
                    "prior_changes": resumed.map(|r| r.changes()).unwrap_or(0) }),
        );
        // A resumed run's journal carries what the attempts before it left, so that a
        // later rollback (`last_run`) or a further `--resume` finds it in the newest run.
        if let Some(r) = resumed {
            r.carry_over(j);
        }
    }
    let steps = report::StepLog::default();
    let (jj, log) = (journal.clone(), steps.clone());
    host.state().set_journal(Box::new(move |kind, data| {
        log.event(kind, &data);
        if let Some(j) = &jj {
            j.event(kind, data);
        }
    }));

    let started = chrono::Utc::now();
    let mut scope = rhai::Scope::new();
    let result = engine.run_ast_with_scope(&mut scope, &ast);
    let finished = chrono::Utc::now();
    let (mut code, error) = match &result {
        Ok(()) => (EXIT_OK, None),
        Err(e) => {
            let lookup = |name: &str| -> Option<String> {
                if name == script.source_name {
                    return Some(script.text.clone());
                }
                let n = name.rsplit('/').next().unwrap_or(name).trim_end_matches(".rhai");
                engine::resolver::StdlibResolver::new(&host).locate(n).map(|(_, s)| s)
            };
            let rendered = host.secrets().redact(&engine::render::render_eval(e, &script.source_name, &lookup));
            (outcome::exit_code_of(e, &host), Some(rendered))
        }
    };
    if let Some(msg) = &error {
        crate::errln!("{msg}");
        // A failure outside any step: run the handler here (imports are not in scope then).
        if let Some(fp) = host.state().take_on_failure() {
            host.state().reset_cancel();
            if let Err(e) = fp.call::<rhai::Dynamic>(&engine, &ast, ()) {
                crate::errln!(
                    "vscript: the failure handler itself failed: {}",
                    host.secrets().redact(&engine::error_text(&e))
                );
            }
        }
    }

    let violations = session.invariant_report();
    if violations.as_ref().is_some_and(|v| !v.is_empty()) && code == EXIT_OK {
        code = EXIT_FAILED;
    }
    if let Some(held) = lock {
        held.release(&host);
    }
    if let Some(j) = &journal {
        j.event("end", json!({ "exit_code": code, "error": error }));
    }
    let downtime = if host.dry_run() {
        None
    } else {
        steps.downtime(&host.state().resumed_steps())
    };
    let mut summary: Vec<(String, String)> = vec![
        ("result".into(), format!("{} (exit {code})", report::result_of(code))),
        (
            "time".into(),
            report::duration(u64::try_from((finished - started).num_milliseconds()).unwrap_or(0)),
        ),
    ];
    if let Some(d) = &downtime {
        summary.push(("downtime".into(), report::downtime_text(d)));
    }
    if host.dry_run() {
        summary.push(("mode".into(), "dry run: nothing was changed".into()));
    }
    if let Some(j) = &journal {
        summary.push(("run id".into(), j.id.clone()));
        summary.push(("journal".into(), j.path.display().to_string()));
        if code != EXIT_OK && host.state().changes_made() > 0 {
            summary.push(("resume".into(), format!("vscript run {} --resume {}", script.name, j.id)));
        }
    }
    if let Some(path) = &req.report {
        summary.push(("report".into(), path.display().to_string()));
    }
    if req.json || req.report.is_some() {
        let remembered = host.state().remembered();
        let report = json!({
            "schema": report::RUN_SCHEMA,
            "context": session.context,
            "rehearsal": session.rehearsal.is_some(),
            "duration_ms": u64::try_from((finished - started).num_milliseconds()).unwrap_or(0),
            "result": report::result_of(code),
            "steps": steps.list(),
            "findings": remembered.get("findings"),
            "script": script.name,
            "origin": script.origin,
            "target": host.target(),
            "dry_run": host.dry_run(),
            "started": started.to_rfc3339(),
            "finished": finished.to_rfc3339(),
            "exit_code": code,
            "error": error,
            "run_id": journal.as_ref().map(|j| j.id.clone()),
            "effects": host.state().effects(),
            "remembered": remembered,
            "violations": violations.as_ref().map(|v| serde_json::to_value(v).unwrap_or_default()),
            "warnings": host.state().trust_warnings(),
            "downtime": downtime,
            "about": report::about_of(&remembered),
        });
        let report = host.redact_value(report);
        if let Some(path) = &req.report
            && let Err(e) = std::fs::write(path, report::markdown(&report, req.lang, req.tz.clone()))
        {
            crate::errln!("vscript: cannot write the report {}: {e}", path.display());
            code = code.max(EXIT_FAILED);
        }
        if req.json {
            use std::io::Write;
            let text = host.secrets().redact(&serde_json::to_string_pretty(&report).unwrap_or_default());
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }
    let temp = host.sandbox().made_temp_dir();
    // The process ends soon: freeing the engine's function tables and the AST one by one
    // would only cost time (about a millisecond).
    std::mem::forget(engine);
    std::mem::forget(ast);
    Ok(Ran { code, summary, temp })
}
