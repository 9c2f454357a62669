//! The Job controller: a Job (typically `kubectl create job X --from=CronJob/mongobackup`)
//! gets one pod `<job>-<5 chars>`, Running at once so `kubectl logs -f job/X` right after
//! `create job` works; it logs its progress and ends Succeeded or Failed, and the Job's
//! status follows (`SuccessCriteriaMet` + `Complete`, or `FailureTarget` + `Failed`).
//! What a pod does depends on the CronJob it came from: `mongobackup` snapshots the
//! simulated databases, `mongorestore` restores MongoDB from the newest snapshot,
//! `userdbrestore` the userdb. CronJobs are never scheduled: only manual Jobs run.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::World;
use super::clock::real;
use super::pods::{self, Ctr};
use super::vantiq::Snapshot;
use crate::store::{name_of, now_rfc3339, res};

/// Which kind of work a Job does: its owning CronJob, or its `app` label.
pub fn job_kind(job: &Value) -> String {
    if let Some(owner) = job["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["kind"] == "CronJob"))
        .and_then(|o| o["name"].as_str())
    {
        return owner.to_owned();
    }
    for labels in [&job["metadata"]["labels"], &job["spec"]["template"]["metadata"]["labels"]] {
        if let Some(app) = labels["app"].as_str() {
            return app.to_owned();
        }
    }
    name_of(job).to_owned()
}

fn finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|a| {
        a.iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
    })
}

