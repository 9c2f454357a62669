//! The simulator's own routes, next to the Kubernetes API under `/__sim/`:
//! `GET /__sim/violations`, `GET /__sim/state` (the simulated databases, schema,
//! snapshots, license, served certificate, downtime), `GET /__sim/downtime` (the
//! downtime record), `POST /__sim/faults` (replaces `DIR/faults.json`, read by the
//! controllers and the gradle shim whenever it matters) and `POST /__sim/gradle-task`
//! (the gradle shim reports a task before it acts).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{World, https, vantiq};

pub fn router(w: Arc<World>, api_faults: Arc<crate::api::Faults>) -> axum::Router {
    axum::Router::new()
        .route("/__sim/violations", get(violations))
        .route("/__sim/state", get(state))
        .route("/__sim/faults", post(faults).get(get_faults))
        .route("/__sim/downtime", get(downtime))
        .route("/__sim/gradle-task", post(gradle_task))
        .with_state((w, api_faults))
}

type St = State<(Arc<World>, Arc<crate::api::Faults>)>;

async fn violations(State((w, _)): St) -> Json<Value> {
    Json(json!(w.invariants.all()))
}

/// The simulated data and what is served, for tests and curious operators.
pub fn state_of(w: &World) -> Value {
    let db = w.db.lock().unwrap().clone();
    let license = match vantiq::license_check(w) {
        Ok(Some(c)) => json!({"valid": true, "issuedTo": c.sub, "expires": c.expires_at().to_rfc3339(), "id": c.jti}),
        Ok(None) => json!({"valid": true, "format": "unknown to the simulator", "expires": null}),
        Err(why) => json!({"valid": false, "reason": why}),
    };
    let cert = https::served_cert(&w.store)
        .map(|c| json!({"subject": c.subject, "notAfter": c.not_after.to_rfc3339(), "sha256": c.sha256, "dnsNames": c.dns_names}));
    json!({"databases": db, "license": license, "servedCertificate": cert, "speed": w.clock.speed,
           "runningVersion": https::running_version(w), "downtime": w.downtime.windows(),
           "maintenance": super::maintenance::summary(w)})
}

async fn downtime(State((w, _)): St) -> Json<Value> {
    Json(json!(w.downtime.record()))
}

/// The gradle shim reports each task before it acts (see [`World::gradle_task`]).
async fn gradle_task(State((w, _)): St, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    match (body["task"].as_str(), body["namespace"].as_str()) {
        (Some(task), Some(ns)) => {
            w.gradle_task(task, ns);
            (StatusCode::OK, Json(json!({})))
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "expected {\"task\": ..., \"namespace\": ...}"})),
        ),
    }
}

async fn state(State((w, _)): St) -> Json<Value> {
    Json(state_of(&w))
}

async fn get_faults(State((w, _)): St) -> Json<Value> {
    let text = std::fs::read_to_string(w.dir.join("faults.json")).unwrap_or_else(|_| "{}".into());
    Json(serde_json::from_str(&text).unwrap_or(json!({})))
}

async fn faults(State((w, api)): St, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if !body.is_object() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "expected a JSON object"})));
    }
    let rules = match serde_json::from_value::<Vec<crate::api::FaultRule>>(body.get("api").cloned().unwrap_or(json!([]))) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("invalid \"api\" faults: {e}")})),
            );
        }
    };
    api.set(rules);
    let path = w.dir.join("faults.json");
    let tmp = w.dir.join(".faults.json.tmp");
    let res = std::fs::write(&tmp, body.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
    match res {
        Ok(()) => (StatusCode::OK, Json(body)),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))),
    }
}
