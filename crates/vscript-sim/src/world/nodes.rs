//! Nodes and their image caches: the cluster has a few Node objects (`sim-node-1`…),
//! every pod is scheduled onto one (`spec.nodeName`, spread like the default scheduler
//! spreads a controller's pods, preferring a node that already has the images), and each
//! node pulls the images it does not have yet. A pull takes the configured time
//! ([`super::SeedOptions::image_pull_secs`], scaled by the clock) and is shared by every
//! pod on that node that waits for the same image, as the kubelet does. The kubelet's
//! events (`Scheduled`, `Pulling`, `Pulled`, `Created`, `Started`) are written as Event
//! objects, so `kubectl describe pod` and `kubectl get events` show what a pod waits for.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::World;
use crate::store::{name_of, now_rfc3339, res};

/// The node every pod runs on when the cluster has no Node objects.
pub const FALLBACK_NODE: &str = "sim-node-1";

/// The name of the `i`-th node (0-based).
pub fn node_name(i: u32) -> String {
    format!("sim-node-{}", i + 1)
}

fn node_ip(i: u32) -> String {
    format!("10.240.0.{}", 4 + i)
}

/// A Ready Node object as `kubectl get nodes` shows it.
pub fn node_object(i: u32) -> Value {
    let name = node_name(i);
    let now = now_rfc3339();
    let cond = |t: &str, status: &str, reason: &str, msg: &str| {
        json!({"type": t, "status": status, "reason": reason, "message": msg,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "Standard_D8s_v5", "topology.kubernetes.io/zone": format!("japaneast-{}", i % 3 + 1),
            "agentpool": "nodepool1"}},
        "spec": {"podCIDR": format!("10.244.{i}.0/24"), "providerID": format!("azure:///subscriptions/sim/virtualMachines/{name}")},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node_ip(i)}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "8", "memory": "32859496Ki", "pods": "110"},
            "allocatable": {"cpu": "7820m", "memory": "28374888Ki", "pods": "110"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4", "containerRuntimeVersion": "containerd://1.7.27",
                         "operatingSystem": "linux", "architecture": "amd64", "osImage": "Ubuntu 22.04.5 LTS"},
        },
    })
}

/// The names of the cluster's nodes, in order (the fallback node when there is none).
pub fn node_names(w: &World) -> Vec<String> {
    let mut names: Vec<String> = w
        .store
        .list(res("Node"), None, None, None)
        .0
        .iter()
        .filter(|n| n["metadata"]["deletionTimestamp"].is_null())
        .map(|n| name_of(n).to_owned())
        .collect();
    names.sort_by_key(|n| (n.len(), n.clone()));
    if names.is_empty() {
        names.push(FALLBACK_NODE.to_owned());
    }
    names
}

