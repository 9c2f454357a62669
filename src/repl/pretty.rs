//! How the console shows a result: strings as they are, flat maps as aligned `key  value`
//! lines, lists of maps as tables (Kubernetes objects the way `kubectl get` lists them),
//! anything nested as YAML. Never Rhai's debug form.

use rhai::Dynamic;
use serde_json::{Map, Value};

/// The text for a result, or `None` for `()` (nothing to show).
pub fn render(v: &Dynamic) -> Option<String> {
    if v.is_unit() {
        return None;
    }
    if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
        // A log read ends with a newline; the console adds its own.
        return Some(s.strip_suffix('\n').unwrap_or(&s).to_owned());
    }
    if let Some(s) = v.read_lock::<crate::engine::Secret>() {
        return Some(s.label());
    }
    render_json(&crate::engine::secret::to_json(v))
}

/// The text for a JSON-like value (see [`render`]).
pub fn render_json(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        Value::Array(a) => {
            if let Some(t) = kube_table(a) {
                return Some(t);
            }
            if let Some(t) = map_table(a) {
                return Some(t);
            }
            Some(yaml(v))
        }
        Value::Object(o) => {
            if o.values().all(|x| is_scalar(x) && !x.as_str().is_some_and(|s| s.contains('\n'))) {
                let w = o.keys().map(|k| k.chars().count()).max().unwrap_or(0);
                let lines: Vec<String> = o
                    .iter()
                    .map(|(k, x)| format!("{k:w$}  {}", plain(x)).trim_end().to_owned())
                    .collect();
                return Some(lines.join("\n"));
            }
            if is_kube_object(o) {
                let mut o = o.clone();
                if let Some(Value::Object(m)) = o.get_mut("metadata") {
                    m.remove("managedFields");
                }
                return Some(yaml(&Value::Object(o)));
            }
            Some(yaml(v))
        }
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn is_kube_object(o: &Map<String, Value>) -> bool {
    o.get("metadata").and_then(|m| m.get("name")).is_some_and(Value::is_string)
}

/// A scalar as it reads best: strings without quotes, `()` as nothing.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value in one table cell: scalars plain, nested values compact, one line, bounded.
fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => flow(v),
        other => other.to_string(),
    };
    let s = match s.split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => s,
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// YAML flow style on one line: `{a: 1, b: [x, y]}`.
fn flow(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter().map(|(k, x)| format!("{k}: {}", flow(x))).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => quote(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The terminal's width when stdout is a terminal (tables are fitted to it), else none.
fn terminal_width() -> Option<u16> {
    console::Term::stdout().size_checked().map(|(_, cols)| cols)
}

/// Columns two spaces apart, like kubectl's; the last column is not padded. Fitted to the
/// terminal's width when stdout is one: the widest columns wrap, the first (the name) never.
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    table_fitted(headers, rows, terminal_width())
}

/// [`table`] for a given width (`None`: as wide as it takes).
pub fn table_fitted(headers: &[String], rows: &[Vec<String>], width: Option<u16>) -> String {
    use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(headers.to_vec());
    for r in rows {
        t.add_row(r.clone());
    }
    let n = headers.len();
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_padding((0, if i + 1 == n { 0 } else { 2 }));
        if i == 0 {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    t.lines().map(|l| l.trim_end().to_owned()).collect::<Vec<_>>().join("\n")
}

/// Where a column goes in a table of maps: kubectl's order (`NAME READY STATUS RESTARTS`,
/// the rest, `AGE` last).
fn column_rank(key: &str) -> (u8, String) {
    let rank = match key {
        "name" => 0,
        "kind" => 1,
        "ready" => 2,
        "status" => 3,
        "restarts" => 4,
        "age" => 9,
        _ => 5,
    };
    (rank, key.to_owned())
}

/// A list of maps as a table: `name` first, then the other keys.
fn map_table(a: &[Value]) -> Option<String> {
    let objs: Vec<&Map<String, Value>> = a.iter().map(Value::as_object).collect::<Option<_>>()?;
    let mut keys: Vec<String> = Vec::new();
    for o in &objs {
        for k in o.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    // Only flat-ish maps make a readable table.
    let nested = objs.iter().flat_map(|o| o.values()).filter(|v| !is_scalar(v)).count();
    if keys.len() > 8 || nested > objs.len() {
        return None;
    }
    keys.sort_by_key(|k| column_rank(k));
    let rows: Vec<Vec<String>> = objs
        .iter()
        .map(|o| keys.iter().map(|k| o.get(k).map(cell).unwrap_or_default()).collect())
        .collect();
    Some(table(&keys, &rows))
}

/// Kubernetes objects the way `kubectl get` lists them.
fn kube_table(a: &[Value]) -> Option<String> {
    let objs: Vec<&Map<String, Value>> = a.iter().map(Value::as_object).collect::<Option<_>>()?;
    if !objs.iter().all(|o| is_kube_object(o)) {
        return None;
    }
    let shape = |o: &Map<String, Value>| -> &'static str {
        let v = Value::Object(o.clone());
        match o.get("kind").and_then(Value::as_str) {
            Some("Pod") => "pod",
            Some("StatefulSet" | "Deployment" | "ReplicaSet") => "workload",
            Some("Job") => "job",
            Some(_) => "other",
            None if !v["spec"]["containers"].is_null() => "pod",
            None if !v["spec"]["template"].is_null() && !v["spec"]["replicas"].is_null() => "workload",
            None if !v["spec"]["template"].is_null() && (!v["spec"]["completions"].is_null() || !v["spec"]["backoffLimit"].is_null()) => {
                "job"
            }
            None => "other",
        }
    };
    let first = shape(objs[0]);
    let kind = if objs.iter().all(|o| shape(o) == first) { first } else { "other" };
    let name = |v: &Value| v["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let age = |v: &Value| age(v["metadata"]["creationTimestamp"].as_str());
    let (headers, rows): (Vec<&str>, Vec<Vec<String>>) = match kind {
        "pod" => (
            vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            objs.iter()
                .map(|o| {
                    let v = Value::Object((*o).clone());
                    let (ready, status, restarts) = pod_summary(&v);
                    vec![name(&v), ready, status, restarts.to_string(), age(&v)]
                })
                .collect(),
        ),
        "workload" => (
            vec!["NAME", "READY", "AGE"],
            objs.iter()
                .map(|o| {
                    let v = Value::Object((*o).clone());
                    let ready = format!(
                        "{}/{}",
                        v["status"]["readyReplicas"].as_i64().unwrap_or(0),
                        v["spec"]["replicas"].as_i64().unwrap_or(1)
                    );
                    vec![name(&v), ready, age(&v)]
                })
                .collect(),
        ),
        "job" => (
            vec!["NAME", "STATUS", "COMPLETIONS", "AGE"],
            objs.iter()
                .map(|o| {
                    let v = Value::Object((*o).clone());
                    vec![name(&v), job_status(&v), completions(&v), age(&v)]
                })
                .collect(),
        ),
        _ => {
            let with_kind = objs.iter().any(|o| o.contains_key("kind"));
            let mut h = vec!["NAME"];
            if with_kind {
                h.insert(0, "KIND");
            }
            h.push("AGE");
            (
                h,
                objs.iter()
                    .map(|o| {
                        let v = Value::Object((*o).clone());
                        let mut r = vec![name(&v), age(&v)];
                        if with_kind {
                            r.insert(0, v["kind"].as_str().unwrap_or("").to_owned());
                        }
                        r
                    })
                    .collect(),
            )
        }
    };
    let headers: Vec<String> = headers.into_iter().map(str::to_owned).collect();
    Some(table(&headers, &rows))
}

/// `(READY, STATUS, RESTARTS)` of a pod, as kubectl shows them.
pub fn pod_summary(v: &Value) -> (String, String, i64) {
    crate::k8s::describe::summary(v)
}

fn job_status(v: &Value) -> String {
    let conds = v["status"]["conditions"].as_array().cloned().unwrap_or_default();
    for c in &conds {
        if c["status"].as_str() == Some("True")
            && let Some(t) = c["type"].as_str().filter(|t| matches!(*t, "Complete" | "Failed"))
        {
            return t.to_owned();
        }
    }
    if v["status"]["active"].as_i64().unwrap_or(0) > 0 {
        "Running".into()
    } else {
        "Pending".into()
    }
}

fn completions(v: &Value) -> String {
    format!(
        "{}/{}",
        v["status"]["succeeded"].as_i64().unwrap_or(0),
        v["spec"]["completions"].as_i64().unwrap_or(1)
    )
}

/// `45s`, `5m`, `3h`, `2d` since an RFC 3339 time, like kubectl's AGE.
pub fn age(ts: Option<&str>) -> String {
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

/// A string as a YAML scalar: plain when unambiguous, double-quoted otherwise.
fn quote(s: &str) -> String {
    let special = s.is_empty()
        || s.trim() != s
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
        ])
        || matches!(s, "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off")
        || s.parse::<f64>().is_ok()
        || s.chars().any(char::is_control);
    if special {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_owned()
    }
}

/// Block-style YAML, two-space indentation, lists at their key's indentation (like kubectl).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(o) if !o.is_empty() => yaml_map(o, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        other => out.push_str(&scalar(other)),
    }
    out.trim_end().to_owned()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Null => "null".into(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

fn is_block_string(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains('\n'))
}

fn block_string(s: &str, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    out.push_str(if s.ends_with('\n') { "|\n" } else { "|-\n" });
    for l in s.lines() {
        if l.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{pad}{l}\n"));
        }
    }
}

