//! The state of one run: the cancel token, the journal sink, what was remembered and
//! changed, the steps (completed, interrupted, running) with their replay, the failure
//! handlers, and the maintenance lease as the lock's renewal last saw it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A cancel signal shared by the script loop, waits and child processes.
#[derive(Debug, Clone, Default)]
pub struct Cancel(CancellationToken);

impl Cancel {
    pub fn trip(&self) {
        self.0.cancel();
    }
    pub fn is_tripped(&self) -> bool {
        self.0.is_cancelled()
    }
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
    /// A fresh token for the next evaluation (the REPL cancels one command at a time).
    pub fn reset(&mut self) {
        self.0 = CancellationToken::new();
    }
}

/// One side effect, as the journal, the report and `--output json` record it.
#[derive(Debug, Clone, Serialize)]
pub struct Effect {
    /// `k8s.scale`, `file.write`, `gradle.run`, ...
    pub action: String,
    /// What it acted on: `StatefulSet acme/vantiq`, `targetCluster/deploy.yaml`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// `done`, `dry-run`, or `failed: …`.
    pub result: String,
}

/// How an effect recorded in an interrupted step ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Started and never answered (the process died during it).
    Pending,
    /// Carried out; its return value.
    Done(Value),
    Failed(String),
}

/// What a step read or changed, in order: what a re-entered step replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// An observation; `None` when it was not journaled (it held a secret) and is read again.
    Read { key: Value, value: Option<Value> },
    /// A change: what (`key`), how it was planned (`plan`, e.g. a backup's name), and how it ended.
    Effect { key: Value, plan: Value, outcome: Outcome },
}

impl Record {
    pub fn is_effect(&self) -> bool {
        matches!(self, Record::Effect { .. })
    }
}

/// A handler that makes the installation safe when a step fails between two steps
/// (`safe_state(from, until, handler)`).
#[derive(Clone)]
pub struct SafeState {
    pub from: String,
    pub until: String,
    pub handler: rhai::FnPtr,
}

/// The step running now.
#[derive(Debug)]
struct Current {
    title: String,
    /// Records of the interrupted attempt still to be replayed.
    replay: VecDeque<Record>,
}

/// The steps of this run and of the attempts it resumes.
#[derive(Debug, Default)]
struct Steps {
    /// Steps completed by the attempts this run resumes, with their values: skipped now.
    resumed: BTreeMap<String, Value>,
    /// Steps completed, in this run or the attempts it resumes.
    completed: BTreeSet<String>,
    started: BTreeSet<String>,
    interrupted: BTreeMap<String, Vec<Record>>,
    current: Option<Current>,
}

/// What the lock's renewal last saw (milliseconds since the epoch; 0 = no lease held).
#[derive(Debug, Default)]
pub struct Lease {
    valid_until_ms: AtomicI64,
    lost: Mutex<Option<String>>,
    held: AtomicBool,
}

impl Lease {
    /// The lease was taken or renewed: valid until then.
    pub fn renewed(&self, valid_until: chrono::DateTime<chrono::Utc>) {
        self.held.store(true, Ordering::SeqCst);
        self.valid_until_ms.store(valid_until.timestamp_millis(), Ordering::SeqCst);
    }
    /// Another run took the lease over, or it was deleted: no write may follow.
    pub fn lost(&self, why: impl Into<String>) {
        let mut l = self.lost.lock().unwrap();
        if l.is_none() {
            *l = Some(why.into());
        }
    }
    /// The lease was released (the REPL's lock for one command): no longer held, nothing lost.
    pub fn released(&self) {
        self.held.store(false, Ordering::SeqCst);
        *self.lost.lock().unwrap() = None;
    }
    /// Whether a lease is held now.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) && self.refusal().is_none()
    }
    /// Why this run may not write any more, if it held a lease and lost it (taken over,
    /// or not renewed before it expired).
    pub fn refusal(&self) -> Option<String> {
        if !self.held.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(why) = self.lost.lock().unwrap().clone() {
            return Some(why);
        }
        let until = self.valid_until_ms.load(Ordering::SeqCst);
        let now = chrono::Utc::now().timestamp_millis();
        (now > until).then(|| {
            let at = chrono::DateTime::from_timestamp_millis(until)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            format!("the maintenance lease expired at {at} without being renewed")
        })
    }
}

/// How long the script has computed (wall time not spent waiting inside `Host::block` or
/// on the operator), for the runaway-loop limit.
#[derive(Debug)]
pub struct Budget {
    since: Mutex<std::time::Instant>,
    waited_ns: AtomicU64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            since: Mutex::new(std::time::Instant::now()),
            waited_ns: AtomicU64::new(0),
        }
    }
}

