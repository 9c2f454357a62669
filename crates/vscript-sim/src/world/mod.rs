//! The simulated Vantiq installation: the objects of a seeded cluster and the
//! controllers that bring them to life (StatefulSets, pods, Jobs, PVC expansion),
//! Vantiq's own behaviour (schema migration, license check, backups), the HTTPS
//! endpoint standing in for the Vantiq server, the generated `k8sdeploy_tools`
//! checkout with its `gradlew` shim, and the invariant checker.
//!
//! [`Sim`] assembles all of it; [`gradle_main`] is the shim's entry point and
//! [`check`] reads the violations a run recorded.

pub mod admin;
pub mod clock;
pub mod daemonsets;
pub mod downtime;
pub mod gradle;
pub mod https;
pub mod invariants;
pub mod javaprops;
pub mod jobs;
pub mod license;
pub mod maintenance;
pub mod nodes;
pub mod pki;
pub mod pods;
pub mod pvc;
pub mod secretspec;
pub mod seed;
pub mod sim;
pub mod sts;
pub mod toolsdir;
pub mod vantiq;

use std::collections::{BTreeMap, HashMap, HashSet};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, WatchEvent};
pub use gradle::gradle_main;
pub use invariants::Violation;
pub use seed::SeedOptions;
pub use sim::{Sim, SimInfo, SimOptions, check, run_foreground};

/// The faults a test or a rehearsal injects through `DIR/faults.json` (read each time
/// it matters, so it may change while the simulator runs). The API layer reads its own
/// `"api"` key from the same file.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct WorldFaults {
    /// Task name → `"fail"`: e.g. `{"deployVantiq": "fail"}`.
    pub gradle: BTreeMap<String, String>,
    /// CronJob name → `"fail"`: e.g. `{"mongobackup": "fail"}`.
    pub jobs: BTreeMap<String, String>,
    /// `"fail"`: the next schema migration fails at step 5/8.
    pub migration: Option<String>,
    /// Component → extra realistic seconds before its containers become ready.
    pub readiness: BTreeMap<String, f64>,
}

impl WorldFaults {
    /// Reads `DIR/faults.json`; a missing file means no faults, a malformed one is
    /// reported on stderr and ignored.
    pub fn load(dir: &Path) -> WorldFaults {
        let path = dir.join("faults.json");
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t).unwrap_or_else(|e| {
                eprintln!("vscript sim: ignoring {}: {e}", path.display());
                WorldFaults::default()
            }),
            Err(_) => WorldFaults::default(),
        }
    }
}

/// The running world: the store plus everything the controllers share.
pub struct World {
    pub store: Arc<Store>,
    pub clock: clock::Clock,
    pub dir: PathBuf,
    /// The Vantiq namespace.
    pub ns: String,
    pub db: Mutex<vantiq::Databases>,
    pub invariants: invariants::Invariants,
    pub cancel: CancellationToken,
    root_subjects: Vec<String>,
    /// The CA certificates (PEM) the installation's clients trust.
    trust_roots: Mutex<Vec<String>>,
    /// Pod uid → the token that stops its lifecycle.
    pods: Mutex<HashMap<String, CancellationToken>>,
    /// The images each node has pulled (or is pulling).
    pub images: nodes::ImageCache,
    /// Realistic seconds a node takes to pull an image it does not have.
    pull_secs: Mutex<f64>,
    /// Maintenance procedures (the `vscript-maintenance` lease) and what they left behind.
    pub maint: maintenance::Maintenance,
    /// The downtime windows.
    pub downtime: downtime::Downtime,
    /// Job uids whose pod was started.
    jobs_started: Mutex<HashSet<String>>,
    /// PVC uids being expanded.
    resizing: Mutex<HashSet<String>>,
}

impl World {
    pub fn new(
        store: Arc<Store>,
        speed: f64,
        dir: &Path,
        ns: &str,
        mut db: vantiq::Databases,
        root_subjects: Vec<String>,
    ) -> std::io::Result<World> {
        // The seeded snapshots (last night's backup) are of this installation's database.
        for s in db.snapshots.iter_mut().filter(|s| s.namespace.is_empty()) {
            s.namespace = ns.to_owned();
        }
        let clock = clock::Clock::new(speed);
        Ok(World {
            store,
            clock,
            dir: dir.to_owned(),
            ns: ns.to_owned(),
            db: Mutex::new(db),
            invariants: invariants::Invariants::create(dir)?,
            cancel: CancellationToken::new(),
            root_subjects,
            trust_roots: Mutex::new(Vec::new()),
            pods: Mutex::new(HashMap::new()),
            images: nodes::ImageCache::default(),
            pull_secs: Mutex::new(clock::real::PULL_NEW),
            maint: maintenance::Maintenance::default(),
            downtime: downtime::Downtime::create(dir, clock.speed),
            jobs_started: Mutex::new(HashSet::new()),
            resizing: Mutex::new(HashSet::new()),
        })
    }

