//! Object requests: list, watch, get, create, update, patch, delete (with
//! propagation), and the `scale`, `status` and `log` subresources, with `dryRun=All`
//! on every write.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::admission::{self, UpdateContext};
use super::patch::{self, PatchKind};
use super::watch::Filter;
use super::{Ctx, Req, Target, error_response, json_response, logs, protobuf, rbac, table, watch};
use crate::store::{ApiError, RESOURCES, Resource, Store, name_of, res, rv_of};

pub(crate) async fn handle(ctx: &Ctx, req: &Req, t: &Target) -> Response {
    match dispatch(ctx, req, t) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn dispatch(ctx: &Ctx, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let store = &ctx.store;
    let r = t.res;
    let ns = t.ns.as_deref().unwrap_or("");
    let watching = t.watch_prefix || req.query.flag("watch");
    match (&req.method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET | &Method::HEAD, None, None) => list(store, req, t, watching),
        (&Method::POST, None, None) => create(store, req, r, ns),
        (&Method::DELETE, None, None) => delete_collection(store, req, t),
        (&Method::GET | &Method::HEAD, Some(name), None) if watching => {
            let mut filter = filter_of(req, t);
            let by_name = format!("metadata.name={name}");
            filter.fields = Some(filter.fields.map_or(by_name.clone(), |f| format!("{f},{by_name}")));
            watch::serve(store, r, filter, &req.query, req.wants_table())
        }
        (&Method::GET | &Method::HEAD, Some(name), None) => {
            let obj = store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?;
            if req.wants_table() {
                let rv = rv_of(&obj);
                Ok(json_response(StatusCode::OK, &table::render(r, &[obj], rv)))
            } else {
                Ok(json_response(StatusCode::OK, &obj))
            }
        }
        (&Method::PUT, Some(name), None) => update(store, req, r, ns, name),
        (&Method::PATCH, Some(name), None) => patch_object(store, req, r, ns, name),
        (&Method::DELETE, Some(name), None) => delete(store, req, r, ns, name),
        (&Method::GET, Some(name), Some("log")) => logs::serve(store, ns, name, &req.query),
        (_, Some(name), Some("scale")) => scale(store, req, r, ns, name),
        (_, Some(name), Some("status")) => status(store, req, r, ns, name),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn filter_of(req: &Req, t: &Target) -> Filter {
    Filter {
        ns: t.ns.clone(),
        labels: req.query.non_empty("labelSelector").map(str::to_owned),
        fields: req.query.non_empty("fieldSelector").map(str::to_owned),
    }
}

fn list(store: &Arc<Store>, req: &Req, t: &Target, watching: bool) -> Result<Response, ApiError> {
    let filter = filter_of(req, t);
    if watching {
        return watch::serve(store, t.res, filter, &req.query, req.wants_table());
    }
    let (items, rv) = store.list(t.res, t.ns.as_deref(), filter.labels.as_deref(), filter.fields.as_deref());
    let body = if req.wants_table() {
        table::render(t.res, &items, rv)
    } else {
        json!({"kind": t.res.list_kind(), "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items})
    };
    Ok(json_response(StatusCode::OK, &body))
}

// ---- bodies -----------------------------------------------------------------------------

/// Decodes a create/update body: JSON, YAML or Kubernetes protobuf.
fn decode_object(req: &Req, r: &Resource) -> Result<Value, ApiError> {
    let ct = req.header("content-type");
    let obj = if ct.starts_with(protobuf::CONTENT_TYPE) {
        protobuf::decode(&req.body).map_err(|e| match e {
            protobuf::DecodeError::UnknownKind(_) => ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"),
            ),
            other => ApiError::new(400, "BadRequest", other.to_string()),
        })?
    } else if ct.contains("yaml") {
        let text = std::str::from_utf8(&req.body).map_err(|_| ApiError::new(400, "BadRequest", "error decoding YAML: invalid utf-8"))?;
        serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice::<Value>(&req.body)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("couldn't get version/kind; json parse error: {e}")))?
    };
    if !obj.is_object() {
        return Err(ApiError::new(400, "BadRequest", "the body of the request must be a JSON object"));
    }
    if let Some(kind) = obj["kind"].as_str()
        && kind != r.kind
    {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "the object provided is unrecognized (must be of type {}): {kind} is not {}",
                r.kind, r.kind
            ),
        ));
    }
    Ok(obj)
}

