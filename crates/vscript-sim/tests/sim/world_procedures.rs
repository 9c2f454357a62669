//! The rules judged over a whole maintenance procedure (the `vscript-maintenance` lease
//! from creation to deletion, or the whole simulator run when done by hand), and the
//! rules about which backup a restore or a deploy relies on: each fires for a
//! deliberately wrong sequence, by hand with the real kubectl and `./gradlew`, and stays
//! silent for the runbook's order. `vscript-sim check` (the same check as `vscript sim
//! check`) agrees and names the rule.

use std::path::Path;
use std::process::Command;

use crate::world_support::T;
use vscript_sim::SeedOptions;

fn scale(t: &T, sts: &str, n: u32) {
    let ns = t.ns();
    t.k(&["scale", "sts", "-n", &ns, sts, &format!("--replicas={n}")]);
}

/// Takes the maintenance lock as vscript does (a Lease in the Vantiq namespace).
fn take_lock(t: &T, holder: &str) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let file = t.sim().dir.join("lease.json");
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "vscript-maintenance", "namespace": t.ns()},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now},
    });
    std::fs::write(&file, lease.to_string()).unwrap();
    t.k(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
}

fn release_lock(t: &T) {
    let ns = t.ns();
    t.k(&["delete", "lease", "-n", &ns, "vscript-maintenance"]);
}

/// `vscript-sim check --dir DIR`: (exit code, stdout).
fn check(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vscript-sim"))
        .args(["check", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rules(t: &T) -> Vec<String> {
    t.rules()
}

#[test]
fn a_component_left_stopped_by_a_procedure_is_a_violation_until_it_runs_again() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    // The runbook's order: everything stopped during the procedure is started again.
    take_lock(&t, "alice@bastion pid 1 run 1-minor_upgrade");
    for s in ["vantiq", "metrics-collector", "vision-analytics"] {
        scale(&t, s, 0);
    }
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    scale(&t, "vantiq", 3);
    scale(&t, "metrics-collector", 1);
    scale(&t, "vision-analytics", 2);
    release_lock(&t);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());

    // A wrong procedure: it stops metrics-collector and ends without starting it.
    take_lock(&t, "bob@bastion pid 2 run 2-wrong");
    scale(&t, "metrics-collector", 0);
    assert!(t.violations().is_empty(), "nothing is judged while the procedure runs");
    release_lock(&t);
    let v = t.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].rule, "component-left-stopped");
    assert!(
        v[0].message
            .contains(&format!("StatefulSet {ns}/metrics-collector had 1 replica(s)"))
            && v[0].message.contains("bob@bastion pid 2 run 2-wrong"),
        "{}",
        v[0].message
    );
    let dir = t.sim().dir.clone();
    let (code, out) = check(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("component-left-stopped"), "{out}");

    // A later repair (the rollback a failed procedure points to) clears it.
    take_lock(&t, "bob@bastion pid 3 run 3-rollback");
    scale(&t, "metrics-collector", 1);
    release_lock(&t);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    assert_eq!(check(&dir).0, 0);

    // Left stopped when the simulator stops: recorded for good.
    take_lock(&t, "carol@bastion pid 4 run 4-wrong");
    scale(&t, "vision-analytics", 0);
    release_lock(&t);
    let dir = t.shutdown();
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("component-left-stopped") && out.contains("vision-analytics"), "{out}");
    assert!(!dir.path().join("violations-pending.json").exists());
    let recorded = std::fs::read_to_string(dir.path().join("violations.jsonl")).unwrap();
    assert!(recorded.contains("vision-analytics"), "{recorded}");
}

#[test]
fn a_procedure_whose_lease_is_still_held_at_shutdown_is_judged_then() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    take_lock(&t, "dave@bastion pid 5 run 5-killed");
    scale(&t, "vantiq", 0);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    let dir = t.shutdown();
    let v = vscript_sim::check(dir.path()).unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].rule, "component-left-stopped");
    assert!(v[0].message.contains("its lease was still held"), "{}", v[0].message);
}

#[test]
fn by_hand_the_whole_run_is_the_procedure() {
    // Stopped and started again: nothing to report.
    let t = T::start(SeedOptions::default(), 200.0);
    scale(&t, "vision-analytics", 0);
    assert_eq!(rules(&t), ["component-left-stopped"], "judged on the state now");
    scale(&t, "vision-analytics", 2);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    // Stopped when the simulator stops.
    scale(&t, "vision-analytics", 0);
    let dir = t.shutdown();
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("component-left-stopped") && out.contains("when the simulator started"),
        "{out}"
    );
}

