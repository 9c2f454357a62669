//! The simulated API server against real kubectl (`/usr/bin/kubectl`, v1.32): every
//! test starts a server on 127.0.0.1:0 over a store it seeds itself, runs kubectl
//! commands as subprocesses, and checks both kubectl's output and the store.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vscript_sim::api::{self, ApiOptions};
use vscript_sim::store::{Store, res, rv_of};

struct Sim {
    store: Arc<Store>,
    _rt: tokio::runtime::Runtime,
    shutdown: CancellationToken,
    kubeconfig: PathBuf,
    cache: PathBuf,
    _dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Sim {
    fn start() -> Sim {
        let store = Arc::new(Store::new());
        seed(&store);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        // As a real cluster: HTTPS with its own CA, a bearer token, RBAC.
        let pki = api::auth::ClusterPki::generate().unwrap();
        let authn = Arc::new(api::auth::Authenticator::new());
        authn.add_token("kubectl-token", api::auth::UserInfo::new("admin", &[api::auth::MASTERS]));
        api::rbac::install_default_policy(&store);
        let opts = ApiOptions {
            auth: Some(authn),
            ..ApiOptions::default()
        };
        let app = api::router(store.clone(), opts);
        rt.spawn(api::serve_tls(listener, app, pki.server_config().unwrap(), shutdown.clone()));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let kc = api::auth::kubeconfig(
            "sim",
            &format!("https://127.0.0.1:{port}"),
            &pki.ca_pem,
            &api::auth::KubeconfigUser::Token("kubectl-token"),
        );
        // The tests work in namespace demo.
        std::fs::write(
            &kubeconfig,
            kc.replace("    user: sim-admin\n", "    user: sim-admin\n    namespace: demo\n"),
        )
        .unwrap();
        let cache = dir.path().join("cache");
        Sim {
            store,
            _rt: rt,
            shutdown,
            kubeconfig,
            cache,
            _dir: dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env("HOME", self._dir.path())
            .output()
            .expect("kubectl runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and expects success.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert_eq!(o.code, 0, "kubectl {args:?} failed:\n{}\n{}", o.stdout, o.stderr);
        o.stdout
    }

    /// Runs kubectl and expects exit code 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert_eq!(o.code, 1, "kubectl {args:?} should fail:\n{}\n{}", o.stdout, o.stderr);
        o.stderr
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.store.get(res(kind), ns, name)
    }

    fn write(&self, kind: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        self.store
            .write(res(kind), ns, name, false, |v| {
                f(v);
                Ok(())
            })
            .unwrap();
    }
}

const DAYS_AGO: &str = "2020-01-01T00:00:00Z";

fn seed(s: &Store) {
    for ns in ["demo", "shared"] {
        s.create(
            res("Namespace"),
            "",
            json!({"metadata": {"name": ns}, "status": {"phase": "Active"}}),
            false,
        )
        .unwrap();
    }
    let sts = s
        .create(
            res("StatefulSet"),
            "demo",
            json!({"metadata": {"name": "vantiq", "labels": {"app": "vantiq"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "vantiq"}}, "serviceName": "vantiq",
                       "podManagementPolicy": "OrderedReady", "revisionHistoryLimit": 10,
                       "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                       "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                       "template": {"metadata": {"labels": {"app": "vantiq"}},
                                    "spec": {"initContainers": [{"name": "load-model", "image": "vantiq/load-model:1.40"}],
                                             "containers": [{"name": "vantiq", "image": "vantiq/vantiq-server:1.40.0"}]}}}}),
            false,
        )
        .unwrap();
    s.write(res("StatefulSet"), "demo", "vantiq", false, |v| {
        v["status"] = json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
                             "availableReplicas": 1, "currentRevision": "vantiq-34ba41abb7", "updateRevision": "vantiq-34ba41abb7"});
        Ok(())
    })
    .unwrap();
    let owner = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "vantiq", "uid": sts["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    s.create(
        res("Pod"),
        "demo",
        json!({"metadata": {"name": "vantiq-0", "labels": {"app": "vantiq"}, "ownerReferences": owner},
               "spec": {"nodeName": "sim-node", "initContainers": [{"name": "load-model", "image": "vantiq/load-model:1.40"}],
                        "containers": [{"name": "vantiq", "image": "vantiq/vantiq-server:1.40.0"}]},
               "status": {"phase": "Running", "podIP": "10.244.0.17",
                          "initContainerStatuses": [{"name": "load-model", "ready": true, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                          "containerStatuses": [{"name": "vantiq", "ready": true, "restartCount": 2, "state": {"running": {"startedAt": DAYS_AGO}}}]}}),
        false,
    )
    .unwrap();
    s.create(
        res("CronJob"),
        "demo",
        json!({"metadata": {"name": "mongobackup"},
               "spec": {"schedule": "0 3 * * *", "suspend": true, "jobTemplate": {"spec": {"backoffLimit": 1, "template": {
                   "metadata": {"labels": {"app": "mongobackup"}},
                   "spec": {"restartPolicy": "Never", "containers": [{"name": "mongobackup", "image": "vantiq/mongobackup:1.0",
                            "command": ["/bin/sh", "-c", "mongodump --archive | gzip > /backup/dump.gz"],
                            "env": [{"name": "MONGO_HOST", "value": "mongodb-0"}]}]}}}}}}),
        false,
    )
    .unwrap();
    for (name, expandable) in [("standard", true), ("fixed", false)] {
        let mut sc = json!({"metadata": {"name": name}, "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
        if expandable {
            sc["allowVolumeExpansion"] = json!(true);
        }
        s.create(res("StorageClass"), "", sc, false).unwrap();
    }
    for (pvc, class) in [("influxdb-data-influxdb-0", "standard"), ("grafana-data", "fixed")] {
        let pv = format!("pvc-{pvc}");
        s.create(
            res("PersistentVolumeClaim"),
            "shared",
            json!({"metadata": {"name": pvc}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "volumeName": pv,
                   "resources": {"requests": {"storage": "50Gi"}}},
                   "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "50Gi"}}}),
            false,
        )
        .unwrap();
        s.create(
            res("PersistentVolume"),
            "",
            json!({"metadata": {"name": pv}, "spec": {"capacity": {"storage": "50Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": class,
                   "persistentVolumeReclaimPolicy": "Delete", "claimRef": {"namespace": "shared", "name": pvc}},
                   "status": {"phase": "Bound"}}),
            false,
        )
        .unwrap();
    }
    s.create(
        res("Secret"),
        "shared",
        json!({"metadata": {"name": "default-ssl-cert"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}),
        false,
    )
    .unwrap();
}

/// The whitespace-separated cells of the output line starting with `first`.
fn row(out: &str, first: &str) -> Vec<String> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|c| c.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{out}"))
}

fn header(out: &str) -> String {
    out.lines().next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn get_prints_the_real_servers_table_columns() {
    let sim = Sim::start();
    let out = sim.ok(&["get", "sts", "-n", "demo"]);
    assert_eq!(header(&out), "NAME READY AGE");
    assert_eq!(row(&out, "vantiq")[..2], ["vantiq", "1/1"]);
    let out = sim.ok(&["get", "sts", "-n", "demo", "-o", "wide"]);
    assert_eq!(header(&out), "NAME READY AGE CONTAINERS IMAGES");
    assert_eq!(row(&out, "vantiq")[4], "vantiq/vantiq-server:1.40.0");

    let out = sim.ok(&["get", "pods", "-n", "demo"]);
    assert_eq!(header(&out), "NAME READY STATUS RESTARTS AGE");
    assert_eq!(row(&out, "vantiq-0")[..4], ["vantiq-0", "1/1", "Running", "2"]);

    let out = sim.ok(&["get", "pvc", "-n", "shared"]);
    assert_eq!(
        header(&out),
        "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"
    );
    assert_eq!(
        row(&out, "influxdb-data-influxdb-0")[1..7],
        ["Bound", "pvc-influxdb-data-influxdb-0", "50Gi", "RWO", "standard", "<unset>"]
    );

    let out = sim.ok(&["get", "secret", "-n", "shared"]);
    assert_eq!(header(&out), "NAME TYPE DATA AGE");
    assert_eq!(row(&out, "default-ssl-cert")[1..3], ["kubernetes.io/tls", "2"]);

    let out = sim.ok(&["get", "cj"]);
    assert_eq!(header(&out), "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE");
    // The schedule `0 3 * * *` takes five cells.
    assert_eq!(row(&out, "mongobackup")[6..10], ["<none>", "True", "0", "<none>"]);

    let o = sim.kubectl(&["get", "jobs", "-n", "demo"]);
    assert_eq!(o.code, 0);
    assert!(o.stderr.contains("No resources found in demo namespace."), "{}", o.stderr);

    let out = sim.ok(&["get", "pods", "-A"]);
    assert_eq!(header(&out), "NAMESPACE NAME READY STATUS RESTARTS AGE");
    assert_eq!(row(&out, "demo")[..2], ["demo", "vantiq-0"]);

    let out = sim.ok(&["get", "sc"]);
    assert_eq!(
        row(&out, "standard")[1..5],
        ["rancher.io/local-path", "Delete", "WaitForFirstConsumer", "true"]
    );
    let out = sim.ok(&["get", "ns", "--show-labels"]);
    assert_eq!(header(&out), "NAME STATUS AGE LABELS");
}

#[test]
fn get_yaml_and_not_found_messages() {
    let sim = Sim::start();
    let out = sim.ok(&["get", "sts", "vantiq", "-n", "demo", "-o", "yaml"]);
    assert!(
        out.contains("kind: StatefulSet") && out.contains("partition: 0") && out.contains("readyReplicas: 1"),
        "{out}"
    );
    let out = sim.ok(&["get", "sts", "vantiq", "-n", "demo", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["metadata"]["uid"],
        sim.get("StatefulSet", "demo", "vantiq").unwrap()["metadata"]["uid"]
    );

    let err = sim.fails(&["get", "sts", "nope", "-n", "demo"]);
    assert!(
        err.contains(r#"Error from server (NotFound): statefulsets.apps "nope" not found"#),
        "{err}"
    );
    let err = sim.fails(&["get", "sts", "vantiq", "-n", "nonexist"]);
    assert!(
        err.contains(r#"Error from server (NotFound): namespaces "nonexist" not found"#),
        "{err}"
    );
    let o = sim.kubectl(&["get", "sts", "-n", "nonexist"]);
    assert!(o.stderr.contains("No resources found in nonexist namespace."), "{}", o.stderr);
    let err = sim.fails(&["create", "configmap", "x", "-n", "nonexist"]);
    assert!(err.contains(r#"namespaces "nonexist" not found"#), "{err}");
    let err = sim.fails(&["get", "foos"]);
    assert!(err.contains(r#"the server doesn't have a resource type "foos""#), "{err}");
}

#[test]
fn scale_changes_replicas_and_dry_run_changes_nothing() {
    let sim = Sim::start();
    let before = sim.get("StatefulSet", "demo", "vantiq").unwrap();
    let out = sim.ok(&["scale", "sts", "vantiq", "-n", "demo", "--replicas=3", "--dry-run=server"]);
    assert_eq!(out.trim(), "statefulset.apps/vantiq scaled (server dry run)");
    assert_eq!(sim.get("StatefulSet", "demo", "vantiq").unwrap(), before);

    let out = sim.ok(&["scale", "sts", "vantiq", "-n", "demo", "--replicas=0"]);
    assert_eq!(out.trim(), "statefulset.apps/vantiq scaled");
    let after = sim.get("StatefulSet", "demo", "vantiq").unwrap();
    assert_eq!(after["spec"]["replicas"], 0);
    assert_eq!(after["metadata"]["generation"], 2);
    assert!(rv_of(&after) > rv_of(&before));
}

#[test]
fn patches_of_every_type_and_the_pvc_resize_rules() {
    let sim = Sim::start();
    let storage = r#"{"spec":{"resources":{"requests":{"storage":"55Gi"}}}}"#;
    let out = sim.ok(&["patch", "pvc", "influxdb-data-influxdb-0", "-n", "shared", "-p", storage]);
    assert_eq!(out.trim(), "persistentvolumeclaim/influxdb-data-influxdb-0 patched");
    let pvc = sim.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "55Gi");
    let out = sim.ok(&["patch", "pvc", "influxdb-data-influxdb-0", "-n", "shared", "-p", storage]);
    assert_eq!(out.trim(), "persistentvolumeclaim/influxdb-data-influxdb-0 patched (no change)");
    assert_eq!(
        rv_of(&sim.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap()),
        rv_of(&pvc)
    );

    let err = sim.fails(&["patch", "pvc", "grafana-data", "-n", "shared", "-p", storage]);
    assert!(err.contains("Error from server (Forbidden): persistentvolumeclaims \"grafana-data\" is forbidden: only dynamically provisioned pvc can be resized"), "{err}");
    assert_eq!(
        sim.get("PersistentVolumeClaim", "shared", "grafana-data").unwrap()["spec"]["resources"]["requests"]["storage"],
        "50Gi"
    );
    let err = sim.fails(&[
        "patch",
        "pvc",
        "influxdb-data-influxdb-0",
        "-n",
        "shared",
        "-p",
        r#"{"spec":{"resources":{"requests":{"storage":"40Gi"}}}}"#,
    ]);
    assert!(
        err.contains("The PersistentVolumeClaim \"influxdb-data-influxdb-0\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value"),
        "{err}"
    );

    let out = sim.ok(&[
        "patch",
        "sts",
        "vantiq",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"web"}}}"#,
    ]);
    assert_eq!(out.trim(), "statefulset.apps/vantiq patched");
    sim.ok(&[
        "patch",
        "sts",
        "vantiq",
        "-n",
        "demo",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"vantiq/vantiq-server:1.41.0"}]"#,
    ]);
    let sts = sim.get("StatefulSet", "demo", "vantiq").unwrap();
    assert_eq!(sts["metadata"]["labels"]["tier"], "web");
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "vantiq/vantiq-server:1.41.0"
    );
    assert_eq!(sts["metadata"]["generation"], 2);
    // Strategic merge of a named list keeps the other fields of the container.
    sim.ok(&[
        "patch",
        "sts",
        "vantiq",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"vantiq","env":[{"name":"A","value":"1"}]}]}}}}"#,
    ]);
    let c = &sim.get("StatefulSet", "demo", "vantiq").unwrap()["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (c["image"].as_str(), c["env"][0]["name"].as_str()),
        (Some("vantiq/vantiq-server:1.41.0"), Some("A"))
    );

    let err = sim.fails(&[
        "patch",
        "sts",
        "vantiq",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"spec":{"serviceName":"other"}}"#,
    ]);
    assert!(
        err.contains("The StatefulSet \"vantiq\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
        "{err}"
    );
    let before = sim.get("StatefulSet", "demo", "vantiq").unwrap();
    let out = sim.ok(&[
        "patch",
        "sts",
        "vantiq",
        "-n",
        "demo",
        "--dry-run=server",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":5}}"#,
    ]);
    assert!(out.contains("patched"), "{out}");
    assert_eq!(sim.get("StatefulSet", "demo", "vantiq").unwrap(), before);
}

