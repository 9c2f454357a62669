//! The seeded installation: what a Vantiq cluster set up by k8sdeploy_tools holds
//! (namespaces, StatefulSets, CronJobs, Secrets, Services, the StorageClass), built
//! from [`SeedOptions`]. Pods and claims are not seeded: the controllers create them.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::store::{Store, res};

/// What the generated installation looks like. The defaults are the runbook's.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The `-Pcluster` value and targetCluster's branch.
    pub cluster: String,
    /// The Vantiq namespace (`vantiq.installation`).
    pub namespace: String,
    pub vantiq_host: String,
    /// `vantiq.image.tag`.
    pub image_tag: String,
    /// `vantiq_system_release` in cluster.properties.
    pub system_release: String,
    pub vantiq_replicas: u32,
    pub metrics_collector: bool,
    pub vision_analytics: bool,
    pub userdb: bool,
    /// `influxdb.persistence.size`.
    pub influxdb_size: String,
    /// The license's `sub`.
    pub issued_to: String,
    /// Whether last night's `mongobackup` snapshot exists.
    pub nightly_backup: bool,
    /// How many Node objects (`sim-node-1`…) the cluster has; each has its own image cache.
    pub nodes: u32,
    /// Realistic seconds a node takes to pull an image it does not have (scaled by the
    /// speed, never under [`super::clock::MIN_NEW_PULL`] of wall time).
    pub image_pull_secs: f64,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            cluster: "acme-prod".into(),
            namespace: "acme".into(),
            vantiq_host: "vantiq.acme.example.com".into(),
            image_tag: "1.30.10".into(),
            system_release: "3.10.0".into(),
            vantiq_replicas: 3,
            metrics_collector: true,
            vision_analytics: true,
            userdb: true,
            influxdb_size: "50Gi".into(),
            issued_to: "Acme Corp".into(),
            nightly_backup: true,
            nodes: 3,
            image_pull_secs: super::clock::real::PULL_NEW,
        }
    }
}

/// `major.minor` of an image tag (`1.30.10` → `1.30`).
pub fn schema_of(tag: &str) -> String {
    let mut it = tag.trim_start_matches('v').split('.');
    format!("{}.{}", it.next().unwrap_or("0"), it.next().unwrap_or("0"))
}

pub const MONGO_IMAGE: &str = "mongo:4.4.29";
pub const BACKUP_IMAGE: &str = "vantiq/mongo-backup:1.4.2";
pub const INFLUX_IMAGE: &str = "influxdb:1.8.10";
pub const GRAFANA_IMAGE: &str = "grafana/grafana:9.5.21";

fn helm_meta(app: &str) -> Value {
    json!({"app": app, "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "vantiq"})
}

/// A StatefulSet as the Helm charts of k8sdeploy_tools render it.
pub fn statefulset(name: &str, replicas: u32, parallel: bool, pod_spec: Value, claims: Vec<Value>) -> Value {
    let mut s = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "labels": helm_meta(name), "annotations": {"meta.helm.sh/release-name": "vantiq"}},
        "spec": {
            "replicas": replicas, "serviceName": name, "revisionHistoryLimit": 10,
            "podManagementPolicy": if parallel { "Parallel" } else { "OrderedReady" },
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    });
    if !claims.is_empty() {
        s["spec"]["volumeClaimTemplates"] = json!(claims);
    }
    s
}

fn ctr(name: &str, image: &str, port: u16) -> Value {
    json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": port, "protocol": "TCP"}],
           "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "terminationMessagePath": "/dev/termination-log",
           "terminationMessagePolicy": "File"})
}

fn pod_spec(containers: Vec<Value>) -> Value {
    json!({"containers": containers, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
           "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", "securityContext": {}})
}

/// A claim template of `size` on the `vantiq-sc` StorageClass.
pub fn claim(name: &str, size: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "vantiq-sc", "volumeMode": "Filesystem",
                    "resources": {"requests": {"storage": size}}}})
}

