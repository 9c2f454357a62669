//! The simulated API server as a real cluster guards it: HTTPS with the cluster CA,
//! authentication (token, client certificate, exec plugin, ServiceAccount tokens; 401
//! without), RBAC (Roles and bindings, subresources, the Forbidden message, `kubectl auth
//! can-i`), the default discovery/health policy, and the in-cluster credentials directory.
//! Driven by the real kubectl and by a plain HTTPS client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use vscript_sim::api::auth::KubeconfigUser;

use crate::world_support::T;

fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A kubeconfig file for `user` on `t`'s cluster.
fn kubeconfig_file(t: &T, dir: &Path, name: &str, user: &KubeconfigUser) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, t.sim().kubeconfig_for(user)).unwrap();
    p
}

/// `(status, body)` of one request through `vscript_sim::kubeconfig` (rustls, the
/// kubeconfig's CA and credentials).
fn request(kubeconfig: &Path, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let a = vscript_sim::kubeconfig::access(kubeconfig).unwrap();
    let url = format!("{}{path}", a.server);
    let auth = a.authorization.clone();
    let resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.agent.get(&url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        }
        (_, Some(b)) => {
            let mut r = a.agent.post(&url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.send_json(b)
        }
        _ => unreachable!(),
    };
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn kubectl_over_tls_with_a_token_a_client_certificate_and_an_exec_plugin() {
    let t = T::start(Default::default(), 200.0);
    let info = &t.sim().info;
    let cache = tempfile::tempdir().unwrap();
    let kc = std::fs::read_to_string(&info.kubeconfig).unwrap();
    assert!(info.api.starts_with("https://127.0.0.1:"), "{}", info.api);
    assert!(kc.contains("certificate-authority-data: ") && kc.contains(&format!("server: {}", info.api)));
    assert_eq!(
        std::fs::read_to_string(&info.cluster_ca_file).unwrap(),
        t.sim().cluster_ca_pem(),
        "cluster-ca.crt is the CA clients trust"
    );
    for (file, user) in [
        (&info.kubeconfig, "sim-admin"),
        (&info.kubeconfig_cert, "kubernetes-admin"),
        (&info.kubeconfig_exec, "admin@sim.example.com"),
    ] {
        let out = kubectl(Path::new(file), cache.path(), &["auth", "whoami", "-o", "json"]);
        assert!(out.status.success(), "{file}: {}", text(&out));
        let who: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(who["status"]["userInfo"]["username"], user, "{file}");
        let groups = who["status"]["userInfo"]["groups"].as_array().unwrap();
        assert!(groups.contains(&json!("system:masters")) && groups.contains(&json!("system:authenticated")));
        let out = kubectl(Path::new(file), cache.path(), &["get", "sts", "-n", &t.ns(), "-o", "name"]);
        assert!(out.status.success(), "{file}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("statefulset.apps/vantiq"));
    }
    // The exec plugin prints an ExecCredential, as cloud plugins do.
    let plugin = Command::new(Path::new(&info.dir).join("kube-credential")).output().unwrap();
    let cred: Value = serde_json::from_slice(&plugin.stdout).unwrap();
    assert_eq!(
        (cred["apiVersion"].as_str(), cred["kind"].as_str()),
        (Some("client.authentication.k8s.io/v1"), Some("ExecCredential"))
    );
    assert!(cred["status"]["token"].as_str().is_some_and(|s| s.len() >= 32));
}

#[test]
fn requests_without_valid_credentials_get_401_and_health_stays_public() {
    let t = T::start(Default::default(), 200.0);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let anonymous = tmp.path().join("anonymous");
    let kc = std::fs::read_to_string(&t.sim().info.kubeconfig).unwrap();
    let token_line = kc.lines().find(|l| l.trim_start().starts_with("token: ")).unwrap().to_owned();
    std::fs::write(
        &anonymous,
        kc.replace(&token_line, "    {}").replace("  user:\n    {}", "  user: {}"),
    )
    .unwrap();
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, kc.replace(&token_line, "    token: not-a-valid-token")).unwrap();
    // kubectl's answers to a 401: with a token, the error; without credentials, it asks
    // for a basic-auth user name (stdin is closed here).
    for (k, says) in [
        (&wrong, "error: You must be logged in to the server"),
        (&anonymous, "Please enter Username"),
    ] {
        let out = kubectl(k, cache.path(), &["get", "pods", "-n", &t.ns()]);
        assert!(!out.status.success());
        assert!(text(&out).contains(says), "{}", text(&out));
        let (code, body) = request(k, "GET", "/api/v1/namespaces", None);
        assert_eq!(code, 401, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
    // Health is public (system:public-info-viewer, anonymous allowed there only).
    for p in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(request(&anonymous, "GET", p, None), (200, "ok".to_owned()), "{p}");
    }
    assert_eq!(request(&anonymous, "GET", "/version", None).0, 401);
    assert_eq!(request(&wrong, "GET", "/healthz", None).0, 401, "a wrong token is never anonymous");
    // The admin routes are not on the API port.
    assert_eq!(request(Path::new(&t.sim().info.kubeconfig), "GET", "/__sim/state", None).0, 404);
}

/// A Role for `robot` in the Vantiq namespace: StatefulSets readable and patchable, but
/// not their `scale` subresource.
fn robot_role(ns: &str, extra_rules: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: {ns}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: robot\n  namespace: {ns}\nrules:\n- apiGroups: [\"apps\"]\n  resources: [\"statefulsets\"]\n  verbs: [\"get\", \"list\", \"watch\", \"patch\"]\n{extra_rules}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: robot\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: robot\nsubjects:\n- kind: ServiceAccount\n  name: robot\n  namespace: {ns}\n"
    )
}

#[test]
fn rbac_refuses_scale_without_the_subresource_and_can_i_agrees() {
    let t = T::start(Default::default(), 200.0);
    let ns = t.ns();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let admin = PathBuf::from(&t.sim().info.kubeconfig);
    let apply = |yaml: &str| {
        let f = tmp.path().join("robot.yaml");
        std::fs::write(&f, yaml).unwrap();
        let out = kubectl(&admin, cache.path(), &["apply", "--validate=false", "-f", &f.display().to_string()]);
        assert!(out.status.success(), "{}", text(&out));
    };
    apply(&robot_role(&ns, ""));
    let token = t.sim().mint_service_account_token(&ns, "robot").unwrap();
    let robot = kubeconfig_file(&t, tmp.path(), "robot", &KubeconfigUser::Token(&token));
    let k = |args: &[&str]| kubectl(&robot, cache.path(), args);

    let who = k(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(String::from_utf8_lossy(&who.stdout), format!("system:serviceaccount:{ns}:robot"));
    assert!(k(&["get", "sts", "vantiq", "-n", &ns]).status.success());
    let before = t.get("StatefulSet", &ns, "vantiq").unwrap()["spec"]["replicas"].clone();
    let out = k(&["scale", "sts", "vantiq", "-n", &ns, "--replicas=2"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!(
            "Error from server (Forbidden): statefulsets.apps \"vantiq\" is forbidden: User \"system:serviceaccount:{ns}:robot\" cannot patch resource \"statefulsets/scale\" in API group \"apps\" in the namespace \"{ns}\""
        )),
        "{}",
        text(&out)
    );
    assert_eq!(
        t.get("StatefulSet", &ns, "vantiq").unwrap()["spec"]["replicas"],
        before,
        "the refused write changed nothing"
    );
    let out = k(&["get", "pods", "-n", &ns]);
    assert!(
        text(&out).contains(&format!(
            "pods is forbidden: User \"system:serviceaccount:{ns}:robot\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
        )),
        "{}",
        text(&out)
    );
    let out = k(&["get", "sts", "-n", "default"]);
    assert!(
        text(&out).contains("in the namespace \"default\""),
        "a Role is per namespace: {}",
        text(&out)
    );
    let can_i = |args: &[&str]| {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        a.extend(["-n", ns.as_str()]);
        let out = k(&a);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    assert_eq!(can_i(&["patch", "statefulsets", "--subresource=scale"]), (Some(1), "no".to_owned()));
    assert_eq!(can_i(&["patch", "statefulsets"]), (Some(0), "yes".to_owned()));
    assert_eq!(can_i(&["watch", "statefulsets.apps"]), (Some(0), "yes".to_owned()));
    assert_eq!(can_i(&["delete", "statefulsets"]), (Some(1), "no".to_owned()));
    // The same answers over the wire, with the RBAC authorizer's reason.
    let ssar = |verb: &str, sub: &str| {
        let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "group": "apps", "resource": "statefulsets", "subresource": sub, "name": "vantiq"}}});
        let (code, body) = request(
            &robot,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(&body),
        );
        assert_eq!(code, 201, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["status"].clone()
    };
    assert_eq!(ssar("patch", "scale"), json!({"allowed": false}));
    assert_eq!(
        ssar("get", ""),
        json!({"allowed": true, "reason": format!("RBAC: allowed by RoleBinding \"robot/{ns}\" of Role \"robot\" to ServiceAccount \"robot/{ns}\"")})
    );

    // Granting the subresource makes the same write pass.
    apply(&robot_role(
        &ns,
        "- apiGroups: [\"apps\"]\n  resources: [\"statefulsets/scale\"]\n  verbs: [\"patch\"]\n",
    ));
    assert_eq!(
        can_i(&["patch", "statefulsets", "--subresource=scale"]),
        (Some(0), "yes".to_owned())
    );
    assert_eq!(ssar("patch", "scale")["allowed"], true);
    assert_ne!(before, 2);
    let out = k(&["scale", "sts", "vantiq", "-n", &ns, "--replicas=2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(t.get("StatefulSet", &ns, "vantiq").unwrap()["spec"]["replicas"], 2);
    let list = k(&["auth", "can-i", "--list", "-n", &ns]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("statefulsets.apps/scale"),
        "{}",
        text(&list)
    );
    // Deleting the account revokes its token.
    assert!(
        kubectl(&admin, cache.path(), &["delete", "sa", "robot", "-n", &ns])
            .status
            .success()
    );
    assert!(text(&k(&["get", "sts", "-n", &ns])).contains("You must be logged in to the server"));
}

#[test]
fn discovery_and_paths_follow_the_default_policy() {
    let t = T::start(Default::default(), 200.0);
    let ns = t.ns();
    let tmp = tempfile::tempdir().unwrap();
    let sa = tmp.path().join("sa.yaml");
    std::fs::write(
        &sa,
        format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: nobody\n  namespace: {ns}\n"),
    )
    .unwrap();
    t.k(&["apply", "--validate=false", "-f", &sa.display().to_string()]);
    let token = t.sim().mint_service_account_token(&ns, "nobody").unwrap();
    let nobody = kubeconfig_file(&t, tmp.path(), "nobody", &KubeconfigUser::Token(&token));
    // Discovery and version: system:discovery, for every authenticated user.
    for p in [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps/v1",
        "/version",
        "/apis/authorization.k8s.io/v1",
    ] {
        assert_eq!(request(&nobody, "GET", p, None).0, 200, "{p}");
    }
    let (code, body) = request(&nobody, "GET", "/metrics", None);
    assert_eq!(code, 403);
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        st["message"],
        format!("forbidden: User \"system:serviceaccount:{ns}:nobody\" cannot get path \"/metrics\"")
    );
    let (code, body) = request(&nobody, "GET", "/api/v1/nodes", None);
    assert_eq!(code, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        format!(
            "nodes is forbidden: User \"system:serviceaccount:{ns}:nobody\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        )
    );
    // The default ClusterRoles and bindings are objects, as in a real cluster.
    let crb = t.k(&["get", "clusterrolebinding", "system:discovery", "-o", "json"]);
    let crb: Value = serde_json::from_str(&crb).unwrap();
    assert_eq!(crb["subjects"][0]["name"], "system:authenticated");
    assert!(
        t.k(&["get", "clusterrole", "cluster-admin", "-o", "name"])
            .contains("cluster-admin")
    );
}

#[test]
fn the_serviceaccount_dir_is_an_in_cluster_mount_valid_once_the_account_exists() {
    let t = T::start(Default::default(), 200.0);
    let ns = t.ns();
    let info = &t.sim().info;
    let sa = PathBuf::from(&info.serviceaccount_dir);
    assert_eq!(info.serviceaccount, format!("{ns}/vscript"));
    assert_eq!(std::fs::read_to_string(sa.join("namespace")).unwrap(), ns);
    assert_eq!(std::fs::read_to_string(sa.join("ca.crt")).unwrap(), t.sim().cluster_ca_pem());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(sa.join("token")).unwrap().permissions().mode() & 0o077, 0);
    // A kubeconfig reading the token file, as a pod's client does.
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("incluster");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: {ns}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    tokenFile: {}\n",
            info.api,
            sa.join("ca.crt").display(),
            sa.join("token").display()
        ),
    )
    .unwrap();
    let out = kubectl(&kc, cache.path(), &["get", "sts"]);
    assert!(text(&out).contains("You must be logged in"), "no account yet: {}", text(&out));
    let rbac = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy/rbac.yaml"))
        .unwrap()
        .replace("namespace: vantiq", &format!("namespace: {ns}"));
    let f = tmp.path().join("rbac.yaml");
    std::fs::write(&f, rbac).unwrap();
    t.k(&["apply", "--validate=false", "-f", &f.display().to_string()]);
    let out = kubectl(&kc, cache.path(), &["get", "sts", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("statefulset.apps/vantiq"));
    let out = kubectl(&kc, cache.path(), &["delete", "sts", "vantiq"]);
    assert!(
        text(&out).contains("cannot delete resource \"statefulsets\" in API group \"apps\""),
        "{}",
        text(&out)
    );
}

#[test]
fn objects_created_through_the_api_carry_the_servers_initial_status() {
    let t = T::start(Default::default(), 200.0);
    let ns = t.ns();
    let admin = PathBuf::from(&t.sim().info.kubeconfig);
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "probe"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    let (code, body) = request(&admin, "POST", &format!("/apis/batch/v1/namespaces/{ns}/jobs"), Some(&job));
    assert_eq!(code, 201, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], json!({}));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}, "data": {"a": "b"}});
    let (code, body) = request(&admin, "POST", &format!("/api/v1/namespaces/{ns}/configmaps"), Some(&cm));
    assert_eq!(code, 201, "{body}");
    assert!(
        serde_json::from_str::<Value>(&body).unwrap().get("status").is_none(),
        "no status field: {body}"
    );
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "probe"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound"}});
    let (code, body) = request(
        &admin,
        "POST",
        &format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"),
        Some(&pvc),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        json!({"phase": "Pending"}),
        "a client's status is dropped"
    );
}