/// Keeps the fields of `old` the server owns when a client replaces the object.
fn keep_identity(old: &Value, new: &mut Value) {
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    for k in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
        "deletionTimestamp",
        "resourceVersion",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
}

/// A `metadata.resourceVersion` in a write is a precondition.
fn precondition(r: &Resource, name: &str, new: &Value, old: &Value) -> Result<(), ApiError> {
    let want = rv_of(new);
    if want != 0 && want != rv_of(old) {
        Err(ApiError::conflict(r, name))
    } else {
        Ok(())
    }
}

fn has_status(r: &Resource) -> bool {
    r.subresources.contains(&"status")
}

/// Writes to the main resource leave `status` alone (as with a status subresource).
fn keep_status(r: &Resource, old: &Value, new: &mut Value) {
    if !has_status(r) {
        return;
    }
    match old.get("status") {
        Some(s) => new["status"] = s.clone(),
        None => {
            if let Some(m) = new.as_object_mut() {
                m.remove("status");
            }
        }
    }
}

/// The status the real API server gives a new object of a kind with a status subresource.
fn initial_status(r: &Resource, obj: &Value) -> Value {
    match r.kind {
        "Namespace" => json!({"phase": "Active"}),
        "StatefulSet" => json!({"replicas": 0, "availableReplicas": 0}),
        "Service" => json!({"loadBalancer": {}}),
        "PersistentVolumeClaim" | "PersistentVolume" => json!({"phase": "Pending"}),
        "Pod" => json!({"phase": "Pending", "qosClass": qos_class(&obj["spec"])}),
        _ => json!({}),
    }
}

