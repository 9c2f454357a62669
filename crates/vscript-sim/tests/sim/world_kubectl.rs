//! The runbook's kubectl commands against the simulator, checking the resulting state:
//! scale, rollout restart + status, jobs from CronJobs, PVC expansion and the influxdb
//! redeploy, server-side dry runs, and a failing backup job.

use crate::world_support::T;
use vscript_sim::SeedOptions;
use vscript_sim::store::res;

#[test]
fn get_and_scale_statefulsets_by_ordinal() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let out = t.k(&["get", "sts", "-n", &ns]);
    for (name, ready) in [
        ("vantiq", "3/3"),
        ("metrics-collector", "1/1"),
        ("vision-analytics", "2/2"),
        ("mongodb", "1/1"),
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(name) && l.contains(ready)),
            "{name} {ready}:\n{out}"
        );
    }
    let pods = t.k(&["get", "pods", "-n", &ns, "-l", "app=vantiq", "-o", "name"]);
    assert_eq!(pods.lines().collect::<Vec<_>>(), ["pod/vantiq-0", "pod/vantiq-1", "pod/vantiq-2"]);
    let secret = t.k(&["get", "secret", "-n", "shared", "default-ssl-cert", "-o", "jsonpath={.type}"]);
    assert_eq!(secret, "kubernetes.io/tls");

    t.k(&["scale", "sts", "-n", &ns, "vision-analytics", "--replicas=0"]);
    t.wait_for("vision-analytics gone", 20, |t| t.pods(&ns, "vision-analytics").is_empty());
    let sts = t.get("StatefulSet", &ns, "vision-analytics").unwrap();
    assert_eq!(
        (sts["status"]["replicas"].as_u64(), sts["status"]["readyReplicas"].as_u64()),
        (Some(0), None)
    );

    // OrderedReady: ordinal 0 first, then 1.
    t.k(&["scale", "sts", "-n", &ns, "vision-analytics", "--replicas=2"]);
    t.wait_for("vision-analytics-0 created", 10, |t| {
        t.get("Pod", &ns, "vision-analytics-0").is_some()
    });
    assert!(
        t.get("Pod", &ns, "vision-analytics-1").is_none(),
        "ordinal 1 must wait for 0 to be ready"
    );
    let out = t.k(&["rollout", "status", "sts", "-n", &ns, "vision-analytics", "--timeout=30s"]);
    assert!(out.contains("partitioned roll out complete: 2 new pods have been updated"), "{out}");
    assert_eq!(t.ready(&ns, "vision-analytics"), 2);

    // Scale down removes the highest ordinals first.
    t.k(&["scale", "sts", "-n", &ns, "vantiq", "--replicas=1"]);
    t.wait_for("vantiq at 1", 20, |t| t.pods(&ns, "vantiq").len() == 1);
    assert!(t.get("Pod", &ns, "vantiq-0").is_some());
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn rollout_restart_replaces_every_vantiq_pod() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let uids = |t: &T| -> Vec<String> {
        (0..3)
            .map(|i| {
                t.get("Pod", &ns, &format!("vantiq-{i}"))
                    .map_or(String::new(), |p| p["metadata"]["uid"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let before = uids(&t);
    let rev_before = t.get("StatefulSet", &ns, "vantiq").unwrap()["status"]["updateRevision"].clone();
    let out = t.k(&["rollout", "restart", "sts", "-n", &ns, "vantiq"]);
    assert!(out.contains("statefulset.apps/vantiq restarted"), "{out}");
    let out = t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 3 new pods have been updated"), "{out}");
    let sts = t.get("StatefulSet", &ns, "vantiq").unwrap();
    let st = &sts["status"];
    assert_ne!(st["updateRevision"], rev_before);
    assert_eq!(st["currentRevision"], st["updateRevision"]);
    for k in [
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "currentReplicas",
        "availableReplicas",
    ] {
        assert_eq!(st[k], 3, "{k}: {st}");
    }
    assert_eq!(st["observedGeneration"], sts["metadata"]["generation"]);
    let after = uids(&t);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "every pod was replaced");
    }
    for i in 0..3 {
        let p = t.get("Pod", &ns, &format!("vantiq-{i}")).unwrap();
        assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], st["updateRevision"]);
        assert!(p["spec"]["template"].is_null());
        assert!(!p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_null());
    }
}

