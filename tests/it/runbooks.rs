//! Every shipped procedure, run by the real binary against the simulated cluster: final
//! cluster state, files, report, journal, and the simulator's invariant report.

use crate::harness::{Cluster, cluster_objects, project_dir, tree, vscript};
use vscript_sim::SeedOptions;

fn ready(c: &Cluster, sts: &str) -> i64 {
    c.get("StatefulSet", &c.ns(), sts)
        .map(|s| s["status"]["readyReplicas"].as_i64().unwrap_or(0))
        .unwrap_or(-1)
}

fn write_faults(c: &Cluster, json: &str) {
    std::fs::write(c.sim().dir.join("faults.json"), json).unwrap();
}

fn journal_files(c: &Cluster) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(c.tools().join(".vscript/runs"))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// deploy.yaml with one value changed, and nothing else.
fn assert_only_change(before: &str, after: &str, from: &str, to: &str) {
    assert_eq!(before.replacen(from, to, 1), after, "deploy.yaml changed beyond `{from}` -> `{to}`");
}

#[test]
fn minor_upgrade_migrates_with_one_pod_and_restores_replicas() {
    let c = Cluster::start();
    let yaml_before = c.read("targetCluster/deploy.yaml");
    let out = c.run("minor_upgrade", &[("tag", "1.31.0"), ("release", "3.11.0")]);
    out.ok();
    assert!(c.image("vantiq").ends_with(":1.31.0"), "{}", c.image("vantiq"));
    assert_eq!(c.schema(), "1.31");
    assert_eq!(c.component_replicas(), (Some(3), Some(1), Some(2)));
    c.settle();
    assert_eq!(ready(&c, "vantiq"), 3);
    // The backup ran, completed, and was taken before the migration.
    let db = c.sim().world.db.lock().unwrap().clone();
    let snap = db
        .snapshots
        .iter()
        .rev()
        .find(|s| s.job.starts_with("mongobackup-"))
        .expect("a backup snapshot");
    assert_eq!(snap.mongo.schema, "1.30");
    // Files: only the addressed value changed.
    assert_only_change(&yaml_before, &c.read("targetCluster/deploy.yaml"), "tag: 1.30.10", "tag: 1.31.0");
    assert!(c.read("targetCluster/cluster.properties").contains("vantiq_system_release=3.11.0"));
    // Report and journal.
    assert!(out.stdout.contains("==== Vantiq minor upgrade ===="), "{}", out.all());
    assert!(
        out.stdout.contains("version after") && out.stdout.contains("1.31.0"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains(&snap.job), "the report names the backup job: {}", out.all());
    let runs = journal_files(&c);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let journal = std::fs::read_to_string(c.tools().join(".vscript/runs").join(&runs[0])).unwrap();
    assert!(
        journal.contains("\"8. Deploy the new version and hold Vantiq at one pod\""),
        "{journal}"
    );
    assert!(journal.contains("\"backup_job\""), "{journal}");
    c.assert_no_violation();
}

/// deploy.yaml and cluster.properties, byte for byte.
fn config(c: &Cluster) -> (String, String) {
    (c.read("targetCluster/deploy.yaml"), c.read("targetCluster/cluster.properties"))
}

#[test]
fn minor_upgrade_then_rollback_restores_version_and_data() {
    let c = Cluster::start();
    let before = config(&c);
    c.run("minor_upgrade", &[("tag", "1.31.0"), ("release", "3.11.0")]).ok();
    assert_eq!(c.schema(), "1.31");
    assert_ne!(config(&c), before);
    let out = c.run("minor_upgrade_rollback", &[]);
    out.ok();
    assert!(c.image("vantiq").ends_with(":1.30.10"), "{}", c.image("vantiq"));
    assert_eq!(c.schema(), "1.30", "MongoDB restored from the backup");
    assert_eq!(config(&c), before, "deploy.yaml and cluster.properties are as before the upgrade");
    assert_eq!(c.component_replicas(), (Some(3), Some(1), Some(2)));
    let jobs = c.store().list(vscript_sim::store::res("Job"), Some(&c.ns()), None, None).0;
    let names: Vec<&str> = jobs.iter().map(|j| j["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("mongorestore-")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("userdbrestore-")),
        "userdb is enabled: {names:?}"
    );
    c.assert_no_violation();
}

#[test]
fn minor_upgrade_skips_absent_optional_components() {
    let seed = SeedOptions {
        metrics_collector: false,
        vision_analytics: false,
        userdb: false,
        ..SeedOptions::default()
    };
    let c = Cluster::with(seed, None);
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    out.ok();
    assert!(
        out.stderr
            .contains("metrics-collector is not configured in this installation: skipped"),
        "{}",
        out.all()
    );
    assert!(c.get("StatefulSet", &c.ns(), "metrics-collector").is_none());
    assert_eq!(c.replicas("vantiq"), Some(3));
    assert_eq!(c.schema(), "1.31");
    let out = c.run("minor_upgrade_rollback", &[]);
    out.ok();
    assert!(out.stderr.contains("userdb is not enabled: no userdbrestore"), "{}", out.all());
    assert_eq!(c.schema(), "1.30");
    c.assert_no_violation();
}

#[test]
fn minor_upgrade_stops_when_the_backup_fails() {
    let c = Cluster::start();
    let before = config(&c);
    write_faults(&c, r#"{"jobs": {"mongobackup": "fail"}}"#);
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("failed"), "{}", out.all());
    assert!(
        out.stderr.contains("vscript run minor_upgrade_rollback"),
        "the failure names the rollback: {}",
        out.all()
    );
    // Nothing was deployed: old image, old schema, no migration.
    assert!(c.image("vantiq").ends_with(":1.30.10"));
    assert_eq!(c.schema(), "1.30");
    assert_eq!(c.replicas("vantiq"), Some(0), "Vantiq stays stopped; the report says so");
    assert!(out.stderr.contains("vantiq: replicas 0"), "{}", out.all());
    // Nothing was deployed: the rollback restores configuration and replicas, not the database.
    write_faults(&c, "{}");
    let out = c.run("minor_upgrade_rollback", &[]);
    out.ok();
    assert!(
        out.stderr.contains("the upgrade did not deploy: MongoDB is not restored"),
        "{}",
        out.all()
    );
    let jobs = c.store().list(vscript_sim::store::res("Job"), Some(&c.ns()), None, None).0;
    assert!(
        !jobs
            .iter()
            .any(|j| j["metadata"]["name"].as_str().unwrap().starts_with("mongorestore-")),
        "no restore ran"
    );
    assert_eq!(c.component_replicas(), (Some(3), Some(1), Some(2)));
    assert_eq!(config(&c), before, "deploy.yaml and cluster.properties are as before the upgrade");
    c.assert_no_violation();
}

#[test]
fn rollback_refuses_when_a_newer_backup_would_be_restored() {
    let c = Cluster::start();
    c.run("minor_upgrade", &[("tag", "1.31.0")]).ok();
    c.run("mongo_backup", &[]).ok(); // someone backs up again after the upgrade
    let out = c.run("minor_upgrade_rollback", &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("is newer than the upgrade's backup"), "{}", out.all());
    assert!(out.stderr.contains("stopped before changing anything"), "{}", out.all());
    assert!(c.image("vantiq").ends_with(":1.31.0"), "nothing was rolled back");
    assert_eq!(c.replicas("vantiq"), Some(3));
    c.assert_no_violation();
}

#[test]
fn minor_upgrade_stops_on_a_failed_migration_and_points_to_the_rollback() {
    let c = Cluster::start();
    write_faults(&c, r#"{"migration": "fail"}"#);
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("reports a failure: load-model: FAILED"), "{}", out.all());
    assert!(out.stderr.contains("scripts/minor_upgrade.rhai"), "{}", out.all());
    assert!(out.stderr.contains("vscript run minor_upgrade_rollback"), "{}", out.all());
    assert_eq!(
        c.replicas("metrics-collector"),
        Some(0),
        "components stay stopped after a failed migration"
    );
    // The rollback brings the installation back.
    write_faults(&c, "{}");
    c.run("minor_upgrade_rollback", &[]).ok();
    assert!(c.image("vantiq").ends_with(":1.30.10"));
    assert_eq!(c.schema(), "1.30");
    assert_eq!(c.replicas("metrics-collector"), Some(1));
    c.assert_no_violation();
}

#[test]
fn a_minor_upgrade_that_skips_scaling_to_one_is_caught_by_the_simulator() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(project_dir().join("scripts/minor_upgrade.rhai")).unwrap();
    let wrong = text
        .replace("    k8s::scale(\"vantiq\", 1, #{ retry_for: timeout });\n", "")
        .replace(
            "    vantiq::hold_for_migration(timeout);\n    if !is_dry_run()",
            "    for name in [\"metrics-collector\", \"vision-analytics\"] { if vantiq::manages(name) { k8s::scale(name, 0); } }\n    if !is_dry_run()",
        )
        .replace("    || vantiq::hold_for_migration(timeout)\n);", "    || ()\n);")
        .replace("if k8s::replicas(\"vantiq\") != 1", "if false");
    assert!(!wrong.contains("hold_for_migration"), "nothing holds vantiq at one pod any more");
    assert_ne!(wrong, text, "the deliberate mistake was applied");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("minor_upgrade_wrong.rhai");
    std::fs::write(&p, wrong).unwrap();
    let _ = c.run(&p.display().to_string(), &[("tag", "1.31.0")]);
    let v = c.violations();
    assert!(
        v.iter().any(|x| x.rule == "concurrent-migration"),
        "expected a concurrent-migration violation, got {v:#?}"
    );
    let out = vscript(&["sim", "check", "--dir", &c.sim().dir.display().to_string()], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("concurrent-migration"), "{}", out.all());
}

#[test]
fn patch_upgrade_rolls_vantiq_and_rollback_returns() {
    let c = Cluster::start();
    let before = config(&c);
    let out = c.run("patch_upgrade", &[("tag", "1.30.11"), ("release", "3.10.1")]);
    out.ok();
    assert!(c.image("vantiq").ends_with(":1.30.11"));
    assert_eq!(c.schema(), "1.30");
    c.settle();
    assert_eq!(ready(&c, "vantiq"), 3);
    assert!(out.stdout.contains("==== Vantiq patch upgrade ===="), "{}", out.all());
    let refused = c.run("patch_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("use minor_upgrade"), "{}", refused.all());
    c.run("patch_upgrade_rollback", &[]).ok();
    assert!(c.image("vantiq").ends_with(":1.30.10"));
    assert_eq!(config(&c), before, "deploy.yaml and cluster.properties are as before the upgrade");
    c.assert_no_violation();
}

fn license_secret(c: &Cluster) -> String {
    let s = c.get("Secret", &c.ns(), "vantiq-license").expect("license secret");
    s["data"]["license.key"].as_str().unwrap_or("").to_owned()
}

#[test]
fn license_renew_installs_backs_up_restarts_and_rollback_restores() {
    let c = Cluster::start();
    let old_secret = license_secret(&c);
    let old_key = c.read("targetCluster/deploy/sensitive/license.key");
    let pods_before: Vec<String> = c
        .store()
        .list(vscript_sim::store::res("Pod"), Some(&c.ns()), Some("app=vantiq"), None)
        .0
        .iter()
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
    );
    out.ok();
    let new_key = std::fs::read_to_string(c.incoming("license.key")).unwrap();
    assert_eq!(c.read("targetCluster/deploy/sensitive/license.key"), new_key);
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    assert_eq!(
        c.read(&format!("targetCluster/deploy/sensitive/license.key.{today}")),
        old_key,
        "dated backup of the old file"
    );
    assert_ne!(license_secret(&c), old_secret, "the secret holds the new license");
    c.settle();
    let pods_after: Vec<String> = c
        .store()
        .list(vscript_sim::store::res("Pod"), Some(&c.ns()), Some("app=vantiq"), None)
        .0
        .iter()
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pods_after.len(), 3);
    assert!(
        pods_after.iter().all(|u| !pods_before.contains(u)),
        "every vantiq pod was restarted"
    );
    assert!(out.stdout.contains("==== Vantiq license renewal ===="), "{}", out.all());
    c.run("license_renew_rollback", &[]).ok();
    assert_eq!(c.read("targetCluster/deploy/sensitive/license.key"), old_key);
    assert_eq!(license_secret(&c), old_secret);
    c.assert_no_violation();
}

