//! Pod lifecycles: a pod of a StatefulSet or a DaemonSet is scheduled onto a node, pulls
//! its images there (slowly when that node has never had them, see [`super::nodes`]),
//! runs its init containers in order (restarting a
//! failed one with a growing back-off, as `Init:Error`/`Init:CrashLoopBackOff`), then
//! its containers, and becomes Ready after a readiness delay. Container logs exist only
//! once a container has started. Terminating pods are removed after a grace period.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::clock::real;
use super::{World, nodes, pki, vantiq};
use crate::store::{now_rfc3339, res};

/// A container of a pod spec.
#[derive(Debug, Clone)]
pub struct Ctr {
    pub name: String,
    pub image: String,
}

pub fn containers(spec: &Value, key: &str) -> Vec<Ctr> {
    spec[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| Ctr {
                    name: c["name"].as_str().unwrap_or("").into(),
                    image: c["image"].as_str().unwrap_or("").into(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn digest(s: &str) -> String {
    pki::hex(&Sha256::digest(s.as_bytes()))
}

/// A pod IP for a pod name, stable per name.
pub fn pod_ip(name: &str) -> String {
    let h = Sha256::digest(name.as_bytes());
    format!("10.244.{}.{}", h[0] % 200 + 1, h[1] % 250 + 2)
}

/// A container status in the shape kubectl and kube-rs read.
pub fn cstatus(c: &Ctr, state: Value, ready: bool, restarts: u64) -> Value {
    let started = state.get("running").is_some();
    json!({
        "name": c.name, "image": c.image,
        "imageID": format!("docker.io/{}@sha256:{}", c.image.split(':').next().unwrap_or(""), digest(&c.image)),
        "containerID": format!("containerd://{}", &digest(&format!("{}{}", c.name, Utc::now().timestamp_nanos_opt().unwrap_or(0)))[..64]),
        "ready": ready, "restartCount": restarts, "started": started, "state": state,
    })
}

pub fn waiting(reason: &str) -> Value {
    json!({"waiting": {"reason": reason}})
}
pub fn running() -> Value {
    json!({"running": {"startedAt": now_rfc3339()}})
}
pub fn terminated(code: i32, reason: &str, started: &str) -> Value {
    json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now_rfc3339()}})
}

fn cond(t: &str, ok: bool, reason: Option<&str>) -> Value {
    let mut c = json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now_rfc3339()});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

/// Pod conditions for (initialized, ready).
pub fn conditions(initialized: bool, ready: bool) -> Value {
    let r = (!ready).then_some(if initialized { "ContainersNotReady" } else { "PodInitializing" });
    json!([
        cond("PodReadyToStartContainers", true, None),
        cond("Initialized", initialized, (!initialized).then_some("ContainersNotInitialized")),
        cond("Ready", ready, r),
        cond("ContainersReady", ready, r),
        cond("PodScheduled", true, None),
    ])
}

/// The images of a pod spec (init containers first), without repeats.
pub fn images(spec: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in containers(spec, "initContainers").into_iter().chain(containers(spec, "containers")) {
        if !out.contains(&c.image) {
            out.push(c.image);
        }
    }
    out
}

/// Where a new pod goes: its node and the node's IP.
pub struct Placement {
    pub node: String,
    pub host_ip: String,
}

impl Placement {
    /// Schedules a pod of `owner_uid` with `spec` (see [`nodes::schedule`]).
    pub fn schedule(w: &World, owner_uid: Option<&str>, spec: &Value) -> Placement {
        Self::on(w, nodes::schedule(w, owner_uid, &images(spec)))
    }
    /// A pod bound to `node` (a DaemonSet's).
    pub fn on(w: &World, node: String) -> Placement {
        let host_ip = nodes::host_ip(w, &node);
        Placement { node, host_ip }
    }
}