/// A pod's QoS class from its containers' requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .collect();
    let set = |c: &Value, k: &str| c["resources"][k].as_object().is_some_and(|m| !m.is_empty());
    if containers.iter().all(|c| !set(c, "requests") && !set(c, "limits")) {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|res| {
            let limit = &c["resources"]["limits"][*res];
            let request = &c["resources"]["requests"][*res];
            !limit.is_null() && (request.is_null() || request == limit)
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

fn update_context(store: &Store, r: &Resource) -> UpdateContext {
    if r.kind == "PersistentVolumeClaim" {
        UpdateContext {
            storage_classes: store.list(res("StorageClass"), None, None, None).0,
        }
    } else {
        UpdateContext::default()
    }
}

// ---- writes -----------------------------------------------------------------------------

fn create(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str) -> Result<Response, ApiError> {
    let dry = req.dry_run()?;
    let obj = decode_object(req, r)?;
    let created = create_object(store, r, ns, obj, dry)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

fn create_object(store: &Store, r: &'static Resource, ns: &str, mut obj: Value, dry: bool) -> Result<Value, ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if r.namespaced {
        if let Some(body_ns) = obj["metadata"]["namespace"].as_str().filter(|n| !n.is_empty())
            && body_ns != ns
        {
            return Err(ApiError::new(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let namespaces = res("Namespace");
        if store.get(namespaces, "", ns).is_none() {
            return Err(ApiError::not_found(namespaces, ns));
        }
    }
    if name_of(&obj).is_empty()
        && let Some(prefix) = obj["metadata"]["generateName"].as_str().filter(|p| !p.is_empty())
    {
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(5)
            .collect();
        obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(k);
        }
    }
    if has_status(r) {
        // The status a client sends is dropped; the server starts from the empty status
        // of the kind (and its defaults), which a client then reads as `status: {}`.
        obj["status"] = initial_status(r, &obj);
    }
    let uid = uuid::Uuid::new_v4().to_string();
    admission::on_create(r, &mut obj, &uid)?;
    store.create_with_uid(r, ns, obj, &uid, dry)
}

fn update(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str, name: &str) -> Result<Response, ApiError> {
    let dry = req.dry_run()?;
    let body = decode_object(req, r)?;
    let body_name = name_of(&body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("the name of the object ({body_name}) does not match the name on the URL ({name})"),
        ));
    }
    let out = write_update(store, r, ns, name, dry, |_| Ok(body))?;
    Ok(json_response(StatusCode::OK, &out))
}

/// An update or patch of an object's spec: the new object comes from `make`, then the
/// apiserver's rules apply (resourceVersion precondition, identity and status kept, admission).
fn write_update(
    store: &Arc<Store>,
    r: &'static Resource,
    ns: &str,
    name: &str,
    dry: bool,
    make: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let uctx = update_context(store, r);
    store.write(r, ns, name, dry, |cur| {
        let old = cur.clone();
        let mut new = make(&old)?;
        precondition(r, name, &new, &old)?;
        keep_identity(&old, &mut new);
        keep_status(r, &old, &mut new);
        admission::on_update(r, &old, &mut new, &uctx)?;
        *cur = new;
        Ok(())
    })
}

fn patch_kind(req: &Req) -> Result<(PatchKind, Value), ApiError> {
    let ct = req.header("content-type");
    let kind = PatchKind::from_content_type(ct).ok_or_else(|| patch::unsupported(ct))?;
    Ok((kind, patch::parse_body(kind, &req.body)?))
}

fn patch_object(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str, name: &str) -> Result<Response, ApiError> {
    let dry = req.dry_run()?;
    let (kind, p) = patch_kind(req)?;
    if kind == PatchKind::Apply && store.get(r, ns, name).is_none() {
        // Creating through an apply patch also needs `create` (the apiserver's
        // withAuthorization of create-on-update).
        if let Some(user) = &req.user {
            let attrs = rbac::Attributes {
                verb: "create".into(),
                resource_request: true,
                namespace: ns.into(),
                api_group: r.group.into(),
                api_version: r.version.into(),
                resource: r.plural.into(),
                name: name.into(),
                ..Default::default()
            };
            rbac::check(store, user, &attrs)?;
        }
        let mut obj = p;
        obj["metadata"]["name"] = json!(name);
        let created = create_object(store, r, ns, obj, dry)?;
        return Ok(json_response(StatusCode::CREATED, &created));
    }
    let out = write_update(store, r, ns, name, dry, |old| patch::apply(kind, old, &p))?;
    Ok(json_response(StatusCode::OK, &out))
}

fn status(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str, name: &str) -> Result<Response, ApiError> {
    let out = match req.method {
        Method::GET => store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?,
        Method::PUT | Method::PATCH => {
            let dry = req.dry_run()?;
            let change = if req.method == Method::PUT { None } else { Some(patch_kind(req)?) };
            let body = if change.is_none() { Some(decode_object(req, r)?) } else { None };
            store.write(r, ns, name, dry, |cur| {
                let new = match (&change, &body) {
                    (Some((kind, p)), _) => patch::apply(*kind, cur, p)?,
                    (None, Some(b)) => b.clone(),
                    (None, None) => unreachable!("either a patch or a body"),
                };
                precondition(r, name, &new, cur)?;
                match new.get("status") {
                    Some(s) => cur["status"] = s.clone(),
                    None => {
                        if let Some(m) = cur.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                Ok(())
            })?
        }
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &out))
}

/// The `autoscaling/v1 Scale` view of a StatefulSet.
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let selector = kube_util::match_labels_selector(&obj["spec"]["selector"]["matchLabels"]);
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

fn scale(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str, name: &str) -> Result<Response, ApiError> {
    let out = match req.method {
        Method::GET => store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?,
        Method::PUT | Method::PATCH => {
            let dry = req.dry_run()?;
            let change = if req.method == Method::PATCH {
                Some(patch_kind(req)?)
            } else {
                None
            };
            let body = if change.is_none() {
                Some(
                    serde_json::from_slice::<Value>(&req.body)
                        .map_err(|e| ApiError::new(400, "BadRequest", format!("couldn't get version/kind; json parse error: {e}")))?,
                )
            } else {
                None
            };
            store.write(r, ns, name, dry, |cur| {
                let current = scale_of(cur);
                let wanted = match (&change, &body) {
                    (Some((kind, p)), _) => patch::apply(*kind, &current, p)?,
                    (None, Some(b)) => b.clone(),
                    (None, None) => unreachable!("either a patch or a body"),
                };
                precondition(r, name, &wanted, cur)?;
                let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
                if replicas < 0 {
                    let mut e = admission::invalid(
                        res("StatefulSet"),
                        name,
                        format!("spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
                    );
                    e.message = e.message.replacen("StatefulSet.apps", "Scale.autoscaling", 1);
                    return Err(e);
                }
                cur["spec"]["replicas"] = json!(replicas);
                Ok(())
            })?
        }
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &scale_of(&out)))
}

// ---- deletes ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// Reads `propagationPolicy` / `orphanDependents` / `dryRun` from the query and the
/// optional `DeleteOptions` body.
fn delete_options(req: &Req, r: &Resource) -> Result<(Propagation, bool, Value), ApiError> {
    let mut dry = req.dry_run()?;
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else if req.header("content-type").starts_with(protobuf::CONTENT_TYPE) {
        protobuf::decode(&req.body).map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?
    } else {
        serde_json::from_slice(&req.body).map_err(|e| ApiError::new(400, "BadRequest", format!("couldn't decode DeleteOptions: {e}")))?
    };
    if body["dryRun"].as_array().is_some_and(|a| a.iter().any(|v| v == "All")) {
        dry = true;
    }
    let policy = body["propagationPolicy"].as_str().or(req.query.non_empty("propagationPolicy"));
    let orphan = body["orphanDependents"]
        .as_bool()
        .or_else(|| req.query.non_empty("orphanDependents").map(|v| v == "true"));
    let p = match (policy, orphan) {
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Background"), _) | (None, Some(false)) => Propagation::Background,
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some(other), _) => {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""),
            ));
        }
        // batch/v1 Jobs orphan their pods by default, as the real server does.
        (None, None) if r.kind == "Job" => Propagation::Orphan,
        (None, None) => Propagation::Background,
    };
    Ok((p, dry, body["preconditions"].clone()))
}

