//! Any customer's k8sdeploy_tools checkout can be rehearsed: hand-written tools dirs the
//! simulator did not generate — `secrets.yaml` in other layouts, `deploy.yaml` with other
//! or missing keys, `cluster.properties` with duplicates, continuation lines, escapes and
//! CRLF, extra files, links, no optional components, no git — start a simulator with one
//! warning line per thing it could not interpret, and the shipped procedures run to the
//! end on the copy with no invariant violation, leaving the original untouched.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{Output, tree, vscript};

fn put(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Sensitive files a real customer has: real-looking PEM blocks the simulator cannot use.
fn customer_sensitive(root: &Path, dir: &str) {
    let pem =
        |kind: &str| format!("-----BEGIN {kind}-----\nMIIBszCCAVmgAwIBAgIUcustomerRealMaterialNotForTheSimulator\n-----END {kind}-----\n");
    put(root, &format!("{dir}/fullchain.crt"), pem("CERTIFICATE").repeat(2));
    put(root, &format!("{dir}/private.key"), pem("PRIVATE KEY"));
    put(root, &format!("{dir}/public.pem"), pem("PUBLIC KEY"));
    put(
        root,
        &format!("{dir}/license.key"),
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZWFsIn0.c2ln\n",
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Globex: secrets.yaml naming files relative to targetCluster (the layout that used to
/// fail with `File '…/sensitive/deploy/sensitive/license.key' not found`), a component
/// whose file is missing, Java-only cluster.properties syntax, deploy.yaml without
/// influxdb and vision-analytics, extra files; the tools dir and targetCluster are git
/// repositories, targetCluster on branch `globex-prod`.
fn globex() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("k8sdeploy_tools");
    put(&t, "gradlew", "#!/bin/sh\necho the real gradle: never run in a rehearsal\nexit 3\n");
    put(&t, "build.gradle", "// the customer's real build\n");
    put(&t, ".gitignore", "targetCluster/\n.gradle/\nbuild/\n");
    put(&t, ".gradle/8.7/fileHashes/fileHashes.lock", [0u8, 1, 2, 3]);
    put(&t, "build/tmp/notes.txt", "scratch\n");
    put(&t, "docs/OPERATIONS.md", "# Globex operations\n");
    put(
        &t,
        "targetCluster/cluster.properties",
        "# Globex production cluster\n\
         ! managed by the platform team\n\
         provider = azure\n\
         deployment : production\n\
         vantiq_system_release=3.9.0\n\
         vantiq_system_release=3.10.0\n\
         vantiq.installation: globex\n\
         azure.tags = team=ops,\\\n      cost=vantiq,\\\n      owner=Jos\\u00e9\n\
         storageClassName vantiq-sc\n",
    );
    put(
        &t,
        "targetCluster/deploy.yaml",
        "# Globex values\nvantiq:\n  image:\n    repository: vantiq/vantiq-server\n    tag: \"1.30.10\"\n  replicas: 2\n  domain: vantiq.globex.example.com\n  metricsCollector:\n    enabled: \"yes\"\n  userdb:\n    enabled: false\n  resources:\n    limits: {memory: 8Gi}\nnginx:\n  controller:\n    replicaCount: 2\n",
    );
    put(
        &t,
        "targetCluster/secrets.yaml",
        "vantiq:\n  vantiq-ssl-cert:\n    type: kubernetes.io/tls\n    files:\n      tls.crt: deploy/sensitive/fullchain.crt\n      tls.key: deploy/sensitive/private.key\n  vantiq-license:\n    files:\n      public.pem: deploy/sensitive/public.pem\n      license.key: deploy/sensitive/license.key\nnginx:\n  default-ssl-cert:\n    namespace: shared\n    type: kubernetes.io/tls\n    files:\n      tls.crt: deploy/sensitive/fullchain.crt\n      tls.key: deploy/sensitive/private.key\ngrafana:\n  grafana-admin:\n    files:\n      admin-password: deploy/sensitive/grafana/admin-password\n",
    );
    put(
        &t,
        "targetCluster/kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: []\n# the customer's real cluster: never used by a rehearsal\n",
    );
    put(&t, "targetCluster/notes/maintenance-2026.md", "last upgrade: 1.29 -> 1.30\n");
    customer_sensitive(&t, "targetCluster/deploy/sensitive");
    git(&t, &["init", "-q", "-b", "main"]);
    git(&t, &["add", "-A"]);
    git(&t, &["commit", "-q", "-m", "tools"]);
    let target = t.join("targetCluster");
    git(&target, &["init", "-q", "-b", "globex-prod"]);
    git(&target, &["add", "-A"]);
    git(&target, &["commit", "-q", "-m", "globex"]);
    (d, t)
}

/// Initech: a `secrets:` list with file lists (no keys) and a license in a sub directory,
/// no `default-ssl-cert`; CRLF cluster.properties; a deploy.yaml with only the image tag;
/// no git anywhere but a `.git` file pointing at a worktree elsewhere; links inside and
/// outside the tree, a dangling link and a FIFO.
fn initech() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("k8sdeploy_tools");
    put(&t, ".git", "gitdir: /srv/repos/k8sdeploy_tools/.git/worktrees/initech\n");
    put(
        &t,
        "targetCluster/cluster.properties",
        "vantiq.installation=initech\r\nvantiq_system_release=3.10.0\r\nprovider=aws\r\n",
    );
    put(&t, "targetCluster/deploy.yaml", "vantiq:\n  image:\n    tag: 1.30.10\n");
    put(
        &t,
        "targetCluster/secrets.yaml",
        "secrets:\n  - name: vantiq-ssl-cert\n    type: kubernetes.io/tls\n    files: [fullchain.crt, private.key]\n  - name: vantiq-license\n    files:\n      - public.pem\n      - {key: license.key, file: license/license.key}\n",
    );
    customer_sensitive(&t, "targetCluster/deploy/sensitive");
    std::fs::rename(
        t.join("targetCluster/deploy/sensitive/license.key"),
        t.join("targetCluster/deploy/sensitive/lic.tmp"),
    )
    .unwrap();
    std::fs::create_dir_all(t.join("targetCluster/deploy/sensitive/license")).unwrap();
    std::fs::rename(
        t.join("targetCluster/deploy/sensitive/lic.tmp"),
        t.join("targetCluster/deploy/sensitive/license/license.key"),
    )
    .unwrap();
    let outside = d.path().join("shared-ca.crt");
    std::fs::write(&outside, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    std::os::unix::fs::symlink(&outside, t.join("targetCluster/ca.crt")).unwrap();
    std::os::unix::fs::symlink("deploy.yaml", t.join("targetCluster/values.yaml")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/secrets", t.join("targetCluster/old-secrets")).unwrap();
    let fifo = Command::new("mkfifo").arg(t.join("targetCluster/.pipe")).status().unwrap();
    assert!(fifo.success());
    (d, t)
}

/// Umbrella: nothing but cluster.properties (no vantiq_system_release), the sensitive
/// files and targetCluster's git branch; no secrets.yaml, no deploy.yaml.
fn umbrella() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("k8sdeploy_tools");
    put(&t, "targetCluster/cluster.properties", "vantiq.installation=umbrella\n");
    customer_sensitive(&t, "targetCluster/deploy/sensitive");
    let target = t.join("targetCluster");
    git(&target, &["init", "-q", "-b", "umbrella-prod"]);
    git(&target, &["add", "-A"]);
    git(&target, &["commit", "-q", "-m", "umbrella"]);
    (d, t)
}

/// Hooli: secrets at the top level of secrets.yaml as `key: file` mappings; the image as
/// `repository:tag`; YAML 1.1 booleans; other keys; a malformed `\u` in cluster.properties
/// on a key the tasks do not need.
fn hooli() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("k8sdeploy_tools");
    put(
        &t,
        "targetCluster/cluster.properties",
        "vantiq.installation=hooli\nvantiq_system_release=3.10.0\n",
    );
    put(
        &t,
        "targetCluster/deploy.yaml",
        "global:\n  registry: registry.hooli.example.com\nvantiq:\n  image: vantiq/vantiq-server:1.30.10\n  replicas: \"3\"\n  domain: vantiq.hooli.example.com\n  metricsCollector:\n    enabled: yes\n  visionAnalytics:\n    enabled: no\n  userdb:\n    enabled: \"true\"\ninfluxdb:\n  persistence:\n    size: 80Gi\n",
    );
    put(
        &t,
        "targetCluster/secrets.yaml",
        "version: 2\nvantiq-ssl-cert:\n  type: kubernetes.io/tls\n  tls.crt: fullchain.crt\n  tls.key: private.key\nvantiq-license:\n  public.pem: public.pem\n  license.key: license.key\ndefault-ssl-cert:\n  namespace: shared\n  type: kubernetes.io/tls\n  tls.crt: fullchain.crt\n  tls.key: private.key\n",
    );
    customer_sensitive(&t, "targetCluster/deploy/sensitive");
    (d, t)
}

/// `vscript run SCRIPT --rehearse --tools TOOLS --yes` (and `--set`s).
fn rehearse(tools: &Path, script: &str, sets: &[&str]) -> Output {
    let tools = tools.display().to_string();
    let mut args = vec!["run", script, "--rehearse", "--tools", &tools, "--yes", "--speed", "150"];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    vscript(&args, &std::env::temp_dir())
}

fn warnings(out: &Output) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("vscript sim: warning: "))
        .map(str::to_owned)
        .collect()
}

