//! The invariant checker: what the runbook forbids, recorded with a timestamp the
//! moment it happens, whoever caused it (kubectl, gradlew, vscript). Violations are
//! appended to `DIR/violations.jsonl` at once (one JSON object a line) and kept in
//! memory. Some rules are checked here on every committed write (certificates,
//! licenses, deleted data); the others by the controllers at the transition that
//! breaks them (a migration starting, a pod starting); the end-of-procedure rules
//! (`component-left-stopped`, `statefulset-not-recreated`, see [`super::maintenance`])
//! are *pending* while they hold: published in `DIR/violations-pending.json`, part of
//! every read of the violations, cleared by a repair, and recorded for good when the
//! simulator stops.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{World, license, pki};
use crate::store::{EventType, Store, WatchEvent};

/// One broken rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// When it happened, RFC 3339 with milliseconds.
    pub at: String,
    /// Stable id: `concurrent-migration`, `component-during-migration`,
    /// `migration-without-backup`, `image-older-than-schema`, `bad-certificate-served`,
    /// `license-invalid`, `data-lost`, `component-left-stopped`, `backup-restored-twice`,
    /// `statefulset-not-recreated`, `deploy-wrong-namespace`.
    pub rule: String,
    /// What, which objects, since when.
    pub message: String,
}

/// The record of violations of one simulator run.
pub struct Invariants {
    path: PathBuf,
    pending_path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    list: Mutex<Vec<Violation>>,
    /// Violations that hold now and become final when the simulator stops, unless repaired.
    pending: Mutex<Vec<Violation>>,
    seen: Mutex<HashSet<String>>,
}

/// The pending violations' file name in the simulator's directory.
pub const PENDING_FILE: &str = "violations-pending.json";