#[test]
fn backup_job_from_cronjob_logs_completes_and_a_failing_one_fails() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let out = t.k(&["create", "job", "-n", &ns, "manual-backup", "--from=CronJob/mongobackup"]);
    assert!(out.contains("job.batch/manual-backup created"), "{out}");
    let logs = t.k(&["logs", "-n", &ns, "-f", "job/manual-backup"]);
    assert!(
        logs.contains("mongodump: archive written:") && logs.contains("documents in 12 collections"),
        "{logs}"
    );
    t.k(&["wait", "-n", &ns, "--for=condition=complete", "job/manual-backup", "--timeout=30s"]);
    let job = t.get("Job", &ns, "manual-backup").unwrap();
    let types: Vec<&str> = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert!(!job["status"]["completionTime"].is_null());
    let pods = t.store().list(res("Pod"), Some(&ns), Some("job-name=manual-backup"), None).0;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["status"]["phase"], "Succeeded");
    assert_eq!(pods[0]["metadata"]["ownerReferences"][0]["controller"], true);
    let snaps = t.state()["databases"]["snapshots"].as_array().unwrap().clone();
    assert_eq!(snaps.last().unwrap()["job"], "manual-backup");

    std::fs::write(t.sim().dir.join("faults.json"), r#"{"jobs": {"mongobackup": "fail"}}"#).unwrap();
    t.k(&["create", "job", "-n", &ns, "broken-backup", "--from=CronJob/mongobackup"]);
    let out = t.kubectl(&["wait", "-n", &ns, "--for=condition=complete", "job/broken-backup", "--timeout=5s"]);
    assert!(!out.status.success());
    t.k(&["wait", "-n", &ns, "--for=condition=failed", "job/broken-backup", "--timeout=30s"]);
    let job = t.get("Job", &ns, "broken-backup").unwrap();
    assert_eq!(job["status"]["failed"], 1);
    assert_eq!(job["status"]["conditions"][1]["reason"], "BackoffLimitExceeded");
    assert_eq!(t.state()["databases"]["snapshots"].as_array().unwrap().len(), snaps.len());
}

#[test]
fn influxdb_volume_expansion_in_runbook_order() {
    let t = T::start(SeedOptions::default(), 200.0);
    let pvc = "influxdb-data-influxdb-0";
    let sc = t.k(&["get", "sc", "vantiq-sc", "-o", "jsonpath={.allowVolumeExpansion}"]);
    assert_eq!(sc, "true");
    let pv = t.get("PersistentVolumeClaim", "shared", pvc).unwrap()["spec"]["volumeName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pv.starts_with("pvc-"));
    t.k(&[
        "patch",
        "pvc",
        "-n",
        "shared",
        pvc,
        "-p",
        r#"{"spec":{"resources":{"requests":{"storage":"55Gi"}}}}"#,
    ]);
    t.wait_for("pvc capacity 55Gi", 30, |t| {
        t.get("PersistentVolumeClaim", "shared", pvc).unwrap()["status"]["capacity"]["storage"] == "55Gi"
    });
    assert_eq!(t.get("PersistentVolume", "", &pv).unwrap()["spec"]["capacity"]["storage"], "55Gi");
    let out = t.k(&["get", "pv", &pv]);
    assert!(out.contains("55Gi"), "{out}");

    // deployShared before deleting the StatefulSet fails like helm.
    let deploy = t.target().join("deploy.yaml");
    t.edit(&deploy, "    size: 50Gi", "    size: 55Gi");
    let cluster = format!("-Pcluster={}", t.sim().info.cluster);
    let out = t.gradlew(&[&cluster, "deployShared"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UPGRADE FAILED") && err.contains("Forbidden"), "{err}");

    t.k(&["delete", "sts", "-n", "shared", "influxdb"]);
    assert!(t.get("StatefulSet", "shared", "influxdb").is_none());
    let out = t.gradle("deployShared");
    assert!(out.contains("statefulset.apps/influxdb created"), "{out}");
    let sts = t.get("StatefulSet", "shared", "influxdb").unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "55Gi"
    );
    t.wait_for("influxdb ready", 30, |t| t.ready("shared", "influxdb") == 1);
    let claim = t.get("PersistentVolumeClaim", "shared", pvc).unwrap();
    assert_eq!(claim["spec"]["volumeName"], pv.as_str(), "the same volume is reused");
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn server_side_dry_runs_change_nothing() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let rv = t.store().resource_version();
    let before = t.store().snapshot();
    t.k(&["scale", "sts", "-n", &ns, "vantiq", "--replicas=0", "--dry-run=server"]);
    t.k(&[
        "patch",
        "pvc",
        "-n",
        "shared",
        "influxdb-data-influxdb-0",
        "--dry-run=server",
        "-p",
        r#"{"spec":{"resources":{"requests":{"storage":"60Gi"}}}}"#,
    ]);
    t.k(&["delete", "sts", "-n", "shared", "influxdb", "--dry-run=server"]);
    t.k(&["create", "job", "-n", &ns, "dry", "--from=CronJob/mongobackup", "--dry-run=server"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(t.store().resource_version(), rv);
    assert_eq!(t.store().snapshot(), before);
}
