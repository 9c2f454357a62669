//! Every guard of the shipped procedures, proven by removing it: each test runs a
//! scenario on a fresh simulated installation twice — with the shipped scripts, where the
//! guard must keep it safe, and with a copy of the procedure (or stdlib module) whose
//! guard's lines are cut out, installed in the tools dir where customised copies are read
//! from, where the same scenario must end unsafe: a simulator invariant, or an explicit
//! assertion (something changed that must not have). A guard whose removal changes
//! nothing is not proven; the ones that cannot matter are listed as findings in
//! docs/safety.md, with the test that shows why.

use std::path::Path;

use crate::harness::{Cluster, cluster_objects, spawn_until, tree_with_git};

/// A copy of a shipped file with `cut` replaced by `with`, where the run reads customised
/// files (`TOOLS/scripts/`, `TOOLS/stdlib/`). The copy must still compile.
fn install(c: &Cluster, file: &str, edits: &[(&str, &str)]) {
    let (dir, name) = file.split_once('/').unwrap();
    let name = name.trim_end_matches(".rhai");
    let dest = c.tools().join(dir).join(format!("{name}.rhai"));
    // A file customised by the scenario already: edit that copy.
    let mut text = std::fs::read_to_string(&dest).ok().unwrap_or_else(|| {
        match dir {
            "scripts" => vscript::shipped::script(name),
            _ => vscript::shipped::stdlib(name),
        }
        .unwrap()
        .to_owned()
    });
    for (cut, with) in edits {
        assert_eq!(
            text.matches(cut).count(),
            1,
            "{file}: the text to cut is not there exactly once:\n{cut}"
        );
        text = text.replacen(cut, with, 1);
    }
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, text).unwrap();
    let out = crate::harness::vscript(&["check", &dest.display().to_string()], Path::new("/"));
    assert_eq!(out.code, 0, "the edited {file} must compile: {}", out.all());
}

/// The scenario with the guard (safe), then without it (unsafe). `scenario` returns
/// `Err(why)` when the installation ended unsafe.
fn proven(guard: &str, file: &str, cut: &[(&str, &str)], scenario: impl Fn(&Cluster) -> Result<(), String>) {
    let with = Cluster::start();
    if let Err(why) = scenario(&with) {
        panic!("{guard}: unsafe even with the guard: {why}");
    }
    let without = Cluster::start();
    install(&without, file, cut);
    match scenario(&without) {
        Ok(()) => panic!("{guard}: the scenario stays safe without the guard ({file}): it proves nothing"),
        Err(why) => eprintln!("{guard}: without the guard: {why}"),
    }
}

/// `Err` when the simulator recorded one of `rules`.
fn no_violation_of(c: &Cluster, rules: &[&str]) -> Result<(), String> {
    let v: Vec<String> = c
        .violations()
        .into_iter()
        .filter(|v| rules.contains(&v.rule.as_str()))
        .map(|v| format!("{}: {}", v.rule, v.message))
        .collect();
    if v.is_empty() { Ok(()) } else { Err(v.join("\n")) }
}

