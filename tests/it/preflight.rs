//! `vscript preflight`: read-only checks before the window. It runs as the CronJob's
//! service account with the Roles of `docs/deploy/rbac.yaml` enforced by the API server,
//! finds a permission the procedure needs and the Role lacks, and changes nothing.
//! (That its list of permissions covers every request of every shipped procedure is
//! checked in `fleet.rs`, against the API server's audit log.)

use vscript_sim::SeedOptions;

use crate::auth::apply_rbac;
use crate::harness::{Cluster, Output, cluster_objects, project_dir, tree_with_git, vscript_env};

/// `vscript preflight <procedure>` in-cluster, as the pod's service account.
fn preflight_in_cluster(c: &Cluster, procedure: &str) -> Output {
    let port = c.sim().info.api.rsplit(':').next().unwrap().to_owned();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().display().to_string();
    let tools = c.tools().display().to_string();
    vscript_env(
        &["preflight", procedure, "--tools", &tools],
        &project_dir(),
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &port),
            ("VSCRIPT_SERVICEACCOUNT_DIR", &c.sim().info.serviceaccount_dir),
            ("HOME", &home),
            ("KUBECONFIG", ""),
        ],
    )
}

/// The cluster's objects (Leases included) and the tools dir's files (`.git` included).
fn state(c: &Cluster) -> impl PartialEq + std::fmt::Debug {
    let leases: Vec<serde_json::Value> = c.store().snapshot().into_iter().filter(|o| o["kind"] == "Lease").collect();
    (cluster_objects(c.store()), leases, tree_with_git(&c.tools()))
}

#[test]
fn preflight_names_the_permission_the_role_lacks_and_changes_nothing() {
    let seed = SeedOptions {
        namespace: "acme".into(),
        ..SeedOptions::default()
    };
    let c = Cluster::with(seed, None);
    let ns = c.ns();
    std::fs::remove_file(c.tools().join("targetCluster/kubeconfig")).unwrap();
    apply_rbac(&c, &ns, |y| y);
    c.settle();

    let before = state(&c);
    let out = preflight_in_cluster(&c, "minor_upgrade");
    assert_eq!(out.code, 0, "{}", out.all());
    for line in [
        format!("verified           may patch statefulsets/scale in {ns}"),
        format!("verified           may create jobs in {ns}"),
        format!("verified           may create leases in {ns}"),
        format!("verified           may get namespaces namespace {ns}"),
        format!("verified           CronJob {ns}/mongobackup exists"),
        "verified           targetCluster/ is a git checkout on branch".to_owned(),
        "verified           the Vantiq login".to_owned(),
        "0 failed".to_owned(),
    ] {
        assert!(out.stderr.contains(&line), "`{line}` missing:\n{}", out.all());
    }
    assert_eq!(state(&c), before, "preflight changed the cluster or the tools dir");

    // The Role without the scale subresource: the upgrade would stop at its first scale-down.
    apply_rbac(&c, &ns, |y| {
        y.replacen(
            "- apiGroups: [\"apps\"]\n  resources: [\"statefulsets/scale\"]\n  verbs: [\"patch\"]\n",
            "",
            1,
        )
    });
    c.settle();
    let before = state(&c);
    let out = preflight_in_cluster(&c, "minor_upgrade");
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains(&format!("FAILED             may patch statefulsets/scale in {ns}: not allowed")),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("1 failed"), "{}", out.all());
    assert_eq!(state(&c), before, "preflight changed the cluster or the tools dir");
    // A read-only procedure does not need it: its preflight passes with the same Role.
    let out = preflight_in_cluster(&c, "maintenance_status");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.contains("statefulsets/scale"), "{}", out.all());
    c.assert_no_violation();
}

#[test]
fn preflight_fails_on_a_missing_cronjob_a_wrong_branch_and_missing_sensitive_files() {
    let c = Cluster::start();
    let ns = c.ns();
    c.store()
        .delete(vscript_sim::store::res("CronJob"), &ns, "mongobackup", false)
        .unwrap();
    std::fs::remove_file(c.tools().join("targetCluster/deploy/sensitive/license.key")).unwrap();
    let before = state(&c);
    let tools = c.tools().display().to_string();
    let out = crate::harness::vscript(&["preflight", "minor_upgrade", "--tools", &tools], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    for line in [
        format!("FAILED             CronJob {ns}/mongobackup does not exist"),
        "FAILED             missing from deploy/sensitive: license.key".to_owned(),
    ] {
        assert!(out.stderr.contains(&line), "`{line}` missing:\n{}", out.all());
    }
    assert_eq!(state(&c), before, "preflight changed the cluster or the tools dir");
}
