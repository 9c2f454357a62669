//! Minor upgrades and rollbacks done by hand with the real kubectl and the generated
//! `./gradlew`, in the runbook's order (no violation) and in wrong orders (the
//! invariant that the runbook's order protects fires).

use crate::world_support::T;
use vscript_sim::SeedOptions;

/// Steps 2–5: new tag in deploy.yaml, new system release, setupCluster.
fn prepare(t: &T, tag: &str) {
    let deploy = t.target().join("deploy.yaml");
    t.edit(&deploy, "    tag: 1.30.10\n  # Number", &format!("    tag: {tag}\n  # Number"));
    t.edit(
        &t.target().join("cluster.properties"),
        "vantiq_system_release=3.10.0",
        "vantiq_system_release=3.11.0",
    );
    let out = t.gradle("setupCluster");
    assert!(out.contains("> Task :setupCluster"), "{out}");
    let cm = t.get("ConfigMap", &t.ns(), "vantiq-cluster-config").unwrap();
    assert_eq!(cm["data"]["vantiq_system_release"], "3.11.0");
}

fn scale(t: &T, sts: &str, n: u32) {
    let ns = t.ns();
    t.k(&["scale", "sts", "-n", &ns, sts, &format!("--replicas={n}")]);
}

fn stop_all(t: &T) {
    for s in ["vantiq", "metrics-collector", "vision-analytics"] {
        scale(t, s, 0);
    }
    let ns = t.ns();
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
}

fn backup(t: &T, job: &str) {
    let ns = t.ns();
    let out = t.k(&["create", "job", "-n", &ns, job, "--from=CronJob/mongobackup"]);
    assert!(out.contains(&format!("job.batch/{job} created")), "{out}");
    let logs = t.k(&["logs", "-n", &ns, "-f", &format!("job/{job}")]);
    assert!(logs.contains("mongodump: archive written:"), "{logs}");
    t.k(&[
        "wait",
        "-n",
        &ns,
        "--for=condition=complete",
        &format!("job/{job}"),
        "--timeout=60s",
    ]);
    let j = t.get("Job", &ns, job).unwrap();
    assert_eq!(j["status"]["succeeded"], 1);
}

fn schema(t: &T) -> String {
    t.state()["databases"]["mongo"]["schema"].as_str().unwrap().to_owned()
}