/// A new pod object (Pending, scheduled on `at`) for `spec`.
pub fn new_pod(ns: &str, name: &str, labels: Value, annotations: Value, mut spec: Value, owner: Value, at: &Placement) -> Value {
    spec["nodeName"] = json!(at.node);
    let inits = containers(&spec, "initContainers");
    let ctrs = containers(&spec, "containers");
    let first = if inits.is_empty() { "ContainerCreating" } else { "PodInitializing" };
    let mut status = json!({
        "phase": "Pending", "conditions": conditions(false, false), "hostIP": at.host_ip,
        "hostIPs": [{"ip": at.host_ip}], "qosClass": "Burstable", "startTime": now_rfc3339(),
        "containerStatuses": ctrs.iter().map(|c| cstatus(c, waiting(first), false, 0)).collect::<Vec<_>>(),
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(
            inits
                .iter()
                .map(|c| cstatus(c, waiting("PodInitializing"), false, 0))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations, "ownerReferences": [owner]},
        "spec": spec, "status": status,
    })
}

/// Changes a pod's status if it is still the pod `uid`; false when it is gone.
pub fn set_status(w: &World, ns: &str, name: &str, uid: &str, f: impl FnOnce(&mut Value)) -> bool {
    w.store
        .write(res("Pod"), ns, name, false, |p| {
            if p["metadata"]["uid"] != uid || !p["metadata"]["deletionTimestamp"].is_null() {
                return Err(crate::store::ApiError::new(409, "Conflict", "pod replaced"));
            }
            f(p);
            Ok(())
        })
        .is_ok()
}

fn set_ctr(p: &mut Value, key: &str, i: usize, st: Value) {
    if let Some(slot) = p["status"][key].get_mut(i) {
        *slot = st;
    }
}

/// Starts the lifecycle task of a freshly created StatefulSet pod.
pub fn spawn(w: &Arc<World>, pod: &Value) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
    let name = crate::store::name_of(pod).to_owned();
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let token = w.register_pod(&uid);
    let w = w.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = lifecycle(&w, &ns, &name, &uid) => {}
        }
    });
}

fn app_of(pod: &Value) -> String {
    pod["metadata"]["labels"]["app"].as_str().unwrap_or("").to_owned()
}