#[test]
fn a_statefulset_deleted_and_not_recreated_by_the_end_of_the_procedure() {
    let t = T::start(SeedOptions::default(), 200.0);
    // The runbook's influxdb resize: the StatefulSet is deleted, then deployShared recreates it.
    take_lock(&t, "erin@bastion pid 6 run 6-influxdb_pv_resize");
    t.k(&["delete", "sts", "-n", "shared", "influxdb", "--cascade=orphan"]);
    t.gradle("deployShared");
    release_lock(&t);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());

    // Wrong: deleted, and the procedure ends before deployShared.
    take_lock(&t, "erin@bastion pid 7 run 7-wrong");
    t.k(&["delete", "sts", "-n", "shared", "influxdb", "--cascade=orphan"]);
    release_lock(&t);
    let v = t.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].rule, "statefulset-not-recreated");
    assert!(
        v[0].message.contains("StatefulSet shared/influxdb was deleted") && v[0].message.contains("7-wrong"),
        "{}",
        v[0].message
    );
    let (code, out) = check(&t.sim().dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("statefulset-not-recreated"), "{out}");
    // Recreated later: cleared.
    t.gradle("deployShared");
    assert!(t.violations().is_empty(), "{:#?}", t.violations());

    // By hand: grafana deleted and never recreated, found when the simulator stops.
    let t2 = T::start(SeedOptions::default(), 200.0);
    t2.k(&["delete", "sts", "-n", "shared", "grafana"]);
    let dir = t2.shutdown();
    let v = vscript_sim::check(dir.path()).unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].rule == "statefulset-not-recreated" && v[0].message.contains("shared/grafana"),
        "{v:#?}"
    );
}

fn job(t: &T, name: &str, cronjob: &str) {
    let ns = t.ns();
    t.k(&["create", "job", "-n", &ns, name, &format!("--from=cronjob/{cronjob}")]);
    t.k(&[
        "wait",
        "-n",
        &ns,
        "--for=condition=complete",
        &format!("job/{name}"),
        "--timeout=60s",
    ]);
}

fn writes(t: &T) -> u64 {
    t.state()["databases"]["mongo"]["app_writes"].as_u64().unwrap()
}

#[test]
fn restoring_one_backup_twice_after_new_writes_is_a_violation() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            userdb: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    let stop = |t: &T| {
        scale(t, "vantiq", 0);
        t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    };
    stop(&t);
    job(&t, "backup-1", "mongobackup");
    // The first rollback: restore, start, the application writes.
    job(&t, "restore-1", "mongorestore");
    // Restoring it again before anything was written loses nothing.
    job(&t, "restore-1b", "mongorestore");
    let twice = |t: &T| {
        t.violations()
            .into_iter()
            .filter(|v| v.rule == "backup-restored-twice")
            .collect::<Vec<_>>()
    };
    assert!(twice(&t).is_empty(), "{:#?}", t.violations());
    let after_restore = writes(&t);
    scale(&t, "vantiq", 3);
    t.wait_for("vantiq serving and writing", 30, |t| {
        t.ready(&ns, "vantiq") >= 1 && writes(t) > after_restore
    });
    // A second rollback restores the same snapshot over the new writes.
    stop(&t);
    job(&t, "restore-2", "mongorestore");
    let v = twice(&t);
    assert_eq!(v.len(), 1, "{:#?}", t.violations());
    assert!(
        v[0].message.contains("restore-2") && v[0].message.contains("first restored by restore-1b"),
        "{}",
        v[0].message
    );
    let (code, out) = check(&t.sim().dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("backup-restored-twice"), "{out}");

    // The runbook's order: a new backup before the next upgrade, so the next rollback
    // restores that one.
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            userdb: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    stop(&t);
    job(&t, "backup-1", "mongobackup");
    job(&t, "restore-1", "mongorestore");
    let before = writes(&t);
    scale(&t, "vantiq", 3);
    t.wait_for("writes", 30, |t| writes(t) > before);
    stop(&t);
    job(&t, "backup-2", "mongobackup");
    job(&t, "restore-2", "mongorestore");
    let logs = t.k(&["logs", "-n", &ns, "job/restore-2"]);
    assert!(logs.contains("restored snapshot mongobackup-"), "{logs}");
    scale(&t, "vantiq", 3);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

/// A second namespace holding another installation's backup CronJob.
fn other_namespace_with_backups(t: &T, other: &str) {
    t.k(&["create", "namespace", other]);
    let mut cj: serde_json::Value = serde_json::from_str(&t.k(&["get", "cronjob", "-n", &t.ns(), "mongobackup", "-o", "json"])).unwrap();
    let m = cj["metadata"].as_object_mut().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"] {
        m.remove(k);
    }
    m.insert("namespace".into(), serde_json::json!(other));
    cj.as_object_mut().unwrap().remove("status");
    let file = t.sim().dir.join("cj.json");
    std::fs::write(&file, cj.to_string()).unwrap();
    t.k(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
}

