//! vscript against an API server that authenticates and authorizes like a real one:
//! the production client path (rustls, the cluster CA, credentials) with each kind of
//! kubeconfig credential, and in-cluster with the ServiceAccount of `docs/deploy/`,
//! whose Roles the API server enforces.

use std::path::Path;

use serde_json::Value;
use vscript_sim::SeedOptions;

use crate::harness::{Cluster, project_dir, vscript_env};

/// A cluster whose API server writes its audit log (with the user of each request) to `audit`.
fn audited(seed: SeedOptions, audit: &Path) -> Cluster {
    let audit = audit.to_owned();
    Cluster::with_options(seed, None, move |o| o.audit_log = Some(audit))
}

/// The users of the requests vscript made (not the gradlew shim's), from the audit log.
fn users_of_vscript_requests(audit: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let mut users: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| !l["user_agent"].as_str().unwrap_or("").starts_with("ureq"))
        .map(|l| l["user"].as_str().unwrap_or("(none)").to_owned())
        .collect();
    users.sort();
    users.dedup();
    users
}

#[test]
fn maintenance_status_over_tls_with_a_token_a_client_certificate_and_an_exec_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let audit = tmp.path().join("audit.jsonl");
    let c = audited(SeedOptions::default(), &audit);
    let info = c.sim().info.clone();
    assert!(info.api.starts_with("https://"));
    for (kubeconfig, user) in [
        (&info.kubeconfig, "sim-admin"),
        (&info.kubeconfig_cert, "kubernetes-admin"),
        (&info.kubeconfig_exec, "admin@sim.example.com"),
    ] {
        std::fs::write(&audit, "").unwrap();
        c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", kubeconfig]).ok();
        assert_eq!(users_of_vscript_requests(&audit), [user], "{kubeconfig}");
    }
    // A token the cluster does not know: refused, and vscript says why.
    let kc = std::fs::read_to_string(&info.kubeconfig).unwrap();
    let token = kc.lines().find_map(|l| l.trim().strip_prefix("token: ")).unwrap();
    let bad = tmp.path().join("kubeconfig-bad");
    std::fs::write(&bad, kc.replace(token, "sim-not-a-valid-token")).unwrap();
    let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &bad.display().to_string()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("401 Unauthorized"), "{}", out.all());
    assert!(!out.all().contains(token), "the token never shows");
    c.assert_no_violation();
}

/// `docs/deploy/rbac.yaml` for the namespace `ns`, with `edit` applied to its text.
pub(crate) fn apply_rbac(c: &Cluster, ns: &str, edit: impl Fn(String) -> String) {
    let rbac = std::fs::read_to_string(project_dir().join("docs/deploy/rbac.yaml"))
        .unwrap()
        .replace("namespace: vantiq", &format!("namespace: {ns}"))
        .replace("resourceNames: [\"vantiq\"]", &format!("resourceNames: [\"{ns}\"]"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("rbac.yaml");
    std::fs::write(&f, edit(rbac)).unwrap();
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &c.sim().info.kubeconfig, "--cache-dir"])
        .arg(dir.path().join("cache"))
        .args(["apply", "--validate=false", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// vscript as the CronJob of `docs/deploy/cronjob.yaml` runs it: no kubeconfig anywhere,
/// the pod's service account through `KUBERNETES_SERVICE_*` and the credentials directory.
fn run_in_cluster(c: &Cluster, tools: &Path) -> crate::harness::Output {
    let port = c.sim().info.api.rsplit(':').next().unwrap().to_owned();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().display().to_string();
    let tools = tools.display().to_string();
    vscript_env(
        &[
            "run",
            "maintenance_status",
            "--tools",
            &tools,
            "--yes",
            "--output",
            "json",
            "--set",
            "fail_when_due=true",
        ],
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

#[test]
fn in_cluster_with_the_deploy_rbac_the_cronjob_procedure_runs_and_a_missing_verb_is_named() {
    let seed = SeedOptions {
        namespace: "acme".into(),
        ..SeedOptions::default()
    };
    let c = Cluster::with(seed, None);
    let ns = c.ns();
    assert_eq!(c.sim().info.serviceaccount, format!("{ns}/vscript"));
    // The tools dir as the CronJob mounts it: without targetCluster/kubeconfig.
    let tools = c.tools();
    std::fs::remove_file(tools.join("targetCluster/kubeconfig")).unwrap();

    // Before rbac.yaml: the account does not exist, its token is refused.
    let out = run_in_cluster(&c, &tools);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("401 Unauthorized"), "{}", out.all());

    apply_rbac(&c, &ns, |y| y);
    let out = run_in_cluster(&c, &tools);
    assert_eq!(out.code, 0, "{}", out.all());
    let json_start = out.stdout.find("\n{").map_or(0, |i| i + 1);
    let report: Value = serde_json::from_str(&out.stdout[json_start..]).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    assert_eq!(report["target"]["kubeconfig"], Value::Null, "{report:#}");
    assert_eq!(report["result"], "ok", "{report:#}");

    // One verb less: `list` on StatefulSets in the Vantiq namespace.
    apply_rbac(&c, &ns, |y| {
        y.replacen(
            "  resources: [\"statefulsets\"]\n  verbs: [\"get\", \"list\", \"watch\", \"patch\"]",
            "  resources: [\"statefulsets\"]\n  verbs: [\"get\", \"watch\", \"patch\"]",
            1,
        )
    });
    let role = c.get("Role", &ns, "vscript").unwrap();
    assert_eq!(role["rules"][0]["verbs"], serde_json::json!(["get", "watch", "patch"]));
    let out = run_in_cluster(&c, &tools);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains(&format!(
            "User \"system:serviceaccount:{ns}:vscript\" cannot list resource \"statefulsets\" in API group \"apps\" in the namespace \"{ns}\""
        )),
        "{}",
        out.all()
    );
    assert!(out.all().contains("Forbidden"), "{}", out.all());
}