fn served_fingerprint(c: &Cluster) -> String {
    let s = c.get("Secret", "shared", "default-ssl-cert").unwrap();
    s["data"]["tls.crt"].as_str().unwrap().to_owned()
}

#[test]
fn ssl_renew_serves_the_new_certificate_and_rollback_restores_it() {
    let c = Cluster::start();
    let old = served_fingerprint(&c);
    let old_chain = c.read("targetCluster/deploy/sensitive/fullchain.crt");
    let out = c.run(
        "ssl_renew",
        &[
            ("fullchain", &c.incoming("fullchain.crt")),
            ("private_key", &c.incoming("private.key")),
        ],
    );
    out.ok();
    assert_ne!(served_fingerprint(&c), old);
    assert!(
        out.stderr.contains("served certificate:"),
        "verified against the HTTPS endpoint: {}",
        out.all()
    );
    let today = chrono::Local::now().format("%Y%m%d").to_string();
    assert_eq!(c.read(&format!("targetCluster/deploy/sensitive/fullchain.crt.{today}")), old_chain);
    c.run("ssl_renew_rollback", &[]).ok();
    assert_eq!(served_fingerprint(&c), old);
    assert_eq!(c.read("targetCluster/deploy/sensitive/fullchain.crt"), old_chain);
    c.assert_no_violation();
}

