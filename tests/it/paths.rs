//! The ten paths that broke "never leaves Vantiq worse" (issue #15), one test each: a
//! kill, a fault or a re-run in the middle of a procedure, and bad values found too late.

use std::time::Duration;

use serde_json::json;
use vscript_sim::SeedOptions;
use vscript_sim::store::res;

use crate::harness::{Cluster, cluster_objects, post_faults, run_id, signal_and_wait, spawn_until_env, tree};

/// vantiq at 2 and vision-analytics at 1: what a rollback or a resume must bring back.
fn two_one_one() -> Cluster {
    let c = Cluster::with(
        SeedOptions {
            vantiq_replicas: 2,
            ..SeedOptions::default()
        },
        None,
    );
    let ns = c.ns();
    let mut va = c.get("StatefulSet", &ns, "vision-analytics").unwrap();
    va["spec"]["replicas"] = json!(1);
    c.store().update(res("StatefulSet"), &ns, "vision-analytics", va, false).unwrap();
    c.settle();
    c
}

fn kill_after(c: &Cluster, args: &[&str], change: usize) -> String {
    let n = change.to_string();
    let (mut child, seen) = spawn_until_env(
        c,
        args,
        &[("VSCRIPT_PAUSE_AFTER_CHANGE", &n)],
        &format!("paused after change {change}"),
    );
    signal_and_wait(&mut child, "-KILL", Duration::from_secs(10));
    run_id(&seen)
}

