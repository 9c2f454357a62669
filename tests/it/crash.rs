//! The crash matrix: every mutating procedure is interrupted after each of its changes in
//! turn — by SIGKILL, and separately by an API error on that change's request — and then
//! resumed with `--resume`. The end state must equal the uninterrupted run's: images,
//! replica counts, the database schema, deploy.yaml, cluster.properties and the sensitive
//! files byte for byte, the Secrets, no invariant violation, the lock released.
//!
//! The matrix is derived from the journal of an uninterrupted run: a new change in a
//! procedure is covered without editing this file. The installation has non-default
//! replica counts (vantiq 2, vision-analytics 1), so "restored to the defaults" and
//! "restored to what was there" differ.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use vscript_sim::SeedOptions;
use vscript_sim::store::res;

use crate::harness::{Cluster, Output, post_faults, run_id, signal_and_wait, spawn_until_env, tree};

/// A procedure of the matrix: its parameters, and what must happen before it (a rollback
/// needs its upgrade).
struct Procedure {
    name: &'static str,
    sets: fn(&Cluster) -> Vec<(String, String)>,
    before: Option<(&'static str, fn(&Cluster) -> Vec<(String, String)>)>,
}

fn none(_: &Cluster) -> Vec<(String, String)> {
    Vec::new()
}

fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The timeout of the procedures that take one: long enough for the simulator (speed
/// 150), short enough that an injected fault on a guarding write gives up in seconds.
const TIMEOUT: &str = "8";

fn minor(_: &Cluster) -> Vec<(String, String)> {
    sets(&[("tag", "1.31.0"), ("release", "3.11.0"), ("timeout", TIMEOUT)])
}
fn minor_rollback(_: &Cluster) -> Vec<(String, String)> {
    sets(&[("timeout", TIMEOUT)])
}
fn patch(_: &Cluster) -> Vec<(String, String)> {
    sets(&[("tag", "1.30.11"), ("release", "3.10.1")])
}
fn license(c: &Cluster) -> Vec<(String, String)> {
    vec![
        ("public_pem".into(), c.incoming("public.pem")),
        ("license_key".into(), c.incoming("license.key")),
    ]
}
fn ssl(c: &Cluster) -> Vec<(String, String)> {
    vec![
        ("fullchain".into(), c.incoming("fullchain.crt")),
        ("private_key".into(), c.incoming("private.key")),
    ]
}
fn resize(_: &Cluster) -> Vec<(String, String)> {
    sets(&[("size", "55Gi")])
}

/// The installation every run starts from: vantiq at 2 and vision-analytics at 1.
fn installation() -> Cluster {
    let seed = SeedOptions {
        vantiq_replicas: 2,
        ..SeedOptions::default()
    };
    let c = Cluster::with(seed, None);
    let ns = c.ns();
    let mut va = c.get("StatefulSet", &ns, "vision-analytics").expect("vision-analytics");
    va["spec"]["replicas"] = json!(1);
    c.store()
        .update(res("StatefulSet"), &ns, "vision-analytics", va, false)
        .expect("scale vision-analytics to 1");
    c.settle();
    c
}

fn run(c: &Cluster, name: &str, s: &[(String, String)], extra: &[&str]) -> Output {
    let pairs: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args = vec!["--yes"];
    args.extend_from_slice(extra);
    c.run_with(name, &pairs, &args)
}

/// Names for the contents of the files an installation starts with and the ones the
/// operator installs: each simulator generates its own keys and licenses, so end states
/// of different simulators compare by what is where, not by bytes.
type Labels = BTreeMap<Vec<u8>, String>;

fn labels(c: &Cluster) -> Labels {
    let mut l = Labels::new();
    for (name, bytes) in tree(&c.tools().join("targetCluster/deploy/sensitive")) {
        l.insert(bytes, format!("installed {name}"));
    }
    for (name, bytes) in tree(Path::new(&c.sim().info.incoming_dir)) {
        l.insert(bytes, format!("new {name}"));
    }
    l
}

fn label(l: &Labels, bytes: &[u8]) -> Vec<u8> {
    match l.get(bytes) {
        Some(name) => name.clone().into_bytes(),
        // Not a key, certificate or license file: compared as it is.
        None => bytes.to_vec(),
    }
}

/// A fresh installation, with what the procedure needs before it already done.
fn prepared(p: &Procedure) -> (Cluster, Labels) {
    let c = installation();
    let l = labels(&c);
    if let Some((before, s)) = p.before {
        run(&c, before, &s(&c), &[]).ok();
    }
    (c, l)
}

/// What a run is judged by.
#[derive(Debug, PartialEq)]
struct EndState {
    images: BTreeMap<String, String>,
    replicas: BTreeMap<String, Option<i64>>,
    schema: String,
    files: BTreeMap<String, Vec<u8>>,
    secrets: BTreeMap<String, Value>,
    lease: bool,
}

fn end_state(c: &Cluster, l: &Labels) -> EndState {
    let ns = c.ns();
    let mut images = BTreeMap::new();
    let mut replicas = BTreeMap::new();
    for (n, s) in [
        (&ns, "vantiq"),
        (&ns, "metrics-collector"),
        (&ns, "vision-analytics"),
        (&"shared".to_owned(), "influxdb"),
    ] {
        let o = c.get("StatefulSet", n, s);
        replicas.insert(format!("{n}/{s}"), o.as_ref().map(|o| o["spec"]["replicas"].as_i64().unwrap_or(1)));
        if let Some(o) = o {
            images.insert(
                format!("{n}/{s}"),
                o["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
    }
    let tc = c.tools().join("targetCluster");
    let mut files = BTreeMap::new();
    for f in ["deploy.yaml", "cluster.properties"] {
        files.insert(f.to_owned(), std::fs::read(tc.join(f)).unwrap());
    }
    // A file kept by a rollback is named after the second it was kept in.
    let stamp = regex::Regex::new(r"rollback-\d{14}").unwrap();
    for (name, bytes) in tree(&tc.join("deploy/sensitive")) {
        files.insert(format!("sensitive/{}", stamp.replace(&name, "rollback-*")), label(l, &bytes));
    }
    let mut secrets = BTreeMap::new();
    for n in [ns.as_str(), "shared"] {
        for s in c.store().list(res("Secret"), Some(n), None, None).0 {
            use base64::Engine as _;
            let name = s["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let data: BTreeMap<String, String> = s["data"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let raw = base64::engine::general_purpose::STANDARD
                                .decode(v.as_str().unwrap_or(""))
                                .unwrap_or_default();
                            (k.clone(), String::from_utf8_lossy(&label(l, &raw)).into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            secrets.insert(format!("{n}/{name}"), json!(data));
        }
    }
    EndState {
        images,
        replicas,
        schema: c.schema(),
        files,
        secrets,
        lease: c.get("Lease", &ns, "vscript-maintenance").is_some(),
    }
}

/// The changes an uninterrupted run made, in order: `(action, target)`.
fn changes(tools: &Path, id: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(tools.join(format!(".vscript/runs/{id}.jsonl"))).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "effect" && e["data"]["result"] == "done" && e["data"]["replayed"] != true)
        .map(|e| {
            (
                e["data"]["action"].as_str().unwrap_or("").to_owned(),
                e["data"]["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The uninterrupted run: its end state and its changes.
fn reference(p: &Procedure) -> (EndState, Vec<(String, String)>) {
    let (c, l) = prepared(p);
    let out = run(&c, p.name, &(p.sets)(&c), &[]);
    out.ok();
    c.assert_no_violation();
    let state = end_state(&c, &l);
    assert!(!state.lease, "{}: the lock is released", p.name);
    (state, changes(&c.tools(), &run_id(&out.stderr)))
}

/// Resumes an interrupted run and checks the end state against the reference.
fn resume_and_compare(c: &Cluster, l: &Labels, p: &Procedure, id: &str, want: &EndState, what: &str) {
    let out = run(c, p.name, &[], &["--resume", id]);
    assert_eq!(out.code, 0, "{} {what}: the resume failed:\n{}", p.name, out.all());
    compare(c, l, p, &out, want, what);
}

/// The end state after `out` must be the uninterrupted run's.
fn compare(c: &Cluster, l: &Labels, p: &Procedure, out: &Output, want: &EndState, what: &str) {
    let v = c.violations();
    assert!(v.is_empty(), "{} {what}: invariant violations: {v:#?}\n{}", p.name, out.all());
    let got = end_state(c, l);
    if got != *want {
        let diff: Vec<String> = [
            ("images", format!("{:?}", got.images), format!("{:?}", want.images)),
            ("replicas", format!("{:?}", got.replicas), format!("{:?}", want.replicas)),
            ("schema", got.schema.clone(), want.schema.clone()),
            (
                "files",
                format!("{:?}", got.files.keys().collect::<Vec<_>>()),
                format!("{:?}", want.files.keys().collect::<Vec<_>>()),
            ),
            ("lease", got.lease.to_string(), want.lease.to_string()),
        ]
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("{k}: got {a}, want {b}"))
        .collect();
        let files: Vec<&String> = got
            .files
            .iter()
            .filter(|(k, v)| want.files.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        let secrets: Vec<&String> = got
            .secrets
            .iter()
            .filter(|(k, v)| want.secrets.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        panic!(
            "{} {what}: the end state differs from the uninterrupted run's: {diff:#?}\nfiles differing: {files:?}\nsecrets differing: {secrets:?}\n{}",
            p.name,
            out.all()
        );
    }
}

/// Kill after change `n`, resume, compare.
fn kill_after(p: &Procedure, n: usize, change: &(String, String), want: &EndState) {
    let (c, l) = prepared(p);
    let s = (p.sets)(&c);
    let mut args: Vec<String> = vec![p.name.to_owned()];
    for (k, v) in &s {
        args.push("--set".into());
        args.push(format!("{k}={v}"));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let n_s = n.to_string();
    let (mut child, seen) = spawn_until_env(&c, &a, &[("VSCRIPT_PAUSE_AFTER_CHANGE", &n_s)], &format!("paused after change {n}"));
    // Generated names (a backup Job's) carry the time: compared without their digits.
    let digits = regex::Regex::new(r"\d{8,}").unwrap();
    let last = seen.lines().rfind(|l| l.starts_with("  ✓ ")).unwrap_or("");
    assert!(
        digits
            .replace_all(last, "*")
            .contains(&*digits.replace_all(&format!("{} {}", change.0, change.1), "*")),
        "{}: change {n} is {change:?} in the uninterrupted run, but this run did:\n{seen}",
        p.name
    );
    signal_and_wait(&mut child, "-KILL", Duration::from_secs(10));
    resume_and_compare(
        &c,
        &l,
        p,
        &run_id(&seen),
        want,
        &format!("killed after change {n} ({} {})", change.0, change.1),
    );
}

/// The request a change makes, as a fault rule that fails it and its retries; `None` for
/// changes that are not API requests. The failures outlast the client's own retries (five
/// tries), so the step fails — unless the write guards an invariant and is retried for
/// the procedure's timeout, as it must be.
fn fault_for(change: &(String, String), earlier: &[(String, String)]) -> Option<Value> {
    let (method, path) = request(change)?;
    // Earlier changes whose requests the same rule matches pass first.
    let after = earlier
        .iter()
        .filter_map(request)
        .filter(|(m, p)| *m == method && p.contains(&path))
        .count();
    Some(json!({ "method": method, "path_contains": path, "after": after, "times": FAULTS, "action": "status:500" }))
}

/// The method and path of the request a change makes (`None`: not an API request).
fn request((action, target): &(String, String)) -> Option<(&'static str, String)> {
    let object = target.split_once(' ').map(|(_, o)| o.rsplit('/').next().unwrap_or(o))?;
    Some(match action.as_str() {
        "k8s.scale" => ("PATCH", format!("/statefulsets/{object}/scale")),
        "k8s.rollout_restart" => ("PATCH", format!("/statefulsets/{object}")),
        "k8s.delete" => ("DELETE", format!("/statefulsets/{object}")),
        "k8s.pvc_resize" => ("PATCH", format!("/persistentvolumeclaims/{object}")),
        // Jobs are created under generated names.
        "k8s.create_job" => ("POST", "/jobs".to_owned()),
        _ => return None,
    })
}

const FAULTS: u32 = 5;

/// Fail change `n` (API errors on its request, or a failing gradle task). A run that
/// stops is resumed once the fault is cleared; one that rode the fault out is compared
/// as it is.
fn fail_at(p: &Procedure, n: usize, all: &[(String, String)], want: &EndState) {
    let change = &all[n - 1];
    let (c, l) = prepared(p);
    let gradle_task = change
        .0
        .strip_prefix("gradle.run")
        .map(|_| change.1.rsplit(' ').next().unwrap_or("").to_owned());
    let faults = c.sim().dir.join("faults.json");
    match (&gradle_task, fault_for(change, &all[..n - 1])) {
        (Some(task), _) => {
            // The task fails every time it runs from now on (earlier runs of it succeeded).
            let earlier = all[..n - 1].iter().filter(|x| *x == change).count();
            assert_eq!(earlier, 0, "{}: a gradle task that runs twice needs a counted fault", p.name);
            std::fs::write(&faults, json!({ "gradle": { task: "fail" } }).to_string()).unwrap();
        }
        (None, Some(rule)) => post_faults(&c, &json!({ "api": [rule] }).to_string()),
        (None, None) => return,
    }
    let out = run(&c, p.name, &(p.sets)(&c), &[]);
    let what = format!("failed at change {n} ({} {})", change.0, change.1);
    if out.code == 0 {
        assert!(
            gradle_task.is_none(),
            "{}: a failing gradle task did not fail the run:\n{}",
            p.name,
            out.all()
        );
        assert!(
            out.stderr.contains("retrying"),
            "{} {what}: the run neither failed nor retried:\n{}",
            p.name,
            out.all()
        );
        compare(&c, &l, p, &out, want, &what);
        return;
    }
    let id = run_id(&out.stderr);
    post_faults(&c, r#"{"api": []}"#);
    let _ = std::fs::remove_file(&faults);
    resume_and_compare(&c, &l, p, &id, want, &what);
}

/// Runs `f` for 1..=n on a few threads (each case has its own simulator).
fn parallel(n: usize, f: impl Fn(usize) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(1);
    let workers = std::env::var("VSCRIPT_CRASH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i > n {
                        return;
                    }
                    f(i);
                }
            });
        }
    });
}

fn matrix(p: &Procedure) {
    let (want, all) = reference(p);
    assert!(!all.is_empty(), "{}: the uninterrupted run changed nothing", p.name);
    eprintln!("{}: {} changes: {all:?}", p.name, all.len());
    parallel(all.len() * 2, |i| {
        let n = (i + 1) / 2;
        if i % 2 == 1 {
            kill_after(p, n, &all[n - 1], &want);
        } else {
            fail_at(p, n, &all, &want);
        }
    });
}

#[test]
fn crash_matrix_minor_upgrade() {
    matrix(&Procedure {
        name: "minor_upgrade",
        sets: minor,
        before: None,
    });
}

#[test]
fn crash_matrix_minor_upgrade_rollback() {
    matrix(&Procedure {
        name: "minor_upgrade_rollback",
        sets: minor_rollback,
        before: Some(("minor_upgrade", minor)),
    });
}

#[test]
fn crash_matrix_patch_upgrade_and_rollback() {
    matrix(&Procedure {
        name: "patch_upgrade",
        sets: patch,
        before: None,
    });
    matrix(&Procedure {
        name: "patch_upgrade_rollback",
        sets: none,
        before: Some(("patch_upgrade", patch)),
    });
}

#[test]
fn crash_matrix_license_renew_and_rollback() {
    matrix(&Procedure {
        name: "license_renew",
        sets: license,
        before: None,
    });
    matrix(&Procedure {
        name: "license_renew_rollback",
        sets: none,
        before: Some(("license_renew", license)),
    });
}

#[test]
fn crash_matrix_ssl_renew_and_rollback() {
    matrix(&Procedure {
        name: "ssl_renew",
        sets: ssl,
        before: None,
    });
    matrix(&Procedure {
        name: "ssl_renew_rollback",
        sets: none,
        before: Some(("ssl_renew", ssl)),
    });
}

#[test]
fn crash_matrix_influxdb_pv_resize() {
    matrix(&Procedure {
        name: "influxdb_pv_resize",
        sets: resize,
        before: None,
    });
}