/// `DeleteOptions.preconditions`: the object must still have this uid / resourceVersion.
fn check_preconditions(r: &Resource, name: &str, obj: &Value, pre: &Value) -> Result<(), ApiError> {
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(want) = pre[field].as_str() {
            let have = obj["metadata"][field].as_str().unwrap_or("");
            if want != have {
                return Err(ApiError {
                    message: format!("Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"),
                    ..ApiError::conflict(r, name)
                });
            }
        }
    }
    Ok(())
}

fn delete(store: &Arc<Store>, req: &Req, r: &'static Resource, ns: &str, name: &str) -> Result<Response, ApiError> {
    let (policy, dry, pre) = delete_options(req, r)?;
    if pre.is_object() {
        let cur = store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?;
        check_preconditions(r, name, &cur, &pre)?;
    }
    let out = if dry {
        store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?
    } else {
        delete_tree(store, r, ns, name, policy)?
    };
    Ok(json_response(StatusCode::OK, &out))
}

fn delete_collection(store: &Arc<Store>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let (policy, dry, _) = delete_options(req, t.res)?;
    let filter = filter_of(req, t);
    let (items, _) = store.list(t.res, t.ns.as_deref(), filter.labels.as_deref(), filter.fields.as_deref());
    let mut deleted = Vec::new();
    for item in items {
        let ns = item["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        if dry {
            deleted.push(item);
        } else if let Ok(v) = delete_tree(store, t.res, &ns, name_of(&item), policy) {
            deleted.push(v);
        }
    }
    let rv = store.resource_version();
    let body = json!({"kind": t.res.list_kind(), "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &body))
}

fn resource_of(obj: &Value) -> Option<&'static Resource> {
    let (kind, api_version) = (obj["kind"].as_str()?, obj["apiVersion"].as_str()?);
    RESOURCES.iter().find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Objects whose `ownerReferences` name `uid`: `(resource, namespace, name)`.
fn dependents_of(store: &Store, uid: &str) -> Vec<(&'static Resource, String, String)> {
    store
        .snapshot()
        .into_iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .filter_map(|o| {
            Some((
                resource_of(&o)?,
                o["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                name_of(&o).to_owned(),
            ))
        })
        .collect()
}

/// Deletes an object and, by `policy`, its dependents (found by ownerReference uid,
/// recursively); a namespace takes everything in it along.
pub(crate) fn delete_tree(store: &Store, r: &'static Resource, ns: &str, name: &str, policy: Propagation) -> Result<Value, ApiError> {
    let obj = store.get(r, ns, name).ok_or_else(|| ApiError::not_found(r, name))?;
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    if r.kind == "Namespace" {
        for nr in RESOURCES.iter().filter(|x| x.namespaced) {
            for item in store.list(nr, Some(name), None, None).0 {
                let _ = delete_tree(store, nr, name, name_of(&item), Propagation::Background);
            }
        }
    }
    let dependents = if uid.is_empty() { Vec::new() } else { dependents_of(store, &uid) };
    let out = match policy {
        Propagation::Orphan => {
            for (dr, dns, dname) in &dependents {
                let _ = store.write(dr, dns, dname, false, |d| {
                    if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|x| x["uid"] != uid.as_str());
                        if refs.is_empty() {
                            d["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
                        }
                    }
                    Ok(())
                });
            }
            store.delete(r, ns, name, false)?
        }
        Propagation::Foreground => {
            for (dr, dns, dname) in &dependents {
                let _ = delete_tree(store, dr, dns, dname, Propagation::Foreground);
            }
            store.delete(r, ns, name, false)?
        }
        Propagation::Background => {
            let out = store.delete(r, ns, name, false)?;
            for (dr, dns, dname) in &dependents {
                let _ = delete_tree(store, dr, dns, dname, Propagation::Background);
            }
            out
        }
    };
    if r.kind == "Pod" {
        store.drop_logs(ns, name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Store {
        let s = Store::new();
        s.create(res("Namespace"), "", json!({"metadata": {"name": "demo"}}), false)
            .unwrap();
        let sts = s
            .create(
                res("StatefulSet"),
                "demo",
                json!({"metadata": {"name": "vantiq"}, "spec": {"replicas": 1}}),
                false,
            )
            .unwrap();
        let owner =
            json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "vantiq", "uid": sts["metadata"]["uid"], "controller": true}]);
        let pod = s
            .create(
                res("Pod"),
                "demo",
                json!({"metadata": {"name": "vantiq-0", "ownerReferences": owner}, "spec": {}}),
                false,
            )
            .unwrap();
        let pod_owner = json!([{"apiVersion": "v1", "kind": "Pod", "name": "vantiq-0", "uid": pod["metadata"]["uid"]}]);
        s.create(
            res("ConfigMap"),
            "demo",
            json!({"metadata": {"name": "grandchild", "ownerReferences": pod_owner}}),
            false,
        )
        .unwrap();
        s
    }

    #[test]
    fn background_delete_takes_dependents_recursively() {
        let s = seed();
        delete_tree(&s, res("StatefulSet"), "demo", "vantiq", Propagation::Background).unwrap();
        assert!(s.get(res("Pod"), "demo", "vantiq-0").is_none());
        assert!(s.get(res("ConfigMap"), "demo", "grandchild").is_none());
    }

    #[test]
    fn orphan_delete_keeps_dependents_without_the_owner_reference() {
        let s = seed();
        delete_tree(&s, res("StatefulSet"), "demo", "vantiq", Propagation::Orphan).unwrap();
        let pod = s.get(res("Pod"), "demo", "vantiq-0").unwrap();
        assert!(pod["metadata"].get("ownerReferences").is_none());
    }

    #[test]
    fn namespace_delete_removes_everything_in_it() {
        let s = seed();
        delete_tree(&s, res("Namespace"), "", "demo", Propagation::Background).unwrap();
        assert!(s.snapshot().is_empty(), "{:?}", s.snapshot());
    }

    #[test]
    fn scale_view_reports_selector_as_a_label_string() {
        let sts = json!({"metadata": {"name": "v"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "vantiq", "tier": "x"}}}, "status": {"replicas": 1}});
        let sc = scale_of(&sts);
        assert_eq!(sc["spec"]["replicas"], 2);
        assert_eq!(sc["status"], json!({"replicas": 1, "selector": "app=vantiq,tier=x"}));
    }
}
