//! Vantiq's own behaviour: the simulated MongoDB (and userdb) with a schema version,
//! application writes and backup snapshots; the `load-model` init container that
//! migrates the schema (or refuses an image older than the schema); and the license
//! check that gates the `vantiq` container's readiness.

use std::cmp::Ordering;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{World, license};
use crate::store::res;

/// One simulated database.
#[derive(Debug, Clone, Serialize)]
pub struct Db {
    /// `major.minor` of the server that last migrated the data.
    pub schema: String,
    pub app_writes: u64,
    pub last_write_at: Option<DateTime<Utc>>,
}

impl Db {
    pub fn documents(&self) -> u64 {
        1843 + self.app_writes * 7
    }
    pub fn collections(&self) -> u64 {
        12
    }
}

/// A backup made by a `mongobackup` job.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub job: String,
    /// The namespace of the job that made it: only a backup made in the installation's
    /// namespace is a backup of its database.
    pub namespace: String,
    pub at: DateTime<Utc>,
    pub mongo: Db,
    pub userdb: Option<Db>,
}

/// A restore of a snapshot into one database.
#[derive(Debug, Clone, Serialize)]
pub struct Restore {
    pub job: String,
    pub at: DateTime<Utc>,
}

/// A schema migration in progress.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    pub pod: String,
    pub from: String,
    pub to: String,
    pub started_at: DateTime<Utc>,
    /// Which migration this is (for one-report-per-episode).
    pub seq: u64,
}

/// The simulated data of the installation.
#[derive(Debug, Clone, Serialize)]
pub struct Databases {
    pub mongo: Db,
    pub userdb: Option<Db>,
    pub snapshots: Vec<Snapshot>,
    pub migration: Option<Migration>,
    /// Pods whose `load-model` is running now.
    pub load_model_running: Vec<String>,
    /// `(database, snapshot id)` → its latest restore (`mongo` or `userdb`).
    #[serde(skip)]
    pub restores: std::collections::BTreeMap<(String, String), Restore>,
    migrations: u64,
}

impl Databases {
    pub fn new(schema: &str, userdb: bool, nightly_backup: bool) -> Databases {
        let now = Utc::now();
        let mongo = Db {
            schema: schema.to_owned(),
            app_writes: 5210,
            last_write_at: Some(now - chrono::Duration::hours(3)),
        };
        let userdb = userdb.then(|| Db {
            schema: schema.to_owned(),
            app_writes: 840,
            last_write_at: mongo.last_write_at,
        });
        let mut snapshots = Vec::new();
        if nightly_backup {
            let at = now - chrono::Duration::hours(6);
            let mut m = mongo.clone();
            m.app_writes -= 40;
            snapshots.push(Snapshot {
                id: format!("mongobackup-{}", at.format("%Y%m%dT%H%M%SZ")),
                job: "mongobackup-nightly".into(),
                namespace: String::new(),
                at,
                mongo: m,
                userdb: userdb.clone(),
            });
        }
        Databases {
            mongo,
            userdb,
            snapshots,
            migration: None,
            load_model_running: Vec::new(),
            restores: std::collections::BTreeMap::new(),
            migrations: 0,
        }
    }

    /// An application write (a ready vantiq server doing its work).
    pub fn write(&mut self) {
        let now = Utc::now();
        self.mongo.app_writes += 1;
        self.mongo.last_write_at = Some(now);
        if let Some(u) = self.userdb.as_mut() {
            u.app_writes += 1;
            u.last_write_at = Some(now);
        }
    }
}