impl Invariants {
    /// Starts an empty record at `DIR/violations.jsonl` (truncating an old one).
    pub fn create(dir: &Path) -> std::io::Result<Invariants> {
        let path = dir.join("violations.jsonl");
        let file = std::fs::File::create(&path)?;
        let pending_path = dir.join(PENDING_FILE);
        let _ = std::fs::remove_file(&pending_path);
        Ok(Invariants {
            path,
            pending_path,
            file: Mutex::new(Some(file)),
            list: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
            seen: Mutex::new(HashSet::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a violation once per `key` (the episode: e.g. one migration).
    pub fn report(&self, rule: &str, key: &str, message: impl Into<String>) {
        self.record(
            key,
            Violation {
                at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                rule: rule.to_owned(),
                message: message.into(),
            },
        );
    }

    fn record(&self, key: &str, v: Violation) {
        if !self.seen.lock().unwrap().insert(format!("{}/{key}", v.rule)) {
            return;
        }
        if let Some(f) = self.file.lock().unwrap().as_mut() {
            let mut line = serde_json::to_string(&v).unwrap_or_default();
            line.push('\n');
            let _ = f.write_all(line.as_bytes());
            let _ = f.flush();
        }
        self.list.lock().unwrap().push(v);
    }

    /// Every violation: the recorded ones, then those pending now.
    pub fn all(&self) -> Vec<Violation> {
        let mut v = self.list.lock().unwrap().clone();
        v.extend(self.pending.lock().unwrap().iter().cloned());
        v
    }

    /// Replaces the pending violations (and `DIR/violations-pending.json`) when they changed.
    pub fn set_pending(&self, v: Vec<Violation>) {
        let mut cur = self.pending.lock().unwrap();
        if *cur == v {
            return;
        }
        if v.is_empty() {
            let _ = std::fs::remove_file(&self.pending_path);
        } else {
            let tmp = self.pending_path.with_extension("json.tmp");
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &self.pending_path);
            }
        }
        *cur = v;
    }

    /// Records `pending` for good (the simulator stops) and clears the pending set.
    pub fn finalize(&self, pending: Vec<Violation>) {
        self.set_pending(Vec::new());
        for v in pending {
            let key = v.message.clone();
            self.record(&key, v);
        }
    }
}

/// Reads `DIR/violations.jsonl`, then the violations pending now
/// (`DIR/violations-pending.json`, while the simulator runs or if it was killed).
pub fn read(dir: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut out = read_recorded(dir)?;
    let pending = dir.join(PENDING_FILE);
    if let Ok(text) = std::fs::read_to_string(&pending) {
        let v: Vec<Violation> = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", pending.display()))?;
        out.extend(v);
    }
    Ok(out)
}

fn read_recorded(dir: &Path) -> anyhow::Result<Vec<Violation>> {
    let path = dir.join("violations.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("no simulator has run in {}: {} does not exist", dir.display(), path.display())
        }
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

/// Registers the write observer on the store.
pub fn install(world: &Arc<World>) {
    let weak: Weak<World> = Arc::downgrade(world);
    world.store.observe(Arc::new(move |store: &Store, ev: &WatchEvent| {
        if let Some(w) = weak.upgrade() {
            on_write(&w, store, ev);
        }
    }));
}

fn b64(obj: &Value, key: &str) -> Option<String> {
    let s = obj["data"][key].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(raw).ok()
}

fn on_write(w: &Arc<World>, store: &Store, ev: &WatchEvent) {
    let ns = ev.namespace.as_str();
    match (ev.resource.kind, ev.kind) {
        ("Secret", EventType::Added | EventType::Modified) => {
            let tls = (ns == "shared" && ev.name == "default-ssl-cert") || (ns == w.ns && ev.name == "vantiq-ssl-cert");
            if tls {
                check_tls_secret(w, ns, &ev.name, &ev.object);
            }
            if ns == w.ns && ev.name == "vantiq-license" {
                check_license_secret(w, store, &ev.object);
            }
        }
        ("Pod", EventType::Added | EventType::Modified) => {
            w.pod_written(ev);
        }
        ("Pod", EventType::Deleted) => w.pod_deleted(ev),
        ("Lease" | "StatefulSet", _) => {
            if ev.resource.kind == "StatefulSet" && ev.kind == EventType::Deleted && ns == w.ns && ev.name == "mongodb" {
                w.invariants.report(
                    "data-lost",
                    &format!("sts/{}", super::rv(&ev.object)),
                    format!("StatefulSet {ns}/mongodb was deleted: the Vantiq database is gone"),
                );
            }
            super::maintenance::on_event(w, ev);
        }
        ("PersistentVolumeClaim", EventType::Deleted) if ns == w.ns && ev.name.contains("mongodb") => {
            w.invariants.report(
                "data-lost",
                &format!("pvc/{}", ev.name),
                format!("PersistentVolumeClaim {ns}/{} holding the Vantiq database was deleted", ev.name),
            );
        }
        _ => {}
    }
}

fn check_tls_secret(w: &World, ns: &str, name: &str, obj: &Value) {
    let key = format!("{ns}/{name}@{}", super::rv(obj));
    let (Some(crt), Some(k)) = (b64(obj, "tls.crt"), b64(obj, "tls.key")) else {
        w.invariants
            .report("bad-certificate-served", &key, format!("Secret {ns}/{name} has no tls.crt/tls.key"));
        return;
    };
    let info = match pki::leaf_info(&crt) {
        Ok(i) => i,
        Err(e) => {
            w.invariants.report(
                "bad-certificate-served",
                &key,
                format!("Secret {ns}/{name}: tls.crt is unreadable: {e}"),
            );
            return;
        }
    };
    if info.not_after < Utc::now() {
        w.invariants.report(
            "bad-certificate-served",
            &key,
            format!(
                "Secret {ns}/{name} holds a certificate for {} that expired at {}",
                info.subject,
                info.not_after.to_rfc3339()
            ),
        );
    } else if !pki::key_matches(&crt, &k) {
        w.invariants.report(
            "bad-certificate-served",
            &key,
            format!("Secret {ns}/{name}: tls.key does not match the certificate for {}", info.subject),
        );
    } else if !pki::chain_complete(&crt, &w.root_subjects()) {
        w.invariants.report(
            "bad-certificate-served",
            &key,
            format!(
                "Secret {ns}/{name}: the chain of {} is incomplete (an intermediate certificate is missing)",
                info.subject
            ),
        );
    } else if !w.trust_roots().iter().any(|ca| pki::issued_by(&crt, ca)) {
        w.invariants.report(
            "untrusted-certificate-served",
            &key,
            format!(
                "Secret {ns}/{name}: the chain of {} does not lead to a root its clients trust (self-signed, or signed by an unknown CA): every client fails with UnknownIssuer",
                info.subject
            ),
        );
    }
}

fn check_license_secret(w: &World, store: &Store, obj: &Value) {
    let pods = store.list(crate::store::res("Pod"), Some(&w.ns), Some("app=vantiq"), None).0.len();
    if pods == 0 {
        return;
    }
    // A license may be binary: read it as bytes (b64() wants UTF-8 text).
    let raw = |key: &str| {
        let s = obj["data"][key].as_str()?;
        let b = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        Some(String::from_utf8_lossy(&b).into_owned())
    };
    let verdict = match (raw("public.pem"), raw("license.key")) {
        // A license the simulator cannot read is accepted (valid, expiry unknown).
        (Some(p), Some(k)) => license::assess(&p, &k, Utc::now()).err().map(|e| e.to_string()),
        _ => Some("public.pem or license.key is missing".into()),
    };
    if let Some(why) = verdict {
        w.invariants.report(
            "license-invalid",
            &format!("license@{}", super::rv(obj)),
            format!(
                "Secret {}/vantiq-license was written with an unusable license while {pods} vantiq pod(s) exist: {why}",
                w.ns
            ),
        );
    }
}
