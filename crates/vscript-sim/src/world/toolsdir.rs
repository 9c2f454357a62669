//! The `k8sdeploy_tools` checkout of a rehearsal: generated (a git checkout with a local
//! bare origin, `targetCluster/` a git repository on the cluster's branch with commented
//! `cluster.properties`, `deploy.yaml`, `secrets.yaml` and sensitive files), or copied
//! from a customer's tools dir (`--tools`) with its `gradlew` and kubeconfig replaced by
//! the simulator's so a rehearsal can never reach the real cluster. Also the readers of
//! `cluster.properties` and `deploy.yaml` the seed and the gradle shim share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::seed::SeedOptions;

/// Runs git in `dir` with a fixed identity, whatever the machine's git configuration.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=vscript-sim",
            "-c",
            "user.email=vscript-sim@localhost",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "init.defaultBranch=master", "-c", "advice.detachedHead=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "vscript-sim")
        .env("GIT_AUTHOR_EMAIL", "vscript-sim@localhost")
        .env("GIT_COMMITTER_NAME", "vscript-sim")
        .env("GIT_COMMITTER_EMAIL", "vscript-sim@localhost")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .with_context(|| format!("cannot run git in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The current branch of a git work tree, if it is one.
pub fn branch(dir: &Path) -> Option<String> {
    if !dir.join(".git").exists() {
        return None;
    }
    git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])
        .ok()
        .filter(|b| !b.is_empty() && b != "HEAD")
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `gradlew` shim: runs the simulator's gradle with the tools dir in the environment.
pub fn gradlew_script(gradle_cmd: &[String]) -> String {
    let cmd: Vec<String> = gradle_cmd.iter().map(|a| sh_quote(a)).collect();
    format!(
        "#!/bin/sh\n\
         # Gradle wrapper shim written by the vscript simulator. Every task runs against the\n\
         # simulated cluster (see .vscript/sim.json), never against a real one.\n\
         VSCRIPT_SIM_TOOLS=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n\
         export VSCRIPT_SIM_TOOLS\n\
         exec {} \"$@\"\n",
        cmd.join(" ")
    )
}

/// Installs the shim as `tools/gradlew` (executable).
pub fn install_gradlew(tools: &Path, gradle_cmd: &[String]) -> Result<()> {
    let path = tools.join("gradlew");
    let _ = std::fs::remove_file(&path);
    write(&path, &gradlew_script(gradle_cmd))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The sensitive files of targetCluster.
pub struct Sensitive {
    pub fullchain: String,
    pub key: String,
    pub public_pem: String,
    pub license_key: String,
}

/// Writes `deploy/sensitive/*` (keys with mode 0600).
pub fn write_sensitive(target: &Path, s: &Sensitive) -> Result<()> {
    let dir = target.join("deploy/sensitive");
    for (f, text) in [
        ("fullchain.crt", &s.fullchain),
        ("private.key", &s.key),
        ("public.pem", &s.public_pem),
        ("license.key", &s.license_key),
    ] {
        let p = dir.join(f);
        write(&p, text)?;
        if f.ends_with(".key") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Generates `DIR/k8sdeploy_tools` and its bare origin `DIR/origin.git`.
pub fn generate(dir: &Path, o: &SeedOptions, gradle_cmd: &[String], kubeconfig: &str, s: &Sensitive) -> Result<PathBuf> {
    let tools = dir.join("k8sdeploy_tools");
    std::fs::create_dir_all(&tools)?;
    install_gradlew(&tools, gradle_cmd)?;
    write(&tools.join("settings.gradle"), "rootProject.name = 'k8sdeploy_tools'\n")?;
    write(&tools.join("build.gradle"), BUILD_GRADLE)?;
    write(&tools.join("README.md"), README)?;
    write(&tools.join(".gitignore"), "targetCluster/\n.vscript/\n.gradle/\nbuild/\n")?;
    git(&tools, &["init", "-q", "-b", "master"])?;
    git(&tools, &["add", "-A"])?;
    git(&tools, &["commit", "-q", "-m", "k8sdeploy_tools 3.10 (simulated checkout)"])?;
    ensure_origin(dir, &tools)?;

    let target = tools.join("targetCluster");
    write(&target.join("cluster.properties"), &cluster_properties(o))?;
    write(&target.join("deploy.yaml"), &deploy_yaml(o))?;
    write(&target.join("secrets.yaml"), SECRETS_YAML)?;
    write(&target.join("kubeconfig"), kubeconfig)?;
    write(&target.join(".gitignore"), "deploy/secrets/\n")?;
    write_sensitive(&target, s)?;
    super::gradle::generate_secrets(&target)?;
    git(&target, &["init", "-q", "-b", &o.cluster])?;
    git(&target, &["add", "-A"])?;
    git(&target, &["commit", "-q", "-m", &format!("Cluster {} configuration", o.cluster)])?;
    Ok(tools)
}

/// Gives a tools checkout a local bare `origin` (and upstream) when it has none, so
/// `git pull` works in rehearsal.
pub fn ensure_origin(dir: &Path, tools: &Path) -> Result<()> {
    if !tools.join(".git").exists() {
        git(tools, &["init", "-q", "-b", "master"])?;
    }
    if git(tools, &["rev-parse", "--verify", "-q", "HEAD"]).is_err() {
        git(tools, &["add", "-A"])?;
        git(tools, &["commit", "-q", "--allow-empty", "-m", "k8sdeploy_tools (rehearsal copy)"])?;
    }
    let has_origin = git(tools, &["remote"]).map(|r| r.lines().any(|l| l == "origin")).unwrap_or(false);
    let origin = dir.join("origin.git");
    if has_origin {
        // A copied checkout keeps pointing at the customer's remote: never pull from it in rehearsal.
        git(tools, &["remote", "remove", "origin"])?;
    }
    let _ = std::fs::remove_dir_all(&origin);
    git(
        dir,
        &["clone", "-q", "--bare", &tools.display().to_string(), &origin.display().to_string()],
    )?;
    let b = branch(tools).unwrap_or_else(|| "master".into());
    git(tools, &["remote", "add", "origin", &origin.display().to_string()])?;
    git(tools, &["fetch", "-q", "origin"])?;
    git(tools, &["branch", "-q", &format!("--set-upstream-to=origin/{b}"), &b])?;
    Ok(())
}

/// Copies a directory tree (files, directories, symlinks; modes kept).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    for e in std::fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let e = e?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    Ok(())
}

/// Reads a `.properties` file: `key=value` or `key: value`, `#`/`!` comments.
pub fn read_props(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let Some(pos) = l.find(['=', ':']) else {
            bail!("{}:{}: expected `key=value`, found `{}`", path.display(), i + 1, l);
        };
        out.insert(l[..pos].trim().to_owned(), l[pos + 1..].trim().to_owned());
    }
    Ok(out)
}

/// Reads a YAML file into JSON values.
pub fn read_yaml(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(if v.is_null() { Value::Object(Default::default()) } else { v })
}

/// A nested value by dotted path (`vantiq.image.tag`), also accepting a literal dotted key.
pub fn yaml_get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let (head, rest) = path.split_once('.')?;
    yaml_get(v.get(head)?, rest)
}

/// A scalar as a string.
pub fn yaml_str(v: &Value, path: &str) -> Option<String> {
    match yaml_get(v, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn yaml_bool(v: &Value, path: &str) -> Option<bool> {
    match yaml_get(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Seeds an installation from an existing tools dir; returns the options and warnings.
pub fn seed_from(tools: &Path, defaults: &SeedOptions) -> Result<(SeedOptions, Vec<String>)> {
    let target = tools.join("targetCluster");
    let props_path = target.join("cluster.properties");
    let deploy_path = target.join("deploy.yaml");
    if !props_path.exists() {
        bail!(
            "{} not found: is {} a k8sdeploy_tools checkout?",
            props_path.display(),
            tools.display()
        );
    }
    let props = read_props(&props_path)?;
    let deploy = if deploy_path.exists() {
        read_yaml(&deploy_path)?
    } else {
        Value::Object(Default::default())
    };
    let mut warn = Vec::new();
    let mut o = defaults.clone();
    let mut take = |found: Option<String>, what: &str, file: &Path, slot: &mut String| match found {
        Some(v) => *slot = v,
        None => warn.push(format!("{}: `{what}` not set; using {}", file.display(), slot)),
    };
    take(
        props.get("vantiq.installation").cloned(),
        "vantiq.installation",
        &props_path,
        &mut o.namespace,
    );
    take(
        props.get("vantiq_system_release").cloned(),
        "vantiq_system_release",
        &props_path,
        &mut o.system_release,
    );
    take(
        yaml_str(&deploy, "vantiq.image.tag"),
        "vantiq.image.tag",
        &deploy_path,
        &mut o.image_tag,
    );
    take(
        yaml_str(&deploy, "influxdb.persistence.size"),
        "influxdb.persistence.size",
        &deploy_path,
        &mut o.influxdb_size,
    );
    if let Some(d) = yaml_str(&deploy, "vantiq.domain") {
        o.vantiq_host = d;
    }
    if let Some(r) = yaml_str(&deploy, "vantiq.replicas").and_then(|r| r.parse().ok()) {
        o.vantiq_replicas = r;
    }
    for (key, slot) in [
        ("vantiq.metricsCollector.enabled", &mut o.metrics_collector),
        ("vantiq.visionAnalytics.enabled", &mut o.vision_analytics),
        ("vantiq.userdb.enabled", &mut o.userdb),
    ] {
        match yaml_bool(&deploy, key) {
            Some(b) => *slot = b,
            None => {
                *slot = false;
                warn.push(format!(
                    "{}: `{key}` not set; the component is not installed",
                    deploy_path.display()
                ));
            }
        }
    }
    if let Some(b) = branch(&target) {
        o.cluster = b;
    }
    Ok((o, warn))
}

pub fn cluster_properties(o: &SeedOptions) -> String {
    format!(
        "# cluster.properties for cluster {cluster}\n\
         # Read by every k8sdeploy_tools task run with -Pcluster={cluster}.\n\
         # After changing anything here, run ./gradlew -Pcluster={cluster} setupCluster.\n\
         \n\
         # Cloud provider hosting the cluster: azure, aws or gcp\n\
         provider=azure\n\
         # production | staging | development\n\
         deployment=production\n\
         \n\
         # The k8sdeploy_tools system release that supports the deployed Vantiq version\n\
         # (see the release matrix before a minor upgrade).\n\
         vantiq_system_release={release}\n\
         \n\
         # Kubernetes namespace of the Vantiq installation\n\
         vantiq.installation={ns}\n\
         \n\
         # Remote the tools must be cloned from\n\
         requiredRemote=git@github.com:Vantiq/k8sdeploy_tools.git\n\
         \n\
         # Azure specifics\n\
         azure.resourceGroup={ns}-vantiq-rg\n\
         azure.region=japaneast\n\
         # Internal load balancer / private AKS (needs a service principal; renew before it expires)\n\
         azure.internalLoadBalancer=false\n\
         storageClassName=vantiq-sc\n",
        cluster = o.cluster,
        release = o.system_release,
        ns = o.namespace
    )
}

pub fn deploy_yaml(o: &SeedOptions) -> String {
    format!(
        r#"# deploy.yaml: deployment values for cluster {cluster}
# Values here override the chart defaults of k8sdeploy_tools. Apply changes with
#   ./gradlew -Pcluster={cluster} deployVantiq   (vantiq and its components)
#   ./gradlew -Pcluster={cluster} deployShared   (influxdb, grafana, ...)

vantiq:
  # Vantiq server image. Change only as part of an upgrade (see the maintenance runbook):
  # a minor upgrade (1.30 -> 1.31) migrates the database schema and needs downtime.
  image:
    repository: vantiq/vantiq-server
    tag: {tag}
  # Number of Vantiq server pods; deployVantiq scales the StatefulSet back to this.
  replicas: {replicas}
  domain: {host}

  metricsCollector:
    enabled: {mc}
    image:
      tag: {tag}
    replicas: 1

  # Needs the GPU node pool.
  visionAnalytics:
    enabled: {va}
    image:
      tag: {tag}
    replicas: 2

  userdb:
    enabled: {userdb}

  ingress:
    className: nginx
    annotations: |
      {{{{- if .Values.vantiq.ingress.internal }}}}
      service.beta.kubernetes.io/azure-load-balancer-internal: "true"
      {{{{- end }}}}
      nginx.ingress.kubernetes.io/proxy-body-size: "50m"

mongodb:
  image:
    tag: "4.4.29"
  persistence:
    size: 100Gi

influxdb:
  image:
    tag: "1.8.10"
  persistence:
    # To grow the volume: patch the PVC, delete the StatefulSet, change this, deployShared
    # (see resize_influxdb_pv).
    size: {influx}

grafana:
  image:
    tag: "9.5.21"
  # adminPassword comes from secrets.yaml
"#,
        cluster = o.cluster,
        tag = o.image_tag,
        replicas = o.vantiq_replicas,
        host = o.vantiq_host,
        mc = o.metrics_collector,
        va = o.vision_analytics,
        userdb = o.userdb,
        influx = o.influxdb_size
    )
}

/// secrets.yaml: which Secret (per component) is made of which files under deploy/sensitive.
pub const SECRETS_YAML: &str = r#"# secrets.yaml: Kubernetes secrets generated by `generateSecrets` from the files in
# deploy/sensitive. Output goes to deploy/secrets/<component>/<secret>.yaml.
vantiq:
  vantiq-ssl-cert:
    type: kubernetes.io/tls
    files:
      tls.crt: fullchain.crt   # leaf certificate followed by every intermediate
      tls.key: private.key
  vantiq-license:
    files:
      public.pem: public.pem
      license.key: license.key
nginx:
  default-ssl-cert:
    namespace: shared
    type: kubernetes.io/tls
    files:
      tls.crt: fullchain.crt
      tls.key: private.key
"#;

const BUILD_GRADLE: &str = "// k8sdeploy_tools (simulated). The tasks are provided by the vscript simulator's\n\
// gradle shim: setupCluster, generateSecrets, deployVantiq, deployNginx, deployShared.\n\
plugins { id 'base' }\n";

const README: &str = "# k8sdeploy_tools (simulated checkout)\n\n\
This checkout was generated by the vscript simulator for rehearsals. `./gradlew` runs the\n\
simulator's gradle shim against the simulated cluster. Run every task as\n\
`./gradlew -Pcluster=<cluster> <task>` from this directory.\n";