#[test]
fn minor_upgrade_in_runbook_order_then_rollback_records_no_violation() {
    // The default speed: a whole minor upgrade must take well under 20 s.
    let t = T::start(SeedOptions::default(), vscript_sim::world::clock::DEFAULT_SPEED);
    let started = std::time::Instant::now();
    let ns = t.ns();
    let git = std::process::Command::new("git")
        .arg("pull")
        .current_dir(t.tools())
        .output()
        .unwrap();
    assert!(git.status.success(), "{}", String::from_utf8_lossy(&git.stderr));
    prepare(&t, "1.31.0");
    stop_all(&t);
    let snaps_before = t.state()["databases"]["snapshots"].as_array().unwrap().len();
    backup(&t, "mongobackup-before-1-31");
    assert_eq!(t.state()["databases"]["snapshots"].as_array().unwrap().len(), snaps_before + 1);

    let out = t.gradle("deployVantiq");
    assert!(out.contains("> Task :deployVantiq") && out.contains("BUILD SUCCESSFUL"), "{out}");
    assert_eq!(
        t.get("StatefulSet", &ns, "vantiq").unwrap()["spec"]["replicas"],
        3,
        "deployVantiq resets to 3"
    );
    scale(&t, "vantiq", 1);
    scale(&t, "metrics-collector", 0);
    scale(&t, "vision-analytics", 0);

    let log = t.follow_logs(&ns, "vantiq-0", "load-model", 30);
    assert!(log.contains("load-model: server 1.31.0, database schema 1.30"), "{log}");
    assert!(log.contains("load-model: migrating schema 1.30 -> 1.31: step 3/8"), "{log}");
    assert!(log.trim_end().ends_with("load-model: COMPLETED schema migration to 1.31"), "{log}");
    t.k(&["wait", "-n", &ns, "--for=condition=Ready", "pod/vantiq-0", "--timeout=30s"]);
    assert_eq!(schema(&t), "1.31");
    assert_eq!(t.state()["runningVersion"], "1.31.0");

    scale(&t, "vantiq", 3);
    scale(&t, "metrics-collector", 1);
    scale(&t, "vision-analytics", 2);
    let out = t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert!(out.contains("3 new pods have been updated"), "{out}");
    t.wait_for("components back", 30, |t| {
        t.ready(&ns, "metrics-collector") == 1 && t.ready(&ns, "vision-analytics") == 2
    });
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the upgrade took {:?}",
        started.elapsed()
    );

    // Rollback: stop, restore the backup, previous tag, deployVantiq, scale back.
    stop_all(&t);
    for (job, cj) in [("mongorestore", "mongorestore"), ("userdbrestore", "userdbrestore")] {
        t.k(&["create", "job", "-n", &ns, job, &format!("--from=cronjob/{cj}")]);
        t.k(&[
            "wait",
            "-n",
            &ns,
            "--for=condition=complete",
            &format!("job/{job}"),
            "--timeout=60s",
        ]);
    }
    let logs = t.k(&["logs", "-n", &ns, "job/mongorestore"]);
    assert!(
        logs.contains("mongorestore: restored snapshot mongobackup-") && logs.contains("(schema 1.30)"),
        "{logs}"
    );
    assert_eq!(schema(&t), "1.30");
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.31.0\n  # Number",
        "    tag: 1.30.10\n  # Number",
    );
    t.gradle("deployVantiq");
    t.wait_for("vantiq back on 1.30.10", 60, |t| t.ready(&ns, "vantiq") == 3);
    assert_eq!(t.state()["runningVersion"], "1.30.10");
    let log = t.k(&["logs", "-n", &ns, "vantiq-0", "-c", "load-model"]);
    assert!(log.contains("COMPLETED schema is up to date (1.30)"), "{log}");
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    let dir = t.shutdown();
    assert!(vscript_sim::check(dir.path()).unwrap().is_empty());
}

#[test]
fn deploy_vantiq_without_scaling_to_one_is_a_concurrent_migration() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    prepare(&t, "1.31.0");
    stop_all(&t);
    backup(&t, "backup-1");
    t.gradle("deployVantiq"); // and no scale to 1 / 0
    t.wait_for("migration done", 60, |t| schema(t) == "1.31");
    let rules = t.rules();
    assert!(rules.contains(&"concurrent-migration".to_owned()), "{:#?}", t.violations());
    assert!(rules.contains(&"component-during-migration".to_owned()), "{:#?}", t.violations());
    assert!(!rules.contains(&"migration-without-backup".to_owned()), "{:#?}", t.violations());
    let v = t.violations().into_iter().find(|v| v.rule == "concurrent-migration").unwrap();
    assert!(
        // Parallel pods: which two start load-model first depends on scheduling.
        v.message.matches("vantiq-").count() >= 2 && v.message.contains("1.30 -> 1.31"),
        "{}",
        v.message
    );
    let dir = t.shutdown();
    let recorded = vscript_sim::check(dir.path()).unwrap();
    assert!(recorded.iter().any(|v| v.rule == "concurrent-migration"), "{recorded:#?}");
    let _ = ns;
}

#[test]
fn upgrade_without_backup_and_scaling_up_during_migration_are_reported() {
    let t = T::start(SeedOptions::default(), 100.0);
    let ns = t.ns();
    prepare(&t, "1.31.0");
    stop_all(&t);
    t.gradle("deployVantiq");
    scale(&t, "vantiq", 1);
    scale(&t, "metrics-collector", 0);
    scale(&t, "vision-analytics", 0);
    t.wait_for("migration running", 30, |t| !t.state()["databases"]["migration"].is_null());
    assert!(t.rules().contains(&"migration-without-backup".to_owned()), "{:#?}", t.violations());
    scale(&t, "vantiq", 3); // while the schema migration runs
    t.wait_for("migration done", 60, |t| schema(t) == "1.31");
    assert!(t.rules().contains(&"concurrent-migration".to_owned()), "{:#?}", t.violations());
    let _ = ns;
}