#[test]
fn deploy_vantiq_where_the_backup_was_not_taken_is_a_violation() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    other_namespace_with_backups(&t, "acme-old");
    // cluster.properties names the namespace twice; Java (and so gradle) takes the last
    // one, a reader taking the first one backs up the wrong installation.
    let props = t.target().join("cluster.properties");
    let text = std::fs::read_to_string(&props).unwrap();
    std::fs::write(&props, format!("vantiq.installation=acme-old\n{text}")).unwrap();
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.30.11\n  # Number",
    );
    t.k(&["create", "job", "-n", "acme-old", "backup-1", "--from=cronjob/mongobackup"]);
    t.k(&[
        "wait",
        "-n",
        "acme-old",
        "--for=condition=complete",
        "job/backup-1",
        "--timeout=60s",
    ]);
    t.gradle("deployVantiq");
    let sts = t.get("StatefulSet", &ns, "vantiq").unwrap();
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"], "vantiq/vantiq-server:1.30.11",
        "the shim deployed where Java's last duplicate points"
    );
    let v = t.violations();
    let hit = v
        .iter()
        .find(|v| v.rule == "deploy-wrong-namespace")
        .expect("deploy-wrong-namespace");
    assert!(
        hit.message
            .contains(&format!("deployVantiq into namespace {ns} while vantiq pods run there"))
            && hit.message.contains("taken in namespace acme-old"),
        "{}",
        hit.message
    );
    let (code, out) = check(&t.sim().dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deploy-wrong-namespace"), "{out}");

    // The runbook's order in the right namespace: no violation.
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    other_namespace_with_backups(&t, "acme-old");
    scale(&t, "vantiq", 0);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    t.k(&["create", "job", "-n", &ns, "backup-1", "--from=cronjob/mongobackup"]);
    t.k(&["wait", "-n", &ns, "--for=condition=complete", "job/backup-1", "--timeout=60s"]);
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.30.11\n  # Number",
    );
    t.gradle("deployVantiq");
    t.wait_for("vantiq back", 30, |t| t.ready(&ns, "vantiq") == 3);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn a_backup_in_another_namespace_is_no_backup_of_this_database() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            nightly_backup: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    other_namespace_with_backups(&t, "acme-old");
    t.k(&["create", "job", "-n", "acme-old", "backup-1", "--from=cronjob/mongobackup"]);
    t.k(&[
        "wait",
        "-n",
        "acme-old",
        "--for=condition=complete",
        "job/backup-1",
        "--timeout=60s",
    ]);
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.31.0\n  # Number",
    );
    scale(&t, "vantiq", 0);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    t.gradle("deployVantiq");
    scale(&t, "vantiq", 1);
    t.wait_for("migration started", 30, |t| {
        t.rules().contains(&"migration-without-backup".to_owned())
    });
    // A restore here does not find the other namespace's snapshot either.
    t.wait_for("migrated", 60, |t| t.ready(&ns, "vantiq") == 1);
    scale(&t, "vantiq", 0);
    t.k(&["create", "job", "-n", &ns, "restore-1", "--from=cronjob/mongorestore"]);
    t.k(&["wait", "-n", &ns, "--for=condition=failed", "job/restore-1", "--timeout=60s"]);
    assert!(t.rules().contains(&"data-lost".to_owned()), "{:#?}", t.violations());
}

#[test]
fn the_gradle_shim_reads_cluster_properties_as_java_does() {
    let t = T::start(SeedOptions::default(), 200.0);
    let props = t.target().join("cluster.properties");
    let text = std::fs::read_to_string(&props).unwrap().replace(
        "vantiq_system_release=3.10.0",
        "vantiq_system_release = 3.10.0\nvantiq_system_release : 3.\\\n    11.\\\n    0\nprovider\tgcp\n",
    );
    std::fs::write(&props, text).unwrap();
    t.gradle("setupCluster");
    let cm = t.get("ConfigMap", &t.ns(), "vantiq-cluster-config").unwrap();
    assert_eq!(cm["data"]["vantiq_system_release"], "3.11.0", "the last duplicate, continued");
    assert_eq!(cm["data"]["provider"], "gcp", "white space separates a key too");
    // A malformed \u escape: Java cannot load the file, so every task fails.
    let mut bytes = std::fs::read(&props).unwrap();
    bytes.extend_from_slice(b"owner=Jos\\u00g9\n");
    std::fs::write(&props, bytes).unwrap();
    let out = t.gradlew(&[&format!("-Pcluster={}", t.sim().info.cluster), "setupCluster"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Malformed \\uxxxx encoding."), "{err}");
    // ISO-8859-1: a Latin-1 byte is a character, as Java reads it.
    let text = std::fs::read_to_string(&props).unwrap().replace("owner=Jos\\u00g9\n", "");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"provider=caf\xe9\n");
    std::fs::write(&props, bytes).unwrap();
    t.gradle("setupCluster");
    let cm = t.get("ConfigMap", &t.ns(), "vantiq-cluster-config").unwrap();
    assert_eq!(cm["data"]["provider"], "caf\u{e9}");
}