impl Budget {
    /// Starts counting again (the REPL, for each command).
    pub fn reset(&self) {
        *self.since.lock().unwrap() = std::time::Instant::now();
        self.waited_ns.store(0, Ordering::SeqCst);
    }
    /// Time spent waiting (a request, a watch, a process, the operator).
    pub fn waited(&self, d: std::time::Duration) {
        self.waited_ns
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
    /// Time spent computing since the start.
    pub fn computed(&self) -> std::time::Duration {
        let total = self.since.lock().unwrap().elapsed();
        total.saturating_sub(std::time::Duration::from_nanos(self.waited_ns.load(Ordering::SeqCst)))
    }
}

/// Journal sink: `(event kind, data)`.
pub type JournalSink = Box<dyn Fn(&str, Value) + Send + Sync>;

/// What the run knows of earlier runs in this tools dir (the journal, read by the run
/// layer): `last_run(script, filter)` for rollbacks.
pub trait RunHistory: Send + Sync {
    /// The newest matching run's remembered values with `run_id`, `started`, `ok`.
    fn last_run(&self, script: &str, filter: Option<&serde_json::Map<String, Value>>) -> Option<serde_json::Map<String, Value>>;
}

/// Everything that changes while a run goes on.
#[derive(Default)]
pub struct RunState {
    cancel: Mutex<Cancel>,
    /// Set when the operator interrupted the run (Ctrl-C, SIGTERM, SIGHUP): the exit code
    /// is 3 even after the cancel token was reset for the failure handler.
    interrupted: AtomicBool,
    journal: OnceLock<JournalSink>,
    remembered: Mutex<BTreeMap<String, Value>>,
    effects: Mutex<Vec<Effect>>,
    run_id: OnceLock<String>,
    /// Changes made by the attempt(s) this run resumes (for `changes_made()`).
    prior_changes: AtomicU64,
    steps: Mutex<Steps>,
    on_failure: Mutex<Option<rhai::FnPtr>>,
    safe_states: Mutex<Vec<SafeState>>,
    history: OnceLock<Arc<dyn RunHistory>>,
    /// The maintenance lease as the lock's renewal last saw it (shared with the renewal).
    pub lease: Arc<Lease>,
    /// The script's computing time, for the runaway-loop limit.
    pub budget: Budget,
    /// Files this run changed (gradle refuses to run a `gradlew` the run wrote).
    written: Mutex<BTreeSet<std::path::PathBuf>>,
    /// Called before every real change where no lease is held for the whole run (the
    /// REPL): takes the lock for the command, or refuses while another run holds it.
    write_guard: Mutex<Option<Arc<WriteGuard>>>,
    /// What weakened the run's trust boundaries (TLS verification off, credentials over
    /// plain http): said on every run, kept for the report.
    trust_warnings: Mutex<Vec<String>>,
}

/// Takes the maintenance lock before a change, or says why not.
pub type WriteGuard = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("run_id", &self.run_id.get())
            .finish_non_exhaustive()
    }
}

/// What a resumed run carries over from the attempts before it.
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    pub remembered: BTreeMap<String, Value>,
    pub completed: BTreeMap<String, Value>,
    pub started: BTreeSet<String>,
    pub interrupted: BTreeMap<String, Vec<Record>>,
    pub prior_changes: u64,
}