/// The vantiq StatefulSet for an image tag.
pub fn vantiq_sts(tag: &str, replicas: u32) -> Value {
    let image = format!("vantiq/vantiq-server:{tag}");
    let mut init = ctr("load-model", &image, 8080);
    init["command"] = json!(["/opt/vantiq/bin/load-model.sh"]);
    init["env"] = json!([{"name": "MONGO_URL", "value": "mongodb://mongodb-0.mongodb:27017/ars02"}]);
    init.as_object_mut().unwrap().remove("ports");
    let mut main = ctr("vantiq", &image, 8080);
    main["readinessProbe"] = json!({"httpGet": {"path": "/api/v1/resources/system.version", "port": 8080, "scheme": "HTTP"},
                                    "initialDelaySeconds": 20, "periodSeconds": 10, "failureThreshold": 3});
    main["volumeMounts"] = json!([{"name": "license", "mountPath": "/opt/vantiq/license", "readOnly": true},
                                  {"name": "ssl", "mountPath": "/opt/vantiq/ssl", "readOnly": true}]);
    let mut spec = pod_spec(vec![main]);
    spec["initContainers"] = json!([init]);
    spec["volumes"] = json!([{"name": "license", "secret": {"secretName": "vantiq-license", "defaultMode": 420}},
                             {"name": "ssl", "secret": {"secretName": "vantiq-ssl-cert", "defaultMode": 420}}]);
    statefulset("vantiq", replicas, true, spec, vec![])
}

/// A plain component StatefulSet.
pub fn component_sts(name: &str, image: &str, replicas: u32, port: u16, claims: Vec<Value>) -> Value {
    statefulset(name, replicas, false, pod_spec(vec![ctr(name, image, port)]), claims)
}

/// The influxdb StatefulSet (namespace `shared`) with a data claim of `size`.
pub fn influxdb_sts(size: &str) -> Value {
    component_sts("influxdb", INFLUX_IMAGE, 1, 8086, vec![claim("influxdb-data", size)])
}

fn cronjob(name: &str, suspend: bool, command: &str) -> Value {
    let mut c = ctr(name, BACKUP_IMAGE, 0);
    c.as_object_mut().unwrap().remove("ports");
    c["command"] = json!(["/bin/sh", "-c", command]);
    c["env"] = json!([{"name": "MONGO_HOST", "value": "mongodb-0.mongodb:27017"},
                      {"name": "BACKUP_BUCKET", "value": "gs://acme-vantiq-backups"}]);
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "labels": helm_meta(name)},
        "spec": {
            "schedule": if suspend { "0 0 31 2 *" } else { "0 2 * * *" }, "suspend": suspend,
            "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"app": name}}, "spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [c], "restartPolicy": "Never", "terminationGracePeriodSeconds": 30}}}},
        },
    })
}

fn secret(name: &str, ty: &str, data: &[(&str, &str)]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let d: serde_json::Map<String, Value> = data.iter().map(|(k, v)| ((*k).to_owned(), json!(b64.encode(v)))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": ty, "data": d})
}

fn service(name: &str, port: u16, headless: bool) -> Value {
    let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "main", "port": port, "targetPort": port, "protocol": "TCP"}],
                 "type": "ClusterIP"}});
    s["spec"]["clusterIP"] = json!(if headless {
        "None".to_owned()
    } else {
        super::pods::pod_ip(name).replace("10.244", "10.0")
    });
    s
}

/// The Secret files of a seed: the current certificate chain and key and license.
pub struct SeedSecrets {
    pub fullchain: String,
    pub key: String,
    pub public_pem: String,
    pub license_key: String,
}