/// A node's InternalIP.
pub fn host_ip(w: &World, node: &str) -> String {
    w.store
        .get(res("Node"), "", node)
        .and_then(|n| {
            n["status"]["addresses"]
                .as_array()?
                .iter()
                .find(|a| a["type"] == "InternalIP")
                .and_then(|a| a["address"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| node_ip(0))
}

/// The cache key of an image reference: `docker.io/` and `library/` dropped, `:latest`
/// added, so `nginx`, `library/nginx:latest` and `docker.io/library/nginx:latest` are one.
pub fn image_key(image: &str) -> String {
    let mut s = image.trim();
    for p in ["docker.io/", "index.docker.io/"] {
        if let Some(r) = s.strip_prefix(p) {
            s = r;
        }
    }
    if let Some(r) = s.strip_prefix("library/") {
        s = r;
    }
    let last = s.rsplit('/').next().unwrap_or(s);
    if last.contains(':') || last.contains('@') {
        s.to_owned()
    } else {
        format!("{s}:latest")
    }
}

/// Every node has the sandbox (`pause`) image: the kubelet cannot run a pod without it.
fn always_present(key: &str) -> bool {
    key.rsplit('/').next().is_some_and(|l| l.starts_with("pause:"))
}

/// What a node's image cache says about an image.
#[derive(Debug, Clone, Copy)]
pub struct PullState {
    /// When the image is (or was) on the node.
    pub ready_at: tokio::time::Instant,
    /// The image was already there: no pull.
    pub cached: bool,
}

/// The images each node has pulled (or is pulling), and when each is (was) available.
#[derive(Default)]
pub struct ImageCache {
    pulled: std::sync::Mutex<HashMap<(String, String), tokio::time::Instant>>,
}

impl ImageCache {
    /// Marks images as present on nodes.
    pub fn mark(&self, nodes: &[String], images: &[String]) {
        let now = tokio::time::Instant::now();
        let mut p = self.pulled.lock().unwrap();
        for n in nodes {
            for i in images {
                p.insert((n.clone(), image_key(i)), now);
            }
        }
    }

    /// Starts (or joins) the pull of `image` on `node`, which takes `pull` when the node
    /// has never had it.
    pub fn pull(&self, node: &str, image: &str, pull: std::time::Duration) -> PullState {
        let now = tokio::time::Instant::now();
        let key = image_key(image);
        if always_present(&key) {
            return PullState {
                ready_at: now,
                cached: true,
            };
        }
        let mut p = self.pulled.lock().unwrap();
        match p.get(&(node.to_owned(), key.clone())) {
            Some(at) => PullState {
                ready_at: *at,
                cached: *at <= now,
            },
            None => {
                let at = now + pull;
                p.insert((node.to_owned(), key), at);
                PullState {
                    ready_at: at,
                    cached: false,
                }
            }
        }
    }

    /// Whether `node` has `image` now (pulled, not pulling).
    pub fn has(&self, node: &str, image: &str) -> bool {
        let key = image_key(image);
        always_present(&key)
            || self
                .pulled
                .lock()
                .unwrap()
                .get(&(node.to_owned(), key))
                .is_some_and(|at| *at <= tokio::time::Instant::now())
    }
}

fn live(p: &Value) -> bool {
    p["metadata"]["deletionTimestamp"].is_null() && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Picks a node for a new pod of `owner_uid` (spread first, as the default scheduler's
/// topology spreading does, then image locality, then the least busy node).
pub fn schedule(w: &World, owner_uid: Option<&str>, images: &[String]) -> String {
    let nodes = node_names(w);
    if nodes.len() == 1 {
        return nodes[0].clone();
    }
    let pods = w.store.list(res("Pod"), None, None, None).0;
    let mut best: Option<((usize, usize, usize), String)> = None;
    for n in &nodes {
        let on_node: Vec<&Value> = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"].as_str() == Some(n.as_str()) && live(p))
            .collect();
        let siblings = owner_uid.map_or(0, |u| {
            on_node
                .iter()
                .filter(|p| {
                    p["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|o| o["uid"] == u))
                })
                .count()
        });
        let missing = images.iter().filter(|i| !w.images.has(n, i)).count();
        let score = (siblings, missing, on_node.len());
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, n.clone()));
        }
    }
    best.map_or_else(|| nodes[0].clone(), |(_, n)| n)
}

/// Writes a pod event as the kubelet (or, for `Scheduled`, the scheduler) reports it.
pub fn pod_event(w: &World, pod: &Value, reason: &str, message: String, field_path: Option<&str>, warning: bool) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
    let pname = name_of(pod).to_owned();
    let node = pod["spec"]["nodeName"].as_str().unwrap_or(FALLBACK_NODE).to_owned();
    let (component, instance) = if reason == "Scheduled" {
        ("default-scheduler", "default-scheduler".to_owned())
    } else {
        ("kubelet", node.clone())
    };
    let now = now_rfc3339();
    let suffix = format!("{:016x}", uuid::Uuid::new_v4().as_u128() as u64);
    let mut involved = json!({"apiVersion": "v1", "kind": "Pod", "name": pname, "namespace": ns,
                              "uid": pod["metadata"]["uid"], "resourceVersion": pod["metadata"]["resourceVersion"]});
    if let Some(f) = field_path {
        involved["fieldPath"] = json!(f);
    }
    let mut source = json!({"component": component});
    if component == "kubelet" {
        source["host"] = json!(node);
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pname}.{suffix}"), "namespace": ns},
        "involvedObject": involved, "reason": reason, "message": message, "source": source,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "type": if warning { "Warning" } else { "Normal" },
        "eventTime": null, "reportingComponent": component, "reportingInstance": instance,
    });
    let _ = w.store.create(res("Event"), &ns, ev, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys_normalise_the_docker_hub_defaults() {
        assert_eq!(image_key("nginx"), "nginx:latest");
        assert_eq!(image_key("docker.io/library/nginx:1.27"), "nginx:1.27");
        assert_eq!(image_key("vantiq/vantiq-server:1.31.0"), "vantiq/vantiq-server:1.31.0");
        assert_eq!(image_key("registry.local:5000/vantiq/x"), "registry.local:5000/vantiq/x:latest");
        assert!(always_present(&image_key("registry.k8s.io/pause:3.10")));
    }

    #[tokio::test]
    async fn a_pull_is_per_node_and_shared_while_in_flight() {
        let c = ImageCache::default();
        let d = std::time::Duration::from_millis(80);
        let first = c.pull("n1", "vantiq/vantiq-server:1.31.0", d);
        assert!(!first.cached);
        let joined = c.pull("n1", "docker.io/vantiq/vantiq-server:1.31.0", d);
        assert_eq!(joined.ready_at, first.ready_at, "an in-flight pull is shared");
        assert!(!joined.cached);
        let other = c.pull("n2", "vantiq/vantiq-server:1.31.0", d);
        assert!(!other.cached && other.ready_at >= first.ready_at, "each node pulls for itself");
        assert!(!c.has("n1", "vantiq/vantiq-server:1.31.0"));
        tokio::time::sleep_until(other.ready_at).await;
        assert!(c.has("n1", "vantiq/vantiq-server:1.31.0"));
        assert!(c.pull("n1", "vantiq/vantiq-server:1.31.0", d).cached);
    }
}
