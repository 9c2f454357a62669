//! The `gradlew` shim: acts like k8sdeploy_tools against the simulated API server, over
//! HTTP like the real tools (the server comes from `targetCluster/kubeconfig`).
//! Tasks: `setupCluster`, `generateSecrets`, `deployVantiq` (secrets, image tags, and
//! the replica reset a Helm upgrade does), `deployNginx`, `deployShared`. Output and
//! failures look like gradle's; an unknown task or a wrong `-Pcluster` fails like the
//! real build does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use super::toolsdir::{self, read_props, read_yaml, vantiq_tag, yaml_bool, yaml_str};
use super::{SimInfo, WorldFaults, seed};

const TASKS: [&str; 5] = ["setupCluster", "generateSecrets", "deployVantiq", "deployNginx", "deployShared"];

enum Failure {
    /// Configuration phase (build script evaluation).
    Config(String),
    /// Task lookup.
    NoTask(String),
    /// A task's action.
    Task(String, String),
}

fn print_failure(f: &Failure, started: Instant, tools: &Path) {
    let (where_, what) = match f {
        Failure::Config(m) => (
            Some(format!("Build file '{}' line: 27", tools.join("build.gradle").display())),
            format!("A problem occurred evaluating root project 'k8sdeploy_tools'.\n> {m}"),
        ),
        Failure::NoTask(t) => (None, format!("Task '{t}' not found in root project 'k8sdeploy_tools'.")),
        Failure::Task(t, m) => (None, format!("Execution failed for task ':{t}'.\n> {m}")),
    };
    let mut s = String::from("\nFAILURE: Build failed with an exception.\n\n");
    if let Some(w) = where_ {
        s.push_str(&format!("* Where:\n{w}\n\n"));
    }
    s.push_str(&format!("* What went wrong:\n{what}\n\n"));
    let hint = if matches!(f, Failure::NoTask(_)) {
        "> Run gradlew tasks to get a list of available tasks.\n> For more on name expansion, please refer to https://docs.gradle.org/8.7/userguide/command_line_interface.html#sec:name_abbreviation in the Gradle documentation.\n"
    } else {
        ""
    };
    s.push_str(&format!(
        "* Try:\n{hint}> Run with --stacktrace option to get the stack trace.\n> Run with --info or --debug option to get more log output.\n> Run with --scan to get full insights.\n> Get more help at https://help.gradle.org.\n\nBUILD FAILED in {}s\n",
        started.elapsed().as_secs().max(1)
    ));
    eprint!("{s}");
}

/// Finds the tools dir: `$VSCRIPT_SIM_TOOLS` (set by the generated gradlew), else the
/// current directory or one of its parents holding `.vscript/sim.json`.
fn find_tools() -> Option<PathBuf> {
    if let Some(t) = std::env::var_os("VSCRIPT_SIM_TOOLS") {
        return Some(PathBuf::from(t));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|d| d.join(".vscript/sim.json").exists())
        .map(Path::to_path_buf)
}

/// The shim's entry point: `args` as given to `./gradlew`. Returns the exit code.
pub fn gradle_main(args: Vec<String>) -> i32 {
    let started = Instant::now();
    let mut cluster = None;
    let mut tasks = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("-Pcluster=") {
            cluster = Some(v.to_owned());
        } else if a == "-P" {
            if let Some(v) = it.next().and_then(|p| p.strip_prefix("cluster=").map(str::to_owned)) {
                cluster = Some(v);
            }
        } else if !a.starts_with('-') {
            tasks.push(a);
        }
    }
    let Some(tools) = find_tools() else {
        eprintln!("vscript sim gradle: not inside a simulated tools dir (no .vscript/sim.json here or above)");
        return 1;
    };
    let ctx = match Ctx::new(&tools, cluster.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            print_failure(&Failure::Config(format!("{e:#}")), started, &tools);
            return 1;
        }
    };
    if tasks.is_empty() {
        println!(
            "> Task :help\n\nWelcome to Gradle 8.7.\n\nTo run a build, run gradlew <task> ...\n\nBUILD SUCCESSFUL in 1s\n1 actionable task: 1 executed"
        );
        return 0;
    }
    if let Some(t) = tasks.iter().find(|t| !TASKS.contains(&t.as_str())) {
        print_failure(&Failure::NoTask(t.clone()), started, &tools);
        return 1;
    }
    for t in &tasks {
        println!("> Task :{t}");
        let res = if ctx.faults.gradle.get(t).is_some_and(|f| f == "fail") {
            Err(anyhow!(
                "Process 'command 'helm'' finished with non-zero exit value 1 (injected fault)"
            ))
        } else {
            ctx.run(t)
        };
        if let Err(e) = res {
            println!("> Task :{t} FAILED");
            print_failure(&Failure::Task(t.clone(), format!("{e:#}")), started, &tools);
            return 1;
        }
    }
    println!(
        "\nBUILD SUCCESSFUL in {}s\n{} actionable task{}: {} executed",
        started.elapsed().as_secs().max(1),
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" },
        tasks.len()
    );
    0
}

