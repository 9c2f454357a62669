//! The defaulting and validation the real API server applies and that clients rely
//! on: Job selectors and labels (`kubectl logs job/…`, `wait`), StatefulSet defaults
//! (`rollout status`), the StatefulSet spec fields that may not change, and the PVC
//! resize rules (only up, only with an expandable StorageClass).

use kube_util::Quantity;
use serde_json::{Value, json};

use crate::store::{ApiError, Resource};

/// Defaults and admission on create; `uid` is the uid the object will get.
pub fn on_create(r: &Resource, obj: &mut Value, uid: &str) -> Result<(), ApiError> {
    match r.kind {
        "Job" => default_job(obj, Some(uid)),
        "StatefulSet" => default_statefulset(obj),
        "DaemonSet" => default_daemonset(obj),
        _ => {}
    }
    validate(r, obj)
}

/// What an update needs to know beyond the object: the StorageClasses (read before the
/// store's write lock is taken).
#[derive(Default)]
pub struct UpdateContext {
    pub storage_classes: Vec<Value>,
}

/// Defaults and admission on update (PUT or PATCH of the main resource).
pub fn on_update(r: &Resource, old: &Value, new: &mut Value, ctx: &UpdateContext) -> Result<(), ApiError> {
    match r.kind {
        "Job" => {
            default_job(new, None);
            // The selector and the template labels the server added are immutable.
            if new["spec"]["selector"].is_null() {
                new["spec"]["selector"] = old["spec"]["selector"].clone();
            }
        }
        "StatefulSet" => {
            default_statefulset(new);
            check_statefulset_update(r, old, new)?;
        }
        "DaemonSet" => default_daemonset(new),
        "PersistentVolumeClaim" => check_pvc_resize(old, new, ctx)?,
        _ => {}
    }
    validate(r, new)
}

fn validate(r: &Resource, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if let Some(n) = obj["spec"]["replicas"].as_i64()
        && n < 0
        && r.kind == "StatefulSet"
    {
        return Err(invalid(
            r,
            name,
            format!("spec.replicas: Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
    Ok(())
}

/// A 422 with the real server's `Kind.group "name" is invalid: …` message.
pub fn invalid(r: &Resource, name: &str, why: impl std::fmt::Display) -> ApiError {
    let qualified = if r.group.is_empty() {
        r.kind.to_owned()
    } else {
        format!("{}.{}", r.kind, r.group)
    };
    let mut e = ApiError::invalid(r, name, &why);
    e.message = format!("{qualified} \"{name}\" is invalid: {why}");
    e
}

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = v;
    }
}

fn default_job(job: &mut Value, uid: Option<&str>) {
    if !job["spec"].is_object() {
        job["spec"] = json!({});
    }
    let spec = &mut job["spec"];
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "completions", json!(1));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let Some(uid) = uid else { return };
    let manual = spec["manualSelector"].as_bool() == Some(true);
    if !manual {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    }
    let name = job["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let tmeta = &mut job["spec"]["template"]["metadata"];
    if !tmeta["labels"].is_object() {
        tmeta["labels"] = json!({});
    }
    let labels = &mut tmeta["labels"];
    labels["batch.kubernetes.io/controller-uid"] = json!(uid);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["controller-uid"] = json!(uid);
    labels["job-name"] = json!(name);
}

/// DaemonSet defaults `kubectl rollout status ds/…` relies on (`updateStrategy`).
fn default_daemonset(ds: &mut Value) {
    if !ds["spec"].is_object() {
        ds["spec"] = json!({});
    }
    let spec = &mut ds["spec"];
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    );
}

fn default_statefulset(sts: &mut Value) {
    if !sts["spec"].is_object() {
        sts["spec"] = json!({});
    }
    let spec = &mut sts["spec"];
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    );
    let us = &mut spec["updateStrategy"];
    if us["type"].is_null() {
        us["type"] = json!("RollingUpdate");
    }
    if us["type"] == "RollingUpdate" && us["rollingUpdate"].is_null() {
        us["rollingUpdate"] = json!({"partition": 0});
    }
    set_default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
}

const STS_MUTABLE: &[&str] = &[
    "replicas",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "ordinals",
    "revisionHistoryLimit",
];