fn assert_clean_run(out: &Output, what: &str) {
    assert_eq!(out.code, 0, "{what}:\n{}", out.all());
    assert!(
        out.stderr.contains("the simulator recorded no invariant violation"),
        "{what}:\n{}",
        out.all()
    );
    assert!(!out.all().contains("File '"), "{what}:\n{}", out.all());
}

fn has(w: &[String], parts: &[&str]) -> bool {
    w.iter().any(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn a_tools_dir_naming_files_relative_to_target_cluster_rehearses_license_renew_and_patch_upgrade() {
    let (_d, tools) = globex();
    let original = tree(&tools);
    let out = rehearse(&tools, "license_renew", &[]);
    assert_clean_run(&out, "license_renew");
    let w = warnings(&out);
    assert!(has(&w, &["admin-password", "not found", "left out"]), "{w:#?}");
    assert!(has(&w, &["not a certificate/key pair issued by the simulator's CA"]), "{w:#?}");
    assert!(has(&w, &["not one the simulator can verify"]), "{w:#?}");
    assert!(has(&w, &["vantiq.visionAnalytics.enabled", "not installed"]), "{w:#?}");
    assert!(has(&w, &["influxdb.persistence.size", "not set"]), "{w:#?}");
    assert!(out.stderr.contains("cluster `globex-prod`"), "{}", out.all());
    assert!(out.stderr.contains("namespace `globex`"), "{}", out.all());
    assert!(!out.all().contains("the real gradle"), "the customer's gradlew never runs");

    let out = rehearse(&tools, "patch_upgrade", &["tag=1.30.11"]);
    assert_clean_run(&out, "patch_upgrade");
    assert_eq!(tree(&tools), original, "a rehearsal never modifies the customer's tools dir");
}

#[test]
fn a_tools_dir_with_a_secrets_list_crlf_properties_and_no_git_rehearses() {
    let (_d, tools) = initech();
    let out = rehearse(&tools, "maintenance_status", &[]);
    assert_clean_run(&out, "maintenance_status");
    let w = warnings(&out);
    assert!(has(&w, &["does not define secret `default-ssl-cert`"]), "{w:#?}");
    assert!(has(&w, &["key `fullchain.crt`", "stored as `tls.crt`"]), "{w:#?}");
    assert!(has(&w, &["ca.crt", "links outside the tools dir"]), "{w:#?}");
    assert!(has(&w, &["old-secrets", "dangling"]), "{w:#?}");
    assert!(has(&w, &[".pipe", "not a regular file"]), "{w:#?}");
    assert!(has(&w, &[".git", "repository of its own"]), "{w:#?}");
    assert!(has(&w, &["license/license.key", "not one the simulator can verify"]), "{w:#?}");
    assert!(out.stderr.contains("namespace `initech`"), "{}", out.all());
    for l in &w {
        assert!(!l.contains("BEGIN"), "no file contents in warnings: {l}");
    }
    let out = rehearse(&tools, "patch_upgrade", &["tag=1.30.11"]);
    assert_clean_run(&out, "patch_upgrade");
}

#[test]
fn a_tools_dir_without_secrets_yaml_or_deploy_yaml_rehearses() {
    let (_d, tools) = umbrella();
    let out = rehearse(&tools, "license_renew", &[]);
    assert_clean_run(&out, "license_renew");
    let w = warnings(&out);
    assert!(has(&w, &["secrets.yaml not found", "default secrets"]), "{w:#?}");
    assert!(has(&w, &["deploy.yaml not found"]), "{w:#?}");
    assert!(
        has(&w, &["`vantiq_system_release` not set", "appended to the rehearsal copy"]),
        "{w:#?}"
    );
    assert!(out.stderr.contains("cluster `umbrella-prod`"), "{}", out.all());
    let out = rehearse(&tools, "maintenance_status", &[]);
    assert_clean_run(&out, "maintenance_status");
    assert!(!tools.join("targetCluster/deploy.yaml").exists(), "the original is untouched");
}

#[test]
fn a_tools_dir_with_flat_secrets_and_an_image_reference_rehearses() {
    let (_d, tools) = hooli();
    let good = std::fs::read(tools.join("targetCluster/cluster.properties")).unwrap();
    let mut props = good.clone();
    props.extend_from_slice(b"owner=Jos\\u00g9\n");
    std::fs::write(tools.join("targetCluster/cluster.properties"), &props).unwrap();
    // Java cannot read this cluster.properties: the simulator warns (its gradle tasks fail,
    // as they would), and vscript, which reads the namespace from it, refuses with where
    // and why before anything runs.
    let out = rehearse(&tools, "maintenance_status", &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        has(&warnings(&out), &["Malformed \\uxxxx encoding", "gradle tasks fail"]),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("malformed \\uxxxx escape at line 3"), "{}", out.all());
    std::fs::write(tools.join("targetCluster/cluster.properties"), &good).unwrap();
    let out = rehearse(&tools, "maintenance_status", &[]);
    assert_clean_run(&out, "maintenance_status");
    let w = warnings(&out);
    assert!(has(&w, &["secrets.yaml: version", "ignored"]), "{w:#?}");
    assert!(!has(&w, &["not installed"]), "every component is declared: {w:#?}");
    assert!(out.stderr.contains("namespace `hooli`"), "{}", out.all());
}

#[test]
fn sim_start_seeds_from_a_customer_tools_dir_with_warnings() {
    let (_d, tools) = globex();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(crate::harness::bin())
        .args(["sim", "start", "--dir", dir.path().to_str().unwrap(), "--speed", "200", "--tools"])
        .arg(&tools)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("vscript sim ready: "), "{line}");
    let info: vscript_sim::SimInfo = serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim.json")).unwrap()).unwrap();
    assert_eq!((info.namespace.as_str(), info.cluster.as_str()), ("globex", "globex-prod"));
    let out = Command::new("kubectl")
        .args(["--kubeconfig", &info.kubeconfig, "--cache-dir"])
        .arg(dir.path().join(".kube-cache"))
        .args(["get", "sts", "-n", "globex"])
        .output()
        .unwrap();
    let sts = String::from_utf8_lossy(&out.stdout);
    assert!(sts.contains("vantiq") && sts.contains("metrics-collector"), "{sts}");
    assert!(!sts.contains("vision-analytics"), "{sts}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let w: Vec<&str> = err.lines().filter(|l| l.starts_with("vscript sim: warning: ")).collect();
    assert!(w.len() >= 4, "{err}");
    assert!(w.iter().any(|l| l.contains("admin-password")), "{err}");
    let out = vscript(&["sim", "check", "--dir", dir.path().to_str().unwrap()], &std::env::temp_dir());
    assert_eq!(out.code, 0, "{}", out.all());
}
