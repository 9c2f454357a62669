//! The simulator's object store: every Kubernetes object the simulated API server
//! serves, kept as JSON, with a monotonic `resourceVersion`, watch events that can be
//! resumed from a version, container logs that can be followed, and observers that
//! see every committed write (the invariant checker is one).
//!
//! The store knows generic apiserver semantics only (uids, versions, generation,
//! no-op writes). Resource-specific admission and defaulting live in `api`, and the
//! controllers that give objects life live in `world`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

/// One resource type the simulated API server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// API group; `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural, as in URLs: `statefulsets`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served (`scale`, `status`, `log`).
    pub subresources: &'static [&'static str],
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `statefulsets.apps`, or `pods` for the core group (as in error messages).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    /// Finds a resource by plural, singular, kind or short name (case-insensitive).
    pub fn find(name: &str) -> Option<&'static Resource> {
        let n = name.to_ascii_lowercase();
        RESOURCES
            .iter()
            .find(|r| r.plural == n || r.singular == n || r.kind.eq_ignore_ascii_case(&n) || r.short_names.contains(&n.as_str()))
    }
    /// Finds a resource by group and plural, as routed from a URL.
    pub fn by_path(group: &str, plural: &str) -> Option<&'static Resource> {
        RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
    }
}

macro_rules! res {
    ($g:expr, $v:expr, $k:expr, $p:expr, $s:expr, $ns:expr, [$($sn:expr),*], [$($sub:expr),*]) => {
        Resource { group: $g, version: $v, kind: $k, plural: $p, singular: $s, namespaced: $ns,
                   short_names: &[$($sn),*], subresources: &[$($sub),*] }
    };
}

/// Every resource the simulator serves, in discovery order.
pub static RESOURCES: &[Resource] = &[
    res!("", "v1", "Namespace", "namespaces", "namespace", false, ["ns"], ["status"]),
    res!("", "v1", "Pod", "pods", "pod", true, ["po"], ["log", "status"]),
    res!("", "v1", "Secret", "secrets", "secret", true, [], []),
    res!("", "v1", "ConfigMap", "configmaps", "configmap", true, ["cm"], []),
    res!("", "v1", "Service", "services", "service", true, ["svc"], ["status"]),
    res!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        ["pvc"],
        ["status"]
    ),
    res!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        false,
        ["pv"],
        ["status"]
    ),
    res!("", "v1", "Event", "events", "event", true, ["ev"], []),
    res!("", "v1", "Node", "nodes", "node", false, ["no"], ["status"]),
    res!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        ["sts"],
        ["scale", "status"]
    ),
    res!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, ["ds"], ["status"]),
    res!("batch", "v1", "Job", "jobs", "job", true, [], ["status"]),
    res!("batch", "v1", "CronJob", "cronjobs", "cronjob", true, ["cj"], ["status"]),
    res!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        false,
        ["sc"],
        []
    ),
    res!("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, [], []),
    res!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, ["sa"], []),
    res!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, [], []),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
        [],
        []
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
        [],
        []
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
        [],
        []
    ),
];

/// Looks a resource up by kind (`StatefulSet`); panics on an unknown kind, which is a
/// programming error inside the simulator.
pub fn res(kind: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("unknown simulated kind {kind}"))
}

