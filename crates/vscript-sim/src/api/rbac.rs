//! Authorization with Kubernetes RBAC semantics, over the Roles, ClusterRoles and
//! bindings in the store: the request attributes as kube-apiserver's RequestInfo
//! resolver derives them, the rule matching of `rbac/v1` (verbs, apiGroups, resources
//! with subresources, resourceNames, `*`, nonResourceURLs), the Forbidden message of
//! `responsewriters.Forbidden`, the default bootstrap policy, and the self-reviews
//! (`SelfSubjectAccessReview`, `SelfSubjectRulesReview`, `SelfSubjectReview`).

use serde_json::{Value, json};

use super::Query;
use super::auth::{MASTERS, UserInfo};
use crate::store::{ApiError, Store, name_of, res};

/// What a request asks to do, as RBAC sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    /// Non-resource requests: the URL path.
    pub path: String,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl Attributes {
    /// kube-apiserver's `RequestInfoFactory.NewRequestInfo`.
    pub(crate) fn of_request(method: &str, path: &str, query: &Query) -> Attributes {
        let mut a = Attributes {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..Default::default()
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
            return a;
        }
        let mut cur: &[&str] = &parts[1..];
        if parts[0] == "apis" {
            if cur.len() < 3 {
                return a;
            }
            a.api_group = cur[0].to_owned();
            cur = &cur[1..];
        }
        a.resource_request = true;
        a.api_version = cur[0].to_owned();
        cur = &cur[1..];
        if cur[0] == "watch" || cur[0] == "proxy" {
            if cur.len() < 2 {
                a.resource_request = false;
                return a;
            }
            a.verb = cur[0].to_owned();
            cur = &cur[1..];
        } else {
            a.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_owned();
        }
        if cur[0] == "namespaces" && cur.len() > 1 {
            a.namespace = cur[1].to_owned();
            if cur.len() > 2 && !matches!(cur[2], "status" | "finalize") {
                cur = &cur[2..];
            }
        }
        if cur.len() >= 3 && a.verb != "proxy" {
            a.subresource = cur[2].to_owned();
        }
        if cur.len() >= 2 {
            a.name = cur[1].to_owned();
        }
        a.resource = cur[0].to_owned();
        if a.name.is_empty() && a.verb == "get" {
            a.verb = if query
                .get("watch")
                .is_some_and(|w| !matches!(w.to_ascii_lowercase().as_str(), "false" | "0" | ""))
            {
                "watch".to_owned()
            } else {
                "list".to_owned()
            };
            if let Some(fs) = query.non_empty("fieldSelector") {
                for term in fs.split(',') {
                    let term = term.trim();
                    let v = term.strip_prefix("metadata.name==").or_else(|| term.strip_prefix("metadata.name="));
                    if let Some(v) = v.filter(|v| !v.is_empty() && !v.contains('/')) {
                        a.name = v.to_owned();
                    }
                }
            }
        }
        if a.name.is_empty() && a.verb == "delete" {
            a.verb = "deletecollection".to_owned();
        }
        a
    }

    /// `resource` or `resource/subresource`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why, as the RBAC authorizer says it (`RBAC: allowed by ...`); may be empty.
    pub reason: String,
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn has(v: &Value, want: &str) -> bool {
    strings(v).any(|s| s == "*" || s == want)
}

/// `rbac/v1` `RuleAllows`.
pub fn rule_allows(a: &Attributes, rule: &Value) -> bool {
    if !has(&rule["verbs"], &a.verb) {
        return false;
    }
    if a.resource_request {
        let combined = a.combined_resource();
        let resource_ok = strings(&rule["resources"]).any(|r| {
            r == "*"
                || r == combined
                || (!a.subresource.is_empty() && r.len() == a.subresource.len() + 2 && r.starts_with("*/") && r.ends_with(&a.subresource))
        });
        let names = rule["resourceNames"].as_array().map_or(0, Vec::len);
        has(&rule["apiGroups"], &a.api_group) && resource_ok && (names == 0 || strings(&rule["resourceNames"]).any(|n| n == a.name))
    } else {
        strings(&rule["nonResourceURLs"]).any(|u| u == "*" || u == a.path || (u.ends_with('*') && a.path.starts_with(&u[..u.len() - 1])))
    }
}

/// Whether a binding's subject is the user; `binding_ns` defaults a ServiceAccount's namespace.
fn applies_to(user: &UserInfo, subject: &Value, binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" => user.name == name,
        "Group" => user.in_group(name),
        "ServiceAccount" => {
            let ns = subject["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(binding_ns);
            !ns.is_empty() && user.name == super::auth::service_account_user(ns, name)
        }
        _ => false,
    }
}

fn describe_subject(subject: &Value, binding_ns: &str) -> String {
    let kind = subject["kind"].as_str().unwrap_or("");
    let name = subject["name"].as_str().unwrap_or("");
    if kind == "ServiceAccount" {
        let ns = subject["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(binding_ns);
        format!("{kind} \"{name}/{ns}\"")
    } else {
        format!("{kind} \"{name}\"")
    }
}

/// One binding that applies to the user, with the rules of its role.
struct Grant {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"` (the RBAC authorizer's words).
    source: String,
    rules: Vec<Value>,
}

/// Every binding that applies to `user` in `ns` (cluster bindings first); roles that do
/// not exist are reported as the RBAC authorizer reports them.
fn grants(store: &Store, user: &UserInfo, ns: &str) -> (Vec<Grant>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut visit = |binding: &Value, binding_ns: &str, what: &str| {
        let Some(subject) = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| applies_to(user, s, binding_ns))
        else {
            return;
        };
        let kind = binding["roleRef"]["kind"].as_str().unwrap_or("");
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        let role = match kind {
            "ClusterRole" => store.get(res("ClusterRole"), "", role_name),
            "Role" if !binding_ns.is_empty() => store.get(res("Role"), binding_ns, role_name),
            _ => None,
        };
        let Some(role) = role else {
            let qualified = if kind == "Role" { "roles" } else { "clusterroles" };
            errors.push(format!("{qualified}.rbac.authorization.k8s.io \"{role_name}\" not found"));
            return;
        };
        let binding_name = if binding_ns.is_empty() {
            name_of(binding).to_owned()
        } else {
            format!("{}/{binding_ns}", name_of(binding))
        };
        out.push(Grant {
            source: format!(
                "{what} \"{binding_name}\" of {kind} \"{role_name}\" to {}",
                describe_subject(subject, binding_ns)
            ),
            rules: role["rules"].as_array().cloned().unwrap_or_default(),
        });
    };
    for b in store.list(res("ClusterRoleBinding"), None, None, None).0 {
        visit(&b, "", "ClusterRoleBinding");
    }
    if !ns.is_empty() {
        for b in store.list(res("RoleBinding"), Some(ns), None, None).0 {
            visit(&b, ns, "RoleBinding");
        }
    }
    (out, errors)
}

/// The RBAC decision for `user` (the `system:masters` group is allowed everything first,
/// as kube-apiserver's privileged-group authorizer does).
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> Decision {
    if user.in_group(MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let ns = if a.resource_request { a.namespace.as_str() } else { "" };
    let (grants, errors) = grants(store, user, ns);
    for g in &grants {
        if g.rules.iter().any(|r| rule_allows(a, r)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", g.source),
            };
        }
    }
    let reason = if errors.is_empty() {
        String::new()
    } else {
        format!("RBAC: [{}]", errors.join(", "))
    };
    Decision { allowed: false, reason }
}

/// The 403 of `responsewriters.Forbidden` for a denied request.
pub fn forbidden(user: &UserInfo, a: &Attributes, reason: &str) -> ApiError {
    let msg = if !a.resource_request {
        format!("User \"{}\" cannot {} path \"{}\"", user.name, a.verb, a.path)
    } else if !a.namespace.is_empty() {
        format!(
            "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" in the namespace \"{}\"",
            user.name,
            a.verb,
            a.combined_resource(),
            a.api_group,
            a.namespace
        )
    } else {
        format!(
            "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" at the cluster scope",
            user.name,
            a.verb,
            a.combined_resource(),
            a.api_group
        )
    };
    let msg = if reason.is_empty() { msg } else { format!("{msg}: {reason}") };
    let qualified = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if !a.resource_request || a.resource.is_empty() {
        format!("forbidden: {msg}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {msg}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {msg}", a.name)
    };
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        kind: (a.resource_request && !a.resource.is_empty()).then(|| a.resource.clone()),
        name: (!a.name.is_empty()).then(|| a.name.clone()),
        group: Some(a.api_group.clone()),
    }
}

