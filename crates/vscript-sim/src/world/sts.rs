//! The StatefulSet controller: pods `<sts>-<ordinal>` created and removed by ordinal
//! (`OrderedReady` one at a time waiting for readiness, `Parallel` all at once), scale
//! down from the highest ordinal, rolling updates on a template change (including
//! `kubectl rollout restart`'s annotation) from the highest ordinal down, one pod at a
//! time, adoption of orphaned pods by a re-created StatefulSet, claims from
//! `volumeClaimTemplates`, and the status fields `kubectl rollout status` reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{World, pods, pvc};
use crate::store::{name_of, res};

/// Serialises with sorted keys, so the hash does not depend on key order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{:?}:{}", k, canonical(v))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The revision name of a StatefulSet's template: `<sts>-<10 hex>`.
pub fn revision(sts: &Value) -> String {
    let h = Sha256::digest(canonical(&sts["spec"]["template"]).as_bytes());
    format!("{}-{}", name_of(sts), &super::pki::hex(&h)[..10])
}

/// `a=b,c=d` from `spec.selector.matchLabels`.
pub fn selector(sts: &Value) -> String {
    kube_util::match_labels_selector(&sts["spec"]["selector"]["matchLabels"])
}

fn ordinal(sts_name: &str, pod_name: &str) -> Option<u32> {
    pod_name.strip_prefix(sts_name)?.strip_prefix('-')?.parse().ok()
}

fn pod_revision(p: &Value) -> &str {
    p["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap_or("")
}

pub fn reconcile_all(w: &Arc<World>) {
    for sts in w.store.list(res("StatefulSet"), None, None, None).0 {
        if sts["metadata"]["deletionTimestamp"].is_null() {
            reconcile(w, &sts);
        }
    }
}

fn controller_uid(p: &Value) -> Option<&str> {
    p["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .and_then(|o| o["uid"].as_str())
}

fn owner_ref(sts: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name_of(sts), "uid": sts["metadata"]["uid"],
           "controller": true, "blockOwnerDeletion": true})
}

/// The pods of `sts` by ordinal, adopting orphans that match its selector.
fn claim_pods(w: &World, sts: &Value, ns: &str) -> BTreeMap<u32, Value> {
    let name = name_of(sts);
    let uid = sts["metadata"]["uid"].as_str().unwrap_or("");
    let sel = selector(sts);
    let mut out = BTreeMap::new();
    if sel.is_empty() {
        return out;
    }
    for p in w.store.list(res("Pod"), Some(ns), Some(&sel), None).0 {
        let Some(ord) = ordinal(name, name_of(&p)) else { continue };
        match controller_uid(&p) {
            Some(u) if u == uid => {
                out.insert(ord, p);
            }
            Some(u) => {
                // Owned by a StatefulSet that no longer exists (a pod its controller made while
                // the owner was being deleted): the garbage collector removes it, and this
                // StatefulSet then creates its own.
                let owner_gone = !w
                    .store
                    .list(res("StatefulSet"), Some(ns), None, None)
                    .0
                    .iter()
                    .any(|s| s["metadata"]["uid"] == u);
                if owner_gone && w.store.delete(res("Pod"), ns, name_of(&p), false).is_ok() {
                    w.store.drop_logs(ns, name_of(&p));
                }
            }
            None => {
                let adopted = w.store.write(res("Pod"), ns, name_of(&p), false, |p| {
                    p["metadata"]["ownerReferences"] = json!([owner_ref(sts)]);
                    Ok(())
                });
                if let Ok(p) = adopted {
                    out.insert(ord, p);
                }
            }
        }
    }
    out
}