/// An API error, rendered by the API server as a `Status` object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, ...
    pub reason: &'static str,
    pub message: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub group: Option<String>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            kind: None,
            name: None,
            group: None,
        }
    }
    /// An error about one object of a resource (the `details` kubectl prints).
    fn about(code: u16, reason: &'static str, message: String, r: &Resource, name: &str) -> Self {
        ApiError {
            code,
            reason,
            message,
            kind: Some(r.plural.to_owned()),
            name: Some(name.to_owned()),
            group: Some(r.group.to_owned()),
        }
    }
    pub fn not_found(r: &Resource, name: &str) -> Self {
        Self::about(404, "NotFound", format!("{} \"{}\" not found", r.qualified(), name), r, name)
    }
    pub fn already_exists(r: &Resource, name: &str) -> Self {
        Self::about(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", r.qualified(), name),
            r,
            name,
        )
    }
    pub fn conflict(r: &Resource, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
            r.qualified(),
            name
        );
        Self::about(409, "Conflict", message, r, name)
    }
    pub fn invalid(r: &Resource, name: &str, why: impl std::fmt::Display) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{}\" is invalid: {}", r.kind, name, why),
            kind: Some(r.kind.to_owned()),
            name: Some(name.to_owned()),
            group: Some(r.group.to_owned()),
        }
    }
    /// The `Status` object kubectl expects.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group
            && !g.is_empty()
        {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": details, "code": self.code,
        })
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed write, as watches and observers see it.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub kind: EventType,
    pub resource: &'static Resource,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    /// The object after the write (for `Deleted`: the last state, with the deletion's version).
    pub object: Value,
    pub resource_version: u64,
}

type Key = (&'static str, String, String); // (plural, namespace, name)

/// A synchronous observer of committed writes; called after the store's lock is released,
/// in commit order, on the writing thread. Observers may read and write the store.
pub type Observer = Arc<dyn Fn(&Store, &WatchEvent) + Send + Sync>;

const HISTORY: usize = 20_000;

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Recent events for resuming watches from a resourceVersion.
    history: VecDeque<WatchEvent>,
}

/// A container's log: lines appended by the controllers, followed by the API server.
#[derive(Debug)]
pub struct LogBuf {
    pub lines: Vec<String>,
    pub closed: bool,
}

