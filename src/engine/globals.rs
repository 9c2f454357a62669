//! Global script functions: parameters, steps, confirmations, messages, time.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext};

use super::error::{RhaiResultOf, fail};
use super::host::{Host, host, humantime};

/// Why a run stopped on purpose: carries the exit code (3 aborted, 4 safety refusal).
#[derive(Debug, Clone)]
pub struct Abort {
    pub code: u8,
    pub message: String,
}

/// An error that stops the run with a chosen exit code.
pub fn abort(ctx: &NativeCallContext, code: u8, message: impl Into<String>) -> Box<EvalAltResult> {
    let message = message.into();
    EvalAltResult::ErrorRuntime(Dynamic::from(Abort { code, message }), ctx.call_position()).into()
}

fn get_param(ctx: &NativeCallContext, name: &str) -> RhaiResultOf<Option<String>> {
    Ok(host(ctx)?.opts().params.get(name).cloned())
}

/// Converts a Java-style date pattern (`yyyyMMdd`, `yyyy-MM-dd HH:mm:ss`) to chrono's.
pub fn java_date_format(pattern: &str) -> String {
    pattern
        .replace("yyyy", "%Y")
        .replace("MM", "%m")
        .replace("dd", "%d")
        .replace("HH", "%H")
        .replace("mm", "%M")
        .replace("ss", "%S")
}

#[rhai::export_module]
pub mod globals {
    use super::*;

    /// The value of a parameter given with `--set name=value` (or `vscript.toml`); fails when missing.
    /// ```rhai
    /// let tag = param("tag");
    /// ```
    #[rhai_fn(return_raw, name = "param")]
    pub fn param(ctx: NativeCallContext, name: &str) -> RhaiResultOf<String> {
        get_param(&ctx, name)?.ok_or_else(|| fail(&ctx, format!("missing parameter `{name}`: pass it with --set {name}=VALUE")))
    }

    /// The value of a parameter, or `default` when it was not given.
    /// ```rhai
    /// let timeout = param("timeout", "900").parse_int();
    /// ```
    #[rhai_fn(return_raw, name = "param")]
    pub fn param_or(ctx: NativeCallContext, name: &str, default: &str) -> RhaiResultOf<String> {
        Ok(get_param(&ctx, name)?.unwrap_or_else(|| default.to_owned()))
    }