struct Ctx {
    target: PathBuf,
    api: String,
    /// The simulator's admin listener (`/__sim/...`).
    admin: Option<String>,
    ns: String,
    faults: WorldFaults,
    agent: ureq::Agent,
    /// The kubeconfig user's bearer token header, if any.
    authorization: Option<String>,
}

impl Ctx {
    fn new(tools: &Path, cluster: Option<&str>) -> Result<Ctx> {
        let target = tools.join("targetCluster");
        let Some(cluster) = cluster else {
            bail!("Property 'cluster' is required: run ./gradlew -Pcluster=<cluster name> <task>");
        };
        let branch = toolsdir::branch(&target).unwrap_or_default();
        if branch != cluster {
            bail!("Cluster '{cluster}' not found: targetCluster is on branch '{branch}'");
        }
        let props = read_props(&target.join("cluster.properties"))?;
        let ns = props
            .get("vantiq.installation")
            .cloned()
            .context("cluster.properties has no vantiq.installation")?;
        let access = crate::kubeconfig::access(&target.join("kubeconfig"))?;
        let api = access.server;
        let info: Option<SimInfo> = std::fs::read_to_string(tools.join(".vscript/sim.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let faults = info.as_ref().map(|i| WorldFaults::load(Path::new(&i.dir))).unwrap_or_default();
        let admin = info.map(|i| i.admin).filter(|a| !a.is_empty());
        Ok(Ctx {
            target,
            api,
            admin,
            ns,
            faults,
            agent: access.agent,
            authorization: access.authorization,
        })
    }

    fn run(&self, task: &str) -> Result<()> {
        match task {
            "setupCluster" => self.setup_cluster(),
            "generateSecrets" => self.generate_secrets(),
            "deployVantiq" => self.deploy_vantiq(),
            "deployNginx" => self.apply_secrets("nginx"),
            "deployShared" => self.deploy_shared(),
            _ => unreachable!(),
        }
    }

    fn url(&self, kind: &str, ns: &str, name: Option<&str>) -> String {
        let (prefix, plural) = match kind {
            "StatefulSet" => ("apis/apps/v1", "statefulsets"),
            "Secret" => ("api/v1", "secrets"),
            "ConfigMap" => ("api/v1", "configmaps"),
            _ => ("api/v1", "pods"),
        };
        let base = format!("{}/{prefix}/namespaces/{ns}/{plural}", self.api.trim_end_matches('/'));
        name.map_or(base.clone(), |n| format!("{base}/{n}"))
    }

    fn authorized<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.authorization {
            Some(a) => r.header("Authorization", a),
            None => r,
        }
    }

    fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let resp = match (method, body) {
            ("GET", _) => self.authorized(self.agent.get(url)).call(),
            ("POST", Some(b)) => self.authorized(self.agent.post(url)).send_json(b),
            ("PUT", Some(b)) => self.authorized(self.agent.put(url)).send_json(b),
            _ => bail!("unsupported request {method}"),
        };
        let mut resp = resp.map_err(|e| anyhow!("Kubernetes cluster unreachable: {e}"))?;
        let code = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((code, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> Result<Option<Value>> {
        match self.call("GET", &self.url(kind, ns, Some(name)), None)? {
            (200, v) => Ok(Some(v)),
            (404, _) => Ok(None),
            (c, v) => bail!("GET {kind} {ns}/{name}: {c} {}", msg(&v)),
        }
    }

    /// Creates or replaces an object, like `helm upgrade --install`; a change helm cannot
    /// make fails with helm's message.
    fn apply(&self, kind: &str, ns: &str, obj: &mut Value) -> Result<&'static str> {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        for _ in 0..5 {
            match self.get(kind, ns, &name)? {
                None => {
                    let (c, v) = self.call("POST", &self.url(kind, ns, None), Some(obj))?;
                    if c >= 300 {
                        bail!("Error: UPGRADE FAILED: cannot create {name:?} with kind {kind}: {}", msg(&v));
                    }
                    return Ok("created");
                }
                Some(cur) => {
                    obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
                    let (c, v) = self.call("PUT", &self.url(kind, ns, Some(&name)), Some(obj))?;
                    match c {
                        200 | 201 => {
                            return Ok(if v["metadata"]["resourceVersion"] == cur["metadata"]["resourceVersion"] {
                                "unchanged"
                            } else {
                                "configured"
                            });
                        }
                        409 => continue,
                        _ => bail!("Error: UPGRADE FAILED: cannot patch {name:?} with kind {kind}: {}", msg(&v)),
                    }
                }
            }
        }
        bail!("Error: UPGRADE FAILED: {kind} {name:?} keeps changing (conflicts)")
    }

    fn deploy(&self) -> Result<Value> {
        read_yaml(&self.target.join("deploy.yaml"))
    }

    fn setup_cluster(&self) -> Result<()> {
        let props = read_props(&self.target.join("cluster.properties"))?;
        let release = props
            .get("vantiq_system_release")
            .cloned()
            .context("cluster.properties has no vantiq_system_release")?;
        let data: BTreeMap<String, String> = ["vantiq_system_release", "provider", "deployment", "vantiq.installation"]
            .iter()
            .filter_map(|k| props.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        println!(
            "Configuring cluster for system release {release} (provider {})",
            props.get("provider").map_or("?", |s| s)
        );
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vantiq-cluster-config"}, "data": data});
        let r = self.apply("ConfigMap", &self.ns, &mut cm)?;
        println!("configmap/vantiq-cluster-config {r}");
        Ok(())
    }

    fn generate_secrets(&self) -> Result<()> {
        let g = generate_secrets(&self.target)?;
        for w in &g.warnings {
            eprintln!("warning: {w}");
        }
        for line in g.lines {
            println!("{line}");
        }
        Ok(())
    }

    /// Tells the simulator which task runs where (for its invariants); best effort.
    fn notify(&self, task: &str) {
        // The simulator's own routes are on its admin listener (plain http, loopback).
        let base = self.admin.as_deref().unwrap_or(&self.api);
        let url = format!("{}/__sim/gradle-task", base.trim_end_matches('/'));
        let _ = self.call("POST", &url, Some(&json!({"task": task, "namespace": self.ns})));
    }

    fn apply_secrets(&self, comp: &str) -> Result<()> {
        let dir = self.target.join("deploy/secrets").join(comp);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("No generated secrets in targetCluster/deploy/secrets/{comp}: run generateSecrets first"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let mut s = read_yaml(&f)?;
            let ns = s["metadata"]["namespace"].as_str().unwrap_or(&self.ns).to_owned();
            let name = s["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let r = self.apply("Secret", &ns, &mut s)?;
            println!("secret/{name} {r} (namespace {ns})");
        }
        Ok(())
    }

    /// Sets images and replicas of a StatefulSet like the chart's values do.
    fn upgrade_sts(&self, name: &str, repo: &str, tag: &str, replicas: u32, fresh: impl Fn() -> Value) -> Result<()> {
        let mut sts = self.get("StatefulSet", &self.ns, name)?.unwrap_or_else(&fresh);
        let image = format!("{repo}:{tag}");
        for key in ["initContainers", "containers"] {
            if let Some(a) = sts["spec"]["template"]["spec"][key].as_array_mut() {
                for c in a {
                    c["image"] = json!(image);
                }
            }
        }
        sts["spec"]["replicas"] = json!(replicas);
        if let Some(m) = sts.as_object_mut() {
            m.remove("status");
        }
        let r = self.apply("StatefulSet", &self.ns, &mut sts)?;
        println!("statefulset.apps/{name} {r} (image {image}, replicas {replicas})");
        Ok(())
    }

    fn deploy_vantiq(&self) -> Result<()> {
        let d = self.deploy()?;
        let deploy_path = self.target.join("deploy.yaml");
        let tag = vantiq_tag(&d).with_context(|| format!("{}: vantiq.image.tag is not set", deploy_path.display()))?;
        let replicas: u32 = yaml_str(&d, "vantiq.replicas").and_then(|r| r.parse().ok()).unwrap_or(3);
        println!(
            "helm upgrade --install vantiq ./charts/vantiq --namespace {} -f targetCluster/deploy.yaml",
            self.ns
        );
        self.notify("deployVantiq");
        self.apply_secrets("vantiq")?;
        self.upgrade_sts("vantiq", "vantiq/vantiq-server", &tag, replicas, || {
            seed::vantiq_sts(&tag, replicas)
        })?;
        for (key, name, default) in [
            ("vantiq.metricsCollector", "metrics-collector", 1),
            ("vantiq.visionAnalytics", "vision-analytics", 2),
        ] {
            if !yaml_bool(&d, &format!("{key}.enabled")).unwrap_or(false) {
                continue;
            }
            let t = yaml_str(&d, &format!("{key}.image.tag")).unwrap_or_else(|| tag.clone());
            let n = yaml_str(&d, &format!("{key}.replicas"))
                .and_then(|r| r.parse().ok())
                .unwrap_or(default);
            let repo = format!("vantiq/{name}");
            self.upgrade_sts(name, &repo, &t, n, || {
                seed::component_sts(name, &format!("{repo}:{t}"), n, 8080, vec![])
            })?;
        }
        println!("Release \"vantiq\" has been upgraded. Happy Helming!");
        Ok(())
    }

    fn deploy_shared(&self) -> Result<()> {
        let d = self.deploy()?;
        let size = yaml_str(&d, "influxdb.persistence.size").unwrap_or_else(|| "50Gi".into());
        println!("helm upgrade --install shared ./charts/shared --namespace shared -f targetCluster/deploy.yaml");
        let mut sts = match self.get("StatefulSet", "shared", "influxdb")? {
            Some(mut cur) => {
                if let Some(v) = cur["spec"]["volumeClaimTemplates"].get_mut(0) {
                    v["spec"]["resources"]["requests"]["storage"] = json!(size);
                }
                if let Some(m) = cur.as_object_mut() {
                    m.remove("status");
                }
                cur
            }
            None => seed::influxdb_sts(&size),
        };
        let r = self.apply("StatefulSet", "shared", &mut sts)?;
        println!("statefulset.apps/influxdb {r} (persistence {size})");
        if self.get("StatefulSet", "shared", "grafana")?.is_none() {
            let mut g = seed::component_sts("grafana", seed::GRAFANA_IMAGE, 1, 3000, vec![]);
            self.apply("StatefulSet", "shared", &mut g)?;
            println!("statefulset.apps/grafana created");
        }
        println!("Release \"shared\" has been upgraded. Happy Helming!");
        Ok(())
    }
}

fn msg(v: &Value) -> String {
    v["message"].as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// What `generateSecrets` made: the lines it prints, and what it could not do.
#[derive(Debug, Default)]
pub struct Generated {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

fn yaml_key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        k.to_owned()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

/// What `generateSecrets` does: `secrets.yaml` (read tolerantly, see
/// [`super::secretspec`]) + the files it names → `deploy/secrets/<component>/<secret>.yaml`.
/// A file that cannot be found is left out with a warning instead of failing the task.
pub fn generate_secrets(target: &Path) -> Result<Generated> {
    let (specs, warnings) = super::secretspec::load(target);
    let mut g = Generated {
        lines: Vec::new(),
        warnings,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    for spec in specs {
        let mut data = String::new();
        for (key, file) in &spec.files {
            let (path, w) = super::secretspec::file_for(target, &spec, key, file);
            g.warnings.extend(w);
            let Some(path) = path else { continue };
            match std::fs::read(&path) {
                Ok(raw) => data.push_str(&format!("  {}: {}\n", yaml_key(key), b64.encode(raw))),
                Err(e) => g.warnings.push(format!(
                    "secret `{}`: cannot read {}: {e}; `{key}` left out",
                    spec.name,
                    path.display()
                )),
            }
        }
        if data.is_empty() {
            g.warnings
                .push(format!("secret `{}`: none of its files found; not generated", spec.name));
            continue;
        }
        // Without a namespace in secrets.yaml, the secret goes to the installation's namespace.
        let ns_line = spec.namespace.as_ref().map(|ns| format!("  namespace: {ns}\n")).unwrap_or_default();
        let out = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n{ns_line}type: {}\ndata:\n{data}",
            spec.name, spec.ty
        );
        let dir = target.join("deploy/secrets").join(&spec.component);
        std::fs::create_dir_all(&dir)?;
        let dst = dir.join(format!("{}.yaml", spec.name));
        std::fs::write(&dst, out)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))?;
        g.lines
            .push(format!("Generated deploy/secrets/{}/{}.yaml", spec.component, spec.name));
    }
    Ok(g)
}
