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
use kube_util::Quantity;
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
    for w in copy_tree_tolerant(src, dst)? {
        eprintln!("vscript sim: warning: {w}");
    }
    Ok(())
}

/// Copies a customer's checkout into a rehearsal's copy without ever giving the copy a
/// way back to the original or elsewhere: a symlink that stays inside the tree is kept,
/// one that leads outside is replaced by a copy of its file (a directory or a dangling
/// link outside is left out); a `.git` *file* (a worktree or submodule pointing at
/// another repository) is left out, so the copy gets its own repository; sockets, FIFOs,
/// devices and unreadable files are left out. Returns a warning for each thing left out
/// or changed; fails only when `src` itself cannot be read or `dst` cannot be written.
pub fn copy_tree_tolerant(src: &Path, dst: &Path) -> Result<Vec<String>> {
    let root = std::fs::canonicalize(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut warn = Vec::new();
    copy_dir(&root, &root, dst, &mut warn)?;
    Ok(warn)
}

fn copy_dir(root: &Path, src: &Path, dst: &Path, warn: &mut Vec<String>) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    let entries = match std::fs::read_dir(src) {
        Ok(e) => e,
        Err(e) if src != root => {
            warn.push(format!("{}: cannot read ({e}); left out of the copy", src.display()));
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", src.display())),
    };
    for e in entries {
        let e = e?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&from)?;
            match std::fs::canonicalize(&from) {
                Ok(real) if real.starts_with(root) => std::os::unix::fs::symlink(&target, &to)?,
                Ok(real) if real.is_file() => match std::fs::copy(&real, &to) {
                    Ok(_) => warn.push(format!(
                        "{} links outside the tools dir; the copy holds a copy of the file instead of the link",
                        from.display()
                    )),
                    Err(err) => warn.push(format!("{}: cannot read ({err}); left out of the copy", from.display())),
                },
                Ok(_) => warn.push(format!(
                    "{} links to a directory outside the tools dir; left out of the copy",
                    from.display()
                )),
                Err(_) => warn.push(format!("{} is a dangling link; left out of the copy", from.display())),
            }
        } else if ft.is_dir() {
            copy_dir(root, &from, &to, warn)?;
        } else if ft.is_file() {
            if e.file_name() == ".git" {
                warn.push(format!(
                    "{} points at a repository elsewhere (a worktree or submodule); the copy gets a repository of its own",
                    from.display()
                ));
                continue;
            }
            if let Err(err) = std::fs::copy(&from, &to) {
                warn.push(format!("{}: cannot read ({err}); left out of the copy", from.display()));
            }
        } else {
            warn.push(format!("{} is not a regular file; left out of the copy", from.display()));
        }
    }
    Ok(())
}