    /// A parameter that is a duration in seconds (a timeout), or `default`: refused unless
    /// it is a whole number greater than 0.
    /// ```rhai
    /// let timeout = param_seconds("timeout", 1800);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn param_seconds(ctx: NativeCallContext, name: &str, default: i64) -> RhaiResultOf<i64> {
        let Some(v) = get_param(&ctx, name)? else {
            return Ok(default);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(fail(
                &ctx,
                format!("parameter `{name}`: `{v}` is not a positive whole number of seconds"),
            )),
        }
    }

    /// Whether a parameter was given.
    #[rhai_fn(return_raw)]
    pub fn has_param(ctx: NativeCallContext, name: &str) -> RhaiResultOf<bool> {
        Ok(get_param(&ctx, name)?.is_some())
    }

    /// A parameter naming a file the operator supplied: resolved against the directory
    /// vscript was started in, and checked to exist.
    /// ```rhai
    /// let chain = param_file("fullchain");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn param_file(ctx: NativeCallContext, name: &str) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        let v = get_param(&ctx, name)?
            .ok_or_else(|| fail(&ctx, format!("missing parameter `{name}`: pass the file with --set {name}=PATH")))?;
        let p = std::path::Path::new(&v);
        let p = if p.is_absolute() { p.to_owned() } else { h.opts().cwd.join(p) };
        if !p.is_file() {
            return Err(fail(&ctx, format!("parameter `{name}`: file `{}` does not exist", p.display())));
        }
        // The operator passed it: the script may read it.
        h.sandbox().allow_file(&p);
        Ok(p.display().to_string())
    }

    /// Runs one runbook step: prints its title, times it, records it in the journal, and
    /// returns what the body returns. Titles are the keys `--resume` matches on: keep them
    /// unique and stable.
    ///
    /// On `--resume`, a step the interrupted run completed is skipped and returns the
    /// value it returned then; a step it was in the middle of runs again, replaying what
    /// that attempt read and not repeating the changes it had made.
    /// ```rhai
    /// let counts = step("1. Stop Vantiq", || #{ vantiq: k8s::replicas("vantiq") });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn step(ctx: NativeCallContext, title: &str, body: FnPtr) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        if let Some(v) = h.state().resumed_value(title) {
            h.say("⏭", "2", &format!("{title} (completed in the resumed run, skipped)"));
            return rhai::serde::to_dynamic(v);
        }
        let replay = h.state().begin_step(title).map_err(|e| fail(&ctx, e))?;
        h.say("▶", "1;34", title);
        h.journal_event("step-start", serde_json::json!({ "title": title }));
        if !replay.is_empty() {
            let changes = replay.iter().filter(|r| r.is_effect()).count();
            h.say(
                "  ↻",
                "2",
                &format!(
                    "re-entering the interrupted step: {} reading(s) and {changes} change(s) of the first attempt are replayed",
                    replay.len() - changes
                ),
            );
            crate::engine::replay::journal_copy(&h, title, &replay);
        }
        let started = Instant::now();
        match body.call_within_context::<Dynamic>(&ctx, ()) {
            Ok(v) => {
                let took = started.elapsed();
                let value = match rhai::serde::from_dynamic::<serde_json::Value>(&v) {
                    Ok(value) => value,
                    Err(_) => {
                        h.warn(&format!(
                            "the value of step \"{title}\" cannot be journaled (a {}); a resumed run gets ()",
                            v.type_name()
                        ));
                        serde_json::Value::Null
                    }
                };
                h.say(
                    "  ",
                    "",
                    &format!("done in {}", humantime(Duration::from_millis(took.as_millis() as u64))),
                );
                h.journal_event(
                    "step-end",
                    serde_json::json!({ "title": title, "ok": true, "ms": took.as_millis() as u64, "value": h.redact_value(value.clone()) }),
                );
                h.state().end_step(Some(value));
                Ok(v)
            }
            Err(e) => {
                let msg = h.secrets().redact(&crate::engine::error_text(&e));
                h.journal_event("step-end", serde_json::json!({ "title": title, "ok": false, "error": msg }));
                h.state().end_step(None);
                h.say("  ✗", "31", &format!("{title} failed: {}", msg.lines().next().unwrap_or("")));
                // The failure handlers run here, inside the script's context (its imports
                // and variables): first whatever makes the installation safe, then the report.
                run_failure_handlers(&ctx, &h);
                Err(e)
            }
        }
    }

    /// Asks the operator to confirm a downtime or destructive action. `--yes` answers yes;
    /// without a terminal and without `--yes` the run is refused (never hangs); "no" aborts.
    /// ```rhai
    /// confirm("Stop Vantiq now? Downtime starts.");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm(ctx: NativeCallContext, message: &str) -> RhaiResultOf<bool> {
        let h = host(&ctx)?;
        // A re-entered step does not ask again what the operator already answered.
        let key = serde_json::json!(["confirm", message]);
        h.observe(key, || ask(&ctx, &h, message)).map_err(|e| match e {
            crate::engine::gate::GateError::Failed(e) => e,
            other => fail(&ctx, other),
        })
    }

    /// Prints an informational line (stderr).
    #[rhai_fn(return_raw)]
    pub fn info(ctx: NativeCallContext, message: &str) -> RhaiResultOf<()> {
        host(&ctx)?.info(message);
        Ok(())
    }

    /// Asks the operator to type `word` to go on, for what must not happen by accident
    /// (restoring a backup a second time). `--yes` does not answer it; without a terminal,
    /// `--set confirm=WORD` does. Anything else stops the run.
    /// ```rhai
    /// confirm_typed("Restore the same backup again?", "20261124-101500-minor_upgrade");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm_typed(ctx: NativeCallContext, message: &str, word: &str) -> RhaiResultOf<bool> {
        let h = host(&ctx)?;
        let key = serde_json::json!(["confirm_typed", message, word]);
        h.observe(key, || ask_typed(&ctx, &h, message, word)).map_err(|e| match e {
            crate::engine::gate::GateError::Failed(e) => e,
            other => fail(&ctx, other),
        })
    }

    /// Prints a warning line (stderr).
    #[rhai_fn(return_raw)]
    pub fn warn(ctx: NativeCallContext, message: &str) -> RhaiResultOf<()> {
        let h = host(&ctx)?;
        h.warn(message);
        h.journal_event("warning", serde_json::json!({ "message": h.secrets().redact(message) }));
        Ok(())
    }

    /// Waits a number of seconds (interrupted by Ctrl-C). Prefer the `k8s::wait_*` functions.
    #[rhai_fn(return_raw, name = "sleep")]
    pub fn sleep_secs(ctx: NativeCallContext, seconds: f64) -> RhaiResultOf<()> {
        let h = host(&ctx)?;
        let d = Duration::from_secs_f64(seconds.max(0.0));
        let r: Result<(), super::super::host::BlockError<std::convert::Infallible>> =
            h.block("sleeping", d + Duration::from_secs(1), async move {
                tokio::time::sleep(d).await;
                Ok(())
            });
        r.map_err(|e| fail(&ctx, e))
    }

    #[rhai_fn(return_raw, name = "sleep")]
    pub fn sleep_int(ctx: NativeCallContext, seconds: i64) -> RhaiResultOf<()> {
        sleep_secs(ctx, seconds as f64)
    }

    /// This run's temporary directory (made at first use): scripts may read and write there.
    /// ```rhai
    /// file::copy("targetCluster/deploy.yaml", `${temp_dir()}/deploy.yaml.before`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn temp_dir(ctx: NativeCallContext) -> RhaiResultOf<String> {
        Ok(host(&ctx)?.sandbox().temp_dir().display().to_string())
    }

    /// The current time, RFC 3339 UTC (`2026-11-25T10:45:48Z`).
    #[rhai_fn(return_raw)]
    pub fn now(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        h.observe(serde_json::json!(["clock.now"]), || {
            Ok::<_, std::convert::Infallible>(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// Today's date in a Java-style pattern, local time: `today("yyyyMMdd")` → `20261125`.
    #[rhai_fn(return_raw)]
    pub fn today(ctx: NativeCallContext, pattern: &str) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        h.observe(serde_json::json!(["clock.today", pattern]), || {
            Ok::<_, std::convert::Infallible>(chrono::Local::now().format(&java_date_format(pattern)).to_string())
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// Seconds from now until an RFC 3339 time (negative when past).
    #[rhai_fn(return_raw)]
    pub fn seconds_until(ctx: NativeCallContext, time: &str) -> RhaiResultOf<i64> {
        let h = host(&ctx)?;
        let t = chrono::DateTime::parse_from_rfc3339(time).map_err(|e| fail(&ctx, format!("`{time}` is not an RFC 3339 time: {e}")))?;
        h.observe(serde_json::json!(["clock.seconds_until", time]), || {
            Ok::<_, std::convert::Infallible>((t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds())
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// An environment variable, or `()` when unset.
    pub fn env(name: &str) -> Dynamic {
        std::env::var(name).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    }

    /// Remembers a value for the report, the journal and `--resume` (e.g. replica counts).
    #[rhai_fn(return_raw)]
    pub fn remember(ctx: NativeCallContext, key: &str, value: Dynamic) -> RhaiResultOf<()> {
        let h = host(&ctx)?;
        let v = h.redact_value(crate::engine::secret::to_json(&value));
        h.journal_event("remember", serde_json::json!({ "key": key, "value": v }));
        h.state().remember(key, v);
        Ok(())
    }

    /// A remembered value (this run, or the run being resumed), or `()`.
    #[rhai_fn(return_raw)]
    pub fn recall(ctx: NativeCallContext, key: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        match h.state().recall(key) {
            Some(v) => rhai::serde::to_dynamic(v),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// A setting from the tools dir's `vscript.toml` (dotted key), or `()`.
    /// ```rhai
    /// let url = setting("vantiq.url");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn setting(ctx: NativeCallContext, key: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        match h.setting(key) {
            Some(v) => rhai::serde::to_dynamic(v.clone()),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// Registers what to do if the run fails later: typically print the state the cluster
    /// is in and which rollback to run. The last registration wins.
    /// ```rhai
    /// on_failure(|| warn("run minor_upgrade_rollback to undo"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn on_failure(ctx: NativeCallContext, handler: FnPtr) -> RhaiResultOf<()> {
        host(&ctx)?.state().on_failure(Some(handler));
        Ok(())
    }

    /// Registers what makes the installation safe if a step fails from the start of step
    /// `from` until step `until` has completed — before the failure is reported and the
    /// run stops. A minor upgrade holds vantiq at one pod and the components at 0 during
    /// the schema migration this way. The window is known across `--resume`s.
    /// ```rhai
    /// safe_state("8. Deploy", "9. Follow the migration", || k8s::scale("vantiq", 1));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn safe_state(ctx: NativeCallContext, from: &str, until: &str, handler: FnPtr) -> RhaiResultOf<()> {
        host(&ctx)?.state().add_safe_state(crate::engine::host::SafeState {
            from: from.to_owned(),
            until: until.to_owned(),
            handler,
        });
        Ok(())
    }

    /// What the newest run of a procedure that changed something remembered in this tools
    /// dir's journal (`#{ run_id, started, ok, ...remembered values }`), or `()`.
    /// Rollbacks use it to find what they restore.
    /// ```rhai
    /// let up = last_run("patch_upgrade");
    /// if up != () { print(up.tag_before); }
    /// ```
    #[rhai_fn(return_raw, name = "last_run")]
    pub fn last_run(ctx: NativeCallContext, script: &str) -> RhaiResultOf<Dynamic> {
        find_run(&ctx, script, None)
    }

    /// The newest run of a procedure whose remembered values match `filter`
    /// (`#{ phase: "pre" }`), whether or not it changed anything; or `()`.
    #[rhai_fn(return_raw, name = "last_run")]
    pub fn last_run_where(ctx: NativeCallContext, script: &str, filter: rhai::Map) -> RhaiResultOf<Dynamic> {
        find_run(&ctx, script, Some(filter))
    }

    /// How many changes this run has made so far (side effects that were carried out).
    /// Failure handlers use it to tell "nothing changed" from "needs a rollback".
    #[rhai_fn(return_raw)]
    pub fn changes_made(ctx: NativeCallContext) -> RhaiResultOf<i64> {
        Ok(i64::try_from(host(&ctx)?.state().changes_made()).unwrap_or(i64::MAX))
    }

    /// This run's id in the journal (for `--resume`), or `""` when there is no journal.
    #[rhai_fn(return_raw)]
    pub fn run_id(ctx: NativeCallContext) -> RhaiResultOf<String> {
        Ok(host(&ctx)?.state().run_id().unwrap_or_default())
    }

    /// Whether this is a `--dry-run`.
    #[rhai_fn(return_raw)]
    pub fn is_dry_run(ctx: NativeCallContext) -> RhaiResultOf<bool> {
        Ok(host(&ctx)?.dry_run())
    }

    /// The target of this run: `#{ namespace, cluster, context, tools_dir, kubeconfig }`.
    #[rhai_fn(return_raw)]
    pub fn target(ctx: NativeCallContext) -> RhaiResultOf<Dynamic> {
        rhai::serde::to_dynamic(host(&ctx)?.target())
    }

    /// Stops the script with an error message (exit code 1).
    #[rhai_fn(return_raw, name = "fail")]
    pub fn fail_script(ctx: NativeCallContext, message: &str) -> RhaiResultOf<()> {
        Err(fail(&ctx, message))
    }
}

/// Asks the operator (or answers for them with `--yes`, or in a dry run).
fn ask(ctx: &NativeCallContext, h: &Host, message: &str) -> RhaiResultOf<bool> {
    if h.opts().yes {
        h.say("  ?", "33", &format!("{message} yes (--yes)"));
        h.journal_event("confirm", serde_json::json!({ "message": message, "answer": "yes (--yes)" }));
        return Ok(true);
    }
    if h.dry_run() {
        h.say("  ?", "33", &format!("{message} (dry run: not asked)"));
        return Ok(true);
    }
    if !h.opts().interactive {
        return Err(abort(
            ctx,
            4,
            format!("confirmation needed but there is no terminal to ask: \"{message}\"; re-run with --yes to answer yes"),
        ));
    }
    crate::err!("  ? {message} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    h.journal_event(
        "confirm",
        serde_json::json!({ "message": message, "answer": if yes { "yes" } else { "no" } }),
    );
    if yes {
        Ok(true)
    } else {
        Err(abort(ctx, 3, format!("declined by the operator: \"{message}\"")))
    }
}

/// Asks for a typed confirmation (see `confirm_typed`).
fn ask_typed(ctx: &NativeCallContext, h: &Host, message: &str, word: &str) -> RhaiResultOf<bool> {
    if h.opts().params.get("confirm").is_some_and(|c| c == word) {
        h.say("  ?", "33", &format!("{message} confirmed with --set confirm={word}"));
        h.journal_event(
            "confirm",
            serde_json::json!({ "message": message, "answer": "typed (--set confirm)" }),
        );
        return Ok(true);
    }
    if h.dry_run() {
        h.say(
            "  ?",
            "33",
            &format!("{message} (dry run: not asked; the real run needs `{word}` typed)"),
        );
        return Ok(true);
    }
    if !h.opts().interactive {
        return Err(abort(
            ctx,
            4,
            format!("\"{message}\" needs a typed confirmation: run it at a terminal and type `{word}`, or pass --set confirm={word}"),
        ));
    }
    crate::err!("  ? {message}\n    Type `{word}` to go on (anything else stops): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let ok = line.trim() == word;
    h.journal_event(
        "confirm",
        serde_json::json!({ "message": message, "answer": if ok { "typed" } else { "not typed" } }),
    );
    if ok {
        Ok(true)
    } else {
        Err(abort(ctx, 3, format!("not confirmed by the operator: \"{message}\"")))
    }
}

fn find_run(ctx: &NativeCallContext, script: &str, filter: Option<rhai::Map>) -> RhaiResultOf<Dynamic> {
    let h = host(ctx)?;
    let Some(history) = h.state().history() else {
        return Ok(Dynamic::UNIT);
    };
    let filter: Option<serde_json::Map<String, serde_json::Value>> = match filter {
        Some(f) => Some(rhai::serde::from_dynamic(&Dynamic::from_map(f))?),
        None => None,
    };
    // A journal read: a re-entered step sees the run the first attempt saw.
    let key = serde_json::json!(["last_run", script, filter]);
    let found = h
        .observe(key, || Ok::<_, std::convert::Infallible>(history.last_run(script, filter.as_ref())))
        .map_err(|e| fail(ctx, e))?;
    match found {
        Some(m) => rhai::serde::to_dynamic(serde_json::Value::Object(m)),
        None => Ok(Dynamic::UNIT),
    }
}

/// After a step failed: the open safe-state handlers (retried writes that make the
/// installation safe), then the `on_failure` report, each once, with a fresh cancel token.
fn run_failure_handlers(ctx: &NativeCallContext, h: &Host) {
    let safe = h.state().open_safe_states();
    if !safe.is_empty() {
        h.state().reset_cancel();
        h.warn("making the installation safe before stopping (interrupt again to leave it as it is)");
        for s in safe {
            if let Err(e) = s.handler.call_within_context::<Dynamic>(ctx, ()) {
                h.warn(&format!(
                    "COULD NOT MAKE THE INSTALLATION SAFE ({} .. {}): {}",
                    s.from,
                    s.until,
                    h.secrets().redact(&crate::engine::error_text(&e))
                ));
            }
        }
    }
    if let Some(fp) = h.state().take_on_failure() {
        // Interrupted: the handler still gets to describe the state (a fresh token),
        // and a second interrupt ends the process.
        h.state().reset_cancel();
        if let Err(he) = fp.call_within_context::<Dynamic>(ctx, ()) {
            h.warn(&format!("the failure handler itself failed: {}", crate::engine::error_text(&he)));
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_global_module(rhai::exported_module!(globals).into());
}
