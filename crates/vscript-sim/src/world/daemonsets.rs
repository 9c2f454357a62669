//! The DaemonSet controller: one pod `<ds>-<5 chars>` per node, bound to it
//! (`spec.nodeName`), Ready once its images are pulled there and its containers run —
//! which is what a pre-pull step relies on: a DaemonSet whose pods use the new Vantiq
//! image warms every node's image cache before the downtime, and needs only namespaced
//! `daemonsets` permissions (its status says when every node has the image; no access to
//! Nodes needed). A template change replaces the pods one node at a time; deleting the
//! DaemonSet deletes its pods (the API server's garbage collection). Status:
//! `desiredNumberScheduled`, `currentNumberScheduled`, `numberReady`, `numberAvailable`,
//! `updatedNumberScheduled`, `observedGeneration`, as `kubectl rollout status` reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{World, nodes, pods, sts};
use crate::store::{name_of, res};

fn owner_uid(p: &Value) -> Option<&str> {
    p["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true && o["kind"] == "DaemonSet")
        .and_then(|o| o["uid"].as_str())
}

/// The template's revision hash (the pods' `controller-revision-hash` label).
fn revision(ds: &Value) -> String {
    let rev = sts::revision(ds);
    rev.rsplit('-').next().unwrap_or(&rev).to_owned()
}

pub fn reconcile_all(w: &Arc<World>) {
    let all = w.store.list(res("DaemonSet"), None, None, None).0;
    let live: Vec<&str> = all.iter().filter_map(|d| d["metadata"]["uid"].as_str()).collect();
    // Garbage: pods of a DaemonSet that no longer exists (created while it was being deleted).
    for p in w.store.list(res("Pod"), None, None, None).0 {
        if let Some(u) = owner_uid(&p)
            && !live.contains(&u)
        {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            if w.store.delete(res("Pod"), ns, name_of(&p), false).is_ok() {
                w.store.drop_logs(ns, name_of(&p));
            }
        }
    }
    for ds in &all {
        if ds["metadata"]["deletionTimestamp"].is_null() {
            reconcile(w, ds);
        }
    }
}

fn reconcile(w: &Arc<World>, ds: &Value) {
    let ns = ds["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
    let name = name_of(ds).to_owned();
    let uid = ds["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let rev = revision(ds);
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
    let node_list = nodes::node_names(w);
    let mine: Vec<Value> = w
        .store
        .list(res("Pod"), Some(&ns), None, None)
        .0
        .into_iter()
        .filter(|p| owner_uid(p) == Some(uid.as_str()))
        .collect();
    let mut by_node: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &mine {
        let n = p["spec"]["nodeName"].as_str().unwrap_or("").to_owned();
        by_node.entry(n).or_default().push(p.clone());
    }
    // Pods on nodes that are gone.
    for (n, ps) in &by_node {
        if !node_list.contains(n) {
            for p in ps {
                pods::terminate(w, &ns, name_of(p));
            }
        }
    }
    // One pod per node.
    for n in &node_list {
        let has_live = by_node.get(n).is_some_and(|ps| ps.iter().any(|p| !pods::terminating(p)));
        if !has_live {
            create_pod(w, ds, &ns, n, &rev, generation);
        }
    }
    // Rolling update: one outdated pod at a time, when every other pod is Ready.
    let rolling = ds["spec"]["updateStrategy"]["type"].as_str().unwrap_or("RollingUpdate") == "RollingUpdate";
    let all_healthy = mine.iter().filter(|p| !pods::terminating(p)).all(pods::healthy) && mine.len() >= node_list.len();
    let outdated = |p: &&Value| !pods::terminating(p) && p["metadata"]["labels"]["controller-revision-hash"].as_str() != Some(rev.as_str());
    if rolling
        && all_healthy
        && let Some(p) = mine.iter().find(outdated)
    {
        pods::terminate(w, &ns, name_of(p));
    }
    write_status(w, ds, &ns, &name, &uid, &rev, node_list.len());
}

fn create_pod(w: &Arc<World>, ds: &Value, ns: &str, node: &str, rev: &str, generation: i64) {
    // The DaemonSet may have been deleted while this reconcile ran.
    let still_there = w
        .store
        .get(res("DaemonSet"), ns, name_of(ds))
        .is_some_and(|cur| cur["metadata"]["uid"] == ds["metadata"]["uid"]);
    if !still_there {
        return;
    }
    let t = &ds["spec"]["template"];
    let mut labels = if t["metadata"]["labels"].is_object() {
        t["metadata"]["labels"].clone()
    } else {
        json!({})
    };
    labels["controller-revision-hash"] = json!(rev);
    labels["pod-template-generation"] = json!(generation.to_string());
    let annotations = if t["metadata"]["annotations"].is_object() {
        t["metadata"]["annotations"].clone()
    } else {
        json!({})
    };
    let owner = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name_of(ds), "uid": ds["metadata"]["uid"],
                       "controller": true, "blockOwnerDeletion": true});
    let pname = format!("{}-{}", name_of(ds), super::jobs::suffix());
    let at = pods::Placement::on(w, node.to_owned());
    let pod = pods::new_pod(ns, &pname, labels, annotations, t["spec"].clone(), owner, &at);
    if let Ok(created) = w.store.create(res("Pod"), ns, pod, false) {
        pods::spawn(w, &created);
    }
}

fn write_status(w: &World, ds: &Value, ns: &str, name: &str, uid: &str, rev: &str, desired: usize) {
    let pods: Vec<Value> = w
        .store
        .list(res("Pod"), Some(ns), None, None)
        .0
        .into_iter()
        .filter(|p| owner_uid(p) == Some(uid) && !pods::terminating(p))
        .collect();
    let ready = pods.iter().filter(|p| pods::healthy(p)).count();
    let updated = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["controller-revision-hash"].as_str() == Some(rev))
        .count();
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
    let mut status = json!({
        "observedGeneration": generation, "desiredNumberScheduled": desired,
        "currentNumberScheduled": pods.len(), "numberMisscheduled": 0, "numberReady": ready,
    });
    for (k, v) in [("numberAvailable", ready), ("updatedNumberScheduled", updated)] {
        if v > 0 {
            status[k] = json!(v);
        }
    }
    if desired > ready {
        status["numberUnavailable"] = json!(desired - ready);
    }
    let _ = w.store.write(res("DaemonSet"), ns, name, false, |d| {
        if d["metadata"]["uid"] != uid {
            return Err(crate::store::ApiError::new(409, "Conflict", "replaced"));
        }
        d["status"] = status;
        Ok(())
    });
}