pub fn reconcile_all(w: &Arc<World>) {
    for job in w.store.list(res("Job"), None, None, None).0 {
        let uid = job["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        if finished(&job) || job["spec"]["suspend"] == true || !job["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        if !w.jobs_started.lock().unwrap().insert(uid) {
            continue;
        }
        start(w, &job);
    }
}

/// Five random characters, as the controllers suffix generated pod names.
pub(crate) fn suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn start(w: &Arc<World>, job: &Value) {
    let ns = job["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
    let jname = name_of(job).to_owned();
    let juid = job["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let t = &job["spec"]["template"];
    let mut labels = if t["metadata"]["labels"].is_object() {
        t["metadata"]["labels"].clone()
    } else {
        json!({})
    };
    if let Some(sel) = job["spec"]["selector"]["matchLabels"].as_object() {
        for (k, v) in sel {
            labels[k] = v.clone();
        }
    }
    for k in ["job-name", "batch.kubernetes.io/job-name"] {
        if labels[k].is_null() {
            labels[k] = json!(jname);
        }
    }
    let owner =
        json!({"apiVersion": "batch/v1", "kind": "Job", "name": jname, "uid": juid, "controller": true, "blockOwnerDeletion": true});
    let pname = format!("{jname}-{}", suffix());
    let at = pods::Placement::schedule(w, Some(&juid), &t["spec"]);
    let mut pod = pods::new_pod(
        &ns,
        &pname,
        labels,
        t["metadata"]["annotations"].clone(),
        t["spec"].clone(),
        owner,
        &at,
    );
    pod["metadata"]["annotations"] = if t["metadata"]["annotations"].is_object() {
        t["metadata"]["annotations"].clone()
    } else {
        json!({})
    };
    let ctrs = pods::containers(&t["spec"], "containers");
    // Running at once: the node has the backup image.
    pod["status"]["phase"] = json!("Running");
    pod["status"]["podIP"] = json!(pods::pod_ip(&pname));
    pod["status"]["conditions"] = pods::conditions(true, true);
    pod["status"]["containerStatuses"] = json!(ctrs.iter().map(|c| pods::cstatus(c, pods::running(), true, 0)).collect::<Vec<_>>());
    let kind = job_kind(job);
    let Some(c) = ctrs.first().cloned() else { return };
    // The log exists before the pod is visible, so `logs -f` never sees a missing log.
    w.store.drop_logs(&ns, &pname);
    w.store
        .append_log(&ns, &pname, &c.name, format!("{} starting {kind} job {jname}", ts()));
    let Ok(created) = w.store.create(res("Pod"), &ns, pod, false) else {
        return;
    };
    let puid = created["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let started = now_rfc3339();
    let _ = w.store.write(res("Job"), &ns, &jname, false, |j| {
        j["status"]["startTime"] = json!(started);
        j["status"]["active"] = json!(1);
        j["status"]["ready"] = json!(1);
        j["status"]["terminating"] = json!(0);
        j["status"]["uncountedTerminatedPods"] = json!({});
        Ok(())
    });
    let token = w.register_pod(&puid);
    let w = w.clone();
    tokio::spawn(async move {
        let result = tokio::select! {
            () = token.cancelled() => return,
            r = work(&w, &ns, &pname, &c.name, &kind, &jname) => r,
        };
        w.store.close_log(&ns, &pname, &c.name);
        finish(&w, &ns, &jname, &juid, &pname, &puid, &c, result, &started);
    });
}

fn ts() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn work(w: &Arc<World>, ns: &str, pod: &str, ctr: &str, kind: &str, job: &str) -> Result<(), String> {
    let log = |l: String| w.store.append_log(ns, pod, ctr, format!("{} {l}", ts()));
    let step = real::BACKUP / 6.0;
    let fault = w.faults().jobs.get(kind).is_some_and(|f| f == "fail");
    match kind {
        "mongobackup" => {
            log("mongodump: connecting to mongodb-0.mongodb:27017".into());
            w.clock.sleep(step).await;
            let db = w.db.lock().unwrap().clone();
            if ns == w.ns {
                log(format!("mongodump: dumping database ars02 (schema {})", db.mongo.schema));
            } else {
                log("mongodump: dumping database ars02".into());
            }
            for (i, coll) in ["types", "rules", "procedures", "sources", "documents"].iter().enumerate() {
                w.clock.sleep(step * 0.8).await;
                if fault && i == 3 {
                    log("mongodump: Failed: error reading collection ars02.sources: connection reset by peer (injected fault)".into());
                    return Err("mongodump failed".into());
                }
                log(format!("mongodump: done dumping ars02.{coll}"));
            }
            let db = w.db.lock().unwrap().clone();
            if let Some(u) = db.userdb.as_ref().filter(|_| ns == w.ns) {
                log(format!("mongodump: dumping userdb ({} writes)", u.app_writes));
            }
            let at = Utc::now();
            let id = format!("mongobackup-{}", at.format("%Y%m%dT%H%M%SZ"));
            // A backup job in another namespace backs up that namespace's database, which
            // the simulator does not model: it is recorded, and is no backup of this one.
            let (mongo, userdb) = if ns == w.ns {
                (db.mongo.clone(), db.userdb.clone())
            } else {
                let other = super::vantiq::Db {
                    schema: "-".into(),
                    app_writes: 0,
                    last_write_at: None,
                };
                (other, None)
            };
            log(format!(
                "mongodump: archive written: {} documents in {} collections",
                mongo.documents(),
                mongo.collections()
            ));
            log(format!("upload: gs://acme-vantiq-backups/{id}.archive.gz uploaded"));
            w.db.lock().unwrap().snapshots.push(Snapshot {
                id: id.clone(),
                job: job.to_owned(),
                namespace: ns.to_owned(),
                at,
                mongo,
                userdb,
            });
            log(format!("backup {id} completed"));
            Ok(())
        }
        "mongorestore" | "userdbrestore" => {
            let user = kind == "userdbrestore";
            let target = if user { "userdb" } else { "ars02" };
            log(format!("mongorestore: looking for the newest backup of {target}"));
            w.clock.sleep(step).await;
            let snap =
                w.db.lock()
                    .unwrap()
                    .snapshots
                    .iter()
                    .filter(|s| s.namespace == ns)
                    .max_by_key(|s| s.at)
                    .cloned();
            let Some(snap) = snap else {
                log(format!("mongorestore: Failed: no backup found for {target}"));
                w.invariants.report(
                    "data-lost",
                    &format!("restore/{job}"),
                    format!("Job {ns}/{job} ({kind}) ran with no backup to restore"),
                );
                return Err("no backup".into());
            };
            if fault {
                w.clock.sleep(step).await;
                log("mongorestore: Failed: archive is corrupt (injected fault)".into());
                return Err("restore failed".into());
            }
            log(format!("mongorestore: downloading {}.archive.gz", snap.id));
            for _ in 0..3 {
                w.clock.sleep(step).await;
            }
            let schema = if ns != w.ns {
                snap.mongo.schema.clone()
            } else {
                let mut db = w.db.lock().unwrap();
                let target_db = if user { "userdb" } else { "mongo" };
                let key = (target_db.to_owned(), snap.id.clone());
                let last_write = if user {
                    db.userdb.as_ref().and_then(|u| u.last_write_at)
                } else {
                    db.mongo.last_write_at
                };
                let writes_now = if user {
                    db.userdb.as_ref().map_or(0, |u| u.app_writes)
                } else {
                    db.mongo.app_writes
                };
                if let Some(first) = db.restores.get(&key)
                    && last_write.is_some_and(|t| t > first.at)
                {
                    let writes_then = if user {
                        snap.userdb.as_ref().map_or(0, |u| u.app_writes)
                    } else {
                        snap.mongo.app_writes
                    };
                    w.invariants.report(
                        "backup-restored-twice",
                        &format!("{job}/{target_db}"),
                        format!(
                            "Job {ns}/{job} ({kind}) restored snapshot {} into {} a second time (first restored by {} at {}): the {} application write(s) made since then are lost",
                            snap.id,
                            if user { "the userdb" } else { "MongoDB" },
                            first.job,
                            first.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            writes_now.saturating_sub(writes_then)
                        ),
                    );
                }
                db.restores.insert(
                    key,
                    super::vantiq::Restore {
                        job: job.to_owned(),
                        at: Utc::now(),
                    },
                );
                if user {
                    db.userdb = snap.userdb.clone().or(db.userdb.clone());
                    db.userdb.as_ref().map(|u| u.schema.clone()).unwrap_or_default()
                } else {
                    db.mongo = snap.mongo.clone();
                    snap.mongo.schema.clone()
                }
            };
            log(format!(
                "mongorestore: {} documents restored from {}",
                if user {
                    snap.userdb.as_ref().map_or(0, |u| u.documents())
                } else {
                    snap.mongo.documents()
                },
                snap.id
            ));
            log(format!("mongorestore: restored snapshot {} (schema {schema})", snap.id));
            Ok(())
        }
        _ => {
            log(format!("job {job} running"));
            w.clock.sleep(step * 2.0).await;
            if fault {
                log("job failed (injected fault)".into());
                return Err("failed".into());
            }
            log(format!("job {job} done"));
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(w: &World, ns: &str, job: &str, juid: &str, pod: &str, puid: &str, c: &Ctr, result: Result<(), String>, started: &str) {
    let ok = result.is_ok();
    pods::set_status(w, ns, pod, puid, |p| {
        p["status"]["phase"] = json!(if ok { "Succeeded" } else { "Failed" });
        p["status"]["conditions"] = pods::conditions(true, false);
        let st = pods::terminated(if ok { 0 } else { 1 }, if ok { "Completed" } else { "Error" }, started);
        p["status"]["containerStatuses"] = json!([pods::cstatus(c, st, false, 0)]);
    });
    let now = now_rfc3339();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": msg});
    let _ = w.store.write(res("Job"), ns, job, false, |j| {
        if j["metadata"]["uid"] != juid {
            return Err(crate::store::ApiError::new(409, "Conflict", "replaced"));
        }
        let s = &mut j["status"];
        s["active"] = json!(0);
        s["ready"] = json!(0);
        if let Some(m) = s.as_object_mut() {
            m.remove("active");
        }
        if ok {
            s["succeeded"] = json!(1);
            s["completionTime"] = json!(now);
            s["conditions"] = json!([
                cond(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods"
                ),
                cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ]);
        } else {
            s["failed"] = json!(1);
            s["conditions"] = json!([
                cond(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit"
                ),
                cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            ]);
        }
        Ok(())
    });
}