/// Runs a procedure until it ends or the simulator records one of `rules` (then stops it:
/// an unusable license keeps Vantiq from becoming ready, and the run would wait out its
/// 30-minute timeout). `Err` with the violations when one was recorded.
fn run_until_violation(c: &Cluster, script: &str, sets: &[(&str, &str)], rules: &[&str]) -> Result<(), String> {
    let mut cmd = std::process::Command::new(crate::harness::bin());
    cmd.args(["run", script, "--tools", &c.tools().display().to_string(), "--yes"]);
    for (k, v) in sets {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let found = no_violation_of(c, rules);
        let ended = child.try_wait().unwrap().is_some();
        if found.is_err() || ended || started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What "nothing changed" compares: the cluster's objects and the tools dir, `.git` included.
fn snapshot(c: &Cluster) -> (Vec<serde_json::Value>, std::collections::BTreeMap<String, Vec<u8>>) {
    (cluster_objects(c.store()), tree_with_git(&c.tools().join("targetCluster")))
}

fn unchanged(
    c: &Cluster,
    before: &(Vec<serde_json::Value>, std::collections::BTreeMap<String, Vec<u8>>),
    out: &crate::harness::Output,
) -> Result<(), String> {
    c.settle();
    let now = snapshot(c);
    if now.0 != before.0 {
        return Err(format!("the cluster changed\n{}", out.all()));
    }
    let changed: Vec<&String> = now
        .1
        .keys()
        .chain(before.1.keys())
        .filter(|k| now.1.get(*k) != before.1.get(*k))
        .collect();
    if !changed.is_empty() {
        return Err(format!("targetCluster/ changed: {changed:?}"));
    }
    Ok(())
}

#[test]
fn patch_upgrade_refuses_a_minor_version() {
    // A patch upgrade rolls the pods one by one with no backup: across a minor version
    // that is three pods migrating the schema at once, with no backup.
    proven(
        "patch_upgrade: no minor change",
        "scripts/patch_upgrade.rhai",
        &[(
            "fail(`${tag_before} -> ${tag} changes the minor version (schema migration): use minor_upgrade`);",
            "",
        )],
        |c| {
            let out = c.run("patch_upgrade", &[("tag", "1.31.0")]);
            no_violation_of(c, &["concurrent-migration", "migration-without-backup"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn influxdb_pv_resize_refuses_a_deploy_yaml_without_the_size() {
    // Without influxdb.persistence.size, step 3 cannot record the new size: InfluxDB,
    // deleted in step 2, stays deleted.
    proven(
        "influxdb_pv_resize: persistence.size present",
        "scripts/influxdb_pv_resize.rhai",
        &[("if !yaml::has(deploy_yaml, \"influxdb.persistence.size\") {", "if false {")],
        |c| {
            let dy = c.tools().join("targetCluster/deploy.yaml");
            let text = std::fs::read_to_string(&dy).unwrap();
            // InfluxDB's `size:` line (MongoDB's comes before it).
            let influx = text.find("\ninfluxdb:").unwrap();
            let at = influx + text[influx..].find("    size: ").unwrap();
            let end = at + text[at..].find('\n').unwrap() + 1;
            std::fs::write(&dy, format!("{}{}", &text[..at], &text[end..])).unwrap();
            let out = c.run("influxdb_pv_resize", &[("size", "55Gi")]);
            c.settle();
            no_violation_of(c, &["statefulset-not-recreated"]).map_err(|e| format!("{e}\n{}", out.all()))?;
            if c.get("StatefulSet", "shared", "influxdb").is_none() {
                return Err(format!("InfluxDB's StatefulSet is gone\n{}", out.all()));
            }
            Ok(())
        },
    );
}

/// A certificate (not a public key) given as the license's public.pem.
#[test]
fn license_renew_checks_the_new_files_before_installing_them() {
    proven(
        "license_renew: check_renewal",
        "scripts/license_renew.rhai",
        &[(
            "let lic = license::check_renewal(#{ public_pem: public_pem, license_key: license_key, current_public_pem: current_pem, current_license_key: current_key });",
            "let lic = #{ expires: (), format: \"unchecked\", current_expires: () };",
        )],
        |c| {
            run_until_violation(
                c,
                "license_renew",
                &[
                    ("public_pem", &c.incoming("fullchain.crt")),
                    ("license_key", &c.incoming("license.key")),
                ],
                &["license-invalid"],
            )
        },
    );
}

#[test]
fn ssl_renew_checks_the_chain_before_installing_it() {
    proven(
        "ssl_renew: check_renewal",
        "scripts/ssl_renew.rhai",
        &[("    cert::check_renewal(req);\n", "")],
        |c| {
            let (chain, key) = crate::trust::self_signed();
            let dir = tempfile::tempdir().unwrap();
            let (cp, kp) = (dir.path().join("fullchain.crt"), dir.path().join("private.key"));
            std::fs::write(&cp, &chain).unwrap();
            std::fs::write(&kp, &key).unwrap();
            let out = c.run(
                "ssl_renew",
                &[("fullchain", cp.to_str().unwrap()), ("private_key", kp.to_str().unwrap())],
            );
            no_violation_of(c, &["untrusted-certificate-served", "bad-certificate-served"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn every_procedure_proves_its_target_before_the_first_change() {
    // `-n shared`: a namespace that exists but holds no Vantiq. check_installation (step 0
    // of every procedure) refuses it; without it, license_renew goes on to regenerate the
    // secrets and deploy (gradle's namespace is vantiq.installation) before failing.
    proven(
        "check_installation",
        "stdlib/vantiq.rhai",
        &[(
            "    if !k8s::exists(\"StatefulSet\", \"vantiq\") {\n        throw `no StatefulSet vantiq in namespace ${ns}",
            "    if false {\n        throw `no StatefulSet vantiq in namespace ${ns}",
        )],
        |c| {
            let before = snapshot(c);
            let out = c.run_with(
                "license_renew",
                &[
                    ("public_pem", &c.incoming("public.pem")),
                    ("license_key", &c.incoming("license.key")),
                ],
                &["--yes", "-n", "shared"],
            );
            unchanged(c, &before, &out)
        },
    );
}

#[test]
fn minor_upgrade_rollback_restores_an_upgrade_s_backup_only_once() {
    // The operator's first rollback was killed after its restore, before the deploy; a
    // new rollback (instead of --resume) would restore the same backup a second time.
    proven(
        "minor_upgrade_rollback: once",
        "scripts/minor_upgrade_rollback.rhai",
        &[("        if again != () {", "        if false {")],
        |c| {
            c.run("minor_upgrade", &[("tag", "1.31.0"), ("release", "3.11.0")]).ok();
            let (mut child, _) = spawn_until(c, &["minor_upgrade_rollback"], "▶ 3. Restore vantiq.image.tag");
            crate::harness::signal_and_wait(&mut child, "-KILL", std::time::Duration::from_secs(20));
            // The operator brings Vantiq back up by hand while deciding what to do
            // (`kubectl scale`), users write; the lease runs out (60 s); then, instead of
            // --resume, a new rollback.
            let mut sts = c.get("StatefulSet", &c.ns(), "vantiq").unwrap();
            sts["spec"]["replicas"] = 1.into();
            c.store()
                .update(vscript_sim::store::res("StatefulSet"), &c.ns(), "vantiq", sts, false)
                .unwrap();
            let started = std::time::Instant::now();
            while c.get("StatefulSet", &c.ns(), "vantiq").unwrap()["status"]["readyReplicas"]
                .as_i64()
                .unwrap_or(0)
                < 1
            {
                assert!(started.elapsed() < std::time::Duration::from_secs(60), "vantiq did not come back");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            c.store()
                .delete(vscript_sim::store::res("Lease"), &c.ns(), "vscript-maintenance", false)
                .unwrap();
            let out = c.run("minor_upgrade_rollback", &[]);
            no_violation_of(c, &["backup-restored-twice"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn the_storage_class_check_is_a_message_the_api_server_would_also_refuse() {
    // A finding, not a proof: without the StorageClass check the PVC patch is refused by
    // the API server (as Kubernetes' admission does) before InfluxDB is deleted. The
    // check stays for its message; this test shows both ways change nothing.
    for edit in [None, Some(("if sc.allowVolumeExpansion != true {", "if false {"))] {
        let c = Cluster::start();
        let sc_name = c.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap()["spec"]["storageClassName"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut sc = c.get("StorageClass", "", &sc_name).unwrap();
        sc["allowVolumeExpansion"] = false.into();
        c.store()
            .update(vscript_sim::store::res("StorageClass"), "", &sc_name, sc, false)
            .unwrap();
        if let Some(e) = edit {
            install(&c, "scripts/influxdb_pv_resize.rhai", &[e]);
        }
        let before = snapshot(&c);
        let out = c.run("influxdb_pv_resize", &[("size", "55Gi")]);
        assert_ne!(out.code, 0, "{}", out.all());
        unchanged(&c, &before, &out).unwrap();
        assert!(c.get("StatefulSet", "shared", "influxdb").is_some());
    }
}

/// The minor upgrade's parameters of every scenario below.
const MINOR: &[(&str, &str)] = &[("tag", "1.31.0"), ("release", "3.11.0")];

#[test]
fn minor_upgrade_deploys_only_after_a_completed_backup() {
    // A customised backup_mongo that starts the backup Job without waiting for it (an
    // engineer who wanted the downtime shorter), and a backup that fails: step 8's check
    // is all that stands between the failed backup and the schema migration.
    proven(
        "minor_upgrade: backup before deploy",
        "scripts/minor_upgrade.rhai",
        &[(
            "    if !vantiq::backup_completed(backup_job) {\n        fail(\"refusing to deploy: no completed MongoDB backup in this run\");\n    }\n",
            "",
        )],
        |c| {
            install(
                c,
                "stdlib/vantiq.rhai",
                &[(
                    "    k8s::create_job_from_cronjob(\"mongobackup\", job);\n    k8s::wait_job(job, timeout);\n",
                    "    k8s::create_job_from_cronjob(\"mongobackup\", job);\n",
                )],
            );
            crate::harness::post_faults(c, r#"{"jobs": {"mongobackup": "fail"}}"#);
            let out = c.run("minor_upgrade", MINOR);
            c.settle();
            no_violation_of(c, &["migration-without-backup"]).map_err(|e| format!("{e}\n{}", out.all()))?;
            if out.code == 0 {
                return Err(format!("the upgrade succeeded without a completed backup\n{}", out.all()));
            }
            Ok(())
        },
    );
}

#[test]
fn minor_upgrade_holds_vantiq_at_one_pod_through_the_migration() {
    // deployVantiq sets vantiq back to deploy.yaml's replicas; without step 8's hold (and
    // its checks, whose failure would make the installation safe in time), more than one
    // pod runs load-model against the same schema.
    proven(
        "minor_upgrade: one-pod hold",
        "scripts/minor_upgrade.rhai",
        &[
            (
                "    k8s::scale(\"vantiq\", 1, #{ retry_for: timeout });\n    vantiq::hold_for_migration(timeout);\n",
                "",
            ),
            (
                "        if k8s::replicas(\"vantiq\") != 1 { fail(\"vantiq is not at exactly 1 replica\"); }\n",
                "",
            ),
            (
                "            if vantiq::manages(name) && k8s::replicas(name) != 0 { fail(`${name} is not at 0 replicas`); }\n",
                "",
            ),
        ],
        |c| {
            let out = c.run("minor_upgrade", MINOR);
            c.settle();
            no_violation_of(c, &["concurrent-migration"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn minor_upgrade_holds_the_components_at_zero_through_the_migration() {
    // The components (metrics-collector, vision-analytics) must not run while the schema
    // migrates; deployVantiq starts them again, hold_for_migration stops them.
    proven(
        "minor_upgrade: components at 0",
        "stdlib/vantiq.rhai",
        &[("                k8s::scale(name, 0, opts);\n", "")],
        |c| {
            let out = c.run("minor_upgrade", MINOR);
            c.settle();
            no_violation_of(c, &["component-during-migration"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn minor_upgrade_refuses_an_older_version() {
    // Going back a minor version is a restore of the backup (minor_upgrade_rollback): an
    // older image started on the newer schema is refused by the simulator's Vantiq.
    proven(
        "minor_upgrade: not older",
        "scripts/minor_upgrade.rhai",
        &[(
            "    if vantiq::version_cmp(vantiq::minor_of(tag), vantiq::minor_of(tag_before)) < 0 {",
            "    if false {",
        )],
        |c| {
            let out = c.run("minor_upgrade", &[("tag", "1.29.4")]);
            c.settle();
            no_violation_of(c, &["image-older-than-schema"]).map_err(|e| format!("{e}\n{}", out.all()))
        },
    );
}

#[test]
fn minor_upgrade_refuses_a_patch_version_and_spares_the_downtime() {
    // Within the minor version, patch_upgrade rolls the pods without a downtime: the minor
    // procedure would stop Vantiq for nothing.
    proven(
        "minor_upgrade: a minor change",
        "scripts/minor_upgrade.rhai",
        &[("    if vantiq::minor_of(tag) == vantiq::minor_of(tag_before) {", "    if false {")],
        |c| {
            let before = snapshot(c);
            let out = c.run("minor_upgrade", &[("tag", "1.30.11")]);
            unchanged(c, &before, &out)
        },
    );
}