#[test]
fn create_job_from_cronjob_then_wait_for_completion() {
    let sim = Sim::start();
    let out = sim.ok(&["create", "job", "m1", "-n", "demo", "--from=CronJob/mongobackup"]);
    assert_eq!(out.trim(), "job.batch/m1 created");
    let job = sim.get("Job", "demo", "m1").unwrap();
    let cj = sim.get("CronJob", "demo", "mongobackup").unwrap();
    let uid = job["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &job["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        (
            labels["job-name"].as_str(),
            labels["batch.kubernetes.io/controller-uid"].as_str(),
            labels["app"].as_str()
        ),
        (Some("m1"), Some(uid), Some("mongobackup"))
    );
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), &owner["uid"], owner["controller"].as_bool()),
        (Some("CronJob"), &cj["metadata"]["uid"], Some(true))
    );
    assert_eq!(job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eq!(job["spec"]["backoffLimit"], 1);
    let (want, got) = (
        &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0],
        &job["spec"]["template"]["spec"]["containers"][0],
    );
    for k in ["name", "image", "command", "env"] {
        assert_eq!(got[k], want[k], "{k}");
    }
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");

    let err = sim.fails(&["create", "job", "m1", "-n", "demo", "--from=CronJob/mongobackup"]);
    assert!(err.contains(r#"jobs.batch "m1" already exists"#), "{err}");

    let out = sim.ok(&["get", "jobs", "-n", "demo"]);
    assert_eq!(header(&out), "NAME STATUS COMPLETIONS DURATION AGE");
    assert_eq!(row(&out, "m1")[1..3], ["Running", "0/1"]);

    let store = sim.store.clone();
    let completer = thread::spawn(move || {
        thread::sleep(Duration::from_secs(1));
        store
            .write(res("Job"), "demo", "m1", false, |j| {
                j["status"] = json!({"startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:04Z", "succeeded": 1,
                                     "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]});
                Ok(())
            })
            .unwrap();
    });
    let out = sim.ok(&["wait", "--for=condition=complete", "job/m1", "-n", "demo", "--timeout=20s"]);
    assert_eq!(out.trim(), "job.batch/m1 condition met");
    completer.join().unwrap();
    let out = sim.ok(&["get", "jobs", "-n", "demo"]);
    assert_eq!(row(&out, "m1")[1..4], ["Complete", "1/1", "4s"]);
}

#[test]
fn logs_follow_until_closed_and_tail() {
    let sim = Sim::start();
    sim.store
        .append_log("demo", "vantiq-0", "load-model", "Loading model from /opt/vantiq/model ...");
    let store = sim.store.clone();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(1500));
        store.append_log("demo", "vantiq-0", "load-model", "Model loaded: 42 types");
        thread::sleep(Duration::from_millis(300));
        store.append_log("demo", "vantiq-0", "load-model", "load-model completed successfully");
        store.close_log("demo", "vantiq-0", "load-model");
    });
    let out = sim.ok(&["logs", "vantiq-0", "-n", "demo", "-c", "load-model", "-f"]);
    writer.join().unwrap();
    assert_eq!(
        out,
        "Loading model from /opt/vantiq/model ...\nModel loaded: 42 types\nload-model completed successfully\n"
    );
    let out = sim.ok(&["logs", "vantiq-0", "-n", "demo", "-c", "load-model", "--tail=1"]);
    assert_eq!(out, "load-model completed successfully\n");

    // A container that has not started yet.
    sim.write("Pod", "demo", "vantiq-0", |p| {
        p["status"] =
            json!({"phase": "Pending", "containerStatuses": [{"name": "vantiq", "state": {"waiting": {"reason": "PodInitializing"}}}]});
    });
    let err = sim.fails(&["logs", "vantiq-0", "-n", "demo", "-c", "vantiq"]);
    assert!(
        err.contains(r#"container "vantiq" in pod "vantiq-0" is waiting to start: PodInitializing"#),
        "{err}"
    );
}

#[test]
fn rollout_restart_and_status_follow_the_statefulset() {
    let sim = Sim::start();
    let out = sim.ok(&["rollout", "restart", "sts", "vantiq", "-n", "demo"]);
    assert_eq!(out.trim(), "statefulset.apps/vantiq restarted");
    let sts = sim.get("StatefulSet", "demo", "vantiq").unwrap();
    assert!(sts["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string());
    assert_eq!(sts["metadata"]["generation"], 2);

    let store = sim.store.clone();
    let controller = thread::spawn(move || {
        let sts = res("StatefulSet");
        thread::sleep(Duration::from_millis(1500));
        store
            .write(sts, "demo", "vantiq", false, |v| {
                v["status"]["observedGeneration"] = json!(2);
                v["status"]["updateRevision"] = json!("vantiq-5f7c9d");
                v["status"]["updatedReplicas"] = json!(0);
                v["status"]["readyReplicas"] = json!(0);
                Ok(())
            })
            .unwrap();
        thread::sleep(Duration::from_millis(1500));
        store
            .write(sts, "demo", "vantiq", false, |v| {
                for k in [
                    "replicas",
                    "readyReplicas",
                    "currentReplicas",
                    "updatedReplicas",
                    "availableReplicas",
                ] {
                    v["status"][k] = json!(1);
                }
                v["status"]["currentRevision"] = json!("vantiq-5f7c9d");
                Ok(())
            })
            .unwrap();
    });
    let out = sim.ok(&["rollout", "status", "sts/vantiq", "-n", "demo", "--timeout=20s"]);
    controller.join().unwrap();
    assert!(out.starts_with("Waiting for statefulset spec update to be observed...\n"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("partitioned roll out complete: 1 new pods have been updated..."),
        "{out}"
    );
}

#[test]
fn delete_with_orphan_and_background_cascade() {
    let sim = Sim::start();
    let out = sim.ok(&["delete", "sts", "-n", "demo", "vantiq", "--cascade=orphan"]);
    assert_eq!(out.trim(), r#"statefulset.apps "vantiq" deleted"#);
    assert!(sim.get("StatefulSet", "demo", "vantiq").is_none());
    let pod = sim.get("Pod", "demo", "vantiq-0").expect("orphaned pod kept");
    assert!(pod["metadata"].get("ownerReferences").is_none(), "{pod}");

    let sim = Sim::start();
    let out = sim.ok(&["delete", "sts", "-n", "demo", "vantiq"]);
    assert_eq!(out.trim(), r#"statefulset.apps "vantiq" deleted"#);
    assert!(sim.get("Pod", "demo", "vantiq-0").is_none(), "dependent pod deleted");

    let err = sim.fails(&["delete", "sts", "-n", "demo", "vantiq"]);
    assert!(
        err.contains(r#"Error from server (NotFound): statefulsets.apps "vantiq" not found"#),
        "{err}"
    );
}

#[test]
fn server_side_dry_run_of_create_and_delete_persists_nothing() {
    let sim = Sim::start();
    let rv = sim.store.resource_version();
    let out = sim.ok(&["create", "configmap", "x", "-n", "demo", "--from-literal=a=1", "--dry-run=server"]);
    assert_eq!(out.trim(), "configmap/x created (server dry run)");
    let out = sim.ok(&["delete", "pod", "vantiq-0", "-n", "demo", "--dry-run=server"]);
    assert_eq!(out.trim(), r#"pod "vantiq-0" deleted (server dry run)"#);
    let out = sim.ok(&[
        "create",
        "job",
        "m2",
        "-n",
        "demo",
        "--from=CronJob/mongobackup",
        "--dry-run=server",
    ]);
    assert!(out.contains("job.batch/m2 created (server dry run)"), "{out}");
    assert_eq!(sim.store.resource_version(), rv);
    assert!(
        sim.get("ConfigMap", "demo", "x").is_none()
            && sim.get("Pod", "demo", "vantiq-0").is_some()
            && sim.get("Job", "demo", "m2").is_none()
    );
    // And for real.
    sim.ok(&["create", "configmap", "x", "-n", "demo", "--from-literal=a=1"]);
    assert_eq!(sim.get("ConfigMap", "demo", "x").unwrap()["data"]["a"], "1");
    let out = sim.ok(&["get", "cm", "-n", "demo"]);
    assert_eq!(row(&out, "x")[1], "1");
}

#[test]
fn discovery_works_in_both_modes_and_version_reports_the_minor() {
    let sim = Sim::start();
    let out = sim.ok(&["get", "--raw", "/version"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["minor"].as_str(), v["gitVersion"].as_str()), (Some("32"), Some("v1.32.4")));
    let out = sim.ok(&["api-resources", "--no-headers"]);
    for r in vscript_sim::store::RESOURCES {
        assert!(
            out.lines().any(|l| l.split_whitespace().next() == Some(r.plural)),
            "{} missing:\n{out}",
            r.plural
        );
    }
    let out = sim.ok(&["get", "--raw", "/apis/apps/v1"]);
    assert!(out.contains("statefulsets/scale"), "{out}");
}
