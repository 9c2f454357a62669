//! How a step's readings and changes are written to the journal and read back for replay.
//!
//! Journal events of a step, in order:
//! - `step-start {title}`
//! - `read {step, key, value}` (or `{step, key, secret: true}`: read again on replay)
//! - `effect-start {step, key, plan}`: a change about to be made (flushed first)
//! - `effect {step, key, plan, action, target, before, after, result, value}`: its outcome
//! - `step-end {title, ok, value | error}`
//!
//! A re-entered step first copies the records it replays into the new journal
//! (`replayed: true`), so the newest journal of a chain of `--resume`s always holds the
//! whole history of its interrupted step.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::host::{Host, Outcome, Record};

/// Copies the records a re-entered step replays into this run's journal.
pub fn journal_copy(h: &Host, step: &str, records: &[Record]) {
    for (kind, data) in journal_form(step, records) {
        h.journal_event(kind, data);
    }
}

/// The journal events that record `records` of step `step`, as copies (`replayed: true`).
pub fn journal_form(step: &str, records: &[Record]) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for r in records {
        match r {
            Record::Read { key, value } => out.push((
                "read",
                match value {
                    Some(v) => json!({ "step": step, "key": key, "value": v, "replayed": true }),
                    None => json!({ "step": step, "key": key, "secret": true, "replayed": true }),
                },
            )),
            Record::Effect { key, plan, outcome } => {
                out.push(("effect-start", json!({ "step": step, "key": key, "plan": plan, "replayed": true })));
                let (result, value) = match outcome {
                    Outcome::Pending => continue,
                    Outcome::Done(v) => ("done".to_owned(), v.clone()),
                    Outcome::Failed(m) => (format!("failed: {m}"), Value::Null),
                };
                out.push((
                    "effect",
                    json!({ "step": step, "key": key, "plan": plan, "action": key["action"], "target": key["target"],
                            "result": result, "value": value, "replayed": true }),
                ));
            }
        }
    }
    out
}

/// What a journal says about its steps.
#[derive(Debug, Default, Clone)]
pub struct StepHistory {
    /// Completed steps with their values.
    pub completed: BTreeMap<String, Value>,
    /// Every step that started.
    pub started: BTreeSet<String>,
    /// Steps that started and did not complete: their last attempt's records.
    pub interrupted: BTreeMap<String, Vec<Record>>,
}