fn yaml_map(o: &Map<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let mut first = true;
    for (k, v) in o {
        // The first key of a list item continues the `- ` line.
        let lead = if first && out.ends_with("- ") { String::new() } else { pad.clone() };
        first = false;
        let key = quote(k);
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str(&format!("{lead}{key}:\n"));
                yaml_map(m, indent + 2, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push_str(&format!("{lead}{key}:\n"));
                yaml_seq(a, indent, out);
            }
            s if is_block_string(s) => {
                out.push_str(&format!("{lead}{key}: "));
                block_string(s.as_str().unwrap_or(""), indent + 2, out);
            }
            s => out.push_str(&format!("{lead}{key}: {}\n", scalar(s))),
        }
    }
}

fn yaml_seq(a: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for v in a {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str(&format!("{pad}- "));
                yaml_map(m, indent + 2, out);
            }
            Value::Array(x) if !x.is_empty() => {
                out.push_str(&format!("{pad}-\n"));
                yaml_seq(x, indent + 2, out);
            }
            s if is_block_string(s) => {
                out.push_str(&format!("{pad}- "));
                block_string(s.as_str().unwrap_or(""), indent + 2, out);
            }
            s => out.push_str(&format!("{pad}- {}\n", scalar(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(v: Value) -> String {
        render_json(&v).unwrap_or_default()
    }

    #[test]
    fn strings_print_without_quotes_and_unit_prints_nothing() {
        assert_eq!(render(&Dynamic::from("vantiq-0 is ready")).as_deref(), Some("vantiq-0 is ready"));
        assert_eq!(render(&Dynamic::UNIT), None);
        assert_eq!(render(&Dynamic::from(3_i64)).as_deref(), Some("3"));
    }

    #[test]
    fn flat_maps_print_as_aligned_key_value_lines() {
        let out = r(json!({ "expires": "2027-01-31", "days_left": 67, "ok": true }));
        assert_eq!(out, "days_left  67\nexpires    2027-01-31\nok         true");
    }

    #[test]
    fn nested_maps_print_as_yaml() {
        let out = r(json!({ "spec": { "replicas": 3, "tags": ["a", "b: c"] }, "note": "two\nlines\n", "empty": "" }));
        assert_eq!(
            out,
            "empty: \"\"\nnote: |\n  two\n  lines\nspec:\n  replicas: 3\n  tags:\n  - a\n  - \"b: c\""
        );
    }

    #[test]
    fn lists_of_maps_print_as_tables_with_name_first() {
        let out = r(json!([
            { "status": "Running", "name": "vantiq-0", "ready": "1/1" },
            { "status": "Pending", "name": "vantiq-1", "ready": "0/1" },
        ]));
        assert_eq!(out, "name      ready  status\nvantiq-0  1/1    Running\nvantiq-1  0/1    Pending");
        // kubectl's order: NAME READY STATUS RESTARTS AGE.
        let out = r(json!([{ "age": "4m", "status": "Running", "restarts": 0, "name": "vantiq-0", "ready": "1/1" }]));
        assert_eq!(out.lines().next().unwrap(), "name      ready  status   restarts  age");
    }

    #[test]
    fn pods_print_like_kubectl_get() {
        let pod = |name: &str, ready: bool, phase: &str| {
            json!({
                "metadata": { "name": name, "creationTimestamp": "2020-01-01T00:00:00Z" },
                "spec": { "containers": [{ "name": "vantiq" }], "initContainers": [{ "name": "load-model" }] },
                "status": {
                    "phase": phase,
                    "initContainerStatuses": [{ "name": "load-model", "state": { "terminated": { "exitCode": 0 } } }],
                    "containerStatuses": [{ "name": "vantiq", "ready": ready, "restartCount": 2 }],
                },
            })
        };
        let out = r(json!([pod("vantiq-0", true, "Running"), pod("mongodb-0", false, "Pending")]));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME       READY  STATUS   RESTARTS  AGE");
        assert!(lines[1].starts_with("vantiq-0   1/1    Running  2         "), "{out}");
        assert!(lines[2].starts_with("mongodb-0  0/1    Pending  2"), "{out}");
    }

    #[test]
    fn tables_fit_the_terminal_width_and_never_wrap_the_name() {
        let headers = vec!["name".to_owned(), "message".to_owned()];
        let rows = vec![vec![
            "vantiq-0".to_owned(),
            "Back-off restarting failed container vantiq in pod vantiq-0".to_owned(),
        ]];
        let wide = table_fitted(&headers, &rows, None);
        assert_eq!(wide.lines().count(), 2, "{wide}");
        let narrow = table_fitted(&headers, &rows, Some(40));
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
        assert!(narrow.lines().count() > 2, "the message wraps: {narrow}");
        assert!(narrow.lines().nth(1).unwrap().starts_with("vantiq-0  "), "{narrow}");
    }

    #[test]
    fn a_kube_object_prints_as_yaml_without_managed_fields() {
        let out = r(json!({
            "kind": "StatefulSet",
            "metadata": { "name": "vantiq", "managedFields": [{ "manager": "kubectl" }] },
            "spec": { "replicas": 3 },
        }));
        assert_eq!(out, "kind: StatefulSet\nmetadata:\n  name: vantiq\nspec:\n  replicas: 3");
    }

    #[test]
    fn lists_of_maps_in_yaml_start_on_the_dash_line() {
        let out = yaml(&json!({ "containers": [{ "name": "vantiq", "image": "vantiq/vantiq-server:1.31.0" }] }));
        assert_eq!(out, "containers:\n- image: vantiq/vantiq-server:1.31.0\n  name: vantiq");
    }
}
