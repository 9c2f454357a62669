//! The one gate every write and every recorded read goes through.
//!
//! **Writes** ([`Host::change`]): k8s, files, gradle, git and http changes all pass here,
//! which handles, in one place:
//! - `--dry-run` (the primitive is told to simulate; the effect is shown as "would …");
//! - the maintenance lease (a run that lost its lock stops before its next write);
//! - the journal (the intent before the change, flushed; the outcome after);
//! - printing and redaction;
//! - replay: in a step re-entered after a crash, a change the interrupted attempt
//!   carried out is not made again (its recorded result is returned), and one it started
//!   but did not finish is carried out again with the same plan (e.g. the same backup name).
//!
//! **Reads** ([`Host::observe`]): what a step reads (cluster objects, files, the clock,
//! answers) is journaled, so that a step re-entered after a crash at any of its changes
//! sees what the first attempt saw — never the half-changed installation.
//!
//! `tests/it/gate.rs` lists every registered write primitive and proves each goes
//! through here.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::host::{Effect, Host, Outcome, Record};

/// A change about to be made.
#[derive(Debug, Clone)]
pub struct Change {
    /// `k8s.scale`, `file.replace`, `gradle.run`, …
    pub action: String,
    /// What it acts on, as the operator reads it: `StatefulSet acme/vantiq`.
    pub target: String,
    /// What identifies it beyond action and target (the replica count, the key and value
    /// set): a re-entered step must ask for the same change to skip it.
    pub detail: Value,
    /// The state before, for the journal and the report.
    pub before: Option<Value>,
    /// The state after, for the journal and the report.
    pub after: Option<Value>,
    /// How it will be carried out, fixed before it starts (a backup's name, a restart's
    /// time): an unfinished change is carried out again with the same plan, with
    /// `again: true` added.
    pub plan: Value,
}

impl Change {
    pub fn new(action: &str, target: impl Into<String>) -> Change {
        Change {
            action: action.to_owned(),
            target: target.into(),
            detail: Value::Null,
            before: None,
            after: None,
            plan: Value::Null,
        }
    }
    pub fn detail(mut self, d: Value) -> Self {
        self.detail = d;
        self
    }
    pub fn before(mut self, v: impl Into<Option<Value>>) -> Self {
        self.before = v.into();
        self
    }
    pub fn after(mut self, v: impl Into<Option<Value>>) -> Self {
        self.after = v.into();
        self
    }
    pub fn plan(mut self, v: Value) -> Self {
        self.plan = v;
        self
    }
    fn key(&self) -> Value {
        json!({ "action": self.action, "target": self.target, "detail": self.detail })
    }
}

/// How the primitive must carry a change out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Real,
    /// `--dry-run`: simulate (Kubernetes `dryRun=All`, a diff for files), change nothing.
    DryRun,
}

/// Why a change or a read did not happen.
#[derive(Debug, thiserror::Error)]
pub enum GateError<E> {
    /// The gate refused: the lease is lost, or a re-entered step took another path.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(E),
}

fn divergence(step: &str, recorded: &Record, now: &str) -> String {
    let was = match recorded {
        Record::Read { key, .. } => format!("read {key}"),
        Record::Effect { key, .. } => format!("change {key}"),
    };
    format!(
        "cannot re-enter step \"{step}\" safely: at this point the interrupted attempt did {was}, this attempt does {now}. \
         The script, its parameters or vscript.toml changed since; nothing more is changed. Finish the step by hand or run the rollback"
    )
}

impl Host {
    /// Carries a change out through the gate. `f` gets the mode and the effective plan
    /// (the recorded one when an unfinished change is carried out again).
    pub fn change<T, E>(&self, c: Change, f: impl FnOnce(Mode, &Value) -> Result<T, E>) -> Result<T, GateError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: Display,
    {
        let key = c.key();
        let state = self.state();
        let mut plan = c.plan.clone();
        if !self.dry_run()
            && let Some(rec) = state.next_replay()
        {
            let step = state.current_step().unwrap_or_default();
            match rec {
                Record::Effect { key: k, plan: p, outcome } if k == key => match outcome {
                    Outcome::Done(v) => {
                        self.say(
                            "  ↺",
                            "2",
                            &format!("{} {}: already done by the interrupted attempt", c.action, c.target),
                        );
                        return serde_json::from_value(v)
                            .map_err(|e| GateError::Refused(format!("the recorded result of {key} cannot be read back: {e}")));
                    }
                    Outcome::Pending | Outcome::Failed(_) => {
                        self.say(
                            "  ↻",
                            "2",
                            &format!(
                                "{} {}: carried out again (the interrupted attempt did not finish it)",
                                c.action, c.target
                            ),
                        );
                        // The primitive learns that the change may have been made already
                        // (`plan.again`): a delete that finds nothing, a create that finds
                        // its own object, are then done.
                        plan = match p {
                            Value::Object(mut m) => {
                                m.insert("again".into(), Value::Bool(true));
                                Value::Object(m)
                            }
                            _ => json!({ "again": true }),
                        };
                    }
                },
                other => return Err(GateError::Refused(divergence(&step, &other, &format!("change {key}")))),
            }
        }
        if self.dry_run() {
            let r = f(Mode::DryRun, &plan);
            let result = match &r {
                Ok(_) => "dry-run".to_owned(),
                Err(e) => format!("failed: {}", self.secrets().redact(&e.to_string())),
            };
            self.record_effect(&c, &result, None, &key, &plan);
            return r.map_err(GateError::Failed);
        }
        if let Err(why) = state.guard_write() {
            return Err(GateError::Refused(why));
        }
        if let Some(why) = state.lease.refusal() {
            let msg = format!(
                "this run no longer holds the maintenance lock ({why}): stopped before {} {}. Another run may be changing the installation",
                c.action, c.target
            );
            self.journal_event("lease-lost", json!({ "reason": why, "before": key }));
            return Err(GateError::Refused(msg));
        }
        let step = state.current_step();
        self.journal_event(
            "effect-start",
            json!({ "step": step, "key": key, "plan": self.redact_value(plan.clone()) }),
        );
        let r = f(Mode::Real, &plan);
        match &r {
            Ok(v) => {
                let value = serde_json::to_value(v).unwrap_or(Value::Null);
                self.record_effect(&c, "done", Some(value), &key, &plan);
                pause_for_tests(self);
            }
            Err(e) => {
                let msg = self.secrets().redact(&e.to_string());
                self.record_effect(&c, &format!("failed: {msg}"), None, &key, &plan);
            }
        }
        r.map_err(GateError::Failed)
    }

