//! The maintenance lock: a Kubernetes Lease (`vscript-maintenance` in the Vantiq
//! namespace) held for the whole run, renewed while it runs, expiring when its holder
//! dies, so that two operators never run maintenance on one cluster at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::outcome::Failure;
use super::session::Session;
use crate::engine::Host;
use crate::k8s::client::{K8sClient, K8sError};

/// The Lease's name.
pub const LEASE: &str = "vscript-maintenance";
/// How long a lease stays valid without renewal.
pub const DURATION_SECS: i64 = 60;
/// How often a held lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another maintenance run holds the lock on namespace `{ns}`: {holder} (since {since}, last renewed {renewed}); \
         it expires at {expires} if that run has died — or, if you are sure it is gone, re-run with --force-unlock. \
         A run that was killed is best continued: vscript run <procedure> --resume <its run id>"
    )]
    Held {
        ns: String,
        holder: String,
        since: String,
        renewed: String,
        expires: String,
    },
    #[error(transparent)]
    K8s(#[from] K8sError),
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn micro(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Who this process is, as written into the Lease.
pub fn identity(run_id: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host} pid {} run {run_id}", std::process::id())
}

fn expired(lease: &Value) -> bool {
    let spec = &lease["spec"];
    let renewed = spec["renewTime"]
        .as_str()
        .or(spec["acquireTime"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let dur = spec["leaseDurationSeconds"].as_i64().unwrap_or(DURATION_SECS);
    match renewed {
        Some(t) => t.with_timezone(&chrono::Utc) + chrono::Duration::seconds(dur) < now(),
        None => true,
    }
}

/// Whether a lease was held by the run being resumed, whose process is gone (killed, or
/// on this machine and no longer running): its resumption may take the lock over.
fn held_by_dead_run(lease: &Value, resumed: Option<&str>) -> bool {
    let Some(id) = resumed else { return false };
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or("");
    if !holder.ends_with(&format!(" run {id}")) {
        return false;
    }
    let mine = identity("");
    let host_of = |h: &str| h.split(' ').next().unwrap_or("").to_owned();
    let pid = holder.split(" pid ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("");
    // On another machine we cannot tell: only an expired lease (or --force-unlock) frees it.
    host_of(holder) == host_of(&mine) && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Takes the lock, or fails with who holds it. With `force`, an existing lease is removed
/// first; `resumed` names the run being resumed, whose dead process's lease may be taken over.
pub async fn acquire(c: &K8sClient, ns: &str, holder: &str, force: bool, resumed: Option<&str>) -> Result<String, LockError> {
    let kind = K8sClient::kind("Lease")?;
    let t = micro(now());
    let fresh = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": LEASE, "namespace": ns, "labels": { "app.kubernetes.io/managed-by": "vscript" } },
        "spec": { "holderIdentity": holder, "leaseDurationSeconds": DURATION_SECS, "acquireTime": t, "renewTime": t },
    });
    let uid = |o: &Value| o["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    // The usual case costs one request: nobody holds the lock, the create succeeds.
    let err = match c.create(&kind, ns, fresh, false).await {
        Ok(created) => return Ok(uid(&created)),
        Err(e) => e,
    };
    let Some(cur) = c.get(&kind, ns, LEASE).await? else {
        return Err(err.into());
    };
    if force || expired(&cur) || held_by_dead_run(&cur, resumed) {
        // Take over with optimistic concurrency: a competing taker gets a conflict.
        let patch = json!({
            "metadata": { "resourceVersion": cur["metadata"]["resourceVersion"] },
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": DURATION_SECS, "acquireTime": t, "renewTime": t },
        });
        return c
            .patch(&kind, ns, LEASE, &patch, false)
            .await
            .map(|o| uid(&o))
            .map_err(|e| held_or(e, ns, &cur));
    }
    Err(held(ns, &cur))
}

fn held(ns: &str, cur: &Value) -> LockError {
    let spec = &cur["spec"];
    let renewed = spec["renewTime"].as_str().unwrap_or("?").to_owned();
    let expires = chrono::DateTime::parse_from_rfc3339(&renewed)
        .map(|t| {
            micro(t.with_timezone(&chrono::Utc) + chrono::Duration::seconds(spec["leaseDurationSeconds"].as_i64().unwrap_or(DURATION_SECS)))
        })
        .unwrap_or_else(|_| "?".into());
    LockError::Held {
        ns: ns.to_owned(),
        holder: spec["holderIdentity"].as_str().unwrap_or("?").to_owned(),
        since: spec["acquireTime"].as_str().unwrap_or("?").to_owned(),
        renewed,
        expires,
    }
}

fn held_or(e: K8sError, ns: &str, cur: &Value) -> LockError {
    match &e {
        K8sError::Api { reason, .. } if reason.contains("Conflict") => held(ns, cur),
        _ => e.into(),
    }
}

/// What a renewal found.
#[derive(Debug, PartialEq)]
pub enum Renewal {
    /// Still ours: valid until then.
    Held(chrono::DateTime<chrono::Utc>),
    /// Taken over by another run, or deleted (`--force-unlock` elsewhere).
    Lost(String),
}

/// Renews the lease, only while we still hold it (the one we took: same uid and holder).
pub async fn renew(c: &K8sClient, ns: &str, holder: &str, uid: &str) -> Result<Renewal, K8sError> {
    let kind = K8sClient::kind("Lease")?;
    let Some(cur) = c.get(&kind, ns, LEASE).await? else {
        return Ok(Renewal::Lost(format!("the Lease {ns}/{LEASE} was deleted by someone else")));
    };
    if cur["spec"]["holderIdentity"] != holder || cur["metadata"]["uid"].as_str().is_some_and(|u| !uid.is_empty() && u != uid) {
        return Ok(Renewal::Lost(format!(
            "the lock was taken over by {}",
            cur["spec"]["holderIdentity"].as_str().unwrap_or("another run")
        )));
    }
    // With the version read: a competing take-over between the read and the patch makes
    // this one conflict instead of renewing someone else's lease.
    let t = now();
    let patch = json!({ "metadata": { "resourceVersion": cur["metadata"]["resourceVersion"] }, "spec": { "renewTime": micro(t) } });
    match c.patch(&kind, ns, LEASE, &patch, false).await {
        Ok(_) => Ok(Renewal::Held(t + chrono::Duration::seconds(DURATION_SECS))),
        Err(K8sError::Api { reason, .. }) if reason.contains("Conflict") => {
            Ok(Renewal::Lost("the lock was taken over by another run".into()))
        }
        Err(e) => Err(e),
    }
}

/// A lock this run holds: the lease's uid and the task renewing it.
pub struct Held {
    uid: String,
    renewer: tokio::task::JoinHandle<()>,
}

/// Takes the Lease for a run and starts renewing it in the session's background runtime.
pub fn take(host: &Arc<Host>, session: &Session, holder: &str, force: bool, resumed: Option<&str>) -> Result<Held, Failure> {
    if force {
        confirm_force(host)?;
    }
    take_for(host, session.bg.handle(), holder, force, resumed)
}

/// `--force-unlock`: shows who holds the lock and when it was last renewed. A holder
/// that renewed within the lease's duration may still be running: removing its lock then
/// needs the namespace typed at a terminal (`--yes` does not answer it).
fn confirm_force(host: &Host) -> Result<(), Failure> {
    use std::io::Write;
    let c = host
        .k8s_client()
        .map_err(|e| Failure::failed(format!("cannot read the maintenance lock: {e}")))?;
    let ns = host.target().namespace.clone();
    let kind = K8sClient::kind("Lease").map_err(|e| Failure::failed(e.to_string()))?;
    let cur = host
        .block("reading the maintenance lock", Duration::from_secs(30), c.get(&kind, &ns, LEASE))
        .map_err(|e| Failure::failed(format!("cannot read the maintenance lock: {e}")))?;
    let Some(cur) = cur else {
        crate::errln!("vscript: --force-unlock: nobody holds the maintenance lock of namespace `{ns}`");
        return Ok(());
    };
    let spec = &cur["spec"];
    let holder = spec["holderIdentity"].as_str().unwrap_or("?");
    let renewed = spec["renewTime"].as_str().or(spec["acquireTime"].as_str()).unwrap_or("?");
    let age = chrono::DateTime::parse_from_rfc3339(renewed)
        .map(|t| (now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .ok();
    let duration = spec["leaseDurationSeconds"].as_i64().unwrap_or(DURATION_SECS);
    let age_text = age.map(|a| format!("{a} s ago")).unwrap_or_else(|| "at an unknown time".into());
    crate::errln!("vscript: the maintenance lock of namespace `{ns}` is held by {holder}, last renewed {renewed} ({age_text})");
    let fresh = age.is_none_or(|a| a < duration);
    let yes = host.opts().yes
        || (host.opts().interactive && {
            crate::err!("  ? Remove the maintenance lock of namespace `{ns}` held by another run? [y/N] ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            matches!(line.trim(), "y" | "yes" | "Y")
        });
    if !yes {
        return Err(Failure::refused("--force-unlock needs confirmation: answer yes, or add --yes"));
    }
    if !fresh {
        return Ok(());
    }
    let why = format!(
        "the holder renewed its lock {age_text}, within the lease's {duration} s: it may still be running and changing the installation"
    );
    if !host.opts().interactive {
        return Err(Failure::refused(format!(
            "refusing --force-unlock: {why}. Stop that run first, or wait until its lease expires; to remove it anyway, run at a terminal and type the namespace"
        )));
    }
    crate::err!("  ! {why}.\n  ? Type the namespace `{ns}` to remove its lock anyway: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if line.trim() != ns {
        return Err(Failure::refused("--force-unlock not confirmed: the namespace was not typed"));
    }
    Ok(())
}

/// Takes the Lease and starts renewing it on `bg`; a renewal that finds the lease taken
/// over (or cannot renew it before it expires) makes the next change refuse
/// (`Lease::refusal`).
pub fn take_for(host: &Host, bg: &tokio::runtime::Handle, holder: &str, force: bool, resumed: Option<&str>) -> Result<Held, Failure> {
    let c = host
        .k8s_client()
        .map_err(|e| Failure::failed(format!("cannot take the maintenance lock: {e}")))?;
    let ns = host.target().namespace.clone();
    let uid = match host.block(
        "taking the maintenance lock",
        Duration::from_secs(60),
        acquire(&c, &ns, holder, force, resumed),
    ) {
        Ok(uid) => uid,
        Err(crate::engine::host::BlockError::Inner(e @ LockError::Held { .. })) => {
            return Err(Failure::refused(format!("refusing to run: {e}")));
        }
        Err(e) => {
            return Err(Failure::failed(format!(
                "cannot take the maintenance lock on {} (context `{}`): {e}",
                c.server, c.context
            )));
        }
    };
    let lease = host.state().lease.clone();
    lease.renewed(now() + chrono::Duration::seconds(DURATION_SECS));
    crate::errln!("vscript: holding the maintenance lock (Lease {}/{})", ns, LEASE);
    // VSCRIPT_LOCK_RENEW_SECS shortens the renewal interval (tests).
    let renew_every = std::env::var("VSCRIPT_LOCK_RENEW_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(RENEW_EVERY);
    // The renewal runs in the background runtime, so it goes on while the script thread
    // waits for an answer or computes; it has its own client (one bound to the script's
    // runtime only makes progress while the script waits), made at the first renewal.
    let (target, holder2, uid2) = (host.target().clone(), holder.to_owned(), uid.clone());
    let renewer = bg.spawn(async move {
        let mut client = None;
        loop {
            tokio::time::sleep(renew_every).await;
            if client.is_none() {
                client = K8sClient::connect(&target).await.ok();
            }
            let Some(c) = &client else { continue };
            match renew(c, &target.namespace, &holder2, &uid2).await {
                Ok(Renewal::Held(until)) => lease.renewed(until),
                Ok(Renewal::Lost(why)) => {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "  ! lost the maintenance lock: {why}; this run makes no further change"
                    );
                    lease.lost(why);
                    return;
                }
                // Not renewed this time: the lease stays valid until its last renewal expires.
                Err(_) => {}
            }
        }
    });
    Ok(Held { uid, renewer })
}

impl Held {
    /// Stops renewing and releases the lease if it is still ours.
    pub fn release(self, host: &Host) {
        self.renewer.abort();
        // Also after an interrupt: the release must not be cancelled with the run.
        host.state().reset_cancel();
        let ns = host.target().namespace.clone();
        if let Ok(c) = host.k8s_client() {
            let _ = host.block(
                "releasing the maintenance lock",
                Duration::from_secs(10),
                release(&c, &ns, &self.uid),
            );
        }
        host.state().lease.released();
    }
}

/// Releases the lease if it is still the one we took (one request: a delete with a uid
/// precondition; a lease someone else took over in the meantime is left alone).
pub async fn release(c: &K8sClient, ns: &str, uid: &str) -> Result<(), K8sError> {
    let kind = K8sClient::kind("Lease")?;
    c.delete_if_uid(&kind, ns, LEASE, uid).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration() {
        let fresh = json!({"spec": {"renewTime": micro(now()), "leaseDurationSeconds": 60}});
        assert!(!expired(&fresh));
        let old = json!({"spec": {"renewTime": micro(now() - chrono::Duration::seconds(61)), "leaseDurationSeconds": 60}});
        assert!(expired(&old));
    }
}
