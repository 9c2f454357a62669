//! The resource kinds scripts name (`"StatefulSet"`, `"sts"`, `"pvc"`), mapped to API
//! resources without a discovery round trip.

use kube::api::ApiResource;
use kube::core::GroupVersionKind;

/// `(group, version, kind, plural, namespaced, aliases)`.
const KINDS: &[(&str, &str, &str, &str, bool, &[&str])] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns", "namespace"]),
    ("", "v1", "Pod", "pods", true, &["po", "pod"]),
    ("", "v1", "Secret", "secrets", true, &["secret"]),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm", "configmap"]),
    ("", "v1", "Service", "services", true, &["svc", "service"]),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"]),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"]),
    ("", "v1", "Event", "events", true, &["ev", "event"]),
    ("", "v1", "Node", "nodes", false, &["no", "node"]),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts", "statefulset"]),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy", "deployment"]),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds", "daemonset"]),
    ("batch", "v1", "Job", "jobs", true, &["job"]),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj", "cronjob"]),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc", "storageclass"],
    ),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &["lease"]),
];

/// A known kind.
#[derive(Debug, Clone)]
pub struct Kind {
    pub ar: ApiResource,
    pub namespaced: bool,
}

/// Resolves a kind name as kubectl would (kind, plural or short name; case-insensitive).
pub fn kind(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(_, _, k, p, _, a)| k.eq_ignore_ascii_case(&n) || *p == n || a.contains(&n.as_str()))
        .map(|(g, v, k, p, ns, _)| Kind {
            ar: ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), p),
            namespaced: *ns,
        })
}

/// Every kind name scripts may use (for errors and completion).
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.2).collect()
}