fn check_statefulset_update(r: &Resource, old: &Value, new: &Value) -> Result<(), ApiError> {
    let strip = |v: &Value| {
        let mut s = v["spec"].clone();
        if let Some(m) = s.as_object_mut() {
            for k in STS_MUTABLE {
                m.remove(*k);
            }
        }
        s
    };
    if strip(old) != strip(new) {
        let name = new["metadata"]["name"].as_str().unwrap_or("");
        return Err(invalid(
            r,
            name,
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
    Ok(())
}

fn check_pvc_resize(old: &Value, new: &Value, ctx: &UpdateContext) -> Result<(), ApiError> {
    let size = |v: &Value| v["spec"]["resources"]["requests"]["storage"].as_str().and_then(Quantity::parse);
    let (Some(before), Some(after)) = (size(old), size(new)) else {
        return Ok(());
    };
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let r = crate::store::res("PersistentVolumeClaim");
    if after < before {
        return Err(invalid(
            r,
            name,
            "spec.resources.requests.storage: Forbidden: field can not be less than previous value",
        ));
    }
    if after > before {
        let class = new["spec"]["storageClassName"].as_str().unwrap_or("");
        let expandable = ctx
            .storage_classes
            .iter()
            .any(|sc| sc["metadata"]["name"] == class && sc["allowVolumeExpansion"].as_bool() == Some(true));
        if !expandable {
            let mut e = ApiError::new(
                403,
                "Forbidden",
                format!(
                    "persistentvolumeclaims \"{name}\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
                ),
            );
            e.kind = Some("persistentvolumeclaims".to_owned());
            e.name = Some(name.to_owned());
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::res;

    #[test]
    fn job_create_gets_selector_labels_and_defaults() {
        let mut job = json!({"metadata": {"name": "m1"}, "spec": {"backoffLimit": 1, "template": {"metadata": {"labels": {"app": "m"}}, "spec": {}}}});
        on_create(res("Job"), &mut job, "u-1").unwrap();
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            (
                labels["app"].as_str(),
                labels["job-name"].as_str(),
                labels["controller-uid"].as_str()
            ),
            (Some("m"), Some("m1"), Some("u-1"))
        );
        assert_eq!(job["spec"]["backoffLimit"], 1);
        assert_eq!(
            (job["spec"]["parallelism"].as_i64(), job["spec"]["completionMode"].as_str()),
            (Some(1), Some("NonIndexed"))
        );
    }

    #[test]
    fn statefulset_spec_changes_outside_the_allowed_fields_are_invalid() {
        let r = res("StatefulSet");
        let mut old = json!({"metadata": {"name": "influxdb"}, "spec": {"serviceName": "x", "volumeClaimTemplates": [{"spec": {"storage": "50Gi"}}]}});
        on_create(r, &mut old, "u").unwrap();
        assert_eq!(old["spec"]["updateStrategy"]["rollingUpdate"]["partition"], 0);
        let mut ok = old.clone();
        ok["spec"]["replicas"] = json!(0);
        ok["spec"]["template"] = json!({"metadata": {"annotations": {"a": "b"}}});
        on_update(r, &old, &mut ok, &UpdateContext::default()).unwrap();
        let mut bad = old.clone();
        bad["spec"]["volumeClaimTemplates"][0]["spec"]["storage"] = json!("55Gi");
        let e = on_update(r, &old, &mut bad, &UpdateContext::default()).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(
            e.message
                .starts_with("StatefulSet.apps \"influxdb\" is invalid: spec: Forbidden: updates to statefulset spec"),
            "{}",
            e.message
        );
    }

    #[test]
    fn pvc_resize_needs_an_expandable_class_and_never_shrinks() {
        let r = res("PersistentVolumeClaim");
        let pvc = |class: &str, size: &str| json!({"metadata": {"name": "data"}, "spec": {"storageClassName": class, "resources": {"requests": {"storage": size}}}});
        let ctx = UpdateContext {
            storage_classes: vec![
                json!({"metadata": {"name": "standard"}, "allowVolumeExpansion": true}),
                json!({"metadata": {"name": "fixed"}}),
            ],
        };
        on_update(r, &pvc("standard", "50Gi"), &mut pvc("standard", "55Gi"), &ctx).unwrap();
        let e = on_update(r, &pvc("fixed", "50Gi"), &mut pvc("fixed", "55Gi"), &ctx).unwrap_err();
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert!(e.message.contains("only dynamically provisioned pvc can be resized"));
        let e = on_update(r, &pvc("standard", "50Gi"), &mut pvc("standard", "40Gi"), &ctx).unwrap_err();
        assert_eq!(
            e.message,
            "PersistentVolumeClaim \"data\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value"
        );
        on_update(r, &pvc("fixed", "50Gi"), &mut pvc("fixed", "51200Mi"), &ctx).unwrap();
    }
}