/// Path 1: a kill after vantiq was scaled to 0, or an API error on the metrics-collector
/// scale, then `--resume`: the counts found before the stop are restored, not zeros.
#[test]
fn path1_resume_inside_the_stop_restores_the_counts_found_before() {
    let c = two_one_one();
    // Changes: git pull, the tag, vantiq → 0 (the third).
    let id = kill_after(&c, &["minor_upgrade", "--set", "tag=1.31.0"], 3);
    assert_eq!(c.replicas("vantiq"), Some(0), "killed with vantiq stopped");
    let out = c.run_with("minor_upgrade", &[], &["--yes", "--resume", &id]);
    out.ok();
    assert!(out.stderr.contains("already done by the interrupted attempt"), "{}", out.all());
    assert_eq!(c.component_replicas(), (Some(2), Some(1), Some(1)), "{}", out.all());
    assert!(
        out.stdout.contains("metrics-collector: 1, vantiq: 2, vision-analytics: 1"),
        "{}",
        out.all()
    );
    c.assert_no_violation();
    // The rollback restores the same counts.
    c.run("minor_upgrade_rollback", &[]).ok();
    assert_eq!(c.component_replicas(), (Some(2), Some(1), Some(1)));
    c.assert_no_violation();

    let c = two_one_one();
    post_faults(
        &c,
        r#"{"api": [{"method": "PATCH", "path_contains": "statefulsets/metrics-collector/scale", "times": 100, "action": "status:500"}]}"#,
    );
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    post_faults(&c, r#"{"api": []}"#);
    let out = c.run_with("minor_upgrade", &[], &["--yes", "--resume", &run_id(&out.stderr)]);
    out.ok();
    assert_eq!(c.component_replicas(), (Some(2), Some(1), Some(1)), "{}", out.all());
    c.assert_no_violation();
}

/// Path 2: `vantiq.installation` twice (an old value first): the namespace is the last
/// value, as gradle and Java read it; a namespace without `vantiq` is refused in step 0.
#[test]
fn path2_the_namespace_is_the_last_installation_value_and_a_missing_vantiq_is_refused() {
    let c = Cluster::start();
    let props = c.tools().join("targetCluster/cluster.properties");
    let text = std::fs::read_to_string(&props).unwrap();
    std::fs::write(&props, format!("vantiq.installation=old-acme\n{text}")).unwrap();
    let out = c.run("mongo_backup", &[]);
    out.ok();
    assert!(out.stderr.contains("namespace `acme`"), "{}", out.all());
    assert!(c.get("Lease", "old-acme", "vscript-maintenance").is_none());

    let files = tree(&c.tools());
    let objects = cluster_objects(c.store());
    let out = c.run_with("minor_upgrade", &[("tag", "1.31.0")], &["--yes", "-n", "shared"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("no StatefulSet vantiq in namespace shared"), "{}", out.all());
    assert!(out.stderr.contains("stopped before changing anything"), "{}", out.all());
    assert_eq!(
        tree(&c.tools()).keys().filter(|k| !k.starts_with(".vscript")).count(),
        files.keys().filter(|k| !k.starts_with(".vscript")).count()
    );
    assert_eq!(cluster_objects(c.store()).len(), objects.len(), "nothing was created or deleted");
    assert_eq!(c.replicas("vantiq"), Some(3));
    c.assert_no_violation();
}

/// Path 3: a second rollback of the same upgrade is refused (it would restore the same
/// backup again); a tag that is not the version from before the upgrade is refused.
#[test]
fn path3_a_rollback_is_done_once_and_to_the_version_before_the_upgrade() {
    let c = Cluster::start();
    c.run("minor_upgrade", &[("tag", "1.31.0")]).ok();
    let out = c.run("minor_upgrade_rollback", &[("tag", "1.30.9")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("rolling it back goes to 1.30.10, not 1.30.9"), "{}", out.all());
    c.run("minor_upgrade_rollback", &[]).ok();
    let restores = |c: &Cluster| {
        c.store()
            .list(res("Job"), Some(&c.ns()), None, None)
            .0
            .iter()
            .filter(|j| j["metadata"]["name"].as_str().unwrap_or("").starts_with("mongorestore"))
            .count()
    };
    assert_eq!(restores(&c), 1);
    let out = c.run("minor_upgrade_rollback", &[]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("already rolled back the upgrade"), "{}", out.all());
    assert!(out.stderr.contains("needs a typed confirmation"), "{}", out.all());
    assert_eq!(restores(&c), 1, "nothing restored again");
    assert_eq!(c.image("vantiq").rsplit(':').next(), Some("1.30.10"));
    c.assert_no_violation();
}

/// Path 4: InfluxDB's resize checks deploy.yaml before it deletes the StatefulSet.
#[test]
fn path4_influxdb_resize_checks_deploy_yaml_before_deleting() {
    let c = Cluster::start();
    let deploy = c.tools().join("targetCluster/deploy.yaml");
    let text = std::fs::read_to_string(&deploy).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("size:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text, "the size key was removed");
    std::fs::write(&deploy, &without).unwrap();
    let out = c.run("influxdb_pv_resize", &[("size", "55Gi")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("has no influxdb.persistence.size"), "{}", out.all());
    assert!(c.get("StatefulSet", "shared", "influxdb").is_some(), "InfluxDB is still there");
    c.assert_no_violation();
}

/// Paths 6 and 7: a license renewal killed between its two file replaces resumes to the
/// end, and the rollback then restores the files from before the renewal.
#[test]
fn path6_7_a_renewal_killed_between_the_file_replaces_resumes_and_rolls_back() {
    let c = Cluster::start();
    let sensitive = c.tools().join("targetCluster/deploy/sensitive");
    let before = (
        std::fs::read(sensitive.join("public.pem")).unwrap(),
        std::fs::read(sensitive.join("license.key")).unwrap(),
    );
    let (pem, key) = (c.incoming("public.pem"), c.incoming("license.key"));
    let args = [
        "license_renew",
        "--set",
        &format!("public_pem={pem}"),
        "--set",
        &format!("license_key={key}"),
    ];
    let id = kill_after(&c, &args, 1);
    let out = c.run_with("license_renew", &[], &["--yes", "--resume", &id]);
    out.ok();
    let backups: Vec<String> = tree(&sensitive).into_keys().filter(|k| k.contains(".20")).collect();
    assert_eq!(backups.len(), 2, "one dated backup of each file, none of a new file: {backups:?}");
    assert_eq!(std::fs::read(sensitive.join("license.key")).unwrap(), std::fs::read(&key).unwrap());
    c.run("license_renew_rollback", &[]).ok();
    assert_eq!(std::fs::read(sensitive.join("public.pem")).unwrap(), before.0);
    assert_eq!(std::fs::read(sensitive.join("license.key")).unwrap(), before.1);
    c.assert_no_violation();
}

/// Path 8: a short `/scale` outage right after deployVantiq: the guarding writes ride it
/// out, no two pods migrate at once.
#[test]
fn path8_a_scale_outage_after_deploy_is_ridden_out() {
    let c = Cluster::start();
    // Three scales stop Vantiq in step 6; the fourth is the one right after deployVantiq.
    post_faults(
        &c,
        r#"{"api": [{"method": "PATCH", "path_contains": "/scale", "after": 3, "times": 3, "action": "status:500"}]}"#,
    );
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    out.ok();
    assert_eq!(c.schema(), "1.31");
    c.assert_no_violation();
}

/// Path 9: transient faults and stale state — a reset log follow continues; a resume after
/// a fixed migration fault ignores the failed container's log; a resume with other
/// parameters is refused, naming them.
#[test]
fn path9_transient_faults_and_stale_state() {
    let c = Cluster::start();
    post_faults(
        &c,
        r#"{"api": [{"method": "GET", "path_contains": "/pods/vantiq-0/log", "times": 1, "action": "reset"}]}"#,
    );
    c.run("minor_upgrade", &[("tag", "1.31.0")]).ok();
    assert_eq!(c.schema(), "1.31");
    c.assert_no_violation();

    let c = Cluster::start();
    std::fs::write(c.sim().dir.join("faults.json"), r#"{"migration": "fail"}"#).unwrap();
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("FAILED migration step 5/8"), "{}", out.all());
    let id = run_id(&out.stderr);
    let other = c.run_with("minor_upgrade", &[("tag", "1.32.0")], &["--yes", "--resume", &id]);
    assert_eq!(other.code, 2, "{}", other.all());
    assert!(other.stderr.contains("tag: 1.31.0 in run"), "{}", other.all());
    std::fs::remove_file(c.sim().dir.join("faults.json")).unwrap();
    let out = c.run_with("minor_upgrade", &[], &["--yes", "--resume", &id]);
    out.ok();
    assert_eq!(c.schema(), "1.31");
    assert_eq!(c.component_replicas(), (Some(3), Some(1), Some(2)));
    c.assert_no_violation();
}

/// Path 10: bad values are refused before Vantiq is stopped; a non-UTF-8 comment in
/// cluster.properties changes nothing.
#[test]
fn path10_bad_values_are_refused_before_anything_changes() {
    let c = Cluster::start();
    c.settle();
    let objects = cluster_objects(c.store());
    let files = tree(&c.tools());
    let unchanged = |c: &Cluster, what: &str| {
        assert_eq!(cluster_objects(c.store()), objects, "{what}: the cluster changed");
        let now: Vec<String> = tree(&c.tools()).into_keys().filter(|k| !k.starts_with(".vscript")).collect();
        let was: Vec<String> = files.keys().filter(|k| !k.starts_with(".vscript")).cloned().collect();
        assert_eq!(now, was, "{what}: files appeared or vanished");
        assert_eq!(c.replicas("vantiq"), Some(3), "{what}");
    };
    for (sets, expect) in [
        (
            vec![("tag", "1.31.0"), ("timeout", "-1")],
            "`-1` is not a positive whole number of seconds",
        ),
        (vec![("tag", "1.31.0 x")], "is not a Vantiq version like 1.31.0"),
    ] {
        let out = c.run("minor_upgrade", &sets);
        assert_ne!(out.code, 0, "{sets:?}: {}", out.all());
        assert!(out.stderr.contains(expect), "{sets:?}: {}", out.all());
        unchanged(&c, expect);
    }
    let out = c.run_with("minor_upgrade", &[("tag", "1.31.0")], &["--yes", "--cluster", "wrong"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("does not match targetCluster's branch"), "{}", out.all());
    unchanged(&c, "--cluster wrong");
    let git = c.tools().join("targetCluster/.git");
    let moved = c.tools().join("targetCluster-git");
    std::fs::rename(&git, &moved).unwrap();
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("targetCluster/ is not a git checkout"), "{}", out.all());
    std::fs::rename(&moved, &git).unwrap();
    unchanged(&c, "no git checkout");
    // Shift_JIS and Latin-1 bytes in a comment: the namespace is still read as Java reads it.
    let props = c.tools().join("targetCluster/cluster.properties");
    let mut bytes = b"# \x95\xdb\x8e\xe7 caf\xe9\n".to_vec();
    bytes.extend(std::fs::read(&props).unwrap());
    std::fs::write(&props, &bytes).unwrap();
    let out = c.run("mongo_backup", &[]);
    out.ok();
    assert!(out.stderr.contains("namespace `acme`"), "{}", out.all());
    assert!(c.get("Lease", "default", "vscript-maintenance").is_none());
    c.assert_no_violation();
}
