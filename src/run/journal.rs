//! The run journal: `.vscript/runs/<run-id>.jsonl` in the tools dir, one JSON event per
//! line, flushed as it happens — step start/end, side effects with before/after values,
//! remembered values, warnings, confirmations. Secrets are redacted before they get here.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::engine::host::Resumed;
use crate::engine::replay::{journal_form, step_history};

/// An open journal file.
pub struct Journal {
    pub id: String,
    pub path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Creates `DIR/.vscript/runs/<id>.jsonl`, with an id from the time and the script name.
    pub fn create(tools_dir: &Path, script: &str) -> std::io::Result<Journal> {
        let dir = runs_dir(tools_dir);
        std::fs::create_dir_all(&dir)?;
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let mut n = 0;
        loop {
            let id = if n == 0 {
                format!("{stamp}-{script}")
            } else {
                format!("{stamp}-{script}-{n}")
            };
            let path = dir.join(format!("{id}.jsonl"));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Journal {
                        id,
                        path,
                        file: Mutex::new(file),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends one event. Every event is written at once (it survives vscript being
    /// killed). The ones a resume or a rollback decides on — a change made, a value
    /// remembered, an answer given, the end — are also flushed to disk (`fdatasync`),
    /// taking every event before them along, so they survive a crash of the machine too.
    /// A step's end is not flushed by itself: if the machine crashes before the next
    /// flush, the steps since the last change are run again on resume — they changed
    /// nothing, and what they remembered was flushed.
    ///
    /// A change's intent (`effect-start`) is flushed before the change is made: with it go
    /// the readings that led to it, so a step re-entered after a crash replays them.
    pub fn event(&self, kind: &str, data: Value) {
        let line = json!({ "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "event": kind, "data": data });
        let mut f = self.file.lock().unwrap();
        let _ = f.write_all(format!("{line}\n").as_bytes());
        if matches!(kind, "effect-start" | "effect" | "remember" | "confirm" | "lease-lost" | "end") {
            let _ = f.sync_data();
        }
    }
}

/// Where a tools dir keeps its run journals.
pub fn runs_dir(tools_dir: &Path) -> PathBuf {
    tools_dir.join(".vscript").join("runs")
}

/// One past run, read back from its journal.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub script: String,
    pub started: String,
    /// `None` while running or when the process died.
    pub exit_code: Option<i64>,
    pub steps_done: Vec<String>,
    pub failed_step: Option<String>,
    pub remembered: serde_json::Map<String, Value>,
    pub params: serde_json::Map<String, Value>,
    /// Changes made by the attempts this run resumed (a chain of `--resume`s).
    pub prior_changes: u64,
    /// The attempts this run continues, oldest first (a chain of `--resume`s).
    pub chain: Vec<String>,
    pub events: Vec<Value>,
}

impl RunRecord {
    /// Changes this run and the attempts it resumed made.
    pub fn changes(&self) -> u64 {
        self.prior_changes
            + self
                .events
                .iter()
                .filter(|e| e["event"] == "effect" && e["data"]["result"] == "done" && e["data"]["replayed"] != true)
                .count() as u64
    }

    /// This run and the attempts it continues, oldest first.
    pub fn chain(&self) -> Vec<String> {
        let mut c = self.chain.clone();
        c.push(self.id.clone());
        c
    }

    /// What a run resuming this one takes over.
    pub fn resumed(&self) -> Resumed {
        let steps = step_history(&self.events);
        Resumed {
            remembered: self.remembered.clone().into_iter().collect(),
            completed: steps.completed,
            started: steps.started,
            interrupted: steps.interrupted,
            prior_changes: self.changes(),
        }
    }

    /// Writes what this run left into the journal of the run resuming it: remembered
    /// values, completed steps with their values, and the records of interrupted steps.
    pub fn carry_over(&self, j: &Journal) {
        let steps = step_history(&self.events);
        for (k, v) in &self.remembered {
            j.event("remember", json!({ "key": k, "value": v, "from": self.id }));
        }
        for (t, v) in &steps.completed {
            j.event("step-end", json!({ "title": t, "ok": true, "ms": 0, "value": v, "from": self.id }));
        }
        for (t, records) in &steps.interrupted {
            j.event("step-start", json!({ "title": t, "from": self.id }));
            for ev in journal_form(t, records) {
                j.event(ev.0, ev.1);
            }
        }
    }
}

/// Reads a run's journal.
pub fn read_run(tools_dir: &Path, id: &str) -> Option<RunRecord> {
    let path = runs_dir(tools_dir).join(format!("{id}.jsonl"));
    let text = std::fs::read_to_string(path).ok()?;
    let mut r = RunRecord {
        id: id.to_owned(),
        ..Default::default()
    };
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else { continue };
        let d = &ev["data"];
        match ev["event"].as_str().unwrap_or("") {
            "start" => {
                r.script = d["script"].as_str().unwrap_or("").to_owned();
                r.started = ev["ts"].as_str().unwrap_or("").to_owned();
                r.params = d["params"].as_object().cloned().unwrap_or_default();
                r.prior_changes = d["prior_changes"].as_u64().unwrap_or(0);
                r.chain = d["chain"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
            }
            "step-end" => {
                let t = d["title"].as_str().unwrap_or("").to_owned();
                if d["ok"] == true {
                    r.steps_done.push(t);
                } else {
                    r.failed_step = Some(t);
                }
            }
            "remember" => {
                if let Some(k) = d["key"].as_str() {
                    r.remembered.insert(k.to_owned(), d["value"].clone());
                }
            }
            "end" => r.exit_code = d["exit_code"].as_i64(),
            _ => {}
        }
        r.events.push(ev);
    }
    Some(r)
}

/// Every run in a tools dir, newest first.
pub fn list_runs(tools_dir: &Path) -> Vec<RunRecord> {
    let mut ids: Vec<String> = std::fs::read_dir(runs_dir(tools_dir))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".jsonl").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.reverse();
    ids.iter().filter_map(|id| read_run(tools_dir, id)).collect()
}

/// The newest run of a script (optionally only successful ones).
pub fn last_run(tools_dir: &Path, script: &str, only_ok: bool) -> Option<RunRecord> {
    list_runs(tools_dir)
        .into_iter()
        .find(|r| r.script == script && (!only_ok || r.exit_code == Some(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "license_renew").unwrap();
        j.event("start", json!({"script": "license_renew", "params": {"a": "b"}}));
        j.event("step-end", json!({"title": "1. x", "ok": true}));
        j.event("remember", json!({"key": "tag_before", "value": "1.30.10"}));
        j.event("step-end", json!({"title": "2. y", "ok": false}));
        j.event("end", json!({"exit_code": 1}));
        let j2 = Journal::create(dir.path(), "license_renew").unwrap();
        assert_ne!(j.id, j2.id, "ids never collide");
        let r = read_run(dir.path(), &j.id).unwrap();
        assert_eq!(r.steps_done, vec!["1. x"]);
        assert_eq!(r.failed_step.as_deref(), Some("2. y"));
        assert_eq!(r.remembered["tag_before"], "1.30.10");
        assert_eq!(r.exit_code, Some(1));
        assert!(last_run(dir.path(), "license_renew", true).is_none());
    }
}
