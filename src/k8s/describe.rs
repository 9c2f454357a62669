//! `kubectl describe pod` for the console: a pod's status, containers, conditions and
//! events as aligned text (`k8s::describe`).

use serde_json::Value;

/// `45s`, `5m`, `3h`, `2d` since an RFC 3339 time.
fn age(ts: Option<&str>) -> String {
    let Some(t) = ts.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "?".into();
    };
    let s = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "<none>".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A container's state as describe shows it: `Running (since …)`, `Waiting (CrashLoopBackOff)`,
/// `Terminated (Completed, exit 0)`.
fn state(s: &Value) -> String {
    if let Some(r) = s.get("running") {
        format!("Running (since {})", text(&r["startedAt"]))
    } else if let Some(w) = s.get("waiting") {
        format!("Waiting ({})", w["reason"].as_str().unwrap_or("?"))
    } else if let Some(t) = s.get("terminated") {
        format!(
            "Terminated ({}, exit {})",
            t["reason"].as_str().unwrap_or("?"),
            t["exitCode"].as_i64().map(|c| c.to_string()).unwrap_or_else(|| "?".into())
        )
    } else {
        "<unknown>".into()
    }
}

/// Rows of `(label, value)` aligned at `indent`.
fn rows(out: &mut String, indent: usize, rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    for (k, v) in rows {
        out.push_str(&format!("{:indent$}{:w$} {v}\n", "", format!("{k}:")));
    }
}