#[test]
fn ssl_renew_refuses_bad_certificates_and_changes_nothing() {
    use vscript_sim::pki;
    let c = Cluster::start();
    c.settle();
    let host = c.sim().info.vantiq_host.clone();
    let ca = pki::Ca::generate().unwrap();
    let now = chrono::Utc::now();
    let good = ca
        .issue(&host, now - chrono::Duration::days(1), now + chrono::Duration::days(400))
        .unwrap();
    let expired = pki::expired_chain(&ca, &host, 3).unwrap();
    let other_host = ca
        .issue(
            "other.example.com",
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(400),
        )
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            "missing intermediate",
            w("leaf.crt", &good.leaf_only_pem()),
            w("good.key", &good.key_pem),
            "intermediate",
        ),
        (
            "wrong key",
            w("good.crt", &good.fullchain_pem()),
            w("other.key", &pki::unrelated_key_pem().unwrap()),
            "does not match",
        ),
        (
            "expired",
            w("expired.crt", &expired.fullchain_pem()),
            w("expired.key", &expired.key_pem),
            "expired",
        ),
        (
            "other host",
            w("other.crt", &other_host.fullchain_pem()),
            w("otherhost.key", &other_host.key_pem),
            &host,
        ),
    ];
    let files = tree(&c.tools());
    let objects = cluster_objects(c.store());
    for (what, chain, key, expect) in cases {
        let out = c.run("ssl_renew", &[("fullchain", &chain), ("private_key", &key)]);
        assert_eq!(out.code, 1, "{what}: {}", out.all());
        assert!(out.stderr.contains(expect), "{what}: expected `{expect}` in\n{}", out.all());
        assert!(
            out.stderr.contains("0. Check the new certificate and key"),
            "{what}: refused in the check step: {}",
            out.all()
        );
    }
    let mut after = tree(&c.tools());
    after.retain(|k, _| !k.starts_with(".vscript/runs"));
    let mut before = files;
    before.retain(|k, _| !k.starts_with(".vscript/runs"));
    assert_eq!(after, before, "no file changed");
    assert_eq!(cluster_objects(c.store()), objects, "no object changed");
    c.assert_no_violation();
}