#[test]
fn rollback_without_restore_starts_an_image_older_than_the_schema() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    prepare(&t, "1.31.0");
    scale(&t, "vantiq", 0);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    backup(&t, "backup-1");
    t.gradle("deployVantiq");
    scale(&t, "vantiq", 1);
    t.wait_for("migrated", 60, |t| schema(t) == "1.31" && t.ready(&ns, "vantiq") == 1);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    // Roll back the image without restoring the database.
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.31.0\n  # Number",
        "    tag: 1.30.10\n  # Number",
    );
    t.gradle("deployVantiq");
    t.wait_for("image-older-than-schema", 60, |t| {
        t.rules().contains(&"image-older-than-schema".to_owned())
    });
    let log = t.follow_logs(&ns, "vantiq-2", "load-model", 30);
    assert!(
        log.contains("load-model: FAILED database schema 1.31 is newer than server 1.30.10; restore a backup made by 1.30 first"),
        "{log}"
    );
    let out = t.k(&["get", "pods", "-n", &ns, "vantiq-2"]);
    assert!(out.contains("Init:"), "{out}");
}

#[test]
fn a_failed_migration_crash_loops_until_the_fault_is_gone() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    std::fs::write(t.sim().dir.join("faults.json"), r#"{"migration": "fail"}"#).unwrap();
    prepare(&t, "1.31.0");
    scale(&t, "vantiq", 0);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    backup(&t, "backup-1");
    t.gradle("deployVantiq");
    scale(&t, "vantiq", 1);
    let log = t.follow_logs(&ns, "vantiq-0", "load-model", 30);
    assert!(
        log.trim_end().ends_with("(injected fault)") && log.contains("load-model: FAILED migration step 5/8:"),
        "{log}"
    );
    t.wait_for("load-model restarted", 30, |t| {
        t.get("Pod", &ns, "vantiq-0")
            .is_some_and(|p| p["status"]["initContainerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(schema(&t), "1.30");
    assert_eq!(t.ready(&ns, "vantiq"), 0);
    std::fs::remove_file(t.sim().dir.join("faults.json")).unwrap();
    t.wait_for("migrated after the fault is gone", 60, |t| {
        schema(t) == "1.31" && t.ready(&ns, "vantiq") == 1
    });
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn patch_upgrade_rolls_vantiq_without_migration_or_downtime() {
    let t = T::start(SeedOptions::default(), vscript_sim::world::clock::DEFAULT_SPEED);
    let ns = t.ns();
    prepare(&t, "1.30.11");
    t.gradle("deployVantiq");
    let out = t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 3 new pods have been updated"), "{out}");
    for i in 0..3 {
        let p = t.get("Pod", &ns, &format!("vantiq-{i}")).unwrap();
        assert_eq!(p["spec"]["containers"][0]["image"], "vantiq/vantiq-server:1.30.11");
    }
    let log = t.k(&["logs", "-n", &ns, "vantiq-0", "-c", "load-model"]);
    assert!(log.contains("COMPLETED schema is up to date (1.30)"), "{log}");
    assert_eq!(schema(&t), "1.30");
    assert_eq!(t.state()["runningVersion"], "1.30.11");
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
}

#[test]
fn restoring_without_any_backup_loses_data() {
    let t = T::start(
        SeedOptions {
            nightly_backup: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    t.k(&["create", "job", "-n", &ns, "mongorestore", "--from=cronjob/mongorestore"]);
    t.k(&["wait", "-n", &ns, "--for=condition=failed", "job/mongorestore", "--timeout=30s"]);
    let v = t.violations();
    assert!(
        v.iter()
            .any(|v| v.rule == "data-lost" && v.message.contains("no backup to restore")),
        "{v:#?}"
    );
}