async fn lifecycle(w: &Arc<World>, ns: &str, name: &str, uid: &str) {
    let Some(pod) = w.store.get(res("Pod"), ns, name) else { return };
    let app = app_of(&pod);
    let inits = containers(&pod["spec"], "initContainers");
    let ctrs = containers(&pod["spec"], "containers");
    let node = pod["spec"]["nodeName"].as_str().unwrap_or(nodes::FALLBACK_NODE).to_owned();
    nodes::pod_event(
        w,
        &pod,
        "Scheduled",
        format!("Successfully assigned {ns}/{name} to {node}"),
        None,
        false,
    );
    w.clock.sleep(real::SCHEDULE).await;
    // The kubelet pulls each container's image on this node: one it has is "already
    // present", one it does not is pulled (or the pull under way is joined).
    let begun = tokio::time::Instant::now();
    let mut waits = Vec::new();
    // A later container of this pod with an image an earlier one pulls finds it present.
    let mut repeats = Vec::new();
    for (c, path) in inits
        .iter()
        .map(|c| (c, format!("spec.initContainers{{{}}}", c.name)))
        .chain(ctrs.iter().map(|c| (c, format!("spec.containers{{{}}}", c.name))))
    {
        if waits.iter().any(|(i, _, _)| *i == c.image) {
            repeats.push((c.image.clone(), path));
            continue;
        }
        let st = w.pull(&node, &c.image);
        if st.cached {
            let msg = format!("Container image \"{}\" already present on machine", c.image);
            nodes::pod_event(w, &pod, "Pulled", msg, Some(&path), false);
        } else {
            let msg = format!("Pulling image \"{}\"", c.image);
            nodes::pod_event(w, &pod, "Pulling", msg, Some(&path), false);
            waits.push((c.image.clone(), path, st.ready_at));
        }
    }
    w.clock.sleep(real::PULL_CACHED).await;
    waits.sort_by_key(|(_, _, at)| *at);
    for (image, path, at) in waits {
        tokio::time::sleep_until(at).await;
        let took = begun.elapsed().as_secs_f64();
        let msg = format!(
            "Successfully pulled image \"{image}\" in {took:.3}s ({took:.3}s including waiting). Image size: {} bytes.",
            image_size(&image)
        );
        nodes::pod_event(w, &pod, "Pulled", msg, Some(&path), false);
    }
    for (image, path) in repeats {
        let msg = format!("Container image \"{image}\" already present on machine");
        nodes::pod_event(w, &pod, "Pulled", msg, Some(&path), false);
    }
    w.store.drop_logs(ns, name);
    for (i, c) in inits.iter().enumerate() {
        let mut restarts = 0u64;
        loop {
            let started = now_rfc3339();
            if !set_status(w, ns, name, uid, |p| {
                set_ctr(p, "initContainerStatuses", i, cstatus(c, running(), false, restarts))
            }) {
                return;
            }
            started_events(w, &pod, &format!("spec.initContainers{{{}}}", c.name), &c.name);
            let res = run_init(w, ns, name, &app, c).await;
            w.store.close_log(ns, name, &c.name);
            match res {
                Ok(()) => {
                    set_status(w, ns, name, uid, |p| {
                        set_ctr(
                            p,
                            "initContainerStatuses",
                            i,
                            cstatus(c, terminated(0, "Completed", &started), false, restarts),
                        )
                    });
                    break;
                }
                Err(code) => {
                    set_status(w, ns, name, uid, |p| {
                        set_ctr(
                            p,
                            "initContainerStatuses",
                            i,
                            cstatus(c, terminated(code, "Error", &started), false, restarts),
                        )
                    });
                    let backoff = real::BACKOFF * 2f64.powi(restarts.min(5) as i32);
                    restarts += 1;
                    w.clock.sleep(backoff).await;
                    set_status(w, ns, name, uid, |p| {
                        set_ctr(
                            p,
                            "initContainerStatuses",
                            i,
                            cstatus(c, waiting("CrashLoopBackOff"), false, restarts),
                        )
                    });
                    w.clock.sleep(real::START).await;
                    w.store.drop_logs(ns, name);
                }
            }
        }
    }
    // Containers.
    let mut restarts = 0u64;
    loop {
        w.clock.sleep(real::START).await;
        let ok = set_status(w, ns, name, uid, |p| {
            p["status"]["phase"] = json!("Running");
            p["status"]["podIP"] = json!(pod_ip(name));
            p["status"]["podIPs"] = json!([{"ip": pod_ip(name)}]);
            p["status"]["conditions"] = conditions(true, false);
            for (i, c) in ctrs.iter().enumerate() {
                set_ctr(p, "containerStatuses", i, cstatus(c, running(), false, restarts));
            }
        });
        if !ok {
            return;
        }
        for c in &ctrs {
            started_events(w, &pod, &format!("spec.containers{{{}}}", c.name), &c.name);
            w.store.append_log(ns, name, &c.name, start_line(&app, c));
        }
        if app == "vantiq" && ns == w.ns {
            match vantiq::license_check(w) {
                Ok(Some(c)) => {
                    let line = format!(
                        "{} INFO  License verified: issued to {}, expires {}",
                        ts(),
                        c.sub,
                        c.expires_at().format("%Y-%m-%d")
                    );
                    w.store.append_log(ns, name, "vantiq", line);
                }
                Ok(None) => {
                    let line = format!("{} INFO  License loaded (not in the simulator's format: expiry unknown)", ts());
                    w.store.append_log(ns, name, "vantiq", line);
                }
                Err(why) => {
                    w.store
                        .append_log(ns, name, "vantiq", format!("{} FATAL Cannot start: invalid license: {why}", ts()));
                    let started = now_rfc3339();
                    set_status(w, ns, name, uid, |p| {
                        p["status"]["conditions"] = conditions(true, false);
                        set_ctr(
                            p,
                            "containerStatuses",
                            0,
                            cstatus(&ctrs[0], terminated(1, "Error", &started), false, restarts),
                        );
                    });
                    let backoff = real::BACKOFF * 2f64.powi(restarts.min(5) as i32);
                    restarts += 1;
                    w.clock.sleep(backoff).await;
                    continue;
                }
            }
        }
        let extra = w.faults().readiness.get(&app).copied().unwrap_or(0.0);
        let ready_after = if app == "vantiq" { real::READY_VANTIQ } else { real::READY_OTHER };
        w.clock.sleep(ready_after + extra).await;
        let ok = set_status(w, ns, name, uid, |p| {
            p["status"]["conditions"] = conditions(true, true);
            for (i, c) in ctrs.iter().enumerate() {
                if let Some(s) = p["status"]["containerStatuses"].get_mut(i) {
                    s["ready"] = json!(true);
                    let _ = c;
                }
            }
        });
        if !ok {
            return;
        }
        break;
    }
    if app == "vantiq" && ns == w.ns {
        w.store.append_log(
            ns,
            name,
            "vantiq",
            format!("{} INFO  Vantiq server is ready to accept requests", ts()),
        );
        loop {
            w.db.lock().unwrap().write();
            w.clock.sleep(real::APP_WRITE_PERIOD).await;
        }
    }
}