#[test]
fn influxdb_pv_resize_expands_the_volume_and_redeploys() {
    let c = Cluster::start();
    let yaml_before = c.read("targetCluster/deploy.yaml");
    let out = c.run("influxdb_pv_resize", &[("size", "55Gi")]);
    out.ok();
    let pvc = c.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "55Gi");
    assert_eq!(pvc["status"]["capacity"]["storage"], "55Gi");
    let pv = c.get("PersistentVolume", "", pvc["spec"]["volumeName"].as_str().unwrap()).unwrap();
    assert_eq!(pv["spec"]["capacity"]["storage"], "55Gi");
    let sts = c.get("StatefulSet", "shared", "influxdb").expect("influxdb recreated");
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "55Gi"
    );
    assert_only_change(&yaml_before, &c.read("targetCluster/deploy.yaml"), "size: 50Gi", "size: 55Gi");
    c.assert_no_violation();
}

#[test]
fn mongo_backup_takes_a_snapshot() {
    let c = Cluster::start();
    let before = c.sim().world.db.lock().unwrap().snapshots.len();
    let out = c.run("mongo_backup", &[]);
    out.ok();
    let db = c.sim().world.db.lock().unwrap().clone();
    assert_eq!(db.snapshots.len(), before + 1);
    assert!(out.stdout.contains(&db.snapshots.last().unwrap().job), "{}", out.all());
}

