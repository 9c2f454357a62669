//! Injected API faults, for tests of retries and error handling: a matching request
//! gets an error Status, hangs, or loses its connection instead of its answer.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::Response;
use serde::Deserialize;

use super::{ResetConnection, error_response};
use crate::store::ApiError;

/// One fault: which requests it hits and what they get instead of an answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method (`GET`, `PATCH`, …), case-insensitive.
    #[serde(default)]
    pub method: Option<String>,
    /// A substring of the path and query (`/statefulsets/vantiq/scale`).
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete.
    #[serde(default)]
    pub verb: Option<String>,
    /// Matching requests let through before the fault starts.
    #[serde(default)]
    pub after: u32,
    /// How many matching requests fail.
    #[serde(default = "one")]
    pub times: u32,
    /// `status:<code>` (500, 503, 409, …), `timeout` (hold 30 s, then close) or
    /// `reset` (close the connection without a response).
    pub action: String,
}

fn one() -> u32 {
    1
}

/// The fault rules in force and how often each has matched.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<(FaultRule, u32)>>,
}

#[derive(Deserialize)]
struct FaultFile {
    #[serde(default)]
    api: Vec<FaultRule>,
}

impl Faults {
    /// Replaces the rules (and resets their counters).
    pub fn set(&self, rules: Vec<FaultRule>) {
        *self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Reads `{"api": [rules…]}` from a JSON file; other top-level keys are ignored.
    pub fn load(path: &Path) -> anyhow::Result<Faults> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read fault file `{}`: {e}", path.display()))?;
        let file: FaultFile = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("invalid fault file `{}`: {e}", path.display()))?;
        for r in &file.api {
            parse_action(&r.action).map_err(|e| anyhow::anyhow!("invalid fault file `{}`: {e}", path.display()))?;
        }
        let faults = Faults::default();
        faults.set(file.api);
        Ok(faults)
    }

    /// Counts a request against the rules; returns the action of the first rule that
    /// fires for it.
    pub(crate) fn check(&self, method: &str, path_and_query: &str, verb: &str) -> Option<String> {
        let mut rules = self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut fired = None;
        for (rule, seen) in rules.iter_mut() {
            let hit = rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && rule.path_contains.as_deref().is_none_or(|p| path_and_query.contains(p))
                && rule.verb.as_deref().is_none_or(|v| v == verb);
            if !hit {
                continue;
            }
            *seen += 1;
            if fired.is_none() && *seen > rule.after && *seen - rule.after <= rule.times {
                fired = Some(rule.action.clone());
            }
        }
        fired
    }
}

enum Action {
    Status(u16),
    Timeout,
    Reset,
}

fn parse_action(a: &str) -> Result<Action, String> {
    match a {
        "timeout" => Ok(Action::Timeout),
        "reset" => Ok(Action::Reset),
        _ => a
            .strip_prefix("status:")
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|c| (400..600).contains(c))
            .map(Action::Status)
            .ok_or_else(|| format!("unknown fault action `{a}` (status:<code>, timeout or reset)")),
    }
}

fn reset() -> Response {
    let mut r = error_response(&ApiError::new(500, "InternalError", "connection reset by an injected fault"));
    r.extensions_mut().insert(ResetConnection);
    r
}

/// The response a fault action produces.
pub(crate) async fn respond(action: &str) -> Response {
    match parse_action(action) {
        Ok(Action::Status(code)) => {
            let (reason, message) = match code {
                409 => (
                    "Conflict",
                    "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)",
                ),
                429 => (
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later (injected fault)",
                ),
                500 => ("InternalError", "Internal error occurred: injected fault"),
                503 => (
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request (injected fault)",
                ),
                504 => (
                    "Timeout",
                    "the server was unable to return a response in the time allotted (injected fault)",
                ),
                400 => ("BadRequest", "injected fault"),
                403 => ("Forbidden", "injected fault"),
                404 => ("NotFound", "the server could not find the requested resource (injected fault)"),
                _ => ("InternalError", "injected fault"),
            };
            error_response(&ApiError::new(code, reason, message))
        }
        Ok(Action::Timeout) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            reset()
        }
        Ok(Action::Reset) | Err(_) => reset(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_fire_after_skipping_and_for_a_number_of_times() {
        let f = Faults::default();
        f.set(vec![rule(
            r#"{"verb": "patch", "path_contains": "/scale", "after": 1, "times": 2, "action": "status:500"}"#,
        )]);
        let hits: Vec<bool> = (0..5)
            .map(|_| {
                f.check("PATCH", "/apis/apps/v1/namespaces/demo/statefulsets/vantiq/scale", "patch")
                    .is_some()
            })
            .collect();
        assert_eq!(hits, [false, true, true, false, false]);
        assert!(
            f.check("GET", "/apis/apps/v1/namespaces/demo/statefulsets/vantiq/scale", "get")
                .is_none()
        );
        let r = rule(r#"{"action": "reset"}"#);
        assert_eq!((r.after, r.times), (0, 1));
    }

    #[test]
    fn load_reads_the_api_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("faults.json");
        std::fs::write(
            &p,
            r#"{"api": [{"method": "get", "action": "status:503"}], "gradle": {"whatever": 1}}"#,
        )
        .unwrap();
        let f = Faults::load(&p).unwrap();
        assert_eq!(f.check("GET", "/api/v1/namespaces", "list").as_deref(), Some("status:503"));
        std::fs::write(&p, r#"{"api": [{"action": "explode"}]}"#).unwrap();
        assert!(Faults::load(&p).is_err());
    }
}
