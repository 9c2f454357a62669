//! The four PATCH flavours kubectl and kube-rs send: JSON merge patch (RFC 7386),
//! strategic merge patch (merge patch whose lists of named objects merge by key),
//! JSON patch (RFC 6902) and server-side apply (treated as a strategic merge of the
//! applied configuration, since the simulator keeps no field managers).

use serde_json::{Map, Value};

use crate::store::ApiError;

/// A PATCH body's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchKind {
    /// From a Content-Type header (parameters ignored).
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" | "application/apply-patch+cbor" => Some(PatchKind::Apply),
            _ => None,
        }
    }
}

/// The 415 a PATCH with any other Content-Type gets.
pub fn unsupported(ct: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got \"{ct}\")"
        ),
    )
}

/// Parses a patch body: JSON, or (for apply) YAML.
pub fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) if kind != PatchKind::Apply => Err(ApiError::new(400, "BadRequest", format!("error decoding patch: {e}"))),
        Err(_) => {
            let text = std::str::from_utf8(body).map_err(|_| ApiError::new(400, "BadRequest", "error decoding YAML: invalid utf-8"))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding YAML: {e}")))
        }
    }
}

/// Applies a parsed patch of `kind` to a copy of `target`.
pub fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut out = target.clone();
    match kind {
        PatchKind::Merge => {
            expect_object(patch)?;
            merge_patch(&mut out, patch);
        }
        PatchKind::Strategic | PatchKind::Apply => {
            expect_object(patch)?;
            strategic_merge_patch(&mut out, patch);
        }
        PatchKind::Json => json_patch(&mut out, patch).map_err(|e| ApiError::new(422, "Invalid", e))?,
    }
    Ok(out)
}

fn expect_object(patch: &Value) -> Result<(), ApiError> {
    if patch.is_object() {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "BadRequest",
            "error decoding patch: the patch must be a JSON object",
        ))
    }
}

/// RFC 7386: objects merge recursively, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The merge key of a list field, as the Kubernetes types declare it
/// (`patchMergeKey`), given the patch's elements.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    let key: &'static [&'static str] = match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => &["name"],
        "volumeClaimTemplates" => &["metadata", "name"],
        "volumeMounts" => &["mountPath"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "hostAliases" => &["ip"],
        "ports" if items.iter().all(|i| i.get("containerPort").is_some()) => &["containerPort"],
        "ports" if items.iter().all(|i| i.get("port").is_some()) => &["port"],
        "ports" => &["name"],
        _ => return None,
    };
    items.iter().all(|i| key_of(i, key).is_some()).then_some(key)
}

fn key_of<'a>(item: &'a Value, key: &[&str]) -> Option<&'a Value> {
    key.iter().try_fold(item, |cur, k| cur.get(*k)).filter(|v| !v.is_null())
}

/// Strategic merge patch: a merge patch, except that lists of objects with a merge
/// key (containers and env by `name`, volumeClaimTemplates by `metadata.name`, ...)
/// merge element-wise, `$patch: delete` removes an element, `$patch: replace`
/// replaces a map, and other `$` directives are ignored.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = strip_directives(patch);
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) if merge_key(k, items).is_some() => {
                merge_list(cur, items, merge_key(k, items).expect("checked"));
            }
            (Some(cur), Value::Object(_)) if cur.is_object() => strategic_merge_patch(cur, v),
            _ => {
                let mut fresh = strip_directives(v);
                if let Value::Array(items) = &mut fresh {
                    items.retain(|i| i.get("$patch").is_none());
                }
                t.insert(k.clone(), fresh);
            }
        }
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &[&str]) {
    for item in items {
        let Some(k) = key_of(item, key) else { continue };
        let pos = cur.iter().position(|c| key_of(c, key) == Some(k));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                cur.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => strategic_merge_patch(&mut cur[i], item),
            None => cur.push(strip_directives(item)),
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `test`, `move`, `copy`. The whole
/// patch fails when one operation fails.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("json patch must be a JSON array of operations")?;
    let mut out = target.clone();
    for op in ops {
        let name = op["op"].as_str().ok_or("json patch operation has no `op`")?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| format!("json patch `{name}` operation has no `path`"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("json patch `{name}` operation has no `value`"))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| format!("json patch `{name}` operation has no `from`"))
        };
        match name {
            "add" => add(&mut out, path, value()?)?,
            "remove" => {
                remove(&mut out, path)?;
            }
            "replace" => {
                remove(&mut out, path)?;
                add(&mut out, path, value()?)?;
            }
            "test" => {
                let have = out
                    .pointer(&normalise(path))
                    .ok_or_else(|| format!("test operation failed: path {path} does not exist"))?;
                if *have != value()? {
                    return Err(format!("test operation failed: value at {path} differs"));
                }
            }
            "move" => {
                let v = remove(&mut out, from()?)?;
                add(&mut out, path, v)?;
            }
            "copy" => {
                let v = out
                    .pointer(&normalise(from()?))
                    .cloned()
                    .ok_or_else(|| format!("copy operation failed: path {} does not exist", from().unwrap_or("")))?;
                add(&mut out, path, v)?;
            }
            other => return Err(format!("unexpected json patch operation `{other}`")),
        }
    }
    *target = out;
    Ok(())
}