/// Reads a `.properties` file as Java does (see [`super::javaprops`]): an error names the
/// file and line.
pub fn read_props(path: &Path) -> Result<BTreeMap<String, String>> {
    super::javaprops::read(path)
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

/// A boolean, also from the strings YAML 1.1 (Helm's parser) reads as booleans.
pub fn yaml_bool(v: &Value, path: &str) -> Option<bool> {
    match yaml_get(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The Vantiq image tag of a deploy.yaml: `vantiq.image.tag`, or `vantiq.image` written as
/// `repository:tag`, or `vantiq.tag` / `vantiq.version`.
pub fn vantiq_tag(deploy: &Value) -> Option<String> {
    if let Some(t) = yaml_str(deploy, "vantiq.image.tag") {
        return Some(t);
    }
    if let Some(Value::String(img)) = yaml_get(deploy, "vantiq.image")
        && let Some((_, t)) = img.rsplit_once(':')
        && !t.contains('/')
    {
        return Some(t.to_owned());
    }
    yaml_str(deploy, "vantiq.tag").or_else(|| yaml_str(deploy, "vantiq.version"))
}

/// Seeds an installation from a *copy* of a customer's tools dir; returns the options
/// and a warning for everything it could not interpret (a default is used instead).
/// Never refuses a layout: only a tools dir without `targetCluster/` is an error. The
/// copy is completed where the simulator's tasks need it: a missing `cluster.properties`
/// or `deploy.yaml` is written with the defaults, and `vantiq.installation` /
/// `vantiq_system_release` are appended (with a comment) when the file lacks them.
pub fn seed_from(tools: &Path, defaults: &SeedOptions) -> Result<(SeedOptions, Vec<String>)> {
    let target = tools.join("targetCluster");
    if !target.is_dir() {
        bail!("{} not found: is {} a k8sdeploy_tools checkout?", target.display(), tools.display());
    }
    let props_path = target.join("cluster.properties");
    let deploy_path = target.join("deploy.yaml");
    let mut warn = Vec::new();
    let mut o = defaults.clone();
    if let Some(b) = branch(&target) {
        o.cluster = b;
    }

    // cluster.properties, read as Java reads it.
    let props = match std::fs::read(&props_path) {
        Ok(bytes) => {
            let (entries, bad) = super::javaprops::parse_lenient(&bytes);
            for e in bad {
                warn.push(format!(
                    "{}: {e}: k8sdeploy_tools (Java) cannot read this file, so its gradle tasks fail as they would on the real cluster; the line is ignored here",
                    props_path.display()
                ));
            }
            Some(super::javaprops::to_map(&entries))
        }
        Err(e) => {
            warn.push(format!("cannot read {} ({e}); using the defaults", props_path.display()));
            None
        }
    };
    let get = |k: &str| {
        props
            .as_ref()
            .and_then(|p| p.get(k))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut missing = Vec::new();
    match get("vantiq.installation") {
        Some(ns) if is_dns_label(&ns) => o.namespace = ns,
        Some(ns) => warn.push(format!(
            "{}: `vantiq.installation` is `{ns}`, not a namespace name; using {}",
            props_path.display(),
            o.namespace
        )),
        None => missing.push(("vantiq.installation", o.namespace.clone())),
    }
    match get("vantiq_system_release") {
        Some(r) => o.system_release = r,
        None => missing.push(("vantiq_system_release", o.system_release.clone())),
    }
    if props.is_none() && !props_path.exists() {
        write(&props_path, &cluster_properties(&o))?;
    } else if props.is_some() && !missing.is_empty() {
        let mut text = std::fs::read(&props_path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(b"# Added by the vscript simulator to this rehearsal copy (missing from the original):\n");
        for (k, v) in &missing {
            text.extend_from_slice(format!("{k}={v}\n").as_bytes());
            warn.push(format!(
                "{}: `{k}` not set; using {v} (appended to the rehearsal copy)",
                props_path.display()
            ));
        }
        std::fs::write(&props_path, text).with_context(|| format!("cannot write {}", props_path.display()))?;
    }

    // deploy.yaml.
    let deploy = if deploy_path.exists() {
        match read_yaml(&deploy_path) {
            Ok(v) if v.is_object() => Some(v),
            Ok(_) => {
                warn.push(format!("{}: not a mapping of values; using the defaults", deploy_path.display()));
                None
            }
            Err(e) => {
                warn.push(format!("{e:#}; using the defaults"));
                None
            }
        }
    } else {
        None
    };
    let d = deploy.clone().unwrap_or(Value::Object(Default::default()));
    let mut take = |found: Option<String>, what: &str, slot: &mut String| match found {
        Some(v) => *slot = v,
        None if deploy.is_some() => warn.push(format!("{}: `{what}` not set; using {}", deploy_path.display(), slot)),
        None => {}
    };
    take(vantiq_tag(&d), "vantiq.image.tag", &mut o.image_tag);
    take(
        yaml_str(&d, "influxdb.persistence.size").filter(|s| Quantity::parse(s).and_then(Quantity::bytes).is_some()),
        "influxdb.persistence.size",
        &mut o.influxdb_size,
    );
    if super::vantiq::image_version(&format!("x:{}", o.image_tag)).is_none() {
        warn.push(format!(
            "{}: vantiq image tag `{}` is not a version (major.minor.patch); using {}",
            deploy_path.display(),
            o.image_tag,
            defaults.image_tag
        ));
        o.image_tag = defaults.image_tag.clone();
    }
    if let Some(h) = yaml_str(&d, "vantiq.domain") {
        o.vantiq_host = h;
    }
    match yaml_str(&d, "vantiq.replicas").map(|r| r.parse::<u32>()) {
        Some(Ok(r)) => o.vantiq_replicas = r,
        Some(Err(_)) => warn.push(format!(
            "{}: `vantiq.replicas` is not a number; using {}",
            deploy_path.display(),
            o.vantiq_replicas
        )),
        None => {}
    }
    for (key, slot) in [
        ("vantiq.metricsCollector.enabled", &mut o.metrics_collector),
        ("vantiq.visionAnalytics.enabled", &mut o.vision_analytics),
        ("vantiq.userdb.enabled", &mut o.userdb),
    ] {
        match yaml_bool(&d, key) {
            Some(b) => *slot = b,
            None => {
                *slot = false;
                if deploy.is_some() {
                    warn.push(format!(
                        "{}: `{key}` not set; the component is not installed",
                        deploy_path.display()
                    ));
                }
            }
        }
    }
    if !deploy_path.exists() {
        warn.push(format!(
            "{} not found; using the defaults without optional components (a default deploy.yaml is written to the rehearsal copy)",
            deploy_path.display()
        ));
        write(&deploy_path, &deploy_yaml(&o))?;
    }
    Ok((o, warn))
}

/// A Kubernetes namespace name (RFC 1123 label).
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
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
