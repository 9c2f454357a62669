//! Nodes, image pulls and DaemonSets: pods are spread over the nodes, a node pulls an
//! image it does not have (taking the configured pull time, shared by the pods waiting
//! for it, reported as the kubelet does), and a DaemonSet whose pods use the new image
//! warms every node's cache before the downtime so the vantiq pods start at once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::world_support::T;
use vscript_sim::SeedOptions;
use vscript_sim::store::res;

/// The events of the current pod `pod` (not of earlier pods of the same name).
fn events_of(t: &T, ns: &str, pod: &str) -> Vec<(String, String)> {
    let uid = t.get("Pod", ns, pod).unwrap()["metadata"]["uid"].as_str().unwrap().to_owned();
    t.store()
        .list(res("Event"), Some(ns), None, Some(&format!("involvedObject.uid={uid}")))
        .0
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_owned(),
                e["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn node_of(t: &T, ns: &str, pod: &str) -> String {
    t.get("Pod", ns, pod).unwrap()["spec"]["nodeName"].as_str().unwrap().to_owned()
}

/// Waits for a pod (a new one, not `old_uid`) to exist, then to run its containers;
/// returns how long that took.
fn time_to_running(t: &T, ns: &str, pod: &str, old_uid: &Value, secs: u64) -> Duration {
    t.wait_for(&format!("{pod} recreated"), secs, |t| {
        t.get("Pod", ns, pod).is_some_and(|p| p["metadata"]["uid"] != *old_uid)
    });
    let created = Instant::now();
    t.wait_for(&format!("{pod} running"), secs, |t| {
        t.get("Pod", ns, pod).is_some_and(|p| p["status"]["phase"] == "Running")
    });
    created.elapsed()
}

#[test]
fn pods_spread_over_the_nodes_and_kubectl_lists_them() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let out = t.k(&["get", "nodes"]);
    for n in ["sim-node-1", "sim-node-2", "sim-node-3"] {
        assert!(out.contains(n), "{out}");
    }
    let mut nodes: Vec<String> = (0..3).map(|i| node_of(&t, &ns, &format!("vantiq-{i}"))).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one vantiq pod per node: {nodes:?}");
    let wide = t.k(&["get", "pods", "-n", &ns, "-o", "wide"]);
    assert!(wide.contains("sim-node-2"), "{wide}");
    let p = t.get("Pod", &ns, "vantiq-0").unwrap();
    let n = t.get("Node", "", p["spec"]["nodeName"].as_str().unwrap()).unwrap();
    assert_eq!(p["status"]["hostIP"], n["status"]["addresses"][0]["address"]);
}

#[test]
fn a_new_image_takes_the_pull_time_on_a_cold_node_and_none_on_a_warm_one() {
    let t = T::start_with(|o| {
        o.speed = 200.0;
        o.seed = SeedOptions {
            nodes: 2,
            vantiq_replicas: 1,
            metrics_collector: false,
            vision_analytics: false,
            image_pull_secs: 500.0, // 2.5 s at speed 200
            ..SeedOptions::default()
        };
    });
    let ns = t.ns();
    // A new (patch) image: vantiq-0 is replaced on a node that has never pulled it.
    let old = t.get("Pod", &ns, "vantiq-0").unwrap()["metadata"]["uid"].clone();
    let image = "vantiq/vantiq-server:1.30.11";
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.30.11\n  # Number",
    );
    t.gradle("deployVantiq");
    t.wait_for("vantiq-0 replaced", 20, |t| {
        t.get("Pod", &ns, "vantiq-0").is_some_and(|p| p["metadata"]["uid"] != old)
    });
    let created = Instant::now();
    let out = t.k(&["get", "pod", "-n", &ns, "vantiq-0"]);
    assert!(out.contains("Init:0/1"), "waiting for the pull: {out}");
    t.wait_for("vantiq-0 running", 30, |t| {
        t.get("Pod", &ns, "vantiq-0").is_some_and(|p| p["status"]["phase"] == "Running")
    });
    let cold = created.elapsed();
    assert!(cold >= Duration::from_millis(2300), "a cold node pulls for 2.5 s: {cold:?}");
    let ev = events_of(&t, &ns, "vantiq-0");
    assert!(
        ev.iter().any(|(r, m)| r == "Pulling" && m == &format!("Pulling image \"{image}\"")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(r, m)| r == "Pulled" && m.starts_with(&format!("Successfully pulled image \"{image}\" in "))),
        "{ev:?}"
    );
    let events = t.k(&["get", "events", "-n", &ns, "--field-selector", "involvedObject.name=vantiq-0"]);
    assert!(events.contains("Pulling") && events.contains("Scheduled"), "{events}");
    let warm_node = node_of(&t, &ns, "vantiq-0");

    // The pod replaced again: the scheduler prefers the node that has the image, which
    // starts it without a pull.
    let old = t.get("Pod", &ns, "vantiq-0").unwrap()["metadata"]["uid"].clone();
    t.wait_for("vantiq-0 ready", 20, |t| t.ready(&ns, "vantiq") == 1);
    t.k(&["delete", "pod", "-n", &ns, "vantiq-0", "--wait=false"]);
    let warm = time_to_running(&t, &ns, "vantiq-0", &old, 30);
    assert_eq!(node_of(&t, &ns, "vantiq-0"), warm_node);
    assert!(warm < Duration::from_millis(1200), "a warm node does not pull: {warm:?}");
    let ev = events_of(&t, &ns, "vantiq-0");
    assert!(
        ev.iter()
            .any(|(r, m)| r == "Pulled" && m == &format!("Container image \"{image}\" already present on machine")),
        "{ev:?}"
    );
    assert!(!ev.iter().any(|(r, _)| r == "Pulling"), "{ev:?}");
}