/// Checks `user` may do `a`; the 403 otherwise.
pub fn check(store: &Store, user: &UserInfo, a: &Attributes) -> Result<(), ApiError> {
    let d = authorize(store, user, a);
    if d.allowed { Ok(()) } else { Err(forbidden(user, a, &d.reason)) }
}

// ---- the default policy ---------------------------------------------------------------------

/// kube-apiserver's bootstrap ClusterRoles and ClusterRoleBindings that matter here:
/// `cluster-admin` (bound to `system:masters`), `system:discovery` and
/// `system:basic-user` (bound to `system:authenticated`), `system:public-info-viewer`
/// (bound to `system:authenticated` and `system:unauthenticated`).
pub fn default_policy() -> Vec<(&'static str, Value)> {
    let labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let annotations = json!({"rbac.authorization.kubernetes.io/autoupdate": "true"});
    let role = |name: &str, rules: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name, "labels": labels, "annotations": annotations}, "rules": rules})
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
            .collect();
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name, "labels": labels, "annotations": annotations},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": subjects})
    };
    vec![
        (
            "ClusterRole",
            role(
                "cluster-admin",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
            ),
        ),
        (
            "ClusterRole",
            role(
                "system:discovery",
                json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
            ),
        ),
        (
            "ClusterRole",
            role(
                "system:basic-user",
                json!([
                    {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                ]),
            ),
        ),
        (
            "ClusterRole",
            role(
                "system:public-info-viewer",
                json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
            ),
        ),
        ("ClusterRoleBinding", binding("cluster-admin", &[MASTERS])),
        ("ClusterRoleBinding", binding("system:discovery", &["system:authenticated"])),
        ("ClusterRoleBinding", binding("system:basic-user", &["system:authenticated"])),
        (
            "ClusterRoleBinding",
            binding("system:public-info-viewer", &["system:authenticated", "system:unauthenticated"]),
        ),
    ]
}