impl RunState {
    pub fn cancel(&self) -> Cancel {
        self.cancel.lock().unwrap().clone()
    }
    /// A fresh cancel token (for the failure handlers after an interrupt, or the REPL's next command).
    pub fn reset_cancel(&self) -> Cancel {
        let mut c = self.cancel.lock().unwrap();
        c.reset();
        c.clone()
    }
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.cancel().trip();
    }
    pub fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Attaches the journal (once).
    pub fn set_journal(&self, sink: JournalSink) {
        let _ = self.journal.set(sink);
    }
    pub fn journal(&self, kind: &str, data: Value) {
        if let Some(j) = self.journal.get() {
            j(kind, data);
        }
    }
    pub fn has_journal(&self) -> bool {
        self.journal.get().is_some()
    }

    pub fn set_run_id(&self, id: &str) {
        let _ = self.run_id.set(id.to_owned());
    }
    pub fn run_id(&self) -> Option<String> {
        self.run_id.get().cloned()
    }

    /// Records a trust warning once; whether it is new.
    pub fn trust_warning(&self, msg: &str) -> bool {
        let mut w = self.trust_warnings.lock().unwrap();
        if w.iter().any(|x| x == msg) {
            return false;
        }
        w.push(msg.to_owned());
        true
    }
    pub fn trust_warnings(&self) -> Vec<String> {
        self.trust_warnings.lock().unwrap().clone()
    }

    pub fn wrote(&self, p: std::path::PathBuf) {
        self.written.lock().unwrap().insert(p);
    }
    pub fn has_written(&self, p: &std::path::Path) -> bool {
        self.written.lock().unwrap().contains(p)
    }

    pub fn set_write_guard(&self, g: Option<WriteGuard>) {
        *self.write_guard.lock().unwrap() = g.map(Arc::new);
    }
    /// Runs the write guard, if there is one.
    pub fn guard_write(&self) -> Result<(), String> {
        let g = self.write_guard.lock().unwrap().clone();
        match g {
            Some(g) => g(),
            None => Ok(()),
        }
    }

    pub fn set_history(&self, h: Arc<dyn RunHistory>) {
        let _ = self.history.set(h);
    }
    pub fn history(&self) -> Option<Arc<dyn RunHistory>> {
        self.history.get().cloned()
    }

    pub fn remember(&self, key: &str, value: Value) {
        self.remembered.lock().unwrap().insert(key.to_owned(), value);
    }
    pub fn recall(&self, key: &str) -> Option<Value> {
        self.remembered.lock().unwrap().get(key).cloned()
    }
    pub fn remembered(&self) -> BTreeMap<String, Value> {
        self.remembered.lock().unwrap().clone()
    }

    pub fn push_effect(&self, e: Effect) {
        self.effects.lock().unwrap().push(e);
    }
    pub fn effects(&self) -> Vec<Effect> {
        self.effects.lock().unwrap().clone()
    }
    /// Changes carried out by this run and the attempts it resumes.
    pub fn changes_made(&self) -> u64 {
        let n = self.effects.lock().unwrap().iter().filter(|e| e.result == "done").count() as u64;
        n + self.prior_changes.load(Ordering::SeqCst)
    }

    /// Takes over what the resumed attempts left: remembered values, completed steps with
    /// their values, interrupted steps with their records.
    pub fn resume_from(&self, r: Resumed) {
        *self.remembered.lock().unwrap() = r.remembered;
        self.prior_changes.store(r.prior_changes, Ordering::SeqCst);
        let mut s = self.steps.lock().unwrap();
        s.completed = r.completed.keys().cloned().collect();
        s.resumed = r.completed;
        s.started = r.started;
        s.interrupted = r.interrupted;
    }

    /// The steps completed by the attempts this run resumes, with their values.
    pub fn resumed_steps(&self) -> BTreeMap<String, Value> {
        self.steps.lock().unwrap().resumed.clone()
    }

    /// The value a step returned, when an attempt this run resumes completed it (the
    /// step is then skipped).
    pub fn resumed_value(&self, title: &str) -> Option<Value> {
        self.steps.lock().unwrap().resumed.get(title).cloned()
    }

    /// Enters a step. Returns the records of its interrupted attempt that this attempt
    /// replays (empty when it starts afresh): everything up to and including its last
    /// change. Fails when a step is already running (steps do not nest).
    pub fn begin_step(&self, title: &str) -> Result<Vec<Record>, String> {
        let mut s = self.steps.lock().unwrap();
        if let Some(c) = &s.current {
            return Err(format!(
                "step \"{title}\" cannot start inside step \"{}\": steps do not nest",
                c.title
            ));
        }
        let records = s.interrupted.remove(title).unwrap_or_default();
        let replay: Vec<Record> = match records.iter().rposition(Record::is_effect) {
            Some(last) => records[..=last].to_vec(),
            None => Vec::new(),
        };
        s.started.insert(title.to_owned());
        s.current = Some(Current {
            title: title.to_owned(),
            replay: replay.iter().cloned().collect(),
        });
        Ok(replay)
    }

    /// Leaves the running step; a completed one keeps its value.
    pub fn end_step(&self, value: Option<Value>) {
        let mut s = self.steps.lock().unwrap();
        if let Some(c) = s.current.take()
            && value.is_some()
        {
            s.completed.insert(c.title);
        }
    }

    /// The running step's title (`None` outside steps and in failure handlers).
    pub fn current_step(&self) -> Option<String> {
        self.steps.lock().unwrap().current.as_ref().map(|c| c.title.clone())
    }

    /// The next record to replay in the running step, removed from the queue.
    pub fn next_replay(&self) -> Option<Record> {
        self.steps.lock().unwrap().current.as_mut()?.replay.pop_front()
    }

    /// Whether the running step still replays.
    pub fn replaying(&self) -> bool {
        let s = self.steps.lock().unwrap();
        s.current.as_ref().is_some_and(|c| !c.replay.is_empty())
    }

    pub fn on_failure(&self, handler: Option<rhai::FnPtr>) {
        *self.on_failure.lock().unwrap() = handler;
    }
    pub fn take_on_failure(&self) -> Option<rhai::FnPtr> {
        self.on_failure.lock().unwrap().take()
    }

    pub fn add_safe_state(&self, s: SafeState) {
        let mut v = self.safe_states.lock().unwrap();
        v.retain(|x| !(x.from == s.from && x.until == s.until));
        v.push(s);
    }

    /// The safe-state handlers whose window is open: their first step has started (in
    /// this run or an attempt it resumes) and their last step has not completed.
    pub fn open_safe_states(&self) -> Vec<SafeState> {
        let v = self.safe_states.lock().unwrap().clone();
        let s = self.steps.lock().unwrap();
        v.into_iter()
            .filter(|x| s.started.contains(&x.from) && !s.completed.contains(&x.until))
            .collect()
    }
}