/// `major.minor.patch` of an image reference like `vantiq/vantiq-server:1.31.0`.
pub fn image_version(image: &str) -> Option<(u64, u64, u64)> {
    let tag = image.rsplit_once(':').map(|(_, t)| t)?;
    let tag = tag.trim_start_matches('v');
    let mut it = tag.split(['.', '-']).map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// The tag of an image reference.
pub fn image_tag(image: &str) -> &str {
    image.rsplit_once(':').map_or("latest", |(_, t)| t)
}

fn schema_tuple(s: &str) -> (u64, u64) {
    let mut it = s.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Removes a pod from the running `load-model` set (and ends its migration) however
/// the container stops: success, failure, or the pod being deleted mid-run.
struct LoadModelGuard {
    world: Arc<World>,
    pod: String,
}

impl Drop for LoadModelGuard {
    fn drop(&mut self) {
        let mut db = self.world.db.lock().unwrap();
        db.load_model_running.retain(|p| p != &self.pod);
        if db.migration.as_ref().is_some_and(|m| m.pod == self.pod) {
            db.migration = None;
        }
    }
}

const STEPS: [&str; 8] = [
    "creating new system collections",
    "migrating type definitions",
    "converting resource references",
    "rewriting rule and procedure metadata",
    "migrating namespace configuration",
    "rebuilding indexes",
    "updating audit records",
    "verifying the migrated model",
];

/// Runs `load-model` for `pod` with `image`; `Err(exit code)` on failure.
pub async fn load_model(w: &Arc<World>, pod: &str, image: &str) -> Result<(), i32> {
    let ns = w.ns.clone();
    let log = |line: String| w.store.append_log(&ns, pod, "load-model", line);
    let tag = image_tag(image).to_owned();
    let Some((maj, min, _)) = image_version(image) else {
        log(format!("load-model: FAILED cannot read the server version from image {image}"));
        return Err(1);
    };
    let _guard = LoadModelGuard {
        world: w.clone(),
        pod: pod.to_owned(),
    };
    let (schema, migrating) = {
        let mut db = w.db.lock().unwrap();
        db.load_model_running.push(pod.to_owned());
        (db.mongo.schema.clone(), db.migration.clone())
    };
    log(format!("load-model: server {tag}, database schema {schema}"));
    if let Some(m) = &migrating {
        w.check_concurrent_migration(m);
    }
    let target = format!("{maj}.{min}");
    match (maj, min).cmp(&schema_tuple(&schema)) {
        Ordering::Equal => {
            log("load-model: loading system model".into());
            w.clock.sleep(super::clock::real::LOAD_MODEL).await;
            log(format!("load-model: COMPLETED schema is up to date ({schema})"));
            Ok(())
        }
        Ordering::Less => {
            log(format!(
                "load-model: FAILED database schema {schema} is newer than server {tag}; restore a backup made by {target} first"
            ));
            w.invariants.report(
                "image-older-than-schema",
                &format!("{pod}/{tag}/{schema}"),
                format!(
                    "pod {ns}/{pod} started server {tag} against database schema {schema}: a rollback without restoring the backup made before the upgrade"
                ),
            );
            Err(1)
        }
        Ordering::Greater => migrate(w, pod, &schema, &target).await,
    }
}

async fn migrate(w: &Arc<World>, pod: &str, from: &str, to: &str) -> Result<(), i32> {
    let ns = w.ns.clone();
    let log = |line: String| w.store.append_log(&ns, pod, "load-model", line);
    let m = {
        let mut db = w.db.lock().unwrap();
        db.migrations += 1;
        let m = Migration {
            pod: pod.into(),
            from: from.into(),
            to: to.into(),
            started_at: Utc::now(),
            seq: db.migrations,
        };
        if db.migration.is_none() {
            db.migration = Some(m.clone());
        }
        m
    };
    w.check_migration_start(&m);
    let fail = w.faults().migration.is_some_and(|f| f == "fail");
    for (i, what) in STEPS.iter().enumerate() {
        w.clock.sleep(super::clock::real::MIGRATION / STEPS.len() as f64).await;
        if fail && i == 4 {
            log(format!(
                "load-model: FAILED migration step 5/8: {what}: duplicate key error on index system.types_1 (injected fault)"
            ));
            return Err(1);
        }
        log(format!("load-model: migrating schema {from} -> {to}: step {}/8 {what}", i + 1));
    }
    {
        let mut db = w.db.lock().unwrap();
        db.mongo.schema = to.to_owned();
        if let Some(u) = db.userdb.as_mut() {
            u.schema = to.to_owned();
        }
    }
    log(format!("load-model: COMPLETED schema migration to {to}"));
    Ok(())
}

/// Checks the license the `vantiq` container would load now: `Ok(Some(claims))` for a
/// license in the simulator's format, `Ok(None)` for one it cannot read (accepted, expiry
/// unknown), or why it is refused.
pub fn license_check(w: &World) -> Result<Option<license::Claims>, String> {
    let sec = w
        .store
        .get(res("Secret"), &w.ns, "vantiq-license")
        .ok_or("secret vantiq-license not found")?;
    let get = |k: &str| {
        sec["data"][k]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or(format!("{k} is missing from secret vantiq-license"))
    };
    license::assess(&get("public.pem")?, &get("license.key")?, Utc::now()).map_err(|e| e.to_string())
}