/// Creates the default policy objects that are missing.
pub fn install_default_policy(store: &Store) {
    for (kind, obj) in default_policy() {
        if store.get(res(kind), "", name_of(&obj)).is_none() {
            let _ = store.create(res(kind), "", obj, false);
        }
    }
}

// ---- self reviews ---------------------------------------------------------------------------

fn review_invalid(kind: &str, why: &str) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{kind}.authorization.k8s.io \"\" is invalid: {why}"),
        kind: Some(kind.to_owned()),
        name: Some(String::new()),
        group: Some("authorization.k8s.io".to_owned()),
    }
}

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "BadRequest", format!("couldn't get version/kind; json parse error: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::new(400, "BadRequest", "the body of the request must be a JSON object"))
    }
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub fn self_subject_access_review(store: &Store, user: &UserInfo, body: &[u8]) -> Result<Value, ApiError> {
    let mut review = body_json(body)?;
    let spec = &review["spec"];
    let ra = &spec["resourceAttributes"];
    let nra = &spec["nonResourceAttributes"];
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    let a = match (ra.is_object(), nra.is_object()) {
        (true, false) => Attributes {
            verb: s(ra, "verb"),
            resource_request: true,
            path: String::new(),
            namespace: s(ra, "namespace"),
            api_group: s(ra, "group"),
            api_version: s(ra, "version"),
            resource: s(ra, "resource"),
            subresource: s(ra, "subresource"),
            name: s(ra, "name"),
        },
        (false, true) => Attributes {
            verb: s(nra, "verb"),
            path: s(nra, "path"),
            ..Default::default()
        },
        _ => {
            return Err(review_invalid(
                "SelfSubjectAccessReview",
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
    };
    let d = authorize(store, user, &a);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = status;
    Ok(review)
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: the rules that apply
/// to the user in `spec.namespace`.
pub fn self_subject_rules_review(store: &Store, user: &UserInfo, body: &[u8]) -> Result<Value, ApiError> {
    let mut review = body_json(body)?;
    let ns = review["spec"]["namespace"].as_str().unwrap_or("").to_owned();
    if ns.is_empty() {
        return Err(review_invalid(
            "SelfSubjectRulesReview",
            "spec.namespace: Required value: namespace is required",
        ));
    }
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    let (grants, errors) = grants(store, user, &ns);
    for g in grants {
        for r in g.rules {
            if r.get("nonResourceURLs")
                .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
            {
                non_resource_rules.push(json!({"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}));
            } else {
                let mut rr = json!({"verbs": r["verbs"], "apiGroups": r["apiGroups"], "resources": r["resources"]});
                if r.get("resourceNames").is_some_and(|n| n.as_array().is_some_and(|a| !a.is_empty())) {
                    rr["resourceNames"] = r["resourceNames"].clone();
                }
                resource_rules.push(rr);
            }
        }
    }
    if user.in_group(MASTERS) && resource_rules.is_empty() {
        resource_rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        non_resource_rules.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectRulesReview");
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = status;
    Ok(review)
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`).
pub fn self_subject_review(user: &UserInfo) -> Value {
    let mut ui = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        ui["uid"] = json!(user.uid);
    }
    json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"creationTimestamp": null}, "status": {"userInfo": ui}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str) -> Attributes {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        Attributes::of_request(method, p, &Query::parse(Some(q)))
    }

    #[test]
    fn request_attributes_like_the_apiserver() {
        let a = attrs("PATCH", "/apis/apps/v1/namespaces/vantiq/statefulsets/vantiq/scale");
        assert_eq!(
            (
                a.verb.as_str(),
                a.api_group.as_str(),
                a.combined_resource().as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("patch", "apps", "statefulsets/scale", "vantiq", "vantiq")
        );
        assert_eq!(attrs("GET", "/api/v1/namespaces/demo/pods?watch=true").verb, "watch");
        assert_eq!(attrs("GET", "/api/v1/namespaces/demo/pods?watch=0").verb, "list");
        let w = attrs("GET", "/api/v1/namespaces/demo/pods?fieldSelector=metadata.name%3Dvantiq-0&watch=1");
        assert_eq!((w.verb.as_str(), w.name.as_str()), ("watch", "vantiq-0"));
        assert_eq!(attrs("DELETE", "/api/v1/namespaces/demo/pods").verb, "deletecollection");
        assert_eq!(attrs("GET", "/api/v1/namespaces/demo/pods/p/log").combined_resource(), "pods/log");
        let ns = attrs("GET", "/api/v1/namespaces/demo");
        assert_eq!(
            (ns.resource.as_str(), ns.name.as_str(), ns.namespace.as_str()),
            ("namespaces", "demo", "demo")
        );
        let d = attrs("GET", "/apis/apps/v1");
        assert!(!d.resource_request && d.verb == "get" && d.path == "/apis/apps/v1");
        assert!(attrs("GET", "/api/v1/watch/namespaces/demo/pods").verb == "watch");
    }

    fn seed() -> Store {
        let s = Store::new();
        install_default_policy(&s);
        for ns in ["vantiq", "other"] {
            s.create(res("Namespace"), "", json!({"metadata": {"name": ns}}), false).unwrap();
        }
        s.create(
            res("Role"),
            "vantiq",
            json!({"metadata": {"name": "r"}, "rules": [
                {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["only"]},
                {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]},
            ]}),
            false,
        )
        .unwrap();
        s.create(
            res("RoleBinding"),
            "vantiq",
            json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "robot"}]}),
            false,
        )
        .unwrap();
        s
    }

    #[test]
    fn rbac_rules_subresources_names_and_wildcards() {
        let s = seed();
        let robot = UserInfo::service_account("vantiq", "robot", "u1");
        let can = |m: &str, p: &str| authorize(&s, &robot, &attrs(m, p)).allowed;
        assert!(can("GET", "/apis/apps/v1/namespaces/vantiq/statefulsets/vantiq"));
        assert!(can("GET", "/apis/apps/v1/namespaces/vantiq/statefulsets?watch=true"));
        assert!(!can("PATCH", "/apis/apps/v1/namespaces/vantiq/statefulsets/vantiq/scale"));
        assert!(
            !can("GET", "/apis/apps/v1/namespaces/other/statefulsets/vantiq"),
            "a Role is per namespace"
        );
        assert!(can("GET", "/api/v1/namespaces/vantiq/pods/p/log"));
        assert!(!can("GET", "/api/v1/namespaces/vantiq/pods/p"), "pods/log does not grant pods");
        assert!(can("GET", "/api/v1/namespaces/vantiq/configmaps/only"));
        assert!(!can("GET", "/api/v1/namespaces/vantiq/configmaps/other"));
        assert!(
            !can("GET", "/api/v1/namespaces/vantiq/configmaps"),
            "resourceNames never grant a list"
        );
        assert!(can("GET", "/apis/batch/v1/namespaces/vantiq/jobs/j/status"), "*/status");
        assert!(can("GET", "/apis/apps/v1"), "system:discovery");
        assert!(!can("GET", "/metrics"));
        let d = authorize(&s, &robot, &attrs("GET", "/apis/apps/v1/namespaces/vantiq/statefulsets/x"));
        assert_eq!(
            d.reason,
            "RBAC: allowed by RoleBinding \"b/vantiq\" of Role \"r\" to ServiceAccount \"robot/vantiq\""
        );
        let other = UserInfo::service_account("other", "robot", "u2");
        assert!(!authorize(&s, &other, &attrs("GET", "/apis/apps/v1/namespaces/vantiq/statefulsets/x")).allowed);
        let anon = UserInfo::anonymous();
        assert!(authorize(&s, &anon, &attrs("GET", "/healthz")).allowed);
        assert!(!authorize(&s, &anon, &attrs("GET", "/api")).allowed);
        assert!(
            authorize(
                &s,
                &UserInfo::new("root", &[MASTERS]),
                &attrs("DELETE", "/api/v1/namespaces/vantiq")
            )
            .allowed
        );
    }

    #[test]
    fn forbidden_messages_match_the_apiserver() {
        let s = seed();
        let robot = UserInfo::service_account("vantiq", "robot", "u1");
        let a = attrs("PATCH", "/apis/apps/v1/namespaces/vantiq/statefulsets/vantiq/scale");
        let e = check(&s, &robot, &a).unwrap_err();
        assert_eq!(
            e.message,
            "statefulsets.apps \"vantiq\" is forbidden: User \"system:serviceaccount:vantiq:robot\" cannot patch resource \"statefulsets/scale\" in API group \"apps\" in the namespace \"vantiq\""
        );
        let st = e.to_status();
        assert_eq!((st["code"].as_u64(), st["reason"].as_str()), (Some(403), Some("Forbidden")));
        assert_eq!(st["details"], json!({"name": "vantiq", "group": "apps", "kind": "statefulsets"}));
        let e = check(&s, &robot, &attrs("GET", "/api/v1/nodes")).unwrap_err();
        assert_eq!(
            e.message,
            "nodes is forbidden: User \"system:serviceaccount:vantiq:robot\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
        let e = check(&s, &robot, &attrs("GET", "/metrics")).unwrap_err();
        assert_eq!(
            e.message,
            "forbidden: User \"system:serviceaccount:vantiq:robot\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn access_reviews_answer_allowed_and_denied() {
        let s = seed();
        let robot = UserInfo::service_account("vantiq", "robot", "u1");
        let ask = |verb: &str, resource: &str, sub: &str| {
            let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "vantiq", "verb": verb, "group": "apps", "resource": resource, "subresource": sub, "name": "vantiq"}}});
            self_subject_access_review(&s, &robot, body.to_string().as_bytes()).unwrap()
        };
        assert_eq!(ask("get", "statefulsets", "")["status"]["allowed"], true);
        let denied = ask("patch", "statefulsets", "scale");
        assert_eq!(denied["status"]["allowed"], false);
        assert_eq!(denied["kind"], "SelfSubjectAccessReview");
        assert!(self_subject_access_review(&s, &robot, b"{\"spec\": {}}").unwrap_err().code == 422);
        let rules = self_subject_rules_review(&s, &robot, br#"{"spec": {"namespace": "vantiq"}}"#).unwrap();
        let rr = rules["status"]["resourceRules"].as_array().unwrap();
        assert!(rr.iter().any(|r| r["resources"] == json!(["pods/log"])), "{rules:#}");
        assert!(
            rr.iter()
                .any(|r| r["resources"] == json!(["selfsubjectaccessreviews", "selfsubjectrulesreviews"]))
        );
    }
}