fn create_pod(w: &Arc<World>, sts: &Value, ns: &str, ord: u32, rev: &str) {
    let name = format!("{}-{ord}", name_of(sts));
    let t = &sts["spec"]["template"];
    let mut labels = t["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels["controller-revision-hash"] = json!(rev);
    labels["statefulset.kubernetes.io/pod-name"] = json!(name);
    labels["apps.kubernetes.io/pod-index"] = json!(ord.to_string());
    let annotations = if t["metadata"]["annotations"].is_object() {
        t["metadata"]["annotations"].clone()
    } else {
        json!({})
    };
    let mut spec = t["spec"].clone();
    spec["hostname"] = json!(name);
    if let Some(svc) = sts["spec"]["serviceName"].as_str() {
        spec["subdomain"] = json!(svc);
    }
    let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    for vct in sts["spec"]["volumeClaimTemplates"].as_array().cloned().unwrap_or_default() {
        let vname = name_of(&vct).to_owned();
        let claim = format!("{vname}-{}-{ord}", name_of(sts));
        pvc::ensure_claim(w, ns, &claim, &vct, &sts["spec"]["selector"]["matchLabels"]);
        volumes.push(json!({"name": vname, "persistentVolumeClaim": {"claimName": claim}}));
    }
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    // The StatefulSet may have been deleted while this reconcile ran: no pod for a gone owner.
    let still_there = w
        .store
        .get(res("StatefulSet"), ns, name_of(sts))
        .is_some_and(|cur| cur["metadata"]["uid"] == sts["metadata"]["uid"]);
    if !still_there {
        return;
    }
    let at = match spec["nodeName"].as_str() {
        Some(n) if !n.is_empty() => pods::Placement::on(w, n.to_owned()),
        _ => pods::Placement::schedule(w, sts["metadata"]["uid"].as_str(), &spec),
    };
    let pod = pods::new_pod(ns, &name, labels, annotations, spec, owner_ref(sts), &at);
    if let Ok(created) = w.store.create(res("Pod"), ns, pod, false) {
        pods::spawn(w, &created);
    }
}

fn reconcile(w: &Arc<World>, sts: &Value) {
    let ns = sts["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
    let name = name_of(sts).to_owned();
    let replicas = sts["spec"]["replicas"].as_u64().unwrap_or(1) as u32;
    let parallel = sts["spec"]["podManagementPolicy"] == "Parallel";
    let rev = revision(sts);
    let pods = claim_pods(w, sts, &ns);

    // Scale up, then down.
    let mut all_present = true;
    for ord in 0..replicas {
        match pods.get(&ord) {
            None => {
                all_present = false;
                create_pod(w, sts, &ns, ord, &rev);
                if !parallel {
                    break;
                }
            }
            Some(p) if !parallel && !pods::healthy(p) => {
                all_present = all_present && !pods::terminating(p);
                break;
            }
            Some(p) => all_present = all_present && !pods::terminating(p),
        }
    }
    let in_range_healthy = (0..replicas).all(|o| pods.get(&o).is_some_and(pods::healthy));
    let condemned: Vec<u32> = pods.keys().rev().copied().filter(|o| *o >= replicas).collect();
    for ord in &condemned {
        let p = &pods[ord];
        if pods::terminating(p) {
            if !parallel {
                break;
            }
            continue;
        }
        if !parallel && !in_range_healthy {
            break;
        }
        pods::terminate(w, &ns, name_of(p));
        if !parallel {
            break;
        }
    }

    // Rolling update, highest ordinal first, one pod at a time.
    let rolling = sts["spec"]["updateStrategy"]["type"].as_str().unwrap_or("RollingUpdate") == "RollingUpdate";
    if rolling && all_present && (parallel || in_range_healthy) {
        let partition = sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_u64().unwrap_or(0) as u32;
        for ord in (partition..replicas).rev() {
            let Some(p) = pods.get(&ord) else { break };
            if pod_revision(p) != rev && !pods::terminating(p) {
                pods::terminate(w, &ns, name_of(p));
                break;
            }
            if !pods::healthy(p) {
                break;
            }
        }
    }
    write_status(w, sts, &ns, &name, replicas, &rev);
}

fn write_status(w: &World, sts: &Value, ns: &str, name: &str, replicas: u32, rev: &str) {
    let pods: Vec<Value> = claim_pods_readonly(w, sts, ns);
    let live: Vec<&Value> = pods.iter().filter(|p| !pods::terminating(p)).collect();
    let ready = live.iter().filter(|p| pods::healthy(p)).count();
    let updated = live.iter().filter(|p| pod_revision(p) == rev).count();
    let generation = sts["metadata"]["generation"].as_i64().unwrap_or(1);
    let mut current_rev = sts["status"]["currentRevision"].as_str().unwrap_or("").to_owned();
    let settled = updated == replicas as usize && ready == replicas as usize && live.len() == pods.len();
    if current_rev.is_empty() || settled {
        current_rev = rev.to_owned();
    }
    let current = live.iter().filter(|p| pod_revision(p) == current_rev).count();
    let mut status = json!({
        "observedGeneration": generation, "replicas": live.len(), "currentRevision": current_rev,
        "updateRevision": rev, "collisionCount": 0,
    });
    for (k, v) in [
        ("readyReplicas", ready),
        ("currentReplicas", current),
        ("updatedReplicas", updated),
        ("availableReplicas", ready),
    ] {
        if v > 0 {
            status[k] = json!(v);
        }
    }
    let _ = w.store.write(res("StatefulSet"), ns, name, false, |s| {
        if s["metadata"]["uid"] != sts["metadata"]["uid"] {
            return Err(crate::store::ApiError::new(409, "Conflict", "replaced"));
        }
        s["status"] = status;
        Ok(())
    });
}

fn claim_pods_readonly(w: &World, sts: &Value, ns: &str) -> Vec<Value> {
    let uid = sts["metadata"]["uid"].as_str().unwrap_or("");
    let sel = selector(sts);
    if sel.is_empty() {
        return Vec::new();
    }
    w.store
        .list(res("Pod"), Some(ns), Some(&sel), None)
        .0
        .into_iter()
        .filter(|p| controller_uid(p) == Some(uid) && ordinal(name_of(sts), name_of(p)).is_some())
        .collect()
}
