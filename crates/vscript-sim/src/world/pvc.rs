//! Persistent volumes: claims from `volumeClaimTemplates` are provisioned and bound at
//! once (a PV `pvc-<claim uid>` with the requested capacity), and a claim whose
//! `spec.resources.requests.storage` grows (the API layer has already checked the
//! StorageClass allows it) is expanded like a CSI driver does: `Resizing`, the PV's
//! capacity, `FileSystemResizePending`, then the claim's `status.capacity`.

use std::sync::Arc;

use kube_util::Quantity;
use serde_json::{Value, json};

use super::World;
use super::clock::real;
use crate::store::{name_of, now_rfc3339, res};

/// Creates a claim (and its bound PV) when it does not exist yet.
pub fn ensure_claim(w: &World, ns: &str, name: &str, vct: &Value, labels: &Value) {
    if w.store.get(res("PersistentVolumeClaim"), ns, name).is_some() {
        return;
    }
    let spec = vct["spec"].clone();
    let size = spec["resources"]["requests"]["storage"].as_str().unwrap_or("1Gi").to_owned();
    let sc = spec["storageClassName"].as_str().unwrap_or("vantiq-sc").to_owned();
    let claim = json!({
        "metadata": {"name": name, "labels": labels, "annotations": {
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": "disk.csi.azure.com"}},
        "spec": spec,
    });
    let Ok(created) = w.store.create(res("PersistentVolumeClaim"), ns, claim, false) else {
        return;
    };
    bind(w, ns, &created, &size, &sc);
}

/// Provisions a PV for a claim and binds both.
pub fn bind(w: &World, ns: &str, claim: &Value, size: &str, sc: &str) {
    let name = name_of(claim).to_owned();
    let uid = claim["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let pv_name = format!("pvc-{uid}");
    let modes = claim["spec"]["accessModes"].clone();
    let pv = json!({
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "disk.csi.azure.com"}},
        "spec": {
            "capacity": {"storage": size}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": sc, "volumeMode": "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid},
            "csi": {"driver": "disk.csi.azure.com", "volumeHandle": format!("/subscriptions/sim/resourceGroups/sim/providers/Microsoft.Compute/disks/{pv_name}")},
        },
        "status": {"phase": "Bound"},
    });
    let _ = w.store.create(res("PersistentVolume"), "", pv, false);
    let _ = w.store.write(res("PersistentVolumeClaim"), ns, &name, false, |c| {
        c["spec"]["volumeName"] = json!(pv_name);
        c["spec"]["storageClassName"] = json!(sc);
        c["spec"]["volumeMode"] = json!("Filesystem");
        c["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}});
        Ok(())
    });
}

pub fn reconcile_all(w: &Arc<World>) {
    for c in w.store.list(res("PersistentVolumeClaim"), None, None, None).0 {
        let want = c["spec"]["resources"]["requests"]["storage"].as_str().unwrap_or("");
        let have = c["status"]["capacity"]["storage"].as_str().unwrap_or("");
        if c["status"]["phase"] != "Bound" || want.is_empty() || have.is_empty() {
            continue;
        }
        let bytes = |q| Quantity::parse(q).and_then(Quantity::bytes);
        let (Some(wb), Some(hb)) = (bytes(want), bytes(have)) else {
            continue;
        };
        if wb <= hb {
            continue;
        }
        let uid = c["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        if !w.resizing.lock().unwrap().insert(uid.clone()) {
            continue;
        }
        let (w, ns, name, pv, size) = (
            w.clone(),
            c["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
            name_of(&c).to_owned(),
            c["spec"]["volumeName"].as_str().unwrap_or("").to_owned(),
            want.to_owned(),
        );
        tokio::spawn(async move {
            expand(&w, &ns, &name, &uid, &pv, &size).await;
            w.resizing.lock().unwrap().remove(&uid);
        });
    }
}

fn set_claim(w: &World, ns: &str, name: &str, uid: &str, f: impl FnOnce(&mut Value)) -> bool {
    w.store
        .write(res("PersistentVolumeClaim"), ns, name, false, |c| {
            if c["metadata"]["uid"] != uid {
                return Err(crate::store::ApiError::new(409, "Conflict", "replaced"));
            }
            f(c);
            Ok(())
        })
        .is_ok()
}

fn condition(t: &str, message: Option<&str>) -> Value {
    let mut c = json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()});
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

async fn expand(w: &World, ns: &str, name: &str, uid: &str, pv: &str, size: &str) {
    let ok = set_claim(w, ns, name, uid, |c| {
        c["status"]["conditions"] = json!([condition("Resizing", None)]);
        c["status"]["allocatedResources"] = json!({"storage": size});
        c["status"]["allocatedResourceStatuses"] = json!({"storage": "ControllerResizeInProgress"});
    });
    if !ok {
        return;
    }
    w.clock.sleep(real::RESIZE).await;
    let _ = w.store.write(res("PersistentVolume"), "", pv, false, |v| {
        v["spec"]["capacity"]["storage"] = json!(size);
        Ok(())
    });
    set_claim(w, ns, name, uid, |c| {
        c["status"]["conditions"] = json!([condition(
            "FileSystemResizePending",
            Some("Waiting for user to (re-)start a pod to finish file system resize of volume on node.")
        )]);
        c["status"]["allocatedResourceStatuses"] = json!({"storage": "NodeResizePending"});
    });
    w.clock.sleep(real::FS_RESIZE).await;
    set_claim(w, ns, name, uid, |c| {
        c["status"]["capacity"]["storage"] = json!(size);
        if let Some(m) = c["status"].as_object_mut() {
            m.remove("conditions");
            m.remove("allocatedResourceStatuses");
        }
    });
}
