//! Maintenance procedures as the simulator sees them, and the two rules judged at their
//! end: `component-left-stopped` and `statefulset-not-recreated`.
//!
//! A procedure run by vscript holds the Lease `vscript-maintenance` in the Vantiq
//! namespace for its whole run: its creation starts a procedure, its deletion ends it (a
//! takeover by a resumed run continues the same procedure). At the end, a component
//! (`vantiq`, `metrics-collector`, `vision-analytics`) that had replicas when the
//! procedure started and is at 0, or a StatefulSet deleted during the procedure and not
//! recreated, is *pending*: it is a violation from then on (in `sim check`, the admin
//! routes and the rehearsal's report), and it is cleared only by a later repair (the
//! component scaled up, the StatefulSet recreated — e.g. by the rollback a failed
//! procedure points to). When the simulator stops, whatever is still pending is recorded
//! for good, after ending a procedure whose lease is still held.
//!
//! Without any lease (a rehearsal done by hand with kubectl and `./gradlew`) the whole
//! simulator run is the procedure: the baseline is the installation as seeded, and the
//! rules are judged on the state *now* (when `sim check` runs, or when the simulator stops).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Violation, World};
use crate::store::{EventType, WatchEvent, res};

/// The maintenance lock vscript holds for a whole run (see `src/lock.rs`).
pub const LEASE: &str = "vscript-maintenance";

/// The components a procedure stops and must start again.
pub const COMPONENTS: [&str; 3] = ["vantiq", "metrics-collector", "vision-analytics"];

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct Procedure {
    holder: String,
    started_at: DateTime<Utc>,
    /// Component → `spec.replicas` when the procedure started.
    replicas: BTreeMap<String, u64>,
    /// StatefulSets `(namespace, name)` deleted during the procedure and not recreated yet.
    deleted: BTreeMap<(String, String), DateTime<Utc>>,
}

/// A component a procedure left at 0 replicas.
struct Left {
    holder: String,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    replicas: u64,
}

/// A StatefulSet a procedure deleted and did not recreate.
struct Gone {
    holder: String,
    deleted_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    /// Component → replicas as seeded (the by-hand baseline); `None` until taken.
    baseline: Option<BTreeMap<String, u64>>,
    ever_leased: bool,
    current: Option<Procedure>,
    left: BTreeMap<String, Left>,
    gone: BTreeMap<(String, String), Gone>,
    /// Every StatefulSet deleted and not recreated since the simulator started (by hand).
    deleted: BTreeMap<(String, String), DateTime<Utc>>,
    /// Component → when its replicas last went to 0.
    stopped_since: BTreeMap<String, DateTime<Utc>>,
}

/// The procedures seen so far and what they left behind.
#[derive(Default)]
pub struct Maintenance {
    st: Mutex<State>,
}

impl Maintenance {
    /// The holder of the procedure in progress, if any.
    pub fn holder(&self) -> Option<String> {
        self.st.lock().unwrap().current.as_ref().map(|p| p.holder.clone())
    }
}

/// `spec.replicas` of a component's StatefulSet (`None` when it does not exist).
fn replicas(w: &World, comp: &str) -> Option<u64> {
    w.store
        .get(res("StatefulSet"), &w.ns, comp)
        .filter(|s| s["metadata"]["deletionTimestamp"].is_null())
        .map(|s| s["spec"]["replicas"].as_u64().unwrap_or(1))
}

fn component_replicas(w: &World) -> BTreeMap<String, u64> {
    COMPONENTS
        .iter()
        .filter_map(|c| replicas(w, c).map(|r| ((*c).to_owned(), r)))
        .collect()
}

fn sts_exists(w: &World, key: &(String, String)) -> bool {
    w.store.get(res("StatefulSet"), &key.0, &key.1).is_some()
}

/// The database's StatefulSet: its deletion is `data-lost`, not this rule's.
fn is_database(w: &World, key: &(String, String)) -> bool {
    key.0 == w.ns && key.1 == "mongodb"
}

/// Takes the by-hand baseline: the installation as seeded (called once the seed is in the store).
pub fn take_baseline(w: &World) {
    let r = component_replicas(w);
    let mut st = w.maint.st.lock().unwrap();
    if st.baseline.is_none() {
        st.baseline = Some(r);
    }
}

fn start(w: &World, st: &mut State, holder: String, now: DateTime<Utc>) {
    st.ever_leased = true;
    st.current = Some(Procedure {
        holder,
        started_at: now,
        replicas: component_replicas(w),
        deleted: BTreeMap::new(),
    });
}

fn end(w: &World, st: &mut State, now: DateTime<Utc>, note: &str) {
    let Some(p) = st.current.take() else { return };
    let holder = format!("{}{note}", p.holder);
    for (comp, n) in &p.replicas {
        if *n > 0 && replicas(w, comp) == Some(0) {
            st.left.entry(comp.clone()).or_insert(Left {
                holder: holder.clone(),
                started_at: p.started_at,
                ended_at: now,
                replicas: *n,
            });
        }
    }
    for (key, at) in p.deleted {
        if !sts_exists(w, &key) {
            st.gone.entry(key).or_insert(Gone {
                holder: holder.clone(),
                deleted_at: at,
                ended_at: now,
            });
        }
    }
}