fn ts() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn started_events(w: &World, pod: &Value, path: &str, ctr: &str) {
    nodes::pod_event(w, pod, "Created", format!("Created container: {ctr}"), Some(path), false);
    nodes::pod_event(w, pod, "Started", format!("Started container {ctr}"), Some(path), false);
}

/// A plausible, stable size for an image (the Vantiq server is the big one).
fn image_size(image: &str) -> u64 {
    let h = Sha256::digest(image.as_bytes());
    let base = if image.contains("vantiq-server") {
        1_100_000_000
    } else {
        90_000_000
    };
    base + u64::from(h[0]) * 1_000_000 + u64::from(h[1]) * 1000
}

fn start_line(app: &str, c: &Ctr) -> String {
    match app {
        "vantiq" => format!("{} INFO  Starting Vantiq server {}", ts(), vantiq::image_tag(&c.image)),
        "mongodb" => format!("{} I  NETWORK  [listener] Listening on 0.0.0.0:27017 ({})", ts(), c.image),
        _ => format!("{} INFO  {} started ({})", ts(), c.name, c.image),
    }
}

async fn run_init(w: &Arc<World>, ns: &str, name: &str, app: &str, c: &Ctr) -> Result<(), i32> {
    if app == "vantiq" && c.name == "load-model" && ns == w.ns {
        return vantiq::load_model(w, name, &c.image).await;
    }
    w.store
        .append_log(ns, name, &c.name, format!("{} init container {} done", ts(), c.name));
    w.clock.sleep(real::START).await;
    Ok(())
}

/// Starts a graceful deletion: the pod is marked terminating and not ready at once and
/// removed after its grace period.
pub fn terminate(w: &Arc<World>, ns: &str, name: &str) {
    let Some(p) = w.store.get(res("Pod"), ns, name) else { return };
    if !p["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let uid = p["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let grace = if app_of(&p) == "vantiq" {
        real::TERMINATE_VANTIQ
    } else {
        real::TERMINATE_OTHER
    };
    let _ = w.store.write(res("Pod"), ns, name, false, |p| {
        p["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        p["metadata"]["deletionGracePeriodSeconds"] = json!(grace as i64);
        p["status"]["conditions"] = conditions(p["status"]["phase"] == "Running", false);
        if let Some(a) = p["status"]["containerStatuses"].as_array_mut() {
            for s in a {
                s["ready"] = json!(false);
            }
        }
        Ok(())
    });
    let (w, ns, name) = (w.clone(), ns.to_owned(), name.to_owned());
    tokio::spawn(async move {
        w.clock.sleep(grace).await;
        if w.store
            .get(res("Pod"), &ns, &name)
            .is_some_and(|p| p["metadata"]["uid"] == uid.as_str())
        {
            let _ = w.store.delete(res("Pod"), &ns, &name, false);
        }
    });
}

/// Is the pod Running and Ready and not terminating?
pub fn healthy(p: &Value) -> bool {
    p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["phase"] == "Running"
        && p["status"]["conditions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

pub fn terminating(p: &Value) -> bool {
    !p["metadata"]["deletionTimestamp"].is_null()
}
