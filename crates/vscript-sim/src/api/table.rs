//! Server-side printing (`Accept: …;as=Table`, kube-wire §3.1): the columns the real
//! API server prints for each resource, computed from the objects, with
//! `PartialObjectMetadata` rows so that `-A` and `--show-labels` work.

use serde_json::{Value, json};

use crate::store::Resource;

fn col(name: &str, ty: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority})
}

/// A Table of `items` (one row each).
pub fn render(r: &Resource, items: &[Value], rv: u64) -> Value {
    let cols: Vec<Value> = columns(r).iter().map(|(n, t, p)| col(n, t, *p)).collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({"cells": cells(r, o), "object": {
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
           "columnDefinitions": cols, "rows": rows})
}

type Col = (&'static str, &'static str, u8);

fn columns(r: &Resource) -> &'static [Col] {
    const S: &str = "string";
    match r.plural {
        "pods" => &[
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Status", S, 0),
            ("Restarts", S, 0),
            ("Age", S, 0),
            ("IP", S, 1),
            ("Node", S, 1),
            ("Nominated Node", S, 1),
            ("Readiness Gates", S, 1),
        ],
        "statefulsets" => &[
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
        ],
        "persistentvolumeclaims" => &[
            ("Name", S, 0),
            ("Status", S, 0),
            ("Volume", S, 0),
            ("Capacity", S, 0),
            ("Access Modes", S, 0),
            ("StorageClass", S, 0),
            ("VolumeAttributesClass", S, 0),
            ("Age", S, 0),
            ("VolumeMode", S, 1),
        ],
        "persistentvolumes" => &[
            ("Name", S, 0),
            ("Capacity", S, 0),
            ("Access Modes", S, 0),
            ("Reclaim Policy", S, 0),
            ("Status", S, 0),
            ("Claim", S, 0),
            ("StorageClass", S, 0),
            ("VolumeAttributesClass", S, 0),
            ("Reason", S, 0),
            ("Age", S, 0),
            ("VolumeMode", S, 1),
        ],
        "jobs" => &[
            ("Name", S, 0),
            ("Status", S, 0),
            ("Completions", S, 0),
            ("Duration", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        "cronjobs" => &[
            ("Name", S, 0),
            ("Schedule", S, 0),
            ("Timezone", S, 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        "secrets" => &[("Name", S, 0), ("Type", S, 0), ("Data", "string", 0), ("Age", S, 0)],
        "configmaps" => &[("Name", S, 0), ("Data", "string", 0), ("Age", S, 0)],
        "namespaces" => &[("Name", S, 0), ("Status", S, 0), ("Age", S, 0)],
        "services" => &[
            ("Name", S, 0),
            ("Type", S, 0),
            ("Cluster-IP", S, 0),
            ("External-IP", S, 0),
            ("Port(s)", S, 0),
            ("Age", S, 0),
            ("Selector", S, 1),
        ],
        "leases" => &[("Name", S, 0), ("Holder", S, 0), ("Age", S, 0)],
        "events" => &[
            ("Last Seen", S, 0),
            ("Type", S, 0),
            ("Reason", S, 0),
            ("Object", S, 0),
            ("Subobject", S, 1),
            ("Source", S, 1),
            ("Message", S, 0),
            ("First Seen", S, 1),
            ("Count", S, 1),
            ("Name", S, 1),
        ],
        "storageclasses" => &[
            ("Name", S, 0),
            ("Provisioner", S, 0),
            ("ReclaimPolicy", S, 0),
            ("VolumeBindingMode", S, 0),
            ("AllowVolumeExpansion", S, 0),
            ("Age", S, 0),
        ],
        _ => &[("Name", S, 0), ("Age", S, 0)],
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn or_none(v: &Value) -> String {
    match v.as_str() {
        Some(x) if !x.is_empty() => x.to_owned(),
        _ => "<none>".to_owned(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn names(containers: &Value, field: &str) -> String {
    list(containers).iter().map(|c| s(&c[field])).collect::<Vec<_>>().join(",")
}

fn match_labels(selector: &Value) -> String {
    match kube_util::match_labels_selector(&selector["matchLabels"]) {
        none if none.is_empty() => "<none>".to_owned(),
        labels => labels,
    }
}

fn age(ts: &Value) -> String {
    match ts.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => human_duration(chrono::Utc::now().signed_duration_since(t).num_seconds()),
        None => "<unknown>".to_owned(),
    }
}

/// kubectl's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_owned();
    }
    if secs < 0 {
        return "0s".to_owned();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn access_modes(v: &Value) -> String {
    list(v)
        .iter()
        .map(|m| match s(m) {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn cells(r: &Resource, o: &Value) -> Vec<Value> {
    let m = &o["metadata"];
    let name = json!(s(&m["name"]));
    let created = age(&m["creationTimestamp"]);
    let (spec, st) = (&o["spec"], &o["status"]);
    match r.plural {
        "pods" => pod_cells(o),
        "statefulsets" => {
            let tpl = &spec["template"]["spec"]["containers"];
            let ready = format!("{}/{}", int(&st["readyReplicas"]), spec["replicas"].as_i64().unwrap_or(1));
            vec![
                name,
                json!(ready),
                json!(created),
                json!(names(tpl, "name")),
                json!(names(tpl, "image")),
            ]
        }
        "persistentvolumeclaims" => {
            let bound = !s(&spec["volumeName"]).is_empty();
            let phase = if m["deletionTimestamp"].is_string() {
                "Terminating"
            } else {
                s(&st["phase"])
            };
            let capacity = if bound { s(&st["capacity"]["storage"]) } else { "" };
            let modes = if bound { access_modes(&st["accessModes"]) } else { String::new() };
            vec![
                name,
                json!(phase),
                json!(s(&spec["volumeName"])),
                json!(capacity),
                json!(modes),
                json!(s(&spec["storageClassName"])),
                json!(spec["volumeAttributesClassName"].as_str().unwrap_or("<unset>")),
                json!(created),
                json!(s(&spec["volumeMode"])),
            ]
        }
        "persistentvolumes" => {
            let claim = &spec["claimRef"];
            let claim = if claim.is_object() {
                format!("{}/{}", s(&claim["namespace"]), s(&claim["name"]))
            } else {
                String::new()
            };
            let phase = if m["deletionTimestamp"].is_string() {
                "Terminating"
            } else {
                s(&st["phase"])
            };
            vec![
                name,
                json!(s(&spec["capacity"]["storage"])),
                json!(access_modes(&spec["accessModes"])),
                json!(s(&spec["persistentVolumeReclaimPolicy"])),
                json!(phase),
                json!(claim),
                json!(s(&spec["storageClassName"])),
                json!(spec["volumeAttributesClassName"].as_str().unwrap_or("<unset>")),
                json!(s(&st["reason"])),
                json!(created),
                json!(s(&spec["volumeMode"])),
            ]
        }
        "jobs" => {
            let tpl = &spec["template"]["spec"]["containers"];
            let completions = match spec["completions"].as_i64() {
                Some(c) => format!("{}/{c}", int(&st["succeeded"])),
                None => format!("{}/1 of {}", int(&st["succeeded"]), spec["parallelism"].as_i64().unwrap_or(1)),
            };
            vec![
                name,
                json!(job_status(o)),
                json!(completions),
                json!(job_duration(st)),
                json!(created),
                json!(names(tpl, "name")),
                json!(names(tpl, "image")),
                json!(match_labels(&spec["selector"])),
            ]
        }
        "cronjobs" => {
            let tpl = &spec["jobTemplate"]["spec"]["template"]["spec"]["containers"];
            let last = if st["lastScheduleTime"].is_string() {
                age(&st["lastScheduleTime"])
            } else {
                "<none>".to_owned()
            };
            let suspend = match spec["suspend"].as_bool() {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            vec![
                name,
                json!(s(&spec["schedule"])),
                json!(or_none(&spec["timeZone"])),
                json!(suspend),
                json!(list(&st["active"]).len()),
                json!(last),
                json!(created),
                json!(names(tpl, "name")),
                json!(names(tpl, "image")),
                json!(match_labels(&spec["jobTemplate"]["spec"]["selector"])),
            ]
        }
        "secrets" => {
            let n = o["data"].as_object().map_or(0, |d| d.len());
            vec![name, json!(o["type"].as_str().unwrap_or("Opaque")), json!(n), json!(created)]
        }
        "configmaps" => {
            let n = o["data"].as_object().map_or(0, |d| d.len()) + o["binaryData"].as_object().map_or(0, |d| d.len());
            vec![name, json!(n), json!(created)]
        }
        "namespaces" => vec![name, json!(st["phase"].as_str().unwrap_or("Active")), json!(created)],
        "services" => {
            let ports: Vec<String> = list(&spec["ports"])
                .iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{}:{np}/{proto}", int(&p["port"])),
                        None => format!("{}/{proto}", int(&p["port"])),
                    }
                })
                .collect();
            let external = list(&st["loadBalancer"]["ingress"])
                .iter()
                .map(|i| i["ip"].as_str().or(i["hostname"].as_str()).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",");
            let selector = spec["selector"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect::<Vec<_>>().join(","));
            vec![
                name,
                json!(spec["type"].as_str().unwrap_or("ClusterIP")),
                json!(or_none(&spec["clusterIP"])),
                json!(if external.is_empty() { "<none>".to_owned() } else { external }),
                json!(if ports.is_empty() { "<none>".to_owned() } else { ports.join(",") }),
                json!(created),
                json!(selector.filter(|s| !s.is_empty()).unwrap_or_else(|| "<none>".to_owned())),
            ]
        }
        "leases" => vec![name, json!(s(&spec["holderIdentity"])), json!(created)],
        "events" => {
            let last = if o["lastTimestamp"].is_string() {
                &o["lastTimestamp"]
            } else {
                &o["eventTime"]
            };
            let first = if o["firstTimestamp"].is_string() {
                &o["firstTimestamp"]
            } else {
                &o["eventTime"]
            };
            let inv = &o["involvedObject"];
            let object = format!("{}/{}", s(&inv["kind"]).to_ascii_lowercase(), s(&inv["name"]));
            vec![
                json!(age(last)),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(object),
                json!(s(&inv["fieldPath"])),
                json!(s(&o["source"]["component"])),
                json!(s(&o["message"])),
                json!(age(first)),
                json!(o["count"].as_i64().unwrap_or(1)),
                name,
            ]
        }
        "storageclasses" => {
            let default = m["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true";
            let shown = if default {
                format!("{} (default)", s(&m["name"]))
            } else {
                s(&m["name"]).to_owned()
            };
            vec![
                json!(shown),
                json!(s(&o["provisioner"])),
                json!(o["reclaimPolicy"].as_str().unwrap_or("Delete")),
                json!(o["volumeBindingMode"].as_str().unwrap_or("Immediate")),
                json!(o["allowVolumeExpansion"].as_bool().unwrap_or(false)),
                json!(created),
            ]
        }
        _ => vec![name, json!(created)],
    }
}

fn job_status(job: &Value) -> &'static str {
    let conds = list(&job["status"]["conditions"]);
    let has = |t: &str| conds.iter().any(|c| c["type"] == t && c["status"] == "True");
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if job["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    }
}

fn job_duration(st: &Value) -> String {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    match (parse(&st["startTime"]), parse(&st["completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(chrono::Utc::now().signed_duration_since(start).num_seconds()),
        (Some(start), Some(end)) => human_duration(end.signed_duration_since(start).num_seconds()),
    }
}

/// kubectl's pod printer: READY, STATUS (with `Init:` states), RESTARTS.
fn pod_cells(o: &Value) -> Vec<Value> {
    let (spec, st, m) = (&o["spec"], &o["status"], &o["metadata"]);
    let total = list(&spec["containers"]).len();
    let mut restarts = 0;
    let mut ready = 0;
    let mut reason = st["reason"].as_str().or(st["phase"].as_str()).unwrap_or("Pending").to_owned();
    let mut initializing = false;
    let inits = list(&st["initContainerStatuses"]);
    let init_total = list(&spec["initContainers"]).len();
    for (i, c) in inits.iter().enumerate() {
        restarts += int(&c["restartCount"]);
        let term = &c["state"]["terminated"];
        let wait = &c["state"]["waiting"];
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        }
        if term.is_object() {
            reason = match term["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if int(&term["signal"]) != 0 => format!("Init:Signal:{}", int(&term["signal"])),
                None => format!("Init:ExitCode:{}", int(&term["exitCode"])),
            };
        } else if let Some(r) = wait["reason"].as_str().filter(|r| !r.is_empty() && *r != "PodInitializing") {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing && init_total > inits.len() && st["phase"] == "Pending" && st["containerStatuses"].is_null() {
        // Init containers declared but not reported yet: the first one is starting.
        reason = format!("Init:{}/{init_total}", inits.len());
        initializing = true;
    }
    if !initializing {
        restarts = 0;
        let mut running = false;
        for c in list(&st["containerStatuses"]).iter().rev() {
            restarts += int(&c["restartCount"]);
            let term = &c["state"]["terminated"];
            if let Some(r) = c["state"]["waiting"]["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = r.to_owned();
            } else if let Some(r) = term["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = r.to_owned();
            } else if term.is_object() {
                reason = if int(&term["signal"]) != 0 {
                    format!("Signal:{}", int(&term["signal"]))
                } else {
                    format!("ExitCode:{}", int(&term["exitCode"]))
                };
            } else if c["ready"] == true && c["state"]["running"].is_object() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".to_owned();
        }
        if reason == "Succeeded" {
            reason = "Completed".to_owned();
        } else if reason == "Failed" {
            reason = "Error".to_owned();
        }
    }
    if m["deletionTimestamp"].is_string() {
        reason = if st["reason"] == "NodeLost" {
            "Unknown".to_owned()
        } else {
            "Terminating".to_owned()
        };
    }
    let gates = list(&spec["readinessGates"]);
    let gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conds = list(&st["conditions"]);
        let ok = gates
            .iter()
            .filter(|g| conds.iter().any(|c| c["type"] == g["conditionType"] && c["status"] == "True"))
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(s(&m["name"])),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(&m["creationTimestamp"])),
        json!(or_none(&st["podIP"])),
        json!(or_none(&spec["nodeName"])),
        json!(or_none(&st["nominatedNodeName"])),
        json!(gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::res;

    #[test]
    fn human_durations_match_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_duration(86400 * 5), "5d");
        assert_eq!(human_duration(86400 * 30), "30d");
    }

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}, "status": status})
    }

    #[test]
    fn pod_status_column_follows_container_states() {
        let status = |st: Value| pod_cells(&pod(st))[2].as_str().unwrap().to_owned();
        assert_eq!(status(json!({"phase": "Pending"})), "Init:0/1");
        assert_eq!(
            status(json!({"phase": "Pending", "initContainerStatuses": [{"state": {"running": {}}}]})),
            "Init:0/1"
        );
        assert_eq!(
            status(json!({"phase": "Pending", "initContainerStatuses": [{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})),
            "Init:Error"
        );
        let running = json!({"phase": "Running", "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"ready": true, "restartCount": 2, "state": {"running": {}}}, {"ready": false, "restartCount": 1, "state": {"running": {}}}]});
        let c = pod_cells(&pod(running));
        assert_eq!(
            (c[1].as_str(), c[2].as_str(), c[3].as_str()),
            (Some("1/2"), Some("Running"), Some("3"))
        );
        assert_eq!(
            status(json!({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})),
            "Completed"
        );
        assert_eq!(
            status(json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})),
            "Error"
        );
        let mut p = pod(json!({"phase": "Running"}));
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(pod_cells(&p)[2], "Terminating");
    }

    #[test]
    fn table_rows_carry_partial_object_metadata() {
        let sts = json!({"metadata": {"name": "vantiq", "namespace": "demo"}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "vantiq", "image": "v:1"}]}}}, "status": {"readyReplicas": 2}});
        let t = render(res("StatefulSet"), &[sts], 7);
        assert_eq!(t["rows"][0]["cells"], json!(["vantiq", "2/3", "<unknown>", "vantiq", "v:1"]));
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "demo");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }
}