/// The describe text of a pod and its events (oldest first).
pub fn pod(p: &Value, events: &[Value]) -> String {
    let md = &p["metadata"];
    let labels = md["labels"]
        .as_object()
        .map(|l| l.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(", "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into());
    let owner = md["ownerReferences"][0]
        .as_object()
        .map(|o| format!("{}/{}", text(&o["kind"]), text(&o["name"])))
        .unwrap_or_else(|| "<none>".into());
    let (ready, status, restarts) = crate::k8s::describe::summary(p);
    let mut out = String::new();
    rows(
        &mut out,
        0,
        &[
            ("Name", text(&md["name"])),
            ("Namespace", text(&md["namespace"])),
            ("Node", text(&p["spec"]["nodeName"])),
            ("Start Time", text(&p["status"]["startTime"])),
            ("Labels", labels),
            ("Status", status),
            ("Ready", ready),
            ("Restarts", restarts.to_string()),
            ("IP", text(&p["status"]["podIP"])),
            ("Controlled By", owner),
        ],
    );
    for (title, spec_key, status_key) in [
        ("Init Containers", "initContainers", "initContainerStatuses"),
        ("Containers", "containers", "containerStatuses"),
    ] {
        let Some(cs) = p["spec"][spec_key].as_array().filter(|a| !a.is_empty()) else {
            continue;
        };
        out.push_str(&format!("{title}:\n"));
        for c in cs {
            let name = c["name"].as_str().unwrap_or("?");
            let st = p["status"][status_key]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["name"] == name))
                .cloned()
                .unwrap_or(Value::Null);
            out.push_str(&format!("  {name}:\n"));
            let mut r = vec![("Image", text(&c["image"])), ("State", state(&st["state"]))];
            if st["lastState"].as_object().is_some_and(|o| !o.is_empty()) {
                r.push(("Last State", state(&st["lastState"])));
            }
            r.push(("Ready", text(&st["ready"])));
            r.push(("Restart Count", st["restartCount"].as_i64().unwrap_or(0).to_string()));
            rows(&mut out, 4, &r);
        }
    }
    if let Some(conds) = p["status"]["conditions"].as_array().filter(|a| !a.is_empty()) {
        out.push_str("Conditions:\n");
        let r: Vec<(&str, String)> = conds
            .iter()
            .map(|c| (c["type"].as_str().unwrap_or("?"), text(&c["status"])))
            .collect();
        rows(&mut out, 2, &r);
    }
    out.push_str("Events:");
    if events.is_empty() {
        out.push_str(" <none>\n");
    } else {
        out.push('\n');
        let mut evs: Vec<&Value> = events.iter().collect();
        let at = |e: &Value| {
            e["lastTimestamp"]
                .as_str()
                .or_else(|| e["eventTime"].as_str())
                .or_else(|| e["metadata"]["creationTimestamp"].as_str())
                .unwrap_or("")
                .to_owned()
        };
        evs.sort_by_key(|e| at(e));
        let mut table = vec![vec![
            "Type".to_owned(),
            "Reason".into(),
            "Age".into(),
            "From".into(),
            "Message".into(),
        ]];
        for e in evs {
            table.push(vec![
                e["type"].as_str().unwrap_or("").to_owned(),
                e["reason"].as_str().unwrap_or("").to_owned(),
                age(Some(&at(e))),
                e["source"]["component"]
                    .as_str()
                    .or_else(|| e["reportingComponent"].as_str())
                    .unwrap_or("")
                    .to_owned(),
                e["message"].as_str().unwrap_or("").trim().to_owned(),
            ]);
        }
        let n = table[0].len();
        let w: Vec<usize> = (0..n)
            .map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &table {
            let mut line = String::from("  ");
            for (i, c) in r.iter().enumerate() {
                if i + 1 == n {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:width$}  ", width = w[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out.trim_end().to_owned()
}

/// `(READY, STATUS, RESTARTS)` of a pod, as `kubectl get pods` shows them.
pub fn summary(v: &Value) -> (String, String, i64) {
    let statuses = v["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let total = v["spec"]["containers"].as_array().map(Vec::len).unwrap_or(statuses.len());
    let ready = statuses.iter().filter(|s| s["ready"].as_bool() == Some(true)).count();
    let restarts: i64 = statuses.iter().map(|s| s["restartCount"].as_i64().unwrap_or(0)).sum();
    let mut status = v["status"]["phase"].as_str().unwrap_or("Unknown").to_owned();
    let inits = v["status"]["initContainerStatuses"].as_array().cloned().unwrap_or_default();
    let init_total = v["spec"]["initContainers"].as_array().map(Vec::len).unwrap_or(inits.len());
    let init_done = inits
        .iter()
        .filter(|s| s["state"]["terminated"]["exitCode"].as_i64() == Some(0))
        .count();
    if let Some(r) = inits
        .iter()
        .find_map(|s| s["state"]["waiting"]["reason"].as_str().filter(|r| *r != "PodInitializing"))
    {
        status = format!("Init:{r}");
    } else if init_total > 0 && init_done < init_total {
        status = format!("Init:{init_done}/{init_total}");
    } else if let Some(r) = statuses.iter().find_map(|s| {
        s["state"]["waiting"]["reason"]
            .as_str()
            .or_else(|| s["state"]["terminated"]["reason"].as_str())
    }) {
        status = r.to_owned();
    }
    if !v["metadata"]["deletionTimestamp"].is_null() {
        status = "Terminating".into();
    }
    (format!("{ready}/{total}"), status, restarts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_is_described_with_its_containers_and_events() {
        let p = json!({
            "metadata": { "name": "vantiq-0", "namespace": "acme", "labels": { "app": "vantiq" },
                          "ownerReferences": [{ "kind": "StatefulSet", "name": "vantiq" }] },
            "spec": { "nodeName": "node-1", "initContainers": [{ "name": "load-model", "image": "vantiq/load-model:1.31.0" }],
                      "containers": [{ "name": "vantiq", "image": "vantiq/vantiq-server:1.31.0" }] },
            "status": { "phase": "Running", "podIP": "10.0.0.5", "startTime": "2026-11-25T10:00:00Z",
                        "initContainerStatuses": [{ "name": "load-model", "state": { "terminated": { "reason": "Completed", "exitCode": 0 } }, "ready": true, "restartCount": 0 }],
                        "containerStatuses": [{ "name": "vantiq", "state": { "waiting": { "reason": "CrashLoopBackOff" } },
                                                "lastState": { "terminated": { "reason": "Error", "exitCode": 1 } }, "ready": false, "restartCount": 4 }],
                        "conditions": [{ "type": "Ready", "status": "False" }] },
        });
        let ev = json!({ "type": "Warning", "reason": "BackOff", "lastTimestamp": "2026-11-25T10:05:00Z",
                         "source": { "component": "kubelet" }, "message": "Back-off restarting failed container vantiq" });
        let d = pod(&p, &[ev]);
        for want in [
            "Name:          vantiq-0",
            "Status:        CrashLoopBackOff",
            "Controlled By: StatefulSet/vantiq",
            "Init Containers:\n  load-model:\n",
            "    State:         Terminated (Completed, exit 0)",
            "    State:         Waiting (CrashLoopBackOff)\n    Last State:    Terminated (Error, exit 1)",
            "    Restart Count: 4",
            "Conditions:\n  Ready: False",
            "Events:\n  Type     Reason   Age",
            "  Warning  BackOff  ",
            "kubelet  Back-off restarting failed container vantiq",
        ] {
            assert!(d.contains(want), "`{want}` in:\n{d}");
        }
        assert!(pod(&p, &[]).ends_with("Events: <none>"));
    }
}
