//! The tools dir of a rehearsal: the generated checkout (git pull, the cluster branch,
//! gradle-like failures) and `--tools` copies seeded from a customer's checkout.

use std::path::Path;
use std::process::Command;

use crate::world_support::T;
use vscript_sim::SeedOptions;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn tree_digest(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn generated_tools_dir_is_a_checkout_with_a_cluster_branch() {
    let t = T::start(SeedOptions::default(), 200.0);
    let tools = t.tools();
    assert!(git(&tools, &["pull"]).contains("Already up to date"));
    assert_eq!(git(&tools, &["rev-parse", "--abbrev-ref", "@{u}"]), "origin/master");
    assert_eq!(git(&t.target(), &["rev-parse", "--abbrev-ref", "HEAD"]), "acme-prod");
    assert!(
        git(&tools, &["status", "--porcelain"]).is_empty(),
        "targetCluster and .vscript are ignored"
    );
    for f in [
        "cluster.properties",
        "deploy.yaml",
        "secrets.yaml",
        "kubeconfig",
        "deploy/sensitive/fullchain.crt",
        "deploy/sensitive/private.key",
        "deploy/sensitive/public.pem",
        "deploy/sensitive/license.key",
    ] {
        assert!(t.target().join(f).exists(), "{f}");
    }
    let deploy = std::fs::read_to_string(t.target().join("deploy.yaml")).unwrap();
    assert!(deploy.contains("{{- if .Values.vantiq.ingress.internal }}") && deploy.contains("tag: 1.30.10"));
    let props = std::fs::read_to_string(t.target().join("cluster.properties")).unwrap();
    assert!(props.contains("vantiq.installation=acme") && props.contains("vantiq_system_release=3.10.0"));
    assert_eq!(
        std::fs::read_to_string(t.target().join("kubeconfig")).unwrap(),
        std::fs::read_to_string(&t.sim().info.kubeconfig).unwrap()
    );
    for f in ["fullchain.crt", "private.key", "public.pem", "license.key"] {
        assert!(Path::new(&t.sim().info.incoming_dir).join(f).exists(), "incoming/{f}");
    }
    let kc = std::fs::read_to_string(&t.sim().info.kubeconfig).unwrap();
    assert!(kc.contains("server: https://127.0.0.1:"), "{kc}");
}

#[test]
fn gradle_fails_like_gradle_for_an_unknown_task_and_a_wrong_cluster() {
    let t = T::start(SeedOptions::default(), 200.0);
    let out = t.gradlew(&["-Pcluster=acme-prod", "deployEverything"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FAILURE: Build failed with an exception."), "{err}");
    assert!(
        err.contains("Task 'deployEverything' not found in root project 'k8sdeploy_tools'."),
        "{err}"
    );
    assert!(err.contains("BUILD FAILED in "), "{err}");

    let out = t.gradlew(&["-Pcluster=acme-stg", "deployVantiq"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cluster 'acme-stg' not found: targetCluster is on branch 'acme-prod'"),
        "{err}"
    );

    std::fs::write(t.sim().dir.join("faults.json"), r#"{"gradle": {"deployVantiq": "fail"}}"#).unwrap();
    let before = t.get("StatefulSet", &t.ns(), "vantiq").unwrap();
    let out = t.gradlew(&["-Pcluster=acme-prod", "deployVantiq"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("> Task :deployVantiq FAILED"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Execution failed for task ':deployVantiq'."));
    assert_eq!(
        t.get("StatefulSet", &t.ns(), "vantiq").unwrap()["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn tools_copy_seeds_the_cluster_and_never_touches_the_original() {
    // A customer's checkout: made from a generated one, without optional components.
    let first = T::start(SeedOptions::default(), 200.0);
    let customer = tempfile::tempdir().unwrap();
    let src = customer.path().join("k8sdeploy_tools");
    vscript_sim::world::toolsdir::copy_tree(&first.tools(), &src).unwrap();
    drop(first);
    let deploy = src.join("targetCluster/deploy.yaml");
    let text = std::fs::read_to_string(&deploy)
        .unwrap()
        .replace("enabled: true", "enabled: false")
        .replace("    tag: 1.30.10\n  # Number", "    tag: 1.30.12\n  # Number")
        .replace("size: 50Gi", "size: 80Gi");
    std::fs::write(&deploy, text).unwrap();
    let props = src.join("targetCluster/cluster.properties");
    std::fs::write(
        &props,
        std::fs::read_to_string(&props)
            .unwrap()
            .replace("vantiq.installation=acme", "vantiq.installation=globex"),
    )
    .unwrap();
    std::fs::write(src.join("gradlew"), "#!/bin/sh\necho the real gradle\nexit 3\n").unwrap();
    let original = tree_digest(&src);

    let t = T::start_with(|o| o.tools = Some(src.clone()));
    assert_eq!(t.ns(), "globex");
    assert!(t.get("StatefulSet", "globex", "vantiq").is_some());
    for absent in ["metrics-collector", "vision-analytics", "userdb"] {
        assert!(t.get("StatefulSet", "globex", absent).is_none(), "{absent}");
    }
    assert!(t.get("CronJob", "globex", "userdbrestore").is_none());
    let img = t.get("StatefulSet", "globex", "vantiq").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(img, "vantiq/vantiq-server:1.30.12");
    assert_eq!(
        t.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap()["status"]["capacity"]["storage"],
        "80Gi"
    );
    let out = t.k(&["get", "pods", "-n", "globex"]);
    assert!(out.contains("vantiq-2") && !out.contains("metrics-collector"), "{out}");

    // The copy runs the simulator's gradle and talks to the simulator only.
    assert_ne!(t.tools(), src);
    let shim = std::fs::read_to_string(t.tools().join("gradlew")).unwrap();
    assert!(shim.contains("vscript simulator"), "{shim}");
    let kc = std::fs::read_to_string(t.target().join("kubeconfig")).unwrap();
    assert!(kc.contains(&t.sim().info.api), "{kc}");
    let out = t.gradle("deployVantiq");
    assert!(out.contains("statefulset.apps/vantiq"), "{out}");
    assert!(git(&t.tools(), &["pull"]).contains("Already up to date"));
    assert_eq!(tree_digest(&src), original, "the original tools dir is never modified");
}

#[test]
fn start_prints_one_ready_line_stops_on_sigterm_and_check_reads_the_timeline() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_vscript-sim");
    let mut child = Command::new(exe)
        .args(["start", "--dir", dir.path().to_str().unwrap(), "--speed", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("vscript sim ready: api=https://127.0.0.1:"), "{line}");
    assert!(
        line.contains(&format!(
            "kubeconfig={}",
            dir.path().canonicalize().unwrap().join("kubeconfig").display()
        )),
        "{line}"
    );
    let info: vscript_sim::SimInfo = serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim.json")).unwrap()).unwrap();
    assert_eq!(info.pid, child.id());
    // A violation recorded by the running simulator: the database's StatefulSet deleted.
    let kc = dir.path().join("kubeconfig");
    let cache = dir.path().join(".kube-cache");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["delete", "sts", "-n", "acme", "mongodb", "--cascade=orphan"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let out = Command::new(exe)
        .args(["check", "--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("data-lost") && text.contains("StatefulSet acme/mongodb was deleted"),
        "{text}"
    );
    let v = vscript_sim::check(dir.path()).unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
}
