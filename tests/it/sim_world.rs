//! The simulator's procedure-level records seen through the real binary: a deliberately
//! wrong procedure that leaves a component stopped is caught at the end of its run
//! (`vscript sim check` exits non-zero and names the rule), two rollbacks in a row never
//! lose data silently, and a minor upgrade's downtime is recorded from the stop to the
//! login that ends it, under the procedure's run.

use crate::harness::{Cluster, SPEED, project_dir, vscript};

fn sim_check(c: &Cluster) -> crate::harness::Output {
    vscript(&["sim", "check", "--dir", &c.sim().dir.display().to_string()], &project_dir())
}

#[test]
fn a_minor_upgrade_that_does_not_scale_back_leaves_components_stopped() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(project_dir().join("scripts/minor_upgrade.rhai")).unwrap();
    let wrong = text.replace("    vantiq::start(stopped.counts, 900);\n", "");
    assert_ne!(wrong, text, "the deliberate mistake was applied");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("minor_upgrade_wrong.rhai");
    std::fs::write(&p, wrong).unwrap();
    let out = c.run(&p.display().to_string(), &[("tag", "1.31.0")]);
    assert_eq!(out.code, 0, "the wrong script itself succeeds: {}", out.all());
    let v = c.violations();
    let stopped: Vec<_> = v.iter().filter(|x| x.rule == "component-left-stopped").collect();
    assert_eq!(stopped.len(), 2, "metrics-collector and vision-analytics: {v:#?}");
    assert!(
        stopped
            .iter()
            .any(|x| x.message.contains("metrics-collector") && x.message.contains("minor_upgrade_wrong")),
        "{v:#?}"
    );
    let out = sim_check(&c);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("component-left-stopped"), "{}", out.all());
}

#[test]
fn the_shipped_minor_upgrade_records_its_downtime_under_its_run() {
    let c = Cluster::start();
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    out.ok();
    c.assert_no_violation();
    let rec = vscript_sim::world::downtime::read(&c.sim().dir).unwrap();
    assert_eq!(rec.windows.len(), 1, "{rec:#?}");
    let w = &rec.windows[0];
    let holder = w.procedure.as_deref().unwrap_or("");
    assert!(holder.contains("minor_upgrade"), "{w:#?}");
    assert!(w.end.is_some(), "the login of step 10 ends it: {w:#?}");
    let secs = w.wall_seconds.unwrap();
    assert!(secs > 0.5, "{w:#?}");
    assert!((w.realistic_seconds.unwrap() - secs * SPEED).abs() < 1.0, "{w:#?}");
    // A patch upgrade rolls one pod at a time: no downtime.
    c.run("patch_upgrade", &[("tag", "1.31.1")]).ok();
    assert_eq!(vscript_sim::world::downtime::read(&c.sim().dir).unwrap().windows.len(), 1);
}

#[test]
fn two_minor_upgrade_rollbacks_in_a_row_never_lose_data_silently() {
    let c = Cluster::start();
    c.run("minor_upgrade", &[("tag", "1.31.0")]).ok();
    c.run("minor_upgrade_rollback", &[]).ok();
    c.assert_no_violation();
    c.settle();
    let restores = |c: &Cluster| {
        c.store()
            .list(vscript_sim::store::res("Job"), Some(&c.ns()), None, None)
            .0
            .iter()
            .filter(|j| j["metadata"]["name"].as_str().unwrap_or("").starts_with("mongorestore"))
            .count()
    };
    let before = restores(&c);
    let out = c.run("minor_upgrade_rollback", &[]);
    let restored_again = restores(&c) > before;
    let flagged = c.violations().iter().any(|v| v.rule == "backup-restored-twice");
    eprintln!(
        "second rollback: exit {}, restored again: {restored_again}, flagged: {flagged}",
        out.code
    );
    // Either the procedure refuses to restore the same backup again, or the simulator
    // catches the data loss; never a silent second restore.
    assert!(
        (!restored_again && !flagged) || (restored_again && flagged),
        "restored again: {restored_again}, flagged: {flagged}\n{}",
        out.all()
    );
    if flagged {
        let out = sim_check(&c);
        assert_eq!(out.code, 1, "{}", out.all());
        assert!(out.stdout.contains("backup-restored-twice"), "{}", out.all());
    }
}

#[test]
fn an_influxdb_resize_stopped_after_deleting_the_statefulset_is_caught_until_resumed() {
    let c = Cluster::start();
    std::fs::write(c.sim().dir.join("faults.json"), r#"{"gradle": {"deployShared": "fail"}}"#).unwrap();
    let out = c.run("influxdb_pv_resize", &[("size", "55Gi")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(c.get("StatefulSet", "shared", "influxdb").is_none());
    let check = sim_check(&c);
    assert_eq!(check.code, 1, "{}", check.all());
    assert!(
        check.stdout.contains("statefulset-not-recreated") && check.stdout.contains("shared/influxdb"),
        "{}",
        check.all()
    );
    // The resumed run recreates it: nothing is left to report.
    std::fs::write(c.sim().dir.join("faults.json"), "{}").unwrap();
    let id = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("vscript: run "))
        .and_then(|r| r.split(' ').next())
        .expect("a run line")
        .to_owned();
    c.run_with("influxdb_pv_resize", &[], &["--yes", "--resume", &id]).ok();
    assert!(c.get("StatefulSet", "shared", "influxdb").is_some());
    c.assert_no_violation();
}