/// Reads the steps out of a journal's events (in file order).
pub fn step_history(events: &[Value]) -> StepHistory {
    let mut h = StepHistory::default();
    let mut records: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for ev in events {
        let d = &ev["data"];
        let step = d["step"].as_str().unwrap_or("").to_owned();
        match ev["event"].as_str().unwrap_or("") {
            "step-start" => {
                let t = d["title"].as_str().unwrap_or("").to_owned();
                h.started.insert(t.clone());
                records.insert(t, Vec::new());
            }
            "step-end" => {
                let t = d["title"].as_str().unwrap_or("").to_owned();
                if d["ok"] == true {
                    h.started.insert(t.clone());
                    h.completed.insert(t.clone(), d["value"].clone());
                    records.remove(&t);
                }
            }
            "read" if !step.is_empty() => {
                let value = if d["secret"] == true { None } else { Some(d["value"].clone()) };
                records.entry(step).or_default().push(Record::Read {
                    key: d["key"].clone(),
                    value,
                });
            }
            "effect-start" if !step.is_empty() => {
                let list = records.entry(step).or_default();
                let rec = Record::Effect {
                    key: d["key"].clone(),
                    plan: d["plan"].clone(),
                    outcome: Outcome::Pending,
                };
                // A change carried out again after it failed or was interrupted replaces
                // the earlier attempt's record.
                match list.last_mut() {
                    Some(Record::Effect { key, outcome, .. })
                        if *key == d["key"] && *outcome != Outcome::Pending && !matches!(outcome, Outcome::Done(_)) =>
                    {
                        *list.last_mut().unwrap() = rec;
                    }
                    Some(Record::Effect {
                        key,
                        outcome: Outcome::Pending,
                        ..
                    }) if *key == d["key"] => {
                        *list.last_mut().unwrap() = rec;
                    }
                    _ => list.push(rec),
                }
            }
            "effect" if !step.is_empty() && !d["key"].is_null() => {
                let list = records.entry(step).or_default();
                let result = d["result"].as_str().unwrap_or("");
                let outcome = if result == "done" {
                    Outcome::Done(d["value"].clone())
                } else if let Some(m) = result.strip_prefix("failed: ") {
                    Outcome::Failed(m.to_owned())
                } else {
                    continue;
                };
                match list.last_mut() {
                    Some(Record::Effect { key, outcome: o, .. }) if *key == d["key"] && *o == Outcome::Pending => *o = outcome,
                    _ => list.push(Record::Effect {
                        key: d["key"].clone(),
                        plan: d["plan"].clone(),
                        outcome,
                    }),
                }
            }
            _ => {}
        }
    }
    h.interrupted = records;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, data: Value) -> Value {
        json!({ "event": kind, "data": data })
    }

    #[test]
    fn an_interrupted_step_keeps_its_readings_and_changes_in_order() {
        let k1 = json!({"action": "k8s.scale", "target": "StatefulSet ns/vantiq", "detail": 0});
        let k2 = json!({"action": "k8s.scale", "target": "StatefulSet ns/metrics-collector", "detail": 0});
        let events = vec![
            ev("step-start", json!({"title": "0. check"})),
            ev("step-end", json!({"title": "0. check", "ok": true, "value": {"tag": "1.30.10"}})),
            ev("step-start", json!({"title": "6. stop"})),
            ev("read", json!({"step": "6. stop", "key": ["k8s.list"], "value": [3, 1]})),
            ev("effect-start", json!({"step": "6. stop", "key": k1, "plan": null})),
            ev("effect", json!({"step": "6. stop", "key": k1, "result": "done", "value": null})),
            ev("effect-start", json!({"step": "6. stop", "key": k2, "plan": null})),
        ];
        let h = step_history(&events);
        assert_eq!(h.completed["0. check"], json!({"tag": "1.30.10"}));
        assert!(h.started.contains("6. stop"));
        let r = &h.interrupted["6. stop"];
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            Record::Read {
                key: json!(["k8s.list"]),
                value: Some(json!([3, 1]))
            }
        );
        assert!(matches!(
            &r[1],
            Record::Effect {
                outcome: Outcome::Done(_),
                ..
            }
        ));
        assert!(matches!(
            &r[2],
            Record::Effect {
                outcome: Outcome::Pending,
                ..
            }
        ));
    }

    #[test]
    fn a_change_carried_out_again_replaces_its_failed_record() {
        let k = json!({"action": "gradle.run", "target": "deployVantiq", "detail": null});
        let events = vec![
            ev("step-start", json!({"title": "8"})),
            ev("effect-start", json!({"step": "8", "key": k, "plan": null, "replayed": true})),
            ev("effect", json!({"step": "8", "key": k, "result": "failed: boom", "replayed": true})),
            ev("effect-start", json!({"step": "8", "key": k, "plan": null})),
            ev("effect", json!({"step": "8", "key": k, "result": "done", "value": null})),
        ];
        let r = &step_history(&events).interrupted["8"];
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(matches!(
            &r[0],
            Record::Effect {
                outcome: Outcome::Done(_),
                ..
            }
        ));
    }

    #[test]
    fn a_step_started_again_forgets_its_earlier_attempt() {
        let events = vec![
            ev("step-start", json!({"title": "1"})),
            ev("read", json!({"step": "1", "key": ["a"], "value": 1})),
            ev("step-start", json!({"title": "1"})),
            ev("read", json!({"step": "1", "key": ["b"], "value": 2})),
        ];
        let r = &step_history(&events).interrupted["1"];
        assert_eq!(
            r,
            &vec![Record::Read {
                key: json!(["b"]),
                value: Some(json!(2))
            }]
        );
    }
}