/// Follows the lease and the StatefulSets (called by the write observer).
pub fn on_event(w: &World, ev: &WatchEvent) {
    let now = Utc::now();
    {
        let mut st = w.maint.st.lock().unwrap();
        match (ev.resource.kind, ev.kind) {
            ("Lease", kind) if ev.namespace == w.ns && ev.name == LEASE => {
                let holder = ev.object["spec"]["holderIdentity"].as_str().unwrap_or("?").to_owned();
                match kind {
                    EventType::Deleted => end(w, &mut st, now, ""),
                    _ => match st.current.as_mut() {
                        // A takeover (a resumed run, --force-unlock) continues the procedure.
                        Some(p) => p.holder = holder,
                        None => start(w, &mut st, holder, now),
                    },
                }
            }
            ("StatefulSet", EventType::Deleted) => {
                let key = (ev.namespace.clone(), ev.name.clone());
                if is_database(w, &key) {
                    return;
                }
                if let Some(p) = st.current.as_mut() {
                    p.deleted.insert(key.clone(), now);
                }
                st.deleted.insert(key, now);
            }
            ("StatefulSet", kind) => {
                let key = (ev.namespace.clone(), ev.name.clone());
                if kind == EventType::Added {
                    if let Some(p) = st.current.as_mut() {
                        p.deleted.remove(&key);
                    }
                    st.deleted.remove(&key);
                    st.gone.remove(&key);
                }
                if ev.namespace == w.ns && COMPONENTS.contains(&ev.name.as_str()) {
                    let n = ev.object["spec"]["replicas"].as_u64().unwrap_or(1);
                    if n > 0 {
                        st.left.remove(&ev.name);
                        st.stopped_since.remove(&ev.name);
                    } else {
                        st.stopped_since.entry(ev.name.clone()).or_insert(now);
                    }
                }
            }
            _ => return,
        }
    }
    refresh(w);
}

fn pending_of(w: &World, st: &State) -> Vec<Violation> {
    let mut out = Vec::new();
    let ns = &w.ns;
    for (comp, l) in &st.left {
        out.push(Violation {
            at: ts(l.ended_at),
            rule: "component-left-stopped".into(),
            message: format!(
                "StatefulSet {ns}/{comp} had {} replica(s) when maintenance procedure `{}` started at {} and was left at 0 replicas when it ended at {}",
                l.replicas,
                l.holder,
                ts(l.started_at),
                ts(l.ended_at)
            ),
        });
    }
    for ((sns, name), g) in &st.gone {
        out.push(Violation {
            at: ts(g.ended_at),
            rule: "statefulset-not-recreated".into(),
            message: format!(
                "StatefulSet {sns}/{name} was deleted at {} during maintenance procedure `{}` and had not been recreated when it ended at {}",
                ts(g.deleted_at),
                g.holder,
                ts(g.ended_at)
            ),
        });
    }
    if !st.ever_leased
        && let Some(base) = &st.baseline
    {
        let now = Utc::now();
        for (comp, n) in base {
            if *n > 0 && replicas(w, comp) == Some(0) {
                let since = st.stopped_since.get(comp).copied().unwrap_or(now);
                out.push(Violation {
                    at: ts(since),
                    rule: "component-left-stopped".into(),
                    message: format!(
                        "StatefulSet {ns}/{comp} had {n} replica(s) when the simulator started and is at 0 replicas (since {}) with no maintenance procedure running",
                        ts(since)
                    ),
                });
            }
        }
        for (key, at) in &st.deleted {
            if !sts_exists(w, key) {
                out.push(Violation {
                    at: ts(*at),
                    rule: "statefulset-not-recreated".into(),
                    message: format!(
                        "StatefulSet {}/{} was deleted at {} and has not been recreated",
                        key.0,
                        key.1,
                        ts(*at)
                    ),
                });
            }
        }
    }
    out
}

/// Recomputes what is pending now and publishes it (`DIR/violations-pending.json`).
pub fn refresh(w: &World) {
    let pending = {
        let st = w.maint.st.lock().unwrap();
        pending_of(w, &st)
    };
    w.invariants.set_pending(pending);
}

/// The simulator stops: a procedure still holding the lease ends now, and whatever is
/// pending is recorded for good.
pub fn finish(w: &World) {
    let pending = {
        let mut st = w.maint.st.lock().unwrap();
        end(w, &mut st, Utc::now(), " (its lease was still held when the simulator stopped)");
        pending_of(w, &st)
    };
    w.invariants.finalize(pending);
}

/// The procedure in progress, for `GET /__sim/state`.
pub fn summary(w: &World) -> serde_json::Value {
    let st = w.maint.st.lock().unwrap();
    serde_json::json!({
        "procedure": st.current.as_ref().map(|p| serde_json::json!({"holder": p.holder, "startedAt": ts(p.started_at), "replicas": p.replicas})),
        "byHand": !st.ever_leased,
    })
}