/// Every seeded object, as (kind, namespace, object).
pub fn objects(o: &SeedOptions, s: &SeedSecrets) -> Vec<(&'static str, String, Value)> {
    let ns = o.namespace.clone();
    let sh = "shared".to_owned();
    let tag = &o.image_tag;
    let mut v: Vec<(&'static str, String, Value)> = vec![
        (
            "Namespace",
            String::new(),
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        ),
        (
            "Namespace",
            String::new(),
            json!({"metadata": {"name": "shared", "labels": {"kubernetes.io/metadata.name": "shared"}}}),
        ),
        (
            "StorageClass",
            String::new(),
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "vantiq-sc"},
                   "provisioner": "disk.csi.azure.com", "parameters": {"skuName": "Premium_LRS"},
                   "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate", "allowVolumeExpansion": true}),
        ),
        ("StatefulSet", ns.clone(), vantiq_sts(tag, o.vantiq_replicas)),
        (
            "StatefulSet",
            ns.clone(),
            component_sts("mongodb", MONGO_IMAGE, 1, 27017, vec![claim("datadir", "100Gi")]),
        ),
        ("CronJob", ns.clone(), cronjob("mongobackup", false, "/opt/backup/mongobackup.sh")),
        ("CronJob", ns.clone(), cronjob("mongorestore", true, "/opt/backup/mongorestore.sh")),
        (
            "Secret",
            ns.clone(),
            secret(
                "vantiq-ssl-cert",
                "kubernetes.io/tls",
                &[("tls.crt", &s.fullchain), ("tls.key", &s.key)],
            ),
        ),
        (
            "Secret",
            ns.clone(),
            secret(
                "vantiq-license",
                "Opaque",
                &[("public.pem", &s.public_pem), ("license.key", &s.license_key)],
            ),
        ),
        ("Service", ns.clone(), service("vantiq", 8080, false)),
        ("Service", ns.clone(), service("mongodb", 27017, true)),
        (
            "ConfigMap",
            ns.clone(),
            json!({"metadata": {"name": "vantiq-cluster-config"}, "data": {"vantiq_system_release": o.system_release, "cluster": o.cluster}}),
        ),
        (
            "Secret",
            sh.clone(),
            secret(
                "default-ssl-cert",
                "kubernetes.io/tls",
                &[("tls.crt", &s.fullchain), ("tls.key", &s.key)],
            ),
        ),
        ("StatefulSet", sh.clone(), influxdb_sts(&o.influxdb_size)),
        ("StatefulSet", sh.clone(), component_sts("grafana", GRAFANA_IMAGE, 1, 3000, vec![])),
        ("Service", sh.clone(), service("influxdb", 8086, false)),
        ("Service", sh.clone(), service("grafana", 3000, false)),
    ];
    for i in 0..o.nodes.max(1) {
        v.push(("Node", String::new(), super::nodes::node_object(i)));
    }
    if o.metrics_collector {
        v.push((
            "StatefulSet",
            ns.clone(),
            component_sts("metrics-collector", &format!("vantiq/metrics-collector:{tag}"), 1, 8080, vec![]),
        ));
    }
    if o.vision_analytics {
        v.push((
            "StatefulSet",
            ns.clone(),
            component_sts("vision-analytics", &format!("vantiq/vision-analytics:{tag}"), 2, 8080, vec![]),
        ));
    }
    if o.userdb {
        v.push((
            "StatefulSet",
            ns.clone(),
            component_sts("userdb", MONGO_IMAGE, 1, 27017, vec![claim("userdb-data", "50Gi")]),
        ));
        v.push((
            "CronJob",
            ns.clone(),
            cronjob("userdbrestore", true, "/opt/backup/userdbrestore.sh"),
        ));
    }
    v
}

/// Creates the seeded objects in the store.
pub fn apply(store: &Store, o: &SeedOptions, s: &SeedSecrets) -> anyhow::Result<()> {
    for (kind, ns, obj) in objects(o, s) {
        store
            .create(res(kind), &ns, obj, false)
            .map_err(|e| anyhow::anyhow!("seeding {kind}: {e}"))?;
    }
    Ok(())
}

/// The images of the seeded installation (already on every simulated node).
pub fn images(o: &SeedOptions) -> Vec<String> {
    let tag = &o.image_tag;
    vec![
        format!("vantiq/vantiq-server:{tag}"),
        format!("vantiq/metrics-collector:{tag}"),
        format!("vantiq/vision-analytics:{tag}"),
        MONGO_IMAGE.into(),
        BACKUP_IMAGE.into(),
        INFLUX_IMAGE.into(),
        GRAFANA_IMAGE.into(),
    ]
}