#[test]
fn pods_on_one_node_share_the_pull_under_way() {
    let t = T::start_with(|o| {
        o.speed = 200.0;
        o.seed = SeedOptions {
            nodes: 1,
            metrics_collector: false,
            vision_analytics: false,
            image_pull_secs: 400.0, // 2 s
            ..SeedOptions::default()
        };
    });
    let ns = t.ns();
    t.k(&["scale", "sts", "-n", &ns, "vantiq", "--replicas=0"]);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.30.11\n  # Number",
    );
    let started = Instant::now();
    t.gradle("deployVantiq"); // three pods at once, all on the one node
    t.wait_for("three vantiq pods running", 30, |t| {
        t.pods(&ns, "vantiq").iter().filter(|p| p["status"]["phase"] == "Running").count() == 3
    });
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_millis(3900),
        "one shared 2 s pull, not three: {took:?}"
    );
    for i in 0..3 {
        let ev = events_of(&t, &ns, &format!("vantiq-{i}"));
        assert!(ev.iter().any(|(r, _)| r == "Pulling"), "vantiq-{i} waited for the pull: {ev:?}");
    }
}

const PREPULL: &str = r#"{
  "apiVersion": "apps/v1", "kind": "DaemonSet",
  "metadata": {"name": "vantiq-prepull", "labels": {"app": "vantiq-prepull"}},
  "spec": {
    "selector": {"matchLabels": {"app": "vantiq-prepull"}},
    "template": {
      "metadata": {"labels": {"app": "vantiq-prepull"}},
      "spec": {
        "initContainers": [{"name": "pull", "image": "IMAGE", "command": ["/bin/true"]}],
        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]
      }
    }
  }
}"#;

#[test]
fn a_daemonset_prepull_warms_every_node_and_its_deletion_removes_its_pods() {
    let t = T::start_with(|o| {
        o.speed = 200.0;
        o.seed = SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            image_pull_secs: 400.0, // 2 s
            ..SeedOptions::default()
        };
    });
    let ns = t.ns();
    let image = "vantiq/vantiq-server:1.30.11";
    let file = t.sim().dir.join("prepull.json");
    std::fs::write(&file, PREPULL.replace("IMAGE", image)).unwrap();
    let started = Instant::now();
    let out = t.k(&["create", "-n", &ns, "--validate=false", "-f", file.to_str().unwrap()]);
    assert!(out.contains("daemonset.apps/vantiq-prepull created"), "{out}");
    let out = t.k(&["get", "ds", "-n", &ns]);
    assert!(out.contains("vantiq-prepull"), "{out}");
    let out = t.k(&["rollout", "status", "ds/vantiq-prepull", "-n", &ns, "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "the nodes pulled: {:?}",
        started.elapsed()
    );
    let pods = t.pods(&ns, "vantiq-prepull");
    let mut nodes: Vec<&str> = pods.iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    nodes.sort();
    assert_eq!(nodes, ["sim-node-1", "sim-node-2", "sim-node-3"]);
    let ds = t.get("DaemonSet", &ns, "vantiq-prepull").unwrap();
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3);
    assert_eq!(ds["status"]["numberReady"], 3);

    // Deleting the DaemonSet removes its pods.
    t.k(&["delete", "ds", "-n", &ns, "vantiq-prepull"]);
    t.wait_for("prepull pods gone", 20, |t| t.pods(&ns, "vantiq-prepull").is_empty());
    assert!(t.get("DaemonSet", &ns, "vantiq-prepull").is_none());

    // The upgrade's rolling update now starts every vantiq pod without a pull: three pods
    // replaced one after the other in well under one pull time.
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.30.11\n  # Number",
    );
    let started = Instant::now();
    t.gradle("deployVantiq");
    let out = t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert!(out.contains("3 new pods have been updated"), "{out}");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1900), "no pull delay after the pre-pull: {took:?}");
    for i in 0..3 {
        let ev = events_of(&t, &ns, &format!("vantiq-{i}"));
        assert!(
            ev.iter().any(|(r, m)| r == "Pulled" && m.contains("already present on machine")) && !ev.iter().any(|(r, _)| r == "Pulling"),
            "vantiq-{i}: {ev:?}"
        );
    }
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn a_daemonset_pod_without_its_image_shows_container_creating() {
    let t = T::start_with(|o| {
        o.speed = 200.0;
        o.seed = SeedOptions {
            nodes: 2,
            image_pull_secs: 600.0, // 3 s
            ..SeedOptions::default()
        };
    });
    let ns = t.ns();
    let spec = PREPULL
        .replace(
            r#""initContainers": [{"name": "pull", "image": "IMAGE", "command": ["/bin/true"]}],"#,
            "",
        )
        .replace("registry.k8s.io/pause:3.10", "vantiq/vantiq-server:1.31.0");
    let file = t.sim().dir.join("ds.json");
    std::fs::write(&file, spec).unwrap();
    t.k(&["create", "-n", &ns, "--validate=false", "-f", file.to_str().unwrap()]);
    t.wait_for("two pods", 10, |t| t.pods(&ns, "vantiq-prepull").len() == 2);
    std::thread::sleep(Duration::from_millis(300));
    let out = t.k(&["get", "pods", "-n", &ns, "-l", "app=vantiq-prepull"]);
    assert_eq!(out.matches("ContainerCreating").count(), 2, "{out}");
    let ds = t.get("DaemonSet", &ns, "vantiq-prepull").unwrap();
    assert_eq!(ds["status"]["numberUnavailable"], 2, "{ds:#}");
}