    /// A read a re-entered step replays: `key` names it (`["k8s.get", "StatefulSet", ns, name]`).
    pub fn observe<T, E>(&self, key: Value, f: impl FnOnce() -> Result<T, E>) -> Result<T, GateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        self.observe_inner(key, false, f)
    }

    /// A read whose value holds secrets: journaled without its value, read again when replayed.
    pub fn observe_secret<T, E>(&self, key: Value, f: impl FnOnce() -> Result<T, E>) -> Result<T, GateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        self.observe_inner(key, true, f)
    }

    fn observe_inner<T, E>(&self, key: Value, secret: bool, f: impl FnOnce() -> Result<T, E>) -> Result<T, GateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        let state = self.state();
        if let Some(rec) = state.next_replay() {
            let step = state.current_step().unwrap_or_default();
            return match rec {
                Record::Read { key: k, value } if k == key => match value {
                    Some(v) => serde_json::from_value(v)
                        .map_err(|e| GateError::Refused(format!("the recorded value of {key} cannot be read back: {e}"))),
                    None => f().map_err(GateError::Failed),
                },
                other => Err(GateError::Refused(divergence(&step, &other, &format!("read {key}")))),
            };
        }
        let v = f().map_err(GateError::Failed)?;
        if state.has_journal()
            && let Some(step) = state.current_step()
        {
            let data = if secret {
                json!({ "step": step, "key": key, "secret": true })
            } else {
                let value = self.redact_value(serde_json::to_value(&v).unwrap_or(Value::Null));
                json!({ "step": step, "key": key, "value": value })
            };
            self.journal_event("read", data);
        }
        Ok(v)
    }

    /// Records a change (done, dry-run or failed): printed, journaled, kept for the report.
    fn record_effect(&self, c: &Change, result: &str, value: Option<Value>, key: &Value, plan: &Value) {
        let e = Effect {
            action: c.action.clone(),
            target: self.secrets().redact(&c.target),
            before: c.before.clone().map(|v| self.redact_value(v)),
            after: c.after.clone().map(|v| self.redact_value(v)),
            result: result.to_owned(),
        };
        let show = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let shown = match (&e.before, &e.after) {
            (Some(_), Some(_)) => format!(": {} → {}", show(&e.before), show(&e.after)),
            (None, Some(_)) => format!(": {}", show(&e.after)),
            _ => String::new(),
        };
        if result == "dry-run" {
            self.say("  ~", "36", &format!("would {} {}{shown}", e.action, e.target));
        } else if result.starts_with("failed") {
            self.say("  ✗", "31", &format!("{} {}{shown}: {result}", e.action, e.target));
        } else {
            self.say("  ✓", "32", &format!("{} {}{shown}", e.action, e.target));
        }
        let mut data = serde_json::to_value(&e).unwrap_or(Value::Null);
        if let Some(m) = data.as_object_mut() {
            m.insert("step".into(), json!(self.state().current_step()));
            m.insert("key".into(), key.clone());
            m.insert("plan".into(), self.redact_value(plan.clone()));
            if let Some(v) = value {
                m.insert("value".into(), self.redact_value(v));
            }
        }
        self.journal_event("effect", data);
        self.state().push_effect(e);
    }
}

/// `VSCRIPT_PAUSE_AFTER_CHANGE=N` (a test instrument, see docs/safety.md): after its N-th
/// change is carried out and journaled, the run announces it on stderr and waits to be
/// killed. The crash matrix kills it there (SIGKILL: no clean-up at all) and resumes.
fn pause_for_tests(h: &Host) {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let Some(n) = *AT.get_or_init(|| std::env::var("VSCRIPT_PAUSE_AFTER_CHANGE").ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    let done = h.state().effects().iter().filter(|e| e.result == "done").count();
    if done == n {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "vscript-test: paused after change {n}");
        // Until killed — or interrupted (SIGTERM, SIGHUP): then the run goes on and its
        // next call sees the interrupt.
        while !h.cancel().is_tripped() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