    pub fn faults(&self) -> WorldFaults {
        WorldFaults::load(&self.dir)
    }

    pub fn root_subjects(&self) -> Vec<String> {
        self.root_subjects.clone()
    }

    /// Sets the CA certificates (PEM) the installation's clients trust.
    pub fn set_trust_roots(&self, roots: Vec<String>) {
        *self.trust_roots.lock().unwrap() = roots;
    }

    pub fn trust_roots(&self) -> Vec<String> {
        self.trust_roots.lock().unwrap().clone()
    }

    /// Marks images as present on every node (the installation's current images).
    pub fn prepull(&self, images: impl IntoIterator<Item = String>) {
        let images: Vec<String> = images.into_iter().collect();
        self.images.mark(&nodes::node_names(self), &images);
    }

    /// Sets how long (realistic seconds) a node takes to pull an image it does not have.
    pub fn set_image_pull_secs(&self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            *self.pull_secs.lock().unwrap() = secs;
        }
    }

    /// The wall-clock time of a new pull: the configured realistic time scaled by the
    /// clock, never less than [`clock::MIN_NEW_PULL`].
    pub fn pull_duration(&self) -> std::time::Duration {
        self.clock.d(*self.pull_secs.lock().unwrap()).max(clock::MIN_NEW_PULL)
    }

    /// When `image` is on `node`: a pull already under way there is shared (as the
    /// kubelet does), an image the node never had takes [`World::pull_duration`].
    pub fn pull(&self, node: &str, image: &str) -> nodes::PullState {
        self.images.pull(node, image, self.pull_duration())
    }

    /// A successful Vantiq login (the HTTPS endpoint answered `/authenticate`, or an
    /// authenticated API call, with 200): ends an open downtime window.
    pub fn note_login(&self) {
        self.downtime.login();
    }

    /// Whether a Ready vantiq pod of the installation serves now (for the downtime record).
    fn vantiq_pods_changed(&self) {
        let serving = self
            .store
            .list(crate::store::res("Pod"), Some(&self.ns), Some("app=vantiq"), None)
            .0
            .iter()
            .any(pods::healthy);
        self.downtime.serving(serving, self.maint.holder());
    }

    /// The gradle shim reports a task before it acts: a `deployVantiq` into namespace `ns`
    /// while vantiq pods run there and the newest backup was taken in another namespace
    /// deploys (and migrates) a database that was not backed up: `deploy-wrong-namespace`.
    pub fn gradle_task(&self, task: &str, ns: &str) {
        if task != "deployVantiq" {
            return;
        }
        let running: Vec<String> = self
            .store
            .list(crate::store::res("Pod"), Some(ns), Some("app=vantiq"), None)
            .0
            .iter()
            .filter(|p| p["status"]["phase"] == "Running" && !pods::terminating(p))
            .map(|p| crate::store::name_of(p).to_owned())
            .collect();
        if running.is_empty() {
            return;
        }
        let newest = self.db.lock().unwrap().snapshots.iter().max_by_key(|s| s.at).cloned();
        if let Some(s) = newest.filter(|s| s.namespace != ns) {
            self.invariants.report(
                "deploy-wrong-namespace",
                &format!("{ns}/{}", s.id),
                format!(
                    "deployVantiq into namespace {ns} while vantiq pods run there ({}), but the newest backup ({} by job {}) was taken in namespace {}: the database being upgraded was not backed up",
                    running.join(", "),
                    s.id,
                    s.job,
                    s.namespace
                ),
            );
        }
    }

    /// A token for a new pod's lifecycle, cancelled when the pod starts terminating or is deleted.
    pub fn register_pod(&self, uid: &str) -> CancellationToken {
        let t = self.cancel.child_token();
        self.pods.lock().unwrap().insert(uid.to_owned(), t.clone());
        t
    }

    fn stop_pod(&self, uid: &str) {
        if let Some(t) = self.pods.lock().unwrap().remove(uid) {
            t.cancel();
        }
    }

    fn pod_written(&self, ev: &WatchEvent) {
        let o = &ev.object;
        let uid = o["metadata"]["uid"].as_str().unwrap_or("");
        let app = o["metadata"]["labels"]["app"].as_str().unwrap_or("");
        if ev.namespace == self.ns && app == "vantiq" {
            self.vantiq_pods_changed();
        }
        if !o["metadata"]["deletionTimestamp"].is_null() {
            self.stop_pod(uid);
            return;
        }
        if ev.namespace == self.ns && matches!(app, "metrics-collector" | "vision-analytics") && o["status"]["phase"] == "Running" {
            let m = self.db.lock().unwrap().migration.clone();
            if let Some(m) = m {
                self.report_component(&m, &ev.name);
            }
        }
    }

    fn pod_deleted(&self, ev: &WatchEvent) {
        let uid = ev.object["metadata"]["uid"].as_str().unwrap_or("");
        self.stop_pod(uid);
        if ev.namespace == self.ns && ev.object["metadata"]["labels"]["app"] == "vantiq" {
            self.vantiq_pods_changed();
        }
        if self.store.get(crate::store::res("Pod"), &ev.namespace, &ev.name).is_none() {
            self.store.drop_logs(&ev.namespace, &ev.name);
        }
    }

    fn report_component(&self, m: &vantiq::Migration, pod: &str) {
        self.invariants.report(
            "component-during-migration",
            &format!("{}/{pod}", m.seq),
            format!(
                "pod {}/{pod} was running while {} migrated the schema {} -> {} (started {})",
                self.ns,
                m.pod,
                m.from,
                m.to,
                m.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        );
    }

    /// A `load-model` started while a migration runs, or a migration started.
    fn check_concurrent_migration(&self, m: &vantiq::Migration) {
        let running = self.db.lock().unwrap().load_model_running.clone();
        if running.len() > 1 {
            self.invariants.report(
                "concurrent-migration",
                &m.seq.to_string(),
                format!(
                    "{} vantiq pods ran load-model while the schema migrated {} -> {}: {} (migration started {} by {})",
                    running.len(),
                    m.from,
                    m.to,
                    running.join(", "),
                    m.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    m.pod
                ),
            );
        }
    }

    fn check_migration_start(&self, m: &vantiq::Migration) {
        self.check_concurrent_migration(m);
        let pods = self.store.list(crate::store::res("Pod"), Some(&self.ns), None, None).0;
        for p in pods {
            let app = p["metadata"]["labels"]["app"].as_str().unwrap_or("");
            if matches!(app, "metrics-collector" | "vision-analytics")
                && p["status"]["phase"] == "Running"
                && p["metadata"]["deletionTimestamp"].is_null()
            {
                self.report_component(m, crate::store::name_of(&p));
            }
        }
        let db = self.db.lock().unwrap();
        let last_write = db.mongo.last_write_at;
        // A backup of another namespace's database is no backup of this one.
        let newest = db.snapshots.iter().filter(|s| s.namespace == self.ns).map(|s| s.at).max();
        let ok = match (last_write, newest) {
            (None, _) => true,
            (Some(w), Some(s)) => s > w,
            (Some(_), None) => false,
        };
        if !ok {
            let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("never".to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            };
            self.invariants.report(
                "migration-without-backup",
                &m.seq.to_string(),
                format!(
                    "{} started migrating the schema {} -> {} without a backup newer than the last application write (last write {}, newest backup {})",
                    m.pod,
                    m.from,
                    m.to,
                    fmt(last_write),
                    fmt(newest)
                ),
            );
        }
    }
}

/// `metadata.resourceVersion` as a string (for episode keys).
pub(crate) fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned()
}

/// Runs the controllers until the world is cancelled: level-triggered reconciles after
/// every burst of writes, and every 250 ms as a safety net. When cancelled (the simulator
/// stops), a procedure still holding the lease ends and pending violations are recorded.
pub async fn run_controllers(w: Arc<World>) {
    let mut rx = w.store.subscribe();
    maintenance::take_baseline(&w);
    loop {
        sts::reconcile_all(&w);
        daemonsets::reconcile_all(&w);
        jobs::reconcile_all(&w);
        pvc::reconcile_all(&w);
        tokio::select! {
            () = w.cancel.cancelled() => {
                maintenance::finish(&w);
                return;
            }
            _ = rx.recv() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        while rx.try_recv().is_ok() {}
    }
}