#[test]
fn a_server_side_apply_that_creates_needs_create_and_dry_run_is_authorized_alike() {
    let t = T::start(Default::default(), 200.0);
    let ns = t.ns();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let f = tmp.path().join("role.yaml");
    std::fs::write(
        &f,
        robot_role(
            &ns,
            "- apiGroups: [\"\"]\n  resources: [\"configmaps\"]\n  verbs: [\"get\", \"patch\"]\n",
        ),
    )
    .unwrap();
    t.k(&["apply", "--validate=false", "-f", &f.display().to_string()]);
    let token = t.sim().mint_service_account_token(&ns, "robot").unwrap();
    let robot = kubeconfig_file(&t, tmp.path(), "robot", &KubeconfigUser::Token(&token));
    let cm = tmp.path().join("cm.yaml");
    std::fs::write(
        &cm,
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: {ns}\ndata:\n  a: \"1\"\n"),
    )
    .unwrap();
    let apply = |extra: &[&str]| {
        let mut a = vec!["apply", "--server-side", "--validate=false", "-f"];
        let p = cm.display().to_string();
        a.push(&p);
        a.extend_from_slice(extra);
        let out = kubectl(&robot, cache.path(), &a);
        (out.status.success(), text(&out))
    };
    for extra in [&[][..], &["--dry-run=server"][..]] {
        let (ok, out) = apply(extra);
        assert!(!ok, "{out}");
        assert!(
            out.contains(&format!(
                "User \"system:serviceaccount:{ns}:robot\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
            )),
            "{out}"
        );
    }
    assert!(t.get("ConfigMap", &ns, "applied").is_none());
    // Once it exists, the same apply is a patch, which the Role grants.
    std::fs::write(
        tmp.path().join("cm0.yaml"),
        std::fs::read_to_string(&cm).unwrap().replace("\"1\"", "\"0\""),
    )
    .unwrap();
    t.k(&[
        "apply",
        "--server-side",
        "--validate=false",
        "-f",
        &tmp.path().join("cm0.yaml").display().to_string(),
    ]);
    let (ok, out) = apply(&[]);
    assert!(ok, "{out}");
    assert_eq!(t.get("ConfigMap", &ns, "applied").unwrap()["data"]["a"], "1");
}