/// The object store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<WatchEvent>,
    observers: RwLock<Vec<Observer>>,
    /// Serialises observer calls so that they see events in commit order.
    notify_lock: Mutex<()>,
    logs: Mutex<BTreeMap<(String, String, String), (LogBuf, watch::Sender<usize>)>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, as the RFC 3339 string Kubernetes uses (second precision, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

/// Reads `metadata.name`.
pub fn name_of(obj: &Value) -> &str {
    meta(obj)["name"].as_str().unwrap_or("")
}

/// Reads `metadata.resourceVersion` as a number (0 when absent or malformed).
pub fn rv_of(obj: &Value) -> u64 {
    meta(obj)["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Does `labels` satisfy a label selector string (`a=b,c!=d,e in (f,g),!h,i`)?
pub fn labels_match(labels: &Value, selector: &str) -> bool {
    split_selector(selector).iter().all(|term| {
        let term = term.trim();
        if term.is_empty() {
            return true;
        }
        let get = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
        if let Some(k) = term.strip_prefix('!') {
            return get(k).is_none();
        }
        if let Some((k, v)) = term.split_once("!=") {
            return get(k) != Some(v.trim());
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return get(k) == Some(v.trim());
        }
        for (op, neg) in [(" notin ", true), (" in ", false)] {
            if let Some((k, set)) = term.split_once(op) {
                let set: Vec<&str> = set
                    .trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(str::trim)
                    .collect();
                let inside = get(k).is_some_and(|v| set.contains(&v));
                return inside != neg;
            }
        }
        get(term).is_some()
    })
}

/// Splits a selector on commas that are not inside parentheses.
fn split_selector(selector: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&selector[start..]);
    out
}

/// Does an object satisfy a field selector (`metadata.name=x,status.phase!=Running`)?
pub fn fields_match(obj: &Value, selector: &str) -> bool {
    split_selector(selector).iter().all(|term| {
        let term = term.trim();
        if term.is_empty() {
            return true;
        }
        let (path, want, neg) = if let Some((p, v)) = term.split_once("!=") {
            (p, v, true)
        } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (p, v, false)
        } else {
            return false;
        };
        let mut cur = obj;
        for part in path.trim().split('.') {
            cur = &cur[part];
        }
        let have = match cur {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        (have == want.trim()) != neg
    })
}

impl Store {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(65_536);
        Store {
            inner: Mutex::new(Inner {
                rv: 1000,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
            }),
            events,
            observers: RwLock::new(Vec::new()),
            notify_lock: Mutex::new(()),
            logs: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers an observer of every committed write (see [`Observer`]).
    pub fn observe(&self, f: Observer) {
        self.observers.write().unwrap().push(f);
    }

    /// A live feed of committed writes, for watches and controllers.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    /// Events after `rv`, oldest first, or `None` when `rv` is older than the kept history
    /// (the API server answers 410 Expired then).
    pub fn events_since(&self, rv: u64) -> Option<Vec<WatchEvent>> {
        let inner = self.inner.lock().unwrap();
        if let Some(first) = inner.history.front()
            && rv + 1 < first.resource_version
            && inner.history.len() >= HISTORY
        {
            return None;
        }
        Some(inner.history.iter().filter(|e| e.resource_version > rv).cloned().collect())
    }

    /// Subscribes and returns the events after `rv` atomically, so that a watch misses nothing.
    pub fn watch_from(&self, rv: u64) -> Option<(Vec<WatchEvent>, broadcast::Receiver<WatchEvent>)> {
        let inner = self.inner.lock().unwrap();
        let rx = self.events.subscribe();
        if let Some(first) = inner.history.front()
            && rv + 1 < first.resource_version
            && inner.history.len() >= HISTORY
        {
            return None;
        }
        let past = inner.history.iter().filter(|e| e.resource_version > rv).cloned().collect();
        Some((past, rx))
    }

    pub fn get(&self, r: &'static Resource, ns: &str, name: &str) -> Option<Value> {
        let ns = if r.namespaced { ns } else { "" };
        self.inner
            .lock()
            .unwrap()
            .objects
            .get(&(r.plural, ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Lists objects of a resource, in a namespace or (`None`) in all of them, filtered by
    /// label and field selectors; returns the items and the list's resourceVersion.
    pub fn list(&self, r: &'static Resource, ns: Option<&str>, labels: Option<&str>, fields: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|((p, n, _), _)| *p == r.plural && (!r.namespaced || ns.is_none_or(|ns| ns == n)))
            .map(|(_, v)| v)
            .filter(|v| labels.is_none_or(|s| labels_match(&v["metadata"]["labels"], s)))
            .filter(|v| fields.is_none_or(|s| fields_match(v, s)))
            .cloned()
            .collect();
        (items, inner.rv)
    }

    /// Creates an object; fills `uid`, `resourceVersion`, `creationTimestamp`, `generation`,
    /// `kind`/`apiVersion` and the namespace. With `dry_run` the result is returned, not kept.
    pub fn create(&self, r: &'static Resource, ns: &str, obj: Value, dry_run: bool) -> Result<Value, ApiError> {
        self.create_with_uid(r, ns, obj, &uuid::Uuid::new_v4().to_string(), dry_run)
    }

    /// [`Store::create`] with a uid chosen beforehand, for admission that writes the uid
    /// into the object itself (a Job's selector and pod labels).
    pub fn create_with_uid(&self, r: &'static Resource, ns: &str, mut obj: Value, uid: &str, dry_run: bool) -> Result<Value, ApiError> {
        let ns = if r.namespaced { ns } else { "" };
        let name = name_of(&obj).to_owned();
        if name.is_empty() {
            return Err(ApiError::invalid(
                r,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        obj["kind"] = json!(r.kind);
        obj["apiVersion"] = json!(r.api_version());
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let m = obj["metadata"].as_object_mut().unwrap();
        if r.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        if obj.get("spec").is_some() {
            obj["metadata"]["generation"] = json!(1);
        }
        let key = (r.plural, ns.to_owned(), name.clone());
        let ev = {
            let mut inner = self.inner.lock().unwrap();
            if inner.objects.contains_key(&key) {
                return Err(ApiError::already_exists(r, &name));
            }
            if dry_run {
                obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
                return Ok(obj);
            }
            inner.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner.objects.insert(key, obj.clone());
            self.record(&mut inner, EventType::Added, r, ns, &name, obj.clone())
        };
        self.notify(ev);
        Ok(obj)
    }

    /// Replaces an object. A `metadata.resourceVersion` in `obj` that is not the current
    /// one is a 409 Conflict; an empty one means "whatever is there". Identity fields
    /// (uid, creationTimestamp) are kept; `generation` is bumped when `spec` changed.
    /// A write that changes nothing keeps the resourceVersion and sends no event.
    pub fn update(&self, r: &'static Resource, ns: &str, name: &str, obj: Value, dry_run: bool) -> Result<Value, ApiError> {
        self.write(r, ns, name, dry_run, |cur| {
            let want = rv_of(&obj);
            if want != 0 && want != rv_of(cur) {
                return Err(ApiError::conflict(r, name));
            }
            let keep = cur["metadata"].clone();
            *cur = obj;
            if !cur["metadata"].is_object() {
                cur["metadata"] = json!({});
            }
            for k in ["uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp"] {
                match keep.get(k) {
                    Some(v) => cur["metadata"][k] = v.clone(),
                    None => {
                        cur["metadata"].as_object_mut().unwrap().remove(k);
                    }
                }
            }
            Ok(())
        })
    }

    /// Reads, changes and writes one object atomically (controllers, patches, subresources).
    /// The closure sees the current object; returning an error aborts without a write.
    /// Same rules as [`Store::update`] for generation, no-op writes and dry runs.
    pub fn write(
        &self,
        r: &'static Resource,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let ns = if r.namespaced { ns } else { "" };
        let key = (r.plural, ns.to_owned(), name.to_owned());
        let ev = {
            let mut inner = self.inner.lock().unwrap();
            let old = inner.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(r, name))?;
            let mut new = old.clone();
            f(&mut new)?;
            new["kind"] = json!(r.kind);
            new["apiVersion"] = json!(r.api_version());
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if new == old {
                return Ok(new);
            }
            if new.get("spec") != old.get("spec") && new.get("spec").is_some() {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
            if dry_run {
                return Ok(new);
            }
            inner.rv += 1;
            new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner.objects.insert(key, new.clone());
            let ev = self.record(&mut inner, EventType::Modified, r, ns, name, new.clone());
            drop(inner);
            (ev, new)
        };
        self.notify(ev.0);
        Ok(ev.1)
    }

    /// Removes an object now and returns it (with the deletion's resourceVersion).
    /// Graceful or finalizer-driven deletion is the API layer's business: it sets
    /// `deletionTimestamp` with [`Store::write`] and calls this when done.
    pub fn delete(&self, r: &'static Resource, ns: &str, name: &str, dry_run: bool) -> Result<Value, ApiError> {
        let ns = if r.namespaced { ns } else { "" };
        let key = (r.plural, ns.to_owned(), name.to_owned());
        let ev = {
            let mut inner = self.inner.lock().unwrap();
            let mut old = inner.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(r, name))?;
            if dry_run {
                return Ok(old);
            }
            inner.objects.remove(&key);
            inner.rv += 1;
            old["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            let ev = self.record(&mut inner, EventType::Deleted, r, ns, name, old.clone());
            (ev, old)
        };
        self.notify(ev.0);
        Ok(ev.1)
    }

    /// Every object, for state dumps and tests: `(kind, namespace, name) -> object`.
    pub fn snapshot(&self) -> Vec<Value> {
        self.inner.lock().unwrap().objects.values().cloned().collect()
    }

    fn record(&self, inner: &mut Inner, kind: EventType, r: &'static Resource, ns: &str, name: &str, object: Value) -> WatchEvent {
        let ev = WatchEvent {
            kind,
            resource: r,
            namespace: ns.to_owned(),
            name: name.to_owned(),
            object,
            resource_version: inner.rv,
        };
        inner.history.push_back(ev.clone());
        if inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        // Sent under the lock so that subscribers see events in version order.
        let _ = self.events.send(ev.clone());
        ev
    }

    fn notify(&self, ev: WatchEvent) {
        let observers = self.observers.read().unwrap().clone();
        if observers.is_empty() {
            return;
        }
        // Re-entrant writes from an observer run their own observers inline (depth-first);
        // the lock only orders independent writers. try_lock avoids self-deadlock.
        let _guard = self.notify_lock.try_lock();
        for o in observers {
            o(self, &ev);
        }
    }

    // ---- container logs ------------------------------------------------------------

    /// Appends one line (without the trailing newline) to a container's log.
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, line: impl Into<String>) {
        let mut logs = self.logs.lock().unwrap();
        let entry = logs
            .entry((ns.to_owned(), pod.to_owned(), container.to_owned()))
            .or_insert_with(|| {
                (
                    LogBuf {
                        lines: Vec::new(),
                        closed: false,
                    },
                    watch::channel(0).0,
                )
            });
        entry.0.lines.push(line.into());
        let n = entry.0.lines.len();
        entry.1.send_replace(n);
    }

    /// Marks a container's log as finished: followers get the rest and the stream ends.
    pub fn close_log(&self, ns: &str, pod: &str, container: &str) {
        let mut logs = self.logs.lock().unwrap();
        let entry = logs
            .entry((ns.to_owned(), pod.to_owned(), container.to_owned()))
            .or_insert_with(|| {
                (
                    LogBuf {
                        lines: Vec::new(),
                        closed: false,
                    },
                    watch::channel(0).0,
                )
            });
        entry.0.closed = true;
        let n = entry.0.lines.len();
        entry.1.send_replace(n + 1); // wake followers even when nothing was appended
    }

    /// Forgets the logs of a pod (when it is deleted); open followers see the end.
    pub fn drop_logs(&self, ns: &str, pod: &str) {
        let mut logs = self.logs.lock().unwrap();
        for ((n, p, _), (buf, tx)) in logs.iter_mut() {
            if n == ns && p == pod {
                buf.closed = true;
                tx.send_replace(usize::MAX);
            }
        }
        logs.retain(|(n, p, _), _| !(n == ns && p == pod));
    }

    /// Lines from index `from` on, whether the log is closed, and a receiver that changes
    /// when more arrive. `None` when the container has no log yet.
    pub fn read_log(&self, ns: &str, pod: &str, container: &str, from: usize) -> Option<(Vec<String>, bool, watch::Receiver<usize>)> {
        let logs = self.logs.lock().unwrap();
        let (buf, tx) = logs.get(&(ns.to_owned(), pod.to_owned(), container.to_owned()))?;
        let lines = buf.lines.get(from..).map(<[String]>::to_vec).unwrap_or_default();
        Some((lines, buf.closed, tx.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(name: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"app": name}}, "spec": {"replicas": 1}})
    }

    #[test]
    fn create_fills_identity_and_rejects_duplicates() {
        let s = Store::new();
        let r = res("StatefulSet");
        let o = s.create(r, "demo", sts("vantiq"), false).unwrap();
        assert_eq!(o["kind"], "StatefulSet");
        assert_eq!(o["metadata"]["namespace"], "demo");
        assert_eq!(o["metadata"]["generation"], 1);
        assert!(o["metadata"]["uid"].as_str().unwrap().len() > 10);
        let e = s.create(r, "demo", sts("vantiq"), false).unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        assert_eq!(e.message, "statefulsets.apps \"vantiq\" already exists");
    }

    #[test]
    fn noop_write_keeps_version_and_spec_change_bumps_generation() {
        let s = Store::new();
        let r = res("StatefulSet");
        let o = s.create(r, "demo", sts("vantiq"), false).unwrap();
        let same = s.write(r, "demo", "vantiq", false, |_| Ok(())).unwrap();
        assert_eq!(rv_of(&same), rv_of(&o));
        let changed = s
            .write(r, "demo", "vantiq", false, |v| {
                v["spec"]["replicas"] = json!(3);
                Ok(())
            })
            .unwrap();
        assert!(rv_of(&changed) > rv_of(&o));
        assert_eq!(changed["metadata"]["generation"], 2);
        let status_only = s
            .write(r, "demo", "vantiq", false, |v| {
                v["status"] = json!({"replicas": 3});
                Ok(())
            })
            .unwrap();
        assert_eq!(status_only["metadata"]["generation"], 2);
    }

    #[test]
    fn dry_run_changes_nothing() {
        let s = Store::new();
        let r = res("StatefulSet");
        s.create(r, "demo", sts("vantiq"), false).unwrap();
        let before = s.snapshot();
        let rv = s.resource_version();
        s.write(r, "demo", "vantiq", true, |v| {
            v["spec"]["replicas"] = json!(0);
            Ok(())
        })
        .unwrap();
        s.create(r, "demo", sts("other"), true).unwrap();
        s.delete(r, "demo", "vantiq", true).unwrap();
        assert_eq!(s.snapshot(), before);
        assert_eq!(s.resource_version(), rv);
    }

    #[test]
    fn stale_update_conflicts() {
        let s = Store::new();
        let r = res("StatefulSet");
        let o = s.create(r, "demo", sts("vantiq"), false).unwrap();
        s.write(r, "demo", "vantiq", false, |v| {
            v["spec"]["replicas"] = json!(2);
            Ok(())
        })
        .unwrap();
        let e = s.update(r, "demo", "vantiq", o, false).unwrap_err();
        assert_eq!(e.reason, "Conflict");
    }

    #[test]
    fn selectors_filter_lists() {
        let s = Store::new();
        let r = res("StatefulSet");
        s.create(r, "demo", sts("vantiq"), false).unwrap();
        s.create(r, "demo", sts("mongodb"), false).unwrap();
        s.create(r, "shared", sts("influxdb"), false).unwrap();
        assert_eq!(s.list(r, Some("demo"), None, None).0.len(), 2);
        assert_eq!(s.list(r, None, None, None).0.len(), 3);
        assert_eq!(s.list(r, None, Some("app=vantiq"), None).0.len(), 1);
        assert_eq!(s.list(r, None, Some("app in (vantiq,influxdb)"), None).0.len(), 2);
        assert_eq!(s.list(r, None, None, Some("metadata.name=influxdb")).0.len(), 1);
        assert_eq!(s.list(r, Some("demo"), None, Some("metadata.name!=vantiq")).0.len(), 1);
    }

    #[test]
    fn watch_resumes_from_version() {
        let s = Store::new();
        let r = res("StatefulSet");
        let o = s.create(r, "demo", sts("vantiq"), false).unwrap();
        s.write(r, "demo", "vantiq", false, |v| {
            v["spec"]["replicas"] = json!(0);
            Ok(())
        })
        .unwrap();
        let (past, _rx) = s.watch_from(rv_of(&o)).unwrap();
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].kind, EventType::Modified);
    }

    #[test]
    fn logs_append_and_close() {
        let s = Store::new();
        assert!(s.read_log("demo", "vantiq-0", "load-model", 0).is_none());
        s.append_log("demo", "vantiq-0", "load-model", "one");
        s.append_log("demo", "vantiq-0", "load-model", "two");
        let (lines, closed, _) = s.read_log("demo", "vantiq-0", "load-model", 1).unwrap();
        assert_eq!((lines, closed), (vec!["two".to_owned()], false));
        s.close_log("demo", "vantiq-0", "load-model");
        assert!(s.read_log("demo", "vantiq-0", "load-model", 0).unwrap().1);
    }
}