/// `serde_json::Value::pointer` wants `""` for the root, as RFC 6901 does.
fn normalise(path: &str) -> String {
    if path == "/" { String::new() } else { path.to_owned() }
}

fn split_parent(path: &str) -> Result<(String, String), String> {
    let i = path.rfind('/').ok_or_else(|| format!("invalid json pointer `{path}`"))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_owned(), last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = split_parent(path)?;
    let container = doc
        .pointer_mut(&parent)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\""))?;
    match container {
        Value::Object(m) => {
            m.insert(last, v);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| format!("invalid array index `{last}`"))?
            };
            if i > a.len() {
                return Err(format!("add operation does not apply: index {i} out of bounds"));
            }
            a.insert(i, v);
        }
        _ => return Err(format!("add operation does not apply: doc is missing path: \"{path}\"")),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    let (parent, last) = split_parent(path)?;
    match doc.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            if i < a.len() { Ok(a.remove(i)) } else { Err(missing()) }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn strategic_patch_merges_named_lists() {
        let mut t = json!({"spec": {"containers": [
            {"name": "vantiq", "image": "v:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "side", "image": "s:1"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "vantiq"}], "containers": [
            {"name": "vantiq", "image": "v:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
            {"name": "side", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [
            {"name": "vantiq", "image": "v:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}})
        );
        // Lists without a merge key are replaced, like a merge patch.
        let mut t = json!({"spec": {"args": ["a", "b"]}});
        strategic_merge_patch(&mut t, &json!({"spec": {"args": ["c"]}}));
        assert_eq!(t, json!({"spec": {"args": ["c"]}}));
        // volumeClaimTemplates merge by metadata.name.
        let mut t = json!({"vct": null, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"x": 1, "y": 1}}]});
        strategic_merge_patch(
            &mut t,
            &json!({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"x": 2}}]}),
        );
        assert_eq!(
            t["volumeClaimTemplates"],
            json!([{"metadata": {"name": "data"}, "spec": {"x": 2, "y": 1}}])
        );
    }

    #[test]
    fn json_patch_supports_all_operations_and_is_atomic() {
        let mut t = json!({"spec": {"replicas": 1, "updateStrategy": {"rollingUpdate": {"partition": 0}}, "list": ["a"]}});
        json_patch(
            &mut t,
            &json!([
                {"op": "test", "path": "/spec/replicas", "value": 1},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "remove", "path": "/spec/updateStrategy/rollingUpdate"},
                {"op": "add", "path": "/spec/list/-", "value": "b"},
                {"op": "add", "path": "/spec/list/0", "value": "z"},
                {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
                {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
                {"op": "add", "path": "/metadata~1x", "value": {}}
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"spec": {"replicas": 3, "updateStrategy": {}, "list": ["z", "a", "b"], "moved": 3}, "metadata/x": {}})
        );
        let before = t.clone();
        let err = json_patch(
            &mut t,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 5}, {"op": "test", "path": "/spec/replicas", "value": 1}]),
        );
        assert!(err.is_err());
        assert_eq!(t, before);
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }

    #[test]
    fn apply_body_may_be_yaml() {
        let v = parse_body(
            PatchKind::Apply,
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \"1\"\n",
        )
        .unwrap();
        assert_eq!(v["data"]["a"], "1");
        assert!(parse_body(PatchKind::Merge, b"{not json").is_err());
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchKind::Merge)
        );
    }
}