#[test]
fn k8s_upgrade_check_passes_before_and_after() {
    let c = Cluster::start();
    c.settle();
    let out = c.run("k8s_upgrade_check", &[("phase", "pre")]);
    out.ok();
    assert!(out.stdout.contains("problems") && out.stdout.contains("none"), "{}", out.all());
    c.run("k8s_upgrade_check", &[("phase", "post")]).ok();
    // A StatefulSet that lost replicas across the "upgrade" is reported.
    c.run_with(
        &write_tmp("k8s::scale(\"vision-analytics\", 1); k8s::wait_ready(\"vision-analytics\", 60);"),
        &[],
        &["--yes"],
    )
    .ok();
    let out = c.run("k8s_upgrade_check", &[("phase", "post")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("vision-analytics"), "{}", out.all());
}

fn write_tmp(text: &str) -> String {
    let p = std::env::temp_dir().join(format!("vscript-it-{}.rhai", uuid::Uuid::new_v4()));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn maintenance_status_reports_expiries_against_lead_times() {
    let c = Cluster::start();
    // The simulator's license format, so that its expiry is known.
    std::fs::write(c.tools().join("vscript.toml"), "[license]\nformat = \"jwt-es256\"\n").unwrap();
    let out = c.run_with("maintenance_status", &[("ssl_lead_days", "90")], &["--yes", "--output", "json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout[out.stdout.find("{\n").unwrap()..]).expect("json report");
    let f = &v["remembered"]["findings"];
    assert_eq!(f["license"]["status"], "ok", "{f}");
    assert_eq!(f["ssl"]["status"], "DUE", "60 days left is within a 90-day lead time: {f}");
    assert!(f["ssl"]["days_left"].as_i64().unwrap() <= 61);
    assert_eq!(f["version"], "1.30.10");
    assert_eq!(f["replicas"]["vantiq"], 3);
    assert!(out.stderr.contains("due: SSL certificate expires"), "{}", out.all());
}

#[test]
fn service_principal_check_flags_a_near_expiry() {
    let c = Cluster::start();
    let soon = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let out = c.run("service_principal_check", &[("expiry", &soon)]);
    out.ok();
    assert!(out.stdout.contains("DUE"), "{}", out.all());
    assert!(
        out.stdout.contains("az aks update-credentials"),
        "the manual procedure is printed: {}",
        out.all()
    );
}

#[test]
fn rehearse_runs_a_procedure_on_the_embedded_simulator() {
    let out = vscript(&["run", "license_renew", "--rehearse", "--yes", "--speed", "150"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("rehearsal: starting a simulated cluster"), "{}", out.all());
    assert!(
        out.stderr.contains("the simulator recorded no invariant violation"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("==== Vantiq license renewal ===="), "{}", out.all());
}

#[test]
fn rehearse_copies_a_tools_dir_and_never_touches_it() {
    let c = Cluster::start();
    let original = c.tools();
    let before = tree(&original);
    let out = vscript(
        &[
            "run",
            "patch_upgrade",
            "--rehearse",
            "--tools",
            &original.display().to_string(),
            "--yes",
            "--set",
            "tag=1.30.11",
            "--speed",
            "150",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(tree(&original), before, "the customer's tools dir was modified by a rehearsal");
    assert!(
        c.image("vantiq").ends_with(":1.30.10"),
        "the real (here: first) cluster was not touched"
    );
}

#[test]
fn every_shipped_procedure_rehearses_without_a_violation() {
    // Rollbacks need what an upgrade or a renewal left (a backup, dated files, the journal):
    // they are rehearsed after one, in the tests of each procedure.
    let cases: &[(&str, &[&str])] = &[
        ("minor_upgrade", &["--set", "tag=1.31.0"]),
        ("patch_upgrade", &["--set", "tag=1.30.11"]),
        ("patch_upgrade_rollback", &["--set", "tag=1.30.9"]),
        ("ssl_renew", &[]),
        ("license_renew", &[]),
        ("influxdb_pv_resize", &["--set", "size=55Gi"]),
        ("mongo_backup", &[]),
        ("k8s_upgrade_check", &["--set", "phase=pre"]),
        ("service_principal_check", &[]),
        ("maintenance_status", &[]),
    ];
    let shipped: Vec<&str> = vscript::shipped::SCRIPTS.iter().map(|(n, _)| *n).collect();
    for s in &shipped {
        let covered = cases.iter().any(|(n, _)| n == s) || s.ends_with("_renew_rollback") || *s == "minor_upgrade_rollback";
        assert!(covered, "scripts/{s}.rhai is not rehearsed by any test");
    }
    for (name, extra) in cases {
        let mut args = vec!["run", name, "--rehearse", "--yes", "--speed", "150"];
        args.extend_from_slice(extra);
        let out = vscript(&args, &std::env::temp_dir());
        assert_eq!(out.code, 0, "{name}: {}", out.all());
        assert!(
            out.stderr.contains("the simulator recorded no invariant violation"),
            "{name}: {}",
            out.all()
        );
    }
}
